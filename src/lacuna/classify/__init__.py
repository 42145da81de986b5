"""Classification: the cascade heuristics → embeddings → LLM, explained and cached.

Public functions:

- :func:`classify` — a DataFrame, a file path, column names, ``{name: sample values}``, or text.
- :func:`classify_text` — a piece of free text, as one pseudo-column ``text``.
- :func:`classify_frame` — a DataFrame, with its path when known.
- :func:`classify_columns` — ``{name: ColumnClass}`` from names and optional samples.
- :func:`classify_path` — the floor, tags and reasons a file path implies.
- :func:`read_sample` — a bounded sample of a data file.

How evidence is weighed is documented in :mod:`lacuna.classify.names` (which name pattern wins)
and :mod:`lacuna.classify.combine` (names against values, and the class precedence
phi > pii > financial > identifier > public). Extend it with a ``PhraseRecognizer`` or
``PatternRecognizer`` subclass registered by ``@name_recognizer`` / ``@value_recognizer``.
Routing to layers 2 and 3, and the answer cache, are in :mod:`lacuna.classify.cascade`;
their settings in :mod:`lacuna.classify.settings`.

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
from lacuna.classify.cascade import layer_shares, statuses
from lacuna.classify.declared import apply_declared
from lacuna.classify.entry import classify, classify_text
from lacuna.classify.heuristic import classify_columns, classify_frame
from lacuna.classify.paths import classify_path
from lacuna.classify.readers import read_sample
from lacuna.classify.scan import PatternRecognizer
from lacuna.classify.settings import ClassifySettings, from_config

__all__ = [
    "ClassifySettings",
    "NameRecognizer",
    "PatternRecognizer",
    "PhraseRecognizer",
    "ValueRecognizer",
    "apply_declared",
    "classify",
    "classify_columns",
    "classify_frame",
    "classify_path",
    "classify_text",
    "from_config",
    "layer_shares",
    "name_recognizer",
    "name_recognizers",
    "read_sample",
    "statuses",
    "validator",
    "validators",
    "value_recognizer",
    "value_recognizers",
]
