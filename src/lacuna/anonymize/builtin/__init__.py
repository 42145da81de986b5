"""The built-in strategies; importing this package registers them."""

from __future__ import annotations

from lacuna.anonymize.builtin.fpe import FpeStrategy
from lacuna.anonymize.builtin.generalize import GeneralizeStrategy
from lacuna.anonymize.builtin.hash import HashStrategy
from lacuna.anonymize.builtin.mask import MaskStrategy
from lacuna.anonymize.builtin.noise import NoiseStrategy
from lacuna.anonymize.builtin.redact import RedactStrategy
from lacuna.anonymize.builtin.synthesize import SynthesizeStrategy
from lacuna.anonymize.builtin.tokenize import TokenizeStrategy

__all__ = [
    "FpeStrategy",
    "GeneralizeStrategy",
    "HashStrategy",
    "MaskStrategy",
    "NoiseStrategy",
    "RedactStrategy",
    "SynthesizeStrategy",
    "TokenizeStrategy",
]
