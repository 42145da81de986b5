"""The exceptions table across releases: rows written before exceptions kept a history."""

from __future__ import annotations

import json


def test_rows_signed_before_history_existed_still_verify(tmp_path):
    """A grant written by the previous release (no ``history`` in its body) stays honoured."""
    import sqlite3

    from lacuna.exceptions import ExceptionRequest, ExceptionStore
    from lacuna.exceptions.authority import PAYLOAD_KIND
    from lacuna.model import utcnow

    store = ExceptionStore(f"sqlite:///{tmp_path / 'state.db'}")
    made = store.add(ExceptionRequest(
        id="", requested_by="alice", requester_role="analyst", action="export",
        destination="/tmp/x.csv", sources=(), tier="PUBLIC", tags=(),
        purpose="Quarterly board presentation of metrics", business_justification="",
        approver="steward@example.com", duration_hours=1.0, conditions=(),
        created_at=utcnow()))
    old = made.to_dict()
    del old["history"], old["signature"]
    old.pop("approval_conditions", None)  # nor approval conditions, which came later still
    old["signature"] = store.keyring.sign({"kind": PAYLOAD_KIND, "body": dict(old)})
    with sqlite3.connect(tmp_path / "state.db") as conn:
        conn.execute("update lacuna_exceptions set body = ? where id = ?",
                     (json.dumps(old), made.id))
    legacy = store.get(made.id)
    assert legacy.history == ()
    assert store.verified(legacy)
    tampered = dict(old, destination="/tmp/other.csv")
    with sqlite3.connect(tmp_path / "state.db") as conn:
        conn.execute("update lacuna_exceptions set body = ? where id = ?",
                     (json.dumps(tampered), made.id))
    assert not store.verified(store.get(made.id))
    store.close()
