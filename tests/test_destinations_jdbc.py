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


@pytest.mark.parametrize(("url", "scope", "named"), [
    # an IPv6 address is in brackets: the host is the address, not "[" (before, "[" or
    # "[2001": loopback was external and an internal address matched nothing)
    ("jdbc:oracle:thin:@[::1]:1521:ORCL", Scope.INTERNAL, None),
    ("jdbc:oracle:thin:@//[::1]:1521/ORCL", Scope.INTERNAL, None),
    ("jdbc:oracle:thin:scott/tiger@//[::1]:1521/ORCL", Scope.INTERNAL, None),
    ("jdbc:oracle:oci:@[::1]:1521/ORCL", Scope.INTERNAL, None),
    ("jdbc:oracle:thin:@[2001:db8::1]:1521/svc", Scope.EXTERNAL, "on 2001:db8::1,"),
    ("jdbc:oracle:thin:@//[2001:db8::1]:1521/svc", Scope.EXTERNAL, "on 2001:db8::1,"),
    ("jdbc:oracle:thin:@//[2001:db8::7]:1521/svc", Scope.INTERNAL, None),
    ("jdbc:oracle:thin:@(DESCRIPTION=(ADDRESS=(PROTOCOL=TCP)(HOST=[::1])(PORT=1521)))",
     Scope.INTERNAL, None),
    ("jdbc:oracle:thin:@(DESCRIPTION=(ADDRESS_LIST=(ADDRESS=(HOST=[::1])(PORT=1521))"
     "(ADDRESS=(HOST=[2001:db8::1])(PORT=1521))))", Scope.EXTERNAL, "on 2001:db8::1,"),
    ("jdbc:db2:@[2001:db8::1]:50000/x", Scope.EXTERNAL, "on 2001:db8::1,"),
    # bracketed but not an IPv6 address: no host Lacuna can read, outside whatever
    # destinations.internal_hosts says ("*" matches every host)
    ("jdbc:oracle:thin:@[zz::1]:1521/svc", Scope.EXTERNAL, "not an IPv6 address"),
    ("jdbc:oracle:thin:@//[::1:1521/svc", Scope.EXTERNAL, "not an IPv6 address"),
    ("jdbc:oracle:thin:@[]:1521/svc", Scope.EXTERNAL, "not an IPv6 address"),
    ("jdbc:oracle:thin:@(DESCRIPTION=(ADDRESS=(HOST=[db.internal])(PORT=1521)))",
     Scope.EXTERNAL, "not an IPv6 address"),
    # the other forms as before
    ("jdbc:oracle:thin:@127.0.0.1:1521:ORCL", Scope.INTERNAL, None),
    ("jdbc:oracle:thin:@//db.internal:1521/svc", Scope.INTERNAL, None),
    ("jdbc:oracle:thin:@//192.0.2.1:1521/svc", Scope.EXTERNAL, "on 192.0.2.1,"),
])
@pytest.mark.parametrize("internal", [("db.internal", "2001:db8::7"), ("*",)])
def test_an_ipv6_host_in_brackets_is_the_address(
        url: str, scope: Scope, named: str | None, internal: tuple[str, ...]) -> None:
    place = classify_destination(url, DestinationConfig(internal_hosts=internal))
    if internal == ("*",) and named != "not an IPv6 address":
        scope, named = Scope.INTERNAL, None  # every host is internal
    assert place.type is DestinationType.DATABASE
    assert place.scope is scope, place.reasoning
    assert "[" not in place.reasoning.split(" database", 1)[1], place.reasoning
    if named is not None:
        assert named in place.reasoning
