"""Anonymization: treat personal columns with a strategy and re-classify the result.

>>> from lacuna.anonymize import strategies
>>> strategies.names()
('fpe', 'generalize', 'hash', 'mask', 'noise', 'redact', 'synthesize', 'tokenize')

The root verb ``lacuna.anonymize`` is the function :func:`anonymize`, which shadows this package's
name on ``lacuna``: ``lacuna.anonymize`` and ``from lacuna import anonymize`` give the function,
``import lacuna.anonymize as m`` and ``from lacuna.anonymize import ...`` this package.

See :func:`anonymize` for the verb, :mod:`lacuna.anonymize.base` to write a strategy and
:mod:`lacuna.anonymize.keys` and :mod:`lacuna.keystore` for where the keys come from, and
:func:`detokenize` for the way back from ``tokenize``.
"""

from __future__ import annotations

from lacuna.anonymize import builtin as _builtin  # registers the built-in strategies
from lacuna.anonymize.api import anonymize, reclassify
from lacuna.anonymize.base import Context, Strategy, UnknownColumnError, register, strategies
from lacuna.anonymize.reveal import detokenize

del _builtin

__all__ = [
    "Context",
    "Strategy",
    "UnknownColumnError",
    "anonymize",
    "detokenize",
    "reclassify",
    "register",
    "strategies",
]
