"""Incremental rollups of the audit trail, kept in the same transaction as each append, so the
metrics of a period read counter rows instead of millions of records, for every filter.

Per UTC hour and :class:`~lacuna.metrics.scopes.Key` (role, policy, tier, domains): decisions
and denials (``lacuna_metrics_hourly``), and the assets named with whether a policy evaluated
them (``lacuna_metrics_assets``). Resolved denials, their minutes and workaround attempts pair
two decisions, and a filter keeps a pair only if it keeps both: a pair of two decisions of one
key counts in every scope of that key (``lacuna_metrics_hourly`` too, the usual case); any
other is kept per UTC hour and :data:`~lacuna.metrics.scopes.Scope`, each filter combination
(``lacuna_metrics_pairs``). Resolutions and
workarounds need the user's recent denials: those of the last hour are kept in
``lacuna_metrics_recent`` (one index lookup per append), each with the scopes it is resolved
in. The definitions are :mod:`lacuna.metrics.compute`'s, applied as records arrive:

* a resolution is counted in the hour of its denial, and a workaround in its own hour;
* records are taken in the order they are appended (the exact path sorts by time): a record
  appended with an older timestamp than its user's previous ones is counted, but not matched
  with them.

The rollups are complete when ``lacuna_metrics_rollup.from_seq`` is 0: a trail created with
them, or rebuilt by :func:`rebuild` (``lacuna metrics rebuild``, and migration 0004). A trail
that had records before this module starts its rollups at its head and is read the exact way
until rebuilt.
"""

from __future__ import annotations

import functools
import json
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
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
    func,
    insert,
    inspect,
    select,
    text,
)
from sqlalchemy.exc import SQLAlchemyError

from lacuna.audit.record import escape_surrogates, iso, parse_when
from lacuna.errors import AuditError
from lacuna.metrics import compute, facts
from lacuna.metrics.facts import DecisionFact
from lacuna.metrics.scopes import Key, Scope, key_of, scope_id, scopes, within

if TYPE_CHECKING:
    from lacuna.audit.store import AuditStore

metadata = MetaData()
_KEY = ("role", "policy", "tier", "domains")


def _key_columns() -> list[Column[Any]]:
    return [Column("role", String(255), primary_key=True),
            Column("policy", String(255), primary_key=True),  # "" for none
            Column("tier", String(32), primary_key=True),  # upper case, "" for none
            Column("domains", String(1000), primary_key=True)]  # |pkg|last|...| (scopes.Key)


hourly = Table(
    "lacuna_metrics_hourly", metadata,
    Column("hour", String(13), primary_key=True),  # 2026-11-03T09 (UTC)
    *_key_columns(),
    Column("decisions", Integer, nullable=False, default=0),
    Column("denials", Integer, nullable=False, default=0),
    # pairs of two decisions of this same key: they count in every scope of the key
    Column("resolved", Integer, nullable=False, default=0),
    Column("resolution_minutes", Float, nullable=False, default=0.0),
    Column("workarounds", Integer, nullable=False, default=0),
)
assets = Table(
    "lacuna_metrics_assets", metadata,
    Column("hour", String(13), primary_key=True),
    *_key_columns(),
    Column("asset", String(1000), primary_key=True),
    Column("covered", Integer, nullable=False, default=0),
    Index("ix_lacuna_metrics_assets_asset", "asset", "hour", "covered", *_KEY),  # covering
)
pairs = Table(
    "lacuna_metrics_pairs", metadata,
    Column("hour", String(13), primary_key=True),
    Column("scope", Integer, primary_key=True, autoincrement=False),  # scopes.ROLE | ...
    Column("role", String(255), primary_key=True),  # "" where the scope has no such filter
    Column("policy", String(255), primary_key=True),
    Column("tier", String(32), primary_key=True),
    Column("domain", String(255), primary_key=True),
    Column("resolved", Integer, nullable=False, default=0),
    Column("resolution_minutes", Float, nullable=False, default=0.0),
    Column("workarounds", Integer, nullable=False, default=0),
)
recent = Table(
    "lacuna_metrics_recent", metadata,
    Column("record_id", String(32), primary_key=True),
    Column("user_id", String(255), nullable=False),
    Column("at", String(40), nullable=False),
    Column("fact", Text, nullable=False),  # the denial and its key, as JSON
    Column("resolved", Text, nullable=False, default=""),  # JSON list of scope ids resolved in
    Index("ix_lacuna_metrics_recent_user_at", "user_id", "at"),
)
state = Table(
    "lacuna_metrics_rollup", metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("from_seq", Integer, nullable=False),  # records after this seq are rolled up
)

