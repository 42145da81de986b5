"""The proxy's decision: an outbound request as an ``export`` Operation through the Governor.

:meth:`Gate.check` reads the request's body, query, headers and path (:mod:`lacuna.proxy.bodies`;
encoded values decoded), classifies
the fields with the same classifier as a governed read (names and values: e-mails, phones, SSNs,
cards, ...), raises any field whose values a governed read saw in a classified column to that
column's class (:mod:`lacuna.proxy.fingerprints`), and asks the Governor about an ``export`` of
that classification to ``scheme://host/path`` (internal by name only when the addresses the
proxy resolved and connects to are private: :meth:`Gate.destination`). The Governor records
the decision and applies the mode: in ``enforce`` a denial is a 451 reply and nothing is
forwarded; ``warn`` and ``observe`` forward and record.

A body it cannot read (binary data, an unknown compression) is PROPRIETARY while
``proxy.unparsed`` is ``deny`` (the default): the policies then refuse it to external hosts and
allow it to internal ones. Requests with neither a body nor a query carry no data and pass without
a decision. When Lacuna itself fails, ``enforce`` refuses (fail closed).

A body longer than ``proxy.max_inspect_bytes`` arrives spooled (:mod:`lacuna.proxy.server`): its
start is read by its type as above, its rest scanned as text in overlapping windows
(:meth:`Gate._beyond`; values decoded, written backwards or in ROT47 read as the start's are),
and the request decided on both. One longer than
``proxy.max_body_bytes`` is refused with a 413 (:meth:`Gate.too_large`), recorded; one whose body
does not arrive whole in time with a 408 (:meth:`Gate.timed_out`), recorded.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import re
import zlib
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

from lacuna import _bypass
from lacuna.errors import GovernanceViolation
from lacuna.model import (
    Action,
    Classification,
    ColumnClass,
    ColumnKind,
    Decision,
    Destination,
    DestinationType,
    FrozenDict,
    Scope,
    Sensitivity,
    Source,
    Tier,
    unique,
)
from lacuna.proxy.bodies import (
    DECODED,
    HEADER,
    HEADER_NAMES,
    HOST,
    KEYS,
    MAX_ROW_DIGITS,
    PATH,
    Payload,
    decoded_tokens,
    distinct_tokens,
    encoded_files,
    headers_payload,
    inflate,
    joined_pieces,
    path_payload,
    query_payload,
    read_body,
    read_host,
    segment_values,
    turned_tokens,
)
from lacuna.proxy.records import cards_in_records
from lacuna.redact import MASK, redact_url

if TYPE_CHECKING:
    import pandas as pd

    from lacuna.classify.scan import PatternRecognizer
    from lacuna.config import Config
    from lacuna.governor import Governor
    from lacuna.proxy.fingerprints import FieldMatch

log = logging.getLogger(__name__)
STATUS_DENIED = 451  # Unavailable For Legal Reasons (RFC 7725)
STATUS_TOO_LARGE = 413  # Content Too Large: beyond proxy.max_body_bytes, never forwarded
STATUS_TIMED_OUT = 408  # Request Timeout: the body did not arrive whole in time, never forwarded
STATUS_BUSY = 503  # Service Unavailable: not taken up for a decision in time, never forwarded
SCAN_WINDOW = 256 * 1024  # a spooled body is scanned in windows of this many bytes ...
SCAN_OVERLAP = 4096  # ... overlapping by this much, so a value cut at a window's end is whole
FEW_DECODED = 32  # decoded values (a JWT's claims, a host's labels) classified as they are
CACHED_CHARS = 16 * 1024  # a payload of at most this many characters has its classification ...
CACHED_PAYLOADS = 512  # ... remembered, for this many payloads (the least recently used go)
PROXY_RULE_ID, PROXY_RULE_TITLE = "lacuna.proxy", "Egress proxy: request body not read whole"
BUSY_RULE_TITLE = "Egress proxy: request not decided in time"
# headers the proxy does not forward as sent (hop-by-hop ones, and Host: it is written from the
# URL), and the framing h11 checks: every other header is read as data
HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-connection", "proxy-authorization",
                        "proxy-authenticate", "te", "trailer", "upgrade", "expect"})
NOT_DATA = HOP_BY_HOP | {"host", "content-length", "transfer-encoding"}


@dataclass(frozen=True, slots=True)
class OutboundRequest:
    """What the gate sees of one request: headers with lower-case names."""

    method: str
    url: str  # scheme://host[:port]/path?query
    headers: Mapping[str, str] = field(default_factory=FrozenDict)
    body: bytes = b""
    truncated: bool = False  # the body was longer than proxy.max_inspect_bytes
    client: str | None = None  # the client's address, for the audit trail
    # a body longer than proxy.max_inspect_bytes: all of it, spooled to a private file (``body``
    # is its start), scanned beyond the start before the request is decided
    spooled: str | None = None
    size: int = 0  # the whole body's length when spooled
    # the addresses the proxy resolved the host to, and will connect to (None: not resolved;
    # a host internal by name is then decided as external, see Gate.destination)
    addresses: tuple[str, ...] | None = None


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
        # payload fields -> their classification (small ones: see _inferred); the gate runs
        # on the proxy's one decision thread
        self._cache: OrderedDict[Mapping[str, tuple[str, ...]], Classification] = OrderedDict()

    def check(self, request: OutboundRequest) -> Verdict:
        try:
            return self._check(request)
        except Exception as exc:  # Lacuna failed: enforce refuses
            method = f"http.{request.method}"
            decision = self.gov.failure_decision(exc, action=Action.EXPORT, method=method)
            try:
                self.gov.record(decision)
            except Exception:  # recording is best effort here
                log.error("could not record the failure decision for %s",
                          _redacted(request.url))  # (no query, the path's values masked)
            if self.gov.config.mode == "enforce":
                return self._refuse(request, decision)
            log.warning("forwarding %s %s ungoverned (mode %s): %s", request.method,
                        _redacted(request.url), self.gov.config.mode, decision.reasoning)
            return Verdict(forward=True, decision=decision)

    def payload(self, request: OutboundRequest) -> Payload:
        """The request's fields: its body's and its query's (as ``?name``); see
        :meth:`around` for its headers and path."""
        headers = request.headers
        payload = read_body(
            request.body, headers.get("content-type"), encoding=headers.get("content-encoding"),
            truncated=request.truncated, limit=self.settings.max_inspect_bytes,
        )
        query = query_payload(urlsplit(request.url).query)
        if not query.fields:
            return payload
        fmt = payload.format if payload.format != "empty" else "query"
        return replace(payload, fields=_merged(payload.fields, query.fields), format=fmt,
                       unreadable=(*payload.unreadable, *query.unreadable))

    @staticmethod
    def around(request: OutboundRequest) -> Payload:
        """What the request sends besides its body and query: its headers (``(header) name``,
        all but :data:`NOT_DATA`), its URL's path (``(path)``) and host name (``(host)``)."""
        headers = headers_payload((k, v) for k, v in request.headers.items()
                                  if k not in NOT_DATA)
        path = path_payload(urlsplit(request.url).path)
        return Payload(fields=_merged(headers.fields, path.fields, read_host(_host(request.url))),
                       format="headers", unreadable=(*headers.unreadable, *path.unreadable))

    def host_refusal(self, request: OutboundRequest) -> Verdict | None:
        """The refusal of a request whose host name carries classified data, decided before
        the name is resolved (a DNS lookup sends the name to the resolvers on its way, and to
        the server of the domain's owner): on the host alone, the destination unresolved
        (external). None when the name carries nothing classified, or the policies allow it.
        Used for a host internal by name (resolved before the decision) and a CONNECT target."""
        try:
            host = read_host(_host(request.url))
            kept = _suspects(Payload(fields=host, format="host"))
            if not kept.fields:
                return None
            found, seen = self.classify(kept, match_on=host)
            if found.tier is Tier.PUBLIC and not seen:
                return None
        except Exception:  # Lacuna failed: check() fails closed on it, recorded, with why
            log.debug("the host check of %s failed", _redacted(request.url), exc_info=True)
        verdict = self.check(replace(request, addresses=None, body=b"", truncated=False,
                                     spooled=None))
        return None if verdict.forward else verdict

    def internal_by_name(self, url: str) -> bool:
        """Whether ``url``'s destination is internal by its host name (``destinations``): the
        proxy then resolves the host before the decision, which checks the addresses
        (:meth:`destination`). A URL Lacuna cannot classify counts as internal here: it is
        resolved, and :meth:`check` then fails closed on it with the reason."""
        try:
            return self.gov.destination(_destination(url)).scope is Scope.INTERNAL
        except Exception:
            return True

    def destination(self, request: OutboundRequest) -> Destination:
        """Where the request goes. A host internal by name (``destinations.internal_hosts``) is
        internal only when every address it resolved to (:attr:`OutboundRequest.addresses`,
        the ones the proxy connects to) is not a public one: a name is whatever DNS says it
        is (``10.*`` matches ``10.attacker.net``; a record can point anywhere). Unresolved, or
        resolved to a public address, it is external, and the reasoning says why."""
        return _by_address(request, self.gov.destination(_destination(request.url)))

    def too_large(self, request: OutboundRequest, limit: int) -> Verdict:
        """The refusal of a body longer than ``proxy.max_body_bytes`` (``limit``): 413, recorded
        like any denial. Never forwarded: past the ceiling Lacuna cannot inspect it all."""
        return self._unread(
            request, STATUS_TOO_LARGE,
            f"the body is longer than {limit} bytes (proxy.max_body_bytes)",
            f"Cannot send a request body longer than {limit} bytes through the proxy "
            "(proxy.max_body_bytes): Lacuna inspects every byte it forwards, and does not "
            "hold more. Send the data in smaller requests, or ask an administrator to raise "
            "proxy.max_body_bytes in lacuna.yaml.",
            f"body larger than proxy.max_body_bytes ({limit})")

    def timed_out(self, request: OutboundRequest, why: str) -> Verdict:
        """The refusal of a request whose body did not arrive whole in time (``why``: which
        timeout, ``proxy.client_timeout`` or ``proxy.request_timeout``): 408, recorded like
        any denial. Never forwarded: Lacuna decides on the whole body, and did not get it."""
        return self._unread(
            request, STATUS_TIMED_OUT, f"the body did not arrive whole: {why}",
            f"Cannot forward a request whose body did not arrive whole: {why}. Lacuna decides "
            "on the whole body before a byte is forwarded; nothing was forwarded. Send the "
            "body without pauses, or ask an administrator to raise the timeout in lacuna.yaml.",
            f"the body did not arrive whole ({why})")

    def busy(self, request: OutboundRequest, why: str) -> Verdict:
        """The refusal of a request the proxy did not take up for a decision in time (``why``:
        it was deciding others, ``proxy.request_timeout``): 503, recorded like any denial.
        Never forwarded: it was not decided."""
        return self._unread(
            request, STATUS_BUSY, f"it was not decided: {why}",
            f"Cannot forward a request that was not decided: {why}. Nothing was forwarded. "
            "Send it again later, or ask an administrator to raise proxy.request_timeout in "
            "lacuna.yaml.", f"not decided ({why})", title=BUSY_RULE_TITLE)

    def _unread(self, request: OutboundRequest, status: int, what: str, reasoning: str,
                logged: str, title: str = PROXY_RULE_TITLE) -> Verdict:
        """A refusal, recorded, of a request whose body was not read whole, or that was not
        decided (``what``)."""
        gov = self.gov
        try:
            op = gov.operation(
                Action.EXPORT, Classification.fail_closed(f"{what}, and was not inspected"),
                destination=_shown(self.destination(request)),  # (data in the path: masked)
                method=f"http.{request.method}", code_location=request.client,
            )
            decision = Decision(
                allowed=False, operation_id=op.id, policy_id=PROXY_RULE_ID,
                policy_title=title, operation=op, reasoning=reasoning)
        except Exception as exc:  # Lacuna failed: refused all the same (in every mode), why said
            decision = gov.failure_decision(exc, action=Action.EXPORT,
                                            method=f"http.{request.method}")
        try:
            gov.record(decision)  # a failure is logged there; the refusal stands
        except Exception:
            log.error("could not record the refusal of %s", _redacted(request.url))
        log.warning("refused %s %s: %s", request.method, _redacted(request.url), logged)
        return replace(self._refuse(request, decision), status=status)

    def _check(self, request: OutboundRequest) -> Verdict:
        payload = self.payload(request)
        around = self.around(request)
        # headers and path as columns only where they may hold data: a value some recognizer
        # validates, or decoded content (every header a column would cost each GET tens of
        # milliseconds); fingerprints are looked up for all of them
        kept = _suspects(around)
        if (not payload.fields and not payload.unreadable and not payload.truncated
                and request.spooled is None):
            if not around.fields:
                return Verdict(forward=True)  # nothing is sent: nothing to decide
            aside = _named(kept, around.fields)
            found, seen = self.classify(aside, match_on=around.fields)
            found = cards_in_records(aside, found, self.gov.config.classification, around.fields)
            if found.tier is Tier.PUBLIC and not seen:
                return Verdict(forward=True)  # headers and path carry nothing classified
        lookup = _merged(payload.fields, around.fields)
        if kept.fields or kept.unreadable:  # (an archive encoded in a header: unreadable)
            payload = replace(payload, fields=_merged(payload.fields, kept.fields),
                              unreadable=(*payload.unreadable, *kept.unreadable))
        payload = _named(payload, lookup)
        carried: dict[str, set[str]] = {}  # each dataset's values the request carries
        classification, matches = self.classify(payload, match_on=lookup, carried=carried)
        # (a bare card number in a record beside a person's data: see lacuna.proxy.records)
        classification = cards_in_records(payload, classification,
                                          self.gov.config.classification, lookup)
        if request.spooled is not None or (payload.truncated and _encoded(request)):
            classification, more = self._beyond(request, classification, carried)
            matches = (*matches, *more)
        classification = _masked_names(  # (and the numbers validated as data in names)
            classification, self.gov.config,
            _numbers_as_data(payload.fields.get(NUMBERS_IN_NAMES, ()))[1])
        sent = payload.format if payload.format != "empty" else ""
        if kept.fields:  # (what the request sent besides a body: headers, path, host name)
            sent = f"{sent}, headers and path" if sent else "headers and path"
        sources = [Source(name=f"{request.method} request ({sent or 'empty'}) from "
                               f"{request.client or 'a client'}", classification=classification)]
        sources += [Source(name=m.source, classification=classification) for m in matches]
        gov = self.gov
        named = gov.destination(_destination(request.url))
        destination = _by_address(request, named)
        if any(n.startswith((PATH, HOST)) for n in kept.fields):  # a value in the path or
            destination = _shown(destination)  # the host name: masked
        op = gov.operation(
            Action.EXPORT, classification, sources=_unique_sources(sources),
            destination=destination,
            method=f"http.{request.method}", code_location=request.client,
        )
        try:
            decision = gov.govern(op)
        except GovernanceViolation as exc:
            # a host internal by name but not by address: the message says why it is external
            note = destination.reasoning if named.scope is not destination.scope else ""
            return self._refuse(request, exc.decision, note)
        return Verdict(forward=True, decision=decision)

    def _beyond(self, request: OutboundRequest, head: Classification,
                carried: dict[str, set[str]] | None = None
                ) -> tuple[Classification, tuple[FieldMatch, ...]]:
        """``head`` (the classification of the body's start) with what the rest of a spooled
        body holds: scanned as text in overlapping windows (value recognizers and
        fingerprints, as for free text), so a value cut at a window's end is whole in the next.
        A compressed body is decoded as it is scanned (all of it: gzip members, nested codings),
        up to ``proxy.max_body_bytes`` decoded; what cannot be decoded, or decodes to more, is
        unreadable (``proxy.unparsed``). ``carried``: each dataset's values the start carries
        (:meth:`lacuna.proxy.fingerprints.FingerprintStore.match`), with each window's added:
        a dataset's values spread two to a window are all counted.
        """
        start = self.settings.max_inspect_bytes
        carried = {} if carried is None else carried
        data: Iterable[bytes]
        if request.spooled is not None:
            data, size = _chunks(request.spooled), request.size
        else:
            data, size = (request.body,), len(request.body)
        encoding = request.headers.get("content-encoding") or ""
        if _encoded(request):
            # the decoded body, scanned as text past what its start showed (a cut compressed
            # start says little of where it ends in decoded bytes: the scan reads all of it)
            data = _bounded(inflate(data, encoding), self.settings.max_body_bytes)
            start = 0 if request.spooled is not None else start
        worst = head
        matched: list[FieldMatch] = []
        files: list[str] = []  # files of data encoded in the rest (an archive): not read
        try:
            for offset, window in stream_windows(data, start):
                values = distinct_tokens(window)
                files += encoded_files(values)
                values = (*values, *decoded_tokens(values),  # (a base64 file in a long body)
                          *turned_tokens(window))  # (and values written backwards, in ROT47)
                found, matches = self.classify(_candidates(values), match_on={"body": values},
                                               carried=carried)
                matched += matches
                worst = _joined(worst, found, f"bytes {offset}-{offset + len(window)}")
        except (ValueError, zlib.error) as exc:  # cannot be decoded: fail closed
            rest = Payload(format="unreadable", truncated=True, unreadable=(
                f"a body of {size} bytes compressed with {encoding!r} ({exc})",))
            found, matches = self.classify(rest)
            return _joined(worst, found, "the decoded body"), (*matched, *matches)
        if files:
            found, _ = self.classify(Payload(format="unreadable", truncated=True, unreadable=(
                f"past the first {start} bytes: "
                + ", ".join(dict.fromkeys(files)) + ", encoded (base64 or hex)",)))
            worst = _joined(worst, found, "the rest of the body")
        return worst, tuple(matched)

    def classify(self, payload: Payload, *, match_on: Mapping[str, tuple[str, ...]] | None = None,
                 carried: dict[str, set[str]] | None = None
                 ) -> tuple[Classification, tuple[FieldMatch, ...]]:
        """The payload's classification: its values, plus fingerprints of governed reads
        (looked up for ``match_on``'s fields, by default the payload's; ``carried``: each
        dataset's values found in the request before, updated)."""
        from lacuna.classify.rollup import column_tier, kind_tags, rollup

        config = self.gov.config.classification
        payload = _capped(payload, self.settings.max_fields)
        inferred = self._inferred(payload)
        matches: tuple[FieldMatch, ...] = ()
        lookup = payload.fields if match_on is None else match_on
        if self.settings.fingerprints and lookup:
            from lacuna.proxy.fingerprints import store_for

            matches = store_for(self.gov.config).match(lookup, carried)
        columns = dict(inferred.columns)
        notes = []
        kept_tags: list[str] = []  # the tags of matches that did not relabel their field
        numbers, _ = _numbers_as_data(payload.fields.get(NUMBERS_IN_NAMES, ()))
        if numbers is not None:  # (bare digits: weak as values; as names, fail closed)
            columns[NUMBERS_IN_NAMES] = numbers
            notes.append(f"{NUMBERS_IN_NAMES}: {numbers.reasoning}")
        for m in matches:
            carries = (f"; the request carries {m.in_body} values of {m.source}"
                       if m.in_body > m.matched else "")
            seen = replace(m.column_class, reasoning=(
                f"{m.matched} of {m.checked} values were read from {m.source} "
                f"(column {m.column!r}, {m.column_class.classification.value}){carries}"))
            mine = columns.get(m.field)
            tier = column_tier(seen, config)
            # a match raises a field, never lowers or relabels it within PUBLIC: an id column
            # that held a card number (4111111111111111 is every test's card) read as
            # IDENTIFIER made the field no public one, and the card beside a person's name
            # (lacuna.proxy.records) was forwarded whenever the state held that read
            # a tie above PUBLIC relabels the field, unless the classifier named a person's
            # data in it (an SSN read also in a PHI column stays an SSN: relabelled a
            # diagnosis, "ssn" left the decision's pii_types, which policies read); the
            # match's tags are kept either way
            if mine is None or tier > column_tier(mine, config) or (
                    tier == column_tier(mine, config) and tier > Tier.PUBLIC
                    and not (mine.is_personal and mine.pii_type)):
                columns[m.field] = seen
            elif tier > Tier.PUBLIC:
                kept_tags.extend(kind_tags(seen.classification, config))
            notes.append(f"{m.field}: {seen.reasoning}")
        floor, reasoning = inferred.floor, list(inferred.reasoning)
        if payload.unreadable and self.settings.unparsed == "deny":
            floor = Tier.PROPRIETARY
            reasoning.insert(0, "PROPRIETARY (fail closed): Lacuna could not read "
                             + "; ".join(payload.unreadable) + " (proxy.unparsed: deny)")
        if payload.truncated:
            reasoning.append(f"the first {self.settings.max_inspect_bytes} bytes of the body "
                             "were read by its type (proxy.max_inspect_bytes), the rest as text")
        if not matches and numbers is None and floor == inferred.floor:
            return replace(inferred, reasoning=tuple(reasoning)), ()
        result = rollup(columns, config, floor=floor,
                        extra_tags=(*inferred.table_tags, *kept_tags),
                        reasoning=(*notes, *reasoning), layer=inferred.layer)
        return replace(result, tags=unique([*result.tags, *inferred.tags])), matches

    def _inferred(self, payload: Payload) -> Classification:
        """The classification of ``payload``'s values. A small payload's is remembered
        (:data:`CACHED_CHARS`, :data:`CACHED_PAYLOADS`): a client sends the same token, cookie
        or query on request after request, and classifying what a JWT decodes to costs each
        request about 20 ms. Fingerprints are looked up each time (reads add them)."""
        size = sum(len(v) for values in payload.fields.values() for v in values)
        key = payload.fields if size <= CACHED_CHARS else None
        if key is not None and key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        with _bypass.bypass():
            frame = _frame(payload, self.gov.config.classification.sample_rows)
            inferred = (self.gov.classify_read(None, frame)[0] if len(frame.columns)
                        else Classification())
            inferred = _private_addresses(inferred, payload, self.gov)
        if key is not None:
            self._cache[key] = inferred
            if len(self._cache) > CACHED_PAYLOADS:
                self._cache.popitem(last=False)
        return inferred

    def _refuse(self, request: OutboundRequest, decision: Decision, note: str = "") -> Verdict:
        from lacuna.feedback import render_text

        message = render_text(decision) + (f"\nDestination: {note}" if note else "")
        accept = request.headers.get("accept", "")
        sent = request.headers.get("content-type", "")
        if "json" in accept or "json" in sent:
            body = json.dumps({"code": "GovernanceViolation", "message": message,
                               "decision": decision.to_dict()}, indent=2, sort_keys=True)
            return Verdict(forward=False, decision=decision, status=STATUS_DENIED,
                           body=body.encode(), content_type="application/json")
        return Verdict(forward=False, decision=decision, status=STATUS_DENIED,
                       body=(message + "\n").encode(), content_type="text/plain; charset=utf-8")


