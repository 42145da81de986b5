"""Combining, reshaping and aggregating: where the inheritance rules differ from "inherit".

merge / join / concat, group-by aggregations and ``value_counts`` are described as a
:class:`~lacuna.lineage.step.Step` (inputs, output labels, the column mapping pandas' arguments
reveal, an accessor for the group keys' values) and handed to ``Governor.inherit``, which
applies the rules and returns the classification, lineage and column origins to attach.

Reshapes whose result pandas builds afresh, without the input's ``attrs`` (``crosstab``,
``pivot``, ``get_dummies``, ``from_dummies``, ``pd.melt``, ``cut``/``qcut``, ``compare``,
``Series.unstack``),
group-by methods that return one row per input row (``transform``, ``ffill``, ``cumsum``, ...)
and window methods (``rolling``, ``expanding``, ``ewm`` and their group-by forms) are combine
steps over their inputs: the result keeps their tier and tags, and an output label
that is not an input column (a value turned into a label) makes the inputs' tier the floor at
the next boundary (``rules.derive``). Nothing untraced comes out lower than what went in.

Everything else inherits through pandas' own propagation of ``attrs``, and projections are
reconciled lazily by ``effective_state``.
"""

from __future__ import annotations

import functools
import inspect
import re
import sys
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from lacuna import _bypass
from lacuna.errors import GovernanceViolation
from lacuna.governor import current
from lacuna.integrations.pandas._frames import governed_here, settings
from lacuna.lineage import frames as tracked
from lacuna.lineage import rules
from lacuna.lineage.content import label_of
from lacuna.lineage.frames import attach, effective_state, grouped_state, labels
from lacuna.lineage.state import DataState, get_state
from lacuna.lineage.step import ColumnMap, Step, StepInput, StepKind
from lacuna.model import Action, FrozenDict

GROUPBY_METHODS = (
    "agg",
    "aggregate",
    "sum",
    "mean",
    "median",
    "min",
    "max",
    "count",
    "nunique",
    "size",
    "std",
    "var",
    "sem",
    "prod",
    "first",
    "last",
    "quantile",
    "describe",
    "ohlc",
)
# group-by methods that return one row per input row (or per kept row): the values stay
# individual-level, so they are not aggregates; they inherit from the grouped table.
GROUPBY_ROW_METHODS = (
    "transform",
    "ffill",
    "bfill",
    "shift",
    "diff",
    "pct_change",
    "rank",
    "cumcount",
    "ngroup",
    "cumsum",
    "cumprod",
    "cummax",
    "cummin",
    "fillna",
    # ``apply`` runs the user's function on each group: its result may be the rows, a value
    # per group or any text made of them (``g.email.str.cat(sep=",")``), and pandas builds a
    # frame's result without attrs. Lacuna cannot tell which, so it is not an aggregate: it
    # inherits from the grouped table, as the per-row methods do (fail closed)
    "apply",
)
# methods of window objects (``rolling``, ``expanding``, ``ewm``, a ``rolling(win_type=...)``
# window, and their group-by forms): one row per input row, each computed from a few of its
# neighbours (a window of one is the row itself), so they inherit like the per-row group-by
# methods. ``pipe`` hands the window to a function, whose calls of these are hooked.
WINDOW_METHODS = (
    "agg", "aggregate", "apply", "corr", "count", "cov", "first", "kurt", "last", "max",
    "mean", "median", "min", "nunique", "quantile", "rank", "sem", "skew", "std", "sum", "var",
)


def _inherit_joined(
    result: Any,
    inputs: Iterable[Any],
    operation: str,
    column_map: Callable[[Any, list[Any]], ColumnMap | None] | None = None,
) -> Any:
    """Hand a combining call to step 3 (``Governor.inherit``) and attach what comes back."""
    if not isinstance(result, (pd.DataFrame, pd.Series)):
        return result
    frames = [x for x in inputs if isinstance(x, (pd.DataFrame, pd.Series))]
    if not frames:
        return result
    states = [effective_state(x, settings(), recheck=False) for x in frames]
    return _inherited_from(result, states, operation,
                           column_map(result, frames) if column_map is not None else None)


