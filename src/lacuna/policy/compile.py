"""From a checked bundle to a ready engine, and what each package of it defines.

regorus compiles lazily, on the first evaluation; :func:`compile_bundle` forces that once (by
evaluating ``true``) so unsafe variables and similar mistakes surface at load time as a
:class:`~lacuna.errors.PolicyError` with file and line, not at the first decision.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from regorus import Engine

from lacuna.errors import PolicyError
from lacuna.model import PolicyRef
from lacuna.policy.bundle import add_module
from lacuna.policy.diagnostics import diagnose

if TYPE_CHECKING:
    from lacuna.policy.bundle import Bundle

UNDEFINED = '"<undefined>"'  # what regorus's eval_rule_as_json returns for an undefined rule
DECISION_RULES = frozenset({"allow", "deny"})


@dataclass(frozen=True, slots=True, kw_only=True)
class PolicyPackage:
    """A Rego package that defines ``allow`` and/or ``deny``: one vote in every decision."""

    name: str  # "governance.export"
    rules: frozenset[str] = field(repr=False)  # rule names it defines: allow, deny, reasons, ...
    metadata: Mapping[str, Any] = field(default_factory=dict)
    files: tuple[str, ...] = ()

    actions: frozenset[str] | None = field(init=False, repr=False, compare=False)
    """``metadata.actions``: the actions it governs, or ``None`` for all."""
    has_applies: bool = field(init=False, repr=False, compare=False)
    """Whether it defines an ``applies`` rule (evaluated per operation)."""

    def __post_init__(self) -> None:
        actions = self.metadata.get("actions")
        object.__setattr__(self, "actions", frozenset(actions) if isinstance(actions, list)
                           else None)
        object.__setattr__(self, "has_applies", "applies" in self.rules)

    _refs: dict[str, PolicyRef] = field(default_factory=dict, init=False, repr=False,
                                        compare=False)

    def ref(self, effect: str = "none") -> PolicyRef:
        """This package as a :class:`PolicyRef` with the given effect (built once per effect)."""
        cached = self._refs.get(effect)
        if cached is not None:
            return cached
        meta = self.metadata
        compliance = meta.get("compliance")
        ref = PolicyRef(
            package=self.name,
            id=_text(meta.get("id")),
            title=_text(meta.get("title")),
            owner=_text(meta.get("owner") or meta.get("steward")),
            version=_text(meta.get("version")),
            compliance=tuple(str(c) for c in compliance) if isinstance(compliance, list) else (),
            effect=effect,
        )
        self._refs[effect] = ref
        return ref


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def compile_bundle(bundle: Bundle, data: Mapping[str, Any], *, tests: bool = False) -> Engine:
    """A fresh engine holding the bundle's policies (and test files when ``tests``) and data.

    Raises:
        PolicyError: the bundle does not compile; the message names file, line and column.
    """
    engine = Engine()
    for module in bundle.modules if tests else bundle.policy_modules:
        add_module(engine, module, module.rego_version)
    engine.add_data_json(json.dumps(data))
    try:
        engine.eval_query("true")
    except Exception as exc:  # regorus raises RuntimeError; translate whatever it raises
        hint = "The policy bundle does not compile: fix the policy at that position."
        raise diagnose(exc).to_error(hint) from None
    return engine


def rule_names(engine: Engine, only: Collection[str] | None = None) -> dict[str, set[str]]:
    """Package name -> the names of the rules its files define (functions excluded).

    Args:
        engine: an engine holding the modules.
        only: when given, only files with these paths count.
    """
    out: dict[str, set[str]] = {}
    for module in json.loads(engine.get_ast_as_json()):
        if only is not None and (module.get("source") or {}).get("file") not in only:
            continue
        ast = module.get("ast") or {}
        package = ".".join(_ref_path((ast.get("package") or {}).get("refr")))
        names = out.setdefault(package, set())
        for rule in ast.get("rules") or ():
            name = _rule_name(rule)
            if name:
                names.add(name)
    return out


def policy_packages(engine: Engine, bundle: Bundle) -> tuple[PolicyPackage, ...]:
    """The packages of ``engine`` that vote (define allow/deny), sorted by name, with metadata.

    Metadata is read once, here, without input: it must be a constant (as in the seed).

    Raises:
        PolicyError: a package's ``metadata`` fails to evaluate or is not an object, or its
            ``actions`` is not a list of strings.
    """
    files: dict[str, list[str]] = {}
    for m in bundle.policy_modules:
        files.setdefault(m.package, []).append(m.path)
    out = []
    for name, rules in sorted(rule_names(engine).items()):
        if not rules & DECISION_RULES or name not in files:
            continue
        meta = _metadata(engine, name, files[name][0]) if "metadata" in rules else {}
        out.append(PolicyPackage(name=name, rules=frozenset(rules), metadata=meta,
                                 files=tuple(files[name])))
    return tuple(out)


def _metadata(engine: Engine, package: str, path: str) -> dict[str, Any]:
    try:
        text = engine.eval_rule_as_json(f"data.{package}.metadata")
    except Exception as exc:  # regorus raises RuntimeError; translate whatever it raises
        hint = f"metadata of {package} failed to evaluate; make it a constant object."
        raise diagnose(exc).to_error(hint) from None
    meta = {} if text == UNDEFINED else json.loads(text)
    if not isinstance(meta, dict):
        msg = (f"{path}: metadata of package {package} is a {type(meta).__name__}; make it an "
               'object such as {"id": "P-1", "title": "...", "owner": "team@example.com"}.')
        raise PolicyError(msg, path=path)
    actions = meta.get("actions")
    if actions is not None and not (
        isinstance(actions, list) and all(isinstance(a, str) for a in actions)
    ):
        msg = (f"{path}: metadata.actions of package {package} must be a list of action names "
               '(e.g. ["export", "write"]); remove it to govern every action.')
        raise PolicyError(msg, path=path)
    return meta


def _rule_name(rule: Mapping[str, Any]) -> str | None:
    if "Default" in rule:
        path = _ref_path(rule["Default"].get("refr"))
        return path[0] if path else None
    head = (rule.get("Spec") or {}).get("head") or {}
    for kind, body in head.items():
        if kind == "Func":
            return None
        path = _ref_path((body or {}).get("refr"))
        return path[0] if path else None
    return None


def _ref_path(node: Any) -> list[str]:
    """``a.b["c"]`` as ``["a", "b", "c"]`` from a regorus AST reference."""
    if not isinstance(node, Mapping) or not node:
        return []
    kind, body = next(iter(node.items()))
    if kind == "Var":
        return [str(body.get("value"))]
    if kind == "RefDot":
        return [*_ref_path(body.get("refr")), str(body.get("field", [None, ""])[1])]
    if kind == "RefBrack":
        index = body.get("index") or {}
        key = (index.get("String") or {}).get("value")
        return [*_ref_path(body.get("refr")), *([str(key)] if key is not None else [])]
    return []
