"""Fuzz the pandas integration with awkward frames: Lacuna never breaks the job by accident and
never allows by accident.

Random frames (pyarrow strings, categoricals, nullable ints, tz-aware datetimes, mixed objects with
``Decimal('Infinity')``/``Decimal('sNaN')``, MultiIndex columns, duplicate labels, empty frames)
go through read / merge / groupby / export / classify / check. The oracle is plain pandas: the
same call ungoverned either succeeds or raises pandas' own error.

- ``observe``: the governed call behaves exactly like the plain one (same success, or the same
  error type), and Lacuna reports no internal error.
- ``enforce``: the governed call succeeds, raises pandas' own error, or is denied
  (``GovernanceViolation``); a call after which Lacuna logged an internal error never succeeds.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import warnings
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import lacuna
from lacuna import _bypass
from lacuna.errors import GovernanceViolation
from lacuna.governor import GovernanceFailureWarning

pytestmark = pytest.mark.filterwarnings("ignore::lacuna.governor.GovernanceWarning")

EXAMPLES = int(os.environ.get("LACUNA_FUZZ_EXAMPLES", "15"))  # more for a longer search
LABELS = ["email", "name", "region", "customer_id", "phone", "amount", "ssn", "notes", "dob"]
EMAILS = ["ann@example.com", "bob.k@example.org", "x"]
TEXT = ["Ann Lee", "Bob Kay", "north", "", "  ", "ä∂ü", "555-0100", "123-45-6789"]
STAMP = dt.datetime(2024, 1, 2, 3, 4, 5)
ODD = [Decimal("Infinity"), Decimal("sNaN"), Decimal("NaN"), Decimal("1.5"), Decimal("-0"),
       1, "ann@example.com", None, b"\x00bytes", (1, 2), [1], {"a": 1}, 2.5, float("nan"),
       STAMP, dt.date(2020, 1, 1), True, 10**30]


def _column(kind: str, n: int, draw: Any) -> pd.Series | list[Any]:
    text = st.sampled_from(EMAILS + TEXT)
    if kind == "pyarrow_string":
        return pd.Series(draw(st.lists(st.none() | text, min_size=n, max_size=n)),
                         dtype="string[pyarrow]")
    if kind == "arrow_dtype":
        arrow = draw(st.sampled_from([pa.string(), pa.large_string(), pa.int64(), pa.date32(),
                                      pa.timestamp("us", tz="UTC"), pa.bool_()]))
        values: list[Any] = {
            pa.string(): EMAILS, pa.large_string(): TEXT, pa.int64(): [1, -7, 2**40],
            pa.date32(): [dt.date(1990, 5, 17)], pa.timestamp("us", tz="UTC"): [STAMP],
            pa.bool_(): [True, False],
        }[arrow]
        picked = draw(st.lists(st.none() | st.sampled_from(values), min_size=n, max_size=n))
        return pd.Series(picked, dtype=pd.ArrowDtype(arrow))
    if kind == "categorical":
        return pd.Series(draw(st.lists(text, min_size=n, max_size=n)), dtype="category")
    if kind == "nullable_int":
        return pd.Series(draw(st.lists(st.none() | st.integers(-10**9, 10**9), min_size=n,
                                       max_size=n)), dtype="Int64")
    if kind == "tz_datetime":
        zone = draw(st.sampled_from(["UTC", "Europe/Paris", "America/New_York"]))
        return pd.Series(pd.date_range("2020-03-29", periods=n, freq="h", tz=zone))
    if kind == "mixed_object":
        return pd.Series(draw(st.lists(st.sampled_from(ODD), min_size=n, max_size=n)),
                         dtype=object)
    if kind == "float":
        return pd.Series(draw(st.lists(st.floats(allow_nan=True, allow_infinity=True),
                                       min_size=n, max_size=n)), dtype="float64")
    return pd.Series(draw(st.lists(text, min_size=n, max_size=n)), dtype=object)


KINDS = ["pyarrow_string", "arrow_dtype", "categorical", "nullable_int", "tz_datetime",
         "mixed_object", "float", "text"]


@st.composite
def frames(draw: Any) -> pd.DataFrame:
    n = draw(st.integers(0, 12))
    width = draw(st.integers(1, 4))
    data = [_column(draw(st.sampled_from(KINDS)), n, draw) for _ in range(width)]
    labels = draw(st.lists(st.sampled_from(LABELS), min_size=width, max_size=width))
    frame = pd.concat([pd.Series(col).reset_index(drop=True) for col in data], axis=1)
    frame.columns = labels  # duplicates allowed
    if draw(st.booleans()) and width > 1:  # MultiIndex columns
        frame.columns = pd.MultiIndex.from_arrays(
            [labels, draw(st.lists(st.sampled_from(["a", "b"]), min_size=width, max_size=width))])
    return frame


def _plain(call: Any) -> type[BaseException] | None:
    """What ``call`` raises with governance off (None: it succeeds)."""
    try:
        with _bypass.bypass(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # as for the governed call: warnings are not errors
            call()
    except Exception as exc:
        return type(exc)
    return None


def _calls(frame: pd.DataFrame, root: Path) -> dict[str, Any]:
    """Each operation as a zero-argument call (files are written ungoverned beforehand)."""
    csv = root / "in.csv"
    with _bypass.bypass():
        try:
            frame.to_csv(csv, index=False)
        except Exception:
            csv.write_text("a,b\n1,2\n")
    other = frame.iloc[::-1]
    first = frame.columns[0] if len(frame.columns) else None
    return {
        "read": lambda: pd.read_csv(csv),
        "merge": lambda: pd.merge(frame, other, left_index=True, right_index=True),
        "concat": lambda: pd.concat([frame, other], axis=1),
        "groupby": lambda: frame.groupby(first, dropna=False).size(),
        "groupby_count": lambda: frame.groupby(first).count(),
        "export": lambda: frame.to_csv(root / "Downloads" / "out.csv"),
        "export_governed": lambda: frame.to_csv(root / "governed" / "workspace" / "out.csv"),
        "classify": lambda: lacuna.classify(frame),
        "check": lambda: lacuna.check(frame, str(root / "Downloads" / "c.csv")),
    }


class _Errors(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if "failed while governing" in record.getMessage():
            self.messages.append(record.getMessage())


def _run(mode: str, frame: pd.DataFrame, root: Path) -> None:
    handler = _Errors()
    logger = logging.getLogger("lacuna.governor")
    logger.addHandler(handler)
    try:
        for name, call in _calls(frame, root).items():
            expected = _plain(call)
            handler.messages.clear()
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                try:
                    call()
                    got: type[BaseException] | None = None
                except Exception as exc:
                    got = type(exc)
            failures = [w for w in caught if issubclass(w.category, GovernanceFailureWarning)]
            if mode == "observe":
                assert got is expected, f"{name}: plain pandas gave {expected}, governed {got}"
                assert not failures, f"{name}: {failures[0].message}"
                assert not handler.messages, f"{name}: {handler.messages}"
            else:
                assert got in (expected, GovernanceViolation), f"{name}: {got} vs {expected}"
                if handler.messages:  # an internal error is never an allow
                    assert got is GovernanceViolation, f"{name} allowed after {handler.messages}"
    finally:
        logger.removeHandler(handler)


@pytest.mark.parametrize("mode", ["observe", "enforce"])
def test_fuzz_frames_through_the_integration(mode, sandbox, sandbox_config):
    lacuna.enable(sandbox_config(mode=mode, policy={"decision_log": {"type": "none"}}))

    @settings(max_examples=EXAMPLES, deadline=None, derandomize=EXAMPLES == 15,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(frame=frames())
    def check(frame: pd.DataFrame) -> None:
        _run(mode, frame, sandbox)

    check()


@pytest.mark.parametrize("dtype", ["string[pyarrow]", pd.ArrowDtype(pa.string())])
def test_pyarrow_text_columns_classify(dtype):
    frame = pd.DataFrame({"contact": pd.Series(EMAILS[:2] * 5, dtype=dtype)})
    assert lacuna.classify(frame).columns["contact"].pii_type == "email"


def test_decimal_specials_do_not_break_scanning():
    frame = pd.DataFrame({"amount": [Decimal("Infinity"), Decimal("sNaN"), Decimal("12")]})
    lacuna.classify(frame)  # raised InvalidOperation before
