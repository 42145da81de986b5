"""Step 3 as one host-neutral hand-over: what happened in, classification and column edges out.

An integration (pandas today; Spark, polars, SQL and dbt next) never applies an inheritance
rule itself. It describes an operation that combined or aggregated data as a :class:`Step` —
the kind of operation, its inputs (each with the classification, lineage and column origins it
had), the output's column labels, the column mapping when the host knows one, and an accessor
for values when a rule needs them — and hands it to ``Governor.inherit``, which calls
:func:`inherit` with the governor's settings. It gets back a :class:`StepResult`: the output's
classification, its lineage node and where each output column came from (its column edges).

Rules applied (:mod:`lacuna.lineage.rules`):

- :attr:`StepKind.COMBINE` (merge, join, concat, union): :func:`rules.combine`; an output
  column mapped to input columns gets the strictest of their classes; its origins are theirs.
- :attr:`StepKind.AGGREGATE` (group-by): :func:`rules.aggregate`, with ``k`` computed by
  :func:`lacuna.privacy.smallest_group` over the group keys' values (read through
  :attr:`Step.values` only when personal data is involved); outputs get aggregation edges.
- :attr:`StepKind.DERIVE` (select, rename, computed columns of one input): an output mapped
  to input columns takes the strictest of their classes (:func:`rules.reassign`; an output in
  :attr:`Step.functions` gets transformation edges, else identity); outputs that are all kept
  input columns are :func:`rules.project`. The input's lineage node is kept (no new node).

Nothing here imports the governor or a host library: settings are passed in.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from lacuna.config import ClassificationConfig
from lacuna.lineage import rules
from lacuna.lineage.records import EdgeKind
from lacuna.lineage.state import DataState, LineageNode, Origin, Origins
from lacuna.model import Classification, ColumnClass, FrozenDict

ColumnMap = Mapping[str, tuple[tuple[int, str], ...]]  # output -> ((input index, column), ...)


class StepKind(enum.StrEnum):
    COMBINE = "combine"  # join / merge / concat / union: the most restrictive input wins
    AGGREGATE = "aggregate"  # group-by: may downgrade under the k-anonymity rule
    DERIVE = "derive"  # select / rename / computed columns of one input: the move rule


@dataclass(frozen=True, slots=True, kw_only=True)
class StepInput:
    """One input of a step, as the host saw it."""

    classification: Classification
    lineage: LineageNode
    origins: Origins = field(default_factory=FrozenDict)
    name: str = ""  # for the reasoning line; default: the lineage's source names

    @classmethod
    def of(cls, state: DataState) -> StepInput:
        return cls(classification=state.classification, lineage=state.lineage,
                   origins=state.origins)


@dataclass(frozen=True, slots=True, kw_only=True)
class Step:
    """What an operation did, described by its host.

    Attributes:
        kind: which rule applies.
        operation: the host's name for it, e.g. ``"merge"``, ``"groupby.sum"``.
        inputs: the inputs, left to right.
        outputs: the output's column labels.
        column_map: output column -> the ``(input index, input column)`` pairs it came from,
            when the host knows it (merge suffixes, positional concat). Unmapped outputs are
            matched to input columns by name, then with a ``_x``/``.1`` style suffix removed.
        keys: AGGREGATE: the group keys (they survive into the output).
        aggregates: AGGREGATE: output column -> the input column it aggregates, ``"*"`` for a
            row count, ``None`` when unknown (then treated as possibly personal).
        description: how outputs were computed, e.g. ``"sum"`` (kept on aggregation edges).
        functions: AGGREGATE: output column -> its own function, when outputs differ.
        values: AGGREGATE: ``values(keys)`` returns, for every input row the aggregation
            counted, the key columns' values (or one column of group ids) as a pandas DataFrame;
            Lacuna computes k over all its columns. Called only when the input holds personal
            data. ``None``: k unknown, so no downgrade.
    """

    kind: StepKind
    operation: str
    inputs: tuple[StepInput, ...]
    outputs: tuple[str, ...]
    column_map: ColumnMap | None = None
    keys: tuple[str, ...] = ()
    aggregates: Mapping[str, str | None] = field(default_factory=FrozenDict)
    description: str = ""
    functions: Mapping[str, str] = field(default_factory=FrozenDict)
    values: Callable[[Sequence[str]], Any] | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class StepResult:
    """What the governor hands back: the output's classification, lineage and column origins."""

    classification: Classification
    lineage: LineageNode
    origins: Origins = field(default_factory=FrozenDict)

    @property
    def column_edges(self) -> tuple[tuple[str, Origin], ...]:
        """``(output column, origin)`` pairs: where each output column came from, and how."""
        return tuple((out, o) for out, found in self.origins.items() for o in found)

    def state(self) -> DataState:
        """The result as the state a host attaches to its output (no fingerprints: the next
        boundary verifies the values)."""
        return DataState(classification=self.classification, lineage=self.lineage,
                         origins=self.origins)


def inherit(step: Step, config: ClassificationConfig) -> StepResult:
    """Apply the inheritance rule of ``step.kind`` (see the module docstring)."""
    if not step.inputs:
        msg = f"step {step.operation!r} has no inputs: there is nothing to inherit from"
        raise ValueError(msg)
    lineage = LineageNode(name=None, operation=step.operation,
                          parents=tuple(i.lineage for i in step.inputs))
    if step.kind is StepKind.AGGREGATE:
        return _aggregate(step, config, lineage)
    if step.kind is StepKind.DERIVE:
        return _derive(step, config)
    return _join(step, config, lineage)


