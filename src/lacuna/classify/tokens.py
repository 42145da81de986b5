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
from functools import lru_cache

# ASCII names: acronym before a capitalised word (IPAddress -> IP, Address), a capitalised or
# lower-case word, an acronym, a run of digits.
_ASCII_TOKEN = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|[0-9]+")
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
