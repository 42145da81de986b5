"""What a bundle's Rego says, read from regorus's AST: rules, their lines, ``input`` paths, and
calls to builtins whose answer is not a function of the input.

* :func:`rule_sites` — every rule (not functions) with its package, file and first line.
* :func:`input_paths` — the ``input`` paths the policies read (``input.source.tags`` ...), or
  ``None`` when one reads ``input`` whole. The decision cache keys on these parts only.
* :func:`nondeterministic_calls` — uses of ``time.now_ns``, ``rand.intn``, ``http.send`` and the
  like. A bundle that makes any is never cached (a cached answer could be stale).
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from regorus import Engine

# Builtins whose result depends on more than their arguments: the clock, randomness, the network,
# the runtime environment.
NONDETERMINISTIC = frozenset({
    "time.now_ns", "rand.intn", "uuid.rfc4122", "uuid.v4", "http.send", "net.lookup_ip_addr",
    "opa.runtime", "crypto.x509.parse_and_verify_certificates",
})


@dataclass(frozen=True, slots=True)
class RuleSite:
    """Where a rule is (first) defined."""

    package: str
    name: str
    path: str
    line: int


Source = Any  # an Engine, or its AST already parsed with :func:`parse` (parse once, ask often)


def parse(engine: Engine) -> list[Any]:
    """The engine's modules as regorus's AST (a list of modules)."""
    parsed: list[Any] = json.loads(engine.get_ast_as_json())
    return parsed


def modules(engine: Source, only: Collection[str] | None = None) -> Iterator[tuple[str, Any]]:
    """``(file, ast)`` for every module of ``engine`` (only files in ``only`` when given)."""
    for module in engine if isinstance(engine, list) else parse(engine):
        path = (module.get("source") or {}).get("file")
        if only is None or path in only:
            yield str(path), module.get("ast") or {}


def package_of(ast: Mapping[str, Any]) -> str:
    """``governance.export`` from a module's AST."""
    return ".".join(ref_path((ast.get("package") or {}).get("refr")))


def rule_names(engine: Source, only: Collection[str] | None = None) -> dict[str, set[str]]:
    """Package name -> the names of the rules its files define (functions excluded)."""
    out: dict[str, set[str]] = {}
    parsed = engine if isinstance(engine, list) else parse(engine)
    for site in rule_sites(parsed, only):
        out.setdefault(site.package, set()).add(site.name)
    for _, ast in modules(parsed, only):  # packages without rules still exist
        out.setdefault(package_of(ast), set())
    return out


def rule_sites(engine: Source, only: Collection[str] | None = None) -> list[RuleSite]:
    """Every rule definition: package, name, file, line (functions excluded)."""
    out = []
    for path, ast in modules(engine, only):
        package = package_of(ast)
        for rule in ast.get("rules") or ():
            name = _rule_name(rule)
            if name:
                body = next(iter(rule.values()))
                line = int(((body or {}).get("span") or {}).get("line") or 0)
                out.append(RuleSite(package, name, path, line))
    return out


def input_paths(engine: Source, only: Collection[str]) -> list[tuple[str, ...]] | None:
    """The static ``input`` paths read by the modules in ``only``; ``None`` if any reads it whole.

    ``input.source.tags[_]`` gives ``("source", "tags")``; ``object.get(input.source, ...)``
    gives ``("source",)``. An import of ``input``, or ``input`` on its own, gives ``None``.
    """
    found: list[tuple[str, ...]] = []
    parsed = engine if isinstance(engine, list) else parse(engine)
    for _, ast in modules(parsed, only):
        for imp in ast.get("imports") or ():
            if ref_path(imp.get("refr"))[:1] == ["input"]:
                return None
        if not _collect(ast.get("rules"), found):
            return None
    return found


