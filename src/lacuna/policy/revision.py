"""A bundle's revision: the git commit when the folder is a clean git checkout, else a hash.

=================================  ==========================================================
folder                             revision
=================================  ==========================================================
inside a git checkout, clean       the commit, ``git rev-parse HEAD`` (40 hex digits)
inside a git checkout, changed     ``<commit>+dirty.<content hash>`` (any change under the
                                   folder makes it dirty: edits, untracked files, and
                                   bundle files that git ignores)
not in git (or git is missing)     the content hash: 16 hex digits of SHA-256 over every file's
                                   relative path and bytes
=================================  ==========================================================

The built-in bundles always use the content hash: the same Lacuna release gives the same
revision whether it is installed from a wheel or from a checkout.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
from collections.abc import Collection
from pathlib import Path

log = logging.getLogger(__name__)
_TIMEOUT_S = 5.0


def bundle_revision(root: Path | None, content_hash: str, files: Collection[str] = ()) -> str:
    """The revision of the bundle at ``root`` (see the module docstring).

    Args:
        root: the folder on disk, or ``None`` for a bundle inside the installed package.
        content_hash: the bundle's content hash.
        files: the bundle's files, relative to ``root`` with ``/``; one that git does not track
            (a git-ignored policy, say) makes the revision dirty.
    """
    if root is None:
        return content_hash
    commit = _git(root, "rev-parse", "--verify", "HEAD")
    if commit is None:
        return content_hash
    status = _git(root, "status", "--porcelain", "--untracked-files=all", "--", ".")
    tracked = _git(root, "ls-files", "--full-name", "--", ".")
    prefix = _git(root, "rev-parse", "--show-prefix")
    if status is None or tracked is None or prefix is None or status:
        return f"{commit}+dirty.{content_hash}"
    known = set(tracked.splitlines())
    if any(f"{prefix}{f}" not in known for f in files):
        return f"{commit}+dirty.{content_hash}"
    return commit


def _git(root: Path, *args: str) -> str | None:
    git = shutil.which("git")
    if git is None or not root.is_dir():
        return None
    try:
        proc = subprocess.run([git, "-C", str(root), *args], capture_output=True, text=True,
                              timeout=_TIMEOUT_S, check=False)
    except (OSError, subprocess.SubprocessError) as exc:
        log.debug("git %s failed in %s: %s", args[0], root, exc)
        return None
    if proc.returncode != 0:
        return None  # not a git checkout, or no commit yet
    return proc.stdout.strip()
