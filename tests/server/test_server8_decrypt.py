"""``POST /api/v1/decrypt`` answers for the bytes a decision sealed, not for a path: the file's
authenticated header names the decision that allowed its write (``operation_id``), and the
server judges the file by that decision's user, path and host. Before, it asked who had a
write of the path decided on that host: a user who decided a write to a path (and wrote their
own file, or nothing) was allowed to decrypt another user's sealed file put at that path."""

from __future__ import annotations

import io
import secrets
import shutil
from typing import Any

import httpx
import pandas as pd
import pytest

import lacuna
from lacuna.config import config_from_dict
from lacuna.exceptions.files import DecryptionRefused


def _as(live: Any, token: str) -> Any:
    return config_from_dict({
        "server": {"url": live.url, "token": token, "deadline_ms": 8000, "timeout_ms": 6000},
        "lineage": {"openlineage": {"enabled": False}}})


def _analyst(live: Any) -> tuple[str, str]:
    """A new analyst of the live server: name and token."""
    from lacuna import keyfile
    from lacuna.identity import UserStore
    from lacuna.signing import Keyring, Signer

    name = f"mallory-{secrets.token_hex(3)}"
    key = keyfile.load_or_create_key(live.root / "home" / "signing.key", what="signing key",
                                     env_name="LACUNA_SIGNING_KEY")  # the server's, as conftest
    users = UserStore(live.db, keyring=Keyring(Signer(key)))
    try:
        return name, users.add(name, roles=("analyst",))
    finally:
        users.close()


def test_another_users_sealed_file_put_at_your_decided_path_is_not_yours_to_decrypt(
        live, monkeypatch, tmp_path) -> None:
    """The allowed path round-trips (ana's file decrypts to what she wrote); mallory, who had
    a write decided to her own path (and wrote there), puts ana's sealed file at that path
    and is refused, and the refusal names ana. Before: allowed (the trail named mallory the
    one writer of that path on this host). Ana herself is refused the moved copy (not where
    her decision sealed it), a default steward reads it."""
    monkeypatch.setenv("LACUNA_HOME", str(tmp_path / "client-home"))
    frame = pd.DataFrame({"name": ["Ann Lee"], "email": ["ann@example.com"]})
    tag = secrets.token_hex(3)
    anas = live.root / "governed" / f"s8-ana-{tag}.csv"
    mallorys = live.root / "governed" / f"s8-mallory-{tag}.csv"
    _, token = _analyst(live)
    with lacuna.governed(_as(live, live.tokens["ana"])):
        frame.to_csv(anas, index=False, encrypt=True)
        assert b"Ann Lee" not in anas.read_bytes()
        got = lacuna.decrypt(anas)
    pd.testing.assert_frame_equal(pd.read_csv(io.BytesIO(got)), frame)
    with lacuna.governed(_as(live, token)):
        pd.DataFrame({"region": ["north"]}).to_csv(mallorys, index=False)  # decided, hers
        shutil.copyfile(anas, mallorys)  # ana's sealed bytes, at mallory's path
        with pytest.raises(DecryptionRefused, match=r"\(ana's\).* not bytes that decision sealed"):
            lacuna.decrypt(mallorys)
    with (lacuna.governed(_as(live, live.tokens["ana"])),  # not where her decision sealed it
          pytest.raises(DecryptionRefused, match="not bytes that decision sealed here")):
        lacuna.decrypt(mallorys)
    with lacuna.governed(_as(live, live.tokens["jane"])):  # a default steward reads it
        assert lacuna.decrypt(mallorys) == got


def _decide(live: Any, headers: dict[str, str], path: str, op_id: str | None = None) -> str:
    operation: dict[str, Any] = {"action": "write", "classification": {"tier": "PUBLIC"},
                                 "destination": path}
    if op_id is not None:
        operation["id"] = op_id
    answer = httpx.post(f"{live.url}/api/v1/decide", headers=headers,
                        json={"operation": operation})
    assert answer.json()["decision"]["allowed"] is True, answer.text
    return str(answer.json()["decision"]["operation_id"])


def _may(live: Any, headers: dict[str, str], path: str, sealed_by: str | None
         ) -> dict[str, Any]:
    body = {"path": path, "written_by": "ana", "host": "ana-laptop"}
    if sealed_by is not None:
        body["operation_id"] = sealed_by
    answer = httpx.post(f"{live.url}/api/v1/decrypt", headers=headers, json=body)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def test_a_header_naming_no_decision_is_a_stewards_a_squatted_id_the_writers(live) -> None:
    """Fail closed where the trail cannot tell whose bytes these are: a header that names no
    decision (sealed by an older Lacuna) is refused to the writer and allowed to a default
    steward. An operation id another user had a decision recorded under afterwards (clients
    choose their ids) stays its first recorder's: the writer decrypts, the other user is
    refused. Each answer is audited."""
    path = str(live.root / "governed" / f"s8-{secrets.token_hex(3)}.csv")
    ha = {**live.headers("ana"), "X-Lacuna-Host": "ana-laptop"}
    sealed_by = _decide(live, ha, path)
    assert _may(live, ha, path, sealed_by) == {"allowed": True}
    legacy = _may(live, ha, path, None)
    assert legacy["allowed"] is False
    assert "names no decision" in legacy["refused"]
    assert _may(live, live.headers("jane"), path, None) == {"allowed": True}
    _, token = _analyst(live)
    hm = {"Authorization": f"Bearer {token}", "X-Lacuna-Host": "ana-laptop"}
    _decide(live, hm, path, op_id=sealed_by)  # the same id, hers: ana's still (its first
    assert _may(live, ha, path, sealed_by) == {"allowed": True}  # recorder's, server9)
    squatted = _may(live, hm, path, sealed_by)
    assert squatted["allowed"] is False
    assert "ana" in squatted["refused"]
    assert _may(live, live.headers("jane"), path, sealed_by) == {"allowed": True}
    # a write named as the user named it (relative, under ~) is of the path it ends
    for named in (f"s8-rel-{secrets.token_hex(3)}.csv", f"~/s8-home-{secrets.token_hex(3)}.csv"):
        at = f"/home/ana/{named.removeprefix('~/')}"
        mine = _decide(live, ha, named)
        assert _may(live, ha, at, mine) == {"allowed": True}
        assert _may(live, ha, f"/elsewhere-{named.removeprefix('~/')}", mine)["allowed"] is False
    records = httpx.get(f"{live.url}/api/v1/audit", params={"limit": 100},
                        headers=live.headers("carla")).json()["records"]
    decrypts = [(r["who"]["user_id"], r["decision"]["allowed"]) for r in records
                if r.get("kind") == "exception" and r["what"].get("event") == "decrypt"
                and r["exception"].get("sealed_by") == sealed_by]
    assert [allowed for _, allowed in decrypts] == [True, False, True, True]  # newest first
