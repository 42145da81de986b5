"""What loosens governance inside ``retention`` and ``governance`` (sections recorded as written,
compared by what they mean: lacuna.audit.loosening) and the other settings that plainly loosen:
each rule marks its change, the other direction is listed unmarked, and a configuration event
on the trail carries the mark."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from lacuna.audit import AuditStore
from lacuna.audit.configuration import KIND, changes, snapshot
from lacuna.audit.record import event_body
from lacuna.config import config_from_dict
from lacuna.governor import Governor

DAY = {"schedule": "0 3 * * *"}
CAPPED = {t: {"min": "1y", "max": "3y"} for t in ("PROPRIETARY", "INTERNAL", "PUBLIC")}
PII = {"production": {"action": "restrict", "requires_role": ["data_owner"],
                      "requires_approval": True},
       "non_production": {"action": "synthesize"}}


def _marks(before: dict[str, Any], after: dict[str, Any]) -> dict[str, str]:
    """Every changed path of two real configurations, with why it loosens (or "")."""
    return {c.path: c.loosens for c in changes(snapshot(config_from_dict(before)),
                                              snapshot(config_from_dict(after)))}


def _loosened(before: dict[str, Any], after: dict[str, Any]) -> dict[str, str]:
    return {p: why for p, why in _marks(before, after).items() if why}


def _gone(key: str, production: str, elsewhere: str) -> dict[str, str]:
    path = f"governance.policies.{key}"
    return {f"{path}.production.action": f"policy {key} in production: the rule is gone (was "
            f"{production})",
            f"{path}.non_production.action": f"policy {key} in development, preview, staging: "
            f"the rule is gone (was {elsewhere})"}


# an empty governance section is the ADR's default rules (recorded as such): all of them gone
ADR_GONE = {**_gone("medium_sensitivity", "restrict", "restrict"),
            **_gone("high_sensitivity", "restrict", "redact"),
            **_gone("critical_sensitivity", "restrict", "redact")}

# (case, stricter configuration, looser configuration, {path: the mark it gets})
CASES = [
    ("a tier's max raised", {}, {"retention": {"tiers": {"internal": {"min": "1y", "max": "5y"}}}},
     {"retention.tiers.internal.max": "tier INTERNAL: its max raised from 3y to 5y"}),
    ("a tier's max removed: only min written", {},
     {"retention": {"tiers": {"INTERNAL": {"min": "1y"}}}},
     {"retention.tiers.INTERNAL.min": "tier INTERNAL: its max removed (was 3y): never due"}),
    ("a tier's max removed: null", {"retention": {"tiers": {"PUBLIC": {"max": "2y"}}}},
     {"retention": {"tiers": {"PUBLIC": {"max": None}}}},
     {"retention.tiers.PUBLIC.max": "tier PUBLIC: its max removed (was 2y): never due"}),
    ("a tier archives instead of deleting",
     {"retention": {"tiers": {"INTERNAL": {"min": "1y", "max": "3y"}}}},
     {"retention": {"tiers": {"INTERNAL": {"min": "1y", "max": "3y", "on_expiry": "archive"}}}},
     {"retention.tiers.INTERNAL.on_expiry":
      "tier INTERNAL: expired data is archived (kept) instead of deleted"}),
    ("a dataset's max raised", {"retention": {"datasets": {"a.b/*.csv": {"max": "30d"}}}},
     {"retention": {"datasets": {"a.b/*.csv": {"max": "60d"}}}},
     {"retention.datasets.a.b/*.csv.max": "datasets entry 'a.b/*.csv': its max raised from 30d "
      "to 60d"}),
    ("a dataset added, longer than a tier", {"retention": {"tiers": CAPPED}},
     {"retention": {"tiers": CAPPED, "datasets": {"reports/*.csv": {"min": "2y", "max": "5y"}}}},
     {"retention.datasets.reports/*.csv.max": "datasets entry 'reports/*.csv' added, due after "
      "5y: longer than the max of tier PROPRIETARY 3y, INTERNAL 3y, PUBLIC 3y (the files of "
      "that tier it matches are kept longer)"}),
    ("datasets reordered: the longer window now matches first",
     {"retention": {"datasets": {"reports/q4/*.csv": {"max": "30d"}, "reports/*": {"max": "5y"}}}},
     {"retention": {"datasets": {"reports/*": {"max": "5y"}, "reports/q4/*.csv": {"max": "30d"}}}},
     {"order.retention.datasets": "'reports/*' now comes before 'reports/q4/*.csv' (first match "
      "wins: for the paths both match, its max raised from 30d to 5y)"}),
    ("a dataset added with no max", {}, {"retention": {"datasets": {"logs/*": {"min": "1y"}}}},
     {"retention.datasets.logs/*.min": "datasets entry 'logs/*' added, never due: longer than "
      "the max of tier INTERNAL 3y (the files of that tier it matches are kept longer)"}),
    ("a dataset added as {}: its defaults, never due", {},
     {"retention": {"datasets": {"*.csv": {}}}},
     {"retention.datasets.*.csv": "datasets entry '*.csv' added, never due: longer than the "
      "max of tier INTERNAL 3y (the files of that tier it matches are kept longer)"}),
    ("a tier written as {}: no max", {}, {"retention": {"tiers": {"INTERNAL": {}}}},
     {"retention.tiers.INTERNAL": "tier INTERNAL: its max removed (was 3y): never due"}),
    ("a short dataset window removed", {"retention": {"datasets": {"tmp/*": {"max": "30d"}}}},
     {}, {"retention.datasets.tmp/*.max": "datasets entry 'tmp/*' removed (due after 30d): the "
          "files it matched fall back to their tier's window (PROPRIETARY never due, INTERNAL "
          "3y, PUBLIC never due)"}),
    ("the audit minimum lowered", {}, {"retention": {"audit": {"min": "1y"}}},
     {"retention.audit.min": "the audit trail's minimum retention lowered from 7y to 1y"}),
    ("unclassified files taken as a lower tier", {},
     {"retention": {"unclassified_tier": "public"}},
     {"retention.unclassified_tier": "files with no trusted classification are taken as "
      "PUBLIC, not PROPRIETARY (that tier's window applies)"}),
    ("the archive moved", {"retention": {"archive_dir": "/srv/archive"}},
     {"retention": {"archive_dir": "/home/me/archive"}},
     {"retention.archive_dir": "archived data goes to /home/me/archive instead of "
      "/srv/archive"}),
    ("ended exceptions' files no longer due", {}, {"retention": {"exceptions": False}},
     {"retention.exceptions": "files written under exceptions that ended are no longer due"}),
    ("the schedule removed", {"retention": DAY}, {},
     {"retention.schedule": "retention is no longer applied by lacuna serve (was 0 3 * * *)"}),
    ("the schedule made rarer", {"retention": DAY}, {"retention": {"schedule": "@weekly"}},
     {"retention.schedule": "retention is applied less often: about every 7d instead of every "
      "1d"}),
    ("a policy's action lowered", {"governance": {"policies": {"pii": PII}}},
     {"governance": {"policies": {"pii": {**PII, "non_production": {"action": "mask"}}}}},
     {"governance.policies.pii.non_production.action": "policy pii in development, preview, "
      "staging: action lowered from synthesize to mask"}),
    ("an environment's own rule wins over its category's",
     {"governance": {"policies": {"pii": PII}}},
     {"governance": {"policies": {"pii": {**PII, "development": {"action": "allow"}}}}},
     {"governance.policies.pii.development.action": "policy pii in development: action "
      "lowered from synthesize to allow"}),
    ("a policy removed", {"governance": {"policies": {"pii": PII}}},
     {"governance": {"policies": {"pii": {"production": PII["production"]}}}},
     {"governance.policies.pii.non_production.action": "policy pii in development, preview, "
      "staging: the rule is gone (was synthesize)"}),
    ("roles added and approval dropped", {"governance": {"policies": {"pii": PII}}},
     {"governance": {"policies": {"PII": {**PII, "production": {
         "action": "restrict", "requires_role": ["data_owner", "analyst"]}}}}},
     {"governance.policies.PII.production.action": "policy pii in production: roles added to "
      "requires_role: analyst, requires_approval turned off"}),
    ("the section that stood for the ADR's defaults removed", {"governance": {}}, {}, ADR_GONE),
    ("the project's environment leaves production",
     {"governance": {"environment": "production"}}, {"governance": {"environment": "staging"}},
     {"governance.environment": "the project's environment changed from production to staging "
      "(the per-environment policies of non-production apply)"}),
    ("quality gates loosened", {"governance": {"quality_gates": {
        "enforcement": "strict", "minimum_test_coverage": 80, "required_tests": ["not_null"],
        "layers": {"gold": {"minimum_coverage": 100, "required_tests": ["unique"]}}}}},
     {"governance": {"quality_gates": {"block_on_failure": False,
                                       "classification_escalation": False,
                                       "layers": {"gold": {"minimum_coverage": 50}}}}},
     {"governance.quality_gates.enforcement": "quality gate enforcement lowered from strict to "
      "warn",
      "governance.quality_gates.minimum_test_coverage": "the minimum test coverage lowered from "
      "80 to 0",
      "governance.quality_gates.required_tests": "required tests removed: not_null",
      "governance.quality_gates.block_on_failure": "blocking on a failed gate turned off",
      "governance.quality_gates.classification_escalation": "escalating quality requirements by "
      "classification turned off",
      "governance.quality_gates.layers.gold.minimum_coverage": "a layer's minimum test coverage "
      "lowered from 100 to 50",
      "governance.quality_gates.layers.gold.required_tests": "a layer's required tests removed: "
      "unique"}),
    ("governance roles given to more people", {"dbt": {"project_dir": "."}},
     {"dbt": {"project_dir": ".", "roles": {"data_owner": ["bob"]}}},
     {"dbt.roles.data_owner": "holders of a governance role (requires_role) added: bob"}),
    ("dbt rules for another environment, from another project, on one database",
     {"environment": "production", "dbt": {"project_dir": "."}},
     {"environment": "production", "dbt": {"project_dir": "../other", "environment": "staging",
                                           "warehouse": "postgresql://u:pw@db.example.com/x"}},
     {"dbt.environment": "the dbt project's rules apply for staging, not for the project's "
      "governance.environment (else production): the per-environment policies of "
      "non-production apply",
      "dbt.project_dir": "the rules that govern reads of the warehouse come from another dbt "
      "project (../other)",
      "dbt.warehouse": "SQL reads are checked on postgresql://u:***@db.example.com/x only"}),
    ("dbt rules moved out of production", {"dbt": {"project_dir": ".",
                                                   "environment": "production"}},
     {"dbt": {"project_dir": ".", "environment": "development"}},
     {"dbt.environment": "the dbt project's rules apply for development, not production (the "
      "per-environment policies of non-production apply)"}),
    ("the dbt project removed", {"dbt": {"project_dir": "."}}, {},
     {"dbt.project_dir": "the dbt project whose rules govern reads of its warehouse is no "
      "longer set"}),
    ("another rule of the policy server, another CA",
     {"policy": {"server": {"url": "https://opa.example.com"}}},
     {"policy": {"server": {"url": "https://opa.example.com", "path": "lacuna/allow_all",
                            "ca_file": "/home/me/ca.pem"}}},
     {"policy.server.path": "decisions are read from another rule of the policy server "
      "(lacuna/allow_all)",
      "policy.server.ca_file": "the server's certificate is checked against another CA file "
      "(/home/me/ca.pem)"}),
    ("more stewards", {"stewards": {"default": ["dpo"]}},
     {"stewards": {"default": ["dpo", "me"], "policies": {"P-2024-001": ["me"]},
                   "domains": {"finance": ["me"]}}},
     {"stewards.default": "stewards who may approve exceptions added: me",
      "stewards.policies.P-2024-001": "stewards who may approve exceptions added: me",
      "stewards.domains.finance": "stewards who may approve exceptions added: me"}),
    ("other settings", {"destinations": {"local_files_scope": "external"}},
     {"purpose": "marketing", "user": {"id": "u", "department": "sales"},
      "proxy": {"fingerprint_sample": 10}, "anonymize": {"noise_sensitivity": 0.1},
      "server": {"url": "https://lacuna.example.com"}},
     {"purpose": 'the declared purpose changed from (unset) to "marketing" (policies read it)',
      "user.department": 'the declared department changed from (unset) to "sales" (policies '
      "read it)",
      "proxy.fingerprint_sample": "the values fingerprinted per classified column lowered from "
      "1000 to 10",
      "anonymize.noise_sensitivity": "the noise strategy's sensitivity (less noise) lowered "
      "from 1.0 to 0.1",
      "destinations.local_files_scope": "other local files are taken as internal destinations",
      "server.url": "decisions come from the Lacuna server https://lacuna.example.com"}),
]


@pytest.mark.parametrize(("strict", "loose", "marked"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_each_rule_marks_the_loosening_and_not_the_way_back(
        strict: dict[str, Any], loose: dict[str, Any], marked: dict[str, str]) -> None:
    assert _loosened(strict, loose) == marked
    back = _marks(loose, strict)
    assert set(marked) <= set(back)  # the way back changes the same settings ...
    unmarked = {p: why for p, why in back.items() if why and p not in (  # either way:
        "purpose", "user.department", "server.url", "retention.archive_dir",  # by design
        "dbt.project_dir", "policy.server.path")}
    assert unmarked == {}  # ... and tightens them


def test_an_empty_governance_section_is_recorded_as_the_rules_it_stands_for() -> None:
    """``governance: {}`` is the ADR's default rules (docs/dbt.md): the snapshot recorded it as
    ``{}``, the same as no section at all, so replacing the defaults with looser rules of the
    project's, or removing the section, changed nothing on the trail."""
    assert _loosened({"governance": {}}, {"governance": {"policies": {
        "pii": {"production": {"action": "mask"}}}}}) == ADR_GONE  # a scheme of its own
    assert _loosened({"governance": {}}, {"governance": {"policies": {
        "high": {"production": {"action": "mask"}}}}}) == {
            k: v for k, v in ADR_GONE.items() if "high_" in k}
    assert _loosened({"governance": {}}, {"governance": {"policies": {
        "low": {"production": {"action": "allow"}}}}}) == {}  # the other levels' defaults stay
    assert _marks({}, {"governance": {}}) != {}  # the defaults taking effect: listed, not loosening
    assert _loosened({}, {"governance": {}}) == {}


