"""``hash``: a keyed HMAC-SHA256 of each value, hex, truncated.

The same value gives the same hash under the same key, in any column of any table, so hashed
tables still join and count distinct. Without the key the hash cannot be recomputed, so nobody
can hash a list of candidate values (a rainbow table) to find out who is who. Each distinct value
is hashed once (``pandas.factorize``), so repeated values cost nothing.

This is **pseudonymisation**, not anonymisation (GDPR Art. 4(5)): whoever holds the key can hash a
candidate value and find its row, and the other columns may re-identify the person. The output
column is classified ``identifier`` (a pseudonym, sensitivity medium), with the key id and version
in its reasoning; it is only anonymous once the key is destroyed and the re-identification report
says the quasi-identifiers are generalised enough.

That protects against outsiders only: whoever holds the key can hash a dictionary of candidate
values (every customer e-mail, every phone number) and re-identify the column in seconds. With a
local key (``$LACUNA_HOME/anonymize.key`` or ``$LACUNA_ANONYMIZE_KEY``) that is the analyst who
hashed the data; in the shared deployment the key stays with the server, which hashes.
:data:`PSEUDONYMISATION_NOTE` says so in the classification reasoning and ``--explain``.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from typing import TYPE_CHECKING, ClassVar

from lacuna.anonymize.base import Context, Strategy, fill, output_class, present_text, register

if TYPE_CHECKING:
    import pandas as pd

    from lacuna.model import ColumnClass


PSEUDONYMISATION_NOTE = (
    "keyed hashing with a local key is pseudonymisation against outsiders only: whoever holds "
    "the key can re-identify values by hashing a dictionary of candidates; in the shared "
    "deployment the key stays with the server"
)


@register
class HashStrategy(Strategy):
    """Keyed, stable pseudonyms: ``hmac_sha256(key, str(value)).hexdigest()[:length]``."""

    name = "hash"
    description = "keyed HMAC-SHA256, hex-truncated: stable for joins, irreversible without the key"
    length: ClassVar[int] = 20  # 80 bits: a collision needs ~10^12 distinct values

    def apply(self, values: pd.Series, context: Context) -> pd.Series:
        import numpy as np
        import pandas as pd

        mask, text = present_text(values)
        if text.empty:
            return fill(values, mask, [])
        codes, uniques = pd.factorize(text)
        base = hmac.new(context.key(), digestmod=hashlib.sha256)
        digests = []
        for value in uniques:
            h = base.copy()
            h.update(str(value).encode("utf-8", "surrogatepass"))
            digests.append(h.hexdigest()[: self.length])
        return fill(values, mask, np.asarray(digests, dtype=object)[codes])

    def classify(self, before: ColumnClass | None, notes: Sequence[str]) -> ColumnClass:
        return output_class(self.name, before, [*notes, PSEUDONYMISATION_NOTE],
                            kind="identifier", sensitivity="medium",
                            what="pseudonymised (not anonymous while the key exists)")
