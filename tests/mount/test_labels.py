"""A file's label (its sidecar) is what the mount decides it on, so it holds through the mount:
a copy of a labelled file is what the file is labelled (``cp`` to the outbox is decided at the
label, not at what its words look like); a label is not removed or lowered through the mount;
a label Lacuna writes through the mount is kept as a label (plaintext JSON, never sealed); and
a truncating open is a write even when nothing follows it (``: > f``)."""

from __future__ import annotations

import json
import shutil
import time
import uuid

import pytest

from lacuna.audit import AuditStore
from lacuna.lineage.sidecar import read_declarations, read_sidecar, sidecar_path, write_sidecar
from lacuna.model import Classification, Tier
from lacuna.storage.sealed import is_sealed

pytestmark = pytest.mark.xdist_group("mount")

MEMO = "the board approved the plan on tuesday\n"  # PUBLIC by its words


@pytest.fixture
def lf(transport, request, monkeypatch):
    """The mount named by the test's ``transport``, this process signing sidecars with its key,
    and a fresh folder in it."""
    m = request.getfixturevalue(transport)
    monkeypatch.setenv("LACUNA_HOME", str(m.root / "home"))
    folder = f"labels-{uuid.uuid4().hex[:6]}"
    (m.source / folder).mkdir()
    yield m, folder
    shutil.rmtree(m.source / folder, ignore_errors=True)


def _label(path, tier: Tier) -> None:
    write_sidecar(
        path, Classification(tier=tier, reasoning=("a steward's label",)), written_by="steward_sam"
    )
    declared = read_sidecar(path)
    assert declared is not None
    assert declared.trusted, declared.problem
    assert declared.classification.tier is tier


def _sh(m, script: str):
    """``script`` run by a shell, a process group of its own (its reads). What the kernel's
    RELEASE of its last close decides comes after it returns (asynchronous): the tests poll
    for the state they expect (:func:`_until`), never sleep a fixed time."""
    return m.run("setsid", "sh", "-c", script)


def _until(get, ok, timeout: float = 10.0):
    """``get()`` once ``ok`` of it, or as it is at ``timeout`` (for the assertion to show)."""
    deadline = time.monotonic() + timeout
    while not ok(value := get()) and time.monotonic() < deadline:
        time.sleep(0.05)
    return value


def _text(path) -> str | None:
    try:
        return path.read_text()
    except FileNotFoundError:
        return None


def _decisions(m, *, allowed: bool, **match):
    store = AuditStore(m.audit_url)
    try:
        return [
            r
            for r in store.list(limit=None)
            if r.kind == "decision"
            and r.allowed is allowed
            and all(getattr(r, k) == v for k, v in match.items())
        ]
    finally:
        store.close()


