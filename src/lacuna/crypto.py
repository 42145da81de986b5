"""Envelope encryption of files: AES-256-GCM with a data key per file, wrapped by a key from the
key store (:mod:`lacuna.keystore`).

Layout of an encrypted file::

    MAGIC (8 bytes, b"LACUNAE1") | header length (4 bytes, big-endian) | header (JSON) |
    ciphertext + GCM tag

The header is small canonical JSON: the algorithm, the wrapping key's id, version and backend,
the wrapped data key and both nonces, and ``meta`` (who wrote it, under which exception, the
original format). The whole prefix (magic, length, header) is the data's associated data, so
editing any header field (the exception id, the writer) makes decryption fail. The data key is
wrapped with AES-256-GCM under the key store key, bound to its key id and version.

Rotating the key store key (``KeyStore.rotate``) leaves old files readable: the header names
the version that wrapped their data key.

    blob = encrypt(b"a,b\\n1,2\\n", keystore, meta={"written_by": "alice"})
    plain, header = decrypt(blob, keystore)

Issue 16 (governed storage) builds on :func:`write_encrypted` / :func:`read_encrypted`.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import struct
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from lacuna.errors import LacunaError
from lacuna.keystore import Key, KeyRef

if TYPE_CHECKING:
    from lacuna.keystore import KeyStore

MAGIC = b"LACUNAE1"
ALGORITHM = "AES-256-GCM"
DEFAULT_KEY_ID = "files"
NONCE_BYTES = 12
MAX_HEADER_BYTES = 64 * 1024
_PREFIX = struct.Struct(">I")


class DecryptionError(LacunaError):
    """A file that is not a Lacuna envelope, was altered, or whose key is not available."""


@dataclass(frozen=True, slots=True)
class EnvelopeHeader:
    """What an encrypted file says about itself (authenticated with the data)."""

    key: KeyRef
    meta: dict[str, Any] = field(default_factory=dict)
    algorithm: str = ALGORITHM


def encrypt(plaintext: bytes, keystore: KeyStore, *, key_id: str = DEFAULT_KEY_ID,
            meta: dict[str, Any] | None = None) -> bytes:
    """``plaintext`` sealed under a fresh data key wrapped by ``key_id``'s current version."""
    kek = keystore.current(key_id)
    data_key = AESGCM.generate_key(bit_length=256)
    wrap_nonce, nonce = secrets.token_bytes(NONCE_BYTES), secrets.token_bytes(NONCE_BYTES)
    wrapped = AESGCM(_aes_key(kek.material)).encrypt(wrap_nonce, data_key, _wrap_aad(kek.ref))
    header = {
        "alg": ALGORITHM,
        "key": {"id": kek.ref.id, "version": kek.ref.version, "backend": kek.ref.backend},
        "wrapped_key": _b64(wrapped),
        "wrap_nonce": _b64(wrap_nonce),
        "nonce": _b64(nonce),
        "meta": dict(meta or {}),
    }
    text = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
    prefix = MAGIC + _PREFIX.pack(len(text)) + text
    return prefix + AESGCM(data_key).encrypt(nonce, plaintext, prefix)


def decrypt(blob: bytes, keystore: KeyStore, *, where: str = "the data") -> tuple[
        bytes, EnvelopeHeader]:
    """The plaintext and header of an envelope.

    Raises:
        DecryptionError: not an envelope, altered (header or data), or the key is missing.
    """
    header, raw, prefix, body = _parse(blob, where)
    ref = header.key
    try:
        kek = keystore.get(ref.id, ref.version)
    except LacunaError as exc:
        msg = (f"cannot decrypt {where}: its key {ref.id} v{ref.version} is not in this key "
               f"store ({exc}). Decrypt it where the key store that wrote it is configured.")
        raise DecryptionError(msg) from None
    try:
        plain = AESGCM(_data_key(raw, kek)).decrypt(_unb64(raw["nonce"]), body, prefix)
    except (InvalidTag, ValueError, KeyError, TypeError):
        msg = (f"cannot decrypt {where}: it was altered after it was written, or key {ref.id} "
               f"v{ref.version} is not the key that wrote it. Nothing was decrypted.")
        raise DecryptionError(msg) from None
    return plain, header


def key_opens(path: str | os.PathLike[str], keystore: KeyStore) -> tuple[str, bool] | None:
    """The key id an encrypted file's data key is wrapped with, and whether ``keystore``
    unwraps it (its header only is read: the wrapped data key's GCM tag proves the key);
    None when ``path`` is not an envelope Lacuna can read."""
    try:
        with open(path, "rb") as fh:
            start = fh.read(len(MAGIC) + _PREFIX.size)
            if not start.startswith(MAGIC) or len(start) < len(MAGIC) + _PREFIX.size:
                return None
            (size,) = _PREFIX.unpack_from(start, len(MAGIC))
            if size > MAX_HEADER_BYTES:
                return None
            header, raw, _, _ = _parse(start + fh.read(size), os.fspath(path))
    except (OSError, DecryptionError):
        return None
    ref = header.key
    try:
        _data_key(raw, keystore.get(ref.id, ref.version))
    except (LacunaError, InvalidTag, ValueError, KeyError, TypeError):
        return ref.id, False
    return ref.id, True


