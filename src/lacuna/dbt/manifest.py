"""A dbt project as Lacuna sees it: ``target/manifest.json`` loaded into frozen objects.

:func:`load_project` reads the manifest (running ``dbt parse`` first when asked) and returns a
:class:`DbtProject`: its models, seeds, snapshots and sources as :class:`DbtNode` (meta merged
from ``meta`` and ``config.meta``, columns with their own merged meta, tags, type and
constraints, parents, compiled SQL) and its data tests as :class:`DbtTest`, linked to the node
and column they test whether dbt says so with ``attached_node`` + ``column_name`` or only with
``depends_on``.

dbt itself is optional: it is only run for ``parse=True``, found through ``$LACUNA_DBT``, then
``PATH``, then a ``.venv-dbt`` next to the project or Lacuna's checkout (:func:`find_dbt`).

Example:
    >>> project = load_project("examples/dbt_project")          # doctest: +SKIP
    >>> project.node("bronze_customers").columns["ssn"].meta      # doctest: +SKIP
    {'floe': {'classification': 'pii', 'pii_type': 'ssn', 'sensitivity': 'critical'}}
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml

from lacuna.errors import ConfigError, IntegrationError

MANIFEST = "manifest.json"
RUN_RESULTS = "run_results.json"
# The node kinds that hold data; tests are kept apart (DbtProject.tests).
DATA_NODES = ("model", "seed", "snapshot", "source")
DBT_TIMEOUT_S = 600

_EMPTY: Mapping[str, Any] = MappingProxyType({})


class ManifestError(ConfigError):
    """A dbt manifest is missing, unreadable or not a dbt manifest."""


@dataclass(frozen=True, slots=True, kw_only=True)
class DbtColumn:
    """One column of a node as declared in the project's YAML."""

    name: str
    description: str = ""
    meta: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)
    tags: tuple[str, ...] = ()
    data_type: str | None = None
    constraints: tuple[Mapping[str, Any], ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class DbtTest:
    """A data test and what it tests.

    ``test_name`` is the generic test's name (``not_null``, ``unique``, ``relationships``, ...)
    from ``test_metadata.name``; ``None`` for a singular test (a SQL file under ``tests/``).
    ``nodes`` are the tested data nodes: ``attached_node`` when dbt set it, else every data node
    in ``depends_on``.
    """

    unique_id: str
    name: str
    test_name: str | None
    nodes: tuple[str, ...]
    column_name: str | None = None
    kwargs: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)
    severity: str = "ERROR"
    tags: tuple[str, ...] = ()
    original_file_path: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class DbtNode:
    """A model, seed, snapshot or source."""

    unique_id: str
    name: str
    resource_type: str
    package_name: str
    path: str  # relative to its resource folder (models/, seeds/, ...)
    original_file_path: str  # relative to the project
    folder: str  # the node's folder under its resource folder, "" at the top ("gold/finance")
    fqn: tuple[str, ...] = ()
    description: str = ""
    tags: tuple[str, ...] = ()
    meta: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)
    columns: Mapping[str, DbtColumn] = field(default_factory=lambda: _EMPTY)
    depends_on: tuple[str, ...] = ()
    compiled_sql: str | None = None
    raw_sql: str | None = None
    database: str | None = None
    schema: str | None = None
    alias: str | None = None
    relation_name: str | None = None
    materialized: str | None = None
    primary_key: tuple[str, ...] = ()
    constraints: tuple[Mapping[str, Any], ...] = ()
    patch_path: str | None = None  # the YAML file that documents it, relative to the project
    tests: tuple[DbtTest, ...] = ()
    source_name: str | None = None  # a source table's source (``sources: - name:``)
    checksum: tuple[str, str] | None = None  # dbt's (hash name, value) of original_file_path
    version: str | None = None  # a versioned model's version
    latest_version: str | None = None  # its model's latest version (what ref('name') reads)
    freshness: bool = False  # a source with a freshness check (warn_after or error_after)

    @property
    def table(self) -> str:
        """The relation's name in the warehouse (alias, or identifier for a source)."""
        return self.alias or self.name

    @property
    def dataset_name(self) -> str:
        """The node's own name in records, reads and lineage: its ``name``, and for a version
        of a versioned model ``<name>.v<version>`` (the end of dbt's unique id), so that no
        two versions share one name (``dbt://<project>/dim_customers.v2``)."""
        return f"{self.name}.v{self.version}" if self.version is not None else self.name

    @property
    def is_latest(self) -> bool:
        """Not versioned, or the version an unpinned ``ref('name')`` reads."""
        return self.version is None or self.version == self.latest_version

    def column_tests(self, column: str) -> tuple[DbtTest, ...]:
        """The tests of one column (matched case-insensitively, as warehouses do)."""
        key = column.lower()
        return tuple(t for t in self.tests if (t.column_name or "").lower() == key)


