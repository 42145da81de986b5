"""The configuration on the audit trail: every decision names the lacuna.yaml revision it was
made under, and a change of lacuna.yaml is an audit event listing what changed, with the changes
that loosen governance marked (``lacuna.audit.configuration``, ``lacuna audit config``)."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from typer.testing import CliRunner

from lacuna import _bypass
from lacuna.audit import AuditStore
from lacuna.audit.configuration import (
    ACTION,
    KIND,
    changes,
    defaults,
    history,
    record_configuration,
    revision,
    snapshot,
)
from lacuna.cli.audit import app
from lacuna.config import Config, config_from_dict
from lacuna.governor import Governor
from lacuna.model import Action

runner = CliRunner(env={"COLUMNS": "220", "NO_COLOR": "1"})
FRAME = pd.DataFrame({"city": ["Oslo", "Lima"], "n": [1, 2]})

SECRETS = ("Bearer-s3cr3t-header", "hunter2-password", "T0KEN-VALUE", "slackpathsecret")


def _config(tmp_path: Path, **extra: Any) -> Config:
    return config_from_dict({"audit": {"url": f"sqlite:///{tmp_path / 'audit.db'}"},
                             "user": {"id": "ana", "role": "analyst"}, **extra})


def _export(gov: Governor, target: Path) -> None:
    """An allowed export of FRAME through the governor, as an integration runs it."""
    from lacuna.classify import classify_frame

    classification = classify_frame(FRAME, config=gov.config.classification)
    operation = gov.operation(Action.WRITE, classification, destination=gov.destination(
        str(target)), method="pandas.DataFrame.to_csv")

    def run() -> None:
        with _bypass.bypass():
            FRAME.to_csv(target, index=False)

    gov.execute(operation, run)


def _trail(tmp_path: Path) -> list[dict[str, Any]]:
    store = AuditStore(f"sqlite:///{tmp_path / 'audit.db'}", create=False, read_only=True)
    try:
        return [r.data for r in reversed(store.list(limit=None))]
    finally:
        store.close()


def test_the_embedded_defaults_need_no_event_and_every_record_names_them(tmp_path: Path) -> None:
    gov = Governor(_config(tmp_path))
    _export(gov, tmp_path / "out.csv")
    bodies = _trail(tmp_path)
    assert [b.get("kind") for b in bodies] == [None, "outcome"]  # decision, outcome: no event
    expected = revision(defaults())
    assert {b["decision"]["config_revision"] for b in bodies} == {expected}
    assert (tmp_path / "out.csv").read_text().splitlines()[1] == "Oslo,1"


def test_a_changed_configuration_is_an_event_with_what_loosens_governance(
        tmp_path: Path) -> None:
    loose = _config(tmp_path, mode="observe", classification={
        "k_anonymity": 2, "mapping": {"pii": {"tier": "INTERNAL", "tags": ["PII"]},
                                      "financial": {"tier": "PROPRIETARY",
                                                    "tags": ["FINANCIAL"]}}},
        destinations={"internal_hosts": ["localhost", "evil.example.com"]},
        storage={"encrypt": False}, anonymize={"detokenize_roles": ["privacy_officer",
                                                                    "analyst"]},
        policy={"decision_log": {"type": "none"}})
    gov = Governor(loose)
    _export(gov, tmp_path / "out.csv")
    event, decision, outcome = _trail(tmp_path)
    assert event["kind"] == KIND
    assert event["what"]["action"] == ACTION
    rev = revision(snapshot(loose))
    assert event[KIND]["revision"] == rev
    assert event[KIND]["previous"] == revision(defaults())
    assert decision["decision"]["config_revision"] == rev
    assert outcome["decision"]["config_revision"] == rev
    found = {c["path"]: c for c in event[KIND]["changes"]}
    loosened = {path for path, c in found.items() if c["loosens"]}
    assert loosened == {
        "mode", "classification.k_anonymity", "classification.mapping.pii.tier",
        "classification.mapping.pii.tags", "destinations.internal_hosts", "storage.encrypt",
        "anonymize.detokenize_roles", "policy.decision_log.type"}
    # tightening is a change too, listed without a mark
    assert found["classification.mapping.financial.tier"] == {
        "path": "classification.mapping.financial.tier", "before": "INTERNAL",
        "after": "PROPRIETARY", "loosens": ""}
    assert "evil.example.com" in found["destinations.internal_hosts"]["loosens"]
    assert "LOOSENS GOVERNANCE" in event["decision"]["reasoning"]
    store = AuditStore(loose.audit_url)
    assert store.verify().ok
    store.close()


def test_the_same_configuration_again_is_no_event_and_a_switch_back_is(tmp_path: Path) -> None:
    a = _config(tmp_path, classification={"k_anonymity": 10})
    b = _config(tmp_path, classification={"k_anonymity": 3})
    for config in (a, a, b, b, a):
        _export(Governor(config), tmp_path / "out.csv")
    events = [b for b in _trail(tmp_path) if b.get("kind") == KIND]
    assert [e[KIND]["revision"] for e in events] == [revision(snapshot(c)) for c in (a, b, a)]
    lowered, raised = events[1][KIND]["changes"], events[2][KIND]["changes"]
    assert lowered[0]["loosens"] == "the k-anonymity threshold lowered from 10 to 3"
    assert raised[0]["path"] == "classification.k_anonymity"
    assert raised[0]["loosens"] == ""
    decisions = [b for b in _trail(tmp_path) if "kind" not in b]
    assert [d["decision"]["config_revision"] for d in decisions] == [
        revision(snapshot(c)) for c in (a, a, b, b, a)]


def test_secrets_never_reach_the_trail_and_do_not_change_the_revision(tmp_path: Path) -> None:
    def with_secrets(header: str, password: str, token: str, path: str) -> Config:
        return _config(tmp_path, policy={"decision_log": {
            "type": "http", "url": f"https://log:{password}@logs.example.com/v1",
            "headers": {"Authorization": header}}},
            server=None, exceptions={"notify": {
                "webhook": f"https://hooks.example.com/services/{path}",
                "webhook_headers": {"X-Token": token}}})

    first = with_secrets(*SECRETS)
    rotated = with_secrets("other-header", "other-password", "other-token", "otherpath")
    assert revision(snapshot(first)) == revision(snapshot(rotated))
    _export(Governor(first), tmp_path / "out.csv")
    raw = (tmp_path / "audit.db").read_bytes()
    for secret in SECRETS:
        assert secret.encode() not in raw, secret
    event = _trail(tmp_path)[0]
    assert event[KIND]["settings"]["policy"]["decision_log"]["headers"] == {
        "Authorization": "***"}
    assert event[KIND]["settings"]["exceptions"]["notify"]["webhook"] == (
        "https://hooks.example.com/***")
    assert "log:***@logs.example.com" in event[KIND]["settings"]["policy"]["decision_log"]["url"]


def test_a_lacuna_server_token_is_redacted(tmp_path: Path) -> None:
    config = _config(tmp_path, server={"url": "https://lacuna.example.com",
                                       "token": "T0KEN-VALUE"})
    assert "T0KEN-VALUE" not in json.dumps(snapshot(config))
    assert snapshot(config)["server"]["token"] == "***"


def test_processes_starting_together_record_a_new_configuration_once(tmp_path: Path) -> None:
    config = _config(tmp_path, classification={"k_anonymity": 7})
    AuditStore(config.audit_url).close()  # the trail exists; now 6 writers race
    stores = [AuditStore(config.audit_url) for _ in range(6)]
    barrier = threading.Barrier(len(stores))
    done: list[Any] = []

    def start(store: AuditStore) -> None:
        barrier.wait()
        done.append(record_configuration(store, config, user=("ana", "analyst"), session="s"))

    threads = [threading.Thread(target=start, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(d is not None for d in done) == 1
    assert {s.config_revision for s in stores} == {revision(snapshot(config))}
    assert len(history(stores[0])) == 1
    for s in stores:
        s.close()


def test_changes_lists_added_and_removed_settings() -> None:
    before = {"retention": {}, "destinations": {"unmanaged": ["/tmp", "~/Downloads"]}}
    after = {"retention": {"tiers": {"PUBLIC": {"max": "30d"}}},
             "destinations": {"unmanaged": ["/tmp"]}}
    found = {c.path: c for c in changes(before, after)}
    assert found["retention.tiers.PUBLIC.max"].before is None
    assert found["retention.tiers.PUBLIC.max"].after == "30d"
    assert found["destinations.unmanaged"].loosens == "unmanaged destinations removed: ~/Downloads"
    # a maximum where there was none shortens retention: listed, not marked
    assert str(found["retention.tiers.PUBLIC.max"]) == (
        'retention.tiers.PUBLIC.max: (unset) -> "30d"')


def test_cli_lists_the_changes_and_shows_a_revision(tmp_path: Path) -> None:
    config = _config(tmp_path, mode="warn",
                     policy={"decision_log": {"labels": {"team\x1b[1A\x1b[2K": "x"}}})
    _export(Governor(config), tmp_path / "out.csv")
    db = config.audit_url
    result = runner.invoke(app, ["config", "--db", db])
    assert result.exit_code == 0, result.output
    rev = revision(snapshot(config))
    assert f"configuration {rev}" in result.output
    assert f"2 change(s) since {revision(defaults())}, 1 loosen governance" in result.output
    assert "policy.decision_log.labels.team\\x1b[1A\\x1b[2K" in result.output
    assert 'mode: "enforce" -> "warn" (LOOSENS: lowered from enforce to warn' in result.output
    assert "\x1b" not in result.output  # an ESC in a setting is shown, never sent
    as_json = [json.loads(line) for line in runner.invoke(
        app, ["config", "--db", db, "--json"]).output.splitlines()]
    assert [e["revision"] for e in as_json] == [rev]
    shown = runner.invoke(app, ["config", "--db", db, "--show", rev[:6]])
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.output) == snapshot(config)
    defaults_shown = runner.invoke(app, ["config", "--db", db, "--show",
                                         revision(defaults())])
    assert json.loads(defaults_shown.output) == defaults()
    missing = runner.invoke(app, ["config", "--db", db, "--show", "ffffffffffff"])
    assert missing.exit_code == 2
    assert "is on no configuration event" in missing.output


def test_cli_on_a_trail_with_no_event_names_the_defaults(tmp_path: Path) -> None:
    _export(Governor(_config(tmp_path)), tmp_path / "out.csv")
    result = runner.invoke(app, ["config", "--db", f"sqlite:///{tmp_path / 'audit.db'}"])
    assert result.exit_code == 0, result.output
    assert f"embedded defaults (revision {revision(defaults())})" in result.output


def test_a_trail_that_cannot_record_the_configuration_still_fails_closed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The configuration is recorded before the first decision; when that fails, the decision's
    own append decides (here it fails too: enforce refuses to run the operation)."""
    from lacuna.errors import AuditError, GovernanceViolation

    gov = Governor(_config(tmp_path, mode="enforce", classification={"k_anonymity": 9}))

    def broken(*_: Any, **__: Any) -> Any:
        raise AuditError("disk full")

    monkeypatch.setattr(AuditStore, "record_event_once", broken)
    monkeypatch.setattr(AuditStore, "record_many", broken)
    with pytest.raises(GovernanceViolation, match="audit trail"):
        _export(gov, tmp_path / "out.csv")
    assert not (tmp_path / "out.csv").exists()


