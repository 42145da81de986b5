"""A dismissal takes back the raise a claim put into Lacuna's own versions, never more.

A token holder claims the shared ``sales.csv`` is PROPRIETARY. A governed pandas job reads it
while the claim stands (its input version, trusted and signed, records the raised class) and
writes a copy to governed storage (the copy's version is raised too). A steward dismisses the
claim: the input version, the copy and everything read or decided from them stand at what
Lacuna derived from the content again. The attribution is inside the signed classification,
so a hand edit (a claim id removed, a dismissed one put in its place, the ``dismissed`` flag set
by hand) does not verify and lowers nothing. On SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import pytest
from sqlalchemy import select, update

import lacuna
from lacuna.config import ClassificationConfig, config_from_dict
from lacuna.errors import NotDismissableError
from lacuna.lineage.claims import ingest
from lacuna.lineage.recording import file_fingerprint
from lacuna.lineage.records import DatasetRef, DatasetVersion, Run, RunStatus
from lacuna.lineage.schema import runs, versions
from lacuna.lineage.sidecar import sidecar_path
from lacuna.lineage.store import LineageStore
from lacuna.model import Classification, ColumnClass, Tier

if TYPE_CHECKING:  # new with attribution: imported where used, so that the end-to-end
    from lacuna.lineage.attribution import Raised  # tests run (and fail) on the old code

CONFIG = ClassificationConfig()


@dataclass
class Job:
    root: Path
    url: str

    @property
    def store(self) -> LineageStore:
        from lacuna.lineage.api import current_host

        store: LineageStore = current_host().lineage_store
        return store

    def claim(self, run_id: str, path: Path, tier: str = "PROPRIETARY",
              tags: tuple[str, ...] = ("SECRET",)) -> None:
        """What a token holder's OpenLineage event does: an untrusted raise of ``path``."""
        now = datetime.now(UTC)
        ref = DatasetRef.of(str(path))
        c = Classification.from_dict({"tier": tier, "tags": list(tags), "columns": {
            "revenue": {"classification": "financial", "sensitivity": "high"}}})
        run = Run(id=run_id, operation="relabel", status=RunStatus.SUCCEEDED,
                  outputs=(DatasetVersion(dataset=ref, classification=c,
                                          fingerprint=file_fingerprint(ref)),),
                  user_id="ana", role="analyst", session="s", started_at=now, ended_at=now,
                  producer="https://example.com/evil")
        ingest(run, self.store, CONFIG, by="ana")


def _config(root: Path, url: str, user: str) -> Any:
    return config_from_dict({
        "user": {"id": user, "role": "data_steward" if user == "jane" else "analyst"},
        "stewards": {"default": ["jane"]},
        "destinations": {"governed": [f"{root / 'governed'}/"],
                         "unmanaged": [str(root / "Downloads")]},
        "audit": {"url": url},
        "storage": {"encrypt": False},
        "lineage": {"openlineage": {"enabled": False}},
    })


@pytest.fixture
def job(store_url: str, tmp_path: Path) -> Iterator[Job]:
    shutil.copy(resources.files("lacuna") / "data" / "sales.csv", tmp_path / "sales.csv")
    for folder in ("governed", "Downloads", "reports"):
        (tmp_path / folder).mkdir()
    lacuna.enable(_config(tmp_path, store_url, "jane"))
    try:
        yield Job(root=tmp_path, url=store_url)
    finally:
        lacuna.disable()


def _read(path: Path) -> Classification:
    c: Classification = pd.read_csv(path).lacuna.classification
    return c


