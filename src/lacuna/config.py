"""Configuration: one file, ``lacuna.yaml``, validated with clear errors.

Where the settings come from, first match wins:

1. the ``path`` given to :func:`load_config` (or ``--config`` on the CLI);
2. the ``LACUNA_CONFIG`` environment variable;
3. ``lacuna.yaml`` in the current directory;
4. the ``governance:`` section of ``floe.yaml`` in the current directory (Floe projects);
5. the embedded defaults below.

Relative paths inside a config file are resolved against that file's folder.

Hostile input is refused, always as a :class:`ConfigError` naming the file, the line and the
key: duplicate keys, YAML aliases (``*name``: they make alias bombs), nesting deeper than
``MAX_DEPTH``, files larger than ``MAX_CONFIG_BYTES``, values YAML cannot build (a ``\\U``
escape past U+10FFFF, ``2026-13-01``) and settings past the size limits below
(docs/config.md lists them).
"""

from __future__ import annotations

import getpass
import importlib
import json
import os
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from lacuna.errors import ConfigError
from lacuna.model import (
    FINANCIAL,
    GDPR,
    HIPAA,
    PHI,
    PII,
    ColumnKind,
    Sensitivity,
    Tier,
    User,
    environment_category,
)
from lacuna.sections import Key, Origin, Section, origin_of, parsed, validate_section

CONFIG_FILENAME = "lacuna.yaml"
FLOE_FILENAME = "floe.yaml"

# Size limits (docs/config.md): each keeps one decision, one read or one load cheap.
MAX_CONFIG_BYTES = 256 * 1024  # the whole file
MAX_DEPTH = 16  # nested mappings and lists
MAX_LIST_ITEMS = 1000  # destinations, path rules, stewards, ...
MAX_SENSITIVE_TERMS = 100  # every string column is searched for all of them
MAX_TERM_CHARS = 64  # one term
MAX_TERMS_TOTAL_CHARS = 2000  # all terms together
MAX_ATTRIBUTES_BYTES = 16 * 1024  # user.attributes as JSON: it is in every decision's input
MAX_ATTRIBUTES_DEPTH = 6

# The sections of lacuna.yaml other modules own: their validators (module:function), imported
# when the section is set (docs/dbt.md, docs/retention.md).
OWNED_SECTIONS = {
    "governance": "lacuna.dbt.governance:governance_from",  # ADR-0012's governance: section
    "dbt": "lacuna.dbt.settings:dbt_settings_from",
    "retention": "lacuna.retention.settings:retention_from",
}


def lacuna_home() -> Path:
    """Lacuna's state folder: ``$LACUNA_HOME`` or ``~/.lacuna``."""
    return Path(os.environ.get("LACUNA_HOME") or Path.home() / ".lacuna").expanduser()


DEFAULT_ROLE = "analyst"  # the declared role when neither lacuna.yaml nor $LACUNA_ROLE says


class UserConfig(Section):
    id: str = Field(default_factory=lambda: os.environ.get("LACUNA_USER") or _login())
    role: str = Field(default_factory=lambda: os.environ.get("LACUNA_ROLE") or DEFAULT_ROLE)
    clearance: Tier = Tier.INTERNAL
    department: str | None = None
    attributes: dict[str, Any] = Field(default_factory=dict)

    @field_validator("clearance", mode="before")
    @classmethod
    def _tier(cls, v: Any) -> Tier:
        return parsed(Tier.parse, v)

    @field_validator("attributes")
    @classmethod
    def _bounded(cls, v: dict[str, Any]) -> dict[str, Any]:
        if _depth(v) > MAX_ATTRIBUTES_DEPTH:
            msg = f"nested deeper than {MAX_ATTRIBUTES_DEPTH} levels"
            raise ValueError(msg)
        if _holds_bytes(v):  # YAML's !!binary: no JSON text (decision input, audit trail)
            msg = ("holds a binary value (YAML !!binary), which policies and the audit trail "
                   "cannot read; write it as text")
            raise ValueError(msg)
        size = len(json.dumps(v, default=str).encode("utf-8"))
        if size > MAX_ATTRIBUTES_BYTES:
            msg = (f"{size} bytes as JSON; at most {MAX_ATTRIBUTES_BYTES} (they go into every "
                   "decision's input and log)")
            raise ValueError(msg)
        return v

    def to_user(self) -> User:
        return User(
            id=self.id,
            role=self.role,
            clearance=self.clearance,
            department=self.department,
            attributes=self.attributes,
        )


def _depth(value: Any) -> int:
    """Nesting depth of lists and mappings (a scalar is 0)."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    deepest = 0
    while stack:
        item, level = stack.pop()
        if isinstance(item, Mapping):
            children: Any = item.values()
        elif isinstance(item, (list, tuple)):
            children = item
        else:
            continue
        deepest = max(deepest, level + 1)
        stack.extend((child, level + 1) for child in children)
    return deepest


def _holds_bytes(value: Any) -> bool:
    """Whether ``value`` holds ``bytes`` anywhere in its lists and mappings."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, (bytes, bytearray)):
            return True
        if isinstance(item, Mapping):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, (list, tuple, set, frozenset)):
            stack.extend(item)
    return False


