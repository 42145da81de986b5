"""Windows from config and Rego, fail-closed cases, config errors, holds, exception files."""

from __future__ import annotations

import json
import os
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from lacuna.config import config_from_dict, load_config
from lacuna.errors import ConfigError, PolicyError
from lacuna.governor import Governor
from lacuna.lineage.sidecar import sidecar_path
from lacuna.model import Tier
from lacuna.policy.bundle import default_bundle_root
from lacuna.retention import Duration, HoldError, build_plan, place_hold, retention_from
from lacuna.retention.rules import parse_answer

from .conftest import run, write_at, years_ago

REGO = """package governance.retention
import rego.v1

retention := {"hold": true, "reason": "regulator inquiry"} if {
    contains(input.dataset.path, "/inquiry/")
}
retention := "30d" if {
    input.dataset.tier == "PROPRIETARY"
    not contains(input.dataset.path, "/inquiry/")
}
retention := {"min": "10y"} if input.dataset.tier == "INTERNAL"
"""


def _gov(project: Path, **retention: object) -> Governor:
    raw = yaml.safe_load((project / "lacuna.yaml").read_text())
    if retention:
        raw["retention"] = retention
    return Governor(config_from_dict(raw, source=project / "lacuna.yaml"))


def _actions(plan):
    return {Path(e.item.path).name: e.action for e in plan.entries if e.item.kind == "file"}


def _bundle_with(project: Path, rego: str) -> Path:
    bundle = project / "policies"
    shutil.copytree(str(default_bundle_root()), bundle)
    (bundle / "retention.rego").write_text(rego, encoding="utf-8")
    raw = yaml.safe_load((project / "lacuna.yaml").read_text())
    raw["policy"] = {"dir": str(bundle)}
    (project / "lacuna.yaml").write_text(yaml.safe_dump(raw), encoding="utf-8")
    return bundle


def test_durations_are_calendar_arithmetic():
    start = datetime(2020, 2, 29, tzinfo=UTC)
    assert Duration.parse("1y").after(start) == datetime(2021, 2, 28, tzinfo=UTC)
    assert Duration.parse("18m").after(start) == datetime(2021, 8, 29, tzinfo=UTC)
    assert Duration.parse("2w").after(start) == start + timedelta(days=14)
    assert Duration.parse(90) == Duration(days=90)
    with pytest.raises(ValueError, match="duration"):
        Duration.parse("7 years")


def test_defaults_are_the_seeds_tier_table():
    s = retention_from(None)
    assert (str(s.tiers[Tier.PROPRIETARY].min), s.tiers[Tier.PROPRIETARY].max) == ("7y", None)
    assert (str(s.tiers[Tier.INTERNAL].min), str(s.tiers[Tier.INTERNAL].max)) == ("1y", "3y")
    assert (str(s.tiers[Tier.PUBLIC].min), s.tiers[Tier.PUBLIC].max) == ("1y", None)
    assert str(s.audit.min) == "7y"


