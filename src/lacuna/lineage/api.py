"""Lineage as functions: ``register_lineage`` (the seed's API) and the store's queries, on the
current governor's state database.

``lineage/`` is a pipeline step: it never imports the governor. What these functions need from
"the current governor" (its settings, session, lineage store and a way to classify a file) is
the :class:`LineageHost` protocol, and the governor installs the provider of the current one
(:func:`install_host`, done by :mod:`lacuna.governor` when it is imported). Every function also
takes the store or host explicitly, for callers that hold their own.

Example:
    >>> import lacuna
    >>> from lacuna.lineage import upstream
    >>> from pathlib import Path
    >>> _ = Path("raw_data.csv").write_text("customer_id,email\\n1,a@example.com\\n")
    >>> run = lacuna.register_lineage(source=["raw_data.csv"], destination="processed_data.csv",
    ...                               operation="custom_transformation", code="df.dropna()")
    >>> run.outputs[0].classification.tier
    <Tier.PROPRIETARY: 'PROPRIETARY'>
    >>> [d.name.rsplit("/", 1)[-1] for d in upstream("processed_data.csv").nodes]
    ['processed_data.csv', 'raw_data.csv']
"""

from __future__ import annotations

import hashlib
import os
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from lacuna._version import lacuna_version
from lacuna.errors import LacunaError, LineageError
from lacuna.lineage.graph import Completeness, LineageEdge, LineageGraph
from lacuna.lineage.recording import file_fingerprint
from lacuna.lineage.records import (
    ColumnEdge,
    DatasetRef,
    DatasetVersion,
    EdgeKind,
    Run,
    RunStatus,
)
from lacuna.lineage.store import LineageStore
from lacuna.model import utcnow
from lacuna.redact import redact_text

if TYPE_CHECKING:
    from lacuna.audit.store import AuditStore
    from lacuna.config import Config
    from lacuna.model import Classification

Target = str | os.PathLike[str] | DatasetRef
CODE_TEXT_LIMIT = 64 * 1024  # keep the code's text when it is at most this many characters

MAX_OPEN_STORES = 8
_stores: dict[str, LineageStore] = {}
_lock = threading.Lock()


def store_exists(url: str) -> bool:
    """Whether a store at ``url`` may hold anything: open already, a server database, or an
    SQLite file that exists (looking never creates one)."""
    from lacuna.audit.schema import parse_url, sqlite_file

    if url in _stores:
        return True
    try:
        file = sqlite_file(parse_url(url))
    except Exception:
        return True  # let opening it report the problem
    return file is None or os.path.exists(file)


def store_at(url: str) -> LineageStore:
    """The lineage store at ``url``, opened once per process. The most recently used
    ``MAX_OPEN_STORES`` stay open; an older one has its connections released (it reopens them
    if still used): a process that visits many state databases keeps few files open."""
    with _lock:
        found = _stores.pop(url, None)
        if found is None:
            found = LineageStore(url)
        _stores[url] = found  # most recently used last
        while len(_stores) > MAX_OPEN_STORES:
            _stores.pop(next(iter(_stores))).close()
        return found


class LineageHost(Protocol):
    """What lineage needs from the governor that owns it (``lacuna.Governor`` is one)."""

    config: Config
    session: str

    @property
    def lineage_store(self) -> LineageStore: ...

    @property
    def audit(self) -> AuditStore: ...

    def classify_source(
        self, name: str | None, frame: Any
    ) -> tuple[Classification, tuple[str, ...]]: ...


_host: Callable[[], LineageHost] | None = None


def install_host(provider: Callable[[], LineageHost]) -> None:
    """Set how these functions find the current host (the governor installs its ``current``)."""
    global _host
    _host = provider


def current_host() -> LineageHost:
    """The current governor, as lineage sees it.

    Raises:
        LineageError: no governor installed itself (``lacuna`` was not imported).
    """
    if _host is None:
        msg = ("no governor is installed for lineage: import lacuna (which installs it) or pass "
               "the store explicitly.")
        raise LineageError(msg)
    return _host()


