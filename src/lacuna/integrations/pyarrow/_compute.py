"""Arrow's joins and group-bys described as lineage steps for ``Governor.inherit``.

``Table.join``/``Dataset.join`` (and ``join_asof``) and ``Table.group_by(...).aggregate(...)``
are methods of compiled types, but they delegate to pure-Python functions of
:mod:`pyarrow.acero` (``_perform_join``, ``_perform_join_asof``, ``_group_by``), looked up on the
module at each call. Those are hooked; each translates its arguments into a :class:`Step`:

- a join: the combine rule, each output column mapped to the input columns it comes from (a
  key both sides have unsuffixed comes from both, a suffixed name from its side);
- a group-by: the aggregation rule, each output (``<column>_<function>``) mapped to the column
  it aggregates (``"*"`` for Arrow's counts), with k computed over the key columns' values.

Nothing here applies a rule; the result carries the state the governor hands back.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from lacuna import _bypass
from lacuna.integrations.frames.hooks import outermost
from lacuna.lineage import rules
from lacuna.lineage.state import DataState
from lacuna.lineage.step import ColumnMap, Step, StepInput, StepKind
from lacuna.model import FrozenDict

Make = Callable[[Callable[..., Any]], Callable[..., Any]]
# Arrow's counting aggregations in the shared vocabulary (rules.COUNTING_FUNCTIONS)
_COUNTS = {"count": "count", "count_all": "size", "count_distinct": "nunique"}


def _inherit(step: Step) -> DataState:
    from lacuna.governor import current

    return current().inherit(step).state()


def _state(obj: Any) -> DataState:
    from lacuna.integrations.pyarrow import input_state

    return input_state(obj)


def _carrying(result: Any, state: DataState) -> Any:
    from lacuna.integrations.pyarrow import carrying

    return carrying(result, state)


def _names(obj: Any) -> list[str]:
    return [str(n) for n in obj.schema.names]


def _listed(keys: Any) -> list[str]:
    if keys is None:
        return []
    return [keys] if isinstance(keys, str) else [str(k) for k in keys]


def join_map(outputs: Sequence[str], sides: Sequence[Sequence[str]],
             suffixes: Sequence[str | None],
             keys: Sequence[tuple[str, str]] = ()) -> ColumnMap:
    """Output column -> the ``(side, column)`` pairs it comes from: a join key from both key
    columns (Arrow coalesces them), another name from the side that has it unsuffixed, else
    from the side whose suffix it carries."""
    out: dict[str, tuple[tuple[int, str], ...]] = {}
    for name in outputs:
        holders = [i for i, cols in enumerate(sides) if name in cols]
        if len(holders) > 1:
            holders = [i for i in holders if not suffixes[i]] or holders
        found = tuple((i, name) for i in holders)
        if not found:
            for i, cols in enumerate(sides):
                sfx = suffixes[i] or ""
                if sfx and name.endswith(sfx) and name[: -len(sfx)] in cols:
                    found = ((i, name[: -len(sfx)]),)
                    break
        for left, right in keys:
            if name in (left, right) and found and all(s == found[0][0] for s, _ in found):
                found = ((0, left), (1, right))
        if found:
            out[name] = found
    return out


def _joined(operation: str, left: Any, right: Any, result: Any,
            suffixes: Sequence[str | None], keys: Sequence[tuple[str, str]]) -> Any:
    outputs = _names(result)
    step = Step(kind=StepKind.COMBINE, operation=operation,
                inputs=(StepInput.of(_state(left)), StepInput.of(_state(right))),
                outputs=tuple(outputs),
                column_map=FrozenDict(join_map(outputs, [_names(left), _names(right)],
                                               suffixes, keys)))
    return _carrying(result, _inherit(step))


def perform_join(original: Callable[..., Any]) -> Callable[..., Any]:
    """``acero._perform_join(join_type, left, left_keys, right, right_keys, ...)``."""

    def join(join_type: Any, left: Any, left_keys: Any, right: Any, right_keys: Any,
             *args: Any, **kwargs: Any) -> Any:
        with outermost():
            result = original(join_type, left, left_keys, right, right_keys, *args, **kwargs)
        suffixes = (kwargs.get("left_suffix", args[0] if args else None),
                    kwargs.get("right_suffix", args[1] if len(args) > 1 else None))
        right_names = _listed(right_keys) or _listed(left_keys)
        keys = list(zip(_listed(left_keys), right_names, strict=False))
        return _joined(f"pyarrow.join.{join_type}", left, right, result, suffixes, keys)

    return join


def perform_join_asof(original: Callable[..., Any]) -> Callable[..., Any]:
    """``acero._perform_join_asof(left, left_on, left_by, right, right_on, right_by, ...)``."""

    def join_asof(left: Any, left_on: Any, left_by: Any, right: Any, right_on: Any,
                  right_by: Any, *args: Any, **kwargs: Any) -> Any:
        with outermost():
            result = original(left, left_on, left_by, right, right_on, right_by, *args,
                              **kwargs)
        keys = list(zip([*_listed(left_on), *_listed(left_by)],
                        [*_listed(right_on), *_listed(right_by)], strict=False))
        return _joined("pyarrow.join_asof", left, right, result, (None, None), keys)

    return join_asof


def group_by(original: Callable[..., Any]) -> Callable[..., Any]:
    """``acero._group_by(table, aggregates, keys)``; ``aggregates`` as ``TableGroupBy.aggregate``
    builds them: ``(columns, function, options, output name)``."""

    def aggregate(table: Any, aggregates: Any, keys: Any, *args: Any, **kwargs: Any) -> Any:
        with outermost():
            result = original(table, aggregates, keys, *args, **kwargs)
        key_names = _listed(keys)
        outputs: dict[str, str | None] = {}
        functions: dict[str, str] = {}
        for spec in aggregates:
            targets, func, name = _listed(spec[0]), str(spec[1]), str(spec[-1])
            func = func.removeprefix("hash_")
            functions[name] = func
            if _COUNTS.get(func) in rules.COUNTING_FUNCTIONS:
                outputs[name] = "*"
            else:
                outputs[name] = targets[0] if len(targets) == 1 else None

        def values(_keys: Sequence[str]) -> Any:
            with _bypass.bypass(), outermost():
                return table.select(key_names).to_pandas()

        step = Step(kind=StepKind.AGGREGATE, operation="pyarrow.group_by.aggregate",
                    inputs=(StepInput.of(_state(table)),), outputs=tuple(_names(result)),
                    keys=tuple(key_names), aggregates=FrozenDict(outputs),
                    functions=FrozenDict(functions), values=values)
        return _carrying(result, _inherit(step))

    return aggregate


def hooks() -> list[tuple[Any, str, Make]]:
    """The acero functions to hook, where this pyarrow has them (acero is an optional part of
    an Arrow build: without it Arrow has no join or group-by to follow)."""
    try:
        import pyarrow.acero as pac
    except ImportError:
        return []
    specs: list[tuple[Any, str, Make]] = [
        (pac, "_perform_join", perform_join),
        (pac, "_perform_join_asof", perform_join_asof),
        (pac, "_group_by", group_by),
    ]
    return [(owner, name, make) for owner, name, make in specs if hasattr(owner, name)]


__all__ = ["group_by", "hooks", "join_map", "perform_join", "perform_join_asof"]
