"""A bundle's revision: the git commit when the folder is a clean git checkout, else a hash.

=================================  ==========================================================
folder                             revision
=================================  ==========================================================
inside a git checkout, clean       the commit, ``git rev-parse HEAD`` (40 hex digits)
inside a git checkout, changed     ``<commit>+dirty.<content hash>`` (any change under the
                                   folder makes it dirty: edits, untracked files, bundle
                                   files that git ignores, and files whose bytes are not
                                   the committed ones even where ``git status`` says
                                   nothing: ``skip-worktree``, ``assume-unchanged``)
not in git (or git is missing)     the content hash: 16 hex digits of SHA-256 over every file's
                                   relative path and bytes
=================================  ==========================================================

The built-in bundles always use the content hash: the same Lacuna release gives the same
revision whether it is installed from a wheel or from a checkout.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import subprocess
from collections.abc import Collection, Mapping
from pathlib import Path

log = logging.getLogger(__name__)
_TIMEOUT_S = 5.0


def bundle_revision(root: Path | None, content_hash: str, files: Collection[str] = (),
                    contents: Mapping[str, bytes] | None = None) -> str:
    """The revision of the bundle at ``root`` (see the module docstring).

    Args:
        root: the folder on disk, or ``None`` for a bundle inside the installed package.
        content_hash: the bundle's content hash.
        files: the bundle's files, relative to ``root`` with ``/``; one that git does not track
            (a git-ignored policy, say) makes the revision dirty.
        contents: the bytes read of each of ``files``: one whose git blob id is not the one
            the index (clean, so the commit) holds makes the revision dirty, whatever
            ``git status`` says (it trusts skip-worktree and assume-unchanged marks).
    """
    if root is None:
        return content_hash
    commit = _git(root, "rev-parse", "--verify", "HEAD")
    if commit is None:
        return content_hash
    status = _git(root, "status", "--porcelain", "--untracked-files=all", "--", ".")
    tracked = _git(root, "ls-files", "--stage", "--full-name", "--", ".")
    prefix = _git(root, "rev-parse", "--show-prefix")
    if status is None or tracked is None or prefix is None or status:
        return f"{commit}+dirty.{content_hash}"
    known = {}  # path from the top -> its blob id in the index ("<mode> <id> <stage>\t<path>")
    for line in tracked.splitlines():
        meta, _, name = line.partition("\t")
        parts = meta.split()
        if len(parts) == 3:
            known[name] = parts[1]
    if any(f"{prefix}{f}" not in known for f in files):
        return f"{commit}+dirty.{content_hash}"
    if contents is not None and any(
            _blob_id(raw, len(known[f"{prefix}{f}"])) != known[f"{prefix}{f}"]
            for f, raw in contents.items()):
        return f"{commit}+dirty.{content_hash}"
    return commit


def _blob_id(raw: bytes, length: int) -> str:
    """The git object id of a blob holding ``raw`` (SHA-1, or SHA-256 in a repository that
    uses it: ``length`` is the index's id length)."""
    digest = hashlib.sha256 if length == 64 else hashlib.sha1
    return digest(b"blob %d\0" % len(raw) + raw).hexdigest()


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
