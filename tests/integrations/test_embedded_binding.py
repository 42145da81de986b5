"""A signed declaration inside a data file is bound to the values it was made for.

The replay a review found: export PUBLIC columns to Parquet (allowed), copy the file's signed
metadata, outside Lacuna, onto e-mails and phone numbers renamed to the same column names with
the same row count, and read that. The declaration is signed and the shape matches, but its
value digests (:func:`lacuna.lineage.content.digests`) do not: it is untrusted, the values decide
and the export to an unmanaged place is denied. A genuine round trip, through every format that
carries the declaration (Parquet written by pandas or pyarrow and read by pandas, pyarrow or
Polars; pickle and Feather, which keep ``DataFrame.attrs``), still restores the trusted
declaration. (Polars writes its declaration into the Parquet footer, where pyarrow's schema
does not show it: no reader finds it, the sidecar carries the classification; the digests of
Polars-written values are checked in tests/lineage/test_content.py.)
"""

from __future__ import annotations

import io
import json
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import lacuna
from lacuna import _bypass
from lacuna.errors import GovernanceViolation
from lacuna.lineage import sidecar as sc
from lacuna.model import Classification, Tier

pl = pytest.importorskip("polars")
import pyarrow as pa  # noqa: E402
import pyarrow.feather as pf  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

from lacuna.integrations import polars as governed_polars  # noqa: E402
from lacuna.integrations import pyarrow as governed_arrow  # noqa: E402

COPIED = "copied onto other data"


@pytest.fixture
def governed(sandbox: Path, sandbox_config: Any) -> Any:
    """Encryption at rest off: the tests read and rewrite the files' own bytes."""
    lacuna.enable(sandbox_config(storage={"encrypt": False}))
    yield sandbox
    lacuna.disable()


def _denied(frame: pd.DataFrame, where: Path) -> bool:
    try:
        frame.to_csv(where)
    except GovernanceViolation:
        return not where.exists()
    return False


def _plain_table(path: Path) -> pa.Table:
    with _bypass.bypass():
        return pq.read_table(path)


def _public_export(sandbox: Path) -> Path:
    """The allowed export whose metadata the replay lifts: PUBLIC columns, to ~/Downloads."""
    customers = pd.read_csv("customers.csv")
    public = customers[["region", "signup_date"]]
    assert public.lacuna_classification.tier is Tier.PUBLIC
    target = sandbox / "Downloads" / "public.parquet"
    public.to_parquet(target)
    assert target.exists()
    return target


def _pii_as_public_names() -> pd.DataFrame:
    with _bypass.bypass():
        raw = pd.read_csv("customers.csv")
    return pd.DataFrame({"region": raw["email"].to_numpy(), "signup_date": raw["phone"].to_numpy()})


def _replayed(found: Classification) -> None:
    assert found.tier is Tier.PROPRIETARY
    assert found.columns["region"].classification.value == "pii"
    assert found.columns["region"].pii_type == "email"
    assert found.columns["signup_date"].classification.value == "pii"
    assert COPIED in found.reasoning[0]


READERS: dict[str, Callable[[Path], Classification]] = {
    "pandas.read_parquet": lambda p: pd.read_parquet(p).lacuna_classification,
    "pyarrow.parquet.read_table": lambda p: governed_arrow.classification(pq.read_table(p)),
    "polars.read_parquet": lambda p: governed_polars.classification(pl.read_parquet(p)),
}


@pytest.mark.parametrize("reader", sorted(READERS))
def test_signed_metadata_copied_onto_pii_is_not_trusted(governed: Path, reader: str) -> None:
    public = _public_export(governed)
    meta = _plain_table(public).schema.metadata
    replayed = governed / "replayed.parquet"
    with _bypass.bypass():  # outside Lacuna
        table = pa.Table.from_pandas(_pii_as_public_names(), preserve_index=False)
        pq.write_table(table.replace_schema_metadata(meta), replayed)
    _replayed(READERS[reader](replayed))


def test_replayed_parquet_export_is_denied(governed: Path) -> None:
    public = _public_export(governed)
    meta = _plain_table(public).schema.metadata
    replayed = governed / "replayed.parquet"
    with _bypass.bypass():
        table = pa.Table.from_pandas(_pii_as_public_names(), preserve_index=False)
        pq.write_table(table.replace_schema_metadata(meta), replayed)
    back = pd.read_parquet(replayed)
    _replayed(back.lacuna_classification)
    assert "values show pii/email" in " ".join(back.lacuna_classification.reasoning)
    assert _denied(back, governed / "Downloads" / "replayed.csv")


def test_replayed_declaration_in_a_pickle_is_not_trusted(governed: Path) -> None:
    public = _public_export(governed)
    declaration = json.loads(_plain_table(public).schema.metadata[b"PANDAS_ATTRS"])["lacuna"]
    raw = _pii_as_public_names()
    raw.attrs = {"lacuna": declaration}
    with _bypass.bypass():
        blob = pickle.dumps(raw)
    back = pd.read_pickle(io.BytesIO(blob))
    _replayed(back.lacuna_classification)
    assert _denied(back, governed / "Downloads" / "pickled.csv")


