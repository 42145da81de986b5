"""``Classification.fail_closed``: the one constructor of "Lacuna could not tell, so the most
restrictive" (it was built by hand in ~20 places: the SQL and DuckDB statements, pyarrow streams,
polars literals and SQL, Spark RDD writes, unreadable sidecars, the lineage store down, the
proxy's uninspected bodies)."""

from __future__ import annotations

from lacuna.model import Classification, ColumnClass, ColumnKind, Tier


def test_nothing_found_is_proprietary_with_its_floor_and_says_why() -> None:
    c = Classification.fail_closed("the sidecar does not parse")
    assert (c.tier, c.floor) == (Tier.PROPRIETARY, Tier.PROPRIETARY)
    assert c.reasoning == ("PROPRIETARY (fail closed): the sidecar does not parse",)
    assert c.reasoning[0].startswith(Classification.FAIL_CLOSED)
    assert (c.tags, dict(c.columns), c.assumed) == ((), {}, None)


def test_what_was_found_is_raised_and_kept() -> None:
    found = Classification(
        tier=Tier.INTERNAL, tags=("pii",), table_tags=("gdpr",), reasoning=("email by name",),
        columns={"email": ColumnClass(classification=ColumnKind.PII, pii_type="email")})
    c = Classification.fail_closed("the lineage store is down", over=found)
    assert (c.tier, c.floor) == (Tier.PROPRIETARY, Tier.PROPRIETARY)
    assert c.reasoning == ("PROPRIETARY (fail closed): the lineage store is down",
                           "email by name")
    assert (c.tags, c.table_tags, c.columns) == (found.tags, found.table_tags, found.columns)
    assert found.tier is Tier.INTERNAL  # a new classification: the one given is unchanged
