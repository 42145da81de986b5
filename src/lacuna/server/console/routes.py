"""The console's pages under ``/console``: each route checks the session's role, reads through
the server's stores and renders a template. Forms post back with a CSRF token."""

from __future__ import annotations

import re
import time
from importlib import resources
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from lacuna.errors import ConfigError, LacunaError
from lacuna.identity import same_name
from lacuna.server.console import charts
from lacuna.server.console.session import (
    COOKIE,
    COOKIE_VIAS,
    LIFETIME_S,
    Session,
    login_csrf,
    same,
)
from lacuna.server.console.web import (
    ADMIN,
    COMPLIANCE,
    DECIDERS,
    EVERYONE,
    NONCE_COOKIE,
    STEWARD,
    console_state,
    current_session,
    drop_cookie,
    from_elsewhere,
    get_cookie,
    login_page,
    not_found,
    now,
    refuse,
    render,
    require,
    safe_next,
    server_state,
    set_session,
)
from lacuna.server.console.web import check_csrf as csrf_form

router = APIRouter(prefix="/console", include_in_schema=False)
STATIC = {"console.css": "text/css; charset=utf-8"}
DONE = {"approve": "approved", "deny": "denied", "revoke": "revoked"}
EXCEPTION_ID = re.compile(r"EXC-[0-9]{4}-[0-9]{3,9}")

AnyRole = Annotated[Session, Depends(require(*EVERYONE))]
Overseer = Annotated[Session, Depends(require(STEWARD, COMPLIANCE))]
Decider = Annotated[Session, Depends(require(*DECIDERS))]


# -- public: the stylesheet and the login form ------------------------------------------------

@router.get("/static/{name}")
def static(name: str) -> Response:
    if name not in STATIC:
        return Response("not found", status_code=404, media_type="text/plain")
    body = resources.files("lacuna.server.console").joinpath("static", name).read_bytes()
    return Response(body, media_type=STATIC[name],
                    headers={"Cache-Control": "max-age=300", "X-Content-Type-Options": "nosniff"})


@router.get("/login")
def login_form(request: Request, next: str = "/console/") -> Response:
    return login_page(request, next_url=next)


@router.post("/login")
async def login(request: Request) -> Response:
    """Check the token once; a good one starts a signed session, a bad one is audited (401)."""
    from lacuna.identity import AuthenticationError

    form = await request.form()
    fields = {k: v for k, v in form.items() if isinstance(v, str)}
    codec = console_state(request).codec
    nonce = get_cookie(request, NONCE_COOKIE) or ""
    next_url = safe_next(fields.get("next") or "/console/")
    token_ok = bool(nonce) and same(fields.get("csrf_token") or "", login_csrf(codec, nonce))
    if from_elsewhere(request) or not token_ok:  # a sibling site can plant a nonce cookie
        refuse(request, None, 403, "the sign-in form expired or did not come from this "
               "console; open the sign-in page again")
    token = fields.get("token", "").strip()
    # A database read (and, refused, an audit append): off the event loop, as every step of
    # a sign-in that touches the state database (anyone may post this form)
    try:
        principal = await run_in_threadpool(server_state(request).authenticator.authenticate,
                                            token)
    except AuthenticationError as exc:
        from lacuna.server.security import audit_refusal

        server_state(request).metrics.auth_failure(401)
        await run_in_threadpool(audit_refusal, server_state(request), request, 401,
                                f"console sign-in: {exc}", None)
        return login_page(request, status=401, next_url=next_url,
                          flash="That token was not accepted. Check it, or ask an admin for "
                                "a new one (lacuna users add NAME --role ROLE).")
    # The kind of credential, as the store that accepted it says (never from the token's
    # text: an API token made before the "lac_" prefix was an OIDC session, which is never
    # checked against the users table again), and only a kind a session knows how to check.
    via = principal.via
    if via not in COOKIE_VIAS:
        refuse(request, None, 401, f"console sign-in: the credential of {principal.name!r} is "
               f"of no kind a console session can check ({via!r}); sign in with an API token "
               "or an OIDC access token")
    previous = codec.load(get_cookie(request, COOKIE))
    if previous is not None and previous.sid:  # a shared browser: the last person's session
        await run_in_threadpool(  # ends, not just its cookie (and the trail records it)
            server_state(request).users.end_session, previous.sid,
            why="another sign-in in its browser")
    redirect = RedirectResponse(next_url, status_code=303)
    expires = time.time() + LIFETIME_S
    if principal.expires is not None:  # an OIDC token: the session ends with it (and its roles)
        expires = min(expires, principal.expires)
    sid = await run_in_threadpool(server_state(request).users.start_session, principal.name,
                                  expires)
    set_session(request, redirect, codec.new(principal.name, principal.roles, via, sid=sid,
                                             expires=expires))
    drop_cookie(request, redirect, NONCE_COOKIE)
    return redirect


