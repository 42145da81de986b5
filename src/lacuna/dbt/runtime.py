"""The runtime effect of ``governance.policies`` on a dbt project's outputs (ADR-0012).

- **non_production** (development, preview, staging): :func:`apply_environment` rewrites the
  built tables: ``synthesize`` replaces a classified column with synthetic values of its
  ``pii_type`` (:func:`lacuna.anonymize.synthetic.generate`, keyed by ``seed``: the same
  original value gives the same synthetic value in every model, so joins still line up),
  ``redact`` blanks it (NULL), ``mask`` and ``hash`` apply Lacuna's anonymize strategies.
  :func:`transform_frame` does the same to one pandas frame. ``restrict`` rewrites nothing,
  so there :func:`authorize_read` checks its roles or clearance (and ``requires_approval``)
  as in production.
- **production**: :func:`authorize_read` decides whether a user may read a model: every
  rule but ``allow`` on one of its columns must let the user through (one of its
  ``requires_role``; without it, a ``restrict`` rule asks a clearance at least the column's
  tier and a masking rule admits nobody, reads returning stored values), and a
  ``critical`` column (or ``requires_approval``) needs an approved Lacuna exception for reading
  ``dbt://<project>/<model>``. :func:`read_model` reads a model's table through that check; SQL
  and server integrations call :func:`authorize_read` (or :func:`authorize_relation`) with the
  relation they are about to read.

The dbt side: the ``lacuna.govern()`` post-hook records that a node wants this treatment and
``lacuna dbt apply`` carries it out after ``dbt build`` (dbt macros cannot run Python).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from lacuna.dbt.classify import (
    FOREIGN_NOTE,
    NodeClassification,
    ProjectClassification,
    classify_project,
    unknown_fix,
)
from lacuna.dbt.classify import UNNAMED as UNNAMED_COLUMN
from lacuna.dbt.governance import (
    Action,
    ColumnEffect,
    GovernanceConfig,
    check_environment,
    default_environment,
    load_governance,
    production_pin,
)
from lacuna.dbt.manifest import DbtNode, DbtProject, load_project
from lacuna.errors import ConfigError, GovernanceViolation, IntegrationError
from lacuna.model import (
    Action as OpAction,
)
from lacuna.model import (
    ColumnClass,
    Decision,
    Destination,
    DestinationType,
    Operation,
    Scope,
    User,
    environment_category,
    utcnow,
)
from lacuna.redact import redact_url

if TYPE_CHECKING:
    import pandas as pd

    from lacuna.config import Config
    from lacuna.exceptions.store import ExceptionStore

POLICY_ID = "lacuna.dbt.governance"
# how a read's decision names a model's output columns Lacuna cannot name
UNNAMED = "(columns Lacuna cannot name: untraceable SQL, an expression without an alias)"
DATA_KINDS = ("model", "seed", "snapshot")

log = logging.getLogger("lacuna.dbt")


@dataclass(frozen=True, slots=True, kw_only=True)
class GovernancePlan:
    """Per node, per classified column: its class and what the policies do to it."""

    environment: str
    classification: ProjectClassification
    governance: GovernanceConfig
    effects: Mapping[str, Mapping[str, tuple[ColumnClass, ColumnEffect]]] = field(
        default_factory=dict)
    # per node, what the policies do to its output columns Lacuna cannot name
    # (NodeClassification.unnamed): in production a read is checked against it, and a built
    # column the classification does not name is transformed by it
    unnamed: Mapping[str, tuple[ColumnClass, ColumnEffect]] = field(default_factory=dict)

    @property
    def category(self) -> str:
        return environment_category(self.environment)

    def of(self, name_or_id: str) -> Mapping[str, tuple[ColumnClass, ColumnEffect]]:
        node = self.classification.project.node(name_or_id)
        return self.effects.get(node.unique_id, {})

    def checked(self, name_or_id: str) -> dict[str, tuple[ColumnClass, ColumnEffect]]:
        """:meth:`of` and, when the node has output columns Lacuna cannot name, their effect
        under :data:`UNNAMED` (what a production read is checked against)."""
        node = self.classification.project.node(name_or_id)
        out = dict(self.of(node.unique_id))
        if node.unique_id in self.unnamed:
            out[UNNAMED] = self.unnamed[node.unique_id]
        return out

    def for_table(self, node: DbtNode, columns: Iterable[str]
                  ) -> dict[str, tuple[ColumnClass, ColumnEffect]]:
        """The effects on a built table with ``columns``: each classified column's, and for
        a column the classification does not name (case aside), the unnamed columns' effect
        (fail closed: ``upper(email)`` built from SQL Lacuna traced as ``_col_0``)."""
        out = dict(self.of(node.unique_id))
        extra = self.unnamed.get(node.unique_id)
        if extra is not None:
            named = {str(c).lower() for c in
                     self.classification.nodes[node.unique_id].classification.columns}
            out.update({str(c): extra for c in columns if str(c).lower() not in named})
        return out


def plan(
    classification: ProjectClassification,
    governance: GovernanceConfig,
    environment: str,
    config: Config | None = None,
) -> GovernancePlan:
    """What ``governance`` does to every classified column of the project in ``environment``."""
    environment_category(environment)  # ConfigError for an unknown environment
    cls_config = config.classification if config is not None else None
    effects: dict[str, Mapping[str, tuple[ColumnClass, ColumnEffect]]] = {}
    unnamed: dict[str, tuple[ColumnClass, ColumnEffect]] = {}
    for uid, nc in classification.nodes.items():
        per: dict[str, tuple[ColumnClass, ColumnEffect]] = {}
        for name, col in nc.classification.columns.items():
            effect = governance.effect(col, environment, cls_config)
            if effect.policies or effect.restricted or effect.approval:
                per[name] = (col, effect)
        effects[uid] = MappingProxyType(per)
        if nc.unnamed is not None:
            effect = governance.effect(nc.unnamed, environment, cls_config)
            if effect.policies or effect.restricted or effect.approval:
                unnamed[uid] = (nc.unnamed, effect)
    return GovernancePlan(environment=environment, classification=classification,
                          governance=governance, effects=MappingProxyType(effects),
                          unnamed=MappingProxyType(unnamed))


def load_plan(
    project_dir: str | Path = ".",
    *,
    environment: str | None = None,
    governance: GovernanceConfig | None = None,
    config_file: str | Path | None = None,
    config: Config | None = None,
    verify: bool = True,
    target: str | None = None,
) -> GovernancePlan:
    """Load the project, its classification and governance, and plan for ``environment``
    (default: production when the governance section's or lacuna.yaml's ``environment`` is,
    else the section's, else lacuna.yaml's: :func:`~lacuna.dbt.governance.default_environment`
    ); ``verify``: check
    the manifest against the project's files, ``target``: the profile's output dbt ran with
    (:func:`lacuna.dbt.manifest.load_project`)."""
    project = load_project(project_dir, verify=verify, target=target)
    if governance is None:
        governance, _ = load_governance(project_dir, config=config_file)
    if config is None:
        from lacuna.config import load_config

        config = load_config()
    check_environment(environment, config, project_dir)  # a production host stays there
    env = environment or default_environment(governance, config.environment,
                                             pinned=production_pin(config, project_dir))
    pc = classify_project(project, config.classification)
    return plan(pc, governance, env, config)


# -- non-production: transform ------------------------------------------------------------------


def synthesis_key(seed: int | str | bytes) -> bytes:
    """The key :func:`lacuna.synthesize` derives from a seed (same seed and anonymization key,
    same values; the seed alone reproduces nothing: :func:`lacuna.synthesize.seed_key`)."""
    from lacuna.synthesize import seed_key

    return seed_key(seed)


def transform_frame(
    df: pd.DataFrame,
    effects: Mapping[str, tuple[ColumnClass, ColumnEffect]],
    *,
    seed: int | str | bytes,
) -> tuple[pd.DataFrame, dict[str, str]]:
    """A copy of ``df`` with each column's transforming action applied; and what was done."""
    import pandas as pd

    from lacuna.anonymize.synthetic import generate

    out = df.copy()
    done: dict[str, str] = {}
    key = synthesis_key(seed)
    lookup = {str(c).lower(): c for c in out.columns}
    for name, (col, effect) in effects.items():
        actual = lookup.get(name.lower())
        if actual is None or not effect.action.transforms:
            continue
        values = out[actual]
        if effect.action is Action.REDACT:
            out[actual] = pd.Series([None] * len(values), index=values.index, dtype="object")
        elif effect.action is Action.SYNTHESIZE:
            mask = values.notna()
            synthetic = generate(values[mask].astype(str), col.pii_type, key)
            new = pd.Series([None] * len(values), index=values.index, dtype="object")
            new[mask] = synthetic.to_numpy()
            out[actual] = new
        else:
            out[actual] = _anonymized(out[[actual]], actual, effect.action.value)
        done[str(actual)] = effect.action.value
    return out, done


