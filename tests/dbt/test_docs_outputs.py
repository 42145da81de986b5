"""The Cube and Polaris outputs shown in docs/dbt.md are the example's current generated
outputs: each block equals (or is a part of) its golden file, which test_generate.py compares
with what ``lacuna generate`` writes."""

from __future__ import annotations

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = Path(__file__).resolve().parent / "golden"


def _blocks() -> list[tuple[str, str]]:
    text = (ROOT / "docs" / "dbt.md").read_text(encoding="utf-8")
    section = text[text.index("## Cube and Polaris"):text.index("### What was not run live")]
    return re.findall(r"```(\w+)\n(.*?)```", section, re.S)


def test_docs_show_the_current_cube_outputs() -> None:
    yaml_blocks = [b for lang, b in _blocks()
                   if lang == "yaml" and ("cubes:" in b or b.startswith("  access_policy:"))]
    cube = (GOLDEN / "cube" / "gold_customer_orders.yml").read_text(encoding="utf-8")
    masking = (GOLDEN / "cube-masking" / "gold_customer_orders.yml").read_text(encoding="utf-8")
    assert cube in yaml_blocks  # the whole generated file
    parts = [b for b in yaml_blocks if b.startswith("  access_policy:")]
    assert parts
    assert all(p in masking for p in parts)


def test_docs_show_the_current_polaris_outputs() -> None:
    shown = [json.loads(b) for lang, b in _blocks() if lang == "json"]
    requests = json.loads((GOLDEN / "polaris" / "requests.json").read_text(encoding="utf-8"))
    summary = json.loads((GOLDEN / "polaris" / "summary.json").read_text(encoding="utf-8"))
    lists = [s for s in shown if isinstance(s, list)]
    assert lists
    assert all(r in requests for block in lists for r in block)
    assert summary in shown
