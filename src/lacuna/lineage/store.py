"""``LineageStore``: runs, dataset versions and edges in the state database, and the queries.

The store lives in the same database as the audit trail (``Config.audit_url``: a SQLite file in
``LACUNA_HOME`` by default, PostgreSQL by URL), in its own tables (:mod:`lacuna.lineage.schema`).
Writes take the database's write lock (``BEGIN IMMEDIATE`` on SQLite), so any number of
processes can record into one store. Queries walk the dataset-level edges with recursive CTEs,
bounded by a depth when one is given and safe on cycles either way.

Example:
    >>> from lacuna.lineage.records import DatasetRef, DatasetVersion, Run, RunStatus
    >>> from lacuna.model import Classification, Tier
    >>> store = LineageStore("sqlite://")
    >>> raw = DatasetVersion(dataset=DatasetRef.of("s3://b/raw.csv"),
    ...                      classification=Classification(tier=Tier.PROPRIETARY))
    >>> out = DatasetVersion(dataset=DatasetRef.of("s3://b/out.csv"),
    ...                      classification=Classification(tier=Tier.PROPRIETARY))
    >>> store.record(Run(id="r1", operation="export", status=RunStatus.SUCCEEDED,
    ...                  inputs=(raw,), outputs=(out,)))
    >>> [str(d) for d in store.upstream(out.dataset).nodes]
    ['s3://b/out.csv', 's3://b/raw.csv']
    >>> store.close()
"""

from __future__ import annotations

import builtins
import functools
import itertools
import json
import logging
import re
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Connection,
    and_,
    bindparam,
    delete,
    func,
    insert,
    inspect,
    or_,
    select,
    union_all,
    update,
)
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError, SQLAlchemyError

from lacuna.audit.record import iso
from lacuna.audit.schema import build_engine, check_sqlite_file, parse_url, sqlite_file
from lacuna.errors import (
    AuditError,
    LacunaError,
    LineageError,
    NotDismissableError,
    RunDismissedError,
    RunOwnedError,
    UnknownRunError,
)
from lacuna.lineage import attribution, outbox, queries
from lacuna.lineage.graph import Completeness, Direction, LineageEdge, LineageGraph
from lacuna.lineage.records import (
    SCHEME_ALIASES,
    ColumnEdge,
    DatasetRef,
    DatasetVersion,
    EdgeKind,
    Run,
    RunStatus,
    canonical_namespace,
    legacy_namespaces,
)
from lacuna.lineage.schema import (
    LAYOUT_VERSION,
    column_edges,
    datasets,
    edges,
    first_seen,
    layout,
    metadata,
    run_io,
    runs,
    standing,
    versions,
)
from lacuna.model import Classification
from lacuna.redact import redact_url
from lacuna.signing import Keyed, Keyring
from lacuna.state.locks import serialize
from lacuna.state.schema import upgrade as upgrade_state

log = logging.getLogger(__name__)

PERSONAL_TAGS = ("PII", "GDPR", "PHI", "HIPAA", "CCPA")  # ClassificationConfig's default


_GENERATIONS = itertools.count(1)
_DISMISSALS = [0]  # dismissals made in this process: caches of what the store knows renew


def dismissals() -> int:
    """How many claims this process dismissed (a key for caches of stored classes)."""
    return _DISMISSALS[0]


# The write path's statements, built once: an export records a run with about ten statements,
# and building each one anew (``.values(...)``, its cache key) cost more than executing it.
_MAX_SEQ = select(func.coalesce(func.max(runs.c.seq), 0))
_INSERT_RUN = insert(runs)
_INSERT_RUN_IO = insert(run_io)
_INSERT_VERSION = insert(versions)
_MAX_VERSION_ID = select(func.coalesce(func.max(versions.c.id), 0))
# A run's datasets and its inputs' latest versions are looked up by IN lists of at most
# _CHUNK values (one statement each), and its rows inserted in pages of at most _CHUNK rows:
# well within SQLite's oldest limit of 999 bound parameters per IN list, PostgreSQL's 65,535.
_CHUNK = 500
_NAMESPACES = 50  # namespaces ORed in one lookup (SQLite's expression depth is 1,000)
def _newest_of_fingerprints() -> Any:
    """The newest standing version row of each fingerprint in the expanding parameter
    ``fingerprints``: for each one, the versions of that content newest first, from the
    fingerprint index, up to the first standing one (as :meth:`LineageStore.by_fingerprint`
    reads one). A ``max(id)`` grouped by fingerprint read every version row of each content:
    one shared by 200,000 versions (an empty file's, or claims made to slow the guard down)
    cost 140 ms a run instead of about 1 ms."""
    wanted = (select(versions.c.fingerprint.label("fp"))
              .where(versions.c.fingerprint.in_(bindparam("fingerprints", expanding=True)))
              .distinct().subquery("wanted"))
    newest = versions.alias("newest")
    first = (select(newest.c.id).where(newest.c.fingerprint == wanted.c.fp, standing(newest))
             .order_by(newest.c.id.desc()).limit(1).scalar_subquery())
    return queries.version_select().where(versions.c.id.in_(select(first).select_from(wanted)))


_NEWEST_OF_FINGERPRINTS = _newest_of_fingerprints()


def _chunks(items: Sequence[Any]) -> Iterator[Sequence[Any]]:
    size = _CHUNK  # read at each call: tests make it small
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _lookup_datasets(conn: Connection, refs: Sequence[DatasetRef]) -> dict[DatasetRef, int]:
    """The stored ids of those of ``refs`` that have one: a query per :data:`_CHUNK` names (or
    :data:`_NAMESPACES` namespaces), each ``namespace = ? AND name IN (...)`` ORed by namespace,
    which SQLite and PostgreSQL answer from the unique index on (namespace, name) (a row-value
    ``(namespace, name) IN (...)`` scans the whole table on SQLite; one query per namespace
    made a run of inputs in 1,000 buckets 1,000 queries again)."""
    by_namespace: dict[str, list[str]] = {}
    for ref in refs:
        by_namespace.setdefault(ref.namespace, []).append(ref.name)
    found: dict[DatasetRef, int] = {}
    groups: list[tuple[str, Sequence[str]]] = []
    size = 0

    def flush() -> None:
        nonlocal size
        if groups:
            stmt = select(datasets.c.id, datasets.c.namespace, datasets.c.name).where(or_(*(
                and_(datasets.c.namespace == namespace, datasets.c.name.in_(list(names)))
                for namespace, names in groups)))
            for row in conn.execute(stmt):
                found[DatasetRef(row.namespace, row.name)] = int(row.id)
        groups.clear()
        size = 0

    for namespace, names in by_namespace.items():
        for chunk in _chunks(names):
            if size + len(chunk) > _CHUNK or len(groups) >= _NAMESPACES:
                flush()
            groups.append((namespace, chunk))
            size += len(chunk)
    flush()
    return found


_DATASET_ID = select(datasets.c.id).where(datasets.c.namespace == bindparam("namespace"),
                                          datasets.c.name == bindparam("name"))


def _id_of(conn: Connection, dataset: DatasetRef) -> list[int]:
    """The stored id of ``dataset`` (none when it is unknown), by a statement built once."""
    return [int(i) for i in conn.execute(
        _DATASET_ID, {"namespace": dataset.namespace, "name": dataset.name}).scalars()]


class _Planned:
    """A version row a run is about to insert, read as a stored one is (an input the run reads
    twice is compared with it); its ``id`` is negative until the row is inserted."""

    __slots__ = ("classification", "columns", "fingerprint", "id", "produced", "run_id",
                 "trusted")

    def __init__(self, vid: int, row: dict[str, Any]) -> None:
        self.id = vid
        self.fingerprint = row["fingerprint"]
        self.classification = row["classification"]
        self.columns = row["columns"]
        self.trusted = row["trusted"]
        self.run_id = row["run_id"]
        self.produced = row["produced"]


# FOR UPDATE on PostgreSQL (SQLite's write lock is the whole database): a dismissal and a
# record of the same run id, or two dismissals, take their turns on the run's row.
_RUN_EXISTS = select(runs.c.id).where(runs.c.id == bindparam("run_id")).with_for_update()
_RUN_DISMISSED = (select(versions.c.id)
                  .where(versions.c.run_id == bindparam("run_id"), versions.c.dismissed.is_(True))
                  .limit(1))
_RUN_TRUSTED = (select(versions.c.id)
                .where(versions.c.run_id == bindparam("run_id"), versions.c.trusted.is_(True))
                .limit(1))


def _latest_of(trusted: bool | None) -> Any:
    """The newest produced version of one dataset (``namespace``, ``name`` bound at execution),
    as trusted as asked: built once, as reads that run per decision (lineage.claims) want."""
    stmt = queries.version_select().where(
        datasets.c.namespace == bindparam("namespace"), datasets.c.name == bindparam("name"),
        standing())
    if trusted is not None:
        stmt = stmt.where(versions.c.trusted.is_(trusted))
    return stmt.order_by(versions.c.id.desc()).limit(1)


_LATEST_OF = {trusted: _latest_of(trusted) for trusted in (None, True, False)}
# How many of the newest trusted candidates a read looks at for one that verifies: rows
# written by hand (or before signing) are skipped, and past these the answer is "unknown".
_VERIFY_WINDOW = 64
# How many standing claims of one content or dataset a read names in its attribution; past
# these it names none it could be lowered by (lacuna.lineage.attribution: fail closed).
CLAIMS_NAMED = 64


def version_payload(dataset: DatasetRef | _Named, run_id: str, fingerprint: str | None,
                    classification: Any, columns: Any, produced: bool) -> dict[str, Any]:
    """What a trusted version's signature covers: everything a read believes of it (the
    dataset it belongs to, its content fingerprint, its classification and columns), so a row
    edited, flipped to trusted, or moved to another dataset or content does not verify."""
    return {"what": "lineage-version", "dataset": [dataset.namespace, dataset.name],
            "run_id": run_id, "fingerprint": fingerprint, "classification": classification,
            "columns": columns, "produced": bool(produced)}


_LATEST_TRUSTED = _LATEST_OF[True].limit(_VERIFY_WINDOW)
_LATEST_ANY = _LATEST_OF[None].limit(_VERIFY_WINDOW)
# When a dataset's (or content's) newest window of trusted rows holds none that verifies, a read
# reads on, a window at a time, older by id, for Lacuna's own (:meth:`LineageStore._read_on`):
# rows marked trusted by hand (unsigned, the highest ids) crowded them out, and the read then
# knew nothing of the dataset (``latest(trusted=True)`` None) or took the newest forged row.
# Past this many rows it refuses: Lacuna's own version cannot be told (fail closed).
_READ_FURTHER = 4096
_TRUSTED_BELOW = (queries.version_select().where(
    versions.c.dataset_id == bindparam("dataset_id"), versions.c.id < bindparam("below"),
    versions.c.trusted.is_(True), standing()).order_by(versions.c.id.desc())
    .limit(_VERIFY_WINDOW))
_CONTENT_BELOW = (queries.version_select().where(
    versions.c.fingerprint == bindparam("fingerprint"), versions.c.id < bindparam("below"),
    versions.c.trusted.is_(True), standing()).order_by(versions.c.id.desc())
    .limit(_VERIFY_WINDOW))
_CONTENT_CHUNK = 50  # fingerprints whose trusted windows one statement reads (a UNION ALL)


@functools.lru_cache(maxsize=_CONTENT_CHUNK)
def _trusted_of_fingerprints(count: int) -> Any:
    """The newest :data:`_VERIFY_WINDOW` trusted standing versions (by id) of each of
    ``count`` fingerprints (bound as ``fp0`` ...): one limited index read each, joined by
    UNION ALL, so content shared by many versions (an empty file's) costs a window, not a scan
    of all of them (as :data:`_NEWEST_OF_FINGERPRINTS` reads each one's newest row)."""
    parts = [select(versions.c.id).where(
        versions.c.fingerprint == bindparam(f"fp{i}"), versions.c.trusted.is_(True),
        standing()).order_by(versions.c.id.desc()).limit(_VERIFY_WINDOW).subquery(f"w{i}")
        for i in range(count)]
    ids = union_all(*(select(part.c.id) for part in parts))
    return queries.version_select().where(versions.c.id.in_(ids))


def _windows_of_datasets(trusted: bool) -> Any:
    """The newest :data:`_VERIFY_WINDOW` standing version rows (by id) of each dataset id in
    the expanding parameter ``dataset_ids``, of each trust (``trusted``: of its trusted ones
    only): what
    :meth:`LineageStore.latest` reads for one dataset (``_LATEST_TRUSTED``),
    for many in one statement (a window function, which SQLite and PostgreSQL both have), so
    every read of a dataset's latest (:meth:`LineageStore._latest_rows`) picks it by the order
    its versions signed, as ``latest`` does, not by the highest id."""
    where = [versions.c.dataset_id.in_(bindparam("dataset_ids", expanding=True)), standing()]
    if trusted:
        where.append(versions.c.trusted.is_(True))
    # of any trust: the newest of each trust, so rows written by hand (untrusted, the highest
    # ids) cannot push Lacuna's own versions out of what a read compares them with
    by = [versions.c.dataset_id] if trusted else [versions.c.dataset_id, versions.c.trusted]
    ranked = (select(versions.c.id.label("vid"), func.row_number().over(
        partition_by=by, order_by=versions.c.id.desc()).label("rn"))
        .where(*where).subquery("ranked"))
    return queries.version_select().where(versions.c.id.in_(
        select(ranked.c.vid).where(ranked.c.rn <= _VERIFY_WINDOW)))


_WINDOWS_OF_DATASETS = {trusted: _windows_of_datasets(trusted) for trusted in (False, True)}


# ``"signature": `` as json.dumps writes a version's own signature key (inside a JSON string a
# quote is escaped, so a text cannot match)
_SIGNATURE_PEEK = '"signature": '
_SIGNED = f"%{_SIGNATURE_PEEK}%"


def _hidden_of(key: str, param: str) -> Any:
    """The newest :data:`_READ_FURTHER` + 1 trusted version rows that do not stand (dismissed,
    or not produced) of each value of ``key`` (``dataset_id`` or ``fingerprint``) in the
    expanding parameter ``param``: what :meth:`LineageStore._no_hidden` checks. Lacuna never
    dismisses its own versions, nor marks one it produced as not produced (a denied or failed
    run's outputs and a read saying less are signed as not produced), so one of these that
    verifies as standing was marked by hand: its dataset read as unknown."""
    column = versions.c[key]
    ranked = (select(versions.c.id.label("vid"), func.row_number().over(
        partition_by=column, order_by=versions.c.id.desc()).label("rn"))
        .where(column.in_(bindparam(param, expanding=True)),
               or_(versions.c.trusted.is_(True), versions.c.classification.like(_SIGNED)),
               or_(versions.c.produced.is_(False), versions.c.dismissed.is_(True)))
        .subquery("ranked"))
    return queries.version_select().where(versions.c.id.in_(
        select(ranked.c.vid).where(ranked.c.rn <= _READ_FURTHER + 1)))


_HIDDEN_OF = {key: _hidden_of(key, "keys") for key in ("dataset_id", "fingerprint")}
# the reads of many datasets' latest (``known``, the record path) and of many contents read
# these rows in the statements they make anyway (UNION ALL): as many statements as before
_WINDOWS_AND_HIDDEN = queries.version_select().where(versions.c.id.in_(union_all(
    select(_WINDOWS_OF_DATASETS[False].subquery().c.id),
    select(_hidden_of("dataset_id", "dataset_ids").subquery().c.id))))
