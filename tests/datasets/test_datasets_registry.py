"""Registering, reading, refreshing: rebuilt when the source changes, never trusting a tampered
copy, stated transforms recorded, approval required."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest

import lacuna
from lacuna.config import Config
from lacuna.datasets import DatasetError, DatasetNotApproved, DatasetNotFound
from lacuna.lineage.sidecar import read_sidecar
from lacuna.lineage.state import get_state

STEWARD = "steward@example.com"


def test_entry_records_transform_owner_approval_lineage_and_location(sandbox, enabled):
    enabled()
    entry = lacuna.datasets.register("customers_anonymized", "customers.csv",
                                     approved_by=STEWARD, description="for dashboards")
    shown = lacuna.datasets.show("customers_anonymized")
    assert replace(shown, classification=None) == replace(entry, classification=None)
    assert shown.classification.to_dict() == entry.classification.to_dict()
    assert shown.source == str(sandbox / "customers.csv")
    assert shown.transform.kind == "anonymize"
    assert shown.transform.strategy is None
    assert shown.owner == "analyst_alice"
    assert shown.registered_by == "analyst_alice"
    assert shown.approved_by == STEWARD
    assert shown.approval == ("steward" if "stewards" in Config.model_fields else "recorded")
    assert shown.refresh == "on_read"
    governed = sandbox / "governed" / "workspace"
    assert os.path.dirname(shown.location) == str(governed / "datasets")
    assert os.path.isfile(shown.location)
    label = read_sidecar(shown.location)  # the copy carries its signed classification
    assert label is not None
    assert label.trusted
    assert label.classification.tier == lacuna.Tier.PUBLIC
    df = lacuna.datasets.get("customers_anonymized")
    state = get_state(df)
    assert state is not None
    assert state.lineage.roots() == (str(sandbox / "customers.csv"),)
    assert "ANONYMIZED" in state.classification.tags
    assert state.classification.tier == lacuna.Tier.PUBLIC


def test_rebuilt_when_the_source_changes_and_not_before(sandbox, enabled):
    enabled()
    lacuna.datasets.register("customers_anonymized", "customers.csv", approved_by=STEWARD)
    first = lacuna.datasets.show("customers_anonymized")
    assert len(lacuna.datasets.get("customers_anonymized")) == first.rows
    assert lacuna.datasets.show("customers_anonymized").built_at == first.built_at
    os.utime(sandbox / "customers.csv")  # touched, same content: not rebuilt
    lacuna.datasets.get("customers_anonymized")
    assert lacuna.datasets.show("customers_anonymized").built_at == first.built_at
    raw = pd.read_csv(sandbox / "customers.csv")
    with _off():
        raw.head(10).to_csv(sandbox / "customers.csv", index=False)
    again = lacuna.datasets.get("customers_anonymized")
    assert len(again) == 10
    assert lacuna.datasets.show("customers_anonymized").built_at != first.built_at


def test_manual_refresh_keeps_the_last_build_until_refreshed(sandbox, enabled):
    enabled()
    lacuna.datasets.register("c", "customers.csv", approved_by=STEWARD, refresh="manual")
    n = len(lacuna.datasets.get("c"))
    with _off():
        pd.read_csv(sandbox / "customers.csv").head(5).to_csv(sandbox / "customers.csv",
                                                             index=False)
    assert len(lacuna.datasets.get("c")) == n  # manual: the approved build stays
    (rebuilt,) = lacuna.datasets.refresh("c")
    assert rebuilt.rows == 5
    assert len(lacuna.datasets.get("c")) == 5


def test_a_tampered_copy_is_rebuilt_not_trusted(sandbox, enabled):
    enabled()
    entry = lacuna.datasets.register("c", "customers.csv", approved_by=STEWARD)
    with _off():
        pd.read_csv(sandbox / "customers.csv").to_parquet(entry.location)  # raw PII planted
    df = lacuna.datasets.get("c")
    raw = pd.read_csv(sandbox / "customers.csv")
    assert not set(df["email"]) & set(raw["email"])


def test_an_entry_edited_in_the_state_database_is_refused_not_served(sandbox, home, enabled):
    """The entry holds the class get() attaches and the copy's location and fingerprint: pointed
    at a raw copy with a matching fingerprint, it served raw PII with the dataset's lower class."""
    import hashlib
    import json
    import sqlite3

    from lacuna.datasets.store import DatasetTampered

    enabled()
    entry = lacuna.datasets.register("c", "customers.csv", approved_by=STEWARD)
    planted = os.path.join(os.path.dirname(entry.location), "planted.parquet")
    with _off():
        pd.read_csv(sandbox / "customers.csv").to_parquet(planted)  # raw PII
    db = sqlite3.connect(sandbox / "audit.db")
    body = json.loads(db.execute("SELECT body FROM lacuna_datasets WHERE name='c'").fetchone()[0])
    st = os.stat(planted)
    with open(planted, "rb") as fh:
        sha = hashlib.sha256(fh.read()).hexdigest()
    body["location"] = planted
    body["output_fingerprint"] = {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": sha}
    db.execute("UPDATE lacuna_datasets SET body=? WHERE name='c'", (json.dumps(body),))
    db.commit()
    with pytest.raises(DatasetTampered, match=r"'c' does not match its signature.*register it"):
        lacuna.datasets.get("c")
    assert [d.name for d in lacuna.datasets.list()] == []  # never listed or offered
    body.pop("signature")  # a row written by hand, unsigned
    db.execute("UPDATE lacuna_datasets SET body=? WHERE name='c'", (json.dumps(body),))
    db.commit()
    db.close()
    with pytest.raises(DatasetTampered, match="carries no Lacuna signature"):
        lacuna.datasets.show("c")
    lacuna.datasets.register("c", "customers.csv", approved_by=STEWARD)  # the way back
    # another dataset's signed entry copied into this row: refused, not served under this name
    lacuna.datasets.register("raw", "customers.csv", {"email": "keep"}, approved_by=STEWARD)
    db = sqlite3.connect(sandbox / "audit.db")
    good = db.execute("SELECT body FROM lacuna_datasets WHERE name='c'").fetchone()[0]
    other = db.execute("SELECT body FROM lacuna_datasets WHERE name='raw'").fetchone()[0]
    db.execute("UPDATE lacuna_datasets SET body=? WHERE name='c'", (other,))
    db.commit()
    with pytest.raises(DatasetTampered, match=r"'c' holds the signed entry of dataset 'raw'"):
        lacuna.datasets.get("c")
    assert [d.name for d in lacuna.datasets.list()] == ["raw"]
    db.execute("UPDATE lacuna_datasets SET body=? WHERE name='c'", (good,))  # put back
    db.commit()
    db.close()
    df = lacuna.datasets.get("c")
    raw = pd.read_csv(sandbox / "customers.csv")
    assert not set(df["email"]) & set(raw["email"])
    assert get_state(df).classification.tier == lacuna.Tier.PUBLIC


def test_a_copy_replaced_with_the_same_size_and_mtime_is_rebuilt(sandbox, enabled):
    """The copy's check trusted size + mtime: raw rows padded to the built size, with the mtime
    put back by os.utime, were served with the dataset's lower class."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    enabled(storage={"encrypt": False})
    entry = lacuna.datasets.register("c", "customers.csv", approved_by=STEWARD)
    st = os.stat(entry.location)
    with _off():
        raw = pd.read_csv(sandbox / "customers.csv")[["email"]]

    def plant(rows: int, pad: int) -> int:
        frame = raw.head(rows).assign(pad=["x" * pad] + [""] * (rows - 1))
        table = pa.Table.from_pandas(frame, preserve_index=False).replace_schema_metadata({})
        pq.write_table(table, entry.location, compression="NONE", use_dictionary=False,
                       write_statistics=False)
        return os.path.getsize(entry.location)

    with _off():  # as many raw rows as fit, padded to the built size (1 byte per character)
        for rows in range(len(raw), 0, -1):
            gap = st.st_size - plant(rows, 0)
            if gap >= 0 and any(plant(rows, gap - d) == st.st_size for d in range(min(gap, 8) + 1)):
                break
        assert os.path.getsize(entry.location) == st.st_size, "no planted file of the built size"
    os.utime(entry.location, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert (os.stat(entry.location).st_size, os.stat(entry.location).st_mtime_ns) == (
        st.st_size, st.st_mtime_ns)
    df = lacuna.datasets.get("c")
    assert not set(df["email"]) & set(raw["email"])  # rebuilt from the source, not served


@pytest.mark.parametrize("when", ["after the check", "while built"])
def test_a_copy_written_between_its_check_and_its_read_is_never_served(
        sandbox, enabled, monkeypatch, when):
    """The copy was hashed, then read again (get), or written, then hashed (the build): raw
    rows put there in between were served, or recorded as the build, with the dataset's
    lower class."""
    import lacuna.datasets.api as api
    from lacuna.lineage import sidecar

    enabled(storage={"encrypt": False})
    entry = lacuna.datasets.register("c", "customers.csv", approved_by=STEWARD,
                                     build=when == "after the check")
    with _off():
        raw = pd.read_csv(sandbox / "customers.csv")
    planted: list[str] = []

    def plant(location: str) -> None:
        if not planted:  # once: the rebuild after it is left alone
            planted.append(location)
            with _off():
                raw.to_parquet(location)

    if when == "after the check":
        real_fresh = api.fresh

        def fresh(store, e, gov):  # type: ignore[no-untyped-def]
            checked = real_fresh(store, e, gov)
            plant(checked.location)
            return checked

        monkeypatch.setattr(api, "fresh", fresh)
    else:
        real_sidecar = sidecar.write_sidecar

        def write_sidecar(target, *args, **kwargs):  # type: ignore[no-untyped-def]
            plant(str(target))
            return real_sidecar(target, *args, **kwargs)

        monkeypatch.setattr(sidecar, "write_sidecar", write_sidecar)
    df = lacuna.datasets.get("c")
    assert planted == [entry.location]
    assert not set(df["email"]) & set(raw["email"])  # checked, rebuilt, read: never the raw
    assert len(df) == len(raw)
    assert get_state(df).classification.tier == lacuna.Tier.PUBLIC
    assert lacuna.datasets.get("c")["email"].tolist() == df["email"].tolist()  # round trip


def test_a_copy_replaced_while_built_is_not_signed_as_the_dataset(sandbox, enabled,
                                                                    monkeypatch):
    """The sidecar signed whatever the copy's path held when it was written: raw rows put
    there between the write and the signature were read back from the location as PUBLIC."""
    from lacuna.lineage import sidecar

    enabled(storage={"encrypt": False})
    with _off():
        raw = pd.read_csv(sandbox / "customers.csv")
    real_sidecar = sidecar.write_sidecar

    def write_sidecar(target, *args, **kwargs):  # type: ignore[no-untyped-def]
        with _off():
            raw.to_parquet(target)
        return real_sidecar(target, *args, **kwargs)

    monkeypatch.setattr(sidecar, "write_sidecar", write_sidecar)
    entry = lacuna.datasets.register("c", "customers.csv", approved_by=STEWARD)
    monkeypatch.setattr(sidecar, "write_sidecar", real_sidecar)
    planted = pd.read_parquet(entry.location)  # a governed read of the location itself
    assert planted["email"].tolist() == raw["email"].tolist()
    assert get_state(planted).classification.tier > lacuna.Tier.PUBLIC
    assert "email" in get_state(planted).classification.personal_columns
    served = lacuna.datasets.get("c")  # rebuilt: signed and served as built
    assert not set(served["email"]) & set(raw["email"])
    again = pd.read_parquet(entry.location)
    assert get_state(again).classification.tier == lacuna.Tier.PUBLIC
    assert again["email"].tolist() == served["email"].tolist()


def test_a_dataset_built_under_other_classification_settings_is_built_again(sandbox, enabled):
    """The build's class was served whatever the settings became: built under k=5, it stayed
    PUBLIC after k_anonymity was raised to 50, and its pseudonyms stayed PUBLIC after
    identifiers were mapped to INTERNAL (also with refresh: manual)."""
    rows = 60
    with _off():
        pd.DataFrame({"email": [f"user{i}@corp.example" for i in range(rows)],
                      "date_of_birth": ["1980-05-05", "1990-05-05"] * (rows // 2),
                      "zip_code": ["94107", "10001", "94110"] * (rows // 3)},
                     ).to_csv(sandbox / "people.csv", index=False)
    enabled()
    lacuna.datasets.register("people", "people.csv", approved_by=STEWARD, refresh="manual")
    built = lacuna.datasets.get("people")
    assert get_state(built).classification.tier == lacuna.Tier.PUBLIC  # k=10 >= 5
    enabled(classification={"k_anonymity": 50})
    strict = get_state(lacuna.datasets.get("people")).classification
    assert strict.tier > lacuna.Tier.PUBLIC
    assert set(strict.personal_columns) == {"date_of_birth", "zip_code"}
    assert "not anonymous: k=10 < 50" in " ".join(strict.reasoning)
    enabled(classification={"mapping": {"identifier": {"tier": "INTERNAL"}}})
    again = lacuna.datasets.get("people")
    assert get_state(again).classification.tier == lacuna.Tier.INTERNAL
    assert again["email"].tolist() == built["email"].tolist()  # the same key, the same data
    assert lacuna.datasets.show("people").built_at is not None


def test_a_deleted_source_fails_loudly(sandbox, enabled):
    enabled()
    lacuna.datasets.register("c", "customers.csv", approved_by=STEWARD)
    (sandbox / "customers.csv").unlink()
    with pytest.raises(DatasetError, match="cannot read the source"):
        lacuna.datasets.get("c")


def test_column_mapping_is_stated_and_applied(sandbox, enabled):
    enabled()
    entry = lacuna.datasets.register(
        "contacts", "customers.csv",
        {"email": "mask", "name": "redact", "phone": "drop", "address": "drop"},
        approved_by=STEWARD)
    assert entry.transform.kind == "columns"
    assert dict(entry.transform.columns)["phone"] == "drop"
    df = lacuna.datasets.get("contacts")
    assert "phone" not in df.columns
    assert "address" not in df.columns
    assert set(df["name"]) == {"[REDACTED]"}
    assert entry.classification is not None
    assert not entry.classification.personal_columns


def test_a_callable_transform_is_recorded_by_name_and_fails_closed(sandbox, enabled):
    enabled()

    def only_regions(frame: pd.DataFrame) -> pd.DataFrame:
        return frame[["customer_id", "region"]]

    def rebuilt_from_scratch(frame: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame({"email": frame["email"].str.upper()})

    entry = lacuna.datasets.register("regions", "customers.csv", only_regions,
                                     approved_by=STEWARD)
    assert entry.transform.kind == "callable"
    assert entry.transform.callable.endswith("only_regions")
    assert entry.columns == ("customer_id", "region")
    assert not entry.classification.personal_columns
    upper = lacuna.datasets.register("upper", "customers.csv", rebuilt_from_scratch,
                                     approved_by=STEWARD)
    assert upper.classification.personal_columns == ("email",)  # not laundered


def test_approval_is_required_and_not_by_oneself(sandbox, enabled):
    enabled()
    with pytest.raises(DatasetNotApproved, match="needs approved_by"):
        lacuna.datasets.register("c", "customers.csv", approved_by=" ")
    with pytest.raises(DatasetNotApproved, match="cannot approve a dataset they register"):
        lacuna.datasets.register("c", "customers.csv", approved_by="Analyst_Alice")
    if "stewards" in Config.model_fields:
        with pytest.raises(DatasetNotApproved, match="not an entitled steward"):
            lacuna.datasets.register("c", "customers.csv", approved_by="bob@example.com")
    with pytest.raises(DatasetNotFound, match=r"lacuna\.datasets\.register"):
        lacuna.datasets.get("c")
    if "stewards" in Config.model_fields:
        enabled(stewards={"default": []})
        with pytest.raises(DatasetNotApproved, match="none configured"):
            lacuna.datasets.register("c", "customers.csv", approved_by=STEWARD)


def test_bad_definitions_are_refused_with_what_to_do(sandbox, enabled):
    enabled()
    with pytest.raises(DatasetError, match="invalid dataset name"):
        lacuna.datasets.register("../x", "customers.csv", approved_by=STEWARD)
    with pytest.raises(DatasetError, match="is not a file"):
        lacuna.datasets.register("x", "nope.csv", approved_by=STEWARD)
    with pytest.raises(DatasetError, match="unknown transform 'hsh'"):
        lacuna.datasets.register("x", "customers.csv", "hsh", approved_by=STEWARD)
    with pytest.raises(DatasetError, match="unknown strategy 'zap' for column 'email'"):
        lacuna.datasets.register("x", "customers.csv", {"email": "zap"}, approved_by=STEWARD)


def test_no_governed_folder_is_a_clear_error(sandbox, enabled):
    enabled(destinations={"governed": ["s3://bucket/"]})
    with pytest.raises(DatasetError, match=r"set datasets\.root"):
        lacuna.datasets.register("x", "customers.csv", approved_by=STEWARD)
    enabled(destinations={"governed": ["s3://bucket/"]},
            datasets={"root": str(sandbox / "approved")})
    entry = lacuna.datasets.register("x", "customers.csv", approved_by=STEWARD)
    assert entry.location == str(sandbox / "approved" / "x.parquet")


def test_a_dataset_is_not_offered_for_other_columns_or_sources(sandbox, home, enabled):
    enabled()
    lacuna.datasets.register("contacts", "customers.csv", {"phone": "drop", "email": "hash",
                                                           "name": "hash", "address": "hash"},
                             approved_by=STEWARD)
    df = pd.read_csv("customers.csv")
    with pytest.raises(lacuna.GovernanceViolation) as err:
        df.to_csv("~/Downloads/out.csv")  # uses phone, which the dataset dropped
    assert not any("contacts" in a.title for a in err.value.decision.alternatives)
    narrow = df[["customer_id", "email", "region"]]
    with pytest.raises(lacuna.GovernanceViolation) as err:
        narrow.to_csv("~/Downloads/out.csv")
    assert err.value.decision.alternatives[0].code == (
        "narrow_anon = lacuna.datasets.get(\"contacts\")[['customer_id', 'email', 'region']]\n"
        "narrow_anon.to_csv(\"~/Downloads/out.csv\")")


class _off:
    """Governance off for a block (writing the test's own fixtures)."""

    def __enter__(self) -> None:
        from lacuna._bypass import bypass

        self._cm = bypass()
        self._cm.__enter__()

    def __exit__(self, *exc: object) -> None:
        self._cm.__exit__(*exc)


def test_a_dataset_that_would_still_be_denied_is_not_offered(sandbox, home, enabled):
    enabled()
    lacuna.datasets.register("regions_and_emails", "customers.csv", {"name": "drop"},
                             approved_by=STEWARD)  # e-mails, phones, addresses left as they are
    df = pd.read_csv("customers.csv")[["customer_id", "email", "region"]]
    with pytest.raises(lacuna.GovernanceViolation) as err:
        df.to_csv("~/Downloads/out.csv")
    assert err.value.decision.alternatives  # the other alternatives are still there
    assert not any("regions_and_emails" in a.title for a in err.value.decision.alternatives)


def test_get_as_polars_keeps_classification_and_exports_like_pandas(sandbox, enabled):
    pl = pytest.importorskip("polars", reason="polars is not installed (lacuna[polars])")
    from lacuna.integrations.frames.state import state_of

    enabled()
    lacuna.datasets.register("customers_anonymized", "customers.csv", approved_by=STEWARD)
    df = lacuna.datasets.get("customers_anonymized", engine="polars")
    assert isinstance(df, pl.DataFrame)
    pandas_df = lacuna.datasets.get("customers_anonymized")
    assert df.columns == list(pandas_df.columns)
    state = state_of(df)
    assert state is not None
    assert state.classification.tier == lacuna.Tier.PUBLIC
    assert "ANONYMIZED" in state.classification.tags
    assert state.lineage.roots() == (str(sandbox / "customers.csv"),)
    out = sandbox / "Downloads" / "output.csv"
    df.write_csv(out)  # the seed's "this just works", from polars
    assert pl.read_csv(out).height == len(pandas_df)
    with pytest.raises(DatasetError, match="unknown engine 'dask'"):
        lacuna.datasets.get("customers_anonymized", engine="dask")  # type: ignore[arg-type]


def test_rows_picked_out_of_a_k_anonymous_dataset_are_checked_again(sandbox, enabled, home):
    """A registered dataset's classes came back from its entry without the k-anonymity mark,
    so one person's row of lacuna.datasets.get(...) was PUBLIC and written to Downloads."""
    from lacuna.errors import GovernanceViolation

    enabled()
    _register_people_anon(sandbox)
    df = lacuna.datasets.get("people_anon")
    assert get_state(df).classification.tier == lacuna.Tier.PUBLIC
    whole = home / "Downloads" / "people.csv"
    df.to_csv(whole, index=False)  # the whole dataset: allowed, and reads back as it went
    assert pd.read_csv(whole).equals(df.reset_index(drop=True))
    df[df["plan"] == "a"].to_csv(home / "Downloads" / "plan_a.csv", index=False)  # k=20
    one = home / "Downloads" / "one.csv"
    with pytest.raises(GovernanceViolation, match="not anonymous any more"):
        df.iloc[[7]].to_csv(one, index=False)
    assert not one.exists()


def _register_people_anon(sandbox: Path, n: int = 60) -> int:
    """``people.csv`` (``n`` e-mails, zip codes in groups of ``n / 10``, three plans) written
    ungoverned, registered as ``people_anon`` (e-mails redacted, zip codes generalised)."""
    people = pd.DataFrame({"email": [f"user{i}@corp.example" for i in range(n)],
                           "zip_code": [f"9410{i % 10}" for i in range(n)],
                           "plan": ["a", "b", "c"] * (n // 3)})
    with _off():
        people.to_csv(sandbox / "people.csv", index=False)
    lacuna.datasets.register("people_anon", "people.csv",
                             {"email": "redact", "zip_code": "generalize"}, approved_by=STEWARD)
    return n


def test_rows_picked_out_of_a_k_anonymous_dataset_read_by_polars_are_checked_again(
        sandbox, enabled, home):
    """A polars filter (or ``head``) keeps its parent's state and polars frames carry no content
    fingerprints, so one person's row of ``get(..., engine="polars")`` was PUBLIC and written
    to Downloads, directly or through ``to_pandas()``."""
    pl = pytest.importorskip("polars", reason="polars is not installed (lacuna[polars])")
    from lacuna.errors import GovernanceViolation

    enabled()
    n = _register_people_anon(sandbox)
    df = lacuna.datasets.get("people_anon", engine="polars")
    downloads = home / "Downloads"
    df.write_csv(downloads / "people.csv")  # the whole dataset: allowed
    assert pl.read_csv(downloads / "people.csv").height == n
    df.filter(pl.col("plan") == "a").write_csv(downloads / "plan_a.csv")  # k=20: allowed
    picked = {"filter": df.filter(pl.col("email").is_not_null()).slice(7, 1),
              "head": df.head(3), "lazy": df.lazy().head(1).collect()}
    for how, frame in picked.items():
        target = downloads / f"{how}.csv"
        with pytest.raises(GovernanceViolation, match="not anonymous any more"):
            frame.write_csv(target)
        with pytest.raises(GovernanceViolation, match="not anonymous any more"):
            frame.to_pandas().to_csv(target, index=False)
        assert not target.exists()


def test_a_dataset_whose_copy_would_replace_its_source_is_refused(sandbox, enabled):
    """``customers`` from ``<datasets folder>/customers.parquet``: the build wrote the anonymized
    copy over the source, and the raw data was gone."""
    folder = sandbox / "governed" / "workspace" / "datasets"
    folder.mkdir(parents=True)
    pd.read_csv(sandbox / "customers.csv").to_parquet(folder / "customers.parquet")
    before = (folder / "customers.parquet").read_bytes()
    os.symlink(folder / "customers.parquet", sandbox / "linked.parquet")
    enabled()
    for source in (folder / "customers.parquet", sandbox / "linked.parquet"):
        with pytest.raises(DatasetError, match=r"which is its source file.*another name"):
            lacuna.datasets.register("customers", source, approved_by=STEWARD)
    assert (folder / "customers.parquet").read_bytes() == before
    with pytest.raises(DatasetNotFound):
        lacuna.datasets.show("customers")
    # another name: built beside its source, which stays as it was
    entry = lacuna.datasets.register("customers_anonymized", folder / "customers.parquet",
                                     approved_by=STEWARD)
    assert (folder / "customers.parquet").read_bytes() == before
    got = lacuna.datasets.get("customers_anonymized")
    assert len(got) == entry.rows == len(pd.read_parquet(folder / "customers.parquet"))
    assert get_state(got).classification.tier == lacuna.Tier.PUBLIC


def test_a_dataset_whose_approver_is_no_longer_a_steward_is_not_served(sandbox, home, enabled):
    """The approval was checked once, when registering: with its steward taken off
    ``stewards:``, the dataset was still served, refreshed and offered in denials."""
    if "stewards" not in Config.model_fields:
        pytest.skip("no steward list in this configuration")
    enabled()
    lacuna.datasets.register("customers_anonymized", "customers.csv", approved_by=STEWARD)
    df = pd.read_csv("customers.csv")
    with pytest.raises(lacuna.GovernanceViolation) as err:
        df.to_csv("~/Downloads/out.csv")
    assert "customers_anonymized" in err.value.decision.alternatives[0].title
    enabled(stewards={"default": ["new.steward@example.com"]})
    with pytest.raises(DatasetNotApproved, match=r"'customers_anonymized' is not served: it was "
                       r"approved by steward@example.com.*not an entitled steward.*register it "
                       r"again"):
        lacuna.datasets.get("customers_anonymized")
    with pytest.raises(DatasetNotApproved):
        lacuna.datasets.refresh("customers_anonymized")
    with pytest.raises(lacuna.GovernanceViolation) as err:
        df.to_csv("~/Downloads/out.csv")
    assert not any("customers_anonymized" in a.title for a in err.value.decision.alternatives)
    assert lacuna.datasets.show("customers_anonymized").approved_by == STEWARD  # still listed
    assert not (home / "Downloads" / "out.csv").exists()
    # approved again by a steward: served as before
    lacuna.datasets.register("customers_anonymized", "customers.csv",
                             approved_by="new.steward@example.com")
    got = lacuna.datasets.get("customers_anonymized")
    assert get_state(got).classification.tier == lacuna.Tier.PUBLIC
    got.to_csv("~/Downloads/out.csv")
    assert len(pd.read_csv(home / "Downloads" / "out.csv")) == len(df)
