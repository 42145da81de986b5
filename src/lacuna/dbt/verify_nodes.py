"""A manifest node's config, enabled state and relation names against the project's files.

Part of :mod:`lacuna.dbt.verify` (which checks columns, files, compiled SQL and lineage): the
config of each node is resolved from ``dbt_project.yml``, its properties YAML entry and its
file's ``config()`` calls as dbt does it (:mod:`lacuna.dbt.expected`), then compared with the
manifest: the node meta the table floor reads, its governance tags, whether it is enabled
(a node the manifest lists as disabled must be disabled by the files), and its relation name.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lacuna.dbt.classify import TABLE_LACUNA_KEYS, TABLE_META_KEYS, governance_tag
from lacuna.dbt.expected import (
    UNKNOWN,
    Resolved,
    Scan,
    deep_merge,
    project_levels,
    scan_python,
    scan_sql,
)
from lacuna.dbt.manifest import DbtNode, DbtProject, _mapping, _merged_meta, _tags
from lacuna.dbt.properties import (
    Entry,
    as_list,
    has_jinja,
    read_yaml_mapping,
    resource_dirs,
    resource_files,
)
from lacuna.dbt.target import Target

CHECKSUMMED = ("model", "seed", "snapshot")


@dataclass(frozen=True, slots=True)
class Mismatch:
    """One difference between the manifest and the project's files."""

    node: str  # unique id ("" for the project itself)
    where: str  # the file (and line) that says otherwise, relative to the project
    detail: str
    unknown: bool = False  # the files' value needs dbt to render (Jinja): not comparable

    def __str__(self) -> str:
        return f"{self.node or 'project'} ({self.where}): {self.detail}"


def _key(node: DbtNode) -> tuple[str, ...]:
    if node.resource_type == "source":
        return ("source", node.package_name, node.source_name or "", node.name)
    return (node.resource_type, node.package_name, node.name)


@dataclass(frozen=True, slots=True)
class _Package:
    """The root project or an installed package, as its nodes are checked."""

    name: str
    folder: Path
    root: Path
    config: Mapping[str, Any]  # its dbt_project.yml
    root_config: Mapping[str, Any] | None  # the root project's, for a package (applied last)
    entries: Mapping[tuple[str, ...], Entry]
    macros: Macros


