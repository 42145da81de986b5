"""The server's settings: a YAML file, then ``LACUNA_SERVER_*`` environment variables, then
command-line options (each overrides the one before).

File (``lacuna serve --settings server.yaml`` or ``LACUNA_SERVER_SETTINGS``)::

    host: 127.0.0.1
    port: 8181
    db: sqlite:////var/lib/lacuna/state.db     # audit, exceptions, lineage, users, decisions
    policy_dir: policies/                      # default: the bundled default bundle
    config: lacuna.yaml                        # destinations, stewards, docs_url, ...
    max_body_bytes: 10485760                   # larger requests get 413
    trusted_proxies: 10.0.0.5                  # reverse proxies whose X-Forwarded-* count
    log_json: true                             # one JSON object per log line
    shutdown_timeout_s: 10
    worker_healthcheck_s: 30                   # several workers: one silent this long is replaced
    audit_verify_interval_s: 60                # audit/verify walks the trail at most this often
    oidc: {issuer: https://idp.example.com/, audience: lacuna, jwks_file: jwks.json,
           roles_claim: roles, name_claim: preferred_username}
    client_hosts: {ana: [ana-laptop], etl-bot: [etl-1, etl-2]}   # X-Lacuna-Host a user may send

Environment: ``LACUNA_SERVER_HOST``, ``_PORT``, ``_DB``, ``_POLICY_DIR``, ``_CONFIG``,
``_MAX_BODY_BYTES``, ``_TRUSTED_PROXIES``, ``_LOG_JSON``, ``_ACCESS_LOG``,
``_SHUTDOWN_TIMEOUT_S``, ``_WORKERS``, ``_WORKER_HEALTHCHECK_S``, ``_AUDIT_VERIFY_INTERVAL_S``,
``_OIDC_ISSUER``, ``_OIDC_AUDIENCE``, ``_OIDC_JWKS_FILE``, ``_OIDC_ROLES_CLAIM``,
``_OIDC_NAME_CLAIM``.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import Field, field_validator

from lacuna.errors import ConfigError
from lacuna.sections import Origin, Section, validate_section

ENV_PREFIX = "LACUNA_SERVER_"
DEFAULT_PORT = 8181


class OidcConfig(Section):
    issuer: str
    audience: str
    jwks_file: Path
    roles_claim: str = "roles"
    name_claim: str = "sub"


class ServerSettings(Section):
    """Validated server settings (see the module docstring)."""

    host: str = "127.0.0.1"
    port: int = Field(default=DEFAULT_PORT, ge=0, le=65535)
    db: str | None = None  # None: the state database of the Lacuna config (audit.url)
    policy_dir: Path | None = None
    config: Path | None = None  # a lacuna.yaml for destinations, stewards, docs_url
    max_body_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    # Addresses (comma-separated, or "*") of reverse proxies whose X-Forwarded-For/-Proto
    # the server believes; None: the server is not behind a proxy, those headers are ignored.
    trusted_proxies: str | None = None
    log_json: bool = True
    shutdown_timeout_s: float = Field(default=10.0, gt=0)
    workers: int = Field(default=1, ge=1, le=64)
    # With several workers: how long the supervisor waits for a worker's health-check answer
    # before it kills and replaces it. uvicorn's 5 s also covers a new worker's start (its
    # answering thread starts only once the worker has imported what it unpickles), which on
    # a loaded host takes longer: each worker was killed mid-start and replaced, forever.
    worker_healthcheck_s: float = Field(default=30.0, ge=1)
    demo: bool = False
    access_log: bool = True  # one JSON line per request
    # Refusals (401/403) recorded one by one per caller: this many at once, then this many a
    # minute; the rest are counted in one summary record per caller (lacuna.server.refusals).
    audit_refusals_burst: int = Field(default=30, ge=1)
    audit_refusals_per_minute: float = Field(default=30.0, gt=0)
    # GET /api/v1/audit/verify and the console's audit page walk the whole audit trail at most
    # once per this many seconds (one walk at a time); in between they give the last walk's
    # answer, with its time and what was appended since (lacuna.server.verifier). 0: every
    # request walks (still one at a time).
    audit_verify_interval_s: float = Field(default=60.0, ge=0)
    # Run Lacuna's periodic jobs (the exceptions sweep, dataset refreshes, retention when
    # retention.schedule is set) in the server process.
    scheduler: bool = True
    oidc: OidcConfig | None = None
    # The client hosts each user may speak for (X-Lacuna-Host): user -> host names. A bound
    # user may name only theirs, and a bound host is theirs alone (lacuna.server.hosts).
    client_hosts: dict[str, list[str]] = Field(default_factory=dict)

    @field_validator("client_hosts")
    @classmethod
    def _client_hosts(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        """Each user names at least one host, each a host name as a client sends it, so a
        typo fails the start instead of refusing every request of that user."""
        import urllib.parse

        from lacuna.lineage.seen import valid_host

        for user, hosts in value.items():
            if not user.strip():
                msg = "a user name is empty"
                raise ValueError(msg)
            if not hosts:
                msg = f"user {user!r} is bound to no host: list at least one, or leave them out"
                raise ValueError(msg)
            for host in hosts:
                if not host or not valid_host(urllib.parse.quote(host, safe="")):
                    msg = (f"user {user!r}: {host[:80]!r} is not a host name (the name the "
                           "client's machine reports, at most 255 characters)")
                    raise ValueError(msg)
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies(cls, value: str | None) -> str | None:
        """Addresses or networks only: uvicorn keeps anything else as a name no TCP peer ever
        has, so a typo (``10.0.0.300``) would silently trust no proxy and audit every
        client as the proxy's address instead of failing the start."""
        if value is None or value.strip() == "*":
            return None if value is None else "*"
        items = [item.strip() for item in value.split(",") if item.strip()]
        for item in items:
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError:
                msg = (f"{item!r} is not an IP address or network; give the "
                       "reverse proxies' addresses, comma-separated (e.g. 10.0.0.5,10.1.0.0/16), "
                       "or '*' to believe X-Forwarded-* from any peer")
                raise ValueError(msg) from None
        return ",".join(items) or None


