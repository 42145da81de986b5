"""A claim that raised a table, dismissed: the table's class comes back to what Lacuna derives.

A token holder claims the shared ``sales`` table is PROPRIETARY; a governed SQL statement reads
it while the claim stands, and Lacuna's own run records the table's input version raised (signed,
naming the claim). A steward dismisses the claim: the table's class (what every later statement
and ``lacuna.sql.table_classification`` starts from) is what its values, comments and Lacuna's
own records show again. The state database on SQLite and on PostgreSQL.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

import lacuna
import lacuna.sql
from fixtures_postgres import new_postgres_database
from lacuna.config import ClassificationConfig
from lacuna.governor import current
from lacuna.lineage.claims import ingest
from lacuna.lineage.records import DatasetRef, DatasetVersion, Run, RunStatus
from lacuna.model import Classification, Tier
from lacuna.sql import tables
from lacuna.sql.tables import table_ref


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request, make_db, governed_engine, sandbox) -> Any:
    """A governed SQLite database holding ``sales``; Lacuna's state database on SQLite or on
    PostgreSQL; analyst_alice is a default steward."""
    audit = (f"sqlite:///{sandbox / 'state.db'}" if request.param == "sqlite"
             else new_postgres_database(request.getfixturevalue("postgres_url")))
    return governed_engine(make_db("sqlite"), aware=True, audit={"url": audit},
                           stewards={"default": ["analyst_alice"]})


def _sales(engine: Any) -> DatasetRef:
    return table_ref(engine.url.render_as_string(hide_password=False), "sales")


def _claim(engine: Any, run_id: str, tags: tuple[str, ...], *, by: str = "ana") -> None:
    """``by``'s ingested run (a claim) saying ``sales`` is PROPRIETARY with ``tags``."""
    now = datetime.now(UTC)
    ingest(Run(id=run_id, operation="relabel", status=RunStatus.SUCCEEDED,
               outputs=(DatasetVersion(dataset=_sales(engine), classification=Classification(
                   tier=Tier.PROPRIETARY, tags=tags)),),
               user_id=by, started_at=now, ended_at=now),
           current().lineage_store, ClassificationConfig())


def test_a_dismissed_claim_on_a_table_no_longer_raises_it(engine: Any) -> None:
    from lacuna.lineage.dismiss import dismiss_claim

    url = engine.url.render_as_string(hide_password=False)
    ref = _sales(engine)
    store = current().lineage_store
    _claim(engine, "r-hostile", ("SECRET",))
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


def test_dismissing_a_later_claim_keeps_the_raise_of_an_earlier_one_on_the_table(
        engine: Any) -> None:
    """The later claim was stored held to the earlier (it carries its raise): Lacuna's read
    while both stand names both, so dismissing the later one alone lowers nothing."""
    from lacuna.lineage.dismiss import dismiss_claim

    ref = _sales(engine)
    store = current().lineage_store
    before = lacuna.sql.table_classification(engine, "sales")
    assert before.tier < Tier.PROPRIETARY
    tables._caches.clear()  # the claims below arrive in this process (a server's, elsewhere)
    for run_id, tags in (("r-owner", ("SECRET",)), ("r-hostile", ("SECRET", "BOGUS"))):
        _claim(engine, run_id, tags)
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


def test_a_claim_recorded_elsewhere_reaches_a_session_that_classified_the_table(
        engine: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """A data owner's claim sent to the server (another process) raises the table; an
    analyst's session that classified it before kept the lower class in its cache until the
    entry left it. What the store says is read again every STORE_CHECK_S seconds (0 here)."""
    before = lacuna.sql.table_classification(engine, "sales")
    assert before.tier < Tier.PROPRIETARY
    assert lacuna.sql.table_classification(engine, "sales") == before  # cached, unchanged
    monkeypatch.setattr(tables, "STORE_CHECK_S", 0.0, raising=False)
    _claim(engine, "r-owner", ("SECRET",), by="owner")  # no cache of this process told
    after = lacuna.sql.table_classification(engine, "sales")
    assert (after.tier, "SECRET" in after.tags) == (Tier.PROPRIETARY, True)
    with engine.connect() as conn:  # the allowed path: a read still runs, now as PROPRIETARY
        rows = conn.exec_driver_sql("SELECT count(*) FROM sales").scalar()
    assert rows is not None
    assert rows > 0