WINDOW = max(compute.RESOLUTION_WINDOW, compute.WORKAROUND_WINDOW)
# A user's denials remembered for matching: their newest MAX_RECENT of the last hour. A person
# is never near it; a script retrying a denied export thousands of times an hour would make
# every append (under the writers' lock, for every user) read, parse and compare all of them:
# 150 ms an append at 10,000 remembered denials, 0.3 ms at none. Beyond it the rollups match
# fewer resolutions and workarounds than the exact path over the records (docs/metrics.md).
MAX_RECENT = 200


def hour_of(when: str) -> str:
    return when[:13]


def fact_from_body(body: Mapping[str, Any]) -> DecisionFact:
    """A decision record's body as the metrics see it (what :func:`facts.decision` gives)."""
    who, what, dec = (facts.section(body, name) for name in ("who", "what", "decision"))
    when = parse_when(body.get("when"))
    if when is None:  # the store refuses to append one; a trail written before that may hold one
        msg = (f"audit record {str(body.get('id'))[:40]!a}: its 'when' "
               f"{str(body.get('when'))[:60]!a} is not an ISO-8601 time, so no period or hour "
               "can count it. Run `lacuna audit verify`; the metrics cannot follow this trail.")
        raise AuditError(msg)
    return facts.from_body(
        body, record_id=str(body["id"]), when=when,
        user=str(who.get("user_id") or ""), action=str(what.get("action") or ""),
        allowed=bool(dec.get("allowed")), policy_id=dec.get("policy_id"))


def _dump(d: DecisionFact, k: Key) -> str:
    return json.dumps({"id": d.record_id, "when": iso(d.when), "user": d.user,
                       "role": d.role, "action": d.action, "sources": list(d.sources),
                       "destination": d.destination, "policy": k.policy, "tier": k.tier,
                       "domains": list(k.domains)})


@functools.lru_cache(maxsize=4096)
def _load(raw: str) -> tuple[DecisionFact, Key]:  # frozen: one parse per stored denial
    v = json.loads(raw)
    fact = DecisionFact(record_id=v["id"], operation_id=v["id"],
                        when=datetime.fromisoformat(v["when"]), user=v["user"], role=v["role"],
                        action=v["action"], sources=tuple(v["sources"]),
                        destination=v["destination"], tier=None, allowed=False, policy_id=None,
                        packages=(), policy_ids=(), columns=(), engine_error=None,
                        exception_id=None)
    return fact, Key(role=v["role"], policy=v["policy"], tier=v["tier"],
                     domains=tuple(v["domains"]))


ALL = "*"  # resolved in every scope


@dataclass(slots=True)
class Pending:
    """A denial of the last hour, and the scopes it has been resolved in so far (``{ALL}``:
    by an operation of its own key, in all of them)."""

    fact: DecisionFact
    key: Key
    resolved: set[str] = field(default_factory=set)


@dataclass(frozen=True, slots=True)
class Delta:
    """What one decision changes in the rollups."""

    hour: str
    key: Key
    denied: bool
    assets: tuple[tuple[str, bool], ...]
    workaround: bool  # in every scope: it works round a denial of its own key
    keyed: tuple[tuple[str, Key, float], ...]  # denials of its own key resolved: hour, key, min
    pairs: tuple[tuple[str, Scope, int, float, int], ...]  # hour, scope, resolved, min, tricks
    resolved: tuple[Pending, ...]  # the recent denials this decision resolved (in some scope)
    keep: bool  # a denial to remember for the next hour (one that a later decision can pair)


