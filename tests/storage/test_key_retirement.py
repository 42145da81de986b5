"""``lacuna keys retire``: an old key version destroyed once nothing needs it (docs/storage.md).

Before, the docs said an old version "can be retired" after a re-wrap, but nothing did it: the
way was to edit the key file by hand, with nothing checking that no sealed file still needed
the version.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from lacuna import storage
from lacuna.cli import app
from lacuna.errors import ConfigError, StorageError
from lacuna.governor import current
from lacuna.keystore import keystore_for
from storage.conftest import customers

runner = CliRunner()


def _cli(tmp_path: Path, *args: str):  # type: ignore[no-untyped-def]
    return runner.invoke(app, [*args, "-c", str(tmp_path / "lacuna.yaml")])


def test_an_old_storage_key_is_retired_only_once_every_file_is_rewrapped(
        vault: Path, tmp_path: Path) -> None:
    df = customers()
    path = vault / "customers.csv"
    df.to_csv(path, index=False)
    assert _cli(tmp_path, "keys", "rotate").exit_code == 0
    refused = _cli(tmp_path, "keys", "retire", "1")
    assert refused.exit_code == 1
    assert "1 sealed file(s) are wrapped only by storage v1" in refused.output
    assert str(path) in refused.output
    assert "lacuna storage rewrap" in refused.output
    key_file = tmp_path / ".lacuna-home" / "storage.key"
    old_material = key_file.read_text().splitlines()[0].split()[1]

    assert _cli(tmp_path, "storage", "rewrap").exit_code == 0
    done = _cli(tmp_path, "keys", "retire", "1")
    assert done.exit_code == 0, done.output
    assert "v1 retired" in done.output
    assert old_material not in key_file.read_text()  # the material is gone
    keystore_for(current().config)._cache.clear()
    back = pd.read_csv(path)  # opens with v2 alone: the same values
    pd.testing.assert_frame_equal(back, df)
    listed = _cli(tmp_path, "keys", "list")
    assert "v1 (retired " in listed.output
    assert "v2 (current)" in listed.output
    rotated = _cli(tmp_path, "keys", "rotate")  # a retired number is never reused
    assert "v3 is now current" in rotated.output
    events = [r for r in current().audit.list(limit=None) if r.kind == "storage"]
    retirements = [r for r in events if "key_retire" in r.reasoning]
    assert [r.allowed for r in retirements] == [True, False]  # newest first: the refusal too


def test_the_current_or_an_unknown_version_is_refused(vault: Path, tmp_path: Path) -> None:
    customers().to_csv(vault / "customers.csv", index=False)
    current_one = _cli(tmp_path, "keys", "retire", "1")
    assert current_one.exit_code == 2
    assert "is the current version: rotate first" in current_one.output
    unknown = _cli(tmp_path, "keys", "retire", "7")
    assert unknown.exit_code == 2
    assert "has no version 7" in unknown.output


def test_another_key_needs_force_and_then_what_it_made_says_it_was_retired(
        vault: Path, tmp_path: Path) -> None:
    store = keystore_for(current().config)
    store.current("fpe")
    store.rotate("fpe")
    refused = _cli(tmp_path, "keys", "retire", "1", "fpe")
    assert refused.exit_code == 1
    assert "--force" in refused.output
    assert "crypto-shredding" in refused.output
    assert store.get("fpe", 1).material  # still there
    forced = runner.invoke(app, ["keys", "retire", "1", "fpe", "--force",
                                 "-c", str(tmp_path / "lacuna.yaml")])
    assert forced.exit_code == 0, forced.output
    store._cache.clear()
    with pytest.raises(ConfigError, match="v1 was retired"):
        store.get("fpe", 1)
    assert store.current("fpe").ref.version == 2


def test_a_file_only_a_retired_version_opens_says_so(vault: Path, tmp_path: Path) -> None:
    """Retired by hand past the check (the key store's own API): the read fails loudly."""
    path = vault / "customers.csv"
    customers().to_csv(path, index=False)
    store = keystore_for(current().config)
    store.rotate("storage")
    store.retire("storage", 1)
    with pytest.raises((StorageError, ConfigError), match="retired"):
        storage.read_governed(path)


def test_a_slot_of_an_already_retired_version_does_not_count_as_a_way_in(
        vault: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A re-wrap that stopped between its two writes leaves two slots (v1, v2). Once v2 is
    retired, v1 alone opens the file: retiring v1 too is refused (before, the dead v2 slot
    counted as another way in, v1 was destroyed and the file could never be read again)."""
    from lacuna.storage import sealed

    df = customers()
    path = vault / "customers.csv"
    df.to_csv(path, index=False)
    store = keystore_for(current().config)
    store.rotate("storage")

    def power_cut(fd: int) -> None:  # the new slot is written, the old one never blanked
        raise OSError("power cut")

    with monkeypatch.context() as patched:
        patched.setattr(sealed.os, "fsync", power_cut)
        with pytest.raises(OSError, match="power cut"):
            sealed.rewrap(path, store, key_id="storage")
    assert sorted(k.version for k in sealed.wrapping_keys(path)) == [1, 2]
    store.rotate("storage")
    assert _cli(tmp_path, "keys", "retire", "2").exit_code == 0  # v1 still opens it
    refused = _cli(tmp_path, "keys", "retire", "1")
    assert refused.exit_code == 1, refused.output
    assert "wrapped only by storage v1" in refused.output
    store._cache.clear()
    pd.testing.assert_frame_equal(pd.read_csv(path), df)  # still readable, with v1


def test_a_slot_that_only_names_a_live_version_does_not_count_as_a_way_in(
        vault: Path, tmp_path: Path) -> None:
    """Someone who owns the files (not the key) writes a slot naming storage v2 into a v1
    file's free slot: `keys retire 1` counted it as another way in, destroyed v1, and the file
    could never be read again. Now only a slot that unwraps the data key counts."""
    import json

    from lacuna.storage import sealed

    df = customers()
    path = vault / "customers.csv"
    df.to_csv(path, index=False)
    store = keystore_for(current().config)
    store.rotate("storage")
    raw = bytearray(path.read_bytes())
    with open(path, "rb") as fh:
        body = sealed._parse(fh, str(path))[2]
    forged = json.dumps({"key": {"id": "storage", "version": 2, "backend": "file"},
                         "wrapped": "00" * 48, "nonce": "00" * 12}).encode()
    free = body - sealed.SLOT_BYTES  # slot 1: blank after a first write
    assert raw[free:body].strip() == b""
    raw[free:body] = forged.ljust(sealed.SLOT_BYTES, b" ")
    path.write_bytes(bytes(raw))
    assert sorted(k.version for k in sealed.wrapping_keys(path)) == [1, 2]
    refused = _cli(tmp_path, "keys", "retire", "1")
    assert refused.exit_code == 1, refused.output
    assert "wrapped only by storage v1" in refused.output
    pd.testing.assert_frame_equal(pd.read_csv(path), df)  # still readable, with v1
    assert _cli(tmp_path, "storage", "rewrap").exit_code == 0  # the allowed way
    assert [k.version for k in sealed.unwrapping_keys(path, store)] == [2]
    assert _cli(tmp_path, "keys", "retire", "1").exit_code == 0
    store._cache.clear()
    pd.testing.assert_frame_equal(pd.read_csv(path), df)
