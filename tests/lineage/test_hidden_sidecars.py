"""Sidecars are hidden files (``.x.parquet.lacuna.json``), so a folder of files written one by one
stays a readable dataset for pandas, pyarrow and Spark, with Lacuna or without it; the folder's
read keeps what its files' sidecars declare; the visible name older sidecars have is still read.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

import lacuna
from lacuna import _bypass, storage
from lacuna.integrations.pyarrow import table_state
from lacuna.lineage import sidecar as sc
from lacuna.model import Classification, ColumnClass, ColumnKind, Tier

PARTS = [pd.DataFrame({"city": ["Paris", "Oslo"], "n": [1, 2]}),
         pd.DataFrame({"city": ["Lima", "Rome"], "n": [3, 4]})]


def _declared(column: str, kind: ColumnKind) -> Classification:
    tier = Tier.PROPRIETARY if kind is ColumnKind.PII else Tier.PUBLIC
    return Classification(tier=tier, tags=("PII",) if kind is ColumnKind.PII else (),
                          columns={column: ColumnClass(classification=kind)})


def _plain_parts(folder: Path, frames: list[pd.DataFrame]) -> list[Path]:
    """Part files written without Lacuna (no sidecar)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    with _bypass.bypass():
        for i, frame in enumerate(frames):
            path = folder / f"part-{i}.parquet"
            frame.to_parquet(path, index=False)
            paths.append(path)
    return paths


def test_a_folder_written_file_by_file_reads_back_everywhere(sandbox_config, sandbox):
    folder = sandbox / "out"
    folder.mkdir()
    lacuna.enable(sandbox_config())
    try:
        for i, part in enumerate(PARTS):
            part.to_parquet(folder / f"part-{i}.parquet", index=False)
        names = sorted(os.listdir(folder))
        assert names == [".part-0.parquet.lacuna.json", ".part-1.parquet.lacuna.json",
                         "part-0.parquet", "part-1.parquet"]
        expected = pd.concat(PARTS, ignore_index=True)
        back = pd.read_parquet(folder)
        pd.testing.assert_frame_equal(back.sort_values("n", ignore_index=True), expected,
                                      check_dtype=False)
        assert back.lacuna_classification.tier is Tier.PUBLIC
        assert pq.read_table(folder).num_rows == 4
        assert ds.dataset(folder).to_table().num_rows == 4
    finally:
        lacuna.disable()
    # without Lacuna too: the sidecars are hidden files, which dataset readers skip
    assert pq.read_table(folder).num_rows == 4
    assert len(pd.read_parquet(folder)) == 4


def test_a_folder_read_keeps_what_its_files_declare(governed):
    """A column whose values say nothing (segment codes) declared PII in every file's sidecar
    stays PII when the folder is read as one dataset."""
    frames = [pd.DataFrame({"segment": ["A1", "B2"]}), pd.DataFrame({"segment": ["C3", "D4"]})]
    paths = _plain_parts(governed / "seg", frames)
    for path in paths:
        sc.write_sidecar(path, _declared("segment", ColumnKind.PII))
    back = pd.read_parquet(governed / "seg")
    assert back.lacuna_classification.tier is Tier.PROPRIETARY
    assert back.lacuna.columns["segment"].classification is ColumnKind.PII
    with pytest.raises(lacuna.GovernanceViolation):
        back.to_csv(governed / "Downloads" / "seg.csv")


def test_declarations_covering_only_some_files_cannot_lower_the_rest(governed):
    """Every file declared: declared beats inferred (a steward said the column is public).
    One file without a trusted sidecar: the others' declarations only restrict, so the
    e-mail addresses in that file keep the column PII."""
    emails = [pd.DataFrame({"contact": ["a@example.com", "b@example.org"]}),
              pd.DataFrame({"contact": ["c@example.net", "d@example.com"]})]
    paths = _plain_parts(governed / "all", emails)
    for path in paths:
        sc.write_sidecar(path, _declared("contact", ColumnKind.PUBLIC))
    assert pd.read_parquet(governed / "all").lacuna.columns["contact"].classification \
        is ColumnKind.PUBLIC

    paths = _plain_parts(governed / "some", emails)
    sc.write_sidecar(paths[0], _declared("contact", ColumnKind.PUBLIC))
    found = sc.read_declarations(governed / "some")
    assert [d.trust for d in found] == ["partial"]
    assert "not every data file" in (found[0].problem or "")
    back = pd.read_parquet(governed / "some")
    assert back.lacuna.columns["contact"].classification is ColumnKind.PII
    assert back.lacuna_classification.tier is Tier.PROPRIETARY


def test_the_visible_name_is_still_read_and_replaced_on_the_next_write(sandbox_config,
                                                                        sandbox):
    path = sandbox / "governed" / "workspace" / "codes.csv"
    pd.DataFrame({"code": ["x1", "y2"]}).to_csv(path, index=False)
    legacy = sc.legacy_sidecar_path(path)
    legacy.write_text(json.dumps({"classification": {
        "tier": "PROPRIETARY", "tags": ["PII"],
        "columns": {"code": {"classification": "pii"}}}}))
    lacuna.enable(sandbox_config())
    try:
        back = pd.read_csv(path)  # unsigned: it may only restrict, and it does
        assert back.lacuna_classification.tier is Tier.PROPRIETARY
        back.to_csv(path, index=False)  # written again: the hidden name, signed; the old goes
        assert sc.sidecar_path(path).is_file()
        assert not legacy.exists()
        again = pd.read_csv(path)
        assert again.lacuna_classification.tier is Tier.PROPRIETARY
        assert sc.read_sidecar(path).trusted
    finally:
        lacuna.disable()


