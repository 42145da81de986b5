"""What a policy server's answer must look like before Lacuna believes it.

A remote decision is only as good as the answer it came from, so the answer is checked against
the shape the generated aggregator (:mod:`lacuna.policy.aggregate`) returns, strictly:

* the body is a JSON object with an object ``result`` (and an optional string ``decision_id``);
* ``result.allowed`` is a JSON boolean (``"false"``, ``0`` or ``null`` are not);
* ``result.votes`` is an array of ``{"package": str, "effect": "allow"|"deny"|"none"}``, a
  ``deny`` vote carrying a non-empty ``deny`` value; each package votes once;
* ``result.metadata`` is an object with an object for every voting package;
* ``result.deciding`` is ``null`` or a voting package; ``explanation`` an object; ``revision``
  a string or ``null``; ``count`` a non-negative integer when present;
* no ``errors`` (the aggregator lists an ``applies`` or ``allow`` that is not a boolean);
* **deny votes win**: ``allowed`` must equal "some package allows and none denies"; an answer
  that says ``allowed: true`` beside a ``deny`` vote (or without any ``allow``) is refused.

Anything else raises :class:`InvalidAnswer` naming the first problem (and the remote engine
denies, saying so).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lacuna.policy.decide import nonempty

EFFECTS = frozenset({"allow", "deny", "none"})


class InvalidAnswer(ValueError):
    """The answer is not a valid Lacuna decision; the message says what is wrong."""


def check_answer(answer: Any) -> tuple[Mapping[str, Any], str | None]:
    """``(result, decision_id)`` of a valid answer.

    Raises:
        InvalidAnswer: the answer does not have the decision's shape, or contradicts itself.
    """
    if not isinstance(answer, Mapping):
        msg = f"the answer is a JSON {_kind(answer)}, not an object"
        raise InvalidAnswer(msg)
    decision_id = answer.get("decision_id")
    if decision_id is not None and not isinstance(decision_id, str):
        msg = f"decision_id is a {_kind(decision_id)}, not a string"
        raise InvalidAnswer(msg)
    result = answer.get("result")
    if result is None:
        msg = "no result"
        raise InvalidAnswer(msg)
    check_result(result)
    return result, decision_id


def check_result(result: Any) -> None:
    """Check one aggregator ``result`` (see the module docstring).

    Raises:
        InvalidAnswer: what is wrong with it.
    """
    if not isinstance(result, Mapping):
        msg = f"result is a JSON {_kind(result)}, not an object"
        raise InvalidAnswer(msg)
    errors = result.get("errors")
    if errors:  # the aggregator's verdict that a policy answered what it cannot mean
        shown = "; ".join(str(e) for e in errors) if isinstance(errors, list) else _show(errors)
        msg = f"the policies failed: {shown}"
        raise InvalidAnswer(msg)
    allowed = result.get("allowed")
    if not isinstance(allowed, bool):
        msg = f"result.allowed is {_show(allowed)}, not a JSON boolean"
        raise InvalidAnswer(msg)
    votes = result.get("votes")
    if not isinstance(votes, list):
        msg = f"result.votes is {_show(votes)}, not an array"
        raise InvalidAnswer(msg)
    metadata = result.get("metadata")
    if not isinstance(metadata, Mapping):
        msg = f"result.metadata is {_show(metadata)}, not an object"
        raise InvalidAnswer(msg)
    seen: set[str] = set()
    for i, vote in enumerate(votes):
        _check_vote(i, vote, metadata, seen)
    deciding = result.get("deciding")
    if deciding is not None and deciding not in seen:
        msg = f"result.deciding {_show(deciding)} is not a package that voted"
        raise InvalidAnswer(msg)
    for key, kinds, label in (("explanation", (Mapping,), "an object"),
                              ("revision", (str,), "a string")):
        value = result.get(key)
        if value is not None and not isinstance(value, kinds):
            msg = f"result.{key} is {_show(value)}, not {label}"
            raise InvalidAnswer(msg)
    count = result.get("count")
    if count is not None and (isinstance(count, bool) or not isinstance(count, int)
                              or count < 0):
        msg = f"result.count is {_show(count)}, not a non-negative integer"
        raise InvalidAnswer(msg)
    denying = [v["package"] for v in votes if v["effect"] == "deny"]
    allowing = [v["package"] for v in votes if v["effect"] == "allow"]
    if allowed and denying:
        msg = (f"result.allowed is true beside a deny vote by {', '.join(denying)} "
               "(deny votes win)")
        raise InvalidAnswer(msg)
    if allowed and not allowing:
        msg = "result.allowed is true but no package voted allow"
        raise InvalidAnswer(msg)


def _check_vote(i: int, vote: Any, metadata: Mapping[str, Any], seen: set[str]) -> None:
    where = f"result.votes[{i}]"
    if not isinstance(vote, Mapping):
        msg = f"{where} is {_show(vote)}, not an object"
        raise InvalidAnswer(msg)
    package, effect = vote.get("package"), vote.get("effect")
    if not isinstance(package, str) or not package:
        msg = f"{where}.package is {_show(package)}, not a package name"
        raise InvalidAnswer(msg)
    if package in seen:
        msg = f"{where}: package {package} votes twice"
        raise InvalidAnswer(msg)
    seen.add(package)
    if effect not in EFFECTS:
        msg = f"{where}.effect is {_show(effect)}, not one of allow, deny, none"
        raise InvalidAnswer(msg)
    if effect == "deny" and not _nonempty(vote.get("deny")):
        msg = f"{where} votes deny without a deny value"
        raise InvalidAnswer(msg)
    if not isinstance(metadata.get(package), Mapping):
        msg = f"result.metadata has no object for {package}, which voted"
        raise InvalidAnswer(msg)


def _nonempty(value: Any) -> bool:
    try:
        return nonempty(value)
    except TypeError:
        return False


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object" if isinstance(value, Mapping) else type(value).__name__


def _show(value: Any) -> str:
    if value is None:
        return "missing or null"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, int | float):
        return f"the number {value}"
    if isinstance(value, str):
        return f"the string {value[:60]!r}"
    return f"a JSON {_kind(value)}"
