"""Bodies as fields, fingerprints and the gate, in process (no proxy, no sockets)."""

from __future__ import annotations

import base64
import gzip
import json
import time
import zlib

import pytest

from lacuna.config import config_from_dict
from lacuna.governor import Governor
from lacuna.model import ColumnClass, ColumnKind
from lacuna.proxy.bodies import read_body
from lacuna.proxy.fingerprints import FingerprintStore, normalise
from lacuna.proxy.gate import Gate, OutboundRequest

CSV = b"id,email\n1,ana@example.com\n2,bo@example.org\n"


def test_json_is_flattened_by_path():
    body = json.dumps({"batch": 7, "rows": [{"email": "a@x.com", "tags": ["x"]},
                                            {"email": "b@y.org", "meta": {"city": "Porto"}}]})
    p = read_body(body.encode(), "application/json; charset=utf-8")
    assert p.format == "json"
    assert p.fields["rows.email"] == ("a@x.com", "b@y.org")
    assert p.fields["rows.meta.city"] == ("Porto",)
    assert p.fields["batch"] == ("7",)


@pytest.mark.parametrize(("content_type", "fmt"), [
    ("text/csv", "csv"), (None, "csv"), ("text/plain", "csv"), ("application/octet-stream", "csv"),
])
def test_csv_is_read_by_header_whatever_it_is_labelled(content_type, fmt):
    p = read_body(CSV, content_type)
    assert p.format == fmt
    assert p.fields["email"] == ("ana@example.com", "bo@example.org")


def test_form_ndjson_and_multipart():
    assert read_body(b"a=1&email=x%40y.com", "application/x-www-form-urlencoded").fields[
        "email"] == ("x@y.com",)
    nd = b'{"who": "a@x.com"}\n{"who": "b@x.com"}\n'
    assert read_body(nd, "application/x-ndjson").fields["who"] == ("a@x.com", "b@x.com")
    multi = (b'--b1\r\nContent-Disposition: form-data; name="note"\r\n\r\nhello\r\n'
             b'--b1\r\nContent-Disposition: form-data; name="file"; filename="x.csv"\r\n'
             b"Content-Type: application/octet-stream\r\n\r\n" + CSV + b"\r\n--b1--\r\n")
    p = read_body(multi, "multipart/form-data; boundary=b1")
    assert p.format == "multipart"
    assert p.fields["note"] == ("hello",)
    assert p.fields["file.email"] == ("ana@example.com", "bo@example.org")


def test_compressed_bodies():
    assert read_body(gzip.compress(CSV), "text/csv", encoding="gzip").fields["id"] == ("1", "2")
    assert read_body(zlib.compress(CSV), "text/csv", encoding="deflate").fields["id"] == (
        "1", "2")
    br = read_body(b"\x8b\x00whatever", "text/csv", encoding="br")
    assert br.unreadable
    assert not br.fields


def test_a_cut_body_is_read_as_far_as_it_goes():
    cut = read_body(CSV + b"3,cu", "text/csv", truncated=True)
    assert cut.fields["id"] == ("1", "2")  # the cut row is dropped
    json_cut = read_body(b'[{"email": "a@x.com"}, {"email": "b@', "application/json",
                         truncated=True)
    assert json_cut.format == "text"
    assert "a@x.com" in json_cut.fields["text"]


def test_binary_is_unreadable():
    p = read_body(bytes(range(256)), "application/octet-stream")
    assert p.unreadable
    assert not p.fields


EMAILS = [f"user{i}@example.com" for i in range(20)]


def test_a_body_read_as_no_fields_is_not_empty():
    """Bytes were sent, so something is decided: a CSV that is all header, or a multipart body
    whose parts are not under the boundary its header names, is read as text (or is unreadable),
    never as a body that carries nothing."""
    header_only = read_body(",".join(EMAILS).encode(), "text/csv")
    assert set(EMAILS) <= set(header_only.fields["text"])
    multi = (b'--b2\r\nContent-Disposition: form-data; name="file"; filename="x.csv"\r\n\r\n'
             + CSV + b"\r\n--b2--\r\n")
    wrong = read_body(multi, "multipart/form-data; boundary=b1")
    assert wrong.unreadable
    assert read_body(b"--b1--\r\n", "multipart/form-data; boundary=b1").unreadable == ()


def test_free_text_keeps_its_lines_for_the_free_text_recognizers(gate):
    """Prose with an e-mail in each sentence: as tokens the e-mails are a few values among
    many words; its lines let the recognizers find e-mails inside text, as in a JSON string.
    Markup (XML) repeats its tags: each token counts once."""
    prose = " ".join(f"Customer {e} ordered item {i} yesterday." for i, e in enumerate(EMAILS))
    p = read_body(prose.encode(), "text/plain")
    assert p.fields["lines"] == (prose,)
    refused = gate.check(OutboundRequest(method="POST", url="https://api.external-service.com/v1",
                                         headers={"content-type": "text/plain"},
                                         body=prose.encode()))
    assert not refused.forward
    assert refused.status == 451
    xml = "<rows>" + "".join(f"<row><email>{e}</email></row>" for e in EMAILS) + "</rows>"
    assert read_body(xml.encode(), "application/xml").fields["text"].count("email") == 1
    markup = gate.check(OutboundRequest(method="POST", url="https://api.external-service.com/v1",
                                        headers={"content-type": "application/xml"},
                                        body=xml.encode()))
    assert markup.status == 451  # the tags, once each, no longer outnumber the e-mails
    long_line = ("word " * 1000 + EMAILS[0] + " " + "word " * 1000).encode()
    pieces = read_body(long_line, "text/plain").fields["lines"]
    assert any(EMAILS[0] in piece for piece in pieces)
    assert max(len(piece) for piece in pieces) <= 2048  # what the classifier samples whole


def test_keys_that_are_data_are_read_as_data(gate):
    """``requests.post(url, json=df.set_index("email")["score"].to_dict())``: the e-mails are
    the JSON object's keys; a form may send them as names without values. Keys are values of
    the field ``(keys)`` (each once), so they are classified and fingerprinted too."""
    by_email = json.dumps({e: i for i, e in enumerate(EMAILS)}).encode()
    assert set(EMAILS) <= set(read_body(by_email, "application/json").fields["(keys)"])
    nested = read_body(b'{"rows": [{"email": 1}, {"email": 2}]}', "application/json")
    assert nested.fields["rows.(keys)"] == ("email",)  # once, however many rows
    form = "&".join(f"{e}=" for e in EMAILS).encode()
    assert set(EMAILS) <= set(read_body(form, "application/x-www-form-urlencoded").fields[
        "(keys)"])
    for body, content_type in ((by_email, "application/json"),
                               (form, "application/x-www-form-urlencoded")):
        verdict = gate.check(OutboundRequest(
            method="POST", url="https://api.external-service.com/v1",
            headers={"content-type": content_type}, body=body))
        assert verdict.status == 451, content_type


def test_normalise_skips_values_that_match_by_chance():
    assert normalise(" Ana@Example.COM ") == "ana@example.com"
    assert normalise("12") is None
    assert normalise("2024") is None
    assert normalise("129.99") is None
    assert normalise("12345678") == "12345678"


@pytest.fixture(params=["sqlite", "postgresql"])
def state_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'state.db'}"
    from fixtures_postgres import new_postgres_database

    return new_postgres_database(request.getfixturevalue("postgres_url"))


