"""The raise-only rule for classifications from outside the pipeline, on the store alone:
a stricter claim is kept as it is, a lower one is held to what the store knows (and says so),
an unknown dataset keeps its claim, intended outputs of a failed run are left alone, and what
is ingested is stored untrusted (never the authority a read restores from)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from lacuna.config import ClassificationConfig
from lacuna.lineage.claims import at_least, ingest
from lacuna.lineage.records import DatasetRef, DatasetVersion, Run, RunStatus
from lacuna.lineage.store import LineageStore
from lacuna.model import Classification

CONFIG = ClassificationConfig()
PII = Classification.from_dict({"tier": "PROPRIETARY", "tags": ["PII"], "columns": {
    "email": {"classification": "pii", "pii_type": "email", "sensitivity": "high"},
    "region": {"classification": "public", "sensitivity": "low"}}})
PUBLIC = Classification.from_dict({"tier": "PUBLIC", "columns": {
    "email": {"classification": "public", "sensitivity": "low"}}})
REF = DatasetRef("file", "/data/customers.csv")


def _run(run_id: str, c: Classification, status: RunStatus = RunStatus.SUCCEEDED,
         fingerprint: str = "sha256:abc") -> Run:
    now = datetime.now(UTC)
    return Run(id=run_id, operation="relabel", status=status, inputs=(),
               outputs=(DatasetVersion(dataset=REF, classification=c, fingerprint=fingerprint),),
               user_id="ana", role="analyst", session="s", started_at=now, ended_at=now)


def test_at_least_keeps_a_raise_and_refuses_a_lowering() -> None:
    assert at_least(PII, PUBLIC, CONFIG, what="d") == (PII, ())
    assert at_least(PUBLIC, None, CONFIG, what="d") == (PUBLIC, ())
    kept, refused = at_least(PUBLIC, PII, CONFIG, what="d")
    assert kept.tier.value == "PROPRIETARY"
    assert "PII" in kept.tags
    assert kept.columns["email"].classification.value == "pii"
    assert kept.columns["region"].classification.value == "public"  # known, not claimed: kept
    assert any("tier PUBLIC refused" in r for r in refused)
    assert any("'email' claimed public" in r for r in refused)
    assert any("dropping tag(s) PII refused" in r for r in refused)
    assert refused[0] in kept.reasoning


def test_ingest_holds_claims_to_the_store_and_stores_them_untrusted(store_url: str) -> None:
    with LineageStore(store_url) as store:
        store.record(_run("pipeline", PII))  # what Lacuna's pipeline recorded: trusted
        recorded, refused = ingest(_run("claim", PUBLIC), store, CONFIG, by="ana")
        assert refused
        assert recorded.outputs[0].classification.tier.value == "PROPRIETARY"
        assert store.by_fingerprint("sha256:abc", trusted=True) is not None
        newest_claim = store.by_fingerprint("sha256:abc", trusted=False)
        assert newest_claim is not None
        assert newest_claim.classification.tier.value == "PROPRIETARY"
        assert store.latest(REF, trusted=True).classification == PII
        # A failed run's intended outputs are not the dataset's state: left as claimed.
        failed, notes = ingest(_run("failed", PUBLIC, RunStatus.FAILED), store, CONFIG)
        assert notes == ()
        assert failed.outputs[0].classification == PUBLIC
        # Content and dataset the store never saw: the claim stands (nothing to lower), and is
        # untrusted, so a read only lets it add restrictions.
        other = DatasetVersion(dataset=DatasetRef("file", "/data/new.csv"),
                               classification=PUBLIC, fingerprint="sha256:new")
        _, notes = ingest(replace(_run("fresh", PUBLIC), outputs=(other,)), store, CONFIG)
        assert notes == ()
        assert store.by_fingerprint("sha256:new", trusted=True) is None
        assert store.by_fingerprint("sha256:new", trusted=False) is not None


def test_an_ingested_masking_edge_is_no_evidence_of_masking(store_url: str) -> None:
    """dbt's ``masking_verified`` looks for a masking edge on a PII column's lineage. An analyst
    who may post lineage can write ``masking: true`` on any edge: that claim must not pass the
    gate. Only an edge of a run Lacuna's pipeline recorded, which produced its target, counts."""
    from lacuna.dbt.evidence import Evidence
    from lacuna.dbt.manifest import DbtNode
    from lacuna.lineage.records import ColumnEdge, EdgeKind

    bronze = DatasetRef("duckdb:///w.duckdb", "main.bronze_customers")
    node = DbtNode(unique_id="model.p.silver_customers", name="silver_customers",
                   resource_type="model", package_name="p", path="silver_customers.sql",
                   original_file_path="models/silver_customers.sql", folder="", schema="main")
    silver = DatasetRef("duckdb:///w.duckdb", "main.silver_customers")

    def masked(run_id: str, column: str) -> Run:
        edge = ColumnEdge(source=bronze, source_column=column, target=silver,
                          target_column=column, kind=EdgeKind.MASKING, description="sha256")
        return replace(_run(run_id, PII), outputs=(
            DatasetVersion(dataset=silver, classification=PII),), column_edges=(edge,))

    with LineageStore(store_url) as store:
        ingest(masked("forged", "email"), store, CONFIG, by="ana")  # the analyst's claim
        store.record(masked("pipeline", "phone"))  # what Lacuna's pipeline recorded
        assert [e.target_column for e in store.column_edges()] == ["email", "phone"]
        assert [e.target_column for e in store.column_edges(trusted=False)] == ["email"]
        evidence = Evidence(lineage=lambda: store)
        assert evidence.masking(node, "phone").ok
        verdict = evidence.masking(node, "email")
        assert not verdict.ok
        assert "no column lineage" in verdict.reason