def windows(path: str, start: int, size: int = SCAN_WINDOW,
            overlap: int = SCAN_OVERLAP) -> Iterator[tuple[int, bytes]]:
    """``(offset, bytes)`` windows of the file at ``path`` from ``start - overlap`` to its end,
    ``size`` bytes each, each starting ``overlap`` bytes before the previous one ended: a
    value of up to ``overlap`` bytes anywhere past ``start - overlap`` is whole in one."""
    return stream_windows(_chunks(path), start, size, overlap)


def _by_address(request: OutboundRequest, dest: Destination) -> Destination:
    """``dest`` (the request's destination by name) as :meth:`Gate.destination` decides it:
    external when internal by name but not by every address the proxy connects to."""
    if dest.scope is not Scope.INTERNAL:
        return dest
    host = urlsplit(request.url).hostname or ""
    if request.addresses is None or not request.addresses:
        why = (f"; but Lacuna did not resolve {host!r} to an address it checked, so it "
               "counts as external (fail closed)")
    else:
        public = [a for a in request.addresses if _public(a)]
        if not public:
            return dest
        why = (f"; but {host!r} resolves to {', '.join(public)}, a public address, so it "
               "counts as external (an internal host name must resolve to private "
               "addresses: fix the DNS record or destinations.internal_hosts)")
    return replace(dest, scope=Scope.EXTERNAL, managed=False,
                   reasoning=dest.reasoning.rstrip(".") + why + ".")


