"""Lacuna's one error tree.

    LacunaError
    ├── ConfigError            a malformed lacuna.yaml / floe.yaml, or a bad setting
    ├── PluginError
    │   └── UnknownPluginError a name that no registry knows
    ├── ClassificationError    an input that cannot be read or classified
    ├── LineageError
    │   ├── RunOwnedError      a run id another user recorded: only they may record it again
    │   └── RunDismissedError  a run id whose run a steward dismissed: never recorded again
    ├── PolicyError            a policy bundle that does not load or compile
    ├── AuditError             the audit trail cannot be written or is tampered with
    ├── StorageError           a sealed governed file: altered, truncated, or its key missing
    ├── GovernanceViolation    a denied operation (also a PermissionError)
    └── IntegrationError       a host system (pandas, IPython, ...) is missing or misused
        └── ComponentImportError  a part of Lacuna imported on first use does not import
                               (also an ImportError): the operation that needed it is refused

Every message says what happened, where (file, line, column when known) and how to fix it.
Data values never appear in messages: only names, paths and positions.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from types import TracebackType

    from lacuna.model import Decision


class LacunaError(Exception):
    """Base class of every error Lacuna raises on purpose."""

    def __reduce__(self) -> tuple[object, ...]:
        # Pickled as its arguments and attributes, rebuilt without calling __init__: Python's
        # default calls ``cls(*args)``, which for an error whose __init__ takes something else
        # (GovernanceViolation's decision, a keyword-only ``column=``) failed to unpickle, so
        # a denial raised in a worker process (multiprocessing, concurrent.futures) reached
        # the parent as a TypeError instead.
        return (_rebuilt, (type(self), self.args, dict(vars(self))))


def _rebuilt(cls: type[LacunaError], args: tuple[object, ...], state: dict[str, object]
             ) -> LacunaError:
    """A :class:`LacunaError` as pickled (``LacunaError.__reduce__``)."""
    error = cls.__new__(cls, *args)
    error.args = args
    vars(error).update(state)
    return error


class ConfigError(LacunaError):
    """Configuration is malformed or names something that does not exist."""


class PluginError(LacunaError):
    """A plug-in could not be registered or loaded."""


class UnknownPluginError(PluginError, LookupError):
    """A registry was asked for a name it does not know."""


class ClassificationError(LacunaError):
    """An input could not be read or classified."""


class LineageError(LacunaError):
    """Lineage could not be derived or recorded."""


class RunOwnedError(LineageError):
    """A lineage run was recorded by another user: only its own user may record it again."""


class RunDismissedError(LineageError):
    """A steward dismissed the lineage run of this id: it is not recorded again under it."""


class UnknownRunError(LineageError, LookupError):
    """No lineage run of this id is recorded."""


class NotDismissableError(LineageError):
    """A lineage run that cannot be dismissed: Lacuna's own, already dismissed, or one that
    produced nothing."""


class PolicyError(LacunaError):
    """A policy bundle failed to load, parse or compile, or the engine failed."""

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        line: int | None = None,
        column: int | None = None,
    ) -> None:
        super().__init__(message)
        self.path = path
        self.line = line
        self.column = column


class AuditError(LacunaError):
    """The audit trail could not be written, read or verified."""


class StorageError(LacunaError):
    """A sealed governed file cannot be opened: not sealed, altered, truncated, or its key is
    not in the configured key store (lacuna.storage)."""


class IntegrationError(LacunaError):
    """A host integration is unavailable or was used in a way it cannot translate."""


class ComponentImportError(IntegrationError, ImportError):
    """A part of Lacuna imported on first use (the SQL statement analysis, the configuration,
    a root verb's module) failed to import: a package it needs is missing or broken. The
    operation that needed it is refused (fail closed). The message says which component, why
    (the import error, also chained as ``__cause__``) and what to install.

    Also an ``ImportError``, as the bare error it replaces was. ``component``: the component,
    in words; ``name``: the module that failed to import (``ImportError.name``).
    """

    def __init__(self, component: str, refused: str, cause: ImportError) -> None:
        self.component = component
        msg = (f"{component} could not be imported ({type(cause).__name__}: {cause}). "
               f"{refused}. Fix: {install_hint(cause.name)}")
        super().__init__(msg, name=cause.name)

    def __reduce__(self) -> tuple[object, ...]:
        # what __init__ takes is not what the message holds: rebuilt from the message
        return (_component_import_error, (str(self), self.component, self.name))


def _component_import_error(message: str, component: str, name: str | None
                            ) -> ComponentImportError:
    """A :class:`ComponentImportError` as pickled (``__reduce__``)."""
    error = ComponentImportError.__new__(ComponentImportError)
    ImportError.__init__(error, message, name=name)
    error.component = component
    return error


class needed:  # a context manager, named as the statement reads: `with needed(...):`
    """Around the first-use import of a component of Lacuna: an ``ImportError`` raised by the
    block becomes a :class:`ComponentImportError` naming ``component`` (words: what it is
    and its module) and saying what is refused (``refused``: "the statement did not run")::

        with needed("the SQL statement analysis (lacuna.sql.govern)", "It did not run"):
            from lacuna.sql.govern import run_governed

    Any other error, and a ``ComponentImportError`` from a component inside, pass through."""

    __slots__ = ("component", "refused")

    def __init__(self, component: str, refused: str) -> None:
        self.component = component
        self.refused = refused

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if isinstance(exc, ImportError) and not isinstance(exc, ComponentImportError):
            raise ComponentImportError(self.component, self.refused, exc) from exc


# Import names whose distribution on PyPI is named otherwise (lacuna's requirements and extras)
_DISTRIBUTIONS = {
    "crypto": "pycryptodome", "jwt": "pyjwt", "multipart": "python-multipart",
    "openlineage": "openlineage-python", "psycopg2": "psycopg2-binary", "regorus": "celine-regorus",
    "ruamel": "ruamel-yaml", "sklearn": "scikit-learn", "stdnum": "python-stdnum",
    "yaml": "pyyaml",
}


def install_hint(module: str | None) -> str:
    """What to install when ``module`` does not import: the requirement of Lacuna that provides
    it (``pip install "sqlglot>=25"``), the extra that does (``pip install "lacuna[duckdb]"``),
    or Lacuna again when the module is Lacuna's own or unknown (read from the installed
    package's requirements; only on this error's path)."""
    import re

    top = (module or "").partition(".")[0]
    reinstall = "pip install --force-reinstall lacuna (its installation is incomplete or broken)"
    if not top or top == "lacuna":
        return reinstall
    from importlib import metadata

    try:
        requires = metadata.requires("lacuna") or []
    except metadata.PackageNotFoundError:  # run from a source tree that is not installed
        requires = []

    def canonical(name: str) -> str:
        return re.sub(r"[-_.]+", "-", name).lower()

    wanted = canonical(_DISTRIBUTIONS.get(top.lower(), top))
    extras = []
    for line in requires:
        spec, _, marker = line.partition(";")
        found = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", spec.strip())
        if found is None or canonical(found.group()) != wanted:
            continue
        extra = re.search(r"""extra\s*==\s*["']([^"']+)["']""", marker)
        if extra is None:
            return f'pip install "{spec.strip()}" (the package {top!r}, which Lacuna requires)'
        extras.append(extra.group(1))
    chosen = [e for e in extras if e not in ("dev", "bench")] or extras
    if chosen:
        return f'pip install "lacuna[{chosen[0]}]" (the extra that provides {top!r})'
    return f"install the package that provides the module {top!r}, or {reinstall}"


class GovernanceViolation(LacunaError, PermissionError):
    """An operation was denied by policy; it did not run.

    The decision travels with the error so callers (and notebooks) can render the full
    explanation: reasons, alternatives, policy, steward and documentation.
    """

    def __init__(self, decision: Decision) -> None:
        from lacuna.feedback import feedback_link, render_text

        self.decision = decision
        self.feedback = feedback_link(decision)  # how to report a false positive
        super().__init__(render_text(decision, feedback=self.feedback))

    def _repr_html_(self) -> str:
        from lacuna.feedback import render_html

        return render_html(self.decision, feedback=self.feedback)

    def to_json(self) -> str:
        """The decision as JSON, for machines."""
        from lacuna.feedback import render_json

        return render_json(self.decision)