def _shown(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.as_posix()


def _tag_list(value: Any) -> list[Any]:
    return [value] if isinstance(value, str) else as_list(value)


# -- node config: dbt_project.yml < properties YAML < config() ---------------------------------

_SECTIONS = {
    "model": ("models", "model-paths"),
    "seed": ("seeds", "seed-paths"),
    "snapshot": ("snapshots", "snapshot-paths"),
    "source": ("sources", ""),
}
_DECLARING = ("lacuna", "floe", "classification", "pii_type", "sensitivity")


def _fqn(node: DbtNode, pkg: _Package, entry: Entry | None) -> list[str] | None:
    """The node's fqn as dbt builds it from where its file is (the manifest's ``fqn`` and
    ``path`` are not trusted: they pick the ``dbt_project.yml`` folders that configure it)."""
    kind = node.resource_type
    if kind == "source":
        if entry is None or node.source_name is None:
            return None
        return [pkg.name, *entry.dirs, node.source_name, node.name]
    if kind == "snapshot" and yaml_defined(node):  # the YAML file's folders, no file name
        return None if entry is None else [pkg.name, *entry.dirs, node.name]
    dirs = resource_dirs(node.original_file_path, pkg.config, _SECTIONS[kind][1])
    if dirs is None:
        return None
    if kind == "snapshot":  # a snapshot's fqn has its file's name too
        return [pkg.name, *dirs, Path(node.original_file_path).stem, node.name]
    if node.version is not None:
        return [pkg.name, *dirs, node.name, f"v{node.version}"]
    return [pkg.name, *dirs, node.name]


def yaml_defined(node: DbtNode) -> bool:
    """A snapshot defined in a properties YAML (``snapshots:`` with ``relation:``, dbt 1.9+)."""
    return node.original_file_path.endswith((".yml", ".yaml"))


def _patch(node: DbtNode, entry: Entry) -> dict[str, Any]:
    """The config a node's properties YAML entry gives it, as dbt reads it."""
    data = entry.data
    if node.resource_type == "source":  # the table's config over its source's
        out = {**_mapping(entry.parent.get("config")), **_mapping(data.get("config"))}
        out["meta"] = {**entry.parent_meta, **_merged_meta(data)}
        out["tags"] = [*entry.parent_tags, *_tags(data)]
        return out
    out = dict(_mapping(data.get("config")))
    if isinstance(data.get("meta"), Mapping):  # moved into config by dbt
        out["meta"] = {**data["meta"], **_mapping(out.get("meta"))}
    if node.version is not None:
        for version in as_list(data.get("versions")):
            if isinstance(version, Mapping) and str(version.get("v")) == node.version:
                out = deep_merge(out, _mapping(version.get("config")))
    return out


def _resolve(
    node: DbtNode, pkg: _Package, entry: Entry | None, scan: Scan | None, shown: str
) -> Resolved | None:
    fqn = _fqn(node, pkg, entry)
    if fqn is None:
        return None
    section = _SECTIONS[node.resource_type][0]
    resolved = Resolved()
    own = "" if pkg.root_config is None else _shown(pkg.folder, pkg.root) + "/"
    for level, where in project_levels(pkg.config, section, fqn):
        resolved.apply(level, own + where)
    if entry is not None:
        resolved.apply(_patch(node, entry), entry.at(entry.data))
    if scan is not None:
        resolved.apply(scan.config, shown)
    if pkg.root_config is not None:
        for level, where in project_levels(pkg.root_config, section, fqn):
            resolved.apply(level, where)
    return resolved


def _unknown(node: DbtNode, where: str, key: str, said: Any) -> Mismatch:
    """A value of the files only dbt can compute; ``said``: the manifest's (shown as is when
    it is already text)."""
    shown = said if isinstance(said, str) else repr(said)
    return Mismatch(
        node.unique_id,
        where,
        f"{key}: set with Jinja only dbt renders, so Lacuna "
        f"cannot check the manifest's {shown} (needs --parse)",
        unknown=True,
    )


def _check_enabled(
    node: DbtNode, resolved: Resolved, shown: str, *, listed: bool
) -> list[Mismatch]:
    enabled = resolved.values.get("enabled", True)
    where = resolved.at("enabled") or shown
    if enabled is UNKNOWN:
        return [_unknown(node, where, "enabled", "enabled" if listed else "disabled")]
    if (enabled is not False) == listed:
        return []
    if listed:
        return [
            Mismatch(
                node.unique_id,
                where,
                "the project disables this "
                f"{node.resource_type} (enabled: false), the manifest has it enabled",
            )
        ]
    return [
        Mismatch(
            node.unique_id,
            where,
            f"the manifest lists this {node.resource_type} as "
            "disabled, but the project enables it: its classification and policy "
            "checks would be skipped",
        )
    ]


def _check_config(node: DbtNode, resolved: Resolved, shown: str) -> list[Mismatch]:
    """Enabled, the node meta the table floor reads and the governance tags, against the
    project's config of the node."""
    found = _check_enabled(node, resolved, shown, listed=True)
    meta = resolved.values.get("meta", {})
    if meta is UNKNOWN:
        return [*found, _unknown(node, resolved.at("meta"), "meta", dict(node.meta))]
    pairs: list[tuple[str, Any, Any]] = [
        (f"meta.{k}", meta.get(k), node.meta.get(k)) for k in TABLE_META_KEYS
    ]
    lac, have = meta.get("lacuna"), node.meta.get("lacuna")
    if lac is UNKNOWN:
        found.append(_unknown(node, resolved.at("meta.lacuna"), "meta.lacuna", repr(have)))
    else:
        lac = lac if isinstance(lac, Mapping) else {}
        have = have if isinstance(have, Mapping) else {}
        pairs += [(f"meta.lacuna.{k}", lac.get(k), have.get(k)) for k in TABLE_LACUNA_KEYS]
    for key, written, said in pairs:
        if written is UNKNOWN or (isinstance(written, Mapping) and UNKNOWN in written.values()):
            found.append(_unknown(node, resolved.at(key), key, repr(said)))
        elif written != said:
            found.append(
                Mismatch(
                    node.unique_id,
                    resolved.at(key) or shown,
                    f"{key}: the manifest says {said!r}, the file says {written!r}",
                )
            )
    tags = resolved.values.get("tags", [])
    if tags is UNKNOWN:
        return [*found, _unknown(node, resolved.at("tags"), "tags", list(node.tags))]
    lost = [
        t
        for t in _tag_list(tags)
        if isinstance(t, str) and governance_tag(t) and t not in node.tags
    ]
    if lost:
        found.append(
            Mismatch(
                node.unique_id,
                resolved.at("tags") or shown,
                f"tags: the file gives {', '.join(lost)}, the manifest does not",
            )
        )
    return found


def _check_disabled(node: DbtNode, pkg: _Package) -> list[Mismatch]:
    """A node the manifest says is disabled (so nothing of it is classified or checked) must
    be disabled by the project."""
    entry = pkg.entries.get(_key(node))
    shown = _shown(pkg.folder / node.original_file_path, pkg.root)
    scan: Scan | None = None
    if node.resource_type in ("model", "snapshot"):
        try:
            text = (pkg.folder / node.original_file_path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError, ValueError):
            return []  # no file: nothing of the project enables it either
        scan = with_macros(
            scan_python(text) if node.original_file_path.endswith(".py") else scan_sql(text),
            text,
            pkg.macros,
        )
    resolved = _resolve(node, pkg, entry, scan, shown)
    if resolved is None:
        return []
    return _check_enabled(node, resolved, shown, listed=False)


def _unlisted_sources(project: DbtProject, pkg: _Package) -> list[Mismatch]:
    """A source table of the YAML that is neither a node nor disabled: taken out of the
    manifest (its children would read a relation Lacuna knows nothing about)."""
    known = {*project.nodes, *(n.unique_id for n in project.disabled_nodes)}
    return [
        Mismatch(
            f"source.{pkg.name}.{key[2]}.{key[3]}",
            entry.at(entry.data),
            "the manifest has no node of this source table (enabled or disabled)",
        )
        for key, entry in pkg.entries.items()
        if key[0] == "source" and f"source.{pkg.name}.{key[2]}.{key[3]}" not in known
    ]


# -- relation names ----------------------------------------------------------------------------

# a project's generate_*_name, or one of its dispatched implementations (default__/duckdb__...)
_OVERRIDE = re.compile(r"\bmacro\s+((?:\w+__)?generate_(schema|alias|database)_name)\b")
_MACRO = re.compile(r"\{%[-+]?\s*macro\s+(\w+)(.*?)\{%[-+]?\s*endmacro", re.DOTALL)
_MACRO_NAME = re.compile(r"\bmacro\s+(\w+)")
_RAW = re.compile(r"\{%[-+]?\s*raw\s*[-+]?%\}")
_CONFIG_CALL = re.compile(r"\bconfig\s*\(")
_SET_WORDS = {k: re.compile(rf"(?<![.'\"])\b{k}\b") for k in ("meta", "tags", "enabled")}
COMPONENTS = ("database", "schema", "alias")


@dataclass(frozen=True, slots=True)
class Macros:
    """What the projects' macros decide that Lacuna does not compute."""

    # component (schema, alias, database) -> (macro file, the package whose nodes it names,
    # "" for every node): a project's own generate_*_name macros
    overrides: Mapping[str, tuple[tuple[str, str], ...]] = field(default_factory=dict)
    # macros that call config() with meta, tags or enabled, and those keys: a model calling
    # one gets them from dbt only
    setters: Mapping[str, frozenset[str]] = field(default_factory=dict)

    def unknown(self, text: str) -> set[str]:
        """The keys a file may set through a macro it calls."""
        return {
            k
            for name, keys in self.setters.items()
            if re.search(rf"\b{name}\s*\(", text)
            for k in keys
        }

    def override(self, component: str, package: str) -> str | None:
        """The file of the macro that names ``component`` of a ``package`` node, if any."""
        for file, scope in self.overrides.get(component, ()):
            if not scope or scope == package:
                return file
        return None


def read_macros(roots: Mapping[str, Path], root: str, shown: Path) -> Macros:
    """The ``generate_*_name`` overrides and config-setting macros of these projects
    (``roots``: package name -> folder; ``root``: the root project's name).

    dbt names every node with the root project's ``generate_X_name`` (or a ``dbt``-namespace
    implementation of it such as ``default__generate_schema_name``), except that a package's
    own ``generate_X_name`` names that package's nodes (``RelationUpdate`` in
    ``dbt/parser/base.py``); a package's dispatched one counts for every node, as a
    ``dispatch:`` setting may pick it.
    """
    overrides: dict[str, list[tuple[str, str]]] = {}
    setters: dict[str, frozenset[str]] = {}
    for package, folder in roots.items():
        config = (
            read_yaml_mapping(folder / "dbt_project.yml")
            if (folder / "dbt_project.yml").is_file()
            else {}
        )
        if package == root and any(isinstance(d, Mapping) and d.get("macro_namespace") == "dbt"
                                   for d in as_list(config.get("dispatch"))):
            for component in COMPONENTS:  # dbt's own macros dispatched to a package's
                overrides.setdefault(component, []).append(("dbt_project.yml (dispatch)", ""))
        for path in resource_files(folder, config, "macro-paths", (".sql",)):
            try:
                text = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):
                continue
            for name, component in _OVERRIDE.findall(text):
                scope = "" if package == root or "__" in name else package
                overrides.setdefault(component, []).append((_shown(path, shown), scope))
            if _RAW.search(text):  # a raw block may hide where a macro ends: any may set any
                setters.update(dict.fromkeys(_MACRO_NAME.findall(text), frozenset(_SET_WORDS)))
                continue
            for name, body in _MACRO.findall(text):
                if _CONFIG_CALL.search(body):
                    keys = {k for k, word in _SET_WORDS.items() if word.search(body)}
                    setters[name] = frozenset(keys or _SET_WORDS)  # config(**x): any of them
    return Macros({k: tuple(v) for k, v in overrides.items()}, setters)


