"""Which runs were imported, in a state database written before imported runs were marked.

Before ``imported_from`` (and before run rows were signed), an ingested run was stored exactly
as Lacuna's own: read back by this version, ``lacuna lineage runs`` and ``GET
/api/v1/lineage/runs`` listed it as ``imported: false``, its producer and user (what its
events claimed) as Lacuna's record. Such rows are judged by what the store can vouch for: a
version of the run's own that the store signed as trusted makes it Lacuna's (ingest never
records one); a producer other than Lacuna's makes it imported; anything else is of unknown
origin, never Lacuna's own. A row edited after it was signed is of unknown origin too."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import yaml
from sqlalchemy import create_engine, text
from typer.testing import CliRunner

from lacuna.cli import app
from lacuna.config import ClassificationConfig
from lacuna.lineage.claims import ingest
from lacuna.lineage.openlineage import events_to_runs
from lacuna.lineage.records import DatasetRef, DatasetVersion, Run, RunStatus
from lacuna.lineage.store import LineageStore
from lacuna.model import Classification, Tier
from lacuna.state import VERSION_TABLE

runner = CliRunner(env={"COLUMNS": "300", "NO_COLOR": "1"})
OUT = DatasetRef("file", "/data/out.csv")


def _event(producer: str, facet: dict[str, object] | None = None) -> dict[str, object]:
    run: dict[str, object] = {"runId": str(uuid.uuid4())}
    if facet is not None:
        run["facets"] = {"lacuna_run": facet}
    return {"eventType": "COMPLETE", "eventTime": "2026-12-01T00:00:00Z", "producer": producer,
            "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
            "job": {"namespace": "n", "name": "j"}, "run": run,
            "outputs": [{"namespace": "file", "name": "/data/x.csv"}]}


def _own(run_id: str) -> Run:
    return Run(id=run_id, operation="export", status=RunStatus.SUCCEEDED, user_id="alice",
               outputs=(DatasetVersion(dataset=OUT, classification=Classification(
                   tier=Tier.INTERNAL)),))


def _populate(url: str) -> None:
    """One run of each kind, recorded by this version."""
    config = ClassificationConfig()
    (airflow,) = events_to_runs([_event("https://airflow.example/1.0")], config)
    (posing,) = events_to_runs([_event("https://x.example/p", {
        "id": "posing", "operation": "export", "status": "succeeded",
        "runProducer": "lacuna", "userId": "ciso"})], config)
    with LineageStore(url) as store:
        ingest(airflow, store, config)
        ingest(posing, store, config)
        store.record(_own("own"))  # a governed write: its output version trusted, signed
        store.record(_own("registered"), trusted=False)  # as register_lineage records
    assert airflow.id != "posing"


def _as_before_marking(url: str) -> None:
    """Rewrite the rows as Lacuna wrote them before ingested runs were marked: no
    ``imported_from``, no signature; and put the schema back a revision, so that opening the
    store migrates it forward."""
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            for rid, provenance in conn.execute(text(
                    "SELECT id, provenance FROM lacuna_lineage_runs")).all():
                data = json.loads(provenance)
                for key in ("imported_from", "user_vouched", "signature"):
                    data.pop(key, None)
                conn.execute(text("UPDATE lacuna_lineage_runs SET provenance = :p "
                                  "WHERE id = :id"), {"p": json.dumps(data), "id": rid})
            conn.execute(text(f"UPDATE {VERSION_TABLE} SET version_num = '0015'"))
    finally:
        engine.dispose()


def _origins(url: str) -> dict[str, tuple[object, object, object]]:
    with LineageStore(url) as store:  # opening it migrates it to head
        return {r.id: (r.provenance()["imported"], r.provenance()["user"],
                       r.provenance()["producer"]) for r in store.runs()}


def test_runs_recorded_now_say_where_they_came_from(store_url: str) -> None:
    url = store_url  # SQLite and PostgreSQL: the signed row reads back as it was signed
    _populate(url)
    shown = _origins(url)
    (airflow,) = [k for k in shown if k not in ("posing", "own", "registered")]
    assert shown == {
        airflow: (True, None, "https://airflow.example/1.0"),
        "posing": (True, None, "https://x.example/p"),
        "own": (False, "alice", "lacuna"),
        "registered": (False, "alice", "lacuna"),
    }


def test_runs_from_before_the_marking_are_never_listed_as_lacunas_own(sandbox: Path) -> None:
    url = f"sqlite:///{sandbox / 'audit.db'}"
    _populate(url)
    _as_before_marking(url)
    shown = _origins(url)
    (airflow,) = [k for k in shown if k not in ("posing", "own", "registered")]
    assert shown == {
        # another producer: imported (its events' producer, as stored)
        airflow: (True, None, "https://airflow.example/1.0"),
        # its facet said runProducer "lacuna", userId "ciso": neither own nor known imported
        "posing": (None, None, None),
        # a signed, trusted version of its own: Lacuna's
        "own": (False, "alice", "lacuna"),
        # untrusted and producer "lacuna": the store cannot tell it from "posing"
        "registered": (None, None, None),
    }
    with LineageStore(url) as store:
        posing = store.get_run("posing")
        assert posing is not None
        assert posing.provenance() == {"user": None, "claimed_user": "ciso", "producer": None,
                                       "claimed_producer": "lacuna", "imported": None}

    config = sandbox / "lacuna.yaml"
    config.write_text(yaml.safe_dump({"audit": {"url": url}}))
    listed = runner.invoke(app, ["lineage", "runs", "--config", str(config)])
    assert listed.exit_code == 0, listed.output
    (row,) = [line for line in listed.output.splitlines() if line.strip().startswith("posing")]
    assert "ciso (claimed)" in row
    assert "lacuna (origin unknown)" in row
    (row,) = [line for line in listed.output.splitlines() if line.strip().startswith("own ")]
    assert "(claimed)" not in row
    assert "(origin unknown)" not in row


def test_an_old_ingested_run_flipped_to_trusted_is_not_made_own(sandbox: Path) -> None:
    """``trusted`` is a plain boolean: set on an old ingested run's versions, their
    signatures do not hold, so they vouch for nothing."""
    url = f"sqlite:///{sandbox / 'audit.db'}"
    _populate(url)
    _as_before_marking(url)
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(text("UPDATE lacuna_lineage_versions SET trusted = 1"))
    finally:
        engine.dispose()
    shown = _origins(url)
    assert (shown["posing"], shown["registered"], shown["own"]) == (
        (None, None, None), (None, None, None), (False, "alice", "lacuna"))


def test_a_signed_run_row_edited_by_hand_is_of_unknown_origin(sandbox: Path) -> None:
    """The run row's signature covers how it reached the store: ``imported_from`` removed
    from an ingested run, added to an own one, or ``user_vouched`` set by hand."""
    url = f"sqlite:///{sandbox / 'audit.db'}"
    _populate(url)
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            rows = dict(conn.execute(text(
                "SELECT id, provenance FROM lacuna_lineage_runs")).all())
            edits = {"posing": lambda d: d.pop("imported_from"),
                     "own": lambda d: d.update(imported_from="https://x.example/p"),
                     "registered": lambda d: d.update(user_vouched=True)}
            for rid, edit in edits.items():
                data = json.loads(rows[rid])
                edit(data)
                conn.execute(text("UPDATE lacuna_lineage_runs SET provenance = :p "
                                  "WHERE id = :id"), {"p": json.dumps(data), "id": rid})
            conn.execute(text("UPDATE lacuna_lineage_runs SET user_id = 'ciso' "
                              "WHERE id NOT IN ('posing', 'own', 'registered')"))
    finally:
        engine.dispose()
    shown = _origins(url)
    assert set(shown.values()) == {(None, None, None)}


def test_a_runs_facets_times_or_status_edited_by_hand_make_its_origin_unknown(
        sandbox: Path) -> None:
    """The signature covers the whole run row and its provenance JSON (facets kept from the
    events, libraries, quality checks), but not a steward's dismissal added to it later (signed
    on its own)."""
    url = f"sqlite:///{sandbox / 'audit.db'}"
    _populate(url)
    with LineageStore(url) as store:
        store.record(Run(id="faceted", operation="export", status=RunStatus.SUCCEEDED,
                         user_id="alice", quality_checks=("not_null(email)",),
                         extra=(("ticket", {"id": 7, "ratio": 0.1}),),
                         outputs=(DatasetVersion(dataset=OUT, classification=Classification(
                             tier=Tier.INTERNAL)),)))
        store.dismiss("posing")  # a dismissal is written into the run's provenance
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            before = dict(conn.execute(text(
                "SELECT id, provenance FROM lacuna_lineage_runs")).all())
    finally:
        engine.dispose()
    assert "dismissal" in json.loads(before["posing"])
    shown = _origins(url)
    assert (shown["posing"], shown["faceted"]) == (
        (True, None, "https://x.example/p"), (False, "alice", "lacuna"))

    edits = {
        "faceted": "UPDATE lacuna_lineage_runs SET provenance = :p WHERE id = 'faceted'",
        "own": "UPDATE lacuna_lineage_runs SET started_at = '2020-01-01T00:00:00+00:00' "
               "WHERE id = 'own'",
        "registered": "UPDATE lacuna_lineage_runs SET status = 'denied' "
                      "WHERE id = 'registered'",
    }
    facets = json.loads(before["faceted"])
    facets["quality_checks"] = []
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            for statement in edits.values():
                conn.execute(text(statement), {"p": json.dumps(facets)})
    finally:
        engine.dispose()
    shown = _origins(url)
    assert {k: shown[k] for k in edits} == dict.fromkeys(edits, (None, None, None))
    assert shown["posing"] == (True, None, "https://x.example/p")