def nondeterministic_calls(engine: Source, only: Collection[str]) -> list[tuple[str, int, str]]:
    """``(file, line, builtin)`` for every call to a builtin in :data:`NONDETERMINISTIC`."""
    out: list[tuple[str, int, str]] = []
    parsed = engine if isinstance(engine, list) else parse(engine)
    text = "\n".join(str((m.get("source") or {}).get("contents")) for m in parsed)
    if not any(name in text for name in NONDETERMINISTIC):
        return out  # the common case, without walking every node
    for path, ast in modules(parsed, only):
        for node in walk(ast.get("rules")):
            call = node.get("Call") if type(node) is dict else None
            if type(call) is dict:
                name = ".".join(ref_path(call.get("fcn")))
                if name in NONDETERMINISTIC:
                    out.append((path, int((call.get("span") or {}).get("line") or 0), name))
    return out


def calls(node: Any) -> Iterator[Mapping[str, Any]]:
    """The body of every call (``{"Call": {"fcn": ..., "params": ...}}``) under ``node``."""
    for item in walk(node):
        if type(item) is dict and len(item) == 1 and type(item.get("Call")) is dict:
            yield item["Call"]


def walk(node: Any) -> Iterator[Any]:
    """Every node of a regorus AST under ``node`` (dicts, lists and leaves), depth first."""
    stack = [node]
    while stack:
        item = stack.pop()
        yield item
        if type(item) is dict:
            stack.extend(item.values())
        elif type(item) is list:
            stack.extend(item)


def _collect(node: Any, found: list[tuple[str, ...]]) -> bool:
    """Add the input paths under ``node`` to ``found``; False when ``input`` is read whole."""
    stack = [node]
    while stack:
        item = stack.pop()
        if type(item) is list:
            stack.extend(item)
            continue
        if type(item) is not dict:
            continue
        if len(item) == 1:
            kind, body = next(iter(item.items()))
            if kind == "Var" and type(body) is dict:
                if body.get("value") == "input":
                    return False
                continue
            if kind in ("RefDot", "RefBrack"):
                root, segments, dynamic = _chain(item)
                if root == "input":
                    if not segments:
                        return False
                    found.append(tuple(segments))
                    stack.extend(dynamic)
                    continue
        stack.extend(item.values())
    return True


def _chain(node: Any) -> tuple[str | None, list[str], list[Any]]:
    """A reference's root variable, its static segments (up to the first dynamic index), and
    the expressions used as indexes (which may read input themselves)."""
    if not isinstance(node, Mapping) or len(node) != 1:
        return None, [], [node]
    kind, body = next(iter(node.items()))
    if kind == "Var":
        return str(body.get("value")), [], []
    if kind == "RefDot":
        root, segs, dyn = _chain(body.get("refr"))
        if dyn or root is None:
            return root, segs, dyn
        return root, [*segs, str(body.get("field", [None, ""])[1])], dyn
    if kind == "RefBrack":
        root, segs, dyn = _chain(body.get("refr"))
        index = body.get("index") or {}
        key = (index.get("String") or {}).get("value") if isinstance(index, Mapping) else None
        if dyn or root is None or key is None:
            return root, segs, [*dyn, index]
        return root, [*segs, str(key)], dyn
    return None, [], [node]


def _rule_name(rule: Mapping[str, Any]) -> str | None:
    if "Default" in rule:
        path = ref_path(rule["Default"].get("refr"))
        return path[0] if path else None
    head = (rule.get("Spec") or {}).get("head") or {}
    for kind, body in head.items():
        if kind == "Func":
            return None
        path = ref_path((body or {}).get("refr"))
        return path[0] if path else None
    return None


def ref_path(node: Any) -> list[str]:
    """``a.b["c"]`` as ``["a", "b", "c"]`` from a regorus AST reference."""
    if not isinstance(node, Mapping) or not node:
        return []
    kind, body = next(iter(node.items()))
    if kind == "Var":
        return [str(body.get("value"))]
    if kind == "RefDot":
        return [*ref_path(body.get("refr")), str(body.get("field", [None, ""])[1])]
    if kind == "RefBrack":
        index = body.get("index") or {}
        key = (index.get("String") or {}).get("value")
        return [*ref_path(body.get("refr")), *([str(key)] if key is not None else [])]
    return []