@pytest.mark.parametrize(
    ("transport", "sealed"),
    [("mount", True), ("mount", False), ("libfuse_mount", True), ("plain_mount", False)],
)
def test_a_copy_of_a_labelled_file_leaves_at_its_label(lf, sealed):
    m, folder = lf
    memo = m.source / folder / "memo.txt"
    if sealed:  # written through the mount: sealed where storage encrypts
        (m.mnt / folder / "memo.txt").write_text(MEMO)
        m.settled("memo.txt")
    else:
        memo.write_text(MEMO)
    _label(memo, Tier.PROPRIETARY)
    assert (m.mnt / folder / "memo.txt").read_text() == MEMO
    out = m.source / "outbox" / f"{folder}-memo.txt"
    for script in (
        f"cp {folder}/memo.txt outbox/{out.name}",
        f"cat {folder}/memo.txt > outbox/{out.name}",
    ):
        done = _sh(m, f"cd {m.mnt} && {script}")
        assert done.returncode != 0, script
        assert "Permission denied" in done.stderr
        assert not out.exists()  # nothing arrives
    # the writer in a session of its own: it read nothing, what it copies was read by another
    _sh(m, f"cd {m.mnt} && cat {folder}/memo.txt | setsid sh -c 'cat > outbox/{out.name}'")
    refused = _until(lambda: _decisions(m, allowed=False, destination=str(out)),
                     lambda found: len(found) >= 3)
    assert not out.exists()
    assert [r.tier for r in refused] == ["PROPRIETARY"] * 3
    assert f"a copy of {memo}, read as that" in m.log.read_text()
    # allowed: a copy kept in governed storage keeps the label (and reads back byte for byte)
    done = _sh(m, f"cd {m.mnt} && cp {folder}/memo.txt {folder}/copy.txt")
    assert done.returncode == 0, done.stderr
    assert (m.mnt / folder / "copy.txt").read_text() == MEMO
    copy = m.source / folder / "copy.txt"
    assert is_sealed(copy) is ("encrypt: false" not in m.config.read_text())
    declared = json.loads(sidecar_path(copy).read_text())
    assert declared["classification"]["tier"] == "PROPRIETARY"
    # allowed: what the same process writes that is not a copy is decided on its content
    public = f"{folder}-hello.txt"
    done = _sh(
        m, f"cd {m.mnt} && cat {folder}/memo.txt >/dev/null && echo hello world > outbox/{public}"
    )
    assert done.returncode == 0, done.stderr
    assert _until(lambda: _text(m.source / "outbox" / public), lambda t: t is not None) == (
        "hello world\n"
    )
    # allowed: an empty file copies nothing, whatever empty file was read
    (m.source / folder / "empty.txt").write_text("")
    _label(m.source / folder / "empty.txt", Tier.PROPRIETARY)
    done = _sh(m, f"cd {m.mnt} && cat {folder}/empty.txt && touch outbox/{folder}-empty.txt")
    assert done.returncode == 0, done.stderr
    empty = m.source / "outbox" / f"{folder}-empty.txt"
    assert _until(lambda: _text(empty), lambda t: t is not None) == ""  # decided at release


@pytest.mark.parametrize("transport", ["mount", "plain_mount"])
def test_a_label_is_not_removed_or_lowered_through_the_mount(lf):
    m, folder = lf
    memo = m.source / folder / "memo.txt"
    memo.write_text(MEMO)
    _label(memo, Tier.PROPRIETARY)
    side = sidecar_path(memo)
    label = side.read_bytes()
    lower = m.mnt / folder / "lower.json"
    lower.write_text(json.dumps({"classification": {"tier": "PUBLIC", "tags": []}}))
    mside = m.mnt / folder / side.name
    for script in (
        f"rm {mside}",
        f"mv {mside} {m.mnt / folder / 'away.json'}",
        f"mv {lower} {mside}",
        f"python3 -c 'import os; os.truncate(\"{mside}\", 0)'",
        f"printf '%s' '{lower.read_text()}' > {mside}",
    ):
        _sh(m, script)  # (> hides a failed close)
        assert side.read_bytes() == label, script
    refused = _until(lambda: _decisions(m, allowed=False, destination=str(side)),
                     lambda found: len(found) >= 5)
    methods = sorted(r.data["how"]["method"] for r in refused)
    assert methods == [
        "fuse.rename",
        "fuse.rename",
        "fuse.truncate",
        "fuse.unlink",
        "fuse.write",
    ], methods
    assert all(
        r.policy_id == "lacuna.mount" and "labels memo.txt PROPRIETARY" in r.reasoning
        for r in refused
    )
    assert "DENIED write" in m.log.read_text()
    assert _sh(m, f"cp {m.mnt / folder / 'memo.txt'} {m.mnt}/outbox/").returncode != 0
    # allowed: a lower label Lacuna signs for the file as it is (declared beats inferred)
    _label(m.mnt / folder / "memo.txt", Tier.INTERNAL)  # write_sidecar: temp file, rename
    assert json.loads(side.read_text())["classification"]["tier"] == "INTERNAL"
    # allowed: a label raised
    other = m.source / folder / "notes.txt"
    other.write_text(MEMO)
    _label(other, Tier.INTERNAL)
    higher = {"classification": {"tier": "PROPRIETARY", "tags": []}}
    done = _sh(
        m, f"printf '%s' '{json.dumps(higher)}' > {m.mnt / folder / sidecar_path(other).name}"
    )
    assert done.returncode == 0, done.stderr
    raised = _until(lambda: json.loads(sidecar_path(other).read_text()), lambda d: d == higher)
    assert raised == higher
    # removing the file removes its label with it
    assert _sh(m, f"rm {m.mnt / folder / 'memo.txt'}").returncode == 0
    assert not side.exists()
    assert not memo.exists()


