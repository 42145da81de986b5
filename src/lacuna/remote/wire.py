"""Operations and decisions as JSON between a client and the server (one format, both ways).

An operation on the wire carries what the client knows and the server cannot see: the data's
classification, the sources' names and classifications, the destination's URI, the purpose
and where in the user's code it happened. It does **not** carry who acts: the server fills
the user in from authentication (:meth:`WireOperation.bind` on what :func:`parse_operation`
read), and it classifies the destination itself with its own ``destinations:`` settings, so a
client cannot claim a governed location or another identity.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from lacuna.errors import ConfigError
from lacuna.model import (
    Action,
    Alternative,
    Classification,
    Decision,
    Destination,
    Layer,
    Operation,
    PolicyRef,
    Source,
    Tier,
    User,
    environment_category,
)

_OPERATION_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")


def operation_to_wire(operation: Operation) -> dict[str, Any]:
    """The client's half: ``operation`` without its user (the server knows who asks)."""
    return {
        "id": operation.id,
        "action": operation.action.value,
        "classification": operation.classification.to_dict(),
        "sources": [{"name": s.name, "classification": s.classification.to_dict()}
                    for s in operation.sources],
        "destination": operation.destination.uri if operation.destination else None,
        "environment": operation.environment,
        "purpose": operation.purpose,
        "exception_id": operation.exception_id,
        "method": operation.method,
        "code_location": operation.code_location,
        "variable": operation.variable,
    }


def wire_name(name: str) -> str:
    """A dataset's name as a client with ``server:`` sends it in a query: a lone surrogate (a
    file name that is not UTF-8, as ``os`` decodes it) written as its ``\\uXXXX`` escape, as
    in a body (:meth:`lacuna.remote.client.ServerClient.call`) and as the server stores it."""
    from lacuna.audit.record import escape_surrogates

    return escape_surrogates(name)


@dataclass(frozen=True, slots=True)
class WireOperation:
    """An operation's wire fields, parsed and checked, before who acts and where it goes are
    known. The server's fast lane keeps these for bodies it saw a moment ago (the same bytes
    parse to the same fields), so a burst of one request parses it once; :meth:`bind` gives
    each request its own operation (its own id and time unless the body names an id)."""

    fields: Mapping[str, Any]  # Operation's keyword arguments but user and destination
    destination: str | None  # the client's URI, classified by the server at bind time

    def bind(self, *, user: User, destination: Callable[[str], Destination]) -> Operation:
        """The operation acted by ``user``, its destination classified by ``destination``."""
        target = self.destination
        return Operation(user=user, destination=destination(target) if target else None,
                         **self.fields)


SOURCE_KEYS = frozenset({"name", "classification"})
CLASSIFICATION_KEYS = frozenset({"schema_version", "tier", "tags", "floor", "table_tags",
                                 "confidence", "layer", "reasoning", "columns"})


def _known(value: Any, keys: frozenset[str], where: str) -> Any:
    """``value``, when it is an object of ``keys`` only (anything else is left to the reader
    to refuse). A key Lacuna does not read was dropped: ``{"name": "crm", "tier":
    "PROPRIETARY", "tags": ["PII"]}`` (the tier beside the source, not in its
    classification) or ``{"Tier": ...}`` was decided as PUBLIC data, allowed anywhere.

    Raises:
        ValueError: an unknown key, named with the keys that are read.
    """
    if isinstance(value, Mapping):
        unknown = sorted(str(k) for k in value if k not in keys)
        if unknown:
            hint = ("; a source's tier and tags go in its classification"
                    if keys is SOURCE_KEYS else "")
            msg = (f"{where} has {', '.join(repr(k[:40]) for k in unknown[:5])}, which Lacuna "
                   f"does not read (it reads {', '.join(sorted(keys))}){hint}")
            raise ValueError(msg)
    return value


