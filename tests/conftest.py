"""Shared fixtures: every test gets its own LACUNA_HOME, cwd and a fresh governor."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator
from importlib import resources
from pathlib import Path

import pytest

import lacuna
from lacuna.config import DestinationConfig, config_from_dict

sys.path.insert(0, str(Path(__file__).parent))  # shared fixture modules, e.g. fixtures_postgres
pytest_plugins = (
    "fixtures_postgres",  # postgres_url: one PostgreSQL cluster per session
    "xdist_groups",  # each heavy session component on one xdist worker
    "report_text",  # reports xdist can send, whatever text a failing test held
)

os.environ.setdefault("RUST_BACKTRACE", "0")
# The CLI's rich consoles are made at import and keep the COLUMNS they saw then; which test
# imports a CLI module first differs between a serial run and each xdist worker. One wide width
# for the whole session keeps CLI output (and the tests that read it) the same everywhere.
os.environ["COLUMNS"] = "300"
# Each test has its own LACUNA_HOME: building layer 2's vectors there in the background would
# only burn CPU. Tests that need the vectors build them explicitly.
os.environ["LACUNA_EMBEDDINGS_BUILD"] = "never"


# The libraries the tests use, imported before the first test and then frozen out of the
# garbage collector (gc.freeze): a full gc.collect() then walks what the tests made, not the
# ~260,000 objects of these modules, 25-40 ms instead of ~190 ms. Many tests collect on every
# change of user (to drop the last governor's Rego engine on the thread that made it).
_WARM = ("numpy", "pandas", "pyarrow", "pyarrow.compute", "pyarrow.parquet", "polars", "duckdb",
         "sqlalchemy", "alembic", "sqlglot", "psycopg", "jinja2", "pygments", "rich", "typer",
         "openlineage.client", "lacuna.governor", "lacuna.policy", "lacuna.classify",
         "lacuna.integrations.pandas", "lacuna.integrations.polars",
         "lacuna.integrations.pyarrow", "lacuna.integrations.duckdb",
         "lacuna.integrations.sqlite3", "lacuna.sql", "lacuna.lineage.openlineage",
         "lacuna.state.schema", "lacuna.exceptions", "lacuna.audit", "lacuna.cli",
         "lacuna.storage", "lacuna.retention")


@pytest.fixture(scope="session", autouse=True)
def _frozen_heap() -> None:
    import gc
    import importlib

    for name in _WARM:
        try:
            importlib.import_module(name)
        except ImportError:  # an optional library not installed: its tests skip
            continue
    gc.collect()
    gc.freeze()
    young, middle, _ = gc.get_threshold()
    gc.set_threshold(young, middle, _FULL_AUTOMATIC)


# Every so many tests, the garbage of the tests before is collected and what they left alive
# (caches, module state, the session's fixtures) is frozen too: each full collection then walks
# what the last few tests made, not the millions of objects a long session keeps (a worker's
# full collections grew to 2.8 s each, 23 s in all over tests/integrations). That collection
# is the only full one: the automatic ones in between (gen2, 27 of them, 1.5 s in a minute of
# tests/exceptions) found what it finds anyway; the young generations are collected as usual.
_FREEZE_EVERY = 100
_FULL_AUTOMATIC = 1_000_000  # gen2's threshold: never reached between two freezes
_since_freeze = 0


def pytest_runtest_logfinish(nodeid: str, location: tuple[str, int | None, str]) -> None:
    global _since_freeze
    _since_freeze += 1
    if _since_freeze >= _FREEZE_EVERY:
        import gc

        _since_freeze = 0
        gc.collect()
        gc.freeze()


_PUBLIC: dict[str, object] = {}  # lacuna's public names as the session first bound them


@pytest.fixture
def _public_names_kept() -> Iterator[None]:
    """Each test leaves ``lacuna``'s public names (and the root module) as it found them. Its
    teardown runs after the test's monkeypatches are undone: ``_isolated`` (autouse) asks for
    it before ``monkeypatch``. A test that ran code in the root's globals left its own
    ``check()`` as ``lacuna.check``, and one that imported a fresh root left a second
    ``lacuna.governor`` in ``sys.modules``: every later test of that xdist worker failed, far
    from the cause. The test that does it fails here, and the names are put back."""
    if not _PUBLIC:
        _PUBLIC.update({name: getattr(lacuna, name) for name in lacuna.__all__},
                       __module__=sys.modules["lacuna"])
    yield
    changed = [name for name, value in _PUBLIC.items() if name != "__module__"
               and vars(lacuna).get(name, value) is not value]
    moved = sys.modules.get("lacuna") is not _PUBLIC["__module__"]
    for name in changed:
        setattr(lacuna, name, _PUBLIC[name])
    if moved:
        sys.modules["lacuna"] = _PUBLIC["__module__"]  # type: ignore[assignment]
    if changed or moved:
        pytest.fail(f"the test left lacuna.{', lacuna.'.join(changed) or '<root module>'} "
                    "rebound (restore what a test changes in lacuna's modules or sys.modules)")


@pytest.fixture(autouse=True)
def _isolated(_public_names_kept: None, tmp_path: Path,
              monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("LACUNA_HOME", str(tmp_path / ".lacuna-home"))
    monkeypatch.delenv("LACUNA_CONFIG", raising=False)
    monkeypatch.delenv("LACUNA_USER", raising=False)
    monkeypatch.delenv("LACUNA_ROLE", raising=False)
    monkeypatch.chdir(tmp_path)
    yield
    import lacuna
    from lacuna.governor import reset

    lacuna.disable(flush_timeout=0)  # the test is over: reset() closes (and flushes) the rest
    reset()


@pytest.fixture(scope="session")
def _state_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A state database migrated once per worker, that each sandbox's ``audit.db`` is a copy
    of (with an id of its own): opening a new one costs ~20 ms (its schema replayed, see
    ``lacuna.state.schema._replayed``), a copy less, and ~1,700 tests use a sandbox. The
    migrations themselves are tested in tests/state (test_migrations.py)."""
    import sqlite3

    from lacuna.audit import AuditStore

    path = tmp_path_factory.mktemp("state-template") / "audit.db"
    with AuditStore(f"sqlite:///{path}") as store:
        store.list(limit=1)
    with sqlite3.connect(path) as conn:  # everything in the main file: nothing in -wal
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return path


