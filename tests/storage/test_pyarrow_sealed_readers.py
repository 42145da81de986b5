"""pyarrow's other readers on sealed governed files: ``ParquetFile``, ``read_metadata``,
``read_schema``, ``read_pandas``, ``csv.open_csv``, ``orc.ORCFile``, ``json.read_json`` and
``open_json``, ``ipc.RecordBatchFileReader`` and ``RecordBatchStreamReader`` read the plaintext as
``pq.read_table`` does (decided and audited before anything is decrypted; tables carry the
classification), a denied read is a ``GovernanceViolation`` with nothing decrypted, and
``ParquetDataset`` (which opens files by path itself) is refused with what to use instead,
never left to parse ciphertext."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.dataset as pa_ds
import pyarrow.ipc as pa_ipc
import pyarrow.json as pa_json
import pyarrow.orc as pa_orc
import pyarrow.parquet as pq
import pytest

import lacuna
from bundles import contractor_denying_bundle
from lacuna import _bypass
from lacuna.errors import GovernanceViolation, StorageError
from lacuna.governor import current
from lacuna.integrations import pyarrow as lpyarrow
from lacuna.storage import sealed
from storage.conftest import customers, write_config


def _write(root: Path, *only: str) -> None:
    """The test files (``only`` those of these names) sealed under ``root``."""
    table = pa.Table.from_pandas(customers(), preserve_index=False)
    writes: dict[str, Callable[[Path], Any]] = {
        "c.parquet": lambda p: pq.write_table(table, p),
        "c.csv": lambda p: pa_csv.write_csv(table, str(p)),
        "c.orc": lambda p: pa_orc.write_table(table, str(p)),
        "c.arrow": lambda p: _ipc(pa_ipc.new_file, p, table),
        "c.arrows": lambda p: _ipc(pa_ipc.new_stream, p, table),
        "c.ndjson": lambda p: pl.from_pandas(customers()).write_ndjson(p),
    }
    for name, write in writes.items():
        if not only or name in only:
            write(root / name)


def _ipc(new: Callable[..., Any], path: Path, table: pa.Table) -> None:
    with new(str(path), table.schema) as writer:
        writer.write_table(table)


def _rows(result: Any) -> pd.DataFrame:
    if isinstance(result, pa.RecordBatch):
        result = pa.Table.from_batches([result])
    return result.to_pandas()


READS: dict[str, tuple[str, Callable[[Path], Any]]] = {
    "ParquetFile.read": ("c.parquet", lambda p: pq.ParquetFile(p).read()),
    "ParquetFile.read_row_group": ("c.parquet", lambda p: pq.ParquetFile(str(p))
                                   .read_row_group(0)),
    "read_pandas": ("c.parquet", lambda p: pq.read_pandas(p)),
    "open_csv": ("c.csv", lambda p: pa_csv.open_csv(str(p)).read_all()),
    "ORCFile.read": ("c.orc", lambda p: pa_orc.ORCFile(str(p)).read()),
    "RecordBatchFileReader": ("c.arrow", lambda p: pa_ipc.RecordBatchFileReader(str(p))
                              .read_all()),
    "RecordBatchStreamReader": ("c.arrows", lambda p: pa_ipc.RecordBatchStreamReader(str(p))
                                .read_all()),
    "read_json": ("c.ndjson", lambda p: pa_json.read_json(str(p))),
    "open_json": ("c.ndjson", lambda p: pa_json.open_json(str(p)).read_all()),
}
METHODS = {"ParquetFile.read": "pyarrow.parquet.ParquetFile",
           "ParquetFile.read_row_group": "pyarrow.parquet.ParquetFile",
           "read_pandas": "pyarrow.parquet.read_pandas", "open_csv": "pyarrow.csv.open_csv",
           "ORCFile.read": "pyarrow.orc.ORCFile",
           "RecordBatchFileReader": "pyarrow.ipc.RecordBatchFileReader",
           "RecordBatchStreamReader": "pyarrow.ipc.RecordBatchStreamReader",
           "read_json": "pyarrow.json.read_json", "open_json": "pyarrow.json.open_json"}


def _read_methods() -> list[str]:
    return [r.data["how"]["method"] for r in current().audit.list(limit=None, action="read")
            if r.data.get("kind") != "outcome"]


def test_a_sealed_file_reads_back_through_each_reader(vault: Path) -> None:
    _write(vault)
    for name, (file, read) in READS.items():
        assert (vault / file).read_bytes().startswith(sealed.MAGIC)
        result = read(vault / file)
        pd.testing.assert_frame_equal(_rows(result), customers(), check_dtype=False)
        assert METHODS[name] in _read_methods(), name  # decided and audited as this reader
        assert "PII" in lpyarrow.classification(result).tags, name  # it carries its class
    path = vault / "c.parquet"
    assert pq.read_metadata(path).num_rows == 4
    assert pq.read_schema(str(path)).names == list(customers().columns)
    assert {"pyarrow.parquet.read_metadata", "pyarrow.parquet.read_schema"} <= set(
        _read_methods())
    # a path on a SubTreeFileSystem over the local one is the local file (it was read as
    # ciphertext by read_table and read_metadata)
    import pyarrow.fs as pa_fs

    tree = pa_fs.SubTreeFileSystem(str(vault), pa_fs.LocalFileSystem())
    assert pq.read_table("c.parquet", filesystem=tree).num_rows == 4
    assert pq.read_metadata("c.parquet", filesystem=tree).num_rows == 4
    assert pq.ParquetFile("c.parquet", filesystem=tree).read().num_rows == 4
    assert pa_ds.dataset("c.parquet", filesystem=tree).to_table().num_rows == 4


def test_parquet_file_close_puts_the_outcome_on_the_trail(vault: Path) -> None:
    _write(vault, "c.parquet")
    with pq.ParquetFile(vault / "c.parquet") as pf:
        assert pf.metadata.num_columns == 4
        assert pf.read().num_rows == 4
    records = current().audit.list(limit=None, action="read")
    outcomes = [r.data["outcome"]["status"] for r in records if r.data.get("kind") == "outcome"]
    assert outcomes == ["succeeded"]
    assert pf._lacuna_read.stream.closed  # the decrypted stream went with the reader


def test_a_denied_read_decrypts_nothing(tmp_path: Path, decrypted: list[object]) -> None:
    bundle = contractor_denying_bundle(tmp_path)
    lacuna.enable(str(write_config(tmp_path, policy={"dir": str(bundle)})))
    try:
        root = tmp_path / "governed" / "workspace"
        _write(root)
        reads = {**READS, "read_metadata": ("c.parquet", lambda p: pq.read_metadata(p))}
        with lacuna.governed(user={"id": "carl", "role": "contractor"}):
            for name, (file, read) in reads.items():
                with pytest.raises(GovernanceViolation, match="contractors may not read"):
                    read(root / file)
                assert decrypted == [], name  # denied before anything was opened for decryption
        assert pq.ParquetFile(root / "c.parquet").read().num_rows == 4  # the analyst may
        assert len(decrypted) == 1
    finally:
        lacuna.disable()


def test_what_cannot_decrypt_a_sealed_file_is_refused_with_what_to_do(
        vault: Path, tmp_path: Path) -> None:
    """ParquetDataset (which opens its files by path itself) and a one-file reader given a
    folder, an open file, an Arrow memory map or the bytes of a sealed file parsed ciphertext
    (pyarrow's "Parquet magic bytes not found", a CSV parse error of garbage); each works on
    plaintext."""
    import io

    _write(vault, "c.parquet", "c.csv")
    for target in (vault / "c.parquet", vault):
        with pytest.raises(StorageError, match=r"ciphertext.*pq\.read_table\(path\)"):
            pq.ParquetDataset(str(target))
    with pytest.raises(StorageError, match="reads one file"):
        pq.ParquetFile(str(vault))
    plain = tmp_path / "plain"
    plain.mkdir()
    with _bypass.bypass():
        pq.write_table(pa.Table.from_pandas(customers(), preserve_index=False),
                       plain / "c.parquet")
    assert pq.ParquetDataset(str(plain / "c.parquet")).read().num_rows == 4
    path = vault / "c.parquet"
    with open(path, "rb") as a, open(path, "rb") as b:
        reads: list[Callable[[], Any]] = [
            lambda: pq.read_table(a),
            lambda: pq.ParquetFile(b),
            lambda: pq.read_metadata(pa.memory_map(str(path))),
            lambda: pa_csv.read_csv(pa.memory_map(str(vault / "c.csv"))),
            lambda: pl.read_parquet(path.read_bytes()),
            lambda: pd.read_parquet(io.BytesIO(path.read_bytes())),
        ]
        for read in reads:
            with pytest.raises(StorageError, match="Pass the file's path to the reader"):
                read()
        assert a.tell() == 0  # looked at, put back
    with _bypass.bypass():
        buffer = io.BytesIO()
        pq.write_table(pa.Table.from_pandas(customers(), preserve_index=False), buffer)
    buffer.seek(0)
    assert pq.read_table(buffer).num_rows == 4  # a stream of plaintext reads as it is
    assert pl.read_parquet(buffer.getvalue()).height == 4


def _hidden(root: Path) -> pa.Table:
    """A table whose class its names and values do not show: an HIV status and a salary read
    from a sealed file and renamed ``a`` and ``b`` (0s and 1s, round numbers)."""
    pd.DataFrame({"k": [1, 2, 3, 4], "hiv_status": [0, 1, 0, 1],
                  "salary": [50000, 61000, 72000, 83000]}).to_parquet(root / "src.parquet")
    renamed = pd.read_parquet(root / "src.parquet").rename(
        columns={"hiv_status": "a", "salary": "b"})
    return pa.Table.from_pandas(renamed, preserve_index=False)


def test_a_sealed_files_record_batches_carry_its_class(vault: Path, tmp_path: Path) -> None:
    """A record batch read from a sealed file was classified by its own values only: two rows
    of a renamed HIV status (``iter_batches(batch_size=2)``, ``open_csv``'s blocks, an IPC
    file's batches) were PUBLIC and written to an unmanaged folder. Each batch now carries
    the file's class, as ``pq.read_table``'s table does: the export is denied, and a write
    back into governed storage is allowed and sealed with it."""
    table = _hidden(vault)
    pq.write_table(table, vault / "h.parquet")
    pa_csv.write_csv(table, str(vault / "h.csv"))
    with pa_ipc.new_file(str(vault / "h.arrow"), table.schema) as writer:
        writer.write_table(table, max_chunksize=2)
    with pa_ipc.new_stream(str(vault / "h.arrows"), table.schema) as writer:
        writer.write_table(table, max_chunksize=2)
    pd.read_parquet(vault / "h.parquet").to_json(vault / "h.ndjson", orient="records",
                                                 lines=True)
    small = {"read_options": pa_csv.ReadOptions(block_size=16)}
    batches: dict[str, Callable[[], Any]] = {
        "ParquetFile.iter_batches": lambda: next(
            pq.ParquetFile(vault / "h.parquet").iter_batches(batch_size=2)),
        "csv.open_csv": lambda: list(pa_csv.open_csv(str(vault / "h.csv"), **small))[1],
        "json.open_json": lambda: pa_json.open_json(
            str(vault / "h.ndjson"),
            read_options=pa_json.ReadOptions(block_size=48)).read_next_batch(),
        "ipc.open_file": lambda: pa_ipc.open_file(str(vault / "h.arrow")).get_batch(1),
        "ipc.open_stream": lambda: next(iter(pa_ipc.open_stream(str(vault / "h.arrows")))),
    }
    out = tmp_path / "exports"
    out.mkdir()
    for name, read in batches.items():
        batch = read()
        assert isinstance(batch, pa.RecordBatch), name
        assert 0 < batch.num_rows < 4, name  # a piece of the file
        assert {"PHI", "FINANCIAL"} <= set(lpyarrow.classification(batch).tags), name
        with pytest.raises(GovernanceViolation, match="unmanaged"):
            pa_csv.write_csv(batch, str(out / "leak.csv"))
        assert not (out / "leak.csv").exists(), name
    pa_csv.write_csv(batch, str(vault / "kept.csv"))  # into governed storage: allowed
    assert (vault / "kept.csv").read_bytes().startswith(sealed.MAGIC)
    assert "PHI" in lpyarrow.classification(pa_csv.read_csv(str(vault / "kept.csv"))).tags
    # the streaming reader's whole table carries it too, and closing at the end records
    # the read's outcome
    assert "PHI" in lpyarrow.classification(pa_csv.open_csv(str(vault / "h.csv")).read_all()
                                            ).tags


def test_what_is_read_from_a_sealed_file_never_carries_less_than_its_read_was_decided_on(
        tmp_path: Path) -> None:
    """A sealed file without a sidecar whose content the lineage store does not know (its
    owner deleted the sidecar and pointed the audit database at a new one) is read decided
    PROPRIETARY with the tags sealed into its header, but what was read carried only what
    its values showed: an HIV status renamed ``a`` (0s and 1s) came back PUBLIC from
    pd.read_csv, pyarrow's and polars' read_csv, and a reader's first block of placeholders
    made the emails of its later blocks PUBLIC too. Each was written to an unmanaged folder;
    now what is read carries at least what its read was decided on."""
    lacuna.enable(str(write_config(tmp_path)))
    root = tmp_path / "governed" / "workspace"
    emails = ["ann@example.com", "bob@example.org", "cy@example.net", "di@example.com"]
    pd.DataFrame({"k": range(1, 9), "x1": ["-"] * 4 + emails}).to_csv(root / "m.csv",
                                                                      index=False)
    pd.DataFrame({"k": [1, 2, 3, 4], "hiv_status": [0, 1, 0, 1]}).to_csv(root / "s.csv",
                                                                          index=False)
    pd.read_csv(root / "s.csv").rename(columns={"hiv_status": "a"}).to_csv(root / "h.csv",
                                                                           index=False)
    for name in ("m.csv", "h.csv"):
        (root / f".{name}.lacuna.json").unlink()
    lacuna.disable()
    fresh = {"url": f"sqlite:///{tmp_path / 'fresh.db'}"}
    lacuna.enable(str(write_config(tmp_path, audit=fresh)))
    out = tmp_path / "exports"
    out.mkdir()
    try:
        batches = list(pa_csv.open_csv(str(root / "m.csv"),
                                       read_options=pa_csv.ReadOptions(block_size=24)))
        assert batches[0].column("x1").to_pylist() == ["-"] * 4  # it shows nothing
        last = batches[-1]
        assert set(last.column("x1").to_pylist()) <= set(emails)
        assert {"PII", "GDPR"} <= set(lpyarrow.classification(last).tags)
        with pytest.raises(GovernanceViolation, match="unmanaged"):
            pa_csv.write_csv(last, str(out / "leak.csv"))
        path = root / "h.csv"
        exports: dict[str, Callable[[], Any]] = {
            "pandas": lambda: pd.read_csv(path).to_csv(out / "leak.csv"),
            "pyarrow": lambda: pa_csv.write_csv(pa_csv.read_csv(str(path)),
                                                str(out / "leak.csv")),
            "polars": lambda: pl.read_csv(path).write_csv(out / "leak.csv"),
        }
        for name, export in exports.items():
            with pytest.raises(GovernanceViolation, match="PHI"):
                export()
            assert not (out / "leak.csv").exists(), name
        assert len(pd.read_csv(path)) == 4  # the read itself is allowed
    finally:
        lacuna.disable()
