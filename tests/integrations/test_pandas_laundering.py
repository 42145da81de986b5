"""Classification follows content, not labels (issue 7, item 1).

Each route moves the values of a personal column under a public label; exporting the result to
~/Downloads must still be denied by the default bundle. Real pandas, real regorus, real files.
"""

from __future__ import annotations

import csv
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import lacuna
from lacuna.errors import GovernanceViolation
from lacuna.lineage.state import get_state
from lacuna.model import Tier


@pytest.fixture
def customers(downloads: Path) -> pd.DataFrame:
    return pd.read_csv("customers.csv")


def _swap(df: pd.DataFrame, a: str, b: str) -> list[str]:
    cols = list(df.columns)
    i, j = cols.index(a), cols.index(b)
    cols[i], cols[j] = cols[j], cols[i]
    return cols


def _setitem(df: pd.DataFrame) -> pd.DataFrame:
    out = df[["region", "signup_date"]].copy()
    out["region"] = df["email"]
    return out


def _columns_assignment(df: pd.DataFrame) -> pd.DataFrame:
    out = df.copy()
    out.columns = _swap(df, "email", "region")
    return out[["region", "signup_date"]]


def _insert(df: pd.DataFrame) -> pd.DataFrame:
    out = df[["signup_date"]].copy()
    out.insert(0, "region", df["email"])
    return out


def _name(df: pd.DataFrame) -> pd.Series:
    s = df["email"].copy()
    s.name = "region"
    return s


def _loc(df: pd.DataFrame) -> pd.DataFrame:
    out = df[["region", "signup_date"]].copy()
    out.loc[:, "region"] = df["email"].to_numpy()  # no hook sees this: the content check does
    return out


def _inplace_swap(df: pd.DataFrame) -> pd.DataFrame:
    out = df.copy()
    with warnings.catch_warnings():  # pandas 3.1 deprecates inplace=; it still works
        warnings.simplefilter("ignore", DeprecationWarning)
        out.rename(columns={"email": "region", "region": "email"}, inplace=True)
    return out[["region"]]


def _several(df: pd.DataFrame) -> pd.DataFrame:
    out = df[["region", "signup_date"]].copy()
    out[["region", "signup_date"]] = df[["email", "phone"]]
    return out[["region"]]


def _iloc(df: pd.DataFrame) -> pd.DataFrame:
    out = df.copy()
    out.iloc[:, list(df.columns).index("region")] = df["email"]
    return out[["region"]]


ROUTES: dict[str, Callable[[pd.DataFrame], pd.DataFrame | pd.Series]] = {
    "series-rename": lambda df: df["email"].rename("region"),
    "setitem": _setitem,
    "assign": lambda df: df.assign(region=df["email"])[["region", "signup_date"]],
    "swap-names": lambda df: df.rename(columns={"email": "region", "region": "email"})[
        ["region", "signup_date"]
    ],
    "set_axis": lambda df: df.set_axis(_swap(df, "email", "region"), axis=1)[["region"]],
    "columns=": _columns_assignment,
    "rename-onto-public-label": lambda df: df.drop(columns="region").rename(
        columns={"email": "region"}
    )[["region", "signup_date"]],
    "concat-axis1": lambda df: pd.concat(
        [df[["signup_date"]], df["email"].rename("region")], axis=1
    ),
    "concat-axis1-unnamed": lambda df: pd.concat(
        [df[["signup_date"]], df["email"].rename(None)], axis=1
    ),
    "to_frame": lambda df: df["email"].to_frame("region"),
    "insert": _insert,
    "series-name": _name,
    "series-unnamed": lambda df: df["email"].rename(None),
    "add_prefix": lambda df: df[["email"]].add_prefix("region_"),
    "loc-assignment": _loc,
    "iloc-assignment": _iloc,
    "inplace-swap": _inplace_swap,
    "several-columns": _several,
    "add_suffix": lambda df: df[["email"]].add_suffix("_region").rename(
        columns={"email_region": "region"}
    ),
    "filter-then-rename": lambda df: df[df["region"] != "APAC"]["email"].rename("region"),
    "into-a-fresh-frame": lambda df: _fresh(df),
}


