"""Live policies (PolicyWatcher, PolicyEngine.reload) and bundle revisions (git or hash)."""

from __future__ import annotations

import logging
import os
import subprocess
import threading
import time
from pathlib import Path

import pytest

from lacuna.config import Config
from lacuna.errors import PolicyError
from lacuna.policy import PolicyEngine
from lacuna.policy.check import check_bundle
from lacuna.policy.engine import BundleChanging
from lacuna.policy.watch import PolicyWatcher

ALLOW_READ = 'package p\n\nimport rego.v1\n\nallow if input.action == "read"\n'
ALLOW_ALL = "package p\n\nimport rego.v1\n\nallow := true\n"
BROKEN = "package p\n\nimport rego.v1\n\nallow if {\n  input.action ==\n}\n"


def touch_later(path: Path, text: str) -> None:
    """Write ``text``, making sure the modification time moves forward."""
    before = path.stat().st_mtime_ns if path.exists() else 0
    path.write_text(text, encoding="utf-8")
    if path.stat().st_mtime_ns <= before:
        os.utime(path, ns=(before + 1_000_000, before + 1_000_000))


def settled(watcher: PolicyWatcher) -> bool:
    """Two polls: the first sees the change, the second loads it (the files held still)."""
    assert watcher.check() is False
    return watcher.check()


def test_reload_accepts_a_good_change(write_bundle) -> None:
    root = write_bundle({"p.rego": ALLOW_READ})
    engine = PolicyEngine(root)
    reloads: list[tuple[str, str]] = []
    watcher = PolicyWatcher(engine, on_reload=lambda old, new: reloads.append((old, new)))
    old = engine.revision
    assert not engine.evaluate({"action": "export"}).allowed
    assert watcher.check() is False  # nothing changed
    touch_later(root / "p.rego", ALLOW_ALL)
    assert watcher.check() is False  # seen, not loaded until it holds still for a poll
    assert engine.revision == old
    assert watcher.check() is True
    assert engine.revision != old
    decision = engine.evaluate({"action": "export"})
    assert decision.allowed
    assert decision.bundle_revision == engine.revision
    assert reloads == [(old, engine.revision)]


def test_reload_rejects_a_bundle_that_does_not_compile(write_bundle, caplog) -> None:
    root = write_bundle({"p.rego": ALLOW_READ})
    engine = PolicyEngine(root)
    errors: list[PolicyError] = []
    watcher = PolicyWatcher(engine, on_error=errors.append)
    old = engine.revision
    touch_later(root / "p.rego", BROKEN)
    with caplog.at_level(logging.ERROR, logger="lacuna.policy.watch"):
        assert settled(watcher) is False
        assert watcher.check() is False  # reported once
    assert engine.revision == old
    assert engine.evaluate({"action": "read"}).allowed  # the old bundle still decides
    [record] = caplog.records
    assert record.levelname == "ERROR"
    message = record.getMessage()
    assert "was REJECTED; still deciding with revision " + old in message
    assert f"{root / 'p.rego'}:7:1: expecting expression" in message
    assert watcher.last_error is errors[0]
    touch_later(root / "p.rego", ALLOW_ALL)  # fixed: accepted
    assert settled(watcher) is True
    assert watcher.last_error is None
    assert engine.evaluate({"action": "export"}).allowed


def test_reload_picks_up_new_and_deleted_files(write_bundle) -> None:
    root = write_bundle({"p.rego": ALLOW_READ})
    engine = PolicyEngine(root)
    watcher = PolicyWatcher(engine)
    (root / "q.rego").write_text('package q\n\nimport rego.v1\n\ndeny contains "no" if true\n',
                                 encoding="utf-8")
    assert settled(watcher)
    assert [p.name for p in engine.packages] == ["p", "q"]
    (root / "q.rego").unlink()
    assert settled(watcher)
    assert [p.name for p in engine.packages] == ["p"]


def test_reload_watcher_thread_and_other_threads(write_bundle) -> None:
    root = write_bundle({"p.rego": ALLOW_READ})
    engine = PolicyEngine(root)
    seen: list[bool] = []
    with PolicyWatcher(engine, interval_s=0.02):
        touch_later(root / "p.rego", ALLOW_ALL)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not engine.evaluate({"action": "x"}).allowed:
            time.sleep(0.02)
        worker = threading.Thread(target=lambda: seen.append(
            engine.evaluate({"action": "x"}).allowed))
        worker.start()
        worker.join()
    assert engine.evaluate({"action": "x"}).allowed
    assert seen == [True]  # another thread compiles the new bundle for itself


