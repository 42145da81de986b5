"""What the exception workflow needs from its caller: settings, the session and the stores.

The governor provides all of it; the workflow's modules take it as an argument (a step never
imports the governor; see tests/test_architecture.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from lacuna.audit.store import AuditStore
    from lacuna.config import Config
    from lacuna.exceptions.store import ExceptionStore


class Context(Protocol):
    @property
    def config(self) -> Config: ...

    @property
    def session(self) -> str: ...

    @property
    def audit(self) -> AuditStore: ...

    @property
    def exceptions(self) -> ExceptionStore: ...


__all__ = ["Context"]
