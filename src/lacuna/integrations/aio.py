"""Lacuna's synchronous SQL governance of an async driver's statement (psycopg's
``AsyncConnection``, asyncpg), run in a greenlet.

:func:`lacuna.sql.govern.run_governed` and the catalog look-ups are synchronous; an async
statement and its look-ups must be awaited. The governance runs in a greenlet (as SQLAlchemy's
asyncio layer runs its synchronous core): each time it needs the database (a look-up, the
statement itself) it hands the awaitable to the caller's coroutine, which awaits it on the event
loop and resumes the greenlet with the answer. So the look-ups run on the statement's own
connection (one transaction: a trigger created earlier in it is seen; the driver's connection
lock keeps them apart from other tasks), the statement runs between its decision and its record
exactly as a synchronous one does, and the event loop is blocked only while Lacuna's own
synchronous work runs (parsing, the policy, the audit record and lineage on its stores), never
while the database answers. No thread: the policy engines are per thread, the governed() block
is the caller's context (the greenlet runs in it), and a thread pool could deadlock when every
worker waits for a statement that waits for a lock another queued statement holds.
"""

from __future__ import annotations

import functools
import inspect
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from lacuna.errors import (
    ComponentImportError,
    GovernanceViolation,
    IntegrationError,
    StorageError,
)
from lacuna.model import Action

T = TypeVar("T")


@functools.cache
def _bridge() -> tuple[Any, Callable[[], Any]]:
    """The greenlet class Lacuna's governance of an async statement runs in, and greenlet's
    ``getcurrent``."""
    try:
        import greenlet
    except ImportError as exc:
        msg = (
            "Lacuna decides an async statement (psycopg.AsyncConnection, asyncpg) by running "
            "its (synchronous) governance in a greenlet, and the 'greenlet' package is not "
            "installed, so the statement could not be decided and was not run. Install it "
            "(pip install greenlet, or pip install 'lacuna[postgresql]'), or use a "
            "synchronous connection (psycopg.connect, psycopg2)."
        )
        raise IntegrationError(msg) from exc

    class Bridge(greenlet.greenlet):  # type: ignore[misc]
        """Runs Lacuna's synchronous governance of one async statement."""

    return Bridge, greenlet.getcurrent


async def bridged(fn: Callable[[], T]) -> T:
    """``fn()`` run in a greenlet whose :func:`await_` calls are awaited here."""
    bridge, getcurrent = _bridge()  # says how to install greenlet when it is missing
    parent = getcurrent()
    child = bridge(fn, parent)
    child.gr_context = parent.gr_context  # the caller's context: its governed() block, …
    result = child.switch()
    while not child.dead:
        try:
            value = await result
        except BaseException:  # the awaitable failed (or the task was cancelled): in fn
            result = child.throw(*sys.exc_info())
        else:
            result = child.switch(value)
    return cast("T", result)


def await_(awaitable: Awaitable[T]) -> T:
    """Await ``awaitable`` from the synchronous governance inside :func:`bridged`."""
    bridge, getcurrent = _bridge()
    current = getcurrent()
    if not isinstance(current, bridge):  # pragma: no cover - only called inside
        if inspect.iscoroutine(awaitable):
            awaitable.close()
        msg = "Lacuna awaited outside its governance of an async statement"
        raise IntegrationError(msg)
    return cast("T", current.parent.switch(awaitable))


@dataclass(slots=True)
class Run:
    """The statement of one async call, run (awaited) once the governance allows it; what it
    did, to tell the user's error from Lacuna's (as :func:`lacuna.integrations.pandas._patch.
    guard` does for a synchronous hook)."""

    start: Callable[[], Awaitable[Any]]
    done: bool = False
    result: Any = None
    error: BaseException | None = None

    def __call__(self) -> Any:
        try:
            result = await_(self.start())
        except BaseException as exc:
            self.error = exc
            raise
        self.done, self.result = True, result
        return result


async def decided(decide: Callable[[Run], Any], start: Callable[[], Awaitable[T]], label: str) -> T:
    """``decide(run)`` (which calls ``run`` if the statement is allowed) in a greenlet;
    ``run`` awaits ``start()``. A failure of Lacuna's own denies in enforce mode (warns, and
    runs the statement, otherwise), except a part of Lacuna that does not import (refused in
    every mode, saying what to install); the user's own error propagates unchanged."""
    run = Run(start)
    try:
        return cast("T", await bridged(lambda: decide(run)))
    except (GovernanceViolation, StorageError, ComponentImportError):
        raise  # as the guard: a decision, or refused in every mode (lacuna.integrations.pandas)
    except Exception as exc:
        if run.error is exc:
            raise  # the statement itself failed: the user's error, unchanged
        if run.error is not None:
            raise run.error  # noqa: B904 - the user's error, whatever Lacuna made of it
        from lacuna.governor import current

        current().internal_error(exc, action=Action.EXPORT, method=label, ran=run.done)
        if run.done:
            return cast("T", run.result)
        return await start()


__all__ = ["Run", "await_", "bridged", "decided"]
