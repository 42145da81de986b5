from __future__ import annotations

import pytest

from lacuna.config import ClassificationConfig
from lacuna.lineage import rules
from lacuna.model import (
    Classification,
    ColumnClass,
    ColumnKind,
    Layer,
    Sensitivity,
    Tier,
)

CONFIG = ClassificationConfig()
EMAIL = ColumnClass(
    classification=ColumnKind.PII, pii_type="email", sensitivity=Sensitivity.HIGH, evidence=()
)
PHONE = ColumnClass(classification=ColumnKind.PII, pii_type="phone", sensitivity=Sensitivity.HIGH)
ID = ColumnClass(classification=ColumnKind.IDENTIFIER, sensitivity=Sensitivity.LOW)
REVENUE = ColumnClass(classification=ColumnKind.FINANCIAL, sensitivity=Sensitivity.MEDIUM)
REGION = ColumnClass(classification=ColumnKind.PUBLIC)


def table(floor: Tier = Tier.PUBLIC, table_tags: tuple[str, ...] = (), **columns: ColumnClass):
    from lacuna.classify.rollup import rollup

    return rollup(columns, CONFIG, floor=floor, extra_tags=table_tags)


CUSTOMERS = table(customer_id=ID, email=EMAIL, phone=PHONE, region=REGION)
SALES = table(customer_id=ID, revenue=REVENUE)


def test_rollup_customers_and_sales_match_the_seed():
    assert (CUSTOMERS.tier, CUSTOMERS.tags) == (Tier.PROPRIETARY, ("PII", "GDPR"))
    assert (SALES.tier, SALES.tags) == (Tier.INTERNAL, ("FINANCIAL",))


def test_combine_takes_max_tier_and_union_of_tags_in_order():
    joined = rules.combine([CUSTOMERS, SALES], CONFIG, names=["customers.csv", "sales.csv"])
    assert joined.tier is Tier.PROPRIETARY
    assert joined.tags == ("PII", "GDPR", "FINANCIAL")
    assert set(joined.columns) == {"customer_id", "email", "phone", "region", "revenue"}
    assert joined.layer is Layer.INHERITED
    assert "customers.csv (PROPRIETARY)" in joined.reasoning[0]


def test_combine_of_nothing_is_public():
    assert rules.combine([], CONFIG).tier is Tier.PUBLIC


def test_combine_keeps_the_stricter_class_of_a_shared_column_name():
    a = table(contact=REGION)
    b = table(contact=EMAIL)
    assert rules.combine([a, b], CONFIG).columns["contact"] == EMAIL


def test_project_recomputes_from_kept_columns():
    projected = rules.project(CUSTOMERS, ["customer_id", "region"], CONFIG)
    assert projected.tier is Tier.PUBLIC
    assert projected.tags == ()
    assert set(projected.columns) == {"customer_id", "region"}


def test_project_never_goes_below_the_floor_and_keeps_table_tags():
    c = table(floor=Tier.PROPRIETARY, table_tags=("CUSTOMER_DATA",), email=EMAIL, region=REGION)
    projected = rules.project(c, ["region"], CONFIG)
    assert projected.tier is Tier.PROPRIETARY
    assert projected.tags == ("CUSTOMER_DATA",)


def test_project_with_an_unknown_column_inherits_everything():
    assert rules.project(CUSTOMERS, ["region", "renamed"], CONFIG) is CUSTOMERS


def test_derive_new_pii_column_raises_the_tier():
    derived = rules.derive(SALES, ["customer_id", "revenue", "email"], {"email": EMAIL}, CONFIG)
    assert derived.tier is Tier.PROPRIETARY
    assert derived.tags == ("FINANCIAL", "PII", "GDPR")


def test_derive_rename_keeps_the_parent_tier_as_floor():
    # email renamed to "contact": the new column looks harmless by name, but the parent's
    # PROPRIETARY tier stays because a parent column vanished at the same time.
    derived = rules.derive(
        CUSTOMERS, ["customer_id", "contact", "phone", "region"], {"contact": REGION}, CONFIG
    )
    assert derived.tier is Tier.PROPRIETARY
    assert "PII" in derived.tags


def test_derive_without_changes_projects():
    assert rules.derive(CUSTOMERS, ["region"], {}, CONFIG).tier is Tier.PUBLIC


def test_aggregate_downgrades_when_no_pii_survives_and_groups_are_large():
    joined = rules.combine([CUSTOMERS, SALES], CONFIG)
    summary = rules.aggregate(
        joined, keys=["region"], outputs={"revenue": "revenue"}, min_group_size=15, config=CONFIG
    )
    assert summary.tier is Tier.INTERNAL
    assert summary.tags == ("FINANCIAL", "DERIVED_FROM_PII")
    assert set(summary.columns) == {"region", "revenue"}
    assert "k=5" in summary.reasoning[0]


