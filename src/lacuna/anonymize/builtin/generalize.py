"""``generalize``: keep a coarser version of each value, so it still serves analysis.

=======================  ======================  =====================================
column                   value                   generalised
=======================  ======================  =====================================
``dob`` (date of birth)  ``1987-06-15``           ``30-39`` (age band on the day it runs)
``postal_code``/``zip``  ``94107`` / ``SW1A 1AA``  ``941**`` / ``SW1A`` (outward code)
``ip_address``           ``192.168.4.7``          ``192.168.4.0/24`` (IPv6: ``/48``)
other dates              ``2024-03-17``           ``2024-03`` (``date_unit = "year"``: ``2024``)
numbers                  ``37.5``                 ``30-39`` (``number_width`` 10)
=======================  ======================  =====================================

The rule follows the column's ``pii_type``, then its values' type. A value that does not parse
(an IP that is not one) becomes null rather than passing through unchanged, and the count of such
values is noted on the column.

Classification: still about a person, but coarser: ``identifier`` with ``pii_type``
``quasi_identifier``, sensitivity low. Whether the table is anonymous then depends on the
combination of quasi-identifiers (k-anonymity), not on this column alone.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from datetime import date
from typing import TYPE_CHECKING, ClassVar

from lacuna.anonymize.base import Context, Strategy, fill, output_class, present_text, register

if TYPE_CHECKING:
    import pandas as pd

    from lacuna.model import ColumnClass

DOB_TYPES = frozenset({"dob", "date_of_birth", "birth_date", "birthdate"})
POSTAL_TYPES = frozenset({"postal_code", "postcode", "zip", "zip_code"})
IP_TYPES = frozenset({"ip", "ip_address", "ipv4", "ipv6"})
_UK_POSTCODE = re.compile(r"^([A-Z]{1,2}\d[A-Z\d]?)\s*\d[A-Z]{2}$", re.IGNORECASE)


@register
class GeneralizeStrategy(Strategy):
    """Age bands, postcode prefixes, IP subnets, months or years, number ranges."""

    name = "generalize"
    description = "coarser values: age band, ZIP prefix, IP subnet, month/year, number range"
    age_band: ClassVar[int] = 10
    zip_keep: ClassVar[int] = 3
    ipv4_prefix: ClassVar[int] = 24
    ipv6_prefix: ClassVar[int] = 48
    date_unit: ClassVar[str] = "month"  # or "year"
    number_width: ClassVar[float] = 10
    today: ClassVar[date | None] = None  # None: the day it runs (ages change)

    def apply(self, values: pd.Series, context: Context) -> pd.Series:
        import pandas as pd

        pii_type = (context.column_class.pii_type if context.column_class else None) or ""
        if pii_type in DOB_TYPES:
            out, what = self.age_bands(values), f"age bands of {self.age_band} years"
        elif pii_type in POSTAL_TYPES:
            out, what = self.postcodes(values), "postcode prefix"
        elif pii_type in IP_TYPES:
            out, what = self.subnets(values), f"IP subnet /{self.ipv4_prefix} (IPv6 /48)"
        elif pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(
                values.dtype):
            out, what = self.ranges(values), f"ranges of {self.number_width:g}"
        elif (numbers := self._text_numbers(values, pii_type)) is not None:
            out, what = self.ranges(numbers), f"ranges of {self.number_width:g}"
        else:
            out, what = self.dates(values), f"dates to {self.date_unit}"
        lost = int((values.notna() & out.isna()).sum())
        context.notes.append(what + (f"; {lost} unparseable values nulled" if lost else ""))
        return out

    def classify(self, before: ColumnClass | None, notes: Sequence[str]) -> ColumnClass:
        return output_class(self.name, before, notes, kind="identifier", sensitivity="low",
                            pii_type="quasi_identifier",
                            what="generalised (a quasi-identifier: check k-anonymity)")

    # -- the rules -------------------------------------------------------------------------------

    def _dates(self, values: pd.Series) -> pd.Series:
        import pandas as pd

        if pd.api.types.is_datetime64_any_dtype(values.dtype):
            return values
        if pd.api.types.is_numeric_dtype(values.dtype):
            return self._numeric_dates(values)
        return pd.to_datetime(values, errors="coerce", format="mixed")

    @staticmethod
    def _numeric_dates(values: pd.Series) -> pd.Series:
        """Dates written as numbers: a year (``1987``) or ``YYYYMMDD`` (``19870615``); any other
        number is no date (null). pandas read them as nanoseconds after 1970, so every year of
        birth became 1970-01-01 and one age band for everyone."""
        import numpy as np
        import pandas as pd

        numbers = pd.to_numeric(values, errors="coerce").astype(float)
        whole = numbers.where(np.isfinite(numbers) & (numbers == np.floor(numbers)))
        text = whole.astype("Int64").astype("string")
        year = pd.to_datetime(text.where(text.str.len() == 4), errors="coerce", format="%Y")
        day = pd.to_datetime(text.where(text.str.len() == 8), errors="coerce", format="%Y%m%d")
        return year.fillna(day)

    def _text_numbers(self, values: pd.Series, pii_type: str) -> pd.Series | None:
        """Numbers written as text (ages read with ``dtype=str``, from JSON, or typed as
        strings), as numbers: for an ``age`` column, or when every value is a number that is
        no date. Before, they went to the date rule, which nulled every age ("31" is no date)
        while the column was reported generalised."""
        import pandas as pd

        present = values.notna()
        if not present.any():
            return None
        numbers = pd.to_numeric(values.where(present).astype(object), errors="coerce")
        if not numbers[present].notna().all():
            return None
        if pii_type != "age" and self._dates(values)[present].notna().all():
            return None  # "20240317" or "1987": dates, as before
        return numbers.astype(float)

    def age_bands(self, values: pd.Series) -> pd.Series:
        import numpy as np

        born = self._dates(values)
        today = self.today or date.today()
        age = today.year - born.dt.year - (
            (born.dt.month > today.month)
            | ((born.dt.month == today.month) & (born.dt.day > today.day))
        ).astype(int)
        low = (age // self.age_band) * self.age_band
        ok = born.notna().to_numpy() & (age >= 0).to_numpy()
        lows = low.to_numpy(dtype=float, na_value=np.nan)[ok].astype(int)
        labels = [f"{lo}-{lo + self.age_band - 1}" for lo in lows]
        return fill(values.where(ok), ok, labels)

    def dates(self, values: pd.Series) -> pd.Series:
        parsed = self._dates(values)
        fmt = "%Y" if self.date_unit == "year" else "%Y-%m"
        ok = parsed.notna().to_numpy()
        return fill(values.where(ok), ok, parsed[ok].dt.strftime(fmt).to_numpy(dtype=object))

    def postcodes(self, values: pd.Series) -> pd.Series:
        mask, text = present_text(values)
        stripped = text.str.strip()
        uk = stripped.str.extract(_UK_POSTCODE, expand=False).str.upper()
        digits = stripped.str.replace(r"[\s-]", "", regex=True)
        us = digits.str.slice(0, self.zip_keep) + "*" * (5 - self.zip_keep)
        generic = stripped.str.slice(0, self.zip_keep) + "*"
        out = uk.where(uk.notna(), us.where(digits.str.fullmatch(r"\d{5}(\d{4})?"), generic))
        return fill(values, mask, out.to_numpy(dtype=object))

    def subnets(self, values: pd.Series) -> pd.Series:
        import numpy as np
        import pandas as pd

        mask, text = present_text(values)
        codes, uniques = pd.factorize(text.str.strip())
        nets: list[object] = []
        for value in uniques:
            try:
                ip = ipaddress.ip_address(str(value))
            except ValueError:
                nets.append(None)
                continue
            prefix = self.ipv4_prefix if ip.version == 4 else self.ipv6_prefix
            nets.append(str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False)))
        out = np.asarray(nets, dtype=object)[codes] if len(codes) else np.asarray([], dtype=object)
        result = fill(values, mask, out)
        return result.where(pd.notna(result), None)

    def ranges(self, values: pd.Series) -> pd.Series:
        import numpy as np

        width = self.number_width
        numbers = values.astype(float)
        ok = numbers.notna().to_numpy()
        low = np.floor(numbers.to_numpy()[ok] / width) * width
        labels = [f"{lo:g}-{lo + width - (1 if float(width).is_integer() else 0):g}"
                  for lo in low]
        return fill(values.where(ok), ok, labels)
