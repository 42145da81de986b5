"""Bounded value sampling and the declarative ``PatternRecognizer``.

Sampling is deterministic and bounded: at most ``sample_rows`` rows per frame — a tenth of the
budget from the head (the rows a user sees first), the rest evenly spaced over the remaining rows,
so a 1M-row frame costs what a 1k-row frame does and a sorted column is seen across its whole
range. Every sampled value
is cut to ``MAX_VALUE_CHARS`` characters before any pattern runs, so a column of huge strings
costs bounded work too.

Recognition is vectorized: the sample becomes one Arrow string array, a prefilter regex runs over
all of it at once (RE2 via pyarrow compute, the engine behind pandas' ``str`` dtype, called
directly to skip pandas' per-call pattern analysis), and the validator runs only on prefilter
matches, at most ``max_checks`` of them, evenly spaced.

A small sample (a header's labels, a few rows: at most ``SMALL_VALUES`` values of at most
``SMALL_CHARS`` characters) is matched in Python's ``re`` instead, for the patterns vetted to run
there (:func:`vet_patterns`: the built-in recognizers'): pyarrow compiles a pattern on every
call, which costs more than matching a hundred short values. The vetted patterns match the same
values in both engines (``tests/classify/test_scan_engines.py`` holds them to it); any other
pattern (a configured term, a custom recognizer's) runs in RE2 alone, whose matching time is
linear in the value whatever the pattern.
"""

from __future__ import annotations

import functools
import re
import sys
import unicodedata
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from pandas.api import types as ptypes

from lacuna.classify.base import ValueMatch, ValueRecognizer, validators
from lacuna.classify.encoded import decoded
from lacuna.classify.spelled import read_spelled
from lacuna.classify.tokens import (
    DIGIT_LOOKALIKES,
    LOOKALIKE_LETTERS,
    unconfused,
    undisguised,
    visible,
)

MAX_VALUE_CHARS = 2048
# A value holding one of these is searched as free text: words, and values joined into one
# (``",".join(emails)``, ``"a@x.org;b@y.org"``, ``"email=a@x.org"``, ``"<a@x.org>"``), whose
# pieces a whole-value pattern does not match. RE2 syntax.
TEXT_SEPARATORS = r"[\s,;|<>\"=:]"
QUOTES = "\"'`\u2018\u2019\u201c\u201d\u00ab\u00bb"  # trimmed from both ends of a value
TEXT_MIN_HITS = 2  # free text: a column holds X when >= 2 sampled values contain a valid X ...
#: the name (or the end of the name) of a column whose values are the names of fields: an
#: object's keys, form names sent without a value (the proxy's ``(keys)``). Words there are
#: field names first: ``max``, ``grace`` and ``bill`` are given names too.
FIELD_NAMES = "(keys)"
TEXT_MIN_RATIO = 0.05  # ... or when >= 5% of them do (one hit in a 3-row sample counts)
DISTINCT_MIN_VALUES = 256  # fewer values: patterns over them directly
PROBE = 24  # candidates validated before giving up on a recognizer that matched none of them
SMALL_VALUES = 128  # a sample this small, its values this short: vetted patterns run in
SMALL_CHARS = 64  # Python's re, compiled once (RE2 in pyarrow compiles on every call)


