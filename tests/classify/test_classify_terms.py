import pandas as pd
import pytest

from lacuna.classify import classify, classify_columns, classify_frame, classify_path
from lacuna.config import ClassificationConfig
from lacuna.model import ColumnKind, Tier

CONFIG = ClassificationConfig(sensitive_terms=[
    "Project Falcon",
    {"term": "Globex", "tier": "INTERNAL", "tags": ["KEY_CUSTOMER"]},
])


def test_term_in_a_column_name_sets_the_floor_and_tags():
    c = classify(["falcon_forecast", "project_falcon_revenue", "region"], config=CONFIG)
    assert c.tier is Tier.PROPRIETARY
    assert c.floor is Tier.PROPRIETARY
    assert "SENSITIVE_TERM" in c.tags
    assert "SENSITIVE_TERM" in c.table_tags
    col = c.columns["project_falcon_revenue"]
    assert col.classification is ColumnKind.FINANCIAL  # the class itself is unchanged
    assert col.evidence[-1].source == "term"
    assert col.evidence[-1].detail == "sensitive term 'Project Falcon' appears in the column name"
    assert c.columns["falcon_forecast"].evidence == ()  # one token of two is not the term
    assert any("'project_falcon_revenue'" in r for r in c.reasoning)


def test_term_written_together_or_in_camel_case_is_found():
    assert classify(["ProjectFalconPlan"], config=CONFIG).tier is Tier.PROPRIETARY
    assert classify(["projectfalcon"], config=CONFIG).tier is Tier.PROPRIETARY
    assert classify(["projectfalconry"], config=CONFIG).tier is Tier.PUBLIC


def test_term_in_sampled_values_is_counted_never_quoted():
    df = pd.DataFrame({"memo": ["kickoff for PROJECT-FALCON next week", "lunch"] * 10,
                       "account": ["Globex Corp", "Initech"] * 10})
    c = classify_frame(df, config=CONFIG)
    assert c.tier is Tier.PROPRIETARY
    assert set(c.tags) == {"SENSITIVE_TERM", "KEY_CUSTOMER"}
    details = [e.detail for e in c.columns["memo"].evidence]
    assert details == ["sensitive term 'Project Falcon' appears in 10 of 20 sampled values"]
    assert "kickoff" not in repr(c)
    assert "Initech" not in repr(c)


def test_term_in_the_path():
    c = classify_frame(pd.DataFrame({"x": [1]}), path="/share/globex/q3.csv", config=CONFIG)
    assert (c.tier, c.tags) == (Tier.INTERNAL, ("KEY_CUSTOMER",))
    assert c.reasoning[0] == "INTERNAL floor: sensitive term 'Globex' appears in the path"


def test_terms_are_whole_tokens_not_substrings():
    df = pd.DataFrame({"memo": ["globexian times", "falconry project"]})
    assert classify_frame(df, config=CONFIG).tier is Tier.PUBLIC


def test_without_terms_configured_nothing_is_marked():
    cols = classify_columns(["project_falcon"], None, ClassificationConfig())
    assert cols["project_falcon"].evidence == ()


def test_classify_path_includes_terms_in_the_path():
    floor, tags, reasons = classify_path("/share/project-falcon/plan.csv", CONFIG)
    assert (floor, tags) == (Tier.PROPRIETARY, ("SENSITIVE_TERM",))
    assert reasons == ("PROPRIETARY floor: sensitive term 'Project Falcon' appears in the path",)


def test_mapping_keys_need_not_be_strings():
    assert classify({1: ["ada@example.org"] * 3}).columns["1"].pii_type == "email"


@pytest.mark.parametrize(("value", "found"), [
    ("Falcon2024 roadmap", True), ("2024falcon", True), ("see ProjectFalcon deck", True),
    ("FalconForecast.xlsx", True), ("q3-FALCON", True), ("FALCON_Q3", True),
    ("F\u200balcon", True), ("Ｆａｌｃｏｎ", True),
    ("falconry club", False), ("Falconry", False), ("unfalcon", False), ("theFalconry", False),
])
def test_term_in_values_is_found_where_a_name_would_find_it(value, found):
    config = ClassificationConfig(sensitive_terms=["Falcon"])
    c = classify_frame(pd.DataFrame({"memo": [value, "lunch"] * 5}), config=config,
                       cascade=False)
    assert (c.tier is Tier.PROPRIETARY) is found
    named = classify([value.replace(" ", "_")], config=config)  # the same rule as a name
    assert (named.tier is Tier.PROPRIETARY) is found
