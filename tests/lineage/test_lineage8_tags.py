"""OpenLineage ``tags`` facet in: every well-formed tag kept (a key with a dash was dropped),
malformed ones refused by file and line, governance tags imply their tier, and the tags of
Lacuna's own events come back the same through a tags-only import."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from lacuna.lineage.ol_import import read_runs
from lacuna.lineage.openlineage import EventError, event_to_dict, events_to_runs, run_to_events
from lacuna.lineage.records import DatasetRef, DatasetVersion, Run, RunStatus
from lacuna.model import Classification, ColumnClass, ColumnKind, Sensitivity, Tier
from lineage.test_openlineage import problems  # the official schemas' validator


def _event(tags: list[Any], *, run_id: str = "r1") -> dict[str, Any]:
    return {"eventType": "COMPLETE", "eventTime": "2026-01-01T00:00:00Z",
            "producer": "https://example.com/catalog", "run": {"runId": run_id},
            "job": {"namespace": "catalog", "name": "sync"}, "inputs": [],
            "outputs": [{"namespace": "s3://lake", "name": "cards.csv",
                         "facets": {"tags": {"tags": tags}}}]}


def _imported(tags: list[Any]) -> Classification:
    (run,) = events_to_runs([_event(tags)])
    return run.outputs[0].classification


@pytest.mark.parametrize("key", ["pci-dss", "PCI-DSS", "sox.404", "iso:27001", "Legacy Data",
                                 "gdpr_art9", "données", "x" * 128])
def test_a_tags_only_import_keeps_every_well_formed_tag(key: str) -> None:
    c = _imported([{"key": key, "value": "true", "source": "CATALOG"},
                   {"key": "owner-team", "value": "@payments"}])
    assert c.tags == (key.upper(), "OWNER-TEAM")
    assert c.table_tags == c.tags


@pytest.mark.parametrize(("tag", "said"), [
    ({"key": 7, "value": "true"}, "must be a string, not int"),
    ({"value": "true"}, "must be a string, not NoneType"),
    ({"key": "  ", "value": "true"}, "key is empty"),
    ({"key": "x" * 129, "value": "true"}, "129 characters long (at most 128)"),
    ({"key": "pii\x1b[8m", "value": "true"}, "U+001B"),
    ({"key": "pu\u202eiip", "value": "true"}, "U+202E"),
    ({"key": "pii", "value": {"type": "email"}}, "must be a string, not dict"),
    ({"key": "pii", "value": "true", "field": ["email"]}, "names a column"),
    ("pii", "a tag must be an object"),
])
def test_a_malformed_tag_is_refused_by_file_and_line_not_dropped(
        tag: Any, said: str, tmp_path: Path) -> None:
    with pytest.raises(EventError, match="facet tags") as err:
        _imported([{"key": "pci-dss", "value": "true"}, tag])
    assert said in str(err.value)
    events = tmp_path / "events.jsonl"
    events.write_text(json.dumps(_event([{"key": "pii", "value": "true"}], run_id="good"))
                      + "\n" + json.dumps(_event([tag], run_id="bad")) + "\n")
    report = read_runs(events)
    assert [r.id for r in report.runs] == ["good"]  # the other run is left out, and said
    assert report.rejected == 1
    assert report.errors[0].startswith(f"{events}:2: facet tags")


def test_too_many_tags_are_refused_not_truncated(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tags past the 40,000th were dropped without a word (a pii tag among them)."""
    import lacuna.lineage.openlineage as ol

    monkeypatch.setattr(ol, "MAX_TAGS", 20)
    tags = [{"key": f"t{i}", "value": "true"} for i in range(20)]
    assert len(_imported(tags).tags) == 20
    with pytest.raises(EventError, match="21 tags"):
        _imported([*tags, {"key": "pii", "value": "true"}])


