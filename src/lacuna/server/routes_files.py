"""Files a client (``server:`` in its lacuna.yaml) writes under an exception: the server
records them, and the client's sweep deletes them when the exception ends.

- ``POST /api/v1/exceptions/{id}/files``: a client reports the file it is about to write (and,
  with ``identity``, what it wrote) under the decision the server just allowed under the
  exception. Only the exception's own requester, for a decision of theirs recorded on this
  trail as allowed under a verified grant of that exception, made in the last
  :data:`REPORT_WINDOW_S` seconds, whose destination is the reported file: the server records
  it (``lacuna_exception_files``, signed, as ``file://<host><path>``, never a path on its own
  disk) and audits ``file-written``.
- ``GET /api/v1/exceptions/files/due?host=H``: the caller's files written on ``H`` under
  exceptions that have ended (or whose record cannot be trusted): what ``lacuna exceptions
  sweep`` on that host deletes (or reports).
- ``POST /api/v1/exceptions/{id}/files/swept``: what that sweep did with one of them, audited
  as the caller (``file-deleted`` closes the record; only once the exception has ended).
- ``POST /api/v1/exceptions/{id}/decrypt``: whether the caller may decrypt a file written
  under the exception (the rule of :func:`lacuna.exceptions.files.decrypt`), audited
  (``decrypt``); a plaintext copy (``output``) is recorded under the exception like the file.
- ``POST /api/v1/decrypt``: the same for a sealed file written without an exception (only its
  writer, the user of the decision its header names as this server's trail records it, or a
  default steward), audited (``decrypt``).

The server cannot see a client's disk: it records what the client reports and audits what its
sweep says it did. What that guarantees, and what it cannot: docs/exceptions.md, "Server mode".
"""

from __future__ import annotations

import os
import re
import urllib.parse
from datetime import timedelta
from typing import TYPE_CHECKING, Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Request
from pydantic import AfterValidator, Field

from lacuna.exceptions.authority import TEXT_LIMITS
from lacuna.identity import DATA_STEWARD, Principal, canonical_name, same_name
from lacuna.model import utcnow
from lacuna.server.routes_api import vouched_for
from lacuna.server.routes_state import ShownJSON, acting_as
from lacuna.server.schemas import _Body
from lacuna.server.security import AnyUser, refuse, state_of

if TYPE_CHECKING:
    from lacuna.exceptions import ExceptionRequest
    from lacuna.exceptions.store import WrittenFile
    from lacuna.server.state import ServerState

router = APIRouter(prefix="/api/v1")
REPORT_WINDOW_S = 600  # a file is reported under a decision made at most this long ago
_HOST = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,252}")
SWEEPER = "lacuna-sweep"


def _spoken(request: Request, principal: Principal, host: str) -> str:
    """``host`` as the caller may speak for it (:func:`vouched_for`: a 403 otherwise), spelt
    as the server's ``client_hosts`` spells it for a bound caller: a file is recorded, found
    due and closed under one spelling of its host (a bound user's report under
    ``ANA-LAPTOP`` was never among the files due on ``ana-laptop``, so that host's sweep
    never deleted it)."""
    return vouched_for(request, principal, host)[0] or host


def _at(recorded: str, host: str, path: str) -> bool:
    """Whether the record path ``recorded`` is ``path`` on ``host`` (host names compare
    without case)."""
    from lacuna.exceptions.files import on_client

    where = on_client(recorded)
    return where is not None and where[0].lower() == host.lower() and where[1] == path


def _host(value: str) -> str:
    if not _HOST.fullmatch(value):
        msg = "host must be a host name (letters, digits, '.', '_', '-')"
        raise ValueError(msg)
    return value


def _absolute(value: str) -> str:
    if not value.startswith("/") or "\x00" in value or os.path.normpath(value) != value:
        msg = "path must be an absolute, normalised path on the client (no '.' or '..')"
        raise ValueError(msg)
    return value


