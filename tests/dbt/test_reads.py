"""``restrict`` on reads of the example's models through SQL, ``pd.read_sql`` and the server
(a ``dbt:`` section in lacuna.yaml pointing at the built project, environment production)."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest
import sqlalchemy as sa
import yaml

import lacuna
import lacuna.sql
from lacuna.config import config_from_dict
from lacuna.dbt.reads import approval
from lacuna.errors import ConfigError, GovernanceViolation
from lacuna.governor import Governor, configure

ROLE_NAMED = "requires role data_owner or compliance"
ANALYST = {"id": "bob", "role": "analyst"}
OWNER = {"id": "ann", "role": "data_owner", "clearance": "PROPRIETARY"}
STEWARD = "jane.smith@example.com"


def _configure(tmp_path: Path, project: Path, user: dict[str, Any], **dbt: Any) -> Governor:
    return configure(config_from_dict({
        "audit": {"url": f"sqlite:///{tmp_path / 'audit.db'}"},
        "stewards": {"default": [STEWARD]},
        "user": user,
        "dbt": {"project_dir": str(project), "environment": "production", **dbt},
    }))


def _duckdb(project: Path) -> Any:
    pytest.importorskip("duckdb_engine")
    url = f"duckdb:///{project / 'target' / 'warehouse.duckdb'}"
    # NullPool: no connection outlives its block (DuckDB refuses a second open of the session's
    # warehouse with another configuration, and other tests open it with plain duckdb)
    return lacuna.sql.govern(sa.create_engine(url, connect_args={"read_only": True},
                                              poolclass=sa.pool.NullPool))


def _dbt_reads(gov: Governor) -> list[Any]:
    return [r for r in gov.audit.list(limit=100)
            if str((r.data.get("what") or {}).get("destination") or "").startswith("dbt://")][::-1]


def test_config_section_is_validated() -> None:
    with pytest.raises(ConfigError, match=r"dbt\.projet_dir.*did you mean 'project_dir'"):
        config_from_dict({"dbt": {"projet_dir": "x"}})
    with pytest.raises(ConfigError, match="environment"):
        config_from_dict({"dbt": {"project_dir": "x", "environment": "prod"}})
    with pytest.raises(ConfigError, match="warehouse"):
        config_from_dict({"dbt": {"project_dir": "x", "warehouse": "not a url"}})


def test_sql_read_denied_with_the_role_named_and_audited(dbt_built: Any, tmp_path: Path) -> None:
    gov = _configure(tmp_path, dbt_built.dir, ANALYST)
    engine = _duckdb(dbt_built.dir)
    with engine.connect() as con:
        with pytest.raises(GovernanceViolation) as info:
            con.execute(sa.text("select customer_id, email_address "
                                "from main.gold_customer_orders")).fetchall()
        # a model without restricted columns: anyone reads it
        revenue = con.execute(sa.text("select * from gold_revenue")).fetchall()
    assert revenue
    reason = info.value.decision.reasoning
    assert ROLE_NAMED in reason
    assert "email_address" in reason
    assert "production" in reason
    records = _dbt_reads(gov)
    assert [r.data["what"]["destination"] for r in records] == [
        "dbt://lacuna_example/gold_customer_orders"]
    assert records[0].data["decision"]["allowed"] is False
    assert records[0].data["how"]["method"] == "sql.duckdb.select"

    owner = _configure(tmp_path, dbt_built.dir, OWNER)
    with engine.connect() as con:
        rows = con.execute(sa.text('select * from "main"."gold_customer_orders"')).fetchall()
    assert len(rows) > 0
    allowed = _dbt_reads(owner)
    assert sorted(r.data["decision"]["allowed"] for r in allowed) == [False, True]


def test_pd_read_sql_through_a_governed_engine(dbt_built: Any, tmp_path: Path) -> None:
    _configure(tmp_path, dbt_built.dir, ANALYST)
    engine = _duckdb(dbt_built.dir)
    with lacuna.governed(), pytest.raises(GovernanceViolation) as info:
        pd.read_sql("select o.customer_id from gold_customer_orders o", engine)
    assert ROLE_NAMED in info.value.decision.reasoning
    with lacuna.governed(), pytest.raises(GovernanceViolation):
        pd.read_sql_table("gold_customer_orders", engine)
    with lacuna.governed():
        assert len(pd.read_sql("select * from gold_revenue", engine)) > 0
    # the engine alone (pandas not governed): the statement is checked by the SQL hook
    with pytest.raises(GovernanceViolation, match="data_owner"):
        pd.read_sql("select * from gold_customer_orders", engine)


def test_critical_columns_need_an_approval_through_sql(dbt_built: Any, tmp_path: Path) -> None:
    _configure(tmp_path, dbt_built.dir, OWNER)
    engine = _duckdb(dbt_built.dir)
    with pytest.raises(GovernanceViolation) as info, engine.connect() as con:
        con.execute(sa.text("select ssn from bronze_customers")).fetchall()
    assert "ssn" in info.value.decision.reasoning
    assert "explicit approval" in info.value.decision.reasoning
    request = lacuna.request_exception(
        destination="dbt://lacuna_example/bronze_customers", action="read",
        purpose="Quarterly fraud review of customer records", approver=STEWARD)
    with approval(request.id), pytest.raises(GovernanceViolation, match=r"pending|approved"), \
            engine.connect() as con:
        con.execute(sa.text("select ssn from bronze_customers")).fetchall()  # not approved yet
    _configure(tmp_path, dbt_built.dir, {"id": STEWARD, "role": "data_steward"})
    lacuna.approve_exception(request.id)
    _configure(tmp_path, dbt_built.dir, OWNER)
    with approval(request.id), engine.connect() as con:
        assert con.execute(sa.text("select ssn from bronze_customers")).fetchall()
    # outside the block the approval is not used
    with pytest.raises(GovernanceViolation), engine.connect() as con:
        con.execute(sa.text("select ssn from bronze_customers")).fetchall()


def test_copies_and_unreadable_statements_are_reads_too(dbt_built: Any, tmp_path: Path) -> None:
    """Relations are matched by name on any governed engine (no ``warehouse`` set): a copy of
    the model's table into SQLite is restricted too; so are a write that copies from it, a
    subquery, a CTE and a statement sqlglot cannot parse that names it."""
    _configure(tmp_path, dbt_built.dir, ANALYST)
    db = tmp_path / "copy.db"
    with sqlite3.connect(db) as raw:
        raw.execute("create table gold_customer_orders (customer_id int, email_address text)")
        raw.execute("insert into gold_customer_orders values (1, 'a@example.com')")
        raw.execute("create table notes (id int)")
    engine = lacuna.sql.govern(sa.create_engine(f"sqlite:///{db}"))
    with engine.begin() as con:
        with pytest.raises(GovernanceViolation, match="data_owner"):
            con.execute(sa.text("create table mine as select * from gold_customer_orders"))
        with pytest.raises(GovernanceViolation, match="data_owner"):
            con.execute(sa.text("select 1 from notes where id in (select customer_id from "
                                "gold_customer_orders)"))
        assert con.execute(sa.text("select count(*) from notes")).scalar() == 0
        with pytest.raises(GovernanceViolation, match="data_owner"):  # a CTE reads it too
            con.execute(sa.text("with x as (select * from gold_customer_orders) "
                                "select * from x"))
    # a statement sqlglot cannot read that names the model: decided as a read of it (denied
    # before SQLite would see it; allowed, SQLite would raise its own syntax error instead)
    with pytest.raises(GovernanceViolation, match="data_owner"), engine.connect() as con:
        con.execute(sa.text("select * from gold_customer_orders where ("))
    # scoped to the project's warehouse: the SQLite copy is no longer the model's table
    _configure(tmp_path, dbt_built.dir, ANALYST,
               warehouse=f"duckdb:///{dbt_built.warehouse}")
    with engine.connect() as con:
        assert con.execute(sa.text("select count(*) from gold_customer_orders")).scalar() == 1
    with _duckdb(dbt_built.dir).connect() as con, pytest.raises(GovernanceViolation):
        con.execute(sa.text("select * from gold_customer_orders")).fetchall()


def test_a_missing_manifest_fails_closed(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    _configure(tmp_path, tmp_path / "empty", ANALYST)
    with sqlite3.connect(tmp_path / "x.db") as raw:
        raw.execute("create table t (id int)")
    engine = lacuna.sql.govern(sa.create_engine(f"sqlite:///{tmp_path / 'x.db'}"))
    with pytest.raises(GovernanceViolation, match="manifest"), engine.connect() as con:
        con.execute(sa.text("select * from t")).fetchall()


# -- the server ---------------------------------------------------------------------------------

# server roles; the governance roles (requires_role) come from dbt.roles in lacuna.yaml
USERS = {"ana": ("analyst",), "olga": ("analyst",), "jane": ("data_steward",),
         "carl": ("compliance_officer",)}


@pytest.fixture(scope="module")
def dbt_server(dbt_built: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A live ``lacuna serve`` whose lacuna.yaml names the built example, in production."""
    from lacuna.identity import UserStore
    from live_server import free_port, wait_healthy

    root = tmp_path_factory.mktemp("dbt-server")
    db = f"sqlite:///{root / 'state.db'}"
    config = root / "lacuna.yaml"
    config.write_text(yaml.safe_dump({
        "stewards": {"default": ["jane"]},
        "clearances": {"PROPRIETARY": ["analyst", "data_steward", "compliance_officer"]},
        "lineage": {"openlineage": {"enabled": False}},
        "dbt": {"project_dir": str(dbt_built.dir), "environment": "production",
                "roles": {"data_owner": ["olga"], "compliance": ["compliance_officer"]}},
    }), encoding="utf-8")
    from lacuna import keyfile
    from lacuna.signing import Keyring, Signer

    key = keyfile.load_or_create_key(root / "home" / "signing.key", what="signing key",
                                     env_name="LACUNA_SIGNING_KEY")  # the server's (its home)
    users = UserStore(db, keyring=Keyring(Signer(key)))
    tokens = {name: users.add(name, roles=roles, replace=True) for name, roles in USERS.items()}
    users.close()
    src = Path(__file__).resolve().parents[2] / "src"
    env = {"PATH": "/usr/bin:/bin", "LACUNA_HOME": str(root / "home"), "PYTHONPATH": str(src),
           "LACUNA_EMBEDDINGS_BUILD": "never"}
    port = free_port()
    log = root / "server.log"
    with log.open("wb") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "lacuna", "serve", "--port", str(port), "--db", db,
             "--config", str(config)], env=env, cwd=root, stdout=subprocess.DEVNULL,
            stderr=err)
    url = f"http://127.0.0.1:{port}"
    wait_healthy(url, proc, log)

    def call(user: str, method: str, path: str, body: Any = None) -> httpx.Response:
        return httpx.request(method, url + path, json=body, timeout=30,
                             headers={"Authorization": f"Bearer {tokens[user]}"})

    call.url = url  # type: ignore[attr-defined]  # for a client with server: (below)
    call.tokens = tokens  # type: ignore[attr-defined]
    yield call
    proc.terminate()
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()


