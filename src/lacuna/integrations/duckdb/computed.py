"""Output columns of a DuckDB statement that no classified source column accounts for,
classified by a sample of their values at the write.

A DuckDB output column is classified by column lineage from its sources and by the values the
SQL text spells (:mod:`lacuna.lineage.sql_values`). A column computed from a generator
(``range``, ``generate_series``), ``random()``, a row number, or a public column mixed with
literals has neither: ``SELECT 'person' || i || '@example.com' AS email FROM range(20) t(i)``
was PUBLIC and ``write_csv`` put 20 e-mail addresses in ~/Downloads, while the same bytes
through pandas were denied (classified by content at the write).

:func:`remember` notes such columns when a statement is classified (per its state's lineage
node, cheap: a pass over the lineage's edges); at a write (a relation's ``write_csv`` and
friends, ``create``/``insert_into``, ``COPY … TO``, ``CREATE TABLE … AS``, ``INSERT …
SELECT``) :func:`sampled` reads a bounded sample of only those columns (a projection with a
``LIMIT``, governance bypassed as Lacuna's other internal reads) and what one pass over every
row written finds in them (:func:`_scanned`: a value after the first rows was not seen), and
each takes at least the class of its values, classified by value as a column of a pandas
write is (not by its name). Rows drawn anew at each run (``random()``: :func:`draws`) are
drawn once and held by the caller, so the rows decided on are the rows written.
A column that is a constant (no input at all) keeps the rule for constants: only a value a
strong recognizer validates counts (``'Denver' AS city`` is not a person's name). When every
output column has a classified source the sample is skipped (a dictionary look-up); a column
of a catalog table that is not personal is no classified source (:func:`_first_rows`: its class came
from the table's first rows). A sample that cannot run refuses the write, saying why (fail
closed).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from contextlib import suppress
from dataclasses import replace
from typing import Any, NoReturn

from sqlglot import exp

from lacuna.classify.header import is_pseudo
from lacuna.lineage.records import ColumnEdge, DatasetRef, EdgeKind
from lacuna.lineage.state import DataState, LineageNode
from lacuna.model import Classification, ColumnKind, Tier

STATEMENT = "duckdb.sql"  # the operation of a statement's lineage node (statement_state)
_KEPT = 65536  # statements remembered; one forgotten is sampled in full (fail closed)
# per statement node: each output column no classified source accounts for -> a constant?
_COMPUTED: dict[str, Mapping[str, bool]] = {}
# nodes a sample must not read again, and why: a one-shot source (a record batch reader) or a
# sequence a second run would advance (nextval): refused instead of sampled
_ONCE: dict[str, str] = {}
_READER = ("the relation reads a record batch reader, which can be read once only; read it "
           "into a table first (reader.read_all())")
SEQUENCE = ("the statement calls nextval, and a second run for the sample would advance the "
             "sequence (the rows written would not be the rows asked for); write the sequence "
             "numbers into a table first, or give each column a classified source")
STATEFUL = frozenset({"nextval", "currval", "setseed", "setval"})
# nodes whose statement draws new values at every run (random(), gen_random_uuid()) in a
# column no classified source accounts for: a second run for the sample classifies other
# values than those written, and advances the generator (after setseed the rows written
# were not plain DuckDB's); a relation of one is written from its rows held once (held())
_DRAWS: dict[str, bool] = {}
_VIEWS: dict[tuple[str, str], LineageNode] = {}  # (database URL, view) -> its statement
_DRAWING = frozenset({"uuidv4", "uuidv7", "current_query", "current_query_id",
                      "current_transaction_id", "current_connection_id", "txid_current",
                      # the clock: stable within one statement (DuckDB: within a transaction),
                      # not between the sample's run and the write's (``WHERE
                      # microsecond(now()) % 2 = 0`` wrote e-mails a sample of no rows let out)
                      "now", "get_current_timestamp", "get_current_time",
                      "transaction_timestamp", "current_localtime", "current_localtimestamp"})
# sqlglot's own nodes for DuckDB's functions that draw anew (random(), uuid(), the clock)
_DRAWN = (exp.Rand, exp.Uuid, exp.CurrentTimestamp, exp.CurrentTime, exp.CurrentDate,
          exp.CurrentDatetime, exp.Localtimestamp, exp.Localtime)


def _kept(table: dict[Any, Any], key: Any, value: Any) -> None:
    """``table[key] = value``, the oldest entry dropped past :data:`_KEPT` (a dropped node is
    sampled in full: fail closed). Threads may race on the drop: one of them wins."""
    if len(table) >= _KEPT:
        with suppress(RuntimeError, StopIteration):  # changed by another thread meanwhile
            table.pop(next(iter(table)), None)
    table[key] = value


def one_shot(obj: Any) -> bool:
    """Whether DuckDB can scan ``obj`` once only (a record batch reader): a sample would
    consume the rows the user's write is for."""
    return hasattr(obj, "read_next_batch") and not hasattr(obj, "__len__")


