"""Multipart bodies with quoted boundaries and file names that carry data, in process."""

from __future__ import annotations

import pytest

from lacuna.proxy.bodies import read_body
from lacuna.proxy.gate import OutboundRequest

EXTERNAL = "https://api.external-service.com/v1"



def _upload(filename: str, content: bytes = b"hello world", boundary: str = "X") -> bytes:
    head = (f'--{boundary}\r\nContent-Disposition: form-data; name="f"; {filename}\r\n'
            "Content-Type: text/plain\r\n\r\n")
    return head.encode() + content + f"\r\n--{boundary}--\r\n".encode()


def _post(gate, body, content_type):
    return gate.check(OutboundRequest(method="POST", url=EXTERNAL, body=body,
                                      headers={"content-type": content_type}))


def test_a_quoted_boundary_holding_a_semicolon_is_read():
    """``boundary="a;b"`` was cut at its ";": no part was found, and the body (an ordinary
    upload) was unreadable, refused to every external host."""
    body = _upload('filename="notes.txt"', boundary="a;b")
    payload = read_body(body, 'multipart/form-data; boundary="a;b"')
    assert (payload.format, payload.unreadable) == ("multipart", ())
    assert payload.fields["f.text"] == ("hello", "world")


def test_a_quoted_boundary_upload_passes_and_its_data_is_found(gate):
    content_type = 'multipart/form-data; boundary="a;b"'
    assert _post(gate, _upload('filename="notes.txt"', boundary="a;b"), content_type).forward
    refused = _post(gate, _upload('filename="n.txt"', b"ssn 536-90-4399", "a;b"), content_type)
    assert refused.status == 451


@pytest.mark.parametrize("disposition", [
    'filename="card-4111111111111111.txt"',  # (a bare number alone: see below)
    'filename="exports/kira.ng@example.org.csv"',
    "filename*=UTF-8''kira.ng%40example.org.txt",
    'filename="visa 1111111111111114.txt"',  # a card written backwards
])
def test_data_in_a_parts_file_name_is_found(gate, disposition):
    """The file's name is sent with it; it was read by its extension only: forwarded."""
    refused = _post(gate, _upload(disposition), "multipart/form-data; boundary=X")
    assert refused.status == 451


@pytest.mark.parametrize("disposition", [
    'filename="report-2024-11.csv"', 'filename="IMG_20241105_093000.txt"',
    'filename="C:\\\\Users\\\\me\\\\notes v1.2.3.txt"', 'filename="invoice_00042.txt"',
    'filename="7113401000344224.txt"',  # an id (issuer and Luhn valid backwards) alone
    "filename*=UTF-8''r%C3%A9sum%C3%A9.txt",
])
def test_ordinary_file_names_pass(gate, disposition):
    assert _post(gate, _upload(disposition), "multipart/form-data; boundary=X").forward
