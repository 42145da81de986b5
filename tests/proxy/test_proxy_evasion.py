"""Uploads shaped to slip past the gate, through the real proxy process to a recording upstream:
each is refused (451, nothing forwarded); the same shapes carrying public data pass unchanged."""

from __future__ import annotations

import base64
import gzip
import io
import json
import uuid
import zlib

import python_multipart
import requests

from lacuna.proxy.bodies import read_body

EMAILS = (b"customer_id,email\n1001,ana.silva@example.com\n1002,bo.chen@example.org\n"
          b"1003,cy.diaz@example.net\n")
CLEAN_LINES = b"".join(b'{"region": "EU", "week": %d}\n' % (i % 50) for i in range(8000))


def _post(env, body: bytes | None = None, headers: dict[str, str] | None = None,
          query: str = "", method: str = "POST") -> tuple[requests.Response, list]:
    path = f"/evade/{uuid.uuid4().hex[:8]}"
    r = requests.request(method, f"http://127.0.0.1:{env.http.port}{path}{query}", data=body,
                         headers=headers or {}, proxies={"http": env.url, "https": env.url},
                         timeout=120)
    return r, env.http.got(path)


def test_gzip_members_and_bytes_past_the_inspected_start_are_read(proxy_env):
    assert len(CLEAN_LINES) > 64 * 1024  # past the test proxy's max_inspect_bytes, decoded
    emails = b"".join(b'{"who": "person.%d@example.net"}\n' % i for i in range(40))
    gz = {"content-type": "application/x-ndjson", "content-encoding": "gzip"}
    for body in (gzip.compress(CLEAN_LINES + emails),  # small compressed, long decoded
                 gzip.compress(b'{"region": "EU"}\n') + gzip.compress(emails),  # 2 members
                 gzip.compress(b'{"region": "EU"}\n') + emails):  # bytes after the stream
        r, got = _post(proxy_env, body, gz)
        assert r.status_code == 451, r.text
        assert got == []
    nested = gzip.compress(zlib.compress(EMAILS))
    r, got = _post(proxy_env, nested, {"content-type": "text/csv",
                                       "content-encoding": "deflate, gzip"})
    assert r.status_code == 451
    assert "email" in r.text  # read, not refused as unreadable
    clean = gzip.compress(CLEAN_LINES[:30000]) + gzip.compress(CLEAN_LINES)
    r, [got] = _post(proxy_env, clean, gz)
    assert r.status_code == 200, r.text
    assert got.body == clean  # byte for byte


def test_data_in_a_query_without_values_or_a_file_in_one_value_is_read(proxy_env):
    r, got = _post(proxy_env, query="?ana.silva@example.com&bo.chen@example.org", method="GET")
    assert r.status_code == 451
    assert got == []
    shaped = [
        (json.dumps({"file": EMAILS.decode()}).encode(), "application/json"),
        (b"file=" + requests.utils.quote(EMAILS).encode(), "application/x-www-form-urlencoded"),
        (EMAILS, "application/x-www-form-urlencoded"),  # mislabelled: one long name
    ]
    for body, content_type in shaped:
        r, got = _post(proxy_env, body, {"content-type": content_type})
        assert r.status_code == 451, body
        assert got == []
    r, got = _post(proxy_env, query="?d=" + requests.utils.quote(EMAILS.decode()), method="GET")
    assert r.status_code == 451
    report = "region,customers\nEU,1204\nUS,877\n"
    r, [got] = _post(proxy_env, json.dumps({"report": report}).encode(),
                     {"content-type": "application/json"})
    assert r.status_code == 200
    assert json.loads(got.body) == {"report": report}


def _receiver_reads(body: bytes, boundary: str) -> list[tuple[bytes, bytes]]:
    """What a real multipart parser (python-multipart, as in Starlette) finds in ``body``."""
    parts: list[tuple[bytes, bytes]] = []

    def on_file(f) -> None:  # type: ignore[no-untyped-def]
        f.file_object.seek(0)
        parts.append((f.field_name, f.file_object.read()))

    python_multipart.parse_form(
        {"Content-Type": f"multipart/form-data; boundary={boundary}".encode(),
         "Content-Length": str(len(body)).encode()}, io.BytesIO(body),
        lambda f: parts.append((f.field_name, f.value)), on_file)
    return parts


