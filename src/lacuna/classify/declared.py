"""Declared beats inferred: column classes a person declared override the cascade's answers.

Declarations come from config, dbt ``meta``, sidecars or the registry; :func:`apply_declared`
takes them as a mapping of column name to a :class:`~lacuna.model.ColumnClass`, a Floe-style
dict (``{"classification": "pii", "pii_type": "email", "sensitivity": "high"}``) or a short
string (``"pii"``, ``"pii:email"``). The declared class wins column by column (layer
``declared``), and every disagreement is kept: the classification's reasoning gets a
``suggestion:`` line, in the governor's words, and the column's reasoning says what inference
found. Nothing inferred is dropped silently.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from lacuna.classify.rollup import rollup
from lacuna.config import ClassificationConfig
from lacuna.errors import ClassificationError, ConfigError
from lacuna.model import Classification, ColumnClass, ColumnKind, Layer, Sensitivity

DEFAULT_SENSITIVITY = {
    ColumnKind.PII: Sensitivity.HIGH, ColumnKind.PHI: Sensitivity.HIGH,
    ColumnKind.FINANCIAL: Sensitivity.MEDIUM, ColumnKind.IDENTIFIER: Sensitivity.LOW,
    ColumnKind.PUBLIC: Sensitivity.LOW,
}


def declared_class(name: str, value: Any) -> ColumnClass:
    """One declaration as a column class (layer ``declared``).

    Raises:
        ClassificationError: the declaration names an unknown class or has an unusable type.

    Example:
        >>> c = declared_class("email", "pii:email")
        >>> c.classification.value, c.pii_type, c.sensitivity.value, c.layer.value
        ('pii', 'email', 'high', 'declared')
    """
    try:
        if isinstance(value, ColumnClass):
            return replace(value, layer=Layer.DECLARED, confidence=1.0)
        if isinstance(value, Mapping):
            return replace(ColumnClass.from_dict(value), layer=Layer.DECLARED)
        if isinstance(value, str):
            kind_text, _, pii_type = value.partition(":")
            kind = ColumnKind.parse(kind_text)
            return ColumnClass(classification=kind, pii_type=pii_type.strip() or None,
                               sensitivity=DEFAULT_SENSITIVITY[kind], confidence=1.0,
                               reasoning="declared", layer=Layer.DECLARED)
    except ConfigError as exc:
        msg = f"declared class of column {name!r}: {exc}"
        raise ClassificationError(msg) from None
    msg = (f"declared class of column {name!r} is a {type(value).__name__}; pass a "
           "ColumnClass, a dict like {'classification': 'pii', 'pii_type': 'email'}, or a "
           "string like 'pii' or 'pii:email'.")
    raise ClassificationError(msg)


def apply_declared(
    inferred: Classification,
    declared: Mapping[str, Any] | None,
    config: ClassificationConfig,
    *,
    where: str = "the caller",
) -> Classification:
    """Override inferred columns with declared ones; disagreements become suggestions.

    Args:
        inferred: the cascade's classification.
        declared: ``{column: declaration}``; ``None`` or empty returns ``inferred`` unchanged.
        config: for the tier mapping when the table is rolled up again.
        where: who declared it, for the reasoning (``lacuna.yaml``, a sidecar path, ...).

    Returns:
        The merged classification, layer ``declared``.
    """
    if not declared:
        return inferred
    columns = dict(inferred.columns)
    notes = [f"declared by {where}"]
    for name, value in declared.items():
        col = declared_class(str(name), value)
        guess = inferred.columns.get(str(name))
        if guess is not None and guess.evidence and _differs(guess, col):
            what = _what(guess)
            notes.append(f"suggestion: column {name!r} is declared {_what(col)} "
                         f"but looks like {what} ({guess.reasoning})")
            said = f" ({col.reasoning})" if col.reasoning not in ("", "declared") else ""
            col = replace(col, reasoning=f"declared {_what(col)}{said}; inference suggests {what} "
                          f"(layer {guess.layer.value}, confidence {guess.confidence:.2f}): "
                          f"{guess.reasoning}", evidence=(*col.evidence, *guess.evidence))
        if guess is not None or not inferred.columns:
            columns[str(name)] = col
    result = rollup(columns, config, floor=inferred.floor, extra_tags=inferred.table_tags,
                    layer=Layer.DECLARED)
    return replace(result, reasoning=(*notes, *result.reasoning))


def _differs(a: ColumnClass, b: ColumnClass) -> bool:
    if a.classification != b.classification:
        return True
    return bool(b.pii_type and a.pii_type and a.pii_type != b.pii_type)


def _what(c: ColumnClass) -> str:
    return c.classification.value + (f"/{c.pii_type}" if c.pii_type else "")
