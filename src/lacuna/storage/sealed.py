"""The sealed file format of governed storage: streaming AES-256-GCM under a wrapped data key.

Layout::

    MAGIC b"LACUNAS1" | u32 N | header (N bytes of JSON) | slot 0 | slot 1 | segment 0 | ...

- **header** (immutable): ``alg``, a random ``file_id``, the nonce prefix, the segment size
  and ``meta`` (who wrote it, when, the format, the classification's tier and tags, and when its
  data was first seen: ``first_seen``, the retention clock). Its SHA-256 is the
  associated data of every segment, so editing any header byte makes every segment fail.
- **slots** (two of :data:`SLOT_BYTES`, space-padded JSON): the data key wrapped with
  AES-256-GCM by a key store key, with that key's id and version; the wrap's associated data
  binds it to the file id and the key version. Re-wrapping (key rotation) writes the new wrap
  into the free slot, syncs, then blanks the old one: the payload is never rewritten and a
  crash in between leaves a readable file (either slot opens it).
- **segments**: the plaintext in :data:`SEGMENT_BYTES` pieces, each sealed with nonce
  ``prefix(7) | index(4, big-endian) | last(1)`` (the STREAM construction): reordering,
  dropping, truncating at a segment boundary or appending is detected, because the last
  segment must authenticate with ``last = 1`` and every other one with ``last = 0``.

:class:`SealedWriter` encrypts while the caller writes (one segment in memory);
:class:`SealedReader` is a seekable, read-only raw stream that decrypts the segments a read
touches (one cached), so a 10 GB file is never held in memory and Parquet's footer-first reads
work. :func:`rewrap` moves a file to a key's current version.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import secrets
import stat
import struct
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from lacuna.errors import ConfigError, LacunaError, StorageError
from lacuna.keystore import KeyRef

if TYPE_CHECKING:
    from lacuna.keystore import Key, KeyStore

MAGIC = b"LACUNAS1"
ALGORITHM = "AES-256-GCM-STREAM"
SEGMENT_BYTES = 256 * 1024
TAG_BYTES = 16
SLOT_BYTES = 384
MAX_HEADER_BYTES = 16 * 1024
_U32 = struct.Struct(">I")
_BLANK = b" " * SLOT_BYTES


@dataclass(frozen=True, slots=True)
class SealedHeader:
    """What a sealed file says about itself (authenticated by every segment)."""

    file_id: str
    key: KeyRef  # the key store key that wraps the data key now (from the live slot)
    segment: int
    meta: dict[str, Any] = field(default_factory=dict)


def is_sealed(path: str | os.PathLike[str]) -> bool:
    """Whether the file starts like a sealed governed file. Only a regular file is: the open
    does not wait (``O_NONBLOCK``), so a named pipe put in governed storage by whoever owns the
    files is not read, where it blocked every walk of the roots (a write making the key,
    ``storage rewrap``, ``keys retire``) until something wrote into it."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError:
        return False
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return False
        return os.pread(fd, len(MAGIC), 0) == MAGIC
    except OSError:
        return False
    finally:
        os.close(fd)


# -- writing ----------------------------------------------------------------------------------


