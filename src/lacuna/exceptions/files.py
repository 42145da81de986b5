"""Files written under an exception: recorded before they are written, encrypted on request
(``encrypt=True``), read back by ``lacuna.decrypt`` for an authorised user, and deleted by the
sweep (:mod:`lacuna.exceptions.sweep`) when the exception ends.

Who may decrypt a file Lacuna encrypted: the user who wrote it while the exception it was
written under is still approved and inside its window, or a steward entitled to decide that
exception (``stewards:``, or the policy's steward). A file written without an exception: its
writer, or a default steward. Every attempt, allowed or refused, is on the audit trail.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy.exc import SQLAlchemyError

from lacuna import crypto
from lacuna._files import identity
from lacuna.errors import LacunaError
from lacuna.exceptions import authority, events
from lacuna.exceptions.authority import ExceptionNotAuthorized
from lacuna.exceptions.store import (
    ExceptionNotFound,
    MalformedException,
    TrailUnreadable,
    WrittenFile,
    rolled_back_note,
)
from lacuna.identity.names import same_name
from lacuna.keystore import KeyStore, keystore_for, refuse_another_key_store
from lacuna.model import Classification, utcnow

if TYPE_CHECKING:
    from datetime import datetime

    from lacuna.exceptions.context import Context

log = logging.getLogger("lacuna.exceptions")


class DecryptionRefused(LacunaError, PermissionError):
    """The configured user may not read this encrypted file (the message says why)."""


def _local(path: str | os.PathLike[str]) -> str:
    """A local path as pandas and the shell read it: ``~`` is the user's home."""
    return os.path.expanduser(os.fspath(path))


def remember(gov: Context, exception_id: str, path: str | os.PathLike[str], *,
             encrypted: bool, directory: bool = False, replaces_links: bool = False
             ) -> WrittenFile:
    """Record that ``path`` (a directory when ``directory``: a Spark write) is being written
    under ``exception_id`` (before it is written, so a file that exists is always known to the
    sweep): a signed row of ``lacuna_exception_files`` and a ``file-written`` event on the
    audit trail (the sweep reports a file on the trail whose row went missing). Raises when
    either cannot be recorded, or when ``path`` is a symbolic link a plain write would follow
    (the data would land where the exception does not reach and the sweep would delete only
    the link): the write must not happen then. An encrypted write, and one that
    ``replaces_links`` (a decrypted copy: :func:`lacuna.storage.access.write_plaintext_copy`),
    replaces a link with the file itself. Once the write returned, pass the record to
    :func:`written`."""
    where = os.path.abspath(_local(path))
    # a plain write would land at the link's target
    if not (encrypted or replaces_links) and os.path.islink(where):
        msg = (f"{where} is a symbolic link to {os.path.realpath(where)}: a file written under "
               f"exception {exception_id} must be written at the path the exception names "
               "(the sweep deletes it there when the exception ends), not through a link to "
               "another place. Remove the link, or request an exception for the link's "
               "target. Nothing was written.")
        raise ExceptionNotAuthorized(msg)
    record = gov.exceptions.record_file(exception_id, where, written_by=gov.config.user.id,
                                        encrypted=encrypted, directory=directory)
    if getattr(gov.exceptions, "remote", False):  # the server recorded and audited it
        return record
    detail = {"path": where, "encrypted": encrypted, "directory": directory}
    if events.audit(gov, "file-written", None, exception_id=exception_id,
                    detail=detail) is None:
        msg = (f"cannot write {where} under exception {exception_id}: the audit trail could not "
               "record it (the error is logged above), and a file written under an exception "
               "must be on the trail for the sweep to answer for it. Fix the audit trail "
               "(lacuna audit verify; audit.url in lacuna.yaml), then try again. Nothing was "
               "written.")
        raise LacunaError(msg)
    return record


def written(gov: Context, record: WrittenFile) -> None:
    """After the write under an exception returned: add to its record what is now at the path
    (:func:`lacuna._files.identity`), so the sweep deletes that file and never another one
    written at the path later. Never fails the write: when it cannot be recorded, the error
    is logged and the sweep deletes the file only if it was not modified after the exception
    ended (reporting it otherwise)."""
    try:
        st = os.lstat(record.path)
        gov.exceptions.record_identity(record, identity(st, directory=record.directory))
    except (OSError, LacunaError, SQLAlchemyError) as exc:
        log.error("could not record what was written at %s under exception %s: %s",
                  record.path, record.exception_id, exc)


