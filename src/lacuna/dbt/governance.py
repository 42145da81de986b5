"""The ``governance:`` section of ``floe.yaml`` (ADR-0012) and ``lacuna.yaml``, validated.

::

    governance:
      classification:
        source: dbt_meta            # dbt_meta | inferred
      policies:
        pii:                        # a column class, a tier, or <level>_sensitivity
          production: {action: restrict}
          non_production: {action: synthesize}
        high_sensitivity:
          production: {action: restrict, requires_role: [data_owner, compliance]}
          non_production: {action: redact}
      quality_gates: {...}          # validated by lacuna.dbt.gates (lacuna compile)
      quality: {...}                # the same; lacuna.yaml's place for the ADR's top-level quality:
      consumption: {...}            # validated by lacuna.dbt.consumption (lacuna generate)
      lacuna: {...}                 # Lacuna's own settings inside floe.yaml (lacuna.config)

Policy keys (case-insensitive), the ADR's spellings and the ones its tables use:

- a column class: ``pii``, ``phi``, ``financial``, ``identifier``, ``public``;
- a sensitivity: ``low_sensitivity`` … ``critical_sensitivity`` (the ADR's ``high_sensitivity``)
  and, as the same thing, the bare level ``low`` … ``critical``;
- a tier, as the ADR's escalation table names them: ``internal`` (columns whose class maps to
  INTERNAL, e.g. ``financial``), ``confidential`` or ``proprietary`` (PROPRIETARY: ``pii``,
  ``phi`` and every ``critical`` column).

Under a key: ``production`` and ``non_production`` (the ADR's categories), and optionally an
environment type itself (``development``, ``preview``, ``staging``, ``production``), which
wins over its category. A rule: ``action`` (``allow``, ``restrict``, ``mask``, ``hash``,
``synthesize``, ``redact``), ``requires_role`` (a role or a list: a reader needs one of them),
``requires_approval`` (a ``critical`` column needs explicit approval in production even when
not said).

An unknown key is an error naming its path and the nearest valid key.
"""

from __future__ import annotations

import copy
import difflib
import enum
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, field_validator, model_validator

from lacuna.config import ClassificationConfig
from lacuna.errors import ConfigError
from lacuna.model import (
    ENVIRONMENT_CATEGORY,
    ColumnClass,
    ColumnKind,
    Sensitivity,
    Tier,
    environment_category,
)
from lacuna.sections import Key, Origin, Section, validate_section

if TYPE_CHECKING:
    from lacuna.config import Config

CATEGORIES = ("production", "non_production")
ENVIRONMENTS = tuple(ENVIRONMENT_CATEGORY)
TIER_KEYS = {"internal": Tier.INTERNAL, "confidential": Tier.PROPRIETARY,
             "proprietary": Tier.PROPRIETARY}


class Action(enum.StrEnum):
    """What a policy does to a classified column, least to most restrictive for its data."""

    ALLOW = "allow"
    RESTRICT = "restrict"  # who may read (production); the values stay
    MASK = "mask"
    HASH = "hash"
    SYNTHESIZE = "synthesize"
    REDACT = "redact"

    @property
    def transforms(self) -> bool:
        return self not in (Action.ALLOW, Action.RESTRICT)


_ORDER = list(Action)

# ADR-0012's sensitivity table as policies: what a ``governance:`` section that names no
# policies means (``governance: {}``, ``governance:`` alone, a section with quality gates
# only). low: no restrictions; medium: role-based access (a restrict rule: a reader needs a
# clearance of the column's tier); high: strict access (data_owner or compliance, the roles of
# the ADR's own high_sensitivity example) and, outside production, redacted (its example's
# non_production action); critical: as high, and explicit approval. Reads of restricted
# models are recorded on the audit trail ("+ audit"). A project that names only sensitivity
# levels keeps these for the levels it does not name; one that names a class or tier key has
# its own scheme, and none of these apply.
ADR_DEFAULT_POLICIES: dict[str, dict[str, dict[str, Any]]] = {
    "medium_sensitivity": {"production": {"action": "restrict"},
                           "non_production": {"action": "restrict"}},
    "high_sensitivity": {
        "production": {"action": "restrict", "requires_role": ["data_owner", "compliance"]},
        "non_production": {"action": "redact"}},
    "critical_sensitivity": {
        "production": {"action": "restrict", "requires_role": ["data_owner", "compliance"],
                       "requires_approval": True},
        "non_production": {"action": "redact"}},
}


