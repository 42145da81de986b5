"""The sqlglot dialect Lacuna parses a database's SQL with: sqlglot's own, except on SQLite,
whose numbered parameters sqlglot does not read.

SQLite binds ``?NNN`` (``?1``, ``?2``: the NNNth value) and named parameters whose name is a
number (``:1``, ``@1``). sqlglot's SQLite parser refuses ``?1`` and ``:1`` ("Invalid expression /
Unexpected token"), so a statement written with them was unknown and refused even for a public
value. :class:`SQLiteParameters` reads each as the placeholder ``:NNN`` (label ``NNN``), which
sqlglot's SQLite generator writes back as ``:NNN`` and this dialect reads again: a value bound
by position is found as the NNNth (:func:`lacuna.lineage.sql_values`), one bound by name under
``NNN`` (Python's ``sqlite3`` looks ``?1`` and ``:1`` up as ``"1"`` in a mapping).

A named ``:1`` bound by position is not the first value but the one SQLite numbers it with (the
next free number where it first appears): :func:`sqlite_misnumbered` finds the statements where
the two differ (``SELECT :2 AS a, :1 AS b``), which the caller refuses.

The dialect is registered with sqlglot under its own name (``sqliteparameters``); sqlglot's
``sqlite`` is left as it is for the host's own code.
"""

from __future__ import annotations

from typing import Any

from sqlglot.dialects.dialect import Dialect
from sqlglot.dialects.sqlite import SQLite
from sqlglot.tokenizer_core import Token, TokenType

_PREFIXES = frozenset({TokenType.PLACEHOLDER, TokenType.COLON})


class SQLiteParameters(SQLite):
    """sqlglot's SQLite, reading ``?NNN`` and ``:NNN`` as the placeholder ``:NNN``."""

    class Tokenizer(SQLite.Tokenizer):
        def tokenize(self, sql: str) -> list[Token]:
            return numbered(super().tokenize(sql))


def numbered(tokens: list[Token]) -> list[Token]:
    """``tokens`` with each ``?`` or ``:`` directly followed by a number (``?12``, ``:3``, no
    space between) as ``:`` and the name ``12``: the tokens sqlglot reads as the placeholder
    ``:12``. A ``?`` that a space separates from a number is left as it is (SQLite refuses
    ``? 1`` as well)."""
    out: list[Token] = []
    i = 0
    while i < len(tokens):
        token = tokens[i]
        after = tokens[i + 1] if i + 1 < len(tokens) else None
        if (token.token_type in _PREFIXES and after is not None
                and after.token_type == TokenType.NUMBER and after.text.isdigit()
                and after.start == token.end + 1
                and (token.token_type == TokenType.COLON or token.text == "?")):
            out.append(Token(TokenType.COLON, ":", token.line, token.col, token.start,
                             token.end, token.comments))
            out.append(Token(TokenType.VAR, after.text, after.line, after.col, after.start,
                             after.end, after.comments))
            i += 2
            continue
        out.append(token)
        i += 1
    return out


def sqlglot_dialect(name: str) -> Any:
    """The sqlglot dialect (a name or a :class:`Dialect` class) to read ``name``'s SQL with."""
    return SQLiteParameters if name == "sqlite" else name


def sqlite_misnumbered(sql: str) -> str | None:
    """A named parameter of ``sql`` whose name is a number that SQLite numbers otherwise
    (``:2`` where it first appears with no number taken before it is SQLite's 1st), or None.
    SQLite gives ``?NNN`` the number NNN, ``?`` the next free one, and a name (``:v``,
    ``@v``, ``$v``, ``:1``) the next free one where it first appears; a value bound by position
    goes to that number."""
    tokens = Dialect.get_or_raise("sqlite").tokenize(sql)
    taken = 0
    names: dict[str, int] = {}
    for i, token in enumerate(tokens):
        after = tokens[i + 1] if i + 1 < len(tokens) else None
        adjacent = after is not None and after.start == token.end + 1
        if token.token_type == TokenType.PLACEHOLDER and token.text == "?":
            if adjacent and after is not None and after.text.isdigit():
                taken = max(taken, int(after.text))
            else:
                taken += 1
        elif token.token_type in (TokenType.COLON, TokenType.PARAMETER) and adjacent:
            assert after is not None
            name = token.text + after.text
            if name not in names:
                taken += 1
                names[name] = taken
            if after.text.isdigit() and int(after.text) != names[name]:
                return name
        elif token.token_type == TokenType.VAR and token.text.startswith("$") and len(
                token.text) > 1 and token.text not in names:
            taken += 1
            names[token.text] = taken
    return None