DISCARDED = "file-discarded"


def discarded(gov: Context, records: list[WrittenFile], *, method: str) -> None:
    """After a write that recorded ``records`` (:func:`remember`) saved nothing: a store into
    which every put was denied or failed, closed without saving (its empty file removed).
    Nothing was written under their exceptions there, so each record is closed (marked
    deleted, signed again) and the step is ``file-discarded`` on the audit trail and in the
    exception's history: the sweep then does not report a file that was never written as
    missing, every sweep. Never fails the close: a record that cannot be closed is logged at
    ERROR (the sweep reports it)."""
    at = utcnow()
    for record in records:
        try:
            if not gov.exceptions.close_records([record], at):
                continue  # closed meanwhile, or edited: the sweep judges it
        except (LacunaError, SQLAlchemyError) as exc:
            log.error("could not close the record of %s under exception %s, which the write "
                      "(%s) saved nothing to (the sweep reports it): %s", record.path,
                      record.exception_id, method, exc)
            continue
        comment = (f"{record.path}: nothing written ({method} saved nothing: every write into "
                   "it was denied or failed; the empty file it made was removed)")
        try:
            gov.exceptions.note(record.exception_id, DISCARDED, by=gov.config.user.id,
                                comment=comment, now=at)
        except (LacunaError, SQLAlchemyError) as exc:
            log.error("could not note %s of %s in exception %s's history: %s", DISCARDED,
                      record.path, record.exception_id, exc)
        events.audit(gov, DISCARDED, None, exception_id=record.exception_id,
                     detail={"path": record.path, "method": method})


def write_sealed(gov: Context, path: str | os.PathLike[str], write: Callable[[io.BytesIO], Any],
                 *, exception_id: str | None, method: str, operation_id: str | None = None
                 ) -> Any:
    """Run ``write`` into memory, then write the bytes AES-256-GCM encrypted to ``path``.

    ``operation_id``: the decision that allowed the write, named in the (authenticated)
    header, so that a server asked who may decrypt the file answers for the bytes that
    decision sealed, not for whatever sealed file lies at the path (``POST /api/v1/decrypt``).
    """
    keystore, key_id = keystore_for(gov.config), gov.config.exceptions.encryption_key
    _refuse_another_key_store(gov, keystore, key_id, path, exception_id)
    buffer = io.BytesIO()
    result = write(buffer)
    meta = {"written_by": gov.config.user.id, "exception_id": exception_id,
            "name": Path(os.fspath(path)).name, "method": method,
            "written_at": utcnow().isoformat(), "operation_id": operation_id}
    crypto.write_encrypted(_local(path), buffer.getvalue(), keystore, key_id=key_id, meta=meta)
    return result


def _refuse_another_key_store(gov: Context, keystore: KeyStore, key_id: str,
                              path: str | os.PathLike[str], exception_id: str | None) -> None:
    """Before sealing a file for an exception: when files sealed with ``key_id`` under
    exceptions are still on disk and this key store opens none of them, it is not the key
    store that sealed them (:func:`lacuna.keystore.refuse_another_key_store`, as governed
    storage refuses it: lacuna.storage.access). A missing key would be made by that key
    store: the same refusal. Raises :class:`~lacuna.errors.StorageError`; nothing is
    written.

    On a server's client the records are the server's, and it lists them per exception only
    (``GET /api/v1/exceptions/{id}/files``): the files compared are those this user wrote on
    this host under ``exception_id`` (``file://<this host><path>``), still there. Skipped
    before, a client switched to another key store sealed the next file of the same grant
    with a key the files before it were not sealed with. A first file under a grant with no
    file on this host yet has nothing to be compared with, there as in-process."""
    remote = bool(getattr(gov.exceptions, "remote", False))
    if remote and exception_id is None:
        return  # nothing recorded to compare with

    def records() -> list[tuple[str, WrittenFile]]:
        if not remote:
            return [(_local(r.path), r) for r in gov.exceptions.files(pending_only=True)]
        here, me = this_host().lower(), gov.config.user.id
        out = []
        for r in gov.exceptions.files(exception_id):
            where = on_client(r.path)
            if (where is not None and where[0].lower() == here and r.deleted_at is None
                    and same_name(r.written_by, me)):
                out.append((_local(where[1]), r))
        return out

    def sealed() -> Iterator[tuple[str, bool]]:
        try:
            found_records = records()
        except (LacunaError, SQLAlchemyError) as exc:  # no record to compare: said
            log.warning("could not list the files written under exceptions to check the key "
                        "store: %s", exc)
            return
        for local, record in reversed(found_records):  # the newest first: the usual store
            if not record.encrypted or record.directory:
                continue
            found = crypto.key_opens(local, keystore)
            if found is not None and found[0] == key_id:
                yield (local if remote else record.path), found[1]

    def refusal(example: str) -> str:
        return (f"cannot seal {os.fspath(path)}: the key {key_id!r} of this configuration's "
                f"key store opens none of the files sealed under exceptions with "
                f"{key_id!r} (e.g. {example}): it is not the key store that sealed them, and "
                "what it sealed would open wherever that key is known, without Lacuna and "
                "off the audit trail. Point the configuration at the key store that sealed "
                "them (anonymize.keystore, anonymize.key_dir), or restore its key file. "
                "Nothing was written.")

    # remembered per grant on a client: one grant's files (or none yet) say nothing of another's
    kind = f"exception files under {exception_id}" if remote else "exception files"
    refuse_another_key_store(keystore, key_id, keystore.backend.versions(key_id), kind,
                             sealed(), refusal)