class SealedWriter(io.RawIOBase):
    """A write-only stream that seals what is written into ``path`` (temp file, renamed into
    place on :meth:`close`; nothing is left behind when :meth:`discard` is called or the
    writer is garbage-collected unclosed)."""

    def __init__(self, path: str | os.PathLike[str], keystore: KeyStore, *, key_id: str,
                 meta: dict[str, Any] | None = None, segment: int = SEGMENT_BYTES,
                 before_publish: Callable[[], None] | None = None) -> None:
        super().__init__()
        self.target = Path(path)
        # called once the file is sealed, before it replaces what is at ``path`` (raising
        # discards it): what the write was checked against at open may have changed since
        self._before_publish = before_publish
        kek = keystore.current(key_id)
        data_key = AESGCM.generate_key(bit_length=256)
        self._aead = AESGCM(data_key)
        self._prefix = secrets.token_bytes(7)
        self._segment = int(segment)
        self.file_id = secrets.token_hex(16)
        header = {"alg": ALGORITHM, "file_id": self.file_id, "nonce_prefix": self._prefix.hex(),
                  "segment": self._segment, "meta": dict(meta or {})}
        text = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
        if len(text) > MAX_HEADER_BYTES:
            msg = (f"the header of {self.target} would be {len(text)} bytes "
                   f"(max {MAX_HEADER_BYTES}).")
            raise StorageError(msg)
        fixed = MAGIC + _U32.pack(len(text)) + text
        self._aad = hashlib.sha256(fixed).digest()
        slot = _slot(kek, data_key, self.file_id)
        # kept to wrap the data key again at close when its key version was retired meanwhile
        self._keystore, self._kek, self._data_key = keystore, kek.ref, data_key
        self._slots_at = len(fixed)
        fd, tmp = tempfile.mkstemp(prefix=f".{self.target.name}.", suffix=".sealing",
                                   dir=self.target.parent)
        self._tmp = Path(tmp)
        self._fh = os.fdopen(fd, "wb", buffering=0)  # whole segments: no buffer layer
        _write_all(self._fh, fixed + slot + _BLANK)
        # The hot path copies nothing it need not: a partial segment is gathered in
        # ``_pending`` (fixed size, no reallocation); a whole segment is sealed straight from
        # the caller's buffer into ``_out`` and held there (sealed as "not last") until more
        # data shows it was not the last one. Only if the file ends exactly on a segment
        # boundary is the held segment opened again and sealed as the last (once per file).
        self._pending = bytearray(self._segment)
        self._fill = 0
        self._out = bytearray(self._segment + TAG_BYTES)
        self._held = False  # _out holds sealed segment _index - 1, not yet written
        self._index = 0
        self._done = False

    @property
    def segment(self) -> int:
        return self._segment

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        if self._done:
            msg = "write to a closed sealed file"
            raise ValueError(msg)
        view = memoryview(data).cast("B")
        size, pos, total = self._segment, 0, len(view)
        if self._fill:  # complete the pending segment first
            take = min(size - self._fill, total)
            self._pending[self._fill:self._fill + take] = view[:take]
            self._fill += take
            pos = take
            if self._fill < size:
                return total
            self._seal_whole(self._pending)
            self._fill = 0
        while total - pos >= size:  # whole segments straight from the caller's buffer
            self._seal_whole(view[pos:pos + size])
            pos += size
        tail = total - pos
        if tail:
            self._pending[:tail] = view[pos:]
            self._fill = tail
        return total

    def _seal_whole(self, chunk: Any) -> None:
        """Seal a whole segment as "not last" into ``_out`` (writing the one held before)."""
        self._release()
        self._aead.encrypt_into(_nonce(self._prefix, self._index, False), chunk, self._aad,
                                self._out)
        self._index += 1
        self._held = True

    def _release(self) -> None:
        if self._held:
            _write_all(self._fh, self._out)
            self._held = False

    def _seal_last(self) -> None:
        if self._fill or not self._held:  # a partial (or empty) last segment
            self._release()
            chunk = memoryview(self._pending)[:self._fill]
        else:  # ended on a boundary: the held segment is the last one, seal it again as such
            self._index -= 1
            chunk = memoryview(self._pending)
            self._aead.decrypt_into(_nonce(self._prefix, self._index, False), self._out,
                                    self._aad, chunk)
            self._held = False
        out = memoryview(self._out)[:len(chunk) + TAG_BYTES]
        self._aead.encrypt_into(_nonce(self._prefix, self._index, True), chunk, self._aad, out)
        _write_all(self._fh, out)
        self._index += 1

    def close(self) -> None:
        if self._done:
            super().close()
            return
        try:
            self._seal_last()
            self._wrap_with_a_live_key()
            os.fsync(self._fh.fileno())
            self._fh.close()
            if self._before_publish is not None:
                self._before_publish()
            os.replace(self._tmp, self.target)
        except BaseException:
            self.discard()
            raise
        self._done = True
        super().close()

    def _wrap_with_a_live_key(self) -> None:
        """Before the file appears: when the key version that wrapped its data key was retired
        (or removed) while it was written (``lacuna keys rotate``, ``storage rewrap`` and
        ``keys retire`` run meanwhile: the retirement's check saw no file of that version, as
        this one was not in place yet), the data key is wrapped again with the current
        version; else the file would appear sealed under a key that no longer exists, its
        data lost."""
        ref = self._kek
        try:
            if ref.version in self._keystore.backend.versions(ref.id):
                return
        except LacunaError:
            pass  # the key store cannot say: wrap with what it says is current, or fail
        kek = self._keystore.current(ref.id)
        os.pwrite(self._fh.fileno(), _slot(kek, self._data_key, self.file_id) + _BLANK,
                  self._slots_at)
        self._kek = kek.ref

    def discard(self) -> None:
        """Abandon the write: the temporary file is removed, the target is untouched."""
        if not self._done:
            self._done = True
            self._fh.close()
            self._tmp.unlink(missing_ok=True)
        super().close()

    def __del__(self) -> None:
        if not getattr(self, "_done", True):
            self.discard()


