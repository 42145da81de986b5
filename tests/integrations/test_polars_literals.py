"""polars expressions holding a Series: ``pl.lit(s)`` and friends keep the class of the values.

A Series taken from a governed frame and computed on until no classifier recognises its values
(reversed e-mail addresses) enters a frame of public numbers inside an expression; exporting that
frame to ~/Downloads must be denied. Literals of plain values through the same routes must still
export, and the file read back must hold the same values.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

import lacuna
from lacuna.errors import GovernanceViolation
from lacuna.model import Tier

pl = pytest.importorskip("polars")

from polars.functions import lit as unhooked_lit  # noqa: E402  (polars.lit is hooked, not this)

from lacuna.integrations import polars as governed_polars  # noqa: E402
from lacuna.integrations.polars import _series  # noqa: E402


@pytest.fixture
def people(downloads: Path, sandbox: Path) -> pl.DataFrame:
    src = sandbox / "governed" / "workspace" / "src.csv"
    pd.DataFrame({"email": [f"user{i}@example.com" for i in range(3)],
                  "city": ["Oslo", "Lima", "Pune"]}).to_csv(src, index=False)
    df = pl.read_csv(src)
    assert kind(df, "email") == "pii"
    return df


def units() -> pl.DataFrame:
    return pl.DataFrame({"units": [1, 2, 3]})


def kind(frame: pl.DataFrame, column: str = "x") -> str:
    return governed_polars.classification(frame).columns[column].classification.value


def origins(frame: pl.DataFrame, column: str = "x") -> set[tuple[str, str]]:
    found = governed_polars._ops.state(frame).origins.get(column, ())
    return {(Path(o.dataset.name).name, o.column) for o in found}


# the reversed e-mail addresses -> a frame holding them as column "x", for each route
Route = Callable[[pl.Series], pl.DataFrame]
ROUTES: dict[str, Route] = {
    "with_columns-keyword": lambda s: units().with_columns(x=pl.lit(s)),
    "with_columns-alias": lambda s: units().with_columns(pl.lit(s).alias("x")),
    "with_columns-list": lambda s: units().with_columns([pl.lit(s).alias("x")]),
    "concat_str-lit": lambda s: units().with_columns(
        x=pl.concat_str([pl.lit(s), pl.col("units")])),
    "concat_str-series": lambda s: units().with_columns(
        pl.concat_str([s, pl.col("units")]).alias("x")),
    "when-then": lambda s: units().with_columns(x=pl.when(pl.col("units") > 0).then(pl.lit(s))),
    "when-then-otherwise": lambda s: units().with_columns(
        x=pl.when(pl.col("units") > 1).then(s).otherwise(pl.lit("none"))),
    "when-chained": lambda s: units().with_columns(
        x=pl.when(pl.col("units") > 2).then(pl.lit("a")).when(pl.col("units") > 0)
        .then(pl.lit(s)).otherwise(None)),
    "lit-namespace-methods": lambda s: units().select(
        pl.lit(s).str.to_uppercase().str.replace("@", "#").alias("x")),
    "lit-name-namespace": lambda s: units().select(
        pl.lit(s.alias("email")).name.suffix("_x")).rename({"email_x": "x"}),
    "arithmetic-with-a-column": lambda s: units().with_columns(
        x=pl.lit(s).str.len_chars() * 1000 + pl.col("units")),
    "select-lazy-collect": lambda s: units().lazy().with_columns(
        pl.lit(s).alias("x")).collect(),
    "LazyFrame-select": lambda s: pl.LazyFrame({"units": [1, 2, 3]}).select(
        "units", x=pl.lit(s)).collect(),
    "pl.select": lambda s: pl.select(x=pl.lit(s)),
    "insert_column": lambda s: units().insert_column(1, pl.lit(s).alias("x")),
    "group_by-key": lambda s: units().group_by(pl.lit(s).alias("x")).agg(pl.col("units").sum()),
    "group_by-agg": lambda s: units().group_by("units").agg(
        pl.lit(s).first().alias("x")),
    "pipe": lambda s: units().with_columns(x=pl.lit(s).pipe(lambda e: e.str.to_uppercase())),
    # frame methods that put the values they are given into the frame's columns
    "fill_null-lit": lambda s: notes().fill_null(pl.lit(s)),
    "fill_null-series": lambda s: notes().fill_null(s),
    "lazy-fill_null": lambda s: notes().lazy().fill_null(pl.lit(s).str.to_uppercase()).collect(),
    "shift-fill_value": lambda s: notes().shift(1, fill_value=pl.lit(s).max()),
}


def notes() -> pl.DataFrame:
    return pl.DataFrame({"x": [None, "b", None]}, schema={"x": pl.String})


@pytest.mark.parametrize("route", ROUTES, ids=list(ROUTES))
def test_a_series_in_an_expression_keeps_its_class(people, downloads, route):
    s = people["email"].str.reverse()
    out = ROUTES[route](s)
    assert "x" in out.columns
    assert kind(out) == "pii", governed_polars.classification(out).reasoning
    assert governed_polars.classification(out).tier is Tier.PROPRIETARY
    assert ("src.csv", "email") in origins(out)
    target = downloads / f"{route}.csv"
    with pytest.raises(GovernanceViolation):
        out.write_csv(target)
    assert not target.exists()


def test_the_reported_leak_is_denied_as_a_series_is(people, downloads):
    s = people["email"].str.reverse()
    for i, out in enumerate((units().with_columns(x=pl.lit(s)), units().with_columns(x=s))):
        with pytest.raises(GovernanceViolation, match="PROPRIETARY"):
            out.write_csv(downloads / f"lit{i}.csv")
        assert not (downloads / f"lit{i}.csv").exists()


def test_the_decision_audit_and_lineage_see_the_source_column(people, downloads):
    from lacuna.governor import current

    out = units().with_columns(x=pl.concat_str([pl.lit(people["email"].str.reverse()),
                                                pl.col("units")]))
    with pytest.raises(GovernanceViolation):
        out.write_csv(downloads / "out.csv")
    record = current().audit.list(limit=1)[0]
    assert (record.action, record.allowed) == ("export", False)
    assert "pii" in record.body.lower()
    state = governed_polars._ops.state(out)
    kinds = {(Path(o.dataset.name).name, o.column, o.kind.value) for o in state.origins["x"]}
    assert ("src.csv", "email", "transformation") in kinds
    assert kind(out, "units") == "public"


def test_a_literal_adds_to_the_columns_the_expression_reads(people, downloads):
    """A public literal combined with the governed frame's e-mail column: the column keeps the
    e-mail's class (the literal adds to it, it does not replace it)."""
    public = people["city"].str.reverse()
    out = people.select(x=pl.concat_str([pl.lit(public), pl.col("email")]))
    assert kind(out) == "pii"
    assert {("src.csv", "email"), ("src.csv", "city")} <= origins(out)
    with pytest.raises(GovernanceViolation):
        out.write_csv(downloads / "both.csv")
    member = units().with_columns(x=pl.col("units").cast(pl.String).is_in(
        people["email"].str.reverse()))
    assert kind(member) == "pii"  # as a binary Series operation: the strictest operand


