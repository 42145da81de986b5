"""A folder's signed sidecar binds every file in the folder but the real sidecars in it
(``<file>.lacuna.json`` beside ``<file>``, holding a declaration): a data file named
``*.lacuna.json`` (pyarrow reads it as part of the dataset) is fingerprinted like any other."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import lacuna
from lacuna import _bypass
from lacuna.errors import GovernanceViolation
from lacuna.lineage import sidecar
from lacuna.lineage.sidecar import read_sidecar, sidecar_path
from lacuna.model import Tier


def _kids() -> pd.DataFrame:
    return pd.DataFrame({
        "person_id": [f"P{i:03}" for i in range(40)],
        "date_of_birth": [f"201{i % 10}-0{1 + i % 9}-1{i % 10}" for i in range(40)],
        "region": [f"R{i % 4}" for i in range(40)],
    })


def _release(root: Path) -> Path:
    """A PUBLIC, anonymised, partitioned Parquet release in Downloads/, written governed."""
    out = root / "Downloads" / "release"
    anon = lacuna.anonymize(_kids(), columns=["date_of_birth"], strategy="redact")
    anon.to_parquet(out, partition_cols=["region"])
    assert read_sidecar(out) is not None
    assert read_sidecar(out).trusted
    return out


def _raw_parquet(path: Path) -> None:
    """Raw rows of region R0 written by a process without Lacuna (any other tool)."""
    kids = _kids()
    rows = kids[kids.region == "R0"].drop(columns=["region"])
    script = ("import pandas as pd, sys; pd.read_json(sys.stdin).to_parquet(sys.argv[1], "
              "index=False)")
    subprocess.run([sys.executable, "-c", script, str(path)], input=rows.to_json(), text=True,
                   check=True, env={"PATH": "/usr/bin:/bin", "PYTHONPATH": ""})


def test_the_release_reads_back_public_and_is_written_out(governed):
    out = _release(governed)
    back = pd.read_parquet(out)
    assert back.lacuna_classification.tier is Tier.PUBLIC
    assert len(back) == 40
    back.to_csv(governed / "Downloads" / "again.csv", index=False)
    with _bypass.bypass():
        again = pd.read_csv(governed / "Downloads" / "again.csv")
    assert set(again.date_of_birth) == {"[REDACTED]"}


@pytest.mark.parametrize("name", ["zz.lacuna.json", "part.parquet.lacuna.json"])
def test_a_data_file_named_like_a_sidecar_in_the_folder_unbinds_its_sidecar(governed, name):
    """``zz.lacuna.json`` has no ``zz`` beside it; ``part.parquet.lacuna.json`` has no
    ``part.parquet``: neither is a sidecar, both are data pyarrow reads."""
    out = _release(governed)
    _raw_parquet(out / "region=R0" / name)
    assert not read_sidecar(out).trusted
    back = pd.read_parquet(out)
    assert len(back) == 50  # pyarrow read the raw rows as part of the release
    assert back.lacuna_classification.tier is not Tier.PUBLIC
    assert back.lacuna_classification.columns["date_of_birth"].classification.value == "pii"
    with pytest.raises(GovernanceViolation):
        back.to_csv(governed / "Downloads" / "again.csv", index=False)
    assert not (governed / "Downloads" / "again.csv").exists()


def test_a_declaration_without_its_data_file_is_not_a_sidecar(governed):
    """A declaration's JSON under a sidecar's name but beside no data file is fingerprinted."""
    out = _release(governed)
    orphan = out / "region=R0" / "gone.parquet.lacuna.json"
    shutil.copyfile(sidecar_path(out), orphan)
    assert not read_sidecar(out).trusted
    assert not sidecar.is_sidecar(orphan)


def test_a_real_sidecar_inside_the_folder_leaves_it_trusted(governed):
    """A declaration beside the data file it is named for is a label, not data: the folder's
    sidecar still verifies, and the folder's data files still read back as PUBLIC."""
    out = _release(governed)
    part = next((out / "region=R1").glob("*.parquet"))
    real = sidecar_path(part)
    shutil.copyfile(sidecar_path(out), real)
    assert sidecar.is_sidecar(real)
    assert sidecar.is_sidecar(sidecar_path(out))  # the folder's own, beside the folder
    found = read_sidecar(out)
    assert found is not None
    assert found.trusted
    real.unlink()  # pyarrow reads every file of a folder: a JSON file is not Parquet
    back = pd.read_parquet(out)
    assert back.lacuna_classification.tier is Tier.PUBLIC
    assert set(back.date_of_birth) == {"[REDACTED]"}


def test_is_sidecar_needs_a_declaration_beside_its_file(tmp_path):
    data = tmp_path / "a.csv"
    data.write_text("x\n1\n")
    label = tmp_path / "a.csv.lacuna.json"
    label.write_text('{"classification": {"tier": "PUBLIC"}}')
    assert sidecar.is_sidecar(label)
    label.write_text("x\n1\n")
    assert not sidecar.is_sidecar(label)  # not a declaration
    label.write_text('{"classification": {"tier": "PUBLIC"}}')
    data.unlink()
    assert not sidecar.is_sidecar(label)  # beside no file
    assert not sidecar.is_sidecar(tmp_path / ".lacuna.json")
    assert not sidecar.is_sidecar(data)  # not named as a sidecar