HostName = Annotated[str, Field(max_length=253), AfterValidator(_host)]
ClientPath = Annotated[str, Field(max_length=4096), AfterValidator(_absolute)]


class FileReportBody(_Body):
    operation_id: str = Field(min_length=1, max_length=256)
    host: HostName
    path: ClientPath
    encrypted: bool = False
    directory: bool = False
    identity: str | None = Field(default=None, max_length=200)


class SweptBody(_Body):
    host: HostName
    path: ClientPath
    step: Literal["file-deleted", "file-missing", "file-delete-failed", "file-held"]
    detail: str = Field(default="", max_length=TEXT_LIMITS["reason"])


class DecryptBody(_Body):
    path: ClientPath
    written_by: str = Field(max_length=255)
    host: HostName
    output: ClientPath | None = None
    operation_id: str | None = Field(
        default=None, max_length=64,
        description="The decision that sealed the file, as its (authenticated) header names "
                    "it: POST /api/v1/decrypt answers for the bytes that decision sealed.")
    identity: str | None = Field(default=None, max_length=200,
                                 description="Once the copy is written: what it is.")


def _own(request: Request, state: ServerState, principal: Principal, exception_id: str
         ) -> ExceptionRequest:
    """The exception, when ``principal`` requested it (a steward does not write under
    another's grant either); another's or none is the same audited 404."""
    from lacuna.errors import LacunaError
    from lacuna.server.app import state_unavailable
    from lacuna.server.security import audit_refusal

    try:
        item = state.governor.exceptions.get(exception_id)
    except LacunaError as exc:
        if state_unavailable(exc) is not None:  # a 503, not an audited "not yours"
            raise
        item = None
    if item is None or not same_name(item.requested_by, principal.name):
        audit_refusal(state, request, 404, f"{principal.name} reported a file under exception "
                      f"{exception_id}, which is not theirs", principal)
        raise HTTPException(404, f"no exception {exception_id!r} of yours")
    return item


def _destination_is(destination: str | None, path: str) -> bool:
    """Whether a decision's destination (as the client named it) is the reported absolute
    path: the same path, or (relative, or under ``~``) the path's end."""
    if not destination:
        return False
    if destination.startswith("file:"):  # Spark names a local folder so
        destination = urllib.parse.unquote(urllib.parse.urlsplit(destination).path)
    named = os.path.normpath(destination.removeprefix("~/") if destination.startswith("~/")
                             else destination)
    path = os.path.normpath(path)
    if os.path.isabs(named):
        return named == path
    return path.endswith("/" + named)


def _decision_refusal(state: ServerState, principal: Principal, exception_id: str,
                      body: FileReportBody) -> str | None:
    """Why ``body`` is not a file the server just allowed ``principal`` to write under the
    exception, or None."""
    record = state.governor.audit.of_operation(body.operation_id, user=principal.name)
    if record is None:
        return f"no decision {body.operation_id} of {principal.name} is on the audit trail"
    why = record.data.get("why") or {}
    if not record.allowed or why.get("exception_id") != exception_id \
            or why.get("exception_approved") is not True:
        return (f"decision {body.operation_id} did not allow a write under exception "
                f"{exception_id}")
    if utcnow() - record.timestamp > timedelta(seconds=REPORT_WINDOW_S):
        return (f"decision {body.operation_id} was made more than {REPORT_WINDOW_S} s ago; "
                "a file is reported with the decision that allowed its write")
    if not _destination_is(record.destination, body.path):
        return (f"decision {body.operation_id} allowed a write to {record.destination}, not "
                f"{body.path}")
    if not _from_host(record.data, body.host):
        # the file is on the host the write was decided from: reported as another host's,
        # the sweep of the host it is on would never be asked to delete it
        return (f"decision {body.operation_id} was made from host "
                f"{record.data['who']['host']!r}, not {body.host!r}")
    return None


