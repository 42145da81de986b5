"""Values encoded to slip past the patterns, read decoded: what a value says, not its wrapping.

A user who owns the data can encode a column before writing it: percent-encoding as a logged
URL writes it (``ana%40example.com``, ``%2B44%2020%207946%200958``), HTML character references
(``&#97;&#110;&#97;&#64;example.com``), JSON or C escapes (``\\u0040``), HTML tags
splitting a value (``ana<span>@</span>example.com``), base64
(``YW5hQGV4YW1wbGUuY29t``) or hex (``616e61406578616d706c652e636f6d``, ``0x616e6140...``,
its bytes split as a dump writes them: ``61 6e 61 40 ...``, ``61:6e:61:40:...``). Each hid the value
from every recognizer. :func:`decoded` reads such values back before any pattern runs:

- percent-encoding, character references, escapes (``\\u0040``, ``\\x40``, ``\\u{40}``,
  C's octal ``\\100``: see ``_OCTAL``) and HTML tags and comments (never one
  holding an ``@``: ``<ana@example.com>`` is an address) in any value that holds them,
  decoded up to ``MAX_ROUNDS`` times (``%2540`` is ``%40`` is ``@``);
- base64, base32 and hex, character codes written out and base85 (:func:`coded_text`) only
  as whole values, and only in a column where at least a quarter of the
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
ESCAPED = (r"%[0-9A-Fa-f]{2}|&#?[0-9A-Za-z]{2,8};|\\[ux][0-9A-Fa-f]{2}|\\u\{[0-9A-Fa-f]|<[/!A-Za-z]"
           r"|\\[0-3][0-7]{2}|%u[0-9A-Fa-f]{4}|=[0-9A-F]{2}")
# An HTML tag or comment splitting a value ("ana<span>@</span>example.com",
# "ana<!-- -->@example.com"); never one holding an "@" ("Ana <ana@example.com>" is an
# address in angle brackets, not a tag).
_TAG = re.compile(r"</?[A-Za-z][A-Za-z0-9]{0,20}(?:\s[^<>@]{0,200})?/?>")
_PERCENT = re.compile(r"%[0-9A-Fa-f]{2}")
_REFERENCE = re.compile(r"&#?[0-9A-Za-z]{2,8};")
_ESCAPE = re.compile(r"\\u([0-9A-Fa-f]{4})|\\x([0-9A-Fa-f]{2})|\\u\{([0-9A-Fa-f]{1,6})\}"
                     r"|%u([0-9A-Fa-f]{4})")  # (and JavaScript's escape(): %u0040)
# quoted-printable (``=6B=69=72=61``, as mail writes it): a run of two or more, or the "@"
# alone inside an address (``ana=40example.com``); never a lone ``=20`` in a formula
_QUOTED = re.compile(r"(?:=[0-9A-F]{2}){2,}|(?<=[A-Za-z0-9._%+-])=40(?=[A-Za-z0-9])")
# C's (and Python's, PHP's, printf's) octal escapes: a run of two or more (``\153\151``), or
# one alone that writes an address's or a number's punctuation (``ana\100example.com``).
# Never a single escape writing a letter or a digit: a Windows path's ``\123-45-6789.pdf``
# keeps its folder's SSN as written.
_OCTAL = re.compile(r"(?:\\[0-3][0-7]{2}){2,}|\\(?:100|056|055|053|137|040)")
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
    if "\\" in value or "%u" in value:
        value = _OCTAL.sub(_octal, _ESCAPE.sub(_char, value))
    if "=" in value:
        value = _QUOTED.sub(_quoted, value)
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
    code = int(m.group(1) or m.group(2) or m.group(3) or m.group(4), 16)
    if 0xD800 <= code <= 0xDFFF or code > 0x10FFFF:  # a lone surrogate, no character: as is
        return m.group()
    return chr(code)


def _quoted(m: re.Match[str]) -> str:
    raw = bytes.fromhex(m.group().replace("=", ""))
    text = raw.decode("utf-8", "replace")
    return text if text.isprintable() else m.group()


def _octal(m: re.Match[str]) -> str:
    return "".join(chr(int(code, 8)) for code in m.group().split("\\")[1:])


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
        if _BINARY.fullmatch(value):  # (or as bits: 0110101101101001...)
            return coded_text(value)
        if not _HEX.fullmatch(value):  # (34313131... is "4111..."; 5555555555554444 stays)
            return None
        number = bytes.fromhex(value).decode("latin-1")
        return number if _NUMBER.fullmatch(number) else None
    if _HEX.fullmatch(value):
        raw = bytes.fromhex(value)
    elif _BASE64.fullmatch(value):
        padded = value.rstrip("=")
        padded += "=" * (-len(padded) % 4)
        try:
            raw = base64.b64decode(padded.replace("-", "+").replace("_", "/"), validate=True)
        except (binascii.Error, ValueError):
            raw = None
    if raw is None:
        if _BASE32.fullmatch(value):  # (padded with more "=" than base64 has, or cut)
            return _printable(base32_bytes(value))
        return coded_text(value)
    text = _printable(raw)
    if text is None and _BASE32.fullmatch(value):  # (base32 is valid base64 too: read as
        text = _printable(base32_bytes(value))  # base64, it is noise)
    return text


def _printable(raw: bytes | None) -> str | None:
    """``raw`` as printable UTF-8 (or UTF-16) text of at least ``MIN_DECODED`` bytes, or
    ``None``."""
    if raw is None or len(raw) < MIN_DECODED:
        return None
    text = utf16(raw)
    if text is None:
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            return None
    plain = " ".join(text.split())
    if not plain.isprintable() or not any(c.isalnum() for c in plain):
        return None
    return plain


_BASE32 = re.compile(r"(?:[A-Z2-7]{8})*[A-Z2-7]{2,8}={0,6}")


def base32_bytes(value: str) -> bytes | None:
    """``value`` read as base32 (either case, padding optional), or None when it is not."""
    body = value.rstrip("=").upper()
    if len(body) % 8 in (1, 3, 6):
        return None
    try:
        return base64.b32decode(body + "=" * (-len(body) % 8))
    except (binascii.Error, ValueError):
        return None


# Character codes written out: decimal (``107,105,114,97``, ``[107, 105, ...]``, as
# ``String.fromCharCode`` or ``list(b"...")`` print them) or hex bytes each after ``0x``
# (``0x6b,0x69,...``), split by commas, semicolons or spaces; at least six of them (the
# shortest address, a@b.io: a list of four scores is no text).
_CODE = r"(?:0[xX][0-9A-Fa-f]{2}|[0-9]{2,3})"
_CODES = re.compile(rf"(?:[A-Za-z_$][\w.$]{{0,40}}\(\s*|[\[({{]\s*)?({_CODE}(?:(?:\s*[,;]\s*|\s+)"
                    rf"{_CODE}){{5,}})\s*[\])}}]?;?")  # (String.fromCharCode(107, ...))
_CODES_END = frozenset("0123456789abcdefABCDEF)]};")  # how such a value ends
# bytes written in binary, eight bits each, split or not (01101011 01101001 ...)
_BINARY = re.compile(r"[01]{8}(?:[ ,;:-]?[01]{8}){3,}")
_CODE_SPLIT = re.compile(r"[\s,;]+")
# base85: Adobe's ascii85 (``<~...~>``, or without its marks) and RFC 1924's (Python's b85encode,
# git's), over the characters of neither base64 nor hex: a word, a number or a base64 value
# is never read as base85
_A85 = re.compile(r"[!-u]{10,}")
_B85 = re.compile(r"[0-9A-Za-z!#$%&()*+;<=>?@^_`{|}~-]{10,}")
_NOT_BASE64 = re.compile(r"[^A-Za-z0-9+/=_-]")
MAX_CODED = 8192  # characters of a value read as character codes or base85, at most


def coded_text(value: str) -> str | None:
    """The printable text ``value`` writes as character codes or base85 (see ``_CODES``,
    ``_A85``), or ``None``: values that are neither, or that decode to bytes that are not
    text (a list of measurements, a password's punctuation).

    Example:
        >>> coded_text("107,105,114,97,64,101,120,46,105,111"), coded_text("1,2,3,4")
        ('kira@ex.io', None)
    """
    if len(value) > MAX_CODED:
        return None
    raw: bytes | None = None
    last = value[-1:]
    if last in ("0", "1") and _BINARY.fullmatch(value):
        bits = "".join(c for c in value if c in "01")
        raw = int(bits, 2).to_bytes(len(bits) // 8, "big")
    elif last in _CODES_END and (m := _CODES.fullmatch(value)) is not None:
        codes = [int(c, 16) if c[:2] in ("0x", "0X") else int(c)
                 for c in _CODE_SPLIT.split(m.group(1))]
        if all(32 <= c <= 126 for c in codes):
            raw = bytes(codes)
    elif value[:2] == "<~" and value[-2:] == "~>" and _A85.fullmatch(value, 2, len(value) - 2):
        raw = _base85(value[2:-2], _A85_DIGITS)
    elif _NOT_BASE64.search(value):
        text = _printable(_base85(value, _A85_DIGITS)) if _A85.fullmatch(value) else None
        if text is None and _B85.fullmatch(value):
            text = _printable(_base85(value, _B85_DIGITS))
        return text
    return _printable(raw)


_A85_DIGITS = {chr(33 + n): n for n in range(85)}
_B85_DIGITS = {c: n for n, c in enumerate("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrs"
                                          "tuvwxyz!#$%&()*+-;<=>?@^_`{|}~")}


def _base85(value: str, digits: dict[str, int]) -> bytes | None:
    """``value`` decoded as base85 in the alphabet of ``digits`` (ascii85's or RFC 1924's),
    five digits to four bytes, the last group padded with the highest digit; ``None`` as soon
    as a group's bytes are no text: printable ASCII or a line break (and, after the first
    group, UTF-8's bytes). Most values that only happen to be base85 (a timestamp, a
    password) stop at their first group, where Python's decoders read them whole."""
    if len(value) % 5 == 1:
        return None  # (no group of one digit)
    pad = -len(value) % 5
    padded = value + _PAD[id(digits)] * pad
    out = bytearray()
    for at in range(0, len(padded), 5):
        number = 0
        for c in padded[at:at + 5]:
            number = number * 85 + digits[c]
        if number >= 1 << 32:
            return None
        group = number.to_bytes(4, "big")
        kept = group if at + 5 < len(padded) else group[:4 - pad]  # (the padding: cut)
        if not all(32 <= b < 127 or b in (9, 10, 13) or (at and b >= 0x80) for b in kept):
            return None
        out += kept
    return bytes(out)