@dataclass(frozen=True, slots=True, kw_only=True)
class DbtProject:
    """A parsed dbt project: its data nodes, tests and DAG."""

    name: str
    project_dir: Path
    manifest_path: Path
    adapter_type: str | None = None
    dbt_version: str | None = None
    invocation_id: str | None = None
    nodes: Mapping[str, DbtNode] = field(default_factory=lambda: _EMPTY)
    tests: Mapping[str, DbtTest] = field(default_factory=lambda: _EMPTY)
    children: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: _EMPTY)
    # (package, original_file_path) of the disabled nodes (the manifest's ``disabled``)
    disabled: frozenset[tuple[str, str]] = frozenset()
    # the disabled models, seeds, snapshots and sources themselves
    disabled_nodes: tuple[DbtNode, ...] = ()

    @property
    def target_dir(self) -> Path:
        return self.manifest_path.parent

    def of_type(self, *resource_types: str) -> tuple[DbtNode, ...]:
        return tuple(n for n in self.nodes.values() if n.resource_type in resource_types)

    @property
    def models(self) -> tuple[DbtNode, ...]:
        return self.of_type("model")

    def node(self, name_or_id: str) -> DbtNode:
        """A node by unique id, or by name (the project's own node first). A version of a
        versioned model is ``<name>.v<version>``; its plain name is its latest version, as an
        unpinned ``ref('name')`` in dbt (``latest_version``, else the greatest version)."""
        found = self.nodes.get(name_or_id)
        if found is not None:
            return found
        matches = [n for n in self.nodes.values() if n.dataset_name == name_or_id]
        if not matches:
            named = [n for n in self.nodes.values() if n.name == name_or_id]
            matches = [n for n in named if n.version is None] or _latest(named)
        matches.sort(key=lambda n: (n.package_name != self.name, n.resource_type != "model"))
        if not matches:
            known = ", ".join(sorted(n.dataset_name for n in self.models)[:20])
            msg = (f"no model, seed, snapshot or source named {name_or_id!r} in dbt project "
                   f"{self.name!r} ({self.manifest_path}); models: {known or 'none'}")
            raise ManifestError(msg)
        return matches[0]

    def topological(self) -> Iterator[DbtNode]:
        """Data nodes, parents before children (ties in manifest order)."""
        remaining = {uid: [p for p in n.depends_on if p in self.nodes]
                     for uid, n in self.nodes.items()}
        done: set[str] = set()
        order: list[str] = []
        stack: list[tuple[str, bool]] = [(uid, False) for uid in reversed(list(remaining))]
        while stack:
            uid, expanded = stack.pop()
            if uid in done:
                continue
            if expanded:
                done.add(uid)
                order.append(uid)
                continue
            stack.append((uid, True))
            stack.extend((p, False) for p in reversed(remaining[uid]) if p not in done)
        for uid in order:
            yield self.nodes[uid]


def version_order(a: str, b: str) -> int:
    """dbt's order of two versions: as numbers when both are, else as text
    (``UnparsedVersion.__lt__``)."""
    try:
        x, y = float(a), float(b)
    except ValueError:
        return (a > b) - (a < b)
    return (x > y) - (x < y)


def _latest(versions: Sequence[DbtNode]) -> list[DbtNode]:
    """The latest of the versions of one model (per package): its ``latest_version``, else the
    greatest version (fail closed on a manifest without ``latest_version``: never an older
    version's classification for what ``ref('name')`` reads)."""
    out = []
    for package in dict.fromkeys(n.package_name for n in versions):
        mine = [n for n in versions if n.package_name == package and n.version is not None]
        named = [n for n in mine if n.is_latest]
        if not named and mine:
            key = functools.cmp_to_key(version_order)
            named = [max(mine, key=lambda n: key(n.version or ""))]
        out += named
    return out