def _of_sources(sources: tuple[Source, ...]) -> Classification:
    """The data of an operation that declares no classification (none, or ``{}``) but names
    classified sources: the strictest of them (tier, floor, tags). It was PUBLIC, so a
    hand-written client that named PII sources and left the data's class out exported them
    anywhere. A client that means public data declares it (``{"tier": "PUBLIC"}``); Lacuna's
    own clients always declare what they classified."""
    tier = max(s.classification.tier for s in sources)
    floor = max(s.classification.floor for s in sources)
    if tier == Tier.PUBLIC and floor == Tier.PUBLIC and not any(
            s.classification.tags or s.classification.table_tags for s in sources):
        return Classification()
    return Classification(
        tier=tier, floor=floor,
        tags=tuple(dict.fromkeys(t for s in sources for t in s.classification.tags)),
        table_tags=tuple(dict.fromkeys(t for s in sources for t in s.classification.table_tags)),
        reasoning=(f"{tier.value}: the operation declared no classification; the strictest of "
                   "its sources (" + ", ".join(
                       f"{s.name} {s.classification.tier.value}" for s in sources[:10]) + ")",),
        layer=Layer.INHERITED)


def parse_operation(body: Mapping[str, Any]) -> WireOperation:
    """The server's half: ``body``'s fields parsed and checked (no user yet, destination not
    classified); :meth:`WireOperation.bind` makes the :class:`Operation` for the authenticated
    user.

    Raises:
        ValueError: a malformed field (the message names it).
    """
    try:
        action = Action(str(body.get("action", "")))
    except ValueError:
        allowed = ", ".join(a.value for a in Action)
        msg = f"operation.action must be one of: {allowed}"
        raise ValueError(msg) from None
    classification = Classification.from_dict(
        _known(body.get("classification") or {}, CLASSIFICATION_KEYS, "operation.classification"))
    sources = tuple(
        Source(name=str(s["name"]),
               classification=Classification.from_dict(_known(
                   s.get("classification") or {}, CLASSIFICATION_KEYS,
                   f"operation.sources[{i}].classification")))
        for i, s in enumerate(_known(s, SOURCE_KEYS, f"operation.sources[{i}]")
                              for i, s in enumerate(body.get("sources") or ())))
    if sources and not body.get("classification"):
        classification = _of_sources(sources)
    target = body.get("destination")
    fields: dict[str, Any] = {
        "action": action,
        "classification": classification,
        "sources": sources,
        "environment": _environment(body.get("environment")),
        "purpose": _text(body.get("purpose")),
        "exception_id": _text(body.get("exception_id")),
        "method": str(body.get("method") or ""),
        "code_location": _text(body.get("code_location")),
        "variable": _text(body.get("variable")),
    }
    op_id = body.get("id")
    if op_id is not None:
        if not isinstance(op_id, str) or not _OPERATION_ID.match(op_id):
            msg = "operation.id must be 1-64 letters, digits or _.:-"
            raise ValueError(msg)
        fields["id"] = op_id
    return WireOperation(fields=MappingProxyType(fields),
                         destination=str(target) if target else None)


def _environment(value: Any) -> str:
    """The operation's environment, one Lacuna knows (``development`` when not given): an
    unknown one reached the policy input's ``environment_category``, which failed the
    decision as a policy engine error (recorded and counted as one) instead of refusing the
    request that named it.

    Raises:
        ValueError: not an environment Lacuna knows (the message lists them).
    """
    environment = str(value or "development")
    try:
        environment_category(environment)
    except ConfigError as exc:
        msg = f"operation.environment: {exc}"
        raise ValueError(msg) from None
    return environment


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def decision_to_wire(decision: Decision, sent: Operation | None = None) -> dict[str, Any]:
    """Every field of ``decision`` (its operation summarised as ``Decision.to_dict`` does).
    With ``sent`` (the operation as the client sent it): when the server decided on other
    classifications (its lineage store knew more of a source, a dbt model's columns), the
    ``held`` classification and sources it decided and recorded, so the client shows the
    class the record names, not the one it claimed."""
    out = decision.rendered(
        [{"title": a.title, "code": a.code, "note": a.note, "kind": a.kind,
          "params": dict(a.params)} for a in decision.alternatives],
        [{"package": p.package, "id": p.id, "title": p.title, "owner": p.owner,
          "version": p.version, "compliance": list(p.compliance), "effect": p.effect}
         for p in decision.policies])
    out["eval_ms"] = decision.eval_ms
    op = decision.operation
    if sent is not None and op is not None and (
            op.classification is not sent.classification or op.sources is not sent.sources):
        out["held"] = {"classification": op.classification.to_dict(),
                       "sources": [{"name": s.name, "classification": s.classification.to_dict()}
                                   for s in op.sources]}
    return out


