"""pyarrow's streaming writers (``ParquetWriter``, ``CSVWriter``, ``ORCWriter``,
``ipc.new_file``/``new_stream``) to a path: decided at open on the destination, at each write
on the union of what was written, and at close, where the file is published from a private
staged copy with its sidecar and lineage, as ``pq.write_table`` does. Real files, read back."""

from __future__ import annotations

import io
import shutil
from importlib import resources
from pathlib import Path

import pytest

import lacuna
from lacuna.audit import AuditStore
from lacuna.config import config_from_dict
from lacuna.errors import GovernanceViolation
from lacuna.lineage.sidecar import read_sidecar

pa = pytest.importorskip("pyarrow")
import pyarrow.csv as pa_csv  # noqa: E402
import pyarrow.ipc as pa_ipc  # noqa: E402
import pyarrow.orc as pa_orc  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

EMAILS = ["maria.lopez@example.org", "john.smith@example.com", "ana.ruiz@example.net",
          "li.wei@example.org"] * 5


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    shutil.copy(resources.files("lacuna") / "data" / "customers.csv", tmp_path / "customers.csv")
    return tmp_path


def cfg(folder: Path) -> lacuna.Config:
    return config_from_dict({"user": {"id": "analyst_alice", "role": "data_analyst"},
                             "audit": {"url": f"sqlite:///{folder / 'audit.db'}"}})


def _open(kind: str, path: Path, schema: pa.Schema):
    return {
        "parquet": lambda: pq.ParquetWriter(path, schema),
        "csv": lambda: pa_csv.CSVWriter(path, schema),
        "orc": lambda: pa_orc.ORCWriter(path),
        "ipc file": lambda: pa_ipc.new_file(path, schema),
        "ipc stream": lambda: pa_ipc.new_stream(path, schema),
    }[kind]()


def _read(kind: str, path: Path) -> pa.Table:
    return {
        "parquet": lambda: pq.read_table(path),
        "csv": lambda: pa_csv.read_csv(path),
        "orc": lambda: pa_orc.read_table(path),
        "ipc file": lambda: pa_ipc.open_file(path).read_all(),
        "ipc stream": lambda: pa_ipc.open_stream(path).read_all(),
    }[kind]()


def _records(folder: Path, method_prefix: str) -> list:
    store = AuditStore(f"sqlite:///{folder / 'audit.db'}")
    try:
        return [r for r in store.list(limit=None)
                if (r.data.get("how") or {}).get("method", "").startswith(method_prefix)]
    finally:
        store.close()


KINDS = ("parquet", "csv", "orc", "ipc file", "ipc stream")
METHODS = {"parquet": "pyarrow.parquet.ParquetWriter", "csv": "pyarrow.csv.CSVWriter",
           "orc": "pyarrow.orc.ORCWriter", "ipc file": "pyarrow.ipc.RecordBatchFileWriter",
           "ipc stream": "pyarrow.ipc.RecordBatchStreamWriter"}


def _clean(start: int) -> pa.Table:
    return pa.table({"region": ["north", "south", "east", "west"],
                     "notes": [f"batch {start + i}" for i in range(4)]})


@pytest.mark.parametrize("kind", KINDS)
def test_an_allowed_stream_is_published_on_close_and_reads_back(folder: Path, kind: str) -> None:
    target = folder / f"out.{kind.replace(' ', '_')}"
    with lacuna.governed(cfg(folder)):
        writer = _open(kind, target, _clean(0).schema)
        writer.write(_clean(0)) if kind == "orc" else writer.write_table(_clean(0))
        writer.write(_clean(4)) if kind == "orc" else writer.write_batch(
            _clean(4).to_batches()[0])
        assert not target.exists()  # staged privately until the close decides
        writer.close()
    assert target.exists()
    back = _read(kind, target)
    assert back.column("notes").to_pylist() == [f"batch {i}" for i in range(8)]
    assert back.column("region").to_pylist() == ["north", "south", "east", "west"] * 2
    label = read_sidecar(target)
    assert label is not None
    assert label.classification.tier.value in ("PUBLIC", "INTERNAL")
    found = _records(folder, METHODS[kind])
    assert sorted((r.kind, r.action, r.allowed) for r in found) == [
        ("decision", "export", True), ("outcome", "export", True)]
    assert found[0].destination == str(target)


@pytest.mark.parametrize("kind", KINDS)
def test_pii_columns_are_refused_at_open_and_nothing_is_created(folder: Path, kind: str
                                                                 ) -> None:
    target = folder / "pii.out"
    with lacuna.governed(cfg(folder)):
        customers = pa_csv.read_csv(folder / "customers.csv")
        if kind == "orc":  # no schema at open: refused at the first write
            writer = _open(kind, target, customers.schema)
            with pytest.raises(GovernanceViolation, match="Cannot export PROPRIETARY"):
                writer.write(customers)
            writer.close()
        else:
            with pytest.raises(GovernanceViolation, match="Cannot export PROPRIETARY"):
                _open(kind, target, customers.schema)
    assert not target.exists()
    assert not (folder / "pii.out.lacuna.json").exists()
    denied = [r for r in _records(folder, METHODS[kind]) if r.kind == "decision"]
    assert [r.allowed for r in denied] == [False]


