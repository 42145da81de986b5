"""The decision protocol: how policy packages vote and how their votes combine.

**Policy package.** Any Rego package that defines ``allow`` and/or ``deny`` (``*_test.rego`` files
never count). Other packages are helpers: they may be imported, they never vote. The seed's v0
examples (``allow_export``, ``allow_marketing_export``) load fine but do not vote until they
define ``allow`` or ``deny``.

**Applies.** Per operation, a package votes only if it applies: ``metadata.actions`` (a constant
list such as ``["export", "write"]``), when present, must contain ``input.action``; and the
package's ``applies`` rule, when defined, must be ``true``. No ``actions`` and no ``applies``
means it applies to everything.

**Vote.** For each applicable package (sorted by name) the engine reads ``deny`` (a set or array
of messages, a message, or ``true``) and, unless it denies, ``allow`` (only ``true`` counts). A
package votes deny when ``deny`` is ``true``, a number, or a non-empty collection or message
(:func:`nonempty`); else allow when ``allow`` is ``true``; else none. An ``applies`` or
``allow`` that is defined but not a boolean fails the decision (:class:`NotABoolean`).

**Combination** (the OPA convention, deny overrides)::

    allowed  =  some applicable package has allow == true
           and  no applicable package has a non-empty deny

A domain package can therefore grant what corporate policy leaves open (corporate ``allow`` is
false without a ``deny``), but never lift a corporate ``deny``. If no package applies, the
operation is denied with a reason naming the action (fail closed). If the engine raises anything
while deciding, the operation is denied, ``Decision.engine_error`` says why, and the failure is
logged at ERROR (fail closed, loudly).

**Explanation.** The deciding package is the first denying package on a deny by ``deny``; the
first applicable package with ``reasons`` (else the first applicable) on a deny for lack of an
``allow``; the first allowing package on an allow. From it: ``metadata`` gives ``policy_id``,
``policy_title``, ``steward`` (``steward`` or ``owner``) and ``docs_url`` (``docs_url`` or
``documentation``, else the configured ``docs_url`` + policy id); ``reasoning`` is the deny
messages of every denying package, else the deciding package's ``reasons``; on a denial, ``why``
(array or set of strings) and ``alternatives`` (strings, objects ``{title, code, note}``, or
``{kind, title, ...}`` that Lacuna builds and checks: :mod:`lacuna.alternatives`).
``policies`` lists every applicable package with its effect: ``allow``, ``deny`` or ``none``.

**Two implementations, one answer.** :func:`collect` runs the protocol step by step in Python
(the embedded engine: fast, it evaluates only what it needs); :mod:`lacuna.policy.aggregate`
generates the same protocol as Rego for a remote OPA server. Both produce the same result
document, which :func:`build` turns into a :class:`Decision`; tests keep them in agreement.
"""

from __future__ import annotations

import functools
import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from lacuna.errors import PolicyError
from lacuna.model import Alternative, Decision, Explanation
from lacuna.policy.compile import UNDEFINED, PolicyPackage
from lacuna.policy.diagnostics import diagnose
from lacuna.policy.jsontext import dumps

if TYPE_CHECKING:
    from regorus import Engine

    from lacuna.model import Operation

log = logging.getLogger(__name__)


def decide(engine: Engine, packages: Sequence[PolicyPackage], doc: Mapping[str, Any], *,
           operation_id: str, revision: str, docs_url: str | None, started: float,
           operation: Operation | None = None, input_json: str | None = None,
           explainer: Callable[[str, PolicyPackage], Explanation] | None = None,
           by_name: Mapping[str, PolicyPackage] | None = None) -> Decision:
    """Evaluate ``doc`` against ``packages`` and combine the votes (see the module docstring).

    Args:
        input_json: ``doc`` as JSON text, when the caller has it (it may be ``doc`` pruned to
            what the policies read: :class:`lacuna.policy.cache.DecisionCache`).
        explainer: with it, a denial's ``why`` and ``alternatives`` are not evaluated here:
            ``explainer(input_json, deciding_package)`` returns the lazy
            :class:`~lacuna.model.Explanation` the decision holds instead.
        by_name: ``packages`` by name, when the caller keeps it.
    """
    where = ["<input>"]
    try:
        # JSON, not set_input(dict): the binding turns Python bools into numbers (False -> 0,
        # which Rego treats as defined/true), silently breaking every boolean check.
        text = input_json if input_json is not None else dumps(doc)
        engine.set_input_json(text)
        result = collect(engine, packages, doc.get("action"), where,
                         explain=explainer is None)
        if by_name is None:
            by_name = {p.name: p for p in packages}
        deciding = result["deciding"]
        lazy = (explainer(text, by_name[deciding])
                if explainer is not None and not result["allowed"] and deciding else None)
        return build(result, by_name.__getitem__, doc, operation_id=operation_id,
                     revision=revision, docs_url=docs_url, started=started,
                     operation=operation, lazy=lazy)
    except Exception as exc:  # fail closed on anything the engine raises
        decision = engine_failure(exc, where[0], operation_id, revision, started)
    if operation is not None:
        object.__setattr__(decision, "operation", operation)  # freshly built, not yet shared
    return decision


