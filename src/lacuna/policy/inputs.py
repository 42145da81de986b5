"""The policy input: one operation as the JSON document policies read as ``input``.

The shape is the seed's "Policy Evaluation (OPA)" box, extended with what Lacuna knows::

    {
      "action": "export",
      "source": {
        "classification": "PROPRIETARY",          # the tier of the data acted upon
        "tags": ["PII", "GDPR"],
        "columns": {"email": {"classification": "pii", "sensitivity": "high",
                              "pii_type": "email"}, ...},   # ADR-0012 meta.floe per column
        "pii_columns": ["email", "phone"],        # columns classified pii or phi
        "pii_types": ["email", "phone"],
        "names": ["customers.csv"],               # the sources' names
        "created_at": "2025-01-15T09:30:00+00:00" # oldest source, when known (RFC 3339, UTC)
      },
      "destination": {"uri": ..., "type": "file", "scope": "external", "encrypted": false,
                      "managed": false, "classification_support": false, "path": ...,
                      "path_prefix": "~/Downloads"},      # null when there is none (read)
      "user": {"id": "alice", "role": "data_analyst", "clearance": "INTERNAL", ...},
      "lineage": ["customers.csv"],
      "environment": "development", "environment_category": "non_production",
      "purpose": null, "exception_id": null,
      "exception_approved": false, "exception_approver_role": null,
      "context": {"method": "to_csv", "call": "pandas.DataFrame.to_csv",
                  "variable": "df", "code_location": "analysis.py:12"}
                  # method and variable are Python identifiers, or null
    }

``exception_approved`` and ``exception_approver_role`` describe an exception grant that the
caller (the governor) has already looked up and verified for ``exception_id``; Lacuna never
trusts an id alone.

:func:`build_pruned_input` builds the same document already reduced to the paths the policies
read (:func:`lacuna.policy.cache.prune`), in one pass: what the embedded engine evaluates on
every decision, without building and then dropping the parts no policy reads.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC
from typing import TYPE_CHECKING, Any

from lacuna.policy.cache import LEAF, prune

if TYPE_CHECKING:
    from lacuna.model import Classification, Destination, Operation

def build_input(
    operation: Operation,
    *,
    exception_approved: bool = False,
    exception_approver_role: str | None = None,
) -> dict[str, Any]:
    """The policy input document for ``operation`` (see the module docstring for the shape).

    Args:
        operation: the intercepted operation.
        exception_approved: whether a verified, unexpired exception grant covers it.
        exception_approver_role: the role of whoever approved that grant (``data_steward``).

    Returns:
        A JSON-compatible dict: only str, bool, None, lists and dicts.

    Raises:
        ConfigError: the operation's environment is not one Lacuna knows.

    Example:
        >>> from lacuna.model import Action, Classification, Operation, Tier, User
        >>> op = Operation(action=Action.READ, user=User(id="alice"),
        ...                classification=Classification(tier=Tier.INTERNAL))
        >>> doc = build_input(op)
        >>> (doc["action"], doc["source"]["classification"], doc["destination"])
        ('read', 'INTERNAL', None)
    """
    names = [s.name for s in operation.sources]
    return {
        "action": operation.action.value,
        "source": _source(operation, {**_classified(operation.classification), "names": names}),
        "destination": operation.destination.to_input() if operation.destination else None,
        "user": operation.user.to_input(),
        "lineage": list(names),
        "environment": operation.environment,
        "environment_category": operation.environment_category,
        "purpose": operation.purpose,
        "exception_id": operation.exception_id,
        "exception_approved": bool(exception_approved),
        "exception_approver_role": exception_approver_role,
        "context": _context(operation),
    }


def build_pruned_input(
    operation: Operation,
    trie: dict[str, Any],
    *,
    exception_approved: bool = False,
    exception_approver_role: str | None = None,
) -> dict[str, Any]:
    """``prune(build_input(operation, ...), trie)``, built in one pass.

    Only the parts ``trie`` keeps are computed; the parts that come from the classification
    and the destination are built pruned once per object and shared (callers never mutate
    them). The environment is checked whether a policy reads it or not, as in
    :func:`build_input`.

    Args:
        operation: the intercepted operation.
        trie: the paths to keep (:func:`lacuna.policy.cache.input_trie`).
        exception_approved: as for :func:`build_input`.
        exception_approver_role: as for :func:`build_input`.

    Raises:
        ConfigError: the operation's environment is not one Lacuna knows.
    """
    category = operation.environment_category  # raises for an unknown environment
    doc: dict[str, Any] = {}
    for key, sub in _plan(trie):
        if key == "source":
            doc[key] = _pruned_source(operation, sub)
        elif key == "destination":
            destination = operation.destination
            doc[key] = None if destination is None else _pruned_destination(destination, sub)
        elif key == "environment_category":
            doc[key] = category if sub is LEAF else prune(category, sub)
        elif key == "exception_approved":
            doc[key] = bool(exception_approved)
        elif key == "exception_approver_role":
            doc[key] = exception_approver_role
        else:
            value = _FIELDS[key](operation)
            doc[key] = value if sub is LEAF else prune(value, sub)
    return doc


def _source(operation: Operation, source: dict[str, Any]) -> dict[str, Any]:
    """``source`` with the oldest source's ``created_at``, when known."""
    # RFC 3339 in UTC (time.parse_rfc3339_ns reads it); a naive time is taken as UTC.
    created = [s.created_at if s.created_at.tzinfo else s.created_at.replace(tzinfo=UTC)
               for s in operation.sources if s.created_at is not None]
    if created:
        source["created_at"] = min(created).astimezone(UTC).isoformat()
    return source


