"""A file Lacuna wrote, read without its declaration: the lineage store restores it by content.

The sidecar is deleted (or the file copied without it); a fresh process reading the file finds
the version the store recorded for exactly this content and restores tier, tags, column classes
and upstream lineage. Different content never gets a stored classification.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import lacuna
from lacuna.lineage import DatasetRef, current_store
from lacuna.lineage.recording import file_fingerprint
from lacuna.lineage.sidecar import sidecar_path

YAML = """\
user: {{id: analyst_alice, role: data_analyst}}
audit: {{url: "sqlite:///{db}"}}
destinations:
  governed: ["{governed}/"]
storage: {{encrypt: false}}  # these tests edit and inspect the files' own bytes (tests/storage)
"""

READ_BACK = """
import json, sys
import pandas as pd
import lacuna
lacuna.enable()
df = pd.read_csv(sys.argv[1])
c = df.lacuna.classification
print(json.dumps({
    "tier": c.tier.value,
    "tags": sorted(c.tags),
    "columns": {k: [v.classification.value, v.pii_type] for k, v in c.columns.items()},
    "sources": sorted(df.lacuna.lineage.sources),
    "reasoning": list(c.reasoning),
}))
"""


@pytest.fixture
def notebook(sandbox: Path):
    (sandbox / "lacuna.yaml").write_text(YAML.format(
        db=sandbox / "state.db", governed=sandbox / "governed" / "workspace"))
    lacuna.enable(str(sandbox / "lacuna.yaml"))
    yield sandbox
    lacuna.disable()


def _read_back(notebook: Path, path: Path) -> dict:
    out = subprocess.run([sys.executable, "-c", READ_BACK, str(path)], cwd=notebook,
                         capture_output=True, text=True, timeout=120, env={**os.environ},
                         check=False)
    assert out.returncode == 0, out.stderr
    result: dict = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def _summary(c: lacuna.Classification) -> dict:
    return {"tier": c.tier.value, "tags": sorted(c.tags),
            "columns": {k: [v.classification.value, v.pii_type] for k, v in c.columns.items()}}


@pytest.fixture
def written(notebook: Path) -> tuple[Path, dict]:
    """A per-region summary of a join (tags a fresh classification would not give it),
    written as CSV, its sidecar deleted."""
    customers = pd.read_csv("customers.csv")
    sales = pd.read_csv("sales.csv")
    joined = customers.merge(sales, on="customer_id")
    summary = joined.groupby("region", as_index=False).agg(total=("revenue", "sum"))
    target = notebook / "governed" / "workspace" / "per_region.csv"
    summary.to_csv(target, index=False)
    expected = _summary(summary.lacuna.classification)
    sidecar_path(target).unlink()
    return target, expected


def test_without_its_sidecar_the_store_restores_by_path_and_content(written, notebook) -> None:
    target, expected = written
    assert "DERIVED_FROM_PII" in expected["tags"], "a tag only the written state carries"
    back = _read_back(notebook, target)
    assert {k: back[k] for k in expected} == expected
    assert back["sources"] == ["customers.csv", "sales.csv"]
    assert any("lineage store" in line for line in back["reasoning"])


def test_a_copy_with_the_same_content_is_restored_too(written, notebook) -> None:
    target, expected = written
    copy = notebook / "copy_of_summary.csv"
    shutil.copy(target, copy)
    back = _read_back(notebook, copy)
    assert {k: back[k] for k in expected} == expected
    assert back["sources"] == ["customers.csv", "sales.csv"]


def test_changed_content_is_classified_afresh_never_restored(written, notebook) -> None:
    target, _ = written
    with target.open("a") as fh:
        fh.write("MARS,1.0\n")
    back = _read_back(notebook, target)
    assert back["sources"] == [str(target)]  # a source of its own: no upstream
    assert not any("lineage store" in line for line in back["reasoning"])
    assert "DERIVED_FROM_PII" not in back["tags"]


def test_a_rewrite_that_puts_size_and_mtime_back_is_classified_afresh(notebook) -> None:
    """In one process: a file Lacuna wrote as PUBLIC, read once without its sidecar (restored
    from the store, the answer remembered), then rewritten by plain Python with e-mail
    addresses of the same size and its mtime put back (``os.utime``). The next read must see
    the e-mails: the remembered answer is keyed by the ctime and inode too, which the owner
    cannot put back. (Before, it restored PUBLIC and the export of the e-mails was allowed.)
    The file cache of inferred classifications is keyed the same way."""
    emails = pd.read_csv("customers.csv")["email"].tolist()
    target = notebook / "governed" / "workspace" / "notes.csv"
    pd.DataFrame({"note": ["x" * len(e) for e in emails]}).to_csv(target, index=False)
    sidecar_path(target).unlink()
    assert pd.read_csv(target).lacuna.classification.tier.value == "PUBLIC"
    before = os.stat(target)
    target.write_text("note\n" + "\n".join(emails) + "\n")
    os.utime(target, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert os.stat(target).st_size == before.st_size
    again = pd.read_csv(target)
    assert again.lacuna.classification.tier.value == "PROPRIETARY"
    assert "PII" in again.lacuna.classification.tags


def test_excel_and_hdf_store_outputs_get_their_fingerprint_once_closed(notebook) -> None:
    customers = pd.read_csv("customers.csv")
    book = notebook / "governed" / "workspace" / "book.xlsx"
    with pd.ExcelWriter(book) as writer:
        customers.to_excel(writer, sheet_name="a")
        customers[["region"]].to_excel(writer, sheet_name="b")
    versions = [v for r in current_store().runs(DatasetRef.of(book)) for v in r.outputs]
    assert len(versions) == 2
    assert {v.fingerprint for v in versions} == {file_fingerprint(DatasetRef.of(book))}

    pytest.importorskip("tables", reason="HDFStore needs PyTables")
    h5 = notebook / "governed" / "workspace" / "store.h5"
    with pd.HDFStore(h5) as store:
        store.put("customers", customers, track_times=False)
    versions = [v for r in current_store().runs(DatasetRef.of(h5)) for v in r.outputs]
    assert versions
    assert {v.fingerprint for v in versions} == {file_fingerprint(DatasetRef.of(h5))}