# -- loading -----------------------------------------------------------------------------------


def load_project(
    project_dir: str | os.PathLike[str] = ".",
    *,
    manifest: str | os.PathLike[str] | None = None,
    parse: bool = False,
    verify: bool = True,
    target: str | None = None,
) -> DbtProject:
    """Load a dbt project's manifest.

    Without ``parse``, the manifest is checked against the project's files first
    (:func:`lacuna.dbt.verify.verify_manifest`): its columns' classification meta against the
    YAML, and each model's, seed's and snapshot's file against dbt's checksum. Anyone who can
    write ``target/`` could otherwise declassify a column without a code review.

    Args:
        project_dir: the folder holding ``dbt_project.yml``.
        manifest: the manifest file; default ``<target-path>/manifest.json`` of the project.
        parse: run ``dbt parse`` first (needs dbt; see :func:`find_dbt`).
        verify: check the manifest against the project's files (``False``: believe it as it
            is, for a manifest knowingly used without its project; docs/dbt.md).
        target: the profile's output dbt runs with (``dbt --target``; default
            ``$DBT_TARGET``, else the profile's ``target:``): ``dbt parse`` gets it, and the
            manifest's relation names are checked against its schema and database.

    Raises:
        ManifestError: no manifest (with the command that makes one), unreadable JSON (with its
            line and column), not a dbt manifest, or (``verify``) a manifest that does not
            match the project's files, or whose project files are missing.
        IntegrationError: ``parse=True`` and dbt is missing or ``dbt parse`` failed.
    """
    root = Path(project_dir).expanduser().resolve()
    if parse:
        run_dbt(["parse", *(("--target", target) if target else ())], root)
    path = Path(manifest).expanduser().resolve() if manifest else target_dir(root) / MANIFEST
    project = parse_manifest(read_json(path, what="dbt manifest", project_dir=root), root, path)
    if verify and not parse:  # dbt parse has just written it from the files
        from lacuna.dbt.verify import verify_manifest

        verify_manifest(project, target=target)
    return project


def target_dir(project_dir: Path) -> Path:
    """The project's ``target-path`` (``dbt_project.yml``; ``DBT_TARGET_PATH`` wins)."""
    env = os.environ.get("DBT_TARGET_PATH")
    configured: Any = env
    if not configured:
        try:
            data = yaml.safe_load((project_dir / "dbt_project.yml").read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError):
            data = None
        configured = data.get("target-path") if isinstance(data, Mapping) else None
    target = Path(str(configured or "target"))
    return target if target.is_absolute() else project_dir / target


def read_json(path: Path, *, what: str, project_dir: Path) -> Mapping[str, Any]:
    """A dbt artifact as a mapping, or a :class:`ManifestError` that says what to run."""
    try:
        text = path.read_bytes()
    except FileNotFoundError:
        command = "dbt parse" if path.name == MANIFEST else "dbt build"
        msg = (f"no {what} at {path}: run `{command}` in {project_dir} first (or pass --parse "
               "to let Lacuna run it), or point --project-dir at the dbt project")
        raise ManifestError(msg) from None
    except OSError as exc:
        msg = f"cannot read the {what} {path}: {exc.strerror or exc}"
        raise ManifestError(msg) from None
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        where = f"{path}:{exc.lineno}:{exc.colno}" if isinstance(exc, json.JSONDecodeError) \
            else str(path)
        msg = (f"{where}: the {what} is not valid JSON ({type(exc).__name__}); it is corrupt "
               f"or was cut short: delete it and run `dbt parse` in {project_dir} again")
        raise ManifestError(msg) from None
    if not isinstance(data, Mapping):
        msg = f"{path}: the {what} is not a JSON object; is this a dbt artifact?"
        raise ManifestError(msg)
    return data


