"""What the audit trail says about governed files, for retention.

Only intact records count (:func:`lacuna.audit.verify.intact_records`: the body matches its
hash and signature, says its ``seq`` and links to the record before it; an edited or forged
record is named by ``lacuna audit verify``), read in the trail's order, once per plan. A
record deleted from the trail leaves nothing to skip, so the whole trail is verified first
(``AuditStore.verify``): when it does not verify, ``Evidence.problem`` says why, and what the
trail would have said is not known (the plan keeps nothing silently then:
:func:`lacuna.retention.plan.against_record`).


- **When data was first seen.** A governed write (a decision record of a ``write`` or
  ``export`` allowed to a local destination) starts the clock of its destination; writing the
  same path again keeps the earlier clock (re-saving, or copying data over it, does not restart
  it). A write also takes the clock of the data its session read before it (a ``read`` record
  naming a path whose clock is known) at a tier no higher than the write's: a copy or a
  derivation is as old as the oldest such data read in its session. Classification follows
  lineage, so a copy is never below its source's tier; what is written below it (a projection
  to public columns, an anonymized extract) is new data with its own clock. Coarse, and on
  purpose: a session that read old data and then writes unrelated data at that tier or above
  gives it the old clock too (it is due sooner, never later). A path's clock ends when
  retention records that it deleted or archived it (a ``failed`` record after it puts it
  back). The rule for which clock a write takes is :mod:`lacuna.lineage.clock`'s, the one a
  governed write applies to the lineage of what it writes and carries in its signed sidecar
  and sealed header (``first_seen``), which :mod:`.inventory` reads.
- **What retention decided before.** The decisions ``apply`` recorded for each path since it was
  last deleted or archived: the latest (its rule, to report a changed rule) and the one with the
  earliest due date (a file already due under a recorded rule stays in the plan).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from lacuna.errors import LacunaError
from lacuna.lineage.clock import takes
from lacuna.model import Tier

if TYPE_CHECKING:
    from lacuna.audit.store import AuditStore

KIND = "retention"
WRITES = ("write", "export")
DECISIONS = ("kept", "held", "error", "review")  # apply's records of an item it left in place


@dataclass(frozen=True, slots=True)
class Seen:
    """When the data at a path was first seen on the trail, and how."""

    at: datetime
    how: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Recorded:
    """A retention decision ``apply`` recorded for a path."""

    rule: str
    policy_id: str | None
    due_at: datetime | None
    as_of: datetime
    event: str

    def to_dict(self) -> dict[str, Any]:
        return {"rule": self.rule, "policy_id": self.policy_id, "event": self.event,
                "due_at": self.due_at.isoformat() if self.due_at else None,
                "as_of": self.as_of.isoformat()}


@dataclass(slots=True)
class Evidence:
    """What the trail says, by resolved path."""

    seen: dict[str, Seen] = field(default_factory=dict)
    last: dict[str, Recorded] = field(default_factory=dict)
    earliest_due: dict[str, Recorded] = field(default_factory=dict)
    problem: str | None = None  # why the trail does not verify (None: it does)
    keys: dict[str, str] = field(default_factory=dict)  # path -> key(path), for one plan

    def key(self, path: str) -> str:
        """:func:`key`, once per path in a plan (the trail names the same paths many times)."""
        found = self.keys.get(path)
        if found is None:
            found = self.keys[path] = key(path)
        return found

    def first_seen(self, path: str) -> Seen | None:
        """The earliest clock of ``path`` or a folder above it (data written to a folder is
        the data of the files in it)."""
        here, found = self.key(path), None
        while True:
            s = self.seen.get(here)
            if s is not None and (found is None or s.at < found.at):
                found = s
            parent = os.path.dirname(here)
            if parent == here:
                return found
            here = parent

    def recorded(self, path: str) -> tuple[Recorded | None, Recorded | None]:
        """``(latest, earliest due)`` decision recorded for ``path``."""
        k = self.key(path)
        return self.last.get(k), self.earliest_due.get(k)


def key(path: str) -> str:
    """A local path as the trail's paths are compared: absolute, links resolved."""
    return os.path.realpath(os.path.abspath(os.path.expanduser(path)))


def _local(name: Any) -> bool:
    return isinstance(name, str) and bool(name) and "://" not in name


