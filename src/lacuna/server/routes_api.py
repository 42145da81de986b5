"""Classify and decide: the same answers as in-process (``lacuna.classify``,
``Governor.decide``)."""

from __future__ import annotations

import logging
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from fastapi import APIRouter, HTTPException, Request, UploadFile

from lacuna.dbt.reads import is_model_uri
from lacuna.errors import AuditError, ClassificationError
from lacuna.identity import Principal, same_name
from lacuna.model import Action, Classification, Decision, Operation, User
from lacuna.remote.wire import WireOperation, decision_to_wire, parse_operation
from lacuna.server.schemas import (
    ClassifyRequest,
    DecideRequest,
    OperationBody,
    OutcomeBody,
    RefusalBody,
)
from lacuna.server.security import AnyUser, state_of
from lacuna.server.state import ServerState

router = APIRouter(prefix="/api/v1", tags=["governance"])
log = logging.getLogger("lacuna.server")
SUFFIXES = (".csv", ".tsv", ".parquet", ".json", ".jsonl", ".xlsx", ".gz")


@router.post("/classify", summary="Classify columns and sample values")
def classify_columns(body: ClassifyRequest, request: Request, _: AnyUser) -> dict[str, Any]:
    """Tier, tags and per-column classes, as ``lacuna.classify({name: samples})``."""
    from lacuna.classify.entry import classify

    gov = state_of(request).governor
    result = classify({k: list(v)[:1000] for k, v in body.columns.items()},
                      config=gov.config.classification, declared=body.declared,
                      cascade=gov.cascade)
    return {"name": body.name, "classification": result.to_dict()}


@router.post("/classify/file", summary="Classify an uploaded data file")
def classify_file(file: UploadFile, request: Request, _: AnyUser) -> dict[str, Any]:
    """A CSV, TSV, Parquet, JSON (Lines) or Excel file, read as ``lacuna.classify(path)``
    reads it (a sample of ``classification.sample_rows`` rows)."""
    from lacuna.classify.entry import classify

    gov = state_of(request).governor
    name = Path(file.filename or "upload.csv").name
    suffix = _suffix(name)
    if suffix is None:
        raise HTTPException(415, f"cannot classify {name!r}: send one of {', '.join(SUFFIXES)}")
    with tempfile.TemporaryDirectory(prefix="lacuna-upload-") as tmp:
        path = Path(tmp) / f"upload{suffix}"
        with path.open("wb") as out:
            while chunk := file.file.read(1 << 20):
                out.write(chunk)
        try:
            result = classify(str(path), config=gov.config.classification, cascade=gov.cascade)
        except ClassificationError as exc:  # name the caller's file, not the server's copy
            msg = str(exc).replace(str(path), name).replace(path.name, name)
            raise ClassificationError(msg) from None
    return {"name": name, "classification": result.to_dict()}


def _suffix(name: str) -> str | None:
    """The kind of file ``name`` says it is, as the server's copy is named (``.csv``,
    ``.csv.gz``, ...), or None when it is none :data:`SUFFIXES` knows. Only a known suffix is
    kept: the name's last two suffixes were, and a long one in the middle
    (``a.<300 letters>.csv``) made a file name the disk refused (a 500)."""
    lower = name.lower()
    kind = next((s for s in SUFFIXES if lower.endswith(s)), None)
    if kind == ".gz":
        inner = Path(lower[: -len(kind)]).suffix
        return f"{inner}{kind}" if inner in SUFFIXES else kind
    return kind


def operation_for(state: ServerState, body: OperationBody, principal: Principal) -> Operation:
    """The body's operation, acted by ``principal`` (never the body's ``user``)."""
    try:
        parsed = parse_operation(body.model_dump(exclude={"user"}))
    except (ValueError, KeyError, TypeError) as exc:
        raise HTTPException(422, f"invalid operation: {exc}") from None
    return bound(state, parsed, principal)


