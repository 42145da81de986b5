import importlib.util

import pandas as pd
import pytest

from lacuna import _bypass
from lacuna.classify import classify, read_sample
from lacuna.classify.readers import file_format
from lacuna.errors import ClassificationError
from lacuna.model import Tier

FRAME = pd.DataFrame({"customer_id": [1, 2, 3],
                      "contact": ["ada@example.org", "alan@example.org", "grace@example.org"]})


def write(tmp_path, name):
    path = tmp_path / name
    fmt = file_format(path)
    if fmt == "csv":
        FRAME.to_csv(path, index=False)
    elif fmt == "tsv":
        FRAME.to_csv(path, sep="\t", index=False)
    elif fmt == "parquet":
        FRAME.to_parquet(path)
    elif fmt == "json":
        FRAME.to_json(path, orient="records")
    elif fmt == "jsonl":
        FRAME.to_json(path, orient="records", lines=True)
    elif fmt == "excel":
        FRAME.to_excel(path, index=False)
    return path


@pytest.mark.parametrize(
    "name", ["a.csv", "a.tsv", "a.parquet", "a.json", "a.jsonl", "a.ndjson", "a.csv.gz",
             pytest.param("a.xlsx", marks=pytest.mark.skipif(
                 importlib.util.find_spec("openpyxl") is None, reason="needs openpyxl"))],
)
def test_classify_reads_each_format(tmp_path, name):
    c = classify(write(tmp_path, name))
    assert list(c.columns) == ["customer_id", "contact"]
    assert c.columns["contact"].pii_type == "email"
    assert c.tier is Tier.PROPRIETARY


def test_read_sample_reads_only_the_first_rows(tmp_path):
    path = tmp_path / "big.csv"
    pd.DataFrame({"n": range(5000)}).to_csv(path, index=False)
    assert len(read_sample(path, 10)) == 10
    path = tmp_path / "big.parquet"
    pd.DataFrame({"n": range(5000)}).to_parquet(path)
    assert len(read_sample(path, 10)) == 10


def test_json_lines_in_a_json_file(tmp_path):
    path = tmp_path / "a.json"
    FRAME.to_json(path, orient="records", lines=True)
    assert len(read_sample(path, 2)) == 2


def test_latin1_csv_is_read(tmp_path):
    path = tmp_path / "legacy.csv"
    path.write_bytes("name,city\nJos\xe9,M\xfcnchen\n".encode("latin-1"))
    assert list(read_sample(path)["city"]) == ["München"]


def test_path_rules_apply_to_files(tmp_path):
    (tmp_path / "pii").mkdir()
    path = tmp_path / "pii" / "x.csv"
    pd.DataFrame({"n": [1]}).to_csv(path, index=False)
    c = classify(path)
    assert (c.tier, c.floor, c.tags) == (Tier.PROPRIETARY, Tier.PROPRIETARY, ("PII",))


def test_empty_files_classify_as_no_columns(tmp_path):
    path = tmp_path / "empty.csv"
    path.write_text("")
    c = classify(path)
    assert (c.tier, dict(c.columns)) == (Tier.PUBLIC, {})
    path = tmp_path / "header.csv"
    path.write_text("email,phone\n")
    assert classify(path).tier is Tier.PROPRIETARY  # the names still count


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("missing.csv", None, "does not exist"),
        ("binary.csv", b"\x00\x01\x02\xff garbage", "not a readable csv file"),
        ("broken.parquet", b"PAR1 not really", "not a readable parquet file"),
        ("broken.json", b"[{\"a\": 1,", "not a readable json file"),
        ("broken.xlsx", b"not a zip", "not a readable excel file"),
        ("data.bin", b"\x00", "unsupported file type '.bin'"),
    ],
)
def test_unreadable_files_raise_classification_error_naming_the_file(
        tmp_path, name, content, message):
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(ClassificationError, match=message) as info:
        classify(path)
    assert str(path) in str(info.value)


def test_a_folder_is_not_a_file(tmp_path):
    with pytest.raises(ClassificationError, match="it is a folder"):
        classify(tmp_path)


def test_reads_run_inside_the_bypass(tmp_path, monkeypatch):
    seen = []
    real = pd.read_csv

    def spy(*args, **kwargs):
        seen.append(_bypass.active())
        return real(*args, **kwargs)

    monkeypatch.setattr(pd, "read_csv", spy)
    read_sample(write(tmp_path, "a.csv"))
    assert seen == [True]
    assert not _bypass.active()


def test_excel_without_openpyxl_says_what_to_install(tmp_path, monkeypatch):
    path = tmp_path / "a.xlsx"
    path.write_bytes(b"PK")
    monkeypatch.setitem(__import__("sys").modules, "openpyxl", None)
    with pytest.raises(ClassificationError, match=r"pip install 'lacuna\[excel\]'"):
        read_sample(path)


