"""Which configuration governed a decision, and what changed when it changed.

A decision depends on the policy bundle (every record carries its ``bundle_revision``) and on
``lacuna.yaml``: the mode (``enforce``, ``warn``, ``observe``), the class-to-tier mapping and
the k-anonymity threshold, the destinations taken as internal, the decision log, storage
encryption, who may detokenize, retention. Whoever can edit that file can loosen governance
without touching a policy, so the trail records it too:

* the **configuration revision** (:func:`revision`): the SHA-256 of the governing settings as
  canonical JSON (:func:`snapshot`: everything but the process's own identity, ``user:``,
  and the trail's own ``audit.url``, with secrets taken out), on every decision and outcome
  record a store appends once it has recorded its configuration
  (``decision.config_revision``);
* a **configuration event** (``kind: "config"``, action ``configure``) the first time a store
  records under a revision the trail's latest configuration event does not have (a trail with
  none is taken as governed by the embedded defaults, :func:`defaults`): the redacted
  snapshot, where it was read from, and every setting that changed since that event (or
  since the defaults), each change that loosens governance marked with why
  (:data:`LOOSENING`; the ``retention`` and ``governance`` sections, recorded as written, are
  compared by what they mean: :mod:`lacuna.audit.loosening`). ``lacuna audit config`` lists
  them.

Secrets never reach the trail: header values (``headers``, ``webhook_headers``), values under
a secret-looking key (``token``, ``clientSecret``, ``x-api-key``) and values that are secrets
wherever they are (``Bearer ...``, a JSON Web Token) are replaced by ``***``, URLs and
connection strings lose their password and secret-looking query values
(:func:`lacuna.redact.redact_url`), a webhook its path (a Slack-style webhook's path is its
secret). A secret that changes therefore changes no revision.

The revision is the governor's: a governor's configuration cannot be replaced, one changed
in place is recorded again before its next decision, and in ``enforce`` mode nothing is
appended without it (:meth:`lacuna.governor.Governor.recording`).
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import logging
import re
from collections.abc import Callable, Mapping, Sequence, Set
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lacuna.audit.loosening import InSection, datasets_order, governance_policies, retention
from lacuna.audit.record import canonical_json, event_body
from lacuna.classify.settings import CascadeSettings
from lacuna.errors import LacunaError
from lacuna.model import Tier
from lacuna.redact import credentials, redact_url

log = logging.getLogger("lacuna.audit")

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

    from lacuna.audit.record import AuditRecord
    from lacuna.audit.store import AuditStore
    from lacuna.config import Config
    from lacuna.signing import Keyring

KIND = "config"
ACTION = "configure"
REDACTED = "***"

# What is not governing: the process's user id (who, on every record's ``who``; its declared
# role, clearance and attributes are governing: policies read them) and the trail's own address
# (a trail recording where it is says nothing; moving it is seen on the new one by this event).
_NOT_GOVERNING_PATHS = (("user", "id"), ("audit", "url"))
_SECRET_MAPS = frozenset({"headers", "webhook_headers"})
# a key whose value is a secret: one ending in such a word, after ``_``, ``-``, ``.`` or a
# camelCase hump (``token``, ``client_secret``, ``api-key``, ``accessToken``, ``tokens``), not a
# variable's or a key store's name (``token_env``, ``key_id``, ``encryption_key``)
_SECRET_KEY = re.compile(
    r"(?:^|[_.-]|(?<=[a-z0-9])(?=[A-Z]))(?i:password|passwd|passphrase|pwd|secret|token"
    r"|authorization|credential|(?:api|access|private|secret|hmac|session)[_-]?key)s?$")
# a value that is a secret whatever its key: an Authorization header's value (a scheme, then
# one word of 8 or more token characters, not all lower-case letters), a JSON Web Token
_SECRET_VALUE = re.compile(r"^\s*(?:(?i:bearer|basic|token)\s+(?=\S*[\dA-Z+/=._~-])"
                           r"[\w+/=.~-]{8,}\s*$|eyJ[\w-]{8,}\.[\w-]{8,}\.)")
# a libpq or ODBC connection string (``host=db password=...``): redact_url masks its pairs
_DSN_SECRET = re.compile(r"(?:^|[\s;,&?])[\w.-]*(?:password|passwd|pwd)\s*=", re.IGNORECASE)
# its value: libpq allows spaces around ``=`` and a quoted value ('a b'); ODBC a braced one,
# and an unquoted one runs to the next ``;`` (spaces included)
_DSN_KEY = r"(?P<lead>(?:^|[\s;,&?])[\w.-]*(?:password|passwd|pwd)\s*=\s*)"
_DSN_PASSWORD = re.compile(_DSN_KEY + r"(?P<value>'(?:[^'\\]|\\.)*'?|\{[^}]*\}?|[^\s;,&]*)",
                           re.IGNORECASE)
_ODBC_PASSWORD = re.compile(_DSN_KEY + r"(?P<value>\{[^}]*\}?|[^;]*)", re.IGNORECASE)
_URLS = frozenset({"url", "dir", "ca_file", "upstream_ca", "checkpoint_log", "path"})
# mappings whose first matching key wins: their order governs, and canonical JSON (the
# revision, the record on the trail) sorts keys, so the snapshot lists it under "order"
_ORDERED = (("retention", "datasets"),)


def snapshot(config: Config) -> dict[str, Any]:
    """The settings that govern decisions, as JSON values, with secrets replaced by ``***``,
    and the file they were read from (relative paths in it, a dbt project's or a dataset's
    source, resolve against its folder)."""
    raw = config.model_dump(mode="json")
    if "governance" in config.model_fields_set:  # a section, even empty: the rules in force
        from lacuna.dbt.governance import in_force

        raw["governance"] = in_force(raw["governance"])
    for section, key in _NOT_GOVERNING_PATHS:
        raw.get(section, {}).pop(key, None)
    if config.source and not config.source.startswith("<"):  # "<config>": given in code
        raw["source"] = config.source
    order = {f"{section}.{key}": [str(k) for k in mapping]
             for section, key in _ORDERED
             if isinstance(mapping := raw.get(section, {}).get(key), Mapping) and len(mapping) > 1}
    if order:
        raw["order"] = order
    return {key: _redacted(key, value) for key, value in raw.items()}


def defaults() -> dict[str, Any]:
    """The :func:`snapshot` of the embedded defaults: what a trail with no configuration event
    was governed by, and what the first event is compared with. Not read from the
    environment: a role declared by ``$LACUNA_ROLE`` is a change from them."""
    from lacuna.config import DEFAULT_ROLE, Config, UserConfig

    return snapshot(Config(user=UserConfig(id="-", role=DEFAULT_ROLE)))


def _redacted(key: str, value: Any) -> Any:
    if isinstance(value, Mapping):
        if key in _SECRET_MAPS:
            return {str(k): REDACTED for k in value}
        return {str(k): _redacted(str(k), v) for k, v in value.items()}
    if isinstance(value, list):
        return [_redacted(key, v) for v in value]
    if isinstance(value, str):
        if _SECRET_KEY.search(key) or _SECRET_VALUE.search(value) or credentials(value):
            return REDACTED
        if key == "webhook":
            scheme, _, rest = value.partition("://")
            host = rest.split("/", 1)[0].rsplit("@", 1)[-1]
            return f"{scheme}://{host}/{REDACTED}" if rest != host else f"{scheme}://{host}"
        dsn = _DSN_SECRET.search(value) is not None
        if dsn:
            pairs = _ODBC_PASSWORD if ";" in value else _DSN_PASSWORD
            value = pairs.sub(lambda m: f"{m['lead']}{REDACTED}", value)
        if key in _URLS or "://" in value or dsn:
            return redact_url(value)
    return value


def revision(settings: Mapping[str, Any]) -> str:
    """The revision of a :func:`snapshot`: SHA-256 of its canonical JSON, 16 hex digits."""
    return hashlib.sha256(canonical_json(settings).encode("utf-8")).hexdigest()[:16]


@dataclass(frozen=True)
class Change:
    """One setting, by its dotted path, before and after (``None``: not set); ``loosens`` says
    how the change weakens governance, or is empty."""

    path: str
    before: Any
    after: Any
    loosens: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "before": self.before, "after": self.after,
                "loosens": self.loosens}

    def __str__(self) -> str:
        said = f"{self.path}: {_show(self.before)} -> {_show(self.after)}"
        return f"{said} (LOOSENS: {self.loosens})" if self.loosens else said


def _show(value: Any) -> str:
    return "(unset)" if value is None else json.dumps(value, ensure_ascii=False)


def _flat(value: Any, prefix: str = "") -> dict[str, Any]:
    """Mappings flattened to dotted paths; lists, scalars and empty mappings are leaves (an
    entry written as ``{}`` means its defaults: ``retention.datasets: {"/data/**": {}}`` is a
    window that is never due)."""
    if isinstance(value, Mapping) and (value or not prefix):
        out: dict[str, Any] = {}
        for k, v in value.items():
            out.update(_flat(v, f"{prefix}.{k}" if prefix else str(k)))
        return out
    return {prefix: value}


def _filled(path: str, one: Mapping[str, Any], other: Mapping[str, Any]) -> bool:
    """Whether ``path`` is an empty mapping in ``one`` that ``other`` has settings under: those
    settings are the changes, not the mapping itself."""
    return one.get(path) == {} and path not in other and any(
        p.startswith(f"{path}.") for p in other)


def changes(before: Mapping[str, Any], after: Mapping[str, Any]) -> tuple[Change, ...]:
    """Every setting that differs between two snapshots, in path order, each checked against
    :data:`LOOSENING`."""
    old, new = _flat(before), _flat(after)
    changed = frozenset(p for p in old.keys() | new.keys() if old.get(p) != new.get(p)
                        and not _filled(p, old, new) and not _filled(p, new, old))
    return tuple(Change(p, old.get(p), new.get(p),
                        _loosens(p, old.get(p), new.get(p), before, after, changed))
                 for p in sorted(changed))


# -- what loosens governance --------------------------------------------------------------------

def _rank(order: Sequence[str]) -> Callable[[Any, Any], str]:
    def rule(was: Any, now: Any) -> str:
        if was in order and now in order and order.index(now) < order.index(was):
            return f"lowered from {was} to {now}"
        return ""
    return rule


def _tier(was: Any, now: Any) -> str:
    try:
        lower = Tier(str(now)) < Tier(str(was))
    except ValueError:
        return ""
    return f"tier lowered from {was} to {now}" if lower else ""


def _fewer(what: str) -> Callable[[Any, Any], str]:
    def rule(was: Any, now: Any) -> str:
        gone = [v for v in _items(was) if v not in _items(now)]
        return f"{what} removed: {', '.join(map(str, gone))}" if gone else ""
    return rule


def _more(what: str) -> Callable[[Any, Any], str]:
    def rule(was: Any, now: Any) -> str:
        added = [v for v in _items(now) if v not in _items(was)]
        return f"{what} added: {', '.join(map(str, added))}" if added else ""
    return rule


def _items(value: Any) -> list[Any]:
    if value is None:
        return []
    return [json.dumps(v, sort_keys=True) if isinstance(v, (dict, list)) else v
            for v in (value if isinstance(value, list) else [value])]


def _lower(what: str) -> Callable[[Any, Any], str]:
    def rule(was: Any, now: Any) -> str:
        if isinstance(was, (int, float)) and isinstance(now, (int, float)) and now < was:
            return f"{what} lowered from {was} to {now}"
        return ""
    return rule


def _switched_off(what: str, *, unset_is_off: bool = False) -> Callable[[Any, Any], str]:
    def rule(was: Any, now: Any) -> str:
        # unset (a section removed, or not set yet): not a switch (its section's rule says);
        # in a section that is always there (``unset_is_off``), unset is a value set without
        # validation (model_copy: None), as is any other value but True (0, "no"): all off
        off = now is not True and (now is not None or unset_is_off)
        return f"{what} turned off" if was is True and off else ""
    return rule


def _not(value: Any, what: str) -> Callable[[Any, Any], str]:
    def rule(was: Any, now: Any) -> str:
        return what if was == value and now != value else ""
    return rule


def _or(default: Any, rule: Callable[[Any, Any], str]) -> Callable[[Any, Any], str]:
    """``rule`` with an unset value read as its ``default`` (a section recorded as written)."""
    return lambda was, now: rule(default if was is None else was, default if now is None else now)


def _changed(what: str, *, read_by: str = "policies read it") -> Callable[[Any, Any], str]:
    return lambda was, now: f"{what} changed from {_show(was)} to {_show(now)} ({read_by})" \
        if was != now else ""


def _routing(layer: str, default: float) -> Callable[[Any, Any], str]:
    """A cascade threshold changed either way: raised, more columns go on to later layers,
    whose answer may be less protective; lowered, more of layer 1's unsure answers stand."""
    def rule(was: Any, now: Any) -> str:
        before, after = (default if v is None else v for v in (was, now))
        if before == after:
            return ""
        why = ("more columns are classified by the later layers, whose answers may be less "
               "protective" if after > before else "more of its unsure answers stand, where a "
               "later layer may have found more")
        return f"the confidence {layer} must reach changed from {before} to {after}: {why}"
    return rule


