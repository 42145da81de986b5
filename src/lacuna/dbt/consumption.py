"""Who may see what in the consumption layer: classification + production policies + roles.

Both generators (:mod:`lacuna.dbt.cube`, :mod:`lacuna.dbt.polaris`) start from the same
:class:`AccessPlan`: for every model and role, which columns the role sees in full, which it
sees masked, which are withheld, and which row filters apply.

The inputs:

- **classification**: each column's class (``pii``, ``phi``, ``financial``, ...), ``pii_type``
  and ``sensitivity`` from dbt meta (``lacuna:`` or Floe's ``floe:`` namespace);
- **policies**: ``governance.policies`` (ADR-0012), keyed by a class (``pii``) or a sensitivity
  (``high_sensitivity``, ``critical_sensitivity``), each with a ``production`` rule (the
  consumption layer serves production data): ``action`` and ``requires_role``;
- **roles and row filters**: the ``consumption:`` section (floe.yaml or lacuna.yaml, or a file of
  its own): ``roles`` (name → description), ``row_filters`` (models glob, member, user
  attribute, operator, exempt roles), and ``polaris`` settings.

The rules, failing closed:

- every policy that matches a column must let the role through; a policy lets a role through
  when the role is in its ``requires_role``; a ``restrict`` policy without ``requires_role``
  ("Cube RLS enforces access", ADR-0012) lets every role through only on models that have a
  row filter, and a masking policy without ``requires_role`` lets no role through;
- a column a role may not see is *withheld* when a matching action is ``restrict`` (or
  unknown), else *masked* (``mask``, ``hash``, ``redact``, ``synthesize``);
- a row filter whose user attribute is missing denies the query (the generators encode that).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from lacuna.dbt.compile import NAMESPACES, primary_key
from lacuna.dbt.gates import explain
from lacuna.errors import ConfigError

if TYPE_CHECKING:
    from lacuna.dbt.manifest import DbtNode, DbtProject

MASKING_ACTIONS = ("mask", "hash", "redact", "synthesize")
Visibility = Literal["full", "masked", "withheld"]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class RowFilter(_Model):
    """Rows of ``models`` are limited to ``member`` ``operator`` the user's ``user_attribute``."""

    models: tuple[str, ...] = ("*",)  # model-name globs
    member: str
    user_attribute: str
    operator: Literal["equals", "notEquals", "contains", "in", "notIn"] = "equals"
    exempt_roles: tuple[str, ...] = ()


class PolarisSettings(_Model):
    catalog: str | None = None  # default: the dbt project's name
    namespace: Literal["schema", "database.schema"] = "schema"
    create_principal_roles: bool = True


class ConsumptionConfig(_Model):
    """The ``consumption:`` section."""

    roles: dict[str, str] = Field(default_factory=dict)  # name → description
    row_filters: tuple[RowFilter, ...] = ()
    polaris: PolarisSettings = Field(default_factory=PolarisSettings)


class PolicyRule(_Model):
    model_config = ConfigDict(frozen=True, extra="allow")  # e.g. Floe's requires_approval

    action: str = "restrict"
    requires_role: tuple[str, ...] = ()


def load_consumption(project_dir: str | Path, config: str | Path | None = None
                     ) -> tuple[ConsumptionConfig, dict[str, PolicyRule], str]:
    """The consumption section and the production policies, and the file they came from.

    Looks in ``config`` when given, else ``floe.yaml`` then ``lacuna.yaml`` in the project.
    ``consumption:`` may sit at the top level or under ``governance:``; a ``config`` file may
    also be the section itself.

    Raises:
        ConfigError: not YAML, or a section fails validation (path and nearest key).
    """
    from lacuna.config import parse_yaml

    root = Path(project_dir)
    files = [Path(config)] if config else [root / "floe.yaml", root / "lacuna.yaml"]
    for path in files:
        if not path.is_file():
            if config:
                msg = f"{path}: no such config file"
                raise ConfigError(msg)
            continue
        raw, _ = parse_yaml(path.read_text(encoding="utf-8"), str(path))
        if not isinstance(raw, Mapping):
            continue
        gov_raw = raw.get("governance")
        gov: Mapping[str, Any] = gov_raw if isinstance(gov_raw, Mapping) else {}
        section = raw.get("consumption", gov.get("consumption"))
        if section is None and config and ("roles" in raw or "row_filters" in raw):
            section = raw
        policies = gov.get("policies") or raw.get("policies") or {}
        if section is None and not policies:
            continue
        try:
            consumption = ConsumptionConfig.model_validate(section or {})
        except ValidationError as exc:
            raise ConfigError(explain(exc, ConsumptionConfig, str(path), ("consumption",))) \
                from None
        return consumption, production_policies(policies, str(path)), str(path)
    return ConsumptionConfig(), {}, "defaults"