def stream_windows(chunks: Iterable[bytes], start: int, size: int = SCAN_WINDOW,
                   overlap: int = SCAN_OVERLAP) -> Iterator[tuple[int, bytes]]:
    """:func:`windows` of a stream of bytes (a spooled body as it is read, or as it is
    decoded)."""
    offset = max(start - overlap, 0)  # where ``buffer`` starts in the stream
    position = 0  # how much of the stream was read
    buffer = bytearray()
    for chunk in chunks:
        skip = min(max(offset - position, 0), len(chunk))
        position += len(chunk)
        buffer += chunk[skip:]
        while len(buffer) >= size:
            yield offset, bytes(buffer[:size])
            del buffer[:size - overlap]
            offset += size - overlap
    if buffer:
        yield offset, bytes(buffer)


def _chunks(path: str) -> Iterator[bytes]:
    with open(path, "rb") as fh:
        while chunk := fh.read(SCAN_WINDOW):
            yield chunk


def _bounded(chunks: Iterator[bytes], limit: int) -> Iterator[bytes]:
    """``chunks`` until they pass ``limit`` bytes in all: then a ValueError (fail closed)."""
    total = 0
    for chunk in chunks:
        total += len(chunk)
        if total > limit:
            msg = f"it decodes to more than {limit} bytes (proxy.max_body_bytes)"
            raise ValueError(msg)
        yield chunk


