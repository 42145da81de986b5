"""The compliance report, visually: its HTML in Chromium (no console error, no request at all,
charts drawn) and its PDF (printed by the CLI through headless Chromium) rendered to PNG with
PDFium, checked for pages, text and ink.

With LACUNA_CONSOLE_SCREENSHOTS=1 the report is also written to docs/samples/ (HTML, PDF and a
PNG of page 1), as the console's screenshots are.
"""

from __future__ import annotations

import os
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
import time_machine
from typer.testing import CliRunner

import lacuna
from lacuna.cli import app
from lacuna.metrics import answer_survey, compliance_report, report_feedback

from .conftest import CHROMIUM

pdfium = pytest.importorskip("pypdfium2", reason="pypdfium2 is not installed (dev extra)")

QUARTER_START = datetime(2026, 10, 1, tzinfo=UTC)
USERS = {"alice": "data_analyst", "bob": "data_analyst", "carol": "data_scientist"}
JUSTIFICATION = "The board asked for <growth> & retention by region."
A4_POINTS = (595, 842)  # 210 × 297 mm
SECTIONS = ("Audit chain", "Governance metrics", "Denials by policy", "Decisions by action",
            "Exceptions", "Lineage completeness")


def _quarter(sandbox, sandbox_config) -> dict[str, int]:
    """A quarter of governed work by three users (on chosen days); what was done, counted here."""
    done = {"denied": 0, "allowed": 0, "exceptions": 0}
    down, work = sandbox / "Downloads", sandbox / "governed" / "workspace"
    for u, (user, role) in enumerate(USERS.items()):
        lacuna.enable(sandbox_config(user={"id": user, "role": role},
                                     stewards={"default": ["steward@example.com"]}))
        for week in range(u, 13, 4):
            t0 = QUARTER_START + timedelta(weeks=week, days=u, hours=10)
            with time_machine.travel(t0, tick=False):
                customers = pd.read_csv("customers.csv")
                customers.to_csv(work / f"{user}-{week}.csv")
                done["allowed"] += 1
            with time_machine.travel(t0 + timedelta(hours=1), tick=False), pytest.raises(
                    lacuna.GovernanceViolation) as denied:
                customers.to_csv(down / f"{user}-{week}.csv")
            done["denied"] += 1
            if week % 2 == 0:
                with time_machine.travel(t0 + timedelta(hours=1, minutes=5), tick=False):
                    report_feedback(denied.value.decision.operation_id, false_positive=True,
                                    comment="only customer ids")
        with time_machine.travel(QUARTER_START + timedelta(days=40 + u), tick=False):
            lacuna.request_exception(
                data=customers, destination=str(down / f"board-{user}.csv"),
                purpose="Board of Directors customer metrics", approver="steward@example.com",
                business_justification=JUSTIFICATION, duration_hours=4)
            done["exceptions"] += 1
            answer_survey(3 + u % 3)
    return done


def _ink(image) -> tuple[float, int]:
    """(share of non-white pixels, pixels of the denial bars' red #d0453b) in an RGB image."""
    import numpy as np

    pixels = np.asarray(image.convert("RGB")).astype(int)
    inked = (pixels.min(axis=2) < 240).mean()
    red = (np.abs(pixels - np.array([0xD0, 0x45, 0x3B])).max(axis=2) < 40).sum()
    return float(inked), int(red)


