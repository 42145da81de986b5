"""Incremental rollups of the audit trail, kept in the same transaction as each append, so the
metrics of a period read a few thousand counter rows instead of millions of records.

Per UTC hour and role (the user group): decisions, denials, resolved denials and their minutes,
workaround attempts (``lacuna_metrics_hourly``); the assets named, and whether a policy
evaluated them (``lacuna_metrics_assets``). Resolutions and workarounds need the user's recent
denials: those of the last hour are kept in ``lacuna_metrics_recent`` (one index lookup per
append). The definitions are :mod:`lacuna.metrics.compute`'s, applied as records arrive:

* a resolution is counted in the hour of its denial, and a workaround in its own hour;
* records are taken in the order they are appended (the exact path sorts by time): a record
  appended with an older timestamp than its user's previous ones is counted, but not matched
  with them.

The rollups are complete when ``lacuna_metrics_rollup.from_seq`` is 0: a trail created with
them, or rebuilt by :func:`rebuild` (``lacuna metrics rebuild``). A trail that had records
before this module starts its rollups at its head and is read the exact way until rebuilt.
"""

from __future__ import annotations

import functools
import json
import sqlite3
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from importlib import import_module
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    Column,
    Connection,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    insert,
    inspect,
    select,
    text,
)
from sqlalchemy.exc import SQLAlchemyError

from lacuna.audit.record import iso
from lacuna.metrics import compute
from lacuna.metrics.facts import DecisionFact

if TYPE_CHECKING:
    from lacuna.audit.store import AuditStore

metadata = MetaData()
hourly = Table(
    "lacuna_metrics_hourly", metadata,
    Column("hour", String(13), primary_key=True),  # 2026-11-03T09 (UTC)
    Column("role", String(255), primary_key=True),
    Column("decisions", Integer, nullable=False, default=0),
    Column("denials", Integer, nullable=False, default=0),
    Column("resolved", Integer, nullable=False, default=0),
    Column("resolution_minutes", Float, nullable=False, default=0.0),
    Column("workarounds", Integer, nullable=False, default=0),
)
assets = Table(
    "lacuna_metrics_assets", metadata,
    Column("hour", String(13), primary_key=True),
    Column("role", String(255), primary_key=True),
    Column("asset", String(1000), primary_key=True),
    Column("covered", Integer, nullable=False, default=0),
    Index("ix_lacuna_metrics_assets_asset", "asset", "hour", "role", "covered"),  # covering
)
recent = Table(
    "lacuna_metrics_recent", metadata,
    Column("record_id", String(32), primary_key=True),
    Column("user_id", String(255), nullable=False),
    Column("at", String(40), nullable=False),
    Column("fact", Text, nullable=False),  # the denial, as JSON
    Column("resolved", Integer, nullable=False, default=0),
    Index("ix_lacuna_metrics_recent_user_at", "user_id", "at"),
)
state = Table(
    "lacuna_metrics_rollup", metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("from_seq", Integer, nullable=False),  # records after this seq are rolled up
)

WINDOW = max(compute.RESOLUTION_WINDOW, compute.WORKAROUND_WINDOW)


def hour_of(when: str) -> str:
    return when[:13]


def fact_from_body(body: Mapping[str, Any]) -> DecisionFact:
    """A decision record's body as the metrics see it (what :func:`facts.decision` gives)."""
    def section(name: str) -> Mapping[str, Any]:
        value = body.get(name)
        return value if isinstance(value, Mapping) else {}

    who, what, dec = section("who"), section("what"), section("decision")
    policies = dec.get("policies") or []
    return DecisionFact(
        record_id=str(body["id"]), operation_id=str(body.get("operation_id") or body["id"]),
        when=datetime.fromisoformat(str(body["when"])), user=str(who.get("user_id") or ""),
        role=str(who.get("role") or ""), action=str(what.get("action") or ""),
        sources=tuple(str(s) for s in what.get("sources") or ()),
        destination=what.get("destination"), tier=what.get("tier"),
        allowed=bool(dec.get("allowed")), policy_id=dec.get("policy_id"),
        packages=tuple(str(p.get("package")) for p in policies if isinstance(p, dict)),
        policy_ids=tuple(str(p.get("id")) for p in policies
                         if isinstance(p, dict) and p.get("id")),
        columns=tuple(str(c) for c in (what.get("columns") or {})),
        engine_error=dec.get("engine_error"),
        exception_id=section("why").get("exception_id"))


