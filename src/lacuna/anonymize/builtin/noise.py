"""``noise``: differential privacy for numeric aggregates (OpenDP's Laplace mechanism).

For a column of aggregates (counts, sums, means per group) each value gets Laplace noise of
scale ``sensitivity / epsilon``: ``anonymize.noise_sensitivity`` is how much one person can change
one value (1 for a count; the clipping bound for a sum), ``anonymize.epsilon`` the privacy budget
spent on the column. The epsilon OpenDP's privacy map proves for that scale is recorded on the
column's classification, with the scale.

The noise comes from OpenDP (``opendp``, the OpenDP project's vetted samplers, resistant to the
floating-point attacks on naive Laplace noise; install ``lacuna[privacy]``). It is exact but not
fast (about 0.1 ms a value): meant for aggregates, not for a million raw rows.

This protects the released numbers; it does not make raw per-person values safe to release (noise
on a salary column still leaks with repeated releases): the budget adds up over releases.
Classification: the column keeps its kind when it was not personal (a noised revenue sum is still
financial), and becomes ``public`` when it was, with the epsilon in its reasoning. A personal
column is only declassified for an epsilon of at most :data:`MAX_EPSILON` (10, fixed here, not in
``lacuna.yaml``): above it the noise is too small to hide one person (``anonymize.epsilon: 1e12``
leaves every value as it was), so the strategy refuses rather than call the output public.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from lacuna.anonymize.base import Context, Strategy, output_class, register
from lacuna.errors import ConfigError

if TYPE_CHECKING:
    import pandas as pd

    from lacuna.config import Config
    from lacuna.model import ColumnClass

# The largest epsilon for which noise may turn a personal column public. e**10 ≈ 22,000: beyond
# that the likelihood ratio bounds nothing an attacker cares about. Fixed in code, so the
# configuration (which the analyst owns) cannot declassify by raising anonymize.epsilon.
MAX_EPSILON = 10.0


def laplace(scale: float, sensitivity: float) -> tuple[Any, float]:
    """OpenDP's Laplace measurement on float vectors, and the epsilon its privacy map proves."""
    try:
        import opendp.prelude as dp
    except ImportError:
        msg = ("the noise strategy needs OpenDP: pip install 'lacuna[privacy]' (or opendp). "
               "Nothing was anonymized.")
        raise ConfigError(msg) from None
    dp.enable_features("contrib")
    space = dp.vector_domain(dp.atom_domain(T=float, nan=False)), dp.l1_distance(T=float)
    try:
        measurement = space >> dp.m.then_laplace(scale=scale)
        return measurement, float(measurement.map(d_in=sensitivity))
    except dp.OpenDPException as exc:  # an infinite scale or sensitivity: an empty message
        said = getattr(exc, "message", None) or str(exc) or type(exc).__name__
        msg = (f"cannot add Laplace noise of scale {scale:g} (anonymize.noise_sensitivity="
               f"{sensitivity:g} / anonymize.epsilon): OpenDP refuses it ({said}). Set both to "
               "finite positive numbers in lacuna.yaml. Nothing was anonymized.")
        raise ConfigError(msg) from None


def _check_declassifiable(column: str, before: ColumnClass | None, numbers: pd.Series,
                          sensitivity: float) -> None:
    """Refuse noise that would call a personal column public without hiding anyone: a direct
    identifier (a phone number plus or minus a few is still that phone number: only quasi-
    identifiers such as an age may be noised), or a ``noise_sensitivity`` below the spread of
    the values released. One person's row can move a per-person value across the column's
    whole range, so the true sensitivity is at least that range; a sensitivity of 1 on ages
    30-80 adds about one year. (The observed range is a lower bound, never a proof: it only
    catches a sensitivity that is certainly too small.)"""
    check_identifier(column, before)
    if len(numbers):
        check_spread(column, len(numbers), float(numbers.min()), float(numbers.max()),
                     sensitivity)


def check_identifier(column: str, before: ColumnClass | None) -> None:
    """Refuse noise on a direct identifier (see :func:`_check_declassifiable`)."""
    from lacuna.privacy import QUASI_TYPES

    if before is not None and before.pii_type and before.pii_type not in QUASI_TYPES:
        msg = (f"cannot add noise to column {column!r}: it holds {before.pii_type} values, "
               "which identify a person directly, and noise leaves them close to the originals "
               "(the column would be called public). Use hash, mask or redact. Nothing was "
               "anonymized.")
        raise ConfigError(msg)


