"""Each inheritance rule, through real pandas calls."""

from __future__ import annotations

import pandas as pd
import pytest

import lacuna
from lacuna.model import Tier


@pytest.fixture
def customers(governed):
    return pd.read_csv("customers.csv")


@pytest.fixture
def sales(governed):
    return pd.read_csv("sales.csv")


def test_read_classifies_from_columns_and_values(customers, sales):
    c = customers.lacuna.classification
    assert c.tier is Tier.PROPRIETARY
    assert c.tags[:2] == ("PII", "GDPR")
    assert c.columns["email"].pii_type == "email"
    assert c.columns["phone"].pii_type == "phone"
    assert sales.lacuna_classification.tier is Tier.INTERNAL
    assert "FINANCIAL" in sales.lacuna_tags


def test_seed_classification_inheritance_example(customers, sales):
    analysis = customers.merge(sales, on="customer_id")
    assert str(analysis.lacuna_classification) == "PROPRIETARY"
    assert analysis.lacuna_tags == ["PII", "GDPR", "FINANCIAL"]
    assert str(analysis.lacuna_lineage) == "customers.csv → analysis\nsales.csv → analysis"
    summary = analysis.groupby("region")["revenue"].sum()
    assert str(summary.lacuna_classification) == "INTERNAL"
    assert summary.lacuna_tags == ["FINANCIAL", "DERIVED_FROM_PII"]
    assert summary.lacuna.lineage.sources == ("customers.csv", "sales.csv")


def test_k_anonymity_keeps_small_group_aggregates_proprietary(customers, sales):
    analysis = customers.merge(sales, on="customer_id")
    per_customer_city = analysis.groupby("address")["revenue"].sum()  # address is PII: blocked
    assert per_customer_city.lacuna_classification.tier is Tier.PROPRIETARY
    small = analysis.head(12).groupby("region")["revenue"].sum()  # groups of 2-4 rows < k=5
    assert small.lacuna_classification.tier is Tier.PROPRIETARY
    assert "fewer than k=5" in small.lacuna_classification.reasoning[0]


def test_k_is_configurable(sandbox_config, customers):
    lacuna.enable(sandbox_config(classification={"k_anonymity": 100}))
    summary = customers.groupby("region")["customer_id"].count()
    assert summary.lacuna_classification.tier is Tier.PROPRIETARY


@pytest.mark.parametrize(
    "op",
    [
        lambda df: df[df["region"] == "EMEA"],
        lambda df: df.query("region == 'EMEA'"),
        lambda df: df.head(3),
        lambda df: df.sample(5, random_state=1),
        lambda df: df.loc[df["region"] != "APAC"],
        lambda df: df.sort_values("region"),
        lambda df: df.drop_duplicates(),
        lambda df: df.reset_index(drop=True),
    ],
    ids=["mask", "query", "head", "sample", "loc", "sort", "dedupe", "reset_index"],
)
def test_row_filters_and_sorts_inherit(customers, op):
    assert op(customers).lacuna.classification == customers.lacuna.classification


def test_projection_recomputes_from_kept_columns(customers):
    public = customers[["region", "signup_date"]]
    assert public.lacuna_classification.tier < Tier.PROPRIETARY
    assert "PII" not in public.lacuna_tags
    assert customers["email"].lacuna_classification.tier is Tier.PROPRIETARY
    assert customers.loc[:, ["customer_id", "region"]].lacuna_classification.tier is Tier.PUBLIC


def test_projection_never_below_a_path_floor(governed):
    pii_dir = governed / "pii"
    pii_dir.mkdir()
    pd.DataFrame({"region": ["EMEA"] * 6, "n": range(6)}).to_csv(
        governed / "governed" / "workspace" / "x.csv", index=False
    )
    (pii_dir / "regions.csv").write_text("region,n\nEMEA,1\nAMER,2\n")
    df = pd.read_csv(pii_dir / "regions.csv")
    assert df.lacuna_classification.tier is Tier.PROPRIETARY
    assert df[["region"]].lacuna_classification.tier is Tier.PROPRIETARY


