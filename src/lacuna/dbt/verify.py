"""Whether a dbt manifest matches the project's files, before Lacuna believes it.

Column classifications come from ``target/manifest.json``, which dbt copies from the properties
YAML; anyone who can write ``target/`` could declassify a column there without a code review.
:func:`verify_manifest` compares what Lacuna reads with the files and fails closed:

1. **Column classification**: for every model, seed, snapshot and source, the columns'
   declarations (:func:`lacuna.dbt.classify.declaration`: ``meta``/``config.meta``
   ``lacuna:``/``floe:``, a flat ``classification``, a class-named tag) in the manifest against
   the YAML entry that declares the node, found by reading every YAML file of the project's
   resource paths once (:mod:`lacuna.dbt.properties`; ``patch_path`` in the manifest is not
   trusted to say where).
2. **Node meta**: the keys :func:`lacuna.dbt.classify.table_declaration` reads that the YAML
   entry sets must be in the manifest as written (YAML wins over ``dbt_project.yml``), unless
   the node's SQL mentions ``meta`` (a ``config(meta=...)`` wins over the YAML); governance
   tags the YAML gives must be among the node's tags. Keys that come only from
   ``dbt_project.yml`` or a ``config()`` are not checked. (dbt 1.11 ignores a model's
   top-level ``tags:``; only ``config.tags`` are compared, and a source table's own tags.)
3. **Files**: dbt's ``checksum`` of each model's, seed's and snapshot's file: the SHA-256 of the
   file decoded as UTF-8 with surrounding whitespace stripped, or, for a seed over 1 MiB, its
   path (``dbt/parser/read_files.py``, ``dbt/artifacts/resources/base.py`` ``FileHash``).
4. **Compiled SQL**: a model's ``compiled_code`` (column lineage is traced through it) against
   its file with ``ref()``/``source()`` replaced by the relations, when that is all the Jinja
   it has.

A value with Jinja (``{{ ... }}``) in the YAML is rendered by dbt and cannot be compared here;
such a column or key is skipped.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lacuna.dbt.classify import TABLE_LACUNA_KEYS, TABLE_META_KEYS, declaration, governance_tag
from lacuna.dbt.manifest import (
    DbtNode,
    DbtProject,
    ManifestError,
    _column,
    _mapping,
    _merged_meta,
    _tags,
)
from lacuna.dbt.properties import (
    Entry,
    as_list,
    entries,
    has_jinja,
    read_yaml_mapping,
    resource_files,
)

# dbt.constants.MAXIMUM_SEED_SIZE: a bigger seed's checksum is its path
MAXIMUM_SEED_SIZE = 1024 * 1024
CHECKSUMMED = ("model", "seed", "snapshot")
SHOWN = 10  # differences listed in one error


@dataclass(frozen=True, slots=True)
class Mismatch:
    """One difference between the manifest and the project's files."""

    node: str  # unique id ("" for the project itself)
    where: str  # the file (and line) that says otherwise, relative to the project
    detail: str

    def __str__(self) -> str:
        return f"{self.node or 'project'} ({self.where}): {self.detail}"


def verify_manifest(project: DbtProject) -> None:
    """Check a loaded manifest against its project's files.

    Raises:
        ManifestError: the project's files are missing (no ``dbt_project.yml``, or an
            installed package's folder), or the manifest does not match them; the message
            lists the differences (node, column, file and line, the manifest's value and the
            file's) and says to run ``dbt parse``.
    """
    root = project.project_dir
    config = _project_config(root, project)
    name = config.get("name")
    if name != project.name:  # nothing else can be compared
        raise ManifestError(_message(project, [Mismatch(
            "", "dbt_project.yml", f"the manifest is of project {project.name!r}, "
            f"dbt_project.yml names {name!r}")]))
    packages = {n.package_name for n in project.nodes.values()}
    found: list[Mismatch] = []
    by_name: dict[str, list[DbtNode]] = {}
    for node in project.nodes.values():
        by_name.setdefault(node.name, []).append(node)
    roots = {project.name: root, **_package_roots(root, config, packages - {project.name},
                                                  project)}
    for package, folder in roots.items():
        cfg = config if package == project.name else read_yaml_mapping(folder /
                                                                         "dbt_project.yml")
        found_entries = entries(folder, cfg, package, rel_to=root)
        found += _unlisted(project, package, folder, cfg, root)
        for node in project.nodes.values():
            if node.package_name == package:
                found += _check_node(node, found_entries.get(_key(node)), folder, root, by_name)
    if found:
        raise ManifestError(_message(project, found))


