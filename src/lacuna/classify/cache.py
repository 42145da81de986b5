"""The cascade's answer cache: by (column name, value-shape signature), in memory and on disk.

Layer 1 is cheap and always runs. What the cache saves is the later layers: an answer from
layer 2 or 3 is stored under its column name, the signature of its values' shapes
(:func:`lacuna.classify.shapes.signature`) and a fingerprint of the settings that produced it,
so the next time the same column comes by — in this process or another — it costs a dict
lookup (memory) or one indexed row read (the state store, table ``lacuna_classify_cache``).
Answers given because the LLM was unavailable are never stored: the next call asks again, and
neither are answers for a column whose name is itself data (an e-mail address as a JSON key,
a form field or a CSV header: :func:`lacuna.classify.heuristic.data_in_names`), kept in memory
only.

The memory tier holds ``classification.cache.size`` answers (least recently used first out);
hits and misses are counted per tier (:mod:`lacuna.classify.cachestats`) and :meth:`stats`
reports them with the entries by layer (``lacuna cache stats``).

The store is the state database (``audit.url``, a SQLite file in ``LACUNA_HOME`` by default)
through the audit schema's helpers. If it cannot be opened, the cache stays in memory and says
why once in the log; classification never fails because of its cache.

Stored answers are signed (the installation's signing key, :mod:`lacuna.signing`, over the
answer and its key): the state file belongs to whoever runs Lacuna, and a row written by hand
(``notes`` answered ``public`` for a column of names) or moved to another column's key would
otherwise be believed by every later run. A row that does not verify (unsigned, edited, moved,
or from before signing) is a miss: the column is classified again, and the row replaced.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Column, MetaData, String, Table, Text, func, select
from sqlalchemy.exc import SQLAlchemyError

from lacuna.classify import cachestats
from lacuna.errors import LacunaError
from lacuna.model import ColumnClass, ColumnKind, Evidence, Layer, Sensitivity
from lacuna.redact import redact_url
from lacuna.signing import Keyed, Keyring

log = logging.getLogger(__name__)
MEMORY_SIZE = 65536

metadata = MetaData()
table = Table(
    "lacuna_classify_cache",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("name", String(255), nullable=False),
    Column("layer", String(16), nullable=False),
    Column("body", Text, nullable=False),
)
for _t in cachestats.metadata.sorted_tables:  # the statistics live beside the answers
    _t.to_metadata(metadata)


@dataclass(frozen=True, slots=True, kw_only=True)
class CacheStats:
    """What ``lacuna cache stats`` shows: sizes, entries by layer, hits and misses per tier."""

    size: int  # the memory tier's capacity (classification.cache.size)
    memory_entries: int
    persistent: bool
    where: str | None
    entries_by_layer: dict[str, int] = field(default_factory=dict)  # persistent tier
    counts: dict[str, int] = field(default_factory=dict)  # "<tier>.hit"/"<tier>.miss", stored
    process_counts: dict[str, int] = field(default_factory=dict)  # this process only

    @property
    def hit_rate(self) -> float | None:
        """Answer-cache lookups answered by memory or the store (None before any lookup)."""
        hits = self.counts.get("memory.hit", 0) + self.counts.get("store.hit", 0)
        total = hits + self.counts.get("store.miss", 0)
        return hits / total if total else None

    def rate(self, tier: str) -> float | None:
        hits, misses = self.counts.get(f"{tier}.hit", 0), self.counts.get(f"{tier}.miss", 0)
        return hits / (hits + misses) if hits + misses else None

    def to_dict(self) -> dict[str, Any]:
        return {"size": self.size, "memory_entries": self.memory_entries,
                "persistent": self.persistent, "where": self.where,
                "entries": sum(self.entries_by_layer.values()),
                "entries_by_layer": self.entries_by_layer, "hit_rate": self.hit_rate,
                "tiers": {t: {"hits": self.counts.get(f"{t}.hit", 0),
                              "misses": self.counts.get(f"{t}.miss", 0),
                              "hit_rate": self.rate(t)} for t in cachestats.LAYERS},
                "this_process": self.process_counts}


def cache_key(name: str, signature: str, fingerprint: str) -> str:
    """The key of one column's answer."""
    text = "\x1f".join((name, signature, fingerprint))
    return hashlib.blake2b(text.encode(), digest_size=24).hexdigest()


