"""The Governor: intercept → classify → lineage → decide → feedback & record, in one place.

Integrations build an :class:`~lacuna.model.Operation` and call :meth:`Governor.govern`; they
never decide. ``govern`` asks the policy engine, appends the decision to the audit trail, and
applies the mode: ``enforce`` raises :class:`~lacuna.errors.GovernanceViolation` on a denial (the
operation does not run), ``warn`` emits a :class:`GovernanceWarning` and lets it run, ``observe``
only records.

Governance fails closed: if the engine cannot decide, the decision is a denial that says why.
:meth:`Governor.execute` runs an operation: it records the decision *before* the operation (so a
crash never leaves an allowed operation unrecorded) and its outcome after it. When the audit trail
cannot be written, or Lacuna itself fails, ``enforce`` denies (:class:`GovernanceViolation`
naming the error) and ``warn``/``observe`` let the operation run with a
:class:`GovernanceFailureWarning`.

**Which governor.** :func:`current` is the innermost ``lacuna.governed()`` block's governor in
this thread (or asyncio task), else the process-wide one (:func:`configure`, :func:`use`).
Blocks are kept in a context variable, so one thread's block never changes another's.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import os
import sys
import threading
import uuid
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, TypeVar

from lacuna.config import Config, install_active, load_config
from lacuna.errors import AuditError, ConfigError, GovernanceViolation, LacunaError, needed
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
    from datetime import datetime

    import pandas as pd

    from lacuna.audit import AuditRecord, AuditStore
    from lacuna.classify import ClassifySettings
    from lacuna.classify.filecache import FileClassificationCache
    from lacuna.exceptions import ExceptionStore
    from lacuna.lineage.attribution import Raised
    from lacuna.lineage.recording import Produced, Restored
    from lacuna.lineage.records import Run
    from lacuna.lineage.sidecar import Sidecar
    from lacuna.lineage.state import LineageNode
    from lacuna.lineage.step import Step, StepResult
    from lacuna.lineage.store import LineageStore
    from lacuna.policy import DecisionEngine, PolicyWatcher
    from lacuna.retention.keeping import Keeping

log = logging.getLogger(__name__)
T = TypeVar("T")


class _Undecided(Exception):  # an internal signal, never leaves this module
    """Lacuna failed before deciding an operation that may run unrecorded (warn, observe)."""


class GovernanceWarning(UserWarning):
    """A denial in ``warn`` mode: the operation ran, but policy would have blocked it."""


class GovernanceFailureWarning(GovernanceWarning):
    """Lacuna itself failed (an internal error, an audit trail it cannot write) in ``warn`` or
    ``observe`` mode: the operation ran, less governed or less recorded than it should be."""


REPORT_HINT = (
    "To report it: send this message, the output of `lacuna --version` and the traceback "
    "logged by the 'lacuna.governor' logger to the Lacuna maintainers (issue tracker)."
)
_RECORDED_RULE = ("a sealed governed file is decrypted only once its read is decided and on "
                  "the audit trail, in every mode")
_AUDIT_FIX = (
    "Fix the audit trail (audit.url in lacuna.yaml, free disk space, permissions on its folder; "
    "`lacuna audit verify` checks it), then retry."
)


def _user_stacklevel() -> int:
    """The ``stacklevel`` that points a warning at the first frame outside Lacuna and pandas."""
    frame, level = sys._getframe(1), 1
    while frame is not None:
        module = frame.f_globals.get("__name__", "")
        if not module.startswith(("lacuna.", "pandas.", "contextlib", "functools")):
            return level
        frame, level = frame.f_back, level + 1  # type: ignore[assignment]
    return level


def _describe(exc: BaseException) -> str:
    """``Type: first line of the message`` plus the last Lacuna frame it came from."""
    text = str(exc).strip().splitlines()
    detail = f"{type(exc).__name__}: {text[0][:300]}" if text else type(exc).__name__
    where = None
    tb = exc.__traceback__
    while tb is not None:
        name = tb.tb_frame.f_globals.get("__name__", "")
        if name.startswith("lacuna."):
            where = f"{name.replace('.', '/')}.py:{tb.tb_lineno}"
        tb = tb.tb_next
    return f"{detail} (at {where})" if where else detail


def _fail_closed(operation: Operation, what: str, exc: Exception) -> Decision:
    """The denial of ``operation`` when the policy engine ``what`` ("could not be started",
    "could not decide"): logged as an error, with the engine's error on the decision."""
    log.error("the policy engine %s; denying %s (fail closed): %s", what, operation.id, exc)
    return Decision(allowed=False, operation_id=operation.id, operation=operation,
                    reasoning=f"Denied because the policy engine {what} (fail closed)",
                    engine_error=f"{type(exc).__name__}: {exc}")


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
        self._config = config if config is not None else load_config()
        self.session = uuid.uuid4().hex[:16]
        self._engine = engine
        self._audit = audit
        self._exceptions: ExceptionStore | None = None
        self._remote_lineage: Any = None
        self._watcher: PolicyWatcher | None = None
        self._cascade: ClassifySettings | None = None
        self._file_cache: FileClassificationCache | None = None
        self._keeping: Keeping | None = None
        self._settings_hash: str | None = None
        # the configuration as recorded on the audit trail (JSON, to compare); None: not yet
        self._recorded_as: str | None = None
        self._config_failure: Exception | None = None  # why it could not be recorded
        self._resend_asked = False  # whether the OpenLineage re-send was started (_resend)
        # reentrant: one collaborator's build may ask for another (a server's audit store, its
        # engine's client), on the same thread
        self._lock = threading.RLock()
        self._configuring(audit)
        # Whether the code that asks runs in this process, on this stack: the suggested
        # alternatives then use its name for lacuna. A server deciding for clients sets False.
        self.local_callers = True

    @property
    def config(self) -> Config:
        """The settings this governor decides under (fixed when it is built)."""
        return self._config

    @config.setter
    def config(self, value: Config) -> None:  # noqa: ARG002 - refused whatever it is
        # its engine, stores and the revision on the audit trail were built from the first
        msg = ("a governor's configuration cannot be replaced: its policy engine, its stores "
               "and the configuration revision on the audit trail follow the one it was built "
               "with. Build a new governor instead: lacuna.enable(config, **overrides) or "
               "lacuna.configure(...).")
        raise ConfigError(msg)

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
        # the policy package imports regorus (the Rego engine): when it does not import, the
        # error says what to install, and nothing is decided (enable() refuses)
        with needed("Lacuna's policy engine (lacuna.policy; regorus)",
                    "No operation is decided until it imports"):
            from lacuna.policy import engine_from_config, watcher_from_config

        if self.config.server is not None:  # a Lacuna server decides, records, grants
            from lacuna.remote.client import ServerClient, ServerEngine

            return ServerEngine(ServerClient(self.config.server), self.session)
        engine = engine_from_config(self.config)
        self._watcher = watcher_from_config(engine, self.config)
        return engine

    @property
    def audit(self) -> AuditStore:
        from lacuna.audit import AuditStore

        if self.config.server is not None:
            from lacuna.remote.client import ServerAudit

            return self._once("_audit", lambda: ServerAudit(self.engine))  # type: ignore
        return self._once("_audit", lambda: self._configuring(AuditStore(
            self.config.audit_url, checkpoint_log=self.config.audit.checkpoint_log)))

    @property
    def exceptions(self) -> ExceptionStore:
        from lacuna.exceptions import ExceptionStore

        if self.config.server is not None:
            from lacuna.remote.client import ServerExceptions

            return self._once("_exceptions",  # type: ignore
                              lambda: ServerExceptions(self.engine.client))  # type: ignore
        return self._once("_exceptions", lambda: ExceptionStore(self.config.audit_url))

    @property
    def keeping(self) -> Keeping:
        """What retention holds (legal holds and Rego ``retention`` rules), cached: the state
        store beside the audit trail and this bundle's rules, or the Lacuna server this governor
        records to (``server:``, ``/api/v1/retention/...``). The one source the governed mount,
        governed writes and the server ask."""
        if self.config.server is not None:
            from lacuna.remote.client import ServerKeeping

            return self._once("_keeping", lambda: ServerKeeping(
                self.engine.client, self.config))  # type: ignore[attr-defined]

        def local() -> Keeping:
            from lacuna.retention.keeping import LocalKeeping

            return LocalKeeping(self, revision=lambda: getattr(self._engine, "revision", None))

        return self._once("_keeping", local)

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
        content: the sidecar to the file's bytes, an embedded one to the digests of ``frame``'s
        values) wins: declared beats inferred. An untrusted one (unsigned, forged, stale) may
        only add restrictions; the disagreement is logged and kept in the reasoning. A sidecar
        that exists but is corrupt or hostile never lowers protection: the data is treated as
        PROPRIETARY, with the reason, until the sidecar is fixed.

        With ``how`` (the reader and its arguments), the inferred classification of a file is
        cached by path, size, mtime, content fingerprint and frame shape
        (:mod:`lacuna.classify.filecache`): re-reading an unchanged file does not classify it
        again. Declarations are read every time.

        A Parquet file's embedded declaration is read here when not given (``frame`` is then a
        sample, so it only restricts): a copy without its sidecar, in a store that never
        recorded it, was classified from its values alone by ``lacuna.check``, ``lacuna
        classify`` and ``register_lineage`` (a column declared financial came back PUBLIC).
        """
        if embedded is None and name is not None:
            from lacuna.classify.readers import file_format

            if file_format(name) == "parquet":
                from lacuna.lineage.sidecar import parquet_declaration

                embedded = parquet_declaration(os.path.expanduser(name))
        classification, sources, _ = self.classify_read(name, frame, embedded=embedded, how=how)
        return classification, sources

    def classify_read(
        self, name: str | None, frame: pd.DataFrame, *, embedded: Any = None,
        how: str | None = None, table: bool | str = False, location: str | None = None,
        sidecars: Sequence[Sidecar] | None = None, listing: str | None = None,
    ) -> tuple[Classification, tuple[str, ...], str | None]:
        """:meth:`classify_source`, plus the lineage run id the trusted declaration names (the
        run that wrote the file), or None. ``table``: ``embedded`` is a Spark table's label and
        ``frame`` holds the table's column names only; given as the table's qualified name, the
        label must have been signed for that table, and, given the ``location`` of its files,
        for those files; ``listing``: of its remote files (see
        :func:`lacuna.lineage.sidecar.read_embedded`)."""
        c, sources, run_id, _, _ = self.classify_read_raised(name, frame, embedded=embedded,
                                                             how=how, table=table,
                                                             location=location,
                                                             sidecars=sidecars,
                                                             listing=listing)
        return c, sources, run_id

    def classify_read_raised(
        self, name: str | None, frame: pd.DataFrame, *, embedded: Any = None,
        how: str | None = None, table: bool | str = False, location: str | None = None,
        sidecars: Sequence[Sidecar] | None = None, listing: str | None = None,
    ) -> tuple[Classification, tuple[str, ...], str | None, Raised | None, datetime | None]:
        """:meth:`classify_read`, plus which part of the classification ingested claims
        raised (:mod:`lacuna.lineage.attribution`): a governed read records it with its input
        version, so a steward's dismissal of the claim takes the raise back (None: no claim
        raised it), and when the data read was first seen, as its trusted declaration says
        (:func:`lacuna.lineage.clock.of_declaration`; None: no trusted one). ``sidecars``:
        the sidecars of ``name`` as the caller already read them
        (:func:`lacuna.lineage.sidecar.read_declarations`), not read (and hashed) again."""
        from lacuna.classify import classify_frame
        from lacuna.lineage import attribution
        from lacuna.lineage import sidecar as sc
        from lacuna.lineage.clock import earliest, of_declaration

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
            if sidecars is not None:
                declarations += sidecars
            elif name:  # a folder: its files' sidecars too (sc.read_declarations)
                declarations += sc.read_declarations(name)
            if embedded is not None:
                declarations.append(sc.read_embedded(
                    embedded, data_path=name, frame=frame, table=table, location=location,
                    listing=listing))
        except sc.SidecarError as exc:
            log.error("%s", exc)
            failed = Classification.fail_closed(str(exc), over=inferred)
            return failed, (), None, None, None
        result = inferred
        raised: Raised | None = None
        trusted_ones = [d for d in declarations if d.trusted]
        trusted = sc.joined(trusted_ones, self.config.classification) if trusted_ones else None
        if trusted is not None:
            declared, raised = self._declared_raise(
                name, trusted.classification,
                None if trusted.combined else trusted.run_id)
            result = self.merge_declared(declared, inferred, where=trusted.where)
            if raised is not None:
                raised = attribution.of(
                    self.merge_declared(raised.own, inferred, where=trusted.where)
                    if raised.own is not None else None, raised.claims, result=result)
        elif not declarations and name:
            try:
                restored = self._restore_from_store(name)
            except Exception as exc:  # the store cannot say what it recorded: fail closed
                log.error("could not look %s up in the lineage store: %s", name, exc)
                failed = Classification.fail_closed(
                    f"the lineage store could not say what it recorded of this file: {exc}",
                    over=inferred)
                return failed, (), None, None, None
            if restored is not None:  # the store knows this exact content
                c, raised = self._restored(restored, inferred)
                return c, (), restored.run_id, raised, self._restored_clock(restored)
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
        if raised is not None and len(declarations) > 1:  # restricted further: not attributed
            raised = None
        seen = of_declaration(trusted)
        if name and self.config.server is not None:
            # the server's clock, or the trusted sidecar's when that is earlier: the owner's
            # word may only make it earlier (a host renamed keeps it: docs/server.md)
            result, kept = self._server_known(name, result)
            seen = earliest(seen, kept)
        sources = unique(s for d in declarations for s in d.sources)
        return (result, sources, trusted.run_id if trusted is not None else None, raised,
                seen)

    def _server_known(self, name: str, result: Classification
                      ) -> tuple[Classification, datetime | None]:
        """``result`` (a read's class from its values and sidecar) raised to what the Lacuna
        server's lineage store knows of the file, by name and content (a sidecar the file's
        owner deleted or wrote lowers nothing the server knows); PROPRIETARY when the server
        cannot say (fail closed). With the file's retention clock as the server keeps it, never
        its sidecar's (signed with its owner's own key: :mod:`lacuna.lineage.seen`)."""
        from lacuna.lineage import sidecar as sc

        where = f"the Lacuna server's lineage store ({name})"
        try:
            known, seen = self.lineage_store.knows(name)  # type: ignore[attr-defined]
        except Exception as exc:
            log.error("%s", exc)
            return Classification.fail_closed(str(exc), over=result), None
        if known is None:
            return result, seen
        raised, _ = sc.restrict(known, result, self.config.classification, where=where)
        return raised, seen

    def _declared_raise(self, name: str | None, declared: Classification, run_id: str | None
                        ) -> tuple[Classification, Raised | None]:
        """A trusted declaration (a signed sidecar, Parquet metadata) written by Lacuna's run
        ``run_id`` carries the class the run wrote, raised by any claim that stood then. The
        store's signed version of that output says which part claims raised
        (:mod:`lacuna.lineage.attribution`): once they are dismissed, the declaration stands
        at what Lacuna derived itself; while they stand, the read passes their attribution on.
        Only when the declaration is exactly the version's recorded class, and is that run's
        output alone (not an append's combination with the content already there: the caller
        passes no ``run_id`` then); any failure: the declaration as it is."""
        if not name or not run_id:
            return declared, None
        from lacuna.lineage import attribution
        from lacuna.lineage.api import store_exists
        from lacuna.lineage.records import DatasetRef

        try:
            if self.config.server is not None or not store_exists(self.config.audit_url):
                return declared, None  # a server's client: its store is remote
            found = self.lineage_store.attributed_output(run_id, DatasetRef.of(name))
        except Exception as exc:
            log.error("could not look up what run %s wrote of %s in the lineage store: %s",
                      run_id, name, exc)
            return declared, None
        if found is None or not attribution.same(found[0].classification, declared):
            return declared, None
        recorded, now = found
        if now.raised is not None:
            return declared, now.raised
        if now.classification != recorded.classification:  # every claim dismissed
            return now.classification, None
        return declared, None

    @property
    def file_cache(self) -> FileClassificationCache:
        """Inferred classifications of files read, by path, size, mtime and content."""
        from lacuna.classify.filecache import FileClassificationCache

        return self._once("_file_cache",
                          lambda: FileClassificationCache(self.cascade.cache.files))

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
        try:
            remote = getattr(self.engine, "complete_decisions", False)
        except Exception as exc:  # the engine cannot be built (e.g. a component not installed)
            # no alternative and no registered dataset is offered: each must be allowed by a
            # dry run of the engine that could not be built
            return _fail_closed(operation, "could not be started", exc)
        if remote:
            return self._server_decision(operation, record=False)
        grant, note = self._grant(operation)
        try:
            decision = self.engine.decide(
                operation, exception_approved=grant is not None, exception_approver_role=grant
            )
            if note:
                decision = replace(decision, why=(*decision.why, note))
        except Exception as exc:
            decision = _fail_closed(operation, "could not decide", exc)
        decision = decision.evolve(operation=operation, exception_approved=grant is not None)
        if decision.denied and any(a.kind for a in decision.alternatives):
            decision = self._alternatives(decision)
        if decision.denied:
            decision = self._registered_datasets(decision)
        return decision

    def _server_decision(self, operation: Operation, *, record: bool) -> Decision:
        """A Lacuna server's complete decision (grants, alternatives; recorded there when
        ``record``). The engine never raises; a failure is its fail-closed denial."""
        decision = self.engine.decide(operation, log=record)  # type: ignore[call-arg]
        if decision.operation is not None and decision.operation.id == operation.id:
            return decision  # with the classification the server decided on and recorded
        return decision.evolve(operation=operation)

    def _registered_datasets(self, decision: Decision) -> Decision:
        """A registered dataset that covers the need, offered first (lacuna.datasets.offer)."""
        from lacuna.datasets.offer import offer

        try:
            return offer(decision, self)
        except Exception as exc:  # the denial stands; only the offer is lost
            log.error("could not look up registered datasets for this denial: %s", exc)
            return decision

    def _alternatives(self, decision: Decision) -> Decision:
        """The denial's alternatives built for this operation and checked (lacuna.alternatives)."""
        from lacuna.alternatives import Memo, complete, context_for
        from lacuna.policy import PolicyEngine

        assert decision.operation is not None
        engine = self.engine

        def dry_run(op: Operation) -> Decision:  # not a decision that happens: no log
            if isinstance(engine, PolicyEngine):
                return engine.decide(op, log=False)
            return engine.decide(op)

        try:
            ctx = context_for(decision.operation, self.config, dry_run, self.destination,
                              local=self.local_callers)
            revision = getattr(engine, "revision", None) if isinstance(engine, PolicyEngine) \
                else None
            if revision is None:
                return complete(decision, ctx)
            memo: Memo = self.__dict__.setdefault("_alternatives_memo", Memo())
            return memo.complete(decision, ctx, str(revision))
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

    def record_decided(self, operation: Operation,
                       amend: Callable[[Decision], Decision] | None = None
                       ) -> tuple[Decision, AuditRecord | None]:
        """Decide ``operation`` and record the decision, the mode not applied: an operation
        that already ran (a Spark write outside the Python API, a dbt run's models) or an event
        (Spark governance switched off). ``amend``: what this process says of the decision (a
        note that it ran ungoverned), recorded in-process. With ``server:``, the server decides
        and records in one request (it is the audit of record; a decision this process made
        and then sent as a record is not one it takes): ``amend`` changes what this process
        reports, the server's record names the operation's method. The record is None when it
        could not be written (logged, as :meth:`record`)."""
        if getattr(self.engine, "complete_decisions", False):
            decision = self._server_decision(operation, record=True)
        else:
            decision = self.decide(operation)
        if amend is not None:
            decision = amend(decision)
        return decision, self.record(decision)

    def record(self, decision: Decision) -> AuditRecord | None:
        """Append a decision to the audit trail; ``None`` when it could not be written (logged).

        Whether that stops the operation is the mode's business (see :meth:`govern`).
        """
        return self._record(decision)[0]

    def _configuring(self, store: T) -> T:
        """``store``, set to record this governor's configuration before its first append."""
        from lacuna.audit import AuditStore

        # a store that recorded a configuration already (the server's, shared with the
        # governors acting for its callers) keeps it: its process's configuration governs.
        # Its records would name that revision, so a governor whose settings differ (other
        # than the user: a caller's) may not share it
        if not isinstance(store, AuditStore):
            return store
        if store.config_revision is None:
            store.before_first_append(self._recording_first)
        elif (recorded := store.configured_with) is not None and \
                self.config.model_copy(update={"user": recorded.user}) != recorded:
            msg = (f"the audit store given records under configuration {store.config_revision} "
                   f"(read from {recorded.source or 'the embedded defaults'}), and this "
                   "governor's settings differ: its decisions would name a revision they were "
                   "not made under. Give it a store of its own (Governor(config) opens one) "
                   "or the same configuration.")
            raise ConfigError(msg)
        return store

    def _recording_first(self) -> None:
        """The store's hook before its first append: :meth:`recording`. In ``enforce`` mode an
        append does not go on without its configuration on the trail (fail closed: a decision
        would name no revision, and a loosened ``lacuna.yaml`` that cannot be recorded would
        never show); the hook stays set, so the next append tries again."""
        self.recording()
        if self._recorded_as is None and self.config.mode == "enforce":
            where = self.config.source or "the embedded defaults"
            msg = (f"the configuration (read from {where}) could not be recorded on the audit "
                   f"trail ({type(self._config_failure).__name__}: {self._config_failure}); in "
                   "enforce mode nothing is appended without it. Fix what the error names (the "
                   "trail, or the setting that cannot be written as JSON), then retry.")
            raise AuditError(msg)

    def _config_changed(self) -> None:
        """Record the configuration again when it was changed in place since it was recorded
        (settings refuse that, :class:`lacuna.sections.SettingsDict`; this catches code that
        steps around it, ``dict.__setitem__`` on one of their mappings): the next append is
        preceded by a configuration event of what it is now, never stamped with the old
        revision."""
        if self._recorded_as is None:
            return
        try:
            now = self.config.model_dump_json(warnings=False)
        except Exception:  # a value that cannot be written: recording it says so
            now = None
        if now == self._recorded_as:
            return
        from lacuna.audit import AuditStore

        store = self.audit
        with self._lock:
            if self._recorded_as is None or not isinstance(store, AuditStore):
                return
            log.warning("the configuration of this governor was changed in place since it was "
                        "recorded on the audit trail %s; recording it again", store.where)
            self._recorded_as = None
            store.config_revision = None  # until it is recorded: no revision, not the old one
            store.before_first_append(self._recording_first)

    def recording(self) -> AuditStore:
        """The audit store, with this governor's configuration recorded on its trail, once
        (:mod:`lacuna.audit.configuration`: its revision is stamped on every record after it,
        and a change of ``lacuna.yaml`` is an audit event). The store does this before its
        first append of anything (a decision, an exception, a retention event); a server calls
        it at its start. A failure to record it is logged; in ``enforce`` mode the append that
        follows is refused (:class:`AuditError`: nothing is appended without its
        configuration), in ``warn`` and ``observe`` it goes on with no revision. A Lacuna
        server's client records nothing: the server records under its own configuration."""
        from lacuna.audit import AuditStore

        store = self.audit
        if self._recorded_as is not None or not isinstance(store, AuditStore):
            return store
        with self._lock:
            if self._recorded_as is None:
                from lacuna.audit.configuration import record_configuration

                hook = store.take_first_append()  # its own append must not run it again
                try:
                    recorded_as = self.config.model_dump_json(warnings=False)
                    record_configuration(store, self.config, user=self.config.user,
                                         session=self.session)
                    self._recorded_as = recorded_as
                    self._config_failure = None
                except Exception as exc:  # the next append tries again
                    self._config_failure = exc
                    store.before_first_append(hook)
                    log.error("could not record the configuration on the audit trail %s: %s",
                              store.where, exc)
        return store

    def _record(self, decision: Decision) -> tuple[AuditRecord | None, Exception | None]:
        assert decision.operation is not None
        try:
            self._config_changed()
            stored = self.audit.record(decision, decision.operation, session=self.session)
        except Exception as exc:  # the audit sink fails independently (logged loudly)
            log.error(
                "could not append decision %s to the audit trail: %s", decision.operation_id, exc
            )
            return None, exc
        self._resend()
        return stored, None

    def _resend(self) -> None:
        """At the first governed operation this governor records (a read too, which records
        no lineage run), start the background re-send of the OpenLineage events dead processes
        left pending in its state database (:func:`lacuna.lineage.ol_emit.resend_pending`);
        before, only a process that recorded a run started it. Never raises."""
        if self._resend_asked:
            return
        self._resend_asked = True
        if self.config.server is not None:  # the server records (and sends) the runs
            return
        try:
            from lacuna.lineage.api import store_exists
            from lacuna.lineage.ol_emit import resend_pending

            if self.config.lineage.openlineage.enabled and store_exists(self.config.audit_url):
                resend_pending(self.config, lambda: self.lineage_store)
        except Exception as exc:
            log.warning("could not start the OpenLineage re-send: %s", exc)

    def govern(self, operation: Operation, *, decision: Decision | None = None) -> Decision:
        """Decide, record, and apply the mode. Raises GovernanceViolation on an enforced denial,
        and in ``enforce`` mode also when the decision could not be recorded (fail closed).

        ``decision``: this governor's :meth:`decide` of ``operation``, made a moment ago (an
        integration that looked before it committed to the operation): recorded and applied
        as it is instead of deciding again. A Lacuna server decides and records in one call,
        so with a server engine the operation is decided again there."""
        return self._govern(operation, decision)[0]

    def _govern(self, operation: Operation, decided: Decision | None = None, *,
                recorded: bool = False) -> tuple[Decision, AuditRecord | None]:
        if getattr(self.engine, "complete_decisions", False):
            decision = self._server_decision(operation, record=True)
        elif decided is not None and decided.operation_id == operation.id:
            decision = decided
        else:
            decision = self.decide(operation)
        stored, failure = self._record(decision)
        mode = self.config.mode
        if failure is not None:
            if recorded:
                raise GovernanceViolation(self._unrecorded(
                    decision, failure, rule=_RECORDED_RULE)) from failure
            if mode == "enforce" and decision.allowed:
                raise GovernanceViolation(self._unrecorded(decision, failure)) from failure
            if mode != "enforce":
                warnings.warn(
                    f"Lacuna could not record {operation.method or operation.action.value} in "
                    f"the audit trail ({type(failure).__name__}: {failure}); it runs unrecorded "
                    f"because the mode is {mode!r}. {_AUDIT_FIX}",
                    GovernanceFailureWarning,
                    stacklevel=_user_stacklevel(),
                )
        if decision.denied:
            if mode == "enforce":
                raise GovernanceViolation(decision)
            if mode == "warn":
                from lacuna.feedback import render_text

                warnings.warn(
                    render_text(decision), GovernanceWarning, stacklevel=_user_stacklevel()
                )
        return decision, stored

    @staticmethod
    def _unrecorded(decision: Decision, failure: Exception, *,
                    rule: str = "in enforce mode nothing runs unrecorded") -> Decision:
        """The denial for an allowed operation whose decision the audit trail did not take."""
        return replace(
            decision,
            allowed=False,
            reasoning=(
                f"Denied because the audit trail could not record this operation (fail closed: "
                f"{rule})"
            ),
            why=(f"{type(failure).__name__}: {failure}", _AUDIT_FIX),
            alternatives=(),
            policy_id=None,
            policy_title=None,
            policies=(),
            docs_url=None,
            engine_error=f"AuditError: {type(failure).__name__}: {failure}",
        )

    def execute(
        self, operation: Operation, run: Callable[[], T], *, produced: Produced | None = None,
        recorded: bool = False, decision: Decision | None = None,
    ) -> T:
        """Govern ``operation`` and, when it may proceed, run it: the one entry point for
        integrations that perform an operation (writes, exports).

        The decision is committed to the audit trail before ``run`` is called, so a process
        killed while ``run`` works leaves the decision (with no outcome) behind, never an
        allowed operation without a record. After ``run``, its outcome is appended as a second
        record that names the decision's (succeeded, or failed with the error's type and
        message). An enforced denial, or in ``enforce`` mode a decision the audit trail could
        not take, raises :class:`~lacuna.errors.GovernanceViolation` and ``run`` is never called.
        If Lacuna fails before deciding, ``enforce`` denies and names the error; ``warn`` and
        ``observe`` warn and run. Returns what ``run`` returns, and re-raises what it raises.

        With ``produced`` (what the operation reads and writes, :mod:`lacuna.lineage.recording`),
        step 3 records its run in the lineage store with the outcome: denied (no outputs),
        failed, or succeeded (:meth:`_record_lineage`).

        With ``recorded`` (a plaintext read of sealed governed storage), ``run`` is called only
        once the decision is on the audit trail, in every mode: a decision the trail could not
        take, or a failure before deciding, raises ``GovernanceViolation`` in ``warn`` and
        ``observe`` too.

        ``decision``: as :meth:`govern`'s, this governor's :meth:`decide` of ``operation`` made a
        moment ago (a denial its integration explained better), recorded and applied as it is.
        """
        from lacuna.lineage.sidecar import decided_on

        try:
            finish, decision = self._begin(operation, produced=produced, recorded=recorded,
                                           decided=decision)
        except _Undecided:  # warn / observe: internal_error warned
            return run()
        try:  # what it labels carries the class it was decided and recorded on
            with decided_on(_held(decision, operation), self.config.classification):
                result = run()
        except BaseException as exc:
            finish(exc)
            raise
        finish(None)
        return result

    def begin(
        self, operation: Operation, *, produced: Produced | None = None, recorded: bool = False,
    ) -> Callable[[BaseException | None], None]:
        """What :meth:`execute` does before it runs the operation: decide, commit the decision
        to the audit trail, raise on a denial. Returns the function that appends the outcome
        (call it once: ``None`` when the operation succeeded, else what it raised), for an
        operation that finishes later than a call returns (a sealed file's read ends when its
        stream is closed, and a segment may fail to authenticate only then).

        Raises:
            GovernanceViolation: as :meth:`execute`; a failure before deciding raises it only
                with ``recorded`` (else, in ``warn`` and ``observe``, the internal
                ``_Undecided``: the caller runs unrecorded).
        """
        return self._begin(operation, produced=produced, recorded=recorded)[0]

    def _begin(self, operation: Operation, *, produced: Produced | None, recorded: bool,
               decided: Decision | None = None,
               ) -> tuple[Callable[[BaseException | None], None], Decision]:
        """:meth:`begin`, and the decision made."""
        try:
            decision, stored = self._govern(operation, decided, recorded=recorded)
        except GovernanceViolation as exc:
            if produced is not None:
                self._lineage_outcome(produced, operation, exc.decision, "denied")
            raise
        except Exception as exc:  # Lacuna failed before deciding
            self.internal_error(exc, action=operation.action, method=operation.method)
            if recorded:  # warn / observe: never run undecided and unrecorded
                failed = self.failure_decision(exc, action=operation.action,
                                               method=operation.method)
                raise GovernanceViolation(replace(failed, reasoning=(
                    f"{failed.reasoning} (fail closed: {_RECORDED_RULE})"))) from exc
            raise _Undecided from exc

        def finish(error: BaseException | None) -> None:
            self._outcome(decision, stored, error)
            if produced is not None:
                status = "succeeded" if error is None else "failed"
                self._lineage_outcome(produced, operation, decision, status, error)

        return finish, decision

    # -- step 3: lineage ---------------------------------------------------------------------

    def inherit(self, step: Step) -> StepResult:
        """Step 3 for an operation that combined or aggregated data: the output's classification,
        lineage and column edges under this governor's settings (:mod:`lacuna.lineage.step`).
        Integrations describe what happened; they never apply an inheritance rule themselves."""
        from lacuna.lineage.step import inherit

        return inherit(step, self.config.classification)

    @property
    def lineage_store(self) -> LineageStore:
        """The lineage store in this governor's state database (``audit.url``)."""
        from lacuna.lineage.api import store_at

        if self.config.server is not None:
            from lacuna.remote.client import ServerLineage

            return self._once("_remote_lineage", lambda: ServerLineage(  # type: ignore
                self.engine.client, self.config.lineage.openlineage.namespace))  # type: ignore
        return store_at(self.config.audit_url)

    def _lineage_outcome(
        self, produced: Produced, operation: Operation, decision: Decision, status: str,
        error: BaseException | None = None,
    ) -> None:
        from lacuna.lineage.recording import run_for
        from lacuna.lineage.records import RunStatus
        from lacuna.lineage.sidecar import as_decided, decided_on

        try:
            held = _held(decision, operation)
            if held is not None:  # the output is what the server decided it on, no less
                with decided_on(held, self.config.classification):
                    produced = replace(produced, classification=as_decided(
                        produced.classification))
            run = run_for(produced, operation, decision, status=RunStatus(status),
                          session=self.session, error=error,
                          config=self.config.classification)
        except Exception as exc:
            log.error("could not describe lineage run %s: %s", produced.run_id, exc)
            return
        self._record_lineage(run)

    def _record_lineage(self, run: Run) -> None:
        """Record one governed run: the one hook every producing operation goes through.
        Like the audit trail, the store fails on its own: logged loudly, never breaks the job."""
        from lacuna.lineage.ol_emit import after_run_recorded, pending

        store: Any = None
        try:
            store = self.lineage_store
            # marked pending for OpenLineage in the same transaction (lacuna.lineage.outbox)
            store.record(run, **pending(store, self.config))
        except Exception as exc:
            store = None
            log.error("could not record lineage run %s (%s) in the lineage store: %s",
                      run.id, run.operation, exc)
        after_run_recorded(run, self.config, store)  # OpenLineage out: queued, never raises

    def _restored(self, restored: Restored, inferred: Classification
                  ) -> tuple[Classification, Raised | None]:
        """A read's classification from what the store knows of its content: the version
        Lacuna's pipeline wrote is a trusted declaration (declared beats inferred); a version
        ingested from outside only adds restrictions, like an unsigned sidecar. With it, which
        part of it claims raised (:mod:`lacuna.lineage.attribution`): what the read would be
        without them, and their run ids; None when no claim raised it."""
        from lacuna.lineage import attribution
        from lacuna.lineage import sidecar as sc

        result = inferred
        own: Classification | None = inferred
        claims: list[tuple[str, Classification | None]] = []
        if restored.version is not None:
            where = f"the lineage store ({restored.version.dataset.name}, run {restored.run_id})"
            result = self.merge_declared(restored.version.classification, inferred, where=where)
            earlier = restored.version.raised  # Lacuna's version, raised by a standing claim
            if earlier is None:
                own = result
            else:
                claims.extend(earlier.claims)
                own = (self.merge_declared(earlier.own, inferred, where=where)
                       if earlier.own is not None else None)
        if restored.claimed is not None:
            where = (f"an ingested lineage record of {restored.claimed.dataset.name} (from "
                     "outside the pipeline: it may only raise)")
            result, lowered = sc.restrict(restored.claimed.classification, result,
                                          self.config.classification, where=where)
            if lowered:
                log.warning("%s claims less than the data shows; kept:%s", where,
                            "".join(f"\n  {line}" for line in lowered))
            if restored.claimed_run_id is not None:
                claims.append((restored.claimed_run_id, restored.claimed.classification))
            else:  # a claim Lacuna cannot name cannot be dismissed: its raise is its own
                own = None
            # ``claimed`` was held to the earlier standing claims of this content when it
            # arrived: it carries their raise, so they are named too (dismissing it alone
            # takes back nothing they still say); not known which: none can lower it
            if restored.claims is None:
                own = None
            else:
                claims.extend(restored.claims)
        return result, attribution.of(own, claims, result=result)

    def _restored_clock(self, restored: Restored) -> datetime | None:
        """When the content of a file read without a declaration was first seen, as the
        local store knows it (a copy made by hand: ``cp a.csv b.csv``): the earlier of the
        trusted clock of the file Lacuna wrote it to (a path's clock only ever moves earlier,
        so it is no later than this content's) and the time of the run that wrote it (the
        content existed then). As old as what it copies, as a Lacuna server answers by the
        content's fingerprint (:mod:`lacuna.lineage.seen`); None when neither is known (any
        failure is logged)."""
        from lacuna.lineage.clock import earliest, existing

        if restored.version is None or restored.run_id is None:
            return None  # only an ingested claim knows this content: no clock of Lacuna's
        try:
            run = self.lineage_store.get_run(restored.run_id)
            original = restored.version.dataset
            kept = existing(original.name) if original.namespace == "file" else None
            # a run row edited by hand (its signature no longer matches: origin unknown) or
            # one that came from outside says nothing of when the content existed: a later
            # started_at typed in would keep data past its retention
            if run is None or run.origin_unknown or run.imported_from is not None:
                return kept
            return earliest(kept, run.started_at)
        except Exception as exc:
            log.error("could not read when the content of run %s's output was first seen: %s",
                      restored.run_id, exc)
            return None

    def _restore_from_store(self, path: str) -> Restored | None:
        """A file read without a declaration: what the store recorded for exactly this content
        (see :func:`lacuna.lineage.recording.restore_declared`). A failure is raised: the
        caller classifies the file PROPRIETARY (fail closed). Classified afresh from its
        values, a file whose store refused (a version of it deleted or marked by hand, rows
        forged) lost what only the store knew (``DERIVED_FROM_PII``, a declared class)."""
        from lacuna.lineage.api import store_exists
        from lacuna.lineage.recording import restore_declared

        if self.config.server is not None:
            return None  # the server's store answers no content lookups (docs/server.md)
        if not store_exists(self.config.audit_url):
            return None  # nothing was ever recorded there; do not create it by looking
        return restore_declared(self.lineage_store, path)

    def read_parents(self, path: str | None, run_id: str | None, upstream: Sequence[str]
                     ) -> tuple[LineageNode, ...]:
        """Where the data of a file read came from: its upstream lineage from the store (the
        run ``run_id`` that wrote it, else its producing runs), else the ``upstream`` its
        sidecar names. With ``server:``, the server's lineage store only: the sidecar is the
        file owner's to delete or write (and to sign, with their own key), so names it lists
        are not parents; a file the server knows no parents of is its own source, which the
        server holds a decision to (docs/server.md)."""
        if self.config.server is not None:
            return self._server_parents(path)
        parents = self.restore_lineage(path, run_id) if (run_id or upstream) else ()
        if parents or not upstream:
            return parents
        from lacuna.lineage.state import LineageNode

        return tuple(LineageNode(name=s, operation="export") for s in upstream)

    def restore_lineage(self, path: str | None, run_id: str | None) -> tuple[LineageNode, ...]:
        """The upstream lineage of a file being read, from the store (see
        :func:`lacuna.lineage.recording.lineage_from_store`); empty when unknown. With
        ``server:``, the server's (``GET /api/v1/lineage/upstream``, by the file's name)."""
        if not path and not run_id:
            return ()
        if self.config.server is not None:
            return self._server_parents(path)
        from lacuna.lineage.recording import lineage_from_store
        from lacuna.lineage.records import DatasetRef

        try:
            ref = DatasetRef.of(path) if path else None
            return lineage_from_store(self.lineage_store, run_id, ref)
        except Exception as exc:
            log.error("could not read the lineage of %s from the lineage store: %s",
                      path or run_id, exc)
            return ()

    def _server_parents(self, path: str | None) -> tuple[LineageNode, ...]:
        """The parents the Lacuna server's lineage store records for the local file ``path``
        (none for a URL: its name may hold credentials, as in ``ServerLineage.known``);
        empty, logged, when it cannot answer (the file is then its own source)."""
        from lacuna.lineage.recording import lineage_from_graph
        from lacuna.lineage.records import DatasetRef

        if not path:
            return ()
        try:
            ref = DatasetRef.of(path)
            if ref.namespace != "file":
                return ()
            graph = self.lineage_store.upstream(ref)
            return lineage_from_graph(graph, ref)
        except Exception as exc:
            log.error("could not read the lineage of %s from the Lacuna server: %s", path, exc)
            return ()

    def _outcome(
        self, decision: Decision, stored: AuditRecord | None, error: BaseException | None
    ) -> None:
        """Append the outcome of a run whose decision is ``stored``. Never raises: the operation
        has already run, so a failure here is logged and warned about, in every mode."""
        if stored is None or decision.operation is None:
            return  # the decision itself was not recorded (already warned)
        try:
            self.audit.record_outcome(
                decision, decision.operation, session=self.session, of=stored.id, error=error,
                mode=None if decision.allowed else self.config.mode,  # a denial that ran
            )
        except Exception as exc:
            status = "succeeded" if error is None else "failed"
            log.error("could not record the outcome of %s: %s", decision.operation_id, exc)
            warnings.warn(
                f"{decision.operation.method or 'the operation'} {status}, but its outcome could "
                f"not be recorded in the audit trail ({type(exc).__name__}: {exc}): its decision "
                f"(record {getattr(stored, 'id', '?')}) stays without an outcome. {_AUDIT_FIX}",
                GovernanceFailureWarning,
                stacklevel=_user_stacklevel(),
            )

    def failure_decision(
        self, exc: BaseException, *, action: Action, method: str, ran: bool = False
    ) -> Decision:
        """The fail-closed denial for an operation Lacuna could not govern because of ``exc``
        (named, with where it happened and how to report it). Logs the traceback; never raises.
        """
        detail = _describe(exc)
        log.error("Lacuna failed while governing %s: %s", method, detail, exc_info=exc)
        after = " after the operation ran" if ran else ""
        strictest = Tier.PROPRIETARY
        assumed = (f"the data's class is unknown: Lacuna failed before it could decide "
                   f"({detail}), so the strictest class, {strictest.value}, is assumed (fail "
                   f"closed); the data was not found to be {strictest.value}")
        decision = Decision(
            allowed=False,
            operation_id=uuid.uuid4().hex,
            reasoning=(
                f"Denied because Lacuna failed while governing {method}{after} (fail closed: "
                f"it cannot tell whether this is allowed): {detail}"
            ),
            why=(
                "In enforce mode an operation Lacuna could not govern does not proceed"
                + (" and its result is withheld." if ran else "."),
                "mode='warn' or 'observe' lets operations run (with a warning) when Lacuna fails.",
                REPORT_HINT,
            ),
            engine_error=detail,
        )
        with contextlib.suppress(Exception):  # the user's settings may be what is failing
            op = self.operation(
                action,
                Classification(tier=strictest, assumed=assumed, reasoning=(assumed,)),
                method=method,
            )
            decision = replace(decision, operation_id=op.id, operation=op)
        return decision

    def internal_error(
        self, exc: BaseException, *, action: Action, method: str, ran: bool = False
    ) -> None:
        """Lacuna failed while governing ``method``: never break the job, never allow by accident.

        In ``enforce`` mode raises :class:`~lacuna.errors.GovernanceViolation` with a denial that
        names the error and how to report it; in ``warn``/``observe`` warns
        (:class:`GovernanceFailureWarning`) and returns, and the caller runs the operation. The
        denial is recorded in the audit trail when it can be (best effort).

        Args:
            exc: what Lacuna raised.
            action: the kind of operation being governed.
            method: the host call, e.g. ``pandas.read_csv``.
            ran: the operation itself had already run when Lacuna failed.
        """
        detail = _describe(exc)
        mode = self.config.mode
        after = " after the operation ran" if ran else ""
        decision = self.failure_decision(exc, action=action, method=method, ran=ran)
        with contextlib.suppress(Exception):  # recording is best effort: Lacuna is failing
            self._record(decision)
        if mode == "enforce":
            raise GovernanceViolation(decision) from exc
        warnings.warn(
            f"Lacuna failed while governing {method}{after}; it ran ungoverned because the mode "
            f"is {mode!r}: {detail}. {REPORT_HINT}",
            GovernanceFailureWarning,
            stacklevel=_user_stacklevel(),
        )

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait up to ``timeout`` seconds for the decision log to write what it queued (never
        builds the engine). False when it did not finish in time."""
        sink = getattr(self._engine, "decision_log", None)
        return sink.flush(timeout) if sink is not None else True

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


# -- which governor: the innermost governed() block of this context, else the process-wide one --


@dataclass(frozen=True, slots=True)
class _Scope:
    """One ``lacuna.governed()`` block: its governor, and whether pandas is governed in it."""

    governor: Governor
    enabled: bool = True


_CURRENT: Governor | None = None
_CURRENT_LOCK = threading.Lock()
_ENABLED = False  # process-wide: lacuna.enable() / disable()
_SCOPE: contextvars.ContextVar[_Scope | None] = contextvars.ContextVar(
    "lacuna_scope", default=None
)


def _held(decision: Decision, operation: Operation) -> Classification | None:
    """The class a Lacuna server decided ``operation`` on when it is not the one sent (its
    lineage store knew more of a source: the decision's ``held`` operation); else None."""
    decided = decision.operation
    if decided is None or decided.id != operation.id \
            or decided.classification is operation.classification:
        return None
    return decided.classification


def current() -> Governor:
    """The governor of this thread's innermost ``governed()`` block, else the process-wide one
    (created from ``lacuna.yaml`` on first use)."""
    scope = _SCOPE.get()
    if scope is not None:
        return scope.governor
    return _process_governor()


def existing() -> Governor | None:
    """The governor ``current()`` would return, or None when none has been made yet (never
    creates one: for code that only wants to read settings, e.g. error messages)."""
    scope = _SCOPE.get()
    return scope.governor if scope is not None else _CURRENT


def existing_process() -> Governor | None:
    """The process-wide governor, or None when none has been made yet (never creates one)."""
    return _CURRENT


def process_governor() -> Governor:
    """The process-wide governor, whatever ``governed()`` block this context is in (created
    from ``lacuna.yaml`` on first use: ``ConfigError`` when it is invalid)."""
    return _process_governor()


def _process_governor() -> Governor:
    global _CURRENT
    if _CURRENT is None:
        with _CURRENT_LOCK:
            if _CURRENT is None:
                _CURRENT = Governor()
    return _CURRENT


def governing() -> bool:
    """Whether host calls (pandas) are governed in this context right now."""
    scope = _SCOPE.get()
    return scope.enabled if scope is not None else _ENABLED


def set_enabled(enabled: bool) -> None:
    """Turn process-wide governance on or off (``lacuna.enable()`` / ``disable()``); blocks of
    ``governed()`` keep their own setting until they exit."""
    global _ENABLED
    _ENABLED = enabled


@contextlib.contextmanager
def scoped(gov: Governor, *, enabled: bool = True) -> Iterator[Governor]:
    """Make ``gov`` this context's governor inside the block; on exit the context has exactly
    the governor and setting it had before. Other threads are not affected."""
    token = _SCOPE.set(_Scope(gov, enabled))
    try:
        yield gov
    finally:
        _SCOPE.reset(token)


def build_config(
    config: Config | str | None = None, *, base: Config | None = None, **overrides: Any
) -> Config:
    """A configuration: ``config`` (a ``Config``, a path, or ``None`` for ``base`` or else the
    usual ``lacuna.yaml`` search) with top-level ``overrides`` merged in (dicts merge by key).

    Raises:
        ConfigError: the configuration or an override is invalid.
    """
    if isinstance(config, Config):
        result = config
    elif config is None and base is not None:
        result = base
    else:
        result = load_config(config)
    if overrides:
        from lacuna.config import config_from_dict

        data = result.model_dump(exclude={"source"}, exclude_none=True)
        for key, value in overrides.items():
            if isinstance(value, dict) and isinstance(data.get(key), dict):
                data[key] = {**data[key], **value}
            else:
                data[key] = value
        # the file the settings were read from stays theirs: relative paths in them resolve
        # against its folder, and the audit trail records it (lacuna.audit.configuration)
        rebuilt = config_from_dict(data)
        if result.source:
            rebuilt = rebuilt.model_copy(update={"source": result.source})
        result = rebuilt
    return result


def configure(config: Config | str | None = None, **overrides: Any) -> Governor:
    """Replace the process-wide governor.

    Args:
        config: a ``Config``, a path to a ``lacuna.yaml``, or ``None`` to search as usual.
        **overrides: top-level settings to override, e.g. ``mode="warn"``,
            ``user={"id": "alice", "role": "data_analyst"}``, ``policy={"dir": "policies/"}``.

    Raises:
        ConfigError: the configuration or an override is invalid.
    """
    return use(Governor(build_config(config, **overrides)))


def ready(config: Config | str | None = None, **overrides: Any) -> Governor:
    """The process-wide governor with its policy bundle compiled, for the ``enable()`` calls:
    ``configure(config, **overrides)`` when either is given, else the current one (read from
    ``lacuna.yaml`` now when none was made yet), so a typo or a broken policy fails here, at
    enable time, with its file and line, and not at the first read.

    Raises:
        ConfigError: the configuration is invalid.
        PolicyError: the policy bundle does not compile or cannot be read. A governor this
            call read from ``lacuna.yaml`` is forgotten again: the next call reads the file anew,
            as it may have been fixed.
    """
    made_now = False
    if config is not None or overrides:
        gov = configure(config, **overrides)
    else:
        made_now = existing_process() is None
        gov = process_governor()
    try:
        gov.engine  # noqa: B018 - compiles the bundle
    except BaseException:
        if made_now:
            reset()
        raise
    return gov


def use(gov: Governor) -> Governor:
    """Make ``gov`` the process-wide governor (tests, embedding applications).

    The one it replaces is closed; threads still deciding with it finish their decision (each
    thread's policy engine is released by that thread, see :mod:`lacuna.policy.engine`).
    """
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


def _install() -> None:
    """Hand the steps that offer "current governor" functions (``lacuna.lineage.upstream``,
    ``register_lineage``, ``lacuna.request_exception`` ...) the way to find it: they never
    import the governor."""
    from lacuna.exceptions import context as exceptions_context
    from lacuna.lineage import api as lineage_api

    def check(data: Any, target: str, *, action: str) -> Decision:
        from lacuna.api import check as api_check  # lazily: lacuna.api imports this module

        return api_check(data, target, action=action)

    def active() -> Config | None:
        gov = existing()
        return gov.config if gov is not None else None

    lineage_api.install_host(current)
    exceptions_context.install_host(current, check)
    install_active(active)


_install()

__all__ = [
    "REPORT_HINT",
    "GovernanceFailureWarning",
    "GovernanceWarning",
    "Governor",
    "LacunaError",
    "build_config",
    "configure",
    "current",
    "governing",
    "reset",
    "scoped",
    "set_enabled",
    "use",
]