def delta(d: DecisionFact, k: Key, recent_denials: Sequence[Pending]) -> Delta:
    """The rollup change of decision ``d`` (key ``k``), given its user's denials of the last
    hour: compute's definitions, one record at a time, in each scope ``d`` belongs to (the
    ``resolved`` sets of the denials it resolves are updated in place)."""
    if not recent_denials:  # the usual case: nothing to pair with, only counts and assets
        return Delta(hour=hour_of(iso(d.when)), key=k, denied=not d.allowed,
                     assets=_assets(d), workaround=False, keyed=(), pairs=(), resolved=(),
                     keep=not d.allowed and not d.engine_error and bool(d.sources))
    earlier = [p for p in recent_denials if p.fact.when < d.when]
    tricks = [p for p in earlier if compute.is_workaround(p.fact, d)]
    open_ = [] if not d.allowed else [
        p for p in earlier if d.when - p.fact.when <= compute.RESOLUTION_WINDOW
        and set(p.fact.sources) & set(d.sources)]
    hour = hour_of(iso(d.when))
    rows: dict[tuple[str, Scope], list[float]] = {}
    touched: dict[int, Pending] = {}
    keyed: list[tuple[str, Key, float]] = []
    everywhere = any(p.key == k for p in tricks)  # a workaround in every scope d is in
    if not tricks:  # the usual pair: a denial and an operation of one key, in all its scopes
        for p in open_:
            if p.key == k and not p.resolved:
                p.resolved.add(ALL)
                touched[id(p)] = p
                keyed.append((hour_of(iso(p.fact.when)), p.key,
                              (d.when - p.fact.when).total_seconds() / 60))
    open_ = [p for p in open_ if ALL not in p.resolved]
    if not everywhere and (tricks or open_):
        for s in scopes(k):
            if any(within(p.key, s) for p in tricks):
                rows.setdefault((hour, s), [0, 0.0, 0])[2] += 1
                continue
            sid = scope_id(s)
            for p in open_:
                if sid not in p.resolved and within(p.key, s):
                    p.resolved.add(sid)
                    touched[id(p)] = p
                    row = rows.setdefault((hour_of(iso(p.fact.when)), s), [0, 0.0, 0])
                    row[0] += 1
                    row[1] += (d.when - p.fact.when).total_seconds() / 60
    return Delta(hour=hour, key=k, denied=not d.allowed, assets=_assets(d),
                 workaround=everywhere,
                 keyed=tuple(keyed),
                 pairs=tuple((h, s, int(v[0]), v[1], int(v[2])) for (h, s), v in rows.items()),
                 resolved=tuple(touched.values()),
                 # a denial without sources never pairs (both pairings need a shared source)
                 keep=not d.allowed and not d.engine_error and bool(d.sources))


def _assets(d: DecisionFact) -> tuple[tuple[str, bool], ...]:
    """The assets ``d`` names (sources and destination, sorted) and whether a policy covered
    them."""
    names = set(d.sources) | ({d.destination} if d.destination else set())
    covered = bool(d.packages) and not d.engine_error
    return tuple((n, covered) for n in sorted(names))


# -- the append hook ---------------------------------------------------------------------------

_UPSERT_HOUR = (
    "INSERT INTO lacuna_metrics_hourly (hour, role, policy, tier, domains, decisions, denials, "
    "resolved, resolution_minutes, workarounds) VALUES (:hour, :role, :policy, :tier, "
    ":domains, :n, :denied, :resolved, :minutes, :tricks) ON CONFLICT (hour, role, policy, "
    "tier, domains) DO UPDATE SET decisions = lacuna_metrics_hourly.decisions + "
    "excluded.decisions, denials = lacuna_metrics_hourly.denials + excluded.denials, "
    "resolved = lacuna_metrics_hourly.resolved + excluded.resolved, resolution_minutes = "
    "lacuna_metrics_hourly.resolution_minutes + excluded.resolution_minutes, workarounds = "
    "lacuna_metrics_hourly.workarounds + excluded.workarounds")
_UPSERT_ASSET = (
    "INSERT INTO lacuna_metrics_assets (hour, role, policy, tier, domains, asset, covered) "
    "VALUES (:hour, :role, :policy, :tier, :domains, :asset, :covered) ON CONFLICT (hour, "
    "role, policy, tier, domains, asset) DO UPDATE SET covered = excluded.covered "
    # max(stored, new) without touching a row that already holds it: no page of the table
    # or its two indexes is written again (the usual case, one asset seen all hour)
    "WHERE excluded.covered > lacuna_metrics_assets.covered")
