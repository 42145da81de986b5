"""A client configured with ``server:`` keeps no local trail, lineage or metrics: what reads
them refuses, naming the server (never an AttributeError, a hang or an answer about nothing);
the governor's lineage store comes without a deadlock and asks no local store."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from lacuna.cli import app
from lacuna.config import config_from_dict
from lacuna.errors import LacunaError
from lacuna.governor import Governor
from lacuna.remote.client import ServerLineage

URL = "http://127.0.0.1:9"  # never asked: none of these reaches the server


def _config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("LACUNA_TOKEN", "lac_example")
    monkeypatch.setenv("LACUNA_HOME", str(tmp_path / "home"))
    path = tmp_path / "lacuna.yaml"
    path.write_text(
        yaml.safe_dump({"server": {"url": URL}, "lineage": {"openlineage": {"enabled": False}}}),
        encoding="utf-8",
    )
    return path


def _governor(monkeypatch: pytest.MonkeyPatch) -> Governor:
    monkeypatch.setenv("LACUNA_TOKEN", "lac_example")
    return Governor(
        config_from_dict({"server": {"url": URL}, "lineage": {"openlineage": {"enabled": False}}})
    )


def test_the_lineage_store_asked_first_comes_without_a_deadlock(monkeypatch) -> None:
    gov = _governor(monkeypatch)
    got: list[object] = []
    asker = threading.Thread(target=lambda: got.append(gov.lineage_store), daemon=True)
    asker.start()
    asker.join(10)  # before: the engine was built inside _once's non-reentrant lock: forever
    assert not asker.is_alive(), "Governor.lineage_store deadlocked"
    assert isinstance(got[0], ServerLineage)
    assert got[0].client is gov.engine.client  # one client, one breaker
    gov.close()


def test_a_read_asks_no_local_store_and_logs_no_error(monkeypatch, tmp_path, caplog) -> None:
    from lacuna.lineage.store import LineageStore

    monkeypatch.setenv("LACUNA_HOME", str(tmp_path))
    gov = _governor(monkeypatch)
    _ = gov.engine  # (the deadlock above is another test's)
    LineageStore(gov.config.audit_url).close()  # a local store exists (an earlier local use)
    data = tmp_path / "c.csv"
    data.write_text("a\n1\n", encoding="utf-8")
    with caplog.at_level(logging.DEBUG, logger="lacuna"):
        assert gov._restore_from_store(str(data)) is None
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING], caplog.text
    assert gov._remote_lineage is None  # not even built: nothing asked it
    # a read's parents are the server's to say (unreachable here: none, and the log says
    # why), never the local store's
    with caplog.at_level(logging.DEBUG, logger="lacuna"):
        assert gov.restore_lineage(str(data), "run-1") == ()
    assert "could not read the lineage of" in caplog.text
    assert "from the Lacuna server" in caplog.text
    gov.close()


def test_metrics_in_python_ask_the_server_and_fail_naming_it(monkeypatch) -> None:
    """GovernanceMetrics reads the server's GET /api/v1/metrics (its answers:
    tests/server/test_metrics4_governance_api.py); unreachable, it says so, naming it."""
    from lacuna.metrics import GovernanceMetrics

    gov = _governor(monkeypatch)
    with pytest.raises(
        LacunaError,
        match=r"Lacuna server http://127\.0\.0\.1:9 .*"
        r"/api/v1/metrics",
    ):
        GovernanceMetrics("last_30_days", governor=gov)
    gov.close()


@pytest.mark.parametrize(
    ("args", "where"),
    [
        (["audit", "list"], "/api/v1/audit"),
        (["audit", "verify"], "/api/v1/audit/verify"),
        (["audit", "config"], "/api/v1/audit"),
        (["lineage", "show", "/data/c.csv"], "/api/v1/lineage/upstream"),
        (["lineage", "runs"], "/api/v1/lineage/runs"),
        (["lineage", "completeness"], "/api/v1/lineage/completeness"),
        (["lineage", "impact", "/data/c.csv"], "/api/v1/lineage/"),
        (["status"], "/api/v1/audit?user="),
        (["retention", "plan"], "/api/v1/retention/holds"),  # AttributeError before
        (["retention", "apply"], "/api/v1/retention/holds"),
        # before: a hold in this host's holds table, obeyed by nothing (the mount and
        # writes ask the server's holds)
        (["retention", "hold", "/data/c.csv", "--reason", "litigation"], "server's host"),
        (["retention", "release", "/data/c.csv"], "server's host"),
    ],
)
def test_commands_reading_local_state_refuse_naming_the_server(
    args, where, tmp_path, monkeypatch
) -> None:
    config = _config(tmp_path, monkeypatch)
    result = CliRunner().invoke(app, [*args, "--config", str(config)])
    out = " ".join(result.output.split())
    assert result.exit_code == 2, out
    assert f"Lacuna server {URL} (server:)" in out, out
    assert where in out, out
    assert "Traceback" not in out
    assert "AttributeError" not in out


def test_lineage_import_refuses_and_db_still_reads_a_local_database(tmp_path, monkeypatch) -> None:
    config = _config(tmp_path, monkeypatch)
    events = tmp_path / "events.jsonl"
    events.write_text("", encoding="utf-8")
    runner = CliRunner()
    result = runner.invoke(app, ["lineage", "import", str(events), "--config", str(config)])
    assert result.exit_code == 2
    assert "POST /api/v1/lineage" in " ".join(result.output.split())
    assert not (tmp_path / "home" / "audit.db").exists()  # nothing created here
    local = f"sqlite:///{tmp_path / 'local.db'}"  # --db: a local database, on purpose
    result = runner.invoke(
        app, ["lineage", "import", str(events), "--db", local, "--config", str(config)]
    )
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["lineage", "runs", "--db", local, "--config", str(config)])
    assert "server:" not in result.output
    result = runner.invoke(app, ["audit", "list", "--db", local, "--config", str(config)])
    assert result.exit_code == 0, result.output
    assert "server:" not in result.output


@pytest.mark.parametrize(
    "args", [["feedback", "0123abcd", "--false-positive", "ids only"], ["survey", "4"]]
)
def test_feedback_and_survey_refuse_naming_the_console(args, tmp_path, monkeypatch) -> None:
    config = _config(tmp_path, monkeypatch)
    result = CliRunner().invoke(app, [*args, "--config", str(config)])
    out = " ".join(result.output.split())
    assert result.exit_code == 2, out
    assert f"Lacuna server {URL} (server:)" in out
    assert "/console/feedback/<decision id>" in out
    assert "AttributeError" not in out


def test_feedback_in_python_refuses_and_appends_nothing(monkeypatch) -> None:
    from lacuna.metrics import answer_survey, report_feedback, survey_due

    gov = _governor(monkeypatch)
    for call in (
        lambda: report_feedback("0123abcd", false_positive=True, comment="x", governor=gov),
        lambda: answer_survey(4, governor=gov),
        lambda: survey_due("last_30_days", governor=gov),
    ):
        with pytest.raises(LacunaError, match="/console/feedback/"):
            call()
    gov.close()


def test_a_files_clock_is_asked_of_the_server_never_its_sidecar(monkeypatch, tmp_path) -> None:
    """With server:, a file's retention clock is the server's (lacuna.lineage.seen): a server
    that cannot answer fails the read of it loudly (its sidecar, signed with the owner's own
    key, is not taken instead), and a URL is never sent."""
    from datetime import UTC, datetime

    from lacuna.errors import LineageError
    from lacuna.lineage import clock
    from lacuna.lineage.sidecar import write_sidecar
    from lacuna.model import Classification

    gov = _governor(monkeypatch)
    monkeypatch.setenv("LACUNA_HOME", str(tmp_path / "home"))
    data = tmp_path / "c.csv"
    data.write_text("a\n1\n", encoding="utf-8")
    write_sidecar(data, Classification(), written_by="ana",
                  first_seen=datetime(2030, 1, 1, tzinfo=UTC))
    assert clock.of_file(str(data)) is not None  # without server: the sidecar's clock
    with pytest.raises(LineageError, match=r"could not ask the Lacuna server"):
        clock.of_file(str(data), gov.config)
    assert clock.of_file("s3://user:secret@bucket/c.csv", gov.config) is None
    gov.close()


def test_a_files_clock_is_the_earlier_of_the_servers_and_its_trusted_sidecars(
        monkeypatch, tmp_path) -> None:
    """The owner's sidecar never makes the server's clock later, but its signed clock, when
    earlier, wins (it can only make the file due sooner): a host renamed, whose files the
    server keeps no clock for under the new name, keeps their clocks (before: the server's
    null, so a write there started the clock again). A sidecar that does not verify says
    nothing. For a write's clock (clock.of_file) and a read's (the governor) alike."""
    from datetime import UTC, datetime

    import pandas as pd

    from lacuna.lineage import clock
    from lacuna.lineage.sidecar import write_sidecar
    from lacuna.model import Classification
    from lacuna.remote import client as remote

    gov = _governor(monkeypatch)
    monkeypatch.setenv("LACUNA_HOME", str(tmp_path / "home"))
    data = tmp_path / "c.csv"
    data.write_text("a\n1\n", encoding="utf-8")
    old, mid, new = (datetime(y, 1, 1, tzinfo=UTC) for y in (2020, 2022, 2024))
    write_sidecar(data, Classification(), written_by="ana", first_seen=mid)
    server: list[datetime | None] = [None]
    monkeypatch.setattr(remote, "server_first_seen", lambda config, path: server[0])
    monkeypatch.setattr(ServerLineage, "knows",
                        lambda self, path, content=True: (None, server[0]))
    frame = pd.DataFrame({"a": [1]})

    def read() -> datetime | None:
        return gov.classify_read_raised(str(data), frame)[4]

    for kept, expected in ((None, mid), (new, mid), (old, old)):
        server[0] = kept
        assert clock.of_file(str(data), gov.config) == expected, kept
        assert read() == expected, kept
    data.write_text("a\n2\n", encoding="utf-8")  # the sidecar no longer verifies
    gov.file_cache.clear()
    server[0] = new
    assert clock.of_file(str(data), gov.config) == new
    assert read() == new
    gov.close()