def _context(operation: Operation) -> dict[str, Any]:
    method = operation.method or None
    short = method.rsplit(".", 1)[-1] if method else None
    variable = operation.variable
    return {
        # Python identifiers or None: policies paste them into suggested code.
        "method": short if short and short.isidentifier() else None,
        "call": method,
        "variable": variable if variable and variable.isidentifier() else None,
        "code_location": operation.code_location,
    }


# The top-level fields of the input in build_input's order, and how to compute those that
# come from the operation alone (build_pruned_input fills in the others).
_ORDER = ("action", "source", "destination", "user", "lineage", "environment",
          "environment_category", "purpose", "exception_id", "exception_approved",
          "exception_approver_role", "context")
_FIELDS: dict[str, Callable[[Operation], Any]] = {
    "action": lambda op: op.action.value,
    "user": lambda op: op.user.to_input(),
    "lineage": lambda op: [s.name for s in op.sources],
    "environment": lambda op: op.environment,
    "purpose": lambda op: op.purpose,
    "exception_id": lambda op: op.exception_id,
    "context": _context,
}

# id(trie) -> (trie, its top-level (key, subtrie) pairs in build_input's order, which prune
# keeps): one per bundle, so this is a handful of entries.
_PLANS: dict[int, tuple[dict[str, Any], tuple[tuple[str, Any], ...]]] = {}


def _plan(trie: dict[str, Any]) -> tuple[tuple[str, Any], ...]:
    hit = _PLANS.get(id(trie))
    if hit is not None and hit[0] is trie:
        return hit[1]
    plan = tuple((key, trie[key]) for key in _ORDER if key in trie)
    if len(_PLANS) >= 64:
        _PLANS.clear()
    _PLANS[id(trie)] = (trie, plan)  # keeps the trie alive: its id stays its own
    return plan


# (id(object), id(trie)) -> (object, trie, its part of the input): built once per object (a
# frame's classification, a destination: immutable, shared by every operation on them) and
# trie (LEAF: the whole part).
_PRUNED: dict[tuple[int, int], tuple[Any, Any, Any]] = {}


def _shared(obj: Any, sub: Any, make: Callable[[], Any]) -> Any:
    hit = _PRUNED.get((id(obj), id(sub)))
    if hit is not None and hit[0] is obj and hit[1] is sub:
        return hit[2]
    part = make()
    if len(_PRUNED) >= 1024:
        _PRUNED.clear()
    _PRUNED[(id(obj), id(sub))] = (obj, sub, part)  # keeps both alive: their ids stay theirs
    return part


def _pruned_destination(destination: Destination, sub: Any) -> Any:
    return _shared(destination, sub, lambda: prune(destination.to_input(), sub))


def _pruned_source(operation: Operation, sub: Any) -> Any:
    if sub is LEAF:
        return _source(operation, {**_classified(operation.classification),
                                   "names": [s.name for s in operation.sources]})
    part = _shared(operation.classification, sub,
                   lambda: prune(_classified(operation.classification), sub))
    if "names" not in sub and "created_at" not in sub:
        return part
    source = {**part}
    if "names" in sub:
        names = [s.name for s in operation.sources]
        source["names"] = names if sub["names"] is LEAF else prune(names, sub["names"])
    if "created_at" in sub:
        _source(operation, source)
    return source


def _classified(c: Classification) -> dict[str, Any]:
    """The ``source`` fields that come from a classification, built once per object.

    Shared between the documents of every operation on the same classification: callers copy
    ``source`` (as :func:`build_input` does) and never mutate what is inside.
    """
    part: dict[str, Any] = _shared(c, LEAF, lambda: {
        "classification": c.tier.value,
        "tags": list(c.tags),
        "columns": {name: col.to_floe() for name, col in c.columns.items()},
        "pii_columns": list(c.personal_columns),
        "pii_types": list(c.pii_types),
    })
    return part
