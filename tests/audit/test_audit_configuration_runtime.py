"""The configuration on the trail, attacked by the owner of the process: a configuration that
cannot be recorded, one changed in place after it was recorded, a store shared by governors
with other settings, other threads appending while it is recorded, secrets under names and in
values the redaction did not look at (``lacuna.audit.configuration``)."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from typer.testing import CliRunner

import lacuna
from lacuna import governor as governor_module
from lacuna.audit import AuditStore
from lacuna.audit.configuration import KIND, changes, defaults, revision, snapshot
from lacuna.cli.audit import app
from lacuna.config import ClassRule, Config, config_from_dict, parse_yaml
from lacuna.errors import AuditError, ConfigError, GovernanceViolation
from lacuna.governor import Governor
from lacuna.model import Tier

from .conftest import make_decision, make_operation

runner = CliRunner(env={"COLUMNS": "220", "NO_COLOR": "1"})
FRAME = pd.DataFrame({"city": ["Oslo", "Lima"], "n": [1, 2]})


def _config(tmp_path: Path, **extra: Any) -> Config:
    return config_from_dict({"audit": {"url": f"sqlite:///{tmp_path / 'audit.db'}"},
                             "user": {"id": "ana", "role": "analyst"}, **extra})


def _trail(tmp_path: Path) -> list[tuple[str | None, str | None]]:
    """(kind, the revision an event records or a record names), oldest first."""
    store = AuditStore(f"sqlite:///{tmp_path / 'audit.db'}", create=False, read_only=True)
    try:
        bodies = [r.data for r in reversed(store.list(limit=None))]
        assert store.verify().ok
    finally:
        store.close()
    return [(b.get("kind"), b[KIND]["revision"] if b.get("kind") == KIND
             else b["decision"].get("config_revision")) for b in bodies]


@pytest.fixture
def enabled() -> Any:
    yield lacuna.enable
    lacuna.disable()


@pytest.mark.parametrize("mode", ["enforce", "warn"])
def test_a_configuration_that_cannot_be_recorded_is_no_decision_in_enforce(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, enabled: Any, mode: str) -> None:
    """The configuration event fails, the trail does not: enforce appends nothing without its
    configuration (the operation does not run); warn runs and records no revision."""
    config = _config(tmp_path, mode=mode, classification={"k_anonymity": 2},
                     destinations={"internal_hosts": ["evil.example.com"]})
    real = AuditStore.record_event_once

    def refused(*_: Any, **__: Any) -> Any:
        raise AuditError("database is locked")

    monkeypatch.setattr(AuditStore, "record_event_once", refused)
    enabled(config)
    if mode == "enforce":
        with pytest.raises(GovernanceViolation, match="could not be recorded on the audit trail"):
            FRAME.to_csv(tmp_path / "a.csv", index=False)
        assert not (tmp_path / "a.csv").exists()
        assert not (tmp_path / "audit.db").exists() or _trail(tmp_path) == []
    else:
        FRAME.to_csv(tmp_path / "a.csv", index=False)
        assert _trail(tmp_path) == [(None, None), ("outcome", None)]  # as docs/audit.md says
    # the trail takes it again: the next operation is preceded by the configuration
    monkeypatch.setattr(AuditStore, "record_event_once", real)
    FRAME.to_csv(tmp_path / "b.csv", index=False)
    rev = revision(snapshot(config))
    assert _trail(tmp_path)[-3:] == [(KIND, rev), (None, rev), ("outcome", rev)]
    assert pd.read_csv(tmp_path / "b.csv").equals(FRAME)  # a read, recorded under it too
    assert _trail(tmp_path)[-1] == (None, rev)


def test_a_configuration_changed_in_place_is_recorded_before_the_next_decision(
        tmp_path: Path, enabled: Any) -> None:
    config = _config(tmp_path, classification={"k_anonymity": 7})
    enabled(config)
    FRAME.to_csv(tmp_path / "a.csv", index=False)
    gov = governor_module.current()
    first = revision(snapshot(gov.config))
    # the settings refuse a change made in place, the mappings in them too ...
    with pytest.raises(TypeError, match="immutable"):
        gov.config.classification.mapping["pii"] = ClassRule(tier=Tier.PUBLIC)
    with pytest.raises(TypeError, match="immutable"):
        gov.config.user.attributes.update(team="x")
    assert revision(snapshot(gov.config)) == first
    # ... and code that steps around that on purpose is still recorded before it decides
    dict.__setitem__(gov.config.classification.mapping, "pii", ClassRule(tier=Tier.PUBLIC))
    FRAME.to_csv(tmp_path / "b.csv", index=False)
    second = revision(snapshot(gov.config))
    assert second != first
    assert _trail(tmp_path) == [(KIND, first), (None, first), ("outcome", first),
                                (KIND, second), (None, second), ("outcome", second)]
    result = runner.invoke(app, ["config", "--db", config.audit_url])
    assert result.exit_code == 0, result.output
    assert ('classification.mapping.pii.tier: "PROPRIETARY" -> "PUBLIC" (LOOSENS: tier '
            "lowered from PROPRIETARY to PUBLIC)") in result.output
    # unchanged since: no event before the next decision
    FRAME.to_csv(tmp_path / "c.csv", index=False)
    assert [k for k, _ in _trail(tmp_path)].count(KIND) == 2
    assert pd.read_csv(tmp_path / "c.csv").equals(FRAME)


def test_a_governors_configuration_cannot_be_replaced(tmp_path: Path, enabled: Any) -> None:
    enabled(_config(tmp_path))
    gov = governor_module.current()
    before = gov.config
    with pytest.raises(ConfigError, match=r"cannot be replaced.*lacuna\.enable"):
        gov.config = before.model_copy(update={"mode": "observe"})
    assert gov.config is before
    FRAME.to_csv(tmp_path / "a.csv", index=False)
    assert {rev for _, rev in _trail(tmp_path)} == {revision(snapshot(before))}


def test_a_value_that_cannot_be_recorded_fails_closed_and_yaml_cannot_declare_it(
        tmp_path: Path, enabled: Any) -> None:
    with pytest.raises(ConfigError, match=r"lacuna\.yaml.*user\.attributes: holds a binary"):
        config_from_dict(parse_yaml("user: {attributes: {x: [!!binary '/w==']}}\n",
                                    "lacuna.yaml")[0], source=tmp_path / "lacuna.yaml")
    config = _config(tmp_path, classification={"k_anonymity": 3})
    rev = revision(snapshot(config))
    enabled(config)
    FRAME.to_csv(tmp_path / "a.csv", index=False)
    gov = governor_module.current()
    # set in code, around the settings' immutability: no JSON text for the trail
    dict.__setitem__(gov.config.user.attributes, "blob", b"\xff")
    with pytest.raises(GovernanceViolation, match="could not be recorded"):
        FRAME.to_csv(tmp_path / "b.csv", index=False)
    assert not (tmp_path / "b.csv").exists()
    assert _trail(tmp_path) == [(KIND, rev), (None, rev), ("outcome", rev)]  # nothing after


def test_other_threads_wait_while_the_configuration_is_recorded(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = _config(tmp_path, mode="warn", classification={"k_anonymity": 6})
    gov = Governor(config)
    store = gov.audit
    real = AuditStore.record_event_once
    recording, go = threading.Event(), threading.Event()

    def slow(self: AuditStore, *args: Any, **kwargs: Any) -> Any:
        recording.set()
        go.wait(5)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(AuditStore, "record_event_once", slow)
    first_op, second_op = make_operation(), make_operation()
    first = threading.Thread(target=store.record, args=(
        make_decision(first_op, allowed=True), first_op), kwargs={"session": gov.session})
    second = threading.Thread(target=store.record, args=(
        make_decision(second_op, allowed=True), second_op), kwargs={"session": gov.session})
    first.start()
    assert recording.wait(5)
    second.start()
    second.join(0.5)  # it waits for the configuration (before, it appended with no revision)
    go.set()
    first.join(5)
    second.join(5)
    rev = revision(snapshot(config))
    assert _trail(tmp_path) == [(KIND, rev), (None, rev), (None, rev)]


def test_recording_directly_while_the_hook_runs_on_another_thread_does_not_deadlock(
        tmp_path: Path) -> None:
    """A first append runs the hook (which takes the governor's lock to record); meanwhile
    another thread calls ``recording()`` (a server at its start), which holds that lock and
    appends the event itself: it must not wait for the hook's run, which waits for it."""
    config = _config(tmp_path, mode="warn")
    gov = Governor(config)
    store = gov.audit
    hook = store.take_first_append()
    assert hook is not None
    running, taken = threading.Event(), threading.Event()

    def late() -> None:  # the hook has started; the other thread takes the governor's lock
        running.set()
        taken.wait(5)
        hook()

    store.before_first_append(late)
    real = store.take_first_append

    def took() -> Any:
        run = real()
        taken.set()
        return run

    store.take_first_append = took  # type: ignore[method-assign]
    op = make_operation()
    first = threading.Thread(target=store.record, args=(make_decision(op, allowed=True), op),
                             kwargs={"session": gov.session}, daemon=True)
    direct = threading.Thread(target=gov.recording, daemon=True)
    first.start()
    assert running.wait(5)
    direct.start()
    direct.join(5)
    first.join(5)
    assert not direct.is_alive()
    assert not first.is_alive()
    rev = revision(snapshot(config))
    assert _trail(tmp_path) == [(KIND, rev), (None, rev)]


def test_a_shared_store_takes_only_governors_of_its_configuration(tmp_path: Path) -> None:
    strict = _config(tmp_path, classification={"k_anonymity": 9})
    gov = Governor(strict)
    store = gov.recording()
    rev = revision(snapshot(strict))
    assert store.config_revision == rev
    loose = _config(tmp_path, mode="observe", classification={"k_anonymity": 9})
    with pytest.raises(ConfigError, match=rf"records under configuration {rev}.*differ"):
        Governor(loose, audit=store)
    # another user (a server's caller) with the same settings shares it, under its revision
    caller = strict.model_copy(update={"user": strict.user.model_copy(
        update={"id": "bob", "role": "data_steward"})})
    acting = Governor(caller, audit=store)
    op = make_operation(user="bob")
    acting.audit.record(make_decision(op, allowed=True), op, session=acting.session)
    assert _trail(tmp_path) == [(KIND, rev), (None, rev)]
    gov.close()


def test_secrets_under_other_names_and_in_values_never_reach_the_trail(
        tmp_path: Path, enabled: Any) -> None:
    secrets = {"clientSecret": "cs-0000-SECRET", "api-key": "ak-1111-SECRET",
               "tokens": ["tk-2222-SECRET"], "secret_key": "sk-3333-SECRET",
               "dsn": "host=db user=ana password=pw-4444-SECRET dbname=x",
               "odbc": "Server=db;Uid=ana;Pwd=pw-5555-SECRET;",
               "auth": "Bearer bt-6666-SECRET",
               "jwt": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiI3Nzc3In0.c2lnLTc3NzctU0VDUkVU"}
    kept = {"department_code": "FIN-7", "note": "Token based", "token_env": "MY_TOKEN",
            "key_id": "files"}
    config = _config(tmp_path, classification={"k_anonymity": 4},
                     user={"id": "ana", "role": "analyst", "attributes": {**secrets, **kept}})
    settings = snapshot(config)
    attributes = settings["user"]["attributes"]
    assert {k: attributes[k] for k in kept} == kept
    assert attributes["dsn"] == "host=db user=ana password=*** dbname=x"
    assert attributes["odbc"] == "Server=db;Uid=ana;Pwd=***;"
    assert {attributes[k] for k in ("clientSecret", "api-key", "secret_key", "auth",
                                    "jwt")} == {"***"}
    assert attributes["tokens"] == ["***"]
    enabled(config)
    FRAME.to_csv(tmp_path / "a.csv", index=False)
    rev = revision(settings)
    shown = runner.invoke(app, ["config", "--db", config.audit_url, "--show", rev])
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.output)["user"]["attributes"]["department_code"] == "FIN-7"
    raw = (tmp_path / "audit.db").read_bytes()
    for value in ("cs-0000", "ak-1111", "tk-2222", "sk-3333", "pw-4444", "pw-5555", "bt-6666",
                  "eyJzdWIiOiI3Nzc3In0"):
        assert value not in shown.output
        assert value.encode() not in raw


@pytest.mark.parametrize(("dsn", "shown"), [
    ("host = db password = pw-SECRET dbname = x", "host = db password = *** dbname = x"),
    ("host=db password='pw SECRET' dbname=x", "host=db password=*** dbname=x"),
    ("host=db sslpassword = pw-SECRET port=5", "host=db sslpassword = *** port=5"),
    ("Server=db; Password = pw SECRET; Uid=ana", "Server=db; Password = ***; Uid=ana"),
])
def test_a_connection_strings_password_is_redacted_however_it_is_spaced(
        dsn: str, shown: str) -> None:
    """libpq allows spaces around ``=`` and quoted values; ADO/ODBC values run to ``;``."""
    config = config_from_dict({"user": {"id": "ana", "attributes": {"dsn": dsn}}})
    assert snapshot(config)["user"]["attributes"]["dsn"] == shown


def test_the_role_from_the_environment_is_recorded_and_the_defaults_do_not_read_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, enabled: Any) -> None:
    monkeypatch.setenv("LACUNA_ROLE", "privacy_officer")
    assert defaults()["user"]["role"] == "analyst"  # what Lacuna embeds, whatever the shell
    config = config_from_dict({"audit": {"url": f"sqlite:///{tmp_path / 'audit.db'}"}})
    assert config.user.role == "privacy_officer"
    enabled(config)
    FRAME.to_csv(tmp_path / "a.csv", index=False)
    rev = revision(snapshot(config))
    assert _trail(tmp_path) == [(KIND, rev), (None, rev), ("outcome", rev)]
    found = {c.path: c.loosens for c in changes(defaults(), snapshot(config))}
    assert found == {"user.role": "the declared role changed from analyst to privacy_officer "
                                  "(policies and detokenize_roles read it)"}


