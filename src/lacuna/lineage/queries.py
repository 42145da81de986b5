"""The lineage store's SQL: graph walks, row ↔ record conversion, completeness.

A walk without a depth limit is one recursive CTE over ``lacuna_lineage_edges`` that carries
only the dataset id: ``UNION`` (not ``UNION ALL``) drops rows already found, so each dataset is
expanded once and a cycle ends the recursion instead of looping. A walk with a depth limit goes
breadth first, one indexed query per hop over the frontier of datasets not seen before: a
recursive CTE would have to carry the hop count, and then keeps one row per (dataset, hop
count) pair, expanding a dataset reached by paths of several lengths once per length (on a
wide DAG about ten times the work). Both SQLite and PostgreSQL run the same statements.
"""

from __future__ import annotations

import functools
import json
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Select, Table, func, literal, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import aliased

from lacuna.lineage import attribution
from lacuna.lineage.graph import Completeness, Direction, LineageEdge, LineageGraph
from lacuna.lineage.records import (
    UNKNOWN_NAMESPACE,
    ColumnEdge,
    DatasetRef,
    DatasetVersion,
    EdgeKind,
    Run,
    RunStatus,
)
from lacuna.lineage.schema import column_edges, datasets, edges, run_io, standing, versions
from lacuna.model import Classification, Layer, Tier

CHUNK = 500


def insert_ignore(conn: Connection, table: Table) -> Any:
    """``INSERT ... ON CONFLICT DO NOTHING`` in the connection's dialect."""
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing()
    return sqlite.insert(table).on_conflict_do_nothing()


def version_select() -> Select[Any]:
    return select(versions, datasets.c.namespace, datasets.c.name).join(
        datasets, datasets.c.id == versions.c.dataset_id)


def versions_of(dataset: DatasetRef) -> Select[Any]:
    """The standing versions of one dataset (order and limit are the caller's)."""
    return version_select().where(
        datasets.c.namespace == dataset.namespace, datasets.c.name == dataset.name,
        standing())


@functools.lru_cache(maxsize=4096)
def _classification(text: str) -> Classification:
    # Classifications are immutable and many versions share one: parse each text once.
    return Classification.from_dict(json.loads(text), layer=Layer.INHERITED)


@functools.lru_cache(maxsize=4096)
def _columns(text: str) -> tuple[str, ...]:
    return tuple(json.loads(text))


def to_version(row: Any) -> DatasetVersion:
    return DatasetVersion(
        dataset=DatasetRef(row.namespace, row.name),
        classification=_classification(row.classification),
        fingerprint=row.fingerprint,
        columns=_columns(row.columns),
    )


