"""``lacuna keys`` (the key store's versions, rotation) and ``lacuna storage`` (sealed governed
files: status, an audited read, re-wrapping after a rotation). See docs/storage.md.

Exit codes: 0 ok, 1 a file could not be re-wrapped, a read or a key retirement was refused,
a sealed file is damaged or not verified (``storage status``), 2 a configuration error.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape

keys_app = typer.Typer(no_args_is_help=True)
storage_app = typer.Typer(no_args_is_help=True)

ConfigOption = Annotated[
    Path | None, typer.Option("--config", "-c", help="Path to lacuna.yaml (default: search).")
]
err = Console(stderr=True)

if TYPE_CHECKING:
    from lacuna.keystore import KeyStore


def _governor(config: Path | None):  # type: ignore[no-untyped-def]
    from lacuna.governor import configure

    return configure(str(config) if config else None)


def _default_key(key_id: str | None, config: Path | None) -> str:
    return key_id or _governor(config).config.storage.key_id


@keys_app.command("list")
def list_keys(
    key_id: Annotated[str | None, typer.Argument(help="Key id (default: storage.key_id).")] = None,
    config: ConfigOption = None,
) -> None:
    """The versions of a key (never its material); the last one is current."""
    from lacuna.keystore import keystore_for

    gov = _governor(config)
    name = key_id or gov.config.storage.key_id
    store = keystore_for(gov.config)
    versions = store.backend.versions(name)
    if not versions:
        typer.echo(f"{name}: no version yet (created on first use)")
        return
    retired = store.backend.retired(name)
    shown = {v: f"v{v}" + (" (current)" if v == versions[-1] else "") for v in versions}
    shown.update({v: f"v{v} (retired {when})" for v, when in retired.items()})
    typer.echo(f"{name} ({store.backend.name}): " + ", ".join(shown[v] for v in sorted(shown)))


@keys_app.command("rotate")
def rotate(
    key_id: Annotated[str | None, typer.Argument(help="Key id (default: storage.key_id).")] = None,
    config: ConfigOption = None,
) -> None:
    """Add a new current version of a key. New files use it; files sealed with older versions
    stay readable until `lacuna storage rewrap` moves them to it."""
    from lacuna.errors import StorageError
    from lacuna.keystore import keystore_for
    from lacuna.storage.access import refuse_a_new_key

    gov = _governor(config)
    name = key_id or gov.config.storage.key_id
    store = keystore_for(gov.config)
    try:  # rotating a key the store lacks creates it first
        refuse_a_new_key(f"cannot rotate {name}", store, name, gov)
    except StorageError as exc:
        typer.echo(f"refused: {exc}", err=True)
        raise typer.Exit(1) from None
    key = store.rotate(name)
    _event(gov, "key_rotate", {"key": str(key.ref)})
    typer.echo(f"{name}: v{key.ref.version} is now current ({key.ref.backend} key store). "
               "Run `lacuna storage rewrap` to re-wrap sealed files with it.")


@keys_app.command("retire")
def retire(
    version: Annotated[int, typer.Argument(help="The version to retire (never the current).")],
    key_id: Annotated[str | None, typer.Argument(help="Key id (default: storage.key_id).")] = None,
    force: Annotated[bool, typer.Option(
        "--force", help="Retire a key other than storage.key_id: what only that version made "
                        "(tokens, FPE values, hashes, exception files) can no longer be "
                        "opened or re-derived.")] = False,
    config: ConfigOption = None,
) -> None:
    """Destroy an old version of a key: its material is removed from the key store and its
    number is never reused. For storage.key_id it is refused while a sealed file under the
    governed roots (or retention.archive_dir) is wrapped only by that version (run `lacuna
    storage rewrap` first); any other key needs --force, since what it made cannot be found
    to check."""
    from lacuna.errors import ConfigError
    from lacuna.keystore import keystore_for
    from lacuna.storage.rotation import local_roots, wrapped_only_by

    gov = _governor(config)
    name = key_id or gov.config.storage.key_id
    store = keystore_for(gov.config)
    storage_key = name == gov.config.storage.key_id
    shared = name == gov.config.exceptions.encryption_key
    detail: dict[str, object] = {"key": name, "version": version, "forced": force}

    def refuse(why: str, code: int) -> typer.Exit:
        """The refusal on the audit trail too (who tried to destroy which key, and why not)."""
        typer.echo(f"refused: {why}", err=True)
        _event(gov, "key_retire", {**detail, "refused": why}, allowed=False)
        return typer.Exit(code)

    try:
        store.check_retirable(name, version)
    except ConfigError as exc:
        raise refuse(str(exc), 2) from None
    if storage_key:
        still = wrapped_only_by([r for r in local_roots(gov) if r.exists()], name, version,
                                store.backend.versions, keystore=store)
        if still:
            shown = ", ".join(str(p) for p in still[:5]) + (" …" if len(still) > 5 else "")
            why = (f"{len(still)} sealed file(s) are wrapped only by {name} v{version} and "
                   f"could not be opened after it is retired ({shown}). Run `lacuna storage "
                   "rewrap` first (a file that vanished while it was checked was being "
                   "written: run the retirement again; a folder that could not be listed may "
                   "hold such files: make it readable, or move them to a shorter path, and "
                   "run both again).")
            raise refuse(why, 1)
    if (shared or not storage_key) and not force:
        uses = "exception files encrypted with it" if shared else (
            "tokens, FPE values, keyed hashes or exception files made with it")
        why = (f"{name} is not (only) governed storage's key; Lacuna cannot find the {uses}, "
               f"and after retiring v{version} they can no longer be opened or re-derived. "
               "Pass --force if that is what you want (crypto-shredding).")
        raise refuse(why, 1)
    # recorded first: key material is never destroyed off the record (an audit trail that
    # cannot be written leaves the version in place); a retirement that then fails is recorded
    # as refused after it
    _event(gov, "key_retire", detail)
    try:
        store.retire(name, version)
    except ConfigError as exc:
        raise refuse(str(exc), 2) from None
    typer.echo(f"{name}: v{version} retired ({store.backend.name} key store); its material is "
               "gone from the key store (a process running now, such as lacuna serve, holds it "
               "until it restarts).")


@storage_app.command("rewrap")
def rewrap_command(
    roots: Annotated[list[Path] | None, typer.Argument(
        help="Governed folders or files (default: every local destinations.governed root and "
             "retention.archive_dir).")]
    = None,
    config: ConfigOption = None,
) -> None:
    """Re-wrap every sealed file's data key with the current key version (payloads are not
    rewritten). Exit 1 when a file could not be re-wrapped."""
    from lacuna.storage.rotation import check_roots, local_roots, rewrap_files

    gov = _governor(config)
    chosen = check_roots(roots) if roots else tuple(r for r in local_roots(gov) if r.exists())
    results = rewrap_files(gov, chosen)
    failed = [r for r in results if r.error]
    changed = [r for r in results if r.changed]
    for r in results:
        if r.error:
            err.print(f"[red]failed[/red] {escape(f'{r.path}: {r.error}')}", highlight=False)
        elif r.changed:
            typer.echo(f"rewrapped {r.path}: {r.before} → {r.after}")
    _event(gov, "storage_rewrap", {"roots": [str(r) for r in chosen], "files": len(results),
                                   "rewrapped": len(changed), "failed": len(failed)},
           allowed=not failed)
    typer.echo(f"{len(changed)} of {len(results)} sealed file(s) re-wrapped, "
               f"{len(results) - len(changed) - len(failed)} already current, "
               f"{len(failed)} failed.")
    if failed:
        raise typer.Exit(1)


@storage_app.command("status")
def status(
    paths: Annotated[list[Path], typer.Argument(help="Files under a governed root.")],
    config: ConfigOption = None,
) -> None:
    """Whether each file is sealed and whole, and with which key version (no plaintext is
    shown). A sealed file is checked without reading it: its header, a key slot and a length
    whole segments give (no key needed), then its last segment is authenticated with the
    configured key store (one segment read), so a file truncated anywhere is damaged. A file
    whose key is not in the key store is NOT VERIFIED (its key-less checks passed; the line
    says which key and what to do). Every path is reported; then exit 2 when a path is not a
    file or the key store cannot be opened, 1 when a sealed file is damaged or not
    verified."""
    from lacuna.errors import LacunaError, StorageError
    from lacuna.keystore import keystore_for
    from lacuna.storage.sealed import check, is_sealed, verify

    missing = damaged = unusable = False
    store: KeyStore | None = None
    store_error: str | None = None
    for path in paths:
        if not path.is_file():  # a mistyped path is not "NOT sealed"
            err.print(f"{escape(str(path))}: no such file: check the path", highlight=False)
            missing = True
            continue
        if not is_sealed(path):
            typer.echo(f"{path}: NOT sealed (plaintext, or not a file Lacuna wrote)")
            continue
        try:
            h = check(path)  # no key: the header, a slot, the length
        except (StorageError, OSError) as exc:
            typer.echo(f"{path}: damaged ({exc})")
            damaged = True
            continue
        if store is None and store_error is None:
            try:
                store = keystore_for(_governor(config).config)
            except LacunaError as exc:  # the configuration: usage, not a damaged file
                store_error = str(exc)
        if store is None:  # the key-less checks still ran, for every path
            typer.echo(f"{path}: NOT VERIFIED, sealed with {h.key}; its header, key slot and "
                       "length are intact, but the key store cannot be opened to authenticate "
                       f"its data ({store_error}). Fix the configuration (lacuna.yaml: "
                       "anonymize.keystore, anonymize.key_dir) and run it again.")
            unusable = True
            continue
        lacking = _key_missing(path, store)
        if lacking is not None:
            typer.echo(f"{path}: NOT VERIFIED, {lacking}")
            damaged = True
            continue
        try:
            verify(path, store)  # the last segment authenticates (truncated at a boundary)
        except (LacunaError, OSError) as exc:
            typer.echo(f"{path}: damaged, {h.key} ({exc})")
            damaged = True
            continue
        meta = h.meta
        typer.echo(f"{path}: sealed, {h.key}, written by {meta.get('written_by')} "
                   f"with {meta.get('method')} at {meta.get('written_at')}")
    if missing or damaged or unusable:  # (each path reported first)
        raise typer.Exit(2 if missing or unusable else 1)


def _key_missing(path: Path, store: KeyStore) -> str | None:
    """Why no key of ``store`` opens the sealed file ``path`` (its header and length already
    checked), as what to do: its key (version) is not in the store, or the store's key of
    that name and version does not unwrap it. None when a key does (:func:`unwrapping_keys`).
    A file whose key is missing is not damaged: restoring it from a backup would not help."""
    from lacuna.errors import LacunaError
    from lacuna.storage.sealed import unwrapping_keys, wrapping_keys

    if unwrapping_keys(path, store):
        return None
    refs = wrapping_keys(path)
    absent, wrong = [], []
    for ref in refs:
        try:
            store.get(ref.id, ref.version)
        except LacunaError as exc:
            absent.append(f"{ref}: {exc}")
            continue
        wrong.append(str(ref))
    if absent and not wrong:
        return (f"its key is not in this key store ({'; '.join(absent)}). Its header, key "
                "slot and length are intact: the file is not known to be damaged, but "
                "nothing here can read it. Run this where the key store that sealed it is "
                "configured (anonymize.keystore / key_dir in lacuna.yaml), or restore that "
                "key file from its backup; if the key is lost, so is the file's data.")
    return (f"the key store's {', '.join(wrong)} does not open it (a key of the same name "
            "and version from another key store, or its key slot was altered). Run this "
            "where the key store that sealed it is configured (anonymize.keystore / key_dir "
            "in lacuna.yaml); if that one does not open it either, restore the file from a "
            "backup.")


@storage_app.command("cat")
def cat(
    path: Annotated[Path, typer.Argument(help="A sealed governed file.")],
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", help="Write the plaintext here (mode 0600; default: stdout).")] = None,
    purpose: Annotated[str | None, typer.Option(help="Why you read it (audited).")] = None,
    config: ConfigOption = None,
) -> None:
    """Read a sealed file's plaintext, if the policy allows it (decided and audited first).
    With -o, the plaintext appears there (a new file, mode 0600) only once all of it
    authenticated, with a signed sidecar saying the class it was read as and when its data
    was first seen; never under a governed root, where files are sealed. Exit 1 when
    refused."""
    from lacuna.errors import GovernanceViolation, StorageError
    from lacuna.storage.access import (
        label_plaintext_copy,
        open_governed,
        refuse_plaintext_output,
        write_plaintext_copy,
    )

    gov = _governor(config)
    try:
        if output is not None:
            refuse_plaintext_output("lacuna storage cat -o", output, gov.config)
        fh = open_governed(path, purpose=purpose, method="lacuna storage cat", gov=gov)
    except (GovernanceViolation, StorageError, OSError) as exc:
        err.print(f"[red]refused:[/red] {escape(str(exc))}", highlight=False)
        raise typer.Exit(1) from None
    with fh:
        try:
            if output is None:  # streamed: what came before a damaged segment is out already
                while chunk := fh.read(1 << 20):
                    sys.stdout.buffer.write(chunk)
                sys.stdout.flush()
            else:
                if write_plaintext_copy(output, iter(lambda: fh.read(1 << 20), b"")):
                    # labelled as what was read: its class and its data's retention clock
                    label_plaintext_copy(output, fh, gov)
        except (StorageError, OSError) as exc:  # a damaged segment; -o's folder missing
            err.print(f"[red]refused:[/red] {escape(str(exc))}", highlight=False)
            raise typer.Exit(1) from None


def _event(gov, event: str, detail: dict[str, object], *,  # type: ignore[no-untyped-def]
           allowed: bool = True) -> None:
    from lacuna.storage.rotation import audit_event

    audit_event(gov, event, detail, allowed=allowed)
