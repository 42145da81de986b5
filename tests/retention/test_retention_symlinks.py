"""Retention and symbolic links: a due file moved out of the governed root, a link left in its
place, is never reported deleted while its data lives on; a link to data retention decides
about itself is deleted as before."""

from __future__ import annotations

import json
import os
from pathlib import Path

from lacuna.audit import AuditStore

from .conftest import run, write_at, years_ago


def _events(project: Path) -> dict[str, tuple[str, str]]:
    """The latest retention event per dataset, with its reasoning."""
    with AuditStore(f"sqlite:///{project / 'audit.db'}") as store:
        rows = store.list(limit=None, action="retention")
    newest: dict[str, tuple[str, str]] = {}
    for r in rows:  # newest first
        newest.setdefault(r.data["what"]["dataset"], (r.data["what"]["event"],
                                                      r.data["decision"]["reasoning"]))
    return newest


def test_a_due_file_moved_out_behind_a_link_is_an_error_not_deleted(project, tmp_path):
    """The file was moved outside the governed root and a link left in its place: its sidecar
    still verifies through the link, so the plan said delete and apply recorded `deleted`
    having removed only the link (the data lived on outside). Now it is an error: kept,
    exit 1, the data and the link untouched."""
    old = write_at(project, years_ago(4), "sales.csv", "old.csv")
    outside = tmp_path / "outside"
    outside.mkdir()
    os.rename(old, outside / "old.csv")
    old.symlink_to(outside / "old.csv")
    done = run(project, "retention", "apply", "--json")
    assert done.returncode == 1, done.stdout
    report = json.loads(done.stdout)
    assert report["error"] == [str(old)]
    assert "deleted" not in report
    assert old.is_symlink()
    assert (outside / "old.csv").exists()
    event, why = _events(project)[str(old)]
    assert event == "error"
    assert why.startswith(f"not deleted: it is a symbolic link to {outside / 'old.csv'}, "
                          "which is not a governed item")


def test_a_due_link_to_a_governed_file_is_deleted_with_it(project):
    """A link inside the governed root to another governed file: that file has its own entry,
    so the link is no hiding place; both are deleted when due."""
    old = write_at(project, years_ago(4), "sales.csv", "old.csv")
    link = old.with_name("alias.csv")
    link.symlink_to(old)
    done = run(project, "retention", "apply", "--json")
    assert done.returncode == 0, done.stdout
    assert sorted(json.loads(done.stdout)["deleted"]) == sorted([str(link), str(old)])
    assert not os.path.lexists(link)
    assert not old.exists()