def _derive(step: Step, config: ClassificationConfig) -> StepResult:
    """One input's columns selected, renamed or computed into ``step.outputs``."""
    source = step.inputs[0]
    parent = source.classification
    mapped = dict(step.column_map or {})
    outputs = list(dict.fromkeys(step.outputs))
    kept = [o for o in outputs if o not in mapped]
    if all(o in parent.columns for o in outputs) and all(
            sources == ((0, out),) and out not in step.functions
            for out, sources in mapped.items()):  # a pure projection
        classification = rules.project(parent, outputs, config)
        origins = {k: v for k, v in source.origins.items() if k in outputs}
        return StepResult(classification=classification, lineage=source.lineage,
                          origins=FrozenDict(origins))
    assigned: dict[str, ColumnClass] = {}
    origins = {k: v for k, v in source.origins.items() if k in kept}
    for out, sources in mapped.items():
        best: ColumnClass | None = None
        for _, col in sources:
            found = parent.columns.get(col)
            if found is None:
                best = None
                break
            best = rules.stricter(best, found, config)
        if best is None:
            continue  # untraceable: classified from its values at the next boundary
        assigned[out] = rules.keeping_mark(
            rules.carrying_pieces(best, (parent.columns[c] for _, c in sources)), out,
            ((c, parent.columns[c]) for _, c in sources))
        how = step.functions.get(out)
        found_origins = _union(
            o if how is None else o.then(EdgeKind.TRANSFORMATION, how)
            for _, col in sources for o in source.origins.get(col, ()))
        if found_origins:
            origins[out] = found_origins
    removed = [c for c in parent.columns if c not in outputs]
    classification = rules.reassign(parent, assigned, config, removed=removed,
                                    reason=step.description or step.operation)
    return StepResult(classification=classification, lineage=source.lineage,
                      origins=FrozenDict(origins))


def _join(step: Step, config: ClassificationConfig, lineage: LineageNode) -> StepResult:
    names = [i.name or ", ".join(i.lineage.roots()) for i in step.inputs]
    combined = rules.combine([i.classification for i in step.inputs], config, names=names)
    columns: dict[str, ColumnClass] = dict(combined.columns)
    origins: dict[str, tuple[Origin, ...]] = {}
    for out in step.outputs:
        sources = _sources(step, out, columns)
        best: ColumnClass | None = None
        founds: list[tuple[str, ColumnClass]] = []
        for index, col in sources:
            found = step.inputs[index].classification.columns.get(col)
            if found is not None:
                best = rules.stricter(best, found, config)
                founds.append((col, found))
        mapped = step.column_map is not None and out in step.column_map
        if best is not None and (mapped or out not in columns):
            columns[out] = rules.keeping_mark(
                rules.carrying_pieces(best, (f for _, f in founds)), out, founds)
        merged = _union(o for index, col in sources
                        for o in step.inputs[index].origins.get(col, ()))
        if merged:
            origins[out] = merged
    joined = rules.held_together(replace(combined, columns=columns), config)
    return StepResult(classification=joined, lineage=lineage, origins=FrozenDict(origins))


def _sources(
    step: Step, out: str, columns: Mapping[str, ColumnClass]
) -> tuple[tuple[int, str], ...]:
    """The input columns an output column came from: the host's mapping, else by name, else by
    name without a suffix (``email_x`` -> ``email``)."""
    if step.column_map is not None and out in step.column_map:
        return step.column_map[out]
    by_name = tuple((i, out) for i, x in enumerate(step.inputs) if _has(x, out))
    if by_name:
        return by_name
    for cut in range(len(out) - 1, 0, -1):
        if out[cut] in "_." and (base := out[:cut]) and (
                base in columns or any(_has(x, base) for x in step.inputs)):
            return tuple((i, base) for i, x in enumerate(step.inputs) if _has(x, base))
    return ()


def _has(item: StepInput, column: str) -> bool:
    return column in item.classification.columns or column in item.origins


def _aggregate(step: Step, config: ClassificationConfig, lineage: LineageNode) -> StepResult:
    source = step.inputs[0]
    parent = source.classification
    min_size: int | None = None
    if rules.involves_personal_data(parent, config) and step.values is not None:
        from lacuna.privacy import smallest_group  # the one k computation

        if step.keys:
            frame = step.values(list(step.keys))
            min_size = smallest_group(frame, [str(c) for c in frame.columns])
    classification = rules.aggregate(parent, keys=step.keys, outputs=step.aggregates,
                                     min_group_size=min_size, config=config)
    origins: dict[str, tuple[Origin, ...]] = {}
    for key in step.keys:
        if source.origins.get(key):
            origins[key] = tuple(o.then(EdgeKind.IDENTITY, "group key")
                                 for o in source.origins[key])
    what = step.description or step.operation.rsplit(".", 1)[-1]
    for out, col in step.aggregates.items():
        if col is not None and col != "*" and source.origins.get(col):
            how = step.functions.get(out, what)
            origins[out] = tuple(o.then(EdgeKind.AGGREGATION, how) for o in source.origins[col])
    return StepResult(classification=classification, lineage=lineage,
                      origins=FrozenDict(origins))


def _union(origins: Any) -> tuple[Origin, ...]:
    return tuple(dict.fromkeys(origins))


__all__ = ["ColumnMap", "Step", "StepInput", "StepKind", "StepResult", "inherit"]