@router.post("/logout")
async def logout(request: Request, session: AnyRole) -> Response:
    """End the session on the server (every copy of its cookie stops working), then drop the
    cookie from this browser."""
    await csrf_form(request, session)
    # a database write and an audit-trail append: off the event loop
    await run_in_threadpool(server_state(request).users.end_session, session.sid)
    response = RedirectResponse("/console/login", status_code=303)
    drop_cookie(request, response, COOKIE)
    return response


@router.get("/")
def home(request: Request) -> Response:
    if current_session(request) is None:
        return RedirectResponse("/console/login", status_code=303)
    return RedirectResponse("/console/exceptions", status_code=303)


# -- exceptions --------------------------------------------------------------------------------

@router.get("/exceptions")
def exceptions(request: Request, session: AnyRole, status: str = "pending",
               done: str = "", id: str = "", limit: str = "", before: str = ""
               ) -> HTMLResponse:
    """The newest ``limit`` requests in ``status`` (a page; ``before``: the id the page starts
    after, as the "older requests" link gives it)."""
    from lacuna.server.console.exceptions_view import STATUS_FILTERS, queue
    from lacuna.server.paging import CONSOLE_EXCEPTIONS

    gov = server_state(request).governor
    sees_all = session.has(STEWARD, COMPLIANCE)
    # The query string is anyone's to write: only an exception id is repeated in the notice.
    flash = f"{id} {DONE[done]}." if done in DONE and EXCEPTION_ID.fullmatch(id) else None
    flash_kind = None
    try:
        size = CONSOLE_EXCEPTIONS.parse(limit)
        if before and not EXCEPTION_ID.fullmatch(before):
            msg = "before must be an exception id such as EXC-2026-001 (the next-page link's)"
            raise ConfigError(msg)
    except ConfigError as exc:
        size, before = CONSOLE_EXCEPTIONS.default, ""
        flash, flash_kind = f"Page not applied: {exc}", "error"
    page = queue(gov.exceptions, identity=session.name, stewards=gov.config.stewards,
                 now=now(), status=status, only_user=None if sees_all else session.name,
                 limit=size, before=before)
    return render(request, "exceptions.html", session, status=400 if flash_kind else 200,
                  active="/console/exceptions", title="Exceptions", page=page,
                  items=page.items, statuses=STATUS_FILTERS,
                  shown=status if status in STATUS_FILTERS else "pending",
                  can_decide=session.has(*DECIDERS), flash=flash, flash_kind=flash_kind)


