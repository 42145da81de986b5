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

READ_CUSTOMERS = "import pandas as pd\ndf = pd.read_csv({src!r})\n"
WRITERS = {
    "open().write": "with open({dst!r}, 'w') as f:\n    f.write(df.to_csv(index=False))\n",
    "np.savetxt": "import numpy as np\nnp.savetxt({dst!r}, df.values, fmt='%s', delimiter=',')\n",
    "pyarrow": ("import pyarrow as pa, pyarrow.parquet as pq\n"
                "pq.write_table(pa.Table.from_pandas(df), {dst!r})\n"),
}
EXTENSIONS = {"open().write": "csv", "np.savetxt": "txt", "pyarrow": "parquet"}
GUARD = ("try:\n{body}    print('WROTE')\nexcept OSError as exc:\n"
         "    print('REFUSED', exc.errno, type(exc).__name__, exc)\n")


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


def _script(writer: str, src, dst) -> str:
    body = "".join(f"    {line}\n" for line in WRITERS[writer].format(dst=str(dst)).splitlines())
    return READ_CUSTOMERS.format(src=str(src)) + GUARD.format(body=body)


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


@pytest.mark.parametrize("writer", sorted(WRITERS))
def test_python_writes_of_pii_to_the_outbox_are_refused(mount, writer):
    dst = mount.mnt / "outbox" / f"out-{writer[:2]}.{EXTENSIONS[writer]}"
    result = mount.python(_script(writer, mount.mnt / "customers.csv", dst))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("REFUSED"), result.stdout
    assert not (mount.source / "outbox" / dst.name).exists()
    [denied] = _decisions(mount, destination=mount.source / "outbox" / dst.name)
    assert not denied.allowed and denied.tier == Tier.PROPRIETARY.value
    assert "PII" in denied.data["what"]["tags"]


def test_an_aggregate_may_leave_through_the_outbox(mount):
    dst = mount.mnt / "outbox" / "regions.csv"
    code = READ_CUSTOMERS.format(src=str(mount.mnt / "customers.csv")) + (
        f"df.groupby('region').size().reset_index(name='n').to_csv({str(dst)!r}, index=False)\n")
    result = mount.python(code)
    assert result.returncode == 0, result.stderr
    arrived = (mount.source / "outbox" / "regions.csv").read_text()
    assert arrived.splitlines()[0] == "region,n"
    [allowed] = _decisions(mount, destination=mount.source / "outbox" / "regions.csv")
    assert allowed.allowed and allowed.action == "export"


def test_reads_and_in_place_work_are_allowed_classified_and_recorded(mount):
    (mount.mnt / "work").mkdir(exist_ok=True)
    result = mount.run("cp", str(mount.mnt / "sales.csv"), str(mount.mnt / "work" / "s.csv"))
    assert result.returncode == 0, result.stderr
    assert (mount.source / "work" / "s.csv").read_bytes() == (mount.source / "sales.csv"
                                                               ).read_bytes()
    copied = mount.python(_script("open().write", mount.mnt / "customers.csv",
                                  mount.mnt / "work" / "c.csv"))
    assert copied.stdout.startswith("WROTE"), copied.stdout + copied.stderr
    label = read_sidecar(mount.source / "work" / "c.csv")
    assert label is not None and label.classification.tier is Tier.PROPRIETARY
    assert "PII" in label.classification.tags  # classified from the content written
    reads = _decisions(mount, source=mount.source / "customers.csv")
    assert reads and all(r.allowed for r in reads if r.action == "read")
    [write] = _decisions(mount, destination=mount.source / "work" / "c.csv")
    assert write.allowed and write.action == "write"


def test_a_written_file_gets_heuristic_lineage_from_what_its_process_read(mount):
    (mount.mnt / "work").mkdir(exist_ok=True)
    out = mount.mnt / "work" / "joined.parquet"
    code = (f"import pandas as pd\nc = pd.read_csv({str(mount.mnt / 'customers.csv')!r})\n"
            f"s = pd.read_csv({str(mount.mnt / 'sales.csv')!r})\n"
            f"c.merge(s, on='customer_id').to_parquet({str(out)!r})\n")
    result = mount.python(code)
    assert result.returncode == 0, result.stderr
    store = store_at(mount.audit_url)
    runs = store.runs(DatasetRef.of(mount.source / "work" / "joined.parquet"))
    [run] = [r for r in runs if r.status.value == "succeeded"]
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
    assert result.returncode != 0 and "Permission denied" in result.stderr
    assert (mount.source / "work" / "m.csv").exists()
    assert not (mount.source / "outbox" / "m.csv").exists()


def test_a_read_the_policy_denies_fails_with_eacces(mount):
    result = mount.run("cat", str(mount.mnt / "restricted" / "customers.csv"))
    assert result.returncode != 0 and "Permission denied" in result.stderr
    assert result.stdout == ""
    denied = _decisions(mount, source=mount.source / "restricted" / "customers.csv")
    assert denied and not denied[0].allowed and denied[0].policy_id == "T-MOUNT-1"


def test_unreadable_content_is_classified_as_text(mount):
    (mount.mnt / "work").mkdir(exist_ok=True)
    notes = mount.mnt / "work" / "contacts.dat"
    notes.write_text("".join(f"call {n} at {n}.doe{i}@example.org\n"
                             for i, n in enumerate(["maria", "john", "ana", "li"] * 5)))
    label = read_sidecar(mount.source / "work" / "contacts.dat")
    assert label is not None and "PII" in label.classification.tags


def test_lacuna_status_lists_the_users_denials(mount):
    name = f"s-{uuid.uuid4().hex[:6]}.csv"
    assert mount.run("cp", str(mount.mnt / "customers.csv"),
                     str(mount.mnt / "outbox" / name)).returncode != 0
    env = {**os.environ, "LACUNA_HOME": str(mount.root / "home")}
    import subprocess

    result = subprocess.run([sys.executable, "-m", "lacuna", "status", "--json", "--config",
                             str(mount.config), "-n", "50"], capture_output=True, text=True,
                            env=env, check=False, timeout=60)
    assert result.returncode == 0, result.stderr
    shown = [json.loads(line) for line in result.stdout.splitlines()]
    assert any(r["what"]["destination"].endswith(name) for r in shown)
    assert all(not r["decision"]["allowed"] and r["who"]["user_id"] == "analyst_alice"
               for r in shown)


def test_the_staging_folder_is_hidden_and_left_empty(mount):
    assert ".lacuna-staging" not in os.listdir(mount.mnt)
    assert not (mount.mnt / ".lacuna-staging").exists()
    assert os.listdir(mount.source / ".lacuna-staging") == []