def test_fingerprints_are_keyed_and_match_by_share(state_url):
    url = state_url
    pii = ColumnClass(classification=ColumnKind.PII, pii_type="name")
    store = FingerprintStore(url, b"k" * 32)
    refs = [f"customer-ref-{i}" for i in range(20)]
    assert store.record("crm.csv", "ref", pii, refs) == 20
    assert store.record("crm.csv", "ref", pii, refs) == 0  # known already
    [m] = store.match({"sent": refs[:5], "other": ["unrelated-value"]})
    assert (m.field, m.matched, m.column, m.source) == ("sent", 5, "ref", "crm.csv")
    assert m.column_class.classification is ColumnKind.PII
    # one seen value among many unseen ones is chance, not an export of the column
    noisy = [refs[0], *(f"noise-{i}" for i in range(20))]
    assert store.match({"sent": noisy}) == ()
    other_key = FingerprintStore(url, b"o" * 32)  # without the key, nothing matches
    assert other_key.match({"sent": refs[:5]}) == ()
    store.close()
    other_key.close()


@pytest.fixture
def gate(tmp_path):
    config = config_from_dict({
        "destinations": {"internal_hosts": ["localhost"]},
        "audit": {"url": f"sqlite:///{tmp_path / 'audit.db'}"},
    })
    gov = Governor(config)
    yield Gate(gov)
    gov.close()


def test_the_gate_decides_exports_by_destination(gate):
    external = gate.check(OutboundRequest(method="POST", url="https://api.external-service.com/v1",
                                          headers={"content-type": "text/csv"}, body=CSV))
    assert not external.forward
    assert external.status == 451
    assert external.decision is not None
    assert external.decision.operation is not None
    assert external.decision.operation.destination is not None
    assert external.decision.operation.destination.uri == "https://api.external-service.com/v1"
    assert external.decision.operation.action == "export"
    aggregate = gate.check(OutboundRequest(
        method="POST", url="https://api.external-service.com/v1",
        headers={"content-type": "application/json"},
        body=json.dumps({"region": ["EU", "US"], "customers": [1204, 877]}).encode()))
    assert aggregate.forward
    assert aggregate.decision is not None
    assert aggregate.decision.allowed


def test_query_strings_are_data_and_bodyless_requests_are_not_decided(gate):
    leaked = gate.check(OutboundRequest(
        method="GET", url="https://api.external-service.com/track?email=ana%40example.com"))
    assert leaked.status == 451
    plain = gate.check(OutboundRequest(method="GET", url="https://api.external-service.com/"))
    assert plain.forward
    assert plain.decision is None


def test_data_values_in_the_path_are_masked_in_the_decision_and_the_trail(gate, tmp_path):
    """The path is inspected as data, and recorded without its values: an e-mail or a card
    number in it is ``***`` in the destination decided, its reasoning, and the audit record;
    the route around them stays (which endpoint was called is what an auditor reads)."""
    from lacuna.audit import AuditStore

    url = ("https://api.external-service.com/v1/users/ana.silva%40example.com/cards/"
           "4111111111111111/export")
    refused = gate.check(OutboundRequest(method="GET", url=url))
    assert refused.status == 451
    dest = refused.decision.operation.destination
    assert dest.uri == "https://api.external-service.com/v1/users/***/cards/***/export"
    assert dest.path == "/v1/users/***/cards/***/export"
    assert "ana.silva" not in dest.reasoning
    assert "/users/***/cards/***" in dest.reasoning
    assert "ana.silva" not in refused.decision.reasoning + refused.body.decode()
    internal = gate.check(OutboundRequest(
        method="POST", url="http://localhost:8080/users/bo.chen@example.org",
        headers={"content-type": "application/json"}, body=b'{"note": "hi"}',
        addresses=("127.0.0.1",)))
    assert internal.decision.operation.destination.scope == "internal"  # matched unmasked
    assert internal.decision.operation.destination.uri == "http://localhost:8080/users/***"
    # a value inside a segment (before a parameter, in a list, after a scheme, upper-case with
    # a full stop, base64): the segment was recorded as sent, the e-mail in the audit trail
    encoded = base64.b64encode(b"ana.silva@example.com").decode()
    for segment in ("ana.silva@example.com;v=1", "ana.silva@example.com,bo.chen@example.org",
                    "mailto:ana.silva@example.com", "ANA.SILVA@EXAMPLE.COM.", encoded):
        inside = gate.check(OutboundRequest(
            method="GET", url=f"https://api.external-service.com/v1/users/{segment}/export"))
        assert inside.status == 451, segment
        assert inside.decision.operation.destination.uri == (
            "https://api.external-service.com/v1/users/***/export"), segment
    pieces = [encoded[i:i + 4] for i in range(0, len(encoded), 4)]  # (decoded joined)
    cut = gate.check(OutboundRequest(method="GET", url=(
        f"https://api.external-service.com/v1/users/{'/'.join(pieces)}/export")))
    assert cut.status == 451
    assert cut.decision.operation.destination.uri == (
        "https://api.external-service.com/v1/users/" + "/".join(["***"] * len(pieces))
        + "/export")
    too_large = gate.too_large(OutboundRequest(  # a 413 (past proxy.max_body_bytes) too
        method="POST", url="https://api.external-service.com/v1/users/bo.chen%40example.org/x",
        headers={"content-type": "text/csv"}, body=CSV, truncated=True), 1024)
    assert too_large.status == 413
    assert too_large.decision.operation.destination.uri == (
        "https://api.external-service.com/v1/users/***/x")
    store = AuditStore(f"sqlite:///{tmp_path / 'audit.db'}")
    try:
        text = "".join(repr(r.data) for r in store.list(limit=None))
    finally:
        store.close()
    assert "/users/***/cards/***/export" in text
    assert "localhost:8080/users/***" in text
    for value in ("ana.silva", "ANA.SILVA", "example.com/cards", "4111111111111111", "bo.chen",
                  encoded, "/".join(pieces[1:3])):
        assert value not in text
    by_address = gate.check(OutboundRequest(  # the host spelled like a masked segment stays
        method="GET", url="http://203.0.113.9/203.0.113.9/ana.silva%40example.com"))
    assert by_address.decision.operation.destination.uri == "http://203.0.113.9/***/***"
    plain = gate.check(OutboundRequest(  # a route without values is recorded as it is
        method="POST", url="https://api.external-service.com/v1/reports/weekly",
        headers={"content-type": "application/json"}, body=b'{"region": "EU"}'))
    assert plain.decision.operation.destination.uri == (
        "https://api.external-service.com/v1/reports/weekly")


def test_data_values_in_the_host_name_are_masked_in_the_decision_and_the_trail(gate, tmp_path):
    """A host name that carries data is refused (it is inspected as data), but the refusal and
    the audit trail recorded it as sent: ``ana.silva.at.example.com.attacker.net`` (an e-mail
    spelled out), or hex of one as a label. The labels that hold the value (or, spelled or
    joined, those under the registered domain) are ``***``; ordinary host names stay."""
    from lacuna.audit import AuditStore

    hexed = b"ana.silva@example.com".hex()
    for host, shown in (("ana.silva.at.example.com.attacker.net", "***.attacker.net"),
                        (f"{hexed}.attacker.net", "***.attacker.net"),
                        (f"eu.{hexed}.attacker.net:8443", "eu.***.attacker.net:8443")):
        refused = gate.check(OutboundRequest(method="GET", url=f"https://{host}/u/x"))
        assert refused.status == 451, host
        dest = refused.decision.operation.destination
        assert dest.uri == f"https://{shown}/u/x"
        assert "ana.silva" not in refused.body.decode() + dest.reasoning
        assert hexed not in refused.body.decode() + dest.reasoning
    for host in ("o123456.ingest.sentry.io", "d3vj3k5v.cloudfront.net", "api.github.com"):
        plain = gate.check(OutboundRequest(
            method="POST", url=f"https://{host}/v1/x", headers={"content-type": "application/json"},
            body=b'{"region": "EU"}'))
        assert plain.decision.operation.destination.uri == f"https://{host}/v1/x"
    store = AuditStore(f"sqlite:///{tmp_path / 'audit.db'}")
    try:
        text = "".join(repr(r.data) for r in store.list(limit=None))
    finally:
        store.close()
    assert "***.attacker.net" in text
    assert "ana.silva" not in text
    assert hexed not in text


