"""Both rules for classifications Lacuna does not trust only ever raise, on any input.

``sidecar.restrict`` (an unsigned sidecar or embedded declaration, an ingested lineage record
restored by content, a table's comments, a table's stored class under an append) and
``claims.at_least`` (an OpenLineage claim held to what the store knows) are checked here as
properties over random classifications: column sets, tiers, floors, column-implied and
table-level tags, and classifications whose tier is above what their columns and floor roll
up to (an inherited one: :func:`lacuna.lineage.rules.combine` keeps the most restrictive
parent's tier whatever columns survive). The result is never below the classification it
protects, in tier, floor, tags or any of its columns.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from lacuna.classify.rollup import column_tier, rollup
from lacuna.config import ClassificationConfig
from lacuna.lineage.claims import at_least
from lacuna.lineage.sidecar import restrict
from lacuna.model import Classification, ColumnClass, ColumnKind, Sensitivity, Tier

CONFIG = ClassificationConfig()

columns_ = st.dictionaries(
    st.sampled_from(["email", "phone", "region", "revenue", "id", "note"]),
    st.builds(ColumnClass, classification=st.sampled_from(list(ColumnKind)),
              sensitivity=st.sampled_from(list(Sensitivity))),
    max_size=4)
tiers = st.sampled_from(list(Tier))
tag_lists = st.lists(st.sampled_from(["GDPR", "PCI", "HIPAA", "FINANCE", "EU"]), max_size=3)


@st.composite
def classifications(draw: st.DrawFn) -> Classification:
    """A rolled-up classification, sometimes raised above its roll-up as inheritance does."""
    built = rollup(draw(columns_), CONFIG, floor=draw(tiers), extra_tags=draw(tag_lists))
    if draw(st.booleans()):  # inherited: a parent's tier and tags beyond its own columns
        return Classification(tier=max(built.tier, draw(tiers)),
                              tags=(*built.tags, *draw(tag_lists)), columns=built.columns,
                              floor=built.floor, table_tags=built.table_tags)
    return built


def _column_rank(column: ColumnClass) -> tuple[Tier, Sensitivity]:
    return column_tier(column, CONFIG), column.sensitivity


def _at_least_as_strict(result: Classification, base: Classification) -> None:
    assert result.tier >= base.tier
    assert result.floor >= base.floor
    assert set(base.tags) <= set(result.tags)
    for name, column in base.columns.items():
        assert _column_rank(result.columns[name]) >= _column_rank(column), name


@settings(max_examples=400, deadline=None)
@given(declared=classifications(), inferred=classifications())
def test_an_untrusted_declaration_never_lowers_what_the_data_shows(
        declared: Classification, inferred: Classification) -> None:
    result, _ = restrict(declared, inferred, CONFIG, where="an unsigned sidecar")
    _at_least_as_strict(result, inferred)
    assert result.tier >= declared.tier  # its tier is a floor
    assert set(result.columns) == set(inferred.columns)  # the data's columns, no others


@settings(max_examples=400, deadline=None)
@given(claim=classifications(), known=classifications())
def test_a_claim_is_held_to_what_the_store_knows(
        claim: Classification, known: Classification) -> None:
    result, refused = at_least(claim, known, CONFIG, what="a lineage event")
    _at_least_as_strict(result, known)
    _at_least_as_strict(result, claim)  # a raise is kept as claimed
    if result == claim:
        assert refused == ()
