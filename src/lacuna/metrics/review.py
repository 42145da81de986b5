"""The review queue of false-positive reports, for policy owners and data stewards.

Each "this was a false positive" (:func:`lacuna.metrics.report_feedback`) is an item with the
decision behind it. A reviewer accepts it (the policy or the classification needs a change) or
rejects it, with a comment: an audit event of kind ``feedback_review``, hash-chained like the
report itself; the latest review of an item is its status. For a denial of data classified by
its columns, the item carries a candidate declaration (YAML, the ``declared=`` classes Lacuna
accepts from dbt meta, sidecars and ``lacuna.classify(..., declared=...)``) and, when a
sensitive term drove the tier, a suggested change to ``classification.sensitive_terms``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from lacuna.audit.record import event_body
from lacuna.errors import ConfigError, LacunaError
from lacuna.identity.names import canonical_name
from lacuna.metrics.facts import FEEDBACK, section

if TYPE_CHECKING:
    from lacuna.audit.record import AuditRecord
    from lacuna.governor import Governor

REVIEW = "feedback_review"
REVIEW_REFUSED = "feedback_review_refused"  # an attempt to review one's own report
VERDICTS = {"accept": "accepted", "reject": "rejected"}
STATUSES = ("open", "accepted", "rejected", "all")
MAX_COMMENT = 2000


class ReportNotFound(LacunaError, LookupError):
    """A review named a feedback record that is not a false-positive report."""


class ReviewNotAuthorized(LacunaError, PermissionError):
    """The reviewer filed the report: a report is reviewed by someone else."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Review:
    verdict: str  # accepted | rejected
    by: str
    comment: str
    when: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class ReviewItem:
    """One false-positive report and the decision behind it."""

    feedback_id: str
    reported_by: str
    reported_at: datetime
    comment: str
    decision_id: str  # the decision's audit record id
    operation_id: str
    decision_user: str
    action: str
    sources: tuple[str, ...]
    destination: str | None
    tier: str
    tags: tuple[str, ...]
    policy_id: str | None
    reasoning: str
    columns: dict[str, str]  # column → its class as recorded (e.g. "pii:email")
    review: Review | None

    @property
    def status(self) -> str:
        return "open" if self.review is None else self.review.verdict

    def candidate_declaration(self) -> str:
        """A YAML snippet declaring the reported columns public, for the reviewer to edit."""
        if not self.columns:
            return ""
        source = self.sources[0] if self.sources else "the dataset"
        lines = [f"# Candidate declaration from false-positive report {self.feedback_id}",
                 f"# (decision {self.operation_id}, policy {self.policy_id or '-'}): keep only",
                 "# the columns the report is about, then add to the dataset's declared",
                 "# classes (dbt meta, a .lacuna.json sidecar or classify(declared=...)).",
                 f"{_yaml_key(source)}:", "  declared:"]
        lines += [f"    {_yaml_key(name)}: public  # was {cls}"
                  for name, cls in sorted(self.columns.items())]
        return "\n".join(lines)

    def sensitive_term_suggestion(self) -> str:
        """What to change in ``classification.sensitive_terms`` when a term set the tier."""
        if not any(t.upper() == "SENSITIVE_TERM" for t in self.tags):
            return ""
        return ("A configured sensitive term raised this data to "
                f"{self.tier}: review classification.sensitive_terms in lacuna.yaml (narrow "
                "the term, or lower its tier) if it matches ordinary values here.")


def _yaml_key(text: str) -> str:
    plain = text.replace("_", "").replace("-", "").replace(".", "").isalnum()
    return text if plain else '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def review_queue(
    *,
    governor: Governor | None = None,
    policy: str | None = None,
    status: str = "open",
) -> list[ReviewItem]:
    """The false-positive reports, newest first: each reporter's latest word on a decision
    counts (a later "this was right" withdraws it), filtered by policy and status
    (``open``, ``accepted``, ``rejected`` or ``all``).

    Raises:
        ConfigError: an unknown status.
    """
    from lacuna.governor import current

    if status not in STATUSES:
        msg = f"review status {status!r}: use one of {', '.join(STATUSES)}."
        raise ConfigError(msg)
    gov = governor or current()
    latest: dict[tuple[str, str], AuditRecord] = {}
    for record in sorted(gov.audit.list(limit=None, action=FEEDBACK), key=lambda r: r.seq):
        fb = section(record.data, FEEDBACK)
        if record.data.get("kind") == FEEDBACK:
            latest[(str(fb.get("decision_record_id")), record.user_id)] = record
    reviews: dict[str, Review] = {}
    for record in sorted(gov.audit.list(limit=None, action=REVIEW), key=lambda r: r.seq):
        detail = section(record.data, REVIEW)
        reviews[str(detail.get("feedback_id"))] = _review(record, detail)
    items = []
    for record in latest.values():
        fb = section(record.data, FEEDBACK)
        if not fb.get("false_positive"):
            continue
        target = gov.audit.get(str(fb.get("decision_record_id")))
        if target is None:
            continue
        item = _item(record, fb, target, reviews.get(record.id))
        if _shown(item, policy, status):
            items.append(item)
    return sorted(items, key=lambda i: i.reported_at, reverse=True)


