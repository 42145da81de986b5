"""Column labels that hold values are named by position in every record, and reads see them.

A frame whose column labels are e-mail addresses (``pd.DataFrame(rows, columns=emails)``) is
classified by its header (``(column labels)``), but its classes were keyed by label: a denied
export put the addresses into the decision log, the audit trail, the lineage store, the
OpenLineage events and, once allowed, the sidecar. A label the header classification found to
be a value is now named by its position, ``(column N)`` (counted from 1 over the frame's
columns), in the classification every record is made from; ordinary labels keep their names.

And a file whose header row holds addresses (written without Lacuna) was read back as PUBLIC:
reads, ``lacuna.classify`` and ``lacuna.check`` now read the header, and an unnamed text
index's values, as writes do.

Each test reads the stores back: every file under the test's folder but the data files is
searched for the addresses.

Real pandas, real regorus, real files.
"""

from __future__ import annotations

import csv
import json
import logging
from pathlib import Path

import pandas as pd
import pytest

import lacuna
from lacuna.errors import GovernanceViolation
from lacuna.governor import current
from lacuna.lineage.sidecar import sidecar_path
from lacuna.model import Tier
from leaks import EMAILS, HEADERS, POSITIONS, by_position, decision_log, leaks, lines_with

STEWARD = "jane.smith@example.com"
PURPOSE = "Board of Directors Q4 customer metrics presentation"




def _leaks(root: Path, *data: Path) -> list[str]:
    return leaks(root, EMAILS, *data)






def _audit(root: Path) -> list[str]:
    from lacuna.audit import AuditStore

    store = AuditStore(f"sqlite:///{root / 'audit.db'}")
    try:
        return [json.dumps(r.data, default=str) for r in store.list(limit=None)]
    finally:
        store.close()


def _versions() -> list[tuple[tuple[str, ...], tuple[str, ...]]]:
    """(columns, column classes' names) of every output version in the lineage store."""
    runs = current().lineage_store.runs(limit=None)
    return [(v.columns, tuple(v.classification.columns)) for r in runs for v in r.outputs]


def _events(root: Path) -> list[dict]:
    path = root / ".lacuna-home" / "openlineage.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _schema_fields(events: list[dict]) -> list[str]:
    return [
        f["name"]
        for e in events
        for o in e.get("outputs", [])
        for f in o.get("facets", {}).get("schema", {}).get("fields", [])
    ]


def _wide() -> pd.DataFrame:
    return pd.DataFrame([[1, 2, 3, 4]], columns=EMAILS)