def _decide(call: Any, user: str, model: str, scheme: str = "dbt", **extra: Any
            ) -> dict[str, Any]:
    r = call(user, "POST", "/api/v1/decide", {"operation": {
        "action": "read", "destination": f"{scheme}://lacuna_example/{model}",
        "environment": "development",  # the client's word does not lift production's rules
        "classification": {"tier": "PUBLIC"}, **extra}})
    assert r.status_code == 200, r.text
    answer: dict[str, Any] = r.json()
    return answer


def test_server_decides_model_reads(dbt_server: Any) -> None:
    denied = _decide(dbt_server, "ana", "gold_customer_orders")
    assert denied["decision"]["allowed"] is False
    assert ROLE_NAMED in denied["decision"]["reasoning"]
    assert denied["audit"] is not None  # recorded
    got = dbt_server("jane", "GET", f"/api/v1/audit/{denied['audit']['id']}")
    assert got.status_code == 200, got.text
    record = got.json()
    assert record["what"]["destination"] == "dbt://lacuna_example/gold_customer_orders", record
    assert record["decision"]["allowed"] is False
    # the model's classification, not the client's PUBLIC
    assert record["what"]["tier"] == "PROPRIETARY", record
    assert _decide(dbt_server, "olga", "gold_customer_orders")["decision"]["allowed"] is True
    assert _decide(dbt_server, "carl", "gold_customer_orders")["decision"]["allowed"] is True
    assert _decide(dbt_server, "ana", "gold_revenue")["decision"]["allowed"] is True
    unknown = _decide(dbt_server, "olga", "gold_nothing")["decision"]
    assert unknown["allowed"] is False
    assert "gold_nothing" in unknown["reasoning"]
    other = _decide(dbt_server, "olga", "x").get("decision")
    assert other is not None
    assert other["allowed"] is False