_PAD = {id(_A85_DIGITS): "u", id(_B85_DIGITS): "~"}  # each alphabet's highest digit


def utf16(raw: bytes) -> str | None:
    """``raw`` as UTF-16 text without a byte order mark, when every other byte is zero (ASCII
    written as UTF-16, as Windows and JavaScript write strings: ``k\\0i\\0r\\0a\\0``); ``None``
    otherwise. A byte order mark says it already (``"\\ufeff"``, read by the callers)."""
    if len(raw) < 4 or len(raw) % 2:
        return None
    for zeros, codec in ((raw[1::2], "utf-16-le"), (raw[0::2], "utf-16-be")):
        if not zeros.strip(b"\x00"):
            return raw.decode(codec)
    return None


# Values turned rather than encoded: written backwards (``1111111111111114`` is 4111 1111 1111
# 1111 read from its end, ``moc.elpmaxe@ana``) or in ROT47 (every printable ASCII character
# shifted by 47: ``<:C2]?8o6I2>A=6]@C8`` is kira.ng@example.org, ``c```...`` a card number).
# ROT13 needs no reading: it moves letters only, so an address keeps its shape (and is found as
# one) and digits stay digits. Any text can be read turned, so :func:`turned` keeps a reading
# only where it holds a value's shape, which the validators then judge: an address (an ``@``
# between a local part and a dotted domain ending in letters), a run of 9 to 19 digits split
# by spaces, dots or dashes at most (a card, an SSN, a phone number; a ``+`` at either end),
# or an IBAN's country, check digits and account. Bare digits read backwards only at a card's
# most common lengths, 15 and 16: an epoch time in seconds or milliseconds (10, 13 digits) and
# a snowflake id (18, 19) backwards start with any digit, and would pass the issuer and Luhn
# checks as a card as often as a random number does (about one in sixty).
_ROT47 = str.maketrans({chr(c): chr(33 + (c - 33 + 47) % 94) for c in range(33, 127)})
# Found from their anchors (an "@", a digit, a capital letter), what comes before checked in
# Python: patterns that start with a look-behind or a class of many characters are tried at
# every character, and cost half a millisecond a line of 2,000.
_MAIL_LOCAL = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._%+'-")
_MAIL_DOMAIN = re.compile(r"@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63})*\.[A-Za-z]{2,24}"
                          r"(?![A-Za-z0-9-])")  # (an "@" and a domain)