def with_macros(scan: Scan, text: str, macros: Macros) -> Scan:
    """``scan`` with the keys a macro the file calls may set made UNKNOWN."""
    if not macros.setters or scan.parts is not None:  # a file without such Jinja calls none
        return scan
    keys = macros.unknown(text)
    if not keys:
        return scan
    return Scan(scan.parts, scan.refs, {**scan.config, **dict.fromkeys(keys, UNKNOWN)})


@dataclass(slots=True)
class Naming:
    """What the nodes' relation names are checked against: the target, and the nodes each
    project macro names (reported once per macro, after every node)."""

    target: Target
    macros: dict[tuple[str, str], list[str]] = field(default_factory=dict)

    def mismatches(self) -> list[Mismatch]:
        """The project-level differences: a target Lacuna cannot read, a macro it cannot run."""
        found: list[Mismatch] = []
        if not self.target.known:
            found.append(Mismatch("", self.target.where, "the target's schema and database, "
                                  "which every node's relation name starts from, are unknown: "
                                  f"{self.target.why}", unknown=True))
        for (component, file), nodes in sorted(self.macros.items()):
            found.append(Mismatch("", file, f"generate_{component}_name is the project's own "
                                  f"macro, so the {component} of {len(nodes)} node"
                                  f"{'s' * (len(nodes) != 1)} ({nodes[0]}, ...) is what it "
                                  "renders, which only dbt does: pass --parse so dbt parses the "
                                  "project and Lacuna reads what it wrote, or drop the macro "
                                  "for dbt's default", unknown=True))
        return found


