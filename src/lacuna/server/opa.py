"""OPA's REST API, served from the server's policy bundle, so OPA clients work unchanged.

Paths as OPA documents them (https://www.openpolicyagent.org/docs/rest-api)::

    POST /v1/data/{path}   {"input": ...} -> {"result": ..., "decision_id": ...}   (no result
                           when undefined; a package's path: its rules' values, as OPA)
    GET  /v1/data/{path}   the same without input
    GET  /v1/policies      {"result": [{"id": ..., "raw": ...}, ...]}
    GET  /v1/policies/{id} {"result": {"id": ..., "raw": ...}}
    PUT  /v1/policies/{id} Rego text -> {}          (admin; 400 when it does not compile)
    DELETE /v1/policies/{id}                        (admin)

``data`` is the server's bundle (``--policy-dir`` or the default), Lacuna's decision aggregator
at ``data.lacuna.decision`` (so ``POST /v1/data/lacuna/decision/result`` is the same decision
as in-process) and the bundle's data; uploaded modules are added beside it, in memory (they
last until the server restarts; the bundle on disk is the source of truth). Every Data API
answer is written to the decision log with the caller's identity.

**Answers are cached** when that cannot change them: when the bundle and every uploaded
module are deterministic (no clock, randomness or HTTP; the same test that allows
:mod:`lacuna.policy.cache` for in-process decisions), keyed by the bundle revision, the
uploaded set's generation, the path and the input (canonical JSON), least recently used
dropped beyond ``CACHE_SIZE`` answers or ``CACHE_BYTES`` of inputs and answers (an
answer of more than 1/64 of it is not kept). Each answer still gets its own ``decision_id``
and decision-log entry.

**Uploaded modules are bounded.** Once a module is uploaded, answers are evaluated on worker
processes holding the whole set (:class:`~lacuna.policy.budget.IsolatedEvaluator`), stopped at
``policy.eval_budget_ms`` (a 500 saying so): regorus cannot be interrupted and holds the GIL,
so an uploaded rule slow for some input held every caller. Up to :data:`WORKERS` workers
answer at once, each one request at a time (:class:`_Pool`): with one worker, a caller whose
input was slow made every other caller wait behind it, up to the budget each time (measured:
7 callers of a fast rule beside one slow caller waited 640 ms at the median, 1.3 s at p95). A
set replaced (an upload, a delete, a reloaded bundle) stops its workers once their answers in
progress are given; none is started for it again. An upload is checked there too,
and refused when it is unsafe (:mod:`lacuna.policy.safety`), calls what the engine does not do
(:mod:`lacuna.policy.capabilities`) or joins the bundle's packages or data.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import threading
from collections import OrderedDict
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import orjson
from regorus import Engine

from lacuna.errors import PolicyError
from lacuna.model import ordered_id
from lacuna.policy.aggregate import FILENAME
from lacuna.policy.analysis import nondeterministic_calls, parse
from lacuna.policy.budget import BudgetExceeded, IsolatedEvaluator, Retired, policy_cpu
from lacuna.policy.bundle import RegoModule, add_module, check_functions
from lacuna.policy.diagnostics import diagnose
from lacuna.policy.evaluable import check_evaluable
from lacuna.policy.unsendable import ThreadSlot, releasing_engines

if TYPE_CHECKING:
    from lacuna.policy.engine import PolicyEngine


def _input_text(input_doc: Any | None) -> str:
    """The input as canonical JSON (sorted keys): what the engine reads and the cache key."""
    if input_doc is None:
        return "{}"
    try:
        return orjson.dumps(input_doc, option=orjson.OPT_SORT_KEYS).decode()
    except TypeError:  # e.g. an integer beyond 64 bits: the standard library writes it
        return json.dumps(input_doc, sort_keys=True)


class InvalidInput(PolicyError, ValueError):
    """The Data API's input is JSON, but not a document the engine can take (OPA: 400)."""