def _leaves_production(what: str) -> Callable[[Any, Any], str]:
    return lambda was, now: f"{what} changed from {was} to {now} (the per-environment " \
        "policies of non-production apply)" if _production(was) and not _production(now) else ""


_MODES = _rank(("observe", "warn", "enforce"))


def _mode(was: Any, now: Any) -> str:
    if lowered := _MODES(was, now):
        return (f"{lowered}: denials {'only warn' if now == 'warn' else 'are only recorded'}, "
                "operations run")
    if was in ("warn", "enforce") and now not in ("observe", "warn", "enforce"):
        # only a configuration built without validation (model_copy(update=...)) holds one
        return (f"set to {_show(now)}, which is not a mode (a configuration built without "
                "validation): only enforce stops denied operations")
    return ""

_ENFORCEMENT = _rank(("off", "warn", "strict"))
_GATES = "governance.quality_gates"

# (dotted path pattern, rule(before, after) -> why it loosens, or ""): the first pattern that
# matches a changed path decides; an InSection rule reads the whole snapshots (the sections
# other modules own, recorded as written: lacuna.audit.loosening). Every other change is listed
# without a mark.
_CASCADE = CascadeSettings()  # the defaults a cascade setting left unset has

LOOSENING: tuple[tuple[str, Callable[[Any, Any], str] | InSection], ...] = (
    ("environment", _leaves_production("the environment")),
    ("classification.sample_rows", _lower("the rows sampled for value evidence")),
    ("datasets.entries.*.transform*", lambda _was, _now: "what a registered dataset's "
     "readers get of its source changed (or a dataset was registered)"),
    ("mode", lambda was, now: _mode(was, now)),
    ("classification.k_anonymity", _lower("the k-anonymity threshold")),
    ("classification.critical_tier", _tier),
    ("classification.mapping.*.tier", _tier),
    ("classification.mapping.*.tags", _fewer("tags")),
    ("classification.personal_tags", _fewer("personal tags")),
    ("classification.sensitive_terms", _fewer("sensitive terms")),
    ("classification.path_rules", _fewer("path rules")),
    ("destinations.internal_hosts", _more("hosts taken as internal")),
    ("destinations.internal_buckets", _more("buckets taken as internal")),
    ("destinations.governed", _more("destinations taken as governed")),
    ("destinations.classification_aware_databases",
     _more("databases trusted to keep classifications")),
    ("destinations.unmanaged", _fewer("unmanaged destinations")),
    ("policy.decision_log.type", lambda was, now: "the decision log turned off"
     if now in (None, "none") and was not in (None, "none") else ""),
    ("policy.dir", lambda was, now: "the policy bundle is read from another folder"
     if was != now else ""),
    ("policy.server.url", lambda was, now: "decisions no longer come from the policy server"
     if now is None else f"decisions come from the policy server {now}" if was != now
     else ""),
    ("*.tls_verify", _switched_off("TLS certificate checks")),
    ("source", lambda was, now: "the settings are read from another file (relative paths "
     "in them resolve against its folder)" if was != now else ""),
    ("user.role", lambda was, now: f"the declared role changed from {was} to {now} "
     "(policies and detokenize_roles read it)" if was != now else ""),
    ("user.clearance", lambda was, now: "" if _tier(now, was) == "" else
     f"the declared clearance raised from {was} to {now}"),
    ("user.attributes*", lambda was, now: "the declared attributes changed (policies read "
     "them)" if was != now else ""),
    ("audit.checkpoint_log", lambda was, now: "the checkpoint log is no longer kept"
     if was is not None and now is None else ""),
    ("dbt.verify_manifest", lambda was, now: "dbt manifest verification turned off"
     if now is False and was is not False else ""),
    ("anonymize.epsilon", lambda was, now: f"the privacy budget epsilon raised from {was} to "
     f"{now}" if isinstance(was, (int, float)) and isinstance(now, (int, float)) and now > was
     else ""),
    ("classification.cascade.llm.send_samples", lambda was, now: "sample values are sent to "
     "the LLM" if now is True and was is not True else ""),
    # which layer decides a column, and who answers there: a later layer's answer stands
    # unless sampled values validate against it, so each of these can lower a class
    ("classification.cascade.thresholds.heuristic",
     _routing("layer 1 (heuristics)", _CASCADE.thresholds.heuristic)),
    ("classification.cascade.thresholds.embedding",
     _routing("layer 2 (embeddings)", _CASCADE.thresholds.embedding)),
    ("classification.cascade.llm.url", lambda was, now: "columns the earlier layers are "
     f"unsure of are classified by the LLM at {redact_url(now)}, whose answer stands unless "
     "sampled values contradict it" if now is not None and was != now else ""),
    ("classification.cascade.llm.model", _or(_CASCADE.llm.model, _changed(
        "the LLM model that classifies unsure columns", read_by="its answers stand"))),
    ("classification.cascade.embeddings.enabled", _or(_CASCADE.embeddings.enabled, _changed(
        "whether layer 2 (embeddings) classifies unsure columns", read_by="which layer "
        "decides them"))),
    ("classification.cascade.embeddings.model", _or(_CASCADE.embeddings.model, _changed(
        "the embedding model of layer 2", read_by="its answers stand"))),
    ("classification.cascade.embeddings.examples", _more(
        "labelled examples layer 2 learns from (their files are not on the trail)")),
    ("classification.cache.url", lambda was, now: "layer 2 and 3 answers are taken from "
     f"another cache ({redact_url(now) if now else 'the state store'})" if was != now else ""),
    ("storage.encrypt", _switched_off("encryption at rest", unset_is_off=True)),
    ("anonymize.detokenize_roles", _more("roles that may detokenize")),
    ("proxy.unparsed", _not("deny", "bodies the proxy cannot parse are no longer denied")),
    ("proxy.fingerprints", _switched_off("the proxy's fingerprints", unset_is_off=True)),
    ("proxy.fingerprint_sample", _lower("the values fingerprinted per classified column")),
    ("anonymize.noise_sensitivity", _lower("the noise strategy's sensitivity (less noise)")),
    ("destinations.local_files_scope", _not("external", "other local files are taken as "
                                            "internal destinations")),
    ("user.department", _changed("the declared department")),
    ("purpose", _changed("the declared purpose")),
    ("server.url", lambda was, now: f"decisions come from the Lacuna server {now}"
     if now is not None and was != now else ""),
    ("dbt.roles.*", _more("holders of a governance role (requires_role)")),
    ("dbt.environment", InSection(lambda _path, before, after, _changed: _dbt_environment(
        before, after))),
    ("dbt.project_dir", lambda was, now: "the dbt project whose rules govern reads of its "
     "warehouse is no longer set" if now is None else "the rules that govern reads of the "
     f"warehouse come from another dbt project ({now})" if was is not None and was != now
     else ""),
    ("dbt.warehouse", lambda was, now: f"SQL reads are checked on {redact_url(now)} only"
     if now is not None and was != now else ""),
    ("policy.server.path", lambda was, now: f"decisions are read from another rule of the "
     f"policy server ({now})" if was is not None and now is not None and was != now else ""),
    ("*.ca_file", lambda was, now: f"the server's certificate is checked against another CA "
     f"file ({now})" if now is not None and was != now else ""),
    ("stewards.default", _more("stewards who may approve exceptions")),
    ("stewards.policies.*", _more("stewards who may approve exceptions")),
    ("stewards.domains.*", _more("stewards who may approve exceptions")),
    ("retention.*", InSection(retention)),
    ("order.retention.datasets", InSection(datasets_order)),
    ("governance.policies.*", InSection(governance_policies)),
    ("governance.environment", _leaves_production("the project's environment")),
    (f"{_GATES}.enforcement", _or("warn", lambda was, now: _ENFORCEMENT(was, now)
                                  and f"quality gate enforcement {_ENFORCEMENT(was, now)}")),
    (f"{_GATES}.minimum_test_coverage", _or(0, _lower("the minimum test coverage"))),
    (f"{_GATES}.layers.*.minimum_coverage", _lower("a layer's minimum test coverage")),
    (f"{_GATES}.required_tests", _fewer("required tests")),
    (f"{_GATES}.layers.*.required_tests", _fewer("a layer's required tests")),
    (f"{_GATES}.block_on_failure", _or(True, _switched_off("blocking on a failed gate"))),
    (f"{_GATES}.classification_escalation",
     _or(True, _switched_off("escalating quality requirements by classification"))),
)


