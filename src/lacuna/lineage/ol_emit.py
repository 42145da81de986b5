"""Send a governed run's OpenLineage events where ``lacuna.yaml`` says, never breaking the host.

``lineage.openlineage.transport`` picks openlineage-python's transport: ``file`` (default; JSON
Lines appended to ``$LACUNA_HOME/openlineage.jsonl`` or ``path``), ``console`` (one JSON line per
event on stderr) or ``http`` (a Marquez or DataHub endpoint). Events are built and sent on one
background thread fed by a bounded queue, so neither openlineage-python's serialisation nor a slow
or dead endpoint slows the operation; a full queue drops runs with a warning, and queued runs get
up to 5 seconds at interpreter exit (:func:`flush_all` waits on demand). Every failure is logged
on ``lacuna.lineage.openlineage`` and swallowed: lineage export is an observer, not a gate (the
decision was already made and logged).

The governor calls :func:`after_run_recorded` right after it records a run in the lineage store.
"""

from __future__ import annotations

import atexit
import logging
import os
import queue
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lacuna.config import Config, OpenLineageConfig, lacuna_home
from lacuna.redact import redact_text

if TYPE_CHECKING:
    from openlineage.client.transport import Transport

    from lacuna.lineage.records import Run

log = logging.getLogger("lacuna.lineage.openlineage")

QUEUE_SIZE = 1000  # events waiting for a slow HTTP endpoint; more are dropped with a warning


def _console_transport() -> Transport:
    from openlineage.client.serde import Serde
    from openlineage.client.transport import Transport

    class StderrTransport(Transport):
        """openlineage-python's console transport logs at INFO (hidden by default): print."""

        kind = "console"

        def emit(self, event: Any) -> None:
            sys.stderr.write(Serde.to_json(event) + "\n")
            sys.stderr.flush()

    return StderrTransport()


def events_path(config: OpenLineageConfig) -> Path:
    """Where the file transport appends events."""
    path = config.transport.path or lacuna_home() / "openlineage.jsonl"
    return Path(path).expanduser()


def make_transport(config: OpenLineageConfig) -> Transport:
    """openlineage-python's transport for ``config`` (file, console or http)."""
    t = config.transport
    if t.type == "console":
        return _console_transport()
    if t.type == "http":
        from openlineage.client.transport.http import HttpConfig, HttpTransport

        params: dict[str, Any] = {"url": t.url, "endpoint": t.endpoint, "timeout": t.timeout,
                                  "retry": {"total": 2, "backoff_factor": 0.2,
                                            "status_forcelist": [500, 502, 503, 504]}}
        token = os.environ.get(t.api_key_env) if t.api_key_env else None
        if token:
            params["auth"] = {"type": "api_key", "apiKey": token}
        return HttpTransport(HttpConfig.from_dict(params))
    from openlineage.client.transport.file import FileConfig, FileTransport

    path = events_path(config)
    path.parent.mkdir(parents=True, exist_ok=True)
    return FileTransport(FileConfig(log_file_path=str(path), append=True))


