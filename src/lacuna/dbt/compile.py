"""``lacuna compile``: check a dbt project against its quality gates before it runs.

The five steps of ADR-0012's compile-time validation:

1. load the platform artifacts (``governance.quality_gates`` and ``quality`` from ``floe.yaml``,
   ``lacuna.yaml`` or a platform ``manifest.yaml``);
2. analyse the dbt project (``target/manifest.json``);
3. check test coverage per layer and per model (a column counts as tested when a test is linked
   to it by ``attached_node`` + ``column_name``, or only by ``depends_on`` with the column in the
   test's arguments or, for a singular test, in its SQL);
4. validate required tests per model (global, per layer and escalated by classification), the
   escalation's evidence (audit_log, masking_verified, encryption_verified) and, with
   ``run_checks``, the gates' warehouse checks;
5. decide: strict enforcement with ``block_on_failure`` fails on any error.

``off`` still measures and reports, but every finding is a note; ``warn`` turns errors into
warnings. A gate's ``on_failure`` sets its findings' level: block → error, warn → warning,
notify → note.
"""

from __future__ import annotations

import fnmatch
import functools
import os
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lacuna.dbt.gates import (
    LAYERS,
    Enforcement,
    Gate,
    GatesConfig,
    LayerDetection,
    escalation_for,
    load_gates,
    normalize_tests,
    strictest,
)
from lacuna.dbt.report import CompileReport, Finding, LayerCoverage, Level, ModelCoverage
from lacuna.model import ColumnKind

if TYPE_CHECKING:
    from lacuna.dbt.classify import ProjectClassification, Sampler
    from lacuna.dbt.evidence import Evidence
    from lacuna.dbt.manifest import DbtNode, DbtProject, DbtTest
    from lacuna.model import ColumnClass

CONFIG_FILES = ("floe.yaml", "lacuna.yaml", "manifest.yaml")
NAMESPACES = ("lacuna", "floe")
_FRESHNESS_TESTS = ("recency", "freshness", "expect_row_values_to_have_recent_data",
                    "expect_grouped_row_values_to_have_recent_data")


# -- step 1: the platform artifacts ------------------------------------------------------------


def load_project_gates(project_dir: str | os.PathLike[str],
                       config: str | os.PathLike[str] | None = None) -> tuple[GatesConfig, str]:
    """The gates of a project, and where they came from (the files, comma-separated).

    Reads ``config`` alone when given, else every one of ``floe.yaml``, ``lacuna.yaml`` and the
    platform's ``manifest.yaml`` in the project folder that has ``governance.quality_gates`` (or
    a top-level ``quality_gates``) or a top-level ``quality`` (or ``governance.quality``), and
    combines them at their strictest (:func:`lacuna.dbt.gates.strictest`): ADR-0012 puts the
    platform team's ``quality_gates`` in ``manifest.yaml`` and the project's ``quality`` in
    ``floe.yaml``, and neither hides the other, nor can a project file lower the platform's
    minimums. Defaults (warn, no minimums) when none has them.

    Raises:
        ConfigError: a file is not YAML, or the sections fail validation (path + nearest key).
    """
    from lacuna.dbt.governance import config_files

    found: list[GatesConfig] = []
    sources: list[str] = []
    for path, raw, _ in config_files(project_dir, config=config, names=CONFIG_FILES):
        if not isinstance(raw, Mapping):
            continue
        gov_raw = raw.get("governance")
        gov: Mapping[str, Any] = gov_raw if isinstance(gov_raw, Mapping) else {}
        qg = gov.get("quality_gates")
        qg_prefix: tuple[str, ...] = ("governance",)
        if qg is None:
            qg, qg_prefix = raw.get("quality_gates"), ()
        quality = raw.get("quality", gov.get("quality"))
        if qg is None and quality is None:
            continue
        found.append(load_gates(qg, quality, where=str(path), prefix=qg_prefix))
        sources.append(str(path))
    if not found:
        return GatesConfig(), "defaults"
    return strictest(found), ", ".join(sources)


