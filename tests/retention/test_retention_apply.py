"""The done-when scenario: an expired INTERNAL file is deleted, a PROPRIETARY one inside its
window and one under legal hold are kept, each decision on the audit trail; real files, real
audit trail, the CLI in fresh processes."""

from __future__ import annotations

import json

from lacuna.audit import AuditStore
from lacuna.lineage.sidecar import read_sidecar, sidecar_path

from .conftest import cli, run, write_at, years_ago


def _retention_records(project):
    with AuditStore(f"sqlite:///{project / 'audit.db'}") as store:
        rows = [r for r in store.list(limit=None, action="retention")]
        ok = store.verify().ok
    newest: dict = {}
    for r in rows:  # newest first: keep each dataset's latest record
        newest.setdefault(r.data["what"]["dataset"], r)
    return newest, ok


def test_plan_and_apply_delete_expired_internal_keep_proprietary_and_held(project):
    old_internal = write_at(project, years_ago(4), "sales.csv", "old_sales.csv")
    held_internal = write_at(project, years_ago(4), "sales.csv", "legal/held_sales.csv")
    proprietary = write_at(project, years_ago(4), "customers.csv", "customers.csv")
    fresh_internal = write_at(project, years_ago(0.5), "sales.csv", "new_sales.csv")
    tiers = {p.name: read_sidecar(p).classification.tier.value  # type: ignore[union-attr]
             for p in (old_internal, proprietary, fresh_internal)}
    assert tiers == {"old_sales.csv": "INTERNAL", "customers.csv": "PROPRIETARY",
                     "new_sales.csv": "INTERNAL"}

    held = run(project, "retention", "hold", str(held_internal.parent), "--reason",
               "litigation 2026-17")
    assert held.returncode == 0, held.stderr

    plan = run(project, "retention", "plan", "--json")
    assert plan.returncode == 0, plan.stderr
    entries = {e["path"]: e for e in json.loads(plan.stdout)["entries"]}
    assert entries[str(old_internal)]["action"] == "delete"
    assert entries[str(old_internal)]["policy_id"] == "retention.tiers.INTERNAL"
    assert entries[str(old_internal)]["age_days"] > 3 * 365
    assert entries[str(proprietary)]["action"] == "keep"
    assert "minimum retention (7y)" in entries[str(proprietary)]["reason"]
    assert entries[str(held_internal)]["action"] == "hold"
    assert "litigation 2026-17" in entries[str(held_internal)]["reason"]
    assert entries[str(fresh_internal)]["action"] == "keep"
    assert old_internal.exists()  # planning touches nothing

    done = cli(project, "retention", "apply", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["deleted"] == [str(old_internal)]
    assert not old_internal.exists()
    assert not sidecar_path(old_internal).exists()
    assert proprietary.exists()
    assert held_internal.exists()
    assert fresh_internal.exists()

    records, ok = _retention_records(project)
    assert ok
    events = {p: records[str(p)].data["what"]["event"]
              for p in (old_internal, proprietary, held_internal, fresh_internal)}
    assert events == {old_internal: "deleted", proprietary: "kept", held_internal: "held",
                      fresh_internal: "kept"}
    deleted = records[str(old_internal)]
    assert deleted.allowed
    assert deleted.policy_id == "retention.tiers.INTERNAL"
    assert deleted.data["retention"]["tier"] == "INTERNAL"
    assert not records[str(held_internal)].allowed

    again = run(project, "retention", "apply", "--json")
    assert json.loads(again.stdout).get("deleted") is None  # idempotent

    verify = run(project, "audit", "verify")
    assert verify.returncode == 0, verify.stdout + verify.stderr


def test_release_makes_the_held_file_due(project):
    held = write_at(project, years_ago(4), "sales.csv", "held.csv")
    assert run(project, "retention", "hold", str(held), "--reason", "audit").returncode == 0
    listed = run(project, "retention", "list-holds", "--json")
    assert [h["dataset"] for h in json.loads(listed.stdout)] == [str(held)]
    assert run(project, "retention", "release", str(held)).returncode == 0
    assert json.loads(run(project, "retention", "list-holds", "--json").stdout) == []
    done = run(project, "retention", "apply", "--json")
    assert json.loads(done.stdout)["deleted"] == [str(held)]
    records, ok = _retention_records(project)
    assert ok
    assert records[str(held)].data["what"]["event"] == "deleted"


def test_a_hold_covers_files_reached_through_a_symbolic_link(project):
    """The governed root is configured as a link to the real folder; the hold names the real
    folder (or the other way round): the same files, held either way, never deleted."""
    held = write_at(project, years_ago(4), "sales.csv", "legal/held.csv")
    real = project / "real_governed"
    (project / "governed" / "workspace").rename(real)
    (project / "governed" / "workspace").symlink_to(real, target_is_directory=True)
    assert run(project, "retention", "hold", str(real / "legal"), "--reason",
               "litigation 2026-17").returncode == 0
    plan = json.loads(run(project, "retention", "plan", "--json").stdout)
    assert {e["path"]: e["action"] for e in plan["entries"]}[str(held)] == "hold"
    done = run(project, "retention", "apply", "--json")
    assert json.loads(done.stdout).get("deleted") is None
    assert held.exists()
