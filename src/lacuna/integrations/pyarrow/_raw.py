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


def raw_class(original: Any, method: str, writes: Callable[..., bool]) -> type:
    """A subclass of ``original`` (``pa.OSFile``, ``pa.CompressedOutputStream``) that checks
    its path before the library opens it (in ``__new__``: ``OSFile`` opens the file there)."""

    def __new__(cls: type, *args: Any, **kwargs: Any) -> Any:
        where = args[0] if args else (kwargs.get("path") or kwargs.get("stream"))
        try:
            check(method, where, writes=writes(*args[1:], **kwargs))
        except StorageError:
            raise
        except Exception as exc:  # no guard around a class: Lacuna's failure, as the guard's
            from lacuna.governor import current
            from lacuna.model import Action

            current().internal_error(exc, action=Action.EXPORT, method=method)
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
