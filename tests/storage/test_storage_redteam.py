"""Red-team findings on governed storage (2026-12-06): a file swapped in after the read was
decided, key rotations racing in two processes, ``lacuna storage cat -o``, and the plaintext
copy a killed process leaves behind."""

from __future__ import annotations

import multiprocessing
import os
import signal
import stat
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

import lacuna
from lacuna import storage
from lacuna.cli import app
from lacuna.keystore import FileKeyBackend, KeyStore
from lacuna.storage import access
from storage.conftest import customers, write_config


def test_a_file_swapped_in_after_the_decision_is_never_decrypted(vault: Path, monkeypatch) -> None:
    """The read is decided on public.csv's sidecar; the attacker (who owns the files) then
    moves a file of e-mail addresses to that path before it is opened: what is decrypted is
    the file the decision was taken on, never the one swapped in."""
    from lacuna.governor import current

    customers().to_csv(vault / "customers.csv", index=False)
    pd.DataFrame({"n": [1, 2]}).to_csv(vault / "public.csv", index=False)
    decide = access.declared_classification

    def racing(path: str, **kwargs: object):  # type: ignore[no-untyped-def]
        decided = decide(path, **kwargs)  # type: ignore[arg-type]
        os.replace(vault / "customers.csv", vault / "public.csv")
        return decided

    monkeypatch.setattr(access, "declared_classification", racing)
    assert storage.read_governed(vault / "public.csv") == b"n\n1\n2\n"
    reads = [r for r in current().audit.list(limit=None, action="read") if r.kind == "decision"]
    assert [r.tier for r in reads] == ["PUBLIC"]
    monkeypatch.setattr(access, "declared_classification", decide)
    # the file now at the path is the swapped one: its sidecar does not bind it (fail closed)
    assert b"ann@example.com" in storage.read_governed(vault / "public.csv")
    reads = [r for r in current().audit.list(limit=None, action="read") if r.kind == "decision"]
    assert [r.tier for r in reads] == ["PROPRIETARY", "PUBLIC"]