def _dbt_environment(before: Mapping[str, Any], after: Mapping[str, Any]) -> str:
    """``dbt.environment`` set to a non-production environment where it was production or
    unset: unset, the project's rules apply for its ``governance.environment`` (the project's
    own file may set it: not recorded here), else ``environment``."""
    def effective(snap: Mapping[str, Any]) -> Any:
        return ((snap.get("dbt") or {}).get("environment")
                or (snap.get("governance") or {}).get("environment") or snap.get("environment"))

    was, now = (before.get("dbt") or {}).get("environment"), \
        (after.get("dbt") or {}).get("environment")
    if now is None or _production(now) or (was is not None and not _production(was)):
        return ""
    if was is not None:
        return (f"the dbt project's rules apply for {now}, not {was} (the per-environment "
                "policies of non-production apply)")
    return (f"the dbt project's rules apply for {now}, not for the project's "
            f"governance.environment (else {effective(before)}): the per-environment "
            "policies of non-production apply")


def _production(environment: Any) -> bool:
    from lacuna.model import environment_category

    try:
        return environment_category(str(environment)) == "production"
    except LacunaError:
        return False


def _loosens(path: str, was: Any, now: Any, before: Mapping[str, Any],
             after: Mapping[str, Any], changed: Set[str]) -> str:
    for pattern, rule in LOOSENING:
        if fnmatch.fnmatchcase(path, pattern):
            if isinstance(rule, InSection):
                return rule.rule(path, before, after, changed)
            return rule(was, now)
    return ""