def _when(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        return None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def _tier(value: Any, default: Tier) -> Tier:
    try:
        return Tier.parse(value) if value else default
    except (LacunaError, ValueError, TypeError):
        return default


def read_trail(store: AuditStore) -> Evidence:
    """One pass over the verified records of the trail (see the module docstring)."""
    from sqlalchemy import select

    from lacuna.audit.schema import records
    from lacuna.audit.verify import intact_records, record_columns

    stmt = (select(*record_columns())
            .where(records.c.action.in_(("read", *WRITES, KIND)))
            .order_by(records.c.seq))
    report = store.verify()
    with store.snapshot() as conn:  # an edited or forged record: `lacuna audit verify` names it
        rows = intact_records(conn, conn.execute(stmt).all(), store.keyring)
    out = Evidence(problem=None if report.ok else (
        f"record #{report.first_bad}: {report.problem}" if report.first_bad is not None
        else report.problem or "it does not verify"))
    oldest_read: dict[str, dict[Tier, Seen]] = {}  # session -> tier -> the oldest data read
    ended: dict[str, tuple[Seen | None, Recorded | None, Recorded | None]] = {}
    for row in rows:
        try:
            body = json.loads(row.body)
            what, when = body["what"], _when(body["when"])
            kind = body.get("kind")
            session = str(body["who"].get("session"))
            allowed = body["decision"]["allowed"] is True
        except (ValueError, KeyError, TypeError, AttributeError):
            continue
        if when is None:
            continue
        if kind == KIND:
            _retention_event(out, ended, what, body.get(KIND), when)
        elif kind is None and allowed and what.get("action") == "read":
            tier = _tier(what.get("tier"), Tier.PUBLIC)  # not said: every write takes it
            by_tier = oldest_read.setdefault(session, {})
            for source in what.get("sources") or ():
                seen = out.first_seen(source) if _local(source) else None
                if seen is not None and (tier not in by_tier or seen.at < by_tier[tier].at):
                    by_tier[tier] = Seen(seen.at, f"{source} ({tier}), first seen "
                                         f"{seen.at:%Y-%m-%d}")
        elif kind is None and allowed and what.get("action") in WRITES:
            destination = what.get("destination")
            if not _local(destination):
                continue
            k = out.key(destination)
            candidates = [Seen(when, f"first written at this path on {when:%Y-%m-%d}")]
            if k in out.seen:
                candidates.append(out.seen[k])
            tier = _tier(what.get("tier"), Tier.PROPRIETARY)  # not said: takes every read
            for read_tier, read in oldest_read.get(session, {}).items():
                if takes(read_tier, tier):
                    candidates.append(Seen(read.at, f"written on {when:%Y-%m-%d} in a session "
                                           f"that had read {read.how}"))
            out.seen[k] = min(candidates, key=lambda s: s.at)
    return out


def _retention_event(out: Evidence, ended: dict[str, tuple[Seen | None, Recorded | None,
                                                             Recorded | None]],
                     what: dict[str, Any], detail: Any, when: datetime) -> None:
    event, dataset = what.get("event"), what.get("dataset")
    if not isinstance(dataset, str) or not _local(dataset) or not isinstance(detail, dict):
        return
    k = out.key(dataset)
    if event in ("deleted", "archived"):  # recorded before the file is touched
        ended[k] = (out.seen.pop(k, None), out.last.pop(k, None), out.earliest_due.pop(k, None))
    elif event == "failed" and k in ended:  # it was not deleted after all
        seen, last, due = ended.pop(k)
        if seen is not None:
            out.seen[k] = seen
        if last is not None:
            out.last[k] = last
        if due is not None:
            out.earliest_due[k] = due
    elif event in DECISIONS and detail.get("kind") == "file":
        as_of = _when(detail.get("as_of")) or when
        recorded = Recorded(rule=str(detail.get("rule")), policy_id=detail.get("policy_id"),
                            due_at=_when(detail.get("due_at")), as_of=as_of, event=str(event))
        out.last[k] = recorded
        first = out.earliest_due.get(k)
        if recorded.due_at is not None and (first is None or first.due_at is None
                                            or recorded.due_at < first.due_at):
            out.earliest_due[k] = recorded


__all__ = ["Evidence", "Recorded", "Seen", "key", "read_trail"]
