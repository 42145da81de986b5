"""Red-team findings on governed storage, fifth round (2026-12-07): a configuration pointed at a
key store whose key its owner knows."""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import threading
from pathlib import Path

import pandas as pd
import pytest

import lacuna
from lacuna import storage
from lacuna.errors import StorageError
from lacuna.keystore import FileKeyBackend, KeyStore
from lacuna.storage.sealed import SealedReader
from storage.conftest import customers, write_config


def _own_key_dir(folder: Path) -> Path:
    """A key folder holding a storage key its maker knows (they wrote it)."""
    folder.mkdir(mode=0o700)
    key = folder / "storage.key"
    key.write_text(f"1 {secrets.token_hex(32)}\n")
    key.chmod(0o600)
    return folder


def test_a_write_is_refused_under_a_key_store_that_opens_none_of_the_sealed_files(
    vault: Path, tmp_path: Path
) -> None:
    """The files were sealed with $LACUNA_HOME's key; the config now names another key folder,
    holding a key of the same name. A write was sealed with that key, which its maker can use
    to decrypt it without Lacuna, off the audit trail."""
    customers().to_csv(vault / "a.csv", index=False)
    lacuna.disable()
    evil = _own_key_dir(tmp_path / "known-keys")
    lacuna.enable(str(write_config(tmp_path, anonymize={"key_dir": str(evil)})))
    with pytest.raises(StorageError, match="opens none of the files") as refused:
        customers().to_csv(vault / "b.csv", index=False)
    assert str(vault / "a.csv") in str(refused.value)
    assert "anonymize.key_dir" in str(refused.value)
    assert not (vault / "b.csv").exists()
    # a key the store's owner rotates in there is no better
    KeyStore(FileKeyBackend(evil)).rotate("storage")
    with pytest.raises(StorageError, match="opens none of the files"):
        customers().to_csv(vault / "b.csv", index=False)
    assert not (vault / "b.csv").exists()
    assert not list(vault.glob(".b.csv*"))  # no sealing temporary file, no sidecar


def test_a_write_is_sealed_under_the_key_store_moved_to_another_folder(
    vault: Path, tmp_path: Path
) -> None:
    """The allowed path: the same key file in another folder, then a rotation there."""
    from lacuna.config import lacuna_home

    customers().to_csv(vault / "a.csv", index=False)
    lacuna.disable()
    moved = tmp_path / "moved-keys"
    moved.mkdir(mode=0o700)
    shutil.copy2(lacuna_home() / "storage.key", moved / "storage.key")
    lacuna.enable(str(write_config(tmp_path, anonymize={"key_dir": str(moved)})))
    frame = customers().assign(spend=1.5)
    frame.to_csv(vault / "b.csv", index=False)
    KeyStore(FileKeyBackend(moved)).rotate("storage")  # v2: nothing is wrapped by it yet
    frame.to_csv(vault / "c.csv", index=False)
    for name in ("a.csv", "b.csv", "c.csv"):
        back = pd.read_csv(vault / name)
        assert back["email"].tolist() == customers()["email"].tolist()
    assert storage.read_governed(vault / "c.csv") == frame.to_csv(index=False).encode()
    reader = SealedReader(vault / "c.csv", KeyStore(FileKeyBackend(moved)))
    try:
        assert reader.header.key.version == 2
    finally:
        reader.close()



def _unblock(fifo: Path) -> None:
    """Release a reader stuck opening ``fifo`` (the old code), so the test ends."""
    with contextlib.suppress(OSError):  # no reader waits
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))


def test_a_named_pipe_in_governed_storage_blocks_no_walk_of_it(vault: Path) -> None:
    """Whoever owns the files puts a named pipe there, the sidecar of the file it replaced
    left beside it: the first sealed write (looking for files sealed with a missing key), the
    key store check, ``storage rewrap``, ``keys retire`` and the retention plan opened it to
    read, and waited for a writer for ever (retention: nothing was ever due again)."""
    from lacuna.governor import current
    from lacuna.retention import build_plan
    from lacuna.storage.rotation import local_roots, sealed_files

    fifo = vault / "a.csv"
    customers().to_csv(fifo, index=False)
    fifo.unlink()
    os.mkfifo(fifo)  # its sidecar is still there
    (vault / "more").mkdir()
    done: list[object] = []

    def walk() -> None:
        customers().to_csv(vault / "more" / "b.csv", index=False)  # the key store check
        done.append(list(sealed_files(local_roots(current()))))
        done.append(build_plan(current()))

    worker = threading.Thread(target=walk, daemon=True)
    worker.start()
    worker.join(30)
    if worker.is_alive():
        for _ in range(3):
            _unblock(fifo)
            worker.join(5)
    assert len(done) == 2, "a walk of governed storage waited on the named pipe"
    assert done[0] == [vault / "more" / "b.csv"]
    planned = {e.item.path for e in done[1].entries}  # type: ignore[attr-defined]
    assert str(vault / "more" / "b.csv") in planned
    assert str(fifo) not in planned
