"""Spark's analyzed logical plan → classification and column lineage, by the shared rules.

A translator, with no rules of its own: each plan node becomes the call to
:mod:`lacuna.lineage.rules` the pandas integration makes for the same operation.

- a source (table, files, data in memory): its classification (:mod:`lacuna.spark.sources`);
- filters, sorts, limits, samples, repartitions, aliases of a plan: inherit;
- a projection that keeps some columns: :func:`~lacuna.lineage.rules.project`;
- a projection with new attributes (``withColumnRenamed``, ``select(col.alias(...))``,
  computed columns, UDFs, window functions, ``explode``): :func:`~lacuna.lineage.rules.reassign`;
  a new attribute carries the stricter class of every attribute its expression reads (Spark
  tracks attributes by id, so a rename cannot launder a column; a UDF is opaque, so its output
  is as sensitive as its inputs);
- joins and other nodes with several inputs: :func:`~lacuna.lineage.rules.combine`;
- unions: :func:`~lacuna.lineage.rules.combine`, columns matched by position;
- aggregations: :func:`~lacuna.lineage.rules.aggregate`, with the smallest group's size
  computed by Spark (a small job) only when personal data is involved and nothing else keeps
  the result PROPRIETARY.

A node it does not know with new attributes is handled as a projection whose new attributes read
everything (fail closed). Column lineage follows the same attribute ids down to the sources.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from lacuna.lineage import rules
from lacuna.lineage.records import EdgeKind
from lacuna.lineage.state import DataState, LineageNode
from lacuna.model import Classification, ColumnClass, ColumnKind, Layer, unique
from lacuna.spark import _jvm
from lacuna.spark.sources import Leaf, Sourced, classify_leaf, describe

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from lacuna.config import ClassificationConfig
    from lacuna.governor import Governor

# (leaf index, source column, how) — one step of a column's lineage
Origin = tuple[int, str, EdgeKind]

_CONSTANT = ColumnClass(classification=ColumnKind.PUBLIC, reasoning="a constant",
                        layer=Layer.INHERITED)


@dataclass(slots=True)
class _State:
    classification: Classification
    names: dict[int, str]  # exprId -> output name, in output order
    classes: dict[int, ColumnClass]
    origins: dict[int, frozenset[Origin]]


@dataclass(frozen=True, slots=True)
class Analysis:
    """A DataFrame's classification, its sources and each output column's lineage."""

    classification: Classification
    columns: tuple[str, ...]
    leaves: tuple[tuple[Leaf, Sourced], ...]
    lineage: Mapping[str, frozenset[Origin]] = field(default_factory=dict)


def named(analysis: Analysis, config: ClassificationConfig) -> tuple[Analysis, dict[str, str]]:
    """What ``analysis``'s column names hold, read as values (a file's header, a table's column
    names): :func:`lacuna.lineage.frames.with_labels`, the rule pandas, polars, pyarrow and
    DuckDB share.

    Returns ``analysis`` as a read or a write is decided and recorded on: ``(column labels)``
    added, and a name that is a value named ``(column N)`` in its classification and its
    lineage, and each source's names that are values named by their position in the source
    (its columns, its classification, the edges' source columns); ``columns`` is left as
    written (a table's label binds to them). And ``{name: record name}`` of the names written.
    """
    from lacuna.classify.header import named as named_classification
    from lacuna.classify.header import read_labels
    from lacuna.lineage.frames import with_labels

    state = with_labels(
        DataState(classification=analysis.classification,
                  lineage=LineageNode(name=None, operation="spark")),
        analysis.columns, config)
    names = dict(state.record_names)
    sources = [read_labels(leaf.columns, config).names(leaf.columns, [])
               for leaf, _ in analysis.leaves]
    leaves = tuple(
        (replace(leaf, columns=tuple(at.get(c, c) for c in leaf.columns)),
         replace(s, classification=named_classification(s.classification, at)))
        for (leaf, s), at in zip(analysis.leaves, sources, strict=True))
    lineage = {
        names.get(column, column): frozenset(
            (i, sources[i].get(c, c) if i < len(sources) else c, kind) for i, c, kind in found)
        for column, found in analysis.lineage.items()
    }
    return replace(analysis, classification=state.classification, leaves=leaves,
                   lineage=lineage), names


class _Translator:
    def __init__(self, gov: Governor, spark: SparkSession) -> None:
        self.gov = gov
        self.spark = spark
        self.config: ClassificationConfig = gov.config.classification
        self.leaves: list[tuple[Leaf, Sourced]] = []
        self._leaf_index: dict[str, int] = {}
        self._ctes: dict[int, _State] = {}  # a WITH clause's relations, by id
        # whether the plan reads values without an attribute: session variables, scalar and
        # LATERAL subqueries (see _hidden)
        self.hidden = False
        self._subqueries: dict[int, _State] = {}
        # the plan's string literals that are not PUBLIC by value (see literal_classes)
        self.literals: dict[str, ColumnClass] = {}

    # -- nodes ---------------------------------------------------------------------------------

    def visit(self, plan: Any) -> _State:
        kids = _jvm.children(plan)
        kind = _jvm.kind(plan)
        if kind == "CTERelationRef":
            return self.cte_ref(plan)
        if not kids:
            return self.leaf(plan)
        states = [self.visit(k) for k in kids]
        if kind == "CTERelationDef":
            self._ctes[int(plan.id())] = states[0]
        if kind == "WithCTE":  # its relations (visited first) are read where they are named
            return states[-1]
        if kind == "Aggregate":
            return self.aggregate(plan, states[0])
        if kind == "Union":
            return self.union(plan, states, kids)
        if len(states) == 1:
            return self.single(plan, states[0])
        return self.join(plan, states)

    def leaf(self, plan: Any) -> _State:
        leaf = describe(plan)
        found = classify_leaf(self.gov, self.spark, leaf)
        index = self._leaf_index.get(leaf.key)
        if index is None:
            index = self._leaf_index[leaf.key] = len(self.leaves)
            self.leaves.append((leaf, found))
        c = found.classification
        out = _jvm.output(plan)
        classes = {}
        for i, name in out:
            col = c.columns.get(name)
            classes[i] = col if col is not None else self._by_name(name)
        origins = {i: frozenset({(index, name, EdgeKind.IDENTITY)}) for i, name in out}
        return _State(c, dict(out), classes, origins)

    def cte_ref(self, plan: Any) -> _State:
        """A reference to a relation of a ``WITH`` clause: what the relation holds, its columns
        matched by position (the reference gives them new ids). Before, it was taken for a
        source of its own and sampled alone, which Spark cannot run: every governed ``WITH``
        query was refused as "could not decide"."""
        found = self._ctes.get(int(plan.cteId()))
        if found is None:
            msg = f"a WITH clause's relation {int(plan.cteId())} is read before it is defined"
            raise LookupError(msg)
        out = _jvm.output(plan)
        ids = list(found.names)
        classes = {i: found.classes[ids[pos]] for pos, (i, _) in enumerate(out)}
        origins = {i: found.origins[ids[pos]] for pos, (i, _) in enumerate(out)}
        return _State(found.classification, dict(out), classes, origins)

    def _by_name(self, name: str) -> ColumnClass:
        from lacuna.classify import classify_columns

        return classify_columns([name], config=self.config, cascade=False)[name]

    def single(self, plan: Any, child: _State) -> _State:
        out = _jvm.output(plan)
        new = [i for i, _ in out if i not in child.classes]
        names = dict(out)
        if not new:
            kept = list(names.values())
            classes = {i: child.classes[i] for i in names}
            origins = {i: child.origins[i] for i in names}
            if list(names) == list(child.names):
                return _State(child.classification, names, classes, origins)
            c = rules.project(child.classification, kept, self.config)
            return _State(c, names, classes, origins)
        done = self._anonymized(names, child)
        if done is not None:
            return done
        defined = self._definitions(plan)
        node_refs = _jvm.references(plan) or list(child.classes)
        classes, origins = {}, {}
        read_too: list[Classification] = []  # what subqueries and variables hold
        for i, _ in out:
            if i in child.classes:
                classes[i], origins[i] = child.classes[i], child.origins[i]
                continue
            # an attribute made without an alias (explode's outputs, a node Lacuna does not
            # know) reads everything the node's expressions read
            refs, renamed, expr = defined.get(i, (node_refs, False, None))
            hidden = self._hidden(plan if expr is None else None, expr)
            classes[i] = self._stricter([*(child.classes[r] for r in refs if r in child.classes),
                                         *(h.classes[j] for h in hidden for j in h.names)])
            origins[i] = frozenset(
                (leaf, col, kind if renamed else EdgeKind.TRANSFORMATION)
                for r in refs for leaf, col, kind in child.origins.get(r, ())
            ) | frozenset((leaf, col, EdgeKind.TRANSFORMATION) for h in hidden
                          for o in h.origins.values() for leaf, col, _ in o)
            read_too.extend(h.classification for h in hidden)
        assigned = _by_label(names, classes, self.config)
        removed = [n for n in child.classification.columns if n not in assigned]
        what = _jvm.kind(plan)
        c = rules.reassign(child.classification, assigned, self.config, removed=removed,
                           reason=f"{what}: columns keep the class of what they are made from")
        if read_too:  # a subquery's table-level class (floor, tags) comes along
            c = rules.combine([c, *read_too], self.config, columns=c.columns,
                              names=[what, *(["subquery"] * len(read_too))])
        return _State(c, names, classes, origins)

    def _anonymized(self, names: dict[int, str], child: _State) -> _State | None:
        """The projection ``lacuna.spark.anonymize`` made: its registered classification, and
        masking edges from the treated columns."""
        from lacuna.spark.anonymize import registered

        c = registered(frozenset(names))
        if c is None:
            return None
        by_name = {n: i for i, n in child.names.items()}
        classes, origins = {}, {}
        for i, name in names.items():
            if i in child.classes:
                classes[i], origins[i] = child.classes[i], child.origins[i]
                continue
            classes[i] = c.columns.get(name) or self._by_name(name)
            source = by_name.get(name)
            origins[i] = frozenset((leaf, col, EdgeKind.MASKING)
                                   for leaf, col, _ in child.origins.get(source, ())
                                   ) if source is not None else frozenset()
        return _State(c, names, classes, origins)

    def join(self, plan: Any, states: list[_State]) -> _State:
        out = _jvm.output(plan)
        classes: dict[int, ColumnClass] = {}
        origins: dict[int, frozenset[Origin]] = {}
        every = {i: s for s in states for i in s.classes}
        for i, _ in out:
            s = every.get(i)
            if s is not None:
                classes[i], origins[i] = s.classes[i], s.origins[i]
            else:  # fail closed: a new attribute of a multi-input node reads everything
                classes[i] = self._stricter(c for st in states for c in st.classes.values())
                origins[i] = frozenset(o for st in states for v in st.origins.values() for o in v)
        names = dict(out)
        c = rules.combine([s.classification for s in states], self.config,
                          columns=_by_label(names, classes, self.config),
                          names=[_jvm.kind(plan)] * len(states))
        return _State(c, names, classes, origins)

    def union(self, plan: Any, states: list[_State], kids: list[Any]) -> _State:
        out = _jvm.output(plan)
        outs = [_jvm.output(k) for k in kids]
        classes: dict[int, ColumnClass] = {}
        origins: dict[int, frozenset[Origin]] = {}
        for pos, (i, _) in enumerate(out):
            ids = [(s, o[pos][0]) for s, o in zip(states, outs, strict=True) if pos < len(o)]
            classes[i] = self._stricter(s.classes[j] for s, j in ids if j in s.classes)
            origins[i] = frozenset(x for s, j in ids for x in s.origins.get(j, ()))
        names = dict(out)
        c = rules.combine([s.classification for s in states], self.config,
                          columns=_by_label(names, classes, self.config),
                          names=["union input"] * len(states))
        return _State(c, names, classes, origins)

    def aggregate(self, plan: Any, child: _State) -> _State:
        grouping = _jvm.items(plan.groupingExpressions())
        grouping_ids = {int(g.exprId().id()) for g in grouping if _jvm.kind(g) ==
                        "AttributeReference"}
        keys: list[str] = []
        outputs: dict[str, str | None] = {}
        computed_keys: dict[str, ColumnClass] = {}
        classes: dict[int, ColumnClass] = {}
        origins: dict[int, frozenset[Origin]] = {}
        names: dict[int, str] = {}
        for e in _jvm.items(plan.aggregateExpressions()):
            i, name = int(e.exprId().id()), str(e.name())
            names[i] = name
            refs = _jvm.references(e)
            if _jvm.kind(e) == "AttributeReference" and i in grouping_ids:
                keys.append(name)
                classes[i] = child.classes.get(i) or self._stricter(())
                origins[i] = child.origins.get(i, frozenset())
                if child.names.get(i) != name:
                    computed_keys[name] = classes[i]
                continue
            fns = _aggregate_functions(e)
            cls = self._stricter([*(child.classes[r] for r in refs if r in child.classes),
                                  *(h.classes[j] for h in self._hidden(None, e)
                                    for j in h.names)])
            classes[i] = cls
            how = EdgeKind.AGGREGATION if fns else EdgeKind.TRANSFORMATION
            origins[i] = frozenset((leaf, col, how) for r in refs
                                   for leaf, col, _ in child.origins.get(r, ()))
            if not fns:  # an expression of the group keys: a key under a new name
                keys.append(name)
                computed_keys[name] = cls
            elif fns <= _COUNTS or not refs:  # only counts: a count, not the values counted
                outputs[name] = "*"
            elif len(refs) == 1 and refs[0] in child.names:
                outputs[name] = child.names[refs[0]]
                if outputs[name] in computed_keys or outputs[name] not in (
                        child.classification.columns):
                    outputs[name] = None
            else:
                outputs[name] = None
        parent = child.classification
        if computed_keys:
            parent = rules.reassign(parent, computed_keys, self.config,
                                    reason="group keys computed from columns keep their class")
        size = None
        if rules.involves_personal_data(parent, self.config) and self._may_downgrade(
                parent, keys, outputs):
            size = self._smallest_group(plan, grouping)
        c = rules.aggregate(parent, keys=keys, outputs=outputs, min_group_size=size,
                            config=self.config)
        return _State(c, names, classes, origins)

    def _may_downgrade(self, parent: Classification, keys: list[str],
                       outputs: Mapping[str, str | None]) -> bool:
        """Whether the group sizes matter: nothing personal among keys and outputs."""
        for key in keys:
            col = parent.columns.get(key)
            if col is None or col.is_personal:
                return False
        for source in outputs.values():
            if source == "*":
                continue
            col = parent.columns.get(source) if source is not None else None
            if col is None or col.is_personal:
                return False
        return True

    def _smallest_group(self, plan: Any, grouping: list[Any]) -> int:
        """Rows in the smallest group, counted by Spark; 0 (fail closed) when it cannot be."""
        from pyspark.sql import functions as F

        try:
            child = _jvm.dataframe_of(self.spark, plan.child())
            exprs = [F.expr(str(g.sql())) for g in grouping]
            counts = child.groupBy(*exprs).count() if exprs else child.groupBy().count()
            row = counts.agg(F.min("count")).first()
            return int(row[0]) if row is not None and row[0] is not None else 0
        except Exception as exc:  # the rule then keeps the source's tier
            import logging

            logging.getLogger(__name__).error(
                "could not count the groups of an aggregation (%s); its result keeps the "
                "source's classification (fail closed)", exc)
            return 0

    def _stricter(self, classes: Any) -> ColumnClass:
        best: ColumnClass | None = None
        for c in classes:
            best = rules.stricter(best, c, self.config)
        return best if best is not None else _CONSTANT

    # -- expressions ---------------------------------------------------------------------------

    def _hidden(self, plan: Any, expr: Any) -> list[_State]:
        """What ``expr`` (or every expression of ``plan``) reads besides attributes, as states
        whose columns are the values it can take: each scalar or LATERAL subquery (its plan,
        translated), each session variable (what was put in it, as
        :func:`lacuna.spark.statements.variable_class` remembers it), and each literal that was
        a statement's parameter value (its class, as
        :func:`lacuna.spark.statements.parameter_class` remembers it). Before, all read as
        constants: ``SELECT (SELECT max(email) FROM customers)``, a variable set from the
        e-mails and ``SELECT :x`` of an e-mail were PUBLIC."""
        if not self.hidden:
            return []
        from lacuna.classify.rollup import rollup
        from lacuna.spark.statements import parameter_class, variable_class

        found: list[_State] = []
        stack = [expr] if expr is not None else _jvm.items(plan.expressions())
        while stack:
            e = stack.pop()
            kind = _jvm.kind(e)
            if kind == "VariableReference":
                cls = variable_class(self.spark, str(e.identifier().name()))
                found.append(_State(rollup({"variable": cls}, self.config),
                                    {-1: "variable"}, {-1: cls}, {-1: frozenset()}))
                continue
            if kind == "Literal":  # a value bound as a statement's parameter, or written
                bound = parameter_class(self.spark, e)
                if bound is None and self.literals:
                    bound = self.literals.get(str(e.toString()))
                if bound is not None:
                    found.append(_State(rollup({"parameter": bound}, self.config),
                                        {-1: "parameter"}, {-1: bound}, {-1: frozenset()}))
                continue
            if kind in ("ScalarSubquery", "LateralSubquery"):
                key = int(e.exprId().id())
                if key not in self._subqueries:
                    self._subqueries[key] = self.visit(e.plan())
                found.append(self._subqueries[key])
            stack.extend(_jvm.items(e.children()))
        return found

    def _definitions(self, plan: Any) -> dict[int, tuple[list[int], bool, Any]]:
        """exprId of each attribute the node defines -> the exprIds its expression reads,
        whether it is a plain rename of one attribute, and the expression."""
        found: dict[int, tuple[list[int], bool, Any]] = {}
        for e in _jvm.items(plan.expressions()):
            _collect_aliases(e, found)
        return found


def _collect_aliases(expr: Any, found: dict[int, tuple[list[int], bool, Any]]) -> None:
    kind = _jvm.kind(expr)
    if kind == "Alias":
        renamed = _jvm.kind(expr.child()) == "AttributeReference"
        found[int(expr.exprId().id())] = (_jvm.references(expr), renamed, expr)
        return
    if kind == "AttributeReference":
        return
    for child in _jvm.items(expr.children()):
        _collect_aliases(child, found)


# aggregate functions whose result is a number of rows or values, not the values
_COUNTS = frozenset({"Count", "CountIf", "HyperLogLogPlusPlus"})


def _aggregate_functions(expr: Any) -> frozenset[str]:
    """The simple names of every aggregate function inside ``expr``: an output is a count only
    when all of them count (``concat(count(*), collect_list(email))`` holds the e-mails; taking
    the first function found called it a count, PUBLIC)."""
    if _jvm.kind(expr) == "AggregateExpression":
        return frozenset({_jvm.kind(expr.aggregateFunction())})
    found: frozenset[str] = frozenset()
    for child in _jvm.items(expr.children()):
        found |= _aggregate_functions(child)
    return found


def _by_label(names: Mapping[int, str], classes: Mapping[int, ColumnClass],
              config: ClassificationConfig) -> dict[str, ColumnClass]:
    """Column classes by output name; a name two attributes share takes the stricter class."""
    out: dict[str, ColumnClass] = {}
    for i, name in names.items():
        out[name] = rules.stricter(out.get(name), classes[i], config)
    return out


_DEEP_LOCK = threading.Lock()
_deep = [0, 0]  # [threads inside deep_recursion, the limit to put back when the last leaves]


@contextmanager
def deep_recursion(limit: int = 10_000) -> Iterator[None]:
    """Raise the process's recursion limit to at least ``limit`` while a plan is walked (a
    plan nests one level per operator). The limit is process-wide: it is raised by the first
    thread in and put back by the last one out, so threads walking plans together never
    leave it raised, nor lower it under another one's walk."""
    with _DEEP_LOCK:
        if _deep[0] == 0:
            _deep[1] = sys.getrecursionlimit()
            sys.setrecursionlimit(max(_deep[1], limit))
        _deep[0] += 1
    try:
        yield
    finally:
        with _DEEP_LOCK:
            _deep[0] -= 1
            if _deep[0] == 0:
                sys.setrecursionlimit(_deep[1])


