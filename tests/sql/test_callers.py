"""Who made a database call (lacuna.integrations.callers): the rule every driver integration
uses to let Lacuna's and SQLAlchemy's statements pass and decide its user's."""

from __future__ import annotations

import importlib
from typing import Any

from lacuna.integrations import callers


def _run_as(module: str, source: str, **names: Any) -> Any:
    """Run ``source`` (which sets ``result``) in a frame whose globals say its module is
    ``module`` (and only say it: :func:`_run_in` runs in the module itself)."""
    scope: dict[str, Any] = {"__name__": module, **names}
    exec(compile(source, f"<{module}>", "exec"), scope)
    return scope["result"]


def _run_in(module: str, source: str, **names: Any) -> Any:
    """Run ``source`` in the installed module ``module`` itself (its globals, its file name):
    a frame of that module's, as the process owner can make one."""
    space = vars(importlib.import_module(module))
    missing = object()
    held = {n: space.get(n, missing) for n in (*names, "result")}
    space.update(names)
    try:
        exec(compile(source, space["__file__"], "exec"), space)
        return space["result"]
    finally:  # the module as it was: a name it had (``lacuna.check``) gets its value back
        for name, value in held.items():
            if value is missing:
                space.pop(name, None)
            else:
                space[name] = value


def test_a_package_holds_its_modules_and_not_its_namesakes() -> None:
    asyncpg = callers.among((), packages=("asyncpg",))
    assert asyncpg("asyncpg")
    assert asyncpg("asyncpg.pool")
    assert not asyncpg("asyncpgsa")
    assert not asyncpg("asyncpg_extras.pool")
    exact = callers.among(("lacuna.integrations.sqlite3",))
    assert exact("lacuna.integrations.sqlite3")
    assert not exact("lacuna.integrations.sqlite3x")


def test_the_first_caller_steps_over_the_skipped_modules_and_this_one() -> None:
    skip = callers.among(("driver.inner",))
    source = "result = callers.module_of(callers.first_caller(skip))"
    inner = _run_as("driver.inner", "def call():\n    " + source + "\n    return result\n"
                    "result = call", callers=callers, skip=skip)
    assert _run_as("users.job", "result = inner()", inner=inner) == "users.job"


def test_lacuna_and_sqlalchemy_are_decided_elsewhere_and_a_user_is_not() -> None:
    skip = callers.among(("driver",))
    check = _run_as("driver", "def check():\n    return callers.decided_elsewhere("
                    "callers.first_caller(skip))\nresult = check", callers=callers, skip=skip)
    assert _run_in("lacuna.sql.catalog", "result = check()", check=check)
    assert _run_in("lacuna", "result = check()", check=check)
    assert _run_in("sqlalchemy.engine.base", "result = check()", check=check)
    assert not _run_as("lacunalike", "result = check()", check=check)
    assert not _run_as("users.job", "result = check()", check=check)
    # a frame whose globals only claim the name is the user's (sqlite3's statements from a
    # user's package named lacuna, or from exec(…, {"__name__": "sqlalchemy.x"}), went undecided)
    assert not _run_as("lacuna.sql.catalog", "result = check()", check=check)
    assert not _run_as("lacuna", "result = check()", check=check)
    assert not _run_as("sqlalchemy.engine.base", "result = check()", check=check)


def test_a_connection_a_users_engine_opens_is_not_lacunas() -> None:
    skip = callers.among(("driver",))
    opened = _run_as("driver", "def opened():\n    return callers.opened_by_lacuna(skip)\n"
                     "result = opened", callers=callers, skip=skip)
    assert _run_in("lacuna.state.engines", "result = opened()", opened=opened)
    assert not _run_as("lacuna.state.engines", "result = opened()", opened=opened)  # a claim
    pool = _run_as("sqlalchemy.pool.base", "def connect():\n    return opened()\n"
                   "result = connect", opened=opened)
    assert not _run_as("users.job", "result = pool()", pool=pool)  # SQLAlchemy, for the user
    assert _run_in("lacuna.state.engines", "result = pool()", pool=pool)  # for Lacuna
    assert not _run_as("users.job", "result = opened()", opened=opened)
