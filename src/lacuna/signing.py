"""Signatures on what Lacuna writes and later trusts: audit checkpoints, exception grants,
sidecars.

A :class:`Signer` makes and checks keyed signatures (HMAC-SHA256) over a payload: bytes, or a
JSON-able mapping in canonical form (sorted keys, no whitespace). A signature names its key,
``hmac-sha256:<key id>:<hex digest>``, so keys can rotate and old signatures stay checkable
while their key is in the :class:`Keyring`.

Where the key lives decides what a signature proves:

- **Shared deployment.** The Lacuna server holds the key (``LACUNA_SIGNING_KEY`` in the
  server's environment, or a key file only the server's account can read). Analysts' processes
  never hold it, so a user who can write the state database still cannot forge a grant, a
  sidecar or a checkpoint.
- **Single machine (the embedded default).** An install key, ``$LACUNA_HOME/signing.key``,
  created on first use with mode 0600. It stops edits by anyone who cannot read that file (other
  users, a copied database, a hand-written sidecar) but **not** the key's owner: whoever can
  read the key can sign. ``docs/audit.md`` says so.

Example:
    >>> from lacuna.signing import Signer
    >>> signer = Signer(b"k" * 32)
    >>> sig = signer.sign({"b": 1, "a": [1, 2]})
    >>> signer.verify({"a": [1, 2], "b": 1}, sig)
    True
    >>> signer.verify({"a": [1, 2], "b": 2}, sig)
    False
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lacuna import keyfile
from lacuna.errors import ConfigError

ALGORITHM = "hmac-sha256"
KEY_ENV = "LACUNA_SIGNING_KEY"
KEY_FILENAME = "signing.key"

Payload = bytes | str | Mapping[str, Any]


def canonical(payload: Payload) -> bytes:
    """The exact bytes that are signed: bytes as given, text as UTF-8, mappings as canonical
    JSON (sorted keys, no whitespace, non-ASCII kept). A lone surrogate (a file name that is
    not UTF-8, as ``os`` decodes it, among a sidecar's sources) is encoded as it is
    (``surrogatepass``): text without one signs as before, and such a label could not be
    signed at all (UnicodeEncodeError after the file was written)."""
    if isinstance(payload, bytes):
        return payload
    if isinstance(payload, str):
        return payload.encode("utf-8", "surrogatepass")
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False, default=str)
    return text.encode("utf-8", "surrogatepass")


def key_id(key: bytes) -> str:
    """A short public name for a key (not secret: a hash of a hash of the key)."""
    return hashlib.sha256(b"lacuna-key-id:" + key).hexdigest()[:12]


@dataclass(frozen=True, slots=True)
class Signer:
    """Signs and verifies with one secret key."""

    key: bytes = field(repr=False)
    key_id: str = field(init=False, repr=False, compare=False)  # computed once, not per use
    # HMAC keyed once (the key padded and hashed into its two SHA-256 states): a signature
    # copies it instead of keying HMAC again (3.5 µs, not 5, for one decision-log or audit
    # record's signature)
    _keyed: hmac.HMAC = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if len(self.key) < 16:
            msg = "a signing key must be at least 16 bytes; use 32 random bytes (64 hex digits)"
            raise ConfigError(msg)
        object.__setattr__(self, "key_id", key_id(self.key))
        object.__setattr__(self, "_keyed", hmac.new(self.key, digestmod="sha256"))

    def __reduce__(self) -> tuple[type[Signer], tuple[bytes]]:
        """Pickled and copied as its key (a keyed HMAC does not pickle): rebuilt from it."""
        return Signer, (self.key,)

    def digest(self, payload: Payload) -> str:
        """HMAC-SHA256 of :func:`canonical` ``(payload)`` as hex (``hmac.digest``'s value)."""
        mac = self._keyed.copy()
        mac.update(canonical(payload))
        return str(mac.hexdigest())

    def sign(self, payload: Payload) -> str:
        """``hmac-sha256:<key id>:<hex digest>`` over :func:`canonical` ``(payload)``."""
        return f"{ALGORITHM}:{self.key_id}:{self.digest(payload)}"

    def verify(self, payload: Payload, signature: str | None) -> bool:
        """Whether ``signature`` is this key's signature of ``payload`` (constant time).

        Never raises: a digest that is not ASCII (``hmac.compare_digest`` refuses to compare
        such text) or a payload that has no canonical form (a NaN, keys that do not sort) was
        not signed by this key, so the answer is ``False``."""
        if not signature or not isinstance(signature, str):
            return False
        parts = signature.split(":")
        if (len(parts) != 3 or parts[0] != ALGORITHM or parts[1] != self.key_id
                or not parts[2].isascii()):
            return False
        try:
            expected = self.digest(payload)
        except (TypeError, ValueError):
            return False
        return hmac.compare_digest(parts[2], expected)


@dataclass(frozen=True, slots=True)
class Keyring:
    """The current signer plus retired keys that still verify old signatures."""

    current: Signer
    retired: tuple[Signer, ...] = ()

    def sign(self, payload: Payload) -> str:
        return self.current.sign(payload)

    def verify(self, payload: Payload, signature: str | None) -> bool:
        return any(s.verify(payload, signature) for s in (self.current, *self.retired))


def signature_key_id(signature: str | None) -> str | None:
    """The key id a signature names, or None when it is not a Lacuna signature."""
    if not signature or not isinstance(signature, str):
        return None
    parts = signature.split(":")
    return parts[1] if len(parts) == 3 and parts[0] == ALGORITHM else None


def key_path() -> Path:
    from lacuna.config import lacuna_home

    return lacuna_home() / KEY_FILENAME


def _from_hex(text: str, where: str) -> bytes:
    try:
        return bytes.fromhex(text.strip())
    except ValueError:
        msg = f"{where} must hold a hex key (64 hex digits); it does not"
        raise ConfigError(msg) from None


class Keyed:
    """For a store that signs what it keeps: ``keyring`` is the one it was given, else the
    installation's (:func:`default_keyring`), loaded on first use."""

    _keyring: Keyring | None = None

    @property
    def keyring(self) -> Keyring:
        if self._keyring is None:
            self._keyring = default_keyring()
        return self._keyring


def default_keyring(*, create: bool = True) -> Keyring:
    """The signing keys of this process, first match wins:

    1. ``$LACUNA_SIGNING_KEY`` (hex), e.g. the server's; retired keys in
       ``$LACUNA_SIGNING_KEYS_RETIRED`` (comma-separated hex);
    2. ``$LACUNA_HOME/signing.key``, created on first use with mode 0600 unless ``create`` is
       false (a reader: verifying a trail never makes a key).

    Raises:
        ConfigError: ``create`` is false and there is no key to read.
    """
    env = os.environ.get(KEY_ENV)
    if env:
        current = Signer(_from_hex(env, f"${KEY_ENV}"))
    elif not create and not key_path().exists():
        msg = (f"there is no signing key at {key_path()} and ${KEY_ENV} is not set, so the "
               "trail's signatures cannot be checked. Restore the key from a backup (or set "
               f"${KEY_ENV} to it); a new key would not verify what the old one signed.")
        raise ConfigError(msg)
    else:
        current = Signer(keyfile.load_or_create_key(key_path(), what="signing key",
                                                    env_name=KEY_ENV))
    retired_env = os.environ.get(f"{KEY_ENV}S_RETIRED", "")
    retired = tuple(
        Signer(_from_hex(part, f"${KEY_ENV}S_RETIRED"))
        for part in retired_env.split(",") if part.strip()
    )
    return Keyring(current, retired)


__all__ = [
    "ALGORITHM",
    "Keyed",
    "Keyring",
    "Signer",
    "canonical",
    "default_keyring",
    "key_id",
    "signature_key_id",
]
