"""``lacuna.enable()`` no longer imports every library it can govern: a library imported after
it is hooked by its import (lacuna.integrations.imports), governed from its first use, and
``importlib.reload`` no longer leaves a hooked library ungoverned.

The session imports polars, pyarrow, DuckDB and sqlite3 before any test (tests/conftest.py),
so "imported after enable()" is made here in-process: a small library written to tmp_path
with an integration shaped as the real ones (it imports its library at its top and hooks a
function re-exported by the package, through the real ``Hooks``, ``Hook`` and guard); and
sqlite3 itself, its Python modules taken out of ``sys.modules`` (its C extension stays) and
imported again after ``enable()``, restored after the test. DuckDB is imported after
``enable()`` in a fresh interpreter instead: its C core makes relations of the class its last
import registered (``duckdb._seam``), so a second import in the test process would leave every
later relation an instance of a class the restored module does not name, and no hook held it."""

from __future__ import annotations

import importlib
import importlib.util
import json
import sqlite3 as _plain_sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

import lacuna
import lacuna.integrations
from lacuna.errors import GovernanceViolation, IntegrationError
from lacuna.governor import GovernanceFailureWarning
from lacuna.integrations import imports

PLAIN_CONNECT = _plain_sqlite3.connect

LIBRARY = """
from .core import export
"""
CORE = """
def export(value):
    return ("exported", value)
"""
INTEGRATION = """
import sys

import {name}  # as the real integrations do, while {name} is still being imported

from lacuna.integrations.frames.hooks import Hook, Hooks
from lacuna.model import Action

CALLS = []


def _make(original):
    def hooked(value):
        CALLS.append(value)
        return original(value)
    return hooked


_HOOKS = Hooks(lambda: [Hook({name}, "export", _make, Action.TRANSFORM, "{name}.export")])
install, uninstall, hold, release, installed = (
    _HOOKS.install, _HOOKS.uninstall, _HOOKS.hold, _HOOKS.release, _HOOKS.installed)
suspend, resume = _HOOKS.suspend, _HOOKS.resume
"""


def _forget(monkeypatch: pytest.MonkeyPatch, *prefixes: str) -> None:
    """Take the modules named ``prefixes`` (and their submodules) out of ``sys.modules``, and
    Lacuna's memory of having hooked them, until the test ends."""
    for name in list(sys.modules):
        if any(name == p or name.startswith(f"{p}.") for p in prefixes):
            monkeypatch.delitem(sys.modules, name)
    for prefix in prefixes:
        monkeypatch.delitem(imports._RESOLVED, prefix, raising=False)
        monkeypatch.delitem(imports._MODULES, prefix, raising=False)
        monkeypatch.delattr(lacuna.integrations, prefix.rpartition(".")[2], raising=False)


