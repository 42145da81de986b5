"""Reads, exports and switching governance on and off."""

from __future__ import annotations

import pandas as pd
import pytest

import lacuna
from lacuna.errors import GovernanceViolation
from lacuna.lineage.sidecar import sidecar_path
from lacuna.model import Tier


def test_denied_export_raises_and_writes_nothing(governed):
    customers = pd.read_csv("customers.csv")
    target = governed / "Downloads" / "customers.csv"
    with pytest.raises(GovernanceViolation) as err:
        customers.to_csv(target)
    assert not target.exists()
    assert not sidecar_path(governed / "Downloads" / "customers.csv").exists()
    decision = err.value.decision
    assert decision.allowed is False
    assert decision.policy_id == "P-2024-001"
    assert decision.operation.variable == "customers"
    path, line = decision.operation.code_location.rsplit(":", 1)
    assert path == __file__
    assert int(line) > 0
    assert isinstance(err.value, PermissionError)


@pytest.mark.parametrize("method", ["to_parquet", "to_json", "to_excel", "to_pickle", "to_feather"])
def test_every_writer_is_governed(governed, method):
    customers = pd.read_csv("customers.csv")
    target = governed / "Downloads" / f"out.{method}"
    with pytest.raises(GovernanceViolation):
        getattr(customers, method)(target)
    assert not target.exists()


def test_seed_alternative_anonymize_then_export_is_allowed(governed):
    customers = pd.read_csv("customers.csv")
    with pytest.raises(GovernanceViolation) as err:
        customers.to_csv(governed / "Downloads" / "customers.csv")
    for alternative in err.value.decision.alternatives[:2]:
        namespace = {"pd": pd, "lacuna": lacuna, "customers": customers}
        exec(alternative.code, namespace)
    written = sorted(p.name for p in governed.rglob("*.csv") if p.parent != governed)
    assert len(written) == 2


def test_allowed_export_writes_a_sidecar_and_reading_back_restores_it(governed):
    customers = pd.read_csv("customers.csv")
    target = governed / "governed" / "workspace" / "c.csv"
    customers[["customer_id", "email", "region"]].to_csv(target, index=False)
    sidecar = sidecar_path(target)
    assert sidecar.exists()
    back = pd.read_csv(target)
    assert back.lacuna_classification.tier is Tier.PROPRIETARY
    assert back.lacuna.columns["email"].layer.value == "declared"
    assert back.lacuna.lineage.sources == ("customers.csv",)


def test_a_hand_written_sidecar_cannot_declassify(governed, caplog):
    import json

    path = governed / "codes.csv"
    path.write_text("code,contact\nA,someone@example.com\nB,other@example.org\n")
    path.with_name("codes.csv.lacuna.json").write_text(
        json.dumps(
            {
                "classification": {
                    "tier": "PUBLIC",
                    "columns": {"contact": {"classification": "public"},
                                "code": {"classification": "public"}},
                }
            }
        )
    )
    df = pd.read_csv(path)
    c = df.lacuna_classification
    assert c.columns["contact"].classification.value == "pii"
    assert c.tier > Tier.PUBLIC
    assert "is not trusted: it is not signed by Lacuna" in c.reasoning[0]
    assert any("column 'contact' is declared public" in r and "values show pii/email" in r
               for r in c.reasoning)
    assert "column 'contact' is declared public" in caplog.text
    with pytest.raises(GovernanceViolation):
        df.to_csv(governed / "Downloads" / "codes.csv")


def test_a_lacuna_sidecar_round_trips_and_a_forged_one_cannot_declassify(governed):
    import json

    customers = pd.read_csv("customers.csv")
    target = governed / "governed" / "workspace" / "c.csv"
    customers[["customer_id", "email"]].to_csv(target, index=False)
    assert pd.read_csv(target).lacuna.columns["email"].layer.value == "declared"
    sidecar = sidecar_path(target)
    body = json.loads(sidecar.read_text())
    body["classification"]["columns"]["email"]["classification"] = "public"
    body["classification"]["tier"] = body["classification"]["floor"] = "PUBLIC"
    sidecar.write_text(json.dumps(body))
    back = pd.read_csv(target)
    assert back.lacuna.columns["email"].classification.value == "pii"
    assert "signature does not verify" in back.lacuna_classification.reasoning[0]


def test_a_stale_sidecar_cannot_declassify(governed):
    frame = pd.DataFrame({"note": ["a", "b", "c"]})
    target = governed / "governed" / "workspace" / "n.csv"
    frame.to_csv(target, index=False)
    assert pd.read_csv(target).lacuna_classification.tier is Tier.PUBLIC
    target.write_text("note\nalice@example.com\nbob@example.org\n")  # replaced outside Lacuna
    back = pd.read_csv(target)
    assert back.lacuna.columns["note"].classification.value == "pii"
    assert "changed since the declaration was signed" in back.lacuna_classification.reasoning[0]


def test_a_hostile_sidecar_fails_closed_quickly(governed):
    import os
    import time

    path = governed / "codes.csv"
    path.write_text("code\nA\n")
    os.mkfifo(path.with_name("codes.csv.lacuna.json"))
    start = time.perf_counter()
    df = pd.read_csv(path)
    assert time.perf_counter() - start < 2.0
    assert df.lacuna_classification.tier is Tier.PROPRIETARY
    assert "not a regular file" in df.lacuna_classification.reasoning[0]