# -- steps 2-4 ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Ctx:
    project: DbtProject
    gates: GatesConfig
    enforcement: Enforcement
    freshness_sources: Callable[[], frozenset[str]]
    evidence: Evidence | None
    yaml_paths: Mapping[str, str]
    built_columns: Mapping[str, tuple[str, ...]]
    cache: dict[str, Any]
    sampler: Sampler | None = None

    def path(self, node: DbtNode) -> str:
        return self.yaml_paths.get(node.name) or node.original_file_path

    @property
    def classification(self) -> ProjectClassification | str:
        """The project's classification (declared meta carried through the compiled SQL's
        column lineage; a declaration never lowers what a column inherits), or why it could
        not be computed; computed once."""
        if "classification" not in self.cache:
            from lacuna.dbt.classify import classify_project
            from lacuna.errors import LacunaError

            try:
                self.cache["classification"] = classify_project(self.project,
                                                                sampler=self.sampler)
            except LacunaError as exc:
                self.cache["classification"] = str(exc)
            except Exception as exc:  # a bug, not the project's: still a finding, never a crash
                self.cache["classification"] = f"{type(exc).__name__}: {exc}"
        found: ProjectClassification | str = self.cache["classification"]
        return found

    def classified(self, node: DbtNode, *, suggested: bool = False
                   ) -> Mapping[str, ColumnClass]:
        """A model's column classes in the project classification ({} when it failed): the
        declared and inherited ones, and with ``suggested`` the classifier's suggestions for
        the other columns (for review, ``lacuna dbt suggest``; they escalate nothing)."""
        pc = self.classification
        if isinstance(pc, str) or node.unique_id not in pc.nodes:
            return {}
        nc = pc.nodes[node.unique_id]
        columns = nc.classification.columns
        if suggested:
            return columns
        return {c: columns[c] for c in (*nc.declared, *nc.inherited, *nc.raised)
                if c in columns}

    def classified_pii(self, node: DbtNode) -> list[str]:
        """Columns the project classification (suggestions too) finds personal."""
        return [c for c, cc in self.classified(node, suggested=True).items() if cc.is_personal]


def compile_project(
    project: DbtProject,
    gates: GatesConfig,
    *,
    enforcement: Enforcement | None = None,
    evidence: Evidence | None = None,
    checks: Sequence[Any] = (),
    checks_ran: bool = False,
    built_columns: Mapping[str, tuple[str, ...]] | None = None,
    sampler: Sampler | None = None,
) -> CompileReport:
    """Check ``project`` against ``gates``; the report says what is missing and how to fix it.

    Args:
        project: the loaded manifest (:func:`lacuna.dbt.manifest.load_project`).
        gates: the quality configuration (:func:`load_project_gates`).
        enforcement: overrides ``quality_gates.enforcement``.
        evidence: where audit, lineage and encryption evidence is looked up; None: every
            evidence requirement is reported as not verified.
        checks: ``--run-checks`` results (:func:`lacuna.dbt.checks.run_checks`).
        checks_ran: whether checks were run (an empty ``checks`` then means none applied).
        built_columns: ``schema.table`` (lower-case) → the built table's columns
            (:func:`lacuna.dbt.checks.warehouse_columns`); columns the YAML does not declare
            count as untested.
        sampler: the values the classification samples (default: seeds' CSV files;
            :func:`lacuna.dbt.warehouse.sampler` for the built tables): a seed's or source's
            column declared below what its values show is held at it and reported.
    """
    started = time.perf_counter()
    qg = gates.quality_gates
    mode: Enforcement = enforcement or qg.enforcement
    models = [n for n in project.models if n.package_name in ("", project.name)]
    models.sort(key=lambda n: n.name)
    if evidence is not None and evidence.project is None:  # dbt://<this project>/<model>
        evidence.project = project.name
    ctx = _Ctx(project, gates, mode, functools.cache(lambda: _freshness_sources(project)),
               evidence,
               _yaml_index(project, models), built_columns or {}, {}, sampler)
    coverages: list[ModelCoverage] = []
    findings: list[Finding] = []
    for node in models:
        cov, found = _check_model(ctx, node)
        coverages.append(cov)
        findings.extend(found)
    layers = _layers(ctx, coverages)
    findings[:0] = [*_classification_findings(ctx, models),
                    *(_layer_finding(layer, coverages) for layer in layers if not layer.ok)]
    findings.extend(_check_findings(checks))
    findings.extend(_empty_gates(ctx, models))
    findings = [_apply_mode(f, mode) for f in findings]
    return CompileReport(
        project=project.name,
        project_dir=str(project.project_dir),
        enforcement=mode,
        block_on_failure=qg.block_on_failure,
        rules_loaded=gates.rules_loaded,
        gates_loaded=len(gates.quality.gates),
        models=len(models),
        tests=sum(1 for t in project.tests.values()
                  if any(n in project.nodes for n in t.nodes)),
        layers=tuple(layers),
        model_coverage=tuple(coverages),
        findings=tuple(findings),
        checks=tuple(checks),
        checks_ran=checks_ran,
        seconds=time.perf_counter() - started,
    )


