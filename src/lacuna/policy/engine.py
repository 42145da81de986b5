"""The embedded policy engine: a Rego bundle compiled once, asked once per operation.

``PolicyEngine`` reads and compiles the bundle when it is built (so a broken policy fails at
start-up with file and line) and then answers :meth:`PolicyEngine.decide` with a
:class:`~lacuna.model.Decision`, following the protocol in :mod:`lacuna.policy.decide`.

regorus engines cannot cross threads (the binding is ``unsendable``: one dropped on another
thread raises and leaks): each thread that decides gets its own engine, compiled from the same
checked bundle on its first decision, and kept in that thread's own slot (a
:class:`~lacuna.policy.unsendable.ThreadSlot`), never in the ``PolicyEngine``. So dropping a
``PolicyEngine`` (a reconfigured governor) on any thread releases no regorus engine there: each
thread discards its stale engines itself on its next decision, or when it ends.

The engine adds one data document of its own, ``data.lacuna``, from the configuration, so that
policies can refer to configured places instead of hard-coding them::

    data.lacuna.governed_roots   destinations.governed   ("/governed/workspace/", ...)
    data.lacuna.unmanaged        destinations.unmanaged
    data.lacuna.internal_hosts   destinations.internal_hosts
    data.lacuna.internal_buckets destinations.internal_buckets
    data.lacuna.docs_url         docs_url

``data.lacuna`` is reserved: a bundle's own ``lacuna`` data is merged under these keys.

**Live reload.** :meth:`PolicyEngine.reload` reads and compiles the bundle again and swaps it in
atomically: a decision uses one bundle from start to end, and a bundle that fails to compile
raises :class:`~lacuna.errors.PolicyError` while the old one stays in use (see
:class:`lacuna.policy.watch.PolicyWatcher`, which calls it when files change).

**Speed.** The compiled engine is reused (one per thread), and what its ASTs say (packages,
metadata, input paths) is kept per process by the modules and data compiled, so a governor made
again (another user, a reloaded configuration) walks no AST; decisions are cached on a
normalized input unless the bundle reads the clock or another non-deterministic builtin
(:mod:`lacuna.policy.cache`). **Budget.** A decision that evaluates longer than ``eval_budget_ms``
is denied, saying so; with ``isolation`` ``process`` (or ``auto`` from a first in-process
overrun on, that decision included) it is evaluated on a worker process that is stopped at the
budget (:mod:`lacuna.policy.budget`).
**Decision logs.** With a ``decision_log`` sink, every decision
(cached or not) is handed to it (:mod:`lacuna.policy.decision_log`), off the hot path.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import threading
import time
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lacuna.errors import PolicyError
from lacuna.model import Explanation
from lacuna.policy.aggregate import DATA_API_PATH, aggregator_source
from lacuna.policy.analysis import input_paths, nondeterministic_calls, parse
from lacuna.policy.budget import (
    ISOLATION_MODES,
    MAX_BUDGET_MS,
    BudgetExceeded,
    IsolatedEvaluator,
    Retired,
    policy_cpu,
)
from lacuna.policy.bundle import (
    Bundle,
    Recent,
    RegoModule,
    builtin,
    content_key,
    default_bundle_root,
    read_bundle,
)
from lacuna.policy.cache import DecisionCache, input_trie, prune
from lacuna.policy.compile import PolicyPackage, all_packages, compile_bundle
from lacuna.policy.decide import build, decide, engine_failure, explain
from lacuna.policy.decision_log import DecisionEvent
from lacuna.policy.inputs import build_input, build_pruned_input
from lacuna.policy.jsontext import dumps
from lacuna.policy.rego_tests import RegoTestReport, run_tests
from lacuna.policy.unsendable import ThreadSlot, releasing_engines

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable

    from regorus import Engine

    from lacuna.config import Config
    from lacuna.model import Alternative, Decision, Operation
    from lacuna.policy.decision_log import DecisionLogSink


@dataclass(frozen=True, slots=True)
class _Loaded:
    """One compiled bundle and what was learned about it: swapped as a whole on reload."""

    bundle: Bundle
    data: Mapping[str, Any]
    everything: tuple[PolicyPackage, ...]  # every package, voting or not
    packages: tuple[PolicyPackage, ...]  # the voting ones
    generation: int
    cache: DecisionCache | None
    nondeterministic: tuple[tuple[str, int, str], ...]
    trie: dict[str, Any] | None  # the input paths the policies read (lacuna.policy.cache.prune)
    by_name: Mapping[str, PolicyPackage]  # the voting packages by name
    explainer: Callable[[str, PolicyPackage], Explanation]  # a denial's lazy explanation


class PolicyEngine:
    """Rego policies evaluated in-process with regorus.

    Args:
        root: the bundle folder; ``None`` for the default bundle shipped with Lacuna.
        settings: the ``data.lacuna`` document (see the module docstring).
        rego_version: ``auto`` (per file), ``v0`` or ``v1``.
        docs_url: documentation base; a policy's link is this plus its id.
        decision_log: a sink that receives every decision (OPA decision-log shape).
        cache_size: decisions kept in the cache; 0 turns caching off.
        eval_budget_ms: a decision that evaluates longer is denied (see :mod:`.budget`).
        isolation: ``auto``, ``process`` or ``none``: where a budget is enforced
            (:mod:`.budget`).

    Raises:
        PolicyError: the bundle is missing, a file does not parse or compile, or metadata is
            malformed; the message names the file, line and column.

    Example:
        >>> from lacuna.config import Config
        >>> engine = PolicyEngine.from_config(Config())
        >>> [p.name for p in engine.packages]
        ['governance.baseline', 'governance.export']
    """

    def __init__(
        self,
        root: Traversable | str | os.PathLike[str] | None = None,
        *,
        settings: Mapping[str, Any] | None = None,
        rego_version: str = "auto",
        docs_url: str | None = None,
        decision_log: DecisionLogSink | None = None,
        cache_size: int = 4096,
        eval_budget_ms: float = 500,
        isolation: str = "auto",
    ) -> None:
        if isolation not in ISOLATION_MODES or not 0 < eval_budget_ms <= MAX_BUDGET_MS:
            from lacuna.errors import ConfigError

            msg = (f"policy.isolation must be one of {', '.join(ISOLATION_MODES)} (got "
                   f"{isolation!r}) and policy.eval_budget_ms positive, at most "
                   f"{MAX_BUDGET_MS} (got {eval_budget_ms}).")
            raise ConfigError(msg)
        self.eval_budget_s = eval_budget_ms / 1000.0
        self.isolation = isolation
        self._isolated: dict[int, IsolatedEvaluator] = {}  # bundle generation -> its worker
        self._isolated_lock = threading.Lock()
        if isinstance(root, str | os.PathLike):
            root = Path(root).expanduser()
        self._root: Traversable | Path = root if root is not None else default_bundle_root()
        self._settings = dict(settings or {})
        self._rego_version = rego_version
        self.docs_url = docs_url
        self.decision_log = decision_log
        self.cache_size = cache_size
        # each thread's engine and its generation, released on that thread (regorus engines
        # are unsendable); a decision's explainer refers to the slot weakly
        self._key: ThreadSlot[tuple[int, Engine]] = ThreadSlot()
        self._generations = itertools.count(1)
        self._reload_lock = threading.Lock()
        self._state = self._load()

    @classmethod
    def from_config(cls, config: Config, *, decision_log: DecisionLogSink | None = None,
                    cache_size: int = 4096) -> PolicyEngine:
        """The engine for ``config.policy`` (its ``dir``, or the default bundle).

        Raises:
            PolicyError: as for the constructor.
        """
        root = config.policy.dir.expanduser() if config.policy.dir is not None else None
        return cls(root, settings=settings_from_config(config),
                   rego_version=config.policy.rego_version, docs_url=config.docs_url,
                   decision_log=decision_log, cache_size=cache_size,
                   eval_budget_ms=getattr(config.policy, "eval_budget_ms", 500),
                   isolation=getattr(config.policy, "isolation", "auto"))

    # -- what is loaded --------------------------------------------------------------------

    @property
    def revision(self) -> str:
        """The bundle revision: git commit, ``commit+dirty.hash``, or the content hash."""
        return self._state.bundle.revision

    @property
    def packages(self) -> tuple[PolicyPackage, ...]:
        """The policy packages that vote, sorted by name, with their metadata."""
        return self._state.packages

    @property
    def all_packages(self) -> tuple[PolicyPackage, ...]:
        """Every package of the policy files (helpers too), sorted by name."""
        return self._state.everything

    @property
    def modules(self) -> tuple[RegoModule, ...]:
        """Every loaded ``.rego`` file, test files included, with its package and version."""
        return self._state.bundle.modules

    @property
    def bundle(self) -> Bundle:
        """The checked bundle this engine decides with."""
        return self._state.bundle

    @property
    def data(self) -> Mapping[str, Any]:
        """The data document: the bundle's data files plus ``data.lacuna``."""
        return self._state.data

    @property
    def root(self) -> Path | None:
        """The bundle folder on disk, or ``None`` for a bundle shipped inside the package."""
        return None if builtin(self._root) else Path(str(self._root))

    @property
    def cache(self) -> DecisionCache | None:
        """The decision cache, or ``None`` when caching is off or unsafe for this bundle."""
        return self._state.cache

    @property
    def nondeterministic(self) -> tuple[tuple[str, int, str], ...]:
        """``(file, line, builtin)`` of every non-deterministic call (these disable caching)."""
        return self._state.nondeterministic

    def aggregator(self) -> str:
        """The ``lacuna.decision`` Rego module for this bundle (see :mod:`.aggregate`)."""
        state = self._state
        return aggregator_source(state.packages, state.bundle.revision)

    # -- deciding ----------------------------------------------------------------------------

    def decide(
        self,
        operation: Operation,
        *,
        exception_approved: bool = False,
        exception_approver_role: str | None = None,
        log: bool = True,
    ) -> Decision:
        """Decide one operation. Never raises: an engine failure is a fail-closed denial.

        Args:
            operation: the operation to decide.
            exception_approved: a verified exception grant covers this operation.
            exception_approver_role: the role that approved the grant.
            log: hand the decision to the decision log; ``False`` for dry runs (checking a
                suggested alternative), which decide nothing that happens.

        Returns:
            The decision, explained (reasoning, why, alternatives, policy, steward, docs).
        """
        started = time.perf_counter()
        state = self._state
        trie = state.trie
        doc: Mapping[str, Any] | None = None
        try:
            # The engine reads the input pruned to what the policies read, built so in one
            # pass; the whole document is built only for the decision log, which records it.
            if trie is None:  # a policy reads the input whole
                doc = pruned = build_input(operation, exception_approved=exception_approved,
                                           exception_approver_role=exception_approver_role)
            else:
                pruned = build_pruned_input(operation, trie,
                                            exception_approved=exception_approved,
                                            exception_approver_role=exception_approver_role)
                if log and self.decision_log is not None:
                    doc = build_input(operation, exception_approved=exception_approved,
                                      exception_approver_role=exception_approver_role)
        except Exception as exc:  # fail closed: a bad operation
            failed = engine_failure(exc, "the policy input", operation.id,
                                    state.bundle.revision, started)
            return failed.evolve(operation=operation)
        return self._decide(state, doc, pruned, operation.id, operation, started, log=log)

    def evaluate(self, doc: Mapping[str, Any], *, operation_id: str = "") -> Decision:
        """Decide a raw policy input document (the shape :func:`build_input` returns).

        For ``lacuna policy eval``, a remote caller, or a benchmark. Never raises.
        """
        state = self._state
        started = time.perf_counter()
        try:
            pruned = doc if state.trie is None else prune(doc, state.trie)
        except Exception as exc:  # an input that cannot be pruned: fail closed
            decision = engine_failure(exc, "<input>", operation_id, state.bundle.revision,
                                      started)
            self._log(decision, doc, started, cached=False)
            return decision
        return self._decide(state, doc, pruned, operation_id, None, started)

    def _decide(self, state: _Loaded, doc: Mapping[str, Any] | None, pruned: Mapping[str, Any],
                operation_id: str, operation: Operation | None, started: float, *,
                log: bool = True) -> Decision:
        """Decide ``pruned`` (the input reduced to what the policies read); ``doc`` is the
        whole input, for the decision log (``None`` when there is no log to write)."""
        cache = state.cache
        revision = state.bundle.revision
        # The policies see the pruned input as JSON text; with a cache that text is the cache
        # key too (sorted keys): the same decision, a third of the JSON.
        try:
            text = cache.key_of_pruned(pruned) if cache is not None else dumps(pruned)
        except Exception as exc:  # an input that cannot be encoded: fail closed
            decision = engine_failure(exc, "<input>", operation_id, revision, started)
            if log:
                self._log(decision, doc, started, cached=False)
            return decision
        if cache is not None:
            hit = cache.get(text)
            if hit is not None:
                decision = hit.evolve(operation_id=operation_id, operation=operation,
                                      eval_ms=(time.perf_counter() - started) * 1000.0)
                if log:
                    self._log(decision, doc, started, cached=True)
                return decision
        evaluator = self._isolated.get(state.generation)
        if evaluator is not None or self.isolation == "process":
            decision = self._decide_isolated(state, pruned, operation_id, operation, started)
        else:
            try:
                engine = self._engine(state)
            except Exception as exc:  # pragma: no cover - the bundle compiled when it loaded
                decision = engine_failure(exc, "the bundle", operation_id, revision, started)
            else:
                cpu = policy_cpu()
                decision = decide(engine, state.packages, pruned, operation_id=operation_id,
                                  revision=revision, docs_url=self.docs_url, started=started,
                                  operation=operation, input_json=text,
                                  explainer=state.explainer, by_name=state.by_name)
                took = policy_cpu() - cpu
                if took > self.eval_budget_s:
                    decision = self._overran(state, decision, pruned, operation_id, started,
                                             took)
        if cache is not None and not _over_budget(decision):
            cache.put(text, decision)
        if log:
            self._log(decision, doc, started, cached=False)
        return decision

    def _overran(self, state: _Loaded, decision: Decision, pruned: Mapping[str, Any],
                 operation_id: str, started: float, took: float) -> Decision:
        """An in-process decision whose evaluation took ``took`` s of CPU, past the budget (it
        could not be stopped in-process). ``took`` is the evaluating thread's CPU time, less
        the garbage collector's (:func:`~lacuna.policy.budget.policy_cpu`): what the policy
        cost, not the time a busy host or another thread kept it waiting.

        Under ``auto`` the bundle moves to a worker process from now on, and the worker decides
        this operation again, stopped at the budget: a slow policy is denied there, while an
        overrun that was not the policy's (a host that took the CPU away) does not deny an
        allowed operation. Under ``none`` there is no worker: the decision is denied."""
        if self.isolation == "auto":
            log.warning("policy bundle %s: a decision took %.0f ms of CPU (budget %.0f ms); "
                        "its decisions now run on a worker process stopped at the budget",
                        state.bundle.revision, took * 1000, self.eval_budget_s * 1000)
            return self._decide_isolated(state, pruned, operation_id, decision.operation,
                                         started, budget_from=time.perf_counter())
        exc = BudgetExceeded(self.eval_budget_s * 1000, took * 1000, stopped=False)
        denied = engine_failure(exc, "the bundle", operation_id, state.bundle.revision, started)
        return replace(denied, operation=decision.operation)

    def _decide_isolated(self, state: _Loaded, doc: Mapping[str, Any], operation_id: str,
                         operation: Operation | None, started: float, *,
                         budget_from: float | None = None) -> Decision:
        """Decide on the worker process, stopped when the budget counted from
        ``budget_from`` (default ``started``) runs out."""
        revision = state.bundle.revision
        try:
            since = started if budget_from is None else budget_from
            left = self.eval_budget_s - (time.perf_counter() - since)
            try:
                result = self._evaluator(state).collect(doc, max(left, 0.001))
            except Retired:  # a newer bundle's decision closed this one's worker meanwhile
                left = self.eval_budget_s - (time.perf_counter() - since)
                result = self._evaluator(state).collect(doc, max(left, 0.001))
            by_name = {p.name: p for p in state.packages}
            decision = build(result, by_name.__getitem__, doc, operation_id=operation_id,
                             revision=revision, docs_url=self.docs_url, started=started)
        except Exception as exc:  # fail closed: over budget, a policy error, a dead worker
            decision = engine_failure(exc, "the bundle", operation_id, revision, started)
        return decision.evolve(operation=operation) if operation is not None else decision

    def _evaluator(self, state: _Loaded) -> IsolatedEvaluator:
        """``state``'s worker; an older bundle's is stopped (after the lock: closing waits for
        its answer in progress). A decision still on an older bundle gets a worker of its own
        and leaves the newer one running: it closed the newer one, which the next decision
        started again (a closed worker now stays closed: ``Retired``)."""
        with self._isolated_lock:
            evaluator = self._isolated.get(state.generation)
            older: list[IsolatedEvaluator] = []
            if evaluator is None:
                older = [e for g, e in self._isolated.items() if g < state.generation]
                evaluator = IsolatedEvaluator(state.bundle, state.data, state.packages)
                self._isolated = {g: e for g, e in self._isolated.items()
                                  if g > state.generation}
                self._isolated[state.generation] = evaluator
                weakref.finalize(self, evaluator.close)
        for old in older:
            old.close()
        return evaluator

    def _log(self, decision: Decision, doc: Mapping[str, Any] | None, started: float, *,
             cached: bool) -> None:
        sink = self.decision_log
        if sink is not None and doc is not None:
            eval_ns = int((time.perf_counter() - started) * 1e9)
            sink.log(DecisionEvent(decision, doc, DATA_API_PATH, time.time_ns(), eval_ns,
                                   cached))

    # -- tests, reload -------------------------------------------------------------------------

    def run_tests(self, *, coverage: bool = False) -> RegoTestReport:
        """Run the bundle's ``test_*`` rules (see :mod:`lacuna.policy.rego_tests`).

        Raises:
            PolicyError: the bundle with its test files does not compile.
        """
        state = self._state
        return run_tests(state.bundle, state.data, coverage=coverage)

    def reload(self, *, unchanged: Callable[[], bool] | None = None) -> str:
        """Read and compile the bundle again, then swap it in atomically.

        Args:
            unchanged: asked after the files were read; ``False`` (they changed meanwhile, so
                what was read may mix two versions) keeps the bundle in use and raises
                :class:`BundleChanging`.

        Returns:
            The revision in use afterwards (unchanged when the files are the same).

        Raises:
            PolicyError: the bundle does not load or compile; the engine keeps deciding with
                the bundle it had.
        """
        with self._reload_lock:
            loaded = self._load()
            if unchanged is not None and not unchanged():
                msg = (f"policy bundle {self._root} changed while it was being read; still "
                       f"deciding with revision {self._state.bundle.revision}")
                raise BundleChanging(msg)
            old = self._state.bundle
            # the content too: a revision that claims a commit can hide an edit git does not
            # report (a file marked skip-worktree or assume-unchanged)
            if (loaded.bundle.revision, loaded.bundle.digest) != (old.revision, old.digest):
                self._state = loaded
        return self._state.bundle.revision

    @releasing_engines
    def _load(self) -> _Loaded:
        bundle = read_bundle(self._root, rego_version=self._rego_version)
        own = bundle.data.get("lacuna")
        lacuna = {**(own if isinstance(own, Mapping) else {}), **self._settings}
        data: dict[str, Any] = {**bundle.data, "lacuna": lacuna}
        engine = compile_bundle(bundle, data)
        found = _analysed(engine, bundle, data)
        shape = found.shape
        cache = None
        if self.cache_size > 0 and not shape.nondeterministic:
            cache = DecisionCache(shape.paths, self.cache_size)
        generation = next(self._generations)
        self._key.set((generation, engine))  # this thread's engine for the new generation
        packages = tuple(p for p in found.everything if p.votes)
        explainer = _Explainer(weakref.ref(self._key), bundle, data, generation)
        return _Loaded(bundle=bundle, data=data, everything=found.everything, packages=packages,
                       generation=generation, cache=cache, nondeterministic=shape.nondeterministic,
                       trie=shape.trie, by_name={p.name: p for p in packages},
                       explainer=explainer)

    def _engine(self, state: _Loaded) -> Engine:
        held = self._key.get()
        if held is not None and held[0] == state.generation:
            return held[1]
        engine = compile_bundle(state.bundle, state.data)
        self._key.set((state.generation, engine))
        return engine

    def __repr__(self) -> str:
        return (f"PolicyEngine(root={self._state.bundle.root!r}, revision={self.revision!r}, "
                f"packages={[p.name for p in self.packages]!r})")