@router.post("/exceptions/{exception_id}/files", tags=["exceptions"], status_code=201,
             response_class=ShownJSON,
             summary="Report a file written under your exception (before and after the write)")
def exception_file(exception_id: str, body: FileReportBody, request: Request,
                   principal: AnyUser) -> dict[str, Any]:
    from lacuna.exceptions import events
    from lacuna.exceptions.files import on_host

    state = state_of(request)
    body = body.model_copy(update={"host": _spoken(request, principal, body.host)})
    _own(request, state, principal, exception_id)
    why = _decision_refusal(state, principal, exception_id, body)
    if why is not None:
        refuse(request, state, 403, f"file {body.path} on {body.host} is not recorded under "
               f"exception {exception_id}: {why}", principal)
    store = state.governor.exceptions
    where = on_host(body.host, body.path)
    if body.identity is not None:  # after the write: what was written, on its open record
        return _identified(state, principal, exception_id, body.host, body.path,
                           body.identity).to_dict()
    written = store.record_file(exception_id, where, written_by=principal.name,
                                encrypted=body.encrypted, directory=body.directory)
    with acting_as(state, principal) as acting:
        recorded = events.audit(acting, "file-written", None, exception_id=exception_id,
                                detail={"path": where, "host": body.host,
                                        "operation_id": body.operation_id,
                                        "encrypted": body.encrypted,
                                        "directory": body.directory})
    if recorded is None:  # the client writes nothing (the record stays: reported missing)
        raise HTTPException(503, "the audit trail could not record the file (logged); "
                            "nothing may be written")
    return written.to_dict()


@router.get("/exceptions/{exception_id}/files", tags=["exceptions"], response_class=ShownJSON,
            summary="The files written under an exception (its requester, or who sees all)")
def exception_files(exception_id: str, request: Request, principal: AnyUser) -> dict[str, Any]:
    """Each record as stored, with whether it verifies; another's exception and none are the
    same 404 to a caller who sees only their own (as ``GET /exceptions/{id}``)."""
    from lacuna.server.routes_state import _visible

    state = state_of(request)
    if _visible(state, principal, exception_id) is None:
        raise HTTPException(404, f"no exception {exception_id!r} of yours")
    store = state.governor.exceptions
    return {"files": [{**w.to_dict(), "verified": store.file_verified(w)}
                      for w in store.files(exception_id)]}


@router.get("/exceptions/files/due", tags=["exceptions"], response_class=ShownJSON,
            summary="Your files on a host whose exception ended (for that host's sweep)")
def exception_files_due(host: str, request: Request, principal: AnyUser) -> dict[str, Any]:
    from lacuna.exceptions.files import on_client
    from lacuna.exceptions.sweep import judge, over

    try:
        _host(host)
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None
    host = _spoken(request, principal, host)
    store = state_of(request).governor.exceptions
    at = utcnow()
    judged: dict[str, tuple[Any, str | None]] = {}
    due: dict[tuple[str, str], dict[str, Any]] = {}  # one per file: written twice, swept once
    for written in store.files(pending_only=True):
        where = on_client(written.path)
        if where is None or where[0].lower() != host.lower() or not same_name(
                written.written_by, principal.name):
            continue
        untrusted = None
        if not store.file_verified(written):
            untrusted = written.not_verified_note()
        else:
            if written.exception_id not in judged:
                judged[written.exception_id] = judge(store, written.exception_id)
            item, untrusted = judged[written.exception_id]
            if item is not None and not over(item, at):
                continue
        entry = due.setdefault((written.exception_id, where[1]), {
            "exception_id": written.exception_id, "path": where[1], "directory": False,
            "identities": [], "untrusted": None})
        entry["directory"] = entry["directory"] or written.directory
        entry["identities"].append(written.identity)  # None: the write did not say
        entry["untrusted"] = entry["untrusted"] or untrusted
    return {"files": list(due.values())}


@router.post("/exceptions/{exception_id}/files/swept", tags=["exceptions"],
             response_class=ShownJSON,
             summary="What your host's sweep did with a file written under the exception")
