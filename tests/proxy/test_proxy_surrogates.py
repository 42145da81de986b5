"""A JSON body holding a lone surrogate (``"\\ud800"``, text no UTF-8 holds) is decided on the
rest of its text: it made the classifier fail, and the request was refused as "Lacuna failed"
(an internal error to report) whatever it held."""

from __future__ import annotations

import pytest

from lacuna.proxy.gate import OutboundRequest

EXTERNAL = "https://api.external-service.com/v1"


def _post(gate, body: bytes):
    return gate.check(OutboundRequest(method="POST", url=EXTERNAL, body=body,
                                      headers={"content-type": "application/json"}))


@pytest.mark.parametrize("body", [b'{"q": "\\ud800abc"}', b'{"\\udfff": "x"}',
                                  b'{"q": ["a", "b\\udc00c"]}'])
def test_a_lone_surrogate_in_a_public_body_is_decided_and_forwarded(gate, body: bytes) -> None:
    verdict = _post(gate, body)
    assert verdict.forward, verdict.decision.reasoning
    assert verdict.decision.engine_error is None


def test_a_lone_surrogate_beside_personal_data_is_refused_for_the_data(gate) -> None:
    verdict = _post(gate, b'{"q": "ann@example.com \\udc00", "name": "Ann \\ud800Lee"}')
    assert not verdict.forward
    assert verdict.decision.engine_error is None  # decided, not "Lacuna failed"
    assert "PROPRIETARY" in verdict.decision.reasoning