def test_a_dismissal_brings_lacunas_own_versions_back_to_the_content(job: Job) -> None:
    from lacuna.lineage.dismiss import dismiss_claim

    root, sales = job.root, job.root / "sales.csv"
    ref, copy_ref = DatasetRef.of(str(sales)), DatasetRef.of(str(root / "governed" / "copy.csv"))
    before = _read(sales)
    assert before.tier < Tier.PROPRIETARY
    pd.read_csv(sales).to_csv(root / "reports" / "before.csv", index=False)  # allowed

    job.claim("r-hostile", sales)
    job.claim("r-other", root / "reports" / "before.csv")  # another claim, on another file
    df = pd.read_csv(sales)
    assert df.lacuna.classification.tier is Tier.PROPRIETARY  # the claim raises the read
    df.to_csv(root / "governed" / "copy.csv", index=False)  # governed storage: allowed
    with pytest.raises(lacuna.GovernanceViolation):  # a local folder: denied
        df.to_csv(root / "reports" / "sales.csv", index=False)
    store = job.store
    assert store.latest(ref).classification.tier is Tier.PROPRIETARY  # Lacuna's own input
    assert store.latest(copy_ref).classification.tier is Tier.PROPRIETARY
    assert _read(root / "governed" / "copy.csv").tier is Tier.PROPRIETARY

    # A claim that is not dismissed still raises: dismissing another one lowers nothing here.
    other = dismiss_claim("r-other", reason="before.csv holds no secret: checked")
    assert other.to_dict().get("came_down", []) == []  # Lacuna read nothing of before.csv
    assert store.latest(ref).classification.tier is Tier.PROPRIETARY
    assert store.latest(copy_ref).classification.tier is Tier.PROPRIETARY
    assert _read(root / "governed" / "copy.csv").tier is Tier.PROPRIETARY
    with pytest.raises(lacuna.GovernanceViolation):
        pd.read_csv(root / "governed" / "copy.csv").to_csv(root / "reports" / "x.csv",
                                                            index=False)

    done = dismiss_claim("r-hostile", reason="sales.csv holds no secret: checked with its owner")
    # what the governance reads: the store's standing class, the graph, a read, an export
    for what, found in (("latest", store.latest(ref)),
                        ("latest trusted", store.latest(ref, trusted=True)),
                        ("copy", store.latest(copy_ref)),
                        ("graph", store.upstream(copy_ref).nodes[ref])):
        assert found is not None, what
        assert (found.classification.tier, found.classification.tags) == (
            before.tier, before.tags), what
    copy = pd.read_csv(root / "governed" / "copy.csv")
    assert (copy.lacuna.classification.tier, copy.lacuna.classification.tags) == (
        before.tier, before.tags)
    copy.to_csv(root / "reports" / "copy.csv", index=False)  # allowed again, and written
    assert pd.read_csv(root / "reports" / "copy.csv").equals(pd.read_csv(sales))
    report = done.to_dict()
    came_down = {d["dataset"]: (d["was"]["tier"], d["tier"]) for d in report["came_down"]}
    assert came_down == {str(sales): ("PROPRIETARY", before.tier.value),
                         str(copy_ref): ("PROPRIETARY", before.tier.value)}
    assert report["still_raised"] == []
    assert [d["still_as_strict"] for d in report["datasets"]] == [False]
    events = [a.data["what"]["event"] for a in lacuna.governor.current().audit.list(limit=50)
              if a.data.get("kind") == "lineage"]
    assert events.count("claim-dismissed") == 2
    audited = next(a.data for a in lacuna.governor.current().audit.list(limit=50)
                   if a.data.get("kind") == "lineage" and a.data["what"]["run_id"] == "r-hostile")
    assert {d["dataset"] for d in audited["lineage"]["came_down"]} == {str(sales),
                                                                        str(copy_ref)}


def test_only_a_steward_dismisses_and_a_refusal_lowers_nothing(job: Job) -> None:
    from lacuna.lineage.dismiss import DismissNotAuthorized, dismiss_claim

    sales = job.root / "sales.csv"
    job.claim("r-hostile", sales)
    pd.read_csv(sales).to_csv(job.root / "governed" / "copy.csv", index=False)
    lacuna.disable()
    lacuna.enable(_config(job.root, job.url, "ana"))
    with pytest.raises(DismissNotAuthorized):
        dismiss_claim("r-hostile", reason="I say it is public")
    assert job.store.latest(DatasetRef.of(str(sales))).classification.tier is Tier.PROPRIETARY
    assert _read(job.root / "governed" / "copy.csv").tier is Tier.PROPRIETARY
    refused = [a for a in lacuna.governor.current().audit.list(limit=50)
               if a.data.get("kind") == "lineage"]
    assert [(a.data["what"]["event"], a.user_id) for a in refused] == [("dismiss-refused", "ana")]
    lacuna.disable()
    lacuna.enable(_config(job.root, job.url, "jane"))  # the steward: the copy comes down
    dismiss_claim("r-hostile", reason="sales.csv holds no secret: checked with its owner")
    assert _read(job.root / "governed" / "copy.csv").tier < Tier.PROPRIETARY


