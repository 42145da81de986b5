"""Lacuna: self-service data governance.

Policies as code (Rego), classification that follows data through lineage, and feedback at the
moment of action that says what, why and how to proceed.

Example:
    >>> import lacuna
    >>> lacuna.classify(["customer_id", "email", "region"]).tier
    <Tier.PROPRIETARY: 'PROPRIETARY'>
"""

from __future__ import annotations

import importlib as _importlib
import sys as _sys
import types as _types
from typing import TYPE_CHECKING as _TYPE_CHECKING
from typing import Any as _Any

from lacuna.errors import (
    ClassificationError,
    ConfigError,
    GovernanceViolation,
    LacunaError,
    PolicyError,
)
from lacuna.model import (
    Classification,
    ColumnClass,
    Decision,
    Destination,
    Operation,
    Tier,
)

if _TYPE_CHECKING:
    from collections.abc import Mapping as _Mapping

    from lacuna import datasets as datasets
    from lacuna import privacy as privacy
    from lacuna.anonymize import anonymize
    from lacuna.api import check, detokenize, disable, enable, enabled, governed
    from lacuna.classify import classify
    from lacuna.config import ClassificationConfig as _ClassificationConfig
    from lacuna.config import Config, load_config
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
    from lacuna.lineage.sql import SqlLineage as _SqlLineage
    from lacuna.lineage.sql_schema import SchemaInput as _SchemaInput
    from lacuna.synthesize import synthesize

# The root is lazy (PEP 562): `import lacuna` imports the errors and the data model only, and
# each name below is imported from its module on first use (`lacuna.enable`, `from lacuna
# import Config`), then bound here. Importing them all at the root cost ~530 ms of CPU after
# pandas (SQLAlchemy for the datasets store and the audit schema, pydantic for the
# configuration, the anonymizers, the classifier's recognizers) in every script, notebook and
# CLI call, used or not. Nothing is governed by importing: `enable()`/`governed()` install the
# hooks, and they are the same functions, imported when first named.
_LAZY: dict[str, str] = {
    "Config": "lacuna.config",
    "ExceptionRequest": "lacuna.exceptions",
    "GovernanceWarning": "lacuna.governor",
    "Governor": "lacuna.governor",
    "anonymize": "lacuna.anonymize",
    "approve_exception": "lacuna.exceptions",
    "check": "lacuna.api",
    "classify": "lacuna.classify",
    "configure": "lacuna.governor",
    "decrypt": "lacuna.exceptions",
    "deny_exception": "lacuna.exceptions",
    "detokenize": "lacuna.api",
    "disable": "lacuna.api",
    "enable": "lacuna.api",
    "enabled": "lacuna.api",
    "governed": "lacuna.api",
    "load_config": "lacuna.config",
    "register_lineage": "lacuna.lineage.api",
    "request_exception": "lacuna.exceptions",
    "revoke_exception": "lacuna.exceptions",
    "sweep_exceptions": "lacuna.exceptions",
    "synthesize": "lacuna.synthesize",
}

# The verbs `classify`, `anonymize` and `synthesize` share their names with the modules that
# implement them. Importing a submodule binds it on its parent (`lacuna.classify = <module>`),
# which would hide the verb whenever the module is imported after the root (by the governor, a
# test, a user's `import lacuna.classify.rollup`): `_Root.__setattr__` binds the verb instead.
_VERBS = frozenset({"anonymize", "classify", "synthesize"})

# The submodules `import lacuna` used to import: `lacuna.governor.current()`, `lacuna.privacy`
# and `lacuna.datasets.get(...)` after a bare `import lacuna` keep working (imported on first
# use).
_SUBMODULES = frozenset({
    "api", "audit", "config", "crypto", "datasets", "destinations", "exceptions", "governor",
    "identity", "integrations", "keyfile", "keystore", "lineage", "privacy", "redact",
    "sections", "signing", "state",
})


def __getattr__(name: str) -> object:
    """Import a root name on first use (PEP 562) and bind it, so later look-ups are plain."""
    module_name = _LAZY.get(name)
    if module_name is not None:
        value = getattr(_importlib.import_module(module_name), name)
    elif name in _SUBMODULES:
        value = _importlib.import_module(f"{__name__}.{name}")
    else:
        msg = f"module {__name__!r} has no attribute {name!r}"
        raise AttributeError(msg)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


class _Root(_types.ModuleType):
    def __setattr__(self, name: str, value: object) -> None:
        if name in _VERBS and isinstance(value, _types.ModuleType):
            # the import system binding the verb's module: bind the verb (or nothing yet, while
            # the module is still running: `__getattr__` finds the verb once it is defined)
            verb = getattr(value, name, None)
            if verb is None or isinstance(verb, _types.ModuleType):
                return
            value = verb
        super().__setattr__(name, value)


_sys.modules[__name__].__class__ = _Root

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
