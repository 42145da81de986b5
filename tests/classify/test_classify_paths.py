import pytest

from lacuna.classify import classify_path
from lacuna.classify.paths import rule_matches
from lacuna.config import ClassificationConfig, PathRule
from lacuna.model import Tier


@pytest.mark.parametrize(
    ("path", "tier", "tags"),
    [
        ("/data/pii/x.csv", Tier.PROPRIETARY, ("PII",)),
        ("/data/PII/x.csv", Tier.PROPRIETARY, ("PII",)),
        ("s3://lake/raw/pii/2024/x.parquet", Tier.PROPRIETARY, ("PII",)),
        ("C:\\exports\\customers\\q4.xlsx", Tier.PROPRIETARY, ("CUSTOMER_DATA",)),
        ("/warehouse/customer/x.csv", Tier.PROPRIETARY, ("CUSTOMER_DATA",)),
        ("/clinic/patients/visits.csv", Tier.PROPRIETARY, ("PHI",)),
        ("/org/hr/people.csv", Tier.PROPRIETARY, ("HR",)),
        ("/org/payroll/2024.csv", Tier.PROPRIETARY, ("HR", "FINANCIAL")),
        ("/org/finance/ledger.csv", Tier.INTERNAL, ("FINANCIAL",)),
        ("pii/relative.csv", Tier.PROPRIETARY, ("PII",)),
        ("/data/pipeline/x.csv", Tier.PUBLIC, ()),  # segments, not substrings
        ("/data/pii_archive/x.csv", Tier.PUBLIC, ()),
        ("/data/customers.csv", Tier.PUBLIC, ()),  # a file name is not a folder
        ("/data/pii", Tier.PUBLIC, ()),  # a file named pii
        ("/data/shr/x.csv", Tier.PUBLIC, ()),
    ],
)
def test_builtin_path_rules_match_folder_segments(path, tier, tags):
    floor, found_tags, reasons = classify_path(path, ClassificationConfig())
    assert (floor, found_tags) == (tier, tags)
    assert bool(reasons) is (tier > Tier.PUBLIC)


def test_path_reasoning_names_the_rule():
    _, _, reasons = classify_path("/data/pii/x.csv")
    assert reasons == ("PROPRIETARY floor: path '/data/pii/x.csv' matches '/pii/' (built-in rule)",)


def test_several_rules_take_the_highest_tier_and_all_tags():
    floor, tags, reasons = classify_path("/finance/pii/x.csv")
    assert (floor, tags, len(reasons)) == (Tier.PROPRIETARY, ("PII", "FINANCIAL"), 2)


@pytest.mark.parametrize(
    ("pattern", "path", "matches"),
    [
        ("/secret-project/", "/a/secret-project/b.csv", True),
        ("/exports/*.csv", "/a/exports/b.csv", True),
        ("/exports/*.csv", "/a/exports/b.parquet", False),
        ("/exports/*.csv", "/a/exports/deep/b.csv", False),
        ("/exports/**/*.csv", "/a/exports/deep/er/b.csv", True),
        ("*.secret.csv", "/a/b/plan.secret.csv", True),
        ("/team-?/", "/x/team-a/y.csv", True),
        ("/raw/pii/", "/lake/raw/pii/x.csv", True),
        ("/raw/pii/", "/lake/raw/x/pii/x.csv", False),
        ("/", "/anything.csv", False),
    ],
)
def test_rule_patterns_are_segment_globs(pattern, path, matches):
    assert rule_matches(pattern, path) is matches


def test_config_path_rules_add_to_the_builtins():
    config = ClassificationConfig(path_rules=[
        {"pattern": "/deals/", "tier": "PROPRIETARY", "tags": ["M_AND_A"]},
        PathRule(pattern="/team-metrics/", tier=Tier.INTERNAL),
    ])
    assert classify_path("/x/deals/falcon.csv", config)[:2] == (Tier.PROPRIETARY, ("M_AND_A",))
    floor, tags, reasons = classify_path("/x/team-metrics/a.csv", config)
    assert (floor, tags) == (Tier.INTERNAL, ())
    assert "classification.path_rules" in reasons[0]
    assert classify_path("/x/deals/falcon.csv")[0] is Tier.PUBLIC  # without the config
