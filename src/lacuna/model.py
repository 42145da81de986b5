"""Lacuna's data model: frozen values that every pipeline step speaks.

The vocabulary is DESIGN.md's: tier, tag, column class, classification, operation, destination,
user, decision, provenance. Objects are immutable; change them with ``dataclasses.replace``.
Validation happens at the edges (config loading, CLI, server), not here.
"""

from __future__ import annotations

import enum
import functools
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime
from typing import Any, ClassVar, Generic, Self, TypeVar, overload

from lacuna.errors import ConfigError

SCHEMA_VERSION = "1"

_log = logging.getLogger(__name__)
_T = TypeVar("_T")


@functools.cache
def _rank(member: enum.Enum) -> int:
    # Declaration order; cached because rollups compare tiers once per column.
    members: list[enum.Enum] = list(type(member))
    return members.index(member)


@functools.cache
def _spellings(cls: type[enum.Enum]) -> dict[str, enum.Enum]:
    """Lower-cased value and name -> member: what ``parse`` accepts, built once per enum."""
    out: dict[str, enum.Enum] = {}
    for member in cls:
        out.setdefault(str(member.value).lower(), member)
        out.setdefault(member.name.lower(), member)
    return out


class _Ordered(enum.StrEnum):
    """A string enum whose members compare by declaration order, not alphabetically."""

    @property
    def rank(self) -> int:
        return _rank(self)

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, type(self)):
            return NotImplemented
        return _rank(self) < _rank(other)

    def __le__(self, other: object) -> bool:
        if not isinstance(other, type(self)):
            return NotImplemented
        return _rank(self) <= _rank(other)

    def __gt__(self, other: object) -> bool:
        if not isinstance(other, type(self)):
            return NotImplemented
        return _rank(self) > _rank(other)

    def __ge__(self, other: object) -> bool:
        if not isinstance(other, type(self)):
            return NotImplemented
        return _rank(self) >= _rank(other)

    __hash__ = enum.StrEnum.__hash__

    @classmethod
    def parse(cls, value: Any) -> Self:
        """Parse a member from its name or value, case-insensitively, with a helpful error."""
        if isinstance(value, cls):
            return value
        text = str(value).strip()
        found = _spellings(cls).get(text.lower())
        if found is not None:
            return found  # type: ignore[return-value]
        allowed = ", ".join(m.value for m in cls)
        msg = f"unknown {cls.__name__.lower()} {text!r}; expected one of: {allowed}"
        raise ConfigError(msg)


class Tier(_Ordered):
    """How restricted data is: ``PUBLIC < INTERNAL < PROPRIETARY``."""

    PUBLIC = "PUBLIC"
    INTERNAL = "INTERNAL"
    PROPRIETARY = "PROPRIETARY"


class Sensitivity(_Ordered):
    """Floe's sensitivity level of a column."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


class ColumnKind(enum.StrEnum):
    """Floe's column classification values (ADR-0012)."""

    PII = "pii"
    PHI = "phi"
    FINANCIAL = "financial"
    IDENTIFIER = "identifier"
    PUBLIC = "public"

    @classmethod
    def parse(cls, value: Any) -> ColumnKind:
        text = str(value).strip().lower()
        try:
            return cls(text)
        except ValueError:
            allowed = ", ".join(m.value for m in cls)
            msg = f"unknown column classification {value!r}; expected one of: {allowed}"
            raise ConfigError(msg) from None


class Layer(enum.StrEnum):
    """Which step produced a classification."""

    DECLARED = "declared"  # dbt meta, sidecar, config, registry
    HEURISTIC = "heuristic"  # layer 1
    EMBEDDING = "embedding"  # layer 2
    LLM = "llm"  # layer 3
    INHERITED = "inherited"  # derived from parents through lineage


# Tags Lacuna itself assigns; users may add any upper-case label of their own.
PII, GDPR, PHI, HIPAA, FINANCIAL = "PII", "GDPR", "PHI", "HIPAA", "FINANCIAL"
DERIVED_FROM_PII, ANONYMIZED, SENSITIVE_TERM = "DERIVED_FROM_PII", "ANONYMIZED", "SENSITIVE_TERM"


