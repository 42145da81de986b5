"""Which value each parameter of ``INSERT … VALUES`` binds, by the driver's own rules.

``INSERT INTO t (a, b) VALUES (:b, :a)`` with ``{"a": "north", "b": e-mail}`` puts the e-mail
in ``a``. Lacuna used to read a mapping by the *columns'* names (``a`` took ``north``), or in
the mapping's own order when the names were not the columns', and a sequence in its order
(``VALUES (?2, ?1)``), so a column that held e-mails was recorded, and read back, as PUBLIC.
Each value is now read off the placeholder in its place:

- a mapping binds by name: ``:a``, ``@a``, ``$a``, ``%(a)s`` take ``params["a"]``; a numbered
  one (``?1``, ``:1``) ``params["1"]`` (sqlite3 looks a mapping up by the name after its first
  character);
- a sequence binds by number, counted as SQLite counts (the others agree on the styles they
  accept): ``?NNN``, ``:NNN``, ``$NNN`` take NNN; an anonymous ``?`` or ``%s`` one more than
  the largest so far; a name its first number, which the next new name or ``?`` counts on from
  (``(:v, :w, :v)`` with ``(x, y)`` binds ``x, y, x``).

What cannot be told (an anonymous ``?`` with a mapping, which the drivers refuse; a parameter
before ``VALUES``, in a ``WITH``, that shifts the numbers) gives every column every value of the
set: the strictest (fail closed).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlglot import exp

_HOLES = (exp.Placeholder, exp.Parameter)


def label(node: exp.Expr) -> str:
    """A parameter's name without its sigil (``a`` for ``:a``, ``1`` for ``?1`` and ``$1``),
    ``?`` for an anonymous one (``?``, ``%s``)."""
    return str(node.name).lstrip(":$@") or "?"


def positions(labels: Sequence[str]) -> list[int]:
    """The number (from 1) each parameter takes when the values are bound by position, in the
    order the parameters are written (SQLite's rule: https://sqlite.org/lang_expr.html#varparam)."""
    seen: dict[str, int] = {}
    top = 0
    out: list[int] = []
    for name in labels:
        if name == "?":
            top += 1
            out.append(top)
        elif name.isdigit():
            top = max(top, int(name))
            out.append(int(name))
        elif name in seen:
            out.append(seen[name])
        else:
            top += 1
            seen[name] = top
            out.append(top)
    return out


def value_rows(tree: exp.Expr, batches: Sequence[Any], *, extra: bool = False
               ) -> list[tuple[Any, ...]] | None:
    """The rows ``INSERT … VALUES`` of parameters only writes with each parameter set of
    ``batches``, each value in the place of the parameter that binds it (one row per ``VALUES``
    tuple and set: SQLAlchemy's ``insertmanyvalues`` sends many rows in one statement). With
    ``extra``, the values no ``VALUES`` parameter binds (an upsert's ``DO UPDATE SET b = ?``)
    follow each row. None when ``tree`` is not such an insert (the caller reads it otherwise)."""
    values = tree.args.get("expression") if isinstance(tree, exp.Insert) else None
    if not isinstance(values, exp.Values) or not values.expressions:
        return None
    tuples = [row.expressions if isinstance(row, exp.Tuple) else [row]
              for row in values.expressions]
    holes = [e for items in tuples for e in items]
    if not all(isinstance(e, _HOLES) for e in holes):
        return None
    inside = {id(e) for e in holes}
    after = [p for p in tree.find_all(*_HOLES) if id(p) not in inside]
    # a parameter elsewhere than after VALUES (in a WITH) shifts the numbers: not known
    unsure = any(_clause(p, tree) not in _AFTER for p in after)
    labels = [label(e) for e in holes]
    numbers = positions([*labels, *(label(p) for p in after)])
    rows: list[tuple[Any, ...]] = []
    for params in batches:
        bound = _bound(params, labels, numbers, unsure=unsure)
        if bound is None:  # which value goes where is not known: each column takes each one
            width = max(len(items) for items in tuples)
            rows.extend((value,) * width for value in _all(params))
            continue
        rest = _unused(params, labels, numbers) if extra else []
        start = 0
        for items in tuples:
            rows.append((*bound[start:start + len(items)], *rest))
            start += len(items)
    return rows


_AFTER = frozenset({"conflict", "returning"})  # clauses written after VALUES


def _clause(node: exp.Expr, tree: exp.Expr) -> str:
    """The argument of ``tree`` that holds ``node`` (``with_``, ``conflict``, …)."""
    while node.parent is not None and node.parent is not tree:
        node = node.parent
    return node.arg_key or ""


def _bound(params: Any, labels: list[str], numbers: list[int], *, unsure: bool
           ) -> list[Any] | None:
    """The value each of the ``VALUES`` parameters binds from ``params``; None when that is
    not known (fail closed). A parameter the set does not bind is None (the driver refuses
    the statement then)."""
    if unsure:
        return None
    if isinstance(params, Mapping):
        if "?" in labels:  # an anonymous parameter with a mapping: the drivers refuse it
            return None
        by_name = {str(key).lstrip(":$@"): value for key, value in params.items()}
        return [by_name.get(name) for name in labels]
    if isinstance(params, Sequence) and not isinstance(params, (str, bytes, bytearray)):
        return [params[n - 1] if 0 < n <= len(params) else None
                for n in numbers[:len(labels)]]
    return None


def _unused(params: Any, labels: list[str], numbers: list[int]) -> list[Any]:
    """The values of ``params`` no ``VALUES`` parameter binds."""
    if isinstance(params, Mapping):
        used = set(labels)
        return [v for k, v in params.items() if str(k).lstrip(":$@") not in used]
    if isinstance(params, Sequence) and not isinstance(params, (str, bytes, bytearray)):
        taken = set(numbers[:len(labels)])
        return [v for n, v in enumerate(params, start=1) if n not in taken]
    return []


def _all(params: Any) -> list[Any]:
    if isinstance(params, Mapping):
        return list(params.values())
    if isinstance(params, Sequence) and not isinstance(params, (str, bytes, bytearray)):
        return list(params)
    return []
