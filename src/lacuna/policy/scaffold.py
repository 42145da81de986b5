"""``lacuna policy init DIR``: start a policy folder from a shipped bundle.

The copy is an ordinary folder of Rego files and their tests: edit it, run
``lacuna policy test DIR``, and point ``lacuna.yaml`` at it (``policy: {dir: DIR}``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from lacuna.errors import ConfigError

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable

POLICY_SUFFIXES = (".rego", ".json", ".yaml", ".yml")


@dataclass(frozen=True, slots=True)
class Scaffold:
    """What :func:`init_policy_dir` wrote."""

    directory: Path
    files: tuple[Path, ...]


def _walk(root: Traversable, prefix: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], bytes]]:
    out: list[tuple[tuple[str, ...], bytes]] = []
    for entry in sorted(root.iterdir(), key=lambda e: e.name):
        if entry.name.startswith((".", "__")):
            continue
        if entry.is_dir():
            out += _walk(entry, (*prefix, entry.name))
        elif entry.name.endswith(POLICY_SUFFIXES):
            out.append(((*prefix, entry.name), entry.read_bytes()))
    return out


def init_policy_dir(directory: Path, source: Traversable, *, force: bool = False) -> Scaffold:
    """Copy the policy bundle at ``source`` into ``directory``.

    Args:
        directory: the folder to create; it may exist only when empty, unless ``force``.
        source: a bundle root, e.g. :func:`lacuna.policy.default_bundle_root`.
        force: overwrite files of the same name in a non-empty folder (others are kept).

    Raises:
        ConfigError: the folder is not empty (and ``force`` is off), or cannot be written.
    """
    directory = directory.expanduser()
    if directory.exists() and not directory.is_dir():
        msg = f"{directory} exists and is not a folder; choose another path for the policies"
        raise ConfigError(msg)
    if directory.is_dir() and any(directory.iterdir()) and not force:
        msg = (f"{directory} is not empty; nothing was written. Choose an empty or new folder, "
               f"or pass --force to overwrite the bundle's files there")
        raise ConfigError(msg)
    written: list[Path] = []
    try:
        for parts, content in _walk(source):
            target = directory.joinpath(*parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content)
            written.append(target)
    except OSError as exc:
        msg = f"cannot write the policy folder {directory}: {exc.strerror}. Check its permissions"
        raise ConfigError(msg) from exc
    return Scaffold(directory=directory, files=tuple(written))
