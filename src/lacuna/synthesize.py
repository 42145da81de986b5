"""``lacuna.synthesize(df, seed=...)``: a copy of a frame with its personal columns synthetic.

Each classified personal column is replaced by realistic values of its ``pii_type`` (Faker word
lists of the chosen locale; see :mod:`lacuna.anonymize.synthetic` for the generators), computed
vectorised from a keyed hash of each original value. Same seed, same original value, same
synthetic value: in every column of that type and every table, so joins on a synthesized key
still line up. It is the ``synthesize`` anonymization strategy with the key derived from the seed;
the result is re-classified like any anonymized frame, and its quasi-identifiers are checked for
k-anonymity (:mod:`lacuna.privacy`).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from datetime import date
from typing import TYPE_CHECKING

from lacuna.anonymize.api import anonymize
from lacuna.anonymize.synthetic import DEFAULT_LOCALE, as_of_var, locale_var

if TYPE_CHECKING:
    import pandas as pd

    from lacuna.config import Config


def synthesize(
    df: pd.DataFrame,
    seed: int | str | bytes | None = None,
    columns: Sequence[str] | str | None = None,
    *,
    locale: str = DEFAULT_LOCALE,
    as_of: date | None = None,
    config: Config | None = None,
) -> pd.DataFrame:
    """A copy of ``df`` whose personal columns hold synthetic values, re-classified.

    Args:
        df: the frame; never modified.
        seed: makes the output reproducible: the same seed and original value give the same
            synthetic value wherever the anonymization key (``LACUNA_ANONYMIZE_KEY`` or the key
            store's ``anonymize`` key) is the same; the seed selects a stream under that secret
            key, so knowing the seed alone does not let anyone synthesize a candidate value and
            compare. ``None`` uses the anonymization key itself.
        columns: the columns to replace; default every PII/PHI column of the classification.
        locale: the Faker locale of names and streets (``de_DE``, ``fr_FR``, ...).
        as_of: the day ages are counted at for the age band of dates of birth; default 1 January
            of the current year (so output is stable within a year).
        config: settings; default: the enabled governor's, else ``load_config()``.

    Example:
        >>> import pandas as pd
        >>> df = pd.DataFrame({"email": ["jane@corp.com", "jane@corp.com"]})
        >>> out = synthesize(df, seed=7)
        >>> out["email"][0] == out["email"][1] != "jane@corp.com"
        True
    """
    key = seed_key(seed, config) if seed is not None else None
    locale_token = locale_var.set(locale)
    as_of_token = as_of_var.set(as_of)
    try:
        return anonymize(df, columns, strategy="synthesize", key=key, config=config)
    finally:
        locale_var.reset(locale_token)
        as_of_var.reset(as_of_token)


def seed_key(seed: int | str | bytes, config: Config | None = None) -> bytes:
    """The synthesis key for ``seed``: an HMAC of the seed under the installation's secret
    anonymization key (``LACUNA_ANONYMIZE_KEY`` or the key store's ``anonymize`` key).

    The seed picks a stream under that secret, never the key itself: with ``seed=42`` alone as the
    key, anyone on any machine could synthesize candidate values and match the "public" output
    back to the people it came from. Same seed and key, same values (``lacuna.dbt`` uses it too).
    """
    from lacuna.anonymize.keys import resolve
    from lacuna.config import active_config

    raw = seed if isinstance(seed, bytes) else str(seed).encode("utf-8")
    secret = resolve(None, config if config is not None else active_config()).material
    return hmac.new(secret, b"lacuna-synthesize-seed:" + type(seed).__name__.encode() + b":" + raw,
                    hashlib.sha256).digest()
