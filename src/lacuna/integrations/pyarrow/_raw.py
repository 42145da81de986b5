"""pyarrow's raw byte streams to a path: ``pa.OSFile(path, "wb")``, ``pa.output_stream(path)``,
``pa.CompressedOutputStream(path, codec)``, ``pa.memory_map(path, "r+" | "w")`` and
``pa.create_memory_map(path, size)``.

Such a stream writes whatever bytes it is handed, straight into the file it opened: Lacuna sees
the rows only when a hooked writer is given the stream (``pq.write_table(table, stream)``),
never the bytes written with ``stream.write``, nor the end of the stream. Sealing it is not
sound: a sealed file carries
the classification it was decided on, and a raw stream has none to carry (its bytes may be
anything, written by anyone holding it). So a raw stream opened **for writing under a governed
root** (with ``storage.encrypt``) is refused with a ``StorageError`` before the file is created
or truncated, naming the writers that seal a path. Anywhere else, and for reading, the streams
are pyarrow's own.

The same holds for the streams ``pyarrow.fs`` opens: ``LocalFileSystem.open_output_stream``
and ``open_append_stream`` (and ``SubTreeFileSystem``'s, over a local file system: the path
under its base folder) are refused there when they are opened, since they write into the file
from compiled code where Lacuna cannot see or seal the bytes (:func:`filesystem_class`). Only
file systems constructed through ``pyarrow.fs`` while Lacuna governs are checked: one made
before ``lacuna.enable()`` or by ``FileSystem.from_uri`` is pyarrow's own (docs/storage.md).
A ``PyFileSystem(FSSpecHandler(fs))`` over fsspec's local file system opens its streams in
Python, through the handler, which is hooked (:func:`fsspec_opener`): checked whenever it was
made.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from lacuna import _bypass
from lacuna.errors import StorageError

# the writers that take a path and seal it under a governed root (docs/storage.md)
SEALING_WRITERS = (
    "pq.write_table(table, path)",
    "pq.ParquetWriter(path, schema)",
    "pa.ipc.new_file(path, schema)",
    "pa.ipc.new_stream(path, schema)",
    "pa.csv.write_csv(table, path)",
    "pa.feather.write_feather(table, path)",
)


def _path(where: Any) -> str | None:
    """The local path ``where`` names (``~`` expanded, a ``file://`` URL's path), or None."""
    from lacuna.integrations.frames.io import local_path

    return local_path(where) if isinstance(where, (str, os.PathLike)) else None


def check(method: str, where: Any, *, writes: bool) -> None:
    """Refuse a raw stream that writes to a sealed governed path.

    Raises:
        StorageError: ``where`` is a path under a governed root with ``storage.encrypt`` on,
            and the stream writes (nothing was created).
    """
    if not writes or _bypass.active():
        return
    from lacuna.governor import current, governing

    if not governing():
        return
    path = _path(where)
    if path is None:
        return
    from lacuna.storage.frames import writes_sealed

    if not writes_sealed(path, current()):
        return
    msg = (
        f"{method} to {os.fspath(where)} is refused: it is under a governed root "
        "(destinations.governed), where every file is sealed, and a raw Arrow byte stream "
        "cannot be sealed (Lacuna does not see what its bytes hold, so it has no "
        "classification to decide and seal them with; they would land in plaintext). Write "
        f"through a writer that takes the path instead: {', '.join(SEALING_WRITERS)} "
        "(each is decided, sealed and read back through Lacuna), or open the stream outside "
        "governed storage. Nothing was written."
    )
    raise StorageError(msg)


def _writes(mode: Any) -> bool:
    """Whether a pyarrow file mode (``"r"``, ``"w"``, ``"a"``, ``"r+"``, with or without
    ``"b"``) writes."""
    return str(mode).replace("b", "") != "r"


def _checked(method: str, where: Callable[[], Any], *, writes: bool) -> None:
    """:func:`check` where no guard runs (a class's constructor or method): Lacuna's own
    failure is handled as the guard handles it."""
    try:
        check(method, where(), writes=writes)
    except StorageError:
        raise
    except Exception as exc:
        from lacuna.governor import current
        from lacuna.model import Action

        current().internal_error(exc, action=Action.EXPORT, method=method)


def raw_class(original: Any, method: str, writes: Callable[..., bool]) -> type:
    """A subclass of ``original`` (``pa.OSFile``, ``pa.CompressedOutputStream``) that checks
    its path before the library opens it (in ``__new__``: ``OSFile`` opens the file there)."""

    def __new__(cls: type, *args: Any, **kwargs: Any) -> Any:
        where = args[0] if args else (kwargs.get("path") or kwargs.get("stream"))
        _checked(method, lambda: where, writes=writes(*args[1:], **kwargs))
        return original.__new__(cls, *args, **kwargs)

    namespace: dict[str, Any] = {
        "__new__": __new__,
        "__doc__": original.__doc__,
        "__module__": original.__module__,
        "__qualname__": original.__qualname__,
    }
    return type(original.__name__, (original,), namespace)


def mode_writes(mode: Any = "r", *_args: Any, **kwargs: Any) -> bool:
    """``pa.OSFile``'s and ``pa.memory_map``'s mode (default ``"r"``) writes."""
    return _writes(kwargs.get("mode", mode))


def always(*_args: Any, **_kwargs: Any) -> bool:
    """``pa.output_stream``, ``pa.CompressedOutputStream``, ``pa.create_memory_map`` write."""
    return True


def raw_function(
    method: str, writes: Callable[..., bool]
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """A hook for ``pa.output_stream``, ``pa.memory_map``, ``pa.create_memory_map``: the path
    is checked before the library opens it."""

    def make(original: Callable[..., Any]) -> Callable[..., Any]:
        def opened(where: Any, *args: Any, **kwargs: Any) -> Any:
            check(method, where, writes=writes(*args, **kwargs))
            return original(where, *args, **kwargs)

        return opened

    return make


# the ``pyarrow.fs`` methods that open a file for writing
FS_OPENERS = ("open_output_stream", "open_append_stream")


def local_file(filesystem: Any, path: Any) -> str | None:
    """The local path ``path`` names on ``filesystem``: itself on a ``LocalFileSystem``, the
    path under the base folder on a ``SubTreeFileSystem`` over one (nested too); None on any
    other file system (an object store, an fsspec one)."""
    from pyarrow import _fs

    if isinstance(filesystem, _fs.LocalFileSystem):
        return os.fspath(path) if isinstance(path, (str, os.PathLike)) else None
    if isinstance(filesystem, _fs.SubTreeFileSystem) and isinstance(path, str):
        base = str(filesystem.base_path).rstrip("/")
        return local_file(filesystem.base_fs, f"{base}/{path.lstrip('/')}")
    return None


class _SameClass(type):
    """The metaclass of a hooked file system class: an instance of the library's own class
    (``FileSystem.from_uri`` makes those) is an instance of the hooked one, as pyarrow's
    ``isinstance(filesystem, LocalFileSystem)`` expects once the module names the hook."""

    _lacuna_original: type

    def __instancecheck__(cls, obj: Any) -> bool:
        return isinstance(obj, cls._lacuna_original)

    def __subclasscheck__(cls, sub: type) -> bool:
        return issubclass(sub, cls._lacuna_original)


def filesystem_class(original: Any, label: str) -> type:
    """A subclass of the ``pyarrow.fs`` class ``original`` whose :data:`FS_OPENERS` check the
    local path they open (:func:`local_file`) before the library opens it: refused under a
    sealed governed root."""

    def opener(name: str) -> Callable[..., Any]:
        plain = getattr(original, name)
        method = f"{label}.{name}"

        def open_(self: Any, path: Any, *args: Any, **kwargs: Any) -> Any:
            _checked(method, lambda: local_file(self, path), writes=True)
            return plain(self, path, *args, **kwargs)

        open_.__name__ = open_.__qualname__ = name
        open_.__doc__ = plain.__doc__
        return open_

    namespace: dict[str, Any] = {
        "__doc__": original.__doc__, "__module__": original.__module__,
        "__qualname__": original.__qualname__, "_lacuna_original": original,
        **{n: opener(n) for n in FS_OPENERS},
    }
    return _SameClass(original.__name__, (original,), namespace)


def fsspec_file(handler: Any, path: Any) -> str | None:
    """The local path ``path`` names through ``pyarrow.fs.FSSpecHandler`` ``handler``: when
    its fsspec file system is the local one (protocol ``file``), the path it opens; else
    None."""
    fs: Any = getattr(handler, "fs", None)
    protocol = getattr(fs, "protocol", ())
    protocols = (protocol,) if isinstance(protocol, str) else tuple(protocol or ())
    if fs is None or "file" not in protocols or not isinstance(path, str):
        return None
    return str(fs._strip_protocol(path))


def fsspec_opener(method: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """A hook for ``FSSpecHandler.open_output_stream``/``open_append_stream``: the local path
    is checked before fsspec opens it."""

    def make(original: Callable[..., Any]) -> Callable[..., Any]:
        def open_(handler: Any, path: Any, *args: Any, **kwargs: Any) -> Any:
            check(method, fsspec_file(handler, path), writes=True)
            return original(handler, path, *args, **kwargs)

        return open_

    return make
