"""Suggested alternatives work: every printed alternative, executed literally, is allowed.

Each case exports a realistic frame somewhere the default policy denies, from user code that
has not imported lacuna (so the printed code must import it), then runs every alternative's code
exactly as printed, in a fresh namespace that holds only the frame under the name shown. The
governed writes and anonymized exports must then succeed (enforce mode: a denial would raise),
and the anonymize alternative must list no column the export would pass without.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import lacuna
from lacuna.config import config_from_dict
from lacuna.errors import GovernanceViolation
from lacuna.model import (
    Action,
    Classification,
    ColumnClass,
    ColumnKind,
    Operation,
    Sensitivity,
    Tier,
    User,
)

N = 60
FIRST = ["Anna", "Ben", "Carla", "David", "Emma", "Felix", "Grace", "Hugo", "Ines", "Jonas"]
LAST = ["Smith", "Jones", "Garcia", "Miller", "Davis", "Lopez", "Wilson", "Moore", "Clark", "Young"]
BOX = set("│┃║─━═╭╮╰╯┌┐└┘├┤┬┴┼")


def _frames() -> dict[str, pd.DataFrame]:
    rng = np.random.default_rng(7)
    names = [f"{FIRST[i % 10]} {LAST[(i * 3) % 10]}" for i in range(N)]
    customers = pd.DataFrame({
        "customer_id": range(1000, 1000 + N),
        "full_name": names,
        "email": [f"{n.split()[0].lower()}.{i}@example.com" for i, n in enumerate(names)],
        "region": rng.choice(["north", "south", "east", "west"], N),
    })
    sales = pd.DataFrame({
        "order_id": range(N),
        "customer_id": rng.integers(1000, 1000 + N, N),
        "region": rng.choice(["north", "south"], N),
        "revenue": rng.uniform(10, 1000, N).round(2),
        "unit_price": rng.uniform(1, 50, N).round(2),
    })
    return {
        "customers": customers,
        "sales": sales,
        "payroll": pd.DataFrame({
            "employee_id": [f"E{i:05d}" for i in range(N)],
            "department": rng.choice(["ops", "hr", "it"], N),
            "salary": rng.integers(40000, 120000, N),
            "bonus": rng.integers(0, 9000, N),
        }),
        "patients": pd.DataFrame({
            "patient_id": range(N),
            "diagnosis": rng.choice(["Type 2 diabetes", "Asthma", "Hypertension"], N),
            "date_of_birth": pd.date_range("1950-01-01", periods=N, freq="180D")
            .strftime("%Y-%m-%d"),
            "ward": rng.choice(["A", "B"], N),
        }),
        "payments": pd.DataFrame({
            "card_number": ["4111111111111111", "5500005555555559", "4012888888881881"] * 20,
            "amount": rng.uniform(1, 500, N).round(2),
            "merchant": rng.choice(["shop", "cafe"], N),
        }),
        "visits": pd.DataFrame({
            "session": range(N),
            "ip_address": [f"192.0.2.{i % 250}" for i in range(N)],
            "page": rng.choice(["/", "/buy"], N),
            "duration_s": rng.integers(1, 600, N),
        }),
    }


# (variable, how the data is made from the frames, writer, destination folder, file name)
CASES = [
    ("customers", "customers", "to_csv", "Downloads", "customers.csv"),
    ("customers", "customers", "to_json", "Downloads", "customers.json"),
    ("customers", "customers", "to_excel", "Downloads", "customers.xlsx"),
    ("customers", "customers", "to_csv", "reports", "customers.csv"),
    ("contacts", "customers[['full_name', 'region']]", "to_csv", "Downloads", "contacts.csv"),
    ("sales", "sales", "to_csv", "Downloads", "sales.csv"),
    ("sales", "sales", "to_pickle", "Downloads", "sales.pkl"),
    ("by_region", "sales.groupby('region', as_index=False)['revenue'].sum()", "to_csv",
     "Downloads", "by_region.csv"),
    ("joined", "sales.merge(customers, on='customer_id')", "to_csv", "Downloads", "joined.csv"),
    ("joined", "sales.merge(customers, on='customer_id')", "to_csv", "reports", "joined.csv"),
    ("payroll", "payroll", "to_csv", "Downloads", "payroll.csv"),
    ("payroll", "payroll", "to_json", "Downloads", "payroll.json"),
    ("payroll", "payroll", "to_excel", "Downloads", "payroll.xlsx"),
    ("patients", "patients", "to_csv", "Downloads", "patients.csv"),
    ("patients", "patients", "to_json", "Downloads", "patients.json"),
    ("patients", "patients", "to_csv", "reports", "patients.csv"),
    ("payments", "payments", "to_csv", "Downloads", "payments.csv"),
    ("payments", "payments", "to_csv", "reports", "payments.csv"),
    ("visits", "visits", "to_json", "Downloads", "visits.json"),
    ("visits", "visits", "to_csv", "Downloads", "visits.csv"),
    ("visits", "visits", "to_pickle", "reports", "visits.pkl"),
    ("big_spenders", "payments[payments['amount'] > 100]", "to_csv", "Downloads",
     "big_spenders.csv"),
    ("export", "customers", "to_csv", "Downloads/2024", "export.csv"),
    ("emails", "customers['email']", "to_csv", "Downloads", "emails.csv"),
    ("revenue", "sales['revenue']", "to_json", "Downloads", "revenue.json"),
]


@pytest.fixture
def sandbox_dirs(tmp_path: Path) -> Path:
    for folder in ("Downloads/2024", "reports", "governed/workspace"):
        (tmp_path / folder).mkdir(parents=True)
    return tmp_path


def _config(root: Path, **extra: Any) -> lacuna.Config:
    # Only Downloads is unmanaged (the sandbox itself is under /tmp): reports/ is an internal,
    # managed local folder, governed/workspace/ is governed storage.
    return config_from_dict({
        "user": {"id": "analyst_alice", "role": "data_analyst"},
        "destinations": {"governed": [f"{root / 'governed' / 'workspace'}/"],
                         "unmanaged": [str(root / "Downloads")]},
        "audit": {"url": f"sqlite:///{root / 'audit.db'}"},
        **extra,
    })


def _denied(code: str, namespace: dict[str, Any]) -> Any:
    """Run the user's write in ``namespace`` (no lacuna in it) and return the denial."""
    with pytest.raises(GovernanceViolation) as err:
        exec(code, namespace)
    return err.value.decision


