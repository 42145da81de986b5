"""An ingested output classified below what its run read keeps that class only with Lacuna's
signature over it.

An OpenLineage event copying ``s3://lake/customers.csv`` (PROPRIETARY, PII) to a new
``copy.csv`` with a ``lacuna_classification`` facet saying PUBLIC was believed: nothing was
known of ``copy.csv`` to hold the claim to. A run Lacuna's pipeline masked (a keyed hash of the
e-mail column) really is lower than what it read, and must import back as it was: its events
now carry the installation's signature over the output's facet, the run and its inputs."""

from __future__ import annotations

import copy
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from lacuna.config import ClassificationConfig
from lacuna.lineage.claims import ingest
from lacuna.lineage.openlineage import event_to_dict, events_to_runs, run_to_events
from lacuna.lineage.records import ColumnEdge, DatasetRef, DatasetVersion, EdgeKind, Run, RunStatus
from lacuna.lineage.store import LineageStore
from lacuna.model import Classification, ColumnClass, ColumnKind, Tier

CUSTOMERS = DatasetRef.of("s3://lake/customers.csv")
OTHER = DatasetRef.of("s3://lake/other.csv")
COPY = DatasetRef.of("s3://lake/copy.csv")
CONFIG = ClassificationConfig()


def _customers() -> Classification:
    return Classification(tier=Tier.PROPRIETARY, tags=("PII",), columns={
        "email": ColumnClass(classification=ColumnKind.PII, pii_type="email")})


@pytest.fixture
def store(tmp_path: Path):
    with LineageStore(f"sqlite:///{tmp_path / 'state.db'}") as s:
        s.record(Run(id="w", operation="export", status=RunStatus.SUCCEEDED, outputs=(
            DatasetVersion(dataset=CUSTOMERS, classification=_customers(), columns=("email",)),
            DatasetVersion(dataset=OTHER, classification=_customers(), columns=("email",)))))
        yield s


def _event(facet: dict[str, Any] | None) -> dict[str, Any]:
    output: dict[str, Any] = {"namespace": COPY.namespace, "name": COPY.name}
    if facet is not None:
        output["facets"] = {"lacuna_classification": facet}
    return {"eventType": "COMPLETE", "eventTime": "2026-12-01T00:00:00Z",
            "producer": "https://airflow.example/1.0",
            "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
            "job": {"namespace": "n", "name": "copy"}, "run": {"runId": str(uuid.uuid4())},
            "inputs": [{"namespace": CUSTOMERS.namespace, "name": CUSTOMERS.name}],
            "outputs": [output]}


def _masked_events() -> list[dict[str, Any]]:
    """The events of a run Lacuna's pipeline recorded: customers.csv masked into copy.csv."""
    hashed = Classification(tier=Tier.PUBLIC, columns={
        "email": ColumnClass(classification=ColumnKind.PUBLIC)})
    run = Run(id="masked-1", operation="anonymize", status=RunStatus.SUCCEEDED,
              started_at=datetime(2026, 12, 1, tzinfo=UTC),
              inputs=(DatasetVersion(dataset=CUSTOMERS, classification=_customers(),
                                     columns=("email",)),),
              outputs=(DatasetVersion(dataset=COPY, classification=hashed, columns=("email",)),),
              column_edges=(ColumnEdge(source=CUSTOMERS, source_column="email", target=COPY,
                                       target_column="email", kind=EdgeKind.MASKING,
                                       description="sha256(email || key)"),))
    return [event_to_dict(e) for e in run_to_events(run)]


def _tiers(held: Run) -> tuple[Tier, tuple[str, ...]]:
    c = held.outputs[0].classification
    return c.tier, c.tags


def test_lineage10_a_declared_public_copy_of_pii_inherits_and_is_refused(
        store: LineageStore) -> None:
    (run,) = events_to_runs([_event({"tier": "PUBLIC", "tags": []})], CONFIG)
    held, refused = ingest(run, store, CONFIG)
    assert _tiers(held) == (Tier.PROPRIETARY, ("PII",))
    assert held.outputs[0].classification.floor is Tier.PROPRIETARY
    assert refused == (f"{COPY}: tier PUBLIC declared below what the run read refused (its "
                       "event carries no signature of this Lacuna over that class): kept "
                       "PROPRIETARY and the inputs' tags",)
    stored = store.latest(COPY)
    assert stored is not None
    assert (stored.classification.tier, stored.classification.tags) == (
        Tier.PROPRIETARY, ("PII",))


def test_lineage10_a_declared_copy_dropping_a_tag_inherits_it(store: LineageStore) -> None:
    (run,) = events_to_runs([_event({"tier": "PROPRIETARY", "tags": []})], CONFIG)
    held, refused = ingest(run, store, CONFIG)
    tier, tags = _tiers(held)
    assert (tier, "PII" in tags, len(refused)) == (Tier.PROPRIETARY, True, 1)


def test_lineage10_lacunas_own_masked_run_round_trips(store: LineageStore) -> None:
    (run,) = events_to_runs(_masked_events(), CONFIG)
    assert run.outputs[0].attested
    held, refused = ingest(run, store, CONFIG)
    assert (_tiers(held), refused) == ((Tier.PUBLIC, ()), ())
    stored = store.latest(COPY)
    assert stored is not None
    assert stored.classification.tier is Tier.PUBLIC


@pytest.mark.parametrize("tamper", ["edited", "input", "output", "key"])
def test_lineage10_a_moved_or_edited_signed_facet_does_not_lower(
        store: LineageStore, monkeypatch: pytest.MonkeyPatch, tamper: str) -> None:
    events = _masked_events()
    if tamper == "key":  # signed by another installation
        monkeypatch.setenv("LACUNA_SIGNING_KEY", "ab" * 32)
    for event in events:
        if tamper == "input":  # the same signed facet, said to be made from another file too
            event["inputs"].append({"namespace": OTHER.namespace, "name": OTHER.name})
        for out in event.get("outputs") or ():
            facet = out["facets"]["lacuna_classification"]
            if tamper == "edited":  # its columns dropped after it was signed
                facet["tableTags"] = []
                facet["columns"] = {}
            if tamper == "output":
                out["name"] = "lake/elsewhere.csv"
    (run,) = events_to_runs(copy.deepcopy(events), CONFIG)
    assert not run.outputs[0].attested
    held, refused = ingest(run, store, CONFIG)
    tier, tags = _tiers(held)
    assert (tier, "PII" in tags, len(refused)) == (Tier.PROPRIETARY, True, 1)


def test_lineage10_a_declared_copy_keeping_its_tier_is_held_as_a_floor(
        store: LineageStore) -> None:
    """Column classes the events lowered under a table class they kept (the e-mail column
    declared public) cannot make a projection of it lower: the inputs' class is its floor."""
    facet = {"tier": "PROPRIETARY", "tags": ["PII"],
             "columns": {"email": {"classification": "public", "sensitivity": "low"}}}
    (run,) = events_to_runs([_event(facet)], CONFIG)
    held, refused = ingest(run, store, CONFIG)
    c = held.outputs[0].classification
    assert (c.tier, c.floor, c.table_tags, refused) == (
        Tier.PROPRIETARY, Tier.PROPRIETARY, ("PII",), ())
    assert c.reasoning[0].endswith("a floor, as its events are not signed by this Lacuna")