def test_an_event_first_on_the_trail_comes_after_the_configuration(tmp_path: Path) -> None:
    """Not only decisions: whatever a governor's store appends first (an exception request, a
    retention sweep, a legal hold) is preceded by the configuration it runs under."""
    from lacuna.audit.record import event_body

    config = _config(tmp_path, classification={"k_anonymity": 8})
    gov = Governor(config)
    gov.audit.record_event(event_body("retention", user=gov.config.user, session=gov.session,
                                      what={"action": "retention", "event": "hold-placed"},
                                      reasoning="a legal hold"))
    event, hold = _trail(tmp_path)
    assert event["kind"] == KIND
    assert event[KIND]["revision"] == revision(snapshot(config))
    assert hold["kind"] == "retention"
    # the store that records the configuration stamps every record after it
    _export(gov, tmp_path / "out.csv")
    assert _trail(tmp_path)[2]["decision"]["config_revision"] == revision(snapshot(config))


def test_leaving_production_fewer_samples_and_a_dataset_transform_loosen(tmp_path: Path) -> None:
    src = tmp_path / "customers.csv"
    src.write_text("email\nann@example.com\n")
    dataset = {"source": str(src), "approved_by": "dpo", "transform": "anonymize"}
    strict = _config(tmp_path, environment="production", datasets={"crm": dataset})
    loose = _config(tmp_path, environment="staging", classification={"sample_rows": 10},
                    datasets={"crm": {**dataset, "transform": {"email": "mask"}}})
    found = {c.path: c.loosens for c in changes(snapshot(strict), snapshot(loose))}
    assert found["environment"].startswith("the environment changed from production to staging")
    assert found["classification.sample_rows"] == (
        "the rows sampled for value evidence lowered from 1000 to 10")
    assert found["datasets.entries.crm.transform.email"].startswith("what a registered dataset")
    # the other way round: back to production and more samples tighten (unmarked); any change
    # of what a registered dataset hands out is marked, whichever way
    back = changes(snapshot(loose), snapshot(strict))
    assert {c.path for c in back if c.loosens} == {
        "datasets.entries.crm.transform", "datasets.entries.crm.transform.email"}


