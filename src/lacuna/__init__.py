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
from lacuna.errors import needed as _needed
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
# implement them: `lacuna.classify` is the verb, and `import lacuna.classify.rollup as r` the
# module (see `_shadow` below, which `lacuna.sql`, `lacuna.exceptions`, `lacuna.metrics` and
# `lacuna.spark` use for their own such names).
_VERBS = ("anonymize", "classify", "synthesize")

# The submodules `import lacuna` used to import: `lacuna.governor.current()`, `lacuna.privacy`
# and `lacuna.datasets.get(...)` after a bare `import lacuna` keep working (imported on first
# use).
_SUBMODULES = frozenset({
    "api", "audit", "config", "crypto", "datasets", "destinations", "exceptions", "governor",
    "identity", "integrations", "keyfile", "keystore", "lineage", "privacy", "redact",
    "sections", "signing", "state",
})


def __getattr__(name: str) -> object:
    """Import a root name on first use (PEP 562) and bind it, so later look-ups are plain. An
    import that fails (a package it needs missing or broken) raises ComponentImportError,
    saying what to install, and binds nothing: the next use tries again."""
    module_name = _LAZY.get(name)
    if module_name is not None:
        with _needed(f"lacuna.{name} (the module {module_name})",
                    f"lacuna.{name} is not available"):
            value = getattr(_importlib.import_module(module_name), name)
    elif name in _SUBMODULES:
        with _needed(f"lacuna.{name}", f"lacuna.{name} is not available"):
            value = _importlib.import_module(f"{__name__}.{name}")
    else:
        msg = f"module {__name__!r} has no attribute {name!r}"
        raise AttributeError(msg)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


class _Shadowing:
    """A package's name that is bound to a function and is also the name of one of its
    submodules: the root's verbs (``lacuna.classify``, the function; ``lacuna/classify/``, the
    package), ``lacuna.sql.govern``, ``lacuna.exceptions.sweep``, ``lacuna.metrics.insights``,
    ``lacuna.spark.anonymize``.

    Every look-up gives the function (``lacuna.classify(df)``, ``from lacuna import
    classify``), except the one an ``import lacuna.classify.rollup as r`` (or ``import
    lacuna.sql.govern as m``) statement makes: CPython binds ``r`` by looking each name up on
    its parent (``IMPORT_FROM``, from the top package down), and that statement names the
    module. With the function there, ``import lacuna.classify.rollup as r`` raised ImportError
    and ``import lacuna.sql.govern as m`` bound the function. That look-up gets the module.

    Setting the name keeps the function: the import system binds a submodule on its package
    whenever it is imported (first use, a test, a user's import), which would replace the
    function with the module. A submodule that defines the function of its name (``lacuna.
    classify.classify``) binds that function, as the root's lazy ``__getattr__`` would; any
    other value (a test's fake) is bound as given.
    """

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __get__(self, package: _types.ModuleType | None, owner: type | None = None) -> object:
        if package is None:
            return self
        space = vars(package)
        try:
            caller = _sys._getframe(1)
        except ValueError:  # looked up from C with no Python frame below: not an import
            caller = None
        full = f"{package.__name__}.{self.name}"
        if caller is not None and _imports_submodule(caller, full, self.name):
            module = _sys.modules.get(full)
            if module is not None:
                return module
        try:
            return space[self.name]
        except KeyError:  # not bound yet: the package's __getattr__, if any, is asked next
            raise AttributeError(self.name) from None

    def __set__(self, package: _types.ModuleType, value: object) -> None:
        space = vars(package)
        if isinstance(value, _types.ModuleType) and (
                value.__name__ == f"{package.__name__}.{self.name}"):
            bound = space.get(self.name)
            if bound is not None and not isinstance(bound, _types.ModuleType):
                return  # the function stays
            # the submodule's own function of that name; none yet (the module is still
            # running) or none at all: nothing is bound (the package binds its function, or
            # its __getattr__ imports it when it is first named)
            value = vars(value).get(self.name)
            if value is None or isinstance(value, _types.ModuleType):
                return
        space[self.name] = value

    def __delete__(self, package: _types.ModuleType) -> None:
        try:
            del vars(package)[self.name]
        except KeyError:
            raise AttributeError(self.name) from None


_OPCODES: tuple[int, int, int] | None = None  # IMPORT_NAME, IMPORT_FROM, EXTENDED_ARG


def _imports_submodule(frame: _types.FrameType, module: str, name: str) -> bool:
    """Whether ``frame`` is looking ``name`` up on its package for an ``import a.b[.c] as x``
    statement that names ``module`` (or a module under it): the instruction it runs is an
    ``IMPORT_FROM`` of ``name``, and the ``IMPORT_NAME`` before it imports ``module``. Any
    other look-up (an attribute, ``from a import b``, ``getattr``) is not, nor is anything
    this cannot read (then the function is given, as it always was)."""
    global _OPCODES
    if _OPCODES is None:
        import opcode

        # -1 (no byte) for one this Python lacks: no look-up is read as an import then
        _OPCODES = (opcode.opmap.get("IMPORT_NAME", -1), opcode.opmap.get("IMPORT_FROM", -1),
                    opcode.opmap.get("EXTENDED_ARG", -1))
    import_name, import_from, extended = _OPCODES
    code = frame.f_code
    raw = code.co_code  # two bytes per instruction (and per inline cache): opcode, argument
    at = frame.f_lasti
    if not 0 <= at < len(raw) or raw[at] != import_from or _name(code, at, extended) != name:
        return False
    at -= 2
    while at >= 0 and raw[at] != import_name:  # its statement's IMPORT_NAME: the nearest one
        at -= 2
    if at < 0:
        return False
    imported = _name(code, at, extended)
    return imported == module or (imported or "").startswith(f"{module}.")


def _name(code: _types.CodeType, at: int, extended: int) -> str | None:
    """The name the instruction at ``at`` of ``code`` takes (``co_names``), its argument
    widened by the ``EXTENDED_ARG`` prefixes before it."""
    raw = code.co_code
    arg, shift, before = raw[at + 1], 8, at - 2
    while before >= 0 and raw[before] == extended:
        arg |= raw[before + 1] << shift
        shift, before = shift + 8, before - 2
    return code.co_names[arg] if arg < len(code.co_names) else None


def _shadow(package: str, *names: str) -> None:
    """Bind ``names`` of ``package`` (functions named like submodules of the package) as
    :class:`_Shadowing` says. Lives in the root, which is imported before any of its
    submodules, so that sharing it imports nothing more (``import lacuna`` loads the errors
    and the model only: tests/test_startup2_root.py)."""
    module = _sys.modules[package]
    space: dict[str, object] = {name: _Shadowing(name) for name in names}
    space["__slots__"] = ()
    module.__class__ = type(f"_Package_{package.replace('.', '_')}", (type(module),), space)


_shadow(__name__, *_VERBS)

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
    with _needed("Lacuna's SQL column lineage (lacuna.lineage.sql; sqlglot)",
                "The statement was not classified"):
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
