"""The console's plumbing: templates, the session and CSRF checks, role checks, rendering.

Pages need a signed-in session; without one a page redirects to the login form. A session
without the page's role gets 403; a POST without the session's CSRF token gets 403 before it
does anything, and so does a form a browser says was posted from another site
(``Sec-Fetch-Site``). Refusals (403, failed sign-ins, bad CSRF tokens) are audited like the
API's.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import cache
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any, NoReturn

from fastapi import HTTPException, Request
from fastapi.responses import HTMLResponse, Response

from lacuna.server.console.policies_view import TestResults
from lacuna.server.console.session import BEARER, COOKIE, OIDC, TOKEN, Session, SessionCodec

if TYPE_CHECKING:
    from jinja2 import Environment

    from lacuna.server.state import ServerState

log = logging.getLogger("lacuna.server.console")

ANALYST, STEWARD, COMPLIANCE, ADMIN = "analyst", "data_steward", "compliance_officer", "admin"
EVERYONE = (ANALYST, STEWARD, COMPLIANCE, ADMIN)
# The pages, who may see them, in the navigation's order.
PAGES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("/console/exceptions", "Exceptions", EVERYONE),
    ("/console/audit", "Audit", (STEWARD, COMPLIANCE)),
    ("/console/lineage", "Lineage", EVERYONE),
    ("/console/policies", "Policies", EVERYONE),
    ("/console/metrics", "Metrics", (STEWARD, COMPLIANCE)),
    ("/console/review", "Review", (STEWARD, COMPLIANCE)),
)
DECIDERS = (STEWARD,)
NONCE_COOKIE = "lacuna_console_login"


@dataclass
class ConsoleState:
    """What the console keeps per server process."""

    codec: SessionCodec
    tests: TestResults = field(default_factory=TestResults)


def server_state(request: Request) -> ServerState:
    state: ServerState = request.app.state.lacuna
    return state


def console_state(request: Request) -> ConsoleState:
    found: ConsoleState | None = getattr(request.app.state, "lacuna_console", None)
    if found is None:
        from lacuna.signing import default_keyring

        found = ConsoleState(codec=SessionCodec(default_keyring().current.key))
        request.app.state.lacuna_console = found
    return found


@cache
def templates() -> Environment:
    from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

    env = Environment(loader=PackageLoader("lacuna.server.console", "templates"),
                      autoescape=select_autoescape(default=True), undefined=StrictUndefined,
                      finalize=_visible)
    env.filters["basename"] = lambda p: PurePosixPath(str(p)).name or str(p)
    env.globals["static"] = lambda name: f"/console/static/{name}"
    return env


def _visible(value: Any) -> Any:
    """Every value a page shows, its control characters and bidirectional overrides written as
    escapes (an exception request stored before they were refused, a producer's text): HTML
    escaping leaves them, and a browser would hide them or reorder the text around them. A
    lone surrogate (an audit record naming a file whose name is not UTF-8) too: the page could
    not be encoded, and failed whole."""
    from markupsafe import Markup

    from lacuna.exceptions.shown import ESCAPED, visible

    if not isinstance(value, str) or ESCAPED.search(value) is None:
        return value
    shown = visible(value)  # escapes are ASCII text: still safe markup if the value was
    return Markup(shown) if isinstance(value, Markup) else shown


def now() -> datetime:
    return datetime.now(UTC)


class ConsoleRefusal(HTTPException):
    """A 401/403 of a console page: rendered as an HTML page, not the API's JSON."""


def current_session(request: Request) -> Session | None:
    """Who is asking: an ``Authorization: Bearer`` token (scripts; no CSRF needed, a browser
    never adds that header by itself) or the session cookie, whose session is live on the
    server (not signed out) and still backed by an enabled user with the roles it claims. A
    bearer token that is not accepted is a 401 (audited)."""
    from lacuna.identity import AuthenticationError
    from lacuna.server.security import bearer

    token = bearer(request)
    if token is not None:
        try:
            principal = server_state(request).authenticator.authenticate(token)
        except AuthenticationError as exc:
            refuse(request, None, 401, str(exc))
        return Session(name=principal.name, roles=principal.roles, via=BEARER,
                       expires=float("inf"), csrf="")
    session = console_state(request).codec.load(get_cookie(request, COOKIE))
    if session is None:
        return None
    users = server_state(request).users
    try:
        state = users.session_state(session.sid, session.name)
    except Exception as exc:  # the sessions table cannot be read: no session (fail closed)
        from lacuna.server.app import state_unavailable

        if state_unavailable(exc) is not None:  # a 503 saying so, not the sign-in form
            raise
        log.error("cannot check console session of %s; treating it as signed out: %s",
                  session.name, exc)
        state = "none"
    if state == "unverified":
        _unverified(request, f"the console session of {session.name!r} in "
                    "lacuna_console_sessions does not match its signature (made, revived or "
                    "extended outside Lacuna, or started before sessions were signed), so it "
                    "signs in nobody: sign in again (lacuna users add NAME --role ROLE "
                    "--replace ends all of a user's sessions)")
        return None
    if state != "live":
        return None  # signed out (a copy of the cookie), expired, or never started here
    if session.via == OIDC:  # the issuer's word, until the token's exp (the session's end)
        # ... unless a local user now has the name (made since it signed in): sign-in refuses
        # that (two people, one identity on the trail and in approvals), and so does a session
        if users.namesakes(session.name):
            _unverified(request, f"the console session of {session.name!r} signed in through "
                        "the OIDC issuer, but a local Lacuna user now has that name (lacuna "
                        "users list), so two people would be one identity: it signs in nobody. "
                        "Rename or disable the local user, or set oidc.name_claim to a claim "
                        "no local user name can equal, then sign in again")
            return None
        return session
    if session.via != TOKEN:  # no other kind is ever in a cookie (SessionCodec.load)
        log.error("refused console session of %r: it says it signed in by %r, which no "
                  "session is", session.name, session.via)
        return None
    # an API token's: the user as the users table has them now, on every request
    try:
        found = users.principal_of(session.name)
    except AuthenticationError as exc:  # the user's row does not verify: nobody
        _unverified(request, str(exc))
        return None
    if found is None:
        return None  # the user was removed or disabled: the session ends
    if found.roles != session.roles:  # roles changed: today's, in the same session
        session = replace(session, roles=found.roles)  # (its sid: sign-out ends it)
    return session


def _unverified(request: Request, detail: str) -> None:
    """Keep why the cookie signs in nobody: :func:`require` refuses with it (401, audited)."""
    request.state.console_refusal = detail


def require(*roles: str) -> Callable[[Request], Session]:
    """A FastAPI dependency: the signed-in caller, who must hold one of ``roles``.

    No credentials: 401 with the sign-in form (it returns to this page); the wrong role: 403.
    Both are audited."""

    def dependency(request: Request) -> Session:
        session = current_session(request)
        if session is None:
            refuse(request, None, 401, getattr(request.state, "console_refusal", None)
                   or "sign in to the console to see this page")
        if not session.has(*roles):
            refuse(request, session, 403,
                   f"{session.name} lacks the role for this page: needs one of "
                   f"{', '.join(roles)} (has {', '.join(session.roles)})")
        request.state.principal = session
        return session

    dependency.lacuna_roles = roles  # type: ignore[attr-defined]
    dependency.lacuna_console = True  # type: ignore[attr-defined]
    dependency.__name__ = f"console_require_{'_'.join(roles)}"
    return dependency


def refuse(request: Request, session: Session | None, status: int, detail: str) -> NoReturn:
    """Audit the refusal, then raise it (rendered as a page by the console's handler)."""
    from lacuna.identity import Principal
    from lacuna.server.security import audit_refusal

    state = server_state(request)
    principal = Principal(session.name, session.roles) if session else None
    state.metrics.auth_failure(status)
    recorded = audit_refusal(state, request, status, detail, principal)
    log.log(logging.WARNING if recorded else logging.DEBUG,
            "console HTTP %s for %s %s (user %s): %s", status, request.method,
            request.url.path, principal.name if principal else "anonymous", detail)
    raise ConsoleRefusal(status_code=status, detail=detail)


async def check_csrf(request: Request, session: Session) -> dict[str, str]:
    """The form's fields, once its CSRF token matches the session's (403 otherwise)."""
    form = await request.form()
    fields = {k: v for k, v in form.items() if isinstance(v, str)}
    if session.via == BEARER:
        return fields  # not an ambient credential: a forged cross-site form cannot carry it
    if from_elsewhere(request):
        refuse(request, session, 403, "this form was posted from another site; use the "
               "console's own page")
    if not console_state(request).codec.csrf_ok(session, fields.get("csrf_token")):
        refuse(request, session, 403, "the form's CSRF token is missing or does not match this "
               "session; reload the page and submit it again")
    return fields


def from_elsewhere(request: Request) -> bool:
    """Whether the browser says this request came from a page of another origin
    (``Sec-Fetch-Site: cross-site`` or ``same-site``, e.g. a sibling subdomain, which can also
    plant cookies for this host). The console's own forms are ``same-origin``; a client that
    sends no such header (an older browser, a script) is held to the CSRF token alone."""
    return request.headers.get("sec-fetch-site", "").lower() in ("cross-site", "same-site")


def render(request: Request, template: str, session: Session | None, *, status: int = 200,
           active: str = "", **context: Any) -> HTMLResponse:
    codec = console_state(request).codec
    nav = [(href, label, session is not None and session.has(*roles))
           for href, label, roles in PAGES]
    html = templates().get_template(template).render(
        session=session, csrf=codec.csrf_token(session) if session else "", nav=nav,
        active=active, flash=context.pop("flash", None),
        flash_kind=context.pop("flash_kind", None), **context)
    response = HTMLResponse(html, status_code=status)
    _harden(response)
    return response


def not_found(request: Request, session: Session | None, heading: str, message: str
              ) -> HTMLResponse:
    """A 404 page in the console's own words, never the store's error: the id in the address
    is anyone's to write (a link can make it read like a notice from the console), and the
    store's message names where it keeps its data."""
    return render(request, "error.html", session, status=404, title="Not found",
                  heading=heading, message=message)


def _harden(response: Response) -> None:
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'none'; "
        "frame-ancestors 'none'; form-action 'self'; base-uri 'none'")
    response.headers["X-Frame-Options"] = "DENY"  # frame-ancestors for browsers without CSP 2
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["Cache-Control"] = "no-store"


