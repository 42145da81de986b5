"""Numbers of a classified Arrow column handed to pandas keep their class.

Arrow hands a numeric column without nulls to pandas as a NumPy view of its buffer
(``ChunkedArray.to_pandas()``, ``to_numpy()``): no pandas dtype's ``__from_arrow__`` runs, and
a salary taken out that way under another name exported as PUBLIC. The same routes over a
public numeric column must export the bytes plain pandas writes.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from lacuna import _bypass
from lacuna.errors import GovernanceViolation

pa = pytest.importorskip("pyarrow")
pa_csv = pytest.importorskip("pyarrow.csv")

ROUTES: dict[str, Callable[[Any, str], pd.DataFrame]] = {
    "ChunkedArray.to_pandas()": lambda t, c: t[c].to_pandas().rename("code").to_frame(),
    "pd.DataFrame({name: to_numpy()})": lambda t, c: pd.DataFrame({"code": t[c].to_numpy()}),
    "pd.Series(to_numpy())": lambda t, c: pd.Series(t[c].to_numpy(), name="code").to_frame(),
}


@pytest.fixture
def payroll(downloads: Path) -> Any:
    Path("payroll.csv").write_text("emp,salary,floor\n" + "".join(
        f"E{i:03},{52000 + i * 1375},{i % 7}\n" for i in range(40)))
    table = pa_csv.read_csv("payroll.csv")
    from lacuna.integrations.pyarrow import classification

    columns = classification(table).columns
    assert columns["salary"].classification.value == "financial"
    assert columns["floor"].classification.value == "public"
    return table


def test_a_classified_arrow_number_column_into_pandas_keeps_its_class(payroll, downloads):
    leaked = []
    for route, convert in ROUTES.items():
        frame = convert(payroll, "salary")
        try:
            frame.to_csv(downloads / "code.csv", index=False)
        except GovernanceViolation:
            assert not (downloads / "code.csv").exists()
        else:
            leaked.append(route)
            (downloads / "code.csv").unlink()
    assert leaked == []


def test_a_public_arrow_number_column_into_pandas_exports_as_plain_pandas(payroll, downloads):
    broken = []
    for route, convert in ROUTES.items():
        frame = convert(payroll, "floor")
        frame.to_csv(downloads / "code.csv", index=False)
        with _bypass.bypass():
            frame.to_csv(downloads / "plain.csv", index=False)
        if (downloads / "code.csv").read_bytes() != (downloads / "plain.csv").read_bytes() or \
                pd.read_csv(downloads / "code.csv")["code"].tolist() != \
                payroll["floor"].to_pylist():
            broken.append(route)
    assert broken == []
