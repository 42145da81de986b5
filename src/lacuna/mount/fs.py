"""The governed file system: a passthrough over SOURCE whose opens and closes are decided.

Reads: ``open`` for reading decides a ``read`` operation (:meth:`MountGovernance.read`); a
denial is ``EACCES`` from ``open``. The bytes then flow without Lacuna in the way
(:meth:`GovernedFS._read_through` opens the backing file; reads are ``pread`` on it, and the
kernel caches pages while the file is unchanged). Two transports serve these operations:
libfuse through mfusepy, and the kernel session (:mod:`lacuna.mount.kernel`), which lets the
kernel read and write the backing file itself for the opens :meth:`GovernedFS.passthrough_fd`
names (FUSE passthrough); every decision is made here either way.

Writes in governed storage go to the backing file as they come (in-place work); on ``flush``
(each ``close``) the file is classified from its content and the write decided and recorded.
Writes to an outside folder go to a staged copy in ``SOURCE/.lacuna-staging`` and appear at
their destination only when ``flush`` allows them: a denied export is ``EACCES`` from
``close`` and nothing arrives. A ``rename`` or link that would carry a file from governed
storage into an outside folder is decided the same way, and a destination folder (the outbox)
is neither moved nor removed; the mount's own refusals are recorded like any denial
(:meth:`MountGovernance.refuse`).

Anything Lacuna fails on while deciding is a denial (``EACCES``), logged: fail closed.
"""

from __future__ import annotations

import ctypes
import errno
import functools
import logging
import os
import shutil
import stat
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, NoReturn

from lacuna.errors import GovernanceViolation, LacunaError, StorageError
from lacuna.lineage.labels import is_label
from lacuna.lineage.sidecar import (
    MAX_SIDECAR_BYTES,
    has_sidecar,
    own_sidecar_paths,
    sidecar_path,
    sidecar_paths,
)
from lacuna.model import Action, Classification
from lacuna.mount.context import caller
from lacuna.mount.decide import MountGovernance, is_metadata
from lacuna.mount.layout import MountLayout
from lacuna.storage import is_sealed, seals, write_governed
from lacuna.storage.frames import sweep
from lacuna.storage.sealed import plaintext_size

if TYPE_CHECKING:
    from pathlib import Path

log = logging.getLogger("lacuna.mount")

_STAT_KEYS = ("st_mode", "st_ino", "st_dev", "st_nlink", "st_uid", "st_gid", "st_size",
              "st_blocks", "st_blksize", "st_rdev")
_WRITING = (os.O_WRONLY, os.O_RDWR)

# Reads hand libfuse the descriptor (read_buf), so it copies the bytes in C: no Python bytes
# object per request. libfuse frees the vector with free(), so it comes from malloc().
_LIBC = ctypes.CDLL(None, use_errno=True)
_LIBC.malloc.restype = ctypes.c_void_p
_LIBC.malloc.argtypes = [ctypes.c_size_t]
_LIBC.free.restype = None
_LIBC.free.argtypes = [ctypes.c_void_p]
_BUF_IS_FD, _BUF_FD_SEEK = 1 << 1, 1 << 2
# libfuse's FUSE_CAP_SPLICE_WRITE: replies spliced from the descriptor. Never FUSE_CAP_SPLICE_MOVE:
# with it the kernel tries to steal the backing file's pages (evicting them from the backing
# file's page cache) and copies them all the same (measured: more CPU in the mount per GiB).
_SPLICE_WRITE, _SPLICE_MOVE = 1 << 7, 1 << 8
# The largest read request (the ``max_read`` mount option; see run.FUSE_OPTIONS for why).
MAX_READ = 512 * 1024
# A file's mtime moves in clock ticks (jiffies, 1-10 ms): within one, a rewrite of the same size
# leaves size and mtime as they were. A state younger than this is not trusted to be unchanged.
MTIME_TICK_NS = 50_000_000


# libfuse calls from its own worker threads. ctypes gives such a thread a Python thread state
# for the length of one callback and frees it after (allocation, a 16 KiB frame stack mapped and
# unmapped, per request). Pinning one state per worker thread (taking the GIL state once more,
# never released) makes every later callback on that thread reuse it.
_THREADS = threading.local()
_ENSURE = ctypes.pythonapi.PyGILState_Ensure
_ENSURE.restype = ctypes.c_int


def _pin_thread_state() -> None:
    if not getattr(_THREADS, "pinned", False):
        _ENSURE()
        _THREADS.pinned = True


@functools.cache
def _bufvec() -> Any:
    """libfuse's ``struct fuse_bufvec`` with its one inline ``fuse_buf`` (mfusepy's pointer
    field does not match the C layout). mfusepy loads libfuse: imported on first use only, so
    this module imports where libfuse is missing (``fuse_missing`` says why)."""
    import mfusepy

    class BufVec(ctypes.Structure):
        _fields_ = (("count", ctypes.c_size_t), ("idx", ctypes.c_size_t),
                    ("off", ctypes.c_size_t), ("buf", mfusepy.fuse_buf * 1))

    return BufVec


class FuseError(OSError):
    """An errno for the program (mfusepy returns ``-errno`` for an OSError)."""

    def __init__(self, code: int) -> None:
        super().__init__(code, os.strerror(code))


@dataclass(eq=False)
class Handle:
    """One open file: its descriptor, who opened it, and where an outside write is staged."""

    fd: int
    path: str
    pid: int
    writable: bool
    staged: str | None = None  # the staged copy of a write to an outside folder
    seal: bool = False  # staged plaintext, sealed into governed storage when allowed
    reader: Any = None  # a sealed file's decrypting reader (reads are served from it)
    dirty: bool = False  # written since the last decision
    denied: bool = False
    # the kernel reads and writes the backing file itself (FUSE passthrough): writes never
    # reach write(), so a writable one is decided at a flush (and at release) when the file
    # changed since its last decision, or since it was opened (its size and mtime then)
    passthrough: bool = False
    decided: tuple[int, int] | None = None
    decided_at: int = 0  # time.time_ns() of the last decision, or of ``decided`` (0: neither)
    # its release has begun: it decides what it wrote on its own (no other close will), but
    # its staged copy is still in use until that decision is over (see GovernedFS.release)
    releasing: bool = False
    # the retention clock its file had when it was opened for writing, before the open
    # truncated it or writes changed it (its sidecar says it only until then): the written
    # file keeps it (MountGovernance.write)
    before: datetime | None = None
    # what its file was (as a read sees it, label included) when opened for a write that
    # keeps its content (an append, an edit in place): the written file is no less
    kept: Classification | None = None
    # its staged copy's name was removed while it was open (``rm``): what it writes has no
    # name any more, so nothing of it is decided or published (as an unlinked file's data)
    gone: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)


def _within(path: str, name: str) -> bool:
    """Whether mount path ``path`` is ``name`` or under it (a folder)."""
    return path == name or path.startswith(name.rstrip("/") + "/")


def _denied(what: str) -> FuseError:
    log.debug("EACCES: %s", what)
    return FuseError(errno.EACCES)