def _time(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


# What a store says of how a run reached it, from the run row, its provenance JSON and its
# input and output version rows: (imported_from, user_vouched, origin_unknown), the fields of
# :class:`Run` (:meth:`lacuna.lineage.store.LineageStore._origin` checks their signatures).
RunOrigin = Callable[[Any, dict[str, Any], Sequence[Any]], tuple[str | None, bool, bool]]


def load_run(conn: Connection, row: Any, origin: RunOrigin) -> Run:
    """A stored run with its inputs, outputs and column edges, as it was recorded; whether it
    was ingested is what ``origin`` vouches for, never the provenance JSON taken as it is."""
    io_rows = conn.execute(
        version_select().add_columns(run_io.c.direction, run_io.c.position)
        .join(run_io, run_io.c.version_id == versions.c.id)
        .where(run_io.c.run_id == row.id).order_by(run_io.c.direction, run_io.c.position)
    ).all()
    src, tgt = datasets.alias("src"), datasets.alias("tgt")
    ce_rows = conn.execute(
        select(column_edges, src.c.namespace.label("sn"), src.c.name.label("sname"),
               tgt.c.namespace.label("tn"), tgt.c.name.label("tname"))
        .join(src, src.c.id == column_edges.c.source_id)
        .join(tgt, tgt.c.id == column_edges.c.target_id)
        .where(column_edges.c.run_id == row.id).order_by(column_edges.c.id)
    ).all()
    provenance = json.loads(row.provenance)
    if not isinstance(provenance, dict):
        provenance = {}
    imported_from, user_vouched, unknown = origin(row, provenance, io_rows)
    return Run(
        id=row.id, operation=row.operation, status=RunStatus(row.status),
        inputs=tuple(to_version(r) for r in io_rows if r.direction == "in"),
        outputs=tuple(to_version(r) for r in io_rows if r.direction == "out"),
        column_edges=tuple(ColumnEdge(
            source=DatasetRef(r.sn, r.sname), source_column=r.source_column,
            target=DatasetRef(r.tn, r.tname), target_column=r.target_column,
            kind=EdgeKind(r.kind), description=r.description) for r in ce_rows),
        user_id=row.user_id, role=row.role, session=row.session,
        started_at=_time(row.started_at) or datetime.min, ended_at=_time(row.ended_at),
        purpose=row.purpose, exception_id=row.exception_id, method=row.method,
        code_location=row.code_location, code_hash=row.code_hash, code_text=row.code_text,
        libraries=tuple((str(a), str(b)) for a, b in provenance.get("libraries", ())),
        quality_checks=tuple(provenance.get("quality_checks", ())),
        decision_id=row.decision_id, policy_id=row.policy_id, error=row.error,
        producer=row.producer, extra=tuple((str(k), v) for k, v in provenance.get("extra", ())),
        imported_from=imported_from, user_vouched=user_vouched, origin_unknown=unknown,
    )


def _dataset_id(conn: Connection, ref: DatasetRef) -> int | None:
    found = conn.execute(select(datasets.c.id).where(
        datasets.c.namespace == ref.namespace, datasets.c.name == ref.name)).scalar()
    return int(found) if found is not None else None


def walked_edges(conn: Connection, start: int, direction: Direction,
                 depth: int | None) -> list[tuple[int, int, str]]:
    """(parent id, child id, run id) of every edge walked from ``start``: one recursive CTE."""
    near, far = ((edges.c.child_id, edges.c.parent_id) if direction is Direction.UPSTREAM
                 else (edges.c.parent_id, edges.c.child_id))
    if depth is None:
        seed = select(literal(start).label("id")).cte("reach", recursive=True)
        step = select(far).join(seed, near == seed.c.id)
        reach = seed.union(step)
        frontier = select(reach.c.id)
    else:
        seed = select(literal(start).label("id"), literal(0).label("hops")).cte(
            "reach", recursive=True)
        step = select(far, seed.c.hops + 1).join(seed, near == seed.c.id).where(
            seed.c.hops < depth)
        reach = seed.union(step)
        frontier = select(reach.c.id).where(reach.c.hops < depth)
    walked = frontier.distinct().subquery("walked")
    stmt = select(edges.c.parent_id, edges.c.child_id, edges.c.run_id).join_from(
        walked, edges, near == walked.c.id)
    return [(int(p), int(c), str(r)) for p, c, r in conn.execute(stmt).all()]


UNBOUNDED_HOPS = 1_000_000  # "no depth limit" for the breadth-first walk (a limit stops it)


def walk_levels(conn: Connection, start: int | Iterable[int], direction: Direction, depth: int,
                limit: int | None = None) -> tuple[list[tuple[int, int, str]], dict[int, int]]:
    """Breadth first, ``depth`` hops at most: the (parent id, child id, run id) of every edge
    walked (the edges of each dataset less than ``depth`` hops away) and each reached
    dataset's hop count. One indexed query per hop (per 500 datasets of its frontier). With
    ``limit``, at most that many datasets (the nearest first; an edge to one left out is left
    out too): the walk stops when it is reached. ``start``: one dataset id or several, each
    at hop 0 (walked together)."""
    upstream = direction is Direction.UPSTREAM
    near, far = ("child_id", "parent_id") if upstream else ("parent_id", "child_id")
    # Integer ids from this database, formatted by int(): one plain statement per chunk, without
    # compiling an expanding IN clause for every hop.
    head = f"SELECT {near}, {far}, run_id FROM {edges.name} WHERE {near} IN ("
    frontier = [start] if isinstance(start, int) else list(dict.fromkeys(start))
    hops = dict.fromkeys(frontier, 0)
    found: list[tuple[int, int, str]] = []
    for hop in range(1, depth + 1):
        nxt: list[int] = []
        for chunk in _chunks(frontier):
            sql = head + ",".join(str(int(i)) for i in chunk) + ")"
            for a, b, r in conn.exec_driver_sql(sql).all():
                if b not in hops:
                    if limit is not None and len(hops) >= limit:
                        continue  # a dataset beyond the limit, and its edge
                    hops[b] = hop
                    nxt.append(b)
                found.append((int(b), int(a), str(r)) if upstream else (int(a), int(b), str(r)))
        if not nxt or (limit is not None and len(hops) >= limit):
            break
        frontier = nxt
    return found, hops


Latest = Callable[[Connection, list[int]], dict[int, DatasetVersion]]


def walk(conn: Connection, dataset: DatasetRef, direction: Direction,
         depth: int | None, limit: int | None = None, *,
         resolve: Callable[[Any, Connection], DatasetVersion] | None = None,
         latest: Latest | None = None) -> LineageGraph:
    """The graph walked from ``dataset``; ``resolve(row, conn)``: a node's latest version row
    (with ``trusted``, ``run_id``, ``produced``) as what the store knows, for the rows that
    carry an attribution (``LineageStore._version``); ``latest(conn, ids)``: instead, the
    latest version of each of those dataset ids (those it has), as the store reads it."""
    start = _dataset_id(conn, dataset)
    if start is None:
        return LineageGraph(root=dataset, direction=direction, nodes={dataset: None},
                            depths={dataset: 0})
    truncated = False
    if limit is not None:  # breadth first, so the nearest datasets are the ones kept
        found, hops = walk_levels(conn, start, direction,
                                  UNBOUNDED_HOPS if depth is None else depth, limit + 1)
        if len(hops) > limit:  # one more was reachable: drop it, say so
            extra = max(hops, key=lambda i: (hops[i], i))
            del hops[extra]
            found = [e for e in found if extra not in e[:2]]
            truncated = True
    elif depth is None:
        found = walked_edges(conn, start, direction, depth)
        hops = _hops(start, found, direction)
    else:
        found, hops = walk_levels(conn, start, direction, depth)
    return _graph(conn, dataset, direction, found, hops, resolve, truncated=truncated,
                  latest=latest)


def walk_from(conn: Connection, starts: Sequence[DatasetRef], direction: Direction,
              limit: int | None = None, *,
              resolve: Callable[[Any, Connection], DatasetVersion] | None = None,
              latest: Latest | None = None) -> LineageGraph:
    """The graph walked from several datasets together, each at depth 0 (``root`` is the
    first): one breadth-first walk, a query per hop per 500 datasets of its frontier, where a
    walk each made one per dataset (a run of 10,000 inputs: 10,000 walks). With ``limit``, at
    most that many datasets beyond ``starts`` (the nearest first). No column edges. A start
    the store does not know is a node without a version."""
    wanted = list(dict.fromkeys(starts))
    ids: dict[DatasetRef, int] = {}
    for chunk in _chunks(wanted):
        for namespace in {r.namespace for r in chunk}:
            names = [r.name for r in chunk if r.namespace == namespace]
            for row in conn.execute(select(datasets.c.id, datasets.c.name).where(
                    datasets.c.namespace == namespace, datasets.c.name.in_(names))):
                ids[DatasetRef(namespace, row.name)] = int(row.id)
    known = [ids[r] for r in wanted if r in ids]
    found, hops = walk_levels(conn, known, direction, UNBOUNDED_HOPS,
                              None if limit is None else len(known) + limit)
    graph = _graph(conn, wanted[0], direction, found, hops, resolve, columns=False,
                   latest=latest)
    unknown = {r: None for r in wanted if r not in ids}
    if not unknown:
        return graph
    return replace(graph, nodes={**unknown, **graph.nodes},
                   depths={**dict.fromkeys(unknown, 0), **graph.depths})


def _graph(conn: Connection, root: DatasetRef, direction: Direction,
           found: list[tuple[int, int, str]], hops: dict[int, int],
           resolve: Callable[[Any, Connection], DatasetVersion] | None, *,
           truncated: bool = False, columns: bool = True, latest: Latest | None = None
           ) -> LineageGraph:
    """The graph of the walked edges ``found`` and the reached datasets' ``hops``."""
    if latest is not None:
        refs, versions_of_ids = _refs(conn, hops), latest(conn, list(hops))
    else:
        refs, versions_of_ids = _nodes(conn, hops, resolve)
    # Sort by rank (datasets in (namespace, name) order), not by building tuples of strings.
    rank = {i: n for n, i in enumerate(sorted(hops, key=lambda i: (refs[i].namespace,
                                                                   refs[i].name)))}
    nodes = {refs[i]: versions_of_ids.get(i)
             for i in sorted(hops, key=lambda i: (hops[i], rank[i]))}
    found.sort(key=lambda e: (rank[e[0]], rank[e[1]], e[2]))
    run_ids = {r for _, _, r in found}
    return LineageGraph(
        root=root, direction=direction, nodes=nodes,
        depths={refs[i]: h for i, h in hops.items()},
        edges=tuple(LineageEdge(refs[p], refs[c], r) for p, c, r in found),
        column_edges=(_column_edges(conn, run_ids, set(hops), direction) if columns else ()),
        truncated=truncated,
    )


def _hops(start: int, found: list[tuple[int, int, str]], direction: Direction) -> dict[int, int]:
    nexts: dict[int, list[int]] = {}
    for p, c, _ in found:
        a, b = (c, p) if direction is Direction.UPSTREAM else (p, c)
        nexts.setdefault(a, []).append(b)
    hops, queue = {start: 0}, deque([start])
    while queue:
        node = queue.popleft()
        for nxt in nexts.get(node, ()):
            if nxt not in hops:
                hops[nxt] = hops[node] + 1
                queue.append(nxt)
    return hops


def _chunks(ids: Iterable[Any]) -> Iterable[list[Any]]:
    items = list(ids)
    for i in range(0, len(items), CHUNK):
        yield items[i:i + CHUNK]


def _refs(conn: Connection, ids: Iterable[int]) -> dict[int, DatasetRef]:
    out: dict[int, DatasetRef] = {}
    for chunk in _chunks(ids):
        for row in conn.execute(select(datasets).where(datasets.c.id.in_(chunk))):
            out[int(row.id)] = DatasetRef(row.namespace, row.name)
    return out


def _nodes(conn: Connection, ids: Iterable[int],
           resolve: Callable[[Any, Connection], DatasetVersion] | None = None,
           ) -> tuple[dict[int, DatasetRef], dict[int, DatasetVersion]]:
    """Each dataset id's reference and its latest produced version (when it has one): one
    query per 500 ids."""
    refs: dict[int, DatasetRef] = {}
    latest: dict[int, DatasetVersion] = {}
    newest = (select(func.max(versions.c.id))
              .where(versions.c.dataset_id == datasets.c.id, standing())
              .correlate(datasets).scalar_subquery())
    for chunk in _chunks(ids):
        stmt = (select(datasets.c.id.label("did"), datasets.c.namespace, datasets.c.name,
                       versions.c.id.label("vid"), versions.c.fingerprint,
                       versions.c.classification, versions.c.columns, versions.c.run_id,
                       versions.c.trusted, versions.c.produced)
                .select_from(datasets.outerjoin(versions, versions.c.id == newest))
                .where(datasets.c.id.in_(chunk)))
        for row in conn.execute(stmt).all():
            ref = refs[int(row.did)] = DatasetRef(row.namespace, row.name)
            if row.vid is not None and resolve is not None and row.trusted and (
                    attribution.KEY in row.classification):
                latest[int(row.did)] = resolve(row, conn)
            elif row.vid is not None:
                latest[int(row.did)] = DatasetVersion(
                    dataset=ref, classification=_classification(row.classification),
                    fingerprint=row.fingerprint, columns=_columns(row.columns))
    return refs, latest


def all_column_edges(
    conn: Connection, trusted: bool | None,
    vouches: Callable[[Any, list[tuple[str, ...]]], bool] | None = None,
) -> list[ColumnEdge]:
    """Every column edge, oldest first; ``trusted``: see ``LineageStore.column_edges``, where
    a run vouches for its edges into a target when it produced the target as a trusted
    version and ``vouches(version, edges)`` (a row of :func:`version_select`, and the edges
    as ``[source namespace, source name, source column, target column, kind, description]``:
    the version's signatures hold for exactly these)."""
    src, tgt = aliased(datasets, name="src"), aliased(datasets, name="tgt")
    stmt = (select(column_edges, src.c.namespace.label("sn"), src.c.name.label("sname"),
                   tgt.c.namespace.label("tn"), tgt.c.name.label("tname"))
            .join(src, src.c.id == column_edges.c.source_id)
            .join(tgt, tgt.c.id == column_edges.c.target_id))
    rows = conn.execute(stmt.order_by(column_edges.c.id)).all()
    if trusted is not None:
        groups: dict[tuple[str, int], list[tuple[str, ...]]] = {}
        for r in rows:
            groups.setdefault((str(r.run_id), int(r.target_id)), []).append(
                (r.sn, r.sname, r.source_column, r.target_column, r.kind, r.description))
        vouched: set[tuple[str, int]] = set()
        for chunk in _chunks(sorted({run for run, _ in groups})):
            for v in conn.execute(version_select().where(
                    versions.c.run_id.in_(chunk), versions.c.produced.is_(True),
                    versions.c.trusted.is_(True))).all():
                key = (str(v.run_id), int(v.dataset_id))
                if key in groups and (vouches is None or vouches(v, groups[key])):
                    vouched.add(key)
        rows = [r for r in rows if ((str(r.run_id), int(r.target_id)) in vouched) == trusted]
    return [ColumnEdge(
        source=DatasetRef(r.sn, r.sname), source_column=r.source_column,
        target=DatasetRef(r.tn, r.tname), target_column=r.target_column,
        kind=EdgeKind(r.kind), description=r.description)
        for r in rows]


def _column_edges(conn: Connection, run_ids: set[str], ids: set[int],
                  direction: Direction) -> tuple[ColumnEdge, ...]:
    """The column edges of the walked runs between reached datasets."""
    out: list[ColumnEdge] = []
    src, tgt = aliased(datasets, name="src"), aliased(datasets, name="tgt")
    end = column_edges.c.target_id if direction is Direction.UPSTREAM else column_edges.c.source_id
    for chunk in _chunks(sorted(ids)):
        rows = conn.execute(
            select(column_edges, src.c.namespace.label("sn"), src.c.name.label("sname"),
                   tgt.c.namespace.label("tn"), tgt.c.name.label("tname"))
            .join(src, src.c.id == column_edges.c.source_id)
            .join(tgt, tgt.c.id == column_edges.c.target_id)
            .where(end.in_(chunk)).order_by(column_edges.c.id)).all()
        out.extend(ColumnEdge(
            source=DatasetRef(r.sn, r.sname), source_column=r.source_column,
            target=DatasetRef(r.tn, r.tname), target_column=r.target_column,
            kind=EdgeKind(r.kind), description=r.description)
            for r in rows if r.run_id in run_ids and r.source_id in ids and r.target_id in ids)
    return tuple(out)


def completeness(conn: Connection, latest: Latest) -> Completeness:
    """See ``LineageStore.completeness`` for the definition. ``latest(conn, ids)``: the latest
    version of each of those dataset ids, as the store reads it (its class is the dataset's
    tier here: the highest version id of any trust was taken, so a PUBLIC row inserted by hand,
    or a version's tier column edited, left a PROPRIETARY dataset out of the PROPRIETARY
    counts)."""
    out_v = versions.alias("out_v")
    produced = (select(out_v.c.dataset_id, func.max(out_v.c.id).label("vid"))
                .join(run_io, (run_io.c.version_id == out_v.c.id) & (run_io.c.direction == "out"))
                .where(standing(out_v)).group_by(out_v.c.dataset_id)).subquery()
    produced_by = {int(d): int(v) for d, v in conn.execute(select(produced.c.dataset_id,
                                                                  produced.c.vid)).all()}
    producer: dict[int, str] = {}
    for chunk in _chunks(produced_by.values()):
        for row in conn.execute(select(versions.c.dataset_id, versions.c.run_id)
                                .where(versions.c.id.in_(chunk))):
            producer[int(row.dataset_id)] = row.run_id
    tiers = {did: version.classification.tier.value
             for did, version in latest(conn, list(producer)).items()}
    inputs: dict[str, list[str]] = {}
    for chunk in _chunks(set(producer.values())):
        for row in conn.execute(
            select(run_io.c.run_id, datasets.c.namespace)
            .join(versions, versions.c.id == run_io.c.version_id)
            .join(datasets, datasets.c.id == versions.c.dataset_id)
            .where(run_io.c.run_id.in_(chunk), run_io.c.direction == "in")
        ):
            inputs.setdefault(row.run_id, []).append(row.namespace)
    total = conn.execute(select(func.count()).select_from(datasets)).scalar_one()
    complete, incomplete, prop, prop_ok = 0, [], 0, 0
    for did, run_id in producer.items():
        seen = inputs.get(run_id, [])
        ok = bool(seen) and UNKNOWN_NAMESPACE not in seen
        complete += ok
        if tiers.get(did) == Tier.PROPRIETARY.value:
            prop += 1
            prop_ok += ok
        if not ok:
            incomplete.append(did)
    unknown = conn.execute(select(func.count()).select_from(datasets).where(
        datasets.c.namespace == UNKNOWN_NAMESPACE)).scalar_one()
    names = _refs(conn, incomplete[:200])
    return Completeness(
        derived=len(producer), complete=complete, proprietary_derived=prop,
        proprietary_complete=prop_ok, sources=int(total) - len(producer) - int(unknown),
        incomplete=tuple(sorted(names.values()))[:50],
    )
