"""Classification of a dbt project: declared in ``meta``, carried through the DAG, suggested.

Per column, first match wins:

1. **declared** — ``meta.lacuna`` or Floe's ``meta.floe`` (``classification``, ``pii_type``,
   ``sensitivity`` low|medium|high|critical; under ``meta`` or ``config.meta``; ``lacuna:``
   keys win over ``floe:`` keys), a flat ``meta.classification`` naming a column class, or a
   column tag naming one (``pii``, ``phi``, ``financial``, ``identifier``);
2. **inherited** — traced through the node's compiled SQL to its parents' columns with sqlglot
   (:func:`lacuna.lineage.sql.classify_sql`: masking, hashing and aggregation are understood);
   a model whose SQL cannot be traced inherits its parents with the join rule
   (:func:`lacuna.lineage.rules.combine`) — fail closed;
3. **suggested** — the classifier, from the column's name, its description and sample values
   (a seed's CSV, or the warehouse when a sampler is given).

A declaration never lowers a column below what it inherits, nor, on a seed or source (where
data enters the project), below what its sampled values show to a strong recognizer
(:func:`value_evidence`: e-mails declared ``public`` are held as ``pii``/``email``); either is
an :class:`Overruled` record, reported by ``lacuna dbt classify`` and ``lacuna compile``.

Per node, model-level meta (the seed's ``+meta: {classification: PROPRIETARY, tags: [PII,
CUSTOMER_DATA]}``, or ``meta.lacuna.tier``/``meta.lacuna.tags``) sets the table's floor and
tags; dbt tags written in upper case (``PII``, ``GDPR``) are governance tags too. A node's floor
and table tags are never below its parents'. Declared is the source of truth: suggestions
never override it; ``lacuna dbt suggest`` turns them into YAML to review.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

from lacuna.classify.declared import DEFAULT_SENSITIVITY
from lacuna.classify.heuristic import classify_columns
from lacuna.classify.names import PRECEDENCE
from lacuna.classify.rollup import rollup
from lacuna.config import ClassificationConfig
from lacuna.dbt.manifest import DbtColumn, DbtNode, DbtProject
from lacuna.errors import ConfigError, LacunaError
from lacuna.lineage.records import ColumnEdge
from lacuna.lineage.rules import combine
from lacuna.model import (
    Classification,
    ColumnClass,
    ColumnKind,
    Evidence,
    Layer,
    Sensitivity,
    Tier,
    unique,
)

NAMESPACES = ("floe", "lacuna")  # later wins
KNOWN_TAGS = frozenset({"pii", "phi", "gdpr", "hipaa", "ccpa", "financial"})
SEED_SAMPLE_ROWS = 200
# the node-level meta table_declaration reads: meta.<key>, and meta.lacuna.<key>
TABLE_META_KEYS = ("classification", "tags")
TABLE_LACUNA_KEYS = ("tier", "classification", "tags")

# (node, column names) -> {column: sample values}; None when the node cannot be sampled
Sampler = Callable[[DbtNode, Sequence[str]], Mapping[str, Sequence[Any]] | None]


@dataclass(frozen=True, slots=True, kw_only=True)
class Overruled:
    """A column whose meta declares less than its SQL carries from its parents.

    A declaration may raise a column's class, never lower it: ``email AS contact`` declared
    ``public`` still holds every e-mail. The column keeps what it inherits (``inherited``) and
    this record says so, for ``lacuna dbt classify`` and ``lacuna compile`` to report."""

    column: str
    declared: ColumnClass
    inherited: ColumnClass
    # the node's code could not be traced: ``inherited`` is the parents' most sensitive
    # column, what the column may hold (a Python model, an UNPIVOT: `email` renamed where
    # Lacuna cannot see it is no less an e-mail)
    guessed: bool = False
    # ``inherited`` is what the column's sampled values are (a seed's CSV, a source's table):
    # a strong recognizer's match (:func:`value_evidence`), not lineage
    by_values: bool = False

    @property
    def message(self) -> str:
        d, i = self.declared, self.inherited
        if self.by_values:
            return (f"{self.column}: declared {_label(d)} "
                    f"({d.reasoning.removeprefix('declared in ')}), but its sampled values are "
                    f"{_label(i)} ({i.reasoning}); a declaration may raise a column's class, "
                    f"never lower it below what its values show, so it is held as {_label(i)}")
        may = "may hold" if self.guessed else "inherits"
        return (f"{self.column}: declared {_label(d)} ({d.reasoning.removeprefix('declared in ')}"
                f"), but it {may} {_label(i)} ({i.reasoning}); a declaration may raise a "
                f"column's class, never lower it, so it stays {_label(i)}")

    @property
    def fix(self) -> str:
        if self.by_values:
            i = self.inherited
            block = f"classification: {i.classification.value}" + (
                f", pii_type: {i.pii_type}" if i.pii_type else "") + \
                f", sensitivity: {i.sensitivity.value}"
            return (f"declare {self.column} as what it holds in its YAML (meta: floe: "
                    f"{{{block}}}), or take the {i.pii_type or i.classification.value} values "
                    "out of the data before it reaches the project (a keyed hash or a "
                    "redaction upstream); a column whose values are "
                    f"{i.pii_type or i.classification.value}s is never public")
        if self.guessed:
            return (f"Lacuna cannot trace this model's code, so it cannot see that "
                    f"{self.column} no longer holds {self.inherited.classification.value} "
                    "data: write it as SQL Lacuna traces (a keyed hash, a redaction or an "
                    "aggregate it reads, see docs/lineage.md), or declare it at least "
                    f"{_label(self.inherited)}")
        return (f"if {self.column} really no longer holds {self.inherited.classification.value} "
                "data, make the SQL say so (a keyed hash, a redaction or an aggregate Lacuna "
                "reads, see docs/lineage.md), or declare it at least "
                f"{_label(self.inherited)}")


def _label(col: ColumnClass) -> str:
    kind = col.classification.value + (f"/{col.pii_type}" if col.pii_type else "")
    return f"{kind} ({col.sensitivity.value})"


@dataclass(frozen=True, slots=True, kw_only=True)
class NodeClassification:
    """One node's classification and where each column's class came from."""

    node: DbtNode
    classification: Classification
    declared: tuple[str, ...] = ()
    inherited: tuple[str, ...] = ()
    suggested: tuple[str, ...] = ()  # undeclared columns the classifier filled in
    edges: tuple[ColumnEdge, ...] = ()
    notes: tuple[str, ...] = ()
    overruled: tuple[Overruled, ...] = ()  # declarations lower than what the column inherits
    # the class of output columns Lacuna cannot name: those of SQL that could not be traced
    # (the parents' most sensitive column), an expression without an alias or a pattern
    # (`upper(email)`, DuckDB's COLUMNS('e.*'): sqlglot calls it `_col_N`, the warehouse
    # something else). A built column the classification does not name takes it; None when
    # every output column is named
    unnamed: ColumnClass | None = None
    # the parents whose columns Lacuna knows none of (a source whose YAML lists no columns):
    # nothing the compiled SQL takes from them is governed here
    unknown_reads: tuple[str, ...] = ()
    # declared columns held at what their sampled values are (a strong recognizer's match
    # above the declaration: ``overruled`` says so); held like inherited ones, never suggestions
    raised: tuple[str, ...] = ()

    @property
    def undeclared(self) -> dict[str, ColumnClass]:
        """Every filled-in column class (inherited, raised by values or suggested) that is not
        plain public."""
        cols = self.classification.columns
        return {n: cols[n] for n in (*self.inherited, *self.raised, *self.suggested)
                if n in cols and cols[n].classification is not ColumnKind.PUBLIC}


@dataclass(frozen=True, slots=True, kw_only=True)
class ProjectClassification:
    project: DbtProject
    nodes: Mapping[str, NodeClassification] = field(default_factory=dict)

    def of(self, name_or_id: str) -> NodeClassification:
        return self.nodes[self.project.node(name_or_id).unique_id]

    def classification(self, name_or_id: str) -> Classification:
        return self.of(name_or_id).classification


def declaration(column: DbtColumn) -> tuple[dict[str, Any], str] | None:
    """The parts of a column's meta and tags that declare its class, and where they are.

    The one definition of "classification-relevant" for a column: :func:`declared_column` parses
    it, and :mod:`lacuna.dbt.verify` compares it between the manifest and the project's YAML.
    Returns ``(fields, source)`` (``source``: ``meta.lacuna``, ``meta.floe``, ``meta`` or
    ``tags``), or ``None`` when the column declares nothing.
    """
    merged: dict[str, Any] = {}
    source = ""
    for namespace in NAMESPACES:
        block = column.meta.get(namespace)
        if isinstance(block, Mapping) and block:
            merged.update(block)
            source = f"meta.{namespace}"
        elif block not in (None, "", [], {}) and not isinstance(block, Mapping):
            # `floe: pii` declares something Lacuna cannot read: declared_column says so
            merged[f"meta.{namespace}"] = block
            source = f"meta.{namespace}"
    flat: dict[str, Any] = {}
    value = column.meta.get("classification")
    if isinstance(value, str) and value.strip():
        # a word that is no column class (a tier, `confidential`) is refused by
        # declared_column, never skipped: the column would fall to the classifier's guess
        flat = {k: column.meta[k] for k in ("classification", "pii_type", "sensitivity")
                if k in column.meta}
    tagged = [t.lower() for t in column.tags if t.lower() in {k.value for k in ColumnKind}]
    if merged and "classification" not in merged:
        # a namespace block of `pii_type`/`sensitivity` alone takes its class from the flat
        # meta or a column tag (`tags: [pii]` + `floe: {pii_type: email}`); with neither,
        # declared_column refuses it (it must not default to public)
        if "classification" in flat:
            merged["classification"] = flat["classification"]
            source += " + meta"
        elif tagged:
            merged["classification"] = tagged[0]
            source += " + tags"
    if not merged and flat:
        merged, source = flat, "meta"
    if not merged:
        if not tagged:
            return None
        merged = {"classification": tagged[0]}
        source = "tags"
    stricter = _strictest([*(column.meta[n].get("classification") for n in NAMESPACES
                             if isinstance(column.meta.get(n), Mapping)),
                           flat.get("classification"), *tagged], merged.get("classification"))
    if stricter is not None:
        # declarations that disagree: the strictest holds (`tags: [pii]` beside
        # `floe: {classification: public}` read as public before)
        merged = {**merged, "classification": stricter}
        source += f" (stricter {stricter} of the column's declarations)"
    return merged, source


def _strictest(declared: list[Any], chosen: Any) -> str | None:
    """The class among ``declared`` stricter than ``chosen`` (by the classifier's
    :data:`~lacuna.classify.names.PRECEDENCE`: the more protective class wins), or None when
    none is (or ``chosen`` is no class: :func:`declared_column` refuses it)."""
    def rank(value: Any) -> int:
        try:
            return PRECEDENCE[ColumnKind.parse(value)]
        except (ConfigError, ValueError, TypeError):
            return -1

    floor = rank(chosen)
    if floor < 0:
        return None
    best = max(declared, key=rank, default=None)
    return ColumnKind.parse(best).value if best is not None and rank(best) > floor else None


def declared_column(node: DbtNode, column: DbtColumn) -> ColumnClass | None:
    """The class a column's meta or tags declare, or ``None``.

    Raises:
        ConfigError: a declaration with an unknown class or sensitivity; the message names the
            node's file and the column.
    """
    found = declaration(column)
    if found is None:
        return None
    merged, source = found
    # a column's meta is written in the node's properties YAML (dbt's patch_path), not its SQL
    where = node.patch_path or node.original_file_path or node.unique_id
    fix = "see docs/dbt.md for the floe:/lacuna: column meta"
    for namespace in NAMESPACES:
        if f"meta.{namespace}" in merged:
            msg = (f"{where}: {node.name}.{column.name}: meta.{namespace} is "
                   f"{merged[f'meta.{namespace}']!r}, not a mapping; write it as "
                   f"`{namespace}: {{classification: <class>, pii_type: ..., sensitivity: ...}}`"
                   f"; {fix}")
            raise ConfigError(msg)
    if "classification" not in merged:
        # fail closed: `floe: {pii_type: email}` without a class must not read as public
        allowed = ", ".join(k.value for k in ColumnKind)
        msg = (f"{where}: {node.name}.{column.name}: {source} declares "
               f"{', '.join(sorted(merged)) or 'nothing'} but no classification; add "
               f"`classification:` ({allowed}) to it; {fix}")
        raise ConfigError(msg)
    try:
        kind = ColumnKind.parse(merged["classification"])
        data = {"sensitivity": DEFAULT_SENSITIVITY[kind].value, **merged}
        declared = ColumnClass.from_dict(data, layer=Layer.DECLARED)
    except (ConfigError, ValueError, TypeError) as exc:
        hint = ""
        try:
            tier = Tier.parse(merged["classification"])
        except (ConfigError, ValueError, TypeError):
            pass
        else:  # a table's word on a column
            hint = (f" ({tier.value} is a table tier: on a column write the column's class, "
                    f"or set the tier in {node.name}'s own meta)")
        msg = (f"{where}: {node.name}.{column.name}: {source}: {exc}{hint}; see docs/dbt.md "
               "for the floe:/lacuna: column meta")
        raise ConfigError(msg) from None
    return replace(declared, confidence=1.0, reasoning=f"declared in dbt {source} ({where})",
                   evidence=(Evidence(source="declared", rule=f"dbt:{source}",
                                      detail=f"{node.name}.{column.name} in {where}"),))


def table_declaration(node: DbtNode) -> tuple[Tier, tuple[str, ...], tuple[str, ...]]:
    """The floor tier, governance tags and reasons a node's own meta and tags declare."""
    floor, tags, reasons = Tier.PUBLIC, [], []
    # TABLE_META_KEYS and TABLE_LACUNA_KEYS name what is read here (lacuna.dbt.verify checks them)
    candidates: list[tuple[str, Any, Any]] = [("meta", node.meta.get("classification"),
                                               node.meta.get("tags"))]
    lac = node.meta.get("lacuna")
    if isinstance(lac, Mapping):
        candidates.append(("meta.lacuna", lac.get("tier") or lac.get("classification"),
                           lac.get("tags")))
    for where, tier_value, tag_values in candidates:
        if isinstance(tier_value, str) and tier_value.strip():
            try:
                tier = Tier.parse(tier_value)
            except ConfigError as exc:
                msg = (f"{node.original_file_path or node.unique_id}: {node.name}: "
                       f"{where}.classification: {exc}")
                raise ConfigError(msg) from None
            if tier > floor:
                floor = tier
                reasons.append(f"{tier.value} declared in dbt {where} of {node.name}")
        if isinstance(tag_values, str):
            tag_values = [tag_values]
        if isinstance(tag_values, Sequence):
            tags += [str(t).upper() for t in tag_values]
    tags += [t.upper() for t in node.tags if governance_tag(t)]
    return floor, unique(tags), tuple(reasons)