def explain(engine: Engine, package: PolicyPackage) -> tuple[tuple[str, ...],
                                                             tuple[Alternative, ...]]:
    """A denial's ``why`` and ``alternatives`` from ``package`` (the engine's input must be
    set to the decision's input)."""
    why = tuple(str(w) for w in _items(_rule(engine, package, "why")))
    return why, _alternatives(_rule(engine, package, "alternatives"))


def collect(engine: Engine, packages: Sequence[PolicyPackage], action: Any,
            where: list[str] | None = None, *, explain: bool = True) -> dict[str, Any]:
    """The votes and the deciding package's explanation, as the aggregator returns them.

    This is :mod:`lacuna.policy.aggregate`'s Rego, step by step in Python (the engine's input
    must be set): same fields, same values, several times faster in-process. ``where[0]`` is
    kept at the package being evaluated, for error messages. With ``explain`` false, a
    denial's ``why`` and ``alternatives`` are left out (see :func:`explain`).
    """
    where = where if where is not None else [""]
    votes: list[dict[str, Any]] = []
    deciders: dict[str, PolicyPackage] = {}
    for package in packages:
        actions = package.actions
        if actions is not None and action not in actions:
            continue
        name = where[0] = package.name
        if package.has_applies:
            applies = engine.eval_rule_as_json(f"data.{name}.applies")
            if applies != "true":
                if applies in ("false", UNDEFINED):
                    continue
                raise NotABoolean(name, "applies", applies)
        deny = _rule(engine, package, "deny") if "deny" in package.rules else None
        if nonempty(deny):
            votes.append({"package": name, "effect": "deny", "deny": deny})
            deciders[name] = package
            continue
        allow = engine.eval_rule(f"data.{name}.allow") if "allow" in package.rules else None
        if allow is True:
            votes.append({"package": name, "effect": "allow"})
        elif allow is None or allow is False:
            votes.append({"package": name, "effect": "none"})
        else:
            raise NotABoolean(name, "allow", dumps(allow))
        deciders[name] = package
    denying = [v["package"] for v in votes if v["effect"] == "deny"]
    allowing = [v["package"] for v in votes if v["effect"] == "allow"]
    allowed = bool(allowing) and not denying
    deciding: str | None = None
    explanation: dict[str, Any] = {}
    if votes:
        deciding = (denying or allowing or [v["package"] for v in votes
                                            if "reasons" in deciders[v["package"]].rules]
                    or [votes[0]["package"]])[0]
        package = deciders[deciding]
        where[0] = deciding
        wanted = ((("why", "alternatives") if explain else ()) if denying
                  else ("reasons",) if allowed
                  else ("reasons", "why", "alternatives") if explain else ("reasons",))
        explanation = {r: _rule(engine, package, r) for r in wanted}
    return {"count": len(packages), "allowed": allowed, "deciding": deciding, "votes": votes,
            "explanation": explanation}


class NotABoolean(PolicyError):
    """``applies`` or ``allow`` evaluated to something other than a boolean: the package's
    intent is unknown, so the decision is an engine failure (a denial), never a guess. A
    non-boolean ``applies`` read as "does not apply" would silently lift the package's deny."""

    def __init__(self, package: str, rule: str, value_json: str) -> None:
        shown = value_json if len(value_json) <= 80 else f"{value_json[:77]}..."
        what = "applies" if rule == "applies" else "allows"
        super().__init__(
            f"data.{package}.{rule} is {shown}, not a boolean (true or false): Lacuna cannot "
            f"tell whether the package {what}, so it denies; make {rule} a boolean rule "
            f"(`{rule} if {{ ... }}`)")


