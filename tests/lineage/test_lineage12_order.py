"""Every read of "the dataset's latest" goes by the order its versions signed, and every chain of
trusted versions is marked superseded, those recorded before the marks were included.

``latest_written`` (Spark's and ``register_lineage``'s declared class of a remote source) and
the record path's comparison of a read with what the store knows took the highest id; and
versions recorded before the superseded marks were marked only when their dataset was written
again, so deleting the newest of them went unnoticed."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from lacuna.errors import LineageError
from lacuna.lineage.records import DatasetRef, DatasetVersion, Run, RunStatus
from lacuna.lineage.store import NEXT_KEY, ORDER_KEY, LineageStore, version_payload
from lacuna.model import Classification, Tier

REF = DatasetRef.of("s3://lake/customers.csv")
PII = Classification(tier=Tier.PROPRIETARY, tags=("PII",))
INTERNAL = Classification(tier=Tier.INTERNAL)


def _written(run_id: str, c: Classification, ref: DatasetRef = REF) -> Run:
    return Run(id=run_id, operation="export", status=RunStatus.SUCCEEDED,
               outputs=(DatasetVersion(dataset=ref, classification=c),))


def _read(run_id: str, c: Classification) -> Run:
    return Run(id=run_id, operation="read", status=RunStatus.SUCCEEDED,
               inputs=(DatasetVersion(dataset=REF, classification=c),))


def _swap(db: Path, run_a: str, run_b: str) -> None:
    """Give run_a's version run_b's version's id, and the other way round."""
    with sqlite3.connect(db) as conn:
        (a,) = conn.execute("SELECT id FROM lacuna_lineage_versions WHERE run_id = ?",
                            (run_a,)).fetchone()
        (b,) = conn.execute("SELECT id FROM lacuna_lineage_versions WHERE run_id = ?",
                            (run_b,)).fetchone()
        for old, new in ((a, -1), (b, a), (-1, b)):
            conn.execute("UPDATE lacuna_lineage_versions SET id = ? WHERE id = ?", (new, old))
            conn.execute("UPDATE lacuna_lineage_run_io SET version_id = ? WHERE version_id = ?",
                         (new, old))


def _delete(db: Path, *run_ids: str) -> None:
    with sqlite3.connect(db) as conn:
        for run_id in run_ids:
            conn.execute("DELETE FROM lacuna_lineage_run_io WHERE run_id = ?", (run_id,))
            conn.execute("DELETE FROM lacuna_lineage_versions WHERE run_id = ?", (run_id,))


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "state.db"
    with LineageStore(f"sqlite:///{path}") as store:
        store.record(_written("old", Classification()))  # PUBLIC, written first
        store.record(_written("new", PII))
    return path


def test_lineage12_latest_written_goes_by_the_signed_order(db: Path) -> None:
    with LineageStore(f"sqlite:///{db}") as store:
        written = store.latest_written(REF)
        assert written is not None
        assert written.classification.tier is Tier.PROPRIETARY
    _swap(db, "old", "new")  # the older, PUBLIC write given the higher id
    with LineageStore(f"sqlite:///{db}") as store:
        written = store.latest_written(REF)
        assert written is not None
        assert written.classification == PII  # before: PUBLIC, the older write


def test_lineage12_a_read_is_compared_with_the_latest_by_signed_order(db: Path) -> None:
    """A read saying less than the dataset's latest (INTERNAL of a PII file: some of its
    columns) is kept with its run, not made the dataset's state: with the ids swapped, it was
    compared with the older PUBLIC version, stored as standing, and became the latest."""
    _swap(db, "old", "new")
    with LineageStore(f"sqlite:///{db}") as store:
        store.record(_read("partial", INTERNAL))
        assert store.latest(REF).classification == PII  # before: INTERNAL
        assert store.known([REF])[0][REF].classification == PII
        # a read saying more than the latest is the dataset's state, as before
        more = Classification(tier=Tier.PROPRIETARY, tags=("PII", "PHI"))
        store.record(_read("full", more))
        assert store.latest(REF).classification == more


def test_lineage12_a_hand_written_row_does_not_hide_the_predecessor_from_its_mark(
        tmp_path: Path) -> None:
    """A row marked trusted by hand, given the highest id, was what a new version marked
    superseded (skipped: it does not verify), so the version before it stayed unmarked and
    deleting the new one made it the latest."""
    db = tmp_path / "state.db"
    with LineageStore(f"sqlite:///{db}") as store:
        store.record(_written("old", Classification()))
    with sqlite3.connect(db) as conn:
        conn.execute(
            "INSERT INTO lacuna_lineage_versions (id, dataset_id, run_id, fingerprint, tier, "
            "classification, columns, created, produced, trusted, dismissed) SELECT 999, "
            "dataset_id, 'forged', NULL, 'PUBLIC', '{}', '[]', created, 1, 1, 0 "
            "FROM lacuna_lineage_versions WHERE run_id = 'old'")
    with LineageStore(f"sqlite:///{db}") as store:
        store.record(_written("pii", PII))
    _delete(db, "pii", "forged")
    with LineageStore(f"sqlite:///{db}") as store, pytest.raises(
            LineageError, match="superseded by a later version"):
        store.latest(REF)  # before: PUBLIC, the version "pii" superseded


