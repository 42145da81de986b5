"""A py4j ``QueryExecutionListener``: catches writes that did not go through Lacuna.

Spark calls it after every query execution. A write Lacuna governed (through the wrapped
writers or ``spark.sql``) is expected: it registered its target and the numbers of the queries
Spark creates for it (:mod:`lacuna.spark.expected`), and its events are recognised here by
their query, not by when they come. Any other write (a JVM-side call,
a session Lacuna does not wrap, ``df._jdf.write()``) already ran: it is recorded in the audit
trail as **ungoverned**, with what policy would have said, and as a run in the lineage store;
a table Lacuna had labelled is re-labelled with the stricter of its label and what was written,
so a write outside Lacuna cannot lower a table's classification. When the listener fails on such
a write, the failure is recorded UNGOVERNED too, and its target labelled unverified
(:func:`handle_failure`).

Events are handled on a worker thread, never on Spark's listener-bus callback.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, ClassVar

from lacuna.spark import _jvm, expected

if TYPE_CHECKING:
    from datetime import datetime

    from pyspark.sql import SparkSession

    from lacuna.model import Decision
    from lacuna.spark.writes import Target

log = logging.getLogger(__name__)

UNGOVERNED = "ungoverned"

# executed write commands and how their target is named
_FILE_COMMANDS = ("InsertIntoHadoopFsRelationCommand",)
_TABLE_COMMANDS = ("CreateDataSourceTableAsSelectCommand", "InsertIntoDataSourceCommand",
                   "CreateHiveTableAsSelectCommand", "InsertIntoHiveTable",
                   "OptimizedCreateHiveTableAsSelectCommand")
_V2_COMMANDS = ("AppendData", "OverwriteByExpression", "OverwritePartitionsDynamic",
                "CreateTableAsSelect", "ReplaceTableAsSelect")
WRITE_COMMANDS = (*_FILE_COMMANDS, *_TABLE_COMMANDS, *_V2_COMMANDS, "SaveIntoDataSourceCommand")
# commands that point a table at other files (``ALTER TABLE … SET LOCATION``, Lacuna decides
# none): what the table holds now was written by no governed write, as after an outside write.
# A table on remote files binds its label to the column names only, so its label stayed trusted
# over a folder of e-mails it was moved onto
RELOCATIONS = ("AlterTableSetLocationCommand",)
# the destination of a write whose target Lacuna cannot name or locate (an external place)
_UNKNOWN_PLACE = "unknown://a-place-lacuna-cannot-name"


@dataclass(frozen=True, slots=True)
class _Event:
    spark: SparkSession
    plan: Any
    failed: bool
    execution: int | None  # the query's number (QueryExecution.id: lacuna.spark.expected)


class QueryListener:
    """The py4j side of ``org.apache.spark.sql.util.QueryExecutionListener``."""

    def __init__(self, spark: SparkSession) -> None:
        self.spark = spark
        self.events: queue.Queue[_Event | None] = queue.Queue()
        self.pending = 0
        self._cond = threading.Condition()
        self._worker = threading.Thread(target=self._work, name="lacuna-spark-listener",
                                        daemon=True)
        self._worker.start()

    def onSuccess(self, _func_name: str, qe: Any, _duration_ns: int) -> None:
        self._put(qe, failed=False)

    def onFailure(self, _func_name: str, qe: Any, _exception: Any) -> None:
        self._put(qe, failed=True)

    def _put(self, qe: Any, *, failed: bool) -> None:
        try:
            plan = qe.analyzed()
        except Exception as exc:  # it failed analysis (a table not there yet): nothing ran
            if not failed:  # it ran: what it was cannot be told
                log.error("lacuna query listener: the plan of a query that ran cannot be read "
                          "(%s); if it was a write, it is not governed", exc)
            return
        try:
            if _jvm.kind(plan) not in WRITE_COMMANDS and _jvm.kind(plan) not in RELOCATIONS:
                return
            execution = expected.execution_of(qe)
            with self._cond:
                self.pending += 1
            self.events.put(_Event(self.spark, plan, failed, execution))
        except Exception as exc:  # never break Spark's listener bus
            log.error("lacuna query listener: a query that ran cannot be told apart from a "
                      "write (%s); if it was one, it is not governed", exc)

    def _work(self) -> None:
        while True:
            event = self.events.get()
            if event is None:
                return
            try:
                handle(event.spark, event.plan, failed=event.failed, execution=event.execution)
            except Exception as exc:  # recorded UNGOVERNED, its target labelled as unknown
                handle_failure(event, exc)
            finally:
                with self._cond:
                    self.pending -= 1
                    self._cond.notify_all()

    def flush(self, timeout: float = 30.0) -> bool:
        """Wait until every event received so far is handled."""
        with self._cond:
            return self._cond.wait_for(lambda: self.pending == 0, timeout)

    def stop(self) -> None:
        self.events.put(None)

    class Java:
        implements: ClassVar[list[str]] = ["org.apache.spark.sql.util.QueryExecutionListener"]


def flush(spark: SparkSession, timeout: float = 30.0) -> bool:
    """Wait until the listener of ``spark`` has handled every event received so far."""
    from lacuna.spark.session import listener_of

    listener = listener_of(spark)
    return listener.flush(timeout) if listener is not None else True


def register(spark: SparkSession) -> QueryListener:
    from pyspark.java_gateway import ensure_callback_server_started

    gateway = spark.sparkContext._gateway
    ensure_callback_server_started(gateway)  # type: ignore[no-untyped-call]
    listener = QueryListener(spark)
    spark._jsparkSession.listenerManager().register(listener)
    return listener


def unregister(listener: QueryListener) -> None:
    try:
        listener.spark._jsparkSession.listenerManager().unregister(listener)
    except Exception as exc:
        log.warning("could not unregister the lacuna query listener: %s", exc)
    listener.stop()


def write_target(spark: SparkSession, plan: Any) -> tuple[Target | None, Any]:
    """The target of an executed write command and the query it wrote."""
    from lacuna.spark.sources import local_path
    from lacuna.spark.statements import _name_parts
    from lacuna.spark.writes import jdbc_target, path_target, table_target

    kind = _jvm.kind(plan)
    if kind in RELOCATIONS:  # the table as it reads now: the files it was moved onto
        ident = plan.tableName()
        db = _jvm.option(ident.database()) or "default"
        target = table_target(spark, f"{db}.{ident.table()}", append=True)
        from lacuna.spark.labels import quoted_name

        return target, spark._jsparkSession.table(quoted_name(target.name)).queryExecution(
            ).analyzed()
    query = plan.query()
    if kind in _FILE_COMMANDS:
        table = _jvm.option(plan.catalogTable())
        if table is not None:
            ident = table.identifier()
            db = _jvm.option(ident.database()) or "default"
            return table_target(spark, f"{db}.{ident.table()}", append=True), query
        path = str(plan.outputPath().toString())
        return path_target(local_path(path) or path, append=False), query
    if kind in _TABLE_COMMANDS:
        table = plan.table() if kind != "InsertIntoDataSourceCommand" else None
        if table is None:
            return None, query
        ident = table.identifier()
        db = _jvm.option(ident.database()) or "default"
        return table_target(spark, f"{db}.{ident.table()}", append=False), query
    if kind == "SaveIntoDataSourceCommand":
        options = _jvm.string_map(plan.options())
        if "url" in options:
            return jdbc_target(options["url"], options.get("dbtable", "?"), append=False), query
        saved = options.get("path")
        if saved is None:
            return None, query
        return path_target(local_path(saved) or saved, append=False), query
    try:
        name = ".".join(_name_parts(plan.table() if hasattr(plan, "table") else plan.name()))
    except Exception:
        return None, query
    return table_target(spark, name, append=kind == "AppendData"), query


def handle(spark: SparkSession, plan: Any, *, failed: bool, execution: int | None = None
           ) -> None:
    """One executed write: governed (expected) or flagged as ungoverned. ``execution``: the
    number of its query (``QueryExecution.id``), which tells a governed write's own events
    (:mod:`lacuna.spark.expected`); None: it cannot be read, and the event is a governed
    write's only while one to its target runs."""
    target, query = write_target(spark, plan)
    if target is None:  # recorded, unless a governed write may be what ran (noop, a custom sink)
        if not failed and not expected.claim(None, execution, query):
            from lacuna.errors import IntegrationError

            msg = (f"a Spark write ({_jvm.kind(plan)}) whose target Lacuna cannot name ran "
                   "outside lacuna.spark's Python API")
            _record_unverified(spark, None, _jvm.kind(plan), IntegrationError(msg))
        return
    if expected.claim(target.key, execution, query):
        return
    if failed:
        return
    # a governed write to it in flight labels first: the re-label goes over it, not under it
    expected.settle(target.key)
    if _jvm.kind(plan) in RELOCATIONS:  # its label says what its old files held: not trusted
        from lacuna.spark import unstored
        from lacuna.spark.sources import forget

        unstored.failed(target.name, "the table was moved onto other files (ALTER TABLE … "
                                     "SET LOCATION)")
        forget(target.key)
    _flag_ungoverned(spark, target, query, _jvm.kind(plan))


