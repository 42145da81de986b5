"""Requests of many fields, and fields whose names or keys are data, in process (no sockets)."""

from __future__ import annotations

import base64
import json

import pytest

from lacuna.config import config_from_dict
from lacuna.governor import Governor
from lacuna.proxy.gate import OVERFLOW, Gate, OutboundRequest

EXTERNAL = "https://api.external-service.com/v1"
MAX_FIELDS = 8


@pytest.fixture(scope="module")
def gate(tmp_path_factory):
    """One gate for the module (a governor each costs ~0.3 s): its decisions only add records."""
    root = tmp_path_factory.mktemp("fields")
    config = config_from_dict({
        "destinations": {"internal_hosts": ["localhost"]},
        "audit": {"url": f"sqlite:///{root / 'audit.db'}"},
        "proxy": {"max_fields": MAX_FIELDS},
    })
    gov = Governor(config)
    yield Gate(gov)
    gov.close()


def _post(gate, body, content_type="application/json", url=EXTERNAL, **kw):
    return gate.check(OutboundRequest(method="POST", url=url, body=body,
                                      headers={"content-type": content_type}, **kw))


def _json(fields):
    return json.dumps(fields).encode()


def test_fields_past_max_fields_are_scanned_pooled_and_the_request_refused_outside(gate):
    """Past ``proxy.max_fields`` the rest of the fields are not each a column (1,500 of them
    held the decision thread for seconds): their values and names are scanned like a long
    body's rest, and the request is unread in part: refused to an external host, with why."""
    harmless = {f"setting_{i}": f"value {i}" for i in range(3 * MAX_FIELDS)}
    refused = _post(gate, _json(harmless))
    assert refused.status == 451
    reasoning = " ".join(refused.decision.operation.classification.reasoning)
    assert f"{2 * MAX_FIELDS + 1} fields past the first {MAX_FIELDS} (proxy.max_fields" in (
        reasoning)  # (and "(keys)": the object's keys are a field too)
    assert "proxy.max_fields" in refused.body.decode()
    # at the limit each field is a column of its own, and a harmless body passes
    assert _post(gate, _json({f"setting_{i}": f"value {i}" for i in range(MAX_FIELDS - 1)})
                 ).forward


def test_data_past_max_fields_is_still_found(gate):
    """An e-mail in the last of many fields, or as its name, is found in the pooled scan; a
    field named like data (``ssn``) is classified as a column of its own whatever its place."""
    fields = {f"setting_{i}": f"value {i}" for i in range(3 * MAX_FIELDS)}
    for extra in ({"note_x": "ana.lopez@example.com"}, {"ana.lopez@example.com": "1"}):
        found = _post(gate, _json({**fields, **extra})).decision.operation.classification
        pooled = {c.pii_type for n, c in found.columns.items() if n.startswith(OVERFLOW)}
        assert "email" in pooled, extra
        assert "PII" in found.tags, extra
    named = _post(gate, _json({**fields, "ssn": "123456789"})).decision.operation.classification
    assert named.columns["ssn"].pii_type == "ssn"  # (bare digits: the name decides)


def test_many_fields_are_classified_as_at_most_max_fields_columns(gate, monkeypatch):
    """Hundreds of distinct form fields: the classifier is given at most ``proxy.max_fields``
    columns, and a few more for the pooled rest (each field a column: 1,500 took 6-12 s, the
    decision thread held)."""
    from lacuna.model import Classification

    widths = []

    def classify_read(_source, frame):
        widths.append(len(frame.columns))
        return Classification(), None

    monkeypatch.setattr(gate.gov, "classify_read", classify_read)
    form = "&".join(f"field{i}x=v{i}" for i in range(300)).encode()
    verdict = _post(gate, form, "application/x-www-form-urlencoded")
    assert verdict.status == 451
    assert MAX_FIELDS < widths[0] <= MAX_FIELDS + 16  # (+ a field per strong value recognizer)
    assert f"fields past the first {MAX_FIELDS}" in verdict.body.decode()