def current_store() -> LineageStore:
    """The lineage store of the current governor (its ``audit.url``)."""
    return current_host().lineage_store


def as_ref(target: Target) -> DatasetRef:
    """A ``DatasetRef`` for a path, URI, ``<database URL>#<table>`` or a ref itself."""
    if isinstance(target, DatasetRef):
        return target
    if not isinstance(target, str | os.PathLike) or not os.fspath(target).strip():
        msg = (f"a dataset is a path, URI or DatasetRef, not {target!r}: e.g. 'raw_data.csv', "
               "'s3://bucket/key' or 'postgresql://host/db#table'.")
        raise LineageError(msg)
    try:
        return DatasetRef.of(target)
    except ValueError as exc:  # a URL Python cannot split: a port that is not a number, ...
        msg = (f"dataset {os.fspath(target)!r} is not a URL Lacuna can read ({exc}): e.g. "
               "'s3://bucket/key' or 'postgresql://host:5432/db#table'.")
        raise LineageError(msg) from None


def upstream(dataset: Target, depth: int | None = None, *,
             limit: int | None = None) -> LineageGraph:
    """What ``dataset`` was derived from, transitively (``depth`` hops at most; the nearest
    ``limit`` datasets at most, ``truncated`` when there are more)."""
    return current_store().upstream(as_ref(dataset), depth, limit=limit)


def downstream(dataset: Target, depth: int | None = None, *,
               limit: int | None = None) -> LineageGraph:
    """What was derived from ``dataset``, transitively (``depth`` hops at most; the nearest
    ``limit`` datasets at most, ``truncated`` when there are more)."""
    return current_store().downstream(as_ref(dataset), depth, limit=limit)


def impact(dataset: Target, tag: str | None = None) -> list[DatasetVersion]:
    """Downstream datasets carrying ``tag``, or any personal data by default."""
    host = current_host()
    personal = host.config.classification.personal_tags
    return host.lineage_store.impact(as_ref(dataset), tag, personal_tags=personal)


def path(dataset: Target, tag: str) -> list[LineageEdge]:
    """The edges by which ``tag`` reached ``dataset``, origins first."""
    return current_store().path(as_ref(dataset), tag)


def version_at(dataset: Target, when: datetime) -> DatasetVersion | None:
    """What ``dataset`` looked like at ``when``, read as its latest is (see
    :meth:`LineageStore.version_at`): the answer's ``verified`` says whether it is a version
    of Lacuna's own (True) or a claim saying at least as much (False)."""
    return current_store().version_at(as_ref(dataset), when)


def completeness() -> Completeness:
    """The share of derived datasets whose every input is known (see
    ``LineageStore.completeness``)."""
    return current_store().completeness()


# -- register_lineage --------------------------------------------------------------------------


