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
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace

from lacuna.classify import people
from lacuna.classify.base import value_recognizers
from lacuna.classify.heuristic import classify_columns
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
_MEMO: dict[tuple[tuple[str, ...], int, int], tuple[ClassificationConfig, ColumnClass | None]] = {}
_MEMO_SIZE = 256


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
    key = (tuple(labels), id(config), len(value_recognizers.names()))
    hit = _MEMO.get(key)
    if hit is not None and hit[0] is config:  # the same header, exported again
        return hit[1]
    found = _read(list(labels), config)
    if len(_MEMO) >= _MEMO_SIZE:
        _MEMO.clear()
    _MEMO[key] = (config, found)
    return found


def _read(labels: list[str], config: ClassificationConfig) -> ColumnClass | None:
    samples = {f"{_NEUTRAL}0": _spaced(labels, config.sample_rows)}
    which = {f"{_NEUTRAL}0": f"{len(samples[f'{_NEUTRAL}0'])} label(s) read"}
    for i, (has, pattern) in enumerate(_ODD, start=1):
        odd = [label for label in labels if pattern.search(label)]
        if odd and len(odd) < len(labels):
            samples[f"{_NEUTRAL}{i}"] = _spaced(odd, config.sample_rows)
            which[f"{_NEUTRAL}{i}"] = f"the {len(odd)} of {len(labels)} label(s) with {has}"
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
