"""Column names and paths as word tokens: the unit every name pattern matches on.

A name is split on case changes, underscores, hyphens, spaces, dots and other punctuation, and
between letters and digits, then lower-cased::

    EmailAddress   -> email address          custEml      -> cust eml
    IPAddress      -> ip address             icd10        -> icd 10
    date_of_birth  -> date of birth          e-mail       -> e mail

Patterns match whole tokens or runs of tokens, never substrings, so ``description`` and
``shipping`` do not contain ``ip`` and ``zipper`` is not ``zip``.

A name that is not plain ASCII is read as it looks (:func:`visible`): compatibility forms
folded (NFKC: ``ｅｍａｉｌ`` is ``email``), invisible format characters dropped (``s``, a
zero-width space, ``sn`` is ``ssn``), digits of any script read as digits, and a word written
in Cyrillic or Greek letters that look like Latin ones read as the Latin word (``еmail`` with
a Cyrillic ``е``).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from functools import lru_cache

# ASCII names: acronym before a capitalised word (IPAddress -> IP, Address), a capitalised or
# lower-case word, an acronym, a run of digits.
_ASCII_TOKEN = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|[0-9]+")
# _ASCII_TOKEN on a name without capitals: the same tokens, found without trying the capitals
_LOWER_TOKEN = re.compile(r"[a-z]+|[0-9]+")
# Other scripts have no reliable case boundaries here: split on punctuation and digits only.
_UNICODE_TOKEN = re.compile(r"[^\W\d_]+|\d+")
_LETTERS = re.compile(r"[^\W\d_]+")
# Cyrillic and Greek letters drawn like Latin ones (Unicode's confusables, the common ones).
LOOKALIKE_LETTERS = "аеорсухѕіјһԁԛԝӏАВЕКМНОРСТХУЅІЈαονιρκΑΒΕΖΗΙΚΜΝΟΡΤΥΧ"
_LOOKALIKES = str.maketrans(LOOKALIKE_LETTERS, "aeopcyxsijhdqwlABEKMHOPCTXYSIJaovipkABEZHIKMNOPTYX")
# Where Unicode puts format characters (Cf) and decimal digits (Nd) outside ASCII.
_SCANNED = (range(0x80, 0x20000), range(0xE0000, 0xE0080))


@lru_cache(maxsize=1)
def _plain_table() -> dict[int, str | None]:
    """Format characters (zero-width spaces and joiners, direction marks, soft hyphens) to
    nothing, decimal digits of every script to ASCII digits: one ``str.translate`` table,
    built from ``unicodedata`` at first use (~40 ms)."""
    table: dict[int, str | None] = {}
    for block in _SCANNED:
        for code in block:
            c = chr(code)
            if unicodedata.category(c) == "Cf":
                table[code] = None
            elif (digit := unicodedata.decimal(c, None)) is not None:
                table[code] = str(digit)
    return table


def visible(text: str, limit: int | None = None) -> str:
    """``text`` as it reads on screen: NFKC, without format characters (zero-width spaces and
    joiners, direction marks, soft hyphens), digits of every script as ASCII digits; at most
    ``limit`` characters (NFKC can lengthen a text eighteenfold).

    Example:
        >>> visible("ｕｓｅｒ\u200b＠example.com"), visible("٠٧٩١١")
        ('user@example.com', '07911')
    """
    if text.isascii():
        return text
    return unicodedata.normalize("NFKC", text)[:limit].translate(_plain_table())


def unconfused(text: str) -> str:
    """Each word of ``text`` that only Latin look-alikes (Cyrillic ``е``, Greek ``ο``) keep from
    being ASCII, in the Latin letters it shows (names here; values in
    :func:`lacuna.classify.scan.column_sample`).

    Example:
        >>> unconfused("\u0430na@ex\u0430mple.com"), unconfused("Иванов")
        ('ana@example.com', 'Иванов')
    """

    def fold(m: re.Match[str]) -> str:
        word = m.group()
        latin = word.translate(_LOOKALIKES)
        return latin if latin.isascii() else word

    return _LETTERS.sub(fold, text)


# Letters drawn like digits (0, 1, 5, 8, 2; Cyrillic and Greek ones are Latin after
# :func:`unconfused`), read as those digits inside a run of digits (:func:`undisguised`).
# ``G``/``g`` (6, 9) are not: units and names end in them (5G, 100g, 16GB).
DIGIT_LOOKALIKES = "OoIlSBZ"
_AS_DIGITS = str.maketrans(DIGIT_LOOKALIKES, "0011582")
_ALONE = frozenset("OoIl")  # a group of these alone among digits is read too (192.168.O.1)
# these begin and end names of things (Galaxy S23, BMW Z4, B2B, 12B): at a run's edge only
# where the run continues a number, a group of digits beside it across one separator
_EDGE = frozenset("SBZ")
_GROUP_SEPARATORS = frozenset(" .-/()")
_DIGITISH = re.compile(f"[0-9{DIGIT_LOOKALIKES}]+")
DISGUISED_MIN_DIGITS = 6  # real digits a value needs before letters among them are digits


def undisguised(text: str, kept: Sequence[tuple[int, int]] = ()) -> str:
    """``text`` with each ``O``/``o`` read as 0, ``I``/``l`` as 1, ``S`` as 5, ``B`` as 8 and
    ``Z`` as 2 where it stands in a run of digits that no other letter touches
    (``+44 2O 7946 O958``, ``O78-O5-112O``, ``4S32 8B1Z``; a group of ``O``/``I``/``l`` alone
    between dots or dashes among digits: ``192.168.O.1``), when ``text`` holds at least
    ``DISGUISED_MIN_DIGITS`` real digits and no more look-alikes than digits: a number that
    dodges a pattern with a letter drawn like a digit. Words (``ISO 9001``, ``Boeing 7O7``,
    ``OX1 2JD``, ``100l``, ``Galaxy S23``, ``B2B``) keep their letters, and so do the spans
    ``kept`` (``(start, end)``: a value valid as written, such as an IBAN whose account
    number holds a letter).

    Example:
        >>> undisguised("+44 2O 7946 O958"), undisguised("ISO 9001, OX1 2JD")
        ('+44 20 7946 0958', 'ISO 9001, OX1 2JD')
    """
    digits = sum(c.isdigit() for c in text if c.isascii())
    if digits < DISGUISED_MIN_DIGITS:
        return text
    out: list[str] = []
    last = folded = 0
    for m in _DIGITISH.finditer(text):
        run, start, end = m.group(), m.start(), m.end()
        if run.isdigit() or any(a < end and start < b for a, b in kept):
            continue
        if _in_word(text, start - 1) or _in_word(text, end):
            continue  # part of a word: SO15, ISO9001, A10O, id_1O0
        if not any(c.isdigit() for c in run) and not (
                _ALONE.issuperset(run) and _between_digits(text, start, end)):
            continue  # a word of its own: "I", "O", "SOS"; but 192.168.O.1
        if not _edges_in_number(text, run, start, end):
            continue  # S23, Z4, B12 1000mg, B2B: a name's code, not a number's group
        out += (text[last:start], run.translate(_AS_DIGITS))
        folded += len(run) - sum(c.isdigit() for c in run)
        last = end
    if not out or folded > digits:
        return text
    out.append(text[last:])
    return "".join(out)


def _edges_in_number(text: str, run: str, start: int, end: int) -> bool:
    """Whether an ``S``, ``B`` or ``Z`` at an edge of ``run`` (``text[start:end]``) stands in a
    number: beside a group of digits across one separator on that side (``+44 B0 7946``), or
    at the end of a run that follows such a group (``7946 O9SB``)."""
    after_group = _group_at(text, start - 1, -1)
    return ((run[0] not in _EDGE or after_group)
            and (run[-1] not in _EDGE or after_group or _group_at(text, end, 1)))


def _group_at(text: str, i: int, step: int) -> bool:
    """Whether ``text[i]`` is a separator with a digit (or look-alike) beyond it."""
    j = i + step
    return (0 <= i < len(text) and 0 <= j < len(text) and text[i] in _GROUP_SEPARATORS
            and (text[j].isdigit() or text[j] in DIGIT_LOOKALIKES))


def _in_word(text: str, i: int) -> bool:
    return 0 <= i < len(text) and (text[i].isalpha() or text[i] == "_")


def _between_digits(text: str, start: int, end: int) -> bool:
    """Whether ``text[start:end]`` stands between two of ``.-/:``, each after or before a digit
    (or a look-alike): a group of a dotted or dashed number (``192.168.O.1``, ``12-OO-34``)."""
    near = f"0123456789{DIGIT_LOOKALIKES}"
    return (start >= 2 and end + 1 < len(text) and text[start - 1] in ".-/:"
            and text[end] in ".-/:" and text[start - 2] in near and text[end + 1] in near)


@lru_cache(maxsize=65536)
def tokenize(text: str) -> tuple[str, ...]:
    """Split a column name (or any label) into lower-case word tokens.

    Args:
        text: a column name, a path segment or a configured term.

    Returns:
        The tokens, in order; empty for a name without letters or digits.

    Example:
        >>> tokenize("custEml")
        ('cust', 'eml')
        >>> tokenize("IPAddress_v6")
        ('ip', 'address', 'v', '6')
    """
    return split_words(text)


def split_words(text: str) -> tuple[str, ...]:
    """:func:`tokenize` without its cache, for a caller that keeps its own (the name analyzer
    remembers each name's answer; a second cache of the same names only costs)."""
    if not text.isascii():
        text = unconfused(visible(text))
    elif text.islower():  # ASCII without a capital (snake_case): words and digit runs
        return tuple(_LOWER_TOKEN.findall(text))
    pattern = _ASCII_TOKEN if text.isascii() else _UNICODE_TOKEN
    return tuple(" ".join(pattern.findall(text)).lower().split())


def phrase(text: str) -> tuple[str, ...]:
    """Tokens of a pattern phrase written in the same way as a column name (``"e mail"``)."""
    return tokenize(text)


def find(tokens: tuple[str, ...], seq: tuple[str, ...]) -> int:
    """The start of the rightmost occurrence of ``seq`` in ``tokens``, or -1."""
    n = len(seq)
    for start in range(len(tokens) - n, -1, -1):
        if tokens[start : start + n] == seq:
            return start
    return -1


def contains(tokens: tuple[str, ...], seq: tuple[str, ...]) -> bool:
    """Whether ``seq`` occurs in ``tokens`` as a run, or written together as one token.

    ``("project", "falcon")`` is found in ``project_falcon_q3`` and in ``projectfalcon``, but not
    in ``projectfalconry``.
    """
    if not seq:
        return False
    return find(tokens, seq) >= 0 or (len(seq) > 1 and "".join(seq) in tokens)
