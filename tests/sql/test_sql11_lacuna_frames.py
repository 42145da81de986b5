"""Statements Lacuna sends itself through SQLAlchemy are not governed again; which those are
was read off the calling frame's ``__name__``, so a user's own package named ``lacuna`` (a
company's ``lacuna.etl``), or code run with ``{"__name__": "lacuna.x"}`` as its globals, sent
e-mails into a governed database ungoverned. Lacuna's frames are now those of functions of its
own modules, loaded from its own files."""

from __future__ import annotations

import timeit
from pathlib import Path

import pytest

import lacuna.sql.hook as hook
from lacuna.errors import GovernanceViolation
from lacuna.integrations.callers import of_package

EMAIL = "kira.k@example.com"
RUN = ("def run(conn, sql):\n    conn.exec_driver_sql(sql)\n\n"
       "def run_sqlite(con, sql):\n    return con.execute(sql).fetchall()\n\n"
       "def gen():\n    yield\n")


def _module(name: str, filename: str) -> dict[str, object]:
    space: dict[str, object] = {"__name__": name}
    exec(compile(RUN, filename, "exec"), space)
    return space


@pytest.mark.parametrize(("name", "filename"), [
    ("lacuna.etl", "/home/user/lacuna/etl.py"),
    ("lacuna.sql.hook", hook.__file__),  # its name and its file, not its module
])
def test_a_frame_that_only_claims_to_be_lacunas_is_governed(
        name, filename, make_db, governed_engine):
    engine = governed_engine(make_db("sqlite", tables=()))
    space = _module(name, filename)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (a TEXT)")
    with pytest.raises(GovernanceViolation, match="PII"), engine.begin() as conn:
        space["run"](conn, f"INSERT INTO t VALUES ('{EMAIL}')")  # type: ignore[operator]
    with engine.begin() as conn:  # a public value through the same code runs
        space["run"](conn, "INSERT INTO t VALUES ('north')")  # type: ignore[operator]
        assert conn.exec_driver_sql("SELECT a FROM t").fetchall() == [("north",)]


def test_lacunas_own_frames_are_known_and_cheap():
    own = hook.expecting("SELECT 1").gen.gi_frame  # a frame of a function of lacuna.sql.hook
    assert own is not None
    assert of_package(own, "lacuna")
    for name, filename in [("lacuna.etl", "/home/user/lacuna/etl.py"),
                           ("lacuna.sql.hook", hook.__file__),
                           ("lacuna_extras", str(Path(hook.__file__).with_name("x.py")))]:
        claimed = _module(name, filename)["gen"]().gi_frame  # type: ignore[operator]
        assert not of_package(claimed, "lacuna")
    per_call = min(timeit.repeat(lambda: of_package(own, "lacuna"),
                                 number=2_000, repeat=3)) / 2_000
    assert per_call < 20e-6  # about a microsecond


def test_sqlite3_statements_from_a_package_named_lacuna_are_decided(governed, sqlite_url):
    """The driver integrations' rule (lacuna.integrations.callers) read the name too."""
    import sqlite3

    warehouse = governed / "warehouse.db"
    leak = governed / "Downloads" / "leak.db"
    space = _module("lacuna.etl", "/home/user/lacuna/etl.py")
    con = sqlite3.connect(warehouse)
    try:
        with pytest.raises(GovernanceViolation):
            space["run_sqlite"](con, f"VACUUM INTO '{leak}'")  # type: ignore[operator]
        assert not leak.exists()
        space["run_sqlite"](con, "SELECT count(*) FROM sales")  # type: ignore[operator]
    finally:
        con.close()
