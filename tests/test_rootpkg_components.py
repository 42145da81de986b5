"""A part of Lacuna imported on first use that fails to import (sqlglot missing or broken, a
module of Lacuna missing) refuses what needed it with a ComponentImportError: which component,
why (the import error, chained), and what to install. In-process: the import is made to fail
through ``sys.modules`` (monkeypatch puts every module back)."""

from __future__ import annotations

import pickle
import sqlite3
import sys
from contextlib import closing
from importlib import metadata
from pathlib import Path

import pytest
import sqlalchemy as sa

import lacuna
import lacuna.sql
from lacuna.errors import (
    ComponentImportError,
    GovernanceViolation,
    IntegrationError,
    LacunaError,
    install_hint,
)


def _database(path: Path) -> str:
    with closing(sqlite3.connect(path)) as con:
        con.execute("CREATE TABLE counts (n INTEGER)")
        con.commit()
    return f"sqlite:///{path}"


def _counts(path: Path) -> list[int]:
    with closing(sqlite3.connect(path)) as con:
        return [n for (n,) in con.execute("SELECT n FROM counts")]


def _installed() -> bool:
    try:
        return bool(metadata.requires("lacuna"))
    except metadata.PackageNotFoundError:
        return False


def test_a_statement_whose_analysis_lacks_sqlglot_is_refused_saying_what_to_install(
        tmp_path, sandbox_config, monkeypatch):
    engine = sa.create_engine(_database(tmp_path / "w.db"))
    lacuna.enable(sandbox_config())
    try:
        with engine.begin() as conn:  # allowed, with the analysis importable
            conn.exec_driver_sql("INSERT INTO counts VALUES (1)")
        # a new process without sqlglot: the analysis and the module that imports sqlglot are
        # imported again, and sqlglot is not there
        monkeypatch.delitem(sys.modules, "lacuna.sql.govern")
        monkeypatch.delitem(sys.modules, "lacuna.lineage.sql_dialects")
        for name in [n for n in sys.modules if n == "sqlglot" or n.startswith("sqlglot.")]:
            monkeypatch.setitem(sys.modules, name, None)  # each: a submodule loaded is found
        monkeypatch.setitem(sys.modules, "sqlglot", None)
        with pytest.raises(ComponentImportError) as refused, engine.begin() as conn:
            conn.exec_driver_sql("INSERT INTO counts VALUES (2)")
    finally:
        lacuna.disable()
        engine.dispose()
    assert _counts(tmp_path / "w.db") == [1]  # the second statement did not run
    error = refused.value
    assert isinstance(error, IntegrationError)
    assert isinstance(error, ImportError)  # as the bare error it replaces
    assert isinstance(error.__cause__, ImportError)
    assert (error.name or "").split(".")[0] == "sqlglot"
    message = str(error)
    assert message.startswith("Lacuna's SQL statement analysis (lacuna.sql.govern")
    assert "The statement did not run" in message
    fix = message.partition("Fix: ")[2]
    assert "sqlglot" in fix
    if _installed():
        assert fix.startswith('pip install "sqlglot')  # the requirement, with its version


def test_a_statement_whose_analysis_module_is_missing_says_to_reinstall(
        tmp_path, sandbox_config, monkeypatch):
    engine = sa.create_engine(_database(tmp_path / "w.db"))
    lacuna.enable(sandbox_config())
    try:
        monkeypatch.setitem(sys.modules, "lacuna.sql.govern", None)
        with pytest.raises(ComponentImportError, match=r"lacuna\.sql\.govern") as refused, \
                engine.begin() as conn:
            conn.exec_driver_sql("INSERT INTO counts VALUES (2)")
    finally:
        lacuna.disable()
        engine.dispose()
    assert _counts(tmp_path / "w.db") == []
    assert "pip install --force-reinstall lacuna" in str(refused.value)


