"""Values a SQL statement carries itself: literals written in its text and the values bound to
its parameters, classified by what they are.

Column lineage reads them as constants (no input column), so before,
``COPY (SELECT ? AS x) TO '~/Downloads/x.csv'`` with an e-mail bound to ``?`` (or the e-mail
written in the SQL, as DuckDB's Python API binds values) was PUBLIC and written, while the same
value through ``INSERT … VALUES (?)`` was PII. Each output column now takes at least the class
of the values its expression holds, classified by value as a column of a pandas read is (not by
the output column's name: ``'redacted' AS email`` is not an e-mail); a literal written in the
SQL counts only when a strong recognizer validates it (``'Denver' AS city`` is a constant in
code, not a person's name by a word list); values in a nested query,
a CTE or ``VALUES`` may reach any column, so they count for every output (fail closed).
Conditions (``WHERE``, ``ON``, ``HAVING``) carry no values out and are not read; nor is a
parameter bound to a key (its hash is a pseudonym, the key does not leave).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from sqlglot import exp

from lacuna.config import ClassificationConfig
from lacuna.lineage.sql_masking import NO_KEYS, BoundKeys
from lacuna.model import Classification

MAX_VALUES = 200  # per output column: enough for a sample, bounded for a huge IN list or VALUES
_EVERY = -1  # values that may reach any output column


def with_values(
    classification: Classification,
    query: exp.Expr | None,
    outputs: Sequence[str],
    *,
    config: ClassificationConfig,
    parameter_sets: Sequence[Any] = (),
    literals: bool = True,
    keys: BoundKeys = NO_KEYS,
    assigned: Sequence[str] | None = None,
) -> Classification:
    """``classification`` with each output column at least as strict as the values its
    expression in ``query`` holds. ``outputs``: the output columns' names in the order of
    ``query``'s projections (``assigned``: for an UPDATE or MERGE, the output each projection
    sets); ``parameter_sets``: the values the statement runs with (each a mapping by name or a
    sequence by position); ``literals``: whether literals written in the SQL count too."""
    if query is None:
        return classification
    found = _values(query, parameter_sets, literals, keys)
    if not found:
        return classification
    names = list(classification.columns)
    per_column: dict[str, list[str]] = {}
    for (index, alias), values in found.items():
        if index == _EVERY:
            targets = names
        else:  # by place when the projections are the outputs one to one, else by name
            own = (assigned[index] if assigned is not None and index < len(assigned)
                   else outputs[index] if index >= 0 and len(outputs) == _width(query)
                   else alias)
            match = [n for n in names if own and n.lower() == own.lower()]
            targets = match or names  # not found by name: any column (fail closed)
        for name in targets:
            per_column.setdefault(name, []).extend(values)
    return by_value(classification, per_column, config,
                    why="a value written or bound in the statement")


def _width(query: exp.Expr) -> int:
    """How many outputs ``query``'s projections make, -1 when a ``*`` makes an unknown number."""
    branches = _branches(query)
    if not branches or any(p.is_star for p in branches[0].expressions):
        return -1
    return len(branches[0].expressions)


def _values(query: exp.Expr, parameter_sets: Sequence[Any], literals: bool, keys: BoundKeys
            ) -> dict[tuple[int, str], list[str]]:
    """The values each projection of ``query`` holds, by its index and name (:data:`_EVERY`:
    those of nested queries and ``VALUES`` lists, which may reach any output)."""
    top = _branches(query)
    found: dict[tuple[int, str], list[str]] = {}
    for select in top:
        for i, projection in enumerate(select.expressions):
            values = _held(projection, parameter_sets, literals, keys)
            if values:
                found.setdefault((i, projection.alias_or_name), []).extend(values)
    nested: list[str] = []
    for node in query.walk():
        if isinstance(node, exp.Select) and not any(node is s for s in top):
            for projection in node.expressions:
                nested.extend(_held(projection, parameter_sets, literals, keys))
        elif isinstance(node, exp.Values):
            for row in node.expressions:
                nested.extend(_held(row, parameter_sets, literals, keys))
    if nested:
        found[(_EVERY, "")] = nested
    return _bounded(found)


