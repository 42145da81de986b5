"""``restrict`` on reads of a dbt project's models through SQL and the server (ADR-0012).

With a ``dbt:`` section in ``lacuna.yaml`` (:mod:`lacuna.dbt.settings`), every read of a
relation the project builds is decided by :func:`lacuna.dbt.runtime.authorize_read`, the same
function :func:`~lacuna.dbt.runtime.read_model` uses:

- **SQL** (:func:`check_relations`): a governed SQLAlchemy statement (``lacuna.sql``) or a
  ``pd.read_sql`` whose tables include a model's relation (a query reading it, or a write that
  copies from it) is checked before it runs, for the governor's user;
- **the server** (:func:`model_read`): ``POST /api/v1/decide`` with ``action: read`` and
  ``destination: dbt://<project>/<model>`` is checked for the caller (the token's roles), and
  the operation then carries the model's classification (never the client's) to the policy.

A read in a production environment of a model with rules other than ``allow`` is decided and
recorded in the audit trail (``dbt://<project>/<model>`` as its destination), allowed or not; a
denial names the missing role, clearance or approval and, in ``enforce`` mode, raises
:class:`~lacuna.errors.GovernanceViolation`. A ``critical`` column needs an approved exception
for ``dbt://<project>/<model>``: in SQL, read inside ``with lacuna.dbt.reads.approval(id):``.

Fail closed: a configured project whose manifest cannot be read denies the reads Lacuna cannot
decide (``internal_error``), and a ``dbt://`` decision for an unknown project or model is denied.
"""

from __future__ import annotations

import contextlib
import contextvars
import re
import threading
import uuid
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from lacuna.errors import ConfigError, GovernanceViolation
from lacuna.model import Action, Decision, FrozenDict, Operation, User

if TYPE_CHECKING:
    from lacuna.config import Config
    from lacuna.dbt.governance import GovernanceConfig
    from lacuna.dbt.manifest import DbtNode, DbtProject
    from lacuna.dbt.runtime import GovernancePlan
    from lacuna.dbt.settings import DbtSettings
    from lacuna.governor import Governor

SCHEME = "dbt://"


def is_model_uri(uri: str) -> bool:
    """Whether ``uri`` names a dbt model (``dbt://<project>/<model>``). URI schemes are
    case-insensitive (RFC 3986), so ``DBT://`` is one too: a read spelled that way must meet
    the model's rules, not pass as some other destination with the client's classification."""
    return uri.strip()[:len(SCHEME)].lower() == SCHEME
_APPROVAL: contextvars.ContextVar[str | None] = contextvars.ContextVar("lacuna_dbt_approval",
                                                                      default=None)
_plans: dict[tuple[object, ...], GovernancePlan] = {}
_lock = threading.Lock()


@contextlib.contextmanager
def approval(exception_id: str) -> Iterator[None]:
    """Read ``critical`` models through SQL under an approved exception (for
    ``dbt://<project>/<model>``) inside the block, in this thread or task."""
    token = _APPROVAL.set(exception_id)
    try:
        yield
    finally:
        _APPROVAL.reset(token)


def settings(config: Config) -> DbtSettings | None:
    from lacuna.dbt.settings import dbt_settings_from

    return dbt_settings_from(config.dbt, where=config.source or "<config>") if config.dbt else None


def configured_plan(config: Config) -> GovernancePlan | None:
    """The plan of the project ``config``'s ``dbt:`` section names; None without the section.
    Reloaded when the manifest or the project's governance file changes.

    Raises:
        ManifestError: the project has no readable manifest (run ``dbt parse``).
        ConfigError: the governance section is invalid.
    """
    found = settings(config)
    if found is None:
        return None
    project_dir = found.project_path(config.source).resolve()
    stamps = tuple(_mtime(project_dir / name) for name in
                   ("target/manifest.json", "floe.yaml", "lacuna.yaml", "dbt_project.yml"))
    key = (str(project_dir), stamps, found.environment, id(config))
    with _lock:
        hit = _plans.get(key)
    if hit is not None:
        return hit
    from lacuna.dbt.governance import governance_from, load_governance
    from lacuna.dbt.runtime import load_plan

    governance, where = load_governance(project_dir)
    if where == "defaults" and "governance" in config.model_fields_set:
        # lacuna.yaml's section, even empty (`governance: {}`: the ADR's defaults)
        governance = governance_from(config.governance, where=config.source or "<config>")
    gp = load_plan(project_dir, environment=read_environment(found, governance, config),
                   governance=governance, config=config, verify=found.verify_manifest)
    with _lock:
        if len(_plans) > 32:
            _plans.clear()
        _plans[key] = gp
    return gp