@dataclass(frozen=True, slots=True)
class ColumnSample:
    """One column's sampled, non-null values as bounded, stripped strings (an Arrow array).

    The helpers run RE2 patterns (pyarrow compute) over the whole sample at once; recognizers
    use them instead of looping over values.
    """

    name: str
    values: pa.Array  # utf8
    text: pa.Array  # the values containing whitespace or a separator (TEXT_SEPARATORS):
    # candidates for free-text search
    from_integers: bool = False  # the column holds integers: nothing in it carries formatting
    skipped: str | None = None  # why values were not scanned (dtype), for reasoning
    dates: pa.Array | None = None  # date32, when the column holds dates or timestamps
    # A column of few distinct values (a region, a status): patterns run over the distinct
    # values once and the answer is spread back by position (``codes``), so every count and
    # candidate is the same as over ``values``, at the cost of the distinct values only.
    distinct: pa.Array | None = field(default=None, repr=False, compare=False)
    codes: pa.Array | None = field(default=None, repr=False, compare=False)
    lengths: tuple[int, int] = (0, 0)  # the shortest and the longest value, in characters
    # A small sample's values and free-text values as Python strings (SMALL_VALUES,
    # SMALL_CHARS): the vetted patterns run over them in Python's re.
    strings: tuple[str, ...] | None = field(default=None, repr=False, compare=False)
    text_strings: tuple[str, ...] = field(default=(), repr=False, compare=False)

    def __len__(self) -> int:
        return len(self.values)

    def any_contains(self, literal: str, *, ignore_case: bool = False) -> bool:
        """Whether any value contains ``literal`` (in any case: ``ignore_case``, for a
        lower-case ``literal``)."""
        if self.strings is not None:
            if ignore_case:
                return any(literal in v.lower() for v in self.strings)
            return any(literal in v for v in self.strings)
        values = self.values if self.distinct is None else self.distinct
        return bool(pc.any(pc.match_substring(values, literal, ignore_case=ignore_case)).as_py())

    def fullmatches(self, pattern: str) -> list[str]:
        """The values that ``pattern`` matches entirely."""
        return self.matching(pattern).to_pylist()  # type: ignore[no-any-return]

    def matching(self, pattern: str) -> pa.Array:
        """The values that ``pattern`` matches entirely, as an Arrow array (no Python strings)."""
        if (found := self._small(pattern)) is not None:
            return pa.array(found, type=pa.string())
        return pc.filter(self.values, self._mask(pattern))

    def candidates(self, pattern: str, limit: int) -> tuple[int, list[str]]:
        """How many values ``pattern`` matches entirely, and at most ``limit`` of them, evenly
        spaced (the ``i * count / limit``-th): only those become Python strings, so a validator
        runs on a bounded number of candidates however many values the batch holds."""
        if (found := self._small(pattern)) is not None:
            count = len(found)
            if count <= limit:
                return count, found
            step = count / limit
            return count, [found[int(i * step)] for i in range(limit)]
        mask = self._mask(pattern)
        count = int(pc.sum(mask).as_py() or 0)
        if count <= limit:
            return count, pc.filter(self.values, mask).to_pylist() if count else []
        positions = pc.indices_nonzero(mask).to_numpy()
        step = count / limit
        picked = positions[(np.arange(limit) * step).astype(np.int64)]
        return count, self.values.take(pa.array(picked)).to_pylist()

    def _small(self, pattern: str) -> list[str] | None:
        """The values ``pattern`` matches entirely, matched in Python's re: ``None`` unless the
        sample is small and the pattern vetted (:func:`vet_patterns`)."""
        if self.strings is None or (compiled := _VETTED.get(pattern)) is None:
            return None
        return [v for v in self.strings if compiled.fullmatch(v)]

    def _mask(self, pattern: str) -> pa.Array:
        return self._each(pc.match_substring_regex, f"^(?:{pattern})$")

    def _each(self, kernel: Any, pattern: str, **options: Any) -> pa.Array:
        """``kernel`` over every value: over the distinct ones, spread back, when few."""
        if self.distinct is None or self.codes is None:
            return kernel(self.values, pattern, **options)
        return kernel(self.distinct, pattern, **options).take(self.codes)

    def count(self, pattern: str, *, ignore_case: bool = False) -> int:
        """How many values ``pattern`` is found in."""
        mask = self._each(pc.match_substring_regex, pattern, ignore_case=ignore_case)
        return int(pc.sum(mask).as_py() or 0)

    def extract_text(self, pattern: str) -> list[str]:
        """The first candidate per free-text value: the group named ``value`` in ``pattern``."""
        if not len(self.text):
            return []
        if self.strings is not None and (compiled := _VETTED.get(pattern)) is not None:
            return [m.group("value") or "" for v in self.text_strings if (m := compiled.search(v))]
        found = pc.drop_null(pc.extract_regex(self.text, pattern))
        return found.field("value").to_pylist()  # type: ignore[no-any-return]


def sample_positions(n: int, k: int) -> np.ndarray | None:
    """Row positions of a deterministic sample of ``k`` out of ``n`` rows; ``None``: all rows.

    Example:
        >>> sample_positions(100, 10).tolist()
        [0, 1, 13, 26, 38, 50, 62, 74, 87, 99]
    """
    if n <= k:
        return None
    head = k // 10
    rest = np.linspace(head, n - 1, k - head).round().astype(np.int64)
    return np.unique(np.concatenate([np.arange(head, dtype=np.int64), rest]))


