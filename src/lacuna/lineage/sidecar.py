"""Sidecars: the export rule, "classification travels with the data".

Writing ``customers.csv`` under governance also writes ``customers.csv.lacuna.json`` beside it:
the classification, the sources it derives from, who wrote it and when. Reading the file back
restores that classification as a declaration (declared beats inferred).

A sidecar that cannot be parsed never silently lowers protection: :func:`read_sidecar` raises
:class:`SidecarError`, and the reader treats the file as PROPRIETARY until the sidecar is fixed.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from lacuna.errors import ClassificationError
from lacuna.model import SCHEMA_VERSION, Classification, Layer, utcnow

SUFFIX = ".lacuna.json"
MAX_SIDECAR_BYTES = 16 * 1024 * 1024  # a hostile or runaway sidecar is refused, not parsed


class SidecarError(ClassificationError):
    """A sidecar exists but cannot be used."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Sidecar:
    classification: Classification
    sources: tuple[str, ...]
    written_by: str | None
    written_at: datetime | None
    path: Path


def sidecar_path(data_path: str | os.PathLike[str]) -> Path:
    return Path(os.fspath(data_path) + SUFFIX).expanduser()


def is_local(target: object) -> bool:
    """Whether a write target is a local file path (the only place a sidecar can live)."""
    if isinstance(target, os.PathLike):
        return True
    return isinstance(target, str) and "://" not in target and bool(target.strip())


def read_sidecar(data_path: str | os.PathLike[str]) -> Sidecar | None:
    """The sidecar of a data file, or ``None`` when there is none.

    Raises:
        SidecarError: the sidecar exists but is unreadable, not JSON, too large or malformed.
    """
    path = sidecar_path(data_path)
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return None
    except OSError as exc:
        msg = f"{path}: cannot read the classification sidecar ({exc}). Check its permissions."
        raise SidecarError(msg) from exc
    if size > MAX_SIDECAR_BYTES:
        msg = (
            f"{path}: the classification sidecar is {size} bytes, over the "
            f"{MAX_SIDECAR_BYTES} byte limit. Delete it and re-export the data under Lacuna."
        )
        raise SidecarError(msg)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        msg = f"{path}: cannot read the classification sidecar ({exc})."
        raise SidecarError(msg) from exc
    except json.JSONDecodeError as exc:
        msg = (
            f"{path}:{exc.lineno}:{exc.colno}: the classification sidecar is not valid JSON "
            f"({exc.msg}). Fix it, or delete it and re-export the data under Lacuna."
        )
        raise SidecarError(msg) from None
    try:
        if not isinstance(raw, dict) or not isinstance(raw.get("classification"), dict):
            msg = "expected an object with a 'classification' object"
            raise TypeError(msg)
        classification = Classification.from_dict(raw["classification"], layer=Layer.DECLARED)
        written_at = raw.get("written_at")
        return Sidecar(
            classification=classification,
            sources=tuple(str(s) for s in raw.get("sources") or ()),
            written_by=raw.get("written_by"),
            written_at=datetime.fromisoformat(written_at) if written_at else None,
            path=path,
        )
    except Exception as exc:
        msg = (
            f"{path}: the classification sidecar is malformed ({exc}). Fix it, or delete it "
            "and re-export the data under Lacuna."
        )
        raise SidecarError(msg) from None


def write_sidecar(
    data_path: str | os.PathLike[str],
    classification: Classification,
    *,
    sources: Sequence[str] = (),
    written_by: str | None = None,
) -> Path:
    """Write the sidecar atomically (temp file + rename), so a crash never leaves half a file."""
    path = sidecar_path(data_path)
    body: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "generator": "lacuna",
        "classification": classification.to_dict(),
        "sources": list(sources),
        "written_by": written_by,
        "written_at": utcnow().isoformat(),
    }
    fd, tmp = tempfile.mkstemp(prefix=".lacuna-", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(body, fh, indent=2, sort_keys=False)
            fh.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
