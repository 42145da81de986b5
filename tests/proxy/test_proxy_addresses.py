"""Which hosts are internal: a name in destinations.internal_hosts is internal only when the
addresses it resolves to are private, and the proxy connects to the addresses it checked (one
lookup per request). A proxy in this process, so the resolver can be the test's."""

from __future__ import annotations

import asyncio
import contextlib
import json
import select
import socket
import ssl
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
import requests

from lacuna.config import ProxyConfig, load_config
from lacuna.governor import Governor
from lacuna.proxy.ca import CertificateAuthority
from lacuna.proxy.gate import Gate
from lacuna.proxy.server import ProxyServer, Timeouts

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
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        # the handlers end (a cancellation asyncio.wait_for swallowed leaves one waiting: not
        # for long), and, a few turns of the loop later, every socket close() aborted is
        # closed: none left for the garbage collector (a ResourceWarning in another test)
        if tasks:
            await asyncio.wait(tasks, timeout=2)
        for _ in range(5):
            await asyncio.sleep(0)

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


QUICK = Timeouts(client=0.4, request=1.0, connect=0.4, upstream=0.4)


@pytest.fixture(scope="module")
def quick(tmp_path_factory: pytest.TempPathFactory, recording_upstream: Any
          ) -> Iterator[tuple[ProxyServer, Any, str]]:
    """A proxy with short timeouts (:data:`QUICK`), its upstream and its audit database."""
    root = tmp_path_factory.mktemp("proxy-timeouts")
    config = root / "lacuna.yaml"
    url = f"sqlite:///{root / 'state.db'}"
    config.write_text(f"audit: {{url: '{url}'}}\nproxy: {{fingerprints: false}}\n")
    loaded = load_config(config)
    server = ProxyServer(lambda: Gate(Governor(loaded)), ca=CertificateAuthority(root / "ca"),
                         upstream_ssl=ssl.create_default_context(), max_inspect_bytes=4096,
                         max_body_bytes=1 << 20, timeouts=QUICK)
    with _serving(server):
        yield server, recording_upstream, url


def _answer(sock: socket.socket, within: float = 10.0) -> bytes:
    """All ``sock`` receives until the proxy closes it (``within`` seconds at most)."""
    sock.settimeout(within)
    out = b""
    with contextlib.suppress(ConnectionError):
        while data := sock.recv(65536):
            out += data
    return out


def _records(url: str) -> list[Any]:
    from lacuna.audit import AuditStore

    store = AuditStore(url)
    try:
        return list(store.list(limit=None))
    finally:
        store.close()