def _anonymized(frame: pd.DataFrame, column: str, strategy: str) -> Any:
    from lacuna.anonymize.api import anonymize

    return anonymize(frame, [column], strategy)[column]


# What `lacuna dbt apply` treated, for `lacuna dbt record` (target/, next to run_results.json):
# {"invocation_id": dbt's, "environment": ..., "database": ..., "nodes": {unique_id: {column:
# action}}, "signature": the installation key's signature of the rest}. target/ is the dbt
# project's to write, so an unsigned or edited note vouches for nothing.
APPLIED = "lacuna_applied.json"
_APPLIED_WHAT = "lacuna-dbt-applied"


def _applied_payload(note: Mapping[str, Any]) -> dict[str, Any]:
    return {"what": _APPLIED_WHAT, **{k: v for k, v in note.items() if k != "signature"}}


def _signed_note(path: Path) -> dict[str, Any] | None:
    """The note at ``path`` when Lacuna's key signed it (:mod:`lacuna.signing`), else None
    (missing, unreadable, unsigned or edited: logged when it is there but does not verify)."""
    import json

    from lacuna.signing import default_keyring

    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(raw, dict):
        return None
    if not default_keyring().verify(_applied_payload(raw), raw.get("signature")):
        log.warning("%s is not signed by this installation's key (written or edited outside "
                    "lacuna dbt apply): it vouches for nothing", path)
        return None
    return raw


