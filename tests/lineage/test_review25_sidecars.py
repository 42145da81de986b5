"""Review 25: a hidden data file's sidecar names never touch its visible sibling's sidecar; a
folder read walks what its reader walks."""

from __future__ import annotations

import os

import pandas as pd

from lacuna import _bypass
from lacuna.lineage import sidecar as sc
from lacuna.model import Classification, ColumnClass, ColumnKind, Tier

PII = Classification(tier=Tier.PROPRIETARY, tags=("PII",),
                     columns={"segment": ColumnClass(classification=ColumnKind.PII)})


def _plain(path, values):
    with _bypass.bypass():
        pd.DataFrame({"segment": values}).to_csv(path, index=False)


def test_writing_a_hidden_files_sidecar_keeps_its_visible_siblings(governed):
    """``.x.lacuna.json`` is the sidecar of ``x`` (the name Lacuna writes) and the visible-form
    name of ``.x``'s: writing ``.x``'s sidecar must not delete ``x``'s declaration."""
    visible, hidden = governed / "seg.csv", governed / ".seg.csv"
    _plain(visible, ["A1", "B2"])
    _plain(hidden, ["C3", "D4"])
    sc.write_sidecar(visible, PII)
    assert pd.read_csv(visible).lacuna_classification.tier is Tier.PROPRIETARY
    sc.write_sidecar(hidden, PII)
    assert sc.sidecar_path(visible).is_file()
    back = pd.read_csv(visible)
    assert back.lacuna_classification.tier is Tier.PROPRIETARY
    assert back.lacuna.columns["segment"].classification is ColumnKind.PII
    assert pd.read_csv(hidden).lacuna_classification.tier is Tier.PROPRIETARY


def _pair(governed):
    visible, hidden = governed / "seg.csv", governed / ".seg.csv"
    _plain(visible, ["A1", "B2"])
    _plain(hidden, ["C3", "D4"])
    sc.write_sidecar(hidden, PII)  # this order: writing does not delete either
    sc.write_sidecar(visible, PII)
    return visible, hidden


def test_deleting_a_hidden_file_keeps_its_visible_siblings_sidecar(governed):
    from lacuna.retention.api import _delete

    visible, hidden = _pair(governed)
    _delete(str(hidden), tree=False)
    assert not hidden.exists()
    assert not sc.sidecar_path(hidden).exists()  # its own went with it
    assert sc.read_sidecar(visible).trusted
    assert pd.read_csv(visible).lacuna_classification.tier is Tier.PROPRIETARY


def test_a_hidden_file_renamed_takes_its_own_sidecar_not_its_siblings(governed):
    from lacuna.mount.fs import GovernedFS

    visible, hidden = _pair(governed)
    moved = governed / "moved.csv"
    os.replace(hidden, moved)
    GovernedFS._label_follows(str(hidden), str(moved))
    assert sc.read_sidecar(visible).trusted  # x's sidecar stays x's
    assert sc.read_sidecar(moved).trusted  # .x's went with it
    assert not sc.sidecar_path(hidden).exists()


def test_a_legacy_sidecar_renamed_onto_a_hidden_name_keeps_the_siblings(governed):
    """A file with only a visible-form sidecar (an older Lacuna's) renamed to ``.x`` beside
    ``x``: its sidecar goes under ``.x``'s hidden name, not over ``x``'s."""
    from lacuna.mount.fs import GovernedFS

    visible = governed / "seg.csv"
    _plain(visible, ["A1", "B2"])
    sc.write_sidecar(visible, PII)
    old = governed / "old.csv"
    _plain(old, ["C3", "D4"])
    sc.write_sidecar(old, PII)
    os.replace(sc.sidecar_path(old), sc.legacy_sidecar_path(old))  # as an older Lacuna wrote
    target = governed / ".seg.csv"
    os.replace(old, target)
    GovernedFS._label_follows(str(old), str(target))
    assert sc.read_sidecar(visible).trusted
    assert sc.sidecar_path(target).is_file()
    assert sc.read_sidecar(target).trusted


EMAILS = ["ana@example.com", "bo@example.org", "cy@example.net", "di@example.com"]


def _folder_with_declared_public_part(governed):
    """A folder whose one part declares ``email`` PUBLIC (its values were not addresses), and
    files of real addresses the folder's reader reads too."""
    folder = governed / "ds"
    folder.mkdir()
    part = folder / "part-0.parquet"
    with _bypass.bypass():
        pd.DataFrame({"email": ["n/a", "none", "-", "?"]}).to_parquet(part, index=False)
    sc.write_sidecar(part, Classification(
        tier=Tier.PUBLIC, columns={"email": ColumnClass(classification=ColumnKind.PUBLIC)}))
    return folder