def parse_manifest(data: Mapping[str, Any], project_dir: Path, path: Path) -> DbtProject:
    """Build a :class:`DbtProject` from a manifest's JSON."""
    metadata = data.get("metadata")
    raw_nodes = data.get("nodes")
    if not isinstance(metadata, Mapping) or not isinstance(raw_nodes, Mapping):
        msg = (f"{path}: not a dbt manifest (no 'metadata' and 'nodes'); give the "
               "target/manifest.json that `dbt parse` writes")
        raise ManifestError(msg)
    sources = data.get("sources") or {}
    tests: dict[str, DbtTest] = {}
    nodes: dict[str, DbtNode] = {}
    for uid, raw in _items(raw_nodes, path):
        kind = raw.get("resource_type")
        if kind == "test":
            tests[uid] = _test(uid, raw)
        elif kind in DATA_NODES:
            nodes[uid] = _node(uid, raw)
    for uid, raw in _items(sources, path):
        nodes[uid] = _node(uid, raw)
    by_node: dict[str, list[DbtTest]] = {}
    for test in tests.values():
        for target in test.nodes:
            by_node.setdefault(target, []).append(test)
    for uid, linked in by_node.items():
        node = nodes.get(uid)
        if node is not None:
            nodes[uid] = _with_tests(node, tuple(linked))
    children: dict[str, list[str]] = {}
    for uid, node in nodes.items():
        for parent in node.depends_on:
            children.setdefault(parent, []).append(uid)
    return DbtProject(
        name=str(metadata.get("project_name") or project_dir.name),
        project_dir=project_dir,
        manifest_path=path,
        adapter_type=_opt_str(metadata.get("adapter_type")),
        dbt_version=_opt_str(metadata.get("dbt_version")),
        invocation_id=_opt_str(metadata.get("invocation_id")),
        nodes=MappingProxyType(nodes),
        tests=MappingProxyType(tests),
        children=MappingProxyType({k: tuple(v) for k, v in children.items()}),
        disabled=_disabled(data.get("disabled")),
        disabled_nodes=_disabled_nodes(data.get("disabled")),
    )


def _disabled(section: Any) -> frozenset[tuple[str, str]]:
    out: set[tuple[str, str]] = set()
    for versions in _mapping(section).values():
        for raw in versions if type(versions) is list else ():
            if type(raw) is dict:
                out.add((str(raw.get("package_name") or ""),
                         str(raw.get("original_file_path") or "")))
    return frozenset(out)


def _disabled_nodes(section: Any) -> tuple[DbtNode, ...]:
    return tuple(_node(str(raw.get("unique_id") or uid), raw)
                 for uid, versions in _mapping(section).items()
                 for raw in (versions if type(versions) is list else ())
                 if type(raw) is dict and raw.get("resource_type") in DATA_NODES)


def _items(section: Any, path: Path) -> Iterable[tuple[str, Mapping[str, Any]]]:
    if not isinstance(section, Mapping):
        msg = f"{path}: a manifest section is not an object; regenerate it with `dbt parse`"
        raise ManifestError(msg)
    for uid, raw in section.items():
        if isinstance(raw, Mapping):
            yield str(uid), raw


def _with_tests(node: DbtNode, tests: tuple[DbtTest, ...]) -> DbtNode:
    # dataclasses.replace on a slotted frozen class is slow-ish; build directly.
    values = {f: getattr(node, f) for f in DbtNode.__dataclass_fields__}
    values["tests"] = tests
    return DbtNode(**values)


def _opt_str(value: Any) -> str | None:
    return str(value) if value not in (None, "") else None


def _mapping(value: Any) -> dict[str, Any]:
    # JSON gives plain dicts; the exact type check is the hot path of a big manifest
    return value if type(value) is dict else {}


def _merged_meta(raw: Mapping[str, Any]) -> Mapping[str, Any]:
    """``meta`` and ``config.meta`` as one mapping (``config.meta`` wins; namespaces merge)."""
    meta = dict(_mapping(raw.get("meta")))
    for key, value in _mapping(_mapping(raw.get("config")).get("meta")).items():
        if type(value) is dict and type(meta.get(key)) is dict:
            meta[key] = {**meta[key], **value}
        else:
            meta[key] = value
    return MappingProxyType(meta)


def _strings(value: Any) -> tuple[str, ...]:
    if not value:
        return ()
    if type(value) is str:
        return (value,)
    if type(value) is list or isinstance(value, Sequence):
        return tuple(str(v) for v in value if v is not None)
    return ()