def _dump(d: DecisionFact) -> str:
    return json.dumps({"id": d.record_id, "when": iso(d.when), "user": d.user,
                       "role": d.role, "action": d.action, "sources": list(d.sources),
                       "destination": d.destination})


@functools.lru_cache(maxsize=4096)
def _load(raw: str) -> DecisionFact:  # facts are frozen: one parse per stored denial
    v = json.loads(raw)
    return DecisionFact(record_id=v["id"], operation_id=v["id"],
                        when=datetime.fromisoformat(v["when"]), user=v["user"], role=v["role"],
                        action=v["action"], sources=tuple(v["sources"]),
                        destination=v["destination"], tier=None, allowed=False, policy_id=None,
                        packages=(), policy_ids=(), columns=(), engine_error=None,
                        exception_id=None)


@dataclass(frozen=True, slots=True)
class Delta:
    """What one decision changes in the rollups."""

    hour: str
    role: str
    denied: bool
    workaround: bool
    assets: tuple[tuple[str, bool], ...]
    resolves: tuple[tuple[DecisionFact, float], ...]  # (denial, minutes)
    keep: bool  # a denial to remember for the next hour


def delta(d: DecisionFact, recent_denials: Iterable[tuple[DecisionFact, bool]]) -> Delta:
    """The rollup change of decision ``d``, given its user's denials of the last hour (each with
    whether it is resolved already): compute's definitions, one record at a time."""
    earlier = [(r, done) for r, done in recent_denials if r.when < d.when]
    trick = any(compute.is_workaround(r, d) for r, _ in earlier)
    resolves: tuple[tuple[DecisionFact, float], ...] = ()
    if d.allowed and not trick:
        resolves = tuple((r, (d.when - r.when).total_seconds() / 60) for r, done in earlier
                         if not done and d.when - r.when <= compute.RESOLUTION_WINDOW
                         and set(r.sources) & set(d.sources))
    names = set(d.sources) | ({d.destination} if d.destination else set())
    covered = bool(d.packages) and not d.engine_error
    return Delta(hour=hour_of(iso(d.when)), role=d.role, denied=not d.allowed,
                 workaround=trick, assets=tuple((n, covered) for n in sorted(names)),
                 resolves=resolves, keep=not d.allowed and not d.engine_error)


# -- the append hook ---------------------------------------------------------------------------

_UPSERT_HOUR = (
    "INSERT INTO lacuna_metrics_hourly (hour, role, decisions, denials, resolved, "
    "resolution_minutes, workarounds) VALUES (:hour, :role, :n, :denied, :resolved, :minutes, "
    ":tricks) ON CONFLICT (hour, role) DO UPDATE SET decisions = lacuna_metrics_hourly.decisions"
    " + excluded.decisions, denials = lacuna_metrics_hourly.denials + excluded.denials, "
    "resolved = lacuna_metrics_hourly.resolved + excluded.resolved, resolution_minutes = "
    "lacuna_metrics_hourly.resolution_minutes + excluded.resolution_minutes, workarounds = "
    "lacuna_metrics_hourly.workarounds + excluded.workarounds")
_UPSERT_ASSET = (
    "INSERT INTO lacuna_metrics_assets (hour, role, asset, covered) VALUES (:hour, :role, "
    ":asset, :covered) ON CONFLICT (hour, role, asset) DO UPDATE SET covered = "
    "CASE WHEN excluded.covered > lacuna_metrics_assets.covered THEN excluded.covered "
    "ELSE lacuna_metrics_assets.covered END")
_RECENT = ("SELECT fact, resolved FROM lacuna_metrics_recent WHERE user_id = :user "
           "AND at >= :since ORDER BY at")