def test_reload_clears_the_cache_and_keeps_it_when_nothing_changed(write_bundle) -> None:
    root = write_bundle({"p.rego": ALLOW_READ})
    engine = PolicyEngine(root)
    engine.evaluate({"action": "read"})
    cache = engine.cache
    assert cache is not None
    assert len(cache) == 1
    assert engine.reload() == engine.revision
    assert engine.cache is cache  # same files: the same compiled bundle stays
    touch_later(root / "p.rego", ALLOW_ALL)
    engine.reload()
    assert engine.cache is not cache
    assert len(engine.cache or ()) == 0


def test_watcher_needs_a_folder() -> None:
    with pytest.raises(PolicyError, match=r"set policy\.dir to a folder"):
        PolicyWatcher(PolicyEngine.from_config(Config()))


def git(root: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"}
    return subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True,
                          text=True, env=env).stdout.strip()


def test_revision_is_the_git_commit_of_a_clean_checkout(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / "policies").mkdir(parents=True)
    (repo / "policies" / "p.rego").write_text(ALLOW_READ, encoding="utf-8")
    (repo / "README").write_text("x", encoding="utf-8")
    git(repo, "init", "-q")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "policies")
    commit = git(repo, "rev-parse", "HEAD")
    engine = PolicyEngine(repo / "policies")
    assert engine.revision == commit
    assert engine.evaluate({"action": "read"}).bundle_revision == commit
    (repo / "README").write_text("changed outside the bundle", encoding="utf-8")
    assert PolicyEngine(repo / "policies").revision == commit
    (repo / "policies" / "p.rego").write_text(ALLOW_ALL, encoding="utf-8")
    dirty = PolicyEngine(repo / "policies")
    assert dirty.revision == f"{commit}+dirty.{dirty.bundle.digest}"
    git(repo, "checkout", "-q", "--", "policies")
    (repo / "policies" / "new.rego").write_text("package n\n", encoding="utf-8")
    assert "+dirty." in PolicyEngine(repo / "policies").revision  # untracked
    (repo / ".gitignore").write_text("policies/new.rego\n", encoding="utf-8")
    git(repo, "add", ".gitignore")
    git(repo, "commit", "-q", "-m", "ignore")
    assert "+dirty." in PolicyEngine(repo / "policies").revision  # ignored, yet in the bundle


def test_revision_outside_git_is_the_content_hash(write_bundle) -> None:
    engine = PolicyEngine(write_bundle({"p.rego": ALLOW_READ}))
    assert engine.revision == engine.bundle.digest
    assert len(engine.revision) == 16


def test_revision_of_the_shipped_bundle_is_its_content_hash() -> None:
    engine = PolicyEngine.from_config(Config())  # inside this git checkout, still a hash
    assert engine.revision == engine.bundle.digest


DENY_EXPORT = ('deny contains "no PROPRIETARY export" if '
               'input.source.classification == "PROPRIETARY"\n')
PROPRIETARY_EXPORT = {"action": "export", "source": {"classification": "PROPRIETARY"}}


def test_a_bundle_half_written_is_never_loaded(write_bundle) -> None:
    # The deny moves from a.rego to b.rego, file by file (an editor, git pull, a copy): the
    # state between the two writes compiles but denies nothing.
    root = write_bundle({"a.rego": f"package a\n\nimport rego.v1\n\n{DENY_EXPORT}",
                         "b.rego": "package b\n\nimport rego.v1\n\nallow := true\n"})
    engine = PolicyEngine(root)
    watcher = PolicyWatcher(engine)
    touch_later(root / "a.rego", "package a\n\nimport rego.v1\n\nx := 1\n")
    assert watcher.check() is False  # between the two writes
    assert not engine.evaluate(PROPRIETARY_EXPORT).allowed
    touch_later(root / "b.rego", f"package b\n\nimport rego.v1\n\nallow := true\n{DENY_EXPORT}")
    assert watcher.check() is False  # changed again: not settled yet
    assert not engine.evaluate(PROPRIETARY_EXPORT).allowed
    assert watcher.check() is True  # the whole edit, held still for a poll
    denied = engine.evaluate(PROPRIETARY_EXPORT)
    assert not denied.allowed
    assert [p.package for p in denied.policies if p.effect == "deny"] == ["b"]
    assert engine.evaluate({"action": "read"}).allowed


