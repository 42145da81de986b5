"""The Governor: intercept → classify → lineage → decide → feedback & record, in one place.

Integrations build an :class:`~lacuna.model.Operation` and call :meth:`Governor.govern`; they
never decide. ``govern`` asks the policy engine, appends the decision to the audit trail, and
applies the mode: ``enforce`` raises :class:`~lacuna.errors.GovernanceViolation` on a denial (the
operation does not run), ``warn`` emits a :class:`GovernanceWarning` and lets it run, ``observe``
only records.

Governance fails closed: if the engine cannot decide, the decision is a denial that says why.
"""

from __future__ import annotations

import logging
import threading
import uuid
import warnings
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any, TypeVar

from lacuna.config import Config, load_config
from lacuna.errors import GovernanceViolation, LacunaError
from lacuna.model import (
    Action,
    Classification,
    Decision,
    Destination,
    Layer,
    Operation,
    Source,
    Tier,
    unique,
)

if TYPE_CHECKING:
    import pandas as pd

    from lacuna.audit import AuditStore
    from lacuna.classify import ClassifySettings
    from lacuna.classify.filecache import FileClassificationCache
    from lacuna.exceptions import ExceptionStore
    from lacuna.lineage.recording import Produced
    from lacuna.lineage.records import Run
    from lacuna.lineage.state import LineageNode
    from lacuna.lineage.store import LineageStore
    from lacuna.policy import DecisionEngine, PolicyWatcher

log = logging.getLogger(__name__)
T = TypeVar("T")


class GovernanceWarning(UserWarning):
    """A denial in ``warn`` mode: the operation ran, but policy would have blocked it."""


