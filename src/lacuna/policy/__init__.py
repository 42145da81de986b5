"""Step 4, decide: Rego policies evaluated in-process (regorus), explained decisions.

* :func:`build_input` turns an operation into the policy input document.
* :class:`PolicyEngine` loads a bundle (``policy.dir`` or the default bundle shipped in
  ``lacuna/policies/default/``), compiles it once and decides operations.
* The decision protocol (which packages vote, how votes combine, where explanations come from)
  is documented in :mod:`lacuna.policy.decide` and ``docs/policies.md``.
* :class:`RemoteEngine` asks an OPA server instead (:mod:`lacuna.policy.remote`), over the
  aggregator package :mod:`lacuna.policy.aggregate` generates; ``lacuna policy bundle`` writes
  the OPA bundle (:mod:`lacuna.policy.opa_bundle`).
* Decision logs (:mod:`lacuna.policy.decision_log`, :mod:`lacuna.policy.log_sinks`), live
  reload (:class:`PolicyWatcher`), decision caching (:mod:`lacuna.policy.cache`).
* :func:`engine_from_config` picks the engine, sink and (with :func:`watcher_from_config`)
  watcher for a configuration: the governor's entry point.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lacuna.errors import needed as _needed
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
from lacuna.policy.factory import REMOTE as _REMOTE
from lacuna.policy.factory import DecisionEngine, engine_from_config, watcher_from_config
from lacuna.policy.inputs import build_input
from lacuna.policy.rego_tests import RegoTestReport, RegoTestResult
from lacuna.policy.watch import PolicyWatcher

if TYPE_CHECKING:
    from lacuna.policy.remote import RemoteEngine


def __getattr__(name: str) -> object:
    """``RemoteEngine``, imported on first use: it imports httpx (and httpx its command line:
    click, rich, pygments; ~50 ms of CPU), which a governor with an in-process engine never
    uses (:func:`engine_from_config` imports it when ``policy.server`` is set). An import that
    fails (httpx missing or broken) raises ComponentImportError, saying what to install, and
    binds nothing: the next use tries again."""
    if name != "RemoteEngine":
        msg = f"module {__name__!r} has no attribute {name!r}"
        raise AttributeError(msg)
    with _needed(_REMOTE, f"lacuna.policy.{name} is not available"):
        from lacuna.policy.remote import RemoteEngine

    globals()[name] = RemoteEngine
    return RemoteEngine


def __dir__() -> list[str]:
    # the lazy name too (RemoteEngine), before its first use: dir(), completion, inspect
    return sorted(set(globals()) | set(__all__))


__all__ = [
    "Bundle",
    "DecisionEngine",
    "DecisionEvent",
    "DecisionLogSink",
    "MemoryDecisionLog",
    "PolicyEngine",
    "PolicyPackage",
    "PolicyWatcher",
    "RegoModule",
    "RegoTestReport",
    "RegoTestResult",
    "RemoteEngine",
    "build_input",
    "default_bundle_root",
    "engine_from_config",
    "read_bundle",
    "seed_bundle_root",
    "watcher_from_config",
]