def analyze(df: DataFrame, gov: Governor) -> Analysis:
    """The classification of ``df``, its sources and its column lineage."""
    from lacuna.spark.statements import has_parameters

    plan = _jvm.analyzed(df)
    translator = _Translator(gov, df.sparkSession)
    text = str(plan.toString()).lower()
    translator.literals = literal_classes(plan, translator.config)
    translator.hidden = ("variablereference(" in text or "subquery#" in text
                         or has_parameters(df.sparkSession) or bool(translator.literals))
    with deep_recursion():
        state = translator.visit(plan)
    lineage: dict[str, frozenset[Origin]] = {}
    for i, name in state.names.items():
        lineage[name] = lineage.get(name, frozenset()) | state.origins.get(i, frozenset())
    c = state.classification
    if c.reasoning and translator.leaves:
        sources = ", ".join(f"{leaf.label} ({s.classification.tier.value})"
                            for leaf, s in translator.leaves)
        c = _with_reason(c, f"sources: {sources}")
    return Analysis(classification=c, columns=tuple(state.names.values()),
                    leaves=tuple(translator.leaves), lineage=lineage)


MAX_LITERALS = 200  # distinct string literals of one plan classified by value
_LITERALS: dict[tuple[str, int], ColumnClass | None] = {}  # (value, id(config)) -> its class


