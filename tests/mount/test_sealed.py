"""The mount over encrypted governed storage: sealed files read decrypted, decided and audited
(``fuse.read``) through lacuna.storage; files written into governed storage sealed on close."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
import yaml

from lacuna.storage.sealed import MAGIC

# A governed pandas process: writes a PII frame into the mount's SOURCE (a governed root) and
# reads it back; prints what it wrote and what it read.
PANDAS = """\
import json, sys
import pandas as pd
import lacuna
lacuna.enable(sys.argv[1])
path = sys.argv[2]
if sys.argv[3] == "write":
    df = pd.DataFrame({
        "customer_id": [1, 2, 3, 4, 5],
        "email": ["ann@example.com", "bob@example.org", "cy@example.net", "di@example.com",
                  "ed@example.org"],
        "phone": ["+1 415 555 0101", "+1 415 555 0102", "+1 415 555 0103",
                  "+1 415 555 0104", "+1 415 555 0105"],
        "spend": [10.5, 20.25, 30.0, 41.75, 5.0],
    })
    df.to_csv(path, index=False)
    print(json.dumps({"written": df.to_csv(index=False),
                      "read": pd.read_csv(path).to_csv(index=False)}))
else:
    print(json.dumps({"read": pd.read_csv(path).to_csv(index=False)}))