logger = logging.getLogger(__name__)
_UNDEFINED = '"<undefined>"'
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
CACHE_SIZE = 4096
# What the cached answers may hold (inputs and answers): by count alone, 4,096 distinct inputs
# of up to the body limit (10 MB) were all kept, gigabytes a caller could make the server hold
CACHE_BYTES = 64 * 1024 * 1024
MAX_POLICY_ID = 256  # an uploaded module's id: its name in errors, listings and the engine
# Worker processes answering for one uploaded set at once (~25 MB and ~0.1 s to start each,
# started as callers need them): a slow input holds one of them, up to the budget
WORKERS = max(2, min(4, os.cpu_count() or 1))
_RETRIES = 3  # a request whose set was replaced under it asks the new set's workers


def rule_parts(path: str) -> tuple[str, ...] | None:
    """The rule a Data API path names: its non-empty ``/`` segments (``()``: the whole
    ``data`` document). ``None`` when a segment is not a Rego name (a dot, a space, a
    newline, a hyphen): OPA would look that key up and find nothing, so it is undefined here
    too, rather than handed to the engine to be read as some other rule. The evaluator and
    the decision log's test of "is this the decision" both read paths through this."""
    parts = tuple(p for p in path.split("/") if p)
    return parts if all(_NAME.fullmatch(p) for p in parts) else None


def _document(engine: Engine, parts: tuple[str, ...]) -> tuple[Any, bytes | None]:
    """The document at ``data.<parts>`` that is not one rule: a package (an object of its
    rules' values, the undefined ones left out, as OPA answers ``POST /v1/data/lacuna/
    decision``) or the bundle's data under that path; ``(None, None)`` when nothing is there
    (undefined: OPA answers no ``result``). Each segment is a Rego name
    (:func:`rule_parts`); the query spells them as quoted keys (``data["lacuna"]["if"]``), so
    a keyword is a key as any other name.

    The query names at most :data:`_QUERY_DEPTH` segments (the Rego parser refuses a
    reference some hundreds deep: a long path was a 500); the rest are looked up in the
    document it answers, as OPA looks keys up.

    Raises:
        PolicyError: evaluating a rule of the package failed.
    """
    head, rest = parts[:_QUERY_DEPTH], parts[_QUERY_DEPTH:]
    query = "data" + "".join(f"[{json.dumps(p)}]" for p in head)
    try:
        answer = json.loads(engine.eval_query_as_json(query))
    except RuntimeError as exc:
        message = str(exc).split("\nStack backtrace", 1)[0]
        msg = f"evaluating data.{'.'.join(head)}: {message}"
        raise PolicyError(msg) from None
    found = answer.get("result") or []
    if not found:
        return None, None
    value = found[0]["expressions"][0]["value"]
    for key in rest:
        if not isinstance(value, dict) or key not in value:
            return None, None
        value = value[key]
    return value, orjson.dumps(value)


_QUERY_DEPTH = 64


