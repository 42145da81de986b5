"""A label file (``.x.csv.lacuna.json``) is held to the shape Lacuna writes.

The governed mount keeps a label written through it in plaintext (never sealed) and lets any
process read it without a decision. A label was any JSON object with a ``classification``
object, so data could hide in it: ``{"classification": {}, "rows": "<a customer file>"}``
written beside a PUBLIC memo, read undecided, copied out. Now only the keys and values Lacuna
writes make a label; anything else under a label's name is refused as a write and read as
data."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from lacuna.lineage.labels import MAX_TEXT, check_label, label_problem
from lacuna.lineage.sidecar import sidecar_path, write_sidecar
from lacuna.model import Classification, ColumnClass, ColumnKind, Sensitivity, Tier

SECRET = "ann@example.com,123-45-6789"


def _lacunas_label(tmp_path: Path) -> tuple[Path, dict[str, Any]]:
    data = tmp_path / "memo.txt"
    data.write_text("the board approved the plan\n")
    c = Classification(tier=Tier.PROPRIETARY, tags=("PII",), reasoning=("a steward's label",),
                       columns={"email": ColumnClass(classification=ColumnKind.PII,
                                                     pii_type="email",
                                                     sensitivity=Sensitivity.HIGH,
                                                     confidence=0.91234,
                                                     reasoning="e-mail pattern")})
    side = write_sidecar(data, c, sources=(str(tmp_path / "customers.csv"),),
                         written_by="ana", run_id="run-1")
    return side, json.loads(side.read_text())


def test_lineage10_a_label_lacuna_writes_is_a_label(tmp_path: Path) -> None:
    side, _ = _lacunas_label(tmp_path)
    assert label_problem(str(side)) is None
    folder = tmp_path / "table"
    folder.mkdir()
    (folder / "part-0.csv").write_text("id\n1\n")
    assert label_problem(str(write_sidecar(folder, Classification()))) is None
    # a hand-written label of the documented keys only is one too
    hand = tmp_path / ".hand.txt.lacuna.json"
    hand.write_text(json.dumps({"classification": {"tier": "PROPRIETARY", "tags": ["PII"]}}))
    assert label_problem(str(hand)) is None


def _put(raw: dict[str, Any], where: tuple[str, ...], value: Any) -> None:
    for key in where[:-1]:
        raw = raw[key]
    raw[where[-1]] = value


@pytest.mark.parametrize(("where", "value", "said"), [
    (("rows",), SECRET, "a key Lacuna does not write: 'rows'"),
    (("classification", "rows"), SECRET, "classification has a key Lacuna does not write"),
    (("classification", "columns", "email", "rows"), SECRET, "a key Lacuna does not write"),
    (("classification", "tier"), "proprietary", "'tier' is not as Lacuna writes it"),
    (("classification", "confidence"), 0.123456789, "'confidence' is not as Lacuna writes"),
    (("classification", "reasoning"), ["x" * (MAX_TEXT + 1)], "at most 4096 characters"),
    (("classification", "columns", "email", "pii_type"), 7, "pii_type must be a string"),
    (("content", "sha256"), SECRET, "content has a key or value Lacuna does not write"),
    (("content", "note"), "x", "content has a key or value Lacuna does not write"),
    (("signature",), f"hmac-sha256:{SECRET}", "signature must be hmac-sha256"),
    (("run_id",), SECRET + " " * 40, "run_id must be a run id"),
    (("written_at",), SECRET, "written_at must be an ISO 8601 time"),
    (("sources",), [{"rows": SECRET}], "sources[0] must be a text"),
    (("generator",), SECRET, "generator must be 'lacuna'"),
    (("combined",), SECRET, "combined must be true or false"),
])
def test_lineage10_data_hidden_in_a_label_is_refused(
        tmp_path: Path, where: tuple[str, ...], value: Any, said: str) -> None:
    side, raw = _lacunas_label(tmp_path)
    _put(raw, where, value)
    side.write_text(json.dumps(raw))
    problem = label_problem(str(side))
    assert problem is not None
    assert said in problem


def test_lineage10_check_label_needs_a_classification() -> None:
    with pytest.raises(ValueError, match="no 'classification' object"):
        check_label({"written_by": "ana"})


def _governance(sandbox: Path, sandbox_config: Any) -> Any:
    from lacuna.governor import Governor
    from lacuna.mount.decide import MountGovernance
    from lacuna.mount.layout import MountLayout, mount_config

    source, mnt = sandbox / "governed" / "workspace", sandbox / "mnt"
    mnt.mkdir()
    layout = MountLayout.of(source, mnt)
    return MountGovernance(Governor(mount_config(sandbox_config(), layout)), layout)


def test_lineage10_the_mount_keeps_only_a_label_under_a_labels_name(
        sandbox: Path, sandbox_config: Any, tmp_path: Path) -> None:
    governance = _governance(sandbox, sandbox_config)
    source = sandbox / "governed" / "workspace"
    (source / "memo.txt").write_text("the board approved the plan\n")
    staged = tmp_path / "staged"
    staged.mkdir()
    side, raw = _lacunas_label(staged)
    published: list[object] = []
    # Lacuna's own label, written through the mount: kept as a label
    governance.write("/.memo.txt.lacuna.json", str(side), os.getpid(), published.append)
    assert len(published) == 1
    raw["rows"] = SECRET
    side.write_text(json.dumps(raw))
    with pytest.raises(PermissionError, match="a key Lacuna does not write: 'rows'"):
        governance.write("/.memo.txt.lacuna.json", str(side), os.getpid(), published.append)
    assert len(published) == 1


def test_lineage10_a_label_holding_data_is_read_as_data(
        sandbox: Path, sandbox_config: Any) -> None:
    governance = _governance(sandbox, sandbox_config)
    source = sandbox / "governed" / "workspace"
    data = source / "memo.txt"
    data.write_text("the board approved the plan\n")
    side = write_sidecar(data, Classification(tier=Tier.INTERNAL))
    assert side == sidecar_path(data)
    pid = os.getpid()
    governance.read("/.memo.txt.lacuna.json", pid)
    assert governance.tracker.reads(pid) == ()  # a label: not data, not decided
    raw = json.loads(side.read_text())
    raw["rows"] = SECRET
    side.write_text(json.dumps(raw))
    governance.read("/.memo.txt.lacuna.json", pid)
    assert [r.path for r in governance.tracker.reads(pid)] == [str(side)]  # decided as data