def test_a_declaration_without_digests_is_restrict_only(governed: Path) -> None:
    """Files written before the digest existed: signed, right shape, but bound to nothing."""
    raw = _pii_as_public_names()
    old = sc.embedded_declaration(
        Classification(tier=Tier.PUBLIC), columns=list(raw.columns), rows=len(raw))
    raw.attrs = {"lacuna": old}
    with _bypass.bypass():
        blob = pickle.dumps(raw)
    back = pd.read_pickle(io.BytesIO(blob))
    found = back.lacuna_classification
    assert found.tier is Tier.PROPRIETARY
    assert "no digest of the values" in found.reasoning[0]


# -- the allowed path: a genuine round trip restores the trusted declaration ---------------------


def _governed_frame() -> pd.DataFrame:
    """A renamed PII column, a declared PUBLIC one, and dtypes formats change: a nullable int
    with a missing value, a tz-aware date-time, a date, a categorical."""
    customers = pd.read_csv("customers.csv").head(40)
    frame = customers[["customer_id", "email", "region", "signup_date"]].rename(
        columns={"email": "contact"})
    frame["visits"] = pd.array([None, *range(1, len(frame))], dtype="Int64")
    frame["seen"] = pd.to_datetime(frame["signup_date"]).dt.tz_localize("Europe/Paris")
    frame["day"] = pd.to_datetime(frame["signup_date"]).dt.date
    frame["area"] = frame["region"].astype("category")
    return frame


def _trusted(found: Classification, expected: Classification) -> None:
    assert found.tier is expected.tier
    assert not any("not trusted" in line for line in found.reasoning), found.reasoning
    assert found.columns["contact"].classification.value == "pii"
    assert found.columns["contact"].layer.value == "declared"
    assert found.columns["region"].classification == expected.columns["region"].classification
    assert found.columns["region"].layer.value == "declared"
    for name, column in expected.columns.items():
        assert found.columns[name].classification == column.classification, name


@pytest.mark.parametrize("reader", sorted(READERS))
def test_a_parquet_round_trip_keeps_the_trusted_declaration(governed: Path, reader: str) -> None:
    frame = _governed_frame()
    target = governed / "governed" / "workspace" / "round.parquet"
    frame.to_parquet(target)
    declaration = json.loads(_plain_table(target).schema.metadata[b"PANDAS_ATTRS"])["lacuna"]
    assert set(declaration["values"]) == set(map(str, frame.columns))
    sc.sidecar_path(target).unlink()  # the declaration inside the file decides
    _trusted(READERS[reader](target), frame.lacuna_classification)


def test_a_pyarrow_parquet_round_trip_keeps_the_trusted_declaration(governed: Path) -> None:
    frame = _governed_frame()
    source = governed / "governed" / "workspace" / "source.parquet"
    frame.to_parquet(source)
    table = pq.read_table(source)  # governed: the table carries the read's classification
    target = governed / "governed" / "workspace" / "arrow.parquet"
    pq.write_table(table, target)
    sc.sidecar_path(target).unlink()
    for reader in READERS.values():
        _trusted(reader(target), frame.lacuna_classification)


def test_pickle_and_feather_of_a_genuine_file_keep_the_trusted_declaration(
        governed: Path) -> None:
    """Outside Lacuna, a Lacuna Parquet file is read with its attrs and saved as a pickle and as
    Feather (both keep ``DataFrame.attrs``): same values, so the declaration is trusted."""
    frame = _governed_frame()
    source = governed / "governed" / "workspace" / "genuine.parquet"
    frame.to_parquet(source)
    with _bypass.bypass():
        plain = pd.read_parquet(source)
        assert isinstance(plain.attrs.get("lacuna"), dict)
        blob = pickle.dumps(plain)
        feather = governed / "governed" / "workspace" / "genuine.feather"
        pf.write_feather(pa.Table.from_pandas(plain), feather)
    _trusted(pd.read_pickle(io.BytesIO(blob)).lacuna_classification, frame.lacuna_classification)
    _trusted(pd.read_feather(feather).lacuna_classification, frame.lacuna_classification)


def test_a_changed_value_in_a_genuine_file_makes_it_untrusted(governed: Path) -> None:
    frame = _governed_frame()
    source = governed / "governed" / "workspace" / "edited.parquet"
    frame.to_parquet(source)
    sc.sidecar_path(source).unlink()
    with _bypass.bypass():
        table = pq.read_table(source)
        edited = table.to_pandas()
        edited.loc[3, "region"] = "someone@example.com"
        pq.write_table(pa.Table.from_pandas(edited, preserve_index=False)
                       .replace_schema_metadata(table.schema.metadata), source)
    found = pd.read_parquet(source).lacuna_classification
    assert COPIED in found.reasoning[0]
    assert found.tier is Tier.PROPRIETARY  # contact is still pii: only raised, never lowered
    assert found.columns["contact"].classification.value == "pii"
