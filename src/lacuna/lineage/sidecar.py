"""Sidecars: the export rule, "classification travels with the data".

Writing ``customers.csv`` under governance also writes ``.customers.csv.lacuna.json`` beside it
(a hidden file, as Spark's ``.part-0.parquet.crc``: the readers of a folder of data files --
pyarrow, pandas, polars, Spark, Hadoop -- skip names starting with ``.``, so a folder of files
written one by one stays readable as a dataset, with or without Lacuna). Sidecars named
``customers.csv.lacuna.json`` (written before 2026-12-06, or by hand) are still read:
the classification, the sources it derives from, who wrote it and when, the data file's content
fingerprint, and a signature (:mod:`lacuna.signing`) over all of it. Parquet files also carry the
same signed declaration inside the file's key-value metadata (:func:`embedded_declaration`),
bound to the values written by a digest of each column (:func:`lacuna.lineage.content.digests`):
metadata copied onto other data does not match the values read there, so it is not trusted.

Trust: reading a file back, a declaration whose signature verifies and whose fingerprint matches
the file is *trusted*: declared beats inferred. One that is unsigned (hand-written), forged (the
signature does not verify), stale (the file changed since it was signed), unbound (an embedded
declaration without value digests) or made for other values (its digests differ from the values
read) is *untrusted*: it may add restrictions but never lowers what the values show, and the
disagreement is reported.

Hostile sidecars are refused quickly with :class:`SidecarError` (regular files only, opened
non-blocking so a FIFO never blocks; size and nesting limits; UTF-8 JSON only); the reader then
treats the data as PROPRIETARY until the sidecar is fixed (fail closed).

Fingerprint: the whole file, always. Files up to :data:`FULL_HASH_BYTES` (16 MiB) by sha256
(mode ``full``: what ``sha256sum`` prints; about 0.7 ms per MiB on the idle 2-core machine
here), bigger ones by BLAKE3 (mode ``blake3``; about 0.25 ms per MiB, one thread; a memory map
and BLAKE3's threads would halve that, but a file truncated while mapped kills the process with
SIGBUS), so any edit of the file
makes its sidecar stale, however large the file and whatever its mtime says. Sidecars of big
files signed by Lacuna before 2026-12 bound only sampled blocks and the mtime (mode
``sampled``): an in-place edit between the blocks that put the mtime back went unseen, so such a
declaration is no longer trusted (trust ``sampled``; re-exporting the data binds the whole
file). A sealed governed file (docs/storage.md) is
fingerprinted by its authenticated header and last tag instead (mode ``sealed``): any other
content fails to decrypt under that header, and a key re-wrap (which rewrites the key slots)
leaves the fingerprint as it was, so an interrupted ``lacuna storage rewrap`` or a folder of
sealed files never makes a sidecar stale. Sidecars signed over the bytes of a sealed file
(before) still verify.
"""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import os
import stat
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from lacuna.config import ClassificationConfig
from lacuna.errors import ClassificationError
from lacuna.lineage.clock import aware
from lacuna.lineage.state import ATTRS_KEY
from lacuna.model import SCHEMA_VERSION, Classification, Layer, utcnow

log = logging.getLogger(__name__)

SUFFIX = ".lacuna.json"
MAX_SIDECAR_BYTES = 4 * 1024 * 1024  # a hostile or runaway sidecar is refused, not parsed
MAX_DEPTH = 16  # a sidecar is at most ~5 levels deep; deeper is hostile or broken
FULL_HASH_BYTES = 16 * 1024 * 1024  # up to this size sha256, above it BLAKE3 (both whole)
_BLOCK = 1 << 20
EMBEDDED_KEY = "lacuna"  # the key in DataFrame.attrs (Parquet: inside PANDAS_ATTRS metadata)

Trust = Literal["verified", "unsigned", "forged", "stale", "sampled", "unbound",
                "other-values", "partial", "partitions"]


