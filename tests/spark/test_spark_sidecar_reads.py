"""A read of a folder Spark wrote reads its sidecars once: each read of them hashes every file
of the folder (the signature is bound to the content), so the classification that decides on
them passes what it read to the governor instead of the governor reading it again."""

from __future__ import annotations

from pathlib import Path

import pytest

import lacuna.spark
from lacuna.lineage import sidecar as sc
from lacuna.model import Tier


def test_a_labelled_folder_is_read_and_hashed_once(gspark, governed: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    out = governed / "governed" / "workspace" / "people.parquet"
    gspark.createDataFrame(  # type: ignore[attr-defined]
        [("a@example.com", "EU"), ("b@example.org", "US")], ["email", "region"]
    ).write.parquet(str(out))
    assert sc.read_sidecar(out).trusted
    calls: list[str] = []
    real = sc.read_declarations

    def counted(path: object) -> list[sc.Sidecar]:
        calls.append(str(path))
        return real(path)  # type: ignore[arg-type]

    monkeypatch.setattr(sc, "read_declarations", counted)
    found = lacuna.spark.classification(gspark.read.parquet(str(out)))  # type: ignore[attr-defined]
    assert found.tier is Tier.PROPRIETARY
    assert found.columns["email"].layer.value == "declared"
    assert calls == [str(out)]
