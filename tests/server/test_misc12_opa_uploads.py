"""Concurrent changes of the OPA API's uploaded modules (``PUT``/``DELETE /v1/policies``):
each was built from the set before the other and the last swap won, so one upload was lost
(or a delete undone). Builds are held open here until the other change has started its own
(or a short timeout passes), so the old code overlaps them every time."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from typing import Any

import pytest

from lacuna.server.opa import OpaData


def _module(name: str, value: int) -> bytes:
    return f"package {name}\nimport rego.v1\nvalue := {value}\n".encode()


class Hold:
    """Where an upload's build waits: for a second change (``together``), then, when a test
    sets ``after``, until that change is done (``done``)."""

    def __init__(self) -> None:
        self.together = threading.Barrier(2)
        self.after: threading.Event | None = None


@pytest.fixture
def overlapping(monkeypatch) -> Hold:
    """Every upload's build (not an evaluation's) waits, up to 0.25 s, for a second change to
    be under way too: without serialisation both always work from the same old set."""
    hold = Hold()
    build = OpaData._build

    def held(self: OpaData, uploaded: Any, parsed: Any = None) -> Any:
        engine = build(self, uploaded, parsed)
        if parsed is not None:
            # serialised: the other change waits for this one, the barrier times out
            with contextlib.suppress(threading.BrokenBarrierError):
                hold.together.wait(timeout=0.25)
            if hold.after is not None:
                hold.after.wait(timeout=0.25)
        return engine

    monkeypatch.setattr(OpaData, "_build", held)
    return hold


def _at_once(*calls: Callable[[], Any]) -> list[Any]:
    start = threading.Barrier(len(calls))
    out: list[Any] = [None] * len(calls)

    def run(i: int) -> None:
        start.wait()
        out[i] = calls[i]()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    return out


def _value(app_client, package: str) -> Any:
    r = app_client.client.get(f"/v1/data/{package}/value", headers=app_client.headers("ana"))
    assert r.status_code == 200, r.text
    return r.json().get("result")


def _ids(app_client) -> list[str]:
    got = app_client.client.get("/v1/policies", headers=app_client.headers("root"))
    return [p["id"] for p in got.json()["result"]]


def test_misc12_two_concurrent_uploads_are_both_kept(app_client, overlapping) -> None:
    root = app_client.headers("root")
    try:
        answers = _at_once(*(
            lambda n=n, v=v: app_client.client.put(f"/v1/policies/m12{n}.rego",
                                                   content=_module(f"m12{n}", v), headers=root)
            for n, v in (("a", 1), ("b", 2))))
        assert [r.status_code for r in answers] == [200, 200], [r.text for r in answers]
        assert {"m12a.rego", "m12b.rego"} <= set(_ids(app_client))
        assert (_value(app_client, "m12a"), _value(app_client, "m12b")) == (1, 2)
    finally:
        for n in ("a", "b"):
            app_client.client.delete(f"/v1/policies/m12{n}.rego", headers=root)


def test_misc12_a_failing_upload_beside_a_good_one_changes_nothing(app_client,
                                                                   overlapping) -> None:
    """The good upload is kept, the bad one is a 400 and is not listed, and the set the
    good one replaced is otherwise unchanged."""
    root = app_client.headers("root")
    client = app_client.client
    assert client.put("/v1/policies/m12k.rego", content=_module("m12k", 1),
                      headers=root).status_code == 200
    overlapping.together.reset()  # that upload waited alone
    try:
        before = _ids(app_client)
        good, bad = _at_once(
            lambda: client.put("/v1/policies/m12g.rego", content=_module("m12g", 2),
                               headers=root),
            lambda: client.put("/v1/policies/m12x.rego",
                               content=b"package m12x\nimport rego.v1\nx if { y }\n",
                               headers=root))
        assert good.status_code == 200, good.text
        assert bad.status_code == 400, bad.text
        assert "m12x.rego:3:8" in bad.json()["message"]
        after = _ids(app_client)
        assert sorted(after) == sorted([*before, "m12g.rego"])
        assert (_value(app_client, "m12k"), _value(app_client, "m12g")) == (1, 2)
        assert client.get("/v1/policies/m12x.rego", headers=root).status_code == 404
    finally:
        for name in ("m12k", "m12g"):
            client.delete(f"/v1/policies/{name}.rego", headers=root)


def test_misc12_an_upload_and_a_delete_at_once_neither_is_undone(app_client,
                                                                 overlapping) -> None:
    """On the module's own object, as any thread may call it: the upload built from the set
    still holding the deleted module put it back."""
    opa = app_client.state.opa
    opa.put("m12d.rego", _module("m12d", 1).decode())
    overlapping.together.reset()  # that upload waited alone
    overlapping.after = threading.Event()

    def delete_while_building() -> bool:  # a delete builds nothing: join the upload's wait
        with contextlib.suppress(threading.BrokenBarrierError):
            overlapping.together.wait(timeout=0.25)
        try:
            return opa.delete("m12d.rego")
        finally:
            overlapping.after.set()  # the upload swaps after this (or after its timeout)

    try:
        _, deleted = _at_once(lambda: opa.put("m12u.rego", _module("m12u", 2).decode()),
                              delete_while_building)
        assert deleted is True
        assert "m12d.rego" not in opa.uploaded
        assert "m12u.rego" in opa.uploaded
        assert _value(app_client, "m12d") is None
        assert _value(app_client, "m12u") == 2
    finally:
        opa.delete("m12d.rego")
        opa.delete("m12u.rego")


@pytest.mark.parametrize("source", ["package m12s\nimport rego.v1\nvalue := a\n",
                                    "package m12s\nvalue := a\n"])
def test_misc12_an_upload_that_cannot_be_evaluated_is_refused(app_client, source) -> None:
    """regorus checks a rule's safety only when it evaluates it: ``value := a`` was accepted,
    and then ``GET /v1/data/`` (the whole document) was a 500 for every caller."""
    root, ana = app_client.headers("root"), app_client.headers("ana")
    r = app_client.client.put("/v1/policies/m12s.rego", content=source.encode(), headers=root)
    try:
        assert r.status_code == 400, r.text
        said = r.json()["message"]
        # refused before it is evaluated since server11 (lacuna.policy.safety), OPA's wording
        assert "m12s.rego:" in said
        assert "rego_unsafe_var_error: var a is unsafe" in said
        assert "value := a" in said
        assert "m12s.rego" not in _ids(app_client)
        assert app_client.client.get("/v1/data/", headers=ana).status_code == 200
    finally:  # kept (the old code): not left to break the module's later tests
        app_client.client.delete("/v1/policies/m12s.rego", headers=root)


def test_misc12_an_upload_whose_rules_need_input_is_kept(app_client) -> None:
    """The allowed path: rules undefined without input (one that fails on the wrong input)
    are no error; each answers with its input."""
    root, ana = app_client.headers("root"), app_client.headers("ana")
    source = ("package m12i\nimport rego.v1\nanswer := input.n * 2\n"
              "ratio := 1 / input.zero\nnames contains n if some n in input.names\n")
    r = app_client.client.put("/v1/policies/m12i.rego", content=source.encode(), headers=root)
    assert r.status_code == 200, r.text
    try:
        got = app_client.client.post("/v1/data/m12i/answer", json={"input": {"n": 21}},
                                     headers=ana)
        assert got.json()["result"] == 42
        assert app_client.client.get("/v1/data/", headers=ana).status_code == 200
    finally:
        app_client.client.delete("/v1/policies/m12i.rego", headers=root)