# a run of nine digits or more split by separators of up to three characters, as long as it
# goes: a whole run, so the digits of a UUID backwards, or a run of 400 digits, are no number
_DIGIT_RUN = re.compile(r"[0-9](?:[ .()-]{0,3}[0-9]){8,}")
_TURNED_IBAN = re.compile(r"[A-Z]{2}[0-9]{2}(?: ?[A-Z0-9]){11,30}(?![A-Za-z0-9])")
_BACKWARDS_BARE = frozenset({15, 16})  # lengths of bare digits read backwards
_LONGEST_RUN = 19 + 18 * 3  # characters of 19 digits, each pair three separators apart
MAX_TURNED = 2048  # characters of a value read turned, at most (a line piece is 2,000)


def rot47(text: str) -> str:
    """``text`` with every printable ASCII character but the space turned by 47 (its own
    inverse).

    Example:
        >>> rot47("kira.ng@example.org")
        '<:C2]?8o6I2>A=6]@C8'
        >>> rot47(rot47("4111 1111"))
        '4111 1111'
    """
    return text.translate(_ROT47)


def turned(value: str) -> tuple[str, ...]:
    """``value`` read backwards and in ROT47, each reading that holds a value's shape (an
    address, a run of digits, an IBAN; see above), for the validators to judge; none when
    neither does, or ``value`` is longer than :data:`MAX_TURNED` characters.

    Example:
        >>> turned("1111111111111114"), turned("gro.elpmaxe@gn.arik"), turned("v1.2.3")
        (('4111111111111111',), ('kira.ng@example.org',), ())
    """
    text = value.strip()
    if not 9 <= len(text) <= MAX_TURNED:
        return ()
    out: list[str] = []
    if _may_be_shaped(backwards := text[::-1]) and _shaped(backwards, backwards=True):
        out.append(backwards)
    if _may_be_shaped(shifted := rot47(text)) and _shaped(shifted):
        out.append(shifted)
    return tuple(out)


