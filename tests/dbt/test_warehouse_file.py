"""Which DuckDB file ``lacuna dbt`` classify, suggest, apply, read and record use: the path of
the profile's target output (lacuna.dbt.locate), not ``target/<database>.duckdb`` by name.

Each test moves the built example's warehouse out of ``target/`` and points ``profiles.yml`` at
it, leaving a stale copy (the decoy) at ``target/warehouse.duckdb``. The two files are told
apart by their values: the real warehouse's ``raw_orders.status`` holds e-mail addresses, the
decoy's IPv4 addresses, so the class ``classify`` suggests for that undeclared column says
which file it sampled; ``apply`` is read back from both files.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from lacuna.cli import app
from lacuna.dbt import ManifestError, load_project
from lacuna.dbt.record import record_run
from lacuna.dbt.runtime import apply_environment, read_model, warehouse_path
from lacuna.errors import IntegrationError
from lacuna.model import User

from .conftest import warehouse_rows as _rows

duckdb = pytest.importorskip("duckdb")
runner = CliRunner(env={"COLUMNS": "200", "NO_COLOR": "1"})
STATUS = "seed.lacuna_example.raw_orders"
NAMES = "select first_name from main.bronze_customers order by customer_id"


def _execute(db: Path, *sql: str) -> None:
    con = duckdb.connect(str(db))
    try:
        for statement in sql:
            con.execute(statement)
    finally:
        con.close()


def _profile(project: Path, outputs: str, target: str = "dev") -> None:
    (project / "profiles.yml").write_text(
        f"lacuna_example:\n  target: {target}\n  outputs:\n{outputs}", encoding="utf-8")


def _move(project: Path) -> tuple[Path, Path]:
    """The warehouse moved to ``../shared/warehouse.duckdb`` (e-mails in raw_orders.status),
    and a stale copy left at ``target/warehouse.duckdb`` (IP addresses there)."""
    decoy = project / "target" / "warehouse.duckdb"
    real = project.parent / "shared" / "warehouse.duckdb"
    real.parent.mkdir()
    shutil.copy(decoy, real)
    _execute(real, "update main.raw_orders set status = 'buyer' || order_id || '@example.com'")
    _execute(decoy, "update main.raw_orders set status = '10.1.2.' || (order_id % 250)")
    return real, decoy


def _status(result: Any) -> str | None:
    assert result.exit_code == 0, result.output
    column = json.loads(result.output)[STATUS]["columns"]["status"]
    return str(column.get("pii_type"))


def test_relative_path_outside_target_is_classified_and_applied(built_copy: Path) -> None:
    real, decoy = _move(built_copy)
    _profile(built_copy, "    dev: {type: duckdb, path: ../shared/warehouse.duckdb}\n")
    classify = ["dbt", "classify", "--project-dir", str(built_copy), "--json"]
    assert _status(runner.invoke(app, classify)) == "email"  # the real file, not the decoy
    decoy_names = _rows(decoy, NAMES)
    real_names = _rows(real, NAMES)
    applied = runner.invoke(app, ["dbt", "apply", "--project-dir", str(built_copy), "-e",
                                  "development", "--seed", "3"])
    assert applied.exit_code == 0, applied.output
    assert str(real) in " ".join(applied.output.split())
    assert "first_name=synthesize" in applied.output
    after = _rows(real, NAMES)
    assert len(after) == len(real_names)
    assert all(a != b for a, b in zip(after, real_names, strict=True))  # rewritten
    assert _rows(decoy, NAMES) == decoy_names  # the stale copy is untouched


def test_absolute_path_is_read_and_recorded_not_the_decoy(built_copy: Path) -> None:
    real, decoy = _move(built_copy)
    _execute(real, "delete from main.gold_revenue where rowid % 2 = 0")
    _execute(decoy, "drop table lacuna_audit.lacuna_events")
    _profile(built_copy, f"    dev: {{type: duckdb, path: '{real}'}}\n")
    assert warehouse_path(load_project(built_copy)) == real
    frame = read_model(built_copy, "gold_revenue", user=User(id="bob", role="analyst"),
                       environment="production")
    assert len(frame) == _rows(real, "select count(*) from main.gold_revenue")[0][0]
    assert len(frame) != _rows(decoy, "select count(*) from main.gold_revenue")[0][0]
    report = record_run(built_copy)
    assert report.warehouse == str(real)
    assert report.hook_rows > 0  # the decoy has no hook rows
    assert report.notes == ()


def test_env_var_path_is_rendered(built_copy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real, _ = _move(built_copy)
    _profile(built_copy, "    dev: {type: duckdb, path: \"{{ env_var('LACUNA_TEST_WH') }}\"}\n")
    monkeypatch.setenv("LACUNA_TEST_WH", str(real))
    assert _status(runner.invoke(app, ["dbt", "classify", "--project-dir", str(built_copy),
                                       "--json"])) == "email"
    suggested = runner.invoke(app, ["dbt", "suggest", "--project-dir", str(built_copy)])
    assert suggested.exit_code == 0, suggested.output
    assert "pii_type: email" in suggested.output
    assert "ip_address" not in suggested.output
    monkeypatch.setenv("LACUNA_TEST_WH", str(built_copy / "target" / "warehouse.duckdb"))
    assert _status(runner.invoke(app, ["dbt", "classify", "--project-dir", str(built_copy),
                                       "--json"])) == "ip_address"


def test_target_option_selects_the_output(built_copy: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    real, decoy = _move(built_copy)
    _profile(built_copy, "    dev: {type: duckdb, path: target/warehouse.duckdb}\n"
             f"    prod: {{type: duckdb, path: '{real}'}}\n"
             "    pg: {type: postgres, host: h, user: u, password: p, dbname: warehouse, "
             "schema: main, port: 5432}\n")
    classify = ["dbt", "classify", "--project-dir", str(built_copy), "--json"]
    assert _status(runner.invoke(app, classify)) == "ip_address"  # dev: target/
    assert _status(runner.invoke(app, [*classify, "--target", "prod"])) == "email"
    monkeypatch.setenv("DBT_TARGET", "prod")
    assert _status(runner.invoke(app, classify)) == "email"
    assert _status(runner.invoke(app, [*classify, "-t", "dev"])) == "ip_address"  # -t wins
    monkeypatch.delenv("DBT_TARGET")
    before = {"real": _rows(real, NAMES), "decoy": _rows(decoy, NAMES)}
    applied = runner.invoke(app, ["dbt", "apply", "--project-dir", str(built_copy), "-e",
                                  "development", "-t", "prod"])
    assert applied.exit_code == 0, applied.output
    assert _rows(real, NAMES) != before["real"]
    assert _rows(decoy, NAMES) == before["decoy"]
    # a non-DuckDB output keeps a clear error (the manifest alone would say duckdb)
    with pytest.raises(IntegrationError, match=r"outputs: pg\) is a postgres output, not "
                       "DuckDB"):
        warehouse_path(load_project(built_copy, verify=False), target="pg")


def test_missing_file_is_an_error_naming_the_profile_not_the_decoy(built_copy: Path) -> None:
    _, decoy = _move(built_copy)
    _profile(built_copy, "    dev: {type: duckdb, path: ../elsewhere/warehouse.duckdb}\n")
    decoy_names = _rows(decoy, NAMES)
    where = "profiles.yml (lacuna_example: outputs: dev): path '../elsewhere/warehouse.duckdb'"
    applied = runner.invoke(app, ["dbt", "apply", "--project-dir", str(built_copy), "-e",
                                  "development"])
    assert isinstance(applied.exception, ManifestError), applied.output
    message = str(applied.exception)
    assert where in message
    assert "does not exist" in message
    assert "dbt build" in message
    assert "--database" in message
    assert _rows(decoy, NAMES) == decoy_names
    read = runner.invoke(app, ["dbt", "read", "gold_revenue", "--project-dir", str(built_copy),
                               "-e", "production"])
    assert isinstance(read.exception, ManifestError)
    assert where in str(read.exception)
    # classify still works (before `dbt build` there is no warehouse), without sampling the
    # decoy, and says why
    classify = ["dbt", "classify", "--project-dir", str(built_copy)]
    assert _status(runner.invoke(app, [*classify, "--json"])) != "ip_address"
    shown = runner.invoke(app, classify)
    assert shown.exit_code == 0, shown.output
    assert where in " ".join(shown.output.split())
    # record records the run without the decoy's hook rows, and says why
    report = record_run(built_copy)
    assert report.hook_rows == 0
    assert report.warehouse is None
    assert len(report.notes) == 1
    assert where in report.notes[0]
    assert len(report.nodes) >= 8


def test_database_option_wins_and_must_exist(built_copy: Path) -> None:
    real, decoy = _move(built_copy)
    _profile(built_copy, "    dev: {type: duckdb, path: ../shared/warehouse.duckdb}\n")
    classify = ["dbt", "classify", "--project-dir", str(built_copy), "--json"]
    assert _status(runner.invoke(app, [*classify, "--database", str(decoy)])) == "ip_address"
    missing = built_copy / "nowhere.duckdb"
    for command in (classify, ["dbt", "apply", "--project-dir", str(built_copy), "-e",
                               "development"]):
        out = runner.invoke(app, [*command, "--database", str(missing)])
        assert isinstance(out.exception, ManifestError), out.output
        assert f"--database {missing}: no such file" in str(out.exception)
    assert not missing.exists()  # apply did not create an empty warehouse
    with pytest.raises(ManifestError, match="no such file"):
        record_run(built_copy, database=missing)
    before = {"real": _rows(real, NAMES), "decoy": _rows(decoy, NAMES)}
    assert apply_environment(built_copy, environment="development",
                             database=decoy).database == str(decoy)
    assert _rows(decoy, NAMES) != before["decoy"]
    assert _rows(real, NAMES) == before["real"]  # --database wins over the profile


def test_unreadable_target_falls_back_to_the_database_name(
        built_copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # no profiles.yml: the target cannot be read, so <database>.duckdb in target/ is used,
    # and the answer says how it was found
    from lacuna.dbt.locate import locate

    (built_copy / "profiles.yml").unlink()
    monkeypatch.setenv("DBT_PROFILES_DIR", str(tmp_path / "no-profiles"))
    project = load_project(built_copy, verify=False)
    assert warehouse_path(project) == built_copy / "target" / "warehouse.duckdb"
    found = locate(project)
    assert found.path == built_copy / "target" / "warehouse.duckdb"
    assert found.problem == ""
    assert "by the manifest's database name" in found.source
    assert "there is no profiles.yml" in found.source
    (built_copy / "target" / "warehouse.duckdb").unlink()
    with pytest.raises(ManifestError, match=r"no DuckDB warehouse found .* pass --database"):
        warehouse_path(project)
