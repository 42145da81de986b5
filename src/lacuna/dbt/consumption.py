"""Who may see what in the consumption layer: classification + production policies + roles.

Both generators (:mod:`lacuna.dbt.cube`, :mod:`lacuna.dbt.polaris`) start from the same
:class:`AccessPlan`: for every model and role, which columns the role sees in full, which it
sees masked, which are withheld, and which row filters apply.

The inputs:

- **classification**: each output column's class, ``pii_type`` and ``sensitivity``, from
  :func:`lacuna.dbt.classify.classify_project` (declared ``lacuna:`` / ``floe:`` meta, carried
  through the DAG by column lineage of the compiled SQL);
- **policies**: ``governance.policies`` (ADR-0012) as :mod:`lacuna.dbt.governance` reads them,
  the rules for ``production`` (the consumption layer serves production data);
- **roles and row filters**: ``governance.consumption`` (or a top-level ``consumption:``):
  ``roles`` (name → description), ``row_filters`` (model globs, member, user attribute,
  operator, exempt roles) and ``polaris`` settings. Every role named in a ``requires_role`` is
  a role too.

The rules, failing closed:

- every policy that matches a column must let the role through: one with ``requires_role``
  admits those roles; ``restrict`` without ``requires_role`` ("Cube RLS enforces access",
  ADR-0012) admits every role only on models that have a row filter; a masking action
  (``mask``, ``hash``, ``redact``, ``synthesize``) without ``requires_role`` admits no role;
- ``critical`` sensitivity and ``requires_approval`` need an explicit approval per request
  (a Lacuna exception), never a standing grant: such columns are withheld from every role;
- a column a role may not see is *withheld* when a failing policy is ``restrict`` (or needs
  approval), else *masked*;
- a row filter whose user attribute is missing denies the query (the generators encode that).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, ValidationError

from lacuna.dbt.classify import UNNAMED
from lacuna.dbt.compile import primary_key
from lacuna.dbt.gates import explain
from lacuna.dbt.governance import Action, GovernanceConfig, PolicyRule, load_governance
from lacuna.errors import ConfigError
from lacuna.model import Sensitivity
from lacuna.sections import Section

if TYPE_CHECKING:
    from lacuna.dbt.classify import ProjectClassification
    from lacuna.dbt.manifest import DbtNode, DbtProject
    from lacuna.model import Classification, ColumnClass

Visibility = Literal["full", "masked", "withheld"]



class RowFilter(Section):
    """Rows of ``models`` are limited to ``member`` ``operator`` the user's ``user_attribute``."""

    models: tuple[str, ...] = ("*",)  # model-name globs
    member: str
    user_attribute: str
    operator: Literal["equals", "notEquals", "contains", "in", "notIn"] = "equals"
    exempt_roles: tuple[str, ...] = ()


class PolarisSettings(Section):
    catalog: str | None = None  # default: the dbt project's name
    namespace: Literal["schema", "database.schema"] = "schema"
    create_principal_roles: bool = True


class ConsumptionConfig(Section):
    """The ``consumption:`` section."""

    roles: dict[str, str] = Field(default_factory=dict)  # name → description
    row_filters: tuple[RowFilter, ...] = ()
    polaris: PolarisSettings = Field(default_factory=PolarisSettings)


