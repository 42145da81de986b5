"""Which paths of a governed mount are governed storage and which are outside it.

The model, in one rule: **a path in the mount is the destination its backing path is.** The
mount adds two roots to the configuration's ``destinations`` (:mod:`lacuna.destinations`):

- SOURCE itself is a governed root: writing anywhere in the mount keeps data in governed
  storage (in-place work), unless a more specific root in ``lacuna.yaml`` says otherwise;
- each *outside* folder (``outbox/`` by default, ``--outside`` to choose) is an unmanaged root:
  the mount's exit. A file put there leaves governance (a sync client, a share, a mail
  gateway picks it up), so writing it is an ``export`` decided on its content.

The most specific root wins, as everywhere in Lacuna, so ``SOURCE/outbox`` is outside although
SOURCE is governed, and a ``destinations.governed`` entry for ``SOURCE/outbox/reviewed`` would
make that sub-folder governed again. Why this model: one visible folder is the only way out,
users see it in ``ls``, and the decision uses the same destination rules and policies as a
pandas ``to_csv`` to the same place.

Lacuna keeps its own working files in ``SOURCE/.lacuna-staging`` (outside writes wait there
until they are decided); that folder is hidden from the mount.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from lacuna.config import Config
from lacuna.errors import IntegrationError

STAGING = ".lacuna-staging"
DEFAULT_OUTSIDE = ("outbox",)


@dataclass(frozen=True, slots=True)
class MountLayout:
    """A mount's folders: SOURCE (resolved), the mount point, the outside folders (relative)."""

    source: str
    mountpoint: str
    outside: tuple[str, ...] = DEFAULT_OUTSIDE

    @classmethod
    def of(cls, source: str | os.PathLike[str], mountpoint: str | os.PathLike[str],
           outside: tuple[str, ...] = DEFAULT_OUTSIDE) -> MountLayout:
        """Validate the folders (the edge): SOURCE a folder, the mount point an empty folder
        outside SOURCE, each outside folder a relative path inside SOURCE."""
        src = os.path.realpath(os.fspath(source))
        mnt = os.path.realpath(os.fspath(mountpoint))
        if not os.path.isdir(src):
            msg = f"cannot mount {src!r}: it is not a folder. Pass the data folder to govern."
            raise IntegrationError(msg)
        if not os.path.isdir(mnt):
            msg = f"mount point {mnt!r} is not a folder; create it first (mkdir -p {mnt})."
            raise IntegrationError(msg)
        if mnt == src or mnt.startswith(src.rstrip("/") + "/"):
            msg = (f"mount point {mnt!r} is inside SOURCE {src!r}: the mount would contain "
                   "itself. Choose a mount point outside the data folder.")
            raise IntegrationError(msg)
        if os.path.ismount(mnt) or os.listdir(mnt):
            msg = (f"mount point {mnt!r} is not empty or already mounted; unmount it "
                   f"(lacuna unmount {mnt}) or choose an empty folder.")
            raise IntegrationError(msg)
        names = tuple(_relative(o) for o in outside)
        return cls(source=src, mountpoint=mnt, outside=names)

    def backing(self, path: str) -> str:
        """The file in SOURCE behind a mount path (``/a/b.csv`` as FUSE names it)."""
        return os.path.join(self.source, path.lstrip("/"))

    def hidden(self, path: str) -> bool:
        """Lacuna's own staging folder: not visible, not writable through the mount."""
        head = path.lstrip("/").split("/", 1)[0]
        return head == STAGING

    @property
    def staging(self) -> str:
        return os.path.join(self.source, STAGING)

    def outside_roots(self) -> tuple[str, ...]:
        return tuple(os.path.join(self.source, o) for o in self.outside)


def _relative(name: str) -> str:
    text = name.strip().strip("/")
    parts = text.split("/")
    if not text or any(p in ("", ".", "..") for p in parts) or parts[0] == STAGING:
        msg = (f"outside folder {name!r} must be a relative folder inside SOURCE, e.g. "
               "'outbox' or 'exports/partners' (no '..', not the staging folder).")
        raise IntegrationError(msg)
    return text


def mount_config(config: Config, layout: MountLayout) -> Config:
    """``config`` with SOURCE as a governed root and the outside folders as unmanaged roots."""
    dest = config.destinations
    governed = (*dest.governed, layout.source.rstrip("/") + "/")
    unmanaged = (*dest.unmanaged, *layout.outside_roots())
    return config.model_copy(update={
        "destinations": dest.model_copy(update={"governed": governed, "unmanaged": unmanaged}),
    })
