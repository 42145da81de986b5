"""Governed writes: decided before any Spark job runs, then labelled and recorded.

Every writer (``DataFrameWriter.save/parquet/csv/json/orc/text/xml/saveAsTable/insertInto/
jdbc``, ``DataFrameWriterV2.create/replace/createOrReplace/append/overwrite/
overwritePartitions``, SQL ``INSERT``/``CTAS`` through ``spark.sql``) becomes one
:class:`~lacuna.model.Operation` (an export) handed to ``Governor.execute`` with a
:class:`~lacuna.lineage.recording.Produced`: the classification comes from the plan
(:mod:`lacuna.spark.plan`), nothing runs on a denial, and on success the result's classification
is stored where the next read finds it (table properties, or a signed sidecar beside local
files) and the run with its column edges goes to the lineage store.

A write carries the retention clock (``first_seen``, :mod:`lacuna.lineage.clock`) in a path's
sidecar or a table's label: the earliest of the clock its destination had (an overwrite or an
append does not restart it), the clock of each source read at a tier no higher than the
write's (as its trusted sidecar or table label says), and now (:func:`write_clock`); taken
before the job runs, since the job replaces what the destination's label is bound to.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from lacuna import _bypass
from lacuna.errors import IntegrationError
from lacuna.lineage.recording import Produced, as_stored
from lacuna.lineage.records import ColumnEdge, DatasetRef, DatasetVersion
from lacuna.model import Action, Destination, DestinationType, Scope, Source
from lacuna.spark import _frames, _jvm, expected, labels
from lacuna.spark.sources import CATALOG_NAMESPACE, forget, local_path, path_ref, table_ref

if TYPE_CHECKING:
    from datetime import datetime

    from pyspark.sql import DataFrame, SparkSession

    from lacuna.exceptions.store import WrittenFile
    from lacuna.governor import Governor
    from lacuna.model import Classification
    from lacuna.spark.plan import Analysis

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Target:
    """Where a write goes."""

    kind: str  # "path", "table" or "jdbc"
    name: str  # the path / URI, the qualified table name, or the JDBC URL#table
    ref: DatasetRef
    append: bool = False
    table_path: str | None = None  # an external table's location
    replaces: bool = False  # a path written with mode("overwrite"), all of it replaced
    # a table's partitions located outside its folder: a write may put files there
    partitions: tuple[str, ...] = ()
    # why the catalog could not say where an existing table's files are (None: it could):
    # the write's destination is then unknown (:func:`destination` refuses to name one)
    unreadable: str | None = None
    # a table of another catalog (v2): where that catalog keeps its data (catalog_place)
    place: str | None = None

    @property
    def key(self) -> str:
        """How the query listener recognises this write's event."""
        if self.kind == "table":
            return f"table:{self.name}"
        path = local_path(self.name) if self.kind == "path" else None
        return os.path.abspath(os.path.expanduser(path)) if path is not None else self.name


def qualify(spark: SparkSession, name: str) -> str:
    """``catalog.database.table`` for a table name as the user wrote it. The session catalog
    is named as Spark resolves it, whatever the case (``SPARK_CATALOG.Default.T`` is
    ``spark_catalog.default.t``): before, another case was taken as another catalog (v2), whose
    tables were decided as managed, so an external table in ~/Downloads written to as
    ``SPARK_CATALOG.default.t`` took e-mails as internal storage."""
    parts = [p.strip().strip("`") for p in _split(name)]
    current = _current_catalog(spark)
    if len(parts) == 1 and current != CATALOG_NAMESPACE:  # USE CATALOG x: x's namespace
        parts = [current, *_current_namespace(spark), parts[0]]
    elif len(parts) == 1:
        parts = [CATALOG_NAMESPACE, spark.catalog.currentDatabase(), parts[0]]
    elif len(parts) == 2 and _catalog_class(spark, parts[0]) is not None:
        pass  # <catalog>.<table>: a table of a catalog configured by that name
    elif len(parts) == 2:
        parts = [current, *parts]
    if parts[0].lower() == CATALOG_NAMESPACE:
        parts[0] = CATALOG_NAMESPACE
    if parts[0] == CATALOG_NAMESPACE and len(parts) == 3 and not _case_sensitive(spark):
        parts = [CATALOG_NAMESPACE, parts[1].lower(), parts[2].lower()]
    return ".".join(parts)


def _current_catalog(spark: SparkSession) -> str:
    try:
        return str(spark.catalog.currentCatalog())
    except Exception:  # py4j: the session catalog, Spark's default
        return CATALOG_NAMESPACE


def _current_namespace(spark: SparkSession) -> list[str]:
    try:
        return [str(p) for p in
                spark._jsparkSession.sessionState().catalogManager().currentNamespace()]
    except Exception:  # py4j: cannot tell; the namespace Spark starts with
        return ["default"]


def _catalog_class(spark: SparkSession, catalog: str) -> str | None:
    """The plug-in configured for ``catalog`` (``spark.sql.catalog.<name>``), or None."""
    if catalog.lower() == CATALOG_NAMESPACE:
        return CATALOG_NAMESPACE
    try:
        found = spark.conf.get(f"spark.sql.catalog.{catalog}", None)
    except Exception:  # py4j: cannot tell; taken as configured (decided as unknown)
        return "unknown"
    return None if found is None else str(found)


