"""Who may decide an exception, and how a grant proves it was decided through Lacuna.

Three checks stand between a row in the exceptions table and ``input.exception_approved``:

1. **Entitlement.** Only a steward may approve: an identity listed in ``lacuna.yaml``'s
   ``stewards:`` section (``default``, or for the policy id or the policy domain the request
   names) or the steward named in the deciding policy's metadata. Never the requester, whatever
   else they are.
2. **Signature.** Lacuna signs every request and every decision with
   :func:`lacuna.signing.default_keyring` over all of its fields. A row inserted or edited by
   hand (status, expiry, user, destination) does not verify and is not honoured.
3. **Coverage.** The grant is approved, inside its validity window, and names this user, action
   and destination (:meth:`ExceptionRequest.covers`).

Locally, identities are *claimed* (``user.id`` in ``lacuna.yaml`` or ``$LACUNA_USER``) and the
signing key is readable by its owner, so these checks stop mistakes and casual self-approval,
not a user determined to forge; the shared deployment authenticates approvers and keeps the key
on the server (docs/exceptions.md says so).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from lacuna.errors import ConfigError, LacunaError
from lacuna.exceptions.model import ExceptionRequest
from lacuna.exceptions.shown import HIDDEN
from lacuna.identity.names import same_name

if TYPE_CHECKING:
    from lacuna.config import StewardsConfig
    from lacuna.signing import Keyring

STEWARD_ROLE = "data_steward"
PAYLOAD_KIND = "lacuna.exception/v1"
MIN_PURPOSE_CHARS = 10
PLACEHOLDER_PURPOSES = frozenset(
    {
        "test", "testing", "tests", "asdf", "asd", "qwerty", "n/a", "na", "none", "null", "nil",
        "tbd", "tba", "todo", "fixme", "xxx", "x", "...", "-", "?", "foo", "bar", "foobar", "temp",
        "purpose", "placeholder", "whatever", "stuff", "misc", "various", "business purpose",
        "lorem ipsum", "for work", "work", "needed", "because", "required", "data export",
    }
)


class ExceptionNotAuthorized(LacunaError, PermissionError):
    """The identity deciding an exception is not entitled to, or a grant fails its checks."""


def check_purpose(purpose: str) -> str:
    """The purpose, trimmed; a :class:`ConfigError` for an empty, placeholder or short one."""
    text = " ".join(str(purpose or "").split())
    plain = re.sub(r"[^a-z0-9/ ]", "", text.lower()).strip()
    if not text:
        msg = "request_exception needs a purpose: say what the data is for."
        raise ConfigError(msg)
    if (
        text.lower() in PLACEHOLDER_PURPOSES
        or plain in PLACEHOLDER_PURPOSES
        or len(set(plain.replace(" ", ""))) <= 2
        or sum(c.isalpha() for c in text) < MIN_PURPOSE_CHARS
    ):
        msg = (
            f"the purpose {text[:40]!r} is a placeholder or too short to review: say what the "
            "data is for and who will see it, e.g. 'Board of Directors Q4 customer metrics "
            f"presentation' (at least {MIN_PURPOSE_CHARS} letters)."
        )
        raise ConfigError(msg)
    return text


# An exception's window: at least a minute (shorter is no window at all), at most a year (a
# longer one is a policy change, not an exception). The server's request schema uses the same.
MIN_DURATION_HOURS = 1 / 60
MAX_DURATION_HOURS = 24 * 365


def check_action(action: str) -> str:
    """The action a request covers: one Lacuna decides (``read``, ``write``, ``export``,
    ``transform``); a :class:`ConfigError` otherwise. A grant covers only its own action
    (:meth:`ExceptionGrant.covers`), so a request for another word covered nothing, and was
    stored and shown to stewards as written (any length, any character)."""
    from lacuna.model import Action

    if action not in {a.value for a in Action}:
        shown = action if len(action) <= 40 else action[:40] + "…"
        msg = (f"the action {shown!r} is not one Lacuna decides: ask for "
               f"{', '.join(a.value for a in Action)}.")
        raise ConfigError(msg)
    return action


def check_duration(hours: float) -> float:
    """The window in hours; a :class:`ConfigError` for one under a minute or over a year."""
    try:
        value = float(hours)
    except (TypeError, ValueError):
        value = float("nan")
    if not MIN_DURATION_HOURS <= value <= MAX_DURATION_HOURS:  # NaN fails this too
        msg = (f"duration_hours must be between {MIN_DURATION_HOURS:.4f} (one minute) and "
               f"{MAX_DURATION_HOURS} (a year), got {hours!r}: say how long the approval "
               "should last, e.g. duration_hours=24.")
        raise ConfigError(msg)
    return value


# What one field of a request or decision may hold: room for any real note, bounded so that a
# form, an API call or a script cannot fill the store, the audit trail and every notification
# with megabytes. The server's request schemas use the same numbers.
TEXT_LIMITS = {"purpose": 2000, "business_justification": 4000, "approver": 255,
               "comment": 4000, "reason": 2000}
MAX_CONDITIONS, MAX_CONDITION_CHARS = 20, 500  # said with every decision a grant covers


# Characters no note needs and a reviewer's screen would obey instead of show: control codes
# (an ESC sequence rewrites a terminal line: ``lacuna exceptions show`` would print "approved
# by the CISO" over the real text) and the bidirectional overrides and isolates (text shown in
# another order than it was written). Tab and line breaks stay.
_HIDDEN = HIDDEN  # requests stored before this check may hold them: lacuna.exceptions.shown


def check_shown(field: str, value: str) -> str:
    """``value`` when it holds no :data:`_HIDDEN` character; a :class:`ConfigError` naming
    the first one and where it is."""
    found = _HIDDEN.search(value)
    if found is not None:
        msg = (f"the {field.replace('_', ' ')} holds the control character "
               f"U+{ord(found.group()):04X} at position {found.start()}: it would change how "
               "reviewers' terminals and pages show the text; send plain text (tabs and line "
               "breaks are fine).")
        raise ConfigError(msg)
    return value


def check_text(field: str, value: str | None) -> str | None:
    """``value`` when it fits ``TEXT_LIMITS[field]`` and holds no control characters
    (:func:`check_shown`); a :class:`ConfigError` that says by how much, or which, it does
    not."""
    limit = TEXT_LIMITS[field]
    if value is not None and len(value) > limit:
        msg = (f"the {field.replace('_', ' ')} is {len(value):,} characters; at most {limit:,} "
               f"are kept: shorten it (link to a document for the details).")
        raise ConfigError(msg)
    return value if value is None else check_shown(field, value)


def check_approver(value: str) -> str:
    """The approver a request names: one identity (a name or one e-mail address), within
    ``TEXT_LIMITS`` and plain (:func:`check_text`); a :class:`ConfigError` for a list. The
    approver is who the request is e-mailed to: ``"jane@example.com, anyone@elsewhere"``
    would have the installation's mail server send it to every address listed."""
    check_text("approver", value)
    if any(c in value for c in ",;<>\n\r"):
        msg = (f"the approver {value[:80]!r} names more than one identity or an address list: "
               "name one steward (a user name or one e-mail address); the request is sent to "
               "them, and any entitled steward may decide it.")
        raise ConfigError(msg)
    return value


