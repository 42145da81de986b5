"""What keeps data as it is between plans: the holds a delete, move or write outside ``apply``
obeys (the governed mount's ``rm``, ``mv``, ``>``), decided here once for every caller.

Two kinds of hold keep data, as in the plan (:func:`lacuna.retention.plan.decide`):

* **legal holds** (:func:`lacuna.retention.api.active_holds`): read again only when the audit
  trail's last retention record or the holds table changed (:class:`LocalKeeping`; the server
  answers ``GET /api/v1/retention/holds`` from the same cache, with its ``version``);
* **holds from Rego retention rules** (``retention := {"hold": true, ...}``): the governed
  item at a path is described as the plan describes it (:func:`items_at`) and the bundle's
  ``retention`` rules are evaluated on it (:func:`judge`). A rule that fails keeps the data
  (fail closed), as it makes the item an error in the plan.

The mount only translates: it asks a :class:`Keeping` (this module's, or the server's through
:class:`lacuna.remote.client.ServerKeeping`) and refuses what it says is held.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from lacuna.errors import LacunaError
from lacuna.model import utcnow
from lacuna.policy.unsendable import ThreadSlot

if TYPE_CHECKING:
    from lacuna.config import Config
    from lacuna.exceptions.context import Context
    from lacuna.retention.holds import Hold
    from lacuna.retention.inventory import Item
    from lacuna.retention.rules import RetentionRules


@dataclass(frozen=True, slots=True, kw_only=True)
class RuleHold:
    """A Rego retention rule holds the governed item at ``path`` (or failed on it: ``error``,
    which keeps it too)."""

    path: str
    package: str
    reason: str = ""
    error: str | None = None

    @property
    def policy_id(self) -> str:
        """What a refusal is recorded under: the rule's package, as the plan's held entry."""
        return self.package


class Keeping(Protocol):
    """Where the holds come from: this process's state store, or a Lacuna server."""

    def holds(self) -> tuple[Hold, ...]:
        """The legal holds retention obeys. Raises when they cannot be read."""
        ...

    def rule_hold(self, paths: Sequence[str]) -> RuleHold | None:
        """The first Rego hold on a governed item at or under ``paths``. Raises when the
        rules cannot be asked."""
        ...


def items_at(config: Config, path: str) -> Iterator[Item]:
    """The governed items a delete or move of ``path`` takes with it, described as the plan
    describes them: the file itself, or a folder's own item (a trusted sidecar: one dataset)
    and every item under it. Lacuna's sidecars and what is gone are not items."""
    from lacuna.keystore import keystore_for
    from lacuna.lineage.sidecar import has_sidecar, is_sidecar
    from lacuna.retention.api import settings_of
    from lacuna.retention.inventory import describe, governed_files

    settings = settings_of(config)
    keys = keystore_for(config)
    if os.path.isdir(path) and not os.path.islink(path):
        if has_sidecar(path):
            yield describe(path, None, settings, keys)
        yield from governed_files([path], settings, keys)
    elif os.path.isfile(path) and not (is_sidecar(path) and not has_sidecar(path)):
        try:
            yield describe(path, None, settings, keys)
        except FileNotFoundError:
            return


def rule_input(item: Item, now: datetime) -> dict[str, Any]:
    """The input a ``retention`` rule sees for ``item`` at ``now`` (the plan's)."""
    from lacuna.retention.plan import _input

    return _input(item, now, (now - item.clock).total_seconds() / 86400)


def judge(rules: RetentionRules, docs: Sequence[Mapping[str, Any]]) -> list[RuleHold | None]:
    """For each rule input of ``docs``, the rule that holds it (the first package saying
    ``hold``), a failure (which holds it: fail closed), or None."""
    out: list[RuleHold | None] = []
    for doc in docs:
        path = str((doc.get("dataset") or {}).get("path") or "?")
        try:
            said = rules.evaluate(doc)
        except LacunaError as exc:
            out.append(RuleHold(path=path, package="retention.rules", error=str(exc)))
            continue
        held = next((o for o in said if o.hold), None)
        out.append(
            None
            if held is None
            else RuleHold(
                path=path, package=held.package, reason=held.reason or "a retention rule holds it"
            )
        )
    return out