class FrozenDict(dict[str, Any]):
    """A read-only, picklable dict: the column map inside a frozen ``Classification`` (and,
    as :class:`lacuna.sections.SettingsDict`, a mapping of validated settings). A ``dict``, so
    ``json``, ``orjson`` and pydantic write it as one; ``dict(x)`` is a copy to change."""

    refusal: ClassVar[str] = ("a Classification is immutable; build a new one with "
                              "dataclasses.replace")

    def _readonly(self, *_: Any, **__: Any) -> None:
        raise TypeError(self.refusal)

    __setitem__ = __delitem__ = clear = pop = popitem = setdefault = update = _readonly  # type: ignore[assignment]
    __ior__ = _readonly  # type: ignore[assignment]

    def __reduce__(self) -> tuple[Any, ...]:  # copy and pickle without __setitem__
        return (type(self), (dict(self),))

    def __hash__(self) -> int:  # type: ignore[override]
        return hash(tuple(sorted(self.items(), key=lambda kv: kv[0])))

    def __deepcopy__(self, memo: dict[int, Any]) -> FrozenDict:
        return self


def unique(items: Iterable[str]) -> tuple[str, ...]:
    """Items in first-seen order without repeats (tag unions keep a stable, readable order)."""
    return tuple(dict.fromkeys(items))


@dataclass(frozen=True, slots=True, kw_only=True)
class Evidence:
    """One piece of evidence behind a column class: where it was seen, never the value itself."""

    source: str  # "name", "value", "path", "term", "declared", "sidecar", "inherited", ...
    rule: str  # the recognizer or rule id, e.g. "name:email", "value:luhn"
    detail: str  # human-readable: "87% of 200 sampled values are valid e-mail addresses"
    score: float = 1.0


@dataclass(frozen=True, slots=True, kw_only=True)
class Piece:
    """What a column lowered by a generalisation is a piece of (``left(zip, 3)`` of
    ``customers.zip``): the source column, the piece's SQL, and the class the column had before.

    Different pieces of one source column that meet again, in one statement or in a table built
    from several, put the value back together: they carry ``classification`` again (the rule of
    :func:`lacuna.lineage.sql_masking.rejoined`). The same piece twice is still one piece.
    """

    table: str  # the source table's stable name (its lineage name, e.g. ``sqlite/w.db#customers``)
    column: str  # the source column, normalised as its dialect does
    sql: str  # the piece, e.g. ``LEFT(zip, 3)`` (columns unqualified)
    classification: ColumnKind = ColumnKind.PII
    pii_type: str | None = None
    sensitivity: Sensitivity = Sensitivity.HIGH

    @property
    def origin(self) -> tuple[str, str]:
        return (self.table, self.column)

    def before(self) -> ColumnClass:
        """The source column's class, as the rejoined value carries it again."""
        return ColumnClass(
            classification=self.classification, pii_type=self.pii_type,
            sensitivity=self.sensitivity, layer=Layer.INHERITED,
            reasoning=f"{self.classification.value}: a piece ({self.sql}) of "
                      f"{self.table}.{self.column}",
        )  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        return {"table": self.table, "column": self.column, "sql": self.sql,
                "classification": self.classification.value, "pii_type": self.pii_type,
                "sensitivity": self.sensitivity.value}  # fmt: skip

    @classmethod
    def from_dict(cls, data: Any) -> Piece:
        """Raises ``TypeError`` or ``ValueError`` on anything unreadable: a column's provenance
        is never half read (the caller fails closed)."""
        data = _object(data, "a piece")
        texts = {k: data.get(k) for k in ("table", "column", "sql")}
        if not all(isinstance(v, str) and v for v in texts.values()):
            msg = f"a piece needs table, column and sql as non-empty strings, got {texts!r}"
            raise ValueError(msg)
        pii_type = data.get("pii_type")
        if pii_type is not None and not isinstance(pii_type, str):
            msg = f"a piece's pii_type must be a string, not {type(pii_type).__name__}"
            raise TypeError(msg)
        return cls(
            table=str(texts["table"]), column=str(texts["column"]), sql=str(texts["sql"]),
            classification=ColumnKind.parse(data.get("classification", "pii")),
            pii_type=pii_type or None,
            sensitivity=Sensitivity.parse(data.get("sensitivity", "high")),
        )


def merge_pieces(*groups: Iterable[Piece]) -> tuple[Piece, ...]:
    """The pieces of several columns, without repeats, in first-seen order."""
    return tuple(dict.fromkeys(p for group in groups for p in group))