class SidecarError(ClassificationError):
    """A sidecar exists but cannot be used."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Sidecar:
    """A classification declared for a data file, and whether it can be trusted."""

    classification: Classification
    sources: tuple[str, ...]
    written_by: str | None
    written_at: datetime | None
    path: Path  # the sidecar file, or the data file for embedded metadata
    trust: Trust = "unsigned"
    where: str = ""  # how the declaration is named in reasoning and logs
    run_id: str | None = None  # the lineage store's run that wrote the file
    # the declaration combines more than what run ``run_id`` wrote (an append: the content
    # already there; an ExcelWriter's sheets): not that run's output class alone, so the
    # store's version of that output does not speak for it (lacuna.lineage.attribution)
    combined: bool = False
    # when its data was first seen (lacuna.lineage.clock): the earliest of its destination's
    # clock before the write, the clock of the data it derives from, and its write time.
    # None in a declaration written before it carried one (its write time stands in)
    first_seen: datetime | None = None
    # trust "partial": the first file of the folder read that has no trusted declaration;
    # "partitions": a table's partition locations outside its folder
    undeclared: str = ""

    @property
    def trusted(self) -> bool:
        return self.trust == "verified"

    @property
    def problem(self) -> str | None:
        """Why the declaration is not trusted, or None when it is."""
        return {
            "verified": None,
            "unsigned": "it is not signed by Lacuna (hand-written or from an old version)",
            "forged": "its signature does not verify (edited, or signed with another key)",
            "stale": "the data file changed since the declaration was signed",
            "sampled": "it binds only sampled blocks of this large file (signed by a Lacuna "
                       "older than 2026-12), so an edit between them would go unseen; "
                       "re-export the data to bind the whole file",
            "unbound": "it carries no digest of the values it was made for (written by an "
                       "older Lacuna, which bound it to column names and row count only), "
                       "so it could be copied onto other data",
            "other-values": "the values read are not the ones it was signed for (its metadata "
                            "was copied onto other data, or the values were changed)",
            "partial": "it declares one file of the folder read, and not every data file there "
                       "has a trusted declaration, so the values decide the rest"
                       + (f" ({self.undeclared} has none: write it under Lacuna, or move it "
                          "out of the folder)" if self.undeclared else ""),
            "partitions": "the table has partitions whose files lie outside its folder "
                          f"({self.undeclared}), and its label is bound to its own folder "
                          "only, so the values decide (write the table again with Lacuna, or "
                          "move those partitions into its folder)",
        }[self.trust]


def sidecar_path(data_path: str | os.PathLike[str]) -> Path:
    """Where the sidecar of ``data_path`` is written: ``.<name>.lacuna.json`` beside it (see
    the module docstring). A path without a name of its own (``/``, ``.``) keeps the
    visible form."""
    path = Path(os.fspath(data_path)).expanduser()
    if path.name in ("", ".", ".."):
        return legacy_sidecar_path(data_path)
    return path.with_name(f".{path.name}{SUFFIX}")


def legacy_sidecar_path(data_path: str | os.PathLike[str]) -> Path:
    """``<name>.lacuna.json`` beside ``data_path``: the visible name sidecars had before
    2026-12-06 (and a hand-written one may have). Read, never written."""
    return Path(os.fspath(data_path) + SUFFIX).expanduser()


def sidecar_paths(data_path: str | os.PathLike[str]) -> tuple[Path, ...]:
    """Every name the sidecar of ``data_path`` may have, the one Lacuna writes first."""
    return tuple(dict.fromkeys((sidecar_path(data_path), legacy_sidecar_path(data_path))))


def own_sidecar_paths(data_path: str | os.PathLike[str]) -> tuple[Path, ...]:
    """The names in :func:`sidecar_paths` that are ``data_path``'s alone, the ones to move,
    delete or supersede with it: the visible-form name of a hidden file ``.x``
    (``.x.lacuna.json``) is also the name Lacuna writes for ``x``, so while ``x`` exists it
    is ``x``'s (a reader of ``.x`` still reads it, and an untrusted one only restricts)."""
    path = Path(os.fspath(data_path)).expanduser()
    names = sidecar_paths(data_path)
    if (path.name.startswith(".") and path.name not in (".", "..")
            and os.path.lexists(path.with_name(path.name[1:]))):
        return tuple(p for p in names if p != legacy_sidecar_path(data_path))
    return names


def has_sidecar(data_path: str | os.PathLike[str]) -> bool:
    """Whether a regular file sits under one of the sidecar names of ``data_path``. A name too
    long for its sidecar's (``.<name>.lacuna.json`` past the file system's limit) has none:
    asking raised, and one file renamed so in governed storage stopped every retention plan
    (nothing was deleted anywhere)."""
    return any(_regular(p) for p in sidecar_paths(data_path))


def _regular(path: Path) -> bool:
    try:
        return path.is_file()
    except OSError as exc:
        if exc.errno == errno.ENAMETOOLONG:
            return False
        raise


def described(path: str | os.PathLike[str]) -> tuple[str, ...]:
    """The data paths a file named ``path`` would be the sidecar of (``.x.lacuna.json``:
    ``x``, or the hidden file ``.x`` it names visibly); empty when the name is not a
    sidecar's."""
    head, name = os.path.split(os.fspath(path))
    stem = name[: -len(SUFFIX)] if name.endswith(SUFFIX) else ""
    if not stem:
        return ()
    found = [os.path.join(head, stem[1:])] if stem.startswith(".") and stem != "." else []
    return (*found, os.path.join(head, stem))


def is_local(target: object) -> bool:
    """Whether a write target is a local file path (the only place a sidecar can live)."""
    if isinstance(target, os.PathLike):
        return True
    return isinstance(target, str) and "://" not in target and bool(target.strip())


# -- fingerprints ------------------------------------------------------------------------------


