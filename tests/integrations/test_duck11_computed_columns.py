"""DuckDB output columns no classified source accounts for are classified by a sample of their
values at the write (:mod:`lacuna.integrations.duckdb.computed`).

Before, ``con.sql("SELECT 'person' || i || '@example.com' AS email FROM range(20) t(i)")
.write_csv('~/Downloads/out.csv')`` was written (the column had no source and no literal that
is an e-mail: PUBLIC), while the same bytes through pandas were denied. Real DuckDB, real
files; the allowed paths are compared byte for byte with the same write without Lacuna."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from lacuna import _bypass
from lacuna.errors import GovernanceViolation, IntegrationError

duckdb = pytest.importorskip("duckdb")

GENERATED = "SELECT 'person' || i || '@example.com' AS email FROM range(20) t(i)"


@pytest.fixture
def con(governed: Path) -> Any:
    c = duckdb.connect()
    c.execute("CREATE TABLE pub AS SELECT 'c' || range AS colour, range AS size FROM range(30)")
    return c


def _denied(write: Callable[[], Any], target: Path, why: str = "e-mail") -> None:
    with pytest.raises(GovernanceViolation, match=why):
        write()
    assert not target.exists()


def test_generated_emails_are_denied_as_the_same_frame_through_pandas_is(
        governed: Path, con: Any) -> None:
    out = governed / "Downloads" / "out.csv"
    _denied(lambda: con.sql(GENERATED).write_csv(str(out)), out)
    frame = pd.DataFrame({"email": [f"person{i}@example.com" for i in range(20)]})
    same = governed / "Downloads" / "p.csv"
    _denied(lambda: frame.to_csv(same), same)


def test_every_relation_writer_samples_computed_columns(governed: Path, con: Any) -> None:
    for method in ("write_csv", "to_csv", "write_parquet", "to_parquet"):
        out = governed / "Downloads" / f"out.{method}"
        _denied(lambda m=method, o=out: getattr(con.sql(GENERATED), m)(str(o)), out)


COMPUTED = [
    "SELECT colour || '@example.com' AS e FROM pub",  # a public column mixed with literals
    "SELECT printf('p%d', range) || '@' || 'example.com' AS e FROM range(20)",
    "SELECT 'p' || (random() * 1000)::INT || '@example.com' AS e FROM range(20)",
    "SELECT 'p' || row_number() OVER () || '@example.com' AS e FROM pub",
]


def test_computed_values_are_sampled(governed: Path, con: Any) -> None:
    out = governed / "Downloads" / "c.csv"
    for query in COMPUTED:
        _denied(lambda q=query: con.sql(q).write_csv(str(out)), out)


def test_relations_made_from_a_generated_one_keep_it_sampled(governed: Path, con: Any) -> None:
    out = governed / "Downloads" / "d.csv"
    rel = con.sql(GENERATED)
    _denied(lambda: rel.filter("true").write_csv(str(out)), out)
    _denied(lambda: rel.project("email AS x").write_csv(str(out)), out)
    _denied(lambda: rel.union(con.sql("SELECT 'none' AS email")).write_csv(str(out)), out)
    gen = con.sql("SELECT i FROM range(20) t(i)")
    _denied(lambda: gen.project("'p' || i || '@example.com' AS e").write_csv(str(out)), out)


def test_copy_create_and_insert_sample_computed_columns(governed: Path, con: Any) -> None:
    out = governed / "Downloads" / "copy.csv"
    _denied(lambda: con.execute(f"COPY ({GENERATED}) TO '{out}'"), out)
    _denied(lambda: con.execute(
        f"COPY (SELECT 'kira.ng' || '@' || 'example.org' AS x) TO '{out}'"), out)
    db = governed / "Downloads" / "o.db"
    con.execute(f"ATTACH '{db}' AS o")
    with pytest.raises(GovernanceViolation, match="e-mail"):
        con.execute(f"CREATE TABLE o.t AS {GENERATED}")
    con.execute("CREATE TABLE o.u (email VARCHAR)")
    with pytest.raises(GovernanceViolation, match="e-mail"):
        con.execute(f"INSERT INTO o.u {GENERATED}")
    with pytest.raises(GovernanceViolation, match="e-mail"):
        con.sql(GENERATED).insert_into("o.u")
    with _bypass.bypass():
        assert con.execute("SELECT count(*) FROM o.u").fetchone() == (0,)
    # into memory the table carries what its values are: a later COPY of it is denied
    con.execute(f"CREATE TABLE m AS {GENERATED}")
    _denied(lambda: con.execute(f"COPY m TO '{out}'"), out, "PROPRIETARY")


ALLOWED = [
    "SELECT range AS n, range * 2 AS twice, range % 7 AS bucket FROM range(200)",
    "SELECT DATE '2024-01-01' + range::INT AS day FROM range(200)",
    "SELECT 'item-' || i AS item, i FROM range(200) t(i)",
    "SELECT colour, size FROM pub",
    "SELECT colour || '-' || size AS label FROM pub",
    "SELECT 'redacted' AS email, 'Denver' AS city, range AS n FROM range(10)",
]


@pytest.mark.parametrize("ext", ["csv", "parquet"])
def test_generated_public_data_is_written_byte_for_byte(governed: Path, con: Any,
                                                        ext: str) -> None:
    for i, query in enumerate(ALLOWED):
        out, plain = governed / "Downloads" / f"ok{i}.{ext}", governed / f"plain{i}.{ext}"
        getattr(con.sql(query), f"write_{ext}")(str(out))
        with _bypass.bypass():
            getattr(con.sql(query), f"write_{ext}")(str(plain))
        assert out.read_bytes() == plain.read_bytes(), query


def test_copy_of_generated_public_data_is_written_byte_for_byte(governed: Path,
                                                                con: Any) -> None:
    out, plain = governed / "Downloads" / "ok.csv", governed / "plain.csv"
    con.execute(f"COPY ({ALLOWED[2]}) TO '{out}'")
    with _bypass.bypass():
        con.execute(f"COPY ({ALLOWED[2]}) TO '{plain}'")
    assert out.read_bytes() == plain.read_bytes()


def test_no_sample_when_every_column_has_a_classified_source(governed: Path, con: Any) -> None:
    """The common path costs a look-up: a copy of a table column classified above PUBLIC is
    never sampled (a transformation that keeps a class above PUBLIC neither), a generated
    column is, and so is a table column left PUBLIC (duck13: its class came from its first
    rows, which an UPDATE after them does not change)."""
    from lacuna.integrations.duckdb import computed, relation_state

    con.execute("CREATE TABLE held AS SELECT * FROM 'customers.csv'")
    for query in ("SELECT email, name FROM held", "SELECT email AS c FROM held",
                  "SELECT name FROM held WHERE phone > '3' ORDER BY email"):
        rel = con.sql(query)
        assert computed.unsourced(relation_state(rel), list(rel.columns)) == {}
    for query, public in (("SELECT * FROM pub", {"colour": False, "size": False}),
                          ("SELECT colour AS c FROM pub", {"c": False})):
        rel = con.sql(query)
        assert computed.unsourced(relation_state(rel), list(rel.columns)) == public
    rel = con.sql("SELECT colour, size + 1 AS bigger, 'x' AS k FROM pub")
    assert computed.unsourced(relation_state(rel), list(rel.columns)) == {
        "colour": False, "bigger": False, "k": True}


def test_a_sample_that_cannot_run_refuses_the_write(governed: Path, con: Any) -> None:
    """A record batch reader can be read once: Lacuna does not consume it for a sample, it
    refuses the write of a computed column over it, saying why."""
    import pyarrow.csv as pa_csv

    (governed / "numbers.csv").write_text("i\n" + "".join(f"{i}\n" for i in range(5)))
    table = pa_csv.read_csv(governed / "numbers.csv")  # a governed read: tracked, PUBLIC
    out = governed / "Downloads" / "r.csv"
    rel = con.from_arrow(table.to_reader()).project("'p' || i || '@example.com' AS e")
    with pytest.raises(IntegrationError, match="read once only"):
        rel.write_csv(str(out))
    assert not out.exists()
    con.from_arrow(table.to_reader()).write_csv(str(out))  # a copy of its column: no sample
    assert out.read_text().split() == ["i", *map(str, range(5))]


def test_frames_converted_from_a_generated_relation_carry_what_their_values_are(
        governed: Path, con: Any) -> None:
    """``.df()``, ``.pl()``, ``execute(…).df()`` handed the relation's PUBLIC state on to the
    frame, whose write trusted it: classified from the frame's own first rows (no second read
    of the source)."""
    out = governed / "Downloads" / "f.csv"
    _denied(lambda: con.sql(GENERATED).df().to_csv(out), out)
    _denied(lambda: con.sql(GENERATED).pl().write_csv(out), out)
    _denied(lambda: con.execute(GENERATED).df().to_csv(out), out)
    frame = con.sql(ALLOWED[2]).df()
    frame.to_csv(out, index=False)
    assert pd.read_csv(out).equals(frame)


def test_a_sample_never_advances_a_sequence(governed: Path, con: Any) -> None:
    """A second run for the sample would call nextval again, and the rows written would not be
    the rows asked for: a bare sequence number is a number (not sampled); a computed column
    beside nextval refuses the write instead, saying why."""
    out = governed / "Downloads" / "s.csv"
    con.execute("CREATE SEQUENCE s")
    con.sql("SELECT nextval('s') AS id, range AS n FROM range(5)").write_csv(str(out))
    assert out.read_text().split() == ["id,n", *(f"{i + 1},{i}" for i in range(5))]
    out.unlink()
    rel = con.sql("SELECT nextval('s') AS id, 'item-' || range AS item FROM range(5)")
    with _bypass.bypass():
        before = con.execute("SELECT currval('s')").fetchone()
    with pytest.raises(IntegrationError, match="nextval"):
        rel.write_csv(str(out))
    assert not out.exists()
    with _bypass.bypass():
        assert con.execute("SELECT currval('s')").fetchone() == before


SHAPES = [
    # two outputs of one name: the second's values were never read (sampled by name)
    "SELECT 'a' || range AS x, 'p' || range || '@example.com' AS x FROM range(20)",
    "SELECT ['p' || range || '@example.com'] AS x FROM range(20)",  # read as "['p0@…']"
    "SELECT {'mail': 'p' || range || '@example.com'} AS x FROM range(20)",
    "SELECT ('p' || range || '@example.com')::BLOB AS x FROM range(20)",  # read as "b'p0@…'"
]


def test_values_in_any_shape_are_read(governed: Path, con: Any) -> None:
    out = governed / "Downloads" / "shape.parquet"
    for query in SHAPES:
        _denied(lambda q=query: con.sql(q).write_parquet(str(out)), out)
        _denied(lambda q=query: con.execute(f"COPY ({q}) TO '{out}' (FORMAT parquet)"), out)
