"""Retention and governed storage against the owner of the files (round 9): data kept past its
window by hiding it where the walk of the governed roots cannot list (a folder nested deeper
than the system's path limit; ``chmod 000`` does the same for a user who is not root), a key
version retired while such a folder held files only it opened, and a plaintext copy written by
``lacuna storage cat -o`` that read back below its class and restarted its data's clock."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd

import lacuna
from lacuna.lineage.sidecar import read_sidecar, sidecar_path
from lacuna.model import Classification, Tier

from .conftest import cli, run, write_at, years_ago

DEPTH = 18  # folders of 250 characters: past PATH_MAX (4096) wherever the sandbox is


@contextmanager
def buried(folder: Path, *files: Path) -> Iterator[str]:
    """``files`` moved into a folder nested under ``folder`` deeper than the system's path
    limit (made and entered by descriptor, as ``mkdir``/``cd`` one level at a time do), then
    moved back. Yields the first folder below ``folder``."""
    names = ["d" * 250] * DEPTH
    fd = os.open(folder, os.O_RDONLY)
    fds = [fd]
    try:
        for name in names:
            os.mkdir(name, dir_fd=fds[-1])
            fds.append(os.open(name, os.O_RDONLY, dir_fd=fds[-1]))
        for f in files:
            os.rename(f, f.name, dst_dir_fd=fds[-1])
        yield str(folder / names[0])
        for f in files:
            os.rename(f.name, f, src_dir_fd=fds[-1])
        for up, name in zip(reversed(fds[:-1]), reversed(names), strict=True):
            os.rmdir(name, dir_fd=up)
    finally:
        for d in fds:
            os.close(d)


def _entries(project: Path) -> dict[str, dict]:  # type: ignore[type-arg]
    plan = run(project, "retention", "plan", "--json")
    assert plan.returncode == 0, plan.stderr
    return {e["path"]: e for e in json.loads(plan.stdout)["entries"]}


def test_a_folder_the_walk_cannot_list_is_to_review_never_skipped(project):
    """A due INTERNAL file and its sidecar moved into a folder past the path limit: the walk
    of the governed root skipped the folder in silence (os.walk drops what it cannot list),
    so the file was no item of the plan, never due, and apply exited 0. Now the folder is an
    item to review (kept, apply exits 1, on the trail); once it is listable again, the file is
    due and deleted."""
    old = write_at(project, years_ago(4), "sales.csv", "old.csv")
    root = old.parent
    assert _entries(project)[str(old)]["action"] == "delete"
    with buried(root, old, sidecar_path(old)) as top:
        entries = _entries(project)
        assert str(old) not in entries
        hidden = [e for p, e in entries.items() if p.startswith(top)]
        assert len(hidden) == 1, entries.keys()
        assert hidden[0]["action"] == "review"
        assert "its folder could not be listed" in hidden[0]["reason"]
        assert "File name too long" in hidden[0]["reason"]
        done = run(project, "retention", "apply", "--json")
        assert done.returncode == 1
        assert [p for p in json.loads(done.stdout)["review"] if p.startswith(top)] == [
            hidden[0]["path"]]
    assert old.exists()  # nothing was deleted while it was hidden
    done = run(project, "retention", "apply", "--json")
    assert done.returncode == 0, done.stdout
    assert json.loads(done.stdout)["deleted"] == [str(old)]
    assert not old.exists()


def test_a_key_version_is_not_retired_while_a_folder_cannot_be_listed(project):
    """Rotate, re-wrap, retire: a sealed file in a folder the walk could not list was neither
    re-wrapped nor counted, so `keys retire 1` destroyed the only key that opened it. Now the
    retirement is refused naming the folder; with the file back in sight it is re-wrapped, the
    retirement goes through, and the file reads back as written."""
    hidden = write_at(project, years_ago(0.1), "sales.csv", "hidden.csv")
    write_at(project, years_ago(0.1), "sales.csv", "seen.csv")
    with buried(hidden.parent, hidden, sidecar_path(hidden)) as top:
        assert run(project, "keys", "rotate", "storage").returncode == 0
        assert run(project, "storage", "rewrap").returncode == 0
        retire = cli(project, "keys", "retire", "1")
        assert retire.returncode == 1, retire.stderr
    assert "could not be listed" in retire.stderr
    assert top in retire.stderr
    rewrap = run(project, "storage", "rewrap")
    assert rewrap.returncode == 0, rewrap.stdout
    assert run(project, "keys", "retire", "1").returncode == 0
    lacuna.enable(str(project / "lacuna.yaml"))
    try:
        back = pd.read_csv(hidden)
    finally:
        lacuna.disable()
    pd.testing.assert_frame_equal(back, pd.read_csv(project / "sales.csv"))


def test_storage_cat_output_keeps_the_class_it_was_read_as(project):
    """`lacuna storage cat -o` wrote the plaintext with no sidecar: codes whose class came
    from where they were derived (PROPRIETARY, PII) read back PUBLIC from the copy and could be
    written anywhere. The copy now carries a signed sidecar with the class its read was decided
    on; its bytes are the sealed file's plaintext."""
    from lacuna import storage
    from lacuna.governor import current

    secret = project / "governed" / "workspace" / "codes.csv"
    secret.parent.mkdir(parents=True, exist_ok=True)
    lacuna.enable(str(project / "lacuna.yaml"))
    try:
        writer = storage.open_sealed_writer(secret, method="test", gov=current(),
                                            classification=Classification(
                                                tier=Tier.PROPRIETARY, tags=("PII",)))
        writer.write(b"n\n7\n9\n")
        writer.close()
    finally:
        lacuna.disable()
    out = project / "out.csv"
    assert run(project, "storage", "cat", str(secret), "-o", str(out)).returncode == 0
    assert out.read_bytes() == b"n\n7\n9\n"
    label = read_sidecar(out)
    assert label is not None
    assert label.trusted
    assert label.classification.tier is Tier.PROPRIETARY
    lacuna.enable(str(project / "lacuna.yaml"))
    try:
        back = pd.read_csv(out)
        read_as = back.lacuna_classification  # type: ignore[attr-defined]
    finally:
        lacuna.disable()
    assert back["n"].tolist() == [7, 9]
    assert read_as.tier is Tier.PROPRIETARY
    assert "PII" in read_as.tags