_NEWEST_AND_HIDDEN = queries.version_select().where(versions.c.id.in_(union_all(
    select(_NEWEST_OF_FINGERPRINTS.subquery().c.id),
    select(_hidden_of("fingerprint", "fingerprints").subquery().c.id))))


def _hides(row: Any) -> bool:
    """Whether ``row`` is a trusted (or signed) version that does not stand (see
    :func:`_hidden_of`)."""
    return _signed(row) and (not row.produced or bool(row.dismissed))


def _signed(row: Any) -> bool:
    """Whether ``row`` is marked trusted or carries a signature (a version of Lacuna's own
    with ``trusted`` cleared by hand still does; an ingested one never has one)."""
    return bool(row.trusted) or _SIGNATURE_PEEK in str(row.classification)
_SET_CLASSIFICATION = (update(versions).where(versions.c.id == bindparam("vid"))
                       .values(classification=bindparam("body")))
# Which side of its run a trusted version was on, "in" (read) or "out" (written), kept in its
# classification JSON and so covered by its signature: ``lacuna_lineage_run_io.direction`` is
# a plain column anyone with the database can flip, and :meth:`LineageStore.latest_written`
# takes a written version as the whole dataset (a read may be some of its columns).
IO_KEY = "io"
# When a trusted version was recorded, kept in its classification JSON and so covered by its
# signature: ``[the run's seq, the version's created time]``. A version row's ``id`` is the
# order reads take ("latest"), and a plain column: a user who edits the state database could
# give an older, lower version the highest id, and it read as the dataset's state, its
# signature holding. Reads among trusted versions go by this signed order
# (:meth:`LineageStore._first_verified`); a version signed before it was (no key) is older
# than every version that has one.
ORDER_KEY = "order"
# That a later trusted version of the dataset was recorded, kept in a trusted version's
# classification JSON (``[the later one's run seq, its created time]``) and so covered by its
# signature: set on the dataset's newest trusted version, re-signed, when a run records the
# next one (:meth:`LineageStore._supersede`). A version row deleted by hand made the one before
# it the latest, its signature holding; now a read that lands on a version saying it was
# superseded, with nothing later standing, refuses (:meth:`LineageStore._not_superseded`).
NEXT_KEY = "next"
_NEXT_PEEK = f'"{NEXT_KEY}": ['
_SIGNED_WRITE = f'%"{IO_KEY}": "out"%'  # how json.dumps(sort_keys=True) writes it
# Every own run's producer (:attr:`Run.producer`'s default): an unsigned run row naming another
# was ingested from OpenLineage events (their producer, or their lacuna_run facet's claim).
_OWN_PRODUCER = "lacuna"
# What a writer of lineage takes its turn on (PostgreSQL: an advisory lock, held to commit;
# SQLite's write transaction excludes every other already): two runs writing one dataset at
# once both read its newest version, both marked it superseded, and the first of their two
# new versions was left unmarked (deleting the second then went unnoticed); and both read the
# same largest ``seq``, so the order they signed could not tell them apart.
WRITE_TURN = "lineage-write"


# The run row's columns its signature covers: all of them but its recording order (``seq``)
# and ``provenance``, which holds the signature and is covered apart (:func:`run_payload`).
_RUN_SIGNED = ("id", "operation", "status", "user_id", "role", "session", "started_at",
               "ended_at", "purpose", "exception_id", "method", "code_location", "code_hash",
               "code_text", "decision_id", "policy_id", "error", "producer")
# Keys of the provenance JSON added after the run was recorded (a steward's dismissal, which
# is signed on its own) or holding the signature itself: not covered by the run's signature.
_RUN_UNSIGNED = frozenset({"signature", attribution.DISMISSAL_KEY,
                           attribution.DISMISSAL_STORE_KEY})


def run_payload(row: Any, provenance: dict[str, Any]) -> dict[str, Any]:
    """What a run row's signature (``signature`` in its ``provenance`` JSON) covers: every
    column of the row (who, when, what, how; :data:`_RUN_SIGNED`), and its provenance JSON
    (libraries, quality checks, imported facets, and how it reached the store:
    ``imported_from``, ``user_vouched``) as text. So an ingested run edited into one of
    Lacuna's own (its ``imported_from`` removed), its sender's claims made vouched, or any of
    its facets, times, user or status edited no longer verifies: its origin is shown as
    unknown. ``row``: the row's values by column name (a mapping, or a stored row)."""
    values = row if isinstance(row, dict) else row._mapping
    return {"what": "lineage-run", "row": {k: values[k] for k in _RUN_SIGNED},
            "provenance": json.dumps({k: v for k, v in provenance.items()
                                      if k not in _RUN_UNSIGNED}, sort_keys=True)}


def edges_payload(run_id: str, target: DatasetRef | _Named, edges: Sequence[Sequence[str]]
                  ) -> dict[str, Any]:
    """What the signature of a trusted run's column edges into ``target`` covers (kept beside
    the version's own, ``edges_signature``): each edge as ``[source namespace, source name,
    source column, target column, kind, description]``, in any order."""
    return {"what": "lineage-column-edges", "run_id": run_id,
            "target": [target.namespace, target.name],
            "edges": sorted([str(x) for x in e] for e in edges)}


class _Named:
    """A dataset's name as a signature spelled it (not canonicalised: see :func:`_spellings`)."""

    __slots__ = ("name", "namespace")

    def __init__(self, namespace: str, name: str) -> None:
        self.namespace, self.name = namespace, name


def _spellings(dataset: DatasetRef) -> Iterator[DatasetRef | _Named]:
    """``dataset``, then its name as a signature made before names were canonical spelled it
    (``s3a://lake`` for ``s3://lake``): a :class:`DatasetRef` would canonicalise it again."""
    yield dataset
    for namespace in legacy_namespaces(dataset.namespace):
        yield _Named(namespace, dataset.name)


# ``"order": [seq, ...`` and ``"io": "out"`` as json.dumps(sort_keys=True) writes them: read
# without parsing the whole classification (a window of 64 rows of 30 columns each cost 7 ms
# to parse per read). Inside a JSON string a quote is escaped, so a text cannot match.
_ORDER_PEEK = re.compile(r'"order": \[(\d+), ')
_OUT_PEEK = f'"{IO_KEY}": "out"'
# ``"order": [seq, "created"]`` and ``"next": [seq, "created"]`` whole: which version a mark
# names (its successor's order), read only from rows that verify
_ORDER_WHOLE = re.compile(r'"order": \[(\d+), "([^"\\]*)"\]')
_NEXT_WHOLE = re.compile(r'"next": \[(\d+), "([^"\\]*)"\]')


def _newest_first(*groups: Sequence[Any]) -> list[Any]:
    """The version rows of ``groups``, each once, newest first by id."""
    by_id = {int(r.id): r for group in groups for r in group}
    return [by_id[vid] for vid in sorted(by_id, reverse=True)]


def _peek(pattern: re.Pattern[str], row: Any) -> tuple[int, str] | None:
    text = row.classification if isinstance(row.classification, str) else ""
    found = pattern.search(text)
    return (int(found.group(1)), found.group(2)) if found is not None else None


def _names(row: Any, successor: tuple[int, str]) -> bool:
    """Whether a superseded mark's ``successor`` (``[seq, created]``) is ``row``: its signed
    order, or, for a row signed before the order was (marked on upgrade by its run's seq),
    its created time."""
    order = _peek(_ORDER_WHOLE, row)
    return order == successor if order is not None else row.created == successor[1]


def _signed_order(row: Any) -> tuple[int, int, int]:
    """Where a trusted version row stands among its dataset's, by what it says it is (read
    before its signature is checked; only a row that verifies is taken): its run's ``seq``,
    written after read within that run, then its id; a version without a signed order
    (recorded before :data:`ORDER_KEY`, or unreadable) before every one with one, by id."""
    text = row.classification if isinstance(row.classification, str) else ""
    found = _ORDER_PEEK.search(text)
    if found is None:
        return -1, 0, int(row.id)
    return int(found.group(1)), 1 if _OUT_PEEK in text else 0, int(row.id)


def _edge_tuple(e: ColumnEdge) -> tuple[str, ...]:
    return (e.source.namespace, e.source.name, e.source_column, e.target_column, e.kind.value,
            e.description)


def _body(version: DatasetVersion, *, trusted: bool) -> dict[str, Any]:
    """A version's classification JSON as stored (without signatures): with its attribution
    (:mod:`lacuna.lineage.attribution`) when it is trusted and a claim raised it, so the
    signature covers which claims raised it and what Lacuna derived itself."""
    body = version.classification.to_dict()
    if trusted and version.raised is not None:
        body[attribution.KEY] = version.raised.to_dict()
    return body


def _lowers(read: Classification, stored: str) -> bool:
    """Whether ``read`` says less than the stored classification JSON ``stored``: a lower tier
    or floor, or one of its tags missing. False when ``stored`` cannot be read, or claims
    raised it (its attribution: a steward's dismissal of them may since have lowered it, and
    a lower read then is that dismissal's outcome)."""
    try:
        data = _unsigned(stored)
        if not isinstance(data, dict) or attribution.KEY in data:
            return False
        known = Classification.from_dict(data)
    except Exception:  # an unreadable row: recorded anew, as before
        return False
    return (read.tier < known.tier or read.floor < known.floor
            or any(tag not in read.tags for tag in known.tags))


def _unsigned(text: str) -> Any:
    """A stored classification column's JSON without its signatures and the direction they
    cover (when it is an object): the classification as a run recorded it."""
    data = json.loads(text)
    if isinstance(data, dict):
        data.pop("signature", None)
        data.pop("edges_signature", None)
        data.pop(IO_KEY, None)
        data.pop(ORDER_KEY, None)
        data.pop(NEXT_KEY, None)
    return data