def test_a_root_name_whose_module_does_not_import_is_refused_and_not_bound(monkeypatch):
    enable = vars(lacuna)["enable"]
    getattr_ = vars(lacuna)["__getattr__"]  # what `lacuna.enable` runs on its first use
    with monkeypatch.context() as patch:
        patch.setitem(sys.modules, "lacuna.api", None)
        with pytest.raises(ComponentImportError, match=r"^lacuna\.enable \(the module lacuna\."
                           r"api\) could not be imported .*lacuna\.enable is not available\. "
                           r"Fix: "):
            getattr_("enable")
        patch.setitem(sys.modules, "lacuna.keystore", None)  # a submodule, by its name
        with pytest.raises(ComponentImportError, match=r"^lacuna\.keystore could not be "):
            getattr_("keystore")
        assert vars(lacuna)["enable"] is enable  # nothing bound by the failure
    assert getattr_("enable") is sys.modules["lacuna.api"].enable  # the allowed path


def test_classify_sql_without_its_lineage_module_is_refused(monkeypatch):
    schema = {"customers": {"email": "pii"}}
    allowed = lacuna.classify_sql("SELECT email FROM customers", schema=schema)
    assert allowed.classification.tier is lacuna.Tier.PROPRIETARY
    monkeypatch.setitem(sys.modules, "lacuna.lineage.sql", None)
    with pytest.raises(ComponentImportError, match=r"^Lacuna's SQL column lineage") as refused:
        lacuna.classify_sql("SELECT email FROM customers", schema=schema)
    assert "The statement was not classified" in str(refused.value)


def test_the_sql_package_names_import_through_the_same_refusal(monkeypatch, tmp_path):
    engine = sa.create_engine(_database(tmp_path / "r.db"))
    try:
        with monkeypatch.context() as patch:
            patch.delitem(lacuna.sql.__dict__, "SqlRead", raising=False)  # bound on first use
            patch.setitem(sys.modules, "lacuna.sql.govern", None)
            with pytest.raises(ComponentImportError, match=r"lacuna\.sql\.SqlRead is not "):
                lacuna.sql.SqlRead  # noqa: B018
            patch.setitem(sys.modules, "lacuna.sql.tables", None)
            with pytest.raises(ComponentImportError, match="The table 'counts' was not "):
                lacuna.sql.table_classification(engine, "counts")
        assert lacuna.sql.SqlRead is sys.modules["lacuna.sql.govern"].SqlRead
    finally:
        engine.dispose()


def test_other_errors_of_the_block_pass_through():
    from lacuna.errors import needed

    with pytest.raises(KeyError), needed("x", "y"):
        raise KeyError("k")
    inner = ComponentImportError("inner", "It did not run", ImportError("no", name="a"))
    with pytest.raises(ComponentImportError) as kept, needed("outer", "y"):
        raise inner
    assert kept.value is inner
    with needed("x", "y"):  # nothing raised: nothing to translate
        pass


@pytest.mark.parametrize(("module", "wanted"), [
    ("lacuna.sql.govern", "pip install --force-reinstall lacuna"),
    (None, "pip install --force-reinstall lacuna"),
    ("not_a_package_anywhere", "the module 'not_a_package_anywhere'"),
])
def test_install_hint_without_a_requirement(module, wanted):
    assert wanted in install_hint(module)


@pytest.mark.skipif(not _installed(), reason="lacuna is not installed: no requirements to read")
def test_install_hint_names_the_extra_or_the_requirement():
    requires = metadata.requires("lacuna") or []
    duckdb = [r for r in requires if r.startswith("duckdb>") and "extra" in r]
    assert duckdb  # an extra provides duckdb
    assert install_hint("duckdb") == ('pip install "lacuna[duckdb]" (the extra that provides '
                                      "'duckdb')")
    core = next(r for r in requires if r.startswith("pyyaml"))  # imported as yaml
    assert install_hint("yaml.constructor") == (f'pip install "{core}" (the package \'yaml\', '
                                                "which Lacuna requires)")


def test_the_error_pickles_with_its_message_and_component():
    error = ComponentImportError("the x", "It did not run",
                                 ModuleNotFoundError("No module named 'y'", name="y"))
    back = pickle.loads(pickle.dumps(error))
    assert type(back) is ComponentImportError
    assert (str(back), back.component, back.name) == (str(error), "the x", "y")
    assert isinstance(back, LacunaError)
    assert not isinstance(back, GovernanceViolation)
