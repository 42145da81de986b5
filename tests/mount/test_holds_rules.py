"""Holds from Rego retention rules through the mount, and labels removed with their data.

The mounts' bundle (conftest ``RETENTION_POLICY``) holds data under an ``inquiry/`` folder, and
its rule for a ``conflicting/`` folder fails to evaluate. Retention decides what is held
(:mod:`lacuna.retention.keeping`), the same as ``lacuna retention plan``; the mount refuses
what it says is held, recorded under the rule's package.
"""

from __future__ import annotations

import json
import os
import uuid

import pytest
from tests.mount.test_holds import _cli, _hold, _new_file

from lacuna.audit import AuditStore

pytestmark = pytest.mark.xdist_group("mount")

PACKAGE = "governance.mount_retention"
REASON = "regulator inquiry 2026-04"


def _refused(m, policy_id, method):
    store = AuditStore(m.audit_url)
    try:
        return [
            r
            for r in store.list(limit=None)
            if r.kind == "decision"
            and not r.allowed
            and r.policy_id == policy_id
            and r.data["how"]["method"] == method
        ]
    finally:
        store.close()


@pytest.mark.parametrize("transport", ["mount", "plain_mount"])
def test_a_rego_hold_keeps_data_as_it_is(transport, request):
    m = request.getfixturevalue(transport)
    case = f"case-{uuid.uuid4().hex[:6]}"
    (m.source / case / "inquiry").mkdir(parents=True)
    rel, content = _new_file(m, f"{case}/inquiry")
    # a file created through the mount in the held folder is allowed, and held from then on
    made = f"{case}/inquiry/made.csv"
    (m.mnt / made).write_bytes(b"id,note\n1,made through the mount\n")
    assert (m.mnt / made).read_bytes() == b"id,note\n1,made through the mount\n"
    before = {p: (m.source / p).read_bytes() for p in (rel, made)}

    for target in (rel, made):
        with pytest.raises(PermissionError):
            os.unlink(m.mnt / target)
        with pytest.raises(PermissionError):
            os.rename(m.mnt / target, m.mnt / case / "away.csv")
        with pytest.raises(PermissionError):
            open(m.mnt / target, "ab").close()
    with pytest.raises(PermissionError):  # the folder holds held data
        os.rename(m.mnt / case, m.mnt / f"{case}-old")
    with pytest.raises(PermissionError):
        os.truncate(m.mnt / rel, 0)
    assert {p: (m.source / p).read_bytes() for p in before} == before
    assert (m.source / case / "inquiry" / ".made.csv.lacuna.json").is_file()  # its label too
    assert (m.mnt / rel).read_bytes() == content  # reading stays allowed
    unlinks = _refused(m, PACKAGE, "fuse.unlink")
    assert len(unlinks) == 2
    [rec] = [r for r in unlinks if f"/{rel} is held" in r.reasoning]
    assert rec.action == "write"
    assert f"/{rel} is held by the retention rule of policy package {PACKAGE}" in rec.reasoning
    assert repr(REASON) in rec.reasoning
    assert len(_refused(m, PACKAGE, "fuse.rename")) == 3
    moved = [r for r in _refused(m, PACKAGE, "fuse.rename") if f"/{case} holds" in r.reasoning]
    assert len(moved) == 1

    # one place decides: the retention plan's decision holds the same files, by the same rule
    from lacuna.config import load_config
    from lacuna.model import utcnow
    from lacuna.retention.api import settings_of
    from lacuna.retention.inventory import describe
    from lacuna.retention.plan import decide
    from lacuna.retention.rules import RetentionRules

    config = load_config(m.config)
    settings = settings_of(config)
    rules = RetentionRules(config)
    for target in (rel, made):
        item = describe(str(m.source / target), None, settings)
        entry = decide(
            item,
            now=utcnow(),
            settings=settings,
            configured={},
            base=str(m.root),
            holds=[],
            rules=rules,
        )
        assert (entry.action, entry.policy_id) == ("hold", PACKAGE)
        assert REASON in entry.reason

    # beside the held folder nothing is held: removed, with its label
    free = f"{case}/free.csv"
    (m.mnt / free).write_bytes(b"id\n1\n")
    os.rename(m.mnt / free, m.mnt / case / "free2.csv")
    os.unlink(m.mnt / case / "free2.csv")
    assert sorted(os.listdir(m.source / case)) == ["inquiry"]


def test_a_rule_that_fails_keeps_the_data_fail_closed(libfuse_mount):
    m = libfuse_mount
    case = f"case-{uuid.uuid4().hex[:6]}"
    (m.source / case / "conflicting").mkdir(parents=True)
    rel, content = _new_file(m, f"{case}/conflicting")
    with pytest.raises(PermissionError):
        os.unlink(m.mnt / rel)
    assert (m.source / rel).read_bytes() == content
    [rec] = _refused(m, "retention.rules", "fuse.unlink")
    assert "the retention rules could not decide whether" in rec.reasoning
    assert "rule conflicts" in rec.reasoning
    assert "lacuna retention plan shows the error" in rec.reasoning


@pytest.mark.parametrize("transport", ["mount", "libfuse_mount", "plain_mount"])
def test_rm_takes_the_label_along_and_a_hold_keeps_both(transport, request, monkeypatch):
    m = request.getfixturevalue(transport)
    name = f"labelled-{uuid.uuid4().hex[:8]}.csv"
    data, label = m.source / name, m.source / f".{name}.lacuna.json"
    (m.mnt / name).write_bytes(b"id,email\n1,ann@example.com\n")  # labelled by the mount
    assert label.is_file()
    assert json.loads(label.read_text())["classification"]["tier"] != "PUBLIC"
    stored = (data.read_bytes(), label.read_bytes())

    hold = _hold(m, monkeypatch, data, "keep both")
    with pytest.raises(PermissionError):
        os.unlink(m.mnt / name)
    assert (data.read_bytes(), label.read_bytes()) == stored
    _cli(m, monkeypatch, "release", hold)

    os.unlink(m.mnt / name)
    assert not data.exists()
    assert not label.exists()
    assert f"removed /{name} with its label .{name}.lacuna.json" in m.log.read_text()
    # the next file of that name is decided on its own content, not the old label
    (m.mnt / name).write_bytes(b"id,n\n1,2\n")
    assert json.loads(label.read_text())["classification"]["tier"] == "PUBLIC"
    os.unlink(m.mnt / name)
    assert not label.exists()


def test_rm_of_a_hidden_file_keeps_its_siblings_label(mount):
    """``.x``'s removal takes only its own label: ``.x.lacuna.json`` is ``x``'s while ``x``
    exists."""
    m = mount
    name = f"pair-{uuid.uuid4().hex[:8]}.csv"
    (m.mnt / name).write_bytes(b"id,email\n1,ann@example.com\n")
    (m.mnt / f".{name}").write_bytes(b"id,n\n1,2\n")
    sibling = m.source / f".{name}.lacuna.json"
    own = m.source / f"..{name}.lacuna.json"
    kept = sibling.read_bytes()
    assert own.is_file()
    os.unlink(m.mnt / f".{name}")
    assert not own.exists()
    assert sibling.read_bytes() == kept
    assert (m.mnt / name).read_bytes() == b"id,email\n1,ann@example.com\n"
    os.unlink(m.mnt / name)
    assert not sibling.exists()
