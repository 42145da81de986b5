"""A client's masked output, believed on this server's own evidence: the decision it recorded.

A notebook governed through a Lacuna server (``server:`` in its ``lacuna.yaml``) sends its
runs as OpenLineage events (:class:`lacuna.remote.client.ServerLineage`), signed with the
client's own key, which the server cannot check. An output classified below what its run read
(``lacuna.anonymize`` redacted the e-mails: the tags lose ``PII``) is therefore held to its
inputs on ingest (:func:`lacuna.lineage.claims._unattested`), and the server recorded a
refused lowering for every masked write a client made.

The server has evidence of its own, though: before the client wrote, it asked ``POST
/api/v1/decide`` about that very write, and the server decided and recorded it on its audit
trail. A run's ``decisionId`` naming such a decision vouches for an output when all of these
hold (:func:`vouched_outputs`); otherwise the output is held to its inputs as before:

- the decision is on this server's trail, first recorded by the caller (an id is its first
  recorder's: another user's decision id, or a record made later under it, counts for
  nothing: :func:`lacuna.server.routes_files._first_recorder`), from the caller's host;
- it allowed a write or export whose destination is this output;
- the class it decided on carries the masking transform's mark (``ANONYMIZED``, what
  :func:`lacuna.anonymize` adds): a decision on a plain copy proves no lowering;
- the output is declared at least at that class (tier, tags, each column): an event may not
  lower further what the server decided on.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from lacuna.lineage.records import DatasetRef
from lacuna.model import ANONYMIZED, Tier

if TYPE_CHECKING:
    from lacuna.identity import Principal
    from lacuna.lineage.records import DatasetVersion, Run

log = logging.getLogger("lacuna.server")

_WRITES = ("write", "export")


def vouched_outputs(state: Any, run: Run, principal: Principal, host: str | None) -> Run:
    """``run`` with each output the run's decision on this server's audit trail vouches for
    marked :attr:`~lacuna.lineage.records.DatasetVersion.attested` (see the module
    docstring); ``run`` itself when none is. A trail that cannot be read vouches for nothing
    (the outputs are held to the inputs: fail closed)."""
    if not run.decision_id or not run.outputs:
        return run
    try:
        decisions = _decisions(state, run.decision_id, principal, host)
    except Exception as exc:
        log.error("could not read decision %s of run %s from the audit trail; its outputs are "
                  "held to what it read: %s", run.decision_id[:80], run.id, exc)
        return run
    if not decisions:
        return run
    outputs = []
    for v in run.outputs:
        record = next((r for r in decisions if _names(r, v.dataset) and _within(r, v)), None)
        if record is None or v.attested:
            outputs.append(v)
            continue
        c = v.classification
        why = (f"{c.tier.value} below what the run read: decision {run.decision_id} of this "
               f"server allowed its write at that class, masked ({ANONYMIZED})")
        outputs.append(replace(v, attested=True, classification=replace(
            c, reasoning=(why, *c.reasoning))))
    return replace(run, outputs=tuple(outputs))


def _decisions(state: Any, operation_id: str, principal: Principal, host: str | None
               ) -> list[Any]:
    """The allowed write/export decisions ``operation_id`` names on the trail, when its first
    recorder is ``principal`` and they were made from ``host`` (or named none)."""
    from lacuna.identity import canonical_name
    from lacuna.server.routes_files import _first_recorder, _from_host

    records = _first_recorder([
        r for r in state.governor.audit.list(limit=None, naming=("operation_id", [operation_id]))
        if r.kind == "decision" and r.data.get("operation_id") == operation_id])
    if not records or canonical_name(records[0].user_id) != canonical_name(principal.name):
        return []
    return [r for r in records if r.allowed and r.action in _WRITES
            and (host is None or _from_host(r.data, host))]


def _names(record: Any, dataset: DatasetRef) -> bool:
    """Whether the decision ``record`` is about writing ``dataset``."""
    if not isinstance(record.destination, str) or not record.destination:
        return False
    try:
        return DatasetRef.of(record.destination) == dataset
    except Exception:  # not a name the store could hold: not this output
        return False


def _within(record: Any, version: DatasetVersion) -> bool:
    """Whether the class ``record`` decided on is masked and ``version`` is declared at least
    at it: its tier, every tag, and each column's class."""
    what = record.data.get("what")
    if not isinstance(what, dict):
        return False
    tags = what.get("tags")
    if not isinstance(tags, list) or ANONYMIZED not in tags:
        return False
    c = version.classification
    try:
        decided = Tier(str(what.get("tier")))
    except ValueError:
        return False
    if c.tier < decided or any(t not in (*c.tags, *c.table_tags) for t in tags):
        return False
    columns = what.get("columns")
    if not isinstance(columns, dict):
        return False
    for name, kind in columns.items():
        mine = c.columns.get(name)
        cls, _, pii_type = str(kind).partition(":")
        if cls == "public":
            continue
        if mine is None or mine.classification.value != cls or (
                pii_type and mine.pii_type != pii_type):
            return False
    return True


__all__ = ["vouched_outputs"]
