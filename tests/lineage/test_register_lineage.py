"""lacuna.register_lineage, exactly as the seed spells it, and the lineage functions."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

import lacuna
from lacuna import lineage
from lacuna.errors import LineageError
from lacuna.lineage.records import DatasetRef, EdgeKind, RunStatus
from lacuna.model import Tier


@pytest.fixture
def files(tmp_path: Path) -> Path:
    (tmp_path / "raw_data.csv").write_text(
        "customer_id,email,region\n1,ann@example.com,north\n2,bob@example.org,south\n")
    (tmp_path / "regions.csv").write_text("region,manager_count\nnorth,3\nsouth,4\n")
    (tmp_path / "transform.py").write_text("df = df.drop_duplicates()\n")
    return tmp_path


def test_the_seed_call_records_a_run_and_the_destination_inherits(files: Path) -> None:
    code = Path("transform.py").read_text()
    run = lacuna.register_lineage(source=["raw_data.csv"], destination="processed_data.csv",
                                  operation="custom_transformation", code=code)
    raw = lacuna.classify(str(files / "raw_data.csv"))
    out = run.outputs[0]
    assert out.dataset == DatasetRef("file", str(files / "processed_data.csv"))
    assert out.classification.tier == raw.tier == Tier.PROPRIETARY
    assert set(raw.tags) <= set(out.classification.tags)
    assert run.code_text == code
    assert run.code_hash == hashlib.sha256(code.encode()).hexdigest()
    assert run.status is RunStatus.SUCCEEDED
    store = lineage.current_store()
    assert store.latest(out.dataset) == out
    assert store.get_run(run.id) == run
    graph = lineage.upstream("processed_data.csv")
    assert set(graph.nodes) == {out.dataset, DatasetRef.of("raw_data.csv")}


def test_a_claimed_public_source_never_declassifies_the_destination(files: Path) -> None:
    """register_lineage is the caller's word: naming a public file as the source of a copy of
    personal data once stored a trusted PUBLIC version, which a read of the copy restored
    (declared beats inferred) and an export then let out. The run is stored untrusted: the
    copy reads as its content shows, and the inherited class can still only raise it."""
    import shutil

    import pandas as pd

    shutil.copy(files / "raw_data.csv", files / "copy.csv")
    lacuna.register_lineage(source="regions.csv", destination="copy.csv",
                            operation="cleanup", columns={"customer_id": "region",
                                                          "email": "region",
                                                          "region": "region"})
    store = lineage.current_store()
    ref = DatasetRef.of("copy.csv")
    assert store.latest(ref, trusted=True) is None
    lacuna.enable(lacuna.governor.current().config)
    try:
        copy = pd.read_csv("copy.csv")
        assert copy.lacuna.classification.tier is Tier.PROPRIETARY
        assert copy.lacuna.columns["email"].classification.value == "pii"
    # the allowed direction still holds: a PII source raises a public-looking destination
        (files / "ids.csv").write_text("code\nA\nB\n")
        lacuna.register_lineage(source="raw_data.csv", destination="ids.csv",
                                operation="extract")
        ids = pd.read_csv("ids.csv")
        assert ids.lacuna.classification.tier is Tier.PROPRIETARY
    finally:
        lacuna.disable()


def test_several_sources_give_the_most_restrictive_and_all_tags(files: Path) -> None:
    run = lacuna.register_lineage(source=["raw_data.csv", "regions.csv"],
                                  destination="joined.csv", operation="join",
                                  columns={"email": ("raw_data.csv", "email"),
                                           "region": [("raw_data.csv", "region"),
                                                      ("regions.csv", "region")]})
    regions = lacuna.classify(str(files / "regions.csv"))
    assert regions.tier < Tier.PROPRIETARY
    out = run.outputs[0].classification
    assert out.tier == Tier.PROPRIETARY
    assert "email" in out.personal_columns
    assert set(out.columns) == {"email", "region"}
    assert {(e.source.name.rsplit("/", 1)[-1], e.source_column, e.kind) for e in
            run.column_edges} == {("raw_data.csv", "email", EdgeKind.IDENTITY),
                                  ("raw_data.csv", "region", EdgeKind.IDENTITY),
                                  ("regions.csv", "region", EdgeKind.IDENTITY)}
    assert [v.dataset.name.rsplit("/", 1)[-1] for v in lineage.impact("raw_data.csv")] == [
        "joined.csv"]
    assert lineage.impact("regions.csv") == [run.outputs[0]]  # it now holds PII from raw_data
    assert lineage.path("joined.csv", "PII") == [
        lineage.LineageEdge(DatasetRef.of("raw_data.csv"), DatasetRef.of("joined.csv"), run.id)]


def test_a_chain_of_registrations_uses_the_stored_classification(files: Path) -> None:
    lacuna.register_lineage(source="raw_data.csv", destination="s3://lake/stage/a.parquet",
                            operation="stage")
    run = lacuna.register_lineage(source="s3://lake/stage/a.parquet",
                                  destination="s3://lake/mart/b.parquet", operation="publish")
    assert run.outputs[0].classification.tier == Tier.PROPRIETARY
    assert len(lineage.upstream("s3://lake/mart/b.parquet").nodes) == 3
    assert lineage.upstream("s3://lake/mart/b.parquet", depth=1).depths == {
        DatasetRef.of("s3://lake/mart/b.parquet"): 0, DatasetRef.of("s3://lake/stage/a.parquet"): 1}
    c = lineage.completeness()
    assert (c.derived, c.complete) == (2, 2)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"source": [], "destination": "o.csv", "operation": "x"}, "at least one dataset"),
    ({"source": ["raw_data.csv"], "destination": "o.csv", "operation": " "}, "operation"),
    ({"source": ["raw_data.csv"], "destination": "", "operation": "x"}, "path, URI"),
    ({"source": ["raw_data.csv"], "destination": "raw_data.csv", "operation": "x"}, "loop"),
    ({"source": [42], "destination": "o.csv", "operation": "x"}, "not 42"),
    ({"source": ["raw_data.csv"], "destination": "o.csv", "operation": "x", "code": b"x"},
     "str"),
    ({"source": ["raw_data.csv", "regions.csv"], "destination": "o.csv", "operation": "x",
      "columns": {"email": "email"}}, "ambiguous"),
    ({"source": ["raw_data.csv"], "destination": "o.csv", "operation": "x",
      "columns": {"e": ("other.csv", "email")}}, "not one of the sources"),
    ({"source": ["raw_data.csv"], "destination": "o.csv", "operation": "x",
      "columns": {"e": "no_such_column"}}, "has no column"),
    ({"source": ["missing.csv"], "destination": "o.csv", "operation": "x"},
     "no classification Lacuna knows"),
    ({"source": ["s3://bucket/unknown.csv"], "destination": "o.csv", "operation": "x"},
     "no classification Lacuna knows"),
])
def test_bad_calls_fail_clearly_and_record_nothing(files: Path, kwargs: dict[str, object],
                                                  message: str) -> None:
    with pytest.raises(LineageError, match=message):
        lacuna.register_lineage(**kwargs)  # type: ignore[arg-type]
    assert lineage.current_store().runs() == []


def _parquet_declaring(path: Path, column: str, kind: str) -> None:
    """A Parquet file carrying a signed declaration of ``column`` as ``kind`` in its
    metadata, and no sidecar (copied here from a project whose store never saw it)."""
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    from lacuna.lineage import sidecar as sc
    from lacuna.lineage.content import digests
    from lacuna.model import Classification, ColumnClass, ColumnKind, Sensitivity

    frame = pd.DataFrame({"region": ["north", "south", "east"], column: ["A", "B", "A"]})
    declared = Classification(
        tier=Tier.INTERNAL if kind == "financial" else Tier.PUBLIC,
        tags=("FINANCIAL",) if kind == "financial" else (),
        columns={column: ColumnClass(classification=ColumnKind(kind),
                                     sensitivity=Sensitivity.MEDIUM)})
    body = sc.embedded_declaration(declared, columns=list(frame.columns), rows=len(frame),
                                   values=digests(frame))
    table = pa.Table.from_pandas(frame, preserve_index=False)
    meta = {b"PANDAS_ATTRS": json.dumps({"lacuna": body}).encode()}
    pq.write_table(table.replace_schema_metadata(meta), path)


@pytest.mark.parametrize("kind", ["financial", "public"])
def test_a_parquet_sources_embedded_declaration_is_read_not_only_its_values(
        files: Path, kind: str) -> None:
    """register_lineage, lacuna.check and `lacuna classify` classified a Parquet file from a
    sample of its values alone: its embedded declaration (a column declared financial whose
    values are codes) was never read, so a copy without its sidecar inherited and was checked
    as PUBLIC. The declaration is read; with a sample it only restricts, so a public one
    changes nothing."""
    _parquet_declaring(files / "codes.parquet", "bucket", kind)
    run = lacuna.register_lineage(source="codes.parquet", destination="s3://lake/codes.csv",
                                  operation="copy")
    source, out = run.inputs[0].classification, run.outputs[0].classification
    stored = lineage.current_store().latest(DatasetRef.of("s3://lake/codes.csv"))
    assert stored is not None
    decision = lacuna.check(str(files / "codes.parquet"), "s3://public-bucket/codes.csv")
    if kind == "financial":
        assert source.columns["bucket"].classification.value == "financial"
        assert out.tier is stored.classification.tier is Tier.INTERNAL
        assert "FINANCIAL" in stored.classification.tags
        assert not decision.allowed
    else:  # the allowed path: a public declaration over public values stays public
        assert source.columns["bucket"].classification.value == "public"
        assert out.tier is stored.classification.tier is Tier.PUBLIC
        assert decision.allowed


def test_a_read_of_some_columns_is_not_taken_as_the_sources_class(governed: Path) -> None:
    """A run's input version is what it read: ``usecols=["region"]`` of customers.csv recorded
    a PUBLIC version of it (no fingerprint), which register_lineage then took as the file's
    class: the source and its copy were registered PUBLIC (and sent on to OpenLineage so)."""
    import pandas as pd

    src = governed / "customers.csv"
    pd.read_csv(src, usecols=["region"]).to_csv(governed / "governed" / "workspace" / "r.csv",
                                                index=False)
    read = lineage.current_store().latest(DatasetRef.of(src))
    assert read is not None
    assert (read.classification.tier, read.fingerprint) == (Tier.PUBLIC, None)
    run = lacuna.register_lineage(source=str(src), destination=str(governed / "copy.csv"),
                                  operation="copy")
    assert run.inputs[0].classification.tier == Tier.PROPRIETARY
    assert run.inputs[0].classification.columns["email"].pii_type == "email"
    assert "PII" in run.outputs[0].classification.tags
    # allowed: the version Lacuna wrote of this very content is still the file's own class
    full = governed / "governed" / "workspace" / "full.csv"
    pd.read_csv(src).to_csv(full, index=False)
    written = lineage.current_store().latest(DatasetRef.of(full))
    assert written is not None
    assert written.fingerprint is not None
    again = lacuna.register_lineage(source=str(full), destination=str(governed / "copy2.csv"),
                                    operation="copy")
    assert again.inputs[0].classification == written.classification
    assert again.inputs[0].fingerprint == written.fingerprint