def _expected(
    node: DbtNode, component: str, values: Mapping[str, Any], target: Target
) -> tuple[Any, str]:
    """What dbt's default ``generate_<component>_name`` (and a snapshot's legacy
    ``target_schema``/``target_database``) names the node, and how, for messages; ``None``
    when the target is unknown."""
    if component == "alias":
        custom = values.get("alias")
        if custom is UNKNOWN or custom:
            return custom if custom is UNKNOWN else str(custom).strip(), "its alias config"
        if node.version is not None:
            return f"{node.name}_v{node.version.replace('.', '_')}", "its name and version"
        return node.name, "its name"
    legacy = values.get(f"target_{component}") if node.resource_type == "snapshot" else None
    if legacy is UNKNOWN or legacy:
        return legacy if legacy is UNKNOWN else str(legacy), f"its target_{component} config"
    base = getattr(target, component)
    custom = values.get(component)
    if custom is UNKNOWN:
        return UNKNOWN, ""
    if base is UNKNOWN:
        return None, ""
    if custom is None:
        return str(base).strip(), f"the target's {component}, {target.where}"
    if component == "database":
        return str(custom).strip(), "its database config"
    return (f"{base}_{str(custom).strip()}".strip(),
            f"<the target's schema {base!r}>_<its schema config {custom!r}>")


