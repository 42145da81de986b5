"""One egress proxy process, one plain and one HTTPS "external" upstream per test session.

The upstreams record every request they receive (path, headers, body), so a test can show that a
refused request never arrived. The proxy runs as `lacuna proxy` (a real process) with a config
that makes 127.0.0.1 external and localhost internal, a small proxy.max_inspect_bytes and
proxy.max_body_bytes, its own CA, and a state database and key folder the tests share with it
(for fingerprints).
"""

from __future__ import annotations

import http.server
import os
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

MAX_INSPECT = 64 * 1024
MAX_BODY = 4 * 1024 * 1024  # beyond: 413


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Upstream:
    server: http.server.ThreadingHTTPServer
    received: list[Received] = field(default_factory=list)

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def got(self, path: str) -> list[Received]:
        return [r for r in self.received if r.path.split("?")[0] == path]


@dataclass
class ProxyEnv:
    url: str  # the proxy, as clients configure it
    http: Upstream
    https: Upstream
    config: Path
    ca: Path  # the proxy's CA certificate, exported with `lacuna proxy ca -o`
    log: Path
    tmp: Path  # the proxy process's TMPDIR: its spooled bodies, apart from other processes'


def _upstream(ctx: ssl.SSLContext | None) -> Upstream:
    up: Upstream

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def _any(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            if self.headers.get("transfer-encoding", "").lower() == "chunked":
                body = b""
                while (size := int(self.rfile.readline().strip() or b"0", 16)) > 0:
                    body += self.rfile.read(size)
                    self.rfile.readline()
                self.rfile.readline()
            else:
                body = self.rfile.read(length)
            up.received.append(Received(self.command, self.path, dict(self.headers), body))
            out = b'{"ok": true, "bytes": %d}' % len(body)
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)

        do_GET = do_POST = do_PUT = _any

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    if ctx is not None:
        server.socket = ctx.wrap_socket(server.socket, server_side=True)
    up = Upstream(server)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return up


def _cli(*args: str, env: dict[str, str], **kwargs: object) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "lacuna", *args], env=env, **kwargs)  # type: ignore[call-overload, no-any-return]


def write_config(root: Path, proxy: str) -> Path:
    """The proxy tests' ``lacuna.yaml`` in ``root``: Alice, localhost internal, state and keys
    in ``root``, and ``proxy`` as the proxy section (YAML flow text)."""
    config = root / "lacuna.yaml"
    config.write_text(
        "user: {id: analyst_alice, role: data_analyst}\n"
        "destinations: {internal_hosts: [localhost]}\n"
        f"audit: {{url: 'sqlite:///{root / 'state.db'}'}}\n"
        f"anonymize: {{key_dir: '{root / 'keys'}'}}\n"
        f"proxy: {proxy}\n")
    return config


@pytest.fixture(scope="session")
def proxy_yaml() -> object:
    """:func:`write_config`, for a test module that builds its own gate."""
    return write_config


@pytest.fixture(scope="session")
def proxy_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProxyEnv]:
    from lacuna.proxy.ca import CertificateAuthority

    root = tmp_path_factory.mktemp("proxy")
    upstream_ca = CertificateAuthority(root / "upstream-ca")  # the upstream's own CA
    plain, secure = _upstream(None), _upstream(upstream_ca.context_for("127.0.0.1"))
    config = write_config(root, f"{{max_inspect_bytes: {MAX_INSPECT}, max_body_bytes: "
                                f"{MAX_BODY}, ca_dir: '{root / 'proxy-ca'}', "
                                f"upstream_ca: '{upstream_ca.cert_path}'}}")
    (root / "tmp").mkdir()
    env = {**os.environ, "LACUNA_HOME": str(root / "home"), "LACUNA_EMBEDDINGS_BUILD": "never",
           "TMPDIR": str(root / "tmp")}
    env.pop("LACUNA_CONFIG", None)
    from live_server import free_port

    port = free_port()
    log = root / "proxy.log"
    with log.open("wb") as out:
        proc = _cli("proxy", "--port", str(port), "-c", str(config), env=env,
                    stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 90
    while "listening" not in log.read_text(errors="replace"):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail("the proxy did not start:\n" + log.read_text(errors="replace")[-3000:])
        time.sleep(0.1)
    ca = root / "client-trusts.pem"
    exported = _cli("proxy", "ca", "-o", str(ca), "-c", str(config), env=env)
    assert exported.wait(60) == 0
    try:
        yield ProxyEnv(url=f"http://127.0.0.1:{port}", http=plain, https=secure, config=config,
                       ca=ca, log=log, tmp=root / "tmp")
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        for up in (plain, secure):
            up.server.shutdown()
            up.server.server_close()


@pytest.fixture(scope="module")
def recording_upstream() -> Iterator[Upstream]:
    """A plain HTTP upstream on 127.0.0.1 that records what it receives (for a test's own,
    in-process proxy)."""
    up = _upstream(None)
    try:
        yield up
    finally:
        up.server.shutdown()
        up.server.server_close()


@pytest.fixture(scope="module")
def gate(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """One proxy gate for a test module (a governor each costs ~0.3 s; its decisions only add
    records): the default rules, ``localhost`` internal. A module needing other settings
    defines its own ``gate``."""
    from lacuna.config import config_from_dict
    from lacuna.governor import Governor
    from lacuna.proxy.gate import Gate

    root = tmp_path_factory.mktemp("gate")
    gov = Governor(config_from_dict({
        "destinations": {"internal_hosts": ["localhost"]},
        "audit": {"url": f"sqlite:///{root / 'audit.db'}"},
    }))
    yield Gate(gov)
    gov.close()
