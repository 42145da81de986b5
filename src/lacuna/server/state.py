"""What the running server holds: settings, the server-side governor (policy engine, audit
trail, exceptions, lineage, all on one state database), users, metrics, the OPA Data API.

State access goes only through the existing stores (``AuditStore``, ``ExceptionStore``, the
lineage store, the decision log), so pointing ``db`` at another database URL moves it all.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from lacuna.identity import (
    Authenticator,
    OidcSettings,
    OidcVerifier,
    Principal,
    UserStore,
)
from lacuna.server.bodies import Bodies
from lacuna.server.hosts import HostBindings
from lacuna.server.metrics import Metrics
from lacuna.server.refusals import RefusalBudget
from lacuna.server.verifier import TrailVerifier

if TYPE_CHECKING:
    from fastapi import Request

    from lacuna.audit.group import GroupCommit
    from lacuna.governor import Governor
    from lacuna.model import Destination
    from lacuna.policy.engine import PolicyEngine
    from lacuna.retention.keeping import LocalKeeping
    from lacuna.server.opa import OpaData
    from lacuna.server.settings import ServerSettings

log = logging.getLogger("lacuna.server")
DESTINATION_TTL_S = 1.0

@dataclass
class ServerState:
    settings: ServerSettings
    governor: Governor
    users: UserStore
    authenticator: Authenticator
    opa: OpaData
    metrics: Metrics = field(default_factory=Metrics)
    session_lookup: Callable[[Request], Principal | None] | None = None
    started: float = field(default_factory=time.time)
    # decisions recorded by the decide route: appended in groups (lacuna.audit.group)
    audit_writer: GroupCommit | None = None
    _destinations: dict[str, tuple[float, Any, Destination]] = field(default_factory=dict)
    # decide bodies the fast lane validated a moment ago, by caller and bytes
    bodies: Bodies = field(default_factory=Bodies)
    # refusals audited one by one, per caller (lacuna.server.refusals)
    refusals: RefusalBudget = field(default_factory=RefusalBudget)
    # the audit trail's verification: one walk at a time, answers reused for an interval
    _verifier: TrailVerifier | None = None
    _verifier_made: threading.Lock = field(default_factory=threading.Lock)
    # the holds retention obeys, cached (lacuna.retention.keeping), for the retention routes
    # the client hosts each user may speak for (settings.client_hosts), made on first use
    _hosts: HostBindings | None = None

    @property
    def hosts(self) -> HostBindings:
        """Which client hosts each user may name (:mod:`lacuna.server.hosts`)."""
        if self._hosts is None:
            self._hosts = HostBindings(self.settings.client_hosts)
        return self._hosts

    @property
    def verifier(self) -> TrailVerifier:
        """This process's verifier of the governor's audit trail (made on first use, once:
        two first requests at once share one, and so one walk)."""
        with self._verifier_made:
            if self._verifier is None:
                self._verifier = TrailVerifier(
                    self.governor.audit, interval_s=self.settings.audit_verify_interval_s)
            return self._verifier

    @property
    def keeping(self) -> LocalKeeping:
        """The legal holds and Rego retention rules of the governor's state and bundle,
        cached (:attr:`lacuna.governor.Governor.keeping`: a server's governor keeps its own
        state, never a ``server:`` of its own)."""
        return cast("LocalKeeping", self.governor.keeping)

    def destination(self, target: str) -> Destination:
        """The governor's classification of ``target``, remembered for ``DESTINATION_TTL_S``
        (a burst of decisions to the same place resolves its path once; a symlink or governed
        root changed on disk is seen within that time). Errors are not remembered."""
        now = time.monotonic()
        config = self.governor.config.destinations
        hit = self._destinations.get(target)
        if hit is not None and hit[0] > now and hit[1] is config:
            return hit[2]
        found = self.governor.destination(target)
        if len(self._destinations) >= 1024:
            self._destinations.clear()
        self._destinations[target] = (now + DESTINATION_TTL_S, config, found)
        return found

    @property
    def db(self) -> str:
        return self.governor.config.audit_url

    @property
    def policy_engine(self) -> PolicyEngine:
        from lacuna.policy.engine import PolicyEngine

        engine = self.governor.engine
        assert isinstance(engine, PolicyEngine)  # the server always decides in-process
        return engine

    def close(self) -> None:
        """Flush the decision log and close the stores (every audit write is already
        committed when its request answered)."""
        if self.audit_writer is not None:
            self.audit_writer.close()
        from lacuna.server.security import write_suppressed

        write_suppressed(self, self.refusals.due())  # refusals counted but not yet recorded
        self.governor.close()
        self.opa.close()  # the uploaded set's worker process
        self.users.close()


def server_config(settings: ServerSettings) -> Any:
    """The Lacuna configuration the server governs with: ``settings.config`` (or the usual
    search) with the state database and policy folder of the settings, never a remote policy
    server or a Lacuna server of its own."""
    from lacuna.governor import build_config

    overrides: dict[str, Any] = {"policy": {"server": None}}
    if settings.policy_dir is not None:
        overrides["policy"]["dir"] = str(settings.policy_dir)
    if settings.db:
        overrides["audit"] = {"url": settings.db}
    config = build_config(str(settings.config) if settings.config else None, **overrides)
    if getattr(config, "server", None) is not None:
        config = config.model_copy(update={"server": None})
    return config


def build_state(settings: ServerSettings, config: Any | None = None) -> ServerState:
    """Open everything the server needs (fails at start-up, with a clear error, not later).

    Raises:
        ConfigError: bad settings, an unreadable JWKS file.
        PolicyError: the policy bundle does not compile.
        AuditError: the state database cannot be opened.
    """
    from lacuna.governor import Governor
    from lacuna.policy.engine import PolicyEngine
    from lacuna.server.opa import OpaData

    governor = Governor(config if config is not None else server_config(settings))
    governor.local_callers = False  # the callers' code is theirs: no stack walk per denial
    warn_unused_clearance(governor.config)
    engine = governor.engine
    if not isinstance(engine, PolicyEngine):  # pragma: no cover - server_config prevents it
        msg = "the server must decide with its own embedded policy engine"
        raise TypeError(msg)
    from lacuna.audit.group import GroupCommit

    # opens (and migrates) the trail now, and records the configuration the server decides
    # under (an event when it changed since the trail's last: lacuna.audit.configuration)
    audit_writer = GroupCommit(governor.recording())
    from lacuna.policy.log_sinks import SqlDecisionLog

    if isinstance(engine.decision_log, SqlDecisionLog):  # its WAL checkpoints off its commits
        engine.decision_log.checkpoint_in_background()
    users = UserStore(governor.config.audit_url, audit=governor.audit)
    grandfather_users(users)
    warn_unverified_users(users)
    oidc = None
    if settings.oidc is not None:
        o = settings.oidc
        oidc = OidcVerifier(OidcSettings(issuer=o.issuer, audience=o.audience,
                                         jwks_file=o.jwks_file, roles_claim=o.roles_claim,
                                         name_claim=o.name_claim))
    return ServerState(settings=settings, governor=governor, users=users,
                       authenticator=Authenticator(
                           users, oidc, stewards=lambda: steward_names(governor)),
                       opa=OpaData(engine),
                       audit_writer=audit_writer,
                       refusals=RefusalBudget(settings.audit_refusals_burst,
                                              settings.audit_refusals_per_minute))


def warn_unused_clearance(config: Any) -> None:
    """Say so when the server's ``user.clearance`` is above the default: it was every caller's
    clearance before callers had their own (``clearances:``), and is no one's now."""
    from lacuna.model import Tier

    if config.user.clearance > Tier.INTERNAL:
        log.warning("user.clearance: %s in %s is not a caller's clearance: callers have "
                    "INTERNAL unless lacuna.yaml's clearances: lists their name or server role "
                    "(e.g. clearances: {%s: [data_steward]}; docs/server.md)",
                    config.user.clearance.value, config.source or "the server's lacuna.yaml",
                    config.user.clearance.value)