def sample_frame(df: pd.DataFrame, k: int) -> pd.DataFrame:
    """At most ``k`` rows of ``df``, chosen by :func:`sample_positions`."""
    positions = sample_positions(len(df), k)
    return df if positions is None else df.iloc[positions]


def sample_values(values: Sequence[Any] | pd.Series, k: int) -> pd.Series:
    """At most ``k`` values of a Series or sequence, without copying the rest."""
    if isinstance(values, pd.Series):
        positions = sample_positions(len(values), k)
        return values if positions is None else values.iloc[positions]
    if not isinstance(values, Sequence) or isinstance(values, (str, bytes)):
        values = [values] if isinstance(values, (str, bytes)) else list(values)
    positions = sample_positions(len(values), k)
    picked = list(values) if positions is None else [values[int(i)] for i in positions]
    return pd.Series(picked, dtype=object if not picked else None)


def column_sample(name: str, series: pd.Series) -> ColumnSample:
    """Normalize a sampled column to bounded strings; numbers, dates and booleans as noted."""
    # Arrow-backed strings lose their nulls in Arrow below (pandas' dropna of them casts the
    # whole array, the most of a small sample's cost)
    arrow_strings = (ptypes.is_string_dtype(series.dtype)
                     and not ptypes.is_object_dtype(series.dtype)
                     and not isinstance(series.dtype, pd.CategoricalDtype))
    s = series if arrow_strings else _dropna(series)
    from_integers = False
    if not len(s):
        return _skip(name, None)
    if ptypes.is_bool_dtype(s.dtype):
        return _skip(name, "booleans")
    if ptypes.is_object_dtype(s.dtype) and isinstance(s.iloc[0], (date, datetime)):
        s = _to_datetime(s)  # date objects: treat as timestamps
        if not len(s):
            return _skip(name, "dates and times")
    if ptypes.is_datetime64_any_dtype(s.dtype):
        empty = pa.array([], type=pa.string())
        stamps = pa.array(s.dt.tz_localize(None) if _tz(s) else s)
        return ColumnSample(name, empty, empty, skipped="dates and times",
                            dates=pc.cast(stamps, pa.date32()))
    if ptypes.is_timedelta64_dtype(s.dtype):
        return _skip(name, "dates and times")
    if ptypes.is_float_dtype(s.dtype):
        # Integer columns with missing values load as floats; phone/card numbers hide there.
        arr = s.to_numpy(dtype=np.float64)
        with np.errstate(invalid="ignore"):  # inf % 1 is nan, quietly: not an integer
            integral = np.isfinite(arr) & (np.mod(arr, 1) == 0) & (np.abs(arr) < 9e18)
        if not np.all(integral):
            return _skip(name, "decimal numbers")
        s = pd.Series(arr.astype(np.int64))
    if ptypes.is_integer_dtype(s.dtype):
        values = pa.array(s.to_numpy()).cast(pa.string())
        from_integers = True
    elif ptypes.is_string_dtype(s.dtype) and not ptypes.is_object_dtype(s.dtype):
        raw = pa.array(s.array)
        if isinstance(raw, pa.ChunkedArray):  # pandas 3 strings from Arrow (pyspark, concat)
            raw = raw.combine_chunks()
        values = pc.utf8_slice_codeunits(raw, 0, MAX_VALUE_CHARS)  # cut first:
        values = pc.utf8_trim_whitespace(values).cast(pa.string())  # 32-bit offsets now fit
    elif (strings := _object_strings(s)) is not None:  # all str: one Arrow conversion
        values = pc.utf8_slice_codeunits(strings, 0, MAX_VALUE_CHARS)
        values = pc.utf8_trim_whitespace(values)
    else:  # object, categorical, mixed: stringify scalars only, each cut short
        values = pa.array([_as_text(v) for v in s.tolist()], type=pa.string())
    if not from_integers:  # percent-encoded, escaped, base64 or hex: read decoded
        values = decoded(values)
    values = _visible(values)
    if not from_integers:  # a character or a digit word at a time: read as they spell
        values = read_spelled(values)
    # quoted again by an export ('"Ada Lovelace"', "'Alan Turing'"): the value is inside
    values = pc.utf8_trim_whitespace(pc.utf8_trim(values, characters=QUOTES))
    return read_sample(name, values, from_integers=from_integers)


