"""Send a governed run's OpenLineage events where ``lacuna.yaml`` says, never breaking the host.

``lineage.openlineage.transport`` picks openlineage-python's transport: ``file`` (default; JSON
Lines appended to ``$LACUNA_HOME/openlineage.jsonl`` or ``path``), ``console`` (one JSON line per
event on stderr) or ``http`` (a Marquez or DataHub endpoint). Events are built and sent on one
background thread fed by a bounded queue, so neither openlineage-python's serialisation nor a slow
or dead endpoint slows the operation; a full queue drops runs with a warning, and queued runs get
up to 5 seconds at interpreter exit (:func:`flush_all` waits on demand). Every failure is logged
on ``lacuna.lineage.openlineage`` and swallowed: lineage export is an observer, not a gate (the
decision was already made and logged).

What is queued in memory dies with the process, so a run recorded in a lineage store is also
marked pending there (:func:`pending`, in the transaction that records it: the outbox,
:mod:`lacuna.lineage.outbox`) and cleared once the transport accepted its events. A process's
first governed operation (:func:`resend_pending`: a read too) and the first run it records in a
store start a background re-send of what earlier, dead processes left pending for the same
transport (:meth:`Emitter.resend`; ``lacuna lineage flush`` on demand).

The governor records a run with ``store.record(run, **pending(store, config))`` and then calls
:func:`after_run_recorded` with the store it recorded in.
"""

from __future__ import annotations

import atexit
import hashlib
import json
import logging
import os
import queue
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lacuna._forks import at_child_exit, keep, no_fork
from lacuna.config import Config, OpenLineageConfig, lacuna_home
from lacuna.errors import LineageError
from lacuna.lineage import outbox
from lacuna.redact import redact_text

if TYPE_CHECKING:
    from collections.abc import Callable

    from openlineage.client.transport import Transport

    from lacuna.lineage.records import Run
    from lacuna.lineage.store import LineageStore

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


def destination(config: OpenLineageConfig) -> str | None:
    """The outbox's name for where ``config`` sends events (a digest of the transport's
    configuration and the file's path), or None for ``console``, which keeps nothing to re-send
    (another process's stderr is not where the events were meant to go)."""
    if config.transport.type == "console":
        return None
    key = config.model_dump_json() + str(events_path(config))
    return hashlib.sha256(key.encode()).hexdigest()[:32]


def pending(store: Any, config: Config) -> dict[str, Any]:
    """``LineageStore.record``'s keyword marking the run pending for this configuration's
    OpenLineage transport; empty when nothing is emitted or ``store`` is not a local or
    PostgreSQL lineage store (a Lacuna server records a client's runs itself)."""
    from lacuna.lineage.store import LineageStore

    ol = config.lineage.openlineage
    if not ol.enabled or not isinstance(store, LineageStore):
        return {}
    dest = destination(ol)
    if dest is None:
        return {}
    offset = outbox.file_size(events_path(ol)) if ol.transport.type == "file" else None
    return {"pending": (dest, offset)}


@dataclass(frozen=True, slots=True)
class Resent:
    """What :meth:`Emitter.resend` did: runs sent, runs whose send failed (still pending),
    and whether it stopped at its deadline with rows left to look at."""

    sent: int = 0
    failed: int = 0
    timed_out: bool = False