@dataclass(frozen=True)
class _Shape:
    """What the bundle's modules say whatever the data: their AST (read-only once cached), the
    non-deterministic calls and the input paths read."""

    ast: list[Any]
    nondeterministic: tuple[tuple[str, int, str], ...]
    paths: list[tuple[str, ...]] | None
    trie: dict[str, Any] | None


@dataclass(frozen=True)
class _Analysis:
    """What the bundle's ASTs say, the same for every engine compiled from the same modules and
    data: its packages and their metadata, and the modules' shape."""

    everything: tuple[PolicyPackage, ...]
    shape: _Shape


# The analysis of recently compiled bundles, by what was compiled: a governor made again (a
# user switched, a configuration reloaded, a server request with its own settings) reuses it
# instead of walking the AST again. The modules' shape is kept by the modules alone: a new
# configuration (its destinations are in data.lacuna) changes the data, not the AST, and
# parsing and walking the AST is ~8 of the ~11 ms a new engine costs; only the packages'
# metadata, which a rule may compute from data, is read again.
_SHAPES: Recent[str, _Shape] = Recent(16)
_ANALYSES: Recent[str, _Analysis] = Recent(16)


def _analysed(engine: Engine, bundle: Bundle, data: Mapping[str, Any]) -> _Analysis:
    """The analysis of ``engine``, freshly compiled from ``bundle`` and ``data``.

    Raises:
        PolicyError: a package's metadata is malformed (never cached: asked again, it raises
            again).
    """
    modules = content_key(p for m in bundle.policy_modules
                          for p in (m.path, m.rego_version or "", m.source))
    key = content_key((json.dumps(data, sort_keys=True), modules))
    found = _ANALYSES.get(key)
    if found is not None:
        return found
    shape = _shaped(engine, bundle, modules)
    found = _Analysis(everything=all_packages(engine, bundle, shape.ast), shape=shape)
    _ANALYSES.put(key, found)
    return found