@router.post("/exceptions/{exception_id}/decide")
async def decide(request: Request, exception_id: str, session: Decider) -> Response:
    """Approve or deny through lacuna.exceptions' verbs, acting as the signed-in steward: the
    store's rules decide who may, and each step (or refusal) is audited and announced."""
    from lacuna.exceptions import approve_exception, deny_exception, revoke_exception
    from lacuna.identity import Principal
    from lacuna.server.console.exceptions_view import STATUS_FILTERS, queue
    from lacuna.server.routes_state import acting_as, decision_note

    fields = await csrf_form(request, session)
    verdict = fields.get("decision", "")
    if verdict not in DONE:
        refuse(request, session, 400, "decision must be approve, deny or revoke")
    conditions = tuple(line.strip() for line in fields.get("conditions", "").splitlines()
                       if line.strip())
    # Approved, the conditions are the grant's (stored apart); denied or revoked, they are
    # kept in the comment (as the API's deny keeps them), never dropped.
    note = decision_note(fields.get("comment", ""), () if verdict == "approve" else conditions)
    state = server_state(request)

    def act() -> None:
        with acting_as(state, Principal(session.name, session.roles)):
            if verdict == "approve":
                approve_exception(exception_id, comment=note, conditions=conditions)
            elif verdict == "revoke":
                revoke_exception(exception_id, comment=note)
            else:
                deny_exception(exception_id, comment=note)

    try:
        # Database writes and audit appends, under the verbs' lock (which an API request on a
        # worker thread may hold): off the event loop, or every request of the server waits.
        await run_in_threadpool(act)
    except (LacunaError, PermissionError) as exc:  # audited by lacuna.exceptions
        from lacuna.server.app import status_of, unplaced

        gov = state.governor
        page = queue(gov.exceptions, identity=session.name, stewards=gov.config.stewards,
                     now=now())
        return render(request, "exceptions.html", session,
                      status=status_of(exc),  # the API's status for the same error
                      active="/console/exceptions", title="Exceptions", page=page,
                      items=page.items,
                      statuses=STATUS_FILTERS, shown="pending", can_decide=True,
                      flash=f"Not done: {unplaced(request, exc)}", flash_kind="error")
    return RedirectResponse(f"/console/exceptions?status=all&done={verdict}&id={exception_id}",
                            status_code=303)


@router.get("/exceptions/{exception_id}")
def exception_detail(request: Request, exception_id: str, session: AnyRole) -> Response:
    from lacuna.exceptions import ExceptionNotFound, MalformedException
    from lacuna.server.console.audit_view import AuditFilters, search
    from lacuna.server.console.exceptions_view import history, state_of

    gov = server_state(request).governor
    sees_all = session.has(STEWARD, COMPLIANCE)
    nothing = ("No such exception", "No exception request of yours has this id; the queue "
               "lists them." if not sees_all else
               "No exception request has this id; the queue lists them.")
    try:
        request_ = gov.exceptions.get(exception_id)
    except ExceptionNotFound:
        return not_found(request, session, *nothing)
    except MalformedException as exc:  # a stored row: its id, not the address's text
        if not sees_all:  # whose row it is cannot be read: not theirs to learn about
            return not_found(request, session, *nothing)
        return render(request, "error.html", session, status=404, title="Not found",
                      heading="No such exception", message=str(exc))
    if not sees_all and not same_name(request_.requested_by, session.name):
        # Ids are sequential: another's request answers as no request does (the API's GET
        # does the same), so the page does not say which ids exist. The attempt is audited.
        from lacuna.identity import Principal
        from lacuna.server.security import audit_refusal

        audit_refusal(server_state(request), request, 404,
                      f"{session.name} may see only their own requests (answered as not "
                      "found)", Principal(session.name, session.roles))
        return not_found(request, session, *nothing)
    uses, _ = search(gov.audit, AuditFilters(dataset="", limit=200, exception=exception_id))
    if not sees_all:  # anyone may cite an id: not others' records
        uses = [u for u in uses if same_name(u.user, session.name)]
    moment = now()
    return render(request, "exception.html", session, active="/console/exceptions",
                  title=exception_id, r=request_, state=state_of(request_, moment),
                  verified=gov.exceptions.verified(request_),
                  events=history(request_, uses, moment))


# -- audit -------------------------------------------------------------------------------------

@router.get("/audit")
def audit(request: Request, session: Overseer) -> Response:
    from lacuna.errors import ConfigError
    from lacuna.server.console.audit_view import AuditFilters, audit_page

    try:
        filters = AuditFilters.parse(dict(request.query_params))
        flash = None
    except ConfigError as exc:
        filters, flash = AuditFilters(), f"Filter not applied: {exc}"
    state = server_state(request)
    page = audit_page(state.governor.audit, filters, state.verifier.check(),
                      state.users.verify())
    return render(request, "audit.html", session, status=200 if flash is None else 400,
                  active="/console/audit", title="Audit", page=page, f=filters,
                  since=_local(filters.since), until=_local(filters.until), flash=flash,
                  flash_kind="error" if flash else None)