class PolicyRule(Section):
    action: Action = Action.RESTRICT
    requires_role: tuple[str, ...] = ()
    requires_approval: bool = False

    @field_validator("action", mode="before")
    @classmethod
    def _action(cls, v: Any) -> Any:
        text = str(v).strip().lower()
        if text not in {a.value for a in Action}:
            near = difflib.get_close_matches(text, [a.value for a in Action], n=1)
            hint = f"; did you mean '{near[0]}'?" if near else ""
            msg = f"unknown action {v!r}{hint} (valid: {', '.join(a.value for a in Action)})"
            raise ValueError(msg)
        return text

    @field_validator("requires_role", mode="before")
    @classmethod
    def _roles(cls, v: Any) -> Any:
        return [v] if isinstance(v, str) else v

    @field_validator("requires_role")
    @classmethod
    def _named(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        if any(not role.strip() for role in v):
            msg = "an empty role name: name the roles a reader needs (requires_role: [data_owner])"
            raise ValueError(msg)
        return v

    @model_validator(mode="after")
    def _roles_restrict(self) -> PolicyRule:
        # `allow` admits every reader: roles under it would be read as a restriction by a
        # reviewer and enforced by nothing
        if self.action is Action.ALLOW and self.requires_role:
            msg = (f"requires_role {list(self.requires_role)} with action allow: allow admits "
                   "every reader, so the roles would restrict nothing; use action: restrict "
                   "(or a masking action) with requires_role, or remove requires_role")
            raise ValueError(msg)
        return self


class PolicyByEnvironment(Section):
    production: PolicyRule | None = None
    non_production: PolicyRule | None = None
    development: PolicyRule | None = None
    preview: PolicyRule | None = None
    staging: PolicyRule | None = None

    @model_validator(mode="before")
    @classmethod
    def _no_empty_rules(cls, v: Any) -> Any:
        # `production:` with nothing under it (a lost indent) would silently mean "no rule":
        # fail closed, naming the key
        if isinstance(v, Mapping):
            for key, rule in v.items():
                if rule is None:
                    msg = (f"{key}: an empty rule; give it an action (e.g. {key}: {{action: "
                           "restrict}) or remove the key")
                    raise ValueError(msg)
        return v

    def for_environment(self, environment: str) -> PolicyRule | None:
        specific: PolicyRule | None = getattr(self, environment, None)
        if specific is not None:
            return specific
        rule: PolicyRule | None = getattr(self, environment_category(environment))
        return rule


class ClassificationSource(Section):
    source: Literal["dbt_meta", "inferred"] = "dbt_meta"


class GovernanceConfig(Section):
    """``governance:``. ``quality_gates``, ``quality`` and ``consumption`` pass through here and
    are validated by ``lacuna compile`` / ``lacuna generate`` (lacuna.dbt.gates, .consumption).
    """

    classification: ClassificationSource = Field(default_factory=ClassificationSource)
    policies: dict[str, PolicyByEnvironment] = Field(default_factory=dict)
    quality_gates: dict[str, Any] | None = None
    quality: dict[str, Any] | None = None  # lacuna.yaml's place for it (its top level is Lacuna's)
    consumption: dict[str, Any] | None = None
    lacuna: dict[str, Any] | None = None
    environment: str | None = None  # Lacuna's addition: the default environment of a project

    @field_validator("policies", mode="before")
    @classmethod
    def _keys(cls, v: Any) -> Any:
        if isinstance(v, Mapping):
            out = {}
            spelt: dict[str, Any] = {}
            for key, value in v.items():
                norm = str(key).strip().lower()
                if norm not in policy_keys():
                    msg = f"[key:{key}]"
                    raise ValueError(msg)
                if norm in out:  # `pii:` and `PII:`: the later would silently replace the other
                    msg = (f"policy keys {spelt[norm]!r} and {key!r} are the same key (keys are "
                           "case-insensitive); merge their rules under one of them")
                    raise ValueError(msg)
                out[norm] = value
                spelt[norm] = key
            return out
        return v

    @field_validator("environment")
    @classmethod
    def _env(cls, v: str | None) -> str | None:
        if v is not None:
            try:
                environment_category(v)
            except ConfigError as exc:  # a ValueError: the message names the file and line
                raise ValueError(str(exc)) from None
        return v

    def rules_for(self, column: ColumnClass, environment: str,
                  config: ClassificationConfig | None = None) -> list[tuple[str, PolicyRule]]:
        """Every rule that applies to a column in an environment, with its key."""
        config = config or ClassificationConfig()
        keys = {column.classification.value, column.sensitivity.value,
                f"{column.sensitivity.value}_sensitivity"}
        tier = config.tier_for(column.classification, column.sensitivity)
        keys |= {k for k, t in TIER_KEYS.items() if t is tier}
        out = []
        for key in sorted(keys & set(self.policies)):
            rule = self.policies[key].for_environment(environment)
            if rule is not None:
                out.append((key, rule))
        return out

    def effect(self, column: ColumnClass, environment: str,
               config: ClassificationConfig | None = None) -> ColumnEffect:
        """What the policies do to one column in one environment (strictest rule wins)."""
        rules = self.rules_for(column, environment, config)
        action = Action.ALLOW
        for _, rule in rules:
            if _ORDER.index(rule.action) > _ORDER.index(action):
                action = rule.action
        production = environment_category(environment) == "production"
        # the rules a read must pass. Production: every rule but allow (a stricter, masking
        # rule must never open what a restrict rule closed; Lacuna's reads return stored
        # values, so a masking rule without requires_role admits no reader: the consumption
        # layer masks). Non-production: restrict rules, which rewrite nothing, so their roles
        # and clearance are checked there too (they were no-ops); masking rules rewrite tables
        gating = [(k, r) for k, r in rules if r.action is not Action.ALLOW
                  and (production or r.action is Action.RESTRICT)]
        approval = any(r.requires_approval for _, r in rules)
        if production and column.sensitivity is Sensitivity.CRITICAL:
            approval = True  # ADR-0012: critical means explicit approval, always
        return ColumnEffect(
            action=action, role_sets=tuple(r.requires_role for _, r in gating if r.requires_role),
            approval=approval, restricted=bool(gating) or approval,
            policies=tuple(k for k, _ in rules),
            clearance=any(r.action is Action.RESTRICT and not r.requires_role for _, r in gating),
            withheld=tuple(k for k, r in gating if r.action.transforms and not r.requires_role))


@dataclass(frozen=True, slots=True, kw_only=True)
class ColumnEffect:
    action: Action
    role_sets: tuple[tuple[str, ...], ...] = ()  # a reader needs one role of each set
    approval: bool = False
    # reads are checked: in production any rule but allow, elsewhere a restrict rule (one
    # that rewrites nothing), and requires_approval anywhere
    restricted: bool = False
    policies: tuple[str, ...] = ()
    clearance: bool = False  # a restrict rule without requires_role: a clearance of its tier
    # the keys of masking rules without requires_role: production reads through Lacuna return
    # stored values, so these admit no reader there (read the masked consumption layer)
    withheld: tuple[str, ...] = ()


def default_environment(governance: GovernanceConfig, configured: str | None, *,
                        pinned: str | None = None) -> str:
    """The environment a project's rules apply in when no command names one: production when
    the configuration pins it (``pinned``: :func:`production_pin`), or when the project's
    governance environment (floe.yaml's) or ``configured`` (lacuna.yaml's) is
    production, so neither file opens what the other closes (floe.yaml's example says
    ``development`` for its own runs; a production host's lacuna.yaml says ``production``);
    else the project's, else ``configured``."""
    if pinned:
        return "production"
    named = [e for e in (governance.environment, configured) if e]
    production = [e for e in named if environment_category(e) == "production"]
    return (production or named or ["development"])[0]


def production_pin(config: Config, project_dir: str | os.PathLike[str]) -> str | None:
    """Where the configuration pins this project to production, or None. The most specific
    setting decides, as it does for SQL reads (:func:`lacuna.dbt.reads.read_environment`):
    lacuna.yaml's ``dbt.environment`` when its ``dbt.project_dir`` is this project, else its
    ``environment``. The project's own ``floe.yaml`` environment is a default, not a pin."""
    where = config.source or "the configuration"
    from lacuna.dbt.settings import dbt_settings_from

    try:
        found = dbt_settings_from(config.dbt, where=where)
    except ConfigError:
        found = None  # reported where the section is used
    if found is not None and found.environment is not None:
        try:
            same = found.project_path(config.source).resolve() == Path(project_dir).resolve()
        except OSError:
            same = False
        if same:
            production = environment_category(found.environment) == "production"
            return f"{where} (dbt.environment: {found.environment})" if production else None
    if environment_category(config.environment) == "production":
        return f"{where} (environment: {config.environment})"
    return None


def check_environment(requested: str | None, config: Config,
                      project_dir: str | os.PathLike[str]) -> None:
    """Refuse a non-production ``requested`` environment (``-e``, ``environment=``) where
    the configuration pins production (:func:`production_pin`): production data would be
    read unmasked, left raw or recorded as allowed under rules the host does not run.

    Raises:
        ConfigError: naming the requested environment, the pin's file and key, and the fix.
    """
    if requested is None or environment_category(requested) == "production":
        return
    pin = production_pin(config, project_dir)
    if pin is None:
        return
    msg = (f"environment {requested!r} refused: {pin} pins this host to production, and "
           "production's rules apply whatever a command names. Leave out -e/--environment "
           "(environment=) to work in production; to work in another environment, change "
           "that setting in the file (an audited change of the configuration) or use the "
           "configuration of a host that holds that environment's data (-c / LACUNA_CONFIG)")
    raise ConfigError(msg)


def policy_keys() -> set[str]:
    levels = [s.value for s in Sensitivity]
    return ({k.value for k in ColumnKind} | set(levels) | {f"{s}_sensitivity" for s in levels}
            | set(TIER_KEYS))


# -- loading -----------------------------------------------------------------------------------


def in_force(raw: Any) -> Any:
    """A ``governance:`` mapping with the policies it stands for: none named (``{}``, no
    ``policies:``, ``policies: {}``) is :data:`ADR_DEFAULT_POLICIES`; only sensitivity levels
    named keep the defaults of the others. Anything else as it is (validated later)."""
    if not isinstance(raw, Mapping):
        return raw
    named = raw.get("policies")
    if named in (None, {}):
        return {**raw, "policies": copy.deepcopy(ADR_DEFAULT_POLICIES)}
    if isinstance(named, Mapping) and all(_level(k) is not None for k in named):
        return {**raw, "policies": _with_default_levels(named)}
    return raw


def _level(key: Any) -> str | None:
    """The sensitivity level a policy key names (``high`` for ``high`` and
    ``High_Sensitivity``), or None for a class or tier key."""
    text = str(key).strip().lower().removesuffix("_sensitivity")
    return text if text in {s.value for s in Sensitivity} else None


def _with_default_levels(named: Mapping[Any, Any]) -> dict[Any, Any]:
    """``named`` (sensitivity keys only) with the ADR's default for each level it does not
    name: a section that names only ``low`` does not open high and critical columns."""
    levels = {_level(k) for k in named}
    return {**{k: copy.deepcopy(v) for k, v in ADR_DEFAULT_POLICIES.items()
               if _level(k) not in levels}, **named}


def governance_from(raw: Any, *, where: str = "<config>",
                    prefix: tuple[str, ...] = ("governance",),
                    origin: Origin | None = None) -> GovernanceConfig:
    """Validate a ``governance:`` mapping.

    A section that names no policies (no ``policies:``, or an empty one) gets
    :data:`ADR_DEFAULT_POLICIES`: an empty section means the ADR's defaults, never "no rules".
    ``raw`` None is no section at all (nothing to apply).

    Raises:
        ConfigError: an unknown key (with the nearest valid one) or a bad value, naming the
            file, the line when known, and the path.
    """
    if raw is None:
        return GovernanceConfig()
    return validate_section(GovernanceConfig, in_force(raw), prefix=prefix,
                            origin=origin or Origin(where),
                            title="governance section", docs="docs/dbt.md",
                            special=_policy_key)


def config_files(project_dir: str | os.PathLike[str] = ".", *,
                 config: str | os.PathLike[str] | None = None,
                 names: tuple[str, ...] = ("floe.yaml", "lacuna.yaml"),
                 ) -> Iterator[tuple[Path, Any, dict[Key, int]]]:
    """A dbt project's settings files, parsed, in order: ``config`` alone when given, else those
    of ``names`` in the project folder that exist; each with its data and its key lines.

    Raises:
        ConfigError: ``config`` does not exist, or a file cannot be read or is not YAML.
    """
    from lacuna.config import parse_yaml

    root = Path(project_dir)
    for path in [Path(config)] if config else [root / name for name in names]:
        if not path.is_file():
            if config:
                msg = f"{path}: no such config file"
                raise ConfigError(msg)
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            msg = f"{path}: cannot read it ({type(exc).__name__})"
            raise ConfigError(msg) from None
        raw, lines = parse_yaml(text, str(path))
        yield path, raw, lines


def load_governance(project_dir: str | Path = ".", *,
                    config: str | Path | None = None) -> tuple[GovernanceConfig, str]:
    """The governance section of ``config``, else ``floe.yaml``, else ``lacuna.yaml`` in the
    project folder; with the file it came from (``"defaults"`` when none has one)."""
    for path, raw, lines in config_files(project_dir, config=config):
        if not isinstance(raw, Mapping) or "governance" not in raw:
            continue
        # `governance:` with nothing under it is a section too: the ADR's defaults
        section = {} if raw["governance"] is None else raw["governance"]
        gov = governance_from(section, origin=Origin(str(path), lines))
        env = raw.get("environment")
        if env is not None and (not isinstance(env, str) or env not in ENVIRONMENT_CATEGORY):
            # fail closed: an environment Lacuna cannot read (`prod`, `Production`) must not
            # quietly become the default (development), where production reads are open
            msg = (f"{Origin(str(path), lines).at(('environment',))}: environment: unknown "
                   f"environment {env!r}; expected one of: {', '.join(ENVIRONMENT_CATEGORY)} "
                   "(ADR-0012's environment types; set it to one of them, or remove it and "
                   "pass --environment)")
            raise ConfigError(msg)
        if gov.environment is None and env is not None:
            gov = gov.model_copy(update={"environment": env})
        return gov, str(path)
    return GovernanceConfig(), "defaults"


def _policy_key(err: Mapping[str, Any], key: str) -> str | None:
    """An unknown key under ``policies`` (raised as ``[key:<name>]``): the nearest valid one."""
    message = str(err.get("msg", ""))
    if "[key:" not in message:
        return None
    bad = message.split("[key:", 1)[1].rstrip("]")
    near = difflib.get_close_matches(bad.lower(), sorted(policy_keys()), n=1, cutoff=0.5)
    hint = f"; did you mean '{near[0]}'?" if near else ""
    return (f"{key}.{bad}: unknown policy key{hint} (valid: a class "
            "pii|phi|financial|identifier|public, a sensitivity like high_sensitivity, or a "
            "tier internal|confidential)")
