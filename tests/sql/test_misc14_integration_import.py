"""An integration that does not import because of a module other than its library (DuckDB's
needs sqlglot; a module of Lacuna missing) said "Install a version of duckdb this Lacuna
supports, or uninstall duckdb": the fix is to install that module. The message of
``enable()`` (enforce: IntegrationError; warn: the warning) now says what to install."""

from __future__ import annotations

from importlib import metadata

import pytest

from lacuna.integrations.imports import ungoverned_message


def _installed() -> bool:
    try:
        return bool(metadata.requires("lacuna"))
    except metadata.PackageNotFoundError:
        return False


def test_an_integration_missing_sqlglot_says_to_install_sqlglot():
    said = ungoverned_message("duckdb", ModuleNotFoundError("No module named 'sqlglot'",
                                                            name="sqlglot"))
    assert said.startswith("duckdb is installed but Lacuna cannot govern it: its integration "
                           "(lacuna.integrations.duckdb) does not import")
    assert "Install a version of duckdb" not in said
    fix = said.partition("Fix: ")[2]
    assert "sqlglot" in fix
    if _installed():
        assert fix.startswith('pip install "sqlglot')


def test_an_integration_module_missing_says_to_reinstall_lacuna():
    said = ungoverned_message("polars", ModuleNotFoundError(
        "No module named 'lacuna.integrations.polars'", name="lacuna.integrations.polars"))
    assert "Fix: pip install --force-reinstall lacuna" in said


@pytest.mark.parametrize("name", ["duckdb", "duckdb.typing", None])
def test_the_library_itself_is_still_the_fix_when_it_is_what_fails(name):
    said = ungoverned_message("duckdb", ImportError("cannot import name 'x'", name=name))
    assert said.endswith("Install a version of duckdb this Lacuna supports, or uninstall "
                         "duckdb.")
