"""polars reshapes that make new columns (``unpivot``, ``unnest``, ``transpose``, ``to_dummies``,
a ``select`` after ``pivot``, a ``select`` renaming several columns by pattern) and polars SQL
(``pl.sql``, ``pl.SQLContext``, ``DataFrame.sql``/``LazyFrame.sql``) keep the class of the
columns their values come from.

Before, ``q.unpivot(index="region").select("value")`` and ``pl.SQLContext(t=q).execute("select
date_of_birth as born from t")`` wrote a date of birth to ~/Downloads as PUBLIC: the unpivoted
``value`` was mapped to no column, and ``pl.sql``/``SQLContext`` were not hooked, so the result
was classified from its values alone. ``date_of_birth`` here is personal by its name only (the
dates are not recognised from their values), so nothing at the boundary can rescue a lost
class. Public data and governed destinations still write, and read back equal.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

import lacuna
from lacuna.errors import GovernanceViolation
from lacuna.integrations.frames.state import STATES
from lacuna.model import Tier

pl = pytest.importorskip("polars")
cs = pytest.importorskip("polars.selectors")

from lacuna.integrations import polars as lpolars  # noqa: E402

ROWS = 24


def _write_kids(folder: Path) -> Path:
    path = folder / "kids.csv"
    path.write_text("person_id,date_of_birth,region,units\n" + "".join(
        f"P{i:03},201{i % 10}-0{1 + i % 9}-1{i % 10},R{i % 4},{i}\n" for i in range(ROWS)))
    return path


@pytest.fixture
def kids(governed: Path) -> pl.DataFrame:
    df = pl.read_csv(_write_kids(governed))
    assert lpolars.classification(df).columns["date_of_birth"].classification.value == "pii"
    assert lpolars.classification(df.select("region", "units")).tier is Tier.PUBLIC
    return df


def _sql_context(df: pl.DataFrame) -> pl.DataFrame:
    return pl.SQLContext(t=df).execute("select date_of_birth as born from t", eager=True)


def _sql_created(df: pl.DataFrame) -> pl.DataFrame:
    ctx = pl.SQLContext(t=df)
    ctx.execute("create table z as select date_of_birth as born, region from t")
    return ctx.execute("select born from z", eager=True)


def _relabelled(df: pl.DataFrame) -> pl.DataFrame:
    out = df.select("date_of_birth").head(3).transpose()
    out.columns = ["a", "b", "c"]
    return out


def _global_sql(df: pl.DataFrame) -> pl.DataFrame:
    kids_frame = df  # noqa: F841 - pl.sql finds it by name in this scope
    return pl.sql("select date_of_birth as born from kids_frame", eager=True)


def _global_sql_lazy(df: pl.DataFrame) -> pl.DataFrame:
    kids_lazy = df.lazy()  # noqa: F841 - pl.sql finds it by name in this scope
    return pl.sql("select region, date_of_birth as born from kids_lazy").collect()


def _registered_globals(df: pl.DataFrame) -> pl.DataFrame:
    kids_frame = df  # noqa: F841 - register_globals finds it in this scope
    return pl.SQLContext(register_globals=True).execute(
        "select date_of_birth as born from kids_frame", eager=True)


Route = Callable[[pl.DataFrame], pl.DataFrame]
# each route carries date_of_birth's values out under another name (or none at all)
LEAKS: dict[str, Route] = {
    "unpivot-all": lambda df: df.unpivot(index="region").select("value"),
    "unpivot-on": lambda df: df.unpivot("date_of_birth", index="region").select("value"),
    "unpivot-value_name": lambda df: df.unpivot(
        on=cs.starts_with("date"), index=["region"], value_name="v").select("v"),
    "unpivot-dropped-variable": lambda df: df.unpivot(
        on="date_of_birth", index="region").drop("variable"),
    "lazy-unpivot": lambda df: df.lazy().unpivot(index="region").select("value").collect(),
    "lazy-unpivot-on": lambda df: df.lazy().unpivot(
        on=["date_of_birth"], value_name="v").select("v").collect(),
    "unnest-select": lambda df: df.select(pl.struct("date_of_birth", "region").alias("s"))
    .unnest("s").rename({"date_of_birth": "b"}).select("b"),
    "lazy-unnest": lambda df: df.lazy().select(pl.struct("date_of_birth").alias("s"))
    .unnest("s").select(pl.col("date_of_birth").alias("b")).collect(),
    "with_columns-struct-unnest": lambda df: df.with_columns(
        s=pl.struct(pl.col("date_of_birth").alias("b"))).select("s").unnest("s"),
    "transpose-header-select": lambda df: df.select("date_of_birth").head(3).transpose(
        include_header=True).select("column_0"),
    "transpose-rename": lambda df: df.select("date_of_birth").head(3).transpose().rename(
        {"column_0": "x"}),
    "transpose-relabelled": _relabelled,
    "pivot-select": lambda df: df.pivot(on="region", index="person_id",
                                        values="date_of_birth").select(pl.col("R0").alias("z")),
    "pivot-rename": lambda df: df.pivot(on="region", index="person_id",
                                        values="date_of_birth").rename({"R0": "z"}).select("z"),
    "to_dummies": lambda df: df.select("date_of_birth").to_dummies().select(
        pl.all().name.prefix("x")),
    "to_dummies-columns": lambda df: df.to_dummies("date_of_birth", separator=":").drop(
        "person_id"),
    "select-all-prefix": lambda df: df.select(pl.all().name.prefix("x")).select(
        "xdate_of_birth"),
    "lazy-select-selector-suffix": lambda df: df.lazy().select(
        cs.starts_with("date").name.suffix("_x")).collect(),
    "SQLContext-eager": _sql_context,
    "SQLContext-frames": lambda df: pl.SQLContext(frames={"t": df}).execute(
        "select date_of_birth as born from t").collect(),
    "SQLContext-register": lambda df: pl.SQLContext().register("t", df.lazy()).execute(
        "select date_of_birth as born from t", eager=True),
    "SQLContext-register_many": lambda df: pl.SQLContext(eager=True).register_many(
        {"t": df}).execute("select upper(cast(date_of_birth as varchar)) as born from t"),
    "SQLContext-register_globals": _registered_globals,
    "SQLContext-series": lambda df: pl.SQLContext(s=df["date_of_birth"]).execute(
        "select date_of_birth as born from s", eager=True),
    "SQLContext-pandas": lambda df: pl.SQLContext(p=df.to_pandas()).execute(
        "select date_of_birth as born from p", eager=True),
    "SQLContext-arrow": lambda df: pl.SQLContext(a=df.to_arrow()).execute(
        "select date_of_birth as born from a", eager=True),
    "SQLContext-create-table": _sql_created,
    "SQLContext-columns-pattern": lambda df: pl.SQLContext(t=df).execute(
        "select columns('date_.*') from t", eager=True).rename({"date_of_birth": "born"}),
    "pl.sql": _global_sql,
    "pl.sql-lazy": _global_sql_lazy,
    "pl.sql-read_csv": lambda df: pl.sql(
        "select date_of_birth as born from read_csv('kids.csv')", eager=True),
    "DataFrame.sql": lambda df: df.sql("select date_of_birth as born from self"),
    "LazyFrame.sql": lambda df: df.lazy().sql(
        "select date_of_birth as born from kids", table_name="kids").collect(),
    # a horizontal function over a wildcard or selector: polars names no root column
    "concat_str-all": lambda df: df.select(pl.concat_str(pl.all(), separator="|").alias("row")),
    "concat_str-selector": lambda df: df.select(pl.concat_str(cs.all()).alias("row")),
    "concat_list-all": lambda df: df.select(pl.concat_list(pl.all().cast(pl.String))
                                            .alias("row")),
    "max_horizontal-all": lambda df: df.select(pl.max_horizontal(pl.all().cast(pl.String))
                                               .alias("row")),
    "struct-all": lambda df: df.select(pl.struct(pl.all()).alias("row")),
    "lazy-with_columns-concat": lambda df: df.lazy().with_columns(
        row=pl.concat_str(pl.col("*"))).select("row").collect(),
}


@pytest.mark.parametrize("route", LEAKS, ids=list(LEAKS))
def test_a_personal_column_reshaped_or_queried_is_denied_to_downloads(kids, governed, route):
    out = LEAKS[route](kids)
    assert lpolars.classification(out).tier >= Tier.PROPRIETARY, \
        lpolars.classification(out).reasoning
    target = governed / "Downloads" / f"{route}.csv"
    with pytest.raises(GovernanceViolation):
        out.write_csv(target)
    assert not target.exists()


@pytest.mark.parametrize("route", ["unpivot-all", "lazy-unnest", "SQLContext-eager",
                                   "pl.sql", "LazyFrame.sql"])
def test_the_column_takes_the_class_of_the_column_its_values_came_from(kids, route):
    out = LEAKS[route](kids)
    found = lpolars.classification(out)
    (name,) = out.columns
    assert found.columns[name].classification.value == "pii", found.reasoning


def test_unpivot_maps_value_to_the_unpivoted_columns_and_keeps_the_index(kids):
    both = lpolars.classification(kids.unpivot(["date_of_birth", "units"], index="region"))
    assert both.columns["value"].classification.value == "pii"
    assert both.columns["region"].classification.value == "public"
    public = lpolars.classification(kids.unpivot("units", index="region"))
    assert public.tier is Tier.PUBLIC, public.reasoning
    assert {c.classification.value for c in public.columns.values()} == {"public"}


def test_sql_follows_the_statement_column_by_column(kids):
    ctx = pl.SQLContext(t=kids, u=kids.select("person_id", pl.col("region").alias("r2")))
    out = ctx.execute("select t.units, u.r2 from t join u using (person_id)", eager=True)
    found = lpolars.classification(out)
    assert found.tier is Tier.PUBLIC, found.reasoning
    assert found.columns["r2"].classification.value == "public"


def test_a_statement_lacuna_cannot_follow_carries_every_registered_table(kids):
    """``COLUMNS('…')`` selects by pattern: the column lineage cannot say which; fail closed,
    the strictest table as the floor, even for a public pattern."""
    out = pl.SQLContext(t=kids).execute("select columns('reg.*') from t", eager=True)
    found = lpolars.classification(out)
    assert found.tier is Tier.PROPRIETARY
    assert found.floor is Tier.PROPRIETARY
    tracked = STATES.get(out)
    assert tracked is not None
    assert any("fail closed" in r and "COLUMNS" in r for r in
               tracked.classification.reasoning), tracked.classification.reasoning


def test_a_context_made_before_enable_is_classified_from_its_frames(sandbox, sandbox_config):
    lacuna.disable()
    ctx = pl.SQLContext(k=pl.read_csv(_write_kids(sandbox)))
    lacuna.enable(sandbox_config())
    try:
        out = ctx.execute("select date_of_birth as born from k", eager=True)
        with pytest.raises(GovernanceViolation):
            out.write_csv(sandbox / "Downloads" / "early.csv")
    finally:
        lacuna.disable()
    assert not (sandbox / "Downloads" / "early.csv").exists()


def test_a_name_registered_again_takes_the_new_frame(kids, governed):
    ctx = pl.SQLContext(t=kids)
    ctx.unregister("t")
    ctx.register("t", pl.DataFrame({"region": ["R0", "R1"], "units": [1, 2]}))
    out = ctx.execute("select * from t", eager=True)
    target = governed / "Downloads" / "again.csv"
    out.write_csv(target)
    assert pl.read_csv(target).equals(out)


def _kids_sql(df: pl.DataFrame) -> pl.DataFrame:
    kids_frame = df  # noqa: F841 - pl.sql finds it by name in this scope
    return pl.sql("select region, sum(units) as total from kids_frame group by region "
                  "order by region", eager=True)


# public columns through the same routes: still written to ~/Downloads
PUBLIC: dict[str, Route] = {
    "unpivot": lambda df: df.unpivot("units", index="region"),
    "lazy-unpivot": lambda df: df.lazy().unpivot(on=["units"], index="region").collect(),
    "unpivot-index": lambda df: df.unpivot(index="region").select("region"),
    "unnest": lambda df: df.select(pl.struct("region", "units").alias("s")).unnest("s"),
    "transpose": lambda df: df.select("units").head(3).transpose(include_header=True),
    "to_dummies": lambda df: df.select("region", "units").to_dummies("region"),
    "select-prefix": lambda df: df.select(pl.col("region", "units").name.prefix("p_")),
    "SQLContext": lambda df: pl.SQLContext(t=df).execute(
        "select region as r, units * 2 as twice from t", eager=True),
    "SQLContext-lazy": lambda df: pl.SQLContext(frames={"t": df.lazy()}).execute(
        "select region, count(*) as n from t group by region order by region").collect(),
    "pl.sql": _kids_sql,
    "DataFrame.sql": lambda df: df.sql("select region, units from self"),
    "pl.sql-read_csv": lambda df: pl.sql(
        "select region, units from read_csv('kids.csv') order by units", eager=True),
    "LazyFrame.sql": lambda df: df.lazy().sql("select units from self").collect(),
    # a wildcard over public columns only; what reads no column stays public too
    "concat_str-selected": lambda df: df.select("region", "units").select(
        pl.concat_str(pl.all(), separator="|").alias("row")),
    "len-and-range": lambda df: df.select(pl.len().alias("n"), pl.lit("x").alias("tag")),
}


@pytest.mark.parametrize("route", PUBLIC, ids=list(PUBLIC))
def test_public_columns_through_the_same_routes_still_export(kids, governed, route):
    out = PUBLIC[route](kids)
    found = lpolars.classification(out)
    assert found.tier is Tier.PUBLIC, found.reasoning
    target = governed / "Downloads" / f"{route}.csv"
    out.write_csv(target)
    back = pl.read_csv(target, schema=out.schema)
    assert back.equals(out)


@pytest.mark.parametrize("route", ["unpivot-on", "lazy-unnest", "transpose-rename",
                                   "SQLContext-eager", "pl.sql", "DataFrame.sql"])
def test_personal_columns_still_write_to_governed_storage(kids, governed, route):
    out = LEAKS[route](kids)
    target = governed / "governed" / "workspace" / f"{route}.parquet"
    out.write_parquet(target)
    back = pl.read_parquet(target)
    assert back.equals(out)
    found = lpolars.classification(back).columns
    assert {found[c].classification.value for c in back.columns} == {"pii"}


@pytest.mark.parametrize("eager", [True, False], ids=["eager", "lazy"])
def test_a_sealed_file_named_in_sql_is_refused_before_polars_reads_it(kids, governed, eager):
    from lacuna.errors import StorageError

    sealed = governed / "governed" / "workspace" / "sealed.csv"
    kids.write_csv(sealed)
    with pytest.raises(StorageError, match=r"pl\.scan_csv"):
        pl.sql(f"select region from read_csv('{sealed}')", eager=eager)
    assert pl.read_csv(sealed).equals(kids)  # read through Lacuna: decrypted
