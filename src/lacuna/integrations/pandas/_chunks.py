"""Chunked reads: pandas' reader object (``chunksize=``, ``iterator=True``), governed.

``pd.read_csv(path, chunksize=n)`` and its kin hand back a reader, not a frame: a
``TextFileReader`` (``read_csv``, ``read_table``, ``read_fwf``), a ``JsonReader``
(``read_json(lines=True)``), a ``StataReader``, a SAS reader, ``read_hdf``'s ``TableIterator``
or ``read_sql``'s generator. :class:`ChunkReader` stands in for it and governs every frame it
hands out, by ``next()``, ``get_chunk()``, ``read()`` or ``get_result()``, through the same
path as the frame of a read without chunks (``_io._govern_read``):

- the read is decided and audited once, on the first frame (what pandas parsed is part of its
  classification, and at the call it has parsed nothing); a denied read raises the same
  ``GovernanceViolation`` there, before the frame reaches the caller;
- every frame carries the source's classification and its one lineage node;
- each later frame is classified by its content too (the file cache serves a file read again
  in the same chunks) and joined with what the earlier ones showed: a class never weakens from
  one chunk to the next (:func:`never_weaker`), and a frame that shows more than was decided
  (a column of e-mails only past the first chunk) is decided again, and audited, before it is
  handed out.

Everything else (attributes, ``close()``, the context manager) is pandas' reader's. A sealed
file's decrypted stream (``closing``) stays open until the reader is closed or exhausted.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from typing import Any

import pandas as pd

from lacuna import _bypass
from lacuna.errors import GovernanceViolation
from lacuna.lineage.state import LineageNode
from lacuna.lineage.step import Step, StepInput, StepKind
from lacuna.model import Classification


def is_chunked(result: Any) -> bool:
    """Whether a reader handed back pandas' chunk reader rather than data."""
    from pandas.io.pytables import TableIterator

    return (isinstance(result, (Iterator, TableIterator))
            and not isinstance(result, (pd.DataFrame, pd.Series)))


class ChunkReader:
    """pandas' chunk reader, each frame it hands out governed by ``govern`` first."""

    def __init__(self, reader: Any, govern: Callable[[Any], Any], *,
                 closing: Any = None) -> None:
        self._reader = reader
        self._govern = govern
        self._closing = closing  # a sealed file's decrypted stream pandas reads
        self._chunks: Iterator[Any] | None = None

    def _out(self, frame: Any) -> Any:
        try:
            self._govern(frame)
        except GovernanceViolation:  # denied: the frame is never handed out, nor any other
            self.close()
            raise
        return frame

    def __iter__(self) -> ChunkReader:
        return self

    def __next__(self) -> Any:
        if self._chunks is None:  # read_hdf's TableIterator is iterable, not an iterator
            self._chunks = self._reader if isinstance(self._reader, Iterator) else iter(
                self._reader)
        try:
            with _bypass.bypass():
                frame = next(self._chunks)
        except StopIteration:
            self._release()
            raise
        return self._out(frame)

    def get_chunk(self, *args: Any, **kwargs: Any) -> Any:
        with _bypass.bypass():
            frame = self._reader.get_chunk(*args, **kwargs)
        return self._out(frame)

    def read(self, *args: Any, **kwargs: Any) -> Any:
        with _bypass.bypass():
            frame = self._reader.read(*args, **kwargs)
        return self._out(frame)

    def get_result(self, *args: Any, **kwargs: Any) -> Any:
        with _bypass.bypass():
            frame = self._reader.get_result(*args, **kwargs)
        return self._out(frame)

    def close(self) -> None:
        try:
            close = getattr(self._reader, "close", None)
            with _bypass.bypass():
                if callable(close):
                    close()
                elif hasattr(self._reader, "__exit__"):  # a StataReader closes on exit only
                    self._reader.__exit__(None, None, None)
        finally:
            self._release()

    def _release(self) -> None:
        if self._closing is not None:
            self._closing.close()
            self._closing = None

    def __enter__(self) -> ChunkReader:
        enter = getattr(self._reader, "__enter__", None)
        if callable(enter):  # a StataReader warns when read outside its context manager
            enter()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __getattr__(self, name: str) -> Any:  # chunksize, nrows, variable_labels(), ...
        if name == "_reader":  # not set up (a copy): no recursion
            raise AttributeError(name)
        return getattr(self._reader, name)

    def __repr__(self) -> str:
        return f"<governed {self._reader!r}>"


def never_weaker(gov: Any, before: Classification, node: LineageNode,
                 found: Classification, columns: Iterable[Any]) -> Classification:
    """A later chunk's classification: ``before`` (what the earlier chunks showed) when
    ``found`` (this chunk's) adds nothing to it, else their join by the governor's combine rule
    (the most restrictive tier, floor and column class, every tag), so no class weakens from
    one chunk to the next."""
    step = Step(kind=StepKind.COMBINE, operation="chunk", outputs=tuple(str(c) for c in columns),
                inputs=(StepInput(classification=before, lineage=node, name="the earlier chunks"),
                        StepInput(classification=found, lineage=node, name="this chunk")))
    joined: Classification = gov.inherit(step).classification
    if _same(joined, before):
        return before
    return replace(joined, reasoning=(*joined.reasoning, *before.reasoning))


def _same(a: Classification, b: Classification) -> bool:
    """Whether two classifications protect alike: tier, floor, tags and column classes."""
    def classes(c: Classification) -> dict[str, tuple[Any, Any]]:
        return {k: (v.classification, v.sensitivity) for k, v in c.columns.items()}

    return (a.tier == b.tier and a.floor == b.floor and set(a.tags) == set(b.tags)
            and set(a.table_tags) == set(b.table_tags) and classes(a) == classes(b))