def _env(environ: Mapping[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    oidc: dict[str, Any] = {}
    for key, value in environ.items():
        if not key.startswith(ENV_PREFIX) or key == ENV_PREFIX + "SETTINGS":
            continue
        name = key.removeprefix(ENV_PREFIX).lower()
        if name.startswith("oidc_"):
            oidc[name.removeprefix("oidc_")] = value
        else:
            out[name] = value
    if oidc:
        out["oidc"] = oidc
    return out


def load_settings(path: str | os.PathLike[str] | None = None, *,
                  environ: Mapping[str, str] | None = None, **overrides: Any) -> ServerSettings:
    """File, then environment, then ``overrides`` (``None`` values are ignored).

    Raises:
        ConfigError: the file cannot be read, or a setting is invalid (named).
    """
    from lacuna.config import parse_yaml

    env = os.environ if environ is None else environ
    data: dict[str, Any] = {}
    where = "the server settings"
    lines: dict[tuple[str | int, ...], int] = {}
    source = path or env.get(ENV_PREFIX + "SETTINGS")
    if source:
        where = str(source)
        try:
            text = Path(source).read_text("utf-8")
        except OSError as exc:
            msg = f"cannot read the server settings {source}: {exc.strerror or exc}"
            raise ConfigError(msg) from None
        raw, lines = parse_yaml(text, where)
        if raw is not None and not isinstance(raw, Mapping):
            msg = f"{source}: the server settings must be a mapping of keys"
            raise ConfigError(msg)
        data.update(raw or {})
    from_env = _env(env)
    if "oidc" in from_env and isinstance(data.get("oidc"), Mapping):
        from_env["oidc"] = {**data["oidc"], **from_env["oidc"]}
    data.update(from_env)
    data.update({k: v for k, v in overrides.items() if v is not None})
    return validate_section(ServerSettings, data, origin=Origin(where, lines),
                            title=f"settings (file, {ENV_PREFIX}* variables, options)",
                            docs="docs/server.md")
