"""What the exception workflow needs from its caller: settings, the session and the stores.

The governor provides all of it; the workflow's modules take it as an argument (a step never
imports the governor; see tests/test_architecture.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from lacuna.audit.store import AuditStore
    from lacuna.config import Config
    from lacuna.exceptions.store import ExceptionStore
    from lacuna.model import Decision


class Context(Protocol):
    @property
    def config(self) -> Config: ...

    @property
    def session(self) -> str: ...

    @property
    def audit(self) -> AuditStore: ...

    @property
    def exceptions(self) -> ExceptionStore: ...


Checker = Callable[..., "Decision"]  # lacuna.check(data, destination, *, action=...)

_host: Callable[[], Context] | None = None
_checker: Checker | None = None


def install_host(provider: Callable[[], Context], checker: Checker) -> None:
    """How the public functions (``lacuna.request_exception`` ...) find the current session
    and dry-run a decision; :mod:`lacuna.governor` installs both when it is imported."""
    global _host, _checker
    _host, _checker = provider, checker


def current_host() -> Context:
    """The current governor, as the workflow sees it."""
    if _host is None:  # pragma: no cover - importing lacuna installs it (lacuna.governor)
        msg = "no Lacuna session: import lacuna (its governor installs the exceptions host)"
        raise RuntimeError(msg)
    return _host()


def dry_run(subject: Any, target: str, action: str) -> Decision:
    """The decision the current session would get for ``subject`` going to ``target``."""
    if _checker is None:  # pragma: no cover - see current_host
        msg = "no Lacuna session: import lacuna (its governor installs the exceptions host)"
        raise RuntimeError(msg)
    return _checker(subject, target, action=action)


__all__ = ["Checker", "Context", "current_host", "dry_run", "install_host"]
