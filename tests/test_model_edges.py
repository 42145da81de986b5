"""What the model reads back from stored or sent classes (sidecars, the registry, OpenLineage
facets, the server's wire): values a writer of Lacuna's never produces are refused."""

from __future__ import annotations

import json
import math

import pytest

from lacuna.model import Classification, ColumnClass


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, "nan", "inf"])
def test_a_confidence_that_is_not_a_finite_number_is_refused(bad: object) -> None:
    """A NaN confidence was read back as NaN and written on as ``NaN``, which is not JSON: an
    OpenLineage event carrying it was refused whole by its receiver."""
    with pytest.raises(ValueError, match="confidence must be a finite number"):
        Classification.from_dict({"tier": "PUBLIC", "confidence": bad})
    with pytest.raises(ValueError, match="confidence must be a finite number"):
        ColumnClass.from_dict({"classification": "pii", "confidence": bad})


def test_a_stored_class_reads_back_as_it_was_written() -> None:
    column = ColumnClass.from_dict({"classification": "pii", "pii_type": "email",
                                    "sensitivity": "high", "confidence": 0.42})
    c = Classification.from_dict({"tier": "PROPRIETARY", "tags": ["PII"], "confidence": "0.5",
                                  "columns": {"email": column.to_dict()}})
    again = Classification.from_dict(json.loads(json.dumps(c.to_dict(), allow_nan=False)))
    assert again.confidence == 0.5
    assert again.columns["email"].confidence == 0.42
    assert again.columns["email"].pii_type == "email"
    assert again.tier == c.tier
