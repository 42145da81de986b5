"""The privacy budget: the epsilon ``noise`` releases have spent on each column they came from.

Differential privacy composes: two releases of the same numbers at epsilon 1 each are one
release at epsilon 2, and 200 at the cap (10) are averaged back to within about half a year of
each age. So a ``noise`` release that would call personal data public **spends** its epsilon
from a budget kept per *subject*, in the state database (``audit.url``, table
``lacuna_privacy_budget``), and is refused once the subject's total would pass the limit:

- a column read from a named dataset spends on each source column its content came from
  (``customers.csv`` column ``age``): its column lineage (``Origin``), so renaming the column,
  copying the frame or noising a derived aggregate spends from the same budget;
- every column also spends on its **values**: the SHA-256 of its sorted non-null numbers, so
  the same numbers noised again spend again, whatever the column is called, and also when
  taken out of their lineage or read from a copy of the file (a column built in memory, with
  no origin, spends on its values only).

The limit is ``anonymize.epsilon_budget`` (default 10), capped in code at
:data:`~lacuna.anonymize.builtin.noise.MAX_EPSILON`: the configuration, which the analyst owns,
can lower it, never raise it. Spending is all-or-nothing for one ``anonymize`` call (every
column's subjects in one transaction, taken in turns by concurrent processes), and happens
before the noised frame is returned: a refused call returns nothing and spends nothing.

The ledger lives in the enabled governor's state database (a ``config=`` passed to
``anonymize`` says what a release is, not where its budget is kept), else in that of the
configuration given. It is as strong as the state database it lives in: whoever can delete
its rows (or point ``audit.url`` at a fresh file) starts again. The shared deployment keeps the
state database on the server; docs/anonymize.md#the-privacy-budget says what is and is not covered.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import Column, Float, Index, Integer, MetaData, String, Table, Text, func, select

from lacuna.audit.schema import open_state_database
from lacuna.errors import ConfigError
from lacuna.model import utcnow
from lacuna.state.locks import serialize

if TYPE_CHECKING:
    import pandas as pd

    from lacuna.config import Config
    from lacuna.lineage.state import Origin

TABLE = "lacuna_privacy_budget"
metadata = MetaData()
table = Table(
    TABLE,
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("subject", String(64), nullable=False),  # sha256 hex of Subject.key
    Column("described", Text, nullable=False),  # the subject, for people
    Column("released", String(256), nullable=False),  # the column noised
    Column("epsilon", Float, nullable=False),
    Column("spent_at", String(40), nullable=False),
    Column("spent_by", String(256), nullable=False),
    Index("ix_lacuna_privacy_budget_subject", "subject"),
)


class BudgetExhausted(ConfigError):
    """A ``noise`` release would spend more epsilon on a subject than its budget allows."""

    def __init__(self, message: str, *, subject: str, spent: float, limit: float) -> None:
        super().__init__(message)
        self.subject = subject
        self.spent = spent
        self.limit = limit


@dataclass(frozen=True, slots=True)
class Subject:
    """What a release spends from: a source column, or (for data built in memory) the values."""

    key: str  # stable text the ledger is keyed by (hashed)
    described: str  # for people: "column 'age' of /data/customers.csv"

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.key.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Charge:
    """One column's release: the epsilon it spends on each of its subjects."""

    column: str
    epsilon: float
    subjects: tuple[Subject, ...]


@dataclass(frozen=True, slots=True)
class Spent:
    """What the ledger holds for one subject."""

    described: str
    epsilon: float
    releases: int
    last_at: str


def subjects_of(column: str, origins: Sequence[Origin], values: pd.Series | None) -> tuple[
        Subject, ...]:
    """The subjects a release of ``column`` spends on: its origins' source columns, and the
    content of ``values`` (sorted, so reordering the rows is the same release). Both: the
    same numbers taken out of their lineage (``pd.DataFrame({"age": list(df["age"])})``) or
    read from a copy of the file are the content already spent on."""
    found = set(source_subjects(origins))
    if values is not None:
        found.add(content_subject(column, values, sourced=bool(found)))
    if not found:
        msg = (f"cannot account the privacy budget of column {column!r}: it has no source "
               "column and no values to name it by. Nothing was anonymized.")
        raise ConfigError(msg)
    return tuple(sorted(found, key=lambda s: s.key))


def source_subjects(origins: Sequence[Origin]) -> tuple[Subject, ...]:
    """The source columns of ``origins`` (those of named datasets), as subjects."""
    return tuple(dict.fromkeys(
        Subject(key=f"column\0{o.dataset.namespace}\0{o.dataset.name}\0{o.column}",
                described=f"column {o.column!r} of {o.dataset}")
        for o in origins if o.dataset.known))