def governance_tag(tag: str) -> bool:
    """Whether a node's dbt tag is a governance tag (upper case, or a known one like ``pii``)."""
    return tag.isupper() or tag.lower() in KNOWN_TAGS


def classify_project(
    project: DbtProject,
    config: ClassificationConfig | None = None,
    *,
    sampler: Sampler | None = None,
) -> ProjectClassification:
    """Classify every model, seed, snapshot and source, parents first."""
    config = config or ClassificationConfig()
    sample = sampler or seed_sampler(project)
    done: dict[str, NodeClassification] = {}
    for node in project.topological():
        parents = [done[p] for p in node.depends_on if p in done]
        done[node.unique_id] = _classify_node(project, node, parents, config, sample, done)
    return ProjectClassification(project=project, nodes=MappingProxyType(done))


def _classify_node(
    project: DbtProject,
    node: DbtNode,
    parents: Sequence[NodeClassification],
    config: ClassificationConfig,
    sampler: Sampler,
    done: Mapping[str, NodeClassification] | None = None,
) -> NodeClassification:
    floor, tags, reasons = table_declaration(node)
    notes: list[str] = []
    declared = {c.name: d for c in node.columns.values()
                if (d := declared_column(node, c)) is not None}
    traced: dict[str, ColumnClass] = {}
    edges: tuple[ColumnEdge, ...] = ()
    order: list[str] = []
    guessed = False  # untraceable SQL: the parents' worst case, not a column's own lineage
    unnamed: ColumnClass | None = None
    # parents of no known column (a source whose YAML lists none): whatever the SQL takes
    # from them, traced or not, carries no class
    unread = tuple(p.node.name for p in parents if not p.classification.columns) \
        if node.compiled_sql else ()
    if parents or node.compiled_sql:  # SQL without parents may still read relations
        inherited_table = combine([p.classification for p in parents], config,
                                  names=[p.node.name for p in parents])
        floor = max(floor, inherited_table.floor)
        tags = unique([*tags, *inherited_table.table_tags])
        traced_out = _trace(project, node, parents, config, done or {})
        if isinstance(traced_out, str):
            guessed = True
            notes.append(traced_out)
            # what it reads outside the project (a hard-coded table, read_parquet('…')) is no
            # parent: the parents' worst case says nothing of it (fail closed: unknown); a
            # project relation it names outside depends_on is a parent of the guess
            foreign, named = _sql_reads(project, node, done or {})
            unread = (*unread, *foreign)
            ids = {p.node.unique_id for p in parents}
            extra = [n for n in named if n.node.unique_id not in ids]
            if extra:
                inherited_table = combine([p.classification for p in (*parents, *extra)],
                                          config, names=[p.node.name for p in
                                                         (*parents, *extra)])
            # fail closed: the table is at least as sensitive as its most sensitive parent
            # (the join rule), also when its columns are listed nowhere; and every undeclared
            # column may carry anything a parent carried
            floor = max(floor, inherited_table.tier)
            tags = unique([*tags, *inherited_table.tags])
            worst = _most_sensitive(inherited_table.columns.values(), config)
            order = _output_names(project, node, inherited_table.columns)
            if worst is not None:
                unnamed = replace(worst, layer=Layer.INHERITED, reasoning=(
                    f"inherited the most sensitive parent column: {traced_out}"))
                traced = dict.fromkeys([*node.columns, *order], unnamed)
        else:
            traced, edges, order = traced_out
            unnamed = _unnamed(node, traced, config, notes)
    opaque: ColumnClass | None = None
    if unread:  # fail closed until the parents' columns are declared
        opaque = _unknown(node, unread, notes)
        floor = max(floor, config.tier_for(opaque.classification, opaque.sensitivity))
        reasons = (*reasons, f"PROPRIETARY (fail closed): {node.name} reads "
                   f"{', '.join(unread)}, whose columns Lacuna does not know")
        # a `*` Lacuna could not expand is no column: the built ones take `opaque` (unnamed)
        traced = {n: c for n, c in traced.items() if n != "*"}
        order = [n for n in order if n != "*"]
        unnamed = _most_sensitive([c for c in (unnamed, opaque) if c is not None], config)
    # one column per name, case aside: warehouses fold the case of identifiers, and dbt's YAML
    # may spell a column otherwise than the SQL builds it (`Member_Code` for member_code): the
    # first spelling (the SQL's, the CSV header's) is the column's, and what is declared or
    # traced under another is that column's, so a declaration cannot dodge the overrule check
    spelling: dict[str, str] = {}
    for name in [*order, *seed_header(project, node), *node.columns]:
        spelling.setdefault(name.lower(), name)
    names = list(spelling.values())
    declared = _respelled(declared, spelling, config)
    traced = _respelled(traced, spelling, config)
    suggested: dict[str, ColumnClass] = {}
    unknown = [n for n in names if n not in declared and n not in traced]
    # where data enters the project (seeds, sources: nothing upstream to inherit from), a
    # declaration below personal is checked against the column's sampled values
    lowish = [n for n in declared if not declared[n].is_personal and n not in traced] \
        if node.resource_type in VALUE_CHECKED else []
    samples = _sample(node, [*unknown, *lowish], sampler) if unknown or lowish else None
    if unknown:
        suggested = _suggest(node, unknown, samples, config)
    # untraceable code (SQL sqlglot cannot read, a Python model): the guess is what a column
    # may hold, and a declaration below it is overruled as well (fail closed: `email as
    # contact` in a Python model declared public). A SQL model whose manifest has no compiled
    # SQL yet (`dbt parse`) keeps its declarations: `dbt compile` makes it traceable
    checked = not guessed or bool(node.compiled_sql) or \
        node.original_file_path.lower().endswith(".py")
    overruled = [] if not checked else [
        Overruled(column=n, declared=declared[n], inherited=traced[n], guessed=guessed)
        for n in declared if n in traced and _lowers(declared[n], traced[n], config)]
    raised: dict[str, ColumnClass] = {}
    for n in lowish:
        values = samples.get(n) if samples else None
        shown = value_evidence(n, values, config) if values is not None else None
        if shown is not None and _lowers(declared[n], shown, config):
            overruled.append(Overruled(column=n, declared=declared[n], inherited=shown,
                                       by_values=True))
            raised[n] = shown
    for each in overruled:
        del declared[each.column]
        notes.append(f"{node.name}.{each.message}")
    columns: dict[str, ColumnClass] = {}
    for name in names:
        columns[name] = declared.get(name) or raised.get(name) or traced.get(name) or \
            suggested[name]
        if opaque is not None and name not in declared:
            columns[name] = _most_sensitive([columns[name], opaque], config) or opaque
    layer = Layer.DECLARED if declared else (Layer.INHERITED if traced else Layer.HEURISTIC)
    classification = rollup(columns, config, floor=floor, extra_tags=tags, reasoning=reasons,
                            layer=layer)
    return NodeClassification(
        node=node, classification=classification, declared=tuple(declared),
        inherited=tuple(n for n in names if n not in declared and n in traced),
        suggested=tuple(suggested), edges=edges, notes=tuple(notes),
        overruled=tuple(overruled), unnamed=unnamed, unknown_reads=unread,
        raised=tuple(raised))