def register_lineage(
    source: Target | Sequence[Target],
    destination: Target,
    operation: str,
    code: str | None = None,
    columns: Mapping[str, str | tuple[Target, str] | Sequence[tuple[Target, str]]] | None = None,
    *,
    host: LineageHost | None = None,
) -> Run:
    """Record that ``destination`` was made from ``source`` by ``operation`` (the seed's API).

    The destination's stored classification inherits the sources': the most restrictive tier,
    the union of tags, the stricter class per column (:func:`lacuna.lineage.rules.combine`).
    The run is the caller's claim, so it is stored untrusted: a later read of the destination
    takes the inherited classification as a floor over what its own content shows (only
    raises), never as a declaration that lowers it.
    A source's classification is the one Lacuna's pipeline recorded for it in the lineage
    store, else the file is read and classified; a classification ingested from outside
    (OpenLineage) only raises it (:mod:`lacuna.lineage.claims`). A source Lacuna can neither
    find in the store nor read makes the call fail: the destination's classification would be
    a guess.

    Args:
        source: one source or a list: paths, URIs, ``<database URL>#<table>`` or DatasetRefs.
        destination: the dataset produced.
        operation: what was done, e.g. ``"custom_transformation"``.
        code: the code that did it; its SHA-256 is kept, and its text when at most 64 KiB.
        columns: destination column -> the source column it came from. With one source, a
            column name; with several, ``(source, column)`` or a list of those pairs.
        host: the governor to record with; by default the current one.

    Returns:
        The recorded run (its outputs carry the destination's inherited classification).

    Raises:
        LineageError: a malformed argument or a source whose classification is unknown.
    """
    from lacuna.lineage.rules import combine

    sources = _sources(source)
    target = as_ref(destination)
    if not isinstance(operation, str) or not operation.strip():
        msg = "operation must be a non-empty string naming what was done, e.g. 'deduplicate'."
        raise LineageError(msg)
    if code is not None and not isinstance(code, str):
        msg = f"code must be the code's text (a str), not {type(code).__name__}."
        raise LineageError(msg)
    if target in sources:
        msg = f"destination {target} is also a source: lineage cannot loop onto itself."
        raise LineageError(msg)
    gov = host if host is not None else current_host()
    lineage = gov.lineage_store
    inputs = tuple(_source_version(gov, lineage, ref) for ref in sources)
    edges = _column_edges(columns, sources, target)
    mapped = _mapped_columns(edges, inputs, gov) if edges else None
    inherited = combine([v.classification for v in inputs], gov.config.classification,
                        columns=mapped, names=[str(v.dataset) for v in inputs])
    out_columns = tuple(dict.fromkeys(e.target_column for e in edges))
    output = DatasetVersion(dataset=target, classification=_as_stored(inherited),
                            fingerprint=file_fingerprint(target), columns=out_columns)
    started = utcnow()
    run = Run(
        id=uuid.uuid4().hex, operation=operation.strip(), status=RunStatus.SUCCEEDED,
        inputs=inputs, outputs=(output,), column_edges=edges,
        user_id=gov.config.user.id, role=gov.config.user.role, session=gov.session,
        started_at=started, ended_at=utcnow(), purpose=gov.config.purpose,
        method="lacuna.register_lineage",
        code_hash=hashlib.sha256(code.encode()).hexdigest() if code is not None else None,
        # kept and sent on (OpenLineage) as text: a password in a connection string or a
        # key in the script is masked there (the hash is the code's own)
        code_text=redact_text(code) if code is not None and len(code) <= CODE_TEXT_LIMIT
        else None,
        libraries=(("lacuna", lacuna_version()),),
    )
    # The caller's word, not a run Lacuna watched: which sources a file came from is a claim
    # (name a public file as the source of a copy of customers.csv, and a trusted version
    # would restore the copy as PUBLIC). Stored untrusted, the inherited class only raises
    # what the destination's own content shows when it is read (lacuna.lineage.claims).
    from lacuna.lineage.ol_emit import after_run_recorded, pending

    lineage.record(run, trusted=False, **pending(lineage, gov.config))
    after_run_recorded(run, gov.config, lineage)  # OpenLineage out; never raises
    return run


def _sources(source: Target | Sequence[Target]) -> tuple[DatasetRef, ...]:
    items = [source] if isinstance(source, str | os.PathLike | DatasetRef) else source
    if not isinstance(items, Sequence) or not items:
        msg = ("source must name at least one dataset: a path or URI, or a list of them, e.g. "
               "source=['raw_data.csv'].")
        raise LineageError(msg)
    return tuple(dict.fromkeys(as_ref(item) for item in items))


