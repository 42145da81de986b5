"""Values carried outside any frame (an Arrow array, a polars Series) placed in a frame.

An Arrow array taken out of a governed table and a polars Series taken out of a governed frame
keep where their values were read from: one :class:`Source` per frame (its state and the
columns read). When such values enter a frame, the step is the one the same computation written
as a select would have been: for each source, ``source.select(<computation>.alias(name))`` (a
``DERIVE`` step, :func:`derived`), combined with the frame they entered (a ``COMBINE`` step,
:func:`state_with_placed`; the rule itself is :func:`lacuna.lineage.rules.combine`), both
through ``Governor.inherit``: the decision, the audit record and the lineage see the salary
behind ``x``. The pyarrow integration (:mod:`lacuna.integrations.pyarrow`)
and the polars one (:mod:`lacuna.integrations.polars._series`) both describe it here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from lacuna.lineage.state import DataState
from lacuna.lineage.step import Step, StepInput, StepKind
from lacuna.model import FrozenDict


@dataclass(frozen=True, slots=True, eq=False)
class Source:
    """One governed frame some values were read from: its state and the columns read. Equal
    by the state's identity (a state is shared, never copied, and hashing it whole would cost
    a walk of its lineage on every look-up)."""

    state: DataState
    columns: tuple[str, ...]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Source) and other.state is self.state and \
            other.columns == self.columns

    def __hash__(self) -> int:
        return hash((id(self.state), self.columns))


@dataclass(frozen=True, slots=True)
class Placed:
    """Values placed in a frame as column ``column``: where they were read from, and the
    computation that made them (``how``, empty for none: an identity edge)."""

    column: str
    sources: Sequence[Source]
    how: str = ""


def derived(source: Source, out: str, *, operation: str, label: str, how: str = ""
            ) -> StepInput:
    """The values as the select they amount to on one source:
    ``source.select(<computation on its columns>.alias(out))`` (a ``DERIVE`` step named
    ``operation``, described as ``label``: "polars Series", "pyarrow array")."""
    from lacuna.governor import current

    step = Step(kind=StepKind.DERIVE, operation=operation,
                inputs=(StepInput.of(source.state),), outputs=(out,),
                column_map=FrozenDict({out: tuple((0, c) for c in source.columns)}),
                functions=FrozenDict({out: f"{label}: {how}"} if how else {}),
                description=f"{label}: {'+'.join(source.columns)} → {out}")
    return StepInput.of(current().inherit(step).state())


def state_with_placed(operation: str, target: DataState | None, outputs: Sequence[str],
                      placed: Sequence[Placed], *, derive: str, label: str) -> DataState:
    """The frame with columns ``outputs`` that ``placed`` values entered: ``target`` (the state
    of the frame they entered, None when there was none or it is untracked) combined with each
    placement derived from its sources (:func:`derived`), output column ``column`` from the
    values placed as it (a ``COMBINE`` step named ``operation``). The first placement of a
    column replaces what ``target`` says of it; a later one adds to it. Columns neither
    explains are classified at the next boundary."""
    from lacuna.governor import current

    inputs: list[StepInput] = []
    column_map: dict[str, tuple[tuple[int, str], ...]] = {}
    if target is not None:
        inputs.append(StepInput.of(target))
        column_map = {c: ((0, c),) for c in outputs if c in target.classification.columns}
    replaced: set[str] = set()
    for placement in placed:
        out = placement.column
        pairs = column_map.get(out, ()) if out in replaced else ()
        for source in placement.sources:
            inputs.append(derived(source, out, operation=derive, label=label,
                                  how=placement.how))
            pairs = (*pairs, (len(inputs) - 1, out))
        column_map[out] = pairs
        replaced.add(out)
    step = Step(kind=StepKind.COMBINE, operation=operation, inputs=tuple(inputs),
                outputs=tuple(outputs), column_map=FrozenDict(column_map))
    return current().inherit(step).state()


__all__ = ["Placed", "Source", "derived", "state_with_placed"]