def _tags(raw: Mapping[str, Any]) -> tuple[str, ...]:
    tags = _strings(raw.get("tags"))
    config_tags = _strings(_mapping(raw.get("config")).get("tags"))
    if not config_tags:
        return tags
    return tuple(dict.fromkeys((*tags, *config_tags)))


def _column(name: str, raw: Mapping[str, Any]) -> DbtColumn:
    return DbtColumn(
        name=str(raw.get("name") or name),
        description=str(raw.get("description") or ""),
        meta=_merged_meta(raw),
        tags=_tags(raw),
        data_type=_opt_str(raw.get("data_type")),
        constraints=_constraints(raw.get("constraints")),
    )


def _constraints(value: Any) -> tuple[Mapping[str, Any], ...]:
    if not value:
        return ()
    return tuple(MappingProxyType(c) for c in value if type(c) is dict)


def _node(uid: str, raw: Mapping[str, Any]) -> DbtNode:
    kind = str(raw.get("resource_type") or uid.split(".", 1)[0])
    config = _mapping(raw.get("config"))
    columns = {str(k): _column(str(k), v) for k, v in _mapping(raw.get("columns")).items()
               if type(v) is dict}
    fqn = _strings(raw.get("fqn"))
    rel_path = str(raw.get("path") or "")
    folder = "/".join(Path(rel_path).parts[:-1]) if kind != "source" else ""
    depends = _mapping(raw.get("depends_on")).get("nodes")
    name = str(raw.get("name") or uid.rsplit(".", 1)[-1])
    return DbtNode(
        unique_id=uid,
        name=name,
        resource_type=kind,
        package_name=str(raw.get("package_name") or ""),
        path=rel_path,
        original_file_path=str(raw.get("original_file_path") or ""),
        folder=folder,
        fqn=fqn,
        description=str(raw.get("description") or ""),
        tags=_tags(raw),
        meta=_merged_meta(raw),
        columns=MappingProxyType(columns),
        depends_on=_strings(depends),
        compiled_sql=_opt_str(raw.get("compiled_code") or raw.get("compiled_sql")),
        raw_sql=_opt_str(raw.get("raw_code") or raw.get("raw_sql")),
        database=_opt_str(raw.get("database")),
        schema=_opt_str(raw.get("schema")),
        alias=_opt_str(raw.get("alias") or raw.get("identifier")),
        relation_name=_opt_str(raw.get("relation_name")),
        materialized=_opt_str(config.get("materialized")),
        primary_key=_strings(raw.get("primary_key")),
        constraints=_constraints(raw.get("constraints")),
        patch_path=_patch_path(raw, kind),
        source_name=_opt_str(raw.get("source_name")) if kind == "source" else None,
        checksum=_checksum(raw.get("checksum")),
        version=_opt_str(raw.get("version")),
        latest_version=_opt_str(raw.get("latest_version")),
        freshness=kind == "source" and _fresh(raw.get("freshness")),
    )


def _fresh(value: Any) -> bool:
    """Whether a source's ``freshness`` configures a check: a count in ``warn_after`` or
    ``error_after``."""
    return type(value) is dict and any(
        type(value.get(k)) is dict and bool(value[k].get("count"))
        for k in ("warn_after", "error_after"))


def _checksum(value: Any) -> tuple[str, str] | None:
    if type(value) is not dict or not isinstance(value.get("name"), str):
        return None
    return value["name"], str(value.get("checksum") or "")


def _patch_path(raw: Mapping[str, Any], kind: str) -> str | None:
    if kind == "source":  # a source is declared in the YAML file itself
        return _opt_str(raw.get("original_file_path"))
    patch = raw.get("patch_path")
    if not patch:
        return None
    return str(patch).split("://", 1)[-1]


def _test(uid: str, raw: Mapping[str, Any]) -> DbtTest:
    metadata = _mapping(raw.get("test_metadata"))
    kwargs = _mapping(metadata.get("kwargs"))
    attached = raw.get("attached_node")
    if attached:
        targets: tuple[str, ...] = (str(attached),)
    else:
        depends = _strings(_mapping(raw.get("depends_on")).get("nodes"))
        targets = tuple(d for d in depends if d.split(".", 1)[0] in DATA_NODES)
    column = raw.get("column_name") or kwargs.get("column_name")
    return DbtTest(
        unique_id=uid,
        name=str(raw.get("name") or uid),
        test_name=_opt_str(metadata.get("name")),
        nodes=targets,
        column_name=str(column) if column else None,
        kwargs=MappingProxyType(kwargs),
        severity=str(_mapping(raw.get("config")).get("severity") or "ERROR").upper(),
        tags=_tags(raw),
        original_file_path=str(raw.get("original_file_path") or ""),
    )


