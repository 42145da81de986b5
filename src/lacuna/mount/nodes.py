"""The kernel session's inode table: FUSE node ids for mount paths, as libfuse's high-level API
keeps them.

The kernel names files by node id; :class:`~lacuna.mount.fs.GovernedFS` by mount path. Each
path the kernel looked up gets a node id (never reused: the id is its identity for the
kernel), counted per lookup until the kernel forgets it. A rename moves the node and every
node below it; an unlink (or a rename over it) detaches the node from its path, so a new file
of the same name is a new node while programs that hold the old one open keep it.

A node also carries what its opens share: the kernel's rule that every concurrent open of an
inode is passthrough with one backing file, or none is (``fs/fuse/iomode.c``), and libfuse's
``auto_cache`` state (the size and mtime the cached pages belong to).
"""

from __future__ import annotations

import errno
import threading
from dataclasses import dataclass, field
from typing import Any

ROOT = 1


@dataclass(eq=False)
class Node:
    """One node the kernel knows. Mutable: guarded by :attr:`Nodes.lock`."""

    nodeid: int
    path: str | None  # None once unlinked or replaced (open files may still use it)
    lookups: int = 0
    unlinked: bool = False  # its path was removed (not only given to a new node)
    attrs: dict[str, Any] | None = None  # the last attributes reported (for a detached node)
    seen: tuple[int, int] | None = None  # (size, mtime_ns) of the kernel's cached pages
    cache_valid: bool = False
    backing_id: int = 0  # registered with the kernel while passthrough opens exist
    backing_key: tuple[int, int] | None = None  # (st_dev, st_ino) of the backing file
    passthrough_opens: int = 0
    cached_opens: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)  # one open decided at a time


def child(parent: str, name: str) -> str:
    """The mount path of ``name`` in folder ``parent``; a name the kernel would never send
    (empty, ``.``, ``..``, a slash) is refused, never joined."""
    if not name or name in (".", "..") or "/" in name or "\0" in name:
        raise OSError(errno.EINVAL, f"invalid name {name!r}")
    return f"/{name}" if parent == "/" else f"{parent}/{name}"


class Nodes:
    """Node ids <-> mount paths, with lookup counts. Thread-safe."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self._ids: dict[int, Node] = {ROOT: Node(ROOT, "/", lookups=1)}
        self._paths: dict[str, int] = {"/": ROOT}
        self._next = ROOT + 1

    def node(self, nodeid: int) -> Node:
        found = self._ids.get(nodeid)
        if found is None:
            raise OSError(errno.ESTALE, f"unknown node {nodeid}")
        return found

    def path(self, nodeid: int) -> str:
        """The node's mount path; ENOENT once it was unlinked."""
        path = self.node(nodeid).path
        if path is None:
            raise OSError(errno.ENOENT, f"node {nodeid} was removed")
        return path

    def looked_up(self, path: str, attrs: dict[str, Any]) -> Node:
        """The node for ``path`` (new if it has none), its lookup count one more."""
        with self.lock:
            nodeid = self._paths.get(path)
            if nodeid is not None and self._replaced(self._ids[nodeid], attrs):
                self._ids[nodeid].path = None  # its open files keep the old file
                nodeid = None
            if nodeid is None:
                nodeid, self._next = self._next, self._next + 1
                self._ids[nodeid] = Node(nodeid, path)
                self._paths[path] = nodeid
            node = self._ids[nodeid]
            node.lookups += 1
            node.attrs = attrs
            return node

    @staticmethod
    def _replaced(node: Node, attrs: dict[str, Any]) -> bool:
        """The file at the node's path is another file than the one its passthrough opens
        read (replaced, e.g. sealed into place): the path gets a new node, so new opens need
        not share the old backing file (the kernel revalidates names every entry_timeout)."""
        key = (attrs.get("st_dev"), attrs.get("st_ino"))
        return bool(node.passthrough_opens) and node.backing_key not in (None, key)

    def forget(self, nodeid: int, count: int) -> None:
        with self.lock:
            node = self._ids.get(nodeid)
            if node is None or nodeid == ROOT:
                return
            node.lookups -= count
            if node.lookups <= 0 and not node.passthrough_opens and not node.cached_opens:
                self._drop(node)

    def _drop(self, node: Node) -> None:
        del self._ids[node.nodeid]
        if node.path is not None and self._paths.get(node.path) == node.nodeid:
            del self._paths[node.path]

    def released(self, node: Node) -> None:
        """An open of ``node`` ended: drop it if the kernel forgot it meanwhile."""
        with self.lock:
            if (node.lookups <= 0 and not node.passthrough_opens and not node.cached_opens
                    and self._ids.get(node.nodeid) is node):
                self._drop(node)

    def detach(self, path: str) -> None:
        """``path`` was unlinked or replaced: its node (if any) no longer names it."""
        with self.lock:
            nodeid = self._paths.pop(path, None)
            if nodeid is not None:
                self._ids[nodeid].path = None
                self._ids[nodeid].unlinked = True

    def retire(self, node: Node) -> None:
        """``node`` no longer names its path (another file is there now)."""
        with self.lock:
            if node.path is not None and self._paths.get(node.path) == node.nodeid:
                del self._paths[node.path]
            node.path = None

    def move(self, old: str, new: str) -> None:
        """``old`` was renamed to ``new``: its node, and the nodes below it, follow."""
        with self.lock:
            nodeid = self._paths.pop(new, None)
            if nodeid is not None:
                self._ids[nodeid].path = None
                self._ids[nodeid].unlinked = True
            prefix = old.rstrip("/") + "/"
            moved = [(p, i) for p, i in self._paths.items() if p == old or p.startswith(prefix)]
            for p, _ in moved:
                del self._paths[p]
            for p, i in moved:
                to = new + p[len(old):]
                self._ids[i].path = to
                self._paths[to] = i
