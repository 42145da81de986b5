"""Anonymization: treat personal columns with a strategy and re-classify the result.

>>> from lacuna.anonymize import strategies
>>> strategies.names()
('hash', 'mask', 'redact')

The root verb ``lacuna.anonymize`` is the function :func:`anonymize`, which shadows this package's
name on ``lacuna``: import from the package (``from lacuna.anonymize import ...``) rather than
``import lacuna.anonymize as ...``.

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
