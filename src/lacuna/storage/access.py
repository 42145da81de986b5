"""Governed storage: who may open a sealed file, and the one place every layer opens it.

Every reader hook (pandas today; polars, pyarrow, DuckDB, Spark and the governed mount call the
same function) goes through :func:`open_governed`: the read is decided first (a ``read``
:class:`~lacuna.model.Operation` through the Governor, with the file's declared classification
from its signed sidecar, PROPRIETARY when that cannot be trusted), recorded on the audit trail
with its outcome, and only then decrypted. A denied read raises ``GovernanceViolation`` and
nothing is decrypted. Writes under a governed root go through :func:`open_sealed_writer`.

    with open_governed("/governed/workspace/q4.csv", purpose="quarterly review") as fh:
        df = pd.read_csv(fh)
"""

from __future__ import annotations

import codecs
import contextlib
import io
import os
import stat
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from typing import TYPE_CHECKING, Any, TypeVar

from lacuna.errors import LacunaError, StorageError
from lacuna.keystore import FileKeyBackend, keystore_for, refuse_another_key_store
from lacuna.model import Action, Classification, DestinationType, Source, Tier, User, utcnow
from lacuna.storage.sealed import SealedReader, SealedWriter, is_sealed, read_header

if TYPE_CHECKING:
    from datetime import datetime

    from lacuna.config import Config
    from lacuna.governor import Governor
    from lacuna.keystore import KeyStore

T = TypeVar("T")

# Formats pandas writes into a binary stream, by writer method (everything else, e.g. HDF5,
# needs a real file and cannot be sealed; to_* refuses it under a governed root).
SEALABLE = frozenset({
    "to_csv", "to_parquet", "to_json", "to_feather", "to_excel", "to_pickle", "to_orc",
    "to_stata", "to_xml", "to_html", "to_latex", "to_markdown", "to_string", "to_typst",
})
# Writers that write text (str), not bytes: they get a text layer over the sealing stream.
TEXT_WRITERS = frozenset({"to_html", "to_latex", "to_markdown", "to_string", "to_typst"})


def _gov(gov: Governor | None) -> Governor:
    if gov is not None:
        return gov
    from lacuna.governor import current

    return current()


def governed_path(path: str | os.PathLike[str], gov: Governor | None = None) -> str | None:
    """The resolved local path when ``path`` is under a governed root, else None."""
    if not isinstance(path, (str, os.PathLike)) or "://" in os.fspath(path):
        return None
    g = _gov(gov)
    dest = g.destination(path)
    if dest.type is not DestinationType.GOVERNED_STORAGE or not dest.path:
        return None
    return dest.path


def seals(path: Any, gov: Governor | None = None) -> bool:
    """Whether a write to ``path`` is sealed: a local path under a governed root, with
    ``storage.encrypt`` on."""
    g = _gov(gov)
    return g.config.storage.encrypt and governed_path(path, g) is not None


def open_sealed_writer(path: str | os.PathLike[str], *, method: str,
                       classification: Classification | None = None,
                       gov: Governor | None = None,
                       first_seen: datetime | None = None) -> SealedWriter:
    """A stream that seals what is written into ``path`` (renamed into place on close).
    ``first_seen``: when its data was first seen (:func:`lacuna.lineage.clock.of_write`,
    taken before the write; default, and never later than: now), sealed into its header
    beside ``written_at``."""
    g = _gov(gov)
    now = utcnow()
    seen = now if first_seen is None or first_seen > now else first_seen
    meta: dict[str, Any] = {"written_by": g.config.user.id, "method": method,
                            "name": os.path.basename(os.fspath(path)),
                            "written_at": now.isoformat(), "first_seen": seen.isoformat()}
    if classification is not None:
        from lacuna.lineage.sidecar import as_decided

        classification = as_decided(classification)  # never below the recorded decision
        meta["tier"] = classification.tier.value
        meta["tags"] = list(classification.tags)  # what a read without a sidecar keeps
    settings = g.config.storage
    keystore = keystore_for(g.config)
    refuse_a_new_key(f"cannot seal {os.fspath(path)}", keystore, settings.key_id, g)
    refuse_held(path, gov=g)
    # and again before the sealed file replaces the old one: a hold placed while it was
    # written (a long write) keeps the content it holds
    return SealedWriter(path, keystore, key_id=settings.key_id, meta=meta,
                        segment=settings.segment_bytes,
                        before_publish=lambda: refuse_held(path, gov=g))