def test_a_copy_read_back_without_its_sidecar_and_copied_again_comes_down_too(job: Job) -> None:
    """The store's own version restores a file read without its sidecar: raised while the
    claim stands, and passing the claim on to a copy of the copy; both come down with it."""
    from lacuna.lineage.dismiss import dismiss_claim

    root, sales = job.root, job.root / "sales.csv"
    before = _read(sales)
    job.claim("r-hostile", sales)
    pd.read_csv(sales).to_csv(root / "governed" / "copy.csv", index=False)
    sidecar_path(root / "governed" / "copy.csv").unlink()  # the store is all that is left
    again = pd.read_csv(root / "governed" / "copy.csv")
    assert again.lacuna.classification.tier is Tier.PROPRIETARY
    again.to_csv(root / "governed" / "copy2.csv", index=False)
    sidecar_path(root / "governed" / "copy2.csv").unlink()
    assert _read(root / "governed" / "copy2.csv").tier is Tier.PROPRIETARY

    done = dismiss_claim("r-hostile", reason="sales.csv holds no secret: checked with its owner")
    for name in ("copy.csv", "copy2.csv"):
        c = _read(root / "governed" / name)
        assert (c.tier, c.tags) == (before.tier, before.tags), name
    came_down = {d["dataset"] for d in done.to_dict().get("came_down", [])}
    assert came_down == {str(sales), str(root / "governed" / "copy.csv"),
                         str(root / "governed" / "copy2.csv")}


def test_a_polars_read_of_the_raised_file_comes_down_too(job: Job) -> None:
    pl = pytest.importorskip("polars")
    from lacuna.lineage.dismiss import dismiss_claim

    root, sales = job.root, job.root / "sales.csv"
    before = _read(sales)
    job.claim("r-hostile", sales)
    pl.read_csv(sales).write_csv(root / "governed" / "copy.csv")
    copy_ref = DatasetRef.of(str(root / "governed" / "copy.csv"))
    assert job.store.latest(copy_ref).classification.tier is Tier.PROPRIETARY
    dismiss_claim("r-hostile", reason="sales.csv holds no secret: checked with its owner")
    for ref in (DatasetRef.of(str(sales)), copy_ref):
        found = job.store.latest(ref)
        assert (found.classification.tier, found.classification.tags) == (
            before.tier, before.tags), ref
    c = _read(root / "governed" / "copy.csv")
    assert (c.tier, c.tags) == (before.tier, before.tags)


def test_a_projection_comes_down_and_a_join_is_said_to_keep_the_raise(job: Job) -> None:
    """A selection of the raised data's columns stands at the same selection of what Lacuna
    derived itself; a join with other data names the claim but keeps the raise (Lacuna cannot
    tell what it would have derived without it): the dismissal says so."""
    from lacuna.lineage.dismiss import dismiss_claim

    root, sales = job.root, job.root / "sales.csv"
    before = pd.read_csv(sales)[["order_id", "product_category"]].lacuna.classification
    job.claim("r-hostile", sales)
    df = pd.read_csv(sales)
    df[["order_id", "product_category"]].to_csv(root / "governed" / "proj.csv", index=False)
    shelves = pd.DataFrame({"product_category": ["books", "toys"], "shelf": ["A", "B"]})
    df.merge(shelves, on="product_category").to_csv(root / "governed" / "joined.csv",
                                                     index=False)
    assert _read(root / "governed" / "proj.csv").tier is Tier.PROPRIETARY

    done = dismiss_claim("r-hostile", reason="sales.csv holds no secret: checked with its owner")
    proj = _read(root / "governed" / "proj.csv")
    assert (proj.tier, proj.tags) == (before.tier, before.tags)
    report = done.to_dict()
    assert {d["dataset"] for d in report.get("came_down", [])} == {
        str(sales), str(root / "governed" / "proj.csv")}
    assert [d["dataset"] for d in report["still_raised"]] == [
        str(root / "governed" / "joined.csv")]
    assert _read(root / "governed" / "joined.csv").tier is Tier.PROPRIETARY


