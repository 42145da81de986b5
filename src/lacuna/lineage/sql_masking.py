"""How one column occurrence reaches its output: read off the expression tree between them.

Walking up from a column to its projection, each enclosing node says what happens to the value:

- nothing but aliases and parentheses: ``identity``;
- a recognised masking node: ``masking``, and the walk stops (the value no longer leaves):
    * a **keyed** hash: ``hmac(...)`` with a key, or a hash function (md5, sha1/2/256/512,
      hash, xxhash, ...) whose input also holds key material: a bind parameter (``?``, ``:key``,
      ``$1``, ``@key``), a session variable (``${key}``, ``$key``), a secret or setting lookup
      (``current_setting(...)``, ``secret(...)``), or a column named as a key, salt, pepper or
      secret. An **unkeyed** hash (``sha256(email)``) and a hash salted with a literal written in
      the SQL (``md5(email || 'x')``) are *not* masking: anyone holding the code can hash a list
      of candidate e-mail addresses and match (a dictionary attack), so the column stays PII;
    * redaction: ``regexp_replace(col, pattern, 'literal')``, Spark's ``mask(col)``;
    * generalisation: ``date_trunc`` to a week or coarser, ``extract``/``year``/``month`` of a
      date part (not ``epoch``), ``left``/``right``/``substring`` keeping at most
      :data:`MAX_KEPT_CHARS` characters, ``round(x, -n)``;
    * a count (``count(col)``, ``count(distinct col)``): a number of rows, never a value;
- an aggregate (``sum``, ``avg``, ...): ``aggregation``; it becomes masking only under the
  k-anonymity rule, which the caller decides (see :mod:`lacuna.lineage.sql`);
- anything else (functions, arithmetic, ``CASE``, ``COALESCE``, window functions): a
  ``transformation``, which carries the classification (fail closed).

Encryption (``aes_encrypt``, ``pgp_sym_encrypt``) is a transformation: whoever holds the key gets
the value back, so the data stays personal data.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlglot import exp
from sqlglot.dialects.dialect import Dialect

from lacuna.lineage.records import EdgeKind

MAX_KEPT_CHARS = 4  # left(zip, 3), right(ssn, 4): a prefix or suffix this short generalises
COARSE_UNITS = frozenset(
    {"week", "month", "quarter", "year", "decade", "century", "millennium", "isoyear"}
)
_HASH_CLASSES: tuple[type[exp.Expr], ...] = tuple(
    getattr(exp, name)
    for name in (
        "SHA", "SHA2", "SHA2Digest", "SHA1Digest", "MD5", "MD5Digest", "StandardHash",
        "CityHash64", "MD5NumberLower64", "MD5NumberUpper64",
    )
    if hasattr(exp, name)
)  # fmt: skip
_HASH_NAME = re.compile(
    r"^(sha\d*|sha2_\w+|md5\w*|hash\w*|\w*_hash|xxhash\w*|xxh\d+|farm_fingerprint|murmur\w*"
    r"|digest|crc32|blake\w*|fnv\w*|cityhash\w*)$"
)
_HMAC_NAME = re.compile(r"^hmac\w*$")
_KEY_NAME = re.compile(r"(^|_)(key|salt|pepper|secret)s?(_|$)")
_SECRET_FUNC = re.compile(r"(secret|current_setting|getvariable|get_setting)")
_COUNTS: tuple[type[exp.Expr], ...] = (exp.Count, exp.ApproxDistinct)
# Aggregates that blend many rows into one number; min/max/first/array_agg return a value as is.
_BLENDING: tuple[type[exp.Expr], ...] = tuple(
    getattr(exp, name)
    for name in (
        "Sum", "Avg", "Stddev", "StddevPop", "StddevSamp", "Variance", "VariancePop",
        "Corr", "CovarPop", "CovarSamp", "Skewness", "Kurtosis",
    )
    if hasattr(exp, name)
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Occurrence:
    """What the path from a column up to its projection does to the value."""

    kind: EdgeKind
    description: str
    blending: bool = False  # an aggregation that blends rows (may mask under k-anonymity)


def function_name(node: exp.Expr) -> str:
    """The lower-case SQL name of a function node (``Anonymous`` keeps the name as written)."""
    if isinstance(node, exp.Anonymous):
        return str(node.name).lower()
    return type(node).__name__.lower()


def occurrence(column: exp.Expr, root: exp.Expr, dialect: Dialect | None = None) -> Occurrence:
    """Classify the path from ``column`` up to ``root`` (its projection, or an assigned value).

    ``dialect`` renders the masking expression in descriptions as the SQL was written.
    """
    kind = EdgeKind.IDENTITY
    description = ""
    blending = False
    child: exp.Expr = column
    node = column.parent
    while node is not None:
        masked = _masking(node, child)
        if masked:
            return Occurrence(EdgeKind.MASKING, f"{masked}: {_text(node, dialect)}")
        if _is_hash(node):
            kind = EdgeKind.TRANSFORMATION
            description = f"unkeyed hash {_text(node, dialect)}: not masking (dictionary attack)"
        if isinstance(node, exp.Window):
            # A window keeps one row per input row: never k-anonymous, always carried.
            kind, blending = EdgeKind.TRANSFORMATION, False
            description = "window " + function_name(node.this)
        elif isinstance(node, exp.AggFunc):
            if kind is not EdgeKind.TRANSFORMATION:
                kind = EdgeKind.AGGREGATION
                blending = isinstance(node, _BLENDING)
            description = description or function_name(node)
        elif not isinstance(node, (exp.Alias, exp.Paren, exp.Distinct)):
            if kind is EdgeKind.IDENTITY:
                kind = EdgeKind.TRANSFORMATION
            elif kind is EdgeKind.AGGREGATION:
                blending = False  # a value computed from an aggregate: keep it conservative
                kind = EdgeKind.TRANSFORMATION
            description = description or _describe(node)
        if node is root:
            break
        child, node = node, node.parent
    return Occurrence(kind, description, blending)


def _is_hash(node: exp.Expr) -> bool:
    return isinstance(node, _HASH_CLASSES) or (
        isinstance(node, exp.Anonymous) and bool(_HASH_NAME.match(function_name(node)))
    )


def _text(node: exp.Expr, dialect: Dialect | None, limit: int = 80) -> str:
    text = node.sql(dialect=dialect)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _describe(node: exp.Expr) -> str:
    if isinstance(node, exp.Func):
        return function_name(node)
    return type(node).__name__.lower()


def _masking(node: exp.Expr, child: exp.Expr) -> str:
    """The masking that ``node`` applies to its argument ``child``, or ``""``."""
    if isinstance(node, _COUNTS):
        return "count"
    name = function_name(node)
    if _HMAC_NAME.match(name) and len(_arguments(node)) >= 2:
        return "hmac (keyed)"
    if _is_hash(node):
        key = _key_material(node)
        return f"hash keyed with {key}" if key else ""
    if isinstance(node, exp.RegexpReplace) and child is node.this:
        replacement = node.args.get("replacement")
        return "redaction (regexp_replace)" if isinstance(replacement, exp.Literal) else ""
    if isinstance(node, exp.Anonymous) and name == "mask":
        return "redaction (mask)"
    return _generalisation(node, child)


def _generalisation(node: exp.Expr, child: exp.Expr) -> str:
    value = node.expression if isinstance(node, exp.Extract) else node.this
    if child is not value:
        return ""
    if isinstance(node, (exp.DateTrunc, exp.TimestampTrunc, exp.DatetimeTrunc)):
        unit = _unit(node)
        return f"generalisation (date_trunc to {unit})" if unit in COARSE_UNITS else ""
    if isinstance(node, exp.Extract) or (
        isinstance(node, (exp.Year, exp.Month, exp.Quarter)) and not isinstance(node, exp.Extract)
    ):
        part = _unit(node) if isinstance(node, exp.Extract) else function_name(node)
        return "" if part == "epoch" else f"generalisation ({part} of a date)"
    if isinstance(node, (exp.Left, exp.Right)):
        kept = _int(node.expression)
        return _kept(function_name(node), kept)
    if isinstance(node, exp.Substring):
        return _kept("substring", _int(node.args.get("length")))
    if isinstance(node, exp.Round):
        digits = _int(node.args.get("decimals"))
        return (
            f"generalisation (round to 10^{-digits})" if digits is not None and digits < 0 else ""
        )
    return ""


def _kept(name: str, kept: int | None) -> str:
    if kept is None or kept > MAX_KEPT_CHARS:
        return ""
    return f"generalisation ({name}, {kept} character(s) kept)"


def _unit(node: exp.Expr) -> str:
    unit = node.args.get("unit") if not isinstance(node, exp.Extract) else node.this
    if isinstance(node, exp.DateTrunc) and isinstance(node.this, exp.Literal):
        unit = node.this  # ANSI date_trunc('month', col) keeps the unit as the first argument
    if unit is None:
        return ""
    text = unit.name if isinstance(unit, (exp.Var, exp.Literal, exp.Column)) else unit.sql()
    return str(text).strip("'\"").lower()


def _int(node: exp.Expr | None) -> int | None:
    if isinstance(node, exp.Neg):
        inner = _int(node.this)
        return -inner if inner is not None else None
    if isinstance(node, exp.Literal) and not node.is_string:
        try:
            return int(node.name)
        except ValueError:
            return None
    return None


def _arguments(node: exp.Expr) -> list[exp.Expr]:
    return [v for v in node.iter_expressions() if not isinstance(v, exp.Literal) or v.is_string]


def _key_material(node: exp.Expr) -> str:
    """The key or salt operand inside a hash's input, described; ``""`` when there is none."""
    for inner in node.walk():
        if isinstance(inner, (exp.Placeholder, exp.Parameter, exp.SessionParameter)):
            return "a bind parameter or variable"
        if isinstance(inner, exp.Column) and _KEY_NAME.search(_plain(inner.name)):
            return "a key column"
        if isinstance(inner, exp.Func) and inner is not node:
            name = function_name(inner)
            if _SECRET_FUNC.search(name) or _HMAC_NAME.match(name):
                return "a secret lookup"
    return ""


def _plain(name: str) -> str:
    return re.sub(r"[^a-z0-9_]", "", name.lower())


__all__ = ["COARSE_UNITS", "MAX_KEPT_CHARS", "Occurrence", "function_name", "occurrence"]
