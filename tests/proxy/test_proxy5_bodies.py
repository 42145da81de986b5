"""What the proxy reads of a body as a receiver reads it: numbers written as floats, XML
entities, archives in a value. In process (no sockets)."""

from __future__ import annotations

import base64
import io
import json
import tarfile
import zipfile

import pytest

from lacuna.proxy.bodies import read_body
from lacuna.proxy.gate import OutboundRequest

EXTERNAL = "https://api.external-service.com/v1/customers"


def _post(gate, body: bytes, content_type: str = "application/json"):
    return gate.check(OutboundRequest(method="POST", url=EXTERNAL, body=body,
                                      headers={"content-type": content_type}))


@pytest.mark.parametrize("number", ["4.111111111111111e15", "4111111111111111.0",
                                    "41111111111111110e-1", "4111111111111111E0"])
def test_proxy5_a_card_written_as_a_float_beside_a_person_is_a_card(gate, number):
    """A receiver reads ``4.111111111111111e15`` as the number 4111111111111111; the proxy
    read the text ``4111111111111111.0``, no card's digits, and forwarded the record."""
    body = b'{"name": "Zorblat Quux", "v": %s}' % number.encode()
    refused = _post(gate, body)
    assert refused.status == 451
    assert refused.decision.operation.classification.columns["v"].pii_type == "card_number"


def test_proxy5_whole_floats_are_read_as_the_numbers_a_receiver_reads():
    read = read_body(b'{"v": 4.111111111111111e15, "n": 3.0, "p": 19.99, "big": 1e25}',
                     "application/json").fields
    assert read["v"] == ("4111111111111111",)
    assert (read["n"], read["p"], read["big"]) == (("3.0",), ("19.99",), ("1e+25",))  # (as was)
    yaml = read_body(b"- name: Zorblat Quux\n  v: 4.111111111111111e+15\n",
                     "application/yaml").fields
    assert yaml["v"] == ("4111111111111111",)


@pytest.mark.parametrize("body", [
    b'{"name": "Zorblat Quux", "v": 4111111111111112.0}',  # fails Luhn
    b'{"v": 4.111111111111111e15}',  # no person beside it (as the integer passes)
    b'{"name": "Zorblat Quux", "score": 19.99, "count": 3.0}',
])
def test_proxy5_floats_that_are_no_card_in_a_record_pass(gate, body):
    assert _post(gate, body).forward


SPLIT = (b'<!DOCTYPE r [<!ENTITY a "ana.lopez"><!ENTITY b "example.com">]>'
         b"<r><contact>&a;@&b;</contact></r>")


def test_proxy5_xml_entities_are_read_expanded(gate):
    """``&a;@&b;`` is ``ana.lopez@example.com`` to a parser that expands entities; each
    declaration was read as text alone, and the request forwarded."""
    assert read_body(SPLIT, "application/xml").fields["r.contact"] == ("ana.lopez@example.com",)
    assert _post(gate, SPLIT, "application/xml").status == 451
    # the allowed path: entities of ordinary text are read, and pass
    plain = b'<!DOCTYPE r [<!ENTITY co "Acme Corp">]><r><company>&co;</company></r>'
    assert read_body(plain, "application/xml").fields["r.company"] == ("Acme Corp",)
    assert _post(gate, plain, "application/xml").forward


def test_proxy5_xml_entities_that_expand_past_the_limit_are_unreadable():
    """A billion laughs: not expanded (fail closed), and quickly."""
    doc = '<!DOCTYPE l [<!ENTITY l0 "lol">'
    doc += "".join(f'<!ENTITY l{i} "{f"&l{i - 1};" * 10}">' for i in range(1, 10))
    read = read_body((doc + "]><l>&l9;</l>").encode(), "application/xml")
    assert any("entities expand" in why for why in read.unreadable)


ROWS = b"name,email\nAna Lopez,ana.lopez@example.com\nBo Li,bo.li@example.org\n"


def _zip() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("people.csv", ROWS)
    return out.getvalue()


def _tar_gz() -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as archive:
        info = tarfile.TarInfo("people.csv")
        info.size = len(ROWS)
        archive.addfile(info, io.BytesIO(ROWS))
    return out.getvalue()


@pytest.mark.parametrize(("data", "kind"), [(_zip, "ZIP archive"), (_tar_gz, "tar archive")])
def test_proxy5_an_archive_encoded_in_a_value_is_unreadable(gate, data, kind):
    """A ZIP (or .tar.gz) of a CSV of e-mails, base64-encoded in a JSON field, decoded to
    binary and was forwarded as noise; the same archive sent as the body is unreadable."""
    body = json.dumps({"file": base64.b64encode(data()).decode()}).encode()
    assert any(kind in why for why in read_body(body, "application/json").unreadable)
    refused = _post(gate, body)
    assert refused.status == 451
    assert kind in " ".join(refused.decision.operation.classification.reasoning)


