"""What the lineage store's queries answer with: a graph around one dataset, and completeness."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field

from lacuna.lineage.records import ColumnEdge, DatasetRef, DatasetVersion
from lacuna.model import FrozenDict


class Direction(enum.StrEnum):
    UPSTREAM = "upstream"
    DOWNSTREAM = "downstream"


@dataclass(frozen=True, slots=True, order=True)
class LineageEdge:
    """``child`` was produced from ``parent`` by run ``run_id``."""

    parent: DatasetRef
    child: DatasetRef
    run_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class LineageGraph:
    """The datasets reachable from ``root`` in one direction, each with its latest version.

    ``nodes`` maps every reached dataset (``root`` included) to its latest produced version, or
    None when the store knows the dataset only as a name (an edge end without a version).
    ``depths`` is the number of hops from ``root`` (0 for the root). ``edges`` are the
    dataset-level edges walked; ``column_edges`` those of the runs behind ``edges``.
    ``truncated``: the walk stopped at its ``limit`` of datasets (the nearest ones are here,
    with the edges between them); more are reachable.
    """

    root: DatasetRef
    direction: Direction
    nodes: Mapping[DatasetRef, DatasetVersion | None] = field(default_factory=dict)
    depths: Mapping[DatasetRef, int] = field(default_factory=dict)
    edges: tuple[LineageEdge, ...] = ()
    column_edges: tuple[ColumnEdge, ...] = ()
    truncated: bool = False

    def __post_init__(self) -> None:
        for name in ("nodes", "depths"):
            value = getattr(self, name)
            if not isinstance(value, FrozenDict):
                object.__setattr__(self, name, FrozenDict(value))

    def __len__(self) -> int:
        return len(self.nodes)

    def __contains__(self, dataset: object) -> bool:
        return dataset in self.nodes

    def parents(self, dataset: DatasetRef) -> tuple[DatasetRef, ...]:
        """Direct parents of ``dataset`` among the walked edges, in sorted order."""
        return tuple(sorted({e.parent for e in self.edges if e.child == dataset}))

    def children(self, dataset: DatasetRef) -> tuple[DatasetRef, ...]:
        """Direct children of ``dataset`` among the walked edges, in sorted order."""
        return tuple(sorted({e.child for e in self.edges if e.parent == dataset}))


@dataclass(frozen=True, slots=True, kw_only=True)
class Completeness:
    """The seed's "lineage completeness", from the store (see ``LineageStore.completeness``).

    ``derived`` counts datasets some recorded run produced; ``complete`` those among them whose
    every input is known. ``proprietary_*`` restrict both to datasets whose latest
    classification is PROPRIETARY. ``sources`` counts datasets only ever read (raw inputs).
    ``incomplete`` names up to 50 derived datasets that are not complete, for follow-up.
    """

    derived: int
    complete: int
    proprietary_derived: int
    proprietary_complete: int
    sources: int
    incomplete: tuple[DatasetRef, ...] = ()

    @property
    def ratio(self) -> float:
        """Share of derived datasets with complete lineage; 1.0 when nothing was derived."""
        return self.complete / self.derived if self.derived else 1.0

    @property
    def proprietary_ratio(self) -> float:
        """The same share among PROPRIETARY datasets; 1.0 when there are none."""
        if not self.proprietary_derived:
            return 1.0
        return self.proprietary_complete / self.proprietary_derived

    def to_dict(self) -> dict[str, object]:
        return {
            "derived": self.derived,
            "complete": self.complete,
            "ratio": round(self.ratio, 4),
            "proprietary_derived": self.proprietary_derived,
            "proprietary_complete": self.proprietary_complete,
            "proprietary_ratio": round(self.proprietary_ratio, 4),
            "sources": self.sources,
            "incomplete": [str(d) for d in self.incomplete],
        }
