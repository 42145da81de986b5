"""Generalised pieces of one column, stored in different tables by different statements, put
the column back together when they meet again: they carry its class (``rejoined``)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

import lacuna
import lacuna.sql
from lacuna import _bypass
from lacuna.errors import GovernanceViolation
from lacuna.model import Classification, ColumnKind
from lacuna.sql.tables import COMMENT_PREFIX, table_ref

# an address, a quasi-identifier: a short cut of it generalises (one of an e-mail, a direct
# identifier, keeps its class and is no piece)
ADDRESS_PIECES = [f"substr(address, {n}, 4)" for n in range(1, 25, 4)]
# SQLite has no left() or right(): substr cuts the same pieces there
PREFIX = {"sqlite": "substr(zip, 1, 3)", "duckdb": "left(zip, 3)"}
SUFFIX = {"sqlite": "substr(zip, 3, 3)", "duckdb": "right(zip, 3)"}
ZIPS = ["94107", "10001", "60614", "73301", "02139", "98101", "30303", "80202"]


def _with_zips(url: str) -> None:
    """A ``people`` table with US zip codes, loaded ungoverned (data that was there before)."""
    engine = sa.create_engine(url)
    try:
        with _bypass.bypass():
            pd.DataFrame({"customer_id": [f"C{i:04d}" for i in range(1, 61)],
                          "zip": [ZIPS[i % len(ZIPS)] for i in range(60)]}).to_sql(
                "people", engine, index=False)
    finally:
        engine.dispose()


def _store(engine: sa.Engine, source: str, pieces: list[str]) -> list[str]:
    """One table per piece, each written by its own governed statement (each allowed)."""
    names = []
    for i, piece in enumerate(pieces):
        with engine.begin() as conn:
            conn.exec_driver_sql(
                f"CREATE TABLE t{i} AS SELECT customer_id, {piece} AS s FROM {source}")
        names.append(f"t{i}")
    return names


def _join(names: list[str], *, side_by_side: bool = False) -> str:
    values = (", ".join(f"{n}.s AS s{i}" for i, n in enumerate(names)) if side_by_side
              else " || ".join(f"{n}.s" for n in names) + " AS v")
    joins = " ".join(f"JOIN {n} USING (customer_id)" for n in names[1:])
    return f"SELECT {values} FROM {names[0]} {joins}"


def _classification(engine: sa.Engine, sql: str) -> Classification:
    with engine.connect() as conn:
        result = conn.exec_driver_sql(sql)
        result.fetchall()
    c = lacuna.sql.classification(result)
    assert c is not None
    return c


@pytest.fixture(params=["sqlite", "duckdb"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.mark.parametrize(("source", "pieces", "pii_type"), [
    ("people", [PREFIX, SUFFIX], "postal_code"),
    ("customers", ADDRESS_PIECES[:2], "address"),
    ("customers", ADDRESS_PIECES, "address"),  # 4 characters per table, six tables
])
def test_pieces_from_different_tables_rejoin_the_column(
        kind, source, pieces, pii_type, sandbox, make_db, governed_engine):
    url = make_db(kind)
    _with_zips(url)
    engine = governed_engine(url)
    pieces = [p[kind] if isinstance(p, dict) else p for p in pieces]
    names = _store(engine, source, pieces)
    for name in names:  # each piece alone is a generalisation: stored as public
        alone = _classification(engine, f"SELECT s FROM {name}")
        assert alone.columns["s"].classification is ColumnKind.PUBLIC
    for side_by_side in (False, True):
        c = _classification(engine, _join(names, side_by_side=side_by_side))
        assert c.personal_columns, c
        for col in c.columns.values():
            assert col.is_personal
            assert col.pii_type == pii_type
            assert "different pieces" in col.reasoning
    if kind == "sqlite":  # into a database that keeps no classification: refused
        with pytest.raises(GovernanceViolation), engine.begin() as conn:
            conn.exec_driver_sql(f"CREATE TABLE rebuilt AS {_join(names)}")
    else:  # out to a file: refused
        out = sandbox / "Downloads" / "rebuilt.csv"
        with pytest.raises(GovernanceViolation), engine.connect() as conn:
            conn.exec_driver_sql(f"COPY ({_join(names)}) TO '{out}' (HEADER)")
        assert not out.exists()


def test_a_frame_read_from_the_join_is_personal_and_stays_home(
        kind, sandbox, make_db, governed_engine):
    url = make_db(kind)
    _with_zips(url)
    engine = governed_engine(url)
    names = _store(engine, "people", [PREFIX[kind], SUFFIX[kind]])
    gov = lacuna.governor.current()
    out = sandbox / "Downloads" / "zips.csv"
    with lacuna.governed(gov.config):
        frame = pd.read_sql(_join(names), engine)
        assert sorted(set(frame["v"])) == sorted({z[:3] + z[2:] for z in ZIPS})
        assert frame.lacuna_classification.columns["v"].is_personal
        with pytest.raises(GovernanceViolation):
            frame.to_csv(out)
        assert not out.exists()
        one = pd.read_sql(f"SELECT s FROM {names[0]}", engine)  # one piece: may leave
        one.to_csv(out)
    assert out.exists()


def test_one_piece_or_the_same_piece_twice_may_leave(kind, sandbox, make_db, governed_engine):
    url = make_db(kind)
    _with_zips(url)
    engine = governed_engine(url)
    same = [PREFIX[kind], PREFIX[kind].replace("zip", "people.zip")]  # one piece, spelt twice
    names = _store(engine, "people", same)
    c = _classification(engine, _join(names))
    assert not c.personal_columns, c
    (piece,) = c.columns["v"].pieces  # still one piece: a later different one rejoins it
    assert piece.column == "zip"
    with engine.begin() as conn:
        conn.exec_driver_sql(f"CREATE TABLE twice AS {_join(names)}")
        conn.exec_driver_sql(
            f"CREATE TABLE other AS SELECT {SUFFIX[kind]} AS w FROM people LIMIT 1")
    assert _classification(engine, "SELECT v || w AS x FROM twice, other").personal_columns
    gov = lacuna.governor.current()
    out = sandbox / "Downloads" / "prefixes.csv"
    with lacuna.governed(gov.config):
        pd.read_sql(_join(names, side_by_side=True), engine).to_csv(out)
    assert out.exists()
    with engine.begin() as conn:  # a count next to a piece is no piece: unaffected
        conn.exec_driver_sql(
            "CREATE TABLE counted AS SELECT customer_id, count(zip) AS n FROM people GROUP BY 1")
    c = _classification(engine, "SELECT t0.s, counted.n FROM t0 JOIN counted USING (customer_id)")
    assert not c.personal_columns, c


def test_the_stored_classification_remembers_the_piece(kind, make_db, governed_engine):
    url = make_db(kind)
    _with_zips(url)
    engine = governed_engine(url)
    _store(engine, "people", [PREFIX[kind]])
    gov = lacuna.governor.current()
    version = gov.lineage_store.latest(table_ref(url, "t0"))
    assert version is not None
    col = version.classification.columns["s"]
    assert col.classification is ColumnKind.PUBLIC
    (piece,) = col.pieces
    assert (piece.column, piece.classification, piece.pii_type) == (
        "zip", ColumnKind.PII, "postal_code")
    assert piece.table == str(table_ref(url, "people"))
    assert "3" in piece.sql
    assert "zip" in piece.sql.lower()
    again = Classification.from_dict(json.loads(json.dumps(version.classification.to_dict())))
    assert again.columns["s"].pieces == col.pieces
    if kind == "duckdb":  # the comment Lacuna writes carries it too
        with engine.connect() as conn:
            comment = conn.exec_driver_sql(
                "SELECT comment FROM duckdb_tables() WHERE table_name = 't0'").scalar()
        data = json.loads(str(comment)[len(COMMENT_PREFIX):])
        assert data["columns"]["s"]["pieces"][0]["column"] == "zip"


def test_a_piece_copied_on_still_rejoins(kind, sandbox, make_db, governed_engine):
    """``CREATE TABLE c AS SELECT s FROM t0`` keeps what ``s`` is a piece of; and a piece stored
    earlier meets a piece cut in the statement itself."""
    url = make_db(kind)
    _with_zips(url)
    engine = governed_engine(url)
    names = _store(engine, "people", [PREFIX[kind], SUFFIX[kind]])
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE copied AS SELECT customer_id, s FROM t0")
    c = _classification(engine, _join(["copied", names[1]]))
    assert c.columns["v"].is_personal
    c = _classification(
        engine, "SELECT t0.s || substr(p.zip, 4, 2) AS v FROM t0 JOIN people p USING (customer_id)")
    assert c.columns["v"].is_personal
    assert Path(sandbox).exists()


def test_frames_read_from_each_table_and_joined_in_pandas_rejoin_the_column(
        kind, sandbox, make_db, governed_engine):
    """The pieces meet in pandas, not in SQL: each frame holds one piece (public, and may
    leave), the merged frame holds the value again."""
    url = make_db(kind)
    _with_zips(url)
    engine = governed_engine(url)
    names = _store(engine, "people", [PREFIX[kind], SUFFIX[kind], PREFIX[kind]])
    gov = lacuna.governor.current()
    downloads = sandbox / "Downloads"
    with lacuna.governed(gov.config):
        a, b, again = (pd.read_sql(f"SELECT * FROM {n}", engine) for n in names)
        a.to_csv(downloads / "one.csv")  # one piece alone: a generalisation
        same = a.merge(again, on="customer_id")  # the same piece twice: still one piece
        assert not same.lacuna_classification.personal_columns
        same.to_csv(downloads / "same.csv")
        joined = a.merge(b, on="customer_id", suffixes=("_a", "_b"))
        assert {c.pii_type for c in joined.lacuna_classification.columns.values()
                if c.is_personal} == {"postal_code"}
        joined["zip"] = joined["s_a"] + joined["s_b"]
        for frame in (joined, joined[["zip"]], pd.concat([a[["s"]], b[["s"]]], axis=1)):
            with pytest.raises(GovernanceViolation):
                frame.to_csv(downloads / "zips.csv")
    assert (downloads / "one.csv").exists()
    assert (downloads / "same.csv").exists()
    assert not (downloads / "zips.csv").exists()


@pytest.mark.parametrize("db", ["sqlite", "duckdb", "postgresql"])
def test_pieces_meet_whichever_way_their_table_was_spelt(db, sandbox, make_db,
                                                         governed_engine):
    """``people`` and ``main.people`` (the default schema spelt out; ``public.people`` on
    PostgreSQL) are one table: their pieces meet as pieces of one column."""
    url = make_db(db)
    _with_zips(url)
    engine = governed_engine(url)
    names = []
    prefix, suffix = (PREFIX["duckdb"], SUFFIX["duckdb"]) if db == "postgresql" else (
        PREFIX[db], SUFFIX[db])
    schema = "public" if db == "postgresql" else "main"
    for i, (source, piece) in enumerate([("people", prefix), (f"{schema}.people", suffix)]):
        with engine.begin() as conn:
            conn.exec_driver_sql(
                f"CREATE TABLE t{i} AS SELECT customer_id, {piece} AS s FROM {source}")
        names.append(f"t{i}")
    c = _classification(engine, _join(names))
    assert c.columns["v"].is_personal, c


def test_a_table_spelt_in_another_case_is_the_same_table(kind, make_db, governed_engine):
    """SQLite and DuckDB names are case-insensitive: ``MAIN.PEOPLE`` is ``people``, classified
    from what Lacuna knows of it (DuckDB's catalog look-ups missed it, so the statement failed
    closed as reading a table Lacuna could not see)."""
    url = make_db(kind)
    _with_zips(url)
    engine = governed_engine(url)
    c = _classification(engine, "SELECT zip FROM MAIN.PEOPLE")
    assert c.columns["zip"].is_personal, c
    with engine.begin() as conn:  # a write from it is decided on what it holds, and allowed
        conn.exec_driver_sql(f"CREATE TABLE upper_copy AS SELECT customer_id, "
                             f"{PREFIX[kind].replace('zip', 'ZIP')} AS p FROM MAIN.PEOPLE")