class AnswerCache(Keyed):
    """Memory in front of the state store; ``url=None`` keeps it in memory only."""

    def __init__(self, url: str | None, *, size: int = MEMORY_SIZE,
                 keyring: Keyring | None = None) -> None:
        self._keyring = keyring
        self.size = size
        self.where: str | None = None
        self._memory: OrderedDict[str, ColumnClass] = OrderedDict()
        self._lock = threading.Lock()
        self._engine: Any = None
        self.problem: str | None = None
        if url is not None:
            self._open(url)

    def _open(self, url: str) -> None:
        from lacuna.audit.schema import open_state_database
        from lacuna.errors import LacunaError

        try:
            self._engine = open_state_database(url, metadata)
        except (LacunaError, SQLAlchemyError, OSError) as exc:
            self._engine = None
            self.problem = f"classification cache kept in memory only: {exc}"
            log.warning("%s", self.problem)
            return
        self.where = redact_url(self._engine.url)
        cachestats.attach(self._engine)

    @property
    def persistent(self) -> bool:
        return self._engine is not None

    def get(self, key: str) -> ColumnClass | None:
        """The cached answer, from memory or else the store."""
        with self._lock:
            hit = self._memory.get(key)
            if hit is not None:
                self._memory.move_to_end(key)
        if hit is not None:
            cachestats.count("memory", hits=1)
            return hit
        cachestats.count("memory", misses=1)
        if self._engine is None:
            cachestats.count("store", misses=1)
            return None
        try:
            with self._engine.connect() as conn:
                row = conn.execute(select(table.c.body).where(table.c.key == key)).first()
        except SQLAlchemyError as exc:
            log.warning("classification cache read failed: %s", exc)
            row = None
        answer = self._verified(key, row.body) if row is not None else None
        cachestats.count("store", hits=int(answer is not None), misses=int(answer is None))
        if answer is not None:
            self._remember(key, answer)
        return answer

    def get_many(self, keys: list[str]) -> dict[str, ColumnClass]:
        """Cached answers for several keys: one store query for all memory misses."""
        found: dict[str, ColumnClass] = {}
        missing = []
        with self._lock:
            for key in keys:
                hit = self._memory.get(key)
                if hit is None:
                    missing.append(key)
                else:
                    found[key] = hit
        if missing and self._engine is not None:
            try:
                with self._engine.connect() as conn:
                    rows = conn.execute(
                        select(table.c.key, table.c.body).where(table.c.key.in_(missing))).all()
            except SQLAlchemyError as exc:
                log.warning("classification cache read failed: %s", exc)
                rows = []
            for row in rows:
                answer = self._verified(row.key, row.body)
                if answer is not None:
                    found[row.key] = answer
                    self._remember(row.key, answer)
        cachestats.count("memory", hits=len(keys) - len(missing), misses=len(missing))
        if missing:
            in_store = len(found) - (len(keys) - len(missing))
            cachestats.count("store", hits=in_store, misses=len(missing) - in_store)
        return found

    def put(self, key: str, name: str, answer: ColumnClass) -> None:
        """Remember an answer (memory) and store it (state store)."""
        self.put_many([(key, name, answer)])

    def put_many(self, items: list[tuple[str, str, ColumnClass]]) -> None:
        """Remember several answers, and store them in one transaction (except those for a
        name that is itself data, ``ana@example.com`` as a JSON key: kept in memory only, as
        data values never enter the state store)."""
        from lacuna.classify.heuristic import data_in_names

        for key, _, answer in items:
            self._remember(key, answer)
        if self._engine is None or not items:
            return
        if data := data_in_names({n for _, n, _ in items}):
            items = [i for i in items if not any(v in i[1] for v in data)]
            if not items:
                return
        try:
            rows = [{"key": k, "name": n[:255], "layer": a.layer.value,
                     "body": self._signed(k, a)} for k, n, a in items]
        except LacunaError as exc:  # no signing key to be had: the answers stay in memory
            log.warning("classification cache kept in memory: %s", exc)
            return
        try:
            with self._engine.begin() as conn:
                conn.execute(table.delete().where(table.c.key.in_([r["key"] for r in rows])))
                conn.execute(table.insert(), rows)
        except SQLAlchemyError as exc:
            log.warning("classification cache write failed: %s", exc)
        cachestats.flush(self._engine)  # a store write anyway: the counts go along

    def clear_memory(self) -> None:
        with self._lock:
            self._memory.clear()

    def clear(self) -> int:
        """Forget every answer (memory and store) and the statistics; the entries removed."""
        with self._lock:
            removed = len(self._memory)
            self._memory.clear()
        if self._engine is None:
            cachestats.reset()
            return removed
        with self._engine.begin() as conn:
            removed = max(removed, conn.execute(table.delete()).rowcount or 0)
        cachestats.reset(self._engine)
        return removed

    def stats(self) -> CacheStats:
        """Sizes, entries by layer and hit/miss counts (stored, and this process's)."""
        counts = cachestats.process_counts()
        by_layer: dict[str, int] = {}
        if self._engine is not None:
            cachestats.flush(self._engine)
            with self._engine.connect() as conn:
                by_layer = {r.layer: int(r.n) for r in conn.execute(
                    select(table.c.layer, func.count().label("n")).group_by(table.c.layer))}
            counts = cachestats.stored(self._engine)
        else:
            for answer in list(self._memory.values()):
                by_layer[answer.layer.value] = by_layer.get(answer.layer.value, 0) + 1
        return CacheStats(size=self.size, memory_entries=len(self._memory),
                          persistent=self._engine is not None, where=self.where,
                          entries_by_layer=by_layer, counts=counts,
                          process_counts=cachestats.process_counts())

    def _signed(self, key: str, answer: ColumnClass) -> str:
        data = to_dict(answer)
        return json.dumps({"answer": data,
                           "signature": self.keyring.sign({"key": key, "answer": data})})

    def _verified(self, key: str, body: str) -> ColumnClass | None:
        """The stored answer when its signature holds for this key; else None (a miss)."""
        try:
            stored = json.loads(body)
            data, signature = stored["answer"], stored["signature"]
            ok = self.keyring.verify({"key": key, "answer": data}, signature)
            answer = from_dict(data) if ok else None
        except (LacunaError, ValueError, KeyError, TypeError) as exc:
            log.debug("classification cache row %s unreadable: %s", key, exc)
            return None
        if answer is None:
            log.warning("classification cache row %s in %s does not verify (unsigned, edited or "
                        "moved): ignored, the column is classified again", key, self.where)
        return answer

    def _remember(self, key: str, answer: ColumnClass) -> None:
        with self._lock:
            if self.size <= 0:
                return
            self._memory[key] = answer
            while len(self._memory) > self.size:
                self._memory.popitem(last=False)


def to_dict(c: ColumnClass) -> dict[str, Any]:
    """A column class with its evidence, as stored."""
    data = c.to_dict()
    data["evidence"] = [{"source": e.source, "rule": e.rule, "detail": e.detail,
                         "score": e.score} for e in c.evidence]
    return data


def from_dict(data: dict[str, Any]) -> ColumnClass:
    return ColumnClass(
        classification=ColumnKind(data["classification"]),
        pii_type=data.get("pii_type"),
        sensitivity=Sensitivity(data["sensitivity"]),
        confidence=float(data["confidence"]),
        reasoning=data.get("reasoning", ""),
        layer=Layer(data["layer"]),
        evidence=tuple(Evidence(**e) for e in data.get("evidence", ())),
    )
