"""Near misses: a name that promises a kind of value the sampled values do not hold.

When a column's name reads as a type that has a validator (``phone``, ``email``, ``ip``, ...),
its string values were sampled, and the validator found too few of them, the name's score is
multiplied by ``MISS_FACTOR`` and the explanation says so: "near miss: looked like a phone
number, but only 12% of 200 sampled values are valid phone numbers". An ambiguous name
(score 0.65) then falls below acceptance and the column is public; a clear one keeps its class
with less confidence, so the later layers take a look.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from lacuna.classify.layers import CONFIRMED_BY
from lacuna.model import Evidence

if TYPE_CHECKING:
    from lacuna.classify.base import ValueMatch
    from lacuna.classify.names import NameResult
    from lacuna.classify.scan import ColumnSample

MISS_FACTOR = 0.7


def near_miss(
    name: NameResult, values: Sequence[ValueMatch], below: Sequence[ValueMatch],
    sample: ColumnSample | None,
) -> Evidence | None:
    """The near-miss evidence for a name the values do not bear out, or ``None``."""
    rec = name.match.recognizer
    rules = CONFIRMED_BY.get(rec.pii_type or "")
    if name.descriptor or rules is None or sample is None or not len(sample):
        return None
    if sample.from_integers:
        return None
    if any(v.recognizer.name in rules for v in values if not v.below):
        return None
    n = len(sample)
    partial = [v for v in below if v.recognizer.name in rules]
    if partial:
        best = max(partial, key=lambda v: v.ratio)
        found = f"only {best.ratio:.0%} of {n} sampled values are {best.recognizer.label}"
    else:
        found = f"none of {n} sampled values is {rec.label}"
    return Evidence(source="value", rule=f"near-miss:{rec.name}",
                    detail=f"near miss: looked like {rec.label}, but {found}", score=0.0)
