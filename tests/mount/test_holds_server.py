"""A mount in server mode (``server:``) obeys the server's holds: the legal holds of its state
store (``GET /api/v1/retention/holds``) and the Rego retention rules of its bundle (``POST
/api/v1/retention/rule-holds``). Without a hold, deleting, moving and writing go through (a
mount in server mode used to refuse them all: it could not read the holds)."""

from __future__ import annotations

import json
import os
import uuid

import pytest
from tests.mount.test_holds import _new_file
from typer.testing import CliRunner

from lacuna.cli import app

pytestmark = pytest.mark.xdist_group("mount")


def _retention(config, home, monkeypatch, *args):
    monkeypatch.setenv("LACUNA_HOME", str(home))
    result = CliRunner().invoke(app, ["retention", *args, "--config", str(config)])
    assert result.exit_code == 0, result.output
    return result.output


def test_a_server_mode_mount_obeys_the_servers_holds(server_mount, monkeypatch):
    sm, m = server_mount, server_mount.mount
    rel, content = _new_file(m)
    # no hold: an edit, a move and a removal go through, the removal with its label
    with open(m.mnt / rel, "ab") as out:
        out.write(b"2,edited\n")
    assert (m.mnt / rel).read_bytes() == content + b"2,edited\n"
    os.rename(m.mnt / rel, m.mnt / f"moved-{rel}")
    assert (m.source / f".moved-{rel}.lacuna.json").is_file()
    os.unlink(m.mnt / f"moved-{rel}")
    assert not (m.source / f"moved-{rel}").exists()
    assert not (m.source / f".moved-{rel}.lacuna.json").exists()

    # a legal hold placed on the server's state keeps the file
    held, held_content = _new_file(m)
    reason = f"litigation {uuid.uuid4().hex[:6]}"
    hold = _retention(
        sm.server_config,
        sm.server_home,
        monkeypatch,
        "hold",
        str(m.source / held),
        "--reason",
        reason,
    ).split()[1]
    with pytest.raises(PermissionError):
        os.unlink(m.mnt / held)
    with pytest.raises(PermissionError):
        os.rename(m.mnt / held, m.mnt / f"away-{held}")
    with pytest.raises(PermissionError):
        open(m.mnt / held, "ab").close()
    assert (m.source / held).read_bytes() == held_content
    assert (m.mnt / held).read_bytes() == held_content  # reading stays allowed
    log = m.log.read_text()
    assert f"legal hold {hold} on {m.source / held} ({reason!r})" in log
    # each refusal is on the server's trail, as the mount's user (before: none was)
    refused = _server_records(sm, f"retention.hold.{hold}")
    assert len(refused) == 3, [r.data for r in refused]
    assert {r.user_id for r in refused} == {"analyst_alice"}
    assert not any(r.allowed for r in refused)
    assert all(reason in r.data["decision"]["reasoning"] for r in refused)

    # `lacuna retention list-holds` with the client's configuration asks the server
    listed = json.loads(_retention(m.config, m.root / "home", monkeypatch, "list-holds", "--json"))
    assert [(h["id"], h["dataset"], h["reason"]) for h in listed] == [
        (hold, str(m.source / held), reason)
    ]

    # a hold from the server's Rego retention rules keeps data too
    case = f"case-{uuid.uuid4().hex[:6]}"
    (m.source / case / "inquiry").mkdir(parents=True)
    ruled, ruled_content = _new_file(m, f"{case}/inquiry")
    with pytest.raises(PermissionError):
        os.unlink(m.mnt / ruled)
    with pytest.raises(PermissionError):
        os.rename(m.mnt / case, m.mnt / f"{case}-old")
    assert (m.source / ruled).read_bytes() == ruled_content
    assert (
        f"/{ruled} is held by the retention rule of policy package "
        "governance.mount_retention ('regulator inquiry 2026-04')"
    ) in m.log.read_text()
    ruled_records = [r for r in _server_records(sm, "governance.mount_retention")
                     if ruled in r.data["decision"]["reasoning"] or case in
                     r.data["decision"]["reasoning"]]
    assert len(ruled_records) >= 2

    # released on the server: the next call goes through
    _retention(sm.server_config, sm.server_home, monkeypatch, "release", hold)
    os.unlink(m.mnt / held)
    assert not (m.source / held).exists()
    listed = json.loads(_retention(m.config, m.root / "home", monkeypatch, "list-holds", "--json"))
    assert listed == []


