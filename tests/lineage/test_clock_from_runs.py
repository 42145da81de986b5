"""A copy by hand takes the clock of its content from the run that wrote it: never from a run
row edited by hand (its signature no longer matches), whose typed-in ``started_at`` would keep
the data past its retention."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import create_engine, text

import lacuna.lineage.clock as clock
from lacuna import _bypass
from lacuna.governor import current


@pytest.fixture
def copied(governed: Path, monkeypatch: pytest.MonkeyPatch):
    """``governed/workspace/a.csv`` written through Lacuna, copied by hand; the original's own
    clock taken away (as when it is deleted), so only the run's time can date the copy."""
    original = governed / "governed" / "workspace" / "a.csv"
    pd.read_csv(governed / "customers.csv").to_csv(original, index=False)
    copy = governed / "copy.csv"
    copy.write_bytes(original.read_bytes())
    monkeypatch.setattr(clock, "existing", lambda *_a, **_k: None)
    gov = current()
    restored = gov._restore_from_store(str(copy))
    assert restored is not None
    assert restored.run_id is not None
    return gov, restored


def test_the_run_that_wrote_the_content_dates_a_copy(copied):
    gov, restored = copied
    run = gov.lineage_store.get_run(restored.run_id)
    assert gov._restored_clock(restored) == run.started_at


def test_a_run_row_whose_time_was_edited_dates_nothing(copied, governed: Path):
    gov, restored = copied
    started = gov.lineage_store.get_run(restored.run_id).started_at
    engine = create_engine(f"sqlite:///{governed / 'audit.db'}")
    try:  # the user's own edit, around Lacuna (a governed session would decide it)
        with _bypass.bypass(), engine.begin() as conn:
            conn.execute(text("UPDATE lacuna_lineage_runs SET started_at = :t WHERE id = :id"),
                         {"t": (started + timedelta(days=3650)).isoformat(),
                          "id": restored.run_id})
    finally:
        engine.dispose()
    assert gov.lineage_store.get_run(restored.run_id).origin_unknown
    assert gov._restored_clock(restored) is None
