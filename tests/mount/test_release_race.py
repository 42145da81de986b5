"""A new file's staged copy outlives every open of it that is still under way.

A write to an outside folder (or into sealed storage) goes to a staged copy and is decided at
its writer's release, on a snapshot taken in the copy's folder. Another open of the same new
file (a reader: ``touch new && cat new``) shares the copy. Its release used to find no other
open (the writer's handle was unlisted as soon as its release began), remove the staging
folder, snapshot included, while the writer's decision read it: the write failed closed,
unrecorded, and the file never appeared. Under a busy machine the kernel's asynchronous
releases overlap that way (``test_audit_counts``'s ``touch`` case failed about half the time).

These tests drive :class:`~lacuna.mount.fs.GovernedFS` directly, without FUSE, so the reader
is released exactly in the middle of the writer's decision. The governance is a stand-in
(named as such): it treats every folder as an outside folder and records what it is asked to
decide; the real one is exercised through real mounts in the other test files.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from lacuna.model import Action
from lacuna.mount.context import Caller, serving
from lacuna.mount.fs import GovernedFS
from lacuna.mount.layout import MountLayout


class StandInGovernance:
    """Stands in for ``MountGovernance``: every path is in an outside folder, nothing is
    sealed, and each write decision runs ``during`` (if set) before it reads what it decides,
    then publishes it."""

    gov = None

    def __init__(self, layout: MountLayout) -> None:
        self.layout = layout
        self.during: Callable[[], None] | None = None
        self.holding: Callable[[], None] | None = None
        self.decided: list[tuple[str, bytes]] = []
        self.refused: list[tuple[str, str, str]] = []  # (action, path, reason)
        self.reads: list[str] = []  # reads decided (of a pending copy: its other opens)

    def _outside(self, backing: str) -> bool:  # every folder is outside
        return True

    def target_clock(self, backing: str) -> datetime | None:  # no file has a clock here
        return None

    def write(self, path: str, data: str, pid: int, publish: Callable[[datetime], None], *,
              before: datetime | None = None, **_: object) -> None:
        during, self.during = self.during, None
        if during is not None:
            during()
        with open(data, "rb") as fh:  # what the real governance classifies
            self.decided.append((path, fh.read()))
        publish(datetime.now(UTC))

    def read(self, path: str, pid: int, **_: object) -> None:  # every read is allowed here
        self.reads.append(path)

    def classify_file(self, backing: str) -> None:  # what an append keeps: nothing here
        return None

    def root_within(self, backing: str) -> None:  # no destination folder to keep in place
        return None

    def keep_held(self, what: str, paths: tuple[str, ...], pid: int, **_: object) -> None:
        """Nothing is held here; runs ``holding`` (if set) while it looks."""
        holding, self.holding = self.holding, None
        if holding is not None:
            holding()

    def refuse(self, action: Action, path: str, pid: int, reason: str, **_: object) -> None:
        self.refused.append((action.value, path, reason))  # the real one records, then raises


@pytest.fixture
def fs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[GovernedFS, StandInGovernance]:
    source, mnt = tmp_path / "data", tmp_path / "mnt"
    source.mkdir()
    mnt.mkdir()
    governance = StandInGovernance(MountLayout.of(source, mnt))
    monkeypatch.setattr("lacuna.mount.fs.seals", lambda *_: False)
    serving(Caller(os.getuid(), os.getgid(), os.getpid()))
    try:
        yield GovernedFS(governance), governance  # type: ignore[arg-type]
    finally:
        serving(None)


def test_a_reader_released_during_the_writers_decision_leaves_the_copy(fs):
    files, governance = fs
    writer = files.create("/new.csv", 0o644)
    files.write("/new.csv", b"id,email\n1,a@example.com\n", 0, writer)
    reader = files.open("/new.csv", os.O_RDONLY)  # shares the staged copy
    governance.during = lambda: files.release("/new.csv", reader)
    files.flush("/new.csv", writer)  # the writer's close: decided here
    files.release("/new.csv", writer)
    assert governance.decided == [("/new.csv", b"id,email\n1,a@example.com\n")]
    assert (Path(files.layout.source) / "new.csv").read_bytes() == b"id,email\n1,a@example.com\n"
    assert os.listdir(files.layout.staging) == []  # nothing staged is left behind


def test_an_empty_new_file_decided_at_release_while_a_reader_closes(fs):
    """``touch new`` then a read: the empty file is decided at the writer's release (its close
    had nothing to decide), and the reader's release comes in the middle of it."""
    files, governance = fs
    writer = files.create("/empty.txt", 0o644)
    files.flush("/empty.txt", writer)  # nothing written: decided at release
    assert governance.decided == []
    reader = files.open("/empty.txt", os.O_RDONLY)
    governance.during = lambda: files.release("/empty.txt", reader)
    files.release("/empty.txt", writer)
    assert governance.decided == [("/empty.txt", b"")]
    assert (Path(files.layout.source) / "empty.txt").read_bytes() == b""
    assert os.listdir(files.layout.staging) == []


