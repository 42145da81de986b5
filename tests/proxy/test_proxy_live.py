"""The egress proxy end to end: real clients (requests, httpx), a real proxy process, a local
"external" upstream that records what it receives. 127.0.0.1 is external, localhost internal."""

from __future__ import annotations

import gzip
import json
import random
import ssl
import string
import uuid
from typing import Any

import httpx
import pandas as pd
import pytest
import requests

import lacuna
from lacuna.audit import AuditStore
from lacuna.config import load_config

EMAILS = "customer_id,email\n1001,ana.silva@example.com\n1002,bo.chen@example.org\n"
AGGREGATE = {"region": ["EU", "US", "APAC"], "customers": [1204, 877, 311]}


def _path() -> str:
    return f"/upload/{uuid.uuid4().hex[:8]}"  # each test looks only at its own requests


def _proxies(env: Any) -> dict[str, str]:
    return {"http": env.url, "https": env.url}


def test_csv_with_emails_is_refused_with_451_and_nothing_is_forwarded(proxy_env):
    path = _path()
    r = requests.post(f"http://127.0.0.1:{proxy_env.http.port}{path}", data=EMAILS,
                      headers={"content-type": "text/csv"}, proxies=_proxies(proxy_env),
                      timeout=60)
    assert r.status_code == 451
    assert r.headers["content-type"].startswith("text/plain")
    assert "Cannot export PROPRIETARY data" in r.text
    assert "email" in r.text  # the evidence: which field, why
    assert proxy_env.http.got(path) == []


def test_json_with_emails_gets_the_violation_json(proxy_env):
    path = _path()
    with httpx.Client(proxy=proxy_env.url, timeout=60) as client:
        r = client.post(f"http://127.0.0.1:{proxy_env.http.port}{path}",
                        json={"customers": [{"id": 1, "contact": "ana.silva@example.com"},
                                            {"id": 2, "contact": "bo.chen@example.org"}]})
    assert r.status_code == 451
    body = r.json()
    assert body["code"] == "GovernanceViolation"
    assert body["decision"]["allowed"] is False
    assert body["decision"]["policy_id"] == "P-2024-001"
    assert "customers.contact" in body["message"]
    assert proxy_env.http.got(path) == []


def test_an_aggregate_passes_unchanged_and_is_audited(proxy_env):
    path = _path()
    sent = json.dumps(AGGREGATE).encode()
    with httpx.Client(proxy=proxy_env.url, timeout=60) as client:
        r = client.post(f"http://127.0.0.1:{proxy_env.http.port}{path}?week=12", content=sent,
                        headers={"content-type": "application/json", "x-trace": "t-1"})
    assert r.status_code == 200, r.text
    assert r.json() == {"ok": True, "bytes": len(sent)}
    [got] = proxy_env.http.got(path)
    assert got.body == sent
    assert got.path == f"{path}?week=12"
    assert got.headers["x-trace"] == "t-1"
    store = AuditStore(load_config(proxy_env.config).audit_url)
    try:
        exports = [r.data for r in store.list(limit=None, action="export")]
    finally:
        store.close()
    mine = [d for d in exports if path in json.dumps(d)]
    assert len(mine) == 1
    assert mine[0]["decision"]["allowed"] is True


def test_multipart_ndjson_form_and_gzip_uploads_of_emails_are_refused(proxy_env):
    url = f"http://127.0.0.1:{proxy_env.http.port}"
    paths = [_path() for _ in range(4)]
    proxies = _proxies(proxy_env)
    statuses = [
        requests.post(url + paths[0], files={"file": ("export.csv", EMAILS)},
                      proxies=proxies, timeout=60).status_code,
        requests.post(url + paths[1], data="\n".join(json.dumps(
            {"who": e}) for e in ("ana.silva@example.com", "bo.chen@example.org")),
            headers={"content-type": "application/x-ndjson"}, proxies=proxies,
            timeout=60).status_code,
        requests.post(url + paths[2], data={"email": "ana.silva@example.com"},
                      proxies=proxies, timeout=60).status_code,
        requests.post(url + paths[3], data=gzip.compress(EMAILS.encode()),
                      headers={"content-type": "text/csv", "content-encoding": "gzip"},
                      proxies=proxies, timeout=60).status_code,
    ]
    assert statuses == [451, 451, 451, 451]
    assert all(proxy_env.http.got(p) == [] for p in paths)