@pytest.fixture
def library(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A library ``lacuna_fakelib`` Lacuna governs, installed (on sys.path) not imported, with
    its integration ``lacuna.integrations.lacuna_fakelib``."""
    name = "lacuna_fakelib"
    root = tmp_path / "site"
    (root / name).mkdir(parents=True)
    (root / name / "__init__.py").write_text(LIBRARY)
    (root / name / "core.py").write_text(CORE)
    integrations = tmp_path / "integrations"
    integrations.mkdir()
    (integrations / f"{name}.py").write_text(textwrap.dedent(INTEGRATION.format(name=name)))
    monkeypatch.syspath_prepend(str(root))
    monkeypatch.setattr(lacuna.integrations, "__path__",
                        [*lacuna.integrations.__path__, str(integrations)])
    monkeypatch.setattr(imports, "LIBRARIES", (*imports.LIBRARIES, name))
    monkeypatch.setattr(imports, "_RELOADED", (*imports._RELOADED, name))
    _forget(monkeypatch, name, f"lacuna.integrations.{name}")
    yield name
    lacuna.disable()


def _calls(name: str) -> list[object]:
    calls: list[object] = sys.modules[f"lacuna.integrations.{name}"].CALLS
    return calls


def test_enable2_enable_imports_no_library_it_governs(sandbox_config, library: str) -> None:
    lacuna.enable(sandbox_config())
    assert library not in sys.modules
    assert f"lacuna.integrations.{library}" not in sys.modules
    lacuna.disable()
    assert library not in sys.modules


@pytest.mark.parametrize("spelling", ["import", "from", "alias", "submodule"])
def test_enable2_a_library_imported_after_enable_is_governed_from_its_first_use(
        sandbox_config, library: str, spelling: str) -> None:
    lacuna.enable(sandbox_config())
    if spelling == "import":
        export = importlib.import_module(library).export
    elif spelling == "from":  # the name is bound after the import: the hook
        export = __import__(library, fromlist=["export"]).export
    elif spelling == "alias":  # import lacuna_fakelib as lib
        export = vars(importlib.import_module(library))["export"]
    else:  # import lacuna_fakelib.core first: the package runs first, and is hooked
        importlib.import_module(f"{library}.core")
        export = sys.modules[library].export
    assert export("a") == ("exported", "a")
    assert _calls(library) == ["a"]  # the first call went through the hook
    lacuna.disable()
    assert sys.modules[library].export("b") == ("exported", "b")
    assert sys.modules[library].export is sys.modules[f"{library}.core"].export  # restored
    assert _calls(library) == ["a"]


def test_enable2_imported_before_enable_is_hooked_at_once(sandbox_config, library: str
                                                         ) -> None:
    module = importlib.import_module(library)  # before enable(): nothing governed, no hook
    original = module.export
    assert module.export("a") == ("exported", "a")
    lacuna.enable(sandbox_config())
    assert module.export is not original
    module.export("b")
    assert _calls(library) == ["b"]
    lacuna.disable()
    assert module.export is original


def test_enable2_not_hooked_once_disabled_and_hooked_at_the_next_enable(sandbox_config,
                                                                        library: str) -> None:
    lacuna.enable(sandbox_config())
    lacuna.disable()
    module = importlib.import_module(library)  # imported while nothing is governed
    original = module.export
    module.export("a")
    assert _calls(library) == []
    lacuna.enable(sandbox_config())
    module.export("b")
    assert _calls(library) == ["b"]
    lacuna.disable()
    assert module.export is original


def test_enable2_a_governed_block_hooks_a_library_imported_inside_it(sandbox_config,
                                                                    library: str) -> None:
    with lacuna.governed(sandbox_config()):
        module = importlib.import_module(library)
        module.export("a")
        with lacuna.governed(sandbox_config(mode="warn")):  # nested: held twice, released once
            module.export("b")
        module.export("c")
    assert module.export is sys.modules[f"{library}.core"].export
    module.export("d")
    assert _calls(library) == ["a", "b", "c"]


def test_enable2_reload_keeps_the_library_governed(sandbox_config, library: str) -> None:
    lacuna.enable(sandbox_config())
    module = importlib.import_module(library)
    hooked = module.export
    assert importlib.reload(module) is module  # the package's code runs again: binds export
    assert module.export is hooked
    module.export("a")
    importlib.reload(sys.modules[f"{library}.core"])  # a submodule: a new function object
    importlib.reload(module)
    assert module.export is not hooked
    module.export("b")
    assert _calls(library) == ["a", "b"]
    lacuna.disable()
    assert module.export is sys.modules[f"{library}.core"].export


def test_enable2_enforce_refuses_the_import_of_a_library_it_cannot_govern(
        sandbox_config, library: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, f"lacuna.integrations.{library}", None)
    lacuna.enable(sandbox_config())
    for _ in range(2):  # and again: the failed import left nothing behind
        with pytest.raises(IntegrationError, match=rf"{library} is installed but Lacuna "
                                                   r"cannot govern it"):
            importlib.import_module(library)
        assert library not in sys.modules
    lacuna.disable()
    assert importlib.import_module(library).export("a") == ("exported", "a")  # ungoverned: ok
    with pytest.raises(IntegrationError, match=library):  # and imported: refused at enable
        lacuna.enable(sandbox_config())
    assert not lacuna.enabled()


def test_enable2_warn_mode_warns_at_the_import_and_runs_it(
        sandbox_config, library: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, f"lacuna.integrations.{library}", None)
    lacuna.enable(sandbox_config(mode="warn"))
    with pytest.warns(GovernanceFailureWarning, match=rf"{library} .* runs ungoverned") as got:
        module = importlib.import_module(library)
    assert {w.filename for w in got} == {__file__}  # points at the import
    assert module.export("a") == ("exported", "a")


def test_enable2_module_keeps_its_own_loader(sandbox_config, library: str) -> None:
    """``importlib.resources`` and ``pkgutil`` read ``__loader__``/``__spec__.loader``."""
    lacuna.enable(sandbox_config())
    module = importlib.import_module(library)
    assert type(module.__loader__).__name__ == "SourceFileLoader"
    assert module.__spec__ is not None
    assert module.__spec__.loader is module.__loader__


@pytest.mark.parametrize("mode", ["enforce", "warn"])
def test_enable2_a_hooked_library_imported_again_as_a_new_module_is_not_left_ungoverned(
        sandbox_config, library: str, monkeypatch: pytest.MonkeyPatch, mode: str) -> None:
    """Its modules taken out of sys.modules and imported again, a library is a new module
    the integration's hooks do not hold: refused (or warned about), never silently run."""
    lacuna.enable(sandbox_config(mode=mode))
    first = importlib.import_module(library)
    for name in (library, f"{library}.core"):
        monkeypatch.delitem(sys.modules, name)
    if mode == "enforce":
        with pytest.raises(IntegrationError, match=rf"{library} was imported again"):
            importlib.import_module(library)
        assert library not in sys.modules
    else:
        with pytest.warns(GovernanceFailureWarning, match="imported again"):
            assert importlib.import_module(library) is not first
    lacuna.disable()
    if mode == "enforce":
        importlib.import_module(library)  # while nothing is governed: imported
    with pytest.raises(IntegrationError, match=rf"{library} was imported again"):
        lacuna.enable(sandbox_config(mode="enforce"))  # and refused at the next enable


def test_enable2_a_library_loaded_by_hand_is_left_to_its_loader(sandbox_config,
                                                               library: str) -> None:
    """``module_from_spec`` + ``exec_module`` (a plugin loader's way) runs the module as its
    loader does; the library an ``import`` gives is still hooked."""
    lacuna.enable(sandbox_config())
    spec = importlib.util.find_spec(library)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # its relative import imports the package itself
    assert module.export("a") == ("exported", "a")
    imported = importlib.import_module(library)
    assert imported is not module
    imported.export("b")
    assert _calls(library) == ["b"]


def test_enable2_the_finder_goes_first_again_at_enable(sandbox_config, library: str,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """A finder another tool put before Lacuna's would load the library unwrapped."""
    lacuna.enable(sandbox_config())
    lacuna.disable()

    class Nothing:
        def find_spec(self, *_: object) -> None:
            return None

    monkeypatch.setattr(sys, "meta_path", [Nothing(), *sys.meta_path])
    lacuna.enable(sandbox_config())
    assert isinstance(sys.meta_path[0], imports._Finder)
    assert sum(isinstance(f, imports._Finder) for f in sys.meta_path) == 1
    importlib.import_module(library).export("a")
    assert _calls(library) == ["a"]


def test_enable2_importing_an_integration_itself_hooks_its_library(sandbox_config,
                                                                  library: str) -> None:
    """``import lacuna.integrations.<library>`` imports the library from its first line, its
    own module half made: the library is hooked once the integration is whole (before, the
    half-made module was installed: AttributeError, and every disable() after failed)."""
    lacuna.enable(sandbox_config())
    integration = importlib.import_module(f"lacuna.integrations.{library}")
    assert integration.installed()
    sys.modules[library].export("a")
    assert _calls(library) == ["a"]
    lacuna.disable()
    assert not integration.installed()


@pytest.fixture
def customers_db(sandbox: Path) -> Path:
    path = sandbox / "people.db"
    con = PLAIN_CONNECT(path)
    con.execute("CREATE TABLE customers (email TEXT)")
    con.executemany("INSERT INTO customers VALUES (?)",
                    [(f"person{i}@example.com",) for i in range(20)])
    con.commit()
    con.close()
    return path


def test_enable2_sqlite3_imported_after_enable_is_governed(
        sandbox_config, sandbox: Path, customers_db: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    config = sandbox_config(destinations={"unmanaged": [str(sandbox / "Downloads")]})
    lacuna.enable(config)  # its state database open (SQLAlchemy imports sqlite3 for it)
    lacuna.disable()
    _forget(monkeypatch, "sqlite3", "lacuna.integrations.sqlite3")
    lacuna.enable(config)
    assert "sqlite3" not in sys.modules
    import sqlite3

    assert sqlite3 is not _plain_sqlite3  # imported anew, after enable()
    leak = sandbox / "Downloads" / "leak.db"
    con = sqlite3.connect(customers_db)
    with pytest.raises(GovernanceViolation, match=r"leak\.db"):
        con.execute(f"VACUUM INTO '{leak}'")
    assert not leak.exists()
    assert con.execute("SELECT count(*) FROM customers").fetchone() == (20,)  # allowed: runs
    con.close()
    lacuna.disable()


DUCKDB_AFTER_ENABLE = """
import json
import sys
from pathlib import Path

import lacuna
from lacuna.config import config_from_dict
from lacuna.errors import GovernanceViolation

sandbox = Path(sys.argv[1])
assert "duckdb" not in sys.modules, "imported before enable()"
lacuna.enable(config_from_dict({
    "user": {"id": "analyst_alice", "role": "data_analyst"},
    "destinations": {"governed": [f"{sandbox / 'governed' / 'workspace'}/"],
                     "unmanaged": [str(sandbox / "Downloads")]},
    "audit": {"url": f"sqlite:///{sandbox / 'audit.db'}"},
}))
assert "duckdb" not in sys.modules, "imported by enable()"
import duckdb

con = duckdb.connect()
rel = con.read_csv(str(sandbox / "customers.csv"))
out = sandbox / "Downloads" / "out.csv"
denied = None
try:
    rel.write_csv(str(out))
except GovernanceViolation as exc:
    denied = str(exc)
rows = len(rel.limit(3).fetchall())  # allowed: runs
con.close()
lacuna.disable()
print(json.dumps({"denied": denied, "written": out.exists(), "rows": rows}))
"""


def test_enable2_duckdb_imported_after_enable_is_governed(sandbox: Path) -> None:
    pytest.importorskip("duckdb")
    run = subprocess.run([sys.executable, "-c", DUCKDB_AFTER_ENABLE, str(sandbox)],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    answer = json.loads(run.stdout.splitlines()[-1])
    assert "Cannot export PROPRIETARY" in (answer["denied"] or ""), answer
    assert not answer["written"]
    assert answer["rows"] == 3


def test_enable2_disable_leaves_no_library_hooked_that_was_hooked_by_its_import(
        sandbox_config, library: str) -> None:
    """disable() unhooks what an import hooked; the finder stays, doing nothing."""
    lacuna.enable(sandbox_config())
    module = importlib.import_module(library)
    lacuna.disable()
    assert module.export is sys.modules[f"{library}.core"].export
    assert sum(isinstance(f, imports._Finder) for f in sys.meta_path) == 1


@pytest.mark.parametrize(("library", "owner", "name"), [
    ("polars", "polars", "read_csv"), ("duckdb", "duckdb", "connect"),
    ("sqlite3", "sqlite3", "connect"), ("pandas", "pandas", "read_csv"),
    ("pyarrow", "pyarrow.parquet", "write_table")])
def test_enable2_reloading_a_real_library_keeps_it_hooked(sandbox_config, library: str,
                                                          owner: str, name: str) -> None:
    """A reload ran the module's code again, which bound its own functions over the hooks:
    ``pl.read_csv`` and ``duckdb.connect`` ran ungoverned until the next ``enable()``."""
    pytest.importorskip(library)
    module = importlib.import_module(owner)
    original = getattr(module, name)
    lacuna.enable(sandbox_config())
    hooked = getattr(module, name)
    assert hooked is not original
    assert importlib.reload(module) is module
    assert getattr(module, name) is hooked
    lacuna.disable()
    assert getattr(module, name) is original