def _how(command: str) -> str:
    """How a write the listener caught ran, for its record."""
    if command in RELOCATIONS:
        return ("the table was moved onto other files (ALTER TABLE … SET LOCATION), which "
                "Lacuna does not decide")
    return "a write outside lacuna.spark's Python API"


def handle_failure(event: _Event, exc: BaseException) -> None:
    """The listener could not handle the write of ``event`` (an exception inside it: the plan
    cannot be read or classified, the lineage store or the policy engine fails): it was logged
    and nothing else, so a write outside Lacuna was neither flagged nor re-labelled, and a
    table it lowered kept its stale label. Now it is recorded UNGOVERNED (a fail-closed
    denial, as :meth:`~lacuna.governor.Governor.failure_decision` words it, after the fact)
    and its target, when Lacuna can name it, is labelled unverified (PROPRIETARY, fail closed).
    Never raises."""
    try:
        target, query = write_target(event.spark, event.plan)
    except Exception:  # the plan cannot be read: the record says a place it cannot name
        target, query = None, None
    if event.failed or expected.claim(target.key if target is not None else None,
                                      event.execution, query):
        return  # nothing ran, or a governed write: its own decision labels it
    if target is not None:
        expected.settle(target.key)
    try:
        command = _jvm.kind(event.plan)
    except Exception:
        command = "a write"
    _record_unverified(event.spark, target, command, exc)


