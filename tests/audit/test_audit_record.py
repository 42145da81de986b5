"""The canonical form of a record's body: orjson for decision bodies, byte for byte json's."""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lacuna.audit.record import build_body, canonical_json, plain_float
from lacuna.model import utcnow


def _json(body: Any) -> str:
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


_floats = st.floats(allow_nan=False, allow_infinity=False).filter(plain_float)
_scalars = st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text() | _floats
_values = st.recursive(_scalars, lambda inner: st.lists(inner, max_size=4)
                       | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=20)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.text(max_size=8), _values, max_size=6))
def test_plain_bodies_are_written_like_json(body: dict[str, Any]) -> None:
    assert canonical_json(body, plain=True) == canonical_json(body) == _json(body)


def test_plain_float_draws_the_line_where_the_writers_differ() -> None:
    assert all(plain_float(x) for x in (0.0, 0.123, 1e-4, -2.5, 1e300))
    assert not any(plain_float(x) for x in (1e-5, -1e-5, float("nan"), float("inf")))


def test_what_orjson_would_write_otherwise_falls_back_to_json() -> None:
    class Tier(StrEnum):
        PUBLIC = "public"

    odd = {"tier": Tier.PUBLIC, "big": 2**70, "z": "é"}
    assert canonical_json(odd, plain=True) == _json(odd)


def test_a_decision_body_is_plain(mk: Any) -> None:
    op = mk.op()
    body = build_body(mk.decision(op), op, session="s", record_id="a" * 32, seq=7,
                      recorded_at=utcnow())
    assert plain_float(body["decision"]["eval_ms"])
    assert canonical_json(body, plain=True) == _json(body)


def test_a_name_that_is_not_utf8_is_written_escaped_and_reads_back_the_same() -> None:
    """``os`` decodes a file name byte that is not UTF-8 as a lone surrogate; such a body used
    to be unwritable (UnicodeEncodeError). It is escaped, so the text encodes, and it reads
    back as the same ``str``; other text is written as before."""
    name = "/governed/b\udcffd.csv"
    body = {"what": {"dataset": name, "note": "café"}}
    for plain in (True, False):
        text = canonical_json(body, plain=plain)
        text.encode("utf-8")
        assert "\\udcff" in text
        assert "café" in text  # non-ASCII still kept as UTF-8
        assert json.loads(text) == body
    ordinary = {"what": {"dataset": "/governed/ok.csv", "note": "café"}}
    assert canonical_json(ordinary) == json.dumps(ordinary, sort_keys=True,
                                                  separators=(",", ":"), ensure_ascii=False)


def test_credentials_in_a_source_or_destination_name_never_reach_the_trail(
        store: Any, mk: Any) -> None:
    """A client of the server names its sources itself: ``postgresql://ann:hunter2@db/...``
    was kept on the trail, which cannot drop a record, and listed to its readers. Names that
    hold no secret (hive partitions, an ``@`` in a path, unicode) read back exactly."""
    from dataclasses import replace

    from lacuna.model import Destination, DestinationType, Scope, Source

    secret = ("postgresql://ann:hunter2@db/prod.customers",
              "https://files.example.com/up?token=abcdef123456&part=1")
    plain = ("/data/year=2024/month=01/sales.parquet", "/users/@me/ünïcødé 日本.csv",
             "customers.csv")
    op = mk.op()
    op = replace(op, sources=tuple(Source(name=n, classification=op.classification)
                                   for n in (*secret, *plain)),
                 destination=Destination(uri="s3://AKIAIOSFODNN7EXAMPLE:wJalrXUtnFEMI@bucket/x",
                                         type=DestinationType.OBJECT_STORE, scope=Scope.EXTERNAL))
    store.record(mk.decision(op), op, session="s1")
    (rec,) = store.list(limit=1)
    assert rec.data["what"]["sources"] == [
        "postgresql://ann:***@db/prod.customers",
        "https://files.example.com/up?token=***&part=1", *plain]
    assert "wJalrXUtnFEMI" not in rec.body
    assert store.verify().ok
    # who read it, asked by the name as the reader wrote it (it found nothing: the trail
    # holds the name masked)
    from lacuna.audit.queries import touching

    for name in (*secret, "s3://AKIAIOSFODNN7EXAMPLE:wJalrXUtnFEMI@bucket/x", plain[0]):
        assert [r.id for r in touching(store.list(), name)] == [rec.id], name
    assert touching(store.list(), "postgresql://ann:other@db/prod.customers.x") == []