def _message(project: DbtProject, found: list[Mismatch]) -> str:
    shown = "\n".join(f"  - {m}" for m in found[:SHOWN])
    more = f"\n  ... and {len(found) - SHOWN} more" if len(found) > SHOWN else ""
    return (f"{project.manifest_path}: the dbt manifest does not match the project's files in "
            f"{project.project_dir} ({len(found)} difference{'s' * (len(found) != 1)}):\n"
            f"{shown}{more}\nThe manifest is stale (files changed since dbt last parsed the "
            "project) or was edited after dbt wrote it, and Lacuna reads classifications only "
            f"from a manifest that matches the files: run `dbt parse` in "
            f"{project.project_dir} (or `lacuna compile --parse`) to write it again")


def _missing(project: DbtProject, what: str, fix: str) -> ManifestError:
    msg = (f"{project.manifest_path}: cannot check the dbt manifest against the project's "
           f"files: {what}. Lacuna believes a manifest's classifications only when they match "
           f"the project's YAML: {fix}; or, if you use this manifest without its project on "
           "purpose, pass --no-verify-manifest (load_project(verify=False)) and protect the "
           "manifest yourself (docs/dbt.md)")
    return ManifestError(msg)


def _project_config(root: Path, project: DbtProject) -> Mapping[str, Any]:
    path = root / "dbt_project.yml"
    if not path.is_file():
        raise _missing(project, f"{path} is missing",
                       "run Lacuna in the dbt project (--project-dir)")
    return read_yaml_mapping(path)


def _package_roots(root: Path, config: Mapping[str, Any], wanted: set[str],
                   project: DbtProject) -> dict[str, Path]:
    """The folders of the installed packages whose nodes the manifest holds."""
    if not wanted:
        return {}
    install = os.environ.get("DBT_PACKAGES_INSTALL_PATH") \
        or str(config.get("packages-install-path") or "dbt_packages")
    base = Path(install) if Path(install).is_absolute() else root / install
    out: dict[str, Path] = {}
    if base.is_dir():
        for folder in sorted(base.iterdir()):
            cfg = folder / "dbt_project.yml"
            if cfg.is_file():
                name = read_yaml_mapping(cfg).get("name")
                if name in wanted:
                    out[str(name)] = folder
    missing = sorted(wanted - set(out))
    if missing:
        raise _missing(project, f"the manifest has nodes of the package(s) "
                       f"{', '.join(missing)}, which are not installed in {base}",
                       f"run `dbt deps` in {root}")
    return out


def _unlisted(project: DbtProject, package: str, folder: Path, config: Mapping[str, Any],
              root: Path) -> list[Mismatch]:
    """A model or seed file no node of the manifest (enabled or disabled) comes from: the
    manifest is older than the file, or a node was taken out of it (its children would then
    read a relation Lacuna knows nothing about). Not checked when a ``.dbtignore`` exists
    (Lacuna does not evaluate its patterns)."""
    if (folder / ".dbtignore").exists():
        return []
    known = {n.original_file_path for n in project.nodes.values() if n.package_name == package}
    known |= {f for p, f in project.disabled if p == package}
    found: list[Mismatch] = []
    for key, suffixes in (("model-paths", (".sql", ".py")), ("seed-paths", (".csv",))):
        for path in resource_files(folder, config, key, suffixes):
            rel = path.relative_to(folder).as_posix()
            if rel not in known:
                found.append(Mismatch("", _shown(path, root), "no node of the manifest comes "
                                      "from this file (added since dbt parsed the project, or "
                                      "its node was removed from the manifest)"))
    return found


def _key(node: DbtNode) -> tuple[str, ...]:
    if node.resource_type == "source":
        return ("source", node.package_name, node.source_name or "", node.name)
    return (node.resource_type, node.package_name, node.name)


# -- one node ----------------------------------------------------------------------------------


def _check_node(node: DbtNode, entry: Entry | None, folder: Path, root: Path,
                by_name: Mapping[str, list[DbtNode]]) -> list[Mismatch]:
    found: list[Mismatch] = []
    sql: str | None = None
    if node.resource_type in CHECKSUMMED:
        stale, sql = _check_file(node, folder, root)
        found += stale
        if not stale and sql is not None and node.resource_type == "model" \
                and node.compiled_sql is not None:
            found += _check_compiled(node, sql, by_name, _shown(folder / node.original_file_path,
                                                                root))
    found += _check_columns(node, entry)
    if entry is not None:
        may_config_meta = node.resource_type in ("model", "snapshot") and (
            sql is None or "meta" in sql)
        found += _check_table(node, entry, may_config_meta)
    return found