def production_policies(policies: Any, where: str) -> dict[str, PolicyRule]:
    """``governance.policies``' production rules, by key (``pii``, ``high_sensitivity``)."""
    if not isinstance(policies, Mapping):
        msg = f"{where}: governance.policies must be a mapping of class → environments"
        raise ConfigError(msg)
    out: dict[str, PolicyRule] = {}
    for key, envs in policies.items():
        rule = envs.get("production") if isinstance(envs, Mapping) else None
        if rule is None:
            continue
        try:
            out[str(key).lower()] = PolicyRule.model_validate(rule)
        except ValidationError as exc:
            raise ConfigError(explain(exc, PolicyRule, where,
                                      ("governance", "policies", str(key), "production"))) \
                from None
    return out


# -- the plan ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class ColumnAccess:
    name: str
    data_type: str | None
    classification: str | None
    pii_type: str | None
    sensitivity: str | None
    policies: tuple[str, ...]  # the policy keys that matched
    action: str | None  # the strongest matching action
    visibility: Mapping[str, Visibility]  # role → visibility
    primary_key: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelAccess:
    unique_id: str
    name: str
    database: str | None
    schema: str | None
    table: str
    description: str
    columns: tuple[ColumnAccess, ...]
    row_filters: tuple[RowFilter, ...]

    def members(self, role: str, visibility: Visibility) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.visibility[role] == visibility)


@dataclass(frozen=True, slots=True, kw_only=True)
class AccessPlan:
    project: str
    roles: tuple[str, ...]
    models: tuple[ModelAccess, ...]
    config: ConsumptionConfig


_STRENGTH = {"restrict": 5, "redact": 4, "hash": 3, "mask": 2, "synthesize": 1}


def column_class(meta: Mapping[str, Any]) -> tuple[str | None, str | None, str | None]:
    """(classification, pii_type, sensitivity) from a column's meta, ``lacuna:`` first."""
    for ns in NAMESPACES:
        section = meta.get(ns)
        if isinstance(section, Mapping) and (section.get("classification")
                                             or section.get("sensitivity")):
            return (_low(section.get("classification")), _low(section.get("pii_type")),
                    _low(section.get("sensitivity")))
    return _low(meta.get("classification")), _low(meta.get("pii_type")), \
        _low(meta.get("sensitivity"))


def _low(value: Any) -> str | None:
    return str(value).strip().lower() if value not in (None, "") else None


ClassOf = tuple[str | None, str | None, str | None]  # classification, pii_type, sensitivity


def declared_classes(project: DbtProject) -> dict[tuple[str, str], ClassOf]:
    """(node id, column lower-case) → the class declared in meta, then carried to same-named
    columns downstream (parents first) where a model does not declare one itself."""
    out: dict[tuple[str, str], ClassOf] = {}
    for node in project.topological():
        for col in node.columns.values():
            found = column_class(col.meta)
            if any(found):
                out[(node.unique_id, col.name.lower())] = found
    return out


def inherited(project: DbtProject, classes: Mapping[tuple[str, str], ClassOf], node: DbtNode,
              column: str) -> ClassOf:
    """A column's class: its own, else the strongest among same-named columns upstream."""
    own = classes.get((node.unique_id, column.lower()))
    if own is not None:
        return own
    seen: set[str] = set()
    stack = list(node.depends_on)
    best: ClassOf = (None, None, None)
    while stack:
        uid = stack.pop()
        if uid in seen:
            continue
        seen.add(uid)
        found = classes.get((uid, column.lower()))
        if found is not None and _rank(found) > _rank(best):
            best = found
        parent = project.nodes.get(uid)
        if parent is not None:
            stack.extend(parent.depends_on)
    return best


def _rank(c: ClassOf) -> int:
    order = {"public": 1, "identifier": 2, "financial": 3, "pii": 4, "phi": 5}
    sens = {"low": 0, "medium": 1, "high": 2, "critical": 3}
    return order.get(c[0] or "", 0) * 10 + sens.get(c[2] or "", 0) + (1 if any(c) else 0)


