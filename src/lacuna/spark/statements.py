"""SQL through ``spark.sql``: writes (``INSERT``, ``CTAS``, ``RTAS``, ``INSERT OVERWRITE
DIRECTORY``) are parsed and decided before Spark executes them (``spark.sql`` runs commands
eagerly); queries are governed reads.

A write is decided when it is the statement, also after a ``WITH`` clause (``WITH t AS (…)
INSERT …``) and as the literal text of ``EXECUTE IMMEDIATE '…'`` (bound to its ``USING``
values, :func:`_using`). A write Lacuna cannot decide
before it runs (one of several in a multi-insert ``FROM t INSERT … INSERT …``, or ``EXECUTE
IMMEDIATE`` of a variable) is refused, nothing run, and so is a SQL script (``BEGIN … END``),
whose statements Spark runs one after the other where Lacuna cannot decide them: each of those
forms ran its writes undecided before.

Session variables carry what was put in them: ``SET VAR v = (SELECT …)``, ``DECLARE v DEFAULT
…`` and ``EXECUTE IMMEDIATE '…' INTO v`` remember the class of the value's column
(:func:`variable_class`), and a query reading ``v`` takes it (:mod:`lacuna.spark.plan`). Before,
a variable read as a constant: e-mails put in one left as PUBLIC."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from lacuna import _bypass
from lacuna.model import ColumnClass, ColumnKind, Layer, Sensitivity
from lacuna.spark import _jvm

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from lacuna.spark.writes import Target

WRITE_STATEMENTS = frozenset({
    "InsertIntoStatement", "CreateTableAsSelect", "ReplaceTableAsSelect", "InsertIntoDir",
    "AppendData", "OverwriteByExpression", "OverwritePartitionsDynamic",
})


def govern_sql(spark: SparkSession, text: str, run: Callable[[], DataFrame],
               params: Any = None, *, using: list[Parameter] | None = None) -> DataFrame:
    """``spark.sql(text, params)`` decided (see the module docstring); ``run`` runs it.
    ``using``: the statement is the one an ``EXECUTE IMMEDIATE … USING`` runs, bound to those
    values (:func:`_using`) instead of ``params``."""
    bound = using if using is not None else parameters(spark, params)
    if bound and using is None:  # what the values hold, for this statement and what is derived
        remember_parameters(spark, bound)
    try:
        parsed = spark._jsparkSession.sessionState().sqlParser().parsePlan(text)
    except Exception:  # not valid SQL: Spark says why
        with _bypass.bypass():
            return run()
    kind = _jvm.kind(parsed)
    ctes = None
    if kind == "UnresolvedWith" and _jvm.kind(_jvm.children(parsed)[0]) in WRITE_STATEMENTS:
        ctes, parsed = parsed, _jvm.children(parsed)[0]  # WITH t AS (…) INSERT …
        kind = _jvm.kind(parsed)
    if kind in WRITE_STATEMENTS:
        from lacuna.spark.writes import govern_write

        target, query = statement_target(spark, parsed)
        if ctes is not None:  # the query reads the WITH clause's relations
            query = ctes.withNewChildren(_seq(spark, [query]))
        df = _jvm.dataframe_of(spark, _bound(spark, query, bound))
        return govern_write(df, target, f"spark.sql:{kind}", run)
    if kind == "UnresolvedExecuteImmediate":
        inner = _immediate_text(parsed)
        if inner is not None:  # decided as the statement it runs, bound to its USING values
            using = _using(spark, parsed, bound)
            into = [_last(v) for v in _jvm.items(parsed.targetVariables())]
            if into:  # EXECUTE IMMEDIATE 'SELECT …' INTO v: v holds what the query reads
                query = _query(spark, inner)
                if query is not _UNKNOWN:
                    query = _bound(spark, query, using)
                run = _setting(spark, into, query, run)
            return govern_sql(spark, inner, run, using=using)
    if kind == "CompoundBody":
        _refuse_nested(kind, "its statements")
    nested = _nested_write(parsed)
    if nested is not None:
        _refuse_nested(kind, nested)
    if kind == "SetVariable":
        run = _setting(spark, [_last(v) for v in _jvm.items(parsed.targetVariables())],
                       parsed.sourceQuery(), run)
    elif kind == "CreateVariable":
        text = str(parsed.defaultExpr().originalSQL() or "").strip()
        run = _setting(spark, [_last(n) for n in _jvm.items(parsed.names())],
                       _query(spark, f"SELECT {text}") if text else None, run)
    with _bypass.bypass():
        result = run()
    if _is_query(parsed):
        from lacuna.spark.reads import govern_read

        govern_read(result, "spark.sql")
    return result


_VARIABLES: dict[tuple[int, str], ColumnClass] = {}  # (session, variable) -> what it holds
_VARIABLES_LOCK = threading.Lock()
_CONSTANT = ColumnClass(classification=ColumnKind.PUBLIC, reasoning="a constant",
                        layer=Layer.INHERITED)


def variable_class(spark: SparkSession, name: str) -> ColumnClass:
    """The class of what the session variable ``name`` holds, as it was set through
    ``spark.sql`` on this governed session; a variable Lacuna did not see set (before the
    session was governed) is taken as personal (fail closed)."""
    with _VARIABLES_LOCK:
        found = _VARIABLES.get((_session(spark), name.lower()))
    if found is not None:
        return found
    return ColumnClass(
        classification=ColumnKind.PII, sensitivity=Sensitivity.HIGH, layer=Layer.INHERITED,
        reasoning=(f"session variable {name}: Lacuna did not see what was put in it, so it is "
                   "taken as personal (fail closed); set it again with SET VAR through "
                   "spark.sql on the governed session"))


def _session(spark: SparkSession) -> int:
    return int(spark._jsparkSession.hashCode())


def _last(node: Any) -> str:
    """A variable's name from its parsed reference (``v``, ``session.v``, ``system.session.v``)."""
    for attr in ("nameParts", "multipartIdentifier"):
        try:
            parts = [str(p) for p in _jvm.items(getattr(node, attr)())]
        except Exception:  # py4j: no such method on this node
            continue
        if parts:
            return parts[-1].lower()
    return str(node.toString()).strip("'").split(".")[-1].lower()


