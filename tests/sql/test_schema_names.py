"""The names ``classify_sql``'s schema normalises are remembered per dialect class and
normalisation strategy: sqlglot's dialects compare equal by class alone, so a case-sensitive
DuckDB must not reuse what the default one folded (``Email`` read as ``email``, and the other
way round)."""

from __future__ import annotations

import pytest
from sqlglot.dialects.dialect import Dialect

from lacuna.lineage.sql import classify_sql
from lacuna.lineage.sql_schema import build_schema

SENSITIVE = "duckdb, normalization_strategy=case_sensitive"


@pytest.mark.parametrize("first", ["duckdb", SENSITIVE])
def test_each_strategy_keeps_its_own_spelling_of_a_name(first: str) -> None:
    want = {"duckdb": {"Email": "email", "ID": "id"}, SENSITIVE: {"Email": "Email", "ID": "ID"}}
    for name in (first, *(d for d in want if d != first)):
        dialect = Dialect.get_or_raise(name)
        assert dialect == Dialect.get_or_raise("duckdb")  # why the strategy is in the key
        schema = build_schema({"t": {"Email": "pii:email", "ID": "identifier"}}, dialect, "x")
        assert sorted(schema.tables["t"].columns or {}) == sorted(want[name].values())
        assert [schema.norm(n) for n in want[name]] == list(want[name].values())


def test_a_case_sensitive_dialect_traces_the_quoted_spelling_only() -> None:
    # the default folds `Email` and `email` into one column; case-sensitive keeps them apart
    schema = {"t": {"Email": "pii:email", "email": "public"}}
    folded = classify_sql("select email from t", schema=schema, dialect="duckdb")
    assert [c.classification.value for c in folded.classification.columns.values()] == ["pii"]
    kept = classify_sql('select "Email" as a, email as b from t', schema=schema,
                        dialect=SENSITIVE)
    cols = kept.classification.columns
    assert (cols["a"].classification.value, cols["b"].classification.value) == ("pii", "public")