_UPSERT_PAIR = (
    "INSERT INTO lacuna_metrics_pairs (hour, scope, role, policy, tier, domain, resolved, "
    "resolution_minutes, workarounds) VALUES (:hour, :scope, :role, :policy, :tier, :domain, "
    ":resolved, :minutes, :tricks) ON CONFLICT (hour, scope, role, policy, tier, domain) DO "
    "UPDATE SET resolved = lacuna_metrics_pairs.resolved + excluded.resolved, "
    "resolution_minutes = lacuna_metrics_pairs.resolution_minutes + "
    "excluded.resolution_minutes, workarounds = lacuna_metrics_pairs.workarounds + "
    "excluded.workarounds")
_RECENT = ("SELECT record_id, fact, resolved FROM lacuna_metrics_recent WHERE user_id = :user "
           "AND at >= :since ORDER BY at DESC LIMIT :cap")  # newest first (ties: reversed)
_KEEP = ("INSERT INTO lacuna_metrics_recent (record_id, user_id, at, fact, resolved) "
         "VALUES (:id, :user, :at, :fact, '')")
_RESOLVE = "UPDATE lacuna_metrics_recent SET resolved = :resolved WHERE record_id = :id"
_PRUNE = "DELETE FROM lacuna_metrics_recent WHERE user_id = :user AND at < :since"
_PRUNE_EXCESS = (  # all but the user's newest MAX_RECENT (LIMIT with OFFSET: SQLite, PostgreSQL)
    "DELETE FROM lacuna_metrics_recent WHERE user_id = :user AND record_id IN (SELECT record_id "
    "FROM lacuna_metrics_recent WHERE user_id = :user ORDER BY at DESC, record_id DESC "
    "LIMIT 1000000000 OFFSET :cap)")