def test_a_file_swapped_in_before_the_sidecar_is_read_is_decided_as_proprietary(
    vault: Path, monkeypatch
) -> None:
    """The other order: the path is opened on the PII file, then swapped back to the public
    file before its sidecar is checked. The sidecar must bind the file held open."""
    from lacuna.lineage import sidecar as sc

    customers().to_csv(vault / "customers.csv", index=False)
    pd.DataFrame({"n": [1, 2]}).to_csv(vault / "public.csv", index=False)
    os.replace(vault / "public.csv", vault / "public.keep")
    os.replace(vault / "customers.csv", vault / "public.csv")
    read = sc.read_sidecar

    def racing(path: object, **kwargs: object):  # type: ignore[no-untyped-def]
        os.replace(vault / "public.keep", vault / "public.csv")  # back, for the check
        return read(path, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(sc, "read_sidecar", racing)
    with storage.open_governed(vault / "public.csv") as fh:
        assert b"ann@example.com" in fh.read()
        assert fh.raw.decided_on.tier.value == "PROPRIETARY"  # type: ignore[attr-defined]


def _rotate(folder: str, times: int, start: object) -> None:
    start.wait()  # type: ignore[attr-defined]
    store = KeyStore(FileKeyBackend(Path(folder)))
    for _ in range(times):
        store.rotate("storage")


def test_rotations_in_two_processes_never_lose_a_version(tmp_path: Path) -> None:
    """Two processes rotate the same key at once: each rotation adds its own version, none
    replaces a version another process made (and may already have sealed files with)."""
    KeyStore(FileKeyBackend(tmp_path)).current("storage")
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Event()
    procs = [ctx.Process(target=_rotate, args=(str(tmp_path), 80, start)) for _ in range(2)]
    for p in procs:
        p.start()
    start.set()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    versions = FileKeyBackend(tmp_path).versions("storage")
    assert versions == tuple(range(1, 162))
    assert stat.S_IMODE((tmp_path / "storage.key").stat().st_mode) == 0o600


@pytest.fixture
def sealed_csv(tmp_path: Path):  # type: ignore[no-untyped-def]
    config = write_config(tmp_path)
    lacuna.enable(str(config))
    root = tmp_path / "governed" / "workspace"
    customers().to_csv(root / "c.csv", index=False)
    yield config, root / "c.csv"
    lacuna.disable()


def _cat(config: Path, path: Path, *extra: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(app, ["storage", "cat", str(path), "--config", str(config), *extra])


def test_cat_never_writes_plaintext_into_governed_storage(sealed_csv) -> None:  # type: ignore[no-untyped-def]
    config, path = sealed_csv
    out = path.parent / "plain.csv"
    result = _cat(config, path, "-o", str(out))
    assert result.exit_code == 1, result.output
    assert "under a governed root" in result.output
    assert not out.exists()
    nested = path.parent / "sub"
    nested.mkdir()
    assert _cat(config, path, "-o", str(nested / "x.csv")).exit_code == 1
    assert list(nested.iterdir()) == []


def test_cat_output_is_private_even_over_an_open_file(sealed_csv, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """-o onto an existing world-readable file: the plaintext lands in a new file of mode
    0600 (the old one is replaced, never written into), and reads back exactly."""
    config, path = sealed_csv
    out = tmp_path / "out.csv"
    out.write_text("old\n")
    out.chmod(0o644)
    result = _cat(config, path, "-o", str(out))
    assert result.exit_code == 0, result.output
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert pd.read_csv(out).equals(customers())
    # no temporary file left; the copy's signed sidecar beside it (its class and clock)
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".out")) == [
        ".out.csv.lacuna.json"]


def test_cat_output_through_a_link_is_a_new_file_the_target_untouched(  # type: ignore[no-untyped-def]
        sealed_csv, tmp_path: Path) -> None:
    """A link at OUT (put there by whoever can write the folder) to a file elsewhere: the
    plaintext is a new file at OUT, the link's target keeps its bytes (the writer
    lacuna decrypt -o shares: lacuna.storage.access.write_plaintext_copy)."""
    config, path = sealed_csv
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    out = tmp_path / "out.csv"
    out.symlink_to(victim)
    result = _cat(config, path, "-o", str(out))
    assert result.exit_code == 0, result.output
    assert victim.read_text() == "precious\n"
    assert not out.is_symlink()
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert pd.read_csv(out).equals(customers())


def test_cat_to_dev_stdout_redirected_to_a_file(sealed_csv, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """-o /dev/stdout when stdout is a regular file: written into it as it is, never a new
    file made in /dev (as root, /dev/stdout itself was replaced by one)."""
    config, path = sealed_csv
    src = str(Path(__file__).resolve().parents[2] / "src")
    env = {**os.environ, "PYTHONPATH": src + os.pathsep + os.environ.get("PYTHONPATH", "")}
    into = tmp_path / "redirected.csv"
    with into.open("wb") as fh:
        done = subprocess.run([sys.executable, "-m", "lacuna", "storage", "cat", str(path),
                               "--config", str(config), "-o", "/dev/stdout"], stdout=fh,
                              stderr=subprocess.PIPE, env=env, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert os.path.islink("/dev/stdout")
    assert pd.read_csv(into).equals(customers())


def test_cat_of_a_damaged_file_leaves_no_partial_plaintext(sealed_csv, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    config, _ = sealed_csv
    big = tmp_path / "governed" / "workspace" / "big.csv"
    pd.DataFrame({"n": range(1_000_000)}).to_csv(big, index=False)  # ~7 MB: many chunks
    raw = bytearray(big.read_bytes())
    raw[-100_000] ^= 1  # a segment near the end: earlier ones decrypt first
    big.write_bytes(bytes(raw))
    out = tmp_path / "out.csv"
    result = _cat(config, big, "-o", str(out))
    assert result.exit_code == 1, result.output
    assert "does not authenticate" in result.output
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".out")] == []


def test_cat_into_a_missing_folder_is_refused_with_its_name_as_written(
        sealed_csv, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The error of a folder that is not there names it as it is: its text is not read as
    rich markup (a name with [/red] in it crashed the command with a MarkupError)."""
    config, path = sealed_csv
    out = tmp_path / "no[/red]such" / "out.csv"
    result = _cat(config, path, "-o", str(out))
    assert result.exit_code == 1, result.output
    assert "refused:" in result.output
    assert "no[/red]such" in result.output.replace("\n", "")
    assert not out.parent.exists()


_CHILD = """
import os, sys, time
import polars as pl
import lacuna
from lacuna.storage import frames
lacuna.enable(sys.argv[1])
copy = frames._copy_out
def slow(handle, dest):
    copy(handle, dest)
    print(dest, flush=True)
    time.sleep(60)
frames._copy_out = slow
pl.scan_csv(sys.argv[2]).collect()
"""


def test_a_plaintext_copy_left_by_a_killed_process_is_removed_by_the_next_read(sealed_csv) -> None:  # type: ignore[no-untyped-def]
    """polars' scan of a sealed folder reads a private plaintext copy; a SIGTERM in the middle
    runs no ``finally``, so the copy outlives the process: the same user's next path-based
    read removes it (and reads back exactly what was written)."""
    import polars as pl

    config, path = sealed_csv
    (path.parent / "ds").mkdir()
    customers().to_csv(path.parent / "ds" / "a.csv", index=False)
    with subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(config), str(path.parent / "ds" / "*.csv")],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    ) as child:
        assert child.stdout is not None
        copied = child.stdout.readline().strip()
        child.send_signal(signal.SIGTERM)
        child.wait(30)
    assert os.path.isfile(copied)  # the killed process could not remove it
    assert b"ann@example.com" in Path(copied).read_bytes()
    frame = pl.scan_csv(str(path.parent / "ds" / "*.csv")).collect()
    assert frame.to_pandas().equals(customers())
    assert not os.path.exists(os.path.dirname(os.path.dirname(copied)))


def test_sweep_leaves_running_processes_and_other_names_alone(tmp_path: Path) -> None:
    from lacuna.storage.frames import sweep

    done = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    dead = tmp_path / f"lacuna-plain-{done.stdout.strip()}-abc"
    mine = tmp_path / f"lacuna-plain-{os.getpid()}-abc"
    parent = tmp_path / f"lacuna-plain-{os.getppid()}-abc"  # running
    old = tmp_path / "lacuna-plain-abc"  # an older Lacuna's: no process id
    other = tmp_path / f"other-{done.stdout.strip()}"
    for folder in (dead, mine, parent, old, other):
        folder.mkdir()
        (folder / "x.csv").write_text("a\n1\n")
    assert sweep(str(tmp_path)) == [str(dead)]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        p.name for p in (mine, parent, old, other)
    )


def test_a_sealed_read_without_its_sidecar_keeps_the_tags_sealed_into_its_header(
        tmp_path: Path) -> None:
    """With the sidecar deleted (or not trusted) the read was decided as PROPRIETARY with no
    tags, so a policy denying reads of PII let ``storage.read_governed`` return the e-mails.
    The tags are sealed into the header, which every segment authenticates: edited to drop
    them, the file decrypts nothing."""
    from bundles import personal_read_denying_bundle
    from lacuna.errors import GovernanceViolation, StorageError
    from lacuna.lineage.sidecar import sidecar_paths

    config = write_config(tmp_path, policy={"dir": str(personal_read_denying_bundle(tmp_path))})
    vault = tmp_path / "governed" / "workspace"
    lacuna.enable(str(config))
    try:
        customers().to_csv(vault / "customers.csv", index=False)
        pd.DataFrame({"n": [1, 2]}).to_csv(vault / "public.csv", index=False)
        for path in (vault / "customers.csv", vault / "public.csv"):
            for side in sidecar_paths(path):
                side.unlink(missing_ok=True)
        decided = access.declared_classification(str(vault / "customers.csv"))
        assert decided.tier.value == "PROPRIETARY"
        assert "PII" in decided.tags
        assert "tags sealed into its header are kept" in decided.reasoning[0]
        with pytest.raises(GovernanceViolation):
            storage.read_governed(vault / "customers.csv")
        assert storage.read_governed(vault / "public.csv") == b"n\n1\n2\n"  # allowed: no PII
        raw = (vault / "customers.csv").read_bytes()
        forged = raw.replace(b'"tags": ["PII"', b'"tags": ["XXX"').replace(
            b'"tags":["PII"', b'"tags":["XXX"')
        assert forged != raw
        (vault / "customers.csv").write_bytes(forged)
        with pytest.raises(StorageError):
            storage.read_governed(vault / "customers.csv")
    finally:
        lacuna.disable()