UNNAMED = re.compile(r"_col_\d+")  # sqlglot's name for an output it cannot name
UNKNOWN_NOTE = "whose YAML lists no columns"  # in the note of _unknown
FOREIGN_NOTE = "outside the project"  # a relation no node builds, in unknown_reads' names
# table functions that read no stored data (a generated series, an unnested list)
_GENERATED = ("GenerateSeries", "GenerateDateArray", "GenerateTimestampArray", "Unnest")


def _sql_reads(project: DbtProject, node: DbtNode, done: Mapping[str, NodeClassification]
               ) -> tuple[tuple[str, ...], list[NodeClassification]]:
    """What ``node``'s compiled SQL reads: the relations no node of the project builds (a
    hard-coded ``raw.customers``, ``read_parquet('/hr/people.parquet')``), each as ``<name>
    (outside the project)``, whose columns Lacuna knows nothing of; and the classified nodes
    it names. Its own relation (an incremental model's ``{{ this }}``) and CTEs are not
    foreign. SQL sqlglot cannot parse names nothing here, unless the node has no parent whose
    worst case stands for it."""
    import sqlglot
    from sqlglot import exp
    from sqlglot.errors import SqlglotError

    sql = node.compiled_sql
    if not sql or node.original_file_path.lower().endswith(".py"):
        return (), []
    dialect = project.adapter_type or None
    try:
        statements = [s for s in sqlglot.parse(sql, read=dialect) if s is not None]
    except (SqlglotError, ValueError, RecursionError):
        return ((), []) if node.depends_on else ((f"what its SQL reads ({FOREIGN_NOTE}: "
                                                  "Lacuna cannot parse it)",), [])
    known = {uid: tuple(p.lower() for p in (n.database, n.schema, n.table) if p)
             for uid, n in [*((u, c.node) for u, c in done.items()),
                            (node.unique_id, node)]}
    out: list[str] = []
    named: dict[str, NodeClassification] = {}
    for statement in statements:
        ctes = {c.alias_or_name.lower() for c in statement.find_all(exp.CTE)}
        for table in statement.find_all(exp.Table):
            if not table.name:  # a table function
                if type(table.this).__name__ not in _GENERATED:
                    out.append(f"{table.this.sql(dialect=dialect)} ({FOREIGN_NOTE})")
                continue
            parts = tuple(p.lower() for p in (table.catalog, table.db, table.name) if p)
            if len(parts) == 1 and parts[0] in ctes:
                continue
            hits = [uid for uid, k in known.items()
                    if len(parts) <= len(k) and k[-len(parts):] == parts]
            if not hits:
                out.append(f"{'.'.join(parts)} ({FOREIGN_NOTE})")
            named.update((uid, done[uid]) for uid in hits if uid in done)
    return tuple(dict.fromkeys(out)), list(named.values())


