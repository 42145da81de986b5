"""Baseline: the state tables as Lacuna wrote them before it used Alembic.

A frozen copy of every store's tables at that point (later changes get their own revision, never
an edit here). Only missing tables are created, so a database written by an earlier Lacuna (with
some or all of these tables and no version table) is adopted as it is; the stores' own layout
steps (the audit trail's signature column, the decision log's chain columns) still run when they
open a file older than that.

Revision ID: 0001
Revises:
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


# In creation order (foreign keys after the tables they name); dropped in reverse.
TABLES = (
    "lacuna_audit",
    "lacuna_audit_head",
    "lacuna_classify_cache",
    "lacuna_datasets",
    "lacuna_decision_log",
    "lacuna_decision_log_head",
    "lacuna_exception_files",
    "lacuna_exceptions",
    "lacuna_lineage_datasets",
    "lacuna_lineage_runs",
    "lacuna_lineage_schema",
    "lacuna_token_vault",
    "lacuna_users",
    "lacuna_lineage_column_edges",
    "lacuna_lineage_edges",
    "lacuna_lineage_versions",
    "lacuna_lineage_run_io",
)


def upgrade() -> None:
    existing = set(sa.inspect(op.get_bind()).get_table_names())
    if "lacuna_audit" not in existing:
        op.create_table(
            "lacuna_audit",
            sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
            sa.Column("id", sa.String(length=32), nullable=False),
            sa.Column("timestamp", sa.String(length=40), nullable=False),
            sa.Column("user_id", sa.String(length=255), nullable=False),
            sa.Column("action", sa.String(length=32), nullable=False),
            sa.Column("allowed", sa.Boolean(), nullable=False),
            sa.Column("policy_id", sa.String(length=255), nullable=True),
            sa.Column("body", sa.Text(), nullable=False),
            sa.Column("prev_hash", sa.String(length=64), nullable=False),
            sa.Column("hash", sa.String(length=64), nullable=False),
            sa.Column("signature", sa.String(length=128), nullable=True),
            sa.PrimaryKeyConstraint("seq"),
            sa.UniqueConstraint("id"),
        )
        op.create_index("ix_lacuna_audit_action", "lacuna_audit", ["action"], unique=False)
        op.create_index("ix_lacuna_audit_allowed", "lacuna_audit", ["allowed"], unique=False)
        op.create_index("ix_lacuna_audit_policy_id", "lacuna_audit", ["policy_id"], unique=False)
        op.create_index("ix_lacuna_audit_timestamp", "lacuna_audit", ["timestamp"], unique=False)
        op.create_index("ix_lacuna_audit_user_id", "lacuna_audit", ["user_id"], unique=False)
    if "lacuna_audit_head" not in existing:
        audit_head = op.create_table(
            "lacuna_audit_head",
            sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
            sa.Column("seq", sa.Integer(), nullable=False),
            sa.Column("hash", sa.String(length=64), nullable=False),
            sa.Column("layout_version", sa.Integer(), nullable=False),
            sa.PrimaryKeyConstraint("id"),
        )
        if "lacuna_audit" not in existing:
            # A new trail gets its genesis head in the same transaction as its tables: a reader
            # never sees the tables without a head (which verify reports as a deleted head).
            op.bulk_insert(audit_head, [{"id": 1, "seq": 0, "hash": "0" * 64,
                                         "layout_version": 2}])
    if "lacuna_classify_cache" not in existing:
        op.create_table(
            "lacuna_classify_cache",
            sa.Column("key", sa.String(length=64), nullable=False),
            sa.Column("name", sa.String(length=255), nullable=False),
            sa.Column("layer", sa.String(length=16), nullable=False),
            sa.Column("body", sa.Text(), nullable=False),
            sa.PrimaryKeyConstraint("key"),
        )
    if "lacuna_datasets" not in existing:
        op.create_table(
            "lacuna_datasets",
            sa.Column("name", sa.String(length=128), nullable=False),
            sa.Column("updated_at", sa.String(length=40), nullable=False),
            sa.Column("body", sa.Text(), nullable=False),
            sa.PrimaryKeyConstraint("name"),
        )
    if "lacuna_decision_log" not in existing:
        op.create_table(
            "lacuna_decision_log",
            sa.Column("decision_id", sa.String(length=64), nullable=False),
            sa.Column("timestamp", sa.String(length=40), nullable=False),
            sa.Column("operation_id", sa.String(length=64), nullable=True),
            sa.Column("path", sa.String(length=255), nullable=False),
            sa.Column("allowed", sa.Boolean(), nullable=False),
            sa.Column("revision", sa.String(length=128), nullable=True),
            sa.Column("body", sa.Text(), nullable=False),
            sa.Column("seq", sa.Integer(), nullable=True),
            sa.Column("prev_hash", sa.String(length=64), nullable=True),
            sa.Column("hash", sa.String(length=64), nullable=True),
            sa.Column("signature", sa.String(length=128), nullable=True),
            sa.PrimaryKeyConstraint("decision_id"),
            sa.UniqueConstraint("seq"),
        )
        op.create_index(
            op.f("ix_lacuna_decision_log_allowed"), "lacuna_decision_log", ["allowed"], unique=False
        )
        op.create_index(
            op.f("ix_lacuna_decision_log_operation_id"),
            "lacuna_decision_log",
            ["operation_id"],
            unique=False,
        )
        op.create_index(
            op.f("ix_lacuna_decision_log_revision"),
            "lacuna_decision_log",
            ["revision"],
            unique=False,
        )
        op.create_index(
            op.f("ix_lacuna_decision_log_timestamp"),
            "lacuna_decision_log",
            ["timestamp"],
            unique=False,
        )
    if "lacuna_decision_log_head" not in existing:
        op.create_table(
            "lacuna_decision_log_head",
            sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
            sa.Column("seq", sa.Integer(), nullable=False),
            sa.Column("hash", sa.String(length=64), nullable=False),
            sa.PrimaryKeyConstraint("id"),
        )
    if "lacuna_exception_files" not in existing:
        op.create_table(
            "lacuna_exception_files",
            sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
            sa.Column("exception_id", sa.String(length=32), nullable=False),
            sa.Column("path", sa.Text(), nullable=False),
            sa.Column("written_by", sa.String(length=255), nullable=False),
            sa.Column("written_at", sa.String(length=40), nullable=False),
            sa.Column("encrypted", sa.Boolean(), nullable=False),
            sa.Column("deleted_at", sa.String(length=40), nullable=True),
            sa.PrimaryKeyConstraint("id"),
        )
        op.create_index(
            op.f("ix_lacuna_exception_files_exception_id"),
            "lacuna_exception_files",
            ["exception_id"],
            unique=False,
        )
    if "lacuna_exceptions" not in existing:
        op.create_table(
            "lacuna_exceptions",
            sa.Column("id", sa.String(length=32), nullable=False),
            sa.Column("year", sa.String(length=4), nullable=False),
            sa.Column("requested_by", sa.String(length=255), nullable=False),
            sa.Column("status", sa.String(length=16), nullable=False),
            sa.Column("duration_hours", sa.Float(), nullable=False),
            sa.Column("body", sa.Text(), nullable=False),
            sa.PrimaryKeyConstraint("id"),
        )
        op.create_index(
            op.f("ix_lacuna_exceptions_requested_by"),
            "lacuna_exceptions",
            ["requested_by"],
            unique=False,
        )
        op.create_index(
            op.f("ix_lacuna_exceptions_status"), "lacuna_exceptions", ["status"], unique=False
        )
        op.create_index(
            op.f("ix_lacuna_exceptions_year"), "lacuna_exceptions", ["year"], unique=False
        )
    if "lacuna_lineage_datasets" not in existing:
        op.create_table(
            "lacuna_lineage_datasets",
            sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
            sa.Column("namespace", sa.String(length=1024), nullable=False),
            sa.Column("name", sa.String(length=2048), nullable=False),
            sa.PrimaryKeyConstraint("id"),
            sa.UniqueConstraint("namespace", "name", name="uq_lacuna_lineage_datasets_ref"),
        )
    if "lacuna_lineage_runs" not in existing:
        op.create_table(
            "lacuna_lineage_runs",
            sa.Column("id", sa.String(length=64), nullable=False),
            sa.Column("operation", sa.String(length=255), nullable=False),
            sa.Column("status", sa.String(length=16), nullable=False),
            sa.Column("user_id", sa.String(length=255), nullable=False),
            sa.Column("role", sa.String(length=255), nullable=False),
            sa.Column("session", sa.String(length=255), nullable=False),
            sa.Column("started_at", sa.String(length=40), nullable=False),
            sa.Column("ended_at", sa.String(length=40), nullable=True),
            sa.Column("purpose", sa.Text(), nullable=True),
            sa.Column("exception_id", sa.String(length=255), nullable=True),
            sa.Column("method", sa.String(length=255), nullable=False),
            sa.Column("code_location", sa.Text(), nullable=True),
            sa.Column("code_hash", sa.String(length=128), nullable=True),
            sa.Column("code_text", sa.Text(), nullable=True),
            sa.Column("decision_id", sa.String(length=255), nullable=True),
            sa.Column("policy_id", sa.String(length=255), nullable=True),
            sa.Column("error", sa.Text(), nullable=True),
            sa.Column("producer", sa.String(length=1024), nullable=False),
            sa.Column("provenance", sa.Text(), nullable=False),
            sa.Column("seq", sa.Integer(), nullable=False),
            sa.PrimaryKeyConstraint("id"),
        )
        op.create_index("ix_lacuna_lineage_runs_seq", "lacuna_lineage_runs", ["seq"], unique=False)
        op.create_index(
            "ix_lacuna_lineage_runs_started", "lacuna_lineage_runs", ["started_at"], unique=False
        )
    if "lacuna_lineage_schema" not in existing:
        op.create_table(
            "lacuna_lineage_schema",
            sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
            sa.Column("version", sa.Integer(), nullable=False),
            sa.PrimaryKeyConstraint("id"),
        )
    if "lacuna_token_vault" not in existing:
        op.create_table(
            "lacuna_token_vault",
            sa.Column("token", sa.String(length=32), nullable=False),
            sa.Column("key_id", sa.String(length=64), nullable=False),
            sa.Column("key_version", sa.Integer(), nullable=False),
            sa.Column("digest", sa.String(length=64), nullable=False),
            sa.Column("sealed", sa.Text(), nullable=False),
            sa.Column("origin", sa.String(length=128), nullable=False),
            sa.Column("created_at", sa.String(length=40), nullable=False),
            sa.PrimaryKeyConstraint("token"),
            sa.UniqueConstraint(
                "key_id", "key_version", "digest", name="uq_lacuna_token_vault_digest"
            ),
        )
    if "lacuna_users" not in existing:
        op.create_table(
            "lacuna_users",
            sa.Column("name", sa.String(length=128), nullable=False),
            sa.Column("roles", sa.Text(), nullable=False),
            sa.Column("token_sha256", sa.String(length=64), nullable=False),
            sa.Column("created_at", sa.String(length=40), nullable=False),
            sa.Column("disabled", sa.Boolean(), nullable=False),
            sa.PrimaryKeyConstraint("name"),
            sa.UniqueConstraint("token_sha256"),
        )
    if "lacuna_lineage_column_edges" not in existing:
        op.create_table(
            "lacuna_lineage_column_edges",
            sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
            sa.Column("run_id", sa.String(length=64), nullable=False),
            sa.Column("source_id", sa.Integer(), nullable=False),
            sa.Column("source_column", sa.String(length=1024), nullable=False),
            sa.Column("target_id", sa.Integer(), nullable=False),
            sa.Column("target_column", sa.String(length=1024), nullable=False),
            sa.Column("kind", sa.String(length=16), nullable=False),
            sa.Column("description", sa.Text(), nullable=False),
            sa.ForeignKeyConstraint(
                ["run_id"],
                ["lacuna_lineage_runs.id"],
            ),
            sa.ForeignKeyConstraint(
                ["source_id"],
                ["lacuna_lineage_datasets.id"],
            ),
            sa.ForeignKeyConstraint(
                ["target_id"],
                ["lacuna_lineage_datasets.id"],
            ),
            sa.PrimaryKeyConstraint("id"),
        )
        op.create_index(
            "ix_lacuna_lineage_column_edges_run",
            "lacuna_lineage_column_edges",
            ["run_id"],
            unique=False,
        )
        op.create_index(
            "ix_lacuna_lineage_column_edges_source",
            "lacuna_lineage_column_edges",
            ["source_id"],
            unique=False,
        )
        op.create_index(
            "ix_lacuna_lineage_column_edges_target",
            "lacuna_lineage_column_edges",
            ["target_id"],
            unique=False,
        )
    if "lacuna_lineage_edges" not in existing:
        op.create_table(
            "lacuna_lineage_edges",
            sa.Column("parent_id", sa.Integer(), nullable=False),
            sa.Column("child_id", sa.Integer(), nullable=False),
            sa.Column("run_id", sa.String(length=64), nullable=False),
            sa.ForeignKeyConstraint(
                ["child_id"],
                ["lacuna_lineage_datasets.id"],
            ),
            sa.ForeignKeyConstraint(
                ["parent_id"],
                ["lacuna_lineage_datasets.id"],
            ),
            sa.ForeignKeyConstraint(
                ["run_id"],
                ["lacuna_lineage_runs.id"],
            ),
            sa.PrimaryKeyConstraint("parent_id", "child_id", "run_id"),
        )
        op.create_index(
            "ix_lacuna_lineage_edges_child",
            "lacuna_lineage_edges",
            ["child_id", "parent_id"],
            unique=False,
        )
    if "lacuna_lineage_versions" not in existing:
        op.create_table(
            "lacuna_lineage_versions",
            sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
            sa.Column("dataset_id", sa.Integer(), nullable=False),
            sa.Column("run_id", sa.String(length=64), nullable=False),
            sa.Column("fingerprint", sa.String(length=256), nullable=True),
            sa.Column("tier", sa.String(length=16), nullable=False),
            sa.Column("classification", sa.Text(), nullable=False),
            sa.Column("columns", sa.Text(), nullable=False),
            sa.Column("created", sa.String(length=40), nullable=False),
            sa.Column("produced", sa.Boolean(), nullable=False),
            sa.ForeignKeyConstraint(
                ["dataset_id"],
                ["lacuna_lineage_datasets.id"],
            ),
            sa.PrimaryKeyConstraint("id"),
        )
        op.create_index(
            "ix_lacuna_lineage_versions_dataset",
            "lacuna_lineage_versions",
            ["dataset_id", "produced", "created"],
            unique=False,
        )
        op.create_index(
            "ix_lacuna_lineage_versions_fingerprint",
            "lacuna_lineage_versions",
            ["fingerprint"],
            unique=False,
        )
        op.create_index(
            "ix_lacuna_lineage_versions_run", "lacuna_lineage_versions", ["run_id"], unique=False
        )
    if "lacuna_lineage_run_io" not in existing:
        op.create_table(
            "lacuna_lineage_run_io",
            sa.Column("run_id", sa.String(length=64), nullable=False),
            sa.Column("version_id", sa.Integer(), nullable=False),
            sa.Column("direction", sa.String(length=3), nullable=False),
            sa.Column("position", sa.Integer(), nullable=False),
            sa.ForeignKeyConstraint(
                ["run_id"],
                ["lacuna_lineage_runs.id"],
            ),
            sa.ForeignKeyConstraint(
                ["version_id"],
                ["lacuna_lineage_versions.id"],
            ),
            sa.PrimaryKeyConstraint("run_id", "version_id", "direction"),
        )
        op.create_index(
            "ix_lacuna_lineage_run_io_version",
            "lacuna_lineage_run_io",
            ["version_id"],
            unique=False,
        )


def downgrade() -> None:
    for name in reversed(TABLES):
        op.drop_table(name)