def test_the_order_of_datasets_is_in_the_revision_and_on_the_trail(tmp_path: Path) -> None:
    """First match wins in ``retention.datasets``, and canonical JSON sorts keys: the order is
    kept beside the section, so a reorder is a new revision and a listed (here loosening)
    change, and the record read back from the trail still says the order."""
    from lacuna.audit.configuration import history, record_configuration, revision

    short, long_ = {"max": "30d"}, {"max": "5y"}
    first = config_from_dict({"audit": {"url": f"sqlite:///{tmp_path / 'a.db'}"}, "retention": {
        "datasets": {"reports/q4/*.csv": short, "reports/*": long_}}})
    second = config_from_dict({"audit": {"url": f"sqlite:///{tmp_path / 'a.db'}"}, "retention": {
        "datasets": {"reports/*": long_, "reports/q4/*.csv": short}}})
    assert revision(snapshot(first)) != revision(snapshot(second))
    with AuditStore(first.audit.url) as store:
        record_configuration(store, first, user=first.user, session="s1")
        record_configuration(store, second, user=second.user, session="s2")
        events = history(store)
        assert store.verify().ok
    assert [e.settings["order"]["retention.datasets"] for e in reversed(events)] == [
        ["reports/q4/*.csv", "reports/*"], ["reports/*", "reports/q4/*.csv"]]
    assert [c.path for c in events[0].loosened] == ["order.retention.datasets"]


