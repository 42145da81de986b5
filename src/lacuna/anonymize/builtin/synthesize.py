"""``synthesize``: realistic synthetic values by ``pii_type`` (engine: :mod:`..synthetic`).

The same original value under the same key (``lacuna.synthesize(df, seed=...)`` derives one from
the seed) gives the same synthetic value in every column and table of that ``pii_type``, so
synthesized tables still join on a synthesized key. Dates of birth keep their 10-year age band, IP
addresses their subnet, SSNs their format (a keyed permutation of the valid SSNs).

Free text (a personal column without a ``pii_type``, or sentences in an e-mail, phone, SSN, card
or IP column) only has the spans the value patterns find replaced: the names, addresses and
words around them stay as they were, so such a column is not called public. It keeps its
personal class, with the reasoning saying to redact or drop it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from lacuna.anonymize.base import Context, Strategy, output_class, register
from lacuna.anonymize.synthetic import free_text, generate

if TYPE_CHECKING:
    import pandas as pd

    from lacuna.model import ColumnClass

FREE_TEXT_NOTE = ("free text: only the e-mails, phones, SSNs, cards and IPs inside it were "
                  "replaced; names, addresses and the rest of each sentence are kept, so it stays "
                  "personal data. Redact or drop the column to release it")


@register
class SynthesizeStrategy(Strategy):
    """Synthetic values per ``pii_type``; free text gets the PII spans inside it replaced."""

    name = "synthesize"
    description = ("realistic synthetic values by pii_type (Faker word lists), deterministic per "
                   "(key, value) so joins survive; DOB keeps the age band, IP the subnet")
    def classify(self, before: ColumnClass | None, notes: Sequence[str]) -> ColumnClass:
        """Public: generated values, not any real person's (keep the seed secret); free text
        stays what it was (personal), since only the spans found in it were replaced."""
        if FREE_TEXT_NOTE in notes:
            personal = before is not None and before.is_personal
            return output_class(
                self.name, before, [n for n in notes if n != FREE_TEXT_NOTE],
                kind=before.classification.value if personal and before else "pii",
                pii_type=(before.pii_type if before else None) or "free_text",
                sensitivity=before.sensitivity.value if personal and before else "high",
                what=FREE_TEXT_NOTE)
        return output_class(self.name, before, notes, kind="public", what=(
            "replaced by synthetic values: generated, not any real person's, so not personal "
            "data; deterministic per seed and value, so keep the seed secret"))

    def apply(self, values: pd.Series, context: Context) -> pd.Series:
        column = context.column_class
        pii_type = column.pii_type if column is not None else None
        if free_text(values, pii_type):
            context.notes.append(FREE_TEXT_NOTE)
        return generate(values, pii_type, context.key())
