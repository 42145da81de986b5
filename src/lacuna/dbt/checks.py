"""``lacuna compile --run-checks``: run the quality gates' checks against the warehouse.

Each gate's checks run on every model its scope covers, on the built tables of the project's
DuckDB warehouse (read-only, through the ``duckdb`` package):

- ``row_count``: ``count(*)`` within ``min`` / ``max``;
- ``null_percentage``: for each table column matching one of the globs (``*_id``), the share
  of NULLs is at most ``max`` percent;
- ``freshness``: the newest value of the check's ``column`` (else the model's
  ``meta.loaded_at_field``, else the first date/timestamp column) is at most ``max_age_hours``
  old.

A check that cannot run (no table, no timestamp column) fails with the reason: Lacuna does not
pass what it could not check.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lacuna.dbt.compile import NAMESPACES, gate_applies
from lacuna.dbt.gates import FreshnessCheck, GatesConfig, NullPercentageCheck, RowCountCheck
from lacuna.dbt.report import CheckResult
from lacuna.errors import IntegrationError

if TYPE_CHECKING:
    from lacuna.dbt.manifest import DbtNode, DbtProject

_TIME_TYPES = ("TIMESTAMP", "DATE", "TIMESTAMP WITH TIME ZONE", "TIMESTAMP_NS", "TIMESTAMP_MS",
               "TIMESTAMP_S", "TIMESTAMPTZ")


def run_checks(project: DbtProject, gates: GatesConfig, warehouse: Path,
               *, now: datetime | None = None) -> list[CheckResult]:
    """Run every gate's checks on the models in its scope.

    Raises:
        IntegrationError: duckdb is missing or the warehouse file cannot be opened.
    """
    try:
        import duckdb
    except ImportError:  # pragma: no cover - duckdb is in the dbt extra
        msg = 'lacuna compile --run-checks needs duckdb: pip install "lacuna[duckdb]"'
        raise IntegrationError(msg) from None
    if not warehouse.is_file():
        msg = (f"--run-checks: no DuckDB warehouse at {warehouse}; run `dbt build` first, or "
               "pass --warehouse PATH")
        raise IntegrationError(msg)
    try:
        conn = duckdb.connect(str(warehouse), read_only=True)
    except duckdb.Error as exc:
        msg = f"--run-checks: cannot open {warehouse}: {str(exc).splitlines()[0]}"
        raise IntegrationError(msg) from None
    moment = now or datetime.now(UTC)
    results: list[CheckResult] = []
    models = sorted((n for n in project.models if n.package_name in ("", project.name)),
                    key=lambda n: n.name)
    try:
        for gate in gates.quality.gates:
            for node in models:
                if not gate_applies(gate, node, gates):
                    continue
                columns = _columns(conn, node)
                for check in gate.checks:
                    results.append(_run(conn, gate.name, gate.on_failure, node, columns, check,
                                        moment))
    finally:
        conn.close()
    return results


def _relation(node: DbtNode) -> str:
    if node.relation_name:
        return node.relation_name
    return ".".join(f'"{p}"' for p in (node.schema, node.table) if p)


def _columns(conn: Any, node: DbtNode) -> dict[str, str] | None:
    """The built table's columns and types, or None when it does not exist."""
    try:
        rows = conn.execute(f"DESCRIBE SELECT * FROM {_relation(node)}").fetchall()
    except Exception:
        return None
    return {str(r[0]): str(r[1]).upper() for r in rows}


