"""/dev/fuse itself: mounting it, the INIT handshake, backing files, and the probe that says
whether FUSE passthrough works here (:func:`probe`, used by ``mount.passthrough: auto``).

Kept apart from the session (:mod:`lacuna.mount.kernel`), which answers requests: these are
the few calls that need privileges (mount(2), the backing ioctls: CAP_SYS_ADMIN) and the
kernel's version, and each says what failed and why.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import logging
import os
import tempfile

from lacuna.mount import kernel_abi as K

log = logging.getLogger("lacuna.mount")

MAX_WRITE = 1 << 20  # the largest WRITE (and READ) request: 256 pages
BUFFER = MAX_WRITE + 64 * 1024  # one request: its header and arguments, then up to MAX_WRITE
_MS_NOSUID, _MS_NODEV, _MNT_DETACH = 2, 4, 2
_LIBC = ctypes.CDLL(None, use_errno=True)
_LIBC.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong,
                        ctypes.c_char_p]
_LIBC.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]


def mount_fd(mountpoint: str, fsname: str, *, max_read: int) -> int:
    """Open /dev/fuse and mount it at ``mountpoint`` (root: the mount(2) call needs
    CAP_SYS_ADMIN); the descriptor serves the mount."""
    fd = os.open("/dev/fuse", os.O_RDWR | os.O_CLOEXEC)
    opts = (f"fd={fd},rootmode=40000,user_id={os.geteuid()},group_id={os.getegid()},"
            f"default_permissions,max_read={max_read}")
    if _LIBC.mount(fsname.encode(), os.fsencode(mountpoint), b"fuse.lacuna",
                   _MS_NOSUID | _MS_NODEV, opts.encode()) != 0:
        code = ctypes.get_errno()
        os.close(fd)
        raise OSError(code, f"mount of {mountpoint} (fuse.lacuna) failed: {os.strerror(code)}")
    return fd


def detach(mountpoint: str) -> None:
    """Lazy unmount (best effort: it may be gone already)."""
    _LIBC.umount2(os.fsencode(mountpoint), _MNT_DETACH)


def init_reply(unique: int, body: memoryview, passthrough: bool) -> tuple[bytes, bool, str]:
    """The INIT answer: (reply, passthrough granted, why not)."""
    major, minor, readahead, flags, flags2 = K.INIT_IN.unpack_from(body)
    offered = flags | (flags2 << 32 if flags & K.INIT_EXT else 0)
    if major != K.KERNEL_MAJOR:
        return K.OUT_HEADER.pack(16, -errno.EPROTO, unique), False, f"protocol {major}"
    want = (K.ASYNC_READ | K.ATOMIC_O_TRUNC | K.BIG_WRITES | K.AUTO_INVAL_DATA
            | K.PARALLEL_DIROPS | K.MAX_PAGES | K.INIT_EXT)
    why = ""
    if passthrough and minor >= K.KERNEL_MINOR and offered & K.PASSTHROUGH:
        want |= K.PASSTHROUGH
    elif passthrough:
        why = (f"the kernel (FUSE protocol 7.{minor}) does not offer FUSE_PASSTHROUGH "
               "(needs Linux 6.9+ with CONFIG_FUSE_PASSTHROUGH=y)")
    want &= offered
    payload = K.INIT_OUT.pack(K.KERNEL_MAJOR, min(minor, K.KERNEL_MINOR), readahead,
                              want & 0xFFFFFFFF, 16, 12, MAX_WRITE, 1, MAX_WRITE // 4096, 0,
                              want >> 32, K.MAX_STACK_DEPTH, 0)
    return (K.OUT_HEADER.pack(16 + len(payload), 0, unique) + payload,
            bool(want & K.PASSTHROUGH), why)


def register_backing(devfd: int, fd: int) -> int:
    """FUSE_DEV_IOC_BACKING_OPEN: the kernel's id for ``fd`` as a backing file (> 0)."""
    return int(fcntl.ioctl(devfd, K.DEV_IOC_BACKING_OPEN,
                           bytearray(K.BACKING_MAP.pack(fd, 0, 0)), True))


def unregister_backing(devfd: int, backing_id: int) -> None:
    fcntl.ioctl(devfd, K.DEV_IOC_BACKING_CLOSE, bytearray(backing_id.to_bytes(4, "little")),
                True)


def probe(source: str) -> str | None:
    """Why passthrough cannot be used for files of ``source`` here, or None when it can.

    Tries it for real: mounts a scratch FUSE file system, answers the kernel's INIT asking for
    passthrough, and registers an unnamed file of ``source`` as a backing file (the ioctl
    checks the privilege and the file system's stacking depth).
    """
    if not os.path.exists("/dev/fuse"):
        return "/dev/fuse does not exist"
    scratch = tempfile.mkdtemp(prefix="lacuna-probe-")
    try:
        try:
            devfd = mount_fd(scratch, "lacuna-probe", max_read=MAX_WRITE)
        except OSError as exc:
            return f"{exc.strerror} (errno {errno.errorcode.get(exc.errno or 0, exc.errno)})"
        try:
            buf = bytearray(BUFFER)
            n = os.readv(devfd, [buf])
            _, opcode, unique, *_ = K.IN_HEADER.unpack_from(buf)
            if opcode != K.INIT or n < K.IN_HEADER.size + K.INIT_IN.size:
                return f"the kernel's first request was {opcode}, not INIT"
            reply, granted, why = init_reply(unique, memoryview(buf)[K.IN_HEADER.size:n], True)
            os.write(devfd, reply)
            if not granted:
                return why
            with tempfile.TemporaryFile(dir=source) as probe_file:
                try:
                    backing = register_backing(devfd, probe_file.fileno())
                except OSError as exc:
                    return (f"FUSE_DEV_IOC_BACKING_OPEN failed: {exc.strerror} (errno "
                            f"{errno.errorcode.get(exc.errno or 0, exc.errno)}; it needs "
                            "CAP_SYS_ADMIN and a backing file system stacked at most once)")
                unregister_backing(devfd, backing)
            return None
        finally:
            detach(scratch)
            os.close(devfd)
    finally:
        try:
            os.rmdir(scratch)
        except OSError:
            log.warning("could not remove the probe mount point %s", scratch)