# a table of another catalog (v2) that says neither a JDBC URL nor a warehouse
UNLOCATED_CATALOG = "unknown://a-catalog-lacuna-cannot-locate"


def catalog_place(spark: SparkSession, catalog: str) -> str | None:
    """Where the tables of ``catalog`` keep their data, for a catalog other than the session
    catalog (v2: ``spark.sql.catalog.<name>``): its JDBC URL (``….url``, JDBCTableCatalog), its
    warehouse (``….warehouse``, Iceberg and Hadoop catalogs), else a place Lacuna cannot name
    (decided as unknown, fail closed). Before, every such table was decided as a managed,
    internal database that keeps labels, and a catalog configured on a database on another
    host took e-mails as internal storage. None: the session catalog."""
    if catalog == CATALOG_NAMESPACE:
        return None
    for key in ("url", "warehouse"):
        try:
            found = spark.conf.get(f"spark.sql.catalog.{catalog}.{key}", None)
        except Exception:  # py4j: cannot tell
            found = None
        if found:
            return str(found)
    return UNLOCATED_CATALOG


def _case_sensitive(spark: SparkSession) -> bool:
    """Whether the session catalog keeps the case of names (``spark.sql.caseSensitive``;
    by default it lowercases them)."""
    try:
        return str(spark.conf.get("spark.sql.caseSensitive", "false")).lower() == "true"
    except Exception:  # py4j: cannot tell; Spark's default
        return False


def _split(name: str) -> list[str]:
    out, cur, quoted = [], "", False
    for ch in name:
        if ch == "`":
            quoted = not quoted
        elif ch == "." and not quoted:
            out.append(cur)
            cur = ""
            continue
        cur += ch
    out.append(cur)
    return out


def path_target(path: str, *, append: bool, replaces: bool = False) -> Target:
    return Target("path", path, path_ref(path), append=append, replaces=replaces)


def table_target(spark: SparkSession, name: str, *, append: bool,
                 path: str | None = None, views: bool = False) -> Target:
    """A catalog table; ``path`` is the location the write gives it (``option("path", …)``,
    ``LOCATION``), else where the table's files lie when that is not the catalog's managed
    warehouse (:func:`table_location`): a write into it is a write to that folder, not to a
    managed database. ``views``: the write resolves ``name`` as a temporary view first
    (``insertInto``, ``INSERT INTO``, ``writeTo(…).append()``; ``saveAsTable`` and ``CREATE``
    do not): a temporary view over files is a path, the write goes to its files; one over a
    JDBC table is that database table (:func:`_view_target`)."""
    viewed = _view_target(spark, name, append=append) if views else None
    if viewed is not None:  # a temporary view over a data source: a write to it
        return viewed
    full = qualify(spark, name)
    if path is None:
        try:
            path = table_location(spark, name)
        except IntegrationError as exc:  # decided as a write to an unknown place: refused
            log.error("%s", exc)
            return Target("table", full, table_ref(full), append=append, unreadable=str(exc))
    else:
        path = local_path(path) or path
    return Target("table", full, table_ref(full), append=append, table_path=path,
                  partitions=_outside_partitions(spark, full),
                  place=catalog_place(spark, full.split(".", 1)[0]))


def _outside_partitions(spark: SparkSession, name: str) -> tuple[str, ...]:
    """The locations of the existing table ``name``'s partitions outside its folder
    (:func:`lacuna.spark.sources.outside_partitions`): Spark writes a row of such a partition
    into that location (``ALTER TABLE … ADD PARTITION … LOCATION '~/Downloads/p'``), so the
    write is decided as a write there too (before, it was decided as the managed table, and
    the e-mails went into ~/Downloads)."""
    from lacuna.spark import _jvm
    from lacuna.spark.sources import UNLISTED, outside_partitions

    parts = name.split(".")
    if parts[0] != CATALOG_NAMESPACE or len(parts) != 3:
        return ()
    try:
        table = _catalog_table(spark, parts[1], parts[2])
        if table is None:  # no such table (or database: Spark refuses the write itself)
            return ()
        with _bypass.bypass():
            uri = _jvm.option(table.storage().locationUri())
    except Exception as exc:  # cannot tell where its partitions are: decided as unknown
        log.error("could not list the partitions of %s: %s", name, exc)
        return (UNLISTED,)
    return outside_partitions(table, None if uri is None else str(uri.toString()))


def _session_catalog(spark: SparkSession) -> Any:
    """The session catalog (``SessionCatalog``) of ``spark``, whose entries say where a
    table's files are."""
    return spark._jsparkSession.sessionState().catalog()


def _catalog_table(spark: SparkSession, database: str, table: str) -> Any:
    """The catalog entry (``CatalogTable``) of ``database.table`` in the session catalog, or
    None when there is no such table or no such database (asked as such: nothing else is taken
    as "not there").

    Raises:
        IntegrationError: the catalog cannot say (the entry of an existing table cannot be
            read: a permission error, a corrupt metastore entry, the metastore down).
    """
    try:
        with _bypass.bypass():
            catalog = _session_catalog(spark)
            if not catalog.databaseExists(database):
                return None
            ident = spark._jvm.org.apache.spark.sql.catalyst.TableIdentifier(  # type: ignore[union-attr]
                table, spark._jvm.scala.Some(database))  # type: ignore[union-attr]
            if not catalog.tableExists(ident):
                return None
            return catalog.getTableMetadata(ident)
    except Exception as exc:
        raise _unreadable(database, table, exc) from exc