# literals of plain values, and a public column of the governed frame: allowed
PLAIN: dict[str, Callable[[pl.DataFrame], pl.DataFrame]] = {
    "lit-int": lambda d: units().with_columns(x=pl.lit(5)),
    "lit-str": lambda d: units().with_columns(pl.lit("x").alias("x")),
    "lit-plain-series": lambda d: units().with_columns(
        x=pl.lit(pl.Series(["a", "b", "c"])).str.to_uppercase()),
    "plain-series-unhooked-free": lambda d: units().with_columns(
        x=pl.concat_str([pl.Series(["a", "b", "c"]), pl.col("units")])),
    "is_in-list": lambda d: units().with_columns(x=pl.col("units").is_in([1, 3])),
    "replace-lists": lambda d: units().with_columns(x=pl.col("units").replace([1, 2], [7, 8])),
    "when-then-plain": lambda d: units().with_columns(
        x=pl.when(pl.col("units") > 1).then(pl.lit(pl.Series(["p", "q", "r"]))).otherwise(
            pl.lit("z"))),
    "lazy-plain-series": lambda d: units().lazy().with_columns(
        pl.lit(pl.Series("x", [0.5, 1.5, 2.5]))).collect(),
    "sql_expr-in-list": lambda d: units().with_columns(x=pl.sql_expr("units IN (1, 3)")),
    "fill_null-plain": lambda d: notes().fill_null(pl.lit(pl.Series(["p", "q", "r"]))),
    "fill_null-value": lambda d: notes().fill_null("none").shift(1, fill_value="z"),
    "public-column-of-a-governed-frame": lambda d: units().with_columns(
        x=pl.lit(d["city"].str.reverse())),
}