def _local(value: object) -> str:
    from datetime import datetime

    return value.strftime("%Y-%m-%dT%H:%M") if isinstance(value, datetime) else ""


# -- lineage -----------------------------------------------------------------------------------

@router.get("/lineage")
def lineage(request: Request, session: AnyRole, dataset: str = "") -> Response:
    from lacuna.errors import LineageError
    from lacuna.server.console.lineage_view import build, known_datasets, ref_of

    store = server_state(request).governor.lineage_store
    view, flash = None, None
    text = dataset.strip()
    if text:
        try:  # as the API reads it (never against the server's own folders), or the picker's
            ref = ref_of(text)
        except LineageError as exc:
            flash = f"Dataset not read: {exc}"
        else:
            if store.latest(ref) is not None or store.runs(ref, limit=1):
                view = build(store, ref)
    status = 400 if flash else 404 if text and view is None else 200
    return render(request, "lineage.html", session, active="/console/lineage", title="Lineage",
                  view=view, dataset_text=text,
                  known=known_datasets(store), status=status, flash=flash,
                  flash_kind="error" if flash else None)


# -- policies ----------------------------------------------------------------------------------

@router.get("/policies")
def policies(request: Request, session: AnyRole) -> Response:
    from lacuna.server.console.policies_view import packages

    engine = server_state(request).policy_engine
    results = console_state(request).tests
    tests = results.last(engine.revision) or results.run(engine, now())
    by_package: dict[str, list[int]] = {}
    for row in tests.rows:
        package = row.rule.removeprefix("data.").rsplit(".", 1)[0]
        counts = by_package.setdefault(package, [0, 0])
        counts[0 if row.passed else 1] += 1
    return render(request, "policies.html", session, active="/console/policies",
                  title="Policies", revision=engine.revision, packages=packages(engine),
                  tests=tests, tests_by_package=by_package, can_run=session.has(STEWARD, ADMIN))


@router.post("/policies/test")
async def run_policy_tests(request: Request,
                           session: Annotated[Session, Depends(require(STEWARD))]) -> Response:
    await csrf_form(request, session)
    # every policy test of the bundle evaluated: off the event loop (as the verbs above)
    await run_in_threadpool(console_state(request).tests.run,
                            server_state(request).policy_engine, now())
    return RedirectResponse("/console/policies", status_code=303)


# -- metrics -----------------------------------------------------------------------------------

@router.get("/metrics")
def metrics(request: Request, session: Overseer) -> Response:
    from lacuna.server.console.metrics_view import compute

    gov = server_state(request).governor
    m = compute(gov.audit, gov.exceptions, now=now())
    buckets = _resolution_buckets(m.resolution_hours)
    drawn = {
        "timeline": charts.grouped_bars(
            "Violations and exception requests per day", m.days,
            [("violations", m.violations_per_day), ("exception requests",
                                                    m.exceptions_per_day)]),
        "policies": charts.horizontal_bars("Denials per policy",
                                           [(p, float(n)) for p, n in m.top_policies]),
        "tiers": charts.stacked_bars("Decisions per tier",
                                     [(t, float(a), float(d)) for t, a, d in m.by_tier],
                                     ("allowed", "denied")),
        "resolution": charts.horizontal_bars("Requests by time to decision",
                                             [(k, float(v)) for k, v in buckets]),
    }
    return render(request, "metrics.html", session, active="/console/metrics", title="Metrics",
                  m=m, charts=drawn, hours=_hours)


def _hours(value: float | None) -> str:
    if value is None:
        return "—"
    if value < 1 / 60:
        return "under a minute"
    if value < 1:
        return f"{value * 60:.0f} min"
    return f"{value:.1f} h"


def _resolution_buckets(hours: tuple[float, ...]) -> list[tuple[str, int]]:
    edges = ((0.25, "under 15 min"), (1, "15 min – 1 h"), (4, "1 – 4 h"), (24, "4 – 24 h"),
             (float("inf"), "over a day"))
    counts = dict.fromkeys((label for _, label in edges), 0)
    for h in hours:
        for edge, label in edges:
            if h < edge:
                counts[label] += 1
                break
    return list(counts.items())
