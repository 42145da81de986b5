"""Governed storage for the frame libraries (polars, pyarrow, DuckDB): sealed writes and
decrypting reads, the one place :mod:`lacuna.integrations.frames.io` and the hooks call.

Writes. A write whose destination is a governed root (with ``storage.encrypt``) never lands in
plaintext there:

- writers that take a binary stream (``STREAM_WRITERS``: polars ``write_csv``,
  ``write_parquet``, ``write_ipc``, ``write_json``, ``write_ndjson``, ``write_avro``; pyarrow
  ``parquet.write_table``, ``csv.write_csv``, ``feather.write_feather``) write into
  :func:`lacuna.storage.write_governed`'s sealing stream: the plaintext never touches a file
  system;
- writers that need a path (polars ``sink_*``, ``write_excel``; ``pyarrow.dataset
  .write_dataset``; DuckDB ``write_csv``/``write_parquet``/``to_*``, ``COPY … TO``) write into a
  private scratch folder (:func:`scratch`), then every file they wrote is sealed into the
  governed root (same relative paths) and the scratch folder is removed;
- table formats that manage their own files (``write_delta``, ``write_iceberg``, ``sink_delta``,
  ``sink_iceberg``) are refused.

Reads. A reader given a sealed file (or a folder holding sealed files) first opens each through
:func:`lacuna.storage.open_governed` (decided and audited before anything is decrypted), then:

- eager readers that take a binary stream (``STREAM_READERS``) read the decrypted stream;
- the others (polars ``scan_*``, ``pyarrow.dataset.dataset``, DuckDB ``read_*``) read a
  plaintext copy in a private scratch folder, and the result is **materialised in memory**
  (a LazyFrame is collected and made lazy again, a dataset becomes an in-memory dataset, a
  DuckDB relation becomes an Arrow-backed relation) before the scratch folder is removed.

The scratch folder is ``tempfile.mkdtemp`` (mode 0700, files 0600) in ``/dev/shm`` when that is
a writable folder (memory, never written to a disk), else the system temp folder; it is removed
when the call returns or fails. Limits (docs/storage.md): a lazy scan of a sealed file is not
lazy (the whole file is read), and a process killed in the middle of a path-based read or write
(SIGTERM, kill -9) leaves the scratch folder behind (in ``/dev/shm``; readable only by the same
user) until the same user's next path-based read or write removes it (:func:`sweep`), or reboot.
"""

from __future__ import annotations

import contextlib
import errno
import glob
import os
import shutil
import stat
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from lacuna.errors import StorageError
from lacuna.storage.access import (
    open_governed,
    open_sealed_writer,
    refuse_held,
    refuse_unnamed_file,
    seals,
    write_governed,
)
from lacuna.storage.sealed import is_sealed

if TYPE_CHECKING:
    from datetime import datetime

    from lacuna.governor import Governor
    from lacuna.model import Classification

T = TypeVar("T")

STREAM_WRITERS = frozenset({
    "polars.DataFrame.write_csv", "polars.DataFrame.write_parquet",
    "polars.DataFrame.write_ipc", "polars.DataFrame.write_json",
    "polars.DataFrame.write_ndjson", "polars.DataFrame.write_ipc_stream",
    "polars.DataFrame.write_avro",
    "pyarrow.parquet.write_table", "pyarrow.csv.write_csv", "pyarrow.feather.write_feather",
})
UNSEALABLE_WRITERS = frozenset({
    "polars.DataFrame.write_delta", "polars.DataFrame.write_iceberg",
    "polars.LazyFrame.sink_delta", "polars.LazyFrame.sink_iceberg",
})
STREAM_READERS = frozenset({
    "polars.read_csv", "polars.read_parquet", "polars.read_ipc", "polars.read_json",
    "polars.read_ndjson", "polars.read_ipc_stream", "polars.read_avro",
    "polars.read_parquet_metadata", "polars.read_parquet_schema", "polars.read_ipc_schema",
    "polars.deserialize",
    "pyarrow.parquet.read_table", "pyarrow.csv.read_csv", "pyarrow.feather.read_table",
    "pyarrow.orc.read_table", "pyarrow.ipc.open_file", "pyarrow.ipc.open_stream",
    "pyarrow.parquet.read_pandas", "pyarrow.parquet.read_metadata",
    "pyarrow.parquet.read_schema", "pyarrow.json.read_json",
})
_SCRATCH_PARENT = "/dev/shm"  # a private mkdtemp folder inside it, mode 0700
_SCRATCH_PREFIX = "lacuna-plain-"  # then the process id, "-", mkdtemp's random part
_COPY = 1 << 20