class _Exec:
    """Named-parameter SQL on either connection the audit store appends with: its raw SQLite
    connection or an SQLAlchemy one (PostgreSQL)."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self.raw = isinstance(conn, sqlite3.Connection)

    def __call__(self, sql: str, params: Mapping[str, Any]) -> list[Any]:
        if self.raw:
            return list(self.conn.execute(sql, _bindable(params)).fetchall())
        result = self.conn.execute(text(sql), _bindable(params))
        return list(result.all()) if result.returns_rows else []

    def many(self, sql: str, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        rows = [_bindable(row) for row in rows]
        if self.raw:
            self.conn.executemany(sql, rows)
        else:
            self.conn.execute(text(sql), rows)


def _bindable(params: Mapping[str, Any]) -> dict[str, Any]:
    """``params`` with lone surrogates in their text escaped (a source or destination named
    by a file name that is not UTF-8): the driver cannot encode them, and the append whose
    rollup this is failed with a UnicodeEncodeError. The name is kept as the record's JSON
    text spells it."""
    return {k: escape_surrogates(v) if isinstance(v, str) else v for k, v in params.items()}


def _trim(entries: list[Pending]) -> bool:
    """Keep a user's newest :data:`MAX_RECENT` remembered denials (by time, then record id, as
    ``_PRUNE_EXCESS`` keeps them), in their order; whether any was dropped."""
    if len(entries) <= MAX_RECENT:
        return False
    newest = sorted(entries, key=lambda p: (p.fact.when, p.fact.record_id))[-MAX_RECENT:]
    keep = {id(p) for p in newest}
    entries[:] = [p for p in entries if id(p) in keep]
    return True


def _resolved_text(p: Pending) -> str:
    return json.dumps(sorted(p.resolved)) if p.resolved else ""


def on_append(conn: Any, body: Mapping[str, Any]) -> None:
    """Roll up one appended record: :func:`on_append_many` of a group of one."""
    on_append_many(conn, [body])


def on_append_many(conn: Any, bodies: Sequence[Mapping[str, Any]]) -> None:
    """Roll up a group of appended records (decisions only; events are read exactly), in
    append order, inside the group's transaction: ``conn`` is the raw ``sqlite3`` connection or
    an SQLAlchemy one.

    The rows it leaves are exactly those one :func:`delta` per record, each applied as its own
    statements, would leave; only the statements are fewer: the group's changes are added up
    in Python by row (one UPSERT per hour and key, per asset, per pair scope), its remembered
    denials go in one ``executemany``, and each user's old denials are pruned once. Each user's
    recent denials are read once for the group and kept in memory while its records are
    rolled up, as each record would have found them: those of the last hour before it that
    no earlier record of the group pruned, plus the group's own earlier denials (see
    :class:`_Group`). Float sums of resolution minutes are added in the same order as record
    by record (see :class:`_Sums`), so a rebuild gives the same numbers bit for bit."""
    facts = [fact_from_body(b) for b in bodies if b.get("kind") is None]
    if not facts:
        return
    group = _Group(_Exec(conn), facts)
    for d in facts:
        group.add(d)
    group.write()


class _Sums:
    """One rollup row's additions within a group: integer counts summed, float minutes kept
    in order (the first in the row's UPSERT, any later one in an UPSERT of its own), so the
    stored float is the one record-by-record UPSERTs give."""

    __slots__ = ("counts", "minutes")

    def __init__(self, width: int) -> None:
        self.counts = [0] * width
        self.minutes: list[float] = []

    def rows(self, cell: dict[str, Any], names: Sequence[str]) -> list[dict[str, Any]]:
        first = {**cell, **dict(zip(names, self.counts, strict=True)),
                 "minutes": self.minutes[0] if self.minutes else 0.0}
        zero = dict.fromkeys(names, 0)
        return [first, *({**cell, **zero, "minutes": m} for m in self.minutes[1:])]


_HOUR_COUNTS = ("n", "denied", "resolved", "tricks")
_PAIR_COUNTS = ("resolved", "tricks")


class _Group:
    """The rollup changes of one group of decisions, gathered in memory, then written."""

    def __init__(self, run: _Exec, facts: Sequence[DecisionFact]) -> None:
        self.run = run
        self.hours: dict[tuple[str, Key], _Sums] = {}
        self.assets: dict[tuple[str, Key, str], int] = {}
        self.pairs: dict[tuple[str, Scope], _Sums] = {}
        self.keep: list[dict[str, Any]] = []
        self.resolved: dict[str, Pending] = {}  # record id -> its denial, resolved texts last
        self.floor: dict[str, datetime] = {}  # user -> the latest prune cut-off so far
        # Each user's remembered denials, oldest first: their newest MAX_RECENT (_trim). Only a
        # denial that shares a source with a decision can be resolved or worked round by it
        # (compute's definitions all require the overlap): a user's recent denials are read
        # only when one of the group's decisions has sources.
        self.recent: dict[str, list[Pending]] = {}
        self.excess: set[str] = set()  # users with more remembered denials than MAX_RECENT
        need: dict[str, datetime] = {}  # user -> the earliest instant a decision looks back to
        for d in facts:
            if d.sources:
                need[d.user] = min(need.get(d.user, d.when), d.when)
        for user, first in need.items():
            since = first - WINDOW
            rows = run(_RECENT, {"user": user, "since": iso(since), "cap": MAX_RECENT})
            self.recent[user] = [Pending(*_load(f), set(json.loads(done)) if done else set())
                                 for _, f, done in reversed(rows)]

    def add(self, d: DecisionFact) -> None:
        k = key_of(d)
        since = d.when - WINDOW
        floor = self.floor.get(d.user)
        cut = since if floor is None or since > floor else floor  # earlier prunes still hold
        mine = self.recent.get(d.user, [])
        known = [p for p in mine if p.fact.when >= cut
                 and not set(p.fact.sources).isdisjoint(d.sources)] if d.sources else []
        # in the order the one-record path reads them (ORDER BY at, ties as inserted: the
        # stored ones before the group's own), which is the order their minutes are added in
        known.sort(key=lambda p: p.fact.when)
        change = delta(d, k, known)
        row = self.hours.setdefault((change.hour, k), _Sums(4))
        row.counts[0] += 1
        row.counts[1] += change.denied
        row.counts[3] += change.workaround
        for h, rk, minutes in change.keyed:
            target = self.hours.setdefault((h, rk), _Sums(4))
            target.counts[2] += 1
            target.minutes.append(minutes)
        for asset, covered in change.assets:
            akey = (change.hour, k, asset)
            self.assets[akey] = max(self.assets.get(akey, 0), int(covered))
        for h, s, n, minutes, tricks in change.pairs:
            prow = self.pairs.setdefault((h, s), _Sums(2))
            prow.counts[0] += n
            prow.counts[1] += tricks
            if n:
                prow.minutes.append(minutes)
        for p in change.resolved:
            self.resolved[p.fact.record_id] = p
        if change.keep:
            self.keep.append({"id": d.record_id, "user": d.user, "at": iso(d.when),
                              "fact": _dump(d, k)})
            kept = self.recent.setdefault(d.user, [])
            kept[:] = [p for p in kept if p.fact.when >= cut]  # gone for every later record
            kept.append(Pending(d, k))
            if _trim(kept):
                self.excess.add(d.user)
        self.floor[d.user] = since if floor is None or since > floor else floor

    def write(self) -> None:
        run = self.run
        run.many(_UPSERT_HOUR, [
            row for (h, k), sums in self.hours.items()
            for row in sums.rows(_cell(h, k), _HOUR_COUNTS)])
        run.many(_UPSERT_ASSET, [{**_cell(h, k), "asset": asset, "covered": covered}
                                 for (h, k, asset), covered in self.assets.items()])
        run.many(_UPSERT_PAIR, [
            row for (h, s), sums in self.pairs.items()
            for row in sums.rows({"hour": h, "scope": s[0], "role": s[1], "policy": s[2],
                                  "tier": s[3], "domain": s[4]}, _PAIR_COUNTS)])
        run.many(_KEEP, self.keep)
        run.many(_RESOLVE, [{"id": rid, "resolved": _resolved_text(p)}
                            for rid, p in self.resolved.items()])
        run.many(_PRUNE, [{"user": user, "since": iso(floor)}
                          for user, floor in self.floor.items()])
        run.many(_PRUNE_EXCESS, [{"user": user, "cap": MAX_RECENT} for user in self.excess])


def _cell(hour: str, k: Key) -> dict[str, Any]:
    return {"hour": hour, "role": k.role, "policy": k.policy, "tier": k.tier,
            "domains": k.domains_text}


def installed(conn: Connection) -> bool:
    """Whether the rollup tables and their state row exist (read only: no lock taken)."""
    found = inspect(conn)
    if not all(found.has_table(t.name) for t in metadata.sorted_tables):
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


def seen(conn: Connection) -> dict[str, set[str]] | None:
    """Every role, policy id and policy domain (package and its last segment) a decision of
    the trail was counted under, at any time; None when the rollups do not cover the whole
    trail (then not everything the trail holds is here)."""
    if not complete(conn):
        return None
    found: dict[str, set[str]] = {}
    for column, name in ((hourly.c.role, "user_group"), (hourly.c.policy, "policy"),
                         (hourly.c.domains, "domain")):
        values = {v for (v,) in conn.execute(select(column).distinct()) if v}
        found[name] = ({d for v in values for d in v.split("|") if d} if name == "domain"
                       else values)
    return found


# -- rebuild -----------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Rebuilt:
    """What :func:`rebuild_checked` did: the decisions rolled up, and the rollups' totals
    (decisions, denials, resolved, workarounds) before and after; ``before`` is None when the
    rollups did not cover the whole trail (nothing to compare)."""

    count: int
    before: tuple[int, int, int, int] | None
    after: tuple[int, int, int, int]

    @property
    def diverged(self) -> bool:
        """The rollups counted other numbers than the trail's records give: records were
        removed or edited around Lacuna since they were rolled up (an append rolls up in its
        own transaction, and a rebuild of an untouched trail gives the same rows)."""
        return self.before is not None and self.before != self.after


def _totals(conn: Connection) -> tuple[int, int, int, int]:
    row = conn.execute(select(*(func.coalesce(func.sum(c), 0) for c in (
        hourly.c.decisions, hourly.c.denials, hourly.c.resolved, hourly.c.workarounds)))).one()
    return int(row[0]), int(row[1]), int(row[2]), int(row[3])


def rebuild(store: AuditStore, *, batch: int = 50_000) -> int:
    """Recompute the rollups from every record, in append order (``lacuna metrics rebuild``),
    in one write transaction (appends wait: none can be missed). Returns the number of
    decisions rolled up."""
    return rebuild_checked(store, batch=batch).count


def rebuild_checked(store: AuditStore, *, batch: int = 50_000) -> Rebuilt:
    """:func:`rebuild`, saying whether the rollups had diverged from the trail (their totals
    before and after, read in the rebuild's transaction, so no append falls between)."""
    with store.engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            conn.execution_options(sqlite_begin="IMMEDIATE")
        with conn.begin():
            before = _totals(conn) if complete(conn) else None
            count = rebuild_in(conn, batch=batch)
            return Rebuilt(count=count, before=before, after=_totals(conn))


def rebuild_in(conn: Connection, *, batch: int = 50_000) -> int:
    """:func:`rebuild` in the caller's transaction (the migrations' backfill)."""
    acc = Accumulator()
    for body in _bodies(conn, batch):
        if body.get("kind") is None:
            acc.add(fact_from_body(body))
    metadata.create_all(conn, checkfirst=True)
    acc.write(conn)
    return acc.count


def _bodies(conn: Connection, batch: int) -> Iterator[dict[str, Any]]:
    from lacuna.audit.schema import records

    last = 0
    while True:
        rows = conn.execute(select(records.c.seq, records.c.body).where(
            records.c.seq > last).order_by(records.c.seq).limit(batch)).all()
        if not rows:
            return
        for row in rows:
            yield json.loads(row.body)
        last = rows[-1].seq


class Accumulator:
    """The rollups of a stream of decisions, kept in memory (rebuilds and bulk loads): the
    append hook's rule (:func:`delta`), without the SQL."""

    def __init__(self) -> None:
        self.hours: dict[tuple[str, Key], list[float]] = {}
        self.assets: dict[tuple[str, Key, str], int] = {}
        self.pairs: dict[tuple[str, Scope], list[float]] = {}
        self.recent: dict[str, list[Pending]] = {}
        self.count = 0

    def add(self, d: DecisionFact) -> None:
        self.count += 1
        k = key_of(d)
        cutoff = d.when - WINDOW
        mine = [p for p in self.recent.get(d.user, ()) if p.fact.when >= cutoff]
        change = delta(d, k, [p for p in mine if set(p.fact.sources) & set(d.sources)])
        row = self.hours.setdefault((change.hour, k), [0, 0, 0, 0.0, 0])
        row[0] += 1
        row[1] += change.denied
        row[4] += change.workaround
        for h, rk, minutes in change.keyed:
            target = self.hours.setdefault((h, rk), [0, 0, 0, 0.0, 0])
            target[2] += 1
            target[3] += minutes
        for asset, covered in change.assets:
            akey = (change.hour, k, asset)
            self.assets[akey] = max(self.assets.get(akey, 0), int(covered))
        for h, s, n, minutes, tricks in change.pairs:
            prow = self.pairs.setdefault((h, s), [0, 0.0, 0])
            prow[0] += n
            prow[1] += minutes
            prow[2] += tricks
        if change.keep:
            mine.append(Pending(d, k))
            _trim(mine)
        if mine:
            self.recent[d.user] = mine
        else:
            self.recent.pop(d.user, None)

    def write(self, conn: Connection) -> None:
        for table in metadata.sorted_tables:
            conn.execute(table.delete())
        if self.hours:
            conn.execute(insert(hourly), [
                {"hour": h, "role": k.role, "policy": k.policy, "tier": k.tier,
                 "domains": k.domains_text, "decisions": int(v[0]), "denials": int(v[1]),
                 "resolved": int(v[2]), "resolution_minutes": float(v[3]),
                 "workarounds": int(v[4])} for (h, k), v in self.hours.items()])
        if self.assets:
            conn.execute(insert(assets), [
                {"hour": h, "role": k.role, "policy": k.policy, "tier": k.tier,
                 "domains": k.domains_text, "asset": a, "covered": c}
                for (h, k, a), c in self.assets.items()])
        if self.pairs:
            conn.execute(insert(pairs), [
                {"hour": h, "scope": s[0], "role": s[1], "policy": s[2], "tier": s[3],
                 "domain": s[4], "resolved": int(v[0]), "resolution_minutes": float(v[1]),
                 "workarounds": int(v[2])} for (h, s), v in self.pairs.items()])
        rows = [{"record_id": p.fact.record_id, "user_id": user, "at": iso(p.fact.when),
                 "fact": _dump(p.fact, p.key), "resolved": _resolved_text(p)}
                for user, entries in self.recent.items() for p in entries]
        if rows:
            conn.execute(insert(recent), rows)
        conn.execute(insert(state).values(id=1, from_seq=0))


def next_hour(instant: datetime) -> datetime:
    floor = instant.replace(minute=0, second=0, microsecond=0)
    return floor if floor == instant else floor + timedelta(hours=1)