def test_shorter_windows_and_the_same_windows_spelled_otherwise_are_not_marked() -> None:
    same = _marks({"retention": {"tiers": {"INTERNAL": {"min": "1y", "max": "3y"}}}},
                  {"retention": {"tiers": {"internal": {"min": "12m", "max": "36m"}}}})
    assert len(same) == 4  # listed: the section is recorded as written ...
    assert not any(same.values())  # ... but it means the same
    shorter = _marks({}, {"retention": {"tiers": {"INTERNAL": {"max": "2y"}},
                                        "datasets": {"tmp/*": {"max": "30d"}},
                                        "schedule": "every 1h"}})
    assert shorter
    assert not any(shorter.values())
    # an entry between two tiers' windows shortens one tier's and lengthens another's: marked
    # both when added and when removed
    between = {"retention": {"datasets": {"x/*": {"max": "5y"}}}}
    assert list(_loosened({}, between)) == ["retention.datasets.x/*.max"]
    assert list(_loosened(between, {})) == ["retention.datasets.x/*.max"]
    # a datasets glob that is another's prefix is its own entry
    glob = _loosened({"retention": {"datasets": {"a/*.csv": {"max": "30d"},
                                                 "a/*.csv.gz": {"max": "30d"}}}},
                     {"retention": {"datasets": {"a/*.csv": {"max": "10d"},
                                                 "a/*.csv.gz": {"max": "90d"}}}})
    assert glob == {"retention.datasets.a/*.csv.gz.max": "datasets entry 'a/*.csv.gz': its max "
                    "raised from 30d to 90d"}


