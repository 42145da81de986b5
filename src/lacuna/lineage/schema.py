"""The lineage store's tables, in the state database beside the audit trail.

- ``lacuna_lineage_datasets``: one row per dataset, OpenLineage's (namespace, name).
- ``lacuna_lineage_versions``: a dataset as a run saw or produced it: fingerprint,
  classification (``Classification.to_dict`` JSON), columns, when. ``produced`` is false for the
  intended outputs of a denied or failed run: they are kept with the run, never as the dataset's
  state. ``trusted`` is true only for a classification Lacuna's own pipeline computed in this
  process's store (a governed run, ``register_lineage``); a version that arrived from outside
  (OpenLineage ingest over HTTP or ``lacuna lineage import``), or that predates the column
  (migration 0005), is false: it may raise what a read resolves, never lower it
  (:mod:`lacuna.lineage.claims`). ``dismissed`` is true for the versions of an ingested run a
  steward dismissed (:mod:`lacuna.lineage.dismiss`, migration 0011): kept as history, never
  counted as what the store knows (:func:`standing`).
- ``lacuna_lineage_runs``: one governed operation or job run with its provenance; the fields
  queries filter on are columns, the rest (libraries, quality checks, imported facets) JSON.
- ``lacuna_lineage_run_io``: which versions a run read (``in``) and wrote (``out``).
- ``lacuna_lineage_edges``: dataset-level edges (parent → child, by run) of succeeded runs,
  kept beside ``run_io`` so that the recursive queries walk one indexed table.
- ``lacuna_lineage_column_edges``: source column → target column, by kind, per run.
- ``lacuna_lineage_schema``: one row with the layout version.

Migrations: the tables come from the state migrations (Alembic, :mod:`lacuna.state.schema`);
the layout row (``LAYOUT_VERSION``) numbers the store's own data steps, which need its signing
key and so run when the store opens, once, under the write lock
(:meth:`lacuna.lineage.store.LineageStore._mark_chains`: layout 2 marks the versions recorded
before superseded marks existed). A store newer than this code is refused.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    and_,
    false,
)
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.expression import FromClause

# 2: every trusted version but each dataset's newest says it was superseded (signed "next";
# LineageStore._mark_chains marks what layout 1 left unmarked, once, at open)
LAYOUT_VERSION = 2

metadata = MetaData()

layout = Table(
    "lacuna_lineage_schema",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("version", Integer, nullable=False),
)

datasets = Table(
    "lacuna_lineage_datasets",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("namespace", String(1024), nullable=False),
    Column("name", String(2048), nullable=False),
    UniqueConstraint("namespace", "name", name="uq_lacuna_lineage_datasets_ref"),
)

versions = Table(
    "lacuna_lineage_versions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("dataset_id", Integer, ForeignKey(datasets.c.id), nullable=False),
    Column("run_id", String(64), nullable=False),
    Column("fingerprint", String(256)),
    Column("tier", String(16), nullable=False),
    Column("classification", Text, nullable=False),
    Column("columns", Text, nullable=False),
    Column("created", String(40), nullable=False),
    Column("produced", Boolean, nullable=False),
    Column("trusted", Boolean, nullable=False, server_default=false()),
    Column("dismissed", Boolean, nullable=False, server_default=false()),
    Index("ix_lacuna_lineage_versions_dataset", "dataset_id", "produced", "created"),
    Index("ix_lacuna_lineage_versions_fingerprint", "fingerprint"),
    Index("ix_lacuna_lineage_versions_run", "run_id"),
)


def standing(table: FromClause = versions) -> ColumnElement[bool]:
    """Versions that count as a dataset's state: produced (not the intended output of a denied
    or failed run) and not dismissed by a steward. ``table``: ``versions`` or an alias of it."""
    return and_(table.c.produced.is_(True), table.c.dismissed.is_(False))


runs = Table(
    "lacuna_lineage_runs",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("operation", String(255), nullable=False),
    Column("status", String(16), nullable=False),
    Column("user_id", String(255), nullable=False),
    Column("role", String(255), nullable=False),
    Column("session", String(255), nullable=False),
    Column("started_at", String(40), nullable=False),
    Column("ended_at", String(40)),
    Column("purpose", Text),
    Column("exception_id", String(255)),
    Column("method", String(255), nullable=False),
    Column("code_location", Text),
    Column("code_hash", String(128)),
    Column("code_text", Text),
    Column("decision_id", String(255)),
    Column("policy_id", String(255)),
    Column("error", Text),
    Column("producer", String(1024), nullable=False),
    Column("provenance", Text, nullable=False),  # libraries, quality checks, imported facets
    Column("seq", Integer, nullable=False),  # recording order, for "newest first"
    Index("ix_lacuna_lineage_runs_started", "started_at"),
    Index("ix_lacuna_lineage_runs_seq", "seq"),
)

run_io = Table(
    "lacuna_lineage_run_io",
    metadata,
    Column("run_id", String(64), ForeignKey(runs.c.id), primary_key=True),
    Column("version_id", Integer, ForeignKey(versions.c.id), primary_key=True),
    Column("direction", String(3), primary_key=True),  # "in" | "out"
    Column("position", Integer, nullable=False),
    Index("ix_lacuna_lineage_run_io_version", "version_id"),
)

edges = Table(
    "lacuna_lineage_edges",
    metadata,
    Column("parent_id", Integer, ForeignKey(datasets.c.id), primary_key=True),
    Column("child_id", Integer, ForeignKey(datasets.c.id), primary_key=True),
    Column("run_id", String(64), ForeignKey(runs.c.id), primary_key=True),
    Index("ix_lacuna_lineage_edges_child", "child_id", "parent_id"),  # the PK leads with parent
)

column_edges = Table(
    "lacuna_lineage_column_edges",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", String(64), ForeignKey(runs.c.id), nullable=False),
    Column("source_id", Integer, ForeignKey(datasets.c.id), nullable=False),
    Column("source_column", String(1024), nullable=False),
    Column("target_id", Integer, ForeignKey(datasets.c.id), nullable=False),
    Column("target_column", String(1024), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("description", Text, nullable=False),
    Index("ix_lacuna_lineage_column_edges_target", "target_id"),
    Index("ix_lacuna_lineage_column_edges_source", "source_id"),
    Index("ix_lacuna_lineage_column_edges_run", "run_id"),
)

# Runs whose OpenLineage events a transport has not yet accepted (:mod:`lacuna.lineage.outbox`,
# migration 0014): marked in the transaction that records the run, cleared once sent, so a
# process killed before its background sender got to them leaves them for the next one.
outbox = Table(
    "lacuna_lineage_outbox",
    metadata,
    Column("run_id", String(64), primary_key=True),
    Column("destination", String(64), primary_key=True),  # which transport (a digest)
    Column("created", String(40), nullable=False),
    Column("claimed_by", String(255)),  # the process sending it (host:pid:start:nonce)
    Column("claimed_at", String(40)),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("mark", BigInteger),  # the file transport's size when recorded: its lines come after
)

# When the store first saw a dataset's data written (:mod:`lacuna.lineage.seen`, migration
# 0015): the retention clock a Lacuna server keeps for its clients' files, which their sidecars
# (signed with their owners' own keys) cannot reset. Only ever moved earlier.
first_seen = Table(
    "lacuna_lineage_first_seen",
    metadata,
    Column("namespace", String(1024), primary_key=True),
    Column("name", String(2048), primary_key=True),
    Column("first_seen", String(40), nullable=False),
)
