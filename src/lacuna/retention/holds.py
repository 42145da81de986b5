"""Legal holds: a dataset under hold is never deleted or archived, whatever its retention says.

A hold names a dataset by its path (a file, or a folder: everything under it is held) and
lives in the state store (table ``lacuna_retention_holds`` beside the audit trail), so every
process and the server see it. Releasing keeps the row (who released it, when): the history of
holds is evidence too. Placing and releasing are audited by the caller (:mod:`.apply`).
"""

from __future__ import annotations

import builtins
import os
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import Column, DateTime, MetaData, String, Table, Text, select, update

from lacuna.errors import LacunaError
from lacuna.lineage.records import canonical_uri
from lacuna.model import utcnow

metadata = MetaData()
table = Table(
    "lacuna_retention_holds",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("dataset", Text, nullable=False, index=True),
    Column("reason", Text, nullable=False),
    Column("placed_by", String(255), nullable=False),
    Column("placed_at", DateTime(timezone=True), nullable=False),
    Column("released_by", String(255)),
    Column("released_at", DateTime(timezone=True)),
)


class HoldError(LacunaError):
    """A hold cannot be placed or released (the message says why and what to do)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Hold:
    """One legal hold on a dataset (a file or a folder)."""

    id: str
    dataset: str
    reason: str
    placed_by: str
    placed_at: datetime
    released_by: str | None = None
    released_at: datetime | None = None
    # why the audit trail does not bear this active hold out (a row placed or re-activated by
    # hand, or whose placing could not be recorded): such a hold keeps data but never
    # silently, its items are errors (retention.plan.unresolved)
    unrecorded: str | None = None
    # the device and inode of the held file or folder when the hold was placed (recorded on
    # the audit trail with the placing): the hold follows the data under another name. Local
    # to the host that placed it (a server's holds reach its clients without it), so not part
    # of what makes two holds the same hold
    identity: tuple[int, int] | None = field(default=None, compare=False)

    @property
    def active(self) -> bool:
        return self.released_at is None

    def covers(self, path: str) -> bool:
        """Whether this hold covers ``path`` (the dataset itself, or a file under it), also
        when one of them is spelled through a symbolic link (a governed root configured as a
        link, a hold placed on the real folder, or the other way round)."""
        held = {self.dataset, _resolved(self.dataset)}
        if any(p == h or p.startswith(h.rstrip(os.sep) + os.sep)
               for p in {path, _resolved(path)} for h in held):
            return True
        return self._same_file(path)

    def blocks(self, path: str) -> bool:
        """Whether deleting ``path`` would delete held data: it is covered, or it is a folder
        that holds the held file or folder (a folder dataset is deleted as a whole)."""
        if self.covers(path):
            return True
        if "://" in path:
            return False
        return any(h.startswith(p.rstrip(os.sep) + os.sep)
                   for p in {path, _resolved(path)}
                   for h in {self.dataset, _resolved(self.dataset)})

    def _same_file(self, path: str) -> bool:
        """Whether ``path`` or a folder above it is the held file or folder itself, spelled
        otherwise (another case on a case-insensitive file system, a bind mount, a hard link
        to a held file), or renamed since the hold was placed (its recorded ``identity``:
        renamed by hand, another file written at the held path): compared by device and
        inode."""
        if "://" in self.dataset or "://" in path:
            return False
        held = {self.identity} if self.identity is not None else set()
        try:
            st = os.stat(self.dataset)
            held.add((st.st_dev, st.st_ino))
        except OSError:
            pass
        if not held:
            return False
        here = os.path.abspath(path)
        while True:
            try:
                st = os.stat(here)
                if (st.st_dev, st.st_ino) in held:
                    return True
            except OSError:
                pass
            parent = os.path.dirname(here)
            if parent == here:
                return False
            here = parent

    @property
    def lost(self) -> bool:
        """Whether the hold names a local path that no longer exists (the held data was
        moved, renamed or deleted outside retention): what it holds is then unknown."""
        return "://" not in self.dataset and not os.path.lexists(self.dataset)

    def to_dict(self) -> dict[str, str | None]:
        return {"id": self.id, "dataset": self.dataset, "reason": self.reason,
                "placed_by": self.placed_by, "placed_at": self.placed_at.isoformat(),
                "released_by": self.released_by,
                "released_at": self.released_at.isoformat() if self.released_at else None}


def _resolved(path: str) -> str:
    """``path`` with its symbolic links resolved (URLs by their canonical name:
    :func:`lacuna.lineage.records.canonical_uri`)."""
    return canonical_uri(path) if "://" in path else os.path.realpath(path)


def dataset_key(dataset: str) -> str:
    """A dataset's key: local paths are absolute and normalised; URLs by the name the lineage
    store gives them (``s3a://b/x`` is ``s3://b/x``: one dataset, one hold)."""
    if "://" in dataset:
        return canonical_uri(dataset).rstrip("/")
    return os.path.abspath(os.path.expanduser(dataset))


class HoldStore:
    """Holds in the state database at ``url`` (SQLite or PostgreSQL)."""

    def __init__(self, url: str) -> None:
        from lacuna.audit.schema import open_state_database

        self._engine = open_state_database(url, metadata)

    def place(self, dataset: str, *, reason: str, by: str,
              now: datetime | None = None) -> Hold:
        """Put ``dataset`` under hold.

        Raises:
            HoldError: no reason given, or the dataset is already under an active hold.
        """
        if not reason.strip():
            msg = (f"a legal hold on {dataset} needs a reason (e.g. --reason 'litigation "
                   "2026-17'): it is what auditors read")
            raise HoldError(msg)
        key = dataset_key(dataset)
        if "://" not in key and not os.path.lexists(key):
            msg = (f"cannot place a legal hold on {key}: there is no file or folder there, so "
                   "the hold would hold nothing" + _near(key) + ". Name the file or folder "
                   "that holds the data (lacuna retention plan lists them).")
            raise HoldError(msg)
        for hold in self.list():
            if dataset_key(hold.dataset) == key:  # a hold stored before names were canonical
                msg = (f"{key} is already under hold {hold.id} ({hold.reason!r}, placed by "
                       f"{hold.placed_by}); release it first to change the reason")
                raise HoldError(msg)
        hold = Hold(id=uuid.uuid4().hex, dataset=key, reason=reason.strip(), placed_by=by,
                    placed_at=now or utcnow())
        with self._engine.begin() as conn:
            conn.execute(table.insert().values(
                id=hold.id, dataset=hold.dataset, reason=hold.reason,
                placed_by=hold.placed_by, placed_at=hold.placed_at))
        return hold

    def release(self, dataset: str, *, by: str, now: datetime | None = None) -> Hold:
        """Release the active hold on ``dataset`` (a path, or a hold id).

        Raises:
            HoldError: no active hold has that dataset or id.
        """
        hold = self.active(dataset)
        at = now or utcnow()
        with self._engine.begin() as conn:
            conn.execute(update(table).where(table.c.id == hold.id)
                         .values(released_by=by, released_at=at))
        return released(hold, by, at)

    def active(self, dataset: str) -> Hold:
        """The active hold on ``dataset`` (a path, or a hold id).

        Raises:
            HoldError: no active hold has that dataset or id.
        """
        key = dataset_key(dataset)
        active = [h for h in self.list()
                  if dataset in (h.id, h.dataset) or dataset_key(h.dataset) == key]
        if not active:
            known = ", ".join(h.dataset for h in self.list()) or "none"
            msg = f"no active hold on {key}; active holds: {known} (lacuna retention list-holds)"
            raise HoldError(msg)
        return active[0]

    def list(self, *, include_released: bool = False) -> builtins.list[Hold]:
        """Holds, oldest first; only active ones unless ``include_released``."""
        stmt = select(table).order_by(table.c.placed_at, table.c.id)
        if not include_released:
            stmt = stmt.where(table.c.released_at.is_(None))
        with self._engine.connect() as conn:
            rows = conn.execute(stmt).all()
        return [Hold(id=r.id, dataset=r.dataset, reason=r.reason, placed_by=r.placed_by,
                     placed_at=_utc(r.placed_at) or r.placed_at, released_by=r.released_by,
                     released_at=_utc(r.released_at)) for r in rows]

    def holding(self, path: str, holds: builtins.list[Hold] | None = None) -> Hold | None:
        """The active hold covering ``path``, if any."""
        key = dataset_key(path)
        return next((h for h in (holds if holds is not None else self.list())
                     if h.covers(key)), None)

    def close(self) -> None:
        self._engine.dispose()


def _near(path: str) -> str:
    """``; did you mean …`` naming what exists beside ``path`` under another case."""
    parent, name = os.path.split(path)
    try:
        names = os.listdir(parent)
    except OSError:
        return ""
    same = sorted(n for n in names if n.casefold() == name.casefold() and n != name)
    return f"; did you mean {os.path.join(parent, same[0])}?" if same else ""


def identity_of(dataset: str) -> tuple[int, int] | None:
    """The device and inode of a local held path now (None: a URL, or nothing there)."""
    if "://" in dataset:
        return None
    try:
        st = os.stat(dataset)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def released(hold: Hold, by: str, at: datetime) -> Hold:
    return Hold(id=hold.id, dataset=hold.dataset, reason=hold.reason, placed_by=hold.placed_by,
                placed_at=hold.placed_at, released_by=by, released_at=at)


def _utc(value: datetime | None) -> datetime | None:
    # SQLite hands back naive datetimes; every time Lacuna stores is UTC.
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


__all__ = ["Hold", "HoldError", "HoldStore", "dataset_key", "identity_of", "released", "table"]