def test_a_denied_export_names_the_labels_by_position_in_every_record(
    tmp_path: Path, downloads: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with pytest.raises(GovernanceViolation) as denied:
        _wide().to_csv(downloads / "wide.csv", index=False)
    columns = denied.value.decision.operation.classification.columns
    assert by_position(columns) == POSITIONS
    assert not any(e in n for n in columns for e in EMAILS)
    message = str(denied.value)
    assert "(column labels)" in message
    assert "(column 1)" in message
    assert "e-mail" in message
    assert not any(e in message for e in EMAILS)
    rows, trail = decision_log(tmp_path), _audit(tmp_path)
    assert any("(column 1)" in r for r in rows)
    assert any("(column labels)" in r for r in trail)  # its non-public columns
    assert lines_with(caplog.records) == []
    assert _leaks(tmp_path) == []


def test_an_allowed_write_to_governed_storage_names_them_by_position(
    tmp_path: Path, sandbox: Path, downloads: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    target = sandbox / "governed" / "workspace" / "wide.csv"
    _wide().to_csv(target, index=False)
    sidecar = json.loads(sidecar_path(target).read_text())
    assert "(column 1)" in json.dumps(sidecar)
    versions = _versions()
    assert (tuple(POSITIONS),) == tuple(c for c, _ in versions if c)
    assert any("(column labels)" in names for _, names in versions)
    assert pd.read_csv(target).columns.tolist() == EMAILS  # the (sealed) file holds its header
    assert any("(column 1)" in r for r in decision_log(tmp_path))  # flushed: OpenLineage too
    assert POSITIONS[0] in _schema_fields(_events(tmp_path))
    assert lines_with(caplog.records) == []
    assert _leaks(tmp_path, target) == []


def test_reading_it_back_keeps_the_header_class_and_the_position_names(
    tmp_path: Path, sandbox: Path, downloads: Path
) -> None:
    target = sandbox / "governed" / "workspace" / "wide.csv"
    _wide().to_csv(target, index=False)
    back = pd.read_csv(target)
    assert list(back.columns) == EMAILS  # the frame keeps its labels: only records rename
    assert lacuna.classify(back).tier > Tier.PUBLIC
    with pytest.raises(GovernanceViolation) as denied:
        back.to_csv(downloads / "wide.csv", index=False)
    assert "(column labels)" in denied.value.decision.operation.classification.columns
    assert _leaks(tmp_path, target) == []


def test_an_export_under_an_exception_names_them_by_position(
    tmp_path: Path, sandbox: Path, sandbox_config, downloads: Path
) -> None:
    def as_user(user: str) -> None:
        lacuna.enable(
            sandbox_config(
                user={"id": user, "role": "data_analyst"}, stewards={"default": [STEWARD]}
            )
        )

    as_user("analyst_alice")
    target = downloads / "wide.csv"
    wide = _wide()
    exc = lacuna.request_exception(
        data=wide, destination=str(target), purpose=PURPOSE, approver=STEWARD, duration_hours=1
    )
    as_user(STEWARD)
    lacuna.approve_exception(exc.id)
    as_user("analyst_alice")
    wide.to_csv(target, index=False, exception_id=exc.id)
    assert pd.read_csv(target).columns.tolist() == EMAILS
    assert any("(column 1)" in r for r in decision_log(tmp_path))
    assert _leaks(tmp_path, target) == []


def test_ordinary_labels_keep_their_names_beside_a_value(tmp_path: Path, downloads: Path) -> None:
    frame = pd.DataFrame({"ward": ["east"], "email": ["x@example.com"], EMAILS[0]: [1]})
    with pytest.raises(GovernanceViolation) as denied:
        frame.to_csv(downloads / "mixed.csv", index=False)
    columns = denied.value.decision.operation.classification.columns
    assert {"ward", "email", "(column 3)", "(column labels)"} <= set(columns)
    assert columns["email"].pii_type == "email"
    assert _leaks(tmp_path) == []


def test_an_index_named_by_a_value_is_named_as_the_index(tmp_path: Path, downloads: Path) -> None:
    frame = pd.DataFrame({"beds": [4, 6]}, index=pd.Index(["east", "west"], name=EMAILS[0]))
    with pytest.raises(GovernanceViolation) as denied:
        frame.to_csv(downloads / "beds.csv")
    columns = denied.value.decision.operation.classification.columns
    assert "(index)" in columns
    assert "beds" in columns
    assert _leaks(tmp_path) == []


# -- reads, classify and check: the header and the index -----------------------------------------


def _plain_csv(path: Path, header: list[str], rows: list[list[object]]) -> Path:
    """A CSV file written without Lacuna (the csv module)."""
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def test_a_file_whose_header_holds_addresses_is_read_as_what_it_holds(
    tmp_path: Path, sandbox: Path, downloads: Path
) -> None:
    source = _plain_csv(sandbox / "wide.csv", EMAILS, [[1, 2, 3, 4]])
    back = pd.read_csv(source)
    read = [r for r in _audit(tmp_path) if "pandas.read_csv" in r]  # the read's record
    assert read
    assert "(column labels)" in read[-1]
    found = lacuna.classify(back)
    assert found.tier > Tier.PUBLIC
    assert found.columns["(column labels)"].pii_type == "email"
    with pytest.raises(GovernanceViolation) as denied:
        back.to_csv(downloads / "wide.csv", index=False)
    columns = denied.value.decision.operation.classification.columns
    assert columns["(column labels)"].pii_type == "email"
    assert by_position(columns) == POSITIONS
    assert _leaks(tmp_path, source) == []


def test_classify_and_check_read_the_header(tmp_path: Path, sandbox: Path, downloads: Path) -> None:
    wide = _wide()
    found = lacuna.classify(wide)
    assert found.tier > Tier.PUBLIC
    assert found.columns["(column labels)"].pii_type == "email"
    assert by_position(found.columns) == POSITIONS
    decision = lacuna.check(wide, downloads / "wide.csv")
    assert not decision.allowed
    assert "(column labels)" in decision.operation.classification.columns
    source = _plain_csv(sandbox / "wide.csv", EMAILS, [[1, 2, 3, 4]])
    assert lacuna.classify(str(source)).tier > Tier.PUBLIC
    assert not lacuna.check(str(source), downloads / "wide.csv").allowed
    assert _leaks(tmp_path, source) == []


def test_an_unnamed_index_of_addresses_is_read_classified_and_checked(
    tmp_path: Path, sandbox: Path, downloads: Path
) -> None:
    source = _plain_csv(sandbox / "beds.csv", ["", "beds"], [[e, i] for i, e in enumerate(EMAILS)])
    back = pd.read_csv(source, index_col=0)
    assert back.index.name is None
    read = [r for r in _audit(tmp_path) if "pandas.read_csv" in r]  # the read's record
    assert read
    assert "(index)" in read[-1]
    assert lacuna.classify(back).columns["(index)"].pii_type == "email"
    indexed = pd.DataFrame({"beds": [1, 2, 3, 4]}, index=EMAILS)
    assert lacuna.classify(indexed).columns["(index)"].pii_type == "email"
    assert not lacuna.check(indexed, downloads / "beds.csv").allowed
    assert _leaks(tmp_path, source) == []


@pytest.mark.parametrize("name", list(HEADERS))
def test_ordinary_headers_read_classify_and_export_as_before(
    sandbox: Path, downloads: Path, name: str
) -> None:
    header = HEADERS[name]
    rows = [[str(i) for i in range(len(header))]]
    source = _plain_csv(sandbox / f"{name}.csv", header, rows)
    back = pd.read_csv(source)
    assert "(column labels)" not in back.lacuna.classification.columns
    assert "(column labels)" not in lacuna.classify(back).columns
    assert not by_position(lacuna.classify(back).columns)
    if "email" not in header:
        assert back.lacuna.classification.tier is Tier.PUBLIC
        back.to_csv(downloads / f"{name}.csv", index=False)
        pd.testing.assert_frame_equal(pd.read_csv(downloads / f"{name}.csv"), back)


def test_aliases_and_a_series_name_are_named_by_position(tmp_path: Path, downloads: Path) -> None:
    public = pd.DataFrame([[1, 2, 3, 4]], columns=["a", "b", "c", "d"])
    with pytest.raises(GovernanceViolation) as aliased:
        public.to_csv(downloads / "aliased.csv", index=False, header=EMAILS)
    assert by_position(aliased.value.decision.operation.classification.columns) == POSITIONS
    beds = pd.Series([4, 6], name=EMAILS[0])
    with pytest.raises(GovernanceViolation) as named:
        beds.to_csv(downloads / "beds.csv", index=False)
    assert by_position(named.value.decision.operation.classification.columns) == ["(column 1)"]
    assert _leaks(tmp_path) == []


def test_a_chunked_read_of_such_a_header_names_it_by_position(
    tmp_path: Path, sandbox: Path, downloads: Path
) -> None:
    source = _plain_csv(sandbox / "wide.csv", EMAILS, [[1, 2, 3, 4], [5, 6, 7, 8]])
    with pd.read_csv(source, chunksize=1) as reader:
        chunks = list(reader)
    assert [list(c.columns) for c in chunks] == [EMAILS, EMAILS]
    with pytest.raises(GovernanceViolation) as denied:
        chunks[-1].to_csv(downloads / "wide.csv", index=False)
    assert by_position(denied.value.decision.operation.classification.columns) == POSITIONS
    assert sum("(column labels)" in r for r in _audit(tmp_path)) >= 2  # the reads, the export
    assert _leaks(tmp_path, source) == []


def test_the_frame_read_keeps_its_header_class_until_its_labels_change(
    sandbox: Path, downloads: Path
) -> None:
    back = pd.read_csv(_plain_csv(sandbox / "wide.csv", EMAILS, [[1, 2, 3, 4]]))
    found = back.lacuna.classification
    assert found.tier > Tier.PUBLIC
    assert found.columns["(column labels)"].pii_type == "email"
    assert set(found.columns) == {*EMAILS, "(column labels)"}  # the frame's own labels
    renamed = back.set_axis(["a", "b", "c", "d"], axis=1)
    assert "(column labels)" not in renamed.lacuna.classification.columns
    renamed.to_csv(downloads / "renamed.csv", index=False)  # no address left in the file
    pd.testing.assert_frame_equal(pd.read_csv(downloads / "renamed.csv"), renamed)


def test_labels_renamed_away_leave_no_trace_in_the_records(
    tmp_path: Path, sandbox: Path, downloads: Path
) -> None:
    """A frame read with addresses for labels, then relabelled: its reasoning said which label
    moved where; no record may carry the label it had."""
    source = _plain_csv(sandbox / "wide.csv", EMAILS, [["x@example.com"] * 4])
    back = pd.read_csv(source)
    renamed = back.set_axis(["a", "b", "c", "d"], axis=1)
    found = renamed.lacuna.classification
    assert "(column labels)" not in found.columns  # the header it would write holds no value
    assert found.columns["a"].pii_type == "email"  # its values still do
    with pytest.raises(GovernanceViolation):
        renamed.to_csv(downloads / "renamed.csv", index=False)
    kept = sandbox / "governed" / "workspace" / "renamed.csv"
    renamed.to_csv(kept, index=False)
    assert _leaks(tmp_path, source, kept) == []