def _run(conn: Any, gate: str, on_failure: str, node: DbtNode, columns: dict[str, str] | None,
         check: RowCountCheck | NullPercentageCheck | FreshnessCheck,
         now: datetime) -> CheckResult:
    def result(passed: bool, observed: str, expected: str) -> CheckResult:
        return CheckResult(gate=gate, check=check.type, model=node.name, passed=passed,
                           observed=observed, expected=expected, on_failure=on_failure)

    if columns is None:
        return result(False, f"table {_relation(node)} not found in the warehouse",
                      "a built table (run dbt build)")
    rel = _relation(node)
    if isinstance(check, RowCountCheck):
        (count,) = conn.execute(f"SELECT count(*) FROM {rel}").fetchone()
        low = check.min if check.min is not None else 0
        high = check.max
        expected = f"rows >= {low}" + (f" and <= {high}" if high is not None else "")
        return result(count >= low and (high is None or count <= high), f"rows={count}",
                      expected)
    if isinstance(check, NullPercentageCheck):
        matched = [c for c in columns if any(fnmatch.fnmatchcase(c.lower(), g.lower())
                                             for g in check.columns)]
        named = [g for g in check.columns if not any(ch in g for ch in "*?[")]
        missing = [g for g in named if g.lower() not in {c.lower() for c in columns}]
        if missing:  # a column named outright (not a glob) must be there: a typo checks nothing
            return result(False, f"no column {', '.join(missing)} in {rel}",
                          f"null% <= {check.max:g} on {', '.join(missing)}")
        if not matched:
            return result(True, f"no column matches {list(check.columns)}",
                          f"null% <= {check.max:g}")
        parts = ", ".join(f'count(*) FILTER (WHERE "{c}" IS NULL)' for c in matched)
        row = conn.execute(f"SELECT count(*), {parts} FROM {rel}").fetchone()
        total = row[0] or 0
        shares = {c: (100.0 * n / total if total else 0.0) for c, n in zip(matched, row[1:],
                                                                            strict=True)}
        worst = max(shares, key=lambda c: shares[c])
        observed = ", ".join(f"{c} null={shares[c]:.1f}%" for c in matched)
        return result(shares[worst] <= check.max + 1e-9, observed, f"null% <= {check.max:g}")
    column = _time_column(node, columns, check.column)
    expected = f"age <= {check.max_age_hours:g}h"
    if column is None:
        return result(False, "no timestamp column to measure freshness (set the check's "
                             "`column:` or meta loaded_at_field)", expected)
    (newest,) = conn.execute(f'SELECT max("{column}") FROM {rel}').fetchone()
    if newest is None:
        return result(False, f"{column} is empty", expected)
    if isinstance(newest, datetime):
        stamp = newest if newest.tzinfo else newest.replace(tzinfo=UTC)
    elif isinstance(newest, date):
        stamp = datetime(newest.year, newest.month, newest.day, tzinfo=UTC)
    else:
        return result(False, f"{column} is not a date or timestamp", expected)
    age = (now - stamp).total_seconds() / 3600
    return result(age <= check.max_age_hours, f"{column} age={age:.1f}h", expected)


def _time_column(node: DbtNode, columns: Mapping[str, str], explicit: str | None) -> str | None:
    if explicit:
        return next((c for c in columns if c.lower() == explicit.lower()), None)
    for where in (node.meta, *(node.meta.get(ns) for ns in NAMESPACES)):
        if isinstance(where, Mapping) and where.get("loaded_at_field"):
            wanted = str(where["loaded_at_field"]).lower()
            return next((c for c in columns if c.lower() == wanted), None)
    times = [c for c, t in columns.items() if t.startswith(_TIME_TYPES)]
    return times[0] if times else None


def warehouse_columns(warehouse: Path) -> dict[str, tuple[str, ...]]:
    """``schema.table`` (lower-case) → the built table's columns, from DuckDB's
    information_schema; {} when the file is missing or cannot be opened (e.g. locked)."""
    return {k: tuple(v) for k, v in warehouse_types(warehouse).items()}


def warehouse_types(warehouse: Path) -> dict[str, dict[str, str]]:
    """``schema.table`` (lower-case) → {column: DuckDB type}, in column order; {} when the file
    is missing or cannot be opened."""
    try:
        import duckdb
    except ImportError:  # pragma: no cover - duckdb is in the dbt extra
        return {}
    if not warehouse.is_file():
        return {}
    try:
        conn = duckdb.connect(str(warehouse), read_only=True)
    except duckdb.Error:
        return {}
    try:
        rows = conn.execute("SELECT table_schema, table_name, column_name, data_type FROM "
                            "information_schema.columns ORDER BY table_schema, table_name, "
                            "ordinal_position").fetchall()
    finally:
        conn.close()
    out: dict[str, dict[str, str]] = {}
    for schema, table, column, data_type in rows:
        out.setdefault(f"{schema}.{table}".lower(), {})[str(column)] = str(data_type)
    return out


def checks_summary(results: Sequence[CheckResult]) -> tuple[int, int]:
    """(passed, failed)."""
    passed = sum(1 for r in results if r.passed)
    return passed, len(results) - passed


__all__ = ["checks_summary", "run_checks", "warehouse_columns", "warehouse_types"]
