"""What the process shares between state databases so that opening one more is cheap, and
what it must not: compiled SQLite statements (shared, yet each engine reads its own file),
the schema checks of a leased engine (once per unbroken lease, again after the last release),
and the policy bundle's AST (by its modules; the packages' metadata by data too)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, create_engine, insert, select

import lacuna.audit.schema as schema
from lacuna.audit.schema import SQLITE_STATEMENTS, build_engine, lease_state_database, parse_url
from lacuna.policy import engine as policy_engine
from lacuna.policy.engine import PolicyEngine

_META = MetaData()
_NOTES = Table("shared_compilation_notes", _META, Column("id", Integer, primary_key=True),
               Column("text", String(40)))


def _engine_with(path: Path, text: str):
    engine = build_engine(parse_url(f"sqlite:///{path}"))
    _META.create_all(engine)
    with engine.begin() as conn:
        conn.execute(insert(_NOTES).values(id=1, text=text))
    return engine


def test_engines_share_compiled_statements_and_each_reads_its_own_file(tmp_path: Path) -> None:
    first, second = _engine_with(tmp_path / "a.db", "a"), _engine_with(tmp_path / "b.db", "b")
    query = select(_NOTES.c.text).where(_NOTES.c.id == 1)
    try:
        with first.connect() as conn:
            result = conn.execute(query)
            compiled = result.context.compiled
            assert result.scalar_one() == "a"
        held = len(SQLITE_STATEMENTS)
        with second.connect() as conn:
            result = conn.execute(query)
            assert result.context.compiled is compiled  # not compiled again
            assert result.scalar_one() == "b"  # yet run on the second engine's own file
        assert len(SQLITE_STATEMENTS) == held
    finally:
        first.dispose()
        second.dispose()


def test_dialects_that_compile_differently_do_not_share() -> None:
    ours = build_engine(parse_url("sqlite://"))
    named = create_engine("sqlite://", paramstyle="named")
    try:
        for engine in (ours, named):
            with engine.connect() as conn:  # a dialect is set up at its first connection
                conn.exec_driver_sql("SELECT 1")
        key = ("statement",)
        assert (SQLITE_STATEMENTS._key((ours.dialect, *key))
                != SQLITE_STATEMENTS._key((named.dialect, *key)))
        other = build_engine(parse_url("sqlite://"))
        with other.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
        assert (SQLITE_STATEMENTS._key((ours.dialect, *key))
                == SQLITE_STATEMENTS._key((other.dialect, *key)))
        other.dispose()
    finally:
        ours.dispose()
        named.dispose()


class _Store:
    """An owner of a lease (a store: weakly referenced)."""


def test_a_leased_engine_checks_its_tables_once_and_again_after_its_last_release(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    checks: list[str] = []
    real = schema.ensure_tables
    monkeypatch.setattr(schema, "ensure_tables",
                        lambda engine, tables, *, where: checks.append(where) or real(
                            engine, tables, where=where))
    url = f"sqlite:///{tmp_path / 'state.db'}"
    owners = [_Store(), _Store()]
    first = lease_state_database(url, _META, owners[0])
    second = lease_state_database(url, _META, owners[1])
    assert second.engine is first.engine
    assert len(checks) == 1  # the second store on the same leased engine: nothing to check
    first.release()
    second.release()
    (tmp_path / "state.db").unlink()  # e.g. a user starting over while nothing is open
    third = lease_state_database(url, _META, _Store())
    try:
        assert len(checks) == 2  # checked again: the tables are made anew
        with third.engine.connect() as conn:
            assert conn.execute(select(_NOTES.c.id)).all() == []
    finally:
        third.release()


def test_a_new_configuration_parses_the_bundle_once_yet_reads_metadata_anew(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "p.rego").write_text(
        "package governance.own\n\n"
        "import rego.v1\n\n"
        "metadata := {\"actions\": [\"export\"], \"owner\": data.lacuna.owner}\n\n"
        "deny contains \"never\" if input.never\n")
    parsed: list[object] = []
    real = policy_engine.parse
    monkeypatch.setattr(policy_engine, "parse", lambda engine: parsed.append(1) or real(engine))
    one = PolicyEngine(tmp_path, settings={"owner": "ann"})
    two = PolicyEngine(tmp_path, settings={"owner": "bob"})
    assert len(parsed) == 1
    owners = [next(p for p in e.all_packages if p.name == "governance.own").metadata["owner"]
              for e in (one, two)]
    assert owners == ["ann", "bob"]
