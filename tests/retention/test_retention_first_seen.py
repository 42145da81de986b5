"""The retention clock carried inside the data's signed sidecar and sealed header
(``first_seen``): a re-saved file renamed by hand, or copied in a session whose audit trail
retention does not read, is still as old as its data; a sidecar that is not trusted never
moves the clock. Real files, real sealing, the real audit trail, the CLI."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
import time_machine
import yaml

import lacuna
from lacuna.audit import AuditStore
from lacuna.lineage.sidecar import read_sidecar, sidecar_path
from lacuna.signing import default_keyring
from lacuna.storage.sealed import is_sealed, read_header

from .conftest import rotate_and_rewrap, run, write_at, years_ago

TODAY = datetime.now(UTC)


def _entries(project: Path) -> dict[str, dict]:  # type: ignore[type-arg]
    plan = run(project, "retention", "plan", "--json")
    assert plan.returncode == 0, plan.stderr
    return {e["path"]: e for e in json.loads(plan.stdout)["entries"]}


def _due_by_first_write(entry: dict, known_from: str | None = None) -> None:  # type: ignore[type-arg]
    """The plan deletes ``entry`` by its data's clock of four years ago (``known_from``: the
    evidence it names for it, e.g. "its signed sidecar")."""
    assert entry["action"] == "delete"
    assert entry["clock"][:10] == years_ago(4).isoformat()[:10]
    if known_from is not None:
        assert f"its data first seen {years_ago(4):%Y-%m-%d} ({known_from})" \
            in entry["known_from"]


def _encrypt(project: Path, on: bool) -> None:
    raw = yaml.safe_load((project / "lacuna.yaml").read_text())
    raw["storage"] = {"encrypt": on}
    (project / "lacuna.yaml").write_text(yaml.safe_dump(raw), encoding="utf-8")


def _copy(config: Path, reads: Path, writes: Path) -> None:
    """Read a governed file and write it through Lacuna, now, in one session."""
    lacuna.enable(str(config))
    try:
        pd.read_csv(reads).to_csv(writes, index=False)
    finally:
        lacuna.disable()


def _rename(old: Path, new: Path) -> None:
    """What a user does by hand: the data file and its sidecar, moved together."""
    shutil.move(old, new)
    shutil.move(sidecar_path(old), sidecar_path(new))


def _header_seen(path: Path) -> datetime:
    return datetime.fromisoformat(read_header(path).meta["first_seen"])


def _tamper(path: Path, how: str, **fields: str) -> None:
    """Edit the sidecar of ``path`` by hand: ``forged`` keeps its signature (which no longer
    verifies), ``unsigned`` drops it."""
    side = sidecar_path(path)
    body = json.loads(side.read_text())
    body.update(fields)
    if how == "unsigned":
        del body["signature"]
    side.write_text(json.dumps(body), encoding="utf-8")
    declared = read_sidecar(path)
    assert declared is not None
    assert declared.trust == how


def _deleted(project: Path) -> list[str]:
    done = run(project, "retention", "apply", "--json")
    assert done.returncode == 0, done.stdout
    return sorted(json.loads(done.stdout).get("deleted", []))


@pytest.mark.parametrize("sealed", [True, False], ids=["sealed", "plaintext"])
def test_a_resaved_file_renamed_by_hand_is_due_by_its_first_write(project, sealed):
    """Written 4 years ago (INTERNAL: max 3y), re-saved today, then moved with its sidecar to
    a name the audit trail never saw: its sidecar (and sealed header) still say when its data
    was first seen, so it is deleted, and the trail says by which clock."""
    _encrypt(project, sealed)
    old = write_at(project, years_ago(4), "sales.csv", "old.csv")
    _copy(project / "lacuna.yaml", old, old)  # re-saved today: its write time restarts
    renamed = old.with_name("renamed.csv")
    _rename(old, renamed)
    declared = read_sidecar(renamed)
    assert declared is not None
    assert declared.trusted
    assert declared.written_at is not None
    assert declared.written_at > TODAY - timedelta(hours=1)
    assert declared.first_seen is not None
    assert declared.first_seen.date() == years_ago(4).date()
    assert is_sealed(renamed) is sealed
    if sealed:
        assert _header_seen(renamed).date() == years_ago(4).date()
    entry = _entries(project)[str(renamed)]
    _due_by_first_write(entry, "its signed sidecar")
    assert entry["written_at"] > (TODAY - timedelta(hours=1)).isoformat()
    assert _deleted(project) == [str(renamed)]
    assert not renamed.exists()
    assert not sidecar_path(renamed).exists()
    with AuditStore(f"sqlite:///{project / 'audit.db'}") as store:
        [record] = [r.data for r in store.list(limit=None, action="retention")
                    if r.data["what"]["dataset"] == str(renamed)]
        assert store.verify().ok
    assert record["what"]["event"] == "deleted"
    assert record["retention"]["clock"] == entry["clock"]


@pytest.mark.parametrize("library", ["pandas", "polars"])
def test_a_copy_made_in_a_session_the_trail_does_not_link_carries_its_source_clock(project,
                                                                                  library):
    """Another team's session (its own audit trail: retention's trail never saw it) reads the
    4-year-old INTERNAL file and writes a copy, and a projection to a public column: the
    copy's sidecar and sealed header carry the source's first_seen through the frame's
    lineage, so the copy is due with its source; the public projection is new data (written
    below the source's tier) with today's clock."""
    old = write_at(project, years_ago(4), "sales.csv", "old.csv")
    elsewhere = yaml.safe_load((project / "lacuna.yaml").read_text())
    elsewhere["audit"] = {"url": f"sqlite:///{project / 'elsewhere.db'}"}
    (project / "elsewhere.yaml").write_text(yaml.safe_dump(elsewhere), encoding="utf-8")
    root = project / "governed" / "workspace"
    copy, categories = root / "copy.csv", root / "categories.csv"
    lacuna.enable(str(project / "elsewhere.yaml"))
    try:
        if library == "pandas":
            frame = pd.read_csv(old)
            frame.to_csv(copy, index=False)
            frame[["product_category"]].to_csv(categories, index=False)
        else:
            import polars as pl

            read = pl.read_csv(old)
            read.write_csv(copy)
            read.select("product_category").write_csv(categories)
    finally:
        lacuna.disable()
    with AuditStore(f"sqlite:///{project / 'audit.db'}") as store:
        assert not [r for r in store.list(limit=None) if str(copy) in json.dumps(r.data)]
    got = {p.name: read_sidecar(p) for p in (copy, categories)}
    assert {n: (d.trusted, d.classification.tier.value)  # type: ignore[union-attr]
            for n, d in got.items()} == {"copy.csv": (True, "INTERNAL"),
                                         "categories.csv": (True, "PUBLIC")}
    assert got["copy.csv"].first_seen.date() == years_ago(4).date()  # type: ignore[union-attr]
    assert got["categories.csv"].first_seen > TODAY - timedelta(hours=1)  # type: ignore[union-attr]
    assert _header_seen(copy).date() == years_ago(4).date()
    assert _header_seen(categories) > TODAY - timedelta(hours=1)
    entries = _entries(project)
    _due_by_first_write(entries[str(copy)])
    assert entries[str(categories)]["action"] == "keep"
    assert entries[str(categories)]["age_days"] < 1
    assert _deleted(project) == sorted([str(old), str(copy)])
    assert categories.exists()


@pytest.mark.parametrize("how", ["forged", "unsigned"])
def test_a_sidecar_that_is_not_trusted_never_moves_the_clock(project, how):
    """A re-saved, renamed sealed file whose sidecar is edited to say its data was first seen
    today is still due by its sealed header's first_seen; a fresh file whose sidecar claims
    10 years is not due sooner (sealed: kept by its header; plaintext: to review, never
    deleted on that claim), and writing it again through Lacuna does not take that claim."""
    old = write_at(project, years_ago(4), "sales.csv", "old.csv")
    _copy(project / "lacuna.yaml", old, old)
    renamed = old.with_name("renamed.csv")
    _rename(old, renamed)
    _tamper(renamed, how, first_seen=TODAY.isoformat())

    fresh = write_at(project, TODAY - timedelta(days=1), "sales.csv", "fresh.csv")
    _tamper(fresh, how, first_seen=years_ago(10).isoformat())
    _encrypt(project, False)
    plain = write_at(project, TODAY - timedelta(days=1), "sales.csv", "plain.csv")
    _tamper(plain, how, first_seen=years_ago(10).isoformat())

    entries = _entries(project)
    _due_by_first_write(entries[str(renamed)], "its sealed header")
    assert entries[str(fresh)]["action"] == "keep"
    assert entries[str(fresh)]["age_days"] < 2
    assert entries[str(plain)]["action"] == "review"
    assert entries[str(plain)]["clock"] > (TODAY - timedelta(days=2)).isoformat()

    _copy(project / "lacuna.yaml", plain, plain)  # written again: the claim is not taken
    again = read_sidecar(plain)
    assert again is not None
    assert again.trusted
    assert again.first_seen is not None
    assert again.first_seen > TODAY - timedelta(days=2)
    assert _deleted(project) == [str(renamed)]
    assert fresh.exists()
    assert plain.exists()


@pytest.mark.parametrize("sealed", [True, False], ids=["sealed", "plaintext"])
def test_a_fresh_file_is_kept_and_says_when_its_data_was_first_seen(project, sealed):
    """The allowed path: written today, its sidecar (and header) read back say first seen
    today, the plan keeps it by its own write time and says nothing more; re-saved, it keeps
    that clock."""
    _encrypt(project, sealed)
    fresh = write_at(project, TODAY - timedelta(days=1), "sales.csv", "fresh.csv")
    declared = read_sidecar(fresh)
    assert declared is not None
    assert declared.trusted
    assert declared.first_seen == declared.written_at
    assert declared.first_seen is not None
    assert declared.first_seen.date() == (TODAY - timedelta(days=1)).date()
    if sealed:
        assert _header_seen(fresh) <= declared.first_seen
        assert _header_seen(fresh) > declared.first_seen - timedelta(minutes=1)
    else:
        assert not is_sealed(fresh)
    entry = _entries(project)[str(fresh)]
    assert entry["action"] == "keep"
    assert entry["known_from"] == "signed sidecar"
    assert entry["clock"] == entry["written_at"]
    _copy(project / "lacuna.yaml", fresh, fresh)
    after = read_sidecar(fresh)
    assert after is not None
    assert after.trusted
    assert after.written_at is not None
    assert after.written_at > declared.written_at  # type: ignore[operator]
    assert after.first_seen is not None
    assert after.first_seen.date() == (TODAY - timedelta(days=1)).date()
    assert _entries(project)[str(fresh)]["action"] == "keep"
    assert _deleted(project) == []


def test_a_sidecar_signed_without_first_seen_is_dated_by_its_write_time(project):
    """Backward compatible: a sidecar signed before it carried first_seen is read (first_seen
    None) and dated by its write time, as before; a file written from it takes that clock."""
    _encrypt(project, False)
    old = write_at(project, TODAY - timedelta(days=1), "sales.csv", "old.csv")
    side = sidecar_path(old)
    body = json.loads(side.read_text())
    del body["signature"], body["first_seen"]
    body["written_at"] = years_ago(4).isoformat()
    body["signature"] = default_keyring().sign(body)
    side.write_text(json.dumps(body), encoding="utf-8")
    declared = read_sidecar(old)
    assert declared is not None
    assert declared.trusted
    assert declared.first_seen is None
    copy = old.with_name("copy.csv")
    elsewhere = yaml.safe_load((project / "lacuna.yaml").read_text())
    elsewhere["audit"] = {"url": f"sqlite:///{project / 'elsewhere.db'}"}
    (project / "elsewhere.yaml").write_text(yaml.safe_dump(elsewhere), encoding="utf-8")
    _copy(project / "elsewhere.yaml", old, copy)
    assert read_sidecar(copy).first_seen.date() == years_ago(4).date()  # type: ignore[union-attr]
    entries = _entries(project)
    assert entries[str(old)]["action"] == "delete"
    assert entries[str(old)]["known_from"] == "signed sidecar"
    assert entries[str(copy)]["action"] == "delete"


def test_a_header_sealed_without_first_seen_is_dated_by_its_write_time(project):
    """Backward compatible: a sealed header without first_seen (sealed before it existed),
    its sidecar gone, still dates the file by the write time it sealed."""
    from lacuna.config import load_config
    from lacuna.keystore import keystore_for
    from lacuna.storage.sealed import SealedWriter

    config = load_config(str(project / "lacuna.yaml"))
    path = project / "governed" / "workspace" / "old_format.csv"
    writer = SealedWriter(path, keystore_for(config), key_id=config.storage.key_id,
                          meta={"written_by": "etl", "tier": "INTERNAL",
                                "written_at": years_ago(4).isoformat()})
    writer.write(b"region,amount\nnorth,1\n")
    writer.close()
    assert "first_seen" not in read_header(path).meta
    entry = _entries(project)[str(path)]
    assert entry["action"] == "delete"
    assert entry["clock"] == entry["written_at"]
    assert entry["written_at"][:10] == years_ago(4).isoformat()[:10]
    assert "its sealed header (authenticated)" in entry["known_from"]


def test_a_key_rewrap_keeps_first_seen_in_the_sidecar(project):
    """``lacuna storage rewrap`` signs each trusted sidecar again: it keeps first_seen (a
    re-saved file's clock) as it keeps the write time; renamed afterwards, still due."""
    old = write_at(project, years_ago(4), "sales.csv", "old.csv")
    _copy(project / "lacuna.yaml", old, old)
    before = read_sidecar(old)
    assert before is not None
    after = rotate_and_rewrap(project, old)
    assert (after.written_at, after.first_seen) == (before.written_at, before.first_seen)
    assert after.first_seen is not None
    assert after.first_seen.date() == years_ago(4).date()
    renamed = old.with_name("renamed.csv")
    _rename(old, renamed)
    assert _entries(project)[str(renamed)]["action"] == "delete"


def _store_write(config: Path, reads: Path, writes: Path, store: str) -> None:
    """Read a governed file and write it into ``store`` (an ExcelWriter or an HDFStore) on
    ``writes`` through Lacuna, now, in one session."""
    lacuna.enable(str(config))
    try:
        frame = pd.read_csv(reads)
        if store == "excel":
            with pd.ExcelWriter(writes) as writer:
                frame.to_excel(writer, sheet_name="sales", index=False)
        else:
            with pd.HDFStore(writes, mode="w") as hdf:
                hdf.put("sales", frame, track_times=False)
    finally:
        lacuna.disable()


@pytest.mark.parametrize("store", ["excel", "hdf"])
def test_a_store_write_carries_its_data_clock(project, store):
    """Data first written 4 years ago (INTERNAL: max 3y), re-written today into an
    ExcelWriter / HDFStore, then renamed by hand with its sidecar: the store's sidecar carries
    the source's first_seen, so it is due by the original write; the same store written from
    data first seen today is kept, its first_seen today."""
    pytest.importorskip("openpyxl" if store == "excel" else "tables")
    _encrypt(project, False)  # a store writes its file itself: never sealed
    old = write_at(project, years_ago(4), "sales.csv", "old.csv")
    fresh = write_at(project, TODAY - timedelta(days=1), "sales.csv", "fresh.csv")
    suffix = ".xlsx" if store == "excel" else ".h5"
    written, today = old.with_name("written" + suffix), old.with_name("today" + suffix)
    _store_write(project / "lacuna.yaml", old, written, store)
    _store_write(project / "lacuna.yaml", fresh, today, store)
    renamed = written.with_name("renamed" + suffix)
    _rename(written, renamed)
    got = {p.name: read_sidecar(p) for p in (renamed, today)}
    assert all(d is not None and d.trusted for d in got.values())
    assert got[renamed.name].first_seen.date() == years_ago(4).date()  # type: ignore[union-attr]
    assert got[renamed.name].written_at > TODAY - timedelta(hours=1)  # type: ignore[union-attr,operator]
    assert got[today.name].first_seen.date() == (TODAY - timedelta(days=1)).date()  # type: ignore[union-attr]
    entries = _entries(project)
    _due_by_first_write(entries[str(renamed)], "its signed sidecar")
    assert entries[str(today)]["action"] == "keep"
    assert _deleted(project) == sorted([str(old), str(renamed)])
    assert today.exists()
    assert not renamed.exists()


@pytest.mark.parametrize("store", ["excel", "hdf"])
def test_a_store_rewriting_its_file_keeps_the_file_clock(project, store):
    """A store file written 4 years ago, written again today by a store (mode="w" truncates
    it on open) from data first seen today: the file keeps its clock (writing a path again
    does not restart it), read before the store's open replaced the file."""
    pytest.importorskip("openpyxl" if store == "excel" else "tables")
    _encrypt(project, False)
    src = write_at(project, TODAY - timedelta(days=1), "sales.csv", "src.csv")
    path = src.with_name("kept.xlsx" if store == "excel" else "kept.h5")
    with time_machine.travel(years_ago(4), tick=False):
        _store_write(project / "lacuna.yaml", project / "sales.csv", path, store)
    first = read_sidecar(path)
    assert first is not None
    assert first.first_seen.date() == years_ago(4).date()  # type: ignore[union-attr]
    _store_write(project / "lacuna.yaml", src, path, store)
    again = read_sidecar(path)
    assert again is not None
    assert again.trusted
    assert again.written_at > TODAY - timedelta(hours=1)  # type: ignore[operator]
    assert again.first_seen.date() == years_ago(4).date()  # type: ignore[union-attr]


def test_a_dataset_build_takes_its_source_clock_unless_it_is_new_data(project):
    """A registered dataset built today from data first written 4 years ago: the build at the
    source's tier (a copy) is as old as its source, so, renamed by hand with its sidecar, it is
    due by the source's first write; the build anonymized to a lower tier is new data
    (``clock.takes``), kept, its first_seen today, read back from its sidecar and header."""
    sales = write_at(project, years_ago(4), "sales.csv", "sales_old.csv")
    customers = write_at(project, years_ago(4), "customers.csv", "customers_old.csv")
    raw = yaml.safe_load((project / "lacuna.yaml").read_text())
    raw["stewards"] = {"default": ["steward@example.com"]}
    (project / "lacuna.yaml").write_text(yaml.safe_dump(raw), encoding="utf-8")
    lacuna.enable(str(project / "lacuna.yaml"))
    try:
        copy = lacuna.datasets.register("sales_copy", sales, {"product_category": "keep"},
                                        approved_by="steward@example.com")
        anonymized = lacuna.datasets.register("customers_anonymized", customers,
                                              approved_by="steward@example.com")
    finally:
        lacuna.disable()
    source_tier = read_sidecar(customers).classification.tier  # type: ignore[union-attr]
    assert anonymized.classification is not None
    assert anonymized.classification.tier < source_tier
    built = Path(copy.location)
    renamed = built.with_name("renamed_copy.parquet")
    _rename(built, renamed)
    got = {p.name: read_sidecar(p) for p in (renamed, Path(anonymized.location))}
    assert all(d is not None and d.trusted for d in got.values())
    seen = {n: d.first_seen for n, d in got.items()}  # type: ignore[union-attr]
    assert seen[renamed.name].date() == years_ago(4).date()  # type: ignore[union-attr]
    assert seen[Path(anonymized.location).name] > TODAY - timedelta(hours=1)  # type: ignore[operator]
    assert _header_seen(renamed).date() == years_ago(4).date()
    assert _header_seen(Path(anonymized.location)) > TODAY - timedelta(hours=1)
    entries = _entries(project)
    _due_by_first_write(entries[str(renamed)])
    assert entries[anonymized.location]["action"] == "keep"
    assert str(renamed) in _deleted(project)
    assert not renamed.exists()
    assert Path(anonymized.location).exists()