def caller(state: ServerState, principal: Principal) -> User:
    """The user an authenticated caller acts as: their name, their roles (the first is the
    policy input's ``role``; all of them in ``attributes.roles``, which ``dbt.roles`` reads)
    and the clearance the server's ``clearances:`` gives their name or roles (lacuna.yaml;
    ``INTERNAL`` when it lists neither: :meth:`~lacuna.config.Config.clearance_of`). Nothing
    of the server's own ``user:`` section applies (its ``clearance``, ``department`` and
    ``attributes`` describe whoever runs a process with that file, not a token's holder): one
    user for a decide and for the exception verbs' dry run alike."""
    config = state.governor.config
    return User(id=principal.name, role=principal.role,
                clearance=config.clearance_of(principal.name, principal.roles),
                attributes={"roles": list(principal.roles)})


def bound(state: ServerState, parsed: WireOperation, principal: Principal) -> Operation:
    """``parsed`` acted by ``principal`` (:func:`caller`), its destination classified by the
    server."""
    user = caller(state, principal)
    try:
        return parsed.bind(user=user, destination=state.destination)
    except (ValueError, KeyError, TypeError) as exc:
        raise HTTPException(422, f"invalid operation: {exc}") from None


def vouched_host(request: Request) -> tuple[str | None, bool]:
    """The host a client names itself in :data:`~lacuna.lineage.seen.HOST_HEADER` (whose
    local paths its operations name: the retention clocks of its files are its own), as the
    server's ``client_hosts`` lets the caller speak for it (:mod:`lacuna.server.hosts`: a
    bound caller's own host when it names none); None when it names none and is unbound. And
    whether the server vouches for it: true for a bound caller's host, false for a host an
    unbound caller names (their word), which the audit record says (:func:`hosted`).
    Call it after the route's role check (it reads the caller from ``request.state``).

    Raises:
        HTTPException: 422, a header that is not a host name as a client sends it, or none
            from a caller bound to several hosts; 403 (audited), a host the caller may not
            speak for.
    """
    from lacuna.lineage.seen import HOST_HEADER, valid_host

    host = request.headers.get(HOST_HEADER)
    if host is not None and not valid_host(host):
        raise HTTPException(422, f"header {HOST_HEADER} {host[:80]!r} is not a host name: "
                                 "1 to 255 letters, digits or ._~%- (a client with server: "
                                 "sends its percent-encoded host name)")
    principal = getattr(request.state, "principal", None)
    if principal is None:  # every route that calls this checks the role first
        msg = "vouched_host called before the caller was authenticated"
        raise RuntimeError(msg)
    return vouched_for(request, principal, host)


def vouched_for(request: Request, principal: Principal, host: str | None
                ) -> tuple[str | None, bool]:
    """``host`` (a client's, None: not named) as ``principal`` may speak for it
    (:meth:`lacuna.server.hosts.HostBindings.speaks_for`), and whether the server vouches for
    it (the caller is bound to it); a refusal is raised as its HTTP answer, a 403 audited as
    every refusal is. A caller that needs only the host takes the first element."""
    from lacuna.server.hosts import HostRefused
    from lacuna.server.security import refuse

    state = state_of(request)
    try:
        return state.hosts.speaks_for(principal.name, host)
    except HostRefused as exc:
        if exc.status == 403:
            refuse(request, state, 403, exc.detail, principal)
        raise HTTPException(exc.status, exc.detail) from None


def hosted(operation: Operation, host: str | None, verified: bool) -> Operation:
    """``operation`` from the client host ``host`` (None: it named none), ``verified`` when
    the server vouches for it: its audit record says so (``who.host``, ``who.host_verified``),
    so a reader of the trail can tell a host the settings bind the caller to from one an
    unbound caller only named (docs/server.md, "Whose host")."""
    if host is None:
        return operation
    return replace(operation, client_host=host, host_verified=verified)


