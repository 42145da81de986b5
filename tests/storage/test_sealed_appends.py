"""Appends into sealed governed storage (``to_csv(mode="a")``, JSON lines): what an append
re-seals is the file it read, decided as what the file will hold, never a binary file
corrupted by text, and the old content is streamed, not held in memory (docs/storage.md)."""

from __future__ import annotations

import os
import tracemalloc
from pathlib import Path

import pandas as pd
import pytest

import lacuna
from lacuna import storage
from lacuna.errors import StorageError
from lacuna.lineage import sidecar as sc
from lacuna.model import Tier
from lacuna.storage import sealed


def _personal() -> pd.DataFrame:
    return pd.DataFrame({"n": [1, 2, 3],
                         "note": ["ann@example.com", "bob@example.org", "cy@example.net"]})


def _public() -> pd.DataFrame:
    return pd.DataFrame({"n": [4], "note": ["none"]})


def _exports(path: Path) -> list[dict]:
    found = [r.data for r in lacuna.governor.current().audit.list(limit=None, action="export")
             if r.kind == "decision" and r.data["what"]["destination"] == str(path)]
    return sorted(found, key=lambda d: d["seq"])


def test_an_append_is_decided_as_what_the_file_will_hold(governed: Path) -> None:
    """Public rows appended to a file of e-mail addresses: the export re-seals the addresses,
    so it is decided (and on the audit trail) as that, never as the appended rows alone."""
    target = governed / "governed" / "workspace" / "mixed.csv"
    _personal().to_csv(target, index=False)
    held = sc.read_sidecar(target).classification
    assert held.tier > Tier.PUBLIC
    _public().to_csv(target, mode="a", header=False, index=False)
    first, append = _exports(target)
    assert Tier(append["what"]["tier"]) >= held.tier
    assert set(first["what"]["tags"]) <= set(append["what"]["tags"])
    back = pd.read_csv(target)  # the allowed path: what was written, then what was appended
    pd.testing.assert_frame_equal(back, pd.concat([_personal(), _public()], ignore_index=True))


def test_an_append_through_a_symbolic_link_is_refused(governed: Path) -> None:
    """A link in another folder to a sealed file: the append would read the file the link
    names and seal its content at the link's path (decided there as the appended rows):
    refused, nothing is written, the file and the link are left as they were."""
    root = governed / "governed" / "workspace"
    secret = root / "secret.csv"
    _personal().to_csv(secret, index=False)
    before = secret.read_bytes()
    (root / "shared").mkdir()
    link = root / "shared" / "notes.csv"
    os.symlink(secret, link)
    with pytest.raises(StorageError, match="symbolic link"):
        _public().to_csv(link, mode="a", header=False, index=False)
    assert link.is_symlink()
    assert secret.read_bytes() == before
    assert not sc.sidecar_path(link).exists()
    assert [p.name for p in (root / "shared").iterdir()] == ["notes.csv"]


@pytest.mark.parametrize("fmt", ["parquet", "feather", "pickle", "xlsx"])
def test_a_text_append_to_a_sealed_binary_file_is_refused(governed: Path, fmt: str) -> None:
    """A CSV or JSON-lines append to a sealed Parquet (Feather, pickle, Excel) file would
    leave a file no reader opens: refused, the file is intact and reads back equal."""
    target = governed / "governed" / "workspace" / f"data.{fmt}"
    write = {"parquet": lambda d: d.to_parquet(target), "feather": lambda d: d.to_feather(target),
             "pickle": lambda d: d.to_pickle(target),
             "xlsx": lambda d: d.to_excel(target, index=False)}[fmt]
    read = {"parquet": pd.read_parquet, "feather": pd.read_feather, "pickle": pd.read_pickle,
            "xlsx": pd.read_excel}[fmt]
    write(_personal())
    before = target.read_bytes()
    with pytest.raises(StorageError, match="not a text file"):
        _public().to_csv(target, mode="a", header=False, index=False)
    with pytest.raises(StorageError, match="not a text file"):
        _public().to_json(target, mode="a", orient="records", lines=True)
    assert target.read_bytes() == before
    pd.testing.assert_frame_equal(read(target), _personal())


def test_a_sealed_polars_parquet_file_is_not_appended_to(governed: Path) -> None:
    pl = pytest.importorskip("polars")
    target = governed / "governed" / "workspace" / "from_polars.parquet"
    pl.DataFrame({"n": [1, 2], "city": ["Paris", "Lyon"]}).write_parquet(target)
    before = target.read_bytes()
    with pytest.raises(StorageError, match="not a text file"):
        pd.DataFrame({"n": [3], "city": ["Nice"]}).to_csv(target, mode="a", header=False,
                                                           index=False)
    assert target.read_bytes() == before


