"""The suite's xdist groups hold in a real ``-n 2 --dist loadgroup`` run (tests/xdist_groups.py):
the tests of one heavy session component all run on one worker, so it starts once per run, and
so do the tests of a group named with the mark.
When the group was lost (pytest-dev/pytest-xdist#1386), Spark, dbt, Chromium and the live
server started on both workers and nothing failed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent

CONFTEST = '''
import os
import pytest

pytest_plugins = ("xdist_groups",)


@pytest.fixture(scope="session")
def spark():
    return "spark"


@pytest.fixture(scope="session")
def browser():
    return "browser"


@pytest.fixture(scope="session")
def live_server():
    return "live_server"


@pytest.fixture(autouse=True)
def _where(request):
    yield
    out = os.path.join(os.environ["GROUPS_OUT"], request.node.name.replace("/", "_"))
    with open(out, "w") as f:
        f.write(os.environ.get("PYTEST_XDIST_WORKER", "none"))
'''

TESTS = '''
import pytest


@pytest.mark.parametrize("i", range(6))
def test_spark(spark, i):
    pass


@pytest.mark.parametrize("i", range(3))
def test_browser(browser, i):
    pass


@pytest.mark.parametrize("i", ["a@example.org", "b"])
def test_console(live_server, i):
    pass


@pytest.mark.parametrize("i", range(8))
def test_plain(i):
    pass


@pytest.mark.xdist_group("own")
@pytest.mark.parametrize("i", range(3))
def test_own(i):
    pass
'''


def test_each_heavy_component_runs_on_one_worker(tmp_path: Path) -> None:
    pytest.importorskip("xdist", reason="pytest-xdist is not installed (pip install -e '.[dev]')")
    suite, out = tmp_path / "suite", tmp_path / "out"
    suite.mkdir()
    out.mkdir()
    (suite / "conftest.py").write_text(CONFTEST, encoding="utf-8")
    (suite / "test_groups.py").write_text(TESTS, encoding="utf-8")
    env = {**os.environ, "GROUPS_OUT": str(out),
           "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")])}
    # the installed plugins that play no part in the grouping are left out: each costs the run
    # and both its workers ~1.5 s of CPU at import (xdist itself stays loaded by its entry point,
    # under the name tests/xdist_groups.py asks for)
    unused = [arg for name in ("hypothesispytest", "faker", "anyio", "time_machine")
              for arg in ("-p", f"no:{name}")]
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-n", "2", "--dist", "loadgroup",
         "-p", "no:cacheprovider", *unused, "-W", "error",
         # a temporary folder of its own: with pytest's default one, the nested run's cleanup
         # deleted the older runs' folders under /tmp/pytest-of-<user> (GBs after a full run)
         "--basetemp", str(tmp_path / "basetemp"), str(suite)],
        cwd=suite, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    where = {p.name: p.read_text() for p in out.iterdir()}
    assert len(where) == 22, where

    def workers(prefix: str) -> set[str]:
        return {w for name, w in where.items() if name.startswith(prefix)}

    assert workers("test_spark[") in ({"gw0"}, {"gw1"}), where
    # browser and live_server are one group (the console's), a parameter with an @ included
    assert len(workers("test_browser[") | workers("test_console[")) == 1, where
    assert len(workers("test_own[")) == 1, where  # a group named by its mark
    assert set(where.values()) == {"gw0", "gw1"}, where  # and the run did use two workers
