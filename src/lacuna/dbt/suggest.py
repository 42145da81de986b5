"""``lacuna dbt suggest``: classes for undeclared columns, as YAML to paste or applied in place.

Declared meta is the source of truth; every column without a declaration whose class Lacuna
inherited through the DAG or inferred (name, description, values) and that is not plain
``public`` becomes a suggestion. :func:`suggestions_yaml` renders them as a dbt properties file
(``version: 2`` / ``models:`` / ``columns:`` / ``meta: {floe|lacuna: ...}``; a source's columns
nest under ``sources: - name: <source> tables: - name: <table>``); :func:`apply` writes them into
the schema file that already documents each node (``patch_path``; for a source table, the file
that declares it), with ruamel.yaml round-trip editing so comments, key order and quoting stay as
they were. A node no file documents gets ``_lacuna_suggestions.yml`` next to its SQL or CSV file.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml.comments import CommentedMap, CommentedSeq

from lacuna.dbt.classify import UNNAMED, ProjectClassification
from lacuna.dbt.manifest import DbtNode
from lacuna.errors import ConfigError
from lacuna.model import ColumnClass

SECTIONS = {"model": "models", "seed": "seeds", "snapshot": "snapshots"}
NEW_FILE = "_lacuna_suggestions.yml"


@dataclass(frozen=True, slots=True, kw_only=True)
class Suggestion:
    node: DbtNode
    column: str
    column_class: ColumnClass
    source: str  # "inherited", "inferred", or inherited over a lower declaration

    def meta(self) -> dict[str, str]:
        return self.column_class.to_floe()


def suggestions(pc: ProjectClassification, *, include_packages: bool = False
                ) -> list[Suggestion]:
    """Every undeclared, non-public column of the project's own nodes, in DAG order."""
    out = []
    for nc in pc.nodes.values():
        node = nc.node
        if node.resource_type not in (*SECTIONS, "source"):
            continue
        if not include_packages and node.package_name != pc.project.name:
            continue
        overruled = {o.column: o for o in nc.overruled}
        for name, col in nc.undeclared.items():
            if UNNAMED.fullmatch(name):  # not a built column's name (compile says so)
                continue
            source = "inherited" if name in nc.inherited else "inferred"
            if name in overruled:  # listed to fix by hand: --apply never rewrites a declaration
                over = overruled[name]
                source = (f"{'values' if over.by_values else 'inherited'}, declared "
                          f"{over.declared.classification.value} (lower: overruled)")
            out.append(Suggestion(node=node, column=name, column_class=col, source=source))
    return out


def _yaml() -> Any:
    from ruamel.yaml import YAML

    y = YAML()  # round-trip: keeps comments, order and quoting
    y.preserve_quotes = True
    y.indent(mapping=2, sequence=4, offset=2)
    y.width = 100
    return y


def _grouped(items: Sequence[Suggestion]) -> list[tuple[DbtNode, list[Suggestion]]]:
    out: dict[str, tuple[DbtNode, list[Suggestion]]] = {}
    for s in items:
        out.setdefault(s.node.unique_id, (s.node, []))[1].append(s)
    return list(out.values())


def _block(s: Suggestion, namespace: str) -> Any:
    inner = CommentedMap(s.meta())
    inner.fa.set_flow_style()
    meta = CommentedMap({namespace: inner})
    return meta


def suggestions_yaml(items: Sequence[Suggestion], namespace: str = "lacuna") -> str:
    """A dbt properties file with the suggestions, each commented with its reason."""

    doc = CommentedMap({"version": 2})
    for node, group in _grouped(items):
        columns = CommentedSeq()
        for s in group:
            col = CommentedMap({"name": s.column, "meta": _block(s, namespace)})
            reason = s.column_class.reasoning.replace("\n", " ")[:90]
            col.yaml_add_eol_comment(f"{s.source}: {reason}", "name")
            columns.append(col)
        _entry(doc, node)["columns"] = columns
    buf = io.StringIO()
    _yaml().dump(doc, buf)
    return buf.getvalue()


@dataclass(frozen=True, slots=True, kw_only=True)
class Applied:
    path: Path
    columns: tuple[str, ...]  # "<node>.<column>"
    created: bool


def apply(pc: ProjectClassification, items: Sequence[Suggestion], namespace: str = "lacuna"
          ) -> list[Applied]:
    """Write the suggestions into the project's schema files (see the module docstring).

    Raises:
        ConfigError: a schema file is not valid YAML or not a dbt properties file.
    """
    root = pc.project.project_dir
    by_file: dict[Path, list[Suggestion]] = {}
    for s in items:
        by_file.setdefault(_file_for(root, s.node), []).append(s)
    done = []
    for path, group in by_file.items():
        created = not path.exists()
        changed = _apply_file(path, group, namespace)
        if changed:
            done.append(Applied(path=path, columns=tuple(changed), created=created))
    return done


def _entry(doc: Any, node: DbtNode) -> Any:
    """The mapping that describes ``node`` in a properties file, added when missing.

    Models, seeds and snapshots are ``<section>: - name: <node>``; a source table is
    ``sources: - name: <source> tables: - name: <table>``.
    """
    if node.resource_type == "source":
        source = _named(doc.setdefault("sources", CommentedSeq()), node.source_name or "")
        return _named(source.setdefault("tables", CommentedSeq()), node.name)
    return _named(doc.setdefault(SECTIONS[node.resource_type], CommentedSeq()), node.name)


def _named(seq: Any, name: str) -> Any:
    """The item of a YAML sequence called ``name`` (``- name: …``), appended when missing."""
    entry = next((e for e in seq if isinstance(e, CommentedMap) and e.get("name") == name), None)
    if entry is None:
        entry = CommentedMap({"name": name})
        seq.append(entry)
    return entry


def _file_for(root: Path, node: DbtNode) -> Path:
    if node.patch_path:
        return root / node.patch_path
    return (root / node.original_file_path).parent / NEW_FILE


def _apply_file(path: Path, group: Sequence[Suggestion], namespace: str) -> list[str]:
    from ruamel.yaml.error import YAMLError

    y = _yaml()
    if path.exists():
        try:
            doc = y.load(path.read_text(encoding="utf-8"))
        except YAMLError as exc:
            msg = f"{path}: not valid YAML ({exc}); fix it before applying suggestions"
            raise ConfigError(msg) from None
        if doc is None:
            doc = CommentedMap({"version": 2})
        if not isinstance(doc, CommentedMap):
            msg = f"{path}: not a dbt properties file (expected a mapping with version: 2)"
            raise ConfigError(msg)
    else:
        doc = CommentedMap({"version": 2})
    changed: list[str] = []
    for node, items in _grouped(group):
        columns = _entry(doc, node).setdefault("columns", CommentedSeq())
        for s in items:
            col = next((c for c in columns if isinstance(c, CommentedMap)
                        and str(c.get("name", "")).lower() == s.column.lower()), None)
            if col is None:
                col = CommentedMap({"name": s.column})
                columns.append(col)
            meta = col.setdefault("meta", CommentedMap())
            if meta.get("floe") or meta.get("lacuna"):
                continue  # declared after the manifest was built: never overwrite
            meta[namespace] = _block(s, namespace)[namespace]
            changed.append(f"{node.name}.{s.column}")
    if changed:
        buf = io.StringIO()
        y.dump(doc, buf)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(buf.getvalue(), encoding="utf-8")
    return changed