def test_proxy5_an_image_or_noise_encoded_in_a_value_still_passes(gate):
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
    noise = bytes((i * 97 + 13) % 256 for i in range(600))
    for data in (png, noise):
        body = json.dumps({"file": base64.b64encode(data).decode()}).encode()
        assert read_body(body, "application/json").unreadable == ()
        assert _post(gate, body).forward


@pytest.mark.parametrize("where", ["query", "header", "path"])
def test_proxy5_an_archive_encoded_in_the_query_a_header_or_the_path_is_unreadable(gate, where):
    """What a query, a header or the path could not read (an archive, JSON nested too deep)
    was dropped: only a body's was told, and ``?file=<base64 of a ZIP>`` was forwarded."""
    from urllib.parse import quote

    def get(encoded: str):
        url, headers = EXTERNAL, {}
        if where == "query":
            url += "?file=" + quote(encoded)
        elif where == "header":
            headers = {"x-data": encoded}
        else:
            url += "/" + encoded.replace("+", "-").replace("/", "_")
        return gate.check(OutboundRequest(method="GET", url=url, headers=headers))

    refused = get(base64.b64encode(_zip()).decode())
    assert refused.status == 451
    assert "ZIP archive" in " ".join(refused.decision.operation.classification.reasoning)
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(256))  # the allowed path: an image passes
    assert get(base64.b64encode(png).decode()).forward


FILLER = "lorem ipsum dolor sit amet " * 120  # 3,240 characters on one line


@pytest.mark.parametrize("data", ["ana.lopez@example.com", "ssn 123-45-6789",
                                  "card 4111 1111 1111 1111"])
def test_proxy5_data_past_the_classifiers_cut_of_a_long_value_is_read(gate, data):
    """The classifier reads a value's first 2,048 characters: a note on one line with an
    e-mail, an SSN or a card number after 3,000 characters of words was forwarded."""
    body = json.dumps({"note": f"{FILLER} {data} {FILLER}"}).encode()
    assert _post(gate, body).status == 451


def test_proxy5_a_long_value_of_words_or_one_long_token_still_passes(gate):
    token = base64.b64encode(bytes((i * 97 + 13) % 256 for i in range(3000))).decode()
    for value in (FILLER, token):
        read = read_body(json.dumps({"note": value}).encode(), "application/json")
        assert read.unreadable == ()
        assert _post(gate, json.dumps({"note": value}).encode()).forward


PEOPLE = {"name": ["Zorblat Quux", "Mirna Vell", "Oskar Pine"],
          "ssn": ["123456789", "234567890", "345678901"]}


@pytest.mark.parametrize("table", [
    {"columns": ["name", "ssn"], "data": [list(r) for r in zip(*PEOPLE.values(), strict=True)]},
    {"values": [["name", "ssn"], *(list(r) for r in zip(*PEOPLE.values(), strict=True))]},
    {"columns": ["name", "v"], "data": [["Zorblat Quux", "4111111111111111"]]},
])
def test_proxy5_a_table_of_rows_under_a_header_is_read_by_its_names(gate, table):
    """``df.to_json(orient="split")`` (and a spreadsheet's values, a header row first) put
    every cell under ``data``, no name beside it: names and bare SSNs, or a card beside a
    name, were public where ``orient="records"`` was refused."""
    read = read_body(json.dumps(table).encode(), "application/json").fields
    assert read.get("ssn", read.get("values.ssn", read.get("v")))  # (read by its name)
    assert _post(gate, json.dumps(table).encode()).status == 451


def test_proxy5_a_table_of_rows_that_holds_nothing_classified_still_passes(gate):
    import pandas as pd

    frame = pd.DataFrame({"product": ["Desk Lamp", "Chair"], "qty": [3, 5]})
    for body in (frame.to_json(orient="split"), json.dumps([["a", "b"], [1, 2], [3, 4]])):
        assert _post(gate, body.encode()).forward


def _utf16_escaped(text: str) -> str:
    from urllib.parse import quote

    return quote(text.encode("utf-16-le"))