def refuse_a_new_key(what: str, keystore: KeyStore, key_id: str, gov: Governor) -> None:
    """Before a step that creates ``key_id`` when the key store has none: creating it is right
    for the first sealed file, but when governed storage already holds files sealed with that
    key, the key was lost (a deleted key file, another key_dir or key store): a new key of the
    same name would not open them, and restoring the old one would lose what the new one
    sealed. Raises :class:`StorageError` (``what``: the refused step, e.g. ``cannot seal
    x.csv``) then; nothing when the key exists."""
    from lacuna.storage.rotation import local_roots, sealed_files

    versions = keystore.backend.versions(key_id)
    if versions:
        _refuse_another_key_store(what, keystore, key_id, versions, gov)
        return
    for found in sealed_files(local_roots(gov)):
        with contextlib.suppress(StorageError, OSError):
            if read_header(found).key.id == key_id:
                break
    else:
        return
    backend = keystore.backend
    where = (str(backend.path(key_id)) if isinstance(backend, FileKeyBackend)
             else f"the {backend.name} key store")
    msg = (f"{what}: the storage key {key_id!r} is missing from {where}, but governed "
           f"storage holds files sealed with it (e.g. {found}). A new key would not open "
           "them. Restore the key from a backup, or point the configuration at the key store "
           "that holds it (anonymize.keystore, anonymize.key_dir). Nothing was written.")
    raise StorageError(msg)


def _refuse_another_key_store(what: str, keystore: KeyStore, key_id: str,
                              versions: tuple[int, ...], gov: Governor) -> None:
    """Before sealing with a key store that has ``key_id``: when governed storage holds files
    sealed with ``key_id`` and not one of them is opened by this key store, it is not the key
    store that sealed governed storage (``$LACUNA_KEY_STORAGE`` too): raises
    :class:`StorageError` (:func:`lacuna.keystore.refuse_another_key_store`)."""
    from lacuna.storage.rotation import local_roots, sealed_files
    from lacuna.storage.sealed import unwrapping_keys, wrapping_keys

    def sealed() -> Iterator[tuple[str, bool]]:
        for found in sealed_files(local_roots(gov)):
            try:
                if any(k.id == key_id for k in wrapping_keys(found)):
                    yield str(found), any(k.id == key_id
                                          for k in unwrapping_keys(found, keystore))
            except (StorageError, OSError):
                continue

    def refusal(example: str) -> str:
        backend = keystore.backend
        where = (str(backend.path(key_id)) if isinstance(backend, FileKeyBackend)
                 else f"the {backend.name} key store")
        return (f"{what}: the storage key {key_id!r} in {where} opens none of the files "
                f"governed storage holds sealed with {key_id!r} (e.g. {example}): it is "
                "not the key store that sealed them, and what it sealed would open "
                "wherever that key is known, without Lacuna and off the audit trail. Point "
                "the configuration at the key store that sealed governed storage "
                "(anonymize.keystore, anonymize.key_dir), or restore its key file. Nothing "
                "was written.")

    refuse_another_key_store(keystore, key_id, versions, "governed storage", sealed(),
                             refusal)