def _check_file(node: DbtNode, folder: Path, root: Path) -> tuple[list[Mismatch], str | None]:
    """dbt's checksum of the node's file, and the file's text (for a SQL file)."""
    rel = node.original_file_path
    path = folder / rel
    shown = _shown(path, root)
    parts = Path(rel).parts
    if not rel or Path(rel).is_absolute() or ".." in parts:
        return [Mismatch(node.unique_id, shown or "?", "the manifest names a file outside the "
                         "project, which dbt never does")], None
    # dbt names a seed, and a model that is not versioned, after its file; so the manifest
    # cannot point a node at another node's (unchanged, checksummed) file
    if node.resource_type in ("model", "seed") and node.version is None \
            and Path(rel).stem != node.name:
        return [Mismatch(node.unique_id, shown, f"the manifest names this file for "
                         f"{node.name}, but dbt names a {node.resource_type} after its file")
                ], None
    if node.checksum is None or node.checksum[0] not in ("sha256", "path") or (
            node.checksum[0] == "path" and node.resource_type != "seed"):
        return [Mismatch(node.unique_id, shown, "the manifest has no checksum of this file, as "
                         "`dbt parse` writes one")], None
    name, value = node.checksum
    try:
        if name == "path":  # dbt does not hash a seed over the size limit, it records its path
            size = path.stat().st_size
            if value == rel and size > MAXIMUM_SEED_SIZE:
                return [], None
            return [Mismatch(node.unique_id, shown, "the manifest records the file by its path "
                             "(a seed over 1 MiB), but the file is not that file or is smaller "
                             "(dbt would hash it)")], None
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        return [Mismatch(node.unique_id, shown, "the file is missing (moved or deleted since "
                         "dbt parsed the project)")], None
    except (OSError, UnicodeDecodeError) as exc:
        return [Mismatch(node.unique_id, shown, f"cannot read the file ({exc})")], None
    digest = hashlib.sha256(text.strip().encode("utf-8")).hexdigest()
    if digest != value:
        return [Mismatch(node.unique_id, shown, "the file changed since dbt parsed the project "
                         "(its SHA-256 is not the manifest's checksum)")], text
    return [], text


_JINJA = re.compile(r"\{\{(.*?)\}\}|\{%.*?%\}|\{#.*?#\}", re.DOTALL)
_REF = re.compile(r"""\s*ref\(\s*(['"])([\w.-]+)\1\s*\)\s*""")
_SOURCE = re.compile(r"""\s*source\(\s*(['"])([\w.-]+)\1\s*,\s*(['"])([\w.-]+)\3\s*\)\s*""")
_CONFIG = re.compile(r"\s*config\(.*\)\s*", re.DOTALL)


def _check_compiled(node: DbtNode, sql: str, by_name: Mapping[str, list[DbtNode]],
                    shown: str) -> list[Mismatch]:
    """The compiled SQL Lacuna traces column lineage through, against the model's own file
    compiled the way dbt does it, when its only Jinja is ``ref('m')``, ``source('s', 't')``,
    ``config(...)`` and comments (anything else needs dbt to render: not checked)."""
    expected = _compiled(sql, by_name, node.package_name)
    if expected is None:
        return []
    compiled = node.compiled_sql or ""
    if compiled.strip() == expected or compiled.split() == expected.split():
        return []
    return [Mismatch(node.unique_id, shown, "the compiled SQL in the manifest is not this file "
                     "compiled (its ref() and source() resolved); run `dbt compile` or `dbt "
                     "build` again")]


def _compiled(sql: str, by_name: Mapping[str, list[DbtNode]], package: str) -> str | None:
    out: list[str] = []
    pos = 0
    for match in _JINJA.finditer(sql):
        out.append(sql[pos:match.start()])
        pos = match.end()
        token = match.group(0)
        if token.startswith("{#"):
            continue
        inner = match.group(1)
        if inner is None:  # a {% statement %}: only dbt can render it
            return None
        relation: str | None = None
        if (ref := _REF.fullmatch(inner)) is not None:
            relation = _relation(by_name, package, ref.group(2), None)
        elif (src := _SOURCE.fullmatch(inner)) is not None:
            relation = _relation(by_name, package, src.group(4), src.group(2))
        elif _CONFIG.fullmatch(inner) is not None:
            relation = ""
        if relation is None:
            return None
        out.append(relation)
    out.append(sql[pos:])
    return "".join(out).strip()


def _relation(by_name: Mapping[str, list[DbtNode]], package: str, name: str,
              source: str | None) -> str | None:
    """What dbt renders ``ref(name)``/``source(source, name)`` as; ``None`` when it is not one
    plain relation (unknown, ambiguous, or an ephemeral model dbt inlines as a CTE)."""
    found = [n for n in by_name.get(name, ()) if (
        n.resource_type == "source" and n.source_name == source if source is not None
        else n.resource_type in CHECKSUMMED)]
    if len(found) > 1:
        found = [n for n in found if n.package_name == package]
    if len(found) != 1 or found[0].materialized == "ephemeral":
        return None
    return found[0].relation_name