def _invocation(project: DbtProject) -> str | None:
    """The id of the dbt invocation whose results are in target/ (None without them)."""
    import json

    try:
        raw = json.loads((project.target_dir / "run_results.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    found = (raw.get("metadata") or {}).get("invocation_id") if isinstance(raw, dict) else None
    return str(found) if found else None


def _mark_applied(project: DbtProject, environment: str,
                  nodes: Mapping[str, Mapping[str, str]], database: str) -> None:
    """Note what apply treated, in which warehouse (``database``: :func:`_where`), for the
    dbt invocation that built the tables (merged with an earlier apply of the same
    invocation, environment and warehouse)."""
    import json

    invocation = _invocation(project)
    if invocation is None:
        return  # no run to vouch for: `lacuna dbt record` needs run_results.json anyway
    from lacuna.signing import default_keyring

    path = project.target_dir / APPLIED
    done: dict[str, dict[str, str]] = {}
    old = _signed_note(path) if path.exists() else None
    try:
        if old is not None and (old.get("invocation_id"), old.get("environment"),
                                old.get("database")) == (invocation, environment, database):
            done = {str(k): dict(v) for k, v in old["nodes"].items()}
    except (AttributeError, KeyError, TypeError, ValueError):
        pass
    for uid, cols in nodes.items():
        done.setdefault(uid, {}).update(cols)
    note: dict[str, Any] = {"invocation_id": invocation, "environment": environment,
                            "database": database, "nodes": done}
    note["signature"] = default_keyring().sign(_applied_payload(note))
    path.write_text(json.dumps(note, indent=1), encoding="utf-8")


def _where(database: str | Path) -> str:
    """How apply's note and record name a warehouse: a DuckDB file's resolved path, a URL
    without its password."""
    text = str(database)
    if isinstance(database, Path) or text.startswith("duckdb:///"):
        return str(Path(text.removeprefix("duckdb:///").split("?")[0]).resolve())
    return redact_url(text)


def applied(project: DbtProject, invocation: str, environment: str,
            database: str | Path | None = None) -> dict[str, set[str]]:
    """Per node, the columns ``lacuna dbt apply`` treated for ``environment`` after dbt
    invocation ``invocation`` (:data:`APPLIED`), in ``database`` when given (a DuckDB
    file's path or a warehouse URL: an apply to a copy of the warehouse vouches for
    nothing); empty when it did not run for them, or when the note is not signed by this
    installation's key (target/ is the project's: a note written or edited by hand)."""
    raw = _signed_note(project.target_dir / APPLIED)
    if raw is None:
        return {}
    try:
        if raw.get("invocation_id") != invocation or raw.get("environment") != environment:
            return {}
        if database is not None and raw.get("database") != _where(database):
            return {}
        return {str(uid): {str(c) for c in cols} for uid, cols in raw["nodes"].items()}
    except (OSError, ValueError, AttributeError, KeyError, TypeError):
        return {}


@dataclass(frozen=True, slots=True, kw_only=True)
class ApplyReport:
    environment: str
    database: str
    tables: Mapping[str, Mapping[str, str]]  # relation -> {column: action}
    skipped: tuple[str, ...] = ()  # nodes with effects whose table was not found


def apply_environment(
    project_dir: str | Path = ".",
    *,
    environment: str | None = None,
    seed: int | str | bytes = "lacuna",
    database: str | Path | None = None,
    governance_plan: GovernancePlan | None = None,
    warehouse: Any = None,
    target: str | None = None,
) -> ApplyReport:
    """Rewrite the project's built tables for a non-production environment: the DuckDB file
    directly (``database``, else the ``path`` of the profile's ``target`` output:
    :func:`warehouse_path`), or any warehouse through SQLAlchemy (``warehouse``: an Engine or
    URL, default lacuna.yaml's ``dbt.warehouse`` for this project; :mod:`lacuna.dbt.warehouse`).

    Raises:
        ConfigError: the environment is production (nothing to rewrite there: reads are
            checked instead) or unknown.
        IntegrationError: the warehouse cannot be opened.
        ManifestError: the DuckDB file is not there (:func:`warehouse_path`).
    """
    gp = governance_plan or load_plan(project_dir, environment=environment, target=target)
    if gp.category == "production":
        msg = (f"environment {gp.environment!r} is production: Lacuna does not rewrite "
               "production tables; reads are checked instead (lacuna.dbt.runtime.read_model)")
        raise ConfigError(msg)
    project = gp.classification.project
    if database is None:
        warehouse = warehouse or configured_warehouse(project)
    if warehouse is not None:
        return _apply_sql(gp, warehouse, seed)
    con, path = _connect(project, database, read_only=False, target=target)
    tables: dict[str, Mapping[str, str]] = {}
    treated: dict[str, Mapping[str, str]] = {}
    skipped: list[str] = []
    try:
        for node in project.topological():
            if node.resource_type not in DATA_KINDS or not _transforms(gp, node):
                continue
            relation = _relation(node)
            try:
                frame = con.execute(f"select * from {relation}").fetchdf()
            except Exception:  # duckdb.CatalogException: not built (yet)
                skipped.append(node.unique_id)
                continue
            new, done = transform_frame(frame, gp.for_table(node, frame.columns), seed=seed)
            types = {r[0]: r[1] for r in con.execute(f"describe {relation}").fetchall()}
            con.register("lacuna_governed_frame", new)
            select = ", ".join(_cast(c, types.get(str(c))) for c in new.columns)
            con.execute(f"create or replace table {relation} as "
                        f"select {select} from lacuna_governed_frame")
            con.unregister("lacuna_governed_frame")
            tables[relation] = MappingProxyType(done)
            treated[node.unique_id] = done
    finally:
        con.close()
    _mark_applied(project, gp.environment, treated, _where(Path(path)))
    return ApplyReport(environment=gp.environment, database=str(path),
                       tables=MappingProxyType(tables), skipped=tuple(skipped))


def _apply_sql(gp: GovernancePlan, warehouse: Any, seed: int | str | bytes) -> ApplyReport:
    from lacuna.dbt import warehouse as wh

    engine = wh.engine_for(warehouse)
    tables: dict[str, Mapping[str, str]] = {}
    treated: dict[str, Mapping[str, str]] = {}
    skipped: list[str] = []
    try:
        for node in gp.classification.project.topological():
            if node.resource_type not in DATA_KINDS or not _transforms(gp, node):
                continue
            built = wh.table_columns(engine, node)
            if not built:
                skipped.append(node.unique_id)
                continue
            done = wh.rewrite_columns(engine, node, gp.for_table(node, built), seed=seed)
            tables[wh.relation(engine, node)] = MappingProxyType(done)
            treated[node.unique_id] = done
    finally:
        if engine is not warehouse:
            engine.dispose()  # ours: close its pooled connections (DuckDB locks the file)
    _mark_applied(gp.classification.project, gp.environment, treated, _where(str(engine.url)))
    return ApplyReport(environment=gp.environment,
                       database=redact_url(engine.url),
                       tables=MappingProxyType(tables), skipped=tuple(skipped))


def _transforms(gp: GovernancePlan, node: DbtNode) -> bool:
    """Whether a non-production plan rewrites anything of ``node``'s table."""
    return any(e.action.transforms for _, e in gp.checked(node.unique_id).values())


def configured_warehouse(project: DbtProject, config: Config | None = None) -> str | None:
    """lacuna.yaml's ``dbt.warehouse`` when its ``dbt.project_dir`` is this project."""
    from lacuna.dbt.settings import dbt_settings_from

    if config is None:
        from lacuna.config import load_config

        config = load_config()
    found = dbt_settings_from(config.dbt, where=config.source or "<config>")
    if found is None or found.warehouse is None:
        return None
    try:
        same = found.project_path(config.source).resolve() == project.project_dir.resolve()
    except OSError:
        return None
    return found.warehouse if same else None


def _cast(column: Any, type_: str | None) -> str:
    """Keep the column's type: synthetic dates are dates, redacted columns stay typed."""
    quoted = '"' + str(column).replace('"', '""') + '"'
    if not type_:
        return quoted
    return f"try_cast({quoted} as {type_}) as {quoted}"


def warehouse_path(project: DbtProject, database: str | Path | None = None,
                   target: str | None = None) -> Path:
    """The DuckDB file of the project: ``database``, else the ``path`` of the profile's target
    output (``target``: ``--target``), else, only when the target cannot be read, the
    manifest's ``<database>.duckdb`` (:func:`lacuna.dbt.locate.locate`).

    Raises:
        IntegrationError: the project or its target is not DuckDB (or not a local file).
        ManifestError: there is no such file; the message names ``profiles.yml``'s output.
    """
    from lacuna.dbt.locate import locate

    return locate(project, database, target).require()


def _connect(project: DbtProject, database: str | Path | None, *, read_only: bool,
             target: str | None = None) -> Any:
    try:
        import duckdb
    except ImportError:
        msg = 'DuckDB is not installed: pip install "lacuna[duckdb]"'
        raise IntegrationError(msg) from None
    path = warehouse_path(project, database, target)
    try:
        return duckdb.connect(str(path), read_only=read_only), path
    except duckdb.Error as exc:
        msg = f"cannot open the DuckDB warehouse {path}: {exc}"
        raise IntegrationError(msg) from None


def _relation(node: DbtNode) -> str:
    return ".".join('"' + p.replace('"', '""') + '"' for p in (node.schema, node.table) if p)


# -- production: restrict reads -----------------------------------------------------------------


def dataset_uri(project: DbtProject, node: DbtNode) -> str:
    """How an approval (a Lacuna exception) names a model: ``dbt://<project>/<model>`` (a
    model's version: ``<model>.v<version>``, :attr:`DbtNode.dataset_name`)."""
    return f"dbt://{project.name}/{node.dataset_name}"


def authorize_read(
    governance_plan: GovernancePlan,
    model: str,
    user: User,
    *,
    exception_id: str | None = None,
    config: Config | None = None,
    exceptions: ExceptionStore | None = None,
) -> Decision:
    """May ``user`` read ``model`` in the plan's environment? A :class:`Decision` that names
    the role (or clearance, or approval) that is missing. Approvals are looked up in
    ``exceptions`` (default: the store at ``config``'s audit URL)."""
    nc = governance_plan.classification.of(model)
    project = governance_plan.classification.project
    effects = governance_plan.checked(model)
    op_id = str(uuid.uuid4())
    if governance_plan.category != "production" and not any(
            e.restricted for _, e in effects.values()):
        return Decision(allowed=True, operation_id=op_id, policy_id=POLICY_ID, reasoning=(
            f"{governance_plan.environment} is non_production: reads are not restricted "
            "(classified columns are synthesized or redacted instead)"))
    missing: list[str] = []
    approval_for: list[str] = []
    held = user_roles(user)
    for name, (col, effect) in effects.items():
        if not effect.restricted:
            continue
        for roles in effect.role_sets:
            if not held & set(roles):
                missing.append(f"column {name} ({', '.join(effect.policies)}) requires role "
                               f"{' or '.join(roles)}")
        if effect.withheld:
            missing.append(f"column {name} ({', '.join(effect.withheld)}) is "
                           f"{effect.action.value} in production and Lacuna's reads return "
                           "stored values: no reader may read it unmasked (read it through "
                           "the consumption layer, lacuna generate cube, or give those rules "
                           "requires_role)")
        if effect.clearance:
            tier = (config.classification if config else _default_cls()).tier_for(
                col.classification, col.sensitivity)
            if user.clearance < tier:
                missing.append(f"column {name} ({', '.join(effect.policies)}) is restricted: "
                               f"requires clearance {tier.value} (user has "
                               f"{user.clearance.value}); or name roles with requires_role")
        if effect.approval:
            approval_for.append(name)
    if approval_for:
        note = _approval(project, nc, user, exception_id, config, exceptions,
                         environment=governance_plan.environment)
        if note is not None:
            what = "are critical" if governance_plan.category == "production" and any(
                effects[n][0].sensitivity.value == "critical" for n in approval_for) \
                else "need approval (requires_approval)"
            missing.append(f"column(s) {', '.join(approval_for)} {what}: reading "
                           f"{dataset_uri(project, nc.node)} needs an explicit approval ({note})")
    if missing and nc.unknown_reads:  # say what would let Lacuna know the columns
        foreign = any(FOREIGN_NOTE in r for r in nc.unknown_reads)
        missing.append(f"{nc.node.dataset_name} reads {', '.join(nc.unknown_reads)}, whose "
                       + ("columns Lacuna does not know" if foreign else "YAML lists no columns")
                       + ", so Lacuna governs what it takes from there as pii (high, "
                       "PROPRIETARY): " + (unknown_fix(nc.unknown_reads) if foreign else
                                           "list those columns with their meta.floe "
                                           "classification in the YAML, then run `dbt parse`"))
    if missing:
        return Decision(
            allowed=False, operation_id=op_id, policy_id=POLICY_ID,
            policy_title=(f"ADR-0012 {governance_plan.category} policies "
                          "(governance.policies)"),
            reasoning=(f"user {user.id} (role {user.role}) may not read {nc.node.dataset_name} in "
                       f"{governance_plan.environment}: " + "; ".join(missing)),
            why=(f"{governance_plan.category} data: classified columns are restricted to the "
                 "roles the governance section names",),
        )
    return Decision(allowed=True, operation_id=op_id, policy_id=POLICY_ID,
                    reasoning=f"user {user.id} (role {user.role}) may read {nc.node.dataset_name}")


def user_roles(user: User) -> set[str]:
    """The user's role and, from a server's token, every role it holds (``attributes.roles``)."""
    extra = user.attributes.get("roles") if user.attributes else None
    roles = {user.role}
    if isinstance(extra, (list, tuple, set, frozenset)):
        roles.update(str(r) for r in extra)
    return roles


def restricts(governance_plan: GovernancePlan, model: str) -> bool:
    """Whether any read of ``model`` is restricted in the plan's environment (in production
    a rule other than ``allow``, elsewhere a ``restrict`` rule, or an approval, on one of its
    columns: :attr:`ColumnEffect.restricted`)."""
    return any(e.restricted or e.approval for _, e in governance_plan.checked(model).values())


def _default_cls() -> Any:
    from lacuna.config import ClassificationConfig

    return ClassificationConfig()


def _approval(project: DbtProject, nc: NodeClassification, user: User,
              exception_id: str | None, config: Config | None,
              exceptions: ExceptionStore | None = None,
              environment: str = "production") -> str | None:
    """None when a verified, approved exception covers this read; else why not."""
    if not exception_id:
        return (f"request one: lacuna.request_exception(destination="
                f"'{dataset_uri(project, nc.node)}', action='read', ...), then read with "
                "exception_id= (read_model, the server's decide) or, in SQL, inside "
                "`with lacuna.dbt.reads.approval(id):`")
    from lacuna.config import load_config
    from lacuna.exceptions.store import ExceptionStore, grant_for

    settings = config or load_config()
    uri = dataset_uri(project, nc.node)
    operation = Operation(
        action=OpAction.READ, user=user, classification=nc.classification,
        destination=Destination(uri=uri, type=DestinationType.DATABASE, scope=Scope.INTERNAL),
        environment=environment, exception_id=exception_id, method="lacuna.dbt.read_model")
    store = exceptions if exceptions is not None else ExceptionStore(settings.audit_url)
    try:
        role, note = grant_for(store, operation, utcnow(), settings.stewards)
    except Exception as exc:  # the store is down: no grant (fail closed), say so
        return f"exception {exception_id} could not be checked ({exc})"
    finally:
        if exceptions is None:
            store.close()
    return None if role is not None else (note or f"exception {exception_id} does not cover it")


def authorize_relation(governance_plan: GovernancePlan, relation: str, user: User,
                       **kwargs: Any) -> Decision | None:
    """:func:`authorize_read` for a warehouse relation name (``schema.table`` or
    ``db.schema.table``, quoted or not); ``None`` when no node of the project builds it."""
    node = node_for_relation(governance_plan.classification.project, relation)
    if node is None:
        return None
    return authorize_read(governance_plan, node.unique_id, user, **kwargs)


def node_for_relation(project: DbtProject, relation: str) -> DbtNode | None:
    """The model, seed or snapshot that builds ``relation`` (``table``, ``schema.table`` or
    ``db.schema.table``, quoted or not, any case); None when none does."""
    want = [p.strip().strip('"`[]').lower() for p in relation.split(".")]
    for node in project.nodes.values():
        if node.resource_type not in (*DATA_KINDS, "source"):
            continue
        parts = [p.lower() for p in (node.database, node.schema, node.table) if p]
        if len(want) <= len(parts) and parts[-len(want):] == want:
            return node
    return None


def read_model(
    project_dir: str | Path,
    model: str,
    *,
    user: User | None = None,
    environment: str | None = None,
    exception_id: str | None = None,
    database: str | Path | None = None,
    governance_plan: GovernancePlan | None = None,
    warehouse: Any = None,
    target: str | None = None,
) -> pd.DataFrame:
    """Read a model's table as a pandas frame, after :func:`authorize_read`: from the DuckDB
    file, or through SQLAlchemy from ``warehouse`` (an Engine or URL; default lacuna.yaml's
    ``dbt.warehouse`` for this project); ``target``: the profile's output dbt ran with.

    Raises:
        GovernanceViolation: the read is denied; the message names the missing role.
    """
    from lacuna.governor import current

    gov = current()  # the governor that records the read decides with its configuration
    config = gov.config
    gp = governance_plan or load_plan(project_dir, environment=environment, config=config,
                                      target=target)
    who = user or config.user.to_user()
    if config.server is not None:  # the server decides (its plan, the token's roles), records
        decision = gov.govern(read_operation(gp, model, who, method="lacuna.dbt.read_model",
                                             exception_id=exception_id))
    else:
        decision = authorize_read(gp, model, who, exception_id=exception_id, config=config,
                                  exceptions=gov.exceptions)
        # recorded, then the mode, as the governor does every operation: in enforce mode an
        # allowed read the audit trail did not take is denied (nothing runs unrecorded)
        operation = read_operation(gp, model, who, method="lacuna.dbt.read_model",
                                   operation_id=decision.operation_id,
                                   exception_id=exception_id)
        decision = gov.govern(operation, decision=replace(decision, operation=operation))
    if not decision.allowed:
        raise GovernanceViolation(decision)
    node = gp.classification.project.node(model)
    if database is None:
        warehouse = warehouse or configured_warehouse(gp.classification.project, config)
    if warehouse is not None:
        from lacuna.dbt import warehouse as wh

        engine = wh.engine_for(warehouse)
        try:
            return wh.read_table(engine, node)
        finally:
            if engine is not warehouse:
                engine.dispose()
    con, _ = _connect(gp.classification.project, database, read_only=True, target=target)
    try:
        frame: pd.DataFrame = con.execute(f"select * from {_relation(node)}").fetchdf()
    finally:
        con.close()
    return frame


def read_operation(gp: GovernancePlan, model: str, user: User, *, method: str,
                   operation_id: str | None = None, exception_id: str | None = None,
                   code_location: str | None = None) -> Operation:
    """The READ operation of ``model`` (destination ``dbt://<project>/<model>``), as audited."""
    project = gp.classification.project
    nc = gp.classification.of(model)
    extra: dict[str, Any] = {"id": operation_id} if operation_id else {}
    return Operation(
        action=OpAction.READ, user=user, classification=nc.classification,
        destination=Destination(uri=dataset_uri(project, nc.node), type=DestinationType.DATABASE,
                                scope=Scope.INTERNAL),
        environment=gp.environment, method=method, exception_id=exception_id,
        code_location=code_location, **extra)




def govern_vars(gp: GovernancePlan, *, seed: str = "lacuna") -> dict[str, Any]:
    """dbt ``--vars`` for the ``lacuna.govern()`` post-hook: per node, per column, the
    transforming action and ``pii_type`` (empty in production: nothing is rewritten there).

    ``hash`` and ``synthesize`` are keyed: the post-hook reads a secret key from the
    environment variable ``LACUNA_DBT_HASH_KEY`` (at least 16 characters; the run fails
    without it), never from these vars. ``seed`` only tells pseudonym sets apart under one key.

    In the warehouse a model reads its parents *after* their post-hooks ran, so a column whose
    every source column was already treated the same way (or more strictly) upstream is left
    alone: a pseudonym is not pseudonymised again, and joins on it still line up.
    """
    actions: dict[str, dict[str, list[str | None]]] = {}
    if gp.category == "production":
        return {"lacuna_governance": {"environment": gp.environment, "seed": seed,
                                      "actions": actions}}
    project = gp.classification.project
    by_relation = {_relation_key(n): uid for uid, n in project.nodes.items()}
    order = list(Action)
    for uid, per in gp.effects.items():
        edges = gp.classification.nodes[uid].edges
        cols: dict[str, list[str | None]] = {}
        for name, (col, effect) in per.items():
            if not effect.action.transforms:
                continue
            sources = [(by_relation.get(e.source.name.lower()), e.source_column)
                       for e in edges if e.target_column == name]
            upstream = [gp.effects.get(p or "", {}).get(c) for p, c in sources]
            if sources and all(u is not None and order.index(u[1].action)
                               >= order.index(effect.action) for u in upstream):
                continue  # already treated upstream
            cols[name] = [effect.action.value, col.pii_type]
        unnamed = gp.unnamed.get(uid)
        if unnamed is not None and unnamed[1].action.transforms:
            # the built columns the classification does not name (the hook expands "*"); a
            # placeholder name (`_col_0`) is not a built column
            cols = {n: a for n, a in cols.items() if not UNNAMED_COLUMN.fullmatch(n)}
            cols["*"] = [unnamed[1].action.value, unnamed[0].pii_type]
            names = gp.classification.nodes[uid].classification.columns
            cols["*"].extend(n for n in names if not UNNAMED_COLUMN.fullmatch(n))
        if cols:
            actions[uid] = cols
    return {"lacuna_governance": {"environment": gp.environment, "seed": seed,
                                  "actions": actions}}


def _relation_key(node: DbtNode) -> str:
    return ".".join(p for p in (node.database, node.schema, node.table) if p).lower()


def effects_summary(gp: GovernancePlan) -> Iterable[tuple[str, str, str, str]]:
    """(node, column, action, policies) rows, for the CLI."""
    for uid, per in gp.effects.items():
        for name, (_, effect) in per.items():
            yield uid, name, effect.action.value, ", ".join(effect.policies)