@pytest.mark.parametrize(("tags", "tier"), [
    ([{"key": "pii", "value": "true"}], Tier.PROPRIETARY),
    ([{"key": "GDPR", "value": "yes"}], Tier.PROPRIETARY),
    ([{"key": "phi", "value": True}], Tier.PROPRIETARY),
    ([{"key": "financial", "value": "true"}], Tier.INTERNAL),
    ([{"key": "pii"}], Tier.PROPRIETARY),  # no value: still tagged
    ([{"key": "pii", "value": "false"}], Tier.PUBLIC),  # said not to be
    ([{"key": "pci-dss", "value": "true"}], Tier.PUBLIC),  # no class's rule gives it
    ([{"key": "tier", "value": "INTERNAL"}, {"key": "tier", "value": "PUBLIC"}], Tier.INTERNAL),
])
def test_a_governance_tag_on_the_dataset_implies_its_tier(tags: list[Any], tier: Tier) -> None:
    """A dataset tagged pii was imported PUBLIC with the tag PII: the export policy lets
    PUBLIC data go anywhere."""
    c = _imported(tags)
    assert (c.tier, c.floor) == (tier, tier)


def test_a_columns_tags_keep_the_strictest_class_they_give() -> None:
    """Each column tag replaced the last: pii, then classification public, made the column
    public (with the pii type kept); a financial tag on a column was dropped."""
    c = _imported([
        {"key": "pii", "value": "email", "field": "contact"},
        {"key": "classification", "value": "public", "field": "contact"},
        {"key": "sensitivity", "value": "low", "field": "contact"},
        {"key": "financial", "value": "true", "field": "amount"},
        {"key": "sensitivity", "value": "critical", "field": "amount"},
        {"key": "classification", "value": "public", "field": "region"},
    ])
    assert {n: (col.classification, col.pii_type, col.sensitivity)
            for n, col in c.columns.items()} == {
        "contact": (ColumnKind.PII, "email", Sensitivity.HIGH),
        "amount": (ColumnKind.FINANCIAL, None, Sensitivity.CRITICAL),
        "region": (ColumnKind.PUBLIC, None, Sensitivity.LOW)}
    assert c.tier is Tier.PROPRIETARY
    assert set(c.tags) >= {"PII", "GDPR", "FINANCIAL"}


def _tagged_run() -> Run:
    c = Classification(
        tier=Tier.PROPRIETARY, floor=Tier.INTERNAL, table_tags=("PCI-DSS", "SOX.404"),
        tags=("PII", "GDPR", "FINANCIAL", "PCI-DSS", "SOX.404"),
        columns={"email": ColumnClass(classification=ColumnKind.PII, pii_type="email",
                                      sensitivity=Sensitivity.HIGH),
                 "card": ColumnClass(classification=ColumnKind.FINANCIAL,
                                     sensitivity=Sensitivity.CRITICAL),
                 "region": ColumnClass()})
    import datetime as dt

    out = DatasetRef.of("s3://lake/cards.csv")
    return Run(id="6b1c0a7e9b2d4c6e8a0b1c2d3e4f5a6b", operation="export",
               status=RunStatus.SUCCEEDED, outputs=(DatasetVersion(
                   dataset=out, classification=c, columns=("email", "card", "region")),),
               started_at=dt.datetime(2026, 12, 1, tzinfo=dt.UTC))


def _tags_facet(event: dict[str, Any]) -> list[tuple[str, str, str | None]]:
    return sorted((t["key"], t["value"], t.get("field"))
                  for t in event["outputs"][0]["facets"]["tags"]["tags"])


@pytest.mark.parametrize("keep", [("tags", "schema"), None])
def test_export_import_export_gives_the_same_tags(keep: tuple[str, ...] | None) -> None:
    """Lacuna's events validate against the official schemas; imported back (only the
    standard facets, as another catalog passes them on, or whole) and emitted again, they
    carry the same tags facet, and the run the same tags and column classes."""
    first = [json.loads(json.dumps(event_to_dict(e))) for e in run_to_events(_tagged_run())]
    assert [problems(e) for e in first] == [[], []]
    sent = json.loads(json.dumps(first))
    if keep is not None:
        for event in sent:
            for ds in event.get("outputs", []):
                ds["facets"] = {k: v for k, v in ds["facets"].items() if k in keep}
    (back,) = events_to_runs(sent)
    c, before = back.outputs[0].classification, _tagged_run().outputs[0].classification
    assert (c.tier, set(c.tags)) == (before.tier, set(before.tags))
    assert {n: (col.classification, col.pii_type, col.sensitivity)
            for n, col in c.columns.items()} == {
        n: (col.classification, col.pii_type, col.sensitivity)
        for n, col in before.columns.items()}
    again = [event_to_dict(e) for e in run_to_events(replace(back, id=_tagged_run().id))]
    assert [problems(e) for e in again] == [[], []]
    assert _tags_facet(again[1]) == _tags_facet(first[1])