def _record_unverified(spark: SparkSession, target: Target | None, command: str,
                       exc: BaseException, *, labelled: bool = False) -> None:
    """Record a write that ran outside Lacuna and that Lacuna could not classify: logged
    loudly, recorded UNGOVERNED as a fail-closed denial, and its target (when named) labelled
    unverified: PROPRIETARY, at least what it held (:func:`lacuna.spark.writes.label_unverified`),
    so no later read trusts a lower, stale label. ``labelled``: it was labelled already (what
    it read was known). Never raises."""
    from lacuna.governor import current
    from lacuna.model import Action

    where = target.name if target is not None else "a place Lacuna cannot name"
    try:
        gov = current()
        decision = gov.failure_decision(
            exc, action=Action.EXPORT, ran=True,
            method=f"spark.{command} ({UNGOVERNED}: ran outside lacuna.spark's Python API)")
        label = ("its target is labelled unverified (PROPRIETARY, fail closed) until a governed "
                 "write replaces it" if target is not None and not labelled else
                 "its target is labelled at least as high as what it read" if labelled else
                 "nothing could be labelled")
        decision = replace(
            decision,
            reasoning=(f"UNGOVERNED write to {where}: it ran outside lacuna.spark's Python API "
                       f"and Lacuna could not decide it ({decision.engine_error}); {label}"),
            why=(*decision.why, f"{UNGOVERNED}: caught by the Spark query listener after it "
                 "ran"))
        gov.record(decision)
        log.error("%s", decision.reasoning)
    except Exception as err:  # the governor itself fails: the log is all there is
        log.error("UNGOVERNED Spark write to %s could not be recorded (%s; the listener "
                  "failed with %s)", where, err, exc)
        gov = None
    if target is None or labelled or gov is None:
        return
    from lacuna.spark.writes import label_unverified, prior_clock

    label_unverified(spark, gov, target, f"an UNGOVERNED write ({command}) that Lacuna could "
                     f"not classify ({type(exc).__name__}: {exc})",
                     first_seen=prior_clock(spark, target))


