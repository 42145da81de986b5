"""Who maps a file of the mount for writing, from /proc.

Why: a shared writable mapping of a passed-through file maps the *backing* file (the kernel
hands the mapping over at mmap), so it outlives the FUSE file's release and its writes never
reach the mount. The kernel session asks here before deciding such a file's write at release
(:meth:`lacuna.mount.kernel.KernelSession._close`), and waits while the answer is yes.
``/proc/PID/maps`` names such a mapping by the mount's device and the FUSE inode number (for
the kernel session: the node id).
"""

from __future__ import annotations

import errno
import os


def mount_device(mountpoint: str) -> tuple[int, int]:
    """The mount's device numbers, from /proc/self/mountinfo (a stat of the mount point from
    the process serving it would be a request to itself)."""
    found = None
    with open("/proc/self/mountinfo", encoding="utf-8", errors="surrogateescape") as fh:
        for line in fh:
            fields = line.split()
            if len(fields) > 4 and _unescape(fields[4]) == mountpoint:
                major, minor = fields[2].split(":")
                found = (int(major), int(minor))  # the last one: the top of a stack of mounts
    if found is None:
        msg = f"{mountpoint} is not in /proc/self/mountinfo"
        raise OSError(errno.ENOENT, msg)
    return found


def _unescape(field: str) -> str:
    """mountinfo's octal escapes (space, tab, newline, backslash)."""
    for code, char in (("\\040", " "), ("\\011", "\t"), ("\\012", "\n"),
                       ("\\134", "\\")):
        field = field.replace(code, char)
    return field


def mapped_for_writing(dev: tuple[int, int], ino: int) -> bool:
    """Whether any process maps the file (``dev``, ``ino``) shared and writable."""
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/maps", encoding="utf-8", errors="replace") as fh:
                for line in fh:
                    fields = line.split(None, 5)
                    if (len(fields) >= 5 and fields[4] == str(ino) and fields[1][1:4:2] == "ws"
                            and tuple(int(x, 16) for x in fields[3].split(":")) == dev):
                        return True
        except OSError:
            continue  # exited, or not ours to read
    return False
