"""The compliance report for a period: what an auditor asks for, as text, JSON, HTML or PDF.

Decisions and denials by policy, exceptions with their justifications and approvers, the audit
chain's verification, lineage completeness for regulated (PROPRIETARY) data, data coverage,
and the governance metrics against their targets. The HTML is one self-contained file: inline
CSS and SVG bar charts, no scripts, nothing fetched.
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from lacuna.errors import ConfigError
from lacuna.metrics.api import METRICS, GovernanceMetrics
from lacuna.metrics.exact import TooManyRecords
from lacuna.metrics.period import Period, parse_period
from lacuna.model import utcnow

if TYPE_CHECKING:
    from pathlib import Path

    from lacuna.exceptions.model import ExceptionRequest
    from lacuna.governor import Governor


@dataclass(frozen=True, slots=True, kw_only=True)
class ComplianceReport:
    period: Period
    generated_at: datetime
    metrics: dict[str, Any]  # GovernanceMetrics.to_dict()
    by_policy: tuple[tuple[str, int, int], ...]  # (policy, decisions, denials)
    by_action: tuple[tuple[str, int, int], ...]  # (action, decisions, denials)
    exceptions: tuple[dict[str, Any], ...]
    audit_verified: bool
    audit_checked: int
    audit_problem: str
    lineage: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {
            "period": self.period.to_dict(), "generated_at": self.generated_at.isoformat(),
            "metrics": self.metrics,
            "denials_by_policy": [{"policy": p, "decisions": n, "denials": d}
                                  for p, n, d in self.by_policy],
            "decisions_by_action": [{"action": a, "decisions": n, "denials": d}
                                    for a, n, d in self.by_action],
            "exceptions": list(self.exceptions),
            "audit_chain": {"verified": self.audit_verified, "records_checked":
                            self.audit_checked, "problem": self.audit_problem},
            "lineage": self.lineage,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, default=str)

    def _shown_exceptions(self) -> list[dict[str, Any]]:
        """The exceptions with their text as :func:`lacuna.exceptions.shown.visible` shows
        it on one line: a destination (never checked for control characters: a real path may
        hold them) or a request stored before they were refused could otherwise rewrite the
        auditor's terminal line (ESC, CR) or reorder the page's text (U+202E)."""
        from lacuna.exceptions.shown import visible

        return [{k: visible(v, one_line=True) if isinstance(v, str) else v for k, v in x.items()}
                for x in self.exceptions]

    def _metric_rows(self) -> list[tuple[str, str, str, str]]:
        rows = []
        for name in METRICS:
            m = self.metrics["metrics"][name]
            value = "n/a" if m["value"] is None else f"{m['value']}{m['unit']}"
            rows.append((name, value, m["target"], m["flag"]))
        return rows

    def to_text(self) -> str:
        chain = ("verified" if self.audit_verified else f"BROKEN: {self.audit_problem}")
        lines = [f"Compliance report {self.period.label} "
                 f"({self.period.start:%Y-%m-%d} to {self.period.end:%Y-%m-%d}, exclusive)",
                 f"Generated {self.generated_at:%Y-%m-%d %H:%M} UTC", "",
                 f"Audit chain: {chain} ({self.audit_checked} records checked)", "",
                 "Governance metrics:"]
        lines += [f"  {n:<30} {v:>10}  target {t}  [{f}]" for n, v, t, f in self._metric_rows()]
        lines += ["", "Decisions by policy (decisions / denials):"]
        lines += [f"  {p:<20} {n:>6} {d:>6}" for p, n, d in _shown(self.by_policy)] or [
            "  (none)"]
        lines += ["", "Decisions by action (decisions / denials):"]
        lines += [f"  {a:<20} {n:>6} {d:>6}" for a, n, d in _shown(self.by_action)] or [
            "  (none)"]
        lines += ["", f"Exceptions ({len(self.exceptions)}):"]
        for e in self._shown_exceptions():
            lines.append(f"  {e['id']} {e['status']} {e['requested_by']} → {e['destination']}"
                         f" (policy {e['policy_id']}); approver {e['decided_by'] or e['approver']}")
            lines.append(f"    justification: {e['business_justification'] or e['purpose']}")
            if e.get("untrusted"):
                lines.append(f"    NOT VERIFIED, not honoured: {e['untrusted']}")
        lin = self.lineage
        lines += ["", f"Lineage completeness: {lin['complete']}/{lin['derived']} derived datasets; "
                  f"PROPRIETARY {lin['proprietary_complete']}/{lin['proprietary_derived']}"]
        return "\n".join(lines)

    def to_html(self) -> str:
        e = html.escape
        metric_rows = "".join(
            f"<tr class='{e(f)}'><td>{e(n)}</td><td>{e(v)}</td><td>{e(t)}</td><td>{e(f)}</td></tr>"
            for n, v, t, f in self._metric_rows())
        exc_rows = "".join(
            f"<tr><td>{e(x['id'])}</td><td>{e(x['status'])}"
            + (f"<br><span class='missed'>NOT VERIFIED, not honoured: {e(x['untrusted'])}</span>"
               if x.get("untrusted") else "")
            + f"</td><td>{e(x['requested_by'])}</td>"
            f"<td>{e(str(x['policy_id']))}</td><td class='path'>{e(x['destination'])}</td>"
            f"<td>{e(x['business_justification'] or x['purpose'])}</td>"
            f"<td>{e(str(x['decided_by'] or x['approver']))}</td></tr>"
            for x in self._shown_exceptions())
        chain = ("<span class='ok'>verified</span>" if self.audit_verified else
                 f"<span class='missed'>broken: {e(self.audit_problem)}</span>")
        lin = self.lineage
        return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>Lacuna compliance report {e(self.period.label)}</title>
<style>
body{{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:60em}}
table{{border-collapse:collapse;margin:.5em 0 1.5em}}td,th{{border:1px solid #ccc;padding:.3em .6em;
text-align:left}}td.path{{overflow-wrap:anywhere;min-width:12em}}th{{background:#f3f3f3}}.ok{{color:#1a7f37}}.missed{{color:#b42318}}
tr.missed td{{background:#fdecea}}tr.no-data td{{color:#777}}td:first-child{{white-space:nowrap}}
@page{{size:A4;margin:14mm}}@media print{{body{{margin:0;max-width:none;font-size:10.5pt}}
h2{{break-after:avoid}}tr,svg{{break-inside:avoid}}*{{-webkit-print-color-adjust:exact;
print-color-adjust:exact}}}}
</style></head><body>
<h1>Compliance report: {e(self.period.label)}</h1>
<p>Period {self.period.start:%Y-%m-%d %H:%M} to {self.period.end:%Y-%m-%d %H:%M} UTC (end
exclusive). Generated {self.generated_at:%Y-%m-%d %H:%M} UTC.</p>
<h2>Audit chain</h2><p>{chain}: {self.audit_checked} records checked.</p>
<h2>Governance metrics</h2>
<table><tr><th>metric</th><th>value</th><th>target</th><th>flag</th></tr>{metric_rows}</table>
<h2>Denials by policy</h2>{_bars(_shown(self.by_policy))}
<h2>Decisions by action</h2>{_bars(_shown(self.by_action))}
<h2>Exceptions</h2>
<table><tr><th>id</th><th>status</th><th>requested by</th><th>policy</th><th>destination</th>
<th>justification</th><th>approver</th></tr>{exc_rows}</table>
<h2>Lineage completeness</h2>
<p>{lin['complete']} of {lin['derived']} derived datasets have complete lineage; regulated
(PROPRIETARY): {lin['proprietary_complete']} of {lin['proprietary_derived']}.</p>
</body></html>
"""

    def to_pdf(self, output: Path) -> Path:
        """Print the HTML report to a PDF file with headless Chromium (see
        :mod:`lacuna.metrics.pdf`).

        Raises:
            ReportError: no Chromium, or it could not print.
        """
        from lacuna.metrics.pdf import html_to_pdf

        return html_to_pdf(self.to_html(), output)


