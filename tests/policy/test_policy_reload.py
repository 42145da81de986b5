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


def test_reload_accepts_a_good_change(write_bundle) -> None:
    root = write_bundle({"p.rego": ALLOW_READ})
    engine = PolicyEngine(root)
    reloads: list[tuple[str, str]] = []
    watcher = PolicyWatcher(engine, on_reload=lambda old, new: reloads.append((old, new)))
    old = engine.revision
    assert not engine.evaluate({"action": "export"}).allowed
    assert watcher.check() is False  # nothing changed
    touch_later(root / "p.rego", ALLOW_ALL)
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
        assert watcher.check() is False
    assert engine.revision == old
    assert engine.evaluate({"action": "read"}).allowed  # the old bundle still decides
    [record] = caplog.records
    assert record.levelname == "ERROR"
    message = record.getMessage()
    assert "was REJECTED; still deciding with revision " + old in message
    assert f"{root / 'p.rego'}:7:1: expecting expression" in message
    assert watcher.last_error is errors[0]
    touch_later(root / "p.rego", ALLOW_ALL)  # fixed: accepted
    assert watcher.check() is True
    assert watcher.last_error is None
    assert engine.evaluate({"action": "export"}).allowed


def test_reload_picks_up_new_and_deleted_files(write_bundle) -> None:
    root = write_bundle({"p.rego": ALLOW_READ})
    engine = PolicyEngine(root)
    watcher = PolicyWatcher(engine)
    (root / "q.rego").write_text('package q\n\nimport rego.v1\n\ndeny contains "no" if true\n',
                                 encoding="utf-8")
    assert watcher.check()
    assert [p.name for p in engine.packages] == ["p", "q"]
    (root / "q.rego").unlink()
    assert watcher.check()
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
