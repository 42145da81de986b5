"""A claimed column as strict as the store knows it (the same kind, type and sensitivity; only
its confidence, layer or wording differ) lowers nothing: it was refused, so every notebook run
through a server that read a stored file had a refused lowering audited against it."""

from __future__ import annotations

from dataclasses import replace

from lacuna.config import ClassificationConfig
from lacuna.lineage.claims import at_least
from lacuna.model import Classification, ColumnClass, ColumnKind, Layer, Sensitivity, Tier

CONFIG = ClassificationConfig()
EMAIL = ColumnClass(classification=ColumnKind.PII, pii_type="email",
                    sensitivity=Sensitivity.HIGH, confidence=0.9975, layer=Layer.HEURISTIC,
                    reasoning="Name 'email' reads as an e-mail address")


def _with(col: ColumnClass) -> Classification:
    return Classification(tier=Tier.PROPRIETARY, tags=("PII",), columns={"email": col})


def test_lineage11_the_same_class_declared_is_not_a_refused_lowering() -> None:
    claim = _with(replace(EMAIL, confidence=1.0, layer=Layer.DECLARED))
    kept, refused = at_least(claim, _with(EMAIL), CONFIG, what="customers.csv")
    assert (kept, refused) == (claim, ())


def test_lineage11_a_lower_column_is_still_refused() -> None:
    for lower in (replace(EMAIL, sensitivity=Sensitivity.LOW),
                  replace(EMAIL, classification=ColumnKind.PUBLIC, pii_type=None)):
        kept, refused = at_least(_with(lower), _with(EMAIL), CONFIG, what="customers.csv")
        assert kept.columns["email"].classification is ColumnKind.PII
        assert kept.columns["email"].sensitivity is Sensitivity.HIGH
        assert any("column 'email'" in line for line in refused)