_KEEP = ("INSERT INTO lacuna_metrics_recent (record_id, user_id, at, fact, resolved) "
         "VALUES (:id, :user, :at, :fact, 0)")
_RESOLVE = "UPDATE lacuna_metrics_recent SET resolved = 1 WHERE record_id = :id"
_PRUNE = "DELETE FROM lacuna_metrics_recent WHERE user_id = :user AND at < :since"


class _Exec:
    """Named-parameter SQL on either connection the audit store appends with: its raw SQLite
    connection or an SQLAlchemy one (PostgreSQL)."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self.raw = isinstance(conn, sqlite3.Connection)

    def __call__(self, sql: str, params: Mapping[str, Any]) -> list[Any]:
        if self.raw:
            return list(self.conn.execute(sql, dict(params)).fetchall())
        result = self.conn.execute(text(sql), dict(params))
        return list(result.all()) if result.returns_rows else []


def on_append(conn: Any, body: Mapping[str, Any]) -> None:
    """Roll up one appended record (decisions only; events are read exactly), inside the
    append's transaction: ``conn`` is the raw ``sqlite3`` connection or an SQLAlchemy one."""
    if body.get("kind") is not None:
        return
    run = _Exec(conn)
    d = fact_from_body(body)
    since = iso(d.when - WINDOW)
    # Only a denial that shares a source with ``d`` can be resolved or worked round by it
    # (compute's definitions all require the overlap), so a decision without sources reads
    # nothing, and a stored fact whose JSON does not contain one of ``d``'s sources (encoded as
    # ``_dump`` encodes them) is never parsed: the append stays cheap for a user with many
    # denials in the window.
    needles = [json.dumps(s) for s in d.sources]
    rows = run(_RECENT, {"user": d.user, "since": since}) if needles else []
    known = [(_load(f), bool(done)) for f, done in rows if any(n in f for n in needles)]
    _apply(run, d, delta(d, known))
    run(_PRUNE, {"user": d.user, "since": since})


def _apply(run: _Exec, d: DecisionFact, change: Delta) -> None:
    run(_UPSERT_HOUR, {"hour": change.hour, "role": change.role, "n": 1,
                       "denied": int(change.denied), "resolved": 0, "minutes": 0.0,
                       "tricks": int(change.workaround)})
    for asset, covered in change.assets:
        run(_UPSERT_ASSET, {"hour": change.hour, "role": change.role, "asset": asset,
                            "covered": int(covered)})
    for denial, minutes in change.resolves:
        run(_RESOLVE, {"id": denial.record_id})
        run(_UPSERT_HOUR, {"hour": hour_of(iso(denial.when)), "role": denial.role,
                           "n": 0, "denied": 0, "resolved": 1, "minutes": minutes, "tricks": 0})
    if change.keep:
        run(_KEEP, {"id": d.record_id, "user": d.user, "at": iso(d.when),
                    "fact": _dump(d)})


def installed(conn: Connection) -> bool:
    """Whether the rollup tables and their state row exist (read only: no lock taken)."""
    found = inspect(conn)
    if not all(found.has_table(t.name) for t in (hourly, assets, recent, state)):
        return False
    return conn.execute(select(state.c.id)).first() is not None


def install(conn: Connection, head_seq: int) -> None:
    """Create the rollup tables if missing, in the caller's write transaction; a trail that
    already has records (``head_seq``) starts its rollups there (incomplete until
    :func:`rebuild`)."""
    metadata.create_all(conn, checkfirst=True)
    if conn.execute(select(state.c.id)).first() is None:
        row = {"id": 1, "from_seq": head_seq}
        if conn.dialect.name in ("postgresql", "sqlite"):  # another process may insert first
            dialect = import_module(f"sqlalchemy.dialects.{conn.dialect.name}")
            conn.execute(dialect.insert(state).values(**row).on_conflict_do_nothing())
        else:
            conn.execute(insert(state).values(**row))