def _query(spark: SparkSession, text: str) -> Any:
    """The parsed plan of ``text``, or :data:`_UNKNOWN` when Spark cannot parse it (the
    statement then fails in Spark, or sets what Lacuna takes as personal)."""
    try:
        return spark._jsparkSession.sessionState().sqlParser().parsePlan(text)
    except Exception:  # Spark says why when it runs the statement
        return _UNKNOWN


_UNKNOWN = object()


def _setting(spark: SparkSession, names: list[str], query: Any,
             run: Callable[[], DataFrame]) -> Callable[[], DataFrame]:
    """``run``, which sets the variables ``names`` to the columns of ``query``, then remembers
    what they hold (:func:`_remember`): once it succeeded, since a statement that fails leaves
    them as they were."""

    def then() -> DataFrame:
        result = run()
        _remember(spark, names, query)
        return result

    return then


def _remember(spark: SparkSession, names: list[str], query: Any) -> None:
    """Variable ``names[i]`` holds column ``i`` of ``query`` (None: a constant): its class,
    from the query's plan; when Lacuna cannot tell, each is taken as personal (fail closed)."""
    from lacuna.governor import current
    from lacuna.spark.plan import analyze

    classes: list[ColumnClass | None] = [_CONSTANT] * len(names)
    if query is _UNKNOWN:
        classes = [None] * len(names)
    elif query is not None:
        try:
            analysis = analyze(_jvm.dataframe_of(spark, query), current())
            c = analysis.classification
            classes = [c.columns.get(analysis.columns[i]) if i < len(analysis.columns)
                       else None for i in range(len(names))]
        except Exception:  # Spark refuses the statement itself, or Lacuna cannot read it
            classes = [None] * len(names)
    key = _session(spark)
    with _VARIABLES_LOCK:
        for name, cls in zip(names, classes, strict=True):
            if cls is None:
                _VARIABLES.pop((key, name), None)  # unknown: fail closed
            else:
                _VARIABLES[(key, name)] = cls