@pytest.mark.parametrize("route", PLAIN, ids=list(PLAIN))
def test_a_literal_of_public_values_still_exports(people, downloads, route):
    out = PLAIN[route](people)
    assert governed_polars.classification(out).tier is Tier.PUBLIC, \
        governed_polars.classification(out).reasoning
    target = downloads / f"{route}.csv"
    out.write_csv(target)  # allowed
    back = pl.read_csv(target)
    assert back.columns == out.columns
    assert back["x"].cast(pl.String).to_list() == out["x"].cast(pl.String).to_list()
    if route == "public-column-of-a-governed-frame":
        assert back["x"].to_list() == ["olsO", "amiL", "enuP"]
        assert ("src.csv", "city") in origins(out)


def test_an_expression_without_literals_is_not_marked(people):
    plain = pl.col("units").cast(pl.String).str.to_uppercase().alias("y") + "1"
    assert _series.EXPRS.get(plain) is None
    assert _series.EXPRS.get(pl.col("units").is_in([1])) is _series.PLAIN
    tracked = _series.EXPRS.get(pl.lit(people["email"]).str.reverse())
    assert tracked is not None
    assert [c for s in tracked.sources for c in s.columns] == ["email"]


def test_a_literal_no_hook_saw_wrapped_fails_closed(people, downloads):
    """``polars.functions.lit`` is not the hooked ``pl.lit``: the expression holds the Series
    with nothing saying where it came from, so its column is PROPRIETARY, saying why."""
    s = people["email"].str.reverse()
    for out in (units().with_columns(x=unhooked_lit(s)),
                units().with_columns(x=unhooked_lit(s).is_in(["a", "b"])),
                units().with_columns(x=unhooked_lit(s).str.contains_any(["a", "b"])),
                units().with_columns(x=pl.lit(pl.Series(["a", "b", "c"])) + unhooked_lit(s)),
                # with a tracked public literal: not the public one's class alone
                units().with_columns(x=pl.lit(people["city"].str.reverse()) + unhooked_lit(s)),
                units().with_columns(x=pl.concat_str([pl.lit(people["city"]), unhooked_lit(s)])),
                units().with_columns(x=unhooked_lit(pl.Series(["a", "b", "c"])))):
        found = governed_polars.classification(out)
        assert found.tier is Tier.PROPRIETARY
        assert any("fail closed" in r and "'x'" in r and "lacuna.enable()" in r
                   for r in found.reasoning), found.reasoning
        with pytest.raises(GovernanceViolation):
            out.write_csv(downloads / "unknown.csv")
        assert not (downloads / "unknown.csv").exists()
    # a quoted name or string is not a literal Series
    out = units().with_columns(unhooked_lit("Series").alias("Series"))
    out.write_csv(downloads / "named.csv")
    assert pl.read_csv(downloads / "named.csv")["Series"].to_list() == ["Series"] * 3
    out = units().with_columns((pl.col("units") + 1).alias("a Series b"))
    assert governed_polars.classification(out).tier is Tier.PUBLIC
    out.write_csv(downloads / "spaced.csv")
    assert pl.read_csv(downloads / "spaced.csv")["a Series b"].to_list() == [2, 3, 4]


def test_uninstall_restores_expressions() -> None:
    from polars.expr.whenthen import ChainedThen, ChainedWhen, Then, When

    owners = [pl.Expr, When, Then, ChainedWhen, ChainedThen, type(pl.col("a").str),
              type(pl.col("a").name), pl]
    before = [dict(vars(o)) for o in owners]
    with lacuna.governed():
        assert vars(pl.Expr)["__add__"] is not before[0]["__add__"]
        assert vars(pl.Expr)["str"] is not before[0]["str"]
        assert vars(When)["then"] is not before[1]["then"]
        assert vars(pl.Expr)["meta"] is before[0]["meta"]  # describes, not computes
    after = [dict(vars(o)) for o in owners]
    for owner, was, now in zip(owners, before, after, strict=True):
        changed = [k for k in set(was) | set(now) if was.get(k) is not now.get(k)]
        assert not changed, (owner, changed)
    assert inspect.isfunction(vars(pl.Expr)["__add__"])
