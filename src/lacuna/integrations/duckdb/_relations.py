"""The classification of a DuckDB relation, and of the Python objects a statement scans by
name; relations combined column by column."""

from __future__ import annotations

from typing import Any

import duckdb

from lacuna import _bypass
from lacuna.integrations.duckdb import computed
from lacuna.integrations.duckdb._base import MAPPED, _gov
from lacuna.integrations.frames.hooks import outermost
from lacuna.integrations.frames.state import STATES, effective, k_again
from lacuna.lineage.frames import effective_state, with_labels
from lacuna.lineage.state import DataState, LineageNode
from lacuna.model import Classification


def _with_view(gov: Any, registered: DataState, view: Classification, name: str) -> DataState:
    """A registered object's state combined, column by column, with what its view ``name``
    holds now (a COMBINE step the governor applies)."""
    from lacuna.lineage.step import Step, StepInput, StepKind

    inputs = (StepInput.of(registered), StepInput(classification=view, lineage=LineageNode(
        name=name, operation="table")))
    outputs = tuple(dict.fromkeys([*registered.classification.columns, *view.columns]))
    column_map = {c: tuple((i, c) for i, held in enumerate(inputs)
                           if c in held.classification.columns) for c in outputs}
    step = Step(kind=StepKind.COMBINE, operation="duckdb.register", inputs=inputs,
                outputs=outputs, column_map=column_map)
    state: DataState = gov.inherit(step).state()
    return state


def relation_state(rel: Any) -> DataState:
    """The effective state of a DuckDB relation."""
    config = _gov().config.classification

    def sample(names: Any) -> Any:
        with _bypass.bypass(), outermost():
            return rel.limit(config.sample_rows).df()[list(names)]

    def read(names: Any) -> Any:
        with _bypass.bypass(), outermost():
            return rel.df()[list(names)]

    found = STATES.get(rel)
    mapped = MAPPED.get(rel) if found is None else None
    if mapped is not None:  # rel.map(f): decided without running f
        state = _mapped_state(rel, relation_state(mapped))
        STATES.set(rel, state)
        return state
    if found is not None and computed.not_again(found.lineage) and any(
            str(c) not in found.classification.columns for c in rel.columns):
        found = _unsampled(found, [str(c) for c in rel.columns])
    state = effective(found, list(rel.columns), sample, config)
    # a LIMIT or WHERE of a k-anonymous frame: k counted again on the rows it gives
    return k_again(state, [str(c) for c in rel.columns], read, config)


def _unsampled(found: DataState, columns: list[str]) -> DataState:
    """``found``, the state of a relation over a one-shot source (a record batch reader
    Lacuna cannot see the rows of: PROPRIETARY, fail closed, with no column classes), with a
    class for each of ``columns`` it lacks, taken from the whole: their values are not
    sampled. Before, the sample read the reader (``con.from_arrow(reader).project(…)``
    consumed it), and the user's write, refused anyway, found it empty."""
    from dataclasses import replace

    from lacuna.model import ColumnClass

    c = found.classification
    why = ("not sampled: the relation reads a record batch reader, which can be read once "
           "only; the relation's class stands for it")
    return replace(found, classification=replace(c, columns={
        **c.columns, **{n: ColumnClass(reasoning=why) for n in columns if n not in c.columns}}))


def _mapped_state(rel: Any, source: DataState) -> DataState:
    """The state of ``rel.map(f)``: each of its columns may hold any of ``source``'s (as a
    method Lacuna does not know), and it is PROPRIETARY (fail closed), as the result of any
    user-defined function is (:func:`lacuna.sql.govern.user_defined`): ``f`` is Python that
    Lacuna does not read, and may return what it was given under any name, or bring in data
    from anywhere. Its columns come from DuckDB's schema (given, or inferred from ``f``'s
    output on an empty frame): ``f`` never runs on the data here."""
    from dataclasses import replace

    state = _strictest("map", [str(c) for c in rel.columns], [source])
    c = state.classification
    why = ("the relation is made by DuckDBPyRelation.map(f), a Python function Lacuna does "
           "not read, which may return what it is given under any name or bring in other data "
           "(a user-defined function); write the relation before map, or do the transformation "
           "in SQL or pandas, for a decision on what it holds")
    return replace(state, classification=Classification.fail_closed(why, over=c))


def classification(rel: Any) -> Classification:
    """The classification of a DuckDB relation, with what its column names hold read as a
    header, as a ``COPY … TO`` decides it (:func:`lacuna.lineage.frames.reported`)."""
    from lacuna.lineage.frames import reported

    return reported(with_labels(relation_state(rel), list(rel.columns),
                                _gov().config.classification))


def _object_state(obj: Any) -> DataState | None:
    import pandas as pd

    if isinstance(obj, (pd.DataFrame, pd.Series)):
        return effective_state(obj, _gov().config.classification)
    if isinstance(obj, duckdb.DuckDBPyRelation):
        return relation_state(obj)
    module = type(obj).__module__
    if module.startswith("polars"):
        from lacuna.integrations.polars._ops import state

        return state(obj)
    if module.startswith("pyarrow"):
        from lacuna.integrations.pyarrow import object_state

        return object_state(obj)  # a reader is not read: DuckDB scans it once, for the user
    return None


def _variable(name: str) -> Any:
    from lacuna.integrations.pandas._frames import user_frame

    frame = user_frame()
    if frame is None:
        return None
    for scope in (frame.f_locals, frame.f_globals):
        if name in scope:
            return scope[name]
    return None


_SET_OPERATIONS = frozenset({"union", "union_by_name", "except_", "intersect"})


def _joined(name: str, columns: list[str], states: list[DataState]) -> DataState:
    """A join's or set operation's result: each column from the inputs' columns of its name
    (a set operation's also from theirs at its position); a column found nowhere (a suffixed
    duplicate) from every input column (fail closed)."""
    held = [list(s.classification.columns) for s in states]
    every = tuple((i, c) for i, cols in enumerate(held) for c in cols)
    column_map: dict[str, tuple[tuple[int, str], ...]] = {}
    for at, out in enumerate(columns):
        found = [(i, out) for i, cols in enumerate(held) if out in cols]
        if name in _SET_OPERATIONS:
            found += [(i, cols[at]) for i, cols in enumerate(held) if at < len(cols)]
        column_map[out] = tuple(dict.fromkeys(found)) or every
    return _stepped(name, columns, states, column_map)


def _strictest(operation: str, columns: list[str], states: list[DataState]) -> DataState:
    """Each column of a result taken to hold any column of ``states`` (fail closed)."""
    every = tuple((i, c) for i, s in enumerate(states) for c in s.classification.columns)
    return _stepped(operation.rsplit(".", 1)[-1], columns, states,
                    dict.fromkeys(columns, every))


def _stepped(name: str, columns: list[str], states: list[DataState],
             column_map: dict[str, tuple[tuple[int, str], ...]]) -> DataState:
    from lacuna.lineage.step import Step, StepInput, StepKind

    step = Step(kind=StepKind.COMBINE, operation=f"duckdb.DuckDBPyRelation.{name}",
                inputs=tuple(StepInput.of(s) for s in states), outputs=tuple(columns),
                column_map=column_map)
    state: DataState = _gov().inherit(step).state()
    return state
