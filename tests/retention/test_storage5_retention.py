"""Retention against the owner of the files, fifth round (2026-12-07): the tags a Rego rule
decides by come from what is authenticated, not from a sidecar anyone can write."""

from __future__ import annotations

import json
import shutil
from datetime import datetime
from pathlib import Path

import time_machine
import yaml

from lacuna.config import config_from_dict
from lacuna.governor import Governor
from lacuna.lineage.sidecar import read_sidecar, sidecar_path
from lacuna.policy.bundle import default_bundle_root
from lacuna.retention import build_plan

from .conftest import write_at, years_ago

# a rule that shortens the window of data tagged TEMP below every tier's minimum
REGO = """package governance.retention
import rego.v1

retention := {"min": "0d", "max": "30d"} if "TEMP" in input.dataset.tags
"""


def _governor(project: Path) -> Governor:
    bundle = project / "policies"
    shutil.copytree(str(default_bundle_root()), bundle)
    (bundle / "retention.rego").write_text(REGO, encoding="utf-8")
    raw = yaml.safe_load((project / "lacuna.yaml").read_text())
    raw["policy"] = {"dir": str(bundle)}
    return Governor(config_from_dict(raw, source=project / "lacuna.yaml"))


def _retag(path: Path, tags: list[str]) -> None:
    """The owner of the files edits the sidecar's tags (its signature no longer verifies)."""
    side = sidecar_path(path)
    raw = json.loads(side.read_text())
    raw["classification"]["tags"] = tags
    side.write_text(json.dumps(raw))
    assert not read_sidecar(path).trusted  # type: ignore[union-attr]


def test_an_untrusted_sidecars_tags_neither_shorten_nor_hide_the_sealed_ones(project: Path):
    """A young file (half a year) with a TEMP tag written into its sidecar by hand was due by
    the TEMP rule and deleted early; one whose PII tag was removed there went to the rules
    and the trail without it. The header's tags (authenticated) are what retention sees; the
    untrusted claim is a doubt, never obeyed."""
    pii = write_at(project, years_ago(0.5), "customers.csv", "pii.csv")
    internal = write_at(project, years_ago(0.5), "sales.csv", "internal.csv")
    _sealed_temp(project, years_ago(0.5), "temp.csv")
    sealed_tags = read_sidecar(pii).classification.tags  # type: ignore[union-attr]
    assert "PII" in sealed_tags
    _retag(pii, [])
    _retag(internal, ["TEMP"])
    gov = _governor(project)
    try:
        entries = {Path(e.item.path).name: e for e in build_plan(gov).entries}
    finally:
        gov.close()
    assert set(sealed_tags) <= set(entries["pii.csv"].item.tags)
    assert entries["internal.csv"].action == "keep"  # inside INTERNAL's 1 year minimum
    assert "TEMP" not in entries["internal.csv"].item.tags
    assert "tagged TEMP" in (entries["internal.csv"].item.doubt or "")
    # the allowed path: data sealed with the tag is due by the rule, its sidecar gone or not
    assert entries["temp.csv"].item.tags == ("TEMP",)
    assert entries["temp.csv"].action == "delete"


def _sealed_temp(project: Path, when: datetime, name: str) -> Path:
    """A file sealed with the TEMP tag in its header, and no sidecar."""
    import lacuna
    from lacuna.governor import current
    from lacuna.model import Classification, Tier
    from lacuna.storage import open_sealed_writer

    target = project / "governed" / "workspace" / name
    with time_machine.travel(when, tick=False):
        lacuna.enable(str(project / "lacuna.yaml"))
        try:
            writer = open_sealed_writer(target, method="test", gov=current(), classification=(
                Classification(tier=Tier.INTERNAL, tags=("TEMP",))))
            writer.write(b"n\n1\n")
            writer.close()
        finally:
            lacuna.disable()
    assert not sidecar_path(target).exists()
    return target