@dataclass(frozen=True, slots=True, kw_only=True)
class ColumnClass:
    """Floe's column classification plus Lacuna's confidence and explanation."""

    classification: ColumnKind = ColumnKind.PUBLIC
    pii_type: str | None = None
    sensitivity: Sensitivity = Sensitivity.LOW
    confidence: float = 1.0
    reasoning: str = ""
    layer: Layer = Layer.HEURISTIC
    evidence: tuple[Evidence, ...] = ()
    pieces: tuple[Piece, ...] = ()  # lowered by generalisation: what it is a piece of

    @property
    def is_personal(self) -> bool:
        """Whether the column holds data about an identifiable person (PII or PHI)."""
        return self.classification in (ColumnKind.PII, ColumnKind.PHI)

    def to_floe(self) -> dict[str, str]:
        """The ``meta.floe`` block of ADR-0012 for this column."""
        out = {"classification": self.classification.value, "sensitivity": self.sensitivity.value}
        if self.pii_type:
            out["pii_type"] = self.pii_type
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.to_floe(),
            "pii_type": self.pii_type,
            "confidence": round(self.confidence, 4),
            "reasoning": self.reasoning,
            "layer": self.layer.value,
            **({"pieces": [p.to_dict() for p in self.pieces]} if self.pieces else {}),
            **({"quasi_identifier": qi} if (qi := self.quasi_identifier) is not None else {}),
        }

    @property
    def quasi_identifier(self) -> str | None:
        """The type an anonymization's k-anonymity check marked this column with (evidence
        ``quasi_identifier:<type>``; ``""`` without a type), or ``None`` when unmarked.

        Stored by :meth:`to_dict` (sidecars, the file registry, registered datasets): the mark
        is what makes rows taken out of a k-anonymous frame be counted again
        (:func:`lacuna.lineage.frames.effective_state`). Read back without it, a release read
        from its file or ``lacuna.datasets.get`` lost the check, and one person's row picked
        out of it was written as PUBLIC."""
        for e in self.evidence:
            if e.rule.startswith("quasi_identifier:"):
                return e.rule.split(":", 1)[1]
        return None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, layer: Layer = Layer.DECLARED) -> ColumnClass:
        """Raises ``TypeError`` (not an object) or ``ValueError`` (an unknown value).

        ``pieces`` that cannot be read fail closed: the column was lowered by a generalisation
        of a column Lacuna can no longer name, so it is read as PII (high), never as the lower
        class it was stored with."""
        data = _object(data, "a column class")
        try:
            raw = data.get("pieces")
            if raw is not None and not isinstance(raw, (list, tuple)):
                msg = f"pieces must be a list, not {type(raw).__name__}"
                raise TypeError(msg)
            pieces = tuple(Piece.from_dict(p) for p in raw or ())
        except (TypeError, ValueError, ConfigError) as exc:
            return cls(
                classification=ColumnKind.PII, sensitivity=Sensitivity.HIGH,
                reasoning=f"PII (fail closed): what this column is a piece of cannot be read "
                          f"({exc})",
                layer=layer,
            )  # fmt: skip
        pii_type = data.get("pii_type") or None
        if pii_type is not None and not isinstance(pii_type, str):
            # stored as given, it broke whatever listed the PII types (unhashable, not text)
            msg = f"pii_type must be a string such as 'email', not {type(pii_type).__name__}"
            raise TypeError(msg)
        qi = data.get("quasi_identifier")
        marked = () if qi is None else (Evidence(
            source="privacy", rule=f"quasi_identifier:{qi}",
            detail="a quasi-identifier of a k-anonymous frame (stored with its class)"),)
        return cls(
            pieces=pieces,
            evidence=marked,
            classification=ColumnKind.parse(data.get("classification", "public")),
            pii_type=pii_type,
            sensitivity=Sensitivity.parse(data.get("sensitivity", "low")),
            confidence=float(data.get("confidence", 1.0)),
            reasoning=str(data.get("reasoning", "")),
            layer=Layer(data["layer"]) if "layer" in data else layer,
        )