def test_permission_denied_is_a_classification_error(tmp_path, monkeypatch):
    from lacuna.classify import readers

    def denied(p, rows):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setitem(readers._READERS, "csv", denied)
    path = write(tmp_path, "a.csv")
    with pytest.raises(ClassificationError, match=r"permission denied\. Ask for read access"):
        read_sample(path)


@pytest.mark.parametrize("name", ["bomb.csv.gz", "bomb.jsonl.bz2", "bomb.json.xz", "bomb.csv"])
def test_a_first_row_past_the_byte_ceiling_is_refused_not_parsed(tmp_path, monkeypatch, name):
    """A few KB of compressed zeros (or a text without line breaks) would be one huge first
    row: refused once the sample passes the ceiling, with a message that says so."""
    import bz2
    import gzip
    import lzma

    from lacuna.classify import bounded

    monkeypatch.setattr(bounded, "SAMPLE_BYTES", 1 << 20)
    body = b"a" * (8 << 20)  # 8 MiB, no line break
    opener = {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open}.get(
        name[name.rfind("."):], open)
    with opener(tmp_path / name, "wb") as fh:
        fh.write(body)
    assert (tmp_path / name).stat().st_size < (1 << 20) or name == "bomb.csv"
    with pytest.raises(ClassificationError, match=r"more than 1 MiB of data \(decompressed\)"):
        read_sample(tmp_path / name, rows=10)


@pytest.mark.parametrize("name", ["big.csv.gz", "big.csv.zip", "big.jsonl.gz", "big.csv"])
def test_a_large_file_whose_first_rows_fit_is_still_sampled(tmp_path, monkeypatch, name):
    """The ceiling is on what the sample reads, not on the file: a compressed file far larger
    than it is read lazily, its first rows classified, as before."""
    from lacuna.classify import bounded

    monkeypatch.setattr(bounded, "SAMPLE_BYTES", 1 << 20)
    rows = 200_000  # about 6 MiB of text, past the ceiling
    frame = pd.DataFrame({"customer_id": range(rows),
                          "contact": [f"user{i}@example.org" for i in range(rows)]})
    if ".jsonl" in name:
        frame.to_json(tmp_path / name, orient="records", lines=True)
    else:
        frame.to_csv(tmp_path / name, index=False)
    sample = read_sample(tmp_path / name, rows=1000)
    assert len(sample) == 1000
    assert list(sample.columns) == ["customer_id", "contact"]
    assert sample["contact"].iloc[999] == "user999@example.org"
    assert Tier(classify(tmp_path / name).tier) is Tier.PROPRIETARY


@pytest.mark.skipif(importlib.util.find_spec("openpyxl") is None, reason="needs openpyxl")
def test_a_workbook_whose_shared_strings_are_a_bomb_is_refused(tmp_path, monkeypatch):
    """openpyxl loads an .xlsx's shared-strings table whole, even for the first rows: a small
    workbook whose table decompresses past the ceiling is refused before pandas opens it; a
    real workbook of the same rows under the ceiling is still sampled."""
    import zipfile

    from lacuna.classify import bounded

    monkeypatch.setattr(bounded, "SAMPLE_BYTES", 1 << 20)
    good = write(tmp_path, "a.xlsx")
    assert read_sample(good)["contact"].tolist() == FRAME["contact"].tolist()
    bomb = tmp_path / "bomb.xlsx"
    strings = (b'<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
               b"<si><t>" + b"a" * (4 << 20) + b"</t></si></sst>")
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as dst:
        for item in src.infolist():
            if item.filename != "xl/sharedStrings.xml":
                dst.writestr(item, src.read(item.filename), compress_type=zipfile.ZIP_DEFLATED)
        dst.writestr("xl/sharedStrings.xml", strings, compress_type=zipfile.ZIP_DEFLATED)
    assert bomb.stat().st_size < (1 << 20)
    with pytest.raises(ClassificationError, match=r"sharedStrings\.xml decompresses to"):
        read_sample(bomb)


def test_a_parquet_file_whose_sample_decompresses_past_the_ceiling_is_refused(
        tmp_path, monkeypatch):
    """A small zstd Parquet file holding one huge value is refused from its metadata, before a
    page is decompressed; a large file whose first rows are small is still sampled."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from lacuna.classify import bounded

    monkeypatch.setattr(bounded, "SAMPLE_BYTES", 1 << 20)
    bomb = tmp_path / "bomb.parquet"
    pq.write_table(pa.table({"email": ["a" * (8 << 20), "b@example.org"]}), bomb,
                   compression="zstd")
    assert bomb.stat().st_size < (64 << 10)
    with pytest.raises(ClassificationError, match=r"first 2 rows decompress to about"):
        read_sample(bomb)
    rows = 200_000  # ~5 MiB uncompressed in one row group: 1,000 rows of it are ~25 kB
    big = tmp_path / "big.parquet"
    pq.write_table(pa.table({"customer_id": list(range(rows)),
                             "contact": [f"user{i}@example.org" for i in range(rows)]}), big)
    sample = read_sample(big, rows=1000)
    assert len(sample) == 1000
    assert Tier(classify(big).tier) is Tier.PROPRIETARY
