"""Each heavy session component on one xdist worker (`make test` runs
`pytest -n auto --dist loadgroup`): the tests that use it are put in one xdist group, so the
component starts once per run rather than once per worker.

A test may also name its group itself (``@pytest.mark.xdist_group("quality")``): the scheduler
sends the groups out largest first (by count of tests), before the single tests, so a long test
in a group of its own starts early instead of finishing the run alone.

Registered by ``tests/conftest.py`` as a plugin; ``tests/test_xdist_groups.py`` checks the
grouping in a real ``-n 2`` run.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

# session fixture -> its xdist group
HEAVY_FIXTURES = {
    "spark": "spark",
    "dbt_built": "dbt",
    "browser": "chromium",
    "live_server": "chromium",
    "live": "server",
    "postgres_url": "postgres",
    "mount": "mount",
    "libfuse_mount": "mount",
    "plain_mount": "mount",
    "server_mount": "mount",
    "proxy_env": "proxy",
}


def group_of(item: pytest.Item) -> str | None:
    names = getattr(item, "fixturenames", ())
    return next((g for fixture, g in HEAVY_FIXTURES.items() if fixture in names), None)


@pytest.hookimpl(wrapper=True, tryfirst=True)  # around xdist's own hook, which reads the marks
def pytest_collection_modifyitems(config: pytest.Config,
                                  items: list[pytest.Item]) -> Iterator[None]:
    if not config.pluginmanager.hasplugin("xdist"):
        return (yield)
    for item in items:
        group = group_of(item)
        if group is not None:
            item.add_marker(pytest.mark.xdist_group(group))
    result = yield
    if config.getoption("loadgroup", False):  # set on the workers of a --dist loadgroup run
        for item in items:
            names = {str(m.args[0] if m.args else m.kwargs.get("name", "default"))
                     for m in item.iter_markers("xdist_group")}
            if names:  # the name xdist gives a test with several groups
                _tag_with_group(item, "_".join(sorted(names)))
    return result


def _tag_with_group(item: pytest.Item, group: str) -> None:
    """End the item's node id with ``@group``: that is how a worker tells the loadgroup
    scheduler (in the controller) the group. xdist 3.8 does it by writing ``item._nodeid``,
    which pytest 9.2 no longer reads (node ids are structured, ``item._id``:
    pytest-dev/pytest-xdist#1386); the suffix was lost without a word and every worker started
    every heavy component. Done here for either version, once."""
    if item.nodeid.endswith(f"@{group}"):
        return  # xdist did it (pytest < 9.2, or an xdist with the fix)
    if hasattr(item, "_id"):
        from _pytest.nodeid import NodeId

        item._id = NodeId.parse(f"{item.nodeid}@{group}")
    else:
        item._nodeid = f"{item.nodeid}@{group}"
