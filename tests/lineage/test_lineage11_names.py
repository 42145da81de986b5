"""One name per object store at every edge, not only in the lineage store: a legal hold or an
exception grant for ``s3a://b/x`` (Spark's spelling) applies to ``s3://b/x`` (pandas, boto3),
and one stored before names were canonical still does."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from lacuna.exceptions.model import ExceptionRequest, Status, normalize_target, same_source
from lacuna.lineage.records import DatasetRef, canonical_uri
from lacuna.model import (
    Action,
    Classification,
    Destination,
    DestinationType,
    Operation,
    Scope,
    Source,
    User,
    utcnow,
)
from lacuna.retention.holds import HoldError, HoldStore


@pytest.mark.parametrize(("given", "named"), [
    ("s3a://b/x.csv", "s3://b/x.csv"), ("S3N://b/x.csv", "s3://b/x.csv"),
    ("gcs://b/x", "gs://b/x"), ("s3://b/x", "s3://b/x"), ("/data/s3a://x", "/data/s3a://x"),
    ("https://h/a", "https://h/a")])
def test_lineage11_canonical_uri_is_the_lineage_store_name(given: str, named: str) -> None:
    assert canonical_uri(given) == named
    if given.startswith(("s3", "S3", "gcs")):
        ref = DatasetRef.of(given)
        assert f"{ref.namespace}/{ref.name}" == named


def _grant(destination: str, sources: tuple[str, ...] = ()) -> ExceptionRequest:
    now = utcnow()
    return ExceptionRequest(
        id="e1", requested_by="ana", requester_role="analyst", action="export",
        destination=destination, sources=sources, tier="PROPRIETARY", tags=(),
        purpose="Quarterly board presentation", business_justification="",
        approver="jane", duration_hours=1.0, conditions=(), created_at=now,
        status=Status.APPROVED, valid_from=now - timedelta(minutes=1),
        valid_until=now + timedelta(hours=1), decided_by="jane", decided_role="data_steward")


def _export(target: str, source: str = "s3://b/in.csv") -> Operation:
    return Operation(action=Action.EXPORT, user=User(id="ana", role="analyst"),
                     classification=Classification(),
                     sources=(Source(name=source, classification=Classification()),),
                     destination=Destination(uri=target, type=DestinationType.OBJECT_STORE,
                                             scope=Scope.EXTERNAL))


def test_lineage11_an_exception_for_s3a_covers_s3() -> None:
    now = utcnow()
    grant = _grant(normalize_target("s3a://b/x.csv"), sources=("s3a://b/in.csv",))
    assert grant.destination == "s3://b/x.csv"
    assert grant.covers(_export("s3://b/x.csv"), now)[0]
    assert grant.covers(_export("s3a://b/x.csv", "s3n://b/in.csv"), now)[0]
    # a grant stored before names were canonical keeps working
    legacy = replace(grant, destination="s3a://b/x.csv")
    assert legacy.covers(_export("s3://b/x.csv"), now)[0]
    # another object, bucket or source is still not covered
    assert not grant.covers(_export("s3://b/y.csv"), now)[0]
    assert not grant.covers(_export("s3://c/x.csv"), now)[0]
    assert not grant.covers(_export("s3://b/x.csv", "s3://b/other.csv"), now)[0]
    assert same_source("s3a://b/in.csv", "s3://b/in.csv")
    assert not same_source("s3a://b/in.csv", "s3://c/in.csv")


def test_lineage11_a_hold_on_s3a_holds_s3(tmp_path: Path) -> None:
    store = HoldStore(f"sqlite:///{tmp_path / 'state.db'}")
    try:
        hold = store.place("s3a://b/x", reason="litigation 2026-17", by="carla")
        assert hold.dataset == "s3://b/x"
        assert store.holding("s3://b/x/part-0.parquet") == hold  # before: None, deletable
        assert store.holding("s3n://b/x") == hold
        assert store.holding("s3://b/y") is None
        with pytest.raises(HoldError, match="already under hold"):
            store.place("s3://b/x", reason="again", by="carla")
        assert store.active("s3://b/x") == hold
    finally:
        store.close()


def test_lineage11_a_hold_stored_before_names_were_canonical_still_holds(
        tmp_path: Path) -> None:
    import sqlite3

    store = HoldStore(f"sqlite:///{tmp_path / 'state.db'}")
    try:
        hold = store.place("s3://b/x", reason="litigation 2026-17", by="carla")
        with sqlite3.connect(tmp_path / "state.db") as conn:
            conn.execute("UPDATE lacuna_retention_holds SET dataset = 's3a://b/x'")
        assert store.holding("s3://b/x/part-0") is not None
        with pytest.raises(HoldError, match="already under hold"):
            store.place("s3://b/x", reason="again", by="carla")
        assert store.release("s3://b/x", by="carla").id == hold.id
        assert store.holding("s3://b/x") is None
    finally:
        store.close()