def test_a_data_file_under_the_visible_name_is_not_removed(tmp_path):
    data = tmp_path / "x.csv"
    data.write_text("a\n1\n")
    other = sc.legacy_sidecar_path(data)
    other.write_text("[1, 2, 3]")  # a JSON data file that happens to have this name
    sc.write_sidecar(data, Classification())
    assert other.read_text() == "[1, 2, 3]"
    assert not sc.is_sidecar(other)
    assert sc.is_sidecar(sc.sidecar_path(data))


def test_of_two_names_the_trusted_one_counts_and_the_other_restricts(tmp_path):
    data = tmp_path / "x.csv"
    data.write_text("email\na@example.com\n")
    sc.write_sidecar(data, _declared("email", ColumnKind.PII))
    # a hand-written visible one saying public: untrusted, never chosen over the signed one
    sc.legacy_sidecar_path(data).write_text(json.dumps({"classification": {"tier": "PUBLIC"}}))
    both = sc.read_sidecars(data)
    assert [s.trust for s in both] == ["verified", "unsigned"]
    assert sc.read_sidecar(data).trusted
    # a hand-written hidden one shadows nothing either: the signed visible one is trusted
    hidden = sc.sidecar_path(data)
    signed = hidden.read_text()
    hidden.write_text(json.dumps({"classification": {"tier": "PUBLIC"}}))
    sc.legacy_sidecar_path(data).write_text(signed)
    assert sc.read_sidecar(data).trusted
    assert sc.read_sidecar(data).path == sc.legacy_sidecar_path(data)


def test_names_and_data_files():
    assert sc.sidecar_path("/d/x.csv") == Path("/d/.x.csv.lacuna.json")
    assert sc.legacy_sidecar_path("/d/x.csv") == Path("/d/x.csv.lacuna.json")
    assert sc.described("/d/.x.csv.lacuna.json") == ("/d/x.csv", "/d/.x.csv")
    assert sc.described("/d/x.csv.lacuna.json") == ("/d/x.csv",)
    assert sc.described("/d/.lacuna.json") == ()
    assert sc.sidecar_path("/") == Path("/.lacuna.json")


def test_every_file_but_sidecars_needs_a_declaration(tmp_path):
    folder = tmp_path / "d"
    for name in ("a.parquet", "_SUCCESS", "year=1/b.parquet", ".hidden/d.parquet", ".e.parquet"):
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text("" if name == "_SUCCESS" else "x")
    sc.write_sidecar(folder / "a.parquet", Classification())
    (folder / "x.lacuna.json").write_text("[1]")  # named like one, but data
    assert [os.path.relpath(f, folder) for f in sc.data_files(folder)] == [
        ".e.parquet", "a.parquet", "x.lacuna.json", ".hidden/d.parquet", "year=1/b.parquet"]


def test_a_hidden_file_without_a_declaration_makes_the_others_partial(governed):
    """pyarrow can be told to read hidden files (``ignore_prefixes``): one there without a
    declaration leaves the others' only restricting, so they cannot lower its e-mails."""
    emails = [pd.DataFrame({"contact": ["a@example.com", "b@example.org"]})]
    paths = _plain_parts(governed / "h", emails)
    sc.write_sidecar(paths[0], _declared("contact", ColumnKind.PUBLIC))
    with _bypass.bypass():
        emails[0].to_parquet(governed / "h" / ".more.parquet", index=False)
    assert [d.trust for d in sc.read_declarations(governed / "h")] == ["partial"]
    read = ds.dataset(governed / "h", ignore_prefixes=["~"], exclude_invalid_files=True)
    table = read.to_table()
    assert table.num_rows == 4
    found = table_state(table).classification
    assert found.columns["contact"].classification is ColumnKind.PII
    assert found.tier is Tier.PROPRIETARY


def test_pandas_reads_a_folder_of_sealed_files(governed):
    folder = governed / "governed" / "workspace" / "people"
    folder.mkdir()
    rows = pd.read_csv("customers.csv")[["email", "region"]]
    halves = [rows.iloc[: len(rows) // 2], rows.iloc[len(rows) // 2:]]
    for i, half in enumerate(halves):
        half.to_parquet(folder / f"part-{i}.parquet", index=False)
    assert all(storage.is_sealed(folder / f"part-{i}.parquet") for i in range(2))
    back = pd.read_parquet(folder)
    pd.testing.assert_frame_equal(back.sort_values("email", ignore_index=True),
                                  rows.sort_values("email", ignore_index=True),
                                  check_dtype=False)
    assert back.lacuna_classification.tier is Tier.PROPRIETARY
    lacuna.disable()
    with pytest.raises(Exception, match=r"(?i)parquet"):  # ciphertext without Lacuna
        pd.read_parquet(folder)