# -- the store: the attribution is signed, the dismissal too ------------------------------------

PII = Classification(tier=Tier.PROPRIETARY, tags=("PII",), columns={
    "email": ColumnClass.from_dict({"classification": "pii", "pii_type": "email",
                                    "sensitivity": "high"})})
PUBLIC = Classification(tier=Tier.PUBLIC, columns={"email": ColumnClass()})
REF = DatasetRef("file", "/data/customers.csv")


def _claim(store: LineageStore, run_id: str, ref: DatasetRef = REF) -> None:
    now = datetime.now(UTC)
    ingest(Run(id=run_id, operation="relabel", status=RunStatus.SUCCEEDED,
               outputs=(DatasetVersion(dataset=ref, classification=PII),),
               user_id="ana", started_at=now, ended_at=now), store, CONFIG)


def _own_read(store: LineageStore, raised: Raised | None, ref: DatasetRef = REF) -> None:
    """Lacuna's own run that read ``ref`` while the claim stood (denied: no output)."""
    now = datetime.now(UTC)
    store.record(Run(id=f"read-{ref.name}", operation="export", status=RunStatus.DENIED,
                     inputs=(DatasetVersion(dataset=ref, classification=PII, raised=raised),),
                     started_at=now, ended_at=now))


def _edit(store: LineageStore, ref: DatasetRef, change: Any) -> None:
    """What somebody with the database does: the attribution of Lacuna's version edited."""
    with store.engine.begin() as conn:
        row = conn.execute(select(versions.c.id, versions.c.classification)
                           .where(versions.c.run_id == f"read-{ref.name}")).one()
        data = json.loads(row.classification)
        change(data["raised_by"])
        conn.execute(update(versions).where(versions.c.id == row.id).values(
            classification=json.dumps(data, sort_keys=True)))


def test_a_hand_edited_attribution_does_not_verify_and_lowers_nothing(store_url: str) -> None:
    from lacuna.lineage.attribution import Raised

    raised = Raised(own=PUBLIC, claims=(("claim", PII),))
    removed, swapped, flipped = (DatasetRef("file", f"/data/{n}.csv")
                                 for n in ("removed", "swapped", "flipped"))
    with LineageStore(store_url) as store:
        for ref in (REF, removed, swapped, flipped):
            _claim(store, "claim" if ref == REF else f"claim-{ref.name}", ref)
            _own_read(store, Raised(own=PUBLIC, claims=(
                ("claim" if ref == REF else f"claim-{ref.name}", PII),)), ref)
        _claim(store, "dismissed-one", DatasetRef("file", "/data/other.csv"))
        store.dismiss("dismissed-one")
        assert store.latest(REF, trusted=True).raised == raised  # verified, claim standing
        # a claim id removed, or a dismissed claim's id put in its place: no longer verifies
        _edit(store, removed, lambda r: r["claims"].clear())
        _edit(store, swapped, lambda r: r["claims"][0].update(run_id="dismissed-one"))
        for ref in (removed, swapped):
            store.dismiss(f"claim-{ref.name}")  # even with the claim dismissed
            assert store.latest(ref, trusted=True) is None  # not believed as Lacuna's own
            assert store.latest(ref).classification.tier is Tier.PROPRIETARY  # held: a claim
            assert store.latest(ref, trusted=False).classification.tier is Tier.PROPRIETARY
        # the claim's ``dismissed`` flag set by hand (no dismissal the store signed): the
        # claim's own row stops counting, Lacuna's version keeps the raise
        with store.engine.begin() as conn:
            conn.execute(update(versions).where(versions.c.run_id == "claim-/data/flipped.csv")
                         .values(dismissed=True))
        assert store.latest(flipped).classification.tier is Tier.PROPRIETARY
        # a dismissal signature copied from another run does not hold for this one
        with store.engine.begin() as conn:
            signed = json.loads(conn.execute(select(runs.c.provenance).where(
                runs.c.id == "dismissed-one")).scalar_one())["dismissal"]
            text = conn.execute(select(runs.c.provenance).where(
                runs.c.id == "claim-/data/flipped.csv")).scalar_one()
            conn.execute(update(runs).where(runs.c.id == "claim-/data/flipped.csv").values(
                provenance=json.dumps({**json.loads(text), "dismissal": signed})))
        assert store.latest(flipped).classification.tier is Tier.PROPRIETARY
        # the steward's dismissal: what Lacuna derived itself
        store.dismiss("claim")
        now = store.latest(REF)
        assert (now.classification.tier, now.classification.tags) == (Tier.PUBLIC, ())
        assert store.latest(REF, trusted=True).classification.tier is Tier.PUBLIC
        (pair,) = store.raised_by("claim")
        assert (pair[0].classification.tier, pair[1].classification.tier) == (
            Tier.PROPRIETARY, Tier.PUBLIC)