def _unreadable(database: str, table: str, exc: BaseException) -> IntegrationError:
    first = (str(exc).splitlines() or [""])[0][:300]
    name = f"{CATALOG_NAMESPACE}.{database}.{table}"
    msg = (f"Spark's catalog could not say where the files of the table {name} are "
           f"({type(exc).__name__}: {first}), so Lacuna cannot tell where a write to it goes "
           "(an external table's folder, which may be outside governed storage, or the managed "
           "warehouse): the write is refused in enforce mode. Fix the catalog entry or its "
           "permissions (spark.catalog.getTable(name) must answer), or write to a path.")
    return IntegrationError(msg)


def table_location(spark: SparkSession, name: str) -> str | None:
    """Where the files of the table ``name`` lie when that is a folder of its own, not the
    catalog's managed warehouse (``spark.sql.warehouse.dir``): an external table's location
    (``CREATE TABLE … LOCATION``, ``saveAsTable`` with a path), a managed table moved out of
    the warehouse (``ALTER TABLE … SET LOCATION``), or, for a table not created yet, the folder
    its database puts it in (``CREATE DATABASE … LOCATION``). None: a table in the warehouse.

    Raises:
        IntegrationError: the catalog cannot say (:func:`_stored_location`).
    """
    found = _stored_location(spark, name)
    if found is None:
        return None
    location, external = found
    if not external and _in_warehouse(spark, location):
        return None
    return local_path(location) or location


# a temporary view over a data source Lacuna cannot name (neither files nor a JDBC table)
UNNAMED_SOURCE = "unknown://a-data-source-lacuna-cannot-name"


def _view_target(spark: SparkSession, name: str, *, append: bool) -> Target | None:
    """Where ``INSERT INTO`` a temporary view over a data source writes (``CREATE TEMPORARY VIEW
    … USING csv OPTIONS (path …)``, ``… USING jdbc OPTIONS (url …, dbtable …)``): the files it
    reads (a path target, labelled beside them), the database table of a JDBC view, or, for
    another source, a place Lacuna cannot name (decided as unknown, fail closed). Before, only
    files were seen: INSERT INTO a view over a JDBC table was decided as a write to a managed
    catalog table ("a database that keeps classification labels") and the rows went to the
    view's database, ``postgresql://`` on another host too. None: no such temporary view."""
    from lacuna.spark import _jvm
    from lacuna.spark.sources import describe

    try:
        with _bypass.bypass():
            if not spark.catalog.getTable(name).isTemporary:
                return None
            plan = spark._jsparkSession.table(name).queryExecution().analyzed()
    except Exception:  # no such table or view (yet)
        return None
    node = _jvm.leaf(plan)
    leaf = describe(node)
    if leaf.key.startswith("file:"):
        return path_target(leaf.path or leaf.label, append=append, replaces=not append)
    if _jvm.kind(node) != "LogicalRelation" or leaf.table is not None:
        return None  # a view of a query or a catalog table: Spark refuses INSERT INTO it
    relation = node.relation()
    if _jvm.kind(relation) == "JDBCRelation":
        options = relation.jdbcOptions()
        return jdbc_target(str(options.url()), str(options.tableOrQuery()), append=append)
    return path_target(UNNAMED_SOURCE, append=append)


def _stored_location(spark: SparkSession, name: str) -> tuple[str, bool] | None:
    """The location of the table ``name`` (its own, or ``<database location>/<table>`` for a
    table not created yet), as a URI, and whether the table is external; None for a table of
    another catalog (v2), a view, or a table in a database that does not exist (Spark refuses
    the write itself).

    Raises:
        IntegrationError: the catalog cannot say where the table is (its entry or its
            database's cannot be read). Before, any error was taken as "no location": the
            write was decided as one to a managed table in the warehouse, and an external table
            in ~/Downloads whose entry could not be read took e-mails as internal storage.
    """
    from lacuna.spark import _jvm

    parts = qualify(spark, name).split(".")
    if parts[0] != CATALOG_NAMESPACE or len(parts) != 3:
        return None  # another catalog (v2): it keeps its own storage
    table = _catalog_table(spark, parts[1], parts[2])
    if table is None and not _database_exists(spark, parts[1], parts[2]):
        return None  # Spark refuses the write itself
    try:
        with _bypass.bypass():
            if table is not None:
                uri = _jvm.option(table.storage().locationUri())
                external = str(table.tableType().name()).upper() == "EXTERNAL"
                return None if uri is None else (_uri_text(uri), external)
            base = _uri_text(_session_catalog(spark).getDatabaseMetadata(parts[1]).locationUri())
    except Exception as exc:
        raise _unreadable(parts[1], parts[2], exc) from exc
    return base.rstrip("/") + "/" + parts[2], False


def _database_exists(spark: SparkSession, database: str, table: str) -> bool:
    try:
        with _bypass.bypass():
            return bool(_session_catalog(spark).databaseExists(database))
    except Exception as exc:
        raise _unreadable(database, table, exc) from exc