def _shown(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.as_posix()


def _yaml_columns(node: DbtNode, entry: Entry) -> dict[str, Mapping[str, Any]]:
    """The column entries the YAML gives the node; a versioned model's version's columns are
    the top-level ones it includes (``include``/``exclude``) overridden by its own."""
    top = {str(c["name"]): c for c in as_list(entry.data.get("columns"))
           if isinstance(c, Mapping) and c.get("name") is not None}
    if node.version is None:
        return top
    for version in as_list(entry.data.get("versions")):
        if isinstance(version, Mapping) and str(version.get("v")) == node.version:
            own = as_list(version.get("columns"))
            include: Any = "all"
            exclude: list[Any] = []
            cols: dict[str, Mapping[str, Any]] = {}
            for c in own:
                if isinstance(c, Mapping) and "include" in c:
                    include, exclude = c["include"], as_list(c.get("exclude"))
                elif isinstance(c, Mapping) and c.get("name") is not None:
                    cols[str(c["name"])] = c
            kept = {n: c for n, c in top.items()
                    if (include in ("all", "*") or n in as_list(include)) and n not in exclude}
            return {**kept, **cols}
    return top


def _check_columns(node: DbtNode, entry: Entry | None) -> list[Mismatch]:
    found: list[Mismatch] = []
    yaml_cols = _yaml_columns(node, entry) if entry is not None else {}
    for name in dict.fromkeys([*node.columns, *yaml_cols]):
        in_manifest = node.columns.get(name)
        raw = yaml_cols.get(name)
        if raw is not None and in_manifest is not None and "config" not in raw \
                and (raw.get("meta") or {}) == in_manifest.meta \
                and _tag_list(raw.get("tags")) == list(in_manifest.tags):
            continue  # written as the manifest has it (the common case, and the cheap one)
        if raw is not None and has_jinja({k: raw.get(k) for k in ("meta", "config", "tags")}):
            continue  # dbt renders it; not comparable here
        said = declaration(in_manifest) if in_manifest is not None else None
        written = declaration(_column(name, raw)) if raw is not None else None
        if said == written:
            continue
        if entry is None:
            where = node.patch_path or node.original_file_path or "no YAML"
            found.append(Mismatch(node.unique_id, where, f"column {name}: the manifest says "
                                  f"{_say(said)}, but no YAML file of the project classifies "
                                  f"this {node.resource_type}'s columns"))
        elif raw is None:
            found.append(Mismatch(node.unique_id, entry.at(entry.data), f"column {name}: the "
                                  f"manifest says {_say(said)}, but the file does not list the "
                                  "column"))
        else:
            found.append(Mismatch(node.unique_id, entry.at(raw), f"column {name}: the manifest "
                                  f"says {_say(said)}, the file says {_say(written)}"))
    return found


def _tag_list(value: Any) -> list[Any]:
    return [value] if isinstance(value, str) else as_list(value)


def _say(found: tuple[dict[str, Any], str] | None) -> str:
    if found is None:
        return "nothing (no classification)"
    fields, source = found
    inner = ", ".join(f"{k}: {v}" for k, v in fields.items())
    return f"{source} {{{inner}}}"


def _check_table(node: DbtNode, entry: Entry, may_config_meta: bool) -> list[Mismatch]:
    found: list[Mismatch] = []
    where = entry.at(entry.data)
    meta = {**entry.parent_meta, **_merged_meta(entry.data)}
    pairs: list[tuple[str, Any, Any]] = []
    if not may_config_meta:
        pairs += [(f"meta.{k}", meta[k], node.meta.get(k)) for k in TABLE_META_KEYS if k in meta]
        lac, have = meta.get("lacuna"), node.meta.get("lacuna")
        if isinstance(lac, Mapping):
            have = have if isinstance(have, Mapping) else {}
            pairs += [(f"meta.lacuna.{k}", lac[k], have.get(k)) for k in TABLE_LACUNA_KEYS
                      if k in lac]
    for key, written, said in pairs:
        if not has_jinja(written) and written != said:
            found.append(Mismatch(node.unique_id, where, f"{key}: the manifest says {said!r}, "
                                  f"the file says {written!r}"))
    # dbt 1.11 ignores a model's, seed's or snapshot's top-level `tags:` (config.tags counts);
    # a source table's are its own
    given = [*entry.parent_tags, *_tags(entry.data)] if node.resource_type == "source" else \
        _tag_list(_mapping(entry.data.get("config")).get("tags"))
    tags = [t for t in given if isinstance(t, str) and governance_tag(t) and not has_jinja(t)]
    lost = [t for t in tags if t not in node.tags]
    if lost:
        found.append(Mismatch(node.unique_id, where, f"tags: the file gives {', '.join(lost)}, "
                              "the manifest does not"))
    return found
