"""Which Spark sessions Lacuna governs, and the seed's configuration keys.

``lacuna.spark.enable(spark)`` governs a session. So do the seed's keys, read when
``lacuna.spark`` is imported and whenever they are set: ``spark.lacuna.enabled`` (or
``spark.databricks.lacuna.enabled``) ``true`` in the builder's or the runtime configuration
switches governance on for that session, ``false`` switches it off; ``spark.lacuna.policy_server``
(or ``spark.databricks.lacuna.policy_server``) points decisions at a Lacuna/OPA server
(``policy.server.url``).
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any

from lacuna import _bypass
from lacuna.errors import ConfigError

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from lacuna.config import Config

log = logging.getLogger(__name__)

ENABLED_KEYS = ("spark.lacuna.enabled", "spark.databricks.lacuna.enabled")
SERVER_KEYS = ("spark.lacuna.policy_server", "spark.databricks.lacuna.policy_server")

_LOCK = threading.Lock()
_SESSIONS: dict[int, Any] = {}  # id of the JVM session -> its registered listener (or None)


def _key(spark: SparkSession) -> int:
    return int(spark._jsparkSession.hashCode())


def conf_value(spark: SparkSession, keys: tuple[str, ...]) -> str | None:
    for key in keys:
        value = spark.conf.get(key, None)
        if value is not None and str(value).strip():
            return str(value).strip()
    return None


def _flag(value: str | None, key: str) -> bool | None:
    if value is None:
        return None
    low = value.lower()
    if low in ("true", "1", "yes", "on"):
        return True
    if low in ("false", "0", "no", "off"):
        return False
    msg = f"Spark configuration {key}={value!r} is not true or false; set it to 'true' or 'false'."
    raise ConfigError(msg)


def check_value(key: str, value: Any) -> None:
    """Refuse a seed key's value that is not a boolean (``…enabled``) or an http(s) URL."""
    if key in ENABLED_KEYS:
        _flag(str(value), key)
    elif key in SERVER_KEYS:
        _server_url(str(value))


def _server_url(server: str) -> str:
    if not server.startswith(("http://", "https://")):
        msg = (f"spark.lacuna.policy_server={server!r} is not an http(s) URL; set it to the "
               "Lacuna server, e.g. http://lacuna:8181.")
        raise ConfigError(msg)
    return server


def enable(spark: SparkSession | None = None, config: Config | str | None = None,
           **overrides: Any) -> SparkSession:
    """Govern ``spark`` (default: the active session): reads classify, writes are decided
    before any job runs, runs are recorded (see :mod:`lacuna.spark`).

    The seed's keys are read now: ``…lacuna.enabled=false`` leaves the session ungoverned (and
    says so), ``…lacuna.policy_server`` sends decisions to that server.

    Raises:
        ConfigError: a key has a value that is not a boolean or a URL, or the configuration
            (``config``, ``overrides`` or ``lacuna.yaml``) is invalid.
        PolicyError: the policy bundle does not compile or cannot be read (file and line);
            the session is then left ungoverned, as it was.
    """
    from pyspark.sql import SparkSession

    from lacuna import governor
    from lacuna.spark import patches

    spark = spark or SparkSession.getActiveSession()
    if spark is None:
        msg = "lacuna.spark.enable(): no active SparkSession; pass the session: enable(spark)."
        raise ConfigError(msg)
    flag = _flag(conf_value(spark, ENABLED_KEYS), "spark.lacuna.enabled")
    if flag is False:
        log.warning("spark.lacuna.enabled is false: this session stays ungoverned")
        return spark
    server = conf_value(spark, SERVER_KEYS)
    if server is not None:
        _server_url(server)
        base = governor.build_config(config, **overrides) if (config or overrides) else (
            governor.current().config)
        policy = base.policy.model_dump(exclude_none=True)
        policy["server"] = {**policy.get("server", {}), "url": server}
        governor.ready(base, policy=policy)
    else:  # lacuna.yaml is read and its policy bundle compiled now: a typo fails here
        governor.ready(config, **overrides)
    patches.install()
    with _LOCK:
        known = _key(spark) in _SESSIONS
        if not known:
            _SESSIONS[_key(spark)] = None
    if not known:
        from lacuna.spark.listener import register

        listener = register(spark)
        with _LOCK:
            _SESSIONS[_key(spark)] = listener
    return spark


def disable(spark: SparkSession | None = None) -> None:
    """Stop governing ``spark`` (default: every session)."""
    from lacuna.spark.listener import unregister

    with _LOCK:
        keys = list(_SESSIONS) if spark is None else [_key(spark)]
        removed = [(k, _SESSIONS.pop(k, None)) for k in keys]
    for _, listener in removed:
        if listener is not None:
            unregister(listener)


def listener_of(spark: SparkSession) -> Any:
    with _LOCK:
        return _SESSIONS.get(_key(spark))


def governed(spark: SparkSession) -> bool:
    """Whether calls on ``spark`` are governed right now."""
    if _bypass.active():
        return False
    with _LOCK:
        if _key(spark) not in _SESSIONS:
            return False
    return _flag(conf_value(spark, ENABLED_KEYS), "spark.lacuna.enabled") is not False


def on_conf_set(spark: SparkSession, key: str, value: Any) -> None:
    """``spark.conf.set`` of a seed key: switch governance on or off, point at a server."""
    if key in ENABLED_KEYS:
        if _flag(str(value), key):
            enable(spark)
        elif _key(spark) in _SESSIONS:  # governed() reads the key on every call
            _record_switch_off(spark, key)
    elif key in SERVER_KEYS and _key(spark) in _SESSIONS:
        enable(spark)


def _record_switch_off(spark: SparkSession, key: str) -> None:
    """``spark.conf.set(key, "false")`` on a governed session: Lacuna stops deciding its reads
    and writes. The user owns the process (``lacuna.spark.disable`` does the same), so this is
    not refused, but it is recorded in the audit trail (who, which session) and warned about;
    the query listener stays registered and records every write that runs afterwards as
    UNGOVERNED, with what policy would have said."""
    from lacuna.governor import current
    from lacuna.model import Action, Classification, Decision, Tier

    method = f"spark.conf.set({key}=false)"
    reasoning = (f"Spark governance switched off for session {spark.sparkContext.applicationId} "
                 f"with {method}: its reads and writes are no longer decided before they run; "
                 "writes are still recorded as UNGOVERNED by the query listener")
    log.warning("%s", reasoning)
    why = ("Set spark.lacuna.enabled back to true (or call lacuna.spark.enable(spark)) to "
           "govern the session again.",)
    try:
        gov = current()
        op = gov.operation(Action.TRANSFORM, Classification(tier=Tier.PUBLIC), method=method)
        if gov.config.server is not None:  # an event the server records: its decide of it
            gov.record_decided(op)  # (the method names the switch), never a client's record
        else:
            gov.record(Decision(allowed=True, operation_id=op.id, reasoning=reasoning, why=why,
                                operation=op))
    except Exception as exc:  # recording is best effort: the setting is the user's
        log.error("could not record that Spark governance was switched off: %s", exc)