def _classification_findings(ctx: _Ctx, models: Sequence[DbtNode]) -> list[Finding]:
    """A classification that could not be computed (escalation then rests on declared meta
    alone), and every declaration lower than what its column inherits or, on a seed or
    source, than what its sampled values show (``lacuna.classification.overruled``)."""
    from lacuna.dbt.classify import VALUE_CHECKED, unknown_fix

    pc = ctx.classification
    if isinstance(pc, str):
        return [Finding(
            rule_id="lacuna.classification.failed", level=Level.ERROR, step=2,
            message=(f"the project could not be classified ({pc}); requirements are escalated "
                     "by declared meta only"),
            fix="fix what the message names, then run lacuna compile again")]
    out = []
    for node in models:
        nc = pc.nodes.get(node.unique_id)
        for over in nc.overruled if nc else ():
            out.append(Finding(
                rule_id="lacuna.classification.overruled", level=Level.ERROR, step=2,
                model=node.unique_id, model_name=node.dataset_name, column=over.column,
                path=ctx.path(node), message=f"model '{node.dataset_name}': {over.message}",
                fix=over.fix))
        if nc is not None and nc.unknown_reads:
            out.append(Finding(
                rule_id="lacuna.classification.unknown", level=Level.ERROR, step=2,
                model=node.unique_id, model_name=node.dataset_name, path=ctx.path(node),
                message=(f"model '{node.dataset_name}' reads {', '.join(nc.unknown_reads)}, whose "
                         "columns Lacuna does not know (none listed in YAML, or no node of "
                         "the project): what it builds from them is governed as unknown (pii, "
                         "high: PROPRIETARY) until they are declared"),
                fix=unknown_fix(nc.unknown_reads)))
        unnamed = nc.unnamed if nc else None
        if unnamed is not None and unnamed.classification is not ColumnKind.PUBLIC:
            out.append(Finding(
                rule_id="lacuna.classification.unnamed", level=Level.WARNING, step=2,
                model=node.unique_id, model_name=node.dataset_name, path=ctx.path(node),
                message=(f"model '{node.dataset_name}' builds columns Lacuna cannot name (SQL it "
                         "cannot trace, an expression without an alias, or a pattern of "
                         f"columns): they are governed as {unnamed.classification.value} "
                         f"({unnamed.sensitivity.value}), the most sensitive they may hold"),
                fix=(f"alias every output expression of {node.name} (`upper(email) as "
                     "email_upper`) and list pattern-selected columns in its YAML")))
    # where data enters: a seed's or source's column declared below what its values show
    for nc in pc.nodes.values():
        node = nc.node
        if node.resource_type not in VALUE_CHECKED or \
                node.package_name not in ("", ctx.project.name):
            continue
        for over in nc.overruled:
            if over.by_values:
                out.append(Finding(
                    rule_id="lacuna.classification.overruled", level=Level.ERROR, step=2,
                    model=node.unique_id, model_name=node.dataset_name, column=over.column,
                    path=node.patch_path or node.original_file_path or None,
                    message=f"{node.resource_type} '{node.dataset_name}': {over.message}",
                    fix=over.fix))
    return out