def test_a_boundary_inside_a_line_does_not_end_the_multipart_body(proxy_env):
    body = (b'--b1\r\nContent-Disposition: form-data; name="note"\r\n\r\nsee--b1--\r\n'
            b'--b1\r\nContent-Disposition: form-data; name="f"; filename="x.csv"\r\n\r\n'
            + EMAILS + b"\r\n--b1--\r\n")
    assert (b"f", EMAILS) in _receiver_reads(body, "b1")  # the receiver gets the file
    r, got = _post(proxy_env, body, {"content-type": "multipart/form-data; boundary=b1"})
    assert r.status_code == 451, r.text
    assert got == []
    body = (b'--b1\r\nContent-Disposition: form-data; name="note"\r\n\r\nhi--b1\r\n'
            + EMAILS + b"\r\n--b1--\r\n")  # read as headers of a part that is not one
    r, got = _post(proxy_env, body, {"content-type": "multipart/form-data; boundary=b1"})
    assert r.status_code == 451, r.text


def test_a_base64_multipart_part_is_read_as_the_receiver_decodes_it():
    encoded = base64.encodebytes(EMAILS)
    body = (b'--b1\r\nContent-Disposition: form-data; name="f"; filename="x.csv"\r\n'
            b"Content-Transfer-Encoding: base64\r\n\r\n" + encoded + b"\r\n--b1--\r\n")
    p = read_body(body, "multipart/form-data; boundary=b1")
    assert p.fields["f.email"] == ("ana.silva@example.com", "bo.chen@example.org",
                                   "cy.diaz@example.net")


def test_undecodable_codings_fail_closed():
    for body, coding in [(gzip.compress(EMAILS) + b"trailing", "gzip"),
                         (zlib.compress(EMAILS) + b"x", "deflate"),
                         (b"\x8b\x00whatever", "br"), (gzip.compress(EMAILS), "gzip, zstd")]:
        p = read_body(body, "text/csv", encoding=coding)
        assert p.unreadable, coding
    p = read_body(gzip.compress(b"a,b\n") + gzip.compress(b"1,2\n") + b"\0\0", "text/csv",
                  encoding="gzip")  # members, then zero padding
    assert p.fields == {"a": ("1",), "b": ("2",)}


def test_data_in_headers_and_the_path_is_read(proxy_env):
    three = "ana.silva@example.com,bo.chen@example.org,cy.diaz@example.net"
    for headers, path in [({"cookie": f"session=1; d={three}"}, ""),
                          ({"x-data": base64.b64encode(EMAILS).decode()}, ""),
                          ({"referer": f"https://a.example/?e={three}"}, ""),
                          ({"authorization": f"Bearer {three}"}, ""),
                          ({}, "/" + three.replace(",", "/")),
                          # as classification reads values: written out, look-alike digits
                          ({"x-c": "ana.silva[at]example[dot]com"}, ""),
                          ({"x-c": "ana_AT_example_DOT_com"}, ""),
                          ({"x-c": "+44 2O 7946 O958"}, "")]:
        r, got = _post(proxy_env, headers=headers, query=path, method="GET")
        assert r.status_code == 451, (headers, path)
        assert got == []
        assert "(header)" in r.text or "(path)" in r.text  # where it was found
    headers = {"cookie": "session=3f9a2c1e; theme=dark", "x-trace": "t-1",
               "authorization": "Bearer sk_live_4f9a8b7c6d5e4f3a2b1c", "user-agent": "app/1.2"}
    body = json.dumps({"region": "EU", "customers": 1204}).encode()
    r, [got] = _post(proxy_env, body, {"content-type": "application/json", **headers})
    assert r.status_code == 200, r.text
    assert got.body == body  # byte for byte
    assert {k: got.headers[k] for k in headers} == headers
    r, [got] = _post(proxy_env, headers=headers, method="GET")  # no data: no decision needed
    assert r.status_code == 200


