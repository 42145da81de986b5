"""Values spelled out to slip past the patterns, read as they spell: one character at a time,
digits as words.

A user who owns the data can write a value with a separator between every character
(``a n a @ e x a m p l e . c o m``, ``4-1-1-1-1-1-1-1-1-1-1-1-1-1-1-1``, one character per
line) or its digits as English words (``four one one one ...``, ``plus four four two zero
...``). Each was PUBLIC: no pattern takes a value split at every character, nor words.
:func:`read_spelled` reads such runs back before any pattern runs:

- a run of at least ``MIN_RUN`` single characters split by one and the same separator (one
  to three spaces, a tab or two, one or two line breaks, ``.``, ``-``, ``_``, ``/``, ``|``,
  ``*``, ``~``), not glued to a letter or digit on either side, is read joined (``4 1 1 1``
  is ``4111``); a run of single digits, also when its separators change along it (``4 1 1 1
  1 1 1 1``, its groups two spaces apart; ``5 3 6 - 9 0 - 4 3 9 9``);
- a run of at least ``MIN_RUN`` digit words (``zero``/``oh`` to ``nine``, ``double`` or
  ``triple`` one, digits among them; the digits' words in French, German, Spanish, Italian
  and Portuguese too: ``quatre un un un ...``, ``vier eins eins ...``, ``cuatro uno uno
  ...``; split by spaces, commas or dashes; after ``plus``: a ``+``) is read as its digits.
  Counting (``one two three four five six seven eight nine``, ``un deux trois ...``) is
  prose, not a number: a run whose digits go up or down by one at every step is left as
  written, and so is one digit over and over (``null, null, null, ...`` in an export, ``um
  um um ...`` in a transcript: no card, SSN or phone number is one digit repeated). Prose
  holds no seven digit words in a row otherwise.

A value spelled down a column, one character per cell (``a``, ``n``, ``a``, ``@``, ... in
consecutive rows), is read by :func:`spelled_down`: a column whose every sampled value is one
character, at least ``MIN_RUN`` of them, is also read as the one value they spell in order,
when that holds a letter and something else (an ``@``, a digit, a ``+``): a column of single
digits (ratings, counts) or of single letters (``M``/``F``, ``Y``/``N``, grades) spells no
value, and a column of nine or sixteen single digits would read as an SSN or a card number
as often as its digits happen to pass the check.

A run of digits alone is read in the layout its length is written in (nine digits as an SSN's
``536-90-4399``, ten as ``415-555-0100``, 13-19 in groups of four): bare digits are weak
evidence (an id column of nine digits is no SSN column), and a number spelled out one
character or one word at a time is no id column. The validators still judge every value.
"""

from __future__ import annotations

import re

import pyarrow as pa
import pyarrow.compute as pc

MIN_RUN = 7  # characters or digit words in a run read as one value
MAX_DIGITS = 19  # digits spelled as words read as one number (a card's longest)
_SEPARATORS = r" {1,3}|\t{1,2}|(?:\r?\n){1,2}|[._/|*~-]"
# RE2: a value that may hold a run (MIN_RUN single characters split by separators)
_RUN_HINT = (r"(?:^|[^A-Za-z0-9])"
             + r"\S(?: {1,3}|\t{1,2}|(?:\r?\n){1,2}|[._/|*~-])" * (MIN_RUN - 1) + r"\S")
_RUN = re.compile(rf"(?<![^\W_])\S({_SEPARATORS})(?:\S\1){{{MIN_RUN - 2},}}\S(?![^\W_])")
# single digits split by separators that change along the run ("4 1 1 1  1 1 1 1 ...", its
# groups two spaces apart; "5 3 6 - 9 0 - 4 3 9 9"): the digits, read as one number
_DIGIT_RUN = re.compile(
    r"(?<![^\W_])[0-9](?:(?: {0,3}[._/|*~-] {0,3}| {1,3}|\t{1,2}|(?:\r?\n){1,2})[0-9])"
    rf"{{{MIN_RUN - 1},}}(?![^\W_])")
