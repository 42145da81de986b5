"""Retention: plan, apply, holds. The CLI and the server call these with the governor.

Every decision ``apply`` takes is one hash-chained record on the audit trail
(``kind: "retention"``, ``what.action: "retention"``, ``what.event``: ``deleted``,
``archived``, ``kept``, ``held``, ``error``, ``review`` or ``failed``), naming the policy
that required it (``decision.policy_id``) and the rule, tier and age (``retention``). A due
item's record is written *before* the file is touched: when the trail cannot be written,
nothing is deleted.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lacuna._files import change_key, whole_folder
from lacuna.audit.record import event_body
from lacuna.audit.turn import Turn
from lacuna.errors import LacunaError
from lacuna.model import utcnow
from lacuna.policy.unsendable import releasing_engines
from lacuna.retention.holds import (
    Hold,
    HoldError,
    HoldStore,
    dataset_key,
    identity_of,
    released,
)
from lacuna.retention.inventory import (
    Item,
    audit_trail,
    exception_files,
    governed_files,
    local_roots,
)
from lacuna.retention.plan import Entry, Plan, against_record, decide, unresolved
from lacuna.retention.settings import RetentionSettings, retention_from
from lacuna.retention.trail import Evidence, read_trail

if TYPE_CHECKING:
    from lacuna.audit.record import AuditRecord
    from lacuna.config import Config
    from lacuna.exceptions.context import Context  # what retention needs: the same as exceptions

log = logging.getLogger("lacuna.retention")
KIND = "retention"
PLAN_SKEW = timedelta(minutes=5)  # a plan may be a little ahead of this clock, not more
EVENTS = {"delete": "deleted", "archive": "archived", "keep": "kept", "hold": "held",
          "error": "error", "review": "review"}


class RetentionError(LacunaError):
    """Retention refused to act (the message says why and what to do)."""


def settings_of(config: Config) -> RetentionSettings:
    """The validated ``retention:`` section of ``config``."""
    return retention_from(config.retention or None, where=config.source or "<config>")


def holds_of(config: Config) -> HoldStore:
    """The hold store in ``config``'s state database."""
    return HoldStore(config.audit_url)


@releasing_engines
def build_plan(ctx: Context, *, now: datetime | None = None, rego: bool = True) -> Plan:
    """What retention would do at ``now`` (default: the current time), touching nothing.

    Raises:
        ConfigError: the ``retention:`` section is invalid.
        PolicyError: the policy bundle does not compile (with ``rego``).
    """
    from lacuna.keystore import keystore_for
    from lacuna.retention.rules import RetentionRules

    _on_this_host(ctx, "lacuna retention plan|apply")
    at = now or utcnow()
    config = ctx.config
    settings = settings_of(config)
    base = str(Path(config.source).parent) if config.source else os.getcwd()
    rules = RetentionRules(config) if rego else None
    holds = active_holds(ctx)
    trail = read_trail(ctx.audit)
    items = [_first_seen(i, trail) for i in governed_files(
        local_roots(config.destinations.governed), settings, keystore_for(config))]
    if settings.exceptions:
        items.extend(exception_files(ctx.exceptions, at))
    items.append(audit_trail(ctx.audit))
    entries = []
    for i in items:  # a loop: a generator's closure would keep the rules' engine in a traceback
        entry = decide(i, now=at, settings=settings, configured=config.retention, base=base,
                       holds=holds, rules=rules)
        if i.kind == "file":
            entry = against_record(entry, *trail.recorded(i.path), now=at,
                                   trail_problem=trail.problem)
        entries.append(unresolved(entry, holds))
    return Plan(now=at, entries=_linked_elsewhere(entries),
                rules_revision=rules.revision if rules else None,
                rego_packages=rules.packages if rules else ())


