"""The gate's cost per request without a change of decision: a GET's few short values are
matched by the prefilters in Python's ``re``, as RE2 matches them. In process (no sockets)."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from lacuna.proxy.gate import OutboundRequest, _shaped

EXTERNAL = "https://api.external-service.com/v1"


def _prefilters() -> list[str]:
    from lacuna.classify.heuristic import strong_recognizers

    return [f"^(?:{r.prefilter})$" for _, r in strong_recognizers()]


def _arrow(values: list[str]) -> list[list[bool]]:
    array = pa.array(values, type=pa.string())
    return [pc.match_substring_regex(array, p).to_pylist() for p in _prefilters()]


@pytest.mark.parametrize("values", [
    ["v1", "orders", "1010", "items", "4111111111111111", "4111 1111 1111 1111"],
    ["ana@example.com", "ana@example.com\n", "\nana@example.com", "a@b", "@", "x@y@z"],
    ["\x0b", "a\x0bb", "\x0c", " ", "\t", "", "4111\x0b1111\x0b1111\x0b1111"],
    ["١٢٣٤٥٦٧٨٩", "４１１１１１１１１１１１１１１１", "ａｎａ@example.com", "Straße 1", "été"],
    ["192.168.0.1", "::1", "fe80::1%eth0", "00:1A:2B:3C:4D:5E", "123-45-6789", "12-3456789"],
    ["GB82WEST12345698765432", "DEUTDEFF500", "1HGCM82633A004352", "+44 20 7946 0958"],
    ["8f14e45f-ceea-467f-a0d3-2b1a4c5d6e7f", "https://example.com/x", "A00.1", "$1,234.50"],
])
def test_a_small_list_is_matched_in_python_as_in_re2(values):
    """The gate's prefilters run in Python's ``re`` over a few short values (a GET's path,
    query and headers): they accept exactly what RE2 accepts, vertical tabs, Unicode digits
    and a final newline included."""
    python = [hits for _, _, hits in _shaped(values)]
    assert python == _arrow(values)


def test_a_get_is_matched_without_compiling_a_regex_per_prefilter(gate, monkeypatch):
    """Each Arrow regex call compiles its pattern again: a GET's path, query and headers
    went through some 24 prefilters 4 times (about 7 ms of the gate's 21 per request). Its
    decision is the same."""
    calls = []
    original = pc.match_substring_regex

    def counted(values, pattern, *args, **kwargs):
        calls.append(pattern)
        return original(values, pattern, *args, **kwargs)

    monkeypatch.setattr(pc, "match_substring_regex", counted)
    prefilters = set(_prefilters())
    url = f"{EXTERNAL}/orders/1010/items?page=3&sort=asc"
    allowed = gate.check(OutboundRequest(method="GET", url=url, headers={
        "accept": "application/json", "user-agent": "python-requests/2.31"}))
    assert allowed.forward
    assert not prefilters.intersection(calls)
    assert gate.check(OutboundRequest(method="GET", url=f"{EXTERNAL}/u/ana@example.com?x=1")
                      ).status == 451