def _gov(gov: Governor | None) -> Governor:
    if gov is not None:
        return gov
    from lacuna.governor import current

    return current()


@contextlib.contextmanager
def scratch() -> Iterator[str]:
    """A private folder (0700) for plaintext a library needs as a path; removed afterwards.
    Its name carries this process's id: the folders of this user's processes that were killed
    before they could remove theirs (SIGTERM, kill -9) are removed first (:func:`sweep`)."""
    parent = _SCRATCH_PARENT if (os.path.isdir(_SCRATCH_PARENT)
                                 and os.access(_SCRATCH_PARENT, os.W_OK | os.X_OK)) else None
    sweep(parent or tempfile.gettempdir())
    folder = tempfile.mkdtemp(prefix=f"{_SCRATCH_PREFIX}{os.getpid()}-", dir=parent)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def sweep(parent: str, prefix: str = _SCRATCH_PREFIX) -> list[str]:
    """Remove the folders named ``<prefix><pid>-...`` in ``parent`` left by this user's
    processes that no longer run (a process killed in the middle of a path-based read or
    write leaves its plaintext copy behind; the governed mount's staged writes likewise);
    returns the folders removed. A folder of a running process, of another user, or named
    without a process id (an older Lacuna's) is left alone."""
    try:
        names = os.listdir(parent)
    except OSError:
        return []
    removed = []
    for name in names:
        pid = name[len(prefix):].split("-", 1)[0]
        if (not name.startswith(prefix) or "-" not in name[len(prefix):]
                or not pid.isdigit() or len(pid) > 7 or int(pid) <= 0):
            continue
        path = os.path.join(parent, name)
        try:
            st = os.lstat(path)
        except OSError:
            continue
        if (st.st_uid != os.getuid() or not stat.S_ISDIR(st.st_mode)
                or int(pid) == os.getpid() or _running(int(pid))):
            continue
        shutil.rmtree(path, ignore_errors=True)
        removed.append(path)
    return removed


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: it runs, as another user
        return True
    return True


# -- writes -------------------------------------------------------------------------------------


def sealed_write(path: str, write: Callable[[Any], T], *, method: str,
                 classification: Classification | None, gov: Governor | None = None,
                 stream: bool = True, mkdir: bool = False,
                 first_seen: datetime | None = None) -> T:
    """Perform ``write(target)`` so that what it writes to ``path`` (a file or a folder under a
    governed root) is sealed: ``target`` is a sealing stream for ``STREAM_WRITERS`` (unless
    ``stream`` is False: this call writes a folder, e.g. polars' ``partition_by``, or needs its
    real file name), else a path in a private scratch folder whose files are sealed into
    ``path`` afterwards. ``mkdir``: the writer was asked to create missing parent folders
    (polars' ``mkdir=True``), which are created here, as the writer would. ``first_seen``:
    when the data was first seen, sealed into each file's header
    (:func:`lacuna.storage.open_sealed_writer`).

    Raises:
        StorageError: the writer cannot be sealed (nothing written).
    """
    from lacuna.integrations.pandas._patch import no_plaintext, users_error

    no_plaintext()  # if Lacuna fails from here on, the call is refused, never run plain
    try:
        if mkdir:
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        return _sealed_write(path, write, method=method, classification=classification,
                             gov=_gov(gov), stream=stream, first_seen=first_seen)
    except OSError as exc:  # the file system's answer (no such folder, disk full): the user's
        users_error(exc)
        raise