def write_sealed(path: str | os.PathLike[str], plaintext: bytes, keystore: KeyStore, *,
                 key_id: str, meta: dict[str, Any] | None = None) -> Path:
    """Seal ``plaintext`` into ``path`` atomically."""
    writer = SealedWriter(path, keystore, key_id=key_id, meta=meta)
    writer.write(plaintext)
    writer.close()
    return writer.target


# -- reading ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Layout:
    header: SealedHeader
    aad: bytes
    prefix: bytes
    data_key: bytes
    body: int  # offset of segment 0
    segments: int
    size: int  # plaintext bytes


class SealedReader(io.RawIOBase):
    """A seekable read-only stream over a sealed file's plaintext. Opening it authenticates the
    header, the key slot and the last segment (so a truncated file fails at once); every other
    segment is authenticated when a read touches it. ``fh``: the file already open (binary;
    the reader closes it), so what was checked before is what is decrypted."""

    def __init__(self, path: str | os.PathLike[str], keystore: KeyStore, *,
                 fh: Any = None) -> None:
        super().__init__()
        self.name = os.fspath(path)
        self._fh = open(path, "rb") if fh is None else fh  # noqa: SIM115 - closed by close()
        try:
            self._fh.seek(0)
            self._layout = _open(self._fh, self.name, keystore)
        except BaseException:
            self._fh.close()
            raise
        self._aead = AESGCM(self._layout.data_key)
        self._fd = self._fh.fileno()
        self._pos = 0
        self._sealed: bytearray | None = None  # one sealed segment, read by pread (reused)
        self._plain: bytearray | None = None  # one segment's plaintext (reused)
        self._cached: tuple[int, Any] = (-1, b"")
        self.decided_on: Any = None  # the classification its read was decided on (access.py)
        if self._layout.segments:
            self._segment_at(self._layout.segments - 1)

    @property
    def header(self) -> SealedHeader:
        return self._layout.header

    @property
    def size(self) -> int:
        return self._layout.size

    @property
    def mode(self) -> str:
        """``"rb"``, as a file opened for binary reading says (readers check it: polars'
        ``read_excel`` reads ``.mode`` through the ``io.BufferedReader`` it is given)."""
        return "rb"

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        bases = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._layout.size}
        if whence not in bases:  # as io's streams say it (a KeyError escaped before)
            msg = f"invalid whence ({whence}, should be 0, 1 or 2)"
            raise ValueError(msg)
        base = bases[whence]
        if base + offset < 0:
            msg = "negative seek position"
            raise ValueError(msg)
        self._pos = base + offset
        return self._pos

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        seg = self._layout.header.segment
        done = 0
        while done < len(view) and self._pos < self._layout.size:
            index, offset = divmod(self._pos, seg)
            n = min(len(view) - done, self._length(index) - offset)
            if offset == 0 and n == self._length(index) and self._cached[0] != index:
                self._decrypt(index, view[done:done + n])  # a whole segment: no copy
            else:
                plain = self._segment_at(index)
                view[done:done + n] = plain[offset:offset + n]
            done += n
            self._pos += n
        return done

    def readall(self) -> bytes:
        # bytes must be returned: each whole segment is decrypted into a bytes object of its
        # own and they are joined, one copy in all (a bytearray turned into bytes would be
        # two, with twice the fresh pages to fault in)
        parts: list[bytes] = []
        seg = self._layout.header.segment
        while self._pos < self._layout.size:
            index, offset = divmod(self._pos, seg)
            if offset == 0 and self._cached[0] != index:
                part = self._decrypt(index, None)
            else:
                part = bytes(self._segment_at(index)[offset:])
            parts.append(part)
            self._pos += len(part)
        return b"".join(parts)

    def _length(self, index: int) -> int:
        lay = self._layout
        seg = lay.header.segment
        return seg if index < lay.segments - 1 else lay.size - index * seg

    def _plain_view(self, index: int) -> memoryview:
        if self._plain is None:
            self._plain = bytearray(self._layout.header.segment)
        return memoryview(self._plain)[:self._length(index)]

    def _segment_at(self, index: int) -> Any:
        """Segment ``index``'s plaintext (a view of the one cached segment)."""
        if self._cached[0] == index:
            return self._cached[1]
        self._cached = (-1, b"")
        view = self._plain_view(index)
        self._decrypt(index, view)
        self._cached = (index, view)
        return view

    def _decrypt(self, index: int, into: memoryview | None) -> bytes:
        """Authenticate and decrypt segment ``index`` into ``into`` (or a new bytes)."""
        lay = self._layout
        seg = lay.header.segment
        last = index == lay.segments - 1
        want = self._length(index) + TAG_BYTES
        if self._sealed is None:
            self._sealed = bytearray(seg + TAG_BYTES)
        sealed = memoryview(self._sealed)[:want]
        got = os.preadv(self._fd, [sealed], lay.body + index * (seg + TAG_BYTES))
        try:
            if got != want or (last and self._beyond(index, want)):
                raise InvalidTag
            nonce = _nonce(lay.prefix, index, last)
            if into is None:
                return self._aead.decrypt(nonce, sealed, lay.aad)
            self._aead.decrypt_into(nonce, sealed, lay.aad, into)
            return b""
        except InvalidTag:
            how = "truncated, extended or " if last else ""
            msg = (f"cannot read {self.name}: segment {index} does not authenticate: the "
                   f"file's header or data was {how}altered after it was written, or its "
                   "segments were moved. Nothing from it was returned; restore the file from "
                   "a backup.")
            raise StorageError(msg) from None

    def _beyond(self, index: int, want: int) -> bool:
        """Whether the file has bytes after its last segment (appended since it was opened)."""
        lay = self._layout
        end = lay.body + index * (lay.header.segment + TAG_BYTES) + want
        return len(os.pread(self._fd, 1, end)) > 0

    def close(self) -> None:
        self._fh.close()
        self._cached = (-1, b"")
        super().close()


