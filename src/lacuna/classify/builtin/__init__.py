"""Built-in recognizers; importing this package registers them."""

from __future__ import annotations

from lacuna.classify import checks as _checks
from lacuna.classify.builtin import business, personal, values

__all__ = ["business", "personal", "values"]
del _checks
