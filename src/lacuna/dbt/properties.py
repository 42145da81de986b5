"""The parts of a dbt project's properties YAML that Lacuna compares with its manifest.

:func:`entries` reads every ``.yml``/``.yaml`` file of a project's (or package's) resource
paths once and returns each model's, seed's, snapshot's and source table's entry, by node, with
only the keys classification reads built (PyYAML composes the rest, which is most of the cost)
and the line of every mapping, for messages. A file that mentions no classification word is
not parsed at all. Used by :mod:`lacuna.dbt.verify`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml

from lacuna.dbt.manifest import ManifestError, _merged_meta, _tags

# dbt_project.yml keys of the folders dbt reads properties YAML from, with dbt's defaults
RESOURCE_PATHS = {
    "model-paths": ("models",), "seed-paths": ("seeds",), "snapshot-paths": ("snapshots",),
    "analysis-paths": ("analyses",), "macro-paths": ("macros",), "test-paths": ("tests",),
    "function-paths": ("functions",),
}

_SECTIONS = {"models": "model", "seeds": "seed", "snapshots": "snapshot"}


@dataclass(frozen=True, slots=True)
class Entry:
    """A node's entry in a properties file."""

    data: Mapping[str, Any]
    file: str  # relative to the project
    lines: Mapping[int, int]  # id(mapping) -> line
    # a source table's: its source's meta (the table's keys win, shallowly, as dbt merges them)
    # and tags (added to the table's)
    parent_meta: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    parent_tags: tuple[str, ...] = ()
    parent: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))  # source
    # the file's folders below its resource path (a source's fqn is the package, these, the
    # source and the table)
    dirs: tuple[str, ...] = ()

    def at(self, mapping: Any) -> str:
        line = self.lines.get(id(mapping))
        return f"{self.file}:{line}" if line else self.file


_Loader: Any = yaml.CSafeLoader if yaml.__with_libyaml__ else yaml.SafeLoader
_MERGE = "tag:yaml.org,2002:merge"
# what is built of a properties file: the rest (descriptions, tests, docs) is only composed
# (descriptions and tests: what the quality gates of lacuna compile count, lacuna.dbt.verify_tests)
_GATED = ("description", "data_tests", "tests", "freshness")
_ENTRY_KEYS = frozenset({"name", "meta", "config", "tags", "columns", "versions", "tables",
                         "schema", "database", "identifier", "overrides", "latest_version",
                         "relation", *_GATED})
_VERSION_KEYS = frozenset({"v", "defined_in", "config", "columns", *_GATED})
_COLUMN_KEYS = frozenset({"name", "meta", "config", "tags", "include", "exclude", *_GATED})
_TOP_KEYS = frozenset({*_SECTIONS, "sources"})
# a file without any of these (keys are case-sensitive; a backslash may escape one) declares
# no classification, enables, disables, renames or declares a source, so the manifest must say
# none of that for the nodes it lists either
_RELEVANT = ("lacuna", "floe", "classification", "pii_type", "sensitivity", "tags", "enabled",
             "alias", "schema", "database", "sources", "versions", "relation:", "description",
             "tests", "\\")


class _Built:
    """Builds the parts of a composed YAML document Lacuna compares, recording each mapping's
    line (by ``id``) for messages; a mapping with a YAML merge key (``<<:``) is built whole."""

    def __init__(self, loader: Any) -> None:
        self.loader = loader
        self.lines: dict[int, int] = {}

    def value(self, node: Any) -> Any:
        return self.loader.construct_object(node, deep=True)

    def pick(self, node: Any, keys: frozenset[str], nested: dict[str, Any]) -> Any:
        if not isinstance(node, yaml.MappingNode) or any(k.tag == _MERGE for k, _ in node.value):
            out = self.value(node)
        else:
            out = {}
            for k, v in node.value:
                key = k.value if isinstance(k, yaml.ScalarNode) else None
                if key in keys:
                    each = nested.get(key)
                    out[key] = each(v) if each else self.value(v)
        self.lines[id(out)] = node.start_mark.line + 1
        return out

    def items(self, node: Any, keys: frozenset[str], nested: dict[str, Any]) -> Any:
        if not isinstance(node, yaml.SequenceNode):
            return self.value(node)
        return [self.pick(v, keys, nested) for v in node.value]

    def column_list(self, node: Any) -> Any:
        return self.items(node, _COLUMN_KEYS, {})

    def version_list(self, node: Any) -> Any:
        return self.items(node, _VERSION_KEYS, {"columns": self.column_list})

    def entry_list(self, node: Any) -> Any:
        return self.items(node, _ENTRY_KEYS, {"columns": self.column_list,
                                              "tables": self.entry_list,
                                              "versions": self.version_list})


