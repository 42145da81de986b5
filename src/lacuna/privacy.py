"""Re-identification risk: k-anonymity, l-diversity and t-closeness over quasi-identifiers.

>>> import pandas as pd
>>> from lacuna import privacy
>>> df = pd.DataFrame({"zip": ["94107", "94107", "94110"], "gender": ["F", "F", "M"]})
>>> privacy.report(df, quasi_identifiers=["zip", "gender"]).k
1

A *quasi-identifier* does not name anyone but, combined with others, singles people out (87% of
Americans are unique by ZIP, gender and date of birth). By default they are picked from the
classification: columns whose ``pii_type`` is ``dob``, ``age``, ``gender`` or ``postal_code``, and
columns whose name reads as a city, region, job title, ethnicity, nationality, marital status ...
``k`` is the size of the smallest group of rows sharing all quasi-identifier values; a frame is
*k-anonymous* for the target ``classification.k_anonymity`` (default 5) when ``k >= target``.

:func:`report` also searches generalisations (date of birth to birth-year bands, postal code to a
prefix, age to bands, rare categories to ``other``, then suppression) that reach the target, and
:meth:`PrivacyReport.generalize` applies them. :func:`guard` is what ``lacuna.anonymize`` calls:
an anonymized frame counts as anonymous only when its quasi-identifiers are k-anonymous.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from lacuna.errors import ClassificationError
from lacuna.model import ANONYMIZED, ColumnClass, ColumnKind, Evidence, Layer, Sensitivity

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from lacuna.config import ClassificationConfig, Config
    from lacuna.model import Classification

QUASI_TYPES = frozenset({"dob", "age", "gender", "postal_code", "quasi_identifier"})
_QUASI_WORDS = re.compile(
    r"(?:^|_)(?:city|town|county|zip|zipcode|postcode|postal"
    r"|job|jobtitle|occupation|profession|employer|race|ethnicity|ethnic|nationality|citizenship"
    r"|marital|religion|birthyear|yob|age|sex|gender|department|dept"
    # where a person is: a latitude and longitude beside a ZIP code are a home address
    r"|lat|latitude|lon|lng|longitude|geohash|coordinates|coords|gps|geolocation)(?:_|$)")
_SUPPRESSED = "*"


class UnknownQuasiIdentifierError(ClassificationError, LookupError):
    """A quasi-identifier given to :func:`report` is not a column of the frame."""


class AmbiguousColumnError(ClassificationError, ValueError):
    """A column :func:`report` needs appears more than once under the same name."""


@dataclass(frozen=True, slots=True)
class Group:
    """One equivalence class: the quasi-identifier values its rows share, and how many rows."""

    values: Mapping[str, str]
    size: int


@dataclass(frozen=True, slots=True)
class Generalisation:
    """One suggested step: ``column`` generalised as ``description`` (ladder ``level``)."""

    column: str
    level: int
    description: str


@dataclass(frozen=True, slots=True)
class PrivacyReport:
    """k-anonymity, l-diversity and t-closeness of one frame (see the module docstring)."""

    k: int
    l: int | None  # noqa: E741 - the measure's name: smallest count of distinct sensitive values
    t: float | None  # largest total-variation distance of a group's sensitive values to all rows
    quasi_identifiers: tuple[str, ...]
    sensitive: tuple[str, ...]
    direct_identifiers: tuple[str, ...]
    target_k: int
    rows: int
    groups: int
    smallest_groups: tuple[Group, ...]
    suggestions: tuple[Generalisation, ...]
    k_after: int | None  # k once the suggestions are applied; None when none were needed

    @property
    def meets_target(self) -> bool:
        """Whether the quasi-identifiers are k-anonymous for the target."""
        return self.k >= self.target_k

    @property
    def anonymous(self) -> bool:
        """k-anonymous for the target and no direct identifier (e-mail, name, ...) left."""
        return self.meets_target and not self.direct_identifiers

    @property
    def advice(self) -> str:
        """What to generalise to reach the target, in one sentence."""
        if self.meets_target:
            return f"k={self.k} meets the target k={self.target_k}"
        if not self.suggestions:
            return (f"no generalisation of {', '.join(self.quasi_identifiers)} reaches "
                    f"k={self.target_k}; drop rows or columns")
        steps = "; ".join(f"{g.column} → {g.description}" for g in self.suggestions)
        return f"generalise {steps} (k becomes {self.k_after})"

    @property
    def text(self) -> str:
        """The report as plain text (quasi-identifier values only, never direct identifiers)."""
        qi = ", ".join(self.quasi_identifiers) or "none found"
        lines = [
            f"k-anonymity: k={self.k} (target {self.target_k}: "
            f"{'met' if self.meets_target else 'NOT met'}) over {self.rows} rows, "
            f"{self.groups} groups",
            f"quasi-identifiers: {qi}",
        ]
        if self.sensitive:
            t = f"{self.t:.2f}" if self.t is not None else "n/a"
            lines.append(f"l-diversity: l={self.l}, t-closeness: t={t} "
                         f"(sensitive: {', '.join(self.sensitive)})")
        if self.direct_identifiers:
            lines.append("direct identifiers still present (not anonymous whatever k is): "
                         + ", ".join(self.direct_identifiers))
        if self.smallest_groups:
            lines.append("smallest groups:")
            for g in self.smallest_groups:
                shown = ", ".join(f"{c}={v}" for c, v in g.values.items())
                lines.append(f"  {g.size} row(s): {shown}")
        lines.append(f"advice: {self.advice}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.text

    def _repr_html_(self) -> str:
        status = "met" if self.meets_target else "<b>NOT met</b>"
        head = "".join(f"<th>{html.escape(c)}</th>" for c in self.quasi_identifiers)
        rows = "".join(
            "<tr>" + "".join(f"<td>{html.escape(g.values.get(c, ''))}</td>"
                             for c in self.quasi_identifiers) + f"<td>{g.size}</td></tr>"
            for g in self.smallest_groups)
        extra = ""
        if self.sensitive:
            t = f"{self.t:.2f}" if self.t is not None else "n/a"
            extra = f"<p>l-diversity l={self.l}; t-closeness t={t}</p>"
        if self.direct_identifiers:
            extra += ("<p>Direct identifiers still present: "
                      f"{html.escape(', '.join(self.direct_identifiers))}</p>")
        return (f"<div class='lacuna-privacy'><p>k-anonymity <b>k={self.k}</b> (target "
                f"{self.target_k}: {status}) over {self.rows} rows</p>{extra}"
                f"<table><tr>{head}<th>rows</th></tr>{rows}</table>"
                f"<p>{html.escape(self.advice)}</p></div>")

    def generalize(self, df: pd.DataFrame) -> pd.DataFrame:
        """``df`` with the suggested generalisations applied (classification kept: generalised
        quasi-identifiers are still personal until ``lacuna.anonymize`` finds the target met)."""
        levels = {g.column: g.level for g in self.suggestions}
        return apply_levels(df, levels, self._types(df))

    def _types(self, df: pd.DataFrame) -> dict[str, str | None]:
        from lacuna._bypass import bypass
        from lacuna.config import active_config
        from lacuna.lineage.frames import effective_state

        with bypass():
            classification = effective_state(df, active_config().classification).classification
        return {c: _pii_type(classification, c) for c in self.quasi_identifiers}


def report(
    df: pd.DataFrame,
    quasi_identifiers: Sequence[str] | None = None,
    *,
    sensitive: Sequence[str] | None = None,
    target_k: int | None = None,
    config: Config | None = None,
    show: int = 5,
) -> PrivacyReport:
    """The re-identification risk of ``df``.

    Args:
        df: the frame (pandas).
        quasi_identifiers: the columns an attacker could know; default: picked from the frame's
            classification (``pii_type`` dob/age/gender/postal_code, or a name such as city or
            job title).
        sensitive: the attributes for l-diversity and t-closeness; default: PHI and financial
            columns of the classification.
        target_k: default ``classification.k_anonymity`` from the configuration.
        config: settings; default: the enabled governor's, else ``load_config()``.
        show: how many of the smallest groups to list.

    Raises:
        UnknownQuasiIdentifierError: a named column is not in the frame.
    """
    from lacuna._bypass import bypass
    from lacuna.config import active_config
    from lacuna.lineage.frames import effective_state

    config = config if config is not None else active_config()
    target = target_k if target_k is not None else config.classification.k_anonymity
    with bypass():
        classification = effective_state(df, config.classification).classification
        # named index levels are read like columns (to_csv writes them beside the columns)
        df = _text_labels(_levels_as_columns(df, [str(n) for n in df.index.names
                                                  if n is not None]))
    names = list(df.columns)
    qis = tuple(quasi_identifiers) if quasi_identifiers is not None else \
        pick_quasi_identifiers(classification, names)
    for name in qis:
        if name not in names:
            msg = (f"cannot assess quasi-identifier {name!r}: the frame has no such column. "
                   f"Columns: {', '.join(names[:30])}.")
            raise UnknownQuasiIdentifierError(msg)
    if sensitive is None:
        sensitive = [c for c in dict.fromkeys(names) if c not in qis
                     and (col := classification.columns.get(c))
                     and col.classification in (ColumnKind.PHI, ColumnKind.FINANCIAL)]
    _refuse_ambiguous(names, [*qis, *sensitive])
    direct = tuple(c for c in names if c not in qis and c not in sensitive
                   and (col := classification.columns.get(c)) is not None and col.is_personal)
    types = {c: _pii_type(classification, c) for c in qis}
    with bypass():
        df = _hashable_columns(df, [*qis, *sensitive])
    codes = {c: _codes(df[c]) for c in qis}
    keys = _group_keys(list(codes.values()), len(df))
    sizes = _sizes(keys)
    k = int(sizes.min()) if len(sizes) else 0
    l_value, t_value = _diversity(df, keys, list(sensitive))
    smallest = _smallest(df, qis, keys, sizes, show)
    suggestions: tuple[Generalisation, ...] = ()
    k_after: int | None = None
    if qis and k < target and len(df) >= target:
        suggestions, k_after = _search(df, qis, types, target)
    return PrivacyReport(
        k=k, l=l_value, t=t_value, quasi_identifiers=qis, sensitive=tuple(sensitive),
        direct_identifiers=direct, target_k=target, rows=len(df), groups=len(sizes),
        smallest_groups=smallest, suggestions=suggestions, k_after=k_after)


def _text_labels(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` with every column label as text (``3`` reads ``"3"``, as classifications name
    columns); ``df`` itself when they already are. Call under ``bypass()``."""
    if all(isinstance(c, str) for c in df.columns):
        return df
    return df.set_axis([str(c) for c in df.columns], axis=1)