class Emitter:
    """Turns runs into events and hands them to one transport, off the caller's thread."""

    def __init__(self, config: OpenLineageConfig) -> None:
        self.config = config
        self.transport = make_transport(config)
        self.destination = destination(config)
        self._queue: queue.Queue[Any] = queue.Queue(QUEUE_SIZE)
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._swept: set[int] = set()  # stores whose outbox this process re-sent
        self._sweeping = threading.Lock()
        self._asked: set[str] = set()  # state databases resend_pending started a re-send of
        self.sent = 0
        self.failed = 0
        self.dropped = 0

    def emit_run(self, run: Run, store: LineageStore | None = None) -> None:
        """Queue ``run`` for the background thread, which builds and sends its START and
        COMPLETE/FAIL events; never raises, never waits (building and serialising the events
        costs a few milliseconds in openlineage-python, too much for the host's hot path).
        With ``store``, the store that marked it pending: cleared there once sent, and the
        first run of a store starts a background re-send of its pending runs."""
        self._start()
        if store is not None and self.destination is not None:
            self._sweep(store)
        try:
            self._queue.put_nowait((run, store))
        except queue.Full:
            self.dropped += 1
            log.warning("OpenLineage: %d runs waiting for the %s transport; dropped run %s "
                        "from memory (%s)", QUEUE_SIZE, self.config.transport.type, run.id,
                        "still pending in the lineage store: `lacuna lineage flush` sends it"
                        if store is not None else "its events are lost")
            if store is not None:
                self._settle(store, run.id, sent=False, failed=False)

    def _emit_now(self, run: Run, skip: frozenset[str] = frozenset()) -> bool:
        """Build and send ``run``'s events but those of a type in ``skip``; True when the
        transport accepted every one."""
        try:
            from lacuna.lineage.openlineage import run_to_events

            events = run_to_events(run, namespace=self.config.namespace)
        except LineageError as exc:  # a run its events cannot carry as it is: say why
            log.warning("OpenLineage: run %s not sent: %s", run.id, redact_text(exc))
            self.failed += 1
            return False
        except Exception:
            log.warning("OpenLineage: could not build events for run %s", run.id, exc_info=True)
            self.failed += 1
            return False
        ok = True
        for event in events:
            if getattr(event.eventType, "value", None) not in skip:
                ok = self._send(event) and ok
        return ok

    def _send(self, event: Any) -> bool:
        try:
            with self._lock:
                self.transport.emit(event)
            self.sent += 1
            return True
        except Exception as exc:
            self.failed += 1
            log.warning("OpenLineage: could not emit a %s event of run %s through %s: %s",
                        getattr(event.eventType, "value", "?"), event.run.runId,
                        self.config.transport.type, redact_text(exc))
            return False

    def _settle(self, store: LineageStore, run_id: str, *, sent: bool, failed: bool) -> None:
        """Clear ``run_id`` from the outbox once sent, else give it back; never raises."""
        assert self.destination is not None
        try:
            with no_fork():
                if sent:
                    outbox.clear(store, run_id, self.destination)
                else:
                    outbox.release(store, run_id, self.destination, failed=failed)
        except Exception as exc:
            log.warning("OpenLineage: could not update the outbox of %s for run %s: %s",
                        store.where, run_id, redact_text(exc))

    def _start(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._work, daemon=True,
                                                name="lacuna-openlineage")
                self._thread.start()
                # a multiprocessing child ends with os._exit, which runs no atexit handler
                at_child_exit(lambda: self.flush(2.0))

    def _work(self) -> None:
        while True:
            run, store = self._queue.get()
            try:
                ok = self._emit_now(run)
                if store is not None and self.destination is not None:
                    self._settle(store, run.id, sent=ok, failed=not ok)
            finally:
                self._queue.task_done()
                # not kept while waiting for the next: the idle thread (one per emitter, for the
                # life of the process) held the last run's lineage store, and with it the
                # store's engine, pool and compiled statements
                del run, store

    def _sweep(self, store: LineageStore) -> None:
        """Re-send, once per store and process, in the background, what dead processes left."""
        if id(store) not in self._swept:
            self.sweep(lambda: store)

    def sweep(self, open_store: Callable[[], LineageStore]) -> None:
        """Start the re-send of the store ``open_store`` opens (on the background thread: a
        first open runs the state database's migrations), unless this process already re-sent
        that store; never raises, never waits. Rows are claimed (:func:`outbox.claim`), so a
        run another live process holds is left to it."""

        def sweep() -> None:
            where = "the lineage store"
            try:
                with no_fork():
                    store = open_store()
                where = store.where
                with self._sweeping:
                    if id(store) in self._swept:
                        return
                    self._swept.add(id(store))
                self.resend(store)
            except Exception as exc:
                log.warning("OpenLineage: could not re-send the runs pending in %s: %s",
                            where, redact_text(exc))

        threading.Thread(target=sweep, daemon=True, name="lacuna-openlineage-resend").start()

    def resend(self, store: LineageStore, *, max_attempts: int | None = outbox.MAX_ATTEMPTS,
               timeout: float | None = None) -> Resent:
        """Send the runs pending in ``store`` for this transport that no live process holds
        (see :mod:`lacuna.lineage.outbox`), on this thread; the file transport skips events it
        already holds (a run's runId and eventType). ``max_attempts``: skip runs that failed
        that often (None: try all); ``timeout``: stop claiming after that many seconds.

        Raises:
            LineageError: the store could not be read or written.
        """
        if self.destination is None:
            return Resent()
        deadline = None if timeout is None else time.monotonic() + timeout
        sent = failed = 0
        after: str | None = ""
        while after is not None:
            if deadline is not None and time.monotonic() > deadline:
                return Resent(sent, failed, timed_out=True)
            with no_fork():
                rows, after = outbox.claim(store, self.destination, after=after,
                                           max_attempts=max_attempts)
            for row in rows:
                try:
                    with no_fork():
                        run = store.get_run(row.run_id)
                except Exception as exc:  # a row the store cannot read: the others still go
                    log.warning("OpenLineage: run %s is pending in %s but could not be read "
                                "there: %s", row.run_id, store.where, redact_text(exc))
                    self._settle(store, row.run_id, sent=False, failed=True)
                    failed += 1
                    continue
                if run is None:
                    log.warning("OpenLineage: run %s is pending in %s but not recorded there: "
                                "nothing to send, dropped from the outbox", row.run_id,
                                store.where)
                    with no_fork():
                        outbox.clear(store, row.run_id, self.destination)
                    continue
                ok = self._emit_now(run, self._written(run.id, row.mark))
                self._settle(store, run.id, sent=ok, failed=not ok)
                sent, failed = sent + ok, failed + (not ok)
        if sent or failed:
            log.warning("OpenLineage: re-sent %d run(s) left pending in %s by a process that "
                        "ended before sending them%s", sent, store.where,
                        f"; {failed} failed again (still pending)" if failed else "")
        return Resent(sent, failed)

    def _written(self, run_id: str, mark: int | None) -> frozenset[str]:
        """The event types of ``run_id`` the file transport's file already holds, read from
        ``mark`` on (its size when the run was recorded; from the start when the file is
        shorter now, rotated or truncated)."""
        if self.config.transport.type != "file":
            return frozenset()
        from lacuna.lineage.openlineage import ol_run_id

        wanted = ol_run_id(run_id)
        found: set[str] = set()
        path = events_path(self.config)
        try:
            with path.open("rb") as f:
                if mark and os.fstat(f.fileno()).st_size >= mark:
                    f.seek(mark)
                for line in f:
                    if wanted.encode() not in line:
                        continue
                    try:
                        event = json.loads(line)
                        if event["run"]["runId"] == wanted:
                            found.add(str(event["eventType"]))
                    except (ValueError, KeyError, TypeError):
                        continue  # a line cut short by a kill, or not an event
        except OSError:
            pass
        return frozenset(found)

    def _forked(self) -> None:
        """Start afresh in a forked child (see :func:`_after_fork_in_child`)."""
        if self.config.transport.type == "http":  # the parent's kept-alive connections
            keep(self.transport)
            self.transport = make_transport(self.config)
        self._queue = queue.Queue(QUEUE_SIZE)
        self._lock = threading.Lock()
        self._thread = None
        self._swept = set()
        self._sweeping = threading.Lock()
        self._asked = set()

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