class LineageStore(Keyed):
    """The lineage store at one SQLAlchemy URL (``sqlite:///...`` or ``postgresql+psycopg://...``).

    Trusted versions (computed by Lacuna's pipeline) are signed with ``keyring`` (by default
    the installation's signing key, :mod:`lacuna.signing`) inside their ``classification``
    column, and checked whenever a read believes one (``trusted=True``): the state file
    belongs to the analyst it governs, and ``trusted`` is a plain boolean anyone can flip. A
    row marked trusted that does not verify (written or edited by hand, moved, or recorded
    before versions were signed) is not believed: the data is classified from its content.

    Raises:
        LineageError: the URL is malformed, its driver is missing, the file is not SQLite, or the
            store was written by a newer Lacuna.
    """

    def __init__(self, url: str, *, keyring: Keyring | None = None) -> None:
        self._keyring = keyring
        self._distrusted: set[int] = set()  # trusted rows that did not verify, logged once
        self._id: str | None = None  # the store's id: its state database's (database_id)
        self._legacy: set[str] = set()  # runs whose version-1 dismissal the trail records
        self._said: set[str] = set()  # runs whose dismissal was refused, logged once
        self._forged: set[str] = set()  # runs whose row's signature does not hold, logged once
        self._undirected: set[int] = set()  # versions listed as written, not signed so: logged
        self._lowered: set[int] = set()  # claims newer than, and lower than, Lacuna's own: logged
        # Renewed (process-wide unique) on every write through this object: memos of what the
        # store holds (file lookups by content, recording.restore_declared) hold for one.
        self.generation = next(_GENERATIONS)
        try:
            self.url = parse_url(url)
            self.file = sqlite_file(self.url)
            if self.file is not None:
                check_sqlite_file(self.file, create=True)
            self._engine = build_engine(self.url)
        except AuditError as exc:
            msg = f"lineage store: {exc}"
            raise LineageError(msg) from None
        self.where = str(self.file) if self.file else redact_url(self.url)
        self._sqlite = self.url.get_backend_name() == "sqlite"
        self._lock = threading.Lock()
        try:
            self._init_schema()
        except SQLAlchemyError as exc:
            self._engine.dispose()
            raise LineageError(self._explain(exc, "open")) from exc
        except LineageError:
            self._engine.dispose()
            raise

    # -- transactions and layout -------------------------------------------------------------

    @contextmanager
    def _transaction(self, *, write: bool) -> Iterator[Connection]:
        with self._engine.connect() as conn:
            if self._sqlite:
                conn.execution_options(sqlite_begin="IMMEDIATE" if write else "DEFERRED")
            elif not write:
                conn.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin():
                yield conn

    def _init_schema(self) -> None:
        try:
            upgrade_state(self._engine, where=self.where)  # tables, migrations (lacuna.state)
        except AuditError as exc:
            msg = f"lineage store: {exc}"
            raise LineageError(msg) from None
        found = self._layout()
        self._canonical_names()
        if found < LAYOUT_VERSION:
            self._mark_chains()

    def _canonical_names(self) -> None:
        """Datasets stored under another spelling of their store's name (``s3a://lake``,
        recorded before :class:`DatasetRef` made names canonical) are renamed to it, or, when
        the canonical dataset exists too, merged into it: their versions, edges and clock
        become its (the order of versions is their ids', shared by both). A version's
        signature names the dataset as it was signed, so :meth:`_verifies` also takes the
        old spelling. One indexed range read per alias when there is nothing to do."""
        with self._transaction(write=False) as conn:
            old = [row for alias in SCHEME_ALIASES for row in conn.execute(
                select(datasets.c.id, datasets.c.namespace, datasets.c.name).where(
                    datasets.c.namespace >= f"{alias}://",
                    datasets.c.namespace < f"{alias}:/0"))  # '0' follows '/'
                # a collation that orders by letters only (PostgreSQL's en_US) may match more
                if canonical_namespace(row.namespace) != row.namespace]
            clocks = [(row.namespace, row.name) for alias in SCHEME_ALIASES
                      for row in conn.execute(
                          select(first_seen.c.namespace, first_seen.c.name).where(
                              first_seen.c.namespace >= f"{alias}://",
                              first_seen.c.namespace < f"{alias}:/0"))
                      if canonical_namespace(row.namespace) != row.namespace]
        if not old and not clocks:
            return
        with self._lock, self._transaction(write=True) as conn:
            for namespace, name in clocks:  # a file's clock, with or without its dataset
                self._move_clock(conn, namespace, name)
            for alias_id, namespace, name in old:
                canon = canonical_namespace(namespace)
                still = conn.execute(select(datasets.c.id).where(
                    datasets.c.id == alias_id, datasets.c.namespace == namespace)).first()
                if still is None:  # another process renamed it first (read before our turn)
                    continue
                found = conn.execute(select(datasets.c.id).where(
                    datasets.c.namespace == canon, datasets.c.name == name)).first()
                if found is None:
                    conn.execute(update(datasets).where(datasets.c.id == alias_id)
                                 .values(namespace=canon))
                    continue
                into = int(found[0])
                if into == alias_id:  # pragma: no cover - the row was checked above
                    continue
                conn.execute(update(versions).where(versions.c.dataset_id == alias_id)
                             .values(dataset_id=into))
                for column in (column_edges.c.source_id, column_edges.c.target_id):
                    conn.execute(update(column_edges).where(column == alias_id)
                                 .values({column.name: into}))
                moved = [dict(r._mapping) for r in conn.execute(select(edges).where(or_(
                    edges.c.parent_id == alias_id, edges.c.child_id == alias_id)))]
                conn.execute(delete(edges).where(or_(edges.c.parent_id == alias_id,
                                                     edges.c.child_id == alias_id)))
                rows = [{**r, "parent_id": into if r["parent_id"] == alias_id else r["parent_id"],
                         "child_id": into if r["child_id"] == alias_id else r["child_id"]}
                        for r in moved]
                rows = [r for r in rows if r["parent_id"] != r["child_id"]]
                if rows:
                    conn.execute(queries.insert_ignore(conn, edges), rows)
                conn.execute(delete(datasets).where(datasets.c.id == alias_id))
        log.info("lineage store %s: %d dataset(s) named by another spelling of their store "
                 "(s3a://, s3n://, gcs://) renamed to its canonical name", self.where,
                 len(old) + len(clocks))

    @staticmethod
    def _move_clock(conn: Connection, namespace: str, name: str) -> None:
        """The retention clock kept under another spelling of a store's name, moved to the
        canonical one (the earlier of both when both exist: a clock only moves earlier)."""
        canon = canonical_namespace(namespace)
        seen = conn.execute(select(first_seen.c.first_seen).where(
            first_seen.c.namespace == namespace, first_seen.c.name == name)).first()
        if seen is None:  # another process moved it first
            return
        conn.execute(delete(first_seen).where(first_seen.c.namespace == namespace,
                                              first_seen.c.name == name))
        mine = conn.execute(select(first_seen.c.first_seen).where(
            first_seen.c.namespace == canon, first_seen.c.name == name)).first()
        if mine is None:
            conn.execute(insert(first_seen).values(namespace=canon, name=name,
                                                   first_seen=seen[0]))
        elif seen[0] < mine[0]:
            conn.execute(update(first_seen).where(
                first_seen.c.namespace == canon, first_seen.c.name == name)
                .values(first_seen=seen[0]))

    def _layout(self) -> int:
        """The store's layout version (a new store's is this Lacuna's, :data:`LAYOUT_VERSION`);
        a newer one is refused."""
        with self._transaction(write=False) as conn:
            if inspect(conn).has_table(layout.name):
                row = conn.execute(select(layout.c.version).where(layout.c.id == 1)).first()
                if row is not None:
                    self._check_version(row.version)
                    return int(row.version)
        for attempt in (1, 2, 3):  # PostgreSQL processes may race to create the tables
            try:
                with self._transaction(write=True) as conn:
                    metadata.create_all(conn, checkfirst=True)
                    row = conn.execute(select(layout.c.version).where(layout.c.id == 1)).first()
                    if row is None:  # a new store; or its row was deleted by hand (then its
                        # versions are marked as a layout 1 store's: that row is not signed)
                        found = (1 if conn.execute(select(versions.c.id).where(
                            versions.c.trusted.is_(True)).limit(1)).first() is not None
                            else LAYOUT_VERSION)
                        conn.execute(insert(layout).values(id=1, version=found))
                        return found
                    self._check_version(row.version)
                    return int(row.version)
            except (IntegrityError, ProgrammingError, OperationalError):
                if attempt == 3 or self._sqlite:
                    raise
        raise AssertionError  # pragma: no cover - the loop returns or raises

    def _mark_chains(self) -> None:
        """Layout 1 to 2: mark the versions recorded before :data:`NEXT_KEY` existed. Each
        dataset's trusted standing versions that verify, in the order they signed
        (:func:`_signed_order`), each but the newest marked superseded by the one after it
        (re-signed; a row already marked keeps its mark, one that does not verify is left as
        it is). Before, such a version was marked only when its dataset was written again, so
        deleting the newest of them by hand made the one before it the latest unnoticed.
        Nothing is deleted or lowered: a mark only makes a read refuse once its successor is
        gone. Once per store, under the write lock (the layout row says it is done; a
        Lacuna older than layout 2 refuses the store rather than write unmarked versions)."""
        done = 0
        with self._lock, self._transaction(write=True) as conn:
            serialize(conn, WRITE_TURN)
            row = conn.execute(select(layout.c.version).where(layout.c.id == 1)
                               .with_for_update()).first()
            if row is None or row.version >= LAYOUT_VERSION:
                return  # another process upgraded it first
            trusted = and_(versions.c.trusted.is_(True), standing())
            ids = [int(r[0]) for r in conn.execute(
                select(versions.c.dataset_id).where(trusted).distinct())]
            for chunk in _chunks(ids):
                chains: dict[int, list[Any]] = {}
                for r in conn.execute(
                        queries.version_select().add_columns(runs.c.seq.label("run_seq"))
                        .outerjoin(runs, runs.c.id == versions.c.run_id)
                        .where(versions.c.dataset_id.in_(list(chunk)), trusted)):
                    if self._verifies(r, DatasetRef(r.namespace, r.name)):
                        chains.setdefault(int(r.dataset_id), []).append(r)
                updates = []
                for chain in chains.values():
                    chain.sort(key=_signed_order)
                    for older, newer in itertools.pairwise(chain):
                        if _NEXT_PEEK in older.classification:
                            continue
                        order = _peek(_ORDER_WHOLE, newer)
                        later = list(order) if order else [int(newer.run_seq or 0), newer.created]
                        updates.append({"vid": older.id, "body": self._resigned(
                            older, DatasetRef(older.namespace, older.name), later)})
                if updates:
                    conn.execute(_SET_CLASSIFICATION, updates)
                    done += len(updates)
            conn.execute(update(layout).where(layout.c.id == 1)
                         .values(version=LAYOUT_VERSION))
        log.info("lineage store %s upgraded to layout %d: %d version(s) recorded before "
                 "versions were marked superseded are marked now", self.where, LAYOUT_VERSION,
                 done)

    def _check_version(self, version: int) -> None:
        if version > LAYOUT_VERSION:
            msg = (f"the lineage store in {self.where} was written by a newer Lacuna (layout "
                   f"{version}, this one reads {LAYOUT_VERSION}). Upgrade Lacuna.")
            raise LineageError(msg)

    def _explain(self, exc: SQLAlchemyError, doing: str) -> str:
        detail = str(getattr(exc, "orig", None) or exc).splitlines()[0]
        if "locked" in detail or "busy" in detail:
            return (f"cannot {doing} the lineage store in {self.where}: another process held "
                    f"its lock for too long ({detail}). Retry; if it persists, look for a stuck "
                    "process.")
        if "not a database" in detail or "malformed" in detail:
            return (f"{self.where} is not an SQLite database, or is damaged ({detail}), so Lacuna "
                    "will not use or overwrite it for lineage. Move it aside, or set audit.url "
                    "in lacuna.yaml to another file.")
        return f"cannot {doing} the lineage store in {self.where}: {detail}."

    # -- write -------------------------------------------------------------------------------

    def record(self, run: Run, *, trusted: bool = True, owner: str | None = None,
               pending: tuple[str, int | None] | None = None) -> None:
        """Store one run: its provenance, the versions it read and wrote, its edges.

        A run that did not succeed (denied, failed) is kept with its intended outputs, but those
        are not versions of the datasets and add no edges: the data was never produced.
        Recording a run id again replaces the earlier record (an OpenLineage START, then its
        COMPLETE), never so that a dataset its earlier record made what it is says less
        (:meth:`_keeps_class`).

        ``trusted`` says that Lacuna's pipeline computed the run's classifications (a governed
        operation, ``register_lineage``). A run that arrived from outside is recorded with
        ``trusted=False`` through :func:`lacuna.lineage.claims.ingest`, which first refuses any
        lowering: its versions may raise what a read resolves, never lower it.

        With ``owner``, a run of the same id recorded by another user is not replaced; the
        check and the write are one transaction (two callers reusing one run id at once cannot
        both pass the check). A run a steward dismissed is never replaced: the dismissal, and
        what was claimed, stay on record (:meth:`dismiss`); nor is a run Lacuna's pipeline
        recorded replaced by an untrusted one (its user sending a claim under its id would
        delete what the pipeline computed).

        With ``pending`` (an OpenLineage destination and the file transport's size), the run is
        marked pending in the outbox in the same transaction (:mod:`lacuna.lineage.outbox`):
        its events are re-sent if this process dies before its sender gets to them.

        Raises:
            RunOwnedError: ``owner`` is given and another user recorded this run id; or the run
                is untrusted and Lacuna's pipeline recorded this run id.
            RunDismissedError: a steward dismissed the run recorded under this id.
            LineageError: the run is malformed, recording this run id again would lower a
                dataset, or the database could not be written.
        """
        _validate(run)
        self.generation = next(_GENERATIONS)  # what this process knows it holds changed
        try:
            with self._lock, self._transaction(write=True) as conn:
                serialize(conn, WRITE_TURN)  # one chain of marks, one seq per run (PostgreSQL)
                if owner is not None:
                    _owned_by(conn, run.id, owner)
                if _replaceable(conn, run.id, trusted=trusted):
                    self._forget(conn, run.id, run)
                self._insert_run(conn, run, trusted=trusted)
                if pending is not None:
                    outbox.mark(conn, run.id, *pending)
        except SQLAlchemyError as exc:
            raise LineageError(self._explain(exc, "write to")) from exc

    def _insert_run(self, conn: Connection, run: Run, *, trusted: bool) -> None:
        """Insert ``run`` with its versions, run_io rows and edges in a few statements however
        many inputs and outputs it has: the datasets are looked up (and the missing ones
        created) by IN lists, the inputs' latest versions in one query, and the versions,
        run_io rows and edges inserted in batches (one statement per :data:`_CHUNK` rows). One
        statement per input each (about six) made a run of 1,000 inputs 6,000 statements."""
        seq = conn.execute(_MAX_SEQ).scalar_one() + 1
        conn.execute(_INSERT_RUN, {"seq": seq, **_run_row(run, self.keyring)})
        produced = run.status is RunStatus.SUCCEEDED
        ids = self._dataset_ids(conn, [
            *(v.dataset for v in run.inputs), *(v.dataset for v in run.outputs),
            *(ref for e in run.column_edges for ref in (e.source, e.target))])
        # each input's latest, by the order its versions signed (not checked for a deleted
        # successor: a read is compared with it, and only a read saying less is held back)
        latest = self._latest_rows(conn, [ids[v.dataset] for v in run.inputs], check=False)
        planned: list[dict[str, Any]] = []  # version rows to insert, in this order
        ios: list[tuple[int, str, int]] = []  # (stored id, or -1 - index into planned, ...)
        parents: list[int] = []
        seen: set[int] = set()
        started = iso(run.started_at)
        for position, version in enumerate(run.inputs):
            did = ids[version.dataset]
            known = latest.get(did)
            vid = self._input_version(known, version, trusted=trusted)
            if vid is None:  # a new version; an input read again after it is the same one
                # a read that says less of content the store knows is kept with the run, never
                # as the dataset's state (see _reads_less)
                less = self._reads_less(known, version, trusted=trusted)
                planned.append(self._version_row(did, version, run.id, started,
                                                 produced=not less, trusted=trusted, io="in",
                                                 seq=seq))
                vid = -len(planned)
                if not less:
                    latest[did] = _Planned(vid, planned[-1])
            if vid not in seen:
                seen.add(vid)
                ios.append((vid, "in", position))
            parents.append(did)
        created = iso(run.ended_at or run.started_at)
        children: list[int] = []
        # grouped once: scanning every edge for each output held the write lock for minutes
        # on a run of 10,000 outputs and 100,000 edges (what an OpenLineage import allows)
        into: dict[DatasetRef, list[tuple[str, ...]]] = {}
        for e in run.column_edges:
            into.setdefault(e.target, []).append(_edge_tuple(e))
        for position, version in enumerate(run.outputs):
            did = ids[version.dataset]
            planned.append(self._version_row(did, version, run.id, created, produced=produced,
                                             trusted=trusted, io="out", seq=seq,
                                             edges=into.get(version.dataset, [])))
            ios.append((-len(planned), "out", position))
            children.append(did)
        if trusted:
            self._supersede(conn, [row for row in planned if row["produced"]], seq)
        stored = self._insert_versions(conn, planned)
        if ios:
            conn.execute(_INSERT_RUN_IO, [
                {"run_id": run.id, "version_id": stored[-vid - 1] if vid < 0 else vid,
                 "direction": direction, "position": position}
                for vid, direction, position in ios])
        if produced:
            pairs = {(p, c) for p in parents for c in children if p != c}
            if pairs:
                conn.execute(insert(edges), [
                    {"parent_id": p, "child_id": c, "run_id": run.id} for p, c in sorted(pairs)])
        rows = [{
            "run_id": run.id, "source_id": ids[e.source], "source_column": e.source_column,
            "target_id": ids[e.target], "target_column": e.target_column, "kind": e.kind.value,
            "description": e.description,
        } for e in run.column_edges]
        if rows:
            conn.execute(insert(column_edges), rows)

    def _supersede(self, conn: Connection, rows: Sequence[dict[str, Any]], seq: int) -> None:
        """Mark each dataset's newest trusted standing version that verifies (before ``rows``,
        the trusted standing versions a run is about to insert), newest by the order it signed
        (:meth:`_latest_rows`), as superseded by the first of ``rows`` of that dataset
        (:data:`NEXT_KEY`), re-signed: one read per :data:`_CHUNK` datasets and one batched
        update. A version whose signature does not hold is never marked (signing it would vouch
        for an edit made by hand), nor taken for the one to mark: a row written by hand with
        the highest id made the version before it stay unmarked."""
        first: dict[int, dict[str, Any]] = {}
        for row in rows:
            first.setdefault(int(row["dataset_id"]), row)
        if not first:
            return
        updates = [{"vid": old.id, "body": self._resigned(
            old, DatasetRef(old.namespace, old.name), [seq, first[did]["created"]])}
            for did, old in self._latest_rows(conn, list(first), trusted=True, check=False,
                                              hidden=False).items()]
        if updates:
            conn.execute(_SET_CLASSIFICATION, updates)

    def _resigned(self, old: Any, ref: DatasetRef, later: list[Any] | None) -> str:
        """The classification JSON of the verified version row ``old`` of ``ref`` marked
        superseded by ``later`` (None: not superseded), signed again."""
        data = json.loads(old.classification)
        data.pop("signature", None)
        edges_signature = data.pop("edges_signature", None)
        if later is None:
            data.pop(NEXT_KEY, None)
        else:
            data[NEXT_KEY] = later
        data["signature"] = self.keyring.sign(version_payload(
            ref, old.run_id, old.fingerprint, data, json.loads(old.columns), old.produced))
        if edges_signature is not None:
            data["edges_signature"] = edges_signature
        return json.dumps(data, sort_keys=True)

    def _unsupersede(self, conn: Connection, run_id: str) -> None:
        """Before run ``run_id`` is forgotten (recorded again): the versions its versions
        superseded are not superseded any more (re-signed), or a read would take the run's
        replacement, when it no longer writes them, for a deletion by hand (a replacement
        that lowers a dataset so is refused before: :meth:`_keeps_class`). When the run's
        version was itself superseded, the one before it is marked superseded by that later
        version instead: the chain of marks stays whole.

        A mark names its successor by ``[seq, created]``; the versions it unmarks are those
        marked by one of the run's own verified versions that the replacement deletes, in that
        version's dataset. Matched by ``seq`` alone, recording one run again unmarked another
        run's predecessors where two runs shared a ``seq`` (PostgreSQL stores written before
        writers took turns), so deleting that run's version went unnoticed. A scan of the
        run's versions and of its datasets' marked versions, on a replace only."""
        seq = conn.execute(select(runs.c.seq).where(runs.c.id == run_id)).scalar()
        if seq is None:
            return
        kept = select(run_io.c.version_id).where(run_io.c.run_id != run_id)  # read by others
        mine = [r for r in conn.execute(queries.version_select().where(
            versions.c.run_id == run_id, versions.c.trusted.is_(True),
            versions.c.produced.is_(True), versions.c.id.not_in(kept)))
            if self._verifies(r, DatasetRef(r.namespace, r.name))]
        orders: dict[int, set[tuple[int, str]]] = {}
        after: dict[tuple[int, tuple[int, str]], tuple[int, str] | None] = {}
        for r in mine:
            order = _peek(_ORDER_WHOLE, r) or (int(seq), str(r.created))
            orders.setdefault(int(r.dataset_id), set()).add(order)
            after[int(r.dataset_id), order] = _peek(_NEXT_WHOLE, r)
        marked: dict[int, Any] = {}
        for chunk in _chunks(list(orders)):
            seqs = sorted({o[0] for did in chunk for o in orders[did]})
            for old in conn.execute(queries.version_select().where(
                    versions.c.trusted.is_(True), versions.c.run_id != run_id,
                    versions.c.dataset_id.in_(list(chunk)), or_(*(
                        versions.c.classification.like(f'%"{NEXT_KEY}": [{n}, %')
                        for n in seqs)))):
                if (_peek(_NEXT_WHOLE, old) in orders[int(old.dataset_id)]
                        and self._verifies(old, DatasetRef(old.namespace, old.name))):
                    marked[int(old.dataset_id)] = old
        # a version the run's one superseded in its turn is what the one before now names
        # (the chain spliced): unmarked, deleting that later version went unnoticed
        updates = []
        for did, old in marked.items():
            later = after.get((did, _peek(_NEXT_WHOLE, old) or (0, "")))
            updates.append({"vid": old.id, "body": self._resigned(
                old, DatasetRef(old.namespace, old.name), list(later) if later else None)})
        if updates:
            conn.execute(_SET_CLASSIFICATION, updates)

    def _keeps_class(self, conn: Connection, run_id: str, replacement: Run) -> None:
        """That recording run ``run_id`` again as ``replacement`` lowers no dataset whose
        latest (as reads take it) is a version the earlier record produced, about to be
        deleted: the replacement writes it again (a write is Lacuna's own verdict, as a new
        run's; an ingested one is held to what the store knows), or it reads it as saying at
        least as much, or what stands without it (as reads would take it; nothing: PUBLIC)
        says at least as much.

        A run id is the caller's to choose in places (``lacuna dbt record`` takes it from
        ``run_results.json``'s invocation id and each node; a Python caller of
        :meth:`record`; an OpenLineage sender's runId): recorded again as failed, or without
        that output, it made the version before it (PUBLIC, before a PII write) the dataset's
        state, and an ingested claim's raise was taken back by its sender without a steward's
        dismissal. Lowering is not a side effect of recording again. A read of the run's
        versions and its datasets' windows, on a replace only.

        Raises:
            LineageError: the replacement would lower a dataset: nothing is recorded.
        """
        kept = select(run_io.c.version_id).where(run_io.c.run_id != run_id)  # read by others
        gone = {int(r.id): int(r.dataset_id) for r in conn.execute(
            select(versions.c.id, versions.c.dataset_id).where(
                versions.c.run_id == run_id, standing(), versions.c.id.not_in(kept)))}
        if not gone:
            return
        wrote = ({v.dataset for v in replacement.outputs}
                 if replacement.status is RunStatus.SUCCEEDED else set())
        for window in self._windows(conn, set(gone.values()), trusted=False).values():
            rows = self._read_on(conn, window)
            top = self._latest_row(rows)
            if top is None or int(top.id) not in gone:
                continue
            ref = DatasetRef(top.namespace, top.name)
            if ref in wrote or any(
                    v.dataset == ref and not _lowers(v.classification, top.classification)
                    for v in replacement.inputs):
                continue
            left = self._latest_row([r for r in rows if int(r.id) not in gone], marks=False)
            after = queries.to_version(left).classification if left is not None else None
            if not _lowers(after or Classification(), top.classification):
                continue
            now = queries.to_version(top).classification
            tags = "".join(f", {t}" for t in now.tags)
            how = ("" if replacement.status is RunStatus.SUCCEEDED
                   else f"as {replacement.status.value} ")
            then = (f"the version before it ({after.tier.value}) its state" if after is not None
                    else "the store forget what it is")
            msg = (f"lineage run {run_id} in {self.where} produced {ref} as it stands now "
                   f"({now.tier.value}{tags}); recording it again {how}without writing {ref} "
                   f"would make {then}: refused, the earlier record stands. Record the new run "
                   "under another run id (a dbt invocation is recorded once), or write the "
                   "dataset again through Lacuna.")
            raise LineageError(msg)

    def _not_superseded(self, row: Any) -> Any:
        """``row`` (the version a read takes as a dataset's latest), unless it says a later
        trusted version of the dataset was recorded (:data:`NEXT_KEY`) that the read did not
        find standing: that version was deleted (or edited) by hand, and this one would read as
        the dataset's state in its place.

        Raises:
            LineageError: ``row`` was superseded by a version that is gone (fail closed).
        """
        if row is None or not row.trusted or _NEXT_PEEK not in str(row.classification):
            return row
        msg = (f"lineage version {row.id} of {DatasetRef(row.namespace, row.name)} in "
               f"{self.where} was superseded by a later version Lacuna recorded, which is no "
               "longer in the store (deleted or edited by hand): the older, possibly lower, "
               "class is not taken as the dataset's state. Restore the state database from a "
               "backup, or write the dataset again through Lacuna.")
        raise LineageError(msg)

    def _no_hidden(self, conn: Connection, *, dataset_ids: Iterable[int] = (),
                   fingerprints: Iterable[str] = ()) -> None:
        """That no version Lacuna recorded as a dataset's state (of ``dataset_ids``, or of
        content ``fingerprints``) was marked by hand as not counting: ``dismissed`` (a steward
        dismisses ingested claims only, never Lacuna's own versions) or ``produced`` false (its
        signature says it was produced). Called where a read finds no version of Lacuna's own
        that verifies: such a mark made a dataset whose only versions were Lacuna's read as
        unknown, and a file written with a class its values do not show (``DERIVED_FROM_PII``,
        a declared class) was classified from its values alone when read back. A statement per
        :data:`_CHUNK` datasets and per :data:`_CHUNK` contents (none has such rows in the
        usual case); a signature checked per row found.

        Raises:
            LineageError: such a version (tampering: fail closed), or more than
                :data:`_READ_FURTHER` rows of one dataset or content to check.
        """
        groups: dict[tuple[str, Any], list[Any]] = {}
        for key, values in (("dataset_id", list(dict.fromkeys(dataset_ids))),
                            ("fingerprint", [f for f in dict.fromkeys(fingerprints) if f])):
            for chunk in _chunks(values):
                for row in conn.execute(_HIDDEN_OF[key], {"keys": list(chunk)}):
                    groups.setdefault((key, row._mapping[key]), []).append(row)
        self._check_hidden(groups.values())

    def _check_hidden(self, groups: Iterable[builtins.list[Any]]) -> None:
        """:meth:`_no_hidden` of rows already read: each group, the trusted rows that do not
        stand of one dataset or content (:func:`_hidden_of`)."""
        for rows in groups:
            rows.sort(key=lambda r: int(r.id), reverse=True)
            for row in rows[:_READ_FURTHER]:
                ref = DatasetRef(row.namespace, row.name)
                if not ((row.dismissed and self._verifies(row, ref)) or (
                        not row.produced and self._verifies(row, ref, produced=True))):
                    continue
                mark = "dismissed" if row.dismissed else "not produced"
                msg = (f"lineage version {row.id} of {ref} in {self.where} is a version "
                       f"Lacuna recorded as the dataset's state (its signature holds), marked "
                       f"{mark} by hand: a steward dismisses only ingested claims, and Lacuna "
                       "never marks what it produced so. The database was edited, and the "
                       "dataset would read as unknown (its class forgotten), so the read (and "
                       "a run reading it) is refused. Restore the state database from a "
                       "backup, or write the dataset again through Lacuna; `lacuna audit "
                       "verify` checks the audit trail beside it.")
                raise LineageError(msg)
            if len(rows) > _READ_FURTHER:
                row = rows[0]
                msg = (f"the lineage store in {self.where} holds more than {_READ_FURTHER} "
                       f"versions of {DatasetRef(row.namespace, row.name)} marked trusted "
                       "that do not count (dismissed, or not produced), and none standing: "
                       "whether one of Lacuna's was marked so by hand cannot be told, so the "
                       "read is refused. Restore the state database from a backup, or write "
                       "the dataset again through Lacuna.")
                raise LineageError(msg)

    def _dataset_ids(self, conn: Connection, refs: Sequence[DatasetRef]) -> dict[DatasetRef, int]:
        """The ids of ``refs``, the missing ones created: one lookup per namespace and
        :data:`_CHUNK` names, one batched insert, and one more lookup for what it created."""
        wanted = list(dict.fromkeys(refs))
        found = _lookup_datasets(conn, wanted)
        missing = [r for r in wanted if r not in found]
        if missing:
            conn.execute(queries.insert_ignore(conn, datasets),
                         [{"namespace": r.namespace, "name": r.name} for r in missing])
            found.update(_lookup_datasets(conn, missing))
        lost = [r for r in wanted if r not in found]
        if lost:  # inserted (or present, by the unique constraint) yet not found: fail closed
            msg = (f"the lineage store in {self.where} did not keep dataset {lost[0]} "
                   "(inserted, then not found): nothing was recorded. Retry; if it persists, "
                   "run lacuna audit verify.")
            raise LineageError(msg)
        return found

    def _input_version(self, latest: Any, version: DatasetVersion, *, trusted: bool
                       ) -> int | None:
        """The id of the stored version a run read: the dataset's ``latest`` when it is the same
        (and as trusted); None when a new one is to be inserted. ``latest`` may be a version
        this run inserts (:class:`_Planned`: a dataset read twice), with a negative id."""
        if latest is None:
            return None
        body = _body(version, trusted=trusted)
        columns = json.dumps(list(version.columns))
        if (latest.fingerprint, _unsigned(latest.classification), latest.columns,
                bool(latest.trusted)) == (version.fingerprint, body, columns, trusted) and (
                not trusted or self._verifies(latest, version.dataset)):
            return int(latest.id)
        return None

    def _reads_less(self, latest: Any, version: DatasetVersion, *, trusted: bool) -> bool:
        """Whether input ``version`` says less than ``latest``, the dataset's version Lacuna
        recorded (verified), of content not known to differ (no fingerprint, or the same).

        What a run read of a dataset is not what the dataset is: a read of some of its columns
        (``pd.read_csv(usecols=["region"])``) is classified PUBLIC, and recorded as a new
        standing version it became the dataset's latest, what the store knows of it (the guard
        of ingested claims took a claim of PUBLIC without a word; ``lineage show`` said
        PUBLIC). Such a version is kept with the run (``produced`` false, as a denied run's
        outputs), never as the dataset's state."""
        return (latest is not None and trusted and bool(latest.trusted) and int(latest.id) > 0
                and version.fingerprint in (None, latest.fingerprint)
                and _lowers(version.classification, latest.classification)
                and self._verifies(latest, version.dataset))

    def _version_row(self, did: int, version: DatasetVersion, run_id: str, created: str, *,
                     produced: bool, trusted: bool, io: str, seq: int,
                     edges: Sequence[Sequence[str]] = ()) -> dict[str, Any]:
        """A version's row, signed when ``trusted`` (with its column ``edges``, ``io``:
        whether its run read it, ``"in"``, or wrote it, ``"out"``, and its order: its run's
        ``seq`` and ``created``, :data:`ORDER_KEY`)."""
        data = _body(version, trusted=trusted)
        columns = list(version.columns)
        if trusted:
            data[IO_KEY] = io
            data[ORDER_KEY] = [seq, created]
            data["signature"] = self.keyring.sign(version_payload(  # signed before it is set
                version.dataset, run_id, version.fingerprint, data, columns, produced))
            if edges:
                data["edges_signature"] = self.keyring.sign(
                    edges_payload(run_id, version.dataset, edges))
        return {
            "dataset_id": did, "run_id": run_id, "fingerprint": version.fingerprint,
            "tier": version.classification.tier.value,
            "classification": json.dumps(data, sort_keys=True),
            "columns": json.dumps(columns), "created": created,
            "produced": produced, "trusted": trusted,
        }

    def _insert_versions(self, conn: Connection, rows: Sequence[dict[str, Any]]) -> list[int]:
        """Insert version ``rows``; their ids, in order, in one statement per page of rows.

        SQLite: the ids are given, after the largest one stored (what SQLite would pick),
        inside the transaction's write lock (``BEGIN IMMEDIATE``), so no other writer takes
        them; SQLite's ``RETURNING`` does not say which row got which id in a multi-row insert,
        and SQLAlchemy then inserts one row per statement. PostgreSQL: one multi-row ``INSERT
        ... RETURNING`` per page, sorted back into the rows' order by SQLAlchemy."""
        if not rows:
            return []
        if self._sqlite:
            first = conn.execute(_MAX_VERSION_ID).scalar_one() + 1
            found = list(range(first, first + len(rows)))
            for chunk, ids in zip(_chunks(rows), _chunks(found), strict=True):
                conn.execute(_INSERT_VERSION, [{**row, "id": vid}
                                               for row, vid in zip(chunk, ids, strict=True)])
            return found
        if conn.dialect.insert_executemany_returning_sort_by_parameter_order:
            result = conn.execute(
                _INSERT_VERSION.returning(versions.c.id, sort_by_parameter_order=True),
                list(rows))
            found = [int(r[0]) for r in result]
        else:  # pragma: no cover - no PostgreSQL driver today lacks it
            found = []
            for row in rows:
                key = conn.execute(_INSERT_VERSION, row).inserted_primary_key
                assert key is not None
                found.append(int(key[0]))
        if len(found) != len(rows):  # pragma: no cover - SQLAlchemy's own guarantee
            msg = (f"inserting {len(rows)} lineage versions into {self.where} returned "
                   f"{len(found)} ids: nothing was recorded.")
            raise LineageError(msg)
        return found

    def _forget(self, conn: Connection, run_id: str, replacement: Run | None = None) -> None:
        if replacement is not None:
            self._keeps_class(conn, run_id, replacement)
        self._unsupersede(conn, run_id)
        conn.execute(delete(column_edges).where(column_edges.c.run_id == run_id))
        conn.execute(delete(edges).where(edges.c.run_id == run_id))
        conn.execute(delete(run_io).where(run_io.c.run_id == run_id))
        used = select(run_io.c.version_id)
        conn.execute(delete(versions).where(versions.c.run_id == run_id,
                                            versions.c.id.not_in(used)))
        conn.execute(delete(runs).where(runs.c.id == run_id))

    # -- single datasets ---------------------------------------------------------------------

    def latest(self, dataset: DatasetRef, *, trusted: bool | None = None
               ) -> DatasetVersion | None:
        """The most recently recorded version of ``dataset`` that existed (read or produced);
        with ``trusted``, only versions Lacuna's pipeline computed (True) or only ingested ones
        (False)."""
        params = {"namespace": dataset.namespace, "name": dataset.name}
        if trusted is False:
            row = self._newest_claim(queries.version_select().where(
                datasets.c.namespace == dataset.namespace, datasets.c.name == dataset.name,
                standing()))
            return queries.to_version(row) if row is not None else None
        try:
            with self._transaction(write=False) as conn:
                if trusted:
                    mine = self._read_on(conn, conn.execute(_LATEST_TRUSTED, params).all())
                    row = self._not_superseded(self._first_verified(mine))
                    if row is None:
                        self._no_hidden(conn, dataset_ids=_id_of(conn, dataset))
                    return self._version(row, conn) if row is not None else None
                rows = list(conn.execute(_LATEST_ANY, params))
                if rows and (not rows[0].trusted or self._first_verified(
                        [r for r in rows if r.trusted]) is None):
                    # a claim, or a row marked trusted that does not verify, is newest:
                    # Lacuna's own to compare it with, whatever number of rows (written by
                    # hand) came after them (as _windows reads, and on past forged ones)
                    rows = _newest_first(rows, self._read_on(
                        conn, conn.execute(_LATEST_TRUSTED, params).all()))
                row, own = self._latest_and_own(rows)
                if own is None:  # Lacuna's own marked by hand as not counting
                    self._no_hidden(conn, dataset_ids=_id_of(conn, dataset))
                row = self._not_superseded(row)
                return self._version(row, conn) if row is not None else None
        except SQLAlchemyError as exc:
            raise LineageError(self._explain(exc, "read")) from exc

    def _read_on(self, conn: Connection, rows: Sequence[Any], *,
                 fingerprint: str | None = None, written: Any = None) -> builtins.list[Any]:
        """``rows`` (the newest standing rows of one dataset, or of content ``fingerprint``, by
        id, newest first, as a window reads them), with older trusted rows read on, a window
        at a time, when the trusted ones of ``rows`` fill a window and none of them verifies:
        rows marked trusted by hand (unsigned, the highest ids) no longer crowd Lacuna's own
        out of what a read compares them with. Nothing more is read in the usual case (fewer
        trusted rows than a window, or one that verifies). ``written``: the statement that
        read ``rows`` (:meth:`latest_written`'s writes), read on below the lowest id.

        Raises:
            LineageError: more than :data:`_READ_FURTHER` trusted rows read, none verifying.
        """
        page = [r for r in rows if r.trusted]
        if len(page) < _VERIFY_WINDOW or self._first_verified(page) is not None:
            return list(rows)
        key: dict[str, Any]
        if written is not None:
            stmt, key = written.where(versions.c.id < bindparam("below")), {}
            what = f"dataset {DatasetRef(page[0].namespace, page[0].name)}" + (
                f" or content {page[0].fingerprint[:16]}…" if page[0].fingerprint else "")
        elif fingerprint is None:
            stmt, key, what = _TRUSTED_BELOW, {"dataset_id": int(page[0].dataset_id)}, (
                f"dataset {DatasetRef(page[0].namespace, page[0].name)}")
        else:
            stmt, key, what = _CONTENT_BELOW, {"fingerprint": fingerprint}, (
                f"content {fingerprint[:16]}…")
        found, read = [list(rows)], len(page)
        while len(page) >= _VERIFY_WINDOW:
            if read >= _READ_FURTHER:
                msg = (f"the lineage store in {self.where} holds more than {_READ_FURTHER} "
                       f"rows of {what} marked trusted that do not verify (written or edited "
                       "by hand, newer than every version Lacuna recorded): what Lacuna "
                       "recorded of it cannot be told, so the read (and a run recording it) "
                       "is refused. Restore the state database from a backup; `lacuna audit "
                       "verify` checks the audit trail beside it.")
                raise LineageError(msg)
            page = list(conn.execute(stmt, {**key, "below": min(int(r.id) for r in page)}))
            found.append(page)
            read += len(page)
            if self._first_verified(page) is not None:
                break
        return _newest_first(*found)

    def _windows(self, conn: Connection, dataset_ids: Iterable[int], *, trusted: bool,
                 hidden: dict[int, list[Any]] | None = None) -> dict[int, list[Any]]:
        """Each of ``dataset_ids``' newest :data:`_VERIFY_WINDOW` standing version rows by id
        (``trusted``: of its trusted ones), newest first: one statement per :data:`_CHUNK`
        datasets. ``hidden`` (with ``trusted`` false): filled, in the same statements, with
        each dataset's trusted rows that do not stand (:func:`_hidden_of`)."""
        window: dict[int, list[Any]] = {}
        stmt = _WINDOWS_AND_HIDDEN if hidden is not None and not trusted else (
            _WINDOWS_OF_DATASETS[trusted])
        for chunk in _chunks(list(dict.fromkeys(dataset_ids))):
            for row in conn.execute(stmt, {"dataset_ids": list(chunk)}):
                if hidden is not None and _hides(row):
                    hidden.setdefault(int(row.dataset_id), []).append(row)
                    continue
                window.setdefault(int(row.dataset_id), []).append(row)
        for rows in window.values():
            rows.sort(key=lambda r: int(r.id), reverse=True)
        return window

    def _latest_rows(self, conn: Connection, dataset_ids: Iterable[int], *,
                     trusted: bool = False, check: bool = True, hidden: bool = True
                     ) -> dict[int, Any]:
        """Each of ``dataset_ids``' latest standing version row, as :meth:`latest` takes it
        (``trusted``: its newest trusted version that verifies, :meth:`_first_verified`), by
        the order its versions signed: what every read of "the latest" of many datasets goes
        by (:meth:`known`, the record path's inputs, :meth:`_supersede`), so ids swapped by
        hand make none of them take an older, lower version. With ``check``, a row marked
        superseded by a version no longer standing refuses (:meth:`_not_superseded`). With
        ``hidden``, a dataset without a version of Lacuna's own that verifies is checked for
        one marked by hand as not counting (:meth:`_no_hidden`: refused)."""
        found: dict[int, Any] = {}
        wanted = list(dict.fromkeys(dataset_ids))
        owned: set[int] = set()
        hides: dict[int, list[Any]] | None = {} if hidden and not trusted else None
        for did, window in self._windows(conn, wanted, trusted=trusted, hidden=hides).items():
            rows = self._read_on(conn, window)  # past rows marked trusted by hand
            if trusted:
                row = own = self._first_verified(rows)
            else:
                row, own = self._latest_and_own(rows)
            if own is not None:
                owned.add(did)
            if row is not None:
                found[did] = self._not_superseded(row) if check else row
        if hides is not None:  # read with the windows
            self._check_hidden(rows for did, rows in hides.items() if did not in owned)
        elif hidden:
            self._no_hidden(conn, dataset_ids=[d for d in wanted if d not in owned])
        return found

    def _latest_row(self, rows: Sequence[Any], *, marks: bool = True) -> Any:
        """:meth:`_latest_and_own`'s latest row."""
        return self._latest_and_own(rows, marks=marks)[0]

    def _latest_and_own(self, rows: Sequence[Any], *, marks: bool = True
                        ) -> tuple[Any, Any]:
        """Which of ``rows`` (a dataset's newest standing versions by id of each trust, newest
        first: the window :meth:`_windows` reads) is its latest: Lacuna's newest own version
        that verifies, newest by the order it signed (:meth:`_first_verified`), unless the
        newest row by id is another one (a claim: ingested, or marked trusted without a
        signature that holds) that says at least as much (:func:`_lowers`). An ingested claim
        is held to at least what the store knew when it arrived
        (:func:`lacuna.lineage.claims.guard`), so a lower one was written by hand: a PUBLIC row
        inserted with the highest id (untrusted, or trusted with a forged order) made the
        dataset's state PUBLIC over a PII version of Lacuna's own. A version of Lacuna's own
        marked superseded is taken whatever the claim says (the read refuses: a version was
        deleted; ``marks`` False: rows of one content, not of one dataset, where a version
        superseded by a later write of its dataset is still what that content was). With no
        version of Lacuna's own that verifies, the newest row is taken. Returns that row and
        Lacuna's newest own version (None when none verifies)."""
        if not rows:
            return None, None
        top = rows[0]
        mine = [r for r in rows if r.trusted]
        own = self._first_verified(mine) if mine else None
        if own is None or own is top:
            return top, own
        if top.trusted and self._verifies(top, DatasetRef(top.namespace, top.name)):
            return own, own  # ids swapped: own signed a later order (said by _first_verified)
        if marks and _NEXT_PEEK in str(own.classification):
            return own, own  # superseded by a version that is gone: the read refuses
        try:
            lower = _lowers(queries.to_version(top).classification, own.classification)
        except Exception:  # an unreadable claim (written by hand) says nothing: fail closed
            lower = True
        if not lower:
            return top, own
        if top.id not in self._lowered:
            self._lowered.add(top.id)
            log.warning("lineage version %s of %s:%s in %s is newer than Lacuna's own version "
                        "%s but says less than it (written by hand: an ingested claim is held "
                        "to what the store knew): version %s is taken", top.id, top.namespace,
                        top.name, self.where, own.id, own.id)
        return own, own

    def latest_written(self, dataset: DatasetRef) -> DatasetVersion | None:
        """The newest standing version of ``dataset`` that Lacuna's pipeline recorded (trusted,
        verified) as what a run **wrote**: the whole dataset as the write left it.

        :meth:`latest` also returns what a run *read*, which may be a part of the dataset:
        ``pd.read_csv(uri, usecols=[...])``, ``nrows=``, ``skiprows=``, one chunk of a
        ``chunksize=`` read, a filter pushed into the read. Such a read is classified by what
        it holds (some columns of a customer file: PUBLIC), has no content fingerprint for a
        remote source, and, when the store knew nothing of the dataset before, is recorded as
        its state. Taken as the declaration of the whole source (a Spark read of a remote
        file), its other columns were classified from their names only. A read only ever adds
        restrictions; this is what may declare.

        That a run wrote a version is what its signature says (:data:`IO_KEY`), not the
        ``run_io`` row, a plain column: a read flipped to a write by hand (a PUBLIC read of
        one column made the dataset's written class) is not taken, nor is a write hidden by
        flipping it to a read. A version signed before the direction was (its ``run_io`` row
        says written) is not vouched for: taken as a read, it only adds restrictions (logged
        once; write the dataset again through Lacuna)."""
        wrote = select(run_io.c.version_id).where(
            run_io.c.version_id == versions.c.id, run_io.c.run_id == versions.c.run_id,
            run_io.c.direction == "out").exists()
        stmt = (queries.versions_of(dataset)
                .where(versions.c.trusted.is_(True),
                       or_(wrote, versions.c.classification.like(_SIGNED_WRITE)))
                .order_by(versions.c.id.desc()).limit(_VERIFY_WINDOW))
        try:
            with self._transaction(write=False) as conn:
                # past rows marked trusted by hand (a forged "io": "out" included)
                candidates = self._read_on(conn, conn.execute(stmt).all(), written=stmt)
                if self._first_verified(candidates) is None:
                    self._no_hidden(conn, dataset_ids=_id_of(conn, dataset))
                if not candidates:
                    return None
                chain = self._read_on(conn, conn.execute(
                    _LATEST_TRUSTED, {"namespace": dataset.namespace, "name": dataset.name}
                ).all())
                # the dataset's newest trusted version (any side) must not be superseded
                self._not_superseded(self._first_verified(chain))
                # the newest write by the order it signed, not by id (ids swapped by hand)
                for row in sorted(candidates, key=_signed_order, reverse=True):
                    if self._first_verified([row]) is None:
                        continue  # logged there: held to as a claim by the reads that see it
                    io = json.loads(row.classification).get(IO_KEY)
                    if io == "out":
                        self._successors_stand(conn, row, chain)
                        return self._version(row, conn)
                    if row.id not in self._undirected:
                        self._undirected.add(row.id)
                        log.warning(
                            "lineage version %s of %s:%s in %s is listed as written by run %s, "
                            "but %s: taken as what the run read (it only adds restrictions); "
                            "write the dataset again through Lacuna to record it as written",
                            row.id, row.namespace, row.name, self.where, row.run_id,
                            "was recorded before Lacuna signed which side of a run a version "
                            "was on" if io is None else "its signature says the run read it "
                            "(its run_io row was edited by hand)")
        except SQLAlchemyError as exc:
            raise LineageError(self._explain(exc, "read")) from exc
        return None

    def _successors_stand(self, conn: Connection, row: Any, chain: Sequence[Any]) -> None:
        """That no version recorded after ``row`` (a verified trusted version of one dataset)
        was deleted: ``row`` and each verified version of ``chain`` (the dataset's newest
        trusted standing rows) signed after it, when marked superseded (:data:`NEXT_KEY`), name
        a successor that is standing and verifies. A read that takes an older version than the
        latest (:meth:`latest_written`: the newest write, reads may follow it) would otherwise
        not notice a write deleted between them. A successor outside ``chain`` is looked up.

        Raises:
            LineageError: a version was superseded by one no longer standing (fail closed).
        """
        since = _signed_order(row)
        later = [r for r in chain if _signed_order(r) > since
                 and self._verifies(r, DatasetRef(r.namespace, r.name))]
        for marked in (row, *later):
            successor = _peek(_NEXT_WHOLE, marked)
            if successor is None or any(_names(r, successor) for r in (row, *later)):
                continue
            found = conn.execute(queries.version_select().where(
                versions.c.dataset_id == marked.dataset_id, versions.c.trusted.is_(True),
                versions.c.created == successor[1], standing())).all()
            if not any(_names(r, successor)
                       and self._verifies(r, DatasetRef(r.namespace, r.name)) for r in found):
                self._not_superseded(marked)  # raises: it says it was superseded

    def known(self, refs: Sequence[DatasetRef], fingerprints: Sequence[str] = ()
              ) -> tuple[dict[DatasetRef, DatasetVersion], dict[str, DatasetVersion]]:
        """:meth:`latest` of each of ``refs`` (by the order its versions signed, as ``latest``
        goes) and :meth:`by_fingerprint` of each of
        ``fingerprints`` (``trusted=None``: what the store knows, claims included), for those it
        has, read in one transaction with a statement per :data:`_CHUNK` datasets and per
        :data:`_CHUNK` fingerprints however many are asked: what
        :func:`lacuna.lineage.claims.guard` holds an ingested run to (two reads per dataset
        made an ingest of 1,000 datasets 4,000 statements).

        Raises:
            LineageError: the database could not be read.
        """
        if not refs and not fingerprints:
            return {}, {}
        try:
            with self._transaction(write=False) as conn:
                ids = _lookup_datasets(conn, list(dict.fromkeys(refs)))
                newest = self._latest_rows(conn, ids.values())  # as latest() takes each
                by_content = self._of_contents(
                    conn, [f for f in dict.fromkeys(fingerprints) if f])
                resolved = self._versions([*newest.values(), *by_content.values()], conn)
        except SQLAlchemyError as exc:
            raise LineageError(self._explain(exc, "read")) from exc
        return ({ref: resolved[int(newest[did].id)] for ref, did in ids.items() if did in newest},
                {fp: resolved[int(row.id)] for fp, row in by_content.items()})

    def latest_claim(self, dataset: DatasetRef) -> tuple[DatasetVersion, str] | None:
        """The newest standing claim of ``dataset`` (as :meth:`latest` with
        ``trusted=False``) and the id of the run that recorded it."""
        row = self._newest_claim(queries.version_select().where(
            datasets.c.namespace == dataset.namespace, datasets.c.name == dataset.name,
            standing()))
        return (queries.to_version(row), str(row.run_id)) if row is not None else None

    def standing_claims(self, *, fingerprint: str | None = None,
                        dataset: DatasetRef | None = None, limit: int = CLAIMS_NAMED
                        ) -> builtins.list[tuple[str, Classification]] | None:
        """Every standing ingested claim of this content (``fingerprint``, anywhere) or of
        ``dataset``: each claim run's id and what its newest version of it says, newest first.
        None when there are more than ``limit`` (too many to name: a read attributes none).

        A claim is stored held to what the store knew when it arrived
        (:func:`lacuna.lineage.claims.guard`), earlier claims included: the newest claim alone
        carries their raise, but dismissing it must not take back theirs while they stand, so
        a read names them all (:mod:`lacuna.lineage.attribution`)."""
        stmt = queries.version_select().where(versions.c.trusted.is_(False),
                                              versions.c.produced.is_(True), standing())
        if fingerprint is not None:
            stmt = stmt.where(versions.c.fingerprint == fingerprint)
        if dataset is not None:
            stmt = stmt.where(datasets.c.namespace == dataset.namespace,
                              datasets.c.name == dataset.name)
        window = limit * 4 + 1  # a run may hold this content under several names
        rows = self._read(stmt.order_by(versions.c.id.desc()).limit(window))
        found: dict[str, Classification] = {}
        for row in rows:
            run_id = str(row.run_id)
            if run_id not in found:
                if len(found) >= limit:
                    return None
                found[run_id] = queries.to_version(row).classification
        return list(found.items()) if len(rows) < window else None

    def by_fingerprint(self, fingerprint: str, *, trusted: bool | None = None
                       ) -> DatasetVersion | None:
        """The most recently recorded version with this content fingerprint (``trusted``: as
        for :meth:`latest`)."""
        stmt = queries.version_select().where(versions.c.fingerprint == fingerprint,
                                              standing())
        if trusted is False:
            row = self._newest_claim(stmt)
            return queries.to_version(row) if row is not None else None
        if trusted is not None:
            stmt = stmt.where(versions.c.trusted.is_(trusted))
        if trusted:
            found = self._own_of(stmt, fingerprint)
            return found[0] if found is not None else None
        try:  # what the store knows of the content, as the ingest guard reads it (known())
            with self._transaction(write=False) as conn:
                row = self._of_contents(conn, [fingerprint]).get(fingerprint)
                return self._version(row, conn) if row is not None else None
        except SQLAlchemyError as exc:
            raise LineageError(self._explain(exc, "read")) from exc

    def _of_contents(self, conn: Connection, fingerprints: Sequence[str]) -> dict[str, Any]:
        """The row each of ``fingerprints`` reads as (what the store knows of that content):
        Lacuna's newest own version of it that verifies, newest by the order it signed
        (:meth:`_first_verified`), unless the newest row of the content by id is another one
        that says at least as much (:meth:`_latest_row`, as :meth:`latest` takes a dataset's).
        The newest row by id was taken: a PUBLIC row inserted by hand with the fingerprint of
        content Lacuna recorded as PII (or the ids of two versions of it swapped) was what the
        ingest guard held a claim of that content to. A statement per :data:`_CHUNK`
        fingerprints for their newest rows, one per :data:`_CONTENT_CHUNK` for their windows of
        trusted rows."""
        newest: dict[str, Any] = {}
        hides: dict[str, list[Any]] = {}
        for chunk in _chunks(fingerprints):
            for row in conn.execute(_NEWEST_AND_HIDDEN, {"fingerprints": list(chunk)}):
                if _hides(row):
                    hides.setdefault(str(row.fingerprint), []).append(row)
                else:
                    newest[str(row.fingerprint)] = row
        known = [f for f in fingerprints if f in newest]
        trusted: dict[str, list[Any]] = {}
        for start in range(0, len(known), _CONTENT_CHUNK):
            chunk = known[start:start + _CONTENT_CHUNK]
            for row in conn.execute(_trusted_of_fingerprints(len(chunk)),
                                    {f"fp{i}": fp for i, fp in enumerate(chunk)}):
                trusted.setdefault(str(row.fingerprint), []).append(row)
        found: dict[str, Any] = {}
        owned: set[str] = set()
        for fp in known:
            rows = self._read_on(conn, _newest_first([newest[fp]], trusted.get(fp, [])),
                                 fingerprint=fp)
            row, own = self._latest_and_own(rows, marks=False)
            if own is not None:
                owned.add(fp)
            if row is not None:
                found[fp] = row
        self._check_hidden(rows for fp, rows in hides.items() if fp not in owned)
        return found

    def produced_with(
        self, fingerprint: str, dataset: DatasetRef | None = None, *, trusted: bool | None = None
    ) -> tuple[DatasetVersion, str] | None:
        """The newest version with this content fingerprint (of ``dataset`` when given;
        ``trusted``: as for :meth:`latest`) and the id of the run that recorded it; None when
        the store has no such content."""
        stmt = (queries.version_select().where(versions.c.fingerprint == fingerprint,
                                               standing()))
        if dataset is not None:
            stmt = stmt.where(datasets.c.namespace == dataset.namespace,
                              datasets.c.name == dataset.name)
        if trusted is False:
            claim = self._newest_claim(stmt)
            return (queries.to_version(claim), str(claim.run_id)) if claim is not None else None
        if trusted:
            return self._own_of(stmt.where(versions.c.trusted.is_(True)), fingerprint)
        rows = self._read(stmt.order_by(versions.c.id.desc()).limit(1))
        return (self._version(rows[0]), str(rows[0].run_id)) if rows else None

    def _own_of(self, stmt: Any, fingerprint: str) -> tuple[DatasetVersion, str] | None:
        """The newest of ``stmt``'s trusted rows that verifies, by the order it signed, read
        on past rows marked trusted by hand (:meth:`_read_on`), with the id of its run: 64 of
        them with a content's fingerprint made ``by_fingerprint(trusted=True)`` and
        ``produced_with(trusted=True)`` (the declaration a read of that file restores) find
        nothing, and the file was classified from its values alone. None found: the content
        (``fingerprint``) is checked for a version of Lacuna's own marked by hand as not
        counting (:meth:`_no_hidden`: refused)."""
        windowed = stmt.order_by(versions.c.id.desc()).limit(_VERIFY_WINDOW)
        try:
            with self._transaction(write=False) as conn:
                rows = self._read_on(conn, conn.execute(windowed).all(), written=windowed)
                row = self._first_verified(rows)
                if row is None:
                    self._no_hidden(conn, fingerprints=[fingerprint])
                return (self._version(row, conn), str(row.run_id)) if row is not None else None
        except SQLAlchemyError as exc:
            raise LineageError(self._explain(exc, "read")) from exc

    def set_fingerprint(self, run_id: str, dataset: DatasetRef, fingerprint: str) -> int:
        """Record the content fingerprint of the version ``run_id`` produced of ``dataset``, for
        a file completed after its run was recorded (an ExcelWriter or HDFStore closed later).
        Returns how many versions were updated.

        Raises:
            LineageError: the database could not be written.
        """
        target = (select(datasets.c.id).where(datasets.c.namespace == dataset.namespace,
                                              datasets.c.name == dataset.name)
                  .scalar_subquery())
        which = and_(versions.c.run_id == run_id, versions.c.dataset_id == target,
                     versions.c.produced.is_(True))
        self.generation = next(_GENERATIONS)
        try:
            with self._lock, self._transaction(write=True) as conn:
                serialize(conn, WRITE_TURN)  # a mark set meanwhile is not written over
                rows = conn.execute(
                    select(versions.c.id, versions.c.run_id, versions.c.fingerprint,
                           versions.c.classification, versions.c.columns, versions.c.produced,
                           versions.c.trusted).where(which)).all()
                for row in rows:  # a trusted version's signature covers its fingerprint
                    values: dict[str, Any] = {"fingerprint": fingerprint}
                    if row.trusted and self._verifies(row, dataset):
                        data = _unsigned(row.classification)
                        stored = json.loads(row.classification)
                        for key in (IO_KEY, ORDER_KEY, NEXT_KEY):  # its side, order, successor:
                            if stored.get(key) is not None:  # still signed
                                data[key] = stored[key]
                        kept = json.loads(row.classification).get("edges_signature")
                        values["classification"] = json.dumps({**data, **(
                            {"edges_signature": kept} if kept else {}), "signature": (
                            self.keyring.sign(version_payload(
                                dataset, run_id, fingerprint, data, json.loads(row.columns),
                                True)))}, sort_keys=True)
                    conn.execute(update(versions).where(versions.c.id == row.id)
                                 .values(**values))
                return len(rows)
        except SQLAlchemyError as exc:
            raise LineageError(self._explain(exc, "write to")) from exc

    def version_at(self, dataset: DatasetRef, when: datetime) -> DatasetVersion | None:
        """What ``dataset`` looked like at ``when`` (naive: UTC), by the rule :meth:`latest`
        reads by: Lacuna's newest own version recorded at or before ``when`` that verifies,
        newest by the order it signed (:meth:`_first_verified`), unless the newest other row
        of that time (a claim: ingested, or marked trusted without a signature that holds;
        newer than it) says at least as much (:meth:`_latest_row`). The answer says which it
        is (``verified``: True for Lacuna's own version, False for a claim). None when the
        dataset had no version then. It went by the rows' times and ids alone: a PUBLIC row
        inserted by hand with a past time was what a PII dataset "looked like" then.

        Raises:
            LineageError: the version taken was superseded at or before ``when`` by one that
                is no longer in the store (deleted by hand: the older class is not taken), or
                more than :data:`_READ_FURTHER` rows marked trusted by hand crowd that time.
        """
        at = iso(when)
        then = queries.versions_of(dataset).where(versions.c.created <= at)
        trusted = then.where(versions.c.trusted.is_(True)).order_by(
            versions.c.id.desc()).limit(_VERIFY_WINDOW)
        try:
            with self._transaction(write=False) as conn:
                rows = self._read_on(conn, conn.execute(trusted).all(), written=trusted)
                own = self._first_verified(rows)
                if own is None:
                    self._no_hidden(conn, dataset_ids=_id_of(conn, dataset))
                own = self._standing_at(conn, own, at) if own is not None else None
                ingested = conn.execute(then.where(versions.c.trusted.is_(False)).order_by(
                    versions.c.created.desc(), versions.c.id.desc()).limit(1)).first()
                # the newest other row of that time: the newest ingested one, or the newest
                # trusted one that does not verify (newest by its time, then id)
                claim = None
                since = str(own.created) if own is not None else ""
                for r in sorted((r for r in (ingested, *rows) if r is not None),
                                key=lambda r: (str(r.created), int(r.id)), reverse=True):
                    if str(r.created) < since:
                        break  # recorded before Lacuna's own version: superseded by it
                    if r is not own and (own is None or not r.trusted or not self._verifies(
                            r, DatasetRef(r.namespace, r.name))):
                        claim = r
                        break
                row = own if claim is None else self._latest_row(
                    [claim] if own is None else [claim, own], marks=False)
                if row is None:
                    return None
                return replace(self._version(row, conn), verified=row is own)
        except SQLAlchemyError as exc:
            raise LineageError(self._explain(exc, "read")) from exc

    def _standing_at(self, conn: Connection, row: Any, at: str) -> Any:
        """``row`` (a verified version of a dataset, the newest of its own recorded at or
        before ``at`` that a read found), unless it says a later version superseded it at or
        before ``at`` (:data:`NEXT_KEY`): that version, when it stands and verifies (ids
        edited by hand kept it out of the window read), else a refusal: it was deleted.

        Raises:
            LineageError: a version recorded at or before ``at`` is no longer in the store.
        """
        for _ in range(_READ_FURTHER):
            successor = _peek(_NEXT_WHOLE, row)
            if successor is None or successor[1] > at:
                return row
            found = [r for r in conn.execute(queries.version_select().where(
                versions.c.dataset_id == row.dataset_id, versions.c.trusted.is_(True),
                versions.c.created == successor[1], standing())).all()
                if _names(r, successor) and self._verifies(r, DatasetRef(r.namespace, r.name))]
            if not found:
                return self._not_superseded(row)  # raises: it says it was superseded
            row = found[0]
        return self._not_superseded(row)  # pragma: no cover - a chain longer than read on

    def _verifies(self, row: Any, dataset: DatasetRef, *, produced: bool | None = None
                  ) -> bool:
        """Whether a stored version row's signature holds for ``dataset`` and the row's run,
        fingerprint, classification, columns and produced flag (``produced``: as if it were
        that). A version signed before dataset names were canonical names its dataset as it
        was then (``s3a://lake``: see :meth:`_canonical_names`), which is the same dataset."""
        try:
            data = json.loads(row.classification)
            signature = data.pop("signature", None) if isinstance(data, dict) else None
            if isinstance(data, dict):
                data.pop("edges_signature", None)
                order = data.get(ORDER_KEY)
                created = getattr(row, "created", None)
                if isinstance(order, list) and created is not None and order[-1:] != [created]:
                    return False  # its created time edited: not when it was recorded
            columns = json.loads(row.columns)
            return any(self.keyring.verify(version_payload(
                ref, row.run_id, row.fingerprint, data, columns,
                row.produced if produced is None else produced), signature)
                for ref in _spellings(dataset))
        except (LacunaError, ValueError, TypeError, AttributeError) as exc:
            log.debug("lineage version %s unreadable: %s", getattr(row, "id", "?"), exc)
            return False

    def _vouches(self, version: Any, edges: Sequence[Sequence[str]]) -> bool:
        """Whether ``version`` (a trusted version row) verifies and signed exactly ``edges`` as
        its run's column edges into it; an edge added or edited by hand makes it vouch for
        none (logged once)."""
        target = DatasetRef(version.namespace, version.name)
        if not self._verifies(version, target):
            return False
        try:
            signature = json.loads(version.classification).get("edges_signature")
            ok = any(self.keyring.verify(edges_payload(str(version.run_id), ref, edges),
                                         signature) for ref in _spellings(target))
        except (LacunaError, ValueError, TypeError, AttributeError):
            ok = False
        if not ok and version.id not in self._distrusted:
            self._distrusted.add(version.id)
            log.warning("the column edges of lineage run %s into %s in %s do not match their "
                        "signature (added or edited by hand, or recorded before edges were "
                        "signed): none of them counts as recorded by Lacuna's pipeline",
                        version.run_id, target, self.where)
        return ok

    def _newest_claim(self, stmt: Any) -> Any:
        """The newest row of ``stmt`` that is a claim: ingested (untrusted), or marked trusted
        with a signature that does not hold and newer than every one that does (written by
        hand, or recorded before versions were signed). A claim only ever restricts, so such a
        row is not dropped, which would lower what it said (an upgrade would forget every
        class stored before signing): it is held to as a claim, until Lacuna records the data
        again. None when there is none."""
        ingested = self._read(stmt.where(versions.c.trusted.is_(False))
                              .order_by(versions.c.id.desc()).limit(1))
        unverified = None
        for row in self._read(stmt.where(versions.c.trusted.is_(True))
                              .order_by(versions.c.id.desc()).limit(_VERIFY_WINDOW)):
            if self._verifies(row, DatasetRef(row.namespace, row.name)):
                break  # Lacuna recorded it since: what is older is superseded
            unverified = unverified or row
        found = [r for r in (ingested[0] if ingested else None, unverified) if r is not None]
        return max(found, key=lambda r: int(r.id)) if found else None

    def _first_verified(self, rows: Sequence[Any]) -> Any:
        """The newest of ``rows`` (trusted versions of one dataset, by id newest first) whose
        signature holds, newest by the order it signed (:data:`ORDER_KEY`), not by its id:
        an older version given a higher id by hand is not taken over the one recorded after
        it (logged once). Each row that does not verify is logged once and skipped."""
        best: Any = None
        best_key: tuple[int, int, int] = (-2, 0, 0)
        for row in rows:
            key = _signed_order(row)
            if best is not None and key <= best_key:
                continue  # older than what is taken, by what it says (checked if it would win)
            if self._verifies(row, DatasetRef(row.namespace, row.name)):
                if best is not None and row.id not in self._distrusted:
                    self._distrusted.add(row.id)
                    log.warning("lineage version %s of %s:%s in %s was recorded after version "
                                "%s, which has a higher id (the ids were edited by hand): the "
                                "one recorded last is taken", row.id, row.namespace, row.name,
                                self.where, best.id)
                best, best_key = row, key
                continue
            if row.id not in self._distrusted:
                self._distrusted.add(row.id)
                log.warning("lineage version %s of %s:%s in %s is marked trusted but its "
                            "signature does not verify (written or edited by hand, or recorded "
                            "before versions were signed): not believed; the data is "
                            "classified from its content", row.id, row.namespace, row.name,
                            self.where)
        return best

    def _one(self, stmt: Any) -> DatasetVersion | None:
        rows = self._read(stmt.limit(1))
        return self._version(rows[0]) if rows else None

    # -- attribution: the raise a claim contributed to Lacuna's own versions ----------------

    def _version(self, row: Any, conn: Connection | None = None) -> DatasetVersion:
        """A version row as what the store knows (:mod:`lacuna.lineage.attribution`): a
        trusted version whose class a claim raised stands at what Lacuna derived itself once
        every claim it names was dismissed (a dismissal this store's keyring signed), else at
        its full class, with its attribution (``raised``) so a read of it can pass it on. A row
        whose signature does not hold is never lowered (its full class)."""
        raised = self._raised(row)
        return self._stand(row, raised, self._dismissed(raised.run_ids, conn) if raised else ())

    def _versions(self, rows: Sequence[Any], conn: Connection) -> dict[int, DatasetVersion]:
        """:meth:`_version` of each of ``rows``, by row id: the dismissals of every claim their
        attributions name looked up together (a statement per :data:`_CHUNK` run ids)."""
        raised = {int(row.id): self._raised(row) for row in rows}
        named = list(dict.fromkeys(r for a in raised.values() if a for r in a.run_ids))
        dismissed: set[str] = set()
        for chunk in _chunks(named):
            dismissed |= self._dismissed(chunk, conn)
        return {int(row.id): self._stand(row, raised[int(row.id)], dismissed) for row in rows}

    def _raised(self, row: Any) -> attribution.Raised | None:
        """The attribution of ``row`` when it is a trusted version that carries one (and
        verifies); else None."""
        if not row.trusted or attribution.KEY not in row.classification:
            return None
        return self._attribution(row)

    @staticmethod
    def _stand(row: Any, raised: attribution.Raised | None, dismissed: Iterable[str]
               ) -> DatasetVersion:
        """``row`` as it stands (see :meth:`_version`), given its attribution and the
        ``dismissed`` claim run ids."""
        version = queries.to_version(row)
        if raised is None:
            return version
        c = attribution.standing(version.classification, raised, dismissed)
        if c is version.classification:
            return DatasetVersion(dataset=version.dataset, classification=c,
                                  fingerprint=version.fingerprint, columns=version.columns,
                                  raised=raised)
        return DatasetVersion(dataset=version.dataset, classification=c,
                              fingerprint=version.fingerprint, columns=version.columns)

    def _attribution(self, row: Any) -> attribution.Raised | None:
        """The attribution of a trusted version row, when its signature holds; else None."""
        if not self._verifies(row, DatasetRef(row.namespace, row.name)):
            return None
        try:
            data = json.loads(row.classification).get(attribution.KEY)
            return attribution.Raised.from_dict(data) if isinstance(data, dict) else None
        except (LacunaError, ValueError, TypeError, KeyError, AttributeError) as exc:
            log.warning("lineage version %s: unreadable attribution (%s): its class stands",
                        getattr(row, "id", "?"), exc)
            return None

    def _dismissed(self, run_ids: Sequence[str], conn: Connection | None = None) -> set[str]:
        """Which of ``run_ids`` a steward dismissed, as this store signed it when they did
        (the ``dismissed`` column alone is a boolean anyone with the file can set)."""
        if conn is None:
            try:
                with self._transaction(write=False) as inner:
                    return self._dismissed(run_ids, inner)
            except SQLAlchemyError as exc:
                raise LineageError(self._explain(exc, "read")) from exc
        stmt = select(runs.c.id, runs.c.provenance).where(runs.c.id.in_(list(run_ids)))
        out: set[str] = set()
        for r in conn.execute(stmt).all():
            try:
                if self._dismissal_holds(conn, str(r.id), json.loads(r.provenance or "{}")):
                    out.add(str(r.id))
            except (LacunaError, ValueError, TypeError, AttributeError):
                continue
        return out

    def store_id(self, conn: Connection | None = None) -> str | None:
        """This store's id, which its dismissals' signatures name: its state database's
        (:mod:`lacuna.state.database_id`, made when the database is first migrated); None when
        that row was deleted (then nothing is dismissed here: fail closed)."""
        if self._id is None:
            from lacuna.state import database_id

            if conn is None:
                with self._transaction(write=False) as inner:
                    self._id = database_id.read(inner)
            else:
                self._id = database_id.read(conn)
        return self._id

    def _dismissal_holds(self, conn: Connection, run_id: str, provenance: Any) -> bool:
        """Whether ``provenance`` (a run's) holds a dismissal of ``run_id`` this store signed:
        version 2, naming this store; or version 1 (signed before dismissals named their
        store) that this database's audit trail records, in a record intact in its chain. A
        dismissal signed for another store (copied from it: the same key signs both) is
        refused, said once in the log."""
        signature = provenance.get(attribution.DISMISSAL_KEY)
        if not signature:
            return False
        mine = self.store_id(conn)
        if mine is not None and self.keyring.verify(
                attribution.dismissal_payload(run_id, mine), signature):
            return True
        if self.keyring.verify(attribution.dismissal_payload(run_id), signature):
            if run_id in self._legacy or self._dismissal_on_trail(conn, run_id):
                self._legacy.add(run_id)
                return True
            why = ("it was signed before dismissals named their store, and this store's audit "
                   "trail does not record it: copied from another store signed with the same "
                   "key, or its audit record was lost")
        else:
            named = provenance.get(attribution.DISMISSAL_STORE_KEY)
            if (isinstance(named, str) and named != mine and self.keyring.verify(
                    attribution.dismissal_payload(run_id, named), signature)):
                why = (f"it was signed for another lineage store (state database {named}; this "
                       f"one is {mine}): copied from there, where the same key signs")
            else:
                why = "its signature does not hold (written or edited outside Lacuna)"
        if run_id not in self._said:
            self._said.add(run_id)
            log.warning("lineage run %s in %s is marked dismissed, but the dismissal is not "
                        "applied: %s. What it raised stands; a steward of this store who means "
                        "it dismisses it here: lacuna lineage dismiss %s --reason ...", run_id,
                        self.where, why, run_id)
        return False

    def _dismissal_on_trail(self, conn: Connection, run_id: str) -> bool:
        """Whether this database's audit trail records the dismissal of ``run_id``
        (``claim-dismissed``, :mod:`lacuna.lineage.dismiss`) in a record intact in its chain."""
        from lacuna.audit.schema import records
        from lacuna.audit.store import READ_COLUMNS
        from lacuna.audit.verify import intact_records
        from lacuna.lineage.dismiss import ACTION

        try:
            rows = conn.execute(select(*READ_COLUMNS).where(
                records.c.action == ACTION,
                records.c.body.contains(json.dumps(run_id, ensure_ascii=False)))).all()
            found = []
            for row in rows:
                what = json.loads(row.body).get("what") or {}
                if what.get("event") == "claim-dismissed" and what.get("run_id") == run_id:
                    found.append(row)
            return bool(found) and bool(intact_records(conn, found, self.keyring))
        except (SQLAlchemyError, ValueError, AttributeError, TypeError):
            return False

    def dismissal_holds(self, run_id: str) -> bool:
        """Whether run ``run_id`` is dismissed here by a dismissal this store signed (see
        :meth:`_dismissal_holds`): what takes back the raise it put into Lacuna's own
        versions."""
        return run_id in self._dismissed([run_id])

    def attributed_output(self, run_id: str, dataset: DatasetRef
                          ) -> tuple[DatasetVersion, DatasetVersion] | None:
        """The version of ``dataset`` run ``run_id`` produced, when it is Lacuna's own (it
        verifies) and carries an attribution: as recorded, and as it stands now; else None."""
        stmt = queries.version_select().where(
            versions.c.run_id == run_id, datasets.c.namespace == dataset.namespace,
            datasets.c.name == dataset.name, versions.c.produced.is_(True),
            versions.c.trusted.is_(True),
            versions.c.classification.contains(f'"{attribution.KEY}"'),
        ).order_by(versions.c.id.desc()).limit(1)
        rows = self._read(stmt)
        if not rows or self._attribution(rows[0]) is None:
            return None
        return queries.to_version(rows[0]), self._version(rows[0])

    def raised_by(self, run_id: str) -> builtins.list[tuple[DatasetVersion, DatasetVersion]]:
        """The standing versions of Lacuna's own (trusted, verified) whose class the claim run
        ``run_id`` raised: each as recorded (its full class) and as it stands now, the newest
        per dataset, by dataset name."""
        stmt = queries.version_select().where(
            versions.c.trusted.is_(True), standing(),
            versions.c.classification.contains(f'"{attribution.KEY}"'),
            versions.c.classification.contains(json.dumps(run_id))
        ).order_by(versions.c.id.desc())
        found: dict[DatasetRef, tuple[DatasetVersion, DatasetVersion]] = {}
        try:
            with self._transaction(write=False) as conn:
                for row in conn.execute(stmt).all():
                    ref = DatasetRef(row.namespace, row.name)
                    if ref in found:
                        continue
                    raised = self._attribution(row)
                    if raised is None or run_id not in raised.run_ids:
                        continue
                    found[ref] = (queries.to_version(row), self._version(row, conn))
        except SQLAlchemyError as exc:
            raise LineageError(self._explain(exc, "read")) from exc
        return [found[ref] for ref in sorted(found, key=lambda r: (r.namespace, r.name))]

    def runs(self, dataset: DatasetRef | None = None, *, limit: int | None = 50,
             status: RunStatus | None = None) -> builtins.list[Run]:
        """Recorded runs, newest first; with ``dataset``, those that read or wrote it."""
        stmt = select(runs).order_by(runs.c.seq.desc())
        if dataset is not None:
            touching = (select(run_io.c.run_id)
                        .join(versions, versions.c.id == run_io.c.version_id)
                        .join(datasets, datasets.c.id == versions.c.dataset_id)
                        .where(datasets.c.namespace == dataset.namespace,
                               datasets.c.name == dataset.name))
            stmt = stmt.where(runs.c.id.in_(touching))
        if status is not None:
            stmt = stmt.where(runs.c.status == status.value)
        if limit is not None:
            stmt = stmt.limit(max(int(limit), 0))
        try:
            with self._transaction(write=False) as conn:
                return [queries.load_run(conn, row, self._origin)
                        for row in conn.execute(stmt).all()]
        except SQLAlchemyError as exc:
            raise LineageError(self._explain(exc, "read")) from exc

    def get_run(self, run_id: str) -> Run | None:
        """One run by id, or None."""
        try:
            with self._transaction(write=False) as conn:
                row = conn.execute(select(runs).where(runs.c.id == run_id)).first()
                return queries.load_run(conn, row, self._origin) if row is not None else None
        except SQLAlchemyError as exc:
            raise LineageError(self._explain(exc, "read")) from exc

    def _origin(self, row: Any, provenance: dict[str, Any], io_rows: Sequence[Any]
                ) -> tuple[str | None, bool, bool]:
        """How run ``row`` reached the store, as far as the store can vouch for it:
        ``(imported_from, user_vouched, origin_unknown)`` (:class:`Run`'s fields).

        A row this store signed (:func:`run_payload`) is what it says. A row without a
        signature was recorded before runs were signed, and before ingested runs were marked
        (``imported_from``): it is Lacuna's own when a version of its own that the store signed
        as trusted says so (ingest never records a trusted version); ingested when it says so,
        or names a producer other than Lacuna's; otherwise (a run that could be either: an
        ingested event whose ``lacuna_run`` facet said ``runProducer: "lacuna"``, or a
        ``register_lineage`` run) its origin is unknown, never Lacuna's own. A row whose
        signature does not hold was edited: its origin is unknown too."""
        run_id = str(row.id)
        signature = provenance.get("signature")
        if signature is not None:
            if self.keyring.verify(run_payload(row, provenance),
                                   signature if isinstance(signature, str) else None):
                found = provenance.get("imported_from")
                imported = None if found is None else str(found)
                return imported, imported is not None and provenance.get(
                    "user_vouched") is True, False
            if run_id not in self._forged:
                self._forged.add(run_id)
                log.warning("lineage run %s in %s does not match its signature (edited by "
                            "hand, or signed with another key): whether Lacuna recorded it or "
                            "it was imported is not known; its user and producer are shown as "
                            "claims", run_id, self.where)
            return None, False, True
        if any(r.trusted and str(r.run_id) == run_id
               and self._verifies(r, DatasetRef(r.namespace, r.name)) for r in io_rows):
            return None, False, False
        found = provenance.get("imported_from")
        if found is not None:
            return str(found), False, False
        if row.producer != _OWN_PRODUCER:
            return str(row.producer), False, False
        return None, False, True

    def dismiss(self, run_id: str) -> tuple[DatasetVersion, ...]:
        """Dismiss the ingested run ``run_id``: its versions stay on record but no longer count
        as what the store knows of their datasets or content (:mod:`lacuna.lineage.dismiss`
        checks who may). Returns the versions it dismissed, as they were.

        Raises:
            UnknownRunError: no such run.
            NotDismissableError: the run is Lacuna's own (its classifications were computed
                from the data: they are no claim), it is already dismissed, or it produced
                nothing.
            LineageError: the database could not be read or written.
        """
        try:
            with self._lock, self._transaction(write=True) as conn:
                if conn.execute(_RUN_EXISTS, {"run_id": run_id}).first() is None:
                    msg = (f"no lineage run {run_id!r} is recorded: use a run id from `lacuna "
                           "lineage runs` or the server's GET /api/v1/lineage/runs")
                    raise UnknownRunError(msg)
                rows = conn.execute(queries.version_select().where(
                    versions.c.run_id == run_id, versions.c.produced.is_(True))).all()
                # Lacuna's own: a row whose signature holds (``trusted`` flipped on a claim's
                # row by hand must not make the claim undismissable, nor ``trusted`` cleared
                # by hand on Lacuna's own make it a claim a dismissal hides: only Lacuna signs)
                if any(_signed(r) and self._verifies(r, DatasetRef(r.namespace, r.name))
                       for r in rows):
                    msg = (f"lineage run {run_id} was recorded by Lacuna's own pipeline: its "
                           "classifications were computed from the data and are no claim to "
                           "dismiss. Correct the data or its declaration instead.")
                    raise NotDismissableError(msg)
                standing_rows = [r for r in rows if not r.dismissed]
                text = conn.execute(select(runs.c.provenance)
                                    .where(runs.c.id == run_id)).scalar_one()
                provenance = json.loads(text or "{}")
                if not standing_rows and (not rows or self._dismissal_holds(
                        conn, run_id, provenance)):
                    msg = (f"lineage run {run_id} has no claim left to dismiss: "
                           + ("it is already dismissed." if rows else
                              "it produced no dataset version (it did not succeed)."))
                    raise NotDismissableError(msg)
                # (a run marked dismissed whose dismissal does not hold here, copied from
                # another store or signed before dismissals named their store and not on this
                # trail, is dismissed again: signed for this store)
                mine = self.store_id(conn)
                if mine is None:
                    from lacuna.state.database_id import TABLE

                    msg = (f"cannot dismiss lineage run {run_id} in {self.where}: its state "
                           f"database has no id (the row of {TABLE} that dismissals name was "
                           "deleted), so it was tampered with. Nothing was dismissed; run "
                           "lacuna audit verify.")
                    raise LineageError(msg)
                conn.execute(update(versions).where(
                    versions.c.id.in_([r.id for r in standing_rows])).values(dismissed=True))
                # signed for this store: what takes back the raise this claim put into
                # Lacuna's own versions (lacuna.lineage.attribution); the ``dismissed`` flag
                # alone is not believed, nor a dismissal signed for another store
                provenance[attribution.DISMISSAL_KEY] = self.keyring.sign(
                    attribution.dismissal_payload(run_id, mine))
                provenance[attribution.DISMISSAL_STORE_KEY] = mine
                conn.execute(update(runs).where(runs.c.id == run_id).values(
                    provenance=json.dumps(provenance, sort_keys=True)))
                self._said.discard(run_id)
                if not standing_rows:  # dismissed again: the versions it took back then
                    standing_rows = [r for r in rows if r.dismissed]
        except SQLAlchemyError as exc:
            raise LineageError(self._explain(exc, "write to")) from exc
        self.generation = next(_GENERATIONS)  # what this process knows it holds changed
        _DISMISSALS[0] += 1
        return tuple(queries.to_version(r) for r in standing_rows)

    def column_edges(self, *, trusted: bool | None = None) -> builtins.list[ColumnEdge]:
        """Every recorded column edge, oldest first. With ``trusted=True``, only the edges of
        runs Lacuna's pipeline recorded, which produced the edge's target as a trusted version;
        ``False``: only the others (an ingested run's edges are, like its classifications, the
        sender's claim: ``masking: true`` is a word in a JSON document)."""
        try:
            with self._transaction(write=False) as conn:
                return queries.all_column_edges(conn, trusted, self._vouches)
        except SQLAlchemyError as exc:
            raise LineageError(self._explain(exc, "read")) from exc

    # -- graph queries -----------------------------------------------------------------------

    def upstream(self, dataset: DatasetRef, depth: int | None = None, *,
                 limit: int | None = None) -> LineageGraph:
        """Everything ``dataset`` was derived from, transitively, up to ``depth`` hops; with
        ``limit``, the nearest ``limit`` datasets (``truncated`` says when there are more)."""
        return self._walk(dataset, Direction.UPSTREAM, depth, limit)

    def upstream_of(self, datasets: Sequence[DatasetRef], *, limit: int | None = None
                    ) -> LineageGraph:
        """Everything the ``datasets`` were derived from, walked together: each at depth 0
        (the graph's ``root`` is the first), a few queries however many they are (one
        :meth:`upstream` each made a walk per dataset). With ``limit``, the nearest ``limit``
        datasets beyond them. Without column edges."""
        if not datasets:
            msg = "upstream_of needs at least one dataset."
            raise LineageError(msg)
        try:
            with self._transaction(write=False) as conn:
                return queries.walk_from(conn, datasets, Direction.UPSTREAM, limit,
                                         latest=self._nodes_latest)
        except SQLAlchemyError as exc:
            raise LineageError(self._explain(exc, "read")) from exc

    def downstream(self, dataset: DatasetRef, depth: int | None = None, *,
                   limit: int | None = None) -> LineageGraph:
        """Everything derived from ``dataset``, transitively, up to ``depth`` hops; with
        ``limit``, the nearest ``limit`` datasets (``truncated`` says when there are more)."""
        return self._walk(dataset, Direction.DOWNSTREAM, depth, limit)

    def _walk(self, dataset: DatasetRef, direction: Direction, depth: int | None,
              limit: int | None = None) -> LineageGraph:
        if depth is not None and depth < 0:
            msg = f"depth must be 0 or more (or None for no limit), not {depth}."
            raise LineageError(msg)
        if limit is not None and limit < 1:
            msg = f"limit must be 1 or more (or None for no limit), not {limit}."
            raise LineageError(msg)
        try:
            with self._transaction(write=False) as conn:
                return queries.walk(conn, dataset, direction, depth, limit,
                                    latest=self._nodes_latest)
        except SQLAlchemyError as exc:
            raise LineageError(self._explain(exc, "read")) from exc

    def _nodes_latest(self, conn: Connection, dataset_ids: builtins.list[int]
                      ) -> dict[int, DatasetVersion]:
        """The latest version of each of a graph's datasets (those that have one), as
        :meth:`latest` reads it (:meth:`_latest_rows`: Lacuna's own in the order they signed;
        a claim only when it says at least as much; a version deleted or marked by hand
        refused). A graph's nodes were each dataset's highest version id, of any trust: a
        PUBLIC row inserted by hand with the highest id made a PII dataset PUBLIC in
        ``impact`` (left out of it), ``path`` and the parents a read restores."""
        rows = self._latest_rows(conn, dataset_ids)
        by_row = self._versions(list(rows.values()), conn)
        return {did: by_row[int(row.id)] for did, row in rows.items()}

    def impact(self, dataset: DatasetRef, tag: str | None = None, *,
               personal_tags: Sequence[str] = PERSONAL_TAGS) -> builtins.list[DatasetVersion]:
        """Downstream datasets whose latest classification carries ``tag`` (e.g. ``"PII"``) or,
        by default, any personal data (a personal column or one of ``personal_tags``);
        nearest first, then by name."""
        return impacted(self.downstream(dataset), dataset, tag, personal_tags)

    def path(self, dataset: DatasetRef, tag: str) -> builtins.list[LineageEdge]:
        """The edges by which ``tag`` reached ``dataset``: every upstream edge whose both ends
        carry it and that leads to ``dataset`` through datasets carrying it, origins first.
        Empty when ``dataset`` does not carry the tag or it originated there."""
        wanted = tag.upper()
        graph = self.upstream(dataset)
        version = graph.nodes.get(dataset)
        if version is None or not _carries(version.classification, wanted):
            return []

        def carries(ref: DatasetRef) -> bool:
            v = graph.nodes.get(ref)
            return v is not None and _carries(v.classification, wanted)

        into: dict[DatasetRef, list[LineageEdge]] = {}  # one pass, not every edge per node
        for edge in graph.edges:
            into.setdefault(edge.child, []).append(edge)
        found: set[LineageEdge] = set()
        frontier, reached = [dataset], {dataset}
        while frontier:
            child = frontier.pop()
            for edge in into.get(child, ()):
                if carries(edge.parent):
                    found.add(edge)
                    if edge.parent not in reached:
                        reached.add(edge.parent)
                        frontier.append(edge.parent)
        return sorted(found, key=lambda e: (-graph.depths[e.parent], e))

    def completeness(self) -> Completeness:
        """The share of derived datasets whose every input is known.

        A dataset is *derived* when a recorded, succeeded run produced it; one only ever read is
        a *source* and is not counted (its inputs are outside every system Lacuna watches).
        A derived dataset is *complete* when the run that produced its latest version recorded
        at least one input and every input is known: named as a real dataset, not the
        placeholder ``DatasetRef.unknown()`` an integration records for data whose origin it
        could not name (a frame built in memory). Lineage of an input's own inputs is that
        input's completeness, not this one's. The PROPRIETARY figures count derived datasets
        whose latest classification is PROPRIETARY: each read as :meth:`latest` reads it
        (:meth:`_nodes_latest`, batched), so a row inserted or edited by hand does not lower it.

        Raises:
            LineageError: the store cannot be read, or a derived dataset's latest is refused
                as :meth:`latest` refuses it (a version deleted or marked by hand).
        """
        try:
            with self._transaction(write=False) as conn:
                return queries.completeness(conn, self._nodes_latest)
        except SQLAlchemyError as exc:
            raise LineageError(self._explain(exc, "read")) from exc

    def _read(self, stmt: Any, params: dict[str, Any] | None = None) -> builtins.list[Any]:
        try:
            with self._transaction(write=False) as conn:
                return list(conn.execute(stmt, params).all())
        except SQLAlchemyError as exc:
            raise LineageError(self._explain(exc, "read")) from exc

    # -- lifecycle ---------------------------------------------------------------------------

    @property
    def engine(self) -> Any:
        """The SQLAlchemy engine (for bulk loads in benchmarks and tests)."""
        return self._engine

    def close(self) -> None:
        """Release the database connections."""
        self._engine.dispose()

    def __enter__(self) -> LineageStore:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"LineageStore({self.where!r})"