def _apply_mode(f: Finding, mode: str) -> Finding:
    if mode == "off" and f.level is not Level.NOTE:
        return replace(f, level=Level.NOTE)
    if mode == "warn" and f.level is Level.ERROR:
        return replace(f, level=Level.WARNING)
    return f


# -- layers ------------------------------------------------------------------------------------


def detect_layer(node: DbtNode, detection: LayerDetection) -> str | None:
    """A model's layer: config.meta, then a tag, then a folder, then a name prefix."""
    meta = node.meta
    for where in (meta, *(meta.get(ns) for ns in NAMESPACES)):
        if isinstance(where, Mapping):
            value = str(where.get(detection.meta_key) or "").strip().lower()
            if value in LAYERS:
                return value
    if detection.tags:
        for tag in node.tags:
            if tag.lower() in LAYERS:
                return tag.lower()
    parts = [p.lower() for p in Path(node.folder or "").parts]
    for layer, folders in detection.folders.items():
        if any(f.lower() in parts for f in folders):
            return layer
    name = node.name.lower()
    for layer, prefixes in detection.prefixes.items():
        if any(name.startswith(p.lower()) for p in prefixes):
            return layer
    return None


def _layers(ctx: _Ctx, coverages: list[ModelCoverage]) -> list[LayerCoverage]:
    out = []
    for layer in LAYERS:
        in_layer = [c for c in coverages if c.layer == layer]
        req = ctx.gates.quality_gates.layers.get(layer)
        if not in_layer and req is None:
            continue
        minimum = req.minimum_coverage if req and req.minimum_coverage is not None else None
        out.append(LayerCoverage(
            layer=layer, models=len(in_layer),
            columns=sum(len(c.columns) for c in in_layer),
            tested_columns=sum(len(c.tested_columns) for c in in_layer),
            minimum_coverage=minimum))
    return out


def _layer_finding(layer: LayerCoverage, coverages: list[ModelCoverage]) -> Finding:
    missing = [f"{c.name}.{col}" for c in coverages if c.layer == layer.layer
               for col in c.untested_columns]
    shown = ", ".join(missing[:10]) + (f" and {len(missing) - 10} more" if len(missing) > 10
                                       else "")
    return Finding(
        rule_id="lacuna.coverage.layer", level=Level.ERROR, layer=layer.layer,
        message=(f"{layer.layer} layer: {layer.coverage:.0f}% coverage "
                 f"(min: {layer.minimum_coverage:.0f}%)"
                 + (f"; missing tests for: {shown}" if shown else "")),
        fix=(f"add a test (e.g. not_null) to the untested {layer.layer} columns in their "
             "schema YAML, or lower quality_gates.layers."
             f"{layer.layer}.minimum_coverage"))


# -- one model ---------------------------------------------------------------------------------


def _check_model(ctx: _Ctx, node: DbtNode) -> tuple[ModelCoverage, list[Finding]]:
    qg = ctx.gates.quality_gates
    layer = detect_layer(node, qg.layer_detection)
    layer_req = qg.layers.get(layer) if layer else None  # type: ignore[call-overload]
    tested = tested_columns(ctx.project, node)
    columns = tuple(node.columns)
    built = ctx.built_columns.get(f"{node.schema}.{node.table}".lower(), ())
    declared = {c.lower() for c in columns}
    columns += tuple(c for c in built if c.lower() not in declared)
    minimum = qg.minimum_test_coverage
    required = list(normalize_tests(qg.required_tests))
    if layer_req is not None:
        if layer_req.minimum_coverage is not None:
            minimum = layer_req.minimum_coverage  # the layer's figure overrides the global one
        required += [t for t in normalize_tests(layer_req.required_tests) if t not in required]
    level: str | None = None
    if qg.classification_escalation:
        level, esc_min, esc_tests = escalation_for([*model_levels(node),
                                                    *classified_levels(ctx.classified(node))])
        minimum = max(minimum, esc_min)
        required += [t for t in esc_tests if t not in required]
    pk = primary_key(node)
    path = ctx.path(node)
    missing: list[str] = []
    findings: list[Finding] = []
    for test in required:
        problem = _requirement(ctx, node, test, pk, tested)
        if problem is not None:
            missing.append(test)
            findings.append(_finding(node, layer, path, test, problem))
    cov = ModelCoverage(
        unique_id=node.unique_id, name=node.dataset_name, layer=layer, path=path,
        columns=columns, tested_columns=tuple(c for c in columns if c.lower() in tested),
        minimum_coverage=minimum, required_tests=tuple(required), missing_tests=tuple(missing),
        escalation=level, primary_key=pk)
    if cov.coverage + 1e-9 < minimum:
        why = f" (escalated: {level} data)" if level and minimum > (
            layer_req.minimum_coverage if layer_req and layer_req.minimum_coverage is not None
            else qg.minimum_test_coverage) else ""
        untested = ", ".join(f"{node.name}.{c}" for c in cov.untested_columns) or \
            "no columns are documented"
        findings.insert(0, Finding(
            rule_id="lacuna.coverage.model", level=Level.ERROR, model=node.unique_id,
            model_name=node.dataset_name, layer=layer, path=path,
            message=(f"model '{node.dataset_name}': {cov.coverage:.0f}% coverage "
                     f"(min: {minimum:.0f}%{why}); missing tests for: {untested}"),
            fix=(f"document the columns of {node.name} in {path} and add at least one test "
                 "to each (not_null, unique, accepted_values, relationships, ...)")))
    return cov, findings


