"""The privacy budget: noise releases of the same data add up, and are refused past the limit.

Two releases at epsilon 4 are one at epsilon 8 (sequential composition); 200 releases at the cap
averaged gave each age back within about half a year. The ledger (lacuna.anonymize.budget) keeps
what was spent per source column in the state database, all or nothing per anonymize call.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

import lacuna
from lacuna.anonymize import anonymize
from lacuna.anonymize.budget import BudgetExhausted, ledger, limit_of
from lacuna.cli import app
from lacuna.governor import current
from lacuna.lineage.state import get_state

pytest.importorskip("opendp", reason="the noise strategy needs OpenDP (lacuna[privacy])")

AGES = [31, 45, 52, 67, 38, 29, 74, 41, 58, 36] * 3


@pytest.fixture
def patients(sandbox: Path, sandbox_config) -> Path:  # type: ignore[no-untyped-def]
    path = sandbox / "patients.csv"
    pd.DataFrame({"patient": [f"P{i:03d}" for i in range(len(AGES))], "age": AGES,
                  "visits": [i % 4 for i in range(len(AGES))]}).to_csv(path, index=False)
    lacuna.enable(sandbox_config(anonymize={"noise_sensitivity": 100, "epsilon": 4}))
    yield path
    lacuna.disable()


def test_releases_of_one_source_column_share_its_budget_whatever_the_frame_is_called(
        patients: Path) -> None:
    df = pd.read_csv(patients)
    first = anonymize(df, ["age"], strategy="noise")
    renamed = anonymize(df.rename(columns={"age": "years"}), ["years"], strategy="noise")
    assert str(get_state(first).classification.columns["age"].classification) != "pii"
    assert len(renamed) == len(AGES)
    with pytest.raises(BudgetExhausted) as info:  # 4 + 4 + 4 > 10
        anonymize(df[["age"]].copy(), ["age"], strategy="noise")
    text = str(info.value)
    assert f"column 'age' of {patients}" in text
    assert "2 earlier noise release(s) spent epsilon 8 of 10" in text
    assert "anonymize.epsilon to at most 2" in text
    assert "Nothing was anonymized" in text
    spent = {s.described: (s.epsilon, s.releases) for s in ledger(current().config)}
    assert spent[f"column 'age' of {patients}"] == (8.0, 2)
    assert list(spent.values()) == [(8.0, 2)] * 2  # the column, and its values


def test_what_is_left_may_still_be_spent_and_the_allowed_release_round_trips(
        patients: Path, sandbox: Path, sandbox_config) -> None:  # type: ignore[no-untyped-def]
    df = pd.read_csv(patients)
    anonymize(df, ["age"], strategy="noise")
    anonymize(df, ["age"], strategy="noise")
    lacuna.enable(sandbox_config(anonymize={"noise_sensitivity": 100, "epsilon": 2}))
    last = anonymize(df, ["age", "visits"], strategy={"age": "noise", "visits": "noise"})
    out = sandbox / "Downloads" / "ages.csv"
    last[["age"]].to_csv(out, index=False)  # a public release, allowed where raw ages are not
    back = pd.read_csv(out)
    assert back["age"].tolist() == pytest.approx(last["age"].tolist())
    assert back["age"].tolist() != AGES
    spent = {s.described: s for s in ledger(current().config)}
    assert spent[f"column 'age' of {patients}"].epsilon == pytest.approx(10.0)
    assert spent[f"column 'age' of {patients}"].releases == 3


def test_a_refused_call_spends_nothing_on_its_other_columns(patients: Path) -> None:
    df = pd.read_csv(patients)
    anonymize(df, ["age"], strategy="noise")
    anonymize(df, ["age"], strategy="noise")
    with pytest.raises(BudgetExhausted):
        anonymize(df, ["visits", "age"], strategy="noise")
    spent = {s.described: s.epsilon for s in ledger(current().config)}
    assert spent[f"column 'age' of {patients}"] == 8.0
    assert not [s for s in spent if "visits" in s]  # visits: nothing spent


def test_the_configuration_can_lower_the_budget_never_raise_it(
        patients: Path, sandbox_config) -> None:  # type: ignore[no-untyped-def]
    generous = sandbox_config(anonymize={"noise_sensitivity": 100, "epsilon": 4,
                                         "epsilon_budget": 1e9})
    assert limit_of(generous) == 10.0  # the analyst owns lacuna.yaml
    lacuna.enable(generous)
    df = pd.read_csv(patients)
    anonymize(df, ["age"], strategy="noise")
    anonymize(df, ["age"], strategy="noise")
    with pytest.raises(BudgetExhausted):
        anonymize(df, ["age"], strategy="noise")
    lacuna.enable(sandbox_config(anonymize={"noise_sensitivity": 100, "epsilon": 4,
                                            "epsilon_budget": 5}))
    other = patients.with_name("patients2.csv")  # other ages: a budget of their own
    other.write_text("age\n" + "".join(f"{a + 1}\n" for a in AGES))
    df2 = pd.read_csv(other)
    anonymize(df2, ["age"], strategy="noise")
    with pytest.raises(BudgetExhausted, match="spent epsilon 4 of 5"):
        anonymize(df2, ["age"], strategy="noise")


def test_numbers_built_in_memory_spend_on_their_values(sandbox: Path,
                                                       sandbox_config) -> None:  # type: ignore[no-untyped-def]
    config = sandbox_config(anonymize={"noise_sensitivity": 100, "epsilon": 5})
    ages = pd.DataFrame({"age": [float(a) for a in AGES]})
    anonymize(ages, ["age"], strategy="noise", config=config)
    shuffled = ages.sample(frac=1.0, random_state=7).rename(columns={"age": "age_years"})
    anonymize(shuffled, ["age_years"], strategy="noise", config=config)  # the same numbers
    with pytest.raises(BudgetExhausted, match="built in memory"):
        anonymize(ages, ["age"], strategy="noise", config=config)
    other = pd.DataFrame({"age": [float(a) + 1 for a in AGES]})  # other data: its own budget
    assert len(anonymize(other, ["age"], strategy="noise", config=config)) == len(AGES)


def test_noise_that_declassifies_nothing_spends_nothing(sandbox: Path,
                                                        sandbox_config) -> None:  # type: ignore[no-untyped-def]
    """A noised revenue sum stays financial: it makes nothing public, so it spends nothing,
    and nor do hash or mask, whose output is the same however often it is made."""
    config = sandbox_config()
    totals = pd.DataFrame({"total": [1000.0, 2000.0, 1500.0]})
    from lacuna.lineage.frames import attach
    from lacuna.lineage.state import LineageNode
    from lacuna.model import Classification, ColumnClass, ColumnKind, Sensitivity, Tier

    attach(totals, Classification(tier=Tier.INTERNAL, columns={"total": ColumnClass(
        classification=ColumnKind.FINANCIAL, sensitivity=Sensitivity.MEDIUM)}),
        LineageNode(name="totals.csv", operation="read_csv"))
    for _ in range(5):
        anonymize(totals, ["total"], strategy="noise", config=config)
    emails = pd.DataFrame({"email": ["a@example.com", "b@example.com"]})
    for _ in range(3):
        anonymize(emails, ["email"], strategy="mask", config=config)
    assert ledger(config) == []


def test_lacuna_privacy_budget_shows_the_ledger(patients: Path, sandbox: Path) -> None:
    df = pd.read_csv(patients)
    anonymize(df, ["age"], strategy="noise")
    config_file = sandbox / "lacuna.yaml"
    config_file.write_text(f"audit:\n  url: sqlite:///{sandbox / 'audit.db'}\n")
    runner = CliRunner()
    shown = runner.invoke(app, ["privacy", "budget", "--json", "--config", str(config_file)])
    assert shown.exit_code == 0, shown.output
    body = json.loads(shown.output)
    assert body["limit"] == 10.0
    column = next(s for s in body["subjects"] if s["subject"].startswith("column"))
    assert column == {"subject": f"column 'age' of {patients}", "epsilon": 4.0, "left": 6.0,
                      "releases": 1, "last_at": column["last_at"]}
    assert [s["epsilon"] for s in body["subjects"]] == [4.0, 4.0]  # and the values
    table = runner.invoke(app, ["privacy", "budget", "--config", str(config_file)])
    assert table.exit_code == 0
    assert "age" in table.output
    assert "6" in table.output


def test_a_configuration_passed_to_anonymize_spends_from_the_governors_ledger(
        patients: Path, tmp_path: Path, sandbox_config) -> None:  # type: ignore[no-untyped-def]
    """config= says what a release is (epsilon, sensitivity), not where the ledger lives: a
    fresh audit.url per call started every budget again."""
    df = pd.read_csv(patients)
    for i in range(2):
        elsewhere = sandbox_config(anonymize={"noise_sensitivity": 100, "epsilon": 4},
                                   audit={"url": f"sqlite:///{tmp_path / f'fresh{i}.db'}"})
        anonymize(df, ["age"], strategy="noise", config=elsewhere)
    with pytest.raises(BudgetExhausted):
        anonymize(df, ["age"], strategy="noise", config=elsewhere)
    assert [(s.epsilon, s.releases) for s in ledger(current().config)] == [(8.0, 2)] * 2


def test_the_ledger_names_the_governors_user_not_the_one_a_config_claims(
        patients: Path, sandbox: Path, sandbox_config) -> None:  # type: ignore[no-untyped-def]
    """The release is spent from the governor's ledger, so it is recorded as its user's, as the
    audit trail records the call: before, ``config=`` with ``user.id: someone_else`` wrote that
    name into the ledger."""
    import sqlite3
    from contextlib import closing

    df = pd.read_csv(patients)
    claimed = sandbox_config(anonymize={"noise_sensitivity": 100, "epsilon": 4},
                             user={"id": "someone_else", "role": "data_analyst"})
    anonymize(df, ["age"], strategy="noise", config=claimed)
    anonymize(df[["visits"]].assign(age=df["age"] + 1), ["age"], strategy="noise")
    with closing(sqlite3.connect(sandbox / "audit.db")) as conn:
        rows = conn.execute("SELECT spent_by, epsilon FROM lacuna_privacy_budget").fetchall()
    assert current().config.user.id == "analyst_alice"
    assert sorted(set(rows)) == [("analyst_alice", 4.0)]
    assert len(rows) == 4  # two releases, each on its source column and its values


def test_the_same_numbers_out_of_their_lineage_or_from_a_copy_share_the_budget(
        patients: Path) -> None:
    """A source column's release also spends on its values: a copy of the file, or the ages
    taken out of their lineage (list()), started a budget of their own and were averaged."""
    import shutil

    df = pd.read_csv(patients)
    anonymize(df, ["age"], strategy="noise")
    copy = shutil.copy(patients, patients.with_name("copy.csv"))
    anonymize(pd.read_csv(copy), ["age"], strategy="noise")
    with pytest.raises(BudgetExhausted, match="the 30 values of column 'age'"):
        anonymize(pd.DataFrame({"age": list(df["age"])}), ["age"], strategy="noise")
    spent = {s.described: s.epsilon for s in ledger(current().config)}
    assert spent[f"column 'age' of {patients}"] == 4.0
    assert spent[f"column 'age' of {copy}"] == 4.0
    assert [e for d, e in spent.items() if d.startswith("the 30 values")] == [8.0]


def test_a_registered_datasets_builds_spend_from_its_source_columns_budget(
        sandbox: Path, sandbox_config) -> None:  # type: ignore[no-untyped-def]
    """A dataset built with a noise transform spends on its source's column, as a read of the
    file does: its build had no column lineage, so each edit of the source (new values) was
    a fresh budget, and the built copy was read again and again for free."""
    from lacuna import datasets

    path = sandbox / "patients.csv"
    path.write_text("patient,age\n" + "".join(f"P{i:03d},{a}\n" for i, a in enumerate(AGES)))
    lacuna.enable(sandbox_config(anonymize={"noise_sensitivity": 100, "epsilon": 4},
                                 stewards={"default": ["steward@example.com"]}))
    try:
        transform = {"age": "noise", "patient": "drop"}
        datasets.register("ages", path, transform, approved_by="steward@example.com")
        built = [datasets.get("ages")["age"].tolist() for _ in range(3)]  # one build, read
        assert built[0] == built[1] == built[2] != [float(a) for a in AGES]
        spent = {s.described: s.epsilon for s in ledger(current().config)}
        assert spent[f"column 'age' of {path}"] == 4.0
        path.write_text("patient,age\n" + "".join(f"P{i:03d},{a + 1}\n"
                                                 for i, a in enumerate(AGES)))
        assert len(datasets.get("ages")) == len(AGES)  # rebuilt: 8 of 10
        path.write_text("patient,age\n" + "".join(f"P{i:03d},{a + 2}\n"
                                                 for i, a in enumerate(AGES)))
        with pytest.raises(BudgetExhausted, match=f"column 'age' of {path}"):
            datasets.get("ages")
        assert {s.described: s.epsilon for s in ledger(current().config)}[
            f"column 'age' of {path}"] == 8.0
    finally:
        lacuna.disable()
