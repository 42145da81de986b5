"""A sealed file read through a name Lacuna did not write (a symbolic link or a hard link
outside the governed root, ``/proc/self/fd``, a copy of its bytes): the plaintext comes back
only through a hooked reader, and every such read is decided and logged like a read of the
governed path. Without Lacuna the bytes are ciphertext."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pandas as pd
import pytest

import lacuna
from lacuna.governor import current
from storage.conftest import customers


def _reads() -> list[dict]:  # type: ignore[type-arg]
    records = current().audit.list(limit=None, action="read")
    return [r.data for r in records]


@pytest.mark.parametrize("how", ["symlink", "hardlink", "copy", "procfd"])
def test_a_sealed_file_read_through_another_name_round_trips_and_is_logged(
        vault: Path, tmp_path: Path, how: str) -> None:
    if how == "procfd" and not sys.platform.startswith("linux"):
        pytest.skip("/proc/self/fd is Linux's")
    path = vault / "customers.csv"
    customers().to_csv(path, index=False)
    assert path.read_bytes().startswith(b"LACUNAS1")
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    fd = None
    if how == "symlink":
        name = outside / "c.csv"
        name.symlink_to(path)
    elif how == "hardlink":
        name = outside / "c.csv"
        os.link(path, name)
    elif how == "copy":
        name = outside / "c.csv"
        shutil.copyfile(path, name)  # the bytes, taken behind Lacuna's back
    else:
        fd = os.open(path, os.O_RDONLY)
        name = Path(f"/proc/self/fd/{fd}")
    try:
        before = _reads()
        back = pd.read_csv(name)
    finally:
        if fd is not None:
            os.close(fd)
    pd.testing.assert_frame_equal(back, customers())
    new = _reads()[: len(_reads()) - len(before)]
    decisions = [r for r in new if r.get("kind") != "outcome"]
    outcomes = {r["outcome"]["of"]: r["outcome"]["status"] for r in new
                if r.get("kind") == "outcome"}
    # a read Lacuna decides before decrypting (the name says nothing) may be decided again on
    # the values: one decision at least, each naming the name read, and the read succeeded
    assert decisions
    assert {d["how"]["method"] for d in decisions} == {"pandas.read_csv"}
    assert {tuple(d["what"]["sources"]) for d in decisions} <= {(str(name),),
                                                                 (str(path.resolve()),)}
    assert decisions[0]["what"]["tier"] == "PROPRIETARY"  # e-mails, phones: seen
    assert list(outcomes.values()) == ["succeeded"]
    assert set(outcomes) <= {d["id"] for d in decisions}

def test_without_lacuna_a_copy_of_a_sealed_file_is_ciphertext(vault: Path, tmp_path: Path) -> None:
    path = vault / "customers.csv"
    customers().to_csv(path, index=False)
    copy = tmp_path / "copy.csv"
    shutil.copyfile(path, copy)
    lacuna.disable()
    raw = copy.read_bytes()
    assert raw.startswith(b"LACUNAS1")
    for value in ("ann@example.com", "+1 415 555 0101"):
        assert value.encode() not in raw
