"""The proxy's decision: an outbound request as an ``export`` Operation through the Governor.

:meth:`Gate.check` reads the request's body and query (:mod:`lacuna.proxy.bodies`), classifies
the fields with the same classifier as a governed read (names and values: e-mails, phones, SSNs,
cards, ...), raises any field whose values a governed read saw in a classified column to that
column's class (:mod:`lacuna.proxy.fingerprints`), and asks the Governor about an ``export`` of
that classification to ``scheme://host/path``. The Governor records the decision and applies the
mode: in ``enforce`` a denial is a 451 reply and nothing is forwarded; ``warn`` and ``observe``
forward and record.

A body it cannot read (binary data, an unknown compression) is PROPRIETARY while
``proxy.unparsed`` is ``deny`` (the default): the policies then refuse it to external hosts and
allow it to internal ones. Requests with neither a body nor a query carry no data and pass without
a decision. When Lacuna itself fails, ``enforce`` refuses (fail closed).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, urlsplit

from lacuna import _bypass
from lacuna.errors import GovernanceViolation
from lacuna.model import Action, Classification, Decision, FrozenDict, Source, Tier, unique
from lacuna.proxy.bodies import Payload, read_body
from lacuna.redact import redact_url

if TYPE_CHECKING:
    import pandas as pd

    from lacuna.governor import Governor
    from lacuna.proxy.fingerprints import FieldMatch

log = logging.getLogger(__name__)
STATUS_DENIED = 451  # Unavailable For Legal Reasons (RFC 7725)


@dataclass(frozen=True, slots=True)
class OutboundRequest:
    """What the gate sees of one request: headers with lower-case names."""

    method: str
    url: str  # scheme://host[:port]/path?query
    headers: Mapping[str, str] = field(default_factory=FrozenDict)
    body: bytes = b""
    truncated: bool = False  # the body was longer than proxy.max_inspect_bytes
    client: str | None = None  # the client's address, for the audit trail


@dataclass(frozen=True, slots=True)
class Verdict:
    """Forward the request, or answer it with ``status``/``body`` instead."""

    forward: bool
    decision: Decision | None = None
    status: int = 0
    body: bytes = b""
    content_type: str = ""


class Gate:
    """Decides outbound requests with ``gov`` (its config, engine, audit trail and mode)."""

    def __init__(self, gov: Governor) -> None:
        self.gov = gov
        self.settings = gov.config.proxy

    def check(self, request: OutboundRequest) -> Verdict:
        try:
            return self._check(request)
        except Exception as exc:  # Lacuna failed: enforce refuses
            method = f"http.{request.method}"
            decision = self.gov.failure_decision(exc, action=Action.EXPORT, method=method)
            try:
                self.gov.record(decision)
            except Exception:  # recording is best effort here
                log.error("could not record the failure decision for %s", redact_url(request.url))
            if self.gov.config.mode == "enforce":
                return self._refuse(request, decision)
            log.warning("forwarding %s %s ungoverned (mode %s): %s", request.method,
                        _redacted(request.url), self.gov.config.mode, decision.reasoning)
            return Verdict(forward=True, decision=decision)

    def payload(self, request: OutboundRequest) -> Payload:
        """The request's fields: its body's and its query's (as ``?name``)."""
        headers = request.headers
        payload = read_body(
            request.body, headers.get("content-type"), encoding=headers.get("content-encoding"),
            truncated=request.truncated, limit=self.settings.max_inspect_bytes,
        )
        query = parse_qsl(urlsplit(request.url).query, keep_blank_values=False)
        if not query:
            return payload
        fields = dict(payload.fields)
        for key, value in query:
            fields[f"?{key}"] = (*fields.get(f"?{key}", ()), value)
        fmt = payload.format if payload.format != "empty" else "query"
        return replace(payload, fields=FrozenDict(fields), format=fmt)

    def _check(self, request: OutboundRequest) -> Verdict:
        payload = self.payload(request)
        if not payload.fields and not payload.unreadable:
            return Verdict(forward=True)  # nothing is sent: nothing to decide
        classification, matches = self.classify(payload)
        sources = [Source(name=f"{request.method} body ({payload.format}) from "
                               f"{request.client or 'a client'}", classification=classification)]
        sources += [Source(name=m.source, classification=classification) for m in matches]
        gov = self.gov
        op = gov.operation(
            Action.EXPORT, classification, sources=_unique_sources(sources),
            destination=gov.destination(_destination(request.url)),
            method=f"http.{request.method}", code_location=request.client,
        )
        try:
            decision = gov.govern(op)
        except GovernanceViolation as exc:
            return self._refuse(request, exc.decision)
        return Verdict(forward=True, decision=decision)

    def classify(self, payload: Payload) -> tuple[Classification, tuple[FieldMatch, ...]]:
        """The payload's classification: its values, plus fingerprints of governed reads."""
        from lacuna.classify.rollup import column_tier, rollup

        config = self.gov.config.classification
        with _bypass.bypass():
            frame = _frame(payload)
            inferred = (self.gov.classify_read(None, frame)[0] if len(frame.columns)
                        else Classification())
        matches: tuple[FieldMatch, ...] = ()
        if self.settings.fingerprints and payload.fields:
            from lacuna.proxy.fingerprints import store_for

            matches = store_for(self.gov.config).match(payload.fields)
        columns = dict(inferred.columns)
        notes = []
        for m in matches:
            seen = replace(m.column_class, reasoning=(
                f"{m.matched} of {m.checked} values were read from {m.source} "
                f"(column {m.column!r}, {m.column_class.classification.value})"))
            mine = columns.get(m.field)
            if mine is None or column_tier(seen, config) >= column_tier(mine, config):
                columns[m.field] = seen
            notes.append(f"{m.field}: {seen.reasoning}")
        floor, reasoning = inferred.floor, list(inferred.reasoning)
        if payload.unreadable and self.settings.unparsed == "deny":
            floor = Tier.PROPRIETARY
            reasoning.insert(0, "PROPRIETARY (fail closed): Lacuna could not read "
                             + "; ".join(payload.unreadable) + " (proxy.unparsed: deny)")
        if payload.truncated:
            reasoning.append(f"only the first {self.settings.max_inspect_bytes} bytes of the "
                             "body were inspected (proxy.max_inspect_bytes)")
        if not matches and floor == inferred.floor:
            return replace(inferred, reasoning=tuple(reasoning)), ()
        result = rollup(columns, config, floor=floor, extra_tags=inferred.table_tags,
                        reasoning=(*notes, *reasoning), layer=inferred.layer)
        return replace(result, tags=unique([*result.tags, *inferred.tags])), matches

    def _refuse(self, request: OutboundRequest, decision: Decision) -> Verdict:
        from lacuna.feedback import render_text

        message = render_text(decision)
        accept = request.headers.get("accept", "")
        sent = request.headers.get("content-type", "")
        if "json" in accept or "json" in sent:
            body = json.dumps({"code": "GovernanceViolation", "message": message,
                               "decision": decision.to_dict()}, indent=2, sort_keys=True)
            return Verdict(forward=False, decision=decision, status=STATUS_DENIED,
                           body=body.encode(), content_type="application/json")
        return Verdict(forward=False, decision=decision, status=STATUS_DENIED,
                       body=(message + "\n").encode(), content_type="text/plain; charset=utf-8")


def _frame(payload: Payload) -> pd.DataFrame:
    import pandas as pd

    columns = {}
    for name, values in payload.fields.items():
        column = pd.Series(values, dtype="string")
        numbers = pd.to_numeric(column, errors="coerce")
        columns[name] = numbers if not numbers.isna().any() else column  # counts stay numbers
    return pd.DataFrame(columns)


def _destination(url: str) -> str:
    """``scheme://host[:port]/path``: the query is data (inspected), not the destination; a
    password or token in the userinfo is never shown (it goes into the audit record)."""
    parts = urlsplit(url)
    return redact_url(f"{parts.scheme}://{parts.netloc}{parts.path or '/'}")


def _redacted(url: str) -> str:
    from lacuna.destinations import redact

    return redact(_destination(url))


def _unique_sources(sources: list[Source]) -> list[Source]:
    seen: set[str] = set()
    out = []
    for s in sources:
        if s.name not in seen:
            seen.add(s.name)
            out.append(s)
    return out