def exception_file_swept(exception_id: str, body: SweptBody, request: Request,
                         principal: AnyUser) -> dict[str, Any]:
    from lacuna.errors import LacunaError
    from lacuna.exceptions import events
    from lacuna.exceptions.sweep import over
    from lacuna.server.security import audit_refusal

    state = state_of(request)
    body = body.model_copy(update={"host": _spoken(request, principal, body.host)})
    store = state.governor.exceptions
    try:  # the caller's own records only: the requester's writes, a steward's decrypted copy
        item = store.get(exception_id)
        records = [w for w in store.files(exception_id, pending_only=True)
                   if _at(w.path, body.host, body.path)
                   and same_name(w.written_by, principal.name)]
    except LacunaError as exc:
        from lacuna.server.app import state_unavailable

        if state_unavailable(exc) is not None:  # a 503, not an audited "no such record"
            raise
        records = []
    if not records:
        audit_refusal(state, request, 404, f"{principal.name} reported a sweep step for "
                      f"{body.path} on {body.host} under exception {exception_id}, which "
                      "records no such file of theirs", principal)
        raise HTTPException(404, f"no open record of {body.path} on {body.host} under "
                            f"exception {exception_id} of yours")
    where = records[0].path  # as recorded (its host spelt as when it was reported)
    now = utcnow()
    if body.step == "file-deleted":
        if not (store.verified(item) and over(item, now)):
            raise HTTPException(409, f"exception {exception_id} has not ended: its files are "
                                "not due for deletion, and their records stay open")
        store.mark_deleted(exception_id, where, now)
    detail = {"path": where, "host": body.host, "by": SWEEPER, "client": principal.name,
              "detail": body.detail}
    comment = where if body.step == "file-deleted" else f"{where}: {body.detail}"
    # a missing file is noted and audited once (as the local sweep does), then only reported
    again = body.step == "file-missing" and any(
        h.event == body.step and h.comment == comment for h in item.history)
    recorded = None
    with acting_as(state, principal) as acting:
        if body.step in ("file-deleted", "file-missing") and not again \
                and store.verified(item):
            store.note(exception_id, body.step, by=SWEEPER, comment=comment, now=now)
        if not again:
            recorded = events.audit(acting, body.step, item,
                                    allowed=body.step == "file-deleted", detail=detail)
    return {"exception_id": exception_id, "path": body.path, "step": body.step,
            "recorded": recorded is not None or again}


@router.post("/exceptions/{exception_id}/decrypt", tags=["exceptions"],
             response_class=ShownJSON,
             summary="May you decrypt a file written under the exception (audited)")
def exception_decrypt(exception_id: str, body: DecryptBody, request: Request,
                      principal: AnyUser) -> dict[str, Any]:
    from lacuna.exceptions import events
    from lacuna.exceptions.files import _refusal, on_host

    state = state_of(request)
    spoken, verified = vouched_for(request, principal, body.host)
    body = body.model_copy(update={"host": spoken or body.host})
    if body.identity is not None:  # the copy was written: what it is, on its open record
        return _copy_written(state, principal, exception_id, body)
    detail: dict[str, Any] = {"path": on_host(body.host, body.path),
                              "header_written_by": body.written_by}
    item = _own(request, state, principal, exception_id) if not principal.has(
        DATA_STEWARD) else None
    with acting_as(state, principal) as acting:
        # the writer is the exception's requester (only they report files under it), not
        # the name in the file's header: the client's own user.id, which its owner chooses
        writer = item.requested_by if item is not None else _requester(state, exception_id)
        why = _refusal(acting, {"written_by": writer}, exception_id)
        if why is None and item is not None:  # a host-bound grant's files: on its host only
            why = item.elsewhere(body.host, verified)
        if why is not None:
            events.audit(acting, "decrypt", None, exception_id=exception_id, allowed=False,
                         detail={**detail, "refused": why})
            return {"allowed": False, "refused": why}
        if body.output is not None:
            detail["output"] = on_host(body.host, body.output)
            acting.exceptions.record_file(exception_id, detail["output"],
                                          written_by=principal.name, encrypted=False)
        if events.audit(acting, "decrypt", None, exception_id=exception_id,
                        detail=detail) is None:
            return {"allowed": False, "refused": "the audit trail could not record this "
                    "decryption (logged); no plaintext is released unrecorded"}
        if body.output is not None and events.audit(
                acting, "file-written", None, exception_id=exception_id,
                detail={"path": detail["output"], "host": body.host, "encrypted": False,
                        "directory": False, "decrypted_from": detail["path"]}) is None:
            return {"allowed": False, "refused": "the audit trail could not record the "
                    "plaintext copy (logged); nothing is decrypted"}
    return {"allowed": True}