def test_a_declared_role_or_clearance_is_governing_and_a_secret_under_any_name_is_not_kept(
        tmp_path: Path) -> None:
    base = _config(tmp_path)
    raised = _config(tmp_path, user={"id": "ana", "role": "privacy_officer",
                                     "clearance": "PROPRIETARY"},
                     governance={"quality_gates": {"client_secret": "hunter2-password"}},
                     policy={"server": {"url": "https://opa.example.com", "tls_verify": False}})
    found = {c.path: c.loosens for c in changes(snapshot(base), snapshot(raised))}
    assert found["user.role"].startswith("the declared role changed from analyst to privacy")
    assert found["user.clearance"] == (
        "the declared clearance raised from INTERNAL to PROPRIETARY")
    back = {c.path: c.loosens for c in changes(snapshot(raised), snapshot(base))}
    assert back["user.clearance"] == ""  # lowering a clearance loosens nothing
    assert found["policy.server.url"] == "decisions come from the policy server " \
        "https://opa.example.com"
    assert found["policy.server.tls_verify"] == ""  # set with the server: not a change of it
    assert "hunter2-password" not in json.dumps(snapshot(raised))
    # the user's id is who, not how: another user with the same settings is the same revision
    other = _config(tmp_path, user={"id": "bob", "role": "analyst"})
    assert revision(snapshot(other)) == revision(snapshot(base))


