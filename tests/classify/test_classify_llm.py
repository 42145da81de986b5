"""Layer 3 against a stand-in OpenAI-compatible server (stdlib, in a thread).

The stand-in is not a model: it answers with whatever the test scripts (a JSON answer, a 500,
malformed JSON, a long sleep) so the client's time budget, errors and circuit breaker can be
tested. The real model runs in ``test_classify_llm_real.py``.
"""

import contextlib
import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pandas as pd
import pytest

from lacuna.classify.layers import ColumnInput
from lacuna.classify.llm.client import ChatClient, CircuitBreaker, LlmUnavailable
from lacuna.classify.llm.layer import LlmLayer, client_for
from lacuna.classify.scan import column_sample
from lacuna.classify.settings import LlmSettings
from lacuna.model import ColumnClass, ColumnKind, Evidence, Layer, Sensitivity

ANSWER = {"classification": "pii", "pii_type": "name", "sensitivity": "high",
          "tier": "PROPRIETARY", "confidence": 0.9, "reasoning": "looks like people's names"}


class StandIn:
    """A scripted stand-in for an OpenAI-compatible chat endpoint."""

    def __init__(self):
        self.mode, self.delay, self.requests = "ok", 0.0, []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.requests.append({"path": self.path, "body": body,
                                       "auth": self.headers.get("Authorization")})
                time.sleep(outer.delay)
                if outer.mode == "500":
                    self.send_response(500)
                    self.end_headers()
                    return
                if outer.mode == "trickle":  # a valid answer, one byte every 0.1 s
                    payload = json.dumps(
                        {"choices": [{"message": {"content": json.dumps(ANSWER)}}]}).encode()
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    with contextlib.suppress(OSError):
                        for i in range(len(payload)):
                            self.wfile.write(payload[i:i + 1])
                            self.wfile.flush()
                            time.sleep(0.1)
                    return
                content = {"ok": json.dumps(ANSWER), "malformed": "{not json",
                           "array": "[1, 2]"}.get(outer.mode, "")
                payload = (b"<html>" if outer.mode == "html" else json.dumps(
                    {"choices": [{"message": {"content": content}}]}).encode())
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                with contextlib.suppress(OSError):  # the client gave up, as some tests want
                    self.wfile.write(payload)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.server.block_on_close = False  # do not wait for scripted sleeps
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def stand_in():
    from lacuna.classify.llm import layer

    layer._CLIENTS.clear()  # one breaker per endpoint; ports get reused between tests
    server = StandIn()
    yield server
    server.close()


def column(name="col_7", values=("Ada Lovelace", "Alan Turing"), current=None):
    sample = column_sample(name, pd.Series(list(values)))
    return ColumnInput(name, current or ColumnClass(confidence=0.5), sample)


def settings(url, **kw):
    return LlmSettings(url=url, **{"timeout_ms": 2000, **kw})


def test_an_answer_becomes_a_layer_3_column_class(stand_in):
    out = LlmLayer(settings(stand_in.url)).decide([column()])[0]
    assert (out.classification, out.pii_type, out.layer) == (ColumnKind.PII, "name", Layer.LLM)
    assert out.confidence == 0.9
    assert "looks like people's names" in out.reasoning
    assert stand_in.requests[0]["path"] == "/v1/chat/completions"


def test_only_names_and_shapes_leave_by_default(stand_in, monkeypatch):
    LlmLayer(settings(stand_in.url)).decide([column()])
    sent = stand_in.requests[0]["body"]
    text = json.dumps(sent)
    assert "Ada Lovelace" not in text
    assert "Aaa Aaaaa" in text
    assert sent["response_format"]["schema"]["required"][0] == "classification"
    monkeypatch.setenv("TEST_LLM_KEY", "s3cret")
    LlmLayer(settings(stand_in.url, send_samples=True, api_key_env="TEST_LLM_KEY")).decide(
        [column()])
    assert "Ada Lovelace" in json.dumps(stand_in.requests[1]["body"])
    assert stand_in.requests[1]["auth"] == "Bearer s3cret"


