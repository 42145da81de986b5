"""``synthesize``: realistic synthetic values by ``pii_type`` (engine: :mod:`..synthetic`).

The same original value under the same key (``lacuna.synthesize(df, seed=...)`` derives one from
the seed) gives the same synthetic value in every column and table of that ``pii_type``, so
synthesized tables still join on a synthesized key. Dates of birth keep their 10-year age band, IP
addresses their subnet, SSNs their format (a keyed permutation of the valid SSNs).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from lacuna.anonymize.base import Context, Strategy, output_class, register
from lacuna.anonymize.synthetic import generate

if TYPE_CHECKING:
    import pandas as pd

    from lacuna.model import ColumnClass


@register
class SynthesizeStrategy(Strategy):
    """Synthetic values per ``pii_type``; free text gets the PII spans inside it replaced."""

    name = "synthesize"
    description = ("realistic synthetic values by pii_type (Faker word lists), deterministic per "
                   "(key, value) so joins survive; DOB keeps the age band, IP the subnet")
    def classify(self, before: ColumnClass | None, notes: Sequence[str]) -> ColumnClass:
        """Public: generated values, not any real person's (keep the seed secret)."""
        return output_class(self.name, before, notes, kind="public", what=(
            "replaced by synthetic values: generated, not any real person's, so not personal "
            "data; deterministic per seed and value, so keep the seed secret"))

    def apply(self, values: pd.Series, context: Context) -> pd.Series:
        column = context.column_class
        pii_type = column.pii_type if column is not None else None
        return generate(values, pii_type, context.key())