class Governor:
    """Runs every governed operation through the five steps.

    Args:
        config: settings; by default loaded from ``lacuna.yaml`` (see :mod:`lacuna.config`).
        engine: a policy engine; by default built from ``config.policy``.
        audit: an audit store; by default the one at ``config.audit_url``.
    """

    def __init__(
        self,
        config: Config | None = None,
        *,
        engine: DecisionEngine | None = None,
        audit: AuditStore | None = None,
    ) -> None:
        self.config = config if config is not None else load_config()
        self.session = uuid.uuid4().hex[:16]
        self._engine = engine
        self._audit = audit
        self._exceptions: ExceptionStore | None = None
        self._watcher: PolicyWatcher | None = None
        self._cascade: ClassifySettings | None = None
        self._file_cache: FileClassificationCache | None = None
        self._settings_hash: str | None = None
        self._lock = threading.Lock()

    # -- the steps' collaborators, built on first use ------------------------------------------

    def _once(self, attr: str, build: Callable[[], T]) -> T:
        """Build a collaborator on first use, once, even with several threads asking."""
        value: T | None = getattr(self, attr)
        if value is None:
            with self._lock:
                value = getattr(self, attr)
                if value is None:
                    value = build()
                    setattr(self, attr, value)
        return value

    @property
    def engine(self) -> DecisionEngine:
        """The embedded engine, or a remote OPA server's (``policy.server``), with the decision
        log and live reload (``policy.watch``) the configuration asks for."""
        return self._once("_engine", self._build_engine)

    def _build_engine(self) -> DecisionEngine:
        from lacuna.policy import engine_from_config, watcher_from_config

        engine = engine_from_config(self.config)
        self._watcher = watcher_from_config(engine, self.config)
        return engine

    @property
    def audit(self) -> AuditStore:
        from lacuna.audit import AuditStore

        return self._once("_audit", lambda: AuditStore(
            self.config.audit_url, checkpoint_log=self.config.audit.checkpoint_log))

    @property
    def exceptions(self) -> ExceptionStore:
        from lacuna.exceptions import ExceptionStore

        return self._once("_exceptions", lambda: ExceptionStore(self.config.audit_url))

    @property
    def cascade(self) -> ClassifySettings:
        """The classification cascade's settings; its cache lives in this config's state DB."""
        from lacuna.classify import from_config

        return self._once("_cascade", lambda: from_config(self.config))

    # -- step 2: classify ------------------------------------------------------------------------

    def classify_source(
        self, name: str | None, frame: pd.DataFrame, *, embedded: Any = None,
        how: str | None = None,
    ) -> tuple[Classification, tuple[str, ...]]:
        """A read's classification and upstream sources.

        Declarations come from the file's sidecar and from ``embedded`` (a declaration found
        inside the file, e.g. Parquet metadata). A trusted one (signed by Lacuna, bound to this
        content) wins: declared beats inferred. An untrusted one (unsigned, forged, stale) may
        only add restrictions; the disagreement is logged and kept in the reasoning. A sidecar
        that exists but is corrupt or hostile never lowers protection: the data is treated as
        PROPRIETARY, with the reason, until the sidecar is fixed.

        With ``how`` (the reader and its arguments), the inferred classification of a file is
        cached by path, size, mtime, content fingerprint and frame shape
        (:mod:`lacuna.classify.filecache`): re-reading an unchanged file does not classify it
        again. Declarations are read every time.
        """
        classification, sources, _ = self.classify_read(name, frame, embedded=embedded, how=how)
        return classification, sources

    def classify_read(
        self, name: str | None, frame: pd.DataFrame, *, embedded: Any = None,
        how: str | None = None,
    ) -> tuple[Classification, tuple[str, ...], str | None]:
        """:meth:`classify_source`, plus the lineage run id the trusted declaration names (the
        run that wrote the file), or None."""
        from lacuna.classify import classify_frame
        from lacuna.lineage import sidecar as sc

        key = self._file_key(name, frame, how) if how is not None else None
        inferred = self.file_cache.get(key) if key else None
        if inferred is None:
            inferred = classify_frame(
                frame, path=name, config=self.config.classification, cascade=self.cascade
            )
            if key:
                self.file_cache.put(key, inferred)
        declarations: list[sc.Sidecar] = []
        try:
            if name:
                found = sc.read_sidecar(name)
                declarations += [found] if found is not None else []
            if embedded is not None:
                declarations.append(sc.read_embedded(
                    embedded, data_path=name, columns=list(frame.columns), rows=len(frame)))
        except sc.SidecarError as exc:
            log.error("%s", exc)
            failed = replace(
                inferred,
                tier=Tier.PROPRIETARY,
                floor=Tier.PROPRIETARY,
                reasoning=(f"PROPRIETARY (fail closed): {exc}", *inferred.reasoning),
            )
            return failed, (), None
        result = inferred
        trusted = next((d for d in declarations if d.trusted), None)
        if trusted is not None:
            result = self.merge_declared(trusted.classification, inferred, where=trusted.where)
        for declaration in declarations:
            if declaration.trusted:
                continue
            note = sc.describe_distrust(declaration)
            result, lowered = sc.restrict(
                declaration.classification, result, self.config.classification,
                where=declaration.where,
            )
            log.warning("%s%s", note, "".join(f"\n  {line}" for line in lowered))
            result = replace(result, reasoning=(note, *result.reasoning))
        sources = unique(s for d in declarations for s in d.sources)
        return result, sources, trusted.run_id if trusted is not None else None

    @property
    def file_cache(self) -> FileClassificationCache:
        """Inferred classifications of files read, by path, size, mtime and content."""
        from lacuna.classify.filecache import FileClassificationCache

        return self._once("_file_cache", FileClassificationCache)

    def _file_key(self, name: str | None, frame: pd.DataFrame, how: str) -> str | None:
        if not name:
            return None
        from lacuna.classify.filecache import file_key

        if self._settings_hash is None:
            self._settings_hash = (self.config.classification.model_dump_json()
                                   + self.cascade.model_dump_json())
        return file_key(name, frame, self._settings_hash, how)

    def merge_declared(
        self, declared: Classification, inferred: Classification, *, where: str
    ) -> Classification:
        """Declared beats inferred, column by column; disagreements become suggestions.

        Column classes merge by :func:`lacuna.classify.apply_declared`. On top, a sidecar's
        table level: a declaration with column classes contributes its floor, one with only a
        tier (hand-written) makes that tier the floor, and its tags are kept.
        """
        from lacuna.classify import apply_declared
        from lacuna.classify.rollup import rollup

        config = self.config.classification
        floor = max(declared.floor if declared.columns else declared.tier, inferred.floor)
        table_tags = unique([*declared.table_tags, *inferred.table_tags])
        base = rollup(
            inferred.columns, config, floor=floor, extra_tags=table_tags, layer=inferred.layer
        )
        merged = apply_declared(base, declared.columns, config, where=where)
        if merged is base:  # no column declarations: the table level is the declaration
            merged = replace(
                base, layer=Layer.DECLARED, reasoning=(f"declared by {where}", *base.reasoning)
            )
        return replace(merged, tags=unique([*merged.tags, *declared.tags]))

    # -- step 4: decide --------------------------------------------------------------------------

    def destination(self, target: Any) -> Destination:
        from lacuna.destinations import classify_destination

        return classify_destination(target, self.config.destinations)

    def operation(
        self,
        action: Action,
        classification: Classification,
        *,
        sources: Sequence[Source] = (),
        destination: Destination | None = None,
        method: str = "",
        code_location: str | None = None,
        variable: str | None = None,
        purpose: str | None = None,
        exception_id: str | None = None,
    ) -> Operation:
        """An operation in this governor's context (user, environment, default purpose)."""
        return Operation(
            action=action,
            user=self.config.user.to_user(),
            classification=classification,
            sources=tuple(sources),
            destination=destination,
            environment=self.config.environment,
            purpose=purpose if purpose is not None else self.config.purpose,
            exception_id=exception_id,
            method=method,
            code_location=code_location,
            variable=variable,
        )

    def decide(self, operation: Operation) -> Decision:
        """The policy answer for ``operation``, without side effects. Never raises: fails closed."""
        grant, note = self._grant(operation)
        try:
            decision = self.engine.decide(
                operation, exception_approved=grant is not None, exception_approver_role=grant
            )
            if note:
                decision = replace(decision, why=(*decision.why, note))
        except Exception as exc:
            log.error("policy engine failed; denying %s (fail closed): %s", operation.id, exc)
            decision = Decision(
                allowed=False,
                operation_id=operation.id,
                reasoning="Denied because the policy engine could not decide (fail closed)",
                engine_error=f"{type(exc).__name__}: {exc}",
            )
        decision = replace(decision, operation=operation)
        if decision.denied and any(a.kind for a in decision.alternatives):
            decision = self._alternatives(decision)
        return decision

    def _alternatives(self, decision: Decision) -> Decision:
        """The denial's alternatives built for this operation and checked (lacuna.alternatives)."""
        from lacuna.alternatives import complete, context_for
        from lacuna.policy import PolicyEngine

        assert decision.operation is not None
        engine = self.engine

        def dry_run(op: Operation) -> Decision:  # not a decision that happens: no log
            if isinstance(engine, PolicyEngine):
                return engine.decide(op, log=False)
            return engine.decide(op)

        try:
            ctx = context_for(decision.operation, self.config, dry_run, self.destination)
            return complete(decision, ctx)
        except Exception as exc:  # never shown unchecked
            log.error("could not check the suggested alternatives: %s", exc)
            return replace(decision, alternatives=tuple(
                a for a in decision.alternatives if a.kind is None))

    def _grant(self, operation: Operation) -> tuple[str | None, str | None]:
        """The approver role of a verified grant for this operation, or a note on why not."""
        if not operation.exception_id:
            return None, None
        from lacuna.exceptions import grant_for
        from lacuna.model import utcnow

        try:  # honoured only when signed, approved by a steward, and covering this operation
            return grant_for(self.exceptions, operation, utcnow(), self.config.stewards)
        except Exception as exc:  # the store is down: no grant (fail closed), say so
            log.error("cannot read exception %s: %s", operation.exception_id, exc)
            return None, f"exception {operation.exception_id} could not be checked ({exc})"

    # -- step 5: feedback & record ---------------------------------------------------------------

    def record(self, decision: Decision) -> None:
        """Append a decision to the audit trail. Audit fails on its own: it never breaks the job."""
        assert decision.operation is not None
        try:
            self.audit.record(decision, decision.operation, session=self.session)
        except Exception as exc:  # the audit sink fails independently (logged loudly)
            log.error(
                "could not append decision %s to the audit trail: %s", decision.operation_id, exc
            )

    def govern(self, operation: Operation) -> Decision:
        """Decide, record, and apply the mode. Raises GovernanceViolation on an enforced denial."""
        decision = self.decide(operation)
        self.record(decision)
        if decision.denied:
            if self.config.mode == "enforce":
                raise GovernanceViolation(decision)
            if self.config.mode == "warn":
                from lacuna.feedback import render_text

                warnings.warn(render_text(decision), GovernanceWarning, stacklevel=4)
        return decision

    def execute(
        self, operation: Operation, run: Callable[[], T], *, produced: Produced | None = None
    ) -> T:
        """Govern ``operation`` and, when it may proceed, run it: the one entry point for
        integrations that perform an operation (writes, exports).

        Decides and records the decision before ``run`` is called (``govern``); an enforced
        denial raises :class:`~lacuna.errors.GovernanceViolation` and ``run`` is never called.
        Otherwise returns what ``run`` returns, and re-raises what it raises.

        With ``produced`` (what the operation reads and writes, :mod:`lacuna.lineage.recording`),
        step 3 records its run in the lineage store with the outcome: denied (no outputs),
        failed, or succeeded.
        """
        if produced is None:
            self.govern(operation)
            return run()
        from lacuna.lineage.recording import run_for
        from lacuna.lineage.records import RunStatus

        try:
            decision = self.govern(operation)
        except GovernanceViolation as exc:
            self._record_lineage(run_for(produced, operation, exc.decision,
                                         status=RunStatus.DENIED, session=self.session))
            raise
        try:
            result = run()
        except BaseException as exc:
            self._record_lineage(run_for(produced, operation, decision, status=RunStatus.FAILED,
                                         session=self.session, error=exc))
            raise
        self._record_lineage(run_for(produced, operation, decision, status=RunStatus.SUCCEEDED,
                                     session=self.session))
        return result

    # -- step 3: lineage ---------------------------------------------------------------------

    @property
    def lineage_store(self) -> LineageStore:
        """The lineage store in this governor's state database (``audit.url``)."""
        from lacuna.lineage.api import store_at

        return store_at(self.config.audit_url)

    def _record_lineage(self, run: Run) -> None:
        """Record one governed run: the one hook every producing operation goes through.
        Like the audit trail, the store fails on its own: logged loudly, never breaks the job."""
        try:
            self.lineage_store.record(run)
        except Exception as exc:
            log.error("could not record lineage run %s (%s) in the lineage store: %s",
                      run.id, run.operation, exc)

    def restore_lineage(self, path: str | None, run_id: str | None) -> tuple[LineageNode, ...]:
        """The upstream lineage of a file being read, from the store (see
        :func:`lacuna.lineage.recording.lineage_from_store`); empty when unknown."""
        if not path and not run_id:
            return ()
        from lacuna.lineage.recording import lineage_from_store
        from lacuna.lineage.records import DatasetRef

        try:
            ref = DatasetRef.of(path) if path else None
            return lineage_from_store(self.lineage_store, run_id, ref)
        except Exception as exc:
            log.error("could not read the lineage of %s from the lineage store: %s",
                      path or run_id, exc)
            return ()

    def close(self) -> None:
        """Stop the policy watcher, flush the decision log, close connections."""
        if self._watcher is not None:
            self._watcher.stop()
        engine = self._engine
        log_sink = getattr(engine, "decision_log", None)
        if log_sink is not None:
            log_sink.close()
        closer = getattr(engine, "close", None)
        if callable(closer):
            closer()
        for store in (self._audit, self._exceptions):
            if store is not None:
                store.close()


