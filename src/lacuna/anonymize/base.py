"""The anonymization plug-in: one ABC, one registry, and the context a strategy works in.

A strategy turns one column (a pandas Series) into its anonymized form, vectorized, without
touching nulls. It is chosen by name: ``anonymize(df, strategy="mask")``. Register your own with
``@register`` on a subclass that sets ``name``::

    @register
    class Truncate(Strategy):
        name = "truncate"
        def apply(self, values, context):
            mask, text = present_text(values)
            return fill(values, mask, text.str.slice(0, 3))
        def classify(self, before, notes):  # say what the output is; without it, it stays
            return output_class(self.name, before, notes, kind="identifier",  # what it was
                                what="first three characters")
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar

from lacuna._registry import Registry
from lacuna.errors import ClassificationError

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from lacuna.config import Config
    from lacuna.keystore import KeyStore
    from lacuna.model import ColumnClass


class UnknownColumnError(ClassificationError, LookupError):
    """``anonymize`` was asked to treat a column the frame does not have."""

    def __init__(self, message: str, *, column: str) -> None:
        super().__init__(message)
        self.column = column


@dataclass(frozen=True, slots=True, kw_only=True)
class Context:
    """What a strategy may know about the column it treats (never the other columns' values)."""

    column: str
    column_class: ColumnClass | None  # None when the classification does not list the column
    key: Callable[[], bytes]  # the hashing key, resolved on first call only
    config: Config | None = None  # settings (epsilon, vault URL, ...); None: active_config()
    keys: KeyStore | None = None  # the key store for FPE and vault keys; None: from config
    # What the strategy did, in words, for the output column's reasoning (key id+version,
    # epsilon, ...). The strategy appends; anonymize() reads it after apply().
    notes: list[str] = field(default_factory=list)
    # The values are one batch of a column whose whole was checked before (Spark's Arrow
    # batches: lacuna.spark.anonymize checks the column's spread over every row first).
    batch: bool = False

    def settings(self) -> Config:
        if self.config is not None:
            return self.config
        from lacuna.config import active_config

        return active_config()

    def keystore(self) -> KeyStore:
        if self.keys is not None:
            return self.keys
        from lacuna.keystore import keystore_for

        return keystore_for(self.settings())


class Strategy(ABC):
    """An anonymization strategy: replaces a column's values, keeps nulls null."""

    name: ClassVar[str]
    description: ClassVar[str] = ""

    @abstractmethod
    def apply(self, values: pd.Series, context: Context) -> pd.Series:
        """The anonymized column: same index and length as ``values``; nulls stay null."""

    def classify(self, before: ColumnClass | None, notes: Sequence[str]) -> ColumnClass:
        """What the output column is now, honestly. Override it to say so: ``public`` when
        nothing of the value is left (``redact``), an identifier for a keyed pseudonym, a
        quasi-identifier for a generalised date of birth.

        Default: what the column was (personal data when it was not classified). A strategy
        that does not say what its output is never declassifies it: an ``upper()`` registered
        as a strategy would otherwise have made every e-mail address public.
        """
        return unchanged_class(self.name, before, notes)

    def privacy_cost(self, before: ColumnClass | None,  # noqa: ARG002 (for overrides)
                     config: Config) -> float:  # noqa: ARG002
        """The epsilon one release of a column (of class ``before``) spends from the privacy
        budget of what it came from (:mod:`lacuna.anonymize.budget`). Default 0: only a
        differentially private release, whose protection wears out as releases add up,
        spends; a hash or a mask is the same output however often it is made."""
        return 0.0


strategies = Registry[type[Strategy]](kind="anonymization strategy")


def register(cls: type[Strategy]) -> type[Strategy]:
    """Class decorator: add a strategy to the default registry under its ``name``."""
    return strategies.register(cls.name)(cls)


def output_class(
    strategy: str,
    before: ColumnClass | None,
    notes: Sequence[str],
    *,
    kind: str,
    pii_type: str | None = None,
    sensitivity: str = "low",
    what: str = "",
) -> ColumnClass:
    """The re-classified column: ``kind`` with reasoning naming the strategy, its notes (key id
    and version, epsilon) and what the column was."""
    from lacuna.model import ColumnClass, ColumnKind, Evidence, Layer, Sensitivity

    was = describe(before)
    detail = "; ".join(notes)
    said = f"{what}; " if what else ""
    reasoning = f"{strategy}: {said}{detail + '; ' if detail else ''}was {was}"
    return ColumnClass(
        classification=ColumnKind.parse(kind),
        pii_type=pii_type,
        sensitivity=Sensitivity.parse(sensitivity),
        confidence=1.0,
        reasoning=f"anonymized with {reasoning}",
        layer=Layer.DECLARED,
        evidence=(Evidence(source="anonymize", rule=f"anonymize:{strategy}",
                           detail=f"values replaced by the {strategy} strategy; "
                                  f"{detail + '; ' if detail else ''}was {was}"),),
    )


def unchanged_class(strategy: str, before: ColumnClass | None, notes: Sequence[str]
                    ) -> ColumnClass:
    """The class of a column treated by a strategy that does not say what its output is: the
    class it had (``pii`` when it had none), with reasoning saying why and how to fix it."""
    from dataclasses import replace

    what = ("the strategy does not say what its output is (it does not override "
            "Strategy.classify), so the column keeps its class")
    if before is not None and before.is_personal:
        out = output_class(strategy, before, notes, kind=before.classification.value,
                           pii_type=before.pii_type, sensitivity=before.sensitivity.value,
                           what=what)
        return replace(out, confidence=before.confidence)
    if before is not None:
        return replace(before, reasoning=f"{before.reasoning}; treated with {strategy}: {what}")
    return output_class(strategy, before, notes, kind="pii", sensitivity="high",
                        what=f"{what}; it was unclassified, so it is taken as personal data")


def describe(column: ColumnClass | None) -> str:
    """``pii:email``, ``financial``, or ``unclassified``."""
    if column is None:
        return "unclassified"
    kind = column.classification.value
    return f"{kind}:{column.pii_type}" if column.pii_type else kind


def present_text(values: pd.Series) -> tuple[np.ndarray, pd.Series]:
    """Where ``values`` is not null, and those values as Python strings (``str()`` of numbers,
    dates, ...; a float that is a whole number as that integer; bytes decoded), in order, on a
    fresh index."""
    import pandas as pd

    mask = values.notna().to_numpy(dtype=bool)
    kept = values.to_numpy(dtype=object)[mask]
    if not isinstance(values.dtype, pd.StringDtype):  # a string dtype holds only str already
        kept = [_text(v) for v in kept]
    return mask, pd.Series(kept, dtype=object)


def fill(
    original: pd.Series, mask: np.ndarray, treated: Sequence[object] | np.ndarray
) -> pd.Series:
    """``original`` with the positions in ``mask`` replaced by ``treated``; nulls stay as they are.

    A string-dtype column keeps its dtype; anything else becomes ``object`` (a masked or hashed
    number is a string).
    """
    import numpy as np
    import pandas as pd

    out = original.astype(object)  # a new Series (copy-on-write in pandas 3)
    out.iloc[np.flatnonzero(mask)] = np.asarray(treated, dtype=object)
    if pd.api.types.is_string_dtype(original.dtype) and original.dtype != object:
        out = out.astype(original.dtype)
    return out


def _text(value: object) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "surrogateescape")
    if isinstance(value, float) and value.is_integer() and abs(value) < _EXACT_INTEGERS:
        # an integer column with a null is float64 in pandas: its 1001.0 is the 1001 of the
        # same ids elsewhere (a hash or token of "1001.0" would not join with "1001")
        return str(int(value))
    return str(value)


_EXACT_INTEGERS = 2.0**53  # every integer below it is exactly a float64