# How many feedback records one read of a page takes (newest first), and so how many reports
# one read of their reviews asks about.
PAGE_READ = 200


def review_page(
    *,
    governor: Governor | None = None,
    policy: str | None = None,
    status: str = "open",
    limit: int,
) -> tuple[list[ReviewItem], bool]:
    """The newest ``limit`` reports of :func:`review_queue` (the same filters), and whether
    more match; read from the trail a batch at a time, newest first, until the page is full
    (one more than ``limit`` matched) or the trail's feedback is done. Newest first is by place
    on the trail (``review_queue`` sorts by the report's time: the same order unless the clocks
    of processes writing to the trail disagree).

    Each batch of feedback records is one query (by the indexed ``action``, and
    ``policy_id`` when ``policy`` is given: a report's record carries its decision's policy),
    the decisions its reports are about one more (by id), and their reviews one more (the
    ``feedback_review`` events after the batch's oldest report that name one of them). A
    reporter's latest word on a decision is the first one met, newest first.

    Raises:
        ConfigError: an unknown status, or a ``limit`` under 1.
    """
    from lacuna.governor import current

    if status not in STATUSES:
        msg = f"review status {status!r}: use one of {', '.join(STATUSES)}."
        raise ConfigError(msg)
    if limit < 1:
        msg = f"a review page holds at least 1 report, not {limit}."
        raise ConfigError(msg)
    gov = governor or current()
    seen: set[tuple[str, str]] = set()
    items: list[ReviewItem] = []
    cursor: int | None = None
    while True:
        batch = gov.audit.list(limit=PAGE_READ, action=FEEDBACK, before=cursor,
                               policy_id=policy or None)
        reports: list[tuple[AuditRecord, Mapping[str, Any]]] = []
        for record in batch:
            cursor = record.seq
            if record.data.get("kind") != FEEDBACK:
                continue
            fb = section(record.data, FEEDBACK)
            key = (str(fb.get("decision_record_id")), record.user_id)
            if key in seen:  # an older word of this reporter on this decision
                continue
            seen.add(key)
            if fb.get("false_positive"):
                reports.append((record, fb))
        targets = gov.audit.get_many([str(fb.get("decision_record_id")) for _, fb in reports])
        found = [(record, fb, targets[str(fb.get("decision_record_id"))])
                 for record, fb in reports if str(fb.get("decision_record_id")) in targets]
        reviews = _reviews_of(gov, [record for record, _, _ in found])
        for record, fb, target in found:
            item = _item(record, fb, target, reviews.get(record.id))
            if not _shown(item, policy, status):
                continue
            items.append(item)
            if len(items) > limit:
                return items[:limit], True
        if len(batch) < PAGE_READ:
            return items, False


def _shown(item: ReviewItem, policy: str | None, status: str) -> bool:
    """Whether ``item`` passes the queue's filters: its policy (any when None or empty) and
    its status (``all``: any)."""
    return (not policy or item.policy_id == policy) and status in ("all", item.status)


def _reviews_of(gov: Governor, reports: list[AuditRecord]) -> dict[str, Review]:
    """The latest review of each of these reports (none: not reviewed). A review is appended
    after its report (``review_report`` finds the report first), so only the reviews after
    the oldest of them are searched."""
    if not reports:
        return {}
    reviews: dict[str, Review] = {}
    wanted = {record.id for record in reports}
    records = gov.audit.list(limit=None, action=REVIEW, after=min(r.seq for r in reports),
                             naming=("feedback_id", sorted(wanted)))
    for record in sorted(records, key=lambda r: r.seq):  # the latest review counts
        detail = section(record.data, REVIEW)
        if str(detail.get("feedback_id")) in wanted:  # not another field that names it
            reviews[str(detail.get("feedback_id"))] = _review(record, detail)
    return reviews