def read_header(path: str | os.PathLike[str]) -> SealedHeader:
    """The header of a sealed file and the key in its live slot (not authenticated)."""
    with open(path, "rb") as fh:
        parsed = _parse(fh, os.fspath(path))
    return _with_key(parsed.header, _live(parsed, os.fspath(path))[0][0])


def check(path: str | os.PathLike[str]) -> SealedHeader:
    """:func:`read_header`, and whether the sealed data has the length whole segments give:
    a file cut inside its last segment's tag (or right after its key slots) is found without
    a key and without reading it (``lacuna storage status``). A cut elsewhere needs the key:
    :func:`verify`.

    Raises:
        StorageError: not a sealed file, a damaged header, no key slot, or truncated.
    """
    where = os.fspath(path)
    with open(where, "rb") as fh:
        parsed = _parse(fh, where)
        length = os.fstat(fh.fileno()).st_size - parsed.body
    live = _live(parsed, where)
    _extent(where, length, parsed.header.segment)
    return _with_key(parsed.header, live[0][0])


def verify(path: str | os.PathLike[str], keystore: KeyStore) -> SealedHeader:
    """:func:`check`, then the key slot unwrapped and the last segment authenticated with
    ``keystore`` (the header too, which every segment authenticates): a file truncated
    anywhere, even at a segment boundary, or extended, fails here. Reads the header, the key
    slots and one segment; the plaintext decrypted is thrown away, never returned.

    Raises:
        StorageError: :func:`check`'s, the key is not in ``keystore``, or the last segment does
            not authenticate (truncated, extended or altered).
    """
    check(path)
    reader = SealedReader(path, keystore)  # opening authenticates the last segment
    try:
        return reader.header
    finally:
        reader.close()