def _encoded(request: OutboundRequest) -> bool:
    return (request.headers.get("content-encoding") or "").strip().lower() not in ("",
                                                                                    "identity")


def _candidates(values: tuple[str, ...]) -> Payload:
    """Per value recognizer, the ``values`` its prefilter accepts, as a field of their own: a
    recognizer judges a field by the share of its values it validates, so e-mails among a
    window of clean rows would be below its threshold; among the values shaped like e-mails
    they are all there is. Fields are named neutrally: a name must not vouch for the values."""
    if not values:
        return Payload(format="text")
    fields = {}
    for n, _, shaped in _shaped(values):
        found = tuple(v for v, hit in zip(values, shaped, strict=True) if hit)
        if found:
            fields[f"values {n}"] = found
    return Payload(format="text", fields=FrozenDict(fields))


def _shaped(values: Sequence[str]) -> Iterator[tuple[int, PatternRecognizer, list[bool]]]:
    """Each strong value recognizer (its position among the engine's) and, for each of
    ``values``, whether its prefilter accepts it whole: a weak format supports a column's
    name, never decides alone.

    A few short values (a GET's path segments, query and headers: the classifier's small
    sample, :data:`lacuna.classify.scan.SMALL_VALUES` values of at most
    :data:`~lacuna.classify.scan.SMALL_CHARS` characters) are matched in Python's ``re`` by
    the prefilters vetted to mean there what they mean in RE2
    (:func:`lacuna.classify.scan.vetted`, the built-in ones), the others in Arrow's RE2: each
    Arrow call compiles its pattern again, and a GET's path, query and headers were matched
    by some 24 prefilters 4 times, about 7 ms of the gate's 21 per request."""
    from lacuna.classify.heuristic import strong_recognizers
    from lacuna.classify.scan import SMALL_CHARS, SMALL_VALUES, vetted

    small = len(values) <= SMALL_VALUES and all(len(v) <= SMALL_CHARS for v in values)
    arrow: Callable[[str], list[bool]] | None = None
    for n, recognizer in strong_recognizers():
        pattern = vetted(recognizer.prefilter) if small else None
        if pattern is not None:
            yield n, recognizer, [pattern.fullmatch(v) is not None for v in values]
            continue
        if arrow is None:
            arrow = _arrow_matcher(values)
        yield n, recognizer, arrow(recognizer.prefilter)


