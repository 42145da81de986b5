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

Every message says what happened, where (file, line, column when known) and how to fix it.
Data values never appear in messages: only names, paths and positions.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lacuna.model import Decision


class LacunaError(Exception):
    """Base class of every error Lacuna raises on purpose."""


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
