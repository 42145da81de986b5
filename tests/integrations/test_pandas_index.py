"""What the index holds is written with the data, so it is classified like a column.

A writer writes the index by default (``to_csv``, ``to_excel``, ``to_sql``; ``to_parquet`` a
non-default one). A named index level is a label like a column; an unnamed one had no name
to classify it by, and the content it was set from was not followed into it:

- a frame indexed by e-mail addresses under no name (``pd.DataFrame(rows, index=emails)``,
  ``set_index("email").rename_axis(None)``) left for ``~/Downloads`` as PUBLIC;
- ``df.index = visits["diagnosis"].rename("code")`` and ``df.set_index(that Series)`` gave the
  index level the public name ``code`` and none of the diagnoses' class;
- ``pd.DataFrame.from_records([visits["diagnosis"]])`` (one row per Series) came out PUBLIC.

Each route is run with the sensitive content (denied, nothing written) and with public content
(allowed, the file read back equal). Real pandas, real regorus.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

import lacuna
from lacuna._bypass import bypass as lacuna_bypass
from lacuna.errors import GovernanceViolation
from lacuna.model import Tier

EMAILS = ["ana@example.org", "bo@example.com", "cy@example.net", "di@example.io"]
WARDS = ["east", "west", "north", "south"]


@pytest.fixture
def visits(sandbox: Path, sandbox_config, downloads: Path) -> dict[str, pd.DataFrame]:
    """``visits`` (``diagnosis``: PHI by its name only) and ``wards`` (public), read through
    Lacuna, which is enabled; ``~/Downloads`` is unmanaged."""
    lacuna.disable()
    pd.DataFrame({"patient": ["p1", "p2", "p3", "p4"],
                  "diagnosis": ["flu", "asthma", "diabetes", "gout"]}).to_csv(
        sandbox / "visits.csv", index=False)
    pd.DataFrame({"ward": WARDS, "beds": [4, 6, 2, 8]}).to_csv(sandbox / "wards.csv",
                                                               index=False)
    lacuna.enable(sandbox_config())
    out = {n: pd.read_csv(sandbox / f"{n}.csv") for n in ("visits", "wards")}
    assert out["visits"].lacuna.classification.tier > Tier.PUBLIC
    assert out["wards"].lacuna.classification.tier is Tier.PUBLIC
    return out


def _denied(frame: pd.DataFrame, target: Path, **kwargs: object) -> None:
    with pytest.raises(GovernanceViolation):
        frame.to_csv(target, **kwargs)
    assert not target.exists()


def _allowed(frame: pd.DataFrame, target: Path) -> None:
    frame.to_csv(target)
    back = pd.read_csv(target, index_col=0)
    expected = frame.copy()
    expected.index = expected.index.astype(back.index.dtype)
    pd.testing.assert_frame_equal(back, expected, check_names=False)


@pytest.mark.parametrize("writer", ["to_csv", "to_parquet", "to_excel"])
def test_an_unnamed_index_of_email_addresses_is_classified_by_its_values(
    visits: dict[str, pd.DataFrame], downloads: Path, writer: str
) -> None:
    pytest.importorskip("openpyxl") if writer == "to_excel" else None
    frame = pd.DataFrame({"beds": [4, 6, 2, 8]}, index=EMAILS)
    suffix = {"to_csv": "csv", "to_parquet": "parquet", "to_excel": "xlsx"}[writer]
    target = downloads / f"contacts.{suffix}"
    with pytest.raises(GovernanceViolation) as denied:
        getattr(frame, writer)(target)
    assert not target.exists()
    assert "(index)" in denied.value.decision.operation.classification.columns


def test_the_index_left_out_of_the_file_is_not_held_against_it(
    visits: dict[str, pd.DataFrame], downloads: Path
) -> None:
    frame = pd.DataFrame({"beds": [4, 6, 2, 8]}, index=EMAILS)
    frame.to_csv(downloads / "beds.csv", index=False)
    pd.testing.assert_frame_equal(pd.read_csv(downloads / "beds.csv"),
                                  frame.reset_index(drop=True))


def test_an_unnamed_index_read_is_reported_after_the_read_and_its_next_use(
    visits: dict[str, pd.DataFrame], sandbox: Path, downloads: Path
) -> None:
    """A read found ``(index)``; the frame's state drops it at its next use (the index's
    values are not fingerprinted, so a class kept for it could not be verified), and
    ``df.lacuna.classification`` said PUBLIC while the write was denied for it. The accessor
    reads the index again as ``lacuna.check`` and a writer do (docs/pandas.md)."""
    with lacuna_bypass():
        pd.DataFrame({"ward": WARDS, "beds": [4, 6, 2, 8]}, index=EMAILS).to_csv(
            sandbox / "contacts.csv")
    read = pd.read_csv(sandbox / "contacts.csv", index_col=0)
    assert read.index.name is None
    for frame in (read, read.head(3), read[["beds"]], read.sort_values("beds")):
        reported = frame.lacuna.classification
        assert reported.columns["(index)"].pii_type == "email"
        checked = lacuna.check(frame, downloads / "contacts.csv")
        assert not checked.allowed
        assert (reported.tier, reported.tags) == (checked.operation.classification.tier,
                                                  checked.operation.classification.tags)
    _denied(read.head(3), downloads / "contacts.csv")
    # the allowed path: the index left out of the file, read back
    read.head(3).to_csv(downloads / "contacts.csv", index=False)
    pd.testing.assert_frame_equal(pd.read_csv(downloads / "contacts.csv"),
                                  read.head(3).reset_index(drop=True))


@pytest.mark.parametrize(("writer", "kwargs"), [
    ("to_json", {"orient": "records"}), ("to_json", {"orient": "values"}),
    ("to_stata", {"write_index": False}), ("to_csv", {"index": False}),
])
def test_a_writer_that_leaves_the_index_out_is_decided_without_it(
    visits: dict[str, pd.DataFrame], downloads: Path, writer: str, kwargs: dict[str, object]
) -> None:
    frame = pd.DataFrame({"beds": [4, 6, 2, 8]}, index=EMAILS)
    target = downloads / f"beds.{writer}"
    getattr(frame, writer)(target, **kwargs)
    with lacuna_bypass():
        plain = downloads / f"plain.{writer}"
        getattr(frame, writer)(plain, **kwargs)
    assert target.read_bytes() == plain.read_bytes() or writer == "to_stata"
    assert not any(e.encode() in target.read_bytes() for e in EMAILS)
    with pytest.raises(GovernanceViolation):  # the same writer, keeping the index
        getattr(frame, writer)(downloads / "kept", **({"orient": "index"}
                                                      if writer == "to_json" else {}))


def test_a_named_index_moved_out_of_its_name_is_still_classified(
    visits: dict[str, pd.DataFrame], downloads: Path
) -> None:
    people = pd.DataFrame({"email": EMAILS, "beds": [4, 6, 2, 8]})
    _denied(people.set_index("email").rename_axis(None), downloads / "x.csv")


def test_an_unnamed_multiindex_level_of_email_addresses_is_classified(
    visits: dict[str, pd.DataFrame], downloads: Path
) -> None:
    index = pd.MultiIndex.from_arrays([WARDS, EMAILS])
    _denied(pd.DataFrame({"beds": [4, 6, 2, 8]}, index=index), downloads / "x.csv")


def test_public_and_numeric_indexes_are_allowed_and_read_back(
    visits: dict[str, pd.DataFrame], downloads: Path
) -> None:
    wards = visits["wards"]
    _allowed(wards[wards["beds"] > 3], downloads / "filtered.csv")  # an Index of row numbers
    _allowed(pd.DataFrame({"beds": [4, 6, 2, 8]}, index=WARDS), downloads / "by-ward.csv")
    _allowed(pd.DataFrame({"beds": [4, 6, 2, 8]},
                          index=pd.date_range("2026-01-01", periods=4)), downloads / "by-day.csv")


def test_an_index_set_from_a_renamed_column_keeps_its_class(
    visits: dict[str, pd.DataFrame], downloads: Path
) -> None:
    frame = visits["wards"].copy()
    frame.index = visits["visits"]["diagnosis"].rename("code")
    assert frame.lacuna.columns["code"].classification.value == "phi"
    _denied(frame, downloads / "x.csv")
    public = visits["wards"].copy()
    public.index = visits["wards"]["ward"].rename("code")
    _allowed(public, downloads / "wards.csv")


def test_a_series_index_set_on_a_series_keeps_its_class(
    visits: dict[str, pd.DataFrame], downloads: Path
) -> None:
    beds = visits["wards"]["beds"].copy()
    beds.index = visits["visits"]["diagnosis"].rename("code")
    with pytest.raises(GovernanceViolation):
        beds.to_csv(downloads / "x.csv")
    assert not (downloads / "x.csv").exists()


@pytest.mark.parametrize("append", [False, True])
def test_set_index_from_a_renamed_series_keeps_its_class(
    visits: dict[str, pd.DataFrame], downloads: Path, append: bool
) -> None:
    wards = visits["wards"]
    codes = visits["visits"]["diagnosis"].rename("code")
    frame = wards.set_index(codes, append=append)
    _denied(frame, downloads / "x.csv")
    _denied(wards.set_index([codes, "beds"], append=append), downloads / "y.csv")
    public = wards.set_index(wards["ward"].rename("code"), append=append)
    public.to_csv(downloads / "wards.csv")
    back = pd.read_csv(downloads / "wards.csv", index_col=list(range(public.index.nlevels)))
    pd.testing.assert_frame_equal(back, public, check_index_type=False)


def test_from_records_of_a_tracked_series_takes_its_class(
    visits: dict[str, pd.DataFrame], downloads: Path
) -> None:
    rows = pd.DataFrame.from_records([visits["visits"]["diagnosis"]])
    _denied(rows, downloads / "x.csv", index=False)
    public = pd.DataFrame.from_records([visits["wards"]["ward"]])
    public.to_csv(downloads / "wards.csv", index=False)
    back = pd.read_csv(downloads / "wards.csv")
    pd.testing.assert_frame_equal(back, public.set_axis(back.columns, axis=1))


def test_disable_restores_the_index_hooks(restored_by_disable) -> None:
    def current() -> list[object]:
        return [vars(pd.DataFrame)["from_records"], vars(pd.DataFrame)["index"],
                vars(pd.Series)["index"], pd.DataFrame.set_index]

    restored_by_disable(current)


def test_an_index_level_unstacked_into_column_labels_keeps_its_class(
        visits: dict[str, pd.DataFrame], downloads: Path) -> None:
    """``Series.unstack`` makes a new frame (pandas drops the Series' attrs) whose column
    labels are an index level's values: e-mail addresses as the header of a file written
    without its index. The result keeps the Series' class; public codes stay allowed."""
    visits = visits["visits"].assign(email=EMAILS, ward=WARDS, n=1)
    series = visits.set_index(["email", "ward"])["n"]
    assert series.lacuna.classification.tier > Tier.PUBLIC
    wide = series.unstack("email")
    assert wide.lacuna.classification.tier >= series.lacuna.classification.tier
    with pytest.raises(GovernanceViolation):
        wide.to_csv(downloads / "wide.csv", index=False)
    assert not (downloads / "wide.csv").exists()
    counts = pd.read_csv(downloads.parent / "wards.csv").assign(code=["A1", "B2", "C3", "D4"])
    public = counts.set_index(["code", "ward"])["beds"].unstack("code")
    assert public.lacuna.classification.tier is Tier.PUBLIC
    public.to_csv(downloads / "public.csv")
    back = pd.read_csv(downloads / "public.csv", index_col=0)
    pd.testing.assert_frame_equal(back, public, check_names=False, check_dtype=False)


def test_the_refusal_offers_no_anonymize_code_for_the_index(
    visits: dict[str, pd.DataFrame], downloads: Path
) -> None:
    """``anonymize(frame, columns=["(index)"])`` fails: ``(index)`` is no column, and
    anonymize rewrites values, not labels. The alternative is left out."""
    frame = pd.DataFrame({"beds": [4, 6, 2, 8]}, index=EMAILS)
    with pytest.raises(GovernanceViolation) as denied:
        frame.to_csv(downloads / "x.csv")
    kinds = [a.kind for a in denied.value.decision.alternatives]
    assert "anonymize" not in kinds
    assert "governed_location" in kinds
