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
2. **Node config**: each node's config resolved from the files as dbt does it
   (:mod:`lacuna.dbt.expected`: ``dbt_project.yml`` folders < properties YAML < the SQL's
   ``config()``): the node meta :func:`lacuna.dbt.classify.table_declaration` reads, the
   governance tags, and ``enabled`` (a node in the manifest's ``disabled`` must be disabled by
   the files, a listed one must not be; every YAML source table must be a node).
3. **Files**: dbt's ``checksum`` of each model's, seed's and snapshot's file: the SHA-256 of the
   file decoded as UTF-8 with surrounding whitespace stripped, or, for a seed over 1 MiB, its
   path (``dbt/parser/read_files.py``, ``dbt/artifacts/resources/base.py`` ``FileHash``).
4. **Compiled SQL and lineage**: a model's ``compiled_code`` (column lineage is traced through
   it) against its file with ``ref()``/``source()`` replaced by the relations, and its
   ``depends_on`` (classification is inherited through it) against those calls, when they are
   all the Jinja it has.
5. **Relation names**: ``relation_name`` is the node's database, schema and alias, unique; each
   as dbt's default ``generate_*_name`` macros make it of the node's config and the target of
   ``profiles.yml`` (:mod:`lacuna.dbt.target`; a snapshot's ``target_schema`` as written); a
   project's own ``generate_*_name`` macro, or a ``{% raw %}`` block in a model, fails closed.
6. **Versions**: a versioned model's versions as its YAML declares them, each from its own
   file (:mod:`lacuna.dbt.versions`); ``ref('m', v=2)`` and an unpinned ``ref('m')`` (the
   latest version) in ``depends_on``.

A value the files set with Jinja (YAML, ``dbt_project.yml``, a ``config()`` argument) is only
known to dbt: it fails closed (``Mismatch.unknown``), and the message says to use ``--parse``.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from lacuna.dbt.classify import declaration
from lacuna.dbt.expected import (
    Ref,
    Scan,
    ref_call,
    scan_python,
    scan_sql,
)
from lacuna.dbt.manifest import (
    DbtNode,
    DbtProject,
    ManifestError,
    _column,
    _mapping,
)
from lacuna.dbt.properties import (
    Entry,
    as_list,
    entries,
    has_jinja,
    read_yaml_mapping,
    resource_files,
)
from lacuna.dbt.target import read_target
from lacuna.dbt.verify_nodes import (
    _DECLARING,
    CHECKSUMMED,
    Mismatch,
    Naming,
    _check_config,
    _check_disabled,
    _check_names,
    _check_relations,
    _key,
    _Package,
    _resolve,
    _shown,
    _tag_list,
    _unknown,
    _unlisted_sources,
    read_macros,
    with_macros,
    yaml_defined,
)
from lacuna.dbt.verify_tests import check_tests
from lacuna.dbt.versions import check_versions, latest_versions

# dbt.constants.MAXIMUM_SEED_SIZE: a bigger seed's checksum is its path
MAXIMUM_SEED_SIZE = 1024 * 1024
SHOWN = 10  # differences listed in one error


def verify_manifest(project: DbtProject, *, target: str | None = None) -> None:
    """Check a loaded manifest against its project's files (``target``: the profile's output
    dbt was run with, ``--target``; default ``$DBT_TARGET``, else the profile's ``target:``).

    Raises:
        ManifestError: the project's files are missing (no ``dbt_project.yml``, or an
            installed package's folder), the manifest does not match them, or a value it
            must match is set with Jinja only dbt renders; the message lists the differences
            (node, column, file and line, the manifest's value and the file's) and says to run
            ``dbt parse`` (or, for Jinja, ``--parse``).
    """
    root = project.project_dir
    config = _project_config(root, project)
    name = config.get("name")
    if name != project.name:  # nothing else can be compared
        raise ManifestError(_message(project, [Mismatch(
            "", "dbt_project.yml", f"the manifest is of project {project.name!r}, "
            f"dbt_project.yml names {name!r}")]))
    # the tests' packages too (check_tests compares a test with its package's files): a test
    # named as if of a package no node is of was compared with nothing, and counted
    # (test.<package>.<name>; an id without one names a package no project has: refused)
    packages = {n.package_name for n in project.nodes.values()} | {
        [*t.unique_id.split("."), t.unique_id][1] for t in project.tests.values()}
    found: list[Mismatch] = []
    flags = config.get("flags")
    by_name = _ByName(project.name, own_first=isinstance(flags, Mapping) and flags.get(
        "require_ref_searches_node_package_before_root") is True)
    for node in project.nodes.values():
        by_name.setdefault(node.name, []).append(node)
    roots = {project.name: root, **_package_roots(root, config, packages - {project.name},
                                                  project)}
    macros = read_macros(roots, project.name, root)
    naming = Naming(read_target(root, config, target))
    found += _check_adapter(project, naming)
    packs: list[_Package] = []
    for package, folder in roots.items():
        cfg = config if package == project.name else read_yaml_mapping(folder /
                                                                         "dbt_project.yml")
        pkg = _Package(package, folder, root, cfg, None if package == project.name else config,
                       entries(folder, cfg, package, rel_to=root), macros)
        packs.append(pkg)
        by_name.latest.update(latest_versions(pkg))
    every = {k: e for pkg in packs for k, e in pkg.entries.items()}
    for pkg in packs:
        found += check_tests(project, pkg, every)
        found += _unlisted(project, pkg.name, pkg.folder, pkg.config, root)
        found += check_versions(project, pkg)
        for node in project.nodes.values():
            if node.package_name == pkg.name:
                found += _check_node(node, pkg, by_name, naming)
        for node in project.disabled_nodes:
            if node.package_name == pkg.name:
                found += _check_disabled(node, pkg)
        found += _unlisted_sources(project, pkg)
    found += naming.mismatches()
    found += _check_relations(project)
    if found:
        raise ManifestError(_message(project, found))


def _check_adapter(project: DbtProject, naming: Naming) -> list[Mismatch]:
    """The manifest's adapter is the target's (one parsed for another warehouse names other
    relations)."""
    kind = naming.target.type
    if project.adapter_type and kind and kind != project.adapter_type:
        return [Mismatch("", naming.target.where, f"the manifest was parsed for a "
                         f"{project.adapter_type} target, the profile's target is {kind}")]
    return []


def _message(project: DbtProject, found: list[Mismatch]) -> str:
    shown = "\n".join(f"  - {m}" for m in found[:SHOWN])
    more = f"\n  ... and {len(found) - SHOWN} more" if len(found) > SHOWN else ""
    stale = [m for m in found if not m.unknown]
    unknown = len(found) - len(stale)
    head = (f"{project.manifest_path}: the dbt manifest does not match the project's files in "
            f"{project.project_dir} ({len(found)} difference{'s' * (len(found) != 1)})" if stale
            else f"{project.manifest_path}: the dbt manifest cannot be checked against the "
            f"project's files in {project.project_dir} without dbt ({unknown} "
            f"value{'s' * (unknown != 1)})")
    tail = ""
    if stale:
        tail += ("\nThe manifest is stale (files changed since dbt last parsed the project) or "
                 "was edited after dbt wrote it, and Lacuna reads classifications only from a "
                 f"manifest that matches the files: run `dbt parse` in {project.project_dir} "
                 "(or `lacuna compile --parse`) to write it again")
    if unknown:
        tail += ("\nValues set with Jinja (in YAML, dbt_project.yml or a config() call) are "
                 "rendered by dbt, so Lacuna cannot tell whether the manifest holds what the "
                 "files say: pass --parse (`lacuna compile --parse`, load_project(parse=True)) "
                 "to run `dbt parse` and read the manifest it has just written, or write those "
                 "values without Jinja")
    return f"{head}:\n{shown}{more}{tail}"


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


# -- one node ----------------------------------------------------------------------------------


def _check_node(node: DbtNode, pkg: _Package, by_name: Mapping[str, list[DbtNode]],
                naming: Naming) -> list[Mismatch]:
    found: list[Mismatch] = []
    scan: Scan | None = None
    entry = pkg.entries.get(_key(node))
    shown = node.original_file_path if pkg.root_config is None else \
        _shown(pkg.folder / node.original_file_path, pkg.root)
    if node.resource_type in CHECKSUMMED:
        stale, text = _check_file(node, pkg.folder, pkg.root)
        found += stale
        if stale:  # the file says nothing about this manifest any more
            return found + _check_columns(node, entry)
        if node.resource_type == "snapshot" and yaml_defined(node):
            if entry is None:
                return [*found, Mismatch(node.unique_id, shown, "no snapshots: entry of this "
                                         "YAML file defines this snapshot")]
            ref = ref_call(str(entry.data.get("relation") or ""))
            scan = Scan(None, None if ref is None else (ref,))
        elif text is not None and node.resource_type != "seed":
            scan = with_macros(scan_python(text) if node.original_file_path.endswith(".py")
                               else scan_sql(text), text, pkg.macros)
            if scan.opaque:
                return [*found, *_check_columns(node, entry), Mismatch(
                    node.unique_id, shown, f"the file has {scan.opaque}, which Lacuna does not "
                    "lex as Jinja does, so what it sets with config() (meta, tags, enabled, "
                    "schema, alias, database) and reads with ref() is only dbt's to know "
                    "(needs --parse, or the raw text moved out of the model)", unknown=True)]
            if node.compiled_sql is not None and scan.parts is not None \
                    and node.resource_type == "model":
                found += _check_compiled(node, scan.parts, by_name, shown)
    elif entry is None:  # a source: declared in YAML or nowhere
        return [Mismatch(node.unique_id, node.original_file_path or "?", "no YAML file of the "
                         "project declares this source table (added to the manifest, or "
                         "removed from the files since dbt parsed them)")]
    found += _check_columns(node, entry)
    resolved = _resolve(node, pkg, entry, scan, shown)
    if scan is not None:
        found += _check_depends(node, scan, by_name, shown,
                                hooks=resolved is None or resolved.hooks)
    if resolved is not None:
        found += _check_config(node, resolved, shown)
        found += _check_names(node, pkg, entry, resolved, naming, shown)
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


def _check_compiled(node: DbtNode, parts: Sequence[str | Ref],
                    by_name: Mapping[str, list[DbtNode]], shown: str) -> list[Mismatch]:
    """The compiled SQL Lacuna traces column lineage through, against the model's own file
    compiled the way dbt does it, when its only Jinja is ``ref('m')``, ``source('s', 't')``,
    ``config(...)`` and comments (anything else needs dbt to render: not checked)."""
    expected = _render(parts, by_name, node.package_name)
    if expected is None:
        return []
    compiled = node.compiled_sql or ""
    if compiled.strip() == expected or compiled.split() == expected.split():
        return []
    return [Mismatch(node.unique_id, shown, "the compiled SQL in the manifest is not this file "
                     "compiled (its ref() and source() resolved); run `dbt compile` or `dbt "
                     "build` again")]


def _compiled(sql: str, by_name: Mapping[str, list[DbtNode]], package: str) -> str | None:
    """``sql`` compiled as dbt does it, when its only Jinja is ref/source/config/comments."""
    parts = scan_sql(sql).parts
    return None if parts is None else _render(parts, by_name, package)


def _render(parts: Sequence[str | Ref], by_name: Mapping[str, list[DbtNode]], package: str
            ) -> str | None:
    out: list[str] = []
    for part in parts:
        if isinstance(part, str):
            out.append(part)
            continue
        target = _target(by_name, package, part)
        if target is None or target.materialized == "ephemeral" or not target.relation_name:
            return None  # unknown, ambiguous, or inlined as a CTE by dbt
        out.append(target.relation_name)
    return "".join(out).strip()


class _ByName(dict[str, list[DbtNode]]):
    """Nodes by name, remembering what each ``ref()`` resolves to (a file's refs are resolved
    for its compiled SQL and again for its ``depends_on``); ``latest``: each versioned
    model's latest version as its YAML says (an unpinned ``ref()`` means it); ``own_first``:
    the project's ``flags: require_ref_searches_node_package_before_root``."""

    def __init__(self, root: str = "", *, own_first: bool = False) -> None:
        super().__init__()
        self.root = root
        self.own_first = own_first
        self.latest: dict[tuple[str, str], str] = {}
        self.memo: dict[tuple[str, str, str | None, str | None, str | None],
                        list[DbtNode]] = {}


def _candidates(by_name: Mapping[str, list[DbtNode]], package: str, ref: Ref) -> list[DbtNode]:
    """The enabled nodes ``ref('name')``/``source('s', 'name')`` may mean: a versioned
    model's pinned version, or its latest; the root project's node first, then the referring
    node's package's, or the other way round with the behaviour flag
    ``require_ref_searches_node_package_before_root`` (``Manifest.resolve_ref`` and
    ``resolve_source``, ``_packages_to_search``)."""
    known = by_name if isinstance(by_name, _ByName) else _ByName()
    key = (package, ref.name, ref.source, ref.package, ref.version)
    if key in known.memo:
        return known.memo[key]
    if ref.source is not None:
        found = [n for n in by_name.get(ref.name, ())
                 if n.resource_type == "source" and n.source_name == ref.source]
    else:
        found = [n for n in by_name.get(ref.name, ()) if n.resource_type in CHECKSUMMED
                 and ref.package in (None, n.package_name)
                 and (n.version == ref.version if ref.version is not None else
                      n.version is None or n.version == known.latest.get((n.package_name,
                                                                           n.name)))]
    if len(found) > 1:  # dbt's _packages_to_search, then any package (ambiguous here)
        order = (package, known.root) if known.own_first else (known.root, package)
        found = next(([n for n in found if n.package_name == p] for p in order
                      if any(n.package_name == p for n in found)), found)
    known.memo[key] = found
    return found


def _said(ref: Ref) -> str:
    if ref.source is not None:
        return f"source('{ref.source}', '{ref.name}')"
    package = f"'{ref.package}', " if ref.package else ""
    version = f", v={ref.version}" if ref.version is not None else ""
    return f"ref({package}'{ref.name}'{version})"


def _target(by_name: Mapping[str, list[DbtNode]], package: str, ref: Ref) -> DbtNode | None:
    found = _candidates(by_name, package, ref)
    return found[0] if len(found) == 1 else None


def _check_depends(node: DbtNode, scan: Scan, by_name: Mapping[str, list[DbtNode]],
                   shown: str, *, hooks: bool) -> list[Mismatch]:
    """``depends_on``, through which classification is inherited, against the file's
    ``ref()``/``source()`` calls, when those are all the Jinja that could add one. dbt renders
    a node's hooks at parse time and adds their ``ref()``s too, so with ``hooks`` a parent the
    file does not read is allowed (one more parent only makes the node inherit more)."""
    if scan.refs is None:
        return []
    expected: set[str] = set()
    for ref in scan.refs:
        found = _candidates(by_name, node.package_name, ref)
        if not found:
            return [Mismatch(node.unique_id, shown, f"the file reads {_said(ref)}, which is no "
                             "enabled node of the manifest (dbt would not parse it so)")]
        if len(found) > 1:  # ambiguous (dbt would not parse it): not compared
            return []
        expected.add(found[0].unique_id)
    have = set(node.depends_on)
    wrong = []
    if lost := sorted(expected - have):
        wrong.append(f"lacks {', '.join(lost)}, which the file's ref()/source() read")
    if not hooks and (extra := sorted(have - expected)):
        wrong.append(f"adds {', '.join(extra)}, which the file does not read")
    if not wrong:
        return []
    return [Mismatch(node.unique_id, shown, f"depends_on: the manifest {' and '.join(wrong)} "
                     "(classification is inherited through depends_on)")]


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
        said = declaration(in_manifest) if in_manifest is not None else None
        if raw is not None and _declares_with_jinja(raw):  # only dbt renders it
            found.append(_unknown(node, entry.at(raw) if entry else "", f"column {name}",
                                  _say(said)))
            continue
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


def _declares_with_jinja(raw: Mapping[str, Any]) -> bool:
    """Whether Jinja is in what declares a column's class (its ``meta``/``config.meta``
    ``lacuna:``, ``floe:``, ``classification``, ``pii_type``, ``sensitivity``, or its tags)."""
    for holder in (raw, _mapping(raw.get("config"))):
        meta = holder.get("meta")
        if isinstance(meta, Mapping) and any(has_jinja(meta.get(k)) for k in _DECLARING):
            return True
        if has_jinja(holder.get("tags")):
            return True
    return False


def _say(found: tuple[dict[str, Any], str] | None) -> str:
    if found is None:
        return "nothing (no classification)"
    fields, source = found
    inner = ", ".join(f"{k}: {v}" for k, v in fields.items())
    return f"{source} {{{inner}}}"