@pytest.mark.parametrize(("mode", "reason"), [
    ("500", "HTTP 500"), ("malformed", "not valid JSON"), ("array", "not a JSON object"),
    ("html", "response is not JSON"), ("empty", "not valid JSON"),
])
def test_errors_give_the_stricter_earlier_answer(stand_in, mode, reason):
    stand_in.mode = mode
    earlier = ColumnClass(classification=ColumnKind.PII, pii_type="phone",
                          sensitivity=Sensitivity.HIGH, confidence=0.6)
    current = ColumnClass(confidence=0.65, layer=Layer.EMBEDDING)
    col = ColumnInput("col_7", current, None, (earlier,))
    out = LlmLayer(settings(stand_in.url)).decide([col])[0]
    assert (out.classification, out.pii_type) == (ColumnKind.PII, "phone")
    assert "LLM unavailable" in out.reasoning
    assert reason in out.reasoning
    assert out.evidence[-1].rule == "llm:unavailable"


def test_a_slow_endpoint_costs_the_budget_and_no_more(stand_in):
    # Bounds are far from both the budget and the stand-in's delay, so a busy CI host does not
    # decide the result: waiting for the answer would take 3 s.
    stand_in.delay = 3.0
    started = time.perf_counter()
    out = LlmLayer(settings(stand_in.url, timeout_ms=200)).decide([column()])[0]
    assert time.perf_counter() - started < 1.5
    assert "no answer within 200 ms" in out.reasoning


def test_a_dead_endpoint_never_blocks():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    # The layer (its HTTP client, SSL context) is built before the clock starts: what must not
    # block is deciding, which a refused connection answers at once, for both columns. The budget
    # is long (5 s per column) so that waiting for it, the failure this test looks for, cannot be
    # mistaken for a busy host's slowness.
    layer = LlmLayer(settings(f"http://127.0.0.1:{port}/v1", timeout_ms=5000))
    client_for(layer.settings)
    started = time.perf_counter()
    out = layer.decide([column(), column("col_8")])
    assert time.perf_counter() - started < 2.5
    assert all("cannot reach" in c.reasoning for c in out)


def test_the_total_budget_bounds_a_whole_classification(stand_in):
    # Without the total budget the five columns would take 5 × 400 ms = 2 s.
    stand_in.delay = 1.0
    s = settings(stand_in.url, timeout_ms=400, total_ms=500, breaker_failures=10)
    started = time.perf_counter()
    out = LlmLayer(s).decide([column(f"c{i}") for i in range(5)])
    assert time.perf_counter() - started < 1.4
    assert "no time left" in out[-1].reasoning


def test_circuit_breaker_opens_and_closes(stand_in):
    stand_in.mode = "500"
    client = ChatClient(settings(stand_in.url, breaker_failures=2, breaker_reset_s=0.2))
    for _ in range(2):
        with pytest.raises(LlmUnavailable, match="HTTP 500"):
            client.complete_json([], {}, budget_s=1)
    with pytest.raises(LlmUnavailable, match="circuit breaker open"):
        client.complete_json([], {}, budget_s=1)
    assert len(stand_in.requests) == 2  # the open breaker sent nothing
    time.sleep(0.25)
    stand_in.mode = "ok"
    assert client.breaker.state == "half-open"
    assert client.complete_json([], {}, budget_s=1)["pii_type"] == "name"
    assert client.breaker.state == "closed"


def test_breaker_allows_one_trial_while_half_open():
    b = CircuitBreaker(failures=1, reset_s=0)
    b.failure()
    assert b.allow() is True
    assert b.allow() is False
    b.failure()
    assert b.state == "half-open"


def test_the_model_cannot_weaken_validated_values(stand_in):
    global ANSWER
    validated = ColumnClass(classification=ColumnKind.PII, pii_type="card_number",
                            sensitivity=Sensitivity.CRITICAL, confidence=0.7,
                            evidence=(Evidence(source="value", rule="value:card_number",
                                               detail="100% Luhn-valid", score=0.9),))
    saved, ANSWER = ANSWER, {**ANSWER, "classification": "public", "pii_type": "none"}
    try:
        out = LlmLayer(settings(stand_in.url)).decide([column(current=validated)])[0]
    finally:
        ANSWER = saved
    assert (out.classification, out.pii_type) == (ColumnKind.PII, "card_number")
    assert "kept the stricter value evidence" in out.reasoning