def _refuse_ambiguous(names: Sequence[str], used: Sequence[str]) -> None:
    """Raises :class:`AmbiguousColumnError` when a column of ``used`` is named twice."""
    twice = sorted({n for n in used if names.count(n) > 1})
    if twice:
        msg = (f"cannot assess re-identification risk: the frame has more than one column named "
               f"{', '.join(map(repr, twice))}, so which one is meant is unclear. Rename them "
               "(df.columns = [...]) or drop the copies, then run the report again.")
        raise AmbiguousColumnError(msg)


def _named(df: pd.DataFrame, names: Sequence[str]) -> list[tuple[str, pd.Series]]:
    """Every column of ``df`` whose label reads as one of ``names``, by position: a label
    given twice is each of its columns (each one more quasi-identifier), and an integer label
    ``3`` answers to ``"3"``."""
    wanted = set(names)
    return [(str(label), df.iloc[:, pos]) for pos, label in enumerate(df.columns)
            if str(label) in wanted]


def named_or_level(df: pd.DataFrame, names: Sequence[str]) -> list[tuple[str, pd.Series]]:
    """:func:`_named`, then each named index level that is one of ``names`` and no column's
    label (``to_csv`` writes it beside the columns)."""
    import pandas as pd

    columns = _named(df, names)
    levels = set(names) - {n for n, _ in columns}
    columns += [(str(name), pd.Series(df.index.get_level_values(i)))
                for i, name in enumerate(df.index.names)
                if name is not None and str(name) in levels]
    return columns


