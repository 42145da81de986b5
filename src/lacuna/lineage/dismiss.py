"""Dismissing an ingested claim: a steward's remedy for a wrong raise.

A run ingested from outside the pipeline (``POST /api/v1/lineage``, ``lacuna lineage import``)
may raise what the store knows of a dataset or of its content, never lower it
(:mod:`lacuna.lineage.claims`); and any token holder may send one. So a wrong or hostile raise,
a shared public table claimed ``RESTRICTED``, would deny everyone's use of that data, and
nothing could take it back.

:func:`dismiss_claim` lets a steward take it back: the run's versions stay on record (the run
and its edges stay in the graph: the history shows what was claimed) but no longer count as
what the store knows (:func:`lacuna.lineage.schema.standing`), so reads, decisions and later
ingests see what the store knew without it. It lowers nothing below what Lacuna's own pipeline
computed, and only ingested runs can be dismissed, never Lacuna's own. Who may: a default
steward (``stewards.default`` in ``lacuna.yaml``), with a reason; both the dismissal and a
refusal are on the audit trail (``claim-dismissed``, ``dismiss-refused``).

A dismissed run is never recorded again under its id (:class:`lacuna.errors.RunDismissedError`):
the dismissal and what was claimed stay on record. Sent under a new id, it is a new claim:
dismiss it again, and revoke the sender's token if it keeps coming.

What Lacuna's own runs recorded while the claim stood (a governed read of the raised data, the
copy it wrote) names the claim inside its signed classification
(:mod:`lacuna.lineage.attribution`): the store signs the dismissal, for itself (its state
database's id is in the signed payload: a dismissal copied from another store signed with the
same key lowers nothing), and those versions stand at what Lacuna derived itself again. The
dismissal says which datasets came down (``came_down``) and which stay raised
(``still_raised``: derived through a join, projection or aggregation, where Lacuna cannot tell
what it would have derived without the claim, another claim still standing, or recorded before
attribution): docs/lineage.md, "Dismissing a wrong raise".
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lacuna.errors import ConfigError, LacunaError, LineageError

if TYPE_CHECKING:
    from lacuna.lineage.api import LineageHost
    from lacuna.lineage.records import DatasetVersion

log = logging.getLogger("lacuna.lineage")

KIND = "lineage"
ACTION = "lineage_claim"


class DismissNotAuthorized(LineageError):
    """The configured user may not dismiss lineage claims (not a default steward)."""


@dataclass(frozen=True, slots=True)
class Dismissed:
    """What :func:`dismiss_claim` did: the run, who, why, the versions as they were, and what
    the store knows of each dataset now (``now``, aligned with ``versions``; None: nothing). A
    dataset still known as strictly as claimed was raised again by a version derived from the
    claim while it stood (docs/lineage.md): ``lacuna lineage runs DATASET`` finds it."""

    run_id: str
    by: str
    reason: str
    versions: tuple[DatasetVersion, ...]
    now: tuple[DatasetVersion | None, ...] = ()
    # Lacuna's own versions the claim raised: each as recorded, and as it stands now
    derived: tuple[tuple[DatasetVersion, DatasetVersion], ...] = ()

    @property
    def came_down(self) -> tuple[tuple[DatasetVersion, DatasetVersion], ...]:
        """Lacuna's own versions the claim raised that stand at what Lacuna derived itself
        again (as recorded, as now)."""
        return tuple((was, now) for was, now in self.derived
                     if now.classification != was.classification)

    @property
    def still_raised(self) -> tuple[DatasetVersion, ...]:
        """Lacuna's own versions the claim raised that keep the raise (docs/lineage.md)."""
        return tuple(was for was, now in self.derived
                     if now.classification == was.classification)

    def known_now(self) -> tuple[tuple[DatasetVersion, DatasetVersion | None, bool], ...]:
        """Each dismissed version, what is known of its dataset now, and whether that is still
        as strict as the claim (its tier, its tags)."""
        now = self.now or tuple(None for _ in self.versions)
        return tuple((v, n, n is not None and n.classification.tier >= v.classification.tier
                      and set(v.classification.tags) <= set(n.classification.tags))
                     for v, n in zip(self.versions, now, strict=True))

    def to_dict(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "dismissed_by": self.by, "reason": self.reason,
                "datasets": [{**_version(v), "now": _version(n) if n is not None else None,
                              "still_as_strict": still}
                             for v, n, still in self.known_now()],
                **self.derived_dict()}

    def derived_dict(self) -> dict[str, Any]:
        """``came_down`` and ``still_raised``: Lacuna's own versions the claim raised."""
        return {"came_down": [{**_version(now), "was": _version(was)}
                              for was, now in self.came_down],
                "still_raised": [_version(was) for was in self.still_raised]}