def load_consumption(project_dir: str | Path, config: str | Path | None = None
                     ) -> tuple[ConsumptionConfig, GovernanceConfig, str]:
    """The ``consumption:`` section and the governance policies, and the file they came from.

    Looks in ``config`` when given, else ``floe.yaml`` then ``lacuna.yaml`` in the project
    (:func:`lacuna.dbt.governance.load_governance`); ``consumption:`` sits under
    ``governance:`` or at the top level.

    Raises:
        ConfigError: not YAML, or a section fails validation (path and nearest key).
    """
    from lacuna.config import parse_yaml

    governance, source = load_governance(project_dir, config=config)
    section: Any = governance.consumption
    where: tuple[str, ...] = ("governance", "consumption")
    if section is None and source != "defaults":
        raw, _ = parse_yaml(Path(source).read_text(encoding="utf-8"), source)
        section = raw.get("consumption") if isinstance(raw, Mapping) else None
        where = ("consumption",)
    try:
        consumption = ConsumptionConfig.model_validate(section or {})
    except ValidationError as exc:
        raise ConfigError(explain(exc, ConsumptionConfig, source, where,
                                  title="consumption section")) from None
    return consumption, governance, source


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
    approval: bool = False  # critical, or a policy requires approval: withheld for every role


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
    # role → visibility of the built columns Lacuna cannot name (NodeClassification.unnamed:
    # untraceable SQL, an expression without an alias); empty when every column is named.
    # They have no Cube member; a role that may not see them in full gets no Polaris grant
    unnamed: Mapping[str, Visibility] = field(default_factory=dict)

    def members(self, role: str, visibility: Visibility) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.visibility[role] == visibility)


@dataclass(frozen=True, slots=True, kw_only=True)
class AccessPlan:
    project: str
    roles: tuple[str, ...]
    models: tuple[ModelAccess, ...]
    config: ConsumptionConfig


# Which action a column shows when several policies match (the generators' mask choice).
_STRENGTH = {Action.RESTRICT: 5, Action.REDACT: 4, Action.SYNTHESIZE: 3, Action.HASH: 2,
             Action.MASK: 1, Action.ALLOW: 0}
ENVIRONMENT = "production"  # the consumption layer serves production data


def plan_access(project: DbtProject, consumption: ConsumptionConfig,
                governance: GovernanceConfig, *,
                classification: ProjectClassification | None = None,
                models: Sequence[str] | None = None,
                column_types: Mapping[str, Mapping[str, str]] | None = None) -> AccessPlan:
    """Resolve every model's columns for every role (see the module docstring).

    ``classification`` defaults to :func:`lacuna.dbt.classify.classify_project` (declared meta,
    carried through the DAG by column lineage of the compiled SQL), whose columns are the
    model's output columns. ``column_types`` (``schema.table`` → {column: type}, from the
    warehouse: :func:`lacuna.dbt.checks.warehouse_types`) fills in types the YAML does not
    declare.

    Raises:
        ConfigError: no roles are configured or named by any policy's ``requires_role``, or a
            row filter names a column the model does not have.
    """
    from lacuna.dbt.classify import classify_project

    roles = list(consumption.roles)
    for by_env in governance.policies.values():
        rule = by_env.for_environment(ENVIRONMENT)
        if rule is not None:
            roles += [r for r in rule.requires_role if r not in roles]
    for f in consumption.row_filters:
        roles += [r for r in f.exempt_roles if r not in roles]
    if not roles:
        msg = ("no roles to generate access for: list them under governance.consumption.roles "
               "in floe.yaml (or name them in a policy's requires_role)")
        raise ConfigError(msg)
    nodes = sorted((n for n in project.models if n.package_name in ("", project.name)),
                   key=lambda n: n.name)
    if models:
        nodes = [n for n in nodes if any(fnmatch.fnmatchcase(n.name, m) for m in models)]
    classes = classification or classify_project(project)
    types = column_types or {}
    out = [_model_access(n, classes.nodes[n.unique_id].classification, roles, governance,
                         consumption, types.get(f"{n.schema}.{n.table}".lower(), {}),
                         classes.nodes[n.unique_id].unnamed)
           for n in nodes]
    return AccessPlan(project=project.name, roles=tuple(roles), models=tuple(out),
                      config=consumption)