def _on_this_host(ctx: Context, command: str) -> None:
    """Refuse ``command`` with ``server:``: retention reads and writes this host's audit trail
    and holds table, which a server's client does not keep (its plan crashed on the server's
    trail; a hold placed here was obeyed by nothing, the mount and writes asking the
    server's holds)."""
    from lacuna.remote.client import refuse_local_state

    refuse_local_state(ctx.config, command, "Run it on the server's host (its "
                       "retention.schedule applies retention there); GET "
                       "/api/v1/retention/holds lists the holds it obeys (lacuna retention "
                       "list-holds here).")


def _first_seen(item: Item, trail: Evidence) -> Item:
    """``item`` with the audit trail's first sighting of its data, when that is earlier than
    what the item itself says (its write time, or the ``first_seen`` its signed sidecar or
    sealed header carries): rewritten, re-saved, or copied from older governed data. When
    both say the same time, the trail's account is the one shown (it says how)."""
    seen = trail.first_seen(item.path)
    if seen is None or seen.at > item.clock or (seen.at == item.clock and not item.seen_note):
        return item
    base = item.known_from.removesuffix(item.seen_note)
    return replace(item, first_seen=seen.at, seen_note="", known_from=(
        f"{base}; its clock starts {seen.at:%Y-%m-%d}, when the audit trail first "
        f"saw its data ({seen.how})"))


def _linked_elsewhere(entries: list[Entry]) -> tuple[Entry, ...]:
    """Due files whose data has more hard links than the plan deletes, and due symbolic links
    to data that is not an item of the plan (moved out of the governed root, a link left in
    its place): deleting (or archiving) the governed name would leave the data readable
    under another name, so it would outlive its window while the trail said deleted. Such an
    entry is an **error** (kept, ``apply`` exits 1) naming where the data is and what to do.
    A link to data the plan itself decides about (another governed file) is deleted as
    before: that data keeps its own entry."""
    governed: set[str] | None = None  # the resolved paths of the items (made on first need)

    def an_item(real: str) -> bool:
        nonlocal governed
        if governed is None:
            governed = {os.path.realpath(e.item.path) for e in entries
                        if e.item.kind == "file" and not os.path.islink(e.item.path)}
        # the file itself, or a folder dataset (one item) that holds it
        return real in governed or any(str(up) in governed for up in Path(real).parents)

    def inode(e: Entry) -> tuple[int, int] | None:
        st = e.item.stat
        return (st[4], st[3]) if e.item.kind == "file" and st is not None else None

    due: dict[tuple[int, int], int] = {}
    for e in entries:
        node = inode(e)
        if e.due and node is not None:
            due[node] = due.get(node, 0) + 1
    out = []
    for entry in entries:
        e, node = entry, inode(entry)
        if e.due and node is not None:
            try:
                st = os.lstat(e.item.path)
            except OSError:
                st = None
            # a directory is deleted as a whole (its links are its entries); a symbolic link
            # is one when what it names is (os.path.isdir follows it: one more stat, only then)
            if (st is not None and not stat.S_ISDIR(st.st_mode)
                    and not (stat.S_ISLNK(st.st_mode) and os.path.isdir(e.item.path))
                    and (st.st_dev, st.st_ino) == node and st.st_nlink > due[node]):
                others = st.st_nlink - due[node]
                done = EVENTS[e.action]
                e = replace(e, action="error", reason=(
                    f"not {done}: its data has {others} other hard link(s) that this plan does "
                    f"not delete (outside the governed root, or not a governed item), so "
                    f"deleting {e.item.path} would not delete the data. Find them (find / "
                    f"-xdev -samefile {e.item.path}), remove them, then apply again "
                    f"({e.reason})"))
            elif st is not None and stat.S_ISLNK(st.st_mode):
                real = os.path.realpath(e.item.path)
                if not an_item(real):
                    done = EVENTS[e.action]
                    e = replace(e, action="error", reason=(
                        f"not {done}: it is a symbolic link to {real}, which is not a governed "
                        f"item (outside the governed roots, or a name retention does not "
                        f"see), so {'deleting' if e.action == 'delete' else 'archiving'} the "
                        f"link would leave the data there. Move the data back in place of the "
                        f"link (mv {real} {e.item.path}) or delete it, then apply again "
                        f"({e.reason})"))
        out.append(e)
    return tuple(out)


