"""The verbs behind ``lacuna.enable()``, ``lacuna.governed()`` and ``lacuna.check()``."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from lacuna import governor as _governor
from lacuna.errors import ClassificationError, ConfigError, IntegrationError, LacunaError
from lacuna.integrations import imports
from lacuna.model import Action, Decision, Operation, Source

if TYPE_CHECKING:
    from lacuna.config import Config


def _pandas_integration() -> Any:
    try:
        from lacuna.integrations import pandas as integration
    except ImportError as exc:  # pragma: no cover - pandas is a core dependency today
        msg = f"the pandas integration needs pandas: pip install pandas ({exc})"
        raise IntegrationError(msg) from exc
    return integration


def _frame_integrations(mode: str) -> imports.Found:
    """The integrations of the other dataframe libraries (polars, pyarrow, DuckDB's Python
    API) and of the DB-API drivers used directly (the standard library's ``sqlite3``,
    psycopg, psycopg2, asyncpg) that are imported already: governed along with pandas. Those
    imported later are hooked by their import (:mod:`lacuna.integrations.imports`): enabling
    does not import a library the process does not use.

    A library that is imported but whose integration does not import (a version of it
    Lacuna does not know: a module or name the integration needs is gone) would run
    ungoverned: that is refused in ``enforce`` mode (:class:`IntegrationError`) and warned
    about in ``warn``/``observe`` (:class:`~lacuna.governor.GovernanceFailureWarning`), here
    or, for a library imported later, at its ``import``."""
    return imports.imported(mode, _ungoverned)


def _ungoverned(library: str, exc: ImportError, mode: str) -> None:
    import warnings

    msg = imports.ungoverned_message(library, exc)
    if mode == "enforce":
        raise IntegrationError(msg) from exc
    warnings.warn(f"{msg} It runs ungoverned because the mode is {mode!r}.",
                  _governor.GovernanceFailureWarning,
                  stacklevel=_governor._user_stacklevel())  # at the user's enable()/with


def enable(config: Config | str | None = None, **overrides: Any) -> None:
    """Govern pandas in this process: reads classify, writes are decided, lineage is tracked.

    Args:
        config: a ``Config`` or a path to ``lacuna.yaml``; ``None`` keeps the current settings
            (or searches for ``lacuna.yaml`` on first use).
        **overrides: settings to override, e.g. ``mode="warn"`` or ``user={"role": "analyst"}``.

    Raises:
        ConfigError: the configuration is invalid (``lacuna.yaml`` is read here when no
            governor was made yet: its file, line and key).
        PolicyError: the configured policy bundle does not compile or cannot be read (file,
            line and column); nothing is governed then.
        IntegrationError: in ``enforce`` mode, a library that is imported already (polars,
            pyarrow, DuckDB, a database driver) cannot be governed by this Lacuna (its
            integration does not import); nothing is governed then. In ``warn``/``observe`` a
            ``GovernanceFailureWarning`` says so and the rest is governed. A library imported
            later is hooked by its own ``import`` (:mod:`lacuna.integrations.imports`): that
            ``import`` raises ``IntegrationError`` (enforce) or warns instead.

    Example:
        >>> import lacuna
        >>> lacuna.enable(mode="observe")
        >>> lacuna.enabled()
        True
        >>> lacuna.disable()
    """
    gov = _governor.ready(config, **overrides)
    pandas = _pandas_integration()
    found = _frame_integrations(gov.config.mode)  # refused here: nothing installed yet
    pandas.install()
    imports.install(gov.config.mode, found)
    _install_sql()
    _governor.set_enabled(True)


def _install_sql() -> None:
    """SQLAlchemy engines are governed while pandas is (lacuna.sql; checked per statement)."""
    from lacuna.sql import hook

    hook.install()


def disable(*, flush_timeout: float = 5.0) -> None:
    """Stop governing pandas in this process and restore it exactly as it was.

    A ``governed()`` block that is open (in this or another thread) stays governed until it
    exits; pandas is restored when the last one does. The records of the decisions made so
    far are written before it returns: the decision log's queue and the OpenLineage events
    still queued get up to ``flush_timeout`` seconds each (they are written in the background,
    up to a second late, and otherwise only at the interpreter's exit).
    """
    _governor.set_enabled(False)
    _pandas_integration().uninstall()
    imports.uninstall()
    _flush_records(flush_timeout)
    from lacuna.state import engines

    engines.drop_idle()  # the engines of closed governors' stores (lacuna.state.engines)


def _flush_records(timeout: float) -> None:
    """Write what the current governor's decision log and OpenLineage emitter queued (never
    creates a governor; a sink that is slow is waited for ``timeout`` seconds, then left to
    finish in the background, as at exit; other configurations' emitters are left to exit)."""
    from lacuna.lineage import ol_emit

    gov = _governor.existing()
    if gov is None:
        return
    gov.flush(timeout)
    emitter = ol_emit.existing_emitter(gov.config)
    if emitter is not None:
        emitter.flush(timeout)


def enabled() -> bool:
    """Whether pandas is governed right now, in this thread (or asyncio task)."""
    return _governor.governing()


@contextlib.contextmanager
def governed(config: Config | str | None = None, **overrides: Any) -> Iterator[None]:
    """Govern pandas inside a ``with`` block, in this thread (or asyncio task) only.

    Without arguments the block uses the current governor; with a config or overrides it uses
    its own, built from ``config`` (or, when ``config`` is ``None``, from the current settings)
    with the overrides applied. On exit this thread is exactly as before the block: the same
    governor, the same mode, governed or not. Other threads are never affected, and threads
    started inside the block are not governed by it (they have their own context; use
    ``lacuna.enable()`` to govern the whole process, or run them with
    ``contextvars.copy_context().run``).

    Raises:
        ConfigError: the configuration or an override is invalid.
        PolicyError: the configured policy bundle does not compile (file, line and column).
        IntegrationError: in ``enforce`` mode, an installed library Lacuna cannot govern (as
            for :func:`enable`).

    Example:
        >>> import lacuna
        >>> with lacuna.governed(mode="observe"):
        ...     lacuna.enabled(), lacuna.governor.current().config.mode
        (True, 'observe')
    """
    own = config is not None or bool(overrides)
    if own:
        base = _governor.current().config
        gov = _governor.Governor(_governor.build_config(config, base=base, **overrides))
        try:
            gov.engine  # noqa: B018 - compile now: a broken policy fails here, with file:line
        except BaseException:
            gov.close()
            raise
    else:
        gov = _governor.current()
        gov.engine  # noqa: B018 - as in enable(): a broken bundle fails here, not at first use
    mode = gov.config.mode
    try:
        pandas = _pandas_integration()
        found = _frame_integrations(mode)
    except BaseException:
        if own:
            gov.close()
        raise
    _install_sql()
    held = []
    try:
        pandas.hold()
        held.append(pandas.release)
        imports.hold(mode, found)
        held.append(lambda: imports.release(mode))
        with _governor.scoped(gov):
            yield
    finally:
        for release in reversed(held):
            release()
        if own:
            gov.close()


def _is_pandas(data: Any) -> bool:
    module = type(data).__module__  # "pandas" for DataFrame and Series since pandas 3
    return (module == "pandas" or module.startswith("pandas.")) and hasattr(data, "attrs")


def check(
    data: Any,
    destination: str | os.PathLike[str] | None = None,
    *,
    action: str = "export",
    purpose: str | None = None,
    exception_id: str | None = None,
) -> Decision:
    """Decide an operation without running it (a dry run; nothing is written or recorded).

    Args:
        data: an :class:`~lacuna.model.Operation`, a DataFrame or Series, a path to a data
            file, or anything :func:`lacuna.classify` accepts (column names, ``{name: samples}``).
        destination: where the data would go (a path or URI); omitted for an ``Operation``.
        action: ``export`` (default), ``write``, ``read`` or ``transform``.
        purpose: the business purpose, when a policy asks for one.
        exception_id: an approved exception to apply.

    Returns:
        The :class:`~lacuna.model.Decision`, explained. If Lacuna fails while deciding (an
        internal error), a fail-closed denial that names the error.

    Raises:
        ConfigError: an unknown action or an invalid setting.
        ClassificationError: ``data`` cannot be read or classified as given.
    """
    gov = _governor.current()
    if isinstance(data, Operation):
        return gov.decide(data)
    try:
        verb = Action(action)
    except ValueError:
        allowed = ", ".join(a.value for a in Action)
        msg = f"unknown action {action!r}; expected one of: {allowed}"
        raise ConfigError(msg) from None
    try:
        return _check(gov, data, destination, verb, purpose, exception_id)
    except LacunaError as exc:
        if isinstance(exc, (ConfigError, ClassificationError)):
            raise  # the caller's input: a bad setting, a file that cannot be read
        return gov.failure_decision(exc, action=verb, method="lacuna.check")
    except Exception as exc:  # Lacuna failed: a dry run answers with a fail-closed denial
        return gov.failure_decision(exc, action=verb, method="lacuna.check")


def _check(
    gov: _governor.Governor,
    data: Any,
    destination: str | os.PathLike[str] | None,
    verb: Action,
    purpose: str | None,
    exception_id: str | None,
) -> Decision:
    if isinstance(data, (str, os.PathLike)):
        from lacuna import _bypass
        from lacuna.classify.readers import read_sample

        name = os.fspath(data)
        with _bypass.bypass():
            frame = read_sample(name, gov.config.classification.sample_rows)
        classification, _ = gov.classify_source(name, frame)
        sources = [Source(name=name, classification=classification)]
    elif _is_pandas(data):
        from lacuna.lineage.frames import written_state

        # the frame as it is now (projections, new columns), with its index and header as a
        # writer writes them (the labels that are values named by position)
        state = written_state(data, gov.config.classification)
        classification = state.classification
        sources = [Source(name=r, classification=classification) for r in state.lineage.roots()]
    else:  # column names, {name: samples}, text: whatever classify() takes
        from lacuna.classify import classify

        classification = classify(data, config=gov.config.classification)
        sources = []
    op = gov.operation(
        verb,
        classification,
        sources=sources,
        destination=gov.destination(destination) if destination is not None else None,
        method="lacuna.check",
        purpose=purpose,
        exception_id=exception_id,
    )
    return gov.decide(op)


def detokenize(
    df: Any, columns: Sequence[str] | str, *, governor: _governor.Governor | None = None
) -> Any:
    """The values behind ``tokenize``'s tokens in ``columns``, for authorised roles only.

    Every call, allowed or denied, is written to the audit trail; see
    :func:`lacuna.anonymize.reveal.detokenize` for the errors it raises.
    """
    from lacuna.anonymize.reveal import detokenize as reveal

    return reveal(df, columns, governor=governor if governor is not None else _governor.current())
