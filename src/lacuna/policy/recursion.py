"""Refuse Rego functions that call themselves, before regorus evaluates one and crashes.

OPA's compiler refuses recursion (``rego_recursion_error``). regorus does not: it reports a
cycle between *rules* at evaluation ("cyclic evaluation", a failed decision, fail closed), but
a *function* that calls itself, directly or through other functions (``f(x) := f(x)``, ``f(x)
:= [y | y := g(x)]`` with ``g(x) := f(x)``, an ``else`` that calls its own function), recurses
until the native stack overflows and the whole process dies with a segmentation fault: a host
job, ``lacuna serve`` (any user asking ``GET /v1/data`` once an admin uploaded such a module),
never a denial.

:func:`check_recursion` reads the call graph of the functions from regorus's AST (each call's
function, resolved as Rego resolves it: a name of the same package, ``data.<package>.<name>``,
or through an ``import data.<package> [as alias]``) and refuses any cycle, naming the file, the
line of its first function and the chain. A cycle that passes through a rule is left to
regorus, which stops it at the rule. Functions called through ``with`` replacement are not
followed (regorus does not apply a replacement inside the function it replaces; measured).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from lacuna.errors import PolicyError
from lacuna.policy.analysis import calls, package_of, ref_path
from lacuna.policy.nesting import TOKENS

# TOKENS, and a name followed by "(" (a function's head where no bracket is open)
_HEADS = re.compile(TOKENS.pattern + r"| (?<![\w.])[A-Za-z_][\w.]*[ \t]*\(", re.VERBOSE)


def may_define_function(source: str) -> bool:
    """Whether ``source`` may define a function: a name and ``(`` outside every bracket that
    starts a statement (first on its line, after ``default``, or after a ``}`` or ``;`` that
    ends one): a function's head. A call in a rule's head (``why := array.concat(...)``,
    ``reasons contains sprintf(...)``) is not one. Only the files that may are parsed again
    for :func:`check_recursion`: a cycle of functions passes through no other file."""
    depth = 0
    for m in _HEADS.finditer(source):
        ch = m.group()[0]
        if ch in "[{":
            depth += 1
        elif ch in "]}":
            depth = max(depth - 1, 0)
        elif depth == 0 and (ch.isalpha() or ch == "_"):
            before = source[source.rfind("\n", 0, m.start()) + 1:m.start()].rstrip()
            if (not before or before.endswith(("}", ";"))
                    or before.split()[-1:] == ["default"]):
                return True
    return False


def check_recursion(ast: list[Any]) -> None:
    """Refuse a bundle whose functions call each other in a cycle.

    Args:
        ast: regorus's AST of every module (:func:`lacuna.policy.analysis.parse`).

    Raises:
        PolicyError: a cycle of functions, with the file and line of one of them.
    """
    defined: dict[str, tuple[str, int]] = {}  # function -> (file, line)
    bodies: list[tuple[str, str, dict[str, str], Any]] = []  # (function, package, aliases, rule)
    for module in ast:
        tree = module.get("ast") or {}
        package = package_of(tree)
        path = str((module.get("source") or {}).get("file"))
        aliases = _aliases(tree, str((module.get("source") or {}).get("contents") or ""))
        for rule in tree.get("rules") or ():
            head = ((rule.get("Spec") or {}).get("head") or {}).get("Func") if type(
                rule) is dict else None
            if type(head) is not dict:
                continue
            name = ".".join([package, *ref_path(head.get("refr"))])
            line = int((head.get("span") or {}).get("line") or 0)
            defined.setdefault(name, (path, line))
            bodies.append((name, package, aliases, rule))
    if not defined:
        return
    calls: dict[str, set[str]] = {}
    for name, package, aliases, rule in bodies:
        out = calls.setdefault(name, set())
        for callee in _callees(rule, package, aliases):
            if callee in defined:
                out.add(callee)
    cycle = _cycle(calls)
    if cycle is not None:
        path, line = defined[cycle[0]]
        chain = " -> ".join((*cycle, cycle[0]))
        msg = (f"{path}:{line}: function {cycle[0]} calls itself ({chain}). Rego does not allow "
               "recursion (OPA refuses it; the embedded engine would recurse until the process "
               "crashes): rewrite it without recursion, e.g. with walk() or a comprehension "
               "over a bounded list.")
        raise PolicyError(msg, path=path, line=line)


def _aliases(tree: Mapping[str, Any], contents: str) -> dict[str, str]:
    """The names a module's ``import data.x.y [as z]`` binds: ``{"y" or "z": "x.y"}``."""
    out: dict[str, str] = {}
    raw = contents.encode("utf-8", "surrogatepass")
    for imp in tree.get("imports") or ():
        path = ref_path(imp.get("refr"))
        if len(path) < 2 or path[0] != "data":
            continue
        alias = imp.get("as")
        name = path[-1]
        if type(alias) is dict:
            start, end = alias.get("start"), alias.get("end")
            if type(start) is int and type(end) is int:
                name = raw[start:end].decode("utf-8", "replace") or name
        out[name] = ".".join(path[1:])
    return out


def _callees(rule: Any, package: str, aliases: Mapping[str, str]) -> Iterator[str]:
    """Every function a rule's calls may name, fully qualified (builtins too: the caller keeps
    the ones the bundle defines)."""
    for call in calls(rule):
        path = ref_path(call.get("fcn"))
        if not path:
            continue
        if path[0] == "data":
            yield ".".join(path[1:])
        else:
            if path[0] in aliases:
                yield ".".join([aliases[path[0]], *path[1:]])
            yield ".".join([package, *path])


def _cycle(calls: Mapping[str, set[str]]) -> tuple[str, ...] | None:
    """One cycle of the graph (its nodes in order), or ``None``; iterative (a long chain of
    functions must not exhaust Python's stack either)."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    for start in sorted(calls):
        if state.get(start):
            continue
        path: list[str] = [start]
        todo: list[Iterator[str]] = [iter(sorted(calls.get(start, ())))]
        state[start] = 1
        while todo:
            nxt = next(todo[-1], None)
            if nxt is None:
                state[path.pop()] = 2
                todo.pop()
                continue
            seen = state.get(nxt)
            if seen == 1:
                return tuple(path[path.index(nxt):])
            if seen is None:
                state[nxt] = 1
                path.append(nxt)
                todo.append(iter(sorted(calls.get(nxt, ()))))
    return None
