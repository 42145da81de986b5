"""A version of Lacuna's own marked by hand as not counting (``dismissed``, or ``produced``
false) is tampering, not a deletion: reads refuse instead of forgetting the dataset's class."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

import lacuna
from lacuna.errors import GovernanceViolation, LineageError, NotDismissableError
from lacuna.lineage.records import DatasetRef, DatasetVersion, Run, RunStatus
from lacuna.lineage.sidecar import sidecar_path
from lacuna.lineage.store import LineageStore
from lacuna.model import Classification, Tier

REF = DatasetRef.of("s3://lake/customers.csv")
OTHER = DatasetRef.of("s3://lake/other.csv")
PII = Classification(tier=Tier.PROPRIETARY, tags=("PII",))
FP = "f" * 64
MARKS = {"dismissed": "dismissed = 1", "produced": "produced = 0",
         "both": "dismissed = 1, produced = 0"}


def _written(run_id: str, c: Classification, ref: DatasetRef = REF, *, fp: str | None = FP,
             status: RunStatus = RunStatus.SUCCEEDED) -> Run:
    return Run(id=run_id, operation="export", status=status,
               outputs=(DatasetVersion(dataset=ref, classification=c, fingerprint=fp),))


def _mark(db: Path, how: str, run_id: str = "pii") -> None:
    with sqlite3.connect(db) as conn:
        conn.execute(f"UPDATE lacuna_lineage_versions SET {MARKS[how]} WHERE run_id = ?",
                     (run_id,))


@pytest.mark.parametrize("how", list(MARKS))
def test_lineage14_the_only_version_marked_by_hand_is_refused_not_forgotten(
        tmp_path: Path, how: str) -> None:
    db = tmp_path / "state.db"
    with LineageStore(f"sqlite:///{db}") as store:
        store.record(_written("pii", PII))
        store.record(_written("other", PII, OTHER, fp="e" * 64))
    _mark(db, how)
    with LineageStore(f"sqlite:///{db}") as store:
        reads = {
            "latest": lambda: store.latest(REF),
            "latest trusted": lambda: store.latest(REF, trusted=True),
            "latest_written": lambda: store.latest_written(REF),
            "known": lambda: store.known([REF]),
            "known content": lambda: store.known([], [FP]),
            "by_fingerprint": lambda: store.by_fingerprint(FP),
            "by_fingerprint trusted": lambda: store.by_fingerprint(FP, trusted=True),
            "produced_with": lambda: store.produced_with(FP, REF, trusted=True),
            "version_at": lambda: store.version_at(REF, lacuna_now()),
            "a run reading it": lambda: store.record(Run(
                id="read", operation="read", status=RunStatus.SUCCEEDED,
                inputs=(DatasetVersion(dataset=REF, classification=Classification()),))),
        }
        for name, read in reads.items():
            with pytest.raises(LineageError, match=r"marked .* by hand"):
                read()  # before: None (unknown), and the read recorded as its state
            assert name
        # another dataset reads as before
        assert store.latest(OTHER).classification == PII
        # writing the dataset again through Lacuna is the way back
        store.record(_written("again", PII, fp="d" * 64))
        assert store.latest(REF).classification == PII


def lacuna_now() -> datetime:
    return datetime.now(UTC)


def test_lineage14_versions_lacuna_marked_not_produced_still_read_as_unknown(
        store_url: str) -> None:
    """The allowed path: a denied run's outputs and a dismissed claim are not tampering."""
    with LineageStore(store_url) as store:
        store.record(_written("denied", PII, status=RunStatus.DENIED))
        store.record(_written("failed", PII, OTHER, status=RunStatus.FAILED))
        assert store.latest(REF) is None
        assert store.latest(OTHER, trusted=True) is None
        assert store.by_fingerprint(FP) is None
        assert store.known([REF, OTHER], [FP]) == ({}, {})
        assert store.version_at(REF, lacuna_now()) is None
        store.record(_written("claim", PII, DatasetRef.of("s3://lake/c.csv"), fp="c" * 64),
                     trusted=False)
        store.dismiss("claim")
        assert store.latest(DatasetRef.of("s3://lake/c.csv")) is None


YAML = """\
user: {{id: analyst_alice, role: data_analyst}}
audit: {{url: "sqlite:///{db}"}}
destinations:
  governed: ["{governed}/"]
  unmanaged: ["{downloads}"]
storage: {{encrypt: false}}
"""


def test_lineage14_a_file_whose_version_was_marked_by_hand_does_not_leave_lower(
        sandbox: Path) -> None:
    """A round trip: a per-region summary of PII written through pandas (DERIVED_FROM_PII, a
    tag its values do not show), its sidecar deleted and its store rows marked by hand, read
    back by a new process-like setting (a new store object) and exported."""
    config = sandbox / "lacuna.yaml"
    config.write_text(YAML.format(db=sandbox / "state.db",
                                  governed=sandbox / "governed" / "workspace",
                                  downloads=sandbox / "Downloads"))
    target = sandbox / "governed" / "workspace" / "per_region.csv"
    lacuna.enable(str(config))
    try:
        joined = pd.read_csv("customers.csv").merge(pd.read_csv("sales.csv"), on="customer_id")
        summary = joined.groupby("region", as_index=False).agg(total=("revenue", "sum"))
        summary.to_csv(target, index=False)
        assert "DERIVED_FROM_PII" in summary.lacuna.classification.tags
    finally:
        lacuna.disable()
    sidecar_path(target).unlink()
    with sqlite3.connect(sandbox / "state.db") as conn:
        conn.execute("UPDATE lacuna_lineage_versions SET dismissed = 1 WHERE dataset_id IN "
                     "(SELECT id FROM lacuna_lineage_datasets WHERE name LIKE '%per_region%')")
    lacuna.enable(str(config))
    try:
        back = pd.read_csv(target)
        c = back.lacuna.classification
        # before: INTERNAL, FINANCIAL (from its values alone): DERIVED_FROM_PII was forgotten
        assert c.tier is Tier.PROPRIETARY
        assert "by hand" in c.reasoning[0]
        with pytest.raises(GovernanceViolation, match="PROPRIETARY"):
            back.to_csv(sandbox / "Downloads" / "per_region.csv", index=False)
    finally:
        lacuna.disable()
    assert not (sandbox / "Downloads" / "per_region.csv").exists()


def test_lineage14_lacunas_own_version_made_untrusted_by_hand_is_no_claim_to_dismiss(
        tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    with LineageStore(f"sqlite:///{db}") as store:
        store.record(_written("pii", PII))
        store.record(_written("claim", PII, OTHER, fp="e" * 64), trusted=False)
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE lacuna_lineage_versions SET trusted = 0 WHERE run_id = 'pii'")
    with LineageStore(f"sqlite:///{db}") as store:
        with pytest.raises(NotDismissableError, match="Lacuna's own pipeline"):
            store.dismiss("pii")  # before: dismissed, and the dataset read as unknown
        assert store.latest(REF).classification == PII  # held to as a claim
        store.dismiss("claim")  # the allowed path: an ingested claim
        assert store.latest(OTHER) is None
    _mark(db, "dismissed")  # and marked dismissed by hand too
    with LineageStore(f"sqlite:///{db}") as store, pytest.raises(
            LineageError, match="marked dismissed by hand"):
        store.latest(REF)  # before: None