def _login() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no login name in some containers
        return "unknown"


class ServerConfig(Section):
    """A remote OPA server answering decisions over its Data API."""

    url: str
    path: str = "lacuna/decision/result"  # the aggregator rule `lacuna policy bundle` adds
    timeout_ms: int = Field(default=2000, ge=1)  # per phase (connect, send, each read)
    retries: int = Field(default=2, ge=0)
    backoff_ms: int = Field(default=50, ge=0)
    headers: dict[str, str] = Field(default_factory=dict)
    deadline_ms: int = Field(default=500, ge=1)  # overall, per decision: a failure past it
    breaker_failures: int = Field(default=1, ge=1)  # failed decisions that open the breaker
    breaker_reset_ms: int = Field(default=5000, ge=0)  # then deny at once for this long
    max_response_bytes: int = Field(default=1 << 20, ge=1)
    max_connections: int = Field(default=10, ge=1)
    tls_verify: bool = True
    ca_file: str | None = None  # a PEM file of CAs for the server's certificate


class LacunaServerConfig(Section):
    """A Lacuna governance server (``lacuna serve``) this client governs through: decisions,
    audit, lineage and exceptions go there (see docs/server.md). The API token comes from
    the ``token_env`` variable (default ``LACUNA_TOKEN``); ``token`` in a file is allowed but
    discouraged."""

    url: str
    token: str | None = Field(default=None, repr=False)
    token_env: str = "LACUNA_TOKEN"
    deadline_ms: int = Field(default=2000, ge=1)  # per call, overall: then a clear denial
    timeout_ms: int = Field(default=1000, ge=1)  # per phase of one attempt
    retries: int = Field(default=1, ge=0)
    breaker_failures: int = Field(default=1, ge=1)
    breaker_reset_ms: int = Field(default=5000, ge=0)
    tls_verify: bool = True
    ca_file: str | None = None


class DecisionLogConfig(Section):
    """Where decision logs (OPA's shape) go: the state database (sql) or an HTTP collector."""

    type: Literal["sql", "http", "none"] = "sql"
    url: str | None = None  # sql: a database URL (default audit.url); http: the collector
    batch_size: int = Field(default=100, ge=1)
    flush_interval_ms: int = Field(default=1000, ge=1)
    queue_size: int = Field(default=10_000, ge=1)
    timeout_ms: int = Field(default=5000, ge=1)  # http only
    retries: int = Field(default=3, ge=0)  # http only
    headers: dict[str, str] = Field(default_factory=dict)  # http only
    tls_verify: bool = True  # http only
    ca_file: str | None = None  # http only: a PEM file of CAs for the collector
    labels: dict[str, str] = Field(default_factory=dict)


class PolicyConfig(Section):
    dir: Path | None = None  # None: the bundled default bundle
    rego_version: Literal["auto", "v0", "v1"] = "auto"
    server: ServerConfig | None = None  # set: decisions come from this OPA server
    # Every decision is also logged in OPA's decision-log shape: by default to the state
    # database (table lacuna_decision_log beside the audit trail); `type: none` turns it off.
    decision_log: DecisionLogConfig | None = Field(default_factory=DecisionLogConfig)
    watch: bool = False  # reload policy.dir when its files change
    watch_interval_ms: int = Field(default=1000, ge=50)
    # Embedded engine: a decision that evaluates longer is denied (see docs/policies.md).
    eval_budget_ms: int = Field(default=500, ge=1, le=600_000)  # budget.MAX_BUDGET_MS
    isolation: Literal["auto", "process", "none"] = "auto"  # where the budget is enforced

    @field_validator("decision_log", mode="before")
    @classmethod
    def _log_unless_told(cls, v: Any) -> Any:
        # `decision_log:` with nothing under it (every line commented out) is YAML's null:
        # the defaults, not a log turned off unseen; only `type: none` turns it off.
        return {} if v is None else v


class ClassRule(Section):
    """What a column class implies for its table: a tier and tags."""

    tier: Tier
    tags: tuple[str, ...] = ()

    @field_validator("tier", mode="before")
    @classmethod
    def _tier(cls, v: Any) -> Tier:
        return parsed(Tier.parse, v)


def _default_mapping() -> dict[str, ClassRule]:
    return {
        ColumnKind.PII.value: ClassRule(tier=Tier.PROPRIETARY, tags=(PII, GDPR)),
        ColumnKind.PHI.value: ClassRule(tier=Tier.PROPRIETARY, tags=(PHI, HIPAA)),
        ColumnKind.FINANCIAL.value: ClassRule(tier=Tier.INTERNAL, tags=(FINANCIAL,)),
        # Floe ADR-0012: business identifiers are low sensitivity, "no restrictions". A team
        # that treats its keys as internal sets classification.mapping.identifier.tier.
        ColumnKind.IDENTIFIER.value: ClassRule(tier=Tier.PUBLIC),
        ColumnKind.PUBLIC.value: ClassRule(tier=Tier.PUBLIC),
    }