def test_a_model_read_is_a_model_read_however_its_scheme_is_spelled(dbt_server: Any) -> None:
    """URI schemes are case-insensitive: ``DBT://`` once passed as some other destination,
    decided on the client's PUBLIC claim and allowed (by the FastAPI route and the fast lane
    alike: both ask :func:`lacuna.dbt.reads.is_model_uri`)."""
    for scheme in ("DBT", "Dbt", "DBT"):
        denied = _decide(dbt_server, "ana", "gold_customer_orders", scheme=scheme)["decision"]
        assert denied["allowed"] is False, (scheme, denied["reasoning"])
        assert ROLE_NAMED in denied["reasoning"]
        critical = _decide(dbt_server, "olga", "bronze_customers", scheme=scheme)["decision"]
        assert critical["allowed"] is False, (scheme, critical["reasoning"])
    assert _decide(dbt_server, "olga", "gold_customer_orders", scheme="DBT")[
        "decision"]["allowed"] is True


def _on_server(call: Any, operation_ids: set[str]) -> dict[str, dict[str, Any]]:
    """The server's audit records of these operations (a steward reads every caller's)."""
    records = call("carl", "GET", "/api/v1/audit?limit=200").json()["records"]
    return {r["operation_id"]: r for r in records
            if r.get("operation_id") in operation_ids and r.get("kind") != "outcome"}


