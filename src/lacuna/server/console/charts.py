"""Inline SVG charts for the metrics page: no JavaScript, scale with the page, readable by
screen readers (a ``<title>`` and a ``<desc>`` listing the values; the page also shows a table).

Every text value is XML-escaped; colours come from CSS classes so the stylesheet controls
contrast.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

WIDTH, HEIGHT = 640, 220
PAD_LEFT, PAD_BOTTOM, PAD_TOP, PAD_RIGHT = 44, 40, 14, 12


def _nice_max(value: float) -> float:
    """A round axis maximum, at least 4 so that the quarter ticks of counts are whole."""
    if value <= 4:
        return 4.0
    for step in (1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000, 10000):
        if value <= step:
            return float(step)
    return float(value)


def _frame(title: str, desc: str, body: list[str], height: int = HEIGHT) -> str:
    return (
        f'<svg class="chart" viewBox="0 0 {WIDTH} {height}" role="img" '
        f'preserveAspectRatio="xMidYMid meet" xmlns="http://www.w3.org/2000/svg">'
        f"<title>{escape(title)}</title><desc>{escape(desc)}</desc>{''.join(body)}</svg>"
    )


def _axis(top: float, height: int) -> list[str]:
    base = height - PAD_BOTTOM
    out = []
    for i in range(5):
        y = PAD_TOP + (base - PAD_TOP) * i / 4
        value = top * (4 - i) / 4
        out.append(f'<line class="grid" x1="{PAD_LEFT}" y1="{y:.1f}" x2="{WIDTH - PAD_RIGHT}" '
                   f'y2="{y:.1f}"/>')
        label = f"{value:g}" if value == int(value) else f"{value:.1f}"
        out.append(f'<text class="tick" x="{PAD_LEFT - 6}" y="{y + 4:.1f}" '
                   f'text-anchor="end">{label}</text>')
    return out


def grouped_bars(title: str, labels: Sequence[str], series: Sequence[tuple[str, Sequence[float]]],
                 *, height: int = HEIGHT) -> str:
    """Bars per label, one bar per series (e.g. days × {denials, exceptions})."""
    top = _nice_max(max((v for _, values in series for v in values), default=0))
    base = height - PAD_BOTTOM
    plot_w = WIDTH - PAD_LEFT - PAD_RIGHT
    slot = plot_w / max(len(labels), 1)
    bar = max(min(slot * 0.8 / max(len(series), 1), 40), 1)
    body = _axis(top, height)
    every = max(1, len(labels) // 10)  # at most about ten labels on the axis
    for i, label in enumerate(labels):
        x0 = PAD_LEFT + slot * i + (slot - bar * len(series)) / 2
        for j, (name, values) in enumerate(series):
            v = values[i]
            h = (base - PAD_TOP) * v / top
            body.append(
                f'<rect class="s{j}" x="{x0 + bar * j:.1f}" y="{base - h:.1f}" '
                f'width="{bar:.1f}" height="{h:.1f}"><title>{escape(label)}: {v:g} '
                f"{escape(name)}</title></rect>")
        if i % every == 0:
            body.append(f'<text class="tick" x="{PAD_LEFT + slot * (i + 0.5):.1f}" '
                        f'y="{base + 16}" text-anchor="middle">{escape(label)}</text>')
    for j, (name, _) in enumerate(series):
        x = PAD_LEFT + 8 + j * 150
        body.append(f'<rect class="s{j}" x="{x}" y="{height - 14}" width="10" height="10"/>'
                    f'<text class="legend" x="{x + 14}" y="{height - 5}">{escape(name)}</text>')
    desc = "; ".join(
        f"{name}: " + ", ".join(f"{lab} {v:g}" for lab, v in zip(labels, values, strict=True))
        for name, values in series)
    return _frame(title, desc, body, height)


def horizontal_bars(title: str, rows: Sequence[tuple[str, float]], *, unit: str = "") -> str:
    """One bar per row, longest first as given (top policies, decisions by tier)."""
    line = 26
    height = PAD_TOP + line * max(len(rows), 1) + 10
    label_w = 230
    top = _nice_max(max((v for _, v in rows), default=0))
    span = WIDTH - label_w - PAD_RIGHT - 50
    body: list[str] = []
    for i, (label, v) in enumerate(rows):
        y = PAD_TOP + line * i
        w = span * v / top
        shown = label if len(label) <= 32 else label[:31] + "…"
        body.append(f'<text class="label" x="{label_w - 8}" y="{y + 15}" text-anchor="end">'
                    f"{escape(shown)}<title>{escape(label)}</title></text>")
        body.append(f'<rect class="s0" x="{label_w}" y="{y + 3}" width="{w:.1f}" height="16"/>')
        body.append(f'<text class="value" x="{label_w + w + 6:.1f}" y="{y + 15}">'
                    f"{v:g}{escape(unit)}</text>")
    if not rows:
        body.append(f'<text class="label" x="{PAD_LEFT}" y="{PAD_TOP + 15}">no data yet</text>')
    desc = ", ".join(f"{label}: {v:g}{unit}" for label, v in rows) or "no data"
    return _frame(title, desc, body, height)


def stacked_bars(title: str, rows: Sequence[tuple[str, float, float]],
                 names: tuple[str, str]) -> str:
    """Two stacked parts per row (e.g. allowed and denied decisions per tier)."""
    line = 30
    height = PAD_TOP + line * max(len(rows), 1) + 30
    label_w = 130
    top = _nice_max(max((a + b for _, a, b in rows), default=0))
    span = WIDTH - label_w - PAD_RIGHT - 80
    body: list[str] = []
    for i, (label, a, b) in enumerate(rows):
        y = PAD_TOP + line * i
        wa, wb = span * a / top, span * b / top
        body.append(f'<text class="label" x="{label_w - 8}" y="{y + 16}" text-anchor="end">'
                    f"{escape(label)}</text>")
        body.append(f'<rect class="s0" x="{label_w}" y="{y + 4}" width="{wa:.1f}" height="18">'
                    f"<title>{escape(label)}: {a:g} {escape(names[0])}</title></rect>")
        body.append(f'<rect class="s1" x="{label_w + wa:.1f}" y="{y + 4}" width="{wb:.1f}" '
                    f'height="18"><title>{escape(label)}: {b:g} {escape(names[1])}</title></rect>')
        body.append(f'<text class="value" x="{label_w + wa + wb + 6:.1f}" y="{y + 16}">'
                    f"{a:g} / {b:g}</text>")
    for j, name in enumerate(names):
        x = label_w + j * 150
        body.append(f'<rect class="s{j}" x="{x}" y="{height - 14}" width="10" height="10"/>'
                    f'<text class="legend" x="{x + 14}" y="{height - 5}">{escape(name)}</text>')
    desc = ", ".join(f"{label}: {a:g} {names[0]}, {b:g} {names[1]}" for label, a, b in rows)
    return _frame(title, desc or "no data", body, height)