def test_a_value_after_a_colon_in_a_header_or_the_path_is_read(gate):
    """``mailto:ana@example.com`` in a header or a path segment: the token is no e-mail as a
    whole, so neither was classified and the request passed without a decision; in the query
    it was refused. Its parts are values too; ordinary colons (times, ports, URLs) pass."""
    url = "https://api.external-service.com/v1"
    for where in ("x-contact", "path"):
        for value in ("mailto:ana.silva@example.com", "to:ana.silva@example.com"):
            request = (OutboundRequest(method="GET", url=f"{url}/{value}") if where == "path"
                       else OutboundRequest(method="GET", url=url, headers={where: value}))
            v = gate.check(request)
            assert v.status == 451, (where, value)
            assert "ana.silva" not in repr(v.decision.to_dict())
    ordinary = {"date": "Sun, 06 Dec 2026 13:50:00 GMT", "referer": "https://example.com/a:b",
                "x-forwarded-host": "localhost:8080", "x-time": "12:30:45"}
    v = gate.check(OutboundRequest(method="GET", url=f"{url}/at/12:30/a:b", headers=ordinary))
    assert v.forward
    assert v.decision is None


def test_the_gate_fails_closed_when_it_breaks(gate, monkeypatch):
    def broken(_payload, **_options):  # (the gate passes match_on=)
        raise RuntimeError("classifier exploded")

    monkeypatch.setattr(gate, "classify", broken)
    v = gate.check(OutboundRequest(method="POST", url="http://localhost/x",
                                   headers={"accept": "application/json"}, body=CSV))
    assert v.status == 451
    assert "classifier exploded" in json.loads(v.body)["message"]


def test_a_failure_that_cannot_be_recorded_is_logged_without_the_data(gate, monkeypatch,
                                                                      caplog):
    """The log line of a failure decision the audit trail did not take showed the URL with
    its query and path as sent (``?email=ana@...``, ``/u/ana@...``)."""
    import logging

    def broken(*_args, **_options):
        raise RuntimeError("exploded")

    monkeypatch.setattr(gate, "classify", broken)
    monkeypatch.setattr(gate.gov, "record", broken)
    with caplog.at_level(logging.ERROR, logger="lacuna.proxy.gate"):
        v = gate.check(OutboundRequest(
            method="GET", url="https://api.external-service.com/u/ana.silva%40example.com/x"
                              "?email=bo.chen%40example.org&q=1"))
    assert v.status == 451
    assert "could not record the failure decision for" in caplog.text
    assert "https://api.external-service.com/u/***/x" in caplog.text
    assert "ana.silva" not in caplog.text
    assert "bo.chen" not in caplog.text


RECORDS = [{"full_name": name, "ssn": ssn, "date_of_birth": dob} for name, ssn, dob in [
    ("Ana Lopez", "123456789", "1980-01-12"), ("Bo Chen", "234567891", "1975-03-14"),
    ("Carla Diaz", "345678912", "1991-07-19"), ("Dan Smith", "456789123", "1968-02-11"),
    ("Eva Novak", "567891234", "1985-09-15"), ("Frank Meyer", "612345678", "1979-04-16"),
    ("Gina Rossi", "523456789", "1990-05-17"), ("Hugo Kim", "434567891", "1962-06-18")]]


def _xml(records: list[dict[str, str]], attributes: bool = False) -> bytes:
    if attributes:
        rows = "".join("<c " + " ".join(f'{k}="{v}"' for k, v in r.items()) + "/>"
                       for r in records)
    else:
        rows = "".join("<p:c>" + "".join(f"<p:{k}>{v}</p:{k}>" for k, v in r.items())
                       + "</p:c>\n" for r in records)
    return f"<?xml version='1.0'?><export xmlns:p='urn:crm'>{rows}</export>".encode()


def _yaml(records: list[dict[str, str]]) -> bytes:
    return ("customers:\n" + "".join(
        "- " + "\n  ".join(f"{k}: '{v}'" for k, v in r.items()) + "\n" for r in records)).encode()


@pytest.mark.parametrize(("body", "content_type", "prefix"), [
    (_xml(RECORDS), "application/xml", "export.c."),
    (_xml(RECORDS, attributes=True), "text/xml", "export.c."),
    (_xml(RECORDS), "application/soap+xml", "export.c."),
    (_xml(RECORDS), "text/plain", "export.c."),  # sniffed: it starts with '<'
    (_yaml(RECORDS), "application/yaml", "customers."),
])
def test_xml_and_yaml_records_are_read_by_their_names(gate, body, content_type, prefix):
    """Records sent as XML or YAML are columns by their element, attribute or key names, as
    the same records in JSON are: names, SSNs without dashes and birth dates were tokens of
    free text, and passed as PUBLIC."""
    p = read_body(body, content_type)
    assert p.fields[prefix + "ssn"] == tuple(r["ssn"] for r in RECORDS)
    assert p.fields[prefix + "full_name"][0] == "Ana Lopez"
    assert "text" in p.fields  # and its text, as before (an e-mail in prose)
    v = gate.check(OutboundRequest(method="POST", url="https://api.external-service.com/crm",
                                   headers={"content-type": content_type}, body=body))
    assert v.status == 451
    assert v.decision is not None
    assert v.decision.operation is not None
    columns = v.decision.operation.classification.columns
    assert {prefix + "ssn", prefix + "full_name"} <= set(columns)


@pytest.mark.parametrize(("body", "content_type"), [
    (b"<report><region>EU</region><customers>1204</customers><region>US</region>"
     b"<customers>877</customers></report>", "application/xml"),
    (b"report:\n- {region: EU, customers: 1204}\n- {region: US, customers: 877}\n",
     "application/yaml"),
])
def test_an_xml_or_yaml_aggregate_passes(gate, body, content_type):
    v = gate.check(OutboundRequest(method="POST", url="https://api.external-service.com/crm",
                                   headers={"content-type": content_type}, body=body))
    assert v.forward
    assert v.decision is not None
    assert v.decision.allowed


def test_hostile_xml_and_yaml_are_bounded():
    """An entity bomb is its text; a cut document is read as far as it parses; YAML aliases
    that name billions of nodes are walked to a bound; a YAML tag is not constructed."""
    bomb = (b'<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "ana@example.com">'
            b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]><l>&b;</l>')
    assert "ana@example.com" in read_body(bomb, "application/xml").fields["text"]
    cut = read_body(_xml(RECORDS)[:-60], "application/xml", truncated=True)
    assert cut.fields["export.c.ssn"][:3] == tuple(r["ssn"] for r in RECORDS[:3])
    aliases = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 9)}]\n"
        for i in range(9))  # 9 ** 10 leaves
    start = time.monotonic()
    assert read_body(aliases.encode(), "application/yaml").format == "yaml"
    assert time.monotonic() - start < 5
    assert read_body(b"!!python/object/apply:os.system ['true']\n", "text/yaml").fields == {
        "text": ("!!python/object/apply:os.system", "true"),
        "lines": ("!!python/object/apply:os.system ['true']",)}


def test_json_nested_deeper_than_the_parser_goes_is_unreadable():
    """JSON nested past Python's recursion limit (a body, or one value of a body) made the
    gate fail with a RecursionError ('Lacuna failed', decided on nothing it read); a receiver
    in another language parses it. Now it is unreadable (proxy.unparsed) and its tokens are
    read; JSON a few hundred levels deep is still read by its names."""
    emails = json.dumps(EMAILS)
    for body in ("[" * 100_000 + emails + "]" * 100_000,
                 json.dumps({"v": "[" * 5000 + emails + "]" * 5000})):
        p = read_body(body.encode(), "application/json")
        assert p.unreadable == ("data nested too deep to parse (JSON, XML or YAML)",)
        assert set(EMAILS) <= {t for v in p.fields.values() for x in v for t in x.split('"')}
    nested = read_body(('{"a":' * 300 + json.dumps({"email": EMAILS}) + "}" * 300).encode(),
                       "application/json")
    assert not nested.unreadable
    assert nested.fields[".".join(["a"] * 300 + ["email"])] == tuple(EMAILS)


