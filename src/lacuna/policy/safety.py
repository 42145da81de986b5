"""Refuse Rego with an unsafe variable, as OPA's compiler does, before regorus evaluates it.

OPA refuses ``f(x) := y`` (``y`` bound nowhere) at compile time: ``rego_unsafe_var_error: var
y is unsafe``. regorus checks the body of a rule when it compiles, but a variable of a rule's
*head* (its value, key, ``contains`` term, a function's result), of a comprehension, a ``not``
or a ``some x`` never bound only when it evaluates it, or never: ``f(x) := y`` was accepted
and every call of it failed later (a 500 for ``GET /v1/data`` callers, a policy error for a
decision), ``r contains x if { some x; input.a }`` and ``not input.q[y]`` were evaluated
silently otherwise than OPA would.

:func:`check_safety` reads regorus's AST and binds variables as OPA does: a query's
statements in any order (OPA reorders them) until none binds more. A variable is bound by a
function's arguments, ``:=``, ``=`` whose other side is bound, ``some ... in``, an index of a
reference (``input.xs[i]``: iteration), or an enclosing query (for a comprehension, an
``every`` body). ``not``, ``with ... as`` values and ``every`` domains bind nothing. A
name of a rule of the package, an import, ``input`` or ``data`` is not a variable. What is
left unbound is refused with the file, line and column and OPA's wording.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from lacuna.errors import PolicyError
from lacuna.policy.analysis import package_of, ref_path, rule_names, walk

_COMPREHENSIONS = ("ArrayCompr", "SetCompr", "ObjectCompr")
_ALWAYS = frozenset({"input", "data", "_"})


@dataclass(frozen=True, slots=True)
class _Var:
    name: str
    line: int
    col: int


class _Unsafe(Exception):
    def __init__(self, var: _Var) -> None:
        super().__init__(var.name)
        self.var = var


def check_safety(ast: list[Any], only: set[str] | None = None) -> None:
    """Refuse a module whose rules, functions or comprehensions use an unsafe variable.

    Args:
        ast: regorus's AST of every module of the set (:func:`lacuna.policy.analysis.parse`):
            the rules of a package's other files are names, not variables.
        only: the files to check (``None``: all).

    Raises:
        PolicyError: ``<file>:<line>:<col>: rego_unsafe_var_error: var <name> is unsafe``.
    """
    names = rule_names(ast)
    for module in ast:
        source = module.get("source") or {}
        path = str(source.get("file"))
        if only is not None and path not in only:
            continue
        tree = module.get("ast") or {}
        raw = str(source.get("contents") or "").encode("utf-8", "surrogatepass")
        known = set(names.get(package_of(tree), ())) | _imports(tree, raw) | _ALWAYS
        try:
            for rule in tree.get("rules") or ():
                _rule(rule, known, raw)
        except _Unsafe as exc:
            var = exc.var
            lines = raw.decode("utf-8", "replace").splitlines()
            shown = lines[var.line - 1].strip()[:120] if 0 < var.line <= len(lines) else ""
            msg = (f"{path}:{var.line}:{var.col}: rego_unsafe_var_error: var {var.name} is "
                   f"unsafe (in `{shown}`): the module does not compile (nothing binds the "
                   "variable; OPA refuses it, the embedded engine would fail or decide "
                   "otherwise when it reaches it). Bind it in the rule's body (`:=`, "
                   "`some ... in`, an argument) or name the rule it meant.")
            raise PolicyError(msg, path=path, line=var.line, column=var.col) from None


def _imports(tree: Mapping[str, Any], raw: bytes) -> set[str]:
    """The names a module's imports bind (``import data.x.y`` -> ``y``; ``as z`` -> ``z``)."""
    out: set[str] = set()
    for imp in tree.get("imports") or ():
        path = ref_path(imp.get("refr"))
        alias = imp.get("as")
        if type(alias) is dict and type(alias.get("start")) is int:
            out.add(raw[alias["start"]:alias["end"]].decode("utf-8", "replace"))
        elif path:
            out.add(path[-1])
    return out