def decide_and_record(state: ServerState, operation: Operation, *, record: bool,
                      session: str | None) -> tuple[Decision, dict[str, Any] | None]:
    """Decide with the server's governor (exception grants, alternatives included) and, with
    ``record``, append it to the audit trail: an allowed decision that cannot be recorded
    becomes a denial (fail closed). An allowed write's clock is recorded for the file on the
    operation's client host (:func:`hosted`), which every step that rebuilds the operation
    keeps (the held sources, a dbt model's read)."""
    gov = state.governor
    started = time.perf_counter()
    operation, denial = held_sources(state, operation)
    if denial is None and (operation.destination is not None
                           and is_model_uri(operation.destination.uri)):
        from lacuna.dbt.reads import model_read  # a dbt model's restrict rules (docs/dbt.md)

        operation, denial = model_read(gov, operation)
    decision = denial if denial is not None else gov.decide(operation)
    stored, failure = None, None
    if record:
        decision = clocked(state, decision)
        stored, failure = _record(state, decision, session or gov.session)
    return answered(state, decision, stored, failure, started)


def clocked(state: ServerState, decision: Decision) -> Decision:
    """``decision``, once an allowed write's local destination (a file on the operation's
    ``client_host``) has its retention clock recorded in the lineage store
    (:func:`lacuna.lineage.seen.record_write`: the client's sidecar is its owner's word, so
    the server keeps the clock); a denial when it cannot be recorded (fail closed: a file
    whose clock is not kept could outlive its window)."""
    from lacuna.lineage.seen import record_write

    if not decision.allowed or decision.operation is None:
        return decision
    operation = decision.operation
    try:
        record_write(state.governor.lineage_store, operation, host=operation.client_host)
    except Exception as exc:
        log.error("could not record the retention clock of operation %s's destination; "
                  "denying (fail closed): %s", decision.operation_id, exc)
        return state.governor._unrecorded(
            decision, exc, rule="a file's retention clock is kept by the server")
    return decision


def held_sources(state: ServerState, operation: Operation) -> tuple[Operation, Decision | None]:
    """The client's claims about its sources held to what the server's lineage store knows
    (they may only raise: :func:`lacuna.lineage.claims.hold_sources`), and a denial when the
    store cannot be read (fail closed). A refused lowering is logged, and the raised
    classification's reasoning (on the audit record) says it."""
    from lacuna.lineage.claims import hold_sources

    if not operation.sources:
        return operation, None
    gov = state.governor
    try:
        held, refused = hold_sources(operation, gov.lineage_store, gov.config.classification)
    except Exception as exc:
        log.error("cannot check operation %s's sources against the lineage store; denying "
                  "(fail closed): %s", operation.id, exc)
        # the caller is told the store's refusal (a version edited by hand, ...) without
        # where the server keeps its state (file, host, account): the log has it whole
        return operation, Decision(
            allowed=False, operation_id=operation.id, operation=operation,
            reasoning=("Denied because the server could not check the sources' "
                       "classifications against its lineage store (fail closed)"),
            engine_error=f"{type(exc).__name__}: {told(state, exc)}")
    if refused:
        log.warning("operation %s by %s claims less than the lineage store knows of its "
                    "sources; kept what is known:%s", operation.id, operation.user.id,
                    "".join(f"\n  {line}" for line in refused))
    return held, None


def answered(state: ServerState, decision: Decision, stored: Any, failure: Exception | None,
             started: float) -> tuple[Decision, dict[str, Any] | None]:
    """The decision as answered (an allowed one that could not be recorded is denied: fail
    closed), counted in the metrics, with its audit record's id, seq and hash."""
    if failure is not None and decision.allowed:
        decision = state.governor._unrecorded(decision, told(state, failure))
    seconds = time.perf_counter() - started
    state.metrics.decision("error" if decision.engine_error else (
        "allowed" if decision.allowed else "denied"), seconds)
    audit = None
    if stored is not None:
        audit = {"id": stored.id, "seq": stored.seq, "hash": stored.hash}
    return decision, audit


