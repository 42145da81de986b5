"""Governed storage through polars, pyarrow and DuckDB (issue 16): their writes into a governed
root are sealed, their readers decrypt through open_governed (decided and audited first), the
plaintext copies path-based readers need are private and removed, and every library reads what
every other one wrote."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.dataset as pa_ds
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

import lacuna
from bundles import contractor_denying_bundle
from lacuna import _bypass
from lacuna.cli import app
from lacuna.errors import GovernanceViolation, StorageError
from lacuna.governor import current
from lacuna.integrations import duckdb as lduckdb
from lacuna.integrations import polars as lpolars
from lacuna.integrations import pyarrow as lpyarrow
from lacuna.storage import frames, sealed
from storage.conftest import customers, write_config

runner = CliRunner()
SECRETS = (b"ann@example.com", b"customer_id", b"555 0101")


def _pl() -> pl.DataFrame:
    return pl.from_pandas(customers())


def _table() -> pa.Table:
    return pa.Table.from_pandas(customers())


def _relation() -> Any:
    frame = customers()  # noqa: F841 - DuckDB finds it by name
    return duckdb.sql("SELECT * FROM frame")


WRITERS: dict[str, tuple[str, Callable[[Path], Any]]] = {
    "polars.write_csv": ("csv", lambda p: _pl().write_csv(p)),
    "polars.write_parquet": ("parquet", lambda p: _pl().write_parquet(p)),
    "polars.write_ipc": ("arrow", lambda p: _pl().write_ipc(p)),
    "polars.sink_parquet": ("parquet", lambda p: _pl().lazy().sink_parquet(p)),
    "polars.sink_csv": ("csv", lambda p: _pl().lazy().sink_csv(str(p))),
    "pyarrow.parquet.write_table": ("parquet", lambda p: pq.write_table(_table(), p)),
    "pyarrow.csv.write_csv": ("csv", lambda p: pa_csv.write_csv(_table(), str(p))),
    "duckdb.write_parquet": ("parquet", lambda p: _relation().write_parquet(str(p))),
    "duckdb.to_csv": ("csv", lambda p: _relation().to_csv(str(p))),
    "duckdb.copy": ("parquet", lambda p: duckdb.sql(
        f"COPY (SELECT * FROM read_csv('{p.parent.parent.parent / 'plain.csv'}')) "
        f"TO '{p}' (FORMAT parquet)")),
}


def _as_pandas(result: Any) -> pd.DataFrame:
    """A governed reader's result as pandas (through the hooked conversions: state kept)."""
    if isinstance(result, pl.LazyFrame):
        result = result.collect()
    if isinstance(result, duckdb.DuckDBPyRelation):
        return result.df()
    if isinstance(result, pa_ds.Dataset):
        result = result.to_table()
    if isinstance(result, (pl.DataFrame, pa.Table)):
        return result.to_pandas()
    assert isinstance(result, pd.DataFrame)
    return result


def _classification(result: Any) -> Any:
    if isinstance(result, (pl.DataFrame, pl.LazyFrame)):
        return lpolars.classification(result)
    if isinstance(result, duckdb.DuckDBPyRelation):
        return lduckdb.classification(result)
    if isinstance(result, pa.Table):
        return lpyarrow.classification(result)
    if isinstance(result, pa_ds.Dataset):
        return lpyarrow.classification(result.to_table())
    return result.lacuna_classification


READERS: dict[str, list[Callable[[Path], Any]]] = {
    "csv": [lambda p: pl.read_csv(p), lambda p: pl.scan_csv(p), lambda p: pa_csv.read_csv(p),
            lambda p: duckdb.read_csv(str(p)), lambda p: pd.read_csv(p)],
    "parquet": [lambda p: pl.read_parquet(p), lambda p: pl.scan_parquet(p),
                lambda p: pq.read_table(p), lambda p: pa_ds.dataset(str(p)),
                lambda p: duckdb.read_parquet(str(p)), lambda p: pd.read_parquet(p)],
    "arrow": [lambda p: pl.read_ipc(p), lambda p: pl.scan_ipc(p),
              lambda p: pd.read_feather(p)],
}