"""
# Plain pandas, no Lacuna in the process: reads through the mount like any program.
PLAIN = "import sys, pandas as pd; print(pd.read_csv(sys.argv[1]).to_csv(index=False), end='')"


def _env(mount) -> dict[str, str]:
    env = {**os.environ, "LACUNA_HOME": str(mount.root / "home")}
    env.pop("LACUNA_CONFIG", None)
    return env


@pytest.fixture(scope="module")
def governed(mount):
    """A lacuna.yaml for pandas with the mount's SOURCE as governed storage (same audit trail,
    key store and signing key as the mount process)."""
    body = yaml.safe_load(mount.config.read_text())
    body["destinations"] = {"governed": [f"{mount.source}/"]}
    path = mount.root / "pandas.yaml"
    path.write_text(yaml.safe_dump(body))
    (mount.source / "sealed").mkdir(exist_ok=True)
    return path


def _pandas(mount, config: Path, path: Path, what: str) -> dict[str, str]:
    import subprocess

    result = subprocess.run([sys.executable, "-c", PANDAS, str(config), str(path), what],
                            capture_output=True, text=True, timeout=120, env=_env(mount),
                            cwd=mount.root, check=False)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.splitlines()[-1])


@pytest.fixture(scope="module")
def written(mount, governed):
    """A PII frame written by governed pandas into SOURCE/sealed/pii.csv."""
    target = mount.source / "sealed" / "pii.csv"
    return target, _pandas(mount, governed, target, "write")


def _audit(mount, dataset: Path) -> list[dict]:
    from typer.testing import CliRunner

    from lacuna.cli import app

    result = CliRunner().invoke(app, ["audit", "list", "--dataset", str(dataset), "--json",
                                      "-n", "200", "--config", str(mount.config)])
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.output.splitlines() if line.strip()]


def test_a_pandas_write_is_ciphertext_on_disk_and_plaintext_through_the_mount(mount, written):
    target, out = written
    raw = target.read_bytes()
    assert raw.startswith(MAGIC)
    assert b"ann@example.com" not in raw
    assert out["read"] == pd_roundtrip(out["written"])
    through = mount.mnt / "sealed" / "pii.csv"
    cat = mount.run("cat", str(through))
    assert cat.returncode == 0, cat.stderr
    assert cat.stdout == out["written"]  # the exact bytes pandas wrote
    assert os.stat(through).st_size == len(out["written"].encode())  # the plaintext size
    plain = mount.run(sys.executable, "-c", PLAIN, str(through))
    assert plain.returncode == 0, plain.stderr
    assert plain.stdout == out["read"]  # equal to the governed pandas round trip
    copy = mount.root / "copied.csv"  # cp relies on the size getattr reports
    assert mount.run("cp", str(through), str(copy)).returncode == 0
    assert copy.read_text() == out["written"]


def pd_roundtrip(text: str) -> str:
    import io

    import pandas as pd

    return pd.read_csv(io.StringIO(text)).to_csv(index=False)


def test_the_audit_answers_who_read_it_through_pandas_and_the_mount(mount, written):
    target, _ = written
    assert mount.run("cat", str(mount.mnt / "sealed" / "pii.csv")).returncode == 0
    records = _audit(mount, target)
    reads = [r for r in records
             if r.get("kind", "decision") == "decision" and r["what"]["action"] == "read"]
    via = {r["how"]["method"] for r in reads}
    assert {"fuse.read", "pandas.read_csv"} <= via, via
    fuse = [r for r in reads if r["how"]["method"] == "fuse.read"]
    assert all(r["decision"]["allowed"] for r in fuse)
    assert all(r["who"]["user_id"] == "analyst_alice" for r in fuse)
    assert any(r["how"]["code_location"].startswith("cat[") for r in fuse)
    assert "PII" in fuse[0]["what"]["tags"]  # decided on the file's signed declaration
    # one decision per open: one cat, one fuse.read decision more
    before = len(fuse)
    assert mount.run("cat", str(mount.mnt / "sealed" / "pii.csv")).returncode == 0
    after = [r for r in _audit(mount, target)
             if r.get("kind", "decision") == "decision" and r["how"]["method"] == "fuse.read"]
    assert len(after) == before + 1


def test_writing_through_the_mount_into_governed_storage_seals_it(mount, governed, written):
    _, out = written
    copy = mount.source / "sealed" / "copy.csv"
    result = mount.run("cp", str(mount.mnt / "sealed" / "pii.csv"), str(copy).replace(
        str(mount.source), str(mount.mnt)))
    assert result.returncode == 0, result.stderr
    raw = copy.read_bytes()
    assert raw.startswith(MAGIC)
    assert b"ann@example.com" not in raw
    assert (mount.mnt / "sealed" / "copy.csv").read_text() == out["written"]
    assert _pandas(mount, governed, copy, "read")["read"] == out["read"]
    assert not list((mount.source / ".lacuna-staging").iterdir())  # no plaintext left behind
    # its signed sidecar (written by the mount, checked by the pandas read) declares the PII
    [read] = [r for r in _audit(mount, copy) if r.get("kind", "decision") == "decision"
              and r["how"]["method"] == "pandas.read_csv"]
    assert "PII" in read["what"]["tags"]
    [write] = [r for r in _audit(mount, copy) if r.get("kind", "decision") == "decision"
               and r["how"]["method"] == "fuse.write"]
    assert write["decision"]["allowed"]
    assert write["what"]["action"] == "write"


def test_a_sealed_file_cannot_leave_through_the_outbox(mount, written):
    result = mount.run("cp", str(mount.mnt / "sealed" / "pii.csv"),
                       str(mount.mnt / "outbox" / "pii.csv"))
    assert result.returncode != 0
    assert not (mount.source / "outbox" / "pii.csv").exists()
    moved = mount.run("mv", str(mount.mnt / "sealed" / "pii.csv"), str(mount.mnt / "outbox"))
    assert moved.returncode != 0
    assert (mount.source / "sealed" / "pii.csv").read_bytes().startswith(MAGIC)


def test_a_write_only_open_decrypts_nothing_off_the_record(mount, written):
    """Opening a sealed file write-only (no O_TRUNC) through the mount stages its plaintext
    for the write: that is a read of it, decided and recorded before anything is decrypted
    (the owner of SOURCE can look into the staging folder while the file is open)."""
    target, out = written
    reads = [r for r in _audit(mount, target)
             if r.get("kind", "decision") == "decision" and r["what"]["action"] == "read"
             and r["how"]["method"] == "fuse.read"]
    fd = os.open(mount.mnt / "sealed" / "pii.csv", os.O_WRONLY)
    try:
        staged = [p for p in (mount.source / ".lacuna-staging").rglob("pii.csv")]
        after = [r for r in _audit(mount, target)
                 if r.get("kind", "decision") == "decision" and r["what"]["action"] == "read"
                 and r["how"]["method"] == "fuse.read"]
        assert [p.read_text() for p in staged] == [out["written"]]
        assert len(after) == len(reads) + 1  # the plaintext copy exists only on the record
    finally:
        os.close(fd)
