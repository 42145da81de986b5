"""Secret key files: created once (mode 0600, never replaced), read back strictly.

One mechanism behind every key Lacuna keeps on disk: the anonymization key
(:mod:`lacuna.anonymize.keys`) and the signing key (:mod:`lacuna.signing`).
"""

from __future__ import annotations

import logging
import secrets
import stat
from pathlib import Path

from lacuna._files import link_new
from lacuna.errors import ConfigError

log = logging.getLogger(__name__)

KEY_BYTES = 32


def load_or_create_key(path: Path, *, what: str, env_name: str) -> bytes:
    """Read the hex key in ``path``, or create it (mode 0600) without replacing an existing one.

    Args:
        path: the key file.
        what: what the key is for, in messages ("anonymization key").
        env_name: the environment variable that can supply the key instead, in messages.

    Raises:
        ConfigError: the file cannot be created or read, does not hold hex digits, or other
            users can read or change it (group or other permission bits set).
    """
    if not path.exists():
        _create(path, what=what, env_name=env_name)
    try:
        text = path.read_text(encoding="ascii").strip()
        key = bytes.fromhex(text)
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        msg = (f"cannot read the {what} {path} ({exc.__class__.__name__}). It must hold "
               f"{KEY_BYTES * 2} hex digits. Restore it from a backup, or set ${env_name}.")
        raise ConfigError(msg) from None
    if not key:
        msg = f"the {what} file {path} is empty. Restore it, or delete it to start anew."
        raise ConfigError(msg)
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:  # as ssh refuses a private key others can read (and the key store does)
        msg = (f"refusing the {what} {path}: other users can read or change it (mode "
               f"{mode:o}), and whoever holds it can sign as this installation. Run: chmod 600 "
               f"{path} (or set ${env_name})")
        raise ConfigError(msg)
    return key


def _create(path: Path, *, what: str, env_name: str) -> None:
    # Written aside, then linked into place: if another process created the key meanwhile,
    # both read that one, so two processes never end up with different keys.
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        key = (secrets.token_hex(KEY_BYTES) + "\n").encode("ascii")
        if link_new(path, key, mode=0o600):
            log.info("generated a new %s in %s", what, path)
    except OSError as exc:
        msg = (f"cannot create the {what} {path} ({exc.strerror}). Make "
               f"{path.parent} writable, or set ${env_name}.")
        raise ConfigError(msg) from exc
