"""The OPA Data API answers a package as OPA does: ``POST /v1/data/lacuna/decision`` is the
package's document (an object of its rules' values), where it answered no ``result`` at all.
A path where nothing is stays undefined (no ``result`` key), and a client pointed at a package
never reads its document as an allow."""

from __future__ import annotations

from typing import Any

import pytest

from lacuna.model import Action, Classification, Operation, User
from lacuna.server import fastlane

PII = {"tier": "PROPRIETARY", "tags": ["PII"]}


def _input(user: str = "ana", role: str = "analyst", tier: str = "PROPRIETARY") -> Any:
    from lacuna.policy.inputs import build_input

    return build_input(Operation(
        action=Action.EXPORT, user=User(id=user, role=role),
        classification=Classification.from_dict({**PII, "tier": tier})))


def _post(app_client, monkeypatch, path: str, doc: Any) -> list[Any]:
    """The answers of the fast lane and of the FastAPI route behind it."""
    h = app_client.headers("ana")
    answers = [app_client.client.post(f"/v1/data/{path}", json={"input": doc}, headers=h)]
    with monkeypatch.context() as m:
        m.setattr(fastlane, "wants", lambda scope: False)
        answers.append(app_client.client.post(f"/v1/data/{path}", json={"input": doc},
                                              headers=h))
    for r in answers:
        assert r.status_code == 200, r.text
    return [r.json() for r in answers]


def test_server9_a_package_answers_its_rules_values(app_client, monkeypatch) -> None:
    """The aggregator's package: an object holding each rule's value, its ``result`` the
    decision rule's own answer, on both lanes; the enclosing package holds it in turn."""
    doc = _input()
    rule = _post(app_client, monkeypatch, "lacuna/decision/result", doc)[0]["result"]
    assert rule["allowed"] is False
    for answer in _post(app_client, monkeypatch, "lacuna/decision", doc):
        package = answer["result"]
        assert package["result"] == rule
        assert package["allowed"] is rule["allowed"]
        assert package["votes"] == rule["votes"]
        assert isinstance(answer["decision_id"], str)
    for answer in _post(app_client, monkeypatch, "lacuna", doc):
        assert answer["result"]["decision"]["result"] == rule


def test_server9_a_package_of_an_uploaded_module_and_a_keyword_key(app_client,
                                                                    monkeypatch) -> None:
    """An uploaded package: its defined rules, the undefined one left out (as OPA does),
    its functions not part of it; a segment that is a Rego keyword (``if``) is a key like any
    other name, undefined where nothing is, never a 500."""
    root = app_client.headers("root")
    source = ("package s9probe\nimport rego.v1\nanswer := input.x * 2\n"
              "never if false\ndouble(v) := v * 2\n")
    put = app_client.client.put("/v1/policies/s9probe.rego", content=source, headers=root)
    assert put.status_code == 200, put.text
    try:
        for answer in _post(app_client, monkeypatch, "s9probe", {"x": 21}):
            assert answer["result"] == {"answer": 42}
        for path in ("s9probe/if", "s9probe/nothing/here"):
            for answer in _post(app_client, monkeypatch, path, {"x": 1}):
                assert "result" not in answer
                assert isinstance(answer["decision_id"], str)
    finally:
        app_client.client.delete("/v1/policies/s9probe.rego", headers=root)


def test_server9_a_package_whose_rule_fails_is_an_error_not_undefined(app_client) -> None:
    """A rule of the package that fails to evaluate: a 500 with OPA's error shape (as the
    rule alone answers), never an answer without it."""
    root = app_client.headers("root")
    source = "package s9boom\nimport rego.v1\nboom := 1 / input.zero\n"
    assert app_client.client.put("/v1/policies/s9boom.rego", content=source,
                                 headers=root).status_code == 200
    try:
        for path in ("s9boom", "s9boom/boom"):
            r = app_client.client.post(f"/v1/data/{path}", json={"input": {"zero": 0}},
                                       headers=app_client.headers("ana"))
            assert r.status_code == 500, (path, r.text)
            assert r.json()["code"] == "internal_error"
            assert "Traceback" not in r.text
    finally:
        app_client.client.delete("/v1/policies/s9boom.rego", headers=root)