def _finding(node: DbtNode, layer: str | None, path: str, test: str,
             problem: _Problem) -> Finding:
    rule = {"audit_log": "lacuna.evidence.audit_log",
            "masking_verified": "lacuna.evidence.masking_verified",
            "encryption_verified": "lacuna.evidence.encryption_verified"}.get(
        test, "lacuna.tests.primary_key" if problem.no_pk else "lacuna.tests.missing")
    return Finding(
        rule_id=rule, level=Level.ERROR, model=node.unique_id, model_name=node.dataset_name,
        column=problem.column, layer=layer, path=path, step=4,
        message=f"model '{node.dataset_name}' lacks required `{test}`: {problem.why}",
        fix=problem.fix)


@dataclass(frozen=True, slots=True)
class _Problem:
    why: str
    fix: str
    column: str | None = None
    no_pk: bool = False


def _requirement(ctx: _Ctx, node: DbtNode, test: str, pk: tuple[str, ...],
                 tested: Mapping[str, set[str]]) -> _Problem | None:
    path = ctx.path(node)
    if test in ("not_null_pk", "unique_pk"):
        if not pk:
            return _Problem(
                "no primary key is declared",
                f"declare the primary key of {node.name} in {path}: a primary_key constraint, "
                "meta {primary_key: <column>} or a unique test on the key column", no_pk=True)
        kind = test.removesuffix("_pk")
        ok = _pk_tested(node, pk, kind, tested)
        if ok:
            return None
        cols = ", ".join(pk)
        return _Problem(f"no {kind} test on the primary key ({cols})",
                        f"add `{kind}` to data_tests of column(s) {cols} of {node.name} in "
                        f"{path}", column=pk[0] if len(pk) == 1 else None)
    if test == "freshness":
        if _has_freshness(ctx, node):
            return None
        return _Problem(
            "no freshness check covers it",
            f"configure `freshness:` on an upstream source, add a recency test "
            f"(dbt_utils.recency) to {node.name}, or a quality gate with a freshness check "
            "scoped to it")
    if test == "documentation":
        undocumented = [c.name for c in node.columns.values() if not c.description.strip()]
        if node.description.strip() and not undocumented and node.columns:
            return None
        parts = ([] if node.description.strip() else ["the model"]) + undocumented
        if not node.columns:
            parts.append("its columns (none are declared)")
        return _Problem(f"no description for {', '.join(parts)}",
                        f"add `description:` to {', '.join(parts)} of {node.name} in {path}")
    if test == "audit_log":
        verdict = ctx.evidence.audit_log(node) if ctx.evidence else None
        if verdict is not None and verdict.ok:
            return None
        return _Problem(verdict.reason if verdict else "audit evidence was not looked up",
                        f"run the model with Lacuna's dbt hooks (or `lacuna dbt record` after "
                        f"dbt build) so the audit trail records {node.name}")
    if test == "masking_verified":
        declared = [c.name for c in node.columns.values() if _column_class(c.meta) == "pii"]
        pii = list(dict.fromkeys([*declared, *ctx.classified_pii(node)]))
        if not pii:
            return _Problem("no column of this PII model is classified pii, so masking cannot "
                            "be verified", f"classify its PII columns (meta floe.classification: "
                            f"pii) in {path}")
        for col in pii:
            verdict = ctx.evidence.masking(node, col) if ctx.evidence else None
            if verdict is None or not verdict.ok:
                return _Problem(verdict.reason if verdict else "lineage was not looked up",
                                f"mask {node.name}.{col} upstream (hash, redact or generalise "
                                "it; lacuna.anonymize) and record the lineage (lacuna dbt "
                                "record)", column=col)
        return None
    if test == "encryption_verified":
        verdict = ctx.evidence.encryption(node) if ctx.evidence else None
        if verdict is not None and verdict.ok:
            return None
        return _Problem(verdict.reason if verdict else "encryption was not looked up",
                        "store the model in an encrypted target (DuckDB: ATTACH ... "
                        "(ENCRYPTION_KEY ...)) or grant an exception")
    # any other name: a dbt test of that name on the model
    if any(_short(t.test_name) == test or t.name == test for t in node.tests):
        return None
    return _Problem(f"no `{test}` test is defined on it",
                    f"add a `{test}` test to {node.name} in {path}")