def literal_classes(plan: Any, config: ClassificationConfig) -> dict[str, ColumnClass]:
    """The string literals written in ``plan``'s expressions (``F.lit(email)``, ``SELECT
    'ann@example.org' AS x``) that hold a value a strong recognizer validates, each with its
    class (classified as a pandas column of that one value is; read from the plan's JSON in one
    call to the JVM; a word list is no evidence for a constant: ``'Denver'`` is a city).
    Before, a literal read as a constant: an e-mail written in the query left as PUBLIC, while
    the same value bound as a parameter or in ``VALUES`` did not."""
    import json

    import pandas as pd

    from lacuna import _bypass
    from lacuna.classify.heuristic import classify_frame, data_in_names

    try:
        tree = json.loads(str(plan.toJSON()))
    except Exception:  # a node Spark cannot write as JSON: parameters and variables still count
        return {}
    values: list[str] = []
    stack: list[Any] = [tree]
    while stack and len(values) < MAX_LITERALS:
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(node)
        elif isinstance(node, dict):
            if str(node.get("class", "")).endswith(".Literal") and isinstance(
                    node.get("value"), str) and str(node.get("dataType", "")).startswith(
                    ("string", "varchar", "char")):
                if node["value"] not in values and data_in_names([node["value"]]):
                    values.append(node["value"])  # strong evidence only (sql_values)
            else:
                stack.extend(v for v in node.values() if isinstance(v, (list, dict)))
    found: dict[str, ColumnClass] = {}
    for value in values:
        key = (value, id(config))
        if key not in _LITERALS:
            with _bypass.bypass():
                c = classify_frame(pd.DataFrame({"value": [value]}), config=config,
                                   cascade=False).columns.get("value")
            if len(_LITERALS) >= 4096:
                _LITERALS.clear()
            _LITERALS[key] = c if c is not None and c.classification is not \
                ColumnKind.PUBLIC else None
        cls = _LITERALS[key]
        if cls is not None:
            found[value] = replace(cls, reasoning=f"a value written in the query: {cls.reasoning}")
    return found


def _with_reason(c: Classification, line: str) -> Classification:
    from dataclasses import replace

    return replace(c, reasoning=unique([*c.reasoning, line]))