def test_data_in_a_fields_name_is_masked_in_the_decision_and_the_trail(gate, tmp_path):
    """A JSON key, a form name or a CSV header can be data (records keyed by e-mail): each
    field became a column named by it, and the column names (with the classifier's reasoning,
    'No name pattern matched 'ana@...'') were written to the audit trail in clear. They are
    classified as sent and recorded with the values masked."""
    from lacuna.audit import AuditStore

    keyed = {e: {"plan": "gold", "seats": i} for i, e in enumerate(EMAILS)}
    for body, content_type in [(json.dumps(keyed), "application/json"),
                               ("&".join(f"{e}=1" for e in EMAILS),
                                "application/x-www-form-urlencoded"),
                               (",".join(EMAILS) + "\n" + ",".join("1" * len(EMAILS)) + "\n",
                                "text/csv")]:
        v = gate.check(OutboundRequest(method="POST", url="https://api.external-service.com/x",
                                       headers={"content-type": content_type},
                                       body=body.encode()))
        assert v.status == 451, content_type
        shown = repr(v.decision.to_dict()) + v.body.decode()
        assert "user1@" not in shown, content_type
        assert "@example" not in "".join(v.decision.operation.classification.columns)
    plain = gate.check(OutboundRequest(  # names without values are shown as they are
        method="POST", url="https://api.external-service.com/x",
        headers={"content-type": "application/json"},
        body=json.dumps({"order_2024": [{"email": e} for e in EMAILS]}).encode()))
    assert "order_2024.email" in plain.decision.operation.classification.columns
    store = AuditStore(f"sqlite:///{tmp_path / 'audit.db'}")
    try:
        text = "".join(repr(r.data) for r in store.list(limit=None))
    finally:
        store.close()
    assert "user1@" not in text


@pytest.mark.parametrize("at", ["&#64;", "&#x40;", "&commat;"])
def test_character_references_are_read_as_the_receiver_decodes_them(at):
    """An e-mail written ``ana&#64;example.com`` (HTML's usual spelling of an address): ``&``
    and ``;`` end a token, so free text (HTML, XML that does not parse) and the scan of a long
    body's rest read ``ana``, ``#64``, ``example.com``; what they mean is read too."""
    from lacuna.proxy.bodies import distinct_tokens

    text = "".join(f"<li>{e.replace('@', at)}</li>\n" for e in EMAILS)
    assert set(EMAILS) <= set(distinct_tokens(f"<p>{text}</p>".encode()))  # (the scan)
    html = read_body(f"<html><body><ul>{text}</ul><br></body></html>".encode(), "text/html")
    assert set(EMAILS) <= set(html.fields["text"])
    plain = distinct_tokens(b"fish &amp; chips; a&b; R&D;")  # (&amp; decodes to a separator)
    assert plain == ("D", "R", "a", "amp", "b", "chips", "fish")


def test_values_of_two_columns_in_one_field_take_the_stricter_class(gate):
    """Ten order ids (an identifier column: PUBLIC) and three customer refs (PII) in one text:
    the field matched only the column most of its values were seen in, the order ids, and the
    refs passed as PUBLIC ('13 of 14 values were read from orders.csv')."""
    from lacuna.proxy.fingerprints import store_for

    store = store_for(gate.gov.config)
    orders = [f"ORD-{7000 + i}" for i in range(10)]
    refs = [f"CUST-{i}QX{i * 7}" for i in range(3)]
    store.record("orders.csv", "order_id", ColumnClass(classification=ColumnKind.IDENTIFIER),
                 orders)
    store.record("customers.csv", "customer_ref",
                 ColumnClass(classification=ColumnKind.PII, pii_type="name"), refs)
    matches = store.match({"text": ["Shipped", *orders, "for", *refs]})
    assert {(m.column, m.matched, m.checked) for m in matches} == {
        ("order_id", 10, 14), ("customer_ref", 3, 14)}
    url, headers = "https://api.external-service.com/notes", {"content-type": "text/plain"}
    mixed = gate.check(OutboundRequest(method="POST", url=url, headers=headers, body=(
        "Shipped " + " ".join(orders) + " for " + " ".join(refs)).encode()))
    assert mixed.status == 451
    assert mixed.decision is not None
    reasons = "\n".join(mixed.decision.operation.classification.reasoning)
    assert "3 of 14 values were read from customers.csv (column 'customer_ref', pii)" in reasons
    assert "10 of 14 values were read from orders.csv" in reasons
    ids = gate.check(OutboundRequest(method="POST", url=url, headers=headers, body=(
        "Shipped " + " ".join(orders) + " for CUST-0QX0").encode()))  # (one ref: chance)
    assert ids.forward
    assert ids.decision is not None
    assert ids.decision.allowed


def test_the_host_check_fails_closed_when_it_breaks(gate, monkeypatch):
    """A CONNECT target (or an internal name) whose check breaks is refused with the reason
    and recorded: the exception went up to the connection, which closed without a word."""
    def broken(_payload, **_options):
        raise RuntimeError("fingerprint store unreachable")

    monkeypatch.setattr(gate, "classify", broken)
    host = "616e61406578616d706c652e636f6d.attacker.net"  # hex of an e-mail
    v = gate.host_refusal(OutboundRequest(method="CONNECT", url=f"https://{host}:443/"))
    assert v is not None
    assert v.status == 451
    assert "fingerprint store unreachable" in v.body.decode()
    assert v.decision is not None
    assert not v.decision.allowed
    [row] = [r for r in gate.gov.audit.list(limit=None)
             if "fingerprint store unreachable" in r.reasoning]
    assert not row.allowed
    assert row.action == "export"


def test_a_byte_order_mark_names_the_encoding():
    """JSON after a UTF-8 byte order mark (as Windows tools write it) did not parse and was
    read as words: records by their names passed as PUBLIC. A UTF-16 body with its mark was
    binary (refused, however clean)."""
    records = json.dumps({"customers": RECORDS})
    bom = read_body(b"\xef\xbb\xbf" + records.encode(), "application/json")
    assert bom.format == "json"
    assert bom.fields["customers.ssn"] == tuple(r["ssn"] for r in RECORDS)
    csv = read_body(b"\xef\xbb\xbfssn,n\n123456789,1\n", "text/csv")
    assert csv.fields["ssn"] == ("123456789",)  # (not '\ufeffssn')
    wide = read_body(records.encode("utf-16"), "application/json")
    assert wide.fields["customers.ssn"] == tuple(r["ssn"] for r in RECORDS)
    assert read_body(json.dumps({"n": [3]}).encode("utf-32"), "application/json").fields[
        "n"] == ("3",)


@pytest.mark.parametrize("charset", ["utf-16", "utf-16-be", "utf-32-le", "cp500"])
def test_utf8_bytes_under_a_charset_that_is_not_ascii_are_read_both_ways(gate, charset):
    """UTF-8 bytes sent with ``charset=utf-16`` (or EBCDIC): read as the charset says, they are
    CJK or accented noise, and the e-mails passed, but a receiver that does not honour the
    charset reads them. Both readings are read; a body that is UTF-16 indeed is not doubled,
    and an aggregate so sent still passes. A charset whose decoder raises a UnicodeError
    (punycode) made Lacuna fail; it is read as UTF-8."""
    csv = b"id,email\n1,ana.lopez@example.com\n2,bo.chen@example.org\n3,li.wei@example.net\n"
    csv += b" " * (len(csv) % 4)  # (whole UTF-16 and UTF-32 units)
    read = read_body(csv, f"text/csv; charset={charset}")
    assert read.fields["email"] == ("ana.lopez@example.com", "bo.chen@example.org",
                                    "li.wei@example.net")
    refused = gate.check(OutboundRequest(
        method="POST", url="https://api.external-service.com/x",
        headers={"content-type": f"text/csv; charset={charset}"}, body=csv))
    assert (refused.forward, refused.status) == (False, 451)
    aggregate = b"region,n\nEU,3\nUS,5\n" + b" " * 2
    allowed = gate.check(OutboundRequest(
        method="POST", url="https://api.external-service.com/x",
        headers={"content-type": f"text/csv; charset={charset}"}, body=aggregate))
    assert allowed.forward, allowed.body[:300]
    if charset.startswith("utf-16"):
        wide = read_body("id,n\n1,2\n".encode(charset), f"text/csv; charset={charset}")
        assert wide.fields == {"id": ("1",), "n": ("2",)}
    assert read_body(csv, "text/csv; charset=punycode").fields["email"][0] == (
        "ana.lopez@example.com")