def _source_version(gov: LineageHost, lineage: LineageStore, ref: DatasetRef) -> DatasetVersion:
    """A source's classification: the version Lacuna's pipeline recorded for it (this content,
    else the dataset's latest; for a file, one recorded without a fingerprint only raises what
    the file is classified as now; for a remote source, one a run read only raises the newest
    one a run wrote, and alone is refused: it may be a part), else the file classified now;
    raised by anything ingested from outside for the same content or dataset, which may only
    add restrictions
    (:mod:`lacuna.lineage.claims`). Only an ingested claim known: it stands (nothing else is
    known to lower)."""
    fp = file_fingerprint(ref)
    own = _stored_version(lineage, ref, fp, trusted=True)
    loose: DatasetVersion | None = None
    if own is not None and fp is not None and own.fingerprint is None:
        # Not known to be this content: a run's input version is what it read, some columns
        # of the file when it read some (pd.read_csv(usecols=["region"])). Taken as the file's
        # class, customers.csv was registered PUBLIC, and so was its copy (and sent on so).
        # The file is classified now; what the store said only raises it.
        own, loose = None, own
    elif own is not None and fp is None:
        # No content to compare (a remote source): the newest version a run wrote is the
        # dataset as a whole; one a run read (pd.read_csv("s3://…", usecols=["region"]), its
        # state when nothing was known before) only raises it. Taken as the source's class, a
        # read of some columns registered a copy of the whole customer file as PUBLIC.
        written = lineage.latest_written(ref)
        if written != own:
            own, loose = written, own
    claimed = _stored_version(lineage, ref, fp, trusted=False)
    base: DatasetVersion | None = None
    if own is not None:
        base = DatasetVersion(dataset=ref, classification=own.classification,
                              fingerprint=fp or own.fingerprint, columns=own.columns)
    elif ref.namespace == "file" and os.path.isfile(ref.name):
        classification, columns = _classify_file(gov, ref.name)
        base = DatasetVersion(dataset=ref, classification=_as_stored(classification),
                              fingerprint=fp, columns=columns)
    elif claimed is not None:  # only an ingested claim known: it stands, raised by the rest
        base = DatasetVersion(dataset=ref, classification=claimed.classification,
                              fingerprint=fp or claimed.fingerprint, columns=claimed.columns)
        claimed = None
    for other in (loose, claimed):
        if base is not None and other is not None:
            from lacuna.lineage.claims import at_least

            raised, _ = at_least(base.classification, other.classification,
                                 gov.config.classification, what=str(ref))
            base = DatasetVersion(dataset=ref, classification=_as_stored(raised),
                                  fingerprint=base.fingerprint, columns=base.columns)
    if base is not None:
        return base
    if loose is not None:
        msg = (f"source {ref} is known to Lacuna only from what runs read of it, which may be "
               "some of its columns or rows (usecols=, nrows=, skiprows=, a chunk): not a "
               "classification of the whole dataset. Write it through Lacuna, or register the "
               "lineage that produced it, then call again.")
        raise LineageError(msg)
    msg = (f"source {ref} has no classification Lacuna knows: it is not in the lineage store "
           "and is not a readable file. Read it through Lacuna first (e.g. pd.read_csv with "
           "lacuna enabled) or register the lineage that produced it, then call again.")
    raise LineageError(msg)


def _stored_version(lineage: LineageStore, ref: DatasetRef, fp: str | None, *,
                    trusted: bool) -> DatasetVersion | None:
    """The newest version of this content (when it is this dataset's), else the dataset's
    latest when its content is unknown or the same; only versions as ``trusted``."""
    stored = lineage.by_fingerprint(fp, trusted=trusted) if fp else None
    if stored is None or stored.dataset != ref:
        stored = lineage.latest(ref, trusted=trusted)
    if stored is not None and (fp is None or stored.fingerprint in (None, fp)):
        return stored
    return None


