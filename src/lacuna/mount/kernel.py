"""The governed mount's own FUSE transport: the kernel protocol on /dev/fuse, with passthrough.

Why: libfuse 3.14 (Debian's, under mfusepy) cannot ask the kernel for FUSE passthrough (added
in libfuse 3.17), and without it every byte read through the mount is copied through the
kernel's FUSE page cache and this process (docs/mount.md, "Performance"). This session speaks
the protocol itself (``fs/fuse``, protocol 7.40: :mod:`lacuna.mount.kernel_abi`) and serves the
same path-based operations object mfusepy serves (:class:`~lacuna.mount.fs.GovernedFS`): it is
only a transport, like libfuse's high-level API; every decision stays in GovernedFS.

What passthrough changes: for an open GovernedFS allows whose bytes are a plain file of
governed storage (:meth:`GovernedFS.passthrough_fd`), the reply names that file as the open's
*backing file* (``FOPEN_PASSTHROUGH``); the kernel then reads and writes it directly, and READ
and WRITE requests for that open never reach this process. The open itself is still decided and
audited, every time; sealed files, staged writes and outside folders keep being served here
through READ/WRITE.

Threads: several workers read requests from the one /dev/fuse descriptor (a decision may wait
on I/O); each request is answered by the thread that read it, with one write.
"""

from __future__ import annotations

import errno
import logging
import os
import stat
import threading
import time
from collections.abc import Callable
from typing import Any

from lacuna.mount import kernel_abi as K
from lacuna.mount.context import Caller, serving
from lacuna.mount.kernel_dev import (
    BUFFER,
    MAX_WRITE,
    detach,
    init_reply,
    mount_fd,
    register_backing,
    unregister_backing,
)
from lacuna.mount.mappings import mapped_for_writing, mount_device
from lacuna.mount.nodes import Node, Nodes, child

log = logging.getLogger("lacuna.mount")

WORKERS = 4  # threads reading requests at the start ...
MAX_WORKERS = 32  # ... and at most, when decisions keep them busy
UNMAPPED_POLL = 0.5  # seconds between looks for a writable mapping outliving its open

Reply = bytes | memoryview
Handler = Callable[[Node | None, int, memoryview], "Reply | list[Reply] | None"]


def _name(data: memoryview) -> str:
    raw = bytes(data)
    end = raw.find(b"\0")
    return os.fsdecode(raw if end < 0 else raw[:end])


def _names(data: memoryview) -> tuple[str, str]:
    first, second = bytes(data).split(b"\0")[:2]
    return os.fsdecode(first), os.fsdecode(second)


def _encode_dev(dev: int) -> int:
    """The kernel's ``new_encode_dev`` (fuse_attr.rdev is 32 bits)."""
    major, minor = os.major(dev), os.minor(dev)
    return ((minor & 0xFF) | (major << 8) | ((minor & ~0xFF) << 12)) & 0xFFFFFFFF


def _signed(seconds: int) -> int:
    """A time's seconds as the kernel means them (a u64 field holding an s64)."""
    return seconds - (1 << 64) if seconds >= 1 << 63 else seconds


def _timeout(seconds: float) -> tuple[int, int]:
    return int(seconds), int((seconds - int(seconds)) * 1e9)