def _review(record: AuditRecord, detail: Mapping[str, Any]) -> Review:
    return Review(verdict=str(detail.get("verdict")), by=record.user_id,
                  comment=str(detail.get("comment") or ""), when=record.timestamp)


def _item(record: AuditRecord, fb: Mapping[str, Any], target: AuditRecord,
          review: Review | None) -> ReviewItem:
    body = target.data
    what, dec = section(body, "what"), section(body, "decision")
    return ReviewItem(
        feedback_id=record.id, reported_by=record.user_id, reported_at=record.timestamp,
        comment=str(fb.get("comment") or ""), decision_id=target.id,
        operation_id=str(body.get("operation_id") or target.id), decision_user=target.user_id,
        action=target.action, sources=tuple(str(s) for s in what.get("sources") or ()),
        destination=what.get("destination"), tier=str(what.get("tier") or ""),
        tags=tuple(str(t) for t in what.get("tags") or ()), policy_id=target.policy_id,
        reasoning=str(dec.get("reasoning") or ""),
        columns={str(k): str(v) for k, v in (what.get("columns") or {}).items()},
        review=review)


def review_report(
    feedback_id: str,
    *,
    verdict: str,
    comment: str = "",
    reviewer: tuple[str, str],
    governor: Governor | None = None,
) -> AuditRecord:
    """Accept (``verdict="accept"``: the policy or classification needs a change) or reject a
    false-positive report, as ``reviewer`` (user id, role); recorded as an audit event.

    Raises:
        ConfigError: an unknown verdict, or a comment over 2000 characters.
        ReportNotFound: ``feedback_id`` is not a false-positive report.
        ReviewNotAuthorized: ``reviewer`` filed the report (nobody reviews their own); the
            attempt is recorded (an audit event of kind ``feedback_review_refused``).
    """
    from lacuna.governor import current

    if verdict not in VERDICTS:
        msg = f"review verdict {verdict!r}: use accept or reject."
        raise ConfigError(msg)
    if len(comment) > MAX_COMMENT:
        msg = f"review comment: {len(comment)} characters; keep it under {MAX_COMMENT}."
        raise ConfigError(msg)
    gov = governor or current()
    record = gov.audit.get(feedback_id)
    fb = section(record.data, FEEDBACK) if record is not None else {}
    if record is None or record.data.get("kind") != FEEDBACK or not fb.get("false_positive"):
        msg = (f"no false-positive report {feedback_id!r} in {gov.audit.where}: pick one from "
               "the review queue (/console/review).")
        raise ReportNotFound(msg)
    user = reviewer[0]

    def event(kind: str, allowed: bool, reasoning: str, detail: dict[str, Any]) -> AuditRecord:
        return gov.audit.record_event(event_body(
            kind, user=reviewer, session=gov.session, what={"action": kind}, allowed=allowed,
            policy_id=record.policy_id, reasoning=reasoning, detail=detail))

    denied = gov.audit.get(str(fb.get("decision_record_id") or ""))
    msg = ""
    if canonical_name(user) == canonical_name(record.user_id):
        msg = (f"{user} filed report {feedback_id} and cannot review it: another steward "
               "decides whether the policy or classification needs a change.")
    elif denied is not None and canonical_name(user) == canonical_name(denied.user_id):
        # a report filed by someone else on one's own denial: accepting it is deciding that
        # one's own refused operation should have gone (as a requester never approves)
        msg = (f"{user} was denied decision {denied.id}, which report {feedback_id} is about, "
               "and cannot review it: another steward decides whether the policy or "
               "classification needs a change.")
    if msg:
        # refused, and on the record (not a review: the queue skips it)
        event(REVIEW_REFUSED, False, msg,
              {"feedback_id": feedback_id, "verdict": VERDICTS[verdict]})
        raise ReviewNotAuthorized(msg)
    return event(REVIEW, True, f"report {feedback_id} reviewed: {VERDICTS[verdict]}",
                 {"feedback_id": feedback_id, "decision_record_id": fb.get("decision_record_id"),
                  "verdict": VERDICTS[verdict], "comment": comment})