def _untrusted(gov: Governor, request: ExceptionRequest) -> str | None:
    """Why ``request``'s row is not what Lacuna decided (the governor would not honour it), or
    None: its signature does not verify (inserted or edited by hand), or the audit trail
    records an end (revoked, denied, expired) of a row that says pending or approved (an older
    signed body written back). An auditor reads a forged "approved" row as what it is."""
    from lacuna.exceptions.authority import not_verified_note
    from lacuna.exceptions.model import Status
    from lacuna.exceptions.store import TrailUnreadable, rolled_back_note

    store = gov.exceptions
    if not store.verified(request):
        return not_verified_note(request)
    if request.status not in (Status.PENDING, Status.APPROVED):
        return None
    try:
        ended = store.ended_on_trail(request.id)
    except TrailUnreadable as exc:
        return f"exception {request.id} could not be checked against the audit trail ({exc})"
    return None if ended is None else rolled_back_note(request, ended)


def _broken_down(gov: Governor, window: Period) -> tuple[
        GovernanceMetrics, tuple[tuple[str, int, int], ...], tuple[tuple[str, int, int], ...]]:
    """The period's exact metrics and its decisions by policy and by action, from one read of
    its records in bounded memory (:mod:`lacuna.metrics.stream`): the exact path held every
    decision and refused a period of more than 500,000 records, so a year of a busy
    deployment could not be reported. A trail whose ``timestamp`` column is not in time
    order (a read-only store on a trail no writer has normalised) is read the exact way,
    with its limit."""
    from lacuna.metrics.api import Filters
    from lacuna.metrics.stream import Tally, Unordered, tally

    gov.audit.check_times()  # a column that is not a time is outside every read window
    try:
        numbers, counted = tally(gov, window, Filters())
    except Unordered:
        pass
    else:
        return (GovernanceMetrics._of_numbers(window, gov, numbers, "records"),
                *counted.breakdown())
    try:
        m = GovernanceMetrics(window, governor=gov, exact=True)
    except TooManyRecords as exc:
        msg = (f"the compliance report of {window.label}: the audit trail's timestamp column "
               "is not in time order (a trail no writer has opened since it was normalised), "
               "and the period holds more audit records than are broken down at once that "
               "way; open the trail once with a writer (any `lacuna` command that records), "
               "or report shorter periods (a month: `--period 2026-11`).")
        raise ConfigError(msg) from exc
    counted = Tally(keep=lambda _: True)
    for d in m.decisions:
        counted.count(d)  # only its breakdown is read
    return (m, *counted.breakdown())


