"""What the polars, pyarrow and DuckDB integrations share: where a frame's state lives, how a
read is classified and a write decided, and how their hooks are installed.

These libraries' objects have no ``attrs``: Lacuna keeps each object's
:class:`~lacuna.lineage.state.DataState` in a weak registry keyed by the object's identity
(:mod:`.state`). The inheritance rules are the shared ones (:mod:`lacuna.lineage.rules`,
``Governor.inherit``); classification and decisions are the pandas integration's, called
through a small pandas sample where values are needed (:mod:`.io`).
"""

from __future__ import annotations

from lacuna.integrations.frames.state import STATES, effective, state_of

__all__ = ["STATES", "effective", "state_of"]
