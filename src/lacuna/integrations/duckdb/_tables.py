"""Tables a DuckDB write fills: in memory (a relation this process holds) or in an attached
database file; each carries what it holds as its comment."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from lacuna import _bypass
from lacuna.integrations.duckdb import computed
from lacuna.integrations.duckdb._base import MEMORY, _catalog, _gov, _hand_on, log, url_of
from lacuna.integrations.duckdb._relations import relation_state
from lacuna.integrations.frames.hooks import outermost
from lacuna.lineage.state import DataState, LineageNode
from lacuna.model import Action, Classification, Source

_DML = ("insert", "update", "merge", "copy_from")  # INSERT … SELECT is decided above


def _dml_into_memory(con: Any, stmt: Any, params: Any, run: Callable[[], Any], *,
                     many: bool) -> Any:
    """``INSERT … VALUES``, ``UPDATE``, ``MERGE`` or ``COPY … FROM`` into a table of an
    in-memory database: what it writes (classified as :func:`lacuna.sql.govern.run_governed`
    classifies it: literals and parameters by value, a query's columns by lineage) is a
    derived relation this process holds, as ``CREATE TABLE … AS`` into memory is
    (:func:`_into_memory`): governed as a read, and carried by the table's comment, combined
    with what it held. Before, ``INSERT INTO t VALUES ('kira@example.org')`` was refused as
    an export "to a database without classification support", which memory is not."""
    from lacuna.sql.catalog import Database
    from lacuna.sql.govern import write_of
    from lacuna.sql.restrict import check

    gov = _gov()
    method = f"duckdb.{stmt.verb}"
    check(gov, MEMORY, stmt, method)  # a dbt project's restrict rules, as run_governed's
    db = Database(_catalog(con), MEMORY, "duckdb")
    try:
        with _bypass.bypass(), outermost():
            produced = write_of(gov, db, stmt, params, many=many)
        c = produced.classification
    except Exception as exc:  # Lacuna failed before deciding: the strictest class
        c = Classification.fail_closed(
            f"Lacuna cannot classify this DuckDB {stmt.verb.upper()}: {exc}")
    state = DataState(classification=c, lineage=LineageNode(name=None, operation=method))
    return _into_memory(con, stmt.target, state, run, method=method, stmt=stmt,
                        named=stmt.verb in ("insert", "update"))


def _into_memory(con: Any, table: str, state: DataState, run: Callable[[], Any], *,
                 method: str, stmt: Any = None, named: bool = False) -> Any:
    """A table written into an in-memory database: a derived relation this process holds, like
    a frame, not an export (nothing leaves the process). Governed (and audited) as a read of
    what it holds; then the table carries the classification, combined with what it held
    before: Lacuna writes it as the table's comment, which :func:`classify_table` reads back
    (a comment only adds restrictions), so a later query, ``COPY`` or write of the table is
    decided on it. ``INSERT … RETURNING`` (``stmt``, its analysed statement) is also a read
    of the returned columns as the write leaves them (:func:`lacuna.sql.govern.returned`),
    decided before anything runs; its relation carries that classification."""
    from lacuna.sql.catalog import Database
    from lacuna.sql.govern import returned
    from lacuna.sql.tables import classify_table, comment_text, table_changed

    gov = _gov()
    db = Database(_catalog(con), MEMORY, "duckdb")
    with _bypass.bypass(), outermost():
        before = classify_table(gov, db, table)
        back = returned(gov, db, stmt, state.classification) if stmt is not None \
            and stmt.returning else None
    op = gov.operation(Action.READ, state.classification, method=method,
                       sources=[Source(name=r, classification=state.classification)
                                for r in state.lineage.roots()])
    gov.govern(op)
    if back is not None:  # what comes back, decided before anything runs (like the write)
        gov.govern(gov.operation(Action.READ, back.classification, method=method, sources=[
            Source(name=str(s), classification=back.classification) for s in back.sources]))
    result = run()
    if back is not None:
        _hand_on(result, DataState(classification=back.classification, lineage=LineageNode(
            name=None, operation=method)))
    if stmt is not None and stmt.verb == "create_view":  # a query, no rows: it holds what
        _label_view(con, table, state)  # its query reads, the view's comment says so
        return result
    with _bypass.bypass(), outermost():
        carried = state.classification if before is None else _appended(
            gov, db, table, before, state, method, named=named,
            into=tuple(stmt.columns) if stmt is not None and stmt.verb == "insert" else ())
        db.comment_on(table, comment_text(carried))
    table_changed(gov, db, table)
    return result


def _carried(con: Any, table: str, state: DataState, run: Callable[..., Any], *,
             method: str, into: tuple[str, ...] = ()) -> Callable[..., Any]:
    """``run`` (an allowed write of ``state`` into ``table`` of a database file: ``CREATE
    TABLE o.t AS``, ``INSERT INTO o.t SELECT``, a relation's ``create``/``insert_into``), then
    the table's comment set to what it holds: what it held before (read before the write)
    combined with what was written (:func:`_appended`), never lower. The comment lives in the
    file, so it travels with the table to every session and alias that opens it, which the
    lineage store's record (``<file>#t``, whatever alias the write named) may not (another
    process's store):
    a column declared PII copied into an attached file was read back, in this session as in
    the next, from its values alone (PUBLIC), and ``COPY o.t TO '~/Downloads/…'`` let it out.
    A comment that cannot be written is logged, as :func:`lacuna.sql.govern.run_governed`
    logs it (the rows are written by then)."""
    from lacuna.sql.catalog import Database
    from lacuna.sql.tables import classify_table, comment_text, table_changed

    gov = _gov()
    db = Database(_catalog(con), url_of(con), "duckdb")
    with _bypass.bypass(), outermost():
        before = classify_table(gov, db, table)

    def carried(*args: Any, **kwargs: Any) -> Any:
        result = run(*args, **kwargs)
        try:
            with _bypass.bypass(), outermost():
                held = state.classification if before is None else _appended(
                    gov, db, table, before, state, method, into=into)
                db.comment_on(table, comment_text(held))
        except Exception as exc:
            log.error("could not store the classification of %s as its comment: %s", table,
                      exc)
        table_changed(gov, db, table)
        return result

    return carried


def _appended(gov: Any, db: Any, table: str, before: Classification, state: DataState,
              method: str, *, named: bool = False, into: tuple[str, ...] = ()
              ) -> Classification:
    """What a table holds after rows were added to it: its rows before and the new ones,
    combined by the governor (a COMBINE step). The new rows' columns go into the table's
    columns by name when ``named`` (an ``UPDATE``'s or ``INSERT … VALUES``' columns are the
    table's it writes), else by position: into the columns an ``INSERT`` lists (``into``:
    ``INSERT INTO t (b, a) SELECT name, region`` puts the names in ``b``, which was recorded
    as ``a``'s), or the table's; when their number differs, every table column is taken to
    hold any of them (fail closed)."""
    from lacuna.lineage.step import Step, StepInput, StepKind

    info = db.table(table)
    names = [c.name for c in info.columns] if info is not None else list(before.columns)
    added = list(state.classification.columns)
    column_map: dict[str, tuple[tuple[int, str], ...]]
    by_name = {n.lower(): n for n in added}
    listed = {c.lower(): i for i, c in enumerate(into)}
    if into and not named and len(into) == len(added) and len(listed) == len(into) and all(
            c in {t.lower() for t in names} for c in listed):
        column_map = {t: ((0, t), *(((1, added[listed[t.lower()]]),) if t.lower() in listed
                                    else ())) for t in names}
    elif named and added and len(by_name) == len(added) and all(
            n.lower() in {t.lower() for t in names} for n in added):
        # by name (UPDATE t SET v = …, INSERT INTO t (v) VALUES …: the columns it writes)
        column_map = {t: ((0, t), *(((1, by_name[t.lower()]),) if t.lower() in by_name
                                    else ())) for t in names}
    elif len(added) == len(names):
        column_map = {t: ((0, t), (1, n)) for t, n in zip(names, added, strict=True)}
    else:
        column_map = {t: ((0, t), *((1, n) for n in added)) for t in names}
    held = StepInput(classification=before, lineage=LineageNode(
        name=f"{db.url}#{table}", operation="table"))
    step = Step(kind=StepKind.COMBINE, operation=method, inputs=(held, StepInput.of(state)),
                outputs=tuple(names), column_map=column_map)
    classification: Classification = gov.inherit(step).classification
    return classification


def _label_view(rel: Any, view: str, state: DataState | None = None) -> None:
    """``rel.create_view(view)`` (or ``CREATE VIEW view AS …`` on a connection, ``rel``, whose
    query has ``state``): the catalog view carries the relation's classification as its
    comment, as a table written into an in-memory database does, so a later ``SELECT … FROM
    view`` is decided on it (a comment only adds restrictions), not on its names and values."""
    from lacuna.sql.catalog import Database
    from lacuna.sql.tables import comment_text, table_changed

    state = relation_state(rel) if state is None else state
    url = url_of(rel)
    computed.viewed(url, view, state.lineage)
    try:
        with _bypass.bypass(), outermost():
            Database(_catalog(rel), url, "duckdb").comment_on(view, computed.view_comment(
                comment_text(state.classification), state.lineage), kind="VIEW")
    except Exception as exc:  # the view exists unlabelled: read later from its values
        log.warning("could not label the DuckDB view %s with its relation's classification "
                    "(%s): reads of it are classified from its names and values", view, exc)
        return
    with _bypass.bypass(), outermost():
        table_changed(_gov(), Database(_catalog(rel), url, "duckdb"), view)
