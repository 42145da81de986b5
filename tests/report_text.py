"""Test reports that xdist can send: text a test captured or failed on may hold lone
surrogates (a Linux file name read with ``surrogateescape``, a value a test made on purpose),
and execnet refuses any string that is not UTF-8 encodable. One such failure used to end the
whole run with an INTERNALERROR instead of being reported. Here the report's captured sections
and failure text are escaped (``\\udce9``) before a worker sends them; a report that encodes
already is left untouched.

Registered by ``tests/conftest.py`` as a plugin.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def escaped(text: str) -> str:
    """``text`` with every character UTF-8 cannot encode written as a backslash escape."""
    return text if _encodable(text) else text.encode("utf-8", "backslashreplace").decode("utf-8")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item,
                              call: pytest.CallInfo[None]) -> Iterator[None]:
    report: pytest.TestReport = yield
    report.sections = [(escaped(name), escaped(text)) for name, text in report.sections]
    if report.longrepr is not None and not isinstance(report.longrepr, tuple):
        text = str(report.longrepr)
        if not _encodable(text):
            report.longrepr = escaped(text)
    return report
