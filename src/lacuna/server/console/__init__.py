"""The steward console: server-rendered pages under ``/console`` on the governance server.

Pages (roles): exception queue with approve/deny and conditions, and each exception's history
(everyone; analysts see their own requests, stewards decide); audit search with the chain's
verification status and the metrics dashboard (data stewards, compliance officers); lineage
graphs and the policy browser (everyone); a decision's feedback page, linked from violation
messages (its user, stewards, compliance officers) and the review queue of false-positive
reports (data stewards decide, compliance officers read). ``admin`` may do everything. See
docs/console.md.

The server registers it with one call, ``install(app)``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fastapi import FastAPI

# The console's routes that need no session: the sign-in form, its stylesheet, and the entry
# point (which redirects to the sign-in form or to a page). Every other route checks a role.
PUBLIC_PATHS = frozenset({"/console/", "/console/login", "/console/static/{name}"})


def install(app: FastAPI) -> None:
    """Add the console's routes and its HTML error pages to the server's app."""
    from fastapi import Request
    from fastapi.responses import Response

    from lacuna.server.console.routes import router
    from lacuna.server.console.web import ConsoleRefusal, current_session, login_page, render

    async def _refused(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ConsoleRefusal)
        if exc.status_code == 401:  # the sign-in form, which returns to the page asked for
            query = f"?{request.url.query}" if request.url.query else ""
            return login_page(request, status=401, next_url=request.url.path + query)
        heading = {403: "Not allowed"}.get(exc.status_code, "Refused")
        return render(request, "error.html", current_session(request), status=exc.status_code,
                      title=heading, heading=heading, message=str(exc.detail))

    def _unavailable(request: Request, message: str) -> Response:
        # no session shown: reading it needs the database that just failed
        return render(request, "error.html", None, status=503, title="Unavailable",
                      heading="The server's database is unavailable", message=message)

    def _failed(request: Request, status: int, message: str) -> Response:
        # one of Lacuna's errors a page met (an audit record whose time is no time: the
        # message names it and `lacuna audit verify`), said in the console's layout
        from fastapi import HTTPException

        from lacuna.errors import LacunaError

        try:
            session = current_session(request)
        except (HTTPException, LacunaError):  # no session shown, the error still said
            session = None
        heading = {403: "Not allowed", 404: "Not found"}.get(status, "This page cannot be shown")
        return render(request, "error.html", session, status=status, title=heading,
                      heading=heading, message=message)

    from lacuna.server.app import ERROR_PAGE, UNAVAILABLE_PAGE
    from lacuna.server.console.review_routes import router as review_router

    setattr(app.state, UNAVAILABLE_PAGE, _unavailable)  # the app's 503s of console pages
    setattr(app.state, ERROR_PAGE, _failed)  # Lacuna's errors on console pages (the API: JSON)
    app.add_exception_handler(ConsoleRefusal, _refused)
    app.include_router(router)
    app.include_router(review_router)


__all__ = ["PUBLIC_PATHS", "install"]