def read_sample(name: str, values: pa.Array, *, from_integers: bool = False) -> ColumnSample:
    """The sample of values already read as they show (:func:`column_sample`'s last step; a
    recognizer that reads values another way, such as e-mail addresses written out, builds
    its sample of them here)."""
    values = pc.filter(values, pc.greater(pc.utf8_length(values), 0))
    values = pc.drop_null(values)
    text = values[:0] if from_integers else pc.filter(
        values, pc.match_substring_regex(values, TEXT_SEPARATORS))
    distinct, codes = _distinct(values)
    bounds = pc.min_max(pc.utf8_length(values)) if len(values) else None
    lengths = (int(bounds["min"].as_py()), int(bounds["max"].as_py())) if bounds else (0, 0)
    small = len(values) <= SMALL_VALUES and lengths[1] <= SMALL_CHARS
    return ColumnSample(name, values, text, from_integers=from_integers, distinct=distinct,
                        codes=codes, lengths=lengths,
                        strings=tuple(values.to_pylist()) if small else None,
                        text_strings=tuple(text.to_pylist()) if small else ())


_VETTED: dict[str, re.Pattern[str]] = {}
_WHITESPACE = r"\t\n\f\r "  # RE2's \s: no \v, which Python's has
_POSIX = re.compile(r"\[:\^?[a-z]+:\]")
_HEX = re.compile(r"[0-9A-Fa-f]{2}")


def vet_patterns(*patterns: str) -> frozenset[str]:
    """Let ``patterns`` run in Python's ``re`` over small samples; returns those that can.

    Only for patterns whose matching time is bounded on short values and that mean in Python
    what they mean in RE2 (the built-in recognizers' prefilters and searches, vetted by
    :mod:`lacuna.classify.builtin` and held to it by a test over both engines). A pattern
    Python cannot read the same way (``\\p{Han}``, POSIX classes, RE2-only escapes) stays in
    RE2. Python's ``re`` backtracks: never vet a pattern from configuration.
    """
    vetted = set()
    for pattern in patterns:
        compiled = _python_pattern(pattern)
        if compiled is not None:
            _VETTED[pattern] = compiled
            vetted.add(pattern)
    return frozenset(vetted)


def vetted(pattern: str) -> re.Pattern[str] | None:
    """``pattern`` compiled for Python's ``re`` when :func:`vet_patterns` vetted it (to be
    used with ``fullmatch`` or ``search``, as in RE2), else None: run it in RE2."""
    return _VETTED.get(pattern)


def _python_pattern(pattern: str) -> re.Pattern[str] | None:
    """``pattern`` (RE2 syntax) compiled for Python's ``re`` with RE2's meaning: ASCII classes,
    RE2's whitespace for ``\\s``, end of text for ``$``; ``None`` for anything outside the
    syntax both read alike (escapes other than ``\\d \\w \\s \\b \\A``, control and
    hex characters and escaped punctuation; groups other than ``(?:``, ``(?P<`` and ``(?s``;
    POSIX classes; ``{,n}``)."""
    if _POSIX.search(pattern) or "{," in pattern:
        return None
    out: list[str] = []
    i, in_class = 0, False
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            escape = pattern[i + 1 : i + 2]
            if escape in ("s", "S"):
                if in_class and escape == "S":
                    return None  # a negated class inside a class: no plain Python spelling
                body = _WHITESPACE if in_class else f"[{'^' if escape == 'S' else ''}{_WHITESPACE}]"
                out.append(body)
            elif escape == "x" and _HEX.fullmatch(pattern, i + 2, i + 4):
                out.append(pattern[i : i + 4])
                i += 2
            elif escape and (escape in "dDwWtnrfv" or (escape in "bBA" and not in_class)
                             or not escape.isalnum()):
                out.append(pattern[i : i + 2])
            else:
                return None
            i += 2
            continue
        if in_class:
            in_class = c != "]"
        elif c == "[":
            in_class = True
            out.append(c)
            i += 1
            if pattern.startswith("^", i):
                out.append("^")
                i += 1
            if pattern.startswith("]", i):  # a leading ']' is a literal
                out.append("\\]")
                i += 1
            continue
        elif c == "(" and pattern.startswith("?", i + 1):
            if not pattern.startswith(("(?:", "(?P<", "(?s)", "(?s:"), i):
                return None
        elif c == "$":
            c = "\\Z"  # RE2's $ is the end of the text; Python's also matches before a final \n
        out.append(c)
        i += 1
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # "possible nested set": Python reads it otherwise
            return re.compile("".join(out), re.ASCII)
    except (re.error, FutureWarning, DeprecationWarning):
        return None


