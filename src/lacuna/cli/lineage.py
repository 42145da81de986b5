"""``lacuna lineage``: draw a dataset's lineage, list the impact of a source, report completeness,
list runs, import OpenLineage events, send pending ones (flush), dismiss an ingested claim (a
steward).

Exit codes: 0 ok, 1 nothing recorded for that dataset, 2 a usage, configuration or database
error.
"""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich import box
from rich.console import Console
from rich.markup import escape as rich_escape
from rich.table import Table
from rich.tree import Tree

from lacuna.errors import ConfigError, LacunaError
from lacuna.exceptions.shown import visible

if TYPE_CHECKING:
    from lacuna.lineage.graph import LineageGraph
    from lacuna.lineage.records import ColumnEdge, DatasetRef, DatasetVersion
    from lacuna.lineage.store import LineageStore

app = typer.Typer(
    help="Query the lineage store: upstream and downstream graphs, impact, completeness, runs; "
         "import OpenLineage events; send pending ones (flush); dismiss a wrong ingested claim.",
    no_args_is_help=True,
)
console = Console()

DbOption = Annotated[
    str | None,
    typer.Option("--db", metavar="URL",
                 help="SQLAlchemy URL of the state database. Default: audit.url from "
                      "lacuna.yaml, else the state file in $LACUNA_HOME."),
]
ConfigOption = Annotated[
    Path | None, typer.Option("--config", "-c", metavar="PATH", help="The lacuna.yaml to read.")
]


class Format(StrEnum):
    TEXT = "text"
    JSON = "json"
    DOT = "dot"
    MERMAID = "mermaid"


def escape(text: str) -> str:
    """``text`` for a rich console on one line: its markup escaped, and each character that
    would change how a terminal shows it (an ESC sequence, a carriage return or line break, a
    bidirectional override) written as its escape (``\\x1b``). Dataset, column, run and
    producer names come from OpenLineage events anyone may import: a name holding
    ``\\x1b]0;…\\x07`` or ``\\x1b[2J`` was printed as it was, and the terminal obeyed it."""
    return rich_escape(visible(text, one_line=True))


def _message(text: str) -> str:
    """A message for the console (it may span lines): as :func:`escape`, line breaks kept."""
    return rich_escape(visible(text, terminal=True))


def _fail(message: str, code: int = 2) -> typer.Exit:
    Console(stderr=True).print(f"[bold red]error:[/] {_message(message)}", highlight=False,
                               soft_wrap=True)
    return typer.Exit(code)


def _open(db: str | None, config: Path | None) -> LineageStore | None:
    """The store, or None when its database does not exist yet or holds no lineage tables
    (nothing recorded). Opened only then: opening a store creates its tables, and these
    commands only read (``--db`` naming a warehouse by mistake filled it with Lacuna's)."""
    from lacuna.audit.schema import parse_url, sqlite_file
    from lacuna.config import load_config
    from lacuna.lineage.store import LineageStore
    from lacuna.remote.client import refuse_local_state

    try:
        if db is None:
            loaded = load_config(config)
            refuse_local_state(loaded, "lacuna lineage", _ON_THE_SERVER)
        url = db or loaded.audit_url
        path = sqlite_file(parse_url(url))
        if path is not None and not path.exists():
            return None
        if not _holds_lineage(url):
            return None
        return LineageStore(url)
    except (ConfigError, LacunaError) as exc:
        raise _fail(str(exc)) from None


_ON_THE_SERVER = ("Ask the server: GET /api/v1/lineage/upstream, /downstream or /impact "
                  "(?dataset=<absolute path or URI>), /api/v1/lineage/completeness, "
                  "/api/v1/lineage/runs, or the console's lineage page (/console/lineage); "
                  "--db reads a local database on purpose.")


