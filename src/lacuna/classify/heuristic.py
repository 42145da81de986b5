"""Layer 1: the heuristic classifier — paths, column names, sampled values, sensitive terms.

``classify`` accepts what users have (a DataFrame, a file path, column names, or
``{name: sample values}``); ``classify_frame``, ``classify_columns`` and ``classify_path`` are the
parts. Column classes come from ``combine`` (name and value evidence weighed together); the
table classification from :func:`lacuna.classify.rollup.rollup`, with the path's and the
sensitive terms' floor and tags.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cache
from typing import TYPE_CHECKING, Any

import pandas as pd

from lacuna.classify import builtin
from lacuna.classify import terms as _terms
from lacuna.classify.base import (
    ValueRecognizer,
    name_recognizers,
    validators,
    value_recognizers,
)
from lacuna.classify.cascade import cascade_for
from lacuna.classify.combine import combine
from lacuna.classify.declared import apply_declared
from lacuna.classify.names import NameAnalyzer
from lacuna.classify.paths import classify_path
from lacuna.classify.rawkey import raw_key
from lacuna.classify.rollup import rollup
from lacuna.classify.scan import (
    ColumnSample,
    PatternRecognizer,
    column_sample,
    read_sample,
    sample_frame,
    sample_values,
)
from lacuna.classify.settings import ClassifySettings, from_config
from lacuna.classify.shapes import fingerprint
from lacuna.classify.spelled import spelled_down
from lacuna.classify.tokens import DIGIT_LOOKALIKES
from lacuna.config import ClassificationConfig
from lacuna.errors import ClassificationError
from lacuna.model import Classification, ColumnClass, Tier, unique

if TYPE_CHECKING:
    from lacuna.classify.header import Header

del builtin  # imported for its side effect: registering the built-in recognizers


@cache
def _default_config() -> ClassificationConfig:
    return ClassificationConfig()


@dataclass(frozen=True, slots=True)
class _Engine:
    """The recognizers in use, built once per state of the registries (they only grow)."""

    version: tuple[int, int]
    names: NameAnalyzer
    values: tuple[ValueRecognizer, ...]
    named: dict[str, ColumnClass] = field(default_factory=dict)  # _by_name's answers


def _engine() -> _Engine:
    return _engine_for((len(name_recognizers), len(value_recognizers)))


@cache
def _engine_for(version: tuple[int, int]) -> _Engine:
    names = NameAnalyzer(name_recognizers.get(n)() for n in name_recognizers.names())
    values = tuple(value_recognizers.get(n)() for n in value_recognizers.names())
    return _Engine(version, names, values)


def _by_name(name: str, version: tuple[int, int]) -> ColumnClass:
    """A column class from the name alone: immutable, so cached per name (the < 1 ms path).

    The cache is a plain dict per engine (``_Engine.named``), emptied when full, rather than
    an ``lru_cache`` keyed by ``(name, version)``: no key tuple to hash and no eviction
    bookkeeping per new name, and an engine's answers are never read for another version of
    the registries (one registered later).
    """
    engine = _engine_for(version)
    named = engine.named
    column = named.get(name)
    if column is None:
        column = combine(name, engine.names.analyze(name, remember=False), (), None)
        if len(named) >= _NAMED_SIZE:
            named.clear()
        named[name] = column
    return column


_NAMED_SIZE = 65536


def strong_recognizers() -> tuple[tuple[int, PatternRecognizer], ...]:
    """The value recognizers whose format with its check decides alone (a pattern and a
    validator; not the weak formats, which only support a column's name), each with its
    position among the engine's value recognizers: what finds data in a column's name
    (:func:`data_in_names`) and in what the proxy sends (``lacuna.proxy.gate``)."""
    return _strong((len(name_recognizers), len(value_recognizers)))


@cache
def _strong(version: tuple[int, int]) -> tuple[tuple[int, PatternRecognizer], ...]:
    return tuple((n, r) for n, r in enumerate(_engine_for(version).values)
                 if isinstance(r, PatternRecognizer) and not r.weak_only)


_MAYBE_DATA = re.compile(r"[0-9@]")  # every strongly recognized value has a digit or an "@"
# an ASCII name the value scan may read otherwise: an "@", "at" or "dot" set off or encoded
# (an address written out: "ana(at-sign)example.com", "ana%2540example.com"), a letter
# drawn like a digit beside a digit or a dotted digit, quotes or spaces around it
_DIGIT_WORD = "(?:zero|oh|one|two|three|four|five|six|seven|eight|nine)"
_MAYBE_READ = re.compile(r"@|(?i:[\[({<#]\s*(?:at|dot|\.|arroba)|\sat[\s_-]|[_-]at[_-]|\(a\)"
                         r"|%(?:25)*40|&#|&amp;|&commat;|\\u0*40|\\x40)"
                         rf"|[a-z0-9]AT[a-z0-9]|[0-9][{DIGIT_LOOKALIKES}]|[{DIGIT_LOOKALIKES}][0-9]"
                         r"|[0-9][.:/-][OoIl]|^[\s\"'`]|[\s\"'`]$"
                         # spelled a character or a digit word at a time (lacuna.classify.spelled)
                         r"|[0-9](?:[ \t\n._/|*~-][0-9]){6}"
                         rf"|(?i:\b(?:{_DIGIT_WORD}[\s,-]+){{6}}{_DIGIT_WORD}\b)")


def data_in_names(names: Iterable[str]) -> set[str]:
    """The values a strong value recognizer finds, and validates, inside column names: a
    name can be data (a JSON key ``ana@example.com``, a form field, a CSV header). Such a name
    is not shown as it is in records, and not stored (:mod:`lacuna.classify.cache`). A name
    that holds data only as values are read (:func:`lacuna.classify.scan.column_sample`: a
    look-alike letter, an address written out, ``ana[at]example[dot]com``,
    ``+44 2O 7946 O958``) is itself the value found."""
    names = [str(n) for n in names]
    values = _found_in(n for n in names if _MAYBE_DATA.search(n))
    values.update(n for n, read in read_otherwise(names).items() if _found_in([read]))
    return values


def _found_in(names: Iterable[str]) -> set[str]:
    suspects = list(names)
    if not suspects:
        return set()
    values: set[str] = set()
    for _, r in strong_recognizers():
        if r.search:  # found inside a name, as in free text
            pattern = re.compile(r.search)
            candidates = {m.group("value") for n in suspects for m in pattern.finditer(n)}
            values.update(v for v in candidates - {None} if r._check([v])[1])
    ssn = validators.get("us_ssn")
    values.update(v for n in suspects for m in _SPACED_SSN.finditer(n)
                  if ssn(v := m.group("value")))
    return values


# An SSN's groups split by spaces inside a name ("123 45 6789", "user 123 45 6789", a JSON
# key or a query's name): free text's SSN search leaves them out ("030 123 45 6789" is a
# phone number), so only where no other digits are beside the three groups.
_SPACED_SSN = re.compile(r"(?<![0-9])(?<![0-9][ \t])"
                         r"(?P<value>[0-9]{3}[ \t]{1,3}[0-9]{2}[ \t]{1,3}[0-9]{4})(?![ \t]?[0-9])")


def read_otherwise(texts: Iterable[str]) -> dict[str, str]:
    """Each of ``texts`` (names, a request's header values) that the value scan reads otherwise
    than it is written, as it reads it (a :class:`ColumnSample`'s values, e-mail addresses
    written out read back: ``ana[at]example[dot]com`` is ``ana@example.com``)."""
    names = list(dict.fromkeys(t for t in texts if not t.isascii() or _MAYBE_READ.search(t)))
    if not names:
        return {}
    shown = _read(names)
    pairs = (zip(names, shown, strict=True) if shown is not None  # else a name read as
             else [(n, r[0]) for n in names if (r := _read([n]))])  # nothing: one by one
    return {n: r for n, r in pairs if r != n}


def _read(names: list[str]) -> list[str] | None:
    from lacuna.classify.builtin.values import spelled_out

    sample = column_sample("names", pd.Series(names, dtype=object))
    read = spelled_out(sample)
    shown: list[str] = (sample.values if read is None else read).to_pylist()
    return shown if len(shown) == len(names) else None


@dataclass(slots=True)
class _Found:
    columns: dict[str, ColumnClass]
    hits: list[_terms.TermHit]
    samples: dict[str, ColumnSample | None] = field(default_factory=dict)


def classify_columns(
    names: Iterable[Any],
    samples: Mapping[str, Sequence[Any] | pd.Series] | None = None,
    config: ClassificationConfig | None = None,
    *,
    cascade: bool | ClassifySettings = True,
) -> dict[str, ColumnClass]:
    """Classify columns from their names and, when given, sample values.

    Layer 1 decides first; columns it is unsure of go on to layers 2 and 3 when they are on
    (see :mod:`lacuna.classify.cascade`).

    Args:
        names: column names (non-strings are converted with ``str``).
        samples: sample values per column name (lists or Series); columns without samples are
            classified by name. Longer samples are cut to ``config.sample_rows``.
        config: sensitive terms and the sample size; ``None`` uses the defaults.
        cascade: ``False`` runs layer 1 only; a ``ClassifySettings`` replaces the cascade
            settings read from ``config``.

    Returns:
        ``{name: ColumnClass}`` in the order of ``names``.

    Example:
        >>> cols = classify_columns(["cust_eml", "id"], {"id": [4155552671, 4155552672]})
        >>> cols["cust_eml"].pii_type, cols["id"].classification.value
        ('email', 'identifier')
    """
    return _columns(names, samples, config or _default_config(), None, cascade).columns


def _columns(
    names: Iterable[Any],
    samples: Mapping[str, Sequence[Any] | pd.Series] | None,
    config: ClassificationConfig,
    rows: int | None,
    cascade: bool | ClassifySettings = True,
) -> _Found:
    limit = config.sample_rows if rows is None else rows
    compiled = _terms.compile_terms(config.sensitive_terms)
    engine = _engine()
    settings = None
    if cascade is not False:
        settings = cascade if isinstance(cascade, ClassifySettings) else settings_for(config)
    memo = settings is not None and settings.cache.enabled
    found = _Found({}, [])
    if samples is not None and not all(isinstance(k, str) for k in samples):
        samples = {str(k): v for k, v in samples.items()}
    for raw in names:
        name = str(raw)
        sample: ColumnSample | None = None
        small: tuple[Any, ...] | None = None  # a small column's raw values (rawkey.py)
        hit: tuple[ColumnSample, ColumnClass] | None = None
        if samples is not None and name in samples and limit > 0:
            raw_values = raw_key(name, samples[name], limit) if memo else None
            small = (raw_values, engine.version) if raw_values is not None else None
            hit = _RAW_MEMO.get(small) if small is not None else None
            sample = hit[0] if hit is not None else \
                column_sample(name, sample_values(samples[name], limit))
        if sample is None:
            column = _by_name(name, engine.version)
        elif hit is not None:  # the same small column as before: its sample and answer
            column = hit[1]
        else:
            # The second time the same sample comes by (a frame read, then written), its
            # layer-1 answer is a dict lookup. Keyed by content, not shape: checksums tell a card
            # number from a look-alike, and shapes cannot.
            key = (name, fingerprint(sample), engine.version) if memo else None
            known = _VALUE_MEMO.get(key) if key else None
            if known is None:
                matches = [m for r in engine.values if (m := r.scan(sample))]
                if (down := spelled_down(sample.values)) is not None:  # a character a cell
                    spelled = read_sample(name, down)
                    matches += [replace(m, mode="down", ratio=1.0, sampled=len(sample))
                                for _, r in strong_recognizers()
                                if (m := r.scan(spelled)) and not m.below]
                known = combine(name, engine.names.analyze(name), matches, sample)
                if key:
                    if len(_VALUE_MEMO) >= _MEMO_SIZE:
                        _VALUE_MEMO.clear()
                    _VALUE_MEMO[key] = known
            column = known
            if small is not None:
                if len(_RAW_MEMO) >= _MEMO_SIZE:
                    _RAW_MEMO.clear()
                _RAW_MEMO[small] = (sample, known)
        hits = _terms.in_name(name, compiled) if compiled else []
        if sample is not None and compiled:
            hits += _terms.in_values(sample, compiled)
        if hits:
            column = replace(column, evidence=(*column.evidence, *(h.evidence() for h in hits)))
            found.hits.extend(hits)
        found.columns[name] = column
        found.samples[name] = sample
    if settings is not None:
        found.columns = cascade_for(settings).run(found.columns, found.samples)
    return found


_VALUE_MEMO: dict[tuple[str, str, tuple[int, int]], ColumnClass] = {}
_RAW_MEMO: dict[tuple[Any, ...], tuple[ColumnSample, ColumnClass]] = {}  # by raw_key
_MEMO_SIZE = 65536


def settings_for(config: Any) -> ClassifySettings:
    """The cascade settings of a configuration, validated once per configuration object."""
    key = id(config)
    hit = _SETTINGS.get(key)
    if hit is None or hit[0] is not config:
        if len(_SETTINGS) > 64:
            _SETTINGS.clear()
        hit = _SETTINGS[key] = (config, from_config(config))
    return hit[1]


_SETTINGS: dict[int, tuple[Any, ClassifySettings]] = {}


def classify_frame(
    df: pd.DataFrame,
    *,
    path: str | os.PathLike[str] | None = None,
    config: ClassificationConfig | None = None,
    sample_rows: int | None = None,
    cascade: bool | ClassifySettings = True,
    declared: Mapping[str, Any] | None = None,
) -> Classification:
    """Classify a DataFrame from its path (when known), column names and sampled values.

    Named index levels count as columns (``to_csv`` writes them), and a column is keyed by
    ``str`` of its label (MultiIndex columns by their tuple, ``('contact', 'email')``), as
    lineage tracking and every record key it (:func:`lacuna.classify.header.column_key`). At
    most ``sample_rows`` rows are sampled, deterministically; ``sample_rows=0`` classifies by
    names only. The header and
    an unnamed text index are read as values too (:mod:`lacuna.classify.header`): under
    ``(column labels)`` and ``(index)`` when they hold more than PUBLIC, and a label that is a
    value is named by its position, ``(column N)`` (records never name a value).

    Args:
        df: the data.
        path: where it came from, for path rules and sensitive terms in the path.
        config: the classification settings; ``None`` uses the defaults.
        sample_rows: overrides ``config.sample_rows``.
        cascade: ``False`` runs layer 1 only; a ``ClassifySettings`` replaces the cascade
            settings read from ``config``.
        declared: declared column classes that win over inference (see
            :func:`lacuna.classify.declared.apply_declared`).

    Returns:
        The table :class:`~lacuna.model.Classification`.

    Example:
        >>> import pandas as pd
        >>> df = pd.DataFrame({"contact": ["ada@example.org", "alan@example.org"]})
        >>> c = classify_frame(df)
        >>> c.tier.value, c.tags, c.columns["contact"].pii_type
        ('PROPRIETARY', ('PII', 'GDPR'), 'email')
    """
    from lacuna.classify import header

    config = config or _default_config()
    rows = _rows(config, sample_rows)
    sampled = sample_frame(df, rows) if rows else df.iloc[:0]
    extra = [n for n in df.index.names if n is not None and n not in df.columns]
    if extra:  # after sampling: never copy a large frame to move its index
        sampled = sampled.reset_index(level=extra)
    # keyed as lineage tracking keys them (header.column_key); the index levels moved into
    # the columns by their names (a MultiIndex header pads them: ("email", ""))
    names = [*(str(n) for n in extra), *(header.column_key(c) for c in df.columns)]
    samples: dict[str, pd.Series] = {}
    if rows:
        for i, name in enumerate(names):
            samples.setdefault(name, sampled.iloc[:, i])
    found = _columns(names, samples, config, rows, cascade)
    if rows:
        found.columns.update(header.index_classes(df, config, where="read as the index"))
    read = header.read_header(df, config, where="read as the header")
    return headed(found, read, header.frame_names(df, read), config, path, declared)


def headed(
    found: _Found,
    read: Header,
    names: Mapping[str, str],
    config: ClassificationConfig,
    path: str | os.PathLike[str] | None,
    declared: Mapping[str, Any] | None,
) -> Classification:
    """The table of the columns ``found`` and of what their header holds (``read``, from
    :mod:`lacuna.classify.header`), declared classes applied, each label that is a value named
    by its record name (``names``): the last step :func:`classify_frame` and
    :func:`lacuna.classify` of column names share."""
    from lacuna.classify import header

    found.columns.update(read.classes)
    classification = apply_declared(_table(found, config, path), declared, config)
    return header.named(classification, names)


def _rows(config: ClassificationConfig, sample_rows: int | None) -> int:
    rows = config.sample_rows if sample_rows is None else sample_rows
    if not isinstance(rows, int) or rows < 0:
        msg = f"sample_rows must be a whole number >= 0 (0: names only), got {rows!r}"
        raise ClassificationError(msg)
    return rows


def _table(
    found: _Found, config: ClassificationConfig, path: str | os.PathLike[str] | None
) -> Classification:
    floor, tags, reasons = Tier.PUBLIC, list[str](), list[str]()
    hits = found.hits
    if path is not None:  # path rules and sensitive terms in the path
        floor, path_tags, path_reasons = classify_path(path, config)
        tags.extend(path_tags)
        reasons.extend(path_reasons)
    for hit in hits:
        floor = max(floor, hit.term.term.tier)
        tags.extend(hit.term.term.tags)
    reasons.extend(unique(h.reason() for h in hits))
    return rollup(found.columns, config, floor=floor, extra_tags=tags, reasoning=reasons)