# statement nodes whose one catalog table, written whole, was classified from its first rows
# only (lacuna.sql.tables.classify_table(spread=False)): the write's scan classifies a spread
# of all its rows with the function kept here, as the table's own sample would have been
_SPREADS: dict[str, Callable[[list[str], list[tuple[Any, ...]]], Classification]] = {}


def spread_later(node: LineageNode,
                 classify: Callable[[list[str], list[tuple[Any, ...]]], Classification],
                 ) -> None:
    """Note that statement ``node`` writes its one catalog table whole (``COPY v TO``,
    ``CREATE TABLE t AS SELECT * FROM v``) and that the table was classified from its first
    rows only: :func:`sampled` scans every column of what it writes and ``classify(names,
    rows)`` classifies some of its first rows beside each column's spread over all rows,
    taken in that same pass (the table's own reservoir sample was a second pass over every
    row of a view)."""
    _kept(_SPREADS, node.id, classify)


def spreads(node: LineageNode) -> bool:
    """Whether a write of ``node`` classifies a spread of its rows (:func:`spread_later`)."""
    return bool(_SPREADS) and node.id in _SPREADS


def once(node: LineageNode, why: str = _READER) -> None:
    """Note that the data of ``node`` must not be read again for a sample, and ``why`` (by
    default: it comes from a one-shot source, :func:`one_shot`)."""
    _kept(_ONCE, node.id, why)


def remember(node: LineageNode, columns: Mapping[str, Any], edges: Sequence[ColumnEdge],
             sources: Mapping[DatasetRef, DataState], query: exp.Expr | None, *,
             anew: bool | None = None) -> None:
    """Note which of a statement's output ``columns`` (name -> ColumnClass) no classified
    source column accounts for. ``edges``: its column lineage; ``sources``: the state of each
    dataset it reads, by the lineage's name for it; ``query``: its parsed query; ``anew``:
    whether it gives other rows at each run (:func:`drawn`), when told apart from ``query``
    (a ``TABLESAMPLE`` of a table function is gone once the function is replaced).

    A column is accounted for by a copy of a source column (an identity edge), or by a
    transformation of one that already made it more than PUBLIC (a sample could only confirm
    it); a source column that is itself unaccounted for (a relation over a generated one)
    accounts for nothing."""
    below: dict[DatasetRef, dict[str, bool]] = {}  # each source's own, looked up once
    sourced: set[str] = set()
    for edge in edges:
        if edge.source not in sources:
            continue
        if edge.source not in below:
            state = sources[edge.source]
            below[edge.source] = {**unsourced(state, list(state.classification.columns)),
                                  **_first_rows(state)}
        if edge.source_column in below[edge.source]:
            continue
        target = columns.get(edge.target_column)
        if edge.kind is EdgeKind.IDENTITY or (target is not None and (
                target.is_personal or target.classification is not ColumnKind.PUBLIC)):
            sourced.add(edge.target_column)
    constants, sequences = _constants(query)
    found = {name: name in constants for name, c in columns.items()
             if name not in sourced and name not in sequences and not c.is_personal
             and not is_pseudo(name)}
    _kept(_COMPUTED, node.id, found)
    if found and query is not None and stateful(query):
        once(node, SEQUENCE)
    if any(not constant for constant in found.values()) and query is not None and (
            anew if anew is not None else drawn(query)):
        _kept(_DRAWS, node.id, True)


def stateful(query: exp.Expr) -> bool:
    """Whether ``query`` calls a function whose run changes (or reads) a sequence's or the
    random generator's state (:data:`STATEFUL`): a second run, or a look, is not free."""
    return any(f.name.lower() in STATEFUL for f in query.find_all(exp.Anonymous))


