"""``lacuna lineage show``/``runs`` print names that came from imported OpenLineage events:
a dataset, column, job or producer name holding an ESC sequence (``\\x1b]0;…\\x07`` retitles
the terminal, ``\\x1b[2J`` clears it) was printed as it was, and the terminal obeyed it. Each
such character is shown as its escape; ``--json`` keeps the names as they are."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lacuna.cli import app

runner = CliRunner(env={"COLUMNS": "200", "NO_COLOR": "1"})
ESC, SRC = "\x1b", "/src\x1b[31m\u202e.csv"


@pytest.fixture
def db(tmp_path: Path) -> str:
    event = {"eventType": "COMPLETE", "eventTime": "2026-01-01T00:00:00Z",
             "producer": "p\x1b]0;pwned\x07", "run": {"runId": "r1"},
             "job": {"namespace": "n", "name": "job\x1b[2J"},
             "inputs": [{"namespace": "file", "name": SRC}],
             "outputs": [{"namespace": "file", "name": "/out.csv", "facets": {
                 "schema": {"fields": [{"name": "c\rol"}]},
                 "columnLineage": {"fields": {"c\rol": {"inputFields": [
                     {"namespace": "file", "name": SRC, "field": "e\x1b[5m"}]}}}}}]}
    events = tmp_path / "events.jsonl"
    events.write_text(json.dumps(event) + "\n")
    url = f"sqlite:///{tmp_path / 'state.db'}"
    assert runner.invoke(app, ["lineage", "import", str(events), "--db", url]).exit_code == 0
    return url


@pytest.mark.parametrize("how", [["show", "/out.csv", "--columns"],
                                 ["show", "/out.csv", "--columns", "--format", "dot"],
                                 ["show", "/out.csv", "--columns", "--format", "mermaid"],
                                 ["runs"]])
def test_names_from_imported_events_cannot_drive_the_terminal(db: str, how: list[str]) -> None:
    result = runner.invoke(app, ["lineage", *how, "--db", db])
    assert result.exit_code == 0, result.output
    assert ESC not in result.output
    assert "\r" not in result.output
    assert "\u202e" not in result.output
    assert "\\x1b" in result.output  # shown, as its escape


def test_json_keeps_the_names_as_they_are(db: str) -> None:
    result = runner.invoke(app, ["lineage", "show", "/out.csv", "--columns", "--format", "json",
                                 "--db", db])
    graph = json.loads(result.output)
    assert {(e["source_column"], e["target_column"]) for e in graph["column_edges"]} == {
        ("e\x1b[5m", "c\rol")}
