from __future__ import annotations

import dataclasses
import json
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from lacuna.audit import AuditStore
from lacuna.cli.audit import app

runner = CliRunner(env={"COLUMNS": "200", "NO_COLOR": "1"})


@pytest.fixture
def filled(store: AuditStore, fill: Callable[[int], None]) -> AuditStore:
    fill(6)
    return store


def test_cli_list_table(filled: AuditStore, db_url: str) -> None:
    result = runner.invoke(app, ["list", "--db", db_url])
    assert result.exit_code == 0, result.output
    for text in (
        "times in UTC",
        "user1",
        "export",
        "~/Downloads/export.csv",
        "PROPRIETARY",
        "DENIED",
        "allowed",
        "P-2024-001",
    ):
        assert text in result.output


def test_cli_list_json_with_filters(filled: AuditStore, db_url: str) -> None:
    result = runner.invoke(app, ["list", "--db", db_url, "--json", "--denied", "-n", "2"])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.output.splitlines()]
    assert [r["seq"] for r in lines] == [6, 4]
    assert all(r["decision"]["allowed"] is False for r in lines)
    assert lines[0]["hash"] == filled.get(6).hash  # type: ignore[union-attr]
    result = runner.invoke(
        app, ["list", "--db", db_url, "--json", "--user", "user2", "--action", "export"]
    )
    assert [json.loads(x)["seq"] for x in result.output.splitlines()] == [6, 3]


def test_cli_list_no_match(filled: AuditStore, db_url: str) -> None:
    result = runner.invoke(app, ["list", "--db", db_url, "--user", "nobody"])
    assert (result.exit_code, result.output.strip()) == (0, "No matching audit records.")


def test_cli_list_and_verify_without_a_trail(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'missing.db'}"
    result = runner.invoke(app, ["list", "--db", url])
    assert result.exit_code == 0
    assert "No audit records yet" in result.output
    assert runner.invoke(app, ["list", "--db", url, "--json"]).output == ""
    # named with --db: a wrong path is an error (a CI step pointed at it must not pass)
    result = runner.invoke(app, ["verify", "--db", url])
    assert result.exit_code == 2
    assert "no audit trail at" in result.output
    assert "Check --db" in result.output
    assert not (tmp_path / "missing.db").exists()
    config = tmp_path / "lacuna.yaml"  # the configured trail, not there yet: nothing to do
    config.write_text(f"audit:\n  url: {url}\n")
    result = runner.invoke(app, ["verify", "--config", str(config)])
    assert result.exit_code == 0
    assert "nothing to verify" in result.output
    assert not (tmp_path / "missing.db").exists()


def test_cli_verify_intact(filled: AuditStore, db_url: str) -> None:
    result = runner.invoke(app, ["verify", "--db", db_url])
    assert result.exit_code == 0, result.output
    assert "intact: 6 record(s)" in result.output
    assert filled.verify().head in result.output


def test_cli_verify_tampered(filled: AuditStore, db_url: str) -> None:
    with sqlite3.connect(filled.path) as conn:  # type: ignore[arg-type]
        conn.execute("DELETE FROM lacuna_audit WHERE seq = 3")
    result = runner.invoke(app, ["verify", "--db", db_url])
    assert result.exit_code == 1
    assert "TAMPERED at record #3" in result.output
    assert "were deleted" in result.output
    assert "2 record(s) before it are intact" in result.output


def test_cli_reads_audit_url_from_config(filled: AuditStore, db_url: str, tmp_path: Path) -> None:
    config = tmp_path / "lacuna.yaml"
    config.write_text(f"audit:\n  url: {db_url}\n")
    result = runner.invoke(app, ["verify", "--config", str(config)])
    assert result.exit_code == 0, result.output
    assert "6 record(s)" in result.output


