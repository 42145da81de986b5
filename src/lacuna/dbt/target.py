"""The dbt target a project's relations are named after: its ``profiles.yml`` output, read as
dbt-core 1.11 reads it.

A node without a custom ``schema`` is built in the target's schema, one with ``schema: x`` in
``<target schema>_x``, and both in the target's database (dbt's default
``generate_schema_name`` / ``generate_database_name``). So the manifest's relation names can
only be checked against the target. dbt finds it this way (``dbt/cli/params.py``,
``dbt/config/profile.py``):

- ``profiles.yml`` in ``$DBT_PROFILES_DIR``, else the project's folder (Lacuna runs dbt there,
  as ``dbt`` run in the project does), else ``~/.dbt``;
- the profile ``$DBT_PROFILE``, else ``dbt_project.yml``'s ``profile:``;
- the output ``target`` (``--target``), else ``$DBT_TARGET``, else the profile's ``target:``,
  else ``default``;
- its ``schema`` (BigQuery: ``dataset``) and ``database`` (``dbname``, ``project``,
  ``catalog``); DuckDB's default schema is ``main`` and its database is named after ``path``
  (``DuckDBCredentials.path_derived_database_name``).

dbt renders these values with Jinja: ``{{ env_var('X') }}`` and ``{{ env_var('X', 'd') }}``
are resolved from the environment Lacuna runs in, as dbt run now would; any other Jinja makes
the value :data:`UNKNOWN` (only dbt renders it: ``--parse``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from lacuna.dbt.expected import UNKNOWN
from lacuna.dbt.properties import has_jinja, read_yaml_mapping

# the keys adapters accept for the target's database and schema (their Credentials._ALIASES)
_DATABASE_KEYS = ("database", "dbname", "project", "catalog")
_SCHEMA_KEYS = ("schema", "dataset")
_ENV_VAR = re.compile(
    r"""\{\{-?\s*env_var\(\s*(['"])([^'"]+)\1\s*(?:,\s*(['"])([^'"]*)\3\s*)?\)\s*-?\}\}"""
)
_MOTHERDUCK = ("md", "motherduck")


@dataclass(frozen=True, slots=True)
class Target:
    """The output of ``profiles.yml`` dbt builds the project's relations in.

    ``schema`` and ``database`` are strings, or :data:`UNKNOWN` with ``why`` saying why (no
    ``profiles.yml``, Jinja only dbt renders, an unset ``env_var()``, ...). ``path`` is a
    DuckDB output's ``path`` as rendered (``None``: none set, or not DuckDB; :data:`UNKNOWN`:
    Jinja only dbt renders); :meth:`duckdb_file` is the file it names.
    """

    where: str  # "profiles.yml (p: outputs: dev)", for messages
    name: str | None = None
    type: str | None = None
    schema: Any = UNKNOWN
    database: Any = UNKNOWN
    why: str = ""
    path: Any = None

    @property
    def known(self) -> bool:
        return self.schema is not UNKNOWN and self.database is not UNKNOWN

    def duckdb_file(self, root: Path) -> Path | None:
        """The DuckDB file the output writes (relative to ``root``, where dbt runs); ``None``
        when it is not DuckDB, in memory, MotherDuck or DuckLake, or its path is unknown."""
        if self.type != "duckdb" or not isinstance(self.path, str) or \
                self.path in ("", ":memory:") or urlparse(self.path).scheme.lower() in \
                (*_MOTHERDUCK, "ducklake"):
            return None
        file = Path(self.path).expanduser()
        return file if file.is_absolute() else root / file


def _render(value: Any, what: str) -> tuple[Any, str]:
    """A profile value as dbt renders it: ``env_var()`` resolved, other Jinja UNKNOWN."""
    if value is None or isinstance(value, bool):
        return value, ""
    text = str(value)
    if not has_jinja(text):
        return text, ""
    missing: list[str] = []

    def env(found: re.Match[str]) -> str:
        name, default = found.group(2), found.group(4)
        if name in os.environ:
            return os.environ[name]
        if default is None:
            missing.append(name)
            return ""
        return default

    rendered = _ENV_VAR.sub(env, text)
    if has_jinja(rendered) or "{#" in rendered:
        return UNKNOWN, f"{what} is {text!r}, Jinja only dbt renders"
    if missing:
        return UNKNOWN, (f"{what} is {text!r}, and the environment variable {missing[0]} is "
                         "not set (dbt would stop: set it as for `dbt parse`)")
    return rendered, ""


def duckdb_database(path: str | None) -> str:
    """The database dbt-duckdb names after ``path`` (``path_derived_database_name``)."""
    if path is None or path == ":memory:":
        return "memory"
    parsed = urlparse(path)
    base = os.path.basename(parsed.path)
    stem = os.path.splitext(base)[0]
    if parsed.scheme in _MOTHERDUCK:
        return stem or "my_db"
    if parsed.scheme.lower() == "ducklake":
        return urlparse(stem).path
    return base.lstrip(".").split(".")[0]


def profiles_file(root: Path) -> Path | None:
    """The ``profiles.yml`` dbt reads for a project in ``root``."""
    env = os.environ.get("DBT_PROFILES_DIR")
    folders = [Path(env)] if env else [root, Path.home() / ".dbt"]
    for folder in folders:
        path = folder.expanduser() / "profiles.yml"
        if path.is_file():
            return path
    return None


def read_target(root: Path, config: Mapping[str, Any], target: str | None = None) -> Target:
    """The project's target (``config``: its ``dbt_project.yml``; ``target``: ``--target``).

    Raises:
        ManifestError: ``profiles.yml`` is not valid YAML (dbt could not read it either).
    """
    path = profiles_file(root)
    if path is None:
        looked = os.environ.get("DBT_PROFILES_DIR") or f"{root} or {Path.home() / '.dbt'}"
        return Target("profiles.yml", why=f"there is no profiles.yml in {looked}, so the "
                      "target's schema and database are unknown (set DBT_PROFILES_DIR to the "
                      "folder dbt reads it from)")
    shown = path.name if path.parent == root else str(path)
    profile_name, why = _render(os.environ.get("DBT_PROFILE") or config.get("profile"),
                                "dbt_project.yml's profile")
    if not isinstance(profile_name, str) or not profile_name:
        return Target(shown, why=why or "dbt_project.yml names no profile")
    profiles = read_yaml_mapping(path)
    profile = profiles.get(profile_name)
    if not isinstance(profile, Mapping):
        return Target(shown, why=f"{shown} has no profile {profile_name!r}")
    where = f"{shown} ({profile_name})"
    name, why = _render(target or os.environ.get("DBT_TARGET") or profile.get("target")
                        or "default", f"{where}: target")
    if not isinstance(name, str):
        return Target(where, why=why)
    outputs = profile.get("outputs")
    output = outputs.get(name) if isinstance(outputs, Mapping) else None
    where = f"{shown} ({profile_name}: outputs: {name})"
    if not isinstance(output, Mapping):
        return Target(where, name, why=f"{shown}'s profile {profile_name!r} has no output "
                      f"{name!r} (the target)")
    kind, _ = _render(output.get("type"), f"{where}: type")
    kind = kind if isinstance(kind, str) else None
    values: dict[str, Any] = {}
    whys: list[str] = []
    path_value: Any = None
    path_why = ""
    if kind == "duckdb":
        path_value, path_why = _render(output.get("path"), f"{where}: path")
    for field, keys in (("schema", _SCHEMA_KEYS), ("database", _DATABASE_KEYS)):
        key = next((k for k in keys if output.get(k) is not None), None)
        if key is not None:
            value, why = _render(output[key], f"{where}: {key}")
        elif kind == "duckdb" and field == "schema":
            value, why = "main", ""
        elif kind == "duckdb":
            why = path_why
            value = duckdb_database(path_value) if isinstance(path_value, str) or \
                path_value is None else UNKNOWN
        else:
            value, why = UNKNOWN, (f"{where} sets no {field}, and Lacuna does not know the "
                                   f"{kind or 'unknown'} adapter's default: set {keys[0]} there")
        values[field] = value
        if why:
            whys.append(why)
    return Target(where, name, kind, values["schema"], values["database"], "; ".join(whys),
                  path_value)
