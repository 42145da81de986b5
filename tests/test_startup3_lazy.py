"""What ``lacuna.enable()`` imports: the SQL statement analysis (sqlglot) and the HTTP client
(httpx) are imported by their first use, not by the modules that install the hooks and build
a governor; a use whose import fails refuses loudly.

Each module is imported afresh in this process (its ``lacuna`` modules taken out of
``sys.modules`` and put back afterwards), as a new process imports it; no subprocess."""

from __future__ import annotations

import importlib
import sqlite3
import sys
import types
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest
import sqlalchemy as sa

import lacuna
from lacuna.errors import GovernanceViolation


def _lacuna(name: str) -> bool:
    return name == "lacuna" or name.startswith("lacuna.")


@pytest.fixture
def fresh() -> Iterator:
    """``fresh(module, *dropped)``: ``module`` imported again, with every module under each
    of ``dropped`` (packages or modules) taken out of ``sys.modules`` first; returns the new
    module and the names of the modules its import loaded.

    Afterwards the session's ``lacuna`` modules are put back, and with them what their
    packages bind (an import binds a submodule on its package, the root included); ``lacuna``
    modules imported during the test are dropped (they may hold the copies). Other libraries
    imported meanwhile stay: they are the only copy."""
    modules = {n: m for n, m in sys.modules.items() if _lacuna(n)}
    spaces = {n: dict(vars(m)) for n, m in modules.items() if hasattr(m, "__path__")}

    def _fresh(module: str, *dropped: str) -> tuple[types.ModuleType, set[str]]:
        for root in dropped:
            for name in [n for n in sys.modules if n == root or n.startswith(root + ".")]:
                del sys.modules[name]
        before = set(sys.modules)
        new = importlib.import_module(module)
        return new, set(sys.modules) - before

    try:
        yield _fresh
    finally:
        for name in [n for n in sys.modules if _lacuna(n) and n not in modules]:
            del sys.modules[name]
        sys.modules.update(modules)
        for name, saved in spaces.items():
            space = vars(modules[name])
            for key in [k for k, v in space.items()
                        if k not in saved and isinstance(v, types.ModuleType)]:
                del space[key]
            space.update((k, v) for k, v in saved.items() if space.get(k) is not v)


def test_the_sql_hook_imports_without_the_statement_analysis(fresh):
    hook, loaded = fresh("lacuna.sql.hook", "lacuna.sql")
    assert "lacuna.sql" in loaded  # the package, as enable() imports it
    assert not loaded & {"lacuna.sql.govern", "lacuna.sql.statements", "lacuna.sql.tables"}
    assert callable(hook.install)
    package = sys.modules["lacuna.sql"]
    govern = package.govern
    importlib.import_module("lacuna.sql.govern")  # first use: bound on the package by import
    assert package.govern is govern  # the function lacuna.sql.govern(engine), not the module
    assert callable(package.govern)
    assert package.SqlRead is sys.modules["lacuna.sql.govern"].SqlRead


def test_the_policy_package_imports_without_httpx(fresh):
    policy, loaded = fresh("lacuna.policy", "lacuna.policy", "lacuna.http")
    assert not loaded & {"lacuna.http", "lacuna.policy.remote"}
    assert policy.RemoteEngine is sys.modules["lacuna.policy.remote"].RemoteEngine
    with pytest.raises(AttributeError, match="has no attribute 'RemoteEngin'"):
        policy.RemoteEngin  # noqa: B018


def test_the_decision_log_sinks_import_without_httpx(fresh):
    sinks, loaded = fresh("lacuna.policy.log_sinks", "lacuna.policy.log_sinks", "lacuna.http")
    assert "lacuna.http" not in loaded
    sink = sinks.HttpDecisionLog("http://127.0.0.1:9/logs", retries=0)  # the client: made
    try:
        assert "lacuna.http" in sys.modules
        with pytest.raises(OSError, match=r"127\.0\.0\.1:9/logs unreachable"):
            sink.write([{"decision_id": "d1"}])
    finally:
        sink.close()


def test_the_llm_client_imports_without_httpx(fresh):
    client, loaded = fresh("lacuna.classify.llm.client", "lacuna.classify.llm", "lacuna.http")
    assert "lacuna.http" not in loaded
    assert client.CircuitBreaker is sys.modules["lacuna.http"].CircuitBreaker
    with pytest.raises(AttributeError, match="has no attribute 'CircuitBreakr'"):
        client.CircuitBreakr  # noqa: B018


def _database(path: Path) -> str:
    with closing(sqlite3.connect(path)) as con:
        con.execute("CREATE TABLE customers (email TEXT)")
        con.execute("INSERT INTO customers VALUES ('kira@example.com')")
        con.execute("CREATE TABLE counts (n INTEGER)")
        con.commit()
    return f"sqlite:///{path}"


def _counts(path: Path) -> list[int]:
    with closing(sqlite3.connect(path)) as con:
        return [n for (n,) in con.execute("SELECT n FROM counts")]


def test_a_statement_is_decided_through_the_lazy_import(tmp_path, sandbox_config):
    engine = sa.create_engine(_database(tmp_path / "w.db"))
    lacuna.enable(sandbox_config())
    try:
        with engine.begin() as conn:  # allowed: a count of nothing personal
            conn.exec_driver_sql("INSERT INTO counts VALUES (1)")
        with pytest.raises(GovernanceViolation), engine.begin() as conn:
            conn.exec_driver_sql("CREATE TABLE leak AS SELECT email FROM customers")
    finally:
        lacuna.disable()
        engine.dispose()
    assert _counts(tmp_path / "w.db") == [1]


def test_a_statement_whose_governance_cannot_be_imported_does_not_run(
        tmp_path, sandbox_config, monkeypatch):
    engine = sa.create_engine(_database(tmp_path / "w.db"))
    lacuna.enable(sandbox_config())
    try:
        monkeypatch.setitem(sys.modules, "lacuna.sql.govern", None)  # the import fails
        with pytest.raises(ImportError, match=r"lacuna\.sql\.govern"), engine.begin() as conn:
            conn.exec_driver_sql("INSERT INTO counts VALUES (2)")
    finally:
        lacuna.disable()
        engine.dispose()
    assert _counts(tmp_path / "w.db") == []