def _shown(rows: tuple[tuple[str, int, int], ...]) -> tuple[tuple[str, int, int], ...]:
    """``rows`` with each name as :func:`lacuna.exceptions.shown.visible` shows it on one
    line: a policy id or an action is whatever the record holds (a server's client names its
    action; an edited row anything), and an ESC sequence or a carriage return in one rewrote
    the auditor's terminal line, a U+202E reordered the page's text, as the exceptions'
    text could (:meth:`ComplianceReport._shown_exceptions`)."""
    from lacuna.exceptions.shown import visible

    return tuple((visible(name, one_line=True), n, d) for name, n, d in rows)


def _bars(rows: tuple[tuple[str, int, int], ...]) -> str:
    """An inline SVG bar chart: decisions (grey) and denials (red) per row."""
    if not rows:
        return "<p>(none)</p>"
    top = max(n for _, n, _ in rows) or 1
    height, width, label = 22, 360, 160
    parts = [f"<svg xmlns='http://www.w3.org/2000/svg' width='{label + width + 80}' "
             f"height='{height * len(rows) + 4}' role='img'>"]
    for i, (name, n, d) in enumerate(rows):
        y = i * height + 2
        parts.append(f"<text x='0' y='{y + 15}' font-size='12'>{html.escape(name)}</text>"
                     f"<rect x='{label}' y='{y}' width='{width * n / top:.1f}' height='16' "
                     f"fill='#c9c9c9'/><rect x='{label}' y='{y}' width='{width * d / top:.1f}' "
                     f"height='16' fill='#d0453b'/><text x='{label + width + 6}' y='{y + 15}' "
                     f"font-size='12'>{d}/{n}</text>")
    parts.append("</svg>")
    return "".join(parts)


def compliance_report(
    period: str | Period | tuple[datetime | date, datetime | date] = "last_30_days",
    *,
    governor: Governor | None = None,
    now: datetime | None = None,
) -> ComplianceReport:
    """The compliance report of a period (quarterly review: ``period="2026-Q4"``)."""
    from lacuna.governor import current
    from lacuna.remote.client import refuse_local_state

    window = parse_period(period, now=now)
    gov = governor or current()
    # its decisions, verification and lineage are the state's: a server's client has none
    # (GovernanceMetrics would read the server's numbers, but no decisions to break down)
    refuse_local_state(gov.config, "the compliance report", "Run `lacuna metrics report` on "
                       "the server's host; its numbers: GET /api/v1/metrics.")
    m, by_policy, by_action = _broken_down(gov, window)
    fields = ("id", "status", "requested_by", "policy_id", "destination", "purpose",
              "business_justification", "approver", "decided_by", "created_at", "valid_until")
    exceptions = tuple({**{f: (v.isoformat() if isinstance(v := getattr(r, f), datetime) else
                               str(v.value) if f == "status" else v) for f in fields},
                        "verified": why is None, "untrusted": why}
                       for r in gov.exceptions.list() if r.created_at in window
                       for why in (_untrusted(gov, r),))
    verify = gov.audit.verify()
    lineage = gov.lineage_store.completeness().to_dict()
    return ComplianceReport(period=window, generated_at=utcnow(), metrics=m.to_dict(),
                            by_policy=by_policy, by_action=by_action, exceptions=exceptions,
                            audit_verified=verify.ok, audit_checked=verify.checked,
                            audit_problem=verify.problem, lineage=lineage)