def _visible(values: pa.Array) -> pa.Array:
    """The values as they read (the rule of :func:`lacuna.classify.tokens.visible`, in Arrow):
    a zero-width space inside an e-mail address, combining marks over its letters or a card
    number's digits, a fullwidth ``＠``, Arabic-Indic or fullwidth
    digits of a phone number, an en dash between a card number's groups, Cyrillic or Greek
    look-alike letters hide nothing from the
    patterns; nor do letters drawn like the digits 0 and 1 among digits (``+44 2O 7946 O958``,
    :func:`lacuna.classify.tokens.undisguised`). ASCII samples cost two RE2 passes."""
    if pc.all(pc.string_is_ascii(values)).as_py() is not False:
        return _undisguised(values)
    # NFKC in Python (its quick check makes it ~100x faster than Arrow's utf8proc here)
    plain = pa.array([v if v is None or v.isascii() else _nfkc(v) for v in values.to_pylist()],
                     type=pa.string())
    plain = pc.replace_substring_regex(plain, r"\p{Cf}", "")
    # combining marks NFKC leaves on an ASCII character (4̅1̅1̅1̅, a̲n̲a̲@example.com, "Zalgo"
    # text): a line over or under a digit or a letter shows the same digit or letter
    plain = pc.replace_substring_regex(plain, r"([\x00-\x7f])[\p{Mn}\p{Me}]+", r"\1")
    # dashes of every kind and the minus sign as "-" (4111–1111–1111–1111 with en dashes, a
    # non-breaking hyphen in 536‑90‑4399, as a word processor writes them)
    plain = pc.replace_substring_regex(plain, r"[\p{Pd}\x{2212}]", "-")
    # the ideographic full stop as a dot: browsers and mail clients read it as one between
    # a domain's labels (ana@example。com)
    plain = pc.replace_substring(plain, "\u3002", ".")
    digits = pc.fill_null(pc.match_substring_regex(plain, r"[^\P{Nd}0-9]"), False)
    if pc.any(digits).as_py():  # digits of other scripts: those values only, in Python
        read = [visible(v) if other else v
                for v, other in zip(plain.to_pylist(), digits.to_pylist(), strict=True)]
        plain = pa.array(read, type=pa.string())
    # Cyrillic or Greek letters drawn like Latin ones (a Cyrillic "а" in "аna@example.com",
    # "Е" in an IBAN): each word they alone keep from being ASCII, in the Latin it shows.
    # Only values where one touches a Latin letter, a digit or "@" are read in Python:
    # text in those scripts (Иванов, a Russian sentence) costs one RE2 pass.
    confusable = pc.fill_null(pc.match_substring_regex(plain, _MIXED), False)
    if pc.any(confusable).as_py():
        read = [unconfused(v) if other else v
                for v, other in zip(plain.to_pylist(), confusable.to_pylist(), strict=True)]
        plain = pa.array(read, type=pa.string())
    return pc.utf8_trim_whitespace(_undisguised(plain))


_MIXED = f"[{LOOKALIKE_LETTERS}][A-Za-z0-9@]|[A-Za-z0-9@][{LOOKALIKE_LETTERS}]"
# a look-alike touching a digit in a run of digits and look-alikes that no letter touches,
# or a group of them between dots or dashes among digits (192.168.O.1)
_DISGUISED = (f"(?:^|[^A-Za-z_])[0-9{DIGIT_LOOKALIKES}]*"
              f"(?:[0-9][{DIGIT_LOOKALIKES}]|[{DIGIT_LOOKALIKES}][0-9])"
              f"[0-9{DIGIT_LOOKALIKES}]*(?:$|[^A-Za-z_])"
              f"|[0-9][.:/-][{DIGIT_LOOKALIKES}]+[.:/-][0-9{DIGIT_LOOKALIKES}]")


