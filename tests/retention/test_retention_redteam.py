"""Retention against the owner of the files, the state database and the process (second
round): data kept past its window by dropping or editing its sidecar, by a name retention
skipped, by a hold row written by hand, or by a hard link outside the governed root; and an
apply stopped by a file name that is not UTF-8."""

from __future__ import annotations

import json
import os
import sqlite3
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from lacuna.audit import AuditStore
from lacuna.lineage.sidecar import read_sidecar, sidecar_path

from .conftest import run, write_at, years_ago


def _plan(project: Path) -> dict[str, dict]:  # type: ignore[type-arg]
    plan = run(project, "retention", "plan", "--json")
    assert plan.returncode == 0, plan.stderr
    return {e["path"]: e for e in json.loads(plan.stdout)["entries"]}


def _events(project: Path) -> tuple[dict[str, str], bool]:
    """The latest retention event per dataset, and whether the trail verifies."""
    with AuditStore(f"sqlite:///{project / 'audit.db'}") as store:
        rows = store.list(limit=None, action="retention")
        ok = store.verify().ok
    newest: dict[str, str] = {}
    for r in rows:  # newest first
        newest.setdefault(r.data["what"]["dataset"], r.data["what"]["event"])
    return newest, ok


def test_a_sealed_file_whose_sidecar_was_removed_is_due_by_its_sealed_header(project):
    """Removing the sidecar of an INTERNAL file used to make it PROPRIETARY with no maximum:
    kept forever. The sealed header says (authenticated) when and at which tier it was
    written: it is deleted when due, and a young one is still kept."""
    old = write_at(project, years_ago(4), "sales.csv", "old.csv")
    young = write_at(project, years_ago(0.5), "sales.csv", "young.csv")
    for path in (old, young):
        sidecar_path(path).unlink()
    entries = _plan(project)
    assert entries[str(old)]["action"] == "delete"
    assert entries[str(old)]["tier"] == "INTERNAL"
    assert entries[str(old)]["known_from"] == ("no sidecar: tier and write time from its "
                                               "sealed header (authenticated)")
    assert entries[str(old)]["age_days"] > 3 * 365
    assert entries[str(young)]["action"] == "keep"
    assert entries[str(young)]["tier"] == "INTERNAL"
    done = run(project, "retention", "apply", "--json")
    assert done.returncode == 0, done.stdout
    assert json.loads(done.stdout)["deleted"] == [str(old)]
    assert not old.exists()
    assert young.exists()
    events, ok = _events(project)
    assert ok
    assert (events[str(old)], events[str(young)]) == ("deleted", "kept")


def test_a_plaintext_file_without_a_sidecar_is_for_review_not_kept_silently(project):
    """No sealed header to go by: unknown data is never deleted early (PROPRIETARY by what is
    known), but no longer kept forever in silence either: it is to review, and apply records
    that and exits 1 until it is written through Lacuna, deleted or held."""
    plain = project / "governed" / "workspace" / "dropped.csv"
    plain.write_text("a,b\n1,2\n")
    entry = _plan(project)[str(plain)]
    assert (entry["action"], entry["tier"]) == ("review", "PROPRIETARY")
    assert entry["known_from"].startswith("no sidecar: treated as PROPRIETARY")
    assert entry["reason"].startswith("to review: no sidecar, so its age and tier are not "
                                      "established from trusted evidence")
    done = run(project, "retention", "apply", "--json")
    assert done.returncode == 1
    assert json.loads(done.stdout)["review"] == [str(plain)]
    assert plain.exists()
    events, ok = _events(project)
    assert ok
    assert events[str(plain)] == "review"


def test_an_untrusted_sidecar_claiming_more_than_the_header_is_an_error(project):
    """Editing the sidecar to say PROPRIETARY (so it is not trusted) no longer keeps the file
    silently: kept, as an error naming both claims; apply exits 1. An untrusted sidecar that
    claims less than the header changes nothing: the header decides."""
    raised = write_at(project, years_ago(4), "sales.csv", "raised.csv")
    lowered = write_at(project, years_ago(4), "sales.csv", "lowered.csv")
    for path, tier in ((raised, "PROPRIETARY"), (lowered, "PUBLIC")):
        side = sidecar_path(path)
        side.write_text(side.read_text().replace('"INTERNAL"', f'"{tier}"'))
        assert not read_sidecar(path).trusted  # type: ignore[union-attr]
    entries = _plan(project)
    assert entries[str(raised)]["action"] == "error"
    assert "declares PROPRIETARY written" in entries[str(raised)]["reason"]
    assert "sealed header says INTERNAL" in entries[str(raised)]["reason"]
    assert entries[str(lowered)]["action"] == "delete"
    assert entries[str(lowered)]["tier"] == "INTERNAL"
    done = run(project, "retention", "apply", "--json")
    assert done.returncode == 1
    assert json.loads(done.stdout)["deleted"] == [str(lowered)]
    assert raised.exists()
    assert not lowered.exists()