def decrypt(gov: Context, path: str | os.PathLike[str],
            output: str | os.PathLike[str] | None = None) -> bytes:
    """The plaintext of a file written with ``encrypt=True``, for an authorised user (audited).

    Args:
        path: the encrypted file.
        output: also write the plaintext there (:func:`_write_copy`): a new file of mode
            0600 (a link or file there is replaced, never written through) with a signed
            sidecar carrying the class the encrypted file was written as and its data's
            clock; for a file written under an exception, recorded under it: the sweep
            deletes it when the exception ends. A device or descriptor (``/dev/stdout``) is
            written as it is.

    Returns:
        The plaintext bytes (``pd.read_csv(io.BytesIO(lacuna.decrypt(p)))``).

    Raises:
        DecryptionError: not a Lacuna envelope, altered, or its key is missing.
        StorageError: ``output`` is under a sealed governed root (nothing decrypted), is a
            pipe or device another user made, or its sidecar could not be signed (the
            plaintext copy is removed).
        DecryptionRefused: the configured user may not read it (the exception expired, was
            revoked, or belongs to someone else), or the audit trail could not record the
            decryption (nothing is released unrecorded).
    """
    where = _local(path)
    declared = None
    if output is not None:
        from lacuna.storage.access import refuse_plaintext_output

        refuse_plaintext_output("lacuna decrypt -o", _local(output), gov.config)
    try:
        with open(where, "rb") as fh:
            plain, header = crypto.decrypt(fh.read(), keystore_for(gov.config), where=where)
            if output is not None:  # what it was written as: its sidecar, bound to these bytes
                declared = _declared(where, fh)
    except (crypto.DecryptionError, OSError) as exc:
        events.audit(gov, "decrypt", None, allowed=False,
                     detail={"path": os.path.abspath(where), "refused": str(exc)})
        raise
    exception_id = header.meta.get("exception_id")
    copy = None if output is None or declared is None else _Copy(
        where, plain, declared, header.meta)
    if getattr(gov.exceptions, "remote", False):  # the server judges it
        return _decrypted_by_server(gov, where, plain, header.meta,
                                    str(exception_id) if exception_id else None, output, copy)
    why = _refusal(gov, header.meta, exception_id)
    detail = {"path": os.path.abspath(where), "key": str(header.key),
              "written_by": header.meta.get("written_by")}
    if why is not None:
        events.audit(gov, "decrypt", None, exception_id=exception_id, allowed=False,
                     detail={**detail, "refused": why})
        msg = f"cannot decrypt {where}: {why}"
        raise DecryptionRefused(msg)
    if events.audit(gov, "decrypt", None, exception_id=exception_id, detail=detail) is None:
        msg = (f"cannot decrypt {where}: the audit trail could not record this decryption "
               "(the error is logged above), and no plaintext is released unrecorded. Fix the "
               "audit trail (lacuna audit verify; audit.url in lacuna.yaml), then try again.")
        raise DecryptionRefused(msg)
    if output is not None and copy is not None:
        _write_copy(gov, copy, os.path.abspath(_local(output)),
                    str(exception_id) if exception_id else None)
    return plain


@dataclass(frozen=True, slots=True)
class _Copy:
    """A plaintext copy to write: of the encrypted file ``source``, its bytes ``plain``, the
    class it was written as (``declared``) and its authenticated header's ``meta``."""

    source: str
    plain: bytes
    declared: Classification
    meta: dict[str, Any]