def _live(parsed: _Parsed, where: str) -> list[tuple[KeyRef, bytes, bytes]]:
    live = [s for s in parsed.slots if s is not None]
    if not live:
        msg = f"{where} has no key slot: its data key is lost."
        raise StorageError(msg)
    return live


def wrapping_keys(path: str | os.PathLike[str]) -> tuple[KeyRef, ...]:
    """The keys in a sealed file's live slots (one, or two while a re-wrap is under way):
    any of them opens it."""
    with open(path, "rb") as fh:
        slots = _parse(fh, os.fspath(path)).slots
    return tuple(s[0] for s in slots if s is not None)


def unwrapping_keys(path: str | os.PathLike[str], keystore: KeyStore) -> tuple[KeyRef, ...]:
    """The keys of a sealed file's live slots that ``keystore`` holds and that do unwrap its
    data key (a slot is bound to the file id and its key version): the ways in that work. A
    slot that only names a key (written by hand into the free slot, torn, of a retired
    version, copied from another file) is not one: ``lacuna keys retire`` counts a file only
    another way in opens as still needing nothing of the version it retires."""
    where = os.fspath(path)
    with open(where, "rb") as fh:
        parsed = _parse(fh, where)
    found = []
    for slot in parsed.slots:
        if slot is None:
            continue
        ref, wrapped, nonce = slot
        try:
            kek = keystore.get(ref.id, ref.version)
            AESGCM(_aes(kek.material)).decrypt(nonce, wrapped,
                                               _wrap_aad(parsed.header.file_id, ref))
        except (LacunaError, InvalidTag, ValueError):
            continue
        found.append(ref)
    return tuple(found)


def sealed_label(source: str | os.PathLike[str] | Any) -> tuple[str | None,
                                                                tuple[str, ...] | None]:
    """The tier and classification tags sealed into a file's header when it was written
    (``"PROPRIETARY"``, ``("PII", "GDPR")``), from a path or an open binary file (read from its
    start, its position put back); each None when the header records none (a file sealed
    before tags were, a mount write) or is not readable. Not authenticated here: every segment
    authenticates the header when decrypted, so a read decided on a label taken out of it
    decrypts nothing."""
    try:
        if isinstance(source, (str, os.PathLike)):
            with open(source, "rb") as fh:
                header = _parse(fh, os.fspath(source)).header
        else:
            at = source.tell()
            source.seek(0)
            try:
                header = _parse(source, getattr(source, "name", "a sealed file")).header
            finally:
                source.seek(at)
    except (OSError, StorageError):
        return None, None
    tier, tags = header.meta.get("tier"), header.meta.get("tags")
    return (str(tier)[:32] if isinstance(tier, str) and tier else None,
            tuple(dict.fromkeys(str(t)[:64] for t in tags[:64] if isinstance(t, str)))
            if isinstance(tags, list) else None)


def sealed_tags(source: str | os.PathLike[str] | Any) -> tuple[str, ...] | None:
    """The classification tags of :func:`sealed_label`."""
    return sealed_label(source)[1]


def plaintext_size(path: str | os.PathLike[str]) -> int:
    """The plaintext size of a sealed file, from its header and length (no key needed, not
    authenticated: what a file system reports as the file's size).

    Raises:
        StorageError: not a sealed file, a damaged header, or a length no sealed file has
            (truncated inside its last tag): the same rule as a read's (:func:`_extent`).
    """
    where = os.fspath(path)
    with open(where, "rb") as fh:
        parsed = _parse(fh, where)
        length = os.fstat(fh.fileno()).st_size - parsed.body
    return _extent(where, length, parsed.header.segment)[1]