def _undisguised(values: pa.Array) -> pa.Array:
    """``values`` with letters drawn like digits read as digits among digits
    (:func:`lacuna.classify.tokens.undisguised`): only values where such a letter touches a
    digit are read in Python."""
    touching = pc.fill_null(pc.match_substring_regex(values, _DISGUISED), False)
    if not pc.any(touching).as_py():
        return values
    read = [_read_as_digits(v) for v in pc.filter(values, touching).to_pylist()]
    return pc.replace_with_mask(values, touching, pa.array(read, type=pa.string()))


def _read_as_digits(value: str) -> str:
    read = undisguised(value)
    if read == value or not (kept := _valid_as_written(value)):
        return read
    return undisguised(value, kept)


def _valid_as_written(value: str) -> list[tuple[int, int]]:
    """The spans of ``value`` that a strong value recognizer finds and validates as they are
    written, holding a letter drawn like a digit: read as written, never as digits (a French
    IBAN's account number ``0123 4B56`` read as ``0123 4856`` fails its check, and the IBAN
    was PUBLIC)."""
    spans = []
    for search, gate, check in _lettered():
        if gate and gate not in value:
            continue
        for m in search.finditer(value):
            found = m.group("value")
            if found and any(c in DIGIT_LOOKALIKES for c in found) and check([found])[1]:
                spans.append(m.span("value"))
    return spans


_LETTERS_IN_PATTERN = re.compile(r"A-Z|a-z|A-F|a-f|\\w")
_LETTERED: list[Any] = [None, ()]  # the strong recognizers, and their searches below


def _lettered() -> tuple[tuple[re.Pattern[str], str | None, Any], ...]:
    """The free-text searches of the strong value recognizers that can find letters (e-mail,
    IBAN, IPv6, a street address; not a phone number's), each once, with its gate and
    validation; built again when the recognizers change."""
    from lacuna.classify.heuristic import strong_recognizers

    recognizers = strong_recognizers()
    if _LETTERED[0] is not recognizers:
        out, seen = [], set()
        for _, r in recognizers:
            if r.search and r.search not in seen and _LETTERS_IN_PATTERN.search(r.search):
                seen.add(r.search)
                out.append((re.compile(r.search), r.gate, r._check))
        _LETTERED[:] = [recognizers, tuple(out)]
    return _LETTERED[1]  # type: ignore[no-any-return]


def _nfkc(value: str, piece: int = 256) -> str:
    """NFKC of ``value``'s first ``MAX_VALUE_CHARS`` characters, normalized piece by piece
    until that many are out: NFKC can lengthen a value 18-fold (U+FDFA), and the rest would
    be cut anyway."""
    if unicodedata.is_normalized("NFKC", value):
        return value
    out, size = [], 0
    for start in range(0, len(value), piece):
        if size >= MAX_VALUE_CHARS:
            break
        part = unicodedata.normalize("NFKC", value[start : start + piece])
        out.append(part)
        size += len(part)
    return "".join(out)[:MAX_VALUE_CHARS]


def _distinct(values: pa.Array) -> tuple[pa.Array | None, pa.Array | None]:
    """The distinct values and each value's position among them, when at most a quarter of
    the values are distinct (else running the patterns over all of them is as cheap)."""
    if len(values) < DISTINCT_MIN_VALUES:
        return None, None
    head = values.slice(0, DISTINCT_MIN_VALUES)  # a cheap look first: mostly distinct, stop
    if len(pc.unique(head)) * 4 > DISTINCT_MIN_VALUES:
        return None, None
    encoded = pc.dictionary_encode(values)
    if len(encoded.dictionary) * 4 > len(values):
        return None, None
    return encoded.dictionary, encoded.indices


def _object_strings(s: pd.Series) -> pa.Array | None:
    """An object column of Python strings only, as one Arrow array (C, not a Python loop);
    ``None`` when anything else is in it (numbers, bytes, lone surrogates): the slow path."""
    if not ptypes.is_object_dtype(s.dtype):
        return None
    try:
        return pa.array(s.to_numpy(), type=pa.string())
    except (pa.ArrowException, UnicodeError, TypeError, ValueError):
        return None


