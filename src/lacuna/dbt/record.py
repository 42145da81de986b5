"""``lacuna dbt record``: what a dbt run did, recorded in Lacuna's stores after the run.

dbt macros cannot call Python, so the ``lacuna`` dbt package's hooks write rows to
``lacuna_audit.lacuna_events`` in the warehouse (see ``src/lacuna/dbt/package``); this module
reads ``target/run_results.json`` and ``target/manifest.json`` (and those rows, on DuckDB) and,
per model, seed and snapshot dbt ran:

- a **lineage run** in the lineage store: inputs are the node's parents, the output the node,
  each with its classification (:mod:`lacuna.dbt.classify`), column edges from the compiled SQL,
  the dbt tests' results as quality checks; datasets are named ``dbt://<project>/<node>``, so
  ``lacuna lineage show dbt://<project>/<model>`` draws them. Recording is idempotent (the run
  id comes from dbt's invocation id and the node's id);
- a **decision** of the current policies on writing that node, recorded in the **audit trail**
  with its outcome (dbt's status), so a model built against policy shows up as a denial;
- **OpenLineage** events for each run (the governor's emitter: Lacuna's and Floe's
  classification facets and column ``tags``);
- ADR-0012's Tier 1 **quality gate** ``quality.dbt_tests`` (floe.yaml / lacuna.yaml, read by
  :func:`lacuna.dbt.compile.load_project_gates`): with ``enabled`` (the default), a node whose
  dbt test failed, errored, was skipped or did not run in the invocation (with
  ``fail_on_warning``, also one that warned) fails the gate: the run's quality checks say
  ``lacuna:quality_gate(dbt_tests):fail`` and the report names each test
  (:attr:`RecordedNode.quality_failures`); ``lacuna dbt record`` exits 1 for it under
  ``strict`` enforcement with ``block_on_failure``.

Projects that cannot install the macros get the same records: only run_results.json and the
manifest are required.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lacuna.dbt.classify import (
    UNKNOWN_NOTE,
    ProjectClassification,
    classify_project,
    seed_sampler,
)
from lacuna.dbt.gates import DbtTests, Enforcement, GatesConfig
from lacuna.dbt.manifest import RUN_RESULTS, DbtNode, DbtProject, load_project, read_json
from lacuna.dbt.runtime import POLICY_ID as GOVERNANCE_POLICY
from lacuna.dbt.runtime import UNNAMED, GovernancePlan, plan
from lacuna.dbt.warehouse import sampler as warehouse_sampler
from lacuna.lineage.ol_emit import after_run_recorded, pending
from lacuna.lineage.records import ColumnEdge, DatasetRef, DatasetVersion, Run, RunStatus
from lacuna.model import Action, Decision, Destination, DestinationType, Operation, Scope, Source

if TYPE_CHECKING:
    from lacuna.governor import Governor

log = logging.getLogger("lacuna.dbt")
CODE_TEXT_LIMIT = 64 * 1024
EVENTS_TABLE = "lacuna_audit.lacuna_events"
_STATUS = {"success": RunStatus.SUCCEEDED, "error": RunStatus.FAILED, "fail": RunStatus.FAILED,
           "runtime error": RunStatus.FAILED}
# a dbt test's statuses (run_results.json) that fail the dbt_tests gate; "warn" too with
# fail_on_warning. A skipped test did not run: nothing was verified (fail closed)
_TEST_FAILED = frozenset({"fail", "error", "runtime error", "skipped"})
QUALITY_GATE = "lacuna:quality_gate(dbt_tests)"


@dataclass(frozen=True, slots=True, kw_only=True)
class DbtTestFailure:
    """A dbt test that fails ``quality.dbt_tests`` for a node (ADR-0012 Tier 1)."""

    test: str  # the test's name in the manifest (not_null_orders_id)
    node: str  # the tested node's name (its dataset name: orders, dim_contacts.v2)
    status: str  # dbt's: fail | error | skipped | warn, or "not run" (absent from the results)
    message: str = ""  # dbt's message ("Got 3 results, configured to fail if != 0")

    def __str__(self) -> str:
        said = f": {self.message}" if self.message else ""
        return f"dbt test {self.test} on {self.node}: {self.status}{said}"


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordedNode:
    unique_id: str
    run_id: str
    status: str
    decision: Decision | None
    tracked: bool  # the lacuna.track_lineage() post-hook wrote a row for it
    # why the decision is not on the audit trail (the policies or the audit store failed)
    unrecorded: str | None = None
    # the dbt tests that fail quality.dbt_tests for it (() when they pass or it is off)
    quality_failures: tuple[DbtTestFailure, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordReport:
    project: str
    invocation_id: str
    nodes: tuple[RecordedNode, ...]
    hook_rows: int  # rows the package's hooks left for this invocation (0: no macros)
    warehouse: str | None = None  # the DuckDB file read (hooks' rows, sampled values)
    notes: tuple[str, ...] = ()  # why no DuckDB file was read, when one should have been
    # quality_gates' enforcement and block_on_failure: whether a failed gate blocks
    enforcement: Enforcement = "warn"
    block_on_failure: bool = True

    @property
    def quality_failed(self) -> tuple[RecordedNode, ...]:
        """Nodes that fail ``quality.dbt_tests`` (their tests failed, or did not run)."""
        return tuple(n for n in self.nodes if n.quality_failures)

    @property
    def quality_blocks(self) -> bool:
        """Whether the failed gate fails the command (strict, with block_on_failure)."""
        return bool(self.quality_failed) and self.enforcement == "strict" and \
            self.block_on_failure

    @property
    def denied(self) -> tuple[RecordedNode, ...]:
        return tuple(n for n in self.nodes if n.decision is not None and not n.decision.allowed)

    @property
    def unrecorded(self) -> tuple[RecordedNode, ...]:
        """Nodes whose decision is not on the audit trail (``lacuna dbt record`` exits 1)."""
        return tuple(n for n in self.nodes if n.unrecorded is not None)


def run_id(invocation: str, unique_id: str) -> str:
    """A stable run id for one node of one dbt invocation (same input, same id)."""
    return "dbt-" + hashlib.sha256(f"{invocation}\0{unique_id}".encode()).hexdigest()[:40]


def node_ref(project: DbtProject, node: DbtNode) -> DatasetRef:
    """The lineage store's name of a dbt node: ``dbt://<project>/<node name>`` (a model's
    version: ``<name>.v<version>``, :attr:`DbtNode.dataset_name`)."""
    return DatasetRef(f"dbt://{project.name}", node.dataset_name)


def record_run(
    project_dir: str | Path = ".",
    *,
    governor: Governor | None = None,
    database: str | Path | None = None,
    environment: str | None = None,
    target: str | None = None,
    gates: GatesConfig | None = None,
) -> RecordReport:
    """Record the last dbt invocation of the project (see the module docstring; ``target``:
    the profile's output dbt ran with, :func:`lacuna.dbt.manifest.load_project`; the DuckDB
    file: ``database``, else that output's ``path``, :func:`lacuna.dbt.locate.locate`;
    ``gates``: the quality configuration, default the project's,
    :func:`lacuna.dbt.compile.load_project_gates`).

    Raises:
        ConfigError: ``database`` is given and is not a file, or the project's quality
            sections are invalid. Any other missing warehouse is a note on the report (the
            run's records do not need it).
    """
    from lacuna.dbt.compile import load_project_gates
    from lacuna.dbt.governance import (
        check_environment,
        default_environment,
        load_governance,
        production_pin,
    )
    from lacuna.governor import current

    gov = governor or current()
    check_environment(environment, gov.config, project_dir)  # as load_plan
    project = load_project(project_dir, target=target)
    if gates is None:  # before anything is written: a bad section fails the command
        gates, _ = load_project_gates(project.project_dir)
    results = read_json(project.target_dir / RUN_RESULTS, what="dbt run results",
                        project_dir=project.project_dir)
    invocation = str((results.get("metadata") or {}).get("invocation_id") or "unknown")
    warehouse, notes = _warehouse(project, database, target)
    hook_rows = _hook_rows(warehouse, invocation)
    sampler = seed_sampler(project)
    if warehouse is not None:
        sampler = warehouse_sampler(warehouse, fallback=sampler)
    pc = classify_project(project, gov.config.classification, sampler=sampler)
    raw_results = [r for r in results.get("results") or () if isinstance(r, Mapping)]
    checks = _test_results(project, raw_results)
    failures = dbt_test_failures(project, raw_results, gates.quality.dbt_tests)
    tracked = {r["node_id"] for r in hook_rows if r.get("event") == "node_built"}
    governance, _ = load_governance(project.project_dir)
    if environment is None:  # as load_plan and --environment's help
        environment = default_environment(governance, gov.config.environment,
                                          pinned=production_pin(gov.config, project_dir))
    env = environment
    gp = plan(pc, governance, env, gov.config)
    required = _required(gp)
    treated = None
    if required:
        from lacuna.dbt.runtime import configured_warehouse

        where = warehouse or configured_warehouse(project, gov.config)
        treated = _Treated.of(project, gp, hook_rows, invocation, where)
    recorded = []
    for raw in raw_results:
        uid = str(raw.get("unique_id") or "")
        node = project.nodes.get(uid)
        status = str(raw.get("status") or "")
        if node is None or status not in _STATUS:
            continue  # tests (their results become quality checks), skipped nodes
        untreated = treated.untreated(uid, required.get(uid, {})) if treated else {}
        failed = failures.get(uid, ()) if status == "success" else ()
        node_checks = checks.get(uid, ())
        if gates.quality.dbt_tests.enabled and status == "success":
            node_checks = (*node_checks, f"{QUALITY_GATE}:{'fail' if failed else 'pass'}")
        run, decision, why = _run(gov, project, pc, node, raw, invocation, node_checks,
                                  env, untreated)
        store = gov.lineage_store
        store.record(run, **pending(store, gov.config))  # pending: lacuna.lineage.outbox
        after_run_recorded(run, gov.config, store)  # queued; never raises
        recorded.append(RecordedNode(unique_id=uid, run_id=run.id, status=run.status.value,
                                     decision=decision, tracked=uid in tracked,
                                     unrecorded=why, quality_failures=failed))
    # fail closed, and say so: what a model takes from parents of no known column is
    # recorded as unknown (pii, high) until those columns are declared
    notes += tuple(note for r in recorded for note in pc.nodes[r.unique_id].notes
                   if UNKNOWN_NOTE in note)
    # and a seed's or source's declaration below what its values show is held at the values
    notes += tuple(f"{nc.node.name}.{o.message}" for nc in pc.nodes.values()
                   if nc.node.package_name in ("", project.name)
                   for o in nc.overruled if o.by_values)
    return RecordReport(project=project.name, invocation_id=invocation, nodes=tuple(recorded),
                        hook_rows=len(hook_rows),
                        warehouse=str(warehouse) if warehouse is not None else None,
                        notes=notes, enforcement=gates.quality_gates.enforcement,
                        block_on_failure=gates.quality_gates.block_on_failure)


def _time(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        when = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _timing(raw: Mapping[str, Any]) -> tuple[datetime | None, datetime | None]:
    starts, ends = [], []
    for step in raw.get("timing") or ():
        if isinstance(step, Mapping):
            s, e = _time(step.get("started_at")), _time(step.get("completed_at"))
            if s:
                starts.append(s)
            if e:
                ends.append(e)
    return (min(starts) if starts else None), (max(ends) if ends else None)


def _test_results(project: DbtProject, results: Sequence[Mapping[str, Any]]
                  ) -> dict[str, tuple[str, ...]]:
    out: dict[str, list[str]] = {}
    for raw in results:
        test = project.tests.get(str(raw.get("unique_id") or ""))
        if test is None:
            continue
        label = f"{test.test_name or test.name}"
        if test.column_name:
            label += f"({test.column_name})"
        for uid in test.nodes:
            out.setdefault(uid, []).append(f"dbt:{label}:{raw.get('status')}")
    return {k: tuple(v) for k, v in out.items()}


def dbt_test_failures(project: DbtProject, results: Sequence[Mapping[str, Any]],
                      setting: DbtTests) -> dict[str, tuple[DbtTestFailure, ...]]:
    """Per node (unique id), the dbt tests that fail ``quality.dbt_tests`` in one invocation's
    results: a test that failed, errored or was skipped, one that warned with
    ``fail_on_warning``, and a test of the project's on a node the invocation built that is not
    in the results at all (``dbt run`` without the tests: nothing verified it). A test fails
    the gate for every node it tests (:attr:`DbtTest.nodes`). ``{}`` when ``enabled`` is off.
    """
    if not setting.enabled:
        return {}
    failing = _TEST_FAILED | ({"warn"} if setting.fail_on_warning else set())
    out: dict[str, list[DbtTestFailure]] = {}
    ran: set[str] = set()
    built: set[str] = set()
    for raw in results:
        uid = str(raw.get("unique_id") or "")
        status = str(raw.get("status") or "").lower()
        test = project.tests.get(uid)
        if test is None:
            if uid in project.nodes and status == "success":
                built.add(uid)
            continue
        ran.add(uid)
        if status not in failing:
            continue
        message = " ".join(str(raw.get("message") or "").split())[:300]
        for node in test.nodes:
            name = project.nodes[node].dataset_name if node in project.nodes else node
            out.setdefault(node, []).append(DbtTestFailure(test=test.name, node=name,
                                                        status=status, message=message))
    for test in project.tests.values():
        if test.unique_id in ran:
            continue
        for node in test.nodes:
            if node in built:
                out.setdefault(node, []).append(DbtTestFailure(
                    test=test.name, node=project.nodes[node].dataset_name, status="not run",
                    message="the invocation built it without running this test (dbt run "
                            "alone): record a dbt build, which runs both"))
    return {k: tuple(v) for k, v in out.items()}


def _run(
    gov: Governor, project: DbtProject, pc: ProjectClassification, node: DbtNode,
    raw: Mapping[str, Any], invocation: str, checks: tuple[str, ...], environment: str,
    untreated: Mapping[str, str] | None = None,
) -> tuple[Run, Decision | None, str | None]:
    nc = pc.nodes[node.unique_id]
    target = node_ref(project, node)
    parents = [pc.nodes[p] for p in node.depends_on if p in pc.nodes]
    inputs = tuple(DatasetVersion(dataset=node_ref(project, p.node),
                                  classification=p.classification,
                                  columns=tuple(p.classification.columns)) for p in parents)
    output = DatasetVersion(dataset=target, classification=nc.classification,
                            columns=tuple(nc.classification.columns))
    by_relation = {_relation_key(p.node): node_ref(project, p.node) for p in parents}
    mapped = (_edge(e, target, by_relation) for e in nc.edges)
    edges = tuple(e for e in mapped if e is not None)
    started, ended = _timing(raw)
    status = _STATUS[str(raw.get("status"))]
    amend = None
    if untreated and status is RunStatus.SUCCEEDED:
        def amend(decision: Decision) -> Decision:
            return _ungoverned(decision, node, untreated, environment, invocation)
    decision, why = _decide(gov, project, node, nc.classification, parents, environment,
                            status, amend)
    user = gov.config.user
    sql = node.compiled_sql or node.raw_sql
    run = Run(
        id=run_id(invocation, node.unique_id), operation=f"dbt.{node.resource_type}",
        status=status, inputs=inputs, outputs=(output,), column_edges=edges,
        user_id=user.id, role=user.role, session=invocation,
        started_at=started or datetime.now(UTC), ended_at=ended,
        method=f"dbt {node.resource_type} ({node.materialized or 'seed'})",
        code_location=node.original_file_path or None,
        code_text=sql if sql and len(sql) <= CODE_TEXT_LIMIT else None,
        libraries=(("dbt-core", project.dbt_version or "unknown"),),
        quality_checks=checks,
        decision_id=decision.operation_id if decision else None,
        policy_id=decision.policy_id if decision else None,
        error=(str(raw.get("message"))[:300] if status is RunStatus.FAILED else None),
        producer="dbt",
    )
    return run, decision, why


def _relation_key(node: DbtNode) -> str:
    return ".".join(p for p in (node.database, node.schema, node.table) if p).lower()


def _edge(e: ColumnEdge, target: DatasetRef, by_relation: Mapping[str, DatasetRef]
          ) -> ColumnEdge | None:
    source = by_relation.get(e.source.name.lower())
    if source is None:
        return None
    return replace(e, source=source, target=target)


def _decide(gov: Governor, project: DbtProject, node: DbtNode, classification: Any,
            parents: Sequence[Any], environment: str, status: RunStatus,
            amend: Callable[[Decision], Decision] | None = None,
            ) -> tuple[Decision | None, str | None]:
    """The policies' answer on writing the node, recorded with dbt's outcome (never raises);
    with why it is not on the audit trail when it is not (the run happened already: the
    caller reports it, never as a silent success)."""
    operation = Operation(
        action=Action.WRITE, user=gov.config.user.to_user(), classification=classification,
        sources=tuple(Source(name=str(node_ref(project, p.node)),
                             classification=p.classification) for p in parents),
        destination=Destination(uri=str(node_ref(project, node)), type=DestinationType.DATABASE,
                                scope=Scope.INTERNAL, managed=True,
                                # the classification travels with the model (dbt meta)
                                classification_support=True),
        environment=environment, method=f"dbt.{node.resource_type}",
        code_location=node.original_file_path or None)
    try:  # with server:, decided and recorded there in one request
        decision, stored = gov.record_decided(operation, amend)
    except Exception as exc:  # the records are observers of a run that already happened
        log.error("could not decide on %s: %s", node.unique_id, exc)
        return None, f"the policies could not decide ({type(exc).__name__}: {exc})"
    try:
        if stored is None:
            return decision, "the audit trail could not be written (see the log)"
        error = None if status is RunStatus.SUCCEEDED else RuntimeError("dbt reported error")
        gov.audit.record_outcome(decision, operation, session=gov.session, of=stored.id,
                                 error=error)
    except Exception as exc:
        log.error("could not record the decision for %s: %s", node.unique_id, exc)
        return decision, f"the audit trail could not be written ({type(exc).__name__}: {exc})"
    return decision, None


# -- a non-production build Lacuna did not treat ---------------------------------------------


def _required(gp: GovernancePlan) -> dict[str, dict[str, str]]:
    """Per node, the columns (lower case) the plan's environment rewrites, with the action:
    what a build must have gone through Lacuna for. Production rewrites nothing."""
    if gp.category == "production":
        return {}
    out: dict[str, dict[str, str]] = {}
    for uid in gp.classification.nodes:
        cols = {name.lower(): effect.action.value
                for name, (_, effect) in gp.checked(uid).items() if effect.action.transforms}
        if cols:
            out[uid] = cols
    return out


@dataclass(frozen=True, slots=True)
class _Treated:
    """What Lacuna did to this dbt invocation's tables in the plan's environment: the
    ``lacuna.govern()`` post-hook's ``node_governed`` rows (the columns it rewrote per node;
    ``hooked``: whether the build ran with the hook's vars at all), what the hook was asked
    (:func:`lacuna.dbt.runtime.govern_vars`: a column treated upstream is not asked again)
    and what ``lacuna dbt apply`` rewrote after the build (:func:`lacuna.dbt.runtime.applied`)."""

    hook: dict[str, set[str]]
    hooked: bool
    asked: Mapping[str, Mapping[str, Any]]
    apply: dict[str, set[str]]

    @classmethod
    def of(cls, project: DbtProject, gp: GovernancePlan,
           hook_rows: Sequence[Mapping[str, Any]], invocation: str,
           warehouse: Path | str | None) -> _Treated:
        from lacuna.dbt.runtime import applied, govern_vars

        hook: dict[str, set[str]] = {}
        hooked = False
        for row in hook_rows:
            detail = row.get("detail")
            if row.get("event") == "node_governed" and row.get("status") == gp.environment:
                hooked = True
                if isinstance(detail, Mapping):
                    hook.setdefault(str(row.get("node_id")), set()).update(
                        str(c).lower() for c in detail)
        asked = govern_vars(gp)["lacuna_governance"]["actions"]
        done = {uid: {c.lower() for c in cols}
                for uid, cols in applied(project, invocation, gp.environment,
                                         warehouse).items()}
        return cls(hook=hook, hooked=hooked, asked=asked, apply=done)

    def untreated(self, uid: str, required: Mapping[str, str]) -> dict[str, str]:
        """The columns of ``required`` (lower case: action) nothing vouches for: none when
        apply rewrote them all, or when the build ran with the hook and the hook rewrote
        every column it was asked to for this node (a column treated upstream is not asked;
        the columns Lacuna cannot name, ``*``, count as rewritten by any row of the node)."""
        if not required:
            return {}
        unnamed = UNNAMED.lower()
        done = self.apply.get(uid)
        if done is not None and all(c in done or c == unnamed for c in required):
            return {}
        if self.hooked:
            asked = self.asked.get(uid, {})
            ask = {c.lower() for c in asked if c != "*"}
            rows = self.hook.get(uid)
            if (rows is not None and ask <= rows) or not asked:
                return {}
        done = (done or set()) | self.hook.get(uid, set())
        return {c: a for c, a in required.items() if c not in done} or dict(required)


def _ungoverned(decision: Decision, node: DbtNode, untreated: Mapping[str, str],
                environment: str, invocation: str) -> Decision:
    """A denial: the build may have left these columns raw, so nothing vouches for it."""
    cols = ", ".join(f"{c} ({a})" for c, a in sorted(untreated.items()))
    return replace(
        decision, allowed=False, policy_id=GOVERNANCE_POLICY,
        policy_title=f"ADR-0012 non_production policies in {environment} (governance.policies)",
        reasoning=(f"{node.dataset_name} was built in {environment} without Lacuna's treatment "
                   f"of {cols}: the policies rewrite them there, and neither the "
                   "lacuna.govern() post-hook nor lacuna dbt apply treated them in dbt "
                   f"invocation {invocation}, so the relation may hold them raw"),
        why=(f"build through Lacuna: dbt build --vars \"$(lacuna dbt vars -e {environment})\" "
             f"(the lacuna.govern() post-hook), or run lacuna dbt apply -e {environment} after "
             "dbt build; then run lacuna dbt record again",),
        alternatives=(), policies=())


def _warehouse(project: DbtProject, database: str | Path | None, target: str | None
               ) -> tuple[Path | None, tuple[str, ...]]:
    """The DuckDB file to read, or None and why (only a DuckDB project is expected to have one;
    an explicit ``database`` that is not there is an error)."""
    from lacuna.dbt.locate import optional

    path, why = optional(project, database, target)
    return path, (f"the hooks' rows and the warehouse's values were not read: {why}",) if why \
        else ()


def _hook_rows(path: Path | None, invocation: str) -> list[dict[str, Any]]:
    """The rows the package's hooks wrote for this invocation (DuckDB; [] elsewhere)."""
    if path is None:
        return []
    try:
        import duckdb
    except ImportError:
        return []
    try:
        con = duckdb.connect(str(path), read_only=True)
    except duckdb.Error as exc:
        log.warning("cannot open %s to read the lacuna hooks' rows: %s", path, exc)
        return []
    try:
        cur = con.execute(f"select invocation_id, event, node_id, relation, depends_on, status, "
                          f"detail from {EVENTS_TABLE} where invocation_id = ?", [invocation])
        names = [d[0] for d in cur.description or ()]
        rows = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
    except duckdb.Error:
        return []  # no hooks installed
    finally:
        con.close()
    for row in rows:
        for key in ("depends_on", "detail"):
            try:
                row[key] = json.loads(row[key]) if row.get(key) else None
            except (TypeError, ValueError):
                row[key] = None
    return rows
