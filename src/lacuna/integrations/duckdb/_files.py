"""Files a DuckDB statement reads (``FROM 'x.csv'``, ``read_csv(…)``): classified from a
sample of their rows."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import duckdb
from sqlglot import exp

from lacuna import _bypass
from lacuna.integrations.duckdb._base import _gov
from lacuna.integrations.frames.hooks import outermost
from lacuna.integrations.frames.io import govern_read
from lacuna.lineage.state import DataState


def _file_state(con: Any, source_sql: str, label: str) -> DataState:
    from lacuna.storage.frames import refuse_sealed_in_sql

    refuse_sealed_in_sql(label, "DuckDB")  # DuckDB would read ciphertext: say so, fail closed
    config = _gov().config.classification
    limit = int(config.sample_rows)

    def read(sql: str) -> Any:
        with _bypass.bypass(), outermost():
            # a relation's ``query`` (rel.query(name, "… read_csv(…)")) runs on its connection
            rel: Any = con.query("lacuna_relation", sql) if isinstance(
                con, duckdb.DuckDBPyRelation) else con.sql(sql)
            return rel.df()

    frame = _spread_sample(lambda rest: read(f"SELECT * FROM {source_sql}{rest}"), limit, label)
    return govern_read(method="duckdb.read", target=label, frame=frame, rows=-1)


_SEED = 1013  # the reservoir sample of a file: the same rows at every read of the same file


def _spread_sample(read: Callable[[str], Any], limit: int, label: Any) -> Any:
    """A sample of at most ``limit`` rows of file ``label``, as pandas: ``read(rest)`` reads
    the file's rows with ``rest`` after its ``FROM`` (a ``LIMIT``, a ``USING SAMPLE``). One
    row more than a sample first: fewer, and that is the whole file, in its order; else half
    of its first rows (what a reader sees first, as before) and half a reservoir over all its
    rows, unless a trusted sidecar binds the file (:func:`_declared`), whose first rows are
    sample enough."""
    import pandas as pd

    frame = read(f" LIMIT {limit + 1}")
    if len(frame) <= limit:
        return frame
    if _declared(label):
        return frame.iloc[:limit]
    head = limit // 2
    spread = read(f" USING SAMPLE reservoir({limit - head} ROWS) REPEATABLE ({_SEED})")
    return pd.concat([frame.iloc[:head], spread], ignore_index=True)


def _declared(label: Any) -> bool:
    """Whether file ``label`` has a trusted declaration (a sidecar Lacuna wrote, which binds
    its content): declared beats inferred, so its first rows are sample enough and it is not
    read whole. Any other file longer than a sample is sampled over all its rows (a
    reservoir, one pass): its first rows alone let a CSV of 1,500 ``n/a`` then 500 e-mail
    addresses be copied to ~/Downloads as PUBLIC, where pandas, sampling evenly over the
    frame, denied it."""
    from lacuna.integrations.frames.io import local_path
    from lacuna.lineage.sidecar import read_sidecar

    path = local_path(label)
    if path is None or not os.path.isfile(path):
        return False
    try:
        found = read_sidecar(path)
    except Exception:  # an unreadable declaration declares nothing: sampled over all rows
        return False
    return found is not None and found.trusted


def _refuse_sealed_arguments(function: exp.Expr) -> None:
    """A file function (``read_csv('…')``, ``read_parquet(['…', '…'])``) that names a sealed
    governed file is refused as ``FROM 'sealed.csv'`` is, saying what to do instead: DuckDB
    sniffed the ciphertext, and its error was reported as "Lacuna failed".

    Raises:
        StorageError: one of its string arguments is (or holds) a sealed governed file.
    """
    from lacuna.storage.frames import refuse_sealed_in_sql

    for literal in function.find_all(exp.Literal):
        if literal.is_string and literal.name:
            refuse_sealed_in_sql(literal.name, "DuckDB")