def test_max_fields_defaults_to_256():
    assert config_from_dict({}).proxy.max_fields == 256


@pytest.mark.parametrize(("body", "content_type", "query"), [
    (b"", "text/plain", "123-45-6789=1&234-56-7890=1"),  # a query's names
    (b"123-45-6789=gold&234-56-7890=gold", "application/x-www-form-urlencoded", ""),  # a form's
    (_json({"user_123-45-6789": {"plan": "gold"}, "user_234-56-7890": {"plan": "gold"}}),
     "application/json", ""),  # inside an object's keys
    (_json({"123-45-6789": {"plan": "gold"}, "234-56-7890": {"plan": "gold"}}),
     "application/json", ""),  # an object keyed by SSNs, its values all alike
    (_json({"123456789": {"plan": "gold"}, "234567890": {"plan": "gold"}}),
     "application/json", ""),  # ... written as bare digits (weak as values, not as names)
    (b"", "text/plain", "123456789=1&234567890=1"),
    (_json({"accounts": {"4111111111111111": 1, "5500005555555559": 1}}), "application/json", ""),
])
def test_data_in_the_names_of_fields_is_classified_as_data(gate, body, content_type, query):
    """A parameter's or a key's name that is, or holds, a value a recognizer validates is sent
    data: a query, a form or an object keyed by SSNs with uninformative values was PUBLIC (only
    the names carried the SSNs, and a name is not a value)."""
    url = EXTERNAL + (f"?{query}" if query else "")
    refused = _post(gate, body, content_type, url=url)
    assert refused.status == 451
    found = refused.decision.operation.classification
    assert {"ssn", "card_number"} & {c.pii_type for c in found.columns.values()}
    shown = refused.body.decode() + json.dumps(refused.decision.to_dict())
    for value in ("123-45-6789", "123456789", "4111111111111111"):
        assert value not in shown  # (named, never shown: masked in the columns' names)


def test_names_of_fields_without_data_pass(gate):
    """Order numbers, dates, versions, short ids and epoch times in names are not data: the
    request goes."""
    for url, body in ((EXTERNAL + "?page=2&sort=desc&v1.2.3=on", b""),
                      (EXTERNAL, _json({"ORD-2024-001": {"qty": 1}, "2024-01-31": {"qty": 2}})),
                      (EXTERNAL, _json({"1234567": {"qty": 1}, "2345678": {"qty": 2}})),
                      (EXTERNAL, _json({"1700000000": 3.2, "1700000060123": 3.4})),
                      (EXTERNAL, _json({"20240131": 1, "20240201": 2}))):
        assert _post(gate, body, url=url).forward, url


@pytest.mark.parametrize("keys", [{"beta": True}, {"beta": 1, "alpha": 2, "delta": 3},
                                  {"link": "x", "date": "2024-01-31"}])
def test_words_that_are_rare_family_names_are_not_names_as_keys(gate, keys):
    """``{"beta": true}``: ``beta`` is a family name in one of Faker's locales, and a single such
    word in the object's keys (``(keys)``) read as a column of people's names, the request
    refused. Such words count only in bulk (five values at least)."""
    assert _post(gate, _json(keys)).forward


@pytest.mark.parametrize("keys", [{"max": 10, "min": 1}, {"max": 10}, {"grace": 3, "limit": 5},
                                  {"bill": "x", "page": 1}])
def test_field_names_that_are_also_given_names_are_field_names(gate, keys):
    """``{"max": 10, "min": 1}`` was refused as people's names: ``max`` is a given name, and
    half of the keys was enough. Among the names of fields one given name is a field; an
    object keyed by people has several (below)."""
    assert _post(gate, _json(keys)).forward


@pytest.mark.parametrize("keys", [
    {"ana": 3, "john": 5},  # given names: as keys, what each counts is a person's
    {"Ana Lopez": 1, "John Smith": 2},
    {n: 1 for n in ("Schmidt", "Müller", "Schneider", "Fischer", "Weber", "Wagner")},  # in bulk
])
def test_names_of_people_as_keys_are_still_found(gate, keys):
    refused = _post(gate, _json(keys))
    assert refused.status == 451
    assert refused.decision.operation.classification.columns["(keys)"].pii_type == "name"