def test_aggregate_keeps_proprietary_when_a_group_is_smaller_than_k():
    joined = rules.combine([CUSTOMERS, SALES], CONFIG)
    summary = rules.aggregate(
        joined, keys=["region"], outputs={"revenue": "revenue"}, min_group_size=2, config=CONFIG
    )
    assert summary.tier is Tier.PROPRIETARY
    assert "PII" in summary.tags
    assert "fewer than k=5" in summary.reasoning[0]


@pytest.mark.parametrize(
    ("keys", "outputs", "blocker"),
    [
        (["email"], {"revenue": "revenue"}, "group key 'email' is personal data"),
        (["region"], {"phone": "phone"}, "output 'phone' carries personal column 'phone'"),
        (["region"], {"x": None}, "output 'x' cannot be traced"),
    ],
)
def test_aggregate_keeps_proprietary_when_pii_survives(keys, outputs, blocker):
    joined = rules.combine([CUSTOMERS, SALES], CONFIG)
    summary = rules.aggregate(joined, keys=keys, outputs=outputs, min_group_size=50, config=CONFIG)
    assert summary.tier is Tier.PROPRIETARY
    assert blocker in summary.reasoning[0]


def test_aggregate_counting_a_pii_column_is_not_pii():
    summary = rules.aggregate(
        CUSTOMERS, keys=["region"], outputs={"email": "*"}, min_group_size=10, config=CONFIG
    )
    assert summary.tier is Tier.INTERNAL
    assert summary.tags == ("DERIVED_FROM_PII",)


def test_aggregate_of_non_personal_data_inherits():
    summary = rules.aggregate(
        SALES, keys=["customer_id"], outputs={"revenue": "revenue"}, min_group_size=1, config=CONFIG
    )
    assert (summary.tier, summary.tags) == (Tier.INTERNAL, ("FINANCIAL",))


def test_aggregate_respects_a_configured_k():
    config = ClassificationConfig(k_anonymity=20)
    summary = rules.aggregate(
        CUSTOMERS, keys=["region"], outputs={"n": "*"}, min_group_size=15, config=config
    )
    assert summary.tier is Tier.PROPRIETARY


def test_aggregate_keeps_a_sensitive_term_floor():
    c = table(floor=Tier.PROPRIETARY, table_tags=("SENSITIVE_TERM",), email=EMAIL, region=REGION)
    summary = rules.aggregate(
        c, keys=["region"], outputs={"n": "*"}, min_group_size=10, config=CONFIG
    )
    assert summary.tier is Tier.PROPRIETARY
    assert summary.tags == ("SENSITIVE_TERM", "DERIVED_FROM_PII")


def test_classification_is_immutable_and_picklable():
    import copy
    import pickle

    assert pickle.loads(pickle.dumps(CUSTOMERS)) == CUSTOMERS
    assert copy.deepcopy(CUSTOMERS) is CUSTOMERS
    with pytest.raises(TypeError, match="immutable"):
        CUSTOMERS.columns["x"] = REGION  # type: ignore[index]
    assert str(CUSTOMERS) == "PROPRIETARY"
    assert Classification.from_dict(CUSTOMERS.to_dict()).tier is Tier.PROPRIETARY


def test_pieces_of_one_column_held_together_carry_its_class():
    """Two inputs, each with one generalised piece of ``customers.zip``: joined, concatenated
    or rolled up together they hold the value; the same piece twice is one piece."""
    from lacuna.classify.rollup import rollup
    from lacuna.model import ColumnClass, ColumnKind, Piece, Tier

    config, combine = CONFIG, rules.combine

    def piece(sql: str) -> ColumnClass:
        return ColumnClass(reasoning="masked", pieces=(Piece(
            table="sqlite/w.db#customers", column="zip", sql=sql, pii_type="zip"),))

    left, right = piece("LEFT(zip, 3)"), piece("RIGHT(zip, 3)")
    a = rollup({"p": left}, config)
    assert a.tier is Tier.PUBLIC
    for joined in (combine([a, rollup({"s": right}, config)], config),
                   combine([a, rollup({"p": right}, config)], config),  # one label, two pieces
                   rollup({"p": left, "s": right}, config)):
        assert joined.tier is Tier.PROPRIETARY
        assert {c.classification for c in joined.columns.values()} == {ColumnKind.PII}
        assert all(c.pii_type == "zip" for c in joined.columns.values())
    same = combine([a, rollup({"q": piece("LEFT(zip, 3)")}, config)], config)
    assert same.tier is Tier.PUBLIC
    assert not same.personal_columns
