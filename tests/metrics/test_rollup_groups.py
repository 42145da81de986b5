"""The rollups of a group commit, one set of statements per group (``on_append_many``), leave
exactly the rows that rolling up the same records one at a time (``on_append``) leaves: the
counts, the remembered denials, which scopes each is resolved in, and the float sums of
resolution minutes bit for bit. The stream is made to catch a group that gets it wrong:
denials resolved, retried and worked round inside one group, a group spanning more than the
hour a denial is remembered, records appended out of time order, several users, events and
engine errors between the decisions."""

from __future__ import annotations

import random
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine

from lacuna.audit.record import iso
from lacuna.metrics import rollup

START = datetime(2026, 11, 3, 8, 50, tzinfo=UTC)
DATA = ("/lake/crm/customers", "/lake/crm/orders", "/lake/hr/payroll")
TABLES = ("lacuna_metrics_hourly", "lacuna_metrics_assets", "lacuna_metrics_pairs",
          "lacuna_metrics_recent")


def _stream(seed: int, n: int = 700) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    t = START
    out: list[dict[str, Any]] = []
    for i in range(n):
        # mostly seconds to minutes apart; now and then a jump past the hour, or back in time
        t += timedelta(seconds=rng.choice((1, 7, 40, 130, 400, 1100)))
        if rng.random() < 0.03:
            t += timedelta(minutes=rng.choice((61, 75)))
        when = t - timedelta(minutes=rng.choice((5, 30))) if rng.random() < 0.05 else t
        user = rng.choice(("u1", "u2", "u3"))
        if rng.random() < 0.04:
            out.append({"kind": "feedback", "id": f"{i:032x}", "when": iso(when),
                        "who": {"user_id": user}, "what": {"action": "feedback"},
                        "decision": {"allowed": True, "policy_id": None}})
            continue
        allowed = rng.random() < 0.45
        sources = rng.sample(DATA, rng.choice((0, 1, 1, 2)))
        dest = rng.choice((None, f"/home/{user}/Downloads/x.csv", f"/home/{user}/y.csv",
                           "/governed/ws/fixed.csv"))
        packages = rng.choice((["lacuna.export"], ["lacuna.export"], ["corp.pii"]))
        policy = rng.choice(("P-EXPORT", "P-EXPORT", "P-PII"))
        out.append({
            "id": f"{i:032x}", "when": iso(when),
            "who": {"user_id": user, "role": "finance" if rng.random() < 0.1 else "analyst"},
            "what": {"action": rng.choice(("export", "write", "copy")), "sources": sources,
                     "destination": dest, "tier": rng.choice(("INTERNAL", "INTERNAL", None)),
                     "columns": {}},
            "decision": {"allowed": allowed, "policy_id": policy,
                         "policies": [{"package": p, "id": policy} for p in packages],
                         "engine_error": "engine down" if rng.random() < 0.03 else None},
            "why": {"exception_id": None}})
    return out


def _database(path: Path) -> sqlite3.Connection:
    engine = create_engine(f"sqlite:///{path}")
    rollup.metadata.create_all(engine)
    engine.dispose()
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA synchronous=OFF")  # a scratch file: no fsync per commit
    return conn


def _tables(conn: sqlite3.Connection) -> list[list[Any]]:
    return [sorted(conn.execute(f"SELECT * FROM {t}").fetchall()) for t in TABLES]


