"""The governance server: ``lacuna serve`` (FastAPI + uvicorn) on the same state as the library.

:func:`lacuna.server.app.create_app` builds the application from
:class:`lacuna.server.settings.ServerSettings`; docs/server.md lists the endpoints and roles.
"""