class LocalKeeping:
    """:class:`Keeping` from this process's state store and policy bundle, cached: the holds
    by what they are read from (:meth:`mark`), the compiled rules by the bundle's revision
    (per thread)."""

    def __init__(self, ctx: Context, *, revision: Any = None) -> None:
        self.ctx = ctx
        self._revision = revision  # () -> the policy engine's bundle revision, or None
        self._holds: tuple[tuple[Any, ...], tuple[Hold, ...]] | None = None
        self._holds_lock = threading.Lock()
        # a regorus engine is used, and dropped, only on the thread that made it: one compiled
        # copy per thread (as lacuna.policy.engine keeps its engines), each with its revision
        self._rules: ThreadSlot[tuple[Any, RetentionRules]] = ThreadSlot()

    def holds(self) -> tuple[Hold, ...]:
        return self.versioned()[1]

    def versioned(self) -> tuple[str, tuple[Hold, ...]]:
        """The holds and a version that changes whenever they may have (the server's answer
        carries it, so a client that has them already is told they did not change)."""
        from lacuna.retention.api import active_holds, holds_of

        with self._holds_lock:
            if self._holds is None:  # the holds table exists from here on (the mark reads it)
                holds_of(self.ctx.config).close()
            mark = self.mark()
            if self._holds is None or self._holds[0] != mark:
                # the mark from before the read: a change meanwhile reads them again next time
                self._holds = (mark, tuple(active_holds(self.ctx)))
            return _version(mark), self._holds[1]

    def mark(self) -> tuple[Any, ...]:
        """What the holds are read from, cheaply: the last retention record of the audit trail
        (placing and releasing a hold are such records; ``action`` is indexed) and the rows of
        the holds table (a few; also one changed by hand), in one read transaction."""
        from sqlalchemy import func, select

        from lacuna.audit.schema import records
        from lacuna.retention.api import KIND
        from lacuna.retention.holds import table

        with self.ctx.audit.snapshot() as conn:
            last = conn.execute(
                select(func.max(records.c.seq)).where(records.c.action == KIND)
            ).scalar()
            rows = conn.execute(
                select(
                    table.c.id,
                    table.c.dataset,
                    table.c.reason,
                    table.c.placed_by,
                    table.c.released_at,
                ).order_by(table.c.id)
            ).all()
        return (last, *(tuple(r) for r in rows))

    def rules(self) -> RetentionRules:
        """The bundle's ``retention`` rules, compiled on this thread, again when the bundle's
        revision changed.

        Raises:
            PolicyError: the bundle does not compile.
        """
        from lacuna.retention.rules import RetentionRules

        key = self._revision() if self._revision is not None else None
        mine = self._rules.get()
        if mine is None or mine[0] != key:
            mine = (key, RetentionRules(self.ctx.config))
            self._rules.set(mine)
        return mine[1]

    def packages(self) -> tuple[str, ...]:
        """The packages defining ``retention`` (none: no Rego hold can hold anything)."""
        return self.rules().packages

    def judge(self, docs: Sequence[Mapping[str, Any]]) -> list[RuleHold | None]:
        """:func:`judge` with this bundle's rules."""
        return judge(self.rules(), docs)

    def rule_hold(self, paths: Sequence[str]) -> RuleHold | None:
        if not self.packages():
            return None
        now = utcnow()
        docs = [rule_input(i, now) for p in paths for i in items_at(self.ctx.config, p)]
        return next((h for h in self.judge(docs) if h is not None), None)


def _version(mark: tuple[Any, ...]) -> str:
    return hashlib.sha256(repr(mark).encode("utf-8")).hexdigest()[:32]


__all__ = ["Keeping", "LocalKeeping", "RuleHold", "items_at", "judge", "rule_input"]