def _bound(spark: SparkSession, query: Any, bound: list[Parameter]) -> Any:
    """``query`` with the statement's parameters (:func:`parameters`; ``:name`` for named ones,
    ``?`` for those named by their position) bound as Spark binds them, so the write's query
    can be analysed (before, a parameterized write failed with UNBOUND_SQL_PARAMETER, and one
    with a Column value, ``F.lit(…)`` or ``create_map(…)``, could not run governed at all)."""
    if not bound:
        return query
    jvm = spark._jvm
    assert jvm is not None
    analysis = jvm.org.apache.spark.sql.catalyst.analysis
    exprs = _seq(spark, [p.expression for p in bound])
    if not all(p.name.isdigit() for p in bound):
        return analysis.NameParameterizedQuery(query, _seq(spark, [p.name for p in bound]),
                                               exprs)
    return analysis.PosParameterizedQuery(query, exprs)


def _using(spark: SparkSession, parsed: Any, bound: list[Parameter]) -> list[Parameter]:
    """The values ``EXECUTE IMMEDIATE '…' USING …`` binds to the statement it runs, as Spark
    binds them: each argument folded to its value (a session variable's, an expression of
    constants, a parameter of the outer statement, ``bound``), named by its alias (``v AS
    name``) or its position. Each value is remembered with the class of what the argument reads
    (a variable: what was put in it) and of the value itself (:func:`remember_parameters`): a
    query holding it, and a write of it, take that class. Before, the values read as constants:
    an e-mail put in a variable and passed with ``USING`` left as PUBLIC. An argument Lacuna
    cannot fold raises :class:`~lacuna.errors.IntegrationError` (nothing runs)."""
    args = _jvm.items(parsed.args())
    if not args:
        return []
    from lacuna.errors import IntegrationError
    from lacuna.governor import current
    from lacuna.spark.plan import analyze

    jvm = spark._jvm
    assert jvm is not None
    catalyst = jvm.org.apache.spark.sql.catalyst
    logical, analysis = catalyst.plans.logical, catalyst.analysis
    no_alias = getattr(getattr(jvm.scala, "None$"), "MODULE$")
    named = [a if _jvm.kind(a) == "Alias" else analysis.UnresolvedAlias(a, no_alias) for a in args]
    probe = _bound(spark, logical.Project(_seq(spark, named), logical.OneRowRelation()), bound)
    try:
        with _bypass.bypass():
            df = _jvm.dataframe_of(spark, probe)
            folded = df._jdf.queryExecution().optimizedPlan()
        values = [_jvm.children(e)[0] if _jvm.kind(e) == "Alias" else e
                  for e in _jvm.items(folded.projectList())]
        if _jvm.kind(folded) != "Project" or any(_jvm.kind(v) != "Literal" for v in values):
            msg = f"not folded to constants: {str(folded.toString())[:200]}"
            raise ValueError(msg)
        analysis_of = analyze(df, current())
        reads = [analysis_of.classification.columns.get(c) for c in analysis_of.columns]
        if not len(args) == len(values) == len(reads):
            msg = f"{len(args)} arguments, {len(values)} values, {len(reads)} columns analysed"
            raise ValueError(msg)
    except Exception as exc:
        if type(exc).__module__.startswith("pyspark"):
            raise  # Spark's own refusal of the arguments says what and how
        msg = (f"spark.sql: Lacuna could not tell what EXECUTE IMMEDIATE … USING passes to the "
               f"statement it runs ({type(exc).__name__}: {str(exc).splitlines()[0][:200]}), so "
               "it was refused and nothing was run. Pass session variables, literals or "
               "parameters in USING.")
        raise IntegrationError(msg) from exc
    using = [Parameter(str(a.name()) if _jvm.kind(a) == "Alias" else str(i), v, v)
             for i, (a, v) in enumerate(zip(args, values, strict=True))]
    remember_parameters(spark, using)
    config, key = current().config.classification, _session(spark)
    with _VARIABLES_LOCK:
        for p, read in zip(using, reads, strict=True):
            if p.expression.value() is None or read is None:
                continue
            if read.classification is not ColumnKind.PUBLIC:
                keep_parameter(key, str(p.expression.sql()), read, config)
    return using


@dataclass(frozen=True, slots=True)
class Parameter:
    """One of a statement's parameters: its name (a positional one: its position), the
    expression Spark binds (``lit(value)``), and that expression as the session resolved it
    (a collection constructor folded into one literal)."""

    name: str
    expression: Any
    resolved: Any