def _fresh(df: pd.DataFrame) -> pd.DataFrame:
    out = pd.DataFrame({"n": np.arange(len(df))})
    out["region"] = df["email"]
    return out


@pytest.mark.parametrize("route", ROUTES, ids=list(ROUTES))
def test_laundering_route_is_denied_on_export(customers, downloads, route):
    laundered = ROUTES[route](customers)
    assert laundered.lacuna_classification.tier is Tier.PROPRIETARY
    assert "PII" in laundered.lacuna_tags
    target = downloads / f"{route}.csv"
    with pytest.raises(GovernanceViolation):
        laundered.to_csv(target)
    assert not target.exists()


@pytest.mark.parametrize("sep", [",", ";", "\n"])
def test_values_joined_into_one_text_are_checked_at_the_boundary(customers, downloads, sep):
    """A scalar carries no class (``str.cat`` without another Series returns a ``str``): the
    frame it is put into is classified from its values, addresses joined without spaces too."""
    joined = pd.DataFrame({"note": [customers["email"].str.cat(sep=sep)]})
    with pytest.raises(GovernanceViolation):
        joined.to_csv(downloads / "joined.csv")
    assert not (downloads / "joined.csv").exists()
    regions = pd.DataFrame({"note": [customers["region"].str.cat(sep=sep)]})
    regions.to_csv(downloads / "regions.csv", index=False)  # public: allowed, read back
    assert pd.read_csv(downloads / "regions.csv")["note"].tolist() == regions["note"].tolist()


def test_check_and_anonymize_see_the_moved_content(customers):
    moved = customers.rename(columns={"email": "region", "region": "email"})
    decision = lacuna.check(moved[["region"]], destination="~/Downloads/x.csv")
    assert decision.denied
    anon = lacuna.anonymize(moved)  # every personal column, wherever its values now are
    assert anon["region"].tolist() != customers["email"].tolist()
    assert anon["email"].tolist() == customers["region"].tolist()  # region's values: untouched


def test_a_swap_moves_both_classes(customers, downloads):
    swapped = customers.rename(columns={"email": "region", "region": "email"})
    columns = swapped.lacuna.columns
    assert columns["region"].pii_type == "email"
    assert not columns["email"].is_personal  # the label now holds the public region values
    swapped[["email", "signup_date"]].to_csv(downloads / "regions.csv")  # allowed: no PII
    assert (downloads / "regions.csv").exists()


@pytest.fixture
def people(downloads: Path) -> pd.DataFrame:
    """PII that only the column name gives away: dates of birth look like any other dates."""
    Path("people.csv").write_text(
        "person_id,date_of_birth,region\n"
        + "".join(f"P{i:03},19{60 + i % 40}-0{1 + i % 9}-1{i % 10},R{i % 4}\n" for i in range(60))
    )
    df = pd.read_csv("people.csv")
    assert df.lacuna.columns["date_of_birth"].is_personal
    return df


def test_series_from_a_proprietary_frame_keeps_its_class_whatever_it_is_called(people, downloads):
    s = people["date_of_birth"].sort_values().rename("signup")  # row order and name changed
    assert s.lacuna_classification.tier is Tier.PROPRIETARY
    assert s.lacuna.columns["signup"].pii_type == people.lacuna.columns["date_of_birth"].pii_type
    with pytest.raises(GovernanceViolation):
        s.to_csv(downloads / "signup.csv")
    frame = people[people["region"] != "R0"][["region"]].copy()
    frame["signup"] = people["date_of_birth"]
    with pytest.raises(GovernanceViolation):
        frame.to_csv(downloads / "frame.csv")


