"""`lacuna storage status` of a sealed file whose header is intact but whose body was cut: it
said "sealed", exit 0. Now the length is checked without a key (cut after the key slots or
inside the last tag) and the last segment is authenticated with the key store (cut anywhere
else, at a segment boundary too): damaged, exit 1, every path still reported."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from lacuna.cli import app
from lacuna.governor import current
from lacuna.keystore import keystore_for
from lacuna.storage import sealed
from storage.conftest import customers

runner = CliRunner()


def _body(path: Path) -> int:
    with open(path, "rb") as fh:
        return sealed._parse(fh, str(path))[2]  # type: ignore[no-any-return]


def _status(*paths: Path) -> tuple[int, str]:
    result = runner.invoke(app, ["storage", "status", *map(str, paths)])
    return result.exit_code, " ".join(result.output.split())


def test_storage_status_reports_a_truncated_body_as_damaged_as_every_reader_does(
        vault: Path) -> None:
    path = vault / "customers.csv"
    customers().to_csv(path, index=False)
    multi = vault / "multi.bin"  # four segments of 64 bytes: 64, 64, 64, 8
    writer = sealed.SealedWriter(multi, keystore_for(current().config), key_id="storage",
                                 segment=64)
    writer.write(b"x" * 200)
    writer.close()
    whole, body = path.read_bytes(), _body(path)
    cuts = {
        "slots_only": whole[:body],  # no segment at all
        "in_tag": whole[:body + 10],  # shorter than a tag
        "in_data": whole[:-5],  # a plausible length: only the tag tells
        "boundary": multi.read_bytes()[:_body(multi) + 2 * (64 + sealed.TAG_BYTES)],
    }
    for name, data in cuts.items():
        (vault / f"{name}.csv").write_bytes(data)
    code, said = _status(*(vault / f"{name}.csv" for name in cuts), path)
    assert code == 1, said
    for name in cuts:
        assert f"{vault / name}.csv: damaged" in said, name
    assert f"{path}: sealed, key storage v1" in said  # the others are still reported
    assert _status(path, multi)[0] == 0  # whole files are fine
    # the nonce prefix was checked by a second parse at open only: `status` (read_header)
    # called a file sealed that no read could open, and plaintext_size sized a file cut
    # inside its last tag (0 bytes) that every read refuses as truncated
    store = keystore_for(current().config)
    bad = {"short_prefix": _with_header(whole, nonce_prefix="00" * 6),
           "in_tag": whole[:_body(path) + 10]}
    for name, data in bad.items():
        target = vault / name
        target.write_bytes(data)
        for look in (sealed.read_header, sealed.plaintext_size, sealed.check,
                     lambda p: sealed.SealedReader(p, store)):
            if name == "in_tag" and look is sealed.read_header:
                continue  # the header alone is intact: read_header does not look further
            with pytest.raises(sealed.StorageError):
                look(target)
    assert sealed.plaintext_size(path) == len(customers().to_csv(index=False).encode())
    assert sealed.check(path) == sealed.read_header(path)


def test_storage_status_says_a_file_it_cannot_verify_is_not_fine(
        vault: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = vault / "customers.csv"
    customers().to_csv(path, index=False)
    home = vault.parent / "elsewhere"
    home.mkdir()
    monkeypatch.setenv("LACUNA_HOME", str(home))  # a key store without the file's key
    from lacuna import keystore

    monkeypatch.setattr(keystore, "_DEFAULT", {})
    code, said = _status(path)
    assert code == 1, said
    # it said "damaged or not verifiable here": an operator restored a whole file from a
    # backup, when the key store was the one to fix
    assert f"{path}: NOT VERIFIED, its key is not in this key store (key storage v1" in said
    assert str(home / "storage.key") in said  # where it looked
    assert "not known to be damaged" in said
    assert f"{path}: damaged" not in said
    # a key store whose key of that name and version is another one: said so, not "missing"
    keystore.keystore_for(current().config).current("storage")  # v1, other material
    code, said = _status(path)
    assert code == 1, said
    assert "NOT VERIFIED, the key store's key storage v1 (file) does not open it" in said


def test_storage_status_without_a_key_store_still_checks_every_file(
        vault: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A key store that cannot be opened ended `status` at the first sealed file (exit 2):
    the files after it were not looked at, not even their headers and lengths. Now each one
    is checked without a key and reported, the whole ones as not verified."""
    whole, cut = vault / "whole.csv", vault / "cut.csv"
    customers().to_csv(whole, index=False)
    cut.write_bytes(whole.read_bytes()[:_body(whole) + 10])  # inside the tag: found key-less
    from lacuna import keystore
    from lacuna.errors import ConfigError

    def broken(config: object) -> None:
        msg = "the vault backend is unreachable"
        raise ConfigError(msg)

    working = keystore.keystore_for
    monkeypatch.setattr(keystore, "keystore_for", broken)
    code, said = _status(whole, cut, whole)
    assert code == 2, said
    assert said.count(f"{whole}: NOT VERIFIED, sealed with key storage v1") == 2
    assert "the vault backend is unreachable" in said
    assert f"{cut}: damaged" in said
    monkeypatch.setattr(keystore, "keystore_for", working)
    assert _status(whole)[0] == 0


def _with_header(raw: bytes, **changes: object) -> bytes:
    import json
    import struct

    (size,) = struct.unpack_from(">I", raw, len(sealed.MAGIC))
    start = len(sealed.MAGIC) + 4
    header = {**json.loads(raw[start:start + size]), **changes}
    text = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
    return sealed.MAGIC + struct.pack(">I", len(text)) + text + raw[start + size:]