@pytest.mark.parametrize(("path", "tier"), [
    ("lacuna/decision", "PROPRIETARY"), ("lacuna/decision", "PUBLIC"),
    ("lacuna/decision/result", "PUBLIC"),
])
def test_server9_a_client_pointed_at_the_package_is_denied(app_client, monkeypatch,
                                                           path: str, tier: str) -> None:
    """A remote engine whose ``policy.server.path`` names the package (its document holds
    a top-level ``allowed`` and ``votes`` beside the decision) is denied, saying which path to
    use, whether the decision allows or not; pointed at the rule, the same server allows."""
    from lacuna.http import HttpResponse
    from lacuna.policy.remote import RemoteEngine

    remote = RemoteEngine("http://lacuna.invalid:8181", path=path, retries=0)

    def request(method: str, url: str, *, content: bytes | None = None, **_: Any
                ) -> HttpResponse:
        r = app_client.client.post(url.removeprefix("http://lacuna.invalid:8181"),
                                   content=content, headers={
                                       **app_client.headers("ana"),
                                       "Content-Type": "application/json"})
        return HttpResponse(status=r.status_code, body=r.content, attempts=1)

    monkeypatch.setattr(remote._http, "request", request)
    doc = _input(tier=tier)
    decision = remote.evaluate(doc, operation_id="op-s9")
    remote.close()
    if path.endswith("/result"):
        assert decision.engine_error is None, decision.engine_error
        assert decision.allowed is True
        return
    assert decision.allowed is False
    assert "package's document" in (decision.engine_error or "")
    assert "lacuna/decision/result" in (decision.engine_error or "")


def test_server9_a_path_hundreds_of_segments_deep_is_undefined_not_a_500(app_client,
                                                                          monkeypatch) -> None:
    """The Rego parser refuses a reference some hundreds of segments deep: such a path,
    where nothing is, answers as any undefined path does (it was a 500 once packages were
    answered); a package deeper than the query names is still found, by its keys."""
    root = app_client.headers("root")
    deep = "package s9deep." + ".".join(["k"] * 70) + "\nimport rego.v1\nleaf := 1\n"
    assert app_client.client.put("/v1/policies/s9deep.rego", content=deep,
                                 headers=root).status_code == 200
    try:
        for answer in _post(app_client, monkeypatch, "lacuna/" + "a/" * 2000, {}):
            assert "result" not in answer
        for answer in _post(app_client, monkeypatch, "s9deep/" + "k/" * 70, {}):
            assert answer["result"] == {"leaf": 1}
        for answer in _post(app_client, monkeypatch, "s9deep/" + "k/" * 70 + "leaf", {}):
            assert answer["result"] == 1
        for answer in _post(app_client, monkeypatch, "s9deep/" + "k/" * 71, {}):
            assert "result" not in answer
    finally:
        app_client.client.delete("/v1/policies/s9deep.rego", headers=root)


@pytest.mark.parametrize(("body", "fix"), [
    (b'{"input": {"x": "\\ud800"}}', "lone surrogate"),
    (b'{"input": {"x": ' + b"[" * 200 + b"]" * 200 + b"}}", "nested fewer than 128"),
])
def test_server9_an_input_the_engine_refuses_says_what_to_fix(app_client, monkeypatch,
                                                              body: bytes, fix: str) -> None:
    """A lone surrogate escape was told to nest its JSON less deeply: each refusal (400,
    both lanes) names its own fix."""
    h = app_client.headers("ana") | {"Content-Type": "application/json"}
    answers = [app_client.client.post("/v1/data/lacuna/decision/result", content=body,
                                      headers=h)]
    with monkeypatch.context() as m:
        m.setattr(fastlane, "wants", lambda scope: False)
        answers.append(app_client.client.post("/v1/data/lacuna/decision/result",
                                              content=body, headers=h))
    for r in answers:
        assert r.status_code == 400, r.text
        assert fix in r.json()["message"]
