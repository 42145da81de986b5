"""Policy inputs as JSON text, fast: the engine's input, decision-cache keys, remote bodies.

One encoder for the decision path, with orjson (about ten times faster than ``json`` on a
policy input, which is encoded once or twice per decision). Values orjson does not know (a
``Path``, an enum subclass it cannot see through) become ``str(value)``, as ``json``'s
``default=str`` did. A string JSON cannot carry (a lone surrogate, as ``os.fsdecode`` makes
of a file name's undecodable bytes) is written with the surrogate escaped as ``\\udcXX`` text,
so an odd name still gets a decision instead of an encoder error.
"""

from __future__ import annotations

from typing import Any

import orjson

_SORTED = orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS

MAX_DEPTH = 100
"""Nested objects and arrays a document given to the engine (a bundle's data, an input) may
have: regorus reads JSON up to 128 levels, and a policy document needs a few."""


def too_deep(doc: Any, limit: int = MAX_DEPTH) -> bool:
    """Whether ``doc`` nests objects and arrays more than ``limit`` levels (walked without
    recursion: the answer does not depend on this process's recursion limit)."""
    stack = [(doc, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth > limit:
                return True
            stack.extend((v, depth + 1) for v in (item.values() if isinstance(item, dict)
                                                  else item))
    return False


def dumps(doc: Any) -> str:
    """Compact JSON text of ``doc`` (key order as given)."""
    return _encode(doc, orjson.OPT_NON_STR_KEYS).decode()


def dumps_sorted(doc: Any) -> str:
    """Compact JSON text with object keys sorted: the same text for equal documents."""
    return _encode(doc, _SORTED).decode()


def dumps_bytes(doc: Any) -> bytes:
    """Compact JSON as UTF-8 bytes (an HTTP body)."""
    return _encode(doc, orjson.OPT_NON_STR_KEYS)


def _encode(doc: Any, option: int) -> bytes:
    try:
        return orjson.dumps(doc, default=str, option=option)
    except TypeError as exc:
        if "surrogates" not in str(exc):
            raise
        return orjson.dumps(escaped(doc), default=str, option=option)


def escaped(value: Any) -> Any:
    """``value`` with every string made valid UTF-8 (lone surrogates as ``\\udcXX`` text):
    what a JSON reader elsewhere takes as text (a Lacuna server refuses a lone surrogate)."""
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(value, dict):
        return {escaped(k): escaped(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [escaped(v) for v in value]
    return value
