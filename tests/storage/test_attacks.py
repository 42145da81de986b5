"""An attacker who owns the files (and the config): every tampering fails closed, with a clear
error, and nothing is decrypted."""

from __future__ import annotations

import os
import struct
from pathlib import Path

import pandas as pd
import pytest

import lacuna
from lacuna import storage
from lacuna.errors import StorageError
from lacuna.storage import sealed
from storage.conftest import customers, write_config


def _split(path: Path) -> tuple[bytes, bytes]:
    """(magic + header + key slots, sealed payload)."""
    raw = path.read_bytes()
    (size,) = struct.unpack_from(">I", raw, len(sealed.MAGIC))
    cut = len(sealed.MAGIC) + 4 + size + 2 * sealed.SLOT_BYTES
    return raw[:cut], raw[cut:]


@pytest.fixture
def two(vault: Path) -> tuple[Path, Path]:
    a, b = vault / "a.csv", vault / "b.csv"
    customers().to_csv(a, index=False)
    customers().assign(spend=0.0).to_csv(b, index=False)
    return a, b


def _refused(path: Path, match: str) -> None:
    with pytest.raises(StorageError, match=match):
        storage.read_governed(path)
    with pytest.raises(StorageError, match=match):  # the same through pandas, in every mode
        pd.read_csv(path)


def test_edited_header(two: tuple[Path, Path]) -> None:
    a, _ = two
    raw = a.read_bytes()
    a.write_bytes(raw.replace(b"analyst_alice", b"analyst_alicf", 1))
    _refused(a, "header or data was .*altered")


def test_flipped_payload_byte(two: tuple[Path, Path]) -> None:
    a, _ = two
    raw = bytearray(a.read_bytes())
    raw[-20] ^= 1
    a.write_bytes(bytes(raw))
    _refused(a, "does not authenticate")


@pytest.mark.parametrize("cut", [1, 16, "segment"])
def test_truncated(vault: Path, cut: object) -> None:
    path = vault / "big.csv"
    pd.DataFrame({"n": range(200_000)}).to_csv(path, index=False)  # > 1 segment
    head, payload = _split(path)
    keep = len(payload) - (sealed.SEGMENT_BYTES + 16 if cut == "segment" else int(cut))
    path.write_bytes(head + payload[:keep])
    _refused(path, "truncated")
    path.write_bytes(head)  # nothing but the header
    _refused(path, "truncated")


def test_swapped_headers(two: tuple[Path, Path]) -> None:
    a, b = two
    (ha, pa), (hb, pb) = _split(a), _split(b)
    a.write_bytes(hb + pa)
    b.write_bytes(ha + pb)
    _refused(a, "does not authenticate")
    _refused(b, "does not authenticate")


def test_swapped_key_slots(two: tuple[Path, Path]) -> None:
    a, b = two
    (ha, pa), (hb, _) = _split(a), _split(b)
    slots = 2 * sealed.SLOT_BYTES
    a.write_bytes(ha[:-slots] + hb[-slots:] + pa)
    _refused(a, "another file")


def test_replaced_by_plaintext(two: tuple[Path, Path]) -> None:
    a, _ = two
    a.write_bytes(b"customer_id,email\n1,x@example.com\n")
    with pytest.raises(StorageError, match="not a sealed governed file"):
        storage.read_governed(a)


def test_config_pointed_at_another_key_store(two: tuple[Path, Path], tmp_path: Path) -> None:
    a, _ = two
    other = tmp_path / "other-keys"
    config = write_config(tmp_path, anonymize={"key_dir": str(other)})
    lacuna.enable(str(config))
    _refused(a, "not in this key store")
    from lacuna.governor import current
    from lacuna.keystore import keystore_for

    keystore_for(current().config).current("storage")  # makes v1 there (a write refuses to)
    _refused(a, "does not unwrap this file's data key")


def test_a_plain_open_sees_ciphertext(two: tuple[Path, Path]) -> None:
    a, _ = two
    with open(a, "rb") as fh:
        raw = fh.read()
    assert raw.startswith(sealed.MAGIC)
    assert b"@example" not in raw
    assert b"customer_id" not in raw
    assert os.stat(a).st_mode & 0o077 == 0  # and it is private to its owner


