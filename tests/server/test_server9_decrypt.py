"""Decision-id squatting: a sealed file's header names the decision that allowed its write,
and anyone who reads the header knows that id. Another user who had a decision of their own
recorded under it made the id "more than one user's", so the file became a default steward's
alone and its writer was locked out. An id is now its first recorder's: a later record under
it claims nothing."""

from __future__ import annotations

import secrets
from typing import Any

import pytest


@pytest.fixture(scope="module")
def mallory(app_client) -> dict[str, str]:
    """An analyst who is neither the writer nor a steward."""
    token = app_client.state.users.add(f"mallory-{secrets.token_hex(3)}", roles=("analyst",))
    return {"Authorization": f"Bearer {token}"}


def _decide(app_client, headers: dict[str, str], path: str, op_id: str | None = None) -> str:
    operation: dict[str, Any] = {"action": "write", "classification": {"tier": "PUBLIC"},
                                 "destination": path}
    if op_id is not None:
        operation["id"] = op_id
    r = app_client.client.post("/api/v1/decide", json={"operation": operation},
                               headers={**headers, "X-Lacuna-Host": "ana-laptop"})
    assert r.status_code == 200, r.text
    assert r.json()["decision"]["allowed"] is True, r.text
    return str(r.json()["decision"]["operation_id"])


def _may(app_client, headers: dict[str, str], path: str, sealed_by: str) -> dict[str, Any]:
    r = app_client.client.post("/api/v1/decrypt", json={
        "path": path, "written_by": "ana", "host": "ana-laptop", "operation_id": sealed_by},
        headers={**headers, "X-Lacuna-Host": "ana-laptop"})
    assert r.status_code == 200, r.text
    return dict(r.json())


def test_server9_a_squatted_decision_id_leaves_the_writer_her_file(app_client,
                                                                   mallory) -> None:
    """Ana's sealed file (her allowed write's id in its header): she decrypts it. Mallory has
    decisions of her own recorded under that id afterwards, of ana's path from ana's host and
    of her own path: ana still decrypts it, mallory is refused (the file is ana's), a steward
    still may. Before: all three records made the id two users', and ana was refused."""
    ana = app_client.headers("ana")
    path = f"/home/ana/s9-{secrets.token_hex(3)}.csv"
    sealed_by = _decide(app_client, ana, path)
    assert _may(app_client, ana, path, sealed_by) == {"allowed": True}
    _decide(app_client, mallory, path, op_id=sealed_by)
    _decide(app_client, mallory, f"/home/mallory/s9-{secrets.token_hex(3)}.csv",
            op_id=sealed_by)
    assert _may(app_client, ana, path, sealed_by) == {"allowed": True}
    refused = _may(app_client, mallory, path, sealed_by)
    assert refused["allowed"] is False
    assert "ana" in refused["refused"]
    assert _may(app_client, app_client.headers("jane"), path, sealed_by) == {"allowed": True}


def test_server9_an_id_first_recorded_by_another_user_is_not_the_writers(app_client,
                                                                         mallory) -> None:
    """The other order (the id recorded by mallory first, which takes guessing a random id
    before ana's client made it): the id is mallory's, so ana's write under it is not ana's
    to decrypt, and mallory's own decision of another path does not make ana's file hers
    either (fail closed: a steward's)."""
    ana = app_client.headers("ana")
    path = f"/home/ana/s9-{secrets.token_hex(3)}.csv"
    first = _decide(app_client, mallory, f"/home/mallory/s9-{secrets.token_hex(3)}.csv")
    _decide(app_client, ana, path, op_id=first)
    for headers in (ana, mallory):
        answer = _may(app_client, headers, path, first)
        assert answer["allowed"] is False
        assert "not bytes that decision sealed here" in answer["refused"]
    assert _may(app_client, app_client.headers("jane"), path, first) == {"allowed": True}
