"""Database URLs without an authority (``://``), as JDBC spells some: each is decided by the
host it names (Oracle's after ``@``), an embedded database is this machine, and one whose host
cannot be read is outside. They raised an IndexError before (a refusal in enforce mode, a
write let through in warn mode)."""

from __future__ import annotations

import pytest

from lacuna.config import DestinationConfig
from lacuna.destinations import classify_destination
from lacuna.model import DestinationType, Scope

CONFIG = DestinationConfig(internal_hosts=("db.internal",))


@pytest.fixture(autouse=True)
def _cwd_outside_tmp(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir("/")  # relative SQLite files are not under /tmp (unmanaged)


@pytest.mark.parametrize(("url", "scope", "named"), [
    ("jdbc:oracle:thin:@evil.example.com:1521:ORCL", Scope.EXTERNAL, "evil.example.com"),
    ("jdbc:oracle:thin:@//evil.example.com:1521/svc", Scope.EXTERNAL, "evil.example.com"),
    ("jdbc:oracle:thin:@db.internal:1521:ORCL", Scope.INTERNAL, None),
    ("jdbc:oracle:thin:@localhost:1521:XE", Scope.INTERNAL, None),
    # every HOST= of a descriptor counts: one outside makes the URL outside
    ("jdbc:oracle:thin:@(DESCRIPTION=(ADDRESS_LIST=(ADDRESS=(PROTOCOL=TCP)(HOST=127.0.0.1)"
     "(PORT=1521))(ADDRESS=(PROTOCOL=TCP)(host = evil.example.com)(PORT=1521))))",
     Scope.EXTERNAL, "evil.example.com"),
    ("jdbc:oracle:thin:@(DESCRIPTION=(ADDRESS=(PROTOCOL=TCP)(HOST=db.internal)(PORT=1521)))",
     Scope.INTERNAL, None),
    # the host is in the environment (TNS, TWO_TASK): not read, so outside
    ("jdbc:oracle:oci:@", Scope.EXTERNAL, "does not name"),
    ("jdbc:db2:SAMPLE", Scope.EXTERNAL, "does not name"),
    # embedded in the process that names them
    ("jdbc:derby:memory:scratch", Scope.INTERNAL, None),
    ("jdbc:h2:mem:test", Scope.INTERNAL, None),
    ("jdbc:sqlite::memory:", Scope.INTERNAL, None),
])
def test_a_database_url_without_an_authority_is_decided_by_its_host(
        url: str, scope: Scope, named: str | None) -> None:
    place = classify_destination(url, CONFIG)
    assert place.type is DestinationType.DATABASE
    assert place.scope is scope, place.reasoning
    if named is not None:
        assert named in place.reasoning


def test_a_jdbc_sqlite_file_is_decided_by_where_it_lies() -> None:
    """``jdbc:sqlite:/tmp/x.db`` is the file /tmp/x.db, under an unmanaged place like
    ``sqlite:////tmp/x.db``; the same file named both ways is decided the same."""
    jdbc = classify_destination("jdbc:sqlite:/tmp/x.db", CONFIG)
    plain = classify_destination("sqlite:////tmp/x.db", CONFIG)
    assert jdbc.path == plain.path == "/tmp/x.db"
    assert jdbc.scope is plain.scope is Scope.EXTERNAL
    assert not jdbc.managed
