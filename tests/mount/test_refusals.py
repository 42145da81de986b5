"""Every refusal of the mount is a governance decision, recorded like a refused write: links
out of governed storage, moving a folder out, and moving or removing a destination folder
(the outbox) itself, away or into place. On both transports (the kernel session and libfuse).
"""

from __future__ import annotations

import json
import uuid

import pytest

from lacuna.audit import AuditStore

pytestmark = pytest.mark.xdist_group("mount")

TRANSPORTS = ("mount", "libfuse_mount")


def _denials(m, method):
    store = AuditStore(m.audit_url)
    try:
        return [r for r in store.list(limit=None)
                if r.kind == "decision" and not r.allowed and r.data["how"]["method"] == method]
    finally:
        store.close()


def _the_refusal(m, method, *, program, destination=None, source=None):
    found = [r for r in _denials(m, method)
             if (destination is None or r.destination == str(destination))
             and (source is None or str(source) in r.data["what"]["sources"])]
    assert len(found) == 1, [(r.destination, r.data["what"]) for r in _denials(m, method)]
    [rec] = found
    assert rec.policy_id == "lacuna.mount"
    assert rec.user_id == "analyst_alice"
    assert rec.data["how"]["code_location"].startswith(f"{program}[")
    return rec


def _status(m):
    from typer.testing import CliRunner

    from lacuna.cli import app

    result = CliRunner().invoke(app, ["status", "--json", "--config", str(m.config), "-n", "200"])
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.output.splitlines()]


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_hard_link_into_the_outbox_is_refused_and_recorded(transport, request):
    m = request.getfixturevalue(transport)
    name = f"l-{uuid.uuid4().hex[:6]}.csv"
    result = m.run("ln", str(m.mnt / "customers.csv"), str(m.mnt / "outbox" / name))
    assert result.returncode != 0
    assert "Permission denied" in result.stderr
    assert not (m.source / "outbox" / name).exists()
    rec = _the_refusal(m, "fuse.link", program="ln", destination=m.source / "outbox" / name,
                       source=m.source / "customers.csv")
    assert rec.action == "export"
    assert rec.tier == "PROPRIETARY"  # what the link would have carried
    assert "a link is not a copy" in rec.reasoning
    assert f"DENIED export /outbox/{name}" in m.log.read_text()
    assert any(r["what"]["destination"] == str(m.source / "outbox" / name) for r in _status(m))


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_symbolic_link_into_the_outbox_is_refused_and_recorded(transport, request):
    m = request.getfixturevalue(transport)
    name = f"s-{uuid.uuid4().hex[:6]}.csv"
    result = m.run("ln", "-s", str(m.mnt / "customers.csv"), str(m.mnt / "outbox" / name))
    assert result.returncode != 0
    assert not (m.source / "outbox" / name).is_symlink()
    rec = _the_refusal(m, "fuse.symlink", program="ln", destination=m.source / "outbox" / name)
    assert rec.action == "export"
    assert f"DENIED export /outbox/{name}" in m.log.read_text()


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_moving_a_folder_with_files_into_the_outbox_is_refused_and_recorded(transport, request):
    m = request.getfixturevalue(transport)
    folder = m.mnt / f"d-{uuid.uuid4().hex[:6]}"
    folder.mkdir()
    (folder / "notes.txt").write_text("ana.doe@example.org\n")
    result = m.run("mv", str(folder), str(m.mnt / "outbox"))
    assert result.returncode != 0
    assert (m.source / folder.name / "notes.txt").exists()
    assert not (m.source / "outbox" / folder.name).exists()
    rec = _the_refusal(m, "fuse.rename", program="mv",
                       destination=m.source / "outbox" / folder.name)
    assert rec.action == "export"


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_the_outbox_is_neither_moved_away_nor_into_place(transport, request):
    m = request.getfixturevalue(transport)
    away = m.mnt / f"outbox_old-{uuid.uuid4().hex[:6]}"
    result = m.run("mv", str(m.mnt / "outbox"), str(away))
    assert result.returncode != 0
    assert (m.source / "outbox").is_dir()
    assert not away.exists()
    rec = _the_refusal(m, "fuse.rename", program="mv", source=m.source / "outbox")
    assert rec.destination == str(m.source / away.name)
    assert "/outbox is a configured destination folder" in rec.reasoning

    # into place: an empty folder over the outbox would swap the exit for a new folder
    newbox = m.mnt / f"newbox-{uuid.uuid4().hex[:6]}"
    newbox.mkdir()
    result = m.run("mv", "-T", str(newbox), str(m.mnt / "outbox"))
    assert result.returncode != 0
    assert newbox.is_dir()
    _the_refusal(m, "fuse.rename", program="mv", source=m.source / newbox.name)

    result = m.run("rmdir", str(m.mnt / "outbox"))
    assert result.returncode != 0
    assert (m.source / "outbox").is_dir()
    [rec] = [r for r in _denials(m, "fuse.rmdir")
             if str(m.source / "outbox") in r.data["what"]["sources"]]
    assert rec.policy_id == "lacuna.mount"


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_ordinary_folders_move_by_what_they_carry(transport, request):
    m = request.getfixturevalue(transport)
    tag = uuid.uuid4().hex[:6]
    work = m.mnt / f"w-{tag}"
    work.mkdir()
    (work / "a.txt").write_text("hello\n")
    assert m.run("mv", str(work), str(m.mnt / f"w2-{tag}")).returncode == 0  # within governed
    assert (m.mnt / f"w2-{tag}" / "a.txt").read_text() == "hello\n"
    empty = m.mnt / f"e-{tag}"
    empty.mkdir()
    assert m.run("mv", str(empty), str(m.mnt / "outbox")).returncode == 0  # carries nothing
    assert (m.source / "outbox" / empty.name).is_dir()
    assert m.run("rmdir", str(m.mnt / "outbox" / empty.name)).returncode == 0