def _flag_ungoverned(spark: SparkSession, target: Target, query: Any, command: str) -> None:
    from lacuna.errors import IntegrationError
    from lacuna.governor import current
    from lacuna.lineage.recording import Produced, run_for
    from lacuna.lineage.records import RunStatus
    from lacuna.model import Action, Source
    from lacuna.spark import writes
    from lacuna.spark.plan import analyze

    gov = current()
    df = _jvm.dataframe_of(spark, query)
    analysis = analyze(df, gov)  # raising: nothing is known, the worker records it (failed)
    produced = Produced(
        operation=f"spark.{UNGOVERNED}", inputs=writes._inputs(analysis),
        outputs=(target.ref,), classification=analysis.classification,
        columns=analysis.columns, column_edges=writes._edges(analysis, target.ref),
        fingerprint=False)
    user = gov.config.user.to_user().id
    # a write outside Lacuna never lowers a labelled table's classification: labelled first,
    # with what it read, so whatever fails next (the policy engine, the audit store) the target
    # is not left with a lower label than its content
    if target.kind == "table" or (target.kind == "path" and os.path.exists(target.name)):
        before = writes.prior_clock(spark, target)  # what it held keeps its clock
        seen: datetime | None
        try:
            seen = writes.write_clock(spark, gov, target, analysis, before=before, keep=False)
        except Exception as exc:  # a server that does not answer: the label's clock stands
            log.error("could not take the retention clock of %s: %s", target.name, exc)
            seen = before
        writes._label(spark, gov, replace(target, append=True), analysis.classification,
                      analysis, user, produced.run_id, first_seen=seen)
    try:
        dest = writes.destination(gov, target)
    except IntegrationError:  # where it went cannot be told (its catalog entry): unknown
        dest = gov.destination(_UNKNOWN_PLACE)
    op = gov.operation(
        Action.EXPORT, analysis.classification,
        sources=[Source(name=leaf.label, classification=s.classification)
                 for leaf, s in analysis.leaves],
        destination=dest,
        method=f"spark.{command} ({UNGOVERNED}: ran outside lacuna.spark's Python API)",
    )

    def flag(decision: Decision) -> Decision:
        verdict = "allowed" if decision.allowed else "DENIED"
        return replace(
            decision,
            reasoning=(f"UNGOVERNED write to {target.name}: it ran before Lacuna could decide "
                       f"({_how(command)}); policy would have "
                       f"{verdict} it: {decision.reasoning}"),
            why=(*decision.why, f"{UNGOVERNED}: caught by the Spark query listener after it "
                 "ran"),
        )

    try:
        flagged, _ = gov.record_decided(op, flag)  # with server:, decided and recorded there
    except Exception as exc:  # the policy engine fails: recorded as a failure, loudly
        _record_unverified(spark, target, command, exc, labelled=True)
        return
    log.warning("%s", flagged.reasoning)
    try:
        gov.lineage_store.record(run_for(produced, op, flagged, status=RunStatus.SUCCEEDED,
                                         session=gov.session))
    except Exception as exc:
        log.error("could not record the ungoverned run: %s", exc)