@pytest.mark.parametrize(("error", "kept", "secret"), [
    (ConnectionError("cannot reach https://ann:hunter2@files.example.com/x (refused)"),
     "cannot reach https://ann:***@files.example.com/x (refused)", "hunter2"),
    # the cut at 300 characters came first: a token across it was kept in part
    (RuntimeError("x" * 270 + " https://h/up?token=abcdef1234567890abcdef"), None, "abcdef"),
    (FileNotFoundError(2, "No such file or directory", "/tmp/ünï=1 @x.csv"),
     "[Errno 2] No such file or directory: /tmp/ünï=1 @x.csv", None),
])
def test_an_outcome_error_keeps_no_credential(store: Any, mk: Any, error: BaseException,
                                              kept: str | None, secret: str | None) -> None:
    op = mk.op()
    decision = mk.decision(op, allowed=True)
    stored = store.record(decision, op, session="s")
    store.record_outcome(decision, op, session="s", of=stored.id, error=error)
    (rec,) = store.list(limit=1)
    text = rec.data["outcome"]["error"]
    if kept is not None:
        assert text == kept
    if secret is not None:
        assert secret not in rec.body
    assert len(text) <= 300


# A credential in each shape free text carries it in, and what must stay of the text.
_SAID = [("reload https://ann:hunter2@db.example.com/q4 with Bearer abcdef1234567890xyz",
          "reload https://ann:***@db.example.com/q4 with Bearer ***"),
         ("job at s3://bucket/x?X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20260101 line 3",
          "job at s3://bucket/x?X-Amz-Credential=*** line 3"),
         ("key AKIAIOSFODNN7EXAMPLE for the copy", "key *** for the copy"),
         ("token ghp_0123456789abcdefABCDEF0123456789abcd, see /data/year=2024/q4.csv",
          "token ***, see /data/year=2024/q4.csv")]
_SECRETS = ("hunter2", "abcdef1234567890xyz", "AKIAIOSFODNN7EXAMPLE", "ghp_0123456789abcdef")


def test_free_text_of_a_decision_and_its_outcome_keeps_no_credential(store: Any,
                                                                      mk: Any) -> None:
    """The purpose, code location and host call a client sends, and a reasoning or engine
    error quoting what failed, reached the trail as written while its sources and destination
    were masked. Masked as an error message is (redact_text); the rest reads back exactly."""
    from dataclasses import replace

    from lacuna.model import Decision

    for (text, shown) in _SAID:
        op = replace(mk.op(), purpose=text, code_location=text, method=text)
        decision = Decision(allowed=True, operation_id=op.id, reasoning=text,
                            engine_error=f"HTTPError: {text}", operation=op)
        stored = store.record(decision, op, session="s")
        store.record_outcome(decision, op, session="s", of=stored.id)
        for rec in store.list(limit=2):
            assert not any(s in rec.body for s in _SECRETS), rec.body
            assert rec.data["how"] == {"code_location": shown, "method": shown}
        body = store.get(stored.id).data  # type: ignore[union-attr]
        assert (body["why"]["purpose"], body["decision"]["reasoning"],
                body["decision"]["engine_error"]) == (shown, shown, f"HTTPError: {shown}")
    plain = replace(mk.op(), purpose="Q4 board report (ünïcødé)", code_location="a.py:7")
    store.record(mk.decision(plain), plain, session="s")
    (rec,) = store.list(limit=1)
    assert (rec.data["why"]["purpose"], rec.data["how"]["code_location"]) == (
        "Q4 board report (ünïcødé)", "a.py:7")
    assert store.verify().ok


def test_free_text_of_an_event_keeps_no_credential_and_its_paths_as_written(
        store: Any) -> None:
    """An exception request's purpose, justification, conditions, destination and sources, a
    feedback comment, a refusal's error: as written on the trail. Paths the sweep and
    retention find files by (``path``, ``dataset``) and ids stay exactly as written."""
    from lacuna.audit.record import event_body
    from lacuna.exceptions.events import event_body as exception_event

    text, shown = _SAID[0]
    requested = exception_event(
        "requested", user_id="ann", role="analyst", session="s", exception_id="EX-1",
        destination="https://ann:hunter2@files.example.com/out.csv", detail={
            "purpose": text, "business_justification": text, "conditions": [text, "keep"],
            "sources": ["postgresql://ann:hunter2@db/crm", "crm.csv"],
            "path": "/data/token=abc123/part.csv", "error": text})
    feedback = event_body("feedback", user=("ann", "analyst"), session="s",
                          what={"action": "feedback"}, reasoning=f"reported: {text}",
                          detail={"comment": text, "decision_record_id": "0" * 32})
    for body in (requested, feedback):
        rec = store.record_event(body)
        assert not any(s in rec.body for s in _SECRETS), rec.body
    ex, fb = (r.data for r in store.list(limit=2)[::-1])
    assert ex["what"]["destination"] == "https://ann:***@files.example.com/out.csv"
    assert ex["exception"] == {
        "purpose": shown, "business_justification": shown, "conditions": [shown, "keep"],
        "sources": ["postgresql://ann:***@db/crm", "crm.csv"],
        "path": "/data/token=abc123/part.csv", "error": shown}
    assert (ex["why"], ex["what"]["exception_id"]) == ({"exception_id": "EX-1"}, "EX-1")
    assert (fb["feedback"]["comment"], fb["decision"]["reasoning"]) == (
        shown, f"reported: {shown}")
    assert fb["feedback"]["decision_record_id"] == "0" * 32
    assert store.verify().ok