def _arrow_matcher(values: Sequence[str]) -> Callable[[str], list[bool]]:
    """For a prefilter, whether it accepts each of ``values`` whole, in Arrow's RE2."""
    import pyarrow as pa
    import pyarrow.compute as pc

    array = pa.array(values, type=pa.string())

    def match(prefilter: str) -> list[bool]:
        shaped = pc.match_substring_regex(array, f"^(?:{prefilter})$")
        return [bool(hit) for hit in shaped.to_pylist()]

    return match


IN_NAMES = "(in field names)"  # the values found inside the names of a request's fields


def _named(payload: Payload, sent: Mapping[str, tuple[str, ...]]) -> Payload:
    """``payload`` with the values a strong value recognizer finds and validates inside the
    names of the fields ``sent`` (:func:`lacuna.classify.heuristic.data_in_names`) as a field
    of their own, :data:`IN_NAMES`: a key or a parameter's name carries data too (``?123-45-
    6789=1&234-56-7890=1``, ``{"user_123-45-6789": {...}}``, ``X-Ssn-123-45-6789: 1``), and
    only its name said so, which a column's name never does as a value. Their own field: among
    the other keys of an object (``(keys)``) a few would be below a recognizer's share."""
    from lacuna.classify.heuristic import data_in_names

    # an object's keys are names too: a map of many records has them only under ``(keys)``,
    # where one SSN among a hundred ids was below every share (and spaced, not found at all)
    keys = {k for name, values in sent.items() if name.endswith(KEYS) for k in values}
    names = {*(n.removeprefix("?") for n in sent), *keys}  # (a query's "?": a name's own
    # first character, glued to a value read otherwise: "?5-3-6-9-0-4-3-9-9" is "?536-90-4399")
    found = data_in_names([*names, *(_LETTER_SEPARATOR.sub(" ", n) for n in names)])
    numbers = sorted({part for name, values in sent.items()
                      for part in (*_name_parts(name),
                                   *(values if name.endswith(KEYS) or name == HEADER_NAMES
                                     else ()))
                      if _long_number(part)})
    more = {IN_NAMES: tuple(sorted(found))} if found else {}
    if numbers:
        more[NUMBERS_IN_NAMES] = tuple(numbers)
    return replace(payload, fields=_merged(payload.fields, more)) if more else payload


# a separator beside a letter (``X-Ssn-123-45-6789``: the recognizers' patterns do not take a
# value that a dash joins to a word), read as a space; separators between digits stay
_LETTER_SEPARATOR = re.compile(r"(?<=[^\W\d_])[-_.]|[-_.](?=[^\W\d_])")
NUMBERS_IN_NAMES = "(numbers in field names)"  # keys and names that are long numbers


def _name_parts(name: str) -> list[str]:
    """The parts of a field's name (a path's keys, a query's or a form's name)."""
    return [part.lstrip("?") for part in name.split(".")]


def _long_number(text: str) -> bool:
    """Whether ``text`` is a number longer than a row number (:data:`MAX_ROW_DIGITS`) and not
    an epoch time in seconds or milliseconds (a time series' keys)."""
    digits = text.removeprefix("+")
    return (digits.isdecimal() and digits.isascii() and MAX_ROW_DIGITS < len(digits) <= 19
            and not (len(digits) in (10, 13) and digits[0] == "1" and text == digits))


def _numbers_as_data(numbers: Sequence[str]) -> tuple[ColumnClass | None, tuple[str, ...]]:
    """The class of the long numbers sent as keys or names (``{"123456789": {...}}``,
    ``?14155552671=1``) that a strong value recognizer validates bare (an SSN, a card or
    phone number), the strictest kind found; None when none does. Bare digits are weak as a
    column's values (an id column of nine digits is no SSN column), and they were read as
    such under ``(keys)`` (a name that reads as an identifier): an object keyed by SSNs whose
    values said nothing passed. A number that names a record is data in a name: fail closed.
    With the numbers validated, which are masked wherever a name is shown."""
    if not numbers:
        return None, ()
    best: tuple[int, ColumnClass] | None = None
    validated: set[str] = set()
    for _, recognizer, shaped in _shaped(numbers):
        hits = [v for v, ok in zip(numbers, shaped, strict=True)
                if ok and recognizer._check([v])[1]]
        validated.update(hits)
        if not hits:
            continue
        rank = list(Sensitivity).index(recognizer.sensitivity)
        if best is not None and best[0] >= rank:
            continue
        best = (rank, ColumnClass(
            classification=recognizer.kind, pii_type=recognizer.pii_type,
            sensitivity=recognizer.sensitivity, confidence=0.9, reasoning=(
                f"{len(hits)} of {len(numbers)} numbers sent as keys or field names are "
                f"{recognizer.label} (bare digits: weak as values; as a name that a record is "
                "filed under, data in a name, fail closed)")))
    return (None if best is None else best[1]), tuple(sorted(validated))