class OpaData:
    """Evaluates ``data.<path>`` for the Data API: one regorus engine per thread and bundle."""

    def __init__(self, engine: PolicyEngine) -> None:
        self.engine = engine
        self.uploaded: dict[str, str] = {}
        self._generation = 0
        self._lock = threading.Lock()
        # One change of the uploaded set at a time, from its build to its swap: two uploads
        # each built from the set before either, and the second swapped in dropped the first
        # (a delete meanwhile was undone the same way). Evaluations take ``_lock`` only, so a
        # slow compile never holds them.
        self._changing = threading.Lock()
        self._local: ThreadSlot[tuple[tuple[str, int], Engine]] = ThreadSlot()
        self._answers: OrderedDict[tuple[str, str], tuple[Any, bytes | None]] = OrderedDict()
        self._answers_of: tuple[str, int] | None = None
        self._sizes: dict[tuple[str, str], int] = {}  # each answer's bytes: path, input, value
        self._cached = 0  # their sum, at most CACHE_BYTES
        # The uploaded set's worker processes (lacuna.policy.budget): an uploaded module is
        # evaluated there, stopped at the budget, never in this process (see _bounded)
        self._worker: tuple[tuple[str, int], _Pool] | None = None
        self._volatile: frozenset[str] = frozenset()  # uploads calling the clock, randomness
        self._starting = threading.Lock()
        self._isolated: str | None = None  # a bundle revision answered on the worker

    @property
    def budget_s(self) -> float:
        """The evaluation budget of an uploaded set (the engine's ``policy.eval_budget_ms``)."""
        return float(getattr(self.engine, "eval_budget_s", 0.5))

    def _modules(self) -> list[tuple[str, str, str]]:
        """(id, source, rego version) of everything loaded: bundle, aggregator, uploads."""
        out: list[tuple[str, str, str]] = [(m.relpath, m.source, m.rego_version or "auto")
               for m in self.engine.bundle.policy_modules]
        out.append((FILENAME, self.engine.aggregator(), "v1"))
        out += [(k, v, "auto") for k, v in sorted(self.uploaded.items())]
        return out

    def policies(self) -> list[dict[str, str]]:
        return [{"id": name, "raw": source} for name, source, _ in self._modules()]

    @releasing_engines
    def _build(self, uploaded: Mapping[str, str],
               parsed: list[RegoModule] | None = None) -> Engine:
        """An engine of the bundle, its aggregator and ``uploaded``, compiled.

        Raises:
            PolicyError: a module does not parse, or the set does not compile (an unsafe
                variable, a conflict with another module): regorus raises ``RuntimeError``
                for the compile, which was a 500 for an upload that parsed but did not compile.
        """
        engine = Engine()
        modules = self._modules()[: len(self.engine.bundle.policy_modules) + 1]
        modules += [(k, v, "auto") for k, v in sorted(uploaded.items())]
        for name, source, version in modules:
            module = add_module(engine, RegoModule(path=name, relpath=name, source=source),
                                version)
            if parsed is not None:  # each with its package and version, for put's checks
                parsed.append(module)
        try:
            engine.add_data_json(json.dumps(self.engine.data, default=str))
            engine.eval_query("true")
        except Exception as exc:  # regorus raises RuntimeError; translate whatever it raises
            hint = "The uploaded module does not compile with the server's bundle: fix it there."
            raise diagnose(exc).to_error(hint) from None
        return engine

    def _current(self) -> Engine:
        key = (self.engine.revision, self._generation)
        mine = self._local.get()
        if mine is None or mine[0] != key:
            mine = (key, self._build(dict(self.uploaded)))
            self._local.set(mine)
        return mine[1]

    def evaluate(self, path: str, input_doc: Any | None) -> tuple[Any, str]:
        """``(result or None when undefined, decision_id)``.

        Raises:
            PolicyError: the evaluation failed.
        """
        result, _ = self.evaluate_text(path, input_doc)
        return result, ordered_id()

    def evaluate_text(self, path: str, input_doc: Any | None) -> tuple[Any, bytes | None]:
        """``(result, its JSON text)``, both ``None`` when undefined; cached when safe.

        Raises:
            PolicyError: the evaluation failed.
        """
        text = _input_text(input_doc)
        cacheable = not self._volatile and self.engine.cache is not None
        if cacheable:
            key = (path.strip("/"), text)
            with self._lock:
                current = (self.engine.revision, self._generation)
                if self._answers_of != current:
                    self._answers.clear()
                    self._sizes.clear()
                    self._cached = 0
                    self._answers_of = current
                hit = self._answers.get(key)
                if hit is not None:
                    self._answers.move_to_end(key)
                    return hit
        answer = self._evaluate(path, text)
        size = len(key[0]) + len(text) + len(answer[1] or b"") if cacheable else 0
        if cacheable and size <= CACHE_BYTES // 64:  # a large input is answered, not kept
            with self._lock:
                if self._answers_of == current and key not in self._answers:
                    self._answers[key] = answer
                    self._sizes[key] = size
                    self._cached += size
                    while len(self._answers) > CACHE_SIZE or self._cached > CACHE_BYTES:
                        old, _ = self._answers.popitem(last=False)
                        self._cached -= self._sizes.pop(old)
        return answer

    @property
    def bounded(self) -> bool:
        """Whether answers are evaluated on the worker (uploaded modules, a bundle that
        overran its budget here, or ``policy.isolation: process``): a thread waits for them,
        not the event loop."""
        return (bool(self.uploaded) or self._isolated == self.engine.revision
                or getattr(self.engine, "isolation", "auto") == "process")

    def _evaluate(self, path: str, text: str) -> tuple[Any, bytes | None]:
        """``data.<path>`` for the input ``text``: uploaded sets and bundles that overran their
        budget on the worker; the bundle alone in this process, timed (``policy.isolation``
        as for decisions: ``auto`` moves a bundle whose answer took longer than the budget to
        the worker, which answers again within it; ``none`` refuses the overrun after it).

        Raises:
            PolicyError: the evaluation failed, or exceeded its budget.
        """
        if self.bounded:  # parts checked after the input, as below
            self._current_input(text)
            parts = rule_parts(path)
            return (None, None) if parts is None else self._bounded(parts, text)
        started = policy_cpu()
        answer = self._in_process(path, text)
        took = policy_cpu() - started
        if took <= self.budget_s:
            return answer
        if getattr(self.engine, "isolation", "auto") == "none":
            raise BudgetExceeded(self.budget_s * 1000, took * 1000, stopped=False)
        logger.warning("OPA Data API: data.%s of bundle %s took %.0f ms of CPU, over its "
                       "%.0f ms budget; its answers are evaluated on a worker process from now",
                       ".".join(rule_parts(path) or ()), self.engine.revision, took * 1000,
                       self.budget_s * 1000)
        self._isolated = self.engine.revision
        return self._evaluate(path, text)

    def _in_process(self, path: str, text: str) -> tuple[Any, bytes | None]:
        engine = self._current_input(text)
        parts = rule_parts(path)
        if parts is None:
            return None, None
        rule = ".".join(["data", *parts])
        try:
            if not parts:  # the whole document
                answer = json.loads(engine.eval_query_as_json("data"))
                value = answer["result"][0]["expressions"][0]["value"]
                return value, orjson.dumps(value)
            out = engine.eval_rule_as_json(rule)
        except RuntimeError as exc:
            message = str(exc).split("\nStack backtrace", 1)[0]
            if "not a valid rule path" in message:
                return _document(engine, parts)
            msg = f"evaluating {rule}: {message}"
            raise PolicyError(msg) from None
        if out == _UNDEFINED:
            return None, None
        return json.loads(out), out.encode()

    def _current_input(self, text: str) -> Engine:
        """This thread's engine with ``text`` as its input.

        Raises:
            InvalidInput: the engine cannot read the input document.
        """
        engine = self._current()
        try:
            engine.set_input_json(text)
        except RuntimeError as exc:  # the caller's document, not the engine, is at fault
            message = str(exc).split("\nStack backtrace", 1)[0].strip()
            fix = ("send JSON nested fewer than 128 levels deep" if "recursion" in message
                   else "send its text as UTF-8 (no lone surrogate escape such as \\ud800)"
                   if "escape" in message else "send a JSON document the engine can read")
            msg = f"the input document cannot be evaluated ({message}); {fix}"
            raise InvalidInput(msg) from None
        return engine

    def _bounded(self, parts: tuple[str, ...], text: str) -> tuple[Any, bytes | None]:
        """``data.<parts>`` of the uploaded set, evaluated on its worker within the budget.

        regorus cannot be interrupted and holds the GIL: an uploaded rule whose evaluation
        is slow for some input (a comprehension over ``numbers.range(1, input.n)``) held the
        whole server, every caller's request, for as long as it ran. On the worker it is
        stopped at ``policy.eval_budget_ms`` and the request fails, saying so.

        Raises:
            PolicyError: the evaluation failed, or exceeded its budget.
        """
        head, rest = parts[:_QUERY_DEPTH], parts[_QUERY_DEPTH:]
        query = "data" + "".join(f"[{json.dumps(p)}]" for p in head)
        where = ".".join(["data", *head])
        doc = json.loads(text)
        try:
            for attempt in range(_RETRIES):
                try:
                    defined, value = self._evaluator().eval_query(doc, query, self.budget_s)
                    break
                except Retired:  # an upload replaced the set meanwhile: the new one answers
                    if attempt == _RETRIES - 1:
                        raise
        except PolicyError as exc:
            message = str(exc).split("\nStack backtrace", 1)[0].strip()
            msg = f"evaluating {where}: {message}"
            raise PolicyError(msg) from None
        if not defined:
            return None, None
        for key in rest:
            if not isinstance(value, dict) or key not in value:
                return None, None
            value = value[key]
        return value, orjson.dumps(value)

    def _evaluator(self) -> _Pool:
        """The workers of the current uploaded set (the first started by :meth:`put`'s check,
        or here)."""
        with self._lock:
            key, worker = (self.engine.revision, self._generation), self._worker
        if worker is not None and worker[0] == key:
            return worker[1]
        with self._starting:  # one start per set: a second caller takes the first's workers
            while True:
                with self._lock:
                    key, worker = (self.engine.revision, self._generation), self._worker
                    uploaded = dict(self.uploaded)
                if worker is not None and worker[0] == key:
                    return worker[1]
                parsed: list[RegoModule] = []
                self._build(uploaded, parsed)
                pool = _Pool(_worker_of(parsed, self.engine.data))
                with self._lock:
                    if (self.engine.revision, self._generation) == key:
                        old, self._worker = self._worker, (key, pool)
                        break
                # the set changed while this one was built (an upload swapped in its own
                # workers): those stay; this one, of the set before, is dropped unstarted
                pool.close()
        if old is not None:
            old[1].close()
        return pool

    @releasing_engines  # a refusal's traceback holds the candidate engine: released here
    def put(self, policy_id: str, source: str) -> None:
        """Add or replace an uploaded module; the old set stays when it does not compile.

        Raises:
            PolicyError: the module does not parse or compile (with line and column), or its
                package cannot be evaluated without input (:func:`_evaluates`).
        """
        if (not policy_id.strip() or len(policy_id) > MAX_POLICY_ID
                or any(c < " " or c == "\x7f" for c in policy_id)):
            msg = (f"policy id {policy_id[:80]!r} is not one a module can be kept under: name "
                   f"it with 1 to {MAX_POLICY_ID} printable characters (e.g. team/rules.rego)")
            raise PolicyError(msg)
        if policy_id in {m.relpath for m in self.engine.bundle.policy_modules} | {FILENAME}:
            msg = (f"policy {policy_id!r} is part of the server's bundle; change it in the "
                   "policy folder (git), not over the API")
            raise PolicyError(msg)
        with self._changing:  # built from the set it replaces (see __init__)
            candidate = {**self.uploaded, policy_id: source}
            parsed: list[RegoModule] = []
            engine = self._build(candidate, parsed)  # raises PolicyError on a bad module
            module = parsed[-len(candidate):][sorted(candidate).index(policy_id)]
            _own_packages(module, parsed[:-len(candidate)])
            # a function that calls itself would crash the server at its first evaluation (a
            # cycle may pass through the bundle's functions too)
            check_functions(parsed)
            # an unsafe variable (`f(x) := y`), a comprehension never scheduled, http.send, a
            # function that is none: regorus finds each only when it evaluates it
            ast = parse(engine)
            check_evaluable(ast, {module.path})
            _still_evaluable(ast, set(self.uploaded) - {policy_id}, f"replacing {policy_id}")
            _own_data(module, self.engine.data)
            # the clock or randomness: this set's answers are not cached (evaluate_text)
            volatile = {policy_id} if nondeterministic_calls(ast, {module.path}) else set()
            del engine, ast
            evaluator = _worker_of(parsed, self.engine.data)
            try:
                _evaluates(evaluator, module, self.budget_s)
            except PolicyError:
                evaluator.close()
                raise
            with self._lock:
                self.uploaded = candidate
                self._volatile = frozenset((self._volatile - {policy_id}) | volatile)
                self._generation += 1
                old = self._worker
                self._worker = ((self.engine.revision, self._generation), _Pool(evaluator))
            if old is not None:
                old[1].close()

    def close(self) -> None:
        """Stop the uploaded set's worker process, if one runs (the next evaluation starts
        another)."""
        with self._lock:
            old, self._worker = self._worker, None
        if old is not None:
            old[1].close()

    @releasing_engines  # a refusal's traceback holds the candidate engine: released here
    def delete(self, policy_id: str) -> bool:
        """Remove an uploaded module; ``False`` when there is none of that id.

        Raises:
            PolicyError: another upload calls a function only this one defines (each of its
                evaluations would fail); the set stays, as OPA keeps it.
        """
        with self._changing:
            if policy_id not in self.uploaded:
                return False
            rest = {k: v for k, v in self.uploaded.items() if k != policy_id}
            if rest:
                engine = self._build(rest)
                ast = parse(engine)
                del engine
                _still_evaluable(ast, set(rest), f"deleting {policy_id}")
                del ast
            with self._lock:
                self.uploaded = {k: v for k, v in self.uploaded.items() if k != policy_id}
                self._volatile = self._volatile - {policy_id}
                self._generation += 1
                old, self._worker = self._worker, None
        if old is not None:
            old[1].close()
        return True