def test_an_append_streams_what_the_file_holds(governed: Path) -> None:
    """The old content goes from the decrypting stream into the sealing one a segment at a
    time: an append to a large file does not hold the file's plaintext in memory."""
    target = governed / "governed" / "workspace" / "big.csv"
    row = b"12345,a fairly long line of public text to make the file large\n"
    body = b"n,text\n" + row * (24 * 1024 * 1024 // len(row))
    storage.write_governed(target, lambda fh: fh.write(body), method="test.write")
    sc.write_label(target, [(lacuna.classify(pd.DataFrame({"n": [1]})), (), "analyst_alice",
                             None)], lacuna.governor.current().config.classification)
    tracemalloc.start()
    try:
        pd.DataFrame({"n": [7], "text": ["appended"]}).to_csv(target, mode="a", header=False,
                                                               index=False)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < len(body) // 4
    assert sealed.plaintext_size(target) == len(body) + len(b"7,appended\n")
    with storage.open_governed(target) as fh:
        fh.seek(-len(row) - 11, os.SEEK_END)
        assert fh.read() == row + b"7,appended\n"


def test_an_append_by_a_user_who_may_not_read_the_file_changes_nothing(tmp_path: Path) -> None:
    """An append re-seals what the file holds, so it needs the read: a user denied it is
    denied the append, and the file, its sidecar and the appended rows are as before."""
    from bundles import contractor_denying_bundle
    from lacuna.errors import GovernanceViolation
    from storage.conftest import customers, write_config

    config = write_config(tmp_path, policy={"dir": str(contractor_denying_bundle(tmp_path))})
    lacuna.enable(str(config))
    path = tmp_path / "governed" / "workspace" / "customers.csv"
    customers().to_csv(path, index=False)
    before, label = path.read_bytes(), sc.sidecar_path(path).read_bytes()
    with lacuna.governed(user={"id": "carl", "role": "contractor"}), pytest.raises(
            GovernanceViolation):
        customers().head(1).to_csv(path, mode="a", header=False, index=False)
    assert path.read_bytes() == before
    assert sc.sidecar_path(path).read_bytes() == label
    pd.testing.assert_frame_equal(pd.read_csv(path), customers())


def test_concurrent_appends_keep_every_row(governed: Path) -> None:
    """Appends from several threads at once (a shared log): each re-seals what the one before
    it sealed, so no appended row is lost to another append's replace."""
    import threading

    target = governed / "governed" / "workspace" / "log.csv"
    pd.DataFrame({"n": [0], "note": ["start"]}).to_csv(target, index=False)
    threads, each = 4, 4
    barrier = threading.Barrier(threads)
    failures: list[BaseException] = []

    def work(i: int) -> None:
        barrier.wait()
        for j in range(each):
            try:
                pd.DataFrame({"n": [i * 100 + j + 1], "note": ["row"]}).to_csv(
                    target, mode="a", header=False, index=False)
            except BaseException as exc:
                failures.append(exc)

    workers = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert failures == []
    back = pd.read_csv(target)
    assert sorted(back["n"]) == sorted([0, *(i * 100 + j + 1 for i in range(threads)
                                             for j in range(each))])
    assert sc.read_sidecar(target).trusted


@pytest.mark.parametrize("encoding", ["UTF_8_SIG", "utf-16"])
def test_an_append_seals_the_bytes_pandas_appends_to_a_plain_file(governed: Path,
                                                                 encoding: str) -> None:
    """What a sealed append holds is what pandas' own append writes to a plain file: in
    ``utf-8-sig`` the byte order mark starts the file only (it was written again before the
    appended rows, whose first value read back as "\\ufeffZürich")."""
    data = pd.DataFrame({"city": ["Zürich", "Oslo"], "n": [1, 2]})
    plain = governed / "Downloads" / "plain.csv"
    target = governed / "governed" / "workspace" / "sig.csv"
    for path in (plain, target):
        data.to_csv(path, index=False, encoding=encoding)
        data.to_csv(path, index=False, header=False, mode="a", encoding=encoding)
    assert storage.read_governed(target) == plain.read_bytes()
    back = pd.read_csv(target, encoding=encoding)
    assert back["city"].tolist() == ["Zürich", "Oslo", "Zürich", "Oslo"]