def steward_names(governor: Any) -> list[str]:
    """Every steward name the server's configuration (``stewards:``: default, per policy, per
    domain) and its policies' metadata (``steward``, ``owner``) name: the names an OIDC token
    may use only as they are spelt there (:class:`~lacuna.identity.Authenticator`)."""
    stewards = governor.config.stewards
    names = [*stewards.default, *(n for group in (stewards.policies, stewards.domains)
                                  for listed in group.values() for n in listed)]
    for package in governor.engine.packages:
        meta = package.metadata
        names += [str(meta[k]) for k in ("steward", "owner") if meta.get(k)]
    return names


def grandfather_users(users: UserStore) -> None:
    """On the first start after the upgrade (once per database), record on the trail which
    legacy users (signed before creations were audited) it takes on trust: from then on a
    legacy row is accepted only if listed there (docs/server.md, "Legacy rows: taken on trust
    once"). Before serving anyone, so a row copied in later is never among them."""
    log = logging.getLogger("lacuna.server")
    try:
        kept = users.grandfather()
    except Exception as exc:  # the trail is unwritable: the first request says so too
        log.error("cannot record on the audit trail which legacy users it takes on trust "
                  "(%s): until a start records it, users signed before creations were "
                  "audited are accepted on their signature alone, even one copied in from "
                  "another database sharing the signing key", exc)
        return
    if kept:
        log.warning("took %d legacy user(s) on trust at this first start since the upgrade "
                    "(recorded on the audit trail): %s; any legacy row copied in from now on "
                    "is refused", len(kept), ", ".join(kept[:20]))


def warn_unverified_users(users: UserStore, *, shown: int = 20) -> None:
    """Say at start-up, loudly, which identity rows let nobody in (a user whose row's
    signature does not hold or whom the audit trail does not back, a console session put back
    outside Lacuna, a state database id changed) and what to do, as ``lacuna audit verify``
    says it (:meth:`UserStore.verify`): an upgrade must not lock people out without a word.
    Legacy users (accepted, not yet tied to the trail) are named as a warning."""
    log = logging.getLogger("lacuna.server")
    try:
        report = users.verify()
    except Exception as exc:  # reported by the first request instead
        log.error("cannot read the identity rows (users and console sessions): %s", exc)
        return
    if report.legacy:
        log.warning("%d user(s) were signed before their creation was put on the audit trail: "
                    "accepted on their signature, but not tied to this database's trail: %s. "
                    "Check them (lacuna users list) and tie them (lacuna users resign)",
                    len(report.legacy), ", ".join(report.legacy[:shown]))
    if report.problems:
        more = len(report.problems) - shown
        lines = [f"  - {p}" for p in report.problems[:shown]]
        if more > 0:
            lines.append(f"  … and {more} more: lacuna audit verify lists them all")
        log.error("%d identity row(s) of %d user(s) and %d console session(s) let nobody in:\n%s",
                  len(report.problems), report.users, report.sessions, "\n".join(lines))