@pytest.mark.parametrize("charset", ["; charset=utf-16le", ""])
def test_proxy5_a_form_percent_escaped_in_utf16_is_read_as_utf16(gate, charset):
    """``e=%61%00%6E%00...``: UTF-16 bytes percent-escaped (a receiver honouring the form's
    charset decodes them so) were read as UTF-8 text with zeros, and the e-mail forwarded."""
    body = f"e={_utf16_escaped('ana.lopez@example.com')}&x=1".encode()
    form = "application/x-www-form-urlencoded" + charset
    assert read_body(body, form).fields["e.(decoded)"] == ("ana.lopez@example.com",)
    assert _post(gate, body, form).status == 451
    query = gate.check(OutboundRequest(
        method="GET", url=f"{EXTERNAL}?e={_utf16_escaped('ana.lopez@example.com')}"))
    assert query.status == 451
    # the allowed path: UTF-8 escapes are read once, and ordinary text in UTF-16 passes
    plain = read_body(b"city=caf%C3%A9&n=2", form).fields
    assert plain["city"] == ("café",)
    assert not any("(decoded)" in name for name in plain)
    assert _post(gate, f"e={_utf16_escaped('hello world')}".encode(), form).forward


def test_proxy5_an_archive_past_the_start_of_a_long_body_is_unreadable(tmp_path, proxy_yaml):
    """Past ``proxy.max_inspect_bytes`` the rest of a body is scanned as text: a ZIP of a
    CSV base64-encoded there (JSON's ``\\/`` escapes, as PHP writes them) was noise, and
    forwarded."""
    from lacuna.config import load_config
    from lacuna.governor import Governor
    from lacuna.proxy.gate import Gate

    gov = Governor(load_config(proxy_yaml(tmp_path, "{max_inspect_bytes: 4096, "
                                                    "fingerprints: false}")))
    gate = Gate(gov)
    try:
        def sent(value: str):
            body = json.dumps({"pad": "lorem ipsum " * 800, "file": value}).encode()
            body = body.replace(b"/", b"\\/")
            spooled = tmp_path / "body"
            spooled.write_bytes(body)
            return gate.check(OutboundRequest(
                method="POST", url=EXTERNAL, headers={"content-type": "application/json"},
                body=body[:4096], truncated=True, spooled=str(spooled), size=len(body)))

        refused = sent(base64.b64encode(_zip()).decode())
        assert refused.status == 451
        assert "ZIP archive" in " ".join(refused.decision.operation.classification.reasoning)
        png = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 2  # the allowed path: an image
        assert sent(base64.b64encode(png).decode()).forward
    finally:
        gov.close()


def test_proxy5_many_unclosed_doctypes_are_read_in_linear_time():
    """The DOCTYPE was cut with a regular expression retried at each ``<!DOCTYPE``: 54 KB of
    them took 6.6 s (quadratic; 180 KB about a minute). One pass now."""
    import time

    doc = "<!ENTITY" + "<!DOCTYPE" * 20_000
    started = time.perf_counter()
    read_body(doc.encode(), "application/xml")
    assert time.perf_counter() - started < 2.0
    # the DOCTYPE is still read as a parser reads it: brackets and quotes in its subset
    with_subset = (b'<!DOCTYPE r [<!ENTITY a "]>x"><!ENTITY b "ana.lopez">]>'
                   b"<r><e>&b;@example.com</e></r>")
    assert read_body(with_subset, "application/xml").fields["r.e"] == ("ana.lopez@example.com",)


def test_proxy5_tables_nested_in_tables_are_read_once():
    """A table's rows were read again by its column names, nested tables included: each
    level doubled the work (22 levels, 245 bytes: 39 s)."""
    import time

    nested: object = "ana.lopez@example.com"
    for _ in range(40):
        nested = [["email"], [nested]]
    started = time.perf_counter()
    read = read_body(json.dumps(nested).encode(), "application/json")
    assert time.perf_counter() - started < 2.0
    assert "ana.lopez@example.com" in read.fields["$"]  # (read where it is)


def test_proxy5_xml_entities_may_expand_a_document_a_bounded_number_of_times():
    """344 bytes of entities expanded to 2.7 million characters (a second of the decision
    thread per request); a document may now grow 16 times (64 Ki characters at least)."""
    def laughs(levels: int) -> bytes:
        doc = '<!DOCTYPE r [<!ENTITY l0 "<e>u1@x.io</e>">'
        doc += "".join(f'<!ENTITY l{i} "{f"&l{i - 1};" * 10}">' for i in range(1, levels + 1))
        return (doc + f"]><r>&l{levels};</r>").encode()

    assert read_body(laughs(3), "application/xml").unreadable == ()  # (15 Ki characters)
    assert any("entities expand" in why
               for why in read_body(laughs(5), "application/xml").unreadable)