def complete(conn: Connection) -> bool:
    """Whether the rollups cover the whole trail."""
    try:
        row = conn.execute(select(state.c.from_seq).where(state.c.id == 1)).first()
    except SQLAlchemyError:  # no rollup tables: not complete
        return False
    return row is not None and row.from_seq == 0


# -- reading -----------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Totals:
    decisions: int
    denials: int
    resolved: int
    resolution_minutes: float
    workarounds: int


def _where(role: str | None) -> str:
    return "hour >= :a AND hour < :b" + (" AND role = :role" if role is not None else "")


def totals(conn: Connection, first_hour: str, last_hour: str, role: str | None) -> Totals:
    """The counters of the whole hours ``[first_hour, last_hour)``, for one role or all."""
    row = conn.execute(text(
        "SELECT COALESCE(SUM(decisions), 0), COALESCE(SUM(denials), 0), "
        "COALESCE(SUM(resolved), 0), COALESCE(SUM(resolution_minutes), 0), "
        f"COALESCE(SUM(workarounds), 0) FROM lacuna_metrics_hourly WHERE {_where(role)}"),
        {"a": first_hour, "b": last_hour, "role": role}).one()
    return Totals(decisions=int(row[0]), denials=int(row[1]), resolved=int(row[2]),
                  resolution_minutes=float(row[3]), workarounds=int(row[4]))


def coverage(conn: Connection, first_hour: str, last_hour: str, role: str | None,
             extra: Mapping[str, bool]) -> tuple[int, int]:
    """(covered, assets) over the assets named in the whole hours plus ``extra`` (the partial
    hours' assets, each with whether it was covered there)."""
    params = {"a": first_hour, "b": last_hour, "role": role}
    where = _where(role)
    assets_n, covered_n = conn.execute(text(
        "SELECT COUNT(*), COALESCE(SUM(c), 0) FROM (SELECT asset, MAX(covered) AS c FROM "
        f"lacuna_metrics_assets{_asset_order(conn, first_hour, last_hour)} WHERE {where} "
        "GROUP BY asset) AS a"), params).one()
    known: dict[str, bool] = {}
    names = sorted(extra)
    for i in range(0, len(names), 500):  # the few partial-hour assets, by the asset index
        chunk = {f"n{j}": n for j, n in enumerate(names[i:i + 500])}
        listed = ", ".join(f":{k}" for k in chunk)
        for asset, cov in conn.execute(text(
                f"SELECT asset, MAX(covered) FROM lacuna_metrics_assets WHERE asset IN "
                f"({listed}) AND {where} GROUP BY asset"), {**params, **chunk}).all():
            known[str(asset)] = bool(cov)
    assets_n += sum(1 for n in names if n not in known)
    covered_n += sum(1 for n in names if extra[n] and not known.get(n, False))
    return int(covered_n), int(assets_n)


def _asset_order(conn: Connection, first_hour: str, last_hour: str) -> str:
    """How SQLite should read the period's asset rows: by the ``hour`` key (then sort them by
    asset: cost grows with the period), or, when the period spans most of the rollups' hours,
    by streaming the covering ``(asset, hour, ...)`` index (no sort; 3-4x less CPU on a 10M
    trail's quarter, but it reads every hour). PostgreSQL's planner chooses by itself."""
    if conn.dialect.name != "sqlite":
        return ""
    lo, hi = conn.execute(text(  # two index seeks on the primary key
        "SELECT (SELECT MIN(hour) FROM lacuna_metrics_hourly), "
        "(SELECT MAX(hour) FROM lacuna_metrics_hourly)")).one()
    if lo is None or hi is None:
        return ""
    span = _hours(str(lo), str(hi)) + 1
    covered = _hours(max(first_hour, str(lo)), min(last_hour, str(hi)))
    return " INDEXED BY ix_lacuna_metrics_assets_asset" if covered * 2 >= span else ""


