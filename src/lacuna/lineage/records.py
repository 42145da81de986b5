"""What the lineage store keeps: datasets named as OpenLineage names them, their versions and
classifications, runs with full provenance, and column-level edges.

Host-neutral and frozen: integrations, the SQL parser and the OpenLineage importer all describe
what happened in these terms; :mod:`lacuna.lineage.store` persists them, and
:mod:`lacuna.lineage.openlineage` translates them to and from OpenLineage events.

Dataset naming follows the OpenLineage naming spec: a local file is namespace ``file`` and its
absolute path; ``s3://bucket/key`` is namespace ``s3://bucket``, name ``key``; a database table is
namespace ``postgres://host:port`` (``sqlite``, ``duckdb``, ...) and name ``db.schema.table``.

One object store has one name: a namespace's scheme is lower-cased and Hadoop's and fsspec's
other spellings of a store are its OpenLineage one (``s3a://`` and ``s3n://`` are ``s3://``,
``gcs://`` is ``gs://``: :data:`SCHEME_ALIASES`), in every :class:`DatasetRef`, so a class
recorded for ``s3a://bucket/x`` (Spark) is the class of ``s3://bucket/x`` (pandas, boto3).
"""

from __future__ import annotations

import enum
import os
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit
from urllib.request import url2pathname

from lacuna.lineage.attribution import Raised
from lacuna.model import Classification, utcnow

SCHEMA_VERSION = "1"
# The namespace of an input whose origin Lacuna could not name (a frame built in memory, a
# query result of unknown source): it makes the output's lineage incomplete.
UNKNOWN_NAMESPACE = "lacuna-unknown"
# Other names of one store's scheme: the same objects through another client (Hadoop's S3A and
# S3N file systems, fsspec's gcs), named as OpenLineage's naming spec names the store.
SCHEME_ALIASES = {"s3a": "s3", "s3n": "s3", "gcs": "gs"}


def canonical_namespace(namespace: str) -> str:
    """``namespace`` with its scheme lower-cased and as OpenLineage names its store.

    >>> canonical_namespace("s3a://lake")
    's3://lake'
    >>> canonical_namespace("file")
    'file'
    """
    scheme, sep, rest = namespace.partition("://")
    if not sep:
        return namespace
    low = scheme.lower()
    canon = SCHEME_ALIASES.get(low, low)
    return namespace if canon == scheme else f"{canon}://{rest}"


_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://")


def canonical_uri(uri: str) -> str:
    """``uri`` named as the lineage store names it: the scheme of a URL lower-cased and as
    OpenLineage names its store (:func:`canonical_namespace`), the rest as given; anything that
    is not a URL (a local path) unchanged. The one name every store keys a dataset by (legal
    holds, exception grants' destinations and sources), so ``s3a://b/x`` (Spark) and
    ``s3://b/x`` (pandas, boto3) are one dataset everywhere, as in the lineage store.

    >>> canonical_uri("s3a://lake/raw/x.csv"), canonical_uri("S3://lake/x"), canonical_uri("/t/x")
    ('s3://lake/raw/x.csv', 's3://lake/x', '/t/x')
    """
    return canonical_namespace(uri) if _SCHEME.match(uri) else uri


def legacy_namespaces(namespace: str) -> tuple[str, ...]:
    """The other spellings a canonical ``namespace`` was stored under before names were made
    canonical (``s3://lake``: ``s3a://lake``, ``s3n://lake``)."""
    scheme, sep, rest = namespace.partition("://")
    if not sep:
        return ()
    return tuple(f"{alias}://{rest}" for alias, canon in SCHEME_ALIASES.items()
                 if canon == scheme)