def unknown_fix(unread: Sequence[str]) -> str:
    """How to let Lacuna know the columns of ``unread`` (NodeClassification.unknown_reads)."""
    if any(FOREIGN_NOTE in u for u in unread):
        return ("declare each relation outside the project as a dbt source with its columns "
                "and their meta.floe classification (public ones too), read it through "
                "source(), list the columns of a source whose YAML lists none, then run "
                "`dbt parse`")
    return (f"list the columns of {', '.join(unread)} in its YAML with their meta.floe "
            "classification (public ones too), then run `dbt parse`")


def _unknown(node: DbtNode, unread: Sequence[str], notes: list[str]) -> ColumnClass:
    """The class of what a node takes from parents of no known column (a source whose YAML
    lists none) or relations outside the project: unknown, so governed as PROPRIETARY
    personal data (pii, high) until they are declared; with a note that says what to
    declare."""
    parents = ", ".join(unread)
    outside = f" or {FOREIGN_NOTE}" if any(FOREIGN_NOTE in u for u in unread) else ""
    why = (f"{node.name} reads {parents}, {UNKNOWN_NOTE}{outside}: Lacuna does not know "
           "what it holds, so every column it may take from there is governed as pii (high, "
           f"PROPRIETARY) until they are declared: {unknown_fix(unread)}")
    notes.append(why)
    return ColumnClass(classification=ColumnKind.PII, sensitivity=Sensitivity.HIGH,
                       confidence=0.0, layer=Layer.INHERITED,
                       reasoning=f"unknown (fail closed): {why}",
                       evidence=(Evidence(source="dbt", rule="dbt:unknown-columns",
                                          detail=f"{node.name} reads {parents}"),))


