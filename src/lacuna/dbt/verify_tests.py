"""The data tests and descriptions of a dbt manifest against the project's files.

``lacuna compile``'s quality gates count a manifest's tests (coverage, ``not_null_pk``,
``unique_pk``, freshness tests) and its descriptions (``documentation``). Like classification,
they reach the manifest from files that go through review, and could be added to
``target/manifest.json`` by anyone who can write it, turning a failing gate green. So, as part
of :func:`lacuna.dbt.verify.verify_manifest`:

- a **generic test** (``test_metadata.name``: ``not_null``, ``dbt_utils.unique_combination_of_
  columns``, ...) must be listed under ``data_tests:``/``tests:`` of the YAML entry of the node
  it is attached to: of its column (``column_name``, a versioned model's version's columns
  too), or of the node itself (or its version), by that name (``name``, ``package.name``,
  ``{name: {...}}`` or ``{test_name: name}``);
- a **singular test** must be a ``.sql`` file under the package's ``test-paths`` (the gates
  read the columns it names from that file, so it must not be a model's file);
- a **description** the manifest gives a node or one of its columns must be written in the
  node's (or the column's) YAML entry (any non-empty text: a ``{{ doc() }}`` is rendered by dbt);
- a source's **freshness** check (the ``freshness`` requirement of every model downstream)
  must be written: a ``freshness:`` on its table, its source or under ``sources:`` of
  ``dbt_project.yml``.

Not compared: a test's arguments, ``where``/``severity`` config, the text of descriptions
and the values of a freshness check.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from lacuna.dbt.compile import _unquote
from lacuna.dbt.manifest import DbtNode, DbtProject, DbtTest
from lacuna.dbt.properties import Entry, as_list, resource_files
from lacuna.dbt.verify_nodes import Mismatch, _key, _Package, _shown

_TEST_KEYS = ("data_tests", "tests")


def check_tests(
    project: DbtProject, pkg: _Package, entries: Mapping[tuple[str, ...], Entry]
) -> list[Mismatch]:
    """Each test of ``pkg`` and each description of its nodes against its files
    (``entries``: every package's node entries, for a test on another package's node)."""
    found: list[Mismatch] = []
    singular = {
        p.resolve() for p in resource_files(pkg.folder, pkg.config, "test-paths", (".sql",))
    }
    for test in project.tests.values():
        if test.unique_id.split(".")[1:2] == [pkg.name]:
            found += _check_test(project, pkg, test, entries, singular)
    for node in project.nodes.values():
        if node.package_name == pkg.name:
            found += _check_descriptions(node, entries.get(_key(node)))
            if node.freshness:
                found += _check_freshness(node, pkg, entries.get(_key(node)))
    return found


def _check_freshness(node: DbtNode, pkg: _Package, entry: Entry | None) -> list[Mismatch]:
    """A source the manifest gives a freshness check (which satisfies the ``freshness``
    requirement of every model downstream) must have one written: on its table, its source, or
    under ``sources:`` of ``dbt_project.yml`` (the values are not compared)."""
    written = [
        *(() if entry is None else (entry.data, entry.parent)),
        pkg.config.get("sources"),
        (pkg.root_config or {}).get("sources"),
    ]
    if any(_has_key(each, "freshness") for each in written):
        return []
    return [
        Mismatch(
            node.unique_id,
            entry.at(entry.data) if entry else "?",
            "the manifest "
            "configures a freshness check on this source, but neither its YAML nor "
            "dbt_project.yml has a `freshness:`",
        )
    ]


def _has_key(value: Any, key: str) -> bool:
    if isinstance(value, Mapping):
        return any(
            k in (key, f"+{key}") or _has_key(v, key) for k, v in value.items() if k != "tables"
        )
    if isinstance(value, list):
        return any(_has_key(v, key) for v in value)
    return False


def _check_test(
    project: DbtProject,
    pkg: _Package,
    test: DbtTest,
    entries: Mapping[tuple[str, ...], Entry],
    singular: set[Any],
) -> list[Mismatch]:
    if test.test_name is None:
        path = pkg.folder / test.original_file_path
        if not test.original_file_path or path.resolve() not in singular:
            return [
                Mismatch(
                    test.unique_id,
                    _shown(path, pkg.root) or "?",
                    "the manifest has "
                    "a singular test that is no .sql file under the project's "
                    "test-paths (dbt reads singular tests only from there)",
                )
            ]
        return []
    found: list[Mismatch] = []
    for uid in test.nodes:
        node = project.nodes.get(uid)
        if node is None:
            continue  # a test of no node the manifest lists counts for nothing
        entry = entries.get(_key(node))
        if entry is None:
            found.append(
                Mismatch(
                    test.unique_id,
                    node.original_file_path or "?",
                    f"the "
                    f"manifest has a {test.test_name} test on {node.name}, but "
                    "no YAML file of the project has an entry for it",
                )
            )
            continue
        lists = list(_node_lists(node, entry))
        column = _unquote(test.column_name) if test.column_name else None
        if column is not None:
            lists += _column_lists(node, entry, column)
        if not any(test.test_name in _names(each) for each in lists):
            on = f"column {column} of {node.name}" if column else node.name
            found.append(
                Mismatch(
                    test.unique_id,
                    entry.at(entry.data),
                    f"the manifest has a "
                    f"{test.test_name} test on {on}, but the file lists no such "
                    "test there",
                )
            )
    return found


def _node_lists(node: DbtNode, entry: Entry) -> Iterable[Any]:
    for key in _TEST_KEYS:
        yield entry.data.get(key)
    version = _version(node, entry)
    if version is not None:
        for key in _TEST_KEYS:
            yield version.get(key)


def _column_lists(node: DbtNode, entry: Entry, column: str) -> list[Any]:
    out = []
    for each in _columns(node, entry):
        if _unquote(str(each.get("name"))).lower() == column.lower():
            out += [each.get(key) for key in _TEST_KEYS]
    return out


def _columns(node: DbtNode, entry: Entry) -> list[Mapping[str, Any]]:
    cols = [
        c
        for c in as_list(entry.data.get("columns"))
        if isinstance(c, Mapping) and c.get("name") is not None
    ]
    version = _version(node, entry)
    if version is not None:
        cols += [
            c
            for c in as_list(version.get("columns"))
            if isinstance(c, Mapping) and c.get("name") is not None
        ]
    return cols


def _version(node: DbtNode, entry: Entry) -> Mapping[str, Any] | None:
    if node.version is None:
        return None
    for version in as_list(entry.data.get("versions")):
        if isinstance(version, Mapping) and str(version.get("v")) == node.version:
            return version
    return None


def _names(tests: Any) -> set[str]:
    """The generic tests' names in a ``data_tests:`` list (without their package)."""
    out: set[str] = set()
    for each in as_list(tests):
        if isinstance(each, str):
            out.add(each.rsplit(".", 1)[-1])
        elif isinstance(each, Mapping):
            named = each.get("test_name")
            if isinstance(named, str):
                out.add(named.rsplit(".", 1)[-1])
            out.update(str(k).rsplit(".", 1)[-1] for k in each if k != "name")
    return out


def _check_descriptions(node: DbtNode, entry: Entry | None) -> list[Mismatch]:
    found: list[Mismatch] = []
    data = entry.data if entry is not None else {}
    version = _version(node, entry) if entry is not None else None
    where = entry.at(data) if entry is not None else (node.original_file_path or "?")
    if (
        node.description.strip()
        and not _text(data.get("description"))
        and not (version is not None and _text(version.get("description")))
    ):
        found.append(
            Mismatch(
                node.unique_id,
                where,
                f"the manifest has a description of {node.name}, but its YAML entry has none",
            )
        )
    written = (
        {}
        if entry is None
        else {
            _unquote(str(c.get("name"))).lower(): c
            for c in _columns(node, entry)
            if _text(c.get("description"))
        }
    )
    for name, column in node.columns.items():
        if column.description.strip() and _unquote(name).lower() not in written:
            found.append(
                Mismatch(
                    node.unique_id,
                    where,
                    f"column {name}: the manifest has a "
                    "description, but the YAML entry of the column has none",
                )
            )
    return found


def _text(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


__all__ = ["check_tests"]