def _sealed_write(path: str, write: Callable[[Any], T], *, method: str,
                  classification: Classification | None, gov: Governor, stream: bool,
                  first_seen: datetime | None) -> T:
    g, seen = gov, first_seen
    if method in UNSEALABLE_WRITERS:
        refuse(method, path)
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):  # as the library says it (pandas: write_governed)
        if method.startswith("duckdb."):
            import duckdb

            from lacuna.integrations.pandas._patch import users_error

            error = duckdb.IOException(
                f'IO Error: Cannot open file "{path}": No such file or directory')
            users_error(error)  # the answer to the user's statement
            raise error
        raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), path)
    if stream and method in STREAM_WRITERS:
        return write_governed(path, write, method=method, classification=classification, gov=g,
                              first_seen=seen)
    before = _stat(path)
    with scratch() as folder:
        staged = os.path.join(folder, os.path.basename(os.path.normpath(path)) or "out")
        there = _mirror(path, staged)
        with users_paths({staged: path, folder: os.path.dirname(os.path.abspath(path))}):
            result = write(staged)
        if os.path.isdir(staged):
            _settle(staged, path, there, g)
            seal_tree(staged, path, method=method, classification=classification, gov=g,
                      first_seen=seen)
        elif os.path.isfile(staged):
            _seal_file(staged, path, method=method, classification=classification, gov=g,
                       first_seen=seen)
        elif _stat(path) == before:
            # the library wrote nothing, anywhere (pyarrow's write_dataset of a table without
            # rows creates no folder): nothing to seal, as nothing is written without Lacuna
            return result
        else:  # something changed at the real path instead: never taken as sealed
            msg = (f"{method} to {path} wrote nothing Lacuna can seal (no file at the path it "
                   "was given). Nothing was written to governed storage.")
            raise StorageError(msg)
    return result


@contextlib.contextmanager
def users_paths(names: dict[str, str]) -> Iterator[None]:
    """Around a library call given a private scratch path: an error it raises names the user's
    path instead (``names``: scratch path -> the user's), never the private scratch folder
    (pyarrow's "Could not write to <folder> as the directory is not empty", DuckDB's
    "Directory ... is not empty", polars' "... is a directory"). The error keeps its type."""
    try:
        yield
    except BaseException as exc:
        _rename_paths(exc, names)
        raise


def _rename_paths(exc: BaseException, names: dict[str, str]) -> None:
    pairs = sorted(names.items(), key=lambda kv: -len(kv[0]))  # the longest scratch path first

    def fixed(value: Any) -> Any:
        if not isinstance(value, str):
            return value
        for private, users in pairs:
            value = value.replace(private, users)
        return value

    with contextlib.suppress(Exception):  # an exception type whose args cannot be set
        exc.args = tuple(fixed(a) for a in exc.args)
    if isinstance(exc, OSError):  # only when set: a None set makes str(exc) "[Errno None] ..."
        if isinstance(exc.filename, str):
            exc.filename = fixed(exc.filename)
        if isinstance(exc.filename2, str):
            exc.filename2 = fixed(exc.filename2)


def _mirror(path: str, staged: str) -> dict[str, tuple[int, int, int] | None]:
    """An empty stand-in in ``staged`` for each file of the folder ``path`` already holds, so
    the library sees the folder as it is: it refuses a folder that is not empty (DuckDB's
    ``PARTITION_BY`` without ``OVERWRITE``, pyarrow's ``existing_data_behavior="error"``) or
    deletes what it would overwrite, as without Lacuna. Relative path -> the stand-in's
    identity."""
    if not os.path.isdir(path):
        return {}
    there: dict[str, tuple[int, int, int] | None] = {}
    for root, _dirs, files in os.walk(path):
        for name in files:
            rel = os.path.relpath(os.path.join(root, name), path)
            stand_in = os.path.join(staged, rel)
            os.makedirs(os.path.dirname(stand_in), mode=0o700, exist_ok=True)
            with open(stand_in, "wb"):
                pass
            there[rel] = _stat(stand_in)
    os.makedirs(staged, mode=0o700, exist_ok=True)
    return there