def _rule(rule: Any, known: set[str], raw: bytes) -> None:
    if type(rule) is not dict:
        return
    if "Default" in rule:  # a default value is a constant: nothing binds its variables
        body = rule["Default"] or {}
        _require(body.get("value"), known, known, raw)
        return
    spec = rule.get("Spec") or {}
    head = spec.get("head") or {}
    kind, node = _only(head)
    args: set[str] = set()
    for arg in node.get("args") or ():  # a function's arguments bind their variables
        args |= {v.name for v in _vars(arg)}
    indexes = list(_ref_indexes(node.get("refr")))
    value = (node.get("assign") or {}).get("value") if kind in ("Compr", "Func") else (
        node.get("key") if kind == "Set" else None)
    bodies = spec.get("bodies") or [{}]
    for n, body in enumerate(bodies):
        bound = _query((body.get("query") or {}).get("stmts") or (), known | args, raw)
        assign = body.get("assign")
        terms = list(indexes) if n == 0 else []
        terms.append((assign or {}).get("value") if assign else value)
        for term in terms:
            _require(term, bound, known, raw)


def _query(stmts: Any, outer: set[str], raw: bytes) -> set[str]:
    """The variables bound after ``stmts`` (with ``outer`` bound before); raises
    :class:`_Unsafe` for a statement no order of the others makes safe."""
    bound = set(outer)
    pending = list(stmts)
    for stmt in pending:  # `some x` makes x a local: no longer a rule's name
        lit = (stmt or {}).get("literal") or {}
        for span in (lit.get("SomeVars") or {}).get("vars") or ():
            bound.discard(_text(span, raw))
    while pending:
        left = []
        for stmt in pending:
            out = _binds(stmt, bound)
            if out is None:
                left.append(stmt)
            else:
                bound |= out
        if len(left) == len(pending):
            raise _Unsafe(_first_unbound(left[0], bound))
        pending = left
    for stmt in stmts:  # nested scopes, with every variable of this one bound
        _nested(stmt, bound, raw)
    return bound


def _first_unbound(stmt: Any, bound: set[str]) -> _Var:
    """The variable that keeps ``stmt`` from running: one it reads that nothing binds."""
    lit = (stmt or {}).get("literal") or {}
    kind, node = _only(lit)
    expr = node.get("expr") if kind in ("Expr", "NotExpr") else None
    if type(expr) is dict and type(expr.get("AssignExpr")) is dict:
        expr = expr["AssignExpr"].get("rhs") if expr["AssignExpr"].get("op") == "ColEq" else expr
    needs = [[m.get("as") for m in (stmt or {}).get("with_mods") or ()],
             node.get("collection"), node.get("domain"), expr]
    outputs = {v.name for v in _outputs(expr, bound)} if kind == "Expr" else set()
    for var in _vars(needs):
        if var.name not in bound and var.name not in outputs:
            return var
    return next(iter(_vars(needs)), _Var("?", 0, 0))


def _binds(stmt: Any, bound: set[str]) -> set[str] | None:
    """The variables ``stmt`` binds when it can run with ``bound``; ``None`` when it cannot."""
    lit = (stmt or {}).get("literal") or {}
    for mod in (stmt or {}).get("with_mods") or ():
        if not _safe(mod.get("as"), bound):
            return None
    kind, node = _only(lit)
    if kind == "SomeVars":
        return set()
    if kind == "SomeIn":
        if not _safe(node.get("collection"), bound):
            return None
        return {v.name for t in (node.get("key"), node.get("value")) for v in _vars(t)}
    if kind == "Every":
        return set() if _safe(node.get("domain"), bound) else None
    if kind == "NotExpr":
        return set() if _safe(node.get("expr"), bound) else None
    if kind == "Expr":
        return _expr_binds(node.get("expr"), bound)
    return set()


def _expr_binds(expr: Any, bound: set[str]) -> set[str] | None:
    kind, node = _only(expr)
    if kind == "AssignExpr":
        lhs, rhs = node.get("lhs"), node.get("rhs")
        if node.get("op") == "ColEq":
            return {v.name for v in _vars(lhs)} if _safe(rhs, bound) else None
        return _unify(lhs, rhs, bound)
    out = {v.name for v in _outputs(expr, bound)}
    return out if _safe(expr, bound | out) else None