def refuse_held(*paths: str | os.PathLike[str], gov: Governor) -> None:
    """A sealed write that would replace (or re-seal, for an append) a file under a legal hold,
    or one a Rego ``retention`` rule holds, is refused, as the governed mount refuses it: a
    hold keeps content, and the file's old content would be gone. A new file in a held folder
    is written (and held from then on). Retention says what is held
    (:attr:`lacuna.governor.Governor.keeping`: this state store and bundle, or the Lacuna
    server this governor records to).

    Raises:
        StorageError: a file exists and a hold covers it, or the holds cannot be read (fail
            closed: nothing is written).
    """
    there = [os.path.abspath(os.fspath(p)) for p in paths]
    there = [p for p in there if os.path.lexists(p)]
    if not there:
        return
    try:
        keeping = gov.keeping
        holds = keeping.holds()
        found = next(((p, h) for p in there for h in holds if h.covers(p)), None)
        ruled = keeping.rule_hold(there) if found is None else None
    except Exception as exc:  # the state store, the server or the bundle: fail closed
        msg = (f"cannot write {there[0]}: the holds that may cover it (legal holds, retention "
               f"rules) cannot be read ({type(exc).__name__}: {exc}). Nothing was written; "
               "check them with lacuna retention list-holds and lacuna retention plan, fix "
               "what they report, and write again.")
        raise StorageError(msg) from exc
    if ruled is not None:
        why = (f"the retention rule {ruled.package} failed on it ({ruled.error}), which keeps "
               "it" if ruled.error else f"a retention rule holds it ({ruled.package}: "
               f"{ruled.reason})")
        msg = (f"cannot write {ruled.path}: {why}, and writing it would replace the held "
               "content. Write to another path, or ask the policy's owners about the rule "
               "(lacuna retention plan shows it). Nothing was written.")
        raise StorageError(msg)
    if found is None:
        return
    where, hold = found
    msg = (f"cannot write {where}: it is under legal hold {hold.id} ({hold.reason}; placed on "
           f"{hold.dataset} by {hold.placed_by} at {hold.placed_at:%Y-%m-%d}), and writing it "
           "would replace the held content. Write to another path, or ask whoever placed the "
           f"hold to release it (lacuna retention release {hold.id}). Nothing was written.")
    raise StorageError(msg)


def write_governed(path: str | os.PathLike[str], write: Callable[[Any], T], *,
                   method: str, classification: Classification | None = None,
                   text: str | None = None, gov: Governor | None = None,
                   first_seen: datetime | None = None) -> T:
    """Run ``write`` into a sealing stream for ``path``: the file appears (atomically, by
    rename) only when ``write`` returns; if it raises, nothing is left behind. The plaintext
    is never on disk and at most one segment of it is in memory here. With ``text`` (an
    encoding), ``write`` gets a text stream. ``first_seen``: as :func:`open_sealed_writer`."""
    path = os.path.expanduser(os.fspath(path))  # as pandas does with "~/..."
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):  # as pandas says it
        msg = f"Cannot save file into a non-existent directory: '{parent}'"
        raise OSError(msg)
    raw = open_sealed_writer(path, method=method, classification=classification, gov=gov,
                             first_seen=first_seen)
    buffer: Any = io.BufferedWriter(raw, buffer_size=raw.segment)
    if text is not None:  # a writer of str: encode into the sealing stream
        buffer.write(byte_order_mark(text))
        buffer = io.TextIOWrapper(buffer, encoding=text, newline="")
    try:
        result = write(buffer)
        if not buffer.closed:
            buffer.flush()
    except BaseException:
        raw.discard()
        raise
    buffer.close()  # seals the last segment and renames the file into place
    raw.close()
    return result


def byte_order_mark(encoding: str | None) -> bytes:
    """The byte order mark a text file in ``encoding`` starts with when Python writes it to a
    file (UTF-16, UTF-32), else nothing. A ``TextIOWrapper`` writes it only at the start of a
    *seekable* stream, and a sealing stream is not seekable: the plaintext would lack it (and
    pandas could not read it back), so the writer puts it first itself."""
    if not encoding:
        return b""
    try:
        name = codecs.lookup(encoding).name
    except LookupError:
        return b""  # the writer's own error, when it uses the encoding
    return {"utf-16": codecs.BOM_UTF16, "utf-32": codecs.BOM_UTF32}.get(name, b"")


