"""The installed Lacuna's version, as package metadata says (provenance and decision logs)."""

from __future__ import annotations

import functools
from importlib.metadata import PackageNotFoundError, version


@functools.cache
def lacuna_version() -> str:
    """Read once: the metadata lookup costs milliseconds, and a governed export needs it."""
    try:
        return version("lacuna")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "unknown"