def _uri_text(uri: Any) -> str:
    """A ``java.net.URI`` as Lacuna names places: a local path (decoded) or the URI."""
    if str(uri.getScheme() or "file") == "file":
        return str(uri.getPath())
    return str(uri.toString())


def _in_warehouse(spark: SparkSession, location: str) -> bool:
    """Whether ``location`` lies in the catalog's managed warehouse."""
    from urllib.parse import unquote

    warehouse = str(spark.conf.get("spark.sql.warehouse.dir", "") or "")
    if not warehouse:
        return False
    here, there = local_path(location), local_path(warehouse)
    there = unquote(there) if there is not None and warehouse.startswith("file:") else there
    if here is None or there is None:  # remote: by the URI
        return location.rstrip("/").startswith(warehouse.rstrip("/") + "/")
    here, there = os.path.realpath(here), os.path.realpath(there)
    return here != there and os.path.commonpath([here, there]) == there


def _listener_keys(spark: SparkSession, target: Target) -> tuple[str, ...]:
    """The keys under which the query listener may report this governed write: the target's,
    and for a catalog table the folder its files go to. A ``saveAsTable`` creating a table that
    a temporary view's name shadows runs its insert as a second query, which Spark reports as a
    file write to that folder with no table: it was flagged UNGOVERNED (a Spark job, a second
    audit record saying policy would have denied it)."""
    if target.kind != "table" or target.unreadable is not None:
        return (target.key,)
    try:
        found = _stored_location(spark, target.name)
    except IntegrationError as exc:  # the write was decided; its folder's event is flagged
        log.error("%s", exc)
        found = None
    folder = local_path(found[0]) if found is not None else None
    if folder is None:
        return (target.key,)
    return (target.key, path_target(folder, append=target.append).key)


def jdbc_target(url: str, table: str, *, append: bool) -> Target:
    bare = url[5:] if url.lower().startswith("jdbc:") else url
    try:
        ref = DatasetRef.of(f"{bare}#{table}")
    except ValueError:
        ref = DatasetRef("jdbc", f"{bare}#{table}")
    return Target("jdbc", f"{url}#{table}", ref, append=append)


def destination(gov: Governor, target: Target) -> Destination:
    """The policy's ``input.destination``: files and JDBC URLs as everywhere in Lacuna; a
    catalog table without its own location is a managed, internal database that keeps
    classification labels (its properties)."""
    if target.kind == "path":
        return gov.destination(target.name)
    if target.kind == "jdbc":
        return gov.destination(target.name.split("#", 1)[0])
    if target.unreadable is not None:  # an external folder or the warehouse: cannot tell
        raise IntegrationError(target.unreadable)
    if target.place is not None:  # another catalog's storage (v2): its database or warehouse
        return gov.destination(target.place)
    if target.table_path is not None:
        return gov.destination(target.table_path)
    return Destination(
        uri=target.name, type=DestinationType.DATABASE, scope=Scope.INTERNAL, managed=True,
        classification_support=True,
        reasoning=(f"{target.name} is a table in Spark's catalog (internal, managed); Lacuna "
                   "keeps its classification in the table's properties."),
    )


def govern_write(df: DataFrame, target: Target, method: str, run: Callable[[], T], *,
                 purpose: str | None = None, exception_id: str | None = None,
                 code: Any = None) -> T:
    """Decide the write of ``df`` to ``target``, run it when allowed, label and record it. A
    table with partitions outside its folder: each such location is decided first, as a write
    there (:func:`_outside_partitions`), then the table; nothing runs until all are allowed."""
    if target.kind == "table" and target.partitions:
        from dataclasses import replace

        return _through_partitions(df, list(target.partitions), replace(target, partitions=()),
                                   method, run, purpose=purpose, exception_id=exception_id,
                                   code=code)
    from lacuna.governor import current
    from lacuna.spark.plan import analyze, named

    gov = current()
    frame = _frames.user_frame()
    try:
        analysis = analyze(df, gov)
        dest = destination(gov, target)
        analysis, names = named(analysis, gov.config.classification)
    except Exception as exc:  # Lacuna failed before deciding: enforce denies, others warn
        gov.internal_error(exc, action=Action.EXPORT, method=method)
        return run()
    c = analysis.classification
    written = tuple(names.get(n, n) for n in analysis.columns)
    op = gov.operation(
        Action.EXPORT, c,
        sources=[Source(name=leaf.label, classification=s.classification)
                 for leaf, s in analysis.leaves],
        destination=dest, method=method, code_location=_frames.code_location(frame),
        variable=_frames.variable_name(code if code is not None else df, frame),
        purpose=purpose, exception_id=exception_id,
    )
    produced = Produced(
        operation="spark.write", inputs=_inputs(analysis), outputs=(target.ref,),
        classification=c, columns=written,
        column_edges=_edges(analysis, target.ref),
        fingerprint=target.kind == "path" and local_path(target.name) is not None,
    )

    def write() -> T:
        where = _appended_folder(target) or (
            local_path(target.name) if target.kind == "path" else None)
        if where is None:
            return unlocked()
        from lacuna.exceptions.pathlock import path_lock

        with path_lock(where):  # what the sweep answers for is decided and recorded in turn
            return unlocked()

    def unlocked() -> T:
        before = UNREAD
        if target.kind == "table" and target.append:  # once allowed: no job before a denial
            try:
                before = _before_append(df.sparkSession, gov, target)
            except Exception as exc:  # enforce: refused, nothing runs; others: labelled after
                gov.internal_error(exc, action=Action.EXPORT, method=method)
        appended_to = _appended_folder(target)
        if appended_to is not None:  # the sweep must still answer for the folder
            from lacuna.exceptions import appends

            appends.check_append(gov, appended_to, exception_id, method=method,
                                 same=_through_folder(target, appended_to))
        replaced = None
        if target.kind == "path" and target.replaces and local_path(target.name) is not None:
            from lacuna.exceptions import appends

            replaced = appends.replacing(gov, str(local_path(target.name)), exception_id,
                                         folder=True)
        record = None
        if exception_id:  # before writing: the sweep deletes it when the exception ends
            record = remember_exception_write(gov, exception_id, target)
        # when its data was first seen: read before the job replaces the destination (its
        # sidecar says it only until then)
        try:
            seen = write_clock(df.sparkSession, gov, target, analysis)
        except IntegrationError as exc:  # enforce: refused, nothing runs; others: from now
            gov.internal_error(exc, action=Action.EXPORT, method=method)
            seen = write_clock(df.sparkSession, gov, target, analysis, keep=False)
        # its queries are told from any other write's by their number and what they write
        # (lacuna.spark.expected)
        window = expected.expect(df.sparkSession, _listener_keys(df.sparkSession, target),
                                 _written_plan(df))
        try:
            try:
                with _bypass.bypass():
                    result = run()
            finally:
                expected.finished(df.sparkSession, window)
            if record is not None:  # what was written: the sweep removes that directory only
                from lacuna.exceptions import files

                files.written(gov, record)
            if replaced is not None:  # the folder's content is gone: their records are closed
                from lacuna.exceptions import appends

                appends.supersede(gov, replaced, exception_id=exception_id, method=method)
            _label(df.sparkSession, gov, target, c, analysis, op.user.id, produced.run_id,
                   first_seen=seen, before=before)
        finally:  # an outside write caught meanwhile is re-labelled after this label
            expected.labelled(window)
        return result

    return gov.execute(op, write, produced=produced)