def parameters(spark: SparkSession, params: Any) -> list[Parameter]:
    """``spark.sql``'s ``args`` as Spark binds them: each value through ``lit`` (a plain value, a
    list, or a Column of a literal or of collection constructors such as ``create_map``,
    ``array``, ``struct``), resolved and checked by the session
    (``resolveAndValidateParameters``), positional ones named by their position. Empty for no
    ``args`` or a form pyspark refuses itself (not a dict or a list: pyspark says why when it
    runs). A value Spark does not take as a parameter (a column
    reference) raises Spark's ``INVALID_SQL_ARG``, and one Lacuna cannot resolve raises
    :class:`~lacuna.errors.IntegrationError`: nothing runs (fail closed)."""
    if not params or not isinstance(params, (dict, list)):
        return []
    from pyspark.errors import PySparkException
    from pyspark.sql.classic.column import _to_java_column
    from pyspark.sql.functions import lit

    from lacuna.errors import IntegrationError

    jvm = spark._jvm
    assert jvm is not None
    items = (list(params.items()) if isinstance(params, dict)
             else [(str(i), v) for i, v in enumerate(params)])
    try:
        converter = spark._jsparkSession.converter()  # a Column's node -> its expression
        exprs = {str(name): converter.apply(_to_java_column(lit(value)).node())
                 for name, value in items}
        resolved = spark._jsparkSession.resolveAndValidateParameters(
            jvm.org.apache.spark.api.python.PythonUtils.toScalaMap(jvm.java.util.HashMap(exprs)))
        return [Parameter(name, expr, resolved.apply(name)) for name, expr in exprs.items()]
    except PySparkException:  # Spark's own refusal (INVALID_SQL_ARG): it says what and how
        raise
    except Exception as exc:  # py4j: a form this Spark does not bind the same way
        msg = (f"spark.sql: Lacuna could not bind the statement's parameters (args=) as Spark "
               f"binds them ({type(exc).__name__}: {str(exc).splitlines()[0][:200]}), so it "
               "cannot tell what they put into the statement; it was refused and nothing was "
               "run. Pass plain values (strings, numbers, booleans) or columns of literals "
               "(F.lit, F.array, F.create_map, F.struct).")
        raise IntegrationError(msg) from exc


MAX_PARAMETERS = 100_000  # distinct parameter values remembered per session


@dataclass(slots=True)
class _Remembered:
    """A session's parameter values that are not PUBLIC: each value's SQL text -> its class
    (one shared object per kind of class), at most :data:`MAX_PARAMETERS` of them; past that,
    ``overflow``: the strictest class of those no longer told apart, which every literal of
    the session then takes (fail closed: the memory is bounded, a value is never forgotten)."""

    values: dict[str, ColumnClass]
    overflow: ColumnClass | None = None


# session -> its parameter values' classes; _VARIABLES_LOCK guards it
_PARAMETERS: dict[int, _Remembered] = {}
_KINDS: dict[tuple[Any, ...], ColumnClass] = {}  # one object per kind of class, not per value


def keep_parameter(session: int, text: str, cls: ColumnClass, config: Any) -> None:
    """Remember that the literal ``text`` was bound on ``session`` with class ``cls`` (the
    stricter of it and what was remembered); the caller holds ``_VARIABLES_LOCK``. Before,
    every value was kept in one mapping for the process's life: a session binding a million
    e-mails kept a million entries, and each plan walk scanned them all."""
    from lacuna.lineage.rules import stricter

    held = _PARAMETERS.setdefault(session, _Remembered(values={}))
    kind = (cls.classification, cls.pii_type, cls.sensitivity, cls.layer)
    shared = _KINDS.setdefault(kind, cls)
    if text in held.values or len(held.values) < MAX_PARAMETERS:
        held.values[text] = stricter(held.values.get(text), shared, config)
        return
    held.overflow = replace(stricter(held.overflow, shared, config), reasoning=(
        f"more than {MAX_PARAMETERS:,} distinct values that are not PUBLIC were bound as "
        "parameters on this Spark session; Lacuna no longer tells them apart, so every literal "
        "takes the strictest class of those (fail closed): run such statements in a new "
        f"session, or bind fewer distinct values ({shared.reasoning})"))


def remembered_parameter(session: int, text: str) -> ColumnClass | None:
    """The class remembered for the literal ``text`` on ``session`` (None: none, or PUBLIC)."""
    with _VARIABLES_LOCK:
        held = _PARAMETERS.get(session)
        if held is None:
            return None
        found = held.values.get(text)
        return found if found is not None else held.overflow