@router.post("/decrypt", tags=["exceptions"], response_class=ShownJSON,
             summary="May you decrypt a sealed file written without an exception (audited)")
def sealed_decrypt(body: DecryptBody, request: Request, principal: AnyUser) -> dict[str, Any]:
    """Whether the caller may decrypt ``path``, a file sealed on the client with
    ``encrypt=True`` without an exception: the rule of :func:`lacuna.exceptions.files.decrypt`
    (its writer or a default steward), audited (``decrypt``) either way. The writer is who
    this server's trail says sealed those bytes (:func:`_sealer`: the user of the allowed
    write or export decision ``operation_id`` that the file's authenticated header names, of
    ``path`` from ``host``), not the name in the header (the client's own ``user.id``, which
    its owner chooses). A file whose header names no such decision (sealed by an older
    Lacuna, without a server, or by another decision) is a default steward's to decrypt."""
    from lacuna.exceptions import events
    from lacuna.exceptions.files import _refusal, on_host

    state = state_of(request)
    host = vouched_for(request, principal, body.host)[0] or body.host
    detail: dict[str, Any] = {"path": on_host(host, body.path),
                              "header_written_by": body.written_by,
                              "sealed_by": body.operation_id}
    if body.output is not None:
        detail["output"] = on_host(host, body.output)
    with acting_as(state, principal) as acting:
        writer, unknown = _sealer(state, body.operation_id, body.path, host)
        why = _refusal(acting, {"written_by": writer}, None)
        if why is not None and unknown is not None:
            why = (f"{unknown}; only a default steward may read it (you are "
                   f"{principal.name}).")
        if why is not None:
            events.audit(acting, "decrypt", None, allowed=False,
                         detail={**detail, "refused": why})
            return {"allowed": False, "refused": why}
        if events.audit(acting, "decrypt", None, detail=detail) is None:
            return {"allowed": False, "refused": "the audit trail could not record this "
                    "decryption (logged); no plaintext is released unrecorded"}
    return {"allowed": True}


_WRITES = ("write", "export")