class SensitiveTerm(Section):
    """A known sensitive term (project code name, customer name) from config."""

    term: str = Field(min_length=1, max_length=MAX_TERM_CHARS)
    tier: Tier = Tier.PROPRIETARY
    tags: tuple[str, ...] = Field(default=("SENSITIVE_TERM",), max_length=32)

    @field_validator("tier", mode="before")
    @classmethod
    def _tier(cls, v: Any) -> Tier:
        return parsed(Tier.parse, v)


class PathRule(Section):
    """A file-path pattern (glob-like, matched on path segments) implying a table floor."""

    pattern: str
    tier: Tier = Tier.PROPRIETARY
    tags: tuple[str, ...] = ()

    @field_validator("tier", mode="before")
    @classmethod
    def _tier(cls, v: Any) -> Tier:
        return parsed(Tier.parse, v)


MIN_K_ANONYMITY = 2  # the smallest group a configuration may call anonymous


class ClassificationConfig(Section):
    sample_rows: int = Field(default=1000, ge=1)  # rows sampled for value evidence
    k_anonymity: int = Field(default=5)  # minimum group size for aggregates to downgrade
    personal_tags: tuple[str, ...] = (PII, GDPR, PHI, HIPAA, "CCPA")  # dropped by aggregation
    mapping: dict[str, ClassRule] = Field(default_factory=_default_mapping)
    critical_tier: Tier = Tier.PROPRIETARY  # a column of sensitivity 'critical' implies this
    sensitive_terms: tuple[SensitiveTerm, ...] = Field(default=(), max_length=MAX_SENSITIVE_TERMS)
    # added to the built-in /pii/, /customer/, ... rules:
    path_rules: tuple[PathRule, ...] = Field(default=(), max_length=MAX_LIST_ITEMS)
    source: Literal["inferred", "dbt_meta"] = "inferred"  # floe.yaml compatibility
    # Layers 2-3, routing thresholds and the cache: validated by lacuna.classify.settings
    # (see docs/classification.md), which owns those models.
    cascade: dict[str, Any] = Field(default_factory=dict)
    cache: dict[str, Any] = Field(default_factory=dict)

    @field_validator("sensitive_terms", mode="before")
    @classmethod
    def _terms(cls, v: Any) -> Any:
        # Accept plain strings as shorthand for {term: ...}.
        if isinstance(v, list):
            return [{"term": t} if isinstance(t, str) else t for t in v]
        return v

    @field_validator("mapping", mode="before")
    @classmethod
    def _mapping(cls, v: Any) -> Any:
        # A partial mapping overrides the defaults it names and keeps the rest.
        if isinstance(v, Mapping):
            merged: dict[str, Any] = dict(_default_mapping())
            for key, rule in v.items():
                kind = parsed(ColumnKind.parse, key).value
                merged[kind] = rule
            return merged
        return v

    @field_validator("k_anonymity")
    @classmethod
    def _k(cls, v: int) -> int:
        # A floor in code, as noise's MAX_EPSILON: the analyst owns lacuna.yaml, and k=1 would
        # call a group of one person anonymous (every aggregate and generalisation downgraded).
        if v < MIN_K_ANONYMITY:
            msg = (f"{v} would call a group of {'one person' if v == 1 else 'no rows'} "
                   f"anonymous: k-anonymity needs at least {MIN_K_ANONYMITY} (the default is 5)")
            raise ValueError(msg)
        return v

    @field_validator("sensitive_terms")
    @classmethod
    def _terms_total(cls, v: tuple[SensitiveTerm, ...]) -> tuple[SensitiveTerm, ...]:
        total = sum(len(t.term) for t in v)
        if total > MAX_TERMS_TOTAL_CHARS:
            msg = (f"{total} characters of terms in all; at most {MAX_TERMS_TOTAL_CHARS} "
                   "(every string column is searched for every term)")
            raise ValueError(msg)
        return v

    @model_validator(mode="after")
    def _cascade(self, info: ValidationInfo) -> ClassificationConfig:
        if self.cascade or self.cache:
            from lacuna.classify.settings import from_config  # the cascade owns its settings

            from_config({"cascade": self.cascade, "cache": self.cache},
                        origin=origin_of(info))  # raises ConfigError
        return self

    def rule_for(self, kind: ColumnKind) -> ClassRule:
        return self.mapping[kind.value]

    def tier_for(self, kind: ColumnKind, sensitivity: Sensitivity) -> Tier:
        tier = self.rule_for(kind).tier
        if sensitivity is Sensitivity.CRITICAL:
            tier = max(tier, self.critical_tier)
        return tier


