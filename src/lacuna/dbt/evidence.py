"""Evidence for the escalation table's extra requirements, each checked against something real.

- ``audit_log``: the audit trail holds at least one record whose destination or sources name the
  model (its ``dbt://<project>/<model>``, this project's, relation, ``schema.table`` or unique
  id), e.g. what ``lacuna dbt record`` or the dbt package's hooks leave; the bare table name
  is not enough
  (``/tmp/orders.csv`` is not the model ``orders``).
- ``masking_verified``: a masking edge (:class:`~lacuna.lineage.records.EdgeKind.MASKING`: a
  keyed hash, redaction, generalisation) is on the column's lineage in the lineage store, on the
  column itself or on any column upstream of it. Only edges Lacuna's pipeline recorded count
  (``LineageStore.column_edges(trusted=True)``: the run's output version and its edges into
  it verify against their signatures): an OpenLineage event's ``masking: true``, or an edge
  written into the state database by hand, is the writer's word, not evidence.
- ``encryption_verified``: the model's target is encrypted. For DuckDB, the warehouse file is
  opened without a key: DuckDB refuses an encrypted file, and that refusal is the evidence. For
  other adapters Lacuna cannot tell, and says so (fail closed: not verified).

Nothing here raises on a missing store: unknown evidence is "not verified", with the reason.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lacuna.audit.store import AuditStore
    from lacuna.dbt.manifest import DbtNode, DbtProject
    from lacuna.lineage.records import ColumnEdge, DatasetRef
    from lacuna.lineage.store import LineageStore


@dataclass(frozen=True, slots=True)
class Verdict:
    """Whether a piece of evidence was found, and why not when it was not."""

    ok: bool
    reason: str = ""


def names_for(node: DbtNode) -> tuple[str, ...]:
    """The names a record may use for a model, most specific first (lower-case); with
    ``dbt://<project>/<model>`` (:func:`names_node`), never the bare table name, which any file
    or table of another database may carry."""
    out = [node.unique_id]
    if node.relation_name:
        out.append(node.relation_name.replace('"', "").replace("`", ""))
    if node.schema:
        out.append(f"{node.schema}.{node.table}")
    return tuple(dict.fromkeys(n.lower() for n in out))


def names_node(text: str, node: DbtNode, project: str | None = None) -> bool:
    """Whether ``text`` names the model: one of :func:`names_for`, or its
    ``dbt://<project>/<model>`` (how ``lacuna dbt record`` and dbt reads name it; with
    ``project``, the root project's name, only that project's: ``dbt://other/<model>`` is
    another project's model of the same name)."""
    where = re.escape(project.lower()) if project else r"[^/\s]+"
    # a model's version is <model>.v<version>; the latest also its plain name (not another
    # version's: dbt://p/dim.v1 does not name dim.v2)
    names = {node.dataset_name, node.name} if node.is_latest else {node.dataset_name}
    uri = re.compile(rf"dbt://{where}/(?:{'|'.join(re.escape(n.lower()) for n in names)})"
                     r"(?!\.?[a-z0-9_])")
    return _mentions(text, names_for(node)) or uri.search(text.lower()) is not None


def _mentions(text: str, names: Iterable[str]) -> bool:
    low = text.lower()
    for name in names:
        for m in re.finditer(re.escape(name), low):
            before = low[m.start() - 1] if m.start() else ""
            after = low[m.end()] if m.end() < len(low) else ""
            if not (before.isalnum() or before == "_") and not (after.isalnum() or after == "_"):
                return True
    return False