def test_lineage12_latest_written_refuses_when_a_later_version_was_deleted(db: Path) -> None:
    with LineageStore(f"sqlite:///{db}") as store:  # a read after the PII write
        store.record(_read("after", Classification(tier=Tier.PROPRIETARY,
                                                   tags=("PII", "PHI"))))
    _delete(db, "new")  # the PII write, between the PUBLIC write and the read
    with LineageStore(f"sqlite:///{db}") as store, pytest.raises(
            LineageError, match="superseded by a later version"):
        store.latest_written(REF)  # before: PUBLIC, the write before the deleted one


# -- versions recorded before the superseded marks ------------------------------------------

def _as_before_marks(db: Path, store: LineageStore, *, unordered: tuple[str, ...] = ()) -> None:
    """Rewrite every version as Lacuna wrote it before the superseded marks (no ``next``;
    ``unordered`` runs' also before the signed order), signed, and the layout as it was."""
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT v.id, v.run_id, v.fingerprint, v.classification, v.columns, v.produced, "
            "d.namespace, d.name FROM lacuna_lineage_versions v JOIN lacuna_lineage_datasets d "
            "ON d.id = v.dataset_id").fetchall()
        for vid, run_id, fp, body, columns, produced, namespace, name in rows:
            data = json.loads(body)
            data.pop("signature")
            data.pop(NEXT_KEY, None)
            if run_id in unordered:
                data.pop(ORDER_KEY)
            data["signature"] = store.keyring.sign(version_payload(
                DatasetRef(namespace, name), run_id, fp, data, json.loads(columns),
                bool(produced)))
            conn.execute("UPDATE lacuna_lineage_versions SET classification = ? WHERE id = ?",
                         (json.dumps(data, sort_keys=True), vid))
        conn.execute("UPDATE lacuna_lineage_schema SET version = 1")


@pytest.fixture
def old_db(tmp_path: Path) -> Path:
    """PUBLIC, then INTERNAL, then PII, recorded before the marks (the first before the signed
    order too), and another dataset of one version."""
    path = tmp_path / "state.db"
    with LineageStore(f"sqlite:///{path}") as store:
        store.record(_written("v1", Classification()))
        store.record(_written("v2", INTERNAL))
        store.record(_written("v3", PII))
        store.record(_written("alone", INTERNAL, DatasetRef.of("s3://lake/alone.csv")))
        _as_before_marks(path, store, unordered=("v1",))
    return path


def test_lineage12_the_old_rows_are_as_the_old_code_left_them(old_db: Path) -> None:
    """The fixture is what it says: no marks, and deleting the newest went unnoticed then."""
    with sqlite3.connect(old_db) as conn:
        bodies = [r[0] for r in conn.execute("SELECT classification FROM "
                                             "lacuna_lineage_versions")]
        assert bodies
        assert not any(f'"{NEXT_KEY}"' in b for b in bodies)


def test_lineage12_upgrade_marks_old_chains_without_losing_data(old_db: Path) -> None:
    with LineageStore(f"sqlite:///{old_db}") as store:
        assert store.latest(REF, trusted=True).classification == PII
        assert store.latest(REF).classification == PII
        assert store.latest(DatasetRef.of("s3://lake/alone.csv")).classification == INTERNAL
        for run_id in ("v1", "v2", "v3", "alone"):  # every row still verifies
            (row,) = store._read(_rows_of(), {"run_id": run_id})
            assert store._verifies(row, DatasetRef(row.namespace, row.name)), run_id
    with sqlite3.connect(old_db) as conn:
        marked = dict(conn.execute("SELECT run_id, classification LIKE '%\"next\": [%' "
                                   "FROM lacuna_lineage_versions"))
        (layout,) = conn.execute("SELECT version FROM lacuna_lineage_schema").fetchone()
    assert marked == {"v1": 1, "v2": 1, "v3": 0, "alone": 0}
    assert layout == 2


@pytest.mark.parametrize("deleted", [("v3",), ("v2", "v3")])
def test_lineage12_a_deleted_old_version_is_refused_after_upgrade(
        old_db: Path, deleted: tuple[str, ...]) -> None:
    with LineageStore(f"sqlite:///{old_db}"):
        pass  # the upgrade
    _delete(old_db, *deleted)
    with LineageStore(f"sqlite:///{old_db}") as store:
        for read in (lambda: store.latest(REF), lambda: store.latest(REF, trusted=True),
                     lambda: store.known([REF]), lambda: store.latest_written(REF)):
            with pytest.raises(LineageError, match="superseded by a later version"):
                read()  # before: INTERNAL or PUBLIC, an older version as the state
        store.record(_written("again", PII))  # writing it again is the way back
        assert store.latest(REF).classification == PII