@pytest.mark.parametrize(("later", "action"), [(timedelta(hours=2), "delete"),
                                               (timedelta(days=3 * 365), "error")])
def test_an_untrusted_sidecar_dated_later_than_the_header(project, later, action):
    """A sidecar is written when its file is closed, a little after the header: an untrusted
    one (e.g. a big file's, signed before 2026-12) a few hours later is no claim; one that
    declares the file written years later (to restart its clock) is an error."""
    path = write_at(project, years_ago(4), "sales.csv", "dated.csv")
    side = sidecar_path(path)
    raw = json.loads(side.read_text())
    raw["written_at"] = (datetime.fromisoformat(raw["written_at"]) + later).isoformat()
    side.write_text(json.dumps(raw))
    assert not read_sidecar(path).trusted  # type: ignore[union-attr]
    entry = _plan(project)[str(path)]
    assert entry["action"] == action
    assert entry["tier"] == "INTERNAL"


@pytest.mark.parametrize("name", [".lacuna-old.csv", "old.csv.lacuna.json"])
def test_a_data_file_renamed_like_lacunas_own_without_a_sidecar_is_an_item(project, name):
    """Renamed to a temporary file's or a sidecar's name and its sidecar removed, a file used
    to vanish from the inventory (never due). Only a file that holds a declaration is
    Lacuna's own; a real sidecar temp file is still not an item."""
    path = write_at(project, years_ago(4), "sales.csv", "old.csv")
    sidecar_path(path).unlink()
    hidden = path.with_name(name)
    path.rename(hidden)
    temp = path.with_name(".lacuna-abc123.tmp")  # a sidecar being written
    temp.write_text(json.dumps({"classification": {"tier": "PUBLIC"}}))
    entries = _plan(project)
    assert entries[str(hidden)]["action"] == "delete"
    assert str(temp) not in entries
    done = run(project, "retention", "apply", "--json")
    assert json.loads(done.stdout)["deleted"] == [str(hidden)]
    assert not hidden.exists()
    assert temp.exists()


def _copy_hold_row(project: Path, hold_id: str, dataset: Path) -> None:
    with sqlite3.connect(project / "audit.db") as conn:
        conn.row_factory = sqlite3.Row
        row = dict(conn.execute("SELECT * FROM lacuna_retention_holds").fetchone())
        row.update(id=hold_id, dataset=str(dataset), released_by=None, released_at=None)
        conn.execute(f"INSERT INTO lacuna_retention_holds ({', '.join(row)}) "
                     f"VALUES ({', '.join('?' * len(row))})", list(row.values()))


def test_a_hold_row_written_by_hand_is_an_error_not_a_silent_hold(project, caplog):
    """A hold inserted into ``lacuna_retention_holds`` by hand (never on the audit trail)
    used to keep the file as held, silently. It is an error now (kept, apply exits 1); a
    hold placed with ``lacuna retention hold`` still holds."""
    held = write_at(project, years_ago(4), "sales.csv", "held.csv")
    forged = write_at(project, years_ago(4), "sales.csv", "forged.csv")
    free = write_at(project, years_ago(4), "sales.csv", "free.csv")
    assert run(project, "retention", "hold", str(held), "--reason", "litigation").returncode == 0
    _copy_hold_row(project, "f" * 32, forged)
    entries = _plan(project)
    assert entries[str(held)]["action"] == "hold"
    assert entries[str(forged)]["action"] == "error"
    assert "never placed on the audit trail" in entries[str(forged)]["reason"]
    assert entries[str(free)]["action"] == "delete"
    done = run(project, "retention", "apply", "--json")
    assert done.returncode == 1
    assert json.loads(done.stdout)["deleted"] == [str(free)]
    assert held.exists()
    assert forged.exists()
    events, ok = _events(project)
    assert ok
    assert (events[str(held)], events[str(forged)]) == ("held", "error")