@pytest.mark.parametrize("transport", ["mount", "libfuse_mount"])
def test_a_label_written_through_the_mount_is_a_label_on_disk(lf):
    m, folder = lf
    (m.mnt / folder / "small.csv").write_text("a,b\n1,2\n")
    m.settled("small.csv")
    _label(m.mnt / folder / "small.csv", Tier.PROPRIETARY)  # write_sidecar: temp file, rename
    side = sidecar_path(m.source / folder / "small.csv")
    assert not is_sealed(side)  # plaintext JSON, as every reader of SOURCE reads a label
    assert json.loads(side.read_text())["classification"]["tier"] == "PROPRIETARY"
    assert side.read_bytes() == sidecar_path(m.mnt / folder / "small.csv").read_bytes()
    assert sorted(p.name for p in (m.source / folder).iterdir()) == [side.name, "small.csv"]


@pytest.mark.parametrize(
    ("transport", "where"),
    [
        ("mount", "governed"),
        ("mount", "outbox"),
        ("libfuse_mount", "governed"),
        ("plain_mount", "governed"),
    ],
)
def test_a_truncating_open_without_writes_empties_the_file(lf, where):
    """The content follows the order of the programs' closes, whatever order the kernel's
    asynchronous RELEASEs come in: a truncating open while the last write's release is still
    on its way was not decided, and the file came back with hello (a loop makes that
    interleaving likely; tests/mount/test_release_race.py forces it)."""
    m, folder = lf
    rel = f"{folder}/t.txt" if where == "governed" else f"outbox/{folder}-t.txt"
    loop = (f"for i in 1 2 3 4; do echo hello > {rel} && : > {rel} "
            f"&& [ ! -s {rel} ] || echo \"$i: $(cat {rel})\"; done")
    done = _sh(m, f"cd {m.mnt} && {loop}")
    assert (done.returncode, done.stdout) == (0, ""), done.stderr
    m.settled(rel.rsplit("/", 1)[1])  # what is published once every release is in
    assert (m.mnt / rel).read_text() == ""
    done = _sh(m, f"cd {m.mnt} && echo again >> {rel}")
    assert done.returncode == 0, done.stderr
    assert _settled(m.mnt / rel, "again\n") == "again\n"  # not hello, then again


def _settled(path, expected: str) -> str | None:
    """``path``'s text once it reads ``expected``, or as it reads after 10 s."""
    return _until(lambda: _text(path), lambda text: text == expected)


@pytest.mark.parametrize("transport", ["mount", "libfuse_mount", "plain_mount"])
def test_a_pending_write_is_read_as_decided(lf):
    """A file still open for writing (its staged copy, or the file in place) is decided when
    another program opens it for reading, as it is once written: ``restricted/`` is refused."""
    m, folder = lf
    data = (m.source / "customers.csv").read_text()
    refused = m.mnt / "restricted" / f"{folder}-pending.csv"
    allowed = m.mnt / folder / "pending.csv"
    with open(refused, "w") as secret, open(allowed, "w") as fine:
        secret.write(data)
        secret.flush()
        fine.write("city,count\nParis,3\n")
        fine.flush()
        done = m.run("setsid", "cat", str(refused))
        assert done.returncode != 0
        assert done.stdout == ""
        assert "Permission denied" in done.stderr
        done = m.run("setsid", "cat", str(allowed))
        assert done.returncode == 0, done.stderr
        assert done.stdout == "city,count\nParis,3\n"
    backing = str(m.source / "restricted" / refused.name)
    [denied] = [
        r
        for r in _decisions(m, allowed=False, action="read")
        if r.data["what"]["sources"] == [backing]
    ]
    assert denied.policy_id == "T-MOUNT-1"
    assert denied.data["how"]["method"] == "fuse.open"
    reads = [
        r
        for r in _decisions(m, allowed=True, action="read")
        if r.data["what"]["sources"] == [str(m.source / folder / "pending.csv")]
    ]
    assert len(reads) == 1


