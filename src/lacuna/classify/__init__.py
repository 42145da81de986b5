"""Classification, layer 1: heuristics over paths, column names, sampled values and terms.

Public functions:

- :func:`classify` — a DataFrame, a file path, column names, or ``{name: sample values}``.
- :func:`classify_frame` — a DataFrame, with its path when known.
- :func:`classify_columns` — ``{name: ColumnClass}`` from names and optional samples.
- :func:`classify_path` — the floor, tags and reasons a file path implies.
- :func:`read_sample` — a bounded sample of a data file.

How evidence is weighed is documented in :mod:`lacuna.classify.names` (which name pattern wins)
and :mod:`lacuna.classify.combine` (names against values, and the class precedence
phi > pii > financial > identifier > public). Extend it with a ``PhraseRecognizer`` or
``PatternRecognizer`` subclass registered by ``@name_recognizer`` / ``@value_recognizer``.

Example:
    >>> from lacuna.classify import classify
    >>> c = classify(["customer_id", "name", "email", "phone", "address", "region"])
    >>> c.tier.value, c.tags
    ('PROPRIETARY', ('PII', 'GDPR'))
"""

from __future__ import annotations

from lacuna.classify.base import (
    NameRecognizer,
    PhraseRecognizer,
    ValueRecognizer,
    name_recognizer,
    name_recognizers,
    validator,
    validators,
    value_recognizer,
    value_recognizers,
)
from lacuna.classify.heuristic import classify, classify_columns, classify_frame
from lacuna.classify.paths import classify_path
from lacuna.classify.readers import read_sample
from lacuna.classify.scan import PatternRecognizer

__all__ = [
    "NameRecognizer",
    "PatternRecognizer",
    "PhraseRecognizer",
    "ValueRecognizer",
    "classify",
    "classify_columns",
    "classify_frame",
    "classify_path",
    "name_recognizer",
    "name_recognizers",
    "read_sample",
    "validator",
    "validators",
    "value_recognizer",
    "value_recognizers",
]
