"""HTML to PDF through a headless Chromium print (``chromium --headless --print-to-pdf``).

Chromium prints the compliance report's own HTML, so the PDF shows what the browser shows: the
same inline CSS and SVG charts, no second layout engine to keep in step. The browser is found
as ``$LACUNA_CHROMIUM``, else ``chromium``, ``chromium-browser``, ``google-chrome`` on PATH
(Debian: ``apt-get install chromium``; scripts/setup.sh installs it).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from lacuna.errors import LacunaError

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
         "--disable-background-networking", "--disable-extensions", "--no-first-run",
         "--no-pdf-header-footer", "--run-all-compositor-stages-before-draw")


class ReportError(LacunaError):
    """A report could not be produced (for PDF: no browser, or the print failed)."""


def find_chromium() -> str:
    """The Chromium to print with.

    Raises:
        ReportError: none is installed.
    """
    configured = os.environ.get("LACUNA_CHROMIUM")
    if configured:
        if not (Path(configured).is_file() and os.access(configured, os.X_OK)):
            msg = (f"LACUNA_CHROMIUM={configured!r} is not an executable file: point it at a "
                   "Chromium or Chrome binary, or unset it to search PATH.")
            raise ReportError(msg)
        return configured
    for name in CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    msg = ("PDF reports are printed by headless Chromium, and none was found on PATH (tried "
           f"{', '.join(CANDIDATES)}): install it (Debian: apt-get install chromium) or set "
           "LACUNA_CHROMIUM to its path; --format html gives the same report without it.")
    raise ReportError(msg)


def html_to_pdf(page: str, output: Path, *, chromium: str | None = None,
                timeout_s: float = 120.0) -> Path:
    """Print the HTML document ``page`` to the PDF file ``output`` and return its path.

    The page is loaded from a private temporary folder with a throwaway browser profile, so
    nothing of the user's browser is read and nothing is left behind.

    Raises:
        ReportError: no Chromium, it failed or timed out, or it wrote no PDF.
    """
    browser = chromium or find_chromium()
    output = Path(output)
    with tempfile.TemporaryDirectory(prefix="lacuna-pdf-") as tmp:
        source = Path(tmp) / "report.html"
        source.write_text(page, encoding="utf-8")
        target = Path(tmp) / "report.pdf"
        command = [browser, *FLAGS, f"--user-data-dir={Path(tmp) / 'profile'}",
                   f"--print-to-pdf={target}", source.as_uri()]
        try:
            done = subprocess.run(command, capture_output=True, timeout=timeout_s, check=False,
                                  env={**os.environ, "HOME": tmp})
        except subprocess.TimeoutExpired as exc:
            msg = (f"{browser} did not finish printing the report within {timeout_s:.0f} s; "
                   "the machine may be overloaded: try again, or use --format html.")
            raise ReportError(msg) from exc
        except OSError as exc:
            msg = f"could not start {browser} to print the report: {exc}."
            raise ReportError(msg) from exc
        if not target.is_file() or target.read_bytes()[:5] != b"%PDF-":
            tail = done.stderr.decode("utf-8", "replace").strip().splitlines()[-3:]
            msg = (f"{browser} exited with {done.returncode} and wrote no PDF "
                   f"({' / '.join(tail) or 'no message'}); check that it runs headless here "
                   f"(`{browser} --headless --print-to-pdf=x.pdf about:blank`).")
            raise ReportError(msg)
        output.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(target, output)
    return output
