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
"""

from __future__ import annotations

import html
import json
import textwrap
from typing import TYPE_CHECKING, Any

from lacuna.model import Decision

if TYPE_CHECKING:
    from rich.console import RenderableType

_CODE_INDENT = "   "


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
    if not decision.policy_id and not decision.policy_title:
        return None
    if decision.policy_title and decision.policy_id:
        return f"{decision.policy_id} ({decision.policy_title})"
    return decision.policy_id or decision.policy_title


def render_text(decision: Decision) -> str:
    """The decision as plain text, the seed's layout."""
    op = decision.operation
    lines = [
        _headline(decision),
        f"Action: {_action_line(decision)}",
        f"Reason: {decision.reasoning}",
    ]
    if op is not None:
        lines.append(f"Classification: {op.classification.tier.value}")
        lines.append(f"Tags: {', '.join(op.classification.tags) or '(none)'}")
    if decision.engine_error:
        lines.append(f"Engine error: {decision.engine_error}")
    if decision.why:
        lines.append("Why this matters:")
        lines.extend(f"- {w}" for w in decision.why)
    if decision.alternatives:
        lines.append("How to proceed:")
        for i, alt in enumerate(decision.alternatives, 1):
            lines.append(f"{i}. {alt.title}")
            if alt.code:
                lines.append(textwrap.indent(alt.code, _CODE_INDENT))
            if alt.note:
                lines.append(textwrap.indent(f"# {alt.note}", _CODE_INDENT))
    policy = _policy_line(decision)
    if policy:
        lines.append(f"Policy: {policy}")
    if decision.steward:
        lines.append(f"Steward: {decision.steward}")
    if decision.docs_url:
        lines.append(f"Documentation: {decision.docs_url}")
    return "\n".join(lines)


def render_rich(decision: Decision) -> RenderableType:
    """The decision as a rich panel for terminals."""
    from rich.console import Group
    from rich.panel import Panel
    from rich.syntax import Syntax
    from rich.text import Text

    op = decision.operation
    style = "green" if decision.allowed else "red"
    parts: list[Any] = []

    def field(label: str, value: str) -> None:
        parts.append(Text.assemble((f"{label}: ", "bold"), value))

    field("Action", _action_line(decision))
    field("Reason", decision.reasoning)
    if op is not None:
        field("Classification", op.classification.tier.value)
        field("Tags", ", ".join(op.classification.tags) or "(none)")
    if decision.engine_error:
        field("Engine error", decision.engine_error)
    if decision.why:
        parts.append(Text("Why this matters:", style="bold"))
        parts.extend(Text(f"  - {w}") for w in decision.why)
    if decision.alternatives:
        parts.append(Text("How to proceed:", style="bold"))
        for i, alt in enumerate(decision.alternatives, 1):
            parts.append(Text(f"  {i}. {alt.title}", style="cyan"))
            if alt.code or alt.note:
                code = "\n".join(x for x in (alt.code, f"# {alt.note}" if alt.note else None) if x)
                parts.append(
                    Syntax(
                        textwrap.indent(code, "     "),
                        "python",
                        theme="ansi_dark",
                        background_color="default",
                        word_wrap=True,
                    )
                )
    policy = _policy_line(decision)
    if policy:
        field("Policy", policy)
    if decision.steward:
        field("Steward", decision.steward)
    if decision.docs_url:
        field("Documentation", decision.docs_url)
    return Panel(Group(*parts), title=_headline(decision), title_align="left", border_style=style)


def render_html(decision: Decision) -> str:
    """The decision as an HTML fragment for notebooks."""
    e = html.escape
    op = decision.operation
    color = "#1a7f37" if decision.allowed else "#cf222e"
    rows = [("Action", e(_action_line(decision))), ("Reason", e(decision.reasoning))]
    if op is not None:
        rows.append(("Classification", f"<b>{e(op.classification.tier.value)}</b>"))
        rows.append(("Tags", e(", ".join(op.classification.tags) or "(none)")))
    if decision.engine_error:
        rows.append(("Engine error", e(decision.engine_error)))
    body = "".join(
        f"<tr><th style='text-align:left;padding-right:1em'>{k}</th><td>{v}</td></tr>"
        for k, v in rows
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
    if decision.alternatives:
        out.append("<div><b>How to proceed</b><ol>")
        for alt in decision.alternatives:
            code = alt.code + (f"\n# {alt.note}" if alt.note else "") if alt.code else alt.note
            block = f"<pre><code>{e(code)}</code></pre>" if code else ""
            out.append(f"<li>{e(alt.title)}{block}</li>")
        out.append("</ol></div>")
    foot = []
    policy = _policy_line(decision)
    if policy:
        foot.append(f"Policy: {e(policy)}")
    if decision.steward:
        foot.append(f"Steward: <a href='mailto:{e(decision.steward)}'>{e(decision.steward)}</a>")
    if decision.docs_url:
        foot.append(f"Documentation: <a href='{e(decision.docs_url)}'>{e(decision.docs_url)}</a>")
    if foot:
        out.append("<div style='color:#57606a'>" + " · ".join(foot) + "</div>")
    out.append("</div>")
    return "".join(out)


def render_json(decision: Decision) -> str:
    """The decision as JSON, for machines."""
    return json.dumps(decision.to_dict(), indent=2, sort_keys=True)