def _written_plan(df: DataFrame) -> Any:
    """The analyzed plan of what a governed write of ``df`` writes, which tells its listener
    events from another thread's write to the same target (:mod:`lacuna.spark.expected`);
    None when it cannot be read (logged: its window then claims any write to its target)."""
    try:
        return _jvm.analyzed(df)
    except Exception as exc:
        log.error("could not read the plan of a governed Spark write (%s): a write outside "
                  "Lacuna to its target while it runs is taken as its own", exc)
        return None


def _through_partitions(df: DataFrame, partitions: list[str], table: Target, method: str,
                        run: Callable[[], T], **kwargs: Any) -> T:
    """The write to ``table`` decided as a write to each of ``partitions`` (an append to the
    folder: its other files stay) and then to the table, each decision inside the one before
    (a denial raises before anything runs; the UNLISTED marker is a place Lacuna cannot name,
    decided as unknown)."""
    if not partitions:
        return govern_write(df, table, method, run, **kwargs)
    first, rest = partitions[0], partitions[1:]
    return govern_write(df, path_target(first, append=True), method,
                        lambda: _through_partitions(df, rest, table, method, run, **kwargs),
                        **kwargs)


def _appended_folder(target: Target) -> str | None:
    """The local folder an append adds files to: a path written with ``mode("append")``, or
    the location of an external table appended to (``saveAsTable(mode="append")``,
    ``insertInto``, ``writeTo(...).append()``, SQL ``INSERT INTO``); None for any other write,
    a managed table or a remote location."""
    if not target.append:
        return None
    if target.kind == "path":
        return local_path(target.name)
    if target.kind == "table" and target.table_path is not None:
        return local_path(target.table_path)
    return None


def _through_folder(target: Target, folder: str) -> Callable[[str], str] | None:
    """For an append to an external table: how to add the rows under the exception holding its
    folder. A table cannot be written under an exception (the sweep cannot delete a catalog
    table: :func:`remember_exception_write`), but its folder can, and the table reads what the
    folder holds. None for a path, which takes ``exception_id=`` itself."""
    if target.kind != "table":
        return None

    def same(held: str) -> str:
        return (f"{_folder_write(target, folder, held)} (a write to the table {target.name} "
                "under an exception is refused: the sweep deletes folders, not tables)")

    return same


def _folder_write(target: Target, folder: str, exception_id: str) -> str:
    """How to add rows to an external table's folder under ``exception_id``, for a message."""
    return (f"append them to the table's folder under the exception, a path write: "
            f"df.write.mode(\"append\").format(<the table's format>).save(\"{folder}\", "
            f"exception_id=\"{exception_id}\"), then "
            f"spark.catalog.refreshTable(\"{target.name}\")")