@pytest.mark.parametrize(("encoded", "content_type"), [
    (lambda text: text.encode("utf-16"), "text/csv"),
    (lambda text: text.encode("utf-16-le"), "text/csv; charset=utf-16-le"),
    (lambda text: text.encode("cp500"), "text/csv; charset=cp500"),
])
def test_a_long_body_in_an_encoding_its_scan_cannot_read_fails_closed(
        tmp_path, proxy_yaml, encoded, content_type):
    """The rest of a long body is scanned as UTF-8: UTF-16 or EBCDIC there is noise, so the
    e-mails past the start of a long UTF-16 CSV were not found and it was forwarded. Such a
    body is unreadable (proxy.unparsed); the same body in UTF-8 is scanned and allowed when
    clean."""
    from lacuna.config import load_config

    gov = Governor(load_config(proxy_yaml(tmp_path, "{max_inspect_bytes: 4096, "
                                                    "fingerprints: false}")))
    gate = Gate(gov)
    clean = "region,n\n" + "".join(f"EU,{i}\n" for i in range(2000))
    leak = clean + "".join(f"EU,user{i}@example.com\n" for i in range(20))
    try:
        for text, allowed, encode in ((leak, False, encoded), (clean, True, str.encode)):
            body = encode(text)
            spooled = tmp_path / "body"
            spooled.write_bytes(body)
            v = gate.check(OutboundRequest(
                method="POST", url="https://api.external-service.com/up",
                headers={"content-type": content_type if not allowed else "text/csv"},
                body=body[:4096], truncated=True, spooled=str(spooled), size=len(body)))
            assert v.forward is allowed, v.body[:300]
            assert v.decision is not None
            assert v.decision.operation is not None
            why = "\n".join(v.decision.operation.classification.reasoning)
            assert ("the rest of a long body is scanned as UTF-8" in why) is not allowed
    finally:
        gov.close()


def test_every_value_of_a_json_key_sent_twice_is_read(gate):
    """``{"ssn": "123456789", "ssn": "-"}``: json.loads keeps the last value, a receiver may
    keep the first (a streaming parser, one that refuses duplicates into its struct); every
    value sent is read."""
    twice = [f'{{"full_name": "{r["full_name"]}", "full_name": "-", "ssn": "{r["ssn"]}", '
             f'"ssn": "-", "ssn": "n/a", "n": 1}}' for r in RECORDS]
    body = ("[" + ", ".join(twice) + "]").encode()
    p = read_body(body, "application/json")
    assert p.fields["ssn"][:3] == (RECORDS[0]["ssn"], "-", "n/a")
    assert p.fields["n"] == ("1",) * len(RECORDS)
    v = gate.check(OutboundRequest(method="POST", url="https://api.external-service.com/crm",
                                   headers={"content-type": "application/json"}, body=body))
    assert v.status == 451
    nd = read_body(b'{"e": "a@x.com", "e": "-"}\n{"e": "b@x.com"}\n', "application/x-ndjson")
    assert nd.fields["e"] == ("a@x.com", "-", "b@x.com")
    once = read_body(b'{"a": 1, "b": [2, 3]}', "application/json")  # (no key twice: as before)
    assert once.fields == {"(keys)": ("a", "b"), "a": ("1",), "b": ("2", "3")}


def test_a_header_named_for_personal_data_is_a_column(gate):
    """``X-Customer-Name: Ana Lopez`` or ``X-Date-Of-Birth`` passed, while ``?full_name=`` and
    ``?date_of_birth=`` were refused: a header became a column only when a value recognizer
    validated its value. Its name now counts as a column's; ids and keys still pass."""
    url = "https://api.external-service.com/v1/lookup"
    for name, value, column in (
            ("X-Customer-Name", "Ana Lopez", "x-customer-name"),
            ("X-Date-Of-Birth", "1980-01-12", "x-date-of-birth"),
            ("X-Patient-Diagnosis", "E11.9", "x-patient-diagnosis"),
            ("X-Meta", '{"full_name": "Ana Lopez", "n": 1}', "x-meta.full_name")):
        v = gate.check(OutboundRequest(method="GET", url=url, headers={name.lower(): value}))
        assert v.status == 451, name
        assert v.decision is not None
        assert f"(header) {column}" in v.decision.operation.classification.columns
    ordinary = {"x-api-key": "sk-9f8e7d6c5b4a39281706", "x-request-id": "7d1c9a52e3f04b6e",
                "x-amz-security-token": "yMnKy8zNzs/Q0dLT1NXW19jZ2tvc3d7f4OHi4+Tl5ufo6err7O3u7w==",
                "x-csrf-token": "c2f9a0d1e6b34f7a", "x-customer-id": "10442",
                "accept": "application/json", "user-agent": "python-requests/2.32.3"}
    v = gate.check(OutboundRequest(method="GET", url=url, headers=ordinary))
    assert v.forward, v.body[:300]


def test_json_sent_as_one_value_is_read_by_its_names(gate):
    """``json.dumps(records)`` as a JSON string, a form field, a query value or a multipart
    field was one long value: its names were not columns, and records passed as PUBLIC."""
    from urllib.parse import urlencode

    inner = json.dumps(RECORDS)
    url = "https://api.external-service.com/ingest"
    sent = [
        ("POST", url, "application/json", json.dumps({"payload": inner}).encode(), "payload."),
        ("POST", url, "application/x-www-form-urlencoded",
         urlencode({"payload": inner}).encode(), "payload."),
        ("GET", url + "?" + urlencode({"q": inner}), "", b"", "?q."),
        ("POST", url, "multipart/form-data; boundary=b1",
         b'--b1\r\nContent-Disposition: form-data; name="meta"\r\n\r\n' + inner.encode()
         + b"\r\n--b1--\r\n", "meta."),
    ]
    for method, target, content_type, body, prefix in sent:
        v = gate.check(OutboundRequest(method=method, url=target, body=body,
                                       headers={"content-type": content_type}))
        assert v.status == 451, prefix
        assert v.decision is not None
        assert prefix + "ssn" in v.decision.operation.classification.columns
    aggregate = json.dumps({"payload": json.dumps({"region": ["EU", "US"], "n": [3, 4]}),
                            "note": "[draft]", "tags": "{}"}).encode()
    v = gate.check(OutboundRequest(method="POST", url=url, body=aggregate,
                                   headers={"content-type": "application/json"}))
    assert v.forward
    assert read_body(aggregate, "application/json").fields["payload.region"] == ("EU", "US")


def test_csv_values_past_the_headers_names_are_read(gate):
    """A row longer than its header: the values past the header's names were dropped, so
    ``id`` over ``1,ana@example.com`` sent only ids, and passed."""
    body = ("id\n" + "".join(f"{i},{e}\n" for i, e in enumerate(EMAILS))).encode()
    p = read_body(body, "text/csv")
    assert p.fields["column_1"] == tuple(EMAILS)
    url = "https://api.external-service.com/up"
    v = gate.check(OutboundRequest(method="POST", url=url, body=body,
                                   headers={"content-type": "text/csv"}))
    assert v.status == 451
    clean = ("region\n" + "".join(f"EU,{i},{i * 3}\n" for i in range(20))).encode()
    assert read_body(clean, "text/csv").fields["column_2"][:2] == ("0", "3")
    assert gate.check(OutboundRequest(method="POST", url=url, body=clean,
                                      headers={"content-type": "text/csv"})).forward