def _lets_through(rule: PolicyRule, role: str, row_filtered: bool) -> bool:
    """A policy with ``requires_role`` admits those roles; one that needs approval admits none
    (approval is per request: a Lacuna exception, not a standing grant). Without
    ``requires_role``, ``restrict`` means "row-level security enforces access" (ADR-0012's
    comment): it admits every role only where a row filter applies to the model; a masking
    action admits no role; ``allow`` admits all."""
    if rule.requires_approval:
        return False
    if rule.action is Action.ALLOW:
        return True
    if rule.requires_role:
        return role in rule.requires_role
    return rule.action is Action.RESTRICT and row_filtered


def _visibility(cc: ColumnClass | None, roles: list[str], governance: GovernanceConfig,
                row_filtered: bool) -> tuple[dict[str, Visibility], list[tuple[str, PolicyRule]],
                                             bool]:
    """Per role, how a column of class ``cc`` is seen; the rules that matched; approval."""
    rules = [] if cc is None else governance.rules_for(cc, ENVIRONMENT)
    approval = cc is not None and cc.sensitivity is Sensitivity.CRITICAL
    visibility: dict[str, Visibility] = {}
    for role in roles:
        failing = [r for _, r in rules if not _lets_through(r, role, row_filtered)]
        if not failing and not approval:
            visibility[role] = "full"
        elif approval or any(not r.action.transforms for r in failing):
            visibility[role] = "withheld"  # restrict, or approval needed
        else:
            visibility[role] = "masked"
    return visibility, rules, approval


def _model_access(node: DbtNode, classification: Classification, roles: list[str],
                  governance: GovernanceConfig, consumption: ConsumptionConfig,
                  types: Mapping[str, str], unnamed: ColumnClass | None = None) -> ModelAccess:
    pk = {p.lower() for p in primary_key(node)}
    declared = {c.lower(): col for c, col in node.columns.items()}
    # a placeholder (`_col_1`: an expression without an alias) is no built column: no Cube
    # member on it; what it holds counts under `unnamed`
    names = [n for n in classification.columns if not UNNAMED.fullmatch(n)] \
        or [c.name for c in node.columns.values() if not UNNAMED.fullmatch(c.name)]
    filters = tuple(f for f in consumption.row_filters
                    if any(fnmatch.fnmatchcase(node.name, m) for m in f.models))
    for f in filters:
        if f.member.lower() not in {n.lower() for n in names}:
            msg = (f"governance.consumption.row_filters: member {f.member!r} is not a column "
                   f"of model {node.name!r} (columns: {', '.join(names)}); narrow the filter's "
                   "models")
            raise ConfigError(msg)
    columns = []
    for name in names:
        col = declared.get(name.lower())
        cc = classification.columns.get(name)
        visibility, rules, approval = _visibility(cc, roles, governance, bool(filters))
        actions = [r.action for _, r in rules]
        action = max(actions, key=_STRENGTH.__getitem__) if actions else None
        columns.append(ColumnAccess(
            name=name, data_type=(col.data_type if col else None) or types.get(name),
            classification=cc.classification.value if cc else None,
            pii_type=cc.pii_type if cc else None,
            sensitivity=cc.sensitivity.value if cc else None,
            policies=tuple(k for k, _ in rules), action=action.value if action else None,
            visibility=visibility, primary_key=name.lower() in pk,
            approval=approval or any(r.requires_approval for _, r in rules)))
    # a model's version is a cube of its own (`dim_v2`: one file, one policy per version)
    name = node.dataset_name.replace(".", "_")
    return ModelAccess(unique_id=node.unique_id, name=name, database=node.database,
                       schema=node.schema, table=node.table, description=node.description,
                       columns=tuple(columns), row_filters=filters,
                       unnamed=({} if unnamed is None else
                                _visibility(unnamed, roles, governance, bool(filters))[0]))


__all__ = [
    "ENVIRONMENT",
    "AccessPlan",
    "ColumnAccess",
    "ConsumptionConfig",
    "ModelAccess",
    "PolarisSettings",
    "RowFilter",
    "load_consumption",
    "plan_access",
]