@pytest.mark.parametrize(("raw", "needle"), [
    ({"tiers": {"INTERNAL": {"mx": "2y"}}}, "retention.tiers.INTERNAL.mx: unknown setting; "
                                            "did you mean 'max'?"),
    ({"tiers": {"SECRET": {"max": "2y"}}}, "unknown tier 'SECRET'"),
    ({"datasets": {"a/*": {"min": "forever"}}}, "retention.datasets.a/*.min"),
    ({"audti": {"min": "7y"}}, "retention.audti: unknown setting; did you mean 'audit'?"),
])
def test_config_errors_name_the_key_and_the_nearest(tmp_path, raw, needle):
    path = tmp_path / "lacuna.yaml"
    path.write_text(yaml.safe_dump({"retention": raw}), encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert needle in str(info.value)


def test_per_dataset_window_wins_over_the_tier(project):
    short = write_at(project, years_ago(2), "sales.csv", "scratch/tmp.csv")
    kept = write_at(project, years_ago(2), "sales.csv", "kept.csv")
    plan = build_plan(_gov(project, datasets={"governed/workspace/scratch/": {"max": "1y"}}))
    entry = next(e for e in plan.entries if e.item.path == str(short))
    assert (entry.action, entry.policy_id) == ("delete",
                                               "retention.datasets.governed/workspace/scratch/")
    assert _actions(plan)[kept.name] == "keep"


def test_maximum_shorter_than_minimum_never_deletes_before_the_minimum(project):
    path = write_at(project, years_ago(2), "sales.csv", "s.csv")
    plan = build_plan(_gov(project, tiers={"INTERNAL": {"min": "3y", "max": "1y"}}))
    entry = next(e for e in plan.entries if e.item.path == str(path))
    assert entry.action == "keep"
    assert "deletion refused" in entry.reason
    assert "the minimum wins" in entry.reason
    later = build_plan(_gov(project, tiers={"INTERNAL": {"min": "3y", "max": "1y"}}),
                       now=datetime.now(UTC) + timedelta(days=400))
    assert next(e for e in later.entries if e.item.path == str(path)).action == "delete"


def test_unclassified_files_are_for_review_forged_sealed_ones_go_by_their_header(project):
    root = project / "governed" / "workspace"
    plain = root / "dropped.csv"
    plain.write_text("a,b\n1,2\n")
    old = (datetime.now(UTC) - timedelta(days=5 * 365)).timestamp()
    os.utime(plain, (old, old))
    forged = write_at(project, years_ago(4), "sales.csv", "forged.csv")
    side = sidecar_path(forged)
    side.write_text(side.read_text().replace('"INTERNAL"', '"PUBLIC"'))
    plan = build_plan(_gov(project))
    by = {Path(e.item.path).name: e for e in plan.entries if e.item.kind == "file"}
    assert by["dropped.csv"].item.tier is Tier.PROPRIETARY
    assert "no sidecar" in by["dropped.csv"].item.known_from
    # its age and tier are not known from trusted evidence: not kept silently
    assert by["dropped.csv"].action == "review"
    assert "not established from trusted evidence" in by["dropped.csv"].reason
    # a sidecar forged to say less: the authenticated sealed header decides (INTERNAL, 4y)
    assert by["forged.csv"].item.tier is Tier.INTERNAL
    assert by["forged.csv"].item.known_from.startswith("untrusted sidecar")
    assert "sealed header (authenticated)" in by["forged.csv"].item.known_from
    assert by["forged.csv"].action == "delete"


def test_rego_overrides_duration_minimum_and_hold(project):
    _bundle_with(project, REGO)
    customers = write_at(project, years_ago(1), "customers.csv", "customers.csv")
    inquiry = write_at(project, years_ago(1), "customers.csv", "inquiry/customers.csv")
    internal = write_at(project, years_ago(4), "sales.csv", "sales.csv")
    plan = build_plan(Governor(load_config(project / "lacuna.yaml")))
    assert plan.rego_packages == ("governance.retention",)
    by = {e.item.path: e for e in plan.entries}
    # "30d" replaces PROPRIETARY's max, but its 7-year minimum still holds: kept
    assert by[str(customers)].action == "keep"
    assert by[str(customers)].policy == "rego: governance.retention"
    assert by[str(inquiry)].action == "hold"
    assert "regulator inquiry" in by[str(inquiry)].reason
    assert by[str(internal)].action == "keep"  # min 10y from Rego
    assert "10y" in by[str(internal)].reason


def test_rego_hold_blocks_apply(project):
    _bundle_with(project, REGO.replace('"30d" if', '{"min": "1d", "max": "30d"} if'))
    raw = yaml.safe_load((project / "lacuna.yaml").read_text())
    raw["retention"] = {"tiers": {"PROPRIETARY": {"min": "1d"}}}
    (project / "lacuna.yaml").write_text(yaml.safe_dump(raw), encoding="utf-8")
    due = write_at(project, years_ago(1), "customers.csv", "customers.csv")
    held = write_at(project, years_ago(1), "customers.csv", "inquiry/customers.csv")
    result = run(project, "retention", "apply", "--json")
    assert result.returncode == 0, result.stdout
    assert not due.exists()
    assert held.exists()


def test_a_malformed_rego_answer_keeps_the_item(project):
    _bundle_with(project, "package governance.retention\nimport rego.v1\n"
                 'retention := {"forever": true}\n')
    path = write_at(project, years_ago(4), "sales.csv", "sales.csv")
    plan = build_plan(Governor(load_config(project / "lacuna.yaml")))
    entry = next(e for e in plan.entries if e.item.path == str(path))
    assert entry.action == "error"
    assert "unknown key(s) forever" in entry.reason
    with pytest.raises(PolicyError, match="on_expiry"):
        parse_answer("p", {"on_expiry": "burn"})


def test_hold_needs_a_reason_and_cannot_be_doubled(project):
    gov = _gov(project)
    with pytest.raises(HoldError, match="needs a reason"):
        place_hold(gov, str(project / "x"), reason="  ")
    (project / "x").mkdir()
    place_hold(gov, str(project / "x"), reason="case 1")
    with pytest.raises(HoldError, match="already under hold"):
        place_hold(gov, str(project / "x"), reason="case 2")
    bad = run(project, "retention", "release", str(project / "nothing"))
    assert bad.returncode == 2
    assert "no active hold" in bad.stderr


def test_audit_trail_is_reported_never_pruned(project):
    write_at(project, years_ago(1), "sales.csv", "s.csv")
    plan = build_plan(_gov(project), now=datetime.now(UTC) + timedelta(days=9 * 365))
    audit = next(e for e in plan.entries if e.item.kind == "audit")
    assert audit.action == "keep"
    assert audit.item.records > 0
    assert "never prunes" in audit.reason


def test_archive_on_expiry_moves_file_and_sidecar(project):
    path = write_at(project, years_ago(4), "sales.csv", "sales.csv")
    archive = project / "archive"
    raw = yaml.safe_load((project / "lacuna.yaml").read_text())
    raw["retention"] = {"tiers": {"INTERNAL": {"max": "3y", "on_expiry": "archive"}},
                        "archive_dir": str(archive)}
    (project / "lacuna.yaml").write_text(yaml.safe_dump(raw), encoding="utf-8")
    result = run(project, "retention", "apply", "--json")
    assert result.returncode == 0, result.stdout
    assert not path.exists()
    assert (archive / "sales.csv").exists()
    assert sidecar_path(archive / "sales.csv").exists()


def test_text_output_and_as_of(project):
    path = write_at(project, years_ago(2.5), "sales.csv", "sales.csv")
    now = run(project, "retention", "plan")
    assert now.returncode == 0
    assert "0 to delete" in now.stdout
    ahead = run(project, "retention", "plan", "--as-of", "2099-01-01", "--json")
    entry = next(e for e in json.loads(ahead.stdout)["entries"]
                 if e["path"] == str(path))
    assert entry["action"] == "delete"
    assert path.exists()  # a plan touches nothing
    bad = run(project, "retention", "plan", "--as-of", "someday")
    assert bad.returncode == 2
    assert run(project, "retention", "hold", str(path), "--reason", "r").returncode == 0
    listed = run(project, "retention", "list-holds")
    assert "Legal holds" in listed.stdout
    applied = run(project, "retention", "apply")
    assert "held" in applied.stdout
    assert "audit record(s) written" in applied.stdout


def test_a_plan_failing_on_a_thread_carries_no_engine_to_another(project, monkeypatch):
    """The rules' regorus engine is made on the planning thread (a console request); an error
    kept and dropped on another thread must not hold it (regorus engines are unsendable)."""
    import gc
    import sys
    import threading

    import lacuna.retention.api as api

    _bundle_with(project, REGO)
    write_at(project, years_ago(4), "sales.csv", "sales.csv")
    seen: list[object] = []
    gc.collect()  # earlier tests' garbage is theirs, not this test's: collect it before listening
    monkeypatch.setattr(sys, "unraisablehook", lambda u: seen.append(u.exc_value))

    def broken(*args: object, **kwargs: object) -> object:
        raise RuntimeError("an unexpected failure while planning")

    monkeypatch.setattr(api, "decide", broken)
    gov = Governor(load_config(project / "lacuna.yaml"))
    kept: list[BaseException] = []

    def plan() -> None:
        try:
            build_plan(gov)
        except RuntimeError as exc:
            kept.append(exc)

    t = threading.Thread(target=plan)
    t.start()
    t.join(60)
    assert kept
    kept.clear()  # dropped here, on the main thread
    gc.collect()
    assert seen == []


def test_the_keepings_rules_stay_on_their_thread_when_the_governor_goes(project):
    """A governor's retention rules compiled on a worker thread (a mount or server request),
    the governor then dropped on another thread (a reconfiguration, the collector): the rules'
    regorus engine is released on the worker, never on the thread that drops the governor."""
    from thread_drops import unraisables_when_dropped_elsewhere

    _bundle_with(project, REGO)

    def use(gov: Governor) -> None:
        assert gov.keeping.packages() == ("governance.retention",)  # compiled on the worker

    assert unraisables_when_dropped_elsewhere(
        lambda: Governor(load_config(project / "lacuna.yaml")), use) == []
