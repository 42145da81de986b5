"""Registered datasets in the state database (``audit.url``), table ``lacuna_datasets``.

One row per dataset: its name, and its entry as JSON. Writes run in one transaction
(``BEGIN IMMEDIATE`` on SQLite), so two processes registering or rebuilding take turns.

Each entry carries Lacuna's signature (:func:`lacuna.signing.default_keyring`) over all of its
fields, as exception grants do: the entry holds the classification ``datasets.get`` attaches to the
copy, the copy's location and its fingerprint, so a row edited by hand (the classification set to
PUBLIC, the location and fingerprint pointed at a raw copy) would serve raw data as the lower
class. An entry that does not verify is refused (:class:`DatasetTampered`), never served, and
never offered; registering it again (or, when declared in ``lacuna.yaml``, the next use) replaces
it. As with exceptions, a local signing key is readable by its owner: this stops edits of the
state database by anyone without the key (the shared deployment keeps it on the server).
"""

from __future__ import annotations

import json
import logging
import threading
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from sqlalchemy import Column, MetaData, String, Table, Text, select

from lacuna.audit.schema import open_state_database
from lacuna.datasets.registry import Dataset, DatasetError, DatasetNotFound
from lacuna.signing import Keyed

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from lacuna.signing import Keyring

log = logging.getLogger(__name__)
PAYLOAD_KIND = "lacuna.dataset/v1"

metadata = MetaData()
table = Table(
    "lacuna_datasets",
    metadata,
    Column("name", String(128), primary_key=True),
    Column("updated_at", String(40), nullable=False),
    Column("body", Text, nullable=False),
)


class DatasetTampered(DatasetError):
    """A stored entry does not match Lacuna's signature: it was written outside Lacuna."""

    def __init__(self, message: str, *, name: str) -> None:
        super().__init__(message)
        self.name = name


def payload(entry: Mapping[str, Any]) -> dict[str, Any]:
    """What is signed: every field of the entry but the signature, under its own kind."""
    return {"kind": PAYLOAD_KIND, "body": {k: v for k, v in entry.items() if k != "signature"}}


class DatasetStore(Keyed):
    """Registered datasets beside the audit trail, signed with ``keyring`` (default:
    :func:`lacuna.signing.default_keyring`, loaded on first use)."""

    def __init__(self, url: str, keyring: Keyring | None = None, *,
                 engine: Engine | None = None) -> None:
        self._engine = engine if engine is not None else open_state_database(url, metadata)
        self._keyring = keyring

    def put(self, dataset: Dataset) -> Dataset:
        """Insert or replace ``dataset``'s entry, signed."""
        entry = dataset.to_dict()  # column order kept
        entry["signature"] = self.keyring.sign(payload(entry))
        body = json.dumps(entry)
        stamp = (dataset.built_at or dataset.registered_at).isoformat()
        with (
            self._engine.connect().execution_options(sqlite_begin="IMMEDIATE") as conn,
            conn.begin(),
        ):
            conn.execute(table.delete().where(table.c.name == dataset.name))
            conn.execute(table.insert().values(name=dataset.name, updated_at=stamp, body=body))
        return dataset

    def find(self, name: str) -> Dataset | None:
        """The entry, or None when there is none.

        Raises:
            DatasetTampered: the entry does not match its signature (or has none).
        """
        with self._engine.connect() as conn:
            row = conn.execute(select(table.c.body).where(table.c.name == name)).first()
        return self._verified(name, row.body) if row is not None else None

    def get(self, name: str) -> Dataset:
        found = self.find(name)
        if found is None:
            known = ", ".join(d.name for d in self.list()) or "none yet"
            msg = (f"no registered dataset {name!r} (registered: {known}). Register it with "
                   "lacuna.datasets.register(name, source, approved_by=...) or declare it under "
                   "datasets: in lacuna.yaml.")
            raise DatasetNotFound(msg)
        return found

    def list(self) -> list[Dataset]:
        """Every entry that verifies; one that does not is left out and logged (never offered)."""
        with self._engine.connect() as conn:
            rows = conn.execute(select(table.c.name, table.c.body).order_by(table.c.name)).all()
        out = []
        for row in rows:
            try:
                out.append(self._verified(row.name, row.body))
            except DatasetTampered as exc:
                log.warning("%s", exc)
        return out

    def _verified(self, name: str, body: str) -> Dataset:
        try:
            entry = json.loads(body)
        except ValueError:
            entry = None
        signature = entry.get("signature") if isinstance(entry, dict) else None
        if not isinstance(entry, dict) or not signature \
                or not self.keyring.verify(payload(entry), signature):
            why = "does not match its signature" if signature else "carries no Lacuna signature"
            msg = (f"registered dataset {name!r} {why}: its entry in the state database "
                   "(table lacuna_datasets) was written or changed outside Lacuna, so it is not "
                   "served or offered. Check who changed it, then register it again "
                   "(lacuna.datasets.register(...) or lacuna datasets register; a dataset "
                   "declared in lacuna.yaml is registered again on its next use).")
            raise DatasetTampered(msg, name=name)
        if entry.get("name") != name:  # another dataset's signed entry, copied into this row
            msg = (f"registered dataset {name!r} holds the signed entry of dataset "
                   f"{entry.get('name')!r}: its row in the state database (table "
                   "lacuna_datasets) was copied from another outside Lacuna, so it is not "
                   "served or offered. Check who changed it, then register it again.")
            raise DatasetTampered(msg, name=name)
        return Dataset.from_dict(entry)

    def delete(self, name: str) -> bool:
        with self._engine.begin() as conn:
            return bool(conn.execute(table.delete().where(table.c.name == name)).rowcount)

    def close(self) -> None:
        self._engine.dispose()


@contextmanager
def open_store(url: str) -> Iterator[DatasetStore]:
    """A store for one call: the engine is disposed afterwards (no pooled file handles left)."""
    store = DatasetStore(url)
    try:
        yield store
    finally:
        store.close()


_SHARED: OrderedDict[tuple[str, tuple[int, int] | None], Engine] = OrderedDict()
_SHARED_LOCK = threading.Lock()
MAX_SHARED = 2  # a process uses one state database; more (tests) close the oldest


def shared_store(url: str) -> DatasetStore:
    """A store on an engine kept open in this process, for the look-up every denial makes
    (:mod:`lacuna.datasets.offer`): opening the state database (the file's checks, an engine,
    the tables ensured) cost each denial about 10 ms, which a flood of requests the proxy
    refuses multiplied. The rows are read on each call (a dataset registered meanwhile, by
    any process, is seen), the signing keys loaded as :func:`open_store` loads them; the
    engine is opened again when a SQLite file at ``url`` is another file than the one it
    opened (deleted, replaced). At most :data:`MAX_SHARED` stay open, the least recently used
    closed first. Never closed by the caller."""
    from lacuna.audit.schema import parse_url, sqlite_file

    path = sqlite_file(parse_url(url))
    try:
        stat = path.stat() if path is not None else None
        ident = (url, (stat.st_dev, stat.st_ino) if stat is not None else None)
    except OSError:  # (not there yet: created by the opening, and known as that file next)
        ident = (url, None)
    with _SHARED_LOCK:
        engine = _SHARED.pop(ident, None)
        if engine is None:
            engine = open_state_database(url, metadata)
            if ident[1] is None and path is not None:
                stat = path.stat()
                ident = (url, (stat.st_dev, stat.st_ino))
        _SHARED[ident] = engine  # most recently used last
        while len(_SHARED) > MAX_SHARED:
            _SHARED.popitem(last=False)[1].dispose()
    return DatasetStore(url, engine=engine)