OVERFLOW = "(past max_fields)"  # the values and names of the fields past proxy.max_fields


def _capped(payload: Payload, limit: int) -> Payload:
    """``payload`` with at most ``limit`` fields classified each as a column: those whose name
    reads as personal, health or financial data first (and the data found in names,
    :func:`_named`), then the others in the order sent.
    The rest (their values and their names, which can be data: ``?123-45-6789=1``) are read
    as the scan of a long body's rest reads text (:func:`_candidates`: the values each strong
    value recognizer's pattern accepts, as a field of their own), and the payload is unread in
    part (``proxy.unparsed``; fail closed): each column costs the classifier milliseconds, and
    1,500 fields held the proxy's one decision thread for 10 s, the requests behind refused."""
    if len(payload.fields) <= limit:
        return payload
    names = list(payload.fields)
    first = sorted(range(len(names)), key=lambda i: (  # (what was found in names: kept too)
        names[i] not in (IN_NAMES, NUMBERS_IN_NAMES) and not _data_by_name(names[i]), i))[:limit]
    kept = {names[i] for i in first}
    rest = [n for n in names if n not in kept]
    values = {v for n in rest for v in payload.fields[n]} | set(rest)
    pooled = _candidates(tuple(sorted(values)))
    fields = {n: v for n, v in payload.fields.items() if n in kept}
    fields.update({f"{OVERFLOW} {n}": v for n, v in pooled.fields.items()})
    why = (f"{len(rest)} fields past the first {limit} (proxy.max_fields: send fewer fields "
           "per request, or raise it); their values and names were scanned as text, not each "
           "classified")
    return replace(payload, fields=FrozenDict(fields), unreadable=(*payload.unreadable, why))


def _data_by_name(field_name: str) -> bool:
    """Whether ``field_name``'s last part reads as personal, health or financial data by
    name alone (cached per name by the classifier)."""
    from lacuna.classify.heuristic import _by_name, _engine

    kind = _by_name(field_name.rpartition(".")[2].lstrip("?"), _engine().version).classification
    return kind in (ColumnKind.PII, ColumnKind.PHI, ColumnKind.FINANCIAL)


def _suspects(payload: Payload) -> Payload:
    """The fields of ``payload`` worth classifying: decoded content (a file in a header), or
    a value some value recognizer validates (an e-mail in a cookie: its pattern and its check).
    The others (a user agent, an accept list, a session id) cannot be classified by their
    values, and their names are header names, not a table's columns. A host's labels
    (:data:`HOST`) never are: only what they decode to."""
    if HOST in payload.fields:  # a host's labels are ids: what they decode to is kept
        payload = replace(payload, fields=FrozenDict(
            {n: v for n, v in payload.fields.items() if n != HOST}))
    names = [n for n, values in payload.fields.items() for _ in values]
    if not names:
        return payload
    keep = {n for n in payload.fields if DECODED in n}
    keep.update(n for n in payload.fields if _named_data(n))
    values = [v for vs in payload.fields.values() for v in vs]
    validated = _validated(values, [n in keep for n in names])  # (kept ones: not again)
    keep.update(n for n, hit in zip(names, validated, strict=True) if hit)
    # a value a recognizer validates only as decoded or turned (a card written backwards,
    # /cards/1111111111111114) is judged with what was sent beside it: the field as sent
    # (its words say card; the decoded field holds the number alone, which is no card)
    read = {n: payload.fields[n] for n in keep if f".{DECODED}" in n}
    distinct = list(dict.fromkeys(v for vs in read.values() for v in vs))  # (one look at all)
    valid = {v for v, hit in zip(distinct, _validated(distinct, read=False), strict=True) if hit}
    keep.update(n[:n.index(f".{DECODED}")] for n, vs in read.items() if valid.intersection(vs))
    fields = {n: v for n, v in payload.fields.items() if n in keep}
    if (fields and all(DECODED in n for n in fields)
            and sum(len(v) for v in fields.values()) <= FEW_DECODED):
        return replace(payload, fields=FrozenDict(fields))  # a JWT's claims: their own columns
    if fields:  # and the values each recognizer's pattern accepts, as a field of their own: a
        # few e-mails among sixty cookies would be below the recognizer's share in their field
        extra = _candidates(tuple(sorted({v for vs in payload.fields.values() for v in vs})))
        fields.update({f"(headers and path) {n}": v for n, v in extra.fields.items()})
    return replace(payload, fields=FrozenDict(fields))


def _validated(values: list[str], known: list[bool] | None = None, *, read: bool = True
               ) -> list[bool]:
    """For each of ``values``, whether some strong value recognizer validates it whole (its
    pattern and its check: an e-mail, a card number), as written or as classification reads
    it (``read``). ``known``: those already decided (true), which are not checked again."""
    hits = list(known) if known is not None else [False] * len(values)
    if not values:
        return hits
    for _, recognizer, shaped in _shaped(values):
        for i, (value, hit) in enumerate(zip(values, shaped, strict=True)):
            if hit and not hits[i] and recognizer._check([value])[1]:
                hits[i] = True
    if read:  # a value as classification reads it (ana[at]example[dot]com, +44 2O 7946 O958)
        from lacuna.classify.heuristic import read_otherwise

        shown = read_otherwise(v for v, hit in zip(values, hits, strict=True) if not hit)
        if shown:
            found = dict(zip(shown, _validated(list(shown.values()), read=False), strict=True))
            hits = [hit or found.get(v, False) for v, hit in zip(values, hits, strict=True)]
    return hits


def _named_data(field_name: str) -> bool:
    """Whether ``field_name`` is a header whose name says it holds personal, health or
    financial data (``X-Customer-Name``, ``X-Date-Of-Birth``): classified as a column, as the
    same name in a body or a query is; so is a field of a header's JSON value
    (``X-Meta: {"full_name": ...}``). Names of ids and credentials (``X-Request-Id``,
    ``X-Api-Key``) are not: a request's own key is not the data it sends."""
    from lacuna.classify.heuristic import _by_name, _engine

    if not field_name.startswith(HEADER):
        return False
    kind = _by_name(field_name[len(HEADER):], _engine().version).classification
    return kind in (ColumnKind.PII, ColumnKind.PHI, ColumnKind.FINANCIAL)


