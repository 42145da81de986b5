"""OPA's REST API paths (see :mod:`lacuna.server.opa`), answered as OPA answers them."""

from __future__ import annotations

import json
import time
from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from lacuna.errors import PolicyError
from lacuna.identity import Principal
from lacuna.model import ordered_id
from lacuna.policy.aggregate import DATA_API_PATH
from lacuna.policy.decision_log import DecisionEvent
from lacuna.server.opa import InvalidInput, rule_parts
from lacuna.server.security import Admin, AnyUser, Auditor, state_of
from lacuna.server.state import ServerState

router = APIRouter(tags=["OPA Data API"])


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"code": code, "message": message}, status_code=status)


def _answer(state: ServerState, path: str, input_doc: Any, principal: Principal
            ) -> Response:
    status, body = answer_bytes(state, path, input_doc, principal)
    return Response(body, status_code=status, media_type="application/json")


def answer_bytes(state: ServerState, path: str, input_doc: Any, principal: Principal
                 ) -> tuple[int, bytes]:
    """``(HTTP status, JSON body)`` of a Data API answer; a Lacuna decision goes to the
    metrics and the decision log. Shared by the route and :mod:`lacuna.server.fastlane`."""
    started = time.perf_counter()
    try:
        result, text = state.opa.evaluate_text(path, input_doc)
    except InvalidInput as exc:
        return 400, orjson.dumps({"code": "invalid_parameter", "message": str(exc)})
    except PolicyError as exc:
        state.metrics.decision("error", time.perf_counter() - started)
        return 500, orjson.dumps({"code": "internal_error", "message": str(exc)})
    decision_id = ordered_id()
    seconds = time.perf_counter() - started
    decision = decision_in(path, result)
    if decision is not None:
        allowed = decision.get("allowed") is True
        state.metrics.decision("allowed" if allowed else "denied", seconds)
        _log(state, DATA_API_PATH, input_doc, decision, decision_id, principal, seconds)
    if text is None:  # undefined: OPA answers no result
        return 200, b'{"decision_id":"' + decision_id.encode() + b'"}'
    return 200, b'{"result":' + text + b',"decision_id":"' + decision_id.encode() + b'"}'


_DECISION_RULE = tuple(DATA_API_PATH.split("/"))  # ("lacuna", "decision", "result")


def decision_in(path: str, result: Any) -> dict[str, Any] | None:
    """The Lacuna decision an answer for ``data.<path>`` holds, or ``None``: the answer of the
    decision rule, however its path is spelled (``lacuna//decision/result/`` is the same rule:
    :func:`~lacuna.server.opa.rule_parts`), or the decision inside the whole ``data``
    document. Each is a decision the caller received: each is counted and logged."""
    parts = rule_parts(path)
    if parts is None or parts != _DECISION_RULE[:len(parts)]:
        return None
    for key in _DECISION_RULE[len(parts):]:
        result = result.get(key) if isinstance(result, dict) else None
    return result if isinstance(result, dict) else None


def _log(state: ServerState, path: str, input_doc: Any, result: dict[str, Any],
         decision_id: str, principal: Principal, seconds: float) -> None:
    """A Lacuna decision asked over the Data API goes to the decision log, with the caller."""
    sink = getattr(state.policy_engine, "decision_log", None)
    if sink is None:
        return
    from lacuna.model import Decision

    decision = Decision(allowed=result.get("allowed") is True, operation_id=decision_id,
                        reasoning=f"OPA Data API decision for {principal.name}",
                        bundle_revision=str(result.get("revision") or "") or None)
    doc = dict(input_doc) if isinstance(input_doc, dict) else {"input": input_doc}
    doc["lacuna_caller"] = principal.name  # from the token, over whatever the input claims
    sink.log(DecisionEvent(decision, doc, path.strip("/"), time.time_ns(),
                           int(seconds * 1e9), False, decision_id))


@router.post("/v1/data/{path:path}", summary="OPA Data API: evaluate data.<path> with input")
async def post_data(path: str, request: Request, principal: AnyUser) -> Response:
    raw = await request.body()
    try:
        body = json.loads(raw or b"{}")
    except ValueError as exc:
        if "integer string conversion" in str(exc):  # Python reads at most 4,300 digits
            return _error(400, "invalid_parameter", "the body holds a number of more digits "
                          "than can be read (4,300 at most); send it as a string")
        return _error(400, "invalid_parameter", "the body is not JSON")
    except RecursionError:
        return _error(400, "invalid_parameter",
                      "the body is nested too deeply to read; send a flatter input document")
    if body is not None and not isinstance(body, dict):  # as OPA: its request is an object
        return _error(400, "invalid_parameter", "the body must be a JSON object: "
                      '{"input": ...} (or empty, for no input)')
    input_doc = body.get("input") if isinstance(body, dict) else None
    state = state_of(request)
    if state.opa.bounded:  # evaluated on a worker process, up to the budget: a thread waits
        return await run_in_threadpool(_answer, state, path, input_doc, principal)
    # Evaluating the bundle is microseconds of regorus on this thread's engine (the decision
    # log is a queue): answered on the event loop, without a thread hop.
    return _answer(state, path, input_doc, principal)


@router.post("/v1/data", summary="OPA Data API: evaluate data with input", include_in_schema=False)
async def post_root(request: Request, principal: AnyUser) -> Response:
    return await post_data("", request, principal)


@router.get("/v1/data/{path:path}", summary="OPA Data API: evaluate data.<path>")
def get_data(path: str, request: Request, principal: AnyUser) -> Response:
    return _answer(state_of(request), path, None, principal)


@router.get("/v1/policies", summary="OPA: list policy modules")
@router.get("/v1/policies/", include_in_schema=False)
def list_policies(request: Request, _: Auditor) -> dict[str, Any]:
    return {"result": state_of(request).opa.policies()}


@router.get("/v1/policies/{policy_id:path}", summary="OPA: one policy module")
def get_policy(policy_id: str, request: Request, _: Auditor) -> JSONResponse:
    for item in state_of(request).opa.policies():
        if item["id"] == policy_id:
            return JSONResponse({"result": item})
    return _error(404, "resource_not_found", f"storage_not_found_error: policy id {policy_id!r}")


@router.put("/v1/policies/{policy_id:path}", summary="OPA: upload a policy module (admin)")
async def put_policy(policy_id: str, request: Request, _: Admin) -> JSONResponse:
    raw = await request.body()
    try:  # not replaced: the module kept and listed must be the one sent
        source = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return _error(400, "invalid_parameter", f"{policy_id}: the module is not UTF-8 text "
                      f"(byte {exc.start}); send Rego source encoded as UTF-8")
    try:  # compiling takes milliseconds (up to ~0.5 s for hostile Rego): off the event loop
        await run_in_threadpool(state_of(request).opa.put, policy_id, source)
    except PolicyError as exc:
        return _error(400, "invalid_parameter", str(exc).split("\nStack backtrace", 1)[0])
    return JSONResponse({})


@router.delete("/v1/policies/{policy_id:path}", summary="OPA: delete an uploaded module (admin)")
def delete_policy(policy_id: str, request: Request, _: Admin) -> JSONResponse:
    try:
        deleted = state_of(request).opa.delete(policy_id)
    except PolicyError as exc:  # another upload depends on it: the set stays (OPA: 400)
        return _error(400, "invalid_parameter", str(exc).split("\nStack backtrace", 1)[0])
    if not deleted:
        return _error(404, "resource_not_found", f"no uploaded policy {policy_id!r}")
    return JSONResponse({})
