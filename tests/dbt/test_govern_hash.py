"""The ``lacuna.govern()`` post-hook's ``hash`` (and ``synthesize``) in a real dbt + DuckDB run.

The digest must be keyed by a secret that is not in the project: with the public default seed
(``md5(value || 'lacuna')``) anyone holding the masked table hashes a list of candidate e-mail
addresses, phone numbers or SSNs and reads the originals back (a dictionary attack).
"""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from lacuna.dbt import run_dbt
from lacuna.errors import IntegrationError

from .conftest import warehouse_rows as _rows

duckdb = pytest.importorskip("duckdb")

KEY = "k3y-" + "0123456789abcdef" * 2  # the environment's secret: the attacker does not have it
RAW = "seed.lacuna_example.raw_customers"
HASHED = ("email", "phone", "ssn")


def _vars(seed: str | None = None) -> str:
    gov: dict[str, Any] = {"environment": "development",
                           "actions": {RAW: {c: ["hash", c] for c in HASHED}}}
    if seed is not None:
        gov["seed"] = seed
    return json.dumps({"lacuna_governance": gov})


def _originals(project: Path) -> dict[int, dict[str, str]]:
    with (project / "seeds" / "raw_customers.csv").open(encoding="utf-8") as f:
        return {int(r["customer_id"]): r for r in csv.DictReader(f)}


def _dictionary(originals: dict[int, dict[str, str]], column: str) -> set[str]:
    """The attacker's candidates: every real value plus decoys (a leaked list, a phone range)."""
    real = {r[column] for r in originals.values()}
    return real | {f"decoy{i}@example.com" for i in range(50)}


def _attack(hashed: set[str], candidates: set[str], seeds: tuple[str, ...]) -> set[str]:
    """Dictionary attack with everything public: the seed in the vars / the project, the
    package's own constructions (md5 or sha256, salt before or after, with separators)."""
    found = set()
    for value in candidates:
        for seed in seeds:
            for text in (value + seed, seed + value, f"{seed}:{value}", f":{seed}:{value}",
                         f"{seed}::{value}", value):
                for digest in (hashlib.md5, hashlib.sha256):
                    if digest(text.encode()).hexdigest() in hashed:
                        found.add(value)
    return found


def _seed(project: Path, variables: str, env: dict[str, str] | None = None,
          check: bool = True) -> Any:
    return run_dbt(["seed", "--select", "raw_customers", "--vars", variables], project,
                   env={"LACUNA_DBT_HASH_KEY": "", **(env or {})}, check=check)


def test_hashed_pii_cannot_be_reversed_by_dictionary(built_copy: Path) -> None:
    originals = _originals(built_copy)
    done = _seed(built_copy, _vars(), env={"LACUNA_DBT_HASH_KEY": KEY})
    db = built_copy / "target" / "warehouse.duckdb"
    rows = _rows(db, "select customer_id, email, phone, ssn from main.raw_customers")
    assert len(rows) == len(originals)
    for i, column in enumerate(HASHED, start=1):
        hashed = {r[i] for r in rows}
        assert not hashed & {r[column] for r in originals.values()}  # the values were replaced
        # the attacker knows the public default seed, the project and the package's SQL
        assert _attack(hashed, _dictionary(originals, column), ("lacuna", "")) == set(), column
    # with the key (which only the environment holds) the construction is what docs/dbt.md says
    by_id = {r[0]: r for r in rows}
    for cid, original in originals.items():
        want = hashlib.sha256(f"{KEY}:lacuna:{original['email']}".encode()).hexdigest()
        assert by_id[cid][1] == want
    # the key is in no file dbt left in the project (manifest, run results, compiled SQL), nor
    # in its debug log (which records the statement setting it) or its output: run_dbt hands
    # it to dbt as a DBT_ENV_SECRET_ variable too, whose values dbt scrubs from what it logs
    logs = list((built_copy / "logs").rglob("*.log"))
    assert logs, "dbt wrote no log: the check below would prove nothing"
    assert any(b"set variable lacuna_hash_key" in p.read_bytes() for p in logs)
    for path in [*(built_copy / "target").rglob("*"), *logs]:
        if path.is_file() and path.suffix in (".json", ".sql", ".msgpack", ".txt", ".log"):
            assert KEY.encode() not in path.read_bytes(), path
    assert KEY not in done.stdout + done.stderr