class GovernedFS:
    """Path-based operations over ``layout.source``; decisions through ``governance``. Served
    by mfusepy (which registers the methods a class has; it does not need its ``Operations``
    base) or by :class:`lacuna.mount.kernel.KernelSession`."""

    use_ns = True

    def __init__(self, governance: MountGovernance) -> None:
        self.governance = governance
        self.layout: MountLayout = governance.layout
        self._handles: dict[int, Handle] = {}
        self._staged_at: dict[str, Handle] = {}  # mount path -> the handle staging it
        self._deciding: dict[str, threading.Lock] = {}  # staged copy -> one decision at a time
        self._lock = threading.Lock()
        self._next = 1
        self._sizes: dict[str, tuple[tuple[int, int, int], int | None]] = {}
        self._placed: dict[str, bool] = {}  # mount path -> in an outside folder
        os.makedirs(self.layout.staging, mode=0o700, exist_ok=True)
        # staged plaintext a mount killed before its releases (SIGTERM, kill -9) left behind
        for left in sweep(self.layout.staging, prefix=""):
            log.warning("removed %s: a staged write of a mount that no longer runs", left)

    def init_with_config(self, conn: Any, config: Any) -> None:  # noqa: ARG002
        """Ask the kernel to take read replies by splice (no copy through user space) when
        it can (``LACUNA_MOUNT_SPLICE=0`` turns it off)."""
        if conn is None:
            return
        conn.max_read = MAX_READ  # libfuse checks it matches the max_read mount option
        conn.want &= ~_SPLICE_MOVE
        if os.environ.get("LACUNA_MOUNT_SPLICE", "1") != "0":
            conn.want |= conn.capable & _SPLICE_WRITE

    # -- helpers ---------------------------------------------------------------------------------

    def _path(self, path: str) -> str:
        if self.layout.hidden(path):
            raise FuseError(errno.ENOENT)
        return self.layout.backing(path)

    def _outside(self, path: str) -> bool:
        """Whether ``path`` is in an outside folder; a path Lacuna cannot place (a control
        character in its name, a name that is not UTF-8, ...) is refused here: fail closed.
        (A name that is not UTF-8 reaches the audit trail escaped, but no label or lineage
        record can hold it: written, it broke the labels of files written after it.)"""
        hit = self._placed.get(path)
        if hit is not None:  # the roots are fixed while mounted: one resolution per path
            return hit
        try:
            path.encode("utf-8")
            outside = self.governance._outside(self.layout.backing(path))
        except Exception as exc:
            log.error("cannot place %r (denied, fail closed): %s", path, exc)
            msg = f"place {path!r}"
            raise _denied(msg) from exc
        if len(self._placed) > 4096:
            self._placed.clear()
        self._placed[path] = outside
        return outside

    @staticmethod
    def _pid() -> int:
        return caller().pid

    def _add(self, handle: Handle) -> int:
        with self._lock:
            fh, self._next = self._next, self._next + 1
            self._handles[fh] = handle
            if handle.staged is not None:
                self._staged_at.setdefault(handle.path, handle)
        return fh

    def _handle(self, fh: int) -> Handle:
        try:
            return self._handles[fh]
        except KeyError:
            raise FuseError(errno.EBADF) from None

    def _govern(self, decide: Callable[[], None], what: str, *,
                refusal: Callable[[str], None] | None = None) -> None:
        """Run a decision; a denial, or Lacuna failing, is EACCES (fail closed). When Lacuna
        fails, ``refusal(reason)`` records the refusal (``MountGovernance.refuse``): the
        program was told no, so the audit trail says so, and why."""
        try:
            decide()
        except GovernanceViolation:
            raise _denied(what) from None
        except FuseError:
            raise
        except Exception as exc:  # Lacuna's own failure (a server down): its message says
            # it all; anything else is a fault here, logged with where it happened
            log.error("could not govern %s (denied, fail closed): %s: %s", what,
                      type(exc).__name__, exc,
                      exc_info=None if isinstance(exc, LacunaError) else exc)
            if refusal is not None:
                self._record_failure(refusal, what, exc)
            raise _denied(what) from exc

    @staticmethod
    def _record_failure(refusal: Callable[[str], None], what: str, exc: Exception) -> None:
        reason = (f"Denied because Lacuna could not decide {what} ({type(exc).__name__}: "
                  f"{exc}); nothing was allowed (fail closed). The mount's log has the details.")
        try:
            refusal(reason)
        except GovernanceViolation:  # refuse() records, then raises: the refusal is recorded
            pass
        except Exception as again:  # the trail is failing too: the log is all that is left
            log.error("could not record the refusal of %s either: %s: %s", what,
                      type(again).__name__, again)

    def _clock_before(self, path: str, backing: str, pid: int, *, method: str
                      ) -> datetime | None:
        """The retention clock ``backing`` has before it is written
        (:meth:`MountGovernance.target_clock`), read before the open truncates it. Lacuna
        failing to read it (with ``server:``, a server that does not answer) refuses the
        write: ``EACCES``, logged and recorded (fail closed: a write without its clock would
        restart it)."""
        found: list[datetime | None] = []
        self._govern(lambda: found.append(self.governance.target_clock(backing)),
                     f"write {path}", refusal=self._write_refusal(path, pid, method=method))
        return found[0]

    def _read_refusal(self, path: str, backing: str, pid: int, *,
                      method: str = "fuse.open") -> Callable[[str], None]:
        return lambda reason: self.governance.refuse(Action.READ, path, pid, reason,
                                                     method=method, sources=(backing,))

    def _write_refusal(self, path: str, pid: int, *, method: str,
                       sources: tuple[str, ...] = ()) -> Callable[[str], None]:
        """The refusal of a write to mount path ``path``, as ``MountGovernance.write`` would
        have decided it: an ``export`` into an outside folder, else a ``write``."""
        return lambda reason: self.governance.refuse(
            Action.EXPORT if self._outside(path) else Action.WRITE, path, pid, reason,
            method=method, sources=sources, destination=self.layout.backing(path))

    def _seals(self, path: str) -> bool:
        """Whether a write to mount path ``path`` is sealed (governed storage, encryption
        on; Lacuna's sidecars stay readable)."""
        return not is_metadata(path) and seals(self.layout.backing(path), self.governance.gov)

    def _stages(self, path: str) -> bool:
        """Whether a write to mount path ``path`` goes to a staged copy, published only when
        it is allowed: in an outside folder, sealed into governed storage, or a sidecar
        (published only when it is one: data is not kept under a label's name)."""
        return self._outside(path) or self._seals(path) or is_metadata(path)

    def _plain_size(self, backing: str, st: os.stat_result) -> int | None:
        """The plaintext size of a sealed regular file (None when it is not sealed)."""
        key = (st.st_ino, st.st_size, st.st_mtime_ns)
        hit = self._sizes.get(backing)
        if hit is not None and hit[0] == key:
            return hit[1]
        try:
            size = plaintext_size(backing) if is_sealed(backing) else None
        except (StorageError, OSError):
            size = None  # damaged: reported as it is on disk; its open fails closed
        if len(self._sizes) > 4096:
            self._sizes.clear()
        self._sizes[backing] = (key, size)
        return size

    def _read_through(self, backing: str, flags: int) -> int:
        """The one place a governed read opens the data: a descriptor whose bytes are the file's.

        Encryption at rest (``lacuna.storage``) plugs in here: return a descriptor on the
        decrypted content instead.
        """
        return os.open(backing, flags)

    # -- metadata --------------------------------------------------------------------------------

    def getattr(self, path: str, fh: int | None = None) -> dict[str, Any]:  # noqa: ARG002
        staged = self._staged_at.get(path)
        st = None
        if staged is not None and staged.staged:
            try:
                st = os.lstat(staged.staged)
            except FileNotFoundError:  # published and unstaged meanwhile (its release)
                staged = None
        if st is None:
            st = os.lstat(self._path(path))
        attrs = {k: getattr(st, k) for k in _STAT_KEYS}
        if staged is None and st.st_size and stat.S_ISREG(st.st_mode):
            plain = self._plain_size(self._path(path), st)
            if plain is not None:  # a sealed file: programs see (and cp copies) the plaintext
                attrs["st_size"] = plain
        attrs.update(st_atime=st.st_atime_ns, st_mtime=st.st_mtime_ns, st_ctime=st.st_ctime_ns)
        return attrs

    def readdir(self, path: str, fh: int) -> Iterator[str]:  # noqa: ARG002
        names = os.listdir(self._path(path))
        if path == "/":
            names = [n for n in names if not self.layout.hidden(n)]
        prefix = path.rstrip("/") + "/"
        pending = [p[len(prefix):] for p in self._staged_at if p.startswith(prefix)]
        yield from (".", "..", *sorted(set(names) | {p for p in pending if "/" not in p}))

    def access(self, path: str, amode: int) -> int:
        if path in self._staged_at:
            return 0
        if not os.access(self._path(path), amode):
            raise FuseError(errno.EACCES)
        return 0

    def readlink(self, path: str) -> str:
        return os.readlink(self._path(path))

    def statfs(self, path: str) -> dict[str, int]:  # noqa: ARG002
        st = os.statvfs(self.layout.source)
        return {k: getattr(st, k) for k in ("f_bavail", "f_bfree", "f_blocks", "f_bsize",
                                             "f_favail", "f_ffree", "f_files", "f_flag",
                                             "f_frsize", "f_namemax")}

    def chmod(self, path: str, mode: int) -> int:
        os.chmod(self._path(path), mode)
        return 0

    def chown(self, path: str, uid: int, gid: int) -> int:
        os.chown(self._path(path), uid, gid)
        return 0

    def utimens(self, path: str, times: tuple[int, int] | None = None) -> int:
        staged = self._staged_at.get(path)
        target = staged.staged if staged is not None and staged.staged else self._path(path)
        if times is None:
            os.utime(target)
        else:
            os.utime(target, ns=times)
        return 0

    def mkdir(self, path: str, mode: int) -> int:
        os.mkdir(self._path(path), mode)
        return 0

    def rmdir(self, path: str) -> int:
        backing = self._path(path)
        root = self.governance.root_within(backing)
        if root is not None:
            self._refuse_root_change(path, root, f"remove folder {path}", "Remove",
                                     method="fuse.rmdir", sources=(backing,))
        self._keep_held(f"remove folder {path}", (path,), method="fuse.rmdir",
                        sources=(backing,), destination=backing)
        labels = self._labels_of(path, backing)
        with self._lock:
            if any(_within(p, path) for p in self._staged_at):  # a file in it is pending
                raise FuseError(errno.ENOTEMPTY)
        os.rmdir(backing)
        self._label_goes(path, labels)
        return 0

    def unlink(self, path: str) -> int:
        backing = self._path(path)
        self._keep_held(f"remove {path}", (path,), method="fuse.unlink", sources=(backing,),
                        destination=backing)
        self._keep_label(path, None, f"remove {path}", method="fuse.unlink")
        labels = self._labels_of(path, backing)
        with self._pending(path) as pending:  # no publish of the copy in between
            try:
                os.unlink(backing)
            except FileNotFoundError:
                if not pending:  # nothing published yet: removing the name is enough
                    raise
            for handle in pending:
                handle.gone = True
            with self._lock:
                if self._staged_at.get(path) in pending:
                    del self._staged_at[path]
        self._label_goes(path, labels)
        return 0

    @contextmanager
    def _pending(self, path: str) -> Iterator[list[Handle]]:
        """The open handles of every staged copy pending at ``path`` or under it (a folder),
        with the decision lock of each copy held: no close publishes a copy while its name is
        removed or moved (``rm``, ``mv``, which act on the name at once, as on any file
        system: the program still writing keeps writing the same file)."""
        with self._lock:
            copies = {h.staged for p, h in self._staged_at.items()
                      if h.staged is not None and _within(p, path)}
            locks = [self._deciding.setdefault(c, threading.Lock()) for c in sorted(copies)]
        with ExitStack() as stack:
            for lock in locks:  # sorted: two moves of overlapping folders take them in turn
                stack.enter_context(lock)
            with self._lock:
                pending = [h for h in self._handles.values() if h.staged in copies]
            yield pending

    def _move_pending(self, old: str, new: str, pending: list[Handle]) -> None:
        """The pending writes at ``old`` (or under it) now go to ``new``: decided and
        published there when their programs close, sealed or not as ``new`` is."""
        moved: dict[str, str] = {}
        for handle in pending:
            if _within(handle.path, old):
                moved[handle.path] = new + handle.path[len(old):]
                handle.path = moved[handle.path]
                handle.seal = self._seals(handle.path)
        with self._lock:
            for was, now in moved.items():
                staged = self._staged_at.pop(was, None)
                if staged is not None:
                    self._staged_at[now] = staged

    @staticmethod
    def _labels_of(path: str, backing: str) -> tuple[Path, ...]:
        """The label (sidecar) files of data file or folder ``backing``, found before it goes:
        its own names only (``.x``'s, never its sibling ``x``'s), none for a sidecar."""
        if is_metadata(path):
            return ()
        return tuple(p for p in own_sidecar_paths(backing) if p.is_file())

    def _label_goes(self, path: str, labels: tuple[Path, ...]) -> None:
        """Data removed through the mount takes its label along (as retention's delete does):
        a label left behind would be read for the next file of that name. Logged; a label
        that cannot be removed is logged as an error (the data is gone)."""
        for label in labels:
            try:
                label.unlink(missing_ok=True)
            except OSError as exc:
                log.error("removed %s but not its label %s: %s; remove it by hand", path,
                          label, exc)
                continue
            log.info("removed %s with its label %s", path, label.name)

    def _keep_label(self, path: str, new: str | None, what: str, *, method: str) -> None:
        """A sidecar removed or replaced (by the file ``new``) keeps its file's label as high
        (:meth:`MountGovernance.keep_label`); a refusal is EACCES, recorded."""
        if not is_metadata(path):
            return
        pid = self._pid()
        self._govern(lambda: self.governance.keep_label(path, pid, new, method=method), what,
                     refusal=self._write_refusal(path, pid, method=method))

    def _keep_held(self, what: str, paths: tuple[str, ...], *, method: str,
                   sources: tuple[str, ...] = (), destination: str | None = None) -> None:
        """Held data (a legal hold's) is not deleted, moved away, replaced or changed through
        the mount (:meth:`MountGovernance.keep_held`); a refusal is EACCES, recorded."""
        pid = self._pid()
        self._govern(lambda: self.governance.keep_held(what, paths, pid, method=method,
                                                       sources=sources,
                                                       destination=destination),
                     what, refusal=self._write_refusal(paths[0], pid, method=method,
                                                       sources=sources))

    def mknod(self, path: str, mode: int, dev: int) -> int:
        if self._outside(path):
            self._refuse(Action.EXPORT, path, f"mknod {path}",
                         f"Cannot create the special file {path} in an outside folder: only "
                         "regular files, whose content is decided, may be put there.",
                         method="fuse.mknod", destination=self._path(path))
        os.mknod(self._path(path), mode, dev)
        return 0

    def symlink(self, target: str, source: str) -> int:
        # mfusepy: ``target`` is the new link, ``source`` what it points to
        if self._outside(target):
            self._refuse(Action.EXPORT, target, f"symlink {target} -> {source}",
                         f"Cannot create the symbolic link {target} in an outside folder: a "
                         "link is not a copy Lacuna can decide (it would name data without "
                         "its content being checked). Copy the file there instead (cp), so the "
                         "export is decided on what it holds.",
                         method="fuse.symlink", destination=self._path(target))
        os.symlink(source, self._path(target))
        return 0

    def link(self, target: str, source: str) -> int:
        src = self._path(source)
        if self._outside(target) and not self._outside(source):
            self._refuse(Action.EXPORT, target, f"hard link {target} -> {source}",
                         f"Cannot hard-link {source} into the outside folder as {target}: a "
                         "link is not a copy Lacuna can decide (the same bytes would be "
                         "outside governance without an export being decided). Copy the file "
                         "there instead (cp), so the export is decided on its content.",
                         method="fuse.link", sources=(src,), destination=self._path(target))
        if self._outside(source) and not self._outside(target):
            self._refuse(Action.EXPORT, target, f"hard link {target} -> {source}",
                         f"Cannot hard-link {source} from the outside folder into governed "
                         f"storage as {target}: both names would be one file, so what is "
                         f"written to {target} would arrive outside governance without an "
                         "export being decided. Copy the file instead (cp).",
                         method="fuse.link", sources=(src,), destination=src)
        self._carry(source, src, f"hard link {target} -> {source}", method="fuse.link")
        os.link(src, self._path(target))
        self._label_follows(src, self._path(target), copy=True)
        return 0

    @staticmethod
    def _label_follows(src: str, dst: str, *, copy: bool = False) -> None:
        """A file or folder renamed (or a file linked, ``copy``) to a new name takes its
        sidecar along: its label names its content, not its path, and a file without one is
        classified from content alone (a gzip of customer data would be INTERNAL); a
        folder's label (a dataset's) is read for the folder's files."""
        if is_metadata(dst) or not os.path.exists(dst) or not has_sidecar(src):
            return
        own, taken = own_sidecar_paths(src), set(own_sidecar_paths(dst))
        hidden = sidecar_path(src).is_file()
        for side, moved in zip(sidecar_paths(src), sidecar_paths(dst), strict=False):
            if side not in own or not side.is_file():
                continue  # .x.lacuna.json is x's while x exists, not .x's
            if moved not in taken:  # x's: .x's visible-form sidecar goes under .x's own name
                if hidden:
                    log.error("%s: not moved to %s, which is the sidecar of another file "
                              "beside it", side, moved)
                    continue
                moved = sidecar_path(dst)
            try:
                if copy:
                    shutil.copy2(side, moved)
                else:
                    os.replace(side, moved)
            except OSError as exc:  # the file moved; its label is best effort, loudly
                log.error("could not move the sidecar of %s to %s: %s", src, dst, exc)

    def rename(self, old: str, new: str) -> int:
        """One rule for folders: a destination root (an outside folder, or a configured root
        under SOURCE) and any folder holding one is not moved, neither away nor into place
        (moving it would change where data written there goes); every other rename is
        decided by what it carries where: within governed storage, within or out of an
        outside folder, allowed; from governed storage into an outside folder, an ``export``
        of the file (an empty folder carries nothing; a non-empty one is refused). A write
        still pending at ``old`` (or in it) moves along: decided and published at ``new``
        when its program closes it."""
        src, dst = self._path(old), self._path(new)
        root = self.governance.root_within(src) or self.governance.root_within(dst)
        if root is not None:
            self._refuse_root_change(old, root, f"move {old} to {new}", "Move",
                                     method="fuse.rename", sources=(src,), destination=dst)
        # held data is neither moved away nor replaced (a folder holding some: not moved)
        self._keep_held(f"move {old} to {new}", (old, new) if os.path.lexists(dst) else (old,),
                        method="fuse.rename", sources=(src,), destination=dst)
        with self._pending(old) as pending:  # writes still to be published move along
            if pending and not os.path.lexists(src):  # only pending: nothing published yet
                if os.path.isdir(dst):
                    raise FuseError(errno.EISDIR)
                if not os.path.isdir(os.path.dirname(dst)):
                    raise FuseError(errno.ENOENT)
            else:
                self._rename(old, new, src, dst)
            self._move_pending(old, new, pending)
        return 0

    def _rename(self, old: str, new: str, src: str, dst: str) -> None:
        """:meth:`rename` of what is published at ``old``."""
        self._carry(old, src, f"rename {old} -> {new}", method="fuse.rename")
        self._keep_label(old, None, f"rename {old} -> {new}", method="fuse.rename")
        if self._unseal_label(old, new, src, dst):
            return
        if os.path.lexists(dst):
            self._keep_label(new, src, f"rename {old} -> {new}", method="fuse.rename")
        if not self._outside(new) or self._outside(old):
            os.rename(src, dst)
            self._label_follows(src, dst)
            return

        def refuse_export(reason: str) -> NoReturn:
            self._refuse(Action.EXPORT, old, f"rename {old} -> {new}", reason,
                         method="fuse.rename", sources=(src,), destination=dst)

        st = os.lstat(src)
        if stat.S_ISDIR(st.st_mode) and os.listdir(src):
            refuse_export(f"Cannot move the folder {old} into the outside folder as {new}: the "
                          "files in it would leave governance without an export being decided "
                          "for each. Copy its files there instead (cp -r), so each export is "
                          "decided on its content.")
        if stat.S_ISDIR(st.st_mode):  # empty: nothing leaves
            os.rename(src, dst)
            self._label_follows(src, dst)
            return
        if not stat.S_ISREG(st.st_mode):
            refuse_export(f"Cannot move {old} into the outside folder as {new}: it is a "
                          "symbolic link or special file, not a copy Lacuna can decide (it "
                          "would name data without its content being checked). Copy the file "
                          "there instead (cp), so the export is decided on what it holds.")
        if st.st_nlink > 1:
            refuse_export(f"Cannot move {old} into the outside folder as {new}: it has "
                          f"{st.st_nlink - 1} other hard link(s), so what is written through "
                          "them would arrive outside governance without an export being "
                          "decided. Copy it there instead (cp).")
        if self._open_for_writing(st):
            refuse_export(f"Cannot move {old} into the outside folder as {new}: it is open "
                          "for writing through the mount, so what is written after the move "
                          "would arrive outside governance without an export being decided. "
                          "Close it first, or copy it there instead (cp).")
        if is_sealed(src):
            refuse_export(f"Cannot move the sealed file {old} into the outside folder as {new}: "
                          "it is encrypted at rest, and moved it would arrive as ciphertext "
                          "without its export being decided on its content. Copy it instead "
                          "(cp), so the export is decided on its decrypted content.")
        pid = self._pid()
        self._govern(lambda: self.governance.write(new, src, pid, lambda _: os.rename(src, dst),
                                                   moved=True, method="fuse.rename"),
                     f"rename {old} -> {new}",
                     refusal=self._write_refusal(new, pid, method="fuse.rename", sources=(src,)))

    def _unseal_label(self, old: str, new: str, src: str, dst: str) -> bool:
        """Put a label written through the mount in place as a label: Lacuna writes a sidecar
        as a temporary file renamed onto the sidecar's name (``write_sidecar``), and that
        file, data by its name when it was closed, was sealed. A declaration under a sidecar
        name in governed storage is plaintext (every reader of SOURCE reads it), so a sealed
        one is decrypted into place (its read was decided as the rename's), and the
        temporary file goes with its own label. Anything else renamed there stays as it is
        (data, decided as data when read). Whether it was put in place."""
        if (not is_metadata(new) or self._outside(new) or not os.path.isfile(src)
                or not is_sealed(src)):
            return False
        folder = os.path.join(self.layout.staging, f"{os.getpid()}-{uuid.uuid4().hex}")
        os.mkdir(folder, 0o700)
        try:
            plain = os.path.join(folder, os.path.basename(dst))
            with self.governance.unsealed(src) as label, open(plain, "wb") as out:
                out.write(label.read(MAX_SIDECAR_BYTES + 1))
            if not is_label(plain):  # the shape Lacuna writes, nothing more (lineage.labels)
                return False
            if os.path.lexists(dst):
                self._keep_label(new, plain, f"rename {old} -> {new}", method="fuse.rename")
            shutil.copymode(src, plain)
            os.replace(plain, dst)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        os.unlink(src)
        for side in own_sidecar_paths(src):
            if side.is_file():
                side.unlink(missing_ok=True)
        return True

    def _carry(self, path: str, backing: str, what: str, *, method: str) -> None:
        """A rename or hard link gives what ``path`` holds a new name, where a read policy may
        no longer refuse it (a file of ``restricted/`` moved or linked out of it): decided as
        a read of each file it carries (of a folder, every file in it), as an open for
        reading would be, and recorded with ``method``; a denial refuses it all (EACCES)."""
        pid = self._pid()
        st = os.lstat(backing)
        if stat.S_ISREG(st.st_mode):
            self._carry_file(path, backing, pid, what, method)
        elif stat.S_ISDIR(st.st_mode):
            for folder, _, names in os.walk(backing):
                for name in sorted(names):
                    full = os.path.join(folder, name)
                    if stat.S_ISREG(os.lstat(full).st_mode):
                        sub = path.rstrip("/") + "/" + os.path.relpath(full, backing)
                        self._carry_file(sub, full, pid, what, method)

    def _carry_file(self, path: str, backing: str, pid: int, what: str, method: str) -> None:
        def decide() -> None:
            if is_sealed(backing):  # decided on its signed sidecar, as its open would be
                self.governance.open_sealed(path, pid, method=method, remember=False).close()
            else:
                self.governance.read(path, pid, method=method, remember=False)

        self._govern(decide, what, refusal=self._read_refusal(path, backing, pid, method=method))

    def _open_for_writing(self, st: os.stat_result) -> bool:
        """Whether the file ``st`` describes is open for writing through the mount."""
        with self._lock:
            fds = [h.fd for h in self._handles.values()
                   if h.writable and h.fd >= 0 and not h.releasing]
        for fd in fds:
            try:
                other = os.fstat(fd)
            except OSError:  # closed meanwhile
                continue
            if (other.st_dev, other.st_ino) == (st.st_dev, st.st_ino):
                return True
        return False

    def _refuse(self, action: Action, path: str, what: str, reason: str, *, method: str,
                sources: tuple[str, ...] = (), destination: str | None = None) -> NoReturn:
        """Refuse ``what`` by the mount's own rule, recorded like any denial (EACCES)."""
        pid = self._pid()
        self._govern(lambda: self.governance.refuse(
            action, path, pid, reason, method=method, sources=sources,
            destination=destination), what)
        raise _denied(what)  # refuse() always raises; this keeps it closed if it did not

    def _refuse_root_change(self, path: str, root: str, what: str, verb: str, *, method: str,
                            sources: tuple[str, ...],
                            destination: str | None = None) -> NoReturn:
        """Refuse to remove or move ``root`` (a destination folder) or a folder holding it."""
        self._refuse(Action.WRITE, path, what,
                     f"Cannot {what}: {self._root_name(root)} is a configured destination "
                     "folder of this mount, and where it is decides whether data written there "
                     f"leaves governance. {verb} the files in it instead, or change the "
                     "mount's --outside folders or lacuna.yaml's destinations.",
                     method=method, sources=sources, destination=destination)

    def _root_name(self, root: str) -> str:
        """A destination root as the mount shows it (``/outbox``)."""
        return "/" + os.path.relpath(root, self.layout.source)

    def truncate(self, path: str, length: int, fh: int | None = None) -> int:
        handle = self._handles.get(fh) if fh is not None else None
        if os.path.lexists(self._path(path)):  # (a held file's open for writing is refused)
            self._keep_held(f"truncate {path}", (path,), method="fuse.truncate",
                            destination=self._path(path))
        if handle is not None and handle.writable:
            os.ftruncate(handle.fd, length)
            handle.dirty = True
            return 0
        if fh is None and self._truncate_pending(path, length):
            return 0
        backing = self._path(path)
        self._keep_label(path, None, f"truncate {path}", method="fuse.truncate")
        if is_sealed(backing):
            if length:
                msg = f"truncate of sealed {path} to {length} bytes: rewrite the file instead"
                raise _denied(msg)
            pid = self._pid()
            seen = self._clock_before(path, backing, pid, method="fuse.truncate")
            # decided (and its holds asked again) by the sealed write: a denial or Lacuna
            # failing there (a server gone since) is EACCES, as for any write, never an
            # exception out of the file system
            self._govern(lambda: write_governed(backing, lambda _: None, method="fuse.truncate",
                                                gov=self.governance.gov, first_seen=seen),
                         f"truncate {path}",
                         refusal=self._write_refusal(path, pid, method="fuse.truncate"))
            return 0
        os.truncate(backing, length)
        return 0

    def _truncate_pending(self, path: str, length: int) -> bool:
        """Truncate a path whose staged write is pending (``truncate -s``, or a truncating
        open that the kernel sends as a truncation first) as an open of its own: it shares the
        staged copy and is decided at its close, or at the close of a writer still open on the
        copy. (Marking the pending writer dirty lost the truncation when that writer's release
        had already decided, and its descriptor could already be closed, its number reused.)
        Whether a write was pending (the caller's hold check is this open's)."""
        joined = self._join_pending(path, os.O_WRONLY)
        if joined is None:
            return False
        fh, handle = joined
        with self._lock:
            handle.releasing = False
        try:
            os.ftruncate(handle.fd, length)
            handle.dirty = True
            self.flush(path, fh)
        finally:
            self.release(path, fh)
        return True

    # -- files -----------------------------------------------------------------------------------

    def open(self, path: str, flags: int) -> int:
        backing = self._path(path)
        joined = self._join_pending(path, flags)
        if joined is not None:  # opened again while its staged write is pending
            fh, handle = joined
            try:
                if (handle.writable or flags & os.O_TRUNC) and os.path.lexists(backing):
                    self._keep_held(f"write {path}", (path,), method="fuse.open",
                                    destination=backing)
                if flags & os.O_ACCMODE != os.O_WRONLY:  # what it reads is the pending copy
                    self._govern(lambda: self.governance.read(
                        path, handle.pid, pending=f"/proc/self/fd/{handle.fd}",
                        kept=handle.kept),
                        f"read {path}", refusal=self._read_refusal(path, backing, handle.pid))
            except BaseException:
                os.close(handle.fd)
                self._unstage(handle, fh)
                raise
            with self._lock:
                handle.releasing = False  # decided: one of the copy's opens from now on
            return fh
        access = flags & os.O_ACCMODE
        writing = access in _WRITING or bool(flags & os.O_TRUNC)
        pid = self._pid()
        if writing and os.path.lexists(backing):  # a hold keeps content: not written to
            self._keep_held(f"write {path}", (path,), method="fuse.open", sources=(backing,),
                            destination=backing)
        sealed = os.path.isfile(backing) and is_sealed(backing)
        staging = writing and self._stages(path)
        reader: Any = None
        # a staged write that keeps the content decrypts it into the staged copy: a read of
        # it even when the open is write-only, so it is decided (and recorded) first
        if sealed and (access != os.O_WRONLY or (staging and not flags & os.O_TRUNC)):
            opened: list[Any] = []
            self._govern(lambda: opened.append(self.governance.open_sealed(path, pid)),
                         f"read {path}", refusal=self._read_refusal(path, backing, pid))
            reader = opened[0]
        elif access != os.O_WRONLY and os.path.isfile(backing):
            self._govern(lambda: self.governance.read(path, pid), f"read {path}",
                         refusal=self._read_refusal(path, backing, pid))
        before = (self._clock_before(path, backing, pid, method="fuse.open") if writing
                  else None)
        kept = (self._kept(path, backing, pid, reader)
                if writing and not flags & os.O_TRUNC and os.path.isfile(backing) else None)
        if staging:
            # dirty with O_TRUNC: a truncated file is a write even when nothing is written
            # to it (``: > f``), or the open would leave the old content for a later append
            return self._stage(path, pid, flags, copy=not flags & os.O_TRUNC, reader=reader,
                               seal=self._seals(path), dirty=bool(flags & os.O_TRUNC),
                               before=before, kept=kept)
        if reader is not None:  # served decrypted by read(); the kernel never sees ciphertext
            return self._add(Handle(-1, path, pid, False, reader=reader))
        fd = self._read_through(backing, flags) if not writing else os.open(backing, flags)
        return self._add(Handle(fd, path, pid, writing, dirty=bool(flags & os.O_TRUNC),
                                before=before, kept=kept))

    def _join_pending(self, path: str, flags: int) -> tuple[int, Handle] | None:
        """An open of ``path`` while its staged write is pending: the staged copy opened and
        the open listed at once, under the lock ``_unstage`` removes a copy with, so the copy
        is not removed once found (it was, by the last other open's release meanwhile: this
        open then wrote a removed copy, and a reader fell back to the file as published
        before, ``echo hello > f; : > f; cat f`` read hello). Listed as ``releasing`` until
        its open is decided: no other release leaves its decision to an open that may yet be
        refused. None when nothing is pending (published and unstaged meanwhile)."""
        with self._lock:
            staged = self._staged_at.get(path)
            if staged is None or staged.staged is None:
                return None
            try:
                fd = os.open(staged.staged, flags & ~(os.O_CREAT | os.O_EXCL))
            except FileNotFoundError:
                return None
            # dirty with O_TRUNC: it emptied the copy, a write even when nothing follows
            # (``echo a > f; : > f``, the first open's release late): decided at its close,
            # or the copy's earlier decision stays published (its snapshot before this)
            handle = Handle(fd, path, self._pid(), (flags & os.O_ACCMODE) in _WRITING,
                            staged=staged.staged, seal=staged.seal,
                            dirty=bool(flags & os.O_TRUNC), before=staged.before,
                            kept=staged.kept, releasing=True)
            fh, self._next = self._next, self._next + 1
            self._handles[fh] = handle
        return fh, handle

    def _kept(self, path: str, backing: str, pid: int, reader: Any) -> Classification | None:
        """What the file at ``backing`` is before a write that keeps its content: a sealed
        one's as its read was decided (``reader``), a plain one's as a read sees it (its
        label included; cached by the read just decided). Lacuna failing: the open is
        refused (fail closed)."""
        if is_metadata(path):
            return None
        if reader is not None:
            decided = getattr(reader.raw, "decided_on", None)
            return decided if isinstance(decided, Classification) else None
        found: list[Classification] = []
        self._govern(lambda: found.append(self.governance.classify_file(backing)),
                     f"write {path}", refusal=self._write_refusal(path, pid, method="fuse.open"))
        return found[0]

    def create(self, path: str, mode: int, fi: int | None = None) -> int:
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC if fi is None else int(fi)
        backing = self._path(path)
        if os.path.lexists(backing):  # a create that would truncate a held file: refused
            self._keep_held(f"write {path}", (path,), method="fuse.open", sources=(backing,),
                            destination=backing)
        pid = self._pid()
        # before the create truncates it
        before = self._clock_before(path, backing, pid, method="fuse.open")
        if self._stages(path):
            if flags & os.O_EXCL and os.path.exists(backing):
                raise FuseError(errno.EEXIST)
            # dirty: a new file is a write even when nothing is written to it (``touch``)
            return self._stage(path, pid, flags | os.O_CREAT, copy=False, mode=mode,
                               seal=self._seals(path), dirty=True, before=before)
        fd = os.open(backing, flags | os.O_CREAT, mode)
        return self._add(Handle(fd, path, pid, True, dirty=True, before=before))

    def _stage(self, path: str, pid: int, flags: int, *, copy: bool, mode: int = 0o644,
               reader: Any = None, seal: bool = False, dirty: bool = False,
               before: datetime | None = None, kept: Classification | None = None) -> int:
        """A write into a private plaintext copy, published only once it is allowed: to an
        outside folder as it is, into governed storage sealed (``seal``). ``reader`` is the
        decrypting reader of a sealed file whose content the write keeps (its read decided at
        open, also when the open is write-only)."""
        # named by this process (frames.sweep removes it if the process dies holding it)
        folder = os.path.join(self.layout.staging, f"{os.getpid()}-{uuid.uuid4().hex}")
        os.mkdir(folder, 0o700)
        staged = os.path.join(folder, os.path.basename(path))
        backing = self.layout.backing(path)
        try:
            if copy and reader is not None:
                self._decrypt_into(staged, reader, mode)
            elif copy and os.path.isfile(backing) and is_sealed(backing):
                # sealed since open looked (its read was not decided): never decrypted here
                os.rmdir(folder)
                raise FuseError(errno.EACCES)
            elif copy and os.path.isfile(backing):
                shutil.copy2(backing, staged)
        finally:
            if reader is not None:
                reader.close()
        keep = flags & ~(os.O_CREAT | os.O_EXCL | os.O_TRUNC | os.O_APPEND)
        fd = os.open(staged, keep | os.O_CREAT | (flags & (os.O_TRUNC | os.O_APPEND)), mode)
        return self._add(Handle(fd, path, pid, True, staged=staged, seal=seal, dirty=dirty,
                                before=before, kept=kept))

    def _decrypt_into(self, staged: str, src: Any, mode: int) -> None:
        """The plaintext of a sealed file, for a write that keeps its content (its read was
        decided at open, also for a write-only open: the staged copy is plaintext)."""
        try:
            fd = os.open(staged, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
            with os.fdopen(fd, "wb") as out:
                shutil.copyfileobj(src, out, 1 << 20)
        finally:
            src.close()

    def passthrough_fd(self, fh: int) -> int | None:
        """The descriptor the kernel may read and write directly for open ``fh`` (FUSE
        passthrough, :mod:`lacuna.mount.kernel`), or None when its bytes must flow through
        ``read``/``write``: only a plain file of governed storage qualifies (not an outside
        folder's file, where writes are staged and exports decided on close; not a sealed
        file, whose bytes on disk are ciphertext; not a staged copy)."""
        handle = self._handles.get(fh)
        if (handle is None or handle.reader is not None or handle.staged is not None
                or handle.fd < 0 or self._outside(handle.path)):
            return None
        if handle.writable and self._seals(handle.path):  # (open stages these: never here)
            return None
        return handle.fd

    def passed_through(self, fh: int) -> None:
        """The kernel passes open ``fh`` through: its writes will not come to ``write``, so
        what it writes is told by the file's size and mtime, compared with these from now."""
        handle = self._handle(fh)
        handle.passthrough = True
        if handle.writable:
            self._note_state(handle)

    def writes_through(self, fh: int) -> bool:
        """Whether open ``fh`` lets the kernel write the backing file without the mount."""
        handle = self._handles.get(fh)
        return handle is not None and handle.passthrough and handle.writable

    @staticmethod
    def _note_state(handle: Handle) -> None:
        st = os.fstat(handle.fd)
        handle.decided, handle.decided_at = (st.st_size, st.st_mtime_ns), time.time_ns()

    def _changed(self, handle: Handle) -> bool:
        """Whether a writable passthrough file changed since its last decision."""
        st = os.fstat(handle.fd)
        return handle.decided != (st.st_size, st.st_mtime_ns)

    def _to_decide_at_flush(self, handle: Handle) -> bool:
        """Whether a ``close`` of a writable passthrough open has something to decide.

        Every ``close`` of a descriptor is a flush, also one that wrote nothing (a shell
        opens ``> f``, duplicates the descriptor onto stdout and closes the original before
        ``echo`` writes): deciding each would record one logical write twice. So a flush
        decides when the file's size or mtime changed since the last decision (or the open),
        and, failing closed, also when they cannot tell: a file timestamp is coarse (a clock
        tick), so a same-size rewrite within ``MTIME_TICK_NS`` of the last state keeps its
        mtime. A file that is still empty holds nothing to decide yet; ``release`` decides
        it if it stays so (a created or truncated file is decided at least once).
        """
        st = os.fstat(handle.fd)
        if handle.decided != (st.st_size, st.st_mtime_ns):
            return True
        if st.st_size == 0:
            return False
        return handle.dirty or handle.decided_at - st.st_mtime_ns < MTIME_TICK_NS

    def read(self, path: str, size: int, offset: int, fh: int) -> bytes:  # noqa: ARG002
        """Reads without ``read_buf`` (mfusepy calls ``read_buf`` when the class has it)."""
        handle = self._handle(fh)
        if handle.reader is None:
            return os.pread(handle.fd, size, offset)
        buf = bytearray(size)
        return bytes(buf[:self._decrypt_into_buffer(handle, buf, offset)])

    def read_into(self, fh: int, buffer: memoryview, offset: int) -> int:
        """Read into ``buffer`` (the kernel session's reply buffer): a sealed file decrypted
        straight into it, a plain one with one ``preadv``; the count read."""
        handle = self._handle(fh)
        if handle.reader is None:
            return os.preadv(handle.fd, [buffer], offset)
        return self._decrypt_into_buffer(handle, buffer, offset)

    def read_buf(self, path: str, bufpp: Any, size: int, offset: int,  # noqa: ARG002
                 fh: int) -> int:
        """The hot path of every read: no Python bytes, no copy, no logging.

        A plaintext file is handed to libfuse as its descriptor and position (``FUSE_BUF_IS_FD
        | FUSE_BUF_FD_SEEK``): libfuse splices (or ``pread``s) the bytes in C, outside the GIL,
        so the worker threads copy in parallel. A sealed file is decrypted straight into a
        buffer from ``malloc`` that libfuse sends and frees. Either way the Python work per
        request is a dict lookup and a small struct (the read was decided at ``open``).
        """
        _pin_thread_state()
        handle = self._handles.get(fh)
        if handle is None:
            raise FuseError(errno.EBADF)
        vec_type = _bufvec()
        vec_ptr = _LIBC.malloc(ctypes.sizeof(vec_type))
        if not vec_ptr:
            raise FuseError(errno.ENOMEM)
        vec = vec_type.from_address(vec_ptr)
        vec.count, vec.idx, vec.off = 1, 0, 0
        buf = vec.buf[0]
        if handle.reader is None:
            buf.size, buf.flags, buf.mem, buf.fd, buf.pos = (
                size, _BUF_IS_FD | _BUF_FD_SEEK, None, handle.fd, offset)
        else:
            mem = _LIBC.malloc(max(size, 1))
            if not mem:
                _LIBC.free(vec_ptr)
                raise FuseError(errno.ENOMEM)
            try:
                got = self._decrypt_into_buffer(
                    handle, (ctypes.c_char * size).from_address(mem), offset)
            except BaseException:
                _LIBC.free(mem)
                _LIBC.free(vec_ptr)
                raise
            buf.size, buf.flags, buf.mem, buf.fd, buf.pos = got, 0, mem, -1, 0
        bufpp[0] = ctypes.cast(vec_ptr, bufpp._type_)  # mfusepy: POINTER(fuse_bufvec)
        return 0

    @staticmethod
    def _decrypt_into_buffer(handle: Handle, buffer: Any, offset: int) -> int:
        """A sealed file's plaintext at ``offset`` into ``buffer``: decrypt the segments this
        read touches (whole ones straight into the buffer)."""
        with handle.lock:
            try:
                handle.reader.seek(offset)
                got: int = handle.reader.readinto(buffer)
            except StorageError as exc:  # altered after it was opened: never garbage
                log.error("read of %s failed: %s", handle.path, exc)
                raise FuseError(errno.EIO) from exc
            return got

    def write(self, path: str, data: bytes, offset: int, fh: int) -> int:  # noqa: ARG002
        handle = self._handle(fh)
        if handle.denied:
            msg = f"write to {handle.path} after its export was denied"
            raise _denied(msg)
        handle.dirty = True
        return os.pwrite(handle.fd, data, offset)

    def flush(self, path: str, fh: int) -> int:  # noqa: ARG002
        """Each ``close``: decide what was written since the last decision."""
        handle = self._handle(fh)
        with handle.lock:
            if handle.denied:
                msg = f"close of {handle.path}: its export was denied"
                raise _denied(msg)
            if handle.writable and (self._to_decide_at_flush(handle) if handle.passthrough
                                    else handle.dirty and not self._new_and_empty(handle)):
                self._decide_write(handle)
        return 0

    @staticmethod
    def _new_and_empty(handle: Handle) -> bool:
        """A file created (or truncated) and not yet decided that is still empty: a ``close``
        with nothing written (a shell closes the descriptor it duplicated before the command
        writes) has nothing to decide yet; ``release`` decides it if it stays empty."""
        return handle.decided_at == 0 and os.fstat(handle.fd).st_size == 0

    def _decide_write(self, handle: Handle) -> None:
        if handle.staged is None:
            self._decide_write_now(handle)
            return
        with self._lock:
            deciding = self._deciding.setdefault(handle.staged, threading.Lock())
        with deciding:  # two opens of one staged copy closing at once: one decision each turn
            if handle.gone:  # its name was removed: nothing to publish, nothing leaves
                handle.dirty = False
                return
            if handle.denied:  # the other's was refused meanwhile: the same export, not anew
                msg = f"write {handle.path}: its export was denied"
                raise _denied(msg)
            self._decide_write_now(handle)

    def _decide_write_now(self, handle: Handle) -> None:
        handle.dirty = False
        if handle.passthrough:
            self._note_state(handle)
        else:
            handle.decided_at = time.time_ns()
        publish: Callable[[datetime], None] = lambda _: None  # noqa: E731 (in place: written)
        snapshot: str | None = None
        if handle.staged is not None:
            try:
                snapshot = self._snapshot(handle)
            except OSError as exc:  # fail closed: nothing is published undecided
                log.error("cannot take what %s wrote to decide it (denied): %s", handle.path,
                          exc)
                handle.denied = True
                msg = f"write {handle.path}"
                raise _denied(msg) from exc
        data = snapshot or self.layout.backing(handle.path)
        if snapshot is not None and handle.seal:
            taken, target = snapshot, self.layout.backing(handle.path)
            gov = self.governance.gov

            def publish(seen: datetime) -> None:  # sealed in place (atomically), never plaintext
                with open(taken, "rb") as src:
                    write_governed(target, lambda out: shutil.copyfileobj(src, out, 1 << 20),
                                   method="fuse.write", gov=gov, first_seen=seen)
        elif snapshot is not None:
            taken, target = snapshot, self.layout.backing(handle.path)

            def publish(seen: datetime) -> None:  # noqa: ARG001 (its sidecar carries it)
                os.replace(taken, target)

        try:
            self._govern(lambda: self.governance.write(handle.path, data, handle.pid, publish,
                                                       before=handle.before, kept=handle.kept),
                         f"write {handle.path}",
                         refusal=self._write_refusal(handle.path, handle.pid, method="fuse.write"))
        except FuseError:
            if handle.staged is not None:  # an export stays refused, for every open of the copy
                self._refuse_copy(handle.staged)
            raise
        finally:
            if snapshot is not None:
                shutil.rmtree(os.path.dirname(snapshot), ignore_errors=True)

    @staticmethod
    def _snapshot(handle: Handle) -> str:
        """What is decided is what is published: a copy of the staged file as it is now, which
        other opens of the same path share and may write while this one is decided. Read
        through the open descriptor (``/proc/self/fd``: the file may already be unlinked by a
        release, and the descriptor may be write-only), into a private folder, under the same
        file name (the classifier reads the format from it)."""
        assert handle.staged is not None
        folder = os.path.join(os.path.dirname(handle.staged), uuid.uuid4().hex)
        os.makedirs(folder, 0o700)
        snapshot = os.path.join(folder, os.path.basename(handle.staged))
        try:
            with open(f"/proc/self/fd/{handle.fd}", "rb") as src, open(snapshot, "wb") as out:
                shutil.copyfileobj(src, out, 1 << 20)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        return snapshot

    def fsync(self, path: str, datasync: int, fh: int) -> int:  # noqa: ARG002
        handle = self._handle(fh)
        if handle.reader is None:
            (os.fdatasync if datasync else os.fsync)(handle.fd)
        return 0

    def release(self, path: str, fh: int) -> int:  # noqa: ARG002
        """The last close of an open: decide what it wrote and was not decided yet, then let
        its staged copy go. The handle stays listed (``releasing``) until then: another
        open of the same staged copy released meanwhile (a reader of the new file) must not
        remove the copy, and the snapshot being decided in its folder, from under it."""
        with self._lock:
            handle = self._handles.get(fh)
            if handle is None or handle.releasing:
                return 0
            handle.releasing = True
        with handle.lock:
            try:
                if handle.writable and not handle.denied and (
                        handle.dirty or (handle.passthrough and self._changed(handle))):
                    sharing = self._sharing(handle)  # their close decides all of it
                    try:  # written after its last close: decide now (the program cannot hear)
                        if not sharing:
                            self._decide_write(handle)
                    except FuseError:
                        log.warning("%s: written after close and denied; not published",
                                    handle.path)
            finally:
                if handle.reader is not None:
                    handle.reader.close()
                else:
                    os.close(handle.fd)
                if handle.staged is not None:
                    self._unstage(handle, fh)
                else:
                    with self._lock:
                        self._handles.pop(fh, None)
        return 0

    def _refuse_copy(self, staged: str) -> None:
        """Every open of a refused staged copy is refused: another open's close (np.savetxt's
        create, its RELEASE late under load) finds the same refused data in the copy, the same
        export, not a new one to decide and record again."""
        with self._lock:
            for other in self._handles.values():
                if other.staged == staged:
                    other.denied = True

    def _sharing(self, handle: Handle) -> list[Handle]:
        """The other open handles writing the same staged copy as ``handle`` whose close is
        still to come (one being released decides what it wrote on its own), each marked
        dirty, so that its close decides the copy as it is then. Found and marked under the
        lock ``release`` sets ``releasing`` with: an open whose release began meanwhile was
        marked after it had looked (``echo a > f; : > f``, both releases at once), and no
        one decided the truncation (the file kept ``a``)."""
        if handle.staged is None:
            return []
        with self._lock:
            others = [h for h in self._handles.values() if h is not handle
                      and h.staged == handle.staged and h.writable and not h.releasing]
            for other in others:
                other.dirty = True
            return others

    def _unstage(self, handle: Handle, fh: int) -> None:
        """Unlist ``handle``; remove its staged copy unless another open (or release) of it
        is still under way."""
        with self._lock:
            self._handles.pop(fh, None)
            others = [h for h in self._handles.values() if h.staged == handle.staged]
            if not others and handle.staged is not None:
                self._deciding.pop(handle.staged, None)
            if self._staged_at.get(handle.path) is handle:
                if others:
                    self._staged_at[handle.path] = others[0]
                else:
                    del self._staged_at[handle.path]
        if not others and handle.staged is not None:
            shutil.rmtree(os.path.dirname(handle.staged), ignore_errors=True)
