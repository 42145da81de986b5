"""The secret key behind the ``hash`` strategy, and where it comes from.

First match wins:

1. the ``key`` argument of :func:`lacuna.anonymize.anonymize`;
2. the environment variable named by ``anonymize.key_env`` in ``lacuna.yaml``
   (``LACUNA_ANONYMIZE_KEY`` by default);
3. ``$LACUNA_HOME/anonymize.key``: 32 random bytes (hex), generated on first use with mode 0600.

The key makes the hash a keyed HMAC: without it nobody can hash candidate values (every e-mail
address of a leaked list, every phone number) to look the hashed ones up. Keep it secret and keep
it stable: the same key gives the same hash in every table, so anonymized tables still join; a new
key breaks those joins.
"""

from __future__ import annotations

import logging
import os
import secrets
import stat
from pathlib import Path

from lacuna.config import Config, lacuna_home
from lacuna.errors import ConfigError

log = logging.getLogger(__name__)

KEY_FILENAME = "anonymize.key"
KEY_BYTES = 32


def key_path() -> Path:
    return lacuna_home() / KEY_FILENAME


def as_key(key: bytes | str) -> bytes:
    """A key given by the caller (text is UTF-8 encoded). Raises ConfigError when empty."""
    raw = key.encode("utf-8") if isinstance(key, str) else bytes(key)
    if not raw:
        msg = "the anonymization key is empty. Pass a non-empty key, or omit it to use the default."
        raise ConfigError(msg)
    return raw


def resolve_key(key: bytes | str | None, config: Config) -> bytes:
    """The key by the order in the module docstring; creates the key file when it is needed."""
    if key is not None:
        return as_key(key)
    env = os.environ.get(config.anonymize.key_env)
    if env:
        return as_key(env)
    return load_or_create_key(key_path(), env_name=config.anonymize.key_env)


def load_or_create_key(path: Path, *, env_name: str = "LACUNA_ANONYMIZE_KEY") -> bytes:
    """Read the key file, or create it (mode 0600) without ever replacing an existing one."""
    if not path.exists():
        _create(path, env_name)
    try:
        text = path.read_text(encoding="ascii").strip()
        key = bytes.fromhex(text)
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        msg = (f"cannot read the anonymization key {path} ({exc.__class__.__name__}). It must hold "
               f"{KEY_BYTES * 2} hex digits. Restore it from a backup (hashes made with another "
               f"key will not match), or set ${env_name}.")
        raise ConfigError(msg) from None
    if not key:
        msg = f"the anonymization key file {path} is empty. Restore it, or delete it to start anew."
        raise ConfigError(msg)
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        log.warning("the anonymization key %s is readable by other users (mode %o); "
                    "run: chmod 600 %s", path, mode, path)
    return key


def _create(path: Path, env_name: str) -> None:
    # Write a private temporary file, then link it into place: link() fails if another process
    # created the key meanwhile, so two processes never end up with different keys.
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w", encoding="ascii") as fh:
                fh.write(secrets.token_hex(KEY_BYTES) + "\n")
                fh.flush()
                os.fsync(fh.fileno())
            try:
                os.link(tmp, path)
                log.info("generated a new anonymization key in %s", path)
            except FileExistsError:
                pass
        finally:
            tmp.unlink(missing_ok=True)
    except OSError as exc:
        msg = (f"cannot create the anonymization key {path} ({exc.strerror}). Make "
               f"{path.parent} writable, or set ${env_name}.")
        raise ConfigError(msg) from exc