def read_environment(found: DbtSettings, governance: GovernanceConfig, config: Config) -> str:
    """The environment reads are decided in: ``dbt.environment`` when set; else production
    when the project's governance environment or lacuna.yaml's ``environment`` is production
    (the project's ``floe.yaml``, whose example says ``development`` for its own runs, must
    not open what this configuration closes, nor the reverse); else the project's, else
    lacuna.yaml's."""
    from lacuna.dbt.governance import default_environment

    if found.environment is not None:
        return found.environment
    return default_environment(governance, config.environment)


def _mtime(path: Path) -> int:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return 0


def mentioned(config: Config, sql: str) -> list[str]:
    """The relations of restricted models whose table name ``sql`` mentions (for a statement
    sqlglot cannot read: Lacuna cannot tell which tables it reads, so a mention counts)."""
    from lacuna.dbt.runtime import restricts

    gp = configured_plan(config)
    if gp is None:
        return []
    out = []
    for uid, node in gp.classification.project.nodes.items():
        if node.table and restricts(gp, uid) and re.search(
                rf"(?<![\w$]){re.escape(node.table)}(?![\w$])", sql, re.IGNORECASE):
            out.append(".".join(p for p in (node.schema, node.table) if p))
    return out


def check_relations(gov: Governor, relations: Iterable[str], *, url: str | None,
                    method: str, code_location: str | None = None) -> None:
    """Decide the governor's user reading ``relations`` (table names from a SQL statement on
    the database at ``url``) against the configured dbt project; record each decision on a
    restricted model and apply the mode: an enforced denial raises ``GovernanceViolation``.
    Without a ``dbt:`` section, or for relations no model builds, does nothing."""
    names = [r for r in relations if r]
    if not names or not gov.config.dbt:
        return
    try:
        decisions = _decide(gov, names, url=url, method=method, code_location=code_location)
    except GovernanceViolation:
        raise
    except Exception as exc:  # cannot tell whether the read is restricted: fail closed
        gov.internal_error(exc, action=Action.READ, method=method)
        return
    for decision in decisions:
        if gov.config.server is not None and decision.operation is not None:
            # the server decides a dbt:// read by its own plan and the token's roles, and
            # records it (a decision made here is not one its trail takes from a client)
            gov.govern(decision.operation)
        else:
            _apply(gov, decision)


def _decide(gov: Governor, names: list[str], *, url: str | None, method: str,
            code_location: str | None) -> list[Decision]:
    from lacuna.dbt.runtime import authorize_read, node_for_relation, read_operation, restricts

    config = gov.config
    gp = configured_plan(config)
    found = settings(config)
    if gp is None or found is None:
        return []
    if found.warehouse and url and not same_database(url, found.warehouse) \
            and not _reaches(url, found.warehouse):
        return []
    user = config.user.to_user()
    exception_id = _APPROVAL.get()
    out: list[Decision] = []
    seen: set[str] = set()
    project = gp.classification.project
    for name in names:
        node = node_for_relation(project, name)
        # fail closed: a catalog or schema Lacuna does not know (the warehouse ATTACHed `AS
        # wh`, read as wh.main.model or wh.model) names the model's table all the same
        candidates = [node] if node is not None else _same_table(project, name)
        for node in candidates:
            if node.unique_id in seen or not restricts(gp, node.unique_id):
                continue
            seen.add(node.unique_id)
            decision = authorize_read(gp, node.unique_id, user, exception_id=exception_id,
                                      config=config, exceptions=gov.exceptions)
            operation = read_operation(gp, node.unique_id, user, method=method,
                                       operation_id=decision.operation_id,
                                       exception_id=exception_id, code_location=code_location)
            out.append(replace(decision, operation=operation))
    return out


def _same_table(project: DbtProject, relation: str) -> list[DbtNode]:
    """The models, seeds and snapshots whose table is the last part of ``relation`` (quotes and
    case aside)."""
    from lacuna.dbt.runtime import DATA_KINDS

    table = relation.split(".")[-1].strip().strip('"`[]').lower()
    return [n for n in project.nodes.values()
            if n.resource_type in DATA_KINDS and (n.table or "").lower() == table]


def _apply(gov: Governor, decision: Decision) -> None:
    """Record, then the mode: what ``Governor.govern`` does with a policy decision."""
    from lacuna.governor import GovernanceWarning

    stored = gov.record(decision)
    mode = gov.config.mode
    if stored is None and mode == "enforce" and decision.allowed:
        from lacuna.errors import AuditError

        raise GovernanceViolation(gov._unrecorded(
            decision, AuditError("the audit trail did not take the decision (see the log)")))
    if decision.denied:
        if mode == "enforce":
            raise GovernanceViolation(decision)
        if mode == "warn":
            from lacuna.feedback import render_text

            warnings.warn(render_text(decision), GovernanceWarning, stacklevel=4)