@dataclass(frozen=True, slots=True, order=True)
class DatasetRef:
    """A dataset's identity: OpenLineage's (namespace, name)."""

    namespace: str
    name: str

    def __post_init__(self) -> None:
        # one store, one name (the module docstring): s3a://bucket is s3://bucket
        if "://" in self.namespace:
            canon = canonical_namespace(self.namespace)
            if canon != self.namespace:
                object.__setattr__(self, "namespace", canon)

    def __str__(self) -> str:
        return self.name if self.namespace == "file" else f"{self.namespace}/{self.name}"

    @property
    def known(self) -> bool:
        """False for a placeholder made by :meth:`unknown`."""
        return self.namespace != UNKNOWN_NAMESPACE

    @classmethod
    def unknown(cls, hint: str = "") -> DatasetRef:
        """A placeholder input whose origin is not known; ``hint`` says what it was."""
        return cls(UNKNOWN_NAMESPACE, hint or "unknown")

    @classmethod
    def of(cls, target: str | os.PathLike[str]) -> DatasetRef:
        """The reference for a path, URI or ``<database URL>#<table>`` (``to_sql``'s target).

        >>> DatasetRef.of("s3://bucket/raw/customers.csv")
        DatasetRef(namespace='s3://bucket', name='raw/customers.csv')
        >>> DatasetRef.of("postgresql://db.internal:5432/crm#customers")
        DatasetRef(namespace='postgres://db.internal:5432', name='crm.customers')
        """
        text = os.fspath(target)
        if "://" not in text:
            return cls("file", os.path.abspath(os.path.expanduser(text)))
        url, _, table = text.partition("#")
        parts = urlsplit(url)
        scheme = parts.scheme.split("+", 1)[0]
        if scheme in ("postgresql", "postgres"):
            port = parts.port or 5432
            db = parts.path.lstrip("/")
            return cls(f"postgres://{parts.hostname}:{port}", f"{db}.{table}" if table else db)
        if scheme in ("sqlite", "duckdb"):
            path = parts.path[1:] if parts.path.startswith("//") else parts.path.lstrip("/")
            return cls(scheme, f"{path or ':memory:'}#{table}" if table else path)
        if scheme == "file":  # the local file it names, as a path names it (pyarrow writes
            # file:///d/sub/../out%20x.parquet as /d/out x.parquet; its lineage was kept
            # under the URL's text, which no read or `lacuna lineage show` of the file finds)
            if parts.netloc in ("", "localhost"):
                return cls("file", os.path.abspath(url2pathname(parts.path)))
            return cls(f"file://{parts.netloc}", parts.path)  # another host's: not ours
        netloc = f"{scheme}://{parts.netloc}"
        name = parts.path.lstrip("/")
        return cls(netloc, f"{name}#{table}" if table else name)


class EdgeKind(enum.StrEnum):
    """How an output column came from an input column. Only a masking edge stops a column
    class from propagating (a keyed hash, redaction, generalisation, a k-anonymous aggregate)."""

    IDENTITY = "identity"
    TRANSFORMATION = "transformation"
    AGGREGATION = "aggregation"
    MASKING = "masking"


@dataclass(frozen=True, slots=True, kw_only=True)
class ColumnEdge:
    """``target.target_column`` derives from ``source.source_column`` by ``kind``."""

    source: DatasetRef
    source_column: str
    target: DatasetRef
    target_column: str
    kind: EdgeKind = EdgeKind.IDENTITY
    description: str = ""  # e.g. "sha256(email || key)", "sum"


@dataclass(frozen=True, slots=True, kw_only=True)
class DatasetVersion:
    """A dataset as one run saw or produced it."""

    dataset: DatasetRef
    classification: Classification
    fingerprint: str | None = None  # a content fingerprint where cheap (size+hash, mtime)
    columns: tuple[str, ...] = ()
    # Which part of ``classification`` claims raised (a trusted version's, signed with it:
    # :mod:`lacuna.lineage.attribution`); None: none, or not known (an older row)
    raised: Raised | None = field(default=None, compare=False, repr=False)
    # An ingested output whose event carried this installation's signature over its class as
    # Lacuna computed it from the run's inputs (``lacuna_classification.signature``, checked
    # by :func:`lacuna.lineage.openlineage.merge_event`): a class below what the run read is
    # kept only then (:func:`lacuna.lineage.claims.ingest`). Never stored.
    attested: bool = field(default=False, compare=False, repr=False)
    # What :meth:`lacuna.lineage.store.LineageStore.version_at` answered with: True, a version
    # of Lacuna's own whose signature holds; False, a claim (ingested, or a row marked trusted
    # whose signature does not hold) saying at least as much. None: not said (other reads).
    verified: bool | None = field(default=None, compare=False)


