"""A folder's signed fingerprint covers what pyarrow and Spark read of it, symlinks included.

The walk behind a folder sidecar's fingerprint skipped symlinked folders, which pyarrow follows:
a folder of raw PII linked into a PUBLIC dataset Lacuna had written and signed kept the
dataset's declaration, and its e-mail addresses and SSNs were exported as PUBLIC.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

import lacuna
from lacuna import _bypass
from lacuna.errors import GovernanceViolation
from lacuna.lineage import sidecar as sc
from lacuna.model import Tier

PUBLIC = pd.DataFrame({"product": ["a", "b", "c"], "qty": [1, 2, 3], "note": ["x", "y", "z"]})
RAW = pd.DataFrame({"qty": [9, 8], "note": ["bob.smith@corp.com SSN 123-45-6789",
                                           "alice@corp.com SSN 321-54-9876"]})


def _signed_public_folder(sandbox: Path, sandbox_config) -> Path:  # type: ignore[no-untyped-def]
    (sandbox / "work").mkdir()
    out = sandbox / "work" / "out"
    lacuna.enable(sandbox_config())
    PUBLIC.to_parquet(out, partition_cols=["product"])
    return out


def test_a_folder_of_pii_linked_into_a_signed_public_dataset_is_read_for_what_it_holds(
        sandbox: Path, sandbox_config) -> None:  # type: ignore[no-untyped-def]
    out = _signed_public_folder(sandbox, sandbox_config)
    try:
        back = pd.read_parquet(out)  # the allowed path first: read back as written, PUBLIC
        assert sorted(back["note"]) == ["x", "y", "z"]
        assert back.lacuna_classification.tier is Tier.PUBLIC
        hidden = sandbox / "elsewhere" / "product=z"
        hidden.mkdir(parents=True)
        with _bypass.bypass():
            RAW.to_parquet(hidden / "part.parquet")
        os.symlink(hidden, out / "product=z")
        mixed = pd.read_parquet(out)  # the declaration no longer trusted (logged)
        assert len(mixed) == 5  # pyarrow follows the link
        assert mixed.lacuna_classification.tier is Tier.PROPRIETARY
        with pytest.raises(GovernanceViolation):
            mixed.to_csv(sandbox / "Downloads" / "out.csv")
        assert not (sandbox / "Downloads" / "out.csv").exists()
    finally:
        lacuna.disable()


def test_a_change_inside_a_linked_folder_changes_the_fingerprint(tmp_path: Path) -> None:
    linked = tmp_path / "linked"
    linked.mkdir()
    (linked / "part.parquet").write_bytes(b"one")
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "own.parquet").write_bytes(b"own")
    os.symlink(linked, folder / "sub")
    before = sc.fingerprint(folder)
    assert sorted(before["files"]) == ["own.parquet", os.path.join("sub", "part.parquet")]
    (linked / "part.parquet").write_bytes(b"two")
    assert sc.fingerprint(folder) != before


def test_loops_and_dangling_links_are_named_not_followed(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    (folder / "a").mkdir(parents=True)
    (folder / "a" / "part.parquet").write_bytes(b"x")
    os.symlink(folder, folder / "a" / "loop")  # back to the top: walked once
    os.symlink(tmp_path / "gone", folder / "dangling")
    found = sc.fingerprint(folder)["files"]
    assert found[os.path.join("a", "loop")] == {"mode": "cycle"}
    assert found["dangling"] == {"mode": "dangling"}
    assert os.path.join("a", "part.parquet") in found


def test_a_folder_without_links_keeps_the_fingerprint_its_sidecar_was_signed_over(
        tmp_path: Path) -> None:
    """Sidecars signed before links were followed still verify: the same files, same names."""
    folder = tmp_path / "data"
    (folder / "k=1").mkdir(parents=True)
    (folder / "k=1" / "part.parquet").write_bytes(b"a")
    (folder / ".hidden").write_bytes(b"b")
    (folder / "_SUCCESS").write_bytes(b"")
    files = sorted(p for p in folder.rglob("*") if p.is_file() and not sc.is_sidecar(p))
    old = {"mode": "directory",
           "files": {str(p.relative_to(folder)): sc.fingerprint(p) for p in files}}
    assert sc.fingerprint(folder) == old


def test_spark_s_classification_cache_sees_a_change_behind_a_link(tmp_path: Path) -> None:
    """Spark reads through symlinked folders too; its cache key (each file's stamps) walked
    past them, so a file changed behind a link kept the cached class."""
    pytest.importorskip("pyspark", reason="pyspark (the 'spark' extra) is not installed")
    from lacuna.spark.sources import _stamps

    linked = tmp_path / "linked"
    linked.mkdir()
    (linked / "part.csv").write_text("city\nParis\n")
    folder = tmp_path / "data"
    folder.mkdir()
    os.symlink(linked, folder / "sub")
    before = _stamps(str(folder))
    assert [s[0] for s in before] == [str(folder / "sub" / "part.csv")]
    (linked / "part.csv").write_text("email\nbob@corp.com\n")
    assert _stamps(str(folder)) != before


def test_a_link_to_a_folder_holding_the_dataset_is_named_not_walked(tmp_path: Path) -> None:
    """A link to "/" or the home folder holds the folder itself: walking it hashed the whole
    tree before the loop showed."""
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "part.parquet").write_bytes(b"x")
    (tmp_path / "big").mkdir()
    (tmp_path / "big" / "other.bin").write_bytes(b"y")
    os.symlink(tmp_path, folder / "up")
    found = sc.fingerprint(folder)["files"]
    assert found == {"part.parquet": sc.fingerprint(folder / "part.parquet"),
                     "up": {"mode": "cycle"}}