def _server_records(sm, policy_id):
    """The server's decision records of ``policy_id``, read from its state database."""
    import yaml

    from lacuna.audit import AuditStore

    db = yaml.safe_load(sm.server_config.read_text())["audit"]["url"]
    store = AuditStore(db)
    try:
        return [r for r in store.list(limit=100, policy_id=policy_id) if r.kind == "decision"]
    finally:
        store.close()


def test_a_server_that_does_not_answer_refuses_and_says_what_to_check(sandbox, sandbox_config):
    """Fail closed: no answer about the holds is no permission to delete."""
    from lacuna.config import LacunaServerConfig
    from lacuna.errors import GovernanceViolation
    from lacuna.governor import Governor
    from lacuna.mount.decide import MountGovernance
    from lacuna.mount.layout import MountLayout, mount_config
    from live_server import free_port

    url = f"http://127.0.0.1:{free_port()}"
    server = LacunaServerConfig(url=url, token="t", deadline_ms=300)
    source, mnt = sandbox / "governed" / "workspace", sandbox / "mnt"
    mnt.mkdir()
    (source / "a.csv").write_text("id\n1\n")
    layout = MountLayout.of(source, mnt)
    config = mount_config(sandbox_config(), layout).model_copy(update={"server": server})
    governance = MountGovernance(Governor(config), layout)
    with pytest.raises(GovernanceViolation) as caught:
        governance.keep_held("remove /a.csv", ("/a.csv",), os.getpid(), method="fuse.unlink")
    message = caught.value.decision.reasoning
    assert "Cannot remove /a.csv: the legal holds could not be read (ServerUnavailable: " in message
    assert f"Lacuna server {url} unreachable" in message
    assert f"Check that the Lacuna server ({url}) runs and answers GET " in message
    assert "fail closed" in message
    assert (source / "a.csv").exists()


def test_a_server_mode_governed_write_obeys_the_servers_holds(server_mount, monkeypatch, tmp_path):
    """Governed writes from Python with ``server:`` ask the server's holds, as the mount does
    (``Governor.keeping``): an overwrite of an unheld sealed file goes through (it was refused:
    the holds were read from a local trail a server-mode governor does not have), one under a
    hold placed on the server, or under its Rego rule, is refused and the file kept."""
    import pandas as pd
    import yaml

    import lacuna
    from lacuna.errors import StorageError

    sm = server_mount
    root = tmp_path / "governed"
    (root / "inquiry").mkdir(parents=True)
    config = tmp_path / "lacuna.yaml"
    config.write_text(yaml.safe_dump({
        "server": {"url": sm.url, "token": sm.token},
        "destinations": {"governed": [f"{root}/"]},
        "lineage": {"openlineage": {"enabled": False}},
    }))
    monkeypatch.setenv("LACUNA_HOME", str(tmp_path / "home"))
    frame = pd.DataFrame({"region": ["EU", "US"], "n": [1, 2]})
    other = pd.DataFrame({"region": ["APAC"], "n": [3]})
    lacuna.enable(str(config))
    try:
        free, ruled = root / "weekly.csv", root / "inquiry" / "weekly.csv"
        for path in (free, ruled):
            frame.to_csv(path, index=False)  # new files: written
        other.to_csv(free, index=False)  # replaced: no hold covers it
        pd.testing.assert_frame_equal(pd.read_csv(free), other)
        with pytest.raises(StorageError, match="regulator inquiry 2026-04"):
            other.to_csv(ruled, index=False)
        pd.testing.assert_frame_equal(pd.read_csv(ruled), frame)
        hold = _retention(sm.server_config, sm.server_home, monkeypatch, "hold", str(free),
                          "--reason", "audit 2026-12").split()[1]
        monkeypatch.setenv("LACUNA_HOME", str(tmp_path / "home"))
        lacuna.enable(str(config))  # (the CLI run in this process governed with its own)
        try:
            with pytest.raises(StorageError, match=f"under legal hold {hold}"):
                frame.to_csv(free, index=False)
            pd.testing.assert_frame_equal(pd.read_csv(free), other)
        finally:
            _retention(sm.server_config, sm.server_home, monkeypatch, "release", hold)
            monkeypatch.setenv("LACUNA_HOME", str(tmp_path / "home"))
            lacuna.enable(str(config))
        frame.to_csv(free, index=False)  # released on the server: written
        pd.testing.assert_frame_equal(pd.read_csv(free), frame)
    finally:
        lacuna.disable()
