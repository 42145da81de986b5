"""What a frame carries beside its columns: the header row(s) and an unnamed index, read as data.

A writer writes the column labels as the file's header and, most of the time, the index; a
reader reads them back. Both can hold values: e-mail addresses made column labels
(``pd.DataFrame(rows, columns=emails)``, a pivot) or an index (``set_index("email")
.rename_axis(None)``). :func:`read_header` reads each header row as values
(:func:`lacuna.classify.labels.label_class`) and :func:`index_classes` each unnamed text index
level; their classes go under pseudo-columns no column name pandas writes or reads back:
``(column labels)`` (``(column labels level N)`` of MultiIndex columns) and ``(index)``
(``(index level N)``).

Records never name a value. A label the header classification found to be a value
(:func:`lacuna.classify.labels.values_among`) is named by its position in the classification
every record is made from (:func:`named`): ``(column N)``, counted from 1 over the frame's
columns (``df.iloc[:, N - 1]``, the index not counted; a Series is ``(column 1)``), and an
index level named by a value ``(index)`` (``(index level N)``, counted from 0 as pandas counts
levels). Ordinary labels (``email``, ``amount``) keep their names. Reads, writes,
``lacuna.classify`` and ``lacuna.check`` all go through here.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import pandas as pd

from lacuna.classify.labels import label_class, values_among
from lacuna.classify.rollup import column_tier
from lacuna.config import ClassificationConfig
from lacuna.model import Classification, ColumnClass, FrozenDict, Tier

HEADER = "(column labels)"
INDEX = "(index)"
_NEUTRAL = "c"  # a name no name recognizer matches
_SHOWN = 5  # positions a reasoning lists before "and N more"


def header_label(level: int, levels: int) -> str:
    """The label a header row is classified under: ``(column labels)``, or ``(column labels
    level N)`` of MultiIndex columns (no column name pandas would write or read back)."""
    return HEADER if levels == 1 else f"(column labels level {level})"


def index_label(level: int, levels: int) -> str:
    """The label an unnamed index level is classified under (and an index level named by a
    value is named by): ``(index)``, or ``(index level N)`` of a MultiIndex."""
    return INDEX if levels == 1 else f"(index level {level})"


_HEADER = re.compile(r"\(column labels(?: level \d+)?\)")
_PSEUDO = re.compile(r"\((?:index|column labels)(?: level \d+)?\)")


def is_header(name: str) -> bool:
    """Whether ``name`` is what a header row is classified under (:func:`header_label`)."""
    return _HEADER.fullmatch(name) is not None


def is_pseudo(name: str) -> bool:
    """Whether ``name`` is a header row's or an unnamed index level's pseudo-column."""
    return _PSEUDO.fullmatch(name) is not None


def position_name(position: int) -> str:
    """What records call the column at ``position`` (from 0) when its label is a value:
    ``(column N)``, N counted from 1."""
    return f"(column {position + 1})"


@dataclass(frozen=True, slots=True)
class Header:
    """What a frame's header rows hold: the classes of the rows that hold values (under
    :func:`header_label`), the positions of the columns whose label (at any level) is a value,
    and the index levels whose name is one."""

    classes: Mapping[str, ColumnClass] = field(default_factory=FrozenDict)
    columns: tuple[int, ...] = ()
    levels: tuple[int, ...] = ()

    def names(self, columns: Sequence[str], levels: Sequence[str | None]) -> dict[str, str]:
        """``{label: record name}`` for the labels that are values, ``columns`` and ``levels``
        being what the caller keys the columns and the index levels by."""
        out: dict[str, str] = {}
        for i in self.columns:
            out.setdefault(columns[i], position_name(i))
        for j in self.levels:
            key = levels[j]
            if key is not None and key not in out:
                out[key] = index_label(j, len(levels))
        return out


def read_header(
    obj: pd.DataFrame | pd.Series,
    config: ClassificationConfig,
    *,
    written: Sequence[Any] | None = None,
    index: bool = True,
    where: str = "written as the file's header",
) -> Header:
    """What ``obj``'s header holds read as values.

    Each header row (each level of MultiIndex columns; a Series' name; the aliases in
    ``written``, when a writer writes those instead; the index levels' names with the first row
    when ``index`` is written, as ``rename_axis(an address)`` puts one there) is read by
    :func:`~lacuna.classify.labels.label_class`. Ordinary headers (``email``, ``amount``) read
    as no data; non-text labels (positions, dates) are not looked at. ``where`` says, in the
    reasoning, where the header is.
    """
    if written is not None:
        rows = [list(written)]
    elif isinstance(obj, pd.Series):
        rows = [[obj.name]]
    else:
        columns = obj.columns
        rows = [
            list(columns.get_level_values(i)) if columns.nlevels > 1 else list(columns)
            for i in range(columns.nlevels)
        ]
    names = list(obj.index.names) if index else []
    return read_rows(rows, names, config, where=where)


def read_labels(
    columns: Sequence[Any], config: ClassificationConfig, *, where: str = "written as the header"
) -> Header:
    """What the column names ``columns`` of a frame without an index (polars, pyarrow, DuckDB,
    Spark) hold read as values: :func:`read_header` of one header row. A column name that is a
    value is named by its position, ``(column N)``, as a pandas label is.

    Example:
        >>> from lacuna.config import ClassificationConfig
        >>> found = read_labels(["region", "ada@example.org"], ClassificationConfig())
        >>> list(found.classes), found.columns
        (['(column labels)'], (1,))
    """
    return read_rows([list(columns)], [], config, where=where)


def read_rows(
    rows: Sequence[Sequence[Any]],
    names: Sequence[Any],
    config: ClassificationConfig,
    *,
    where: str,
) -> Header:
    """What header ``rows`` (and the index level ``names`` written with the first) hold read
    as values: the rule :func:`read_header` and :func:`read_labels` share."""
    texts = [
        list(
            dict.fromkeys(v for v in ([*names, *row] if level == 0 else row) if isinstance(v, str))
        )
        for level, row in enumerate(rows)
    ]
    classes: dict[str, ColumnClass] = {}
    at: set[int] = set()
    levels: set[int] = set()
    for level, row in enumerate(texts):
        found = label_class(row, config) if row else None
        if found is None:
            continue
        values = values_among(row, config)
        hit = [i for i, v in enumerate(rows[level]) if isinstance(v, str) and v in values]
        at.update(hit)
        if level == 0:
            levels.update(j for j, n in enumerate(names) if isinstance(n, str) and n in values)
        classes[header_label(level, len(texts))] = replace(
            found,
            reasoning=f"the column labels hold values of this kind, {where}: "
            f"{_which(found.reasoning, hit, sorted(levels), len(names))}",
        )
    return Header(
        classes=FrozenDict(classes), columns=tuple(sorted(at)), levels=tuple(sorted(levels))
    )


def column_key(column: Any) -> str:
    """What every classification of a frame keys a column by: ``str`` of its label, the key
    lineage tracking, the fingerprints and the records of reads and writes use; MultiIndex
    columns are keyed by their tuple (``("contact", "email")`` -> ``('contact', 'email')``),
    never joined (``contact_email`` would be another column's key, and ``("a_b", "c")`` and
    ``("a", "b_c")`` one key)."""
    return str(column)


def frame_names(df: pd.DataFrame, found: Header) -> dict[str, str]:
    """``{label: record name}`` of ``df``'s labels that ``found`` (its :func:`read_header`)
    says are values, keyed as :func:`lacuna.classify.classify_frame` keys them."""
    if not found.columns and not found.levels:
        return {}
    return found.names(
        [column_key(c) for c in df.columns], [None if n is None else str(n) for n in df.index.names]
    )


def _which(reasoning: str, columns: list[int], levels: list[int], nlevels: int) -> str:
    """``reasoning``, and which labels are values, by position (never the labels)."""
    shown = [*(index_label(j, nlevels) for j in levels), *(position_name(i) for i in columns)]
    if not shown:
        return reasoning
    more = f", and {len(shown) - _SHOWN} more" if len(shown) > _SHOWN else ""
    return (
        f"{reasoning.rstrip('.')}; the labels of {', '.join(shown[:_SHOWN])}{more} are such "
        "values (records name them by position)."
    )


def index_classes(
    obj: pd.DataFrame | pd.Series,
    config: ClassificationConfig,
    *,
    where: str = "written with the data",
) -> dict[str, ColumnClass]:
    """The classes of ``obj``'s unnamed text index levels, when more than PUBLIC, under
    :func:`index_label`.

    A named index level is a label like a column. An unnamed one has no name to classify it
    by: a frame indexed by e-mail addresses (``set_index("email").rename_axis(None)``,
    ``pd.DataFrame(rows, index=emails)``, ``df.T``). Text levels (object, string and
    categorical dtypes) are classified from their values (layer 1, evenly spaced samples);
    numbers and dates, row positions for the most part, are not looked at.
    """
    index = obj.index
    levels = [
        i
        for i, name in enumerate(index.names)
        if name is None and _text(index.get_level_values(i) if index.nlevels > 1 else index)
    ]
    if not levels or config.sample_rows <= 0:
        return {}
    from lacuna.classify.heuristic import classify_columns

    at = spaced(len(index), config.sample_rows)
    neutral = {f"{_NEUTRAL}{i}": index_label(i, index.nlevels) for i in levels}
    samples = {
        k: pd.Series(
            (index.get_level_values(i) if index.nlevels > 1 else index).take(at), dtype=object
        )
        for k, i in zip(neutral, levels, strict=True)
    }
    found = classify_columns(list(neutral), samples, config, cascade=False)
    return {
        neutral[k]: replace(
            col, reasoning=f"the index holds values of this kind, {where}: {col.reasoning}"
        )
        for k, col in found.items()
        if column_tier(col, config) > Tier.PUBLIC
    }


def spaced(n: int, rows: int) -> list[int]:
    """At most ``rows`` evenly spaced positions of ``n``: deterministic, and they see the whole
    range of the data."""
    if n <= rows:
        return list(range(n))
    step = n / rows
    return [int(i * step) for i in range(rows)]


def _text(values: pd.Index) -> bool:
    return bool(
        pd.api.types.is_string_dtype(values.dtype) or isinstance(values.dtype, pd.CategoricalDtype)
    )


def named(classification: Classification, names: Mapping[str, str]) -> Classification:
    """``classification`` with each label in ``names`` (``{label: record name}``) named by its
    record name: its column class's key, and wherever a reasoning or an evidence quotes it."""
    if not names:
        return classification
    swap = _swapper(names)
    columns = {
        names.get(key, key): replace(
            col,
            reasoning=swap(col.reasoning),
            evidence=tuple(replace(e, detail=swap(e.detail)) for e in col.evidence),
        )
        for key, col in classification.columns.items()
    }
    return replace(
        classification,
        columns=FrozenDict(columns),
        reasoning=tuple(swap(line) for line in classification.reasoning),
    )


def unnamed(classification: Classification, names: Mapping[str, str]) -> Classification:
    """``classification`` (:func:`named` by ``names``) keyed by the labels again: the class a
    frame carries follows its labels (its reasoning keeps the record names)."""
    if not names:
        return classification
    back = {name: label for label, name in names.items()}
    return replace(
        classification,
        columns=FrozenDict(
            {back.get(key, key): col for key, col in classification.columns.items()}
        ),
    )


def _swapper(names: Mapping[str, str]) -> Callable[[str], str]:
    ordered = sorted(names, key=len, reverse=True)  # the longest first: one inside another
    pattern = re.compile(
        "|".join(f"{re.escape(repr(label))}|(?<!\\w){re.escape(label)}(?!\\w)" for label in ordered)
    )
    lookup = {**{repr(label): names[label] for label in ordered}, **names}

    def swap(text: str) -> str:
        return pattern.sub(lambda m: lookup[m.group(0)], text) if text else text

    return swap