def test_a_dismissed_claim_no_longer_counts_but_stays_on_record(store_url: str) -> None:
    """``LineageStore.dismiss``: an ingested raise stops counting as what the store knows (of
    the dataset, of its content, at any time), the run stays; Lacuna's own runs, unknown runs,
    runs that produced nothing and a second dismissal are refused."""
    import pytest

    from lacuna.errors import NotDismissableError, UnknownRunError
    from lacuna.lineage.claims import known_of

    with LineageStore(store_url) as store:
        store.record(_run("pipeline", PUBLIC))  # trusted: Lacuna computed it
        ingest(_run("claim", PII), store, CONFIG, by="ana")  # a raise: taken
        version = _run("probe", PUBLIC).outputs[0]
        assert known_of(store, version, CONFIG).tier.value == "PROPRIETARY"
        generation = store.generation
        (dismissed,) = store.dismiss("claim")
        assert store.generation != generation  # memos of what the store holds are renewed
        assert dismissed.classification.tier.value == "PROPRIETARY"  # as it was
        assert _public(known_of(store, version, CONFIG))
        latest = store.latest(REF)
        assert latest is not None
        assert _public(latest.classification)
        assert store.by_fingerprint("sha256:abc", trusted=False) is None
        assert store.produced_with("sha256:abc") is not None
        assert store.produced_with("sha256:abc")[1] == "pipeline"
        assert _public(store.version_at(REF, datetime.now(UTC)).classification)
        assert store.get_run("claim") is not None  # the history keeps what was claimed
        # a later lowering is still held to what the pipeline knows, not to the dismissed claim
        _, refused = ingest(_run("lower", PUBLIC), store, CONFIG)
        assert refused == ()
        with pytest.raises(NotDismissableError, match="already dismissed"):
            store.dismiss("claim")
        with pytest.raises(NotDismissableError, match="Lacuna's own pipeline"):
            store.dismiss("pipeline")
        with pytest.raises(UnknownRunError, match="no lineage run 'nope'"):
            store.dismiss("nope")
        ingest(_run("failed", PII, RunStatus.FAILED), store, CONFIG)
        with pytest.raises(NotDismissableError, match="produced no dataset version"):
            store.dismiss("failed")


def _public(c: Classification | None) -> bool:
    return c is not None and c.tier.value == "PUBLIC" and c.tags == () and {
        n: col.classification.value for n, col in c.columns.items()} == {"email": "public"}


def test_a_dismissed_run_is_not_recorded_again_under_its_id(store_url: str) -> None:
    """The owner of a dismissed claim sends it again with the same runId (a retried COMPLETE, a
    replayed import): recording it would replace the run, deleting the dismissed versions (what
    was claimed) and counting the claim again with no steward's word. Refused; under a new
    runId it is a new claim, held and recorded as any other."""
    import pytest

    from lacuna.errors import RunDismissedError

    with LineageStore(store_url) as store:
        store.record(_run("pipeline", PUBLIC))
        ingest(_run("claim", PII), store, CONFIG, by="ana", owner="ana")
        store.dismiss("claim")
        with pytest.raises(RunDismissedError, match=r"dismissed by a steward.*new runId"):
            ingest(_run("claim", PII), store, CONFIG, by="ana", owner="ana")
        assert _public(store.latest(REF).classification)  # still dismissed
        (kept,) = store.get_run("claim").outputs  # what was claimed stays on record
        assert kept.classification.tier.value == "PROPRIETARY"
        ingest(_run("claim-2", PII), store, CONFIG, by="ana", owner="ana")  # a new claim
        assert store.latest(REF).classification.tier.value == "PROPRIETARY"
        ingest(_run("other", PII), store, CONFIG, by="ana", owner="ana")
        ingest(_run("other", PII), store, CONFIG, by="ana", owner="ana")  # not dismissed: replaced
        assert len(store.runs()) == 4


