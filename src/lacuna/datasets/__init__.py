"""Registered datasets: named, pre-approved derived datasets that are easy to use.

    df_anon = lacuna.datasets.get("customers_anonymized")
    df_anon.to_csv("~/Downloads/output.csv")  # allowed: no personal data left

See :mod:`lacuna.datasets.api` for the verbs, :mod:`lacuna.datasets.registry` for how a transform
is stated, and docs/datasets.md.
"""

from __future__ import annotations

from lacuna.datasets.api import get, list_datasets, refresh, register, show
from lacuna.datasets.registry import (
    Dataset,
    DatasetError,
    DatasetNotApproved,
    DatasetNotFound,
    Transform,
)

list = list_datasets  # `lacuna.datasets.list()`, as the CLI says it

__all__ = [
    "Dataset",
    "DatasetError",
    "DatasetNotApproved",
    "DatasetNotFound",
    "Transform",
    "get",
    "list",
    "list_datasets",
    "refresh",
    "register",
    "show",
]
