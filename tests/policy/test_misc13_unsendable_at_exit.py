"""regorus engines compiled on Lacuna's own daemon threads were dropped on the main thread at
exit (``regoruspy::Engine is unsendable, but is being dropped on another thread`` after every
tests/policy run): the decision log's writer compiled one to explain a denial, the policy
watcher one per reload, and each kept it in its thread's slot until the interpreter cleared
the still-running thread from the main thread. Each now releases them on its own thread."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import lacuna

SCRIPT = textwrap.dedent('''
    import os, sys, time
    from pathlib import Path
    from lacuna.config import Config
    from lacuna.model import (Action, Classification, Destination, DestinationType,
                              Operation, Scope, Tier, User)
    from lacuna.policy import MemoryDecisionLog, PolicyEngine
    from lacuna.policy.watch import PolicyWatcher

    # a denial logged, its explanation first read on the decision log's thread
    sink = MemoryDecisionLog(flush_interval_s=0.01)
    engine = PolicyEngine.from_config(Config(), decision_log=sink)
    denied = engine.decide(Operation(
        action=Action.EXPORT, user=User(id="alice"),
        classification=Classification(tier=Tier.PROPRIETARY),
        destination=Destination(uri="/tmp/x.csv", type=DestinationType.FILE,
                                scope=Scope.EXTERNAL, managed=False)))
    assert not denied.allowed
    assert sink.flush(10) and sink.records[0]["result"]["alternatives"] is not None

    # a bundle reloaded on the watcher's thread
    root = Path(sys.argv[1])
    rego = root / "p.rego"
    rego.write_text('package p\\n\\nimport rego.v1\\n\\nallow if input.action == "read"\\n')
    watched = PolicyEngine(root)
    old = watched.revision
    watcher = PolicyWatcher(watched, interval_s=0.01).start()
    rego.write_text('package p\\n\\nimport rego.v1\\n\\nallow := true\\n')
    os.utime(rego, ns=(time.time_ns() + 10**9,) * 2)
    deadline = time.monotonic() + 20
    while watched.revision == old and time.monotonic() < deadline:
        time.sleep(0.01)
    assert watched.revision != old, "the watcher did not reload"
    time.sleep(0.05)  # its next polls: the thread goes on running, as in a server
    print("done", flush=True)
    # exit with both daemon threads still running (neither closed nor stopped)
''')


def test_no_engine_is_dropped_on_another_thread_at_exit(tmp_path: Path) -> None:
    src = str(Path(lacuna.__file__).parent.parent)
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path)], capture_output=True,
                          text=True, timeout=120, env={"PYTHONPATH": src, "PATH": "/usr/bin",
                                                       "LACUNA_HOME": str(tmp_path / "home")},
                          check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "done\n"
    assert "unsendable" not in done.stderr, done.stderr