@dataclass(frozen=True, slots=True)
class ApplyReport:
    """What one ``apply`` did: paths by outcome, and the audit records written."""

    plan: Plan
    done: dict[str, tuple[str, ...]] = field(default_factory=dict)  # event -> paths
    failed: tuple[str, ...] = ()  # "path: reason"
    records: tuple[str, ...] = ()  # audit record ids

    def to_dict(self) -> dict[str, Any]:
        return {"now": self.plan.now.isoformat(), **{k: list(v) for k, v in self.done.items()},
                "failed": list(self.failed), "audit_records": list(self.records)}


LOCK_NAME = "retention-apply.lock"


def lock_path() -> Path:
    """Where applies take turns: ``$LACUNA_HOME/retention-apply.lock``."""
    from lacuna.config import lacuna_home

    return lacuna_home() / LOCK_NAME


@contextlib.contextmanager
def applying(*, wait: bool = True) -> Iterator[bool]:
    """One retention apply at a time on this host (the CLI from cron, ``lacuna serve``'s
    workers on ``retention.schedule``, the Python API): an exclusive ``flock`` on
    :func:`lock_path`. Yields whether this process holds it; with ``wait=False`` it does not
    wait (a scheduled run skips a turn another process has: :func:`apply_if_free`). A lock
    file that cannot be made is logged and the work goes on (the lock orders applies; the
    trail records what each did).
    """
    path = lock_path()
    with contextlib.suppress(OSError):
        path.parent.mkdir(parents=True, exist_ok=True)
    turn = Turn.at(path)
    try:
        with turn.attempt() as mine:
            if not mine and not turn.opens():  # no lock file: go on without one, as hold() does
                log.warning("retention apply: no lock file at %s; applying without taking "
                            "turns", path)
                mine = True
            if mine or not wait:
                yield mine
                return
        log.info("retention apply: waiting for another process's apply to finish (%s)", path)
        with turn.hold():
            yield True
    finally:
        turn.close()


def apply_if_free(ctx: Context) -> ApplyReport | None:
    """:func:`apply` with a fresh plan, unless another process is applying retention on this
    host now (None: this turn is skipped, nothing planned or done)."""
    with applying(wait=False) as mine:
        return _apply(ctx, build_plan(ctx)) if mine else None


def apply(ctx: Context, plan: Plan | None = None) -> ApplyReport:
    """Carry out ``plan`` (default: a fresh one): delete or archive what is due, keep the rest,
    one audit record per decision. Applies on one host take turns (:func:`applying`), so two
    applies never decide about the same file at once; without ``plan``, the fresh one is made
    once the turn is this process's (a ``plan`` given was made before: each entry is checked
    again as it is carried out, :func:`recheck`).

    Raises:
        RetentionError: ``plan`` was made for a later time (``--as-of``): applying it would
            delete before the minimum.
        AuditError: the audit trail cannot be written (what was done before is recorded; the
            item whose record failed, and every later one, is left untouched).
    """
    with applying():
        return _apply(ctx, plan or build_plan(ctx))


def _apply(ctx: Context, plan: Plan) -> ApplyReport:
    if plan.now > utcnow() + PLAN_SKEW:
        msg = (f"this retention plan was made as of {plan.now:%Y-%m-%d %H:%M} UTC, later than "
               "now: applying it would delete data before its time. Plan again without a "
               "future date (lacuna retention apply plans for the current time).")
        raise RetentionError(msg)
    settings = settings_of(ctx.config)
    holds = active_holds(ctx)  # the holds now, not when the plan was made
    done: dict[str, list[str]] = {e: [] for e in (*EVENTS.values(), "failed")}
    failed: list[str] = []
    records: list[str] = []
    for planned in plan.entries:
        entry = recheck(planned, holds)
        event = EVENTS[entry.action]
        records.append(_record(ctx, entry, event, plan.now).id)
        if not entry.due:
            done[event].append(entry.item.path)
            continue
        try:
            if entry.action == "archive":
                _archive(entry, settings)
            else:
                _delete(entry.item.path, tree=entry.item.kind != "exception-file"
                        or entry.item.directory)
        except OSError as exc:
            failed.append(f"{entry.item.path}: {exc}")
            log.error("retention could not %s %s: %s", entry.action, entry.item.path, exc)
            records.append(_record(ctx, entry, "failed", plan.now, error=str(exc)).id)
            continue
        done[event].append(entry.item.path)
        if entry.item.exception_id:
            _note_exception(ctx, entry, plan.now)
    return ApplyReport(plan=plan, done={k: tuple(v) for k, v in done.items() if v},
                       failed=tuple(failed), records=tuple(records))