class DestinationConfig(Section):
    governed: tuple[str, ...] = (
        "/governed/workspace/",
        "/governed/reports/",
        "s3://company-governed-data/",
    )
    unmanaged: tuple[str, ...] = ("~/Downloads", "~/Desktop", "/tmp")
    internal_hosts: tuple[str, ...] = ("localhost", "127.0.0.1", "*.internal", "*.local")
    internal_buckets: tuple[str, ...] = ()
    classification_aware_databases: tuple[str, ...] = ()  # URL prefixes
    local_files_scope: Literal["internal", "external"] = "internal"

    @field_validator("*")
    @classmethod
    def _bounded(cls, v: Any) -> Any:
        if isinstance(v, tuple) and len(v) > MAX_LIST_ITEMS:
            msg = f"{len(v)} entries; at most {MAX_LIST_ITEMS}"
            raise ValueError(msg)
        return v


class AuditConfig(Section):
    url: str | None = None  # SQLAlchemy URL; None: sqlite file in lacuna_home()
    # An external, append-only log of signed checkpoints (a path outside the state folder);
    # `lacuna audit verify` compares the trail with it too. None: only <database>.checkpoint.
    checkpoint_log: Path | None = None


def _default_strategies() -> dict[str, str]:
    return {
        "email": "hash", "name": "mask", "phone": "fpe", "ssn": "fpe", "credit_card": "fpe",
        "dob": "generalize", "date_of_birth": "generalize", "postal_code": "generalize",
        "postcode": "generalize", "zip": "generalize", "ip": "generalize",
        "ip_address": "generalize", "address": "redact",
    }


class AnonymizeConfig(Section):
    key_env: str = "LACUNA_ANONYMIZE_KEY"  # where the hashing key comes from, if set
    keystore: str = "file"  # lacuna.keystore backend: file, env, or a registered plug-in
    key_dir: str | None = None  # the file backend's folder; None: lacuna_home()
    default_strategy: str = "hash"  # for a personal column whose pii_type is not below
    strategies: dict[str, str] = Field(default_factory=_default_strategies)  # pii_type -> name
    detokenize_roles: tuple[str, ...] = ("privacy_officer",)  # who may call lacuna.detokenize
    epsilon: float = Field(default=1.0, gt=0)  # what one noise release spends, per column
    # the most noise releases may spend on one source column, summed (capped at 10 in code)
    epsilon_budget: float = Field(default=10.0, gt=0)
    noise_sensitivity: float = Field(default=1.0, gt=0)  # one person's effect on a value


class StewardsConfig(Section):
    """Who may approve exceptions (identities as in ``user.id``: e-mails or user ids).

    A request may be approved by anyone in ``default``, in ``policies[<policy id>]`` for the
    policy that denied it, in ``domains[<domain>]`` for a policy domain involved, or by the
    steward named in that policy's metadata; never by its requester.
    """

    default: tuple[str, ...] = Field(default=(), max_length=MAX_LIST_ITEMS)
    policies: dict[str, tuple[str, ...]] = Field(default_factory=dict, max_length=MAX_LIST_ITEMS)
    domains: dict[str, tuple[str, ...]] = Field(default_factory=dict, max_length=MAX_LIST_ITEMS)


class EmailNotifyConfig(Section):
    """E-mail over SMTP (smtplib) to the approver (and, on decisions, to the requester)."""

    host: str
    port: int = Field(default=25, ge=1, le=65535)
    sender: str = "lacuna@localhost"  # the From: address
    starttls: bool = False
    ssl: bool = False
    username: str | None = None
    password_env: str | None = None  # the variable holding the SMTP password (never the value)
    timeout: float = Field(default=10.0, gt=0, le=120)
    cc: tuple[str, ...] = Field(default=(), max_length=MAX_LIST_ITEMS)


class NotifyConfig(Section):
    """``exceptions.notify``: how approvers hear about requests (and requesters of decisions)."""

    log: bool = True  # a log line on the ``lacuna.exceptions`` logger
    webhook: str | None = None  # POST JSON to this http(s) URL
    webhook_headers: dict[str, str] = Field(default_factory=dict)
    webhook_timeout: float = Field(default=5.0, gt=0, le=60)
    email: EmailNotifyConfig | None = None

    @field_validator("webhook")
    @classmethod
    def _http_url(cls, v: str | None) -> str | None:
        if v is not None and not v.startswith(("http://", "https://")):
            msg = f"exceptions.notify.webhook must be an http(s) URL, got {v!r}"
            raise ValueError(msg)
        return v


class ExceptionsConfig(Section):
    """``exceptions:``: notifications, the key that encrypts files, the sweep's interval."""

    notify: NotifyConfig = Field(default_factory=NotifyConfig)
    encryption_key: str = "files"  # the key store id that wraps each encrypted file's data key
    sweep_interval_seconds: float = Field(default=300.0, gt=0)


class StorageConfig(Section):
    """``storage:``: governed storage (destinations.governed), encrypted at rest
    (docs/storage.md)."""

    encrypt: bool = True  # files written under a governed root are sealed (AES-256-GCM)
    key_id: str = "storage"  # the key store id that wraps each sealed file's data key
    segment_bytes: int = Field(default=256 * 1024, ge=4096, le=64 * 1024 * 1024)


