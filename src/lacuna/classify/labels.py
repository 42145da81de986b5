"""Labels as values: what the column labels a file's header carries say, read as data.

A pivot, ``get_dummies``, an ``unstack`` or a list handed to ``columns=`` turns cell values
into column labels, and a writer puts them in the file's header. :func:`label_class` reads a
set of labels the way a column's sampled values are read (layer 1, under a neutral name, so
that only the values speak), with three differences, because a header is a set of distinct
labels and not one value per row:

- a minority of odd labels counts: the labels with an ``@``, and those with a digit, are read
  again on their own (ordinary headers rarely have either), so one e-mail address among fifty
  ordinary labels is found;
- a vocabulary of categories names groups, not people: gender words as labels (a pivot by
  sex) are not personal data;
- people's names need at least half of the labels (and two of them) to be names at full
  strength (a given name, or several words with a known name): a header of countries or
  months holds words that are also names (Jordan, Chad, June; India, Kenya and Georgia are
  family names), with no checksum to tell them apart. So a header of family names alone
  (Smith, Garcia) is not found from its values.

Labels that read as column names of a known kind (an ASCII identifier, ``customer_id_0``,
``email``, ``zip_4``, that a name recognizer matches at :data:`HEADER_WORD` confidence or more)
are the header's own words and are not read as values: only the rest are, so a schema of
ordinary names costs no value scan, and values among ordinary names are not diluted by them.
An e-mail address, a phone or card number, an IBAN or a person's name is never such a word
(it has characters an identifier has not, or no name recognizer matches it).

Once a header row holds values, :func:`values_among` says which of its labels are values
themselves (each read alone as one value): records name those by position, never by the value
(:mod:`lacuna.classify.header`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace

from lacuna.classify import people
from lacuna.classify.base import value_recognizers
from lacuna.classify.heuristic import _by_name, _engine, classify_columns
from lacuna.classify.rollup import column_tier
from lacuna.config import ClassificationConfig
from lacuna.model import ColumnClass, Tier

_NEUTRAL = "c"  # a name no name recognizer matches
# The odd labels read again on their own: (what they have, the pattern).
_ODD = (("an '@'", re.compile("@")), ("a digit", re.compile(r"\d")))
# Value kinds that name groups of people, not people, when they are labels.
CATEGORIES = frozenset({"gender"})
NAME_SHARE = 0.5
NAME_LABELS = 2
HEADER_WORD = 0.8  # a name recognizer this sure makes an identifier label a header word
_IDENTIFIER = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
_MEMO: dict[tuple[tuple[str, ...], int, int], tuple[ClassificationConfig, ColumnClass | None]] = {}
_MEMO_SIZE = 256
# Labels read one by one in a header that holds values; above this many, every label of the
# row is taken for a value (named by position), which costs nothing and hides no value.
ONE_BY_ONE = 1000
_VALUES: dict[tuple[tuple[str, ...], int, int], tuple[ClassificationConfig, frozenset[str]]] = {}


def label_class(labels: Sequence[str], config: ClassificationConfig) -> ColumnClass | None:
    """The class of what ``labels`` hold read as values, when it is more than PUBLIC.

    Args:
        labels: the distinct text labels of one header row (at most ``config.sample_rows`` are
            read, evenly spaced).
        config: the classification settings.

    Returns:
        The column class, its reasoning saying how many labels were read and what they hold;
        ``None`` when the labels read as ordinary labels.

    Example:
        >>> from lacuna.config import ClassificationConfig
        >>> found = label_class(["region", "ada@example.org"], ClassificationConfig())
        >>> found.pii_type, label_class(["region", "email", "amount"], ClassificationConfig())
        ('email', None)
    """
    key = (tuple(labels), id(config), len(value_recognizers))
    hit = _MEMO.get(key)
    if hit is not None and hit[0] is config:  # the same header, exported again
        return hit[1]
    found = _read(list(labels), config)
    if len(_MEMO) >= _MEMO_SIZE:
        _MEMO.clear()
    _MEMO[key] = (config, found)
    return found


def values_among(labels: Sequence[str], config: ClassificationConfig) -> frozenset[str]:
    """Which of ``labels`` (a header row :func:`label_class` found to hold values) are values.

    Each label is read alone, as one value (layer 1, under a neutral name): a label that reads
    as more than PUBLIC is a value, but for a category (``F``, ``M``) and a person's name not at
    full strength (:func:`lacuna.classify.people.name_strength`: ``Ward`` is a family name, and
    a header's word). When no label shows a value
    alone (a kind only a set of labels shows), or the row has more than :data:`ONE_BY_ONE`
    labels, every label is: a record never names a value, at the cost of naming some ordinary
    labels by position.

    Example:
        >>> from lacuna.config import ClassificationConfig
        >>> sorted(values_among(["region", "ada@example.org"], ClassificationConfig()))
        ['ada@example.org']
    """
    key = (tuple(labels), id(config), len(value_recognizers))
    hit = _VALUES.get(key)
    if hit is not None and hit[0] is config:
        return hit[1]
    found = _values(list(dict.fromkeys(labels)), config)
    if len(_VALUES) >= _MEMO_SIZE:
        _VALUES.clear()
    _VALUES[key] = (config, found)
    return found


def _values(labels: list[str], config: ClassificationConfig) -> frozenset[str]:
    if len(labels) > ONE_BY_ONE:
        return frozenset(labels)
    neutral = {f"{_NEUTRAL}{i}": label for i, label in enumerate(labels)}
    found = classify_columns(
        list(neutral), {k: [v] for k, v in neutral.items()}, config, cascade=False
    )
    values = {
        neutral[k]
        for k, col in found.items()
        if col.pii_type not in CATEGORIES
        and column_tier(col, config) > Tier.PUBLIC
        and (col.pii_type != "name" or people.name_strength(neutral[k]) == people.STRONG)
    }
    return frozenset(values) or frozenset(labels)


def header_word(label: str, version: tuple[int, int] | None = None) -> bool:
    """Whether ``label`` reads as a column name of a known kind (see the module docstring);
    ``version``: the recognizers' (looked up when not given)."""
    if not _IDENTIFIER.fullmatch(label):
        return False
    named = _by_name(label, _engine().version if version is None else version)
    return named.confidence >= HEADER_WORD and any(e.source == "name" for e in named.evidence)


def _read(header: list[str], config: ClassificationConfig) -> ColumnClass | None:
    version = _engine().version
    labels = [label for label in header if not header_word(label, version)]
    if not labels:
        return None
    words = len(header) - len(labels)
    samples = {f"{_NEUTRAL}0": _spaced(labels, config.sample_rows)}
    which = {f"{_NEUTRAL}0": f"{len(samples[f'{_NEUTRAL}0'])} label(s) read"
                             + (f" ({words} column name(s) of a known kind left aside)"
                                if words else "")}
    for i, (has, pattern) in enumerate(_ODD, start=1):
        odd = [label for label in labels if pattern.search(label)]
        if odd and len(odd) < len(labels):
            samples[f"{_NEUTRAL}{i}"] = _spaced(odd, config.sample_rows)
            which[f"{_NEUTRAL}{i}"] = f"the {len(odd)} of {len(header)} label(s) with {has}"
    found = classify_columns(list(samples), samples, config, cascade=False)
    best: tuple[Tier, str, ColumnClass] | None = None
    for key, col in found.items():
        tier = column_tier(col, config)
        if tier > Tier.PUBLIC and _counts(col, samples[key]) and (best is None or tier > best[0]):
            best = (tier, key, col)
    if best is None:
        return None
    _, key, col = best
    return replace(col, reasoning=f"{which[key]}: {col.reasoning}")


def _spaced(labels: list[str], rows: int) -> list[str]:
    """At most ``rows`` evenly spaced labels: they see the whole header."""
    if len(labels) <= rows:
        return labels
    return [labels[int(i * len(labels) / rows)] for i in range(rows)]


def _counts(col: ColumnClass, sample: list[str]) -> bool:
    if col.pii_type in CATEGORIES:
        return False
    if col.pii_type == "name":
        strong = sum(1 for label in sample if people.name_strength(label) == people.STRONG)
        return strong >= NAME_LABELS and strong >= NAME_SHARE * len(sample)
    return True
