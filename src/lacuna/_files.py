"""Files that appear whole or not at all, what says one is unchanged (or is the one written
there), what a reader of a folder reads, and what may be removed as a whole folder."""

from __future__ import annotations

import os
import secrets
from pathlib import Path


def link_new(path: Path, data: bytes, *, mode: int) -> bool:
    """Create ``path`` holding ``data`` unless it exists; whether this call created it.

    The bytes go to a private file first (synced), which is then linked into place: a reader
    never sees ``path`` empty or half-written, and ``link`` fails when another process created
    it meanwhile, so two processes never both win.

    Raises:
        OSError: the folder is not writable, the disk is full, ...
    """
    if path.exists():
        return False
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(tmp, path)
        except FileExistsError:
            return False
        return True
    finally:
        tmp.unlink(missing_ok=True)


def change_key(st: os.stat_result) -> tuple[int, int, int, int, int]:
    """What says a file was not rewritten since an answer about it was cached: size, mtime,
    ctime, inode and device. Size and mtime alone are not enough: the file's owner can rewrite
    it and put both back (``os.utime``); the ctime moves with every write and every ``utime``,
    and nobody but the clock sets it."""
    return (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev)


def identity(st: os.stat_result, *, directory: bool) -> str:
    """What says the file (or directory) at a path is the one written there: its device,
    inode, size and modification time (``lstat``), recorded once a write under an exception
    returned. A file written at that path later has another inode or modification time (an
    inode number freed by the deletion may be reused, the time it was written not); one moved
    away and back keeps all four. A directory's size says nothing about its contents: left
    out, its modification time moves when an entry is added or removed."""
    size = 0 if directory else st.st_size
    kind = "dir" if directory else "file"
    return f"{kind}:{st.st_dev}:{st.st_ino}:{size}:{st.st_mtime_ns}"


def whole_folder(path: str, *, recorded_folder: bool) -> bool:
    """Whether ``path`` is a real folder (not a link to one) to remove as a whole.

    Raises:
        IsADirectoryError: a folder where the signed record of a write under an exception
            (``recorded_folder``) says a file was written: never removed on that word.
    """
    if not os.path.isdir(path) or os.path.islink(path):
        return False
    if not recorded_folder:
        msg = (f"{path} is a directory, but its signed record says a file was written "
               "there under the exception: not deleted (a steward must check it)")
        raise IsADirectoryError(msg)
    return True


def read_tree(folder: str, folders: list[str] | None = None) -> list[tuple[str, str, str]]:
    """What a reader of ``folder`` (pyarrow, Spark) reads: ``(name below the folder, path,
    kind)`` in order, for every file (``file``), through symlinked folders as those readers
    follow them, a symlink that leads nowhere (``dangling``) and one that leads back into what
    is being walked (``cycle``, not walked again). ``folders``: every folder walked is added
    to it (a caller keeping the listing checks them for a change instead of walking again)."""
    out: list[tuple[str, str, str]] = []
    walking = {os.path.realpath(folder)}
    for root, dirs, files in os.walk(folder, followlinks=True):
        if folders is not None:
            folders.append(root)
        dirs.sort()
        for name in list(dirs):
            path = os.path.join(root, name)
            if os.path.islink(path):
                real = os.path.realpath(path)
                if any(real == w or real.startswith(w + os.sep) or w.startswith(
                        real.rstrip(os.sep) + os.sep) for w in walking):
                    # a loop (inside what is walked, or an ancestor of it, such as "/" or the
                    # home folder, which holds the folder itself): named, not walked
                    dirs.remove(name)
                    out.append((os.path.relpath(path, folder), path, "cycle"))
                    continue
                walking.add(real)
        for name in files:
            path = os.path.join(root, name)
            kind = "file" if os.path.isfile(path) else (
                "dangling" if not os.path.exists(path) else "other")
            out.append((os.path.relpath(path, folder), path, kind))
    return sorted(out)