def _object(value: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        msg = f"{what} must be an object (a mapping), not {type(value).__name__}"
        raise TypeError(msg)
    return value


def _texts(value: Any, what: str) -> tuple[str, ...]:
    """A list of strings (``None``: empty). A bare string is refused rather than read as its
    characters (``"PII"`` is not the tags ``P``, ``I``, ``I``)."""
    if value is None:
        return ()
    if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
        msg = f"{what} must be a list of strings, not {type(value).__name__}"
        raise TypeError(msg)
    return tuple(str(v) for v in value)


@dataclass(frozen=True, slots=True, kw_only=True)
class Classification:
    """Tier, tags and per-column classes of one dataset, with confidence and reasoning.

    ``str(c)`` is the tier's name, so ``print(df.lacuna_classification)`` shows ``PROPRIETARY``
    as in the seed; ``repr(c)`` shows everything.
    """

    tier: Tier = Tier.PUBLIC
    tags: tuple[str, ...] = ()
    columns: Mapping[str, ColumnClass] = field(default_factory=FrozenDict)
    floor: Tier = Tier.PUBLIC  # table-level minimum: path, declaration, registry, aggregation
    table_tags: tuple[str, ...] = ()  # tags not implied by any column: path, terms, provenance
    confidence: float = 1.0
    reasoning: tuple[str, ...] = ()
    layer: Layer = Layer.HEURISTIC
    # Why the tier is assumed rather than found: a fail-closed denial of data Lacuna could not
    # classify or decide on takes the strictest tier (None: the tier is what was found). Set by
    # Lacuna only; never read from a file or a client (from_dict), never in to_dict's lineage.
    assumed: str | None = None
    # The first reason of a classification Lacuna took as the strictest because it could not
    # tell what the data holds (:meth:`fail_closed`): "PROPRIETARY (fail closed): <why>".
    FAIL_CLOSED: ClassVar[str] = "PROPRIETARY (fail closed)"

    def __post_init__(self) -> None:
        if not isinstance(self.columns, FrozenDict):
            object.__setattr__(self, "columns", FrozenDict(self.columns))
        object.__setattr__(self, "tags", unique(t.upper() for t in self.tags))
        object.__setattr__(self, "table_tags", unique(t.upper() for t in self.table_tags))

    def __str__(self) -> str:
        return self.tier.value

    def __deepcopy__(self, memo: dict[int, Any]) -> Classification:
        # Immutable: pandas deep-copies DataFrame.attrs on every operation; sharing is free.
        return self

    @classmethod
    def fail_closed(cls, reason: str, *, over: Classification | None = None) -> Classification:
        """The most restrictive classification, for data Lacuna could not classify or decide
        on (fail closed): tier and floor PROPRIETARY (nothing downstream lowers it), and
        first in its reasoning ``"PROPRIETARY (fail closed): <reason>"``
        (:attr:`FAIL_CLOSED`).

        Args:
            reason: why Lacuna could not tell, and what to do where there is something, without
                the prefix.
            over: what Lacuna found before it could not go on, raised to PROPRIETARY: its tags,
                columns and reasoning (after ``reason``) are kept. None: nothing was found.

        Example:
            >>> c = Classification.fail_closed("the sidecar of x.csv does not parse")
            >>> (c.tier.value, c.floor.value)
            ('PROPRIETARY', 'PROPRIETARY')
            >>> c.reasoning
            ('PROPRIETARY (fail closed): the sidecar of x.csv does not parse',)
            >>> Classification.fail_closed("why", over=Classification(tags=("PII",))).tags
            ('PII',)
        """
        why = f"{cls.FAIL_CLOSED}: {reason}"
        if over is None:
            return cls(tier=Tier.PROPRIETARY, floor=Tier.PROPRIETARY, reasoning=(why,))
        return replace(over, tier=Tier.PROPRIETARY, floor=Tier.PROPRIETARY,
                       reasoning=(why, *over.reasoning))

    @property
    def personal_columns(self) -> tuple[str, ...]:
        """Columns classified as PII or PHI."""
        return tuple(name for name, c in self.columns.items() if c.is_personal)

    @property
    def pii_types(self) -> tuple[str, ...]:
        return unique(c.pii_type for c in self.columns.values() if c.is_personal and c.pii_type)

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "tier": self.tier.value,
            "tags": list(self.tags),
            "floor": self.floor.value,
            "table_tags": list(self.table_tags),
            "confidence": round(self.confidence, 4),
            "layer": self.layer.value,
            "reasoning": list(self.reasoning),
            "columns": {name: c.to_dict() for name, c in self.columns.items()},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, layer: Layer = Layer.DECLARED) -> Classification:
        """Raises ``TypeError`` (a field of the wrong shape, named) or ``ValueError`` (an
        unknown tier or class): a client's or a file's malformed classification is refused
        with the field it got wrong, never half read."""
        data = _object(data, "a classification")
        columns = {
            str(name): ColumnClass.from_dict(_object(col, f"column {name!r}"), layer=layer)
            for name, col in _object(data.get("columns") or {}, "columns").items()
        }
        return cls(
            tier=Tier.parse(data.get("tier", "PUBLIC")),
            tags=_texts(data.get("tags"), "tags"),
            columns=columns,
            floor=Tier.parse(data.get("floor", "PUBLIC")),
            table_tags=_texts(data.get("table_tags"), "table_tags"),
            confidence=float(data.get("confidence", 1.0)),
            reasoning=_texts(data.get("reasoning"), "reasoning"),
            layer=Layer(data["layer"]) if "layer" in data else layer,
        )


class Action(enum.StrEnum):
    """What an operation does to data."""

    READ = "read"
    WRITE = "write"
    EXPORT = "export"
    TRANSFORM = "transform"