def decision_from_wire(data: Mapping[str, Any], operation: Operation | None = None) -> Decision:
    """A :class:`Decision` from :func:`decision_to_wire`'s JSON.

    Raises:
        ValueError: ``allowed`` is not a boolean, a text field holds something else than text
            (or null), or a list holds something else than objects.
    """
    allowed = data.get("allowed")
    if not isinstance(allowed, bool):
        msg = f"decision.allowed must be true or false, not {allowed!r}"
        raise ValueError(msg)
    if operation is not None and data.get("held") is not None:
        operation = _held(operation, data["held"])
    return Decision(
        allowed=allowed,
        operation_id=str(data.get("operation_id") or (operation.id if operation else "")),
        reasoning=str(data.get("reasoning") or ""),
        policy_id=_opt(data, "policy_id"),
        policy_title=_opt(data, "policy_title"),
        why=tuple(str(w) for w in _items(data, "why")),
        alternatives=tuple(
            Alternative(title=str(a["title"]), code=_opt(a, "code"), note=_opt(a, "note"),
                        kind=_opt(a, "kind"),
                        params=tuple((str(k), str(v)) for k, v in _object(a, "params").items()))
            for a in _objects(data, "alternatives")),
        steward=_opt(data, "steward"),
        docs_url=_opt(data, "docs_url"),
        policies=tuple(
            PolicyRef(package=str(p["package"]), id=_opt(p, "id"), title=_opt(p, "title"),
                      owner=_opt(p, "owner"), version=_opt(p, "version"),
                      compliance=tuple(str(c) for c in _items(p, "compliance")),
                      effect=str(p.get("effect") or "allow"))
            for p in _objects(data, "policies")),
        engine_error=_opt(data, "engine_error"),
        bundle_revision=_opt(data, "bundle_revision"),
        eval_ms=float(data.get("eval_ms") or 0.0),
        exception_approved=data.get("exception_approved") is True,
        operation=operation,
    )


def _held(operation: Operation, held: Any) -> Operation:
    """``operation`` with the classification and sources the server decided on (``held`` of
    :func:`decision_to_wire`).

    Raises:
        ValueError: ``held`` is not an object with a classification and a list of sources.
    """
    from dataclasses import replace

    if not isinstance(held, Mapping) or not isinstance(held.get("classification"), Mapping):
        msg = "decision field 'held' must be an object with a classification object"
        raise ValueError(msg)
    try:
        classification = Classification.from_dict(held["classification"])
        sources = tuple(
            Source(name=str(s["name"]),
                   classification=Classification.from_dict(s.get("classification") or {}))
            for s in _objects(held, "sources"))
    except (TypeError, KeyError, ConfigError) as exc:
        msg = f"decision field 'held' is not a classification and sources ({exc})"
        raise ValueError(msg) from None
    return replace(operation, classification=classification, sources=sources)


# A server's answer is checked field by field: a number, list or object where text belongs
# would otherwise ride into the decision and fail later, far from the answer (or not at all).
def _opt(data: Mapping[str, Any], key: str) -> str | None:
    value = data.get(key)
    if value is None or isinstance(value, str):
        return value
    msg = f"decision field {key!r} must be text or null, not {type(value).__name__}"
    raise ValueError(msg)


def _items(data: Mapping[str, Any], key: str) -> list[Any]:
    value = data.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        msg = f"decision field {key!r} must be a list, not {type(value).__name__}"
        raise ValueError(msg)
    return value


def _object(data: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = data.get(key)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        msg = f"decision field {key!r} must be an object, not {type(value).__name__}"
        raise ValueError(msg)
    return value


def _objects(data: Mapping[str, Any], key: str) -> list[Mapping[str, Any]]:
    items = _items(data, key)
    if not all(isinstance(i, Mapping) for i in items):
        msg = f"decision field {key!r} must be a list of objects"
        raise ValueError(msg)
    return items