@pytest.mark.parametrize("transport", ["mount", "libfuse_mount"])
def test_a_renamed_folder_keeps_its_label(lf):
    m, folder = lf
    ds = m.source / folder / "ds"
    ds.mkdir()
    shutil.copy(m.source / "sales.csv", ds / "a.csv")
    _label(ds, Tier.PROPRIETARY)
    done = _sh(m, f"cd {m.mnt / folder} && mv ds ds2")
    assert done.returncode == 0, done.stderr
    assert not sidecar_path(ds).exists()  # no label left for a folder that is not there
    [declared] = read_declarations(m.source / folder / "ds2")
    assert declared.trusted, declared.problem
    assert declared.classification.tier is Tier.PROPRIETARY
    assert (m.mnt / folder / "ds2" / "a.csv").read_bytes() == (m.source / "sales.csv").read_bytes()


@pytest.mark.parametrize("transport", ["mount", "libfuse_mount"])
def test_a_labelled_file_moved_out_is_decided_at_its_label(lf):
    m, folder = lf
    memo = m.source / folder / "memo.txt"
    memo.write_text(MEMO)
    _label(memo, Tier.PROPRIETARY)
    out = m.source / "outbox" / f"{folder}-memo.txt"
    done = _sh(m, f"mv {m.mnt / folder / 'memo.txt'} {m.mnt / 'outbox' / out.name}")
    assert done.returncode != 0
    assert "Permission denied" in done.stderr
    assert not out.exists()
    assert memo.read_text() == MEMO  # nothing moved
    [refused] = _decisions(m, allowed=False, destination=str(out))
    assert refused.tier == "PROPRIETARY"
    assert refused.data["how"]["method"] == "fuse.rename"
    # allowed: an unlabelled file whose content is PUBLIC moves out as it is
    (m.source / folder / "note.txt").write_text(MEMO)
    done = _sh(m, f"mv {m.mnt / folder / 'note.txt'} {m.mnt / 'outbox' / out.name}")
    assert done.returncode == 0, done.stderr
    assert out.read_text() == MEMO
    assert not (m.source / folder / "note.txt").exists()


@pytest.mark.parametrize("transport", ["mount", "libfuse_mount", "plain_mount"])
def test_a_file_appended_to_keeps_its_label(lf):
    m, folder = lf
    memo, note = m.source / folder / "memo.txt", m.source / folder / "note.txt"
    memo.write_text(MEMO)
    note.write_text("the plan was approved\n")  # not memo's bytes: no copy of it
    _label(memo, Tier.PROPRIETARY)
    for name in ("memo.txt", "note.txt"):
        done = _sh(m, f"echo and on wednesday >> {m.mnt / folder / name}")
        assert done.returncode == 0, done.stderr
        assert (m.mnt / folder / name).read_text().endswith("\nand on wednesday\n")
    assert json.loads(sidecar_path(memo).read_text())["classification"]["tier"] == "PROPRIETARY"
    assert json.loads(sidecar_path(note).read_text())["classification"]["tier"] == "PUBLIC"
    # while another program still holds it open appending (its staged copy pending), the
    # memo is read as what it was and more, not as its words: a copy of it is not exported
    out = m.source / "outbox" / f"{folder}-held.txt"
    done = _sh(m, f"cd {m.mnt / folder} && exec 3>>memo.txt && echo and friday >&3 && "
                  f"setsid cp memo.txt {m.mnt}/outbox/{out.name}; r=$?; exec 3>&-; exit $r")
    assert done.returncode != 0, "a copy of the labelled memo left while it was appended to"
    assert not out.exists()
    assert (m.mnt / folder / "memo.txt").read_text().endswith("\nand friday\n")
    done = _sh(m, f"cp {m.mnt / folder / 'memo.txt'} {m.mnt}/outbox/{folder}-m.txt")
    assert done.returncode != 0
    assert not (m.source / "outbox" / f"{folder}-m.txt").exists()
    done = _sh(m, f"cp {m.mnt / folder / 'note.txt'} {m.mnt}/outbox/{folder}-n.txt")
    assert done.returncode == 0, done.stderr
    assert (m.source / "outbox" / f"{folder}-n.txt").read_text() == (
        "the plan was approved\nand on wednesday\n"
    )
