"""A new client asking an older server (whose ``POST /api/v1/decrypt`` takes no
``operation_id``) whether a sealed file may be decrypted: the server's 422 was passed on as a
bare validation error; now the client says to upgrade the server, and nothing is decrypted."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.testclient import TestClient

from lacuna.errors import LacunaError
from lacuna.http import HttpResponse
from lacuna.remote.client import ServerClient, ServerExceptions
from lacuna.server.schemas import _Body


class OldDecryptBody(_Body):
    """``DecryptBody`` as servers before the sealing decision's id took it."""

    path: str
    written_by: str
    host: str
    output: str | None = None
    identity: str | None = None


def _client(monkeypatch, app: Any, headers: dict[str, str]) -> ServerExceptions:
    from lacuna.config import LacunaServerConfig

    client = ServerClient(LacunaServerConfig(url="http://lacuna.invalid", token="t"))
    served = TestClient(app)

    def request(method: str, url: str, *, content: bytes | None = None, **_: Any
                ) -> HttpResponse:
        r = served.request(method, url.removeprefix("http://lacuna.invalid"), content=content,
                           headers={**headers, "Content-Type": "application/json"})
        return HttpResponse(status=r.status_code, body=r.content, attempts=1)

    monkeypatch.setattr(client._http, "request", request)
    return ServerExceptions(client)


def _older(app_client) -> FastAPI:
    """An older server's decrypt route, answering a body it does not take as the server does
    (its own 422 handler)."""
    old = FastAPI()
    old.add_exception_handler(RequestValidationError,
                              app_client.app.exception_handlers[RequestValidationError])

    @old.post("/api/v1/decrypt")
    def sealed_decrypt(body: OldDecryptBody) -> dict[str, Any]:
        return {"allowed": True}

    return old


def test_server9_an_older_server_is_named_with_what_to_do(app_client, monkeypatch) -> None:
    """The older server's 422 becomes an error that says to upgrade the server (nothing is
    decrypted: the caller fails closed on it); a header naming no decision is asked without
    the field, which that server still answers."""
    exceptions = _client(monkeypatch, _older(app_client), {})
    with pytest.raises(LacunaError, match=r"older than this client.*Upgrade the server"):
        exceptions.decrypt_refusal(None, "/home/ana/x.csv", "ana", None,
                                   operation_id="0" * 32)
    assert exceptions.decrypt_refusal(None, "/home/ana/x.csv", "ana", None) is None


def test_server9_a_current_server_takes_the_sealing_decision(app_client, monkeypatch) -> None:
    """The same call to this server is answered (here refused: no such decision of ana's on
    its trail), never a 422; another 4xx is passed on as it was, not as an old server."""
    exceptions = _client(monkeypatch, app_client.app, app_client.headers("ana"))
    why = exceptions.decrypt_refusal(None, "/home/ana/x.csv", "ana", None,
                                     operation_id="0" * 32)
    assert why is not None
    assert "names no allowed write" in why
    with pytest.raises(LacunaError) as info:
        exceptions.decrypt_refusal(None, "relative.csv", "ana", None, operation_id="0" * 32)
    assert "HTTP 422" in str(info.value)
    assert "older than this client" not in str(info.value)
