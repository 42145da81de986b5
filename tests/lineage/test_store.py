"""The lineage store on SQLite and PostgreSQL: record, read back, walk, impact, path, history."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from lacuna.errors import LineageError
from lacuna.lineage.graph import LineageEdge
from lacuna.lineage.records import (
    ColumnEdge,
    DatasetRef,
    DatasetVersion,
    EdgeKind,
    Run,
    RunStatus,
)
from lacuna.lineage.store import LineageStore
from lacuna.model import Classification, ColumnClass, ColumnKind, Tier

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
PII_COLS = {"email": ColumnClass(classification=ColumnKind.PII, pii_type="email")}


def ref(name: str) -> DatasetRef:
    return DatasetRef("file", f"/data/{name}")


def version(name: str, tier: Tier = Tier.INTERNAL, tags: tuple[str, ...] = (),
            fingerprint: str | None = None, pii: bool = False) -> DatasetVersion:
    c = Classification(tier=tier, tags=tags, columns=PII_COLS if pii else {})
    return DatasetVersion(dataset=ref(name), classification=c, fingerprint=fingerprint,
                          columns=("email",) if pii else ("id",))


def run(run_id: str, inputs: list[DatasetVersion], outputs: list[DatasetVersion],
        at: datetime = T0, status: RunStatus = RunStatus.SUCCEEDED, **kw: object) -> Run:
    return Run(id=run_id, operation="export", status=status, inputs=tuple(inputs),
               outputs=tuple(outputs), started_at=at, ended_at=at + timedelta(seconds=1),
               **kw)  # type: ignore[arg-type]


def test_a_run_round_trips_with_its_provenance(store: LineageStore) -> None:
    r = Run(
        id="run-1", operation="register_lineage", status=RunStatus.SUCCEEDED,
        inputs=(version("raw.csv", Tier.PROPRIETARY, ("PII",), "fp-raw", pii=True),
                version("ref.csv")),
        outputs=(version("out.parquet", Tier.PROPRIETARY, ("PII",), "fp-out", pii=True),),
        column_edges=(ColumnEdge(source=ref("raw.csv"), source_column="email",
                                 target=ref("out.parquet"), target_column="email_hash",
                                 kind=EdgeKind.MASKING, description="sha256(email || key)"),),
        user_id="alice", role="analyst", session="s1", started_at=T0,
        ended_at=T0 + timedelta(seconds=2), purpose="churn study", exception_id="EXC-2026-001",
        method="lacuna.register_lineage", code_location="transform.py:1", code_hash="ab" * 32,
        code_text="df = df.drop(columns=['ssn'])", libraries=(("pandas", "2.2.3"),),
        quality_checks=("not_null(id)",), decision_id="d1", policy_id="p1",
        producer="lacuna", extra=(("facet", {"a": 1}),),
    )
    store.record(r)
    assert store.get_run("run-1") == r
    assert store.runs() == [r]
    assert store.runs(ref("ref.csv")) == [r]
    assert store.runs(ref("nowhere.csv")) == []


def test_latest_and_by_fingerprint_return_the_newest(store: LineageStore) -> None:
    store.record(run("r1", [version("a.csv", fingerprint="fa")],
                     [version("b.csv", fingerprint="fb1")]))
    newer = version("b.csv", Tier.PROPRIETARY, ("PII",), fingerprint="fb2", pii=True)
    store.record(run("r2", [version("a.csv", fingerprint="fa")], [newer],
                     at=T0 + timedelta(hours=1)))
    assert store.latest(ref("b.csv")) == newer
    assert store.by_fingerprint("fb2") == newer
    assert store.by_fingerprint("fb1") == version("b.csv", fingerprint="fb1")
    assert store.by_fingerprint("nope") is None
    assert store.latest(ref("never.csv")) is None
    assert store.latest(ref("a.csv")) == version("a.csv", fingerprint="fa")


def test_version_at_answers_what_a_dataset_looked_like(store: LineageStore) -> None:
    v1 = version("b.csv", Tier.INTERNAL, fingerprint="v1")
    v2 = version("b.csv", Tier.PROPRIETARY, ("PII",), fingerprint="v2", pii=True)
    store.record(run("r1", [version("a.csv")], [v1], at=T0))
    store.record(run("r2", [version("a.csv")], [v2], at=T0 + timedelta(days=1)))
    assert store.version_at(ref("b.csv"), T0 - timedelta(minutes=1)) is None
    assert store.version_at(ref("b.csv"), T0 + timedelta(hours=1)) == v1
    assert store.version_at(ref("b.csv"), T0 + timedelta(days=2)) == v2
    naive = (T0 + timedelta(hours=1)).replace(tzinfo=None)  # naive is UTC
    assert store.version_at(ref("b.csv"), naive) == v1


def test_a_denied_run_is_kept_but_produces_nothing(store: LineageStore) -> None:
    src = version("raw.csv", Tier.PROPRIETARY, ("PII",), pii=True)
    denied = run("d1", [src], [version("Downloads/leak.csv", Tier.PROPRIETARY)],
                 status=RunStatus.DENIED, decision_id="dec-1")
    store.record(denied)
    assert store.latest(ref("Downloads/leak.csv")) is None
    assert store.downstream(ref("raw.csv")).edges == ()
    assert store.get_run("d1") == denied
    assert store.runs(status=RunStatus.DENIED) == [denied]


def test_recording_a_run_again_replaces_it(store: LineageStore) -> None:
    store.record(run("r1", [version("a.csv")], [version("b.csv", fingerprint="x")],
                     status=RunStatus.FAILED))
    final = run("r1", [version("a.csv")], [version("b.csv", fingerprint="y")])
    store.record(final)
    assert store.runs() == [final]
    assert store.latest(ref("b.csv")) == version("b.csv", fingerprint="y")
    assert store.by_fingerprint("x") is None
    assert store.upstream(ref("b.csv")).edges == (LineageEdge(ref("a.csv"), ref("b.csv"), "r1"),)


def test_malformed_runs_are_refused_clearly(store: LineageStore) -> None:
    with pytest.raises(LineageError, match="run id"):
        store.record(run("", [], []))
    with pytest.raises(LineageError, match="operation is empty"):
        store.record(Run(id="x", operation="", status=RunStatus.SUCCEEDED))
    with pytest.raises(LineageError, match="DatasetVersion"):
        store.record(Run(id="x", operation="e", status=RunStatus.SUCCEEDED,
                         inputs=(ref("a.csv"),)))  # type: ignore[arg-type]
    with pytest.raises(LineageError, match="JSON"):
        store.record(Run(id="x", operation="e", status=RunStatus.SUCCEEDED,
                         extra=(("k", object()),)))  # type: ignore[arg-type]
    assert store.runs() == []


def test_a_file_that_is_not_sqlite_is_refused_untouched(tmp_path: Path) -> None:
    bad = tmp_path / "state.db"
    bad.write_text("not a database")
    with pytest.raises(LineageError, match="not an SQLite database"):
        LineageStore(f"sqlite:///{bad}")
    assert bad.read_text() == "not a database"


def _pipeline(store: LineageStore) -> None:
    """customers (PII) + sales -> joined (PII) -> summary (aggregate, no PII); joined -> extract
    (PII); products -> catalogue."""
    customers = version("customers.csv", Tier.PROPRIETARY, ("PII",), pii=True)
    sales = version("sales.csv", Tier.INTERNAL)
    joined = version("joined.parquet", Tier.PROPRIETARY, ("PII",), pii=True)
    store.record(run("j", [customers, sales], [joined], at=T0))
    store.record(run("a", [joined], [version("summary.csv", Tier.INTERNAL, ("DERIVED_FROM_PII",))],
                     at=T0 + timedelta(minutes=1)))
    store.record(run("x", [joined], [version("extract.csv", Tier.PROPRIETARY, ("PII",),
                                             pii=True)], at=T0 + timedelta(minutes=2)))
    store.record(run("p", [version("products.csv")], [version("catalogue.csv")]))


def test_upstream_and_downstream_walk_transitively_with_a_depth_limit(
        store: LineageStore) -> None:
    _pipeline(store)
    up = store.upstream(ref("summary.csv"))
    assert set(up.nodes) == {ref(n) for n in ("summary.csv", "joined.parquet", "customers.csv",
                                               "sales.csv")}
    assert up.depths[ref("customers.csv")] == 2
    assert up.parents(ref("joined.parquet")) == (ref("customers.csv"), ref("sales.csv"))
    near = store.upstream(ref("summary.csv"), depth=1)
    assert set(near.nodes) == {ref("summary.csv"), ref("joined.parquet")}
    down = store.downstream(ref("customers.csv"))
    assert set(down.nodes) == {ref(n) for n in ("customers.csv", "joined.parquet", "summary.csv",
                                                 "extract.csv")}
    assert down.nodes[ref("extract.csv")] == store.latest(ref("extract.csv"))
    only_root = store.upstream(ref("summary.csv"), depth=0)
    assert list(only_root.nodes) == [ref("summary.csv")]
    assert only_root.edges == ()
    unknown = store.upstream(ref("never.csv"))
    assert unknown.nodes == {ref("never.csv"): None}
    assert unknown.edges == ()
    with pytest.raises(LineageError, match="depth"):
        store.upstream(ref("summary.csv"), depth=-1)


def test_a_limited_walk_keeps_the_nearest_datasets_and_says_there_are_more(
        store: LineageStore) -> None:
    """A graph grown wide (an ingested run with many outputs, a table read by hundreds of
    jobs) is read up to ``limit`` datasets, nearest first, with the edges between them."""
    store.record(run("wide", [version("root.csv")], [version(f"out{i:03}.csv")
                                                      for i in range(30)]))
    store.record(run("deeper", [version("out000.csv")], [version("far.csv")]))
    full = store.downstream(ref("root.csv"))
    assert (len(full.nodes), full.truncated) == (32, False)
    cut = store.downstream(ref("root.csv"), limit=10)
    assert (len(cut.nodes), cut.truncated) == (10, True)
    assert max(cut.depths.values()) == 1  # the nearest: far.csv (2 hops) is left out first
    assert {e.child for e in cut.edges} <= set(cut.nodes)
    assert len(cut.edges) == 9
    exact = store.downstream(ref("root.csv"), limit=32)
    assert (set(exact.nodes), exact.truncated) == (set(full.nodes), False)
    assert sorted(exact.edges) == sorted(full.edges)
    assert store.downstream(ref("root.csv"), depth=1, limit=100).truncated is False
    root_only = store.downstream(ref("root.csv"), depth=0, limit=10)  # depth 0: the root alone
    assert (list(root_only.nodes), root_only.truncated) == ([ref("root.csv")], False)
    with pytest.raises(LineageError, match="limit"):
        store.downstream(ref("root.csv"), limit=0)


def test_many_outputs_and_column_edges_are_not_scanned_per_output(
        store: LineageStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """The store (and the OpenLineage events) took each output's column edges by scanning
    every edge of the run: 10,000 outputs and 100,000 edges, which an OpenLineage import
    accepts, held the store's write lock for minutes (2,000 and 20,000: 29 s, now 2 s).
    Grouped once; the run reads back whole."""
    from lacuna.lineage.openlineage import run_to_events

    outs = [version(f"o{i}") for i in range(50)]
    edges = tuple(ColumnEdge(source=ref("in"), source_column=f"c{j}", target=ref(f"o{j % 50}"),
                             target_column=f"c{j}") for j in range(400))
    r = run("wide", [version("in")], outs, column_edges=edges)
    calls = [0]
    real = DatasetRef.__eq__

    def counting(self: DatasetRef, other: object) -> bool:
        calls[0] += 1
        return real(self, other)

    monkeypatch.setattr(DatasetRef, "__eq__", counting)
    store.record(r)
    events = run_to_events(r)
    monkeypatch.undo()
    assert calls[0] < 5_000, calls[0]  # was 2 x 50 outputs x 400 edges and more
    assert store.get_run("wide") == r
    fields = events[-1].outputs[7].facets["columnLineage"].fields
    assert sorted(fields) == sorted(f"c{j}" for j in range(7, 400, 50))


def test_walks_end_on_cycles(store: LineageStore) -> None:
    store.record(run("1", [version("a")], [version("b")]))
    store.record(run("2", [version("b")], [version("c")]))
    store.record(run("3", [version("c")], [version("a")]))  # a feedback loop
    for depth in (None, 50):
        graph = store.upstream(ref("a"), depth=depth)
        assert set(graph.nodes) == {ref("a"), ref("b"), ref("c")}
        assert len(graph.edges) == 3
    assert store.downstream(ref("b")).depths == {ref("b"): 0, ref("c"): 1, ref("a"): 2}
    from lacuna.lineage.recording import lineage_from_store

    (c,) = lineage_from_store(store, None, ref("a"))  # a read of a: the loop is cut once
    assert [c.name, c.parents[0].name, c.parents[0].parents[0].name] == [
        ref("c").name, ref("b").name, ref("a").name]
    assert c.parents[0].parents[0].parents == ()


def test_a_read_of_a_run_with_many_inputs_restores_them_in_one_walk(
        store: LineageStore) -> None:
    """A run that read many files (a concat of 10,000 governed files, a dbt model with many
    parents): a read of its output walked the store once per input (five queries each:
    10,000 inputs took minutes). One walk for all of them now, the same nodes; and a dataset
    reached by paths of different lengths keeps every parent (b, made from c, was restored as
    a source when it came before c at the same distance, and c lost as its origin)."""
    from sqlalchemy import event

    from lacuna.lineage.recording import lineage_from_store

    n = 20
    for i in range(n):
        store.record(run(f"g{i}", [version(f"raw{i}.csv")], [version(f"in{i}.csv")]))
    store.record(run("all", [version(f"in{i}.csv", Tier.PROPRIETARY) for i in range(n)],
                     [version("out.csv")]))
    queries: list[str] = []
    event.listen(store.engine, "before_cursor_execute", lambda *a: queries.append(a[2]))
    for parents in (lineage_from_store(store, "all", None),
                    lineage_from_store(store, None, ref("out.csv"))):
        assert sorted((p.name, p.operation, p.classification.tier if p.classification else
                       None, [(q.name, q.operation, q.parents) for q in p.parents])
                      for p in parents) == sorted(
            (ref(f"in{i}.csv").name, "stored", Tier.PROPRIETARY,
             [(ref(f"raw{i}.csv").name, "source", ())]) for i in range(n))
    assert len(queries) < 25, len(queries)  # was 5 per input and 5 more

    store.record(run("s1", [version("c")], [version("b")]))
    store.record(run("s2", [version("b"), version("c")], [version("a")]))
    store.record(run("s3", [version("a")], [version("r")]))
    (a,) = lineage_from_store(store, "s3", None)
    b, c = a.parents
    assert [b.name, c.name] == [ref("b").name, ref("c").name]
    assert b.parents == (c,)  # the same node, shared
    assert a.roots() == (ref("c").name,)


def test_column_edges_come_with_the_graph(store: LineageStore) -> None:
    edge = ColumnEdge(source=ref("a.csv"), source_column="email", target=ref("b.csv"),
                      target_column="email_hash", kind=EdgeKind.MASKING, description="sha256")
    store.record(run("r", [version("a.csv")], [version("b.csv")], column_edges=(edge,)))
    assert store.upstream(ref("b.csv")).column_edges == (edge,)
    assert store.upstream(ref("a.csv")).column_edges == ()


def test_impact_lists_downstream_datasets_carrying_personal_data_or_a_tag(
        store: LineageStore) -> None:
    _pipeline(store)
    hits = [v.dataset for v in store.impact(ref("customers.csv"))]
    assert hits == [ref("joined.parquet"), ref("extract.csv")]  # not the aggregate
    tagged = store.impact(ref("customers.csv"), tag="derived_from_pii")
    assert [v.dataset for v in tagged] == [ref("summary.csv")]
    assert store.impact(ref("products.csv")) == []


def test_path_shows_how_a_tag_reached_a_dataset(store: LineageStore) -> None:
    _pipeline(store)
    assert store.path(ref("extract.csv"), "PII") == [
        LineageEdge(ref("customers.csv"), ref("joined.parquet"), "j"),
        LineageEdge(ref("joined.parquet"), ref("extract.csv"), "x"),
    ]
    assert store.path(ref("summary.csv"), "PII") == []  # it does not carry PII
    assert store.path(ref("customers.csv"), "PII") == []  # it originated there


def test_completeness_counts_derived_datasets_whose_inputs_are_known(
        store: LineageStore) -> None:
    assert store.completeness().ratio == 1.0
    _pipeline(store)
    memory = DatasetVersion(dataset=DatasetRef.unknown("pandas.DataFrame()"),
                            classification=Classification())
    store.record(run("m", [memory], [version("adhoc.csv", Tier.PROPRIETARY)]))
    store.record(run("n", [], [version("orphan.csv")]))
    c = store.completeness()
    assert (c.derived, c.complete) == (6, 4)
    assert (c.proprietary_derived, c.proprietary_complete) == (3, 2)
    assert c.sources == 3  # customers, sales, products
    assert set(c.incomplete) == {ref("adhoc.csv"), ref("orphan.csv")}
    assert c.ratio == pytest.approx(4 / 6)


WRITER = """
import sys
from lacuna.lineage.records import DatasetRef, DatasetVersion, Run, RunStatus
from lacuna.lineage.store import LineageStore
from lacuna.model import Classification
url, worker, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
def v(name):
    return DatasetVersion(dataset=DatasetRef("file", "/data/" + name),
                          classification=Classification())
