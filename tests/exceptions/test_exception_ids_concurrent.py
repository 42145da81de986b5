"""Exception ids are allocated atomically in the state store: several processes filing requests
at the same moment get distinct, consecutive ``EXC-<year>-<n>`` ids."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from lacuna.exceptions import ExceptionStore

WORKERS = 3
EACH = 6

SCRIPT = r"""
import sys, time
from lacuna.exceptions import ExceptionStore, ExceptionRequest
from lacuna.model import utcnow

from pathlib import Path

url, gate, worker, each = sys.argv[1], Path(sys.argv[2]), sys.argv[3], int(sys.argv[4])
store = ExceptionStore(url)
store.keyring  # load the key before the race
(gate.parent / f"ready-{worker}").touch()
while not gate.exists():  # all workers start filing at the same moment
    time.sleep(0.002)
for i in range(each):
    made = store.add(ExceptionRequest(
        id="", requested_by=f"user{worker}", requester_role="analyst", action="export",
        destination=f"/tmp/{worker}-{i}.csv", sources=(), tier="PUBLIC", tags=(),
        purpose="Quarterly board presentation of metrics", business_justification="",
        approver="steward@example.com", duration_hours=1.0, conditions=(),
        created_at=utcnow()))
    print(made.id, flush=True)
"""


def test_ids_are_unique_and_consecutive_across_processes(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'state.db'}"
    ExceptionStore(url).close()  # the tables exist before the race
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    gate = tmp_path / "go"
    procs = [
        subprocess.Popen([sys.executable, "-c", SCRIPT, url, str(gate), str(w), str(EACH)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        for w in range(WORKERS)
    ]
    deadline = time.monotonic() + 120
    while len(list(tmp_path.glob("ready-*"))) < WORKERS and time.monotonic() < deadline:
        assert all(p.poll() is None for p in procs), "a worker died before the race"
        time.sleep(0.02)
    gate.touch()
    ids: list[str] = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        ids += out.split()
    year = time.strftime("%Y", time.gmtime())
    assert len(ids) == WORKERS * EACH
    assert sorted(ids) == [f"EXC-{year}-{n:03d}" for n in range(1, WORKERS * EACH + 1)]
    store = ExceptionStore(url)
    stored = store.list()
    assert len(stored) == WORKERS * EACH
    assert all(store.verified(r) for r in stored)  # every row signed as written
    store.close()