def dismiss_claim(run_id: str, *, reason: str, host: LineageHost | None = None) -> Dismissed:
    """Dismiss the ingested lineage run ``run_id`` (see the module docstring), as the
    configured user, who must be a default steward.

    Args:
        run_id: the run's id as the store holds it (``lacuna lineage runs``).
        reason: what the steward checked (required; at most 2,000 characters).
        host: the governor (default: the current one).

    Raises:
        DismissNotAuthorized: the configured user is not in ``stewards.default``.
        ConfigError: no reason, or one longer than 2,000 characters.
        LineageError: no such run, it is Lacuna's own, or it has no claim left to dismiss.
    """
    from lacuna.exceptions.authority import check_text, same_identity
    from lacuna.lineage.api import current_host

    gov = host or current_host()
    me = gov.config.user.id
    why = " ".join(str(reason or "").split())
    try:
        if not why:
            msg = ("dismissing a lineage claim needs a reason: say what you checked (e.g. "
                   "'orders.csv holds no personal data: checked the columns with the owner')")
            raise ConfigError(msg)
        check_text("reason", why)
        stewards = gov.config.stewards.default
        if not any(same_identity(me, s) for s in stewards):
            named = ", ".join(stewards) if stewards else "nobody (no steward is configured)"
            msg = (f"{me} may not dismiss lineage claims: the default stewards may: {named}. "
                   "Stewards are listed in lacuna.yaml under 'stewards: default:'.")
            raise DismissNotAuthorized(msg)
        store = gov.lineage_store
        if not hasattr(store, "dismiss"):  # a client of a Lacuna server: its store is remote
            msg = ("this configuration sends lineage to a Lacuna server: dismiss the claim "
                   f"there (POST /api/v1/lineage/runs/{run_id}/dismiss as a steward, or "
                   "`lacuna lineage dismiss` on the server's machine)")
            raise LineageError(msg)
        versions = store.dismiss(run_id)
    except LacunaError as exc:
        _audit(gov, "dismiss-refused", run_id, allowed=False, detail={"error": str(exc)})
        raise
    done = Dismissed(run_id=run_id, by=me, reason=why, versions=versions,
                     now=_known_now(store, versions), derived=_derived(store, run_id))
    _audit(gov, "claim-dismissed", run_id, detail={"reason": why, "datasets": [
        _version(v) for v in versions], **done.derived_dict()})
    log.warning("lineage run %s dismissed by %s (%d dataset version(s); %d of Lacuna's own "
                "came down, %d keep the raise): %s", run_id, me, len(versions),
                len(done.came_down), len(done.still_raised), why)
    return done


def _derived(store: Any, run_id: str) -> tuple[tuple[DatasetVersion, DatasetVersion], ...]:
    """Lacuna's own versions the dismissed claim raised, as recorded and as now (empty when
    the store cannot be read: the dismissal stands either way)."""
    try:
        return tuple(store.raised_by(run_id))
    except LacunaError as exc:
        log.error("lineage: could not read what the dismissal of %s took back: %s", run_id, exc)
        return ()


def _known_now(store: Any, versions: tuple[DatasetVersion, ...]
               ) -> tuple[DatasetVersion | None, ...]:
    """What the store knows of each dismissed version's dataset after the dismissal (None when
    it cannot be read: the dismissal stands either way)."""
    try:
        latest = {v.dataset: store.latest(v.dataset) for v in versions}
    except LacunaError as exc:
        log.error("lineage: could not read what the store knows after a dismissal: %s", exc)
        return tuple(None for _ in versions)
    return tuple(latest[v.dataset] for v in versions)


def _version(v: DatasetVersion) -> dict[str, Any]:
    c = v.classification
    return {"dataset": str(v.dataset), "tier": c.tier.value, "tags": list(c.tags),
            "fingerprint": v.fingerprint}


def _audit(gov: LineageHost, event: str, run_id: str, *, allowed: bool = True,
           detail: dict[str, Any]) -> None:
    """The dismissal (or its refusal) on the audit trail, as the configured user. A dismissal
    that cannot be audited still stands, said loudly (as exception events)."""
    from lacuna.audit.record import event_body

    body = event_body(KIND, user=gov.config.user, session=gov.session,
                      what={"action": ACTION, "event": event, "run_id": run_id},
                      allowed=allowed, reasoning=f"lineage run {run_id}: {event}",
                      detail=detail)
    try:
        gov.audit.record_event(body)
    except Exception as exc:
        log.error("could not record lineage event %r for run %s on the audit trail: %s",
                  event, run_id, exc)


__all__ = ["DismissNotAuthorized", "Dismissed", "dismiss_claim"]
