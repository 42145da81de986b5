"""``lacuna audit``: list the audit trail and verify that nobody has edited it.

``list`` shows decisions and, for operations that ran through ``Governor.execute``, their
outcome (succeeded, or FAILED with the error); a decision with no outcome ("—") was not run,
is still running, or its process died while it ran.

Exit codes: 0 ok, 1 the trail was tampered with (or a user or console session row beside it
does not verify), 2 a usage, configuration or database error.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from lacuna.errors import AuditError, ConfigError, LacunaError
from lacuna.redact import redact_url

if TYPE_CHECKING:
    from lacuna.audit import AuditRecord, AuditStore, VerifyReport
    from lacuna.audit.checkpoint import Checkpoint
    from lacuna.identity import IdentityReport

app = typer.Typer(
    help="Inspect the audit trail of governed operations and verify its hash chain.",
    no_args_is_help=True,
)

DbOption = Annotated[
    str | None,
    typer.Option("--db", metavar="URL",
                 help="SQLAlchemy URL of the audit trail. Default: audit.url from lacuna.yaml, "
                      "else audit.db in $LACUNA_HOME."),
]
ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", metavar="PATH", help="The lacuna.yaml to read audit.url from."),
]


def _json(value: object, *, indent: int | None = None) -> str:
    """``value`` as JSON text that any UTF-8 output can carry: non-ASCII as it is, a lone
    surrogate (a file name that is not UTF-8, as the trail keeps it) and the characters that
    would change the screen (DEL, C1 controls, bidirectional overrides) as their ``\\uXXXX``
    escapes, which read back as the same string (a surrogate stopped ``--json`` with a
    UnicodeEncodeError halfway through the listing)."""
    from lacuna.exceptions.shown import json_visible

    return json_visible(json.dumps(value, indent=indent, sort_keys=True, ensure_ascii=False))


def _fail(message: str, code: int = 2) -> typer.Exit:
    Console(stderr=True).print(f"[bold red]error:[/] {escape(message)}", highlight=False,
                               soft_wrap=True)
    return typer.Exit(code)


def _url(db: str | None, config: Path | None) -> str:
    if db:
        return db
    from lacuna.config import load_config
    from lacuna.remote.client import refuse_local_state

    try:
        loaded = load_config(config)
        refuse_local_state(loaded, "lacuna audit", _ON_THE_SERVER)
    except LacunaError as exc:
        raise _fail(str(exc)) from None
    return loaded.audit_url


_ON_THE_SERVER = ("Read the trail there: GET /api/v1/audit, /api/v1/audit/verify (a data "
                  "steward's or compliance officer's token) or the console's audit page "
                  "(/console/audit); --db reads a local database on purpose.")


def _checkpoint_log(config: Path | None) -> Path | None:
    from lacuna.config import load_config

    try:
        return load_config(config).audit.checkpoint_log
    except ConfigError as exc:
        raise _fail(str(exc)) from None


def _open(url: str, *, checkpoint_log: Path | None = None) -> AuditStore | None:
    """The store, opened read-only (SQLite ``mode=ro``: nothing is created or written), or
    None when its SQLite file does not exist. A missing file whose checkpoint exists was
    deleted: exit 1."""
    from lacuna.audit import AuditStore, ledger, turn
    from lacuna.audit.schema import parse_url, sqlite_file

    try:
        path = sqlite_file(parse_url(url))
        if path is not None and not path.exists():
            # What a trail leaves beside its database: the audit checkpoint (and the configured
            # checkpoint log), the decision log's checkpoint, the writers' turn file. Any of
            # them outliving the database means it was deleted, not that it never existed.
            marks = [p for p in (Path(f"{path}.checkpoint"), checkpoint_log,
                                 ledger.checkpoint_path(path), Path(f"{path}{turn.SUFFIX}"))
                     if p is not None and p.exists()]
            if marks:
                msg = (f"audit trail TAMPERED: the database {path} is gone, but {marks[0]} "
                       "shows a trail was recorded there: it was deleted or moved. "
                       "Restore it from a backup and tell your governance team.")
                raise _fail(msg, code=1)
            return None
        return AuditStore(url, create=False, read_only=True, checkpoint_log=checkpoint_log)
    except AuditError as exc:
        raise _fail(str(exc)) from None


@app.command("list")
def list_(
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="At most N records.")] = 50,
    denied: Annotated[bool, typer.Option("--denied", help="Only denied operations.")] = False,
    user: Annotated[str | None, typer.Option("--user", help="Only this user id.")] = None,
    action: Annotated[str | None, typer.Option(
        "--action", help="Only this action: read, write, export, transform, or an event's "
                         "(exception, configure, feedback, ...; a name that is neither is "
                         "refused with the list).")] = None,
    dataset: Annotated[str | None, typer.Option(
        "--dataset", metavar="PATH",
        help="Only operations on this file or dataset (read from or written to): who read "
             "this file.")] = None,
    since: Annotated[str | None, typer.Option(
        "--since", metavar="WHEN",
        help="Only records at or after WHEN: a duration back from now (90d, 12h, 30m, 2w) "
             "or an ISO date/time (UTC).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
    db: DbOption = None,
    config: ConfigOption = None,
) -> None:
    """List audit records, newest first."""
    from lacuna.audit.queries import check_action, parse_since, touching

    url = _url(db, config)
    try:
        begin = parse_since(since) if since else None
    except ValueError as exc:
        raise _fail(str(exc)) from None
    store = _open(url)
    try:
        if action is not None:
            action = check_action(action, None if store is None else store.actions)
    except (ValueError, AuditError) as exc:
        if store is not None:
            store.close()
        raise _fail(str(exc)) from None
    if store is None:
        if not as_json:
            typer.echo(f"No audit records yet ({redact_url(url)}).")
        return
    try:
        found = store.list(limit=None if dataset else limit, denied_only=denied, user=user,
                           action=action, since=begin)
    except AuditError as exc:
        raise _fail(str(exc)) from None
    finally:
        store.close()
    if dataset:
        found = touching(found, dataset)[:limit]
    if as_json:
        for rec in found:
            typer.echo(_json(rec.to_dict()))
        return
    if not found:
        typer.echo("No matching audit records.")
        return
    table = Table(title=f"Audit trail — {store.where} (times in UTC)", title_justify="left",
                  box=box.SIMPLE_HEAD, pad_edge=False)
    columns: tuple[str, ...] = ("#", "time", "user", "action", "destination", "tier",
                                "decision", "outcome", "policy")
    if dataset:  # who did what with this file, and why
        columns = ("#", "time", "user", "action", "via", "purpose", "decision", "outcome")
    for name in columns:
        table.add_column(name, no_wrap=name in ("#", "decision"), overflow="fold")
    seq_of = {rec.id: rec.seq for rec in found}
    outcome_of = {rec.outcome_of: rec for rec in found if rec.kind == "outcome"}
    for rec in found:
        decision = "[green]allowed[/]" if rec.allowed else "[bold red]DENIED[/]"
        if rec.kind == "outcome":
            of = rec.outcome_of or ""
            decision = f"outcome of #{seq_of[of]}" if of in seq_of else f"outcome of {of[:8]}"
            outcome = _status(rec)
        else:
            done = outcome_of.get(rec.id)
            outcome = f"{_status(done)} (#{done.seq})" if done is not None else "—"
        when = rec.timestamp.strftime("%Y-%m-%d %H:%M")
        # every value from the trail is shown as text: a file named "q4[/].csv" is no rich
        # markup (it made the listing fail), an ESC in it rewrites no line
        if dataset:
            table.add_row(str(rec.seq), when, _visible(_who(rec)), _visible(rec.action),
                          _visible(_part(rec, "how", "method")),
                          _visible(_part(rec, "why", "purpose")), decision, outcome)
            continue
        # an event that is no operation (a user created, a claim dismissed) says what it did
        # where an operation names its destination
        what = rec.destination or (rec.reasoning if rec.data.get("kind") not in (
            None, "outcome") and rec.reasoning else "—")
        table.add_row(str(rec.seq), when, _visible(_who(rec)), _visible(rec.action),
                      _visible(what), _visible(f"{rec.tier} (assumed)" if rec.tier_assumed
                                               else rec.tier or "—"), decision, outcome,
                      _visible(rec.policy_id or "—"))
    Console().print(table)


def _who(rec: AuditRecord) -> str:
    """The record's user, and the client host a server's client named (``who.host``): marked
    ``(host not verified)`` when the server took it on the client's word (the caller is bound
    to no host by the server's ``client_hosts``: docs/server.md, "Whose host")."""
    who = rec.data.get("who")
    host = who.get("host") if isinstance(who, dict) else None
    if not isinstance(host, str):
        return rec.user_id
    assert isinstance(who, dict)
    return (f"{rec.user_id} @{host}" if who.get("host_verified") is True
            else f"{rec.user_id} @{host} (host not verified)")