@pytest.mark.parametrize("name", ["x-ssn-123-45-6789", "x-123456789"])
def test_data_in_a_header_name_is_classified_as_data(gate, name):
    """A header's name is sent too: an SSN joined to its words by dashes, or a number that a
    recognizer validates, was not found (the patterns do not take a value a dash joins to a
    word; the name's parts were only looked up in the fingerprints)."""
    refused = gate.check(OutboundRequest(method="GET", url=EXTERNAL, headers={name: "1"}))
    assert refused.status == 451
    assert gate.check(OutboundRequest(method="GET", url=EXTERNAL,  # (a request id: goes)
                                      headers={"x-request-id": "1234567890123"})).forward


def test_a_map_of_many_records_is_read_as_a_list(gate):
    """``{id: {...}}`` of hundreds of records was a field per record and key, past
    ``proxy.max_fields`` (refused as unread in part): its records now share its path, its keys
    under ``(keys)``; a clean one goes, one with e-mails is refused."""
    import uuid

    from lacuna.proxy.bodies import MAP_KEYS, read_body

    ids = [str(uuid.UUID(int=i + 1)) for i in range(MAP_KEYS + 1)]
    clean = _json({k: {"plan": "gold", "qty": i} for i, k in enumerate(ids)})
    assert set(read_body(clean, "application/json").fields) == {"(keys)", "plan", "qty"}
    assert _post(gate, clean).forward
    emails = _json({k: {"plan": "gold", "contact": f"user{i}@example.com"}
                    for i, k in enumerate(ids)})
    assert _post(gate, emails).status == 451
    few = read_body(_json({"db": {"host": "a"}, "cache": {"host": "b"}}), "application/json")
    assert set(few.fields) >= {"db.host", "cache.host"}  # (a few keys name their values)


def test_numbers_as_keys_are_classified_past_max_fields(gate):
    """The data found in names is classified as a column of its own however many fields come
    before it: past the limit a bare-digit SSN pooled with the rest is weak."""
    fields = {f"setting_{i}": f"value {i}" for i in range(3 * MAX_FIELDS)}
    found = _post(gate, _json({**fields, "123456789": {"plan": "gold"}})
                  ).decision.operation.classification
    assert found.columns["(numbers in field names)"].pii_type == "ssn"


_SPACED = ["123 45 6789", "234 56 7890"]


@pytest.mark.parametrize(("body", "query"), [
    (_json({f"user {s}": {"plan": "gold"} for s in _SPACED}), ""),  # a key holding one
    (_json({f"user_{_SPACED[0]}": {"plan": "gold"}}), ""),
    (_json({"a": {"b": {_SPACED[0]: 1, "x": 1, "y": 2, "z": 3}}}), ""),  # one among keys
    (b"", "123%2045%206789=1&234+56+7890=1"),  # a query's names
    # a map of many records (its keys only under "(keys)"): one SSN among a hundred ids,
    # spaced or dashed, was below every share
    (_json({**{f"id{i:05d}": {"plan": "gold"} for i in range(100)},
            f"user {_SPACED[0]}": {"plan": "gold"}}), ""),
    (_json({**{f"id{i:05d}": {"plan": "gold"} for i in range(100)},
            "user 123-45-6789": {"plan": "gold"}}), ""),
])
def test_spaced_ssns_in_keys_and_names_are_refused(gate, body, query):
    """An SSN whose groups are split by spaces, in a key or a parameter's name, passed: the
    field-name check searched names as free text, where spaced groups are not an SSN
    (``030 123 45 6789`` is a phone number)."""
    url = EXTERNAL + (f"?{query}" if query else "")
    refused = _post(gate, body, "text/plain" if query else "application/json", url=url)
    assert refused.status == 451
    found = refused.decision.operation.classification
    assert found.columns["(in field names)"].pii_type == "ssn"
    shown = refused.body.decode() + json.dumps(refused.decision.to_dict())
    assert "45 6789" not in shown  # (masked wherever a name is shown)


