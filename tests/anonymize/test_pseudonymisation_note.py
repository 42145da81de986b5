"""Keyed hashing with a local key is pseudonymisation against outsiders only: the reasoning of a
hashed column and ``lacuna classify --explain`` say so; other strategies do not claim it."""

from __future__ import annotations

import pandas as pd
from typer.testing import CliRunner

import lacuna
from lacuna.anonymize.builtin.hash import PSEUDONYMISATION_NOTE
from lacuna.lineage.state import get_state


def test_hashed_column_reasoning_carries_the_note(governed):
    customers = pd.read_csv("customers.csv")
    hashed = lacuna.anonymize(customers, columns=["email"], strategy="hash")
    masked = lacuna.anonymize(customers, columns=["email"], strategy="mask")
    hashed_state, masked_state = get_state(hashed), get_state(masked)
    assert hashed_state is not None
    assert masked_state is not None
    assert PSEUDONYMISATION_NOTE in hashed_state.classification.columns["email"].reasoning
    assert "re-identify" in PSEUDONYMISATION_NOTE
    assert PSEUDONYMISATION_NOTE not in masked_state.classification.columns["email"].reasoning


def test_explain_of_a_hashed_file_says_whoever_holds_the_key_can_re_identify(governed):
    from lacuna.cli import app

    customers = pd.read_csv("customers.csv")
    target = governed / "governed" / "workspace" / "anon.csv"
    lacuna.anonymize(customers, columns=["email"]).to_csv(target, index=False)
    (governed / "lacuna.yaml").write_text(
        f"destinations: {{governed: ['{governed / 'governed' / 'workspace'}/']}}\n"
    )
    out = CliRunner().invoke(app, ["classify", "--explain", str(target)])
    assert out.exit_code == 0, out.output
    text = " ".join(out.output.split())
    assert "hashed: keyed hashing with a local key is pseudonymisation against outsiders" in text
    assert text.count("⚠ hashed") == 1  # only the hashed column