def _check_names(
    node: DbtNode, pkg: _Package, entry: Entry | None, resolved: Resolved, naming: Naming,
    shown: str,
) -> list[Mismatch]:
    """A node's database, schema and alias (a source's identifier, schema and database) as
    the project and its target name them."""
    found: list[Mismatch] = []
    values = resolved.values
    if node.resource_type == "source":
        if entry is not None:
            found += _check_source_names(node, entry, naming.target)
        return found
    for component in COMPONENTS:
        expected, how = _expected(node, component, values, naming.target)
        if not how.startswith("its target_"):  # a snapshot's legacy config is used verbatim
            macro = pkg.macros.override(component, node.package_name)
            if macro is not None:
                naming.macros.setdefault((component, macro), []).append(node.unique_id)
                continue
        said = getattr(node, component)
        if expected is UNKNOWN:
            found.append(_unknown(node, resolved.at(f"target_{component}")
                                  or resolved.at(component) or shown, component, repr(said)))
        elif expected is not None and expected != said:
            found.append(Mismatch(node.unique_id, resolved.at(component) or shown,
                                  f"{component}: the manifest says {said!r}, the project "
                                  f"says {expected!r} ({how})"))
    return found


def _check_source_names(node: DbtNode, entry: Entry, target: Target) -> list[Mismatch]:
    """A source table's identifier (the table's ``identifier``, else its name), schema and
    database (its source's ``schema``, else the source's name; ``database``, else the
    target's), as dbt-core names them (``SourcePatcher.parse_source_table``): a table's own
    ``schema``/``database`` are not read by dbt, so not by Lacuna either. A value with Jinja
    is dbt's to render: fails closed (``--parse``)."""
    table, source = entry.data, entry.parent
    found: list[Mismatch] = []
    for key, holder, written, said in (
        ("identifier", table, table.get("identifier") or node.name, node.alias),
        ("schema", source, source.get("schema") or node.source_name, node.schema),
        ("database", source, source.get("database") or target.database, node.database),
    ):
        if written is UNKNOWN:
            continue  # the target's database: Naming.mismatches says why it is unknown
        written = str(written)
        if has_jinja(written) or "{#" in written:
            found.append(_unknown(node, entry.at(holder), key, said))
        elif written != said:
            found.append(Mismatch(node.unique_id, entry.at(holder),
                                  f"{key}: the manifest says {said!r}, the file says "
                                  f"{written!r}"))
    return found


def _check_relations(project: DbtProject) -> list[Mismatch]:
    """``relation_name`` is the node's database, schema and alias; no two models, seeds or
    snapshots share one."""
    found: list[Mismatch] = []
    seen: dict[str, DbtNode] = {}
    for node in project.nodes.values():
        if not node.relation_name:
            continue
        parts = [p.strip('"`[] ').lower() for p in node.relation_name.split(".")]
        names = [(p or "").lower() for p in (node.database, node.schema, node.table)]
        if parts not in (names, names[1:]):
            found.append(
                Mismatch(
                    node.unique_id,
                    node.original_file_path or "?",
                    f"relation_name: the manifest says {node.relation_name}, "
                    "which is not its database, schema and alias/identifier "
                    f"({'.'.join(names)})",
                )
            )
        if node.resource_type in CHECKSUMMED:
            other = seen.setdefault(".".join(parts), node)
            if other is not node:
                found.append(
                    Mismatch(
                        node.unique_id,
                        node.original_file_path,
                        f"relation_name: {node.relation_name} is also {other.unique_id}'s",
                    )
                )
    return found