def _sealer(state: ServerState, operation_id: str | None, path: str, host: str
            ) -> tuple[str, str | None]:
    """Who sealed the file at ``path`` on ``host`` whose header names the decision
    ``operation_id``, as this server's trail says, and None; or no one and why it cannot
    tell.

    The writer is the user of the allowed write or export decision ``operation_id`` of
    ``path`` (as the client named it: relative, or under ``~``, its end,
    :func:`_destination_is`) from ``host`` (or from no host it named: any host's): the
    client puts its decision's id in the header it seals, where the data key's tag
    authenticates it, so the answer is for the bytes that decision sealed. The path alone
    was asked before: a user who had a write to a path decided (writing nothing, or their
    own file) was answered as the writer of any other user's sealed file put at that path.
    Fail closed: a header that names no decision (sealed by an older Lacuna, or without a
    server), or a decision of another path or host, names no writer.

    An id is its first recorder's (:func:`_first_recorder`): clients choose their operation
    ids, and anyone who read a file's header could have a decision of their own recorded
    under its id afterwards. Such a record once made the id "more than one user's", so the
    file was a default steward's alone and its writer was locked out; now it is ignored."""
    if not operation_id:
        return "", ("its header names no decision of this server that sealed it (sealed by "
                    "an older Lacuna, or without a server), so this server cannot tell whose "
                    "file it is")
    decisions = _first_recorder([r for r in state.governor.audit.list(limit=None, naming=(
        "operation_id", [operation_id])) if r.kind == "decision"
        and r.data.get("operation_id") == operation_id])
    sealing = [r for r in decisions if r.allowed and r.action in _WRITES]
    if not sealing:
        return "", (f"this server's audit trail names no allowed write under the decision "
                    f"{operation_id} its header names, so it cannot tell whose file it is")
    if not any(_destination_is(r.destination, path) and _from_host(r.data, host)
               for r in sealing):
        first = sealing[0]
        return "", (f"the decision {operation_id} its header names ({first.user_id}'s) "
                    f"allowed a write of {first.destination} from host "
                    f"{_host_of(first.data)!r}, not of {path} on {host}: these are not "
                    "bytes that decision sealed here")
    return sealing[0].user_id, None


def _first_recorder(decisions: list[Any]) -> list[Any]:
    """The decision records of the user who recorded the first of ``decisions`` (one
    operation id's), oldest first: the id is bound to them. Another user's later record
    under the same id (a client chooses its ids; the id is no secret once a file's header
    names it) claims nothing. An earlier one needs the id before its owner recorded it: 74
    random bits of a version-7 id (:func:`lacuna.model.ordered_id`), guessed."""
    ordered = sorted(decisions, key=lambda r: r.seq)
    if not ordered:
        return []
    owner = canonical_name(ordered[0].user_id)
    return [r for r in ordered if canonical_name(r.user_id) == owner]


def _host_of(body: dict[str, Any]) -> str | None:
    who = body.get("who")
    named = who.get("host") if isinstance(who, dict) else None
    return named if isinstance(named, str) else None


def _from_host(body: dict[str, Any], host: str) -> bool:
    """Whether the decision record ``body`` was made from ``host`` (compared without case, as
    host names are), or from no host it named."""
    who = body.get("who")
    named = who.get("host") if isinstance(who, dict) else None
    return not isinstance(named, str) or named.lower() == host.lower()


def _requester(state: ServerState, exception_id: str) -> str:
    """Who requested ``exception_id`` (empty when it cannot be read: the check refuses)."""
    from lacuna.errors import LacunaError
    from lacuna.server.app import state_unavailable

    try:
        return state.governor.exceptions.get(exception_id).requested_by
    except LacunaError as exc:
        if state_unavailable(exc) is not None:
            raise
        return ""


def _copy_written(state: ServerState, principal: Principal, exception_id: str,
                  body: DecryptBody) -> dict[str, Any]:
    """Add to the caller's open record of a decrypted copy what was written (the sweep then
    deletes that file, however late it was made)."""
    if not body.output:
        raise HTTPException(409, f"no open record on {body.host} under exception "
                            f"{exception_id} awaits what was written: name the copy (output)")
    _identified(state, principal, exception_id, body.host, body.output, str(body.identity))
    return {"allowed": True}


def _identified(state: ServerState, principal: Principal, exception_id: str, host: str,
                path: str, identity: str) -> WrittenFile:
    """The caller's open, verified record of ``path`` on ``host`` under the exception that
    does not say yet what was written, now saying ``identity`` (a 409 when there is none)."""

    store = state.governor.exceptions
    found = [w for w in store.files(exception_id, pending_only=True)
             if _at(w.path, host, path) and w.identity is None
             and same_name(w.written_by, principal.name) and store.file_verified(w)]
    if not found:
        raise HTTPException(409, f"no open record of {path} on {host} under "
                            f"exception {exception_id} awaits what was written")
    return store.record_identity(found[-1], identity)
