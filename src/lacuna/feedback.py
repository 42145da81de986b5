"""Feedback: a decision rendered as a learning moment — what, why, how to proceed, who to ask.

One layout, four renderers: plain text (exception messages, logs), rich (terminals), HTML
(notebooks, via ``_repr_html_``) and JSON (machines). The plain layout follows the seed:

    ❌ Governance Policy Violation
    Action: Export to ~/Downloads/customers.csv
    Reason: Cannot export PROPRIETARY data to unmanaged location
    Classification: PROPRIETARY
    Tags: PII, GDPR
    Why this matters: ...
    How to proceed: 1. ... (runnable code)
    Policy: P-2024-001 (PII Export Restrictions)
    Steward: ...
    Documentation: ...

Denials end with how to report a false positive: the decision id and the ``lacuna feedback``
command or, when a Lacuna server is configured (``server:``: the decision is on its trail), the
console's feedback page for the decision.
"""

from __future__ import annotations

import html
import json
import textwrap
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from lacuna.model import Alternative, Decision

if TYPE_CHECKING:
    from rich.console import RenderableType

_CODE_INDENT = "   "


@dataclass(frozen=True, slots=True)
class FeedbackLink:
    """How to say a decision was wrong: its id, the CLI command or (when a Lacuna server is
    configured) the console page."""

    decision_id: str
    console_url: str | None = None

    @property
    def command(self) -> str:
        return f'lacuna feedback {self.decision_id} --false-positive "why it was wrong"'


def feedback_url(server_url: str, decision_id: str) -> str:
    """The console page where a decision's feedback is given."""
    return f"{server_url.rstrip('/')}/console/feedback/{quote(decision_id, safe='')}"


def feedback_link(decision: Decision, server_url: str | None = None) -> FeedbackLink | None:
    """The feedback link of a denial (None for an allowed decision). The server is
    ``server_url``, else the current governor's ``server.url`` setting, if any."""
    if decision.allowed:
        return None
    if server_url is None:
        from lacuna.governor import existing

        gov = existing()
        server = gov.config.server if gov is not None else None
        server_url = server.url if server is not None else None
    url = feedback_url(server_url, decision.decision_id) if server_url else None
    return FeedbackLink(decision.decision_id, url)


def _action_line(decision: Decision) -> str:
    op = decision.operation
    if op is None:
        return "(unknown operation)"
    verb = op.action.value.capitalize()
    if op.destination is not None:
        return f"{verb} to {op.destination.uri}"
    names = ", ".join(s.name for s in op.sources)
    return f"{verb} {names}" if names else verb


def _headline(decision: Decision) -> str:
    if decision.allowed:
        return "✓ Allowed by governance policy"
    if decision.engine_error:
        return "❌ Governance could not decide: denied (fail closed)"
    return "❌ Governance Policy Violation"


def _policy_line(decision: Decision) -> str | None:
    if decision.policy_title and decision.policy_id:
        return f"{decision.policy_id} ({decision.policy_title})"
    return decision.policy_id or decision.policy_title


def _head(decision: Decision) -> list[tuple[str, str]]:
    """The labelled fields above "Why this matters", in the seed's order."""
    op = decision.operation
    rows = [("Action", _action_line(decision)), ("Reason", decision.reasoning)]
    if op is not None and op.classification.assumed:  # a fail-closed guess, not a finding
        tier = op.classification.tier.value
        rows.append(("Classification", f"{tier} assumed (fail closed: Lacuna could not decide; "
                     f"the data was not found to be {tier})"))
        rows.append(("Tags", "(unknown)"))
    elif op is not None:
        rows.append(("Classification", op.classification.tier.value))
        rows.append(("Tags", ", ".join(op.classification.tags) or "(none)"))
    if decision.engine_error:
        rows.append(("Engine error", decision.engine_error))
    return rows


_MAX_EVIDENCE = 4


