"""``PUT /v1/policies/{id}`` with hostile or broken Rego: every refusal a 400 naming the
module, never a 500, a crash, a hang, or a change of the bundle's decisions."""

from __future__ import annotations

import time

import pytest

EXPORT = {"action": "export", "source": {"classification": "PROPRIETARY", "tags": ["PII"]}}


def _decision(app_client) -> dict:
    r = app_client.client.post("/v1/data/lacuna/decision/result", json={"input": EXPORT},
                               headers=app_client.headers("ana"))
    assert r.status_code == 200, r.text
    return r.json()["result"]


@pytest.mark.parametrize(("name", "source", "says"), [
    # parsed, but did not compile: regorus's RuntimeError was a 500
    ("unsafe", "package s10a\nimport rego.v1\nx if { y }\n", "unsafe.rego:3:8: use of undefined"),
    # 2x parse time per level: 22 levels held the event loop for seconds
    ("deep", "package s10c\nx := " + '{"a": ' * 22 + "1" + "}" * 22 + "\n",
     "deep.rego:2:78: brackets nested 13 deep"),
    # regorus recursed until the server process died (SIGSEGV) at GET /v1/data
    ("loop", "package s10g\nimport rego.v1\nf(x) := g(x)\ng(x) := f(x)\n",
     "loop.rego:3: function s10g.f calls itself (s10g.f -> s10g.g -> s10g.f)"),
    # joined the bundle's package: the Data API allowed what /api/v1/decide denied
    ("into", "package governance.export\nimport rego.v1\nallow := true\n",
     "package governance.export is the server's bundle's (governance.export)"),
    # made the bundle's deny a conflict: every Data API decision a 500
    ("under", "package governance.export.deny\nimport rego.v1\nx := true\n",
     "package governance.export.deny is the server's bundle's"),
    ("ours", "package lacuna.decision\nimport rego.v1\nresult := {\"allowed\": true}\n",
     "package lacuna.decision is Lacuna's own"),
])
def test_server10_a_bad_upload_is_a_400_and_changes_nothing(app_client, name, source,
                                                           says) -> None:
    before = _decision(app_client)
    started = time.process_time()
    r = app_client.client.put(f"/v1/policies/{name}.rego", content=source.encode(),
                              headers=app_client.headers("root"))
    assert time.process_time() - started < 0.5
    assert r.status_code == 400, r.text
    assert r.json()["code"] == "invalid_parameter"
    assert says in r.json()["message"]
    ids = [p["id"] for p in app_client.client.get(
        "/v1/policies", headers=app_client.headers("root")).json()["result"]]
    assert f"{name}.rego" not in ids
    assert _decision(app_client) == before
    assert before["allowed"] is False
    assert app_client.client.get("/v1/data/", headers=app_client.headers("ana")).status_code == 200


def test_server10_an_upload_not_utf8_is_refused_not_altered(app_client) -> None:
    """The body was decoded with replacement characters: a module other than the one sent
    was kept and listed."""
    root = app_client.headers("root")
    r = app_client.client.put("/v1/policies/latin.rego",
                              content=b'package s10l\nimport rego.v1\nx := "caf\xe9"\n',
                              headers=root)
    assert r.status_code == 400, r.text
    assert "latin.rego: the module is not UTF-8 text (byte 37)" in r.json()["message"]
    assert app_client.client.get("/v1/policies/latin.rego", headers=root).status_code == 404


def test_server10_a_good_upload_with_functions_and_its_own_package_works(app_client) -> None:
    """The allowed path: functions calling functions (no cycle), a package of its own beside
    the bundle's, UTF-8 text; the bundle's decision unchanged."""
    root = app_client.headers("root")
    source = ('package s10ok.helpers\nimport rego.v1\ntwice(x) := plus(x, x)\n'
              'plus(a, b) := a + b\nanswer := twice(input.n)\nname := "café"\n')
    r = app_client.client.put("/v1/policies/s10ok.rego", content=source.encode(), headers=root)
    assert r.status_code == 200, r.text
    try:
        got = app_client.client.post("/v1/data/s10ok/helpers", json={"input": {"n": 21}},
                                     headers=app_client.headers("ana"))
        assert got.json()["result"] == {"answer": 42, "name": "café"}
        assert _decision(app_client)["allowed"] is False
    finally:
        app_client.client.delete("/v1/policies/s10ok.rego", headers=root)


@pytest.mark.parametrize("policy_id", ["", "%20", "a%09b.rego", "x" * 257])
def test_server10_an_upload_under_an_unusable_id_is_refused(app_client, policy_id) -> None:
    """An empty id, one of blanks, one holding a tab (shown in every error naming the
    module) or a very long one was kept and listed; refused now, nothing kept."""
    root = app_client.headers("root")
    before = app_client.client.get("/v1/policies", headers=root).json()["result"]
    r = app_client.client.put(f"/v1/policies/{policy_id}", content=b"package s10id\n",
                              headers=root)
    assert r.status_code == 400, r.text
    assert "is not one a module can be kept under" in r.json()["message"]
    assert app_client.client.get("/v1/policies", headers=root).json()["result"] == before
    ok = app_client.client.put("/v1/policies/team/s10id.rego", content=b"package s10id\n",
                               headers=root)
    assert ok.status_code == 200, ok.text
    app_client.client.delete("/v1/policies/team/s10id.rego", headers=root)
