"""OPA's Data API takes an object (``{"input": …}``) or nothing: a JSON string, number or
array was evaluated with no input and answered 200; it is a 400 in OPA's error shape now."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize("body", [b'"x"', b"42", b"[1, 2]", b"true"])
def test_a_body_that_is_no_object_is_refused_as_opa_refuses_it(app_client, body) -> None:
    r = app_client.client.post("/v1/data/lacuna/decision/result", content=body,
                               headers={**app_client.headers("ana"),
                                        "content-type": "application/json"})
    assert r.status_code == 400, r.text
    assert r.json()["code"] == "invalid_parameter"
    assert "JSON object" in r.json()["message"]


@pytest.mark.parametrize("body", [b"", b"null", b"{}"])
def test_no_body_or_an_empty_one_is_no_input(app_client, body) -> None:
    r = app_client.client.post("/v1/data/lacuna/decision/result", content=body,
                               headers={**app_client.headers("ana"),
                                        "content-type": "application/json"})
    assert r.status_code == 200, r.text
    assert "decision_id" in r.json()


def test_a_number_too_long_to_read_is_named_not_called_no_json(app_client) -> None:
    body = b'{"input": {"n": ' + b"9" * 5000 + b"}}"
    r = app_client.client.post("/v1/data/lacuna/decision/result", content=body,
                               headers={**app_client.headers("ana"),
                                        "content-type": "application/json"})
    assert r.status_code == 400, r.text
    assert "4,300" in r.json()["message"]
