"""Rendering for ``lacuna classify``: the table, ``--explain`` and the layer report.

``--explain`` shows, per column, the evidence that decided it (name, values, embeddings, LLM),
the near misses ("looked like a phone number, but only 12% of sampled values are ..."), the
layer that decided, and under the table which layers are on and why the others are off, with
the share of columns each layer decided.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rich.table import Table

from lacuna.model import Classification, Evidence

_MARK = {"name": "name", "value": "values", "embedding": "layer 2", "llm": "layer 3",
         "term": "term", "path": "path"}


def evidence_lines(evidence: tuple[Evidence, ...]) -> list[str]:
    """One line per piece of evidence; near misses and unavailable layers are marked."""
    out = []
    for e in evidence:
        if e.rule.startswith(("near-miss:", "below-threshold:")) or e.rule == "llm:unavailable":
            out.append(f"  ✗ {e.detail}")
        else:
            out.append(f"  • [{_MARK.get(e.source, e.source)}] {e.detail}")
    return out


def classification_table(name: str, c: Classification, *, explain: bool) -> Table:
    """The rich table for one classified file."""
    tags = ", ".join(c.tags) or "(none)"
    table = Table(
        title=f"{name}: [bold]{c.tier.value}[/bold]  tags: {tags}",
        title_justify="left",
        caption="\n".join(c.reasoning) or None,
        caption_justify="left",
    )
    headers = ["column", "class", "pii_type", "sensitivity", "confidence"]
    headers += ["layer"] if explain else ["reasoning"]
    for header in headers:
        table.add_column(header, overflow="fold")
    for col_name, col in c.columns.items():
        row = [col_name, col.classification.value, col.pii_type or "", col.sensitivity.value,
               f"{col.confidence:.2f}"]
        row.append(col.layer.value if explain else col.reasoning)
        table.add_row(*row)
    return table


def explanation(c: Classification) -> str:
    """Per column: the decision, then every piece of evidence and near miss, one per line."""
    out = []
    for name, col in c.columns.items():
        what = col.classification.value + (f"/{col.pii_type}" if col.pii_type else "")
        out.append(f"{name}: {what} (layer {col.layer.value}, confidence "
                   f"{col.confidence:.2f})")
        lines = evidence_lines(col.evidence)
        out.extend(lines or [f"  • {col.reasoning or 'no evidence'}"])
        if _hashed(col):
            from lacuna.anonymize.builtin.hash import PSEUDONYMISATION_NOTE

            out.append(f"  ⚠ hashed: {PSEUDONYMISATION_NOTE} (docs/anonymize.md)")
    return "\n".join(out)


def _hashed(col: Any) -> bool:
    """Whether the column was replaced by the keyed ``hash`` strategy (evidence or reasoning)."""
    return any(e.rule == "anonymize:hash" for e in col.evidence) or (
        "anonymized with hash" in (col.reasoning or ""))


def layer_report(statuses: tuple[Any, ...], results: Mapping[str, Classification]) -> str:
    """Which layers are on, why the others are off, and the share each layer decided."""
    from lacuna.classify import layer_shares

    lines = ["layer 1 (heuristics) is on: names, sampled values, paths, sensitive terms"]
    lines += [s.reason for s in statuses]
    columns = {f"{f}:{n}": col for f, c in results.items() for n, col in c.columns.items()}
    if columns:
        shares = layer_shares(columns)
        lines.append("columns decided by layer: " + ", ".join(
            f"{layer} {share:.0%}" for layer, share in shares.items()))
    return "\n".join(lines)


def to_json(results: Mapping[str, Classification], statuses: tuple[Any, ...]) -> dict[str, Any]:
    """The ``--json`` payload for one or more files, with per-column evidence and layers."""
    out: dict[str, Any] = {}
    for name, c in results.items():
        data = c.to_dict()
        for col_name, col in c.columns.items():
            data["columns"][col_name]["evidence"] = [
                {"source": e.source, "rule": e.rule, "detail": e.detail, "score": e.score}
                for e in col.evidence]
        out[name] = data
    del statuses
    return out