def test_encoded_files_in_a_json_value_a_form_field_or_a_query_are_decoded(proxy_env):
    rows = json.dumps([{"email": e} for e in ("ana.silva@example.com", "bo.chen@example.org",
                                               "cy.diaz@example.net")]).encode()
    for encoded in (base64.b64encode(EMAILS), base64.urlsafe_b64encode(EMAILS).rstrip(b"="),
                    base64.encodebytes(EMAILS), EMAILS.hex().encode(),
                    base64.b64encode(base64.b64encode(rows)),
                    requests.utils.quote(requests.utils.quote(EMAILS)).encode(),
                    # compressed, then encoded: what a receiver inflates after decoding
                    base64.b64encode(gzip.compress(EMAILS)),
                    base64.b64encode(zlib.compress(EMAILS)), zlib.compress(EMAILS).hex().encode()):
        for body, content_type in [
                (json.dumps({"f": encoded.decode()}).encode(), "application/json"),
                (b"f=" + requests.utils.quote(encoded).encode(),
                 "application/x-www-form-urlencoded")]:
            r, got = _post(proxy_env, body, {"content-type": content_type})
            assert r.status_code == 451, (encoded[:20], content_type)
            assert got == []
        r, got = _post(proxy_env, query="?f=" + requests.utils.quote(encoded), method="GET")
        assert r.status_code == 451
    short = ["bo@example.org", "cy@example.net", "di@example.com"]  # each encoded alone
    for encode in (lambda e: base64.b64encode(e).decode(), lambda e: e.hex()):
        r, got = _post(proxy_env, json.dumps({"e": [encode(e.encode()) for e in short]}).encode(),
                       {"content-type": "application/json"})
        assert r.status_code == 451
        assert got == []
    clean = {"id": "0f8fad5b-d9cb-469f-a165-70867728950e",
             "sha": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
             "blob": base64.b64encode(bytes(range(40))).decode(),
             "report": base64.b64encode(b"region,customers\nEU,1204\nUS,877\n").decode(),
             "archive": base64.b64encode(gzip.compress(b"region,customers\nEU,1204\n")).decode()}
    body = json.dumps(clean).encode()
    r, [got] = _post(proxy_env, body, {"content-type": "application/json"})
    assert r.status_code == 200, r.text
    assert got.body == body


