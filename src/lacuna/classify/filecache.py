"""A read's classification, cached by file: re-reading an unchanged file costs microseconds.

The key is what makes an inferred classification valid for a read:

- the file: resolved path, size, modification and change times (ns), inode and a content
  fingerprint (BLAKE2b of its size and three 4 KiB blocks: start, middle, end), so a rewrite
  within the same mtime tick, a copy over it with the same size, or a rewrite between the
  sampled blocks whose owner put size and mtime back (``os.utime`` cannot set the ctime) still
  changes the key;
- how it was read: the reader and its arguments (``converters=`` can change values without
  changing the frame's shape), and the frame it produced: column labels, dtypes, index names
  and row count;
- the classification settings (their JSON, hashed once per governor).

Only the inferred classification is cached; the sidecar, which declares what the file holds,
is read on every read. Answers that depend on an unavailable LLM are never cached. Files that
may be live SQLite databases (``.db``, ``.sqlite``, ``.sqlite3``, ``-wal``, ``-shm``,
``-journal``) are never opened for a fingerprint: opening and closing one outside SQLite
drops the locks SQLite holds on it in this process. Entries live in memory, least recently
used first out (``classification.cache.files`` of them); a governor has its own cache. Hits
and misses are counted as the ``file`` layer of :mod:`lacuna.classify.cachestats`.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

from lacuna._files import change_key
from lacuna.classify import cachestats

if TYPE_CHECKING:
    import pandas as pd

    from lacuna.model import Classification

BLOCK = 4096
SIZE = 512
_SQLITE_SUFFIXES = (".db", ".sqlite", ".sqlite3", "-wal", "-shm", "-journal")


def fingerprint(path: str, size: int) -> str:
    """BLAKE2b of the file's size and its first, middle and last ``BLOCK`` bytes."""
    h = hashlib.blake2b(str(size).encode(), digest_size=16)
    fd = os.open(path, os.O_RDONLY)
    try:
        h.update(os.pread(fd, BLOCK, 0))
        if size > 2 * BLOCK:
            h.update(os.pread(fd, BLOCK, size // 2))
        if size > BLOCK:
            h.update(os.pread(fd, BLOCK, max(size - BLOCK, BLOCK)))
    finally:
        os.close(fd)
    return h.hexdigest()


def frame_shape(frame: pd.DataFrame) -> tuple[Any, ...]:
    """What the reader produced, cheaply: labels, dtypes, index names and row count."""
    return (tuple(map(str, frame.columns)), tuple(map(str, frame.dtypes)),
            tuple(map(str, frame.index.names)), len(frame))


def file_key(path: str, frame: pd.DataFrame, settings: str, how: str = "") -> str | None:
    """The cache key for reading ``path`` into ``frame``, or ``None`` when it cannot be keyed
    (not a regular file, unreadable, or possibly a live SQLite database).

    ``how`` names how the file was read (the reader and its arguments: ``converters=`` can
    change values without changing the frame's shape)."""
    if path.lower().endswith(_SQLITE_SUFFIXES):
        return None
    try:
        real = os.path.realpath(path)
        st = os.stat(real)
        if not os.path.isfile(real):
            return None
        content = fingerprint(real, st.st_size)
    except OSError:
        return None
    # content is sampled: what the samples miss, change_key sees (the ctime moves)
    text = repr((real, change_key(st), content, frame_shape(frame), settings, how))
    return hashlib.blake2b(text.encode(), digest_size=20).hexdigest()


def cacheable(classification: Classification) -> bool:
    """Whether the answer may be reused: not one the LLM layer could not give."""
    return not any(e.rule == "llm:unavailable"
                   for c in classification.columns.values() for e in c.evidence)


class FileClassificationCache:
    """An LRU of inferred classifications by :func:`file_key`."""

    def __init__(self, size: int = SIZE) -> None:
        self._items: OrderedDict[str, Classification] = OrderedDict()
        self._lock = threading.Lock()
        self.size = size
        self.hits = 0
        self.misses = 0

    def get(self, key: str) -> Classification | None:
        with self._lock:
            hit = self._items.get(key)
            if hit is None:
                self.misses += 1
            else:
                self._items.move_to_end(key)
                self.hits += 1
        cachestats.count("file", hits=int(hit is not None), misses=int(hit is None))
        return hit

    def put(self, key: str, classification: Classification) -> None:
        if not cacheable(classification) or self.size <= 0:
            return
        with self._lock:
            self._items[key] = classification
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def __len__(self) -> int:
        return len(self._items)