# -- running dbt -------------------------------------------------------------------------------


def find_dbt(project_dir: str | os.PathLike[str] | None = None) -> Path | None:
    """The dbt executable: ``$LACUNA_DBT``, then ``PATH``, then a ``.venv-dbt/bin/dbt`` in the
    project's folder or one above it, or in Lacuna's own checkout."""
    env = os.environ.get("LACUNA_DBT")
    if env:
        return Path(env) if Path(env).is_file() else None
    found = shutil.which("dbt")
    if found:
        return Path(found)
    starts = [Path(project_dir).resolve()] if project_dir else []
    # Lacuna's checkout, and the folder of the virtualenv Lacuna runs in (a git worktree
    # shares its main checkout's environments)
    starts += [Path(__file__).resolve(), Path(sys.prefix).resolve().parent]
    for start in starts:
        for folder in (start, *start.parents):
            candidate = folder / ".venv-dbt" / "bin" / "dbt"
            if candidate.is_file():
                return candidate
    return None


HASH_KEY_ENV = "LACUNA_DBT_HASH_KEY"
SECRET_TWIN = "DBT_ENV_SECRET_" + HASH_KEY_ENV


def scrubbed_env(env: Mapping[str, str]) -> dict[str, str]:
    """``env`` with the hash key (``LACUNA_DBT_HASH_KEY``) also set as ``DBT_ENV_SECRET_…``.

    ``lacuna.govern()`` sends the key to the warehouse in a statement of its own, and dbt's debug
    log (``logs/dbt.log``) records every statement. dbt replaces the value of every
    ``DBT_ENV_SECRET_*`` variable with ``*****`` in what it logs and prints, but a model may not
    read such a variable: so the macro reads the plain name and dbt is given the same value under
    the secret name, to scrub. (Run dbt yourself? Set both: docs/dbt.md.)
    """
    out = dict(env)
    key = out.get(HASH_KEY_ENV)
    if key:
        out[SECRET_TWIN] = key
    return out


def run_dbt(
    args: Sequence[str],
    project_dir: str | os.PathLike[str],
    *,
    env: Mapping[str, str] | None = None,
    check: bool = True,
    timeout: float = DBT_TIMEOUT_S,
) -> subprocess.CompletedProcess[str]:
    """Run ``dbt ARGS`` in the project (``--profiles-dir`` is the project when it holds a
    ``profiles.yml`` and ``DBT_PROFILES_DIR`` is unset); ``DO_NOT_TRACK=1`` always; the hash
    key is scrubbed from dbt's logs and output (:func:`scrubbed_env`).

    Raises:
        IntegrationError: dbt is not installed, or (``check``) it exited non-zero; the message
            carries the end of dbt's output.
    """
    root = Path(project_dir).resolve()
    dbt = find_dbt(root)
    if dbt is None:
        msg = ('dbt was not found: install it (pip install "dbt-core<1.12" dbt-duckdb), put it '
               "on PATH, or set LACUNA_DBT to the dbt executable")
        raise IntegrationError(msg)
    full_env = scrubbed_env({**os.environ, "DO_NOT_TRACK": "1", **(env or {})})
    command = [str(dbt), *args]
    if (root / "profiles.yml").is_file() and "DBT_PROFILES_DIR" not in full_env \
            and "--profiles-dir" not in args:
        command += ["--profiles-dir", str(root)]
    try:
        done = subprocess.run(command, cwd=root, env=full_env, capture_output=True, text=True,
                              timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        msg = f"`dbt {' '.join(args)}` in {root} did not finish within {timeout:.0f} s"
        raise IntegrationError(msg) from None
    if check and done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-15:])
        msg = f"`dbt {' '.join(args)}` failed in {root} (exit {done.returncode}):\n{tail}"
        raise IntegrationError(msg)
    return done