def _short(name: str | None) -> str:
    return (name or "").rsplit(".", 1)[-1]


def _pk_tested(node: DbtNode, pk: tuple[str, ...], kind: str,
               tested: Mapping[str, set[str]]) -> bool:
    constraint_kinds = {"not_null": ("not_null", "primary_key"), "unique": ("unique",
                                                                            "primary_key")}[kind]
    model_constraints = [c for c in node.constraints if c.get("type") in constraint_kinds]
    for c in model_constraints:
        if {str(x).lower() for x in c.get("columns") or ()} >= {p.lower() for p in pk} and (
                kind == "not_null" or len(c.get("columns") or ()) == len(pk)):
            return True
    if kind == "unique" and len(pk) > 1:
        return any(_short(t.test_name) == "unique_combination_of_columns" and
                   {str(x).lower() for x in t.kwargs.get("combination_of_columns") or ()}
                   == {p.lower() for p in pk} for t in node.tests)
    for col in pk:
        column = next((c for n, c in node.columns.items() if n.lower() == col.lower()), None)
        has_constraint = column is not None and any(
            c.get("type") in constraint_kinds for c in column.constraints)
        if not has_constraint and kind not in tested.get(col.lower(), set()):
            return False
    return True


# -- coverage, keys, classification ------------------------------------------------------------


def tested_columns(project: DbtProject, node: DbtNode) -> dict[str, set[str]]:
    """Column (lower-case) → names of the tests that test it.

    A test counts for a column when dbt links it by ``attached_node`` + ``column_name``; when
    it is linked only by ``depends_on``, its arguments decide (``column_name``, ``column``,
    ``combination_of_columns``; ``field`` on the model a relationships test points ``to``) or,
    for a singular test, the column names in its SQL.
    """
    names = {c.lower() for c in node.columns}
    out: dict[str, set[str]] = {}
    for test in node.tests:
        kind = _short(test.test_name) or "singular"
        for col in _test_columns(project, test, node, names):
            out.setdefault(col, set()).add(kind)
    return out


def _test_columns(project: DbtProject, test: DbtTest, node: DbtNode,
                  names: set[str]) -> set[str]:
    cols: set[str] = set()
    to = str(test.kwargs.get("to") or "")
    refers_here = bool(to) and re.search(rf"['\"]{re.escape(node.name)}['\"]", to) is not None
    if refers_here:  # a relationships-style test seen from its `to` side: `field` is ours
        field = test.kwargs.get("field")
        if isinstance(field, str):
            cols.add(_unquote(field).lower())
    else:
        if test.column_name:
            cols.add(_unquote(test.column_name).lower())
        for key in ("column_name", "column"):
            value = test.kwargs.get(key)
            if isinstance(value, str):
                cols.add(_unquote(value).lower())
        combo = test.kwargs.get("combination_of_columns")
        if isinstance(combo, Sequence) and not isinstance(combo, str):
            cols.update(_unquote(str(c)).lower() for c in combo)
    if test.test_name is None and not cols and test.original_file_path:
        sql = _read(Path(project.project_dir) / test.original_file_path)
        words = {w.lower() for w in re.findall(r"[A-Za-z_][A-Za-z0-9_]*", sql)}
        cols.update(names & words)
    return cols & names if names else cols


