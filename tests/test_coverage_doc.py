"""docs/coverage.md stays true: its pandas writers are the hooked ones, every writer of polars,
pyarrow and DuckDB is listed as hooked (and is) or not hooked (and is not), and each layer it
says governs a route exists in the code (and one it says is in progress does not, yet)."""

from __future__ import annotations

import importlib
import importlib.util
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

DOC = Path(__file__).resolve().parents[1] / "docs" / "coverage.md"
STATUSES = {"governed", "(in progress)", "not covered"}
LAYERS = {"library hook", "SQL hook", "FUSE", "proxy", "—"}


def _table(heading: str) -> list[list[str]]:
    text = DOC.read_text(encoding="utf-8")
    section = text.split(f"## {heading}\n", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("|")]
    return [[cell.strip() for cell in row.strip("|").split("|")] for row in rows[2:]]


def _names(cell: str) -> set[str]:
    return set(re.findall(r"`([^`]+)`", cell))


def _exists(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


ROUTES = _table("Routes")


@pytest.mark.parametrize("row", ROUTES, ids=[r[0] for r in ROUTES])
def test_each_route_names_a_layer_that_exists_when_it_says_governed(row):
    route, _examples, layers, by, status, _notes = row
    assert status in STATUSES, f"{route}: status {status!r}"
    assert {x.strip() for x in layers.split(",")} <= LAYERS, f"{route}: layer {layers!r}"
    modules = _names(by)
    if status == "not covered":
        assert by == "—", f"{route}: not covered, yet governed by {by}"
        assert layers == "—", f"{route}: not covered, yet a layer {layers}"
        return
    assert modules, f"{route}: name the module that governs it"
    for module in modules:
        if status == "governed":
            assert _exists(module), f"{route}: {module} does not exist; mark it (in progress)"
        else:
            assert not _exists(module), (
                f"{route}: {module} exists now; mark the route governed (and check the notes)")


def test_routes_cover_the_seed_examples_that_bypass_pandas():
    examples = " ".join(r[1] for r in ROUTES)
    for call in ("np.savetxt", "open(p, \"w\").write", "requests.post",
                 "pyarrow.parquet.write_table", "subprocess.run"):
        assert call in examples, call


def test_the_pandas_writers_listed_are_exactly_the_hooked_ones():
    from lacuna.integrations.pandas import _patches
    from lacuna.integrations.pandas._patch import action_of
    from lacuna.integrations.pandas._writers import NOT_WRITERS
    from lacuna.model import Action

    hooked: dict[str, set[str]] = {}
    for patch in _patches():  # the hooks the integration installs: its registry
        if (action_of(patch.name) is Action.EXPORT and patch.name != "close"
                and patch.name not in NOT_WRITERS):
            hooked.setdefault(patch.owner.__name__, set()).add(patch.name)
    listed = {owner: _names(methods) for owner, methods in _table("pandas writers hooked")}
    assert listed == hooked


# What counts as a writer of each owner, by name: a new one in a library version fails the test
# below until it is hooked or listed as not hooked in docs/coverage.md.
def _arrow(n: str) -> bool:
    return n.startswith(("write_", "new_")) or n.endswith("Writer")


def _duckdb(n: str) -> bool:
    return n.startswith(("execute", "write_")) or n in ("sql", "query")


WRITERS: dict[str, Callable[[str], bool]] = {
    "polars.DataFrame": lambda n: n.startswith("write_") or n == "serialize",
    "polars.LazyFrame": lambda n: n.startswith("sink_") or n == "serialize",
    "pyarrow.parquet": _arrow, "pyarrow.csv": _arrow, "pyarrow.feather": _arrow,
    "pyarrow.orc": _arrow, "pyarrow.dataset": _arrow, "pyarrow.ipc": _arrow,
    "duckdb": _duckdb, "duckdb.DuckDBPyConnection": _duckdb,
    "duckdb.DuckDBPyRelation": lambda n: n.startswith(("write_", "insert", "create")) or n in (
        "to_csv", "to_parquet", "to_table"),
}


def _owner(name: str) -> Any:
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError:
        module, _, attr = name.rpartition(".")
        return getattr(importlib.import_module(module), attr)


def test_every_polars_pyarrow_and_duckdb_writer_is_hooked_or_listed_as_not():
    pytest.importorskip("polars")
    pytest.importorskip("duckdb")
    from lacuna.integrations import duckdb as governed_duckdb
    from lacuna.integrations import polars as governed_polars
    from lacuna.integrations import pyarrow as governed_arrow
    from lacuna.model import Action

    hooks = [*governed_polars._hooks(), *governed_arrow._hooks(), *governed_duckdb._hooks()]
    rows = {_names(owner).pop(): (_names(hooked), _names(not_hooked))
            for owner, hooked, not_hooked in _table("polars, pyarrow and DuckDB writers")}
    assert set(rows) == set(WRITERS)
    for name, is_writer in WRITERS.items():
        owner = _owner(name)
        writers = {n for n in dir(owner)
                   if not n.startswith("_") and is_writer(n) and callable(getattr(owner, n))}
        # a hook that only carries the classification along (TRANSFORM) decides no write
        hooked = {h.name for h in hooks if h.owner is owner and h.action is not Action.TRANSFORM
                  } & writers
        listed_hooked, listed_not = rows[name]
        assert listed_hooked == hooked, f"{name}: hooked writers are {sorted(hooked)}"
        assert listed_not == writers - hooked, (
            f"{name}: writers not hooked are {sorted(writers - hooked)}: hook them or list them, "
            "with why, in docs/coverage.md")