def drawn(query: exp.Expr) -> bool:
    """Whether ``query`` gives other rows at each run: it calls a function that draws anew
    (:data:`_DRAWN`, :data:`_DRAWING`), or samples a source without a seed (``USING SAMPLE
    50%``, ``TABLESAMPLE``: other rows at each run, so a scan of one run missed what another
    wrote)."""
    return any(isinstance(f, _DRAWN) or (isinstance(f, exp.Anonymous) and f.name.lower()
                                         in _DRAWING) for f in query.find_all(exp.Func)) or any(
        s.args.get("seed") is None for s in query.find_all(exp.TableSample))


TABLE = "table"  # the operation of the lineage node of a table read from a DuckDB catalog


def _first_rows(state: DataState) -> dict[str, bool]:
    """The columns of a table read from the catalog (``state``'s node a :data:`TABLE`) that its
    classification leaves other than personal (PUBLIC, an identifier, financial): that class
    came from its names, a record of what was written into it, and its first rows, and an
    ``UPDATE``, a late ``INSERT``, a ``DELETE`` of its first rows or a write Lacuna did not see
    (another process, before ``lacuna.enable()``) changes what its later rows hold without
    changing that. Such a column accounts for nothing: at a write it is sampled and scanned
    over every row written, as a computed column is (``COPY t TO`` of a table whose rows past
    the first 1,000 an ``UPDATE`` set to e-mail addresses was written as PUBLIC). A personal
    column (PII, PHI) keeps its class (a scan could only confirm it), so its copy costs a
    look-up, as before."""
    if state.lineage.operation != TABLE or state.lineage.parents:
        return {}  # a file, a frame, a relation; a view Lacuna saw made: its statement's
    return {name: False for name, c in state.classification.columns.items()
            if not c.is_personal and not is_pseudo(name)}


def viewed(url: str, view: str, node: LineageNode) -> None:
    """Note that view ``view`` of database ``url`` was made (``CREATE VIEW``,
    ``rel.create_view``) from the statement of lineage ``node``: a read of the view is made
    from it (:func:`view_parents`), so its columns no classified source accounts for are still
    sampled and scanned at a write. Before, ``COPY v TO`` of a view over generated e-mails
    was a copy of the view's columns, classified by its first rows only."""
    _kept(_VIEWS, (url, view.lower()), node)
    _kept(_NAMED, node.id, node)


_NAMED: dict[str, LineageNode] = {}  # statements views were made from, by their node's id
VIEW_KEY = "view"  # in an in-memory view's comment (lacuna: {…}): the statement it was made from


def view_comment(text: str, node: LineageNode) -> str:
    """``text``, the comment Lacuna writes on a view (:func:`lacuna.sql.tables.comment_text`),
    naming the statement the view was made from (``node``), which :func:`view_parents` asks
    of an in-memory view: the view itself says which database it is in."""
    import json

    from lacuna.sql.tables import COMMENT_PREFIX

    data = json.loads(text[len(COMMENT_PREFIX):])
    data[VIEW_KEY] = node.id
    return f"{COMMENT_PREFIX} {json.dumps(data, sort_keys=True, separators=(',', ':'))}"


def _named_node(comment: str | None) -> str | None:
    """The statement an in-memory view's comment names (:func:`view_comment`), if any."""
    import json

    from lacuna.sql.tables import COMMENT_PREFIX

    text = (comment or "").strip()
    if not text.startswith(COMMENT_PREFIX):
        return None
    try:
        data = json.loads(text[len(COMMENT_PREFIX):])
    except ValueError:
        return None
    found = data.get(VIEW_KEY) if isinstance(data, dict) else None
    return found if isinstance(found, str) else None


def view_parents(url: str, name: str, comment: Callable[[], str | None] | None = None,
                 ) -> tuple[LineageNode, ...]:
    """The lineage a read of table ``name`` of ``url`` is made from: the statement a view of
    that name was made from (:func:`viewed`), if Lacuna saw it made.

    Every in-memory database has the one URL ``duckdb:///:memory:``, so the name alone does
    not say which database's view it was: another connection's table (or view) of that name
    took the view's statement as its own, and its columns counted as accounted for, never
    scanned at a write (connection ``a`` made a view ``t`` of a frame; connection ``b``'s
    table ``t``, PUBLIC by its comment and first rows, was copied to ~/Downloads with the
    e-mail an ``UPDATE`` put past them). For an in-memory database the view read must name
    that statement in its comment (``comment()``, read only then: :func:`view_comment`);
    when it does not (another database's, a table, a view replaced or relabelled), the read
    has no such parent: a catalog table's columns are then sampled and scanned at a write."""
    node = _VIEWS.get((url, name.lower())) if _VIEWS else None
    if node is not None and url.endswith("/:memory:"):  # the one its comment names (two
        named = _named_node(comment()) if comment is not None else None  # databases may
        node = _NAMED.get(named) if named is not None else None  # each have a view t)
    return (node,) if node is not None else ()


