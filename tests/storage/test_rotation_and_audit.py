"""Key rotation and re-wrap, who-read-this-file, and denial before decryption."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

import lacuna
from bundles import contractor_denying_bundle
from lacuna import storage
from lacuna.cli import app
from lacuna.errors import GovernanceViolation
from lacuna.governor import current
from lacuna.keystore import keystore_for
from lacuna.storage import sealed
from storage.conftest import customers, write_config

runner = CliRunner()


def _key_file(tmp_path: Path) -> Path:
    return tmp_path / ".lacuna-home" / "storage.key"


def _payload(path: Path) -> bytes:
    raw = path.read_bytes()
    (size,) = struct.unpack_from(">I", raw, len(sealed.MAGIC))
    return raw[len(sealed.MAGIC) + 4 + size + 2 * sealed.SLOT_BYTES:]


def test_rotate_then_rewrap_without_rewriting_payloads(vault: Path, tmp_path: Path) -> None:
    path = vault / "customers.csv"
    df = customers()
    df.to_csv(path, index=False)
    assert storage.read_header(path).key.version == 1
    body_before = _payload(path)

    result = runner.invoke(app, ["keys", "rotate", "-c", str(tmp_path / "lacuna.yaml")])
    assert result.exit_code == 0, result.output
    assert "v2 is now current" in result.output
    # not yet re-wrapped: still v1, and still readable with v1 (old versions stay)
    assert storage.read_header(path).key.version == 1
    pd.testing.assert_frame_equal(pd.read_csv(path), df)
    # a new write uses v2
    df.to_csv(vault / "new.csv", index=False)
    assert storage.read_header(vault / "new.csv").key.version == 2

    result = runner.invoke(app, ["storage", "rewrap", "-c", str(tmp_path / "lacuna.yaml")])
    assert result.exit_code == 0, result.output
    assert "1 of 2 sealed file(s) re-wrapped, 1 already current, 0 failed" in result.output
    assert storage.read_header(path).key.version == 2
    assert _payload(path) == body_before  # the payload was not rewritten

    # v1 can now be destroyed: the file opens with v2 alone, same values and classification
    keys = _key_file(tmp_path)
    keys.write_text("".join(line + "\n" for line in keys.read_text().splitlines()
                            if line.startswith("2 ")))
    keystore_for(current().config)._cache.clear()
    back = pd.read_csv(path)
    pd.testing.assert_frame_equal(back, df)
    assert str(back.lacuna_classification) == str(lacuna.classify(df))
    assert "PII" in back.lacuna_classification.tags  # the re-signed sidecar is trusted
    from lacuna.lineage.sidecar import read_sidecar

    sidecar = read_sidecar(path)
    assert sidecar is not None
    assert sidecar.trusted


def test_who_read_this_file(vault: Path, tmp_path: Path) -> None:
    path = vault / "customers.parquet"
    customers().to_parquet(path)
    pd.read_parquet(path)
    with lacuna.governed(user={"id": "bob", "role": "data_analyst"}):
        pd.read_parquet(str(path))
    other = vault / "other.csv"
    customers().to_csv(other, index=False)
    pd.read_csv(other)

    config = str(tmp_path / "lacuna.yaml")
    result = runner.invoke(app, ["audit", "list", "--dataset", str(path), "--since", "90d",
                                 "--action", "read", "--json", "--config", config])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.output.splitlines()]
    decisions = [r for r in rows if r.get("kind") != "outcome"]
    assert {r["who"]["user_id"] for r in decisions} == {"analyst_alice", "bob"}
    methods = {r["how"]["method"] for r in decisions}
    assert {"pandas.read_parquet"} <= methods
    # every plaintext access has a decision before it and a succeeded outcome after it
    opened = [r for r in decisions if r["what"]["sources"] == [str(path.resolve())]]
    assert len(opened) == 2  # one decision per read: the values showed nothing new
    outcomes = {r["outcome"]["of"]: r["outcome"]["status"] for r in rows
                if r.get("kind") == "outcome"}
    assert all(outcomes.get(r["id"]) == "succeeded" for r in opened)
    assert all(str(other) not in json.dumps(r["what"]) for r in rows)
    # the table form names the readers too
    result = runner.invoke(app, ["audit", "list", "--dataset", str(path), "--config", config],
                           env={"COLUMNS": "200"})
    assert "bob" in result.output
    assert "analyst_alice" in result.output
    assert "pandas.read_parquet" in result.output
    result = runner.invoke(app, ["audit", "list", "--since", "yesterday-ish", "--config", config])
    assert result.exit_code == 2
    assert "neither a duration" in result.output


def test_a_denied_read_decrypts_nothing(tmp_path: Path) -> None:
    bundle = contractor_denying_bundle(tmp_path)
    config = write_config(tmp_path, policy={"dir": str(bundle)})
    lacuna.enable(str(config))
    path = tmp_path / "governed" / "workspace" / "customers.csv"
    customers().to_csv(path, index=False)
    opened: list[object] = []
    original = sealed.SealedReader.__init__

    def spy(self: sealed.SealedReader, *args: object, **kwargs: object) -> None:
        opened.append(args[0])
        original(self, *args, **kwargs)  # type: ignore[arg-type]

    sealed.SealedReader.__init__ = spy  # type: ignore[method-assign]
    try:
        with lacuna.governed(user={"id": "carl", "role": "contractor"}), pytest.raises(
                GovernanceViolation, match="contractors may not read"):
            pd.read_csv(path)
        assert opened == []  # denied before the file was even opened for decryption
        assert len(pd.read_csv(path)) == 4  # the analyst may
        assert len(opened) == 1
    finally:
        sealed.SealedReader.__init__ = original  # type: ignore[method-assign]
    records = current().audit.list(limit=None, user="carl", action="read")
    assert [r.allowed for r in records] == [False]


def _trusted(path: Path) -> bool:
    from lacuna.lineage.sidecar import read_sidecar

    found = read_sidecar(path)
    return found is not None and found.trusted


def test_an_interrupted_rewrap_leaves_every_sidecar_trusted(vault: Path, monkeypatch) -> None:
    """A crash after a file's new key slot is written, before its sidecar is signed again: the
    sidecar must still verify (else the file is read as PROPRIETARY and retention keeps it
    forever), and the next rewrap finishes the job."""
    from lacuna.storage import rotation

    for name in "abc":
        pd.DataFrame({"n": [1, 2, 3]}).to_csv(vault / f"{name}.csv", index=False)
    keystore_for(current().config).rotate("storage")
    real = sealed.rewrap

    def crash_on_b(path, keystore, *, key_id):  # type: ignore[no-untyped-def]
        if Path(path).name == "b.csv":
            with open(path, "r+b") as fh:  # the new slot is written, the old one still live
                layout = sealed._open(fh, str(path), keystore)
                fh.seek(0)
                body = sealed._parse(fh, str(path)).body
                fh.seek(body - sealed.SLOT_BYTES)
                fh.write(sealed._slot(keystore.current(key_id), layout.data_key,
                                      layout.header.file_id))
            raise KeyboardInterrupt
        return real(path, keystore, key_id=key_id)

    monkeypatch.setattr(rotation, "rewrap", crash_on_b)
    with pytest.raises(KeyboardInterrupt):
        rotation.rewrap_files(current(), [vault])
    assert [_trusted(vault / f"{n}.csv") for n in "abc"] == [True, True, True]
    assert [storage.read_governed(vault / f"{n}.csv") for n in "abc"] == [b"n\n1\n2\n3\n"] * 3
    monkeypatch.setattr(rotation, "rewrap", real)
    done = rotation.rewrap_files(current(), [vault])
    assert [(r.error, r.after.version) for r in done] == [(None, 2)] * 3  # type: ignore[union-attr]
    assert [_trusted(vault / f"{n}.csv") for n in "abc"] == [True, True, True]
    assert [sealed.read_header(vault / f"{n}.csv").key.version for n in "abc"] == [2, 2, 2]


def test_a_rewrap_leaves_a_folder_datasets_sidecar_trusted(vault: Path) -> None:
    """pyarrow's write_dataset: a folder of sealed files under one sidecar, which the re-wrap
    of its files must not make stale."""
    import pyarrow as pa
    import pyarrow.dataset as ds

    from lacuna.storage.rotation import rewrap_files

    ds.write_dataset(pa.table({"n": [1, 2, 3], "k": ["a", "b", "a"]}), vault / "folder",
                     format="parquet", partitioning=["k"])
    assert _trusted(vault / "folder")
    keystore_for(current().config).rotate("storage")
    assert [r.changed for r in rewrap_files(current(), [vault])] == [True, True]
    assert _trusted(vault / "folder")


def test_a_sidecar_signed_over_a_sealed_files_bytes_still_verifies(vault: Path) -> None:
    """Sidecars written before sealed files had a fingerprint of their own bind the bytes."""
    from lacuna.lineage import sidecar as sc

    path = vault / "old.csv"
    pd.DataFrame({"n": [1, 2, 3]}).to_csv(path, index=False)
    body = json.loads(sc.sidecar_path(path).read_text())
    assert body["content"]["mode"] == "sealed"
    del body["signature"]
    body["content"] = sc.fingerprint(path, sealed=False)
    body["signature"] = sc._signer().sign(body)
    sc.sidecar_path(path).write_text(json.dumps(body))
    assert _trusted(path)
    data = path.read_bytes()  # still stale when the bytes change (the last one flipped: a
    path.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))  # tag's last byte is 0 one time in 256)
    assert not _trusted(path)


def test_storage_status_of_a_mistyped_path_says_no_such_file(vault: Path) -> None:
    """`lacuna storage status` said a missing file was 'NOT sealed (plaintext...)', exit 0."""
    path = vault / "customers.csv"
    customers().to_csv(path, index=False)
    plain = vault.parent / "plain.csv"
    plain.write_text("a\n1\n")
    result = runner.invoke(app, ["storage", "status", str(path), str(vault / "custmers.csv"),
                                 str(plain)])
    assert result.exit_code == 2
    said = " ".join(result.output.split())
    assert f"{vault / 'custmers.csv'}: no such file: check the path" in said
    assert f"{path}: sealed, key storage v1" in said  # the others are still reported
    assert f"{plain}: NOT sealed" in said
    ok = runner.invoke(app, ["storage", "status", str(path)])
    assert ok.exit_code == 0, ok.output


def test_storage_status_of_a_damaged_header_exits_1(vault: Path) -> None:
    """A sealed file whose header no longer reads was listed as damaged, exit 0: a script
    checking its files saw nothing wrong."""
    path = vault / "customers.csv"
    customers().to_csv(path, index=False)
    broken = vault / "broken.csv"
    broken.write_bytes(path.read_bytes()[:12])  # the magic, then nothing of the header
    result = runner.invoke(app, ["storage", "status", str(broken), str(path)])
    assert result.exit_code == 1, result.output
    said = " ".join(result.output.split())
    assert f"{broken}: damaged" in said
    assert f"{path}: sealed, key storage v1" in said  # the others are still reported


def test_a_rewrap_signs_no_sidecar_over_a_file_written_meanwhile(vault: Path, monkeypatch) -> None:
    """A write replaces the file while it is re-wrapped, its own sidecar not signed yet: the
    re-wrap signed the old file's sidecar (its class, its write time and clock) over the new
    file, which then read as trusted old data. Now that sidecar stays as it was, untrusted
    for the new file (read as PROPRIETARY until its writer signs its own); an undisturbed
    re-wrap leaves the sidecar trusted, and byte for byte as it was (it binds the sealed
    header, which a re-wrap does not change)."""
    import os
    import shutil

    from lacuna.lineage import sidecar as sc
    from lacuna.storage import rotation

    pd.DataFrame({"n": [1, 2]}).to_csv(vault / "a.csv", index=False)
    pd.DataFrame({"n": [3, 4]}).to_csv(vault / "b.csv", index=False)
    customers().to_csv(vault / "secret.csv", index=False)
    signed = sc.sidecar_path(vault / "b.csv").read_bytes()
    keystore_for(current().config).rotate("storage")
    real = rotation.rewrap

    def racing(path, keystore, *, key_id):  # type: ignore[no-untyped-def]
        done = real(path, keystore, key_id=key_id)
        if Path(path).name == "a.csv":  # a sealed write renames its file into place
            shutil.copyfile(vault / "secret.csv", vault / ".a.csv.sealing")
            os.replace(vault / ".a.csv.sealing", path)
        return done

    monkeypatch.setattr(rotation, "rewrap", racing)
    done = rotation.rewrap_files(current(), [vault / "a.csv", vault / "b.csv"])
    assert [(r.error, r.changed) for r in done] == [(None, True), (None, True)]
    assert not _trusted(vault / "a.csv")
    assert _trusted(vault / "b.csv")
    assert sc.sidecar_path(vault / "b.csv").read_bytes() == signed
    assert sealed.read_header(vault / "b.csv").key.version == 2
