"""A read's classification is cached by file (path, size, mtime, content) and how it was read."""

from __future__ import annotations

import os
import sqlite3
import sys
from pathlib import Path

import pandas as pd
import pytest

import lacuna
from lacuna.classify import heuristic
from lacuna.classify.filecache import FileClassificationCache, file_key
from lacuna.governor import current

ROWS = [f"{i},user{i}@example.com,{'north' if i % 2 else 'south'}" for i in range(300)]


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch, governed: Path) -> list[str]:
    """Every classification of a frame the governor runs, by path."""
    calls: list[str] = []
    original = heuristic.classify_frame

    def spy(df, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(str(kwargs.get("path")))
        return original(df, **kwargs)

    monkeypatch.setattr(sys.modules["lacuna.classify"], "classify_frame", spy)
    return calls


def _write(path: Path, rows: list[str]) -> None:
    path.write_text("customer_id,email,region\n" + "\n".join(rows) + "\n", encoding="utf-8")


def test_rereading_an_unchanged_file_does_not_classify_it_again(governed, counted):
    path = governed / "people.csv"
    _write(path, ROWS)
    first = pd.read_csv(path)
    second = pd.read_csv(path)
    assert len(counted) == 1
    assert second.lacuna_classification == first.lacuna_classification
    assert second.lacuna_classification.tier.value == "PROPRIETARY"
    assert current().file_cache.hits == 1


def test_changed_content_with_same_size_and_mtime_is_classified_again(governed, counted):
    path = governed / "people.csv"
    _write(path, ROWS)
    before = pd.read_csv(path)
    stat = path.stat()
    # Same length, same mtime: only the content fingerprint can tell.
    _write(path, [r.replace("@example.com", "#example.com") for r in ROWS])
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert path.stat().st_size == stat.st_size
    after = pd.read_csv(path)
    assert len(counted) == 2
    assert after.lacuna.columns["email"] != before.lacuna.columns["email"]  # no e-mail values


def test_a_rewrite_between_the_sampled_blocks_is_classified_again(governed, counted):
    """The content fingerprint samples three 4 KiB blocks. A rewrite of everything between
    them, same size, mtime put back, leaves size, mtime and fingerprint as they were: the
    ctime (which ``os.utime`` cannot put back) is in the key, so the file is classified
    again. Before, 19,507 e-mail addresses read as the old PUBLIC answer."""
    path = governed / "contacts.csv"
    n = 20_000
    public = [f"ref-{i:06d}-zzzzzzzzzzzzz" for i in range(n)]
    emails = [f"u{i:06d}.smith@example.com"[:24].rjust(24, "a") for i in range(n)]
    path.write_text("contact\n" + "".join(f"{p}\n" for p in public))
    assert pd.read_csv(path).lacuna.classification.tier.value == "PUBLIC"
    stat = path.stat()
    size = stat.st_size
    sampled = [(0, 4096), (size // 2, size // 2 + 4096), (size - 4096, size)]
    out, pos = ["contact\n"], len("contact\n")
    for plain, email in zip(public, emails, strict=True):
        end = pos + len(plain) + 1
        out.append((plain if any(pos < b and end > a for a, b in sampled) else email) + "\n")
        pos = end
    path.write_text("".join(out))
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert path.stat().st_size == size
    after = pd.read_csv(path)
    assert after["contact"].str.contains("@").sum() > n // 2
    assert len(counted) == 2
    assert after.lacuna.classification.tier.value == "PROPRIETARY"


def test_reader_arguments_are_part_of_the_key(governed, counted):
    path = governed / "people.csv"
    _write(path, ROWS)
    plain = pd.read_csv(path)
    pd.read_csv(path, usecols=["customer_id", "region"])
    masked = pd.read_csv(path, converters={"email": lambda v: "x"})
    assert len(counted) == 3
    assert masked.lacuna.columns["email"] != plain.lacuna.columns["email"]


def test_sidecar_is_read_every_time(governed, counted):
    path = governed / "governed" / "workspace" / "people.csv"
    _write(path, ROWS)
    pd.read_csv(path).to_csv(path, index=False)  # allowed: writes a sidecar next to it
    before = pd.read_csv(path)
    assert before.lacuna.columns["email"].layer.value == "declared"
    (path.parent / "people.csv.lacuna.json").write_text("{broken", encoding="utf-8")
    after = pd.read_csv(path)
    assert after.lacuna_classification.tier.value == "PROPRIETARY"
    assert any("fail closed" in r for r in after.lacuna_classification.reasoning)


def test_sqlite_files_are_never_fingerprinted(tmp_path):
    db = tmp_path / "state.db"
    con = sqlite3.connect(db)
    con.execute("create table t (x)")
    con.commit()
    assert file_key(str(db), pd.DataFrame({"x": [1]}), "settings") is None
    con.close()


def test_cache_is_bounded_and_keeps_recent_entries():
    cache = FileClassificationCache(size=2)
    c = lacuna.classify(pd.DataFrame({"region": ["north"]}))
    for key in ("a", "b", "c"):
        cache.put(key, c)
    assert len(cache) == 2
    assert cache.get("a") is None
    assert cache.get("c") is c