@pytest.fixture
def private(vault: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The scratch parent for plaintext copies, watched: every copy is 0700/0600 and gone."""
    where = tmp_path / "scratch"
    where.mkdir()
    monkeypatch.setattr(frames, "_SCRATCH_PARENT", str(where))
    with _bypass.bypass():  # COPY's source, outside governed storage
        customers().to_csv(tmp_path / "plain.csv", index=False)
    return where


@pytest.mark.parametrize("writer", sorted(WRITERS))
def test_a_write_is_sealed_and_every_reader_reads_it_back(
        vault: Path, private: Path, writer: str) -> None:
    fmt, write = WRITERS[writer]
    path = vault / f"customers.{fmt}"
    write(path)
    raw = path.read_bytes()
    assert raw.startswith(sealed.MAGIC)
    assert not any(s in raw for s in SECRETS)  # a plain open() sees ciphertext only
    assert os.listdir(private) == []  # the scratch folder of a path-based writer is gone
    plain_read = {"csv": pl.read_csv, "parquet": pl.read_parquet, "arrow": pl.read_ipc}[fmt]
    with _bypass.bypass():  # the library alone, without Lacuna: no values
        try:
            alone = str(plain_read(path).rows())
        except Exception:  # not parseable at all
            alone = ""
    assert "ann@example.com" not in alone
    expected = customers()
    for read in READERS[fmt]:
        result = read(path)
        back = _as_pandas(result)
        pd.testing.assert_frame_equal(back.reset_index(drop=True), expected,
                                      check_dtype=False)
        found = _classification(result)
        assert "PII" in found.tags, (writer, read, found)
        assert found.tier >= lacuna.classify(expected).tier
    assert os.listdir(private) == []  # every plaintext copy was removed


def test_plaintext_copies_are_private_while_they_exist(vault: Path, private: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    path = vault / "customers.parquet"
    _pl().write_parquet(path)
    seen: list[tuple[int, int]] = []
    original = frames._copy_out

    def spy(handle: Any, dest: str) -> None:
        original(handle, dest)
        seen.append((stat.S_IMODE(os.stat(os.path.dirname(dest)).st_mode),
                     stat.S_IMODE(os.stat(dest).st_mode)))

    monkeypatch.setattr(frames, "_copy_out", spy)
    lazy = pl.scan_parquet(path)
    assert seen == [(0o700, 0o600)]
    assert os.listdir(private) == []
    assert lazy.select(pl.col("email")).collect()["email"].to_list() == list(
        customers()["email"])  # read whole before the copy was removed


def test_cross_library_round_trips(vault: Path, private: Path) -> None:
    df = customers()
    df.to_parquet(vault / "from_pandas.parquet")  # pandas writes, polars and DuckDB read
    assert (vault / "from_pandas.parquet").read_bytes().startswith(sealed.MAGIC)
    assert pl.read_parquet(vault / "from_pandas.parquet")["email"].to_list() == list(df["email"])
    assert duckdb.read_parquet(str(vault / "from_pandas.parquet")).df()["spend"].sum() == (
        df["spend"].sum())
    _pl().write_csv(vault / "from_polars.csv")  # polars writes, pandas and pyarrow read
    back = pd.read_csv(vault / "from_polars.csv")
    pd.testing.assert_frame_equal(back, df)
    assert "PII" in back.lacuna_classification.tags
    assert pa_csv.read_csv(vault / "from_polars.csv").column("email").to_pylist() == list(
        df["email"])
    pa_ds.write_dataset(_table(), str(vault / "parts"), format="parquet",
                        max_rows_per_file=2, max_rows_per_group=2)  # a folder of sealed files
    files = sorted((vault / "parts").iterdir())
    assert len(files) >= 2
    assert all(f.read_bytes().startswith(sealed.MAGIC) for f in files)
    table = pa_ds.dataset(str(vault / "parts"), format="parquet").to_table()
    assert sorted(table.column("customer_id").to_pylist()) == list(df["customer_id"])
    assert "PII" in lpyarrow.classification(table).tags


def test_reads_are_on_the_audit_trail(vault: Path, private: Path, tmp_path: Path) -> None:
    path = vault / "customers.parquet"
    pq.write_table(_table(), path)
    pl.read_parquet(path)
    with lacuna.governed(user={"id": "bob", "role": "data_analyst"}):
        pl.scan_parquet(path)
        duckdb.read_parquet(str(path))
    pq.read_table(path)
    config = str(tmp_path / "lacuna.yaml")
    result = runner.invoke(app, ["audit", "list", "--dataset", str(path), "--since", "90d",
                                 "--action", "read", "--json", "--config", config])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.output.splitlines()]
    opened = [r for r in rows if r.get("kind") != "outcome"
              and r["what"]["sources"] == [str(path.resolve())]]
    who_how = {(r["who"]["user_id"], r["how"]["method"]) for r in opened}
    assert who_how == {("analyst_alice", "polars.read_parquet"),
                       ("bob", "polars.scan_parquet"), ("bob", "duckdb.read_parquet"),
                       ("analyst_alice", "pyarrow.parquet.read_table")}
    assert all(r["when"] for r in opened)
    outcomes = {r["outcome"]["of"]: r["outcome"]["status"] for r in rows
                if r.get("kind") == "outcome"}
    assert all(outcomes.get(r["id"]) == "succeeded" for r in opened)


@pytest.mark.parametrize("read", [
    lambda p: pl.read_parquet(p), lambda p: pl.scan_parquet(p), lambda p: pq.read_table(p),
    lambda p: pa_ds.dataset(str(p)), lambda p: duckdb.read_parquet(str(p)),
], ids=["pl.read_parquet", "pl.scan_parquet", "pq.read_table", "pa_ds.dataset",
        "duckdb.read_parquet"])
def test_a_denied_read_decrypts_nothing(tmp_path: Path, read: Callable[[Path], Any],
                                        monkeypatch: pytest.MonkeyPatch,
                                        decrypted: list[object]) -> None:
    bundle = contractor_denying_bundle(tmp_path)
    lacuna.enable(str(write_config(tmp_path, policy={"dir": str(bundle)})))
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(frames, "_SCRATCH_PARENT", str(scratch))
    path = tmp_path / "governed" / "workspace" / "customers.parquet"
    _pl().write_parquet(path)
    with lacuna.governed(user={"id": "carl", "role": "contractor"}), pytest.raises(
            GovernanceViolation, match="contractors may not read"):
        read(path)
    assert decrypted == []  # denied before anything was opened for decryption
    assert os.listdir(scratch) == []  # and no plaintext copy was made
    assert len(_as_pandas(read(path))) == 4  # the analyst may
    assert len(decrypted) == 1
    records = current().audit.list(limit=None, user="carl", action="read")
    assert [r.allowed for r in records] == [False]


def _head_end(raw: bytes) -> int:
    import struct

    (size,) = struct.unpack_from(">I", raw, len(sealed.MAGIC))
    return len(sealed.MAGIC) + 4 + size


@pytest.mark.parametrize("read", [
    lambda p: pl.read_parquet(p), lambda p: pl.scan_parquet(p),
    lambda p: duckdb.read_parquet(str(p)), lambda p: pa_ds.dataset(str(p)),
], ids=["pl.read_parquet", "pl.scan_parquet", "duckdb.read_parquet", "pa_ds.dataset"])
def test_an_attacker_editing_the_header_or_key_id_fails_closed(
        vault: Path, private: Path, read: Callable[[Path], Any]) -> None:
    path = vault / "customers.parquet"
    _pl().write_parquet(path)
    good = path.read_bytes()
    # the header names the writer: make it someone else
    path.write_bytes(good.replace(b"analyst_alice", b"analyst_alicf", 1))
    with pytest.raises(StorageError, match="altered after it was written"):
        read(path)
    # the key slot names the key store key: point it at another key id
    end = _head_end(good)
    slots = good[end:end + 2 * sealed.SLOT_BYTES].replace(b'"id":"storage"', b'"id":"storagf"')
    path.write_bytes(good[:end] + slots + good[end + 2 * sealed.SLOT_BYTES:])
    with pytest.raises(StorageError, match=r"storagf.*not in this key store"):
        read(path)
    # or at another version of the same key: the wrap is bound to the version
    slots = good[end:end + 2 * sealed.SLOT_BYTES].replace(b'"version":1', b'"version":2')
    from lacuna.keystore import keystore_for

    keystore_for(current().config).rotate("storage")  # v2 exists, but did not wrap this file
    path.write_bytes(good[:end] + slots + good[end + 2 * sealed.SLOT_BYTES:])
    with pytest.raises(StorageError, match="does not unwrap"):
        read(path)
    assert os.listdir(private) == []


def test_table_formats_that_manage_their_own_files_are_refused(vault: Path) -> None:
    pytest.importorskip("deltalake")
    with pytest.raises(StorageError, match="cannot be encrypted"):
        _pl().write_delta(str(vault / "delta"))
    assert not (vault / "delta").exists()


def test_duckdb_sql_naming_a_sealed_file_is_refused_with_what_to_do(
        vault: Path, private: Path) -> None:
    path = vault / "customers.parquet"
    _pl().write_parquet(path)
    with pytest.raises(StorageError, match=r"sealed governed file.*duckdb.read_parquet"):
        duckdb.sql(f"SELECT email FROM '{path}'")
    with pytest.raises(StorageError, match="sealed governed file"):
        duckdb.sql(f"SELECT count(*) FROM read_parquet('{path}')")
    rel = duckdb.read_parquet(str(path))  # noqa: F841 - DuckDB finds it by name
    assert duckdb.sql("SELECT count(*) FROM rel").fetchall() == [(4,)]


def test_partitioned_datasets_and_key_rotation(vault: Path, private: Path) -> None:
    from lacuna.keystore import keystore_for
    from lacuna.storage.rotation import rewrap_files

    table = _table()
    pa_ds.write_dataset(table, str(vault / "hive"), format="parquet", partitioning=["phone"],
                        partitioning_flavor="hive")
    files = [p for p in (vault / "hive").rglob("*") if p.is_file()]
    assert len(files) == 4
    assert all(p.read_bytes().startswith(sealed.MAGIC) for p in files)
    back = pa_ds.dataset(str(vault / "hive"), format="parquet", partitioning="hive").to_table()
    assert sorted(back.column("phone").to_pylist()) == sorted(customers()["phone"])
    lazy = pl.scan_parquet(vault / "hive", hive_partitioning=True).collect()
    assert sorted(lazy["email"].to_list()) == sorted(customers()["email"])
    # rotate the storage key and re-wrap: every library still reads, nothing was rewritten
    _pl().write_ipc(vault / "customers.arrow")
    payload = (vault / "customers.arrow").read_bytes()[-64:]
    keystore_for(current().config).rotate(current().config.storage.key_id)
    assert all(r.error is None for r in rewrap_files(current(), [vault]))
    assert sealed.read_header(vault / "customers.arrow").key.version == 2
    assert (vault / "customers.arrow").read_bytes()[-64:] == payload
    assert pl.read_ipc(vault / "customers.arrow")["email"].to_list() == list(customers()["email"])
    assert pa_ds.dataset(str(vault / "hive"), format="parquet").count_rows() == 4
    assert os.listdir(private) == []


def test_a_sealed_write_into_a_missing_folder_is_the_users_error(vault: Path) -> None:
    # polars' own error (FileNotFoundError), as it raises it for a plain folder
    with pytest.raises(FileNotFoundError, match="No such file or directory") as info:
        _pl().write_parquet(vault / "nope" / "customers.parquet")
    assert not isinstance(info.value, GovernanceViolation)
    with pytest.raises(FileNotFoundError, match="No such file or directory"):
        _pl().lazy().sink_parquet(vault / "nope" / "customers.parquet")
    assert not (vault / "nope").exists()