def _cookie(request: Request, name: str) -> tuple[str, str]:
    """A console cookie's name and path. Over HTTPS it is ``__Host-<name>`` on path ``/``: a
    browser takes a ``__Host-`` cookie only from this very host (``Secure``, no ``Domain``), so
    a sibling subdomain cannot plant one. Without the prefix it could toss its own valid
    session cookie into a victim's browser (signing them in as the attacker, past the sign-in
    form's CSRF checks) or a sign-in nonce. Plain HTTP (development) keeps the plain name."""
    if request.url.scheme == "https":
        return f"__Host-{name}", "/"
    return name, "/console"


def get_cookie(request: Request, name: str) -> str | None:
    """The console cookie ``name`` as this request's scheme names it (never the other one)."""
    return request.cookies.get(_cookie(request, name)[0])


def put_cookie(request: Request, response: Response, name: str, value: str,
               max_age: int) -> None:
    key, path = _cookie(request, name)
    response.set_cookie(key, value, max_age=max_age, httponly=True, samesite="strict",
                        secure=request.url.scheme == "https", path=path)


def drop_cookie(request: Request, response: Response, name: str) -> None:
    key, path = _cookie(request, name)
    # With the flags it was set with: a browser ignores a __Host- cookie's removal without them.
    response.delete_cookie(key, path=path, httponly=True, samesite="strict",
                           secure=request.url.scheme == "https")


def set_session(request: Request, response: Response, session: Session) -> None:
    put_cookie(request, response, COOKIE, console_state(request).codec.dump(session),
               max_age=int(session.expires - now().timestamp()))


def safe_next(next_url: str) -> str:
    """Where to go after signing in: a console page, never another site."""
    ok = next_url.startswith("/console") and "//" not in next_url and "\\" not in next_url
    return next_url if ok else "/console/"


def login_page(request: Request, *, status: int = 200, next_url: str = "/console/",
               flash: str | None = None) -> HTMLResponse:
    """The sign-in form, bound to a fresh nonce cookie (its CSRF protection)."""
    from lacuna.server.console.session import login_csrf

    nonce = new_nonce()
    response = render(request, "login.html", None, status=status, title="Sign in",
                      next=safe_next(next_url),
                      login_csrf=login_csrf(console_state(request).codec, nonce), flash=flash,
                      flash_kind="error" if flash else None)
    put_cookie(request, response, NONCE_COOKIE, nonce, max_age=900)
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="lacuna"'
    return response


def new_nonce() -> str:
    return secrets.token_hex(16)
