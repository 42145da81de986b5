"""From a checked bundle to a ready engine, and what each package of it defines.

regorus compiles lazily, on the first evaluation; :func:`compile_bundle` forces that once (by
evaluating ``true``) so unsafe variables and similar mistakes surface at load time as a
:class:`~lacuna.errors.PolicyError` with file and line, not at the first decision.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from regorus import Engine

from lacuna.errors import PolicyError
from lacuna.model import PolicyRef
from lacuna.policy.aggregate import data_ref
from lacuna.policy.analysis import rule_names
from lacuna.policy.annotations import Annotation, package_metadata, parse_annotations
from lacuna.policy.bundle import add_module, content_key
from lacuna.policy.diagnostics import diagnose
from lacuna.policy.jsontext import MAX_DEPTH
from lacuna.policy.unsendable import releasing_engines

if TYPE_CHECKING:
    from lacuna.policy.bundle import Bundle, RegoModule

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

    @property
    def votes(self) -> bool:
        """Whether it takes part in decisions (defines ``allow`` and/or ``deny``)."""
        return bool(self.rules & DECISION_RULES)

    @property
    def inherits(self) -> tuple[str, ...]:
        """``metadata.inherits``: the corporate packages a domain package builds on."""
        value = self.metadata.get("inherits")
        return tuple(str(v) for v in value) if isinstance(value, list) else ()

    @property
    def domain(self) -> str | None:
        """``metadata.domain`` (set from ``governance.domains.<domain>`` when absent)."""
        value = self.metadata.get("domain")
        return None if value is None else str(value)

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


# Engines the main thread compiled lately, by what was compiled (the modules' paths, versions and
# sources, and the data's JSON text): a governor made again (``lacuna.enable`` per test, a
# switch of user, a reloaded configuration) gets a clone of one (~1 µs) instead of parsing and
# compiling every file again (~0.8 ms for the default bundle). A clone is an engine of its own:
# its input, data, policies and coverage never reach the kept one. Only an engine that compiled
# is kept, so a bundle that fails fails every time. Kept on the main thread only: regorus
# engines are unsendable (:mod:`.unsendable`), and what another thread kept would be dropped
# by the main thread at exit when that thread is a daemon still running (a policy watcher, a
# server's worker), which regorus refuses.
_COMPILED: OrderedDict[str, Engine] = OrderedDict()
_COMPILED_KEPT = 4


def _compiled() -> OrderedDict[str, Engine] | None:
    return _COMPILED if threading.current_thread() is threading.main_thread() else None


def _clone(engine: Engine) -> Engine:
    copy: Any = getattr(engine, "clone")  # noqa: B009 - regorus has it, its stub does not
    clone: Engine = copy()
    return clone


def _compile_key(modules: tuple[RegoModule, ...], text: str) -> str:
    """What a compile is kept by (:func:`~lacuna.policy.bundle.content_key`)."""
    return content_key((text, *(p for m in modules for p in (m.path, m.rego_version,
                                                             m.source))))


@releasing_engines
def compile_bundle(bundle: Bundle, data: Mapping[str, Any], *, tests: bool = False) -> Engine:
    """A fresh engine holding the bundle's policies (and test files when ``tests``) and data.

    An engine compiled from the same modules and data on the main thread before is cloned,
    not compiled again (see ``_COMPILED``): the same engine, built once.

    Raises:
        PolicyError: the bundle does not compile; the message names file, line and column.
    """
    modules = bundle.modules if tests else bundle.policy_modules
    try:
        text = json.dumps(data)
    except Exception as exc:  # a value JSON cannot hold: the same answer as regorus's refusal
        raise PolicyError(_data_refused(exc)) from None
    key = _compile_key(modules, text)
    kept = _compiled()
    if kept is not None and (template := kept.get(key)) is not None:
        kept.move_to_end(key)
        return _clone(template)
    engine = Engine()
    for module in modules:
        add_module(engine, module, module.rego_version)
    try:
        engine.add_data_json(text)
    except Exception as exc:  # regorus raises RuntimeError (a document deeper than it reads)
        raise PolicyError(_data_refused(exc)) from None
    try:
        engine.eval_query("true")
    except Exception as exc:  # regorus raises RuntimeError; translate whatever it raises
        hint = "The policy bundle does not compile: fix the policy at that position."
        raise diagnose(exc).to_error(hint) from None
    if kept is not None:
        kept[key] = _clone(engine)
        while len(kept) > _COMPILED_KEPT:
            kept.popitem(last=False)
    return engine


def _data_refused(exc: Exception) -> str:
    return (f"the policy bundle's data could not be loaded into the engine ({exc}). Check "
            f"the bundle's data files (.json/.yaml): at most {MAX_DEPTH} levels of nesting.")


def all_packages(engine: Engine, bundle: Bundle, ast: list[Any] | None = None
                 ) -> tuple[PolicyPackage, ...]:
    """Every package of the bundle's policy files, sorted by name, with its metadata.

    Metadata is ``# METADATA`` annotations (:mod:`lacuna.policy.annotations`) overlaid with the
    package's ``metadata`` rule, read once, here, without input: it must be a constant (as in
    the seed). The rule wins where both set a key. A package under ``governance.domains.<d>``
    gets ``domain: <d>`` unless its metadata names one.

    Raises:
        PolicyError: a package's ``metadata`` fails to evaluate or is not an object, its
            ``actions`` is not a list of strings, an annotation is malformed, or ``inherits``
            names a package the bundle does not define.
    """
    files: dict[str, list[str]] = {}
    notes: dict[str, list[Annotation]] = {}
    for m in bundle.policy_modules:
        files.setdefault(m.package, []).append(m.path)
        notes.setdefault(m.package, []).extend(parse_annotations(m.source, m.path))
    frozen = {k: tuple(v) for k, v in notes.items()}
    out = []
    for name, rules in sorted(rule_names(ast if ast is not None else engine,
                                         _paths(bundle)).items()):
        if name not in files:
            continue
        meta = package_metadata(name, frozen)
        if "metadata" in rules:
            meta.update(_metadata(engine, name, files[name][0]))
        parts = name.split(".")
        if "domains" in parts[:-1]:
            meta.setdefault("domain", parts[parts.index("domains") + 1])
        _check_metadata(meta, name, files[name][0])
        out.append(PolicyPackage(name=name, rules=frozenset(rules), metadata=meta,
                                 files=tuple(files[name])))
    known = {p.name for p in out}
    for p in out:
        for parent in p.inherits:
            if parent not in known:
                msg = (f"{p.files[0]}: package {p.name} inherits {parent}, which no policy file "
                       f"in the bundle defines. Fix the name in its metadata.inherits, or add "
                       f"the package. Packages: {', '.join(sorted(known))}.")
                raise PolicyError(msg, path=p.files[0])
    return tuple(out)


def policy_packages(engine: Engine, bundle: Bundle) -> tuple[PolicyPackage, ...]:
    """The packages that vote (define allow and/or deny), sorted by name, with metadata.

    Raises:
        PolicyError: as for :func:`all_packages`.
    """
    return tuple(p for p in all_packages(engine, bundle) if p.votes)


def _paths(bundle: Bundle) -> set[str]:
    return {m.path for m in bundle.policy_modules}


def _metadata(engine: Engine, package: str, path: str) -> dict[str, Any]:
    try:
        text = engine.eval_rule_as_json(f"{data_ref(package)}.metadata")
    except Exception as exc:  # regorus raises RuntimeError; translate whatever it raises
        hint = f"metadata of {package} failed to evaluate; make it a constant object."
        raise diagnose(exc).to_error(hint) from None
    meta = {} if text == UNDEFINED else json.loads(text)
    if not isinstance(meta, dict):
        msg = (f"{path}: metadata of package {package} is a {type(meta).__name__}; make it an "
               'object such as {"id": "P-1", "title": "...", "owner": "team@example.com"}.')
        raise PolicyError(msg, path=path)
    return meta


def _check_metadata(meta: Mapping[str, Any], package: str, path: str) -> None:
    for key, example in (("actions", '["export", "write"]'),
                         ("inherits", '["governance.export"]')):
        value = meta.get(key)
        if value is not None and not (
            isinstance(value, list) and all(isinstance(a, str) for a in value)
        ):
            what = "action names" if key == "actions" else "package names"
            fix = "remove it to govern every action" if key == "actions" else "or remove it"
            msg = (f"{path}: metadata.{key} of package {package} must be a list of {what} "
                   f"(e.g. {example}); {fix}.")
            raise PolicyError(msg, path=path)