def _anonymized_columns(code: str) -> list[str]:
    first = next(line for line in code.splitlines() if ".anonymize(" in line)
    listed = first.split("columns=[", 1)[1].rsplit("]", 1)[0]
    return [part.strip().strip("'\"") for part in listed.split(",") if part.strip()]


@pytest.mark.parametrize(("var", "make", "writer", "folder", "name"), CASES,
                         ids=[f"{c[0]}-{c[2]}-{c[3]}" for c in CASES])
def test_every_printed_alternative_runs_and_is_allowed(sandbox_dirs, var, make, writer,
                                                       folder, name):
    root = sandbox_dirs
    lacuna.enable(_config(root))
    data = eval(make, {}, _frames())
    target = str(root / folder / name)
    decision = _denied(f"{var}.{writer}({target!r})", {var: data})
    assert not (root / folder / name).exists()
    kinds = [a.kind for a in decision.alternatives]
    assert kinds == ["anonymize", "governed_location", "exception"], decision.alternatives

    for alt in decision.alternatives:
        assert alt.code, alt
        assert not BOX & set(alt.code)
        if alt.kind != "governed_location":
            assert alt.code.startswith("import lacuna\n")  # the user's code has no lacuna
        exec(alt.code, {var: data})  # enforce mode: a denied write would raise here

    anon = Path(anonymized := f"{Path(target).with_suffix('')}_anon{Path(target).suffix}")
    assert anon.exists(), anonymized
    assert (root / "governed" / "workspace" / name).exists()

    # Every listed column is needed: without any one of them the export is denied.
    columns = _anonymized_columns(decision.alternatives[0].code)
    assert columns
    frame = data.to_frame() if isinstance(data, pd.Series) else data
    for column in columns:
        fewer = [c for c in columns if c != column]
        assert not lacuna.check(lacuna.anonymize(frame, columns=fewer), target).allowed, column
    # And every column that keeps the data above PUBLIC outside the company is listed.
    if folder.startswith("Downloads"):
        classes = lacuna.classify(data).columns
        raising = {n for n, c in classes.items()
                   if c.classification in (ColumnKind.PII, ColumnKind.PHI, ColumnKind.FINANCIAL)}
        assert raising <= set(columns)