class KernelSession:
    """Serve ``ops`` (a :class:`~lacuna.mount.fs.GovernedFS`) at ``mountpoint``."""

    def __init__(self, ops: Any, mountpoint: str, *, fsname: str, passthrough: bool = True,
                 attr_timeout: float = 1.0, entry_timeout: float = 1.0,
                 workers: int = WORKERS) -> None:
        self.ops = ops
        self.mountpoint = mountpoint
        self.fsname = fsname
        self.want_passthrough = passthrough
        self.passthrough = False  # granted by the kernel at INIT
        self.nodes = Nodes()
        self.workers = workers
        self._attr = _timeout(attr_timeout)
        self._entry = _timeout(entry_timeout)
        self._fd = -1
        self._opens: dict[int, tuple[Node, bool]] = {}  # fh -> (node, passthrough)
        self._dirs: dict[int, tuple[str, list[str] | None]] = {}
        self._next_dir = 1
        self._deferred: set[int] = set()  # releases waiting for a writable mapping to go
        self._dev: tuple[int, int] | None = None
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._busy = 0
        self._local = threading.local()
        self._handlers: dict[int, Handler] = {
            K.LOOKUP: self._lookup, K.GETATTR: self._getattr, K.SETATTR: self._setattr,
            K.READLINK: self._readlink, K.SYMLINK: self._symlink, K.MKNOD: self._mknod,
            K.MKDIR: self._mkdir, K.UNLINK: self._unlink, K.RMDIR: self._rmdir,
            K.RENAME: self._rename, K.RENAME2: self._rename2, K.LINK: self._link,
            K.OPEN: self._open, K.CREATE: self._create, K.READ: self._read,
            K.WRITE: self._write, K.FLUSH: self._flush, K.RELEASE: self._release,
            K.FSYNC: self._fsync, K.OPENDIR: self._opendir, K.READDIR: self._readdir,
            K.RELEASEDIR: self._releasedir, K.FSYNCDIR: self._fsyncdir, K.STATFS: self._statfs,
            K.ACCESS: self._access, K.DESTROY: lambda *_: b"",
        }

    # -- lifecycle -------------------------------------------------------------------------------

    def mount(self) -> None:
        self._fd = mount_fd(self.mountpoint, self.fsname, max_read=MAX_WRITE)

    def serve(self) -> None:
        """Answer requests until the mount is unmounted (blocks). Mounts first if needed."""
        if self._fd < 0:
            self.mount()
        for _ in range(self.workers):
            self._spawn()
        try:
            while True:
                with self._lock:
                    alive = [t for t in self._threads if t.is_alive()]
                if not alive:
                    break
                alive[0].join(0.5)
        except BaseException:
            detach(self.mountpoint)
            raise
        finally:
            fd, self._fd = self._fd, -1
            self._finish_deferred()
            os.close(fd)

    def _spawn(self) -> None:
        with self._lock:
            thread = threading.Thread(target=self._worker, daemon=True,
                                      name=f"lacuna-fuse-{len(self._threads)}")
            self._threads.append(thread)
        thread.start()

    def _worker(self) -> None:
        """Read a request, answer it, repeat. When every worker is busy (decisions waiting on
        I/O), one more starts, up to MAX_WORKERS, as libfuse's loop does."""
        buf = bytearray(BUFFER)
        view = memoryview(buf)
        while True:
            try:
                n = os.readv(self._fd, [buf])
            except OSError as exc:
                if exc.errno in (errno.ENOENT, errno.EINTR, errno.EAGAIN):
                    continue  # a request interrupted before we read it
                if exc.errno != errno.ENODEV:
                    log.error("reading /dev/fuse failed: %s; the mount ends", exc)
                    detach(self.mountpoint)
                return  # ENODEV: unmounted
            with self._lock:
                self._busy += 1
                grow = self._busy >= len(self._threads) and len(self._threads) < MAX_WORKERS
            if grow:
                self._spawn()
            try:
                self._serve_one(view[:n])
            except Exception:
                log.exception("the mount failed to answer a request")
            finally:
                with self._lock:
                    self._busy -= 1

    def _serve_one(self, req: memoryview) -> None:
        length, opcode, unique, nodeid, uid, gid, pid, extlen, _ = K.IN_HEADER.unpack_from(req)
        body = req[K.IN_HEADER.size:length - extlen * 8]
        if opcode == K.INIT:
            reply, self.passthrough, why = init_reply(unique, body, self.want_passthrough)
            if why:
                log.warning("passthrough off: %s", why)
            self._send([reply])
            return
        if opcode in (K.FORGET, K.BATCH_FORGET, K.INTERRUPT):
            self._forget(opcode, nodeid, body)
            return
        handler = self._handlers.get(opcode)
        if handler is None:
            self._error(unique, errno.ENOSYS)
            return
        serving(Caller(uid, gid, pid))
        try:
            node = self.nodes.node(nodeid) if nodeid else None
            payload = handler(node, unique, body)
        except OSError as exc:
            self._error(unique, exc.errno or errno.EIO)
            return
        except Exception as exc:
            log.error("FUSE request %d failed (answered EIO): %s: %s", opcode,
                      type(exc).__name__, exc, exc_info=exc)
            self._error(unique, errno.EIO)
            return
        finally:
            serving(None)
        if payload is None:  # answered by the handler itself
            return
        parts = payload if isinstance(payload, list) else [payload]
        size = K.OUT_HEADER.size + sum(len(p) for p in parts)
        self._send([K.OUT_HEADER.pack(size, 0, unique), *parts])

    def _send(self, parts: list[Reply]) -> bool:
        try:
            os.writev(self._fd, parts)
        except OSError as exc:  # ENOENT: the request was interrupted (its caller is gone)
            if exc.errno != errno.ENOENT:
                log.warning("could not answer the kernel: %s", exc)
            return False
        return True

    def _error(self, unique: int, code: int) -> None:
        self._send([K.OUT_HEADER.pack(K.OUT_HEADER.size, -code, unique)])

    def _forget(self, opcode: int, nodeid: int, body: memoryview) -> None:
        if opcode == K.FORGET:
            self.nodes.forget(nodeid, K.FORGET_IN.unpack_from(body)[0])
        elif opcode == K.BATCH_FORGET:
            count, _ = K.BATCH_FORGET_IN.unpack_from(body)
            for i in range(count):
                one, n = K.FORGET_ONE.unpack_from(body, K.BATCH_FORGET_IN.size
                                                  + i * K.FORGET_ONE.size)
                self.nodes.forget(one, n)

    # -- attributes ------------------------------------------------------------------------------

    def _pack_attr(self, node: Node, a: dict[str, Any]) -> bytes:
        def sec(ns: int) -> tuple[int, int]:  # the kernel reads the u64 seconds as signed
            return (ns // 1_000_000_000) & 0xFFFFFFFFFFFFFFFF, ns % 1_000_000_000

        (at, atn), (mt, mtn), (ct, ctn) = sec(a["st_atime"]), sec(a["st_mtime"]), sec(
            a["st_ctime"])
        return K.ATTR.pack(node.nodeid, a["st_size"], a.get("st_blocks", 0), at, mt, ct, atn,
                           mtn, ctn, a["st_mode"], a.get("st_nlink", 1), a.get("st_uid", 0),
                           a.get("st_gid", 0), _encode_dev(a.get("st_rdev", 0)),
                           a.get("st_blksize", 4096), 0)

    def _saw(self, node: Node, a: dict[str, Any]) -> None:
        """libfuse's auto_cache: attributes that differ from the cached pages' invalidate them
        (the next open drops them)."""
        key = (a["st_size"], a["st_mtime"])
        if node.seen != key:
            node.cache_valid = False
            node.seen = key
        node.attrs = a

    def _entry_for(self, path: str) -> bytes:
        attrs = self.ops.getattr(path)
        node = self.nodes.looked_up(path, attrs)
        self._saw(node, attrs)
        return (K.ENTRY_OUT.pack(node.nodeid, 0, self._entry[0], self._attr[0], self._entry[1],
                                 self._attr[1]) + self._pack_attr(node, attrs))

    def _attr_out(self, node: Node, fh: int | None = None) -> bytes:
        if node.path is None and node.attrs is not None:  # unlinked or moved aside, still open
            attrs = {**node.attrs, "st_nlink": 0} if node.unlinked else node.attrs
        else:
            attrs = self.ops.getattr(self.nodes.path(node.nodeid), fh)
            self._saw(node, attrs)
        return K.ATTR_OUT.pack(self._attr[0], self._attr[1], 0) + self._pack_attr(node, attrs)

    def _lookup(self, node: Node | None, unique: int, body: memoryview) -> bytes:  # noqa: ARG002
        return self._entry_for(child(self._path(node), _name(body)))

    def _getattr(self, node: Node | None, unique: int, body: memoryview) -> bytes:  # noqa: ARG002
        flags, _, fh = K.GETATTR_IN.unpack_from(body)
        return self._attr_out(self._known(node), fh if flags & K.GETATTR_FH else None)

    def _setattr(self, node: Node | None, unique: int, body: memoryview) -> bytes:  # noqa: ARG002
        (valid, _, fh, size, _, atime, mtime, _, atimens, mtimens, _, mode, _, uid, gid,
         _) = K.SETATTR_IN.unpack_from(body)
        path = self._path(node)
        handle = fh if valid & K.FATTR_FH else None
        if valid & K.FATTR_MODE:
            self.ops.chmod(path, stat.S_IMODE(mode))
        if valid & (K.FATTR_UID | K.FATTR_GID):
            self.ops.chown(path, uid if valid & K.FATTR_UID else -1,
                           gid if valid & K.FATTR_GID else -1)
        if valid & K.FATTR_SIZE:
            self.ops.truncate(path, size, handle)
        if valid & (K.FATTR_ATIME | K.FATTR_MTIME):
            now = time.time_ns()
            current = self.ops.getattr(path, handle)
            times = (
                (now if valid & K.FATTR_ATIME_NOW else _signed(atime) * 1_000_000_000 + atimens)
                if valid & K.FATTR_ATIME else current["st_atime"],
                (now if valid & K.FATTR_MTIME_NOW else _signed(mtime) * 1_000_000_000 + mtimens)
                if valid & K.FATTR_MTIME else current["st_mtime"])
            self.ops.utimens(path, times)
        return self._attr_out(self._known(node), handle)

    def _statfs(self, node: Node | None, unique: int, body: memoryview) -> bytes:  # noqa: ARG002
        s = self.ops.statfs("/")
        return K.STATFS_OUT.pack(s["f_blocks"], s["f_bfree"], s["f_bavail"], s["f_files"],
                                 s["f_ffree"], s["f_bsize"], s["f_namemax"], s["f_frsize"], 0)

    def _access(self, node: Node | None, unique: int, body: memoryview) -> bytes:  # noqa: ARG002
        self.ops.access(self._path(node), K.ACCESS_IN.unpack_from(body)[0])
        return b""

    # -- names -----------------------------------------------------------------------------------

    def _known(self, node: Node | None) -> Node:
        if node is None:
            raise OSError(errno.ESTALE, "no node")
        return node

    def _path(self, node: Node | None) -> str:
        return self.nodes.path(self._known(node).nodeid)

    def _readlink(self, node: Node | None, unique: int, body: memoryview) -> bytes:  # noqa: ARG002
        return os.fsencode(self.ops.readlink(self._path(node)))

    def _symlink(self, node: Node | None, unique: int, body: memoryview) -> bytes:  # noqa: ARG002
        name, target = _names(body)
        path = child(self._path(node), name)
        self.ops.symlink(path, target)  # mfusepy's order: the new link, then what it points to
        return self._entry_for(path)

    def _mknod(self, node: Node | None, unique: int, body: memoryview) -> bytes:  # noqa: ARG002
        mode, rdev, _, _ = K.MKNOD_IN.unpack_from(body)
        path = child(self._path(node), _name(body[K.MKNOD_IN.size:]))
        self.ops.mknod(path, mode, rdev)
        return self._entry_for(path)

    def _mkdir(self, node: Node | None, unique: int, body: memoryview) -> bytes:  # noqa: ARG002
        mode, _ = K.MKDIR_IN.unpack_from(body)
        path = child(self._path(node), _name(body[K.MKDIR_IN.size:]))
        self.ops.mkdir(path, mode)
        return self._entry_for(path)

    def _unlink(self, node: Node | None, unique: int, body: memoryview) -> bytes:  # noqa: ARG002
        path = child(self._path(node), _name(body))
        self.ops.unlink(path)
        self.nodes.detach(path)
        return b""

    def _rmdir(self, node: Node | None, unique: int, body: memoryview) -> bytes:  # noqa: ARG002
        path = child(self._path(node), _name(body))
        self.ops.rmdir(path)
        self.nodes.detach(path)
        return b""

    def _rename(self, node: Node | None, unique: int, body: memoryview) -> bytes:  # noqa: ARG002
        (newdir,) = K.RENAME_IN.unpack_from(body)
        return self._move(node, newdir, body[K.RENAME_IN.size:])

    def _rename2(self, node: Node | None, unique: int, body: memoryview) -> bytes:  # noqa: ARG002
        newdir, flags, _ = K.RENAME2_IN.unpack_from(body)
        if flags:  # RENAME_NOREPLACE / EXCHANGE / WHITEOUT: not offered
            raise OSError(errno.EINVAL, "rename flags are not supported")
        return self._move(node, newdir, body[K.RENAME2_IN.size:])

    def _move(self, node: Node | None, newdir: int, names: memoryview) -> bytes:
        old_name, new_name = _names(names)
        old = child(self._path(node), old_name)
        new = child(self.nodes.path(newdir), new_name)
        self.ops.rename(old, new)
        self.nodes.move(old, new)
        return b""

    def _link(self, node: Node | None, unique: int, body: memoryview) -> bytes:  # noqa: ARG002
        (old_id,) = K.LINK_IN.unpack_from(body)
        path = child(self._path(node), _name(body[K.LINK_IN.size:]))
        self.ops.link(path, self.nodes.path(old_id))  # mfusepy's order: new, existing
        return self._entry_for(path)

    # -- files -----------------------------------------------------------------------------------

    def _open(self, node: Node | None, unique: int, body: memoryview) -> None:
        flags, _ = K.OPEN_IN.unpack_from(body)
        node = self._known(node)
        path = self.nodes.path(node.nodeid)
        with node.lock:
            fh = self.ops.open(path, flags)
            open_flags, backing = self._opened(node, path, fh)
        self._answer_open(unique, node, path, fh, [K.OPEN_OUT.pack(fh, open_flags, backing)])

    def _create(self, node: Node | None, unique: int, body: memoryview) -> None:
        flags, mode, _, _ = K.CREATE_IN.unpack_from(body)
        path = child(self._path(node), _name(body[K.CREATE_IN.size:]))
        fh = self.ops.create(path, mode, flags)
        try:
            entry = self._entry_for(path)
        except BaseException:
            self.ops.release(path, fh)
            raise
        created = self.nodes.node(K.ENTRY_OUT.unpack_from(entry)[0])
        with created.lock:
            open_flags, backing = self._opened(created, path, fh)
        self._answer_open(unique, created, path, fh,
                          [entry, K.OPEN_OUT.pack(fh, open_flags, backing)])

    def _answer_open(self, unique: int, node: Node, path: str, fh: int,
                     payload: list[bytes]) -> None:
        size = K.OUT_HEADER.size + sum(len(p) for p in payload)
        if not self._send([K.OUT_HEADER.pack(size, 0, unique), *payload]):
            self._close(node, path, fh)  # the program is gone: no RELEASE will come

    def _opened(self, node: Node, path: str, fh: int) -> tuple[int, int]:
        """:meth:`_open_mode`, and the handle released if it fails (nothing leaks)."""
        try:
            return self._open_mode(node, path, fh)
        except BaseException:
            with self._lock:
                known = fh in self._opens
            if not known:
                self.ops.release(path, fh)  # idempotent: a refused open was released already
            raise

    def _open_mode(self, node: Node, path: str, fh: int) -> tuple[int, int]:
        """(open flags, backing id) for a new open of ``node``; the caller holds node.lock.

        Passthrough when GovernedFS says the open's bytes are the backing file's and no open of
        the inode is served here (the kernel requires one mode per inode); otherwise served
        here, with libfuse's auto_cache rule for the kernel's pages. An open that cannot share
        the inode's mode (the file was replaced, or this open must be served here while others
        are passed through) moves the path to a new node (:meth:`_stale`).
        """
        fd = self.ops.passthrough_fd(fh) if self.passthrough else None
        if fd is not None and not node.cached_opens:
            key = os.fstat(fd)
            backing_key = (key.st_dev, key.st_ino)
            if node.backing_id and node.backing_key != backing_key:
                self._stale(node, path, fh, "it was replaced while open")
            if not node.backing_id:
                try:
                    node.backing_id = register_backing(self._fd, fd)
                except OSError as exc:
                    log.warning("passthrough of %s refused by the kernel (%s); served here",
                                path, exc)
                    fd = None
                else:
                    node.backing_key = backing_key
            if fd is not None:
                node.passthrough_opens += 1
                self.ops.passed_through(fh)
                with self._lock:
                    self._opens[fh] = (node, True)
                return K.FOPEN_PASSTHROUGH, node.backing_id
        attrs = self.ops.getattr(path, fh)
        if node.passthrough_opens:
            self._stale(node, path, fh, "it is passed through to other opens and this one must "
                        "be served by the mount (a write staged, or sealed on close)")
        current = (attrs["st_size"], attrs["st_mtime"])
        keep = node.cache_valid and node.seen == current
        node.seen, node.cache_valid = current, True
        node.cached_opens += 1
        with self._lock:
            self._opens[fh] = (node, False)
        return (K.FOPEN_KEEP_CACHE if keep else 0), 0

    def _stale(self, node: Node, path: str, fh: int, why: str) -> None:
        """This open cannot share ``node``'s mode (``why``): ESTALE, on which the kernel looks
        the name up again (LOOKUP_REVAL) and retries the open once, now on a new node, a new
        inode for the kernel (the path no longer names ``node``; its open files keep it). The
        decision made for this attempt is recorded; the retry is decided again."""
        self.ops.release(path, fh)
        self.nodes.retire(node)
        log.info("open of %s moved to a new node: %s", path, why)
        raise OSError(errno.ESTALE, f"{path}: {why}")

    def _close(self, node: Node, path: str, fh: int) -> None:
        """An open ended (RELEASE, or its reply could not be delivered)."""
        with self._lock:
            _, passed = self._opens.get(fh, (node, False))
        if passed and self.ops.writes_through(fh) and self._mapped_for_writing(node):
            # A shared writable mapping of a passed-through file is the backing file's: it
            # outlives this release and its writes never come here. Decide once it is gone.
            log.info("%s is still mapped for writing after its last close: its write is "
                     "decided once it is unmapped", path)
            threading.Thread(target=self._close_when_unmapped, args=(node, path, fh),
                             daemon=True, name="lacuna-fuse-unmapped").start()
            return
        self._really_close(node, path, fh)

    def _close_when_unmapped(self, node: Node, path: str, fh: int) -> None:
        with self._lock:
            self._deferred.add(fh)
        try:
            while self._fd >= 0 and self._mapped_for_writing(node):
                time.sleep(UNMAPPED_POLL)
        finally:
            with self._lock:
                still = fh in self._deferred
                self._deferred.discard(fh)
            if still:
                self._really_close(node, path, fh)

    def _finish_deferred(self) -> None:
        """At unmount: decide what is still mapped (nothing more can be written through the
        mount's name for it)."""
        with self._lock:
            pending, self._deferred = self._deferred, set()
            opens = {fh: self._opens.get(fh) for fh in pending}
        for fh, known in opens.items():
            if known is not None:
                self._really_close(known[0], self._handle_path(known[0]), fh)

    def _mapped_for_writing(self, node: Node) -> bool:
        """Whether some process maps ``node``'s file shared and writable (/proc/PID/maps names
        a passed-through mapping by the mount's device and the node id, our inode number)."""
        if self._dev is None:
            try:
                self._dev = mount_device(self.mountpoint)
            except OSError as exc:  # decide now: what is written later is not seen
                log.warning("cannot look for mappings of %s: %s", node.path, exc)
                return False
        return mapped_for_writing(self._dev, node.nodeid)

    def _really_close(self, node: Node, path: str, fh: int) -> None:
        try:
            self.ops.release(path, fh)
        finally:
            with self._lock:
                _, passed = self._opens.pop(fh, (node, False))
            with node.lock:
                if passed:
                    node.passthrough_opens -= 1
                    if not node.passthrough_opens and node.backing_id:
                        try:
                            unregister_backing(self._fd, node.backing_id)
                        except OSError as exc:
                            log.warning("closing backing id %d failed: %s", node.backing_id,
                                        exc)
                        node.backing_id, node.backing_key = 0, None
                else:
                    node.cached_opens -= 1
            self.nodes.released(node)

    def _handle_path(self, node: Node | None) -> str:
        """A file handle's path for GovernedFS (which goes by the handle, not the path)."""
        return node.path if node is not None and node.path is not None else ""

    def _read(self, node: Node | None, unique: int, body: memoryview) -> memoryview:  # noqa: ARG002
        """Into this thread's reply buffer and out from there (no bytes object per request):
        a sealed file decrypted into it, a plain one served here read with preadv."""
        fh, offset, size, *_ = K.READ_IN.unpack_from(body)
        out = getattr(self._local, "reply", None)
        if out is None:
            out = self._local.reply = memoryview(bytearray(MAX_WRITE))
        got = self.ops.read_into(fh, out[:min(size, MAX_WRITE)], offset)
        return out[:got]

    def _write(self, node: Node | None, unique: int, body: memoryview) -> bytes:  # noqa: ARG002
        fh, offset, size, *_ = K.WRITE_IN.unpack_from(body)
        data = body[K.WRITE_IN.size:K.WRITE_IN.size + size]
        written = self.ops.write(self._handle_path(node), data, offset, fh)
        return K.WRITE_OUT.pack(written, 0)

    def _flush(self, node: Node | None, unique: int, body: memoryview) -> bytes:  # noqa: ARG002
        fh, *_ = K.FLUSH_IN.unpack_from(body)
        self.ops.flush(self._handle_path(node), fh)
        return b""

    def _release(self, node: Node | None, unique: int, body: memoryview) -> bytes:  # noqa: ARG002
        fh, *_ = K.RELEASE_IN.unpack_from(body)
        with self._lock:
            known = self._opens.get(fh)
        if known is None:
            self.ops.release(self._handle_path(node), fh)
        else:
            self._close(known[0], self._handle_path(known[0]), fh)
        return b""

    def _fsync(self, node: Node | None, unique: int, body: memoryview) -> bytes:  # noqa: ARG002
        fh, flags, _ = K.FSYNC_IN.unpack_from(body)
        self.ops.fsync(self._handle_path(node), flags & K.FSYNC_FDATASYNC, fh)
        return b""

    # -- folders ---------------------------------------------------------------------------------

    def _opendir(self, node: Node | None, unique: int, body: memoryview) -> bytes:  # noqa: ARG002
        path = self._path(node)
        if not stat.S_ISDIR(self.ops.getattr(path)["st_mode"]):
            raise OSError(errno.ENOTDIR, path)
        with self._lock:
            fh, self._next_dir = self._next_dir, self._next_dir + 1
            self._dirs[fh] = (path, None)
        return K.OPEN_OUT.pack(fh, 0, 0)

    def _readdir(self, node: Node | None, unique: int, body: memoryview) -> bytes:  # noqa: ARG002
        fh, offset, size, *_ = K.READ_IN.unpack_from(body)
        with self._lock:
            path, names = self._dirs.get(fh, (self._path(node), None))
        if names is None or offset == 0:  # listed once per pass (offsets index this list)
            names = list(self.ops.readdir(path, fh))
            with self._lock:
                self._dirs[fh] = (path, names)
        out = bytearray()
        for i in range(offset, len(names)):
            raw = os.fsencode(names[i])
            entry = K.DIRENT.pack(K.UNKNOWN_INO, i + 1, len(raw), 0) + raw
            entry += b"\0" * (-len(entry) % 8)
            if len(out) + len(entry) > size:
                break
            out += entry
        return bytes(out)

    def _releasedir(self, node: Node | None, unique: int, body: memoryview) -> bytes:  # noqa: ARG002
        fh, *_ = K.RELEASE_IN.unpack_from(body)
        with self._lock:
            self._dirs.pop(fh, None)
        return b""

    def _fsyncdir(self, node: Node | None, unique: int, body: memoryview) -> bytes:  # noqa: ARG002
        return b""