def open_governed(path: str | os.PathLike[str], *, purpose: str | None = None,
                  user: User | None = None, method: str = "lacuna.storage.open_governed",
                  code_location: str | None = None,
                  gov: Governor | None = None) -> io.BufferedReader:
    """Open a sealed governed file for reading, if the policy allows it (decided and audited
    before anything is decrypted).

    Args:
        path: the sealed file.
        purpose: why it is read (recorded; policies may require one).
        user: who reads it (default: the configured user); the governed mount passes the
            user of the process that opened the file.
        method: the layer that reads (``pandas.read_csv``, ``fuse.read``), for the audit trail.

    Returns:
        A seekable binary file object over the plaintext (decrypted segment by segment).

    Raises:
        GovernanceViolation: the policy denies the read, or (in every mode) the read could not
            be decided or recorded on the audit trail: nothing is decrypted.
        StorageError: the file is not sealed, was altered or truncated, or its key is not in
            the configured key store (the failed outcome is on the audit trail).
    """
    g = _gov(gov)
    where = os.path.realpath(os.fspath(path))
    # Opened once, before the decision: the sidecar must bind this very file, and this file is
    # what is decrypted (a file swapped in at the path after the decision is never read).
    try:
        fh: Any = open(where, "rb")  # noqa: SIM115 - the reader closes it
    except OSError as exc:
        fh, missing = None, exc
    try:
        classification = declared_classification(where, opened=fh)
        op = g.operation(Action.READ, classification,
                         sources=[Source(name=where, classification=classification)],
                         method=method, code_location=code_location, purpose=purpose)
        if user is not None:
            op = replace(op, user=user)
        keystore = keystore_for(g.config)
        # recorded: in every mode, nothing is decrypted unless the read is on the audit trail
        finish = g.begin(op, recorded=True)
    except BaseException:
        if fh is not None:
            fh.close()
        raise
    try:
        if fh is None:
            raise missing
        raw = _RecordedReader(where, keystore, finish, fh=fh)
    except BaseException as exc:
        if fh is not None:
            fh.close()
        finish(exc)
        raise
    raw.decided_on = classification
    return io.BufferedReader(raw, buffer_size=raw.header.segment)


class _RecordedReader(SealedReader):
    """A sealed file's read whose outcome goes on the audit trail when its stream is closed:
    failed when a segment did not authenticate (the reader only checks the last one on open,
    the others when a read touches them), else succeeded."""

    def __init__(self, path: str, keystore: KeyStore,
                 finish: Callable[[BaseException | None], None], *, fh: Any = None) -> None:
        self._finish: Callable[[BaseException | None], None] | None = None
        self._failure: BaseException | None = None
        super().__init__(path, keystore, fh=fh)
        self._finish = finish

    def _decrypt(self, index: int, into: memoryview | None) -> bytes:
        try:
            return super()._decrypt(index, into)
        except StorageError as exc:
            self._failure = self._failure or exc
            raise

    def close(self) -> None:
        finish, self._finish = self._finish, None
        super().close()
        if finish is not None:
            finish(self._failure)


def read_governed(path: str | os.PathLike[str], **kwargs: Any) -> bytes:
    """The whole plaintext of a sealed file (see :func:`open_governed`)."""
    with open_governed(path, **kwargs) as fh:
        return fh.read()


def declared_classification(path: str, *, opened: Any = None) -> Classification:
    """What the read is decided on: the file's signed sidecar, or PROPRIETARY (fail closed)
    when there is none or it cannot be trusted. ``opened``: the file as the reader holds it
    open, which the sidecar must bind (not whatever ``path`` names by then)."""
    from lacuna.lineage import sidecar as sc

    try:
        found = sc.read_sidecar(path, opened=opened)
        problem = None if found is None else found.problem
    except sc.SidecarError as exc:
        found, problem = None, str(exc)
    if found is not None and problem is None:
        return found.classification  # never below its sealed header's (not_below_header)
    why = problem if found is not None else "it has no classification sidecar"
    # The tags sealed into its header (PII, GDPR, ...) stay: without them a policy that denies
    # reads by tag let the file out. The header is authenticated when the file is decrypted,
    # so a header edited to drop them decrypts nothing.
    from lacuna.storage.sealed import sealed_tags

    tags = sealed_tags(opened if opened is not None else path) or ()
    kept = f"; the tags sealed into its header are kept: {', '.join(tags)}" if tags else ""
    return replace(Classification.fail_closed(
        f"the declaration of {path} cannot be trusted: {why}{kept}"), tags=tags)