def test_content_check_explains_what_it_found(customers):
    out = customers[["region", "signup_date"]].copy()
    out.loc[:, "region"] = customers["email"].to_numpy()
    col = out.lacuna.columns["region"]
    assert col.pii_type == "email"
    assert "content" in col.reasoning
    assert any("changed" in r for r in out.lacuna_classification.reasoning)


def test_row_operations_keep_the_classification_unchanged(customers):
    assert customers[customers["region"] == "EMEA"].lacuna.classification == (
        customers.lacuna.classification
    )
    assert customers.sort_values("region").lacuna.classification == (
        customers.lacuna.classification
    )


def test_fingerprints_are_stored_when_a_class_is_computed(customers):
    state = get_state(customers)
    assert state is not None
    assert set(state.fingerprints) == set(state.classification.columns)


# --- property: random renames / assignments / projections / swaps never launder --------------

OPS = st.lists(
    st.tuples(
        st.sampled_from(["rename", "assign", "project", "swap", "series", "columns", "filter"]),
        st.integers(0, 50),
        st.integers(0, 50),
    ),
    min_size=1,
    max_size=6,
)
NAMES = ["email", "region", "code", "n", "label", "note"]


@pytest.fixture
def three(downloads: Path) -> None:
    """A file with one personal column (email) and two public ones."""
    rows = list(csv.DictReader(Path("customers.csv").read_text().splitlines()))
    lines = [f"{r['email']},{r['region']},K{i % 7}" for i, r in enumerate(rows)]
    Path("three.csv").write_text("email,region,code\n" + "\n".join(lines) + "\n")


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(ops=OPS)
def test_pii_values_never_leave_under_a_lower_tier(three, downloads, ops):
    df = pd.read_csv("three.csv")
    truth = {"email": "email", "region": "region", "code": "code"}  # label -> content origin
    for op, a, b in ops:
        cols = list(df.columns)
        x, y = cols[a % len(cols)], cols[b % len(cols)]
        if op == "rename" and x != y:
            df = df.drop(columns=y).rename(columns={x: y})
            truth = {(y if k == x else k): v for k, v in truth.items() if k != y}
        elif op == "rename":
            new = NAMES[b % len(NAMES)]
            if new not in cols:
                df = df.rename(columns={x: new})
                truth = {(new if k == x else k): v for k, v in truth.items()}
        elif op == "assign":
            df = df.copy()
            df[y] = df[x]
            truth[y] = truth[x]
        elif op == "project" and len(cols) > 1:
            keep = [c for c in cols if c != x]
            df = df[keep]
            truth = {k: v for k, v in truth.items() if k in keep}
        elif op == "swap" and x != y:
            df = df.rename(columns={x: y, y: x})
            truth[x], truth[y] = truth[y], truth[x]
        elif op == "series":
            new = NAMES[b % len(NAMES)]
            if new not in cols:
                s = df[x].rename(new)  # a Series taken out, renamed, put back side by side
                df = pd.concat([df.drop(columns=x), s], axis=1)
                truth = {k: v for k, v in truth.items() if k != x} | {new: truth[x]}
        elif op == "columns" and len(cols) > 1:
            order = cols[1:] + cols[:1]  # rotate the labels over the content
            df = df.copy()
            df.columns = order
            truth = {order[i]: truth[c] for i, c in enumerate(cols)}
        elif op == "filter":
            df = df.iloc[::2] if len(df) > 8 else df
    holds_pii = [label for label, origin in truth.items() if origin == "email"]
    for label in holds_pii:
        assert df[[label]].lacuna_classification.tier is Tier.PROPRIETARY, (ops, label)
    if holds_pii:
        with pytest.raises(GovernanceViolation):
            df.to_csv(downloads / "out.csv")
    else:
        assert df.lacuna_classification.tier is Tier.PUBLIC, (ops, df.lacuna.explain())


# --- a count is decided by the function that computed it, never by its label ------------------