def nonempty(value: Any) -> bool:
    """Whether a ``deny`` value is a deny vote: ``true``, a number, or a non-empty collection
    or message (the aggregator's ``nonempty``)."""
    if value is True:
        return True
    if value is None or isinstance(value, bool):
        return False
    if isinstance(value, int | float):
        return True
    return len(value) > 0


def build(result: Mapping[str, Any], lookup: Callable[[str], PolicyPackage],
          doc: Mapping[str, Any], *, operation_id: str, revision: str | None,
          docs_url: str | None, started: float, operation: Operation | None = None,
          lazy: Explanation | None = None) -> Decision:
    """A :class:`Decision` from a collected (or aggregator) result.

    Args:
        result: what :func:`collect` or the aggregator's ``decision``/``result`` returned.
        lookup: package name -> its :class:`PolicyPackage` (for metadata).
        doc: the policy input (for the fallback reasoning: ``action``,
            ``source.classification`` and ``destination.type``).
        operation: the decided operation, when there is one.
        lazy: a denial's explanation, evaluated when read, instead of the result's.
    """
    errors = result.get("errors")
    if errors:  # the aggregator's NotABoolean: an applies/allow that is not a boolean
        raise PolicyError("; ".join(str(e) for e in errors) if isinstance(errors, list)
                          else str(errors))
    votes = result.get("votes") or []
    if not votes:
        decision = _no_policy(doc.get("action"), int(result.get("count") or 0), operation_id,
                              revision, started)
        return decision if operation is None else decision.evolve(operation=operation)
    allowed = bool(result.get("allowed"))
    explanation: Mapping[str, Any] = result.get("explanation") or {}
    deciding = lookup(str(result.get("deciding")))
    denying = [v for v in votes if v["effect"] == "deny"]
    if denying:
        reasoning = "; ".join(m for v in denying for m in (
            _messages(v.get("deny"), v["package"]) or (f"Denied by {v['package']}.",)))
    else:
        reasons = _messages(explanation.get("reasons"), deciding.name)
        reasoning = "; ".join(reasons) or _fallback(deciding, votes, allowed, doc)
    why: tuple[str, ...] | Explanation = ()
    alternatives: tuple[Alternative, ...] | Explanation = ()
    if lazy is not None:
        why = alternatives = lazy
    elif not allowed:
        why = tuple(str(w) for w in _items(explanation.get("why")))
        alternatives = _alternatives(explanation.get("alternatives"))
    meta = deciding.metadata
    ref = deciding.ref()
    docs = meta.get("docs_url") or meta.get("documentation")
    if not docs and docs_url and ref.id:
        docs = f"{docs_url}{ref.id}"
    return Decision(
        allowed=allowed, operation_id=operation_id, reasoning=reasoning, policy_id=ref.id,
        policy_title=ref.title, why=why, alternatives=alternatives,
        steward=_text(meta.get("steward")) or ref.owner, docs_url=_text(docs),
        policies=tuple(lookup(v["package"]).ref(v["effect"]) for v in votes),
        bundle_revision=revision, eval_ms=_ms(started), operation=operation,
    )


def engine_failure(exc: BaseException, where: str, operation_id: str, revision: str | None,
                   started: float) -> Decision:
    """A fail-closed denial for an engine error, logged at ERROR."""
    d = diagnose(exc)
    detail = f"{d.where}: {d.message}" if d.path else d.message
    log.error("policy engine failed while evaluating %s; denying operation %s (fail closed): %s",
              where, operation_id, detail)
    return Decision(
        allowed=False, operation_id=operation_id, engine_error=detail, bundle_revision=revision,
        reasoning=(f"Denied because the policy engine failed while evaluating {where} "
                   f"(fail closed): {detail}. Fix the policy, or tell its owner."),
        eval_ms=_ms(started),
    )


