"""Anonymization: treat personal columns with a strategy and re-classify the result.

>>> import lacuna.anonymize as an
>>> an.strategies.names()
('hash', 'mask', 'redact')

See :func:`anonymize` for the verb, :mod:`lacuna.anonymize.base` to write a strategy and
:mod:`lacuna.anonymize.keys` for where the hashing key comes from.
"""

from __future__ import annotations

from lacuna.anonymize import builtin as _builtin  # registers hash, mask, redact
from lacuna.anonymize.api import anonymize, reclassify
from lacuna.anonymize.base import Context, Strategy, UnknownColumnError, register, strategies

del _builtin

__all__ = [
    "Context",
    "Strategy",
    "UnknownColumnError",
    "anonymize",
    "reclassify",
    "register",
    "strategies",
]