def _joined(values: pd.Series) -> str:
    return ";".join(values)


def count(values: pd.Series) -> str:  # a user function that happens to be called "count"
    return ";".join(values)


COUNT_NAMED: dict[str, Callable[[pd.DataFrame], pd.DataFrame | pd.Series]] = {
    "agg-list-user-count": lambda df: df.groupby("region")[["name", "email"]].agg([count]),
    "series-agg-list-user-count": lambda df: df.groupby("region")["email"].agg([count]),
    "series-keyword-count": lambda df: df.groupby("region")["email"].agg(count=_joined),
    "named-agg-count": lambda df: df.groupby("region").agg(count=("email", _joined)),
    "dict-user-count": lambda df: df.groupby("region").agg({"email": count}),
    "dict-list-user-count": lambda df: df.groupby("region").agg({"email": [count, "size"]}),
}


@pytest.mark.parametrize("route", COUNT_NAMED, ids=list(COUNT_NAMED))
def test_an_output_named_count_is_not_a_count(customers, downloads, route):
    leaked = COUNT_NAMED[route](customers)
    assert leaked.lacuna_classification.tier is Tier.PROPRIETARY, leaked.lacuna.explain()
    assert "PII" in leaked.lacuna_tags
    for label, col in leaked.lacuna.columns.items():
        assert "count" not in label or col.reasoning != "a count of rows", label
    target = downloads / f"{route}.csv"
    with pytest.raises(GovernanceViolation):
        leaked.to_csv(target)
    assert not target.exists()


PANDAS_COUNTS: dict[str, Callable[[pd.DataFrame], pd.DataFrame | pd.Series]] = {
    "count": lambda df: df.groupby("region")["email"].count(),
    "size": lambda df: df.groupby("region").size(),
    "agg-list-count": lambda df: df.groupby("region")[["name", "email"]].agg(["count"]),
    "series-agg-list": lambda df: df.groupby("region")["email"].agg(["count", "nunique"]),
    "series-keyword": lambda df: df.groupby("region")["email"].agg(n="count"),
    "named-nunique": lambda df: df.groupby("region").agg(n=("email", "nunique")),
    "named-np-size": lambda df: df.groupby("region").agg(n=("email", np.size)),
    "agg-list-len": lambda df: df.groupby("region")[["email"]].agg([len]),
    "dict-count": lambda df: df.groupby("region").agg({"email": "count", "name": "nunique"}),
}