def _emitter(config: Config) -> Emitter | None:
    """:func:`emitter_for`, a transport that cannot be set up logged (None), never raised."""
    try:
        return emitter_for(config)
    except Exception:
        log.warning("OpenLineage: the transport in %s could not be set up",
                    config.source or "the configuration", exc_info=True)
        return None


def emit_run(run: Run, config: Config, store: LineageStore | None = None) -> None:
    """Emit ``run``'s OpenLineage events through the configured transport (``store``: the
    lineage store that marked it pending, see :func:`pending`). Never raises."""
    emitter = _emitter(config)
    if emitter is not None:
        emitter.emit_run(run, store)


def resend_pending(config: Config, open_store: Callable[[], LineageStore]) -> None:
    """Start, in the background, the re-send of the runs dead processes left pending for this
    configuration's transport in the store ``open_store`` opens: the governor calls it at a
    process's first governed operation of any kind, so a process that only reads (and records
    no run) sends what a killed one left too. Once per store and process; never raises, never
    waits."""
    emitter = _emitter(config)
    if emitter is not None and emitter.destination is not None:
        with emitter._sweeping:  # once per state database: no thread for each governor
            if config.audit_url in emitter._asked:
                return
            emitter._asked.add(config.audit_url)
        emitter.sweep(open_store)


def after_run_recorded(run: Run, config: Config, store: Any = None) -> None:
    """The governor's hook: call right after ``store.record(run, **pending(store, config))``
    on the export path, with the store when it recorded the run (None when it failed)."""
    from lacuna.lineage.store import LineageStore

    emit_run(run, config, store if isinstance(store, LineageStore) else None)


def flush_all(timeout: float = 5.0) -> bool:
    """Give queued runs up to ``timeout`` seconds in all (also at interpreter exit); True when
    every run was handled. Runs still waiting are said in a warning naming the transport: a
    run recorded in a lineage store stays pending in its outbox (the next governed process or
    ``lacuna lineage flush`` sends it), others are lost at exit. One deadline for all
    emitters (each had its own ``timeout``, so exit waited that long once per emitter)."""
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
        fate = ("at exit their events are lost" if emitter.destination is None else
                "those recorded in a lineage store stay pending in its outbox: the next "
                "governed process or `lacuna lineage flush` sends them")
        log.warning("OpenLineage: %d run(s) not yet sent through the %s transport (%s) after "
                    "%g s; %s.%s", emitter.pending, t.type,
                    where if t.type != "console" else "stderr", timeout, fate, hint)
    return done


def _after_fork_in_child() -> None:
    """A forked child (multiprocessing's default start on Linux) has no sender thread, and a
    lock the parent's thread held at the fork (sending an event to a slow collector) stays
    held for ever: the child's first governed run waited on it for ever. Every emitter starts
    afresh there; the runs the parent had queued are the parent's to send (not sent twice)."""
    global _emitters_lock
    _emitters_lock = threading.Lock()
    outbox.forked()
    for emitter in _emitters.values():
        emitter._forked()


atexit.register(flush_all, 5.0)
os.register_at_fork(after_in_child=_after_fork_in_child)

__all__ = ["Emitter", "Resent", "after_run_recorded", "destination", "emit_run", "emitter_for",
           "events_path", "existing_emitter", "flush_all", "make_transport", "pending",
           "resend_pending"]
