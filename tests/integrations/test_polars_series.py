"""polars ``Series``: a column taken out of a governed frame keeps its class through Series
computations and back into a frame.

Each route takes a column whose values no classifier recognises (a diagnosis, a salary: only the
column name gives them away), computes on it as a Series, renames it ``code`` and puts it back
into a frame; exporting that frame to ~/Downloads must still be denied. The same routes over a
public column must still export, and the file read back must hold the same values.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from pathlib import Path

import pytest

import lacuna
from lacuna.errors import GovernanceViolation
from lacuna.model import Tier

pl = pytest.importorskip("polars")
np = pytest.importorskip("numpy")

from lacuna.integrations import polars as governed_polars  # noqa: E402

ILLNESSES = ["asthma", "diabetes", "hypertension", "HIV positive", "depression"]


@pytest.fixture
def visits(downloads: Path) -> pl.DataFrame:
    """Health and pay data that only the column names give away."""
    Path("visits.csv").write_text("patient_ref,diagnosis,salary,ward,n\n" + "".join(
        f"Q{i:04},{ILLNESSES[(i * 7) % 5]},{40000 + (i * 7919) % 50000},W{i % 3},{i}\n"
        for i in range(60)))
    df = pl.read_csv("visits.csv")
    classes = governed_polars.classification(df).columns
    assert classes["diagnosis"].classification.value == "phi"
    assert classes["salary"].classification.value == "financial"
    assert classes["ward"].classification.value == "public"
    return df


def kind(frame: pl.DataFrame, column: str = "code") -> str:
    return governed_polars.classification(frame).columns[column].classification.value


def denied(frame: pl.DataFrame, target: Path) -> None:
    with pytest.raises(GovernanceViolation):
        frame.write_csv(target)
    assert not target.exists()


# column -> a computed Series of it, named "code", put back into a frame, for each route
Route = Callable[[pl.DataFrame, str], pl.DataFrame]

ROUTES: dict[str, Route] = {
    # taken out of the frame in each way, put back with each constructor or frame method
    "getitem-dict": lambda d, c: pl.DataFrame({"code": d[c]}),
    "get_column-list": lambda d, c: pl.DataFrame([d.get_column(c).alias("code")]),
    "to_series-with_columns": lambda d, c: d.select("n").with_columns(
        d.to_series(d.columns.index(c)).alias("code")),
    "iter_columns-with_columns-keyword": lambda d, c: d.select("n").with_columns(
        code=next(s for s in d.iter_columns() if s.name == c)),
    "for-in-frame-dict": lambda d, c: pl.DataFrame({"code": next(s for s in d if s.name == c)}),
    "get_columns-from_dict": lambda d, c: pl.from_dict(
        {"code": d.get_columns()[d.columns.index(c)]}),
    "insert_column": lambda d, c: d.select("n").insert_column(0, d[c].alias("code")),
    "insert_column-expression": lambda d, c: d.clone().insert_column(
        0, pl.col(c).alias("code")).select("code", "n"),
    "hstack": lambda d, c: d.select("n").hstack([d[c].alias("code")]),
    "hstack-frame": lambda d, c: d.select("n").hstack(d[c].alias("code").to_frame()),
    "replace_column": lambda d, c: d.select("n", "ward").replace_column(
        1, d[c].alias("code")),
    "to_frame": lambda d, c: d[c].to_frame("code"),
    "pl.select": lambda d, c: pl.select(d[c].alias("code")),
    "concat-horizontal": lambda d, c: pl.concat(
        [d.select("n"), d[c].alias("code").to_frame()], how="horizontal"),
    "lazy-with_columns": lambda d, c: d.select("n").lazy().with_columns(
        d[c].alias("code")).collect(),
    "pl.Series-of-a-Series": lambda d, c: pl.DataFrame([pl.Series("code", d[c])]),
    "LazyFrame-dict": lambda d, c: pl.LazyFrame({"code": d[c]}).collect(),
    "pl.struct-eager": lambda d, c: pl.struct(d[c].alias("code"), eager=True).struct.unnest(),
    # frames around the Series routes
    "DataFrame-of-a-frame-renamed": lambda d, c: pl.DataFrame(d.select(c), schema=["code"]),
    "partition_by": lambda d, c: d.select(pl.col(c).alias("code"), "n").partition_by(
        "n", as_dict=True)[(7,)],
    # Series methods and namespaces on the way
    "cast-fill_null-sort": lambda d, c: pl.DataFrame(
        {"code": d[c].cast(pl.String).fill_null("none").sort()}),
    "str-namespace": lambda d, c: pl.DataFrame(
        {"code": d[c].cast(pl.String).str.to_uppercase().str.replace("A", "4")}),
    "list-namespace": lambda d, c: pl.DataFrame(
        {"code": d[c].cast(pl.String).str.split("").list.join("")}),
    "slice-filter-head": lambda d, c: pl.DataFrame(
        {"code": d[c][1:].filter(d[c][1:].is_not_null()).head(40)}),
    "concat-series": lambda d, c: pl.DataFrame(
        {"code": pl.concat([d[c].head(3), d[c].tail(3)])}),
    "struct-unnest": lambda d, c: d.select(c, "n").to_struct("s").struct.unnest().select(
        pl.col(c).alias("code")),
    "numpy-ufunc": lambda d, c: pl.DataFrame(
        {"code": np.negative(d[c].cast(pl.String).str.len_chars())}),
    "pandas-and-back": lambda d, c: pl.from_pandas(d[c].alias("code").to_pandas().to_frame()),
}


@pytest.mark.parametrize("route", ROUTES, ids=list(ROUTES))
def test_a_diagnosis_keeps_its_class_through_series(visits, downloads, route):
    out = ROUTES[route](visits, "diagnosis")
    assert kind(out) == "phi", governed_polars.classification(out).reasoning
    assert governed_polars.classification(out).tier is Tier.PROPRIETARY
    assert "visits.csv" in {Path(s).name for s in governed_polars.sources(out)}
    denied(out, downloads / f"{route}.csv")


ARITHMETIC: dict[str, Callable[[pl.Series], pl.Series]] = {
    "add": lambda s: s + 1,
    "radd": lambda s: 1 + s,
    "mul-truediv": lambda s: (s * 1.1) / 12,
    "neg-abs": lambda s: abs(-s),
    "compare": lambda s: s > 50000,
    "round-clip": lambda s: (s / 1000).round(0).clip(0, 90),
    "cum_sum-shift": lambda s: s.cum_sum().shift(1),
    "pow-floordiv-mod": lambda s: (s ** 2) // 7 % 1000,
}


@pytest.mark.parametrize("op", ARITHMETIC, ids=list(ARITHMETIC))
def test_a_salary_keeps_its_class_through_arithmetic(visits, downloads, op):
    code = ARITHMETIC[op](visits["salary"]).alias("code")
    out = visits.select("ward").with_columns(code)
    assert kind(out) == "financial"
    assert kind(out, "ward") == "public"
    denied(out, downloads / f"{op}.csv")


def test_binary_operations_take_the_strictest_operand(visits, downloads):
    words = visits["ward"] + visits["diagnosis"]  # public + phi
    also = visits["ward"].zip_with(visits["n"] > 30, visits["diagnosis"])
    amounts = visits["n"] * visits["salary"]  # public * financial
    out = pl.DataFrame({"words": words, "also": also, "amount": amounts,
                        "plain": visits["ward"] + visits["ward"]})
    assert kind(out, "words") == "phi"
    assert kind(out, "also") == "phi"
    assert kind(out, "amount") == "financial"
    assert kind(out, "plain") == "public"
    denied(out, downloads / "binary.csv")
    appended = visits["ward"].head(3)
    appended.append(visits["diagnosis"].head(3))  # in place
    assert kind(appended.to_frame("x"), "x") == "phi"


@pytest.mark.parametrize("route", ROUTES, ids=list(ROUTES))
def test_a_public_column_through_the_same_routes_still_exports(visits, downloads, route):
    out = ROUTES[route](visits, "ward")
    assert governed_polars.classification(out).tier is Tier.PUBLIC, \
        governed_polars.classification(out).reasoning
    origins = governed_polars._ops.state(out).origins.get("code", ())
    # (a struct of several columns, unnested: each field from all of them, as it cannot tell)
    assert ("visits.csv", "ward") in {(Path(o.dataset.name).name, o.column) for o in origins}
    target = downloads / f"{route}.csv"
    out.write_csv(target)  # allowed
    assert pl.read_csv(target).equals(out)


def test_the_decision_audit_and_lineage_see_the_source(visits, downloads):
    from lacuna.governor import current

    code = visits["diagnosis"].str.to_uppercase().alias("code")
    out = pl.DataFrame({"code": code, "ward": visits["ward"]})
    with pytest.raises(GovernanceViolation, match="PROPRIETARY"):
        out.write_csv(downloads / "out.csv")
    record = current().audit.list(limit=1)[0]
    assert (record.action, record.allowed) == ("export", False)
    assert "phi" in record.body.lower()
    assert kind(out) == "phi"
    state = governed_polars._ops.state(out)
    (origin,) = state.origins["code"]
    assert (Path(origin.dataset.name).name, origin.column) == ("visits.csv", "diagnosis")
    assert origin.kind.value == "transformation"
    (ward,) = state.origins["ward"]
    assert (ward.column, ward.kind.value) == ("ward", "identity")


def test_relabelling_columns_in_place_moves_their_classes(visits, downloads):
    """``df.columns = [...]`` swapping two labels: the diagnoses now under "ward" keep their
    class, whether exported as a frame or taken out as a Series."""
    swapped = visits.clone()
    swapped.columns = ["patient_ref", "ward", "salary", "diagnosis", "n"]
    assert kind(swapped, "ward") == "phi"
    assert kind(swapped, "diagnosis") == "public"
    denied(swapped.select("ward"), downloads / "swapped.csv")
    denied(swapped["ward"].to_frame("code"), downloads / "swapped-series.csv")
    swapped.select("diagnosis").write_csv(downloads / "wards.csv")  # the wards: allowed


def test_a_series_not_taken_from_a_governed_frame_is_classified_from_its_values(downloads):
    emails = pl.Series("code", [f"user{i}@example.com" for i in range(30)])
    out = pl.DataFrame({"code": emails.str.to_lowercase()})
    assert kind(out) == "pii"
    denied(out, downloads / "emails.csv")
    plain = pl.DataFrame({"code": pl.Series([f"W{i % 3}" for i in range(30)]).str.to_lowercase()})
    plain.write_csv(downloads / "plain.csv")


def test_uninstall_restores_polars() -> None:
    owners = [pl.Series, pl.DataFrame, pl.LazyFrame, pl, type(pl.Series(["a"]).str),
              type(pl.Series([1]).dt), type(pl.Series([[1]]).list)]
    before = [dict(vars(o)) for o in owners]
    with lacuna.governed():
        assert vars(pl.Series)["__add__"] is not before[0]["__add__"]
        assert vars(pl.Series)["str"] is not before[0]["str"]
        assert vars(pl.DataFrame)["columns"] is not before[1]["columns"]
        assert vars(type(pl.Series(["a"]).str))["to_uppercase"] is not \
            before[4]["to_uppercase"]
        assert governed_polars.installed()
    assert not governed_polars.installed()
    after = [dict(vars(o)) for o in owners]
    for owner, was, now in zip(owners, before, after, strict=True):
        changed = [k for k in set(was) | set(now) if was.get(k) is not now.get(k)]
        assert not changed, (owner, changed)
    assert isinstance(vars(pl.Series)["str"], property)
    assert isinstance(vars(pl.DataFrame)["columns"], property)
    assert inspect.isfunction(vars(pl.Series)["__add__"])