def recheck(entry: Entry, holds: list[Hold]) -> Entry:
    """A due entry as it stands when it is carried out: a hold placed since the plan was made
    holds it, a hold whose path has gone since blocks it (:func:`unresolved`), and a file
    that is no longer the one planned (written again at its path, its folder replaced, e.g. by
    a link elsewhere) is kept: the next plan decides about it."""
    if not entry.due:
        return entry
    item = entry.item
    hold = next((h for h in holds if not h.unrecorded and h.blocks(item.path)), None)
    if hold is not None:
        return replace(entry, action="hold", hold_id=hold.id, policy=f"hold {hold.id}",
                       policy_id=f"retention.hold.{hold.id}",
                       reason=f"legal hold {hold.id}: {hold.reason} (placed by "
                       f"{hold.placed_by} after the plan was made)")
    entry = unresolved(entry, holds)
    if not entry.due or item.stat is None:
        return entry
    try:
        now = change_key(os.lstat(item.path))
    except FileNotFoundError:
        return entry  # already gone: the decision stands (deleting it again is a no-op)
    if now == item.stat:
        return entry
    return replace(entry, action="keep", reason=(
        f"not {EVENTS[entry.action]}: {item.path} changed since the plan was made (written "
        "again, or its folder replaced), so it is not the file the plan decided about; the "
        "next plan (lacuna retention plan) decides about it"))


def _delete(path: str, *, tree: bool = True) -> None:
    """Delete ``path``; a directory only with ``tree`` (a file written under an exception: only
    when its signed record says a directory was written there)."""
    from lacuna.lineage.sidecar import own_sidecar_paths

    sides = own_sidecar_paths(path)  # before the file goes: .x's, never its sibling x's
    if whole_folder(path, recorded_folder=tree):
        shutil.rmtree(path)
    else:
        with contextlib.suppress(FileNotFoundError):  # already gone: the decision stands
            os.unlink(path)
    for side in sides:
        # a name that cannot be (the data file's name is too long for its sidecar's): none
        if os.path.lexists(side):
            side.unlink(missing_ok=True)


def _archive(entry: Entry, settings: RetentionSettings) -> None:
    from lacuna.lineage.sidecar import own_sidecar_paths, sidecar_paths

    if not settings.archive_dir:
        msg = "on_expiry: archive needs retention.archive_dir (where archived files go)"
        raise OSError(msg)
    item = entry.item
    rel = os.path.relpath(item.path, item.root) if item.root else os.path.basename(item.path)
    target = Path(settings.archive_dir).expanduser() / rel
    if os.path.lexists(target) or any(os.path.lexists(p) for p in sidecar_paths(target)):
        msg = (f"{target} already holds an archived file: not overwritten (archived data is "
               "kept). Move it elsewhere, or set another retention.archive_dir, then apply "
               "again")
        raise FileExistsError(msg)
    target.parent.mkdir(parents=True, exist_ok=True)
    own = own_sidecar_paths(item.path)  # .x's, never its sibling x's
    sides = [(side, moved) for side, moved in zip(sidecar_paths(item.path),
                                                  sidecar_paths(target), strict=False)
             if side in own]
    shutil.move(item.path, target)
    for side, moved in sides:  # each name to the same name there
        if os.path.lexists(side):  # never raises, for a name too long to be one either
            shutil.move(side, moved)