class OpenLineageTransportConfig(Section):
    """Where OpenLineage events go: ``file`` (JSON Lines), ``console`` (stderr), ``http``."""

    type: Literal["file", "console", "http"] = "file"
    path: Path | None = None  # file: None is $LACUNA_HOME/openlineage.jsonl
    url: str | None = None  # http: e.g. http://marquez:5000
    endpoint: str = "api/v1/lineage"  # http: Marquez's; DataHub's is openapi/openlineage/...
    timeout: float = Field(default=5.0, gt=0, le=60)
    api_key_env: str | None = None  # http: the variable holding a bearer token (never the key)

    @model_validator(mode="after")
    def _needs_url(self) -> OpenLineageTransportConfig:
        if self.type == "http" and not self.url:
            msg = "lineage.openlineage.transport: type http needs a url (e.g. http://marquez:5000)"
            raise ValueError(msg)
        return self


class OpenLineageConfig(Section):
    enabled: bool = True
    namespace: str = "lacuna"  # the job namespace of emitted events
    transport: OpenLineageTransportConfig = Field(default_factory=OpenLineageTransportConfig)


class LineageConfig(Section):
    openlineage: OpenLineageConfig = Field(default_factory=OpenLineageConfig)


class MountConfig(Section):
    """``mount:``: the governed mount (``lacuna mount``, docs/mount.md)."""

    # how the mount serves files: auto = the kernel session with FUSE passthrough when this
    # kernel and process can (else libfuse through mfusepy); on = passthrough or fail; off =
    # libfuse through mfusepy
    passthrough: Literal["auto", "on", "off"] = "auto"


class ProxyConfig(Section):
    """``proxy:``: the HTTP egress proxy (``lacuna proxy``, docs/proxy.md)."""

    max_inspect_bytes: int = Field(default=10 * 1024 * 1024, gt=0)  # parsed by its type
    # beyond max_inspect_bytes a body is spooled to a private file and scanned as text up to
    # this ceiling; a larger body is refused (413), never forwarded uninspected
    max_body_bytes: int = Field(default=256 * 1024 * 1024, gt=0)
    unparsed: Literal["deny", "allow"] = "deny"  # a body it cannot read, to a non-internal host
    # distinct fields of one request classified each as a column; past it the rest are scanned
    # by their values and names only, and the request is unread in part (``unparsed``)
    max_fields: int = Field(default=256, gt=0)
    fingerprints: bool = True  # keyed hashes of classified values seen by governed reads
    fingerprint_sample: int = Field(default=1000, ge=0)  # values hashed per classified column
    # wait: a governed read returns once its fingerprints are committed (the proxy, in any
    # process, recognises them at once); background: it returns at once and the writer thread
    # commits them milliseconds later (docs/proxy.md)
    fingerprint_writes: Literal["wait", "background"] = "wait"
    upstream_ca: Path | None = None  # CA bundle for HTTPS upstreams; None: the system's
    ca_dir: Path | None = None  # the proxy's own CA; None: $LACUNA_HOME/proxy
    # seconds: a client's longest silence while its request is read (or between requests on
    # a kept-alive connection), and the longest a request's headers and body take to arrive
    # (and then the longest it waits for the decision thread: 503, recorded);
    # an upstream's connection (TCP and TLS) and its longest silence once the request is sent
    client_timeout: float = Field(default=30.0, gt=0)
    request_timeout: float = Field(default=300.0, gt=0)
    connect_timeout: float = Field(default=10.0, gt=0)
    upstream_timeout: float = Field(default=120.0, gt=0)


class DatasetSpec(Section):
    """A registered dataset declared in ``lacuna.yaml`` (see docs/datasets.md)."""

    source: str  # a data file; relative paths resolve against the config file's folder
    transform: str | dict[str, str] = "anonymize"  # a strategy name or {column: strategy|drop}
    approved_by: str
    owner: str | None = None  # default: the configured user
    refresh: str = "on_read"  # on_read | manual | a schedule string (stored)
    description: str = ""


class DatasetsConfig(Section):
    """``datasets:``: ``root`` (where registered datasets are materialised; default: the first
    local ``destinations.governed`` folder) and, under any other key, a dataset declaration."""

    root: str | None = None
    entries: dict[str, DatasetSpec] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _split(cls, v: Any) -> Any:
        if isinstance(v, Mapping) and "entries" not in v:
            data = dict(v)
            root = data.pop("root", None)
            return {"root": root, "entries": data}
        return v