def test_a_section_that_no_longer_validates_is_marked_for_review() -> None:
    """A snapshot from another version (or forged) cannot be compared: fail closed."""
    found = {c.path: c.loosens for c in changes(
        {"retention": {"tiers": {"PUBLIC": "30d"}}, "governance": {"policies": {
            "pii": {"production": {"action": "restrct"}}}}},
        snapshot(config_from_dict({})))}
    assert found["retention.tiers.PUBLIC"].startswith(
        "the retention settings before or after do not validate")
    assert found["governance.policies.pii.production.action"].startswith(
        "the governance section before or after does not validate")


def test_a_loosened_retention_is_marked_on_the_trail(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'audit.db'}"
    config = config_from_dict({"audit": {"url": url}, "user": {"id": "ana"},
                               "retention": {"tiers": {"INTERNAL": {"max": "10y"}},
                                             "audit": {"min": "7y"}}})
    gov = Governor(config)
    gov.audit.record_event(event_body("retention", user=gov.config.user, session=gov.session,
                                      what={"action": "retention", "event": "hold-placed"},
                                      reasoning="a legal hold"))
    with AuditStore(url) as store:
        event = next(r.data for r in store.list(limit=None) if r.data.get("kind") == KIND)
        assert store.verify().ok
    found = {c["path"]: c["loosens"] for c in event[KIND]["changes"]}
    assert found == {"retention.tiers.INTERNAL.max": "tier INTERNAL: its max raised from 3y "
                     "to 10y", "retention.audit.min": ""}
    assert "LOOSENS GOVERNANCE: retention.tiers.INTERNAL.max (tier INTERNAL: its max raised " \
        "from 3y to 10y)" in event["decision"]["reasoning"]