def _note_exception(ctx: Context, entry: Entry, now: datetime) -> None:
    store = ctx.exceptions
    exception_id = entry.item.exception_id
    assert exception_id is not None
    try:
        store.mark_deleted(exception_id, entry.item.path, now)
        store.note(exception_id, "file-deleted", by="lacuna-retention", comment=entry.item.path,
                   now=now)
    except Exception as exc:  # the file is gone and audited; the history note is secondary
        log.error("could not note the deletion of %s on exception %s: %s", entry.item.path,
                  exception_id, exc)


def _record(ctx: Context, entry: Entry, event: str, now: datetime, *,
            error: str | None = None) -> AuditRecord:
    item = entry.item
    body = event_body(
        KIND, user=ctx.config.user, session=ctx.session,
        what={"action": KIND, "event": event, "dataset": item.path, "kind": item.kind,
              "tier": item.tier.value, "destination": item.path},
        why={"rule": entry.rule, "policy": entry.policy}, allowed=entry.due,
        policy_id=entry.policy_id,
        reasoning=entry.reason if error is None else f"{entry.reason}; failed: {error}",
        detail={**entry.to_dict(), "as_of": now.isoformat()})
    body["classification"] = {"tier": item.tier.value, "tags": list(item.tags)}
    return ctx.audit.record_event(body)


def place_hold(ctx: Context, dataset: str, *, reason: str) -> Hold:
    """Put ``dataset`` (a file or folder) under a legal hold, audited.

    Raises:
        HoldError: no reason, or already held.
        NotOnThisHost: ``server:`` is configured (holds are placed on the server's host).
    """
    _on_this_host(ctx, "lacuna retention hold")
    store = holds_of(ctx.config)
    try:
        hold = store.place(dataset, reason=reason, by=ctx.config.user.id)
    finally:
        store.close()
    hold = replace(hold, identity=identity_of(hold.dataset))
    _hold_event(ctx, "hold-placed", hold)
    return hold


def release_hold(ctx: Context, dataset: str) -> Hold:
    """Release the active hold on ``dataset`` (its path or the hold's id), audited.

    Raises:
        HoldError: no active hold matches.
        AuditError: the release cannot be recorded: the hold stays in place.
        NotOnThisHost: ``server:`` is configured (holds are released on the server's host).
    """
    _on_this_host(ctx, "lacuna retention release")
    store = holds_of(ctx.config)
    try:
        found: Hold | None
        try:
            found, in_table = store.active(dataset), True
        except HoldError:  # a hold the trail still places, its row released by hand
            key = dataset_key(dataset)
            found, in_table = next((h for h in _trail_holds(ctx)[0] if dataset == h.id
                                    or h.dataset == dataset
                                    or dataset_key(h.dataset) == key), None), False
            if found is None:
                raise
        hold, at = found, utcnow()
        # recorded first: a hold is never released off the record (an audit trail that
        # cannot be written leaves it in place)
        _hold_event(ctx, "hold-released", released(hold, ctx.config.user.id, at))
        if in_table:
            return store.release(hold.id, by=ctx.config.user.id, now=at)
        return released(hold, ctx.config.user.id, at)
    finally:
        store.close()


def list_holds(config: Config, *, include_released: bool = False) -> list[Hold]:
    """Active holds (and released ones with ``include_released``), oldest first; those of the
    Lacuna server ``config`` names (``server:``), when it names one."""
    if config.server is not None:
        from lacuna.remote.client import server_holds

        return server_holds(config, include_released=include_released)
    store = holds_of(config)
    try:
        return store.list(include_released=include_released)
    finally:
        store.close()


