"""The decision protocol: how policy packages vote and how their votes combine.

**Policy package.** Any Rego package that defines ``allow`` and/or ``deny`` (``*_test.rego`` files
never count). Other packages are helpers: they may be imported, they never vote. The seed's v0
examples (``allow_export``, ``allow_marketing_export``) load fine but do not vote until they
define ``allow`` or ``deny``.

**Applies.** Per operation, a package votes only if it applies: ``metadata.actions`` (a constant
list such as ``["export", "write"]``), when present, must contain ``input.action``; and the
package's ``applies`` rule, when defined, must be ``true``. No ``actions`` and no ``applies``
means it applies to everything.

**Vote.** For each applicable package (sorted by name) the engine reads ``allow`` (only ``true``
counts) and ``deny`` (a set or array of messages, a message, or ``true``; non-empty means deny).

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
(array or set of strings) and ``alternatives`` (strings, or objects ``{title, code, note}``).
``policies`` lists every applicable package with its effect: ``allow``, ``deny`` or ``none``.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lacuna.model import Alternative, Decision
from lacuna.policy.compile import UNDEFINED, PolicyPackage
from lacuna.policy.diagnostics import diagnose

if TYPE_CHECKING:
    from regorus import Engine

    from lacuna.model import Operation

log = logging.getLogger(__name__)
_encode = json.JSONEncoder(separators=(",", ":"), check_circular=False, default=str).encode


@dataclass(frozen=True, slots=True)
class Vote:
    """How one applicable package voted."""

    package: PolicyPackage
    allow: bool
    deny: tuple[str, ...]

    @property
    def effect(self) -> str:
        """``deny``, ``allow`` or ``none``."""
        return "deny" if self.deny else "allow" if self.allow else "none"


def decide(engine: Engine, packages: Sequence[PolicyPackage], doc: Mapping[str, Any], *,
           operation_id: str, revision: str, docs_url: str | None, started: float,
           operation: Operation | None = None) -> Decision:
    """Evaluate ``doc`` against ``packages`` and combine the votes (see the module docstring)."""
    current = "<input>"
    try:
        # JSON, not set_input(dict): the binding turns Python bools into numbers (False -> 0,
        # which Rego treats as defined/true), silently breaking every boolean check.
        engine.set_input_json(_encode(doc))
        votes = []
        action = doc.get("action")
        for package in packages:
            current = package.name
            vote = _vote(engine, package, action)
            if vote is not None:
                votes.append(vote)
        if not votes:
            decision = _no_policy(action, len(packages), operation_id, revision, started)
        else:
            decision = _combine(engine, votes, doc, operation_id, revision, docs_url, started)
    except Exception as exc:  # fail closed on anything the engine raises
        decision = engine_failure(exc, current, operation_id, revision, started)
    if operation is not None:
        object.__setattr__(decision, "operation", operation)  # freshly built, not yet shared
    return decision


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


def _vote(engine: Engine, package: PolicyPackage, action: Any) -> Vote | None:
    actions = package.actions
    if actions is not None and action not in actions:
        return None
    name = package.name
    if package.has_applies and engine.eval_rule(f"data.{name}.applies") is not True:
        return None
    deny = _messages(_rule(engine, package, "deny"), name) if "deny" in package.rules else ()
    # A denying package's allow cannot change anything: skip evaluating it.
    allow = not deny and "allow" in package.rules and (
        engine.eval_rule(f"data.{name}.allow") is True)
    return Vote(package, allow, deny)


def _combine(engine: Engine, votes: list[Vote], doc: Mapping[str, Any], operation_id: str,
             revision: str, docs_url: str | None, started: float) -> Decision:
    denying = [v for v in votes if v.deny]
    allowing = [v for v in votes if v.allow]
    allowed = bool(allowing) and not denying
    if denying:
        deciding = denying[0]
        reasoning = "; ".join(m for v in denying for m in v.deny)
    else:
        if allowed:
            deciding = allowing[0]
        else:
            deciding = next((v for v in votes if "reasons" in v.package.rules), votes[0])
        reasons = _messages(_rule(engine, deciding.package, "reasons"), deciding.package.name)
        reasoning = "; ".join(reasons) or _fallback(deciding, votes, allowed, doc)
    why: tuple[str, ...] = ()
    alternatives: tuple[Alternative, ...] = ()
    if not allowed:
        why = tuple(str(w) for w in _items(_rule(engine, deciding.package, "why")))
        alternatives = tuple(_alternative(a) for a in _items(
            _rule(engine, deciding.package, "alternatives")))
    meta = deciding.package.metadata
    ref = deciding.package.ref()
    docs = meta.get("docs_url") or meta.get("documentation")
    if not docs and docs_url and ref.id:
        docs = f"{docs_url}{ref.id}"
    return Decision(
        allowed=allowed, operation_id=operation_id, reasoning=reasoning, policy_id=ref.id,
        policy_title=ref.title, why=why, alternatives=alternatives,
        steward=_text(meta.get("steward")) or ref.owner, docs_url=_text(docs),
        policies=tuple(v.package.ref(v.effect) for v in votes), bundle_revision=revision,
        eval_ms=_ms(started),
    )


def _no_policy(action: Any, count: int, operation_id: str, revision: str,
               started: float) -> Decision:
    return Decision(
        allowed=False, operation_id=operation_id, bundle_revision=revision, eval_ms=_ms(started),
        reasoning=(f"No policy governs the {action!r} action: none of the {count} policy "
                   "packages in the bundle applies to it, so it is denied (fail closed). "
                   "Ask the policy owners to add a policy for it (see docs/policies.md)."),
    )


def _fallback(deciding: Vote, votes: list[Vote], allowed: bool, doc: Mapping[str, Any]) -> str:
    """A reasoning for packages that give no ``reasons``."""
    if allowed:
        ref = deciding.package.ref()
        label = f"{ref.id} ({ref.title})" if ref.id and ref.title else ref.title or ref.id
        return f"Allowed by {label or ref.package}."
    source: Mapping[str, Any] = doc.get("source") or {}
    destination: Mapping[str, Any] = doc.get("destination") or {}
    if not isinstance(source, Mapping) or not isinstance(destination, Mapping):
        source, destination = {}, {}
    what = f"{doc.get('action', 'this operation')} of {source.get('classification', 'this')} data"
    where = f" to a {destination['type']} destination" if destination.get("type") else ""
    names = ", ".join(v.package.name for v in votes)
    return f"No policy allows {what}{where}: {names} did not grant it."


def _rule(engine: Engine, package: PolicyPackage, rule: str) -> Any:
    if rule not in package.rules:
        return None
    text = engine.eval_rule_as_json(f"data.{package.name}.{rule}")
    if text == "[]":  # the common empty deny set, without a JSON parse
        return []
    return None if text == UNDEFINED else json.loads(text)


def _items(value: Any) -> list[Any]:
    if value is None or value is False:
        return []
    return value if isinstance(value, list) else [value]


def _messages(value: Any, package: str) -> tuple[str, ...]:
    """Deny/reason messages from a set, array, string, object or ``true``."""
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


def _alternative(value: Any) -> Alternative:
    if isinstance(value, Mapping):
        title = value.get("title") or value.get("description") or value.get("code") or ""
        return Alternative(title=str(title), code=_text(value.get("code")),
                           note=_text(value.get("note")))
    return Alternative(title=str(value))


def _text(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000.0
