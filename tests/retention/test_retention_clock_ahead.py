"""A file written by a process whose clock was set ahead: the write time it declares (signed
sidecar, sealed header) is later than the file's inode change time, which the kernel sets and
no process can; it is dated by that, never kept past its window in silence."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

from lacuna.lineage.sidecar import sidecar_path

from .conftest import NOW, run, write_at


def _plan(project: Path, *args: str) -> dict[str, dict]:  # type: ignore[type-arg]
    plan = run(project, "retention", "plan", "--json", *args)
    assert plan.returncode == 0, plan.stderr
    return {e["path"]: e for e in json.loads(plan.stdout)["entries"]}


def test_a_write_time_declared_ahead_of_the_file_is_dated_by_its_change_time(project):
    """Written with the clock ten years ahead, an INTERNAL file (max 3 years) was 'inside its
    minimum retention until' eleven years from now; four years from now it is due, with or
    without its sidecar. A file written now keeps the clock it declares."""
    ahead = write_at(project, NOW + timedelta(days=3650), "sales.csv", "ahead.csv")
    honest = write_at(project, NOW, "sales.csv", "honest.csv")
    changed = datetime.fromtimestamp(os.stat(ahead).st_ctime, UTC)
    now = _plan(project)
    assert datetime.fromisoformat(now[str(ahead)]["clock"]) == changed
    assert "by its inode change time, as it declares" in now[str(ahead)]["known_from"]
    assert now[str(honest)]["known_from"] == "signed sidecar"
    assert datetime.fromisoformat(now[str(honest)]["clock"]) <= datetime.fromtimestamp(
        os.stat(honest).st_ctime, UTC)
    later = (NOW + timedelta(days=4 * 366)).date().isoformat()
    assert _plan(project, "--as-of", later)[str(ahead)]["action"] == "delete"
    sidecar_path(ahead).unlink()  # dated by its sealed header: the same
    entry = _plan(project, "--as-of", later)[str(ahead)]
    assert (entry["action"], entry["tier"]) == ("delete", "INTERNAL")