@pytest.fixture
def project(sandbox: Path, sandbox_config, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project folder where INTERNAL may be written (the sandbox lives under /tmp, which the
    default configuration treats as unmanaged)."""
    monkeypatch.setenv("HOME", str(sandbox))
    lacuna.enable(sandbox_config(destinations={
        "governed": [f"{sandbox / 'governed' / 'workspace'}/"],
        "unmanaged": [str(sandbox / "Downloads"), "~/Downloads", "~/Desktop"],
    }))
    (sandbox / "reports").mkdir()
    return sandbox / "reports"


@pytest.mark.parametrize("route", PANDAS_COUNTS, ids=list(PANDAS_COUNTS))
def test_pandas_counts_of_pii_stay_aggregates(project, route):
    counts = PANDAS_COUNTS[route](pd.read_csv("customers.csv"))
    assert counts.lacuna_classification.tier is Tier.INTERNAL, counts.lacuna.explain()
    assert counts.lacuna_tags == ["DERIVED_FROM_PII"]
    target = project / f"{route}.csv"
    counts.to_csv(target)  # an aggregate without personal data: allowed
    back = target.read_text()
    assert "@" not in back  # counts, not the e-mail addresses
    assert "15" in back  # 15 customers per region
    if not isinstance(counts, pd.DataFrame) or counts.columns.nlevels == 1:
        # (a two-level header reads back as columns called name and email: inferred anew)
        assert pd.read_csv(target).lacuna_classification.tier is Tier.INTERNAL


def test_describe_names_its_own_statistics(customers, downloads):
    described = customers.groupby("region")[["email"]].describe()  # "top" is a value
    assert described.lacuna_classification.tier is Tier.PROPRIETARY
    counted = described[[("email", "count")]]
    assert counted.lacuna.columns["('email', 'count')"].reasoning == "a count of rows"


# --- reshapes that pandas builds without the input's attrs -------------------------------------


@pytest.fixture
def visits(downloads: Path) -> pd.DataFrame:
    """Health data that only the column name gives away: diagnoses read like any other words."""
    illnesses = ["asthma", "diabetes", "hypertension", "HIV positive", "depression"]
    Path("visits.csv").write_text("patient_ref,diagnosis,ward,n\n" + "".join(
        f"Q{i:04},{illnesses[(i * 7) % 5]},W{i % 3},{i}\n" for i in range(60)))
    df = pd.read_csv("visits.csv")
    assert df.lacuna_classification.tier is Tier.PROPRIETARY
    assert "PHI" in df.lacuna_tags
    return df


RESHAPED: dict[str, Callable[[pd.DataFrame], pd.DataFrame | pd.Series]] = {
    "crosstab": lambda d: pd.crosstab(d["patient_ref"], d["diagnosis"]),
    "crosstab-lists": lambda d: pd.crosstab([d["patient_ref"]], [d["ward"], d["diagnosis"]]),
    "pivot": lambda d: d.pivot(index="patient_ref", columns="ward", values="diagnosis"),
    "pd.pivot": lambda d: pd.pivot(d, index="patient_ref", columns="ward", values="diagnosis"),
    "concat-get_dummies": lambda d: pd.concat(
        [d["patient_ref"], pd.get_dummies(d["diagnosis"])], axis=1),
    "get_dummies-frame": lambda d: pd.get_dummies(d[["patient_ref", "diagnosis"]], prefix="x"),
    "from_dummies": lambda d: pd.concat(
        [d["patient_ref"], pd.from_dummies(pd.get_dummies(d["diagnosis"]))], axis=1),
    "pd.melt": lambda d: pd.melt(d, id_vars="ward").rename(columns={"value": "note"}),
    "value_counts": lambda d: d["diagnosis"].value_counts().rename_axis("label").reset_index(),
    "frame-value_counts": lambda d: d[["diagnosis"]].value_counts().rename_axis(
        ["label"]).reset_index(),
    "groupby-transform": lambda d: d.groupby("ward")["diagnosis"].transform(
        lambda s: s).rename("note").to_frame(),
    "groupby-frame-transform": lambda d: d.groupby("ward")[["diagnosis"]].transform(
        lambda s: s).rename(columns={"diagnosis": "note"}),
    "groupby-ffill": lambda d: d.groupby("ward")["diagnosis"].ffill().rename("note").to_frame(),
    "groupby-bfill": lambda d: d.groupby("ward")["diagnosis"].bfill().rename("note").to_frame(),
    "groupby-rank": lambda d: d.groupby("ward")["diagnosis"].rank().rename("note"),
    # a function of each group: here the group's diagnoses as one text per ward
    "groupby-apply": lambda d: d.groupby("ward").apply(
        lambda g: g["diagnosis"].str.cat(sep=";")).rename("note").to_frame(),
    "groupby-series-apply": lambda d: d.groupby("ward")["diagnosis"].apply(
        lambda s: s.str.cat(sep=";")).rename("note").to_frame(),
    "compare": lambda d: d[["diagnosis"]].compare(d[["diagnosis"]].shift(1)),
    # the pieces of each value, one per row (pandas builds both without attrs)
    "explode": lambda d: d["diagnosis"].str.split(" ").explode().rename("note").to_frame(),
    "str.extractall": lambda d: d["diagnosis"].str.extractall(r"(?P<note>\w+)"),
    # a fixed-key hash of each value: found again by hashing the candidate diagnoses
    "hash_pandas_object": lambda d: pd.util.hash_pandas_object(
        d["diagnosis"], index=False).rename("note").to_frame(),
}


@pytest.mark.parametrize("route", RESHAPED, ids=list(RESHAPED))
def test_reshapes_keep_the_state_of_their_inputs(visits, downloads, route):
    reshaped = RESHAPED[route](visits)
    state = get_state(reshaped)
    assert state is not None
    assert state.classification.tier is Tier.PROPRIETARY, reshaped.lacuna.explain()
    assert reshaped.lacuna_classification.tier is Tier.PROPRIETARY, reshaped.lacuna.explain()
    assert "PHI" in reshaped.lacuna_tags
    assert "visits.csv" in reshaped.lacuna.lineage.sources
    target = downloads / f"{route}.csv"
    with pytest.raises(GovernanceViolation):
        reshaped.to_csv(target)
    assert not target.exists()


def _disguised(d: pd.DataFrame) -> pd.DataFrame:
    """The e-mail addresses made unrecognisable by their values (reversed, '@' and '.'
    replaced) by tracked Series methods, beside the public region: only tracking keeps them."""
    hidden = d["email"].str[::-1].str.replace("@", "#").str.replace(".", "_")
    return d[["customer_id", "region"]].assign(code1=hidden)


DISGUISED: dict[str, Callable[[pd.DataFrame], Any]] = {
    # melted by pandas' own melt (not pd.melt): built without attrs, they were PUBLIC
    "wide_to_long": lambda d: pd.wide_to_long(
        _disguised(d)[["customer_id", "code1"]], "code", i="customer_id", j="n"),
    "wide_to_long-by-keyword": lambda d: pd.wide_to_long(
        df=_disguised(d)[["customer_id", "code1"]], stubnames="code", i="customer_id", j="n"),
    "lreshape": lambda d: pd.lreshape(_disguised(d), {"code": ["code1"]}),
    # a row function: any output column may hold any column of the row (the output named
    # like the public input column kept that column's class)
    "apply-rows": lambda d: _disguised(d).apply(
        lambda row: pd.Series({"region": row["code1"]}), axis=1),
    # a tracked column made the header: the column labels Index carries its class
    "columns=": lambda d: pd.DataFrame(columns=_disguised(d)["code1"], index=[0]).fillna(0),
    "index-to-header": lambda d: _disguised(d).set_index("code1")[["region"]].T,
}


@pytest.mark.parametrize("route", DISGUISED, ids=list(DISGUISED))
def test_unrecognisable_values_keep_their_class_through_reshapes(customers, downloads, route):
    reshaped = DISGUISED[route](customers)
    assert reshaped.lacuna_classification.tier is Tier.PROPRIETARY, reshaped.lacuna.explain()
    with pytest.raises(GovernanceViolation):
        reshaped.to_csv(downloads / "x.csv")
    assert not (downloads / "x.csv").exists()


CALLBACKS: dict[str, Callable[[pd.DataFrame, Callable[[Any], Any]], Any]] = {
    "groupby-apply": lambda d, f: d.groupby("region").apply(f),
    "groupby-agg": lambda d, f: d.groupby("region").agg(f),
    "groupby-agg-list": lambda d, f: d.groupby("region").agg([f]),
    "groupby-agg-named": lambda d, f: d.groupby("region").agg(out=("email", f)),
    "groupby-transform": lambda d, f: d.groupby("region")["email"].transform(f),
    "rolling-apply": lambda d, f: d["customer_id"].str[1:].astype(int).rolling(2).apply(
        lambda w: float(f(w).iloc[-1]), raw=False),
    "crosstab-aggfunc": lambda d, f: pd.crosstab(d["region"], d["region"], values=d["email"],
                                                 aggfunc=f),
}


@pytest.mark.parametrize("route", CALLBACKS, ids=list(CALLBACKS))
def test_a_function_pandas_calls_back_is_governed(customers, downloads, route):
    """pandas runs these calls with Lacuna out of its way (its own frames are not governed),
    but the user's function it calls back is the user's code: what it writes is decided."""
    def leak(part: Any) -> Any:
        customers[["email"]].to_csv(downloads / "leak.csv")
        return part

    def export(part: Any) -> Any:
        customers[["region"]].to_csv(downloads / "regions.csv", index=False)
        return part

    with pytest.raises(GovernanceViolation):
        CALLBACKS[route](customers, leak)
    assert not (downloads / "leak.csv").exists()
    CALLBACKS[route](customers, export)  # public: allowed, and read back
    assert pd.read_csv(downloads / "regions.csv").equals(customers[["region"]])


def test_reshapes_of_public_columns_stay_public(customers, downloads):
    dummies = pd.get_dummies(customers["region"])
    assert dummies.lacuna_classification.tier is Tier.PUBLIC, dummies.lacuna.explain()
    dummies.to_csv(downloads / "regions.csv")  # allowed: one-hot regions
    back = pd.read_csv(downloads / "regions.csv")
    assert {"AMER", "EMEA"} <= set(back.columns)
    pieces = customers["region"].str.split("").explode().rename("letter")
    assert pieces.lacuna_classification.tier is Tier.PUBLIC, pieces.lacuna.explain()
    pieces.to_frame().to_csv(downloads / "letters.csv", index=False)  # allowed, read back
    assert pd.read_csv(downloads / "letters.csv")["letter"].dropna().tolist() == \
        pieces.replace("", None).dropna().tolist()
    # apply's function sees every column of its group: only the columns grouped count
    latest = customers[["region", "signup_date"]].groupby("region").apply(
        lambda g: g[["signup_date"]].max())
    assert latest.lacuna_classification.tier is Tier.PUBLIC, latest.lacuna.explain()
    latest.to_csv(downloads / "latest.csv")  # allowed, read back
    assert pd.read_csv(downloads / "latest.csv", index_col=0).equals(latest)
    firsts = customers.groupby("region")["signup_date"].transform("min")
    assert firsts.lacuna_classification.tier is Tier.PUBLIC, firsts.lacuna.explain()
    rows = customers[["region", "signup_date"]].apply(
        lambda row: pd.Series({"when": row["region"] + " " + row["signup_date"]}), axis=1)
    assert rows.lacuna_classification.tier is Tier.PUBLIC, rows.lacuna.explain()
    rows.to_csv(downloads / "rows.csv")  # allowed, read back
    assert pd.read_csv(downloads / "rows.csv", index_col=0).equals(rows)
    header = pd.DataFrame(columns=customers["region"].head(3), index=[0]).fillna(0)
    assert header.lacuna_classification.tier is Tier.PUBLIC, header.lacuna.explain()
    header.to_csv(downloads / "header.csv", index=False)  # a public column's values as labels
    assert list(pd.read_csv(downloads / "header.csv").columns) == ["AMER", "APAC", "LATAM"]


def test_value_counts_follow_the_aggregation_rule(project):
    customers = pd.read_csv("customers.csv")
    per_region = customers["region"].value_counts()  # groupby("region").size()
    assert per_region.lacuna_classification.tier is Tier.INTERNAL, per_region.lacuna.explain()
    assert per_region.lacuna_tags == ["DERIVED_FROM_PII"]
    per_region.to_csv(project / "regions.csv")
    back = pd.read_csv(project / "regions.csv")
    assert sorted(back["count"]) == [15, 15, 15, 15]
    assert back.lacuna_classification.tier is Tier.INTERNAL
    per_email = customers["email"].value_counts()  # one row per customer, keyed by the e-mail
    assert per_email.lacuna_classification.tier is Tier.PROPRIETARY
    with pytest.raises(GovernanceViolation):
        per_email.to_csv(project / "emails.csv")
    assert not (project / "emails.csv").exists()
    small = customers.head(8)[["region"]].value_counts()  # groups of 2: fewer than k=5
    assert small.lacuna_classification.tier is Tier.PROPRIETARY


# --- window objects: rolling, expanding, ewm and their group-by forms -------------------------


@pytest.fixture
def ssn_digits(downloads: Path) -> pd.Series:
    """Social Security numbers as bare integers: nothing in the values gives them away."""
    Path("payroll.csv").write_text("employee_id,ssn,team\n" + "".join(
        f"E{i:04},{100 + i:03}-{10 + i % 80:02}-{1000 + i:04},T{i % 3}\n" for i in range(60)))
    payroll = pd.read_csv("payroll.csv")
    digits = payroll["ssn"].str.replace("-", "").astype("int64")
    assert "PII" in digits.lacuna_tags
    return digits


WINDOWED: dict[str, Callable[[pd.Series], pd.DataFrame | pd.Series]] = {
    "rolling": lambda d: d.rolling(1).sum().rename("n"),
    "rolling-frame": lambda d: d.to_frame("n").rolling(1).max(),
    "rolling-apply": lambda d: d.rolling(1).apply(lambda w: w.iloc[0]).rename("n"),
    "rolling-agg": lambda d: d.rolling(1).agg(["min", "max"]),
    "rolling-window": lambda d: d.rolling(1, win_type="boxcar").sum().rename("n"),
    "expanding": lambda d: d.rename("n").expanding().max(),
    "ewm": lambda d: d.rename("n").ewm(alpha=1.0).mean(),
    "groupby-rolling": lambda d: d.to_frame("n").assign(team=d.index % 3).groupby(
        "team")["n"].rolling(1).sum().reset_index(drop=True),
    "groupby-ewm": lambda d: d.to_frame("n").assign(team=d.index % 3).groupby(
        "team")["n"].ewm(alpha=1.0).mean().reset_index(drop=True),
    "cov-other": lambda d: pd.Series(np.arange(len(d), dtype=float)).rolling(2).cov(
        d.astype(float)).rename("n"),
}


@pytest.mark.parametrize("route", WINDOWED, ids=list(WINDOWED))
def test_window_results_keep_the_state_of_their_inputs(ssn_digits, downloads, route):
    windowed = WINDOWED[route](ssn_digits)
    if route != "cov-other":  # a window of one row is the row itself
        assert {int(v) for v in np.ravel(windowed.to_numpy())} == set(ssn_digits)
    state = get_state(windowed)
    assert state is not None, route
    assert windowed.lacuna_classification.tier is Tier.PROPRIETARY, windowed.lacuna.explain()
    assert "PII" in windowed.lacuna_tags
    assert "payroll.csv" in windowed.lacuna.lineage.sources
    target = downloads / f"{route}.csv"
    with pytest.raises(GovernanceViolation):
        windowed.to_csv(target)
    assert not target.exists()


def test_windows_keep_their_inputs_tier_no_higher(downloads):
    sales = pd.read_csv("sales.csv")
    revenue = sales["revenue"]  # financial: INTERNAL, not personal
    weekly = sales[["revenue"]].rolling(7, min_periods=1).mean()
    assert weekly.lacuna_classification.tier is revenue.lacuna_classification.tier
    trend = revenue.ewm(span=7).mean()
    assert trend.lacuna_classification.tier is revenue.lacuna_classification.tier
    assert trend.lacuna_tags == revenue.lacuna_tags, trend.lacuna.explain()
    assert "PII" not in trend.lacuna_tags
    workspace = downloads.parent / "governed" / "workspace"
    trend.to_csv(workspace / "trend.csv")  # allowed: a smoothed revenue curve, kept governed
    back = pd.read_csv(workspace / "trend.csv")
    assert back["revenue"].round(6).tolist() == trend.round(6).tolist()
    assert back.lacuna_classification.tier is revenue.lacuna_classification.tier
