"""``lacuna_lineage_versions.trusted`` is a plain boolean in a file the analyst owns: a row
marked trusted is believed only when its signature (the store's keyring, inside the
``classification`` column) holds for its dataset, run, content fingerprint, classification and
columns.

A row written by hand with ``trusted = 1`` and a PUBLIC classification for a PII file's
fingerprint, an ingested claim flipped to trusted, a trusted row moved to other content, or one
recorded before versions were signed: none is restored, so a read classifies the content again.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from lacuna.lineage.records import ColumnEdge, DatasetRef, DatasetVersion, EdgeKind, Run, RunStatus
from lacuna.lineage.store import LineageStore
from lacuna.model import Classification, ColumnClass, ColumnKind, Tier
from lacuna.signing import Keyring, Signer

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
PII = Classification(tier=Tier.PROPRIETARY, tags=("PII",), columns={
    "email": ColumnClass(classification=ColumnKind.PII, pii_type="email")})
PUBLIC = Classification(tier=Tier.PUBLIC, columns={"email": ColumnClass()})
CUSTOMERS = DatasetRef("file", "/data/customers.csv")


def _run(run_id: str, out: DatasetVersion, *, inputs: tuple[DatasetVersion, ...] = (),
         edges: tuple[ColumnEdge, ...] = ()) -> Run:
    return Run(id=run_id, operation="export", status=RunStatus.SUCCEEDED, inputs=inputs,
               outputs=(out,), column_edges=edges, started_at=T0,
               ended_at=T0 + timedelta(seconds=1))


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "state.db"


@pytest.fixture
def store(db: Path):
    with LineageStore(f"sqlite:///{db}") as s:  # the installation's key (LACUNA_HOME)
        yield s


def _forge(db: Path, ref: DatasetRef, fingerprint: str, c: Classification) -> None:
    """What an analyst can do with sqlite3: a version marked trusted, written by hand."""
    with sqlite3.connect(db) as conn:
        conn.execute("INSERT OR IGNORE INTO lacuna_lineage_datasets (namespace, name) "
                     "VALUES (?, ?)", (ref.namespace, ref.name))
        (did,) = conn.execute("SELECT id FROM lacuna_lineage_datasets WHERE namespace = ? AND "
                              "name = ?", (ref.namespace, ref.name)).fetchone()
        conn.execute(
            "INSERT INTO lacuna_lineage_versions (dataset_id, run_id, fingerprint, tier, "
            "classification, columns, created, produced, trusted, dismissed) "
            "VALUES (?, 'forged', ?, ?, ?, '[\"email\"]', '2030-01-01T00:00:00', 1, 1, 0)",
            (did, fingerprint, c.tier.value, json.dumps(c.to_dict(), sort_keys=True)))


def _sql(db: Path, statement: str, *args: object) -> None:
    with sqlite3.connect(db) as conn:
        conn.execute(statement, args)


def test_a_trusted_version_lacuna_recorded_is_believed(store: LineageStore) -> None:
    store.record(_run("r1", DatasetVersion(dataset=CUSTOMERS, classification=PII,
                                           fingerprint="sha256:c", columns=("email",))))
    own = store.produced_with("sha256:c", CUSTOMERS, trusted=True)
    assert own is not None
    assert own[1] == "r1"
    assert own[0].classification.tier is Tier.PROPRIETARY
    assert store.by_fingerprint("sha256:c", trusted=True) is not None
    latest = store.latest(CUSTOMERS, trusted=True)
    assert latest is not None
    assert latest.classification.tier is Tier.PROPRIETARY


def test_a_hand_written_trusted_row_does_not_lower_the_content(
        store: LineageStore, db: Path, caplog: pytest.LogCaptureFixture) -> None:
    store.record(_run("r1", DatasetVersion(dataset=CUSTOMERS, classification=PII,
                                           fingerprint="sha256:c", columns=("email",))))
    _forge(db, CUSTOMERS, "sha256:c", PUBLIC)  # newer than Lacuna's own
    _forge(db, DatasetRef("file", "/tmp/copy.csv"), "sha256:copy", PUBLIC)  # a "copy"
    with caplog.at_level(logging.WARNING, logger="lacuna.lineage.store"):
        own = store.produced_with("sha256:c", CUSTOMERS, trusted=True)
        assert own is not None
        assert own[1] == "r1"  # the forged row is skipped, not believed
        assert own[0].classification.tier is Tier.PROPRIETARY
        latest = store.latest(CUSTOMERS, trusted=True)
        assert latest is not None
        assert latest.classification.tier is Tier.PROPRIETARY
        found = store.by_fingerprint("sha256:c", trusted=True)
        assert found is not None
        assert found.classification.tier is Tier.PROPRIETARY
        assert store.produced_with("sha256:copy", trusted=True) is None
        assert store.by_fingerprint("sha256:copy", trusted=True) is None
    assert "does not verify" in caplog.text


def test_an_ingested_claim_flipped_to_trusted_is_not_believed(
        store: LineageStore, db: Path) -> None:
    store.record(_run("claim", DatasetVersion(dataset=CUSTOMERS, classification=PUBLIC,
                                              fingerprint="sha256:c", columns=("email",))),
                 trusted=False)
    _sql(db, "UPDATE lacuna_lineage_versions SET trusted = 1")
    assert store.produced_with("sha256:c", trusted=True) is None
    assert store.by_fingerprint("sha256:c", trusted=True) is None
    assert store.latest(CUSTOMERS, trusted=True) is None


@pytest.mark.parametrize("edit", [
    "UPDATE lacuna_lineage_versions SET fingerprint = 'sha256:other'",  # moved to other content
    "UPDATE lacuna_lineage_versions SET classification = "  # declassified in place
    "replace(classification, '\"PROPRIETARY\"', '\"PUBLIC\"')",
    "UPDATE lacuna_lineage_versions SET classification = "  # recorded before signing
    "json_remove(classification, '$.signature')",
    "UPDATE lacuna_lineage_versions SET dataset_id = (SELECT id FROM "  # another dataset
    "lacuna_lineage_datasets WHERE name = '/data/other.csv')",
])
def test_a_trusted_row_edited_by_hand_is_not_believed(
        store: LineageStore, db: Path, edit: str) -> None:
    other = DatasetRef("file", "/data/other.csv")
    store.record(_run("r1", DatasetVersion(dataset=CUSTOMERS, classification=PII,
                                           fingerprint="sha256:c", columns=("email",)),
                      inputs=(DatasetVersion(dataset=other, classification=PII),)))
    _sql(db, edit + " WHERE run_id = 'r1' AND dataset_id = (SELECT id FROM "
         "lacuna_lineage_datasets WHERE name = '/data/customers.csv')")
    for fp in ("sha256:c", "sha256:other"):
        assert store.produced_with(fp, trusted=True) is None
    assert store.latest(CUSTOMERS, trusted=True) is None


def test_a_fingerprint_set_later_is_signed_again(store: LineageStore) -> None:
    store.record(_run("r1", DatasetVersion(dataset=CUSTOMERS, classification=PII,
                                           columns=("email",))))
    assert store.set_fingerprint("r1", CUSTOMERS, "sha256:later") == 1
    own = store.produced_with("sha256:later", CUSTOMERS, trusted=True)
    assert own is not None
    assert own[0].classification.tier is Tier.PROPRIETARY


def test_a_row_signed_by_another_key_is_not_believed(db: Path) -> None:
    with LineageStore(f"sqlite:///{db}", keyring=Keyring(Signer(b"x" * 32))) as other:
        other.record(_run("r1", DatasetVersion(dataset=CUSTOMERS, classification=PUBLIC,
                                               fingerprint="sha256:c", columns=("email",))))
    with LineageStore(f"sqlite:///{db}") as store:
        assert store.produced_with("sha256:c", trusted=True) is None


def test_column_edges_of_a_flipped_run_are_not_vouched_for(
        store: LineageStore, db: Path) -> None:
    out = DatasetVersion(dataset=DatasetRef("file", "/data/masked.csv"),
                         classification=PUBLIC, columns=("email",))
    masking = ColumnEdge(source=CUSTOMERS, source_column="email", target=out.dataset,
                         target_column="email", kind=EdgeKind.MASKING, description="claimed")
    store.record(_run("claim", out, inputs=(DatasetVersion(dataset=CUSTOMERS,
                                                             classification=PII),),
                      edges=(masking,)), trusted=False)
    _sql(db, "UPDATE lacuna_lineage_versions SET trusted = 1")
    assert store.column_edges(trusted=True) == []
    assert store.column_edges(trusted=False) == [masking]


def test_column_edges_of_lacunas_own_run_are_vouched_for(store: LineageStore) -> None:
    out = DatasetVersion(dataset=DatasetRef("file", "/data/masked.csv"),
                         classification=PUBLIC, columns=("email",))
    masking = ColumnEdge(source=CUSTOMERS, source_column="email", target=out.dataset,
                         target_column="email", kind=EdgeKind.MASKING, description="sha256")
    store.record(_run("own", out, inputs=(DatasetVersion(dataset=CUSTOMERS,
                                                           classification=PII),),
                      edges=(masking,)))
    assert store.column_edges(trusted=True) == [masking]
    assert store.column_edges(trusted=False) == []


@pytest.mark.parametrize("edit", [
    # a masking edge added by hand to Lacuna's own run (dbt's masking_verified would count it)
    "INSERT INTO lacuna_lineage_column_edges (run_id, source_id, source_column, target_id, "
    "target_column, kind, description) SELECT run_id, source_id, 'ssn', target_id, 'ssn', "
    "'masking', 'by hand' FROM lacuna_lineage_column_edges",
    "UPDATE lacuna_lineage_column_edges SET kind = 'masking'",  # a copy made a masking
])
def test_a_column_edge_written_by_hand_into_lacunas_own_run_is_not_vouched_for(
        store: LineageStore, db: Path, edit: str) -> None:
    out = DatasetVersion(dataset=DatasetRef("file", "/data/out.csv"),
                         classification=PII, columns=("email", "ssn"))
    copy = ColumnEdge(source=CUSTOMERS, source_column="email", target=out.dataset,
                      target_column="email", kind=EdgeKind.IDENTITY, description="copied")
    store.record(_run("own", out, inputs=(DatasetVersion(dataset=CUSTOMERS,
                                                           classification=PII),),
                      edges=(copy,)))
    assert store.column_edges(trusted=True) == [copy]
    _sql(db, edit)
    assert all(e.kind is not EdgeKind.MASKING for e in store.column_edges(trusted=True))
    assert store.column_edges(trusted=True) == []


READ = """
import json, pandas as pd, lacuna
lacuna.enable("lacuna.yaml")
c = pd.read_csv("customers.csv").lacuna.classification
print(json.dumps({"tier": c.tier.value, "email": c.columns["email"].classification.value}))
"""


def _read(sandbox: Path) -> dict[str, str]:
    out = subprocess.run([sys.executable, "-c", READ], cwd=sandbox, capture_output=True,
                         text=True, timeout=120, env={**os.environ}, check=False)
    assert out.returncode == 0, out.stderr
    result: dict[str, str] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def test_a_read_is_not_restored_from_a_hand_written_trusted_row(sandbox: Path) -> None:
    """The whole attack: an analyst writes a trusted PUBLIC version for the fingerprint of
    customers.csv with sqlite3; a later read of the file is still classified from its values."""
    from lacuna.lineage.recording import file_fingerprint

    db = sandbox / "state.db"
    (sandbox / "lacuna.yaml").write_text(
        f'user: {{id: ana, role: data_analyst}}\naudit: {{url: "sqlite:///{db}"}}\n'
        "storage: {encrypt: false}\n")
    before = _read(sandbox)
    assert before["email"] == "pii"
    path = sandbox / "customers.csv"
    fingerprint = file_fingerprint(DatasetRef.of(str(path)))
    assert fingerprint is not None
    with LineageStore(f"sqlite:///{db}"):
        pass  # the tables exist
    columns = path.read_text().splitlines()[0].split(",")
    forged = Classification(tier=Tier.PUBLIC, columns={c: ColumnClass() for c in columns})
    _forge(db, DatasetRef.of(str(path)), fingerprint, forged)
    assert _read(sandbox) == before


def test_a_row_that_does_not_verify_is_still_held_to_as_a_claim(
        store: LineageStore, db: Path) -> None:
    """Not believed is not forgotten: a trusted row whose signature does not hold (recorded
    before versions were signed, or written by hand) only restricts, like an ingested claim.
    Dropped, an upgrade would have lowered every class stored before signing. Lacuna recording
    the content again supersedes it."""
    store.record(_run("old", DatasetVersion(dataset=CUSTOMERS, classification=PII,
                                            fingerprint="sha256:c", columns=("email",))))
    _sql(db, "UPDATE lacuna_lineage_versions SET classification = "
         "json_remove(classification, '$.signature')")  # as recorded before signing
    assert store.by_fingerprint("sha256:c", trusted=True) is None  # not the authority ...
    claim = store.by_fingerprint("sha256:c", trusted=False)  # ... but still a claim
    assert claim is not None
    assert claim.classification.tier is Tier.PROPRIETARY
    assert store.latest(CUSTOMERS, trusted=False) == claim
    found = store.produced_with("sha256:c", CUSTOMERS, trusted=False)
    assert found is not None
    assert found[1] == "old"
    # recorded again by Lacuna (signed): the old row is superseded, no claim is left
    store.record(_run("new", DatasetVersion(dataset=CUSTOMERS, classification=PUBLIC,
                                            fingerprint="sha256:c", columns=("email",))))
    assert store.by_fingerprint("sha256:c", trusted=False) is None
    assert store.latest(CUSTOMERS, trusted=False) is None
    own = store.by_fingerprint("sha256:c", trusted=True)
    assert own is not None
    assert own.classification.tier is Tier.PUBLIC


def test_a_read_is_held_to_a_class_stored_before_signing(sandbox: Path) -> None:
    """End to end: a file whose stored (pre-signing) class is stricter than its values show
    keeps that class on the next read after the upgrade."""
    from lacuna.lineage.recording import file_fingerprint

    db = sandbox / "state.db"
    (sandbox / "lacuna.yaml").write_text(
        f'user: {{id: ana, role: data_analyst}}\naudit: {{url: "sqlite:///{db}"}}\n'
        "storage: {encrypt: false}\n")
    path = sandbox / "sales.csv"
    fingerprint = file_fingerprint(DatasetRef.of(str(path)))
    assert fingerprint is not None
    with LineageStore(f"sqlite:///{db}"):
        pass  # the tables exist
    columns = path.read_text().splitlines()[0].split(",")
    stored = Classification(tier=Tier.PROPRIETARY, tags=("DEAL_DATA",),
                            columns={c: ColumnClass() for c in columns})
    _forge(db, DatasetRef.of(str(path)), fingerprint, stored)  # trusted, unsigned: pre-0012
    _sql(db, "UPDATE lacuna_lineage_versions SET created = '2020-01-01T00:00:00'")
    script = ("import json, pandas as pd, lacuna\nlacuna.enable('lacuna.yaml')\n"
              "c = pd.read_csv('sales.csv').lacuna.classification\n"
              "print(json.dumps([c.tier.value, 'DEAL_DATA' in c.tags]))\n")
    out = subprocess.run([sys.executable, "-c", script], cwd=sandbox, capture_output=True,
                         text=True, timeout=120, env={**os.environ}, check=False)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.strip().splitlines()[-1]) == ["PROPRIETARY", True]