def _load(path: Path) -> tuple[Any, dict[int, int]]:
    """The node entries of a properties YAML file (only what is compared), and their lines."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        msg = f"{path}: cannot read this dbt YAML file ({exc}); dbt could not either"
        raise ManifestError(msg) from None
    if not any(word in text for word in _RELEVANT):
        return None, {}  # it can declare no classification: nothing to build
    loader = _Loader(text)
    built = _Built(loader)
    try:
        root = loader.get_single_node()
        data = None if root is None else built.pick(
            root, _TOP_KEYS, dict.fromkeys(_TOP_KEYS, built.entry_list))
    except yaml.YAMLError as exc:
        msg = f"{path}: not valid YAML ({exc}); fix it and run `dbt parse`"
        raise ManifestError(msg) from None
    finally:
        loader.dispose()
    return data, built.lines


def read_yaml_mapping(path: Path) -> Mapping[str, Any]:
    """A YAML file's top-level mapping (``dbt_project.yml``), ``{}`` when it is not one."""
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader)
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        msg = f"{path}: cannot read it ({exc}); fix it and run `dbt parse`"
        raise ManifestError(msg) from None
    return data if isinstance(data, Mapping) else {}


def resource_paths(config: Mapping[str, Any], key: str) -> list[str]:
    """The ``key`` paths (``model-paths``, ...) of a project's ``dbt_project.yml``
    (``config``), dbt's default folder when it names none."""
    value = config.get(key) or (config.get("source-paths") if key == "model-paths" else None)
    return [str(v) for v in ([value] if isinstance(value, str) else
                             list(value or RESOURCE_PATHS[key]))]


def resource_files(folder: Path, config: Mapping[str, Any], key: str,
                   suffixes: tuple[str, ...]) -> list[Path]:
    """The files ending in ``suffixes`` under the ``key`` paths of ``config``."""
    files: list[Path] = []
    for each in resource_paths(config, key):
        base = folder / each
        if base.is_dir():
            files += [p for p in base.rglob("*") if p.suffix in suffixes and p.is_file()]
    return sorted(set(files))


def resource_dirs(rel: str, config: Mapping[str, Any], key: str) -> tuple[str, ...] | None:
    """The folders of a file (``rel``: relative to its project) below the ``key`` path it is
    under (what dbt puts in a node's fqn), ``None`` when it is under none."""
    parts = tuple(rel.split("/"))
    for base in resource_paths(config, key):
        prefix = tuple(p for p in base.strip("/").split("/") if p not in ("", "."))
        if parts[:len(prefix)] == prefix and len(parts) > len(prefix):
            return parts[len(prefix):-1]
    return None


def _yaml_files(folder: Path, config: Mapping[str, Any]) -> dict[Path, tuple[str, ...]]:
    """Each YAML file of the resource paths, with its folders below the one it was found in."""
    out: dict[Path, tuple[str, ...]] = {}
    for key in RESOURCE_PATHS:
        for each in resource_paths(config, key):
            base = folder / each
            if base.is_dir():
                for p in base.rglob("*"):
                    if p.suffix in (".yml", ".yaml") and p.is_file():
                        out.setdefault(p, p.relative_to(base).parts[:-1])
    return dict(sorted(out.items()))


def entries(folder: Path, config: Mapping[str, Any], package: str, *, rel_to: Path
            ) -> dict[tuple[str, ...], Entry]:
    """Every node entry of a package's properties YAML, each file read once.

    Keys: ``(kind, package, name)``, and ``("source", package, source, table)`` for a source
    table. Paths in the entries are relative to ``rel_to`` (the root project).

    Raises:
        ManifestError: a YAML file that cannot be read or parsed (dbt could not either).
    """
    out: dict[tuple[str, ...], Entry] = {}
    for path, dirs in _yaml_files(folder, config).items():
        data, lines = _load(path)
        if not isinstance(data, Mapping):
            continue
        try:
            rel = path.relative_to(rel_to).as_posix()
        except ValueError:
            rel = path.as_posix()
        for section, kind in _SECTIONS.items():
            for item in as_list(data.get(section)):
                if isinstance(item, Mapping) and item.get("name") is not None:
                    out[(kind, package, str(item["name"]))] = Entry(item, rel, lines, dirs=dirs)
        for source in as_list(data.get("sources")):
            if not isinstance(source, Mapping) or source.get("name") is None \
                    or source.get("overrides"):  # a package's source, patched: not this one's
                continue
            parent_meta, parent_tags = _merged_meta(source), _tags(source)
            for table in as_list(source.get("tables")):
                if isinstance(table, Mapping) and table.get("name") is not None:
                    out[("source", package, str(source["name"]), str(table["name"]))] = \
                        Entry(table, rel, lines, parent_meta, parent_tags, source, dirs)
    return out


def as_list(value: Any) -> list[Any]:
    """``value`` if it is a list, else ``[]``."""
    return value if isinstance(value, list) else []


def has_jinja(value: Any) -> bool:
    """Whether a YAML value holds Jinja dbt renders (``{{ }}``, ``{% %}``) anywhere."""
    if isinstance(value, str):
        return "{{" in value or "{%" in value
    if isinstance(value, Mapping):
        return any(has_jinja(v) for v in value.values())
    if isinstance(value, list):
        return any(has_jinja(v) for v in value)
    return False