class Emitter:
    """Turns runs into events and hands them to one transport, off the caller's thread."""

    def __init__(self, config: OpenLineageConfig) -> None:
        self.config = config
        self.transport = make_transport(config)
        self._queue: queue.Queue[Any] = queue.Queue(QUEUE_SIZE)
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.sent = 0
        self.failed = 0
        self.dropped = 0

    def emit_run(self, run: Run) -> None:
        """Queue ``run`` for the background thread, which builds and sends its START and
        COMPLETE/FAIL events; never raises, never waits (building and serialising the events
        costs a few milliseconds in openlineage-python, too much for the host's hot path)."""
        self._start()
        try:
            self._queue.put_nowait(run)
        except queue.Full:
            self.dropped += 1
            log.warning("OpenLineage: %d runs waiting for the %s transport; dropped run %s",
                        QUEUE_SIZE, self.config.transport.type, run.id)

    def _emit_now(self, run: Run) -> None:
        try:
            from lacuna.lineage.openlineage import run_to_events

            events = run_to_events(run, namespace=self.config.namespace)
        except Exception:
            log.warning("OpenLineage: could not build events for run %s", run.id, exc_info=True)
            self.failed += 1
            return
        for event in events:
            self._send(event)

    def _send(self, event: Any) -> None:
        try:
            with self._lock:
                self.transport.emit(event)
            self.sent += 1
        except Exception as exc:
            self.failed += 1
            log.warning("OpenLineage: could not emit a %s event of run %s through %s: %s",
                        getattr(event.eventType, "value", "?"), event.run.runId,
                        self.config.transport.type, redact_text(exc))

    def _start(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._work, daemon=True,
                                                name="lacuna-openlineage")
                self._thread.start()

    def _work(self) -> None:
        while True:
            run = self._queue.get()
            try:
                self._emit_now(run)
            finally:
                self._queue.task_done()

    def _forked(self) -> None:
        """Start afresh in a forked child (see :func:`_after_fork_in_child`)."""
        self._queue = queue.Queue(QUEUE_SIZE)
        self._lock = threading.Lock()
        self._thread = None

    @property
    def pending(self) -> int:
        """Runs queued or being sent."""
        return self._queue.unfinished_tasks

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait up to ``timeout`` seconds for queued runs; True when all were handled."""
        if self._thread is None:
            return True
        done = threading.Event()

        def wait() -> None:
            self._queue.join()
            done.set()

        threading.Thread(target=wait, daemon=True).start()
        return done.wait(timeout)


_emitters: dict[str, Emitter] = {}
_emitters_lock = threading.Lock()


def emitter_for(config: Config) -> Emitter | None:
    """The (cached) emitter for this configuration, or None when OpenLineage is disabled."""
    ol = config.lineage.openlineage
    if not ol.enabled:
        return None
    key = ol.model_dump_json() + str(events_path(ol))
    with _emitters_lock:
        found = _emitters.get(key)
        if found is None:
            found = _emitters[key] = Emitter(ol)
        return found


def existing_emitter(config: Config) -> Emitter | None:
    """The emitter :func:`emitter_for` made for this configuration, or None (never makes one)."""
    ol = config.lineage.openlineage
    if not ol.enabled:
        return None
    with _emitters_lock:
        return _emitters.get(ol.model_dump_json() + str(events_path(ol)))


def emit_run(run: Run, config: Config) -> None:
    """Emit ``run``'s OpenLineage events through the configured transport. Never raises."""
    try:
        emitter = emitter_for(config)
    except Exception:
        log.warning("OpenLineage: the transport in %s could not be set up",
                    config.source or "the configuration", exc_info=True)
        return
    if emitter is not None:
        emitter.emit_run(run)


def after_run_recorded(run: Run, config: Config) -> None:
    """The governor's hook: call right after ``LineageStore.record(run)`` on the export path."""
    emit_run(run, config)


def flush_all(timeout: float = 5.0) -> bool:
    """Give queued runs up to ``timeout`` seconds in all (also at interpreter exit); True when
    every run was handled. Runs still waiting are said in a warning naming the transport: at
    exit their events are lost (their record stays in the lineage store). They went silently,
    and each emitter had its own ``timeout``, so exit waited that long once per emitter."""
    import time

    deadline = time.monotonic() + timeout
    done = True
    for emitter in list(_emitters.values()):
        if emitter.flush(max(0.0, deadline - time.monotonic())):
            continue
        done = False
        t = emitter.config.transport
        where = redact_text(t.url or "") if t.type == "http" else str(events_path(emitter.config))
        hint = (" Check that the endpoint answers within lineage.openlineage.transport.timeout."
                if t.type == "http" else "")
        log.warning("OpenLineage: %d run(s) not yet sent through the %s transport (%s) after "
                    "%g s; at exit their events are lost (the runs stay in the lineage store: "
                    "lacuna lineage runs).%s", emitter.pending, t.type,
                    where if t.type != "console" else "stderr", timeout, hint)
    return done


def _after_fork_in_child() -> None:
    """A forked child (multiprocessing's default start on Linux) has no sender thread, and a
    lock the parent's thread held at the fork (sending an event to a slow collector) stays
    held for ever: the child's first governed run waited on it for ever. Every emitter starts
    afresh there; the runs the parent had queued are the parent's to send (not sent twice)."""
    global _emitters_lock
    _emitters_lock = threading.Lock()
    for emitter in _emitters.values():
        emitter._forked()


atexit.register(flush_all, 5.0)
os.register_at_fork(after_in_child=_after_fork_in_child)

__all__ = ["Emitter", "after_run_recorded", "emit_run", "emitter_for", "events_path",
           "existing_emitter", "flush_all", "make_transport"]
