"""The frozen data objects of the name-only path, built by setting their slots directly.

Classifying a schema of new column names by name makes four frozen dataclasses per name (a
``NameMatch``, a ``NameResult``, an ``Evidence`` and a ``ColumnClass``). A frozen dataclass's
generated ``__init__`` sets each field with ``object.__setattr__``; setting the slots through
their member descriptors gives the same object in about half the time (measured: 0.8 against
1.7 µs for five fields), which was about a fifth of a new name's cost.

A builder sets every field, so what it makes is equal to what the constructor makes (the same
fields, hash and ``repr``; still frozen). It is used only for a class whose fields are exactly
the names it sets and that has no ``__post_init__``: checked here at import, and a class that
changes (a field added) is built by its constructor instead, never half set.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from lacuna.model import ColumnClass, Evidence, Layer

if TYPE_CHECKING:
    from collections.abc import Callable

    from lacuna.model import ColumnKind, Sensitivity

_new = object.__new__


def setters(cls: type, names: tuple[str, ...]) -> tuple[Callable[[Any, Any], None], ...] | None:
    """The slots' setters of the frozen dataclass ``cls``, in the order of ``names``; ``None``
    when ``names`` are not exactly its fields or it has a ``__post_init__`` (then use its
    constructor)."""
    if (not dataclasses.is_dataclass(cls) or hasattr(cls, "__post_init__")
            or tuple(f.name for f in dataclasses.fields(cls)) != names):
        return None
    found = [vars(cls).get(n) for n in names]
    if not all(hasattr(d, "__set__") and type(d).__name__ == "member_descriptor" for d in found):
        return None
    return tuple(d.__set__ for d in found)  # type: ignore[union-attr]


_EVIDENCE = setters(Evidence, ("source", "rule", "detail", "score"))
_COLUMN = setters(ColumnClass, ("classification", "pii_type", "sensitivity", "confidence",
                                "reasoning", "layer", "evidence", "pieces"))


def evidence(source: str, rule: str, detail: str, score: float) -> Evidence:
    """``Evidence(source=..., rule=..., detail=..., score=...)``."""
    if _EVIDENCE is None:  # pragma: no cover - Evidence's fields changed: the constructor
        return Evidence(source=source, rule=rule, detail=detail, score=score)
    obj = _new(Evidence)
    s_source, s_rule, s_detail, s_score = _EVIDENCE
    s_source(obj, source)
    s_rule(obj, rule)
    s_detail(obj, detail)
    s_score(obj, score)
    return obj


def heuristic_class(
    classification: ColumnKind, pii_type: str | None, sensitivity: Sensitivity,
    confidence: float, reasoning: str, evidence: tuple[Evidence, ...],
) -> ColumnClass:
    """``ColumnClass(...)`` of layer 1 (``Layer.HEURISTIC``), without pieces."""
    if _COLUMN is None:  # pragma: no cover - ColumnClass's fields changed: the constructor
        return ColumnClass(classification=classification, pii_type=pii_type,
                           sensitivity=sensitivity, confidence=confidence, reasoning=reasoning,
                           layer=Layer.HEURISTIC, evidence=evidence)
    obj = _new(ColumnClass)
    s_class, s_type, s_sensitivity, s_confidence, s_reasoning, s_layer, s_evidence, s_pieces = \
        _COLUMN
    s_class(obj, classification)
    s_type(obj, pii_type)
    s_sensitivity(obj, sensitivity)
    s_confidence(obj, confidence)
    s_reasoning(obj, reasoning)
    s_layer(obj, Layer.HEURISTIC)
    s_evidence(obj, evidence)
    s_pieces(obj, ())
    return obj