class _Pool:
    """Up to :data:`WORKERS` evaluators of one set of modules, each answering one request at a
    time, started as callers need them: a caller whose input is slow holds one worker, up to
    the budget, while the others answer everyone else.

    :meth:`close` (the set was replaced) stops the idle workers at once and each busy one when
    its answer is given; after it, a request gets :class:`~lacuna.policy.budget.Retired` and
    asks the new set's workers.
    """

    def __init__(self, first: IsolatedEvaluator, size: int | None = None) -> None:
        self._first = first
        self._size = size or WORKERS
        self._idle: list[IsolatedEvaluator] = [first]
        self._count = 1
        self._changed = threading.Condition()
        self._closed = False

    def eval_query(self, doc: Any, query: str, budget_s: float) -> tuple[bool, Any]:
        """:meth:`IsolatedEvaluator.eval_query` on a free worker (waiting for one when all
        are busy).

        Raises:
            Retired: the pool was closed before a worker was free.
            BudgetExceeded: no answer within the budget (that worker was stopped).
            PolicyError: the evaluation failed.
        """
        evaluator = self._take()
        try:
            return evaluator.eval_query(doc, query, budget_s)
        finally:
            self._give(evaluator)

    def _take(self) -> IsolatedEvaluator:
        with self._changed:
            while True:
                if self._closed:
                    msg = "the uploaded policy set was replaced; ask again"
                    raise Retired(msg)
                if self._idle:  # one that runs first: another stopped at the budget restarts
                    running = [e for e in self._idle if e.running]
                    chosen = (running or self._idle)[-1]
                    self._idle.remove(chosen)
                    return chosen
                if self._count < self._size:
                    self._count += 1
                    return self._first.spare()
                self._changed.wait()

    def _give(self, evaluator: IsolatedEvaluator) -> None:
        if not evaluator.running and not self._closed:
            # stopped at the budget: started again by the caller whose input was slow (its
            # answer is a refusal already), not by the next caller, whoever that is
            with contextlib.suppress(PolicyError):  # it starts on its next use, then
                evaluator.start()
        with self._changed:
            closed = self._closed
            if not closed:
                self._idle.append(evaluator)
                self._changed.notify()
        if closed:
            evaluator.close()

    def close(self) -> None:
        """Stop the idle workers now, the busy ones as they finish; answer no more."""
        with self._changed:
            self._closed = True
            idle, self._idle = self._idle, []
            self._changed.notify_all()
        for evaluator in idle:
            evaluator.close()