def _inherited_from(
    result: Any, states: list[DataState], operation: str, column_map: ColumnMap | None = None
) -> Any:
    step = Step(
        kind=StepKind.COMBINE,
        operation=operation,
        inputs=tuple(StepInput.of(s) for s in states),
        outputs=tuple(labels(result)),
        column_map=column_map,
    )
    return _stepped(result, step)


def _own_labels(obj: Any) -> list[str]:
    return [label_of(obj)] if isinstance(obj, pd.Series) else [str(c) for c in obj.columns]


def _stepped(result: Any, step: Step) -> Any:
    """``result`` with what step 3 (``Governor.inherit``) makes of ``step`` attached; its
    values are checked at the boundary (``verified=False``)."""
    done = current().inherit(step)
    return attach(result, done.classification, done.lineage, verified=False,
                  origins=done.origins)


def _by_name(suffixes: Any) -> Callable[[Any, list[Any]], ColumnMap | None]:
    """Output columns of a merge/join: a label both sides have unsuffixed is the join key (from
    both); otherwise the side that has it, or the side whose suffix it carries."""

    def mapping(result: Any, frames: list[Any]) -> ColumnMap | None:
        if len(frames) != 2 or not isinstance(suffixes, (tuple, list)) or len(suffixes) != 2:
            return None
        sides = [set(_own_labels(f)) | set(labels(f)) for f in frames]
        out: dict[str, tuple[tuple[int, str], ...]] = {}
        for label in labels(result):
            found = tuple((i, label) for i in (0, 1) if label in sides[i])
            if not found:
                for i in (0, 1):
                    sfx = str(suffixes[i] or "")
                    if sfx and label.endswith(sfx) and label[: -len(sfx)] in sides[i]:
                        found = ((i, label[: -len(sfx)]),)
                        break
            if found:
                out[label] = found
        return out

    return mapping


def _side_by_side(result: Any, frames: list[Any]) -> ColumnMap | None:
    """Each column of a side-by-side concat comes from the input column at its position,
    whatever it is called in the result (an unnamed Series becomes ``0``, keys add a level)."""
    if not isinstance(result, pd.DataFrame):
        return None
    sources = [(i, name) for i, obj in enumerate(frames) for name in _own_labels(obj)]
    if len(sources) != result.shape[1]:
        return None
    return {str(label): (src,) for label, src in zip(result.columns, sources, strict=True)}


