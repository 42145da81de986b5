"""Turn regorus error text into positions and readable messages.

regorus reports problems as text like::

    --> policies/export.rego:4:1
      |
    4 | }
      | ^
    error: expecting expression

sometimes followed by a Rust backtrace (when ``RUST_BACKTRACE`` is set). :func:`diagnose` cuts the
backtrace and extracts the file, line, column, offending source line and the message, so a
:class:`~lacuna.errors.PolicyError` can say exactly where to look.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from lacuna.errors import PolicyError

# anyhow captures a backtrace for every error when RUST_BACKTRACE is set (this machine sets it):
# slow and noisy. RUST_LIB_BACKTRACE wins over RUST_BACKTRACE for library errors only, so panics
# still get their backtrace. An explicit user setting is respected.
os.environ.setdefault("RUST_LIB_BACKTRACE", "0")

_LOCATION = re.compile(r"^\s*-->\s*(?P<path>.+):(?P<line>\d+):(?P<col>\d+)\s*$", re.MULTILINE)
_SOURCE_LINE = re.compile(r"^\s*(?P<no>\d+)\s\|\s?(?P<text>.*)$", re.MULTILINE)


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """One engine error, taken apart."""

    message: str  # the "error: ..." text, without location or source excerpt
    path: str | None = None
    line: int | None = None
    column: int | None = None
    source_line: str | None = None

    @property
    def where(self) -> str:
        """``path:line:column`` (as much of it as is known)."""
        if self.path is None:
            return "<policy bundle>"
        if self.line is None:
            return self.path
        return f"{self.path}:{self.line}:{self.column or 1}"

    def excerpt(self) -> str:
        """The offending line with a caret under the column, indented, or ``""``."""
        if self.source_line is None:
            return ""
        caret = " " * max((self.column or 1) - 1, 0) + "^"
        return f"\n    {self.source_line}\n    {caret}"

    def to_error(self, hint: str) -> PolicyError:
        """A :class:`PolicyError` naming the position, showing the line, and giving ``hint``."""
        msg = f"{self.where}: {self.message}{self.excerpt()}\n{hint}"
        return PolicyError(msg, path=self.path, line=self.line, column=self.column)


def clean(text: str) -> str:
    """The error text without any Rust backtrace."""
    return text.split("\nStack backtrace", 1)[0].strip()


def diagnose(exc: BaseException | str) -> Diagnostic:
    """Take a regorus error apart; text without a location gives a location-less diagnostic."""
    text = clean(str(exc))
    loc = _LOCATION.search(text)
    if loc is None:
        return Diagnostic(message=text or type(exc).__name__)
    line = int(loc.group("line"))
    source = None
    for m in _SOURCE_LINE.finditer(text, loc.end()):
        if int(m.group("no")) == line:
            source = m.group("text").rstrip()
            break
    err = text.find("error:", loc.end())
    message = text[err + len("error:"):].strip() if err >= 0 else text[loc.end():].strip()
    # Conflicts name a second position ("defined here"): keep the first line and point at it.
    other = _LOCATION.search(message)
    if other is not None:
        first = message[: other.start()].strip().rstrip(":")
        where = f"{other.group('path')}:{other.group('line')}:{other.group('col')}"
        message = f"{first} at {where}"
    message = " ".join(message.split())
    return Diagnostic(message=message, path=loc.group("path"), line=line,
                      column=int(loc.group("col")), source_line=source)