def test_a_bundle_written_to_while_read_is_not_swapped_in(write_bundle, monkeypatch) -> None:
    root = write_bundle({"p.rego": ALLOW_READ})
    engine = PolicyEngine(root)
    old = engine.revision
    with pytest.raises(BundleChanging, match="changed while it was being read; still deciding"):
        engine.reload(unchanged=lambda: False)
    touch_later(root / "p.rego", ALLOW_ALL)
    with pytest.raises(BundleChanging):
        engine.reload(unchanged=lambda: False)
    assert engine.revision == old
    assert not engine.evaluate({"action": "export"}).allowed
    watcher = PolicyWatcher(engine)
    touch_later(root / "p.rego", ALLOW_READ + "\nx := 1\n")
    assert watcher.check() is False
    calls = iter([False])  # the files move under the reader once, then hold still
    real = engine.reload

    def racing(*, unchanged):
        return real(unchanged=lambda: next(calls, True) and unchanged())

    monkeypatch.setattr(engine, "reload", racing)
    assert watcher.check() is False
    assert watcher.last_error is None
    assert engine.revision == old
    assert watcher.check() is False  # seen again, then
    assert watcher.check() is True
    assert engine.revision != old


def test_an_edit_git_status_does_not_report_is_reloaded_and_marked_dirty(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "p.rego").write_text(ALLOW_ALL, encoding="utf-8")
    git(repo, "init", "-q")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "policies")
    commit = git(repo, "rev-parse", "HEAD")
    engine = PolicyEngine(repo)
    watcher = PolicyWatcher(engine)
    assert engine.revision == commit
    assert engine.evaluate(PROPRIETARY_EXPORT).allowed
    git(repo, "update-index", "--skip-worktree", "p.rego")
    touch_later(repo / "p.rego", ALLOW_ALL + DENY_EXPORT)  # tightened
    assert git(repo, "status", "--porcelain") == ""
    assert settled(watcher) is True
    assert not engine.evaluate(PROPRIETARY_EXPORT).allowed
    assert engine.revision == f"{commit}+dirty.{engine.bundle.digest}"
    assert engine.evaluate(PROPRIETARY_EXPORT).bundle_revision == engine.revision
    git(repo, "update-index", "--no-skip-worktree", "p.rego")
    git(repo, "commit", "-q", "-am", "tighten")
    assert PolicyEngine(repo).revision == git(repo, "rev-parse", "HEAD")  # clean again


def test_policies_in_a_linked_folder_are_watched(tmp_path: Path, write_bundle) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "s.rego").write_text("package s\n\nimport rego.v1\n\nallow := true\n",
                                   encoding="utf-8")
    root = write_bundle({"p.rego": ALLOW_READ})
    (root / "shared").symlink_to(shared, target_is_directory=True)
    (root / "loop").symlink_to(root, target_is_directory=True)  # walked once, not forever
    engine = PolicyEngine(root)
    assert [p.name for p in engine.packages] == ["p", "s"]
    watcher = PolicyWatcher(engine)
    touch_later(shared / "s.rego", f"package s\n\nimport rego.v1\n\nallow := true\n{DENY_EXPORT}")
    assert settled(watcher) is True
    assert not engine.evaluate(PROPRIETARY_EXPORT).allowed


def test_an_unreadable_policy_file_is_a_policy_error_and_rejected(write_bundle,
                                                                  caplog) -> None:
    root = write_bundle({"p.rego": ALLOW_READ})
    (root / "gone.rego").symlink_to(root / "nowhere.rego")
    with pytest.raises(PolicyError, match=r"gone\.rego: cannot read this policy file: it is a "
                                          "dangling link"):
        PolicyEngine(root)
    report = check_bundle(root)
    assert not report.ok
    assert "dangling link" in str(report.errors[0])
    (root / "gone.rego").unlink()
    engine = PolicyEngine(root)
    watcher = PolicyWatcher(engine)
    (root / "dir.rego").mkdir()  # a folder under a policy's name is walked, not read
    os.mkfifo(root / "pipe.rego")  # never opened: it would block the watcher
    with caplog.at_level(logging.ERROR, logger="lacuna.policy.watch"):
        assert settled(watcher) is False
    assert watcher.last_error is not None
    assert "pipe.rego: cannot read this policy file: it is not a regular file" in str(
        watcher.last_error)
    assert "was REJECTED" in caplog.text
    (root / "pipe.rego").unlink()
    assert settled(watcher) is False  # the same files as the bundle in use: nothing to swap
    assert watcher.last_error is None


