"""Reads a row edited by hand can no longer steer: a claim inserted by hand for content Lacuna
recorded (what the ingest guard and ``by_fingerprint`` read of that content), and rows marked
trusted by hand crowding Lacuna's own out of the window a read looks at."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from lacuna.errors import LineageError
from lacuna.lineage.records import DatasetRef, DatasetVersion, Run, RunStatus
from lacuna.lineage.store import LineageStore
from lacuna.model import Classification, Tier

REF = DatasetRef.of("s3://lake/customers.csv")
OTHER = DatasetRef.of("s3://lake/other.csv")
PII = Classification(tier=Tier.PROPRIETARY, tags=("PII",))
INTERNAL = Classification(tier=Tier.INTERNAL)
MORE = Classification(tier=Tier.PROPRIETARY, tags=("PII", "PHI"))
FP = "f" * 64


def _written(run_id: str, c: Classification, *refs: DatasetRef, fp: str | None = None,
             status: RunStatus = RunStatus.SUCCEEDED) -> Run:
    return Run(id=run_id, operation="export", status=status, outputs=tuple(
        DatasetVersion(dataset=r, classification=c, fingerprint=fp) for r in refs or (REF,)))


def _by_hand(db: Path, vid: int, body: str, *, trusted: int = 0, count: int = 1,
             fp: str | None = None, of: str = "pii") -> None:
    """``count`` rows inserted by hand from id ``vid``, in the dataset of run ``of``'s version:
    untrusted (ingested-looking: no guard held them) or marked trusted (unsigned)."""
    with sqlite3.connect(db) as conn:
        conn.executemany(
            "INSERT INTO lacuna_lineage_versions (id, dataset_id, run_id, fingerprint, tier, "
            "classification, columns, created, produced, trusted, dismissed) SELECT ?, "
            "dataset_id, 'byhand', ?, 'PUBLIC', ?, '[]', created, 1, ?, 0 "
            "FROM lacuna_lineage_versions WHERE run_id = ?",
            [(vid + i, fp, body, trusted, of) for i in range(count)])


PUBLIC_BODY = '{"order": [99999, "2099-01-01T00:00:00"], "tier": "PUBLIC"}'


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """customers.csv written PUBLIC, then PII (content FP)."""
    path = tmp_path / "state.db"
    with LineageStore(f"sqlite:///{path}") as store:
        store.record(_written("old", Classification()))
        store.record(_written("pii", PII, fp=FP))
    return path


# -- 1. by content: the newest row wins only if it says at least as much -----------------------

@pytest.mark.parametrize("trusted", [0, 1])
def test_lineage13_a_lower_claim_of_known_content_written_by_hand_is_not_taken(
        db: Path, trusted: int) -> None:
    _by_hand(db, 1000, PUBLIC_BODY, trusted=trusted, fp=FP, of="pii")
    with LineageStore(f"sqlite:///{db}") as store:
        assert store.by_fingerprint(FP).classification == PII  # before: PUBLIC
        assert store.known([], [FP])[1][FP].classification == PII  # the guard's read
        assert store.by_fingerprint(FP, trusted=True).classification == PII


def test_lineage13_a_claim_of_known_content_saying_more_is_taken(db: Path) -> None:
    _by_hand(db, 1000, json.dumps(MORE.to_dict()), fp=FP, of="pii")
    with LineageStore(f"sqlite:///{db}") as store:
        assert store.by_fingerprint(FP).classification == MORE
        assert store.known([], [FP])[1][FP].classification == MORE
        assert store.by_fingerprint(FP, trusted=True).classification == PII


def test_lineage13_by_content_goes_by_the_signed_order(tmp_path: Path) -> None:
    """Two versions of one content, the older (PUBLIC) given the higher id by hand."""
    db = tmp_path / "state.db"
    with LineageStore(f"sqlite:///{db}") as store:
        store.record(_written("first", Classification(), OTHER, fp=FP))
        store.record(_written("second", PII, REF, fp=FP))
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE lacuna_lineage_versions SET id = 1000 WHERE run_id = 'first'")
        conn.execute("UPDATE lacuna_lineage_run_io SET version_id = 1000 "
                     "WHERE run_id = 'first'")
    with LineageStore(f"sqlite:///{db}") as store:
        assert store.by_fingerprint(FP).classification == PII  # before: PUBLIC
        assert store.known([], [FP])[1][FP].classification == PII


def test_lineage13_content_known_only_from_claims_reads_as_before(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    with LineageStore(f"sqlite:///{db}") as store:
        store.record(_written("claim", INTERNAL, fp=FP), trusted=False)
        assert store.by_fingerprint(FP).classification == INTERNAL
        assert store.known([], [FP])[1][FP].classification == INTERNAL
        assert store.by_fingerprint(FP, trusted=True) is None


# -- 2. forged "trusted" rows do not crowd Lacuna's own out of the window ---------------------

@pytest.mark.parametrize("count", [64, 200])
def test_lineage13_forged_trusted_rows_do_not_crowd_out_the_real_ones(
        db: Path, count: int) -> None:
    _by_hand(db, 1000, PUBLIC_BODY, trusted=1, count=count)
    with LineageStore(f"sqlite:///{db}") as store:
        assert store.latest(REF, trusted=True).classification == PII  # before: None
        assert store.latest(REF).classification == PII  # before: PUBLIC
        assert store.known([REF])[0][REF].classification == PII  # before: PUBLIC
        # a write after them marks the real predecessor, and a read of more is kept
        store.record(Run(id="read", operation="read", status=RunStatus.SUCCEEDED,
                         inputs=(DatasetVersion(dataset=REF, classification=MORE),)))
        assert store.latest(REF).classification == MORE


def test_lineage13_forged_rows_saying_more_still_raise(db: Path) -> None:
    _by_hand(db, 1000, json.dumps(MORE.to_dict()), trusted=1, count=70)
    with LineageStore(f"sqlite:///{db}") as store:
        assert store.latest(REF).classification == MORE
        assert store.latest(REF, trusted=True).classification == PII


def test_lineage13_too_many_forged_rows_refuse_rather_than_forget(
        db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import lacuna.lineage.store as module

    monkeypatch.setattr(module, "_READ_FURTHER", 128)
    _by_hand(db, 1000, PUBLIC_BODY, trusted=1, count=200)
    with LineageStore(f"sqlite:///{db}") as store:
        for read in (lambda: store.latest(REF), lambda: store.latest(REF, trusted=True),
                     lambda: store.known([REF])):
            with pytest.raises(LineageError, match="do not verify"):
                read()


def test_lineage13_reads_on_each_database(store_url: str) -> None:
    """The same reads on PostgreSQL (the windows of content are one UNION ALL statement; the
    reads on past forged rows statements of their own): a lower claim of known content and 70
    rows marked trusted by hand, with that content's fingerprint, in its dataset."""
    from sqlalchemy import create_engine, insert, select

    from lacuna.lineage.schema import versions

    with LineageStore(store_url) as store:
        store.record(_written("pii", PII, fp=FP))
        store.record(_written("other", INTERNAL, OTHER, fp="e" * 64))
    forged = '{"io": "out", "order": [99999, "2099-01-01T00:00:00"], "tier": "PUBLIC"}'
    engine = create_engine(store_url)
    try:
        with engine.begin() as conn:
            row = conn.execute(select(versions).where(versions.c.run_id == "pii")).one()
            conn.execute(insert(versions), [dict(
                id=1000 + i, dataset_id=row.dataset_id, run_id="byhand", fingerprint=FP,
                tier="PUBLIC", classification=PUBLIC_BODY if i == 70 else forged, columns="[]",
                created=row.created, produced=True, trusted=i < 70, dismissed=False)
                for i in range(71)])
    finally:
        engine.dispose()
    with LineageStore(store_url) as store:
        assert store.by_fingerprint(FP).classification == PII  # before: PUBLIC
        assert store.latest(REF, trusted=True).classification == PII  # before: None
        assert store.latest(REF).classification == PII  # before: PUBLIC
        latest, by_content = store.known([REF], [FP, "e" * 64, "d" * 64])
        assert latest[REF].classification == PII
        assert {fp: v.classification for fp, v in by_content.items()} == {
            FP: PII, "e" * 64: INTERNAL}
        assert store.latest_written(REF).classification == PII
        assert store.produced_with(FP, REF, trusted=True)[0].classification == PII


