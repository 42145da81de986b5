"""Retention against the owner of the files, the config and the process: a re-wrap that would
restart the retention clock, a plan carried out after its files changed or were put under
hold, holds that cover nothing, and names that hide a file from the inventory."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pandas as pd
import pytest
import time_machine
import yaml

import lacuna
from lacuna.governor import configure
from lacuna.lineage.sidecar import read_sidecar, sidecar_path
from lacuna.retention import apply, build_plan, place_hold

from .conftest import rotate_and_rewrap, run, write_at, years_ago


def _gov(project: Path):  # type: ignore[no-untyped-def]
    return configure(str(project / "lacuna.yaml"))


def _actions(project: Path) -> dict[str, str]:
    plan = run(project, "retention", "plan", "--json")
    assert plan.returncode == 0, plan.stderr
    return {e["path"]: e["action"] for e in json.loads(plan.stdout)["entries"]}


def test_a_key_rewrap_does_not_restart_the_retention_clock(project):
    """``lacuna storage rewrap`` signs each trusted sidecar again (the file's bytes changed):
    the write time it declares must stay, or every rotation would keep INTERNAL data past its
    3-year maximum forever."""
    old = write_at(project, years_ago(4), "sales.csv", "old_sales.csv")
    declared = read_sidecar(old).written_at  # type: ignore[union-attr]
    assert _actions(project)[str(old)] == "delete"
    assert rotate_and_rewrap(project, old).written_at == declared
    assert _actions(project)[str(old)] == "delete"


def test_apply_deletes_nothing_written_at_a_planned_path_since_the_plan(project):
    """A plan (reviewed with ``plan``, carried out later) says delete old_sales.csv; meanwhile
    new data is written at that path: apply keeps it, and says so on the audit trail."""
    old = write_at(project, years_ago(4), "sales.csv", "old_sales.csv")
    gov = _gov(project)
    plan = build_plan(gov)
    assert {e.item.path: e.action for e in plan.entries}[str(old)] == "delete"

    lacuna.enable(str(project / "lacuna.yaml"))
    try:
        pd.read_csv(project / "sales.csv").to_csv(old, index=False)  # fresh data, same path
    finally:
        lacuna.disable()
    report = apply(gov, plan)
    assert old.exists()
    assert sidecar_path(old).exists()
    assert "deleted" not in report.done
    assert report.done["kept"][0] == str(old)
    record = next(r for r in gov.audit.list(limit=None, action="retention")
                  if r.data["what"]["dataset"] == str(old))
    assert record.data["what"]["event"] == "kept"
    assert not record.allowed
    assert "changed since the plan was made" in record.data["decision"]["reasoning"]
    # the next plan decides about the new file: data written over a governed path keeps the
    # path's clock (the audit trail's first write there, 4 years ago), so it is due
    plan = run(project, "retention", "plan", "--json")
    entry = {e["path"]: e for e in json.loads(plan.stdout)["entries"]}[str(old)]
    assert entry["action"] == "delete"
    assert "when the audit trail first saw its data" in entry["known_from"]


def test_apply_honours_a_hold_placed_after_the_plan(project):
    old = write_at(project, years_ago(4), "sales.csv", "legal/old_sales.csv")
    gov = _gov(project)
    plan = build_plan(gov)
    assert {e.item.path: e.action for e in plan.entries}[str(old)] == "delete"
    hold = place_hold(gov, str(old.parent), reason="litigation 2026-17")
    report = apply(gov, plan)
    assert old.exists()
    assert report.done["held"][0] == str(old)
    record = next(r for r in gov.audit.list(limit=None, action="retention")
                  if r.data["what"]["dataset"] == str(old))
    assert record.data["what"]["event"] == "held"
    assert record.policy_id == f"retention.hold.{hold.id}"


def test_apply_deletes_nothing_through_a_folder_replaced_by_a_link(project, tmp_path):
    """Between plan and apply the planned folder is replaced by a link to a folder outside the
    governed root holding a file of the same name: that file is not deleted."""
    old = write_at(project, years_ago(4), "sales.csv", "team/old_sales.csv")
    gov = _gov(project)
    plan = build_plan(gov)
    assert {e.item.path: e.action for e in plan.entries}[str(old)] == "delete"
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "old_sales.csv").write_text("precious\n")
    os.rename(old.parent, tmp_path / "moved_team")
    old.parent.symlink_to(outside, target_is_directory=True)
    apply(gov, plan)
    assert (outside / "old_sales.csv").read_text() == "precious\n"
    assert (tmp_path / "moved_team" / "old_sales.csv").exists()


def test_a_hold_on_a_path_that_does_not_exist_is_refused(project):
    """A hold on ``Legal`` when the folder is ``legal`` would hold nothing (and the files
    would be deleted): refused, naming the folder that is there."""
    held = write_at(project, years_ago(4), "sales.csv", "legal/old_sales.csv")
    variant = held.parent.with_name("Legal")
    placed = run(project, "retention", "hold", str(variant), "--reason", "litigation 2026-17")
    assert placed.returncode == 2
    assert "no file or folder there" in placed.stderr
    assert f"did you mean {held.parent}?" in placed.stderr
    assert json.loads(run(project, "retention", "list-holds", "--json").stdout) == []
    dotted = run(project, "retention", "hold", f"{held.parent}/../legal/", "--reason", "r")
    assert dotted.returncode == 0, dotted.stderr
    assert _actions(project)[str(held)] == "hold"


def test_renaming_a_held_folder_deletes_nothing(project):
    """The folder under hold is renamed: the hold no longer names where the data is, so
    nothing is deleted (error, exit 1) until the hold is placed where the data is now. The
    held data itself is held still: the hold follows its folder's device and inode."""
    held = write_at(project, years_ago(4), "sales.csv", "legal/old_sales.csv")
    other = write_at(project, years_ago(4), "sales.csv", "old_sales.csv")
    assert run(project, "retention", "hold", str(held.parent), "--reason",
               "litigation 2026-17").returncode == 0
    moved = held.parent.with_name("legal-2026")
    held.parent.rename(moved)
    plan = json.loads(run(project, "retention", "plan", "--json").stdout)
    entries = {e["path"]: e for e in plan["entries"]}
    assert entries[str(moved / held.name)]["action"] == "hold"
    assert entries[str(other)]["action"] == "error"
    assert "no longer exists" in entries[str(other)]["reason"]
    done = run(project, "retention", "apply", "--json")
    assert done.returncode == 1
    assert (moved / held.name).exists()
    assert other.exists()
    # the steward moves the hold: the held data is held, the rest is due again
    assert run(project, "retention", "hold", str(moved), "--reason", "litigation").returncode == 0
    assert run(project, "retention", "release", str(held.parent)).returncode == 0
    done = run(project, "retention", "apply", "--json")
    assert done.returncode == 0, done.stdout
    assert json.loads(done.stdout)["deleted"] == [str(other)]
    assert (moved / held.name).exists()


def test_a_held_file_renamed_and_replaced_at_its_path_stays_held(project):
    """The held file is renamed (a backup by hand, an editor's save) and another file is
    written at the held path, so the hold is not lost: the held data under its new name was
    deleted when due. The hold follows the data (its device and inode, recorded on the audit
    trail when it was placed); the new file at the path is held too."""
    held = write_at(project, years_ago(4), "sales.csv", "report.csv")
    other = write_at(project, years_ago(4), "sales.csv", "other.csv")
    assert run(project, "retention", "hold", str(held), "--reason",
               "litigation 2026-17").returncode == 0
    backup = held.with_name("report.csv.bak")
    os.rename(held, backup)
    write_at(project, years_ago(0), "sales.csv", "report.csv")
    actions = _actions(project)
    assert (actions[str(backup)], actions[str(held)], actions[str(other)]) == (
        "hold", "hold", "delete")
    done = run(project, "retention", "apply", "--json")
    assert done.returncode == 0, done.stdout
    assert backup.exists()
    assert not other.exists()


def test_a_hold_on_a_file_covers_its_other_names(project):
    """A hard link to a held file elsewhere under the root names the same data: held too."""
    held = write_at(project, years_ago(4), "sales.csv", "legal/old_sales.csv")
    assert run(project, "retention", "hold", str(held), "--reason", "audit").returncode == 0
    link = held.parent.parent / "copy.csv"
    os.link(held, link)
    shutil.copy(sidecar_path(held), sidecar_path(link))  # same bytes: a trusted declaration
    assert _actions(project)[str(link)] == "hold"


def test_files_named_like_lacunas_own_are_still_governed(project):
    """A data file named like a sidecar or a temporary file (``.lacuna-x.csv``,
    ``x.lacuna.json``), written through Lacuna with a sidecar of its own, is an item: its name
    does not hide it from retention."""
    hidden = write_at(project, years_ago(4), "sales.csv", ".lacuna-sales.csv")
    disguised = write_at(project, years_ago(4), "sales.csv", "sales.lacuna.json")
    actions = _actions(project)
    assert actions[str(hidden)] == "delete"
    assert actions[str(disguised)] == "delete"
    assert str(sidecar_path(hidden)) not in actions  # a real sidecar is not an item
    done = run(project, "retention", "apply", "--json")
    assert sorted(json.loads(done.stdout)["deleted"]) == sorted([str(hidden), str(disguised)])
    assert not hidden.exists()
    assert not disguised.exists()


def test_an_archive_dir_spelled_with_a_tilde_is_not_archived_again(project, monkeypatch):
    monkeypatch.setenv("HOME", str(project))
    path = write_at(project, years_ago(4), "sales.csv", "sales.csv")
    raw = yaml.safe_load((project / "lacuna.yaml").read_text())
    raw["retention"] = {"tiers": {"INTERNAL": {"max": "3y", "on_expiry": "archive"}},
                        "archive_dir": "~/governed/workspace/archive"}
    (project / "lacuna.yaml").write_text(yaml.safe_dump(raw), encoding="utf-8")
    archived = project / "governed" / "workspace" / "archive" / "sales.csv"
    assert run(project, "retention", "apply").returncode == 0
    assert not path.exists()
    assert archived.exists()
    assert str(archived) not in _actions(project)  # the archive is not walked
    assert run(project, "retention", "apply").returncode == 0
    assert archived.exists()


def test_a_modification_time_in_the_future_does_not_keep_a_file_forever(project):
    """A file dated by its modification time (no trusted sidecar) whose owner sets that time
    to 2100: it is dated by when that was done (its inode change time), not by 2100."""
    raw = yaml.safe_load((project / "lacuna.yaml").read_text())
    raw["retention"] = {"unclassified_tier": "INTERNAL",
                        "tiers": {"INTERNAL": {"min": "0d", "max": "0d"}}}
    (project / "lacuna.yaml").write_text(yaml.safe_dump(raw), encoding="utf-8")
    plain = project / "governed" / "workspace" / "copied.csv"
    plain.parent.mkdir(parents=True, exist_ok=True)
    plain.write_text("region,amount\nnorth,1\n")
    stale = write_at(project, years_ago(1), "sales.csv", "stale.csv")
    with open(stale, "ab") as fh:  # the sidecar no longer matches: dated by mtime too
        fh.write(b"x")
    future = 4102444800  # 2100-01-01
    for path in (plain, stale):
        os.utime(path, (future, future))
    actions = _actions(project)
    assert actions[str(plain)] == "delete"
    assert actions[str(stale)] == "delete"


def test_a_dataset_window_names_its_folder_however_it_is_spelled(project):
    """``retention.datasets`` gives the legal folder a 10-year minimum; the governed root is
    configured through a link and the pattern names the real folder (or spells it with
    ``..``): the minimum applies, the INTERNAL 3-year maximum does not delete the file."""
    held = write_at(project, years_ago(4), "sales.csv", "legal/old_sales.csv")
    real = project / "real_governed"
    (project / "governed" / "workspace").rename(real)
    (project / "governed" / "workspace").symlink_to(real, target_is_directory=True)
    for pattern in (f"{real}/legal/", "governed/workspace/legal/../legal/"):
        raw = yaml.safe_load((project / "lacuna.yaml").read_text())
        raw["retention"] = {"datasets": {pattern: {"min": "10y"}}}
        (project / "lacuna.yaml").write_text(yaml.safe_dump(raw), encoding="utf-8")
        plan = json.loads(run(project, "retention", "plan", "--json").stdout)
        entry = {e["path"]: e for e in plan["entries"]}[str(held)]
        assert entry["action"] == "keep", pattern
        assert entry["policy_id"] == f"retention.datasets.{pattern}"


def test_a_hold_on_a_file_inside_a_folder_dataset_keeps_the_folder(project):
    """A partitioned dataset (a folder with one sidecar) is one item, deleted as a whole: a
    hold on one of its files keeps the folder."""
    from lacuna.lineage.sidecar import write_sidecar
    from lacuna.model import Classification, Tier

    folder = project / "governed" / "workspace" / "sales_ds"
    (folder / "year=2022").mkdir(parents=True)
    part = folder / "year=2022" / "part-0.csv"
    part.write_text("region,amount\nnorth,1\n")
    with time_machine.travel(years_ago(4), tick=False):
        write_sidecar(folder, Classification(tier=Tier.INTERNAL), written_by="etl")
    assert _actions(project)[str(folder)] == "delete"
    assert run(project, "retention", "hold", str(part), "--reason", "subpoena").returncode == 0
    assert _actions(project)[str(folder)] == "hold"
    done = run(project, "retention", "apply", "--json")
    assert done.returncode == 0, done.stdout
    assert part.exists()


def test_archiving_never_overwrites_an_archived_file(project):
    """sales.csv was archived; a later sales.csv written at the same path is due too: it is
    not moved over the archived one (failed, exit 1), both stay."""
    raw = yaml.safe_load((project / "lacuna.yaml").read_text())
    archive = project / "archive"
    raw["retention"] = {"tiers": {"INTERNAL": {"max": "3y", "on_expiry": "archive"}},
                        "archive_dir": str(archive)}
    (project / "lacuna.yaml").write_text(yaml.safe_dump(raw), encoding="utf-8")
    path = write_at(project, years_ago(5), "sales.csv", "sales.csv")
    assert run(project, "retention", "apply").returncode == 0
    first = (archive / "sales.csv").read_bytes()
    path = write_at(project, years_ago(4), "sales.csv", "sales.csv")
    done = run(project, "retention", "apply", "--json")
    assert done.returncode == 1
    assert "already holds an archived file" in json.loads(done.stdout)["failed"][0]
    assert (archive / "sales.csv").read_bytes() == first
    assert path.exists()


def test_a_hold_is_never_released_off_the_record(project, monkeypatch):
    from lacuna.errors import AuditError
    from lacuna.retention import list_holds, release_hold

    held = write_at(project, years_ago(4), "sales.csv", "legal/old_sales.csv")
    gov = _gov(project)
    hold = place_hold(gov, str(held.parent), reason="litigation 2026-17")

    def broken(*_args, **_kwargs):  # type: ignore[no-untyped-def]
        msg = "database is locked"
        raise AuditError(msg)

    monkeypatch.setattr(gov.audit, "record_event", broken)
    with pytest.raises(AuditError):
        release_hold(gov, str(held.parent))
    assert [h.id for h in list_holds(gov.config)] == [hold.id]
    monkeypatch.undo()
    release_hold(gov, hold.id)
    assert list_holds(gov.config) == []


def test_the_allowed_path_round_trips_from_write_to_expiry(project):
    """Write (sealed), read back, rotate and re-wrap, read back, expire: every step as
    allowed, each read back exactly what was written, and at expiry the file goes with its
    sidecar, while a file still inside its window stays and reads back as written."""
    from lacuna.keystore import keystore_for
    from lacuna.storage import is_sealed, read_header

    source = pd.read_csv(project / "sales.csv")
    old = write_at(project, years_ago(4), "sales.csv", "old_sales.csv")
    new = write_at(project, years_ago(0.1), "sales.csv", "new_sales.csv")
    assert is_sealed(old)
    assert is_sealed(new)

    def read_back(path: Path) -> pd.DataFrame:
        lacuna.enable(str(project / "lacuna.yaml"))
        try:
            return pd.read_csv(path)
        finally:
            lacuna.disable()

    pd.testing.assert_frame_equal(read_back(old), source)
    assert read_header(old).key.version == 1
    assert run(project, "keys", "rotate", "storage").returncode == 0
    assert run(project, "storage", "rewrap").returncode == 0
    assert read_header(old).key.version == read_header(new).key.version == 2
    store = keystore_for(_gov(project).config)
    assert store.backend.versions("storage") == (1, 2)  # v1 kept for files not yet re-wrapped
    pd.testing.assert_frame_equal(read_back(old), source)
    pd.testing.assert_frame_equal(read_back(new), source)
    applied = run(project, "retention", "apply")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert not old.exists()
    assert not sidecar_path(old).exists()
    assert new.exists()
    assert read_sidecar(new).trusted  # type: ignore[union-attr]
    pd.testing.assert_frame_equal(read_back(new), source)


def test_a_sidecar_signed_lower_than_the_sealed_header_does_not_spare_the_file(project):
    """INTERNAL sales data sealed 4 years ago (INTERNAL: at most 3 years), whose sidecar was
    signed PUBLIC (a sealed file swapped in while a public write signed its sidecar: a genuine
    signature over the wrong file). PUBLIC has no maximum: it was kept for good."""
    from lacuna.lineage.sidecar import write_sidecar
    from lacuna.model import Classification, Tier

    old = write_at(project, years_ago(4), "sales.csv", "old_sales.csv")
    assert _actions(project)[str(old)] == "delete"
    declared = read_sidecar(old)
    assert declared is not None
    with time_machine.travel(years_ago(4), tick=False):
        write_sidecar(old, Classification(tier=Tier.PUBLIC), written_at=declared.written_at)
    assert read_sidecar(old).trusted  # type: ignore[union-attr]
    plan = json.loads(run(project, "retention", "plan", "--json").stdout)
    entry = next(e for e in plan["entries"] if e["path"] == str(old))
    assert entry["action"] == "delete"
    assert entry["tier"] == "INTERNAL"


def test_a_sidecar_that_agrees_with_its_header_is_planned_as_before(project):
    kept = write_at(project, years_ago(0.5), "sales.csv", "new_sales.csv")
    plan = json.loads(run(project, "retention", "plan", "--json").stdout)
    entry = next(e for e in plan["entries"] if e["path"] == str(kept))
    assert (entry["action"], entry["tier"]) == ("keep", "INTERNAL")
    assert entry["known_from"].startswith("signed sidecar")


def test_archived_sealed_files_are_rewrapped_and_never_shredded_by_a_key_retirement(project):
    """sales.csv (sealed under storage v1) archived to retention.archive_dir, outside the
    governed root; then keys rotate, storage rewrap, keys retire 1. The re-wrap did not see the
    archive and the retirement did not check it: the archived data was crypto-shredded. Now
    the archive is re-wrapped with the governed roots, and read back whole."""
    from lacuna.storage.sealed import wrapping_keys

    raw = yaml.safe_load((project / "lacuna.yaml").read_text())
    archive = project / "archive"
    raw["retention"] = {"tiers": {"INTERNAL": {"max": "3y", "on_expiry": "archive"}},
                        "archive_dir": str(archive)}
    (project / "lacuna.yaml").write_text(yaml.safe_dump(raw), encoding="utf-8")
    write_at(project, years_ago(5), "sales.csv", "sales.csv")
    assert run(project, "retention", "apply").returncode == 0
    archived = archive / "sales.csv"
    assert [k.version for k in wrapping_keys(archived)] == [1]
    assert run(project, "keys", "rotate", "storage").returncode == 0
    refused = run(project, "keys", "retire", "1")  # the archive still needs v1
    assert refused.returncode == 1
    rewrap = run(project, "storage", "rewrap")
    assert rewrap.returncode == 0, rewrap.stdout
    assert [k.version for k in wrapping_keys(archived)] == [2]
    assert run(project, "keys", "retire", "1").returncode == 0
    lacuna.enable(str(project / "lacuna.yaml"))
    try:
        back = pd.read_csv(archived)
    finally:
        lacuna.disable()
    pd.testing.assert_frame_equal(back, pd.read_csv(project / "sales.csv"))