def plan_access(project: DbtProject, consumption: ConsumptionConfig,
                policies: Mapping[str, PolicyRule],
                models: Sequence[str] | None = None, *,
                built_columns: Mapping[str, tuple[str, ...]] | None = None,
                classes: Mapping[tuple[str, str], ClassOf] | None = None) -> AccessPlan:
    """Resolve every model's columns for every role (see the module docstring).

    ``built_columns`` (``schema.table`` → columns, from the warehouse) adds the columns the YAML
    does not declare; ``classes`` ((node id, column) → class) overrides the declared classes
    (default: :func:`declared_classes`, carried downstream to same-named columns).

    Raises:
        ConfigError: no roles are configured or named by any policy's ``requires_role``.
    """
    roles = list(consumption.roles)
    for rule in policies.values():
        roles += [r for r in rule.requires_role if r not in roles]
    for f in consumption.row_filters:
        roles += [r for r in f.exempt_roles if r not in roles]
    if not roles:
        msg = ("no roles to generate access for: list them under consumption.roles in "
               "floe.yaml (or name them in a policy's requires_role)")
        raise ConfigError(msg)
    nodes = sorted((n for n in project.models if n.package_name in ("", project.name)),
                   key=lambda n: n.name)
    if models:
        nodes = [n for n in nodes if any(fnmatch.fnmatchcase(n.name, m) for m in models)]
    known = classes if classes is not None else declared_classes(project)
    out = [_model_access(project, n, roles, policies, consumption, known,
                         (built_columns or {}).get(f"{n.schema}.{n.table}".lower(), ()))
           for n in nodes]
    return AccessPlan(project=project.name, roles=tuple(roles), models=tuple(out),
                      config=consumption)


def _lets_through(rule: PolicyRule, role: str, row_filtered: bool) -> bool:
    """A policy with ``requires_role`` admits those roles. Without one, ``restrict`` means
    "row-level security enforces access" (ADR-0012's comment): it admits every role only where
    a row filter applies to the model; a masking action admits no role."""
    if rule.requires_role:
        return role in rule.requires_role
    return rule.action == "restrict" and row_filtered


def _model_access(project: DbtProject, node: DbtNode, roles: list[str],
                  policies: Mapping[str, PolicyRule], consumption: ConsumptionConfig,
                  classes: Mapping[tuple[str, str], ClassOf], built: tuple[str, ...]
                  ) -> ModelAccess:
    pk = {p.lower() for p in primary_key(node)}
    declared = {c.lower(): col for c, col in node.columns.items()}
    names = [col.name for col in node.columns.values()]
    names += [b for b in built if b.lower() not in declared]
    filters = tuple(f for f in consumption.row_filters
                    if any(fnmatch.fnmatchcase(node.name, m) for m in f.models))
    for f in filters:
        if f.member.lower() not in {n.lower() for n in names}:
            msg = (f"consumption.row_filters: member {f.member!r} is not a column of "
                   f"model {node.name!r}; declare it in the model's schema YAML or narrow the "
                   "filter's models")
            raise ConfigError(msg)
    columns = []
    for name in names:
        col = declared.get(name.lower())
        cls, pii_type, sensitivity = inherited(project, classes, node, name)
        keys = [k for k in (cls, f"{sensitivity}_sensitivity" if sensitivity else None)
                if k and k in policies]
        matched = [policies[k] for k in keys]
        action = max((r.action for r in matched), key=lambda a: _STRENGTH.get(a, 5),
                     default=None)
        visibility: dict[str, Visibility] = {}
        for role in roles:
            if all(_lets_through(r, role, bool(filters)) for r in matched):
                visibility[role] = "full"
            elif any(r.action not in MASKING_ACTIONS for r in matched):
                visibility[role] = "withheld"  # restrict, or an action Lacuna does not know
            else:
                visibility[role] = "masked"
        columns.append(ColumnAccess(
            name=name, data_type=col.data_type if col else None, classification=cls,
            pii_type=pii_type, sensitivity=sensitivity, policies=tuple(keys), action=action,
            visibility=visibility, primary_key=name.lower() in pk))
    return ModelAccess(unique_id=node.unique_id, name=node.name, database=node.database,
                       schema=node.schema, table=node.table, description=node.description,
                       columns=tuple(columns), row_filters=filters)


__all__ = [
    "AccessPlan",
    "ColumnAccess",
    "ConsumptionConfig",
    "ModelAccess",
    "PolarisSettings",
    "PolicyRule",
    "RowFilter",
    "column_class",
    "declared_classes",
    "inherited",
    "load_consumption",
    "plan_access",
    "production_policies",
]
