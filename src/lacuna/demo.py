"""``lacuna demo``: the seed's scenario, end to end, on bundled sample data.

Each step prints the code it runs, then runs it for real in a sandbox folder: pandas under
governance, the default policy bundle, an SQLite audit trail. The compliant alternatives are run
exactly as the violation message prints them.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import Any

from rich import box
from rich.console import Console
from rich.rule import Rule
from rich.syntax import Syntax
from rich.table import Table

SAMPLES = ("customers.csv", "sales.csv")


def _demo_config(sandbox: Path) -> Any:
    from lacuna.config import DestinationConfig, config_from_dict

    defaults = DestinationConfig()
    return config_from_dict(
        {
            "mode": "enforce",
            "user": {"id": "analyst_alice", "role": "data_analyst", "department": "analytics"},
            "destinations": {
                # The sandbox stands in for the real places: its Downloads/ is unmanaged, its
                # governed/workspace/ is governed storage (alongside the usual defaults).
                "governed": [f"{sandbox / 'governed' / 'workspace'}/", *defaults.governed],
                "unmanaged": [str(sandbox / "Downloads"), *defaults.unmanaged],
            },
            "audit": {"url": f"sqlite:///{sandbox / 'audit.db'}"},
        }
    )


def _code(code: str) -> Syntax:
    return Syntax(code, "python", theme="ansi_dark", background_color="default", word_wrap=True)


@contextmanager
def _inside(sandbox: Path) -> Iterator[None]:
    """Work in ``sandbox``, with Lacuna's state there too (keys, caches, audit trail), so the
    demo writes nothing outside it. The previous working folder and environment come back."""
    old_cwd = Path.cwd()
    env = {"LACUNA_HOME": str(sandbox / ".lacuna"), "LACUNA_EMBEDDINGS_BUILD": "never"}
    old_env = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    os.chdir(sandbox)
    try:
        yield
    finally:
        os.chdir(old_cwd)
        for key, value in old_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


class _Session:
    """Runs code as a user would type it, in one namespace, printing code and output."""

    def __init__(self, console: Console) -> None:
        import pandas as pd

        import lacuna

        self.console = console
        self.ns: dict[str, Any] = {"__name__": "__lacuna_demo__", "pd": pd, "lacuna": lacuna}

    def step(self, title: str) -> None:
        self.console.print()
        self.console.print(Rule(f"[bold]{title}", align="left"))

    def run(self, code: str) -> None:
        self.console.print(_code(code))
        printed: list[str] = []
        self.ns["print"] = lambda *a: printed.append(" ".join(str(x) for x in a))
        exec(compile(code, "<lacuna demo>", "exec"), self.ns)  # our own, printed code
        for text in printed:
            self.console.print(
                "[dim]# →[/dim] " + text.replace("\n", "\n[dim]# →[/dim] "), highlight=False
            )


def run(console: Console, *, keep: Path | None = None) -> int:
    """Run the demo; returns the exit code (0 when every step behaved as the seed says)."""
    import lacuna
    from lacuna.errors import GovernanceViolation
    from lacuna.feedback import render_rich

    sandbox = Path(keep).resolve() if keep else Path(tempfile.mkdtemp(prefix="lacuna-demo-"))
    if keep and sandbox.is_dir() and any(sandbox.iterdir()):
        # the demo writes customers.csv, sales.csv, audit.db, Downloads/ and governed/ there:
        # a folder of your own (--keep .) lost its files of those names
        console.print(f"error: {sandbox} is not empty; the demo writes its sample files, "
                      "audit trail and folders there and would replace yours. Nothing was "
                      "written. Choose a new or empty folder for --keep.",
                      markup=False, highlight=False)
        return 2
    sandbox.mkdir(parents=True, exist_ok=True)
    for name in SAMPLES:
        (sandbox / name).write_bytes((resources.files("lacuna") / "data" / name).read_bytes())
    (sandbox / "Downloads").mkdir(exist_ok=True)
    (sandbox / "governed" / "workspace").mkdir(parents=True, exist_ok=True)
    console.print(f"[bold]Lacuna demo[/bold] — sandbox: {sandbox}")
    ok = True
    try:
        with _inside(sandbox):
            lacuna.enable(_demo_config(sandbox))
            s = _Session(console)
            s.step("1. Classification on read")
            s.run('customers = pd.read_csv("customers.csv")\nsales = pd.read_csv("sales.csv")')
            for var in ("customers", "sales"):
                console.print(_columns_table(var, s.ns[var].lacuna.classification))

            s.step("2. Classification inheritance: join")
            s.run(
                'analysis = customers.merge(sales, on="customer_id")\n'
                "print(analysis.lacuna_classification)\n"
                "print(analysis.lacuna_tags)\n"
                "print(analysis.lacuna_lineage)"
            )

            s.step("3. Aggregation downgrades only when no individual PII remains")
            s.run(
                "summary = analysis.groupby('region')['revenue'].sum()\n"
                "print(summary.lacuna_classification)\n"
                "print(summary.lacuna_tags)"
            )

            s.step("4. A risky export is stopped before it happens")
            target = Path("Downloads") / "customers.csv"
            code = f'customers.to_csv("{target}")'
            console.print(_code(code))
            try:
                exec(code, s.ns)
                console.print("[red]unexpected: the export was allowed[/red]")
                ok = False
                decision = None
            except GovernanceViolation as exc:
                decision = exc.decision
                console.print(render_rich(decision), soft_wrap=True)
                created = target.exists()
                console.print(f"File created: {'yes' if created else 'no'} ({target})")
                ok = ok and not created

            s.step("5. The compliant alternatives, run exactly as suggested")
            for alternative in decision.alternatives[:2] if decision else ():
                if not alternative.code or "request_exception" in alternative.code:
                    continue
                console.print(f"[cyan]{alternative.title}[/cyan]")
                s.run(alternative.code)
            written = sorted(
                str(p.relative_to(sandbox)) for p in sandbox.rglob("*.csv") if p.parent != sandbox
            )
            console.print(f"Written: {', '.join(written) or '(nothing)'}")
            ok = ok and len(written) >= 2

            s.step("6. The audit trail: every decision, allowed or denied, hash-chained")
            ok = _show_audit(console) and ok
    finally:
        lacuna.disable()
        from lacuna.governor import reset

        reset()
        if keep is None:
            shutil.rmtree(sandbox, ignore_errors=True)
    console.print()
    console.print(
        "[green]Demo complete.[/green]"
        if ok
        else "[red]Demo did not behave as the seed describes; see above.[/red]"
    )
    return 0 if ok else 1


def _columns_table(name: str, c: Any) -> Table:
    table = Table(
        title=f"{name}: [bold]{c.tier.value}[/bold]  tags: {', '.join(c.tags) or '-'}",
        title_justify="left",
    )
    for header in ("column", "class", "pii_type", "sensitivity", "reasoning"):
        table.add_column(header)
    for col_name, col in c.columns.items():
        table.add_row(
            col_name,
            col.classification.value,
            col.pii_type or "",
            col.sensitivity.value,
            col.reasoning,
        )
    return table


def _show_audit(console: Console) -> bool:
    from lacuna.governor import current

    store = current().audit
    table = Table(title="lacuna audit list", title_justify="left", box=box.SIMPLE_HEAD,
                  pad_edge=False)
    for header in ("#", "user", "action", "source / destination", "tier", "decision", "policy"):
        table.add_column(header, min_width=len("PROPRIETARY") if header == "tier" else None)
    records = list(reversed(store.list(limit=20)))
    seq_of = {r.id: r.seq for r in records}
    for r in records:
        where = r.destination or ", ".join(r.data.get("what", {}).get("sources", []))
        verdict = "[green]allowed[/green]" if r.allowed else "[red]denied[/red]"
        if r.kind == "outcome":  # how the operation decided in record #N ended
            done = "done" if r.status == "succeeded" else "[red]failed[/red]"
            verdict = f"{done} (#{seq_of.get(r.outcome_of or '', '?')})"
        elif r.kind == "config":  # the settings the demo runs under (lacuna audit config)
            detail = r.data.get("config") or {}
            where = (f"configuration {detail.get('revision')}: "
                     f"{len(detail.get('changes') or ())} setting(s) changed")
            verdict = "recorded"
        table.add_row(
            str(r.seq), r.user_id, r.action, where, r.tier or "—", verdict, r.policy_id or ""
        )
    console.print(table)
    report = store.verify()
    console.print(
        f"lacuna audit verify: {'intact' if report.ok else 'TAMPERED'} "
        f"({report.checked} records checked)"
    )
    return report.ok and len(records) > 0
