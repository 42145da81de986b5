"""The secret key behind the ``hash`` strategy, and where it comes from.

First match wins:

1. the ``key`` argument of :func:`lacuna.anonymize.anonymize`;
2. the environment variable named by ``anonymize.key_env`` in ``lacuna.yaml``
   (``LACUNA_ANONYMIZE_KEY`` by default);
3. the key store (:mod:`lacuna.keystore`), key id ``anonymize``: by default the file
   ``$LACUNA_HOME/anonymize.key``, generated on first use with mode 0600, versioned (rotate with
   ``KeyStore.rotate("anonymize")``; the current version is used, and recorded on each output).

The key makes the hash a keyed HMAC: without it nobody can hash candidate values (every e-mail
address of a leaked list, every phone number) to look the hashed ones up. That holds only while
the key cannot be guessed: a key given by argument or environment variable must have at least
:data:`MIN_KEY_BYTES` (16) bytes; ``key="a"`` would let anyone try every short key and reverse
every hash (the column would still be re-classified as a pseudonym, fit for export). The same
holds for a key in the key store, whose file or variable the analyst can write: ``1 00`` in
``anonymize.key`` or ``LACUNA_KEY_ANONYMIZE=a`` made every hash reversible by anyone who tries
256 keys, yet the column was called a pseudonym. So every key a pseudonym is made with (``hash``,
``synthesize``, ``fpe``) passes :func:`check_key`: at least :data:`MIN_KEY_BYTES` bytes and at
least :data:`MIN_DISTINCT_BYTES` distinct byte values (``"k" * 16`` or 32 zero bytes are long
but guessed at once). That is a floor against keys nobody chose at random, not a proof of
entropy: ``"0123456789abcdef"`` passes. Keep it secret and keep it stable: the same key gives the
same hash in every table, so anonymized tables still join; a new key breaks those joins.
"""

from __future__ import annotations

import os
from pathlib import Path

from lacuna import keyfile
from lacuna.config import Config, lacuna_home
from lacuna.errors import ConfigError
from lacuna.keystore import Key, KeyRef, keystore_for

KEY_ID = "anonymize"
KEY_FILENAME = f"{KEY_ID}.key"
KEY_BYTES = keyfile.KEY_BYTES
MIN_KEY_BYTES = 16  # 128 bits: never guessed by trying keys
# A random 16-byte key has fewer than 8 distinct bytes with probability about 1e-12; a key that
# repeats one or a few characters ("k" * 16, 32 zero bytes, "abababab...") is one a person typed.
MIN_DISTINCT_BYTES = 8


def key_path() -> Path:
    return lacuna_home() / KEY_FILENAME


def as_key(key: bytes | str, where: str = "the key= argument") -> bytes:
    """A key given by the caller (text is UTF-8 encoded).

    Raises:
        ConfigError: the key is empty, or guessable (:func:`check_key`).
    """
    raw = key.encode("utf-8") if isinstance(key, str) else bytes(key)
    if not raw:
        msg = "the anonymization key is empty. Pass a non-empty key, or omit it to use the default."
        raise ConfigError(msg)
    return check_key(raw, where)


def check_key(raw: bytes, where: str, *, fix: str = "") -> bytes:
    """``raw`` when it may key a pseudonym: at least :data:`MIN_KEY_BYTES` bytes, of at least
    :data:`MIN_DISTINCT_BYTES` distinct values.

    Raises:
        ConfigError: a shorter key, or one of too few distinct bytes (it says where it came from
            and how to make a random one).
    """
    fix = fix or ("Omit it to use the key store's random key, or use a random one (python -c "
                  "'import secrets; print(secrets.token_hex(16))').")
    if len(raw) < MIN_KEY_BYTES:
        msg = (f"the anonymization key from {where} is {len(raw)} bytes; at least "
               f"{MIN_KEY_BYTES} are needed: a short key can be guessed, and with it every hash "
               f"reversed by hashing candidate values. {fix} Nothing was anonymized.")
        raise ConfigError(msg)
    distinct = len(set(raw))
    if distinct < MIN_DISTINCT_BYTES:
        msg = (f"the anonymization key from {where} has only {distinct} distinct byte values "
               f"(at least {MIN_DISTINCT_BYTES} are needed): a key that repeats a few characters "
               "is guessed at once, and with it every pseudonym reversed by trying candidate "
               f"values. {fix} Nothing was anonymized.")
        raise ConfigError(msg)
    return raw


def checked(key: Key) -> Key:
    """``key`` from the key store, refused when guessable (:func:`check_key`): its file or
    variable is as writable as ``lacuna.yaml``."""
    from lacuna.keystore import EnvKeyBackend

    ref = key.ref
    if ref.backend == "env":
        where = f"${EnvKeyBackend().variable(ref.id, ref.version)}"
        fix = ("Set it to 64 random hex digits (python -c 'import secrets; "
               "print(secrets.token_hex(32))').")
    elif ref.backend == "file":
        where = f"the key file {ref.id}.key (version {ref.version})"
        fix = (f"Make a random current version: keystore_for(config).rotate({ref.id!r}) "
               "(earlier versions stay readable).")
    else:
        where = f"the {ref.backend} key store ({ref.id} v{ref.version})"
        fix = f"Replace {ref.id} with a random key in that key store."
    check_key(key.material, where, fix=fix)
    return key


def resolve_key(key: bytes | str | None, config: Config) -> bytes:
    """The key by the order in the module docstring; creates the key file when it is needed."""
    return resolve(key, config).material


def resolve(key: bytes | str | None, config: Config) -> Key:
    """The key and where it came from (recorded on each hashed column)."""
    if key is not None:
        return Key(KeyRef(KEY_ID, 0, "argument"), as_key(key))
    env = os.environ.get(config.anonymize.key_env)
    if env:
        return Key(KeyRef(KEY_ID, 0, f"${config.anonymize.key_env}"),
                   as_key(env, f"${config.anonymize.key_env}"))
    return checked(keystore_for(config).current(KEY_ID))


def load_or_create_key(path: Path, *, env_name: str = "LACUNA_ANONYMIZE_KEY") -> bytes:
    """Read the key file, or create it (mode 0600) without ever replacing an existing one."""
    return keyfile.load_or_create_key(path, what="anonymization key", env_name=env_name)
