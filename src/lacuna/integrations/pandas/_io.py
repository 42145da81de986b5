"""Reads and writes: the I/O boundary, where every call becomes a decided, audited Operation.

Reads classify what they load (path, columns, sampled values, sidecar) and attach it to the
frame. Writes are exports: the policy decides before a byte is written; a denied write raises
``GovernanceViolation`` and creates nothing. An allowed local write also writes a sidecar, so the
classification travels with the file.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import Any

import pandas as pd

from lacuna import _bypass
from lacuna.integrations.pandas._frames import (
    code_location,
    display_name,
    user_frame,
    variable_name,
)
from lacuna.lineage.frames import attach, effective_state
from lacuna.lineage.sidecar import is_local, write_sidecar
from lacuna.lineage.state import LineageNode
from lacuna.model import Action, DestinationType, Source

# reader name -> keyword of its path argument
READERS = {
    "read_csv": "filepath_or_buffer",
    "read_table": "filepath_or_buffer",
    "read_parquet": "path",
    "read_json": "path_or_buf",
    "read_excel": "io",
    "read_feather": "path",
}

# writer method -> keyword of its target argument (DataFrame and Series)
WRITERS = {
    "to_csv": "path_or_buf",
    "to_parquet": "path",
    "to_json": "path_or_buf",
    "to_excel": "excel_writer",
    "to_feather": "path",
    "to_pickle": "path",
}
SERIES_WRITERS = ("to_csv", "to_json", "to_excel", "to_pickle")
SQL_WRITER = "to_sql"  # (name, con): the target is the database URL with the table as fragment

_SIDECAR_TYPES = (DestinationType.FILE, DestinationType.GOVERNED_STORAGE)


def wrap_reader(name: str, original: Callable[..., Any]) -> Callable[..., Any]:
    keyword = READERS[name]

    @functools.wraps(original)
    def reader(*args: Any, **kwargs: Any) -> Any:
        if _bypass.active():
            return original(*args, **kwargs)
        from lacuna.governor import current

        target = args[0] if args else kwargs.get(keyword)
        with _bypass.bypass():
            result = original(*args, **kwargs)
        if isinstance(result, dict):  # read_excel(sheet_name=None): one frame per sheet
            for sheet, frame in result.items():
                _govern_read(current(), name, f"{display_name(target)}#{sheet}", target, frame)
            return result
        if isinstance(result, pd.DataFrame):
            _govern_read(current(), name, display_name(target), target, result)
        return result  # iterators (chunksize=...) pass through ungoverned; see docs/pandas.md

    return reader


def _govern_read(gov: Any, reader: str, label: str, target: Any, frame: pd.DataFrame) -> None:
    local = isinstance(target, (str, os.PathLike)) and is_local(target)
    path = os.fspath(target) if local else None
    with _bypass.bypass():
        classification, upstream = gov.classify_source(path, frame)
    frame_ = user_frame()
    op = gov.operation(
        Action.READ,
        classification,
        sources=[Source(name=label, classification=classification)],
        method=f"pandas.{reader}",
        code_location=code_location(frame_),
    )
    gov.govern(op)
    parents = tuple(LineageNode(name=s, operation="export") for s in upstream)
    attach(frame, classification, LineageNode(name=label, operation=reader, parents=parents))


def sql_target(args: tuple[Any, ...], kwargs: dict[str, Any]) -> str | None:
    """``to_sql(name, con)`` as one target: ``<database URL>#<table>``."""
    name = args[0] if args else kwargs.get("name")
    con = args[1] if len(args) > 1 else kwargs.get("con")
    if con is None:
        return None
    if isinstance(con, str):
        url = con
    elif hasattr(con, "engine") or hasattr(con, "url"):  # SQLAlchemy Engine or Connection
        engine = getattr(con, "engine", con)
        url = engine.url.render_as_string(hide_password=True)
    else:  # a DBAPI connection, e.g. sqlite3: name the file when it can be found
        try:
            rows = con.execute("PRAGMA database_list").fetchall()
            file = next((r[2] for r in rows if r[1] == "main"), "") or ":memory:"
            url = f"sqlite:///{file}"
        except Exception:
            url = f"dbapi://{type(con).__module__}"
    return f"{url}#{name}" if name else url


def wrap_writer(method: str, original: Callable[..., Any]) -> Callable[..., Any]:
    keyword = WRITERS.get(method, "")

    @functools.wraps(original)
    def writer(self: Any, *args: Any, **kwargs: Any) -> Any:
        exception_id = kwargs.pop("exception_id", None)
        purpose = kwargs.pop("purpose", None)
        if _bypass.active():
            return original(self, *args, **kwargs)
        if method == SQL_WRITER:
            target = sql_target(args, kwargs)
        else:
            target = args[0] if args else kwargs.get(keyword)
        if target is None or (
            not isinstance(target, (str, os.PathLike)) and not hasattr(target, "name")
        ):
            return original(self, *args, **kwargs)  # to a string or an in-memory buffer
        from lacuna.governor import current

        gov = current()
        state = effective_state(self)
        name = display_name(target)
        frame_ = user_frame()
        op = gov.operation(
            Action.EXPORT,
            state.classification,
            sources=[
                Source(name=r, classification=state.classification) for r in state.lineage.roots()
            ],
            destination=gov.destination(name),
            method=f"pandas.{type(self).__name__}.{method}",
            code_location=code_location(frame_),
            variable=variable_name(self, frame_),
            purpose=purpose,
            exception_id=exception_id,
        )
        gov.govern(op)  # raises GovernanceViolation in enforce mode: nothing is written
        with _bypass.bypass():
            result = original(self, *args, **kwargs)
        if is_local(name) and op.destination is not None and op.destination.type in _SIDECAR_TYPES:
            write_sidecar(
                name, state.classification, sources=state.lineage.roots(), written_by=op.user.id
            )
        return result

    return writer
