import json

import pandas as pd
from typer.testing import CliRunner

from lacuna.cli import app

runner = CliRunner()


def write(tmp_path):
    df = pd.DataFrame({
        "contact": ["ada@example.org", "alan@example.org", "grace@example.org"] * 10,
        "phone": ["tbd", "unknown", "ask desk"] * 9 + ["+14155550100"] * 3,
        "col_7": ["kq-77", "zr-12", "mm-03"] * 10,
        "status": ["open", "closed", "open"] * 10,
    })
    path = tmp_path / "people.csv"
    df.to_csv(path, index=False)
    return path


def test_explain_shows_evidence_near_misses_and_layers(tmp_path):
    path = write(tmp_path)
    result = runner.invoke(app, ["classify", str(path), "--explain"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    out = result.output
    assert "contact: pii/email (layer heuristic" in out
    assert "• [values] 100% of 30 sampled values are valid e-mail addresses" in out
    assert "✗ near miss: looked like a phone number, but only 10% of 30 sampled values" in out
    assert "col_7: public (layer heuristic" in out
    assert "layer 2 (embeddings) is" in out
    assert "layer 3 (LLM) is off" in out
    assert "columns decided by layer: heuristic 100%" in out
    for name in ("contact", "phone", "col_7", "status"):  # every column has evidence lines
        block = out.split(f"\n{name}: ", 1)[1].split("\n")
        assert block[1].startswith("  ")


def test_json_carries_layer_and_evidence(tmp_path):
    path = write(tmp_path)
    result = runner.invoke(app, ["classify", str(path), "--json"])
    data = json.loads(result.output)
    contact = data["columns"]["contact"]
    assert contact["layer"] == "heuristic"
    assert contact["evidence"][0]["rule"] == "value:email"
