"""Lacuna: self-service data governance.

Policies as code (Rego), classification that follows data through lineage, and feedback at the
moment of action that says what, why and how to proceed.

Example:
    >>> import lacuna
    >>> lacuna.classify(["customer_id", "email", "region"]).tier
    <Tier.PROPRIETARY: 'PROPRIETARY'>
"""

from __future__ import annotations

from typing import Any as _Any

# The verbs `classify` and `anonymize` share their names with the subpackages that implement
# them; importing the subpackages first and binding the functions after keeps the verbs bound.
from lacuna.anonymize import anonymize
from lacuna.api import check, disable, enable, enabled, governed
from lacuna.classify import classify
from lacuna.config import Config, load_config
from lacuna.errors import (
    ClassificationError,
    ConfigError,
    GovernanceViolation,
    LacunaError,
    PolicyError,
)
from lacuna.exceptions import (
    ExceptionRequest,
    approve_exception,
    deny_exception,
    request_exception,
)
from lacuna.governor import GovernanceWarning, Governor, configure
from lacuna.lineage.api import register_lineage
from lacuna.model import (
    Classification,
    ColumnClass,
    Decision,
    Destination,
    Operation,
    Tier,
)

__version__ = "0.1.0"


def load_ipython_extension(ipython: _Any) -> None:
    """``%load_ext lacuna``: govern pandas and register the ``%lacuna`` magic."""
    from lacuna.integrations.jupyter import load

    load(ipython)


def unload_ipython_extension(ipython: _Any) -> None:
    """``%unload_ext lacuna``: stop governing pandas."""
    from lacuna.integrations.jupyter import unload

    unload(ipython)


__all__ = [
    "Classification",
    "ClassificationError",
    "ColumnClass",
    "Config",
    "ConfigError",
    "Decision",
    "Destination",
    "ExceptionRequest",
    "GovernanceViolation",
    "GovernanceWarning",
    "Governor",
    "LacunaError",
    "Operation",
    "PolicyError",
    "Tier",
    "anonymize",
    "approve_exception",
    "check",
    "classify",
    "configure",
    "deny_exception",
    "disable",
    "enable",
    "enabled",
    "governed",
    "load_config",
    "load_ipython_extension",
    "register_lineage",
    "request_exception",
    "unload_ipython_extension",
]
