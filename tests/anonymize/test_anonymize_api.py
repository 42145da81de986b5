from __future__ import annotations

from typing import Any

import pandas as pd
import pytest

from lacuna import _bypass
from lacuna.anonymize import Context, Strategy, UnknownColumnError, anonymize, strategies
from lacuna.anonymize.builtin.hash import PSEUDONYMISATION_NOTE
from lacuna.config import Config
from lacuna.errors import ClassificationError
from lacuna.lineage.state import DataState, LineageNode, get_state, set_state
from lacuna.model import (
    ANONYMIZED,
    Classification,
    ColumnClass,
    ColumnKind,
    Evidence,
    Layer,
    Sensitivity,
    Tier,
)


def state(df: pd.DataFrame) -> DataState:
    found = get_state(df)
    assert found is not None
    return found


def test_anonymize_reclassifies_to_internal(
    customers: pd.DataFrame, source_lineage: LineageNode
) -> None:
    out = anonymize(customers, ["email", "phone"], strategy="hash", key="0123456789abcdef")
    cls = state(out).classification
    assert (cls.tier, cls.tags, cls.personal_columns) == (
        Tier.INTERNAL,
        ("FINANCIAL", ANONYMIZED),
        (),
    )
    assert cls.floor == Tier.PUBLIC
    assert cls.layer == Layer.INHERITED
    assert cls.reasoning == (
        "anonymized email, phone with hash",
        "INTERNAL because of column(s): revenue",
    )
    note = f"keyed HMAC-SHA256, key anonymize from argument; {PSEUDONYMISATION_NOTE}"
    assert cls.columns["email"] == ColumnClass(  # a pseudonym: an identifier, not anonymous
        classification=ColumnKind.IDENTIFIER,
        sensitivity=Sensitivity.MEDIUM,
        reasoning="anonymized with hash: pseudonymised (not anonymous while the key exists); "
                  f"{note}; was pii:email",
        layer=Layer.DECLARED,
        evidence=(
            Evidence(
                source="anonymize",
                rule="anonymize:hash",
                detail=f"values replaced by the hash strategy; {note}; was pii:email",
            ),
        ),
    )
    assert cls.columns["revenue"] == customers.attrs["lacuna"].classification.columns["revenue"]
    lineage = state(out).lineage
    assert (lineage.name, lineage.operation, lineage.parents) == (
        None,
        "anonymize.hash",
        (source_lineage,),
    )
    assert lineage.roots() == ("customers.csv",)


def test_anonymize_defaults_to_every_personal_column(customers: pd.DataFrame) -> None:
    out = anonymize(customers, key="0123456789abcdef")
    assert out["revenue"].equals(customers["revenue"])
    assert out["email"][0] != "jane@example.com"
    assert out["phone"][0] != "+1 555-123-4567"
    assert state(out).classification.personal_columns == ()


def test_anonymize_accepts_the_seed_alias_and_a_single_name(customers: pd.DataFrame) -> None:
    a = anonymize(customers, pii_columns=["email", "phone"], key="0123456789abcdef")
    b = anonymize(customers, ["email", "phone"], key="0123456789abcdef")
    pd.testing.assert_frame_equal(a, b)
    c = anonymize(customers, "email", key="0123456789abcdef")
    assert c["phone"].equals(customers["phone"])
    with pytest.raises(TypeError, match="either columns= or its alias pii_columns="):
        anonymize(customers, ["email"], pii_columns=["phone"])


def test_anonymize_never_mutates_its_input(customers: pd.DataFrame) -> None:
    before = customers.copy()
    before_state = customers.attrs["lacuna"]
    out = anonymize(customers, strategy="mask")
    pd.testing.assert_frame_equal(customers, before)
    assert customers.attrs["lacuna"] is before_state
    assert out.attrs is not customers.attrs
    out.loc[0, "revenue"] = -1.0
    assert customers.loc[0, "revenue"] == 120.5


@pytest.mark.parametrize("strategy", ["hash", "mask", "redact"])
def test_anonymize_keeps_nulls_and_index(customers: pd.DataFrame, strategy: str) -> None:
    customers.index = pd.Index([10, 20, 30, 40])
    out = anonymize(customers, strategy=strategy, key="0123456789abcdef")
    assert out.index.equals(customers.index)
    assert out.isna().equals(customers.isna())


