"""What layer 3 sends to the model, and the JSON schema its answer must follow.

Privacy first: by default the model sees the column's name, its neighbours' names (context),
the kind of values and their *shapes* (``Aaaa Aaaa``, ``aaa@aaaa.aaa``), plus the earlier
layers' best guess — never a value. Raw sample values (at most ``MAX_SAMPLES``, each cut to 60
characters) are sent only when ``classification.cascade.llm.send_samples`` is true.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from lacuna.classify.layers import ColumnInput
from lacuna.model import ColumnKind, Sensitivity, Tier

MAX_SAMPLES = 5
MAX_CONTEXT = 20

PII_TYPES = ("email", "phone", "name", "address", "postal_code", "ssn", "national_id",
             "passport", "drivers_license", "card_number", "dob", "age", "gender", "username",
             "ip_address", "device_id", "vin", "diagnosis", "medical_record_number",
             "prescription", "health_data", "bank_account", "iban", "swift_bic", "credential",
             "ethnicity", "religion", "political_opinion", "trade_union", "sexual_orientation",
             "biometric", "criminal_record")

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "classification": {"type": "string", "enum": [k.value for k in ColumnKind]},
        "pii_type": {"type": "string", "enum": [*PII_TYPES, "none"]},
        "sensitivity": {"type": "string", "enum": [s.value for s in Sensitivity]},
        "tier": {"type": "string", "enum": [t.value for t in Tier]},
        "confidence": {"type": "number"},
        "reasoning": {"type": "string"},
    },
    "required": ["classification", "pii_type", "sensitivity", "tier", "confidence",
                 "reasoning"],
}

SYSTEM = (
    "You classify one database column for data governance. Classes: pii (data about a "
    "person: contact details, names, identity numbers, birth dates), phi (health data), "
    "financial (money, bank data), identifier (keys, ids, credentials), public (everything "
    "else). Answer with one JSON object only, following the schema; keep reasoning under 20 "
    "words; confidence between 0 and 1."
)


def messages(
    column: ColumnInput, context: Sequence[str], *, send_samples: bool
) -> list[dict[str, str]]:
    """The chat messages for one column."""
    facts: dict[str, Any] = {
        "column": column.name,
        "other_columns": [c for c in context if c != column.name][:MAX_CONTEXT],
        "value_kind": _kind(column),
        "value_shapes": list(column.shapes),
        "earlier_guess": {
            "classification": column.current.classification.value,
            "pii_type": column.current.pii_type,
            "confidence": round(column.current.confidence, 2),
        },
    }
    if send_samples and column.sample is not None and len(column.sample):
        values = column.sample.values.slice(0, MAX_SAMPLES).to_pylist()
        facts["sample_values"] = [str(v)[:60] for v in values]
    return [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": json.dumps(facts, ensure_ascii=False)},
    ]


def _kind(column: ColumnInput) -> str:
    sample = column.sample
    if sample is None:
        return "not sampled"
    if not len(sample):
        return sample.skipped or "empty"
    return "integers" if sample.from_integers else "text"