def test_storage_cat_output_keeps_its_data_clock(project):
    """An INTERNAL file past its window, copied out with `lacuna storage cat -o` and written
    back under the governed root in another session: the new file started a new clock (kept
    for years) while the original was due. Now the copy's sidecar carries the sealed file's
    `first_seen`, and the file written from it is due with the original."""
    old = write_at(project, years_ago(4), "sales.csv", "old.csv")
    out = project / "out.csv"
    assert run(project, "storage", "cat", str(old), "-o", str(out)).returncode == 0
    again = old.parent / "again.csv"
    lacuna.enable(str(project / "lacuna.yaml"))
    try:
        pd.read_csv(out).to_csv(again, index=False)
    finally:
        lacuna.disable()
    entries = _entries(project)
    assert entries[str(old)]["action"] == "delete"
    assert entries[str(again)]["action"] == "delete"
    assert entries[str(again)]["clock"] == entries[str(old)]["clock"]
    assert "its data first seen" in entries[str(again)]["known_from"]


def test_storage_cat_output_of_public_data_reads_back_as_written(project):
    """The allowed path: a young PUBLIC-looking file copied out reads back at its own class
    (not raised), byte for byte, and a governed write of it keeps that file's clock, no
    older."""
    young = write_at(project, years_ago(0.5), "sales.csv", "young.csv")
    declared = read_sidecar(young)
    assert declared is not None
    out = project / "young-copy.csv"
    assert run(project, "storage", "cat", str(young), "-o", str(out)).returncode == 0
    assert out.read_bytes() == pd.read_csv(project / "sales.csv").to_csv(index=False).encode()
    label = read_sidecar(out)
    assert label is not None
    assert label.trusted
    assert label.classification.tier is declared.classification.tier
    assert label.first_seen == declared.first_seen


def test_a_file_renamed_past_the_sidecar_name_limit_is_planned_not_a_crash(project):
    """A due sealed file renamed to a 250-character name (its sidecar cannot follow: its name
    would be past the file system's limit): asking whether it had a sidecar raised, so
    `retention plan` and `apply` failed for the whole root and nothing anywhere was deleted.
    Now it is an item dated by its sealed header, and deleted with the rest."""
    old = write_at(project, years_ago(4), "sales.csv", "old.csv")
    other = write_at(project, years_ago(4), "sales.csv", "other.csv")
    long = old.with_name("x" * 250)
    old.rename(long)
    sidecar_path(old).unlink()
    entries = _entries(project)
    assert entries[str(long)]["action"] == "delete"
    assert entries[str(long)]["known_from"].endswith("sealed header (authenticated)")
    done = run(project, "retention", "apply", "--json")
    assert done.returncode == 0, done.stdout
    assert sorted(json.loads(done.stdout)["deleted"]) == sorted([str(long), str(other)])
    assert not long.exists()
    assert not other.exists()


def test_a_folder_moved_out_and_linked_back_is_to_review(project):
    """A folder holding a due file moved out of the governed root, a symbolic link left in its
    place: the file still read through the governed path, but the walk does not follow links,
    so the plan had no entry for it and apply exited 0 (a link to a single file out there is an
    error). Now the link is an item to review (kept, apply exits 1); moved back, the file is
    deleted. A link to a folder inside the governed root adds nothing: its files are walked
    where they are."""
    import shutil

    old = write_at(project, years_ago(4), "sales.csv", "sub/old.csv")
    inside = old.parent.parent / "alias"
    inside.symlink_to(old.parent)
    assert set(_entries(project)) == {str(old), str(project / "audit.db")}
    inside.unlink()
    sub, out = old.parent, project / "outside"
    shutil.move(sub, out)
    sub.symlink_to(out)
    lacuna.enable(str(project / "lacuna.yaml"))
    try:
        assert len(pd.read_csv(old)) == len(pd.read_csv(project / "sales.csv"))
    finally:
        lacuna.disable()
    entries = _entries(project)
    assert str(old) not in entries
    assert entries[str(sub)]["action"] == "review"
    assert f"symbolic link to the folder {out}" in entries[str(sub)]["reason"]
    done = run(project, "retention", "apply", "--json")
    assert done.returncode == 1
    assert json.loads(done.stdout)["review"] == [str(sub)]
    assert (out / "old.csv").exists()
    sub.unlink()
    shutil.move(out, sub)
    done = run(project, "retention", "apply", "--json")
    assert done.returncode == 0, done.stdout
    assert json.loads(done.stdout)["deleted"] == [str(old)]