def fingerprint(data_path: str | os.PathLike[str], *, sealed: bool = True) -> dict[str, Any]:
    """The content fingerprint a signature binds to (see the module docstring); a directory
    (a partitioned Parquet dataset) is the list of its files' fingerprints. A sealed governed
    file is fingerprinted by its authenticated header and last tag (mode ``sealed``,
    :func:`lacuna.storage.sealed.identity_digest`), which a key re-wrap does not change;
    ``sealed=False`` gives the bytes' fingerprint (what sidecars signed before)."""
    data_path = os.path.expanduser(os.fspath(data_path))  # pandas expands "~" when it writes
    if os.path.isdir(data_path):  # through symlinked folders, as pyarrow and Spark read it:
        # a walk that skipped them let a folder of PII linked into a signed PUBLIC dataset
        # keep its declaration
        from lacuna._files import read_tree

        return {"mode": "directory", "files": {
            name: fingerprint(path, sealed=sealed) if kind == "file" else {"mode": kind}
            for name, path, kind in read_tree(data_path)
            if kind in ("dangling", "cycle") or (kind == "file" and not is_sidecar(path))}}
    with open(os.fspath(data_path), "rb") as fh:
        return fingerprint_open(fh, sealed=sealed)


def fingerprint_open(fh: Any, *, sealed: bool = True) -> dict[str, Any]:
    """:func:`fingerprint` of the file open as ``fh`` (binary, seekable; read from its start),
    so a check binds the very file a caller holds open, not whatever its path names later."""
    size = os.fstat(fh.fileno()).st_size
    if sealed:
        from lacuna.storage.sealed import identity_digest

        identity = identity_digest(fh)
        if identity is not None:
            return {"size": size, "sha256": identity, "mode": "sealed"}
    fh.seek(0)
    if size <= FULL_HASH_BYTES:
        full = hashlib.file_digest(fh, "sha256").hexdigest()
        return {"size": size, "sha256": full, "mode": "full"}
    return {"size": size, "blake3": _blake3(fh), "mode": "blake3"}


def fingerprint_bytes(data: bytes) -> dict[str, Any]:
    """:func:`fingerprint` of a plain file that holds ``data`` (a writer's own bytes, so the
    check binds what it wrote, not what the path holds afterwards)."""
    if len(data) <= FULL_HASH_BYTES:
        return {"size": len(data), "sha256": hashlib.sha256(data).hexdigest(), "mode": "full"}
    from blake3 import blake3

    return {"size": len(data), "blake3": str(blake3(data, max_threads=1).hexdigest()),
            "mode": "blake3"}


def _blake3(fh: Any) -> str:
    """BLAKE3 of an open file from its position on, read in 1 MiB blocks (one thread: the
    hashing releases the GIL, the process's other threads go on)."""
    from blake3 import blake3

    digest = blake3(max_threads=1)
    buffer = bytearray(_BLOCK)
    view = memoryview(buffer)
    while n := fh.readinto(buffer):
        digest.update(view[:n])
    return str(digest.hexdigest())


def _covers(found: Mapping[str, Any], mode: str) -> bool:
    """Whether a fingerprint has a file fingerprinted in ``mode`` (itself, or one in a
    folder)."""
    files = found.get("files")
    return found.get("mode") == mode or (isinstance(files, dict) and any(
        isinstance(f, dict) and _covers(f, mode) for f in files.values()))


def _signer() -> Any:
    from lacuna.signing import default_keyring

    return default_keyring()


# -- reading -----------------------------------------------------------------------------------


def _read_bounded(path: Path) -> bytes | None:
    """The sidecar's bytes: a regular file, at most MAX_SIDECAR_BYTES, never blocking."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        return None
    except OSError as exc:
        msg = f"{path}: cannot read the classification sidecar ({exc}). Check its permissions."
        raise SidecarError(msg) from exc
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            msg = (
                f"{path}: the classification sidecar is not a regular file (a FIFO, device or "
                "directory); refused. Delete it and re-export the data under Lacuna."
            )
            raise SidecarError(msg)
        if st.st_size > MAX_SIDECAR_BYTES:
            msg = (
                f"{path}: the classification sidecar is {st.st_size} bytes, over the "
                f"{MAX_SIDECAR_BYTES} byte limit. Delete it and re-export the data under Lacuna."
            )
            raise SidecarError(msg)
        chunks: list[bytes] = []
        total = 0
        while total <= MAX_SIDECAR_BYTES:  # the file may grow after fstat: stop at the limit
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
        if total > MAX_SIDECAR_BYTES:
            msg = f"{path}: the classification sidecar is over the {MAX_SIDECAR_BYTES} byte limit."
            raise SidecarError(msg)
        return b"".join(chunks)
    except OSError as exc:
        msg = f"{path}: cannot read the classification sidecar ({exc})."
        raise SidecarError(msg) from exc
    finally:
        os.close(fd)


def _depth(value: Any) -> int:
    """Nesting depth of parsed JSON, iteratively (no recursion limit to hit)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        deepest = max(deepest, level)
        if deepest > MAX_DEPTH:
            return deepest
        if isinstance(item, dict):
            stack.extend((v, level + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, level + 1) for v in item)
    return deepest