def _unify(lhs: Any, rhs: Any, bound: set[str]) -> set[str] | None:
    """``lhs = rhs``: one side bound binds the other; arrays of one length pair by item."""
    if _safe(rhs, bound):
        return {v.name for v in _vars(lhs)} | {v.name for v in _outputs(rhs, bound)}
    if _safe(lhs, bound):
        return {v.name for v in _vars(rhs)} | {v.name for v in _outputs(lhs, bound)}
    left, right = (lhs or {}).get("Array"), (rhs or {}).get("Array")
    if type(left) is dict and type(right) is dict:
        items = list(zip(left.get("items") or (), right.get("items") or (), strict=False))
        if len(items) == len(left.get("items") or ()) == len(right.get("items") or ()):
            out: set[str] = set()
            for _ in items:  # items may bind each other: a pass per item at most
                for a, b in items:
                    got = _unify(a, b, bound | out)
                    if got is not None:
                        out |= got
            if all(_safe(a, bound | out) and _safe(b, bound | out) for a, b in items):
                return out
    outs = {v.name for v in _outputs(lhs, bound)} | {v.name for v in _outputs(rhs, bound)}
    return outs if outs and _safe(lhs, bound | outs) and _safe(rhs, bound | outs) else None


def _safe(term: Any, bound: set[str]) -> bool:
    return all(v.name in bound for v in _vars(term))


def _require(term: Any, bound: set[str], known: set[str], raw: bytes) -> None:
    for var in _vars(term):
        if var.name not in bound and var.name not in known:
            raise _Unsafe(var)
    for compr in _comprehensions(term):
        _comprehension(compr, bound | known, raw)


def _nested(node: Any, bound: set[str], raw: bytes) -> None:
    """Check the comprehensions and ``every`` bodies of ``node`` (a statement) with ``bound``."""
    lit = (node or {}).get("literal") or {}
    every = lit.get("Every")
    if type(every) is dict:
        names = {_text(s, raw) for s in (every.get("key"), every.get("value")) if s}
        _query((every.get("query") or {}).get("stmts") or (), bound | names, raw)
    for compr in _comprehensions([lit, (node or {}).get("with_mods")]):
        _comprehension(compr, bound, raw)


def _comprehension(compr: Any, outer: set[str], raw: bytes) -> None:
    node = next(iter(compr.values()))
    inner = _query((node.get("query") or {}).get("stmts") or (), outer, raw)
    for key in ("term", "key", "value"):
        if key in node:
            _require(node[key], inner, inner, raw)


def _only(node: Any) -> tuple[str | None, Any]:
    """A one-key AST node's kind and body (``(None, {})`` for anything else)."""
    if type(node) is not dict or len(node) != 1:
        return None, {}
    kind, body = next(iter(node.items()))
    return str(kind), body or {}


def _text(span: Any, raw: bytes) -> str:
    if type(span) is not dict or type(span.get("start")) is not int:
        return ""
    return raw[span["start"]:span["end"]].decode("utf-8", "replace")


def _vars(term: Any) -> Iterator[_Var]:
    """The variables of ``term`` (not inside a comprehension: its own scope; not a called
    function's name; not an ``every``'s body)."""
    stack = [term]
    while stack:
        item = stack.pop()
        if type(item) is list:
            stack.extend(reversed(item))
            continue
        if type(item) is not dict:
            continue
        if len(item) == 1:
            kind, body = next(iter(item.items()))
            if kind == "Var" and type(body) is dict:
                name = str(body.get("value"))
                if name != "_":
                    span = body.get("span") or {}
                    yield _Var(name, int(span.get("line") or 0), int(span.get("col") or 0))
                continue
            if kind in _COMPREHENSIONS:
                continue
            if kind == "Call" and type(body) is dict:
                stack.append(body.get("params"))
                continue
            if kind == "RefDot" and type(body) is dict:
                stack.append(body.get("refr"))
                continue
            if kind == "Every" and type(body) is dict:
                stack.append(body.get("domain"))
                continue
        stack.extend(reversed([v for k, v in item.items() if k != "span"]))


def _outputs(term: Any, bound: set[str]) -> Iterator[_Var]:
    """The unbound variables ``term`` binds as an index of a reference (iteration) or in the
    last argument of a call at its top (``count(xs, n)``, the old output form)."""
    for index in _ref_indexes(term, deep=True):
        for var in _vars(index):
            if var.name not in bound:
                yield var
    if type(term) is dict and type(term.get("Call")) is dict:
        params: list[Any] = term["Call"].get("params") or []
        if len(params) > 1:
            yield from (v for v in _vars(params[-1]) if v.name not in bound)