def test_a_failed_recording_is_tried_again_and_no_append_overtakes_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from lacuna.errors import AuditError

    config = _config(tmp_path, mode="warn", classification={"k_anonymity": 6})
    gov = Governor(config)
    real = AuditStore.record_event_once
    calls = {"n": 0}

    def once_locked(self: AuditStore, *args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 1:
            raise AuditError("database is locked")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(AuditStore, "record_event_once", once_locked)
    _export(gov, tmp_path / "a.csv")  # warn: runs; its records say no revision
    _export(gov, tmp_path / "b.csv")  # the configuration is recorded before this one
    kinds = [(b.get("kind"), b["decision"].get("config_revision")) for b in _trail(tmp_path)]
    rev = revision(snapshot(config))
    # the decision's append failed to record it first; the outcome's append tried again
    assert kinds == [(None, None), (KIND, None), ("outcome", rev), (None, rev), ("outcome", rev)]


# credentials in their real formats, under keys whose names say nothing (detect-secrets' format
# plugins find them; AWS's documented example key, made-up tokens of the right shape)
CREDENTIALS = {
    "aws": "AKIAIOSFODNN7EXAMPLE",
    "github": "ghp_0123456789abcdefABCDEF0123456789abcd",
    "slack": "xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx",
    "stripe": "sk_live_4eC39HqLyjWDarjtT1zdp7dc",
    "key": "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA0Z3VS5JJcds3\n"
           "-----END RSA PRIVATE KEY-----",
}


def test_a_known_credential_under_a_plain_name_never_reaches_the_trail(tmp_path: Path) -> None:
    plain = {"region": "eu-west-1", "bucket": "s3://company-governed-data/reports",
             "revision": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"}
    config = _config(tmp_path, mode="warn", user={
        "id": "ana", "role": "analyst",
        "attributes": {**CREDENTIALS, "note": f"use {CREDENTIALS['aws']} for the bucket",
                       **plain}})
    settings = snapshot(config)
    attributes = settings["user"]["attributes"]
    assert {k: attributes[k] for k in [*CREDENTIALS, "note"]} == dict.fromkeys(
        [*CREDENTIALS, "note"], "***")
    assert {k: attributes[k] for k in plain} == plain  # what is not a credential is kept
    _export(Governor(config), tmp_path / "out.csv")
    raw = (tmp_path / "audit.db").read_bytes()
    for name, secret in CREDENTIALS.items():
        for line in secret.splitlines():  # a key block's body too, not only its header
            assert line.encode() not in raw, name
    event = _trail(tmp_path)[0]
    assert event[KIND]["settings"]["user"]["attributes"]["region"] == "eu-west-1"


def test_a_cascade_that_lets_a_later_layer_decide_is_marked_as_loosening(tmp_path: Path) -> None:
    # thresholds of 1.0 send every column on to layer 3, whose answer stands: with an LLM that
    # answers "public", a column found by its name alone leaves as PUBLIC (a red-team finding)
    cascade = {"thresholds": {"heuristic": 1.0, "embedding": 1.0},
               "llm": {"url": "http://llm:hunter2-password@127.0.0.1:9/v1", "model": "other"},
               "embeddings": {"examples": ["labels.tsv"], "model": "all-MiniLM-L6-v2"}}
    _export(Governor(_config(tmp_path)), tmp_path / "a.csv")
    loose = _config(tmp_path, classification={"cascade": cascade,
                                              "cache": {"url": "sqlite:////tmp/other.db"}})
    _export(Governor(loose), tmp_path / "b.csv")
    store = AuditStore(f"sqlite:///{tmp_path / 'audit.db'}", create=False, read_only=True)
    try:
        event = history(store)[0]
    finally:
        store.close()
    marked = {c.path: c.loosens for c in event.loosened}
    assert set(marked) == {
        "classification.cascade.thresholds.heuristic",
        "classification.cascade.thresholds.embedding",
        "classification.cascade.llm.url", "classification.cascade.llm.model",
        "classification.cascade.embeddings.examples", "classification.cache.url"}
    assert "more columns are classified by the later layers" in marked[
        "classification.cascade.thresholds.heuristic"]
    assert marked["classification.cascade.llm.url"].startswith(
        "columns the earlier layers are unsure of are classified by the LLM at "
        "http://llm:***@127.0.0.1:9/v1")
    assert "hunter2-password" not in json.dumps(marked)
    # a default written out loosens nothing; a lowered threshold does, the other way
    same = {"thresholds": {"heuristic": 0.8}, "embeddings": {"enabled": "auto"}}
    assert not [c for c in changes(snapshot(_config(tmp_path)), snapshot(_config(
        tmp_path, classification={"cascade": same}))) if c.loosens]
    lowered = changes(snapshot(_config(tmp_path)), snapshot(_config(
        tmp_path, classification={"cascade": {"thresholds": {"heuristic": 0.5}}})))
    assert [c.loosens for c in lowered] == [
        "the confidence layer 1 (heuristics) must reach changed from 0.8 to 0.5: more of its "
        "unsure answers stand, where a later layer may have found more"]


def test_a_configuration_event_edited_to_claim_the_new_revision_does_not_hide_it(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """The newest configuration event decides whether a changed configuration is recorded:
    its body edited (without the key) to name the loosened revision kept the loosening off
    the trail. Only an intact event is relied on, so the change is recorded against it."""
    import sqlite3

    strict, loose = _config(tmp_path), _config(tmp_path, mode="observe")
    _export(Governor(_config(tmp_path, classification={"k_anonymity": 10})), tmp_path / "o.csv")
    _export(Governor(strict), tmp_path / "o.csv")  # back to the defaults: an event too
    old, new = revision(snapshot(strict)), revision(snapshot(loose))
    with sqlite3.connect(tmp_path / "audit.db") as conn:
        conn.execute("UPDATE lacuna_audit SET body = replace(body, ?, ?) WHERE action = ? AND "
                     "seq = (SELECT max(seq) FROM lacuna_audit WHERE action = ?)",
                     (old, new, ACTION, ACTION))
    _export(Governor(loose), tmp_path / "o.csv")
    events = [b for b in _trail(tmp_path) if b.get("kind") == KIND]
    assert len(events) == 3
    assert events[-1][KIND]["revision"] == new
    assert events[-1][KIND]["previous"] == revision(snapshot(
        _config(tmp_path, classification={"k_anonymity": 10})))  # the last intact one
    assert "mode" in {c["path"] for c in events[-1][KIND]["changes"] if c["loosens"]}
    assert "(a configuration event) is not intact" in caplog.text