def test_anonymize_some_personal_columns_left(customers: pd.DataFrame) -> None:
    out = anonymize(customers, ["email"], strategy="redact")
    cls = state(out).classification
    assert cls.tier == Tier.PROPRIETARY
    assert cls.tags == ("PII", "GDPR", "FINANCIAL", ANONYMIZED)
    assert cls.personal_columns == ("phone",)


def with_classification(df: pd.DataFrame, **changes: Any) -> pd.DataFrame:
    import dataclasses

    old = state(df)
    new = dataclasses.replace(old.classification, **changes)
    return set_state(df.copy(), dataclasses.replace(old, classification=new))


def test_floor_from_personal_data_only_is_lifted(customers: pd.DataFrame) -> None:
    # e.g. a /pii/ path rule: floor PROPRIETARY with nothing but a personal table tag.
    df = with_classification(
        customers, floor=Tier.PROPRIETARY, tags=("PII", "GDPR", "FINANCIAL", "CCPA")
    )
    cls = state(anonymize(df, key="0123456789abcdef")).classification
    assert (cls.floor, cls.tier, cls.tags) == (
        Tier.PUBLIC,
        Tier.INTERNAL,
        ("FINANCIAL", ANONYMIZED),
    )


def test_floor_with_a_business_tag_is_kept(customers: pd.DataFrame) -> None:
    df = with_classification(
        customers, floor=Tier.PROPRIETARY, tags=("PII", "GDPR", "FINANCIAL", "CUSTOMER_DATA")
    )
    cls = state(anonymize(df, key="0123456789abcdef")).classification
    assert (cls.floor, cls.tier) == (Tier.PROPRIETARY, Tier.PROPRIETARY)
    assert cls.tags == ("FINANCIAL", "CUSTOMER_DATA", ANONYMIZED)
    assert "PROPRIETARY from the table-level floor" in cls.reasoning


def test_floor_without_table_tags_is_kept(customers: pd.DataFrame) -> None:
    df = with_classification(customers, floor=Tier.PROPRIETARY)
    cls = state(anonymize(df, key="0123456789abcdef")).classification
    assert (cls.floor, cls.tier) == (Tier.PROPRIETARY, Tier.PROPRIETARY)


def test_floor_is_kept_while_personal_columns_remain(customers: pd.DataFrame) -> None:
    df = with_classification(
        customers, floor=Tier.PROPRIETARY, tags=("PII", "GDPR", "FINANCIAL", "CCPA")
    )
    cls = state(anonymize(df, ["email"], key="0123456789abcdef")).classification
    assert (cls.floor, cls.tags) == (
        Tier.PROPRIETARY,
        ("PII", "GDPR", "FINANCIAL", "CCPA", ANONYMIZED),
    )


def test_unknown_column_names_it_and_lists_the_columns(customers: pd.DataFrame) -> None:
    with pytest.raises(UnknownColumnError) as info:
        anonymize(customers, ["emial"])
    assert str(info.value) == (
        "cannot anonymize column 'emial': the frame has no such column. "
        "Did you mean 'email'? Columns: email, phone, revenue."
    )
    assert info.value.column == "emial"
    assert isinstance(info.value, ClassificationError)
    assert isinstance(info.value, LookupError)


def test_a_misspelt_column_of_a_strategy_mapping_is_refused_beside_columns(
        customers: pd.DataFrame) -> None:
    """With columns= given, {"emial": "redact"} was ignored: the e-mails got the default
    strategy (a keyed hash, re-linkable by whoever holds the key) instead of being redacted."""
    with pytest.raises(UnknownColumnError, match=r"'emial'.*Did you mean 'email'"):
        anonymize(customers, ["email", "phone"], strategy={"emial": "redact", "phone": "redact"})
    out = anonymize(customers, ["email", "phone"], strategy={"email": "redact", "phone": "redact"})
    assert out["email"].dropna().unique().tolist() == ["[REDACTED]"]


def test_non_frame_is_refused() -> None:
    with pytest.raises(TypeError, match="takes a pandas DataFrame, got list"):
        anonymize([1, 2])  # type: ignore[arg-type]