def _record(state: ServerState, decision: Decision, session: str) -> tuple[Any, Exception | None]:
    assert decision.operation is not None
    try:
        writer = state.audit_writer
        if writer is not None:  # a group commit: durable before this returns
            stored = writer.record(decision, decision.operation, session=session)
        else:
            stored = state.governor.audit.record(decision, decision.operation, session=session)
    except Exception as exc:
        return appended(state, decision, None, exc)
    return appended(state, decision, stored, None)


def told(state: ServerState, failure: Exception) -> Exception:
    """A failed append as the caller is told it (the log keeps ``failure`` whole): the
    denial's ``why`` and ``engine_error`` repeated the store's message, which names the state
    database's file or URL (host, port, account, database), to any caller. The database out
    of reach is said as :data:`lacuna.server.app.UNAVAILABLE`; elsewhere the place is "the
    server's state database"."""
    from lacuna.server.app import UNAVAILABLE, placeless, state_unavailable

    text = UNAVAILABLE if state_unavailable(failure) is not None else placeless(
        state, str(failure))
    return failure if text == str(failure) else AuditError(text)


def appended(state: ServerState, decision: Decision, stored: Any, failure: Exception | None
             ) -> tuple[Any, Exception | None]:
    """Count (and on failure log) one audit append of ``decision``; ``(stored, failure)``."""
    state.metrics.audit_write(failure is None)
    if failure is not None:
        log.error("could not append decision %s to the audit trail: %s",
                  decision.operation_id, failure)
        return None, failure
    return stored, None


@router.post("/decide", summary="Decide an operation (and record it)")
def decide(body: DecideRequest, request: Request, principal: AnyUser) -> dict[str, Any]:
    """The same :class:`~lacuna.model.Decision` as in-process. The acting user is the caller
    (from the token), the destination is classified by the server's settings, and an
    ``exception_id`` is honoured only for a grant in the server's exception store that covers
    this operation. With ``record`` (the default) the decision is on the audit trail before
    the answer is sent; ``audit`` names the record."""
    state = state_of(request)
    host, verified = vouched_host(request)
    operation = hosted(operation_for(state, body.operation, principal), host, verified)
    decision, audit = decide_and_record(state, operation, record=body.record,
                                        session=body.session)
    return {"decision": decision_to_wire(decision, operation), "audit": audit}


# The rules a client refuses by itself (lacuna.mount.decide, lacuna.proxy.gate), as
# ``POST /api/v1/audit/refusals`` takes them; and a retention rule package of this server's
CLIENT_RULES = ("lacuna.mount", "lacuna.proxy")


def _client_rule(state: ServerState, policy_id: str) -> bool:
    if policy_id in CLIENT_RULES or (policy_id.startswith("retention.hold.")
                                     and len(policy_id) > len("retention.hold.")):
        return True
    try:
        return policy_id in state.keeping.packages()
    except Exception:  # the packages cannot be read: not one of them (fail closed)
        return False


@router.post("/audit/refusals", tags=["audit"], status_code=201,
             summary="Record a denial the client made by its own rule")
def refusal(body: RefusalBody, request: Request, principal: AnyUser) -> dict[str, Any]:
    """A denial a client with ``server:`` made by a rule of its own (the governed mount's
    ``lacuna.mount``, a legal hold's ``retention.hold.ID``, a retention rule package of this
    server's bundle, the egress proxy's ``lacuna.proxy``), recorded as the caller's: denied,
    its reasoning saying the client reported it. Only denials of those rules: another policy
    id is a 422 (a client cannot put denials of the server's policies on the trail), and
    nothing allowed is ever taken from a client. The answer is the decide route's; the
    record names the client's host as a decision's does (:func:`hosted`)."""
    state = state_of(request)
    host, verified = vouched_host(request)
    if not _client_rule(state, body.policy_id):
        raise HTTPException(422, f"policy_id {body.policy_id[:80]!r} is not a rule a client "
                                 f"refuses by ({', '.join(CLIENT_RULES)}, retention.hold.ID, "
                                 "or a retention rule package of this server's bundle)")
    operation = hosted(operation_for(state, body.operation, principal), host, verified)
    started = time.perf_counter()
    decision = Decision(
        allowed=False, operation_id=operation.id, operation=operation,
        reasoning=(f"{body.reasoning} [refused on the client by its own rule "
                   f"{body.policy_id}; recorded as the client reported it]"),
        policy_id=body.policy_id, policy_title=body.policy_title)
    stored, failure = _record(state, decision, body.session or state.governor.session)
    if failure is not None:
        raise HTTPException(503, f"the refusal could not be recorded: {told(state, failure)}")
    decision, audit = answered(state, decision, stored, None, started)
    return {"decision": decision_to_wire(decision), "audit": audit}


