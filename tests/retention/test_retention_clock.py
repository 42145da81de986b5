"""The retention clock against its owner (third round): re-saving a governed file, copying it
through Lacuna, or lengthening its window in lacuna.yaml used to make it not due; a plaintext
file without a sidecar was kept forever in silence. Real files, the real audit trail (read
back), the CLI."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import time_machine
import yaml

import lacuna
from lacuna.audit import AuditStore
from lacuna.governor import configure
from lacuna.lineage.sidecar import read_sidecar
from lacuna.retention import apply

from .conftest import run, write_at, years_ago


def _plan(project: Path, *args: str) -> dict[str, dict]:  # type: ignore[type-arg]
    plan = run(project, "retention", "plan", "--json", *args)
    assert plan.returncode == 0, plan.stderr
    return {e["path"]: e for e in json.loads(plan.stdout)["entries"]}


def _records(project: Path) -> tuple[dict[str, list[dict]], bool]:  # type: ignore[type-arg]
    """Every retention record per dataset, oldest first, and whether the trail verifies."""
    with AuditStore(f"sqlite:///{project / 'audit.db'}") as store:
        rows = store.list(limit=None, action="retention")
        ok = store.verify().ok
    out: dict[str, list[dict]] = {}  # type: ignore[type-arg]
    for r in reversed(rows):
        out.setdefault(r.data["what"]["dataset"], []).append(r.data)
    return out, ok


def _copy(project: Path, reads: Path, writes: Path) -> None:
    """Read a governed file and write it (or a copy) through Lacuna, now, in one session."""
    lacuna.enable(str(project / "lacuna.yaml"))
    try:
        pd.read_csv(reads).to_csv(writes, index=False)
    finally:
        lacuna.disable()


def _retention(project: Path, **section: object) -> None:
    raw = yaml.safe_load((project / "lacuna.yaml").read_text())
    raw["retention"] = section
    (project / "lacuna.yaml").write_text(yaml.safe_dump(raw), encoding="utf-8")


def test_resaving_a_governed_file_does_not_restart_its_clock(project):
    """Read the 4-year-old INTERNAL file and write it back at its path: its signed sidecar now
    says written today, but the audit trail saw its data 4 years ago; still due, deleted, on
    the trail. Written again after the deletion, the path starts a new clock (kept)."""
    old = write_at(project, years_ago(4), "sales.csv", "old.csv")
    _copy(project, old, old)
    declared = read_sidecar(old).written_at  # type: ignore[union-attr]
    assert declared is not None
    assert declared > datetime.now(UTC) - timedelta(hours=1)  # the sidecar restarted
    entry = _plan(project)[str(old)]
    assert entry["action"] == "delete"
    assert entry["age_days"] > 3 * 365
    assert entry["clock"] < years_ago(3.9).isoformat()
    assert "when the audit trail first saw its data (first written at this path on" \
        in entry["known_from"]
    done = run(project, "retention", "apply", "--json")
    assert done.returncode == 0, done.stdout
    assert json.loads(done.stdout)["deleted"] == [str(old)]
    assert not old.exists()
    records, ok = _records(project)
    assert ok
    assert [r["what"]["event"] for r in records[str(old)]] == ["deleted"]
    assert records[str(old)][0]["retention"]["clock"] == entry["clock"]

    again = write_at(project, years_ago(0.5), "sales.csv", "old.csv")  # a new life
    assert _plan(project)[str(again)]["action"] == "keep"


def test_a_copy_made_through_lacuna_is_as_old_as_what_it_was_read_from(project):
    """Reading the old file and writing it under a new name gave the copy a fresh clock: the
    4-year-old INTERNAL data lived on. The copy is due with its source. What the same session
    writes below the source's tier (a projection to a public column: new data) keeps its own
    clock, as does a file written in another session from data that is not old."""
    _retention(project, tiers={"PUBLIC": {"min": "0d", "max": "2y"}})
    old = write_at(project, years_ago(4), "sales.csv", "old.csv")
    young = write_at(project, years_ago(0.5), "sales.csv", "young.csv")
    root = project / "governed" / "workspace"
    copy, categories = root / "copy.csv", root / "categories.csv"
    lacuna.enable(str(project / "lacuna.yaml"))
    try:
        frame = pd.read_csv(old)
        frame.to_csv(copy, index=False)
        frame[["product_category"]].to_csv(categories, index=False)
    finally:
        lacuna.disable()
    tiers = {p.name: read_sidecar(p).classification.tier.value  # type: ignore[union-attr]
             for p in (copy, categories)}
    assert tiers == {"copy.csv": "INTERNAL", "categories.csv": "PUBLIC"}
    from_young = root / "from_young.csv"
    _copy(project, young, from_young)
    fresh = write_at(project, datetime.now(UTC) - timedelta(days=1), "sales.csv", "fresh.csv")
    entries = _plan(project)
    assert entries[str(copy)]["action"] == "delete"
    assert f"in a session that had read {old} (INTERNAL), first seen" \
        in entries[str(copy)]["known_from"]
    assert entries[str(categories)]["action"] == "keep"
    assert entries[str(categories)]["age_days"] < 1
    assert entries[str(from_young)]["action"] == "keep"
    assert entries[str(from_young)]["clock"] < years_ago(0.4).isoformat()
    assert entries[str(fresh)]["action"] == "keep"
    assert entries[str(fresh)]["age_days"] < 2
    done = run(project, "retention", "apply", "--json")
    assert done.returncode == 0, done.stdout
    assert sorted(json.loads(done.stdout)["deleted"]) == sorted([str(old), str(copy)])
    assert all(p.exists() for p in (young, from_young, fresh, categories))
    records, ok = _records(project)
    assert ok
    assert {p: records[str(p)][-1]["what"]["event"]
            for p in (copy, from_young, fresh, categories)} == {
        copy: "deleted", from_young: "kept", fresh: "kept", categories: "kept"}


def test_deleting_the_first_write_from_the_trail_does_not_restart_the_clock_silently(project):
    """Deleting a file's records by hand (the trail no longer verifies) used to leave a
    re-saved file dated by its re-save: now every file the plan would keep is to review,
    naming the trail's problem. A file due by its own sidecar is still deleted, the re-saved
    one included (its signed sidecar carries when its data was first seen)."""
    old = write_at(project, years_ago(4), "sales.csv", "old.csv")
    due = write_at(project, years_ago(4), "sales.csv", "due.csv")
    young = write_at(project, years_ago(1), "sales.csv", "young.csv")
    _copy(project, old, old)
    with sqlite3.connect(project / "audit.db") as conn:
        gone = conn.execute("DELETE FROM lacuna_audit WHERE action = 'export' AND (body LIKE ? "
                            "OR body LIKE ?)", (f'%"destination":"{young}"%',
                                                f'%"destination":"{old}"%')).rowcount
    assert gone >= 3  # young's write, old's first write and its re-save
    entries = _plan(project)
    assert entries[str(young)]["action"] == "review"
    assert "the audit trail does not verify (record #" in entries[str(young)]["reason"]
    assert entries[str(due)]["action"] == "delete"
    assert entries[str(old)]["action"] == "delete"
    assert "(its signed sidecar)" in entries[str(old)]["known_from"]
    done = run(project, "retention", "apply", "--json")
    assert done.returncode == 1
    assert sorted(json.loads(done.stdout)["deleted"]) == sorted([str(due), str(old)])
    assert json.loads(done.stdout)["review"] == [str(young)]
    assert young.exists()


def test_lengthening_a_window_after_a_file_was_due_does_not_take_it_out_of_the_plan(project):
    """apply recorded 'kept, due 1 year ago (max 3y)' 18 months ago; then lacuna.yaml gives
    INTERNAL a 10-year maximum. The file is to review (kept, apply exits 1, on the trail with
    the previous rule), not silently kept; a hold with a reason keeps it quietly; the rule put
    back deletes it. A file not yet due under the old rule takes the new one, with the change
    shown."""
    due = write_at(project, years_ago(4), "sales.csv", "due.csv")
    later = write_at(project, years_ago(2), "sales.csv", "later.csv")
    with time_machine.travel(years_ago(1.5), tick=False):
        report = apply(configure(str(project / "lacuna.yaml")))
    assert {str(due), str(later)} <= set(report.done["kept"])
    assert "deleted" not in report.done

    _retention(project, tiers={"INTERNAL": {"min": "1y", "max": "10y"}})
    entries = _plan(project)
    entry = entries[str(due)]
    assert entry["action"] == "review"
    assert entry["rule"] == "retention.tiers.INTERNAL: min 1y, max 10y"
    assert entry["previous"]["rule"] == "retention.tiers.INTERNAL: min 1y, max 3y"
    assert entry["previous"]["due_at"][:10] == years_ago(1).isoformat()[:10]
    assert "a file already due does not leave the plan" in entry["reason"]
    assert entries[str(later)]["action"] == "keep"
    assert "its rule changed since apply on" in entries[str(later)]["reason"]
    assert "it was retention.tiers.INTERNAL: min 1y, max 3y" in entries[str(later)]["reason"]

    done = run(project, "retention", "apply", "--json")
    assert done.returncode == 1
    assert json.loads(done.stdout)["review"] == [str(due)]
    assert due.exists()
    records, ok = _records(project)
    assert ok
    last = records[str(due)][-1]
    assert last["what"]["event"] == "review"
    assert last["retention"]["previous"]["rule"] == "retention.tiers.INTERNAL: min 1y, max 3y"
    # the review is recorded, but recording it does not settle it: the next plan says it again
    assert _plan(project)[str(due)]["action"] == "review"

    assert run(project, "retention", "hold", str(due), "--reason",
               "kept 10 years by decision 2026-12").returncode == 0
    held = run(project, "retention", "apply", "--json")
    assert held.returncode == 0, held.stdout
    assert json.loads(held.stdout)["held"] == [str(due)]
    assert run(project, "retention", "release", str(due)).returncode == 0

    _retention(project)  # the seed's table again
    done = run(project, "retention", "apply", "--json")
    assert done.returncode == 0, done.stdout
    assert json.loads(done.stdout)["deleted"] == [str(due)]
    assert not due.exists()
    assert later.exists()
    records, ok = _records(project)
    assert ok
    assert [r["what"]["event"] for r in records[str(due)]] == [
        "kept", "review", "hold-placed", "held", "hold-released", "deleted"]


def test_a_plaintext_file_for_review_can_be_held_with_a_reason(project):
    """A file without a sidecar is to review until someone decides: a hold (audited, with
    its reason) keeps it and apply exits 0; a file due by its modification time under an
    unclassified tier that has a maximum is deleted, as before."""
    plain = project / "governed" / "workspace" / "dropped.csv"
    plain.write_text("a,b\n1,2\n")
    assert _plan(project)[str(plain)]["action"] == "review"
    assert run(project, "retention", "hold", str(plain), "--reason",
               "supplier contract, kept by legal").returncode == 0
    done = run(project, "retention", "apply", "--json")
    assert done.returncode == 0, done.stdout
    assert json.loads(done.stdout)["held"] == [str(plain)]
    assert plain.exists()
    records, ok = _records(project)
    assert ok
    assert records[str(plain)][-1]["what"]["event"] == "held"


def test_the_inventory_reads_a_folder_sidecar_once(project, monkeypatch):
    from lacuna.lineage import sidecar
    from lacuna.lineage.sidecar import write_sidecar
    from lacuna.model import Classification, Tier
    from lacuna.retention.inventory import governed_files, local_roots
    from lacuna.retention.settings import retention_from

    folder = project / "governed" / "workspace" / "ds"
    folder.mkdir(parents=True)
    (folder / "part-0.csv").write_text("region,amount\nnorth,1\n")
    write_sidecar(folder, Classification(tier=Tier.INTERNAL), written_by="etl")
    reads: list[str] = []
    real = sidecar.read_sidecar

    def counted(path):  # type: ignore[no-untyped-def]
        reads.append(str(path))
        return real(path)

    monkeypatch.setattr(sidecar, "read_sidecar", counted)
    items = list(governed_files(local_roots((str(project / "governed" / "workspace"),)),
                                retention_from(None)))
    assert [(i.path, i.tier, i.known_from) for i in items] == [
        (str(folder), Tier.INTERNAL, "signed sidecar")]
    assert reads == [str(folder)]