def _settle(staged: str, path: str, there: dict[str, tuple[int, int, int] | None],
            gov: Governor) -> None:
    """After the library wrote ``staged``: a file whose stand-in it deleted is deleted from
    ``path``; a stand-in it left untouched is dropped (the file in ``path`` stays as it is).
    Nothing is deleted or replaced when a file it would delete or rewrite is under a legal
    hold (:func:`~lacuna.storage.access.refuse_held`: ``StorageError``)."""
    touched = [os.path.join(path, rel) for rel, identity in there.items()
               if _stat(os.path.join(staged, rel)) != identity]
    refuse_held(*touched, gov=gov)
    for rel, identity in there.items():
        stand_in = os.path.join(staged, rel)
        if not os.path.lexists(stand_in):
            with contextlib.suppress(FileNotFoundError):
                os.remove(os.path.join(path, rel))
        elif _stat(stand_in) == identity:
            os.remove(stand_in)


def _stat(path: str) -> tuple[int, int, int] | None:
    """What identifies the file or folder at ``path`` now (None: nothing there)."""
    try:
        st = os.lstat(path)
    except OSError:
        return None
    return (st.st_ino, st.st_mtime_ns, st.st_size)


def seal_tree(staged: str, target: str, *, method: str,
              classification: Classification | None, gov: Governor,
              first_seen: datetime | None = None) -> list[str]:
    """Seal every file under the folder ``staged`` into ``target`` (same relative paths)."""
    written: list[str] = []
    for root, _dirs, files in os.walk(staged):
        rel = os.path.relpath(root, staged)
        out_dir = os.path.normpath(os.path.join(target, rel))
        os.makedirs(out_dir, exist_ok=True)
        for name in sorted(files):
            out = os.path.join(out_dir, name)
            _seal_file(os.path.join(root, name), out, method=method,
                       classification=classification, gov=gov, first_seen=first_seen)
            written.append(out)
    return written


def _seal_file(plain: str, target: str, *, method: str,
               classification: Classification | None, gov: Governor,
               first_seen: datetime | None = None) -> None:
    parent = os.path.dirname(os.path.abspath(target))
    if not os.path.isdir(parent):
        msg = f"Cannot save file into a non-existent directory: '{parent}'"
        raise OSError(msg)
    writer = open_sealed_writer(target, method=method, classification=classification, gov=gov,
                                first_seen=first_seen)
    try:
        with open(plain, "rb") as fh:
            for block in iter(lambda: fh.read(writer.segment), b""):
                writer.write(block)
    except BaseException:
        writer.discard()
        raise
    writer.close()


_TABLE_FORMAT = "a table format that manages its own files (Delta, Iceberg)"


def refuse(method: str, path: str, what: str = _TABLE_FORMAT) -> None:
    """Refuse a write under a governed root that cannot be sealed file by file (``what`` it
    is: by default a table format).

    Raises:
        StorageError: always.
    """
    msg = (f"{method} to {path} cannot be encrypted: it is under a governed root "
           f"(destinations.governed), and {what} cannot be sealed file by file. Write "
           "Parquet, CSV, IPC or JSON to a path there, write it outside governed storage, or "
           "turn encryption off (storage.encrypt: false). Nothing was written.")
    raise StorageError(msg)


def writes_sealed(path: str | None, gov: Governor | None = None) -> bool:
    """Whether a write to the local ``path`` goes to sealed governed storage."""
    return path is not None and seals(path, gov)


# -- database files -------------------------------------------------------------------------------

_DATABASE_URL_SCHEMES = ("sqlite", "duckdb")


def database_file(url: str) -> str | None:
    """The local file a SQLite or DuckDB URL names (``sqlite:///x.db``, ``sqlite:////abs/x.db``,
    ``sqlite+pysqlite:///...``, ``duckdb:///x.duckdb``: what follows the third slash, as
    SQLAlchemy reads it; a ``#table`` or ``?query`` left out), or None (another database, or
    one in memory)."""
    scheme, sep, rest = url.partition(":///")
    if not sep or scheme.split("+", 1)[0].lower() not in _DATABASE_URL_SCHEMES:
        return None
    path = rest.split("#", 1)[0].split("?", 1)[0]
    return None if path in ("", ":memory:") or path.startswith(":memory:") else path


