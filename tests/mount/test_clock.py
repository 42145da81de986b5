"""Files written through the governed mount carry the retention clock (``first_seen``) in
their signed sidecar and, sealed, in their header, as pandas and polars writes do: a copy of
old data is as old as what the writing process read, what is written below its tier is new
data, a path written again keeps its clock, and a sidecar that is not trusted never moves it.
A real mount process (sealed and plain governed storage), real programs, the retention CLI."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path

import pandas as pd
import pytest
import yaml

from lacuna.lineage.sidecar import Sidecar, read_sidecar, sidecar_path, write_sidecar
from lacuna.model import Tier
from lacuna.storage.sealed import is_sealed, read_header

pytestmark = pytest.mark.xdist_group("mount")

NOW = datetime.now(UTC)
OLD = NOW - timedelta(days=round(365.25 * 4))  # INTERNAL: max 3 years, so due
MOUNTS = ("mount", "plain_mount")


@pytest.fixture(params=MOUNTS)
def mf(request, monkeypatch):
    """A mount, this process signing and verifying sidecars with its key (its LACUNA_HOME),
    and the name of a fresh folder in it for the test."""
    mount = request.getfixturevalue(request.param)
    monkeypatch.setenv("LACUNA_HOME", str(mount.root / "home"))
    folder = f"clock-{request.node.originalname[-24:]}"
    shutil.rmtree(mount.source / folder, ignore_errors=True)
    (mount.source / folder).mkdir()
    return mount, folder


def _sh(m, script: str) -> None:
    """``script`` run by a shell in the mount's folder, as a process group of its own (what a
    write takes the clock of is what its group read)."""
    done = subprocess.run(["sh", "-c", script], cwd=m.mnt, capture_output=True, text=True,
                          timeout=60, check=False, start_new_session=True)
    assert done.returncode == 0, done.stderr
    m.settled()  # the kernel's RELEASE of the last close is asynchronous


def _old_source(m, folder: str, name: str = "old.csv") -> Path:
    """The bundled sales data (INTERNAL), plaintext in SOURCE, with a trusted sidecar signed
    four years ago (as a governed write then left it; the audit trail never saw it)."""
    path = m.source / folder / name
    shutil.copy(resources.files("lacuna") / "data" / "sales.csv", path)
    import lacuna

    lacuna.enable(str(m.config))
    try:
        c = lacuna.governor.current().classify_read(str(path), pd.read_csv(path))[0]
    finally:
        lacuna.disable()
    assert c.tier is Tier.INTERNAL
    write_sidecar(path, c, written_by="analyst_bob", written_at=OLD, first_seen=OLD)
    assert _declared(path).first_seen == OLD
    return path


def _declared(path: Path) -> Sidecar:
    """The file's trusted declaration, once the mount has written it: the kernel's RELEASE,
    which decides a write and signs its label, comes after ``close`` returns (asynchronous),
    so on a loaded host the label read at once can still be the one before the write."""
    deadline = time.monotonic() + 20
    while True:
        declared = read_sidecar(path)
        if (declared is not None and declared.trusted and declared.first_seen is not None) \
                or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert declared is not None
    assert declared.trusted, declared.problem
    assert declared.first_seen is not None
    return declared


def _sealed_seen(path: Path) -> datetime | None:
    if not is_sealed(path):
        return None
    return datetime.fromisoformat(read_header(path).meta["first_seen"])


def _forge(path: Path, first_seen: datetime) -> None:
    side = sidecar_path(path)
    body = json.loads(side.read_text())
    body["first_seen"] = first_seen.isoformat()
    side.write_text(json.dumps(body), encoding="utf-8")
    declared = read_sidecar(path)
    assert declared is not None
    assert declared.trust == "forged"


def _plan(m) -> dict[str, dict]:  # type: ignore[type-arg]
    """``lacuna retention plan --json`` over the mount's SOURCE (a governed root), in a fresh
    process with the mount's keys and audit trail."""
    body = yaml.safe_load(m.config.read_text())
    body["destinations"] = {"governed": [f"{m.source}/"]}
    config = m.root / "retention.yaml"
    config.write_text(yaml.safe_dump(body))
    env = {**os.environ, "LACUNA_HOME": str(m.root / "home")}
    env.pop("LACUNA_CONFIG", None)
    done = subprocess.run([sys.executable, "-m", "lacuna", "retention", "plan", "--json",
                           "--config", str(config)], capture_output=True, text=True,
                          timeout=120, env=env, cwd=m.root, check=False)
    assert done.returncode == 0, done.stderr
    return {e["path"]: e for e in json.loads(done.stdout)["entries"]}


