"""Values encoded to slip past the patterns, read decoded: what a value says, not its wrapping.

A user who owns the data can encode a column before writing it: percent-encoding as a logged
URL writes it (``ana%40example.com``, ``%2B44%2020%207946%200958``), HTML character references
(``&#97;&#110;&#97;&#64;example.com``), JSON or C escapes (``\\u0040``), HTML tags
splitting a value (``ana<span>@</span>example.com``), base64
(``YW5hQGV4YW1wbGUuY29t``) or hex (``616e61406578616d706c652e636f6d``, ``0x616e6140...``,
its bytes split as a dump writes them: ``61 6e 61 40 ...``, ``61:6e:61:40:...``). Each hid the value
from every recognizer. :func:`decoded` reads such values back before any pattern runs:

- percent-encoding, character references, escapes and HTML tags and comments (never one
  holding an ``@``: ``<ana@example.com>`` is an address) in any value that holds them,
  decoded up to ``MAX_ROUNDS`` times (``%2540`` is ``%40`` is ``@``);
- base64 and hex only as whole values, and only in a column where at least a quarter of the
  first ``PROBE`` values (and at least two) decode to printable text: random tokens, hashes
  and ids decode to bytes that are not text (nine random bytes are printable ASCII about
  once in 8,000), so they keep their form, and so does a word that happens to be valid
  base64 (``Password``). A value of digits alone is never read as base64, and as hex only
  when it encodes a number written out (``3431313120...`` is ``4111 ...``): a card number
  such as ``5555555555554444`` is valid hex of the text ``UUUUUUDD``.

A value decoded is only read differently; what it is written as is kept nowhere new.
"""

from __future__ import annotations

import base64
import binascii
import html
import re
from urllib.parse import unquote_plus

import pyarrow as pa
import pyarrow.compute as pc

MAX_ROUNDS = 3  # encodings undone, one over another (base64 of base64, %25 of %40)
PROBE = 32  # values tried as base64 and hex before decoding a whole column
MIN_DECODED = 4  # characters a decoded value needs to count as text
# Percent-encoding, a character reference, a JSON or C escape: RE2 (the gate over a sample)
# and Python (the reading) alike.
ESCAPED = r"%[0-9A-Fa-f]{2}|&#?[0-9A-Za-z]{2,8};|\\[ux][0-9A-Fa-f]{2}|<[/!A-Za-z]"
# An HTML tag or comment splitting a value ("ana<span>@</span>example.com",
# "ana<!-- -->@example.com"); never one holding an "@" ("Ana <ana@example.com>" is an
# address in angle brackets, not a tag).
_TAG = re.compile(r"</?[A-Za-z][A-Za-z0-9]{0,20}(?:\s[^<>@]{0,200})?/?>")
_PERCENT = re.compile(r"%[0-9A-Fa-f]{2}")
_REFERENCE = re.compile(r"&#?[0-9A-Za-z]{2,8};")
_ESCAPE = re.compile(r"\\u([0-9A-Fa-f]{4})|\\x([0-9A-Fa-f]{2})")
_BASE64 = re.compile(r"[A-Za-z0-9+/]{8,}={0,2}|[A-Za-z0-9_-]{8,}={0,2}")
_HEX = re.compile(r"(?:[0-9A-Fa-f]{2}){4,}")
# hex as a dump writes it: its bytes split by one and the same separator ("61 6e 61 40 ...",
# "61:6e:61:40:..."), or after "0x"
_HEX_BYTES = re.compile(r"[0-9A-Fa-f]{2}([ :-])(?:[0-9A-Fa-f]{2}\1){2,}[0-9A-Fa-f]{2}")
_NUMBER = re.compile(r"[+(]?[0-9][0-9 ().+-]{2,}[0-9]")


def decoded(values: pa.Array) -> pa.Array:
    """``values`` with escaped, base64 and hex values read decoded (see the module docstring).

    Example:
        >>> decoded(pa.array(["ana%2540example.com", "a &amp; b", "plain"])).to_pylist()
        ['ana@example.com', 'a & b', 'plain']
    """
    for _ in range(MAX_ROUNDS):
        read = _whole(_unescaped(values))
        if read is values:
            break
        values = read
    return values


def _unescaped(values: pa.Array) -> pa.Array:
    hit = pc.fill_null(pc.match_substring_regex(values, ESCAPED), False)
    if not pc.any(hit).as_py():
        return values
    picked = pc.filter(values, hit).to_pylist()
    read = [_unescape(v) for v in picked]
    if read == picked:
        return values
    return pc.replace_with_mask(values, hit, pa.array(read, type=pa.string()))


def _unescape(value: str) -> str:
    if "<" in value:
        value = _TAG.sub("", _without_comments(value))
    if _PERCENT.search(value):
        value = unquote_plus(value, errors="replace")
    if _REFERENCE.search(value):
        value = html.unescape(value)
    if "\\" in value:
        value = _ESCAPE.sub(_char, value)
    return value


def _without_comments(value: str) -> str:
    """``value`` without HTML comments, found with ``str.find`` (linear: a regex over a value
    of 500 unclosed ``<!--`` tried each one to its bound)."""
    out, at = [], 0
    while (start := value.find("<!--", at)) >= 0 and (end := value.find("-->", start + 4)) >= 0:
        out.append(value[at:start])
        at = end + 3
    out.append(value[at:])
    return "".join(out)


def _char(m: re.Match[str]) -> str:
    code = int(m.group(1) or m.group(2), 16)
    return m.group() if 0xD800 <= code <= 0xDFFF else chr(code)  # a lone surrogate: as is


def _whole(values: pa.Array) -> pa.Array:
    """``values`` with whole base64 or hex values decoded, when the column's first values
    say it is such a column; ``values`` itself otherwise."""
    head = [v for v in values.slice(0, PROBE).to_pylist() if v]
    read = sum(_as_text(v) is not None for v in head)
    if read < 2 or read * 4 < len(head):
        return values
    out = [(_as_text(v) or v) if v else v for v in values.to_pylist()]
    return pa.array(out, type=pa.string())


def _as_text(value: str) -> str | None:
    """The printable text ``value`` encodes as hex or base64, or ``None``."""
    raw: bytes | None = None
    if value[:2] in ("0x", "0X") and _HEX.fullmatch(value, 2):
        value = value[2:]
    elif (m := _HEX_BYTES.fullmatch(value)) is not None:
        value = value.replace(m.group(1), "")
    if value.isdigit():  # a number is read as hex only when it encodes a number written out
        if not _HEX.fullmatch(value):  # (34313131... is "4111..."; 5555555555554444 stays)
            return None
        text = bytes.fromhex(value).decode("latin-1")
        return text if _NUMBER.fullmatch(text) else None
    if _HEX.fullmatch(value):
        raw = bytes.fromhex(value)
    elif _BASE64.fullmatch(value):
        padded = value.rstrip("=")
        padded += "=" * (-len(padded) % 4)
        try:
            raw = base64.b64decode(padded.replace("-", "+").replace("_", "/"), validate=True)
        except (binascii.Error, ValueError):
            return None
    if raw is None or len(raw) < MIN_DECODED:
        return None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    plain = " ".join(text.split())
    if not plain.isprintable() or not any(c.isalnum() for c in plain):
        return None
    return plain