def content_digest(path: str | os.PathLike[str]) -> str:
    """SHA-256 of a sealed file without its key slots (header and sealed payload): it changes
    when the content is rewritten or altered, not when the file is re-wrapped (key rotation).
    No key needed; the hash of what is on disk, never of plaintext."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        parsed = _parse(fh, os.fspath(path))
        digest.update(parsed.fixed)
        fh.seek(parsed.body)
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def identity_digest(fh: Any) -> str | None:
    """SHA-256 of an open file's sealed header and last segment's tag, or None when it is not
    a sealed file. It names the sealed content without reading it: the header carries a random
    file id and every segment authenticates it, so no other content opens under that header
    (an edited payload fails on read). Key slots are left out: a re-wrap does not change it."""
    fh.seek(0)
    try:
        parsed = _parse(fh, "")
    except StorageError:
        return None
    end = os.fstat(fh.fileno()).st_size
    tail = os.pread(fh.fileno(), TAG_BYTES, max(end - TAG_BYTES, parsed.body))
    return hashlib.sha256(parsed.fixed + tail).hexdigest()


def _open(fh: Any, where: str, keystore: KeyStore) -> _Layout:
    header, fixed, body, slots, prefix = _parse(fh, where)
    data_key, ref, problems = None, None, []
    for slot in sorted((s for s in slots if s is not None), key=lambda s: -s[0].version):
        ref = slot[0]
        try:
            kek = keystore.get(ref.id, ref.version)
        except LacunaError as exc:
            problems.append(f"{ref}: not in this key store ({exc})")
            continue
        try:
            data_key = AESGCM(_aes(kek.material)).decrypt(
                slot[2], slot[1], _wrap_aad(header.file_id, ref))
            break
        except (InvalidTag, ValueError):
            problems.append(f"key {ref.id} v{ref.version}: does not unwrap this file's data key "
                            "(another key store, or the key slot belongs to another file)")
    if data_key is None or ref is None:
        msg = (f"cannot decrypt {where}: " + ("; ".join(problems) or "no key slot") +
               ". Open it where the key store that wrote it is configured "
               "(anonymize.keystore / key_dir).")
        raise StorageError(msg)
    fh.seek(0, io.SEEK_END)
    segments, size = _extent(where, fh.tell() - body, header.segment)
    return _Layout(header=_with_key(header, ref), aad=hashlib.sha256(fixed).digest(),
                   prefix=prefix, data_key=data_key, body=body, segments=segments, size=size)


def _extent(where: str, length: int, segment: int) -> tuple[int, int]:
    """The number of segments and the plaintext size of ``length`` bytes of sealed data: every
    segment but the last is ``segment + TAG_BYTES`` bytes, the last one 1 to that many, and at
    least its tag (an empty file is one empty segment).

    Raises:
        StorageError: no length sealed data has (cut after the key slots, inside a tag).
    """
    step = segment + TAG_BYTES
    segments = -(-length // step) if length > 0 else 0
    tail = length - (segments - 1) * step if segments else 0
    if segments == 0 or tail < TAG_BYTES:
        msg = (f"cannot read {where}: it was truncated after it was written ({length} bytes of "
               "sealed data, not a whole segment). Restore it from a backup.")
        raise StorageError(msg)
    return segments, length - segments * TAG_BYTES


class _Parsed(NamedTuple):
    """A sealed file's header as :func:`_parse` read it: the one parser of the format."""

    header: SealedHeader  # its key is not set: the slots say which keys wrap the data key
    fixed: bytes  # magic, length and header bytes: what every segment authenticates
    body: int  # offset of segment 0
    slots: list[tuple[KeyRef, bytes, bytes] | None]
    prefix: bytes  # the nonce prefix (7 bytes)


def _parse(fh: Any, where: str) -> _Parsed:
    head = fh.read(len(MAGIC) + _U32.size)
    if not head.startswith(MAGIC) or len(head) < len(MAGIC) + _U32.size:
        msg = (f"{where} is not a sealed governed file (it does not start with "
               f"{MAGIC.decode()}): it was replaced or written outside Lacuna. Nothing was "
               "read; restore it, or write it again through Lacuna.")
        raise StorageError(msg)
    (size,) = _U32.unpack_from(head, len(MAGIC))
    text = fh.read(size) if size <= MAX_HEADER_BYTES else b""
    if len(text) != size or size == 0:
        msg = f"{where} has a damaged sealed-file header (length {size}). Restore it."
        raise StorageError(msg)
    try:
        raw = json.loads(text)
        header = SealedHeader(file_id=str(raw["file_id"]), key=KeyRef("", 0),
                              segment=int(raw["segment"]), meta=dict(raw.get("meta") or {}))
        prefix = bytes.fromhex(str(raw["nonce_prefix"]))
        if (raw["alg"] != ALGORITHM or not 0 < header.segment <= 64 * 1024 * 1024
                or len(prefix) != 7):
            raise ValueError(raw["alg"])
    # RecursionError: a header of 16 KiB of "[" nests deeper than json decodes
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError) as exc:
        msg = f"{where} has a damaged sealed-file header ({type(exc).__name__}). Restore it."
        raise StorageError(msg) from None
    slots = [_read_slot(fh.read(SLOT_BYTES)) for _ in range(2)]
    return _Parsed(header, head + text, len(head) + size + 2 * SLOT_BYTES, slots, prefix)


