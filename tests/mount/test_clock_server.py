"""A mount in server mode (``server:``) takes retention clocks from the Lacuna server, never
from sidecars, which the file's owner signs with their own key; and when the server cannot
say a file's clock, a write to it is refused cleanly (EACCES, a one-line log, fail closed)."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
from datetime import UTC, datetime, timedelta

import pytest

pytestmark = pytest.mark.xdist_group("mount")


def test_a_server_mode_mount_takes_a_reads_clock_from_the_server(server_mount, monkeypatch):
    """The owner signs a sidecar saying their old data was first seen just now: a copy made
    through the mount is still as old as the server says the data is (before: the copy took
    the sidecar's clock, and its retention restarted). A file the server knows nothing of
    keeps a fresh clock: the server's answer is taken, not an old default (its content is
    not the old file's: the same content would be as old, lacuna.lineage.seen)."""
    from lacuna.lineage.records import DatasetRef
    from lacuna.lineage.seen import saw
    from lacuna.lineage.sidecar import read_sidecar, write_sidecar
    from lacuna.lineage.store import LineageStore
    from lacuna.model import Classification, Tier
    from lacuna.remote.client import host_name

    m = server_mount.mount
    monkeypatch.setenv("LACUNA_HOME", str(m.root / "home"))  # the mount's signing key
    folder = m.source / "server-clock"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir()
    source, fresh = folder / "old.csv", folder / "new.csv"
    for path in (source, fresh):  # (public data: the server lets it leave its governed
        path.write_bytes(f"id,note\n1,{path.name}\n".encode())  # storage; this mount is not)
    forged = datetime.now(UTC)
    write_sidecar(source, Classification(tier=Tier.PUBLIC), written_by="analyst_alice",
                  first_seen=forged)
    assert read_sidecar(source).trusted  # signed with the owner's own key
    old = (forged - timedelta(days=900)).replace(microsecond=0)
    db = f"sqlite:///{server_mount.server_config.parent / 'state.db'}"
    store = LineageStore(db)
    try:
        saw(store, DatasetRef(f"file://{host_name()}", str(source)), old)
    finally:
        store.close()
    for name in ("old", "new"):  # each its own process group (a write takes the clocks of
        # what its group read)
        done = subprocess.run(["cp", f"{name}.csv", f"{name}-copy.csv"],
                              cwd=m.mnt / "server-clock", capture_output=True, text=True,
                              timeout=60, check=False, start_new_session=True)
        assert done.returncode == 0, done.stderr
        m.settled()
    copied = read_sidecar(folder / "old-copy.csv")
    assert copied is not None
    assert copied.trusted
    assert copied.first_seen == old  # the server's clock, not the forged sidecar's
    new = read_sidecar(folder / "new-copy.csv")
    assert new is not None
    assert new.first_seen is not None
    assert new.first_seen > forged - timedelta(minutes=5)


def test_a_write_whose_clock_the_server_cannot_say_is_refused_cleanly(
        sandbox, sandbox_config, monkeypatch, caplog):
    """The holds answered (none) but the server does not answer the file's clock: opening the
    file for writing (an open, a create, a truncation) is EACCES, one log line saying why and
    no traceback (before: the exception escaped the open: EIO, and a traceback in the log),
    and the file is as it was."""
    import errno

    from lacuna.config import LacunaServerConfig
    from lacuna.governor import Governor
    from lacuna.mount.decide import MountGovernance
    from lacuna.mount.fs import FuseError, GovernedFS
    from lacuna.mount.layout import MountLayout, mount_config
    from live_server import free_port

    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    server = LacunaServerConfig(url=url, token="t", deadline_ms=300, retries=0)
    source, mnt = sandbox / "governed" / "workspace", sandbox / "mnt"
    mnt.mkdir()
    (source / "a.csv").write_text("id\n1\n")
    layout = MountLayout.of(source, mnt)
    config = mount_config(sandbox_config(storage={"encrypt": False}), layout).model_copy(
        update={"server": server})
    governance = MountGovernance(Governor(config), layout)
    monkeypatch.setattr(governance, "keep_held", lambda *_, **__: None)  # no hold applies
    fs = GovernedFS(governance)
    caplog.set_level(logging.ERROR, "lacuna.mount")
    for attempt in (lambda: fs.open("/a.csv", os.O_WRONLY | os.O_TRUNC),
                    lambda: fs.open("/a.csv", os.O_WRONLY),
                    lambda: fs.create("/a.csv", 0o644)):
        with pytest.raises(FuseError) as caught:
            attempt()
        assert caught.value.errno == errno.EACCES
    assert (source / "a.csv").read_text() == "id\n1\n"
    refused = [r for r in caplog.records if "could not govern write /a.csv" in r.getMessage()]
    assert len(refused) == 3
    assert all("could not ask the Lacuna server" in r.getMessage() for r in refused)
    assert all(r.exc_info is None for r in refused)  # no traceback


def test_a_sealed_truncation_the_server_cannot_decide_is_refused_cleanly(
        sandbox, sandbox_config, monkeypatch, caplog):
    """The server answered the mount's own hold check and the file's clock, then went away:
    the sealed write a truncation is (``: > f``) cannot read the holds, and the truncation is
    EACCES with one log line (before: its StorageError escaped the file system: EIO and a
    traceback); the file is as it was."""
    import errno

    from lacuna.config import LacunaServerConfig
    from lacuna.governor import Governor
    from lacuna.mount.decide import MountGovernance
    from lacuna.mount.fs import FuseError, GovernedFS
    from lacuna.mount.layout import MountLayout, mount_config
    from lacuna.storage import write_governed
    from live_server import free_port

    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    server = LacunaServerConfig(url=url, token="t", deadline_ms=300, retries=0)
    source, mnt = sandbox / "governed" / "workspace", sandbox / "mnt"
    mnt.mkdir()
    layout = MountLayout.of(source, mnt)
    local = mount_config(sandbox_config(), layout)
    write_governed(str(source / "a.csv"), lambda out: out.write(b"id\n1\n"), method="test",
                   gov=Governor(local))
    before = (source / "a.csv").read_bytes()
    governance = MountGovernance(Governor(local.model_copy(update={"server": server})), layout)
    monkeypatch.setattr(governance, "keep_held", lambda *_, **__: None)  # answered: none
    monkeypatch.setattr(governance, "target_clock", lambda _: None)  # answered: no clock
    fs = GovernedFS(governance)
    caplog.set_level(logging.ERROR, "lacuna.mount")
    with pytest.raises(FuseError) as caught:
        fs.truncate("/a.csv", 0)
    assert caught.value.errno == errno.EACCES
    assert (source / "a.csv").read_bytes() == before
    refused = [r for r in caplog.records if "could not govern truncate /a.csv" in r.getMessage()]
    assert len(refused) == 1
    assert "the holds that may cover it" in refused[0].getMessage()
    assert refused[0].exc_info is None
