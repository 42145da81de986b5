"""The retention clocks a lineage store keeps for written files (:mod:`lacuna.lineage.seen`): a
run's outputs take the earliest clock of the inputs at a tier no higher than theirs, in a few
queries however many inputs and outputs the run has."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import event

from lacuna.lineage import seen
from lacuna.lineage.records import DatasetRef, DatasetVersion, Run, RunStatus
from lacuna.lineage.store import LineageStore
from lacuna.model import (
    Action,
    Classification,
    Destination,
    DestinationType,
    Operation,
    Scope,
    Source,
    Tier,
    User,
)

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


@pytest.fixture
def store(sandbox: Path) -> Iterator[LineageStore]:
    """A store in the sandbox's state database (migrated once per session)."""
    with LineageStore(f"sqlite:///{sandbox / 'audit.db'}") as s:
        yield s


def ref(name: str) -> DatasetRef:
    return DatasetRef("file", f"/data/{name}")


def v(name: str, tier: Tier) -> DatasetVersion:
    return DatasetVersion(dataset=ref(name), classification=Classification(tier=tier))


def _counted(store: LineageStore, call: object) -> int:
    statements: list[object] = []

    def listen(*args: object) -> None:
        statements.append(args[2])

    event.listen(store.engine, "before_cursor_execute", listen)
    try:
        call()  # type: ignore[operator]
    finally:
        event.remove(store.engine, "before_cursor_execute", listen)
    return len(statements)


def test_a_runs_outputs_take_the_earliest_clock_they_may(store: LineageStore) -> None:
    """Each output takes the earliest clock among the inputs at a tier no higher than its own
    (a PUBLIC output does not take a PROPRIETARY input's clock); an input the run also writes
    does not count for itself; a clock only moves earlier."""
    seen.saw(store, ref("public.csv"), T0 + timedelta(days=3))
    seen.saw(store, ref("secret.csv"), T0 + timedelta(days=1))
    seen.saw(store, ref("self.csv"), T0 + timedelta(days=5))
    seen.saw(store, ref("older.csv"), T0 - timedelta(days=9))
    seen.saw(store, ref("other.csv"), T0 + timedelta(days=4))
    run = Run(id="r1", operation="export", status=RunStatus.SUCCEEDED,
              inputs=(v("public.csv", Tier.PUBLIC), v("secret.csv", Tier.PROPRIETARY),
                      v("self.csv", Tier.PUBLIC), v("other.csv", Tier.PUBLIC),
                      v("never.csv", Tier.PUBLIC)),
              outputs=(v("out_public.csv", Tier.PUBLIC), v("out_secret.csv", Tier.PROPRIETARY),
                       v("self.csv", Tier.PUBLIC), v("older.csv", Tier.PUBLIC)))
    seen.record_run(store, run)
    assert seen.first_seen(store, ref("out_public.csv")) == T0 + timedelta(days=3)
    assert seen.first_seen(store, ref("out_secret.csv")) == T0 + timedelta(days=1)
    assert seen.first_seen(store, ref("self.csv")) == T0 + timedelta(days=3)  # not its own
    assert seen.first_seen(store, ref("older.csv")) == T0 - timedelta(days=9)  # only earlier
    seen.record_run(store, Run(id="r2", operation="export", status=RunStatus.FAILED,
                               inputs=(v("older.csv", Tier.PUBLIC),),
                               outputs=(v("failed.csv", Tier.PUBLIC),)))
    assert seen.first_seen(store, ref("failed.csv")) is None


def test_a_wide_run_takes_its_clocks_in_a_few_queries(store: LineageStore) -> None:
    """Each output asked the store for each input's clock: a run of 1,000 inputs and 1,000
    outputs (an OpenLineage run a client sends the server) made a million queries. The inputs'
    clocks are read together now: as many statements for 20 inputs as for 2."""
    for i in range(20):
        seen.saw(store, ref(f"in{i}.csv"), T0 + timedelta(days=i))
    counts = []
    for n in (2, 20):
        run = Run(id=f"r{n}", operation="export", status=RunStatus.SUCCEEDED,
                  inputs=tuple(v(f"in{i}.csv", Tier.INTERNAL) for i in range(n)),
                  outputs=tuple(v(f"out{n}_{j}.csv", Tier.INTERNAL) for j in range(5)))
        counts.append(_counted(store, lambda run=run: seen.record_run(store, run)))
        assert {seen.first_seen(store, ref(f"out{n}_{j}.csv")) for j in range(5)} == {T0}
    assert counts[0] == counts[1], counts


def test_a_writes_clock_reads_its_sources_together(store: LineageStore) -> None:
    """An allowed write's destination takes the earliest clock of its sources at a tier no
    higher than its own, read in one query however many sources the decision names."""
    for i in range(20):
        seen.saw(store, ref(f"src{i}.csv"), T0 + timedelta(days=i + 1))
    seen.saw(store, ref("secret.csv"), T0 - timedelta(days=30))
    now = T0 + timedelta(days=100)
    counts = []
    for n in (2, 20):
        target = f"/data/out{n}.csv"
        op = Operation(
            action=Action.WRITE, user=User(id="alice", role="analyst"),
            classification=Classification(tier=Tier.INTERNAL),
            sources=(*(Source(name=f"/data/src{i}.csv",
                              classification=Classification(tier=Tier.INTERNAL))
                       for i in range(n)),
                     Source(name="/data/secret.csv",
                            classification=Classification(tier=Tier.PROPRIETARY))),
            destination=Destination(uri=target, type=DestinationType.FILE,
                                    scope=Scope.INTERNAL))
        counts.append(_counted(store, lambda op=op: seen.record_write(store, op, now=now)))
        assert seen.first_seen(store, ref(f"out{n}.csv")) == T0 + timedelta(days=1)
    assert counts[0] == counts[1], counts


def test_a_copy_by_hand_is_as_old_as_its_content_in_local_mode_too(governed: Path) -> None:
    """Without ``server:``, a copy made by hand (``cp a.csv b.csv``: no sidecar) is read with
    the clock the local store knows of its content (the clock of the file Lacuna wrote it to,
    and no later than that write), as a server answers by the content's fingerprint; and a
    write derived from the copy takes it (before: no clock, so the derived file's started at
    its write). Other content has none."""
    import shutil

    import pandas as pd
    import time_machine

    from lacuna.governor import current
    from lacuna.lineage.sidecar import read_sidecar

    original = governed / "governed" / "workspace" / "a.csv"
    written = datetime(2022, 3, 4, tzinfo=UTC)
    with time_machine.travel(written, tick=False):
        pd.DataFrame({"n": [1, 2]}).to_csv(original, index=False)
    copy, other = governed / "b.csv", governed / "c.csv"
    shutil.copyfile(original, copy)
    other.write_text("n\n3\n", encoding="utf-8")
    gov = current()
    assert gov.classify_read_raised(str(copy), pd.read_csv(copy))[4] == written
    assert gov.classify_read_raised(str(other), pd.read_csv(other))[4] is None
    derived = governed / "governed" / "workspace" / "d.csv"
    pd.read_csv(copy).to_csv(derived, index=False)
    declared = read_sidecar(derived)
    assert declared is not None
    assert declared.first_seen == written