def test_a_removed_section_does_not_read_as_its_switches_turned_off() -> None:
    with_server = {"policy": {"server": {"url": "https://opa.example.com"}}}
    removed = _marks(with_server, {})
    assert removed["policy.server.tls_verify"] == ""  # it was on, and there is no server now
    assert removed["policy.server.url"] == "decisions no longer come from the policy server"
    off = _loosened(with_server, {"policy": {"server": {"url": "https://opa.example.com",
                                                        "tls_verify": False}}})
    assert off == {"policy.server.tls_verify": "TLS certificate checks turned off"}


def test_a_switch_set_off_without_validation_is_marked() -> None:
    """``storage`` and ``proxy`` are always there: a switch of theirs unset is a value set
    without validation (model_copy), which turns it off."""
    base = config_from_dict({})
    storage = base.model_copy(update={"storage": base.storage.model_copy(
        update={"encrypt": None})})
    proxy = base.model_copy(update={"proxy": base.proxy.model_copy(
        update={"fingerprints": None})})
    assert {c.path: c.loosens for c in changes(snapshot(base), snapshot(storage))} == {
        "storage.encrypt": "encryption at rest turned off"}
    assert {c.path: c.loosens for c in changes(snapshot(base), snapshot(proxy))} == {
        "proxy.fingerprints": "the proxy's fingerprints turned off"}