def not_below_header(declared: Classification, path: str, opened: Any = None) -> Classification:
    """``declared`` (a trusted sidecar's classification) raised to the tier and tags sealed into
    the header of the file at ``path`` (held ``opened``) when it was written; as it is for
    anything else. They agree for every file Lacuna wrote; a sidecar signed over another file
    than the one written with it (a sealed file of PII swapped in at the path between its write
    and the signing of its sidecar, or during a re-wrap's re-signing) would otherwise declare it
    at the lower class, to every reader and to retention. The sidecar binds the header's bytes,
    and the header is authenticated when the file is decrypted."""
    from lacuna.storage.sealed import sealed_label

    name, tags = sealed_label(opened if opened is not None else path)
    tier = declared.tier
    if name is not None:
        try:
            tier = Tier.parse(name)
        except (ValueError, LacunaError):
            tier = Tier.PROPRIETARY  # a header this Lacuna did not write: fail closed
    more = tuple(t for t in tags or () if t.upper() not in declared.tags)
    if tier <= declared.tier and not more:
        return declared
    top = max(tier, declared.tier)
    said = f"{tier}" + (f" ({', '.join(tags or ())})" if tags else "")
    return replace(
        declared, tier=top, floor=max(declared.floor, top), tags=(*declared.tags, *more),
        table_tags=(*declared.table_tags, *more),
        reasoning=(*declared.reasoning, f"{top}: the sealed header of {path} says its data was "
                   f"written as {said}, more than its sidecar declares; the header is kept"))


# Folders whose entries name the system's devices and the process's own descriptors (``-o
# /dev/stdout``, ``/dev/fd/3`` of a shell's ``>(...)``, ``/proc/self/fd/1``, ``/dev/null``): a
# plaintext copy is written where they lead, as to stdout, and no file is ever made in them.
_DEVICE_FOLDERS = ("/dev/", "/proc/")


def write_plaintext_copy(output: str | os.PathLike[str], chunks: Iterable[bytes], *,
                         before_new_file: Callable[[str], None] | None = None) -> bool:
    """Write the plaintext ``chunks`` to ``output``, the file a user named (``lacuna storage
    cat -o``, ``lacuna decrypt -o``): a new file of mode 0600, made in ``output``'s folder
    (``O_EXCL``) and renamed into place once every chunk was written. An existing file (a
    world-readable one, another user's, one of several hard links) is replaced, never written
    into, and a symbolic link at ``output`` is replaced, never followed (a link to a file
    elsewhere, put there by whoever can write the folder, would have received the plaintext);
    nothing is left when a chunk fails (a segment that does not authenticate).

    A device, pipe or descriptor is written as it is, with no new file: a path under /dev or
    /proc (``-o /dev/stdout``, appended to, never truncated nor created), or a pipe or device
    elsewhere made by this user (or root) and reached through a link of theirs.

    ``before_new_file``: called with the absolute path just before a new file is made (the
    record of a copy written under an exception, which a device does not get).

    Returns:
        Whether a new file was made (:func:`label_plaintext_copy` labels it); False for a
        device, pipe or descriptor written in place.

    Raises:
        StorageError: a pipe, socket or device at ``output`` (or a link to one) that another
            user made, which would receive the plaintext; nothing is written.
        OSError: the folder does not exist or cannot be written, a /dev or /proc path that
            does not exist.
    """
    target = os.path.abspath(os.fspath(output))
    fd = _opened_in_place(target)
    if fd is not None:
        with os.fdopen(fd, "wb") as out:
            for chunk in chunks:
                out.write(chunk)
        return False
    if before_new_file is not None:
        before_new_file(target)
    folder, name = os.path.split(target)
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=folder)  # mode 0600
    try:
        with os.fdopen(fd, "wb") as out:
            for chunk in chunks:
                out.write(chunk)
        os.replace(tmp, target)  # a link at target is replaced, not followed
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return True


def writes_in_place(output: str | os.PathLike[str]) -> bool:
    """Whether :func:`write_plaintext_copy` writes into what ``output`` names as it is (a
    device, pipe or descriptor), not a new file: a path under /dev or /proc, or one that
    leads to something that is neither a regular file nor a folder."""
    target = os.path.abspath(os.fspath(output))
    if target.startswith(_DEVICE_FOLDERS):
        return True
    try:
        st = os.stat(target)
    except OSError:  # nothing there, a dangling link: a new file
        return False
    return not (stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode))