def test_the_same_csv_to_an_internal_host_is_allowed(proxy_env):
    path = _path()
    r = requests.post(f"http://localhost:{proxy_env.http.port}{path}",
                      data="region,customers\nEU,1204\n", headers={"content-type": "text/csv"},
                      proxies=_proxies(proxy_env), timeout=60)
    assert r.status_code == 200
    assert proxy_env.http.got(path)[0].body == b"region,customers\nEU,1204\n"


def test_a_binary_body_to_an_external_host_fails_closed(proxy_env):
    path = _path()
    r = requests.post(f"http://127.0.0.1:{proxy_env.http.port}{path}",
                      data=bytes(range(256)) * 8, proxies=_proxies(proxy_env), timeout=60)
    assert r.status_code == 451
    assert "could not read" in r.text
    assert proxy_env.http.got(path) == []


def test_a_body_beyond_max_inspect_bytes_is_inspected_then_forwarded_unchanged(proxy_env):
    max_inspect = load_config(proxy_env.config).proxy.max_inspect_bytes
    rows = "".join(f"R{i % 7},{i}\n" for i in range(max_inspect // 4))
    big = ("region,customers\n" + rows).encode()
    assert len(big) > 2 * max_inspect
    path = _path()
    r = requests.post(f"http://127.0.0.1:{proxy_env.http.port}{path}", data=big,
                      headers={"content-type": "text/csv"}, proxies=_proxies(proxy_env),
                      timeout=60)
    assert r.status_code == 200
    assert proxy_env.http.got(path)[0].body == big  # all of it, unchanged
    refused = _path()
    r = requests.post(f"http://127.0.0.1:{proxy_env.http.port}{refused}",
                      data=EMAILS.encode() + b"1003,x@example.net\n" * (max_inspect // 8),
                      headers={"content-type": "text/csv"}, proxies=_proxies(proxy_env),
                      timeout=60)
    assert r.status_code == 451
    assert proxy_env.http.got(refused) == []


def test_values_no_recognizer_knows_are_refused_once_a_governed_read_saw_them(
        proxy_env, tmp_path):
    rng = random.Random(uuid.uuid4().hex)  # new values in every run
    refs = ["".join(rng.choices(string.ascii_lowercase, k=10)) for _ in range(40)]
    payload = {"ref": refs[:10]}
    url = f"http://127.0.0.1:{proxy_env.http.port}"
    before = requests.post(url + _path(), json=payload, proxies=_proxies(proxy_env), timeout=60)
    assert before.status_code == 200  # the values alone: nothing to recognise
    source = tmp_path / "customers.csv"
    pd.DataFrame({"customer_ref": refs, "signup_year": [2020] * 40}).to_csv(source, index=False)
    declared = {"columns": {"customer_ref": {"classification": "pii", "pii_type": "name",
                                             "sensitivity": "high"}}}
    (tmp_path / "customers.csv.lacuna.json").write_text(json.dumps({"classification": declared}))
    lacuna.enable(load_config(proxy_env.config))  # the proxy's state database and key
    try:
        frame = pd.read_csv(source)  # a steward's sidecar says what the values cannot
        assert frame.lacuna.classification.columns["customer_ref"].classification == "pii"
    finally:
        lacuna.disable()
    path = _path()
    after = requests.post(url + path, json=payload, proxies=_proxies(proxy_env), timeout=60)
    assert after.status_code == 451
    message = after.json()["message"]
    assert "customers.csv" in message
    assert "customer_ref" in message
    assert proxy_env.http.got(path) == []


@pytest.mark.parametrize("body", ["emails", "aggregate"])
def test_https_through_the_exported_ca(proxy_env, body):
    path = _path()
    data = (json.dumps({"contact": "ana.silva@example.com"}) if body == "emails"
            else json.dumps(AGGREGATE))
    trust = ssl.create_default_context(cafile=str(proxy_env.ca))
    with httpx.Client(proxy=proxy_env.url, verify=trust, timeout=60) as client:
        r = client.post(f"https://127.0.0.1:{proxy_env.https.port}{path}", content=data,
                        headers={"content-type": "application/json"})
    if body == "emails":
        assert r.status_code == 451
        assert r.json()["decision"]["allowed"] is False
        assert proxy_env.https.got(path) == []
    else:
        assert r.status_code == 200, r.text
        assert proxy_env.https.got(path)[0].body == data.encode()


def test_https_with_requests_and_the_exported_ca(proxy_env):
    path = _path()
    r = requests.post(f"https://127.0.0.1:{proxy_env.https.port}{path}", data=EMAILS,
                      headers={"content-type": "text/csv"}, proxies=_proxies(proxy_env),
                      verify=str(proxy_env.ca), timeout=60)
    assert r.status_code == 451
    assert proxy_env.https.got(path) == []