def check_conditions(conditions: Sequence[str] | str | None) -> tuple[str, ...]:
    """Conditions (a requester's or an approver's), trimmed, empty ones dropped, a single
    string one condition; a :class:`ConfigError` for more than ``MAX_CONDITIONS`` or one longer
    than ``MAX_CONDITION_CHARS`` (they are shown in every decision the grant covers)."""
    if conditions is None:
        return ()
    if isinstance(conditions, str):
        conditions = (conditions,)  # one condition, not one per character
    found = tuple(" ".join(str(c).split()) for c in conditions)
    found = tuple(c for c in found if c)
    if len(found) > MAX_CONDITIONS or any(len(c) > MAX_CONDITION_CHARS for c in found):
        msg = (f"at most {MAX_CONDITIONS} conditions of at most {MAX_CONDITION_CHARS} "
               "characters each; say the rest in the comment (or link to a document).")
        raise ConfigError(msg)
    for c in found:
        check_shown("condition", c)
    return found


def same_identity(a: str | None, b: str | None) -> bool:
    """Whether ``a`` and ``b`` name one person: equal canonical names
    (:func:`lacuna.identity.names.canonical_name`: case, spacing and Unicode compatibility
    forms aside), the one rule every identity comparison uses."""
    return same_name(a, b)


def approvers(request: ExceptionRequest, stewards: StewardsConfig) -> tuple[str, ...]:
    """Everyone entitled to approve ``request``, the requester excluded, in a stable order."""
    found: list[str] = list(stewards.default)
    if request.policy_id:
        found += stewards.policies.get(request.policy_id, ())
    for domain in request.domains:
        found += stewards.domains.get(domain, ())
    if request.policy_steward:
        found.append(request.policy_steward)
    out: list[str] = []
    for who in found:
        if not same_identity(who, request.requested_by) and not any(
            same_identity(who, seen) for seen in out
        ):
            out.append(who)
    return tuple(out)