@pytest.fixture
def sandbox(tmp_path: Path, _state_template: Path) -> Path:
    """The bundled sample data in a folder with an unmanaged Downloads/ and governed storage,
    and an empty state database (``audit.db``, as a new one is migrated: see
    ``_state_template``)."""
    import secrets
    import sqlite3
    from contextlib import closing

    for name in ("customers.csv", "sales.csv"):
        shutil.copy(resources.files("lacuna") / "data" / name, tmp_path / name)
    (tmp_path / "Downloads").mkdir()
    (tmp_path / "governed" / "workspace").mkdir(parents=True)
    shutil.copyfile(_state_template, tmp_path / "audit.db")
    with closing(sqlite3.connect(tmp_path / "audit.db")) as conn, conn:  # an id of its own
        conn.execute("UPDATE lacuna_database_id SET database_id = ?", (secrets.token_hex(16),))
    return tmp_path


def _sandbox_config(sandbox: Path, **extra: object) -> lacuna.Config:
    defaults = DestinationConfig()
    return config_from_dict(
        {
            "user": {"id": "analyst_alice", "role": "data_analyst"},
            "destinations": {
                "governed": [f"{sandbox / 'governed' / 'workspace'}/", *defaults.governed],
                "unmanaged": [str(sandbox / "Downloads"), *defaults.unmanaged],
            },
            "audit": {"url": f"sqlite:///{sandbox / 'audit.db'}"},
            **extra,
        }
    )


@pytest.fixture
def sandbox_config(sandbox: Path):
    """A factory: ``sandbox_config(mode="warn")`` is the sandbox's config with overrides."""
    return lambda **extra: _sandbox_config(sandbox, **extra)


@pytest.fixture
def governed(sandbox: Path):
    lacuna.enable(_sandbox_config(sandbox))
    yield sandbox
    lacuna.disable()