def remember_parameters(spark: SparkSession, bound: list[Parameter]) -> None:
    """Classify the values of a statement's parameters (:func:`parameters`), each literal in
    them by its value and the parameter's name, as a column of a pandas read is, and remember
    the ones that are not PUBLIC for this session: a query that holds such a literal takes its
    class (:func:`parameter_class`, :mod:`lacuna.spark.plan`); a collection constructor folded
    into one literal takes the stricter class of its values. Before, a bound value read as a
    constant: ``spark.sql("SELECT :x AS v", args={"x": email})`` was PUBLIC, and its write to
    ~/Downloads was allowed."""
    import pandas as pd

    from lacuna.classify.heuristic import classify_frame
    from lacuna.governor import current
    from lacuna.lineage.rules import stricter

    config = current().config.classification
    key = _session(spark)
    for p in bound:
        label = "parameter" if p.name.isdigit() else p.name
        found: dict[str, ColumnClass] = {}
        for literal in _literals(p.expression):
            if literal.value() is None:
                continue
            with _bypass.bypass():
                c = classify_frame(pd.DataFrame({label: [str(literal.toString())]}),
                                   config=config, cascade=False)
            cls = c.columns.get(label)
            if cls is not None and cls.classification is not ColumnKind.PUBLIC:
                found[str(literal.sql())] = cls
        if not found:
            continue
        whole = None
        for cls in found.values():
            whole = stricter(whole, cls, config)
        if _jvm.kind(p.resolved) == "Literal" and whole is not None:
            found.setdefault(str(p.resolved.sql()), whole)
        with _VARIABLES_LOCK:
            for text, cls in found.items():
                keep_parameter(key, text, cls, config)


def parameter_class(spark: SparkSession, literal: Any) -> ColumnClass | None:
    """The class remembered for a literal that was a parameter's value on this session (None:
    it was none, or a PUBLIC one)."""
    if not _PARAMETERS:
        return None
    return remembered_parameter(_session(spark), str(literal.sql()))


def has_parameters(spark: SparkSession) -> bool:
    """Whether a parameter that is not PUBLIC was bound on this session."""
    with _VARIABLES_LOCK:
        return _session(spark) in _PARAMETERS


def _literals(expr: Any) -> list[Any]:
    found, stack = [], [expr]
    while stack:
        e = stack.pop()
        if _jvm.kind(e) == "Literal":
            found.append(e)
            continue
        stack.extend(_jvm.items(e.children()))
    return found


def _seq(spark: SparkSession, values: list[Any]) -> Any:
    """A Scala ``Seq`` of JVM objects."""
    jvm = spark._jvm
    assert jvm is not None
    return jvm.org.apache.spark.api.python.PythonUtils.toSeq(jvm.java.util.ArrayList(values))


def _immediate_text(parsed: Any) -> str | None:
    """The statement ``EXECUTE IMMEDIATE`` runs, when it is a string literal (None: a variable
    or an expression, known only when it runs)."""
    try:
        stmt = parsed.sqlStmtStr()
    except Exception:  # py4j: another shape on this Spark version
        return None
    if _jvm.kind(stmt) != "Literal" or stmt.value() is None:
        return None
    return str(stmt.value().toString())


def _nested_write(plan: Any) -> str | None:
    """The kind of a write statement (or ``EXECUTE IMMEDIATE``) anywhere in a parsed statement
    that is not itself a write: a multi-insert's ``Union``, a SQL script's statements."""
    stack = [plan]
    while stack:
        node = stack.pop()
        kind = _jvm.kind(node)
        if kind in WRITE_STATEMENTS or kind == "UnresolvedExecuteImmediate":
            return kind
        if kind == "SingleStatement":  # a SQL script's statement
            stack.append(node.parsedPlan())
        stack.extend(_jvm.children(node))
    return None


def _refuse_nested(kind: str, nested: str) -> None:
    """A write Lacuna cannot decide before Spark runs it: refused, nothing run."""
    from lacuna.errors import IntegrationError

    what = {"Union": "a multi-insert (FROM … INSERT … INSERT …)",
            "UnresolvedExecuteImmediate": "EXECUTE IMMEDIATE of a variable"}.get(kind, kind)
    how = ("Run each write as its own spark.sql(\"INSERT …\") call (or EXECUTE IMMEDIATE of "
           "the statement's text, or df.write), which is decided before it runs.")
    msg = (f"spark.sql: {what} runs a write ({nested}) that Lacuna cannot decide before Spark "
           f"runs it, so it is refused and nothing was run. {how}")
    if kind == "CompoundBody":
        msg = ("spark.sql: a SQL script (BEGIN … END) runs its statements inside Spark, where "
               "Lacuna cannot decide them one by one (its writes, the variables it sets from "
               "data), so it is refused and nothing was run. Run each statement as its own "
               "spark.sql(…) call, which is decided before it runs.")
    raise IntegrationError(msg)


