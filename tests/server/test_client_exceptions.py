"""Exceptions from a client configured with ``server:`` (the live server): the server takes
each step and audits it once; a revoke is a revoke (not a deny of a pending request)."""

from __future__ import annotations

import logging
from typing import Any

import httpx
import pandas as pd
import pytest

import lacuna
from lacuna.config import config_from_dict
from lacuna.errors import LacunaError
from lacuna.governor import Governor, use


def _client(live: Any, user: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> Governor:
    monkeypatch.setenv("LACUNA_HOME", str(tmp_path / "client-home"))
    gov = Governor(
        config_from_dict(
            {
                "server": {
                    "url": live.url,
                    "token": live.tokens[user],
                    "deadline_ms": 8000,
                    "timeout_ms": 6000,
                },
                "lineage": {"openlineage": {"enabled": False}},
            }
        )
    )
    use(gov)
    return gov


def _events(live: Any, exception_id: str) -> list[str]:
    records = httpx.get(
        f"{live.url}/api/v1/audit", params={"limit": 500}, headers=live.headers("carla")
    ).json()["records"]
    return [
        r["what"]["event"]
        for r in reversed(records)
        if r.get("kind") == "exception" and r["what"].get("exception_id") == exception_id
    ]


def test_request_and_revoke_over_the_server(live, monkeypatch, tmp_path, caplog) -> None:
    gov = _client(live, "ana", monkeypatch, tmp_path)
    frame = pd.DataFrame({"region": ["north", "south"]})
    target = str(live.root / "Downloads" / "regions.csv")
    with caplog.at_level(logging.ERROR, logger="lacuna"):
        first = lacuna.request_exception(
            data=frame,
            destination=target,
            approver="jane",
            purpose="Board Q4 presentation for the CFO",
        )
        second = lacuna.request_exception(
            data=frame,
            destination=target,
            approver="jane",
            purpose="Board Q4 presentation for the CFO",
        )
    # before: the client recorded the step again on a trail it does not have (logged ERROR)
    assert not caplog.records, caplog.text
    assert _events(live, first.id) == ["requested"]  # once: the server's own record
    # a pending request is not revoked, and not denied either (the server's deny would)
    with pytest.raises(LacunaError, match="only an approved exception can be revoked"):
        lacuna.revoke_exception(second.id, comment="not needed")
    assert gov.exceptions.get(second.id).status.value == "pending"
    httpx.post(
        f"{live.url}/api/v1/exceptions/{first.id}/approve",
        json={"comment": "ok"},
        headers=live.headers("jane"),
    ).raise_for_status()
    revoked = lacuna.revoke_exception(first.id, comment="the board met")  # TypeError before
    assert revoked.status.value == "revoked"
    assert gov.exceptions.get(first.id).status.value == "revoked"  # read back
    assert _events(live, first.id) == ["requested", "approved", "revoked"]
    gov.close()


def _granted(live: Any, mode: str, name: str, tmp_path: Any, monkeypatch: Any,
             user: str = "ana") -> tuple[Any, Any, Any]:
    """A client config of ``user`` in ``mode``, a frame, its target in the server's Downloads
    and an approved exception (jane) for writing it there."""
    monkeypatch.setenv("LACUNA_HOME", str(tmp_path / "client-home"))
    frame = pd.DataFrame({"name": ["Ann Lee"], "email": ["ann@example.com"]})
    target = live.root / "Downloads" / name
    config = config_from_dict({
        "server": {"url": live.url, "token": live.tokens[user], "deadline_ms": 8000,
                   "timeout_ms": 6000},
        "lineage": {"openlineage": {"enabled": False}}, "mode": mode})
    with lacuna.governed(config):
        exc = lacuna.request_exception(data=frame, destination=str(target), approver="jane",
                                       purpose="Board Q4 presentation for the CFO")
    httpx.post(f"{live.url}/api/v1/exceptions/{exc.id}/approve", json={"comment": "ok"},
               headers=live.headers("jane")).raise_for_status()
    return config, frame, (target, exc)


def _trail(live: Any, exception_id: str) -> list[dict[str, Any]]:
    records = httpx.get(f"{live.url}/api/v1/audit", params={"limit": 500},
                        headers=live.headers("carla")).json()["records"]
    return [r for r in reversed(records) if r["what"].get("exception_id") == exception_id
            or (r.get("why") or {}).get("exception_id") == exception_id]


def _file_rows(live: Any, exception_id: str) -> list[Any]:
    from lacuna.exceptions.store import ExceptionStore

    store = ExceptionStore(live.db)
    try:
        return store.files(exception_id)
    finally:
        store.close()


@pytest.mark.parametrize("mode", ["enforce", "warn"])
def test_a_write_under_an_approved_exception_works_and_is_recorded_on_the_server(
        live, monkeypatch, tmp_path, mode) -> None:
    """The seed's path with a server: decided there (as the token's user), the file recorded
    there under the decision, read back (encrypt=True through lacuna.decrypt), and its
    plaintext copy recorded too. Before: refused up front ('server: configured')."""
    import io

    from lacuna.exceptions.files import on_host, this_host

    config, frame, (target, exc) = _granted(live, mode, f"board-{mode}.csv", tmp_path,
                                            monkeypatch)
    sealed = target.with_name(f"sealed-{mode}.csv")
    with lacuna.governed(config):
        frame.to_csv(target, index=False, exception_id=exc.id)
        pd.testing.assert_frame_equal(pd.read_csv(target), frame)  # read back
        if mode == "enforce":
            with pytest.raises(lacuna.GovernanceViolation):  # the grant names one place
                frame.to_csv(sealed, index=False, exception_id=exc.id, encrypt=True)
    assert not sealed.exists()
    config2, _, (sealed, exc2) = _granted(live, mode, f"sealed-{mode}.csv", tmp_path,
                                          monkeypatch)
    with lacuna.governed(config2):
        frame.to_csv(sealed, index=False, exception_id=exc2.id, encrypt=True)
        assert b"Ann Lee" not in sealed.read_bytes()
        plain = tmp_path / "plain.csv"
        got = lacuna.decrypt(sealed, plain)
    pd.testing.assert_frame_equal(pd.read_csv(io.BytesIO(got)), frame)
    assert plain.read_bytes() == got
    from lacuna.lineage.sidecar import read_sidecar

    # labelled as the sealed file was written (docs/exceptions.md), as without a server
    written_as, label = read_sidecar(sealed), read_sidecar(plain)
    assert written_as is not None
    assert label is not None
    assert label.trusted
    assert label.classification.tier is written_as.classification.tier
    host = this_host()
    rows = _file_rows(live, exc.id)
    assert [(w.path, w.written_by, w.deleted_at, w.encrypted) for w in rows] == [
        (on_host(host, str(target)), "ana", None, False)]
    assert rows[0].identity is not None  # what was written, for the sweep
    assert sorted(w.path for w in _file_rows(live, exc2.id)) == sorted(
        [on_host(host, str(sealed)), on_host(host, str(plain))])
    trail = _trail(live, exc2.id)
    events = [r["what"].get("event") for r in trail if r.get("kind") == "exception"]
    assert events[-3:] == ["file-written", "decrypt", "file-written"]
    decisions = [r for r in trail if r.get("kind") is None]
    assert decisions
    assert decisions[-1]["decision"]["allowed"]
    assert decisions[-1]["why"]["exception_approved"] is True
    assert decisions[-1]["who"]["user_id"] == "ana"
    if mode == "warn":
        return
    from lacuna.exceptions.files import DecryptionRefused

    httpx.post(f"{live.url}/api/v1/exceptions/{exc2.id}/deny", json={"comment": "over"},
               headers=live.headers("jane")).raise_for_status()
    with lacuna.governed(config2), pytest.raises(DecryptionRefused, match="revoked"):
        lacuna.decrypt(sealed)
    refused = [r for r in _trail(live, exc2.id) if r["what"].get("event") == "decrypt"]
    assert refused[-1]["decision"]["allowed"] is False
    assert "revoked" in refused[-1]["exception"]["refused"]
    # a steward may still read it; their plaintext copy is theirs to sweep (404 before)
    jane = config2.model_copy(update={"server": config2.server.model_copy(
        update={"token": live.tokens["jane"]})})
    copy = tmp_path / f"jane-{mode}.csv"
    with lacuna.governed(jane):
        assert lacuna.decrypt(sealed, copy) == got
        assert lacuna.sweep_exceptions().deleted == (str(copy),)
    assert not copy.exists()
    assert sealed.exists()  # ana's, for ana's sweep
    # a file sealed without an exception: its writer (as the server's trail names them) may
    # decrypt it, audited there (before: refused, 'written without an exception')
    plain_sealed = live.root / "governed" / f"sealed-plain-{mode}.csv"
    region = pd.DataFrame({"region": ["north"]})
    out = tmp_path / "sealed-plain-out.csv"
    with lacuna.governed(config2):
        region.to_csv(plain_sealed, index=False, encrypt=True)
        assert b"north" not in plain_sealed.read_bytes()
        pd.testing.assert_frame_equal(pd.read_csv(io.BytesIO(lacuna.decrypt(plain_sealed,
                                                                               out))), region)
    pd.testing.assert_frame_equal(pd.read_csv(out), region)
    carla = config2.model_copy(update={"server": config2.server.model_copy(
        update={"token": live.tokens["carla"]})})  # not its writer, not a default steward
    with lacuna.governed(carla), pytest.raises(DecryptionRefused, match="written by ana"):
        lacuna.decrypt(plain_sealed)
    with lacuna.governed(jane):
        assert pd.read_csv(io.BytesIO(lacuna.decrypt(plain_sealed))).equals(region)
    records = httpx.get(f"{live.url}/api/v1/audit", params={"limit": 100},
                        headers=live.headers("carla")).json()["records"]
    decrypts = [(r["who"]["user_id"], r["decision"]["allowed"]) for r in reversed(records)
                if r.get("kind") == "exception" and r["what"].get("event") == "decrypt"
                and r["exception"].get("path", "").endswith(str(plain_sealed))]
    assert decrypts == [("ana", True), ("carla", False), ("jane", True)]


def test_another_users_token_neither_uses_nor_reports_files_for_the_exception(
        live, monkeypatch, tmp_path) -> None:
    from lacuna.exceptions.files import this_host

    config, frame, (target, exc) = _granted(live, "enforce", "theirs.csv", tmp_path,
                                            monkeypatch)
    joe = config.model_copy(update={"server": config.server.model_copy(
        update={"token": live.tokens["joe"]})})
    with lacuna.governed(joe), pytest.raises(lacuna.GovernanceViolation,
                                             match="granted to ana"):
        frame.to_csv(target, index=False, exception_id=exc.id)
    assert not target.exists()
    with lacuna.governed(config):
        frame.to_csv(target, index=False, exception_id=exc.id)
    ana = [r for r in _trail(live, exc.id) if r.get("kind") is None
           and r["decision"]["allowed"]][-1]
    body = {"operation_id": ana["operation_id"], "host": this_host(), "path": str(target)}
    url = f"{live.url}/api/v1/exceptions/{exc.id}/files"
    # another user (a steward too) cannot report a file under ana's exception
    assert httpx.post(url, json=body, headers=live.headers("joe")).status_code == 404
    # ana cannot report a file no decision of hers allowed: another path, an unknown or
    # another user's decision
    other = {**body, "path": str(target.with_name("elsewhere.csv"))}
    assert httpx.post(url, json=other, headers=live.headers("ana")).status_code == 403
    made_up = {**body, "operation_id": "op-made-up"}
    assert httpx.post(url, json=made_up, headers=live.headers("ana")).status_code == 403
    bad_host = {**body, "host": "../etc"}
    assert httpx.post(url, json=bad_host, headers=live.headers("ana")).status_code == 422
    dotted = {**body, "path": f"{target.parent}/../Downloads/{target.name}"}
    assert httpx.post(url, json=dotted, headers=live.headers("ana")).status_code == 422
    # nor as written on another host than the one her write was decided from (that host's
    # sweep would never be asked to delete it; the record names the decision's host)
    moved = httpx.post(url, json={**body, "host": "another-host"}, headers=live.headers("ana"))
    assert moved.status_code == 403, moved.text
    assert "was made from host" in moved.json()["detail"]
    assert len(_file_rows(live, exc.id)) == 1  # the write's own record, nothing else
    # nor ask another user's files to sweep, nor close them
    due = httpx.get(f"{live.url}/api/v1/exceptions/files/due", params={"host": this_host()},
                    headers=live.headers("joe")).json()["files"]
    assert not [f for f in due if f["exception_id"] == exc.id]
    swept = httpx.post(f"{url}/swept", headers=live.headers("joe"), json={
        "host": this_host(), "path": str(target), "step": "file-deleted"})
    assert swept.status_code == 404
    # and ana cannot close her record while the exception holds
    early = httpx.post(f"{url}/swept", headers=live.headers("ana"), json={
        "host": this_host(), "path": str(target), "step": "file-deleted"})
    assert early.status_code == 409
    assert _file_rows(live, exc.id)[0].deleted_at is None


def test_the_client_sweep_deletes_the_file_once_the_exception_ends(
        live, monkeypatch, tmp_path) -> None:
    config, frame, (target, exc) = _granted(live, "enforce", "swept.csv", tmp_path,
                                            monkeypatch)
    with lacuna.governed(config):
        frame.to_csv(target, index=False, exception_id=exc.id)
        frame.to_csv(target, index=False, exception_id=exc.id)  # twice: swept once
        first = lacuna.sweep_exceptions()  # not ended: nothing due (AttributeError before)
        assert str(target) not in first.deleted
        assert target.exists()
        lacuna.revoke_exception(exc.id, comment="the board met")
        report = lacuna.sweep_exceptions()
        assert report.deleted == (str(target),)
        assert not report.failed
        assert not target.exists()
        again = lacuna.sweep_exceptions()  # idempotent
    assert str(target) not in again.deleted
    assert not [f for f in again.failed if str(target) in f]
    shown = _show(live, exc.id, tmp_path)  # AttributeError: ServerExceptions.files before
    report = _show(live, "", tmp_path, "report", code=1)  # AttributeError before
    listed = _show(live, "", tmp_path, "list")  # TypeError before (unreadable=)
    assert exc.id in listed
    assert "by the server" in listed
    assert "NO: not honoured" not in listed
    assert "reads this host's state database" in report.replace("\n", " ")
    assert f"{target} (plain, ana): deleted" in shown.replace("\n", "")
    assert "not honoured" not in shown
    assert "signature" not in shown
    rows = _file_rows(live, exc.id)
    assert len(rows) == 2
    assert all(w.deleted_at is not None for w in rows)
    events = [r["what"].get("event") for r in _trail(live, exc.id)
              if r.get("kind") == "exception"]
    assert events[-4:] == ["file-written", "file-written", "revoked", "file-deleted"]
    deleted = [r for r in _trail(live, exc.id) if r["what"].get("event") == "file-deleted"]
    assert deleted[0]["who"]["user_id"] == "ana"


def test_a_polars_write_is_recorded_and_an_append_under_it_works(
        live, monkeypatch, tmp_path) -> None:
    """An append under the exception to the file written under it is checked against the
    server's records of it (the sweep's test: what is there is what one of them says was
    written) and recorded again; a file that is not the one written is refused. Before, every
    append under an exception was refused with server: configured; an HDFStore opened under
    one was refused at its open (reported to the server before any decision allowed it)."""
    import polars as pl

    from lacuna.exceptions.appends import AppendRefused
    from lacuna.exceptions.files import on_host, this_host

    config, frame, (target, exc) = _granted(live, "enforce", "frames.csv", tmp_path,
                                            monkeypatch)
    here = on_host(this_host(), str(target))
    with lacuna.governed(config):
        pl.from_pandas(frame).write_csv(target, exception_id=exc.id)
        assert pl.read_csv(target).to_pandas().equals(frame)
        frame.to_csv(target, mode="a", header=False, index=False, exception_id=exc.id)
        assert pd.read_csv(target).equals(pd.concat([frame, frame], ignore_index=True))
        target.write_text(target.read_text(encoding="utf-8") + "Eve,eve@example.com\n",
                          encoding="utf-8")  # changed by hand: not the file written under it
        with pytest.raises(AppendRefused, match="was not written under"):
            frame.to_csv(target, mode="a", header=False, index=False, exception_id=exc.id)
    assert pl.read_csv(target).height == 3
    rows = _file_rows(live, exc.id)
    assert [w.path for w in rows] == [here, here]  # the write and the append, each recorded
    assert all(w.identity is not None for w in rows)
    store_path = target.with_name("frames-store.h5")
    config2, _, (_, exc2) = _granted(live, "enforce", "frames-store.h5", tmp_path, monkeypatch)
    with lacuna.governed(config2):
        with pd.HDFStore(store_path, mode="w", exception_id=exc2.id) as store:
            store.put("a", frame, exception_id=exc2.id, track_times=False)
            store.put("b", frame, exception_id=exc2.id, track_times=False)
        with pd.HDFStore(store_path, mode="r") as store:
            assert store["a"].equals(frame)
            assert store["b"].equals(frame)
    rows = _file_rows(live, exc2.id)
    assert [w.path for w in rows] == [on_host(this_host(), str(store_path))]
    assert rows[0].identity is not None  # completed on close: what the sweep deletes
    httpx.post(f"{live.url}/api/v1/exceptions/{exc2.id}/deny", json={"comment": "over"},
               headers=live.headers("jane")).raise_for_status()
    with lacuna.governed(config2):
        assert str(store_path) in lacuna.sweep_exceptions().deleted
    assert not store_path.exists()


def _show(live: Any, exception_id: str, tmp_path: Any, verb: str = "show",
          code: int = 0) -> str:
    """``lacuna exceptions show`` (or ``verb``) as the analyst, with ``server:``."""
    import yaml
    from typer.testing import CliRunner

    from lacuna.cli import app

    config = tmp_path / "client.yaml"
    config.write_text(yaml.safe_dump({
        "server": {"url": live.url, "token": live.tokens["ana"], "deadline_ms": 8000,
                   "timeout_ms": 6000}, "lineage": {"openlineage": {"enabled": False}}}),
        encoding="utf-8")
    result = CliRunner().invoke(app, ["exceptions", verb, *([exception_id] * bool(
        exception_id)), "--config", str(config)], env={"COLUMNS": "400"})
    assert result.exit_code == code, (result.output, result.exception)
    return str(result.output)


def test_a_file_replaced_after_the_write_is_reported_not_deleted(
        live, monkeypatch, tmp_path) -> None:
    config, frame, (target, exc) = _granted(live, "enforce", "replaced.csv", tmp_path,
                                            monkeypatch)
    with lacuna.governed(config):
        frame.to_csv(target, index=False, exception_id=exc.id)
        target.unlink()
        target.write_text("someone else's file\n", encoding="utf-8")
        lacuna.revoke_exception(exc.id, comment="done")
        report = lacuna.sweep_exceptions()
    assert target.exists()
    assert [f for f in report.failed if "not the one written there" in f]
    events = [r["what"].get("event") for r in _trail(live, exc.id)]
    assert events[-1] == "file-delete-failed"
    assert _file_rows(live, exc.id)[0].deleted_at is None
    from lacuna.exceptions import settle_file

    with lacuna.governed(config), pytest.raises(LacunaError, match="403"):  # not ana
        settle_file(exc.id, target, reason="checked it myself")
    jane = config.model_copy(update={"server": config.server.model_copy(
        update={"token": live.tokens["jane"]})})
    with lacuna.governed(jane):  # AttributeError before (ServerExceptions.files)
        before = settle_file(exc.id, target, reason="checked: not the board data")
    assert [w.written_by for w in before] == ["ana"]
    assert _file_rows(live, exc.id)[0].deleted_at is not None  # read back
    with lacuna.governed(config):
        assert lacuna.sweep_exceptions().failed == ()  # settled: not reported again
    assert target.exists()  # settling deletes nothing


def test_a_server_that_does_not_record_the_file_refuses_the_write(
        live, monkeypatch, tmp_path) -> None:
    from lacuna.exceptions.authority import ExceptionNotAuthorized
    from lacuna.remote.client import ServerClient, ServerUnavailable

    config, frame, (target, exc) = _granted(live, "warn", "unrecorded.csv", tmp_path,
                                            monkeypatch)
    real = ServerClient.call

    def call(self: Any, method: str, path: str, body: Any = None) -> Any:
        if path.endswith("/files"):
            raise ServerUnavailable(f"Lacuna server {self.shown} did not answer (timed out)")
        return real(self, method, path, body)

    monkeypatch.setattr(ServerClient, "call", call)
    with lacuna.governed(config), pytest.raises(
            ExceptionNotAuthorized, match=r"did not record it .*timed out.*Nothing was written"):
        frame.to_csv(target, index=False, exception_id=exc.id)
    assert not target.exists()


def test_a_server_down_refuses_the_write_within_its_deadline(monkeypatch, tmp_path) -> None:
    import time

    from live_server import free_port

    monkeypatch.setenv("LACUNA_HOME", str(tmp_path / "client-home"))
    config = config_from_dict({
        "server": {"url": f"http://127.0.0.1:{free_port()}", "token": "t", "deadline_ms": 500,
                   "timeout_ms": 300, "retries": 0},
        "lineage": {"openlineage": {"enabled": False}}})
    target = tmp_path / "down.csv"
    started = time.monotonic()
    with lacuna.governed(config), pytest.raises(lacuna.GovernanceViolation,
                                                match="unreachable"):
        pd.DataFrame({"a": [1]}).to_csv(target, exception_id="EXC-2026-001")
    assert time.monotonic() - started < 3
    assert not target.exists()


def current_status(live: Any, exception_id: str) -> str:
    answer = httpx.get(f"{live.url}/api/v1/exceptions/{exception_id}", headers=live.headers("ana"))
    return str(answer.json()["status"])


@pytest.mark.parametrize(("destination", "path", "same"), [
    ("/home/ana/Downloads/x.csv", "/home/ana/Downloads/x.csv", True),
    ("~/Downloads/x.csv", "/home/ana/Downloads/x.csv", True),  # the client's ~, not the server's
    ("file:///home/ana/out", "/home/ana/out", True),  # Spark names a folder so
    ("file:/home/ana/out", "/home/ana/out", True),
    ("Downloads/x.csv", "/home/ana/Downloads/x.csv", True),  # relative to the client's folder
    ("/home/ana/Downloads/x.csv", "/home/ana/Downloads/y.csv", False),
    ("x.csv", "/home/ana/Downloads/notx.csv", False),
    ("/home/ana/Downloads/x.csv", "/etc/x.csv", False),
    (None, "/home/ana/x.csv", False),
])
def test_a_reported_file_is_the_decisions_destination(destination, path, same) -> None:
    from lacuna.server.routes_files import _destination_is

    assert _destination_is(destination, path) is same