def draws(node: LineageNode) -> bool:
    """Whether the data of ``node`` is drawn anew at each run (``random()``,
    ``gen_random_uuid()``, … in a column no classified source accounts for, here or in a
    statement it is made from): then it is classified on the rows it writes, held once
    (:func:`held`), not on a second run."""
    return bool(_DRAWS) and _ancestor(node, _DRAWS) is not None


def _ancestor(node: LineageNode, table: Mapping[str, Any]) -> Any:
    """The entry of ``table`` for ``node`` or its nearest noted ancestor, if any."""
    seen: set[str] = set()
    stack = [node]
    while stack:
        here = stack.pop()
        if here.id in seen:
            continue
        if here.id in table:
            return table[here.id]
        seen.add(here.id)
        stack.extend(here.parents)
    return None


def _constants(query: exp.Expr | None) -> tuple[set[str], set[str]]:
    """The output names of ``query``'s projections that are constants in every branch (built
    from literals only: :func:`lacuna.lineage.sql_values.folded`), and those that are a
    sequence's next number in every branch (``nextval('s') AS id``: a number, not sampled)."""
    from lacuna.lineage.sql_values import folded

    if query is None:
        return set(), set()
    if isinstance(query, (exp.Create, exp.Insert)):
        query = query.expression
    branches: list[exp.Expr] = []
    stack: list[exp.Expr | None] = [query]
    while stack:
        node = stack.pop()
        if isinstance(node, exp.SetOperation):
            stack.extend((node.this, node.expression))
        elif isinstance(node, exp.Subquery):
            stack.append(node.this)
        elif isinstance(node, exp.Select):
            branches.append(node)
        else:
            return set(), set()  # VALUES, a PIVOT, …: computed (their values classified)
    found: set[str] | None = None
    numbers: set[str] | None = None
    for select in branches:
        here, counted = set(), set()
        for p in select.expressions:
            inner = p.this if isinstance(p, exp.Alias) else p
            if folded(inner) is not None:
                here.add(p.alias_or_name)
            elif isinstance(inner, exp.Anonymous) and inner.name.lower() == "nextval":
                counted.add(p.alias_or_name)
        found = here if found is None else found & here
        numbers = counted if numbers is None else numbers & counted
    return found or set(), numbers or set()


def unsourced(state: DataState, columns: Sequence[str]) -> dict[str, bool]:
    """Which of ``columns`` of a relation of ``state`` no classified source column accounts
    for (-> whether each is a constant). A state made from statements (a join, ``rename``, a
    relation over one) whose own node was not noted: every column that is not already
    personal, when a statement among its ancestors was not noted or left such a column (fail
    closed); none when no statement made it (a frame, a file, a table: classified by content).
    A ``*`` is no column: the star of a source with no columns (``SELECT * FROM`` a frame of
    none), which DuckDB refuses to write as the plain call does."""
    columns = [c for c in columns if c != "*"]
    own = _COMPUTED.get(state.lineage.id)
    if own is not None:
        return {c: own[c] for c in columns if c in own}
    seen: set[str] = set()
    stack = [state.lineage]
    while stack:
        node = stack.pop()
        if node.id in seen:
            continue
        seen.add(node.id)
        noted = _COMPUTED.get(node.id)
        if (noted is None and node.operation == STATEMENT) or noted:
            classes = state.classification.columns
            return {c: False for c in columns if not is_pseudo(c)
                    and (c not in classes or not classes[c].is_personal)}
        stack.extend(node.parents)
    return {}