def _opened_in_place(target: str) -> int | None:
    """A descriptor open for writing on the device, pipe or descriptor ``target`` names, or
    None when a new file is to be made there (nothing there, a regular file, a link to one, a
    dangling link, a folder: replacing it fails). See :func:`writes_in_place`."""
    if not writes_in_place(target):
        return None
    if target.startswith(_DEVICE_FOLDERS):  # never creates or truncates a file there
        return os.open(target, os.O_WRONLY | os.O_APPEND | os.O_NOCTTY)
    st = os.stat(target)
    entry = os.lstat(target)
    trusted = {os.geteuid(), 0}
    if st.st_uid not in trusted or entry.st_uid not in trusted:
        made_by = entry.st_uid if entry.st_uid not in trusted else st.st_uid
        kind = "a symbolic link to a pipe or device" if stat.S_ISLNK(entry.st_mode) else (
            "a pipe or device")
        msg = (f"{target} is {kind} made by another user (uid {made_by}): the plaintext "
               "written there would go to them. Remove it, or name a path in a folder only "
               "you can write. Nothing was written.")
        raise StorageError(msg)
    fd = os.open(target, os.O_WRONLY | os.O_NOCTTY)  # no O_CREAT, no O_TRUNC
    opened = os.fstat(fd)
    if (opened.st_dev, opened.st_ino) != (st.st_dev, st.st_ino):
        os.close(fd)
        msg = (f"{target} was replaced while it was opened (another process changed the "
               "folder): nothing was written. Run it again, or name a path in a folder only "
               "you can write.")
        raise StorageError(msg)
    return fd


def label_plaintext_copy(output: str | os.PathLike[str], opened: io.BufferedReader,
                         gov: Governor) -> None:
    """Sign the sidecar of ``output``, the plaintext copy Lacuna wrote (``lacuna storage cat
    -o``) of the sealed file read through ``opened`` (what :func:`open_governed` returned): the
    class its read was decided on
    (:attr:`SealedReader.decided_on`: the trusted sidecar's, never below the sealed header's,
    or PROPRIETARY with the header's tags) and its data's clock (the authenticated header's
    ``first_seen``, or the file's trusted clock when earlier). See :func:`sign_plaintext_copy`.

    Raises:
        StorageError: the sidecar could not be signed; ``output`` is removed.
    """
    from lacuna.lineage import clock

    reader = opened.raw

    def label() -> tuple[Classification, datetime | None]:
        if not isinstance(reader, SealedReader):
            msg = f"{type(reader).__name__} is not the reader open_governed returns"
            raise TypeError(msg)
        decided = reader.decided_on
        try:  # the file's trusted sidecar (or, with server:, the server's clock) may be earlier
            kept = clock.of_file(reader.name, gov.config)
        except LacunaError:
            kept = None
        seen = clock.earliest(clock.of_header(reader.header.meta), kept)
        return decided if decided is not None else Classification.fail_closed(
            f"the read of {reader.name} was decided on no classification"), seen

    sign_plaintext_copy(output, str(getattr(reader, "name", "a sealed file")), label,
                        gov.config)


def sign_plaintext_copy(output: str | os.PathLike[str], source: str,
                        label: Callable[[], tuple[Classification, datetime | None]],
                        config: Config, *, written: bytes | None = None) -> None:
    """Sign the sidecar of ``output``, a plaintext copy Lacuna wrote
    (:func:`write_plaintext_copy`) of the encrypted file ``source``: ``label()`` gives the
    class the copy carries (what its read was decided on) and its data's clock (when it was
    first seen). Unlabelled, the copy was classified by its values alone (codes whose class came
    from where they were derived read back PUBLIC) and a governed write of it started a new
    retention clock while the original was due. ``written``: the bytes written there, which
    the signature binds (else what the file holds now). A device or pipe (``-o
    /dev/stdout``) gets none, as stdout does.

    Raises:
        StorageError: the label could not be made or the sidecar signed; ``output`` is removed
            (no plaintext copy is left unlabelled).
    """
    from lacuna.lineage.sidecar import write_sidecar

    target = os.fspath(output)
    if not os.path.isfile(target) or os.path.islink(target):
        return
    try:
        classification, seen = label()
        write_sidecar(target, classification, sources=(source,), written_by=config.user.id,
                      first_seen=seen, written=written)
    except Exception as exc:
        with contextlib.suppress(OSError):
            os.unlink(target)
        msg = (f"the plaintext of {source} was not left at {target}: its classification "
               f"sidecar could not be signed ({type(exc).__name__}: {exc}), and unlabelled it "
               "would read as whatever its values show. Fix that (the signing key under "
               "$LACUNA_HOME, the folder's permissions) and run it again.")
        raise StorageError(msg) from exc