def _evidence(decision: Decision) -> tuple[str, list[str]]:
    """Why the data has its tier: the most sensitive columns and their reasoning (no values)."""
    op = decision.operation
    if op is None or decision.allowed:
        return "", []
    c = op.classification
    if c.assumed:  # nothing was found: the head says why the tier is assumed
        return "", []
    drivers = ("pii", "phi", "financial")  # the classes that raise a table's tier
    sensitive = [(name, col) for name, col in c.columns.items() if col.classification in drivers]
    sensitive.sort(key=lambda item: item[1].sensitivity, reverse=True)
    lines = [f"{name}: {col.reasoning}" for name, col in sensitive[:_MAX_EVIDENCE] if col.reasoning]
    if len(sensitive) > _MAX_EVIDENCE:
        more = len(sensitive) - _MAX_EVIDENCE
        lines.append(f"… and {more} more: {op.variable or 'df'}.lacuna.explain()")
    if not lines and c.reasoning:
        lines = [c.reasoning[0]]
    return f"How Lacuna classified it {c.tier.value}:", lines


def _foot(decision: Decision) -> list[tuple[str, str]]:
    """The labelled fields below "How to proceed": policy, steward, documentation."""
    policy = _policy_line(decision)
    rows = [("Policy", policy)] if policy else []
    deciding = next((p for p in decision.policies if p.id and p.id == decision.policy_id), None)
    if deciding is not None and (deciding.compliance or deciding.version):
        parts = [", ".join(deciding.compliance)] if deciding.compliance else []
        if deciding.version:
            parts.append(f"policy version {deciding.version}")
        rows.append(("Compliance", "; ".join(parts)))
    if decision.steward:
        rows.append(("Steward", decision.steward))
    if decision.docs_url:
        rows.append(("Documentation", decision.docs_url))
    return rows


def _code_block(alt: Alternative) -> str | None:
    """An alternative's code with its note as a trailing comment."""
    parts = [p for p in (alt.code, f"# {alt.note}" if alt.note else None) if p]
    return "\n".join(parts) or None


def _feedback_rows(link: FeedbackLink | None) -> list[tuple[str, str]]:
    if link is None:
        return []
    # with a server, its console: the decision and its trail are there (lacuna feedback
    # refuses, naming this page)
    return [("Decision", link.decision_id),
            ("Report a false positive", link.console_url or link.command)]


def render_text(decision: Decision, *, feedback: FeedbackLink | None = None) -> str:
    """The decision as plain text, the seed's layout (then ``feedback``, when given)."""
    lines = [_headline(decision)]
    lines += [f"{label}: {value}" for label, value in _head(decision)]
    if decision.why:
        lines.append("Why this matters:")
        lines.extend(f"- {w}" for w in decision.why)
    heading, evidence = _evidence(decision)
    if evidence:
        lines.append(heading)
        lines.extend(f"- {e}" for e in evidence)
    if decision.alternatives:
        lines.append("How to proceed:")
        for i, alt in enumerate(decision.alternatives, 1):
            lines.append(f"{i}. {alt.title}")
            code = _code_block(alt)
            if code:
                lines.append(textwrap.indent(code, _CODE_INDENT))
    lines += [f"{label}: {value}" for label, value in _foot(decision)]
    lines += [f"{label}: {value}" for label, value in _feedback_rows(feedback)]
    return "\n".join(lines)