def impacted(graph: LineageGraph, dataset: DatasetRef, tag: str | None,
             personal_tags: Sequence[str] = PERSONAL_TAGS) -> builtins.list[DatasetVersion]:
    """The datasets of a downstream ``graph`` of ``dataset`` (not ``dataset`` itself) whose
    latest classification carries ``tag`` or, without one, any personal data; nearest first,
    then by name (:meth:`LineageStore.impact`; the server walks a bounded graph and asks this)."""
    wanted = tag.upper() if tag else None
    hits = []
    for ref, version in graph.nodes.items():
        if ref == dataset or version is None:
            continue
        c = version.classification
        if (_carries(c, wanted) if wanted else _personal(c, personal_tags)):
            hits.append((graph.depths[ref], ref, version))
    return [v for _, _, v in sorted(hits, key=lambda h: (h[0], h[1]))]


def _carries(c: Classification, tag: str | None) -> bool:
    return tag is not None and (tag in c.tags or tag in c.table_tags)


def _personal(c: Classification, personal_tags: Sequence[str]) -> bool:
    wanted = {t.upper() for t in personal_tags}
    return bool(c.personal_columns) or any(t in wanted for t in (*c.tags, *c.table_tags))


def _replaceable(conn: Connection, run_id: str, *, trusted: bool) -> bool:
    """Whether a run ``run_id`` is recorded (and so is replaced), its row locked for this
    transaction; a :class:`RunDismissedError` when a steward dismissed it, a
    :class:`RunOwnedError` when Lacuna's pipeline recorded it and the new run is untrusted. Most
    runs are new: one indexed lookup instead of five deletes (the last of which scans run_io,
    and would make every export slower as the store grows)."""
    if conn.execute(_RUN_EXISTS, {"run_id": run_id}).first() is None:
        return False
    if not trusted and conn.execute(_RUN_TRUSTED, {"run_id": run_id}).first() is not None:
        msg = (f"run {run_id} was recorded by Lacuna's own pipeline: a run from outside it never "
               "replaces that record (use another runId)")
        raise RunOwnedError(msg)
    if conn.execute(_RUN_DISMISSED, {"run_id": run_id}).first() is not None:
        msg = (f"lineage run {run_id} was dismissed by a steward, so it is not recorded again "
               "under that id (the dismissal and what it claimed stay on record): send the run "
               "under a new runId; it is held to what the store knows like any claim")
        raise RunDismissedError(msg)
    return True


