"""Chunked reads (``chunksize=``, ``iterator=True``) are governed as the read they are.

pandas hands back a reader, not a frame; its chunks passed through unclassified, so
``for chunk in pd.read_csv(path, chunksize=n): chunk.to_sql(...)`` exported a PROPRIETARY file
as PUBLIC data, and the read itself was never decided nor audited. Real pandas, real regorus,
real files.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import lacuna
from bundles import contractor_denying_bundle
from lacuna import _bypass
from lacuna.errors import GovernanceViolation
from lacuna.governor import current
from lacuna.lineage.state import get_state
from lacuna.model import Tier


def _reads() -> list[tuple[str, bool]]:
    """The read records on the audit trail, oldest first: (method, allowed)."""
    return [(r.data.get("how", {}).get("method"), r.allowed)
            for r in reversed(current().audit.list(limit=None)) if r.action == "read"]


def _plans(folder: Path, suffix: str = "csv") -> Path:
    """A file whose values look public, declared PROPRIETARY by a sidecar (content heuristics
    cannot see it)."""
    path = folder / f"plans.{suffix}"
    frame = pd.DataFrame({"quarter": [f"Q{i % 4 + 1}" for i in range(10)],
                          "target": list(range(10, 20))})
    with _bypass.bypass():
        if suffix == "csv":
            frame.to_csv(path, index=False)
        elif suffix == "jsonl":
            frame.to_json(path, orient="records", lines=True)
        elif suffix == "dta":
            frame.to_stata(path, write_index=False)
        else:
            frame.to_hdf(path, key="plans", format="table")
    path.with_name(f"{path.name}.lacuna.json").write_text(json.dumps({"classification": {
        "tier": "PROPRIETARY", "tags": ["STRATEGY"]}}))
    return path


CHUNKED: dict[str, tuple[str, Callable[[Path], Any]]] = {
    "read_csv(chunksize)": ("csv", lambda p: pd.read_csv(p, chunksize=3)),
    "read_csv(iterator)": ("csv", lambda p: pd.read_csv(p, iterator=True)),
    "read_table(chunksize)": ("csv", lambda p: pd.read_table(p, sep=",", chunksize=3)),
    "read_fwf(chunksize)": ("csv", lambda p: pd.read_fwf(p, chunksize=3)),
    "read_json(lines, chunksize)": ("jsonl", lambda p: pd.read_json(p, lines=True, chunksize=3)),
    "read_stata(chunksize)": ("dta", lambda p: pd.read_stata(p, chunksize=3)),
    "read_hdf(iterator)": ("h5", lambda p: pd.read_hdf(p, "plans", iterator=True, chunksize=3)),
}


@pytest.mark.parametrize("how", sorted(CHUNKED))
def test_a_chunked_read_cannot_launder_a_declared_classification(governed: Path, how: str):
    suffix, read = CHUNKED[how]
    path = _plans(governed, suffix)
    full = (pd.read_hdf(path, "plans") if suffix == "h5" else pd.read_stata(path)
            if suffix == "dta" else pd.read_json(path, lines=True) if suffix == "jsonl"
            else pd.read_csv(path))
    assert full.lacuna_classification.tier is Tier.PROPRIETARY
    target = governed / "Downloads" / "plans.csv"
    with read(path) as reader:
        chunk = next(reader)
        assert chunk.lacuna_classification.tier is Tier.PROPRIETARY
        assert "STRATEGY" in chunk.lacuna_classification.tags
        with pytest.raises(GovernanceViolation, match="PROPRIETARY"):
            chunk.to_csv(target)
    assert not target.exists()


def test_a_chunked_read_cannot_launder_into_a_database(governed: Path):
    """The seed's scenario: each chunk into a database that keeps no classification, which
    takes INTERNAL data but not PROPRIETARY."""
    path = _plans(governed)
    db = governed / "warehouse.db"
    with sqlite3.connect(db) as con, pd.read_csv(path, chunksize=4) as reader:
        for chunk in reader:
            with pytest.raises(GovernanceViolation):
                chunk.to_sql("plans", con, if_exists="append")
    with sqlite3.connect(db) as con:
        assert not con.execute("SELECT name FROM sqlite_master").fetchall()


def _contractor(sandbox: Path, sandbox_config: Callable[..., lacuna.Config]) -> None:
    lacuna.enable(sandbox_config(user={"id": "carl", "role": "contractor"},
                                 policy={"dir": str(contractor_denying_bundle(sandbox))}))


def test_a_denied_read_is_denied_before_the_first_chunk(sandbox, sandbox_config):
    _contractor(sandbox, sandbox_config)
    with pytest.raises(GovernanceViolation, match="contractors may not read"):
        pd.read_csv("customers.csv")
    reader = pd.read_csv("customers.csv", chunksize=10)
    with pytest.raises(GovernanceViolation, match="contractors may not read"):
        next(reader)
    with pytest.raises(GovernanceViolation, match="contractors may not read"), \
            pd.read_csv("customers.csv", iterator=True) as it:
        it.get_chunk(5)
    assert _reads() == [("pandas.read_csv", False)] * 3


def test_chunks_carry_the_full_reads_classification_and_lineage(governed: Path):
    full = pd.read_csv("customers.csv")
    before = len(_reads())
    chunks = list(pd.read_csv("customers.csv", chunksize=25))
    assert len(chunks) == 3
    pd.testing.assert_frame_equal(pd.concat(chunks), full)
    want = full.lacuna_classification
    for chunk in chunks:
        got = chunk.lacuna_classification
        assert (got.tier, got.tags, got.floor) == (want.tier, want.tags, want.floor)
        assert {k: c.classification for k, c in got.columns.items()} == {
            k: c.classification for k, c in want.columns.items()}
        assert chunk.lacuna.lineage.sources == full.lacuna.lineage.sources == ("customers.csv",)
    assert get_state(chunks[0]).lineage is get_state(chunks[-1]).lineage  # one source node
    assert _reads()[before:] == [("pandas.read_csv", True)]  # one decision, not one per chunk
    with pytest.raises(GovernanceViolation):
        chunks[-1].to_csv(governed / "Downloads" / "last.csv")


def test_the_reader_is_pandas_reader(governed: Path):
    before = len(_reads())
    with pd.read_csv("customers.csv", chunksize=10) as reader:
        assert reader.chunksize == 10  # pandas' own attributes
        first = reader.get_chunk(5)
        second = next(reader)
        rest = reader.read()
    assert [len(first), len(second), len(rest)] == [5, 10, 45]
    for frame in (first, second, rest):
        assert "PII" in frame.lacuna_classification.tags
    assert _reads()[before:] == [("pandas.read_csv", True)]
    reader = pd.read_csv("customers.csv", iterator=True)
    assert "PII" in reader.read(7).lacuna_classification.tags
    reader.close()


def test_a_later_chunk_never_weakens_and_is_decided_when_it_shows_more(governed: Path):
    """The first chunk's notes are blank; e-mails appear only past it. The read is decided
    again, before that chunk is handed out, and no chunk after it is less than it."""
    path = governed / "notes.csv"
    notes = [""] * 20 + [f"user{i}@example.com" for i in range(20)] + [""] * 20
    with _bypass.bypass():
        pd.DataFrame({"n": range(60), "note": notes}).to_csv(path, index=False)
    before = len(_reads())
    chunks = list(pd.read_csv(path, chunksize=20))
    tags = [chunk.lacuna_classification.tags for chunk in chunks]
    assert "PII" not in tags[0]
    assert "PII" in tags[1]
    assert "PII" in tags[2]  # blank notes again: never weaker than what came before
    assert chunks[2].lacuna.columns["note"].classification.value == "pii"
    assert _reads()[before:] == [("pandas.read_csv", True)] * 2


@pytest.fixture
def warehouse(governed: Path) -> Path:
    path = governed / "warehouse.db"
    with _bypass.bypass(), sqlite3.connect(path) as con:
        pd.read_csv("customers.csv").to_sql("customers", con, index=False)
        con.execute("CREATE TABLE t (c TEXT)")
    return path


@pytest.mark.parametrize("reader", ["read_sql", "read_sql_query"])
def test_read_sql_in_chunks_is_the_read_it_is(warehouse: Path, reader: str):
    query = "SELECT customer_id, email AS region FROM customers"
    with sqlite3.connect(warehouse) as con:
        full = getattr(pd, reader)(query, con)
        before = len(_reads())
        chunks = list(getattr(pd, reader)(query, con, chunksize=25))
        assert _reads()[before:] == [(f"pandas.{reader}", True)]
        pd.testing.assert_frame_equal(pd.concat(chunks, ignore_index=True), full)
        for chunk in chunks:  # the query's lineage: the renamed e-mails keep their class
            assert chunk.lacuna.columns["region"].classification.value == "pii"
            assert chunk.lacuna_classification.tier is full.lacuna_classification.tier
            assert chunk.lacuna.lineage.sources == full.lacuna.lineage.sources
        chunks_ = pd.read_sql_table("customers", f"sqlite:///{warehouse}", chunksize=30)
        assert all("PII" in c.lacuna_classification.tags for c in chunks_)


@pytest.mark.parametrize("how", ["sqlite3", "engine"])
def test_a_writing_statement_in_chunks_is_refused_as_without(warehouse: Path, how: str):
    """A regression guard: pandas runs the statement at the call, chunks or not, so it is
    decided as SQL there (lacuna.sql.run_read_sql) and refused before anything runs."""
    import sqlalchemy as sa

    statement = "INSERT INTO t SELECT email FROM customers RETURNING c"
    engine = sa.create_engine(f"sqlite:///{warehouse}")
    con: Any = sqlite3.connect(warehouse) if how == "sqlite3" else engine
    try:
        for extra in ({}, {"chunksize": 10}):
            with pytest.raises(GovernanceViolation, match="Export to sqlite"):
                pd.read_sql(statement, con, **extra)
    finally:
        if how == "sqlite3":
            con.close()
        engine.dispose()
    with sqlite3.connect(warehouse) as raw:
        assert raw.execute("SELECT count(*) FROM t").fetchone() == (0,)


def test_read_sql_in_chunks_is_denied_as_without(warehouse, sandbox, sandbox_config):
    _contractor(sandbox, sandbox_config)
    with sqlite3.connect(warehouse) as con, pytest.raises(GovernanceViolation,
                                                          match="contractors may not read"):
        next(iter(pd.read_sql("SELECT * FROM customers", con, chunksize=10)))
    assert _reads()[-1] == ("pandas.read_sql", False)


def test_a_sealed_file_reads_back_in_chunks(governed: Path, sandbox_config):
    from lacuna.storage import sealed

    path = governed / "governed" / "workspace" / "customers.csv"
    full = pd.read_csv("customers.csv")
    full.to_csv(path, index=False)
    assert path.read_bytes().startswith(sealed.MAGIC)
    back = pd.read_csv(path)
    chunks = list(pd.read_csv(path, chunksize=25))
    pd.testing.assert_frame_equal(pd.concat(chunks), back)
    pd.testing.assert_frame_equal(back, full)
    for chunk in chunks:
        assert chunk.lacuna_classification.tier is back.lacuna_classification.tier
        assert chunk.lacuna_classification.tags == back.lacuna_classification.tags
    with pd.read_csv(path, chunksize=7) as reader:  # closed before the end: the stream too
        assert len(reader.get_chunk()) == 7
    _contractor(governed, sandbox_config)
    with pytest.raises(GovernanceViolation, match="contractors may not read"):
        pd.read_csv(path, chunksize=25)  # a sealed file: decided at the call, nothing decrypted