def govern_rdd_write(path: str, method: str, run: Callable[[], T]) -> T:
    """An RDD writer (``rdd.saveAsTextFile(path)``, ``saveAsPickleFile``, the Hadoop formats):
    an RDD carries no plan Lacuna can read, so what it holds is unknown and it is decided as
    PROPRIETARY going to ``path`` (fail closed: a governed folder is allowed, ~/Downloads is
    not). ``df.write`` of a DataFrame is decided on what it holds."""
    from lacuna.governor import current
    from lacuna.model import Classification

    gov = current()
    frame = _frames.user_frame()
    c = Classification.fail_closed(
        f"{method} writes an RDD, whose rows Lacuna cannot classify (no plan, no columns). "
        "Write a DataFrame instead (spark.createDataFrame(rdd) or df.write before df.rdd) so "
        "it is decided on what it holds")
    target = path_target(path, append=False)
    op = gov.operation(Action.EXPORT, c, destination=destination(gov, target), method=method,
                       code_location=_frames.code_location(frame))

    def write() -> T:
        with _bypass.bypass():
            return run()

    return gov.execute(op, write)


def remember_exception_write(gov: Governor, exception_id: str,
                             target: Target) -> WrittenFile | None:
    """Record a write to a local path under ``exception_id`` as a directory written under it
    (Spark writes a directory of part files), as the pandas, polars, pyarrow and DuckDB writers
    record theirs, so the sweep removes it when the exception ends. A refusal is the answer to
    the user's call: raised, nothing written. Refused: a symbolic link at the path, and a table
    in the catalog, a JDBC target or a remote path (not a folder Lacuna can delete when the
    exception ends). The record (for ``files.written`` once the write returned)."""
    from lacuna.exceptions import files

    path = local_path(target.name) if target.kind == "path" else None
    folder = local_path(target.table_path) if target.table_path is not None else None
    if path is None and target.kind == "table" and folder is not None:
        msg = (f"the Spark write to the table {target.name} under exception {exception_id} is "
               "refused: a table cannot be written under an exception (the sweep deletes "
               f"folders, not tables). Its rows are the files of the folder {folder}: "
               f"{_folder_write(target, folder, exception_id)}. Nothing was written.")
        raise files.ExceptionNotAuthorized(msg)
    if path is None:
        raise files.refuse_unsweepable(exception_id, target.name, "the Spark write")
    return files.remember(gov, exception_id, path, encrypted=False, directory=True)


def write_clock(spark: SparkSession, gov: Governor, target: Target,
                analysis: Analysis, *, before: datetime | None = None,
                keep: bool = True) -> datetime:
    """When the data a write of ``analysis`` to ``target`` holds was first seen (the one rule:
    :func:`lacuna.lineage.clock.of_write`), read before the write replaces the destination:
    the destination's clock (a local path's trusted sidecar or authenticated sealed header, a
    table's trusted label: :func:`_table_clock`, or ``before`` when given; ``keep=False``: a
    table's is not read, it could not be), each source's as its trusted sidecar or table label
    said when the plan read it (a forged, unsigned or stale one says nothing), taken when it
    was read at a tier no higher than the write's, and now.

    Raises:
        IntegrationError: a table's label is there but cannot be read (:func:`_table_clock`).
    """
    from lacuna.lineage import clock
    from lacuna.lineage.state import LineageNode
    from lacuna.model import utcnow

    reads = tuple(LineageNode(name=leaf.label, operation="spark.read", ref=leaf.ref,
                              classification=s.classification, first_seen=s.first_seen)
                  for leaf, s in analysis.leaves)
    written = LineageNode(name=None, operation="spark.write", parents=reads)
    path = local_path(target.name) if target.kind == "path" else None
    if before is None and keep and target.kind == "table":
        before = _table_clock(spark, target.name)
    return clock.of_write(path, written, analysis.classification.tier, gov.config,
                          now=clock.earliest(utcnow(), before))


def _table_clock(spark: SparkSession, name: str, *, stale: bool = False) -> datetime | None:
    """The clock of the catalog table ``name`` as its trusted label says (None: no such
    table, no label, or one that is not trusted for this table). ``stale``: also a label whose
    signature verifies but whose files changed since (the query listener's, after a write it
    did not govern: Lacuna signed that clock for this table, the write made it stale).

    Raises:
        IntegrationError: the table is there but its label cannot be read (the catalog or py4j
            fails, the label is malformed or cut short). Before, that restarted the table's
            clock: an append to a table of data past its retention, whose label could not be
            read for a moment, signed it as first seen now, and it (and what is written from
            it) was kept for another full retention period.
    """
    import pandas as pd

    from lacuna.lineage.clock import aware, earliest, of_declaration
    from lacuna.lineage.sidecar import read_embedded
    from lacuna.spark.sources import describe, table_files, table_listing

    try:
        with _bypass.bypass():
            if not spark.catalog.tableExists(labels.quoted_name(name)):
                return None  # not there yet (a create): nothing to keep
            leaf = describe(_table_plan(spark, name))
        embedded = labels.read_table_label(dict(leaf.properties))
        if embedded is None:
            return None
        declared = read_embedded(embedded, data_path=None, table=leaf.table or True,
                                 location=table_files(leaf), listing=table_listing(leaf),
                                 frame=pd.DataFrame(columns=list(leaf.columns)))
    except Exception as exc:  # SidecarError too: a malformed label
        first = (str(exc).splitlines() or [""])[0][:300]
        msg = (f"Lacuna could not read the retention clock of the table {name} "
               f"({type(exc).__name__}: {first}), so a write to it cannot keep when its data "
               "was first seen: in enforce mode the write is refused (it would restart the "
               "clock, and data past its retention would be kept for another period). Fix the "
               "cause (the catalog; a malformed label: `ALTER TABLE … UNSET TBLPROPERTIES` "
               "its lacuna.classification.* properties, which restarts its clock), then write "
               "again.")
        raise IntegrationError(msg) from exc
    if stale and declared.trust == "stale":
        return earliest(aware(declared.written_at), declared.first_seen)
    return of_declaration(declared)


