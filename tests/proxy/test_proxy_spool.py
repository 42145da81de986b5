"""Bodies longer than proxy.max_inspect_bytes: spooled to a private file, inspected to the last
byte (value recognizers and fingerprints on overlapping windows), forwarded unchanged when
allowed; past proxy.max_body_bytes refused with a 413 and recorded, never forwarded."""

from __future__ import annotations

import glob
import os
import uuid

import requests

from lacuna.audit import AuditStore
from lacuna.config import load_config
from lacuna.proxy.gate import SCAN_OVERLAP, SCAN_WINDOW


def _path() -> str:
    return f"/spool/{uuid.uuid4().hex[:8]}"


def _post(env, path: str, body: bytes, content_type: str = "text/csv") -> requests.Response:
    return requests.post(f"http://127.0.0.1:{env.http.port}{path}", data=body,
                         headers={"content-type": content_type},
                         proxies={"http": env.url, "https": env.url}, timeout=120)


def _clean_rows(n: int, start: int = 0) -> bytes:
    return "".join(f"R{i % 7},{i}\n" for i in range(start, start + n)).encode()


def _decisions(env, path: str):
    store = AuditStore(load_config(env.config).audit_url)
    try:
        return [r for r in store.list(limit=None)
                if r.kind == "decision" and (r.destination or "").endswith(path)]
    finally:
        store.close()


def _spools(env) -> list[str]:
    """The proxy's spooled bodies (its own TMPDIR: another process's proxy tests, in CI's other
    worker, spool in theirs)."""
    return glob.glob(os.path.join(env.tmp, "lacuna-proxy-body-*"))


def test_emails_only_past_the_inspected_start_are_refused(proxy_env):
    max_inspect = load_config(proxy_env.config).proxy.max_inspect_bytes
    head = b"region,customers\n" + _clean_rows(max_inspect // 2)
    assert len(head) > 2 * max_inspect  # the e-mails start far past what is held in memory
    emails = b"".join(b"R9,person.%d@example.net\n" % i for i in range(40))
    path = _path()
    r = _post(proxy_env, path, head + emails + _clean_rows(2000))
    assert r.status_code == 451, r.text
    assert proxy_env.http.got(path) == []  # nothing reached the upstream
    [denied] = _decisions(proxy_env, path)
    assert not denied.allowed
    assert "PII" in denied.data["what"]["tags"]


def test_emails_cut_by_a_window_boundary_are_found(proxy_env):
    """The e-mails sit across the end of the first scan window: each is cut there, and whole
    in the next window (they overlap)."""
    max_inspect = load_config(proxy_env.config).proxy.max_inspect_bytes
    boundary = max_inspect - SCAN_OVERLAP + SCAN_WINDOW  # where the first window ends
    emails = b"".join(b"R9,someone.%d@example.org\n" % i for i in range(40))
    filler = b"region,customers\n" + _clean_rows(boundary // 8)
    filler = filler[: boundary - len(emails) // 2]  # the e-mails straddle the boundary
    filler = filler[: filler.rfind(b"\n") + 1]
    body = filler + emails + _clean_rows(5000, start=10**6)
    assert len(filler) < boundary < len(filler) + len(emails)
    path = _path()
    r = _post(proxy_env, path, body)
    assert r.status_code == 451, r.text
    assert proxy_env.http.got(path) == []


def test_a_large_clean_body_is_forwarded_byte_identical(proxy_env):
    body = b"region,customers\n" + _clean_rows(300_000)  # ~3 MB: many windows, under the cap
    assert len(body) > 10 * load_config(proxy_env.config).proxy.max_inspect_bytes
    path = _path()
    r = _post(proxy_env, path, body)
    assert r.status_code == 200, r.text
    [got] = proxy_env.http.got(path)
    assert got.body == body
    [allowed] = _decisions(proxy_env, path)
    assert allowed.allowed
    assert _spools(proxy_env) == []  # the spooled body is removed after the request


def test_a_body_past_max_body_bytes_is_refused_with_413_and_recorded(proxy_env):
    cap = load_config(proxy_env.config).proxy.max_body_bytes
    body = b"region,customers\n" + _clean_rows(cap // 7 + 10_000)
    assert len(body) > cap
    path = _path()
    try:
        r = _post(proxy_env, path, body)
    except requests.ConnectionError:  # the proxy may close before the client sent it all
        r = None
    if r is not None:
        assert r.status_code == 413
        assert "proxy.max_body_bytes" in r.text
    assert proxy_env.http.got(path) == []
    [denied] = _decisions(proxy_env, path)
    assert not denied.allowed
    assert denied.policy_id == "lacuna.proxy"
    assert _spools(proxy_env) == []


def test_every_value_up_to_the_overlap_is_whole_in_some_window(tmp_path):
    from lacuna.proxy.gate import windows

    data = bytes(range(256)) * 40  # 10,240 bytes, every position distinguishable
    path = tmp_path / "body"
    path.write_bytes(data)
    start, size, overlap = 1000, 1024, 64
    seen = list(windows(str(path), start, size, overlap))
    assert seen[0][0] == start - overlap
    assert seen[-1][0] + len(seen[-1][1]) == len(data)  # to the last byte
    for offset, window in seen:
        assert window == data[offset:offset + len(window)]
    for at in range(start - overlap, len(data) - overlap):  # each value of `overlap` bytes
        assert any(o <= at and at + overlap <= o + len(w) for o, w in seen), at
