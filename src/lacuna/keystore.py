"""One key store for every secret key of the privacy transforms: HMAC (``hash``), FPE (``fpe``)
and encryption (the ``tokenize`` vault).

Keys are named (``anonymize``, ``fpe``, ``vault``) and **versioned**: every key id has versions
1, 2, ...; the highest is the current one. Outputs record the key id and version they were made
with (in the column's reasoning and evidence), so after :meth:`KeyStore.rotate` new outputs use
the new version and old tokens and FPE values stay resolvable with the old one.

Backends are plug-ins (:class:`KeyBackend`, registry :data:`backends`):

- ``file`` (default): ``$LACUNA_HOME/<id>.key`` (or ``anonymize.key_dir``), one line per
  version, ``<version> <hex>``; a file holding a bare hex line is version 1 (the old
  ``anonymize.key``). Created on first use with mode 0600; a key file that other users can read
  is refused (ConfigError with the ``chmod 600`` fix); a rotation holds an ``flock`` on the
  key folder, so rotations in two processes each add a version (none is overwritten);
- ``env``: ``$LACUNA_KEY_<ID>`` (version 1) and ``$LACUNA_KEY_<ID>_V<n>`` (version n), hex or
  text; read only, rotate by setting the next variable;
- your own (a KMS): subclass :class:`KeyBackend`, ``@backends.register("kms")``, set
  ``anonymize.keystore: kms``.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import secrets
import stat
import threading
import weakref
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from lacuna._registry import Registry
from lacuna.errors import ConfigError, StorageError

if TYPE_CHECKING:
    from lacuna.config import Config

KEY_BYTES = 32  # 256 bits: AES-256 for FPE and the vault, HMAC-SHA256
_ID = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")


@dataclass(frozen=True, slots=True)
class KeyRef:
    """Which key made an output: ``anonymize v2`` (``backend`` says where it lives)."""

    id: str
    version: int
    backend: str = "file"

    def __str__(self) -> str:
        if self.version == 0:  # not from the store: given by the caller or an env variable
            return f"key {self.id} from {self.backend}"
        return f"key {self.id} v{self.version} ({self.backend})"


@dataclass(frozen=True, slots=True)
class Key:
    """A key's material and where it comes from. ``repr`` never shows the material."""

    ref: KeyRef
    material: bytes = field(repr=False)

    @property
    def hex(self) -> str:
        return self.material.hex()


def check_key_id(key_id: str) -> str:
    if not _ID.match(key_id):
        msg = (f"invalid key id {key_id!r}: use lower-case letters, digits, '-' and '_', "
               "starting with a letter (e.g. 'fpe', 'vault').")
        raise ConfigError(msg)
    return key_id


class KeyBackend(ABC):
    """Where keys live. ``versions`` lists what exists; ``get`` reads one; ``rotate`` adds one."""

    name: str = ""

    @abstractmethod
    def versions(self, key_id: str) -> tuple[int, ...]:
        """The versions of ``key_id``, ascending; empty when the key does not exist yet."""

    @abstractmethod
    def get(self, key_id: str, version: int) -> bytes:
        """The material of one version. Raises ConfigError when it does not exist."""

    @abstractmethod
    def create(self, key_id: str) -> None:
        """Create version 1 when ``key_id`` has no version (never replaces one)."""

    @abstractmethod
    def rotate(self, key_id: str) -> int:
        """Add a new current version and return its number; old versions stay readable."""

    def retired(self, key_id: str) -> dict[int, str]:  # noqa: ARG002 - for overrides
        """The retired versions of ``key_id`` and when each was retired."""
        return {}

    def retire(self, key_id: str, version: int) -> None:
        """Destroy one old version's material (crypto-shredding: what it alone wrapped or made
        can no longer be opened). Backends that cannot say so refuse."""
        msg = (f"the {self.name} key store cannot retire key {key_id!r} v{version} itself: "
               "remove that version where the key lives.")
        raise ConfigError(msg)


backends = Registry[type[KeyBackend]](kind="key store backend")


