"""The governed mount, for real: cp, Python, numpy and pyarrow in their own processes."""

from __future__ import annotations

import json
import os
import sys
import uuid

import pytest

from lacuna.audit import AuditStore
from lacuna.lineage.api import store_at
from lacuna.lineage.records import DatasetRef
from lacuna.lineage.sidecar import read_sidecar
from lacuna.model import Tier

# One Python process does what a user's script would: read through the mount, then write.
SCRIPT = """\
import json, sys
import numpy as np, pandas as pd, pyarrow as pa, pyarrow.parquet as pq
mnt = sys.argv[1]
df = pd.read_csv(f"{mnt}/customers.csv")
sales = pd.read_csv(f"{mnt}/sales.csv")

def open_write(dst):
    with open(dst, "w") as f:
        f.write(df.to_csv(index=False))

WRITES = {
    "open().write": (open_write, "outbox/out.csv"),
    "np.savetxt": (lambda d: np.savetxt(d, df.values, fmt="%s", delimiter=","), "outbox/out.txt"),
    "pyarrow": (lambda d: pq.write_table(pa.Table.from_pandas(df), d), "outbox/out.parquet"),
    "aggregate": (lambda d: df.groupby("region").size().reset_index(name="n").to_csv(
        d, index=False), "outbox/regions.csv"),
    "in place": (open_write, "work/c.csv"),
    "joined": (lambda d: df.merge(sales, on="customer_id").to_parquet(d), "work/joined.parquet"),
}
out = {}
for what, (write, dst) in WRITES.items():
    try:
        write(f"{mnt}/{dst}")
        out[what] = [dst, "wrote", None]
    except OSError as exc:
        out[what] = [dst, "refused", exc.errno]
print(json.dumps(out))
"""
REFUSED = ("open().write", "np.savetxt", "pyarrow")


@pytest.fixture(scope="module")
def script(mount):
    """What the script did: {write: (destination relative to the mount, wrote|refused, errno)}."""
    (mount.mnt / "work").mkdir(exist_ok=True)
    result = mount.run(sys.executable, "-c", SCRIPT, str(mount.mnt), timeout=120)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def _decisions(mount, *, destination=None, source=None):
    store = AuditStore(mount.audit_url)
    try:
        found = [r for r in store.list(limit=None) if r.kind == "decision"]
    finally:
        store.close()
    if destination is not None:
        found = [r for r in found if r.destination == str(destination)]
    if source is not None:
        found = [r for r in found if str(source) in r.data["what"]["sources"]]
    return found


def test_cp_of_pii_to_the_outbox_is_refused_and_nothing_arrives(mount):
    result = mount.run("cp", str(mount.mnt / "customers.csv"), str(mount.mnt / "outbox" / "c.csv"))
    assert result.returncode != 0
    assert "Permission denied" in result.stderr
    assert not (mount.source / "outbox" / "c.csv").exists()
    assert not (mount.mnt / "outbox" / "c.csv").exists()
    [denied] = _decisions(mount, destination=mount.source / "outbox" / "c.csv")
    assert not denied.allowed
    assert denied.action == "export"
    assert denied.policy_id == "P-2024-001"
    assert denied.data["how"]["code_location"].startswith("cp[")
    assert "DENIED export /outbox/c.csv" in mount.log.read_text()


@pytest.mark.parametrize("writer", REFUSED)
def test_python_writes_of_pii_to_the_outbox_are_refused(mount, script, writer):
    dst, outcome, _ = script[writer]
    assert outcome == "refused"
    out = mount.source / dst
    # nothing of the data arrives; np.savetxt creates the file empty before it writes, and
    # that empty file is a write of its own (allowed: it holds nothing)
    assert not out.exists() or out.read_bytes() == b""
    decided = _decisions(mount, destination=out)
    assert [d.data["what"]["column_count"] for d in decided if d.allowed] in ([], [0])
    refusals = [d for d in decided if not d.allowed]
    # one refused write, one decision (two were seen under load: the create's late release
    # decided the refused copy again; test_audit_counts holds that interleaving still)
    assert len(refusals) == 1, [(d.seq, d.policy_id, d.data["how"]["code_location"],
                                 d.data["decision"]["reasoning"][:300]) for d in refusals]
    [denied] = refusals
    assert denied.tier == Tier.PROPRIETARY.value
    assert "PII" in denied.data["what"]["tags"]
    assert denied.data["how"]["code_location"].startswith("python")


def test_an_aggregate_may_leave_through_the_outbox(mount, script):
    dst, outcome, _ = script["aggregate"]
    assert outcome == "wrote"
    assert (mount.source / dst).read_text().splitlines()[0] == "region,n"
    [allowed] = _decisions(mount, destination=mount.source / dst)
    assert allowed.allowed
    assert allowed.action == "export"


