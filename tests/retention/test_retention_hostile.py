"""Retention against the owner of the files, the config and the process: a re-wrap that would
restart the retention clock, a plan carried out after its files changed or were put under
hold, holds that cover nothing, and names that hide a file from the inventory."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd

import lacuna
from lacuna.governor import configure
from lacuna.lineage.sidecar import read_sidecar, sidecar_path
from lacuna.retention import apply, build_plan, place_hold

from .conftest import run, write_at, years_ago


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
    assert run(project, "keys", "rotate", "storage").returncode == 0
    rewrap = run(project, "storage", "rewrap")
    assert rewrap.returncode == 0, rewrap.stdout
    assert "1 of 1 sealed file(s) re-wrapped" in rewrap.stdout
    after = read_sidecar(old)
    assert after is not None
    assert after.trusted
    assert after.written_at == declared
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
    # the next plan decides about the new file: inside its window
    assert _actions(project)[str(old)] == "keep"


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