def _declared(where: str, opened: Any) -> Classification:
    """The class the encrypted file at ``where`` (held ``opened``) was written as: its trusted
    sidecar's, signed over these bytes when it was written, or PROPRIETARY (fail closed) when
    it has none that can be trusted (:func:`lacuna.storage.access.declared_classification`)."""
    from lacuna.storage.access import declared_classification

    return declared_classification(where, opened=opened)


def _write_copy(gov: Context, copy: _Copy, target: str, exception_id: str | None) -> None:
    """Write the plaintext copy at ``target`` (:func:`_put_copy`). Written under an exception,
    a new file is recorded under it first (as every file written under it: the plaintext lives
    no longer than the exception, and the sweep deletes it then; see docs/exceptions.md), in
    the path's turn (:func:`~lacuna.exceptions.pathlock.path_lock`); a device is not. When
    the copy is not left (its sidecar not signed, the folder not writable), the record is
    closed (``file-discarded``): the sweep does not report a file that is not there."""
    from lacuna.exceptions.pathlock import path_lock

    records: list[WrittenFile] = []

    def record(path: str) -> None:
        if exception_id is not None:
            records.append(remember(gov, exception_id, path, encrypted=False,
                                    replaces_links=True))

    with path_lock(target) if exception_id is not None else contextlib.nullcontext():
        try:
            _put_copy(gov, copy, target, before_new_file=record)
        except BaseException:
            discarded(gov, records, method="lacuna decrypt -o")
            raise
        for made in records:
            written(gov, made)


def _put_copy(gov: Context, copy: _Copy, target: str, *,
              before_new_file: Callable[[str], None] | None = None) -> bool:
    """Write ``copy``'s plaintext at ``target`` and sign its sidecar, as ``lacuna storage cat
    -o`` does its copy (:func:`lacuna.storage.access.write_plaintext_copy`,
    :func:`~lacuna.storage.access.sign_plaintext_copy`): the class the encrypted file was
    written as, and its data's clock (its trusted sidecar's ``first_seen``, or when it was
    encrypted, whichever is earlier), so the copy never reads back below that class and a
    governed write of it keeps the data's retention clock. Whether a new file was made."""
    from lacuna.lineage import clock
    from lacuna.storage.access import sign_plaintext_copy, write_plaintext_copy

    def label() -> tuple[Classification, datetime | None]:
        try:  # the file's trusted sidecar (or, with server:, the server's clock)
            kept = clock.of_file(copy.source, gov.config)
        except LacunaError:
            kept = None
        return copy.declared, clock.earliest(clock.of_header(copy.meta), kept)

    made = write_plaintext_copy(target, (copy.plain,), before_new_file=before_new_file)
    if made:
        sign_plaintext_copy(target, os.path.abspath(copy.source), label, gov.config,
                            written=copy.plain)
    return made


def _decrypted_by_server(gov: Context, where: str, plain: bytes, meta: dict[str, Any],
                         exception_id: str | None, output: str | os.PathLike[str] | None,
                         copy: _Copy | None = None) -> bytes:
    """:func:`decrypt` with ``server:``: the server judges who may (the rule of
    :func:`_refusal`, on its own record of the exception, or, for a file sealed without one,
    of who its trail says wrote it) and audits it; a plaintext copy (``output``) of a file
    written under an exception is recorded on the server under it before it is written, so
    this host's sweep deletes it when the exception ends. Nothing is decrypted when the server
    refuses or cannot be asked."""
    from lacuna.storage.access import writes_in_place

    target = os.path.abspath(_local(output)) if output is not None else None
    # a device or descriptor (-o /dev/stdout) is not a file the sweep could delete
    recorded = None if target is None or writes_in_place(target) else target
    try:
        sealed_by = meta.get("operation_id")
        why = gov.exceptions.decrypt_refusal(  # type: ignore[attr-defined]
            exception_id, os.path.abspath(where), str(meta.get("written_by") or ""), recorded,
            operation_id=sealed_by if isinstance(sealed_by, str) else None)
    except LacunaError as exc:
        msg = (f"cannot decrypt {where}: the Lacuna server could not check or record the "
               f"decryption ({exc}); no plaintext is released unrecorded.")
        raise DecryptionRefused(msg) from None
    if why is not None:
        msg = f"cannot decrypt {where}: {why}"
        raise DecryptionRefused(msg)
    made = target is not None and copy is not None and _put_copy(gov, copy, target)
    if made and target is not None and exception_id is not None:
        try:  # what was written: the sweep deletes that file, whenever it was made
            gov.exceptions.copy_written(  # type: ignore[attr-defined]
                exception_id, os.path.abspath(where), target,
                identity(os.lstat(target), directory=False))
        except (OSError, LacunaError) as exc:
            log.error("could not record what was written at %s under exception %s: %s",
                      target, exception_id, exc)
    return plain