def prior_clock(spark: SparkSession, target: Target) -> datetime | None:
    """The clock ``target``'s label or sidecar was signed with, read after a write outside
    Lacuna made it stale (the query listener's): its signature still verifies, so that clock is
    Lacuna's for this table or folder, and the re-label keeps it. Before, the re-label was
    signed without one, and its write time restarted the clock: an outside append to a table of
    data past its retention kept all of it for another period. None: no such label, one that is
    forged or unsigned, or one that cannot be read (logged)."""
    from lacuna.lineage.clock import aware, earliest
    from lacuna.lineage.sidecar import read_sidecar

    try:
        if target.kind == "table":
            return _table_clock(spark, target.name, stale=True)
        path = local_path(target.name) if target.kind == "path" else None
        if path is None or not os.path.exists(path):
            return None
        declared = read_sidecar(path)
        if declared is None or declared.trust not in ("verified", "stale"):
            return None
        return earliest(aware(declared.written_at), declared.first_seen)
    except Exception as exc:
        log.error("could not read the retention clock of %s after a write outside Lacuna: "
                  "%s; its new label starts the clock now", target.name, exc)
        return None


def _inputs(analysis: Analysis) -> tuple[DatasetVersion, ...]:
    seen: dict[DatasetRef, DatasetVersion] = {}
    for leaf, s in analysis.leaves:
        ref = leaf.ref or DatasetRef.unknown(leaf.label)
        seen.setdefault(ref, DatasetVersion(dataset=ref, classification=as_stored(
            s.classification), columns=leaf.columns))
    return tuple(seen.values())


def _edges(analysis: Analysis, out: DatasetRef) -> tuple[ColumnEdge, ...]:
    edges: list[ColumnEdge] = []
    for column, origins in analysis.lineage.items():
        for index, source_column, kind in sorted(origins):
            leaf = analysis.leaves[index][0]
            edges.append(ColumnEdge(
                source=leaf.ref or DatasetRef.unknown(leaf.label), source_column=source_column,
                target=out, target_column=column, kind=kind))
    return tuple(dict.fromkeys(edges))


# an append whose table was not read before it ran: the listener's, or one whose read failed
# in warn or observe mode (read after it, and labelled PROPRIETARY when that fails too)
UNREAD: Any = object()


def _before_append(spark: SparkSession, gov: Governor, target: Target) -> Classification | None:
    """The classification of the table an append adds rows to, read before anything runs,
    while its label is still bound to its files (the append makes it stale); None when there
    is no such table yet (the append creates it).

    Raises:
        IntegrationError: the table is there but its classification cannot be read (its
            lineage store cannot answer, the catalog fails): the append is refused in enforce
            mode. Its label would have held the appended rows' classification alone, and a
            table of e-mails appended public rows to was labelled PUBLIC.
    """
    from lacuna.errors import IntegrationError
    from lacuna.spark.sources import classify_leaf, describe

    try:
        with _bypass.bypass():
            if not spark.catalog.tableExists(labels.quoted_name(target.name)):
                return None
            return classify_leaf(gov, spark, describe(_table_plan(spark, target.name))
                                 ).classification
    except Exception as exc:
        first = (str(exc).splitlines() or [""])[0][:300]
        msg = (f"Lacuna could not read the classification of the table {target.name} before "
               f"appending to it ({type(exc).__name__}: {first}); in enforce mode the append "
               "is refused, since the table's label would then say what the appended rows "
               "hold and not what the table held. Fix the cause (the lineage store, the "
               "catalog), or write the combined data with mode('overwrite').")
        raise IntegrationError(msg) from exc


def _label(spark: SparkSession, gov: Governor, target: Target, c: Classification,
           analysis: Analysis, user: str, run_id: str, *,
           first_seen: datetime | None = None, before: Any = UNREAD) -> None:
    """Store the written data's classification where the next read looks (never raises: the
    data is written; a label that cannot be stored is logged, and the lineage store still has
    the run). ``first_seen``: the write's clock (:func:`write_clock`), signed into a path's
    sidecar or a table's label. ``before``: for an append to a table, its classification as
    :func:`_before_append` read it (None: the append created it); UNREAD: read now."""
    sources = tuple(leaf.label for leaf, _ in analysis.leaves)
    try:
        if target.kind == "table":
            _label_table(spark, gov, target, c, analysis.columns, sources, user, run_id,
                         first_seen=first_seen, before=before)
        elif target.kind == "path":
            path = local_path(target.name)
            if path is not None:
                _label_files(gov, path, c, sources, user, run_id, append=target.append,
                             first_seen=first_seen)
        forget(target.key)
        if target.kind == "path":
            forget(f"file:{target.name}")
    except Exception as exc:
        _unstored(target, exc)