def _read_slot(raw: bytes) -> tuple[KeyRef, bytes, bytes] | None:
    if len(raw) != SLOT_BYTES or not raw.strip():
        return None
    try:
        data = json.loads(raw)
        key = data["key"]
        return (KeyRef(str(key["id"]), int(key["version"]), str(key.get("backend", "file"))),
                bytes.fromhex(data["wrapped"]), bytes.fromhex(data["nonce"]))
    except (ValueError, KeyError, TypeError, AttributeError):
        return None  # a torn or edited slot: the other one may still open the file


def _with_key(header: SealedHeader, ref: KeyRef) -> SealedHeader:
    return SealedHeader(file_id=header.file_id, key=ref, segment=header.segment,
                        meta=header.meta)


# -- re-wrapping ------------------------------------------------------------------------------


def rewrap(path: str | os.PathLike[str], keystore: KeyStore, *, key_id: str) -> tuple[
        KeyRef, KeyRef]:
    """Re-wrap the file's data key with ``key_id``'s current version, in place (the payload is
    not touched). Returns (old key, new key); equal when it was already current."""
    where = os.fspath(path)
    with open(where, "r+b") as fh:
        layout = _open(fh, where, keystore)
        fh.seek(0)
        _, _, body, slots, _ = _parse(fh, where)
        kek = keystore.current(key_id)
        old = layout.header.key
        if old == kek.ref and sum(s is not None for s in slots) == 1:
            return old, old
        start = body - 2 * SLOT_BYTES
        live = next((i for i, s in enumerate(slots) if s is not None and s[0] == old), 0)
        free = 1 - live
        fh.seek(start + free * SLOT_BYTES)
        fh.write(_slot(kek, layout.data_key, layout.header.file_id))
        fh.flush()
        os.fsync(fh.fileno())
        fh.seek(start + live * SLOT_BYTES)
        fh.write(_BLANK)
        fh.flush()
        os.fsync(fh.fileno())
    return old, kek.ref


# -- helpers ----------------------------------------------------------------------------------


def _slot(kek: Key, data_key: bytes, file_id: str) -> bytes:
    nonce = secrets.token_bytes(12)
    wrapped = AESGCM(_aes(kek.material)).encrypt(nonce, data_key, _wrap_aad(file_id, kek.ref))
    ref = kek.ref
    text = json.dumps({"key": {"id": ref.id, "version": ref.version, "backend": ref.backend},
                       "wrapped": wrapped.hex(), "nonce": nonce.hex()},
                      sort_keys=True, separators=(",", ":")).encode()
    if len(text) > SLOT_BYTES:
        msg = f"key slot too large ({len(text)} bytes)"
        raise StorageError(msg)
    return text.ljust(SLOT_BYTES, b" ")


def _wrap_aad(file_id: str, ref: KeyRef) -> bytes:
    return f"lacuna-sealed:{file_id}:{ref.id}:{ref.version}".encode()


def _write_all(fh: Any, data: Any) -> None:
    view = memoryview(data)
    while view:
        view = view[fh.write(view):]


def _nonce(prefix: bytes, index: int, last: bool) -> bytes:
    return prefix + _U32.pack(index) + (b"\x01" if last else b"\x00")


def _aes(material: bytes) -> bytes:
    if len(material) != 32:
        msg = (f"the key store key is {len(material)} bytes; AES-256 needs 32. Use a key the "
               "key store generated (lacuna keys rotate).")
        raise ConfigError(msg)
    return material