def test_a_data_file_nested_too_deeply_is_rejected_once(write_bundle, caplog,
                                                        monkeypatch) -> None:
    root = write_bundle({"p.rego": ALLOW_READ})
    (root / "x").mkdir()
    (root / "x" / "data.json").write_text("[" * 5000 + "]" * 5000, encoding="utf-8")
    with pytest.raises(PolicyError, match=r"data\.json: nested too deeply to read"):
        PolicyEngine(root)
    (root / "x" / "data.json").write_text('{"limit": 1}', encoding="utf-8")
    engine = PolicyEngine(root)
    assert engine.data["x"] == {"limit": 1}
    watcher = PolicyWatcher(engine)
    touch_later(root / "x" / "data.json", "[" * 5000 + "]" * 5000)
    with caplog.at_level(logging.ERROR, logger="lacuna.policy.watch"):
        assert settled(watcher) is False
        assert watcher.check() is False
    assert [r.levelname for r in caplog.records] == ["ERROR"]  # once, no traceback
    assert "nested too deeply" in str(watcher.last_error)
    # anything a reload raises is a rejection, reported once, never a dead watcher
    monkeypatch.setattr(engine, "reload", lambda **_: (_ for _ in ()).throw(MemoryError()))
    touch_later(root / "x" / "data.json", '{"limit": 2}')
    assert settled(watcher) is False
    assert "could not be loaded (MemoryError" in str(watcher.last_error)
    monkeypatch.undo()
    touch_later(root / "x" / "data.json", '{"limit": 3}')
    assert settled(watcher) is True
    assert engine.data["x"] == {"limit": 3}
    assert watcher.last_error is None


def test_an_edit_that_keeps_size_and_modification_time_is_reloaded(write_bundle) -> None:
    """``touch -r``, ``cp -p`` or an editor that restores the modification time: the same
    size and mtime, other rules. The change time moves all the same (no user can set it)."""
    strict = 'package p\n\nimport rego.v1\n\nallow if input.action == "xxxx"\n'
    loose = 'package p\n\nimport rego.v1\n\nallow if input.action == "read"\n'
    assert len(strict) == len(loose)
    root = write_bundle({"p.rego": strict})
    engine = PolicyEngine(root)
    watcher = PolicyWatcher(engine)
    path = root / "p.rego"
    st = path.stat()
    time.sleep(0.01)  # a change time of its own (ns clocks; coarse ones tick in ~4 ms)
    path.write_text(loose, encoding="utf-8")
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert (path.stat().st_size, path.stat().st_mtime_ns) == (st.st_size, st.st_mtime_ns)
    assert not engine.evaluate({"action": "read"}).allowed
    assert settled(watcher)
    assert engine.evaluate({"action": "read"}).allowed  # the edited rules are the ones used


@pytest.mark.parametrize("limit", [None, 20_000])
def test_a_data_file_nested_past_the_engines_depth_is_a_policy_error_whatever_the_limit(
        write_bundle, limit) -> None:
    """200 levels: Python reads it (and with a raised recursion limit, as Spark's planner or
    another library may leave it, 5,000 too), the engine does not. Always a PolicyError that
    names the file, never the engine's bare RuntimeError."""
    import sys

    before = sys.getrecursionlimit()
    root = write_bundle({"p.rego": ALLOW_READ})
    (root / "x").mkdir()
    for depth in (200, 5000):
        (root / "x" / "data.json").write_text("[" * depth + "]" * depth, encoding="utf-8")
        try:
            if limit is not None:
                sys.setrecursionlimit(limit)
            with pytest.raises(PolicyError, match=r"data\.json: nested too deeply to read"):
                PolicyEngine(root)
        finally:
            sys.setrecursionlimit(before)
    (root / "x" / "data.json").write_text("[" * 100 + "]" * 100, encoding="utf-8")
    assert PolicyEngine(root).evaluate({"action": "read"}).allowed  # 100 levels: fine