def test_a_client_that_stops_or_trickles_is_refused_408_and_recorded(quick):
    """Slowloris: a client that sent part of a body, or trickles it a byte at a time, held a
    proxy connection forever. Refused 408 (nothing forwarded: the body was never decided),
    recorded as a denial, the path's e-mail masked; the slow head and the idle connection end."""
    server, up, url = quick
    before = len(up.received)
    head = (f"POST http://127.0.0.1:{up.port}/t/ana.silva@example.com HTTP/1.1\r\n"
            f"Host: 127.0.0.1:{up.port}\r\nContent-Length: 1000\r\n\r\n").encode()
    for trickle, setting in ((False, "proxy.client_timeout"), (True, "proxy.request_timeout")):
        with socket.create_connection(("127.0.0.1", server.port)) as sock:
            sock.sendall(head + b"region,n\n")
            deadline = time.monotonic() + 3 * QUICK.request
            while trickle and time.monotonic() < deadline:  # a byte well within client_timeout
                try:
                    sock.sendall(b"x")
                except OSError:
                    break  # (refused: the proxy closed the connection)
                if select.select([sock], [], [], QUICK.client / 4)[0]:
                    break
            answer = _answer(sock)
        assert answer.startswith(b"HTTP/1.1 408 "), answer
        assert setting.encode() in answer
        assert b"nothing was forwarded" in answer
        assert b"connection: close" in answer.lower()
    with socket.create_connection(("127.0.0.1", server.port)) as sock:  # headers cut
        sock.sendall(b"POST http://127.0.0.1/x HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Cut: ab")
        answer = _answer(sock)
    assert answer.startswith(b"HTTP/1.1 408 Request Timeout"), answer
    assert b"proxy.client_timeout" in answer
    assert b"ana.silva" not in answer
    with socket.create_connection(("127.0.0.1", server.port)) as sock:  # idle: closed
        assert _answer(sock) == b""
    with socket.create_connection(("127.0.0.1", server.port)) as sock:  # a tunnel, no TLS
        sock.sendall(b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n")
        assert _answer(sock) == b"HTTP/1.1 200 Connection Established\r\n\r\n"
    assert up.received[before:] == []
    refused = [r for r in _records(url) if r.policy_id == "lacuna.proxy"]
    text = "".join(r.body for r in refused)
    assert len(refused) == 2, text
    assert not any(r.allowed for r in refused)
    assert "proxy.client_timeout" in text
    assert "proxy.request_timeout" in text
    assert "/t/***" in text
    assert "ana.silva" not in text


def test_a_slow_but_steady_request_and_a_kept_alive_connection_still_pass(quick):
    """The allowed path under the timeouts: a body sent in pieces with pauses shorter than
    proxy.client_timeout arrives byte for byte, and a second request on the same connection
    after a pause is served."""
    server, up, _ = quick
    body = b"region,n\n" + b"".join(b"EU,%d\n" % n for n in range(2000))  # past the 4 KiB held
    path = f"/steady/{uuid.uuid4().hex[:8]}"
    head = (f"POST http://127.0.0.1:{up.port}{path} HTTP/1.1\r\nHost: 127.0.0.1:{up.port}\r\n"
            f"Content-Type: text/csv\r\nContent-Length: {len(body)}\r\n\r\n").encode()
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.settimeout(10)
        sock.sendall(head)
        for start in range(0, len(body), len(body) // 3 + 1):
            time.sleep(QUICK.client / 4)  # (a pause the test is about, shorter than the limit)
            sock.sendall(body[start:start + len(body) // 3 + 1])
        reader = sock.makefile("rb")
        first = _response(reader)
        assert first.startswith(b"HTTP/1.1 200"), first
        time.sleep(QUICK.client / 2)
        again = (f"GET http://127.0.0.1:{up.port}{path}/2 HTTP/1.1\r\n"
                 f"Host: 127.0.0.1:{up.port}\r\n\r\n").encode()
        sock.sendall(again)
        second = _response(reader)
        assert second.startswith(b"HTTP/1.1 200"), second
    assert [g.body for g in up.got(path)] == [body]
    assert len(up.got(f"{path}/2")) == 1


def _response(reader: Any) -> bytes:
    """One response (framed by its Content-Length) from the file ``reader`` of a socket."""
    head = b""
    while not head.endswith(b"\r\n\r\n"):
        line = reader.readline()
        assert line, head
        head += line
    length = next(int(v) for k, _, v in (h.partition(b":") for h in head.split(b"\r\n"))
                  if k.lower() == b"content-length")
    return head + reader.read(length)


def test_a_silent_upstream_is_a_504(quick):
    """An upstream that accepts and never answers (or never finishes TLS) held the client's
    connection and the proxy's forever: 504 with the setting that bounds it."""
    server, _, _ = quick
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    try:
        for scheme, setting in (("http", "proxy.upstream_timeout"),
                                ("https", "proxy.connect_timeout")):
            r = requests.get(f"{scheme}://127.0.0.1:{port}/x", timeout=30,
                             proxies={"http": f"http://127.0.0.1:{server.port}"}) \
                if scheme == "http" else _absolute_get(server.port, f"https://127.0.0.1:{port}/x")
            status, text = (r.status_code, r.text) if scheme == "http" else r
            assert status == 504, text
            assert setting in text
    finally:
        listener.close()


def _absolute_get(proxy_port: int, url: str) -> tuple[int, str]:
    """``GET url`` in absolute form to the proxy (an https URL the proxy connects to with TLS)."""
    with socket.create_connection(("127.0.0.1", proxy_port)) as sock:
        sock.sendall(f"GET {url} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        answer = _answer(sock).decode()
    return int(answer.split()[1]), answer


def test_the_timeouts_are_read_from_lacuna_yaml(tmp_path):
    from lacuna.proxy.server import build

    config = tmp_path / "lacuna.yaml"
    config.write_text(f"audit: {{url: 'sqlite:///{tmp_path / 'state.db'}'}}\n"
                      f"proxy: {{ca_dir: '{tmp_path / 'ca'}', client_timeout: 2.5, "
                      "request_timeout: 60, connect_timeout: 3, upstream_timeout: 7}\n")
    server = build(load_config(config))
    try:
        assert server.timeouts == Timeouts(client=2.5, request=60, connect=3, upstream=7)
    finally:
        server.close()
    assert Timeouts() == Timeouts.of(ProxyConfig())  # one source of the defaults
    assert Timeouts() == Timeouts(30, 300, 10, 120)  # (the documented ones)


@pytest.mark.parametrize(("host", "warned"), [("0.0.0.0", True), ("10.1.2.3", True),
                                              ("127.0.0.1", False), ("::1", False)])
def test_listening_beyond_loopback_is_warned(tmp_path, monkeypatch, host, warned):
    """``lacuna proxy --host 0.0.0.0`` said nothing: anyone who reaches the port sends as the
    configured user, and reaches this machine's internal hosts (localhost is one)."""
    from typer.testing import CliRunner

    from lacuna.cli import app

    started = []
    monkeypatch.setattr("lacuna.proxy.server.run", lambda *a, **k: started.append(k["host"]))
    config = tmp_path / "lacuna.yaml"
    config.write_text("user: {id: analyst_alice, role: data_analyst}\n"
                      f"audit: {{url: 'sqlite:///{tmp_path / 'state.db'}'}}\n")
    result = CliRunner().invoke(app, ["proxy", "--host", host, "--port", "0", "-c", str(config)])
    assert result.exit_code == 0, result.output
    assert started == [host]
    assert ("not only on loopback" in result.output) is warned, result.output
    assert ("sends as analyst_alice" in result.output) is warned


def test_a_tunnels_tls_handshake_is_never_lost(quick):
    """The client's TLS hello follows the proxy's 200 at once: a pause between the two (a
    drain awaited under a timeout) let it be read as plain data, and one handshake in four or
    five hung until the client gave up. Twenty tunnels in a row all shake hands."""
    server, _, _ = quick
    trust = ssl.create_default_context(cafile=str(server.ca.cert_path))
    for _ in range(20):
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
            sock.sendall(b"CONNECT 127.0.0.1:9 HTTP/1.1\r\nHost: 127.0.0.1:9\r\n\r\n")
            assert sock.recv(1024) == b"HTTP/1.1 200 Connection Established\r\n\r\n"
            with trust.wrap_socket(sock, server_hostname="127.0.0.1") as tls:
                assert tls.version() is not None  # (the handshake ended)


def _handshake(ctx: ssl.SSLContext, trust: ssl.SSLContext, host: str) -> str | None:
    """A TLS handshake in memory between a server with ``ctx`` and a client trusting
    ``trust`` that asks for ``host``: the certificate's version of TLS, once it shook hands."""
    server_in, server_out, client_in, client_out = (ssl.MemoryBIO() for _ in range(4))
    server = ctx.wrap_bio(server_in, server_out, server_side=True)
    client = trust.wrap_bio(client_in, client_out, server_hostname=host)
    for _ in range(10):
        for side in (client, server):
            with contextlib.suppress(ssl.SSLWantReadError):
                side.do_handshake()
        server_in.write(client_out.read())
        client_in.write(server_out.read())
    return client.version()


def test_per_host_certificates_are_bounded_and_leave_no_files(tmp_path):
    """Each CONNECT host got a TLS context kept for ever and a certificate and a copy of the
    leaf key in ca_dir/hosts: a client naming many hosts (a crawler, a random subdomain each
    time) grew the proxy's memory and disk without limit. The last ``max_contexts`` are kept,
    nothing is left on disk per host, and a host issued again still shakes hands."""
    ca = CertificateAuthority(tmp_path / "ca")
    ca.max_contexts = 3
    trust = ssl.create_default_context(cafile=str(ca.cert_path))
    hosts = [f"h{n}.example.com" for n in range(7)]
    for host in hosts:
        assert _handshake(ca.context_for(host), trust, host) is not None
    assert list(ca._contexts) == hosts[-3:]
    assert sorted(p.name for p in (tmp_path / "ca").iterdir()) == ["ca-key.pem", "ca.pem"]
    ca.context_for(hosts[-3])  # (used: the most recent)
    assert _handshake(ca.context_for(hosts[0]), trust, hosts[0]) is not None
    assert list(ca._contexts) == [hosts[-1], hosts[-3], hosts[0]]
    (tmp_path / "ca" / "hosts").mkdir()  # an earlier version's per-host files: removed
    (tmp_path / "ca" / "hosts" / "a.com-key.pem").write_text("key")
    CertificateAuthority(tmp_path / "ca")
    assert not (tmp_path / "ca" / "hosts").exists()


def test_a_connect_to_a_long_host_name_shakes_hands(quick):
    """A host name of 251 characters (DNS allows 253) made the per-host key file's name too
    long: the tunnel was answered 200, then dropped with a traceback in the log. Nothing is
    written per host now: the handshake ends."""
    server, _, _ = quick
    host = ".".join(["a" * 61] * 4) + ".com"
    trust = ssl.create_default_context(cafile=str(server.ca.cert_path))
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(f"CONNECT {host}:443 HTTP/1.1\r\nHost: {host}:443\r\n\r\n".encode())
        assert sock.recv(1024) == b"HTTP/1.1 200 Connection Established\r\n\r\n"
        with trust.wrap_socket(sock, server_hostname=host) as tls:
            assert tls.version() is not None


def test_a_request_behind_a_long_decision_is_refused_503_in_time_and_recorded(quick,
                                                                               monkeypatch):
    """Decisions run one at a time: a request behind another's scan (minutes for a body of
    hundreds of megabytes) waited for it without limit. Not taken up within
    proxy.request_timeout it is refused 503 (never forwarded: it was not decided) and
    recorded once the decision thread is free; the request being decided, and the ones after
    it, pass as before."""
    server, up, url = quick
    monkeypatch.setattr(server, "timeouts", replace(QUICK, request=0.3))
    entered, release = threading.Event(), threading.Event()
    decide = server._decide

    def slow(request):  # type: ignore[no-untyped-def]
        if "x-slow" in request.headers:
            entered.set()
            release.wait(10)
        return decide(request)

    monkeypatch.setattr(server, "_decide", slow)
    proxies = {"http": f"http://127.0.0.1:{server.port}"}
    base, tag = f"http://127.0.0.1:{up.port}", uuid.uuid4().hex[:8]
    first: list[requests.Response] = []
    thread = threading.Thread(target=lambda: first.append(requests.post(
        f"{base}/slow/{tag}", data=b"region,n\nEU,3\n", headers={"x-slow": "1"},
        proxies=proxies, timeout=10)))
    thread.start()
    try:
        assert entered.wait(10)
        behind = requests.post(f"{base}/behind/{tag}/ana.silva@example.com",
                               data=b"region,n\nEU,3\n", proxies=proxies, timeout=10)
    finally:
        release.set()
        thread.join(10)
    assert behind.status_code == 503, behind.text
    assert "proxy.request_timeout" in behind.text
    assert "nothing was forwarded" in behind.text
    assert up.got(f"/behind/{tag}/ana.silva@example.com") == []
    assert first[0].status_code == 200
    assert [r.body for r in up.got(f"/slow/{tag}")] == [b"region,n\nEU,3\n"]
    after = requests.post(f"{base}/after/{tag}", data=b"region,n\nEU,3\n", proxies=proxies,
                          timeout=10)
    assert after.status_code == 200
    deadline = time.monotonic() + 10
    while not (busy := [r for r in _records(url) if f"/behind/{tag}" in r.body]):
        assert time.monotonic() < deadline, "the refusal was not recorded"
        time.sleep(0.05)
    assert [(r.allowed, r.policy_id) for r in busy] == [(False, "lacuna.proxy")]
    assert "proxy.request_timeout" in busy[0].body
    assert "ana.silva" not in busy[0].body  # (the path's values masked)
