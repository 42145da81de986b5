"""A source whose lineage store cannot answer (unreadable, or a version it recorded was
deleted by hand) is refused in enforce mode, saying why: it was logged and the source
classified from a sample of its values alone, below what the store had recorded of it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import lacuna.spark
from lacuna.errors import GovernanceViolation, LineageError
from lacuna.governor import current
from lacuna.lineage import sidecar as sc
from lacuna.lineage.store import LineageStore
from lacuna.model import Tier


def test_a_store_that_cannot_answer_refuses_the_read(gspark, governed: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    out = governed / "governed" / "workspace" / "people.parquet"
    gspark.createDataFrame(  # type: ignore[attr-defined]
        [("a@example.com", "EU"), ("b@example.org", "US")], ["email", "region"]
    ).write.parquet(str(out))
    for path in sc.own_sidecar_paths(out):  # no label to go by: the store is asked
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)

    def refuses(self: LineageStore, *args: object, **kwargs: object) -> None:
        raise LineageError("a version of this dataset was deleted from the lineage store")

    with monkeypatch.context() as patched:  # (the fixtures' own patches stay)
        patched.setattr(type(current().lineage_store), "latest_written", refuses)
        with pytest.raises(GovernanceViolation, match="deleted from the lineage store"):
            lacuna.spark.classification(
                gspark.read.parquet(str(out)))  # type: ignore[attr-defined]
    # the store answers: what it recorded of the write classifies the read
    read = gspark.read.parquet(str(out))  # type: ignore[attr-defined]
    assert lacuna.spark.classification(read).tier is Tier.PROPRIETARY
