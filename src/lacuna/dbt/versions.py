"""A project's versioned models (``versions:`` in a model's YAML) against the manifest.

dbt makes one node per version, ``model.<package>.<name>.v<v>``, from the SQL file named
``defined_in`` or ``<name>_v<v>`` (the latest version may also be ``<name>.sql``), and resolves
an unpinned ``ref('name')`` to the latest version: ``latest_version``, else the greatest ``v``
(``ModelPatchParser.parse_patch`` in ``dbt/parser/schemas.py``; ``UnparsedVersion.__lt__``
compares as numbers when both are, else as text). Part of :mod:`lacuna.dbt.verify`.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from lacuna.dbt.manifest import DbtNode, DbtProject, version_order
from lacuna.dbt.properties import as_list, resource_files
from lacuna.dbt.verify_nodes import Mismatch, _Package


def _declared(data: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [v for v in as_list(data.get("versions"))
            if isinstance(v, Mapping) and v.get("v") is not None]


def latest(data: Mapping[str, Any]) -> str | None:
    """The latest version of a model's YAML entry (``None``: not versioned)."""
    versions = _declared(data)
    if not versions:
        return None
    if data.get("latest_version") is not None:
        return str(data["latest_version"])
    return max((str(v["v"]) for v in versions), key=functools.cmp_to_key(version_order))


def latest_versions(pkg: _Package) -> dict[tuple[str, str], str]:
    """``(package, model) -> latest version`` of the package's versioned models."""
    out: dict[tuple[str, str], str] = {}
    for key, entry in pkg.entries.items():
        if key[0] == "model" and (found := latest(entry.data)) is not None:
            out[(pkg.name, key[2])] = found
    return out


def check_versions(project: DbtProject, pkg: _Package) -> list[Mismatch]:
    """Each version the YAML declares (whose file exists) is a node of the manifest, enabled
    or disabled, read from its own file; the manifest has no version the YAML does not declare.
    (A version dropped, or pointed at another version's file, would change what an unpinned
    ``ref()`` and the version's classification resolve to.)"""
    have: dict[str, dict[str, DbtNode]] = {}
    for node in (*project.nodes.values(), *project.disabled_nodes):
        if node.package_name == pkg.name and node.resource_type == "model" \
                and node.version is not None:
            have.setdefault(node.name, {})[node.version] = node
    if not have and not any(k[0] == "model" and "versions" in e.data
                            for k, e in pkg.entries.items()):
        return []
    stems = {p.stem for p in resource_files(pkg.folder, pkg.config, "model-paths",
                                            (".sql", ".py"))}
    found: list[Mismatch] = []
    for key, entry in pkg.entries.items():
        if key[0] != "model":
            continue
        name, nodes = key[2], have.pop(key[2], {})
        newest = latest(entry.data)
        for item in _declared(entry.data):
            v = str(item["v"])
            stem = str(item.get("defined_in") or f"{name}_v{v}")
            if stem not in stems and v == newest:
                stem = name  # the latest version may be the unsuffixed file
            one: DbtNode | None = nodes.pop(v) if v in nodes else None
            if one is None:
                if stem in stems:
                    found.append(Mismatch(f"model.{pkg.name}.{name}.v{v}", entry.at(item),
                                          f"the YAML declares version {v}, read from "
                                          f"{stem}, but the manifest has no node of it "
                                          "(enabled or disabled)"))
            elif Path(one.original_file_path).stem != stem:
                found.append(Mismatch(one.unique_id, entry.at(item), f"the manifest reads "
                                      f"version {v} from {one.original_file_path}, dbt reads "
                                      f"it from {stem} (defined_in, else <name>_v<version>)"))
        found += [Mismatch(n.unique_id, entry.at(entry.data), f"the manifest has version {v} "
                           f"of {name}, which the YAML does not declare")
                  for v, n in nodes.items()]
    found += [Mismatch(n.unique_id, n.original_file_path, f"the manifest makes this a version "
                       f"of {n.name}, but no YAML file of the project declares its versions")
              for nodes in have.values() for n in nodes.values()]
    return found