def test_status_reports_settings(stand_in):
    assert "layer 3 (LLM) is on" in LlmLayer(settings(stand_in.url)).status().reason
    assert "sends column names and value shapes" in LlmLayer(
        settings(stand_in.url)).status().reason


def test_a_trickling_endpoint_costs_the_budget_and_no_more(stand_in):
    stand_in.mode = "trickle"  # each byte well within any per-read timeout
    client = ChatClient(settings(stand_in.url, timeout_ms=300, breaker_failures=5))
    started = time.perf_counter()
    with pytest.raises(LlmUnavailable, match="no answer within 300 ms"):
        client.complete_json([], {}, budget_s=0.3)
    assert time.perf_counter() - started < 1.5  # the whole answer would take over 15 s


@pytest.mark.parametrize("confidence", [float("nan"), float("inf"), 7, -0.2, "0.99", True, None,
                                        [0.9]])
def test_a_confidence_off_the_schema_keeps_the_stricter_earlier_answer(confidence):
    earlier = ColumnClass(classification=ColumnKind.PII, pii_type="phone",
                          sensitivity=Sensitivity.HIGH, confidence=0.6)
    col = ColumnInput("col_7", ColumnClass(confidence=0.65, layer=Layer.EMBEDDING), None,
                      (earlier,))
    answer = {**ANSWER, "classification": "public", "pii_type": None,
              "confidence": confidence}
    out = LlmLayer(settings("http://127.0.0.1:9/v1"))._answer(col, answer, 0.01)
    assert (out.classification, out.pii_type) == (ColumnKind.PII, "phone")
    assert out.evidence[-1].rule == "llm:unavailable"
    assert "confidence" in out.reasoning


@pytest.mark.parametrize("confidence", [0, 1, 0.0, 0.85])
def test_a_confidence_in_the_schema_is_taken(confidence):
    col = ColumnInput("col_7", ColumnClass(confidence=0.5), None)
    out = LlmLayer(settings("http://127.0.0.1:9/v1"))._answer(
        col, {**ANSWER, "confidence": confidence}, 0.01)
    assert (out.layer, out.confidence) == (Layer.LLM, float(confidence))


@pytest.mark.parametrize("pii_type", [["email"], 5, {"a": 1}, "x" * 10_000, "email\nforged",
                                      "credit card"])
def test_a_pii_type_off_the_schema_keeps_the_stricter_earlier_answer(pii_type):
    earlier = ColumnClass(classification=ColumnKind.PII, pii_type="phone",
                          sensitivity=Sensitivity.HIGH, confidence=0.6)
    col = ColumnInput("col_7", ColumnClass(confidence=0.65, layer=Layer.EMBEDDING), None,
                      (earlier,))
    out = LlmLayer(settings("http://127.0.0.1:9/v1"))._answer(
        col, {**ANSWER, "pii_type": pii_type}, 0.01)
    assert (out.classification, out.pii_type) == (ColumnKind.PII, "phone")
    assert out.evidence[-1].rule == "llm:unavailable"
    assert "pii_type" in out.reasoning
    assert len(out.reasoning) < 400


@pytest.mark.parametrize(("pii_type", "kept"), [("email", "email"), ("none", None), (None, None),
                                                ("", None)])
def test_a_pii_type_in_the_schema_is_taken(pii_type, kept):
    col = ColumnInput("col_7", ColumnClass(confidence=0.5), None)
    out = LlmLayer(settings("http://127.0.0.1:9/v1"))._answer(
        col, {**ANSWER, "pii_type": pii_type}, 0.01)
    assert (out.layer, out.classification, out.pii_type) == (Layer.LLM, ColumnKind.PII, kept)