def refuse_database(what: str, database: str, gov: Governor | None = None) -> None:
    """Refuse a database file (SQLite, DuckDB) opened for writing under a sealed governed root.

    A live database file cannot be sealed: the engine reads and rewrites it in place for as
    long as it is open (and keeps a journal or WAL file beside it), so the rows would lie in
    governed storage in plaintext. Opening one read-only is not refused (nothing is written).

    Raises:
        StorageError: ``database`` is a path under a governed root with ``storage.encrypt``.
    """
    if database in ("", ":memory:") or not writes_sealed(database, gov):
        return
    msg = (f"{what} opens the database file {database} under a governed root "
           "(destinations.governed), where every file is sealed; a live database file cannot "
           "be sealed (the engine rewrites it in place while it is open), so its rows would "
           "lie there in plaintext. Keep the database outside governed storage and write the "
           "tables to keep there as files, which are sealed (df.to_parquet(path) or "
           "pq.write_table(table, path) under the governed root; read them back with "
           "pd.read_parquet or duckdb.read_parquet), or set storage.encrypt: false. Nothing "
           "was written.")
    raise StorageError(msg)


def refuse_unread_database(what: str, gov: Governor | None = None) -> None:
    """Refuse a database file opened for writing by a path Lacuna cannot read (``ATTACH ?``,
    ``ATTACH lower('...')``: a parameter or an expression) while sealed governed storage is
    on: it may name a file under a governed root, where it would lie in plaintext (a bound
    path there wrote an unsealed database file).

    Raises:
        StorageError: ``storage.encrypt`` is on and a governed root is configured.
    """
    g = _gov(gov)
    if not (g.config.storage.encrypt and g.config.destinations.governed):
        return
    msg = (f"{what} opens a database file named by a parameter or an expression, which Lacuna "
           "cannot read; it may be under a governed root (destinations.governed), where every "
           "file is sealed and a live database file would lie in plaintext. Write its path in "
           "the statement as a string (a database outside governed storage is then opened as "
           "before). Nothing was written.")
    raise StorageError(msg)


# -- reads --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SealedRead:
    """What a read of sealed storage decided: the files opened and the classification the
    decision was taken on (None for several files: the values decide again)."""

    files: tuple[str, ...]
    decided: Classification | None


def file_url_path(target: Any) -> str | None:
    """The local path a ``file://`` URL names (polars and pyarrow write and read it as that
    file), or None for anything else."""
    if not (isinstance(target, str) and target[:7].lower() == "file://"):
        return None
    from urllib.parse import urlsplit
    from urllib.request import url2pathname

    url = urlsplit(target)
    if url.netloc not in ("", "localhost") or url.query or url.fragment:
        return None
    return url2pathname(url.path)


def sealed_files(target: Any) -> tuple[str, ...]:
    """The sealed files a read of ``target`` touches (a file, or the files under a folder);
    empty when it reads no sealed file (then the library reads it as it is)."""
    if isinstance(target, (list, tuple)):  # pl.read_csv([a, b]): each file, folder or glob
        return tuple(dict.fromkeys(f for item in target for f in sealed_files(item)))
    target = file_url_path(target) or target
    if not isinstance(target, (str, os.PathLike)) or "://" in os.fspath(target):
        return ()
    path = os.path.expanduser(os.fspath(target))
    if os.path.isfile(path):
        return (path,) if is_sealed(path) else ()
    matched = matches(path)
    if matched is not None:
        return tuple(f for f in matched if is_sealed(f))
    if os.path.isdir(path):
        found = []
        for root, _dirs, files in os.walk(path):
            found += [os.path.join(root, f) for f in sorted(files)
                      if is_sealed(os.path.join(root, f))]
        return tuple(found)
    return ()


