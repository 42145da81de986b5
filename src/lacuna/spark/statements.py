"""SQL through ``spark.sql``: writes (``INSERT``, ``CTAS``, ``RTAS``, ``INSERT OVERWRITE
DIRECTORY``) are parsed and decided before Spark executes them (``spark.sql`` runs commands
eagerly); queries are governed reads."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from lacuna import _bypass
from lacuna.spark import _jvm

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from lacuna.spark.writes import Target

WRITE_STATEMENTS = frozenset({
    "InsertIntoStatement", "CreateTableAsSelect", "ReplaceTableAsSelect", "InsertIntoDir",
    "AppendData", "OverwriteByExpression", "OverwritePartitionsDynamic",
})


def govern_sql(spark: SparkSession, text: str, run: Callable[[], DataFrame]) -> DataFrame:
    try:
        parsed = spark._jsparkSession.sessionState().sqlParser().parsePlan(text)
    except Exception:  # not valid SQL: Spark says why
        with _bypass.bypass():
            return run()
    kind = _jvm.kind(parsed)
    if kind in WRITE_STATEMENTS:
        from lacuna.spark.writes import govern_write

        target, query = statement_target(spark, parsed)
        df = _jvm.dataframe_of(spark, query)
        return govern_write(df, target, f"spark.sql:{kind}", run)
    with _bypass.bypass():
        result = run()
    if _is_query(parsed):
        from lacuna.spark.reads import govern_read

        govern_read(result, "spark.sql")
    return result


# Statements that read or change the catalog's metadata only (names, types, properties, DDL
# text), never a table's rows: run as they are, not analysed as queries.
_METADATA = (
    "SetCommand", "CreateNamespace", "DropTable", "CreateTable", "SetTableProperties",
    "ShowTables", "DescribeRelation", "DropNamespace", "UseStatement", "SetCatalogAndNamespace",
    "CreateView", "CreateViewStatement", "RefreshTable", "UnsetTableProperties",
    "ShowTableProperties", "ShowColumns", "ShowCreateTable", "ShowNamespaces", "ShowViews",
    "ShowFunctions", "DescribeColumn", "DescribeNamespace")


def _is_query(parsed: Any) -> bool:
    kind = _jvm.kind(parsed)
    return not kind.endswith(("Command", "Statement")) and kind not in _METADATA


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
        return table_target(spark, name, append=append), parsed.query()
    if kind in ("CreateTableAsSelect", "ReplaceTableAsSelect"):
        name = ".".join(_name_parts(parsed.name()))
        return table_target(spark, name, append=False,
                            path=_spec_location(parsed)), parsed.query()
    name = ".".join(_name_parts(parsed.table()))
    return table_target(spark, name, append=kind == "AppendData"), parsed.query()


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
