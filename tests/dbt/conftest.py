"""The example dbt project, built once per test session.

``dbt_built`` copies ``examples/dbt_project`` to a temporary folder, points its ``packages.yml``
at the ``lacuna`` dbt package of this checkout, and runs ``dbt deps`` and ``dbt build`` once;
tests read the manifest, run results and the DuckDB warehouse it leaves. Without dbt the
fixture skips with the reason. ``dbt_deps_copy`` is a fresh unbuilt copy per test, with its
packages installed (``dbt deps`` runs once per session).

Every dbt run of the session (the tests', ``load_project(parse=True)``'s, a ``lacuna``
subprocess's) is forked from one process that has imported dbt already (``dbt_zygote.py``):
``LACUNA_DBT`` points at its client for the session. ``LACUNA_TEST_DBT_FORK=0`` runs the
``dbt`` executable instead.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from lacuna.dbt import PACKAGE_DIR
from lacuna.dbt.manifest import find_dbt, run_dbt

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "dbt_project"
_IGNORE = shutil.ignore_patterns("target", "dbt_packages", "logs", "*.duckdb*", ".user.yml",
                                 "package-lock.yml")


@dataclass(frozen=True)
class BuiltProject:
    dir: Path
    warehouse: Path
    build_output: str

    @property
    def target(self) -> Path:
        return self.dir / "target"


def warehouse_rows(db: Path, sql: str) -> list[tuple[Any, ...]]:
    """The rows ``sql`` reads from the DuckDB file ``db``, opened read-only for the query."""
    import duckdb

    con = duckdb.connect(str(db), read_only=True)
    try:
        return [tuple(r) for r in con.execute(sql).fetchall()]
    finally:
        con.close()


def copy_example(dest: Path) -> Path:
    """The example project at ``dest`` with its package path made absolute."""
    shutil.copytree(EXAMPLE, dest, ignore=_IGNORE)
    (dest / "packages.yml").write_text(f"packages:\n  - local: {PACKAGE_DIR}\n", encoding="utf-8")
    return dest


def _require_dbt() -> None:
    if find_dbt(EXAMPLE) is None:
        pytest.skip("dbt is not installed (scripts/setup.sh puts it in .venv-dbt; or set "
                    "LACUNA_DBT)")


ZYGOTE = Path(__file__).resolve().with_name("dbt_zygote.py")


def _dbt_python(dbt: Path) -> str | None:
    """The Python of a ``dbt`` console script (its ``#!`` line), or None for anything else."""
    try:
        text = dbt.read_text(encoding="utf-8", errors="replace")[:2000]
    except OSError:
        return None
    first = text.split("\n", 1)[0]
    if not first.startswith("#!") or "from dbt.cli.main import cli" not in text:
        return None
    python = first[2:].strip()
    return python if " " not in python and Path(python).is_file() else None


@pytest.fixture(scope="session", autouse=True)
def dbt_fork_server() -> Iterator[None]:
    """``LACUNA_DBT`` is the fork server's client for the session (started at its first run)."""
    dbt = find_dbt(EXAMPLE)
    python = _dbt_python(dbt) if dbt is not None else None
    if python is None or os.environ.get("LACUNA_TEST_DBT_FORK") == "0":
        yield
        return
    folder = Path(tempfile.mkdtemp(prefix="dbtz-"))
    sock = folder / "s"
    client = folder / "dbt"
    client.write_text(
        f"#!{python} -S\nimport sys\nsys.path.insert(0, {str(ZYGOTE.parent)!r})\n"
        f"import dbt_zygote\n"
        f"sys.exit(dbt_zygote.client({str(sock)!r}, {python!r}, sys.argv[1:]))\n",
        encoding="utf-8")
    client.chmod(0o755)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LACUNA_DBT", str(client))
        try:
            yield
        finally:
            pid = folder / "s.pid"
            if pid.is_file():
                import signal

                with contextlib.suppress(OSError, ValueError):
                    os.kill(int(pid.read_text()), signal.SIGTERM)
                _collect_cpu(folder / "s.cpu")
            shutil.rmtree(folder, ignore_errors=True)


def _collect_cpu(written: Path) -> None:
    """Wait (10 s at most) for the stopped fork server's last file, its CPU seconds (its own
    and its runs', which no ``time`` of pytest counts): with ``LACUNA_TEST_DBT_CPU_LOG`` set,
    appended to that file, to measure the suite."""
    import time

    deadline = time.monotonic() + 10
    while not written.is_file() and time.monotonic() < deadline:
        time.sleep(0.05)
    log = os.environ.get("LACUNA_TEST_DBT_CPU_LOG")
    if log and written.is_file():
        with open(log, "a", encoding="utf-8") as out:
            out.write(written.read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def dbt_with_deps(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example project after ``dbt deps``, unbuilt, once per session (copy it to change)."""
    _require_dbt()
    project = copy_example(tmp_path_factory.mktemp("dbt-deps") / "dbt_project")
    run_dbt(["deps"], project)
    return project


@pytest.fixture(scope="session")
def dbt_built(dbt_with_deps: Path, tmp_path_factory: pytest.TempPathFactory) -> BuiltProject:
    """``dbt build`` of the example project, once per session."""
    project = tmp_path_factory.mktemp("dbt") / "dbt_project"
    shutil.copytree(dbt_with_deps, project, symlinks=True)
    done = run_dbt(["build"], project)
    return BuiltProject(dir=project, warehouse=project / "target" / "warehouse.duckdb",
                        build_output=done.stdout)


def add_extras(project: Path) -> Path:
    """Two models the example lacks, under ``models/extras``: ``dim_contacts``, versioned (v1
    builds customer_id and city, v2, the latest, customer_id and the e-mail), and
    ``crm_customers``, ``select *`` from a source whose YAML lists no columns (the hooks'
    own table, there from on-run-start)."""
    folder = project / "models" / "extras"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "dim_contacts_v1.sql").write_text(
        "select customer_id, city from {{ ref('raw_customers') }}\n", encoding="utf-8")
    (folder / "dim_contacts_v2.sql").write_text(
        "select customer_id, email from {{ ref('raw_customers') }}\n", encoding="utf-8")
    (folder / "crm_customers.sql").write_text(
        "select * from {{ source('crm', 'customers') }}\n", encoding="utf-8")
    (folder / "schema.yml").write_text(
        "version: 2\nsources:\n  - name: crm\n    schema: lacuna_audit\n    tables:\n"
        "      - name: customers\n        identifier: lacuna_events\n"
        "models:\n  - name: dim_contacts\n    versions:\n      - v: 1\n      - v: 2\n",
        encoding="utf-8")
    return project


@pytest.fixture(scope="session")
def dbt_extras(dbt_with_deps: Path, tmp_path_factory: pytest.TempPathFactory) -> BuiltProject:
    """``dbt build`` of the example project with :func:`add_extras`, once per session."""
    project = tmp_path_factory.mktemp("dbt-extras") / "dbt_project"
    shutil.copytree(dbt_with_deps, project, symlinks=True)
    done = run_dbt(["build"], add_extras(project))
    return BuiltProject(dir=project, warehouse=project / "target" / "warehouse.duckdb",
                        build_output=done.stdout)


@pytest.fixture
def built_copy(dbt_built: BuiltProject, tmp_path: Path) -> Path:
    """A private copy of the built project (manifest, run results, warehouse) to change."""
    dest = tmp_path / "built"
    shutil.copytree(dbt_built.dir, dest, symlinks=True)
    return dest


@pytest.fixture
def dbt_deps_copy(dbt_with_deps: Path, tmp_path: Path) -> Path:
    """A fresh, unbuilt copy of the example project with its packages installed."""
    dest = tmp_path / "dbt_project"
    shutil.copytree(dbt_with_deps, dest, symlinks=True)
    return dest


# -- small generated manifests (no dbt needed) ---------------------------------------------


def _model(name: str, *, sql: str | None = None, parents: tuple[str, ...] = (),
          columns: dict[str, dict[str, Any]] | None = None, meta: dict[str, Any] | None = None,
          kind: str = "model", tags: tuple[str, ...] = ()) -> tuple[str, dict[str, Any]]:
    uid = f"{kind}.p.{name}"
    return uid, {
        "resource_type": kind, "name": name, "package_name": "p", "database": "db",
        "schema": "main", "alias": name, "path": f"{name}.sql",
        "original_file_path": f"models/{name}.sql", "patch_path": "p://models/schema.yml",
        "tags": list(tags), "meta": meta or {}, "config": {"meta": meta or {}},
        "depends_on": {"nodes": [f"model.p.{p}" if not p.startswith(("seed.", "model."))
                                 else p for p in parents]},
        "compiled_code": sql,
        "columns": {c: {"name": c, **spec} for c, spec in (columns or {}).items()},
    }


def _write_manifest(root: Path, *nodes: tuple[str, dict[str, Any]]) -> Path:
    (root / "target").mkdir(parents=True, exist_ok=True)
    manifest = {"metadata": {"project_name": "p", "adapter_type": "duckdb"},
                "nodes": dict(nodes), "sources": {}}
    path = root / "target" / "manifest.json"
    path.write_text(json.dumps(manifest))
    return path


def _floe(classification: str, **extra: str) -> dict[str, Any]:
    return {"meta": {"floe": {"classification": classification, **extra}}}


@pytest.fixture
def gen() -> SimpleNamespace:
    """``gen.model(...)``, ``gen.write(root, *nodes)``, ``gen.floe(class, **extra)``."""
    return SimpleNamespace(model=_model, write=_write_manifest, floe=_floe)