@pytest.mark.parametrize("kind", KINDS)
def test_a_later_batch_with_pii_denies_the_stream_and_leaves_nothing(folder: Path, kind: str
                                                                     ) -> None:
    out = folder / "out"
    out.mkdir()
    target = out / "late.out"
    late = pa.table({"region": ["north", "south", "east", "west"] * 5, "notes": EMAILS})
    with lacuna.governed(cfg(folder)):
        writer = _open(kind, target, _clean(0).schema)
        writer.write(_clean(0))
        with pytest.raises(GovernanceViolation, match="Cannot export PROPRIETARY"):
            writer.write(late)  # e-mails in a column whose name says nothing
        with pytest.raises(GovernanceViolation):
            writer.write(_clean(8))  # the stream stays refused
        writer.close()  # closes the library's writer; publishes nothing
        with (pytest.raises(GovernanceViolation, match="Cannot export PROPRIETARY"),  # noqa: PT012
              _open(kind, out / "with.out", _clean(0).schema) as again):
            again.write(_clean(0))
            again.write(late)
    assert list(out.iterdir()) == []  # no output, no sidecar, no staged file
    found = _records(folder, METHODS[kind])
    assert [(r.kind, r.allowed, r.tier) for r in found] == [("decision", False, "PROPRIETARY")] * 2
    assert "PII" in found[0].data["what"]["tags"]


def test_a_denied_stream_is_decided_once(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The denial the stream found is the one recorded and raised: not decided a second time
    (``Governor.govern(op, decision=...)``)."""
    customers = pa_csv.read_csv(folder / "customers.csv")
    with lacuna.governed(cfg(folder)):
        gov = lacuna.governor.current()
        asked: list[str] = []
        decide = gov.decide

        def counting(op):  # type: ignore[no-untyped-def]
            asked.append(op.id)
            return decide(op)

        monkeypatch.setattr(gov, "decide", counting)
        with pytest.raises(GovernanceViolation, match="Cannot export PROPRIETARY") as err:
            _open("parquet", folder / "pii.parquet", customers.schema)
    assert asked == [err.value.decision.operation_id]
    denied = [r for r in _records(folder, METHODS["parquet"]) if r.kind == "decision"]
    assert [(r.allowed, r.data["operation_id"]) for r in denied] == [
        (False, err.value.decision.operation_id)]


def test_a_stream_into_governed_storage_is_sealed_and_reads_back(folder: Path) -> None:
    governed = folder / "governed"
    governed.mkdir()
    config = config_from_dict({"user": {"id": "analyst_alice", "role": "data_analyst"},
                               "audit": {"url": f"sqlite:///{folder / 'audit.db'}"},
                               "destinations": {"governed": [str(governed) + "/"]}})
    with lacuna.governed(config):
        customers = pa_csv.read_csv(folder / "customers.csv")
        with pq.ParquetWriter(governed / "c.parquet", customers.schema) as writer:
            writer.write_table(customers.slice(0, 5))
            writer.write_table(customers.slice(5))
        assert (governed / "c.parquet").read_bytes().startswith(b"LACUNAS1")
        back = pq.read_table(governed / "c.parquet")  # decrypted by the governed reader
        assert back.num_rows == customers.num_rows
        assert back.column("email").to_pylist() == customers.column("email").to_pylist()
    label = read_sidecar(governed / "c.parquet")
    assert label is not None
    assert label.classification.tier.value == "PROPRIETARY"
    assert "PII" in label.classification.tags


def test_in_memory_sinks_and_disabled_governance_are_left_alone(folder: Path) -> None:
    table = pa.table({"email": EMAILS})
    plain = pq.ParquetWriter
    with lacuna.governed(cfg(folder)):
        sink = io.BytesIO()
        with pq.ParquetWriter(sink, table.schema) as writer:  # memory: not an export
            writer.write_table(table)
        assert pq.read_table(io.BytesIO(sink.getvalue())).num_rows == len(EMAILS)
        assert pq.ParquetWriter is not plain  # hooked while governed, under both names
        assert pq.core.ParquetWriter is pq.ParquetWriter
        assert issubclass(pq.ParquetWriter, plain)
    assert pq.ParquetWriter is plain  # and put back
    assert pq.core.ParquetWriter is plain
    with pq.ParquetWriter(folder / "plain.parquet", table.schema) as writer:
        writer.write_table(table)
    assert pq.read_table(folder / "plain.parquet").num_rows == len(EMAILS)