def _unnamed(node: DbtNode, traced: Mapping[str, ColumnClass], config: ClassificationConfig,
             notes: list[str]) -> ColumnClass | None:
    """The most sensitive class of the traced outputs without a name of their own (an
    expression without an alias, a pattern of columns): the warehouse names them otherwise
    (`upper(email)`, the columns the pattern matched), so the classification's name is not
    the built column's; with a note that says how to name them."""
    nameless = [n for n in traced if UNNAMED.fullmatch(n)]  # listed in YAML or not
    if not nameless:
        return None
    notes.append(f"{node.name}: output column(s) {', '.join(nameless)} of the compiled SQL "
                 "have no name Lacuna can know (an expression without `as <name>`, or "
                 "COLUMNS()/a pattern): every built column the classification does not name "
                 "is governed as the most sensitive of them; alias each expression, and list "
                 "pattern-selected columns, to name them")
    return _most_sensitive([traced[n] for n in nameless], config)


def _respelled(columns: Mapping[str, ColumnClass], spelling: Mapping[str, str],
               config: ClassificationConfig) -> dict[str, ColumnClass]:
    """``columns`` keyed by each name's spelling in ``spelling`` (case aside); two that meet
    keep the more sensitive."""
    out: dict[str, ColumnClass] = {}
    for name, col in columns.items():
        key = spelling.get(name.lower(), name)
        if key not in out or _most_sensitive([out[key], col], config) is col:
            out[key] = col
    return out


