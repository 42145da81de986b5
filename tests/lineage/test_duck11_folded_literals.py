"""A value the SQL text spells across several literals is classified as the folded value.

Before, ``'kira.ng' || '@' || 'example.org' AS x`` was PUBLIC: each literal was checked alone
by the strong recognizers (:mod:`lacuna.lineage.sql_values`) and none is an e-mail, although
the column holds one. A single constant is still classified by strong recognizers only, and
the output column's name alone still does not classify a constant."""

from __future__ import annotations

import pytest

from lacuna.lineage.sql import classify_sql

SPELLED = [
    "'kira.ng' || '@' || 'example.org'",
    "concat('kira.ng', '@', 'example.org')",
    "concat_ws('@', 'kira.ng', 'example.org')",
    "printf('%s@%s', 'kira.ng', 'example.org')",
    "format('{}@{}', 'kira.ng', 'example.org')",
    "lower('KIRA.NG' || '@EXAMPLE.ORG')",
    "upper('kira.ng') || '@' || 'example.org'",
    "reverse('gro.elpmaxe' || '@gn.arik')",
    "replace('kira.ng#example.org', '#', '@')",
    "trim('  kira.ng' || '@example.org  ')",
    "CAST('kira.ng' AS VARCHAR) || ('@' || 'example.org')",
]


def _column(sql: str, name: str = "x") -> str:
    out = classify_sql(sql, schema={"t": {"a": "public"}}, dialect="duckdb")
    return out.classification.columns[name].classification.value


@pytest.mark.parametrize("expr", SPELLED)
def test_a_value_spelled_across_literals_is_classified_folded(expr: str) -> None:
    assert _column(f"SELECT {expr} AS x") == "pii"
    assert _column(f"SELECT a, {expr} AS x FROM t") == "pii"


def test_a_run_of_literals_next_to_a_column_is_folded() -> None:
    assert _column("SELECT a || 'kira.ng' || '@' || 'example.org' AS x FROM t") == "pii"


@pytest.mark.parametrize("expr", [
    "'item-' || 1", "'Denver' || ''", "concat('order ', 'shipped')", "upper('redacted')",
    "printf('%s-%s', 'a', 'b')", "replace('a#b', '#', '-')", "'kira.ng' || a || 'example.org'",
])
def test_folded_values_that_are_no_data_stay_public(expr: str) -> None:
    assert _column(f"SELECT {expr} AS x FROM t") == "public"


def test_the_name_alone_does_not_classify_a_folded_constant() -> None:
    assert _column("SELECT 'red' || 'acted' AS email", "email") == "public"
