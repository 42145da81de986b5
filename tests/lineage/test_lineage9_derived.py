"""An ingested run's outputs that its events do not classify inherit what it read.

An OpenLineage event copying ``s3://lake/customers.csv`` (PROPRIETARY, PII in the store) to a
new ``copy.csv`` with no classification facet (what Spark's listener, dbt-ol and Airflow send)
recorded the copy as PUBLIC: nothing was known of ``copy.csv`` to hold it to. ``register_lineage``
from the copy then registered PUBLIC data, and ``impact`` of the customer file did not list the
copy. An output the events do classify is taken as they say it (held to what the store knows
of it), so a run Lacuna emitted imports as it was."""

from __future__ import annotations

import uuid
from dataclasses import replace
from pathlib import Path

import pytest

from lacuna.config import ClassificationConfig
from lacuna.lineage.claims import ingest
from lacuna.lineage.openlineage import events_to_runs
from lacuna.lineage.records import DatasetRef, DatasetVersion, Run, RunStatus
from lacuna.lineage.store import LineageStore
from lacuna.model import Classification, ColumnClass, ColumnKind, Tier

CUSTOMERS = DatasetRef.of("s3://lake/customers.csv")
REGIONS = DatasetRef.of("s3://lake/regions.csv")
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
            DatasetVersion(dataset=REGIONS, classification=Classification(),
                           columns=("region",)))))
        yield s


def _copy_of(source: DatasetRef, facet: dict[str, object] | None = None,
             state: str = "COMPLETE") -> Run:
    output: dict[str, object] = {"namespace": COPY.namespace, "name": COPY.name}
    if facet is not None:
        output["facets"] = {"lacuna_classification": facet}
    event = {"eventType": state, "eventTime": "2026-12-01T00:00:00Z",
             "producer": "https://airflow.example/1.0",
             "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
             "job": {"namespace": "n", "name": "copy"}, "run": {"runId": str(uuid.uuid4())},
             "inputs": [{"namespace": source.namespace, "name": source.name}],
             "outputs": [output]}
    (run,) = events_to_runs([event], CONFIG)
    return run


def test_an_ingested_copy_that_declares_nothing_inherits_what_it_read(
        store: LineageStore) -> None:
    held, refused = ingest(_copy_of(CUSTOMERS), store, CONFIG)
    c = held.outputs[0].classification
    assert (c.tier, c.floor, c.tags, c.table_tags) == (
        Tier.PROPRIETARY, Tier.PROPRIETARY, ("PII",), ("PII",))
    # nothing was claimed, of the copy or of what it read: raised, but no lowering refused
    assert refused == ()
    (read,) = held.inputs
    assert (read.classification.tier, read.classification.tags) == (Tier.PROPRIETARY, ("PII",))
    assert c.reasoning[0] == (f"PROPRIETARY: inherited from what the run read ({CUSTOMERS}): "
                              "its events declare no classification of it")
    stored = store.latest(COPY)
    assert stored is not None
    assert (stored.classification.tier, stored.classification.tags) == (
        Tier.PROPRIETARY, ("PII",))
    assert [v.dataset for v in store.impact(CUSTOMERS)] == [COPY]


def test_register_lineage_from_an_ingested_copy_inherits_the_original(
        sandbox: Path, sandbox_config) -> None:
    import lacuna

    lacuna.enable(sandbox_config())
    store = lacuna.governor.current().lineage_store
    store.record(Run(id="w", operation="export", status=RunStatus.SUCCEEDED, outputs=(
        DatasetVersion(dataset=CUSTOMERS, classification=_customers(), columns=("email",)),)))
    ingest(_copy_of(CUSTOMERS), store, CONFIG)
    run = lacuna.register_lineage(source="s3://lake/copy.csv",
                                  destination="s3://lake/copy2.csv", operation="copy")
    assert (run.outputs[0].classification.tier, run.outputs[0].classification.tags) == (
        Tier.PROPRIETARY, ("PII",))


def test_an_ingested_run_of_public_inputs_keeps_its_own_claim(store: LineageStore) -> None:
    held, refused = ingest(_copy_of(REGIONS), store, CONFIG)
    assert (held.outputs[0].classification.tier, refused) == (Tier.PUBLIC, ())
    # a stricter claim of the output stands: a raise is always taken
    held, refused = ingest(_copy_of(REGIONS, {"tier": "INTERNAL", "tags": ["FINANCIAL"]}),
                           store, CONFIG)
    assert (held.outputs[0].classification.tier, held.outputs[0].classification.tags,
            refused) == (Tier.INTERNAL, ("FINANCIAL",), ())


def test_a_failed_ingested_run_produced_nothing_to_hold(store: LineageStore) -> None:
    held, _ = ingest(_copy_of(CUSTOMERS, state="FAIL"), store, CONFIG)
    assert held.status is RunStatus.FAILED
    assert held.outputs[0].classification.tier is Tier.PUBLIC
    assert store.latest(COPY) is None  # not the dataset's state: nothing was produced


def test_an_input_the_events_classify_lower_is_still_refused_and_said(
        store: LineageStore) -> None:
    run = _copy_of(CUSTOMERS)
    claimed = DatasetVersion(dataset=CUSTOMERS, classification=Classification())  # PUBLIC, sure
    held, refused = ingest(replace(run, inputs=(claimed,)), store, CONFIG)
    assert held.inputs[0].classification.tier is Tier.PROPRIETARY
    assert f"{CUSTOMERS}: tier PUBLIC refused, Lacuna knows it as PROPRIETARY: kept " \
           "PROPRIETARY" in refused
