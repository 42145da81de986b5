"""Benchmark the governance metrics over a large audit trail (issue 15, item 5: 10M records,
target under 2 s on SQLite).

Run: ``python benchmarks/bench_metrics.py`` (1M records on SQLite, a few minutes); the 10M
figure: ``--records 1000000 --copies 10``; PostgreSQL: ``--backend postgresql`` (a throw-away
local server, bulk-loaded with ``COPY``; ``--pg-records N --pg-copies K`` for N×K records, or
``--backend both``); ``--append N`` the audit append cost with and without the rollup hook.
Prints a markdown section to stdout (progress goes to stderr).

The trail: N decision records over 90 days (2026-10-01 to 2026-12-30, in time order) by 300
users in 4 roles, each working on a handful of favourite datasets (hr and finance ones are
CONFIDENTIAL, the rest INTERNAL; crm and hr ones are also evaluated by ``lacuna.pii``); 4 % of
operations are denied exports to an unmanaged folder, and the users then often take a
compliant path (a resolution) or retry to another folder (a workaround). Plus one feedback
event per 50 denials and one survey answer per user.

The bulk loader (not the Governor: 10M appends would take hours): a store made by ``AuditStore``
(the real schema and rollup tables; on PostgreSQL the records table's secondary indexes are
dropped during the load and built at the end); N records are generated in Python in the append
path's row format and inserted in batches (SQLite ``executemany``, PostgreSQL ``COPY``), their
rollups built in the same pass by :class:`lacuna.metrics.rollup.Accumulator` (the append hook's
per-record rule, ``rollup.delta``; tests/metrics check that hook, accumulator and records
agree); then the records and rollups are copied ``--copies - 1`` times in SQL, each copy shifted
by 90/copies days (ids, seqs, times and the bodies' fields rewritten). The hash chain and
signatures are not computed (``prev_hash``/``hash`` are zeros: such a trail fails ``lacuna audit
verify``, which the metrics do not run), and at the seams between copies the rollups do not
pair a denial at the end of one copy with the operations at the start of the next (the records
do): a benchmark's numbers may differ from ``exact=True`` there, never the tests'. The timed
call is ``GovernanceMetrics(period, governor=..., **filters)``: cold (a new Governor) and warm,
wall clock and CPU, for the cases in ``CASES`` (every filter the API offers).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from bench_lineage import postgres

from lacuna.audit.record import iso
from lacuna.audit.schema import records
from lacuna.audit.store import AuditStore
from lacuna.metrics.facts import DecisionFact
from lacuna.metrics.rollup import Accumulator

START = datetime(2026, 10, 1, tzinfo=UTC)
DAYS = 90
ROLES = ("data_analyst", "data_scientist", "data_engineer", "data_steward")
USERS = 300
DATASETS = [f"/lake/{area}/{name}.parquet" for area in ("sales", "crm", "hr", "finance", "ops")
            for name in ("customers", "orders", "events", "accounts", "payroll", "tickets")]
BATCH = 50_000
ZERO = "0" * 64
PACKAGES = [{"package": "lacuna.export", "id": "P-2024-001", "effect": "deny"}]
PII = {"package": "lacuna.pii", "id": "P-2024-007", "effect": "none"}


_BODY = ('{"decision":{"allowed":%s,"engine_error":null,"policies":%s,"policy_id":"%s"},'
         '"id":"%s","operation_id":"%s","schema_version":1,"seq":%d,"what":{"action":"%s",'
         '"column_count":8,"columns":{},"destination":%s,"sources":%s,"tags":[],'
         '"tier":"%s"},"when":"%s","who":{"role":"%s","session":"bench",'
         '"user_id":"%s"},"why":{"exception_id":null,"purpose":null}}')


def _governed_by(sources: list[str]) -> tuple[str, list[dict[str, str]]]:
    """The tier and the evaluating packages of an operation on ``sources``."""
    areas = {s.split("/")[2] for s in sources}
    tier = "CONFIDENTIAL" if areas & {"hr", "finance"} else "INTERNAL"
    return tier, PACKAGES + ([PII] if areas & {"crm", "hr"} else [])


def _body(rid: str, seq: int, when: str, user: str, role: str, action: str,
          sources: list[str], dest: str | None, allowed: bool, policy: str) -> str:
    """The record body (the fields the metrics read, as ``build_body`` lays them out)."""
    tier, packages = _governed_by(sources)
    return _BODY % ("true" if allowed else "false", json.dumps(packages, separators=(",", ":")),
                    policy, rid, rid, seq, action, json.dumps(dest), json.dumps(sources), tier,
                    when, role, user)


def _sqlite_raw(store: AuditStore) -> sqlite3.Connection:
    raw = sqlite3.connect(str(store.path), isolation_level=None)
    raw.execute("PRAGMA synchronous=OFF")
    raw.execute("PRAGMA cache_size=-400000")
    return raw


def _drop_indexes(conn: Any) -> None:
    """PostgreSQL's usual bulk-load trick: COPY without the records table's secondary indexes,
    build them once at the end."""
    for index in records.indexes:
        conn.exec_driver_sql(f"DROP INDEX IF EXISTS {index.name}")


def generate(url: str, n: int, copies: int = 1, seed: int = 15) -> tuple[float, int]:
    """Bulk-load ``n`` decision records (and some events) with their rollups over
    ``DAYS / copies`` days, then copy them ``copies - 1`` times in SQL, each copy shifted by
    that many days; returns (seconds, records)."""
    rng = random.Random(seed)
    users = [(f"user{u:03d}", ROLES[u % len(ROLES)], rng.sample(DATASETS, 4))
             for u in range(USERS)]
    span = DAYS // copies
    step_ms = span * 86_400_000 // n
    acc = Accumulator()
    denials = 0
    pending: list[tuple[Any, ...]] = []
    store = AuditStore(url, checkpoint=None)
    engine = store.engine
    sqlite = engine.dialect.name == "sqlite"
    raw: Any = _sqlite_raw(store) if sqlite else engine.raw_connection()
    if not sqlite:  # SQLite keeps them: its copies append to each index in seq order, while
        with engine.begin() as conn:  # building 5 indexes after reads the 10 GB table 5 times
            _drop_indexes(conn)
    sql = ("INSERT INTO lacuna_audit (seq, id, timestamp, user_id, action, allowed, policy_id, "
           "body, prev_hash, hash, signature) VALUES (?,?,?,?,?,?,?,?,?,?,?)")
    last_denial: dict[str, tuple[list[str], str]] = {}
    t0 = time.perf_counter()

    def flush() -> None:
        if not pending:
            return
        if sqlite:
            raw.execute("BEGIN")
            raw.executemany(sql, pending)
            raw.execute("COMMIT")
        else:  # COPY, the PostgreSQL bulk path
            with raw.cursor() as cur, cur.copy(
                    "COPY lacuna_audit (seq, id, timestamp, user_id, action, allowed, "
                    "policy_id, body, prev_hash, hash, signature) FROM STDIN") as copy:
                for row in pending:
                    copy.write_row(row)
            raw.commit()
        pending.clear()

    seq = 0
    for i in range(n):
        moment = START + timedelta(milliseconds=i * step_ms)
        when = iso(moment)
        user, role, favourites = users[rng.randrange(USERS)]
        sources = [favourites[rng.randrange(4)]]
        previous = last_denial.get(user)
        roll = rng.random()
        if previous is not None and roll < 0.5:  # after a denial: the compliant path
            action, sources, dest, allowed = "write", previous[0], "/governed/workspace/x.csv", True
            del last_denial[user]
        elif previous is not None and roll < 0.6:  # or a retry to another folder
            action, sources, allowed = "export", previous[0], False
            dest = previous[1].replace(".csv", "-v2.csv")
        elif roll < 0.04:
            action, dest, allowed = "export", f"/home/{user}/Downloads/{i}.csv", False
        else:
            action = rng.choice(("read", "read", "transform", "write"))
            dest = "/governed/workspace/out.parquet" if action == "write" else None
            allowed = True
        if not allowed:
            denials += 1
            last_denial[user] = (sources, dest or "")
        policy = "P-2024-000" if allowed else "P-2024-001"
        seq += 1
        rid = f"{seq:032d}"
        pending.append((seq, rid, when, user, action, allowed, policy,
                        _body(rid, seq, when, user, role, action, sources, dest, allowed,
                              policy), ZERO, ZERO, None))
        tier, packages = _governed_by(sources)
        acc.add(DecisionFact(
            record_id=rid, operation_id=rid, when=moment, user=user, role=role, action=action,
            sources=tuple(sources), destination=dest, tier=tier, allowed=allowed,
            policy_id=policy, packages=tuple(p["package"] for p in packages),
            policy_ids=tuple(p["id"] for p in packages), columns=(), engine_error=None,
            exception_id=None))
        if not allowed and denials % 50 == 0:  # feedback on this denial, a minute later
            seq += 1
            fid = f"{seq:032d}"
            later = iso(moment + timedelta(minutes=1))
            pending.append((seq, fid, later, user, "feedback", True, policy, json.dumps({
                "kind": "feedback", "id": fid, "seq": seq, "when": later,
                "who": {"user_id": user, "role": role}, "what": {"action": "feedback"},
                "decision": {"allowed": True, "policy_id": policy},
                "feedback": {"decision_record_id": rid, "false_positive": denials % 100 == 0,
                             "comment": "bench"}}), ZERO, ZERO, None))
        if len(pending) >= BATCH:
            flush()
            print(f"  {i + 1:,} records, {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    flush()
    with engine.begin() as conn:
        acc.write(conn)
    if copies > 1:
        (_replicate_sqlite if sqlite else _replicate_pg)(raw, seq, copies, span)
        seq *= copies
    print(f"  copies done, {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    for u, (user, role, _) in enumerate(users):  # one survey answer each, on the last day
        seq += 1
        sid = f"{seq:032d}"
        at = iso(START + timedelta(days=DAYS - 1, seconds=u))
        pending.append((seq, sid, at, user, "survey", True, None, json.dumps({
            "kind": "survey", "id": sid, "seq": seq, "when": at,
            "who": {"user_id": user, "role": role}, "what": {"action": "survey"},
            "decision": {"allowed": True, "policy_id": None},
            "survey": {"score": 1 + u % 5}}), ZERO, ZERO, None))
    flush()
    with engine.begin() as conn:
        conn.exec_driver_sql(f"UPDATE lacuna_audit_head SET seq = {seq} WHERE id = 1")
        if not sqlite:
            for index in records.indexes:
                index.create(conn)
            conn.exec_driver_sql("ANALYZE")  # what autovacuum would do after a big load
    print(f"  indexes built, {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    raw.close()
    store.close()
    return time.perf_counter() - t0, seq


def _replicate_sqlite(raw: sqlite3.Connection, n: int, copies: int, span_days: int) -> None:
    """Copies k = 1 … copies-1 of the first ``n`` records and their rollups, ``k * span_days``
    days later (ids, seqs, timestamps and the bodies' fields moved with them), in SQL."""
    for k in range(1, copies):
        off, shift = k * n, f"+{k * span_days} days"
        ts = f"strftime('%Y-%m-%dT%H:%M:%f', timestamp, '{shift}') || '000+00:00'"
        newid = f"printf('%032d', seq + {off})"
        raw.execute("BEGIN")
        raw.execute(f"""
            INSERT INTO lacuna_audit (seq, id, timestamp, user_id, action, allowed, policy_id,
                                      body, prev_hash, hash, signature)
            SELECT seq + {off}, {newid}, {ts}, user_id, action, allowed, policy_id,
                   CASE WHEN action = 'feedback' THEN json_set(body, '$.id', {newid},
                        '$.seq', seq + {off}, '$.when', {ts}, '$.feedback.decision_record_id',
                        printf('%032d', CAST(json_extract(body, '$.feedback.decision_record_id')
                                             AS INTEGER) + {off}))
                   ELSE json_set(body, '$.id', {newid}, '$.operation_id', {newid},
                        '$.seq', seq + {off}, '$.when', {ts}) END,
                   prev_hash, hash, signature
            FROM lacuna_audit WHERE seq <= {n} ORDER BY seq""")
        hour = f"strftime('%Y-%m-%dT%H', hour || ':00:00', '{shift}')"
        for statement in _copy_rollups(hour, span_days):
            raw.execute(statement)
        raw.execute("COMMIT")
        print(f"  copy {k} of {copies - 1}", file=sys.stderr)


def _replicate_pg(raw: Any, n: int, copies: int, span_days: int) -> None:
    """The same copies in PostgreSQL's SQL (the body's fields rewritten through jsonb)."""
    fmt = """'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"'"""
    for k in range(1, copies):
        off, shift = k * n, f"interval '{k * span_days} days'"
        ts = (f"to_char((timestamp::timestamptz + {shift}) AT TIME ZONE 'UTC', {fmt})")
        newid = f"lpad((seq + {off})::text, 32, '0')"
        with raw.cursor() as cur:
            cur.execute(f"""
                INSERT INTO lacuna_audit (seq, id, timestamp, user_id, action, allowed,
                                          policy_id, body, prev_hash, hash, signature)
                SELECT seq + {off}, {newid}, {ts}, user_id, action, allowed, policy_id,
                       (CASE WHEN action = 'feedback' THEN body::jsonb || jsonb_build_object(
                            'id', {newid}, 'seq', seq + {off}, 'when', {ts}, 'feedback',
                            body::jsonb -> 'feedback' || jsonb_build_object(
                              'decision_record_id', lpad(((body::jsonb -> 'feedback' ->>
                              'decision_record_id')::bigint + {off})::text, 32, '0')))
                        ELSE body::jsonb || jsonb_build_object('id', {newid}, 'operation_id',
                            {newid}, 'seq', seq + {off}, 'when', {ts}) END)::text,
                       prev_hash, hash, signature
                FROM lacuna_audit WHERE seq <= {n}""")
            hour = f"to_char((hour || ':00:00+00')::timestamptz + {shift}, 'YYYY-MM-DD\"T\"HH24')"
            for statement in _copy_rollups(hour, span_days):
                cur.execute(statement)
        raw.commit()
        print(f"  copy {k} of {copies - 1}", file=sys.stderr)


def _hour_after(days: int) -> str:
    return iso(START + timedelta(days=days))[:13]


def _copy_rollups(hour: str, span_days: int) -> list[str]:
    """The statements that copy the first span's rollups, their hour moved by ``hour``."""
    until = f"WHERE hour < '{_hour_after(span_days)}'"
    return [
        f"""INSERT INTO lacuna_metrics_hourly SELECT {hour}, role, policy, tier, domains,
            decisions, denials, resolved, resolution_minutes, workarounds
            FROM lacuna_metrics_hourly {until}""",
        f"""INSERT INTO lacuna_metrics_assets SELECT {hour}, role, policy, tier, domains, asset,
            covered FROM lacuna_metrics_assets {until}""",
        f"""INSERT INTO lacuna_metrics_pairs SELECT {hour}, scope, role, policy, tier, domain,
            resolved, resolution_minutes, workarounds FROM lacuna_metrics_pairs {until}""",
    ]


NOW = START + timedelta(days=DAYS - 1, hours=14, minutes=23)
CASES: list[tuple[str, Any, dict[str, str]]] = [
    ("last_30_days (ends mid-hour)", "last_30_days", {}),
    ("2026-Q4 (whole hours)", "2026-Q4", {}),
    ("2026-10-20 09:17 .. 2026-11-24 16:45", (datetime(2026, 10, 20, 9, 17, tzinfo=UTC),
                                              datetime(2026, 11, 24, 16, 45, tzinfo=UTC)), {}),
    ("2026-Q4, user_group=data_analyst", "2026-Q4", {"user_group": "data_analyst"}),
    ("last_30_days, user_group=data_steward", "last_30_days", {"user_group": "data_steward"}),
    ("2026-Q4, policy=P-2024-001", "2026-Q4", {"policy": "P-2024-001"}),
    ("last_30_days, tier=CONFIDENTIAL", "last_30_days", {"tier": "CONFIDENTIAL"}),
    ("2026-10-20 09:17 .. 2026-11-24 16:45, domain=pii",
     (datetime(2026, 10, 20, 9, 17, tzinfo=UTC), datetime(2026, 11, 24, 16, 45, tzinfo=UTC)),
     {"domain": "pii"}),
    ("2026-Q4, user_group=data_analyst, policy=P-2024-001, tier=INTERNAL, domain=lacuna.export",
     "2026-Q4", {"user_group": "data_analyst", "policy": "P-2024-001", "tier": "INTERNAL",
                 "domain": "lacuna.export"}),
]


def _one(url: str, period: Any, filters: dict[str, str]) -> tuple[float, float, Any]:
    from lacuna.governor import Governor, build_config
    from lacuna.metrics import GovernanceMetrics

    gov = Governor(build_config(None, audit={"url": url}, user={"id": "bench",
                                                                "role": "data_steward"}))
    try:
        w, c = time.perf_counter(), time.process_time()
        m = GovernanceMetrics(period, governor=gov, now=NOW, **filters)
        return time.perf_counter() - w, time.process_time() - c, m
    finally:
        gov.close()


def measure(url: str, repeat: int, cases: list[tuple[str, Any, dict[str, str]]]
            ) -> dict[str, dict[str, Any]]:
    """Each case: cold (a new Governor and connections: SQLite's page cache empty; the OS file
    cache as it is) then ``repeat`` warm calls on one Governor."""
    from lacuna.governor import Governor, build_config
    from lacuna.metrics import GovernanceMetrics

    out: dict[str, dict[str, Any]] = {}
    for label, period, filters in cases:
        cold_wall, cold_cpu, _ = _one(url, period, filters)
        gov = Governor(build_config(None, audit={"url": url}, user={"id": "bench",
                                                                    "role": "data_steward"}))
        walls, cpus = [], []
        for _ in range(repeat):
            w, c = time.perf_counter(), time.process_time()
            m = GovernanceMetrics(period, governor=gov, now=NOW, **filters)
            walls.append(time.perf_counter() - w)
            cpus.append(time.process_time() - c)
        gov.close()
        out[label] = {"cold_s": cold_wall, "cold_cpu_s": cold_cpu,
                      "median_s": statistics.median(walls), "max_s": max(walls),
                      "cpu_s": statistics.median(cpus), "source": m.source,
                      "decisions": m.counts["violation_rate"]["decisions"],
                      "violation_rate": m.violation_rate,
                      "coverage": m.data_coverage_percent,
                      "resolution": m.avg_resolution_time_minutes or 0.0,
                      "workarounds": m.workaround_attempts}
        print(f"  {label}: cold {cold_wall:.2f} s ({cold_cpu:.2f} CPU), warm "
              f"{statistics.median(walls):.2f} s ({statistics.median(cpus):.2f} CPU), "
              f"{m.source}, load {os.getloadavg()[0]:.1f}", file=sys.stderr)
    return out


def explain(url: str, period: Any, filters: dict[str, str]) -> list[tuple[str, list[str]]]:
    """Each SELECT one ``GovernanceMetrics`` call sends, with the database's plan for it
    (``EXPLAIN QUERY PLAN`` on SQLite, ``EXPLAIN`` on PostgreSQL)."""
    from sqlalchemy import event

    from lacuna.governor import Governor, build_config
    from lacuna.metrics import GovernanceMetrics

    gov = Governor(build_config(None, audit={"url": url}, user={"id": "bench",
                                                                "role": "data_steward"}))
    sent: list[tuple[str, Any]] = []

    def capture(_c: Any, _cur: Any, statement: str, parameters: Any, *_: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            sent.append((statement, parameters))

    event.listen(gov.audit.engine, "before_cursor_execute", capture)
    try:
        GovernanceMetrics(period, governor=gov, now=NOW, **filters)
    finally:
        event.remove(gov.audit.engine, "before_cursor_execute", capture)
    sqlite = gov.audit.engine.dialect.name == "sqlite"
    out = []
    with gov.audit.engine.connect() as conn:
        for statement, parameters in sent:
            if "lacuna_" not in statement or "sqlite_master" in statement:
                continue
            verb = "EXPLAIN QUERY PLAN " if sqlite else "EXPLAIN "
            rows = conn.exec_driver_sql(verb + statement, parameters).all()
            out.append((" ".join(statement.split())[:160],
                        [str(r[-1]) for r in rows] if sqlite else [str(r[0]) for r in rows]))
    gov.close()
    return out


def run(name: str, url: str, n: int, copies: int, repeat: int,
        cases: list[tuple[str, Any, dict[str, str]]]) -> tuple[str, int, float, Any, str, Any]:
    if copies:
        print(f"{name}: generating {n:,} records x {copies}", file=sys.stderr)
        load, total = generate(url, n, copies)
    else:  # --reuse: time a trail generated (and kept) by an earlier run
        load, total = 0.0, n
    loadavg = open("/proc/loadavg").read().split()[:3]  # noqa: SIM115
    measured = measure(url, repeat, cases)
    plans = [(label, explain(url, period, filters)) for label, period, filters in CASES[:1]]
    for label, steps in plans:
        print(f"  plans of {label}:", file=sys.stderr)
        for statement, plan in steps:
            print(f"    {statement}", file=sys.stderr)
            for line in plan:
                print(f"      {line}", file=sys.stderr)
    loadavg2 = open("/proc/loadavg").read().split()[:3]  # noqa: SIM115
    return (name, total, load, measured, f"{' '.join(loadavg)} → {' '.join(loadavg2)}",
            plans)


def _decision_body(i: int, moment: datetime) -> dict[str, Any]:
    user = f"user{i % 50:03d}"
    denied = i % 25 == 0
    return {"who": {"user_id": user, "role": ROLES[i % 4], "session": "bench"},
            "what": {"action": "export" if denied else "read",
                     "sources": [DATASETS[i % len(DATASETS)]],
                     "destination": f"/home/{user}/Downloads/{i}.csv" if denied else None,
                     "tier": "INTERNAL", "columns": {}},
            "when": iso(moment),
            "decision": {"allowed": not denied, "policy_id": "P-2024-001" if denied else None,
                         "policies": PACKAGES, "engine_error": None},
            "why": {"exception_id": None}}


def _no_rollup(conn: Any, bodies: Any) -> None:
    """The append hook switched off (for the comparison only)."""


def append_throughput(n: int, group: int) -> list[tuple[str, str, float, float]]:
    """Audit appends per second through the real append path (SQLite file, WAL, checkpoint
    file), with the rollups in each transaction and with the hook replaced by a no-op: one
    record per transaction (``record``) and groups of ``group`` (``record_many``, the group
    commit)."""
    import lacuna.audit.store as store_module

    hook = store_module.roll_up
    out = []
    for label, rolled in (("with rollups", True), ("without rollups", False)):
        store_module.roll_up = hook if rolled else _no_rollup
        try:
            for mode, size in (("one per transaction", 1), (f"groups of {group}", group)):
                with tempfile.TemporaryDirectory() as tmp, \
                        AuditStore(f"sqlite:///{tmp}/audit.db") as store:
                    bodies = [{**_decision_body(i, START + timedelta(seconds=7 * i)),
                               "id": f"{i:032x}", "seq": 0} for i in range(n)]
                    w, c = time.perf_counter(), time.process_time()
                    for i in range(0, n, size):
                        store._append_all(bodies[i:i + size])
                    wall, cpu = time.perf_counter() - w, time.process_time() - c
                out.append((label, mode, n / wall, n / cpu))
                print(f"  append {label}, {mode}: {n / wall:,.0f}/s wall, {n / cpu:,.0f}/s CPU "
                      f"({1e6 * cpu / n:.0f} µs CPU per record)", file=sys.stderr)
        finally:
            store_module.roll_up = hook
    return out


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=100_000,
                        help="records generated in Python (then copied --copies times in SQL); "
                        "the 10M run: --records 1000000")
    parser.add_argument("--copies", type=int, default=10)
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"),
                        default="sqlite", help="postgresql: a throw-away local server (initdb "
                        "in $TMPDIR, fsync off), loaded with COPY, stopped and removed after")
    parser.add_argument("--pg-records", type=int, default=None,
                        help="PostgreSQL's --records (default: the same)")
    parser.add_argument("--pg-copies", type=int, default=None,
                        help="PostgreSQL's --copies (default: the same)")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--append", type=int, default=3000, metavar="N",
                        help="audit appends timed with and without the rollup hook (0: skip)")
    parser.add_argument("--keep", metavar="DIR", help="generate the SQLite trail into DIR and "
                        "keep it (default: a temporary folder, removed)")
    parser.add_argument("--reuse", metavar="DIR", help="time the trail an earlier --keep DIR "
                        "run generated (no load; the bulk-load column shows 0 s)")
    args = parser.parse_args(argv)
    os.environ.setdefault("LACUNA_HOME", tempfile.mkdtemp(prefix="lacuna-bench-home-"))
    cases = CASES
    appends = append_throughput(args.append, 32) if args.append else []
    results = []
    if args.reuse:
        import sqlite3

        db = Path(args.reuse) / "state.db"
        with sqlite3.connect(db) as conn:
            (count,) = conn.execute("SELECT count(*) FROM lacuna_audit").fetchone()
        results.append(run("SQLite (WAL, file)", f"sqlite:///{db}", count, 0, args.repeat,
                           cases))
    elif args.records and args.backend != "postgresql":
        with tempfile.TemporaryDirectory() as tmp:
            where = Path(args.keep or tmp)
            where.mkdir(parents=True, exist_ok=True)
            results.append(run("SQLite (WAL, file)", f"sqlite:///{where}/state.db",
                               args.records, args.copies, args.repeat, cases))
    if args.backend != "sqlite":
        with postgres() as url:
            if url is None:
                print("PostgreSQL: no initdb under /usr/lib/postgresql: skipped", file=sys.stderr)
            else:
                results.append(run("PostgreSQL (local, fsync off)", url,
                                   args.pg_records or args.records,
                                   args.pg_copies or args.copies, args.repeat, cases))
    print("## Governance metrics over a large audit trail\n")
    print("`benchmarks/bench_metrics.py`: decision records over 90 days by 300 users in 4 "
          "roles (4 % denied, with resolutions, retries and feedback), bulk-loaded with their "
          "rollups; `GovernanceMetrics(period)` timed cold (new Governor) and warm (median of "
          f"{args.repeat}). Target: 10M records in under 2 s on SQLite.\n")
    print(f"Machine: {os.cpu_count()} cores; {datetime.now(UTC):%Y-%m-%d %H:%M} UTC.\n")
    print("| backend | records | bulk load | load avg | period, filters | source | decisions in "
          "it | cold wall | cold CPU | warm wall | warm CPU | violation rate | coverage | "
          "avg resolution | workarounds |")
    print("|---|---:|---:|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, n, load, m, loadavg, _ in results:
        for label, v in m.items():
            print(f"| {name} | {n:,} | {load:.0f} s | {loadavg} | {label} | {v['source']} | "
                  f"{v['decisions']:,.0f} | {v['cold_s']:.2f} s | {v['cold_cpu_s']:.2f} s | "
                  f"{v['median_s']:.2f} s | {v['cpu_s']:.2f} s | {v['violation_rate']}% | "
                  f"{v['coverage']}% | {v['resolution']} min | {v['workarounds']:,.0f} |")
    print()
    for name, n, _, _, _, plans in results:
        for label, steps in plans:
            print(f"Query plans, {name}, {n:,} records, {label}:\n\n```")
            for statement, plan in steps:
                print(statement)
                print("\n".join(f"    {line}" for line in plan))
            print("```\n")
    if appends:
        print(f"Audit append throughput ({args.append:,} decisions, SQLite file in WAL mode, "
              "the real append path with its checkpoint file), the rollup hook on and off:\n")
        print("| rollups | transactions | appends/s (wall) | appends/s (CPU) | CPU per record |")
        print("|---|---|---:|---:|---:|")
        for label, mode, per_wall, per_cpu in appends:
            print(f"| {label} | {mode} | {per_wall:,.0f} | {per_cpu:,.0f} | "
                  f"{1e6 / per_cpu:.0f} µs |")
        print()


if __name__ == "__main__":
    main(sys.argv[1:])
