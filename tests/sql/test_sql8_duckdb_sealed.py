"""DuckDB SQL that names a sealed governed file in a file function (``read_csv('…')``,
``read_parquet(['…'])``): only ``FROM 'sealed.csv'`` was refused with what to do instead;
``read_csv`` let DuckDB sniff the ciphertext, and its error came back as "Lacuna failed"."""

from __future__ import annotations

import duckdb
import pandas as pd
import pytest

from lacuna.errors import StorageError


def test_a_file_function_of_a_sealed_file_is_refused_with_what_to_do(governed):
    sealed = governed / "governed" / "workspace" / "c.csv"
    rows = pd.read_csv(governed / "customers.csv")[["customer_id", "region"]]
    rows.to_csv(sealed, index=False)  # sealed: governed storage
    for sql in (f"SELECT region FROM read_csv('{sealed}')",
                f"SELECT * FROM read_csv_auto('{sealed}', header = true)",
                f"COPY (SELECT * FROM read_csv(['{sealed}'])) TO '{governed}/Downloads/x.csv'"):
        with pytest.raises(StorageError, match="a sealed governed file") as refused:
            duckdb.sql(sql)
        assert "Lacuna failed" not in str(refused.value)
    assert not (governed / "Downloads" / "x.csv").exists()
    # the allowed path: read through Lacuna, then queried
    rel = duckdb.read_csv(str(sealed))
    back = rel.order("customer_id").select("customer_id, region").df()
    pd.testing.assert_frame_equal(back, rows.sort_values("customer_id").reset_index(drop=True),
                                  check_dtype=False)
