"""Built-in recognizers; importing this package registers them."""

from __future__ import annotations

from lacuna.classify import checks as _checks
from lacuna.classify import identity as _identity
from lacuna.classify import people as _people
from lacuna.classify.builtin import (
    business,
    extra_names,
    id_values,
    people_values,
    personal,
    values,
)

__all__ = ["business", "extra_names", "id_values", "people_values", "personal", "values"]
del _checks, _identity, _people
