"""``df.lacuna`` and the seed's spellings ``df.lacuna_classification``, ``_tags``, ``_lineage``."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any

import pandas as pd

from lacuna.integrations.pandas._frames import settings, variable_name
from lacuna.lineage.frames import effective_state, reported, written_state
from lacuna.lineage.state import LineageNode
from lacuna.model import Classification, ColumnClass

REPR_PATHS = 50  # paths a Lineage's repr lists


@dataclass(frozen=True, slots=True)
class Lineage:
    """Where a frame came from. ``str()`` lists each source → the frame, as in the seed."""

    node: LineageNode
    label: str

    @property
    def sources(self) -> tuple[str, ...]:
        return self.node.roots()

    def __str__(self) -> str:
        return "\n".join(f"{root} → {self.label}" for root in self.sources)

    def __repr__(self) -> str:
        paths = []
        found = self.node.paths(limit=REPR_PATHS + 1)  # their count is exponential in depth
        for path in found[:REPR_PATHS]:
            steps = [path[0].name or path[0].operation]
            steps += [f"[{n.operation}]" for n in path[1:]]
            paths.append(" → ".join([*steps, self.label]))
        if len(found) > REPR_PATHS:
            paths.append(f"… more paths (the first {REPR_PATHS} are shown)")
        return "Lineage(\n  " + "\n  ".join(paths) + "\n)"

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:  # IPython shows str(), like print
        p.text("..." if cycle else str(self))


class LacunaAccessor:
    """Governance metadata of a DataFrame or Series."""

    def __init__(self, obj: pd.DataFrame | pd.Series, label: str | None = None) -> None:
        self._obj = obj
        self._label = label

    @property
    def classification(self) -> Classification:
        """Tier, tags, column classes, confidence and reasoning, as of now: with what the
        header and an unnamed index hold, as ``lacuna.check`` and a write decide
        (:func:`lacuna.lineage.frames.reported`)."""
        return reported(written_state(self._obj, settings()))

    @property
    def tags(self) -> list[str]:
        return list(self.classification.tags)

    @property
    def columns(self) -> dict[str, ColumnClass]:
        return dict(self.classification.columns)

    @property
    def lineage(self) -> Lineage:
        label = self._label or variable_name(self._obj, sys._getframe(1)) or "result"
        return Lineage(effective_state(self._obj, settings()).lineage, label)

    def explain(self) -> str:
        """Why the object has its classification: table reasoning, then each column's."""
        c = self.classification
        lines = [
            f"{c.tier.value} (confidence {c.confidence:.2f}); tags: {', '.join(c.tags) or '(none)'}"
        ]
        lines += [f"  {r}" for r in c.reasoning]
        for name, col in c.columns.items():
            kind = col.classification.value + (f"/{col.pii_type}" if col.pii_type else "")
            lines.append(f"  - {name}: {kind}, {col.sensitivity.value} — {col.reasoning}")
        return "\n".join(lines)


def _accessor(self: Any) -> LacunaAccessor:
    return LacunaAccessor(self)


def _classification(self: Any) -> Classification:
    return reported(written_state(self, settings()))


def _tags(self: Any) -> list[str]:
    return list(_classification(self).tags)


def _lineage(self: Any) -> Lineage:
    label = variable_name(self, sys._getframe(1)) or "result"
    return Lineage(effective_state(self, settings()).lineage, label)


PROPERTIES = {
    "lacuna": property(_accessor, doc="Lacuna governance metadata (classification, lineage)."),
    "lacuna_classification": property(_classification, doc="The seed's spelling."),
    "lacuna_tags": property(_tags, doc="The seed's spelling."),
    "lacuna_lineage": property(_lineage, doc="The seed's spelling."),
}