def test_frame_without_state_is_classified_first() -> None:
    out = anonymize(pd.DataFrame({"email": ["a@b.com", "c@d.org"], "n": [1, 2]}), strategy="mask")
    assert out["email"].tolist() == ["a***@b***.com", "c***@d***.org"]
    st = state(out)
    assert (st.classification.tier, st.classification.tags) == (Tier.PUBLIC, (ANONYMIZED,))
    assert st.lineage.parents[0].operation == "in-memory"


def test_the_source_lineage_is_kept() -> None:
    node = LineageNode(name="in.csv", operation="read_csv")
    df = pd.DataFrame({"x": ["a"]})
    set_state(df, DataState(classification=Classification(
        columns={"x": ColumnClass(classification=ColumnKind.PII)}), lineage=node))
    out = anonymize(df, strategy="redact")
    assert state(out).lineage.parents == (node,)


def test_nothing_personal_leaves_values_and_classification(customers: pd.DataFrame) -> None:
    declared_public = {str(c): ColumnClass() for c in customers.columns}
    df = with_classification(customers, columns=declared_public, tags=(), tier=Tier.INTERNAL)
    out = anonymize(df)
    pd.testing.assert_frame_equal(out, df)
    assert state(out).classification == state(df).classification
    assert state(out).lineage.operation == "anonymize.hash"


def test_duplicate_column_names_are_all_treated() -> None:
    df = pd.DataFrame([["a@b.com", "c@d.com"]], columns=["email", "email"])
    out = anonymize(df, ["email"], strategy="redact")
    assert out.iloc[0].tolist() == ["[REDACTED]", "[REDACTED]"]
    assert df.iloc[0].tolist() == ["a@b.com", "c@d.com"]


