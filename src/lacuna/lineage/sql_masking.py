"""How one column occurrence reaches its output: read off the expression tree between them.

Walking up from a column to its projection, each enclosing node says what happens to the value:

- nothing but aliases and parentheses: ``identity``;
- a recognised masking node: ``masking``, and the walk stops (the value no longer leaves):
    * a **keyed** hash: ``hmac(...)`` with a key (as below: a literal key is none), or a hash
      function (md5, sha1/2/256/512,
      hash, xxhash, ...) whose input is the value concatenated (``||``, ``concat``,
      ``concat_ws``, nothing else) with key material: a secret or setting lookup
      (``current_setting(...)``, ``secret(...)``) or a bind parameter (``?``, ``:key``,
      ``$1``, ``%(key)s``) **whose bound value passes**
      :func:`lacuna.anonymize.keys.check_key` (at least 16 bytes, 8 distinct): the values a
      statement runs with are given as :class:`BoundKeys` (:func:`bound_keys`). A column,
      whatever its name (``salt``, ``s.key``), keys nothing: its values are data the
      statement's author sets (``'' AS salt``), not a key Lacuna can check (on BigQuery a
      bare name like a key is a ``DECLARE``d script variable, the dbt package's key). A
      parameter that is missing, ``NULL``, empty or weak, one not known at classification
      (``classify_sql`` without ``parameters``), a session variable (``${key}``, ``@@key``),
      and a key under any other function (``left(:k, 0)``, ``coalesce(:k, '')``,
      ``replace(...)``, ``CASE``) key nothing: ``md5(dob || left(:k, 0))`` is ``md5(dob)``.
      An **unkeyed** hash (``sha256(email)``) and a hash salted with a literal written in the
      SQL (``md5(email || 'x')``) are *not* masking: anyone holding the code can hash a list
      of candidate e-mail addresses and match (a dictionary attack), so the column stays PII;
    * redaction: Spark's ``mask(col)``, and ``regexp_replace(col, pattern, 'literal')`` only
      when the pattern provably replaces every character of the value but separators (see
      :func:`redacts`); any other pattern (``'^$'`` matches nothing, ``'^.*@'`` nothing in a
      value without an ``@``) leaves the value as it was, so it is a transformation;
    * generalisation: ``date_trunc`` to a week or coarser, ``extract``/``year``/``month`` of a
      date part (not ``epoch``), ``left``/``right``/``substring`` keeping at most
      :data:`MAX_KEPT_CHARS` characters, ``round(x, -n)``. A generalisation is one *piece* of
      the value: when two different pieces of one column leave in one statement
      (``substring(email, 1, 4) || substring(email, 5, 4) || ...``, or in separate columns),
      they put the value back together, so :func:`rejoined` takes their masking away;
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
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlglot import exp
from sqlglot.dialects.dialect import Dialect

from lacuna.lineage.records import EdgeKind

MAX_KEPT_CHARS = 4  # left(zip, 3), right(ssn, 4): a prefix or suffix this short generalises
COARSE_UNITS = frozenset(
    {"week", "month", "quarter", "year", "decade", "century", "millennium", "isoyear"}
)
# Dialects whose regexp_replace replaces every match unless told otherwise; elsewhere (DuckDB,
# PostgreSQL, ANSI, unknown) only the first match is replaced unless the 'g' flag is given.
_REPLACE_ALL_DIALECTS = frozenset(
    {"bigquery", "snowflake", "spark", "spark2", "databricks", "hive", "presto", "trino",
     "athena", "mysql", "oracle"}
)  # fmt: skip
_SAFE_FLAGS = frozenset("gics")  # global, case (in)sensitive, '.' matches newline
# Characters a redaction may leave in place: separators, no letters or digits.
_SEPARATORS = frozenset("@.-_+()/,: \t\n\r")
_SEPARATOR_ESCAPES = frozenset("stnr")  # \s \t \n \r
_EVERY_CHAR = frozenset({r"[\s\S]", r"[\S\s]", r"[\w\W]", r"[\W\w]", r"[\d\D]", r"[\D\d]"})
_INLINE_FLAGS = re.compile(r"^\(\?([a-z]+)\)")
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
# named like a lookup but returning no secret: DuckDB's which_secret() gives a secret's name
_NOT_SECRET = frozenset({"which_secret"})
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
class BoundKeys:
    """Which bind parameters of a statement hold a key fit for a pseudonym (their bound value
    passes :func:`lacuna.anonymize.keys.check_key`): by name (``:k``, ``%(k)s``, ``$k``) or
    number (``$1``). An anonymous ``?`` or ``%s`` is a key only when every positional value
    is one (``positional``): which ``?`` a value binds is not read off the tree."""

    names: frozenset[str] = frozenset()
    positional: bool = False

    def holds(self, label: str) -> bool:
        """Whether the parameter labelled ``label`` (``"?"`` for an anonymous one) is a key."""
        return self.positional if label == "?" else label in self.names


NO_KEYS = BoundKeys()  # nothing bound, or the values unknown: no parameter keys a hash


def bound_keys(parameters: Any, *, many: bool = False) -> BoundKeys:
    """The :class:`BoundKeys` of the values a statement runs with: a mapping by name, a
    sequence by position, or (``many``) a sequence of either, where a parameter is a key only
    when it is one in every set. Anything else binds no key."""
    sets = list(parameters) if many and isinstance(parameters, Sequence) else [parameters]
    found = [_keys_of(p) for p in sets]
    if not found:
        return NO_KEYS
    names = frozenset.intersection(*(k.names for k in found))
    return BoundKeys(names, all(k.positional for k in found))


def _keys_of(parameters: Any) -> BoundKeys:
    if isinstance(parameters, Mapping):
        return BoundKeys(
            frozenset(str(k).lstrip(":$@") for k, v in parameters.items() if _is_key(v))
        )
    if isinstance(parameters, Sequence) and not isinstance(parameters, (str, bytes)):
        strong = [_is_key(v) for v in parameters]
        return BoundKeys(
            frozenset(str(i) for i, ok in enumerate(strong, start=1) if ok),
            bool(strong) and all(strong),
        )
    return NO_KEYS


def _is_key(value: Any) -> bool:
    """Whether a bound value keys a pseudonym as :func:`lacuna.anonymize.keys.check_key` has
    it (text as UTF-8); ``None``, numbers and anything else do not."""
    from lacuna.anonymize.keys import check_key
    from lacuna.errors import ConfigError

    if isinstance(value, str):
        raw = value.encode("utf-8")
    elif isinstance(value, (bytes, bytearray, memoryview)):
        raw = bytes(value)
    else:
        return False
    try:
        check_key(raw, "a bind parameter")
    except ConfigError:
        return False
    return True


@dataclass(frozen=True, slots=True)
class Occurrence:
    """What the path from a column up to its projection does to the value."""

    kind: EdgeKind
    description: str
    blending: bool = False  # an aggregation that blends rows (may mask under k-anonymity)
    piece: str = ""  # a generalisation: the SQL of the piece of the value it keeps


def function_name(node: exp.Expr) -> str:
    """The lower-case SQL name of a function node (``Anonymous`` keeps the name as written)."""
    if isinstance(node, exp.Anonymous):
        return str(node.name).lower()
    return type(node).__name__.lower()


def occurrence(
    column: exp.Expr, root: exp.Expr, dialect: Dialect | None = None, keys: BoundKeys = NO_KEYS
) -> Occurrence:
    """Classify the path from ``column`` up to ``root`` (its projection, or an assigned value).

    ``dialect`` renders the masking expression in descriptions as the SQL was written;
    ``keys``: the bind parameters that hold a key (:func:`bound_keys`).
    """
    kind = EdgeKind.IDENTITY
    description = ""
    blending = False
    child: exp.Expr = column
    node = column.parent
    while node is not None:
        masked = _masking(node, child, dialect, keys)
        if masked:
            return Occurrence(EdgeKind.MASKING, f"{masked}: {_text(node, dialect)}")
        general = _generalisation(node, child)
        if general:
            text = _text(node, dialect)
            piece = piece_sql(node, dialect)
            return Occurrence(EdgeKind.MASKING, f"{general}: {text}", piece=piece)
        if isinstance(node, exp.RegexpReplace) and child is node.this:
            kind = EdgeKind.TRANSFORMATION
            description = (
                f"{_text(node, dialect)}: not redaction, the pattern does not provably replace "
                f"every character (use e.g. regexp_replace(col, '.', '*', 'g'))"
            )
        if _is_hash(node) or _HMAC_NAME.match(function_name(node)):
            kind = EdgeKind.TRANSFORMATION
            named = _key_column(node)
            description = (
                f"unkeyed hash {_text(node, dialect)}: not masking (dictionary attack); key it "
                "by concatenating a secret lookup or a bind parameter bound to a random key of "
                "16+ bytes"
                + (
                    f" (column {named} keys nothing: a statement can make it anything, "
                    f"'' AS {named})"
                    if named
                    else ""
                )
            )
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


def piece_sql(node: exp.Expr, dialect: Dialect | None = None) -> str:
    """The SQL of a generalisation with its columns unqualified (``LEFT(zip, 3)`` whether the
    statement wrote ``c.zip`` or ``customers.zip``): one piece reads the same in any statement."""
    bare = node.copy().transform(
        lambda n: exp.column(n.name) if isinstance(n, exp.Column) and n.table else n
    )
    return bare.sql(dialect=dialect)


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


def _masking(node: exp.Expr, child: exp.Expr, dialect: Dialect | None, keys: BoundKeys) -> str:
    """The masking other than generalisation that ``node`` applies to ``child``, or ``""``."""
    if isinstance(node, _COUNTS):
        return "count"
    name = function_name(node)
    if _HMAC_NAME.match(name):  # its key, like a hash's, is checked: not '' or a literal
        key = _key_material(node, keys, dialect)
        return f"hmac keyed with {key}" if key else ""
    if _is_hash(node):
        key = _key_material(node, keys, dialect)
        return f"hash keyed with {key}" if key else ""
    if isinstance(node, exp.RegexpReplace) and child is node.this:
        return "redaction (regexp_replace)" if redacts(node, dialect) else ""
    if isinstance(node, exp.Anonymous) and name == "mask":
        return "redaction (mask)"
    return ""


def redacts(node: exp.RegexpReplace, dialect: Dialect | None = None) -> bool:
    """Whether ``regexp_replace`` provably replaces every character of its value but separators.

    Conservative: the replacement is a literal with no back-reference (no ``\\`` or ``$``),
    no start position but 1, only the flags ``g``, ``i``, ``c``, ``s``, and the pattern is one
    of:

    - a class matching every character, newlines included (``[\\s\\S]``, ``[\\w\\W]``,
      ``[\\d\\D]``, ``(?s).``) repeated with ``+`` or ``*``, optionally anchored: the first
      match already takes the whole value;
    - when every match is replaced (the ``g`` flag, an occurrence of 0, or a dialect that replaces
      all by default such as Spark, Snowflake or BigQuery), and the pattern is not anchored: a
      single character class that leaves only separators (``@ . - _ + ( ) / , :`` and white
      space), optionally with ``+`` or ``*``: ``.``, ``\\S``, ``[^@]``, ``[^@.\\s-]``.

    ``\\w`` and ``[a-zA-Z0-9]`` are not redaction: RE2 (DuckDB) and Java read them as ASCII, so
    ``Żółć`` survives them. Everything else (``'^$'``, ``'^.*@'``, a lazy or anchored pattern
    replacing only the first match, ``\\d``) may leave the value whole: not masking.
    """
    pattern, replacement = node.expression, node.args.get("replacement")
    if replacement is None or not (_is_string(pattern) and _is_string(replacement)):
        return False
    if "\\" in replacement.name or "$" in replacement.name:
        return False  # \1, \0, $1, \&: the replacement puts the value back
    position, modifiers = node.args.get("position"), node.args.get("modifiers")
    if _is_string(position) and modifiers is None:
        position, modifiers = None, position  # ANSI reads regexp_replace(s, p, r, 'g') so
    if position is not None and _int(position) != 1:
        return False
    flags = ""
    if modifiers is not None:
        if not _is_string(modifiers) or not set(modifiers.name.lower()) <= _SAFE_FLAGS:
            return False  # e.g. 'q' or 'l': the pattern is a literal string
        flags = modifiers.name.lower()
    occurrence = node.args.get("occurrence")
    if occurrence is not None:
        replace_all = _int(occurrence) == 0
    else:
        name = type(dialect).__name__.lower() if dialect is not None else ""
        replace_all = "g" in flags or (
            not node.args.get("single_replace") and name in _REPLACE_ALL_DIALECTS
        )
    return _covers(pattern.name, replace_all=replace_all)


def _is_string(node: exp.Expr | None) -> bool:
    return isinstance(node, exp.RawString) or (isinstance(node, exp.Literal) and node.is_string)


def _covers(pattern: str, *, replace_all: bool) -> bool:
    dotall = False
    inline = _INLINE_FLAGS.match(pattern)
    if inline:
        if not set(inline.group(1)) <= {"i", "s"}:
            return False
        dotall, pattern = "s" in inline.group(1), pattern[inline.end() :]
    anchored = False
    if pattern.startswith("^"):
        anchored, pattern = True, pattern[1:]
    if pattern.endswith("$") and not pattern.endswith("\\$"):
        anchored, pattern = True, pattern[:-1]
    atom, repeated = pattern, False
    if pattern[-1:] in ("+", "*"):
        atom, repeated = pattern[:-1], True
    if not atom or atom.endswith("\\"):
        return False  # nothing, or an escaped + or *: a literal character
    every = atom in _EVERY_CHAR or (dotall and atom == ".")
    if every and repeated:
        return True
    if not replace_all or anchored:
        return False
    return every or atom in (".", r"\S") or _negated_separators(atom)


def _negated_separators(atom: str) -> bool:
    """``[^...]`` excluding only separators: it matches every letter and digit."""
    if not (atom.startswith("[^") and atom.endswith("]")) or len(atom) < 4:
        return False
    inner = atom[2:-1]
    i = 0
    while i < len(inner):
        char = inner[i]
        if char == "\\":
            escaped = inner[i + 1 : i + 2]
            if not escaped or not (escaped in _SEPARATOR_ESCAPES or escaped in _SEPARATORS):
                return False
            i += 2
            continue
        if char == "-" and 0 < i < len(inner) - 1:
            return False  # a range: it may exclude letters or digits
        if char not in _SEPARATORS:
            return False  # a letter, a digit, a nested or POSIX class: not read
        i += 1
    return True


def rejoined(pieces: Iterable[tuple[str, str, str]]) -> dict[tuple[str, str], tuple[str, ...]]:
    """Source columns of which *different* generalised pieces leave in one statement.

    ``pieces`` holds ``(table, column, piece)`` for each masking flow of a statement (``piece`` is
    ``""`` for masking that is no generalisation). Two different pieces of one value (``left(zip,
    3)`` and ``right(zip, 2)``; eight ``substring(email, n, 4)``; year, month and day of a birth
    date), concatenated or side by side, put the value back together: they carry the column's
    class. The same piece twice is still one piece.
    """
    seen: dict[tuple[str, str], set[str]] = {}
    for table, column, piece in pieces:
        if piece:
            seen.setdefault((table, column), set()).add(piece)
    return {key: tuple(sorted(found)) for key, found in seen.items() if len(found) > 1}


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


def _key_material(node: exp.Expr, keys: BoundKeys, dialect: Dialect | None = None) -> str:
    """The key or salt operand of a hash's input, described; ``""`` when there is none. Only
    an operand the input concatenates as it is counts: under any other function
    (``left(:k, 0)``, ``coalesce(:k, '')``) the key may be cut to nothing. A column is never
    one, whatever its name: its values are data (``'' AS salt``, a public column renamed
    ``key``), not a secret Lacuna can check."""
    for inner in _operands(node):
        if isinstance(inner, (exp.Placeholder, exp.Parameter)):
            if keys.holds(_label(inner)):
                return "a bind parameter bound to a key"
        elif isinstance(inner, exp.Column) and _script_variable(inner, dialect):
            return "a script variable"
        elif isinstance(inner, exp.Func) and inner is not node:
            name = function_name(inner)
            if (_SECRET_FUNC.search(name) and name not in _NOT_SECRET) or _HMAC_NAME.match(name):
                return "a secret lookup"
    return ""


_CONCATENATION: tuple[type[exp.Expr], ...] = (exp.DPipe, exp.Concat, exp.Paren)
# Conversions that keep every byte of a text (its encoding), read through like concatenation
_ENCODINGS = frozenset({"convert_to", "to_utf8", "utf8_encode", "encode"})
_WHOLE_TYPES = frozenset({"TEXT", "VARCHAR", "NVARCHAR", "VARBINARY", "BLOB",
                          "BYTEA"})  # fmt: skip


def _script_variable(column: exp.Column, dialect: Dialect | None) -> bool:
    """BigQuery's ``DECLARE lacuna_hash_key …`` variable, read as a bare name named like a key
    (the dbt package's keyed hash on BigQuery); no other dialect has such a variable (a bare
    name there is a column)."""
    from sqlglot.dialects.bigquery import BigQuery

    return (
        isinstance(dialect, BigQuery)
        and not column.table
        and bool(_KEY_NAME.search(_plain(column.name)))
    )


def _key_column(node: exp.Expr) -> str:
    """A column named as a key that a hash's input concatenates (``salt``), or ``""``."""
    return next(
        (
            inner.name
            for inner in _operands(node)
            if isinstance(inner, exp.Column) and _KEY_NAME.search(_plain(inner.name))
        ),
        "",
    )