def refuse_plaintext_output(what: str, output: str | os.PathLike[str], config: Config) -> None:
    """Plaintext Lacuna writes to a file a user names (``lacuna storage cat -o``, ``lacuna
    decrypt -o``) never lands under a sealed governed root, where every file is encrypted.

    Raises:
        StorageError: ``output`` is under a governed root and ``storage.encrypt`` is on.
    """
    from lacuna.destinations import classify_destination

    if not config.storage.encrypt or not isinstance(output, (str, os.PathLike)):
        return
    if classify_destination(output, config.destinations).type is not (
            DestinationType.GOVERNED_STORAGE):
        return
    msg = (f"{what} to {os.fspath(output)} is refused: it is under a governed root "
           "(destinations.governed), where every file is sealed, and this would leave the "
           "plaintext there. Write it outside governed storage, or write the data through "
           "pandas or polars to the governed path (sealed). Nothing was read or written.")
    raise StorageError(msg)


def refuse_unsealable(method: str, name: str) -> None:
    """A write under a governed root that Lacuna cannot seal: refused, never plaintext.

    Raises:
        StorageError: always (it passes through the pandas guard in every mode).
    """
    library = method.split(".", 1)[0] if method.startswith(("polars.", "pyarrow.")) else None
    if library is None:
        sealed = ("to_csv, to_parquet, to_json, to_feather, to_excel and the other to_* "
                  "writers that write a stream; not HDF5, appends (mode='a'), partitioned "
                  "datasets (partition_cols), open file objects or ExcelWriter/HDFStore objects")
    else:
        from lacuna.storage.frames import STREAM_WRITERS

        writers = sorted(w.removeprefix(f"{library}.").removeprefix("DataFrame.")
                         for w in STREAM_WRITERS if w.startswith(f"{library}."))
        owner = f"{library}'" if library.endswith("s") else f"{library}'s"
        sealed = (f"{owner} {', '.join(writers)}; not open file objects, streams "
                  "(pyarrow.fs, fsspec) or datasets written as many files")
    msg = (f"{method} to {name} cannot be encrypted: it is under a governed root "
           "(destinations.governed), and Lacuna seals only whole files written to a path by "
           f"{sealed}. Write one of those to a path, or turn encryption off for governed "
           "storage (storage.encrypt: false). Nothing was written.")
    raise StorageError(msg)


def refuse_unnamed_file(method: str, name: str, gov: Governor | None = None) -> None:
    """A write into a file object whose path Lacuna cannot tell (``name`` is
    ``stream://file-descriptor.<fd>``: no ``/proc/self/fd`` nor ``F_GETPATH`` on this
    platform): refused while governed storage on this machine is sealed, since the file may
    lie under a governed root, where its bytes would land in plaintext (fail closed).

    Raises:
        StorageError: ``name`` is such a file and a local governed root is sealed.
    """
    from lacuna.integrations.pandas._frames import UNNAMED_FILE
    from lacuna.lineage.sidecar import is_local

    if not name.startswith(UNNAMED_FILE):
        return
    g = _gov(gov)
    roots = [r for r in g.config.destinations.governed if is_local(r)]
    if not g.config.storage.encrypt or not roots:
        return
    fd = name[len(UNNAMED_FILE):]
    msg = (f"{method} into an open file object (descriptor {fd}) is refused: Lacuna cannot "
           "tell which file it is open on on this platform (no /proc/self/fd, no "
           "fcntl F_GETPATH), so it may be under a governed root "
           f"({', '.join(roots)}), where every file is sealed and these bytes would land in "
           "plaintext. Pass the file's path instead (a path under a governed root is "
           "sealed, any other is decided for that path). Nothing was written.")
    raise StorageError(msg)


__all__ = [
    "SEALABLE",
    "TEXT_WRITERS",
    "byte_order_mark",
    "declared_classification",
    "governed_path",
    "is_sealed",
    "label_plaintext_copy",
    "open_governed",
    "open_sealed_writer",
    "read_governed",
    "refuse_plaintext_output",
    "refuse_unnamed_file",
    "refuse_unsealable",
    "seals",
    "sign_plaintext_copy",
    "write_governed",
    "write_plaintext_copy",
    "writes_in_place",
]
