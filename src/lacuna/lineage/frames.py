"""What Lacuna knows about a pandas object right now: its effective classification and lineage.

Host-independent (no interception here): the pandas integration, anonymization and
``lacuna.check`` all ask the same question of a frame.

The state stored in ``attrs`` was computed when the object was produced; since then the object
may have lost columns (projection), gained some (assignment), or had content moved under its
labels. Two mechanisms keep the column classes true to the content:

- **tracking**: the operations that move columns (rename, ``set_axis``, ``columns =``,
  ``__setitem__``/``assign``, ``insert``, ``to_frame``, a Series' ``name``, ``concat(axis=1)``)
  move each class with its content (:func:`relabel`, :func:`assign`), and results computed from
  several operands take the strictest class of what fed them (:func:`computed` for a Series,
  :func:`mixed` column by column for a frame);
- **verification** at every boundary (:func:`effective_state`): each label's content is
  fingerprinted (:mod:`lacuna.lineage.content`) and compared with the fingerprint stored when
  its class was computed. A label whose content changed is re-checked: its class becomes the
  strictest of the class stored under it, the classes of the columns whose stored content it
  matches, and a classification of its values alone. It never goes down, and the table never
  goes below its floor. New labels are classified from name and values
  (:func:`lacuna.lineage.rules.derive`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import pandas as pd

from lacuna import _bypass
from lacuna.classify import header
from lacuna.classify.rollup import column_tier
from lacuna.config import ClassificationConfig
from lacuna.lineage import rules
from lacuna.lineage.content import UNNAMED, fingerprints, label_of
from lacuna.lineage.records import ColumnEdge, DatasetRef, EdgeKind
from lacuna.lineage.state import DataState, LineageNode, Origin, Origins, get_state, set_state
from lacuna.model import Classification, ColumnClass, FrozenDict, Layer, Tier, unique

IN_MEMORY = "<in-memory>"
_EMPTY = Classification()
# Classified "from its values alone": a name no name recognizer matches.
_NEUTRAL = "c"


def labels(obj: pd.DataFrame | pd.Series) -> list[str]:
    """Column names plus named index levels: what a reader of the object can see."""
    names = [label_of(obj)] if isinstance(obj, pd.Series) else [str(c) for c in obj.columns]
    names += [str(n) for n in obj.index.names if n is not None]
    return list(dict.fromkeys(names))


def effective_state(
    obj: pd.DataFrame | pd.Series,
    config: ClassificationConfig,
    *,
    recheck: bool = True,
) -> DataState:
    """The classification and lineage of ``obj`` as it is now (see the module docstring).

    Args:
        obj: a DataFrame or Series, governed or not.
        config: classification settings (the host passes its governor's: this step never
            looks the governor up).
        recheck: verify each label's content against its fingerprint (boundaries do);
            ``False`` trusts the tracked classes (the hot paths inside a pipeline, whose
            results are verified at the next boundary).
    """
    state = get_state(obj)
    kept = labels(obj)
    if state is None or not state.classification.columns:
        return _first(obj, state, kept, config)
    parent = state.classification
    now: dict[str, int] = {}
    if recheck:
        with _bypass.bypass():
            now = fingerprints(obj, kept)
    changed = [
        n
        for n in kept
        if recheck and n in parent.columns and state.fingerprints.get(n) != now.get(n)
    ]
    unknown = [n for n in kept if n not in parent.columns]
    held = _held_header(parent, kept)
    if not changed and not unknown:
        if len(kept) + len(held) == len(parent.columns):
            return state
        return replace(state, classification=rules.project(parent, [*kept, *held], config))
    rechecked, new = _recheck(obj, state, now, changed, unknown, config)
    reason = ""
    if rechecked:
        names = ", ".join(rechecked)
        reason = f"the content of column(s) {names} changed since classified: re-checked"
        parent = rules.reassign(parent, rechecked, config, reason=reason)
        tags = unique([*parent.tags, *state.classification.tags])  # re-checks only add
        parent = replace(parent, tier=max(parent.tier, state.classification.tier), tags=tags)
    classification = rules.derive(parent, [*kept, *held], new, config)
    if isinstance(obj, pd.DataFrame):
        classification = _k_of_subset(obj, classification, changed, config,
                                      stored=state.classification)
    if unknown and recheck:
        classification = _k_of_rows(obj, classification, unknown, config,
                                    stored=state.classification)
    if reason and not any(reason in r for r in classification.reasoning):
        line = f"{classification.tier.value}: {reason}"
        classification = replace(classification, reasoning=(line, *classification.reasoning))
    return DataState(
        classification=classification, lineage=state.lineage, fingerprints=state.fingerprints,
        origins=state.origins,
    )


def _k_of_subset(df: pd.DataFrame, classification: Classification, changed: list[str],
                 config: ClassificationConfig, *, stored: Classification | None = None
                 ) -> Classification:
    """The k-anonymity verdict again, for rows taken out of a frame it was given to.

    ``anonymize`` lets quasi-identifiers (age band, ZIP prefix) be non-personal when every group
    over them has at least ``k_anonymity`` rows, and marks them (evidence
    ``quasi_identifier:<type>``). Filtering rows afterwards inherited that verdict, so
    ``anon[df.email == "bob@example.com"]``, Bob's row picked out by an identity, left as PUBLIC
    (or INTERNAL with his salary). When the content of such a column changed, k is counted
    again on the rows there are now; below the threshold the columns are personal data again
    (fail closed: the verdict was about the whole frame, not this subset).

    Columns added since whose names make them quasi-identifiers (an ``occupation`` or
    ``city`` put back from the raw frame, by assignment, ``concat`` or ``merge``) join the
    count, as they would have joined the check inside ``anonymize``: before, the release plus
    a per-person job title stayed PUBLIC.

    A marked column made an index level (``set_index("zip_code")``, which ``to_csv`` writes)
    is counted there, marked as it was in the ``stored`` classification (the re-check of its
    moved content dropped the mark): before, ``anon.set_index("zip_code").iloc[[7]]`` was
    PUBLIC.
    """
    from lacuna.privacy import _is_quasi, guard_for_k, k_of, named_or_level

    def was_marked(name: str, column: ColumnClass) -> bool:
        before = stored.columns.get(name) if stored is not None else None
        return not column.is_personal and (column.quasi_identifier is not None or (
            before is not None and not before.is_personal
            and before.quasi_identifier is not None))

    marked = {n: c for n, c in classification.columns.items() if was_marked(n, c)}
    # anonymize marks every quasi-identifier it counted when k held: one not marked was not
    # there then (added, concatenated, joined since)
    joined = [n for n, c in classification.columns.items() if n not in marked
              and not c.is_personal and not header.is_pseudo(n) and _is_quasi(n, c)
              ] if marked else []
    if not marked or not (set(marked) & set(changed) or joined) or len(df) == 0:
        return classification
    with _bypass.bypass():
        columns = named_or_level(df, [*marked, *joined])
        if not columns:
            return classification
        k = k_of([v for _, v in columns], len(df))
    target = config.k_anonymity
    if k >= target:
        return classification
    qis = ", ".join(dict.fromkeys(n for n, _ in columns))
    if joined:
        message = (f"not anonymous any more: {', '.join(joined)} joined a k-anonymous frame, "
                   f"and over the quasi-identifiers {qis} the smallest group has k={k} < "
                   f"{target} rows, so they are personal data again; anonymize (and "
                   "generalise) the frame with these columns in it")
    else:
        message = (f"not anonymous any more: these rows were taken from a k-anonymous frame, "
                   f"and over its quasi-identifiers {qis} the smallest group here has k={k} < "
                   f"{target} rows, so they are personal data again; release the whole "
                   "anonymized frame, or anonymize (and generalise) this subset on its own")
    return guard_for_k(k, classification, classification, (*marked, *joined), config,
                       taken_out=message)


def _k_of_rows(obj: pd.DataFrame | pd.Series, classification: Classification,
               unknown: list[str], config: ClassificationConfig, *,
               stored: Classification) -> Classification:
    """The k-anonymity verdict again, for rows of a k-anonymous frame turned into columns.

    A row taken out as a Series (``anon.iloc[7]``, ``anon.loc[7]``, ``anon.xs(7)``) or a
    transposed frame (``anon.T[[7]]``) holds the marked quasi-identifiers' values under the
    frame's column labels, in its index, and its own labels (``7``) are new: the row check
    (:func:`_k_of_subset`) saw no marked column and one person's row of the release was written
    to ~/Downloads as PUBLIC. Here each column of such an object is one row of the frame it was
    cut from (a Series, one row): k is counted over those rows, and below the threshold the
    new labels are personal data (the whole release transposed, ``anon.T``, keeps its verdict).

    Only objects that hold text: a row of a frame with text columns is text (``object``), while
    a summary per column (``count()``, ``isna().sum()``, ``nunique()``, ``mean()``) holds numbers
    and is no one's row. A summary of values (``min()``, ``mode().iloc[0]``) holds text and is
    counted as one row (fail closed).
    """
    from lacuna.privacy import guard_for_k, k_of

    marked = {n for n, c in stored.columns.items()
              if not c.is_personal and c.quasi_identifier is not None}
    if not marked or obj.index.nlevels != 1:
        return classification
    dtypes = [obj.dtype] if isinstance(obj, pd.Series) else list(obj.dtypes)
    if not any(pd.api.types.is_string_dtype(d) or pd.api.types.is_object_dtype(d)
               or isinstance(d, pd.CategoricalDtype) for d in dtypes):
        return classification
    at = [i for i, label in enumerate(obj.index) if str(label) in marked] if len(
        obj.index) <= _MAX_ROW_LABELS else []  # a long index holds rows, not column labels
    if not at:
        return classification
    with _bypass.bypass():
        records = (obj.to_frame() if isinstance(obj, pd.Series) else obj).iloc[at].T
        qis = [str(obj.index[i]) for i in at]
        k = k_of([records.iloc[:, j] for j in range(len(at))], len(records))
    target = config.k_anonymity
    if k >= target:
        return classification
    message = (f"not anonymous any more: row(s) of a k-anonymous frame made column(s) (a row "
               f"taken out as a Series, or the frame transposed), and over its "
               f"quasi-identifiers {', '.join(dict.fromkeys(qis))} the smallest group here "
               f"has k={k} < {target} rows, so they are personal data again; release the "
               "whole anonymized frame, or anonymize (and generalise) this subset on its own")
    return guard_for_k(k, classification, classification, unknown, config, taken_out=message)


_MAX_ROW_LABELS = 10_000  # a frame's columns, as the index of a row or a transposed frame


def _held_header(parent: Classification, kept: list[str]) -> list[str]:
    """The header rows a read classified (``(column labels)``), while the frame has exactly
    the labels it was read with: the header it would write is the one read. Any other
    pseudo-column (``(index)``: its values are not tracked) goes, as do they once a label
    changes; a writer reads the header and the index again."""
    rows = [n for n in parent.columns if header.is_header(n)]
    if not rows:
        return []
    rest = {n for n in parent.columns if not header.is_pseudo(n)}
    return rows if set(kept) == rest else []


def with_index(obj: pd.DataFrame | pd.Series, state: DataState,
               config: ClassificationConfig) -> DataState:
    """``state`` with what ``obj``'s unnamed text index levels hold, for a writer that writes
    the index (``to_csv``, ``to_excel``, ``to_sql`` by default; ``to_parquet`` a non-default
    one): :func:`lacuna.classify.header.index_classes`, under ``(index)`` (``(index level
    N)``), when more than PUBLIC."""
    with _bypass.bypass():
        new = header.index_classes(obj, config)
    return _with_written(state, new, config)


def with_header(obj: pd.DataFrame | pd.Series, state: DataState, config: ClassificationConfig,
                *, written: Sequence[Any] | None = None, index: bool = True) -> DataState:
    """``state`` with what ``obj``'s column labels hold, for a writer that writes them as the
    file's header (every writer but ``header=False`` and ``to_json(orient="values")``), and
    with the labels that are values named by position: the state a write is decided and
    recorded on, never one a frame carries.

    Cell values become labels (``pd.DataFrame(columns=emails)``, ``df.columns =
    df["email"].tolist()``, a dict keyed by e-mail addresses, ``get_dummies``, a pivot) and
    leave in the header while every column's class says PUBLIC. Each header row (the aliases
    in ``written``, when the writer writes those instead; the index levels' names with the
    first row when ``index`` is written) is read as values by
    :func:`lacuna.classify.header.read_header` and added, when it holds more than PUBLIC, under
    ``(column labels)`` (``(column labels level N)``). A label found to be a value is named
    ``(column N)`` (an index level, ``(index)``) in the classification, the fingerprints and
    the origins; :attr:`~lacuna.lineage.state.DataState.record_names` maps each such label to
    its name, for what else the writer records (the columns written, their edges).
    """
    with _bypass.bypass():
        found = header.read_header(obj, config, written=written, index=index)
    classes = dict(found.classes)
    # labels taken from a tracked column (pd.DataFrame(columns=s), an index made of a column
    # turned into the header by .T): the Index carries its class, which values made
    # unrecognisable do not show (they left as PUBLIC)
    carried = index_content(obj.columns) if isinstance(obj, pd.DataFrame) else None
    if carried is not None and written is None:
        before = classes.get(header.HEADER)
        classes[header.HEADER] = (carried.column if before is None
                                  else rules.held(carried.column, before, config))
    state = _with_written(state, classes, config)
    columns = [label_of(obj)] if isinstance(obj, pd.Series) else [str(c) for c in obj.columns]
    names = found.names(columns, [None if n is None else str(n) for n in obj.index.names])
    return named_state(state, names)


def with_labels(state: DataState, columns: Sequence[str],
                config: ClassificationConfig) -> DataState:
    """``state`` with what the column names ``columns`` hold, for a writer of a frame without
    an index (polars, pyarrow, DuckDB, Spark): :func:`with_header` of one header row
    (:func:`lacuna.classify.header.read_labels`). A column name that is a value (``pl.DataFrame
    ({address: ...})``, a ``rename``, a pivot, ``SELECT 1 AS "address"``, ``toDF(*addresses)``)
    is named ``(column N)``, counted from 1 over ``columns``; ``record_names`` says so."""
    with _bypass.bypass():
        found = header.read_labels(columns, config)
    state = _with_written(state, dict(found.classes), config)
    return named_state(state, found.names([str(c) for c in columns], []))


def written_state(obj: pd.DataFrame | pd.Series, config: ClassificationConfig) -> DataState:
    """The state of ``obj`` as a writer that writes its index and header would decide it:
    :func:`effective_state` with :func:`with_index` and :func:`with_header` (the labels that
    are values named by position). ``lacuna.check(df)`` decides on it, and ``df.lacuna
    .classification`` reports it (:func:`reported`)."""
    return with_header(obj, with_index(obj, effective_state(obj, config), config), config)


def reported(state: DataState) -> Classification:
    """What ``classification(obj)`` reports of a frame (``df.lacuna.classification``,
    ``lacuna.integrations.polars.classification``, pyarrow's, DuckDB's,
    ``lacuna.spark.classification``): ``state`` as a write is decided on (:func:`written_state`,
    :func:`with_labels`), so a check and a write agree, keyed by the frame's own labels again
    (:func:`lacuna.classify.header.unnamed`: the caller holds them; the reasonings keep the
    record names, ``(column N)``)."""
    return header.unnamed(state.classification, state.record_names)


def named_state(state: DataState, names: Mapping[str, str]) -> DataState:
    """``state`` with the labels in ``names`` named by their record names
    (:func:`lacuna.classify.header.named`): its classification, fingerprints and origins, and
    ``record_names`` saying so."""
    if not names:
        return state
    return replace(
        state, classification=header.named(state.classification, names),
        fingerprints=FrozenDict({names.get(k, k): v for k, v in state.fingerprints.items()}),
        origins=FrozenDict({names.get(k, k): v for k, v in state.origins.items()}),
        record_names=FrozenDict({**state.record_names, **names}))


def _with_written(state: DataState, new: dict[str, ColumnClass],
                  config: ClassificationConfig) -> DataState:
    """``state`` with ``new``: classes of what a writer writes beside the columns (the index,
    the header), under labels no column has."""
    if not new:
        return state
    parent = state.classification
    classification = rules.derive(parent, [*parent.columns, *new], new, config)
    return replace(state, classification=classification)

def appended(state: DataState, existing: Classification,
             config: ClassificationConfig) -> DataState:
    """``state`` of rows appended to a file that holds data of class ``existing`` (what its
    read would be decided on): the file written holds both, so the write is decided and
    recorded as their join, never as the appended rows alone."""
    classification = rules.combine([existing, state.classification], config,
                                   names=["existing rows", "appended"])
    return replace(state, classification=classification)


def _first(
    obj: pd.DataFrame | pd.Series,
    state: DataState | None,
    kept: list[str],
    config: ClassificationConfig,
) -> DataState:
    """Nothing known about the columns yet: classify them from names and values."""
    from lacuna.classify import classify_columns

    parent = state.classification if state else _EMPTY
    lineage = state.lineage if state else LineageNode(name=IN_MEMORY, operation="in-memory")
    if not kept:
        return state or DataState(classification=parent, lineage=lineage)
    with _bypass.bypass():
        new = classify_columns(kept, _samples(obj, kept, config.sample_rows), config)
    return DataState(classification=rules.derive(parent, kept, new, config), lineage=lineage,
                     origins=state.origins if state else FrozenDict())


def _recheck(
    obj: pd.DataFrame | pd.Series,
    state: DataState,
    now: Mapping[str, int],
    changed: list[str],
    unknown: list[str],
    config: ClassificationConfig,
) -> tuple[dict[str, ColumnClass], dict[str, ColumnClass]]:
    """Classes for labels whose content changed (``changed``) or was never seen (``unknown``)."""
    from lacuna.classify import classify_columns

    parent = state.classification
    by_fingerprint: dict[int, list[str]] = {}
    for name, fp in state.fingerprints.items():
        if name in parent.columns:
            by_fingerprint.setdefault(fp, []).append(name)
    with _bypass.bypass():
        samples = _samples(obj, [*changed, *unknown], config.sample_rows)
        by_name = classify_columns(unknown, samples, config) if unknown else {}
        # A column already at the top tier cannot go higher: no need to look at its values.
        # The others are classified from their values alone, under neutral names, layer 1 only.
        recheck = [
            name
            for name in changed
            if name in samples and column_tier(parent.columns[name], config) < Tier.PROPRIETARY
        ]
        neutral = {f"{_NEUTRAL}{i}": name for i, name in enumerate(recheck)}
        found = classify_columns(
            list(neutral), {k: samples[v] for k, v in neutral.items()}, config, cascade=False
        )
        by_values = {name: found[k] for k, name in neutral.items()}
    rechecked: dict[str, ColumnClass] = {}
    for name in changed:
        stored = parent.columns[name]
        best = stored
        sources = [m for m in by_fingerprint.get(now.get(name, 0), []) if m != name]
        for source in sources:
            best = rules.stricter(best, parent.columns[source], config)
        if name in by_values:
            best = rules.stricter(best, by_values[name], config)
        if best is not stored:
            rechecked[name] = _explained(best, sources, from_values=best is by_values.get(name))
    new: dict[str, ColumnClass] = {}
    for name in unknown:
        best = by_name[name]
        sources = by_fingerprint.get(now.get(name, 0), [])
        for source in sources:
            best = rules.stricter(best, parent.columns[source], config)
        new[name] = best if best is by_name[name] else _explained(best, sources, False)
    return rechecked, new


def _explained(col: ColumnClass, sources: list[str], from_values: bool) -> ColumnClass:
    if from_values:
        why = f"its values were re-checked after its content changed: {col.reasoning}"
    else:
        why = f"its content matches column {', '.join(repr(s) for s in sources)} ({col.reasoning})"
    return replace(col, reasoning=why, layer=Layer.INHERITED)


def attach(
    obj: Any,
    classification: Classification,
    lineage: LineageNode,
    *,
    verified: bool = True,
    origins: Origins | None = None,
) -> Any:
    """Store the state of ``obj``.

    Args:
        obj: a DataFrame or Series (anything else is returned unchanged).
        classification: its classification.
        lineage: where it came from.
        verified: ``classification`` was computed from ``obj``'s content as it is now (a read,
            an anonymization): store a fingerprint of each column. ``False`` for results
            derived from inputs that were not verified (merge, concat, group-by): the next
            boundary re-checks their values.
        origins: where each column's content came from (:class:`~lacuna.lineage.state.Origin`);
            by default the origins of the state ``obj`` already carries (an operation that
            keeps its columns' content, e.g. a filter or an anonymization's untouched columns).
    """
    if isinstance(obj, (pd.DataFrame, pd.Series)):
        fps: dict[str, int] = {}
        if verified:
            with _bypass.bypass():
                fps = fingerprints(obj, classification.columns)
        if origins is None:
            old = get_state(obj)
            origins = old.origins if old is not None else FrozenDict()
        set_state(obj, DataState(classification=classification, lineage=lineage, fingerprints=fps,
                                 origins=origins))
    return obj


def read_origins(ref: DatasetRef | None, columns: Sequence[str],
                 names: Mapping[str, str] | None = None) -> Origins:
    """The origins of a dataset just read: each column is itself (identity), named in the
    edge by its record name (``names``: a label that is a value, by its position)."""
    if ref is None:
        return FrozenDict()
    names = names or {}
    return FrozenDict({c: (Origin(ref, names.get(c, c)),) for c in columns})


def traced_origins(edges: Iterable[ColumnEdge], parents: Mapping[DatasetRef, Origins]) -> Origins:
    """Each output column's origins through a SQL statement's column edges (``edges``, as
    :func:`lacuna.lineage.sql.classify_sql` gives them): an edge from a column of a parent
    whose origins are held (``parents``, by the ref the statement's lineage names it) leads to
    those origins, through one more edge of its kind. A parent column without origins (built
    in memory) claims no edge, as a frame's does; nor does a parent not in ``parents``."""
    out: dict[str, dict[Origin, None]] = {}
    for edge in edges:
        held = parents.get(edge.source)
        if held is None:
            continue
        found = held.get(edge.source_column)
        if found is None:  # the SQL's spelling of the column: DuckDB matches names by case
            found = next((v for k, v in held.items()
                          if k.lower() == edge.source_column.lower()), ())
        for origin in found:
            out.setdefault(edge.target_column, {})[origin.then(edge.kind, edge.description)] = None
    return FrozenDict({column: tuple(found) for column, found in out.items()})


def masked_origins(origins: Origins, strategies: Mapping[str, str]) -> Origins:
    """``origins`` after the columns in ``strategies`` were masked (anonymized) by the named
    strategy: their edges become masking edges, which stop classification propagating."""
    out = dict(origins)
    for column, strategy in strategies.items():
        if column in out:
            out[column] = tuple(o.then(EdgeKind.MASKING, strategy) for o in out[column])
    return FrozenDict(out)


def revealed_origins(origins: Origins, columns: Sequence[str]) -> Origins:
    """``origins`` after ``columns`` were revealed (detokenized): their content is the original
    again, so a masking edge on them would be false. It becomes a transformation, which does
    not stop classification propagating."""
    out = dict(origins)
    for column in columns:
        if column in out:
            out[column] = tuple(
                Origin(o.dataset, o.column,
                       EdgeKind.TRANSFORMATION if o.kind is EdgeKind.MASKING else o.kind,
                       "; ".join(d for d in (o.description, "detokenized") if d))
                for o in out[column])
    return FrozenDict(out)


def grouped_state(obj: pd.DataFrame | pd.Series, config: ClassificationConfig) -> DataState:
    """The table an aggregation reads from.

    ``df.groupby(k)["revenue"]`` hands pandas a projected Series, but the aggregate is computed
    over the rows of ``df``: a sum over a group of one customer is that customer's revenue. So
    the source is the state stored with the data (the grouped table), not the projection; new
    columns, if any, are added to it (the stricter class wins).
    """
    stored = get_state(obj)
    if stored is not None and all(label in stored.classification.columns for label in labels(obj)):
        return stored  # the common case: no new columns, no need to reconcile
    effective = effective_state(obj, config, recheck=False)
    if stored is None:
        return effective
    both = rules.combine([stored.classification, effective.classification], config)
    return DataState(classification=both, lineage=stored.lineage, origins=stored.origins)


# --- tracking: operations that move content between labels -------------------------------------


@dataclass(frozen=True, slots=True)
class Content:
    """The class of some content, the fingerprint it was computed from, and its table's state."""

    column: ColumnClass
    fingerprint: int | None
    state: DataState
    origins: tuple[Origin, ...] = ()


_INDEX_KEY = "lacuna_content"  # where an Index keeps the content it carries (in its _cache)
_SEEN_KEY = "lacuna_seen"  # and the state of the object it was last marked from


def index_content(index: Any) -> Content | None:
    """The tracked content an Index carries: a column made the index (``set_index``) or
    converted from one. pandas gives an Index no ``attrs``; the content is kept in the Index'
    own cache, which pandas shares with the views it makes of it (``rename``, ``set_names``)."""
    cache = getattr(index, "_cache", None)
    found = cache.get(_INDEX_KEY) if isinstance(cache, dict) else None
    return found if isinstance(found, Content) else None


def mark_index(index: Any, content: Content, *, seen: DataState | None = None) -> None:
    """``index`` holds ``content`` (see :func:`index_content`), taken from the object whose
    state is ``seen`` (:func:`index_seen`)."""
    cache = getattr(index, "_cache", None)
    if isinstance(cache, dict):
        cache[_INDEX_KEY] = content
        cache[_SEEN_KEY] = seen


def index_seen(index: Any, state: DataState) -> bool:
    """Whether ``index`` was last marked from an object with ``state`` (nothing to redo)."""
    cache = getattr(index, "_cache", None)
    return isinstance(cache, dict) and cache.get(_SEEN_KEY) is state


def content_of(value: Any) -> Content | None:
    """The tracked content of a Series (or one-column frame, or an Index that carries a
    column's) about to be put under a label."""
    if isinstance(value, pd.Index):
        return index_content(value)
    if isinstance(value, pd.DataFrame) and value.shape[1] == 1:
        state = get_state(value)
        label = str(value.columns[0])
    elif isinstance(value, pd.Series):
        state = get_state(value)
        label = label_of(value)
    else:
        return None
    return None if state is None else content_in(state, label)


def content_in(state: DataState, label: str, *, fingerprinted: bool = True) -> Content | None:
    """The content column ``label`` of ``state`` holds (None: not a column of it);
    ``fingerprinted=False`` for values no longer as they were fingerprinted (rows taken or
    reordered: the boundary re-checks them, never lower)."""
    col = state.classification.columns.get(label)
    if col is None:
        return None
    return Content(column=col, state=state, origins=state.origins.get(label, ()),
                   fingerprint=state.fingerprints.get(label) if fingerprinted else None)


def strictest(contents: Sequence[Content], config: ClassificationConfig) -> Content:
    """The content of the strictest class among ``contents`` (at least one), with every
    content's origins and no fingerprint (the boundary re-checks its values)."""
    best = contents[0]
    for content in contents[1:]:
        if rules.stricter(best.column, content.column, config) is not best.column:
            best = content
    origins = tuple(dict.fromkeys(o for c in contents for o in c.origins))
    return replace(best, fingerprint=None, origins=origins)


def computed(result: Any, operands: Sequence[Any], config: ClassificationConfig) -> None:
    """``result`` (a Series) was computed from ``operands`` (``s + t``, a comparison,
    ``str.cat``, ``where``, ``combine_first``): pandas keeps only the left operand's ``attrs``,
    so ``ward + diagnosis`` took the ward's class and left as PUBLIC. The result's class is the
    strictest of every tracked operand's content, with their floors, table tags, lineage and
    column origins; no fingerprint, so the next boundary re-checks its values (never lower)."""
    contents = [c for c in (content_of(o) for o in operands) if c is not None]
    if contents and isinstance(result, pd.Series):
        _computed_from(result, contents, config)


def carry(result: Any, content: Content, config: ClassificationConfig) -> None:
    """``result`` (a Series or an Index) holds ``content`` converted (``pd.to_datetime``, an
    Index made a Series): a Series takes its class as :func:`computed` gives it, an Index
    carries it (:func:`mark_index`)."""
    if isinstance(result, pd.Index):
        mark_index(result, content)
    elif isinstance(result, pd.Series):
        _computed_from(result, [content], config)


def _computed_from(result: pd.Series, contents: Sequence[Content],
                   config: ClassificationConfig) -> None:
    best = strictest(contents, config)
    states = list({id(c.state): c.state for c in contents}.values())
    lineage = states[0].lineage if len(states) == 1 else LineageNode(
        name=None, operation="compute", parents=tuple(s.lineage for s in states))
    label = label_of(result)
    classification = rules.reassign(
        _EMPTY, {label: best.column}, config,
        floor=max(s.classification.floor for s in states),
        table_tags=[t for s in states for t in s.classification.table_tags],
        reason=f"computed from {len(contents)} tracked operand(s): the strictest class")
    set_state(result, DataState(classification=classification, lineage=lineage,
                                origins=FrozenDict({label: best.origins} if best.origins else {})))


def column_content(
    value: pd.DataFrame, i: int, key: str, config: ClassificationConfig
) -> Content | None:
    """Content for label ``key`` from frame ``value`` (``df[[a, b]] = other``): its i-th column
    and, if pandas aligns by label, the column of the same label; the stricter of the two,
    without a fingerprint (the boundary re-checks it)."""
    state = get_state(value)
    if state is None:
        return None
    cols = state.classification.columns
    names = [str(value.columns[i]), key]
    best: ColumnClass | None = None
    for name in names:
        col = cols.get(name)
        if col is not None:
            best = rules.stricter(best, col, config)
    if best is None:
        return None
    origins = tuple(dict.fromkeys(o for n in names for o in state.origins.get(n, ())))
    return Content(column=best, fingerprint=None, state=state, origins=origins)


def relabel(
    obj: Any,
    old: Sequence[str],
    new: Sequence[str],
    config: ClassificationConfig,
    *,
    base: DataState | None = None,
) -> None:
    """Labels of ``obj`` changed position by position (rename, ``set_axis``, ``columns =``, a
    Series' ``name``): each class and fingerprint follows its content to the new label.

    ``base`` is the state before the change (default: the one ``obj`` carries now).
    """
    state = base if base is not None else get_state(obj)
    if state is None or list(old) == list(new) or len(old) != len(new):
        return
    cols, fps = state.classification.columns, state.fingerprints
    sources: dict[str, list[str]] = {}
    for o, n in zip(old, new, strict=True):
        sources.setdefault(n, []).append(o)
    cfg = config
    assigned: dict[str, ColumnClass] = {}
    moved_fps: dict[str, int] = {}
    untraced: set[str] = set()
    for n, olds in sources.items():
        if olds == [n]:
            continue
        best: ColumnClass | None = None
        for o in olds:
            if o in cols:
                best = rules.stricter(best, cols[o], cfg)
        if best is None:
            untraced.add(n)
            continue
        assigned[n] = best
        if len(olds) == 1 and olds[0] in fps:
            moved_fps[n] = fps[olds[0]]
    # the header changed: a header row's class (a read's) no longer says what it holds
    gone = (set(old) - set(new)) | untraced | {n for n in cols if header.is_header(n)}
    # how many, not which: a label renamed away may have been a value (an e-mail address),
    # and no record may name it (docs/pandas.md, "the header")
    moved = sum(1 for o, n in zip(old, new, strict=True) if o != n)
    classification = rules.reassign(
        state.classification, assigned, cfg, removed=gone,
        reason=f"relabelled: {moved} label(s) changed, each class following its content"
    )
    touched = gone | set(assigned)
    kept_fps = {k: v for k, v in fps.items() if k not in touched} | moved_fps
    origins = {k: v for k, v in state.origins.items() if k not in touched and k not in sources}
    for n, olds in sources.items():
        found = tuple(dict.fromkeys(x for o in olds for x in state.origins.get(o, ())))
        if found and n not in untraced:
            origins[n] = found
    set_state(obj, replace(state, classification=classification, fingerprints=kept_fps,
                           origins=FrozenDict(origins)))


def assign(
    obj: Any,
    contents: Sequence[tuple[str, Content | None]],
    config: ClassificationConfig,
) -> None:
    """Content was put under labels of ``obj`` (``__setitem__``, ``assign``, ``insert``).

    A label with tracked content gets its class (whatever the label was called before); a label
    with untraced content (an array, a scalar, a computed Series without state) keeps the class
    it had, if any, and loses its fingerprint, so the next boundary re-checks its values. Content
    from another table brings that table's floor, table tags and lineage.
    """
    state = get_state(obj)
    if state is None and all(c is None for _, c in contents):
        return
    set_state(obj, _assigned(state, contents, (), config, operation="assign",
                             reason=f"assigned: {', '.join(n for n, _ in contents)}"))


def _assigned(
    own: DataState | None,
    contents: Sequence[tuple[str, Content | None]],
    also: Sequence[DataState],
    config: ClassificationConfig,
    *,
    operation: str,
    reason: str,
) -> DataState:
    """``own`` (or an empty in-memory state) after ``contents`` were put under their labels;
    the states in ``also`` fed it too (an operand of a computation, even one whose columns fed
    no label): every other table brings its floor, table tags and lineage."""
    cfg = config
    own = own or DataState(
        classification=_EMPTY, lineage=LineageNode(name=IN_MEMORY, operation="in-memory")
    )
    traced = [(name, c) for name, c in contents if c is not None]
    assigned = {name: c.column for name, c in traced}
    written = {n for n, _ in contents}
    fps = {k: v for k, v in own.fingerprints.items() if k not in written}
    fps |= {name: c.fingerprint for name, c in traced if c.fingerprint is not None}
    feeding = [*(c.state for _, c in traced), *also]
    others = {id(s.lineage): s for s in feeding if s.lineage is not own.lineage}
    floor = max([Tier.PUBLIC, *(s.classification.floor for s in others.values())])
    table_tags = [t for s in others.values() for t in s.classification.table_tags]
    lineage = own.lineage
    if others:
        parents = (own.lineage, *(s.lineage for s in others.values()))
        lineage = LineageNode(name=None, operation=operation, parents=parents)
    classification = rules.reassign(
        own.classification, assigned, cfg, floor=floor, table_tags=table_tags, reason=reason
    )
    origins = {k: v for k, v in own.origins.items() if k not in written}
    origins |= {name: c.origins for name, c in traced if c.origins}
    return DataState(classification=classification, lineage=lineage, fingerprints=fps,
                     origins=FrozenDict(origins))


def aligned(labels: Sequence[str], operands: Sequence[Any]) -> dict[str, list[Content]]:
    """The tracked content that fed each of ``labels`` in a frame computed column by column from
    ``operands`` (``a + b``, ``combine_first``, ``where``, ``update``, ...): pandas aligns frames
    by column label, so a frame feeds the label it has itself; a Series is broadcast (over the
    rows or the columns) and feeds every label."""
    out: dict[str, list[Content]] = {label: [] for label in labels}
    for operand in operands:
        state = get_state(operand)
        if state is None:
            continue
        if isinstance(operand, pd.Series):
            content = content_of(operand)
            if content is not None:
                for found in out.values():
                    found.append(content)
            continue
        if not isinstance(operand, pd.DataFrame):
            continue
        for column in operand.columns:
            name = str(column)
            content = content_in(state, name) if name in out else None
            if content is not None:
                out[name].append(content)
    return out


def mixed(
    target: pd.DataFrame,
    operands: Sequence[Any],
    config: ClassificationConfig,
    *,
    base: DataState | None,
    operation: str,
    labels: Sequence[str] | None = None,
    extra: Mapping[str, Sequence[Content]] | None = None,
) -> None:
    """``target`` (a DataFrame) was computed column by column from ``operands``, or written in
    place from them: pandas keeps one operand's ``attrs`` (the left one's for ``combine_first``,
    ``where``, ``update``, ``loc[...] = ``; the right one's for ``a + b``), so a column fed by
    another frame's diagnoses kept a public class.

    Each label in ``labels`` (default: every column of ``target``) takes the strictest class of
    the operand columns that fed it (:func:`aligned`, plus ``extra``, e.g. the column a
    positional ``iloc`` write took), as :func:`computed` does for a Series: without a
    fingerprint when more than one fed it (the boundary re-checks its values, never lower).
    ``base`` is the state the result builds on (the left operand's); every tracked operand
    brings its floor, table tags and lineage, and the origins of the columns it fed.
    """
    names = [str(c) for c in target.columns] if labels is None else list(labels)
    feeds = aligned(names, operands)
    for name, found in (extra or {}).items():
        feeds.setdefault(name, []).extend(found)
    contents: list[tuple[str, Content | None]] = []
    for name in names:
        found = feeds.get(name) or []
        if len(found) == 1:
            contents.append((name, found[0]))
        else:
            contents.append((name, strictest(found, config) if found else None))
    states = [s for s in (get_state(o) for o in operands) if s is not None]
    also = list({id(s): s for s in states if s is not base}.values())
    fed = ", ".join(n for n, c in contents if c is not None) or "none"
    set_state(target, _assigned(
        base, contents, also, config, operation=operation,
        reason=f"{operation}: each column takes the strictest class of the operand columns "
               f"that fed it ({fed})"))


def _spaced(n: int, rows: int) -> list[int]:
    """At most ``rows`` evenly spaced positions of ``n``: deterministic, and they see the whole
    range of the data."""
    if n <= rows:
        return list(range(n))
    step = n / rows
    return [int(i * step) for i in range(rows)]


def _samples(obj: pd.DataFrame | pd.Series, names: list[str], rows: int) -> dict[str, Any]:
    frame = (
        obj.to_frame(UNNAMED if obj.name is None else obj.name)
        if isinstance(obj, pd.Series)
        else obj
    )
    if len(frame) > rows:
        frame = frame.iloc[_spaced(len(frame), rows)]
    out: dict[str, Any] = {}
    columns = {str(c): c for c in frame.columns}
    for name in names:
        if name in columns:
            col = frame[columns[name]]
            out[name] = col.iloc[:, 0] if isinstance(col, pd.DataFrame) else col
        elif name in [str(x) for x in frame.index.names if x is not None]:
            out[name] = frame.index.get_level_values(name).to_series()
    return out