def _bounded(found: dict[tuple[int, str], list[str]]) -> dict[tuple[int, str], list[str]]:
    """``found`` with at most :data:`MAX_VALUES` distinct values per output, those a strong
    recognizer validates (an e-mail, a phone or card number) kept first: the first
    ``MAX_VALUES`` alone dropped the rest, so ``SELECT ? AS c0, …, ? AS c299`` (each ``?`` may
    bind any of the 300 values) with an e-mail last wrote it as PUBLIC."""
    distinct = {i: list(dict.fromkeys(v)) for i, v in found.items()}
    if all(len(v) <= MAX_VALUES for v in distinct.values()):
        return distinct
    from lacuna.classify.heuristic import data_in_names

    # each value on its own: a recognizer finds the e-mail inside "to: kira@…" and names it
    flagged = {x for x in {x for v in distinct.values() if len(v) > MAX_VALUES for x in v}
               if data_in_names([x])}
    out: dict[tuple[int, str], list[str]] = {}
    for i, values in distinct.items():
        if len(values) <= MAX_VALUES:
            out[i] = values
            continue
        first = [x for x in values if x in flagged][:MAX_VALUES]
        rest = [x for x in values if x not in flagged]
        room = MAX_VALUES - len(first)
        step = max(1, len(rest) // room) if room > 0 else 0
        out[i] = first + (rest[::step][:room] if room > 0 else [])
    return out


def _branches(query: exp.Expr) -> list[exp.Select]:
    """The selects whose projections are the statement's outputs (each branch of a UNION)."""
    if isinstance(query, exp.SetOperation):
        return [*_branches(query.this), *_branches(query.expression)]
    if isinstance(query, exp.Subquery):
        return _branches(query.this)
    return [query] if isinstance(query, exp.Select) else []


def _held(root: exp.Expr, parameter_sets: Sequence[Any], literals: bool, keys: BoundKeys
          ) -> list[str]:
    """The literal and bound values in ``root`` (not inside a nested query)."""
    values: list[str] = []
    for node in root.walk(prune=lambda n: isinstance(n, (exp.Subquery, exp.Select))
                          and n is not root):
        if isinstance(node, exp.Literal) and literals and holds_data(str(node.this)):
            values.append(str(node.this))
        elif literals and isinstance(node, _FOLDS) and not isinstance(node.parent, _CHAINS):
            values.extend(v for v in _spelled(node) if holds_data(v))
        elif isinstance(node, (exp.Placeholder, exp.Parameter)):
            label = str(node.name).lstrip(":$@") or "?"
            if keys.holds(label) and _hashed(node, root):
                continue  # a key for a pseudonym: its hash leaves, the key does not
            values.extend(_bound(label, parameter_sets))
    return values


_FOLDS = (exp.DPipe, exp.Concat, exp.ConcatWs, exp.Format, exp.Lower, exp.Upper, exp.Trim,
          exp.Replace, exp.Reverse, exp.Paren, exp.Cast, exp.Anonymous)
_CHAINS = (exp.DPipe, exp.Concat, exp.Paren)  # folded with their operands, as runs
_PRINTF = re.compile(r"%[-+ 0#]*\d*(?:\.\d+)?[sdiufgeExXo]")
_BRACES = re.compile(r"\{[^{}]*\}")


def _spelled(node: exp.Expr) -> list[str]:
    """The values ``node``, an expression over literals, spells once folded: the literal split
    across pieces is data written in the code. ``'kira.ng' || '@' || 'example.org'`` is the
    e-mail; before, each piece was checked alone and none was one, so the column was PUBLIC.
    A concatenation that also holds a column (``x || 'kira.ng' || '@example.org'``) spells each
    run of literal pieces next to each other. Empty when nothing folds."""
    whole = folded(node)
    if whole is not None:
        return [whole]
    runs: list[str] = []
    current: list[str] = []
    for piece in [*_pieces(node), None]:
        text = folded(piece) if piece is not None else None
        if text is not None:
            current.append(text)
            continue
        if len(current) > 1:
            runs.append("".join(current))
        current = []
    return runs


def _pieces(node: exp.Expr) -> list[exp.Expr]:
    """The operands of a concatenation, in order (``a || b || c``, ``concat(a, b, c)``)."""
    if isinstance(node, exp.DPipe):
        return [*_pieces(node.this), *_pieces(node.expression)]
    if isinstance(node, exp.Concat):
        return [p for e in node.expressions for p in _pieces(e)]
    if isinstance(node, exp.Paren):
        return _pieces(node.this)
    return [node]


def folded(node: exp.Expr | None) -> str | None:
    """The text ``node`` evaluates to when it is built from literals only by concatenation,
    case, trimming, replacing, reversing or formatting; None otherwise (a column, a function
    Lacuna does not fold, a NULL)."""
    if node is None:
        return None
    if isinstance(node, exp.Literal):
        return str(node.this)
    if isinstance(node, (exp.Paren, exp.Cast)):
        return folded(node.this)
    if isinstance(node, exp.DPipe):
        left, right = folded(node.this), folded(node.expression)
        return None if left is None or right is None else left + right
    if isinstance(node, (exp.Concat, exp.ConcatWs)):
        parts = [folded(e) for e in node.expressions]
        if any(p is None for p in parts):
            return None
        texts = [p for p in parts if p is not None]
        if isinstance(node, exp.ConcatWs):
            return texts[0].join(texts[1:]) if texts else None
        return "".join(texts)
    if isinstance(node, (exp.Lower, exp.Upper, exp.Reverse)):
        text = folded(node.this)
        if text is None:
            return None
        return (text.lower() if isinstance(node, exp.Lower) else text.upper()
                if isinstance(node, exp.Upper) else text[::-1])
    if isinstance(node, exp.Trim):
        text, chars = folded(node.this), node.args.get("expression")
        strip = folded(chars) if chars is not None else None
        if text is None or (chars is not None and strip is None):
            return None
        position = str(node.args.get("position") or "").upper()
        return (text.lstrip(strip) if position == "LEADING" else text.rstrip(strip)
                if position == "TRAILING" else text.strip(strip))
    if isinstance(node, exp.Replace):
        text, old = folded(node.this), folded(node.expression)
        new = folded(node.args.get("replacement"))
        return None if text is None or old is None or new is None else text.replace(old, new)
    if isinstance(node, exp.Format) or (isinstance(node, exp.Anonymous)
                                        and str(node.this).lower() in ("printf", "format")):
        items = ([node.this, *node.expressions] if isinstance(node, exp.Format)
                 else list(node.expressions))
        found = [folded(e) for e in items]
        texts = [t for t in found if t is not None]
        if not texts or len(texts) != len(found):
            return None
        template, args = texts[0], texts[1:]
        printf = isinstance(node, exp.Anonymous) and str(node.this).lower() == "printf"
        pattern = _PRINTF if printf else _BRACES
        supply = iter(args)
        return pattern.sub(lambda _m: next(supply, ""), template)
    return None


def holds_data(literal: str) -> bool:
    """Whether a literal written in the SQL holds a value a strong recognizer validates (an
    e-mail, a phone or card number, ...). A word list is no evidence for a constant someone
    wrote in code: ``'Denver' AS city`` is a city, not a person's name (a bound value, which
    is data, is classified in full)."""
    from lacuna.classify.heuristic import data_in_names

    return bool(data_in_names([literal]))


def _hashed(node: exp.Expr, root: exp.Expr) -> bool:
    """Whether ``node`` is inside a hash in ``root`` (an HMAC or a keyed digest)."""
    from lacuna.lineage.sql_masking import _is_hash

    parent = node.parent
    while parent is not None and parent is not root.parent:
        if _is_hash(parent):
            return True
        parent = parent.parent
    return False


def _bound(label: str, parameter_sets: Sequence[Any]) -> list[str]:
    """The values bound to the parameter ``label`` (a name, a number counted from 1, or ``?``,
    an anonymous one: every positional value, since which one it binds is not read off the
    tree; so is a name bound by position, which SQLite's ``sqlite3`` accepts: ``:v`` with
    ``("kira@example.com",)`` used to bind no value at all) in each parameter set."""
    values: list[Any] = []
    for params in parameter_sets[:MAX_VALUES]:
        if isinstance(params, Mapping):
            for key, value in params.items():
                if str(key).lstrip(":$@") == label:
                    values.append(value)
        elif isinstance(params, Sequence) and not isinstance(params, (str, bytes)):
            if label.isdigit():
                if 0 < int(label) <= len(params):
                    values.append(params[int(label) - 1])
            else:  # ``?``, or a name bound by position (SQLite's ``:v``, ``@v``: the number
                # it takes depends on the others): any of them (fail closed)
                values.extend(params)
    return [str(v) for v in values if v is not None and not isinstance(v, (bytes, bytearray))]


def by_value(classification: Classification, per_column: Mapping[str, list[str]],
             config: ClassificationConfig, *, why: str) -> Classification:
    """``classification`` with each column of ``per_column`` at least as strict as its values
    (classified by value alone, as pandas classifies a column; :func:`lacuna.lineage.rules.held`
    keeps the stricter, a personal class never traded for one that is not)."""
    import pandas as pd

    from lacuna import _bypass
    from lacuna.classify.heuristic import classify_frame
    from lacuna.classify.rollup import rollup
    from lacuna.lineage.rules import held

    labels = {name: f"value_{i}" for i, name in enumerate(per_column)}
    frame = pd.DataFrame({labels[n]: pd.Series(v, dtype=object) for n, v in per_column.items()})
    with _bypass.bypass():
        by_value = classify_frame(frame, config=config, cascade=False)
    columns = dict(classification.columns)
    changed = False
    for name, label in labels.items():
        claim, guess = by_value.columns.get(label), columns.get(name)
        kept = held(guess, claim, config) if claim is not None and guess is not None else guess
        if kept is guess or kept is None or claim is None:
            continue
        columns[name] = replace(kept, reasoning=(
            f"{why}: {claim.reasoning}"))
        changed = True
    if not changed:
        return classification
    result = rollup(columns, config, floor=classification.floor,
                    extra_tags=list(classification.table_tags), layer=classification.layer)
    return replace(result, tier=max(result.tier, classification.tier),
                   tags=tuple(dict.fromkeys([*result.tags, *classification.tags])),
                   reasoning=tuple(dict.fromkeys([*result.reasoning,
                                                  *classification.reasoning])))


__all__ = ["MAX_VALUES", "by_value", "folded", "holds_data", "with_values"]
