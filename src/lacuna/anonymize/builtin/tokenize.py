"""``tokenize``: random tokens (``tok_3f9a...``), the values kept sealed in the token vault.

Unlike ``hash``, a token carries nothing of the value: it is random, and the only way back is the
vault (:mod:`lacuna.anonymize.vault`), through :func:`lacuna.detokenize`, which only the roles in
``anonymize.detokenize_roles`` may call, each call audited. The same value gets the same token
(while the vault key version stays), so tokenized tables still join.

Classification: reversible through the vault, so the output is a pseudonym (``identifier``,
medium), not anonymous; the vault key id and version are on the column.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from lacuna.anonymize.base import (
    Context,
    Strategy,
    fill,
    output_class,
    present_text,
    register,
)

if TYPE_CHECKING:
    import pandas as pd

    from lacuna.model import ColumnClass


@register
class TokenizeStrategy(Strategy):
    """Random, vault-backed tokens; reversible only through ``lacuna.detokenize``."""

    name = "tokenize"
    description = "random tokens, values sealed in the vault; detokenize for authorised roles"

    def apply(self, values: pd.Series, context: Context) -> pd.Series:
        import numpy as np
        import pandas as pd

        from lacuna.anonymize.vault import Vault, origin_of

        mask, text = present_text(values)
        if text.empty:
            return fill(values, mask, [])
        codes, uniques = pd.factorize(text)
        vault = Vault(context.settings().audit_url, context.keystore())
        tokens, key = vault.tokenize([str(u) for u in uniques], origin_of(context.column_class),
                                     config=context.settings())
        context.notes.append(f"vault {key.ref}")
        return fill(values, mask, np.asarray(tokens, dtype=object)[codes])

    def classify(self, before: ColumnClass | None, notes: Sequence[str]) -> ColumnClass:
        return output_class(self.name, before, notes, kind="identifier", sensitivity="medium",
                            what="tokenized, reversible through the vault (pseudonymised)")
