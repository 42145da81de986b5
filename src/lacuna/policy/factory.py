"""One entry point for the governor: the policy engine, decision log and watcher for a config.

The governor (or any long-running process) calls::

    engine = engine_from_config(config)          # PolicyEngine, or RemoteEngine
    watcher = watcher_from_config(engine, config) # PolicyWatcher started, or None

Both read these ``lacuna.yaml`` keys (``PolicyConfig``)::

    policy:
      dir: policies/
      server: {url: http://opa:8181, timeout_ms: 2000, retries: 2, path: lacuna/decision/result}
      decision_log: {type: sql}       # sql (audit.url, the default) | http (url) | none
      watch: true                     # reload policy.dir when files change
      watch_interval_ms: 1000

Both engines have the same ``decide(operation, *, exception_approved,
exception_approver_role) -> Decision`` method (:class:`DecisionEngine`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from lacuna.errors import needed

if TYPE_CHECKING:
    from lacuna.model import Decision, Operation
    from lacuna.policy.decision_log import DecisionLogSink
    from lacuna.policy.engine import PolicyEngine
    from lacuna.policy.remote import RemoteEngine
    from lacuna.policy.watch import PolicyWatcher


# The client of an OPA server (lacuna.policy.remote, over lacuna.http: httpx), imported only
# when policy.server is set: when it does not import, no operation is decided by that server,
# and the ComponentImportError says what to install (the governor denies each operation in
# enforce mode, fail closed).
REMOTE = "Lacuna's OPA server client (lacuna.policy.remote; httpx)"


class DecisionEngine(Protocol):
    """What the governor needs from a policy engine, embedded or remote."""

    def decide(self, operation: Operation, *, exception_approved: bool = False,
               exception_approver_role: str | None = None) -> Decision:
        """Decide one operation; never raises (failures are denials)."""
        ...


def decision_log_from_config(config: Any) -> DecisionLogSink | None:
    """The sink ``policy.decision_log`` asks for (``None`` when unset or ``type: none``).

    Raises:
        ConfigError: an unknown type, or ``http`` without a url.
    """
    from lacuna.policy.log_sinks import sink_from_settings

    settings = getattr(config.policy, "decision_log", None)
    if not settings:
        return None
    audit = getattr(config, "audit", None)
    return sink_from_settings(settings, audit_url=getattr(config, "audit_url", None),
                              checkpoint_log=getattr(audit, "checkpoint_log", None))


def engine_from_config(config: Any, *, decision_log: DecisionLogSink | None = None
                       ) -> PolicyEngine | RemoteEngine:
    """A :class:`RemoteEngine` when ``policy.server`` names a server, else a
    :class:`PolicyEngine` for ``policy.dir`` (or the default bundle).

    Args:
        config: a :class:`~lacuna.config.Config`.
        decision_log: a sink; by default the one ``policy.decision_log`` configures.

    Raises:
        PolicyError: the embedded bundle does not load.
        ConfigError: a malformed server or decision-log setting.
        ComponentImportError: ``policy.server`` is set and its client does not import.
    """
    sink = decision_log if decision_log is not None else decision_log_from_config(config)
    server = getattr(config.policy, "server", None)
    if server:
        with needed(REMOTE, "No operation is decided by the OPA server policy.server names "
                    "until it imports"):
            from lacuna.policy.remote import RemoteEngine

        return RemoteEngine.from_settings(server, docs_url=config.docs_url, decision_log=sink)
    from lacuna.policy.engine import PolicyEngine

    return PolicyEngine.from_config(config, decision_log=sink)


def watcher_from_config(engine: Any, config: Any) -> PolicyWatcher | None:
    """A started :class:`PolicyWatcher` when ``policy.watch`` is true and the engine decides
    from a folder on disk; otherwise ``None``."""
    from lacuna.policy.engine import PolicyEngine
    from lacuna.policy.watch import PolicyWatcher

    if not getattr(config.policy, "watch", False) or not isinstance(engine, PolicyEngine):
        return None
    if engine.root is None:
        return None
    interval = float(getattr(config.policy, "watch_interval_ms", 1000) or 1000) / 1000
    return PolicyWatcher(engine, interval_s=interval).start()
