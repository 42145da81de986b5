"""Live policies: notice changed policy files and reload the engine, atomically.

:class:`PolicyWatcher` polls the bundle folder (every ``interval_s``, 1 s by default) for a
change in any ``.rego`` or data file's name, size, modification time, change time or inode
(an edit that keeps the size and sets the modification time back, ``cp -p`` or ``touch -r``,
still moves the change time, which no user can set; a file replaced by a rename is another
inode). On a change it calls
:meth:`PolicyEngine.reload`, which reads and compiles the whole bundle again and swaps it in
only when that succeeds: decisions in flight finish on the bundle they started with, new ones
use the new bundle, and the decision cache starts empty. A bundle that fails to load or compile
is rejected: the engine keeps the old bundle, and the watcher logs at ERROR what is wrong and
where (``file:line:column``), once per broken version of the files.

**Only a settled bundle is loaded.** A change is loaded once the files have stayed the same
for one whole poll, and only if they did not change while they were read. An editor saving
several files, ``git pull`` or a copy writing them one by one goes through states that may
compile but lack a rule (a ``deny`` moved from one file to another, half a file): loading one
of those would decide with a looser policy until the next poll. Write files atomically (to a
temporary name, then rename) or expect a change to take effect one or two polls later.

Polling needs no extra dependency and works on every file system (network mounts, containers'
bind mounts) where change notifications are unreliable; a poll of a small bundle costs well
under a millisecond.

    watcher = PolicyWatcher(engine).start()   # in a long-running process (server, notebook)
    ...
    watcher.stop()
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from lacuna._forks import renew_in_child
from lacuna.errors import PolicyError
from lacuna.policy.bundle import walk
from lacuna.policy.unsendable import release_held

if TYPE_CHECKING:
    from lacuna.policy.engine import PolicyEngine

log = logging.getLogger(__name__)
Fingerprint = tuple[tuple[str, int, int, int, int], ...]


class PolicyWatcher:
    """Polls a policy folder and reloads ``engine`` when its files change.

    Args:
        engine: the engine to reload (its bundle must be a folder on disk).
        interval_s: seconds between polls.
        on_reload: called with ``(old_revision, new_revision)`` after a successful swap.
        on_error: called with the :class:`PolicyError` of a rejected bundle.

    Raises:
        PolicyError: the engine's bundle is built into Lacuna (there is nothing to watch).
    """

    def __init__(self, engine: PolicyEngine, *, interval_s: float = 1.0,
                 on_reload: Callable[[str, str], None] | None = None,
                 on_error: Callable[[PolicyError], None] | None = None) -> None:
        root = engine.root
        if root is None:
            msg = ("the policy engine uses a bundle shipped with Lacuna, which does not change; "
                   "set policy.dir to a folder to watch it.")
            raise PolicyError(msg)
        self.engine = engine
        self.root: Path = root
        self.interval_s = interval_s
        self.on_reload = on_reload
        self.on_error = on_error
        self.last_error: PolicyError | None = None
        self._seen = self._fingerprint()
        self._pending: Fingerprint | None = None  # a change seen once, waiting to hold still
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        renew_in_child(self)

    def check(self) -> bool:
        """Poll once; reload if the files changed and have stayed the same since the last
        poll. Returns whether a new bundle is in use."""
        from lacuna.policy.engine import BundleChanging

        current = self._fingerprint()
        if current == self._seen:
            self._pending = None
            return False
        if current != self._pending:  # changed since the last poll: wait for it to settle
            self._pending = current
            return False
        old = self.engine.revision
        try:
            new = self.engine.reload(unchanged=lambda: self._fingerprint() == current)
        except BundleChanging:  # written to while read: the next polls see it settle
            self._pending = None
            return False
        except Exception as exc:  # a PolicyError; anything else is a rejection too, reported
            # once, not as a traceback every poll (and its traceback is not kept)
            error = exc if isinstance(exc, PolicyError) else PolicyError(
                f"the policy bundle could not be loaded ({type(exc).__name__}: {exc})")
            self._seen, self._pending = current, None  # this version is reported once
            self.last_error = error
            log.error("policy bundle %s changed but was REJECTED; still deciding with revision "
                      "%s. Fix it and save again:\n%s", self.root, old, error)
            if self.on_error is not None:
                self.on_error(error)
            return False
        self._seen, self._pending = current, None
        self.last_error = None
        if new == old:
            return False
        log.warning("policy bundle %s reloaded: revision %s -> %s", self.root, old, new)
        if self.on_reload is not None:
            self.on_reload(old, new)
        return True

    def start(self) -> PolicyWatcher:
        """Poll in a background (daemon) thread until :meth:`stop`."""
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="lacuna-policy-watcher",
                                            daemon=True)
            self._thread.start()
        return self

    def _after_fork_in_child(self) -> None:
        """A forked child polls too (:mod:`lacuna._forks`): the parent's thread is not there,
        and a long-lived child (a pre-forked worker) decided with the policies of its fork
        for ever."""
        if self._thread is not None and not self._stop.is_set():
            self._stop = threading.Event()
            self._thread = None
            self.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop polling (waits for the thread to finish)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def __enter__(self) -> PolicyWatcher:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.check()
            except Exception:  # never let the watcher die silently
                log.exception("policy watcher for %s failed while polling", self.root)
            # a reload compiled an engine here (PolicyEngine._load keeps it in this thread's
            # slot): this thread never decides, and as a daemon still running at exit the
            # interpreter dropped it on the main thread, which regorus refuses (unsendable.py)
            release_held()

    def _fingerprint(self) -> Fingerprint:
        """Name, modification and change times, size and inode of every file the bundle reads
        (the same walk, symbolically linked folders included); a file that cannot be read
        counts as such."""
        out = []
        try:
            for rel, path in walk(self.root):
                try:
                    st = Path(str(path)).stat()
                except OSError:  # gone, or a dangling link: loading it fails, loudly
                    out.append(("/".join(rel), -1, -1, -1, -1))
                    continue
                out.append(("/".join(rel), st.st_mtime_ns, st.st_ctime_ns, st.st_size,
                            st.st_ino))
        except PolicyError:  # the folder cannot be listed: a state of its own
            return (("", -1, -1, -1, -1),)
        return tuple(out)