@pytest.fixture(params=[rollup.MAX_RECENT, 3], ids=["cap", "small-cap"])
def cap(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> int:
    """The number of denials remembered per user: the real one, and 3 (reached all the time
    in the stream), so both paths trim their remembered denials alike."""
    monkeypatch.setattr(rollup, "MAX_RECENT", request.param)
    return int(request.param)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_group_rolls_up_what_its_records_one_by_one_do(tmp_path: Path, seed: int,
                                                         cap: int) -> None:
    bodies = _stream(seed)
    one = _database(tmp_path / "one.db")
    grouped = _database(tmp_path / "grouped.db")
    rng = random.Random(seed + 10)
    i = sizes = 0
    while i < len(bodies):
        size = rng.choice((1, 2, 5, 8, 16, 40))
        for conn, many in ((one, False), (grouped, True)):
            conn.execute("BEGIN")
            if many:
                rollup.on_append_many(conn, bodies[i:i + size])
            else:
                for body in bodies[i:i + size]:
                    rollup.on_append(conn, body)
            conn.execute("COMMIT")
        i += size
        sizes += 1
    a, b = _tables(one), _tables(grouped)
    for name, x, y in zip(TABLES, a, b, strict=True):
        assert x == y, name  # floats too: the minutes are added in the same order
    hourly, _assets, pairs, recent = a
    assert sum(r[5] for r in hourly) == sum(1 for b in bodies if "kind" not in b)
    # pairs of one key (in the hourly rows) and of two keys (per scope) were both exercised:
    # resolutions and workarounds, and the remembered denials they need
    assert any(r[7] for r in hourly)
    assert any(r[9] for r in hourly)
    assert any(r[6] for r in pairs)
    assert any(r[8] for r in pairs)
    assert recent
    assert sizes < len(bodies)
    per_user: dict[str, int] = {}
    for row in recent:
        per_user[row[1]] = per_user.get(row[1], 0) + 1
    assert max(per_user.values()) <= cap
    # a rebuild (the records rolled up in memory, lacuna metrics rebuild) leaves them too
    acc = rollup.Accumulator()
    for body in bodies:
        if body.get("kind") is None:
            acc.add(rollup.fact_from_body(body))
    _database(tmp_path / "rebuilt.db").close()
    engine = create_engine(f"sqlite:///{tmp_path / 'rebuilt.db'}")
    with engine.begin() as conn:
        acc.write(conn)
    engine.dispose()
    for name, x, y in zip(TABLES, a, _tables(sqlite3.connect(tmp_path / "rebuilt.db")),
                          strict=True):
        assert x == y, name


def test_a_user_s_remembered_denials_are_capped_to_the_newest(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch
                                                              ) -> None:
    """A script retrying a denied export all hour: only its newest MAX_RECENT denials are kept
    for matching, so an append never reads thousands of them; a resolution still pairs with
    those kept."""
    monkeypatch.setattr(rollup, "MAX_RECENT", 5)
    conn = _database(tmp_path / "r.db")

    def decision(i: int, allowed: bool) -> dict[str, Any]:
        return {"id": f"{i:032x}", "when": iso(START + timedelta(seconds=i)),
                "who": {"user_id": "u1", "role": "analyst"},
                "what": {"action": "export", "sources": [DATA[0]],
                         "destination": ("/governed/ws/fixed.csv" if allowed
                                         else "/home/u1/Downloads/x.csv")},
                "decision": {"allowed": allowed, "policy_id": "P", "policies": []}}

    for i in range(40):
        conn.execute("BEGIN")
        rollup.on_append_many(conn, [decision(i, False)] if i % 3 else
                              [decision(i, False), decision(i + 1000, False)])
        conn.execute("COMMIT")
    kept = sorted(r[0] for r in conn.execute("SELECT record_id FROM lacuna_metrics_recent"))
    assert kept == sorted(f"{i:032x}" for i in (1027, 1030, 1033, 1036, 1039))  # by time
    conn.execute("BEGIN")
    rollup.on_append(conn, decision(2000, True))  # the fix: resolves the five it remembers
    conn.execute("COMMIT")
    resolved = conn.execute("SELECT SUM(resolved) FROM lacuna_metrics_hourly").fetchone()[0]
    assert resolved == 5


def test_only_a_denial_with_sources_is_remembered(tmp_path: Path) -> None:
    """A denial that names no source can never be resolved or worked round (both need a
    shared source): it is counted, but not kept for the next hour's matching."""
    conn = _database(tmp_path / "r.db")

    def denial(i: int, sources: list[str]) -> dict[str, Any]:
        return {"id": f"{i:032x}", "when": iso(START + timedelta(seconds=i)),
                "who": {"user_id": "u1", "role": "analyst"},
                "what": {"action": "export", "sources": sources,
                         "destination": "/home/u1/Downloads/x.csv"},
                "decision": {"allowed": False, "policy_id": "P", "policies": []}}

    conn.execute("BEGIN")
    rollup.on_append_many(conn, [denial(1, []), denial(2, [DATA[0]]), denial(3, [])])
    conn.execute("COMMIT")
    kept = [r[0] for r in conn.execute("SELECT record_id FROM lacuna_metrics_recent")]
    assert kept == [f"{2:032x}"]
    counted = conn.execute("SELECT SUM(decisions), SUM(denials) FROM lacuna_metrics_hourly")
    assert counted.fetchone() == (3, 3)


def test_a_group_rolls_up_the_same_on_postgresql(tmp_path: Path, postgres_url: str,
                                                 cap: int) -> None:
    """The same statements through SQLAlchemy on PostgreSQL (``executemany`` of upserts there):
    the rows equal SQLite's record-by-record ones."""
    from sqlalchemy import text

    from fixtures_postgres import new_postgres_database

    bodies = _stream(4, 400)
    one = _database(tmp_path / "one.db")
    for body in bodies:
        one.execute("BEGIN")
        rollup.on_append(one, body)
        one.execute("COMMIT")
    engine = create_engine(new_postgres_database(postgres_url))
    try:
        rollup.metadata.create_all(engine)
        rng = random.Random(14)
        i = 0
        with engine.connect() as conn:
            while i < len(bodies):
                size = rng.choice((1, 3, 8, 30))
                with conn.begin():
                    rollup.on_append_many(conn, bodies[i:i + size])
                i += size
            got = [sorted(tuple(r) for r in conn.execute(text(f"SELECT * FROM {t}")).all())
                   for t in TABLES]
    finally:
        engine.dispose()
    for name, x, y in zip(TABLES, _tables(one), got, strict=True):
        assert x == y, name


def test_a_group_adds_resolution_minutes_in_the_order_records_one_by_one_do(tmp_path: Path
                                                                           ) -> None:
    """One operation resolves two denials of its key, the later-appended one stamped earlier:
    one by one, their minutes are added in the order the recent denials are read (by time),
    and the hourly row's float sum depends on that order (the times are chosen so that it
    does)."""

    def body(i: int, when: str, *, allowed: bool) -> dict[str, Any]:
        return {"id": f"{i:032x}", "when": when,
                "who": {"user_id": "u1", "role": "analyst"},
                "what": {"action": "write" if allowed else "export", "sources": [DATA[0]],
                         "destination": ("/governed/ws/fixed.csv" if allowed
                                         else "/home/u1/Downloads/x.csv")},
                "decision": {"allowed": allowed, "policy_id": "P-EXPORT",
                             "policies": [{"package": "lacuna.export", "id": "P-EXPORT"}]}}

    first = [body(0, "2026-11-03T09:03:45.696000+00:00", allowed=False),
             body(1, "2026-11-03T09:08:06.809174+00:00", allowed=True)]
    group = [body(2, "2026-11-03T09:13:05.980824+00:00", allowed=False),
             body(3, "2026-11-03T09:12:31.100071+00:00", allowed=False),  # stamped earlier
             body(4, "2026-11-03T09:16:28.369345+00:00", allowed=True)]
    one, grouped = _database(tmp_path / "one.db"), _database(tmp_path / "grouped.db")
    for conn, many in ((one, False), (grouped, True)):
        for bodies in (first, group):
            conn.execute("BEGIN")
            if many:
                rollup.on_append_many(conn, bodies)
            else:
                for b in bodies:
                    rollup.on_append(conn, b)
            conn.execute("COMMIT")
    query = "SELECT resolved, resolution_minutes FROM lacuna_metrics_hourly"
    assert one.execute(query).fetchall() == grouped.execute(query).fetchall()
    [(resolved, minutes)] = one.execute(query).fetchall()
    assert resolved == 3

    def gap(a: dict[str, Any], b: dict[str, Any]) -> float:
        return (datetime.fromisoformat(b["when"]) - datetime.fromisoformat(a["when"])
                ).total_seconds() / 60

    m0, m2, m3 = gap(first[0], first[1]), gap(group[0], group[2]), gap(group[1], group[2])
    assert minutes == (m0 + m3) + m2 != (m0 + m2) + m3  # the earlier-stamped denial first