def test_a_released_hold_made_active_again_by_hand_is_an_error(project):
    path = write_at(project, years_ago(4), "sales.csv", "was_held.csv")
    assert run(project, "retention", "hold", str(path), "--reason", "audit").returncode == 0
    assert run(project, "retention", "release", str(path)).returncode == 0
    with sqlite3.connect(project / "audit.db") as conn:
        conn.execute("UPDATE lacuna_retention_holds SET released_by = NULL, released_at = NULL")
    entry = _plan(project)[str(path)]
    assert entry["action"] == "error"
    assert "released on the audit trail, active again in the holds table" in entry["reason"]
    assert path.exists()


def test_a_hard_link_outside_the_plan_makes_deleting_an_error(project, tmp_path):
    """Deleting a governed name whose data has a hard link elsewhere deletes nothing of the
    data: an error, kept. Two names of the same data both due under the root are deleted."""
    linked = write_at(project, years_ago(4), "sales.csv", "linked.csv")
    outside = project / "Downloads" / "keep-me.csv"
    os.link(linked, outside)
    twin = write_at(project, years_ago(4), "sales.csv", "twin.csv")
    twin2 = twin.with_name("twin2.csv")
    os.link(twin, twin2)
    sidecar_path(twin2).write_bytes(sidecar_path(twin).read_bytes())
    entries = _plan(project)
    assert entries[str(linked)]["action"] == "error"
    assert "1 other hard link(s)" in entries[str(linked)]["reason"]
    assert (entries[str(twin)]["action"], entries[str(twin2)]["action"]) == ("delete", "delete")
    done = run(project, "retention", "apply", "--json")
    assert done.returncode == 1
    # deleting the first name changes the inode (its link count, its ctime): the second is
    # no longer the file planned, kept for the next plan (recheck), which deletes it
    assert json.loads(done.stdout)["deleted"] == [str(twin)]
    assert json.loads(done.stdout)["kept"][0] == str(twin2)
    assert linked.exists()
    assert outside.exists()
    os.unlink(outside)  # the operator removes the other name: the governed one is due again
    done = run(project, "retention", "apply", "--json")
    assert done.returncode == 0, done.stdout
    assert sorted(json.loads(done.stdout)["deleted"]) == [str(linked), str(twin2)]
    assert not linked.exists()
    assert not twin2.exists()


def test_a_file_name_that_is_not_utf8_neither_stops_apply_nor_escapes_the_trail(project):
    """A due file named with a byte that is not UTF-8 made apply crash writing its audit
    record, so nothing after it was deleted. It is deleted, its record reads back with the
    same name, and every other due file is deleted too."""
    good = write_at(project, years_ago(4), "sales.csv", "zz_good.csv")
    made = write_at(project, years_ago(4), "sales.csv", "tmp.csv")
    raw = os.fsencode(made.parent) + b"/b\xffd.csv"
    os.rename(os.fsencode(made), raw)
    os.rename(os.fsencode(sidecar_path(made)), raw + b".lacuna.json")
    bad = os.fsdecode(raw)
    entries = _plan(project)
    assert entries[bad]["action"] == "delete"
    done = run(project, "retention", "apply", "--json")
    assert done.returncode == 0, done.stdout
    assert not os.path.lexists(raw)
    assert not good.exists()
    events, ok = _events(project)
    assert ok
    assert (events[bad], events[str(good)]) == ("deleted", "deleted")


def test_a_hand_written_folder_sidecar_does_not_hide_the_files_in_it(project):
    """A sidecar written by hand next to a folder used to make the folder one item (untrusted:
    PROPRIETARY, never due), hiding every due file in it. Under an untrusted folder sidecar
    the files are items of their own; a trusted folder dataset is still one item (deleted as
    a whole: tests/retention/test_retention_hostile.py)."""
    inside = write_at(project, years_ago(4), "sales.csv", "box/old.csv")
    young = write_at(project, years_ago(0.5), "sales.csv", "box/young.csv")
    folder = inside.parent
    sidecar_path(folder).write_text(json.dumps({"classification": {"tier": "PROPRIETARY"}}))
    entries = _plan(project)
    assert str(folder) not in entries
    assert entries[str(inside)]["action"] == "delete"
    assert entries[str(young)]["action"] == "keep"
    done = run(project, "retention", "apply", "--json")
    assert json.loads(done.stdout)["deleted"] == [str(inside)]
    assert not inside.exists()
    assert young.exists()