@pytest.mark.parametrize("keys", [
    {"030 123 45 6789": "x"},  # a phone number's groups, not an SSN's
    {"order 123 45 6789 0": 1, "x": 2},
    {**{f"id{i:05d}": {"plan": "gold"} for i in range(100)}, "batch 2024 01 15": {"n": 1}},
    {"a": {"b": {"c": {"d": {"e": {"f": {"g": 1}}}}}}},  # a path of single letters
    {"v1.2.3.4.5.6.7": 1, "one two three four five six seven": 2},
])
def test_spaced_digit_groups_that_are_no_ssn_are_not_in_field_names(gate, keys):
    found = _post(gate, _json(keys)).decision.operation.classification
    assert "(in field names)" not in found.columns


@pytest.mark.parametrize(("body", "query", "kind"), [
    (_json({**{f"id{i:05d}": {"plan": "gold"} for i in range(100)},
            " ".join("4111111111111111"): {"plan": "gold"}}), "", "card_number"),
    (_json({**{f"id{i:05d}": {"plan": "gold"} for i in range(100)},
            " ".join(["four", *["one"] * 15]): {"plan": "gold"}}), "", "card_number"),
    (_json({**{f"id{i:05d}": {"plan": "gold"} for i in range(100)},
            " ".join("ana@example.com"): {"plan": "gold"}}), "", "email"),
    (b"", "5-3-6-9-0-4-3-9-9=1", "ssn"),  # a query's name, a digit at a time
])
def test_names_spelled_a_character_at_a_time_are_refused(gate, body, query, kind):
    """A key or a name spelled one character or one digit word at a time was read as
    written by the field-name check (and a map's keys were only under ``(keys)``)."""
    url = EXTERNAL + (f"?{query}" if query else "")
    refused = _post(gate, body, "text/plain" if query else "application/json", url=url)
    assert refused.status == 451
    assert refused.decision.operation.classification.columns["(in field names)"].pii_type == kind


@pytest.mark.parametrize("fields", [
    {"a": "ana.silva@", "b": "example.com"},
    {"user": "ana.silva", "host": "@example.com"},
    {"to": ["ana.silva", "@", "example.com"]},
])
def test_an_address_cut_at_its_at_sign_into_fields_is_found(gate, fields):
    """Each piece alone was no address: the request was forwarded."""
    refused = _post(gate, _json(fields))
    assert refused.status == 451
    assert "email" in refused.body.decode()


@pytest.mark.parametrize("fields", [
    {"a": "hello@", "b": "world"},  # no domain after it
    {"tag": "@acme", "label": "widgets"},  # a mention
    {"x1": "5 @", "x2": "3.50"},
    {"note": "meet me @", "when": "noon today"},
])
def test_pieces_around_an_at_sign_that_are_no_address_pass(gate, fields):
    assert _post(gate, _json(fields)).forward


ADDRESS = b"ana.silva@example.com"


@pytest.mark.parametrize("note", [
    f"token {base64.b64encode(ADDRESS).decode()} end",  # an encoded word among words
    f"ref={base64.urlsafe_b64encode(ADDRESS).decode().rstrip('=')} and more words",
    "0x" + ADDRESS.hex(),  # hex written as one number
    f"dump 0x{ADDRESS.hex()} done",
])
def test_an_encoded_word_among_words_is_decoded(gate, note):
    """Only whole values were decoded: a base64 word in a sentence, or hex after ``0x``, was
    forwarded."""
    refused = _post(gate, _json({"note": note}))
    assert refused.status == 451
    assert "email" in refused.body.decode()


def test_long_words_and_ids_among_words_pass(gate):
    note = ("a professional representative of International Configuration sent "
            "d41d8cd98f00b204e9800998ecf8427e and 0xDEADBEEF at 2024-01-15T10:00:00Z, "
            "see 550e8400-e29b-41d4-a716-446655440000 Authorization")
    assert _post(gate, _json({"note": note})).forward