def test_a_raise_without_attribution_stays_after_dismissal(store_url: str) -> None:
    """Versions recorded before attribution (or whose raise Lacuna cannot attribute) keep it:
    a dismissal lowers nothing it cannot prove came from the claim."""
    with LineageStore(store_url) as store:
        _claim(store, "claim")
        _own_read(store, None)
        store.dismiss("claim")
        assert store.latest(REF).classification.tier is Tier.PROPRIETARY
        assert store.raised_by("claim") == []


def test_a_partial_dismissal_keeps_the_whole_raise(store_url: str) -> None:
    """Two claims named: the raise stands until both are dismissed (fail closed)."""
    from lacuna.lineage.attribution import Raised

    with LineageStore(store_url) as store:
        _claim(store, "a")
        _claim(store, "b")
        _own_read(store, Raised(own=PUBLIC, claims=(("a", PII), ("b", PII))))
        store.dismiss("a")
        assert store.latest(REF).classification.tier is Tier.PROPRIETARY
        store.dismiss("b")
        assert store.latest(REF).classification.tier is Tier.PUBLIC


def test_dismissing_a_claim_keeps_the_raise_of_an_earlier_claim_it_absorbed(job: Job) -> None:
    """A claim is stored held to what the store knows, so a second claim of the same content
    carries the first one's raise in its own stored class. A governed read while both stand
    must name both: dismissing the second (say, a hostile one sent to bury the first) must not
    take back the first's raise from Lacuna's own versions while it still stands."""
    from lacuna.lineage.dismiss import dismiss_claim

    root, sales = job.root, job.root / "sales.csv"
    copy_path = root / "governed" / "head.csv"
    ref, copy_ref = DatasetRef.of(str(sales)), DatasetRef.of(str(copy_path))
    before = _read(sales)
    assert before.tier < Tier.PROPRIETARY

    job.claim("r-owner", sales)  # the data owner's raise: it stands
    job.claim("r-hostile", sales, tags=("SECRET", "BOGUS"))  # stored with r-owner's raise too
    df = pd.read_csv(sales)
    assert df.lacuna.classification.tier is Tier.PROPRIETARY
    df.head(3).to_csv(copy_path, index=False)  # a filter: Lacuna's own version, raised
    store = job.store
    raised = store.latest(copy_ref)
    assert raised is not None
    assert raised.classification.tier is Tier.PROPRIETARY

    dismiss_claim("r-hostile", reason="BOGUS is no tag of ours: checked with the owner")
    fresh = _read(sales)  # what a read derives now, with r-owner standing
    assert fresh.tier is Tier.PROPRIETARY
    assert "SECRET" in fresh.tags
    for what, found in (("latest", store.latest(ref)), ("copy", store.latest(copy_ref))):
        assert found is not None, what
        assert found.classification.tier is fresh.tier, what
        assert "SECRET" in found.classification.tags, what
    assert _read(copy_path).tier is Tier.PROPRIETARY

    # the allowed path: with every claim that raised them dismissed, they come down
    done = dismiss_claim("r-owner", reason="sales.csv holds no secret: checked with its owner")
    assert {str(now.dataset) for _, now in done.came_down} >= {str(ref), str(copy_ref)}
    for what, found in (("latest", store.latest(ref)), ("copy", store.latest(copy_ref))):
        assert found is not None, what
        assert (found.classification.tier, found.classification.tags) == (
            before.tier, before.tags), what
    assert _read(copy_path).tier is before.tier


