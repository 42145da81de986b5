"""A claim that raised a table, dismissed: the table's class comes back to what Lacuna derives.

A token holder claims the shared ``sales`` table is PROPRIETARY; a governed SQL statement reads
it while the claim stands, and Lacuna's own run records the table's input version raised (signed,
naming the claim). A steward dismisses the claim: the table's class (what every later statement
and ``lacuna.sql.table_classification`` starts from) is what its values, comments and Lacuna's
own records show again. The state database on SQLite and on PostgreSQL.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

import lacuna
import lacuna.sql
from fixtures_postgres import new_postgres_database
from lacuna.config import ClassificationConfig
from lacuna.governor import current
from lacuna.lineage.claims import ingest
from lacuna.lineage.records import DatasetVersion, Run, RunStatus
from lacuna.model import Classification, Tier
from lacuna.sql import tables
from lacuna.sql.tables import table_ref


@pytest.mark.parametrize("state", ["sqlite", "postgresql"])
def test_a_dismissed_claim_on_a_table_no_longer_raises_it(
        state: str, make_db, governed_engine, sandbox, request) -> None:
    from lacuna.lineage.dismiss import dismiss_claim

    audit = (f"sqlite:///{sandbox / 'state.db'}" if state == "sqlite"
             else new_postgres_database(request.getfixturevalue("postgres_url")))
    engine = governed_engine(make_db("sqlite"), aware=True, audit={"url": audit},
                             stewards={"default": ["analyst_alice"]})
    url = engine.url.render_as_string(hide_password=False)
    ref = table_ref(url, "sales")
    store = current().lineage_store
    now = datetime.now(UTC)
    claimed = Classification(tier=Tier.PROPRIETARY, tags=("SECRET",))
    ingest(Run(id="r-hostile", operation="relabel", status=RunStatus.SUCCEEDED,
               outputs=(DatasetVersion(dataset=ref, classification=claimed),),
               user_id="ana", started_at=now, ended_at=now), store, ClassificationConfig())
    raised = lacuna.sql.table_classification(engine, "sales")
    assert (raised.tier, "SECRET" in raised.tags) == (Tier.PROPRIETARY, True)
    with engine.begin() as conn:  # Lacuna's own run reads the raised table
        conn.exec_driver_sql("CREATE TABLE sales_copy AS SELECT * FROM sales")
    assert store.latest(ref, trusted=True).classification.tier is Tier.PROPRIETARY

    done = dismiss_claim("r-hostile", reason="sales holds no secret: checked with its owner")
    now_known = store.latest(ref)
    assert now_known is not None
    assert (now_known.classification.tier, "SECRET" in now_known.classification.tags) == (
        Tier.INTERNAL, False)
    table = lacuna.sql.table_classification(engine, "sales")
    assert (table.tier, "SECRET" in table.tags) == (Tier.INTERNAL, False)
    report = done.to_dict()
    assert [(d["dataset"], d["was"]["tier"], d["tier"]) for d in report["came_down"]] == [
        (str(ref), "PROPRIETARY", "INTERNAL")]
    # the table the statement wrote from it: the claim named, its own class not known
    assert [d["dataset"] for d in report["still_raised"]] == [str(table_ref(url, "sales_copy"))]


@pytest.mark.parametrize("state", ["sqlite", "postgresql"])
def test_dismissing_a_later_claim_keeps_the_raise_of_an_earlier_one_on_the_table(
        state: str, make_db, governed_engine, sandbox, request) -> None:
    """The later claim was stored held to the earlier (it carries its raise): Lacuna's read
    while both stand names both, so dismissing the later one alone lowers nothing."""
    from lacuna.lineage.dismiss import dismiss_claim

    audit = (f"sqlite:///{sandbox / 'state.db'}" if state == "sqlite"
             else new_postgres_database(request.getfixturevalue("postgres_url")))
    engine = governed_engine(make_db("sqlite"), aware=True, audit={"url": audit},
                             stewards={"default": ["analyst_alice"]})
    url = engine.url.render_as_string(hide_password=False)
    ref = table_ref(url, "sales")
    store = current().lineage_store
    before = lacuna.sql.table_classification(engine, "sales")
    assert before.tier < Tier.PROPRIETARY
    tables._caches.clear()  # the claims below arrive in this process (a server's, elsewhere)
    now = datetime.now(UTC)
    for run_id, tags in (("r-owner", ("SECRET",)), ("r-hostile", ("SECRET", "BOGUS"))):
        ingest(Run(id=run_id, operation="relabel", status=RunStatus.SUCCEEDED,
                   outputs=(DatasetVersion(dataset=ref, classification=Classification(
                       tier=Tier.PROPRIETARY, tags=tags)),),
                   user_id="ana", started_at=now, ended_at=now), store, ClassificationConfig())
    with engine.begin() as conn:  # Lacuna's own run reads the raised table
        conn.exec_driver_sql("CREATE TABLE sales_copy AS SELECT * FROM sales")
    assert store.latest(ref, trusted=True).classification.tier is Tier.PROPRIETARY

    dismiss_claim("r-hostile", reason="BOGUS is no tag of ours: checked with the owner")
    for found in (store.latest(ref).classification,
                  lacuna.sql.table_classification(engine, "sales")):
        assert (found.tier, "SECRET" in found.tags) == (Tier.PROPRIETARY, True)

    dismiss_claim("r-owner", reason="sales holds no secret: checked with its owner")
    for found in (store.latest(ref).classification,
                  lacuna.sql.table_classification(engine, "sales")):
        assert (found.tier, found.tags) == (before.tier, before.tags)


@pytest.mark.parametrize("state", ["sqlite", "postgresql"])
def test_a_claim_recorded_elsewhere_reaches_a_session_that_classified_the_table(
        state: str, make_db, governed_engine, sandbox, request, monkeypatch) -> None:
    """A data owner's claim sent to the server (another process) raises the table; an
    analyst's session that classified it before kept the lower class in its cache until the
    entry left it. What the store says is read again every STORE_CHECK_S seconds (0 here)."""
    audit = (f"sqlite:///{sandbox / 'state.db'}" if state == "sqlite"
             else new_postgres_database(request.getfixturevalue("postgres_url")))
    engine = governed_engine(make_db("sqlite"), aware=True, audit={"url": audit})
    url = engine.url.render_as_string(hide_password=False)
    before = lacuna.sql.table_classification(engine, "sales")
    assert before.tier < Tier.PROPRIETARY
    assert lacuna.sql.table_classification(engine, "sales") == before  # cached, unchanged
    monkeypatch.setattr(tables, "STORE_CHECK_S", 0.0, raising=False)
    now = datetime.now(UTC)
    ingest(Run(id="r-owner", operation="relabel", status=RunStatus.SUCCEEDED,
               outputs=(DatasetVersion(dataset=table_ref(url, "sales"),
                                       classification=Classification(tier=Tier.PROPRIETARY,
                                                                     tags=("SECRET",))),),
               user_id="owner", started_at=now, ended_at=now),
           current().lineage_store, ClassificationConfig())  # no cache of this process told
    after = lacuna.sql.table_classification(engine, "sales")
    assert (after.tier, "SECRET" in after.tags) == (Tier.PROPRIETARY, True)
    with engine.connect() as conn:  # the allowed path: a read still runs, now as PROPRIETARY
        rows = conn.exec_driver_sql("SELECT count(*) FROM sales").scalar()
    assert rows is not None
    assert rows > 0
