"""The governance state that travels with a pandas object: classification and lineage.

It lives in ``obj.attrs["lacuna"]``. pandas propagates ``attrs`` through most operations by
itself (filters, sorts, copies, assign, ...), which is exactly the "inherit" rule; the pandas
integration overrides it where a rule says otherwise (merge, concat, projection, aggregation).
``DataState`` is immutable and returns itself from ``__deepcopy__``, so pandas' per-operation
deep copy of ``attrs`` costs nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from lacuna.lineage.attribution import Raised
from lacuna.lineage.records import DatasetRef, EdgeKind
from lacuna.model import Classification, FrozenDict

ATTRS_KEY = "lacuna"


@dataclass(frozen=True, slots=True, kw_only=True)
class LineageNode:
    """One dataset in a lineage graph: a source (no parents) or the result of an operation."""

    name: str | None  # a path/URI/table for sources; None for intermediate results
    operation: str  # "read_csv", "merge", "groupby.sum", "anonymize", ...
    parents: tuple[LineageNode, ...] = ()
    # A dataset Lacuna can name (a file read, a table): a governed export records it as an
    # input of its run, with the classification it had when read.
    ref: DatasetRef | None = None
    classification: Classification | None = field(default=None, compare=False, repr=False)
    # Which part of ``classification`` an ingested claim raised (a read of a file a claim
    # raises): recorded with the input version, so a steward's dismissal takes it back
    raised: Raised | None = field(default=None, compare=False, repr=False)
    # When the data read here was first seen, as its trusted declaration says (a signed
    # sidecar's ``first_seen``): a write derived from it takes that clock (lacuna.lineage.clock)
    first_seen: datetime | None = field(default=None, compare=False, repr=False)
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])

    def __deepcopy__(self, memo: dict[int, Any]) -> LineageNode:
        return self

    def __hash__(self) -> int:
        """By ``id`` (nodes that compare equal share it): the generated hash hashed every
        parent, every path of them, exponential in a lineage that shares nodes."""
        return hash(self.id)

    def roots(self) -> tuple[str, ...]:
        """The source datasets this one derives from, in first-seen order, without repeats.

        Each node is visited once, without recursion: a lineage where outputs feed several
        later steps (each day's file made from the two before it) shares nodes, and walking
        every path took exponential time (38 such steps restored from the store: 70 s)."""
        seen: dict[str, None] = {}
        visited: set[int] = set()
        stack: list[LineageNode] = [self]
        while stack:
            node = stack.pop()
            if id(node) in visited:
                continue
            visited.add(id(node))
            if not node.parents:
                seen.setdefault(node.name or f"<{node.operation}>", None)
            stack.extend(reversed(node.parents))
        return tuple(seen)

    def paths(self, limit: int | None = None) -> tuple[tuple[LineageNode, ...], ...]:
        """Every path from a source down to this node; with ``limit``, the first ``limit``
        (shared nodes make the count exponential: 2^n for n steps that each read the two
        before them). Depth-first, without recursion."""
        found: list[tuple[LineageNode, ...]] = []
        stack: list[tuple[LineageNode, tuple[LineageNode, ...]]] = [(self, (self,))]
        while stack and (limit is None or len(found) < limit):
            node, below = stack.pop()
            if not node.parents:
                found.append(below)
            stack.extend((p, (p, *below)) for p in reversed(node.parents))
        return tuple(found)


# How strongly an edge changed its content: composing two edges keeps the stronger kind.
_KIND_ORDER = {EdgeKind.IDENTITY: 0, EdgeKind.TRANSFORMATION: 1, EdgeKind.AGGREGATION: 2,
               EdgeKind.MASKING: 3}


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a column's content came from: ``column`` of a named dataset, and by what."""

    dataset: DatasetRef
    column: str
    kind: EdgeKind = EdgeKind.IDENTITY
    description: str = ""

    def then(self, kind: EdgeKind, description: str = "") -> Origin:
        """This origin seen through one more edge of ``kind`` (the stronger kind is kept)."""
        stronger = kind if _KIND_ORDER[kind] > _KIND_ORDER[self.kind] else self.kind
        text = "; ".join(d for d in (self.description, description) if d)
        return Origin(self.dataset, self.column, stronger, text)


Origins = Mapping[str, tuple[Origin, ...]]


@dataclass(frozen=True, slots=True, kw_only=True)
class DataState:
    """What Lacuna knows about one pandas object.

    ``fingerprints`` maps each column label to a fingerprint of the content its class was
    computed from (:mod:`lacuna.lineage.content`); a label without one is re-checked from its
    values at the next boundary.

    ``origins`` maps each column label to the columns of named datasets (files, tables) its
    content came from, and by what kind of edge: the column lineage a governed write records.
    A label without origins was computed or built in memory (no edge is claimed for it).

    ``record_names`` maps each label that is a value (an e-mail address made a column label)
    to the name records give it instead, ``(column N)``: set on the state a write is decided
    and recorded on (:func:`lacuna.lineage.frames.with_header`), whose other maps are keyed by
    those names; empty on the state a frame carries, keyed by its labels.
    """

    classification: Classification
    lineage: LineageNode
    fingerprints: Mapping[str, int] = field(default_factory=FrozenDict)
    origins: Origins = field(default_factory=FrozenDict)
    record_names: Mapping[str, str] = field(default_factory=FrozenDict)

    def __post_init__(self) -> None:
        if not isinstance(self.fingerprints, FrozenDict):
            object.__setattr__(self, "fingerprints", FrozenDict(self.fingerprints))
        if not isinstance(self.origins, FrozenDict):
            object.__setattr__(self, "origins", FrozenDict(self.origins))
        if not isinstance(self.record_names, FrozenDict):
            object.__setattr__(self, "record_names", FrozenDict(self.record_names))

    def __deepcopy__(self, memo: dict[int, Any]) -> DataState:
        return self


def get_state(obj: Any) -> DataState | None:
    attrs = getattr(obj, "attrs", None)
    if not attrs:
        return None
    state = attrs.get(ATTRS_KEY)
    return state if isinstance(state, DataState) else None


def set_state(obj: Any, state: DataState) -> Any:
    obj.attrs[ATTRS_KEY] = state
    return obj