def _masked_names(found: Classification, config: Config, also: Iterable[str] = ()
                  ) -> Classification:
    """``found`` with each value a strong value recognizer finds and validates in a column's
    name replaced by ``***`` wherever the name is shown (the column, its reasoning and
    evidence, the reasoning): a field's name can be data (``{"ana@example.com": {"plan":
    ...}}`` is field ``ana@example.com.plan``; a form name, a CSV header), classified as sent,
    and data values never enter the audit trail. Columns whose names become one keep the
    stricter class. ``also``: more values to mask (numbers sent as keys that a recognizer
    validates bare, :func:`_numbers_as_data`)."""
    from lacuna.classify.heuristic import data_in_names
    from lacuna.classify.rollup import column_tier

    values = data_in_names(found.columns) | set(also)  # (``also``: bare numbers validated)
    if not values:
        return found
    longest = sorted(values, key=len, reverse=True)

    def mask(text: str) -> str:
        for value in longest:
            text = text.replace(value, MASK)
        return text

    columns: dict[str, ColumnClass] = {}
    for name, column in found.columns.items():
        column = replace(column, reasoning=mask(column.reasoning), evidence=tuple(
            replace(e, detail=mask(e.detail)) for e in column.evidence))
        shown = mask(name)
        if shown not in columns or (column_tier(column, config.classification)
                                    > column_tier(columns[shown], config.classification)):
            columns[shown] = column
    return replace(found, columns=FrozenDict(columns),
                   reasoning=tuple(mask(r) for r in found.reasoning))


def _merged(*parts: Mapping[str, tuple[str, ...]]) -> FrozenDict:
    """Fields of several parts of a request; a name in two (a body's key ``?q`` and the query's
    ``q``) has the values of both: one did not hide the other's."""
    out: dict[str, tuple[str, ...]] = {}
    for part in parts:
        for name, values in part.items():
            out[name] = (*out[name], *values) if name in out else tuple(values)
    return FrozenDict(out)


def _joined(a: Classification, b: Classification, where: str) -> Classification:
    """``a`` and what ``b`` (another part of the same body, ``where``) adds: the stricter
    tier, both sets of tags, ``b``'s columns named by the part they were found in."""
    if b.tier <= a.tier and set(b.tags) <= set(a.tags):
        return a
    top = b if b.tier > a.tier else a
    columns = {**a.columns, **{f"{where}: {k}": v for k, v in b.columns.items()}}
    return replace(top, tags=unique([*a.tags, *b.tags]), columns=FrozenDict(columns),
                   floor=max(a.floor, b.floor),
                   reasoning=(*a.reasoning, *(f"{where}: {r}" for r in b.reasoning)))


_NUMERIC = frozenset("0123456789+-.eE \t\n\r_,infatyINFATY")  # what pandas may read as a number


def _frame(payload: Payload, rows: int = 0) -> pd.DataFrame:
    """``payload``'s fields as columns (counts stay numbers), each padded to the longest one
    as pandas pads columns of different lengths. Built padded, and ``to_numeric`` tried only
    on values that may be numbers: aligning 1,500 one-value columns cost 2.5 s.

    ``rows`` (``classification.sample_rows``): each field cut first to the sample the
    classifier takes of a column of its own length (:func:`lacuna.classify.scan.sample_values`),
    so the frame is at most that long. Padded to the longest field (the ``(keys)`` of 32,000
    keys), the 256 classified fields of a 600 KB body made 8 million cells (3 s), and the
    classifier sampled the padded frame's rows: a field of 500 values beside a longer one was
    read by fewer of them than alone, where all 500 are read."""
    import pandas as pd

    from lacuna.classify.scan import sample_positions

    fields: Mapping[str, Sequence[str]] = payload.fields
    if rows > 0 and any(len(v) > rows for v in fields.values()):
        fields = {name: values if (at := sample_positions(len(values), rows)) is None
                  else [values[int(i)] for i in at] for name, values in fields.items()}
    length = max((len(v) for v in fields.values()), default=0)
    index = pd.RangeIndex(length)
    columns: dict[str, pd.Series] = {}
    for name, values in fields.items():
        if all(_NUMERIC.issuperset(v) for v in values):
            numbers = pd.to_numeric(pd.Series(values, dtype="string"), errors="coerce")
            if not numbers.isna().any():
                columns[name] = numbers.reindex(index) if len(values) < length else numbers
                continue
        padded = [*values, *([None] * (length - len(values)))]
        columns[name] = pd.Series(pd.array(padded, dtype="string"), index=index, copy=False)
    return pd.DataFrame(columns, index=index, copy=False)


def _private_addresses(inferred: Classification, payload: Payload, gov: Governor
                       ) -> Classification:
    """``inferred`` with each field classified as IP addresses whose addresses are all
    private ones (RFC 1918, loopback, link-local, unique-local: :func:`_public`) classified
    again without them: such an address names a host inside a network, not a person outside
    it, as an internal host name does (``{"host": "db.internal.corp"}`` passes); a list of
    them (``["10.0.0.1", "192.168.1.20"]``, a service's inventory) was PII, refused to every
    external host. What else the field holds (``10.0.0.5 Kira Kowalski``) is classified as
    it would be alone; a name that says IP address, with only private ones, says nothing.
    One public address among them, or a value that only looks like an IPv6 one, keeps the
    field as it was (fail closed)."""
    from lacuna.classify.rollup import rollup

    config = gov.config
    redone: dict[str, ColumnClass] = {}
    for name, column in inferred.columns.items():
        values = payload.fields.get(name, ())
        if column.pii_type != "ip_address" or not _only_private(values):
            continue
        rest = tuple(r for v in values if (r := _COLONS.sub(" ", _QUAD_RUN.sub(" ", v)).strip()))
        again = gov.classify_read(None, _frame(Payload(format="json", fields=FrozenDict(
            {name: rest}))))[0].columns.get(name) if rest else None
        if again is None or again.pii_type == "ip_address":  # (a name alone: "ip", "host_ip")
            again = ColumnClass(classification=ColumnKind.PUBLIC, confidence=column.confidence,
                                layer=column.layer, reasoning=(
                                    "every IP address in it is a private one (a host inside a "
                                    "network, not a person: as an internal host name)"))
        redone[name] = again
    if not redone:
        return inferred
    kept = [r for r in inferred.reasoning if "because of column(s)" not in r]
    return rollup({**inferred.columns, **redone}, config.classification, floor=inferred.floor,
                  extra_tags=inferred.table_tags, reasoning=kept, layer=inferred.layer)


