"""Reversible monkey-patching, and the one guard around every hook.

``disable()`` must leave pandas exactly as it was: a :class:`Patch` remembers what the owner
held and puts it back.

Every hook that governs a call is installed behind :func:`guard`, once, centrally, so no hook
can break the user's job or allow by accident:

- the call passes straight to pandas when governance is off in this context (``governed()``
  blocks are per thread) or Lacuna is calling pandas itself (``lacuna._bypass``);
- what the user's own call raises (a missing file, a bad argument) propagates unchanged;
- anything else a hook raises is an internal error of Lacuna: in ``enforce`` mode a denial that
  names it (:meth:`lacuna.governor.Governor.internal_error`), in ``warn``/``observe`` a warning,
  and the user's call runs (or, if it had already run, its result is returned). The call is
  never run twice;
- except a part of Lacuna that does not import (:class:`~lacuna.errors.ComponentImportError`:
  the SQL statement analysis when sqlglot is missing, ...): it is refused in every mode, as
  the SQL hook refuses it, with the error that says what to install. It is an installation to
  fix, not a passing failure: in ``warn`` mode every later call would run ungoverned too.
"""

from __future__ import annotations

import contextvars
import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from lacuna import _bypass
from lacuna.errors import ComponentImportError, GovernanceViolation, StorageError
from lacuna.governor import current, governing
from lacuna.integrations.pandas._writers import NOT_WRITERS
from lacuna.model import Action

_MISSING = object()


def unset() -> object:
    """The marker of an attribute a :class:`Replacement` found absent."""
    return _MISSING

# what a governed writer accepts on top of pandas
WRITER_KEYWORDS = ("exception_id", "purpose", "encrypt")
_EXPORTS = ("put", "append", "close", "write")


def action_of(name: str) -> Action:
    """The kind of operation a hooked pandas function performs, from its name."""
    if name.startswith("read_"):
        return Action.READ
    if (name.startswith("to_") and name not in NOT_WRITERS) or name in _EXPORTS:
        return Action.EXPORT
    return Action.TRANSFORM


@dataclass(slots=True)
class Replacement:
    """One attribute of ``owner`` replaced by :meth:`build` of what it held, reversibly.

    ``uninstall`` puts back exactly what ``owner.__dict__`` held (or removes the attribute when
    it was inherited). The replacement built for an original is kept and reused while the
    attribute still holds that original, so enable/disable cycles do not rebuild hooks.

    Each ``lacuna.enable()`` installs some 2,100 of these (pandas, polars, pyarrow, DuckDB), so
    :meth:`install` does as little as it can: when ``owner.__dict__`` holds the very object the
    replacement was built from, it is swapped in without looking the attribute up again (a
    lookup through the class's bases, whose method cache each install had just invalidated;
    and a classmethod looked up is a new bound method each time, whose hook was rebuilt at
    every enable).
    """

    owner: Any
    name: str
    make: Callable[[Any], Any]  # original -> replacement
    installed: bool = field(default=False, kw_only=True)
    _own: Any = field(default=_MISSING, kw_only=True)  # what owner.__dict__ held before
    _wrapped: Any = field(default=_MISSING, kw_only=True)  # the original last built for
    _built_own: Any = field(default=_MISSING, kw_only=True)  # owner.__dict__'s entry then
    _replacement: Any = field(default=None, kw_only=True)

    def build(self, original: Any) -> Any:
        """The replacement for ``original`` (subclasses put it behind :func:`guard`)."""
        return self.make(original)

    def wrapped(self) -> Any:
        """The original the replacement was last built for (``unset()`` before any)."""
        return self._wrapped

    def current(self) -> Any:
        """The replacement last built (None before any)."""
        return self._replacement

    def install(self) -> None:
        if self.installed:
            return
        own = self._own = vars(self.owner).get(self.name, _MISSING)
        if own is _MISSING or own is not self._built_own or self._replacement is None:
            # inherited, changed since (another patcher, a reload), or never built
            original = getattr(self.owner, self.name, None)
            if original is not self._wrapped or self._replacement is None \
                    or own is not self._built_own:
                self._replacement = self.build(original)
                self._wrapped = original
            self._built_own = own
        setattr(self.owner, self.name, self._replacement)
        self.installed = True

    def uninstall(self) -> None:
        if not self.installed:
            return
        if self._own is _MISSING:
            delattr(self.owner, self.name)
        else:
            setattr(self.owner, self.name, self._own)
        self._own = _MISSING
        self.installed = False