def _classify_file(gov: LineageHost, name: str) -> tuple[Classification, tuple[str, ...]]:
    from lacuna import _bypass
    from lacuna.classify.readers import read_sample

    try:
        with _bypass.bypass():
            frame = read_sample(name, gov.config.classification.sample_rows)
        classification, _ = gov.classify_source(name, frame)
    except LacunaError as exc:
        msg = f"source {name} could not be classified ({exc}); fix it, then register again."
        raise LineageError(msg) from exc
    return classification, tuple(str(c) for c in frame.columns)


def _column_edges(columns: Mapping[str, Any] | None, sources: tuple[DatasetRef, ...],
                  target: DatasetRef) -> tuple[ColumnEdge, ...]:
    if columns is None:
        return ()
    if not isinstance(columns, Mapping):
        msg = "columns must map each destination column to its source column(s)."
        raise LineageError(msg)
    out: list[ColumnEdge] = []
    for dest, spec in columns.items():
        if not isinstance(dest, str) or not dest:
            msg = f"columns: destination column names must be non-empty strings, not {dest!r}."
            raise LineageError(msg)
        pairs = _pairs(dest, spec, sources)
        for ref, col in pairs:
            kind = EdgeKind.IDENTITY if col == dest else EdgeKind.TRANSFORMATION
            out.append(ColumnEdge(source=ref, source_column=col, target=target,
                                  target_column=dest, kind=kind))
    return tuple(out)


def _pairs(dest: str, spec: Any, sources: tuple[DatasetRef, ...]) -> list[tuple[DatasetRef, str]]:
    if isinstance(spec, str):
        if len(sources) != 1:
            msg = (f"columns[{dest!r}] = {spec!r} is ambiguous with {len(sources)} sources: "
                   f"write ({str(sources[0])!r}, {spec!r}) to say which source it comes from.")
            raise LineageError(msg)
        return [(sources[0], spec)]
    items = [spec] if isinstance(spec, tuple) and len(spec) == 2 and isinstance(spec[1], str) \
        else list(spec) if isinstance(spec, Sequence) else None
    pairs: list[tuple[DatasetRef, str]] = []
    for item in items or [None]:
        if not (isinstance(item, tuple) and len(item) == 2 and isinstance(item[1], str)):
            msg = (f"columns[{dest!r}] must be a source column name, a (source, column) pair "
                   f"or a list of pairs, not {spec!r}.")
            raise LineageError(msg)
        ref = as_ref(item[0])
        if ref not in sources:
            msg = f"columns[{dest!r}] names {ref}, which is not one of the sources."
            raise LineageError(msg)
        pairs.append((ref, item[1]))
    return pairs


def _mapped_columns(edges: tuple[ColumnEdge, ...], inputs: tuple[DatasetVersion, ...],
                    gov: LineageHost) -> dict[str, Any]:
    """Destination column -> the stricter class of the source columns it came from; a source
    column Lacuna has not classified makes the destination inherit every parent column."""
    from lacuna.lineage.rules import combine

    by_ref = {v.dataset: v.classification for v in inputs}
    mapped: dict[str, Any] = {}
    for edge in edges:
        col = by_ref[edge.source].columns.get(edge.source_column)
        if col is None and by_ref[edge.source].columns:
            msg = (f"columns[{edge.target_column!r}]: source {edge.source} has no column "
                   f"{edge.source_column!r} (it has {', '.join(by_ref[edge.source].columns)}).")
            raise LineageError(msg)
        if col is not None:
            pair = combine([_single(mapped.get(edge.target_column)), _single(col)],
                           gov.config.classification) if edge.target_column in mapped else None
            mapped[edge.target_column] = (pair.columns["_"] if pair is not None else col)
    return mapped


def _as_stored(c: Classification) -> Classification:
    """``c`` as the store gives it back (its JSON form), so the returned run equals the stored."""
    from lacuna.model import Classification, Layer

    return Classification.from_dict(c.to_dict(), layer=Layer.INHERITED)


def _single(col: Any) -> Classification:
    from lacuna.model import Classification

    return Classification(columns={"_": col})


