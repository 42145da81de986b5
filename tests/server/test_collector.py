"""The server worker's runtime settings (lacuna.server.collector: the garbage collector and
the GIL's switch interval), in a process of their own: they change the whole process, so never
the test runner's."""

from __future__ import annotations

import subprocess
import sys

CHECK = """
import gc
import sys
from lacuna.server.collector import SWITCH_INTERVAL_S, YOUNG_THRESHOLD, settle
before = gc.get_threshold()
settle()
assert gc.get_freeze_count() > 1000, gc.get_freeze_count()
assert gc.get_threshold() == (YOUNG_THRESHOLD, *before[1:]), gc.get_threshold()
assert abs(sys.getswitchinterval() - SWITCH_INTERVAL_S) < 1e-9, sys.getswitchinterval()
class Node:
    pass
a, b = Node(), Node()
a.other, b.other = b, a  # a cycle only the collector frees
import weakref
gone = weakref.ref(a)
del a, b
gc.collect()
assert gone() is None  # cycles are still collected
print("ok")
"""


def test_settle_freezes_the_heap_shortens_the_switch_interval_and_still_collects_cycles() -> None:
    result = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True,
                            timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