def test_new_pii_column_on_a_classified_frame_is_noticed(sales):
    sales = sales.copy()
    sales["contact"] = "someone@example.com"
    assert sales.lacuna_classification.tier is Tier.PROPRIETARY


def test_renamed_pii_column_keeps_the_parent_tier(customers):
    renamed = customers.rename(columns={"email": "e", "phone": "p", "name": "n"})
    assert renamed[["e", "region"]].lacuna_classification.tier is Tier.PROPRIETARY


def test_computed_column_from_pii_inherits(customers):
    df = customers.assign(domain=customers["email"].str.split("@").str[1])
    assert df[["domain"]].lacuna_classification.tier is Tier.PROPRIETARY


def test_concat_takes_the_max_and_union(customers, sales):
    both = pd.concat([sales, customers])
    assert both.lacuna_classification.tier is Tier.PROPRIETARY
    assert set(both.lacuna_tags) >= {"PII", "GDPR", "FINANCIAL"}
    gen = pd.concat(x for x in [sales, sales])  # a generator is consumed once
    assert gen.lacuna_classification.tier is Tier.INTERNAL


def test_join_takes_the_max(customers, sales):
    joined = sales.set_index("customer_id").join(customers.set_index("customer_id"))
    assert joined.lacuna_classification.tier is Tier.PROPRIETARY


def test_merge_suffixes_map_back_to_source_columns(customers):
    left = customers[["customer_id", "email"]]
    right = customers[["customer_id", "email", "region"]]
    merged = left.merge(right, on="customer_id")
    assert merged.lacuna.columns["email_x"].pii_type == "email"
    assert merged[["email_y"]].lacuna_classification.tier is Tier.PROPRIETARY


@pytest.mark.parametrize(
    ("agg", "expected"),
    [
        (lambda g: g["revenue"].mean(), Tier.INTERNAL),
        (lambda g: g.agg(total=("revenue", "sum"), orders=("order_id", "count")), Tier.INTERNAL),
        (lambda g: g["email"].nunique(), Tier.INTERNAL),
        (lambda g: g["email"].first(), Tier.PROPRIETARY),
        (lambda g: g.agg({"revenue": "sum", "phone": "max"}), Tier.PROPRIETARY),
        (lambda g: g.size(), Tier.INTERNAL),
        (lambda g: g["revenue"].agg(["sum", "mean"]), Tier.INTERNAL),
    ],
    ids=[
        "mean",
        "named-agg",
        "nunique-of-pii",
        "first-of-pii",
        "dict-with-pii",
        "size",
        "list-agg",
    ],
)
def test_groupby_aggregations(customers, sales, agg, expected):
    analysis = customers.merge(sales, on="customer_id")
    assert agg(analysis.groupby("region")).lacuna_classification.tier is expected


def test_unclassified_in_memory_frames_are_classified_when_needed(governed):
    df = pd.DataFrame({"ssn": ["123-45-6789"] * 3, "x": [1, 2, 3]})
    assert df.lacuna_classification.tier is Tier.PROPRIETARY
    assert df.lacuna.lineage.sources == ("<in-memory>",)


def test_explain_lists_every_column(customers):
    text = customers.lacuna.explain()
    assert text.startswith("PROPRIETARY")
    for column in customers.columns:
        assert f"- {column}:" in text


def test_anonymizing_a_projection_judges_only_the_kept_columns(customers):
    # Regression: anonymize used the stored (parent) state, so dropped PII columns such as
    # name and phone still counted and the result stayed PROPRIETARY.
    anon = lacuna.anonymize(customers[["email", "region"]], columns=["email"])
    c = anon.lacuna_classification
    assert c.tier is Tier.PUBLIC
    assert set(c.columns) == {"email", "region"}
    assert "ANONYMIZED" in c.tags
    assert anon.lacuna.lineage.sources == ("customers.csv",)