def _still_evaluable(ast: list[Any], others: set[str], change: str) -> None:
    """Refuse a change of one upload that leaves another unable to evaluate: it calls a
    function only the changed module defined (``data.a.f(x)`` after ``a`` is replaced without
    ``f``, or deleted). Only the changed module was checked: the change was kept and every
    evaluation of the other module failed, a 500 for each of its callers.

    Raises:
        PolicyError: naming the change and the other module's file, line and call.
    """
    try:
        check_evaluable(ast, others)
    except PolicyError as exc:
        msg = (f"{change} would leave another uploaded module unable to evaluate: {exc} "
               "Change that module first (or with this one), or keep what it calls.")
        raise PolicyError(msg, path=exc.path, line=exc.line) from None


def _worker_of(parsed: list[RegoModule], data: Any) -> IsolatedEvaluator:
    """A worker process holding ``parsed`` (bundle, aggregator, uploads: :meth:`OpaData._build`
    's modules, each in the Rego version it parsed as) and the bundle's data."""
    modules = [(m.path, m.source, m.rego_version or "v1") for m in parsed]
    return IsolatedEvaluator.of_modules(modules, json.loads(json.dumps(data, default=str)))


def _evaluates(evaluator: IsolatedEvaluator, module: RegoModule, budget_s: float) -> None:
    """Refuse an upload whose package fails to evaluate without input.

    regorus checks a rule's safety when the rule is evaluated, not when it compiles: ``value
    := a`` (an unbound ``a``) was accepted, and then ``GET /v1/data`` (the whole document,
    evaluated without input) was a 500 for every caller, as was any path into the package.
    Its package is evaluated here, as that ``GET`` evaluates it (input ``{}``); a rule that
    needs input is undefined without it, not an error. It is evaluated on the new set's
    worker process, stopped at ``budget_s``: in this process a slow one (a comprehension
    over a large ``numbers.range``) held the server for as long as it ran, and kept, held
    every ``GET /v1/data`` again.

    Raises:
        PolicyError: the evaluation failed (regorus' message, with line and column), or took
            longer than the budget.
    """
    query = "data" + "".join(f"[{json.dumps(p)}]" for p in module.package.split("."))
    try:
        evaluator.eval_query({}, query, budget_s)
    except BudgetExceeded as exc:
        msg = (f"{module.path}: package {module.package} takes longer to evaluate than the "
               f"{exc.budget_ms:.0f} ms budget (policy.eval_budget_ms; stopped after "
               f"{exc.took_ms:.0f} ms) without input; GET /v1/data would wait on it for every "
               "caller. Make the slow rule cheaper (a smaller range or comprehension).")
        raise PolicyError(msg, path=module.path) from None
    except PolicyError as exc:
        message = str(exc).split("\nStack backtrace", 1)[0].strip()
        msg = (f"{module.path}: package {module.package} cannot be evaluated ({message}); "
               "GET /v1/data would fail for every caller. Fix the rule it names.")
        raise PolicyError(msg, path=module.path) from None