def _unstored(target: Target, exc: BaseException) -> None:
    """The label of ``target`` could not be stored after a write: logged, and a table's old
    label marked stale (:mod:`lacuna.spark.unstored`): a table on remote files binds its label
    to the column names only, and the old, lower label stayed trusted over what was written."""
    if target.kind == "table":
        from lacuna.spark import unstored

        unstored.failed(target.name, f"a write's label could not be stored "
                                     f"({type(exc).__name__}: {exc})")
        forget(target.key)
        log.error("could not store the classification of the table %s: %s; its old label is "
                  "not trusted in this process until a write stores one (it only adds "
                  "restrictions to what the lineage store recorded or a sample shows); write "
                  "the table again once its catalog takes properties", target.name, exc)
        return
    log.error("could not store the classification of %s: %s", target.name, exc)


def _label_table(spark: SparkSession, gov: Governor, target: Target, c: Classification,
                 columns: tuple[str, ...], sources: tuple[str, ...], user: str,
                 run_id: str, *, first_seen: datetime | None = None,
                 before: Any = UNREAD) -> None:
    from lacuna.lineage.rules import combine
    from lacuna.spark.sources import classify_leaf, describe, table_files, table_listing

    if target.append and before is UNREAD:  # what the table held stays in its classification
        try:  # after the write (the listener's): the stale label adds restrictions to a sample
            with _bypass.bypass():
                before = classify_leaf(gov, spark, describe(_table_plan(spark, target.name))
                                       ).classification
        except Exception as exc:  # unknown: never the appended rows' class alone
            log.error("could not read the classification of %s after an append to it: %s; "
                      "it is labelled PROPRIETARY (fail closed)", target.name, exc)
            before = _unknown(c, f"the classification of {target.name} before the append "
                                 f"could not be read ({type(exc).__name__}: {exc})")
    if target.append and before is not None:
        c = combine([before, c], gov.config.classification,
                    names=["existing rows", "appended"])
    try:  # the files as written: the label is bound to them (remote ones: their listing)
        with _bypass.bypass():
            written = describe(_table_plan(spark, target.name))
            files = table_files(written)
            listing = table_listing(written) or None
    except Exception as exc:  # the label then binds the names only (and is not trusted)
        log.warning("could not find the files of %s: %s", target.name, exc)
        files = listing = None
    declaration = labels.declaration_for(c, columns, sources=sources, user=user, run_id=run_id,
                                         table=target.name, first_seen=first_seen,
                                         location=files, listing=listing)
    props = labels.table_properties(declaration)
    with _bypass.bypass():
        spark.sql(labels.set_properties_sql(target.name, props))
    from lacuna.spark import unstored

    unstored.stored(target.name)


def label_unverified(spark: SparkSession, gov: Governor, target: Target, why: str, *,
                     first_seen: datetime | None = None) -> None:
    """Label ``target`` after a write that ran outside Lacuna and that Lacuna could not
    classify (the query listener's failure): unverified, PROPRIETARY with that floor (fail
    closed), combined with what it held (an append's rule), so no later read trusts a lower
    label made stale by the write. A table keeps its column names in the label; a path is
    labelled only when it exists. ``first_seen``: the clock it keeps (:func:`prior_clock`).
    Never raises (logged)."""
    import uuid

    from lacuna.model import Classification

    c = _unknown(Classification(), why)
    user = gov.config.user.to_user().id
    run_id = uuid.uuid4().hex
    try:
        if target.kind == "table":
            with _bypass.bypass():
                columns = tuple(spark.table(labels.quoted_name(target.name)).columns)
            from dataclasses import replace

            _label_table(spark, gov, replace(target, append=True), c, columns, (), user,
                         run_id, first_seen=first_seen)
            forget(target.key)
        elif target.kind == "path":
            path = local_path(target.name)
            if path is not None and os.path.exists(path):
                _label_files(gov, path, c, (), user, run_id, append=True,
                             first_seen=first_seen)
                forget(target.key)
                forget(f"file:{target.name}")
    except Exception as exc:
        log.error("could not label %s as unverified after an ungoverned write: %s",
                  target.name, exc)
        _unstored(target, exc)


def _unknown(c: Classification, why: str) -> Classification:
    """``c`` raised to the top tier (fail closed): rows of unknown classification with it."""
    from lacuna.model import Classification

    return Classification.fail_closed(why, over=c)


def _table_plan(spark: SparkSession, name: str) -> Any:
    from lacuna.spark import _jvm

    return _jvm.leaf(_jvm.analyzed(spark.table(labels.quoted_name(name))))


def _label_files(gov: Governor, path: str, c: Classification, sources: tuple[str, ...],
                 user: str, run_id: str, *, append: bool,
                 first_seen: datetime | None = None) -> None:
    """The signed sidecar of the folder written at ``path``; an append's combines what the
    folder held (its classification and sources; its clock is in ``first_seen``, the
    earliest of the folder's before the append and the appended data's)."""
    from lacuna.lineage.rules import combine
    from lacuna.lineage.sidecar import SidecarError, read_sidecar, write_sidecar

    if append:
        try:
            old = read_sidecar(path)
        except SidecarError:
            old = None
        if old is not None:
            c = combine([old.classification, c], gov.config.classification)
            sources = tuple(dict.fromkeys([*old.sources, *sources]))
    write_sidecar(path, c, sources=sources, written_by=user, run_id=run_id,
                  first_seen=first_seen)