def test_a_folder_reads_a_symlinked_folders_files_undeclared(governed, tmp_path):
    """pyarrow (and pandas) follow a symlinked folder inside the folder read: its files
    count among those without a trusted declaration, so the part's PUBLIC does not stand
    for their addresses."""
    folder = _folder_with_declared_public_part(governed)
    other = tmp_path / "elsewhere"
    other.mkdir()
    with _bypass.bypass():
        pd.DataFrame({"email": EMAILS}).to_parquet(other / "p1.parquet", index=False)
    os.symlink(other, folder / "sub")
    back = pd.read_parquet(folder)
    assert len(back) == 8
    assert back.lacuna.columns["email"].classification is not ColumnKind.PUBLIC
    assert back.lacuna_classification.tier > Tier.PUBLIC


def test_a_folder_with_a_dangling_symlink_reads(governed):
    """A dangling symlink in a folder (pyarrow skips it) neither crashes the read nor lets
    the declarations stand as complete."""
    folder = _folder_with_declared_public_part(governed)
    os.symlink(folder / "gone.parquet", folder / "link.parquet")
    declared = sc.read_declarations(folder)
    assert declared
    assert not any(d.trusted for d in declared)
    back = pd.read_parquet(folder)
    assert len(back) == 4


def test_a_folder_of_files_two_runs_wrote_names_neither_run(governed):
    """The joined declaration of a folder's files names the run that wrote them only when one
    run wrote them all (the read's upstream lineage is that run's)."""
    from lacuna.config import ClassificationConfig

    folder = governed / "runs"
    folder.mkdir()
    for i, run in enumerate(("run-a", "run-b")):
        _plain(folder / f"part-{i}.csv", [f"A{i}", f"B{i}"])
        sc.write_sidecar(folder / f"part-{i}.csv", PII, run_id=run)
    found = sc.read_declarations(folder)
    assert [d.run_id for d in found] == ["run-a", "run-b"]
    assert all(d.trusted for d in found)
    assert sc.joined(found, ClassificationConfig()).run_id is None
    same = [found[0], found[0]]
    assert sc.joined(same, ClassificationConfig()).run_id == "run-a"
    assert sc.joined(same, ClassificationConfig()).combined


def test_a_partial_declaration_names_the_file_without_one(governed):
    """A folder's file declarations that only restrict say which file has none, and how to
    fix it (a Finder ``.DS_Store`` is enough)."""
    folder = governed / "parts"
    folder.mkdir()
    _plain(folder / "part-0.csv", ["A1", "B2"])
    sc.write_sidecar(folder / "part-0.csv", PII)
    (folder / ".DS_Store").write_bytes(b"\x00\x01finder")
    found = sc.read_declarations(folder)
    assert [d.trust for d in found] == ["partial"]
    line = sc.describe_distrust(found[0])
    assert str(folder / ".DS_Store") in line
    assert "write it under Lacuna, or move it out of the folder" in line


def test_a_glob_read_keeps_what_the_matched_files_declare(governed):
    """``pl.read_parquet("seg/*.parquet")`` (how docs/pandas.md says polars reads a folder of
    files written one by one) keeps their declarations as the folder read does: segment codes
    declared PII stayed PII read one by one, and came back PUBLIC through the glob."""
    import polars as pl

    from lacuna.integrations import polars as lpolars

    folder = governed / "seg"
    folder.mkdir()
    for i in range(2):
        with _bypass.bypass():
            pd.DataFrame({"segment": [f"A{i}", f"B{i}"]}).to_parquet(
                folder / f"p{i}.parquet", index=False)
        sc.write_sidecar(folder / f"p{i}.parquet", PII)
    pattern = str(folder / "*.parquet")
    got = lpolars.classification(pl.read_parquet(pattern))
    assert got.tier is Tier.PROPRIETARY
    assert got.columns["segment"].classification is ColumnKind.PII
    assert [d.trust for d in sc.read_declarations(pattern)] == ["verified", "verified"]
    with _bypass.bypass():  # a matched file without a declaration: they only restrict
        pd.DataFrame({"segment": ["C3"]}).to_parquet(folder / "p2.parquet", index=False)
    assert [d.trust for d in sc.read_declarations(pattern)] == ["partial", "partial"]
    assert lpolars.classification(pl.read_parquet(pattern)).tier is Tier.PROPRIETARY
