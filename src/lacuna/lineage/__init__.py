"""Lineage: the inheritance rules, the persistent store, and its queries as functions.

>>> from lacuna.lineage import DatasetRef
>>> str(DatasetRef.of("s3://bucket/raw/customers.csv"))
's3://bucket/raw/customers.csv'
"""

from lacuna.lineage.api import (
    completeness,
    current_store,
    downstream,
    impact,
    path,
    register_lineage,
    upstream,
    version_at,
)
from lacuna.lineage.dismiss import Dismissed, DismissNotAuthorized, dismiss_claim
from lacuna.lineage.graph import Completeness, LineageEdge, LineageGraph
from lacuna.lineage.records import DatasetRef, DatasetVersion, Run, RunStatus
from lacuna.lineage.store import LineageStore

__all__ = [
    "Completeness",
    "DatasetRef",
    "DatasetVersion",
    "DismissNotAuthorized",
    "Dismissed",
    "LineageEdge",
    "LineageGraph",
    "LineageStore",
    "Run",
    "RunStatus",
    "completeness",
    "current_store",
    "dismiss_claim",
    "downstream",
    "impact",
    "path",
    "register_lineage",
    "upstream",
    "version_at",
]
