"""Each heavy session component on one xdist worker (`make test` runs
`pytest -n auto --dist loadgroup`): the tests that use it are put in one xdist group, so the
component starts once per run rather than once per worker.

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
}


def group_of(item: pytest.Item) -> str | None:
    names = getattr(item, "fixturenames", ())
    return next((g for fixture, g in HEAVY_FIXTURES.items() if fixture in names), None)


@pytest.hookimpl(wrapper=True, tryfirst=True)  # around xdist's own hook, which reads the marks
def pytest_collection_modifyitems(config: pytest.Config,
                                  items: list[pytest.Item]) -> Iterator[None]:
    if not config.pluginmanager.hasplugin("xdist"):
        return (yield)
    grouped: list[tuple[pytest.Item, str]] = []
    for item in items:
        group = group_of(item)
        if group is not None:
            item.add_marker(pytest.mark.xdist_group(group))
            grouped.append((item, group))
    result = yield
    if config.getoption("loadgroup", False):  # set on the workers of a --dist loadgroup run
        for item, group in grouped:
            _tag_with_group(item, group)
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