def test_lineage13_forged_writes_do_not_crowd_out_the_real_one(db: Path) -> None:
    """``latest_written`` (Spark's and ``register_lineage``'s declaration of a remote source)
    reads the newest 64 rows said to be writes: 64 rows marked trusted by hand, saying
    ``"io": "out"``, made it return None (the source's columns classified by their names)."""
    body = '{"io": "out", "order": [99999, "2099-01-01T00:00:00"], "tier": "PUBLIC"}'
    _by_hand(db, 1000, body, trusted=1, count=70)
    with LineageStore(f"sqlite:///{db}") as store:
        written = store.latest_written(REF)
        assert written is not None  # before: None
        assert written.classification == PII


def test_lineage13_forged_rows_of_a_content_do_not_hide_its_declaration(db: Path) -> None:
    """``produced_with(trusted=True)`` is the declaration a read of a file restores by its
    content: 64 rows marked trusted by hand with its fingerprint made it find nothing."""
    _by_hand(db, 1000, PUBLIC_BODY, trusted=1, count=70, fp=FP)
    with LineageStore(f"sqlite:///{db}") as store:
        found = store.produced_with(FP, REF, trusted=True)
        assert found is not None  # before: None
        assert (found[0].classification, found[1]) == (PII, "pii")
        assert store.by_fingerprint(FP, trusted=True).classification == PII
        assert store.by_fingerprint(FP).classification == PII


def test_lineage13_past_the_limit_a_run_recording_the_dataset_is_refused_too(
        db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A read of some columns recorded then would be the newest verified version: the latest,
    whatever it says."""
    import lacuna.lineage.store as module

    monkeypatch.setattr(module, "_READ_FURTHER", 128)
    _by_hand(db, 1000, PUBLIC_BODY, trusted=1, count=200)
    with LineageStore(f"sqlite:///{db}") as store:
        with pytest.raises(LineageError, match="do not verify"):
            store.record(Run(id="part", operation="read", status=RunStatus.SUCCEEDED,
                             inputs=(DatasetVersion(dataset=REF,
                                                    classification=Classification()),)))
        assert [r.id for r in store.runs()] == ["pii", "old"]  # nothing recorded