# every dotted quad between non-digits, overlapping ones too ("1.2.3.4.5" is "1.2.3.4" and
# "2.3.4.5": a public reading of either keeps the field); a run of IPv6 characters with two
# colons or more
_QUAD = re.compile(r"(?<![0-9])(?=((?:[0-9]{1,3}\.){3}[0-9]{1,3})(?![0-9]))")
_QUAD_RUN = re.compile(r"(?<![0-9])(?:[0-9]{1,3}\.){3}[0-9]{1,3}(?![0-9])")  # (taken out)
_COLONS = re.compile(r"[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*")
_PRIVATE_READ = 256  # values read for addresses; a field with more keeps its class


def _only_private(values: Sequence[str]) -> bool:
    """Whether ``values`` hold an IP address, and every one they hold is private."""
    if not values or len(values) > _PRIVATE_READ:
        return False
    seen = False
    for value in values:
        for m in _QUAD.finditer(value):
            try:
                address = ipaddress.IPv4Address(m.group(1))
            except ValueError:
                continue
            if _public(str(address)):
                return False
            seen = True
        for m in _COLONS.finditer(value):
            try:
                address6 = ipaddress.IPv6Address(m.group().rstrip("."))
            except ValueError:
                return False  # (an address with a port, a MAC, a time: not told apart here)
            if _public(str(address6)):
                return False
            seen = True
    return seen


def _public(address: str) -> bool:
    """Whether ``address`` is a public (globally routed) one; an IPv4 address written as IPv6
    (``::ffff:8.8.8.8``, which connects to 8.8.8.8) is judged as the IPv4 one, a Teredo one
    (``2001:0::/32``, a tunnel to a public host) is public; what does not parse counts as
    public (fail closed)."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])  # (an IPv6 zone: fe80::1%eth0)
    except ValueError:
        return True
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.teredo is not None:  # a tunnel to a public IPv4 host (Python: not global)
            return True
        if ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
    return ip.is_global


def _destination(url: str) -> str:
    """``scheme://host[:port]/path``: the query is data (inspected), not the destination; the
    userinfo is not sent (``Host`` is the rest of the authority) and not shown. Only the path
    is redacted: redacting the whole URL read ``https://u:pw@evil.com/x@partner.com`` as
    ``https://u:***@partner.com``, a decision for a host the proxy does not connect to."""
    parts = urlsplit(url)
    authority = parts.netloc.rpartition("@")[2]
    return f"{parts.scheme}://{authority}{redact_url(parts.path or '/')}"


def _shown(dest: Destination) -> Destination:
    """``dest`` as it is decided and recorded: with the data values in its path masked
    (:func:`_masked_path`), and in its host name (:func:`_masked_host`). Matched against
    ``destinations`` unmasked (a root may name an id)."""
    parts = urlsplit(dest.uri)
    masked = _masked_path(parts.path)
    host = _host(dest.uri)
    hidden = _masked_host(host)
    if masked == parts.path and hidden == host:
        return dest
    netloc = parts.netloc if hidden == host else hidden + parts.netloc[len(host):]
    uri = parts._replace(netloc=netloc, path=masked).geturl()
    reasoning = dest.reasoning.replace(dest.uri, uri)
    if hidden != host:  # (a note may name the host: lower-cased, as resolved)
        reasoning = re.sub(re.escape(host), hidden, reasoning, flags=re.IGNORECASE)
    return replace(dest, uri=uri, path=dest.path and _masked_path(dest.path),
                   reasoning=reasoning)


def _masked_host(host: str) -> str:
    """``host`` with each label that decodes to a value a value recognizer validates replaced
    by ``***``, or, when only they together do (joined, an e-mail spelled with a label ``at``:
    :func:`read_host`), the labels under its registered domain: the name is inspected as data
    (a request so named is refused), and data values never enter the audit trail or a log
    line."""
    if not _holds_value(host):
        return host
    labels = host.split(".")
    shown = [MASK if label and _holds_value(label) else label for label in labels]
    if shown == labels:
        shown = [MASK, *labels[-2:]] if len(labels) > 2 else [MASK]
    return ".".join(shown)


def _holds_value(host: str) -> bool:
    """Whether what ``host`` decodes to holds a value a value recognizer validates."""
    values = [v for name, found in read_host(host).items() if DECODED in name for v in found]
    return bool(values) and any(_validated(values))


def _masked_path(path: str) -> str:
    """``path`` with each segment that holds a value a value recognizer validates replaced by
    ``***``: the segment itself (``/u/ana@example.com``), one of its tokens
    (``/u/ana@example.com;v=1``, ``/u/mailto:ana@example.com``) or what it decodes to (base64
    of an e-mail): the path is inspected as data, and data values never enter the audit trail
    or a log line (the destination is matched and recorded without them)."""
    segments = path.split("/")
    decoded = [unquote(s) for s in segments]
    values = [segment_values(d) if d else () for d in decoded]
    # an encoded value cut into pieces over segments (/YW5h/LnNp/...): its pieces are masked
    tokens, pieces = joined_pieces([d for d in decoded if d])
    hits = iter(_validated([*(v for vs in values for v in vs), *tokens]))
    flags = [any([next(hits) for _ in vs]) for vs in values]  # (a list: every hit is read)
    if any(list(hits)):  # (the joined tokens' hits)
        piece = iter(pieces)
        flags = [(next(piece) if d else False) or flag
                 for d, flag in zip(decoded, flags, strict=True)]
    return "/".join(MASK if flag else s for s, flag in zip(segments, flags, strict=True))


def _host(url: str) -> str:
    """``url``'s host name as sent (``hostname`` is lower-cased: base64url labels are not)."""
    netloc = urlsplit(url).netloc.rpartition("@")[2]
    if netloc.startswith("["):
        return netloc[1:].partition("]")[0]
    return netloc.rpartition(":")[0] if ":" in netloc else netloc


def _redacted(url: str) -> str:
    from lacuna.destinations import redact

    return redact(_shown(Destination(uri=_destination(url), type=DestinationType.HTTP,
                                     scope=Scope.EXTERNAL)).uri)


def _unique_sources(sources: list[Source]) -> list[Source]:
    seen: set[str] = set()
    out = []
    for s in sources:
        if s.name not in seen:
            seen.add(s.name)
            out.append(s)
    return out
