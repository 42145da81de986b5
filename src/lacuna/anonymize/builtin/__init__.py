"""The built-in strategies; importing this package registers them."""

from __future__ import annotations

from lacuna.anonymize.builtin.hash import HashStrategy
from lacuna.anonymize.builtin.mask import MaskStrategy
from lacuna.anonymize.builtin.redact import RedactStrategy

__all__ = ["HashStrategy", "MaskStrategy", "RedactStrategy"]