def test_lineage12_a_deleted_layout_row_does_not_skip_the_upgrade(old_db: Path) -> None:
    with sqlite3.connect(old_db) as conn:
        conn.execute("DELETE FROM lacuna_lineage_schema")
    with LineageStore(f"sqlite:///{old_db}"):
        pass  # the upgrade: the row is made again, at layout 1, and the chains marked
    _delete(old_db, "v3")
    with LineageStore(f"sqlite:///{old_db}") as store, pytest.raises(
            LineageError, match="superseded by a later version"):
        store.latest(REF)  # before: INTERNAL (a new row said layout 2: nothing was marked)


def test_lineage12_a_deletion_before_the_upgrade_goes_unnoticed(old_db: Path) -> None:
    _delete(old_db, "v3")
    with LineageStore(f"sqlite:///{old_db}") as store:
        assert store.latest(REF).classification == INTERNAL  # nothing says v3 existed
    # (what the upgrade cannot know of, it cannot mark: the deletion happened before it)


def _rows_of():  # every column a read of a version has
    from sqlalchemy import bindparam

    from lacuna.lineage import queries
    from lacuna.lineage.schema import versions

    return queries.version_select().where(versions.c.run_id == bindparam("run_id"))


# -- a claim written by hand as the newest row ------------------------------------------------

def _claim_by_hand(db: Path, vid: int, body: str = '{"tier": "PUBLIC"}', *,
                   trusted: int = 0, count: int = 1) -> None:
    """``count`` rows inserted by hand from id ``vid`` (untrusted: ingested-looking; or marked
    trusted, unsigned): no guard held them to what the store knew."""
    with sqlite3.connect(db) as conn:
        conn.executemany(
            "INSERT INTO lacuna_lineage_versions (id, dataset_id, run_id, fingerprint, tier, "
            "classification, columns, created, produced, trusted, dismissed) SELECT ?, "
            "dataset_id, 'claimed', NULL, 'PUBLIC', ?, '[]', created, 1, ?, 0 "
            "FROM lacuna_lineage_versions WHERE run_id = 'new'",
            [(vid + i, body, trusted) for i in range(count)])


@pytest.mark.parametrize(("claims", "trusted"), [(1, 0), (70, 0), (1, 1)])
def test_lineage12_a_lower_claim_written_by_hand_is_not_the_latest(
        db: Path, claims: int, trusted: int) -> None:
    """The newest row by id was taken whatever it said when it was untrusted, or trusted with
    an order it did not sign: one PUBLIC row inserted by hand made latest() and known() (the
    guard's and /decide's sources) PUBLIC over Lacuna's own PII version; 70 untrusted ones
    pushed it out of the window read too."""
    body = '{"order": [99999, "2099-01-01T00:00:00"], "tier": "PUBLIC"}'
    _claim_by_hand(db, 1000, body, trusted=trusted, count=claims)
    with LineageStore(f"sqlite:///{db}") as store:
        assert store.latest(REF).classification == PII  # before: PUBLIC
        assert store.known([REF])[0][REF].classification == PII


def test_lineage12_a_claim_saying_more_is_still_the_latest(db: Path) -> None:
    more = Classification(tier=Tier.PROPRIETARY, tags=("PII", "PHI"))
    _claim_by_hand(db, 1000, json.dumps(more.to_dict()))
    with LineageStore(f"sqlite:///{db}") as store:
        assert set(store.latest(REF).classification.tags) == {"PHI", "PII"}
        assert set(store.known([REF])[0][REF].classification.tags) == {"PHI", "PII"}


def test_lineage12_a_claim_by_hand_does_not_hide_a_deleted_version(db: Path) -> None:
    _delete(db, "new")
    with sqlite3.connect(db) as conn:  # "new" is gone: the claim goes with "old"'s dataset
        conn.execute(
            "INSERT INTO lacuna_lineage_versions (id, dataset_id, run_id, fingerprint, tier, "
            "classification, columns, created, produced, trusted, dismissed) SELECT 1000, "
            "dataset_id, 'claimed', NULL, 'PUBLIC', '{\"tier\": \"PUBLIC\"}', '[]', created, "
            "1, 0, 0 FROM lacuna_lineage_versions WHERE run_id = 'old'")
    with LineageStore(f"sqlite:///{db}") as store:
        for read in (lambda: store.latest(REF), lambda: store.known([REF])):
            with pytest.raises(LineageError, match="superseded by a later version"):
                read()  # before: the PUBLIC claim, the deletion unnoticed
