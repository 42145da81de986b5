"""How text that requesters and deciders wrote is shown: every character that would change how
a screen shows it, written as its escape.

New requests and decisions refuse such characters (:func:`lacuna.exceptions.authority.
check_shown`), but requests stored before that check may hold them: an ESC sequence that
rewrites a terminal line, a carriage return that moves back over it, a bidirectional override
that shows text in another order than it was written. Every place that shows a stored request
shows it through :func:`visible` (terminal text and HTML) or :func:`json_visible` (JSON).
"""

from __future__ import annotations

import re
from dataclasses import fields, is_dataclass, replace
from typing import Any, TypeVar

# Control codes (tab and the line breaks aside), DEL, the C1 controls (U+009B is a terminal's
# CSI), and the bidirectional overrides and isolates.
HIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
# What is shown escaped: those, and a lone surrogate (a file name's byte that is not UTF-8, as
# ``os`` decodes it, or one read back from a store), which no UTF-8 page, terminal or JSON
# text can carry: a page that held one failed whole (the console's audit page was a 500).
ESCAPED = re.compile(f"{HIDDEN.pattern[:-1]}\ud800-\udfff]")
_TERMINAL = re.compile(f"{ESCAPED.pattern[:-1]}\r]")  # a lone CR rewrites the line too
_ONE_LINE = re.compile(f"{ESCAPED.pattern[:-1]}\r\n]")  # a line break starts a fake line
_NAMED = {"\n": "\\n", "\r": "\\r"}

T = TypeVar("T")


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def visible(text: str, *, terminal: bool = False, one_line: bool = False) -> str:
    """``text`` with each :data:`ESCAPED` character written as its escape (``\\x1b``,
    ``\\u202e``, ``\\udcff``); for a ``terminal`` also carriage returns (``\\r``), and for
    ``one_line`` text (a table cell, a ``Field: value`` line) also line feeds (``\\n``). Tabs
    stay.

    Example:
        >>> visible("ok\\x1b[2K\\rapproved by the CISO", terminal=True)
        'ok\\\\x1b[2K\\\\rapproved by the CISO'
    """
    pattern = _ONE_LINE if one_line else _TERMINAL if terminal else ESCAPED
    return pattern.sub(_escape, text)


def visible_fields(item: T, *, one_line: bool = True) -> T:
    """A copy of a dataclass ``item`` with its text, and the text in its tuples and nested
    dataclasses, made :func:`visible` (``one_line`` by default): for rendering, never for
    storing or verifying (the signature covers the text as written)."""
    if not is_dataclass(item) or isinstance(item, type):
        return item
    changes: dict[str, Any] = {}
    for f in fields(item):
        value = getattr(item, f.name)
        shown = _shown(value, one_line)
        if shown is not value:
            changes[f.name] = shown
    return replace(item, **changes) if changes else item


def _shown(value: Any, one_line: bool) -> Any:
    if isinstance(value, str):
        out = visible(value, one_line=one_line)
        return value if out == value else out
    if isinstance(value, tuple):
        items = tuple(_shown(v, one_line) for v in value)
        return value if all(a is b for a, b in zip(items, value, strict=True)) else items
    if is_dataclass(value) and not isinstance(value, type):
        return visible_fields(value, one_line=one_line)
    return value


def json_visible(text: str) -> str:
    """JSON text with each :data:`ESCAPED` character written as its ``\\uXXXX`` escape: the
    same JSON value, safe to print and to encode as UTF-8 (``json.dumps`` escapes only the C0
    controls, and ``ensure_ascii=False`` keeps DEL, the C1 controls, the bidirectional
    overrides and lone surrogates; outside string literals JSON text holds none of them)."""
    return ESCAPED.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