def _owned_by(conn: Connection, run_id: str, owner: str) -> None:
    row = conn.execute(select(runs.c.user_id).where(runs.c.id == run_id)).first()
    if row is not None and row.user_id != owner:
        msg = (f"run {run_id} was recorded by {row.user_id}; only its own user may record it "
               "again (use another runId)")
        raise RunOwnedError(msg)


def _validate(run: Run) -> None:
    if not isinstance(run, Run):
        msg = f"record() takes a lineage Run, not {type(run).__name__}."
        raise LineageError(msg)
    if not run.id or len(run.id) > 64:
        msg = f"run id {run.id!r} must be 1 to 64 characters (a uuid4 hex is 32)."
        raise LineageError(msg)
    if not run.operation:
        msg = f"run {run.id}: operation is empty; name it (e.g. 'export', 'register_lineage')."
        raise LineageError(msg)
    for version in (*run.inputs, *run.outputs):
        if not isinstance(version, DatasetVersion):
            msg = (f"run {run.id}: inputs and outputs must be DatasetVersion, not "
                   f"{type(version).__name__}.")
            raise LineageError(msg)
    outputs = {v.dataset for v in run.outputs}
    for edge in run.column_edges:
        if not isinstance(edge, ColumnEdge) or not isinstance(edge.kind, EdgeKind):
            msg = f"run {run.id}: column_edges must be ColumnEdge values with an EdgeKind."
            raise LineageError(msg)
        if edge.target not in outputs:  # kept here, it was left out of the run's OpenLineage
            # events (the columnLineage facet sits on the output it describes) without a word
            msg = (f"run {run.id}: the column edge {edge.source}.{edge.source_column!r} -> "
                   f"{edge.target}.{edge.target_column!r} leads into a dataset that is not one "
                   "of the run's outputs; add that dataset to the outputs, or drop the edge.")
            raise LineageError(msg)