def test_an_append_to_a_stricter_file_keeps_what_the_file_held(job: Job) -> None:
    """A governed append writes one sidecar for the whole file (what it held, combined with
    what is appended) under the appending run's id, whose stored version is only the appended
    rows' class. A dismissal of the claim that raised those rows must not bring the whole file
    down to what Lacuna derived of the appended rows: the rows already there keep their class."""
    from lacuna.lineage.dismiss import dismiss_claim

    root, sales = job.root, job.root / "sales.csv"
    old, acc = root / "old.csv", root / "governed" / "acc.csv"
    pd.read_csv(sales).head(2).to_csv(old, index=False)
    # a hand-written declaration only restricts: the rows read from it are held stricter
    (root / "old.csv.lacuna.json").write_text(json.dumps({"classification": {
        "tier": "PROPRIETARY"}}), encoding="utf-8")
    held = pd.read_csv(old)
    held.to_csv(acc, index=False)  # Lacuna's own file, signed as strict as its rows
    was = _read(acc)
    assert was.tier is Tier.PROPRIETARY
    assert _read(sales).tier < was.tier

    job.claim("r-hostile", sales)
    raised = pd.read_csv(sales)
    raised.to_csv(acc, mode="a", header=False, index=False)
    assert _read(acc).tier is Tier.PROPRIETARY

    done = dismiss_claim("r-hostile", reason="sales.csv holds no secret: checked with its owner")
    after = _read(acc)
    assert after.tier >= was.tier
    assert set(was.tags) <= set(after.tags)
    assert _read(sales).tier < was.tier  # the claim itself is taken back
    # the file's own read stands where it was; what the claim raised elsewhere came down
    assert str(DatasetRef.of(str(sales))) in {str(now.dataset) for _, now in done.came_down}


def test_an_append_to_a_labelled_file_is_recorded_as_the_whole_file(job: Job) -> None:
    """An append to a plain file with a sidecar keeps the old declaration in the new sidecar;
    the run's version in the store said only what was appended (INTERNAL, for a file holding
    PROPRIETARY rows), so the lineage graph, the server's source checks and OpenLineage told
    less than a read of the file does. The append is now decided and recorded as the whole file."""
    root, sales = job.root, job.root / "sales.csv"
    old, acc = root / "old.csv", root / "governed" / "acc.csv"
    pd.read_csv(sales).head(2).to_csv(old, index=False)
    (root / "old.csv.lacuna.json").write_text(json.dumps({"classification": {
        "tier": "PROPRIETARY"}}), encoding="utf-8")
    pd.read_csv(old).to_csv(acc, index=False)
    appended = pd.read_csv(sales)
    assert appended.lacuna.classification.tier < Tier.PROPRIETARY
    appended.to_csv(acc, mode="a", header=False, index=False)
    recorded = job.store.latest(DatasetRef.of(str(acc)))
    assert recorded is not None
    assert recorded.classification.tier is _read(acc).tier is Tier.PROPRIETARY
    assert len(pd.read_csv(acc)) == 2 + len(appended)

    # the allowed path: public rows appended to a public labelled file stay public, read back
    public = root / "governed" / "wards.csv"
    pd.DataFrame({"ward": ["east"], "beds": [4]}).to_csv(public, index=False)
    pd.DataFrame({"ward": ["west"], "beds": [6]}).to_csv(public, mode="a", header=False,
                                                         index=False)
    assert pd.read_csv(public)["ward"].tolist() == ["east", "west"]
    now = job.store.latest(DatasetRef.of(str(public)))
    assert now is not None
    assert now.classification.tier is _read(public).tier


# -- a dismissal binds its store --------------------------------------------------------------

