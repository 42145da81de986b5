"""Column names and paths as word tokens: the unit every name pattern matches on.

A name is split on case changes, underscores, hyphens, spaces, dots and other punctuation, and
between letters and digits, then lower-cased::

    EmailAddress   -> email address          custEml      -> cust eml
    IPAddress      -> ip address             icd10        -> icd 10
    date_of_birth  -> date of birth          e-mail       -> e mail

Patterns match whole tokens or runs of tokens, never substrings, so ``description`` and
``shipping`` do not contain ``ip`` and ``zipper`` is not ``zip``.
"""

from __future__ import annotations

import re
from functools import lru_cache

# ASCII names: acronym before a capitalised word (IPAddress -> IP, Address), a capitalised or
# lower-case word, an acronym, a run of digits.
_ASCII_TOKEN = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|[0-9]+")
# Other scripts have no reliable case boundaries here: split on punctuation and digits only.
_UNICODE_TOKEN = re.compile(r"[^\W\d_]+|\d+")


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
