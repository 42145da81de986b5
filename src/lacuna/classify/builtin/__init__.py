"""Built-in recognizers; importing this package registers them."""

from __future__ import annotations

from lacuna.classify import checks as _checks
from lacuna.classify import identity as _identity
from lacuna.classify import people as _people
from lacuna.classify.base import value_recognizers as _value_recognizers
from lacuna.classify.builtin import (
    business,
    extra_names,
    id_values,
    people_values,
    personal,
    special_values,
    values,
)

__all__ = [
    "business",
    "extra_names",
    "id_values",
    "people_values",
    "personal",
    "special_values",
    "values",
]
from lacuna.classify.scan import vet_patterns as _vet_patterns

# The built-in recognizers' patterns run in Python's re over small samples (bounded on short
# values, read alike by both engines: tests/classify/test_scan_engines.py).
VETTED = _vet_patterns(
    *(
        pattern
        for name in _value_recognizers.names()
        if (cls := _value_recognizers.get(name)).__module__.startswith(f"{__name__}.")
        for pattern in (getattr(cls, "prefilter", None), getattr(cls, "search", None))
        if pattern
    ),
    people_values.NAME_SHAPE,
    people_values.DATE_STRING,
)
del _checks, _identity, _people