def test_the_destination_is_the_host_connected_to(gate):
    """A password in the URL and an '@' in its path: the destination was the whole URL
    redacted, ``https://u:***@localhost/``, so a request to another host (resolved to a
    private address) was decided, allowed and recorded as one to localhost: addresses made a
    host internal by themselves. The userinfo is never sent (Host is the rest)."""
    salaries = json.dumps({"salary": [50000, 62000, 71000]}).encode()
    headers = {"content-type": "application/json"}
    sneaky = "http://u:pw@10.1.2.3.nip.io/x@localhost/"
    assert not gate.internal_by_name(sneaky)
    v = gate.check(OutboundRequest(method="POST", url=sneaky, headers=headers, body=salaries,
                                   addresses=("10.1.2.3",)))
    assert not v.forward
    assert v.decision is not None
    assert v.decision.operation.destination.uri == "http://10.1.2.3.nip.io/x@localhost/"
    plain = "http://u:pw@localhost:8080/x@a.b/"  # the allowed path: localhost, userinfo unsent
    assert gate.internal_by_name(plain)
    v = gate.check(OutboundRequest(method="POST", url=plain, headers=headers, body=salaries,
                                   addresses=("127.0.0.1",)))
    assert v.forward
    assert v.decision is not None
    assert v.decision.operation.destination.uri == "http://localhost:8080/x@a.b/"


def test_compressed_values_inflate_to_a_bound_per_request(gate):
    """Fifty values of base64(gzip) of a megabyte of words (a 100 KB body) held the decision
    thread 10 s, and a 10 MiB body would have held it for a quarter of an hour. Past 4 MiB
    inflated in all, the request is refused with the reason; a few compressed values are read."""
    import base64

    word = base64.b64encode(gzip.compress(b"word " * 200_000)).decode()
    body = json.dumps({"items": [word] * 50}).encode()
    url = "https://api.external-service.com/up"
    start = time.process_time()  # CPU, not wall time: a loaded machine must not fail it
    v = gate.check(OutboundRequest(method="POST", url=url, body=body,
                                   headers={"content-type": "application/json"}))
    assert time.process_time() - start < 5
    assert v.status == 451
    assert "inflate to more than 4194304 bytes in all" in v.body.decode()
    csv = base64.b64encode(gzip.compress(CSV)).decode()
    few = json.dumps({"a": csv, "b": csv, "c": word}).encode()
    assert read_body(few, "application/json").fields["a.(decoded).email"] == (
        "ana@example.com", "bo@example.org")
    v = gate.check(OutboundRequest(method="POST", url=url, body=few,
                                   headers={"content-type": "application/json"}))
    assert v.status == 451  # (the e-mails)
    assert "inflate to more than" not in v.body.decode()


def test_the_record_names_what_the_request_sent(gate):
    """A request refused for an e-mail in a header was recorded as from 'GET body (empty)'."""
    url = "https://api.external-service.com/v1"
    v = gate.check(OutboundRequest(method="GET", url=url, client="10.0.0.5:4242",
                                   headers={"x-user-email": "ana.lopez@example.com"}))
    assert v.status == 451
    assert [s.name for s in v.decision.operation.sources] == [
        "GET request (headers and path) from 10.0.0.5:4242"]
    v = gate.check(OutboundRequest(method="POST", url=url, client="10.0.0.5:4242", body=CSV,
                                   headers={"content-type": "text/csv"}))
    assert [s.name for s in v.decision.operation.sources] == [
        "POST request (csv) from 10.0.0.5:4242"]


@pytest.mark.parametrize("body", [
    "".join(json.dumps(r) for r in RECORDS),  # documents one after another, a stream
    json.dumps({"customers": RECORDS})[:-2] + ",]}",  # a trailing comma (JSON5)
    "".join(json.dumps(r) for r in RECORDS) + '{"full_name": "Iv',  # a stream, cut
    "/* export */ " + json.dumps({"customers": RECORDS}).replace(  # comments (JSONC, JSON5)
        '"ssn":', '"ssn": // checked\n').replace("}", "/* } */}", 1),
])
def test_json_a_lenient_receiver_reads_is_read_by_its_names(gate, body):
    """Concatenated JSON documents, or JSON with a trailing comma or comments, did not parse
    and was read as words: records by their names passed as PUBLIC."""
    p = read_body(body.encode(), "application/json")
    assert p.format == "json"
    assert [v for k, v in p.fields.items() if k.endswith("ssn")] == [
        tuple(r["ssn"] for r in RECORDS)]
    v = gate.check(OutboundRequest(method="POST", url="https://api.external-service.com/up",
                                   headers={"content-type": "application/json"},
                                   body=body.encode()))
    assert v.status == 451
    clean = read_body(b'{"region": "EU", "n": 1}{"region": "US", "n": 2}', "application/json")
    assert clean.fields["region"] == ("EU", "US")
    kept = read_body(b'// a comment\n{"u": "https://a.example/x", "p": "/* not one */",}',
                     "application/json")  # (strings are kept as they are)
    assert (kept.fields["u"], kept.fields["p"]) == (("https://a.example/x",), ("/* not one */",))


def test_a_body_field_named_like_a_query_field_is_not_hidden_by_it(gate):
    """A JSON key ``?q`` and the query's ``q`` are one field name: the query's values
    replaced the body's, and the e-mails under the key passed."""
    url = "https://api.external-service.com/up"
    body = json.dumps({"?q": EMAILS}).encode()
    v = gate.check(OutboundRequest(method="POST", url=url + "?q=hello", body=body,
                                   headers={"content-type": "application/json"}))
    assert v.status == 451
    payload = gate.payload(OutboundRequest(method="POST", url=url + "?q=hello", body=body,
                                           headers={"content-type": "application/json"}))
    assert payload.fields["?q"] == (*EMAILS, "hello")
    assert gate.check(OutboundRequest(
        method="POST", url=url + "?q=hello", body=json.dumps({"?q": ["EU", "US"]}).encode(),
        headers={"content-type": "application/json"})).forward


UNEVEN_EMAIL = base64.b64encode(b"ana.lopez@example.com").decode()  # YW5hLmxvcGV6QGV4...
_E, _U = UNEVEN_EMAIL, base64.urlsafe_b64encode(b"ana.lopez@example.com").decode().rstrip("=")
UNEVEN = [  # an encoded e-mail cut where its quads are not, among values that misalign it
    f"/v1/users/{_E[:5]}/{_E[5:11]}/{_E[11:18]}/{_E[18:]}/export",
    f"/u/{_E[:3]}/{_E[3:10]}/{_E[10:]}",
    f"/u/{_E[:14]}/{_E[14:]}",  # both long enough to be decoded alone
    f"/api/v2/{_U[:13]}/{_U[13:]}/x",
]