def test_strategies_run_inside_bypass(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[bool] = []

    class Probe(Strategy):
        name = "probe"

        def apply(self, values: pd.Series, context: Context) -> pd.Series:
            seen.append(_bypass.active())
            return values

    monkeypatch.setitem(strategies._items, "probe", Probe)
    anonymize(pd.DataFrame({"x": ["a"]}), ["x"], "probe")
    assert seen == [True]
    assert not _bypass.active()


def test_custom_mapping_from_config(customers: pd.DataFrame) -> None:
    config = Config.model_validate(
        {"classification": {"mapping": {"financial": {"tier": "PROPRIETARY", "tags": ["SOX"]}}}}
    )
    cls = state(anonymize(customers, key="0123456789abcdef", config=config)).classification
    assert (cls.tier, cls.tags) == (Tier.PROPRIETARY, ("SOX", "FINANCIAL", ANONYMIZED))


@pytest.mark.parametrize("asked", ["1", 1])
def test_columns_whose_labels_read_the_same_are_treated_together(asked: Any) -> None:
    """Labels 1 and "1" are one column "1" to the classification: treating only the one asked
    for relabelled the other, still holding raw e-mails, as redacted, and the frame PUBLIC."""
    emails = [f"person{i}@example.com" for i in range(6)]
    df = pd.DataFrame({1: emails, "n": range(6)})
    df["1"] = list(reversed(emails))
    out = anonymize(df, [asked], strategy="redact")
    assert out.columns.tolist() == [1, "n", "1"]
    assert out.iloc[:, 0].tolist() == out.iloc[:, 2].tolist() == ["[REDACTED]"] * 6
    assert out["n"].tolist() == list(range(6))  # the rest as it was
    assert df.iloc[:, 0].tolist() == emails  # the input untouched
    cls = state(out).classification
    assert (cls.tier, cls.columns["1"].classification) == (Tier.PUBLIC, ColumnKind.PUBLIC)
    # a label that reads differently is left alone, and keeps the frame personal
    other = anonymize(df.rename(columns={1: "email"}), ["1"], strategy="redact")
    assert other["email"].tolist() == emails
    assert state(other).classification.tier > Tier.PUBLIC


def test_a_column_named_like_an_index_level_stays_personal_while_the_index_holds_it(
        governed) -> None:
    """The classification names the column "email" and the index level "email" alike: redacting
    the column called both public, and to_csv wrote the raw e-mails of the index to Downloads."""
    from lacuna.errors import GovernanceViolation

    emails = [f"person{i}@example.com" for i in range(6)]
    df = pd.DataFrame({"email": emails, "n": range(6)}).set_index(pd.Index(emails, name="email"))
    out = anonymize(df, ["email"], strategy="redact")
    assert out["email"].tolist() == ["[REDACTED]"] * 6  # the column is treated
    assert out.index.tolist() == emails  # the index is not
    cls = state(out).classification
    assert (cls.tier, cls.columns["email"].classification) == (Tier.PROPRIETARY, ColumnKind.PII)
    assert "index level 'email' has the same name and still holds the original values" in \
        cls.columns["email"].reasoning
    target = governed / "Downloads" / "out.csv"
    with pytest.raises(GovernanceViolation):
        out.to_csv(target)
    assert not target.exists()
    # the way out the reasoning names: the index as a column, anonymized too
    flat = anonymize(df.rename_axis("contact").reset_index(), ["email", "contact"],
                     strategy="redact")
    assert state(flat).classification.tier == Tier.PUBLIC
    flat.to_csv(target, index=False)
    back = pd.read_csv(target)
    assert back.columns.tolist() == ["contact", "email", "n"]
    assert set(back["contact"]) == set(back["email"]) == {"[REDACTED]"}


def _people(folder: Any, n: int) -> pd.DataFrame:
    """``n`` people (an e-mail each, a ZIP code shared by a tenth, a plan shared by a third),
    written ungoverned to ``folder``/people.csv and read back governed: PII to anonymize."""
    raw = pd.DataFrame({"email": [f"user{i}@corp.example" for i in range(n)],
                        "zip_code": [f"9410{i % 10}" for i in range(n)],
                        "plan": ["a", "b", "c"] * (n // 3)})
    with _bypass.bypass():
        raw.to_csv(folder / "people.csv", index=False)
    return pd.read_csv(folder / "people.csv")


def test_rows_taken_out_of_a_k_anonymous_release_as_arrow_are_counted_again(governed) -> None:
    """An Arrow slice or take (a DuckDB relation's ``limit``) keeps its table's state, and
    neither carries content fingerprints: one person's row of a k-anonymous release (a ZIP
    band per 6 people) was PUBLIC and written to Downloads."""
    pa = pytest.importorskip("pyarrow")
    duckdb = pytest.importorskip("duckdb")
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    from lacuna.errors import GovernanceViolation

    n = 60
    people = _people(governed, n)
    out = anonymize(people, strategy={"email": "redact", "zip_code": "generalize"})
    assert state(out).classification.tier == Tier.PUBLIC
    table = pa.Table.from_pandas(out, preserve_index=False)
    downloads = governed / "Downloads"
    pq.write_table(table, downloads / "all.parquet")  # the whole release: allowed
    assert pq.read_table(downloads / "all.parquet").num_rows == n
    pq.write_table(table.filter(pa.compute.equal(table["plan"], "a")),  # k=20: allowed
                   downloads / "plan_a.parquet")
    for how, rows in (("slice", table.slice(7, 1)), ("take", table.take([7, 8]))):
        with pytest.raises(GovernanceViolation, match="not anonymous any more"):
            pq.write_table(rows, downloads / f"{how}.parquet")
        with pytest.raises(GovernanceViolation, match="not anonymous any more"):
            pacsv.write_csv(rows, downloads / f"{how}.csv")
        assert not (downloads / f"{how}.parquet").exists()
        assert not (downloads / f"{how}.csv").exists()
    relation = duckdb.from_df(out)
    relation.write_csv(str(downloads / "all.csv"))  # the whole release: allowed
    with pytest.raises(GovernanceViolation, match="not anonymous any more"):
        relation.limit(1).write_csv(str(downloads / "limit.csv"))
    assert not (downloads / "limit.csv").exists()
    anon = out  # noqa: F841  (scanned by name by DuckDB's SQL below)
    duckdb.sql("select * from anon where plan = 'a'").write_csv(  # k=20: allowed
        str(downloads / "sql_plan_a.csv"))
    assert len(pd.read_csv(downloads / "sql_plan_a.csv")) == n // 3
    with pytest.raises(GovernanceViolation, match="not anonymous any more"):
        duckdb.sql("select * from anon limit 1").write_csv(str(downloads / "sql_one.csv"))
    assert not (downloads / "sql_one.csv").exists()


def test_rows_copied_out_of_a_k_anonymous_release_by_duckdb_are_counted_again(governed) -> None:
    """``COPY (SELECT … FROM anon WHERE …) TO`` over a frame DuckDB scans by name wrote one
    person's row of a k-anonymous release to Downloads: a relation's write counted k again on
    its rows, a ``COPY`` never did."""
    duckdb = pytest.importorskip("duckdb")

    from lacuna.errors import GovernanceViolation

    n = 60
    people = _people(governed, n)
    anon = anonymize(people, strategy={"email": "hash", "zip_code": "generalize"},
                     key="0123456789abcdef")
    assert state(anon).classification.tier == Tier.PUBLIC
    downloads = governed / "Downloads"
    bob = anon["email"][7]
    for i, run in enumerate((duckdb.sql, duckdb.connect().execute)):
        for where in (f"WHERE email = '{bob}'", "LIMIT 1"):
            target = downloads / f"one_{i}_{len(where)}.csv"
            with pytest.raises(GovernanceViolation, match="not anonymous any more"):
                run(f"COPY (SELECT * FROM anon {where}) TO '{target}' (HEADER)")
            assert not target.exists()
        # the whole release, and rows whose groups all keep k (20 a plan): allowed, as written
        everyone, plan_a = downloads / f"all_{i}.csv", downloads / f"plan_a_{i}.csv"
        run(f"COPY (SELECT * FROM anon) TO '{everyone}' (HEADER)")
        run(f"COPY (SELECT * FROM anon WHERE plan = 'a') TO '{plan_a}' (HEADER)")
        back = pd.read_csv(everyone)
        assert back["email"].tolist() == anon["email"].tolist()
        assert back["zip_code"].tolist() == anon["zip_code"].tolist()
        assert len(pd.read_csv(plan_a)) == n // 3
    # a record batch reader can be read once only: k cannot be counted on what it gives, so
    # the COPY is refused (it wrote the row before), saying how to write it instead
    import pyarrow as pa

    from lacuna.errors import IntegrationError

    reader = pa.Table.from_pandas(anon).to_reader()  # noqa: F841  (scanned by name below)
    with pytest.raises(IntegrationError, match=r"cannot count k-anonymity again.*read_all"):
        duckdb.sql(f"COPY (SELECT * FROM reader LIMIT 1) TO '{downloads / 'r.csv'}' (HEADER)")
    assert not (downloads / "r.csv").exists()
    # the same rows into a table of another database file (CREATE TABLE … AS, INSERT … SELECT)
    con = duckdb.connect()
    con.execute(f"ATTACH '{downloads / 'out.duckdb'}' AS out")
    with pytest.raises(GovernanceViolation, match="not anonymous any more"):
        con.execute(f"CREATE TABLE out.bob AS SELECT * FROM anon WHERE email = '{bob}'")
    con.execute("CREATE TABLE out.everyone AS SELECT * FROM anon")  # allowed
    with pytest.raises(GovernanceViolation, match="not anonymous any more"):
        con.execute("INSERT INTO out.everyone SELECT * FROM anon LIMIT 1")
    with _bypass.bypass():
        assert con.execute("SELECT count(*) FROM out.everyone").fetchone() == (n,)
        assert con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'bob'"
                           ).fetchone() == (0,)


def test_a_row_of_a_k_anonymous_release_taken_out_as_a_series_is_counted_again(
        governed) -> None:
    """A row taken out as a Series (``iloc[7]``, ``loc``, ``xs``) or through a transpose
    (``anon.T[[7]]``) holds the quasi-identifiers' values under new labels: the row check saw
    no marked column, and one person's row of the release was written to Downloads as
    PUBLIC. The whole release transposed keeps its verdict."""
    from lacuna.errors import GovernanceViolation

    n = 60
    people = _people(governed, n)
    anon = anonymize(people, strategy={"email": "hash", "zip_code": "generalize"},
                     key="0123456789abcdef")
    assert state(anon).classification.tier == Tier.PUBLIC
    downloads = governed / "Downloads"
    rows = {"iloc": lambda: anon.iloc[7], "loc": lambda: anon.loc[7],
            "xs": lambda: anon.xs(7), "to_frame": lambda: anon.iloc[7].to_frame(),
            "T": lambda: anon.T[[7]], "T of rows": lambda: anon.iloc[[7, 8]].T,
            # a row-wise apply feeds every column from every column: the strictest class (the
            # hashed e-mail's) came without the ZIP band's mark, and its rows were not counted
            "apply": lambda: anon.apply(lambda r: r.str.upper(), axis=1).iloc[[7]]}
    for how, row in rows.items():
        target = downloads / f"{how}.csv"
        with pytest.raises(GovernanceViolation, match="not anonymous any more"):
            row().to_csv(target)
        assert not target.exists()
    with pytest.raises(GovernanceViolation, match="not anonymous any more"):
        anon.loc[7].to_json(downloads / "row.json")
    # the whole release transposed, and a transposed subset whose groups keep k: allowed
    anon.T.to_csv(downloads / "all.csv")
    back = pd.read_csv(downloads / "all.csv", index_col=0)
    assert back.loc["email"].tolist() == anon["email"].tolist()
    assert back.loc["zip_code"].tolist() == anon["zip_code"].tolist()
    anon.apply(lambda r: r.str.upper(), axis=1).to_csv(downloads / "upper.csv")
    assert pd.read_csv(downloads / "upper.csv", index_col=0)["zip_code"].tolist() == \
        anon["zip_code"].str.upper().tolist()
    # summaries per column hold numbers, no one's row: allowed as before
    anon.isna().sum().to_csv(downloads / "nulls.csv")
    anon.nunique().to_csv(downloads / "distinct.csv")
    assert pd.read_csv(downloads / "distinct.csv", index_col=0).iloc[:, 0].to_dict() == \
        {"email": n, "zip_code": 1, "plan": 3}
    plan_a = [i for i in range(n) if anon["plan"][i] == "a"]  # 20 rows, one ZIP band
    anon.T[plan_a].to_csv(downloads / "plan_a.csv")
    assert pd.read_csv(downloads / "plan_a.csv", index_col=0).shape == (3, n // 3)


def test_a_config_passed_to_anonymize_cannot_lower_the_governors_classification(
        sandbox, sandbox_config) -> None:  # type: ignore[no-untyped-def]
    """``config=`` says how to anonymize, not what the output is classified as: ``k_anonymity:
    2`` passed in declared a release of groups of 60 anonymous under a governor that asked for
    100, and a mapping of ``pii`` to PUBLIC made raw names PUBLIC; both were written to
    Downloads."""
    import lacuna
    from lacuna.errors import GovernanceViolation

    n = 60
    raw = pd.DataFrame({"email": [f"user{i}@corp.example" for i in range(n)],
                        "zip_code": [f"9410{i % 10}" for i in range(n)]})
    raw.to_csv(sandbox / "people.csv", index=False)
    weak = sandbox_config(classification={"k_anonymity": 2})
    lacuna.enable(sandbox_config(classification={"k_anonymity": 100}))
    try:
        people = pd.read_csv(sandbox / "people.csv")
        out = anonymize(people, strategy={"email": "hash", "zip_code": "generalize"},
                        key="0123456789abcdef", config=weak)
        cls = state(out).classification
        assert cls.tier == Tier.PROPRIETARY
        assert "k=60 < 100" in cls.columns["zip_code"].reasoning
        with pytest.raises(GovernanceViolation):
            out.to_csv(sandbox / "Downloads" / "weak.csv")
        assert not (sandbox / "Downloads" / "weak.csv").exists()
        names = pd.read_csv(sandbox / "customers.csv")  # raw names, phones, addresses
        lax = sandbox_config(classification={"mapping": {"pii": {"tier": "PUBLIC"}}})
        out = anonymize(names, ["email"], strategy="hash", key="0123456789abcdef", config=lax)
        assert state(out).classification.tier == Tier.PROPRIETARY
        assert out["name"].tolist() == names["name"].tolist()
        with pytest.raises(GovernanceViolation):
            out.to_csv(sandbox / "Downloads" / "names.csv")
        assert not (sandbox / "Downloads" / "names.csv").exists()
    finally:
        lacuna.disable()
    # under a governor at the default k (5) the same release is anonymous and is written
    lacuna.enable(sandbox_config())
    try:
        people = pd.read_csv(sandbox / "people.csv")
        out = anonymize(people, strategy={"email": "hash", "zip_code": "generalize"},
                        key="0123456789abcdef", config=weak)
        assert state(out).classification.tier == Tier.PUBLIC
        out.to_csv(sandbox / "Downloads" / "ok.csv", index=False)
        assert pd.read_csv(sandbox / "Downloads" / "ok.csv")["zip_code"].tolist() == \
            ["941**"] * n
    finally:
        lacuna.disable()
