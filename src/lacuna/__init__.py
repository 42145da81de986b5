"""Lacuna: self-service data governance.

Policies as code (Rego), classification that follows data through lineage, and feedback at the
moment of action that says what, why and how to proceed.

Example:
    >>> import lacuna
    >>> lacuna.classify(["customer_id", "email", "region"]).tier
    <Tier.PROPRIETARY: 'PROPRIETARY'>
"""

from __future__ import annotations

from typing import Any

from lacuna.api import check, disable, enable, enabled, governed
from lacuna.config import Config, load_config
from lacuna.errors import (
    ClassificationError,
    ConfigError,
    GovernanceViolation,
    LacunaError,
    PolicyError,
)
from lacuna.governor import GovernanceWarning, Governor, configure
from lacuna.model import (
    Classification,
    ColumnClass,
    Decision,
    Destination,
    Operation,
    Tier,
)

__version__ = "0.1.0"


def classify(x: Any, **kwargs: Any) -> Classification:
    """Classify a DataFrame, a file path, a list of column names or ``{name: samples}``.

    See :func:`lacuna.classify.classify` for the arguments.
    """
    from lacuna.classify import classify as _classify

    return _classify(x, **kwargs)


def anonymize(df: Any, columns: Any = None, strategy: str = "hash", **kwargs: Any) -> Any:
    """Anonymize columns of a DataFrame and re-classify the result.

    See :func:`lacuna.anonymize.anonymize` for the arguments.
    """
    from lacuna.anonymize import anonymize as _anonymize

    return _anonymize(df, columns, strategy, **kwargs)


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext lacuna``: govern pandas and register the ``%lacuna`` magic."""
    from lacuna.integrations.jupyter import load

    load(ipython)


def unload_ipython_extension(ipython: Any) -> None:
    """``%unload_ext lacuna``: stop governing pandas."""
    from lacuna.integrations.jupyter import unload

    unload(ipython)


__all__ = [
    "ClassificationError",
    "Classification",
    "ColumnClass",
    "Config",
    "ConfigError",
    "Decision",
    "Destination",
    "GovernanceViolation",
    "GovernanceWarning",
    "Governor",
    "LacunaError",
    "Operation",
    "PolicyError",
    "Tier",
    "anonymize",
    "check",
    "classify",
    "configure",
    "disable",
    "enable",
    "enabled",
    "governed",
    "load_config",
    "load_ipython_extension",
    "unload_ipython_extension",
]