def test_two_stewards_dismissing_at_once_dismiss_once(store_url: str) -> None:
    """Two stewards (two server processes) dismiss one run at the same moment: one dismissal,
    one 'already dismissed', never two dismissals on the audit trail. The first steward's
    transaction is held open between reading the run's versions and marking them."""
    import threading

    import pytest
    from sqlalchemy import event

    from lacuna.errors import LineageError

    with LineageStore(store_url) as first, LineageStore(store_url) as second:
        first.record(_run("pipeline", PUBLIC))
        ingest(_run("claim", PII), first, CONFIG, by="ana")
        outcomes: list[str] = []

        def other_steward() -> None:
            try:
                second.dismiss("claim")
                outcomes.append("dismissed")
            except LineageError as exc:
                outcomes.append(str(exc))

        racer = threading.Thread(target=other_steward)
        armed = [True]

        def meanwhile(_conn: object, _cursor: object, statement: str, *_: object) -> None:
            if armed[0] and statement.lstrip().startswith("SELECT") and \
                    "lacuna_lineage_versions.run_id =" in statement:
                armed[0] = False
                racer.start()
                racer.join(timeout=2)  # waits on the first's lock, or dismisses meanwhile

        event.listen(first.engine, "after_cursor_execute", meanwhile)
        try:
            first.dismiss("claim")
            outcomes.append("dismissed")
        except LineageError as exc:
            outcomes.append(str(exc))
        racer.join(timeout=30)
        assert sorted(outcomes)[0] == "dismissed", outcomes
        assert outcomes.count("dismissed") == 1, outcomes
        assert any("already dismissed" in o for o in outcomes), outcomes
        with pytest.raises(LineageError, match="already dismissed"):
            second.dismiss("claim")


def test_a_claim_never_replaces_a_run_the_pipeline_recorded(store_url: str) -> None:
    """ana's governed run is recorded trusted under her name. She sends an OpenLineage event
    with its runId (the owner check passes: it is hers): replacing the run would delete what
    the pipeline computed, leaving only her claim, which a steward may then dismiss (nothing
    would be known of the content). Refused; the server records the claim apart instead."""
    import pytest

    from lacuna.errors import RunOwnedError

    with LineageStore(store_url) as store:
        store.record(_run("r-own", PII))  # trusted, user ana
        with pytest.raises(RunOwnedError, match=r"Lacuna's own pipeline.*another runId"):
            ingest(_run("r-own", PUBLIC), store, CONFIG, by="ana", owner="ana")
        own = store.by_fingerprint("sha256:abc", trusted=True)
        assert own is not None
        assert own.classification == PII
        assert store.by_fingerprint("sha256:abc", trusted=False) is None
        store.record(_run("r-own", PII))  # the pipeline itself may record it again
        ingest(_run("r-claim", PII), store, CONFIG, by="ana", owner="ana")
        ingest(_run("r-claim", PII), store, CONFIG, by="ana", owner="ana")  # a claim: replaced
        assert len(store.runs()) == 2


def test_a_claim_flipped_to_trusted_by_hand_can_still_be_dismissed(store_url: str) -> None:
    """``trusted`` is a plain column: set on a claim's rows by hand it must not make the claim
    look like Lacuna's own run (undismissable); only a row whose signature holds is."""
    import sqlalchemy as sa

    with LineageStore(store_url) as store:
        store.record(_run("pipeline", PUBLIC))
        ingest(_run("claim", PII), store, CONFIG, by="ana")
    engine = sa.create_engine(store_url)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE lacuna_lineage_versions SET trusted = true "
                             "WHERE run_id = 'claim'"))
    engine.dispose()
    with LineageStore(store_url) as store:
        (dismissed,) = store.dismiss("claim")
        assert dismissed.classification.tier.value == "PROPRIETARY"
        latest = store.latest(REF)
        assert latest is not None
        assert _public(latest.classification)


def _version(name: str, c: Classification, fingerprint: str | None = None,
             raised: object = None) -> DatasetVersion:
    return DatasetVersion(dataset=DatasetRef("file", f"/data/{name}.csv"), classification=c,
                          fingerprint=fingerprint, raised=raised)  # type: ignore[arg-type]


