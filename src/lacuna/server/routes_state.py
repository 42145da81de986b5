"""Audit, exceptions and lineage over HTTP, through the existing stores and verbs.

Exceptions go through :mod:`lacuna.exceptions` (request, approve, deny, settle) acting as the
caller: the server runs the verb under a governor whose ``user`` is the authenticated
principal, so the workflow's rules (no self-approval, only an entitled steward) apply
unchanged.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import JSONResponse

from lacuna.errors import RunDismissedError, RunOwnedError
from lacuna.identity import ADMIN, COMPLIANCE_OFFICER, DATA_STEWARD, Principal, same_name
from lacuna.model import Classification, Operation
from lacuna.server import paging
from lacuna.server.schemas import (
    DismissBody,
    ExceptionDecisionBody,
    ExceptionRequestBody,
    FingerprintBody,
    SettleBody,
)
from lacuna.server.security import (
    REFUSAL_SESSION,
    AnyUser,
    Auditor,
    Producer,
    Steward,
    state_of,
)
from lacuna.server.state import ServerState

if TYPE_CHECKING:
    from lacuna.exceptions import ExceptionRequest

router = APIRouter(prefix="/api/v1")
log = logging.getLogger("lacuna.server")
LOWERING_REFUSED = "lacuna.lineage.raise_only"  # the policy id of an audited refused lowering


class ShownJSON(JSONResponse):
    """JSON whose control characters and bidirectional overrides are ``\\uXXXX`` escapes
    (:func:`lacuna.exceptions.shown.json_visible`): the same values, safe to print. A request
    stored before they were refused may hold them, and ``curl`` prints the body as it is. A
    lone surrogate (an audit record naming a file whose name is not UTF-8) is escaped too:
    UTF-8 cannot carry it, and the plain JSON response failed (a 500 for the whole page)."""

    def render(self, content: Any) -> bytes:
        from lacuna.exceptions.shown import json_visible

        text = json.dumps(content, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
        return json_visible(text).encode("utf-8")


# -- audit --------------------------------------------------------------------------------------


@router.get("/audit", tags=["audit"], summary="Search the audit trail",
            response_class=ShownJSON)
def audit_search(request: Request, _: Auditor, user: str | None = None,
                 action: str | None = None, denied: bool = False,
                 since: datetime | None = None,
                 limit: int = Query(default=paging.AUDIT_RECORDS.default, ge=1,
                                    le=paging.AUDIT_RECORDS.maximum)) -> dict[str, Any]:
    """Newest first; ``denied`` keeps only denials; ``since`` is ISO-8601; ``truncated`` says
    more records match than ``limit``. ``user`` is a person: every spelling of their name the
    trail holds (``Jane``, ``jane``: :meth:`AuditStore.spellings`). An ``action`` that is
    none the trail records is a 422 naming the valid ones (a misspelt one matched nothing)."""
    from lacuna.audit.queries import check_action

    audit = state_of(request).governor.audit
    if action is not None:
        try:
            action = check_action(action, audit.actions)
        except ValueError as exc:
            raise HTTPException(422, str(exc)) from None
    names = audit.spellings(user) if user else None
    page = paging.newest(lambda n: audit.list(limit=n, denied_only=denied, user=names,
                                              action=action, since=since), limit)
    return {"records": [r.to_dict() for r in page.items], "truncated": page.more}


@router.get("/audit/verify", tags=["audit"], summary="Verify the hash chain and checkpoint")
def audit_verify(request: Request, _: Auditor) -> dict[str, Any]:
    """``ok`` is the trail's (chain, signatures, checkpoint) as of ``verified_at``: the whole
    trail is walked at most once per ``audit_verify_interval_s``, one walk at a time, and the
    answer says which head it covers and how many records were appended since
    (:mod:`lacuna.server.verifier`). ``identities``: the user and console session rows beside
    it, checked now as sign-in checks them (``identities.ok``)."""
    state = state_of(request)
    return {**state.verifier.check().to_dict(), "identities": state.users.verify().to_dict()}


_MAX_SEQ = 2**63 - 1  # a seq is a signed 64-bit integer in SQLite and PostgreSQL


@router.get("/audit/{record_id}", tags=["audit"], summary="One audit record (id or seq)",
            response_class=ShownJSON)
def audit_get(record_id: str, request: Request, _: Auditor) -> dict[str, Any]:
    key: str | int = record_id
    if record_id.isascii() and record_id.isdigit():
        key = int(record_id)
        if key > _MAX_SEQ:  # past any database's integer column: no such record
            raise HTTPException(404, f"no audit record {record_id!r}")
    record = state_of(request).governor.audit.get(key)
    if record is None:
        raise HTTPException(404, f"no audit record {record_id!r}")
    return record.to_dict()


# -- exceptions ---------------------------------------------------------------------------------

_verbs = threading.Lock()  # the verbs read the process's current governor: one at a time


@contextmanager
def acting_as(state: ServerState, principal: Principal) -> Iterator[Any]:
    """A governor sharing the server's engine and stores, whose user is ``principal`` as
    :func:`~lacuna.server.routes_api.caller` makes them, as a decide does (never the
    server's own department or attributes)."""
    from lacuna.governor import Governor, scoped
    from lacuna.server.routes_api import caller

    gov = state.governor
    who = caller(state, principal)
    user = gov.config.user.model_copy(update={
        "id": who.id, "role": who.role, "clearance": who.clearance, "department": None,
        "attributes": dict(who.attributes)})
    config = gov.config.model_copy(update={"user": user})
    acting = Governor(config, engine=gov.engine, audit=gov.audit)
    acting._exceptions = gov.exceptions  # the same store (no second connection pool)
    with _verbs, scoped(acting):
        yield acting


def _sees_all(principal: Principal) -> bool:
    return principal.has(DATA_STEWARD, COMPLIANCE_OFFICER, ADMIN)


@router.post("/exceptions", tags=["exceptions"], status_code=201, response_class=ShownJSON,
             summary="Request an exception (as the caller)")
def exception_request(body: ExceptionRequestBody, request: Request,
                      principal: AnyUser) -> dict[str, Any]:
    from lacuna.exceptions import request_exception
    from lacuna.server.routes_api import vouched_host

    state = state_of(request)
    host, verified = vouched_host(request)  # a grant is tied to a host the server vouches for
    target = body.destination or (body.operation.destination if body.operation else None)
    op: dict[str, Any] = {"action": body.operation.action if body.operation else body.action,
                          "destination": target}
    if body.source:
        op["source"] = body.source
    known = _known_data(state, body, principal, target) if target else None
    with acting_as(state, principal):
        created = request_exception(
            operation=op, purpose=body.purpose, approver=body.approver or "",
            business_justification=body.business_justification or "",
            duration_hours=body.duration_hours, conditions=tuple(body.conditions),
            known=known, read_source=False, host=host if verified else None)
    return created.to_dict()


def _known_data(state: ServerState, body: ExceptionRequestBody, principal: Principal,
                target: str) -> Operation | None:
    """What the server knows of a requested exception's data, to find the policy to ask: the
    client's declared operation (``operation``: classification and sources) and the named
    ``source``, each source held to what the server's lineage store knows of it (a claim may
    only raise: :func:`~lacuna.server.routes_api.held_sources`). Never a file read: a
    client's path names a file on the server's disk, which the client may not have read or
    classified for them (nor learn whether it exists). None when nothing is declared and the
    store knows nothing of the source: no policy is looked up (the default stewards decide),
    whatever is or is not at that path."""
    from lacuna.lineage.records import DatasetRef
    from lacuna.remote.wire import parse_operation
    from lacuna.server.routes_api import bound, held_sources

    if body.operation is None and not body.source:
        return None
    wire: dict[str, Any] = (body.operation.model_dump(exclude={"user"}) if body.operation
                            else {"action": body.action})
    wire["destination"] = target
    named = [dict(s) for s in wire.get("sources") or ()]
    if body.source and body.source not in {str(s.get("name")) for s in named}:
        named.append({"name": body.source})
    wire["sources"] = named
    try:
        parsed = parse_operation(wire)
    except (ValueError, KeyError, TypeError) as exc:
        raise HTTPException(422, f"invalid operation: {exc}") from None
    operation = bound(state, parsed, principal)
    if body.operation is None:
        try:
            if state.governor.lineage_store.latest(DatasetRef.of(str(body.source))) is None:
                return None
        except Exception as exc:  # unknown then: the default stewards decide
            log.warning("could not look source %r up in the lineage store (%s); only the "
                        "default stewards may approve this request", body.source, exc)
            return None
    held, denial = held_sources(state, operation)
    return held if denial is None else None


@router.get("/exceptions", tags=["exceptions"], summary="List exceptions",
            response_class=ShownJSON)
def exception_list(request: Request, principal: AnyUser, status: str | None = None,
                   limit: int = Query(default=paging.EXCEPTIONS.default, ge=1,
                                     le=paging.EXCEPTIONS.maximum)
                   ) -> dict[str, Any]:
    """Stewards, compliance officers and admins see all; others see their own. The newest
    ``limit`` in the order they were filed; ``truncated`` says there are older ones;
    ``unreadable`` lists the ids of rows among them that are not requests Lacuna wrote (left
    out, and counted against ``limit``: read the next page with a smaller one)."""
    from lacuna.exceptions import Status

    try:
        wanted = Status(status) if status else None
    except ValueError:
        raise HTTPException(422, f"status must be one of: {', '.join(s.value for s in Status)}"
                            ) from None
    user = None if _sees_all(principal) else principal.name
    store = state_of(request).governor.exceptions
    unreadable: list[Exception] = []

    def read(n: int) -> list[Any]:
        unreadable.clear()
        return store.list(status=wanted, user=user, limit=n, unreadable=unreadable)[::-1]

    page = paging.newest(read, limit)
    # the rows read include the unreadable ones: limit + 1 rows read means older ones exist
    more = page.more or len(page.items) + len(unreadable) > limit
    return {"exceptions": [e.to_dict() for e in reversed(page.items)], "truncated": more,
            "unreadable": [str(getattr(e, "exception_id", "")) for e in unreadable]}


@router.get("/exceptions/{exception_id}", tags=["exceptions"], summary="One exception",
            response_class=ShownJSON)
def exception_get(exception_id: str, request: Request, principal: AnyUser) -> dict[str, Any]:
    """Another's request and no request answer alike (404) to a caller who sees only their
    own: the answer does not say which ids exist."""
    item = _visible(state_of(request), principal, exception_id)
    if item is None:
        raise HTTPException(404, f"no exception {exception_id!r} of yours")
    return item.to_dict()


@router.post("/exceptions/{exception_id}/approve", tags=["exceptions"], response_class=ShownJSON,
             summary="Approve (a steward entitled to decide; never the requester)")
def exception_approve(exception_id: str, body: ExceptionDecisionBody, request: Request,
                      principal: AnyUser) -> dict[str, Any]:
    from lacuna.exceptions import approve_exception
    from lacuna.exceptions.authority import ExceptionNotAuthorized

    if not principal.has(DATA_STEWARD):
        from lacuna.server.security import refuse

        refuse(request, state_of(request), 403,
               f"{principal.name} is not a data_steward; only stewards approve exceptions",
               principal)
    try:
        with acting_as(state_of(request), principal):
            decided = approve_exception(exception_id, comment=body.comment,
                                        conditions=body.conditions)
    except ExceptionNotAuthorized as exc:
        raise HTTPException(403, str(exc)) from None
    return decided.to_dict()


@router.post("/exceptions/{exception_id}/deny", tags=["exceptions"], response_class=ShownJSON,
             summary="Deny a pending request or revoke an approved one")
def exception_deny(exception_id: str, body: ExceptionDecisionBody, request: Request,
                   principal: AnyUser) -> dict[str, Any]:
    """A steward denies or revokes; a requester may withdraw their own request. To a caller who
    sees only their own requests, a refusal for another's request is the same 404 as for an id
    nobody filed (as ``GET``); the refusal is audited by :func:`lacuna.exceptions.deny_exception`
    either way."""
    from lacuna.exceptions import ExceptionNotFound, deny_exception
    from lacuna.exceptions.authority import ExceptionNotAuthorized

    state = state_of(request)
    _deny_needs_steward_role(request, state, principal, exception_id)
    try:
        with acting_as(state, principal):
            decided = deny_exception(exception_id, comment=decision_note(
                body.comment, tuple(body.conditions)))
    except (ExceptionNotAuthorized, ExceptionNotFound) as exc:
        if _not_yours(state, principal, exception_id):
            raise HTTPException(404, f"no exception {exception_id!r} of yours") from None
        if isinstance(exc, ExceptionNotFound):
            raise
        raise HTTPException(403, str(exc)) from None
    return decided.to_dict()


def _deny_needs_steward_role(request: Request, state: ServerState, principal: Principal,
                             exception_id: str) -> None:
    """A deny or revoke in a steward's capacity needs the ``data_steward`` role, as approving
    does (and the console asks for every verdict): a name on a ``stewards:`` list is not
    enough. Withdrawing one's own request needs no role. The refusal is audited: 403, or the
    same 404 as for an id nobody filed to a caller who sees only their own requests. A
    request that cannot be read or decided at all is left to the verb (it refuses and audits
    that itself)."""
    from lacuna.errors import LacunaError
    from lacuna.exceptions.authority import STEWARD_ROLE, authorize

    if principal.has(DATA_STEWARD):
        return
    try:
        item = state.governor.exceptions.get(exception_id)
        capacity = authorize(item, principal.name, state.governor.config.stewards,
                             approve=False)
    except LacunaError as exc:
        from lacuna.server.app import state_unavailable

        if state_unavailable(exc) is not None:
            raise
        return
    if capacity != STEWARD_ROLE:
        return
    detail = (f"{principal.name} is not a data_steward; only stewards deny or revoke "
              f"exception {exception_id} (being named under stewards: in lacuna.yaml is not "
              "enough; a requester withdraws their own request without the role)")
    if _not_yours(state, principal, exception_id):
        from lacuna.server.security import audit_refusal

        audit_refusal(state, request, 404, detail, principal)
        raise HTTPException(404, f"no exception {exception_id!r} of yours")
    from lacuna.server.security import refuse

    refuse(request, state, 403, detail, principal)


def _not_yours(state: ServerState, principal: Principal, exception_id: str) -> bool:
    """Whether ``principal`` sees only their own requests and ``exception_id`` is not one of
    them (another's, or none)."""
    return not _sees_all(principal) and _visible(state, principal, exception_id) is None


def _visible(state: ServerState, principal: Principal, exception_id: str
             ) -> ExceptionRequest | None:
    """The request ``exception_id`` if ``principal`` may see it; ``None`` for another's and
    for none alike, to a caller who sees only their own (a row that does not read too: not
    theirs to learn about). Whoever sees all gets the store's errors."""
    from lacuna.errors import LacunaError
    from lacuna.server.app import state_unavailable

    try:
        item = state.governor.exceptions.get(exception_id)
    except LacunaError as exc:
        if _sees_all(principal) or state_unavailable(exc) is not None:
            raise  # (the database out of reach is a 503 to anyone, not "not yours")
        return None
    if not _sees_all(principal) and not same_name(item.requested_by, principal.name):
        return None
    return item


@router.post("/exceptions/{exception_id}/settle", tags=["exceptions"],
             summary="Settle a file the sweep reports (a steward; never the requester or writer)")
def exception_settle(exception_id: str, body: SettleBody, request: Request,
                     principal: AnyUser) -> dict[str, Any]:
    """A steward who has checked a file the sweep reports and cannot act on (its record
    edited or removed, the exception untrusted, the file missing or replaced) settles it: the
    sweep then neither deletes nor reports it (:func:`lacuna.exceptions.settle_file`)."""
    from lacuna.errors import ConfigError
    from lacuna.exceptions import ExceptionNotFound, settle_file
    from lacuna.exceptions.authority import ExceptionNotAuthorized

    if not principal.has(DATA_STEWARD):
        from lacuna.server.security import refuse

        refuse(request, state_of(request), 403,
               f"{principal.name} is not a data_steward; only stewards settle files", principal)
    try:
        with acting_as(state_of(request), principal):
            before = settle_file(exception_id, body.path, reason=body.reason)
    except ExceptionNotAuthorized as exc:
        raise HTTPException(403, str(exc)) from None
    except ExceptionNotFound as exc:
        raise HTTPException(404, str(exc)) from None
    except ConfigError as exc:
        raise HTTPException(422, str(exc)) from None
    return {"exception_id": exception_id, "path": body.path, "settled": True,
            "records_before": [w.to_dict() for w in before]}


def decision_note(comment: str | None, conditions: tuple[str, ...]) -> str | None:
    """A decision's comment with the conditions the steward gave kept in it, so the record
    says what the steward required: the comment of a deny or revoke (the API's and the
    console's, which has one form for every verdict: conditions typed there and then denied
    were dropped), and the console's approvals' note (their conditions are also stored
    apart)."""
    note = (comment or "").strip()
    if conditions:
        listed = "; ".join(conditions)
        note = f"{note.rstrip('.')}. Conditions: {listed}" if note else f"Conditions: {listed}"
    return note or None


# -- lineage ------------------------------------------------------------------------------------


# The most datasets one lineage answer holds (the nearest first; "truncated" says there are
# more): a graph grown by ingesting many runs cannot make one request build and send it all.
GRAPH_LIMIT = 1000
GRAPH_LIMIT_MAX = 10_000


def client_dataset(dataset: str) -> Any:
    """The dataset a lineage query names: a URI, ``<database URL>#<table>`` or an absolute
    path, as clients record them (their paths made absolute on their machine). A relative
    path or ``~`` would be read against the server's own working folder and home, which
    names no client's file and told any caller where those are (``?dataset=~``). The API
    and the console's lineage page ask it alike.

    Raises:
        LineageError: neither, or a URL that cannot be read (a port that is not a number).
    """
    import os

    from lacuna.errors import LineageError
    from lacuna.lineage.api import as_ref

    text = dataset.strip()
    if "://" not in text and not os.path.isabs(text):
        msg = (f"dataset {dataset!r} is not a URI or an absolute path: name it as it was "
               "recorded (a relative path or ~ would be read against the server's own "
               "folders, not yours)")
        raise LineageError(msg)
    return as_ref(text)


def _named_host(request: Request, ref: Any) -> None:
    """A dataset named as a host's file (``file://<host>/path``: how the server keys a
    client host's clocks, :func:`lacuna.lineage.seen.on_host`) is asked of or recorded for
    only by a caller who may speak for that host, as the host header is
    (:func:`lacuna.server.routes_api.vouched_for`: a 403, audited): else the header's rule
    was bypassed by naming the host in the dataset."""
    from lacuna.server.routes_api import vouched_for

    if ref.namespace.startswith("file://"):
        vouched_for(request, request.state.principal, ref.namespace[len("file://"):])


def _dataset(dataset: str) -> Any:
    """:func:`client_dataset`, or a 422 saying what is wrong with it."""
    from lacuna.errors import LineageError

    try:
        return client_dataset(dataset)
    except LineageError as exc:
        raise HTTPException(422, str(exc)) from None


def _graph(request: Request, dataset: str, direction: str, depth: int | None,
           limit: int) -> dict[str, Any]:
    from lacuna.cli.lineage import graph_to_dict

    store = state_of(request).governor.lineage_store
    ref = _dataset(dataset)
    walk = store.upstream if direction == "upstream" else store.downstream
    return graph_to_dict(walk(ref, depth, limit=limit))


@router.get("/lineage/upstream", tags=["lineage"], summary="What a dataset was derived from")
def lineage_upstream(request: Request, _: AnyUser, dataset: str,
                     depth: int | None = Query(default=None, ge=1, le=100),
                     limit: int = Query(default=GRAPH_LIMIT, ge=1, le=GRAPH_LIMIT_MAX)
                     ) -> dict[str, Any]:
    return _graph(request, dataset, "upstream", depth, limit)


@router.get("/lineage/downstream", tags=["lineage"], summary="What was derived from a dataset")
def lineage_downstream(request: Request, _: AnyUser, dataset: str,
                       depth: int | None = Query(default=None, ge=1, le=100),
                       limit: int = Query(default=GRAPH_LIMIT, ge=1, le=GRAPH_LIMIT_MAX)
                       ) -> dict[str, Any]:
    return _graph(request, dataset, "downstream", depth, limit)


@router.get("/lineage/known", tags=["lineage"],
            summary="What the lineage store knows of a dataset's class (by name and content)")
def lineage_known(request: Request, _: AnyUser, dataset: str,
                  fingerprint: str | None = Query(default=None, max_length=200)
                  ) -> dict[str, Any]:
    """The stricter of the dataset's latest version and the newest version with this content
    ``fingerprint`` (anywhere: a copy), as a ``POST /api/v1/decide`` holds a source to it
    (:func:`lacuna.lineage.claims.known_of`); ``classification`` null when the store knows
    neither. A client with ``server:`` reads a file's class with it, so a sidecar deleted or
    written by the file's owner cannot lower what the server knows. ``first_seen``: the
    dataset's retention clock as the server recorded it when it allowed a write there, on
    the caller's host (``X-Lacuna-Host``), or the clock of its content (``fingerprint``: a
    copy made by hand) when that is earlier (:mod:`lacuna.lineage.seen`); null when neither
    is known. A client with ``server:`` takes it instead of its sidecar's."""
    from lacuna.lineage.claims import known_of
    from lacuna.lineage.records import DatasetVersion
    from lacuna.lineage.seen import known as known_clock
    from lacuna.lineage.seen import on_host
    from lacuna.server.routes_api import vouched_host

    gov = state_of(request).governor
    ref = _dataset(dataset)
    host = vouched_host(request)[0]
    _named_host(request, ref)
    known = known_of(gov.lineage_store, DatasetVersion(
        dataset=ref, classification=Classification(), fingerprint=fingerprint or None),
        gov.config.classification)
    seen = known_clock(gov.lineage_store, on_host(ref, host), fingerprint or None)
    return {"dataset": str(ref), "classification": known.to_dict() if known else None,
            "first_seen": seen.isoformat() if seen is not None else None}


@router.get("/lineage/impact", tags=["lineage"],
            summary="Downstream datasets (optionally only those carrying a tag)")
def lineage_impact(request: Request, _: AnyUser, dataset: str, tag: str | None = None,
                   limit: int = Query(default=GRAPH_LIMIT, ge=1, le=GRAPH_LIMIT_MAX)
                   ) -> dict[str, Any]:
    """Among the nearest ``limit`` downstream datasets (a bounded walk, as ``/downstream``:
    the whole graph was walked for every request), those carrying ``tag`` or, without one,
    personal data by the server's ``classification.personal_tags``; ``truncated`` when more
    datasets are downstream than were looked at."""
    from lacuna.lineage.store import impacted

    gov = state_of(request).governor
    ref = _dataset(dataset)
    graph = gov.lineage_store.downstream(ref, limit=limit)
    hits = impacted(graph, ref, tag, gov.config.classification.personal_tags)
    return {"dataset": dataset, "tag": tag, "truncated": graph.truncated,
            "datasets": [{"dataset": str(v.dataset), "tier": v.classification.tier.value,
                          "tags": list(v.classification.tags), "columns": list(v.columns)}
                         for v in hits]}


@router.get("/lineage/completeness", tags=["lineage"], summary="Lineage completeness")
def lineage_completeness(request: Request, _: AnyUser) -> dict[str, Any]:
    return state_of(request).governor.lineage_store.completeness().to_dict()


@router.get("/lineage/runs", tags=["lineage"], summary="Recent runs (optionally of a dataset)")
def lineage_runs(request: Request, _: Auditor, dataset: str | None = None,
                 limit: int = Query(default=paging.LINEAGE_RUNS.default, ge=1,
                                    le=paging.LINEAGE_RUNS.maximum)) -> dict[str, Any]:
    """Newest first; ``truncated`` says more runs exist than ``limit``."""
    store = state_of(request).governor.lineage_store
    ref = _dataset(dataset) if dataset else None
    page = paging.newest(lambda n: store.runs(ref, limit=n), limit)
    runs = page.items
    return {"truncated": page.more, "runs": [
        {"id": r.id, "operation": r.operation, "status": r.status.value, **r.provenance(),
         "started_at": r.started_at.isoformat(), "method": r.method,
         "inputs": [str(v.dataset) for v in r.inputs],
         "outputs": [str(v.dataset) for v in r.outputs]} for r in runs]}


# ``:path``: a runId is any text of 1 to 64 characters the producer chose, "/" and ".."
# included (percent-encoded in the URL); without it such a run could not be dismissed here.
@router.post("/lineage/runs/{run_id:path}/dismiss", tags=["lineage"],
             summary="Dismiss an ingested run's classification claims (a default steward)")
def lineage_dismiss(run_id: str, body: DismissBody, request: Request, principal: Steward
                    ) -> dict[str, Any]:
    """A wrong or hostile raise sent over OpenLineage (a shared table claimed ``RESTRICTED``)
    would deny everyone's use of the data: a default steward dismisses the run, whose versions
    then stay on record but no longer count as what Lacuna knows. Never Lacuna's own runs.
    Audited, refusals too (:func:`lacuna.lineage.dismiss_claim`)."""
    from lacuna.errors import ConfigError, NotDismissableError, UnknownRunError
    from lacuna.lineage.dismiss import DismissNotAuthorized, dismiss_claim

    try:
        with acting_as(state_of(request), principal) as acting:
            done = dismiss_claim(run_id, reason=body.reason, host=acting)
    except DismissNotAuthorized as exc:
        raise HTTPException(403, str(exc)) from None
    except ConfigError as exc:
        raise HTTPException(422, str(exc)) from None
    except UnknownRunError as exc:
        raise HTTPException(404, str(exc)) from None
    except NotDismissableError as exc:
        raise HTTPException(409, str(exc)) from None
    return done.to_dict()


@router.post("/lineage/runs/{run_id:path}/fingerprint", tags=["lineage"],
             summary="The content fingerprint of a run's output completed after it ran")
def lineage_fingerprint(run_id: str, body: FingerprintBody, request: Request,
                        principal: Producer) -> dict[str, Any]:
    """A file written in parts (an ExcelWriter's sheets, an HDFStore's puts) is complete only
    once closed, after its runs were recorded without a fingerprint: the caller's own run
    gives its output version that fingerprint (:meth:`LineageStore.set_fingerprint`), so a
    copy of the file is known by its content as any other. Only the run's user, only an
    output of the run that has none yet (404 otherwise), and never one that would lower what
    the store knows of that content (409: a fingerprint is a claim about the content, which
    may only raise, as an ingested run's)."""
    from lacuna.lineage.claims import at_least
    from lacuna.server.routes_api import vouched_host

    gov = state_of(request).governor
    store = gov.lineage_store
    ref = _dataset(body.dataset)
    host = vouched_host(request)[0]
    _named_host(request, ref)
    run = store.get_run(run_id)
    out = next((v for v in (run.outputs if run is not None else ())
                if v.dataset == ref and v.fingerprint is None), None)
    if run is None or out is None or not same_name(run.user_id, principal.name):
        raise HTTPException(404, f"no run {run_id[:80]!r} of yours wrote {str(ref)[:200]!r} "
                                 "without a fingerprint")
    known = store.by_fingerprint(body.fingerprint)
    if known is not None:
        kept, _ = at_least(out.classification, known.classification,
                           gov.config.classification, what=str(ref))
        if kept is not out.classification:
            raise HTTPException(409, f"the store knows more of that content than run "
                                     f"{run_id[:80]}'s output {str(ref)[:200]} says: its "
                                     "fingerprint would lower it; nothing was changed")
    updated = store.set_fingerprint(run_id, ref, body.fingerprint)
    _content_clock(store, ref, body.fingerprint, host)
    return {"run_id": run_id, "dataset": str(ref), "updated": updated}


def _content_clock(store: Any, ref: Any, fingerprint: str, host: str | None) -> None:
    """The content ``fingerprint`` of the file ``ref`` on ``host`` takes that file's retention
    clock (:func:`lacuna.lineage.seen.record_content`: a copy of it made by hand is as old);
    logged when it cannot be recorded (the fingerprint stands)."""
    from lacuna.lineage.seen import on_host, record_content

    try:
        record_content(store, on_host(ref, host), fingerprint)
    except Exception as exc:
        log.error("could not give the content of %s its retention clock: %s", ref, exc)


class _Pending:
    """OpenLineage events waiting for their run's COMPLETE/FAIL/ABORT (bounded), by caller: one
    caller's events never merge into another's run that has the same runId."""

    LIMIT = 10_000  # open runs, all callers together
    ITEMS = 1_000_000  # datasets and column edges held in them, all callers together

    def __init__(self) -> None:
        self.runs: dict[str, dict[str, Any]] = {}  # caller -> runId -> events so far
        self.lock = threading.Lock()

    def evict(self) -> None:
        """Within both bounds again: a flood evicts its own (oldest) runs first. The counts are
        taken once and kept as runs go (one pass, however many runs one event pushes out)."""
        def size(p: Any) -> int:
            return len(p.inputs) + len(p.outputs) + len(p.edges)

        held = {caller: sum(size(p) for p in runs.values())
                for caller, runs in self.runs.items() if runs}
        count = sum(len(runs) for runs in self.runs.values())
        total = sum(held.values())
        while count > self.LIMIT or total > self.ITEMS:
            caller = (max(held, key=held.__getitem__) if total > self.ITEMS
                      else max(held, key=lambda c: len(self.runs[c])))
            runs = self.runs[caller]
            gone = size(runs.pop(next(iter(runs))))
            count, total, held[caller] = count - 1, total - gone, held[caller] - gone
            if not runs:
                del held[caller]


_pending = _Pending()


@router.post("/lineage", tags=["lineage"], status_code=201,
             summary="OpenLineage ingest (Marquez-compatible)")
def lineage_ingest(event: dict[str, Any], request: Request, principal: Producer
                   ) -> dict[str, Any]:
    """One OpenLineage RunEvent, as Marquez takes it. A caller's events of one run are merged
    by runId; the run is recorded once it has a COMPLETE, FAIL or ABORT event. The run's user
    is the caller (from the token), not what the event claims, and a run recorded by another
    user is never replaced: lineage is evidence, and one user cannot rewrite another's. The
    caller's run is recorded apart instead, under :func:`caller_run_id` (the answer's
    ``recorded``, with ``moved`` saying why), so nobody can keep a producer's run out of the
    store by recording its runId first.

    A classification in the event (Lacuna's or Floe's facet, tags) may only raise what the
    store knows of a dataset or its content; a lowering is refused, the known class kept
    (:mod:`lacuna.lineage.claims`), the refusal audited and listed in the answer's
    ``refused``. The answer: ``{"recorded": run id or null while the run is open,
    "refused": [...]}``."""
    from lacuna.lineage.openlineage import EventError, finish, merge_event
    from lacuna.server.evidence import vouched_outputs
    from lacuna.server.routes_api import vouched_host
    from lacuna.server.schemas import text_only

    host = vouched_host(request)[0]  # (refused before anything is taken)
    try:
        text_only(event, "the OpenLineage event")
    except ValueError as exc:
        raise HTTPException(400, f"not a valid OpenLineage event: {exc}") from None
    gov = state_of(request).governor
    refused: tuple[str, ...] = ()
    with _pending.lock:
        mine = _pending.runs.setdefault(principal.name, {})
        try:
            merge_event(mine, event, gov.config.classification)
        except (EventError, RecursionError) as exc:
            raise HTTPException(400, f"not a valid OpenLineage event: {exc}") from None
        rid = str((event.get("run") or {}).get("runId") or "")
        pending = mine.get(rid)
        try:
            run = finish(pending) if pending is not None else None
        except EventError as exc:  # a malformed run is dropped, not kept to fail again
            mine.pop(rid, None)
            raise HTTPException(400, f"not a valid OpenLineage run: {exc}; nothing of run "
                                     f"{rid} is recorded (send it again, from its START)"
                                ) from None
        if run is not None:
            mine.pop(rid, None)
        _pending.evict()
    moved: str | None = None
    if run is not None:
        run = replace(run, user_id=principal.name, role=principal.role, user_vouched=True)
        # a masked output its client signed with its own key: this server's decision on it
        # is the evidence (lacuna.server.evidence); else it is held to what the run read
        run = vouched_outputs(state_of(request), run, principal, host)
        try:
            run, refused, moved = _ingest_as(gov, run, principal)
        except RunDismissedError as exc:  # the dismissal stands; a new runId is a new claim
            from lacuna.server.security import audit_refusal

            audit_refusal(state_of(request), request, 409, str(exc), principal)  # it came back
            raise HTTPException(409, str(exc)) from None
        if refused:
            _audit_refused_lowering(request, principal, run, refused)
        _clocks(gov, run, host)
    answer: dict[str, Any] = {"recorded": run.id if run is not None else None,
                              "refused": list(refused)}
    if moved:
        answer["moved"] = moved
    return answer


def _clocks(gov: Any, run: Any, host: str | None) -> None:
    """A recorded run's local outputs (files on the caller's ``host``) take their inputs'
    retention clocks (only earlier), and their contents their clocks
    (:func:`lacuna.lineage.seen.record_run`); the run stays recorded when that fails (logged:
    the output keeps the clock its write's decision recorded)."""
    from lacuna.lineage.seen import record_run

    try:
        record_run(gov.lineage_store, run, host=host)
    except Exception as exc:
        log.error("could not carry run %s's input clocks to its outputs: %s", run.id, exc)


def _ingest_as(gov: Any, run: Any, principal: Principal
               ) -> tuple[Any, tuple[str, ...], str | None]:
    """``run`` ingested as the caller's: the run as recorded, the refused lowerings, and why it
    was moved to :func:`caller_run_id` (None when it was not).

    Raises:
        RunDismissedError: a steward dismissed the run recorded under this id.
    """
    from lacuna.lineage.claims import ingest

    try:  # the owner is checked in the write's own transaction: no race between callers
        held, refused = ingest(run, gov.lineage_store, gov.config.classification,
                               by=principal.name, owner=principal.name)
        return held, refused, None
    except RunOwnedError as exc:  # never replaced, never refused: kept apart, as the caller's
        mine_id = caller_run_id(principal.name, run.id)
        try:
            held, refused = ingest(replace(run, id=mine_id), gov.lineage_store,
                                   gov.config.classification, by=principal.name,
                                   owner=principal.name)
        except RunOwnedError as again:  # only a forged key could get here: fail loudly
            raise HTTPException(409, str(again)) from None
        return held, refused, f"{exc}; recorded as {mine_id}"


def caller_run_id(caller: str, run_id: str) -> str:
    """Where a caller's run goes when another user recorded its runId first: a UUID keyed by
    the server's secret over the caller and the runId. The same for every event of that run
    (so the caller may record it again), unpredictable to anyone else (an analyst who records a
    producer's predictable runId first, Airflow's for example, cannot keep the producer's
    lineage out of the store, nor squat on where it goes instead)."""
    import hashlib
    import hmac
    import uuid

    from lacuna.signing import default_keyring

    mac = hmac.new(default_keyring().current.key,
                   b"lacuna-run-id\0" + caller.encode() + b"\0" + run_id.encode(),
                   hashlib.sha256).digest()
    return str(uuid.UUID(bytes=mac[:16], version=4))


def _audit_refused_lowering(request: Request, principal: Principal, run: Any,
                            refused: tuple[str, ...]) -> None:
    """A refused declassification is a governance decision: on the audit trail, as a denial."""
    from lacuna.model import Action, Decision, Operation, User

    state = state_of(request)
    held = [v.classification for v in (*run.inputs, *run.outputs)]
    operation = Operation(
        action=Action.WRITE, user=User(id=principal.name, role=principal.role),
        classification=max(held, key=lambda c: c.tier) if held else Classification(),
        method=f"HTTP {request.method} {request.url.path}",
        code_location=f"OpenLineage run {run.id}")
    decision = Decision(
        allowed=False, operation_id=operation.id, operation=operation,
        policy_id=LOWERING_REFUSED,
        reasoning=("A classification from outside the pipeline may only raise a dataset's "
                   "class; the lowering was refused and the known class kept: "
                   + "; ".join(refused))[:4000])
    try:
        state.governor.audit.record(decision, operation, session=REFUSAL_SESSION)
        state.metrics.audit_write(True)
    except Exception as exc:  # the refusal stands (the class was kept); the lost record is loud
        state.metrics.audit_write(False)
        log.error("could not audit the refused lowering in lineage run %s: %s", run.id, exc)