def test_cli_default_url_is_lacuna_home(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mk: Any
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("LACUNA_CONFIG", raising=False)
    with AuditStore(f"sqlite:///{home / 'audit.db'}") as s:
        op = mk.op(user="homer")
        s.record(mk.decision(op), op, session="s")
    result = runner.invoke(app, ["list", "--json"])
    assert json.loads(result.output)["who"]["user_id"] == "homer"


def test_cli_bad_config_exits_2(tmp_path: Path) -> None:
    result = runner.invoke(app, ["list", "--config", str(tmp_path / "nope.yaml")])
    assert result.exit_code == 2
    assert "does not exist" in result.output


def test_cli_corrupt_database_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "audit.db"
    path.write_text("garbage")
    result = runner.invoke(app, ["verify", "--db", f"sqlite:///{path}"])
    assert result.exit_code == 2
    assert "not an SQLite database" in result.output
    assert path.read_text() == "garbage"


def test_cli_help_lists_commands() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    assert "list" in result.output
    assert "verify" in result.output


def test_cli_list_shows_values_as_text_never_markup_or_terminal_codes(
        store: AuditStore, db_url: str, tmp_path: Path) -> None:
    """A destination, user or error from the trail is text: a file named ``q4[/].csv`` made
    the listing fail (rich markup), an ESC in it would rewrite the lines above it."""
    from lacuna.model import Decision

    from .conftest import make_operation

    op = make_operation(user="ann[bold]", destination="/tmp/q4[/]\x1b[2K\x1b[1A.csv")
    decision = Decision(allowed=True, operation_id=op.id, reasoning="ok", operation=op)
    stored = store.record(decision, op, session="s")
    store.record_outcome(decision, op, session="s", of=stored.id,
                         error=OSError(28, "No space left", "/tmp/q4[/]\x1b[2K.csv"))
    result = runner.invoke(app, ["list", "--db", db_url])
    assert result.exit_code == 0, result.output
    assert "\x1b" not in result.output
    assert "ann[bold]" in result.output
    flat = "".join(result.output.split())  # the table folds long cells
    assert "/tmp/q4[/]\\x1b[2K\\x1b[1A.csv" in flat
    assert "FAILED" in flat
    by_dataset = runner.invoke(app, ["list", "--db", db_url, "--dataset", "/tmp/q4[/]"
                                     "\x1b[2K\x1b[1A.csv"])
    assert by_dataset.exit_code == 0, by_dataset.output
    assert "ann[bold]" in by_dataset.output


def test_cli_verify_names_a_decision_log_column_edited_away_from_its_body(
        filled: AuditStore, db_url: str) -> None:
    """``lacuna policy log --operation`` searches the operation_id column: an edit there hid
    the decision while verify said the decision log was intact."""
    from lacuna.model import Decision
    from lacuna.policy import log_sinks
    from lacuna.policy.decision_log import DecisionEvent, to_records

    sink = log_sinks.SqlDecisionLog(db_url)
    try:
        sink.write(to_records([DecisionEvent(
            Decision(allowed=False, operation_id=f"op-{k}", reasoning="no"), {"k": k},
            "lacuna/decision/result", 1_764_732_600_000_000_000 + k, 1) for k in range(3)],
            {}))
    finally:
        sink.close()
    assert runner.invoke(app, ["verify", "--db", db_url]).exit_code == 0
    with sqlite3.connect(filled.path) as conn:  # type: ignore[arg-type]
        conn.execute("UPDATE lacuna_decision_log SET operation_id = 'op-x' WHERE seq = 2")
    result = runner.invoke(app, ["verify", "--db", db_url])
    assert result.exit_code == 1, result.output
    assert "decision log TAMPERED: decision-log record #2's column(s) operation_id" in (
        result.output)


def test_a_name_that_is_not_utf8_is_recorded_listed_and_read_back_exactly(
        store: AuditStore, db_url: str, mk: Any) -> None:
    """A file name byte that is not UTF-8 (``os`` decodes it as a lone surrogate) in a source
    and a destination: the append failed in the metrics' rollup (UnicodeEncodeError, not even
    an AuditError), and ``list --json`` stopped halfway. Now both round-trip exactly, with
    unicode, control characters and a large body beside them."""
    from lacuna.model import Classification, Source

    names = ["/governed/b\udcffd.csv", "ünïcødé/日本.csv", "esc\x1b[2J\u202e\x9b.csv",
             "x" * 100_000]
    for name in names:
        op = dataclasses.replace(mk.op(destination=name), purpose="Q4 [board] report",
                                 sources=(Source(name=name, classification=Classification()),))
        store.record(mk.decision(op), op, session="s")
    assert store.verify().ok
    assert store.counts()["denied"] == len(names)
    result = runner.invoke(app, ["list", "--db", db_url, "--json"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.split("\n")[:-1]
    assert [json.loads(line) for line in lines] == [r.to_dict() for r in store.list(limit=9)]
    assert [json.loads(line)["what"]["destination"] for line in lines] == names[::-1]
    assert "\u202e" not in result.stdout  # shown escaped
    assert "\x9b" not in result.stdout
    table = runner.invoke(app, ["list", "--db", db_url])
    assert table.exit_code == 0, table.output
    assert "b\\udcffd.csv" in table.output.replace("\n", "")
    by_file = runner.invoke(app, ["list", "--db", db_url, "--dataset", names[0]])
    assert by_file.exit_code == 0, by_file.output
    assert "Q4 [board] report" in by_file.output  # the purpose as written, escaped once


@pytest.mark.parametrize("since", ["99999999999d", "1000000w", "9" * 5000 + "d"])
def test_cli_list_since_longer_ago_than_a_date_reaches_lists_everything(
        filled: AuditStore, db_url: str, since: str) -> None:
    """It was an OverflowError traceback (or int()'s digit-limit message)."""
    result = runner.invoke(app, ["list", "--db", db_url, "--json", "--since", since])
    assert result.exit_code == 0, result.output
    assert len(result.stdout.split("\n")[:-1]) == 6


@pytest.mark.parametrize("args", [["list", "-n", str(2**64)], ["config", "-n", str(10**30)]])
def test_cli_a_limit_past_a_64_bit_integer_lists_everything(filled: AuditStore, db_url: str,
                                                            args: list[str]) -> None:
    """It was an OverflowError traceback (SQLite's LIMIT is a 64-bit integer)."""
    result = runner.invoke(app, [*args, "--db", db_url, "--json"])
    assert result.exit_code == 0, result.output
    assert len(result.stdout.splitlines()) == (6 if args[0] == "list" else 0)


def test_cli_list_since_takes_ascii_digits_only(filled: AuditStore, db_url: str) -> None:
    result = runner.invoke(app, ["list", "--db", db_url, "--since", "\u0661\u0662d"])
    assert result.exit_code == 2
    assert "neither a duration" in result.output
    assert len(runner.invoke(app, ["list", "--db", db_url, "--json", "--since", "0000090d"]
                             ).stdout.split("\n")[:-1]) == 6


def test_cli_list_shows_a_record_whose_body_is_nested_too_deep(filled: AuditStore,
                                                                 db_url: str) -> None:
    """A body rewritten to JSON nested past the parser's depth made every listing that held
    it fail with a RecursionError; it is listed with what its columns say, and verify names
    it."""
    with sqlite3.connect(filled.path) as conn:  # type: ignore[arg-type]
        conn.execute("UPDATE lacuna_audit SET body = ? WHERE seq = 2", ("[" * 100_000,))
    for args in (["list"], ["list", "--json"], ["list", "--dataset", "x"]):
        result = runner.invoke(app, [*args, "--db", db_url])
        assert result.exit_code == 0, result.output
    verify = runner.invoke(app, ["verify", "--db", db_url])
    assert verify.exit_code == 1
    assert "TAMPERED at record #2" in verify.output


def test_values_that_are_not_utf8_in_the_database_are_listed_escaped_and_found(
        filled: AuditStore, db_url: str) -> None:
    """SQLite keeps bytes that are not UTF-8 in a text column (written around Lacuna); its
    driver refused the whole read, so ``list`` (table, JSON, by dataset) and every search
    failed with 'cannot read the audit trail' and showed nothing. Now the records are listed
    with such a byte escaped (``\\udcff``), a search by the name as listed finds its record,
    and verify still names the edit."""
    with sqlite3.connect(filled.path) as conn:  # type: ignore[arg-type]
        conn.execute("UPDATE lacuna_audit SET user_id = CAST(X'62ff6f62' AS TEXT) "
                     "WHERE seq = 2")
        conn.execute("UPDATE lacuna_audit SET body = CAST(REPLACE(body, "
                     "'~/Downloads/export.csv', 'q4-' || X'fe' || '.csv') AS TEXT) "
                     "WHERE seq = 3")
    table = runner.invoke(app, ["list", "--db", db_url])
    assert table.exit_code == 0, table.output
    flat = "".join(table.output.split())
    assert "b\\udcffob" in flat
    assert "q4-\\udcfe.csv" in flat
    listed = runner.invoke(app, ["list", "--db", db_url, "--json"])
    assert listed.exit_code == 0, listed.output
    lines = [json.loads(line) for line in listed.stdout.splitlines()]
    assert [r["seq"] for r in lines] == [6, 5, 4, 3, 2, 1]
    assert lines[3]["what"]["destination"] == "q4-\udcfe.csv"  # reads back as listed
    assert "\\udcfe" in listed.stdout
    for args, seqs in ((["--user", "b\udcffob"], [2]), (["--user", "b\udcfe"], []),
                       (["--user", "\ud800"], []), (["--dataset", "q4-\udcfe.csv"], [3])):
        found = runner.invoke(app, ["list", "--db", db_url, "--json", *args])
        assert found.exit_code == 0, (args, found.output)
        assert [json.loads(x)["seq"] for x in found.stdout.splitlines()] == seqs, args
    verify = runner.invoke(app, ["verify", "--db", db_url])
    assert verify.exit_code == 1
    assert "TAMPERED at record #2: record #2's column(s) user_id" in verify.output


def test_a_user_id_that_is_not_utf8_is_refused_by_name_not_a_unicode_error(
        store: AuditStore, mk: Any) -> None:
    """The indexed ``user_id`` column cannot hold a lone surrogate: the append failed with
    the driver's UnicodeEncodeError, no AuditError (a governor could not say what failed)."""
    from lacuna.errors import AuditError

    op = mk.op(user="b\udcffob")
    with pytest.raises(AuditError, match=r"the user id 'b\\udcffob' is not UTF-8 text"):
        store.record(mk.decision(op), op, session="s")
    assert store.list() == []
    good = mk.op(destination="/data/b\udcffd.csv")
    stored = store.record(mk.decision(good), good, session="s")
    assert [r.id for r in store.list(naming=("destination", ["/data/b\udcffd.csv"]))] == [
        stored.id]
    assert store.verify().ok


def test_cli_list_refuses_an_action_no_record_can_have(filled: AuditStore,
                                                        db_url: str) -> None:
    """``--action exprt`` listed nothing and exited 0, as if nobody had exported anything.
    An action that is neither an operation's, an event's, nor on the trail exits 2 naming
    the valid ones (also where there is no trail yet); any spelling of a valid one lists its
    records."""
    from lacuna.audit.record import event_body

    filled.record_event(event_body("future", user=("ann", "analyst"), session="s",
                                   what={"action": "future_event"}, reasoning="r"))
    for action in ("exprt", "frobnicate", "e\udcff"):
        for url in (db_url, db_url + ".none"):
            result = runner.invoke(app, ["list", "--db", url, "--json", "--action", action])
            assert result.exit_code == 2, result.output
            assert "is not an action of the audit trail" in result.output
            assert "export, feedback" in result.output
            assert ("future_event" in result.output) is (url == db_url)  # the trail's own
            assert ("did you mean export?" in result.output) is (action == "exprt")
    for action, seqs in (("export", [6, 5, 4, 3, 2, 1]), ("EXPORT", [6, 5, 4, 3, 2, 1]),
                         ("survey", []),
                         ("future_event", [7])):  # a newer Lacuna's, on the trail: taken
        result = runner.invoke(app, ["list", "--db", db_url, "--json", "--action", action])
        assert result.exit_code == 0, result.output
        assert [json.loads(x)["seq"] for x in result.stdout.splitlines()] == seqs


def test_the_event_actions_audit_list_takes_are_the_ones_lacuna_records() -> None:
    """``--action`` takes each event's action: a new kind of event left out would be refused
    on a trail that has none of it yet."""
    from lacuna.audit import configuration
    from lacuna.audit.queries import EVENT_ACTIONS
    from lacuna.exceptions import events
    from lacuna.identity import trail
    from lacuna.lineage import dismiss
    from lacuna.metrics import facts, review
    from lacuna.retention import api

    assert {configuration.ACTION, trail.IDENTITY_ACTION, trail.SESSION_ACTION, events.ACTION,
            api.KIND, facts.FEEDBACK, facts.SURVEY, review.REVIEW, review.REVIEW_REFUSED,
            dismiss.ACTION, "key_management"} == EVENT_ACTIONS


def test_cli_config_lists_configuration_events_of_another_shape(store: AuditStore,
                                                                db_url: str) -> None:
    """A configuration event edited or forged into another shape (a change without a path,
    changes that are no list, a source that is no text, markup in ``previous``) stopped
    ``lacuna audit config`` (and --json, --show) with a KeyError traceback; verify names the
    edit, and the listing shows what the events hold."""
    from lacuna.audit.record import event_body

    for detail in (
            {"revision": "abc1", "source": 5, "previous": "[/]", "settings": {"mode": "x"},
             "changes": [{"path": "mode", "before": "enforce", "after": "observe",
                          "loosens": "lowered"}]},
            {"revision": "abd2", "previous": "p", "changes": "oops", "settings": []},
            {"revision": "abe3", "previous": "p", "changes": [{"before": 1}, 7]}):
        store.record_event(event_body("config", user=("ann", "x"), session="s", detail=detail,
                                      what={"action": "configure"}, reasoning="r"))
    listed = runner.invoke(app, ["config", "--db", db_url])
    assert listed.exit_code == 0, listed.output
    assert "since [/]" in listed.output
    assert 'mode: "enforce" -> "observe" (LOOSENS: lowered)' in listed.output
    as_json = runner.invoke(app, ["config", "--db", db_url, "--json"])
    assert as_json.exit_code == 0, as_json.output
    assert [json.loads(x)["revision"] for x in as_json.stdout.splitlines()] == [
        "abe3", "abd2", "abc1"]
    shown = runner.invoke(app, ["config", "--db", db_url, "--show", "abc"])
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.stdout) == {"mode": "x"}