def _operands(node: exp.Expr) -> Iterable[exp.Expr]:
    """The values a hash's arguments concatenate: each argument, through ``||``, ``concat``,
    ``concat_ws`` (not its separator: ``concat_ws(:k, email)`` is ``email``), parentheses,
    and a conversion that keeps the whole text (``convert_to(x, 'UTF8')``, a cast to
    ``text``/``varchar``/``bytea`` without a length); no other node."""
    stack = list(node.iter_expressions())
    while stack:
        inner = stack.pop()
        if isinstance(inner, exp.ConcatWs):  # the separator is left out with one value
            stack.extend(inner.expressions[1:])
        elif isinstance(inner, _CONCATENATION) or _keeps_whole(inner):
            stack.extend(inner.iter_expressions())
        else:
            yield inner


def _keeps_whole(node: exp.Expr) -> bool:
    if isinstance(node, exp.Encode) or (
        isinstance(node, exp.Anonymous) and function_name(node) in _ENCODINGS
    ):
        return True
    if type(node) is exp.Cast:  # not TRY_CAST: NULL, which concat() skips
        to = node.args.get("to")
        return isinstance(to, exp.DataType) and not to.expressions and to.this.name in _WHOLE_TYPES
    return False


def _label(node: exp.Expr) -> str:
    """A parameter's name (``k``), number (``1``), or ``?`` when anonymous."""
    name = str(node.name).lstrip(":$@")
    return name or "?"


def _plain(name: str) -> str:
    return re.sub(r"[^a-z0-9_]", "", name.lower())


__all__ = [
    "COARSE_UNITS",
    "MAX_KEPT_CHARS",
    "NO_KEYS",
    "BoundKeys",
    "Occurrence",
    "bound_keys",
    "function_name",
    "occurrence",
    "piece_sql",
    "redacts",
    "rejoined",
]