def test_a_removed_sidecar_is_decided_as_proprietary(vault: Path) -> None:
    path = vault / "public.csv"
    pd.DataFrame({"n": [1, 2, 3]}).to_csv(path, index=False)
    from lacuna.governor import current
    from lacuna.lineage.sidecar import sidecar_path

    storage.read_governed(path)
    sidecar_path(path).unlink()
    storage.read_governed(path)
    reads = [r for r in current().audit.list(limit=None, action="read") if r.kind == "decision"]
    assert [r.tier for r in reads] == ["PROPRIETARY", "PUBLIC"]  # newest first


def test_unsealable_writes_are_refused_and_leave_nothing(vault: Path) -> None:
    df = customers()
    with pytest.raises(StorageError, match="cannot be encrypted"):
        df.to_parquet(vault / "parts", partition_cols=["spend"])
    (vault / "x.csv").write_text("n\n1\n")  # plaintext there (written without Lacuna)
    with pytest.raises(StorageError, match="cannot be encrypted"):
        df.to_csv(vault / "x.csv", mode="a")  # an append re-seals a sealed file only
    with pytest.raises(StorageError, match="cannot be encrypted"), open(
            vault / "y.csv", "w") as fh:
        df.to_csv(fh)
    assert (vault / "y.csv").read_text() == ""  # the file the user opened: nothing written
    assert not (vault / "parts").exists()
    assert (vault / "x.csv").read_text() == "n\n1\n"


def test_a_write_into_a_missing_folder_is_the_users_error(vault: Path) -> None:
    with pytest.raises(OSError, match="non-existent directory"):
        customers().to_csv(vault / "nope" / "x.csv")
    assert not (vault / "nope").exists()


@pytest.mark.parametrize("mode", ["enforce", "warn"])
def test_a_lost_storage_key_is_never_replaced_by_a_new_one(tmp_path: Path, mode: str) -> None:
    """The key file is deleted (or the config points at an empty key store) while governed
    storage holds files sealed with the key: a write must not create a new key of the same
    name, which would not open the old files (and would be lost when the old key comes back)."""
    from lacuna.governor import current
    from lacuna.keystore import keystore_for

    lacuna.enable(str(write_config(tmp_path, mode=mode)))
    root = tmp_path / "governed" / "workspace"
    customers().to_csv(root / "a.csv", index=False)
    key_file = keystore_for(current().config).backend.path("storage")  # type: ignore[attr-defined]
    key_file.unlink()
    with pytest.raises(StorageError, match=r"storage key 'storage' is missing from .*storage\.key"):
        customers().to_csv(root / "b.csv", index=False)
    assert not key_file.exists()
    assert sorted(p.name for p in root.iterdir()) == [".a.csv.lacuna.json", "a.csv"]
    # nor does an explicit rotation (it would create the key first, then a second version)
    from typer.testing import CliRunner

    from lacuna.cli import app

    rotated = CliRunner().invoke(app, ["keys", "rotate", "--config",
                                       str(write_config(tmp_path, mode=mode))])
    assert rotated.exit_code == 1, rotated.output
    assert "cannot rotate storage" in rotated.output
    assert not key_file.exists()
    lacuna.disable()


def test_a_read_that_fails_mid_file_is_on_the_trail_as_failed(vault: Path) -> None:
    """Opening authenticates the header and the last segment; a flipped byte in an earlier
    segment fails only when pandas reaches it: the read's outcome must say failed, not
    succeeded (it was recorded when the file opened)."""
    from lacuna.governor import current

    path = vault / "big.csv"
    pd.DataFrame({"n": range(200_000)}).to_csv(path, index=False)  # > 1 segment
    head, payload = _split(path)
    path.write_bytes(head + bytes([payload[0] ^ 1]) + payload[1:])
    with pytest.raises(StorageError, match="segment 0 does not authenticate"):
        pd.read_csv(path)
    outcome = next(r for r in current().audit.list(limit=None, action="read")
                   if r.kind == "outcome")
    assert outcome.data["outcome"]["status"] == "failed"
    assert "segment 0 does not authenticate" in outcome.data["outcome"]["error"]