def test_an_encoded_value_cut_unevenly_over_the_path_query_or_headers_is_read(gate, tmp_path):
    """Pieces of base64 whose boundaries are not whole quads, after segments that are base64
    too (``v1``, ``users``) or each 12 characters or more: the joined group decoded to noise,
    so the e-mail passed, and its pieces were recorded as sent. Every run of adjacent pieces
    is tried now; ordinary paths, queries and headers of ids, words and hashes still pass."""
    from lacuna.audit import AuditStore

    url = "https://api.external-service.com"
    e = UNEVEN_EMAIL
    sent = [OutboundRequest(method="GET", url=url + path) for path in UNEVEN] + [
        OutboundRequest(method="GET", url=f"{url}/q?lang=en&a={e[:5]}&b={e[5:13]}&c={e[13:]}"),
        OutboundRequest(method="GET", url=f"{url}/h", headers={
            "x-lang": "en", "x-a": e[:5], "x-b": e[5:13], "x-c": e[13:]}),
        OutboundRequest(method="GET", url=f"{url}/c", headers={
            "cookie": f"lang=en; a={e[:5]}; b={e[5:13]}; c={e[13:]}"})]
    recorded = []
    for request in sent:
        v = gate.check(request)
        assert (v.status, v.forward) == (451, False), request
        recorded.append(v.decision.operation.destination.uri)
    assert recorded[:4] == [f"{url}/v1/users/***/***/***/***/export", f"{url}/u/***/***/***",
                            f"{url}/u/***/***", f"{url}/api/v2/***/***/x"]
    store = AuditStore(f"sqlite:///{tmp_path / 'audit.db'}")
    try:
        text = "".join(r.body for r in store.list(limit=None))
    finally:
        store.close()
    for piece in (e[5:11], e[11:18], e[3:10], e[14:], "ana.lopez"):
        assert piece not in text
    for path in ("/img/YWJj/ZGVm/aGk=.png", "/YWJj/ZGVm/Z2hp/amts/bW5v",
                 "/v1/objects/9f86d081884c7d659a2feaa0c55ad015/versions/3",
                 "/repos/python/cpython/commits/3f2a9c1d7e/files",
                 "/a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p/q/r/s",
                 "/static/js/main.8f3a2b1c.chunk.js?v=2&lang=en&page=3",
                 "/v2/library/ubuntu/manifests/sha256:0a1b2c3d4e5f"):
        v = gate.check(OutboundRequest(method="GET", url=url + path, headers={
            "cookie": "_gid=GA1.2.98765.17; theme=dark; lang=en; sid=YWJj; a=1; b=2"}))
        assert v.forward, (path, v.body[:300])


def test_a_body_not_read_whole_is_refused_when_lacuna_fails_too(gate, monkeypatch, tmp_path):
    """The 413 (past proxy.max_body_bytes) and the 408 (a body that did not arrive whole) when
    building the decision fails: the exception went up to the connection, which was dropped
    without an answer. Refused all the same, with the failure's reason, and recorded."""
    from lacuna.audit import AuditStore

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("the destination rules cannot be read")

    monkeypatch.setattr(gate, "destination", broken)
    request = OutboundRequest(method="POST", url="https://api.external-service.com/x",
                              headers={"content-type": "text/csv"}, body=CSV, truncated=True)
    for verdict, status in ((gate.too_large(request, 1024), 413),
                            (gate.timed_out(request, "the client sent nothing"), 408)):
        assert (verdict.forward, verdict.status) == (False, status)
        assert b"the destination rules cannot be read" in verdict.body
    store = AuditStore(f"sqlite:///{tmp_path / 'audit.db'}")
    try:
        denied = [r for r in store.list(limit=None) if not r.allowed]
    finally:
        store.close()
    assert len(denied) == 2
    assert all("the destination rules cannot be read" in r.body for r in denied)


MISLABELLED = {  # records whose names say what they are (the values alone are too few)
    "csv": b"full_name,ssn\nAna Lopez,123456789\nBo Chen,987654321\n",
    "form": b"full_name=Ana+Lopez&ssn=123456789&full_name=Bo+Chen&ssn=987654321",
    "json": json.dumps([{"full_name": "Ana Lopez", "ssn": "123456789"},
                        {"full_name": "Bo Chen", "ssn": "987654321"}]).encode(),
    "xml": b"<r><p><full_name>Ana Lopez</full_name><ssn>123456789</ssn></p>"
           b"<p><full_name>Bo Chen</full_name><ssn>987654321</ssn></p></r>",
    "yaml": b"- full_name: Ana Lopez\n  ssn: '123456789'\n- full_name: Bo Chen\n"
            b"  ssn: '987654321'\n",  # (yaml.dump(records), posted as data=)
}


@pytest.mark.parametrize(("shape", "content_type"), [
    ("csv", "application/json"), ("form", "application/json"), ("json", "text/csv"),
    ("xml", "application/x-www-form-urlencoded"), ("form", None), ("form", "text/plain"),
    ("csv", "application/xml"), ("yaml", None), ("yaml", "text/plain"),
    ("yaml", "application/json"),
])
def test_a_body_labelled_one_format_and_shaped_as_another_is_read_as_both(
        gate, shape, content_type):
    """A CSV sent as ``application/json``, a form as JSON or without a type, JSON as CSV: read
    only as labelled, the names were lost (tokens of text, or one CSV column named by the
    JSON's first line) and the records passed; a receiver that reads the body as it looks, or
    ignores the label, gets them. Read as labelled and as it looks; a clean body so sent
    passes, and a body that is what its label says is read once."""
    body = MISLABELLED[shape]
    headers = {"content-type": content_type} if content_type else {}
    read = read_body(body, content_type)
    ssn = {v for name, values in read.fields.items() if name.rsplit(".", 1)[-1] == "ssn"
           for v in values}  # (XML by path: r.p.ssn)
    assert ssn >= {"123456789", "987654321"}, dict(read.fields)
    v = gate.check(OutboundRequest(method="POST", url="https://api.external-service.com/x",
                                   headers=headers, body=body))
    assert (v.forward, v.status) == (False, 451)
    clean = {"csv": b"region,n\nEU,3\nUS,5\n", "form": b"region=EU&n=3",
             "json": b'[{"region": "EU", "n": 3}]', "xml": b"<r><region>EU</region></r>",
             "yaml": b"- region: EU\n  n: 3\n- region: US\n  n: 5\n"}
    v = gate.check(OutboundRequest(method="POST", url="https://api.external-service.com/x",
                                   headers=headers, body=clean[shape]))
    assert v.forward, v.body[:300]
    assert read_body(MISLABELLED["json"], "application/json").fields["ssn"] == (
        "123456789", "987654321")  # (read once)


def test_graphql_literal_arguments_are_read_by_name(gate):
    """A GraphQL document's literal arguments (``createUser(fullName: "Ana Lopez", ssn:
    "123456789")``) were one string of the JSON field ``query``: a GraphQL server reads them
    by name, the proxy did not, and records that only their names make personal passed.
    Read as ``query.ssn``; ordinary queries (owners, repositories, ids, enums) pass."""
    url = "https://api.external-service.com/graphql"
    refused = ('mutation { a: createUser(fullName: "Ana Lopez", ssn: "123456789", '
               'input: {dateOfBirth: "1990-02-03"}) { id } b: createUser(fullName: "Bo Chen", '
               'ssn: "987654321", input: {dateOfBirth: "1985-07-08"}) { id } }')
    read = read_body(json.dumps({"query": refused}).encode(), "application/json")
    assert read.fields["query.ssn"] == ("123456789", "987654321")
    assert read.fields["query.dateOfBirth"] == ("1990-02-03", "1985-07-08")
    v = gate.check(OutboundRequest(method="POST", url=url, headers={
        "content-type": "application/json"}, body=json.dumps({"query": refused}).encode()))
    assert (v.forward, v.status) == (False, 451)
    for query in ('query { repository(owner: "python", name: "cpython") { stargazerCount } }',
                  '{ search(query: "language:python", type: REPOSITORY, first: 10) { n } }',
                  'mutation { addStar(input: {starrableId: "MDEwOlJlcG9zaXRvcnkx"}) { id } }'):
        v = gate.check(OutboundRequest(method="POST", url=url, headers={
            "content-type": "application/json"}, body=json.dumps({"query": query}).encode()))
        assert v.forward, (query, v.body[:300])
    assert "note.n" not in read_body(json.dumps({"note": "Time: 10:30 {a(n: 1)}"}).encode(),
                                     "application/json").fields  # (prose is no GraphQL)


