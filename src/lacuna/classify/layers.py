"""The cascade's plug-in point: a layer that re-decides the columns the one before was unsure of.

Layer 1 (heuristics) always runs. Every later layer is a :class:`CascadeLayer`: it receives the
columns still below their threshold, each as a :class:`ColumnInput` carrying the best answer so
far (with its evidence) and the sampled values, and returns one
:class:`~lacuna.model.ColumnClass` per column. A layer that cannot run here says why in
:meth:`CascadeLayer.status`; ``lacuna classify --explain`` prints it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar

from lacuna.classify import shapes
from lacuna.model import ColumnClass, ColumnKind, Evidence, Layer

if TYPE_CHECKING:
    from lacuna.classify.scan import ColumnSample


@dataclass(frozen=True, slots=True)
class LayerStatus:
    """Whether a layer runs here, and the sentence that says so (or why not)."""

    name: str
    on: bool
    reason: str
    pending: bool = False  # off for now, but getting ready (asked again on the next use)


@dataclass(frozen=True, slots=True)
class ColumnInput:
    """One column handed to a later layer: the answer so far and what it was based on."""

    name: str
    current: ColumnClass
    sample: ColumnSample | None = None
    earlier: tuple[ColumnClass, ...] = ()  # every earlier layer's answer, first layer first
    _shapes: list[tuple[str, ...]] = field(default_factory=list, repr=False, compare=False)

    @property
    def shapes(self) -> tuple[str, ...]:
        """The most common value shapes (``Aaaa Aaaa``), computed once on demand."""
        if not self._shapes:
            self._shapes.append(shapes.top_shapes(self.sample))
        return self._shapes[0]

    @property
    def scanned(self) -> bool:
        """Whether string values were sampled and scanned (so silence of a validator counts)."""
        return self.sample is not None and len(self.sample) > 0 and not self.sample.from_integers

    def value_rules(self) -> frozenset[str]:
        """The value recognizers that fired on this column (``value:email`` -> ``email``)."""
        return frozenset(e.rule.split(":", 1)[1] for e in self.current.evidence
                         if e.source == "value" and e.rule.startswith("value:"))


class CascadeLayer(ABC):
    """Layer 2 or 3 of the cascade."""

    name: ClassVar[str]
    layer: ClassVar[Layer]

    @abstractmethod
    def status(self) -> LayerStatus:
        """Whether this layer can run with the current settings and installed packages."""

    @abstractmethod
    def decide(self, columns: Sequence[ColumnInput]) -> list[ColumnClass]:
        """One column class per input column, in order; never raises for a column's data."""


# Value recognizers that confirm a type: when values were scanned and none of these fired, a
# name-only answer of that type is a near miss ("reads as a phone, but no value parses").
CONFIRMED_BY: dict[str, frozenset[str]] = {
    "email": frozenset({"email", "email_spelled"}),
    "phone": frozenset({"phone"}),
    "card_number": frozenset({"card_number"}),
    "iban": frozenset({"iban"}),
    "ip_address": frozenset({"ipv4", "ipv6"}),
    "ssn": frozenset({"ssn"}),
    "name": frozenset({"person_name"}),
    "address": frozenset({"street_address"}),
    "postal_code": frozenset({"postal_code"}),
    "national_id": frozenset({"national_id", "ssn"}),
    "vin": frozenset({"vin"}),
    "device_id": frozenset({"mac_address"}),
    "gender": frozenset({"gender"}),
    "swift_bic": frozenset({"swift_bic"}),
    "passport": frozenset({"passport"}),
    "drivers_license": frozenset({"drivers_license", "us_drivers_license"}),
}


def contradiction(column: ColumnInput, pii_type: str | None) -> Evidence | None:
    """Value evidence against a name-based answer of type ``pii_type``, if the values say no."""
    rules = CONFIRMED_BY.get(pii_type or "")
    if rules is None or not column.scanned or rules & column.value_rules():
        return None
    n = len(column.sample) if column.sample is not None else 0
    what = pii_type.replace("_", " ") if pii_type else "value"
    return Evidence(source="value", rule=f"near-miss:{pii_type}",
                    detail=f"none of {n} sampled values is a valid {what}", score=0.0)


def stricter(a: ColumnClass, b: ColumnClass) -> ColumnClass:
    """The more protective of two answers: class precedence, then sensitivity."""
    from lacuna.classify.names import PRECEDENCE

    def key(c: ColumnClass) -> tuple[int, int]:
        return PRECEDENCE[c.classification], c.sensitivity.rank

    return b if key(b) > key(a) else a


def is_public(c: ColumnClass) -> bool:
    return c.classification is ColumnKind.PUBLIC