class KeyStore:
    """Versioned keys from one backend; the current version of each id is cached per store."""

    def __init__(self, backend: KeyBackend) -> None:
        self.backend = backend
        self._cache: dict[tuple[str, int], bytes] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_config(cls, config: Config) -> KeyStore:
        name = config.anonymize.keystore
        impl = backends.get(name)
        if impl is FileKeyBackend:
            folder = config.anonymize.key_dir
            return cls(FileKeyBackend(Path(folder).expanduser() if folder else None))
        return cls(impl())

    def current(self, key_id: str) -> Key:
        """The newest version of ``key_id``, created (file backend) on first use."""
        check_key_id(key_id)
        versions = self.backend.versions(key_id)
        if not versions:
            self.backend.create(key_id)
            versions = self.backend.versions(key_id)
        if not versions:
            msg = f"no key {key_id!r} in the {self.backend.name} key store."
            raise ConfigError(msg)
        return self.get(key_id, versions[-1])

    def get(self, key_id: str, version: int) -> Key:
        """One version of ``key_id`` (old ones stay readable after rotation)."""
        check_key_id(key_id)
        with self._lock:
            material = self._cache.get((key_id, version))
        if material is None:
            material = self.backend.get(key_id, version)
            if not material:
                msg = f"key {key_id!r} v{version} is empty in the {self.backend.name} key store."
                raise ConfigError(msg)
            with self._lock:
                self._cache[(key_id, version)] = material
        return Key(KeyRef(key_id, version, self.backend.name), material)

    def rotate(self, key_id: str) -> Key:
        """A new current version of ``key_id``; outputs made with older versions stay resolvable."""
        check_key_id(key_id)
        if not self.backend.versions(key_id):
            self.backend.create(key_id)
        version = self.backend.rotate(key_id)
        return self.get(key_id, version)

    def retire(self, key_id: str, version: int) -> None:
        """Destroy version ``version`` of ``key_id`` (never the current one): what only it
        wrapped or made can no longer be opened, and reading it says it was retired.

        Raises:
            ConfigError: no such version, the current one, or a backend that cannot retire.
        """
        self.check_retirable(key_id, version)
        self.backend.retire(key_id, version)
        with self._lock:
            self._cache.pop((key_id, version), None)

    def check_retirable(self, key_id: str, version: int) -> None:
        """Raise ConfigError unless ``version`` is an old, live version of ``key_id``."""
        check_key_id(key_id)
        versions = self.backend.versions(key_id)
        if version not in versions:
            have = ", ".join(f"v{v}" for v in versions) or "none"
            msg = f"key {key_id!r} has no version {version} to retire (versions: {have})."
            raise ConfigError(msg)
        if version == versions[-1]:
            msg = (f"key {key_id!r} v{version} is the current version: rotate first "
                   f"(lacuna keys rotate {key_id}), move what it wraps to the new one, then "
                   "retire it.")
            raise ConfigError(msg)


# -- file backend -------------------------------------------------------------------------------


