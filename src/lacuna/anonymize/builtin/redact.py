"""``redact``: replace every value with one constant; nulls stay null."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from lacuna.anonymize.base import Context, Strategy, fill, output_class, register

if TYPE_CHECKING:
    from collections.abc import Sequence

    import pandas as pd

    from lacuna.model import ColumnClass


@register
class RedactStrategy(Strategy):
    """Every non-null value becomes ``replacement``: nothing of the value survives."""

    name = "redact"
    description = "replace every value with [REDACTED]"
    replacement: ClassVar[str] = "[REDACTED]"

    def apply(self, values: pd.Series, context: Context) -> pd.Series:
        del context  # the replacement does not depend on the column
        mask = values.notna().to_numpy(dtype=bool)
        return fill(values, mask, [self.replacement] * int(mask.sum()))

    def classify(self, before: ColumnClass | None, notes: Sequence[str]) -> ColumnClass:
        """Public: nothing of the value is left."""
        return output_class(self.name, before, notes, kind="public")
