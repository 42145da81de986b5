"""Registered datasets in the state database (``audit.url``), table ``lacuna_datasets``.

One row per dataset: its name, and its entry as JSON. Writes run in one transaction
(``BEGIN IMMEDIATE`` on SQLite), so two processes registering or rebuilding take turns.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Column, MetaData, String, Table, Text, select

from lacuna.audit.schema import open_state_database
from lacuna.datasets.registry import Dataset, DatasetNotFound

metadata = MetaData()
table = Table(
    "lacuna_datasets",
    metadata,
    Column("name", String(128), primary_key=True),
    Column("updated_at", String(40), nullable=False),
    Column("body", Text, nullable=False),
)


class DatasetStore:
    """Registered datasets beside the audit trail."""

    def __init__(self, url: str) -> None:
        self._engine = open_state_database(url, metadata)

    def put(self, dataset: Dataset) -> Dataset:
        """Insert or replace ``dataset``'s entry."""
        body = json.dumps(dataset.to_dict())  # column order kept
        stamp = (dataset.built_at or dataset.registered_at).isoformat()
        with (
            self._engine.connect().execution_options(sqlite_begin="IMMEDIATE") as conn,
            conn.begin(),
        ):
            conn.execute(table.delete().where(table.c.name == dataset.name))
            conn.execute(table.insert().values(name=dataset.name, updated_at=stamp, body=body))
        return dataset

    def find(self, name: str) -> Dataset | None:
        with self._engine.connect() as conn:
            row = conn.execute(select(table.c.body).where(table.c.name == name)).first()
        return Dataset.from_dict(json.loads(row.body)) if row is not None else None

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
        with self._engine.connect() as conn:
            rows = conn.execute(select(table.c.body).order_by(table.c.name)).all()
        return [Dataset.from_dict(json.loads(row.body)) for row in rows]

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