def test_corrupt_sidecar_fails_closed(governed):
    path = governed / "codes.csv"
    path.write_text("code\nA\n")
    path.with_name("codes.csv.lacuna.json").write_text("{not json")
    df = pd.read_csv(path)
    assert df.lacuna_classification.tier is Tier.PROPRIETARY
    assert "codes.csv.lacuna.json:1:2" in df.lacuna_classification.reasoning[0]


def test_to_csv_to_a_string_or_buffer_is_not_an_export(governed):
    import io

    customers = pd.read_csv("customers.csv")
    assert customers.head(1).to_csv().startswith(",customer_id")
    buffer = io.StringIO()
    customers.head(1).to_csv(buffer)
    assert buffer.getvalue()


def test_open_file_objects_are_governed_by_their_name(governed):
    customers = pd.read_csv("customers.csv")
    target = governed / "Downloads" / "via-handle.csv"
    with pytest.raises(GovernanceViolation), open(target, "w") as fh:
        customers.to_csv(fh)
    assert target.read_text() == ""


def test_unreadable_input_file_names_the_file(governed):
    with pytest.raises(FileNotFoundError, match=r"missing\.csv"):
        pd.read_csv("missing.csv")


def test_reads_and_exports_are_audited(governed):
    customers = pd.read_csv("customers.csv")
    with pytest.raises(GovernanceViolation):
        customers.to_csv(governed / "Downloads" / "x.csv")
    from lacuna.governor import current

    records = current().audit.list(limit=10)
    # first on the trail, the sandbox's configuration (lacuna.audit.configuration)
    assert [r.action for r in records] == ["export", "read", "configure"]
    assert [r.allowed for r in records] == [False, True, True]
    assert current().audit.verify().ok


def test_warn_mode_runs_the_operation_and_warns(sandbox, sandbox_config):
    lacuna.enable(sandbox_config(mode="warn"))
    customers = pd.read_csv("customers.csv")
    target = sandbox / "Downloads" / "w.csv"
    with pytest.warns(lacuna.GovernanceWarning, match="P-2024-001"):
        customers.to_csv(target)
    assert target.exists()


def test_disable_restores_pandas_exactly():
    before = {name: vars(pd.DataFrame).get(name) for name in ("to_csv", "merge", "lacuna")}
    read_csv = pd.read_csv
    from pandas.core.groupby.generic import SeriesGroupBy

    had_sum = "sum" in vars(SeriesGroupBy)
    lacuna.enable()
    assert pd.read_csv is not read_csv
    assert hasattr(pd.DataFrame, "lacuna_classification")
    lacuna.disable()
    assert pd.read_csv is read_csv
    assert {name: vars(pd.DataFrame).get(name) for name in before} == before
    assert not hasattr(pd.DataFrame, "lacuna_classification")
    assert ("sum" in vars(SeriesGroupBy)) == had_sum


def test_governed_context_manager_restores_previous_state(sandbox, sandbox_config):
    assert not lacuna.enabled()
    with lacuna.governed(sandbox_config()):
        assert lacuna.enabled()
        df = pd.read_csv("customers.csv")
        assert df.lacuna_classification.tier is Tier.PROPRIETARY
    assert not lacuna.enabled()
    df.to_csv(sandbox / "Downloads" / "ungoverned.csv")  # plain pandas again


def test_to_sql_is_governed_with_the_database_as_destination(governed, sandbox_config):
    import sqlite3

    import sqlalchemy

    # the sandbox is in /tmp, unmanaged by default, where a database file is external: its
    # Downloads/ is the unmanaged place here
    outside = {"unmanaged": [str(governed / "Downloads")]}
    lacuna.enable(sandbox_config(destinations=outside))
    customers = pd.read_csv("customers.csv")
    sales = pd.read_csv("sales.csv")
    db = governed / "warehouse.db"
    engine = sqlalchemy.create_engine(f"sqlite:///{db}")
    with pytest.raises(GovernanceViolation) as err:
        customers.to_sql("customers", engine)
    assert err.value.decision.operation.destination.uri == f"sqlite:///{db}#customers"
    assert sqlalchemy.inspect(engine).get_table_names() == []
    sales.to_sql("sales", engine)  # INTERNAL data to an internal database
    with sqlite3.connect(db) as con:
        assert con.execute("select count(*) from sales").fetchone() == (240,)
        with pytest.raises(GovernanceViolation):
            customers.to_sql("customers", con)
    lacuna.enable(sandbox_config(
        destinations={**outside, "classification_aware_databases": [f"sqlite:///{db}"]}))
    customers.to_sql("customers", engine)  # a database that keeps classifications
    assert "customers" in sqlalchemy.inspect(engine).get_table_names()
    engine.dispose()


def test_a_hand_written_sidecar_with_only_a_tier_sets_the_floor(governed):
    import json

    path = governed / "plans.csv"
    path.write_text("quarter,target\nQ1,10\nQ2,12\n")
    path.with_name("plans.csv.lacuna.json").write_text(json.dumps({"classification": {
        "tier": "PROPRIETARY", "tags": ["STRATEGY"]}}))
    df = pd.read_csv(path)
    c = df.lacuna_classification
    assert (c.tier, c.floor) == (Tier.PROPRIETARY, Tier.PROPRIETARY)
    assert "STRATEGY" in c.tags
    assert "is not trusted" in c.reasoning[0]
    assert df[["quarter"]].lacuna_classification.tier is Tier.PROPRIETARY  # never below floor