def authorize_settle(identity: str, exception_id: str, request: ExceptionRequest | None,
                     writers: tuple[str, ...], stewards: StewardsConfig) -> None:
    """Whether ``identity`` may settle what the sweep reports about a file written under
    exception ``exception_id`` (``request``: its verified record, or None when it cannot be
    trusted), else :class:`ExceptionNotAuthorized`.

    A default steward may, or a steward entitled to decide the (verified) exception; never its
    requester nor anyone who wrote the file: settling stops the sweep from deleting it, so
    the people the deletion is for cannot wave it off."""
    if request is not None and same_identity(identity, request.requested_by):
        msg = (f"{identity} filed exception {exception_id} and cannot settle its files: a "
               "steward must check them (requesters never settle their own).")
        raise ExceptionNotAuthorized(msg)
    if any(same_identity(identity, who) for who in writers):
        msg = (f"{identity} wrote this file under exception {exception_id} and cannot settle "
               "it: a steward must check it.")
        raise ExceptionNotAuthorized(msg)
    entitled = approvers(request, stewards) if request is not None else stewards.default
    if any(same_identity(identity, who) for who in entitled):
        return
    named = ", ".join(entitled) if entitled else "nobody (no steward is configured)"
    scope = ("its stewards" if request is not None
             else "the default stewards (its record cannot be trusted)")
    msg = (f"{identity} may not settle files of exception {exception_id}: {scope} may: "
           f"{named}. Stewards are listed in lacuna.yaml under 'stewards:'.")
    raise ExceptionNotAuthorized(msg)


def authorize(
    request: ExceptionRequest, identity: str, stewards: StewardsConfig, *, approve: bool
) -> str:
    """The role ``identity`` decides ``request`` in, or :class:`ExceptionNotAuthorized`.

    A steward may approve or deny; the requester may only withdraw (deny or revoke) their own.
    """
    if same_identity(identity, request.requested_by):
        if not approve:
            return "requester"
        msg = (
            f"{identity} filed exception {request.id} and cannot approve it: a steward of the "
            "policy must decide (requesters never approve their own requests)."
        )
        raise ExceptionNotAuthorized(msg)
    entitled = approvers(request, stewards)
    if any(same_identity(identity, who) for who in entitled):
        return STEWARD_ROLE
    scope = f"policy {request.policy_id}" if request.policy_id else "this request"
    named = ", ".join(entitled) if entitled else "nobody (no steward is configured)"
    msg = (
        f"{identity} is not entitled to decide exception {request.id}. Stewards for {scope}: "
        f"{named}. Stewards are listed in lacuna.yaml under 'stewards:' (default, policies, "
        "domains) or named in the policy's metadata; see docs/exceptions.md."
    )
    raise ExceptionNotAuthorized(msg)


def payload(request: ExceptionRequest) -> dict[str, Any]:
    """What is signed: every field but the signature, under a kind that no other record uses."""
    body = request.to_dict()
    body.pop("signature", None)
    if not body.get("history"):  # rows signed before exceptions kept a history still verify
        body.pop("history", None)
    if not body.get("approval_conditions"):  # ... and before approvals carried conditions
        body.pop("approval_conditions", None)
    if not body.get("packages"):  # ... and before requests recorded the dry run's packages
        body.pop("packages", None)
    return {"kind": PAYLOAD_KIND, "body": body}


def sign(request: ExceptionRequest, keyring: Keyring) -> ExceptionRequest:
    return replace(request, signature=keyring.sign(payload(request)))


def verified(request: ExceptionRequest, keyring: Keyring) -> bool:
    return keyring.verify(payload(request), request.signature)


def not_verified_note(request: ExceptionRequest) -> str:
    if not request.signature:
        return (
            f"exception {request.id} carries no Lacuna signature: it was not filed and decided "
            "through Lacuna (a row written by hand is never honoured)"
        )
    return (
        f"exception {request.id} does not match its signature: it was changed outside Lacuna "
        "(or signed with a key this installation does not hold), so it is not honoured"
    )


__all__ = [
    "STEWARD_ROLE",
    "ExceptionNotAuthorized",
    "approvers",
    "authorize",
    "check_approver",
    "check_conditions",
    "check_purpose",
    "check_text",
    "not_verified_note",
    "sign",
    "verified",
]
