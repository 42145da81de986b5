"""Which hosts are internal: a name in destinations.internal_hosts is internal only when the
addresses it resolves to are private, and the proxy connects to the addresses it checked (one
lookup per request). A proxy in this process, so the resolver can be the test's."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import ssl
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from lacuna.config import load_config
from lacuna.governor import Governor
from lacuna.proxy.ca import CertificateAuthority
from lacuna.proxy.gate import Gate
from lacuna.proxy.server import ProxyServer

SALARIES = {"salary": [50000, 62000, 71000]}  # INTERNAL data: internal hosts only


@pytest.fixture(scope="module")
def lookups() -> Iterator[list[str]]:
    """A resolver: ``payroll.internal`` is public (and also the test's upstream),
    ``files.internal`` the test's upstream, on 127.0.0.1 (private)."""
    real, seen = socket.getaddrinfo, []

    def resolve(host, port, *args, **kwargs):  # type: ignore[no-untyped-def]
        seen.append(host)
        if host == "payroll.internal":
            return real("93.184.216.34", port, *args, **kwargs) + real("127.0.0.1", port, *args,
                                                                        **kwargs)
        if host == "files.internal":
            return real("127.0.0.1", port, *args, **kwargs)
        return real(host, port, *args, **kwargs)

    socket.getaddrinfo = resolve
    try:
        yield seen
    finally:
        socket.getaddrinfo = real


@pytest.fixture(scope="module")
def proxy(tmp_path_factory: pytest.TempPathFactory, lookups: list[str],
          recording_upstream: Any) -> Iterator[tuple[str, Any]]:
    root = tmp_path_factory.mktemp("proxy-addresses")
    config = root / "lacuna.yaml"
    config.write_text(
        "user: {id: analyst_alice, role: data_analyst}\n"
        "destinations: {internal_hosts: [localhost, '*.internal']}\n"
        f"audit: {{url: 'sqlite:///{root / 'state.db'}'}}\n"
        f"anonymize: {{key_dir: '{root / 'keys'}'}}\n"
        "proxy: {fingerprints: false}\n")
    loaded = load_config(config)
    server = ProxyServer(lambda: Gate(Governor(loaded)), ca=CertificateAuthority(root / "ca"),
                         upstream_ssl=ssl.create_default_context(), max_inspect_bytes=65536,
                         max_body_bytes=1 << 20)
    with _serving(server):
        yield f"http://127.0.0.1:{server.port}", recording_upstream


@contextlib.contextmanager
def _serving(server: ProxyServer) -> Iterator[None]:
    """``server`` listening, on an event loop of its own thread, until the block ends."""
    loop = asyncio.new_event_loop()
    ready = threading.Event()

    def run() -> None:  # the loop lives and ends on its thread: the main thread of an xdist
        asyncio.set_event_loop(loop)  # worker may hold Playwright's running loop (tests/loops.py)
        loop.run_until_complete(server.start())
        ready.set()
        loop.run_forever()
        loop.run_until_complete(loop.shutdown_default_executor())
        loop.close()

    async def stop() -> None:
        server.close()
        for task in asyncio.all_tasks():
            if task is not asyncio.current_task():
                task.cancel()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert ready.wait(120)
    try:
        yield
    finally:
        asyncio.run_coroutine_threadsafe(stop(), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(30)


def _post(proxy: tuple[str, Any], host: str, body: object,
          headers: dict[str, str] | None = None) -> tuple[requests.Response, list]:
    url, up = proxy
    path = f"/a/{uuid.uuid4().hex[:8]}"
    r = requests.post(f"http://{host}:{up.port}{path}", data=json.dumps(body),
                      headers={"content-type": "application/json", **(headers or {})},
                      proxies={"http": url}, timeout=30)
    return r, up.got(path)


def test_an_internal_name_that_resolves_to_a_public_address_is_external(proxy, lookups):
    lookups.clear()
    r, got = _post(proxy, "payroll.internal", SALARIES)
    assert r.status_code == 451, r.text
    assert "93.184.216.34, a public address" in r.text
    assert got == []
    assert lookups.count("payroll.internal") == 1


def test_an_internal_name_is_connected_to_at_the_address_checked(proxy, lookups):
    lookups.clear()
    body = SALARIES
    r, [got] = _post(proxy, "files.internal", body, {"host": "evil.example"})
    assert r.status_code == 200, r.text
    assert got.body == json.dumps(body).encode()  # byte for byte
    assert got.headers["host"] == f"files.internal:{proxy[1].port}"  # the URL's, not the client's
    assert lookups.count("files.internal") == 1  # the decision's lookup is the connection's


def test_external_hosts_stay_external():
    from lacuna.proxy.gate import _public

    for address in ("93.184.216.34", "::ffff:93.184.216.34", "2606:4700::1111",
                    "2001:0:4136:e378:8000:63bf:a247:27dd", "64:ff9b::5db8:d822"):
        assert _public(address), address
    for address in ("127.0.0.1", "10.1.2.3", "::1", "::ffff:10.0.0.1", "fd00::1",
                    "fe80::1%eth0", "100.64.0.1"):
        assert not _public(address), address
    assert _public("not an address")  # fail closed


def test_a_tunnel_request_is_for_the_tunnels_host(proxy):
    """Inside a CONNECT tunnel a target that is not a path (``evil.com:443``) used to be
    glued to the tunnel's host as text; now it is a 400. An absolute URL keeps its query."""
    from lacuna.proxy.server import ProxyServer, _Origin

    origin = _Origin("https", "files.internal", 443)
    assert ProxyServer._url("/a?b=1", origin) == "https://files.internal/a?b=1"
    assert ProxyServer._url("https://evil.example/a?b=1", origin) == "https://files.internal/a?b=1"
    for target in ("evil.example:443", "443", "*", ".attacker.net/x"):
        assert ProxyServer._url(target, origin) is None, target


def _raw(proxy_url: str, request: bytes) -> bytes:
    """``request`` sent to the proxy as bytes; its answer, up to the connection's end."""
    host, port = proxy_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(request)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer


def test_a_target_that_names_no_connectable_url_is_a_400(proxy):
    """An absolute URL that does not parse (``http://[::1/x``) or names a port out of range,
    and a CONNECT to such a port: the connection was dropped without an answer (a traceback in
    the proxy's log) or the tunnel opened; now each is answered 400, nothing forwarded."""
    url, up = proxy
    before = len(up.received)
    for target in (b"http://[::1/x", b"http://localhost:99999/x", b"http://localhost:8o/x"):
        answer = _raw(url, b"GET " + target + b" HTTP/1.1\r\nhost: localhost\r\n\r\n")
        assert answer.startswith(b"HTTP/1.1 400"), (target, answer[:80])
        assert b"valid host and port" in answer
    answer = _raw(url, b"CONNECT localhost:99999 HTTP/1.1\r\nhost: localhost:99999\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 400"), answer[:80]
    allowed = _raw(url, f"GET http://localhost:{up.port}/ok HTTP/1.1\r\nhost: x\r\n"
                   "connection: close\r\n\r\n".encode())
    assert allowed.startswith(b"HTTP/1.1 200"), allowed[:80]
    assert [r.path for r in up.received[before:]] == ["/ok"]


def test_a_request_h11_cannot_read_is_a_400_that_quotes_none_of_it(proxy, caplog):
    """A header line or a chunk h11 rejects: the connection was dropped unanswered, and the
    log line quoted the bytes (``illegal header line: b'X-Email ana@example.com'``)."""
    import logging

    url, up = proxy
    before = len(up.received)
    head = f"POST http://localhost:{up.port}/bad HTTP/1.1\r\nhost: x\r\n"
    with caplog.at_level(logging.INFO, logger="lacuna.proxy.server"):
        for rest, why in [("X-Email ana.silva@example.com\r\n\r\n", b"illegal header line"),
                          ("transfer-encoding: chunked\r\n\r\n5\r\nhelloXXana.silva@example.com"
                           "\r\n", b"malformed chunk footer")]:
            answer = _raw(url, (head + rest).encode())
            assert answer.startswith(b"HTTP/1.1 400"), answer[:80]
            assert why in answer
            assert b"ana.silva" not in answer
    assert "bad request" in caplog.text
    assert "ana.silva" not in caplog.text
    assert up.received[before:] == []


def test_an_internal_name_that_carries_data_is_refused_before_it_is_resolved(proxy, lookups):
    """A host internal by name is resolved before the decision (which checks its addresses):
    a name that carries data is decided first, unresolved (external), and never looked up."""
    lookups.clear()
    url, up = proxy
    host = b"ana.lopez@example.com".hex() + ".internal"  # internal by name
    r = requests.get(f"http://{host}:{up.port}/x", proxies={"http": url}, timeout=30)
    assert r.status_code == 451, r.text
    assert host not in lookups
    r, got = _post(proxy, "files.internal", SALARIES)  # an ordinary internal name
    assert r.status_code == 200, r.text
    assert len(got) == 1


def test_max_body_bytes_below_max_inspect_bytes_is_the_ceiling(tmp_path, recording_upstream):
    """An administrator who lowers proxy.max_body_bytes below proxy.max_inspect_bytes: a body
    between the two was held in memory and forwarded, past the ceiling the docs promise."""
    config = tmp_path / "lacuna.yaml"
    config.write_text(f"audit: {{url: 'sqlite:///{tmp_path / 'state.db'}'}}\n"
                      "proxy: {fingerprints: false}\n")
    loaded = load_config(config)
    server = ProxyServer(lambda: Gate(Governor(loaded)), ca=CertificateAuthority(tmp_path / "ca"),
                         upstream_ssl=ssl.create_default_context(), max_inspect_bytes=1 << 20,
                         max_body_bytes=4096)
    up = recording_upstream
    with _serving(server):
        proxies = {"http": f"http://127.0.0.1:{server.port}"}
        big, small = f"/a/{uuid.uuid4().hex[:8]}", f"/a/{uuid.uuid4().hex[:8]}"
        r = requests.post(f"http://127.0.0.1:{up.port}{big}", data=b"x" * 10_000,
                          headers={"content-type": "text/plain"}, proxies=proxies, timeout=30)
        assert r.status_code == 413, r.text
        assert "proxy.max_body_bytes" in r.text
        assert up.got(big) == []
        r = requests.post(f"http://127.0.0.1:{up.port}{small}", data=b"region,n\nEU,1\n",
                          headers={"content-type": "text/csv"}, proxies=proxies, timeout=30)
        assert r.status_code == 200, r.text
        assert [g.body for g in up.got(small)] == [b"region,n\nEU,1\n"]


@pytest.mark.parametrize("answer", [b"", b"NOT HTTP AT ALL\r\n\r\n"])
def test_an_upstream_without_a_valid_response_is_a_502(proxy, answer):
    """An upstream that closes without answering, or answers what is not HTTP: the client's
    connection was dropped without a word (the error went up to the connection)."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def serve() -> None:
        conn, _ = listener.accept()
        conn.recv(65536)
        conn.sendall(answer)
        conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        r = requests.get(f"http://127.0.0.1:{port}/x", proxies={"http": proxy[0]}, timeout=30)
    finally:
        thread.join(10)
        listener.close()
    assert r.status_code == 502
    assert f"127.0.0.1:{port} sent no valid response" in r.text