def sampled(state: DataState, columns: Sequence[str],
            sample: Callable[[list[int]], Any], config: Any, *,
            reads_source: bool = True,
            whole: Callable[[list[int]], Any] | None = None) -> DataState:
    """``state`` with each of ``columns`` (the output's names in order, a name twice when two
    columns have it) no classified source accounts for at least as strict as its values: a
    sample of its first rows, and what a scan of every row finds (:func:`_scanned`).
    ``sample(positions)`` returns a pandas frame of at most ``config.sample_rows`` rows of the
    columns at those positions (from 0), in that order: by position, since two output columns
    may share a name (the second one's e-mails were not read). ``whole(positions)`` returns a
    DuckDB relation of every row of those columns (what is written), scanned in one pass; a
    column that is a constant is not scanned (every row holds its one value).

    ``reads_source=False``: ``sample`` and ``whole`` read what the user already has (a frame a
    relation was converted to), not the source again, so a one-shot source is no obstacle.

    Raises:
        IntegrationError: the sample cannot be read (the write is refused, fail closed).
    """
    if state.classification.floor is Tier.PROPRIETARY:
        return state  # PROPRIETARY whatever its values (fail closed, e.g. ``rel.map(f)``,
        # whose f must not run before the decision): nothing a sample could add to the tier
    todo = unsourced(state, columns)
    table = _SPREADS.get(state.lineage.id) if _SPREADS and whole is not None else None
    if table is not None:  # a catalog table written whole, classified from its first rows:
        # every column it writes is sampled and scanned (a constant's one value is sampled)
        todo = {c: todo.get(c, False) for c in columns if c != "*" and not is_pseudo(c)}
    if not todo:
        return state
    from lacuna import _bypass
    from lacuna.classify.heuristic import data_in_names
    from lacuna.errors import IntegrationError
    from lacuna.lineage.sql_values import by_value

    names = list(todo)
    positions = [i for i, c in enumerate(columns) if c in todo]
    why = not_again(state.lineage) if reads_source else None
    if why is not None:
        msg = (f"Lacuna cannot read a sample of the column(s) {', '.join(names)}, which no "
               f"classified source accounts for (computed from generators, random values or "
               f"literals), to classify their values before this DuckDB write: {why}. The "
               f"write is refused (fail closed)")
        _refuse(IntegrationError(msg))
    try:
        with _bypass.bypass():
            frame = sample(positions)
        if len(frame.columns) != len(positions):
            msg = f"the sample has {len(frame.columns)} columns, not {len(positions)}"
            raise ValueError(msg)
        limit = int(config.sample_rows)
        per_column: dict[str, list[str]] = {}
        for at, position in enumerate(positions):
            name = columns[position]
            values = per_column.setdefault(name, [])
            for value in frame.iloc[:, at].tolist():
                if len(values) >= 2 * limit:
                    break
                values.extend(_texts(value))
        for name in list(per_column):
            if todo[name]:  # a constant: only what a strong recognizer validates counts,
                # as the values it finds (a long text was cut at 2,048 characters before the
                # classifier read it: an e-mail at its end went unread, and out as PUBLIC)
                per_column[name] = sorted(data_in_names(dict.fromkeys(per_column[name])))
            if not per_column[name]:
                del per_column[name]
        scanned = [p for p in positions if not todo[columns[p]]]
        found: list[tuple[str, dict[str, list[str]]]] = []
        spread: list[tuple[Any, ...]] = []
        if table is not None and whole is not None:  # every column, and a spread of rows
            every = list(range(len(columns)))
            with _bypass.bypass():
                found, spread = _scanned(whole(every), columns, limit, only=set(scanned),
                                         rows=limit - limit // 2)
                first = [tuple(r) for r in whole(every).limit(limit // 2).fetchall()]
            spread = [*first, *spread]
        elif whole is not None and scanned:
            with _bypass.bypass():
                found, _ = _scanned(whole(scanned), [columns[p] for p in scanned], limit)
    except Exception as exc:
        msg = (f"Lacuna cannot read a sample of the column(s) {', '.join(names)}, which no "
               f"classified source accounts for (computed from generators, random values or "
               f"literals), to classify their values before this DuckDB write: {exc}. The "
               f"write is refused (fail closed); write a query whose columns come from tables, "
               f"frames or files, or write it through pandas")
        _refuse(IntegrationError(msg), exc)
    c: Classification = state.classification
    if per_column:
        c = by_value(c, per_column, config, why="a value computed in the statement (a sample "
                     "of the column's first rows at the write)")
    for why, kind in found:
        c = by_value(c, kind, config, why=f"a value computed in the statement ({why})")
    if table is not None:
        from lacuna.lineage.sidecar import restrict

        c, _ = restrict(table(list(columns), spread), c, config, where=(
            "a spread of the table's rows (some of its first rows and the same number over "
            "all of them), taken by the scan of every row written"))
    return state if c is state.classification else replace(state, classification=c)


_SPREAD = "a spread of the column's values over every row written"
_FOUND = ("values of the formats a strong recognizer validates, found by a scan of every row "
          "written")


def _scanned(rel: Any, names: Sequence[str], limit: int, *,
             only: set[int] | None = None, rows: int = 0,
             ) -> tuple[list[tuple[str, dict[str, list[str]]]], list[tuple[Any, ...]]]:
    """What one pass over every row of ``rel`` (a DuckDB relation of the columns ``names``, in
    order) finds in each column, for :func:`sampled` to classify beside its first rows: the
    first rows alone let ``CASE WHEN i >= 1000 THEN 'p' || i || '@example.com' END`` leave as
    PUBLIC. Per column, three bounded lists, each classified as a sample of its own:

    - a spread of its values over every row (the ``limit`` of smallest hash: any value
      frequent anywhere is in it, as in a reservoir sample, but the same rows every run);
    - up to :data:`_HITS` values holding an ``@`` (e-mail addresses), and
    - up to :data:`_HITS` values matching one of the strong recognizers' free-text patterns
      (card, IBAN, IP, phone, SSN, street address: :func:`_gate`), wherever they are.

    The patterns run inside DuckDB (RE2) on each value cast to text (a list's or a struct's
    text holds its items); what they find is then validated by the classifier as any sample
    is. A list's values are read as such (:func:`_texts`).

    ``only``: the positions of the columns to scan (default: every one); ``rows``: also that
    many rows of every column's spread (its values of smallest hash, the scan's own for a
    column it scans), side by side, returned second: no more than the pass already computes
    (a spread of whole rows, hashed as rows, cost more than the reservoir pass it replaced)."""
    gate = _literal(_gate())
    anywhere = _literal(_gate(email=True))
    types = [str(getattr(t, "id", t)) for t in rel.types]
    kept = [i for i, t in enumerate(types) if t not in _NO_TEXT and (only is None or i in only)]
    if not kept and not rows:
        return [], []
    cols, aggs = [], []
    for i, at in enumerate(kept):
        pick = f"arg_min(__o{i}, hash(__o{i}), {{n}})"
        cols.append(f"#{at + 1} AS __o{i}")
        inside = "NULL"
        if types[at] in _NUMBERS:  # digits only: a card, phone or SSN has eight or more
            gates = ["false", f"__o{i} >= 10000000 OR __o{i} <= -10000000"]
        else:
            cols.append(f"CAST(#{at + 1} AS VARCHAR) AS __c{i}")
            gates = [f"contains(__c{i}, '@')", f"regexp_matches(__c{i}, {gate})"]
            # a long text or a long list (a string_agg, a list() of a column) is read cut
            # (_texts: 100 items; the classifier: 2,048 characters): what the patterns find
            # inside it is kept as values of their own
            cols.append(f"CASE WHEN length(CAST(#{at + 1} AS VARCHAR)) > {_LONG} THEN "
                        f"regexp_extract_all(CAST(#{at + 1} AS VARCHAR), {anywhere})"
                        f"[1:{_HITS}] END AS __x{i}")  # a CASE: only long values are cut
            inside = (f"arg_min(__x{i}, hash(__c{i}), {_HITS}) FILTER (WHERE len(__x{i}) > 0)")
        aggs += [pick.format(n=int(limit)),
                 *(pick.format(n=_HITS) + f" FILTER (WHERE {g})" for g in gates), inside]
    rest = [i for i in range(len(types)) if i not in kept] if rows else []
    for j, at in enumerate(rest):  # a column not scanned: its spread alone (as its values)
        cols.append(f"#{at + 1} AS __n{j}")
        aggs.append(f"arg_min(__n{j}, hash(__n{j}), {int(rows)})")
    row = rel.project(", ".join(cols)).aggregate(", ".join(aggs)).fetchall()[0]
    found: list[tuple[str, dict[str, list[str]]]] = [
        (_SPREAD, {}), (_FOUND, {}), (_FOUND, {}), (_INSIDE, {})]
    for i, name in enumerate(names[at] for at in kept):
        for kind, (_, values) in enumerate(found):
            texts = values.setdefault(name, [])
            for value in row[4 * i + kind] or []:
                texts.extend(_texts(value) if kind < 3 else _values_in(value))
    spread: list[tuple[Any, ...]] = []
    if rows:  # each column's spread, its values as DuckDB gives them, side by side
        lists = {at: list(row[4 * i] or [])[:rows] for i, at in enumerate(kept)}
        lists.update({at: list(row[4 * len(kept) + j] or []) for j, at in enumerate(rest)})
        longest = max((len(v) for v in lists.values()), default=0)
        spread = [tuple(lists[at][k] if k < len(lists[at]) else None
                        for at in range(len(types))) for k in range(longest)]
    return [(why, {n: v for n, v in values.items() if v}) for why, values in found
            if any(values.values())], spread


def _values_in(pieces: Any) -> list[str]:
    """The values the strong recognizers' free-text patterns find in ``pieces`` (what the
    scan cut out of a long text), without the character before one that some patterns
    match (``(?:^|[^0-9])``)."""
    from lacuna.classify.heuristic import strong_recognizers

    found: list[str] = []
    for piece in pieces or []:
        for _, r in strong_recognizers():
            if r.search:
                found += [m.group("value") for m in re.finditer(r.search, str(piece))]
    return found[:_HITS]


_HITS = 50  # values of each kind a scan keeps per column
_LONG = 200  # characters past which a value's text is also searched inside
_INSIDE = ("values a strong recognizer's free-text pattern finds inside a long text or list, "
           "found by a scan of every row written")
# numbers: matched by magnitude, not as text (casting a million doubles to text to match
# them cost more than the write)
_NUMBERS = frozenset({"integer", "bigint", "hugeint", "uinteger", "ubigint", "uhugeint",
                      "float", "double", "decimal"})
# DuckDB types whose values no strong recognizer reads (a date, a time, a flag, a number of at
# most five digits): not scanned (their first rows are still sampled); casting a million
# timestamps to text to match them tripled the cost of a write
_NO_TEXT = frozenset({
    "boolean", "tinyint", "smallint", "utinyint", "usmallint", "date", "time",
    "time with time zone", "time_ns", "timestamp", "timestamp with time zone", "timestamp_s",
    "timestamp_ms", "timestamp_ns", "interval", "uuid"})


def _gate(*, email: bool = False) -> str:
    """One RE2 pattern: any of the strong recognizers' free-text patterns but (unless
    ``email``) the e-mail's (an ``@`` is looked for apart: a column of addresses would crowd
    the others out)."""
    from lacuna.classify.heuristic import strong_recognizers

    found = [r.search.replace("(?P<value>", "(?:") for _, r in strong_recognizers()
             if r.search and (email or "email" not in r.name)]
    return "|".join(f"(?:{p})" for p in dict.fromkeys(found))


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _texts(value: Any, depth: int = 0) -> list[str]:
    """The texts a sampled value holds: itself, or (a list, a struct, a map) its items, and
    bytes decoded; none for a null. Before, ``['kira@example.org']`` was read as the text
    ``"['kira@example.org']"`` and ``'kira@…'::BLOB`` as ``"b'kira@…'"``, neither an e-mail."""
    if value is None or depth > 4:
        return []
    if isinstance(value, (bytes, bytearray, memoryview)):
        return [bytes(value).decode("utf-8", "replace")]
    if isinstance(value, Mapping):
        return [t for v in value.values() for t in _texts(v, depth + 1)]
    if isinstance(value, (list, tuple)) or (hasattr(value, "tolist") and getattr(
            value, "ndim", 0) > 0):
        items = value.tolist() if hasattr(value, "tolist") else value
        return [t for v in list(items)[:100] for t in _texts(v, depth + 1)]
    try:
        if value != value:  # NaN, NaT
            return []
    except (TypeError, ValueError):  # pd.NA compares to nothing
        return []
    return [str(value)]


def _refuse(exc: Exception, cause: BaseException | None = None) -> NoReturn:
    """Raise ``exc``, the answer to the user's write (not an internal failure of Lacuna)."""
    from lacuna.integrations.pandas._patch import users_error

    users_error(exc)
    raise exc from cause


def not_again(node: LineageNode) -> str | None:
    """Why the data of ``node`` must not be read again for a sample (:func:`once`), if so."""
    if not _ONCE:
        return None
    found: str | None = _ancestor(node, _ONCE)
    return found


def quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


__all__ = ["SEQUENCE", "STATEFUL", "STATEMENT", "TABLE", "VIEW_KEY", "drawn", "draws",
           "not_again", "once", "one_shot", "quoted", "remember", "sampled", "spread_later",
           "spreads", "stateful", "unsourced", "view_comment", "view_parents", "viewed"]
