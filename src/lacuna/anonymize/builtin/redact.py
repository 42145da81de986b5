"""``redact``: replace every value with one constant; nulls stay null."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from lacuna.anonymize.base import Context, Strategy, fill, register

if TYPE_CHECKING:
    import pandas as pd


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
