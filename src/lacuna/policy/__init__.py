"""Step 4, decide: Rego policies evaluated in-process (regorus), explained decisions.

* :func:`build_input` turns an operation into the policy input document.
* :class:`PolicyEngine` loads a bundle (``policy.dir`` or the default bundle shipped in
  ``lacuna/policies/default/``), compiles it once and decides operations.
* The decision protocol (which packages vote, how votes combine, where explanations come from)
  is documented in :mod:`lacuna.policy.decide` and ``docs/policies.md``.
"""

from __future__ import annotations

from lacuna.policy.bundle import (
    Bundle,
    RegoModule,
    default_bundle_root,
    read_bundle,
    seed_bundle_root,
)
from lacuna.policy.compile import PolicyPackage
from lacuna.policy.decision_log import DecisionEvent, DecisionLogSink, MemoryDecisionLog
from lacuna.policy.engine import PolicyEngine
from lacuna.policy.inputs import build_input
from lacuna.policy.rego_tests import RegoTestReport, RegoTestResult

__all__ = [
    "Bundle",
    "DecisionEvent",
    "DecisionLogSink",
    "MemoryDecisionLog",
    "PolicyEngine",
    "PolicyPackage",
    "RegoModule",
    "RegoTestReport",
    "RegoTestResult",
    "build_input",
    "default_bundle_root",
    "read_bundle",
    "seed_bundle_root",
]