class RunStatus(enum.StrEnum):
    DENIED = "denied"  # the policy stopped it: recorded for policy improvement, produced nothing
    SUCCEEDED = "succeeded"
    FAILED = "failed"


@dataclass(frozen=True, slots=True, kw_only=True)
class Run:
    """One governed operation or job run, with provenance (who, what, when, why, how)."""

    id: str
    operation: str  # "export", "to_sql", "register_lineage", "dbt.run", ...
    status: RunStatus
    inputs: tuple[DatasetVersion, ...] = ()
    outputs: tuple[DatasetVersion, ...] = ()
    column_edges: tuple[ColumnEdge, ...] = ()
    # who
    user_id: str = ""
    role: str = ""
    session: str = ""
    # when
    started_at: datetime = field(default_factory=utcnow)
    ended_at: datetime | None = None
    # why
    purpose: str | None = None
    exception_id: str | None = None
    # how
    method: str = ""  # the host call, e.g. "pandas.DataFrame.to_parquet"
    code_location: str | None = None
    code_hash: str | None = None
    code_text: str | None = None  # only when small (a SQL statement, a short transform)
    libraries: tuple[tuple[str, str], ...] = ()  # (name, version)
    quality_checks: tuple[str, ...] = ()
    decision_id: str | None = None
    policy_id: str | None = None
    error: str | None = None  # FAILED: the error type and message, never data values
    producer: str = "lacuna"  # another tool's name for imported OpenLineage runs
    extra: tuple[tuple[str, Any], ...] = ()  # facets kept verbatim from imported events
    # Ingested from OpenLineage events (``lacuna lineage import``, ``POST /api/v1/lineage``):
    # the ``producer`` those events named, which the sender chose; None for a run Lacuna's
    # pipeline recorded. The run's user, role and ``producer`` are then what its events claim
    # (a ``lacuna_run`` facet may say ``runProducer: "lacuna"``, ``userId: "ciso"``).
    # Not compared: how a run reached this store, not what the run was (a run Lacuna emitted
    # and another store imported is that run, as its round trip is tested to be).
    imported_from: str | None = field(default=None, compare=False)
    # An ingested run whose user is who sent its events, as a server authenticated them
    # (``POST /api/v1/lineage`` records the caller as the run's user): then not a claim.
    user_vouched: bool = field(default=False, compare=False)
    # Read from a store that cannot say whether Lacuna's pipeline recorded the run or it was
    # ingested: a row from before imported runs were marked (and signed) that no signed version
    # of its own vouches for, or a row whose signature no longer holds (edited by hand). Its
    # user and producer are then shown as claims, and it is neither "imported" nor "own".
    origin_unknown: bool = field(default=False, compare=False)

    def provenance(self) -> dict[str, Any]:
        """Who recorded the run and which tool produced it, as far as Lacuna knows (``lacuna
        lineage runs``, ``GET /api/v1/lineage/runs``). A run ingested from OpenLineage events
        (``imported``) names the events' ``producer`` and no user: what its ``lacuna_run``
        facet says of them (``runProducer: "lacuna"``, ``userId: "ciso"``) anyone sending
        events may write, so it is a claim, never Lacuna's own record; its user is named only
        when a server authenticated the sender as that user (:attr:`user_vouched`). A run
        whose origin the store cannot vouch for (:attr:`origin_unknown`) is neither: its user
        and producer are claims, and ``imported`` is None."""
        if self.origin_unknown:
            return {"user": None, "claimed_user": self.user_id or None, "producer": None,
                    "claimed_producer": self.producer or None, "imported": None}
        if self.imported_from is None:
            return {"user": self.user_id, "producer": self.producer, "imported": False}
        vouched = self.user_vouched and bool(self.user_id)
        return {"user": self.user_id if vouched else None,
                "claimed_user": None if vouched else (self.user_id or None),
                "producer": self.imported_from,
                "claimed_producer": (self.producer if self.producer != self.imported_from
                                     else None),
                "imported": True}


__all__ = [
    "SCHEMA_VERSION",
    "UNKNOWN_NAMESPACE",
    "ColumnEdge",
    "DatasetRef",
    "DatasetVersion",
    "EdgeKind",
    "Run",
    "RunStatus",
]
