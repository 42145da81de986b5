"""lacuna.crypto: AES-256-GCM envelopes with a per-file data key wrapped by a key store key."""

from __future__ import annotations

import json
import struct

import pytest

from lacuna import crypto
from lacuna.keystore import FileKeyBackend, KeyStore


@pytest.fixture
def keystore(tmp_path):
    return KeyStore(FileKeyBackend(tmp_path / "keys"))


def test_round_trip_and_header(keystore, tmp_path):
    path = tmp_path / "data.csv"
    crypto.write_encrypted(path, b"a,b\n1,2\n", keystore, meta={"exception_id": "EXC-2026-001"})
    assert crypto.is_encrypted(path)
    assert b"1,2" not in path.read_bytes()
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    plain, header = crypto.read_encrypted(path, keystore)
    assert plain == b"a,b\n1,2\n"
    assert (header.key.id, header.key.version) == ("files", 1)
    assert header.meta == {"exception_id": "EXC-2026-001"}
    # a data key per file: the same plaintext twice gives different ciphertexts
    assert crypto.encrypt(b"x", keystore) != crypto.encrypt(b"x", keystore)


def _edit_header(blob: bytes, change) -> bytes:
    (size,) = struct.unpack_from(">I", blob, 8)
    header = json.loads(blob[12:12 + size])
    change(header)
    text = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
    return blob[:8] + struct.pack(">I", len(text)) + text + blob[12 + size:]


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(lambda b: _edit_header(b, lambda h: h["meta"].update(
            exception_id="EXC-2026-999")), id="header-meta"),
        pytest.param(lambda b: b[:-1] + bytes([b[-1] ^ 1]), id="ciphertext"),
        pytest.param(lambda b: _edit_header(b, lambda h: h.update(nonce=h["wrap_nonce"])),
                     id="nonce"),
    ],
)
def test_any_change_is_refused(keystore, tamper):
    blob = crypto.encrypt(b"secret rows", keystore, meta={"exception_id": "EXC-2026-001"})
    with pytest.raises(crypto.DecryptionError, match="altered"):
        crypto.decrypt(tamper(blob), keystore)


def test_rotation_keeps_old_files_readable(keystore):
    old = crypto.encrypt(b"old", keystore)
    keystore.rotate("files")
    new = crypto.encrypt(b"new", keystore)
    assert crypto.read_header(new).key.version == 2
    assert crypto.decrypt(old, keystore)[0] == b"old"
    assert crypto.decrypt(new, keystore)[0] == b"new"


def test_wrong_store_and_not_an_envelope(keystore, tmp_path):
    blob = crypto.encrypt(b"x", keystore)
    other = KeyStore(FileKeyBackend(tmp_path / "other"))
    other.current("files")  # a different key with the same id and version
    with pytest.raises(crypto.DecryptionError, match=r"altered|not the key"):
        crypto.decrypt(blob, other)
    empty = KeyStore(FileKeyBackend(tmp_path / "empty"))
    with pytest.raises(crypto.DecryptionError, match="not in this key store"):
        crypto.decrypt(blob, empty)
    with pytest.raises(crypto.DecryptionError, match="not a file Lacuna encrypted"):
        crypto.decrypt(b"a,b\n1,2\n", keystore)
    # a sealed governed-storage file has its own reader: the error names it
    from lacuna.storage.sealed import MAGIC

    with pytest.raises(crypto.DecryptionError, match="lacuna storage cat"):
        crypto.decrypt(MAGIC + bytes(64), keystore, where="sales.csv")