_NOT_DIGIT = re.compile(r"[^0-9]")
_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
# the digits in French, German, Spanish, Italian and Portuguese, with and without their
# accents ("quatre un un un ...", "vier eins eins ...", "cuatro uno uno ..."): each digit's
# words, 0 to 9
_FOREIGN = (
    ("zéro", "un", "deux", "trois", "quatre", "cinq", "six", "sept", "huit", "neuf"),
    ("null", "eins", "zwei zwo", "drei", "vier", "fünf fuenf funf", "sechs", "sieben", "acht",
     "neun"),
    ("cero", "uno", "dos", "tres três", "cuatro", "cinco", "seis", "siete", "ocho", "nueve"),
    ("zero", "uno", "due", "tre", "quattro", "cinque", "sei", "sette", "otto", "nove"),
    ("zero", "um", "dois", "tres três", "quatro", "cinco", "seis", "sete", "oito", "nove"),
)
_DIGIT_OF = ({w: str(i) for i, w in enumerate(_WORDS)} | {"oh": "0"}
             | {w: str(i) for words in _FOREIGN for i, ws in enumerate(words)
                for w in ws.split()})


def _trie(words: list[str]) -> str:
    """``words`` as one regex factored by their common starts (``d(?:eux|o(?:is|s)|...)``):
    Python's ``re`` tries an alternation's branches one by one, and the digit words of six
    languages, tried at every word of a hostile run, cost five times what English ones do.
    A word that starts a longer one is matched longest first (``un(?:o)?``)."""
    heads: dict[str, list[str]] = {}
    ends = False
    for word in words:
        if word:
            heads.setdefault(word[0], []).append(word[1:])
        else:
            ends = True
    if not heads:
        return ""
    branches = [re.escape(c) + _trie(rest) for c, rest in sorted(heads.items())]
    body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
    if ends:
        return body + "?" if len(branches) == 1 and len(body) == 1 else f"(?:{body})?"
    return body


_WORD = f"(?:{_trie(sorted(_DIGIT_OF))})"
# a digit word, "double" or "triple" one ("double seven": 77, as phone numbers are read out),
# or a digit among them ("four 1 one one")
_TOKEN = rf"(?:(?:double|triple)[\s-]+{_WORD}|{_WORD}|[0-9])"
# RE2, one pass (pyarrow compiles a pattern on every call: a hint of seven digit words cost
# three times what two do): a value that may hold either kind of run; Python's re reads them.
# Compiling the words of six languages costs ~0.4 ms a call: a small sample (at most
# SMALL_CHARS characters) is hinted at in Python instead, its words looked up in a set.
_HINT = f"{_RUN_HINT}|(?i:{_WORD}[\\s,-]+(?:{_WORD}|[0-9]|double|triple))"
SMALL_CHARS = 32_768
_WORD_RUN = re.compile(
    rf"(?i)\b(?:(plus)[\s,-]+)?({_TOKEN}(?:[\s,-]+{_TOKEN}){{{MIN_RUN - 1},}})\b")
_WORD_SPLIT = re.compile(r"[\s,-]+")
_TIMES = {"double": 2, "triple": 3}
_DIGIT_WORDS = frozenset(_DIGIT_OF)
_FOLLOWERS = _DIGIT_WORDS | {"double", "triple"}


def read_spelled(values: pa.Array) -> pa.Array:
    """``values`` with runs spelled one character or one digit word at a time read as they
    spell (see the module docstring).

    Example:
        >>> read_spelled(pa.array(["a n a @ e x a m p l e . c o m", "a b c", "plain"])).to_pylist()
        ['ana@example.com', 'a b c', 'plain']
    """
    hit = _hinted(values)
    if not pc.any(hit).as_py():
        return values
    picked = pc.filter(values, hit).to_pylist()
    seen: dict[str, str] = {}  # a value repeated is read once
    read = [seen[v] if v in seen else seen.setdefault(v, _read(v)) for v in picked]
    if read == picked:
        return values
    return pc.replace_with_mask(values, hit, pa.array(read, type=pa.string()))


