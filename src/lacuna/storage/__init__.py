"""Governed storage: files under ``destinations.governed`` are sealed at rest (streaming
AES-256-GCM under a per-file data key wrapped by the key store, :mod:`lacuna.storage.sealed`)
and every plaintext read is a decided, audited ``read`` operation
(:func:`open_governed`, :mod:`lacuna.storage.access`). See docs/storage.md."""

from __future__ import annotations

from lacuna.errors import StorageError
from lacuna.storage.access import (
    SEALABLE,
    TEXT_WRITERS,
    byte_order_mark,
    declared_classification,
    governed_path,
    open_governed,
    open_sealed_writer,
    read_governed,
    refuse_unnamed_file,
    refuse_unsealable,
    seals,
    write_governed,
)
from lacuna.storage.sealed import SealedHeader, is_sealed, read_header, rewrap

__all__ = [
    "SEALABLE",
    "TEXT_WRITERS",
    "SealedHeader",
    "StorageError",
    "byte_order_mark",
    "declared_classification",
    "governed_path",
    "is_sealed",
    "open_governed",
    "open_sealed_writer",
    "read_governed",
    "read_header",
    "refuse_unnamed_file",
    "refuse_unsealable",
    "rewrap",
    "seals",
    "write_governed",
]
