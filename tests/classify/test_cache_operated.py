"""The classification cache, operated: ``lacuna cache warm`` fills the persistent tier, a new
process is answered from it (the slow layer is not asked again), ``stats`` counts it honestly,
``clear`` empties it; sizes are configurable and validated.

Layer 3 here is a stand-in OpenAI-compatible endpoint (stdlib, in a thread) that counts its
requests: what is tested is the cache in front of it, not the model.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

import lacuna
from lacuna.classify import cachestats
from lacuna.classify.cache import AnswerCache
from lacuna.cli import app
from lacuna.config import load_config
from lacuna.errors import ConfigError
from lacuna.model import ColumnClass, Layer

ANSWER = {"classification": "pii", "pii_type": "name", "sensitivity": "high",
          "tier": "PROPRIETARY", "confidence": 0.9, "reasoning": "looks like people's names"}


@pytest.fixture
def llm():
    from lacuna.classify.llm import layer

    layer._CLIENTS.clear()
    requests: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers["Content-Length"]))
            requests.append(self.path)
            payload = json.dumps({"choices": [{"message": {"content": json.dumps(ANSWER)}}]})
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(payload.encode())

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1", requests
    server.shutdown()
    server.server_close()


@pytest.fixture
def project(tmp_path, llm):
    url, _ = llm
    cachestats.reset()  # counts are per process: start from none, as a new process would
    config = {
        "user": {"id": "analyst_alice", "role": "data_analyst"},
        "audit": {"url": f"sqlite:///{tmp_path / 'state.db'}"},
        "classification": {
            "cascade": {"embeddings": {"enabled": False},
                        "llm": {"url": url, "timeout_ms": 10_000, "total_ms": 60_000}},
            "cache": {"size": 100},
        },
    }
    (tmp_path / "lacuna.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    (tmp_path / "people.csv").write_text(
        "qq,zz,amount\nAda Lovelace,x1,3\nAlan Turing,y2,4\nGrace Hopper,z3,5\n",
        encoding="utf-8")
    return tmp_path


def _run(*args: str) -> dict:
    result = CliRunner().invoke(app, list(args))
    lacuna.disable()
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_warm_then_a_new_process_is_answered_from_the_persistent_tier(project, llm):
    _, requests = llm
    warmed = _run("cache", "warm", "people.csv", "--json")
    asked = len(requests)
    assert asked > 0  # the unsure columns went to layer 3 once
    assert warmed["added"] > 0
    assert warmed["entries"] == {"llm": warmed["added"]}

    src = str(Path(__file__).resolve().parents[2] / "src")
    env = {**os.environ, "PYTHONPATH": src + os.pathsep + os.environ.get("PYTHONPATH", "")}
    fresh = subprocess.run([sys.executable, "-m", "lacuna", "classify", "people.csv", "--json"],
                           cwd=project, env=env, capture_output=True, text=True, timeout=120,
                           check=False)
    assert fresh.returncode == 0, fresh.stderr
    columns = json.loads(fresh.stdout)["columns"]
    by_llm = sorted(n for n, c in columns.items() if c["layer"] == "llm")
    assert len(by_llm) == warmed["added"]  # each stored answer served again
    assert len(requests) == asked  # answered from the store: layer 3 was not asked again

    stats = _run("cache", "stats", "--json")
    assert stats["persistent"] is True
    assert stats["entries_by_layer"] == {"llm": warmed["added"]}
    store = stats["tiers"]["store"]
    assert store["hits"] >= warmed["added"]  # the new process's hits, stored at its exit
    assert store["misses"] >= warmed["added"]  # the warm's first lookups
    assert stats["size"] == 100
    hits = stats["tiers"]["memory"]["hits"] + store["hits"]
    assert stats["hit_rate"] == pytest.approx(hits / (hits + store["misses"]))

    result = CliRunner().invoke(app, ["cache", "clear"])
    assert result.exit_code == 0, result.output
    assert f"{warmed['added']} answer(s) removed" in result.stdout
    cleared = _run("cache", "stats", "--json")
    assert cleared["entries"] == 0
    assert cleared["tiers"]["store"] == {"hits": 0, "misses": 0, "hit_rate": None}


def test_memory_tier_size_is_bounded(tmp_path):
    cache = AnswerCache(None, size=2)
    for key in ("a", "b", "c"):
        cache.put(key, key, ColumnClass(layer=Layer.LLM))
    assert cache.stats().memory_entries == 2
    assert cache.get("a") is None  # the least recently used went first
    assert cache.get("c") is not None
    off = AnswerCache(None, size=0)
    off.put("a", "a", ColumnClass(layer=Layer.LLM))
    assert off.get("a") is None


@pytest.mark.parametrize(("cache", "needle"), [
    ({"size": -1}, "classification.cache.size"),
    ({"sise": 10}, "classification.cache.sise"),
])
def test_cache_settings_are_validated(tmp_path, cache, needle):
    path = tmp_path / "lacuna.yaml"
    path.write_text(yaml.safe_dump({"classification": {"cache": cache}}), encoding="utf-8")
    with pytest.raises(ConfigError, match=needle.replace(".", r"\.")):
        load_config(path)


def test_stats_text_and_warm_of_a_missing_path(project):
    result = CliRunner().invoke(app, ["cache", "stats"])
    assert result.exit_code == 0, result.output
    assert "hit rate -" in result.stdout
    assert "stored answers by classification layer: none" in result.stdout
    missing = CliRunner().invoke(app, ["cache", "warm", "nope.csv"])
    assert "no such file or folder" in str(missing.exception)
    lacuna.disable()


def test_a_row_written_or_moved_by_hand_is_not_believed(tmp_path):
    """The state file belongs to whoever runs Lacuna: an answer edited to ``public``, a signed
    answer moved to another column's key, a row signed with another key or written before
    signing is a miss (the column is classified again), never an answer."""
    import sqlalchemy as sa

    from lacuna.classify.cache import to_dict
    from lacuna.signing import Keyring, Signer

    url = f"sqlite:///{tmp_path / 'state.db'}"
    keys = Keyring(Signer(bytes(range(32))))
    pii = ColumnClass.from_dict(ANSWER, layer=Layer.LLM)
    public = ColumnClass.from_dict({"classification": "public", "sensitivity": "low"},
                                   layer=Layer.LLM)
    AnswerCache(url, keyring=keys).put_many([("k-notes", "notes", pii),
                                             ("k-region", "region", public)])
    fresh = AnswerCache(url, keyring=keys)  # a new process: the store answers
    assert fresh.get("k-notes") == pii
    assert fresh.get_many(["k-notes", "k-region"]) == {"k-notes": pii, "k-region": public}

    engine = sa.create_engine(url)

    def body(key: str) -> str:
        with engine.connect() as conn:
            return str(conn.execute(sa.text("SELECT body FROM lacuna_classify_cache WHERE "
                                            "key = :k"), {"k": key}).scalar_one())

    def forge(key: str, text: str) -> None:
        with engine.begin() as conn:
            conn.execute(sa.text("UPDATE lacuna_classify_cache SET body = :b WHERE key = :k"),
                         {"b": text, "k": key})

    signed_public = body("k-region")
    forgeries = {
        "edited": json.dumps({**json.loads(body("k-notes")), "answer": to_dict(public)}),
        "moved": signed_public,  # a genuine signature, for another column's key
        "unsigned (before signing)": json.dumps(to_dict(public)),
        "another key": json.dumps({"answer": to_dict(public), "signature": Keyring(
            Signer(bytes(32))).sign({"key": "k-notes", "answer": to_dict(public)})}),
        "not JSON": "{",
    }
    for what, text in forgeries.items():
        forge("k-notes", text)
        reader = AnswerCache(url, keyring=keys)
        assert reader.get("k-notes") is None, what
        assert reader.get_many(["k-notes"]) == {}, what
    # classified again, the answer replaces the row, and it is believed again
    writer = AnswerCache(url, keyring=keys)
    writer.put("k-notes", "notes", pii)
    assert AnswerCache(url, keyring=keys).get("k-notes") == pii
    engine.dispose()


def test_an_answer_for_a_name_that_is_data_stays_in_memory(tmp_path):
    """A JSON key ``ana@example.com`` (a proxy body keyed by e-mail, a CSV header): its answer
    is not written to the state store, whose rows keep the name and the reasoning; an ordinary
    name beside it is, and both are answered in this process."""
    import sqlalchemy as sa

    from lacuna.signing import Keyring, Signer

    url = f"sqlite:///{tmp_path / 'state.db'}"
    keys = Keyring(Signer(bytes(range(32))))
    pii = ColumnClass.from_dict(ANSWER, layer=Layer.LLM)
    cache = AnswerCache(url, keyring=keys)
    cache.put_many([("k-mail", "ana.lopez@example.com.plan", pii), ("k-notes", "notes", pii),
                    ("k-phone", "+1 415 555 0134", pii)])
    assert cache.get_many(["k-mail", "k-notes", "k-phone"]) == {
        "k-mail": pii, "k-notes": pii, "k-phone": pii}
    with sa.create_engine(url).connect() as conn:
        stored = conn.execute(sa.text("SELECT key, name, body FROM lacuna_classify_cache")).all()
    assert [(k, n) for k, n, _ in stored] == [("k-notes", "notes")]
    assert not any("ana.lopez" in b or "555" in b for _, _, b in stored)
    assert AnswerCache(url, keyring=keys).get("k-notes") == pii  # read back in a new process
