"""Padding does not hide governed data: a body that carries a governed dataset's values, or
valid card numbers, is judged by how much of that data it carries, not by its share of the
body; a card number with its expiry date is payment data without a person. And the ordinary
traffic around them still passes. In process (no sockets)."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator

import pandas as pd
import pytest

from lacuna.model import Classification, ColumnClass, ColumnKind, Sensitivity
from lacuna.proxy.gate import Gate, OutboundRequest

EXTERNAL = "https://api.external-service.com/v1/upload"
INTERNAL = "http://localhost/v1/customers"
CARDS = ["4111111111111111", "5555555555554444", "378282246310005", "6011111111111117",
         "4012888888881881"]


def _luhn(number: str) -> bool:
    total = 0
    for i, digit in enumerate(int(d) for d in reversed(number)):
        total += digit if i % 2 == 0 else (digit * 2 - 9 if digit > 4 else digit * 2)
    return total % 10 == 0


def _not_cards(n: int, seed: int = 5) -> list[str]:
    """``n`` random 16-digit numbers that fail Luhn (no card's): an attacker's padding."""
    rng = random.Random(seed)
    out: list[str] = []
    while len(out) < n:
        number = str(rng.randrange(10**15, 10**16))
        if not _luhn(number):
            out.append(number)
    return out


rng = random.Random(11)
ACCOUNTS = [f"ACCT-{rng.randrange(10**8):08d}" for _ in range(400)]  # no recognizer knows them
CODES = [f"{rng.choice('ABCDEFGH')}{rng.randrange(10**6):06d}Q" for _ in range(400)]


@pytest.fixture(scope="module")
def fresh_gate(tmp_path_factory) -> Iterator[Gate]:
    """A gate of its own whose state holds one governed read: ``accounts.parquet``, its
    ``account_ref`` (PII) and ``code`` (financial, critical: PROPRIETARY) columns, and two
    columns of categories (``country``, ``active``) classified PII too."""
    from lacuna.config import config_from_dict
    from lacuna.governor import Governor
    from lacuna.proxy.fingerprints import record_read, store_for

    root = tmp_path_factory.mktemp("proxy7")
    gov = Governor(config_from_dict({
        "audit": {"url": f"sqlite:///{root / 'state.db'}"},
        "anonymize": {"key_dir": str(root / "keys")},
        "destinations": {"internal_hosts": ["localhost"]},
        "proxy": {"max_inspect_bytes": 64 * 1024}}))
    frame = pd.DataFrame({"account_ref": ACCOUNTS, "code": CODES,
                          "country": ["Germany", "United States"] * 200,
                          "active": ["true", "false"] * 200})
    pii = ColumnClass(classification=ColumnKind.PII, confidence=0.9)
    record_read(gov.config, "accounts.parquet", frame, Classification(columns={
        "account_ref": ColumnClass(classification=ColumnKind.PII, pii_type="name",
                                   confidence=0.9),
        "code": ColumnClass(classification=ColumnKind.FINANCIAL, confidence=0.9,
                            sensitivity=Sensitivity.CRITICAL),
        "country": pii, "active": pii}))
    store_for(gov.config).flush()
    yield Gate(gov)
    gov.close()


def _post(gate: Gate, data: object, url: str = EXTERNAL, content_type: str = "application/json"):
    gate._cache.clear()
    body = data if isinstance(data, bytes) else json.dumps(data).encode()
    return gate.check(OutboundRequest(method="POST", url=url, body=body,
                                      headers={"content-type": content_type},
                                      addresses=("127.0.0.1",)))


def _reasons(verdict) -> str:
    return "\n".join(verdict.decision.operation.classification.reasoning)


def _column_why(verdict, field: str) -> str:
    return verdict.decision.operation.classification.columns[field].reasoning


def _kinds(verdict) -> dict[str, tuple[str, str | None]]:
    columns = verdict.decision.operation.classification.columns
    return {k: (c.classification.value, c.pii_type) for k, c in columns.items()}


# --- 1. fingerprints: the amount carried decides, not the share


def test_proxy7_a_datasets_values_spread_over_padded_fields_are_refused(fresh_gate):
    """Two of the file's values in each of 60 fields of 500 made-up ones: each field's share
    was below the rule's (three, or half), and 120 governed values were forwarded."""
    body = {f"col{j}": [*ACCOUNTS[2 * j:2 * j + 2], *(f"made-up-{j}-{k}" for k in range(500))]
            for j in range(60)}
    refused = _post(fresh_gate, body)
    assert refused.status == 451
    why = _reasons(refused)
    assert "2 of 502 values were read from accounts.parquet (column 'account_ref', pii); " \
           "the request carries 120 values of accounts.parquet" in why
    # one value in each of three padded fields is three of the file's values too
    three = {f"col{j}": [ACCOUNTS[300 + j], *(f"made-up-{j}-{k}" for k in range(2000))]
             for j in range(3)}
    assert _post(fresh_gate, three).status == 451


def test_proxy7_fifty_rows_among_five_thousand_made_up_ones_are_refused(fresh_gate):
    """50 of the file's rows shuffled among 5,000 made-up rows, as JSON and as CSV."""
    shuffle = random.Random(3)
    rows = [{"ref": f"ACCT-{shuffle.randrange(10**8):08d}", "code": f"Z{k:06d}Q"}
            for k in range(5000)]
    rows += [{"ref": a, "code": c} for a, c in zip(ACCOUNTS[:50], CODES[:50], strict=True)]
    shuffle.shuffle(rows)
    for verdict in (_post(fresh_gate, rows), _post(fresh_gate, (
            "ref,code\n" + "".join(f"{r['ref']},{r['code']}\n" for r in rows)).encode(),
            content_type="text/csv")):
        assert verdict.status == 451
        assert "values were read from accounts.parquet (column 'code', financial)" in \
            _reasons(verdict)


def test_proxy7_a_long_bodys_windows_add_up(fresh_gate):
    """A long body (spooled, scanned in windows of 256 KiB past its first 64 KiB) with one of
    the file's values every 200 KiB: no window held three, and the ten were forwarded."""
    filler = "".join(f"row-{k},made-up-{k:09d}\n" for k in range(8000))  # ~200 KiB
    text = "id,ref\n" + "".join(f"{filler}real,{ACCOUNTS[200 + k]}\n" for k in range(10))
    body = text.encode()
    assert len(body) > 2 * 1024 * 1024
    import tempfile

    with tempfile.NamedTemporaryFile(suffix=".body") as spooled:
        spooled.write(body)
        spooled.flush()
        fresh_gate._cache.clear()
        verdict = fresh_gate.check(OutboundRequest(
            method="POST", url=EXTERNAL, headers={"content-type": "text/csv"},
            body=body[:64 * 1024], truncated=True, spooled=spooled.name, size=len(body)))
    assert verdict.status == 451
    assert "values of accounts.parquet" in _reasons(verdict)


def test_proxy7_a_couple_of_common_values_pass(fresh_gate):
    """Categories the file holds (its countries, its flags) are no value of its records: they
    are not fingerprinted, and a body sharing them passes; so does one or two of the file's
    values among many others (chance, a value both files hold), as before."""
    common = {"country": "Germany", "region": "United States", "active": "true",
              "archived": "false", "id": 1234567, "count": 3}
    verdict = _post(fresh_gate, common)
    assert verdict.forward, verdict.body[:300]
    assert _post(fresh_gate, [common] * 200).forward
    assert _post(fresh_gate, {"refs": [*ACCOUNTS[:2], *(f"other-{k}" for k in range(2000))]}
                 ).forward
    # the refused path: one of the file's record values, alone
    assert _post(fresh_gate, {"account": ACCOUNTS[7]}).status == 451


def test_proxy7_common_literals_and_repeated_values_are_not_fingerprinted():
    from lacuna.proxy.fingerprints import distinctive, normalise

    assert [normalise(v) for v in ("true", "False", " null ", "N/A")] == [None] * 4
    assert normalise("ACCT-00000001") == "acct-00000001"
    sample = [f"id-{k:05d}" for k in range(300)] + ["Germany"] * 4 + ["Chile"] * 2
    kept = distinctive(sample)
    assert "Germany" not in kept  # (4 times in 306: at least 1% of the sample)
    assert kept.count("Chile") == 2  # (twice: below 1% of 306 values)
    assert len(kept) == 302


# --- 2. cards: padding with numbers that are no card does not hide the cards


def test_proxy7_cards_among_padded_records_beside_a_person_are_cards(fresh_gate):
    """Records of a person's name and a number: five valid cards among 500 numbers that fail
    Luhn were fewer than chance makes, and the list passed where each card's record alone was
    refused. Each valid number beside a person is a card. To an internal host (a name no
    recognizer knows may go there, cardholder data may not)."""
    padding = _not_cards(500)
    rows = [{"name": "Zorblat Quux", "v": CARDS[k // 100] if k % 100 == 0 else padding[k]}
            for k in range(500)]
    refused = _post(fresh_gate, rows, INTERNAL)
    assert refused.status == 451
    assert _kinds(refused)["v"] == ("pii", "card_number")
    assert _column_why(refused, "v") == (
        "5 of 500 bare numbers pass a card's issuer and Luhn checks, in a record beside "
        "'name', a person's data: cardholder data")
    assert not any(card in refused.body.decode() for card in CARDS)
    one = [{"name": "Zorblat Quux", "v": CARDS[0] if k == 17 else padding[k]}
           for k in range(50)]
    assert _post(fresh_gate, one, INTERNAL).status == 451
    emails = [{"email": f"user{k}@example.com", "v": CARDS[0] if k == 17 else padding[k]}
              for k in range(500)]
    assert _kinds(_post(fresh_gate, emails, INTERNAL))["v"] == ("pii", "card_number")
    # the allowed path: the same records without a card
    clean = _post(fresh_gate, [{"name": "Zorblat Quux", "v": n} for n in padding], INTERNAL)
    assert clean.forward, clean.body[:300]


def test_proxy7_an_id_column_with_a_luhn_valid_number_passes(fresh_gate):
    """An id column (by its name) is the records' own, however many of its numbers pass the
    checks; a lone number with nothing beside passes."""
    padding = _not_cards(150, seed=9)
    ids = [{"name": "Zorblat Quux", "order_id": CARDS[0] if k == 7 else padding[k]}
           for k in range(150)]
    assert _post(fresh_gate, ids, INTERNAL).forward
    assert _post(fresh_gate, {"id": CARDS[0], "created": "2024-01-02"}).forward
    assert _post(fresh_gate, {"v": [CARDS[0], *padding]}).forward


# --- 3. a card with its expiry date, no person


@pytest.mark.parametrize("record", [
    {"v": CARDS[0], "exp": "12/27"},
    {"number": CARDS[1], "exp_month": 12, "exp_year": 2027},
    {"instrument": {"value": CARDS[2], "expiry": "2027-12"}},
    {"v": CARDS[3], "security_code": "123"},
])
def test_proxy7_a_card_with_its_expiry_or_code_and_no_person_is_refused(fresh_gate, record):
    """A card number beside its expiry date (or code) is payment card data (PCI DSS) with no
    name or e-mail beside it: ``{"v": card, "exp": "12/27"}`` was forwarded. The message names
    the field; the number is never in it."""
    refused = _post(fresh_gate, record)
    assert refused.status == 451
    field = next(k for k, v in _kinds(refused).items() if v == ("pii", "card_number"))
    assert field.rpartition(".")[2] in ("v", "number", "value")
    body = refused.body.decode()
    assert not any(card in body for card in CARDS)
    message = json.loads(body)["message"]
    assert f"- {field}: 1 of 1 bare numbers pass a card's issuer and Luhn checks, beside '" \
        in message
    assert "a card's expiry date or security code: payment card data" in \
        _column_why(refused, field)


def test_proxy7_a_card_with_an_expiry_in_padded_records_is_refused(fresh_gate):
    padding = _not_cards(500, seed=2)
    rows = [{"v": CARDS[k // 100] if k % 100 == 0 else padding[k], "exp": "01/29"}
            for k in range(500)]
    assert _post(fresh_gate, rows).status == 451


@pytest.mark.parametrize("record", [
    {"id": CARDS[0], "expires": "2027-12-01"},  # a token's or a session's expiry: a date
    {"v": "4111111111111112", "exp": "12/27"},  # no valid card (Luhn)
    {"v": CARDS[0], "exp": 1700000000},  # an epoch time is no card's expiry
    {"v": CARDS[0], "expiry_note": "12/27"},  # no expiry's name
    {"v": CARDS[0], "cid": "123"},  # a customer's or a content id, no card's code
])
def test_proxy7_no_card_with_its_expiry_passes(fresh_gate, record):
    verdict = _post(fresh_gate, record)
    assert verdict.forward, verdict.body[:300]


def test_proxy7_an_ordinary_api_call_passes(fresh_gate):
    """Ids, counts, times and numbers of 16 digits under their own names: no refusal."""
    call = {"request_id": "6a1f0b7e-2c1d-4e7b-9f0a-3f2b1c4d5e6f", "user_id": 4111111111111111,
            "session": "s-7f3a9c", "page": 3, "per_page": 50, "created_at": 1700000000123,
            "items": [{"item_id": int(n), "qty": k + 1, "warehouse": "WH-12"}
                      for k, n in enumerate(_not_cards(40))],
            "flags": {"beta": True, "dark_mode": False}, "trace": [5, 8, 13, 21]}
    verdict = _post(fresh_gate, call)
    assert verdict.forward, json.loads(verdict.body)["message"]