with LineageStore(url) as s:
    for i in range(n):
        s.record(Run(id=f"{worker}-{i}", operation="export", status=RunStatus.SUCCEEDED,
                     inputs=(v("shared-in.csv"),), outputs=(v(f"out-{worker}-{i}.csv"),)))
"""


def test_processes_record_concurrently_into_one_store(store_url: str) -> None:
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, store_url, f"w{w}", "15"],
                              stderr=subprocess.PIPE, text=True) for w in range(2)]
    errors = [p.communicate(timeout=120)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], errors
    with LineageStore(store_url) as s:
        assert len(s.runs(limit=None)) == 30
        assert len(s.downstream(ref("shared-in.csv")).nodes) == 31


def test_depth_limited_walks_match_the_recursive_cte(tmp_path: Path) -> None:
    """The breadth-first walk used for depth limits returns exactly what the hop-counting
    recursive CTE returns: the same edges and the same hop counts, both directions."""
    import random

    from sqlalchemy import insert

    from lacuna.lineage import queries
    from lacuna.lineage.graph import Direction
    from lacuna.lineage.schema import datasets, edges, runs

    rng = random.Random(4)
    n = 400
    with LineageStore(f"sqlite:///{tmp_path / 'walk.db'}") as store, \
            store.engine.begin() as conn:
        conn.execute(insert(datasets), [{"id": i, "namespace": "file", "name": f"/d{i}"}
                                        for i in range(1, n + 1)])
        conn.execute(insert(runs), [{
            "id": f"r{i}", "operation": "t", "status": "succeeded", "user_id": "u", "role": "",
            "session": "", "method": "", "started_at": "2026-01-01T00:00:00+00:00",
            "producer": "lacuna", "provenance": "{}", "seq": i} for i in range(1, n + 1)])
        conn.execute(insert(edges), [
            {"parent_id": p, "child_id": c, "run_id": f"r{c}"}
            for c in range(2, n + 1) for p in rng.sample(range(max(1, c - 20), c),
                                                         min(3, c - max(1, c - 20)))])
        for start, direction in [(n, Direction.UPSTREAM), (n - 7, Direction.UPSTREAM),
                                 (1, Direction.DOWNSTREAM), (50, Direction.DOWNSTREAM)]:
            for depth in (0, 1, 2, 5, 10):
                cte = queries.walked_edges(conn, start, direction, depth)
                found, hops = queries.walk_levels(conn, start, direction, depth)
                assert sorted(found) == sorted(cte)
                assert hops == queries._hops(start, cte, direction)
                assert len(found) > 0 or depth == 0


def test_path_over_a_wide_graph_is_one_pass_over_its_edges(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """path() scanned every edge of the graph for each dataset it reached: over 10,000 edges
    that carry the tag, minutes; now an index of the edges by child."""
    import time

    from lacuna.lineage.graph import Direction, LineageEdge, LineageGraph

    pii = DatasetVersion(dataset=DatasetRef("file", "/x"), classification=Classification(
        tier=Tier.PROPRIETARY, tags=("PII",)))
    root = DatasetRef("file", "/report")
    mids = [DatasetRef("file", f"/mid/{i}") for i in range(5_000)]
    srcs = [DatasetRef("file", f"/src/{i}") for i in range(5_000)]
    edges = [LineageEdge(parent=m, child=root, run_id="r") for m in mids]
    edges += [LineageEdge(parent=s, child=m, run_id="q") for s, m in zip(srcs, mids, strict=True)]
    graph = LineageGraph(root=root, direction=Direction.UPSTREAM,
                         nodes=dict.fromkeys([root, *mids, *srcs], pii),
                         depths={root: 0, **dict.fromkeys(mids, 1), **dict.fromkeys(srcs, 2)},
                         edges=tuple(edges))
    with LineageStore(f"sqlite:///{tmp_path / 'state.db'}") as store:
        monkeypatch.setattr(store, "upstream", lambda *_a, **_k: graph)
        started = time.monotonic()
        found = store.path(root, "PII")
        assert time.monotonic() - started < 10
    assert len(found) == 10_000
    assert found[0].parent.name.startswith("/src/")  # origins first


def test_an_export_of_a_frame_doubled_on_itself_names_its_inputs_at_once() -> None:
    """The inputs a governed write records are the nearest named nodes of the frame's
    lineage: a frame concatenated with itself (pd.concat([df, df])) shares its node twice, and
    the walk took every path (2^n: 16 doublings took 5 s at the export, 25 hours); a chain of
    unnamed steps past the recursion limit raised RecursionError. First seen first, once."""
    import time

    from lacuna.lineage.recording import inputs_of
    from lacuna.lineage.state import LineageNode

    public = Classification(tier=Tier.PUBLIC)
    a = LineageNode(name="/d/a.csv", operation="read_csv", ref=DatasetRef.of("/d/a.csv"))
    b = LineageNode(name="/d/b.csv", operation="read_csv", ref=DatasetRef.of("/d/b.csv"))
    node = LineageNode(name=None, operation="merge", parents=(
        LineageNode(name=None, operation="assign", parents=(b,)), a, b))
    for _ in range(60):
        node = LineageNode(name=None, operation="concat", parents=(node, node))
    began = time.perf_counter()
    assert [v.dataset for v in inputs_of(node, public)] == [b.ref, a.ref]
    chain = LineageNode(name=None, operation="frame")
    for _ in range(5000):
        chain = LineageNode(name=None, operation="filter", parents=(chain,))
    assert [v.dataset for v in inputs_of(chain, public)] == [DatasetRef.unknown("frame")]
    # every path would be 2^60 walks (never done); once each is well under a second alone,
    # and took 2.4 s in a loaded full run: the bound tells the two apart, not the machine
    assert time.perf_counter() - began < 10.0


def test_a_read_of_a_ladder_of_runs_names_its_sources_at_once(tmp_path: Path) -> None:
    """Each day's file made from the two days before it: the lineage restored from the store
    shares nodes, and LineageNode.roots() walked every path (2^n: 38 days took 70 s, and an
    export of the read names its sources through it); a chain past the recursion limit raised
    RecursionError. Each node is now visited once; a repr lists a bounded number of paths."""
    import time

    from lacuna.integrations.pandas.accessor import REPR_PATHS, Lineage
    from lacuna.lineage.recording import lineage_from_store
    from lacuna.lineage.state import LineageNode

    def day(i: int) -> DatasetVersion:
        return DatasetVersion(dataset=DatasetRef.of(f"/d/day{i}.csv"),
                              classification=Classification(tier=Tier.PUBLIC))

    with LineageStore(f"sqlite:///{tmp_path / 'ladder.db'}") as store:
        for i in range(2, 40):
            store.record(Run(id=f"r{i}", operation="join", status=RunStatus.SUCCEEDED,
                             inputs=(day(i - 1), day(i - 2)), outputs=(day(i),)))
        parents = lineage_from_store(store, None, DatasetRef.of("/d/day39.csv"))
    read = LineageNode(name=None, operation="read_csv", parents=parents)
    began = time.perf_counter()
    assert read.roots() == ("/d/day0.csv", "/d/day1.csv")  # first seen first, as before
    shown = repr(Lineage(read, "frame"))
    assert hash(read) == hash(read.id)  # hashing all parents' parents was exponential too
    assert time.perf_counter() - began < 1.0
    assert shown.count("→ frame") == REPR_PATHS
    assert f"the first {REPR_PATHS} are shown" in shown
    first = read.paths(limit=2)
    assert len(first) == 2
    assert all(p[0].name in {"/d/day0.csv", "/d/day1.csv"} and p[-1] is read for p in first)
    chain = LineageNode(name="/d/origin.csv", operation="source")
    for _ in range(5000):
        chain = LineageNode(name=None, operation="filter", parents=(chain,))
    assert chain.roots() == ("/d/origin.csv",)
    assert len(chain.paths()[0]) == 5001
    diamond = LineageNode(name="b", operation="source")
    both = LineageNode(name=None, operation="merge", parents=(
        LineageNode(name="a", operation="source"), diamond,
        LineageNode(name=None, operation="x", parents=(diamond,))))
    assert both.roots() == ("a", "b")
    assert [[n.name for n in p] for p in both.paths()] == [["a", None], ["b", None],
                                                           ["b", None, None]]


def _statements(store: LineageStore, r: Run) -> int:
    from sqlalchemy import event

    seen: list[str] = []

    def listen(*args: object) -> None:
        seen.append(str(args[2]))

    event.listen(store.engine, "before_cursor_execute", listen)
    try:
        store.record(r)
    finally:
        event.remove(store.engine, "before_cursor_execute", listen)
    return len(seen)


def test_recording_a_run_costs_a_few_statements_however_many_inputs(
        store: LineageStore) -> None:
    """Recording a run ran about six statements per input (its dataset looked up, inserted and
    looked up again, its latest version, a new version, a run_io row): 6,000 for a frame built
    from 1,000 files. A few per run now, plus one per chunk of rows: as many for 20 inputs as
    for 2, whether the inputs are new or read again, and in as many namespaces (buckets)."""
    from dataclasses import replace

    counts = {}
    for n in (2, 20):
        inputs = [version(f"n{n}/in{i}.csv", Tier.PROPRIETARY if i % 2 else Tier.INTERNAL,
                          pii=i % 3 == 0) for i in range(n)]
        inputs = [replace(x, dataset=DatasetRef(f"s3://bucket{i}", x.dataset.name))
                  if i % 2 else x for i, x in enumerate(inputs)]
        edges = tuple(ColumnEdge(source=v.dataset, source_column="id", target=ref(f"n{n}/o.csv"),
                                 target_column="id", kind=EdgeKind.IDENTITY, description="")
                      for v in inputs)
        first = run(f"first{n}", inputs, [version(f"n{n}/o.csv")], column_edges=edges)
        again = run(f"again{n}", inputs, [version(f"n{n}/o2.csv")])
        counts[n] = (_statements(store, first), _statements(store, again))
        assert store.get_run(first.id) == first
        assert store.get_run(again.id) == again
    assert counts[20] == counts[2], counts
    assert max(counts[2]) <= 15, counts


def test_recording_in_chunks_stores_what_one_statement_does(
        store: LineageStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """IN lists and inserts split in chunks (of 3 here: 500 in use) store the same run: each
    input's version found or created once, a dataset read twice with different classes kept
    as two versions, read again unchanged as the same version, and its edges."""
    from sqlalchemy import func, select

    from lacuna.lineage import store as module
    from lacuna.lineage.schema import run_io, versions

    monkeypatch.setattr(module, "_CHUNK", 3)
    monkeypatch.setattr(module, "_NAMESPACES", 2)
    inputs = [version(f"in{i}.csv", Tier.PROPRIETARY if i % 2 else Tier.INTERNAL)
              for i in range(8)]
    inputs[5:8] = [DatasetVersion(dataset=DatasetRef(f"s3://b{i}", "in.csv"),
                                  classification=x.classification, columns=x.columns)
                   for i, x in enumerate(inputs[5:8])]
    inputs.append(version("in1.csv", Tier.PROPRIETARY, ("PII",), pii=True))  # read twice
    edges = (ColumnEdge(source=inputs[7].dataset, source_column="id", target=ref("out.csv"),
                        target_column="id", kind=EdgeKind.IDENTITY, description=""),)
    first = run("r1", inputs, [version("out.csv"), version("out2.csv")], column_edges=edges)
    store.record(first)
    assert store.get_run("r1") == first
    assert store.latest(ref("in1.csv")) == inputs[-1]
    assert store.column_edges() == list(edges)
    again = run("r2", inputs[:8], [version("out3.csv")], at=T0 + timedelta(hours=1))
    store.record(again)
    assert store.get_run("r2") == again

    def count(stmt: object) -> int:
        with store.engine.connect() as conn:
            return int(conn.execute(stmt).scalar_one())

    # r1: 9 input versions and 2 outputs; r2 reads in1.csv as it was before r1's second read
    # (a new version) and the 7 others unchanged (the same versions), and writes one
    assert count(select(func.count()).select_from(versions)) == 9 + 2 + 1 + 1
    assert count(select(func.count()).select_from(run_io).where(run_io.c.run_id == "r2")) == 9
    assert store.upstream(ref("out3.csv"), 1).parents(ref("out3.csv")) == tuple(
        sorted(v.dataset for v in inputs[:8]))


def test_a_lower_read_of_the_known_content_is_not_the_datasets_state(tmp_path: Path) -> None:
    """A run's input is what it read: a read of some columns of a PII file (``usecols``) is
    classified PUBLIC without a fingerprint, and recorded as a new version it became the
    file's latest, what the store knows of it: an ingested claim of PUBLIC was then taken
    without a word, and register_lineage read the file as PUBLIC."""
    from lacuna.config import ClassificationConfig
    from lacuna.lineage.claims import ingest

    with LineageStore(f"sqlite:///{tmp_path / 'state.db'}") as store:
        written = version("people.csv", Tier.PROPRIETARY, ("PII",), "fp-1", pii=True)
        store.record(run("w", [], [written]))
        part = DatasetVersion(dataset=ref("people.csv"), classification=Classification(
            tier=Tier.PUBLIC, columns={"region": ColumnClass()}))
        store.record(run("r", [part], [version("regions.csv", Tier.PUBLIC)], T0 + timedelta(1)))
        assert store.latest(ref("people.csv")) == written
        assert store.get_run("r").inputs == (part,)  # type: ignore[union-attr]  # as read
        claim = run("claim", [], [version("people.csv", Tier.PUBLIC)], T0 + timedelta(2))
        _, refused = ingest(claim, store, ClassificationConfig())
        assert "tier PUBLIC refused, Lacuna knows it as PROPRIETARY" in "\n".join(refused)
        # allowed: other content (another fingerprint) read lower is a version of its own
        changed = version("people.csv", Tier.PUBLIC, fingerprint="fp-2")
        store.record(run("r2", [changed], [version("more.csv")], T0 + timedelta(3)))
        assert store.latest(ref("people.csv")) == changed