def _tz(s: pd.Series) -> object:
    """The time zone of a datetime column; ``None`` for naive ones and Arrow dates (whose
    ``.dt.tz`` raises instead of answering)."""
    dtype = s.dtype
    if isinstance(dtype, pd.ArrowDtype):
        return getattr(dtype.pyarrow_dtype, "tz", None)
    return getattr(dtype, "tz", None)


def _skip(name: str, what: str | None) -> ColumnSample:
    empty = pa.array([], type=pa.string())
    return ColumnSample(name, empty, empty, skipped=what)


def _to_datetime(s: pd.Series) -> pd.Series:
    """Date and datetime objects as timestamps; mixed time zones in UTC; others dropped."""
    for utc in (False, True):
        try:
            return pd.to_datetime(s, errors="coerce", utc=utc).dropna()
        except (ValueError, TypeError, OverflowError, ArithmeticError):
            continue  # "Mixed timezones detected", aware beside naive: try once more in UTC
    return s[:0]


def _dropna(series: pd.Series) -> pd.Series:
    """``series.dropna()``, also for objects pandas cannot test (``Decimal('sNaN')`` raises)."""
    try:
        return series.dropna()
    except (ArithmeticError, TypeError, ValueError):
        return series[[not _missing(v) for v in series.tolist()]]


def _missing(value: Any) -> bool:
    if isinstance(value, Decimal):
        return value.is_nan()
    try:
        return bool(pd.isna(value))
    except (ArithmeticError, TypeError, ValueError):
        return False


_CONTAINERS = (list, tuple, set, frozenset, dict, np.ndarray)
_MAX_PARTS = 256  # scalars read out of one nested value


def _as_text(value: Any) -> str | None:
    if isinstance(value, _CONTAINERS):
        return _nested_text(value)
    if isinstance(value, bytes):
        value = value[:MAX_VALUE_CHARS * 4].decode("utf-8", "replace")
    if isinstance(value, str):
        text = value[:MAX_VALUE_CHARS].strip()
        # Lone surrogates (from bad decoding) cannot become UTF-8: replace them, keep the rest.
        return text if text.isascii() else text.encode("utf-8", "replace").decode("utf-8")
    if isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_)):
        return str(value)
    if isinstance(value, Decimal) and value.is_finite() and value == value.to_integral_value():
        return str(int(value)) if value.adjusted() < MAX_VALUE_CHARS else None
    return None  # containers, bytes, floats, dates: nothing a pattern here is about


def _nested_text(value: Any) -> str | None:
    """The scalars of a nested value (a list of addresses, a dict parsed from JSON, an Arrow
    list or struct, a NumPy array from a Parquet list column) joined by ``", "``, so they are
    searched as free text; at most ``_MAX_PARTS`` scalars and ``MAX_VALUE_CHARS`` characters."""
    parts: list[str] = []
    size = 0
    stack: list[Any] = [value]
    while stack and len(parts) < _MAX_PARTS and size < MAX_VALUE_CHARS:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(reversed(list(item.values())[:_MAX_PARTS]))
        elif isinstance(item, np.ndarray):
            stack.extend(reversed(item.ravel()[:_MAX_PARTS].tolist()))
        elif isinstance(item, (list, tuple)):
            stack.extend(reversed(item[:_MAX_PARTS]))
        elif isinstance(item, (set, frozenset)):
            stack.extend(sorted(map(str, item))[:_MAX_PARTS])
        elif item is not None and (text := _as_text(item)):
            parts.append(text)
            size += len(text) + 2
    return ", ".join(parts)[:MAX_VALUE_CHARS] or None


@functools.cache
def _widths(pattern: str) -> tuple[int, int]:
    """The shortest and longest value ``pattern`` can match entirely, in characters (the
    prefilters are RE2 syntax, which Python's parser reads too); unbounded when it cannot."""
    try:
        lo, hi = re._parser.parse(pattern).getwidth()  # type: ignore[attr-defined]
    except Exception:
        return 0, sys.maxsize
    return int(lo), int(min(hi, sys.maxsize))