def _holds_lineage(url: str) -> bool:
    """Whether the database at ``url`` has the lineage store's tables, read without writing.
    A database with tables, none of them Lacuna's, is not a state database: an error."""
    import sqlite3

    from sqlalchemy import inspect
    from sqlalchemy.exc import SQLAlchemyError

    from lacuna.audit.schema import build_engine, explain, parse_url, sqlite_file
    from lacuna.lineage.schema import layout
    from lacuna.redact import redact_url

    parsed = parse_url(url)
    path = sqlite_file(parsed)
    where = str(path) if path is not None else redact_url(parsed)
    if path is not None and path.is_dir():
        return True  # LineageStore says what is wrong with it
    engine = build_engine(parsed, read_only=True)
    try:
        with engine.connect() as conn:
            names = set(inspect(conn).get_table_names())
    except (SQLAlchemyError, sqlite3.Error) as exc:
        raise _fail(explain(exc, where, "read")) from None
    finally:
        engine.dispose()
    if layout.name in names:
        return True
    if names and not any(n.startswith("lacuna_") for n in names):
        shown = ", ".join(sorted(names)[:3]) + (", …" if len(names) > 3 else "")
        msg = (f"{where} is not Lacuna's state database: it holds other tables ({shown}) and "
               "none of Lacuna's. Check --db (or audit.url in lacuna.yaml); nothing was "
               "written to it.")
        raise _fail(msg)
    return False


def _ref(dataset: str) -> DatasetRef:
    from lacuna.lineage.api import as_ref

    try:
        return as_ref(dataset)
    except LacunaError as exc:
        raise _fail(str(exc)) from None


def _hint(ref: DatasetRef) -> str:
    """What to check when a dataset has no lineage: a mistyped path, or work not recorded."""
    if ref.namespace == "file" and not Path(ref.name).exists():
        return " There is no such file: check the path (or name the dataset as it was written)."
    return (" Lineage is recorded when Lacuna reads or writes it (lacuna.enable(), dbt, SQL, "
            "Spark) or by lacuna.register_lineage(...); `lacuna lineage runs` lists what is "
            "recorded.")


@app.command()
def show(
    dataset: Annotated[str, typer.Argument(help="A path, URI or <database URL>#<table>.")],
    upstream: Annotated[bool, typer.Option("--upstream", help="What it came from (default).")
                        ] = False,
    downstream: Annotated[bool, typer.Option("--downstream", help="What was made from it.")
                          ] = False,
    depth: Annotated[int | None, typer.Option("--depth", min=0, help="At most N hops.")] = None,
    columns: Annotated[bool, typer.Option("--columns", help="Show column-level edges.")] = False,
    fmt: Annotated[Format, typer.Option("--format", help="text, json, dot or mermaid.")
                   ] = Format.TEXT,
    db: DbOption = None,
    config: ConfigOption = None,
) -> None:
    """Draw DATASET's lineage as a tree with tiers and tags (or JSON, Graphviz, Mermaid)."""
    if upstream and downstream:
        msg = "choose one of --upstream and --downstream."
        raise _fail(msg)
    ref = _ref(dataset)
    store = _open(db, config)
    if store is None:
        msg = f"no lineage recorded yet: nothing is known about {ref}.{_hint(ref)}"
        raise _fail(msg, 1)
    with store:
        try:
            graph = (store.downstream if downstream else store.upstream)(ref, depth)
        except LacunaError as exc:
            raise _fail(str(exc)) from None
    if graph.nodes.get(ref) is None and not graph.edges:
        msg = f"no lineage recorded for {ref}.{_hint(ref)}"
        raise _fail(msg, 1)
    if fmt is Format.JSON:
        typer.echo(json.dumps(graph_to_dict(graph), indent=2))
    elif fmt is Format.DOT:
        typer.echo(to_dot(graph, columns=columns))
    elif fmt is Format.MERMAID:
        typer.echo(to_mermaid(graph, columns=columns))
    else:
        for tree in to_trees(graph, columns=columns, width=console.width):
            console.print(tree)


