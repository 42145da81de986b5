"""The OpenLineage emitter's thread waits for the next run with the last one's ``(run, store)``
still in its locals: for the life of the process it held the last lineage store it settled
(its engine, pool and compiled statements), one per emitter (the test session kept a store
per OpenLineage configuration it used). It lets go of them once handled."""

from __future__ import annotations

import gc
import weakref

import pytest

from lacuna.config import OpenLineageConfig, OpenLineageTransportConfig
from lacuna.lineage.ol_emit import Emitter


class _Held:
    id = "run-1"


def test_an_idle_emitter_thread_holds_no_run_and_no_store(
        monkeypatch: pytest.MonkeyPatch) -> None:
    emitter = Emitter(OpenLineageConfig(transport=OpenLineageTransportConfig(type="console")))
    sent: list[str] = []
    monkeypatch.setattr(emitter, "_emit_now", lambda run, skip=frozenset(): sent.append(run.id))
    run, store = _Held(), _Held()
    refs = weakref.ref(run), weakref.ref(store)
    emitter.emit_run(run, store)  # type: ignore[arg-type]
    emitter._queue.join()
    assert sent == ["run-1"]
    del run, store
    gc.collect()
    assert [r() for r in refs] == [None, None]
    assert emitter._thread is not None
    assert emitter._thread.is_alive()  # still there for the next run