# -- the process-wide governor ------------------------------------------------------------------

_CURRENT: Governor | None = None
_CURRENT_LOCK = threading.Lock()


def current() -> Governor:
    """The process-wide governor, created from ``lacuna.yaml`` on first use."""
    global _CURRENT
    if _CURRENT is None:
        with _CURRENT_LOCK:
            if _CURRENT is None:
                _CURRENT = Governor()
    return _CURRENT


def configure(config: Config | str | None = None, **overrides: Any) -> Governor:
    """Replace the process-wide governor.

    Args:
        config: a ``Config``, a path to a ``lacuna.yaml``, or ``None`` to search as usual.
        **overrides: top-level settings to override, e.g. ``mode="warn"``,
            ``user={"id": "alice", "role": "data_analyst"}``, ``policy={"dir": "policies/"}``.

    Raises:
        ConfigError: the configuration or an override is invalid.
    """
    global _CURRENT
    base = config if isinstance(config, Config) else load_config(config)
    if overrides:
        from lacuna.config import config_from_dict

        data = base.model_dump(exclude={"source"}, exclude_none=True)
        for key, value in overrides.items():
            if isinstance(value, dict) and isinstance(data.get(key), dict):
                data[key] = {**data[key], **value}
            else:
                data[key] = value
        base = config_from_dict(data)
    with _CURRENT_LOCK:
        old, _CURRENT = _CURRENT, Governor(base)
    if old is not None:
        old.close()
    return _CURRENT


def use(gov: Governor) -> Governor:
    """Make ``gov`` the process-wide governor (tests, embedding applications)."""
    global _CURRENT
    with _CURRENT_LOCK:
        old, _CURRENT = _CURRENT, gov
    if old is not None and old is not gov:
        old.close()
    return gov


def reset() -> None:
    """Forget the process-wide governor (tests; a changed lacuna.yaml)."""
    global _CURRENT
    with _CURRENT_LOCK:
        old, _CURRENT = _CURRENT, None
    if old is not None:
        old.close()


__all__ = [
    "GovernanceWarning",
    "Governor",
    "LacunaError",
    "configure",
    "current",
    "reset",
    "use",
]
