"""Where a pandas call came from: the user's stack frame, code location and variable name,
and how a read source or write target is named."""

from __future__ import annotations

import dis
import functools
import io
import os
import re
import stat
import sys
import tempfile
from collections.abc import Callable
from types import CodeType, FrameType
from typing import Any

_INTERNAL_PREFIXES = ("pandas.", "lacuna.", "numpy.", "pyarrow.")


def display_name(target: Any) -> str:
    """How a read source or write target is named in lineage and messages."""
    if isinstance(target, (str, os.PathLike)):
        return os.fspath(target)
    path = file_path(target)  # an open file object
    return path if path is not None else f"<{type(target).__name__}>"


_NO_NAME = object()

# how a file object whose path cannot be found is named: a stream Lacuna does not manage
# (personal data is denied there), refused outright where governed storage is sealed
# (:func:`lacuna.storage.refuse_unnamed_file`)
UNNAMED_FILE = "stream://file-descriptor."
# the names Python gives streams that are no file (sys.stdout's '<stdout>', '<fdopen>')
_PSEUDO_NAME = re.compile(r"<[^<>/]*>")
_PROC_FD = "/proc/self/fd"  # Linux: a link per open descriptor to the file it is open on


def file_path(target: Any) -> str | None:
    """The path of the file an open file object writes to (or reads from): its ``name`` when
    that is a path (``open(path)``; a bytes name, ``open(b"/x")``, decoded as the file system
    does), else the regular file its descriptor is open on (the ``name`` of ``os.fdopen(fd)``,
    the ``fileno()`` of ``pa.OSFile``), or for ``pa.PythonFile`` the file object it wraps; None
    for an object without either (an in-memory buffer such as ``io.BytesIO``). A file object
    with a path is governed like that path, everywhere (pandas, polars, pyarrow).

    A descriptor open on a regular file whose path this platform cannot tell (no
    ``/proc/self/fd`` nor ``F_GETPATH``) is no buffer: it is named ``UNNAMED_FILE + fd``."""
    if isinstance(target, (str, bytes, os.PathLike)):
        return None
    wrapped = _python_file_handle(target)
    if wrapped is not None:
        return file_path(wrapped)
    name = getattr(target, "name", _NO_NAME)
    if isinstance(name, str) and _PSEUDO_NAME.fullmatch(name) and not os.path.lexists(name):
        name = _NO_NAME  # sys.stdout's '<stdout>' names no file: its descriptor tells
    if isinstance(name, str):
        return name
    if isinstance(name, bytes):
        return os.fsdecode(name)
    if isinstance(name, int) and not isinstance(name, bool):
        return _descriptor_path(name)
    fileno = getattr(target, "fileno", None)
    # only an object without a name (``pa.OSFile``): asking a SpooledTemporaryFile (name None)
    # for its descriptor would move it to disk
    if name is _NO_NAME and callable(fileno):
        try:
            fd = fileno()
        except Exception:  # io.UnsupportedOperation, a closed file, pyarrow's errors
            return None
        return _descriptor_path(fd) if isinstance(fd, int) else None
    return None


# what a writer may write into without exporting: buffers the caller holds in this process
_MEMORY = (io.StringIO, io.BytesIO, tempfile.SpooledTemporaryFile)
_STREAM_KINDS = ((stat.S_ISFIFO, "pipe"), (stat.S_ISSOCK, "socket"), (stat.S_ISCHR, "device"))


def stream_name(target: Any) -> str | None:
    """A file object a writer writes into that is neither a file with a path
    (:func:`file_path`) nor a buffer in memory: an export to an unmanaged place named
    ``stream://pipe.<fd>``, ``stream://socket.<fd>``, ``stream://device.<fd>`` (by what its
    descriptor is open on) or ``stream://python.<type>`` (a ``zipfile`` member, an object of
    the caller's with a ``write`` method): personal data is denied there. Those were taken for
    memory, so a frame of e-mail addresses written into a zip member in ~/Downloads, a socket
    or a pipe was written undecided. None for memory (``io.BytesIO``, ``io.StringIO``, a
    ``SpooledTemporaryFile``, a file deleted since it was opened), the terminal or notebook
    ``sys.stdout`` shows (as ``print()`` is), a path or a non-stream; pyarrow's own streams are
    named by the pyarrow integration."""
    if (isinstance(target, (str, bytes, os.PathLike, *_MEMORY))
            or not callable(getattr(target, "write", None)) or file_path(target) is not None):
        return None
    pa = sys.modules.get("pyarrow")
    if pa is not None and isinstance(target, pa.NativeFile):
        return None
    shown = any(target is s for s in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__))
    if shown and type(target).__module__.startswith("ipykernel"):
        return None  # a notebook's output cell (its descriptor, if any, is the kernel's pipe)
    try:
        fd = target.fileno()
        mode = os.fstat(fd).st_mode if isinstance(fd, int) else None
    except Exception:  # io.UnsupportedOperation, a closed file: no descriptor behind it
        return None if shown else f"stream://python.{type(target).__name__}"
    if mode is None:
        return f"stream://python.{type(target).__name__}"
    if stat.S_ISREG(mode):  # a file no path reaches (deleted since it was opened)
        return None
    if shown and os.isatty(fd):
        return None
    kind = next((k for test, k in _STREAM_KINDS if test(mode)), "python")
    return f"stream://{kind}.{fd}"


