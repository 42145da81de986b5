"""One logical operation, one decision: what the audit trail holds after a read, a new file, an
overwrite and an append through the mount, on every transport (the kernel session with
passthrough, libfuse, and the kernel session writing plain files in place), by Python and by
a shell (which closes a duplicate of the descriptor before it writes: a flush with nothing
written, which must not be a second decision).

An allowed write has two records by design: its decision and, after the file is in place, its
outcome (``kind: outcome``, naming the decision: docs/audit.md). A sealed file's read is
decrypted by ``open_governed``, which records the outcome of that open too; a plain file's
read is decided at ``open`` and has no outcome record (the kernel reads the bytes).
"""

from __future__ import annotations

import time
import uuid

import pytest

from lacuna.audit import AuditStore
from lacuna.mount.fs import MTIME_TICK_NS

pytestmark = pytest.mark.xdist_group("mount")

TRANSPORTS = ("mount", "libfuse_mount", "plain_mount")
SEALED = {"mount": True, "libfuse_mount": True, "plain_mount": False}


def _records(m, path):
    """The decisions about ``path`` (a backing path) and their outcomes, oldest first, once
    the kernel's asynchronous RELEASE of every close of it has been served."""
    m.settled(path.name)
    store = AuditStore(m.audit_url)
    try:
        everything = store.list(limit=None)
    finally:
        store.close()
    decisions = {r.id for r in everything if r.kind == "decision" and (
        str(path) == r.destination or str(path) in r.data["what"].get("sources", ()))}
    return sorted((r for r in everything if r.id in decisions or r.outcome_of in decisions),
                  key=lambda r: r.seq)


def _kinds(records):
    return sorted(f"{r.kind} {r.action}" for r in records)


def _write(m, path, text, *, how, append=False):
    if how == "python":
        with open(path, "a" if append else "w") as fh:
            fh.write(text)
        return
    redirect = ">>" if append else ">"
    result = m.run("sh", "-c", f"printf '%s' '{text}' {redirect} '{path}'")
    assert result.returncode == 0, result.stderr


def _older_than_a_tick(backing):
    """Wait until ``backing`` was last written more than ``MTIME_TICK_NS`` ago: a passthrough
    file's close that wrote nothing yet (a shell's close of the descriptor it duplicated) is
    decided when the file's mtime is too young to tell a same-size rewrite (fail closed,
    docs/mount.md), so an append opened within 50 ms of the overwrite has two decisions by
    design. (A full run under load once opened it that soon.) Polled, with a deadline."""
    deadline = time.monotonic() + 5
    while (time.time_ns() - backing.stat().st_mtime_ns <= MTIME_TICK_NS
           and time.monotonic() < deadline):
        time.sleep(0.01)


@pytest.mark.parametrize("how", ["python", "shell"])
@pytest.mark.parametrize("transport", TRANSPORTS)
def test_each_operation_has_exactly_one_decision(transport, how, request):
    m = request.getfixturevalue(transport)
    (m.mnt / "counts").mkdir(exist_ok=True)
    name = f"c-{uuid.uuid4().hex[:8]}.txt"
    path, backing = m.mnt / "counts" / name, m.source / "counts" / name
    seen = 0

    def new_records():
        nonlocal seen
        found = _records(m, backing)
        fresh, seen = found[seen:], len(found)
        return _kinds(fresh)

    _write(m, path, "first line\n", how=how)
    assert new_records() == ["decision write", "outcome write"], "write-new"

    assert path.read_text() == "first line\n"
    read = ["decision read", "outcome read"] if SEALED[transport] else ["decision read"]
    assert new_records() == read, "read"

    _write(m, path, "replaced\n", how=how)
    assert new_records() == ["decision write", "outcome write"], "overwrite"

    _older_than_a_tick(backing)
    _write(m, path, "appended\n", how=how, append=True)
    # appending to a sealed file decrypts it into the staged copy first: a decided read too
    appended = sorted(["decision write", "outcome write", *(read if SEALED[transport] else [])])
    assert new_records() == appended, "append"
    assert path.read_text() == "replaced\nappended\n"
    new_records()  # the read just done
    assert new_records() == [], "nothing decided later (at release)"