def test_compliance_report_in_chromium_and_as_pdf(browser, sandbox, sandbox_config, tmp_path,
                                                  monkeypatch):
    done = _quarter(sandbox, sandbox_config)
    report = compliance_report("2026-Q4", now=QUARTER_START + timedelta(days=100))
    html_path = tmp_path / "report.html"
    html_path.write_text(report.to_html(), encoding="utf-8")

    # 1. The HTML in Chromium: nothing logged as an error, no request made (self-contained).
    page = browser.new_page(viewport={"width": 1000, "height": 800})
    problems: list[str] = []
    requests: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.on("requestfailed", lambda r: problems.append(f"failed {r.url}"))
    page.on("request", lambda r: requests.append(r.url))
    page.goto(html_path.as_uri())
    page.wait_for_load_state("load")
    assert problems == []
    assert requests == [html_path.as_uri()]
    assert page.locator("h2").all_inner_texts() == list(SECTIONS)
    bars = page.locator("svg").first.locator("rect[fill='#d0453b']")  # denials by policy
    drawn = [box["width"] for box in (b.bounding_box() for b in bars.all()) if box]
    assert sum(w > 1 for w in drawn) == sum(1 for _, _, d in report.by_policy if d) >= 1
    body = page.locator("body").inner_text()
    assert JUSTIFICATION in body  # escaped in the source, shown as written
    assert page.locator("table").nth(1).locator("tr").count() == done["exceptions"] + 1
    page.close()

    # 2. The PDF through the CLI (headless Chromium's print), read back with PDFium.
    (sandbox / "lacuna.yaml").write_text(
        f"user:\n  id: carol\n  role: compliance_officer\n"
        f"audit:\n  url: sqlite:///{sandbox / 'audit.db'}\n", encoding="utf-8")
    lacuna.disable()
    pdf_path = tmp_path / "report.pdf"
    monkeypatch.setenv("LACUNA_CHROMIUM", CHROMIUM)
    out = CliRunner().invoke(app, ["report", "compliance", "--period", "2026-Q4",
                                   "--format", "pdf", "-o", str(pdf_path)])
    assert out.exit_code == 0, out.output
    doc = pdfium.PdfDocument(str(pdf_path))
    try:
        assert len(doc) >= 1
        texts = [doc[i].get_textpage().get_text_range() for i in range(len(doc))]
        text = "\n".join(texts)
        positions = [text.find(s) for s in SECTIONS]
        assert min(positions) >= 0, positions
        assert positions == sorted(positions)
        assert "Compliance report: 2026-Q4" in texts[0]
        ids = [x["id"] for x in report.exceptions]
        assert len(ids) == done["exceptions"]
        assert all(i in text for i in ids)
        assert sum(r["denials"] for r in report.to_dict()["denials_by_policy"]) == done["denied"]
        for i in range(len(doc)):
            assert tuple(round(v) for v in doc[i].get_size()) == A4_POINTS
            assert texts[i].strip(), f"page {i + 1} is empty"
        first = doc[0].render(scale=1.5).to_pil()
        inked, red = _ink(first)
        assert 0.01 < inked < 0.6, inked  # text and charts, not blank and not a black page
        assert red > 200  # the denial bars were printed (print-color-adjust: exact)
        png_path = tmp_path / "report-page1.png"
        first.save(png_path)
    finally:
        doc.close()

    if os.environ.get("LACUNA_CONSOLE_SCREENSHOTS") == "1":
        samples = Path(__file__).resolve().parents[2] / "docs" / "samples"
        for source, name in ((html_path, "compliance-report-2026-Q4.html"),
                             (pdf_path, "compliance-report-2026-Q4.pdf"),
                             (png_path, "compliance-report-2026-Q4-page1.png")):
            shutil.copyfile(source, samples / name)
        (samples / "compliance-report-2026-Q4.txt").write_text(report.to_text() + "\n",
                                                             encoding="utf-8")


def test_pdf_without_a_browser_is_a_clear_error(governed, monkeypatch, tmp_path):
    from lacuna.metrics import ReportError

    monkeypatch.setenv("LACUNA_CHROMIUM", str(tmp_path / "no-such-chromium"))
    with pytest.raises(ReportError, match=r"LACUNA_CHROMIUM=.*not an executable"):
        compliance_report("last_7_days").to_pdf(tmp_path / "r.pdf")
    assert not (tmp_path / "r.pdf").exists()