@dataclass
class Evidence:
    """Looks evidence up in the audit and lineage stores and the warehouse; results are cached.

    ``audit`` and ``lineage`` are callables so the stores open only when a model needs them.
    """

    audit: Callable[[], AuditStore] | None = None
    lineage: Callable[[], LineageStore] | None = None
    warehouse: Path | None = None  # a DuckDB file
    adapter: str | None = None
    # the root project's name (compile_project sets it): dbt://<project>/<model> of that
    # project only
    project: str | None = None
    _audit_texts: list[str] | None = field(default=None, repr=False)
    _edges: list[ColumnEdge] | None = field(default=None, repr=False)
    _encrypted: Verdict | None = field(default=None, repr=False)

    # -- audit_log ---------------------------------------------------------------------------

    def audit_log(self, node: DbtNode) -> Verdict:
        texts = self._audit()
        if texts is None:
            return Verdict(False, "no audit store is configured")
        if any(names_node(t, node, self.project) for t in texts):
            return Verdict(True)
        return Verdict(False, f"the audit trail has no record for {node.table}")

    def _audit(self) -> list[str] | None:
        if self._audit_texts is None:
            if self.audit is None:
                return None
            try:
                records = self.audit().list(limit=None)
            except Exception:
                self.audit = None
                return None
            self._audit_texts = [" ".join(filter(None, (
                r.destination, " ".join(map(str, (r.data.get("what") or {}).get("sources") or ())),
            ))) for r in records]
        return self._audit_texts

    # -- masking_verified --------------------------------------------------------------------

    def masking(self, node: DbtNode, column: str) -> Verdict:
        edges = self._lineage_edges()
        if edges is None:
            return Verdict(False, "no lineage store is configured")
        targets = [(e.target, e.target_column) for e in edges
                   if e.target_column.lower() == column.lower()
                   and names_node(_dataset_name(e.target), node, self.project)]
        if not targets:
            return Verdict(False, f"the lineage store has no column lineage for "
                                  f"{node.table}.{column}")
        by_target: dict[tuple[DatasetRef, str], list[ColumnEdge]] = {}
        for e in edges:
            by_target.setdefault((e.target, e.target_column.lower()), []).append(e)
        seen: set[tuple[DatasetRef, str]] = set()
        stack = [(ref, col.lower()) for ref, col in targets]
        while stack:
            key = stack.pop()
            if key in seen:
                continue
            seen.add(key)
            for e in by_target.get(key, ()):
                if str(e.kind) == "masking":
                    return Verdict(True)
                stack.append((e.source, e.source_column.lower()))
        return Verdict(False, f"no masking transform is on the lineage of {node.table}.{column}")

    def _lineage_edges(self) -> list[ColumnEdge] | None:
        if self._edges is None:
            if self.lineage is None:
                return None
            try:  # only what Lacuna's pipeline recorded: an ingested edge is a claim
                self._edges = self.lineage().column_edges(trusted=True)
            except Exception:
                self.lineage = None
                return None
        return self._edges

    # -- encryption_verified -----------------------------------------------------------------

    def encryption(self, node: DbtNode) -> Verdict:
        del node  # one warehouse per project here; per-model targets would need the adapter
        if self._encrypted is None:
            self._encrypted = self._check_encryption()
        return self._encrypted

    def _check_encryption(self) -> Verdict:
        if self.adapter not in (None, "duckdb"):
            return Verdict(False, f"Lacuna cannot verify encryption for the {self.adapter} "
                                  "adapter; verify it there and record an exception")
        if self.warehouse is None or not self.warehouse.is_file():
            return Verdict(False, "the DuckDB warehouse file was not found (run dbt build, or "
                                  "pass --warehouse)")
        try:
            import duckdb
        except ImportError:  # pragma: no cover - duckdb is a dependency of the dbt extra
            return Verdict(False, 'duckdb is not installed: pip install "lacuna[duckdb]"')
        try:
            duckdb.connect(str(self.warehouse), read_only=True).close()
        except duckdb.Error as exc:
            if "encrypt" in str(exc).lower():
                return Verdict(True)
            return Verdict(False, f"cannot open the warehouse: {str(exc).splitlines()[0]}")
        return Verdict(False, f"the warehouse {self.warehouse.name} is not encrypted (DuckDB "
                              "opened it without a key)")


def duckdb_path(project: DbtProject, target: str | None = None) -> Path | None:
    """The DuckDB file of the project's target (``target``: ``--target``), found and rendered
    as dbt does (:func:`lacuna.dbt.target.read_target`: ``$DBT_PROFILES_DIR``,
    ``$DBT_PROFILE``, ``$DBT_TARGET``, ``env_var()``); None when the target is not DuckDB,
    not found, or its ``path`` is not a file Lacuna can name.

    Raises:
        ManifestError: ``dbt_project.yml`` or ``profiles.yml`` is not valid YAML.
    """
    from lacuna.dbt.locate import project_target

    found = project_target(project, target)
    return None if found is None else found.duckdb_file(Path(project.project_dir))


__all__ = ["Evidence", "Verdict", "duckdb_path", "names_for", "names_node"]


def _dataset_name(ref: DatasetRef) -> str:
    """A lineage dataset's name as a record would write it (``dbt://p/m`` for a dbt node)."""
    return f"{ref.namespace}/{ref.name}" if ref.namespace.startswith("dbt://") else ref.name