@pytest.mark.parametrize(("tag", "said"), [("TIER", "'tier' is the key"),
                                           ("PII\x07", "U+0007"), ("T" * 129, "129 characters")])
def test_a_tag_the_import_would_refuse_is_refused_when_emitted(tag: str, said: str) -> None:
    from lacuna.errors import LineageError

    run = _tagged_run()
    c = run.outputs[0].classification
    bad = replace(run, outputs=(replace(run.outputs[0], classification=replace(
        c, tags=(*c.tags, tag))),))
    with pytest.raises(LineageError, match="cannot carry") as err:
        run_to_events(bad)
    assert said in str(err.value)
    assert len(run_to_events(run)) == 2


def _with(facets: dict[str, Any]) -> dict[str, Any]:
    event = _event([])
    event["outputs"][0]["facets"] = facets
    return event


@pytest.mark.parametrize(("facets", "said"), [
    ({"lacuna_classification": "PROPRIETARY"}, "facet 'lacuna_classification' must be an object"),
    ({"lacuna_classification": {"columns": {"ssn": {"classification": "pii"}}}}, "has no tier"),
    ({"lacuna_classification": {"tier": "PUBLIC", "schemaVersion": "2"}},
     "not version 1 of Lacuna's classification facet"),
    ({"lacuna_classification": {"tier": "PUBLIC", "_schemaURL":
                                "https://lacuna.dev/spec/facets/2-0-0/Lacuna.json"}},
     "not version 1"),
    ({"lacuna_classification": {"tier": "PUBLIC", "columns": {
        "e": {"classification": "pii", "pii_type": {"type": "email"}}}}},
     "pii_type must be a string"),
    ({"floe_classification": {"columns": {"e": {"classification": "pii", "pii_type": ["a"]}}}},
     "pii_type must be a string"),
    ({"floe_classification": "pii"}, "facet 'floe_classification' must be an object"),
    ({"schema": "email,ssn"}, "facet 'schema' must be an object"),
    ({"schema": {"fields": [{"name": {"n": 1}}]}}, "a field's name must be a string"),
    ({"schema": {"fields": "email"}}, "fields must be a list"),
])
def test_a_hostile_facet_is_refused_not_skipped(facets: dict[str, Any], said: str) -> None:
    """Each was skipped (the dataset read as carrying no classification: an ssn column named
    pii in a facet without a tier came in PUBLIC) or stored as given (a pii_type that is an
    object broke every later listing of PII types: unhashable)."""
    with pytest.raises(EventError) as err:
        events_to_runs([_with(facets)])
    assert said in str(err.value)


def test_lacunas_own_facet_and_absent_facets_are_read() -> None:
    event = event_to_dict(run_to_events(_tagged_run())[1])
    event["outputs"][0]["facets"]["symlinks"] = None  # an absent facet, as some producers say
    (run,) = events_to_runs([event])
    assert run.outputs[0].classification.tier is Tier.PROPRIETARY


def test_lacunas_facet_url_is_read_with_or_without_its_fragment() -> None:
    url = "https://lacuna.dev/spec/facets/1-0-0/LacunaClassificationDatasetFacet.json"
    for said in (url, f"{url}#/$defs/LacunaClassificationDatasetFacet"):
        (run,) = events_to_runs([_with({"lacuna_classification": {
            "_schemaURL": said, "schemaVersion": "1", "tier": "INTERNAL"}})])
        assert run.outputs[0].classification.tier is Tier.INTERNAL