def test_an_encoded_file_past_the_inspected_start_is_decoded_in_the_scan(proxy_env):
    rows = b"customer_id,email\n" + b"".join(b"%d,person.%d@example.net\n" % (i, i)
                                            for i in range(200))
    pad = "x " * 40000  # the file lies past the proxy's max_inspect_bytes (64 KiB)
    for encoded in (base64.b64encode(rows).decode(), base64.encodebytes(rows).decode(),
                    rows.hex()):
        body = json.dumps({"pad": pad, "f": encoded}).encode()
        assert body.index(b'"f"') > 64 * 1024
        r, got = _post(proxy_env, body, {"content-type": "application/json"})
        assert r.status_code == 451, encoded[:20]
        assert got == []
    clean = json.dumps({"pad": pad, "f": base64.b64encode(b"region,n\nEU,1\n" * 400).decode(),
                        "sha": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"})
    r, [got] = _post(proxy_env, clean.encode(), {"content-type": "application/json"})
    assert r.status_code == 200, r.text
    assert got.body == clean.encode()


def _raw(env, data: bytes, responses: int) -> bytes:
    """``data`` sent to the proxy in one write; what comes back until ``responses`` whole
    responses (by their content-length) are in, the proxy closes, or 15 s pass."""
    import re
    import socket

    def whole(out: bytes) -> int:
        done = at = 0
        while (end := out.find(b"\r\n\r\n", at)) >= 0:
            length = re.search(rb"(?im)^content-length:\s*(\d+)", out[at:end])
            at = end + 4 + (int(length.group(1)) if length else 0)
            if at > len(out):
                break
            done += 1
        return done

    host, port = env.url.rsplit("/", 1)[1].split(":")
    out = b""
    with socket.create_connection((host, int(port))) as s:
        s.sendall(data)
        s.settimeout(15)
        try:
            while whole(out) < responses and (chunk := s.recv(65536)):
                out += chunk
        except TimeoutError:
            pass
    return out


def test_pipelined_requests_are_each_decided(proxy_env):
    import re

    def request(path: str, body: bytes) -> bytes:
        return (b"POST http://127.0.0.1:%d%s HTTP/1.1\r\nhost: x\r\ncontent-type: text/csv\r\n"
                b"content-length: %d\r\n\r\n" % (proxy_env.http.port, path.encode(), len(body))
                + body)

    clean, leak = f"/evade/{uuid.uuid4().hex[:8]}", f"/evade/{uuid.uuid4().hex[:8]}"
    out = _raw(proxy_env, request(clean, b"region,n\nEU,1\n") + request(leak, EMAILS), 2)
    assert re.findall(rb"HTTP/1.1 (\d+)", out) == [b"200", b"451"]
    assert [g.body for g in proxy_env.http.got(clean)] == [b"region,n\nEU,1\n"]
    assert proxy_env.http.got(leak) == []


def test_header_names_are_read_too(proxy_env):
    cards = {f"x-c{n}-{card}": "1" for n, card in enumerate(
        ("4111111111111111", "5500005555555559", "340000000000009"))}
    r, got = _post(proxy_env, headers=cards, method="GET")  # (h11 refuses "@" in a name)
    assert r.status_code == 451, r.text
    assert got == []
    assert "(header" in r.text  # where it was found


def test_escaped_values_past_the_inspected_start_are_decoded_in_the_scan(proxy_env):
    emails = [f"person.{i}@example.net" for i in range(50)]
    escaped = ",".join('"' + e.replace("@", "\\u0040") + '"' for e in emails)
    body = '{"pad": "' + "x " * 40000 + '", "e": [' + escaped + "]}"
    assert json.loads(body)["e"] == emails  # what the receiver reads
    pad = "&".join(f"region_{i}=europe" for i in range(6000))
    form = pad + "&" + "&".join(f"e{i}={e.replace('@', '%40')}" for i, e in enumerate(emails))
    for data, content_type in ((body, "application/json"),
                               (form, "application/x-www-form-urlencoded")):
        assert data.index("person.0") > 64 * 1024  # past the proxy's max_inspect_bytes
        r, got = _post(proxy_env, data.encode(), {"content-type": content_type})
        assert r.status_code == 451, content_type
        assert "email" in r.text
        assert got == []


def test_headers_inside_a_connect_tunnel_are_read(proxy_env):
    import ssl

    import httpx

    trust = ssl.create_default_context(cafile=str(proxy_env.ca))
    base = f"https://127.0.0.1:{proxy_env.https.port}"
    leak, clean = f"/evade/{uuid.uuid4().hex[:8]}", f"/evade/{uuid.uuid4().hex[:8]}"
    with httpx.Client(proxy=proxy_env.url, verify=trust, timeout=60) as client:
        r = client.get(base + leak, headers={
            "cookie": "d=ana.silva@example.com,bo.chen@example.org,cy.diaz@example.net"})
        assert r.status_code == 451
        r = client.get(base + clean, headers={"cookie": "theme=dark", "host": "evil.example"})
        assert r.status_code == 200, r.text
    assert proxy_env.https.got(leak) == []
    [got] = proxy_env.https.got(clean)
    assert got.headers["host"] == f"127.0.0.1:{proxy_env.https.port}"  # the tunnel's host
    assert got.headers["cookie"] == "theme=dark"


def test_a_request_framed_twice_is_refused_and_one_framed_by_chunks_is_forwarded(proxy_env):
    """Transfer-Encoding and Content-Length together: h11 reads the chunks, a server behind
    that reads the length takes the rest of the body for a request of its own, one the proxy
    never decided (its own path and Host). Such a request is refused (RFC 9112 6.3), never
    forwarded; chunked alone is forwarded, its body whole."""
    import re

    smuggled = b"GET /admin HTTP/1.1\r\nhost: other.example\r\n\r\n"
    body = b"region,n\nEU,1\n" + smuggled
    chunked = b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
    both, alone = f"/evade/{uuid.uuid4().hex[:8]}", f"/evade/{uuid.uuid4().hex[:8]}"

    def request(path: str, framing: bytes) -> bytes:
        return (b"POST http://127.0.0.1:%d%s HTTP/1.1\r\nhost: x\r\ncontent-type: text/csv\r\n"
                % (proxy_env.http.port, path.encode()) + framing + b"\r\n" + chunked)

    out = _raw(proxy_env, request(both, b"content-length: 14\r\ntransfer-encoding: chunked\r\n"
                                  ), 1)
    assert re.findall(rb"HTTP/1.1 (\d+)", out) == [b"400"], out
    assert b"Transfer-Encoding and Content-Length" in out
    assert proxy_env.http.got(both) == []
    out = _raw(proxy_env, request(alone, b"transfer-encoding: chunked\r\n"), 1)
    assert re.findall(rb"HTTP/1.1 (\d+)", out) == [b"200"], out
    [got] = proxy_env.http.got(alone)
    assert got.body == body
    assert "content-length" not in {k.lower() for k in got.headers}