def test_same_key_hashes_consistently_so_joins_line_up(built_copy: Path) -> None:
    originals = _originals(built_copy)
    _seed(built_copy, _vars(seed="dev"), env={"LACUNA_DBT_HASH_KEY": KEY})
    # bronze_customers is rebuilt from the hashed seed: its e-mail is the same pseudonym
    run_dbt(["run", "--select", "bronze_customers"], built_copy)
    db = built_copy / "target" / "warehouse.duckdb"
    first = _rows(db, "select customer_id, email, ssn from main.raw_customers")
    joined = _rows(db, "select count(*) from main.raw_customers r join main.bronze_customers b "
                       "on r.email = b.email")
    assert joined == [(len(first),)]
    # the pseudonym is a function of the key, the seed and the value alone (docs/dbt.md): the
    # same key gives the same values in every environment and run, another key others
    def digest(key: str, value: str) -> str:
        return hashlib.sha256(f"{key}:dev:{value}".encode()).hexdigest()

    assert {(cid, e, s) for cid, e, s in first} == {
        (cid, digest(KEY, o["email"]), digest(KEY, o["ssn"])) for cid, o in originals.items()}
    assert not {r[1] for r in first} & {digest(KEY[::-1], o["email"]) for o in originals.values()}


@pytest.mark.parametrize("key", ["", "short", "k" * 32])  # long but one character: guessed
def test_hashing_pii_without_a_secret_is_refused(dbt_deps_copy: Path, key: str) -> None:
    project = dbt_deps_copy
    with pytest.raises(IntegrationError, match="LACUNA_DBT_HASH_KEY"):
        _seed(project, _vars(), env={"LACUNA_DBT_HASH_KEY": key})
    # the seed's transaction was rolled back: the plain values did not land in the warehouse
    db = project / "target" / "warehouse.duckdb"
    if db.exists():
        tables = _rows(db, "select table_name from information_schema.tables "
                           "where table_name = 'raw_customers'")
        if tables:
            emails = {r[0] for r in _rows(db, "select email from main.raw_customers")}
            assert not emails & {r["email"] for r in _originals(project).values()}


def test_redact_alone_needs_no_secret(dbt_deps_copy: Path) -> None:
    project = dbt_deps_copy
    variables = json.dumps({"lacuna_governance": {
        "environment": "development", "actions": {RAW: {"email": ["redact", "email"]}}}})
    _seed(project, variables)
    db = project / "target" / "warehouse.duckdb"
    assert {r[0] for r in _rows(db, "select email from main.raw_customers")} == {None}


@pytest.mark.parametrize(("dialect", "sql", "masking"), [
    # the hook's UPDATE before: md5 salted with the public seed; not masking (dictionary attack)
    ("duckdb", "update t set email = md5(cast(email as varchar) || 'lacuna')", False),
    ("duckdb", "update t set email = case when email is null then null else 'user_' || "
               "substr(md5(lower(cast(email as varchar)) || 'lacuna'), 1, 10) end", False),
    # now: the key is looked up from the session, per adapter
    ("duckdb", "update t set email = sha256(getvariable('lacuna_hash_key') || ':' || 'lacuna' "
               "|| ':' || cast(email as varchar))", True),
    ("duckdb", "update t set email = case when email is null then null else 'user_' || substr("
               "sha256(getvariable('lacuna_hash_key') || ':' || 'lacuna' || ':' || "
               "lower(cast(email as varchar))), 1, 10) || '@example.org' end", True),
    ("postgres", "update t set email = encode(sha256(convert_to(current_setting("
                 "'lacuna.hash_key') || ':' || 'lacuna' || ':' || cast(email as text), "
                 "'UTF8')), 'hex')", True),
    ("snowflake", "update t set email = sha2(getvariable('LACUNA_HASH_KEY') || ':' || 'lacuna' "
                  "|| ':' || cast(email as varchar), 256)", True),
    ("bigquery", "update t set email = to_hex(sha256(lacuna_hash_key || ':' || 'lacuna' || ':' "
                 "|| cast(email as string))) where true", True),
])
def test_lineage_reads_the_hook_sql(dialect: str, sql: str, masking: bool) -> None:
    import sqlglot
    from sqlglot import exp

    from lacuna.lineage.records import EdgeKind
    from lacuna.lineage.sql_masking import occurrence

    tree = sqlglot.parse_one(sql, read=dialect)
    assignment = next(tree.find_all(exp.EQ))
    # the value's occurrence (the last one: a CASE tests `email is null` first)
    column = [c for c in assignment.expression.find_all(exp.Column) if c.name == "email"][-1]
    got = occurrence(column, assignment.expression, sqlglot.Dialect.get_or_raise(dialect))
    assert (got.kind is EdgeKind.MASKING) is masking, got
