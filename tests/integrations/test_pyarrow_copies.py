"""Values Arrow copies into new buffers keep the class of the columns they hold
(``lacuna.integrations.pyarrow._arrays``): ``ChunkedArray.combine_chunks()``,
``pa.concat_arrays``, ``Table.combine_chunks()`` (a compiled method: matched by what the column
holds), ``pa.concat_tables`` with promotion, ``pa.concat_batches``, ``pa.array(chunked)``, an IPC
stream, Parquet or CSV bytes in memory read back, a column's values through Python and back.
Each took a salary or an SSN out of a governed table under a neutral name and wrote it to
~/Downloads as PUBLIC. Public data through the same functions is written and
read back. Real pyarrow, real files."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
import pytest

from lacuna.errors import GovernanceViolation
from lacuna.integrations import pyarrow as governed_arrow

ROWS = 300
SMALL_BLOCKS = pa_csv.ReadOptions(block_size=2_000)  # several chunks per column


def _salary(i: int) -> int:
    return 40_000 + i * 1_337


@pytest.fixture
def people(sandbox: Path) -> Path:
    path = sandbox / "people.csv"
    lines = ["id,email,ssn,salary"] + [
        f"{i},ann.lee{i}@example.com,{100 + i % 800}-{10 + i % 80}-{1000 + i * 7},{_salary(i)}"
        for i in range(ROWS)]
    path.write_text("\n".join(lines) + "\n")
    return path


def _read(path: Path) -> pa.Table:
    table = pa_csv.read_csv(path, read_options=SMALL_BLOCKS)
    assert table["salary"].num_chunks > 1  # the copies below are real copies
    return table


def _ipc(table: pa.Table) -> pa.Table:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return pa.ipc.open_stream(sink.getvalue()).read_all()


def _in_memory(table: pa.Table, fmt: str) -> pa.Table:
    """Written to bytes in memory (no export) and read back through the governed reader."""
    sink = pa.BufferOutputStream()
    write, read = {"parquet": (pq.write_table, pq.read_table),
                   "csv": (pa_csv.write_csv, pa_csv.read_csv)}[fmt]
    write(table, sink)
    return read(pa.BufferReader(sink.getvalue()))


def _no_dashes(t: pa.Table) -> pa.ChunkedArray:
    return pc.replace_substring(t["ssn"], "-", "")


# each a salary (financial) or an SSN without its dashes (pii) under the name "x", in new
# buffers; each was classified PUBLIC and written to ~/Downloads
COPIES: dict[str, tuple[Callable[[pa.Table], pa.Table], str]] = {
    "ChunkedArray.combine_chunks": (
        lambda t: pa.table({"x": t["salary"].combine_chunks()}), "financial"),
    "pa.concat_arrays": (lambda t: pa.table({"x": pa.concat_arrays(t["salary"].chunks)}),
                         "financial"),
    "ssn combine_chunks": (lambda t: pa.table({"x": _no_dashes(t).combine_chunks()}), "pii"),
    "Table.combine_chunks column": (
        lambda t: pa.table({"x": t.combine_chunks()["salary"]}), "financial"),
    "Table.combine_chunks renamed": (
        lambda t: t.combine_chunks().select(["salary"]).rename_columns(["x"]), "financial"),
    "Table.combine_chunks of a new table": (
        lambda t: pa.table({"k": _no_dashes(t)}).combine_chunks().rename_columns(["x"]), "pii"),
    "concat_tables then combine_chunks": (
        lambda t: pa.table({"x": pa.concat_tables([t, t]).combine_chunks()["salary"]}),
        "financial"),
    "chunked_array reordered then combine_chunks": (
        lambda t: pa.table({"y": pa.chunked_array(t["salary"].chunks[::-1])})
        .combine_chunks().rename_columns(["x"]), "financial"),
    "concat_tables promoted": (
        lambda t: pa.concat_tables([t.select(["salary"]), pa.table({"salary": [1.5]})],
                                   promote_options="permissive").rename_columns(["x"]),
        "financial"),
    "concat_batches": (
        lambda t: pa.table({"x": pa.concat_batches(t.to_batches()).column("salary")}),
        "financial"),
    "pa.array(chunked)": (lambda t: pa.table({"x": pa.array(t["salary"])}), "financial"),
    "pc on a combined column": (
        lambda t: pa.table({"x": pc.multiply(t.combine_chunks()["salary"], 1)}), "financial"),
    "take of a combined column": (
        lambda t: pa.table({"x": t.combine_chunks()["salary"].take([3, 1, 2])}), "financial"),
    "IPC stream in memory": (lambda t: _ipc(t).select(["salary"]).rename_columns(["x"]),
                             "financial"),
    "Parquet in memory, renamed first": (
        lambda t: _in_memory(pa.table({"x": t["salary"]}), "parquet"), "financial"),
    "CSV in memory, renamed first": (
        lambda t: _in_memory(pa.table({"x": t["salary"]}), "csv"), "financial"),
    "to_pylist and back": (lambda t: pa.table({"x": t["salary"].to_pylist()}), "financial"),
}


@pytest.mark.parametrize("case", COPIES)
def test_copied_values_keep_their_class_and_are_denied(downloads: Path, people: Path,
                                                       case: str) -> None:
    build, kind = COPIES[case]
    copied = build(_read(people))
    found = governed_arrow.classification(copied).columns
    assert found["x"].classification.value == kind, found["x"]
    state = governed_arrow.table_state(copied)
    assert "people.csv" in {Path(r).name for r in state.lineage.roots()}
    with pytest.raises(GovernanceViolation, match="Cannot export"):
        pq.write_table(copied, downloads / "x.parquet")
    with pytest.raises(GovernanceViolation, match="Cannot export"):
        pa_csv.write_csv(copied, downloads / "x.csv")
    assert list(downloads.iterdir()) == []


@pytest.mark.parametrize("case", ["ChunkedArray.combine_chunks", "Table.combine_chunks renamed",
                                  "ssn combine_chunks", "concat_batches"])
def test_copied_values_round_trip_through_governed_storage(downloads: Path, people: Path,
                                                           sandbox: Path, case: str) -> None:
    """Allowed where the source is: written into governed storage, read back as the values and
    the class they were written with (Parquet and CSV)."""
    build, kind = COPIES[case]
    table = _read(people)
    copied = build(table)
    where = sandbox / "governed" / "workspace"
    pq.write_table(copied, where / "x.parquet")
    pa_csv.write_csv(copied, where / "x.csv")
    for back in (pq.read_table(where / "x.parquet"), pa_csv.read_csv(
            where / "x.csv", convert_options=pa_csv.ConvertOptions(
                column_types={"x": copied.schema.field("x").type}))):
        assert back["x"].to_pylist() == copied["x"].to_pylist()
        assert governed_arrow.classification(back).columns["x"].classification.value == kind


def test_a_struct_of_a_table_copied_holds_every_column(downloads: Path, people: Path) -> None:
    """``to_struct_array().combine_chunks()``: the copy cannot tell which field holds which
    column, so each field holds them all (the strictest wins)."""
    table = _read(people)
    field = table.to_struct_array().combine_chunks().field("salary")
    state = governed_arrow.table_state(pa.table({"x": field}))
    assert {o.column for o in state.origins["x"]} == {"id", "email", "ssn", "salary"}
    with pytest.raises(GovernanceViolation, match="Cannot export"):
        pq.write_table(pa.table({"x": field}), downloads / "x.parquet")
    assert list(downloads.iterdir()) == []


def test_combined_arrow_values_into_polars_keep_their_class(downloads: Path,
                                                            people: Path) -> None:
    polars = pytest.importorskip("polars")
    from lacuna.integrations import polars as governed_polars

    frame = polars.DataFrame({"x": _read(people).combine_chunks()["salary"]})
    assert governed_polars.classification(frame).columns["x"].classification.value == \
        "financial"
    with pytest.raises(GovernanceViolation, match="Cannot export"):
        frame.write_parquet(downloads / "x.parquet")
    assert list(downloads.iterdir()) == []


def test_public_values_copied_the_same_ways_are_written_and_read_back(downloads: Path,
                                                                      sandbox: Path) -> None:
    """The allowed path: a public file read through Lacuna in several chunks, copied by each
    function above, written to ~/Downloads and read back; a public table concatenated with a
    governed one keeps its own class."""
    path = sandbox / "regions.csv"
    path.write_text("region,units\n" + "".join(
        f"{r},{i * 3}\n" for i, r in enumerate(["north", "south", "east", "west"] * 60)))
    read = _read_public(path)
    units = [i * 3 for i in range(240)]
    copies = {
        "combine_chunks": pa.table({"u": read["units"].combine_chunks()}),
        "concat_arrays": pa.table({"u": pa.concat_arrays(read["units"].chunks)}),
        "table combine": read.combine_chunks().select(["units"]).rename_columns(["u"]),
        "concat_batches": pa.table({"u": pa.concat_batches(read.to_batches()).column("units")}),
        "array": pa.table({"u": pa.array(read["units"])}),
        "chunked_array": pa.table({"u": pa.chunked_array(read["units"].chunks)})
        .combine_chunks(),
        "ipc": _ipc(read).select(["units"]).rename_columns(["u"]),
        "parquet in memory": _in_memory(read.select(["units"]).rename_columns(["u"]), "parquet"),
        "to_pylist": pa.table({"u": read["units"].to_pylist()}),
    }
    for name, copied in copies.items():
        assert governed_arrow.classification(copied).tier.value == "PUBLIC", name
        pq.write_table(copied, downloads / f"{name}.parquet")
        pa_csv.write_csv(copied, downloads / f"{name}.csv")
        assert pq.read_table(downloads / f"{name}.parquet")["u"].to_pylist() == units, name
        assert pa_csv.read_csv(downloads / f"{name}.csv")["u"].to_pylist() == units, name


def test_concat_tables_leaves_a_public_inputs_chunks_public(downloads: Path, people: Path,
                                                            sandbox: Path) -> None:
    """``pa.concat_tables([public, governed])`` shares both inputs' chunks: the result holds
    the salary, the public table's own chunks stay public (written, read back)."""
    path = sandbox / "units.csv"
    path.write_text("units\n" + "".join(f"{i}\n" for i in range(500)))
    public = _read_public(path)
    governed = _read(people).select(["salary"]).rename_columns(["units"])
    both = pa.concat_tables([public, governed], promote_options="permissive")
    with pytest.raises(GovernanceViolation, match="Cannot export"):
        pq.write_table(both.rename_columns(["x"]), downloads / "both.parquet")
    again = pa.table({"x": public["units"]})
    pq.write_table(again, downloads / "public.parquet")
    assert pq.read_table(downloads / "public.parquet")["x"].to_pylist() == list(range(500))


def _read_public(path: Path) -> pa.Table:
    table = pa_csv.read_csv(path, read_options=pa_csv.ReadOptions(block_size=200))
    assert table.column(table.num_columns - 1).num_chunks > 1
    assert governed_arrow.classification(table).tier.value == "PUBLIC"
    return table


def test_a_match_by_content_never_lowers_a_class(downloads: Path, sandbox: Path) -> None:
    """(A guard, not a fix.) Public values read through Lacuna, put through Python under the
    name ``salary``: the match with the public column adds nothing, and the name still classes
    the column as financial."""
    path = sandbox / "units.csv"
    path.write_text("units\n" + "".join(f"{_salary(i)}\n" for i in range(40)))
    units = pa_csv.read_csv(path)["units"]
    named = pa.table({"salary": units.to_pylist()})
    assert governed_arrow.classification(named).columns["salary"].classification.value == \
        "financial"
    with pytest.raises(GovernanceViolation, match="Cannot export"):
        pq.write_table(named, downloads / "x.parquet")
