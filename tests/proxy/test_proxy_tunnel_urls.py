"""The URL a request inside a CONNECT tunnel is decided and forwarded to (in-process)."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from lacuna.proxy.server import ProxyServer, _Origin


@pytest.mark.parametrize(("host", "port", "url", "hostname"), [
    ("::1", 8443, "https://[::1]:8443/x?a=1", "::1"),
    ("::ffff:127.0.0.1", 443, "https://[::ffff:127.0.0.1]/x?a=1", "::ffff:127.0.0.1"),
    ("api.example.com", 443, "https://api.example.com/x?a=1", "api.example.com"),
])
def test_a_tunnels_ipv6_host_is_bracketed(host: str, port: int, url: str, hostname: str) -> None:
    # CONNECT [::1]:8443 made "https://::1:8443/x": no URL (its port did not parse), so every
    # request in the tunnel failed to be decided or forwarded
    got = ProxyServer._url("/x?a=1", _Origin("https", host, port))
    assert got == url
    parts = urlsplit(got)
    assert (parts.hostname, parts.port or 443) == (hostname, port)