@app.command()
def impact(
    dataset: Annotated[str, typer.Argument(help="The source whose impact to list.")],
    tag: Annotated[str | None, typer.Option("--tag", help="e.g. PII (default: any personal "
                                                          "data).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    db: DbOption = None,
    config: ConfigOption = None,
) -> None:
    """List downstream datasets of DATASET that carry TAG (default: any personal data)."""
    from lacuna.config import load_config

    ref = _ref(dataset)
    store = _open(db, config)
    hits: list[DatasetVersion] = []
    depths: dict[DatasetRef, int] = {}
    if store is not None:
        with store:
            try:
                personal = load_config(config).classification.personal_tags
                hits = store.impact(ref, tag, personal_tags=personal)
                depths = dict(store.downstream(ref).depths)
            except LacunaError as exc:
                raise _fail(str(exc)) from None
    what = tag.upper() if tag else "personal data"
    if as_json:
        typer.echo(json.dumps([_version_dict(v, depths[v.dataset]) for v in hits], indent=2))
        return
    if not hits:
        console.print(f"No dataset downstream of {escape(str(ref))} carries {what}.")
        return
    table = Table(title=f"Downstream of {escape(str(ref))} carrying {escape(what)}",
                  box=box.SIMPLE_HEAD)
    for name in ("dataset", "hops", "tier", "tags"):
        table.add_column(name)
    for v in hits:
        table.add_row(escape(str(v.dataset)), str(depths[v.dataset]),
                      v.classification.tier.value, escape(", ".join(v.classification.tags)))
    console.print(table)


@app.command()
def completeness(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    db: DbOption = None,
    config: ConfigOption = None,
) -> None:
    """The share of derived datasets whose every input is known, overall and PROPRIETARY."""
    from lacuna.lineage.graph import Completeness

    store = _open(db, config)
    result = Completeness(derived=0, complete=0, proprietary_derived=0,
                          proprietary_complete=0, sources=0)
    if store is not None:
        with store:
            try:
                result = store.completeness()
            except LacunaError as exc:
                raise _fail(str(exc)) from None
    if as_json:
        typer.echo(json.dumps(result.to_dict(), indent=2))
        return
    console.print("Lineage completeness: "
                  f"{_share(result.complete, result.derived, ' derived datasets')}",
                  highlight=False)
    console.print("PROPRIETARY datasets: "
                  f"{_share(result.proprietary_complete, result.proprietary_derived)}",
                  highlight=False)
    console.print(f"Sources (only read, never produced): {result.sources}", highlight=False)
    for ref in result.incomplete:
        console.print(f"  incomplete: {escape(str(ref))}", highlight=False)


def _share(done: int, of: int, what: str = "") -> str:
    """``75.0% (3 of 4<what>)``; ``none yet (0 of 0<what>)`` when there is nothing to count
    (no share of nothing is 100%)."""
    return f"{done / of:.1%} ({done} of {of}{what})" if of else f"none yet (0 of 0{what})"


@app.command("import")
def import_(
    file: Annotated[Path, typer.Argument(help="OpenLineage events: JSON Lines, or one JSON "
                                              "event or list of events.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    db: DbOption = None,
    config: ConfigOption = None,
) -> None:
    """Ingest OpenLineage events (Airflow, dbt-ol, Spark, Lacuna) into the lineage store.

    A classification in the events may raise what the store knows of a dataset, never lower it:
    a lowering is refused (the known class kept) and listed.

    Exit codes: 0 all imported; 1 some events were rejected (the rest were imported) or a
    lowering was refused; 2 the file or the database could not be used.
    """
    from lacuna.audit.schema import parse_url, sqlite_file
    from lacuna.config import load_config
    from lacuna.lineage.ol_import import import_events
    from lacuna.lineage.store import LineageStore
    from lacuna.remote.client import refuse_local_state

    try:
        cfg = load_config(config)
        if db is None:
            refuse_local_state(cfg, "lacuna lineage import", "Send the events there: POST "
                               "/api/v1/lineage, one event per request (an analyst's or a data "
                               "steward's token); --db imports into a local database on "
                               "purpose.")
        url = db or cfg.audit_url
        path = sqlite_file(parse_url(url))
        if path is None or path.exists():
            _holds_lineage(url)  # another database (a warehouse named by mistake): refused
        with LineageStore(url) as store:
            report = import_events(file, store, cfg.classification)
    except (ConfigError, LacunaError) as exc:
        raise _fail(str(exc)) from None
    if as_json:
        typer.echo(json.dumps(report.to_dict(), indent=2))
    else:
        console.print(f"Imported {len(report.runs)} runs ({report.events} events, "
                      f"{report.datasets} datasets, {report.column_edges} column edges) "
                      f"from {escape(str(file))}", highlight=False)
        if report.incomplete:
            console.print(f"{len(report.incomplete)} runs have no COMPLETE/FAIL/ABORT event yet "
                          "and were not recorded", highlight=False)
    err = Console(stderr=True)
    for line in report.errors:
        err.print(f"[yellow]rejected:[/] {_message(line)}", highlight=False, soft_wrap=True)
    if report.rejected > len(report.errors):
        err.print(f"... and {report.rejected - len(report.errors)} more", highlight=False)
    for line in report.refused:
        err.print(f"[yellow]lowering refused:[/] {_message(line)}", highlight=False,
                  soft_wrap=True)
    if report.rejected or report.errors or report.refused:
        raise typer.Exit(1)


@app.command()
def runs(
    dataset: Annotated[str | None, typer.Argument(help="Only runs that read or wrote it.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="At most this many.")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    db: DbOption = None,
    config: ConfigOption = None,
) -> None:
    """List recorded runs, newest first (with DATASET, those that read or wrote it): the run ids
    `lacuna lineage dismiss` takes, who recorded each and which tool produced it. A run imported
    from OpenLineage events shows the events' producer, marked (imported), and the user and
    producer its events claim, marked as claims. A run the store cannot vouch for either way
    (recorded before imported runs were marked, or edited by hand) is marked (origin
    unknown), its user and producer as claims."""
    store = _open(db, config)
    if store is None:
        msg = "no lineage recorded yet."
        raise _fail(msg, 1)
    try:
        with store:
            found = store.runs(_ref(dataset) if dataset else None, limit=limit)
    except LacunaError as exc:
        raise _fail(str(exc)) from None
    if as_json:
        typer.echo(json.dumps([{
            "id": r.id, "operation": r.operation, "status": r.status.value,
            **r.provenance(), "started_at": r.started_at.isoformat(),
            "outputs": [str(v.dataset) for v in r.outputs]} for r in found], indent=2))
        return
    table = Table(box=box.SIMPLE)
    for name in ("run", "started (UTC)", "user", "producer", "operation", "status", "outputs"):
        table.add_column(name)
    for r in found:
        who = r.provenance()
        user = who["user"] or (
            f"{who['claimed_user']} (claimed)" if who.get("claimed_user") else "")
        if who["imported"] is None:  # the store cannot say whether Lacuna recorded it
            producer = f"{who['claimed_producer'] or ''} (origin unknown)".lstrip()
        elif who["imported"]:
            producer = (f"{who['producer']} (imported"
                        + (f"; claims {who['claimed_producer']})" if who["claimed_producer"]
                           else ")"))
        else:
            producer = who["producer"]
        table.add_row(escape(r.id), r.started_at.strftime("%Y-%m-%d %H:%M:%S"),
                      escape(user), escape(producer), escape(r.operation),
                      r.status.value, escape(", ".join(str(v.dataset) for v in r.outputs)))
    console.print(table)


@app.command()
def flush(
    timeout: Annotated[float, typer.Option(min=0.1, help="Stop claiming runs after this many "
                                                         "seconds.")] = 60.0,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    db: DbOption = None,
    config: ConfigOption = None,
) -> None:
    """Send the OpenLineage events of runs left pending in the state database (a process
    killed, or ended, before its background sender sent them) through the transport in
    lacuna.yaml. Runs a live process still holds are left to it; the file transport skips
    events it already holds. Exit 1 when some could not be sent (still pending)."""
    from lacuna.config import load_config
    from lacuna.lineage import ol_emit, outbox

    try:
        loaded = load_config(config)
    except (ConfigError, LacunaError) as exc:
        raise _fail(str(exc)) from None
    ol = loaded.lineage.openlineage
    if not ol.enabled or ol.transport.type == "console":
        why = ("OpenLineage is off (lineage.openlineage.enabled: false)" if not ol.enabled
               else "the console transport keeps nothing to send again")
        msg = f"{why} in {loaded.source or 'the configuration'}: nothing to flush."
        raise _fail(msg)
    store = _open(db, config)
    result, left = ol_emit.Resent(), {}
    if store is not None:
        emitter = ol_emit.emitter_for(loaded)
        assert emitter is not None
        try:
            with store:
                result = emitter.resend(store, max_attempts=None, timeout=timeout)
                left = outbox.counts(store)
        except LacunaError as exc:
            raise _fail(str(exc)) from None
        ours = left.pop(emitter.destination or "", 0)
    else:
        ours = 0
    where = ol.transport.url if ol.transport.type == "http" else str(ol_emit.events_path(ol))
    others = sum(left.values())
    if as_json:
        typer.echo(json.dumps({"sent": result.sent, "failed": result.failed,
                               "timed_out": result.timed_out, "pending": ours,
                               "pending_other_transports": others}, indent=2))
    else:
        from lacuna.redact import redact_url

        console.print(f"sent {result.sent} pending run(s) through the {ol.transport.type} "
                      f"transport ({escape(redact_url(where or ''))})", highlight=False)
        if result.failed:
            console.print(f"  {result.failed} could not be sent (still pending; the warnings "
                          "above say why): run `lacuna lineage flush` again", highlight=False)
        if ours > result.failed:
            console.print(f"  {ours - result.failed} still pending for this transport, held "
                          "by a live process (it sends them) or left at the --timeout",
                          highlight=False)
        if others:
            console.print(f"  {others} pending for other transports: a process configured "
                          "with that transport sends them", highlight=False)
    if result.failed or result.timed_out:
        raise typer.Exit(1)


@app.command()
def dismiss(
    run_id: Annotated[str, typer.Argument(help="The ingested run, as `lacuna lineage runs` "
                                               "lists it.")],
    reason: Annotated[str, typer.Option(help="What you checked (required, for the record).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    config: ConfigOption = None,
) -> None:
    """Dismiss an ingested run's classification claims (a wrong or hostile raise sent over
    OpenLineage): its versions stay on record but no longer count as what Lacuna knows of the
    data. Never Lacuna's own runs. A default steward (stewards.default), with a reason;
    audited. Exit 1 when refused, 2 on a configuration error."""
    from lacuna.governor import configure
    from lacuna.lineage.dismiss import dismiss_claim

    try:
        configure(str(config) if config else None)
        done = dismiss_claim(run_id, reason=reason)
    except ConfigError as exc:
        raise _fail(str(exc)) from None
    except LacunaError as exc:
        Console(stderr=True).print(f"[red]refused:[/red] {_message(str(exc))}", highlight=False,
                                   soft_wrap=True)
        raise typer.Exit(1) from None
    if as_json:
        typer.echo(json.dumps(done.to_dict(), indent=2))
        return
    console.print(f"dismissed lineage run {escape(run_id)}: {len(done.versions)} dataset "
                  "version(s) no longer count as what Lacuna knows", highlight=False)
    for v, now, still in done.known_now():
        known = now.classification.tier.value if now is not None else "nothing"
        line = f"  {escape(str(v.dataset))} (claimed {v.classification.tier.value}, now {known})"
        if still:
            line += (": still as strict, raised by a version derived from the claim while it "
                     f"stood; see `lacuna lineage runs {escape(str(v.dataset))}`")
        console.print(line, highlight=False)
    for was, now in done.came_down:
        console.print(f"  came down: {escape(str(was.dataset))} ({was.classification.tier.value}"
                      f" -> {now.classification.tier.value}, what Lacuna derived itself)",
                      highlight=False)
    for was in done.still_raised:
        console.print(f"  still raised: {escape(str(was.dataset))} "
                      f"({was.classification.tier.value}: derived from the claim's data by a "
                      "join, projection or aggregation, or another claim stands; write it "
                      "again through Lacuna)", highlight=False)


# -- rendering ---------------------------------------------------------------------------------


def _version_dict(v: DatasetVersion | None, depth: int) -> dict[str, Any]:
    if v is None:
        return {"depth": depth, "tier": None, "tags": [], "fingerprint": None}
    return {"dataset": str(v.dataset), "namespace": v.dataset.namespace, "name": v.dataset.name,
            "depth": depth, "tier": v.classification.tier.value,
            "tags": list(v.classification.tags), "fingerprint": v.fingerprint,
            "columns": list(v.columns)}


def graph_to_dict(graph: LineageGraph) -> dict[str, Any]:
    """The graph as JSON-ready data (the shape of ``--format json``)."""
    nodes = []
    for ref, v in graph.nodes.items():
        entry = _version_dict(v, graph.depths[ref])
        entry.update(dataset=str(ref), namespace=ref.namespace, name=ref.name)
        nodes.append(entry)
    return {
        "root": str(graph.root), "direction": graph.direction.value, "nodes": nodes,
        "truncated": graph.truncated,
        "edges": [{"parent": str(e.parent), "child": str(e.child), "run": e.run_id}
                  for e in graph.edges],
        "column_edges": [{"source": str(e.source), "source_column": e.source_column,
                          "target": str(e.target), "target_column": e.target_column,
                          "kind": e.kind.value, "description": e.description}
                         for e in graph.column_edges],
    }


def _label(ref: DatasetRef, v: DatasetVersion | None) -> str:
    if v is None:
        return f"{escape(str(ref))}  [dim](no version recorded)[/dim]"
    c = v.classification
    color = {"PROPRIETARY": "red", "INTERNAL": "yellow"}.get(c.tier.value, "green")
    tags = f"  [dim]{escape(', '.join(c.tags))}[/dim]" if c.tags else ""
    return f"{escape(str(ref))}  [{color}]{c.tier.value}[/{color}]{tags}"


def to_trees(graph: LineageGraph, *, columns: bool = False, width: int = 80) -> list[Tree]:
    """Rich trees from the root; a dataset reached twice is drawn once, then referred to.

    A tree nests at most as deep as ``width`` columns allow (4 per level, 40 kept for the
    labels): a dataset at that depth with more lineage says "continued below", and its
    lineage is drawn as the next tree. Rich cuts what does not fit the width, so a deep chain
    drawn as one tree lost its origins without a word (and deeper than about 1,000 hops the
    drawing ran out of Python's stack)."""
    upstream = graph.direction.value == "upstream"
    adjacent: dict[DatasetRef, set[DatasetRef]] = {}  # one pass: graph.parents walks every
    for edge in graph.edges:  # edge per call, and a 10,000-input run took minutes to draw
        near, far = (edge.child, edge.parent) if upstream else (edge.parent, edge.child)
        adjacent.setdefault(near, set()).add(far)
    by_end: dict[DatasetRef, list[ColumnEdge]] = {}
    for e in graph.column_edges if columns else ():
        by_end.setdefault(e.target if upstream else e.source, []).append(e)
    deepest = max(4, (width - 40) // 4)
    drawn: set[DatasetRef] = set()
    later = [graph.root]
    trees: list[Tree] = []

    def nexts(ref: DatasetRef) -> list[DatasetRef]:
        return sorted(adjacent.get(ref, ()))

    def with_columns(node: Tree, ref: DatasetRef) -> Tree:
        shown: set[str] = set()  # each run's edges are in the graph: a file written by ten
        for e in by_end.get(ref, ()):  # runs of one job listed every column ten times
            arrow = (f"{e.target_column} ← {e.source.name.rsplit('/', 1)[-1]}."
                     f"{e.source_column}" if upstream else
                     f"{e.source_column} → {e.target.name.rsplit('/', 1)[-1]}."
                     f"{e.target_column}")
            how = e.kind.value + (f": {e.description}" if e.description else "")
            line = f"[cyan]{escape(arrow)}[/cyan] [dim]({escape(how)})[/dim]"
            if line not in shown:
                shown.add(line)
                node.add(line)
        return node

    while later:
        start = later.pop(0)
        tree = Tree(_label(start, graph.nodes.get(start)))
        trees.append(tree if start != graph.root else with_columns(tree, start))
        drawn.add(start)
        stack = [(tree, iter(nexts(start)))]
        while stack:
            node, rest = stack[-1]
            nxt = next(rest, None)
            if nxt is None:
                stack.pop()
            elif nxt in drawn:
                node.add(f"{escape(str(nxt))}  [dim](shown above)[/dim]")
            else:
                drawn.add(nxt)
                child = with_columns(node.add(_label(nxt, graph.nodes.get(nxt))), nxt)
                if len(stack) < deepest:
                    stack.append((child, iter(nexts(nxt))))
                elif nexts(nxt):
                    child.add("[dim]… continued below[/dim]")
                    later.append(nxt)
    return trees


def _ids(graph: LineageGraph) -> dict[DatasetRef, str]:
    return {ref: f"n{i}" for i, ref in enumerate(graph.nodes)}


def _plain(ref: DatasetRef, v: DatasetVersion | None) -> list[str]:
    """The label's lines: the dataset, then its tier and tags."""
    if v is None:
        return [str(ref)]
    tags = f" {', '.join(v.classification.tags)}" if v.classification.tags else ""
    return [str(ref), f"{v.classification.tier.value}{tags}"]


def _dot(text: str) -> str:
    """``text`` as a DOT string: a name's backslash or quote cannot end the string early
    (a file named ``x\\"]; n0 [label="PUBLIC`` relabelled another node)."""
    escaped = visible(text, terminal=True).replace("\\", "\\\\").replace('"', '\\"')
    return '"' + escaped.replace("\r", "").replace("\n", "\\n") + '"'


def to_dot(graph: LineageGraph, *, columns: bool = False) -> str:
    """Graphviz DOT: datasets as boxes labelled with tier and tags, edges parent → child."""
    ids = _ids(graph)
    lines = ["digraph lineage {", "  rankdir=LR;", "  node [shape=box];"]
    for ref, v in graph.nodes.items():
        lines.append(f"  {ids[ref]} [label={_dot(chr(10).join(_plain(ref, v)))}];")
    for e in graph.edges:
        lines.append(f"  {ids[e.parent]} -> {ids[e.child]} [label={_dot(e.run_id[:8])}];")
    if columns:
        for ce in graph.column_edges:
            text = f"{ce.source_column} → {ce.target_column} ({ce.kind.value})"
            lines.append(f"  {ids[ce.source]} -> {ids[ce.target]} "
                         f"[style=dashed, label={_dot(text)}];")
    lines.append("}")
    return "\n".join(lines)


def _mermaid(text: str) -> str:
    """``text`` inside a quoted Mermaid label: quotes, ``<``/``>`` (read as HTML) and ``#``
    (which starts an entity) as Mermaid's entity codes, line breaks as spaces."""
    text = visible(text, terminal=True)  # printed on a terminal first: no ESC sequence
    for char, code in (("#", "#35;"), ('"', "#quot;"), ("<", "#lt;"), (">", "#gt;")):
        text = text.replace(char, code)
    return " ".join(text.splitlines())


def to_mermaid(graph: LineageGraph, *, columns: bool = False) -> str:
    """A Mermaid flowchart, left to right."""
    ids = _ids(graph)
    lines = ["flowchart LR"]
    for ref, v in graph.nodes.items():
        label = "<br/>".join(_mermaid(line) for line in _plain(ref, v))
        lines.append(f'  {ids[ref]}["{label}"]')
    for e in graph.edges:
        lines.append(f"  {ids[e.parent]} --> {ids[e.child]}")
    if columns:
        for ce in graph.column_edges:
            text = _mermaid(f"{ce.source_column} → {ce.target_column} ({ce.kind.value})")
            lines.append(f'  {ids[ce.source]} -. "{text}" .-> {ids[ce.target]}')
    return "\n".join(lines)
