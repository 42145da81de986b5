"""Key rotation for governed storage: re-wrap every sealed file's data key with the current key
version, without rewriting any payload.

``lacuna keys rotate storage`` adds a key version (new files use it; old ones stay readable
with the version that wrapped them); ``lacuna storage rewrap [ROOT]`` then moves every sealed
file under the governed roots to the current version, in place (two key slots: the new wrap is
written and synced before the old one is blanked). A file's signed sidecar binds its sealed
header and last tag, which a re-wrap leaves as they are; one signed before that (binding the
file's bytes) and trusted before the re-wrap is signed again after it, with the write time it
declared (retention counts from it: a re-wrap must not restart a file's retention), unless a
write replaced the file meanwhile (never signed over the new file).
The re-wrap writes the file in place, which moves its modification time: the records of a file
written under an exception move with it (:func:`lacuna.exceptions.appends.follow`), so the
sweep still deletes it when the exception ends.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lacuna.errors import ConfigError, LacunaError
from lacuna.exceptions import appends
from lacuna.keystore import KeyRef, KeyStore, keystore_for
from lacuna.lineage import sidecar as sc
from lacuna.storage.sealed import is_sealed, rewrap

if TYPE_CHECKING:
    from lacuna.governor import Governor


@dataclass(frozen=True, slots=True)
class Rewrapped:
    """One sealed file: the key that wrapped its data key before and after, or the error."""

    path: str
    before: KeyRef | None
    after: KeyRef | None
    error: str | None = None

    @property
    def changed(self) -> bool:
        return self.error is None and self.before != self.after


def local_roots(gov: Governor) -> tuple[Path, ...]:
    """The governed roots of the configuration that are local folders, and retention's
    ``archive_dir`` when it lies outside them: archived files stay sealed with the key that
    sealed them, so re-wrapping, retiring a key version and making a new key must see them
    (a retirement that did not crypto-shredded the archive).

    Raises:
        ConfigError: the ``retention:`` section is invalid (its archive is not known).
    """
    from lacuna.retention.api import settings_of

    roots = [Path(os.path.expanduser(r)) for r in gov.config.destinations.governed
             if "://" not in r and r.strip()]
    archive = settings_of(gov.config).archive_dir
    if archive and "://" not in archive:
        where = os.path.realpath(os.path.expanduser(archive))
        if not any(where == (top := os.path.realpath(r)) or where.startswith(top + os.sep)
                   for r in roots):
            roots.append(Path(os.path.expanduser(archive)))
    return tuple(roots)


def sealed_files(roots: Iterable[Path], vanished: list[Path] | None = None) -> Iterator[Path]:
    """Every sealed file under ``roots`` (sorted, symlinks not followed). ``vanished``: where
    to list the files the walk found but that were gone when they were looked at (a sealed
    write in flight renames its temporary file into place: the walk may see neither name as a
    sealed file), and the folders it could not list (no permission to read them, a path longer
    than the system allows), which may hold sealed files: ``keys retire`` counted none in
    them and destroyed the only key that opened them."""
    def unlisted(problem: OSError) -> None:
        if vanished is not None and not isinstance(problem, FileNotFoundError):
            vanished.append(Path(os.fsdecode(problem.filename or root)))

    for root in roots:
        if root.is_file():
            if is_sealed(root):
                yield root
            continue
        for folder, _, names in sorted(os.walk(root, onerror=unlisted)):
            for name in sorted(names):
                path = Path(folder) / name
                if path.is_symlink():
                    continue
                if is_sealed(path):
                    yield path
                elif vanished is not None and not os.path.lexists(path):
                    vanished.append(path)


def rewrap_files(gov: Governor, roots: Iterable[Path]) -> list[Rewrapped]:
    """Re-wrap every sealed file under ``roots`` with the current version of
    ``storage.key_id``; a file that fails is reported, the others go on."""
    keystore = keystore_for(gov.config)
    key_id = gov.config.storage.key_id
    done = []
    for path in sealed_files(roots):
        try:
            trusted = _trusted(path)
            held = appends.holders(gov, path)  # written under an exception: see below
            node = _node(path)
            before, after = rewrap(path, keystore, key_id=key_id)
            if held:  # the re-wrap moved its modification time: the records follow the file
                appends.follow(gov, held, path)
            # Signed again only when the re-wrap made it stale (a sidecar binding the file's
            # bytes, from before sidecars bound the sealed header), and only over the file
            # that was re-wrapped: a write that replaced it meanwhile (its own sidecar not
            # signed yet) would otherwise get this file's class and clock, signed: read at the
            # old class, deleted by the old clock
            if (trusted is not None and before != after and _trusted(path) is None
                    and _node(path) == node):
                sc.write_sidecar(path, trusted.classification, sources=trusted.sources,
                                 written_by=trusted.written_by, run_id=trusted.run_id,
                                 written_at=trusted.written_at, combined=trusted.combined,
                                 first_seen=trusted.first_seen)
            done.append(Rewrapped(str(path), before, after))
        except (LacunaError, OSError) as exc:
            done.append(Rewrapped(str(path), None, None, error=str(exc)))
    return done


def wrapped_only_by(roots: Iterable[Path], key_id: str, version: int,
                    live: Callable[[str], Iterable[int]], *,
                    keystore: KeyStore | None = None) -> list[Path]:
    """The sealed files under ``roots`` that only version ``version`` of ``key_id`` opens
    (no other key slot holds a version ``live(key id)`` still has: a slot of a retired or
    missing version opens nothing): what retiring it would make unreadable. With
    ``keystore``, another slot counts only when it does unwrap the file's data key: a slot
    that merely names a live version (written by hand into the free slot by someone who owns
    the files, not the key) would otherwise let the retirement destroy the only key that
    opens the file. A file that cannot be read is counted (fail closed), and so is a file that
    vanished while the roots were walked: a sealed write renaming its temporary file into
    place, which may be wrapped by that version (the retirement is refused; run it again), and
    a folder the walk could not list (what it holds is not known)."""
    from lacuna.storage.sealed import unwrapping_keys, wrapping_keys

    versions: dict[str, set[int]] = {}  # read once per key id, not once per file
    found: list[Path] = []
    vanished: list[Path] = []
    for path in sealed_files(roots, vanished):
        try:
            keys = (wrapping_keys(path) if keystore is None
                    else unwrapping_keys(path, keystore))
            others = [k for k in keys if (k.id, k.version) != (key_id, version)
                      and k.version in versions.setdefault(k.id, set(live(k.id)))]
        except (LacunaError, OSError):
            found.append(path)
            continue
        if not others:
            found.append(path)
    return found + vanished


def _node(path: Path) -> tuple[int, int] | None:
    """The device and inode ``path`` names now (None: nothing there)."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def _trusted(path: Path) -> sc.Sidecar | None:
    try:
        found = sc.read_sidecar(path)
    except sc.SidecarError:
        return None
    return found if found is not None and found.trusted else None


def audit_event(gov: Governor, event: str, detail: dict[str, Any], *,
                allowed: bool = True) -> None:
    """Key management on the audit trail: who rotated a key or re-wrapped files, and when.
    Raises AuditError when it cannot be recorded (the command then fails loudly)."""
    from lacuna.audit.record import event_body

    gov.audit.record_event(event_body(
        "storage", user=gov.config.user, session=gov.session,
        what={"action": "key_management", "event": event}, allowed=allowed,
        reasoning=f"governed storage: {event}", detail=detail))


def check_roots(roots: Iterable[Path]) -> tuple[Path, ...]:
    out = tuple(roots)
    missing = [str(r) for r in out if not r.exists()]
    if missing:
        msg = (f"no such governed root: {', '.join(missing)}. Pass a folder under "
               "destinations.governed, or none for all of them.")
        raise ConfigError(msg)
    return out