class PatternRecognizer(ValueRecognizer):
    """A value recognizer made of a prefilter, a validator and an optional free-text search.

    ``prefilter`` must fully match a candidate value; ``search`` finds one candidate inside free
    text (its first group). ``bare``-matching values (bare digits) carry no formatting, so a
    column of mostly bare matches is weak evidence: it supports a matching name, never decides.
    """

    prefilter: ClassVar[str]
    validator: ClassVar[str]
    search: ClassVar[str | None] = None
    gate: ClassVar[str | None] = None  # a literal every candidate contains, checked first
    bare: ClassVar[str | None] = None
    strength: ClassVar[float] = 0.9
    weak_strength: ClassVar[float] = 0.4
    min_ratio: ClassVar[float] = 0.3
    max_checks: ClassVar[int] = 200
    weak_only: ClassVar[bool] = False  # formats without a check digit: support a name only
    # whether a column of mostly ``bare`` matches is weak (supports a name only); a format
    # whose bare matches random digits rarely pass weighs them by :meth:`_significant` instead
    bare_weak: ClassVar[bool] = True
    # Valid values that make the column this kind below ``min_ratio``: for formats that random
    # or unrelated values (Luhn passes one number in ten) essentially never satisfy, so sixty
    # e-mail addresses hidden among two hundred "n/a" are still sixty people's addresses.
    sparse_hits: ClassVar[int | None] = None
    # Sampled values of free text that must contain a valid one (or TEXT_MIN_RATIO of them):
    # 1 for the formats ``sparse_hits = 1`` trusts, whose single value is a person's
    text_min_hits: ClassVar[int] = TEXT_MIN_HITS

    def __init__(self) -> None:
        self._validate = validators.get(self.validator)
        self._bare = re.compile(self.bare) if self.bare else None

    def scan(self, sample: ColumnSample) -> ValueMatch | None:
        n = len(sample)
        if not n or (sample.from_integers and not self.numeric):
            return None
        if self.gate and not sample.any_contains(self.gate):
            return None
        lo, hi = _widths(self.prefilter)
        count, candidates = 0, list[str]()
        if lo <= sample.lengths[1] and sample.lengths[0] <= hi:  # some value's length fits
            count, candidates = sample.candidates(self.prefilter, self.max_checks)
        below: ValueMatch | None = None
        if candidates:
            checked, valid, bare = self._check(candidates)
            ratio = count * valid / checked / n
            enough = (ratio >= self.min_ratio or (
                self.sparse_hits is not None and ratio * n >= self.sparse_hits)) and (
                self._significant(ratio * n, count, bare * 2 >= valid))
            if valid and not enough:  # a near miss, for explanations only
                below = ValueMatch(self, "column", ratio, n, checked, 0.0, below=True)
            if valid and enough:
                weak = self.weak_only or (
                    self.bare_weak and self._bare is not None and bare * 2 >= valid)
                score = self.weak_strength if weak else self.strength * (0.6 + 0.4 * ratio)
                return ValueMatch(self, "column", ratio, n, checked, round(score, 4), weak)
        if self.search and len(sample.text):
            found = sample.extract_text(self.search)
            if found:
                checked, valid, bare = self._check(found)
                hits = len(found) * valid / checked
                if valid and (hits >= self.text_min_hits or hits / n >= TEXT_MIN_RATIO) and (
                        self._significant(hits, len(found), bare * 2 >= valid)):
                    score = round(0.8 * self.strength, 4)
                    return ValueMatch(self, "text", hits / n, n, checked, score)
        return below

    def _significant(self, hits: float, tried: int, bare: bool) -> bool:  # noqa: ARG002
        """Whether ``hits`` valid values among ``tried`` candidates (mostly ``bare`` ones) are
        more than chance: always, unless a recognizer says otherwise (cards' bare digits)."""
        return True

    def _check(self, candidates: list[str]) -> tuple[int, int, int]:
        """Validate up to ``max_checks`` evenly spaced candidates: (checked, valid, bare)."""
        m = len(candidates)
        if m > self.max_checks:
            step = m / self.max_checks
            candidates = [candidates[int(i * step)] for i in range(self.max_checks)]
        valid = bare = 0
        seen: dict[str, bool] = {}  # a repeated candidate is validated once
        for checked, item in enumerate(candidates):
            if checked == PROBE and not valid:
                return checked, 0, 0  # none of the first PROBE validated: stop early
            ok = seen.get(item)
            if ok is None:
                ok = seen[item] = bool(self._validate(item))
            if ok:
                valid += 1
                if self._bare is not None and self._bare.fullmatch(item):
                    bare += 1
        return len(candidates), valid, bare