def _refusal(gov: Context, meta: dict[str, Any], exception_id: Any) -> str | None:
    """Why the configured user may not read a file with this (authenticated) header, or None."""
    me = gov.config.user.id
    writer = str(meta.get("written_by") or "")
    stewards = gov.config.stewards
    if not exception_id:
        if authority.same_identity(me, writer) or any(
            authority.same_identity(me, s) for s in stewards.default
        ):
            return None
        return (f"it was written by {writer}; only they or a default steward may read it "
                f"(you are {me}).")
    try:
        request = gov.exceptions.get(str(exception_id))
    except (ExceptionNotFound, MalformedException) as exc:
        return f"it was written under exception {exception_id}, which cannot be read ({exc})."
    if not gov.exceptions.verified(request):
        return authority.not_verified_note(request) + "."
    if any(authority.same_identity(me, s) for s in authority.approvers(request, stewards)):
        return None
    if not authority.same_identity(me, writer):
        return (f"it was written by {writer} under exception {request.id}; only they (while "
                f"the exception is valid) or its stewards may read it (you are {me}).")
    now = utcnow()
    if request.status.value != "approved":
        return (f"exception {request.id} is {request.status.value}; the file should have been "
                "deleted (lacuna exceptions sweep). Ask a steward.")
    if request.valid_until is not None and now >= request.valid_until:
        return (f"exception {request.id} expired at {request.valid_until:%Y-%m-%d %H:%M} UTC; "
                "the file is due for deletion (lacuna exceptions sweep).")
    try:  # an older signed body written back over a revocation is not a grant again
        ended = gov.exceptions.ended_on_trail(request.id)
    except TrailUnreadable as exc:
        return (f"exception {request.id} could not be checked against the audit trail ({exc}); "
                "nothing is decrypted on the word of the table alone.")
    if ended is not None:
        return rolled_back_note(request, ended) + ". Ask a steward."
    return None


__all__ = ["DISCARDED", "DecryptionRefused", "ExceptionNotAuthorized", "decrypt", "discarded",
           "on_client", "on_host", "refuse_unsweepable", "remember", "this_host",
           "write_sealed", "written"]


# -- files a server's client wrote (``server:``): recorded on the server, swept by the client --

CLIENT_FILE = "file://"  # a record's path on the server: file://<host>/<absolute path>


def this_host() -> str:
    """The name this machine reports to a Lacuna server for the files it writes under an
    exception (its sweep later asks for the files written from this name)."""
    import socket

    return socket.gethostname() or "localhost"


def on_host(host: str, path: str) -> str:
    """How the server records ``path`` written on ``host`` (never a path on its own disk)."""
    return f"{CLIENT_FILE}{host}{path}"


def on_client(path: str) -> tuple[str, str] | None:
    """The host and local path of a record made for a server's client, or None for a file on
    this machine (its records hold absolute paths, which never start so)."""
    if not path.startswith(CLIENT_FILE):
        return None
    host, sep, rest = path[len(CLIENT_FILE):].partition("/")
    return (host, sep + rest) if sep else None



def refuse_unsweepable(exception_id: str, target: str, method: str) -> ExceptionNotAuthorized:
    """The refusal of a write under ``exception_id`` to ``target``, which is not a local file
    or folder (an object store, a catalog table, a database, a buffer or a stream): the sweep
    could not delete it when the exception ends, so the grant cannot be kept. Returned, for the
    writer to raise before anything is written."""
    msg = (f"{method} to {target} under exception {exception_id} is refused: a write under an "
           "exception must go to a local file or folder, which Lacuna records and deletes when "
           "the exception ends; it cannot delete this target, so the data would outlive the "
           "exception. Write to a local path (with encrypt=True to keep it sealed), or ask a "
           "steward to make the destination governed (destinations.governed in lacuna.yaml) "
           "or to register a dataset for this need. Nothing was written.")
    return ExceptionNotAuthorized(msg)
