"""A folder read through Spark is listed once while none of its folders changes (the listing
keys the cached classification of every operation on it: ``sources._listed``), and listed again
as soon as one does: a partition written after the read is never missed. No Spark session."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from lacuna import _files
from lacuna.spark import sources


@pytest.fixture
def walks(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The folders walked (``read_tree`` calls), with the listing's clock 10 s ahead: the
    folders the test just made count as settled, so their listings are kept."""
    walked: list[str] = []
    real = _files.read_tree

    def counting(folder: str, *folders: list[str]) -> list[tuple[str, str, str]]:
        walked.append(folder)
        return real(folder, *folders)

    monkeypatch.setattr(_files, "read_tree", counting)
    monkeypatch.setattr(sources, "_clock", lambda: time.time_ns() + 10_000_000_000)
    sources.forget()
    yield walked
    sources.forget()


def _tick() -> None:
    """Let the file system's clock move on: a change made in the tick of the last one could
    keep a folder's stamp (what the listing's racy margin guards against without the shifted
    clock)."""
    time.sleep(0.02)


def _partitioned(root: Path) -> Path:
    folder = root / "sales"
    for part in ("region=EU", "region=US"):
        (folder / part).mkdir(parents=True)
        (folder / part / "part-0.parquet").write_bytes(b"public")
    return folder


def _version(folder: Path) -> object:
    return sources._version(sources.Leaf(key=f"file:{folder}", label=str(folder), columns=(),
                                         path=str(folder)))


def _files_of(folder: Path) -> list[str]:
    return [stamp[0] for stamp in sources._stamps(str(folder))]


def test_listing_is_kept_while_no_folder_changes(tmp_path: Path, walks: list[str]) -> None:
    folder = _partitioned(tmp_path)
    first = _version(folder)
    assert [_version(folder) for _ in range(5)] == [first] * 5
    assert walks == [str(folder)]  # listed once, then only stat'ed


@pytest.mark.parametrize("change", ["new partition", "new file", "empty partition filled",
                                    "partition removed", "file renamed"])
def test_listing_after_a_partition_is_written_is_never_stale(
        tmp_path: Path, walks: list[str], change: str) -> None:
    folder = _partitioned(tmp_path)
    empty = folder / "region=APAC"
    if change == "empty partition filled":
        empty.mkdir()
    before, files = _version(folder), _files_of(folder)
    assert _version(folder) == before
    assert len(walks) == 1
    _tick()
    if change == "new partition":
        (folder / "region=X").mkdir()
        (folder / "region=X" / "part-0.parquet").write_bytes(b"e-mails")
        added = [str(folder / "region=X" / "part-0.parquet")]
    elif change == "new file":
        (folder / "region=EU" / "part-1.parquet").write_bytes(b"e-mails")
        added = [str(folder / "region=EU" / "part-1.parquet")]
    elif change == "empty partition filled":
        (empty / "part-0.parquet").write_bytes(b"e-mails")
        added = [str(empty / "part-0.parquet")]
    elif change == "partition removed":
        (folder / "region=US" / "part-0.parquet").unlink()
        (folder / "region=US").rmdir()
        added = []
        files.remove(str(folder / "region=US" / "part-0.parquet"))
    else:
        os.rename(folder / "region=EU" / "part-0.parquet", folder / "region=EU" / "part-9.parquet")
        added = [str(folder / "region=EU" / "part-9.parquet")]
        files.remove(str(folder / "region=EU" / "part-0.parquet"))
    assert _version(folder) != before
    assert _files_of(folder) == sorted([*files, *added])
    assert len(walks) == 2  # listed again once, then kept again
    assert _version(folder) == _version(folder)
    assert len(walks) == 2


def test_a_file_overwritten_in_place_changes_the_key_without_a_walk(
        tmp_path: Path, walks: list[str]) -> None:
    """Overwriting a part file in place, even keeping its size and modification time, changes
    no folder: the listing is kept, and the file's own change time still changes the key."""
    folder = _partitioned(tmp_path)
    part = folder / "region=EU" / "part-0.parquet"
    st = part.stat()
    before = _version(folder)
    _tick()
    part.write_bytes(b"e-mail")  # same size
    os.utime(part, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert _version(folder) != before
    assert walks == [str(folder)]


def test_a_partition_behind_a_symlink_is_watched(tmp_path: Path, walks: list[str]) -> None:
    folder = _partitioned(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (folder / "region=L").symlink_to(elsewhere, target_is_directory=True)
    before = _version(folder)
    assert _version(folder) == before
    assert len(walks) == 1
    _tick()
    (elsewhere / "part-0.parquet").write_bytes(b"e-mails")
    assert _version(folder) != before
    assert str(folder / "region=L" / "part-0.parquet") in _files_of(folder)


def test_a_folder_that_just_changed_or_a_dangling_link_is_listed_every_time(
        tmp_path: Path, walks: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """A folder changed within the racy margin of its listing could change again in the same
    tick and keep its stamp; a symlink that leads nowhere can come to lead to a file without
    any folder changing. Neither listing is kept."""
    folder = _partitioned(tmp_path)
    changed = (folder / "region=US").stat().st_ctime_ns
    monkeypatch.setattr(sources, "_clock", lambda: changed + 1_000_000_000)  # 1 s after
    _version(folder)
    _version(folder)
    assert len(walks) == 2
    other = _partitioned(tmp_path / "other")
    target = tmp_path / "later.parquet"
    (other / "region=EU" / "link.parquet").symlink_to(target)
    monkeypatch.setattr(sources, "_clock", lambda: time.time_ns() + 10_000_000_000)
    before = _version(other)
    target.write_bytes(b"e-mails")  # the link now leads to a file: no folder of `other` changed
    assert _version(other) != before
    assert len(walks) == 4


def test_listings_are_kept_within_a_bound(tmp_path: Path, walks: list[str],
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """Listings are held in memory: past ``_MAX_LISTED`` entries in all, none is kept longer
    (each folder's then listed on every operation, as before)."""
    monkeypatch.setattr(sources, "_MAX_LISTED", 3)
    big, small = _partitioned(tmp_path / "big"), tmp_path / "small"
    (big / "region=EU" / "part-1.parquet").write_bytes(b"x")  # 3 files: kept
    (small / "p=1").mkdir(parents=True)
    (small / "p=1" / "part-0.parquet").write_bytes(b"x")
    for _ in range(2):
        _version(big)
    assert len(walks) == 1
    for _ in range(2):
        _version(small)  # 3 + 1 entries: the others are dropped to keep it
    _version(big)
    assert walks[1:] == [str(small), str(big)]
    (big / "region=US" / "part-1.parquet").write_bytes(b"x")
    monkeypatch.setattr(sources, "_clock", lambda: time.time_ns() + 20_000_000_000)
    _version(big)
    _version(big)  # 4 entries: never kept
    assert walks[3:] == [str(big), str(big)]