def model_read(gov: Governor, operation: Operation) -> tuple[Operation, Decision | None]:
    """For a READ of ``dbt://<project>/<model>``: the operation with the model's
    classification and environment, and the denial when the reader may not read it (None:
    allowed so far; the policy decides the rest). Other operations pass through unchanged.
    Never raises: a read Lacuna cannot decide is denied (fail closed)."""
    dest = operation.destination
    if operation.action is not Action.READ or dest is None or not is_model_uri(dest.uri):
        return operation, None
    try:
        return _model_read(gov, operation, dest.uri)
    except Exception as exc:
        return operation, Decision(
            allowed=False, operation_id=operation.id, operation=operation,
            policy_id="lacuna.dbt.governance",
            reasoning=(f"Denied because Lacuna could not decide the read of {dest.uri} "
                       f"(fail closed): {exc}"),
            engine_error=f"{type(exc).__name__}: {exc}")


def _model_read(gov: Governor, operation: Operation,
                uri: str) -> tuple[Operation, Decision | None]:
    from lacuna.dbt.runtime import authorize_read, read_operation

    project_name, _, model = uri.strip()[len(SCHEME):].partition("/")
    gp = configured_plan(gov.config)
    if gp is None:
        msg = ("no dbt project is configured here: set dbt.project_dir in lacuna.yaml "
               "(docs/dbt.md)")
        raise ConfigError(msg)
    project = gp.classification.project
    if project_name != project.name or not model:
        msg = (f"{uri} names project {project_name!r}; the configured dbt project is "
               f"{project.name!r}: use dbt://{project.name}/<model>")
        raise ConfigError(msg)
    node = project.node(model)  # ManifestError naming the nearest models
    found = settings(gov.config)
    assert found is not None  # a plan means a dbt: section
    operation = replace(operation, user=_with_data_roles(operation.user, found))
    decision = authorize_read(gp, node.unique_id, operation.user,
                              exception_id=operation.exception_id, config=gov.config,
                              exceptions=gov.exceptions)
    governed = read_operation(gp, node.unique_id, operation.user, method=operation.method or
                              "server.dbt.read", operation_id=operation.id,
                              exception_id=operation.exception_id,
                              code_location=operation.code_location)
    # the model's operation is made anew: what the server's request said of it is kept
    # (its client host too: the audit record names it, ``who.host``)
    governed = replace(governed, destination=operation.destination, purpose=operation.purpose,
                       sources=operation.sources, client_host=operation.client_host,
                       host_verified=operation.host_verified)
    if decision.allowed:
        return governed, None
    return governed, replace(decision, operation_id=governed.id, operation=governed)


def _with_data_roles(user: User, found: DbtSettings) -> User:
    """The caller with the governance roles ``dbt.roles`` gives it (``attributes.roles``)."""
    raw = user.attributes.get("roles") if user.attributes else None
    server_roles = tuple(str(r) for r in raw) if isinstance(raw, (list, tuple)) else ()
    extra = found.data_roles(user.id, (user.role, *server_roles))
    if not extra:
        return user
    roles = [*server_roles, *sorted(extra - set(server_roles))]
    return replace(user, attributes=FrozenDict({**dict(user.attributes), "roles": roles}))


def same_database(url: str, other: str) -> bool:
    """Whether two SQLAlchemy URLs name the same database (file databases by resolved path)."""
    from sqlalchemy.engine import make_url

    try:
        a, b = make_url(url), make_url(other)
    except Exception:
        return url == other
    if a.get_backend_name() != b.get_backend_name():
        return False
    if a.get_backend_name() in ("sqlite", "duckdb"):
        return _file(a.database) == _file(b.database)
    return (a.host or "localhost", a.port, a.database) == (b.host or "localhost", b.port,
                                                            b.database)


def _reaches(url: str, warehouse: str) -> bool:
    """Whether a statement on ``url`` may read the warehouse without being on it: DuckDB
    ATTACHes any file or database (``ATTACH 'wh.duckdb' AS wh``, SQLite, PostgreSQL), SQLite
    any SQLite file. Such statements are checked as if they were on the warehouse (fail
    closed)."""
    from sqlalchemy.engine import make_url

    try:
        here, there = make_url(url).get_backend_name(), make_url(warehouse).get_backend_name()
    except Exception:
        return True
    return here == "duckdb" or here == there == "sqlite"


def _file(database: str | None) -> str:
    if not database or database == ":memory:":
        return ":memory:" + uuid.uuid4().hex  # two in-memory databases are never the same
    return str(Path(database).expanduser().resolve())


__all__ = ["approval", "check_relations", "configured_plan", "mentioned", "model_read",
           "same_database"]