def _hinted(values: pa.Array) -> pa.Array:
    """Which of ``values`` may hold a run (``_HINT``, or in Python for a small sample)."""
    if not len(values) or (pc.sum(pc.utf8_length(values)).as_py() or 0) > SMALL_CHARS:
        return pc.fill_null(pc.match_substring_regex(values, _HINT), False)
    runs = pc.fill_null(pc.match_substring_regex(values, _RUN_HINT), False)
    words = pa.array([v is not None and _two_words(v) for v in values.to_pylist()])
    return pc.or_(runs, words)


def _two_words(value: str) -> bool:
    """Whether ``value`` holds a digit word followed by another, a digit, ``double`` or
    ``triple`` (``_HINT``'s second half, split where its separators are)."""
    after = False
    for word in _WORD_SPLIT.split(value.lower()):
        if after and (word in _FOLLOWERS or word.isdigit()):
            return True
        after = word in _DIGIT_WORDS
    return False


def _read(value: str) -> str:
    value = _joined(value)
    # digit words only where a word is one (Python's re tries the words at every position:
    # 0.5 ms for a value of 2,048 characters holding none)
    if _DIGIT_WORDS.isdisjoint(_WORD_SPLIT.split(value.lower())):
        return value
    return _digits(value)


def _joined(value: str) -> str:
    value = _RUN.sub(lambda m: _laid_out(m.group()[:: len(m.group(1)) + 1]), value)
    return _DIGIT_RUN.sub(lambda m: _laid_out(_NOT_DIGIT.sub("", m.group())), value)


def _digits(value: str) -> str:
    def spelled(m: re.Match[str]) -> str:
        if m.end(2) - m.start(2) > 12 * MAX_DIGITS:  # too long for one number ("seven ")
            return m.group()
        words = _WORD_SPLIT.split(m.group(2).lower())
        if len(words) > 2 * MAX_DIGITS or all(w.isdigit() for w in words):
            return m.group()  # digits alone: read (or not) as written, no word among them
        parts, times = list[str](), 1
        for w in words:
            if w in _TIMES:
                times = _TIMES[w]
                continue
            parts.append((w if w.isdigit() else _DIGIT_OF[w]) * times)
            times = 1
        digits = "".join(parts)
        if len(digits) > MAX_DIGITS or _counting(digits) or len(set(digits)) == 1:
            return m.group()  # counting, or one digit over and over ("null null ...", "um um")
        return ("+" + digits) if m.group(1) else _laid_out(digits)

    return _WORD_RUN.sub(spelled, value)


def _counting(digits: str) -> bool:
    """Whether every digit is one more, or every one one less, than the one before (``9``
    then ``0`` counts on)."""
    return len(digits) > 1 and (digits in _UP or digits in _DOWN)


_UP, _DOWN = "0123456789" * 4, "9876543210" * 4


def _laid_out(text: str) -> str:
    """Digits alone in the layout numbers of their length are written in; anything else as
    it is."""
    if not text.isdigit() or not text.isascii() or _counting(text):
        return text
    n = len(text)
    if n == 9:
        return f"{text[:3]}-{text[3:5]}-{text[5:]}"
    if n == 10:
        return f"{text[:3]}-{text[3:6]}-{text[6:]}"
    if n == 11 and text[0] == "1":
        return f"1-{text[1:4]}-{text[4:7]}-{text[7:]}"
    if n == 11 and text[0] == "0":
        return f"{text[:5]} {text[5:]}"
    if 13 <= n <= 19:
        return " ".join(text[i : i + 4] for i in range(0, n, 4))
    return text


MAX_DOWN = 320  # cells read as one value: an e-mail address is at most 254 characters


def spelled_down(values: pa.Array) -> pa.Array | None:
    """The one value ``values`` spell when every one is a single character (see the module
    docstring), as a one-value array; ``None`` otherwise.

    Example:
        >>> spelled_down(pa.array(list("ana@example.com"))).to_pylist()
        ['ana@example.com']
        >>> spelled_down(pa.array(list("MFFMFMMF"))) is None
        True
    """
    n = len(values)
    if not MIN_RUN <= n <= MAX_DOWN or values.null_count:
        return None
    if pc.max(pc.utf8_length(values)).as_py() != 1:
        return None
    text = "".join(values.to_pylist())
    if not any(c.isalpha() for c in text) or all(c.isalpha() for c in text):
        return None
    return pa.array([text], type=pa.string())