def not_numbers(column: str, dtype: str) -> ConfigError:
    """The refusal of noise on a column that does not hold numbers."""
    return ConfigError(f"cannot add noise to column {column!r}: it holds {dtype}, not numbers. "
                       "Noise is for numeric aggregates; use generalize or hash.")


def check_spread(column: str, count: int, low: float, high: float,
                 sensitivity: float) -> None:
    """Refuse noise whose sensitivity is below the spread of the values (see
    :func:`_check_declassifiable`), from the column's count, minimum and maximum (Spark
    computes them over the whole column)."""
    if count and low == high:
        # One value (one person's row, or rows that all hold the same number) has no spread:
        # the check below would accept any sensitivity, and a salary of 123456 came out as
        # 123456.4, called public.
        msg = (f"cannot add noise to column {column!r}: its {count} value(s) are all "
               "the same, so nothing shows how far one person's value can move, and noise of "
               f"anonymize.noise_sensitivity={sensitivity:g} could leave that value readable "
               "while the column is called public. Noise a column whose values differ (one per "
               "person, over many people), use generalize, mask or redact, or, if the column "
               "holds aggregates rather than one value per person, declare it so that it is "
               "not personal. Nothing was anonymized.")
        raise ConfigError(msg)
    spread = high - low if count else 0.0
    if sensitivity < spread:
        msg = (f"cannot add noise to column {column!r} with anonymize.noise_sensitivity="
               f"{sensitivity:g}: its values span {spread:g}, and one person's value can move "
               "that far, so noise this small would leave them readable while the column is "
               f"called public. Set anonymize.noise_sensitivity to at least {spread:g} (the "
               "range a value may take), or, if the column holds aggregates (counts or sums "
               "per group) rather than one value per person, declare it so that it is not "
               "personal. Nothing was anonymized.")
        raise ConfigError(msg)


@register
class NoiseStrategy(Strategy):
    """Laplace noise (OpenDP) of scale sensitivity/epsilon; the epsilon is recorded."""

    name = "noise"
    description = "differential privacy for numeric aggregates: Laplace noise via OpenDP"

    def apply(self, values: pd.Series, context: Context) -> pd.Series:
        import numpy as np
        import pandas as pd

        if not pd.api.types.is_numeric_dtype(values.dtype) or pd.api.types.is_bool_dtype(
                values.dtype):
            raise not_numbers(context.column, str(values.dtype))
        settings = context.settings().anonymize
        sensitivity = settings.noise_sensitivity
        scale = sensitivity / settings.epsilon
        measurement, epsilon = laplace(scale, sensitivity)
        before = context.column_class
        if (before is None or before.is_personal) and not epsilon <= MAX_EPSILON:
            msg = (f"cannot add noise to column {context.column!r} with epsilon={epsilon:g}: "
                   f"above {MAX_EPSILON:g} the noise hides nobody, yet the column "
                   f"({'unclassified' if before is None else 'personal data'}) would be "
                   f"declassified. Set anonymize.epsilon to at most {MAX_EPSILON:g} in "
                   "lacuna.yaml (1 or less is usual), or use generalize, mask or redact. "
                   "Nothing was anonymized.")
            raise ConfigError(msg)
        numbers = values.astype(float)
        ok = numbers.notna().to_numpy()
        if before is None or before.is_personal:  # the output would be called public
            if context.batch:  # the whole column's spread was checked: a batch's is less
                check_identifier(context.column, before)
            else:
                _check_declassifiable(context.column, before, numbers[ok], sensitivity)
        noised = np.asarray(measurement(numbers.to_numpy()[ok].tolist()), dtype=float)
        out = pd.Series(np.nan, index=values.index, dtype=float, name=values.name)
        out.iloc[np.flatnonzero(ok)] = noised
        context.notes.append(f"Laplace noise (OpenDP), epsilon={epsilon:g}, "
                             f"sensitivity={sensitivity:g}, scale={scale:g}")
        return out

    def privacy_cost(self, before: ColumnClass | None, config: Config) -> float:
        """The epsilon OpenDP proves for the configured scale, when the release would call
        personal (or unclassified) data public; a noised revenue sum stays what it was and
        spends nothing."""
        if before is not None and not before.is_personal:
            return 0.0
        settings = config.anonymize
        return laplace(settings.noise_sensitivity / settings.epsilon,
                       settings.noise_sensitivity)[1]

    def classify(self, before: ColumnClass | None, notes: Sequence[str]) -> ColumnClass:
        if before is None or before.is_personal:
            kind, sensitivity = "public", "low"
        else:
            kind, sensitivity = before.classification.value, before.sensitivity.value
        return output_class(self.name, before, notes, kind=kind, sensitivity=sensitivity,
                            what="differentially private")