def test_reads_and_in_place_work_are_allowed_classified_and_recorded(mount, script):
    (mount.mnt / "work").mkdir(exist_ok=True)
    result = mount.run("cp", str(mount.mnt / "sales.csv"), str(mount.mnt / "work" / "s.csv"))
    assert result.returncode == 0, result.stderr
    # governed storage is sealed at rest: ciphertext on disk, the same bytes through the mount
    assert (mount.source / "work" / "s.csv").read_bytes().startswith(b"LACUNAS1")
    assert (mount.mnt / "work" / "s.csv").read_bytes() == (mount.source / "sales.csv"
                                                            ).read_bytes()
    dst, outcome, _ = script["in place"]
    assert outcome == "wrote"
    assert (mount.mnt / dst).read_text().startswith("customer_id,name,email,")
    label = read_sidecar(mount.source / dst)
    assert label is not None
    assert label.classification.tier is Tier.PROPRIETARY
    assert "PII" in label.classification.tags  # classified from the content written
    reads = _decisions(mount, source=mount.source / "customers.csv")
    assert reads
    assert all(r.allowed for r in reads if r.action == "read")
    [write] = _decisions(mount, destination=mount.source / dst)
    assert write.allowed
    assert write.action == "write"


def test_a_written_file_gets_heuristic_lineage_from_what_its_process_read(mount, script):
    dst, outcome, _ = script["joined"]
    assert outcome == "wrote"
    store = store_at(mount.audit_url)
    [run] = [r for r in store.runs(DatasetRef.of(mount.source / dst))
             if r.status.value == "succeeded"]
    inputs = {v.dataset for v in run.inputs}
    assert {DatasetRef.of(mount.source / "customers.csv"),
            DatasetRef.of(mount.source / "sales.csv")} <= inputs
    assert ("lacuna:lineage", "heuristic") in [tuple(e) for e in run.extra]
    assert run.outputs[0].classification.tier is Tier.PROPRIETARY


def test_moving_a_file_out_of_governed_storage_is_refused(mount):
    (mount.mnt / "work").mkdir(exist_ok=True)
    assert mount.run("cp", str(mount.mnt / "customers.csv"),
                     str(mount.mnt / "work" / "m.csv")).returncode == 0
    result = mount.run("mv", str(mount.mnt / "work" / "m.csv"), str(mount.mnt / "outbox"))
    assert result.returncode != 0
    assert "Permission denied" in result.stderr
    assert (mount.source / "work" / "m.csv").exists()
    assert not (mount.source / "outbox" / "m.csv").exists()


def test_a_read_the_policy_denies_fails_with_eacces(mount):
    result = mount.run("cat", str(mount.mnt / "restricted" / "customers.csv"))
    assert result.returncode != 0
    assert "Permission denied" in result.stderr
    assert result.stdout == ""
    denied = _decisions(mount, source=mount.source / "restricted" / "customers.csv")
    assert denied
    assert not denied[0].allowed
    assert denied[0].policy_id == "T-MOUNT-1"


def test_unreadable_content_is_classified_as_text(mount):
    (mount.mnt / "work").mkdir(exist_ok=True)
    notes = mount.mnt / "work" / "contacts.dat"
    notes.write_text("".join(f"call {n} at {n}.doe{i}@example.org\n"
                             for i, n in enumerate(["maria", "john", "ana", "li"] * 5)))
    label = read_sidecar(mount.source / "work" / "contacts.dat")
    assert label is not None
    assert "PII" in label.classification.tags


def test_lacuna_status_lists_the_users_denials(mount):
    from typer.testing import CliRunner

    from lacuna.cli import app

    name = f"s-{uuid.uuid4().hex[:6]}.csv"
    assert mount.run("cp", str(mount.mnt / "customers.csv"),
                     str(mount.mnt / "outbox" / name)).returncode != 0
    result = CliRunner().invoke(app, ["status", "--json", "--config", str(mount.config),
                                      "-n", "50"])
    assert result.exit_code == 0, result.output
    shown = [json.loads(line) for line in result.output.splitlines()]
    assert any(r["what"]["destination"].endswith(name) for r in shown)
    assert all(not r["decision"]["allowed"] and r["who"]["user_id"] == "analyst_alice"
               for r in shown)
    text = CliRunner().invoke(app, ["status", "--config", str(mount.config)])
    assert name in text.output
    assert "Cannot export PROPRIETARY data" in text.output


def test_the_staging_folder_is_hidden_and_left_empty(mount):
    assert ".lacuna-staging" not in os.listdir(mount.mnt)
    assert not (mount.mnt / ".lacuna-staging").exists()
    assert os.listdir(mount.source / ".lacuna-staging") == []
