"""Values that become column labels are written in the header, so the header is classified.

A list of e-mail addresses handed to ``columns=``, ``set_axis``, ``df.columns =`` or a rename,
a dict keyed by them (``pd.DataFrame({email: [n]})``, ``from_dict``), MultiIndex columns
built from them, or ``to_csv(header=emails)``: every column's class said PUBLIC, and the
addresses left for ``~/Downloads`` in the file's header. A writer that writes the header now
reads each header row as values (``(column labels)``, ``(column labels level N)``). Routes that
pandas runs itself (pivot, ``get_dummies``, ``crosstab``, ``unstack``, ``T``) kept the input's
class before and are checked here too. Ordinary headers, public pivots and wide frames whose
labels are countries, months or states stay allowed and read back equal.

Real pandas, real regorus, real files.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

import lacuna
from lacuna.errors import GovernanceViolation
from lacuna.model import Tier
from leaks import leaks

EMAILS = ["ana@example.org", "bo@example.com", "cy@example.net", "di@example.io"]
WARDS = ["east", "west", "north", "south"]
COUNTRIES = ["France", "Jordan", "Chad", "Georgia", "Italy", "Peru", "Kenya", "Japan"]
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August"]


@pytest.fixture
def people(sandbox: Path, sandbox_config, downloads: Path) -> pd.DataFrame:
    """``people`` (``email``: PII; ``ward``, ``city``, ``beds``: public), read through Lacuna,
    which is enabled; ``~/Downloads`` is unmanaged."""
    lacuna.disable()
    pd.DataFrame({"ward": WARDS, "email": EMAILS, "beds": [4, 6, 2, 8],
                  "city": ["Oslo", "Rome", "Lima", "Kyiv"]}).to_csv(
        sandbox / "people.csv", index=False)
    lacuna.enable(sandbox_config())
    out = pd.read_csv(sandbox / "people.csv")
    assert out.lacuna.classification.tier > Tier.PUBLIC
    assert out[["ward", "beds", "city"]].lacuna.classification.tier is Tier.PUBLIC
    return out


def _wards(people: pd.DataFrame, downloads: Path) -> pd.DataFrame:
    """The public columns of ``people``, written and read back: a table of their own (a
    projection keeps its parent's tier as the floor of labels it gains)."""
    people[["ward", "beds", "city"]].to_csv(downloads / "wards.csv", index=False)
    return pd.read_csv(downloads / "wards.csv")


def _emails(df: pd.DataFrame) -> list[str]:
    return df["email"].tolist()


# Routes whose labels come from Python values: nothing carried a class into the header.
UNTRACKED: dict[str, Callable[[pd.DataFrame], pd.DataFrame]] = {
    "DataFrame(columns=list)": lambda df: pd.DataFrame([[1, 2, 3, 4]], columns=_emails(df)),
    "DataFrame(columns=array)": lambda df: pd.DataFrame([[1, 2, 3, 4]],
                                                        columns=df["email"].to_numpy()),
    "set_axis": lambda df: df[["ward", "beds", "city", "beds"]].set_axis(_emails(df), axis=1),
    "rename(columns=)": lambda df: df[["ward", "beds", "city"]].rename(
        columns=dict(zip(["ward", "beds", "city"], _emails(df), strict=False))),
    "dict keyed by values": lambda df: pd.DataFrame(
        {e: [n] for e, n in zip(_emails(df), df["beds"], strict=True)}),
    "records of dicts": lambda df: pd.DataFrame([dict(zip(_emails(df), df["beds"],
                                                          strict=True))]),
    "to_dict, from_dict, T": lambda df: pd.DataFrame.from_dict(
        df.set_index("email")["beds"].to_dict(), orient="index").T,
    "Series(dict).to_frame().T": lambda df: pd.Series(
        dict(zip(_emails(df), df["beds"], strict=True))).to_frame().T,
    "MultiIndex.from_arrays": lambda df: pd.DataFrame(
        [[1, 2, 3, 4]], columns=pd.MultiIndex.from_arrays([["beds"] * 4, _emails(df)])),
}
# Routes pandas runs itself: the result carried the input's class before this change.
TRACKED: dict[str, Callable[[pd.DataFrame], pd.DataFrame]] = {
    "get_dummies(series)": lambda df: pd.get_dummies(df["email"]),
    "get_dummies(columns=)": lambda df: pd.get_dummies(df[["email"]], columns=["email"]),
    "pivot": lambda df: df.pivot(index="ward", columns="email", values="beds"),
    "pivot_table": lambda df: df.pivot_table(index="ward", columns="email", values="beds"),
    "crosstab": lambda df: pd.crosstab(df["ward"], df["email"]),
    "unstack": lambda df: df.set_index(["ward", "email"])[["beds"]].unstack("email"),
    "Series.unstack": lambda df: df.set_index(["ward", "email"])["beds"].unstack(),
    "T": lambda df: df.set_index("email")[["beds"]].T,
    "transpose()": lambda df: df.set_index("email")[["beds"]].transpose(),
    "groupby().size().to_frame().T": lambda df: df.groupby("email").size().to_frame().T,
    "value_counts().to_frame().T": lambda df: df["email"].value_counts().to_frame().T,
}


def _header_labels(denied: pytest.ExceptionInfo[GovernanceViolation]) -> list[str]:
    columns = denied.value.decision.operation.classification.columns
    return [n for n in columns if n.startswith("(column labels")]


@pytest.mark.parametrize("writer", ["to_csv", "to_parquet"])
@pytest.mark.parametrize("route", list(UNTRACKED))
def test_values_made_labels_are_classified_in_the_header(
    people: pd.DataFrame, downloads: Path, route: str, writer: str
) -> None:
    frame = UNTRACKED[route](people)
    # no column holds the addresses: the header does, and the accessor says so as the write
    # decides it (it said PUBLIC while the write was denied)
    reported = frame.lacuna.classification
    assert [n for n in reported.columns if n.startswith("(column labels")]
    target = downloads / f"wide.{writer}"
    with pytest.raises(GovernanceViolation) as denied:
        getattr(frame, writer)(target, index=False)
    assert not target.exists()
    assert _header_labels(denied)
    decided = denied.value.decision.operation.classification
    assert (reported.tier, reported.tags) == (decided.tier, decided.tags)
    assert frame.lacuna_tags == list(decided.tags)


@pytest.mark.parametrize("route", list(TRACKED))
def test_values_pandas_makes_labels_are_classified_in_the_header(
    people: pd.DataFrame, downloads: Path, route: str
) -> None:
    frame = TRACKED[route](people)
    with pytest.raises(GovernanceViolation) as denied:
        frame.to_csv(downloads / "wide.csv", index=False)
    assert not (downloads / "wide.csv").exists()
    assert _header_labels(denied)


def test_the_refusal_names_the_header_and_why_without_its_values(
    people: pd.DataFrame, downloads: Path
) -> None:
    frame = pd.DataFrame([[1, 2, 3, 4]], columns=_emails(people))
    with pytest.raises(GovernanceViolation) as denied:
        frame.to_csv(downloads / "wide.csv", index=False)
    col = denied.value.decision.operation.classification.columns["(column labels)"]
    assert col.pii_type == "email"
    assert col.reasoning.startswith("the column labels hold values of this kind, written as "
                                    "the file's header: 4 label(s) read: 100% of 4 sampled")
    message = str(denied.value)
    assert "(column labels): the column labels hold values of this kind" in message
    assert "anonymize" not in message  # anonymize does not rewrite labels: no code that fails
    assert not any(e in message for e in EMAILS)
    with pytest.raises(GovernanceViolation) as named:  # denied for its column "email" alone
        people.to_csv(downloads / "people.csv", index=False)
    assert not _header_labels(named)


def test_multiindex_columns_name_the_level_that_holds_the_values(
    people: pd.DataFrame, downloads: Path
) -> None:
    frame = UNTRACKED["MultiIndex.from_arrays"](people)
    with pytest.raises(GovernanceViolation) as denied:
        frame.to_csv(downloads / "wide.csv", index=False)
    assert _header_labels(denied) == ["(column labels level 1)"]


def test_multiindex_columns_are_keyed_alike_by_classify_tracking_and_records(
    people: pd.DataFrame, sandbox: Path, downloads: Path
) -> None:
    """``classify_frame`` keyed MultiIndex columns joined (``contact_email``), lineage tracking
    and the write records by their tuple (``('contact', 'email')``): a class found on one path
    was not found on the other. Every path keys them by the tuple now."""
    frame = pd.DataFrame({("contact", "email"): _emails(people), ("contact", "ward"): WARDS,
                          ("stay", "beds"): [4, 6, 2, 8]})
    key = str(("contact", "email"))
    classified = lacuna.classify(frame)
    reported = frame.lacuna.classification
    assert list(classified.columns) == list(reported.columns) == [str(c) for c in frame.columns]
    assert classified.columns[key].pii_type == reported.columns[key].pii_type == "email"
    assert (classified.tier, classified.tags) == (reported.tier, reported.tags)
    with pytest.raises(GovernanceViolation) as denied:
        frame.to_csv(downloads / "multi.csv")
    assert not (downloads / "multi.csv").exists()
    decided = denied.value.decision.operation.classification
    assert decided.columns[key].pii_type == "email"
    assert list(decided.columns) == list(reported.columns)
    # allowed into governed storage, read back: the read keys them as the write did
    kept = sandbox / "governed" / "workspace" / "multi.parquet"
    frame.to_parquet(kept)
    back = pd.read_parquet(kept)
    pd.testing.assert_frame_equal(back, frame)
    assert back.lacuna.classification.columns[key].pii_type == "email"
    with pytest.raises(GovernanceViolation) as again:
        back.to_csv(downloads / "multi.csv")
    assert list(again.value.decision.operation.classification.columns) == list(decided.columns)
    # no record keys a column joined
    assert leaks(sandbox, ["contact_email", "stay_beds"], sandbox / "people.csv", kept) == []


def test_one_address_among_ordinary_labels_is_found(
    people: pd.DataFrame, downloads: Path
) -> None:
    frame = people[["ward", "beds", "city"]].assign(**{f"n{i}": i for i in range(20)})
    frame[people["email"].iloc[0]] = 1
    with pytest.raises(GovernanceViolation) as denied:
        frame.to_csv(downloads / "wide.csv", index=False)
    col = denied.value.decision.operation.classification.columns["(column labels)"]
    # one person's address decides among the labels read (tests/classify/test_lone_values)
    assert col.pii_type == "email"
    assert "valid e-mail addresses" in col.reasoning


def test_header_aliases_are_what_is_classified(people: pd.DataFrame, downloads: Path) -> None:
    public = people[["ward", "beds", "city", "beds"]].set_axis(["a", "b", "c", "d"], axis=1)
    with pytest.raises(GovernanceViolation):
        public.to_csv(downloads / "aliased.csv", index=False, header=_emails(people))
    assert not (downloads / "aliased.csv").exists()
    wide = UNTRACKED["DataFrame(columns=list)"](people)
    wide.to_csv(downloads / "renamed.csv", index=False, header=["a", "b", "c", "d"])
    back = pd.read_csv(downloads / "renamed.csv")
    pd.testing.assert_frame_equal(back, wide.set_axis(["a", "b", "c", "d"], axis=1))


def test_a_series_named_by_a_value_is_classified(people: pd.DataFrame, downloads: Path) -> None:
    beds = people["beds"].rename(people["email"].iloc[0])
    with pytest.raises(GovernanceViolation):
        beds.to_csv(downloads / "beds.csv", index=False)
    beds.to_csv(downloads / "beds.csv", index=False, header=False)
    back = pd.read_csv(downloads / "beds.csv", header=None).iloc[:, 0]
    pd.testing.assert_series_equal(back, people["beds"], check_names=False)


def test_an_index_named_by_a_value_is_classified_when_written(
    people: pd.DataFrame, downloads: Path
) -> None:
    wards = _wards(people, downloads)
    beds = wards[["ward", "beds"]].set_index("ward").rename_axis(people["email"].iloc[0])
    with pytest.raises(GovernanceViolation) as denied:
        beds.to_csv(downloads / "beds.csv")
    assert _header_labels(denied) == ["(column labels)"]
    beds.to_csv(downloads / "beds.csv", index=False)
    pd.testing.assert_frame_equal(pd.read_csv(downloads / "beds.csv"),
                                  beds.reset_index(drop=True))


@pytest.mark.parametrize(("writer", "kwargs"), [
    ("to_csv", {"header": False}), ("to_json", {"orient": "values"}),
])
def test_a_writer_that_leaves_the_header_out_is_decided_without_it(
    people: pd.DataFrame, downloads: Path, writer: str, kwargs: dict[str, object]
) -> None:
    frame = UNTRACKED["DataFrame(columns=list)"](people)
    target = downloads / f"wide.{writer}"
    getattr(frame, writer)(target, index=False, **kwargs)
    assert not any(e.encode() in target.read_bytes() for e in EMAILS)
    assert target.read_text().replace(" ", "").strip() in ("1,2,3,4", "[[1,2,3,4]]")


@pytest.mark.parametrize("writer", ["to_csv", "to_parquet"])
def test_ordinary_headers_are_allowed_and_read_back(
    people: pd.DataFrame, downloads: Path, writer: str
) -> None:
    frames = {
        "public": people[["ward", "beds", "city"]],
        "pivot": people[["ward", "city", "beds"]].pivot(index="ward", columns="city",
                                                        values="beds").reset_index(),
        "countries": pd.DataFrame([range(len(COUNTRIES))], columns=COUNTRIES),
        "months": pd.DataFrame([range(len(MONTHS))], columns=MONTHS),
        "sexes": pd.DataFrame({"ward": WARDS, "F": [1, 2, 3, 4], "M": [4, 3, 2, 1]}),
    }
    for name, frame in frames.items():
        target = downloads / f"{name}.{writer}"
        getattr(frame, writer)(target, index=False)
        back = pd.read_csv(target) if writer == "to_csv" else pd.read_parquet(target)
        pd.testing.assert_frame_equal(back, frame.reset_index(drop=True), check_names=False,
                                      check_dtype=False, check_column_type=False)


@pytest.mark.parametrize("route", [
    lambda t: t.T.reset_index(),
    lambda t: t.columns.to_series().reset_index(drop=True).to_frame("who"),
    lambda t: t.melt(var_name="who"),
    lambda t: pd.DataFrame({"who": list(t.columns)}),
])
def test_labels_made_values_keep_their_class(
    people: pd.DataFrame, downloads: Path, route: Callable[[pd.DataFrame], pd.DataFrame]
) -> None:
    sensitive = route(people.set_index("email")[["beds"]].T)
    with pytest.raises(GovernanceViolation):
        sensitive.to_csv(downloads / "long.csv", index=False)
    public = route(_wards(people, downloads).set_index("ward")[["beds"]].T)
    public.to_csv(downloads / "long.csv", index=False)
    pd.testing.assert_frame_equal(pd.read_csv(downloads / "long.csv"), public,
                                  check_dtype=False, check_names=False)


@pytest.mark.parametrize("route", [*UNTRACKED, *TRACKED])
def test_no_record_names_a_label_that_is_a_value(
    people: pd.DataFrame, sandbox: Path, downloads: Path, route: str
) -> None:
    """Denied to ``~/Downloads``, allowed into governed storage: the refusal and every store
    name the columns whose labels are addresses by position, ``(column N)``."""
    frame = {**UNTRACKED, **TRACKED}[route](people)
    with pytest.raises(GovernanceViolation) as denied:
        frame.to_csv(downloads / "wide.csv", index=False)
    columns = denied.value.decision.operation.classification.columns
    assert any(re.fullmatch(r"\(column \d+\)", n) for n in columns)
    assert not [n for n in columns if any(e in n for e in EMAILS)]
    assert not [e for e in EMAILS if e in str(denied.value)]
    kept = sandbox / "governed" / "workspace" / "wide.csv"
    frame.to_csv(kept, index=False)
    assert leaks(sandbox, EMAILS, sandbox / "people.csv", kept) == []