def _data_key(raw: dict[str, Any], kek: Key) -> bytes:
    """The envelope's data key, unwrapped by ``kek`` (its GCM tag proves the key)."""
    return AESGCM(_aes_key(kek.material)).decrypt(
        _unb64(raw["wrap_nonce"]), _unb64(raw["wrapped_key"]), _wrap_aad(kek.ref))


def read_header(blob: bytes, *, where: str = "the data") -> EnvelopeHeader:
    """The header of an envelope, not authenticated (use :func:`decrypt` to trust it)."""
    return _parse(blob, where)[0]


def is_encrypted(path: str | os.PathLike[str]) -> bool:
    """Whether the file starts like a Lacuna envelope."""
    try:
        with open(path, "rb") as fh:
            return fh.read(len(MAGIC)) == MAGIC
    except OSError:
        return False


def write_encrypted(path: str | os.PathLike[str], plaintext: bytes, keystore: KeyStore, *,
                    key_id: str = DEFAULT_KEY_ID, meta: dict[str, Any] | None = None) -> Path:
    """Write ``plaintext`` encrypted to ``path`` atomically (a temporary file in the same folder,
    mode 0600, renamed into place): the plaintext never touches the disk."""
    target = Path(path)
    blob = encrypt(plaintext, keystore, key_id=key_id, meta=meta)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(blob)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def read_encrypted(path: str | os.PathLike[str], keystore: KeyStore) -> tuple[
        bytes, EnvelopeHeader]:
    """The plaintext and header of an encrypted file."""
    with open(path, "rb") as fh:
        blob = fh.read()
    return decrypt(blob, keystore, where=os.fspath(path))


def _parse(blob: bytes, where: str) -> tuple[EnvelopeHeader, dict[str, Any], bytes, bytes]:
    head = len(MAGIC) + _PREFIX.size
    if not blob.startswith(MAGIC) or len(blob) < head:
        from lacuna.storage.sealed import MAGIC as SEALED

        if blob.startswith(SEALED):  # governed storage's envelope, read through its own door
            msg = (f"{where} is a sealed governed-storage file, not one written with "
                   f"encrypt=True: read it with `lacuna storage cat {where}` (or pandas, "
                   "which reads it in place; both decided and audited).")
        else:
            msg = (f"{where} is not a file Lacuna encrypted (it does not start with the "
                   f"{MAGIC.decode()} header).")
        raise DecryptionError(msg)
    (size,) = _PREFIX.unpack_from(blob, len(MAGIC))
    if size > MAX_HEADER_BYTES or len(blob) < head + size:
        msg = f"{where} has a damaged Lacuna encryption header (length {size})."
        raise DecryptionError(msg)
    try:
        raw = json.loads(blob[head:head + size])
        key = raw["key"]
        header = EnvelopeHeader(
            key=KeyRef(str(key["id"]), int(key["version"]), str(key.get("backend", "file"))),
            meta=dict(raw.get("meta") or {}),
            algorithm=str(raw["alg"]),
        )
    # RecursionError: a header of nested "[" deeper than json decodes
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError) as exc:
        msg = f"{where} has a damaged Lacuna encryption header ({type(exc).__name__})."
        raise DecryptionError(msg) from None
    if header.algorithm != ALGORITHM:
        msg = f"{where} uses {header.algorithm!r}; this Lacuna reads {ALGORITHM} only."
        raise DecryptionError(msg)
    return header, raw, blob[:head + size], blob[head + size:]


def _aes_key(material: bytes) -> bytes:
    if len(material) != 32:
        msg = (f"the key store key is {len(material)} bytes; AES-256 needs 32. Use a key the "
               "key store generated (lacuna.keystore).")
        raise DecryptionError(msg)
    return material


def _wrap_aad(ref: KeyRef) -> bytes:
    return f"lacuna-data-key:{ref.id}:{ref.version}".encode()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _unb64(text: Any) -> bytes:
    return base64.b64decode(str(text), validate=True)


__all__ = [
    "ALGORITHM",
    "DEFAULT_KEY_ID",
    "DecryptionError",
    "EnvelopeHeader",
    "decrypt",
    "encrypt",
    "is_encrypted",
    "read_encrypted",
    "read_header",
    "write_encrypted",
]