def matches(path: str) -> list[str] | None:
    """The files a glob pattern names (``part/**/*.parquet``: DuckDB and polars read a
    partitioned folder so), or None when ``path`` is not a pattern."""
    if not any(c in path for c in "*?[") or os.path.exists(path):
        return None
    return sorted(f for f in glob.glob(path, recursive=True) if os.path.isfile(f))


def _pattern_root(path: str) -> str:
    """The folder a glob pattern starts from: its leading parts without wildcards."""
    parts = path.split(os.sep)
    fixed = next(i for i, part in enumerate(parts) if any(c in part for c in "*?["))
    return os.sep.join(parts[:fixed]) or os.sep


def read_sealed(target: Any, read: Callable[[Any], T], *, method: str,
                materialise: Callable[[T], T] | None = None,
                code_location: str | None = None,
                gov: Governor | None = None) -> tuple[T, SealedRead | None]:
    """``read(source)`` where ``source`` is ``target`` itself when it holds no sealed file, else
    the decrypted stream (``STREAM_READERS``, one file) or a private plaintext copy (a path; the
    result goes through ``materialise`` before the copy is removed).

    Every sealed file is opened through :func:`open_governed` first: a denied read raises
    ``GovernanceViolation`` before anything is decrypted or ``read`` runs.
    """
    files = sealed_files(target)
    if not files:
        refuse_sealed_bytes(target, method)
        return read(target), None
    g = _gov(gov)
    listed = isinstance(target, (list, tuple))
    path = "" if listed else os.path.expanduser(os.fspath(file_url_path(target) or target))
    handles = [open_governed(f, method=method, code_location=code_location, gov=g)
               for f in files]
    try:
        decided = handles[0].raw.decided_on if len(handles) == 1 else None  # type: ignore[attr-defined]
        info = SealedRead(files=files, decided=decided)
        if method in STREAM_READERS and not listed and os.path.isfile(path):
            return read(handles[0]), info
        with scratch() as folder:
            names: dict[str, str] = {}
            plain: Any = (_decrypt_each(folder, target, files, handles, names) if listed
                          else _decrypt_into(folder, path, files, handles, names))
            with users_paths(names):
                result = read(plain)
                if materialise is not None:
                    result = materialise(result)
        return result, info
    finally:
        for handle in handles:
            handle.close()


_IN_MEMORY = (bytes, bytearray, memoryview)


def refuse_sealed_bytes(source: Any, method: str) -> None:
    """A reader given the bytes of a sealed file (an open file object, an Arrow stream or
    memory map, bytes in memory) would parse ciphertext: refused, saying how to read it. The
    first bytes are looked at where that is free (a seekable stream is put back where it
    was; a pipe is left alone).

    Raises:
        StorageError: ``source`` starts with the sealed-file magic.
    """
    from lacuna.storage.sealed import MAGIC

    head: Any = b""
    try:
        if isinstance(source, _IN_MEMORY):
            head = bytes(memoryview(source)[:len(MAGIC)])
        elif callable(getattr(source, "to_pybytes", None)) and not hasattr(source, "read"):
            head = memoryview(source)[:len(MAGIC)].tobytes()  # a pa.Buffer
        elif callable(getattr(source, "read", None)) and callable(
                getattr(source, "seekable", None)) and source.seekable():
            at = source.tell()
            try:
                head = source.read(len(MAGIC))
            finally:
                source.seek(at)
    except Exception:  # not a stream Lacuna can look into: the reader's own business
        return
    if not isinstance(head, (bytes, bytearray)) or bytes(head) != MAGIC:
        return
    name = getattr(source, "name", None)
    shown = f" on {os.fsdecode(name)}" if isinstance(name, (str, bytes)) else ""
    msg = (f"{method} was given the bytes of a sealed governed file ({type(source).__name__}"
           f"{shown}), which it would read as ciphertext. Pass the file's path to the reader "
           "instead (pd.read_csv(path), pq.read_table(path), pl.read_parquet(path), ...): it "
           "is decrypted there, decided and audited. Nothing was read.")
    raise StorageError(msg)


