"""The governed mount: a FUSE file system over a data folder (``lacuna mount``).

Every open-for-read and every write/close through the mount is an Operation through the
Governor; files written are classified from their content and get heuristic lineage; an
outside folder (``outbox/``) is the only way out of governed storage, and exports there are
decided before they arrive. See ``docs/mount.md``.
"""

from lacuna.mount.layout import DEFAULT_OUTSIDE, MountLayout, mount_config
from lacuna.mount.run import fuse_missing, serve, start, unmount

__all__ = ["DEFAULT_OUTSIDE", "MountLayout", "fuse_missing", "mount_config", "serve", "start",
           "unmount"]