def _unquote(name: str) -> str:
    return name.strip().strip('"`[]')


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return ""


def primary_key(node: DbtNode) -> tuple[str, ...]:
    """The model's primary key: constraints, then meta, then dbt's own ``primary_key``, then a
    ``unique`` (or unique_combination_of_columns) test; () when none is declared."""
    for c in node.constraints:
        if c.get("type") == "primary_key" and c.get("columns"):
            return tuple(str(x) for x in c["columns"])
    cols = tuple(c.name for c in node.columns.values()
                 if any(k.get("type") == "primary_key" for k in c.constraints))
    if cols:
        return cols
    for where in (node.meta, *(node.meta.get(ns) for ns in NAMESPACES)):
        if isinstance(where, Mapping) and where.get("primary_key"):
            value = where["primary_key"]
            return (value,) if isinstance(value, str) else tuple(str(v) for v in value)
    cols = tuple(c.name for c in node.columns.values()
                 if any(isinstance(m, Mapping) and m.get("primary_key") is True
                        for m in (c.meta, *(c.meta.get(ns) for ns in NAMESPACES))))
    if cols:
        return cols
    if node.primary_key:
        return node.primary_key
    for t in node.tests:
        if _short(t.test_name) == "unique" and t.column_name:
            return (_unquote(t.column_name),)
    for t in node.tests:
        combo = t.kwargs.get("combination_of_columns")
        if _short(t.test_name) == "unique_combination_of_columns" and combo:
            return tuple(str(c) for c in combo)
    return ()


def _column_class(meta: Mapping[str, Any]) -> str | None:
    for ns in NAMESPACES:
        section = meta.get(ns)
        if isinstance(section, Mapping) and section.get("classification"):
            return str(section["classification"]).strip().lower()
    value = meta.get("classification")
    return str(value).strip().lower() if value else None


def classified_levels(columns: Mapping[str, ColumnClass]) -> list[str]:
    """What a model's classified columns escalate to: each class and ``critical``
    sensitivity, so a column that inherits PII escalates its model as a declared one does."""
    return [level for cc in columns.values()
            for level in (cc.classification.value,
                          *(("critical",) if cc.sensitivity.value == "critical" else ()))]


def model_levels(node: DbtNode) -> list[str]:
    """Everything that may escalate a model: its columns' classes and ``critical``
    sensitivities, its declared tier, and PII/PHI tags (meta tags and dbt tags)."""
    levels: list[str] = []
    for col in node.columns.values():
        cls = _column_class(col.meta)
        if cls:
            levels.append(cls)
        for ns in NAMESPACES:
            section = col.meta.get(ns)
            if isinstance(section, Mapping) and str(section.get("sensitivity", "")).lower() \
                    == "critical":
                levels.append("critical")
    for where in (node.meta, *(node.meta.get(ns) for ns in NAMESPACES)):
        if not isinstance(where, Mapping):
            continue
        if where.get("classification"):
            levels.append(str(where["classification"]))
        tags = where.get("tags")
        if isinstance(tags, Sequence) and not isinstance(tags, str):
            levels.extend(str(t) for t in tags)
    levels.extend(node.tags)
    return levels


# -- freshness ---------------------------------------------------------------------------------


def _freshness_sources(project: DbtProject) -> frozenset[str]:
    """Sources with a ``freshness`` (warn_after or error_after) configured, as the manifest
    Lacuna loaded says (verified to be written in the files: lacuna.dbt.verify_tests)."""
    return frozenset(uid for uid, node in project.nodes.items() if node.freshness)