def _joining(
    operation: str, inputs: Callable[..., list[Any]],
    suffixes: Callable[..., Any] | None = None,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """A wrapper factory for calls whose result combines their inputs (merge, join, and the
    reshapes pandas builds without their inputs' ``attrs``). ``suffixes``: how a merge or join
    names clashing columns, read from its arguments (the column map); None, no column map."""

    def wrap(original: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(original)
        def joined(*args: Any, **kwargs: Any) -> Any:
            if _bypass.active():
                return original(*args, **kwargs)
            result = _run_bypassed(original, *args, **kwargs)
            return _inherit_joined(
                result, inputs(*args, **kwargs), operation,
                _by_name(suffixes(**kwargs)) if suffixes is not None else None)

        return joined

    return wrap


def _two_inputs(left: Any, right: Any, *_: Any, **__: Any) -> list[Any]:
    return [left, right]


def _join_inputs(left: Any, other: Any, *_: Any, **__: Any) -> list[Any]:
    return [left, *(other if isinstance(other, (list, tuple)) else [other])]


wrap_merge = _joining("merge", _two_inputs,
                        lambda suffixes=("_x", "_y"), **_: suffixes)
wrap_join = _joining("join", _join_inputs,
                       lambda lsuffix="", rsuffix="", **_: (lsuffix, rsuffix))


def wrap_concat(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def concat(objs: Any, *args: Any, **kwargs: Any) -> Any:
        if _bypass.active():
            return original(objs, *args, **kwargs)
        if not isinstance(objs, Mapping):
            objs = list(objs)  # a generator can be consumed only once
        inputs = list(objs.values()) if isinstance(objs, Mapping) else objs
        with _bypass.bypass():
            result = original(objs, *args, **kwargs)
        axis = args[0] if args else kwargs.get("axis", 0)
        return _inherit_joined(result, inputs, "concat",
                        _side_by_side if axis in (1, "columns") else None)

    return concat


def _flat(value: Any) -> list[Any]:
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _first_input(data: Any, *_: Any, **__: Any) -> list[Any]:
    return [data]


def _named_input(keyword: str) -> Callable[..., list[Any]]:
    """The frame a function takes first, by position or by its ``keyword``."""
    return lambda *args, **kwargs: [args[0] if args else kwargs.get(keyword)]


def _crosstab_inputs(
    index: Any, columns: Any, values: Any = None, *_: Any, **__: Any
) -> list[Any]:
    return [*_flat(index), *_flat(columns), values]


# Reshapes whose result pandas builds without its inputs' ``attrs``: combine steps over
# their inputs (no column map), so no value leaves with less than it had.
RESHAPES: dict[str, Callable[[Callable[..., Any]], Callable[..., Any]]] = {
    # pandas-module functions (``pd.<name>``)
    "crosstab": _joining("crosstab", _crosstab_inputs),
    "pivot": _joining("pivot", _first_input),
    "get_dummies": _joining("get_dummies", _first_input),
    "from_dummies": _joining("from_dummies", _first_input),
    "melt": _joining("melt", _first_input),
    "cut": _joining("cut", _first_input),
    "qcut": _joining("qcut", _first_input),
    # melted by pandas' own melt, not pd.melt: built without attrs (a renamed e-mail column
    # reshaped long left as PUBLIC)
    "wide_to_long": _joining("wide_to_long", _named_input("df")),
    "lreshape": _joining("lreshape", _named_input("data")),
}
FRAME_RESHAPES: dict[str, Callable[[Callable[..., Any]], Callable[..., Any]]] = {
    # DataFrame methods
    "pivot": _joining("pivot", _first_input),
    "compare": _joining("compare", _two_inputs),
}
SERIES_RESHAPES: dict[str, Callable[[Callable[..., Any]], Callable[..., Any]]] = {
    "compare": _joining("compare", _two_inputs),
    # a new DataFrame (no attrs) whose column labels are an index level's values
    # (``s.unstack("email")``: one column per e-mail address)
    "unstack": _joining("unstack", _first_input),
    # a list-like's elements, one per row: pandas builds the result without attrs
    # (``s.str.split("@").explode()``: the pieces of each e-mail address)
    "explode": _joining("explode", _first_input),
}


def _accessor_input(accessor: Any, *_: Any, **__: Any) -> list[Any]:
    """The Series a ``.str`` accessor belongs to."""
    return [getattr(accessor, "_orig", accessor)]


UTIL_RESHAPES: dict[str, Callable[[Callable[..., Any]], Callable[..., Any]]] = {
    # ``pd.util.hash_pandas_object``: a fixed-key hash of each value (or row), which anyone
    # can compute again from a list of candidate e-mail addresses: pseudonymous, not
    # anonymous (``lacuna.anonymize`` hashes with a secret key); built without attrs
    "hash_pandas_object": _joining("hash_pandas_object", _first_input),
}


STRING_RESHAPES: dict[str, Callable[[Callable[..., Any]], Callable[..., Any]]] = {
    # a frame of every match in every value (``s.str.extractall("(.)")``): built without attrs
    "extractall": _joining("str.extractall", _accessor_input),
}


def wrap_aggregation(method: str, original: Callable[..., Any]) -> Callable[..., Any]:
    """``DataFrame.agg``/``aggregate``, ``Series.agg``/``aggregate`` and ``Series.apply``:
    pandas builds some results without the input's ``attrs`` (a dict of functions,
    ``s.agg([list])``, ``s.apply`` of a function returning a Series), so
    ``df.agg({"date_of_birth": list})`` (every value, in one cell) came out unclassified. A
    result without the input's state inherits from the aggregated columns (the dict's keys, else
    every column) as a combine step: a whole-table aggregation is not a group-by (no k-anonymity
    to check, and ``list`` keeps every value), so nothing comes out lower than what went in."""

    @functools.wraps(original)
    def aggregation(self: Any, *args: Any, **kwargs: Any) -> Any:
        result = original(self, *args, **kwargs)
        known = get_state(self)
        # df.apply(f, axis=1): f sees the whole row, so any output column may hold any input
        # column (pd.Series({"region": row["email"]}) kept pandas' attrs: region was PUBLIC)
        rowwise = (method == "apply" and isinstance(self, pd.DataFrame)
                   and (args[1] if len(args) > 1 else kwargs.get("axis", 0)) in (1, "columns"))
        if (_bypass.active() or known is None or not isinstance(result, (pd.DataFrame, pd.Series))
                or (get_state(result) is known and not rowwise)):
            return result
        func = args[0] if args else kwargs.get("func")
        with _bypass.bypass():
            source = self
            if isinstance(self, pd.DataFrame) and isinstance(func, Mapping):
                picked = [k for k in func if k in self.columns]
                source = self[picked] if picked else self
            states = [effective_state(source, settings(), recheck=False)]
            own = get_state(result)  # what pandas or an inner hook gave it: kept, never lowered
            if own is not None and own is not known:
                states.append(own)
            every = tuple((i, c) for i, st in enumerate(states) for c in st.classification.columns)
            column_map = FrozenDict({o: every for o in labels(result)}) if rowwise else None
            return _inherited_from(result, states, f"{type(self).__name__}.{method}",
                                   column_map)

    return aggregation


# --- conversions: pandas builds the converted values afresh, without attrs ------------------


def wrap_conversion(original: Callable[..., Any]) -> Callable[..., Any]:
    """``pd.to_datetime``, ``pd.to_numeric``, ``pd.to_timedelta``: the converted values are the
    input's (a date of birth parsed is still one), but pandas returns them without its ``attrs``:
    ``pd.to_datetime(df["date_of_birth"])`` left as PUBLIC. The result takes the class of the
    content it was converted from (:func:`lacuna.lineage.frames.computed`): a Series its own, a
    frame of ``year``/``month``/``day`` columns the strictest of them, an Index the class it
    carries (:func:`lacuna.lineage.frames.index_content`), with their floor, tags and lineage.
    Untracked input costs one ``isinstance`` check."""

    @functools.wraps(original)
    def conversion(arg: Any, *args: Any, **kwargs: Any) -> Any:
        result = original(arg, *args, **kwargs)
        if isinstance(arg, (pd.Series, pd.DataFrame)):
            if get_state(arg) is not None and not _bypass.active():
                _converted(result, arg)
        elif isinstance(arg, pd.Index):
            content = tracked.index_content(arg)
            if content is not None:
                tracked.carry(result, content, settings())
        return result

    return conversion


def _converted(result: Any, arg: pd.Series | pd.DataFrame) -> None:
    """``result`` converted from ``arg`` (tracked) takes its content's class."""
    if isinstance(arg, pd.DataFrame):
        with _bypass.bypass():
            operands = [arg.iloc[:, i] for i in range(arg.shape[1])]
    else:
        operands = [arg]
    if isinstance(result, pd.Series):
        if any(tracked.content_of(o) is not None for o in operands):
            tracked.computed(result, operands, settings())
        else:  # the input's own label is untracked: its whole state, never lower
            with _bypass.bypass():
                _inherited_from(result, [effective_state(arg, settings(), recheck=False)],
                                "convert")
    elif isinstance(result, pd.Index):
        contents = [c for c in (tracked.content_of(o) for o in operands) if c is not None]
        if contents:
            tracked.carry(result, tracked.strictest(contents, settings()), settings())


# --- eval: names in a string resolved by pandas ----------------------------------------------

_NAME = re.compile(r"[A-Za-z_][A-Za-z_0-9]*")
_EVAL_SIGNATURE = inspect.signature(pd.eval)


def wrap_eval(original: Callable[..., Any]) -> Callable[..., Any]:
    """``pd.eval("sal * 1")``: pandas computes the result from the objects the expression names
    (in ``local_dict``/``global_dict``/``resolvers``, else the caller's variables) and returns
    it without their ``attrs``. A Series or frame result takes the strictest state of every
    tracked Series and frame the expression names (fail closed: a combine step, so a result
    label that is no input column has their tier for floor).

    Installed without the guard: pandas finds the caller's variables ``level`` frames up, so
    this wrapper adds exactly one frame and one ``level``, governed or not."""

    @functools.wraps(original)
    def eval_(*args: Any, **kwargs: Any) -> Any:
        bound = _EVAL_SIGNATURE.bind(*args, **kwargs)
        level = int(bound.arguments.get("level", 0))
        bound.arguments["level"] = level + 1
        result = original(*bound.args, **bound.kwargs)
        target = bound.arguments.get("target") if result is None else result  # inplace=True
        if not governed_here() or not isinstance(target, (pd.Series, pd.DataFrame)):
            return result
        given = bound.arguments
        caller = sys._getframe(1)  # the frame pandas looked ``level`` frames up from

        def objects() -> list[Any]:
            scopes: list[Any] = [given.get("local_dict"), given.get("global_dict"),
                                 *(given.get("resolvers") or ())]
            if given.get("local_dict") is None or given.get("global_dict") is None:
                named = _up(caller, level)
                scopes += [named.f_locals, named.f_globals]
            return _named(given.get("expr"), scopes)

        _evaluated(target, objects, "eval")
        return result

    return eval_


def wrap_frame_eval(original: Callable[..., Any]) -> Callable[..., Any]:
    """``df.eval("salary * 1")``: as :func:`wrap_eval`, the frame's columns the expression
    names (all of them when it names none it has) and the objects it names among the caller's
    variables (``@x``); pandas returns a computed Series without the frame's ``attrs``."""

    @functools.wraps(original)
    def frame_eval(self: Any, expr: Any, *args: Any, **kwargs: Any) -> Any:
        level = int(kwargs.pop("level", 0))
        result = original(self, expr, *args, level=level + 1, **kwargs)
        target = self if result is None else result  # inplace=True: the frame assigned to
        if not governed_here() or not isinstance(target, (pd.Series, pd.DataFrame)):
            return result
        caller = sys._getframe(1)

        def objects() -> list[Any]:
            named = _up(caller, level)
            found = _named(expr, [kwargs.get("local_dict"), kwargs.get("global_dict"),
                                  named.f_locals, named.f_globals])
            names = set(_NAME.findall(expr)) if isinstance(expr, str) else set()
            picked = [c for c in self.columns if str(c) in names]
            return [*found, self[picked] if picked else self]

        _evaluated(target, objects, "DataFrame.eval")
        return result

    return frame_eval


def _named(expr: Any, scopes: Iterable[Any]) -> list[Any]:
    """The Series and frames that ``expr``'s names (and ``a.b``'s ``a``) are bound to in
    ``scopes`` (mappings, or ``DataFrame`` resolvers whose columns are names), first binding
    found."""
    names = set(_NAME.findall(expr)) if isinstance(expr, str) else set()
    found: dict[str, Any] = {}
    for scope in scopes:
        if not isinstance(scope, (Mapping, pd.DataFrame)):
            continue
        for name in names - found.keys():
            try:
                value = scope.get(name)
            except Exception:  # an odd mapping: nothing bound there
                value = None
            if isinstance(value, (pd.Series, pd.DataFrame)):
                found[name] = value
    return list(found.values())


def _up(frame: Any, level: int) -> Any:
    """The frame ``level`` frames above ``frame`` (pandas' ``level``)."""
    for _ in range(level):
        frame = frame.f_back
    return frame


def _evaluated(result: Any, objects: Callable[[], list[Any]], operation: str) -> None:
    """``result`` takes the strictest state of the tracked ``objects()`` it was computed from,
    kept with any it carries already; an internal error is handled as the guard does."""
    try:
        with _bypass.bypass():
            states = [effective_state(o, settings(), recheck=False)
                      for o in objects() if get_state(o) is not None]
            own = get_state(result)
            if states and own is not None and all(own is not s for s in states):
                states.append(effective_state(result, settings(), recheck=False))
            if states:
                _inherited_from(result, states, operation)
    except GovernanceViolation:
        raise
    except Exception as exc:  # as the guard does (_patch.guard): deny in enforce, else warn
        current().internal_error(exc, action=Action.TRANSFORM, method=f"pandas.{operation}",
                                 ran=True)


Describe = Callable[[Any, Any, tuple[Any, ...], dict[str, Any]], Any]


def _governed_callback(fn: Any) -> Any:
    """``fn`` run governed when pandas calls it back from a bypassed call: the user's own
    function (a ``def``, a lambda, a bound method), not pandas' or numpy's, which pandas
    recognises by identity (``np.sum``, ``len``) and which write nothing."""
    if not (inspect.isfunction(fn) or inspect.ismethod(fn)):
        return fn
    if (getattr(fn, "__module__", None) or "").startswith(("pandas", "numpy")):
        return fn

    @functools.wraps(fn)
    def governed(*args: Any, **kwargs: Any) -> Any:
        with _bypass.lifted():
            return fn(*args, **kwargs)

    return governed


def _user_code(value: Any) -> Any:
    """``value`` with every user function in it (an argument, a list or dict of them, a named
    aggregation's ``(column, function)``) run governed (:func:`_governed_callback`)."""
    if isinstance(value, list):
        return [_user_code(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_user_code(v) for v in value)
    if isinstance(value, dict):
        return {k: _user_code(v) for k, v in value.items()}
    return _governed_callback(value)


def _run_bypassed(original: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """``original`` run ungoverned (pandas' own internal frames are not governed), the user's
    functions it calls back governed again: a write one makes is decided like any other."""
    with _bypass.bypass():
        return original(*(_user_code(a) for a in args),
                        **{k: _user_code(v) for k, v in kwargs.items()})


def _described(original: Callable[..., Any], describe: Describe) -> Callable[..., Any]:
    """A method run ungoverned (:func:`_run_bypassed`), whose result
    ``describe(self, result, args, kwargs)`` hands to step 3 and returns, state attached."""

    @functools.wraps(original)
    def method(self: Any, *args: Any, **kwargs: Any) -> Any:
        if _bypass.active():
            return original(self, *args, **kwargs)
        result = _run_bypassed(original, self, *args, **kwargs)
        with _bypass.bypass():
            return describe(self, result, args, kwargs)

    return method


def wrap_value_counts(original: Callable[..., Any]) -> Callable[..., Any]:
    """``Series.value_counts`` / ``DataFrame.value_counts``: a count of rows per distinct
    value, i.e. ``groupby(the values).size()``; the aggregation rule applies to it."""
    return _described(original, _counted)


def _counted(obj: Any, result: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    if not isinstance(result, (pd.DataFrame, pd.Series)):
        return result
    if isinstance(obj, pd.Series):
        keys: tuple[str, ...] = (label_of(obj),)
        grouped: Any = obj
    else:
        subset = args[0] if args else kwargs.get("subset")
        cols = list(obj.columns) if subset is None else _flat(subset)
        keys = tuple(str(c) for c in cols)
        grouped = obj if subset is None else obj[cols]
    source = grouped_state(obj, settings())
    out = label_of(result) if isinstance(result, pd.Series) else str(result.columns[-1])
    step = Step(
        kind=StepKind.AGGREGATE,
        operation=f"{type(obj).__name__}.value_counts",
        inputs=(StepInput.of(source),),
        outputs=tuple(labels(result)),
        keys=keys,
        aggregates={out: "*"},
        description="value_counts",
        values=lambda _keys: pd.DataFrame({"group": pd.factorize(
            pd.MultiIndex.from_frame(pd.DataFrame(grouped)) if isinstance(grouped, pd.DataFrame)
            else grouped, use_na_sentinel=False)[0]}),
    )
    return _stepped(result, step)


def wrap_groupby_rows(method: str, original: Callable[..., Any]) -> Callable[..., Any]:
    """A group-by method that returns individual rows (``transform``, ``ffill``, ``cumsum``,
    ...): it inherits from the grouped table (combine), whatever the function computed."""

    def per_row(gb: Any, result: Any, _args: tuple[Any, ...], _kwargs: dict[str, Any]) -> Any:
        if not isinstance(result, (pd.DataFrame, pd.Series)):
            return result
        return _inherited_from(result, [grouped_state(gb.obj, settings())], f"groupby.{method}")

    return _described(original, per_row)


def wrap_window(method: str, original: Callable[..., Any]) -> Callable[..., Any]:
    """A window method (``df.rolling(3).mean()``, ``s.ewm(alpha=0.5).mean()``, ...): pandas
    builds its result without the input's ``attrs``; it inherits from the windowed data (the
    projection it was called on; for a group-by window, the grouped table, as ``transform``)
    and from the ``other`` of ``cov``/``corr``."""

    def per_row(win: Any, result: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if not isinstance(result, (pd.DataFrame, pd.Series)):
            return result
        data = win.obj
        grouped = hasattr(win, "_grouper")  # RollingGroupBy, ExpandingGroupBy, ...
        state = (grouped_state(data, settings()) if grouped
                 else effective_state(data, settings(), recheck=False))
        states, column_map = [state], None
        other = kwargs.get("other", args[0] if args and method in ("cov", "corr") else None)
        if isinstance(other, (pd.DataFrame, pd.Series)):
            # a covariance of two columns comes from both, whatever pandas names it
            states.append(effective_state(other, settings(), recheck=False))
            both = tuple((i, label) for i, obj in enumerate((data, other))
                         for label in _own_labels(obj))
            column_map = dict.fromkeys(labels(result), both)
        kind = "groupby." if grouped else ""
        return _inherited_from(result, states, f"{kind}{type(win).__name__.lower()}.{method}",
                               column_map)

    return _described(original, per_row)


def wrap_groupby_method(method: str, original: Callable[..., Any]) -> Callable[..., Any]:
    return _described(original, lambda gb, result, args, kwargs: _aggregate(
        gb, result, method, args, kwargs))


def _aggregate(
    gb: Any, result: Any, method: str, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    """Hand a group-by aggregation to step 3 (``Governor.inherit``) and attach the result."""
    if not isinstance(result, (pd.DataFrame, pd.Series)):
        return result
    source = grouped_state(gb.obj, settings())
    keys = tuple(str(n) for n in gb._grouper.names)
    func = args[0] if args else kwargs.get("func")
    step = Step(
        kind=StepKind.AGGREGATE,
        operation=f"groupby.{method}",
        inputs=(StepInput.of(source),),
        outputs=tuple(labels(result)),
        keys=keys,
        aggregates=_outputs(gb, result, method, args, kwargs),
        description=func if isinstance(func, str) else method,
        functions=_functions(result, func, kwargs),
        values=lambda _keys: _key_values(gb),
    )
    return _stepped(result, step)


def _functions(result: Any, func: Any, kwargs: dict[str, Any]) -> dict[str, str]:
    """Output column -> the function that computed it, where pandas' arguments say."""
    out: dict[str, str] = {}
    for name, spec in kwargs.items():  # named aggregation: total=("revenue", "sum")
        if isinstance(spec, tuple) and len(spec) == 2 and isinstance(spec[1], str):
            out[str(name)] = spec[1]
    if isinstance(func, Mapping):
        out |= {str(k): v for k, v in func.items() if isinstance(v, str)}
    if isinstance(result, pd.DataFrame):
        for label in result.columns:
            if isinstance(label, tuple) and label:  # agg([...]): (column, function)
                out[str(label)] = str(label[-1])
    return out


def _key_values(gb: Any) -> pd.DataFrame:
    """The group id of every row the aggregation counted (pandas' own grouping; rows whose key
    is missing, which the group-by drops, are left out): what k is computed from."""
    ids = gb._grouper.ids
    return pd.DataFrame({"group": ids[ids >= 0]})


def _outputs(
    gb: Any, result: Any, method: str, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> dict[str, str | None]:
    """Map each result column to the source column it aggregates ("*" for row counts).

    Whether an output is a count is decided from the function that computed it (the method
    called, or the function handed to ``agg``), never from the output's label: a user function
    or keyword output may be called ``count`` and return the values themselves.
    """
    obj = gb.obj
    sources = {str(obj.name)} if isinstance(obj, pd.Series) else {str(c) for c in obj.columns}
    series_source = str(obj.name) if isinstance(obj, pd.Series) else None
    func = args[0] if args else kwargs.get("func")
    counting = method in rules.COUNTING_FUNCTIONS or _is_count(func)
    named = {k: v for k, v in kwargs.items() if isinstance(v, tuple) and len(v) == 2}
    relabelled = {str(k): v for k, v in kwargs.items() if k not in named}  # s.agg(total="sum")
    # describe() names its statistics itself: there the label is pandas' own
    trusted_labels = method == "describe" or (isinstance(func, str) and func == "describe")

    def counts(spec: Any, name: str) -> bool:
        """Whether the output that ``spec`` (a function or a list of them) names ``name`` is a
        count; a name that matches no function is not (fail closed)."""
        if trusted_labels:
            return name in rules.COUNTING_FUNCTIONS
        if isinstance(spec, (list, tuple)):
            found = _by_label(spec).get(name, [])
            return bool(found) and all(_is_count(f) for f in found)
        return _is_count(spec)

    def source_of(label: Any) -> str | None:
        if isinstance(label, tuple):  # a MultiIndex column from agg([...]) or describe()
            base, fn = str(label[0]), str(label[-1])
            if base in sources:
                spec = func.get(label[0]) if isinstance(func, Mapping) else func
                return "*" if counts(spec, fn) else base
            return None
        text = str(label)
        if text in named:
            col, fn = named[text]
            return "*" if _is_count(fn) else str(col)
        if isinstance(func, Mapping) and label in func and _is_count(func[label]):
            return "*"
        if text in sources:
            return "*" if counting else text
        if series_source is not None:  # SeriesGroupBy.agg(['sum', 'count']) -> columns sum, count
            if isinstance(func, (list, tuple)):
                return "*" if counts(func, text) else series_source
            if text in relabelled:
                return "*" if _is_count(relabelled[text]) else series_source
            return "*" if counting else series_source
        return None

    keys = {str(n) for n in gb._grouper.names}
    if isinstance(result, pd.Series):
        if method == "size":
            return {str(result.name or "size"): "*"}
        return {
            str(result.name): source_of(result.name if result.name is not None else series_source)
        }
    return {str(c): source_of(c) for c in result.columns if str(c) not in keys}


# pandas' own counting functions, as objects a user may hand to ``agg`` (their names are in
# ``rules.COUNTING_FUNCTIONS``); a user function is never one of them, whatever it is called.
_COUNT_CALLABLES: tuple[Any, ...] = (
    len, np.size, np.count_nonzero,
    pd.Series.count, pd.Series.nunique, pd.DataFrame.count, pd.DataFrame.nunique,
)


def _is_count(fn: Any) -> bool:
    """Whether ``fn`` (a string pandas resolves, or a function object) counts rows or values."""
    if isinstance(fn, str):
        return fn in rules.COUNTING_FUNCTIONS
    return any(fn is known for known in _COUNT_CALLABLES)


def _by_label(specs: Any) -> dict[str, list[Any]]:
    """The output label pandas gives each function of ``agg([...])`` -> the functions."""
    out: dict[str, list[Any]] = {}
    for spec in specs:
        if isinstance(spec, tuple) and len(spec) == 2:  # agg([("total", "sum")])
            name, fn = str(spec[0]), spec[1]
        else:
            name, fn = _callable_name(spec), spec
        out.setdefault(name, []).append(fn)
    return out


def _callable_name(fn: Any) -> str:
    """The label pandas gives a function's output (``pandas.core.common.get_callable_name``)."""
    if isinstance(fn, str):
        return fn
    if hasattr(fn, "__name__"):
        return str(fn.__name__)
    if isinstance(fn, functools.partial):
        return _callable_name(fn.func)
    return type(fn).__name__
