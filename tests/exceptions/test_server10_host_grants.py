"""A grant the server bound to the host it was requested from never covers an in-process
operation (a script, a notebook, the dbt runtime), which names no host a server vouches for:
the denial says why and what to do. The machine's own name is not used instead (it is the
process's word): a grant bound to one host would then cover any process claiming the name."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from lacuna.exceptions.model import ExceptionRequest, Status
from lacuna.model import (
    Action,
    Classification,
    Destination,
    DestinationType,
    Operation,
    Scope,
    User,
    utcnow,
)

NOW = utcnow()


def _grant(host: str | None) -> ExceptionRequest:
    return ExceptionRequest(
        id="EXC-s10", requested_by="ana", requester_role="analyst", action="export",
        destination="/tmp/s10/board.csv", sources=(), tier="PROPRIETARY", tags=("PII",),
        purpose="Board Q4 presentation", business_justification="", approver="joe",
        duration_hours=2, conditions=(), created_at=NOW - timedelta(minutes=5),
        status=Status.APPROVED, decided_by="joe", decided_role="data_steward",
        decided_at=NOW - timedelta(minutes=4), valid_from=NOW - timedelta(minutes=4),
        valid_until=NOW + timedelta(hours=2), host=host)


def _export() -> Operation:  # in-process: no client host
    return Operation(action=Action.EXPORT, user=User(id="ana", role="analyst"),
                     classification=Classification.from_dict({"tier": "PROPRIETARY",
                                                              "tags": ["PII"]}),
                     destination=Destination(uri="/tmp/s10/board.csv", type=DestinationType.FILE,
                                             scope=Scope.EXTERNAL),
                     exception_id="EXC-s10")


def test_server10_in_process_use_of_a_host_bound_grant_says_why_and_what_to_do() -> None:
    covered, why = _grant("ana-laptop").covers(_export(), NOW)
    assert covered is False
    for part in ("requested through the Lacuna server from host ana-laptop",
                 "names no client host: it runs in this process",
                 "the dbt runtime", "its own host name is only its word",
                 "Run it from ana-laptop with lacuna.yaml's server: set",
                 "request an exception that is bound to no host"):
        assert part in why, why


def test_server10_the_same_grant_covers_its_vouched_host_and_an_unbound_one_any() -> None:
    """The allowed paths: the host-bound grant through the server that vouches for its host;
    a grant bound to no host (requested in-process) in-process. A host only named, not
    vouched for, keeps its own message."""
    op = _export()
    assert _grant("ana-laptop").covers(replace(op, client_host="ana-laptop",
                                               host_verified=True), NOW)[0] is True
    assert _grant(None).covers(op, NOW)[0] is True
    covered, why = _grant("ana-laptop").covers(replace(op, client_host="ana-laptop"), NOW)
    assert covered is False
    assert "names host 'ana-laptop', which the server does not vouch for" in why