class Scope(enum.StrEnum):
    INTERNAL = "internal"
    EXTERNAL = "external"


class DestinationType(enum.StrEnum):
    """Where data goes, in the words the policies use (``input.destination.type``)."""

    FILE = "file"  # a local or network file outside governed storage
    GOVERNED_STORAGE = "governed_storage"  # encrypted, access-logged, retention-enforced
    OBJECT_STORE = "object_store"  # s3://, gs://, abfs://, ... outside governed buckets
    HTTP = "http"
    DATABASE = "database"


@dataclass(frozen=True, slots=True, kw_only=True)
class Destination:
    """A classified target of an operation."""

    uri: str
    type: DestinationType
    scope: Scope
    encrypted: bool = False
    managed: bool = True
    classification_support: bool = False
    path: str | None = None
    path_prefix: str | None = None  # the governed or unmanaged root it falls under
    reasoning: str = ""

    def to_input(self) -> dict[str, Any]:
        return {
            "uri": self.uri,
            "type": self.type.value,
            "scope": self.scope.value,
            "encrypted": self.encrypted,
            "managed": self.managed,
            "classification_support": self.classification_support,
            "path": self.path,
            "path_prefix": self.path_prefix,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class User:
    """Who acts: id, role, clearance and free-form attributes (department, ...)."""

    id: str
    role: str = "analyst"
    clearance: Tier = Tier.INTERNAL
    department: str | None = None
    attributes: Mapping[str, Any] = field(default_factory=FrozenDict)

    def to_input(self) -> dict[str, Any]:
        return {
            **dict(self.attributes),
            "id": self.id,
            "role": self.role,
            "clearance": self.clearance.value,
            "department": self.department,
        }


ENVIRONMENT_CATEGORY = {
    "development": "non_production",
    "preview": "non_production",
    "staging": "non_production",
    "production": "production",
}


def environment_category(environment: str) -> str:
    """ADR-0012's binary mapping: only ``production`` is production."""
    try:
        return ENVIRONMENT_CATEGORY[environment]
    except KeyError:
        allowed = ", ".join(ENVIRONMENT_CATEGORY)
        msg = f"unknown environment {environment!r}; expected one of: {allowed}"
        raise ConfigError(msg) from None


@dataclass(frozen=True, slots=True, kw_only=True)
class Source:
    """One input of an operation: a dataset name (path, URI, table) and its classification."""

    name: str
    classification: Classification
    created_at: datetime | None = None


class _Ids:
    """Random version-4 UUIDs as 32 hex digits, like ``uuid.uuid4().hex`` and as unguessable
    (``os.urandom``), but one system call per 256 ids instead of one per id: the server makes
    one or two per request, and ``getrandom`` is slow on a busy machine. A forked child starts
    a fresh buffer, so no two processes hand out the same id."""

    def __init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        self._lock = threading.Lock()
        self._buffer = b""
        self._at = 0

    def _random(self, n: int) -> bytes:
        with self._lock:
            at = self._at
            if at + n > len(self._buffer):
                self._buffer, at = os.urandom(4096), 0
            self._at = at + n
            return self._buffer[at:at + n]

    def __call__(self) -> str:
        h = self._random(16).hex()
        return f"{h[:12]}4{h[13:16]}{'89ab'[int(h[16], 16) & 3]}{h[17:]}"

    def ordered(self) -> str:
        """A version-7 UUID (RFC 9562) as 32 hex digits: the Unix time in milliseconds, then
        74 random bits (``os.urandom``, as unguessable as a version-4 id's 122 bits for any
        use where a guess must hit an existing id). Ids made later sort after earlier ones
        (within a millisecond: at random), so a table keyed or indexed by them inserts at
        the end of its B-tree, in the same few pages, where random ids touch a random leaf
        page per insert (the audit trail's and the decision log's id indexes)."""
        return _v7(_v7_head(), int.from_bytes(self._random(10), "big"))

    def ordered_many(self, n: int) -> list[str]:
        """``n`` version-7 ids made together (a decision-log batch, an audit group): one clock
        read and one ``os.urandom`` for all, the layout of :meth:`ordered`. They share their
        millisecond, so they sort after every earlier id and, among themselves, at random,
        as ids made within one millisecond do."""
        head, raw = _v7_head(), os.urandom(10 * n)
        return [_v7(head, int.from_bytes(raw[i:i + 10], "big")) for i in range(0, 10 * n, 10)]


def _v7_head() -> int:
    """A version-7 id's fixed bits for now: the Unix time in milliseconds (48 bits), the
    version (7) and the variant (``10``)."""
    return ((time.time_ns() // 1_000_000) & _MS_MASK) << 80 | 0x7 << 76 | 0b10 << 62


def _v7(head: int, r: int) -> str:
    """A version-7 id as 32 hex digits: ``head`` (:func:`_v7_head`) and 74 of the 80 random
    bits ``r`` (12 after the version, 62 after the variant)."""
    return f"{head | ((r >> 62) & 0xFFF) << 64 | (r & _RAND_B_MASK):032x}"


_MS_MASK = (1 << 48) - 1
_RAND_B_MASK = (1 << 62) - 1
new_id = _Ids()
os.register_at_fork(after_in_child=new_id._reset)
#: a time-ordered id (UUIDv7 as 32 hex digits) for records that tables index by id
ordered_id = new_id.ordered
#: ``n`` time-ordered ids at once (see :meth:`_Ids.ordered_many`)
ordered_ids = new_id.ordered_many


def _new_id() -> str:
    return ordered_id()


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """``value`` in UTC; a naive datetime is taken as UTC (as every ``--start`` and ``now=``
    Lacuna takes is), so it never meets an aware one in a comparison (a TypeError)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


@dataclass(frozen=True, slots=True, kw_only=True)
class Operation:
    """One intercepted action with its context: what the integrations hand to the Governor."""

    action: Action
    user: User
    classification: Classification  # of the data being acted upon
    sources: tuple[Source, ...] = ()
    destination: Destination | None = None
    environment: str = "development"
    purpose: str | None = None
    exception_id: str | None = None
    method: str = ""  # the host call, e.g. "pandas.DataFrame.to_csv"
    code_location: str | None = None  # the user's file:line
    variable: str | None = None  # the user's name for the data, for runnable alternatives
    # server mode: the client host the request named (X-Lacuna-Host, lacuna.server.hosts),
    # and whether the server vouches for it (the caller is bound to it by client_hosts) or
    # took it on the client's word; kept on the audit record's ``who``
    client_host: str | None = None
    host_verified: bool = False
    id: str = field(default_factory=_new_id)
    timestamp: datetime = field(default_factory=utcnow)

    @property
    def environment_category(self) -> str:
        return environment_category(self.environment)


@dataclass(frozen=True, slots=True, kw_only=True)
class Alternative:
    """A compliant way to get what the user wanted: a title and, ideally, runnable code."""

    title: str
    code: str | None = None
    note: str | None = None
    # A kind Lacuna builds and checks ("anonymize", "governed_location", "exception"; see
    # lacuna.alternatives), with the policy's parameters for it, e.g. (("approver", "..."),).
    kind: str | None = None
    params: tuple[tuple[str, str], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"title": self.title, "code": self.code, "note": self.note}
        if self.kind is not None:
            out["kind"] = self.kind
        if self.params:
            out["params"] = dict(self.params)
        return out


@dataclass(frozen=True, slots=True, kw_only=True)
class PolicyRef:
    """A policy that contributed to a decision, with its metadata."""

    package: str
    id: str | None = None
    title: str | None = None
    owner: str | None = None
    version: str | None = None
    compliance: tuple[str, ...] = ()
    effect: str = "allow"  # "allow", "deny" or "none": how this policy voted


EXPLANATION_UNAVAILABLE = (
    "Explanation unavailable: Lacuna could not evaluate why this operation was denied ({error}). "
    "The denial stands (fail closed); run `lacuna policy eval` on the input, or tell the "
    "policy's owner."
)


class Explanation:
    """A denial's ``why`` and ``alternatives``, evaluated on first read and then remembered.

    The policy engine decides with the votes and the deny messages only; what a denial says to
    a person (why it matters, what to do instead) costs as much again to evaluate, and most
    denials in a pipeline are never shown. ``compute`` runs at most once, under a lock, on the
    thread that first reads either value. If it raises, the answer is
    :data:`EXPLANATION_UNAVAILABLE` and no alternatives: the decision itself never changes.

    Example:
        >>> e = Explanation(lambda: (("it matters",), ()))
        >>> e.get()
        (('it matters',), ())
    """

    __slots__ = ("_compute", "_lock", "_value")

    def __init__(self, compute: Callable[[], tuple[tuple[str, ...], tuple[Alternative, ...]]]
                 ) -> None:
        self._compute: Callable[[], tuple[tuple[str, ...], tuple[Alternative, ...]]] | None = (
            compute)
        self._lock = threading.Lock()
        self._value: tuple[tuple[str, ...], tuple[Alternative, ...]] | None = None

    @property
    def evaluated(self) -> bool:
        """Whether the explanation has been evaluated (read) already."""
        return self._value is not None

    def get(self) -> tuple[tuple[str, ...], tuple[Alternative, ...]]:
        """``(why, alternatives)``, evaluated now if this is the first read."""
        value = self._value
        if value is not None:
            return value
        with self._lock:
            if self._value is None:
                compute = self._compute
                try:
                    if compute is None:  # pragma: no cover - set together with _value
                        msg = "no explanation to evaluate"
                        raise RuntimeError(msg)
                    why, alternatives = compute()
                    value = (tuple(str(w) for w in why), tuple(alternatives))
                except Exception as exc:  # fail closed: the denial stands, unexplained
                    _log.error("could not evaluate the explanation of a denial: %s: %s",
                               type(exc).__name__, exc)
                    error = f"{type(exc).__name__}: {exc}"
                    value = ((EXPLANATION_UNAVAILABLE.format(error=error),), ())
                self._value = value
                self._compute = None  # release the engine state the closure holds
            return self._value


class _Explained(Generic[_T]):
    """A ``Decision`` field (``why`` or ``alternatives``) that may hold an :class:`Explanation`.

    Set with a tuple, or with an ``Explanation`` shared by both fields; read, it is always the
    tuple (the explanation is evaluated on first read). The value lives in the instance's
    ``__dict__`` under ``_<name>``.
    """

    def __init__(self, index: int) -> None:
        self._index = index
        self._slot = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self._slot = f"_{name}"

    @overload
    def __get__(self, obj: None, owner: type | None = None) -> tuple[_T, ...]: ...
    @overload
    def __get__(self, obj: object, owner: type | None = None) -> tuple[_T, ...]: ...

    def __get__(self, obj: object | None, owner: type | None = None) -> tuple[_T, ...]:
        if obj is None:
            return ()  # the dataclass default
        value = obj.__dict__[self._slot]
        if isinstance(value, Explanation):
            explained: tuple[_T, ...] = value.get()[self._index]  # type: ignore[assignment]
            return explained
        return value  # type: ignore[no-any-return]

    def __set__(self, obj: object, value: tuple[_T, ...] | Explanation) -> None:
        obj.__dict__[self._slot] = value if isinstance(value, Explanation) else tuple(value)


@dataclass(frozen=True, kw_only=True, init=False)
class Decision:
    """A policy answer for one operation, explained.

    ``why`` and ``alternatives`` may be given as one :class:`Explanation`, evaluated when either
    is first read (rendered, serialised, compared, copied with ``dataclasses.replace``).
    Everything else, ``allowed`` and ``reasoning`` (the deny messages) included, is decided
    eagerly. :meth:`evolve` copies a decision without evaluating its explanation.

    The constructor is written out (one ``__dict__`` update) rather than generated: a frozen
    dataclass's sets each field through ``object.__setattr__``, which costs a few microseconds
    on every decision (tests check that it sets exactly the declared fields).
    """

    allowed: bool
    operation_id: str
    reasoning: str
    policy_id: str | None = None
    policy_title: str | None = None
    why: _Explained[str] = _Explained(0)  # "why this matters"
    alternatives: _Explained[Alternative] = _Explained(1)
    steward: str | None = None
    docs_url: str | None = None
    policies: tuple[PolicyRef, ...] = ()
    engine_error: str | None = None  # set when the engine failed and the decision fails closed
    bundle_revision: str | None = None
    eval_ms: float = 0.0
    # a verified exception grant covered the operation (the policies' exception_approved)
    exception_approved: bool = False
    operation: Operation | None = field(default=None, compare=False, repr=False)

    def __init__(self, *, allowed: bool, operation_id: str, reasoning: str,
                 policy_id: str | None = None, policy_title: str | None = None,
                 why: tuple[str, ...] | Explanation = (),
                 alternatives: tuple[Alternative, ...] | Explanation = (),
                 steward: str | None = None, docs_url: str | None = None,
                 policies: tuple[PolicyRef, ...] = (), engine_error: str | None = None,
                 bundle_revision: str | None = None, eval_ms: float = 0.0,
                 exception_approved: bool = False, operation: Operation | None = None) -> None:
        self.__dict__.update({
            "allowed": allowed, "operation_id": operation_id, "reasoning": reasoning,
            "policy_id": policy_id, "policy_title": policy_title,
            "_why": why if isinstance(why, Explanation | tuple) else tuple(why),
            "_alternatives": (alternatives if isinstance(alternatives, Explanation | tuple)
                              else tuple(alternatives)),
            "steward": steward, "docs_url": docs_url, "policies": policies,
            "engine_error": engine_error, "bundle_revision": bundle_revision,
            "eval_ms": eval_ms, "exception_approved": exception_approved,
            "operation": operation,
        })

    @property
    def explained(self) -> bool:
        """Whether ``why`` and ``alternatives`` are known (given, or evaluated already)."""
        value = self.__dict__.get("_why")
        return not isinstance(value, Explanation) or value.evaluated

    def evolve(self, **changes: Any) -> Decision:
        """A copy with ``changes``, like ``dataclasses.replace`` but leaving a lazy explanation
        unevaluated (it is shared: whichever copy reads it first evaluates it for both)."""
        new = object.__new__(Decision)
        new.__dict__.update(self.__dict__)
        for name, value in changes.items():
            if name not in _DECISION_FIELDS:
                msg = f"Decision has no field {name!r}"
                raise TypeError(msg)
            object.__setattr__(new, name, value)
        return new

    def __getstate__(self) -> dict[str, Any]:
        # Pickled and copied with the explanation evaluated: an Explanation holds a lock and
        # the engine state it needs, neither of which travels.
        state = dict(self.__dict__)
        state["_why"], state["_alternatives"] = self.why, self.alternatives
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)

    @property
    def denied(self) -> bool:
        return not self.allowed

    @property
    def decision_id(self) -> str:
        """The id to give feedback on (``lacuna feedback DECISION_ID``): the operation id."""
        return self.operation_id

    def to_dict(self) -> dict[str, Any]:
        return self.rendered(
            [a.to_dict() for a in self.alternatives],
            [{"package": p.package, "id": p.id, "title": p.title, "effect": p.effect}
             for p in self.policies])

    def rendered(self, alternatives: list[dict[str, Any]], policies: list[dict[str, Any]]
                 ) -> dict[str, Any]:
        """:meth:`to_dict`'s fields with ``alternatives`` and ``policies`` rendered by the
        caller (the wire format renders them in full; rendering them twice costs)."""
        op = self.operation
        return {
            "schema_version": SCHEMA_VERSION,
            "allowed": self.allowed,
            "operation_id": self.operation_id,
            "action": op.action.value if op else None,
            "destination": op.destination.uri if op and op.destination else None,
            "classification": op.classification.tier.value if op else None,
            **({"classification_assumed": op.classification.assumed}
               if op is not None and op.classification.assumed else {}),
            "tags": list(op.classification.tags) if op else [],
            "reasoning": self.reasoning,
            "why": list(self.why),
            "alternatives": alternatives,
            "policy_id": self.policy_id,
            "policy_title": self.policy_title,
            "steward": self.steward,
            "docs_url": self.docs_url,
            "policies": policies,
            "engine_error": self.engine_error,
            "bundle_revision": self.bundle_revision,
            "exception_approved": self.exception_approved,
        }


_DECISION_FIELDS = frozenset(f.name for f in fields(Decision))


def _shown(name: str) -> str:
    """A source's or destination's name as the audit trail keeps it: a password or token in its
    userinfo and secret-looking ``name=value`` pairs masked (:func:`lacuna.redact.redact_name`).
    The integrations name what they govern redacted already; a client of the server names its
    sources itself, and the trail is kept for years and cannot drop a record."""
    from lacuna.redact import redact_name

    return redact_name(name)


def _said(text: str | None) -> str | None:
    """Free text the trail keeps (a purpose, a code location, a host call's name: a client of
    the server sends them as it likes) with credentials masked as in an error message
    (:func:`lacuna.redact.redact_text`: a URL's password or token, ``token=...``, ``Bearer
    ...``, a known credential's format such as an AWS access key)."""
    if not text:
        return text
    from lacuna.redact import redact_text

    return redact_text(text)


@dataclass(frozen=True, slots=True, kw_only=True)
class Provenance:
    """Who did what, when, why and how: the audit record's body."""

    user_id: str
    role: str
    session: str
    action: str
    sources: tuple[str, ...]
    destination: str | None
    tier: str
    tags: tuple[str, ...]
    timestamp: datetime
    purpose: str | None
    method: str
    code_location: str | None

    @classmethod
    def of(cls, operation: Operation, *, session: str) -> Provenance:
        return cls(
            user_id=operation.user.id,
            role=operation.user.role,
            session=session,
            action=operation.action.value,
            sources=tuple(_shown(s.name) for s in operation.sources),
            destination=_shown(operation.destination.uri) if operation.destination else None,
            tier=operation.classification.tier.value,
            tags=operation.classification.tags,
            timestamp=operation.timestamp,
            purpose=_said(operation.purpose),
            method=_said(operation.method) or "",
            code_location=_said(operation.code_location),
        )
