"""A run recorded again undoes only its own superseded marks, and never lowers a dataset.

Marks were matched by ``seq`` across every dataset: where two runs shared one (PostgreSQL stores
written before writers took turns), recording one again unmarked the other's predecessor, so
deleting that other run's version went unnoticed. And a run id the caller chooses (``lacuna
dbt record``'s invocation id, a Python caller of ``record``) recorded again as failed made the
version before it (PUBLIC, before a PII write) the dataset's state."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, delete, select, update

from lacuna.errors import LineageError
from lacuna.lineage.records import DatasetRef, DatasetVersion, Run, RunStatus
from lacuna.lineage.schema import run_io, runs, versions
from lacuna.lineage.store import LineageStore
from lacuna.model import Classification, Tier

REF = DatasetRef.of("s3://lake/customers.csv")
OTHER = DatasetRef.of("s3://lake/other.csv")
PII = Classification(tier=Tier.PROPRIETARY, tags=("PII",))
INTERNAL = Classification(tier=Tier.INTERNAL)


def _written(run_id: str, c: Classification, *refs: DatasetRef,
             status: RunStatus = RunStatus.SUCCEEDED) -> Run:
    return Run(id=run_id, operation="export", status=status, outputs=tuple(
        DatasetVersion(dataset=r, classification=c) for r in refs or (REF,)))


def _sql(url: str, *statements: object) -> None:
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            for stmt in statements:
                conn.execute(stmt)  # type: ignore[call-overload]
    finally:
        engine.dispose()


def _delete(url: str, run_id: str) -> None:
    _sql(url, delete(run_io).where(run_io.c.run_id == run_id),
         delete(versions).where(versions.c.run_id == run_id))


def test_lineage13_recording_a_run_again_keeps_another_runs_marks(store_url: str) -> None:
    with LineageStore(store_url) as store:
        store.record(_written("old", Classification()))  # PUBLIC
        store.record(_written("pii", PII))  # marks "old" superseded by its seq
        store.record(_written("elsewhere", INTERNAL, OTHER))
    engine = create_engine(store_url)
    try:
        with engine.begin() as conn:
            seq = conn.execute(select(runs.c.seq).where(runs.c.id == "pii")).scalar_one()
            conn.execute(update(runs).where(runs.c.id == "elsewhere").values(seq=seq))
    finally:
        engine.dispose()
    with LineageStore(store_url) as store:
        store.record(_written("elsewhere", INTERNAL, OTHER))  # recorded again, as it was
        assert store.latest(OTHER).classification == INTERNAL
    _delete(store_url, "pii")
    with LineageStore(store_url) as store, pytest.raises(
            LineageError, match="superseded by a later version"):
        store.latest(REF)  # before: PUBLIC ("old"'s mark was removed by "elsewhere")


@pytest.mark.parametrize("again", [
    _written("pii", PII, status=RunStatus.FAILED),  # as failed
    _written("pii", PII, OTHER),  # without that output
    Run(id="pii", operation="read", status=RunStatus.SUCCEEDED,  # reading some of it
        inputs=(DatasetVersion(dataset=REF, classification=Classification()),)),
])
def test_lineage13_recording_a_run_again_does_not_lower_a_dataset(
        tmp_path: object, again: Run) -> None:
    url = f"sqlite:///{tmp_path}/state.db"
    with LineageStore(url) as store:
        store.record(_written("old", Classification()))
        store.record(_written("pii", PII))
        with pytest.raises(LineageError, match="recording it again"):
            store.record(again)  # before: recorded, and customers.csv read PUBLIC
        assert store.latest(REF).classification == PII
        assert store.known([REF])[0][REF].classification == PII
        assert [r.id for r in store.runs()] == ["pii", "old"]  # the earlier record stands


def test_lineage13_a_first_version_is_not_forgotten_by_recording_again(tmp_path: object
                                                                        ) -> None:
    url = f"sqlite:///{tmp_path}/state.db"
    with LineageStore(url) as store:
        store.record(_written("pii", PII))
        with pytest.raises(LineageError, match="forget"):
            store.record(_written("pii", PII, status=RunStatus.FAILED))
        assert store.latest(REF).classification == PII


@pytest.mark.parametrize("again", [
    _written("new", INTERNAL, status=RunStatus.FAILED),  # what stands says as much
    _written("new", PII),  # the same record again (dbt record run twice)
    _written("new", Classification()),  # a write: Lacuna's own verdict, as a new run's
])
def test_lineage13_recording_a_run_again_that_lowers_nothing_is_taken(
        tmp_path: object, again: Run) -> None:
    url = f"sqlite:///{tmp_path}/state.db"
    first = PII if again.status is RunStatus.SUCCEEDED else INTERNAL
    with LineageStore(url) as store:
        store.record(_written("old", first))
        store.record(_written("new", first))
        store.record(again)
        assert store.latest(REF).classification == (
            again.outputs[0].classification if again.status is RunStatus.SUCCEEDED
            else first)  # no refusal: a run recorded again is no deletion by hand
    _delete(url, "new")
    with LineageStore(url) as store:  # and the marks are right again
        if again.status is RunStatus.SUCCEEDED:
            with pytest.raises(LineageError, match="superseded by a later version"):
                store.latest(REF)
        else:
            assert store.latest(REF).classification == INTERNAL


def test_lineage13_a_run_recorded_again_in_the_middle_keeps_the_chain(tmp_path: object
                                                                      ) -> None:
    """A run whose version was superseded since, recorded again without it: the version before
    it was unmarked, so deleting the later one by hand went unnoticed; it is now marked by that
    later one."""
    url = f"sqlite:///{tmp_path}/state.db"
    with LineageStore(url) as store:
        store.record(_written("old", Classification()))
        store.record(_written("mid", INTERNAL))
        store.record(_written("new", PII))
        store.record(_written("mid", INTERNAL, status=RunStatus.FAILED))  # not the latest
        assert store.latest(REF).classification == PII
    _delete(url, "new")
    with LineageStore(url) as store, pytest.raises(
            LineageError, match="superseded by a later version"):
        store.latest(REF)  # before: PUBLIC


def test_lineage13_a_claim_is_not_taken_back_by_sending_its_run_again_as_failed(
        tmp_path: object) -> None:
    """Lowering is a steward's act (a dismissal), not a side effect of reporting lineage: an
    OpenLineage sender's claim (PII over Lacuna's INTERNAL) was withdrawn by sending its runId
    again as failed. Sent again as it was (a COMPLETE repeated), it is taken."""
    from lacuna.config import ClassificationConfig
    from lacuna.lineage.claims import ingest

    url = f"sqlite:///{tmp_path}/state.db"
    config = ClassificationConfig()
    claim = Run(id="c1", operation="job", user_id="bob", status=RunStatus.SUCCEEDED,
                outputs=(DatasetVersion(dataset=REF, classification=PII),))
    with LineageStore(url) as store:
        store.record(_written("own", INTERNAL))
        ingest(claim, store, config, owner="bob")
        ingest(claim, store, config, owner="bob")  # the same again: taken
        assert store.latest(REF).classification.tags == ("PII",)
        with pytest.raises(LineageError, match="recording it again"):
            ingest(Run(id="c1", operation="job", user_id="bob", status=RunStatus.FAILED,
                       outputs=claim.outputs), store, config, owner="bob")
        assert store.latest(REF).classification.tags == ("PII",)  # before: INTERNAL