@dataclass(slots=True)
class Patch(Replacement):
    """One attribute of pandas replaced on one owner (a module or a class).

    A replacement of one of pandas' own functions or methods is a governing hook: it is
    installed behind :func:`guard`, with the kind of operation told by its name (``read_*``,
    ``to_*``/``put``/``append``/``close``: export, else transform). A new attribute (the
    ``.lacuna`` accessor, the ``lacuna_*`` properties) is installed as made.
    """

    @property
    def original(self) -> Any:
        own = self._own if self.installed else vars(self.owner).get(self.name, _MISSING)
        return getattr(self.owner, self.name) if own is _MISSING else own

    @property
    def method(self) -> str:
        owner = getattr(self.owner, "__name__", type(self.owner).__name__)
        return f"pandas.{self.name}" if owner == "pandas" else f"pandas.{owner}.{self.name}"

    def build(self, original: Any) -> Any:
        if not callable(original):
            return self.make(original)
        action = action_of(self.name)
        strip = WRITER_KEYWORDS if action is Action.EXPORT else ()
        return guard(self.make, original, action=action, method=self.method, strip=strip)


@dataclass(slots=True)
class _Call:
    """What the user's own call did inside one guarded hook invocation."""

    ran: bool = False
    done: bool = False
    no_plaintext: bool = False  # the target is sealed governed storage: never a plain write
    result: Any = None
    error: BaseException | None = None


_CALL: contextvars.ContextVar[_Call | None] = contextvars.ContextVar("lacuna_call", default=None)


def guard(
    make: Callable[[Any], Any],
    original: Callable[..., Any],
    *,
    action: Action,
    method: str,
    strip: tuple[str, ...] = (),
) -> Callable[..., Any]:
    """``make(original)`` behind the guard described in the module docstring."""

    def tracked(*args: Any, **kwargs: Any) -> Any:
        call = _CALL.get()
        if call is None:  # pragma: no cover - the hook is only reached through ``guarded``
            return original(*args, **kwargs)
        call.ran = True
        try:
            result = original(*args, **kwargs)
        except BaseException as exc:
            call.error = exc
            raise
        call.done, call.result = True, result
        return result

    hook = make(tracked)

    @functools.wraps(original)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        if _bypass.active() or not governing():
            _refuse_unencrypted(kwargs, method)
            for key in strip:
                kwargs.pop(key, None)
            return original(*args, **kwargs)
        call = _Call()
        token = _CALL.set(call)
        try:
            return hook(*args, **kwargs)
        except (GovernanceViolation, StorageError, ComponentImportError):
            raise  # a decision, a sealed file that does not authenticate, or a part of Lacuna
            # that does not import (what to install): fail closed, in every mode
        except Exception as exc:
            if call.error is exc:
                raise  # the user's own call failed: their error, unchanged
            if call.error is not None:
                raise call.error  # noqa: B904 - the user's error, whatever a hook made of it
            return _internal(exc, call, original, args, kwargs, action, method, strip)
        finally:
            _CALL.reset(token)

    return guarded


def no_plaintext() -> None:
    """The hook's target must be sealed: if Lacuna fails, the call is refused, never run plain."""
    call = _CALL.get()
    if call is not None:
        call.no_plaintext = True


def users_error(exc: BaseException) -> None:
    """``exc`` is the answer to the user's call (e.g. the file system refusing a sealed write),
    not an internal failure of Lacuna: it propagates unchanged."""
    call = _CALL.get()
    if call is not None:
        call.error = exc


def _refuse_unencrypted(kwargs: dict[str, Any], method: str) -> None:
    """Never fall back to a plain write when the caller asked for ``encrypt=True``."""
    if kwargs.get("encrypt"):
        from lacuna.errors import ConfigError

        msg = (f"{method}(encrypt=True) is written by Lacuna only, and Lacuna is not governing "
               "this call (lacuna.enable()) or failed: nothing was written rather than writing "
               "it unencrypted.")
        raise ConfigError(msg)


def _internal(
    exc: Exception,
    call: _Call,
    original: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    action: Action,
    method: str,
    strip: tuple[str, ...],
) -> Any:
    """Lacuna failed inside a hook: deny (enforce) or warn and give the user their call."""
    try:
        gov = current()
    except Exception:  # no governor can even be built: fail closed, loudly
        raise exc from None
    gov.internal_error(exc, action=action, method=method, ran=call.done)  # raises in enforce
    if call.done:
        return call.result
    if call.no_plaintext:
        raise exc  # governed storage is sealed: Lacuna failed, so nothing is written
    _refuse_unencrypted(kwargs, method)
    for key in strip:
        kwargs.pop(key, None)
    with _bypass.bypass():
        return original(*args, **kwargs)
