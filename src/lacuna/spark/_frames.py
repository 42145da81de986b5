"""Where in the user's code a Spark call was made (for the audit trail and alternatives)."""

from __future__ import annotations

import sys
from types import FrameType

_SKIP = ("lacuna.", "pyspark.", "py4j.", "contextlib", "functools")


def user_frame() -> FrameType | None:
    frame: FrameType | None = sys._getframe(1)
    while frame is not None and frame.f_globals.get("__name__", "").startswith(_SKIP):
        frame = frame.f_back
    return frame


def code_location(frame: FrameType | None) -> str | None:
    if frame is None:
        return None
    return f"{frame.f_code.co_filename}:{frame.f_lineno}"


def variable_name(obj: object, frame: FrameType | None) -> str | None:
    """The user's name for ``obj`` in the calling frame, when it has exactly one."""
    if frame is None:
        return None
    names = [k for k, v in frame.f_locals.items() if v is obj and not k.startswith("_")]
    return names[0] if len(names) == 1 else None
