"""Replace one benchmark's section of docs/benchmarks.md (``## Title`` up to the next ``## ``)."""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime
from pathlib import Path

DOC = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"


def stamp() -> str:
    """Date, load average and cores: the line every section starts with."""
    load = " / ".join(f"{x:.1f}" for x in os.getloadavg())
    return (f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, load average {load} "
            f"(1/5/15 min) on {os.cpu_count()} cores.")


def update_section(section: str, doc: Path = DOC) -> None:
    """Put ``section`` (markdown starting with ``## Title``) in place of the section of that
    title in ``doc``, or at its end when there is none."""
    title = section.splitlines()[0].strip()
    text = doc.read_text() if doc.exists() else "# Benchmarks\n"
    pattern = re.compile(rf"^{re.escape(title)}\n.*?(?=^## |\Z)", re.S | re.M)
    body = section.strip() + "\n\n"
    if pattern.search(text):
        text = pattern.sub(lambda _: body, text, count=1)
    else:
        text = text.rstrip() + "\n\n" + body
    doc.write_text(text.rstrip() + "\n")
