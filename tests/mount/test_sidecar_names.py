"""A sidecar's name (``*.lacuna.json``) is not a way around decisions: only a classification
declaration is kept and read undecided under it; data under that name is refused when written
through the mount and decided like any file when read."""

from __future__ import annotations

import json
import uuid

import pytest

from lacuna.audit import AuditStore
from lacuna.lineage.sidecar import sidecar_path

pytestmark = pytest.mark.xdist_group("mount")

DECLARATION = json.dumps({"schema_version": "1", "generator": "lacuna",
                          "classification": {"tier": "PUBLIC", "tags": []}}) + "\n"


def _refusals(m, destination):
    store = AuditStore(m.audit_url)
    try:
        return [r for r in store.list(limit=None) if r.kind == "decision" and not r.allowed
                and r.destination == str(destination)]
    finally:
        store.close()


@pytest.mark.parametrize("transport", ["mount", "plain_mount", "libfuse_mount"])
def test_data_is_not_written_under_a_sidecar_name(transport, request):
    m = request.getfixturevalue(transport)
    name = f"stash-{uuid.uuid4().hex[:6]}.lacuna.json"
    result = m.run("cp", str(m.mnt / "customers.csv"), str(m.mnt / name))
    assert result.returncode != 0
    assert "Permission denied" in result.stderr
    assert not (m.source / name).exists()  # nothing arrives, in plaintext or at all
    [rec] = _refusals(m, m.source / name)
    assert rec.action == "write"
    assert rec.policy_id == "lacuna.mount"
    assert "must be a classification declaration" in rec.reasoning
    assert f"DENIED write /{name}" in m.log.read_text()


@pytest.mark.parametrize("transport", ["mount", "plain_mount"])
def test_a_declaration_is_written_and_read_through_the_mount_byte_for_byte(transport, request):
    m = request.getfixturevalue(transport)
    name = f"notes-{uuid.uuid4().hex[:6]}.csv.lacuna.json"
    (m.mnt / name).write_text(DECLARATION)
    assert (m.source / name).read_text() == DECLARATION  # a label: neither sealed nor decided
    assert (m.mnt / name).read_text() == DECLARATION
    assert not _refusals(m, m.source / name)


@pytest.mark.parametrize("transport", ["mount", "libfuse_mount"])
def test_data_under_a_sidecar_name_is_read_as_data(transport, request):
    m = request.getfixturevalue(transport)
    tag = uuid.uuid4().hex[:6]
    hidden = m.source / "restricted" / f"copy-{tag}.lacuna.json"  # there before the mount
    hidden.write_bytes((m.source / "customers.csv").read_bytes())
    label = m.source / "restricted" / f"other-{tag}.csv.lacuna.json"
    label.write_text(DECLARATION)
    orphan = m.source / "restricted" / f"gone-{tag}.csv.lacuna.json"  # beside no file
    orphan.write_text(DECLARATION)
    (m.source / "restricted" / f"other-{tag}.csv").write_text("n\n1\n")
    result = m.run("cat", str(m.mnt / "restricted" / hidden.name))
    assert result.returncode != 0
    assert result.stdout == ""
    assert "Permission denied" in result.stderr
    assert f"DENIED read /restricted/{hidden.name}" in m.log.read_text()
    assert (m.mnt / "restricted" / label.name).read_text() == DECLARATION  # a label: readable
    # a declaration beside no file is no label (is_sidecar): read as data, decided
    assert m.run("cat", str(m.mnt / "restricted" / orphan.name)).returncode != 0


@pytest.mark.parametrize("transport", ["plain_mount", "libfuse_mount"])
def test_a_file_no_data_reader_takes_is_read_with_its_label(transport, request):
    m = request.getfixturevalue(transport)
    name = f"g-{uuid.uuid4().hex[:6]}.gz"
    result = m.run("bash", "-c", f"gzip -c {m.mnt}/customers.csv > {m.mnt}/{name}")
    assert result.returncode == 0, result.stderr
    # read by a program of its own (session, process group)
    assert m.run("setsid", "bash", "-c", f"cat {m.mnt / name} >/dev/null").returncode == 0
    store = AuditStore(m.audit_url)
    try:
        reads = [r for r in store.list(limit=None) if r.kind == "decision"
                 and r.action == "read" and str(m.source / name) in r.data["what"]["sources"]]
    finally:
        store.close()
    assert reads
    assert all(r.tier == "PROPRIETARY" for r in reads)  # as labelled when written, not INTERNAL


def test_a_renamed_or_linked_file_keeps_its_label(plain_mount):
    m = plain_mount
    tag = uuid.uuid4().hex[:6]
    first, moved, linked = f"g-{tag}.gz", f"h-{tag}.gz", f"k-{tag}.gz"
    result = m.run("bash", "-c", f"gzip -c {m.mnt}/customers.csv > {m.mnt}/{first}")
    assert result.returncode == 0, result.stderr
    assert m.run("mv", str(m.mnt / first), str(m.mnt / moved)).returncode == 0
    assert m.run("ln", str(m.mnt / moved), str(m.mnt / linked)).returncode == 0
    assert not sidecar_path(m.source / first).exists()
    for name in (moved, linked):
        assert sidecar_path(m.source / name).is_file()
        script = f"cat {m.mnt / name} >/dev/null"
        assert m.run("setsid", "bash", "-c", script).returncode == 0
        store = AuditStore(m.audit_url)
        try:
            reads = [r for r in store.list(limit=None) if r.kind == "decision"
                     and r.data["how"]["method"] == "fuse.open"
                     and str(m.source / name) in r.data["what"]["sources"]]
        finally:
            store.close()
        assert [r.tier for r in reads] == ["PROPRIETARY"], name  # not INTERNAL: no label