def _has_freshness(ctx: _Ctx, node: DbtNode) -> bool:
    if any(any(k in _short(t.test_name) for k in _FRESHNESS_TESTS) for t in node.tests):
        return True
    if any(gate_applies(g, node, ctx.gates) and any(c.type == "freshness" for c in g.checks)
           for g in ctx.gates.quality.gates):
        return True
    fresh = ctx.freshness_sources()  # read only when a model needs it
    if fresh:
        seen: set[str] = set()
        stack = list(node.depends_on)
        while stack:
            uid = stack.pop()
            if uid in seen:
                continue
            seen.add(uid)
            if uid in fresh:
                return True
            parent = ctx.project.nodes.get(uid)
            if parent is not None:
                stack.extend(parent.depends_on)
    return False


def gate_applies(gate: Gate, node: DbtNode, gates: GatesConfig) -> bool:
    """Whether a gate's scope covers a model (no scope: every model)."""
    scope = gate.scope
    if not (scope.tags or scope.layer or scope.models):
        return True
    if scope.tags and {t.lower() for t in scope.tags} & {t.lower() for t in node.tags}:
        return True
    if scope.layer and detect_layer(node, gates.quality_gates.layer_detection) == scope.layer:
        return True
    return any(fnmatch.fnmatchcase(node.name, m) for m in scope.models)


def _empty_gates(ctx: _Ctx, models: Sequence[DbtNode]) -> list[Finding]:
    """A gate whose scope covers no model checks nothing (a misspelt tag, a layer no model is
    in): said at the gate's own level, never a silent pass."""
    out = []
    for gate in ctx.gates.quality.gates:
        if not gate.checks or any(gate_applies(gate, n, ctx.gates) for n in models):
            continue
        scope = gate.scope
        said = "; ".join(part for part in (
            f"tags {list(scope.tags)}" if scope.tags else "",
            f"layer {scope.layer}" if scope.layer else "",
            f"models {list(scope.models)}" if scope.models else "") if part)
        level = {"block": Level.ERROR, "warn": Level.WARNING}.get(gate.on_failure, Level.NOTE)
        out.append(Finding(
            rule_id="lacuna.gate.scope", level=level, step=4,
            message=f"gate '{gate.name}' applies to no model of {ctx.project.name} ({said}): "
                    "its checks check nothing",
            fix=f"correct the scope of gate '{gate.name}' in floe.yaml (a model's tag, layer "
                "or name), or remove the gate"))
    return out


def _check_findings(checks: Sequence[Any]) -> list[Finding]:
    out = []
    for c in checks:
        if c.passed:
            continue
        level = {"block": Level.ERROR, "warn": Level.WARNING}.get(c.on_failure, Level.NOTE)
        out.append(Finding(
            rule_id=f"lacuna.gate.{c.check}" if c.check != "unresolved" else
            "lacuna.gate.unresolved", level=level, model_name=c.model, step=4,
            message=f"gate '{c.gate}': {c.check} on '{c.model}': {c.observed} "
                    f"(expected {c.expected})",
            fix=f"fix the data of {c.model}, or change gate '{c.gate}' in floe.yaml"))
    return out


def _yaml_index(project: DbtProject, models: Iterable[DbtNode]) -> dict[str, str]:
    """Model name → the schema YAML (relative to the project) that declares it; one pass over
    the YAML files in the models' folders."""
    root = Path(project.project_dir)
    folders = {Path(n.original_file_path).parent for n in models if n.original_file_path}
    out: dict[str, str] = {}
    entry = re.compile(r"^\s*-\s*name:\s*['\"]?([A-Za-z0-9_]+)['\"]?\s*$", re.MULTILINE)
    for folder in sorted(folders):
        for path in sorted((root / folder).glob("*.y*ml")):
            rel = path.relative_to(root).as_posix()
            for name in entry.findall(_read(path)):
                out.setdefault(name, rel)
    return out


__all__ = [
    "CONFIG_FILES",
    "classified_levels",
    "compile_project",
    "detect_layer",
    "gate_applies",
    "load_project_gates",
    "model_levels",
    "primary_key",
    "tested_columns",
]
