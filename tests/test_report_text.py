"""A failing test whose captured output or failure holds text UTF-8 cannot encode is reported
as a failure in an xdist run (tests/report_text.py), not an INTERNALERROR that ends the run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from report_text import escaped

HERE = Path(__file__).resolve().parent

TESTS = '''
import logging


def test_logged():
    logging.getLogger("lacuna").warning("read %s", "caf\\udce9.csv")
    assert False


def test_compared():
    assert "caf\\udce9" == "cafe"


def test_printed():
    print("caf\\udce9")
'''


def test_escaped_only_changes_what_utf8_cannot_encode() -> None:
    assert escaped("café.csv") == "café.csv"
    assert escaped("caf\udce9.csv") == "caf\\udce9.csv"


def test_xdist_reports_failures_holding_lone_surrogates(tmp_path: Path) -> None:
    pytest.importorskip("xdist", reason="pytest-xdist is not installed (pip install -e '.[dev]')")
    (tmp_path / "conftest.py").write_text('pytest_plugins = ("report_text",)\n', encoding="utf-8")
    (tmp_path / "test_text.py").write_text(TESTS, encoding="utf-8")
    # only xdist and the plugin under test: the installed plugins (hypothesis, faker, ...) cost
    # the run and its worker each ~1.5 s of CPU at import (~15 s of wall time on a loaded CI
    # worker) and play no part in what the worker sends
    env = {**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1",
           "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "xdist.plugin", "-n", "1",
         "-p", "no:cacheprovider", "-rf",
         # a temporary folder of its own: with pytest's default one, the nested run's cleanup
         # deleted the older runs' folders under /tmp/pytest-of-<user> (15 s after a full run)
         "--basetemp", str(tmp_path / "basetemp"), str(tmp_path)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False)
    out = done.stdout + done.stderr
    assert "INTERNALERROR" not in out, out
    assert done.returncode == 1, out  # tests failed, and were reported
    assert "2 failed, 1 passed" in out, out
    assert "read caf\\udce9.csv" in out, out  # the captured log, escaped
