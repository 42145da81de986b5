"""The exception workflow: request, approve or deny, use, expire.

    exc = lacuna.request_exception(data=df, destination="~/Downloads/board_report.csv",
                                   purpose="Board Q4 presentation", approver="steward@example.com",
                                   duration_hours=2, conditions=["File will be encrypted"])
    # a steward (user.id jane@example.com):  lacuna exceptions approve EXC-2025-001
    df.to_csv("~/Downloads/board_report.csv", exception_id=exc.id)

Only a steward may approve (``stewards:`` in lacuna.yaml, or the deciding policy's steward),
never the requester; every request and decision is signed, and the governor honours only grants
whose signature verifies (:mod:`lacuna.exceptions.authority`). The policy sees
``input.exception_approved`` (true only for a verified, unexpired grant that covers this user,
action and destination) and ``input.exception_approver_role``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from lacuna import _shadow
from lacuna.destinations import classify_destination
from lacuna.errors import ConfigError
from lacuna.exceptions.appends import AppendRefused
from lacuna.exceptions.authority import (
    ExceptionNotAuthorized,
    approvers,
    check_action,
    check_approver,
    check_conditions,
    check_duration,
    check_purpose,
    check_text,
    same_identity,
)
from lacuna.exceptions.context import current_host, dry_run
from lacuna.exceptions.files import DecryptionRefused
from lacuna.exceptions.model import ExceptionRequest, HistoryEntry, Status, normalize_target
from lacuna.exceptions.store import (
    ExceptionNotFound,
    ExceptionStore,
    MalformedException,
    WrittenFile,
    grant_for,
)
from lacuna.exceptions.sweep import SweepReport, sweep
from lacuna.model import Decision, Operation, Tier, utcnow

# `lacuna.exceptions.sweep` is the function; `import lacuna.exceptions.sweep as m`, the module
_shadow(__name__, "sweep")

log = logging.getLogger("lacuna.exceptions")


def request_exception(
    data: Any = None,
    destination: str | os.PathLike[str] | None = None,
    *,
    purpose: str,
    approver: str,
    operation: Mapping[str, Any] | None = None,
    business_justification: str = "",
    duration_hours: float = 24,
    conditions: Sequence[str] = (),
    action: str = "export",
    known: Operation | None = None,
    read_source: bool = True,
    host: str | None = None,
) -> ExceptionRequest:
    """File a request for an exception; a steward approves or denies it later.

    Args:
        data: the DataFrame (or Series) to act on; its classification and sources are recorded.
        destination: where it should go (path or URI).
        purpose: the business purpose (a real one: placeholders such as "test" or "n/a" and
            purposes of fewer than 10 letters are refused).
        approver: who you ask to decide (a steward's e-mail). Only an entitled steward can
            approve, whoever is named here.
        operation: the seed's spelling: ``{"action", "source", "destination"}``.
        business_justification: why the policy should not apply this time.
        duration_hours: how long an approval lasts, from its start.
        conditions: conditions the requester commits to.
        action: the action to cover, ``export`` by default.
        known: what the caller knows of the data, instead of reading it (the server: its
            lineage store's classification of the sources, else what the client declared):
            the policy to ask is found by deciding this operation, and its sources and
            classification are recorded.
        read_source: ``False`` (the server): a source named in ``operation`` is recorded but
            never opened, and without ``known`` no policy is looked up (the default stewards
            decide). A client's path names a file on the server's disk, which is not theirs
            to have read or classified.
        host: the client host the server vouches the request comes from (the server: a
            caller bound to it by ``client_hosts``); the grant then covers operations from
            that host only. None (in-process, or a host that is only the client's word):
            any host.

    Returns:
        The pending request; ``str()`` explains what happens next.

    Raises:
        ConfigError: no destination, an empty or placeholder purpose, an action Lacuna does
            not decide (read, write, export, transform), or a duration under a minute or
            over a year.
        IntegrationError: a destination no decision can name (a control character, a URL
            that is not valid), as a decide refuses it.
    """

    op = dict(operation or {})
    target = destination if destination is not None else op.get("destination")
    if not target:
        msg = "request_exception needs a destination (the path or URI the data should go to)."
        raise ConfigError(msg)
    purpose = check_purpose(check_text("purpose", purpose) or "")
    duration_hours = check_duration(duration_hours)
    check_text("business_justification", business_justification)
    check_approver(approver)
    conditions = check_conditions(conditions)
    verb = check_action(str(op.get("action") or action))
    gov = current_host()
    # a target no decision can name (a control character, a malformed URL) is no grant's: as a
    # decide classifies it, or the IntegrationError saying why not
    classify_destination(os.fspath(target), gov.config.destinations)
    sources: tuple[str, ...] = ()
    tier, tags = "UNKNOWN", tuple[str, ...]()
    if data is not None:
        from lacuna.lineage.state import get_state

        state = get_state(data)
        if state is not None:
            sources = state.lineage.roots()
            tier, tags = state.classification.tier.value, state.classification.tags
    elif known is not None:
        sources = tuple(dict.fromkeys(s.name for s in known.sources))
        tier, tags = known.classification.tier.value, known.classification.tags
    elif op.get("source"):
        sources = (str(op["source"]),)
    user = gov.config.user
    subject: Any = data if data is not None else known
    if subject is None and sources and read_source:
        subject = sources[0]
    deciding = _dry_run(subject, os.fspath(target), verb)
    if deciding is not None and deciding.operation is not None:
        # what the operation will be decided on (a source path the dry run read, a frame's
        # column labels its writer reads as values): the steward sees what it holds, and the
        # grant covers no more (ExceptionGrant.covers)
        dry = deciding.operation.classification
        if tier == "UNKNOWN" or dry.tier > Tier(tier):
            tier, tags = dry.tier.value, tuple(dict.fromkeys((*tags, *dry.tags)))
    request = ExceptionRequest(
        id="",
        requested_by=user.id,
        requester_role=user.role,
        action=verb,
        destination=normalize_target(os.fspath(target)),
        sources=sources,
        tier=tier,
        tags=tuple(tags),
        purpose=purpose.strip(),
        business_justification=" ".join(business_justification.split()),
        approver=approver,
        duration_hours=float(duration_hours),
        conditions=tuple(conditions),
        created_at=utcnow(),
        policy_id=deciding.policy_id if deciding else None,
        policy_steward=deciding.steward if deciding else None,
        domains=_domains(deciding),
        packages=tuple(dict.fromkeys(p.package for p in deciding.policies)) if deciding else (),
        host=host,
    )
    stored = gov.exceptions.add(request)
    _announce(gov, stored, "requested", {
        "purpose": stored.purpose, "approver": stored.approver,
        "business_justification": stored.business_justification,
        "conditions": list(stored.conditions), "duration_hours": stored.duration_hours,
        "sources": list(stored.sources),
        # what the metrics' filters select a request by (lacuna.metrics.requests)
        "tier": stored.tier, "packages": list(stored.packages), "domains": list(stored.domains),
        **({"host": stored.host} if stored.host else {})})
    return stored


def _announce(gov: Any, request: ExceptionRequest, event: str,
              detail: dict[str, Any] | None = None) -> None:
    """Audit one step and notify the people concerned; neither ever fails the step. A client
    of a Lacuna server does neither: the server took the step, and audited and announced it."""
    from lacuna.exceptions import events
    from lacuna.exceptions.notify import announce

    if gov.config.server is not None:
        return
    events.audit(gov, event, request, detail=detail)
    try:
        announce(gov, request, event)
    except Exception as exc:  # notify never raises; this is the last guard
        log.error("notification of exception %s (%s) failed: %s", request.id, event, exc)


def _dry_run(subject: Any, target: str, action: str) -> Decision | None:
    """The decision without an exception: it names the policy (and its steward) to ask."""
    if subject is None:
        return None
    try:
        return dry_run(subject, target, action)
    except Exception as exc:  # only the default stewards can decide then; say why
        log.warning("could not find the policy behind this request (%s); only the default "
                    "stewards may approve it", exc)
        return None


def _domains(decision: Decision | None) -> tuple[str, ...]:
    if decision is None:
        return ()
    out: list[str] = []
    for ref in decision.policies:
        parts = ref.package.split(".")
        if "domains" in parts[:-1]:
            domain = parts[parts.index("domains") + 1]
            if domain not in out:
                out.append(domain)
    return tuple(out)


def approve_exception(
    exception_id: str,
    *,
    by: str | None = None,
    comment: str | None = None,
    start: datetime | None = None,
    conditions: Sequence[str] | None = None,
) -> ExceptionRequest:
    """Approve a pending request as the configured user (``user.id``), who must be a steward.

    Args:
        exception_id: e.g. ``EXC-2026-001``.
        by: who approves; when given it must be the configured user (a check, not a switch).
        comment: a note for the record.
        start: when validity starts (default now); it lasts the requested duration.
        conditions: what the approver requires of every use, e.g. ``["aggregate only",
            "expires with project X"]``: signed with the grant, shown by ``lacuna exceptions
            show``, kept in its history, and stated in every later decision it covers.

    Raises:
        ExceptionNotAuthorized: the approver is the requester or not a steward for this
            request, or the stored request was changed outside Lacuna.
    """

    check_text("comment", comment)
    conditions = check_conditions(conditions or ())
    gov = current_host()
    decided = _refusals_audited(gov, exception_id, "approve", lambda: gov.exceptions.decide(
        exception_id,
        approve=True,
        by=_identity(by),
        stewards=gov.config.stewards,
        comment=comment,
        start=start,
        conditions=conditions or (),
    ))
    _announce(gov, decided, "approved", {"comment": comment,
                                         "conditions": list(decided.approval_conditions),
                                         "valid_from": _iso(
        decided.valid_from), "valid_until": _iso(decided.valid_until)})
    return decided


def _iso(when: datetime | None) -> str | None:
    return when.isoformat() if when else None


def _refusals_audited(gov: Any, exception_id: str, step: str,
                      decide: Callable[[], ExceptionRequest]) -> ExceptionRequest:
    """Run a decision; a refusal (not entitled, tampered, wrong state) is audited, then raised."""
    from lacuna.errors import LacunaError
    from lacuna.exceptions import events

    try:
        return decide()
    except LacunaError as exc:
        if gov.config.server is not None:  # the server refused it, and audited the refusal
            raise
        events.audit(gov, f"{step}-refused", None, exception_id=exception_id, allowed=False,
                     detail={"error": str(exc)})
        raise


def deny_exception(
    exception_id: str, *, by: str | None = None, comment: str | None = None
) -> ExceptionRequest:
    """Deny a pending request, or revoke an approved one (a steward, or the requester
    withdrawing their own)."""

    check_text("comment", comment)
    gov = current_host()
    decided = _refusals_audited(gov, exception_id, "deny", lambda: gov.exceptions.decide(
        exception_id, approve=False, by=_identity(by), stewards=gov.config.stewards,
        comment=comment,
    ))
    _announce(gov, decided, decided.status.value, {"comment": comment})
    return decided


def revoke_exception(
    exception_id: str, *, by: str | None = None, comment: str | None = None
) -> ExceptionRequest:
    """End an approved exception now (a steward entitled to decide it, or its requester).

    Files written under it are deleted by the next sweep (``lacuna exceptions sweep``).

    Raises:
        ExceptionNotAuthorized: ``by`` may not decide this exception.
        LacunaError: it is not approved (pending, denied, expired or already revoked).
    """

    check_text("comment", comment)
    gov = current_host()
    decided = _refusals_audited(gov, exception_id, "revoke", lambda: gov.exceptions.decide(
        exception_id, approve=False, by=_identity(by), stewards=gov.config.stewards,
        comment=comment, revoke=True,
    ))
    _announce(gov, decided, "revoked", {"comment": comment})
    return decided


def sweep_exceptions(now: datetime | None = None) -> SweepReport:
    """Delete the files of ended exceptions and mark expired ones (see
    :mod:`lacuna.exceptions.sweep`); each step is audited."""

    return sweep(current_host(), now=now)


def decrypt(path: str | os.PathLike[str], output: str | os.PathLike[str] | None = None) -> bytes:
    """The plaintext of a file written with ``encrypt=True``, for an authorised user (audited).

    Args:
        path: the encrypted file.
        output: also write the plaintext there: a new file of mode 0600 (a file or link
            there is replaced, never written through) with a signed sidecar carrying the
            class the file was written as and its data's clock; written under an exception,
            recorded under it for the sweep. A device (``/dev/stdout``) is written as it is.

    Returns:
        The plaintext bytes, e.g. ``pd.read_csv(io.BytesIO(lacuna.decrypt(path)))``.

    Raises:
        DecryptionError: not a Lacuna envelope, altered, or its key is missing.
        DecryptionRefused: the configured user may not read it (the exception expired, was
            revoked, or belongs to someone else).
        StorageError: ``output`` is under a sealed governed root, is a pipe or device another
            user made, or its sidecar could not be signed (the copy is removed).
    """
    from lacuna.exceptions import files

    return files.decrypt(current_host(), path, output)


def settle_file(exception_id: str, path: str | os.PathLike[str], *, reason: str,
                by: str | None = None) -> tuple[WrittenFile, ...]:
    """Settle what the sweep reports about a file written under an exception and cannot act
    on (its record edited, unsigned or removed, the exception's record untrusted, the file
    missing or replaced), once a steward has checked it and dealt with the data by hand: the
    sweep neither deletes nor reports it again. Audited (``file-settled``, with the reason and
    the records as they were); a refusal is audited too (``settle-refused``).

    Args:
        exception_id: e.g. ``EXC-2026-001``.
        path: the file's path as the sweep reports it.
        reason: what the steward checked and did (required).
        by: who settles; when given it must be the configured user (a check, not a switch).

    Returns:
        The file's records as they were before (empty when the table had none).

    Raises:
        ExceptionNotAuthorized: the configured user is not a steward entitled to settle it, or
            filed the exception, or wrote the file.
        ConfigError: no reason was given.
        ExceptionNotFound: neither the table nor the audit trail knows the file under that
            exception.
    """
    from lacuna.errors import LacunaError
    from lacuna.exceptions import authority, events

    gov = current_host()
    store = gov.exceptions
    target = os.fspath(path)
    why = " ".join(str(reason or "").split())
    if getattr(store, "remote", False):  # with server: the server settles, checks, audits
        from lacuna.exceptions.files import on_client, on_host, this_host

        _identity(by)
        if on_client(target) is None:  # a file of this machine, as its sweep reports it
            target = on_host(this_host(), os.path.abspath(os.path.expanduser(target)))
        return tuple(store.settle(exception_id, target, why))  # type: ignore[attr-defined]
    try:
        if not why:
            msg = ("settling a file needs a reason: say what you checked and what you did with "
                   "the data (e.g. 'checked: deleted by hand')")
            raise ConfigError(msg)
        authority.check_text("reason", why)
        me = _identity(by)
        files = store.files(exception_id)
        # the path as the sweep reports it, else as the shell spells it (~, relative)
        for candidate in dict.fromkeys((target, os.path.abspath(os.path.expanduser(target)))):
            rows = [w for w in files if w.path == candidate]
            writers = store.writers_on_trail(exception_id, candidate)
            if rows or writers:
                target = candidate
                break
        if not rows and not writers:
            msg = (f"no file {target!r} is on record under exception {exception_id} (in "
                   "lacuna_exception_files or on the audit trail): use the path and exception "
                   "the sweep reports")
            raise ExceptionNotFound(msg)
        try:
            request: ExceptionRequest | None = store.get(exception_id)
        except LacunaError:
            request = None
        if request is not None and not store.verified(request):
            request = None
        authority.authorize_settle(
            me, exception_id, request,
            tuple(dict.fromkeys((*writers, *(w.written_by for w in rows)))), gov.config.stewards)
        before = store.settle_file(exception_id, target, now=utcnow(),
                                   written_by=writers[0] if writers else me)
    except LacunaError as exc:
        events.audit(gov, "settle-refused", None, exception_id=exception_id, allowed=False,
                     detail={"path": target, "error": str(exc)})
        raise
    events.audit(gov, "file-settled", request, exception_id=exception_id,
                 detail={"path": target, "reason": why, "records": [
                     {**w.to_dict(), "verified": ok} for w, ok in before]})
    log.warning("file %s (exception %s) settled by %s: %s", target, exception_id, me, why)
    return tuple(w for w, _ in before)


def _identity(by: str | None) -> str:
    """The deciding identity: the configured user; ``by`` must name the same one."""

    me = current_host().config.user.id
    if by is not None and not same_identity(by, me):
        msg = (
            f"decisions are made as the configured user ({me}), not as {by!r}: run as the "
            "steward (user.id in lacuna.yaml, or $LACUNA_USER) instead of naming someone else."
        )
        raise ExceptionNotAuthorized(msg)
    return me


__all__ = [
    "AppendRefused",
    "DecryptionRefused",
    "ExceptionNotAuthorized",
    "ExceptionNotFound",
    "ExceptionRequest",
    "ExceptionStore",
    "HistoryEntry",
    "MalformedException",
    "Status",
    "SweepReport",
    "WrittenFile",
    "approve_exception",
    "approvers",
    "decrypt",
    "deny_exception",
    "grant_for",
    "request_exception",
    "revoke_exception",
    "settle_file",
    "sweep",
    "sweep_exceptions",
]