_IBAN_START = re.compile(r"[A-Z]{2}[0-9]{2}")


def _may_be_shaped(text: str) -> bool:
    """What :func:`_shaped` needs, looked at in C: an ``@`` (an address), an IBAN's start,
    or a run of nine digits; most values have none of these, and the loops of
    :func:`_shaped` over its matches cost each of a large body's 290,000 values
    microseconds."""
    return ("@" in text or _IBAN_START.search(text) is not None
            or _DIGIT_RUN.search(text) is not None)


def _shaped(text: str, *, backwards: bool = False) -> bool:
    for m in _MAIL_DOMAIN.finditer(text):  # (and a local part's last character before it)
        if m.start() and text[m.start() - 1] in _MAIL_LOCAL:
            return True
    for m in _TURNED_IBAN.finditer(text):
        if m.start() == 0 or not text[m.start() - 1].isalnum():
            return True
    for m in _DIGIT_RUN.finditer(text):
        if len(m.group()) > _LONGEST_RUN:
            continue
        run = m.group()
        digits = len(run) - sum(run.count(c) for c in " .()-")
        before = text[m.start() - 1:m.start()]
        after = text[m.end():m.end() + 1]
        if not 9 <= digits <= 19 or before.isalnum() or after.isalnum():
            continue  # (glued to a word: an id's, a UUID's part)
        bare = digits == len(run) and before != "+" and after != "+"
        if backwards and run.count(".") == len(run) - digits == 1:
            continue  # (a decimal number backwards: 63.123456789012345, an epoch time's)
        if not backwards or not bare or digits in _BACKWARDS_BARE:
            return True
    return False
