"""``AuditStore.list(since=, until=)`` compares instants, not the spelling of ``when``.

The indexed ``timestamp`` column held ``when`` as the body spelled it, so a record written with
a UTC offset sorted by its local time: ``2026-12-01T23:30-05:00`` (04:30 UTC on the 2nd) was
missed by ``since=2026-12-02T00:00Z`` and ``2026-12-02T03:00+05:00`` (22:00 UTC on the 1st)
was let in. The store now writes the column in UTC (the body keeps its spelling, which is what
is hashed), migration 0016 rewrites older trails, and a ``when`` that is no time is refused
instead of being stored (an event) or failing with a bare ``ValueError`` (a decision).
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from fixtures_postgres import new_postgres_database
from lacuna.audit import AuditStore
from lacuna.errors import AuditError

# (the body's spelling, its instant in UTC as hh:mm on the 2nd (negative: on the 1st),
#  inside [SINCE, UNTIL)?)
SINCE = datetime(2026, 12, 2, tzinfo=UTC)
UNTIL = datetime(2026, 12, 2, 6, tzinfo=UTC)
WHENS = (
    ("2026-12-01T23:30:00.000000-05:00", (4, 30), True),   # sorted before SINCE
    ("2026-12-02T03:00:00.000000+05:00", (-2, 0), False),  # 22:00 on the 1st, sorted after
    ("2026-12-02T09:00:00+05:00", (4, 0), True),           # sorted after UNTIL
    ("2026-12-02T01:30:00-05:00", (6, 30), False),         # sorted before UNTIL
    ("2026-12-01T19:00:00-05:00", (0, 0), True),           # exactly SINCE, spelled otherwise
    ("2026-12-02T06:00:00+00:00", (6, 0), False),          # exactly UNTIL (half-open)
    ("2026-12-02T05:59:00", (5, 59), True),                # no offset: UTC
    ("2026-12-02T00:00:00Z", (0, 0), True),
)


REFUSED = (r"'when' .* (is not an ISO-8601 time|lies within a day of the calendar's ends)"
           r".*nothing was recorded")


def _body(when: str, *, allowed: bool = True) -> dict[str, Any]:
    return {"who": {"user_id": "u", "role": "r", "session": "t"},
            "what": {"action": "read", "sources": ["/lake/a"], "destination": None,
                     "tier": None, "columns": {}},
            "when": when,
            "decision": {"allowed": allowed, "policy_id": "P", "policies": [],
                         "engine_error": None},
            "why": {"exception_id": None}}


def _fill(store: AuditStore) -> None:
    store._append_all([{**_body(w), "id": f"{i:032x}", "seq": 0}
                       for i, (w, _, _) in enumerate(WHENS)])


def _inside(store: AuditStore, **bounds: Any) -> list[str]:
    return sorted(r.data["when"] for r in store.list(limit=None, **bounds))


def _expected() -> list[str]:
    return sorted(w for w, _, inside in WHENS if inside)


def _check(store: AuditStore) -> None:
    assert _inside(store, since=SINCE, until=UNTIL) == _expected()
    # the bounds as text in another offset name the same instants
    assert _inside(store, since="2026-12-02T01:00:00+01:00",
                   until="2026-12-01T22:00:00-08:00") == _expected()
    # every record's timestamp is its instant, aware
    assert sorted(r.timestamp for r in store.list(limit=None)) == sorted(
        SINCE + timedelta(hours=h, minutes=m) for _, (h, m), _ in WHENS)
    report = store.verify()
    assert report.ok, report.problem


def test_list_since_until_compares_instants_sqlite(tmp_path: Path) -> None:
    with AuditStore(f"sqlite:///{tmp_path / 'audit.db'}") as store:
        _fill(store)
        _check(store)
        # the body keeps its spelling: the column is a sortable copy, not a rewrite
        assert [r.data["when"] for r in sorted(store.list(limit=None), key=lambda r: r.seq)] \
            == [w for w, _, _ in WHENS]


def test_list_since_until_compares_instants_postgresql(postgres_url: str) -> None:
    with AuditStore(new_postgres_database(postgres_url), checkpoint=None) as store:
        _fill(store)
        _check(store)


NOT_TIMES = ("yesterday", "", "2026-13-01T00:00:00", None, 1764633600,
             "2026-12-02T00:00:00+25:00",
             # within a day of the calendar's ends (the rollups look an hour back: a bare
             # OverflowError from inside the append)
             "0001-01-01T00:30:00+00:00", "0001-01-01T00:30:00+01:00",
             "9999-12-31T23:00:00+00:00")


def test_append_refuses_a_when_that_is_not_a_time(tmp_path: Path) -> None:
    with AuditStore(f"sqlite:///{tmp_path / 'audit.db'}") as store:
        for when in NOT_TIMES:  # one store for all (each refusal leaves it as it was)
            decision = {**_body("2026-12-02T00:00:00+00:00"), "when": when, "id": "a" * 32,
                        "seq": 0}
            event = {"kind": "feedback", "who": {"user_id": "u", "role": ""},
                     "what": {"action": "feedback"}, "when": when,
                     "decision": {"allowed": True, "policy_id": None}}
            with pytest.raises(AuditError, match=REFUSED):
                store._append_all([decision])
            with pytest.raises(AuditError, match=REFUSED):
                store.record_event(event)
            assert store.counts()["records"] == 0, when
        # the allowed path beside it: a time is taken, and only it is on the trail
        store.record_event({**event, "when": "2026-12-02T00:00:00-01:00"})
        assert store.counts()["records"] == 1
        assert store.verify().ok


def test_verify_still_reports_an_edited_timestamp(tmp_path: Path) -> None:
    path = tmp_path / "audit.db"
    with AuditStore(f"sqlite:///{path}") as store:
        _fill(store)
    with sqlite3.connect(path) as conn:  # 04:30 UTC moved to an hour later
        conn.execute("UPDATE lacuna_audit SET timestamp = '2026-12-02T05:30:00.000000+00:00' "
                     "WHERE seq = 1")
    with AuditStore(f"sqlite:///{path}", read_only=True) as store:
        report = store.verify()
    assert not report.ok
    assert report.first_bad == 1
    assert "timestamp" in report.problem


def test_migration_0016_rewrites_an_older_trail_sqlite(tmp_path: Path) -> None:
    _rewrites_an_older_trail(f"sqlite:///{tmp_path / 'audit.db'}")


def test_migration_0016_rewrites_an_older_trail_postgresql(postgres_url: str) -> None:
    _rewrites_an_older_trail(new_postgres_database(postgres_url))


def _rewrites_an_older_trail(url: str) -> None:
    """A trail written before the column was normalised (its column as the body spells
    ``when``, at revision 0015): a read-only verify accepts it as it is, and the next store to
    open it rewrites the column, after which ``list`` compares instants."""
    with AuditStore(url) as store:
        _fill(store)
    engine = create_engine(url)
    with engine.begin() as conn:  # as the store before 0016 wrote it
        for i, (when, _, _) in enumerate(WHENS, start=1):
            conn.execute(text("UPDATE lacuna_audit SET timestamp = :w WHERE seq = :s"),
                         {"w": when, "s": i})
        conn.execute(text("UPDATE lacuna_alembic_version SET version_num = '0015'"))
    with AuditStore(url, read_only=True) as store:
        assert store.verify().ok
        assert _inside(store, since=SINCE, until=UNTIL) != _expected()  # what was wrong
    with AuditStore(url) as store:  # upgrades to head
        _check(store)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM lacuna_alembic_version")).scalar() \
            == "0016"
        stamps = [t for (t,) in conn.execute(text("SELECT timestamp FROM lacuna_audit"))]
    engine.dispose()
    assert all(len(t) == 32 and t.endswith("+00:00") for t in stamps)


def test_verify_reports_a_column_put_back_to_its_offset_spelling(tmp_path: Path) -> None:
    """Once the trail is at revision 0016 the column holds UTC only: put back to the body's own
    spelling (which sorts the record at another time for ``since=``) it is an edit."""
    path = tmp_path / "audit.db"
    with AuditStore(f"sqlite:///{path}") as store:
        _fill(store)
        assert store.verify().ok  # the allowed path: offsets in the bodies, UTC in the column
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE lacuna_audit SET timestamp = ? WHERE seq = 1", (WHENS[0][0],))
    with AuditStore(f"sqlite:///{path}", read_only=True) as store:
        report = store.verify()
        assert 1 not in [r.seq for r in store.list(limit=None, since=SINCE)]  # hidden
    assert (report.ok, report.first_bad) == (False, 1)
    assert "not its instant in UTC" in report.problem