def _ref_indexes(term: Any, *, deep: bool = False) -> Iterator[Any]:
    """The index terms of the references in ``term`` (``xs[i]`` -> ``i``); only the head
    reference's own when not ``deep``."""
    stack = [term]
    while stack:
        item = stack.pop()
        if type(item) is list:
            if deep:
                stack.extend(item)
            continue
        if type(item) is not dict:
            continue
        if len(item) == 1:
            kind, body = next(iter(item.items()))
            if kind in _COMPREHENSIONS:
                continue
            if kind == "RefBrack" and type(body) is dict:
                index = body.get("index")
                if type(index) is dict and (set(index) & {"Var", "Array", "Object"}):
                    yield index
                stack.append(body.get("refr"))
                if deep:
                    stack.append(index)
                continue
            if kind == "RefDot" and type(body) is dict:
                stack.append(body.get("refr"))
                continue
        if deep:
            stack.extend(v for k, v in item.items() if k != "span")


def _comprehensions(term: Any) -> Iterator[Mapping[str, Any]]:
    """The outermost comprehensions inside ``term`` (each checks its own nested ones)."""
    stack = [term]
    while stack:
        item = stack.pop()
        if type(item) is list:
            stack.extend(item)
            continue
        if type(item) is not dict:
            continue
        if len(item) == 1 and next(iter(item)) in _COMPREHENSIONS:
            yield item
            continue
        if len(item) == 1 and next(iter(item)) == "Every":
            stack.append((item["Every"] or {}).get("domain"))
            continue
        stack.extend(v for k, v in item.items() if k != "span")


def check_schedulable(ast: list[Any], only: set[str] | None = None) -> None:
    """Refuse comprehensions regorus never schedules: one in the head of a rule that has a
    body (``r := [x | ...] if { input.a }``), or one in a comprehension's term (``[[y | ...] |
    some x in xs]``). OPA evaluates both; regorus compiles them and fails every evaluation
    that reaches them ("statements not scheduled in query"): an uploaded module's was a 500
    for each Data API caller whose input made the body hold (measured, regorus 0.x).

    Raises:
        PolicyError: ``<file>:<line>:<col>: ...``, with the rewrite that works.
    """
    for module in ast:
        source = module.get("source") or {}
        path = str(source.get("file"))
        if only is not None and path not in only:
            continue
        raw = str(source.get("contents") or "").encode("utf-8", "surrogatepass")
        for rule in (module.get("ast") or {}).get("rules") or ():
            spec = rule.get("Spec") if type(rule) is dict else None
            if type(spec) is not dict:
                continue
            _, head = _only(spec.get("head"))
            if any(((b or {}).get("query") or {}).get("stmts") for b in spec.get("bodies") or ()):
                terms = [head.get("refr"), head.get("key"), (head.get("assign") or {}).get(
                    "value"), [(b or {}).get("assign") for b in spec.get("bodies") or ()]]
                for compr in _comprehensions(terms):
                    _unscheduled(path, raw, compr, "in the head of a rule that has a body",
                                 "compute it in the body: `r := v if { ...; v := [x | ...] }`")
            for compr in _all_comprehensions(rule):
                _, node = _only(compr)
                inner = [node.get(k) for k in ("term", "key", "value")]
                for nested in _comprehensions(inner):
                    _unscheduled(path, raw, nested, "in another comprehension's term",
                                 "compute it in the outer one's body: `[v | some x in xs; "
                                 "v := [y | ...]]`")


def _unscheduled(path: str, raw: bytes, compr: Mapping[str, Any], where: str, fix: str) -> None:
    _, node = _only(compr)
    start = int((node.get("span") or {}).get("start") or 0)
    line = raw.count(b"\n", 0, start) + 1
    column = start - raw.rfind(b"\n", 0, start)
    msg = (f"{path}:{line}:{column}: the embedded engine cannot evaluate a comprehension "
           f"{where} (it compiles, then fails every evaluation that reaches it: \"statements "
           f"not scheduled\"; OPA accepts it): {fix}")
    raise PolicyError(msg, path=path, line=line, column=column)


def _all_comprehensions(node: Any) -> Iterator[Mapping[str, Any]]:
    return (item for item in walk(node) if type(item) is dict and len(item) == 1
            and next(iter(item)) in _COMPREHENSIONS)
