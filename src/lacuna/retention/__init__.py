"""Retention by tier and dataset, legal holds, and the plan/apply that enforce them.

* :mod:`.settings`: the ``retention:`` section of ``lacuna.yaml`` (the seed's tier table by
  default) and calendar durations.
* :mod:`.rules`: ``retention`` rules in the policy bundle, evaluated with regorus.
* :mod:`.holds`: legal holds in the state store.
* :mod:`.inventory`: what is governed (files under governed roots, exception files, the audit
  trail) and what is known about each.
* :mod:`.trail`: what the audit trail says about them (when their data was first seen, the
  decisions recorded before).
* :mod:`.plan`: the decision per item; :mod:`.api`: plan, apply and holds for the CLI.

See docs/retention.md.
"""

from __future__ import annotations

from lacuna.retention.api import (
    ApplyReport,
    apply,
    build_plan,
    list_holds,
    place_hold,
    release_hold,
)
from lacuna.retention.holds import Hold, HoldError
from lacuna.retention.plan import Entry, Plan
from lacuna.retention.settings import Duration, RetentionSettings, retention_from

__all__ = [
    "ApplyReport",
    "Duration",
    "Entry",
    "Hold",
    "HoldError",
    "Plan",
    "RetentionSettings",
    "apply",
    "build_plan",
    "list_holds",
    "place_hold",
    "release_hold",
    "retention_from",
]