def active_holds(ctx: Context) -> list[Hold]:
    """The holds retention obeys: the active rows of ``lacuna_retention_holds`` and every hold
    the audit trail says was placed and not released, the trail's first.

    The table is a plain table in a file its user can write; placing and releasing a hold are
    records on the signed, hash-chained trail (a release is recorded before the row changes).
    A hold whose row was released or deleted by hand, with no release on the trail, is still
    obeyed, and said once in the log. An active row the trail does not bear out (inserted or
    re-activated by hand, or its placing never recorded) is marked ``unrecorded``: what it
    covers is kept, as an **error** (:func:`lacuna.retention.plan.unresolved`), never silently
    held. Only trail records whose hash and signature hold count.
    """
    store = holds_of(ctx.config)
    try:
        table = store.list()
    finally:
        store.close()
    trail, ever = _trail_holds(ctx)
    on_trail = {h.id: h for h in trail}
    # the table's row, with the identity the trail recorded of what it held
    holds = [replace(h, identity=on_trail[h.id].identity) for h in table if h.id in on_trail]
    for hold in table:
        if hold.id in on_trail:
            continue
        why = ("released on the audit trail, active again in the holds table"
               if hold.id in ever else "never placed on the audit trail")
        log.warning("legal hold %s on %s is active in the holds table but %s: what it covers is "
                    "kept as an error, not held", hold.id, hold.dataset, why)
        holds.append(replace(hold, unrecorded=why))
    known = {h.id for h in table}
    for hold in trail:
        if hold.id not in known:
            log.warning("legal hold %s on %s is active on the audit trail (placed by %s, never "
                        "released there) but not in the holds table (released or removed by "
                        "hand): still obeyed; release it with `lacuna retention release`",
                        hold.id, hold.dataset, hold.placed_by)
            holds.append(hold)
    # the trail's holds first: an item under a recorded hold and an unrecorded one is held
    return sorted(holds, key=lambda h: h.unrecorded is not None)


def _trail_holds(ctx: Context) -> tuple[list[Hold], set[str]]:
    """Holds placed on the audit trail and not released there, and the ids of every hold
    ever placed there, from records that verify."""
    from sqlalchemy import select

    from lacuna.audit.schema import records
    from lacuna.audit.verify import intact_records, record_columns

    audit = ctx.audit
    stmt = (select(*record_columns())
            .where(records.c.action == KIND,
                   records.c.body.contains('"event":"hold-', autoescape=True))
            .order_by(records.c.seq))
    placed: dict[str, Hold] = {}
    ever: set[str] = set()
    with audit.snapshot() as conn:  # an edited or forged record: `lacuna audit verify` names it
        rows = intact_records(conn, conn.execute(stmt).all(), audit.keyring)
    for row in rows:
        try:
            body = json.loads(row.body)
            event, held = body["what"]["event"], body["retention"]
            if event == "hold-placed":
                node = held.get("identity")
                placed[held["id"]] = Hold(
                    id=held["id"], dataset=held["dataset"], reason=held["reason"],
                    placed_by=held["placed_by"],
                    placed_at=datetime.fromisoformat(held["placed_at"]),
                    identity=(int(node[0]), int(node[1])) if isinstance(node, list)
                    and len(node) == 2 else None)
                ever.add(held["id"])
            elif event == "hold-released":
                placed.pop(held["id"], None)
        except (ValueError, KeyError, TypeError):
            continue
    return list(placed.values()), ever


def _hold_event(ctx: Context, event: str, hold: Hold) -> None:
    ctx.audit.record_event(event_body(
        KIND, user=ctx.config.user, session=ctx.session,
        what={"action": KIND, "event": event, "dataset": hold.dataset,
              "destination": hold.dataset},
        why={"reason": hold.reason}, policy_id=f"retention.hold.{hold.id}",
        reasoning=f"{event}: {hold.reason}", detail={
            **hold.to_dict(), **({"identity": list(hold.identity)} if hold.identity else {})}))


__all__ = ["LOCK_NAME", "ApplyReport", "Context", "RetentionError", "active_holds", "apply",
           "apply_if_free", "applying", "build_plan", "list_holds", "lock_path", "place_hold",
           "release_hold", "settings_of"]