@app.command("config")
def config_(
    limit: Annotated[int, typer.Option("--limit", "-n", min=1,
                                       help="At most N configuration events.")] = 20,
    show: Annotated[str | None, typer.Option(
        "--show", metavar="REVISION",
        help="Print the recorded settings of this revision (a prefix will do) as JSON.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
    db: DbOption = None,
    config: ConfigOption = None,
) -> None:
    """The configurations the trail's decisions were made under, newest first: each
    lacuna.yaml revision, where it was read from, who first recorded under it, and which
    settings changed, with the changes that loosen governance marked."""
    from lacuna.audit.configuration import defaults, history, revision

    url = _url(db, config)
    store = _open(url)
    if store is None:
        typer.echo(f"No audit trail at {redact_url(url)}.")
        return
    try:
        events = history(store, limit=None if show else limit)
    except AuditError as exc:
        raise _fail(str(exc)) from None
    finally:
        store.close()
    if show is not None:
        found = [e for e in events if e.revision.startswith(show)]
        settings = found[0].settings if found else (
            defaults() if revision(defaults()).startswith(show) else None)
        if settings is None or len({e.revision for e in found}) > 1:
            why = "matches several revisions" if found else "is on no configuration event"
            msg = f"revision {show!r} {why} of {store.where}; `lacuna audit config` lists them."
            raise _fail(msg)
        typer.echo(_json(settings, indent=2))
        return
    if as_json:
        for e in events:
            typer.echo(_json({"seq": e.seq, "when": e.when, "user": e.user_id,
                              "revision": e.revision, "source": e.source,
                              "previous": e.previous,
                              "changes": [c.to_dict() for c in e.changes]}))
        return
    out = Console(highlight=False, soft_wrap=True)
    if not events:
        out.print(f"No configuration events on {store.where}: its decisions were made under "
                  f"the embedded defaults (revision {revision(defaults())}), or recorded by a "
                  "Lacuna that did not record its configuration (no config_revision).")
        return
    for e in events:
        head = (f"#{e.seq} {e.when[:19]} {_visible(e.user_id)}: configuration "
                f"[bold]{_visible(e.revision)}[/] from "
                f"{_visible(e.source or 'the embedded defaults')}")
        out.print(head)
        if e.previous is None:
            continue
        since = f"  {len(e.changes)} change(s) since {_visible(e.previous)}"
        loose = len(e.loosened)
        out.print(since + (f", [bold red]{loose} loosen governance[/]" if loose else ""))
        for c in e.changes:
            line = _visible(str(c))
            out.print(f"    [red]{line}[/]" if c.loosens else f"    {line}")


def _visible(text: str) -> str:
    """``text`` for one terminal line: rich markup escaped, control characters and
    bidirectional overrides written as escapes (a setting's name in lacuna.yaml, a file name,
    may hold an ESC sequence that would rewrite the lines above it), and so is a lone
    surrogate (a file name that is not UTF-8), which no terminal can be sent."""
    from lacuna.exceptions.shown import visible

    return escape(visible(text, one_line=True))


def _part(rec: AuditRecord, section: str, name: str) -> str:
    part = rec.data.get(section)
    value = part.get(name) if isinstance(part, dict) else None
    return str(value) if value else "—"  # shown through _visible, which escapes it once


def _verify_decision_log(store: AuditStore) -> VerifyReport | None:
    """The decision log's report when its table (or its checkpoint) is beside the trail."""
    from lacuna.audit import ledger
    from lacuna.audit.checkpoint import CheckpointLog, read_checkpoint_file

    checkpoint = ledger.checkpoint_path(store.path)
    # The checkpoints are read before the snapshot begins (a writer moves its checkpoints after
    # its records, so they are never ahead of the snapshot); when the file was missing and a
    # first writer created it meanwhile, the check starts over once (as AuditStore.verify does).
    for attempt in range(2):
        read = (False, None) if checkpoint is None else read_checkpoint_file(checkpoint)
        log = (None if store.checkpoint_log is None else
               (store.checkpoint_log,
                CheckpointLog(store.checkpoint_log).valid(ledger.CHAIN, store.keyring)))
        report = _verify_decision_log_against(store, checkpoint, read, log)
        if (report is None or report.ok or attempt or read[0] or checkpoint is None
                or not checkpoint.exists()):
            break
    return report


def _verify_decision_log_against(store: AuditStore, checkpoint: Path | None,
                                 read: tuple[bool, Checkpoint | None],
                                 log: tuple[Path, tuple[Checkpoint, ...]] | None
                                 ) -> VerifyReport | None:
    from sqlalchemy import inspect

    from lacuna.audit import ledger
    from lacuna.audit.record import VerifyReport
    from lacuna.audit.verify import pick
    from lacuna.policy.log_sinks import derived_columns, heads, table
    from lacuna.state import database_id

    with store.snapshot() as conn:
        inspector = inspect(conn)
        names = set(inspector.get_table_names())
        if table.name not in names:
            exists, cp = read
            if exists and (cp is None or cp.seq > 0):
                return VerifyReport(ok=False, checked=0, problem=(
                    f"the decision-log table is gone, but its checkpoint {checkpoint} records "
                    f"{cp.seq if cp else 'some'} record(s): it was deleted."))
            if log is not None:
                logged = pick(log[1], database_id.read(conn))[0]
                if logged is not None and logged.seq > 0:
                    return VerifyReport(ok=False, checked=0, problem=(
                        f"the decision-log table is gone, but its checkpoint in {log[0]} "
                        f"records {logged.seq} record(s): it was deleted."))
        gone = [t.name for t in (table, heads) if t.name not in names]
        evidence = _migrated(names)
        if gone and evidence is not None:
            return VerifyReport(ok=False, checked=0, problem=(
                f"the decision log's table(s) {', '.join(gone)} are gone from {store.where}, "
                f"whose state schema (table {evidence}) created them together with the audit "
                "trail's: they were dropped (with any decision logged there)."))
        if table.name not in names:
            return None
        columns = {c["name"] for c in inspector.get_columns(table.name)}
        if not set(ledger.CHAIN_COLUMNS) <= columns:
            return VerifyReport(ok=False, checked=0, problem=(
                "the decision log is not chained (written by an older Lacuna): it cannot be "
                "verified. Record one decision with this version to upgrade it."))
        if heads.name not in names:
            if conn.execute(table.select().limit(1)).first() is None:
                return None
            return VerifyReport(ok=False, checked=0, problem=(
                f"the decision log's head table {heads.name} was deleted."))
        return ledger.verify_ledger(conn, table, heads, store.keyring, checkpoint, read,
                                    log=log, columns=derived_columns)


def _migrated(names: set[str]) -> str | None:
    """A table of ``names`` showing that Lacuna's state schema was created in this database
    (its migrations create the decision log's tables with the audit trail's, whether or not a
    decision log is configured), or None: a database written before Lacuna used Alembic,
    where a decision log may never have existed."""
    from lacuna.metrics import rollup
    from lacuna.state import VERSION_TABLE

    return next((name for name in (VERSION_TABLE, rollup.state.name) if name in names), None)


def _status(rec: AuditRecord) -> str:
    if rec.status == "failed":
        return f"[bold red]FAILED[/] {_visible(rec.error or '')}".rstrip()
    return "[green]succeeded[/]" if rec.status == "succeeded" else "—"


@app.command()
def verify(db: DbOption = None, config: ConfigOption = None) -> None:
    """Recompute the hash chain, check signatures and checkpoints, and check the user and
    console session rows beside the trail: exit 0 when intact, 1 when a record was edited,
    removed or forged, the trail was truncated, rebuilt or deleted, its head row names a
    layout other than its records' (a newer Lacuna's, or an edit), or a user or session row
    does not verify (its signature, or the trail's record of it)."""
    url = _url(db, config)
    store = _open(url, checkpoint_log=_checkpoint_log(config))
    if store is None:
        if db is not None:  # named on the command line: a wrong path must not pass a CI step
            msg = (f"no audit trail at {redact_url(url)}: nothing there to verify. Check "
                   "--db (or leave it out to verify the configured audit.url).")
            raise _fail(msg)
        typer.echo(f"No audit trail at {redact_url(url)}: nothing to verify.")
        return
    try:
        report = store.verify()
        decisions = _verify_decision_log(store) if report.ok else None
        identities = _verify_identities(store)
    except AuditError as exc:
        raise _fail(str(exc)) from None
    finally:
        store.close()
    rows = _identity_problems(identities)
    if decisions is not None and not decisions.ok:
        msg = (f"decision log TAMPERED: {decisions.problem}\n{decisions.checked} decision-log "
               "record(s) before it are intact. Keep the database as evidence and tell your "
               f"governance team.{rows}")
        raise _fail(msg, code=1)
    if report.ok:
        typer.echo(f"Audit trail intact: {report.checked} record(s) verified "
                   f"({store.where}). Head hash: {report.head}")
        typer.echo(f"Matches {report.checkpoint}." if report.checkpoint else
                   "No checkpoint to compare with (a trail that never recorded anything).")
        if decisions is not None:
            typer.echo(f"Decision log intact: {decisions.checked} record(s) verified"
                       + (f", matches {decisions.checkpoint}." if decisions.checkpoint else "."))
        else:
            typer.echo("No decision log in this database (it predates Lacuna's state schema "
                       "and has no decision-log tables or checkpoint): nothing to verify there.")
        if rows:
            raise _fail(rows.lstrip(), code=1)
        typer.echo(f"User and console session rows verified: {identities.users} user(s), "
                   f"{identities.sessions} session(s).")
        if identities.legacy:
            typer.echo(f"{len(identities.legacy)} user(s) signed before their creation was on "
                       f"the audit trail, accepted as legacy: {', '.join(identities.legacy)}. "
                       "Check them (lacuna users list), then tie them to this trail (lacuna "
                       "users resign).")
        return
    if report.first_bad is not None:
        where = f" at record #{report.first_bad}"
        intact = f"{min(report.checked, report.first_bad - 1)} record(s) before it are intact."
    else:
        where, intact = "", f"The {report.checked} record(s) themselves chain correctly."
    msg = (f"audit trail TAMPERED{where}: {report.problem}\n"
           f"{intact} Keep the database as evidence and tell your governance team.{rows}")
    raise _fail(msg, code=1)


def _verify_identities(store: AuditStore) -> IdentityReport:
    """The user and console session rows beside the trail, checked as sign-in checks them."""
    from sqlalchemy.exc import SQLAlchemyError

    from lacuna.identity import verify_identities

    try:
        return verify_identities(store)
    except SQLAlchemyError as exc:
        msg = (f"cannot read the user and session rows in {store.where} ({exc}); check that "
               "the database is reachable and run lacuna audit verify again.")
        raise AuditError(msg) from exc


def _identity_problems(report: IdentityReport) -> str:
    """The rows that fail, one a line after a heading ("" when none)."""
    if report.ok:
        return ""
    lines = "\n".join(f"- {p}" for p in report.problems)
    return (f"\nidentity rows NOT VERIFIED: {len(report.problems)} user or console session "
            f"row(s) of the {report.users + report.sessions} authenticate nobody (each says "
            f"what to do):\n{lines}")