def _lowers(declared: ColumnClass, inherited: ColumnClass, config: ClassificationConfig) -> bool:
    """Whether a declaration would lower what a column inherits: it stands when it is at least
    as strict (tier, then sensitivity) and, if the column inherits personal data (PII, PHI),
    is personal too (``phi`` over ``pii`` stands; ``identifier`` or ``financial`` at
    ``critical``, which may roll up to the same tier, would drop the personal class and its
    tags: the rule of :func:`lacuna.lineage.rules.held`). An inherited ``public`` never
    overrules anything."""
    if inherited.classification is ColumnKind.PUBLIC:
        return False
    if inherited.is_personal and not declared.is_personal:
        return True

    def strictness(c: ColumnClass) -> tuple[Tier, Sensitivity]:
        return config.tier_for(c.classification, c.sensitivity), c.sensitivity

    return strictness(declared) < strictness(inherited)


def _relation_key(node: DbtNode) -> str:
    parts = [p for p in (node.database, node.schema, node.table) if p]
    return ".".join(parts)


def _trace(
    project: DbtProject,
    node: DbtNode,
    parents: Sequence[NodeClassification],
    config: ClassificationConfig,
    done: Mapping[str, NodeClassification],
) -> tuple[dict[str, ColumnClass], tuple[ColumnEdge, ...], list[str]] | str:
    """Column classes from the compiled SQL, or the reason it could not be traced.

    The SQL is traced against the parents' relations and, since dbt inlines an ephemeral
    model as a CTE that reads that model's own parents, those of the ancestors behind
    ephemeral parents. SQL that reads a relation outside ``depends_on`` (a hard-coded table
    name, a hand-edited manifest) is traced again against every node classified so far."""
    if not node.compiled_sql:
        return (f"{node.name}: no compiled SQL in the manifest (run `dbt compile` or `dbt "
                "build`); undeclared columns inherit the most sensitive parent column")
    from lacuna.lineage.sql import classify_sql

    dialect = project.adapter_type if project.adapter_type in ("duckdb", "postgres", "snowflake",
                                                               "spark") else None
    reads = _with_ephemeral_ancestors(parents, done)
    try:
        out = classify_sql(node.compiled_sql, schema=_schema(reads), dialect=dialect,
                           namespace=project.adapter_type or "dbt", config=config)
    except RecursionError:  # nested deeper than Python's stack: untraceable, fail closed
        return (f"{node.name}: compiled SQL could not be traced (nested too deep for Lacuna "
                "to read: flatten its subqueries into CTEs)")
    except LacunaError as exc:
        if len(reads) == len(done):
            return f"{node.name}: compiled SQL could not be traced ({exc})"
        try:
            out = classify_sql(node.compiled_sql, schema=_schema(done.values()),
                               dialect=dialect, namespace=project.adapter_type or "dbt",
                               config=config)
        except (LacunaError, RecursionError):
            return f"{node.name}: compiled SQL could not be traced ({exc})"
    result = {name: replace(col, layer=Layer.INHERITED)
              for name, col in out.classification.columns.items()}
    return result, out.edges, list(out.columns)