def _hours(first: str, last: str) -> int:
    a = datetime.fromisoformat(f"{first}:00:00")
    b = datetime.fromisoformat(f"{last}:00:00")
    return max(int((b - a).total_seconds() // 3600), 0)


# -- rebuild -----------------------------------------------------------------------------------

def rebuild(store: AuditStore, *, batch: int = 50_000) -> int:
    """Recompute the rollups from every record, in append order (``lacuna metrics rebuild``):
    in memory, then written in one transaction. Returns the number of decisions rolled up."""
    acc = Accumulator()
    for body in _bodies(store, batch):
        if body.get("kind") is None:
            acc.add(fact_from_body(body))
    with store.engine.begin() as conn:
        metadata.create_all(conn, checkfirst=True)
        acc.write(conn)
    return acc.count


def _bodies(store: AuditStore, batch: int) -> Iterator[dict[str, Any]]:
    from lacuna.audit.schema import records

    last = 0
    while True:
        with store.engine.connect() as conn:
            rows = conn.execute(select(records.c.seq, records.c.body).where(
                records.c.seq > last).order_by(records.c.seq).limit(batch)).all()
        if not rows:
            return
        for row in rows:
            yield json.loads(row.body)
        last = rows[-1].seq


class Accumulator:
    """The rollups of a stream of decisions, kept in memory (rebuilds and bulk loads)."""

    def __init__(self) -> None:
        self.hours: dict[tuple[str, str], list[float]] = {}
        self.assets: dict[tuple[str, str, str], int] = {}
        self.recent: dict[str, list[list[Any]]] = {}  # user → [[denial, resolved], ...]
        self.count = 0

    def _row(self, hour: str, role: str) -> list[float]:
        return self.hours.setdefault((hour, role), [0, 0, 0, 0.0, 0])

    def add(self, d: DecisionFact) -> None:
        self.count += 1
        cutoff = d.when - WINDOW
        mine = [e for e in self.recent.get(d.user, ()) if e[0].when >= cutoff]
        if not mine and d.allowed:  # the common case: nothing to match with
            hour = hour_of(iso(d.when))
            self._row(hour, d.role)[0] += 1
            covered = int(bool(d.packages) and not d.engine_error)
            for asset in {*d.sources, *((d.destination,) if d.destination else ())}:
                key = (hour, d.role, asset)
                if self.assets.get(key, -1) < covered:
                    self.assets[key] = covered
            self.recent.pop(d.user, None)
            return
        change = delta(d, [(e[0], e[1]) for e in mine])
        row = self._row(change.hour, change.role)
        row[0] += 1
        row[1] += change.denied
        row[4] += change.workaround
        for asset, covered in change.assets:
            key = (change.hour, change.role, asset)
            self.assets[key] = max(self.assets.get(key, 0), int(covered))
        resolved = {r.record_id for r, _ in change.resolves}
        for denial, minutes in change.resolves:
            target = self._row(hour_of(iso(denial.when)), denial.role)
            target[2] += 1
            target[3] += minutes
        for e in mine:
            if e[0].record_id in resolved:
                e[1] = True
        if change.keep:
            mine.append([d, False])
        self.recent[d.user] = mine

    def write(self, conn: Connection) -> None:
        for table in (hourly, assets, recent, state):
            conn.execute(table.delete())
        if self.hours:
            conn.execute(insert(hourly), [
                {"hour": h, "role": r, "decisions": int(v[0]), "denials": int(v[1]),
                 "resolved": int(v[2]), "resolution_minutes": float(v[3]),
                 "workarounds": int(v[4])} for (h, r), v in self.hours.items()])
        if self.assets:
            conn.execute(insert(assets), [{"hour": h, "role": r, "asset": a, "covered": c}
                                          for (h, r, a), c in self.assets.items()])
        rows = [{"record_id": e[0].record_id, "user_id": user, "at": iso(e[0].when),
                 "fact": _dump(e[0]), "resolved": int(e[1])}
                for user, entries in self.recent.items() for e in entries]
        if rows:
            conn.execute(insert(recent), rows)
        conn.execute(insert(state).values(id=1, from_seq=0))


def next_hour(instant: datetime) -> datetime:
    floor = instant.replace(minute=0, second=0, microsecond=0)
    return floor if floor == instant else floor + timedelta(hours=1)