def _python_file_handle(target: Any) -> Any:
    """The Python file object a ``pyarrow.PythonFile`` reads or writes (pyarrow keeps it in a
    field Python cannot name; the garbage collector's view of the object shows it), or None
    for anything else."""
    pa = sys.modules.get("pyarrow")
    if pa is None or not isinstance(target, pa.PythonFile):
        return None
    import gc

    handles = [r for r in gc.get_referents(target)
               if callable(getattr(r, "write", None)) or callable(getattr(r, "read", None))]
    return handles[0] if len(handles) == 1 else None


def _proc_fd_path(fd: int) -> str:
    return os.readlink(f"{_PROC_FD}/{fd}")


def _fcntl_path(fd: int) -> str:
    import fcntl

    raw = fcntl.fcntl(fd, fcntl.F_GETPATH, bytes(1024))  # type: ignore[attr-defined]
    return os.fsdecode(raw.split(b"\0", 1)[0])


def descriptor_namer() -> Callable[[int], str] | None:
    """How this platform tells the path a descriptor is open on: Linux' ``/proc/self/fd``,
    macOS' ``fcntl(F_GETPATH)``, or None (it cannot)."""
    if os.path.isdir(_PROC_FD):
        return _proc_fd_path
    try:
        import fcntl
    except ImportError:  # Windows
        return None
    return _fcntl_path if hasattr(fcntl, "F_GETPATH") else None


def _descriptor_path(fd: int) -> str | None:
    """The path of the file ``fd`` is open on, when that path still names that file; None for
    no file (a closed descriptor, a pipe, a file deleted since it was opened: nothing reaches
    it by a path); ``UNNAMED_FILE + fd`` for a regular file whose path is not found (no way to
    ask on this platform, or the answer names another file): never taken for memory."""
    try:
        st = os.fstat(fd)
    except OSError:
        return None
    namer = descriptor_namer()
    if namer is not None:
        try:
            path = namer(fd)
            if os.path.isabs(path) and os.path.samestat(st, os.stat(path)):
                return path
        except OSError:
            pass
    if stat.S_ISREG(st.st_mode) and st.st_nlink > 0:
        return f"{UNNAMED_FILE}{fd}"
    return None


def user_frame() -> FrameType | None:
    """The innermost stack frame that belongs to the user's code, not pandas or Lacuna."""
    frame: FrameType | None = sys._getframe(1)
    while frame is not None:
        module = frame.f_globals.get("__name__", "")
        if not (module.startswith(_INTERNAL_PREFIXES) or module in ("pandas", "lacuna")):
            return frame
        frame = frame.f_back
    return None


def code_location(frame: FrameType | None) -> str | None:
    return f"{frame.f_code.co_filename}:{frame.f_lineno}" if frame else None


_LOADS = frozenset({"LOAD_NAME", "LOAD_FAST", "LOAD_GLOBAL", "LOAD_DEREF", "LOAD_FAST_CHECK"})


@functools.lru_cache(maxsize=512)
def _instructions(code: CodeType) -> tuple[dis.Instruction, ...]:
    return tuple(dis.get_instructions(code))


def _called_on(frame: FrameType) -> str | None:
    """The name the current call was made through: ``df`` in ``df.to_csv(...)``.

    Read from the caller's bytecode (the load right before the method lookup that precedes the
    current instruction), so it works for notebooks and exec'd code that have no source line.
    """
    instructions = _instructions(frame.f_code)
    here = next(
        (i for i, ins in enumerate(instructions) if ins.offset >= frame.f_lasti),
        len(instructions) - 1,
    )
    for i in range(here, max(here - 64, 0), -1):
        ins = instructions[i]
        if ins.opname in ("LOAD_METHOD", "LOAD_ATTR") and i > 0:
            prev = instructions[i - 1]
            return str(prev.argval) if prev.opname in _LOADS else None
    return None


def variable_name(obj: Any, frame: FrameType | None) -> str | None:
    """The user's name for ``obj`` in ``frame``: the name the call was made through when it is
    bound to ``obj``, else the first name bound to it (locals first, then globals)."""
    if frame is None:
        return None
    called = _called_on(frame)
    if called and (frame.f_locals.get(called, frame.f_globals.get(called)) is obj):
        return called
    for scope in (frame.f_locals, frame.f_globals):
        for name, value in scope.items():
            if value is obj and not name.startswith("_"):
                return name
    return None


def settings() -> Any:
    """The classification settings of the process-wide governor, which the lineage step is
    handed (it never looks the governor up itself)."""
    from lacuna.governor import current

    return current().config.classification


def governed_here() -> bool:
    """Whether a hook installed without the guard (``Series.__init__``, ``pd.eval``) governs
    this call: governance is on in this context and Lacuna is not running its own pandas."""
    from lacuna import _bypass
    from lacuna.governor import governing

    return governing() and not _bypass.active()
