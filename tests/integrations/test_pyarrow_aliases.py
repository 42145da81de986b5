"""pyarrow exports its writers under a second name (``pa.RecordBatchFileWriter`` is
``pa.ipc.RecordBatchFileWriter``; ``pyarrow.parquet`` re-exports ``pyarrow.parquet.core``,
``pyarrow.csv`` re-exports ``pyarrow._csv``, ``pyarrow`` re-exports ``pyarrow.lib``): each
name governs as the hooked one does. ``pa.RecordBatchFileWriter(path, schema)`` wrote the
customers' e-mails to an unmanaged folder, decided by nothing, recorded nowhere."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from importlib import resources
from pathlib import Path

import pytest

import lacuna
from lacuna.config import config_from_dict
from lacuna.errors import GovernanceViolation, StorageError
from lacuna.lineage.sidecar import read_sidecar

pa = pytest.importorskip("pyarrow")
import pyarrow._csv as pa_csv_lib  # noqa: E402
import pyarrow.csv as pa_csv  # noqa: E402
import pyarrow.ipc as pa_ipc  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402
import pyarrow.parquet.core as pq_core  # noqa: E402


def _stream(cls: Callable[..., object]) -> Callable[[pa.Table, Path], None]:
    def write(table: pa.Table, path: Path) -> None:
        with cls(str(path), table.schema) as writer:  # type: ignore[attr-defined]
            writer.write_table(table)

    return write


def _parquet(path: Path) -> pa.Table:
    return pq.read_table(path)  # the governed reader: looked up when called


def _csv(path: Path) -> pa.Table:
    return pa_csv.read_csv(path)


Writer = Callable[[pa.Table, Path], None]
WRITERS: dict[str, tuple[Writer, Callable[[Path], pa.Table], str]] = {
    "pa.RecordBatchFileWriter": (
        _stream(lambda *a: pa.RecordBatchFileWriter(*a)),
        lambda p: pa_ipc.open_file(p).read_all(),
        "arrow",
    ),
    "pa.RecordBatchStreamWriter": (
        _stream(lambda *a: pa.RecordBatchStreamWriter(*a)),
        lambda p: pa_ipc.open_stream(p).read_all(),
        "arrows",
    ),
    "pq.core.ParquetWriter": (_stream(lambda *a: pq_core.ParquetWriter(*a)), _parquet, "parquet"),
    "pq.core.write_table": (lambda t, p: pq_core.write_table(t, p), _parquet, "parquet"),
    "pyarrow._csv.write_csv": (lambda t, p: pa_csv_lib.write_csv(t, p), _csv, "csv"),
    "pyarrow._csv.CSVWriter": (_stream(lambda *a: pa_csv_lib.CSVWriter(*a)), _csv, "csv"),
}


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    shutil.copy(resources.files("lacuna") / "data" / "customers.csv", tmp_path / "customers.csv")
    (tmp_path / "governed").mkdir()
    return tmp_path


def cfg(folder: Path) -> lacuna.Config:
    return config_from_dict(
        {
            "user": {"id": "analyst_alice", "role": "data_analyst"},
            "audit": {"url": f"sqlite:///{folder / 'audit.db'}"},
            "destinations": {"governed": [f"{folder / 'governed'}/"]},
        }
    )


@pytest.mark.parametrize("name", WRITERS)
def test_personal_data_through_the_other_name_is_denied(folder: Path, name: str) -> None:
    write, _, suffix = WRITERS[name]
    target = folder / "out" / f"customers.{suffix}"
    target.parent.mkdir()
    with lacuna.governed(cfg(folder)):
        customers = pa_csv.read_csv(folder / "customers.csv")
        with pytest.raises(GovernanceViolation, match="Cannot export PROPRIETARY"):
            write(customers, target)
    assert list(target.parent.iterdir()) == []


@pytest.mark.parametrize("name", WRITERS)
def test_the_other_name_writes_and_reads_back_as_the_hooked_one(folder: Path, name: str) -> None:
    write, read, suffix = WRITERS[name]
    clean = pa.table({"region": ["north", "south", "east"], "n": [1, 2, 3]})
    plain, sealed = folder / f"clean.{suffix}", folder / "governed" / f"clean.{suffix}"
    with lacuna.governed(cfg(folder)):
        write(clean, plain)
        write(clean, sealed)
        assert read(sealed).to_pydict() == clean.to_pydict()  # decrypted by the governed reader
    assert read(plain).to_pydict() == clean.to_pydict()
    assert sealed.read_bytes().startswith(b"LACUNAS1")  # sealed, not plaintext
    for path in (plain, sealed):
        label = read_sidecar(path)
        assert label is not None
        assert label.classification.tier.value == "PUBLIC"


@pytest.mark.parametrize(
    "opener",
    [lambda p: pa.lib.OSFile(str(p), "wb"), lambda p: pa.lib.output_stream(str(p))],
    ids=["pyarrow.lib.OSFile", "pyarrow.lib.output_stream"],
)
def test_raw_streams_by_the_other_name_are_refused_in_governed_storage(
    folder: Path, opener: Callable[[Path], object]
) -> None:
    target = folder / "governed" / "raw.bin"
    with lacuna.governed(cfg(folder)), pytest.raises(StorageError, match=r"pq\.write_table"):
        opener(target)
    assert not target.exists()


def test_the_names_are_put_back_on_disable(folder: Path) -> None:
    names = [
        (pa, "RecordBatchFileWriter"),
        (pq_core, "write_table"),
        (pa_csv_lib, "CSVWriter"),
        (pa.lib, "OSFile"),
    ]
    before = [getattr(owner, name) for owner, name in names]
    with lacuna.governed(cfg(folder)):
        assert all(getattr(o, n) is not b for (o, n), b in zip(names, before, strict=True))
        assert pa.RecordBatchFileWriter is pa_ipc.RecordBatchFileWriter
        assert pq_core.write_table is pq.write_table
    assert all(getattr(o, n) is b for (o, n), b in zip(names, before, strict=True))