def _shaped(engine: Engine, bundle: Bundle, key: str) -> _Shape:
    found = _SHAPES.get(key)
    if found is None:
        ast = parse(engine)
        files = {m.path for m in bundle.policy_modules}
        paths = input_paths(ast, files)
        found = _Shape(ast=ast, nondeterministic=tuple(nondeterministic_calls(ast, files)),
                       paths=paths, trie=input_trie(paths))
        _SHAPES.put(key, found)
    return found


class BundleChanging(PolicyError):
    """The bundle's files changed while :meth:`PolicyEngine.reload` read them: not swapped in."""


class _Explainer:
    """Builds a denial's lazy :class:`~lacuna.model.Explanation`: when first read, on whatever
    thread reads it, ``why`` and ``alternatives`` are evaluated with that thread's engine for
    the same bundle generation, on the same input text. Holds the checked bundle and its data,
    never the ``PolicyEngine`` (a cached decision must not keep a reconfigured engine alive)."""

    __slots__ = ("_bundle", "_data", "_generation", "_key")

    def __init__(self, key: weakref.ref[ThreadSlot[tuple[int, Engine]]], bundle: Bundle,
                 data: Mapping[str, Any], generation: int) -> None:
        self._key, self._bundle, self._data, self._generation = key, bundle, data, generation

    def __call__(self, text: str, package: PolicyPackage) -> Explanation:
        key, bundle, data, generation = self._key, self._bundle, self._data, self._generation

        def compute() -> tuple[tuple[str, ...], tuple[Alternative, ...]]:
            engine = _engine_for(key(), bundle, data, generation)
            engine.set_input_json(text)
            return explain(engine, package)

        return Explanation(compute)


def _engine_for(key: ThreadSlot[tuple[int, Engine]] | None, bundle: Bundle,
                data: Mapping[str, Any], generation: int) -> Engine:
    """This thread's engine for ``bundle`` (of ``generation``), compiled here if it has none
    (kept for next time unless the thread already holds a newer generation)."""
    held = key.get() if key is not None else None
    if held is not None and held[0] == generation:
        return held[1]
    engine = compile_bundle(bundle, data)
    if key is not None and (held is None or held[0] < generation):
        key.set((generation, engine))
    return engine


def _over_budget(decision: Decision) -> bool:
    return bool(decision.engine_error) and "budget" in (decision.engine_error or "")


def settings_from_config(config: Config) -> dict[str, Any]:
    """The ``data.lacuna`` document for ``config`` (destinations and the docs link)."""
    d = config.destinations
    return {
        "governed_roots": list(d.governed),
        "unmanaged": list(d.unmanaged),
        "internal_hosts": list(d.internal_hosts),
        "internal_buckets": list(d.internal_buckets),
        "docs_url": config.docs_url,
    }
