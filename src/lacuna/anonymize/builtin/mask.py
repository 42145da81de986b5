"""``mask``: hide most of each value but keep a hint of its shape.

==================  ========================  ============================
value                       masked                    rule
==================  ========================  ============================
``jane@example.com``  ``j***@e***.com``         any value shaped like an e-mail
``+1 555-123-4567``   ``+* ***-***-**67``       ``pii_type`` phone: last 2 digits
``123-45-6789``       ``***-**-6789``           ssn, credit card, IBAN: last 4 digits
``Jane Doe``          ``J***``                  anything else: first character
==================  ========================  ============================

Separators stay, so a masked phone number still looks like one (letters beside the digits, such as
a name written after the number, are masked too); a one-character value becomes ``*``. Anything
else keeps its first character and three stars, whatever its length: ``J*******`` kept the length
of the name (with its initial, the key to match a masked name to a staff list) and ``1*****`` the
magnitude of a salary. The last digits are shown only when at least as many stay hidden
(``*2345`` would show most of a partial SSN ``12345``): a shorter value has every digit masked.

Classification: ``public``, but a column whose last digits stay (phone, SSN, card, IBAN, bank
account) is a quasi-identifier (``identifier``, ``pii_type`` ``quasi_identifier``): the frame is
anonymous only when k-anonymity holds over it (``lacuna.privacy``).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, ClassVar

from lacuna.anonymize.base import (
    Context,
    Strategy,
    fill,
    output_class,
    present_text,
    register,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

    import pandas as pd

    from lacuna.model import ColumnClass


@register
class MaskStrategy(Strategy):
    """Shape-keeping masks, chosen per value (e-mail) and per column ``pii_type`` (digits)."""

    name = "mask"
    description = "hide all but a hint: j***@e***.com, ***-***-**67, J*******"
    email: ClassVar[str] = r"^([^@\s])[^@\s]*@([^@\s.])[^@\s]*?\.([^@\s.]+)$"
    email_masked: ClassVar[str] = r"\1***@\2***.\3"
    keep_last_digits: ClassVar[Mapping[str, int]] = MappingProxyType({
        "phone": 2, "ssn": 4, "credit_card": 4, "iban": 4, "bank_account": 4,
    })

    def apply(self, values: pd.Series, context: Context) -> pd.Series:
        mask, text = present_text(values)
        out = self.generic(text)
        pii_type = context.column_class.pii_type if context.column_class else None
        keep = self.keep_last_digits.get(pii_type or "")
        if keep is not None:
            digits = text.str.replace(rf"\d(?=(?:\D*\d){{{keep}}})", "*", regex=True)
            count = text.str.count(r"\d")
            # Show the last digits only when at least as many stay hidden: "98765" as an
            # account number kept 4 of its 5 digits ("*8765", called public). Else hide all.
            digits = digits.where(count >= 2 * keep, text.str.replace(r"\d", "*", regex=True))
            # Letters go too: "+1 555 123 4000 (Jane Smith)" must not keep the name.
            digits = digits.str.replace(r"[^\W\d_]", "*", regex=True)
            out = out.where(count == 0, digits)
        is_email = text.str.match(self.email)
        if is_email.any():
            out = out.where(~is_email, text.str.replace(self.email, self.email_masked, regex=True))
        return fill(values, mask, out.to_numpy(dtype=object))

    def classify(self, before: ColumnClass | None, notes: Sequence[str]) -> ColumnClass:
        """Public: only a hint of the shape is left. Except where the last digits stay (a
        phone, SSN, card, IBAN): the last 4 of an SSN beside a ZIP code and a birth year
        narrows a person down, so the column is a quasi-identifier, like a generalised value,
        and ``anonymize`` counts k over it (:func:`lacuna.privacy.guard`). Before, it was
        public whatever the groups: ``***-**-6789`` for each of 12 customers, PUBLIC."""
        keep = self.keep_last_digits.get((before.pii_type if before else None) or "")
        if keep is None:
            return output_class(self.name, before, notes, kind="public")
        return output_class(self.name, before, notes, kind="identifier", sensitivity="low",
                            pii_type="quasi_identifier",
                            what=f"masked, last {keep} digits kept (a quasi-identifier: "
                                 "check k-anonymity)")

    @staticmethod
    def generic(text: pd.Series) -> pd.Series:
        """First character, then ``***`` whatever the length (the length of a name, with its
        initial, singled people out of a staff list); ``*`` for one character."""
        out = text.str.slice(0, 1) + "***"
        return out.where(text.str.len() > 1, "*")