def test_a_second_writer_still_open_decides_what_it_wrote_after(fs):
    """The other side of the rule: a writer whose release has begun decides only its own
    snapshot; a second writer of the same copy, still open, is not skipped because of it,
    and its close decides everything, later writes included."""
    files, governance = fs
    first = files.create("/two.csv", 0o644)
    files.write("/two.csv", b"a\n", 0, first)
    second = files.open("/two.csv", os.O_WRONLY)
    files.flush("/two.csv", first)
    files.release("/two.csv", first)
    files.write("/two.csv", b"b\n", 2, second)
    files.flush("/two.csv", second)
    files.release("/two.csv", second)
    assert governance.decided[-1] == ("/two.csv", b"a\nb\n")
    assert (Path(files.layout.source) / "two.csv").read_bytes() == b"a\nb\n"
    assert os.listdir(files.layout.staging) == []


def _published(files: GovernedFS, name: str) -> bytes:
    return (Path(files.layout.source) / name).read_bytes()


@pytest.mark.parametrize("first_released", ["writer", "truncator"])
def test_a_truncation_after_a_close_wins_whichever_release_comes_first(fs, first_released):
    """``echo hello > f; : > f; echo again >> f``: each open of the second and third program
    comes while the first's RELEASE is still on its way (asynchronous), so each shares its
    staged copy. The truncating open was not a write there: nothing decided it, and the
    first's decision (hello) stayed published whatever came after. The content follows the
    order of the closes, whatever the order of the releases."""
    files, governance = fs
    writer = files.create("/f.txt", 0o644)
    files.write("/f.txt", b"hello\n", 0, writer)
    files.flush("/f.txt", writer)  # its close: hello decided and published
    assert _published(files, "f.txt") == b"hello\n"
    truncator = files.open("/f.txt", os.O_WRONLY | os.O_TRUNC)  # writer not released yet
    files.flush("/f.txt", truncator)
    for fh in (writer, truncator) if first_released == "writer" else (truncator, writer):
        files.release("/f.txt", fh)
    assert _published(files, "f.txt") == b""
    assert governance.decided[-1] == ("/f.txt", b"")
    appender = files.open("/f.txt", os.O_WRONLY | os.O_APPEND)
    files.write("/f.txt", b"again\n", 0, appender)
    files.flush("/f.txt", appender)
    files.release("/f.txt", appender)
    assert _published(files, "f.txt") == b"again\n"  # not hello, then again
    assert governance.decided[-1] == ("/f.txt", b"again\n")
    assert os.listdir(files.layout.staging) == []


def test_a_truncation_released_at_once_with_the_writer_is_not_lost(fs):
    """The two releases of ``echo hello > f; : > f`` at once: the truncator's found the writer
    still open on the copy and left the decision to its close, but the writer's release had
    begun and looked meanwhile (nothing written since its decision): no one decided the
    truncation, and the file kept hello (1 in ~15 under a loop of the shell's)."""
    files, governance = fs
    writer = files.create("/f.txt", 0o644)
    files.write("/f.txt", b"hello\n", 0, writer)
    files.flush("/f.txt", writer)
    truncator = files.open("/f.txt", os.O_WRONLY | os.O_TRUNC)
    files.flush("/f.txt", truncator)
    sharing = files._sharing

    def writer_released_meanwhile(handle):
        files._sharing = sharing  # type: ignore[method-assign]
        found = sharing(handle)
        files.release("/f.txt", writer)  # between the truncator's look and what follows
        return found

    files._sharing = writer_released_meanwhile  # type: ignore[method-assign]
    files.release("/f.txt", truncator)
    assert _published(files, "f.txt") == b""
    assert governance.decided[-1] == ("/f.txt", b"")
    assert os.listdir(files.layout.staging) == []


