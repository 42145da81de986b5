"""The audit record: its JSON body (who, what, when, why, how, decision) and its hash link.

A record's body is canonical JSON (sorted keys, no whitespace, UTF-8), so anyone can recompute
``hash = sha256(prev_hash + body)`` with nothing but the stored text. The body never contains data
values: only names (users, datasets, columns), classes, tags and the decision.

Body, ``schema_version`` "1"::

    {"schema_version": "1", "id": ..., "seq": 7, "operation_id": ...,
     "who":  {"user_id", "role", "session",
              "host", "host_verified" (only from a server's client that named its host:
              host_verified false when the server took the host on the client's word)},
     "what": {"action", "sources", "destination", "environment", "tier", "tags",
              "columns": {"<column>": "<class>[:<pii_type>]", ...}, "column_count",
              "tier_assumed" (only on a fail-closed denial: why the tier is assumed)},
     "when": "2026-01-20T14:00:00.000000+00:00", "recorded_at": "<same format>",
     "why":  {"purpose", "exception_id", "exception_approved"},
     "how":  {"method", "code_location"},
     "decision": {"allowed", "policy_id", "policy_title", "reasoning", "steward",
                  "alternatives", "policies", "engine_error", "bundle_revision",
                  "config_revision", "eval_ms"}}

``config_revision`` (see :mod:`lacuna.audit.configuration`) is the revision of the
``lacuna.yaml`` settings the decision was made under, or null when the store that appended it
had recorded no configuration (a trail written by the Python API with a store of its own).

An *outcome* record follows a decision once the operation has run (``Governor.execute``). It
repeats the decision's ``who``, ``what.action``/``destination`` and ``decision.allowed``/
``policy_id`` (so the indexed columns and ``verify`` work unchanged) and adds::

     "kind": "outcome",
     "outcome": {"of": "<the decision record's id>", "status": "succeeded" | "failed",
                 "error_type": "FileNotFoundError" | null, "error": "<message>" | null}

``when`` is the moment the operation finished. A decision record without an outcome record is
an operation that was allowed to start and never reported back (the process died while it ran).
The error message is the exception's first line (for ``OSError``: errno, reason and file name),
cut to 300 characters once credentials in it (a URL's password or token) are masked; no data
values are put there by Lacuna.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from lacuna.model import ColumnKind, Decision, Operation, Provenance, utcnow
from lacuna.redact import redact_name, redact_text

RECORD_SCHEMA_VERSION = "1"
GENESIS_HASH = "0" * 64  # the prev_hash of the first record


def iso(ts: datetime) -> str:
    """A UTC timestamp in one fixed format, so stored strings sort like the instants they name."""
    if ts.tzinfo is UTC:  # the usual case (utcnow()): nothing to convert
        return ts.isoformat(timespec="microseconds")
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=UTC)
    try:
        return ts.astimezone(UTC).isoformat(timespec="microseconds")
    except OverflowError:  # before year 1 or after 9999 in UTC (a search's 0001-01-01T00:00+01:00)
        edge = datetime.min if ts.year == 1 else datetime.max  # sorts as that instant would
        return edge.replace(tzinfo=UTC).isoformat(timespec="microseconds")


def parse_when(when: object) -> datetime | None:
    """A body's ``when`` as an aware instant (a time without an offset is UTC, as :func:`iso`
    takes one), or None when it is not an ISO-8601 time. Lacuna writes UTC itself, but a body
    from another writer may spell the same instant with any offset (``23:30-05:00``)."""
    if not isinstance(when, str):
        return None
    try:
        instant = datetime.fromisoformat(when)
    except ValueError:
        return None
    return instant.replace(tzinfo=UTC) if instant.tzinfo is None else instant


def column_time(when: object) -> str | None:
    """The ``timestamp`` column's text for a body's ``when``: its instant in :func:`iso`'s UTC
    form, so the column sorts (and ``list(since=, until=)`` compares) by instant whatever
    offset the body spells it with; None when ``when`` is not an ISO-8601 time. The body keeps
    the spelling it was given (it is what is hashed)."""
    instant = parse_when(when)
    return None if instant is None else iso(instant)


def canonical_json(body: Mapping[str, Any], *, plain: bool = False) -> str:
    """Sorted keys, no whitespace, non-ASCII kept as UTF-8: the exact text that is hashed.

    ``plain``: the caller vouches that ``body`` holds only ``str`` keys and ``str``, ``int``,
    ``bool``, ``None``, lists, dicts and floats that :func:`plain_float` accepts (a decision
    body from :func:`build_body`). Such a body is written by ``orjson``, which gives the same
    bytes as ``json`` for it (``tests/audit/test_audit_record.py`` checks this) in a fifth of
    the time; anything it would not write the same way (a ``str`` subclass, a huge int) falls
    back to ``json``.

    A lone surrogate (a file name that is not UTF-8, as ``os`` decodes it: ``bad\\udcff.csv``)
    is written as its ``\\uXXXX`` escape, so the text is UTF-8 and reads back as the same
    ``str``; no other text changes (such a body could not be written before).
    """
    if plain:
        try:
            return orjson.dumps(body, option=ORJSON_CANONICAL).decode("utf-8")
        except TypeError:  # orjson.JSONEncodeError: a type it writes another way, or refuses
            pass
    return escape_surrogates(
        json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False))


# json.dumps(ensure_ascii=False) leaves a lone surrogate as it is, and UTF-8 cannot encode it;
# outside string literals the JSON text has none
_SURROGATE = re.compile("[\ud800-\udfff]")


def escape_surrogates(text: str) -> str:
    """``text`` with each lone surrogate (a file name that is not UTF-8, as ``os`` decodes
    it: ``bad\\udcff.csv``) written as its ``\\uXXXX`` escape, so it can be stored as UTF-8;
    any other text unchanged (and returned as it is when it is ASCII)."""
    if text.isascii():
        return text
    return _SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


# orjson's options for canonical text: sorted keys, and every type it would write another way
# than ``json`` passed to ``default`` (or refused) instead.
ORJSON_CANONICAL = (orjson.OPT_SORT_KEYS | orjson.OPT_PASSTHROUGH_SUBCLASS
                    | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS)


def plain_float(value: float) -> bool:
    """Whether ``json`` and ``orjson`` write ``value`` alike: finite, and 0 or at least 1e-4 in
    magnitude (below that ``json`` writes ``1e-05`` where ``orjson`` writes ``0.00001``)."""
    return math.isfinite(value) and (value == 0 or abs(value) >= 1e-4)


def chain_hash(prev_hash: str, body: str) -> str:
    """``sha256(prev_hash + body)`` as hex: each record commits to the whole chain before it."""
    return hashlib.sha256((prev_hash + body).encode("utf-8")).hexdigest()


def link_payload(chain: str, seq: int, digest: str) -> str:
    """What a record's signature covers: its chain, position and hash (which covers its body
    and, through ``prev_hash``, every record before it)."""
    return f"lacuna-{chain}:{seq}:{digest}"


OPERATION_ID_INDEXED = 255  # the longest operation id the ``operation_id`` column holds


def indexed_operation_id(body: Mapping[str, Any]) -> str | None:
    """What a record's ``operation_id`` column holds (audit layout 3): the body's
    ``operation_id`` when the record is a decision (no ``kind``: not an outcome or an event)
    and the id is a string of at most :data:`OPERATION_ID_INDEXED` characters; else None.

    The one rule of :meth:`AuditStore.of_operation <lacuna.audit.store.AuditStore.of_operation>`
    (which record is "the decision of operation X"), of the append, of the migration that fills
    the column in, and of ``verify``'s check that the column equals its body. The column is
    derived from the hashed body, never hashed or signed itself. A longer id (only the Python
    API makes one; the server's are at most 64) is looked up by scanning the bodies instead.
    """
    if "kind" in body:
        return None
    value = body.get("operation_id")
    if isinstance(value, str) and len(value) <= OPERATION_ID_INDEXED:
        return value
    return None


def _column_summary(operation: Operation) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, col in operation.classification.columns.items():
        if col.classification is ColumnKind.PUBLIC:
            continue
        label = col.classification.value
        out[str(name)] = f"{label}:{col.pii_type}" if col.pii_type else label
    return out


def build_body(
    decision: Decision,
    operation: Operation,
    *,
    session: str,
    record_id: str,
    seq: int,
    recorded_at: datetime | str,
    config_revision: str | None = None,
) -> dict[str, Any]:
    """The provenance and decision of one governed operation, as the audit record's body.
    ``recorded_at`` may be given as :func:`iso` text already (a group of records appended
    together shares it); ``config_revision``: the configuration it was decided under
    (:mod:`lacuna.audit.configuration`), None when the store recorded none."""
    p = Provenance.of(operation, session=session)
    return {
        "schema_version": RECORD_SCHEMA_VERSION,
        "id": record_id,
        "seq": seq,
        "operation_id": operation.id,
        "who": {"user_id": p.user_id, "role": p.role, "session": p.session,
                # a server client's host, and whether the server vouches for it
                **({"host": operation.client_host, "host_verified": operation.host_verified}
                   if operation.client_host is not None else {})},
        "what": {
            "action": p.action,
            "sources": list(p.sources),
            "destination": p.destination,
            "environment": operation.environment,
            "tier": p.tier,
            "tags": list(p.tags),
            "columns": _column_summary(operation),
            "column_count": len(operation.classification.columns),
            # a fail-closed denial's tier is a guess, not what the data was found to be
            **({"tier_assumed": operation.classification.assumed}
               if operation.classification.assumed else {}),
        },
        "when": iso(p.timestamp),
        "recorded_at": recorded_at if isinstance(recorded_at, str) else iso(recorded_at),
        "why": {"purpose": p.purpose, "exception_id": operation.exception_id,
                "exception_approved": decision.exception_approved},
        "how": {"method": p.method, "code_location": p.code_location},
        "decision": {
            "allowed": decision.allowed,
            "policy_id": decision.policy_id,
            "policy_title": decision.policy_title,
            "reasoning": redact_text(decision.reasoning),  # may quote what failed
            "steward": decision.steward,
            "alternatives": [a.title for a in decision.alternatives],
            "policies": [
                {"package": r.package, "id": r.id, "effect": r.effect} for r in decision.policies
            ],
            "engine_error": (None if decision.engine_error is None
                             else redact_text(decision.engine_error)),
            "bundle_revision": decision.bundle_revision,
            "config_revision": config_revision,
            "eval_ms": round(float(decision.eval_ms), 3),
        },
    }


OUTCOME = "outcome"
ERROR_CHARS = 300


def _error_text(error: BaseException) -> str:
    """The error's first line (an ``OSError``: errno, reason, file name), credentials masked
    (:func:`lacuna.redact.redact_text`: a driver's or HTTP client's message may carry a URL's
    password or token) before it is cut to :data:`ERROR_CHARS`, so no part of one is kept."""
    if isinstance(error, OSError) and error.strerror:
        name = f": {error.filename}" if error.filename is not None else ""
        text = f"[Errno {error.errno}] {error.strerror}{name}"
    else:
        lines = str(error).strip().splitlines()
        text = lines[0] if lines else ""
    return redact_text(text)[:ERROR_CHARS]


# What events keep of what people and other programs wrote (a purpose, a justification, a
# comment, an error's message), in ``why`` and ``detail``: masked as error messages are
# (redact_text). Other values (ids, and the paths the sweep and retention find files by) are
# kept as written; a ``destination`` and ``sources`` are masked as a decision's are.
FREE_TEXT = frozenset({"purpose", "business_justification", "conditions", "comment", "reason",
                       "error", "refused"})


def event_body(kind: str, *, user: Any, session: str, what: Mapping[str, Any],
               reasoning: str, allowed: bool = True, policy_id: str | None = None,
               why: Mapping[str, Any] | None = None,
               detail: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The body of an audit event that is not a policy decision (``AuditStore.record_event``
    fills in ``id`` and ``seq``): ``user`` (a ``UserConfig``, or a ``(user id, role)`` pair)
    in ``session`` did ``what`` (its ``action``, ``event``, ``destination`` None unless given),
    now; the decision it stands for; and ``detail`` under the key ``kind``. Credentials in
    free text (:data:`FREE_TEXT`, the reasoning) and in names are masked."""
    user_id, role = user if isinstance(user, tuple) else (user.id, user.role)
    now = iso(utcnow())
    body: dict[str, Any] = {
        "schema_version": RECORD_SCHEMA_VERSION, "kind": kind,
        "who": {"user_id": user_id, "role": role, "session": session},
        "what": _masked({"destination": None, **what}),
        "when": now, "recorded_at": now, "why": _masked(why or {}),
        "decision": {"allowed": allowed, "policy_id": policy_id,
                     "reasoning": redact_text(reasoning)},
    }
    if detail is not None:
        body[kind] = _masked(detail)
    return body


def _masked(part: Mapping[str, Any]) -> dict[str, Any]:
    """``part`` with its :data:`FREE_TEXT` values masked (:func:`lacuna.redact.redact_text`)
    and its ``destination`` and ``sources`` masked as a decision's names are
    (:func:`lacuna.redact.redact_name`), strings and lists of strings alike."""
    out = dict(part)
    for key, value in part.items():
        mask = (redact_text if key in FREE_TEXT else
                redact_name if key in ("destination", "sources") else None)
        if mask is None:
            continue
        if isinstance(value, str):
            out[key] = mask(value)
        elif isinstance(value, list | tuple):
            out[key] = [mask(v) if isinstance(v, str) else v for v in value]
    return out


def build_outcome_body(
    decision: Decision,
    operation: Operation,
    *,
    session: str,
    record_id: str,
    of: str,
    error: BaseException | None,
    finished_at: datetime,
    config_revision: str | None = None,
    mode: str | None = None,
) -> dict[str, Any]:
    """The body of the record that says how the operation decided in record ``of`` ended.
    ``mode``: for a denied operation that ran, the mode it ran in (``warn``, ``observe``),
    kept as ``outcome.mode`` (absent otherwise)."""
    p = Provenance.of(operation, session=session)
    body: dict[str, Any] = {
        "schema_version": RECORD_SCHEMA_VERSION,
        "kind": OUTCOME,
        "id": record_id,
        "seq": 0,
        "operation_id": operation.id,
        "who": {"user_id": p.user_id, "role": p.role, "session": p.session},
        "what": {"action": p.action, "destination": p.destination},
        "when": iso(finished_at),
        "recorded_at": iso(finished_at),
        "how": {"method": p.method, "code_location": p.code_location},
        "decision": {"allowed": decision.allowed, "policy_id": decision.policy_id,
                     "config_revision": config_revision},
        "outcome": {
            "of": of,
            "status": "succeeded" if error is None else "failed",
            "error_type": None if error is None else type(error).__name__,
            "error": None if error is None else _error_text(error),
        },
    }
    if mode is not None:
        body["outcome"]["mode"] = mode
    return body


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditRecord:
    """One appended decision, as stored: the indexed fields, the body text and its hash link."""

    seq: int
    id: str
    timestamp: datetime  # when the operation happened (UTC)
    user_id: str
    action: str
    allowed: bool
    policy_id: str | None
    body: str  # canonical JSON; ``data`` parses it
    prev_hash: str
    hash: str

    @property
    def data(self) -> dict[str, Any]:
        """The parsed body; ``{}`` if it is not valid JSON, or nested too deep to parse
        (``verify()`` reports that)."""
        try:
            value = json.loads(self.body)
        except (ValueError, RecursionError):
            return {}
        return value if isinstance(value, dict) else {}

    def _field(self, part: str, name: str) -> str | None:
        section = self.data.get(part)
        value = section.get(name) if isinstance(section, dict) else None
        return None if value is None else str(value)

    @property
    def destination(self) -> str | None:
        return self._field("what", "destination")

    @property
    def tier(self) -> str | None:
        return self._field("what", "tier")

    @property
    def tier_assumed(self) -> str | None:
        """Why ``tier`` was assumed (a fail-closed denial of data of unknown class), or None."""
        return self._field("what", "tier_assumed")

    @property
    def policy_title(self) -> str | None:
        return self._field("decision", "policy_title")

    @property
    def reasoning(self) -> str:
        return self._field("decision", "reasoning") or ""

    @property
    def kind(self) -> str:
        """``decision`` (the policy's answer, before the operation), ``outcome`` (after), or
        the kind of an event that is no operation (``config``, ``exception``, ``identity``,
        ``retention``, ``lineage``, ...: its body's ``kind``). Events were ``decision`` here
        before, which counted a user's creation or a configuration as a decision."""
        kind = self.data.get("kind")
        return "decision" if kind is None else str(kind)

    @property
    def outcome_of(self) -> str | None:
        """For an outcome record: the id of the decision record it completes."""
        return self._field("outcome", "of")

    @property
    def status(self) -> str | None:
        """For an outcome record: ``succeeded`` or ``failed``."""
        return self._field("outcome", "status")

    @property
    def error(self) -> str | None:
        """For a failed outcome: ``ErrorType: message``."""
        kind, text = self._field("outcome", "error_type"), self._field("outcome", "error")
        if kind is None:
            return None
        return f"{kind}: {text}" if text else kind

    def to_dict(self) -> dict[str, Any]:
        """The body plus the chain fields: what ``lacuna audit list --json`` prints."""
        return {**self.data, "seq": self.seq, "prev_hash": self.prev_hash, "hash": self.hash}


@dataclass(frozen=True, slots=True, kw_only=True)
class VerifyReport:
    """The outcome of recomputing the hash chain.

    ``head`` is the hash of the last intact record. ``checkpoint`` names the signed checkpoint
    the trail was compared with (see :mod:`lacuna.audit.checkpoint`).
    """

    ok: bool
    checked: int
    first_bad: int | None = None
    problem: str = ""
    head: str = GENESIS_HASH
    checkpoint: str = ""  # what the trail was compared with, e.g. "checkpoint #41 at ..."

    def __bool__(self) -> bool:
        return self.ok