@backends.register("file")
class FileKeyBackend(KeyBackend):
    """``<folder>/<id>.key``: lines ``<version> <hex>``; mode 0600, refused when looser."""

    name = "file"

    def __init__(self, folder: Path | None = None) -> None:
        self._folder = folder
        self._lock = threading.Lock()

    @property
    def folder(self) -> Path:
        if self._folder is not None:
            return self._folder
        from lacuna.config import lacuna_home

        return lacuna_home()

    def path(self, key_id: str) -> Path:
        return self.folder / f"{key_id}.key"

    def _read(self, key_id: str) -> dict[int, bytes]:
        return self._read_all(key_id)[0]

    def _read_all(self, key_id: str) -> tuple[dict[int, bytes], dict[int, str]]:
        """The live versions' material, and the retired versions with when they were."""
        path = self.path(key_id)
        if not path.exists():
            return {}, {}
        try:
            mode = stat.S_IMODE(path.stat().st_mode)
            text = path.read_text(encoding="ascii")
        except (OSError, UnicodeDecodeError) as exc:
            msg = (f"cannot read the key file {path} ({exc.__class__.__name__}). Restore it "
                   "from a backup, or use the env key store (anonymize.keystore: env).")
            raise ConfigError(msg) from None
        if mode & 0o077:
            msg = (f"refusing the key file {path}: other users can read it (mode {mode:o}). "
                   f"Run: chmod 600 {path}")
            raise ConfigError(msg)
        return _parse_key_lines(text, path)

    def versions(self, key_id: str) -> tuple[int, ...]:
        return tuple(sorted(self._read(key_id)))

    def retired(self, key_id: str) -> dict[int, str]:
        return self._read_all(key_id)[1]

    def get(self, key_id: str, version: int) -> bytes:
        keys, retired = self._read_all(key_id)
        if version in retired:
            msg = (f"key {key_id!r} v{version} was retired ({retired[version]}): what only it "
                   "wrapped or made cannot be opened any more.")
            raise ConfigError(msg)
        if version not in keys:
            have = ", ".join(f"v{v}" for v in sorted(keys)) or "none"
            msg = (f"key {key_id!r} has no version {version} in {self.path(key_id)} "
                   f"(versions: {have}). Restore the key file that made these values.")
            raise ConfigError(msg)
        return keys[version]

    def create(self, key_id: str) -> None:
        path = self.path(key_id)
        if path.exists():
            return
        self._publish(path, f"1 {secrets.token_hex(KEY_BYTES)}\n", replace=False)

    def rotate(self, key_id: str) -> int:
        path = self.path(key_id)
        with self._lock, _exclusive(path.parent):
            keys, retired = self._read_all(key_id)  # under the lock: another's rotation kept
            version = max((*keys, *retired), default=0) + 1  # a retired number is never reused
            self._publish(path, _key_lines(keys, retired, (version, secrets.token_bytes(
                KEY_BYTES))), replace=True)
        return version

    def retire(self, key_id: str, version: int) -> None:
        """Replace the version's line by ``<version> retired <when>``: its material is gone,
        its number is never reused, and reading it says it was retired."""
        from lacuna.model import utcnow

        path = self.path(key_id)
        with self._lock, _exclusive(path.parent):
            keys, retired = self._read_all(key_id)
            if version not in keys:
                msg = f"key {key_id!r} has no version {version} in {path} to retire."
                raise ConfigError(msg)
            del keys[version]
            retired[version] = utcnow().isoformat(timespec="seconds")
            self._publish(path, _key_lines(keys, retired), replace=True)

    @staticmethod
    def _publish(path: Path, text: str, *, replace: bool) -> None:
        # A private temporary file linked (create: never replaces another process's key) or
        # renamed (rotate) into place, so readers never see a half-written file.
        try:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                with os.fdopen(fd, "w", encoding="ascii") as fh:
                    fh.write(text)
                    fh.flush()
                    os.fsync(fh.fileno())
                if replace:
                    os.replace(tmp, path)
                else:
                    with contextlib.suppress(FileExistsError):
                        os.link(tmp, path)
            finally:
                tmp.unlink(missing_ok=True)
        except OSError as exc:
            msg = (f"cannot write the key file {path} ({exc.strerror}). Make {path.parent} "
                   "writable, set anonymize.key_dir, or use the env key store.")
            raise ConfigError(msg) from exc


@contextlib.contextmanager
def _exclusive(folder: Path) -> Iterator[None]:
    """An exclusive ``flock`` on the key folder itself for the block (no lock file is left
    beside the keys): rotations in other processes wait, so two never write the same version
    number with different keys (one would be lost, and the files sealed with it unreadable).
    Fails closed (ConfigError) when it cannot be taken."""
    fd = -1
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(folder, os.O_RDONLY)
        fcntl.flock(fd, fcntl.LOCK_EX)
    except OSError as exc:
        if fd >= 0:
            os.close(fd)
        msg = (f"cannot lock the key folder {folder} for a rotation ({exc.strerror}); nothing "
               "was rotated. Set anonymize.key_dir to a local folder you own, or use the env "
               "key store.")
        raise ConfigError(msg) from exc
    try:
        yield
    finally:
        os.close(fd)  # releases the lock


def _key_lines(keys: dict[int, bytes], retired: dict[int, str],
               new: tuple[int, bytes] | None = None) -> str:
    """A key file's text: ``<version> <hex>`` per live version, ``<version> retired <when>``
    per retired one, in version order."""
    lines = {v: f"{v} {k.hex()}" for v, k in keys.items()}
    lines.update({v: f"{v} retired {when}" for v, when in retired.items()})
    if new is not None:
        lines[new[0]] = f"{new[0]} {new[1].hex()}"
    return "".join(f"{lines[v]}\n" for v in sorted(lines))


def _parse_key_lines(text: str, path: Path) -> tuple[dict[int, bytes], dict[int, str]]:
    keys: dict[int, bytes] = {}
    retired: dict[int, str] = {}
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        msg = f"the key file {path} is empty. Restore it from a backup, or delete it to start anew."
        raise ConfigError(msg)
    for n, line in enumerate(lines, 1):
        parts = line.split()
        try:
            if len(parts) == 1 and len(lines) == 1:  # the old format: one bare hex key
                keys[1] = bytes.fromhex(parts[0])
            elif len(parts) == 2:
                keys[int(parts[0])] = bytes.fromhex(parts[1])
            elif len(parts) == 3 and parts[1] == "retired":
                retired[int(parts[0])] = parts[2]
            else:
                raise ValueError(line)
        except ValueError:
            msg = (f"cannot read the key file {path}, line {n}: expected '<version> <hex>' "
                   f"({KEY_BYTES * 2} hex digits) or '<version> retired <when>'. Restore it "
                   "from a backup.")
            raise ConfigError(msg) from None
    if any(not k for k in keys.values()):
        msg = f"the key file {path} holds an empty key. Restore it from a backup."
        raise ConfigError(msg)
    if set(keys) & set(retired):
        msg = (f"the key file {path} holds version(s) "
               f"{', '.join(str(v) for v in sorted(set(keys) & set(retired)))} both live and "
               "retired. Restore it from a backup.")
        raise ConfigError(msg)
    return keys, retired


