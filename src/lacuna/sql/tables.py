"""A table's classification: from its column names, comments and sampled values, and what
Lacuna stored when it wrote the table. Cached, keyed so that a changed table is re-classified.

Three sources meet, and only ever add restrictions to one another (fail closed):

1. **Inferred**: the classification cascade over the column names and up to
   ``classification.sample_rows`` sampled rows (as for a file read by pandas): the first
   ones, and on DuckDB half the first and half a reservoir over all rows (:func:`_spread`).
2. **Comments**: a column or table comment that names a class (``pii``, ``pii:email``, ``phi``,
   ``financial``, ``identifier``) or holds the declaration Lacuna writes itself
   (``lacuna: {...}``, see :func:`comment_text`). Anyone who can ``COMMENT ON`` can write one,
   so a comment may raise a column's class, never lower it.
3. **Stored**: the classification of the table's latest version in the lineage store (the state
   database), recorded when a governed statement or ``to_sql`` wrote it. This is what keeps a
   renamed column's class: ``CREATE TABLE t AS SELECT email AS region …`` stores ``region`` as
   ``pii``, whatever ``region``'s values look like later.

When the stored class is a claim's raise (an ingested run, or Lacuna's own version raised by
one), :func:`table_raise` says which part claims raised (:mod:`lacuna.lineage.attribution`): a
governed statement records it with the table's input version, so a steward's dismissal of the
claim takes it back.

The cache key is the database (an in-memory one: also its connection, :func:`_instance`), the
table, its columns (names, types, comments), its comment,
its row count, the dismissals this process made and the table's newest standing claim in the
lineage store (read again at most every ``STORE_CHECK_S`` seconds); a governed write in this
process drops the table's entry. So a new row, column or comment, a write through Lacuna, a
dismissal here, or a claim recorded by another process (a server's OpenLineage ingest: within
``STORE_CHECK_S``) re-classifies it; an ungoverned ``UPDATE`` from elsewhere that keeps the row
count is seen when the entry leaves the cache (least recently used first).
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from lacuna import _bypass
from lacuna.lineage.records import DatasetRef
from lacuna.model import Classification, ColumnClass, Layer

if TYPE_CHECKING:
    from lacuna.governor import Governor
    from lacuna.lineage.attribution import Raised
    from lacuna.lineage.records import DatasetVersion
    from lacuna.sql.catalog import Database, TableInfo

log = logging.getLogger(__name__)

CACHE_SIZE = 256
STORE_CHECK_S = 5.0  # a table's newest claim in the store is read again at most this often
COMMENT_PREFIX = "lacuna:"
_CLASS_WORD = re.compile(r"\b(pii(?::[a-z_]+)?|phi|financial)\b", re.IGNORECASE)

_Classified = tuple[Classification, "Raised | None"]
_caches: weakref.WeakKeyDictionary[Governor, OrderedDict[tuple[Any, ...], _Classified]] = (
    weakref.WeakKeyDictionary())
_marks: weakref.WeakKeyDictionary[Governor, dict[tuple[str, str], tuple[float, str]]] = (
    weakref.WeakKeyDictionary())
_databases: weakref.WeakKeyDictionary[Any, object] = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def table_ref(url: str, table: str) -> DatasetRef:
    """How the lineage store names a table (as pandas' ``to_sql`` names its target): by its
    :func:`canonical` name, so every spelling of the table reads and writes one record."""
    return DatasetRef.of(f"{url}#{canonical(url, table)}")


def canonical(url: str, table: str) -> str:
    """Table ``table`` of the database at ``url`` by one name, whichever way a statement
    spells it (``table``, ``schema.table`` or ``database.schema.table``, as
    :func:`lacuna.sql.statements.table_name` gives it, quotes removed): lower case, without
    the default schema (``main.``; ``public.`` on PostgreSQL). So ``a``, ``main.a``, ``"A"``
    and ``MAIN.A`` are one table. A prefix that names another database stays (``o.a``):
    a table of a file ATTACHed as ``o`` is named by that file's URL and its name there
    (:meth:`lacuna.sql.catalog.Database.located`: ``b.duckdb#a``), not here.

    SQLite and DuckDB match every name without regard to case, quoted or not. PostgreSQL folds
    an unquoted name to lower case and keeps a quoted one; the quotes are gone by the time a
    name reaches here, and Lacuna's catalog look-up (``to_regclass``) folds it too, so it is
    folded here as well: a quoted ``"Contacts"`` shares ``contacts``'s record (stricter, never
    looser, than the table it names: its reads are PROPRIETARY, see docs/sql.md)."""
    default = default_schema(_dialect(url)) + "."
    return table.lower().removeprefix(default)


def written_ref(url: str, table: str, sql: str) -> DatasetRef:
    """The name a write into ``table`` by statement ``sql`` is recorded under: its
    :func:`table_ref`, except on PostgreSQL for a name the statement quotes with capitals
    (``CREATE TABLE "Contacts" …``): another table than ``contacts``, kept as written so that
    its class never replaces ``contacts``'s."""
    if _dialect(url) == "postgres" and table != table.lower() and any(
            f'"{part}"' in sql for part in table.split(".") if part != part.lower()):
        return DatasetRef.of(f"{url}#{table.removeprefix('public.')}")
    return table_ref(url, table)


def _dialect(url: str) -> str:
    return "postgres" if url.startswith("postgres") else url.partition(":")[0].partition("+")[0]


def _spellings(url: str, table: str) -> list[DatasetRef]:
    """The names a record of table ``table`` made before names were :func:`canonical` may be
    under: as this statement spells it, and with or without the default schema."""
    default = default_schema(_dialect(url)) + "."
    names = [table, table.removeprefix(default)]
    if "." not in table:
        names.append(default + table)
    found: dict[DatasetRef, None] = {}
    for name in names:
        ref = DatasetRef.of(f"{url}#{name}")
        if ref != table_ref(url, table):
            found.setdefault(ref, None)
    return list(found)


def stored_ref(gov: Governor, url: str, table: str) -> DatasetRef:
    """Where the lineage store keeps table ``table``'s versions: its :func:`table_ref`; when
    that holds none, a name an older record took from the statement that wrote it
    (:func:`_spellings`), so a class stored before names were canonical is not lost. A newer
    record under the canonical name wins over any older spelling."""
    return stored_version(gov, url, table)[0]


def stored_version(gov: Governor, url: str, table: str
                   ) -> tuple[DatasetRef, DatasetVersion | None]:
    """:func:`stored_ref` and its latest version (None: none stored), each looked up once."""
    ref = table_ref(url, table)
    store = gov.lineage_store
    for candidate in (ref, *_spellings(url, table)):
        latest = store.latest(candidate)
        if latest is not None:
            return candidate, latest
    return ref, None


def same_depth(names: Iterable[str], dialect: str) -> dict[str, str]:
    """Each table name as the column lineage is given it: a statement may name tables at
    different depths (``INSERT INTO o.kept SELECT … FROM customers``, ``o`` an ATTACHed file),
    and :func:`lacuna.lineage.sql.classify_sql` takes one depth, so the shorter names get the
    dialect's default schema (``main``; ``public`` on PostgreSQL) in front: ``main.customers``.
    The statement's own references still find them (a unique suffix). When two names would
    become one, the names are left as they are (the lineage then fails closed, saying why)."""
    names = list(names)
    depth = max((len(n.split(".")) for n in names), default=1)
    default = default_schema(dialect)
    padded = {n: ".".join([default] * (depth - len(n.split("."))) + [n]) for n in names}
    if len(set(padded.values())) < len(padded):
        return {n: n for n in names}
    return padded


def origins(url: str, names: dict[str, str],
            homes: dict[str, tuple[str, str]] | None = None) -> dict[str, str]:
    """The stable name of each table a statement reads (``names``: table -> the name the column
    lineage is given it, see :func:`same_depth`): what a piece of one of its columns is
    remembered by (:class:`~lacuna.model.Piece`), the same in every statement and whichever
    way a statement spells or qualifies the table: lower case, without the default schema
    (``main.``; ``public.`` on PostgreSQL), so ``main.people`` and ``people`` are one.
    ``homes``: a table's database and its name there when it is not ``url``'s
    (:meth:`~lacuna.sql.catalog.Database.located`: ``o.people`` of an attached file is that
    file's ``people``)."""
    homes = homes or {}
    return {given: str(table_ref(*homes.get(name, (url, name)))) for name, given in names.items()}


def default_schema(dialect: str) -> str:
    """The schema an unqualified table name is in: ``public`` on PostgreSQL, else ``main``."""
    return "public" if dialect == "postgres" else "main"


def classify_table(gov: Governor, db: Database, name: str, *, spread: bool = True,
                   ) -> Classification | None:
    """The classification of table ``name`` in ``db``; None when there is no such table.

    ``spread=False``: a DuckDB table's sample is its first rows only, without the reservoir
    over all its rows (:func:`_spread`, one pass over every row): for a caller that writes the
    table whole and classifies a spread of all its rows in its own pass over them, as this
    one would (:func:`spread_class`). Cached apart: a read never takes it."""
    found = _classified(gov, db, name, spread=spread)
    return found[0] if found is not None else None


def spread_class(gov: Governor, names: list[str], rows: list[tuple[Any, ...]],
                 ) -> Classification:
    """What ``rows`` (of a table whose columns are ``names``: some of its first rows and a
    spread over all of them) show, classified as :func:`_inferred` classifies a table's
    sample (names and values, the configured cascade). Cached with the tables' classes: a
    table unchanged gives its write's scan the same rows (the spread is by hash)."""
    import pandas as pd

    from lacuna.classify import classify_frame

    try:
        key: tuple[Any, ...] | None = ("spread", tuple(names), tuple(rows))
        hash(key)
    except TypeError:  # a list or a map among the values: classified each time
        key = None
    with _lock:
        cache = _caches.setdefault(gov, OrderedDict())
        found = cache.get(key) if key is not None else None
        if key is not None and found is not None:
            cache.move_to_end(key)
            return found[0]
    with _bypass.bypass():
        frame = pd.DataFrame.from_records(rows, columns=names)
        result = classify_frame(frame, config=gov.config.classification, cascade=gov.cascade)
    classified = _by_column(_complete(result, names))
    if key is not None:
        with _lock:
            cache[key] = (classified, None)
            while len(cache) > CACHE_SIZE:
                cache.popitem(last=False)
    return classified


def table_raise(gov: Governor, db: Database, name: str) -> Raised | None:
    """Which part of table ``name``'s classification ingested claims raised
    (:mod:`lacuna.lineage.attribution`); None when none did, or there is no such table."""
    found = _classified(gov, db, name)
    return found[1] if found is not None else None


def _classified(gov: Governor, db: Database, name: str, *, spread: bool = True,
                ) -> _Classified | None:
    from lacuna.lineage import attribution
    from lacuna.lineage.store import dismissals

    info = db.table(name)
    if info is None:
        return None
    url, local = db.located(name)  # o.t of an attached b.duckdb: b.duckdb's t, in the store
    key = (url, canonical(url, local), info.where, info.columns, info.comment, info.rows,
           dismissals(), _store_mark(gov, url, local), _instance(db), spread)
    with _lock:
        cache = _caches.setdefault(gov, OrderedDict())
        found = cache.get(key)
        if found is not None:
            cache.move_to_end(key)
            return found
    stored = _stored(gov, url, local)
    base = _inferred(gov, db, info, spread=spread)
    classification = _classify(gov, db, info, stored.full, base)
    raised = None
    if stored.claims:
        own = (_classify(gov, db, info, stored.own, base) if stored.own_known else None)
        raised = attribution.of(own, stored.claims, result=classification)
    result = (classification, raised)
    with _lock:
        cache[key] = result
        while len(cache) > CACHE_SIZE:
            cache.popitem(last=False)
    return result


def _instance(db: Database) -> object | None:
    """Which in-memory database ``db`` is, for the cache key: every ``duckdb.connect()`` (and
    ``sqlite3.connect(":memory:")``) has the one URL, so a table of one database took the
    cached class of another's table of the same name, columns, comment and row count (a
    table of e-mails read as PUBLIC because another connection's table of colours was read
    first). The connection (``db.dbapi.database`` when it wraps one) stands for it, held
    weakly: another connection, or a cursor of the same database, is classified afresh; one
    that cannot be held never shares an entry. None for a database its URL names."""
    if not db.url.endswith(":memory:"):
        return None
    holder = getattr(db.dbapi, "database", None) or db.dbapi
    with _lock:
        try:
            return _databases.setdefault(holder, object())
        except TypeError:  # not weakly referenceable (or hashable): never shared
            return object()


def _inferred(gov: Governor, db: Database, info: TableInfo, *, spread: bool = True,
              ) -> Classification:
    """What the table's names and sampled values show (``spread=False``: its first rows only,
    see :func:`classify_table`)."""
    import pandas as pd

    from lacuna.classify import classify_frame

    config = gov.config.classification
    names, rows = db.sample(info.name, config.sample_rows) if info.rows else (
        [c.name for c in info.columns], [])
    if spread and db.dialect == "duckdb" and info.rows > config.sample_rows:
        names, rows = _spread(db, info.name, config.sample_rows, rows)
    with _bypass.bypass():
        frame = pd.DataFrame.from_records(rows, columns=names)
        result = classify_frame(frame, config=config, cascade=gov.cascade)
    return _complete(result, [c.name for c in info.columns])


def _spread(db: Database, name: str, limit: int, first: list[tuple[Any, ...]],
            ) -> tuple[list[str], list[tuple[Any, ...]]]:
    """A DuckDB table's sample: half its ``first`` rows and half a reservoir over all its
    rows (one pass, the same rows at every read of the same table). Its first rows alone
    showed nothing of what an ``UPDATE`` wrote past them, and a read of the table was
    classified (and audited) as PUBLIC; a write of it is also scanned whole
    (:mod:`lacuna.integrations.duckdb.computed`)."""
    from lacuna.sql.catalog import quote

    head = limit // 2
    names, spread = db.query(f"SELECT * FROM {quote(name)} USING SAMPLE reservoir("
                             f"{int(limit - head)} ROWS) REPEATABLE (1013)")
    return names, [*first[:head], *spread]


def _classify(
    gov: Governor, db: Database, info: TableInfo, stored: Classification | None,
    result: Classification,
) -> Classification:
    """``result`` (what the values show) with the comments' and the store's classes added."""
    from lacuna.lineage.sidecar import restrict

    config = gov.config.classification
    declared = from_comments(info, gov)
    if declared is not None:
        result, _ = restrict(_by_column(declared), result, config,
                             where=f"the comments on {info.name}")
    if stored is not None:
        result, _ = restrict(_by_column(stored), result, config,
                             where=f"Lacuna's record of {info.name} (lineage store)")
        if stored.reasoning and stored.reasoning[0].startswith(Classification.FAIL_CLOSED):
            result = replace(result, reasoning=(stored.reasoning[0], *result.reasoning))
    return _derived(result, db.generated(info.name), config, info.name)


def _derived(c: Classification, generated: dict[str, tuple[str, ...]], config: Any,
             table: str) -> Classification:
    """``c`` with each generated column at least as strict as every column its expression
    reads (``g GENERATED ALWAYS AS (replace(email, '@', ' at '))`` holds e-mails that no
    longer look like them): the column lineage inside the table, which no statement shows."""
    from lacuna.lineage.sidecar import restrict

    by_name = {n.lower(): n for n in c.columns}
    for column, reads in generated.items():
        name = by_name.get(column.lower())
        if name is None:
            continue
        for source in reads:
            held = c.columns.get(by_name.get(source, ""))
            if held is not None:
                c, _ = restrict(Classification(columns={name: held}), c, config,
                                where=f"generated column {table}.{name}, computed from "
                                      f"{source}")
    return c


def _by_column(c: Classification) -> Classification:
    """A declaration that adds by column: its tier becomes a table floor only where no column
    explains it (else a projection of the table's public columns would stay restricted)."""
    return replace(c, tier=c.floor) if c.columns else c


def _complete(c: Classification, names: list[str]) -> Classification:
    """Every column of the table has a class (a public one when the cascade gave none)."""
    missing = [n for n in names if n not in c.columns]
    if not missing:
        return c
    columns = dict(c.columns)
    for n in missing:
        columns[n] = ColumnClass(reasoning="no evidence of sensitive data")
    return replace(c, columns=columns)


@dataclass(frozen=True, slots=True)
class _Stored:
    """What the store knows of a table: its standing class (``full``), and, when claims raised
    it, what it knows without them (``own``; ``own_known`` False: not known) and the claims."""

    full: Classification | None = None
    own: Classification | None = None
    own_known: bool = True
    claims: tuple[tuple[str, Classification | None], ...] = ()


def _store_mark(gov: Governor, url: str, name: str) -> str:
    """Which claim of table ``name`` the lineage store holds (the newest standing one's run id),
    read again at most every ``STORE_CHECK_S`` seconds: a claim another process recorded (a data
    owner's raise, sent to the server) reaches a session that classified the table before,
    which its cache kept at the lower class until the entry left it."""
    now = time.monotonic()
    key = (url, canonical(url, name))
    with _lock:
        found = _marks.setdefault(gov, {}).get(key)
    if found is not None and now - found[0] < STORE_CHECK_S:
        return found[1]
    try:  # claims only: Lacuna's own versions (each governed read records one) change no
        store = gov.lineage_store  # class the values and the cache do not already have
        claim = store.latest_claim(stored_ref(gov, url, name)) if hasattr(
            store, "latest_claim") else None
        mark = "" if claim is None else claim[1]  # the newest standing claim's run id
    except Exception:  # the store fails on its own: the values (and _stored's answer) decide
        mark = "unreadable"
    with _lock:
        marks = _marks.setdefault(gov, {})
        marks[key] = (now, mark)
        if len(marks) > CACHE_SIZE:
            del marks[next(iter(marks))]
    return mark


def _stored(gov: Governor, url: str, name: str) -> _Stored:
    """The table's stored class (:func:`stored_classification`) and which claims raised it:
    the newest standing version is a claim (its run id), or Lacuna's own version a claim
    raised (its attribution). Any failure: the stored class alone (not attributed)."""
    try:
        ref, latest = stored_version(gov, url, name)
        store = gov.lineage_store
        if latest is None:
            return _Stored()
        if latest.raised is not None:  # Lacuna's own version, raised by standing claims
            own = latest.raised.own
            return _Stored(full=latest.classification, own=own, own_known=own is not None,
                           claims=latest.raised.claims)
        claim = store.latest_claim(ref) if hasattr(store, "latest_claim") else None
        if claim is None or claim[0] != latest:
            return _Stored(full=latest.classification)
        mine = store.latest(ref, trusted=True)  # what Lacuna knows without the claim
        earlier = mine.raised if mine is not None else None
        # the claim was held to the table's earlier standing claims when it arrived: it
        # carries their raise, so they are named too (None: too many to name, none lowers)
        others = (store.standing_claims(dataset=ref)
                  if hasattr(store, "standing_claims") else None)
        return _Stored(
            full=latest.classification,
            own=(earlier.own if earlier is not None else
                 mine.classification if mine is not None else None),
            own_known=(earlier is None or earlier.own is not None) and others is not None,
            claims=(*(earlier.claims if earlier is not None else ()),
                    (claim[1], claim[0].classification), *(others or ())))
    except Exception:  # attribution failed: the stored class alone (fail closed itself)
        return _Stored(full=stored_classification(gov, url, name))


def stored_classification(gov: Governor, url: str, name: str) -> Classification | None:
    """The class the lineage store holds for table ``name`` (:func:`stored_ref`), or None
    when it holds none. When the store cannot say (unreachable, or it refuses a record as
    tampered with), PROPRIETARY with a PROPRIETARY floor, saying why (fail closed): the
    values alone decided before, and a table the store knew as PII whose values no longer
    show it (a hand-edited record, a store down) was read as what its values showed."""
    try:
        version = stored_version(gov, url, name)[1]
    except Exception as exc:
        log.error("the lineage store cannot say what it recorded of table %s; treating it as "
                  "PROPRIETARY (fail closed): %s", name, exc)
        return Classification.fail_closed(
            f"the lineage store could not say what it recorded of table {name}: "
            f"{type(exc).__name__}: {exc}")
    return version.classification if version is not None else None


def from_comments(info: TableInfo, gov: Governor) -> Classification | None:
    """The classes the table's and its columns' comments declare, or None."""
    from lacuna.classify.rollup import rollup
    from lacuna.lineage.sql_schema import _column_class

    declared: dict[str, ColumnClass] = {}
    table_level: Classification | None = None
    if info.comment and info.comment.strip().startswith(COMMENT_PREFIX):
        try:
            data = json.loads(info.comment.strip()[len(COMMENT_PREFIX):])
            table_level = Classification.from_dict(data, layer=Layer.DECLARED)
            declared.update(table_level.columns)
        except (ValueError, TypeError, KeyError):
            pass  # a malformed declaration declares nothing; the values still decide
    for column in info.columns:
        found = _CLASS_WORD.search(column.comment or "")
        if found:
            cls = _column_class(found.group(1).lower(), f"{info.name}.{column.name}")
            declared[column.name] = replace(
                cls, reasoning=f"declared by the comment on {info.name}.{column.name}")
    if not declared and table_level is None:
        return None
    floor = table_level.floor if table_level is not None else Classification().floor
    return rollup(declared, gov.config.classification, floor=floor, layer=Layer.DECLARED)


def comment_text(c: Classification) -> str:
    """The table comment Lacuna writes after a governed write (PostgreSQL, DuckDB)."""
    data = {"tier": c.tier.value, "floor": c.floor.value, "table_tags": list(c.table_tags),
            "columns": {n: _declared(col) for n, col in c.columns.items()}}
    return COMMENT_PREFIX + " " + json.dumps(data, sort_keys=True, separators=(",", ":"))


def _declared(col: ColumnClass) -> dict[str, Any]:
    """A column's class in the comment: ADR-0012's block, and what the column is a piece of."""
    out: dict[str, Any] = dict(col.to_floe())
    if col.pieces:
        out["pieces"] = [p.to_dict() for p in col.pieces]
    return out


def changed(gov: Governor, url: str, name: str) -> None:
    """A governed write changed table ``name``: classify it afresh on its next read (its row
    count may be the same, its stored classification is not)."""
    name = canonical(url, name)
    with _lock:
        _marks.get(gov, {}).pop((url, name), None)
        cache = _caches.get(gov)
        if cache is None:
            return
        for key in [k for k in cache if k[0] == url and k[1] == name]:
            del cache[key]


def table_changed(gov: Governor, db: Database, name: str) -> None:
    """:func:`changed` for table ``name`` as a statement on ``db`` names it: by the database
    it is in and its name there (:meth:`~lacuna.sql.catalog.Database.located`), as
    :func:`classify_table` caches it; when that cannot be told, as the statement names it."""
    try:
        url, local = db.located(name)
    except Exception:  # the statement ran; its cache entry leaves on its own (LRU)
        url, local = db.url, name
    changed(gov, url, local)


def forget(gov: Governor) -> None:
    """Drop the governor's cached table classifications (tests, a changed configuration)."""
    with _lock:
        _caches.pop(gov, None)
        _marks.pop(gov, None)


__all__ = ["canonical", "classify_table", "comment_text", "forget", "from_comments", "origins",
           "same_depth", "spread_class", "stored_ref", "stored_version", "table_changed",
           "table_raise", "table_ref", "written_ref"]
