"""The ``dbt:`` section of ``lacuna.yaml``: which dbt project governs reads of its warehouse.

::

    dbt:
      project_dir: ../analytics        # the dbt project (its target/manifest.json); relative
                                       # to this file
      environment: production          # default: production when the project's
                                       # governance.environment or lacuna.yaml's environment
                                       # is; else the project's, else lacuna.yaml's
      verify_manifest: true            # false: believe the manifest without checking it
                                       # against the project's files (docs/dbt.md)
      warehouse: postgresql+psycopg://… # optional: the built tables (a SQLAlchemy URL); SQL
                                       # reads are then checked on this database (and on
                                       # DuckDB engines, which can ATTACH it) only, and
                                       # lacuna dbt apply / read_model use it
      roles:                           # the server: who holds requires_role's roles, by user
        data_owner: [olga]             # name or server role
        compliance: [compliance_officer]

With the section, a SQL statement (a governed SQLAlchemy engine, ``pd.read_sql``) that reads a
relation the project builds, and a server decision for ``dbt://<project>/<model>``, is decided
with the project's production ``restrict`` rules (:mod:`lacuna.dbt.reads`). An unknown key is
an error naming its path and the nearest valid key.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import Field, field_validator

from lacuna.model import environment_category
from lacuna.sections import Origin, Section, validate_section


class DbtSettings(Section):
    project_dir: str
    environment: str | None = None
    warehouse: str | None = None
    # False: believe target/manifest.json without checking it against the project's files
    # (a manifest deployed without its project; docs/dbt.md)
    verify_manifest: bool = True
    # the server: who holds the governance section's roles (requires_role), by user name or
    # server role, e.g. {data_owner: [olga], compliance: [compliance_officer]}
    roles: dict[str, tuple[str, ...]] = Field(default_factory=dict)

    @field_validator("roles", mode="before")
    @classmethod
    def _roles(cls, v: Any) -> Any:
        if isinstance(v, Mapping):  # a single name for a list of one
            return {k: [m] if isinstance(m, str) else m for k, m in v.items()}
        return v

    def data_roles(self, user: str, server_roles: tuple[str, ...]) -> set[str]:
        """The governance roles ``user`` (holding ``server_roles``) has through ``roles``."""
        held = {user, *server_roles}
        return {role for role, members in self.roles.items() if held & set(members)}

    @field_validator("environment")
    @classmethod
    def _environment(cls, v: str | None) -> str | None:
        if v is not None:
            environment_category(v)  # ConfigError naming the allowed values
        return v

    @field_validator("warehouse")
    @classmethod
    def _warehouse(cls, v: str | None) -> str | None:
        if v is not None:
            from sqlalchemy.engine import make_url
            from sqlalchemy.exc import ArgumentError

            try:
                make_url(v)
            except ArgumentError as exc:
                msg = f"not a SQLAlchemy database URL: {exc}"
                raise ValueError(msg) from None
        return v

    def project_path(self, source: str | None) -> Path:
        """``project_dir``, relative to the config file's folder when it came from one."""
        path = Path(self.project_dir).expanduser()
        if not path.is_absolute() and source and Path(source).is_file():
            path = Path(source).parent / path
        return path


def dbt_settings_from(raw: Any, *, where: str = "<config>",
                      origin: Origin | None = None) -> DbtSettings | None:
    """Validate a ``dbt:`` mapping (None for an empty one).

    Raises:
        ConfigError: an unknown key (with the nearest valid one) or a bad value, naming the
            file, the line when known, and the key.
    """
    if not raw:
        return None
    return validate_section(DbtSettings, raw, prefix=("dbt",), origin=origin or Origin(where),
                            title="dbt settings", docs="docs/dbt.md")


__all__ = ["DbtSettings", "dbt_settings_from"]