def test_graphql_block_strings_and_a_document_sent_as_its_own_body_are_read_by_name(gate):
    """A GraphQL block string (three quotes: ``ssn: \"\"\"123456789\"\"\"``) did not match the
    string literal, and a document sent as the body itself (``application/graphql``) was only
    words: the records passed. Both are read by name; an ordinary comment's block string and a
    query sent so pass."""
    url = "https://api.external-service.com/graphql"
    q = '"' * 3
    mutation = (f'mutation {{ a: createUser(fullName: {q}Ana Lopez{q}, ssn: {q}123456789{q}, '
                f'dateOfBirth: {q}1990-02-03{q}) {{ id }} b: createUser(fullName: {q}Bo Chen{q}, '
                f'ssn: {q}987654321{q}, dateOfBirth: {q}1985-07-08{q}) {{ id }} }}')
    read = read_body(json.dumps({"query": mutation}).encode(), "application/json")
    assert read.fields["query.ssn"] == ("123456789", "987654321")
    raw = mutation.replace(q, '"').encode()
    assert read_body(raw, "application/graphql").fields["ssn"] == ("123456789", "987654321")
    indented = f'mutation {{ note(body: {q}\n    first line\n    \\{q} quoted\n  {q}) {{ id }} }}'
    assert read_body(json.dumps({"query": indented}).encode(), "application/json").fields[
        "query.body"] == ('first line\n' + q + ' quoted',)  # (as a GraphQL server reads it)
    for body, content_type in ((json.dumps({"query": mutation}).encode(), "application/json"),
                               (raw, "application/graphql")):
        v = gate.check(OutboundRequest(method="POST", url=url, headers={
            "content-type": content_type}, body=body))
        assert (v.forward, v.status) == (False, 451), content_type
    ordinary = (json.dumps({"query": f'mutation {{ addComment(input: {{subjectId: "MDU6SXNzdWUx",'
                                     f' body: {q}Looks good.\n    Thanks!{q}}}) {{ id }} }}'}),
                'query { repository(owner: "python", name: "cpython") { stargazerCount } }')
    for body, content_type in zip(ordinary, ("application/json", "application/graphql"),
                                  strict=True):
        v = gate.check(OutboundRequest(method="POST", url=url, headers={
            "content-type": content_type}, body=body.encode()))
        assert v.forward, v.body[:300]


_RECORDS = json.dumps({"customers": [
    {"full_name": "Ana Lopez", "ssn": "123456789", "date_of_birth": "1990-02-03"},
    {"full_name": "Bo Chen", "ssn": "987654321", "date_of_birth": "1985-07-08"}]})
_PAGE = '<!DOCTYPE html><html><head><meta charset="utf-8"><title>A&nbsp;B</title>{}</head></html>'


_SETTINGS = _PAGE.format(  # (ordinary: settings, schema.org, a release, code, an attribute's)
    '<script type="application/json">{"theme": "dark", "features": ["search", "export"], '
    '"apiBase": "/v1", "locale": "en-GB"}</script><script type="application/ld+json">'
    '{"@context": "https://schema.org", "@type": "Organization", "url": "https://example.com"}'
    '</script><script>window.__CONFIG__ = {"release": "2024.11.3"}; var o = {a: 1}; '
    'f({"k": "v"}, [1, 2]);</script><div data-props="{&quot;page&quot;: 3}"></div>')


@pytest.mark.parametrize(("body", "content_type", "field"), [
    (_PAGE.format(f'<script type="application/json">{_RECORDS}</script>'), "text/html", "ssn"),
    (_PAGE.format(f"<script>window.__DATA__ = {_RECORDS};</script>"), "text/html", "ssn"),
    (f"window.__DATA__ = {_RECORDS};\nrender(window.__DATA__);\n", "application/javascript",
     "ssn"),
    (f"window.__DATA__ = JSON.parse({json.dumps(_RECORDS)});", "application/javascript", "ssn"),
    (json.dumps({"page": _PAGE.format(f"<script>window.__DATA__ = {_RECORDS};</script>")}),
     "application/json", "ssn"),  # (a page on one line, in a value)
    (_PAGE.format('<div data-props="{}"></div>'.format(_RECORDS.replace('"', "&quot;"))),
     "text/html", "ssn"),
    (_SETTINGS, "text/html", "page"),
])
def test_json_embedded_in_html_or_javascript_is_read_by_its_names(gate, body, content_type,
                                                                  field):
    """JSON in an HTML page's ``<script type="application/json">``, assigned in a script
    (``window.__DATA__ = {...}``, or ``JSON.parse("...")``) or in an attribute, HTML-escaped:
    HTML is rarely XML (a ``<meta>`` not closed, ``&nbsp;``), so it was read as words, and
    records whose names make them personal passed. Read by their names under ``(script)``; a
    page of ordinary JSON passes."""
    read = read_body(body.encode(), content_type)
    assert any("(script)" in name and name.endswith(f".{field}")
               for name in read.fields), list(read.fields)
    v = gate.check(OutboundRequest(method="POST", url="https://api.external-service.com/x",
                                   headers={"content-type": content_type}, body=body.encode()))
    assert v.forward is (field != "ssn"), v.body[:500]
    assert v.status == (451 if field == "ssn" else 0)


def test_json_embedded_in_html_is_read_within_bounds():
    """Hostile pages: a value that never ends, a place to start on every few characters,
    nesting past the parser's depth. Each place is parsed from a piece of the text (an error
    counts the lines before it: the whole text per place was quadratic), within a budget; too
    deep is unreadable, as a JSON body is."""
    never = "<html><script>" + 'x=["' + "a" * 50_000 + '"' + 'y=["ab,' * 5000
    started = time.perf_counter()
    assert read_body(never.encode(), "text/html").unreadable == ()
    assert read_body(("<p>" + "(=[" * 20_000).encode(), "text/html").unreadable == ()
    assert time.perf_counter() - started < 2  # (each place parsed from the whole text: 20 s)
    deep = read_body(("<script>x = " + "[" * 5000).encode(), "text/html")
    assert deep.unreadable == ("data nested too deep to parse (JSON, XML or YAML)",)


def test_an_object_keyed_by_row_numbers_is_read_as_a_list(gate):
    """``json=df.to_dict()`` sends ``{column: {"0": value, "1": value, ...}}``: each row was a
    field of one value (``region.0``, ``region.1``, ...), hundreds of columns classified one
    by one (300 rows took seconds of the decision thread), and a clean aggregate was refused.
    Keys that are row numbers share their object's path, as a list's items do."""
    rows = 60
    clean = {"region": {str(i): ["EU", "US"][i % 2] for i in range(rows)},
             "n": {str(i): i * 3 for i in range(rows)}}
    read = read_body(json.dumps(clean).encode(), "application/json")
    assert {"n", "region"} <= set(read.fields)
    assert not any(name.split(".")[-1].isdecimal() for name in read.fields)
    assert len(read.fields["region"]) == rows
    url, headers = "https://api.external-service.com/x", {"content-type": "application/json"}
    v = gate.check(OutboundRequest(method="POST", url=url, headers=headers,
                                   body=json.dumps(clean).encode()))
    assert v.forward, v.body[:500]
    emails = {"email": {str(i): f"user{i}@example.com" for i in range(rows)}}
    v = gate.check(OutboundRequest(method="POST", url=url, headers=headers,
                                   body=json.dumps(emails).encode()))
    assert (v.forward, v.status) == (False, 451)
    assert read_body(b'{"users": {"u1": {"plan": "pro"}}}', "application/json").fields[
        "users.u1.plan"] == ("pro",)  # (other keys name their values)
    for keys in (("123456789", "987654321"), ("14155552671", "442079460958", "4915112345678")):
        v = gate.check(OutboundRequest(  # (longer numbers too: data in a name, refused, and
            method="POST", url=url, headers=headers,  # by the keys: the values are all alike)
            body=json.dumps({k: {"plan": "pro"} for k in keys}).encode()))
        assert (v.forward, v.status) == (False, 451), keys