def _own_data(module: RegoModule, data: Any) -> None:
    """Refuse an upload into a document of the server bundle's data (``data.json``).

    An uploaded package's rules are merged into the data document at its path: ``package
    approved`` with ``mallory := true`` beside a bundle whose ``data.json`` holds
    ``{"approved": {"carol": true}}`` added ``mallory`` to ``data.approved``, so a bundle rule
    reading ``data.approved[input.user.id]`` decided otherwise over the Data API than over
    ``POST /api/v1/decide``. A package may not be a path of the data, enclose one, or lie
    inside one (its first segment a key of the data's top).

    Raises:
        PolicyError: the package overlaps the data, named.
    """
    parts = module.package.split(".")
    if not isinstance(data, Mapping) or parts[0] not in data or parts[0] == "lacuna":
        return  # ``lacuna`` is refused as Lacuna's own (_own_packages)
    msg = (f"{module.path}: package {module.package} lies in the server bundle's data "
           f"(data.{parts[0]}); an uploaded module may not add to it (the Data API would "
           "decide otherwise than the bundle). Upload it under a package of its own, or "
           "change the policy folder.")
    raise PolicyError(msg, path=module.path)


def _own_packages(module: RegoModule, bundle: list[RegoModule]) -> None:
    """Refuse an upload into a package the server's bundle (or Lacuna) owns.

    An uploaded module is added beside the bundle, so one declaring ``package
    governance.export`` with ``allow := true`` joined the bundle's package: the Data API's
    decision (``data.lacuna.decision``) then allowed what ``POST /api/v1/decide``, which
    decides with the bundle alone, denied; one declaring ``package governance.export.deny``
    turned the bundle's ``deny`` into a conflict, every Data API decision a 500.
    ``data.lacuna`` is Lacuna's (the aggregator, the settings): a ``lacuna.decision`` upload
    made every decision a 500 too. So an upload's package may not be one of the bundle's,
    enclose one, or lie inside one, nor be ``lacuna`` or under it; change the policy folder
    instead.

    Raises:
        PolicyError: the package is one of those, named.
    """
    name = module.package
    owned = {m.package for m in bundle}
    clash = next((p for p in sorted(owned) if p == name or p.startswith(f"{name}.")
                  or name.startswith(f"{p}.")), None)
    if name == "lacuna" or name.startswith("lacuna.") or clash is not None:
        whose = ("Lacuna's own (data.lacuna)" if clash is None or clash.startswith("lacuna")
                 else f"the server's bundle's ({clash})")
        msg = (f"{module.path}: package {name} is {whose}; an uploaded module may not add "
               "rules to it (the Data API would decide otherwise than the bundle). Upload it "
               "under a package of its own, or change the policy folder.")
        raise PolicyError(msg, path=module.path)