@router.post("/audit/outcomes", tags=["audit"], status_code=201,
             summary="Append the outcome of a decided operation (succeeded or failed)")
def outcome(body: OutcomeBody, request: Request, principal: AnyUser) -> dict[str, Any]:
    """For the caller's own decision record ``of`` (from ``POST /api/v1/decide``): the
    operation ran and succeeded, or failed with ``error``. Works with any worker: the
    operation is read back from the trail.

    As in-process (:meth:`~lacuna.governor.Governor.execute`), an operation that runs has one
    outcome, and a denied one none unless the client ran it anyway in ``warn`` or ``observe``
    mode and says so (``mode``: kept on the outcome, the trail shows the denied operation ran):
    an outcome of a denial without it, or a second outcome of one decision, is refused (409)
    and nothing is appended."""
    state = state_of(request)
    record = state.governor.audit.get(body.of)
    if (record is None or not same_name(record.user_id, principal.name)
            or record.kind != "decision"):
        raise HTTPException(404, f"no decision record {body.of!r} of yours to append to")
    decision, operation = _from_record(state, record.data)
    if not decision.allowed and body.mode is None:
        raise HTTPException(409, f"decision record {body.of!r} denied the operation: in "
                                 "enforce mode it did not run, so it has no outcome to record "
                                 "(one that ran anyway in warn or observe mode says so: mode)")
    error = client_error(body.error) if body.error else None
    stored = state.governor.audit.record_outcome_once(
        decision, operation, session=body.session or record.data["who"].get("session") or "",
        of=body.of, error=error, mode=None if decision.allowed else body.mode)
    state.metrics.audit_write(True)
    if stored is None:
        raise HTTPException(409, f"decision record {body.of!r} already has its outcome: an "
                                 "operation runs once (decide again for another run)")
    return {"id": stored.id, "seq": stored.seq, "hash": stored.hash}


def client_error(text: str) -> Exception:
    """The error a client reports as ``"Type: message"`` (``ServerAudit.record_outcome``),
    kept as that type's name and message on the outcome (as in-process: ``error_type``
    ``OSError``, ``error`` ``disk full``). Every outcome said ``RuntimeError`` with the client's
    type repeated in the message. Text without a type is a ``RuntimeError``'s message."""
    name, sep, message = text.partition(": ")
    if sep and len(name) <= 100 and all(part.isidentifier() for part in name.split(".")):
        kind: type[RuntimeError] = type(name.rsplit(".", 1)[-1], (RuntimeError,), {})
        return kind(message)
    return RuntimeError(text)


def _from_record(state: ServerState, data: dict[str, Any]) -> tuple[Decision, Operation]:
    """The operation and decision a decision record describes (what an outcome names)."""
    what, how, who = data.get("what") or {}, data.get("how") or {}, data.get("who") or {}
    dest = what.get("destination")
    operation = Operation(
        id=str(data.get("operation_id") or ""), action=Action(what.get("action", "export")),
        user=User(id=str(who.get("user_id")), role=str(who.get("role") or "")),
        classification=Classification(), method=str(how.get("method") or ""),
        code_location=how.get("code_location"),
        destination=state.governor.destination(dest) if dest else None)
    verdict = data.get("decision") or {}
    decision = Decision(allowed=bool(verdict.get("allowed")), operation_id=operation.id,
                        reasoning=str(verdict.get("reasoning") or ""),
                        policy_id=verdict.get("policy_id"), operation=operation)
    return decision, operation
