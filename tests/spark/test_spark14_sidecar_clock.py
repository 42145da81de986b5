"""A folder's malformed sidecar and the retention clock of the write that replaces it.

``lacuna.lineage.clock.existing`` reads a destination's trusted sidecar before a write, to keep
its clock. An untrusted or damaged sidecar says nothing (docs/retention.md), but it must not
crash the write with an unexplained error: a sidecar whose JSON holds an integer of more than
4,300 digits made ``json.loads`` raise a bare ``ValueError`` ("Exceeds the limit (4300 digits)
for integer string conversion"), which is no ``SidecarError``, so the Spark write of that folder
failed with it, undecided and unrecorded. Now every malformed sidecar is a ``SidecarError``
naming the file, reported (logged) by the clock, and the write is decided, recorded, and takes
the clock from its sources and now (never a clock the damaged sidecar claims)."""

from __future__ import annotations

import logging
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from lacuna.governor import current
from lacuna.lineage import clock
from lacuna.lineage.sidecar import SidecarError, read_sidecar, sidecar_path

NOW = datetime.now(UTC)

DAMAGED = {
    "huge_integer": b'{"classification": {}, "first_seen": 1' + b"0" * 5000 + b"}",
    "truncated": b'{"classification": {"tier": "PUB',
    "binary": bytes(range(256)) * 4,
    "wrong_types": b'{"classification": [], "first_seen": 5, "signature": {"a": 1}}',
    "directory": None,
}


def _damage(folder: Path, how: str) -> Path:
    side = sidecar_path(folder)
    if side.is_dir():
        side.rmdir()
    elif side.exists():
        side.unlink()
    raw = DAMAGED[how]
    if raw is None:
        side.mkdir()
    else:
        side.write_bytes(raw)
    return side


@pytest.mark.parametrize("how", sorted(DAMAGED))
def test_a_damaged_folder_sidecar_says_nothing_and_is_reported(
        tmp_path: Path, how: str, caplog: pytest.LogCaptureFixture) -> None:
    """Without Spark: the clock of a folder whose sidecar is damaged is unknown (None), said in
    an error log naming the sidecar; reading the sidecar raises a SidecarError (was: a bare
    ValueError for the huge integer)."""
    folder = tmp_path / "out.parquet"
    folder.mkdir()
    (folder / "part-00000.parquet").write_bytes(b"x")
    side = _damage(folder, how)
    with pytest.raises(SidecarError) as raised:
        read_sidecar(folder)
    assert str(side) in str(raised.value)
    with caplog.at_level(logging.WARNING, logger="lacuna.lineage.clock"):
        assert clock.existing(str(folder)) is None
    said = [r.getMessage() for r in caplog.records if r.name == "lacuna.lineage.clock"]
    assert any(str(side) in m and "retention clock" in m for m in said), said


@pytest.mark.parametrize("how", ["huge_integer", "directory"])
def test_a_spark_write_over_a_damaged_sidecar_is_decided_recorded_and_read_back(
        gspark, governed: Path, how: str) -> None:
    spark = gspark
    out = governed / "governed" / "workspace" / f"damaged_{how}.parquet"
    first = spark.createDataFrame([("books", 3), ("games", 4)], ["product_category", "n"])
    first.write.parquet(str(out))
    written = read_sidecar(out)
    assert written is not None
    assert written.trusted
    _damage(out, how)
    before = len(current().audit.list(limit=None))
    second = spark.createDataFrame([("films", 5)], ["product_category", "n"])
    second.write.mode("overwrite").parquet(str(out))  # was: ValueError (huge integer)
    records = current().audit.list(limit=None)[before:]
    assert [r for r in records if str(out) in r.body and "UNGOVERNED" not in r.body]
    assert not [r for r in records if "UNGOVERNED" in r.body]
    if how == "directory":  # Lacuna cannot write its sidecar over a folder left there
        assert sidecar_path(out).is_dir()
    else:
        relabelled = read_sidecar(out)
        assert relabelled is not None
        assert relabelled.trusted
        assert relabelled.first_seen is not None
        assert relabelled.first_seen > NOW - timedelta(hours=1)  # from now: nothing earlier
    back = spark.read.parquet(str(out))
    assert sorted(tuple(r) for r in back.collect()) == [("films", 5)]
    assert os.path.isdir(out)