def _other_url(store_url: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    from fixtures_postgres import new_postgres_database

    if store_url.startswith("sqlite"):
        return f"sqlite:///{tmp_path / 'other.db'}"
    return new_postgres_database(request.getfixturevalue("postgres_url"))


def _provenance(store: LineageStore, run_id: str) -> dict[str, Any]:
    with store.engine.connect() as conn:
        return json.loads(conn.execute(select(runs.c.provenance).where(
            runs.c.id == run_id)).scalar_one())


def _set_provenance(store: LineageStore, run_id: str, data: dict[str, Any]) -> None:
    with store.engine.begin() as conn:
        conn.execute(update(runs).where(runs.c.id == run_id).values(
            provenance=json.dumps(data, sort_keys=True)))


def test_a_dismissal_copied_from_another_store_with_the_same_key_lowers_nothing(
        store_url: str, request: pytest.FixtureRequest, tmp_path: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    """Two lineage stores (two state databases) signed with one key: the same claim run id in
    both, dismissed by a steward in A only. A writer of B copies A's dismissal (and the
    ``dismissed`` flags) into B: B's own version keeps the claim's raise, the log says why,
    and B's steward can still dismiss it there."""
    from lacuna.lineage.attribution import Raised

    other = _other_url(store_url, request, tmp_path)
    with LineageStore(store_url) as a, LineageStore(other) as b:
        for store in (a, b):
            _claim(store, "claim")
            _own_read(store, Raised(own=PUBLIC, claims=(("claim", PII),)))
        a.dismiss("claim")
        assert a.latest(REF).classification.tier is Tier.PUBLIC  # A's steward: it comes down
        assert b.latest(REF).classification.tier is Tier.PROPRIETARY
        _set_provenance(b, "claim", {**_provenance(b, "claim"), **{
            k: v for k, v in _provenance(a, "claim").items() if k.startswith("dismissal")}})
        with b.engine.begin() as conn:
            conn.execute(update(versions).where(versions.c.run_id == "claim")
                         .values(dismissed=True))
        with caplog.at_level("WARNING", logger="lacuna.lineage.store"):
            assert b.latest(REF).classification.tier is Tier.PROPRIETARY  # not applied
            assert b.latest(REF, trusted=True).classification.tier is Tier.PROPRIETARY
            assert not b.dismissal_holds("claim")
        assert None not in (a.store_id(), b.store_id())
        assert a.store_id() != b.store_id()
        said = [r.getMessage() for r in caplog.records if "not applied" in r.getMessage()]
        assert len(said) == 1, said
        assert f"signed for another lineage store (state database {a.store_id()}" in said[0]
        assert "lacuna lineage dismiss claim" in said[0]
        # B's own steward, who means it: dismissed again, for B
        again = b.dismiss("claim")
        assert [v.dataset for v in again] == [REF]
        assert b.latest(REF).classification.tier is Tier.PUBLIC
        assert _provenance(b, "claim")["dismissal_store"] == b.store_id()
        with pytest.raises(NotDismissableError, match="already dismissed"):
            b.dismiss("claim")
        # and A's, copied the other way now, does not hold in A
        _set_provenance(a, "claim", {**_provenance(a, "claim"), **{
            k: v for k, v in _provenance(b, "claim").items() if k.startswith("dismissal")}})
        assert a.latest(REF).classification.tier is Tier.PROPRIETARY


def test_a_dismissal_signed_before_dismissals_named_their_store_holds_where_audited(
        store_url: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    """A version-1 dismissal (signed over the run id only) still holds in the store whose
    audit trail records it (``claim-dismissed``); copied into another store, whose trail does
    not, it lowers nothing."""
    from lacuna.audit import AuditStore
    from lacuna.audit.record import event_body
    from lacuna.lineage.attribution import Raised, dismissal_payload
    from lacuna.signing import default_keyring

    other = _other_url(store_url, request, tmp_path)
    old = default_keyring().sign(dismissal_payload("claim"))  # what an older Lacuna signed
    with LineageStore(store_url) as a, LineageStore(other) as b:
        for store in (a, b):
            _claim(store, "claim")
            _own_read(store, Raised(own=PUBLIC, claims=(("claim", PII),)))
            with store.engine.begin() as conn:
                conn.execute(update(versions).where(versions.c.run_id == "claim")
                             .values(dismissed=True))
            _set_provenance(store, "claim", {**_provenance(store, "claim"), "dismissal": old})
        trail = AuditStore(store_url)
        try:
            trail.record_event(event_body(
                "lineage", user=("jane", "data_steward"), session="s",
                what={"action": "lineage_claim", "event": "claim-dismissed", "run_id": "claim"},
                reasoning="lineage run claim: claim-dismissed"))
        finally:
            trail.close()
        assert a.latest(REF).classification.tier is Tier.PUBLIC  # kept: on A's trail
        assert b.latest(REF).classification.tier is Tier.PROPRIETARY  # not on B's
        b.dismiss("claim")  # B's steward: dismissed again, for B
        assert b.latest(REF).classification.tier is Tier.PUBLIC
