"""Known sensitive terms from config: a project code name, a key customer, a deal.

A term is found the way column names are matched: as a run of whole tokens (or written
together), case-insensitively, in the file path, in a column name, or in sampled string values.
``Falcon`` is found in ``falcon_forecast``, ``FalconForecast`` and ``"Q3 falcon-plan"``, not in
``falconry``. A found term sets the table's floor to the term's tier and adds its tags; the
column where it was seen carries ``term`` evidence. Evidence names the configured term (policy
text, not data) and counts values; it never quotes a value.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from functools import lru_cache

from lacuna.classify.scan import ColumnSample
from lacuna.classify.tokens import contains, tokenize
from lacuna.config import SensitiveTerm
from lacuna.model import Evidence


@dataclass(frozen=True, slots=True)
class CompiledTerm:
    """A configured term as tokens (for names and paths) and an RE2 pattern (for values)."""

    term: SensitiveTerm
    tokens: tuple[str, ...]
    pattern: str

    @property
    def rule(self) -> str:
        return f"term:{self.term.term}"


@dataclass(frozen=True, slots=True)
class TermHit:
    """Where a term was seen: ``where`` is "path", "name" or "values"."""

    term: CompiledTerm
    where: str
    column: str | None = None
    count: int = 0
    sampled: int = 0

    def evidence(self) -> Evidence:
        """Column-level evidence of this hit."""
        shown = self.term.term.term
        if self.where == "values":
            detail = (f"sensitive term {shown!r} appears in {self.count} of {self.sampled} "
                      "sampled values")
        else:
            detail = f"sensitive term {shown!r} appears in the column name"
        return Evidence(source="term", rule=self.term.rule, detail=detail, score=1.0)

    def reason(self) -> str:
        """Table-level reasoning: why the floor is what it is."""
        shown, tier = self.term.term.term, self.term.term.tier.value
        if self.where == "path":
            return f"{tier} floor: sensitive term {shown!r} appears in the path"
        if self.where == "name":
            return f"{tier} floor: sensitive term {shown!r} appears in column name {self.column!r}"
        return (f"{tier} floor: sensitive term {shown!r} appears in {self.count} sampled values "
                f"of column {self.column!r}")


@lru_cache(maxsize=64)
def compile_terms(terms: tuple[SensitiveTerm, ...]) -> tuple[CompiledTerm, ...]:
    """Compile configured terms once per configuration (terms without letters are ignored)."""
    out = []
    for term in terms:
        tokens = tokenize(term.term)
        if tokens:
            out.append(CompiledTerm(term, tokens, _value_pattern(tokens)))
    return tuple(out)


def _value_pattern(tokens: tuple[str, ...]) -> str:
    """An RE2 pattern finding ``tokens`` in a value where :func:`tokenize` would find them:
    in any case between non-letters (``Falcon2024``, ``q3-FALCON``), or capitalized after
    anything and before a non-lower-case letter (``ProjectFalcon``, ``FalconForecast``);
    never inside a longer word (``falconry``)."""
    anycase = "[^0-9a-z]*".join(re.escape(t) for t in tokens)
    capital = "[^0-9A-Za-z]*".join(re.escape(t[:1].upper() + t[1:]) for t in tokens)
    return f"(?i:(?:^|\\PL){anycase}(?:\\PL|$))|{capital}(?:[^\\p{{Ll}}]|$)"


@lru_cache(maxsize=64)
def _any_pattern(compiled: tuple[CompiledTerm, ...]) -> str:
    return "|".join(f"(?:{c.pattern})" for c in compiled)


def in_path(path: str | os.PathLike[str], compiled: tuple[CompiledTerm, ...]) -> list[TermHit]:
    """Terms found in a file path."""
    tokens = tokenize(os.fspath(path))
    return [TermHit(c, "path") for c in compiled if contains(tokens, c.tokens)]


def in_name(column: str, compiled: tuple[CompiledTerm, ...]) -> list[TermHit]:
    """Terms found in a column name."""
    tokens = tokenize(column)
    return [TermHit(c, "name", column) for c in compiled if contains(tokens, c.tokens)]


def in_values(sample: ColumnSample, compiled: tuple[CompiledTerm, ...]) -> list[TermHit]:
    """Terms found in a column's sampled string values, with counts."""
    if not compiled or not len(sample) or sample.from_integers:
        return []
    if not sample.count(_any_pattern(compiled)):
        return []
    hits = []
    for c in compiled:
        count = sample.count(c.pattern)
        if count:
            hits.append(TermHit(c, "values", sample.name, count, len(sample)))
    return hits