# -- on the trail -------------------------------------------------------------------------------

def latest(conn: Connection, keyring: Keyring) -> dict[str, Any] | None:
    """The body of the trail's newest configuration event that is intact in the chain
    (:func:`lacuna.audit.verify.intact_records`), read on ``conn``; None: none. A newer one
    that is not intact (its body edited to claim the revision now in use, or forged without
    the key) would have kept a changed configuration off the trail: it is passed over, so
    the change is recorded against the last intact event."""
    from sqlalchemy import select

    from lacuna.audit.schema import records
    from lacuna.audit.verify import intact_records, record_columns

    rows = conn.execute(select(*record_columns()).where(records.c.action == ACTION)
                        .order_by(records.c.seq.desc())).all()
    good = {int(r.seq) for r in intact_records(conn, rows, keyring)} if rows else set()
    for row in rows:
        if int(row.seq) not in good:
            log.error("audit record #%s (a configuration event) is not intact in the chain "
                      "(edited, or forged without the key): not relied on, the configuration "
                      "is compared with an earlier one; run lacuna audit verify", row.seq)
            continue
        body = json.loads(row.body)
        if isinstance(body, dict) and body.get("kind") == KIND:
            return body
    return None


def record_configuration(store: AuditStore, config: Config, *, user: Any, session: str
                         ) -> AuditRecord | None:
    """Stamp ``store``'s records with ``config``'s revision from now on, and append a
    configuration event unless the trail is governed by that revision already: its newest
    configuration event has it, or it has none and ``config`` is the embedded defaults. Asked
    in the append's write transaction, so processes starting together append it once. The
    event lists what changed since that newest event (or since the defaults). Returns the
    event, or None when none was needed.

    Raises:
        AuditError: the trail could not be read or written (the revision is not stamped).
    """
    settings = snapshot(config)
    rev = revision(settings)
    said = f"configuration {rev} read from {config.source or 'the embedded defaults'}"
    body = event_body(
        KIND, user=user, session=session, what={"action": ACTION, "event": "configured"},
        reasoning=said, detail={"revision": rev, "source": config.source,
                                "settings": settings, "previous": None, "changes": []})

    def present(conn: Connection) -> bool:
        before = latest(conn, store.keyring)
        if before is not None:
            was, was_rev = before[KIND].get("settings"), before[KIND].get("revision")
        else:
            was = defaults()
            was_rev = revision(was)
        if was_rev == rev:
            return True
        found = changes(was, settings)
        loosened = [f"{c.path} ({c.loosens})" for c in found if c.loosens]
        body[KIND].update(previous=was_rev, changes=[c.to_dict() for c in found])
        since = was_rev if before is not None else f"the embedded defaults ({was_rev})"
        reasoning = f"{said}; {len(found)} setting(s) changed since {since}"
        if loosened:
            reasoning += f"; LOOSENS GOVERNANCE: {'; '.join(loosened)}"
        body["decision"]["reasoning"] = reasoning  # set whole: the same if asked again
        return False

    done = store.record_event_once(body, present)
    store.config_revision = rev
    store.configured_with = config
    return done