def refuse_sealed_in_sql(target: Any, engine: str,
                         instead: str = "rel = duckdb.read_parquet(path), then query rel"
                         ) -> None:
    """A SQL engine that opens files itself (DuckDB's ``FROM 'x.parquet'``) would read
    ciphertext: refused with what to do instead, before the engine tries.

    Raises:
        StorageError: ``target`` is (or holds) a sealed governed file.
    """
    if sealed_files(target):
        msg = (f"{engine} SQL names {os.fspath(target)}, a sealed governed file: the engine "
               "opens files itself and would read ciphertext, so Lacuna cannot decrypt it "
               f"there. Read it through Lacuna first (e.g. {instead}), which is decided and "
               "audited. Nothing was read.")
        raise StorageError(msg)


def _decrypt_each(folder: str, targets: Any, files: tuple[str, ...],
                  handles: list[Any], names: dict[str, str]) -> list[Any]:
    """The list a reader was given, each item holding sealed files replaced by its plaintext
    copy (in a folder of its own inside ``folder``), the others as they are."""
    out: list[Any] = []
    for i, item in enumerate(targets):
        if not sealed_files(item):
            out.append(item)
            continue
        own = os.path.join(folder, str(i))
        os.makedirs(own, mode=0o700)
        item_path = os.fspath(file_url_path(item) or item)
        out.append(_decrypt_into(own, os.path.expanduser(item_path), files, handles, names))
    return out


def _decrypt_into(folder: str, path: str, files: tuple[str, ...], handles: list[Any],
                  names: dict[str, str]) -> str:
    """A plaintext copy of the file, folder or glob pattern ``path`` inside ``folder`` (0600
    files), and the path to read there; files under a folder (or matched) that are not sealed
    (e.g. ``_SUCCESS``) are copied as they are. ``names`` gets the copy's path -> ``path``
    (:func:`users_paths`)."""
    base = os.path.join(folder, os.path.basename(os.path.normpath(path)) or "in")
    names[base] = os.path.normpath(path)
    opened = dict(zip(files, handles, strict=True))
    if os.path.isfile(path):
        _copy_out(opened[path], base)
        return base
    matched = matches(path)
    if matched is not None:  # the files it names, at the same places under a copy of its root
        root = _pattern_root(path)
        del names[base]
        base = os.path.join(folder, os.path.basename(os.path.normpath(root)) or "in")
        names[base] = os.path.normpath(root)
        for src in matched:
            dest = os.path.join(base, os.path.relpath(src, root))
            os.makedirs(os.path.dirname(dest), mode=0o700, exist_ok=True)
            if src in opened:
                _copy_out(opened[src], dest)
            else:
                with open(src, "rb") as fh:
                    _copy_out(fh, dest)
        return os.path.join(base, os.path.relpath(path, root))
    for root, _dirs, found in os.walk(path):
        out_dir = os.path.join(base, os.path.relpath(root, path))
        os.makedirs(out_dir, mode=0o700, exist_ok=True)
        for name in found:
            src = os.path.join(root, name)
            if src in opened:
                _copy_out(opened[src], os.path.join(out_dir, name))
            else:
                with open(src, "rb") as fh:
                    _copy_out(fh, os.path.join(out_dir, name))
    return base


def _copy_out(handle: Any, dest: str) -> None:
    if handle.seekable():  # a file named twice in a list is copied twice
        handle.seek(0)
    fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        shutil.copyfileobj(handle, out, _COPY)


__all__ = [
    "STREAM_READERS",
    "STREAM_WRITERS",
    "UNSEALABLE_WRITERS",
    "SealedRead",
    "database_file",
    "file_url_path",
    "matches",
    "read_sealed",
    "refuse",
    "refuse_database",
    "refuse_sealed_in_sql",
    "refuse_unnamed_file",
    "scratch",
    "seal_tree",
    "sealed_files",
    "sealed_write",
    "sweep",
    "writes_sealed",
]