def _levels_as_columns(df: pd.DataFrame, names: Sequence[str]) -> pd.DataFrame:
    """``df`` with its index levels named in ``names`` (and by no column) made columns."""
    from lacuna._bypass import bypass

    labels = {str(c) for c in df.columns}
    levels = [i for i, n in enumerate(df.index.names)
              if n is not None and str(n) in names and str(n) not in labels]
    if not levels:
        return df
    with bypass():
        return df.reset_index(level=levels)


def _first_of_each(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` with text labels and only the first column of each label (for advice)."""
    from lacuna._bypass import bypass

    seen: dict[str, int] = {}
    for pos, label in enumerate(df.columns):
        seen.setdefault(str(label), pos)
    with bypass():
        return df.iloc[:, list(seen.values())].set_axis(list(seen), axis=1)


def pick_quasi_identifiers(classification: Classification, names: Sequence[str]
                           ) -> tuple[str, ...]:
    """The columns of ``names`` that are quasi-identifiers by class, evidence or name."""
    return tuple(n for n in names if _is_quasi(n, classification.columns.get(n)))


def _is_quasi(name: str, column: ColumnClass | None) -> bool:
    if column is not None:
        if column.pii_type in QUASI_TYPES:
            return True
        if any(e.rule.startswith("quasi_identifier:") for e in column.evidence):
            return True
        if column.is_personal and column.pii_type:
            return False  # a direct identifier (email, name, ssn, ...)
    flat = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name).lower()
    return bool(_QUASI_WORDS.search(re.sub(r"[^a-z0-9]+", "_", flat)))


def _pii_type(classification: Classification, name: str) -> str | None:
    column = classification.columns.get(name)
    if column is None:
        return None
    for e in column.evidence:
        if e.rule.startswith("quasi_identifier:"):
            return e.rule.split(":", 1)[1] or None
    return column.pii_type


def smallest_group(df: pd.DataFrame, columns: Sequence[str]) -> int:
    """k over ``columns``: the number of rows in the smallest group of rows with equal values
    there (missing values form a group of their own); 0 for a frame without rows. The one k
    computation, shared by :func:`report`, :func:`guard` and the aggregation rule."""
    import numpy as np

    dtype = df[columns[0]].dtype if len(columns) == 1 else None
    if len(df) and isinstance(dtype, np.dtype) and np.issubdtype(dtype, np.integer):
        ids = df[columns[0]].to_numpy()
        if ids.min() >= 0 and ids.max() <= 4 * len(ids):  # group ids: count them directly
            counts = np.bincount(ids)
            return int(counts[counts > 0].min())
    return k_of([df[c] for c in columns], len(df))


def k_of(values: Sequence[pd.Series], rows: int) -> int:
    """k over the columns ``values`` (each ``rows`` long): the smallest group's size; 0 without
    rows. :func:`smallest_group` for columns already taken out (by position, as a frame with
    repeated labels needs)."""
    sizes = _sizes(_group_keys([_codes(v) for v in values], rows))
    return int(sizes.min()) if len(sizes) else 0


def _codes(values: pd.Series) -> np.ndarray:
    import pandas as pd

    try:
        codes: np.ndarray = pd.factorize(values, use_na_sentinel=False)[0]
    except TypeError:  # lists or dicts (read_json of arrays): equal by their content
        codes = pd.factorize(hashable(values), use_na_sentinel=False)[0]
    return codes


@dataclass(frozen=True, slots=True)
class _Held:
    """An unhashable cell (a list, a dict, a set) as a group value: equal to another when its
    type and text are, never to a plain string; prints as the value."""

    kind: str
    text: str

    def __str__(self) -> str:
        return self.text


def _held(value: Any) -> Any:
    try:
        hash(value)
    except TypeError:
        return _Held(type(value).__name__, repr(value))
    return value


def hashable(values: pd.Series) -> pd.Series:
    """``values`` with every unhashable cell (a list, a dict: what ``read_json`` makes of
    arrays and objects) as a value that groups by its content. pandas refused to group them
    (``TypeError: unhashable type: 'list'``): ``anonymize`` and ``report`` failed on a frame
    with such a quasi-identifier or sensitive column."""
    if values.dtype != object:
        return values
    return values.map(_held, na_action="ignore")


def plain(values: pd.Series) -> pd.Series:
    """``values`` as their own dtype: a categorical column as its categories' dtype (the values
    themselves). Before, ``generalize`` read categorical ages as dates (every age became
    ``1970-01``), ``synthesize`` nulled categorical dates of birth, and the advice of
    ``report`` failed on them ("Unordered Categoricals can only compare equality or not")."""
    import pandas as pd

    if isinstance(values.dtype, pd.CategoricalDtype):
        return values.astype(values.cat.categories.dtype)
    return values


def _hashable_columns(df: pd.DataFrame, names: Sequence[str]) -> pd.DataFrame:
    """``df`` with the columns ``names`` (by label) made :func:`plain`, and :func:`hashable`
    where they need it."""
    import pandas as pd

    from lacuna._bypass import bypass

    fixed = {}
    for name in dict.fromkeys(names):
        if name not in df.columns:
            continue
        column = plain(df[name])
        if column is not df[name]:
            fixed[name] = column
        if column.dtype == object:
            try:
                pd.factorize(column)
            except TypeError:
                fixed[name] = hashable(column)
    if not fixed:
        return df
    with bypass():
        return df.assign(**fixed)


def _group_keys(codes: list[np.ndarray], rows: int) -> np.ndarray:
    """One int64 group id per row from per-column codes (re-factorized to stay in range)."""
    import numpy as np
    import pandas as pd

    key = np.zeros(rows, dtype=np.int64)
    for c in codes:
        width = int(c.max()) + 1 if len(c) else 1
        key, _ = pd.factorize(key * width + c.astype(np.int64))
        key = key.astype(np.int64)
    return key


def _sizes(keys: np.ndarray) -> np.ndarray:
    import numpy as np

    return np.bincount(keys) if len(keys) else np.zeros(0, dtype=np.int64)


def _diversity(df: pd.DataFrame, keys: np.ndarray, sensitive: list[str]
               ) -> tuple[int | None, float | None]:
    """Smallest number of distinct sensitive values in a group, and the largest total-variation
    distance between a group's sensitive distribution and the whole frame's.

    Computed over the (group, value) pairs that occur, never a dense groups x values table (a
    million rows with 100,000 groups and as many values would need ~10**10 cells). For a group g,
    TV = 1/2 * sum_s |p(s|g) - p(s)| = 1/2 * (1 + sum over s seen in g of (|p(s|g) - p(s)| - p(s))).
    """
    import numpy as np
    import pandas as pd

    if not sensitive or not len(df):
        return None, None
    l_value: int | None = None
    t_value = 0.0
    group_sizes = np.bincount(keys).astype(np.float64)
    for name in sensitive:
        codes, uniques = pd.factorize(df[name].astype(object), use_na_sentinel=False)
        width = max(len(uniques), 1)
        pairs, counts = np.unique(keys * width + codes.astype(np.int64), return_counts=True)
        group, value = pairs // width, pairs % width
        p_value = np.bincount(codes, minlength=width) / len(codes)
        low = int(np.bincount(group)[np.unique(group)].min())
        l_value = low if l_value is None else min(l_value, low)
        term = np.abs(counts / group_sizes[group] - p_value[value]) - p_value[value]
        distance = (1 + np.bincount(group, weights=term)[np.unique(group)]) / 2
        t_value = max(t_value, float(distance.max()))
    return l_value, round(t_value, 4)


def _smallest(df: pd.DataFrame, qis: Sequence[str], keys: np.ndarray, sizes: np.ndarray,
              show: int) -> tuple[Group, ...]:
    import numpy as np

    if not qis or not len(sizes):
        return ()
    order = np.argsort(sizes, kind="stable")[:show]
    first = np.full(len(sizes), -1, dtype=np.int64)
    first[keys[::-1]] = np.arange(len(keys))[::-1]
    out = []
    for gid in order:
        row = int(first[gid])
        out.append(Group(values={c: _show(df[c].iloc[row]) for c in qis},
                         size=int(sizes[gid])))
    return tuple(out)


def _show(value: Any) -> str:
    import pandas as pd

    return "<null>" if value is None or value is pd.NA or value != value else str(value)


# ---- generalisation ladders -------------------------------------------------------------------

def _ladder(pii_type: str | None, values: pd.Series) -> list[tuple[str, Callable[..., Any]]]:
    """(description, function) steps for one quasi-identifier, least to most general."""
    import pandas as pd

    if pd.api.types.is_datetime64_any_dtype(values.dtype) or (
            pii_type == "dob" and _mostly_dates(values)):
        return [(f"{w}-year birth-year band" if w > 1 else "year of birth",
                 lambda s, w=w: _year_band(s, w)) for w in (1, 5, 10, 20)]
    if pii_type == "age" or pd.api.types.is_numeric_dtype(values.dtype):
        return [(f"{w}-year band" if pii_type == "age" else f"bands of {w}",
                 lambda s, w=w: _number_band(s, w)) for w in (5, 10, 20, 50)]
    if pii_type == "postal_code":
        return [(f"first {n} characters", lambda s, n=n: _prefix(s, n)) for n in (4, 3, 2, 1)]
    return [("values shared by fewer than k rows → 'other'", _rare_to_other)]


def _mostly_dates(values: pd.Series) -> bool:
    sample = values.dropna().head(1000)
    return bool(len(sample)) and float(_to_datetime(sample).notna().mean()) >= 0.5


def _year_band(values: pd.Series, width: int) -> pd.Series:
    import pandas as pd

    stamps = values if pd.api.types.is_datetime64_any_dtype(values.dtype) else \
        _to_datetime(values)
    year = stamps.dt.year
    low = year // width * width
    if width == 1:
        return low.astype("Int64").astype("string")
    return low.astype("Int64").astype("string") + "-" + \
        (low + width - 1).astype("Int64").astype("string")


def _to_datetime(values: pd.Series) -> pd.Series:
    import pandas as pd

    text = values.astype("string")
    parsed = pd.to_datetime(text, errors="coerce", format="%Y-%m-%d")
    retry = parsed.isna() & text.notna()
    if retry.any():
        parsed[retry] = pd.to_datetime(text[retry], errors="coerce", format="mixed")
    return parsed


def _number_band(values: pd.Series, width: int) -> pd.Series:
    import pandas as pd

    numbers = pd.to_numeric(values, errors="coerce").astype(float)
    # no band for an infinite number or one past int64 (the cast raised a TypeError, which
    # failed anonymize's advice): null, as an unparseable value is
    numbers = numbers.where(numbers.abs() < 2.0 ** 62)
    low = (numbers // width * width).astype("Int64")
    return low.astype("string") + "-" + (low + width - 1).astype("string")


def _prefix(values: pd.Series, n: int) -> pd.Series:
    text = values.astype("string").str.strip()
    return text.str.slice(0, n) + "*"


def _rare_to_other(values: pd.Series, k: int = 5) -> pd.Series:
    counts = values.map(values.value_counts(dropna=False))
    return values.astype("string").where(counts >= k, "other")


def apply_levels(df: pd.DataFrame, levels: Mapping[str, int],
                 types: Mapping[str, str | None], k: int = 5) -> pd.DataFrame:
    """``df`` with each column in ``levels`` generalised to that ladder level (0 = as is; past
    the ladder's end = suppressed)."""
    import pandas as pd

    out = df.copy()
    for pos, label in enumerate(df.columns):  # by position: labels may repeat or be ints
        if level := levels.get(str(label), 0):
            out.isetitem(pos, _level(df.iloc[:, pos], types.get(str(label)), level, k))
    # a named index level no column shares is generalised there (report reads it as a column)
    labels, names = {str(c) for c in df.columns}, list(df.index.names)
    arrays = [df.index.get_level_values(i) for i in range(df.index.nlevels)]
    changed = False
    for i, name in enumerate(names):
        if name is not None and str(name) not in labels and levels.get(str(name), 0):
            done = _level(pd.Series(arrays[i]), types.get(str(name)), levels[str(name)], k)
            arrays[i] = pd.Index(done.to_numpy(), name=name)
            changed = True
    if changed:
        out.index = pd.MultiIndex.from_arrays(arrays, names=names) if len(arrays) > 1 \
            else arrays[0]
    return out


def _level(values: pd.Series, pii_type: str | None, level: int, k: int) -> pd.Series:
    import pandas as pd

    if level == 0:
        return values
    values = plain(values)  # a categorical column's rungs are of its values
    ladder = _ladder(pii_type, values)
    if level > len(ladder):
        return pd.Series(_SUPPRESSED, index=values.index, dtype="string", name=values.name)
    fn = ladder[level - 1][1]
    return fn(values, k) if fn is _rare_to_other else fn(values)


def _describe(pii_type: str | None, values: pd.Series, level: int) -> str:
    ladder = _ladder(pii_type, values)
    return ladder[level - 1][0] if level <= len(ladder) else "suppressed ('*')"


def _search(df: pd.DataFrame, qis: Sequence[str], types: Mapping[str, str | None],
            target: int) -> tuple[tuple[Generalisation, ...], int | None]:
    """The least generalisation that reaches the target (Samarati's lattice search): level
    vectors by increasing total height, suppression costing one extra level; among the first
    height that reaches the target, the one with the largest k. Bounded: past ``_MAX_TRIALS``
    evaluations, the most general vector is taken. The vectors are made as they are tried
    (:func:`_by_cost`), never all at once: the lattice has 3**20 of them for twenty columns
    named like a city, and sorting it hung ``anonymize``."""
    tops = {c: len(_ladder(types[c], df[c])) + 1 for c in qis}
    cache: dict[tuple[str, int], np.ndarray] = {}

    def codes(column: str, level: int) -> np.ndarray:
        if (column, level) not in cache:
            cache[column, level] = _codes(_level(df[column], types[column], level, target))
        return cache[column, level]

    def k_of(levels: Sequence[int]) -> int:
        keys = _group_keys([codes(c, lv) for c, lv in zip(qis, levels, strict=True)], len(df))
        sizes = _sizes(keys)
        return int(sizes.min()) if len(sizes) else 0

    def cost(levels: Sequence[int]) -> int:
        return sum(lv + (lv == tops[c]) for c, lv in zip(qis, levels, strict=True))

    vectors = _by_cost([tops[c] for c in qis])
    budget = _MAX_TRIALS if len(df) <= 100_000 else _MAX_TRIALS // 8
    found: tuple[int, ...] | None = None
    best_k = -1
    height: int | None = None
    for trials, levels in enumerate(vectors):
        if height is not None and cost(levels) > height:
            break
        if trials >= budget:
            levels = tuple(tops[c] for c in qis)
            found, best_k = levels, k_of(levels)
            break
        k = k_of(levels)
        if k >= target and k > best_k:
            found, best_k, height = levels, k, cost(levels)
    if found is None or best_k < target:
        return (), None
    steps = tuple(Generalisation(column=c, level=lv, description=_describe(types[c], df[c], lv))
                  for c, lv in zip(qis, found, strict=True) if lv)
    return steps, best_k


def _by_cost(tops: Sequence[int]) -> Iterator[tuple[int, ...]]:
    """Every level vector (column ``i`` at ``0..tops[i]``) by increasing cost, a level's cost
    being the level, plus one for ``tops[i]`` (suppression), lexicographic within a cost (the
    order a stable sort of the product gives), made lazily: the caller stops after a budget."""
    costs = [[lv + (lv == top) for lv in range(top + 1)] for top in tops]
    reach = [0] * (len(costs) + 1)  # reach[i]: the highest cost columns i.. can add up to
    for i in range(len(costs) - 1, -1, -1):
        reach[i] = reach[i + 1] + max(costs[i])
    for height in range(reach[0] + 1):
        yield from _of_cost(costs, reach, height)


def _of_cost(costs: Sequence[Sequence[int]], reach: Sequence[int], height: int
             ) -> Iterator[tuple[int, ...]]:
    """The level vectors of exactly ``height``, lexicographic (an explicit stack: a frame may
    have more quasi-identifiers than Python's recursion limit)."""
    stack: list[tuple[tuple[int, ...], int]] = [((), height)]
    while stack:
        prefix, left = stack.pop()
        i = len(prefix)
        if i == len(costs):
            if left == 0:
                yield prefix
            continue
        options = [(lv, c) for lv, c in enumerate(costs[i]) if c <= left <= c + reach[i + 1]]
        stack.extend(((*prefix, lv), left - c) for lv, c in reversed(options))


_MAX_TRIALS = 400


# ---- the anonymize hook ----------------------------------------------------------------------

def guard(
    out: pd.DataFrame,
    source_frame: pd.DataFrame,
    source: Classification,
    result: Classification,
    treated: Sequence[str],
    strategy: str,
    config: Config,
) -> Classification:
    """The classification of an anonymized frame once its k-anonymity is known.

    When the source held personal data and the output's quasi-identifiers (as the strategy left
    them) are not k-anonymous for ``classification.k_anonymity``, the frame stays personal data
    (pseudonymised): the quasi-identifier columns keep (or get) a personal class, the source
    floor and tags stay, and the reasoning says which quasi-identifiers to generalise.
    """
    # the named index levels too: to_csv writes them, so an occupation made the index is as
    # much a quasi-identifier as the column was (before, it was left out of the count)
    names = list(dict.fromkeys([*(str(c) for c in out.columns),
                                *(str(n) for n in out.index.names if n is not None)]))
    qis = guard_needed(source, names, config, result)
    if not qis or len(out) == 0:
        return result
    target = config.classification.k_anonymity
    views = [_codes(_retained(values, _pii_type(source, q),
                              (_treated_with(result.columns.get(q)) or strategy)
                              if q in treated else ""))
             for q, values in named_or_level(out, qis)]  # by position: labels may repeat
    sizes = _sizes(_group_keys(views, len(out)))
    k = int(sizes.min()) if len(sizes) else 0

    def advice() -> str:
        frame = _levels_as_columns(source_frame, qis)
        return report(_first_of_each(frame), qis, target_k=target, config=config).advice

    return guard_for_k(k, source, result, qis, config, advice)


def under_governor(config: Config) -> Config:
    """``config`` with the enabled governor's ``classification`` section (its mapping of kinds
    to tiers, its personal tags) and the higher of the two ``k_anonymity`` thresholds: a
    configuration passed to ``anonymize(df, config=...)`` says how to anonymize (strategies,
    epsilon, keys), not what its output is classified as. Before, ``config=`` with
    ``k_anonymity: 2`` declared a release anonymous under a governor that asked for 100, and
    one mapping ``pii`` to ``PUBLIC`` made a frame of raw names and phone numbers PUBLIC (the
    privacy budget already took the lower of the two limits). ``config`` itself without a
    governor, or when it is the governor's."""
    from lacuna.config import enabled_config

    governing = enabled_config()
    if governing is None or governing is config:
        return config
    held = governing.classification
    if config.classification.k_anonymity > held.k_anonymity:
        held = held.model_copy(update={"k_anonymity": config.classification.k_anonymity})
    return config.model_copy(update={"classification": held})


def guard_needed(source: Classification, names: Sequence[str], config: Config,
                 result: Classification | None = None) -> tuple[str, ...]:
    """The quasi-identifiers :func:`guard` checks for an anonymized frame with columns
    ``names`` (empty: no check needed). For engines that count groups themselves (Spark).

    Only when a quasi-identifier is personal data itself (dob, postal code, gender, age, one an
    earlier check marked, or a personal column the anonymization left as a quasi-identifier in
    ``result``: a generalised IP subnet or number range): columns that merely have a
    quasi-identifying name (city, job title) join the check then, but never turn a frame
    personal on their own.

    A column ``noise`` made (differentially private: its epsilon held to at most
    ``MAX_EPSILON``, its sensitivity to at least the values' span) is not one: nobody is linked
    on a noised value, and counting its (all distinct) values as groups would keep every noised
    age personal whatever the noise.
    """
    cc = config.classification
    personal = bool(source.personal_columns) or any(t in cc.personal_tags for t in source.tags)
    generalised = _generalised(source, result, names) if result is not None else set()
    found = set(pick_quasi_identifiers(source, list(names))) | generalised
    qis = tuple(n for n in dict.fromkeys(names) if n in found and not (
        result is not None and _treated_with(result.columns.get(n)) == "noise"))
    if not personal or not any(_personal_quasi(source, q) or q in generalised for q in qis):
        return ()
    return qis


def _generalised(source: Classification, result: Classification, names: Sequence[str]
                 ) -> set[str]:
    """Personal columns of the source that the anonymization left as quasi-identifiers (the
    ``generalize`` strategy's /24 subnet, number range, ...): they single people out in small
    groups like a date of birth does, so they are checked like one."""
    out = set()
    for name in names:
        before, after = source.columns.get(name), result.columns.get(name)
        if before is None or not before.is_personal or after is None:
            continue
        if after.pii_type == "quasi_identifier" or (  # synthesize keeps an IP's real /24
                before.pii_type == "ip_address" and _treated_with(after) == "synthesize"):
            out.add(name)
    return out


def _treated_with(column: ColumnClass | None) -> str:
    """The anonymization strategy that made ``column`` (its evidence), or ``""``."""
    for e in column.evidence if column is not None else ():
        if e.rule.startswith("anonymize:"):
            return e.rule.split(":", 1)[1]
    return ""


def guard_for_k(
    k: int,
    source: Classification,
    result: Classification,
    qis: Sequence[str],
    config: Config | ClassificationConfig,
    advice: Callable[[], str] | None = None,
    *,
    taken_out: str | None = None,
) -> Classification:
    """:func:`guard` once ``k`` (the smallest group over ``qis``) is known.

    ``taken_out`` (the message to give) is for rows taken out of a frame already classified
    (``source`` and ``result`` are its classification; :mod:`lacuna.lineage.frames`): below
    k its quasi-identifiers are personal again with that message, keeping their evidence and
    the frame's tags (an anonymized frame's own verdict is not made again).
    """
    from lacuna.classify.rollup import rollup
    from lacuna.config import ClassificationConfig

    cc = config if isinstance(config, ClassificationConfig) else config.classification
    target = cc.k_anonymity
    columns = dict(result.columns)
    if k >= target:
        note = f"k-anonymity holds: k={k} ≥ {target} over {', '.join(qis)}"
        for q in qis:
            col = columns.get(q)
            if col is not None and not col.is_personal:
                columns[q] = _mark_quasi(col, _pii_type(source, q), note)
        return replace(result, columns=columns, reasoning=(*result.reasoning, note))
    if taken_out is not None:
        message = taken_out
    else:
        hint = advice() if advice is not None else (
            f"generalise {', '.join(qis)} (lacuna.privacy.report on a sample suggests how)")
        message = (f"not anonymous: k={k} < {target} over quasi-identifiers {', '.join(qis)}, "
                   f"so it stays personal data (pseudonymised); {hint}")
    for q in qis:
        before = source.columns.get(q)
        pii_type = _pii_type(source, q) or "quasi_identifier"
        columns[q] = ColumnClass(
            classification=ColumnKind.PII, pii_type=pii_type,
            sensitivity=before.sensitivity if before is not None and before.is_personal
            else Sensitivity.MEDIUM,
            confidence=1.0, reasoning=f"quasi-identifier ({pii_type}): {message}",
            layer=Layer.INHERITED,
            evidence=(*(before.evidence if taken_out is not None and before is not None
                        else ()),
                      Evidence(source="privacy", rule=f"quasi_identifier:{pii_type}",
                               detail=message)))
    tags = list(result.tags) if taken_out is not None else [*source.tags, ANONYMIZED]
    return rollup(columns, cc, floor=source.floor, extra_tags=tags,
                  reasoning=[message, *result.reasoning], layer=Layer.INHERITED)


def _personal_quasi(source: Classification, name: str) -> bool:
    column = source.columns.get(name)
    return column is not None and (
        (column.is_personal and column.pii_type in QUASI_TYPES)
        or any(e.rule.startswith("quasi_identifier:") for e in column.evidence))


def _mark_quasi(column: ColumnClass, pii_type: str | None, note: str) -> ColumnClass:
    """Keep the class, remember the column was a quasi-identifier (so later reports find it)."""
    rule = f"quasi_identifier:{pii_type or ''}"
    if any(e.rule == rule for e in column.evidence):
        return column
    return replace(column, evidence=(*column.evidence,
                                     Evidence(source="privacy", rule=rule, detail=note)))


def _retained(values: pd.Series, pii_type: str | None, strategy: str) -> pd.Series:
    """What an attacker can still link on after ``strategy``: for ``synthesize``, the part of a
    quasi-identifier it keeps (age band, postal prefix); otherwise the values' own equality."""
    if strategy != "synthesize":
        return values
    from lacuna.anonymize.synthetic import AGE_BAND_YEARS

    if pii_type == "dob":
        from lacuna.anonymize.synthetic import age_band

        return age_band(values)  # the day within the band is synthetic, the band is real
    if pii_type == "age":
        return _number_band(values, AGE_BAND_YEARS)
    if pii_type == "postal_code":
        return _prefix(values, 3)
    if pii_type == "ip_address":
        return _subnet(values)  # the host is synthetic, the /24 (IPv6: /64) is real
    return values


def _subnet(values: pd.Series) -> pd.Series:
    import ipaddress

    def net(value: Any) -> Any:
        try:
            ip = ipaddress.ip_address(str(value).strip())
        except ValueError:
            return value
        return str(ipaddress.ip_network(f"{ip}/{24 if ip.version == 4 else 64}", strict=False))

    return values.map(net, na_action="ignore")