def test_a_copy_keeps_what_it_read_and_a_public_extract_starts_anew(mf):
    m, folder = mf
    old = _old_source(m, folder)
    _sh(m, f"cp {folder}/old.csv {folder}/copy.csv && "
           f"cut -d, -f3 {folder}/old.csv > {folder}/categories.csv")
    copy, categories = m.source / folder / "copy.csv", m.source / folder / "categories.csv"

    declared = _declared(copy)
    assert declared.classification.tier is Tier.INTERNAL
    assert declared.first_seen.date() == OLD.date()  # type: ignore[union-attr]
    assert declared.written_at > NOW - timedelta(hours=1)  # type: ignore[operator]
    extract = _declared(categories)
    assert extract.classification.tier is Tier.PUBLIC
    assert extract.first_seen > NOW - timedelta(hours=1)  # type: ignore[operator]
    if is_sealed(copy):  # and its header says so too, without the sidecar
        assert _sealed_seen(copy).date() == OLD.date()  # type: ignore[union-attr]
        assert _sealed_seen(categories) > NOW - timedelta(hours=1)  # type: ignore[operator]
    back = subprocess.run(["cat", f"{folder}/copy.csv"], cwd=m.mnt, capture_output=True,
                          timeout=60, check=True, start_new_session=True).stdout
    assert back == old.read_bytes()  # the allowed path reads back whole
    _sh(m, f"cp {folder}/copy.csv {folder}/again.csv")  # a copy of the copy (sealed: decrypted)
    assert _declared(m.source / folder / "again.csv").first_seen.date() == OLD.date()  # type: ignore[union-attr]

    entries = _plan(m)
    due = entries[str(copy)]
    assert due["action"] == "delete"
    assert due["clock"][:10] == OLD.isoformat()[:10]
    assert f"its data first seen {OLD:%Y-%m-%d} (its signed sidecar)" in due["known_from"]
    kept = entries[str(categories)]
    assert kept["action"] == "keep"
    assert kept["age_days"] < 1


def test_a_path_written_again_keeps_its_clock(mf):
    """A copy of old data, overwritten (``>``) and appended to (``>>``) with new data by a
    process that read nothing: it stays as old as it was."""
    m, folder = mf
    _old_source(m, folder)
    _sh(m, f"cp {folder}/old.csv {folder}/kept.csv && cp {folder}/old.csv {folder}/grown.csv")
    _sh(m, f"printf 'product_category\\nbooks\\ngames\\n' > {folder}/kept.csv && "
           f"printf 'O9,C1,books,1.00,2026-12-01\\n' >> {folder}/grown.csv")
    kept, grown = m.source / folder / "kept.csv", m.source / folder / "grown.csv"
    assert _declared(kept).first_seen.date() == OLD.date()  # type: ignore[union-attr]
    assert _declared(grown).first_seen.date() == OLD.date()  # type: ignore[union-attr]
    if is_sealed(kept):
        assert _sealed_seen(kept).date() == OLD.date()  # type: ignore[union-attr]
    back = subprocess.run(["cat", f"{folder}/kept.csv", f"{folder}/grown.csv"], cwd=m.mnt,
                          capture_output=True, text=True, timeout=60, check=True,
                          start_new_session=True).stdout
    assert back.startswith("product_category\nbooks\ngames\norder_id,")
    assert back.endswith("O9,C1,books,1.00,2026-12-01\n")

    # a new file is new data
    _sh(m, f"printf 'product_category\\nbooks\\n' > {folder}/new.csv")
    new = _declared(m.source / folder / "new.csv")
    assert new.first_seen > NOW - timedelta(hours=1)  # type: ignore[operator]


def test_a_sidecar_that_is_not_trusted_never_moves_the_clock(mf):
    """A source whose sidecar is edited to claim ten years carries no clock to its copy; a
    file whose sidecar is edited to claim ten years does not keep that claim when written
    again; a sealed file whose sidecar is edited to claim today keeps its header's clock."""
    m, folder = mf
    old = _old_source(m, folder)
    _sh(m, f"cp {folder}/old.csv {folder}/sealed.csv")
    _forge(old, NOW - timedelta(days=3650))
    _sh(m, f"cp {folder}/old.csv {folder}/copy.csv")
    target = m.source / folder / "copy.csv"
    assert _declared(target).first_seen > NOW - timedelta(hours=1)  # type: ignore[operator]

    _forge(target, NOW - timedelta(days=3650))
    _sh(m, f"printf 'product_category\\nbooks\\n' > {folder}/copy.csv")
    assert _declared(target).first_seen > NOW - timedelta(hours=1)  # type: ignore[operator]

    sealed = m.source / folder / "sealed.csv"
    if not is_sealed(sealed):
        return  # plain storage: the sidecar is all the file says
    _forge(sealed, NOW)
    _sh(m, f"printf 'product_category\\nbooks\\n' > {folder}/sealed.csv")
    assert _declared(sealed).first_seen.date() == OLD.date()  # type: ignore[union-attr]
    assert _sealed_seen(sealed).date() == OLD.date()  # type: ignore[union-attr]
