"""DuckDB's Python API under the pipeline: ``duckdb.sql``/``execute``/``executemany``/``query``
and a connection's ``sql``/``execute``/``executemany``/``query``, relations' writes and
conversions.

Each statement is analysed by the SQL governance (:mod:`lacuna.sql.statements`) and classified
by the one SQL column lineage (:func:`lacuna.lineage.sql.classify_sql`), over a schema built
from what the statement reads:

- tables of the connection's catalog: :func:`lacuna.sql.tables.classify_table` (comments,
  what Lacuna stored, names and values);
- Python objects DuckDB scans by name (a pandas or polars frame, an Arrow table, a relation):
  their tracked classification;
- files (``FROM 'x.csv'``, ``read_csv(...)``/``read_parquet(...)``): a governed read of a
  sample, classified like any file (sidecar, metadata, names and values): a reservoir over
  all its rows, or its first rows when a trusted sidecar binds it (:func:`_file_state`).

A source Lacuna cannot classify makes the statement PROPRIETARY (fail closed). Then:

- a query is audited as a read; its relation carries the classification, which ``.df()``,
  ``.pl()``, ``.arrow()`` hand on, and which ``.write_csv/.write_parquet/.to_csv/.to_parquet``
  are decided on before anything is written; run by ``execute``, the connection's pending
  result carries it (:data:`PENDING`), which the connection's fetchers (``df``, ``fetchdf``,
  ``fetch_df_chunk``, ``to_arrow_table``, …) hand on until the next ``execute``;
- relations made without SQL carry their source's classification: ``from_df``/``from_arrow``
  the object's, ``table``/``view``/``table_function``/``from_query`` the ``SELECT`` that makes
  them; every relation method that returns a relation hands it on (:func:`derived_state`: kept,
  classified as SQL over the relation, combined column by column, or, for a method Lacuna does
  not know, the strictest class of its inputs' columns for every column: fail closed);
- ``COPY … TO 'file'`` is an export of the query's classification to the file;
- ``CREATE TABLE … AS`` / ``INSERT … SELECT`` an export to ``<database URL>#<table>`` (the URL
  of the ``ATTACH``ed file the table is in, when it is in one), and so
  are a relation's ``create``/``to_table``/``insert_into``; except into an **in-memory**
  database (``duckdb.connect()``, ``:memory:``), where the table is a derived relation this
  process holds, like a frame: nothing leaves, so it is governed as a read and the table
  carries the classification (its comment, which later statements read back); so are
  ``INSERT … VALUES``, ``UPDATE``, ``MERGE`` and ``COPY … FROM`` into memory
  (:func:`_dml_into_memory`); ``CREATE TYPE`` of no data runs (:func:`_created_type`);
- other writes go through :func:`lacuna.sql.govern.run_governed` like a SQLAlchemy statement;
- at each of these writes, and when a relation is converted to a frame, the output columns no
  classified source column accounts for (``'person' || i || '@example.com'`` over
  ``range(20)``) are classified by a sample of their values and a scan of every row
  written (:mod:`.computed`); rows drawn anew at each run (``random()``, ``now()``, a
  ``USING SAMPLE`` without a seed: :func:`computed.drawn`) are drawn once and held for both. A
  table column that is not personal is one (its class came from its first rows, which an
  ``UPDATE`` past them does not change).

Parameters (``execute(sql, [...])``, ``?``, ``$1``, ``$name``) are bound into the statement
before it is analysed, so ``COPY (…) TO ?`` is decided for the file it writes and
``read_csv(?)`` is classified like the file it reads; the bound statement is what runs. A value
Lacuna cannot write as a literal is refused with a message saying so (nothing runs).
``information_schema`` and ``pg_catalog`` hold metadata (names, types, comments), never data
values: their tables are PUBLIC.

The parts, one concept each (this module keeps the public names and the install):
:mod:`._base` what they share (each connection's pending result and registered objects, its
database and catalog look-ups); :mod:`._relations` a relation's classification;
:mod:`._files` files a statement reads; :mod:`._statements` a statement classified, and
what it writes sampled and held; :mod:`._derived` relations made by relation methods;
:mod:`._tables` tables written in memory or in an attached file; :mod:`._run` one statement
decided and run; :mod:`._converters` frames and readers a relation becomes;
:mod:`._install` the hooks; :mod:`.computed` columns no classified source accounts for.
"""

from __future__ import annotations

from lacuna.integrations.duckdb import computed as computed
from lacuna.integrations.duckdb._base import MEMORY as MEMORY
from lacuna.integrations.duckdb._base import PENDING as PENDING
from lacuna.integrations.duckdb._base import REGISTERED as REGISTERED
from lacuna.integrations.duckdb._base import url_of as url_of
from lacuna.integrations.duckdb._converters import carrying as carrying
from lacuna.integrations.duckdb._derived import derived_state as derived_state
from lacuna.integrations.duckdb._files import _declared as _declared
from lacuna.integrations.duckdb._install import _hooks as _hooks
from lacuna.integrations.duckdb._relations import classification, relation_state
from lacuna.integrations.duckdb._statements import statement_state
from lacuna.integrations.frames.hooks import Hooks

_HOOKS = Hooks(_hooks)
install, uninstall, hold, release, installed = (
    _HOOKS.install, _HOOKS.uninstall, _HOOKS.hold, _HOOKS.release, _HOOKS.installed)
suspend, resume = _HOOKS.suspend, _HOOKS.resume  # importlib.reload (integrations.imports)

__all__ = [
    "classification",
    "hold",
    "install",
    "installed",
    "relation_state",
    "release",
    "statement_state",
    "uninstall",
]
