"""Governed storage through pandas: sealed at rest, read back with the same values and
classification, key rotation and re-wrap, access on the audit trail (issue 16, items 1-2)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

import lacuna
from lacuna import _bypass
from lacuna.storage import sealed

FORMATS = {
    "csv": (lambda df, p: df.to_csv(p, index=False), lambda p: pd.read_csv(p)),
    "parquet": (lambda df, p: df.to_parquet(p), lambda p: pd.read_parquet(p)),
    "json": (lambda df, p: df.to_json(p), lambda p: pd.read_json(p)),
    "feather": (lambda df, p: df.to_feather(p), lambda p: pd.read_feather(p)),
    "xlsx": (lambda df, p: df.to_excel(p, index=False), lambda p: pd.read_excel(p)),
}


def _customers() -> pd.DataFrame:
    return pd.DataFrame({
        "customer_id": [101, 102, 103, 104],
        "email": ["ann@example.com", "bob@example.org", "cy@example.net", "di@example.com"],
        "phone": ["+1 415 555 0101", "+1 415 555 0102", "+1 415 555 0103", "+1 415 555 0104"],
        "spend": [10.5, 20.25, 30.0, 41.75],
    })


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_a_governed_write_is_ciphertext_and_reads_back(governed: Path, fmt: str) -> None:
    write, read = FORMATS[fmt]
    path = governed / "governed" / "workspace" / f"customers.{fmt}"
    df = _customers()
    write(df, path)
    raw = path.read_bytes()
    assert raw.startswith(sealed.MAGIC)
    for value in ("ann@example.com", "customer_id", "555 0101"):
        assert value.encode() not in raw  # a plain open() sees ciphertext only
    with pytest.raises(Exception), _bypass.bypass():  # noqa: B017, PT011 - pandas alone cannot parse it
        read(path)
    back = read(path)
    pd.testing.assert_frame_equal(back, df, check_dtype=False)
    written = lacuna.classify(df)
    assert str(back.lacuna_classification) == str(written)
    assert "PII" in back.lacuna_classification.tags