def test_an_open_of_a_pending_copy_keeps_it_while_the_writer_is_released(fs):
    """``echo hello > f; : > f; cat f``: the writer's release came while the truncating open
    was being decided (its hold looked up); it found no other open of the copy yet and
    removed it. The truncation went to a removed copy, and ``cat`` fell back to the file as
    published before it: it read hello."""
    files, governance = fs
    writer = files.create("/f.txt", 0o644)
    files.write("/f.txt", b"hello\n", 0, writer)
    files.flush("/f.txt", writer)
    governance.holding = lambda: files.release("/f.txt", writer)
    truncator = files.open("/f.txt", os.O_WRONLY | os.O_TRUNC)
    assert governance.holding is None  # the writer was released in the middle of the open
    files.flush("/f.txt", truncator)
    reader = files.open("/f.txt", os.O_RDONLY)
    assert files.read("/f.txt", 100, 0, reader) == b""
    assert files.getattr("/f.txt")["st_size"] == 0
    files.release("/f.txt", reader)
    files.release("/f.txt", truncator)
    assert _published(files, "f.txt") == b""
    assert os.listdir(files.layout.staging) == []


def test_a_truncation_during_the_writers_release_is_not_lost(fs):
    """``truncate -s 0 f`` (a truncation without an open: SETATTR) while the writer's release
    is closing its copy: it marked the writer dirty after the writer had decided, and
    truncated the writer's descriptor, already closed (its number free for another file)."""
    files, governance = fs
    writer = files.create("/f.txt", 0o644)
    files.write("/f.txt", b"hello\n", 0, writer)
    files.flush("/f.txt", writer)
    unstage = files._unstage

    def truncated_meanwhile(handle, fh):  # the writer's descriptor is closed by now
        files._unstage = unstage  # type: ignore[method-assign]
        files.truncate("/f.txt", 0)
        unstage(handle, fh)

    files._unstage = truncated_meanwhile  # type: ignore[method-assign]
    files.release("/f.txt", writer)
    assert _published(files, "f.txt") == b""
    assert governance.decided[-1] == ("/f.txt", b"")
    assert os.listdir(files.layout.staging) == []
    files.truncate("/f.txt", 0)  # nothing pending: the file itself (allowed, still empty)
    assert _published(files, "f.txt") == b""


def test_lacuna_failing_to_decide_is_a_recorded_refusal(fs):
    """When deciding fails inside Lacuna (here the classifier cannot read what was written),
    the program gets EACCES (fail closed) and the refusal is recorded with why: it was only a
    line in the mount's log."""
    import errno

    from lacuna.mount.fs import FuseError

    files, governance = fs
    writer = files.create("/broken.csv", 0o644)
    files.write("/broken.csv", b"id\n1\n", 0, writer)

    def fail() -> None:
        msg = "the classifier could not read the file"
        raise RuntimeError(msg)

    governance.during = fail
    with pytest.raises(FuseError) as refused:
        files.flush("/broken.csv", writer)
    assert refused.value.errno == errno.EACCES
    files.release("/broken.csv", writer)
    [(action, path, reason)] = governance.refused
    assert (action, path) == ("export", "/broken.csv")  # the stand-in: every folder is outside
    assert "could not decide write /broken.csv" in reason
    assert "RuntimeError: the classifier could not read the file" in reason
    assert not (Path(files.layout.source) / "broken.csv").exists()  # nothing published