def _no_policy(action: Any, count: int, operation_id: str, revision: str | None,
               started: float) -> Decision:
    return Decision(
        allowed=False, operation_id=operation_id, bundle_revision=revision, eval_ms=_ms(started),
        reasoning=(f"No policy governs the {action!r} action: none of the {count} policy "
                   "packages in the bundle applies to it, so it is denied (fail closed). "
                   "Add a policy for it, e.g. a copy of the default bundle's "
                   "governance/baseline.rego, which allows reads and transforms "
                   "(see docs/policies.md)."),
    )


def _fallback(deciding: PolicyPackage, votes: Sequence[Mapping[str, Any]], allowed: bool,
              doc: Mapping[str, Any]) -> str:
    """A reasoning for packages that give no ``reasons``."""
    if allowed:
        ref = deciding.ref()
        label = f"{ref.id} ({ref.title})" if ref.id and ref.title else ref.title or ref.id
        return f"Allowed by {label or ref.package}."
    source: Mapping[str, Any] = doc.get("source") or {}
    destination: Mapping[str, Any] = doc.get("destination") or {}
    if not isinstance(source, Mapping) or not isinstance(destination, Mapping):
        source, destination = {}, {}
    what = f"{doc.get('action', 'this operation')} of {source.get('classification', 'this')} data"
    where = f" to a {destination['type']} destination" if destination.get("type") else ""
    names = ", ".join(str(v["package"]) for v in votes)
    return f"No policy allows {what}{where}: {names} did not grant it."


def _rule(engine: Engine, package: PolicyPackage, rule: str) -> Any:
    if rule not in package.rules:
        return None
    text = engine.eval_rule_as_json(f"data.{package.name}.{rule}")
    if text == "[]":  # the common empty deny set, without a JSON parse
        return []
    return None if text == UNDEFINED else _parse(text)


@functools.lru_cache(maxsize=1024)
def _parse(text: str) -> Any:
    """A rule's JSON value. Cached: explanations repeat, and the same text gives the same
    object, which :func:`_alternatives` relies on. Never mutate what it returns."""
    return json.loads(text)


_CONVERTED: dict[int, tuple[Any, tuple[Alternative, ...]]] = {}


def _alternatives(value: Any) -> tuple[Alternative, ...]:
    """``value`` as Alternatives, converted once per parsed object (a denial's hot path)."""
    hit = _CONVERTED.get(id(value))
    if hit is not None and hit[0] is value:
        return hit[1]
    converted = tuple(_alternative(a) for a in _items(value))
    if len(_CONVERTED) >= 1024:
        _CONVERTED.clear()
    _CONVERTED[id(value)] = (value, converted)  # keeps value alive: its id stays its own
    return converted


def _items(value: Any) -> list[Any]:
    if value is None or value is False:
        return []
    return value if isinstance(value, list) else [value]


def _messages(value: Any, package: str) -> tuple[str, ...]:
    """Deny/reason messages from a set, array, string, object or ``true``."""
    if type(value) is list and all(type(m) is str for m in value):  # the usual set of strings
        return tuple(m for m in value if m)
    if value is True:
        return (f"Denied by {package}.",)
    if isinstance(value, Mapping) and not {"msg", "message", "reason"} & value.keys():
        value = list(value.values())  # a partial object: {code: message}
    return tuple(m for m in (_message(v) for v in _items(value)) if m)


def _message(value: Any) -> str:
    if isinstance(value, Mapping):
        text = value.get("msg") or value.get("message") or value.get("reason")
        return str(text) if text else json.dumps(value, sort_keys=True)
    return "" if value is None else str(value)


_ALTERNATIVE_FIELDS = frozenset({"title", "description", "code", "note", "kind"})


def _alternative(value: Any) -> Alternative:
    if isinstance(value, Mapping):
        title = value.get("title") or value.get("description") or value.get("code") or ""
        kind = value.get("kind")
        if not kind:
            return Alternative(title=str(title), code=_text(value.get("code")),
                               note=_text(value.get("note")))
        params = tuple(sorted((str(k), str(v)) for k, v in value.items()
                              if k not in _ALTERNATIVE_FIELDS and v is not None))
        return Alternative(title=str(title or kind), code=_text(value.get("code")),
                           note=_text(value.get("note")), kind=str(kind), params=params)
    return Alternative(title=str(value))


def _text(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000.0
