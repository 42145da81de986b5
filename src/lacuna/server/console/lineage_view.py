"""A dataset's lineage as a server-side SVG graph: upstream on the left, downstream on the right.

Columns are hops from the dataset (negative upstream, positive downstream); each node is a box
coloured by tier (a CSS class, so the stylesheet controls contrast) with its tags and its
classified columns, and links to that dataset's own graph. The page lists the same nodes in a
table, for screen readers and narrow screens.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape
from typing import TYPE_CHECKING
from urllib.parse import quote

from lacuna.lineage.records import DatasetRef

if TYPE_CHECKING:
    from lacuna.lineage.graph import LineageGraph
    from lacuna.lineage.store import LineageStore

BOX_W, BOX_H, GAP_X, GAP_Y, PAD = 220, 92, 70, 18, 12
MAX_DEPTH = 6
MAX_NODES = 60  # beyond this the graph is unreadable: the nearest datasets are shown
WALK_LIMIT = 1000  # datasets read per direction (the store walks breadth first, nearest first)


@dataclass(frozen=True, slots=True, kw_only=True)
class Node:
    ref: DatasetRef
    key: str  # the page's dataset parameter: "<namespace>|<name>"
    label: str  # short name shown in the box
    hops: int  # negative upstream, positive downstream, 0 for the dataset itself
    tier: str
    tags: tuple[str, ...]
    columns: tuple[tuple[str, str], ...]  # (column, class[:pii_type]) for non-public columns


@dataclass(frozen=True, slots=True, kw_only=True)
class LineageView:
    root: Node
    nodes: tuple[Node, ...]
    edges: tuple[tuple[str, str], ...]  # (parent key, child key)
    svg: str
    hidden: int = 0  # datasets left out beyond MAX_NODES


def key_of(ref: DatasetRef) -> str:
    return f"{ref.namespace}|{ref.name}"


def ref_of(key: str) -> DatasetRef:
    """The dataset a page parameter names: ``namespace|name`` (the page's own links), or a
    URI or an absolute path as the API takes it
    (:func:`lacuna.server.routes_state.client_dataset`).

    Raises:
        LineageError: a relative path or ``~`` (the server's own folders would be read), or
            a URL that cannot be read.
    """
    from lacuna.server.routes_state import client_dataset

    namespace, sep, name = key.partition("|")
    if sep and namespace and name:
        return DatasetRef(namespace, name)
    ref: DatasetRef = client_dataset(key)
    return ref


def _node(graph: LineageGraph, ref: DatasetRef, hops: int) -> Node:
    version = graph.nodes.get(ref)
    label = ref.name.rstrip("/").rsplit("/", 1)[-1] or ref.name
    if version is None:
        return Node(ref=ref, key=key_of(ref), label=label, hops=hops, tier="UNKNOWN", tags=(),
                    columns=())
    c = version.classification
    columns = tuple(
        (name, cls.classification.value + (f":{cls.pii_type}" if cls.pii_type else ""))
        for name, cls in c.columns.items() if cls.classification.value != "public"
    )
    return Node(ref=ref, key=key_of(ref), label=label, hops=hops, tier=c.tier.value,
                tags=tuple(c.tags), columns=columns)


def build(store: LineageStore, ref: DatasetRef, *, depth: int = MAX_DEPTH) -> LineageView:
    """Walk both directions from ``ref`` and lay the graph out."""
    # each direction's nearest WALK_LIMIT datasets: enough to pick the MAX_NODES shown and to
    # count most of the hidden ones, without building a graph of every ingested run
    up = store.upstream(ref, depth=depth, limit=WALK_LIMIT)
    down = store.downstream(ref, depth=depth, limit=WALK_LIMIT)
    nodes: dict[DatasetRef, Node] = {ref: _node(up if ref in up.nodes else down, ref, 0)}
    for graph, sign in ((up, -1), (down, 1)):
        for other, hops in graph.depths.items():
            if other != ref and other not in nodes:
                nodes[other] = _node(graph, other, sign * hops)
    nearest = sorted(nodes.values(), key=lambda n: (abs(n.hops), n.label, n.key))[:MAX_NODES]
    kept = {n.key for n in nearest}
    edges = sorted({(key_of(e.parent), key_of(e.child)) for e in (*up.edges, *down.edges)
                    if key_of(e.parent) in kept and key_of(e.child) in kept})
    ordered = tuple(sorted(nearest, key=lambda n: (n.hops, n.label, n.key)))
    return LineageView(root=nodes[ref], nodes=ordered, edges=tuple(edges),
                       svg=render_svg(ordered, edges, root=nodes[ref].key),
                       hidden=len(nodes) - len(nearest))


def render_svg(nodes: tuple[Node, ...], edges: list[tuple[str, str]], *, root: str) -> str:
    """The graph as inline SVG; each node is a link to its own lineage page."""
    columns = sorted({n.hops for n in nodes})
    col_index = {h: i for i, h in enumerate(columns)}
    rows: dict[int, int] = {}
    where: dict[str, tuple[float, float]] = {}
    for n in nodes:
        row = rows.get(n.hops, 0)
        rows[n.hops] = row + 1
        where[n.key] = (PAD + col_index[n.hops] * (BOX_W + GAP_X), PAD + row * (BOX_H + GAP_Y))
    width = PAD * 2 + len(columns) * BOX_W + (len(columns) - 1) * GAP_X
    height = PAD * 2 + max(rows.values(), default=1) * (BOX_H + GAP_Y) - GAP_Y
    body: list[str] = [
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
        'markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" '
        'class="arrowhead"/></marker></defs>'
    ]
    for parent, child in edges:
        if parent not in where or child not in where:
            continue
        (px, py), (cx, cy) = where[parent], where[child]
        x1, y1, x2, y2 = px + BOX_W, py + BOX_H / 2, cx, cy + BOX_H / 2
        mid = (x1 + x2) / 2
        body.append(f'<path class="edge" d="M{x1:.0f},{y1:.0f} C{mid:.0f},{y1:.0f} '
                    f'{mid:.0f},{y2:.0f} {x2 - 2:.0f},{y2:.0f}" marker-end="url(#arrow)"/>')
    for n in nodes:
        x, y = where[n.key]
        href = f"/console/lineage?dataset={quote(n.key, safe='')}"
        tags = ", ".join(n.tags) or "no tags"
        cols = ", ".join(f"{c} ({k})" for c, k in n.columns[:3])
        more = f" +{len(n.columns) - 3}" if len(n.columns) > 3 else ""
        classes = f"node tier-{n.tier.lower()}" + (" root" if n.key == root else "")
        title = (f"{n.ref} — {n.tier}; tags: {tags}; columns: "
                 + (", ".join(f"{c} ({k})" for c, k in n.columns) or "none classified"))
        body.append(
            f'<a href="{escape(href)}" class="{classes}" aria-label="{escape(title)}">'
            f"<title>{escape(title)}</title>"
            f'<rect x="{x}" y="{y}" width="{BOX_W}" height="{BOX_H}" rx="8"/>'
            f'<text x="{x + 10}" y="{y + 20}" class="name">{escape(_cut(n.label, 28))}</text>'
            f'<text x="{x + 10}" y="{y + 40}" class="tier">{escape(n.tier)}</text>'
            f'<text x="{x + 10}" y="{y + 60}" class="tags">{escape(_cut(tags, 32))}</text>'
            f'<text x="{x + 10}" y="{y + 80}" class="cols">{escape(_cut(cols + more, 34))}</text>'
            "</a>")
    return (f'<svg class="lineage" viewBox="0 0 {width:.0f} {height:.0f}" width="{width:.0f}" '
            f'role="group" aria-label="lineage graph" xmlns="http://www.w3.org/2000/svg">'
            f"{''.join(body)}</svg>")


def _cut(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def known_datasets(store: LineageStore, limit: int = 200) -> list[DatasetRef]:
    """Datasets of the most recent runs, for the page's picker."""
    seen: dict[DatasetRef, None] = {}
    for run in store.runs(limit=limit):
        for version in (*run.outputs, *run.inputs):
            if version.dataset.known:
                seen.setdefault(version.dataset, None)
    return list(seen)
