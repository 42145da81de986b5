"""Retention applied by ``lacuna serve`` on ``retention.schedule`` (:mod:`lacuna.scheduler`).

A scheduled run is ``lacuna retention apply``: a fresh plan at the current time, carried out by
:func:`lacuna.retention.api.apply`, one audit record per decision written before the file is
touched. What would make the CLI exit 1 (an item that could not be deleted, an error, an item to
review, e.g. because the audit trail does not verify) makes the run raise
:class:`~lacuna.retention.api.RetentionError` after it has done the rest, so the scheduler logs
it and counts a failure (``JobStatus.failures``, ``last_error``): nothing is kept or deleted
silently.

The server's workers each run the scheduler. Applies take turns on
``$LACUNA_HOME/retention-apply.lock`` (:func:`lacuna.retention.api.applying`); a scheduled run
(:func:`~lacuna.retention.api.apply_if_free`) that finds it taken (another worker, or
``lacuna retention apply`` from cron, is applying) is skipped, so two applies never decide
about the same file at once.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from lacuna.retention.api import ApplyReport, RetentionError, apply_if_free, lock_path

if TYPE_CHECKING:
    from lacuna.exceptions.context import Context

log = logging.getLogger("lacuna.retention")


def apply_on_schedule(ctx: Context) -> ApplyReport | None:
    """One scheduled retention run: ``apply`` with a fresh plan, as ``lacuna retention apply``.

    Returns:
        The report, or None when another process holds the lock (that run is skipped).

    Raises:
        RetentionError: the run is done, but an item could not be deleted or archived, is an
            error, or is to review (kept): the message counts them and says where to look.
        AuditError: the audit trail cannot be written (nothing after the failed record is
            touched, as with ``apply``).
    """
    report = apply_if_free(ctx)
    if report is None:
        log.info("scheduled retention skipped: another process is applying retention "
                 "(%s is locked)", lock_path())
        return None
    plan = report.plan
    counts = {event: len(paths) for event, paths in report.done.items()}
    log.info("scheduled retention at %s: %s; %d audit record(s)", f"{plan.now:%Y-%m-%d %H:%M}",
             ", ".join(f"{n} {event}" for event, n in sorted(counts.items())) or "nothing",
             len(report.records))
    errors, review = plan.count("error"), plan.count("review")
    if report.failed or errors or review:
        msg = (f"scheduled retention applied at {plan.now:%Y-%m-%d %H:%M} UTC with "
               f"{len(report.failed)} failed, {errors} error(s), {review} to review (kept). "
               "Each is on the audit trail with its reason (lacuna audit list --action "
               "retention); lacuna retention plan shows them again")
        raise RetentionError(msg)
    return report


__all__ = ["apply_on_schedule"]
