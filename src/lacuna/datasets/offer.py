"""A denial offers a registered dataset that covers the user's need, with code that runs.

A dataset covers a denied operation when it derives from one of the data's sources (the frame's
lineage roots) and has every column the data has. It is offered only if the same operation on
the dataset (its classification, same destination) would be allowed: the dry run goes through
the same policy engine, without a decision log entry. It comes first among the alternatives:
the pre-approved path is the easiest one (the seed's "Make compliant paths easier").
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import replace
from typing import TYPE_CHECKING

from lacuna.model import Alternative, Decision, Operation, Source

if TYPE_CHECKING:
    from lacuna.alternatives import Context
    from lacuna.datasets.registry import Dataset
    from lacuna.governor import Governor

log = logging.getLogger(__name__)
KIND = "registered_dataset"


def _path(name: str) -> str:
    return os.path.abspath(os.path.expanduser(name)) if "://" not in name else name


def covering(operation: Operation, datasets: list[Dataset]) -> list[Dataset]:
    """The datasets derived from one of ``operation``'s sources with all of its columns."""
    roots = {_path(s.name) for s in operation.sources if s.name}
    used = set(operation.classification.columns)
    return [d for d in datasets
            if d.source in roots and d.classification is not None and used <= set(d.columns)]


def offer(decision: Decision, gov: Governor) -> Decision:
    """``decision`` with the registered datasets that would be allowed instead, first."""
    from lacuna.alternatives import context_for
    from lacuna.datasets.api import fresh, lookup
    from lacuna.datasets.build import building
    from lacuna.datasets.store import shared_store
    from lacuna.policy import PolicyEngine

    op = decision.operation
    if op is None or decision.allowed or not op.sources or building() \
            or not _registry_may_exist(gov):
        return decision
    engine = gov.engine

    def dry_run(o: Operation) -> Decision:  # not a decision that happens: no log
        return engine.decide(o, log=False) if isinstance(engine, PolicyEngine) else engine.decide(o)

    roots = {_path(s.name) for s in op.sources if s.name}
    store = shared_store(gov.config.audit_url)  # (kept open: each denial looks it up)
    for declared in gov.config.datasets.entries:
        lookup(store, declared, gov.config)
    candidates = []
    for entry in store.list():
        if entry.source not in roots:
            continue
        try:  # never offer a dataset that cannot be read as it is now
            candidates.append(fresh(store, entry, gov))
        except Exception as exc:
            log.warning("registered dataset %s not offered: %s", entry.name, exc)
    found = covering(op, candidates)
    if not found:
        return decision
    ctx = context_for(op, gov.config, dry_run, gov.destination, local=gov.local_callers)
    offers = [alt for d in found if (alt := _alternative(d, ctx)) is not None]
    return replace(decision, alternatives=(*offers, *decision.alternatives)) if offers else decision


def _registry_may_exist(gov: Governor) -> bool:
    """Whether there can be registered datasets: some are declared, or the state database is
    elsewhere than a local SQLite file, or that file exists (only ``stat``-ed). A denial never
    creates the state database (``lacuna.testing``'s fakes run without files)."""
    from lacuna.audit.schema import parse_url, sqlite_file

    if gov.config.datasets.entries:
        return True
    url = parse_url(gov.config.audit_url)
    if url.get_backend_name() != "sqlite":
        return True
    path = sqlite_file(url)
    return path is not None and path.exists()


def _alternative(dataset: Dataset, ctx: Context) -> Alternative | None:
    assert dataset.classification is not None
    source = Source(name=dataset.source, classification=dataset.classification)
    if not ctx.allowed(classification=dataset.classification, sources=(source,)):
        return None
    suffix = "approved" if dataset.transform.kind == "callable" else "anon"
    var = f"{ctx.variable}_{suffix}"
    used = list(ctx.operation.classification.columns)
    pick = f"[{used!r}]" if used and used != list(dataset.columns) else ""
    lines = [f"{var} = {ctx.lacuna}.datasets.get({json.dumps(dataset.name)}){pick}"]
    if ctx.writer and ctx.target:
        lines.append(f"{var}.{ctx.writer}({json.dumps(ctx.target)})")
    title = (f"Use the pre-approved dataset {dataset.name} "
             f"({os.path.basename(dataset.source)}: {dataset.transform.describe()}; "
             f"approved by {dataset.approved_by})")
    return Alternative(title=title, code=ctx.code(*lines), kind=KIND,
                       params=(("dataset", dataset.name),))