def test_financial_column_is_listed_not_only_pii(sandbox_dirs):
    lacuna.enable(_config(sandbox_dirs))
    payments = _frames()["payments"]
    target = str(sandbox_dirs / "Downloads" / "p.csv")
    outside = _denied(f"payments.to_csv({target!r})", {"payments": payments})
    assert _anonymized_columns(outside.alternatives[0].code) == ["card_number", "amount"]
    # Inside the company INTERNAL is fine: the FINANCIAL column may stay.
    inside_target = str(sandbox_dirs / "reports" / "p.csv")
    inside = _denied(f"payments.to_csv({inside_target!r})", {"payments": payments})
    assert _anonymized_columns(inside.alternatives[0].code) == ["card_number"]


def test_the_callers_name_for_lacuna_is_used(sandbox_dirs):
    lacuna.enable(_config(sandbox_dirs))
    customers = _frames()["customers"]
    target = str(sandbox_dirs / "Downloads" / "c.csv")
    decision = _denied(f"customers.to_csv({target!r})", {"customers": customers, "lc": lacuna})
    code = decision.alternatives[0].code
    assert code.startswith("anon_customers = lc.anonymize(customers, columns=[")
    assert "import lacuna" not in code
    exec(code, {"customers": customers, "lc": lacuna})


def test_configured_mapping_changes_the_columns(sandbox_dirs):
    mapping = {"identifier": {"tier": "INTERNAL"}}
    lacuna.enable(_config(sandbox_dirs, classification={"mapping": mapping}))
    customers = _frames()["customers"]
    target = str(sandbox_dirs / "Downloads" / "c.csv")
    decision = _denied(f"customers.to_csv({target!r})", {"customers": customers})
    assert "customer_id" in _anonymized_columns(decision.alternatives[0].code)


def test_missing_governed_root_says_how_to_configure_one(tmp_path):
    (tmp_path / "Downloads").mkdir()
    config = config_from_dict({
        "destinations": {"governed": [str(tmp_path / "nowhere") + "/"],
                         "unmanaged": [str(tmp_path / "Downloads")]},
        "audit": {"url": f"sqlite:///{tmp_path / 'audit.db'}"},
    })
    lacuna.enable(config)
    customers = _frames()["customers"]
    decision = _denied(f"customers.to_csv({str(tmp_path / 'Downloads' / 'c.csv')!r})",
                       {"customers": customers})
    governed = next(a for a in decision.alternatives if a.kind == "governed_location")
    assert governed.code is None
    assert "destinations.governed" in (governed.note or "")
    assert "nowhere" in (governed.note or "")


def test_database_target_gets_runnable_anonymize_and_no_governed_path(sandbox_dirs):
    lacuna.enable(_config(sandbox_dirs))
    customers = _frames()["customers"]
    con = sqlite3.connect(sandbox_dirs / "warehouse.db")
    decision = _denied("customers.to_sql('customers', con)", {"customers": customers, "con": con})
    kinds = [a.kind for a in decision.alternatives]
    assert kinds == ["anonymize", "exception"]
    namespace = {"customers": customers}
    exec(decision.alternatives[0].code, namespace)
    assert lacuna.check(namespace["anon_customers"], "sqlite:///elsewhere.db#t").allowed
    con.close()


def test_anonymize_is_not_offered_when_it_cannot_help(sandbox_dirs):
    """A table-level floor (declared PROPRIETARY) stays after anonymization."""
    from lacuna.governor import current

    lacuna.enable(_config(sandbox_dirs))
    gov = current()
    columns = {"email": ColumnClass(classification=ColumnKind.PII, pii_type="email",
                                    sensitivity=Sensitivity.HIGH)}
    c = Classification(tier=Tier.PROPRIETARY, floor=Tier.PROPRIETARY, tags=("PII",),
                       columns=columns)
    op = Operation(action=Action.EXPORT, user=User(id="alice"), classification=c,
                   destination=gov.destination(str(sandbox_dirs / "Downloads" / "x.csv")),
                   method="pandas.DataFrame.to_csv", variable="df")
    decision = gov.decide(op)
    assert [a.kind for a in decision.alternatives] == ["governed_location", "exception"]


def test_dry_runs_are_not_decision_logged(sandbox_dirs):
    from lacuna.governor import current
    from lacuna.policy.decision_log import MemoryDecisionLog

    lacuna.enable(_config(sandbox_dirs))
    gov = current()
    sink = MemoryDecisionLog()
    gov.engine.decision_log = sink  # type: ignore[attr-defined]
    customers = _frames()["customers"]
    _denied(f"customers.to_csv({str(sandbox_dirs / 'Downloads' / 'c.csv')!r})",
            {"customers": customers})
    sink.flush() if hasattr(sink, "flush") else None
    assert len(sink.records) == 1
