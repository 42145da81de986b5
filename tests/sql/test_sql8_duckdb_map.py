"""``DuckDBPyRelation.map(f)``: ``f`` is a Python function Lacuna does not read, a
user-defined function (PROPRIETARY, as ``create_function``'s are). Lacuna sampled the mapped
relation to classify it, which ran ``f``: an ``f`` DuckDB itself refuses (a column whose type
it inferred from an empty frame) was reported as "Lacuna failed", and one that returns what
it is given under another name was classified by its output's values."""

from __future__ import annotations

import duckdb
import pandas as pd
import pytest

from lacuna import _bypass
from lacuna.errors import GovernanceViolation
from roundtrip import plaintext

ROWS = "SELECT * FROM (VALUES (1, 'x'), (2, NULL), (3, 'é')) t(a, b)"


def _upper(df: pd.DataFrame) -> pd.DataFrame:
    df["b"] = df["b"].str.upper()
    return df


def _added(df: pd.DataFrame) -> pd.DataFrame:  # DuckDB infers c as NULL from an empty frame
    df["c"] = df["b"] + "!"
    return df


def test_a_mapped_relation_is_decided_as_a_user_defined_function(governed):
    down = governed / "Downloads" / "m.csv"
    with pytest.raises(GovernanceViolation) as refused:
        duckdb.sql(ROWS).map(_upper).write_csv(str(down))
    assert "DuckDBPyRelation.map(f)" in str(refused.value)
    assert refused.value.decision.operation.classification.tier.value == "PROPRIETARY"
    assert not down.exists()
    duckdb.sql(ROWS).write_csv(str(down))  # the same rows, not mapped: allowed
    assert down.exists()
    # the allowed path: governed storage takes PROPRIETARY data; the same file as plain DuckDB
    plain = governed / "plain.csv"
    with _bypass.bypass():
        duckdb.sql(ROWS).map(_upper).write_csv(str(plain))
    inside = governed / "governed" / "workspace" / "m.csv"
    duckdb.sql(ROWS).map(_upper).write_csv(str(inside))
    assert plaintext(inside) == plaintext(plain)
    back = duckdb.read_csv(str(inside)).order("a").fetchall()
    assert back == [(1, "X"), (2, None), (3, "É")]


def test_an_f_duckdb_refuses_raises_duckdbs_error_not_lacunas(governed):
    with _bypass.bypass(), pytest.raises(duckdb.InvalidInputException) as plain:
        duckdb.sql(ROWS).map(_added).write_csv(str(governed / "plain.csv"))
    inside = governed / "governed" / "workspace" / "m.csv"
    with pytest.raises(duckdb.InvalidInputException) as governed_error:
        duckdb.sql(ROWS).map(_added).write_csv(str(inside))
    assert str(governed_error.value) == str(plain.value)
    assert not inside.exists()
    with pytest.raises(GovernanceViolation) as refused:  # decided before f runs
        duckdb.sql(ROWS).map(_added).write_csv(str(governed / "Downloads" / "m.csv"))
    assert "Lacuna failed" not in str(refused.value)