def test_guard_holds_a_run_to_the_store_in_a_few_statements_however_many_datasets(
        store_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """An ingested run of 1,000 datasets was held to the store by two reads per dataset (about
    4,000 statements, seconds of the server's time per event). What the store knows is now read
    for all of them together, in pages (here of 3, to cross page edges), and holds each one to
    exactly what the single reads say: the dataset's newest version (a claim's raise, a
    trusted version's attributed raise, standing or dismissed), its content anywhere, nothing
    for an intended output of a failed run or an unknown dataset."""
    from sqlalchemy import event

    import lacuna.lineage.store as store_module
    from lacuna.lineage.attribution import Raised
    from lacuna.lineage.claims import guard, known_of_all

    monkeypatch.setattr(store_module, "_CHUNK", 3)
    now = datetime.now(UTC)

    def run(run_id: str, outputs: tuple[DatasetVersion, ...], inputs: tuple[DatasetVersion, ...]
            = (), status: RunStatus = RunStatus.SUCCEEDED) -> Run:
        return Run(id=run_id, operation="x", status=status, inputs=inputs, outputs=outputs,
                   user_id="ana", role="analyst", session="s", started_at=now, ended_at=now)

    with LineageStore(store_url) as store:
        store.record(run("pipeline", tuple(
            _version(f"pii{i}", PII, f"sha256:{i}") for i in range(7))))
        store.record(run("public", (_version("raised", PUBLIC, "sha256:r"),
                                    _version("own-dismissed", PUBLIC),
                                    _version("own-standing", PUBLIC))))
        ingest(run("claim-raise", (_version("raised", PII, "sha256:r"),)), store, CONFIG)
        ingest(run("claim-a", (_version("elsewhere-a", PII, "sha256:2"),)), store, CONFIG)
        ingest(run("claim-b", (_version("elsewhere-b", PII),)), store, CONFIG)
        store.record(run("derived", (  # Lacuna's own versions a standing claim raised
            _version("own-dismissed", PII, raised=Raised(own=PUBLIC, claims=(("claim-a", PII),))),
            _version("own-standing", PII, raised=Raised(own=PUBLIC, claims=(("claim-b", PII),))),
        )))
        store.dismiss("claim-a")
        store.record(run("failed", (_version("never", PII),  # newer, not standing: skipped
                                    _version("failed-1", PUBLIC, "sha256:1")),
                         status=RunStatus.FAILED))
        claimed = (
            *(_version(f"pii{i}", PUBLIC, f"sha256:{i}") for i in range(7)),
            _version("copy-of-pii3", PUBLIC, "sha256:3"),  # the same content, renamed
            _version("pii5", PUBLIC),  # no fingerprint: held by its name
            _version("raised", PUBLIC), _version("own-dismissed", PUBLIC),
            _version("own-standing", PUBLIC), _version("never", PUBLIC),
            _version("unknown", PUBLIC, "sha256:unknown"))
        # What the single reads say (known_of as it was: latest and by_fingerprint, one each)
        from lacuna.lineage.rules import combine

        def single(v: DatasetVersion) -> Classification | None:
            found = [k.classification for k in (
                store.latest(v.dataset),
                store.by_fingerprint(v.fingerprint) if v.fingerprint else None) if k]
            return None if not found else found[0] if len(found) == 1 else combine(found, CONFIG)

        expected = [single(v) for v in claimed]
        assert known_of_all(store, claimed, CONFIG) == expected
        by_name = dict(zip([v.dataset.name for v in claimed], expected, strict=False))
        assert by_name["/data/copy-of-pii3.csv"] == PII  # its content is known
        assert by_name["/data/raised.csv"].tier.value == "PROPRIETARY"  # the claim's raise
        assert by_name["/data/own-standing.csv"].tier.value == "PROPRIETARY"
        assert by_name["/data/own-dismissed.csv"].tier.value == "PUBLIC"  # dismissed: own
        assert by_name["/data/never.csv"] is None
        assert by_name["/data/unknown.csv"] is None

        inputs, outputs = claimed[:7], claimed[7:]
        held, refused = guard(run("ingested", outputs, inputs), store, CONFIG)
        want: list[str] = []
        for v, known, h in zip(claimed, expected, (*held.inputs, *held.outputs), strict=True):
            kept, notes = at_least(v.classification, known, CONFIG, what=str(v.dataset))
            want.extend(notes)
            assert (h.dataset, h.classification) == (v.dataset, kept)
        assert refused == tuple(dict.fromkeys(want))
        assert any("/data/copy-of-pii3.csv: tier PUBLIC refused" in r for r in refused)
        assert not any("own-dismissed" in r or "unknown" in r or "never" in r for r in refused)
        # a failed run's intended outputs are left alone, its inputs held
        failed, notes = guard(run("f", outputs, inputs, RunStatus.FAILED), store, CONFIG)
        assert failed.outputs == outputs
        assert notes == tuple(r for r in refused if any(f"{v.dataset}:" in r for v in inputs))

        statements: list[str] = []
        event.listen(store.engine, "before_cursor_execute",
                     lambda *a: statements.append(a[2]))
        monkeypatch.setattr(store_module, "_CHUNK", 500)
        guard(run("small", (claimed[0], claimed[10])), store, CONFIG)  # one attributed
        few = len(statements)
        statements.clear()
        guard(run("large", claimed), store, CONFIG)
        assert len(statements) == few, statements  # not one read per dataset