def content_subject(column: str, values: pd.Series, *, sourced: bool = False) -> Subject:
    """The subject of the numbers themselves: the SHA-256 of their sorted values."""
    import numpy as np

    numbers = np.sort(values.dropna().to_numpy(dtype=float))
    digest = hashlib.sha256(numbers.tobytes()).hexdigest()
    where = "" if sourced else "built in memory; "
    return Subject(key=f"values\0{digest}",
                   described=f"the {len(numbers)} values of column {column!r} "
                             f"({where}sha256 {digest[:12]})")


def limit_of(config: Config) -> float:
    """The budget per subject: ``anonymize.epsilon_budget``, never above the code's cap."""
    from lacuna.anonymize.builtin.noise import MAX_EPSILON

    return min(float(config.anonymize.epsilon_budget), MAX_EPSILON)


def _governing(config: Config) -> Config:
    """The configuration whose state database keeps the ledger: the enabled governor's when
    there is one, so ``anonymize(df, config=…)`` with another ``audit.url`` spends from the
    same ledger (its settings still say what a release is: epsilon, sensitivity)."""
    from lacuna.config import enabled_config

    return enabled_config() or config


def spend(config: Config, charges: Iterable[Charge]) -> None:
    """Spend every charge's epsilon on its subjects, or none of them, recorded as spent by the
    user of the configuration whose ledger it is (the enabled governor's, as in its audit
    trail; before, ``anonymize(df, config=other)`` recorded ``other``'s ``user.id``, any name
    its caller wrote there).

    Raises:
        BudgetExhausted: a subject's spent epsilon plus this call's would pass the limit
            (nothing is spent).
        AuditError: the state database cannot be opened or written.
    """
    charges = [c for c in charges if c.epsilon > 0]
    if not charges:
        return
    governing = _governing(config)
    by = governing.user.id
    limit = min(limit_of(config), limit_of(governing))
    wanted: dict[str, float] = {}
    named: dict[str, Subject] = {}
    for charge in charges:
        for subject in charge.subjects:
            wanted[subject.digest] = wanted.get(subject.digest, 0.0) + charge.epsilon
            named[subject.digest] = subject
    engine = open_state_database(governing.audit_url, metadata)
    try:
        with (engine.connect().execution_options(sqlite_begin="IMMEDIATE") as conn,
              conn.begin()):
            serialize(conn, TABLE)
            rows = conn.execute(
                select(table.c.subject, func.sum(table.c.epsilon), func.count())
                .where(table.c.subject.in_(list(wanted))).group_by(table.c.subject)).all()
            spent = {r[0]: (float(r[1]), int(r[2])) for r in rows}
            for digest, more in wanted.items():
                before, releases = spent.get(digest, (0.0, 0))
                if before + more > limit + 1e-9:
                    raise _exhausted(named[digest], before, releases, more, limit)
            now = utcnow().isoformat()
            conn.execute(table.insert(), [
                {"subject": s.digest, "described": s.described[:4000],
                 "released": c.column[:256], "epsilon": c.epsilon, "spent_at": now,
                 "spent_by": by[:256]}
                for c in charges for s in c.subjects])
    finally:
        engine.dispose()


def _exhausted(subject: Subject, before: float, releases: int, more: float,
               limit: float) -> BudgetExhausted:
    left = max(limit - before, 0.0)
    msg = (f"the privacy budget of {subject.described} is spent: {releases} earlier noise "
           f"release(s) spent epsilon {before:g} of {limit:g}, and this one would spend "
           f"{more:g} more ({left:g} left). Releasing the same data again lets anyone who "
           "averages the releases recover the values. Use the release you already made "
           "(keep it, or write it to a governed folder and read it from there), lower "
           "anonymize.epsilon to at most "
           f"{left:g}, or use generalize, mask or redact. Nothing was anonymized.")
    return BudgetExhausted(msg, subject=subject.described, spent=before, limit=limit)


def ledger(config: Config) -> list[Spent]:
    """What has been spent, per subject, the most spent first (read where :func:`spend`
    writes: the enabled governor's state database, else ``config``'s)."""
    engine = open_state_database(_governing(config).audit_url, metadata)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                select(func.max(table.c.described), func.sum(table.c.epsilon), func.count(),
                       func.max(table.c.spent_at))
                .group_by(table.c.subject)).all()
    finally:
        engine.dispose()
    out = [Spent(described=r[0], epsilon=float(r[1]), releases=int(r[2]), last_at=r[3])
           for r in rows]
    return sorted(out, key=lambda s: (-s.epsilon, s.described))
