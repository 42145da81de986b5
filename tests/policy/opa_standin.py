"""A STAND-IN for an OPA server, for Lacuna's tests and benchmarks only. It is not OPA.

It speaks the part of OPA's documented REST API (https://www.openpolicyagent.org/docs/rest-api)
that Lacuna and opa-python-client use, and evaluates Rego with regorus:

    GET  /health                 -> 200 {}
    PUT  /v1/policies/{id}       body: Rego text -> 200 {} | 400 {"code": "invalid_parameter", ...}
    GET  /v1/policies            -> 200 {"result": [{"id": ..., "raw": ...}, ...]}
    POST /v1/data/{path}         body: {"input": ...} -> 200 {"result": <value>, "decision_id": ...}
                                 | 200 {} when the value is undefined (as OPA answers)
                                 | 400 {"code": "invalid_parameter", ...} for a non-JSON body
                                 | 500 {"code": "internal_error", "message": ...} on an eval error
    GET  /v1/data/{path}         the same, without input

Like ``opa run --server bundle.tar.gz`` it loads an OPA bundle at start (the ``.tar.gz`` that
``lacuna policy bundle`` writes: ``.manifest`` with ``file_rego_versions``, Rego files, data). It
listens on 127.0.0.1 on an ephemeral port, one thread per connection (HTTP/1.1 keep-alive), one
regorus engine per thread (regorus engines cannot cross threads).

Test hooks: ``fail_next(n, status)`` answers the next ``n`` data requests with ``status``;
``delay_s`` sleeps before every data answer (to provoke client timeouts).
"""

from __future__ import annotations

import json
import socket
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from regorus import Engine

from lacuna.policy.opa_bundle import read_opa_bundle


class OpaStandIn:
    """Start with :meth:`start`, stop with :meth:`stop`; ``url`` is where it listens."""

    def __init__(self, bundle: Path | None = None) -> None:
        self.modules: dict[str, tuple[str, int]] = {}  # id -> (Rego source, version 0/1)
        self.data: dict[str, Any] = {}
        self.manifest: dict[str, Any] = {}
        if bundle is not None:
            loaded = read_opa_bundle(bundle)
            self.modules = {name: src for name, src in loaded.modules.items()}
            self.data = dict(loaded.data)
            self.manifest = dict(loaded.manifest)
        self.requests: list[tuple[str, str]] = []  # (method, path), for assertions
        self.delay_s = 0.0
        self._fail: list[int] = []
        self._generation = 0
        self._lock = threading.Lock()
        self._local = threading.local()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        assert self._server is not None, "start() the stand-in first"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> OpaStandIn:
        self._server = _Server(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,),
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def fail_next(self, n: int, status: int = 500) -> None:
        with self._lock:
            self._fail.extend([status] * n)

    def put_policy(self, policy_id: str, source: str) -> None:
        """Add or replace a module, checking that everything still compiles (else ValueError)."""
        candidate = {**self.modules, policy_id: (source, 1)}
        self._build(candidate)  # raises on a bad module: the old set stays
        with self._lock:
            self.modules = candidate
            self._generation += 1

    def evaluate(self, path: str, input_doc: Any | None) -> Any:
        engine = self._engine()
        if input_doc is not None:
            engine.set_input_json(json.dumps(input_doc))
        rule = "data." + ".".join(p for p in path.split("/") if p)
        try:
            text = engine.eval_rule_as_json(rule)
        except RuntimeError as exc:
            if "not a valid rule path" in str(exc):
                return None  # OPA answers an undefined document with {}
            raise
        return None if text == '"<undefined>"' else json.loads(text)

    def _next_failure(self) -> int | None:
        with self._lock:
            return self._fail.pop(0) if self._fail else None

    def _engine(self) -> Engine:
        if getattr(self._local, "generation", None) != self._generation:
            self._local.engine = self._build(self.modules)
            self._local.generation = self._generation
        engine: Engine = self._local.engine
        return engine

    def _build(self, modules: dict[str, tuple[str, int]]) -> Engine:
        engine = Engine()
        for name, (source, version) in sorted(modules.items()):
            engine.set_rego_v0(version == 0)
            engine.add_policy(name, source)
        engine.set_rego_v0(False)
        engine.add_data_json(json.dumps(self.data))
        engine.eval_query("true")  # compile now
        return engine


class _Server(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hung up (a timeout test) is not an error worth a traceback."""


def _handler(standin: OpaStandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def setup(self) -> None:
            super().setup()
            # Headers and body go out in two writes; without this, Nagle's algorithm holds the
            # body until the client's delayed ACK (~40 ms). OPA (Go) sets it by default too.
            self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def log_message(self, *args: Any) -> None:  # quiet
            pass

        def _reply(self, status: int, body: Any) -> None:
            raw = json.dumps(body).encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def _body(self) -> bytes:
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length else b""

        def do_GET(self) -> None:
            standin.requests.append(("GET", self.path))
            if self.path == "/health":
                self._reply(200, {})
            elif self.path.rstrip("/") == "/v1/policies":
                self._reply(200, {"result": [{"id": k, "raw": v[0]}
                                             for k, v in sorted(standin.modules.items())]})
            elif self.path.startswith("/v1/data"):
                self._data(None)
            else:
                self._reply(404, {"code": "resource_not_found", "message": self.path})

        def do_POST(self) -> None:
            standin.requests.append(("POST", self.path))
            raw = self._body()
            if not self.path.startswith("/v1/data"):
                self._reply(404, {"code": "resource_not_found", "message": self.path})
                return
            try:
                body = json.loads(raw or b"{}")
            except ValueError:
                self._reply(400, {"code": "invalid_parameter", "message": "body is not JSON"})
                return
            self._data(body.get("input") if isinstance(body, dict) else None)

        def do_PUT(self) -> None:
            standin.requests.append(("PUT", self.path))
            raw = self._body()
            if not self.path.startswith("/v1/policies/"):
                self._reply(404, {"code": "resource_not_found", "message": self.path})
                return
            try:
                standin.put_policy(self.path.removeprefix("/v1/policies/"), raw.decode())
            except Exception as exc:
                message = str(exc).split("\nStack backtrace", 1)[0]
                self._reply(400, {"code": "invalid_parameter", "message": message})
                return
            self._reply(200, {})

        def _data(self, input_doc: Any) -> None:
            if standin.delay_s:
                time.sleep(standin.delay_s)
            failure = standin._next_failure()
            if failure is not None:
                self._reply(failure, {"code": "internal_error", "message": "injected failure"})
                return
            path = self.path.split("?", 1)[0].removeprefix("/v1/data")
            try:
                result = standin.evaluate(path, input_doc)
            except Exception as exc:
                message = str(exc).split("\nStack backtrace", 1)[0]
                self._reply(500, {"code": "internal_error", "message": message})
                return
            if result is None:
                self._reply(200, {})
            else:
                self._reply(200, {"result": result, "decision_id": str(uuid.uuid4())})

    return Handler