def _output_names(project: DbtProject, node: DbtNode, parent_columns: Iterable[str]
                  ) -> list[str]:
    """The output column names of SQL that could not be traced, as far as its outer SELECT
    names them (a ``*`` stands for every parent column): so that an untraceable model whose
    columns no YAML lists still gets column classes for runtime governance to act on."""
    import sqlglot
    from sqlglot import exp
    from sqlglot.errors import SqlglotError

    if not node.compiled_sql:
        return []
    try:
        parsed = sqlglot.parse_one(node.compiled_sql, read=project.adapter_type or None)
    except (SqlglotError, ValueError, RecursionError):
        return []
    if not isinstance(parsed, exp.Query):  # not a query: nothing it names
        return []
    names = parsed.named_selects
    out = [n for n in names if n and n != "*"]
    return [*out, *parent_columns] if "*" in names else out


def _with_ephemeral_ancestors(parents: Sequence[NodeClassification],
                              done: Mapping[str, NodeClassification]
                              ) -> list[NodeClassification]:
    """``parents`` and, behind every ephemeral one, its own parents (transitively)."""
    found: dict[str, NodeClassification] = {p.node.unique_id: p for p in parents}
    todo = [p for p in parents if p.node.materialized == "ephemeral"]
    while todo:
        for uid in todo.pop().node.depends_on:
            if uid in done and uid not in found:
                found[uid] = done[uid]
                if done[uid].node.materialized == "ephemeral":
                    todo.append(done[uid])
    return list(found.values())


def _schema(nodes: Iterable[NodeClassification]) -> dict[str, Any]:
    schema: dict[str, Any] = {}
    for each in nodes:
        cols = each.classification.columns
        schema[_relation_key(each.node)] = dict(cols) if cols else each.classification
    return schema