# Statements that read or change the catalog's metadata only (names, types, properties, DDL
# text), never a table's rows: run as they are, not analysed as queries.
_METADATA = (
    "SetCommand", "CreateNamespace", "DropTable", "CreateTable", "SetTableProperties",
    "ShowTables", "DescribeRelation", "DropNamespace", "UseStatement", "SetCatalogAndNamespace",
    "CreateView", "CreateViewStatement", "RefreshTable", "UnsetTableProperties",
    "ShowTableProperties", "ShowColumns", "ShowCreateTable", "ShowNamespaces", "ShowViews",
    "ShowFunctions", "DescribeColumn", "DescribeNamespace", "CreateVariable", "DropVariable",
    "SetVariable")


def _is_query(parsed: Any) -> bool:
    """Whether a parsed statement is a query (its result rows are a read). A command (Spark's
    ``Command``, e.g. ``CREATE TEMPORARY VIEW … USING``) is not: analysing its result again
    ran it again, and the read was refused as "could not decide"."""
    kind = _jvm.kind(parsed)
    if kind.endswith(("Command", "Statement")) or kind in _METADATA:
        return False
    try:
        command = parsed.getClass().getClassLoader().loadClass(
            "org.apache.spark.sql.catalyst.plans.logical.Command")
        return not bool(command.isInstance(parsed))
    except Exception:  # py4j: cannot tell; by its name
        return True


def _name_parts(node: Any) -> list[str]:
    for attr in ("multipartIdentifier", "nameParts"):
        try:
            return [str(p) for p in _jvm.items(getattr(node, attr)())]
        except Exception:  # py4j: no such method on this node
            continue
    return [str(node.toString())]


def statement_target(spark: SparkSession, parsed: Any) -> tuple[Target, Any]:
    """Where a parsed write statement writes, and its query (an unresolved plan)."""
    from lacuna.spark.sources import local_path
    from lacuna.spark.writes import path_target, table_target

    kind = _jvm.kind(parsed)
    if kind == "InsertIntoDir":
        location = _jvm.option(parsed.storage().locationUri())
        path = str(location.toString()) if location is not None else "unknown"
        return path_target(local_path(path) or path, append=False), parsed.child()
    if kind == "InsertIntoStatement":
        name = ".".join(_name_parts(parsed.table()))
        append = not bool(parsed.overwrite())
        return table_target(spark, name, append=append, views=True), parsed.query()
    if kind in ("CreateTableAsSelect", "ReplaceTableAsSelect"):
        name = ".".join(_name_parts(parsed.name()))
        return table_target(spark, name, append=False,
                            path=_spec_location(parsed)), parsed.query()
    name = ".".join(_name_parts(parsed.table()))
    return table_target(spark, name, append=kind == "AppendData", views=True), parsed.query()


def _spec_location(parsed: Any) -> str | None:
    """A CTAS/RTAS's own location (``LOCATION '…'``, or ``OPTIONS (path '…')``): the table is
    written there, not into the catalog's managed folder."""
    try:
        spec = parsed.tableSpec()
    except Exception:  # py4j: no table spec on this node
        return None
    try:
        location = _jvm.option(spec.location())
        if location is not None:
            return str(location)
    except Exception:  # py4j: no location on this spec
        pass
    for attr in ("properties", "options"):
        try:
            found = _jvm.string_map(getattr(spec, attr)()).get("path")
        except Exception:  # py4j: not a Map[String, String] on this version
            continue
        if found:
            return found
    try:  # UnresolvedTableSpec: OPTIONS as expressions (literals)
        for pair in _jvm.items(spec.optionExpression().options().toSeq()):
            if str(pair._1()).lower() == "path":
                return str(pair._2().toString()).strip("'")
    except Exception:  # py4j: no option expressions on this spec
        pass
    return None
