"""Sidecars: round trip, atomic writes, and hostile or broken files (never a silent downgrade)."""

from __future__ import annotations

import json
import os

import pytest

from lacuna.lineage import sidecar as sc
from lacuna.model import Classification, ColumnClass, ColumnKind, Tier

C = Classification(tier=Tier.PROPRIETARY, tags=("PII",),
                   columns={"email": ColumnClass(classification=ColumnKind.PII, pii_type="email")})


def test_round_trip_keeps_classification_and_sources(tmp_path):
    data = tmp_path / "x.csv"
    path = sc.write_sidecar(data, C, sources=("customers.csv",), written_by="alice")
    assert path == tmp_path / "x.csv.lacuna.json"
    back = sc.read_sidecar(data)
    assert back.classification.tier is Tier.PROPRIETARY
    assert back.classification.columns["email"].pii_type == "email"
    assert back.sources == ("customers.csv",)
    assert back.written_by == "alice"
    assert [p.name for p in tmp_path.iterdir()] == ["x.csv.lacuna.json"]  # no temp file left


def test_missing_sidecar_is_none(tmp_path):
    assert sc.read_sidecar(tmp_path / "nothing.csv") is None


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", r"x\.csv\.lacuna\.json:1:2: the classification sidecar is not valid JSON"),
        ("[1, 2]", "is malformed"),
        ('{"classification": "PUBLIC"}', "is malformed"),
        ('{"classification": {"tier": "SECRET"}}', "unknown tier 'SECRET'"),
        (b"\xff\xfe\x00", "cannot read"),
    ],
)
def test_broken_sidecars_raise_with_the_file_and_a_fix(tmp_path, content, message):
    path = tmp_path / "x.csv.lacuna.json"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    with pytest.raises(sc.SidecarError, match=message) as err:
        sc.read_sidecar(tmp_path / "x.csv")
    assert str(path) in str(err.value)


def test_oversized_sidecar_is_refused_without_parsing(tmp_path, monkeypatch):
    monkeypatch.setattr(sc, "MAX_SIDECAR_BYTES", 100)
    body = json.dumps({"classification": {}, "pad": "x" * 200})
    (tmp_path / "x.csv.lacuna.json").write_text(body)
    with pytest.raises(sc.SidecarError, match="over the 100 byte limit"):
        sc.read_sidecar(tmp_path / "x.csv")


def test_a_failed_write_leaves_the_old_sidecar_intact(tmp_path, monkeypatch):
    data = tmp_path / "x.csv"
    sc.write_sidecar(data, C)
    before = (tmp_path / "x.csv.lacuna.json").read_text()

    def boom(*_a, **_k):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        sc.write_sidecar(data, Classification())
    assert (tmp_path / "x.csv.lacuna.json").read_text() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.csv.lacuna.json"]


@pytest.mark.parametrize(("target", "local"), [
    ("out.csv", True), ("s3://bucket/x.csv", False), ("   ", False), (b"x", False),
])
def test_is_local(target, local):
    assert sc.is_local(target) is local