def _most_sensitive(
    cols: Iterable[ColumnClass], config: ClassificationConfig
) -> ColumnClass | None:
    best: ColumnClass | None = None
    for col in cols:
        key = (config.tier_for(col.classification, col.sensitivity), col.sensitivity)
        if best is None or key > (config.tier_for(best.classification, best.sensitivity),
                                  best.sensitivity):
            best = col
    return best


def _sample(node: DbtNode, names: Sequence[str], sampler: Sampler
            ) -> Mapping[str, Sequence[Any]] | None:
    """The sampler's values of ``names`` (one call per node), or None when it has none."""
    try:
        return sampler(node, names) or None
    except LacunaError:
        return None


# Where a declaration is checked against sampled values: the nodes data enters the project by
# (models inherit from them, and their declarations are checked against that)
VALUE_CHECKED = ("seed", "source")
# The personal types whose values a strong recognizer (a format and its check: an e-mail's
# syntax, the SSN's number ranges, the card number's Luhn digit) tells apart from anything
# else, so that their match outweighs a lower declaration; and the share of the sampled
# (non-null) values that must be valid ones. Weaker evidence (a phone-like or name-like
# value, free text that contains one) never overrules a declaration: `lacuna dbt suggest`
# shows it for undeclared columns only.
STRONG_VALUE_TYPES = frozenset({"email", "ssn", "card_number", "national_id"})
STRONG_VALUE_RATIO = 0.5


def value_evidence(name: str, values: Sequence[Any], config: ClassificationConfig
                   ) -> ColumnClass | None:
    """What a column's sampled values are when a strong recognizer says so with high
    confidence (a :data:`STRONG_VALUE_TYPES` format, validated, in at least
    :data:`STRONG_VALUE_RATIO` of the sampled values, the column's values themselves rather
    than text around them), as a column class from the values alone (the column's name plays
    no part); None otherwise."""
    from lacuna.classify.combine import combine
    from lacuna.classify.heuristic import strong_recognizers
    from lacuna.classify.scan import column_sample, sample_values

    sample = column_sample(name, sample_values(values, config.sample_rows))
    if not len(sample):
        return None
    matches = [m for _, r in strong_recognizers() if (m := r.scan(sample)) is not None
               and m.mode == "column" and not m.below and not m.weak
               and m.ratio >= STRONG_VALUE_RATIO
               and getattr(r, "pii_type", None) in STRONG_VALUE_TYPES]
    if not matches:
        return None
    found = combine(name, None, matches, sample)
    if not found.is_personal:
        return None
    detail = "; ".join(m.detail for m in matches)
    return replace(found, layer=Layer.HEURISTIC,
                   reasoning=f"sampled values: {detail}")


def _suggest(
    node: DbtNode,
    names: Sequence[str],
    samples: Mapping[str, Sequence[Any]] | None,
    config: ClassificationConfig,
) -> dict[str, ColumnClass]:
    if samples is not None:
        samples = {n: samples[n] for n in names if n in samples}
    found = classify_columns(names, samples or None, config, cascade=False)
    out: dict[str, ColumnClass] = {}
    for name in names:
        col = found[name]
        description = node.columns[name].description if name in node.columns else ""
        if col.classification is ColumnKind.PUBLIC and description:
            by_text = classify_columns([description], None, config, cascade=False)[description]
            if by_text.classification is not ColumnKind.PUBLIC:
                col = replace(by_text, reasoning=f"from the description: {by_text.reasoning}",
                              confidence=min(by_text.confidence, 0.7))
        out[name] = col
    return out


def seed_header(project: DbtProject, node: DbtNode) -> list[str]:
    """A seed's column names from its CSV header (the YAML may list only some)."""
    if node.resource_type != "seed" or not node.original_file_path:
        return []
    try:
        with (project.project_dir / node.original_file_path).open(newline="",
                                                                  encoding="utf-8") as fh:
            return [h.strip() for h in next(csv.reader(fh), []) if h.strip()]
    except (OSError, UnicodeDecodeError, csv.Error):
        return []


def seed_sampler(project: DbtProject, rows: int = SEED_SAMPLE_ROWS) -> Sampler:
    """Sample values of seeds from their CSV files (no warehouse needed)."""

    def sample(node: DbtNode, names: Sequence[str]) -> Mapping[str, Sequence[Any]] | None:
        if node.resource_type != "seed" or not node.original_file_path:
            return None
        path = project.project_dir / node.original_file_path
        try:
            with path.open(newline="", encoding="utf-8") as fh:
                reader = csv.DictReader(fh)
                values: dict[str, list[Any]] = {n: [] for n in names}
                for i, row in enumerate(reader):
                    if i >= rows:
                        break
                    for n in names:
                        values[n].append(row.get(n))
        except (OSError, UnicodeDecodeError, csv.Error):
            return None
        return values

    return sample