@dataclass(frozen=True)
class ConfigEvent:
    """A configuration event read back from the trail."""

    seq: int
    when: str
    user_id: str
    revision: str
    source: str | None
    previous: str | None
    changes: tuple[Change, ...]
    settings: Mapping[str, Any]

    @property
    def loosened(self) -> tuple[Change, ...]:
        return tuple(c for c in self.changes if c.loosens)


def history(store: AuditStore, *, limit: int | None = 20) -> list[ConfigEvent]:
    """The trail's configuration events, newest first. An event edited or forged into
    another shape (a change without a path, a source that is no text: ``lacuna audit
    verify`` names it) is listed with what it holds: it stopped ``lacuna audit config`` with a
    KeyError or TypeError traceback."""
    out = []
    for rec in store.list(limit=limit, action=ACTION):
        detail = rec.data.get(KIND)
        if rec.data.get("kind") != KIND or not isinstance(detail, Mapping):
            continue
        changes = detail.get("changes")
        settings = detail.get("settings")
        out.append(ConfigEvent(
            seq=rec.seq, when=str(rec.data.get("when")), user_id=rec.user_id,
            revision=str(detail.get("revision")), source=_text(detail.get("source")),
            previous=_text(detail.get("previous")),
            changes=tuple(Change(str(c.get("path")), c.get("before"), c.get("after"),
                                 str(c.get("loosens") or ""))
                          for c in (changes if isinstance(changes, list) else ())
                          if isinstance(c, Mapping)),
            settings=settings if isinstance(settings, Mapping) else {}))
    return out


def _text(value: Any) -> str | None:
    return None if value is None else str(value)