class Config(Section):
    """The validated contents of ``lacuna.yaml``."""

    mode: Literal["enforce", "warn", "observe"] = "enforce"
    environment: str = "development"
    purpose: str | None = None
    user: UserConfig = Field(default_factory=UserConfig)
    policy: PolicyConfig = Field(default_factory=PolicyConfig)
    classification: ClassificationConfig = Field(default_factory=ClassificationConfig)
    destinations: DestinationConfig = Field(default_factory=DestinationConfig)
    audit: AuditConfig = Field(default_factory=AuditConfig)
    anonymize: AnonymizeConfig = Field(default_factory=AnonymizeConfig)
    stewards: StewardsConfig = Field(default_factory=StewardsConfig)
    exceptions: ExceptionsConfig = Field(default_factory=ExceptionsConfig)
    storage: StorageConfig = Field(default_factory=StorageConfig)
    lineage: LineageConfig = Field(default_factory=LineageConfig)
    datasets: DatasetsConfig = Field(default_factory=DatasetsConfig)
    proxy: ProxyConfig = Field(default_factory=ProxyConfig)
    mount: MountConfig = Field(default_factory=MountConfig)
    server: LacunaServerConfig | None = None  # govern through a Lacuna server (lacuna serve)
    # A Lacuna server's callers' clearances: tier -> user names or server roles, e.g.
    # {PROPRIETARY: [olga, data_steward]}; a caller listed nowhere has INTERNAL (clearance_of)
    clearances: dict[Tier, tuple[str, ...]] = Field(default_factory=dict)
    docs_url: str = "https://governance.example.com/policies/"
    # ADR-0012's governance: section (policies per class/sensitivity and environment); validated
    # by lacuna.dbt.governance, which owns that model (docs/dbt.md)
    governance: dict[str, Any] = Field(default_factory=dict)
    # the dbt project whose restrict rules govern SQL and server reads of its warehouse;
    # validated by lacuna.dbt.settings (docs/dbt.md)
    dbt: dict[str, Any] = Field(default_factory=dict)
    # retention by tier and dataset, validated by lacuna.retention.settings (docs/retention.md)
    retention: dict[str, Any] = Field(default_factory=dict)
    source: str | None = Field(default=None, exclude=True)  # the file this came from

    @field_validator("clearances", mode="before")
    @classmethod
    def _clearance_tiers(cls, v: Any) -> Any:
        if not isinstance(v, Mapping):
            return v  # pydantic says what is wrong with it
        return {parsed(Tier.parse, tier): names for tier, names in v.items()}

    def clearance_of(self, name: str, roles: Iterable[str]) -> Tier:
        """A server caller's clearance: the highest tier whose ``clearances`` entry lists
        ``name`` or one of ``roles``; ``INTERNAL`` when none does. Never the server's own
        ``user.clearance``, which is the clearance of whoever runs a process with this file."""
        holder = {name, *roles}
        listed = [tier for tier, names in self.clearances.items() if holder & set(names)]
        return max(listed) if listed else Tier.INTERNAL

    @field_validator("environment")
    @classmethod
    def _environment(cls, v: str) -> str:
        parsed(environment_category, v)  # the allowed values, with the key and the line
        return v

    @field_validator(*OWNED_SECTIONS)
    @classmethod
    def _owned(cls, v: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        # a section another module owns is validated by it, with this file's origin, so its
        # errors name the file, the line and the key (each raises ConfigError)
        if v and info.field_name:
            module, function = OWNED_SECTIONS[info.field_name].split(":")
            getattr(importlib.import_module(module), function)(v, origin=origin_of(info))
        return v

    @property
    def audit_url(self) -> str:
        if self.audit.url:
            return self.audit.url
        return f"sqlite:///{lacuna_home() / 'audit.db'}"


_active: Callable[[], Config | None] | None = None


def install_active(provider: Callable[[], Config | None]) -> None:
    """Set how :func:`active_config` finds the configuration Lacuna governs with (the governor
    installs its own: the steps never import the governor)."""
    global _active
    _active = provider


def active_config() -> Config:
    """The configuration Lacuna governs with now: the current governor's (``lacuna.enable
    (config)``, ``governed(...)``), else ``lacuna.yaml``'s (:func:`load_config`); it never
    creates a governor. The default of the verbs that take ``config=`` (``anonymize``,
    ``privacy.report``, ``synthesize``): with ``load_config()`` they ignored the configuration
    Lacuna was enabled with, so a release was checked at the default ``k_anonymity`` of 5 while
    the governor asked for 50, and left as PUBLIC."""
    found = enabled_config()
    return found if found is not None else load_config()


def enabled_config() -> Config | None:
    """The current governor's configuration, or None when Lacuna is not enabled here."""
    return _active() if _active is not None else None


def load_config(path: str | os.PathLike[str] | None = None) -> Config:
    """Load and validate the configuration (see the module docstring for the search order).

    Raises:
        ConfigError: the file cannot be read, is not YAML, uses a refused YAML feature
            (duplicate keys, aliases, deep nesting), or fails validation; the message names the
            file, the line when known, and the offending key.
    """
    found = _find(path)
    if found is None:
        return Config()
    raw, lines = _read_yaml(found)
    if found.name == FLOE_FILENAME and path is None:
        raw = _from_floe(raw, found)
        # governance.lacuna.* is read as the top level; the rest of governance: stays where
        # it is (so an error in its policies names its line too)
        lines = {**{k: v for k, v in lines.items()
                    if k[:1] == ("governance",) and k[1:2] != ("lacuna",)},
                 **{k[2:]: v for k, v in lines.items() if k[:2] == ("governance", "lacuna")}}
    return config_from_dict(raw, source=found, lines=lines)


def config_from_dict(
    raw: Mapping[str, Any],
    *,
    source: Path | None = None,
    lines: Mapping[Key, int] | None = None,
) -> Config:
    """Validate a mapping as configuration; relative paths resolve against ``source``'s folder.

    ``lines`` maps dotted keys (as tuples) to their line in ``source``, for error messages.
    """
    where = str(source) if source else "<config>"
    if not isinstance(raw, Mapping):
        msg = f"{where}: expected a mapping of settings at the top level, got {type(raw).__name__}"
        raise ConfigError(msg)
    data = dict(raw)
    policy = data.get("policy")
    if source is not None and isinstance(policy, Mapping):
        policy = dict(policy)
        pdir = policy.get("dir")
        if isinstance(pdir, str) and pdir and not _expand(pdir).is_absolute():
            policy["dir"] = str(source.parent / pdir)
            data["policy"] = policy
    if source is not None:
        data = _resolve_lineage_path(data, source)
    origin = Origin(where, lines or {})
    try:
        config = validate_section(Config, {**data, "source": where}, origin=origin,
                                  title="configuration", docs="docs/config.md")
    except ConfigError as exc:
        if str(exc).startswith(where):
            raise
        msg = f"{where}: {exc}"
        raise ConfigError(msg) from None
    except (ValueError, TypeError, AttributeError, LookupError, ArithmeticError,
            RecursionError) as exc:  # a value no validator foresaw: still a config error
        msg = f"{where}: invalid configuration ({type(exc).__name__}: {exc})"
        raise ConfigError(msg) from None
    if config.policy.dir is not None:
        try:
            is_dir = config.policy.dir.expanduser().is_dir()
        except (OSError, ValueError, RuntimeError):  # a NUL byte, an unknown ~user, ...
            is_dir = False
        if not is_dir:
            msg = (
                f"{origin.at(('policy', 'dir'))}: policy.dir "
                f"{str(config.policy.dir)!r} is not a folder. "
                "Point it at a folder of .rego files, or remove it to use the default bundle."
            )
            raise ConfigError(msg)
    return config


def _expand(path: str) -> Path:
    """``Path(path).expanduser()``, or the path as written when ``~user`` is unknown."""
    try:
        return Path(path).expanduser()
    except (RuntimeError, ValueError):
        return Path(path)


def _find(path: str | os.PathLike[str] | None) -> Path | None:
    if path is not None:
        p = Path(path).expanduser()
        if not p.is_file():
            what = ("is a folder, not a file: name the lacuna.yaml in it" if p.is_dir() else
                    "does not exist: create it, or name an existing lacuna.yaml")
            msg = (f"config file {str(p)!r} {what} (--config on the command line; the path "
                   "given to lacuna.enable or load_config in Python), or leave the path out to "
                   "search the current folder.")
            raise ConfigError(msg)
        return p
    env = os.environ.get("LACUNA_CONFIG")
    if env:
        p = Path(env).expanduser()
        if not p.is_file():
            msg = f"LACUNA_CONFIG points at {env!r}, which does not exist. Fix or unset it."
            raise ConfigError(msg)
        return p
    for name in (CONFIG_FILENAME, FLOE_FILENAME):
        p = Path.cwd() / name
        if p.is_file():
            return p
    return None


def _read_yaml(path: Path) -> tuple[Any, dict[Key, int]]:
    """The file's contents and the line of every key, or a ConfigError saying where and why."""
    try:
        with path.open("rb") as handle:
            blob = handle.read(MAX_CONFIG_BYTES + 1)
        if len(blob) > MAX_CONFIG_BYTES:
            msg = f"{path}: larger than {MAX_CONFIG_BYTES // 1024} KiB; is this the right file?"
            raise ConfigError(msg)
        text = blob.decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        msg = f"{path}: cannot read the config file ({exc.__class__.__name__}: {exc})."
        raise ConfigError(msg) from None
    return parse_yaml(text, str(path))


def parse_yaml(text: str, where: str = "<config>") -> tuple[Any, dict[Key, int]]:
    """Parse configuration YAML strictly: the data and the line of every key.

    Raises:
        ConfigError: not YAML, a duplicate key, an alias, nesting deeper than ``MAX_DEPTH`` or
            a value YAML cannot build; the message names ``where``, the line and column.
    """
    try:  # the reader refuses control characters as soon as it is built
        loader = _StrictLoader(text)
    except yaml.YAMLError as exc:
        msg = f"{where}: not valid YAML: {exc}. Remove the character at that position."
        raise ConfigError(" ".join(msg.split())) from None
    try:
        node = loader.get_single_node()
        if node is None:
            return {}, {}
        lines = _key_lines(node)
        return (loader.construct_document(node) or {}), lines
    except _Refused as exc:
        msg = f"{where}:{exc.mark.line + 1}:{exc.mark.column + 1}: {exc.problem}"
        raise ConfigError(msg) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f"{where}:{mark.line + 1}:{mark.column + 1}" if mark else where
        problem = getattr(exc, "problem", None) or str(exc)
        msg = f"{at}: not valid YAML: {problem}. Fix the syntax at that position."
        raise ConfigError(msg) from None
    except (ValueError, TypeError, OverflowError, RecursionError) as exc:
        mark = loader.get_mark()  # e.g. "\U0011FFFF" fails in the scanner, past any node
        msg = (f"{where}:{mark.line + 1}:{mark.column + 1}: not valid YAML: "
               f"{type(exc).__name__}: {exc}. Fix the value at that position.")
        raise ConfigError(msg) from None
    finally:
        loader.dispose()


class _Refused(Exception):
    def __init__(self, mark: Any, problem: str) -> None:
        super().__init__(problem)
        self.mark = mark
        self.problem = problem


class _StrictLoader(yaml.SafeLoader):  # type: ignore[misc]
    """SafeLoader without aliases or duplicate keys, with a depth limit, and with values YAML
    cannot build reported at their node."""

    _depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise _Refused(event.start_mark, "YAML aliases (*name) are not allowed in Lacuna "
                           "configuration; write the value out where it is used.")
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise _Refused(self.peek_event().start_mark,
                               f"nested deeper than {MAX_DEPTH} levels; flatten the settings.")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        if isinstance(node, yaml.MappingNode):
            seen: dict[Any, Any] = {}
            for key_node, _ in node.value:
                if isinstance(key_node, yaml.ScalarNode):
                    key = self.construct_object(key_node, deep=True)
                    try:
                        if key in seen:
                            first = seen[key].start_mark.line + 1
                            raise _Refused(key_node.start_mark, f"duplicate key {key!r} (first "
                                           f"set on line {first}); keep one of them.")
                        seen[key] = key_node
                    except TypeError:  # unhashable: the base class reports it
                        pass
        return super().construct_mapping(node, deep=deep)

    def construct_object(self, node: Any, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep=deep)
        except (ValueError, TypeError, OverflowError) as exc:
            if isinstance(exc, yaml.YAMLError):
                raise
            raise _Refused(node.start_mark, f"YAML cannot build this value ({type(exc).__name__}"
                           f": {exc}); quote it if it is text.") from None


def _key_lines(root: Any) -> dict[Key, int]:
    """The 1-based line of every mapping key and list item under ``root``."""
    out: dict[Key, int] = {}
    stack: list[tuple[Any, Key]] = [(root, ())]
    while stack:
        node, key = stack.pop()
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                if isinstance(k, yaml.ScalarNode):
                    child = (*key, k.value)
                    out[child] = k.start_mark.line + 1
                    stack.append((v, child))
        elif isinstance(node, yaml.SequenceNode):
            for i, v in enumerate(node.value):
                child = (*key, i)
                out[child] = v.start_mark.line + 1
                stack.append((v, child))
    return out


def _from_floe(raw: Any, path: Path) -> dict[str, Any]:
    """Accept a Floe project's ``floe.yaml``: only its ``governance:`` section concerns Lacuna."""
    if not isinstance(raw, Mapping):
        return {}
    gov = raw.get("governance") or {}
    lacuna = gov.get("lacuna") if isinstance(gov, Mapping) else None
    out: dict[str, Any] = dict(lacuna) if isinstance(lacuna, Mapping) else {}
    if lacuna is not None and not isinstance(lacuna, Mapping):
        msg = f"{path}: governance.lacuna must be a mapping of settings"
        raise ConfigError(msg)
    if isinstance(gov, Mapping) and "governance" in raw:  # a section, even empty: the ADR's
        out.setdefault("governance", {k: v for k, v in gov.items() if k != "lacuna"})
    cls = gov.get("classification") if isinstance(gov, Mapping) else None
    if isinstance(cls, Mapping) and cls.get("source"):
        section = out.get("classification")
        section = dict(section) if isinstance(section, Mapping) else {}
        section.setdefault("source", cls["source"])
        out["classification"] = section
    return out


def _resolve_lineage_path(data: dict[str, Any], source: Path) -> dict[str, Any]:
    """lineage.openlineage.transport.path, when relative, is relative to the config file."""
    try:
        transport = dict(data["lineage"]["openlineage"]["transport"])
    except (KeyError, TypeError):
        return data
    path = transport.get("path")
    if not path or Path(str(path)).expanduser().is_absolute():
        return data
    transport["path"] = str(source.parent / str(path))
    lineage = dict(data["lineage"])
    lineage["openlineage"] = {**dict(lineage["openlineage"]), "transport": transport}
    return {**data, "lineage": lineage}
