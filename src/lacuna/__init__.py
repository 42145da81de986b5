"""Lacuna: self-service data governance.

Policies as code (Rego), classification that follows data through lineage, and feedback at the
moment of action that says what, why and how to proceed.

Example:
    >>> import lacuna
    >>> lacuna.classify(["customer_id", "email", "region"]).tier
    <Tier.PROPRIETARY: 'PROPRIETARY'>
"""

from __future__ import annotations

from typing import TYPE_CHECKING as _TYPE_CHECKING
from typing import Any as _Any

from lacuna import datasets

# The verbs `classify`, `anonymize` and `synthesize` share their names with the modules that
# implement them; importing the modules first and binding the functions after keeps them bound.
from lacuna import privacy as privacy  # the namespace of lacuna.privacy.report(df)
from lacuna.anonymize import anonymize
from lacuna.api import check, detokenize, disable, enable, enabled, governed
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
    decrypt,
    deny_exception,
    request_exception,
    revoke_exception,
    sweep_exceptions,
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
from lacuna.synthesize import synthesize

if _TYPE_CHECKING:
    from collections.abc import Mapping as _Mapping

    from lacuna.config import ClassificationConfig as _ClassificationConfig
    from lacuna.lineage.sql import SqlLineage as _SqlLineage
    from lacuna.lineage.sql_schema import SchemaInput as _SchemaInput

__version__ = "0.1.0"


def classify_sql(
    sql: str,
    *,
    schema: _SchemaInput,
    dialect: str | None = None,
    namespace: str | None = None,
    config: _ClassificationConfig | None = None,
    origins: _Mapping[str, str] | None = None,
    parameters: _Any = None,
) -> _SqlLineage:
    """Classify a SQL statement's output per column, with its column lineage.

    See :func:`lacuna.lineage.sql.classify_sql` (imported on first use: sqlglot loads lazily).

    Example:
        >>> schema = {"customers": {"email": "pii"}}
        >>> out = classify_sql("SELECT email FROM customers", schema=schema)
        >>> out.classification.tier
        <Tier.PROPRIETARY: 'PROPRIETARY'>
    """
    from lacuna.lineage.sql import classify_sql as _classify_sql

    return _classify_sql(sql, schema=schema, dialect=dialect, namespace=namespace, config=config,
                         origins=origins, parameters=parameters)


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
    "classify_sql",
    "configure",
    "datasets",
    "decrypt",
    "deny_exception",
    "detokenize",
    "disable",
    "enable",
    "enabled",
    "governed",
    "load_config",
    "load_ipython_extension",
    "register_lineage",
    "request_exception",
    "revoke_exception",
    "sweep_exceptions",
    "synthesize",
    "unload_ipython_extension",
]