def test_a_mode_that_skipped_validation_is_marked(tmp_path: Path, enabled: Any) -> None:
    """``model_copy(update=...)`` does not validate: "Enforce" is not ``enforce``, and every
    mode but ``enforce`` lets denied operations run."""
    config = _config(tmp_path).model_copy(update={"mode": "Enforce"})
    enabled(config)
    FRAME.to_csv(tmp_path / "a.csv", index=False)
    result = runner.invoke(app, ["config", "--db", config.audit_url])
    assert result.exit_code == 0, result.output
    assert ('mode: "enforce" -> "Enforce" (LOOSENS: set to "Enforce", which is not a mode (a '
            "configuration built without validation): only enforce stops denied operations)"
            ) in result.output
    assert "1 loosen governance" in result.output


def test_overrides_in_code_keep_the_file_the_settings_were_read_from(
        tmp_path: Path, enabled: Any) -> None:
    yaml_path = tmp_path / "lacuna.yaml"
    yaml_path.write_text(f"audit: {{url: 'sqlite:///{tmp_path / 'audit.db'}'}}\n"
                         "user: {id: ana, role: analyst}\n", encoding="utf-8")
    enabled(str(yaml_path), mode="warn")
    gov = governor_module.current()
    assert gov.config.mode == "warn"
    assert gov.config.source == str(yaml_path)
    FRAME.to_csv(tmp_path / "a.csv", index=False)
    rev = revision(snapshot(gov.config))
    assert _trail(tmp_path) == [(KIND, rev), (None, rev), ("outcome", rev)]
    result = runner.invoke(app, ["config", "--db", gov.config.audit_url])
    assert result.exit_code == 0, result.output
    assert f"configuration {rev} from {yaml_path}" in result.output
    assert 'mode: "enforce" -> "warn" (LOOSENS: lowered from enforce to warn' in result.output
    assert f'source: (unset) -> "{yaml_path}" (LOOSENS: the settings are read from another ' \
        "file" in result.output