def parse(raw: bytes | str, where: str) -> dict[str, Any]:
    """Parse a declaration's JSON with the size and depth limits; ``where`` names it."""
    if len(raw) > MAX_SIDECAR_BYTES:
        msg = f"{where}: the classification declaration is over the {MAX_SIDECAR_BYTES} byte limit."
        raise SidecarError(msg)
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
        data = json.loads(text)
    except UnicodeDecodeError as exc:
        msg = f"{where}: cannot read the classification sidecar ({exc}); it must be UTF-8 JSON."
        raise SidecarError(msg) from None
    except json.JSONDecodeError as exc:
        msg = (
            f"{where}:{exc.lineno}:{exc.colno}: the classification sidecar is not valid JSON "
            f"({exc.msg}). Fix it, or delete it and re-export the data under Lacuna."
        )
        raise SidecarError(msg) from None
    except RecursionError:
        data = None
    except ValueError as exc:  # valid JSON that Python refuses (an integer of > 4,300 digits)
        msg = (f"{where}: the classification sidecar cannot be read ({exc}). Fix it, or delete "
               "it and re-export the data under Lacuna.")
        raise SidecarError(msg) from None
    if data is None or _depth(data) > MAX_DEPTH:
        msg = (f"{where}: the classification sidecar is nested deeper than {MAX_DEPTH} levels; "
               "refused. Delete it and re-export the data under Lacuna.")
        raise SidecarError(msg)
    if not isinstance(data, dict):
        msg = f"{where}: the classification sidecar is malformed (expected a JSON object)."
        raise SidecarError(msg)
    return data


def _declaration(
    raw: Mapping[str, Any], *, path: Path, where: str, trust: Trust
) -> Sidecar:
    try:
        if not isinstance(raw.get("classification"), dict):
            msg = "expected an object with a 'classification' object"
            raise TypeError(msg)
        classification = Classification.from_dict(raw["classification"], layer=Layer.DECLARED)
        written_at = raw.get("written_at")
        written_by = raw.get("written_by")
        run_id = raw.get("run_id")
        first_seen = raw.get("first_seen")
        return Sidecar(
            first_seen=aware(datetime.fromisoformat(first_seen)) if first_seen else None,
            run_id=str(run_id) if isinstance(run_id, str) and run_id else None,
            combined=raw.get("combined") is True,
            classification=classification,
            sources=tuple(str(s) for s in raw.get("sources") or ()),
            written_by=str(written_by) if written_by is not None else None,
            written_at=datetime.fromisoformat(written_at) if written_at else None,
            path=path,
            trust=trust,
            where=where,
        )
    except Exception as exc:
        msg = (
            f"{where}: the classification sidecar is malformed ({exc}). Fix it, or delete it "
            "and re-export the data under Lacuna."
        )
        raise SidecarError(msg) from None


def _trust(raw: Mapping[str, Any], binding: Callable[[], Trust]) -> Trust:
    signature = raw.get("signature")
    if not signature:
        return "unsigned"
    body = {k: v for k, v in raw.items() if k != "signature"}
    try:
        valid = _signer().verify(body, signature)
    except (TypeError, ValueError):
        valid = False
    if not valid:
        return "forged"
    return binding()


def is_declaration(path: str | os.PathLike[str]) -> bool:
    """Whether the file at ``path`` holds what a sidecar is: a regular file of at most
    ``MAX_SIDECAR_BYTES`` whose JSON is an object with a ``classification`` object (read as
    :func:`read_sidecar` reads one). Anything else under a sidecar's name is data."""
    try:
        raw = _read_bounded(Path(path))
        data = parse(raw, str(path)) if raw is not None else None
    except SidecarError:
        return False
    return data is not None and isinstance(data.get("classification"), dict)