def test_two_writers_released_at_once_are_one_refused_export(fs):
    """Two opens of one new file released at the same moment (np.savetxt's create and its
    write under load): each saw the other already releasing, so both decided the same copy
    and the refused export was recorded twice. One decision at a time per staged copy, and a
    copy refused meanwhile is refused again without a second decision."""
    import errno
    import threading
    import time

    from lacuna.mount.fs import FuseError

    files, governance = fs
    first = files.create("/out.txt", 0o644)
    files.write("/out.txt", b"1 a@example.com\n", 0, first)
    second = files.open("/out.txt", os.O_WRONLY)
    files.write("/out.txt", b"2 b@example.com\n", 16, second)
    decisions: list[bytes] = []
    started = threading.Barrier(2)

    def refuse(path: str, data: str, pid: int, publish: Callable[[datetime], None],
               **_: object) -> None:
        with open(data, "rb") as fh:
            decisions.append(fh.read())
        time.sleep(0.3)  # the other release arrives while this decision is under way
        raise FuseError(errno.EACCES)

    governance.write = refuse  # type: ignore[method-assign]
    sharing = files._sharing

    def both_releasing(handle):  # the interleaving a loaded kernel gives: both releases have
        started.wait(5)  # begun before either looks for another open still to close
        return sharing(handle)

    files._sharing = both_releasing  # type: ignore[method-assign]

    def release(fh: int) -> None:
        serving(Caller(os.getuid(), os.getgid(), os.getpid()))  # the kernel's worker threads
        files.release("/out.txt", fh)

    threads = [threading.Thread(target=release, args=(fh,)) for fh in (first, second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert len(decisions) == 1, decisions
    assert not (Path(files.layout.source) / "out.txt").exists()  # nothing published
    assert os.listdir(files.layout.staging) == []


def test_staged_plaintext_a_killed_mount_left_is_removed_when_the_mount_starts(fs):
    """A staged write is plaintext on disk until its release; a mount killed before that
    (SIGTERM, kill -9) left it in the staging folder for good. Staged folders carry the
    mount's process id, and the next mount removes those of processes that no longer run
    (never a running one's, nor a folder it cannot tell)."""
    import subprocess
    import sys

    files, governance = fs
    writer = files.create("/new.csv", 0o644)
    files.write("/new.csv", b"id,email\n1,a@example.com\n", 0, writer)
    (staged,) = os.listdir(files.layout.staging)
    assert staged.startswith(f"{os.getpid()}-")
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    staging = Path(files.layout.staging)
    dead = staging / f"{done.stdout.strip()}-{'a' * 32}"
    dead.mkdir()
    (dead / "old.csv").write_bytes(b"id,email\n2,b@example.com\n")
    legacy = staging / ("c" * 32)  # an older Lacuna's name: no process id
    legacy.mkdir()
    GovernedFS(governance)  # type: ignore[arg-type]  # the next mount starts
    assert sorted(os.listdir(staging)) == sorted([staged, legacy.name])
    files.flush("/new.csv", writer)  # the running mount's write is untouched
    files.release("/new.csv", writer)
    assert (Path(files.layout.source) / "new.csv").read_bytes() == b"id,email\n1,a@example.com\n"
    assert os.listdir(staging) == [legacy.name]


# -- a name removed or moved while its write is pending ------------------------------------------
#
# A program's close decides and publishes its write, but the kernel's RELEASE comes later
# (asynchronously): until then the path's staged copy is pending, listed and opened in its
# place. ``rm`` or ``mv`` of the name meanwhile (``echo x > f; rm f``) must act on the name as a
# file system would: the name is gone (or moved) at once, and the pending copy never comes back
# under the old name.


def _names(files: GovernedFS, folder: str = "/") -> set[str]:
    return set(files.readdir(folder, 0)) - {".", ".."}


def test_a_removed_name_whose_write_was_closed_but_not_released_is_gone(fs):
    """``echo x > f; rm f; echo y >> f``: listed and opened after rm, the pending copy came
    back (cat read x; the append published x then y under a name just removed)."""
    files, governance = fs
    writer = files.create("/f.csv", 0o644)
    files.write("/f.csv", b"id,email\n1,a@example.com\n", 0, writer)
    files.flush("/f.csv", writer)  # the close: decided and published; RELEASE still to come
    files.unlink("/f.csv")
    assert "f.csv" not in _names(files)
    with pytest.raises(FileNotFoundError):
        files.getattr("/f.csv")
    appender = files.create("/f.csv", 0o644, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    files.write("/f.csv", b"id\n2\n", 0, appender)
    files.release("/f.csv", writer)  # the first program's RELEASE, late
    files.flush("/f.csv", appender)
    files.release("/f.csv", appender)
    assert _published(files, "f.csv") == b"id\n2\n"
    assert governance.decided[-1] == ("/f.csv", b"id\n2\n")
    assert os.listdir(files.layout.staging) == []


def test_a_new_file_removed_while_its_writer_is_open_is_never_published(fs):
    """rm of a file a program is still writing, never closed yet: on a file system the name is
    gone and what the program writes has no name. rm failed (ENOENT: nothing published yet)
    while ls listed the file, and the writer's close published it under the removed name."""
    files, governance = fs
    writer = files.create("/open.csv", 0o644)
    files.write("/open.csv", b"id,email\n1,a@example.com\n", 0, writer)
    assert files.unlink("/open.csv") == 0
    assert "open.csv" not in _names(files)
    files.write("/open.csv", b"2,b@example.com\n", 25, writer)  # still writing, nameless
    files.flush("/open.csv", writer)
    files.release("/open.csv", writer)
    assert not (Path(files.layout.source) / "open.csv").exists()
    assert governance.decided == []  # nothing left: nothing to decide
    assert os.listdir(files.layout.staging) == []
    with pytest.raises(FileNotFoundError):
        files.unlink("/open.csv")  # gone: a second rm is ENOENT, as on any file system


def test_a_rewrite_of_a_published_file_removed_while_open_does_not_bring_it_back(fs):
    files, governance = fs
    first = files.create("/r.csv", 0o644)
    files.write("/r.csv", b"old\n", 0, first)
    files.flush("/r.csv", first)
    files.release("/r.csv", first)
    editor = files.open("/r.csv", os.O_WRONLY | os.O_APPEND)  # stages a copy of old
    files.write("/r.csv", b"new\n", 0, editor)
    files.unlink("/r.csv")
    files.flush("/r.csv", editor)
    files.release("/r.csv", editor)
    assert not (Path(files.layout.source) / "r.csv").exists()
    assert [path for path, _ in governance.decided] == ["/r.csv"]  # the first write only
    assert os.listdir(files.layout.staging) == []


def test_a_folder_holding_a_pending_write_is_not_empty(fs):
    files, _ = fs
    files.mkdir("/d", 0o755)
    writer = files.create("/d/f.csv", 0o644)
    with pytest.raises(OSError, match="not empty"):
        files.rmdir("/d")
    files.flush("/d/f.csv", writer)
    files.release("/d/f.csv", writer)
    assert _published(files, "d/f.csv") == b""


def test_a_name_moved_while_its_writer_is_open_is_published_under_the_new_name(fs):
    """``mv`` of a file still being written: the open file moves with its name (a program
    writing a log that is rotated), so its close publishes under the new name, decided there.
    The move failed (ENOENT) for a new file, or the close put the write back under the old
    name beside the moved published content."""
    files, governance = fs
    writer = files.create("/log.txt", 0o644)
    files.write("/log.txt", b"one\n", 0, writer)
    files.rename("/log.txt", "/log.1")
    assert _names(files) == {"log.1"}
    files.write("/log.txt", b"two\n", 4, writer)
    files.flush("/log.txt", writer)
    files.release("/log.txt", writer)
    assert _names(files) == {"log.1"}
    assert _published(files, "log.1") == b"one\ntwo\n"
    assert governance.decided == [("/log.1", b"one\ntwo\n")]
    assert os.listdir(files.layout.staging) == []


def test_a_published_file_moved_while_rewritten_keeps_one_name(fs):
    files, governance = fs
    first = files.create("/a.csv", 0o644)
    files.write("/a.csv", b"old\n", 0, first)
    files.flush("/a.csv", first)  # published; its RELEASE still to come
    files.rename("/a.csv", "/b.csv")
    files.write("/a.csv", b"more\n", 4, first)  # written after its close
    files.release("/a.csv", first)
    assert _names(files) == {"b.csv"}
    assert _published(files, "b.csv") == b"old\nmore\n"
    assert governance.decided[-1] == ("/b.csv", b"old\nmore\n")


def test_a_folder_moved_with_a_pending_write_in_it_takes_it_along(fs):
    files, governance = fs
    files.mkdir("/d", 0o755)
    writer = files.create("/d/f.csv", 0o644)
    files.write("/d/f.csv", b"x\n", 0, writer)
    files.rename("/d", "/e")
    assert _names(files, "/e") == {"f.csv"}
    files.flush("/d/f.csv", writer)
    files.release("/d/f.csv", writer)
    assert _published(files, "e/f.csv") == b"x\n"
    assert not (Path(files.layout.source) / "d").exists()
    assert governance.decided == [("/e/f.csv", b"x\n")]