# -- env backend --------------------------------------------------------------------------------


@backends.register("env")
class EnvKeyBackend(KeyBackend):
    """``$LACUNA_KEY_<ID>`` (v1) and ``$LACUNA_KEY_<ID>_V<n>``; hex, else the text's UTF-8."""

    name = "env"
    prefix = "LACUNA_KEY_"

    def variable(self, key_id: str, version: int) -> str:
        base = self.prefix + re.sub(r"[^A-Z0-9]", "_", key_id.upper())
        return base if version == 1 else f"{base}_V{version}"

    def versions(self, key_id: str) -> tuple[int, ...]:
        found = []
        version = 1
        while os.environ.get(self.variable(key_id, version)):
            found.append(version)
            version += 1
        return tuple(found)

    def get(self, key_id: str, version: int) -> bytes:
        value = os.environ.get(self.variable(key_id, version), "")
        if not value:
            msg = (f"key {key_id!r} v{version} is not set: set ${self.variable(key_id, version)} "
                   f"to {KEY_BYTES * 2} hex digits.")
            raise ConfigError(msg)
        try:
            return bytes.fromhex(value)
        except ValueError:
            return value.encode("utf-8")

    def create(self, key_id: str) -> None:
        if not self.versions(key_id):
            msg = (f"no key {key_id!r} in the environment: set ${self.variable(key_id, 1)} to "
                   f"{KEY_BYTES * 2} hex digits (python -c 'import secrets; "
                   "print(secrets.token_hex(32))').")
            raise ConfigError(msg)

    def rotate(self, key_id: str) -> int:
        nxt = len(self.versions(key_id)) + 1
        msg = (f"the env key store cannot rotate keys itself: set ${self.variable(key_id, nxt)} "
               "to a new key; it becomes the current version.")
        raise ConfigError(msg)


_DEFAULT: dict[tuple[str, str | None], KeyStore] = {}
_DEFAULT_LOCK = threading.Lock()


def keystore_for(config: Config) -> KeyStore:
    """The key store ``config`` names, one per (backend, folder) in this process."""
    from lacuna.config import lacuna_home

    folder = config.anonymize.key_dir or str(lacuna_home())
    ident = (config.anonymize.keystore, folder)
    with _DEFAULT_LOCK:
        store = _DEFAULT.get(ident)
        if store is None:
            store = _DEFAULT[ident] = KeyStore.from_config(config)
    return store


# Key stores seen to open the files they seal, by what the files are (governed storage, files
# under exceptions), key id and versions: checked once per process (a key store's material is
# cached for the process's life, :class:`KeyStore`)
_OPENS: weakref.WeakKeyDictionary[KeyStore, set[tuple[str, str, tuple[int, ...]]]] = (
    weakref.WeakKeyDictionary())


def refuse_another_key_store(keystore: KeyStore, key_id: str, versions: tuple[int, ...],
                             kind: str, sealed: Iterable[tuple[str, bool]],
                             refusal: Callable[[str], str]) -> None:
    """Before sealing with ``key_id`` of ``keystore`` (its ``versions`` now): ``sealed`` yields
    the files of ``kind`` sealed with ``key_id`` and whether this key store opens each, read
    lazily (the first it opens ends the look). When there are such files and it opens none,
    it is not the key store that sealed them: a configuration pointed at a key folder (or
    environment) whose key its owner knows or would have made (``anonymize.key_dir``,
    ``anonymize.keystore``), and what it sealed would open without Lacuna, off the audit
    trail. Raises :class:`StorageError` with ``refusal(one such file)`` then. A key store
    that opens one (any version: a rotated one seals with a version nothing was wrapped by
    yet) is remembered for the process."""
    seen = _OPENS.setdefault(keystore, set())
    done = (kind, key_id, versions)
    if done in seen:
        return
    example: str | None = None
    for path, opens in sealed:
        if opens:
            break
        example = example or path
    else:
        if example is not None:
            raise StorageError(refusal(example))
    seen.add(done)