def render_rich(decision: Decision) -> RenderableType:
    """The decision for terminals: a panel with what and why, then the ways to proceed.

    Code stays outside the panel, unindented and unwrapped, so it copies as it runs: print it
    with ``console.print(render_rich(d), soft_wrap=True)`` so long lines are not cut.
    """
    from rich.console import Group
    from rich.panel import Panel
    from rich.syntax import Syntax
    from rich.text import Text

    def wrapped(text: Text) -> Text:  # inside the panel, wrap even when printed soft_wrap
        text.no_wrap, text.overflow = False, "fold"
        return text

    def field(label: str, value: str) -> Text:
        return wrapped(Text.assemble((f"{label}: ", "bold"), value))

    parts: list[Any] = [field(label, value) for label, value in _head(decision)]
    if decision.why:
        parts.append(Text("Why this matters:", style="bold"))
        parts.extend(wrapped(Text(f"  - {w}")) for w in decision.why)
    heading, evidence = _evidence(decision)
    if evidence:
        parts.append(Text(heading, style="bold"))
        parts.extend(wrapped(Text(f"  - {e}", style="dim")) for e in evidence)
    style = "green" if decision.allowed else "red"
    out: list[Any] = [Panel(Group(*parts), title=_headline(decision), title_align="left",
                            border_style=style)]
    if decision.alternatives:
        out.append(Text("How to proceed:", style="bold"))
        for i, alt in enumerate(decision.alternatives, 1):
            out.append(Text(f"{i}. {alt.title}", style="cyan"))
            code = _code_block(alt)
            if code:
                out.append(Syntax(code, "python", theme="ansi_dark",
                                  background_color="default", word_wrap=False))
    out += [field(label, value) for label, value in _foot(decision)]
    return Group(*out)


def render_html(decision: Decision, *, feedback: FeedbackLink | None = None) -> str:
    """The decision as an HTML fragment for notebooks (then ``feedback``, when given)."""
    e = html.escape
    color = "#1a7f37" if decision.allowed else "#cf222e"
    body = "".join(
        f"<tr><th style='text-align:left;padding-right:1em'>{e(label)}</th><td>"
        + (f"<b>{e(value)}</b>" if label == "Classification" else e(value))
        + "</td></tr>"
        for label, value in _head(decision)
    )
    out = [
        f"<div class='lacuna-decision' style='border-left:4px solid {color};padding:.5em 1em'>",
        f"<div style='font-weight:bold;color:{color}'>{e(_headline(decision))}</div>",
        f"<table>{body}</table>",
    ]
    if decision.why:
        out.append("<div><b>Why this matters</b><ul>")
        out.extend(f"<li>{e(w)}</li>" for w in decision.why)
        out.append("</ul></div>")
    heading, evidence = _evidence(decision)
    if evidence:
        out.append(f"<div><b>{e(heading)}</b><ul>")
        out.extend(f"<li>{e(line)}</li>" for line in evidence)
        out.append("</ul></div>")
    if decision.alternatives:
        out.append("<div><b>How to proceed</b><ol>")
        for alt in decision.alternatives:
            code = _code_block(alt)
            block = f"<pre><code>{e(code)}</code></pre>" if code else ""
            out.append(f"<li>{e(alt.title)}{block}</li>")
        out.append("</ol></div>")
    foot = []
    for label, value in _foot(decision):
        if label == "Steward":
            value_html = f"<a href='mailto:{e(value)}'>{e(value)}</a>"
        elif label == "Documentation":
            value_html = f"<a href='{e(value)}'>{e(value)}</a>"
        else:
            value_html = e(value)
        foot.append(f"{label}: {value_html}")
    if foot:
        out.append("<div style='color:#57606a'>" + " · ".join(foot) + "</div>")
    if feedback is not None:
        how = (f"<a href='{e(feedback.console_url)}' target='_blank' rel='noopener'>"
               "report it on the console</a>" if feedback.console_url
               else f"run <code>{e(feedback.command)}</code>")
        out.append(
            f"<div class='lacuna-feedback' style='color:#57606a;margin-top:.4em'>Decision "
            f"<code>{e(feedback.decision_id)}</code>. Wrong decision? {how}.</div>")
    out.append("</div>")
    return "".join(out)


def render_json(decision: Decision) -> str:
    """The decision as JSON, for machines."""
    return json.dumps(decision.to_dict(), indent=2, sort_keys=True)