def _run_row(run: Run, keyring: Keyring) -> dict[str, Any]:
    """A run's row, signed with ``keyring`` (:func:`run_payload`). Its code text and error are
    stored with secrets masked (:func:`lacuna.redact.redact_text`), whoever recorded it: a dbt
    model's compiled SQL holds what ``env_var()`` put into it (a connection string's
    password), a script registered with ``register_lineage`` its keys; the code hash stays the
    code's own."""
    from lacuna.redact import redact_text

    provenance: dict[str, Any] = {
        "libraries": [list(pair) for pair in run.libraries],
        "quality_checks": list(run.quality_checks),
        "extra": [[k, v] for k, v in run.extra],
    }
    if run.imported_from is not None:  # an ingested run: its user and producer are claims
        provenance["imported_from"] = run.imported_from
        if run.user_vouched:
            provenance["user_vouched"] = True
    row = {
        "id": run.id, "operation": run.operation, "status": run.status.value,
        "user_id": run.user_id, "role": run.role, "session": run.session,
        "started_at": iso(run.started_at),
        "ended_at": iso(run.ended_at) if run.ended_at else None,
        "purpose": run.purpose, "exception_id": run.exception_id, "method": run.method,
        "code_location": run.code_location, "code_hash": run.code_hash,
        "code_text": redact_text(run.code_text) if run.code_text else run.code_text,
        "decision_id": run.decision_id, "policy_id": run.policy_id,
        "error": redact_text(run.error) if run.error else run.error,
        "producer": run.producer,
    }
    try:
        provenance["signature"] = keyring.sign(run_payload(row, provenance))
        row["provenance"] = json.dumps(provenance, sort_keys=True)
    except (TypeError, ValueError) as exc:
        msg = f"run {run.id}: provenance is not JSON-serialisable ({exc})."
        raise LineageError(msg) from None
    return row


__all__ = ["PERSONAL_TAGS", "LineageStore"]