def test_a_client_with_server_has_its_model_reads_decided_and_recorded_there(
        dbt_server: Any, dbt_built: Any, tmp_path: Path, monkeypatch: Any) -> None:
    """A client with ``server:`` and a ``dbt:`` section: its SQL and read_model reads of
    models are the server's to decide and record (they were decided here, a denial recorded
    nowhere, 'did not record' logged, and an allowed read denied for want of a record)."""
    from lacuna.dbt.runtime import read_model

    monkeypatch.setenv("LACUNA_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)

    def client(user: str) -> Governor:
        return configure(config_from_dict({
            "server": {"url": dbt_server.url, "token": dbt_server.tokens[user],
                       "deadline_ms": 20000, "timeout_ms": 15000},
            "lineage": {"openlineage": {"enabled": False}},
            "dbt": {"project_dir": str(dbt_built.dir), "environment": "production"}}))

    client("ana")
    engine = _duckdb(dbt_built.dir)
    with engine.connect() as con:
        with pytest.raises(GovernanceViolation) as denied:
            con.execute(sa.text("select email_address from gold_customer_orders")).fetchall()
        assert con.execute(sa.text("select * from gold_revenue")).fetchall()  # allowed
    with pytest.raises(GovernanceViolation) as denied_read:
        read_model(dbt_built.dir, "gold_customer_orders")
    ids = {denied.value.decision.operation_id, denied_read.value.decision.operation_id}
    on_server = _on_server(dbt_server, ids)
    assert set(on_server) == ids  # before: on no trail
    for record in on_server.values():
        assert record["decision"]["allowed"] is False
        assert record["who"]["user_id"] == "ana"
        assert record["what"]["destination"] == "dbt://lacuna_example/gold_customer_orders"
    assert ROLE_NAMED in denied.value.decision.reasoning
    client("olga")  # the allowed path: read, and recorded on the server too
    frame = read_model(dbt_built.dir, "gold_customer_orders")
    assert len(frame) > 0
    records = dbt_server("carl", "GET", "/api/v1/audit?limit=50").json()["records"]
    assert any(r["who"]["user_id"] == "olga" and r["decision"]["allowed"] is True
               and r["what"]["destination"] == "dbt://lacuna_example/gold_customer_orders"
               and r["how"]["method"] == "lacuna.dbt.read_model"
               for r in records if r.get("kind") != "outcome"), records[:3]


def test_server_critical_read_needs_an_approved_exception(dbt_server: Any) -> None:
    first = _decide(dbt_server, "olga", "bronze_customers")["decision"]
    assert first["allowed"] is False
    assert "explicit approval" in first["reasoning"]
    r = dbt_server("olga", "POST", "/api/v1/exceptions", {
        "destination": "dbt://lacuna_example/bronze_customers", "action": "read",
        "purpose": "Quarterly fraud review of customer records", "approver": "jane"})
    assert r.status_code == 201, r.text
    exc_id = r.json()["id"]
    pending = _decide(dbt_server, "olga", "bronze_customers", exception_id=exc_id)["decision"]
    assert pending["allowed"] is False
    assert exc_id in pending["reasoning"]
    r = dbt_server("jane", "POST", f"/api/v1/exceptions/{exc_id}/approve", {})
    assert r.status_code == 200, r.text
    granted = _decide(dbt_server, "olga", "bronze_customers", exception_id=exc_id)["decision"]
    assert granted["allowed"] is True, granted["reasoning"]
    # the grant is olga's: ana still lacks the role, and another model is not covered
    assert not _decide(dbt_server, "ana", "bronze_customers",
                       exception_id=exc_id)["decision"]["allowed"]
    assert not _decide(dbt_server, "olga", "silver_customers",
                       exception_id=exc_id)["decision"]["allowed"]


def test_sql_read_through_another_catalog_name_is_denied(dbt_built: Any, tmp_path: Path) -> None:
    # the warehouse (a copy) attached under another name: wh.main.model and wh.model name the
    # model's table as much as main.model does (they used to be let through)
    pytest.importorskip("duckdb_engine")
    import shutil

    copy = tmp_path / "copy.duckdb"
    shutil.copy(dbt_built.warehouse, copy)
    _configure(tmp_path, dbt_built.dir, ANALYST)
    engine = lacuna.sql.govern(sa.create_engine("duckdb:///:memory:",
                                                poolclass=sa.pool.NullPool))
    with engine.connect() as con:
        con.execute(sa.text(f"attach '{copy}' as wh (read_only)"))
        for sql in ("select email_address from wh.main.gold_customer_orders",
                    "select email_address from wh.gold_customer_orders",
                    'select email from "WH"."main"."bronze_customers"'):
            with pytest.raises(GovernanceViolation, match="requires role"):
                con.execute(sa.text(sql)).fetchall()
        assert con.execute(sa.text("select * from wh.main.gold_revenue")).fetchall()
    # scoped to the project's warehouse: a DuckDB engine on another database still reaches it
    # by ATTACH, so its statements are checked all the same
    _configure(tmp_path, dbt_built.dir, ANALYST, warehouse=f"duckdb:///{dbt_built.warehouse}")
    scoped = lacuna.sql.govern(sa.create_engine("duckdb:///:memory:",
                                                poolclass=sa.pool.NullPool))
    with scoped.connect() as con:
        con.execute(sa.text(f"attach '{copy}' as wh (read_only)"))
        with pytest.raises(GovernanceViolation, match="requires role"):
            con.execute(sa.text("select email from wh.main.bronze_customers")).fetchall()