REOPEN = """\
import sys
path, data = sys.argv[1], open(sys.argv[2]).read()
open(path, "w").close()  # what np.savetxt does: create it empty, then open it again to write
try:
    with open(path, "w") as fh:
        fh.write(data)
except OSError as exc:
    print(exc.errno)
"""


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_file_created_empty_then_rewritten_is_decided_on_what_it_holds(transport, request):
    """The empty create's release may come while the second open writes the same staged copy:
    it must not decide (and publish) that copy on its own; the second open's close decides what
    is written, as it is then (a snapshot), and nothing of it arrives when refused (the empty
    file the create made may: it is decided as what it is, empty)."""
    import sys

    m = request.getfixturevalue(transport)
    name = f"r-{uuid.uuid4().hex[:8]}.txt"
    result = m.run(sys.executable, "-c", REOPEN, str(m.mnt / "outbox" / name),
                   str(m.source / "customers.csv"))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "13"  # EACCES at close
    found = _records(m, m.source / "outbox" / name)
    # the empty file the first open created is a write of its own (allowed: it holds nothing,
    # and it is there, as on any file system); what the second open wrote is refused whole
    allowed = [r for r in found if r.kind == "decision" and r.allowed]
    assert [r.data["what"]["column_count"] for r in allowed] in ([], [0])
    assert any(r.kind == "decision" and not r.allowed and r.tier == "PROPRIETARY"
               for r in found)
    out = m.source / "outbox" / name
    assert not out.exists() or out.read_bytes() == b""


HELD = """\
import sys
path, data = sys.argv[1], open(sys.argv[2]).read()
first = open(path, "w")  # created, and still open while the second open writes the copy
out = []
for fh in (open(path, "w"), first):
    try:
        if fh is not first:
            fh.write(data)
        fh.close()
        out.append("ok")
    except OSError as exc:
        out.append(str(exc.errno))
print(" ".join(out))
"""


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_refused_copy_is_refused_once_for_every_open_of_it(transport, request):
    """np.savetxt's pattern with the create's close late (what a slow RELEASE does under load):
    two opens write one staged copy; the second's close is refused. The first open's close
    then finds the same refused data in the copy: it is refused too, but it is the same
    export, not a second decision (two refusals were recorded, now and then, under load)."""
    import sys

    m = request.getfixturevalue(transport)
    name = f"h-{uuid.uuid4().hex[:8]}.txt"
    result = m.run(sys.executable, "-c", HELD, str(m.mnt / "outbox" / name),
                   str(m.source / "customers.csv"))
    assert result.returncode == 0, result.stderr
    second, first = result.stdout.split()
    assert second == "13"  # EACCES: the export is refused at close
    assert first in ("13", "ok")
    found = _records(m, m.source / "outbox" / name)
    refused = [r for r in found if r.kind == "decision" and not r.allowed]
    assert len(refused) == 1, [(r.seq, r.data["how"]["code_location"]) for r in refused]
    assert refused[0].tier == "PROPRIETARY"
    out = m.source / "outbox" / name
    assert not out.exists() or out.read_bytes() == b""


@pytest.mark.parametrize("how", ["touch", "python", "cp"])
@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_new_file_appears_with_one_decision_even_empty(transport, how, request):
    """``touch new`` (and an empty ``open(p, "w")``) creates a file: it must appear, decided
    once, like any write. Sealed storage and outside folders stage new files, and published
    them only when written to: an empty one vanished silently at release, nothing recorded."""
    m = request.getfixturevalue(transport)
    (m.mnt / "counts").mkdir(exist_ok=True)
    name = f"e-{uuid.uuid4().hex[:8]}.txt"
    path, backing = m.mnt / "counts" / name, m.source / "counts" / name
    if how == "touch":
        result = m.run("touch", str(path))
    elif how == "cp":
        (m.root / name).write_text("a,b\n1,2\n")
        result = m.run("cp", str(m.root / name), str(path))
    else:
        path.open("w").close()
        result = None
    assert result is None or result.returncode == 0, result.stderr
    assert path.exists(), f"{how}: the new file is not there"
    assert path.read_text() == ("a,b\n1,2\n" if how == "cp" else "")
    # an empty file is decided at its release, which the kernel sends after close returns
    found = [r for r in _records(m, backing) if r.action == "write"]
    assert _kinds(found) == ["decision write", "outcome write"], how