def is_sidecar(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a real sidecar: named ``.<data>.lacuna.json`` (or, as before
    2026-12-06, ``<data>.lacuna.json``) beside an existing ``<data>`` (a file, or the folder a
    folder sidecar describes), and holding a declaration (:func:`is_declaration`). Anything
    else named ``*.lacuna.json`` is data: a folder's fingerprint covers it (pyarrow reads a
    Parquet file under that name as part of the dataset), the mount and the retention walk
    treat it as a file of its own."""
    if not any(os.path.basename(d) and os.path.lexists(d) for d in described(path)):
        return False
    return is_declaration(path)


def read_sidecar(data_path: str | os.PathLike[str], *, opened: Any = None) -> Sidecar | None:
    """The sidecar of a data file, or ``None`` when there is none: of its names
    (:func:`sidecar_paths`), the first whose declaration is trusted, else the first there is.
    ``opened``: the data file as the caller holds it open (binary): the declaration is
    trusted only if it binds that file, whatever ``data_path`` names by then.

    Raises:
        SidecarError: a sidecar exists but is not a regular file, unreadable, not UTF-8 JSON,
            too large, too deeply nested or malformed.
    """
    found = read_sidecars(data_path, opened=opened)
    return next((s for s in found if s.trusted), found[0] if found else None)


def read_sidecars(data_path: str | os.PathLike[str], *, opened: Any = None) -> list[Sidecar]:
    """Every sidecar a data file has (the hidden name Lacuna writes, and a visible one an
    older Lacuna or a person wrote): a reader trusts the first trusted one, and the others
    may only restrict (as any untrusted declaration). ``opened``: as :func:`read_sidecar`.

    Raises:
        SidecarError: as :func:`read_sidecar`.
    """
    found = []
    for path in sidecar_paths(data_path):
        raw_bytes = _read_bounded(path)
        if raw_bytes is not None:
            found.append(_checked(data_path, path, raw_bytes, opened))
    return found


def declaration_at(data_path: str | os.PathLike[str],
                   path: str | os.PathLike[str]) -> Sidecar | None:
    """The declaration the file ``path`` would be as a sidecar of ``data_path`` (whatever
    ``path`` is named: a label about to be put in place), with its trust; None when there is
    no file at ``path``.

    Raises:
        SidecarError: as :func:`read_sidecar` (not a declaration).
    """
    raw_bytes = _read_bounded(Path(path))
    return None if raw_bytes is None else _checked(data_path, Path(path), raw_bytes)


def read_declarations(data_path: str | os.PathLike[str]) -> list[Sidecar]:
    """What the sidecars say about a file or folder a read names: its own
    (:func:`read_sidecars`), and for a folder those of the data files in it (written one by
    one, each with its sidecar; :func:`data_files`), for a glob pattern (``out/*.parquet``)
    those of the files it matches. A folder's file declarations are trusted
    only when every data file there has a trusted one; otherwise each only restricts (trust
    ``partial``), since the values of the files without one decide them.

    Raises:
        SidecarError: as :func:`read_sidecar`.
    """
    found = read_sidecars(data_path)
    folder = os.path.expanduser(os.fspath(data_path))
    if os.path.isdir(folder):
        files = data_files(folder)
    else:  # a glob pattern (polars, DuckDB: "out/*.parquet"): the files it matches
        from lacuna.storage.frames import matches

        matched = matches(folder)
        if matched is None:
            return found
        files = [f for f in matched if _is_data(f)]
    each: list[Sidecar] = []
    undeclared = ""
    for file in files:
        declared = read_sidecars(file)
        if not undeclared and not any(d.trusted for d in declared):
            undeclared = file
        each += declared
    if undeclared:
        each = [d if not d.trusted else replace(d, trust="partial", undeclared=undeclared)
                for d in each]
    return [*found, *each]


def data_files(folder: str | os.PathLike[str]) -> list[str]:
    """The files whose declarations a read of ``folder`` needs: every file below it, in
    order, but its real sidecars (:func:`is_sidecar`) and empty files (``_SUCCESS``). Hidden
    ones count too: pyarrow, pandas and Spark skip them, but a reader can be told not to
    (``ignore_prefixes=[]``), and a file it reads without a declaration must not be lowered by
    the others' (:func:`read_declarations`). A symlinked folder inside (which pyarrow
    follows, and the walk does not) counts as one data file, declared only by a sidecar of
    its own; a symlink that leads nowhere, or a file that cannot be looked at, counts too
    (fail closed: nothing declares it)."""
    found = []
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        found += [os.path.join(root, d) for d in dirs if os.path.islink(os.path.join(root, d))]
        found += [path for name in sorted(files) if _is_data(path := os.path.join(root, name))]
    return found


def _is_data(path: str) -> bool:
    """Whether a file a folder read reads needs a declaration: not a real sidecar, not empty
    (one that cannot be looked at counts: fail closed)."""
    try:
        empty = os.path.getsize(path) == 0
    except OSError:
        empty = False
    return not empty and not is_sidecar(path)


def joined(declarations: Sequence[Sidecar], config: ClassificationConfig) -> Sidecar:
    """One declaration for several trusted ones (a folder's files): their classifications by
    the join rule (the most restrictive wins), their sources, the earliest clock; no single
    run wrote it (``combined``), and it names a run only when one wrote them all."""
    from lacuna.lineage.clock import earliest
    from lacuna.lineage.rules import combine

    if len(declarations) == 1:
        return declarations[0]
    first = declarations[0]
    seen = [aware(d.first_seen or d.written_at) for d in declarations]
    return replace(
        first,
        classification=combine([d.classification for d in declarations], config),
        sources=tuple(dict.fromkeys(s for d in declarations for s in d.sources)),
        where=", ".join(d.where for d in declarations),
        combined=True,
        first_seen=earliest(*seen),
        written_at=first.written_at,
        # the run that wrote them all, or none: one file's run is not the folder's lineage
        run_id=first.run_id if all(d.run_id == first.run_id for d in declarations) else None,
    )


def _checked(data_path: str | os.PathLike[str], path: Path, raw_bytes: bytes,
             opened: Any = None) -> Sidecar:
    """The declaration in the sidecar ``path`` of ``data_path`` (held ``opened``, if given:
    see :func:`read_sidecar`), with its trust."""
    raw = parse(raw_bytes, str(path))

    def of(sealed: bool) -> dict[str, Any]:
        if opened is None:
            return fingerprint(data_path, sealed=sealed)
        return fingerprint_open(opened, sealed=sealed)

    def bound() -> Trust:
        claimed = raw.get("content")
        if isinstance(claimed, dict) and _covers(claimed, "sampled"):
            return "sampled"  # never trusted again: see the module docstring
        try:
            now = of(True)
            # a sidecar signed before sealed files had their own fingerprint binds the bytes
            same = isinstance(claimed, dict) and (now == claimed or (
                _covers(now, "sealed") and of(False) == claimed))
        except OSError:
            same = False
        return "verified" if same else "stale"

    found = _declaration(raw, path=path, where=str(path), trust=_trust(raw, bound))
    if not found.trusted:
        return found
    from lacuna.storage.access import not_below_header

    return replace(found, classification=not_below_header(
        found.classification, os.fspath(data_path), opened))


# -- writing -----------------------------------------------------------------------------------

# The class the operation now running was decided on, when that is more than its integration
# computed (a Lacuna server's lineage store knew more of a source: the ``held`` class of its
# decide answer, which its audit record names); set by Governor.execute while the operation runs.
_DECIDED: ContextVar[tuple[Classification, ClassificationConfig] | None] = ContextVar(
    "lacuna_decided_class", default=None)


@contextmanager
def decided_on(decided: Classification | None, config: ClassificationConfig) -> Iterator[None]:
    """While the block runs, every label written (a sidecar, an embedded declaration, a sealed
    header: :func:`as_decided`) carries at least ``decided`` (None: what it is given)."""
    token = _DECIDED.set(None if decided is None else (decided, config))
    try:
        yield
    finally:
        _DECIDED.reset(token)


def as_decided(classification: Classification) -> Classification:
    """``classification`` raised to the class the running operation was decided on (see
    :func:`decided_on`; only raises, as an untrusted declaration does: :func:`restrict`), so a
    label never says less than the decision recorded for the write."""
    found = _DECIDED.get()
    if found is None:
        return classification
    decided, config = found
    return restrict(decided, classification, config,
                    where="the decision recorded for this write")[0]


def _body(
    classification: Classification, sources: Sequence[str], written_by: str | None,
    run_id: str | None = None, written_at: datetime | None = None, *, combined: bool = False,
    first_seen: datetime | None = None,
) -> dict[str, Any]:
    classification = as_decided(classification)
    written = written_at or utcnow()
    # never later than the write itself: a clock that is not known is the write's
    seen = written if first_seen is None or aware(first_seen) > aware(written) else first_seen
    body: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "generator": "lacuna",
        "classification": classification.to_dict(),
        "sources": list(sources),
        "written_by": written_by,
        "written_at": written.isoformat(),
        "first_seen": seen.isoformat(),
    }
    if run_id:
        body["run_id"] = run_id
    if combined:
        body["combined"] = True
    return body


def write_sidecar(
    data_path: str | os.PathLike[str],
    classification: Classification,
    *,
    sources: Sequence[str] = (),
    written_by: str | None = None,
    run_id: str | None = None,
    written_at: datetime | None = None,
    combined: bool = False,
    first_seen: datetime | None = None,
    written: bytes | None = None,
) -> Path:
    """Write the signed sidecar of an existing data file atomically (temp file + rename), so a
    crash never leaves half a file. The signature binds the declaration to the file's content:
    ``written``, the bytes the caller wrote there (a plain file), when given; else what the file
    holds now (which another writer may have replaced since).
    ``written_at`` (default: now) is when the data was written: signing a sidecar again for
    the same data (a key re-wrap) keeps it, since retention counts from it. ``combined``: the
    declaration is more than run ``run_id``'s output class (:func:`write_label`), signed
    with it. ``first_seen``: when the data was first seen (:mod:`lacuna.lineage.clock`;
    default, and never later than: ``written_at``), signed with it; a re-signing keeps it."""
    path = sidecar_path(data_path)
    body = _body(classification, sources, written_by, run_id, written_at, combined=combined,
                 first_seen=first_seen)
    body["content"] = fingerprint(data_path) if written is None else fingerprint_bytes(written)
    body["signature"] = _signer().sign(body)
    fd, tmp = tempfile.mkstemp(prefix=".lacuna-", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(body, fh, indent=2, sort_keys=False)
            fh.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    legacy = legacy_sidecar_path(data_path)
    # the old name's, now superseded (never a hidden file's sibling's: own_sidecar_paths)
    if legacy in own_sidecar_paths(data_path) and legacy != path and is_declaration(legacy):
        legacy.unlink(missing_ok=True)
    return path


Label = tuple[Classification, Sequence[str], str, str | None]  # sources, written by, run id


def write_label(
    data_path: str | os.PathLike[str],
    parts: Sequence[Label],
    config: ClassificationConfig,
    *,
    append: bool = False,
    first_seen: datetime | None = None,
) -> Path:
    """Write the sidecar of a file written in one or more parts (each part's classification,
    sources, writer and run id). Parts, and with ``append`` the declaration already there (a
    file written to in append mode), combine by the join rule: the most restrictive wins.
    ``first_seen``: the write's clock (:func:`lacuna.lineage.clock.of_write`, taken before
    the file was written)."""
    from lacuna.lineage.rules import combine

    classifications = [c for c, _, _, _ in parts]
    sources = [s for _, srcs, _, _ in parts for s in srcs]
    if append:
        try:
            old = read_sidecar(data_path)
        except SidecarError:
            old = None
        if old is not None:
            classifications.insert(0, old.classification)
            sources[:0] = old.sources
    merged = classifications[0] if len(classifications) == 1 else combine(classifications, config)
    # more than one part: the last part's run wrote only some of what the file holds
    return write_sidecar(data_path, merged, sources=tuple(dict.fromkeys(sources)),
                         written_by=parts[-1][2], run_id=parts[-1][3],
                         combined=len(classifications) > 1, first_seen=first_seen)


# -- declarations embedded in the data file (Parquet key-value metadata) -----------------------

# pandas keeps ``DataFrame.attrs`` in this Parquet key-value entry; Lacuna's declaration is the
# ``lacuna`` entry inside it, so a file written by any of pandas, polars or pyarrow carries the
# same declaration, read back by all three.
PARQUET_KEY = b"PANDAS_ATTRS"


def parquet_declaration(path: str | None) -> dict[str, Any] | None:
    """The declaration embedded in a local Parquet file's metadata, or None."""
    if path is None or not os.path.isfile(path):
        return None
    import pyarrow.parquet as pq

    from lacuna import _bypass

    try:  # Lacuna's own look, never a governed read (a sealed file: ciphertext, no schema)
        with _bypass.bypass():
            meta = pq.read_schema(path).metadata or {}
    except Exception:
        return None
    return metadata_declaration(meta)


def metadata_declaration(meta: Any) -> dict[str, Any] | None:
    """The declaration inside Arrow/Parquet key-value metadata (bytes keys), or None."""
    raw = (meta or {}).get(PARQUET_KEY)
    if raw is None:
        return None
    try:
        found = json.loads(raw).get(ATTRS_KEY)
    except (ValueError, AttributeError):
        return None
    return found if isinstance(found, dict) else None


def _shape(columns: Sequence[Any], rows: int) -> dict[str, Any]:
    return {"columns": [str(c) for c in columns], "rows": int(rows)}


def embedded_declaration(
    classification: Classification,
    *,
    columns: Sequence[Any],
    rows: int,
    values: Mapping[str, str] | None = None,
    table: bool | str = False,
    sources: Sequence[str] = (),
    written_by: str | None = None,
    run_id: str | None = None,
    first_seen: datetime | None = None,
    location: str | None = None,
    listing: str | None = None,
) -> dict[str, Any]:
    """A signed, JSON-able declaration to store inside a data file (Parquet metadata).

    The file's bytes are not known before it is written, so the signature binds the declaration
    to the data itself: its shape (column names, row count) and ``values``, the digest of each
    column's values (:func:`lacuna.lineage.content.digests` of the frame written). Without
    ``values`` (a lazy write whose rows Lacuna never sees) the declaration is never trusted in a
    file. ``table``: a Spark table's label (:mod:`lacuna.spark.labels`), bound to the table's
    column names and, given as a string, its qualified name (a label copied onto another table
    is not trusted there), and trusted only as a table's label, never inside a file. ``location``:
    the local folder a table's files are in, bound by its content fingerprint (a table moved to
    other files, or files copied into its folder, is not what was labelled). ``listing``: for
    a table whose files are not a local folder (remote), the digest of the files Spark reads
    for it (:func:`lacuna.spark.sources.table_listing`), bound the same way.
    """
    body = _body(classification, sources, written_by, run_id, first_seen=first_seen)
    body["shape"] = _shape(columns, rows)
    if values is not None:
        body["values"] = {str(k): str(v) for k, v in values.items()}
    if table:
        body["binding"] = "table"
    if isinstance(table, str):
        body["table"] = table.lower()
    if table and location is not None:
        body["location"] = os.path.realpath(location)
        body["content"] = _content_digest(location)
    elif table and listing is not None:
        body["listing"] = listing
    body["signature"] = _signer().sign(body)
    return body


def read_embedded(
    raw: Any, *, data_path: str | None, frame: Any, table: bool | str = False,
    location: str | None = None, listing: str | None = None,
) -> Sidecar:
    """Check a declaration found inside a data file (see :func:`embedded_declaration`).

    ``frame`` is the data read (a pandas DataFrame). Trusted only when signed and bound to it:
    the signed row count, a subset of the signed columns (reading some columns of the file is
    fine), and each column's and named index level's values digest as signed. A signed
    declaration without digests (an older Lacuna's, or a table's label found in a file) is
    ``unbound``, one whose digests differ ``other-values``: untrusted, they only add
    restrictions. With ``table`` (a Spark table's label, read with ``frame`` holding the column
    names only), the table binding: column names and, ``table`` given as the table's qualified
    name, that name (a label without one, or another table's, is untrusted); with ``location``
    (the local folder the table's files are in now), that folder and its content fingerprint as
    signed: a label signed for other files (the table moved by ``ALTER TABLE … SET LOCATION``,
    files copied into its folder) is stale, and one signed before labels bound the content is
    unbound, until the table is written again. With ``listing`` instead (a table whose files
    are remote: the digest of the files Spark reads for it now, ``""`` when they cannot be
    listed), that digest as signed, the same way.

    Raises:
        SidecarError: the declaration is not JSON-able, too large, too deep or malformed.
    """
    where = f"{data_path or '<data>'} (embedded classification metadata)"
    try:
        text = json.dumps(raw) if not isinstance(raw, (str, bytes)) else raw
    except (TypeError, ValueError, RecursionError):
        msg = f"{where}: the embedded classification is not JSON; refused."
        raise SidecarError(msg) from None
    body = parse(text, where)
    claimed = body.get("shape")
    signed_values = body.get("values")

    def bound() -> Trust:
        if (body.get("binding") == "table") != bool(table):
            return "unbound"
        if isinstance(table, str) and body.get("table") != table.lower():
            return "unbound" if body.get("table") is None else "other-values"
        if not table and not isinstance(signed_values, dict):
            return "unbound"
        if not isinstance(claimed, dict):
            return "stale"
        names = claimed.get("columns")
        if not (claimed.get("rows") == len(frame) and isinstance(names, list)
                and {str(c) for c in frame.columns} <= {str(n) for n in names}):
            return "stale"
        if table:
            return _table_content(body, location, listing)
        from lacuna.lineage.content import digests

        signed = signed_values if isinstance(signed_values, dict) else {}
        same = all(signed.get(label) == digest for label, digest in digests(frame).items())
        return "verified" if same else "other-values"

    path = Path(data_path) if data_path else Path("<data>")
    return _declaration(body, path=path, where=where, trust=_trust(body, bound))


def _content_digest(location: str) -> str:
    """One digest of a folder's :func:`fingerprint` (a table's label keeps this, not one entry
    per file: the metastore keeps it in the table's properties)."""
    text = json.dumps(fingerprint(location), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def _table_content(body: Mapping[str, Any], location: str | None,
                   listing: str | None = None) -> Trust:
    """Whether a table's label was signed for the files at ``location`` as they are now (None:
    not a local folder), or for the remote files whose digest is ``listing`` (None: not a
    table over files, nothing to bind; ``""``: they cannot be listed, never what was
    signed)."""
    if location is None:
        if listing is None:
            return "verified"
        signed_listing = body.get("listing")
        if not isinstance(signed_listing, str):
            return "unbound"
        return "verified" if listing and signed_listing == listing else "stale"
    signed = body.get("location")
    if not isinstance(signed, str):
        return "unbound"
    try:
        same = (signed == os.path.realpath(location)
                and _content_digest(location) == body.get("content"))
    except OSError:
        same = False
    return "verified" if same else "stale"


def describe_distrust(declaration: Sidecar) -> str:
    """The reasoning line for an untrusted declaration."""
    return (f"{declaration.where} is not trusted: {declaration.problem}; it may add "
            "restrictions but never lowers what the values show")


def restrict(
    declared: Classification, inferred: Classification, config: Any, *, where: str
) -> tuple[Classification, tuple[str, ...]]:
    """Apply an untrusted declaration: it may only add restrictions.

    Each of the data's columns keeps the stricter of its inferred and declared classes
    (:func:`lacuna.lineage.rules.held`: a personal class is never traded for another; a
    declared column the data does not have is ignored); the declared tier and floor become a
    floor. The result is never below ``inferred`` in tier, floor, tags or any column: an
    inherited tier above what the columns roll up to, and tags beyond the columns' and the
    table's, are kept. Returns the result and the disagreements (columns declared lower than
    their values show), which the caller reports.
    """
    from dataclasses import replace

    from lacuna.classify.rollup import column_tier, rollup
    from lacuna.lineage.rules import held
    from lacuna.model import merge_pieces, unique

    columns = dict(inferred.columns)
    lowered: list[str] = []
    for name, guess in inferred.columns.items():
        claim = declared.columns.get(name)
        if claim is None:
            continue
        kept = held(guess, claim, config)
        if kept is claim:
            columns[name] = replace(claim, reasoning=f"declared by {where} (untrusted, stricter)")
        elif kept is not guess:  # a personal class kept, at the claim's higher sensitivity
            columns[name] = kept
        if claim.pieces:  # what a column is a piece of may only add restrictions: kept
            columns[name] = replace(columns[name],
                                    pieces=merge_pieces(columns[name].pieces, claim.pieces))
        elif kept is not claim and (column_tier(claim, config) < column_tier(guess, config)
                                    or claim.classification != guess.classification):
            lowered.append(
                f"column {name!r} is declared {claim.classification.value} by {where}, but its "
                f"values show {guess.classification.value}"
                + (f"/{guess.pii_type}" if guess.pii_type else "")
                + "; kept"
            )
    floor = max(declared.tier, declared.floor, inferred.floor)
    result = rollup(
        columns, config, floor=floor,
        extra_tags=unique([*inferred.table_tags, *declared.table_tags]), layer=inferred.layer,
    )
    reasoning = (*lowered, *result.reasoning, *inferred.reasoning)
    return replace(result, tier=max(result.tier, inferred.tier),
                   tags=unique([*result.tags, *inferred.tags, *declared.tags]),
                   reasoning=unique(reasoning)), tuple(lowered)
