"""Translate lineage :class:`~lacuna.lineage.records.Run` records to and from OpenLineage events.

Out: :func:`run_to_events` gives a START and a COMPLETE (or FAIL) ``RunEvent`` built with
openlineage-python, carrying the standard ``schema``, ``columnLineage`` and ``tags`` dataset
facets (column-scoped tags with ``field``: ``pii``, ``classification``, ``sensitivity``), the
``lacuna_classification`` dataset facet, Floe's ``floe_classification`` facet (ADR-0012:
columns → {classification, pii_type, sensitivity}) and the ``lacuna_run`` run facet with the
run's provenance. The JSON Schemas of Lacuna's facets ship in ``lacuna/lineage/schemas``.

In: :func:`events_to_runs` turns event dictionaries from any producer (Lacuna, Airflow, dbt-ol,
Spark's listener, openlineage-python's client) into runs; a run's events are merged by runId.
Classifications come from Lacuna's facet, else Floe's, else column tags.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, ClassVar

import attr
from openlineage.client import event_v2, facet_v2
from openlineage.client.serde import Serde

from lacuna.config import ClassificationConfig
from lacuna.errors import LineageError
from lacuna.lineage.records import ColumnEdge, DatasetRef, DatasetVersion, EdgeKind, Run, RunStatus
from lacuna.model import (
    Classification,
    ColumnClass,
    ColumnKind,
    Layer,
    Sensitivity,
    Tier,
)
from lacuna.redact import redact_text

PRODUCER = "https://github.com/lacuna-governance/lacuna"
SCHEMA_BASE = "https://lacuna.dev/spec/facets/1-0-0/"
FLOE_SCHEMA_URL = "https://floe.dev/spec/facets/ClassificationFacet.json"
CLASSIFICATION_FACET = "lacuna_classification"
FLOE_FACET = "floe_classification"
RUN_FACET = "lacuna_run"
FACET_VERSION = "1"
log = logging.getLogger(__name__)
_RUN_NAMESPACE = uuid.UUID("5b0f2c4e-8c1d-4d7e-9a8e-6c4b1f3a2d10")


def _schema(name: str) -> str:
    return f"{SCHEMA_BASE}{name}.json#/$defs/{name}"


# -- Lacuna's facets ---------------------------------------------------------------------------


@attr.define
class LacunaClassificationDatasetFacet(facet_v2.DatasetFacet):
    """Lacuna's classification of a dataset version (LacunaClassificationDatasetFacet.json)."""

    tier: str
    tags: list[str] = attr.field(factory=list)
    floor: str = "PUBLIC"
    tableTags: list[str] = attr.field(factory=list)
    confidence: float = 1.0
    layer: str = "declared"
    reasoning: list[str] = attr.field(factory=list)
    columns: dict[str, dict[str, Any]] = attr.field(factory=dict)
    fingerprint: str | None = None
    schemaVersion: str = FACET_VERSION
    # on a succeeded run's output: this installation's signature over the facet, the run and
    # its inputs (:func:`attestation_payload`), what lets a class below the inputs' survive
    # an import (lacuna.lineage.claims)
    signature: str | None = None

    @staticmethod
    def _get_schema() -> str:
        return _schema("LacunaClassificationDatasetFacet")


@attr.define
class FloeClassificationDatasetFacet(facet_v2.DatasetFacet):
    """Floe's classification facet (ADR-0012): columns → {classification, pii_type, sensitivity}."""

    columns: dict[str, dict[str, str]] = attr.field(factory=dict)

    @staticmethod
    def _get_schema() -> str:
        return FLOE_SCHEMA_URL


@attr.define
class LacunaRunFacet(facet_v2.RunFacet):
    """Who, why and how of a governed run (schema: LacunaRunFacet.json)."""

    id: str
    operation: str
    status: str
    userId: str = ""
    role: str = ""
    session: str = ""
    startedAt: str = ""
    endedAt: str | None = None
    purpose: str | None = None
    exceptionId: str | None = None
    method: str = ""
    codeLocation: str | None = None
    codeHash: str | None = None
    libraries: list[list[str]] = attr.field(factory=list)
    qualityChecks: list[str] = attr.field(factory=list)
    decisionId: str | None = None
    policyId: str | None = None
    error: str | None = None
    runProducer: str = "lacuna"
    extra: list[list[Any]] = attr.field(factory=list)
    schemaVersion: str = FACET_VERSION

    @staticmethod
    def _get_schema() -> str:
        return _schema("LacunaRunFacet")


# -- out ---------------------------------------------------------------------------------------


def ol_run_id(run_id: str) -> str:
    """OpenLineage wants a UUID: Lacuna's id when it is one, else a stable UUID5 made from it."""
    try:
        return str(uuid.UUID(run_id))
    except ValueError:
        return str(uuid.uuid5(_RUN_NAMESPACE, run_id))


def _iso(when: datetime) -> str:
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.isoformat()


def _tags(c: Classification) -> list[facet_v2.tags_dataset.TagsDatasetFacetFields]:
    field_ = facet_v2.tags_dataset.TagsDatasetFacetFields
    out = [field_(key="tier", value=c.tier.value, source="LACUNA")]
    out += [field_(key=tag.lower(), value="true", source="LACUNA") for tag in c.tags]
    for name, col in c.columns.items():
        if col.is_personal:
            out.append(field_(key=col.classification.value, value=col.pii_type or "true",
                              source="LACUNA", field=name))
        out.append(field_(key="classification", value=col.classification.value,
                          source="LACUNA", field=name))
        out.append(field_(key="sensitivity", value=col.sensitivity.value, source="LACUNA",
                          field=name))
    return out


def _dataset_facets(version: DatasetVersion) -> dict[str, Any]:
    c = version.classification
    names = list(version.columns) or list(c.columns)
    facets: dict[str, Any] = {
        CLASSIFICATION_FACET: LacunaClassificationDatasetFacet(
            producer=PRODUCER, tier=c.tier.value, tags=list(c.tags), floor=c.floor.value,
            tableTags=list(c.table_tags), confidence=round(c.confidence, 4), layer=c.layer.value,
            reasoning=list(c.reasoning),
            columns={n: col.to_dict() for n, col in c.columns.items()},
            fingerprint=version.fingerprint),
        FLOE_FACET: FloeClassificationDatasetFacet(
            producer=PRODUCER, columns={n: col.to_floe() for n, col in c.columns.items()}),
        "tags": facet_v2.tags_dataset.TagsDatasetFacet(producer=PRODUCER, tags=_tags(c)),
    }
    if names:
        facets["schema"] = facet_v2.schema_dataset.SchemaDatasetFacet(
            producer=PRODUCER,
            fields=[facet_v2.schema_dataset.SchemaDatasetFacetFields(name=n) for n in names])
    return facets


_SUBTYPE = {EdgeKind.IDENTITY: "IDENTITY", EdgeKind.TRANSFORMATION: "TRANSFORMATION",
            EdgeKind.AGGREGATION: "AGGREGATION", EdgeKind.MASKING: "TRANSFORMATION"}


# keys of a serialised facet that are not its content: who wrote it, its schema, its signature
_NOT_SIGNED = frozenset({"_producer", "_schemaURL", "_deleted", "signature"})


def attestation_payload(run_id: str, output: DatasetRef, inputs: Iterable[DatasetRef],
                        facet: Mapping[str, Any]) -> dict[str, Any]:
    """What the signature of an output's ``lacuna_classification`` facet covers: the run (its
    Lacuna id), the output, every input of the run, and the facet as serialised (tier, tags,
    floor, columns, ...; not its producer, schema URL or the signature itself). So the facet
    moved to another output, run or set of inputs, or edited, does not verify."""
    return {"what": "lineage-derived-output", "run_id": run_id,
            "output": [output.namespace, output.name],
            "inputs": sorted({(r.namespace, r.name) for r in inputs}),
            "facet": {k: v for k, v in facet.items() if k not in _NOT_SIGNED}}


def _attest(run: Run, output: DatasetRef, facet: LacunaClassificationDatasetFacet) -> None:
    """Sign ``facet`` (an output of ``run``, a succeeded run that read something) with the
    installation's key: the evidence that Lacuna, not the sender of an event, computed its
    class from what the run read. A key that cannot be loaded leaves it unsigned (its import
    then inherits the inputs' class: fail closed)."""
    from lacuna.errors import ConfigError
    from lacuna.signing import default_keyring

    try:
        keyring = default_keyring()
    except (ConfigError, OSError) as exc:
        log.warning("run %s: the classification of %s is not signed (%s): imported back, it "
                    "is held to what the run read", run.id, output, exc)
        return
    body = Serde.to_dict(facet)
    facet.signature = keyring.sign(attestation_payload(
        run.id, output, (v.dataset for v in run.inputs), body))


def _column_lineage(target: DatasetRef, edges: Sequence[ColumnEdge]) -> Any:
    cl = facet_v2.column_lineage_dataset
    fields: dict[str, Any] = {}
    for e in edges:
        if e.target != target:
            continue
        tr = cl.Transformation(type="DIRECT", subtype=_SUBTYPE[e.kind],
                               description=e.description or None,
                               masking=e.kind is EdgeKind.MASKING)
        entry = fields.setdefault(e.target_column, cl.Fields(inputFields=[]))
        entry.inputFields.append(cl.InputField(namespace=e.source.namespace, name=e.source.name,
                                               field=e.source_column, transformations=[tr]))
    return cl.ColumnLineageDatasetFacet(producer=PRODUCER, fields=fields) if fields else None


def _run_facet(run: Run) -> LacunaRunFacet:
    return LacunaRunFacet(
        producer=PRODUCER, id=run.id, operation=run.operation, status=run.status.value,
        userId=run.user_id, role=run.role, session=run.session, startedAt=_iso(run.started_at),
        endedAt=_iso(run.ended_at) if run.ended_at else None, purpose=run.purpose,
        exceptionId=run.exception_id, method=run.method, codeLocation=run.code_location,
        codeHash=run.code_hash, libraries=[list(p) for p in run.libraries],
        qualityChecks=list(run.quality_checks), decisionId=run.decision_id,
        policyId=run.policy_id, error=run.error, runProducer=run.producer,
        extra=[[k, v] for k, v in run.extra],
    )


def _emittable(run: Run) -> None:
    """Refuse (``LineageError``) what the events could not carry as the run says it.

    - A column edge into a dataset that is not one of the run's outputs: the ``columnLineage``
      facet sits on the output it describes, so such an edge had nowhere to go and was left
      out of the event without a word (the store kept it).
    - A confidence that is not a number from 0 to 1 (NaN, an infinity): ``NaN`` is not JSON,
      so the event went out as text strict readers (Marquez) refuse whole, and Lacuna's own
      import refuses it too (:func:`_lacuna_facet`).
    - A tag that is not a well-formed tag key (:func:`tag_key`: a control character, more
      than 128 characters) or is named ``TIER``: the import refuses it, so the run would not
      come back.
    """
    outputs = {v.dataset for v in run.outputs}
    stray = [e for e in run.column_edges if e.target not in outputs]
    if stray:
        e = stray[0]
        msg = (f"run {run.id}: {len(stray)} column edge(s) lead into a dataset that is not one "
               f"of the run's outputs (first: {e.source}.{e.source_column!r} -> "
               f"{e.target}.{e.target_column!r}); OpenLineage carries column lineage on the "
               "output it describes. Add that dataset to the run's outputs, or drop the edge.")
        raise LineageError(msg)
    for v in (*run.inputs, *run.outputs):
        c = v.classification
        for tag in c.tags:  # what the tags facet carries comes back in (tag_key)
            try:
                if tag_key(tag.lower()) == "tier":
                    msg = "'tier' is the key of the tier's own tag"
                    raise EventError(msg)
            except EventError as exc:
                msg = (f"run {run.id}: the classification of {v.dataset} has tag {tag[:40]!r}, "
                       f"which the OpenLineage tags facet cannot carry ({exc}); rename it in "
                       "the configuration that gives it")
                raise LineageError(msg) from None
        for what, value in (("confidence", c.confidence), *(
                (f"column {name!r} confidence", col.confidence)
                for name, col in c.columns.items())):
            if not (isinstance(value, int | float) and 0 <= round(value, 4) <= 1):
                msg = (f"run {run.id}: the classification of {v.dataset} has {what} {value!r}, "
                       "not a number from 0 to 1 (NaN is not JSON: the event would be refused "
                       "by its readers); fix the classifier that set it")
                raise LineageError(msg)


def run_to_events(run: Run, *, namespace: str = "lacuna") -> list[event_v2.RunEvent]:
    """START, then COMPLETE (succeeded) or FAIL (failed, denied), for one run.

    The job is ``<namespace>/<operation>``; a denied run's FAIL event lists the outputs it
    intended and says which policy stopped it.

    Raises:
        LineageError: a column edge leads into a dataset that is not one of the run's
            outputs, a classification's confidence is not a number from 0 to 1 (NaN), or
            one of its tags cannot travel in the tags facet.
    """
    _emittable(run)
    job_facets: dict[str, Any] = {
        "jobType": facet_v2.job_type_job.JobTypeJobFacet(
            producer=PRODUCER, processingType="BATCH", integration="LACUNA",
            jobType=run.operation.upper()),
    }
    if run.code_text:
        language = "sql" if "sql" in (run.method + run.operation).lower() else "python"
        job_facets["sourceCode"] = facet_v2.source_code_job.SourceCodeJobFacet(
            producer=PRODUCER, language=language, sourceCode=redact_text(run.code_text))
    job = event_v2.Job(namespace=namespace, name=run.operation, facets=job_facets)
    inputs = [event_v2.InputDataset(namespace=v.dataset.namespace, name=v.dataset.name,
                                    facets=_dataset_facets(v)) for v in run.inputs]
    into: dict[DatasetRef, list[ColumnEdge]] = {}  # grouped once, not scanned per output
    for e in run.column_edges:
        into.setdefault(e.target, []).append(e)
    outputs = []
    for v in run.outputs:
        facets = _dataset_facets(v)
        if run.status is RunStatus.SUCCEEDED and run.inputs:
            _attest(run, v.dataset, facets[CLASSIFICATION_FACET])
        lineage = _column_lineage(v.dataset, into.get(v.dataset, ()))
        if lineage is not None:
            facets["columnLineage"] = lineage
        outputs.append(event_v2.OutputDataset(namespace=v.dataset.namespace, name=v.dataset.name,
                                              facets=facets))
    rid = ol_run_id(run.id)
    start = event_v2.RunEvent(
        eventType=event_v2.RunState.START, eventTime=_iso(run.started_at), producer=PRODUCER,
        run=event_v2.Run(runId=rid, facets={RUN_FACET: _run_facet(run)}), job=job, inputs=inputs)
    run_facets: dict[str, Any] = {RUN_FACET: _run_facet(run)}
    if run.status is RunStatus.SUCCEEDED:
        state = event_v2.RunState.COMPLETE
    else:
        state = event_v2.RunState.FAIL
        message = redact_text(run.error) if run.error else (
            f"denied by policy {run.policy_id}" if run.policy_id
            else f"{run.operation} {run.status.value}")
        run_facets["errorMessage"] = facet_v2.error_message_run.ErrorMessageRunFacet(
            producer=PRODUCER, message=message, programmingLanguage="PYTHON")
    end = event_v2.RunEvent(
        eventType=state, eventTime=_iso(run.ended_at or run.started_at), producer=PRODUCER,
        run=event_v2.Run(runId=rid, facets=run_facets), job=job, inputs=inputs, outputs=outputs)
    return [start, end]


def event_to_dict(event: event_v2.RunEvent) -> dict[str, Any]:
    """The event as JSON-ready data (what the transports send)."""
    out: dict[str, Any] = Serde.to_dict(event)
    return out


# -- in ----------------------------------------------------------------------------------------

MAX_COLUMNS = 10_000  # per dataset: beyond this an event is rejected, not truncated
MAX_DATASETS = 10_000  # inputs, and outputs, per event and per run (its events together)
MAX_EDGES = 100_000  # column edges per run
MAX_TEXT = 1 << 20  # characters of code text kept from an event


class EventError(LineageError):
    """One event is malformed; ``where`` says which (file:line)."""


@dataclass
class _Pending:
    """The parts of one run gathered from its events (START, RUNNING, COMPLETE, ...)."""

    run_id: str
    job: tuple[str, str] = ("", "")  # the job's namespace and name
    producer: str = ""
    started: datetime | None = None
    ended: datetime | None = None
    state: str = ""
    inputs: dict[DatasetRef, DatasetVersion] = field(default_factory=dict)
    outputs: dict[DatasetRef, DatasetVersion] = field(default_factory=dict)
    edges: dict[tuple[DatasetRef, str, DatasetRef, str], ColumnEdge] = field(default_factory=dict)
    lacuna: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    code: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    # outputs whose lacuna_classification facet carried a signature that holds: the inputs
    # it was signed with (the run's inputs must be those, when it finishes)
    attested: dict[DatasetRef, frozenset[DatasetRef]] = field(default_factory=dict)

    TERMINAL: ClassVar[frozenset[str]] = frozenset({"COMPLETE", "FAIL", "ABORT"})
    STATES: ClassVar[tuple[str, ...]] = ("START", "RUNNING", "COMPLETE", "ABORT", "FAIL", "OTHER")

    def copy(self) -> _Pending:
        """A copy to merge one event into (the versions and edges are frozen: shared)."""
        return replace(self, inputs=dict(self.inputs), outputs=dict(self.outputs),
                       edges=dict(self.edges), lacuna=dict(self.lacuna), extra=dict(self.extra),
                       attested=dict(self.attested))


def _obj(value: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        msg = f"{what} must be an object, not {type(value).__name__}"
        raise EventError(msg)
    return value


def _str(value: Any, what: str, *, limit: int = 4096) -> str:
    if not isinstance(value, str) or not value:
        msg = f"{what} must be a non-empty string"
        raise EventError(msg)
    if len(value) > limit:
        msg = f"{what} is longer than {limit} characters"
        raise EventError(msg)
    return value


def _time(value: Any, what: str) -> datetime:
    text = _str(value, what, limit=64)
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        msg = f"{what} {text!r} is not an ISO 8601 date-time"
        raise EventError(msg) from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _classification(facets: Mapping[str, Any], config: ClassificationConfig,
                    producer: str) -> tuple[Classification, str | None]:
    """A declared classification from every classification the dataset's facets carry, and a
    fingerprint: Lacuna's facet, else Floe's, else the tags, as the base; the others (Floe's
    facet and the tags beside Lacuna's, the tags beside Floe's) may only raise it, column by
    column (:func:`_raised`). Taking the first alone dropped what the others said: an ``ssn``
    column tagged ``pii`` beside a Floe facet naming only ``email`` was left out."""
    base: Classification | None = None
    fp: str | None = None
    lacuna = facets.get(CLASSIFICATION_FACET)
    if lacuna is not None:
        base, fp = _lacuna_facet(_readable(lacuna))
        base = _at_least_its_columns(base, config)
    floe_columns: dict[str, ColumnClass] | None = None
    tag_columns: dict[str, ColumnClass] = {}
    floe = next((f for k, f in facets.items() if isinstance(f, Mapping) and (
        k in (FLOE_FACET, "floeClassification", "classification")
        or str(f.get("_schemaURL", "")).startswith("https://floe.dev/"))), None)
    reason = f"declared by {producer or 'an OpenLineage producer'}"
    try:
        if floe is not None:
            floe_columns = {}
            for name, col in _obj(floe.get("columns") or {}, "floe columns").items():
                col = _obj(col, f"floe column {name!r}")
                pii_type = col.get("pii_type") or None
                if pii_type is not None and not isinstance(pii_type, str):
                    msg = (f"floe column {name!r}: pii_type must be a string such as "
                           f"'email', not {type(pii_type).__name__}")
                    raise EventError(msg)
                floe_columns[str(name)] = ColumnClass(
                    classification=ColumnKind.parse(col.get("classification", "public")),
                    pii_type=pii_type,
                    sensitivity=Sensitivity.parse(col.get("sensitivity", "low")),
                    layer=Layer.DECLARED, reasoning=f"{reason} (Floe classification facet)")
        floor, table_tags = _from_tags(facets.get("tags"), tag_columns, reason, config)
    except EventError:
        raise
    except Exception as exc:  # ConfigError: an unknown classification or sensitivity value
        msg = str(exc)
        raise EventError(msg) from None
    if base is None and floe_columns is None:
        return _rollup(tag_columns, config, floor, table_tags, reason), None
    if base is None:
        assert floe_columns is not None
        base, floe_columns = _rollup(floe_columns, config, Tier.PUBLIC, (), reason), None
    return _raised(base, (floe_columns or {}, tag_columns), floor, table_tags, config), fp


def _readable(facet: Any) -> Mapping[str, Any]:
    """Lacuna's classification facet, when this Lacuna can read all it says: an object with a
    ``tier``, of the facet's version 1 (``schemaVersion`` and the ``_schemaURL``'s
    ``1-0-0``). Anything else was skipped without a word, and the dataset read as if it
    carried no classification: a facet naming an ``ssn`` column pii but no tier, PUBLIC with
    confidence 0; a later version's facet, read as this one, loses what only it says.

    Raises:
        EventError: it is not such a facet; the message says what to fix.
    """
    found = _obj(facet, f"facet {CLASSIFICATION_FACET}")
    url, version = found.get("_schemaURL"), found.get("schemaVersion", FACET_VERSION)
    ours = _schema("LacunaClassificationDatasetFacet")
    if (url is not None and str(url).split("#", 1)[0] != ours.split("#", 1)[0]) or str(
            version) != FACET_VERSION:  # the URL with or without its #/$defs/... fragment
        msg = (f"facet {CLASSIFICATION_FACET} is not version {FACET_VERSION} of Lacuna's "
               f"classification facet (schemaVersion {str(version)[:20]!r}, _schemaURL "
               f"{str(url)[:200]!r}; this Lacuna reads {ours}): written by another version of "
               "Lacuna or another producer; import it with that version, or drop the facet")
        raise EventError(msg)
    if "tier" not in found:
        msg = (f"facet {CLASSIFICATION_FACET} has no tier (it is required: PUBLIC, INTERNAL or "
               "PROPRIETARY)")
        raise EventError(msg)
    return found


def _at_least_its_columns(c: Classification, config: ClassificationConfig) -> Classification:
    """``c`` with the tier and tags its columns give by ``classification.mapping`` when it says
    less: a facet saying tier PUBLIC with an ``ssn`` column of class pii was stored PUBLIC,
    without the PII tag, for whatever reads the tier."""
    from lacuna.classify.rollup import rollup
    from lacuna.model import unique

    rolled = rollup(c.columns, config, floor=c.floor, extra_tags=c.table_tags,
                    reasoning=list(c.reasoning), layer=c.layer)
    tags = unique([*c.tags, *rolled.tags])
    if rolled.tier <= c.tier and tuple(tags) == tuple(c.tags):
        return c
    return replace(c, tier=max(c.tier, rolled.tier), tags=tuple(tags), reasoning=(
        *c.reasoning, f"tier {c.tier.value} raised to what its columns give: {rolled.tier.value}"
        f"{' (tags ' + ', '.join(rolled.tags) + ')' if rolled.tags else ''}"))


def _lacuna_facet(lacuna: Mapping[str, Any]) -> tuple[Classification, str | None]:
    data = {
        "tier": lacuna.get("tier"), "tags": lacuna.get("tags") or [],
        "floor": lacuna.get("floor", "PUBLIC"), "table_tags": lacuna.get("tableTags") or [],
        "confidence": lacuna.get("confidence", 1.0), "layer": lacuna.get("layer", "declared"),
        "reasoning": lacuna.get("reasoning") or [], "columns": lacuna.get("columns") or {},
    }
    try:
        fp = lacuna.get("fingerprint")
        c = Classification.from_dict(data)
    except Exception as exc:  # ConfigError from the enum parsers, ValueError, TypeError
        msg = f"facet {CLASSIFICATION_FACET}: {exc}"
        raise EventError(msg) from None
    for what, value in (("confidence", c.confidence), *(
            (f"columns[{name!r}].confidence", col.confidence)
            for name, col in c.columns.items())):
        if not 0 <= value <= 1:  # NaN too (Python's JSON reader takes NaN and Infinity)
            msg = f"facet {CLASSIFICATION_FACET}: {what} is {value!r}, not from 0 to 1"
            raise EventError(msg)
    return c, fp if isinstance(fp, str) else None


def _raised(base: Classification, others: Sequence[Mapping[str, ColumnClass]], floor: Tier,
            table_tags: Sequence[str], config: ClassificationConfig) -> Classification:
    """``base`` raised by the event's other classifications: each column the stricter of the
    two (a personal class never traded away: :func:`lacuna.lineage.rules.held`), a column
    only they name added, a ``tier`` tag above ``base``'s tier a floor, their table tags
    added. ``base`` itself when they add nothing (Lacuna's own events say the same thing
    three ways)."""
    from lacuna.classify.rollup import rollup
    from lacuna.lineage.rules import held
    from lacuna.model import unique

    columns = dict(base.columns)
    raised: list[str] = []
    for cols in others:
        for name, col in cols.items():
            known = columns.get(name)
            kept = col if known is None else held(known, col, config)
            if kept != known:
                columns[name] = kept
                raised.append(name)
    floor = floor if floor > base.tier else Tier.PUBLIC
    added = [t for t in table_tags if t not in base.tags and t not in base.table_tags]
    if not raised and floor is Tier.PUBLIC and not added:
        return base
    said = (f"raised by the event's other classification facets or tags: columns "
            f"{', '.join(map(repr, unique(raised)))}" if raised else
            "raised by the event's tags")
    result = rollup(columns, config, floor=max(base.floor, floor),
                    extra_tags=unique([*base.table_tags, *table_tags]),
                    reasoning=[*base.reasoning, said], layer=Layer.DECLARED)
    return replace(result, tier=max(result.tier, base.tier, floor),
                   tags=unique([*base.tags, *result.tags]),
                   confidence=min(result.confidence, base.confidence))


MAX_TAG = 128  # characters of a tag's key (Lacuna's own tags are words like PII, PCI-DSS)
MAX_TAGS = MAX_COLUMNS * 4  # tags in one dataset's facet: beyond this the event is refused
# Unicode categories no tag key may hold: control, format (invisible), surrogate, private use,
# unassigned, line and paragraph separators. A key holding one would print as something else
# (a terminal escape, a right-to-left override) wherever the tag is shown.
_NOT_IN_TAGS = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
_ABSENT = frozenset({"false", "no", "0", "none", "null", "off"})


def tag_key(raw: Any, what: str = "facet tags") -> str:
    """A tags facet entry's key, lower-cased, when it is **well-formed**: a string of 1 to
    :data:`MAX_TAG` characters once trimmed of white space at its ends, none of them a control,
    invisible (format), unassigned, private-use or line-separating character. Letters of any
    script, digits, punctuation and inner spaces are all kept (``pci-dss``, ``sox.404``,
    ``iso:27001``, ``Legacy Data``): Lacuna's tags are whatever a configuration names, and
    every tag it exports comes back (a key with a dash was dropped without a word).

    Raises:
        EventError: the key is not a string, is empty, too long, or holds such a character.
    """
    import unicodedata

    if not isinstance(raw, str):
        msg = f"{what}: a tag's key must be a string, not {type(raw).__name__}"
        raise EventError(msg)
    key = raw.strip()
    if not key:
        msg = f"{what}: a tag's key is empty; name the tag (e.g. 'pii', 'pci-dss')"
        raise EventError(msg)
    if len(key) > MAX_TAG:
        msg = f"{what}: tag key {key[:40]!r}… is {len(key)} characters long (at most {MAX_TAG})"
        raise EventError(msg)
    bad = next((ch for ch in key if unicodedata.category(ch) in _NOT_IN_TAGS), None)
    if bad is not None:
        msg = (f"{what}: tag key {key[:40]!r} holds the character U+{ord(bad):04X} "
               f"({unicodedata.category(bad)}: a control, invisible or unassigned character); "
               "a tag key is printable text")
        raise EventError(msg)
    return key.lower()


def _tag_value(raw: Any, key: str) -> str:
    """A tag's value as text: a string (what the schema says), or a boolean or number a
    producer wrote bare; a missing or null value is ``""``."""
    if raw is None or isinstance(raw, str):
        return (raw or "").strip()
    if isinstance(raw, bool):
        return "true" if raw else "false"
    if isinstance(raw, int | float):
        return str(raw)
    msg = f"facet tags: the value of tag {key!r} must be a string, not {type(raw).__name__}"
    raise EventError(msg)


def _present(value: str) -> bool:
    """Whether a tag is on the data: unless its value says it is not (``false``, ``no``, ...).
    A missing or empty value (the schema requires one) keeps the tag: dropping it dropped
    ``{"key": "pii"}`` without a word (fail closed)."""
    return value.lower() not in _ABSENT


def _from_tags(tags_facet: Any, columns: dict[str, ColumnClass], reason: str,
               config: ClassificationConfig) -> tuple[Tier, tuple[str, ...]]:
    """The floor and table tags an OpenLineage ``tags`` facet gives, and its column classes
    (into ``columns``).

    - ``tier``: a floor (the strictest one given).
    - ``pii``/``phi`` (the value, unless ``true``, is the PII type), ``financial``,
      ``classification`` and ``sensitivity`` with a ``field``: that column's class, each held
      to the strictest any of its tags gives (:func:`lacuna.lineage.rules.held`: a later
      ``classification: public`` does not take back an earlier ``pii``).
    - any other well-formed tag (:func:`tag_key`), with or without a field: a table tag, as
      ``tag.upper()``. A tag that a column class's rule in ``classification.mapping`` gives
      (``PII``, ``GDPR``, ``PHI``, ``HIPAA``, ``FINANCIAL`` by default) makes that class's tier
      the floor: a dataset tagged ``pii`` was PUBLIC with the tag PII, which the export policy
      allows anywhere.

    Raises:
        EventError: the facet, a tag, its key, field or value is malformed, or it holds more
            than :data:`MAX_TAGS` tags.
    """
    from lacuna.lineage.rules import held

    floor, table_tags = Tier.PUBLIC, []
    if tags_facet is None:
        return floor, ()
    tags = _obj(tags_facet, "facet tags").get("tags") or []
    if not isinstance(tags, list):
        msg = "facet tags: tags must be a list"
        raise EventError(msg)
    if len(tags) > MAX_TAGS:
        msg = f"facet tags: {len(tags)} tags (at most {MAX_TAGS})"
        raise EventError(msg)
    implied = _implied_tiers(config)
    for tag in tags:
        tag = _obj(tag, "facet tags: a tag")
        key = tag_key(tag.get("key"))
        value = _tag_value(tag.get("value"), key)
        col = tag.get("field")
        if col is not None and not isinstance(col, str):
            msg = f"facet tags: a tag's field names a column: a string, not {col!r}"
            raise EventError(msg)
        if not _present(value):
            continue
        if col is not None and key in _COLUMN_KEYS:
            # A column, whatever its name: "" too (a frame's column can be named "", and
            # Lacuna's own facets keep it as a column). Read as a table tag, a field "" tagged
            # pii made the dataset's tags PII with its tier left PUBLIC.
            blank = ColumnClass(layer=Layer.DECLARED, reasoning=f"{reason} (column tags)")
            current = columns.get(col, blank)
            if key in ("pii", "phi", "financial"):
                pii_type = (None if key == "financial" or value.lower() in ("true", "")
                            else value)
                said = _replace(blank, classification=ColumnKind(key), pii_type=pii_type,
                                sensitivity=(Sensitivity.HIGH if key != "financial"
                                             else Sensitivity.MEDIUM))
            elif key == "classification":
                said = _replace(blank, classification=ColumnKind.parse(value))
            else:  # sensitivity
                said = _replace(current, sensitivity=max(current.sensitivity,
                                                         Sensitivity.parse(value)))
            columns[col] = said if col not in columns else held(current, said, config)
        elif key == "tier":
            floor = max(floor, Tier.parse(value))
        else:
            table_tags.append(key.upper())
            floor = max(floor, implied.get(key.upper(), Tier.PUBLIC))
    return floor, tuple(table_tags)


_COLUMN_KEYS = frozenset({"pii", "phi", "financial", "classification", "sensitivity"})


def _implied_tiers(config: ClassificationConfig) -> dict[str, Tier]:
    """Each tag a column class's rule gives (and each class's own name, upper-cased), with the
    strictest tier a rule giving it has: what a table tag alone implies."""
    out: dict[str, Tier] = {}
    for kind, rule in config.mapping.items():
        for tag in (kind.upper(), *rule.tags):
            tag = tag.upper()
            out[tag] = max(out.get(tag, Tier.PUBLIC), rule.tier)
    return out


def _replace(col: ColumnClass, **changes: Any) -> ColumnClass:
    import dataclasses

    return dataclasses.replace(col, **changes)


def _rollup(columns: Mapping[str, ColumnClass], config: ClassificationConfig, floor: Tier,
            tags: Iterable[str], reason: str) -> Classification:
    from lacuna.classify.rollup import rollup

    c = rollup(columns, config, floor=floor, extra_tags=tags, reasoning=[reason],
               layer=Layer.DECLARED)
    if not columns and floor is Tier.PUBLIC and not c.tags:
        # Nothing declared: say so (confidence 0), so no one mistakes it for a checked PUBLIC.
        import dataclasses

        c = dataclasses.replace(c, confidence=0.0, reasoning=(
            f"{reason}: no classification facet or tags; not classified by Lacuna",))
    return c


def _version(ds: Any, what: str, config: ClassificationConfig,
             producer: str) -> DatasetVersion:
    ds = _obj(ds, what)
    ref = DatasetRef(_str(ds.get("namespace"), f"{what}.namespace"),
                     _str(ds.get("name"), f"{what}.name"))
    facets = _obj(ds.get("facets") or {}, f"{what}.facets")
    for key, facet in facets.items():  # OpenLineage's DatasetFacet is an object (or absent)
        if facet is not None:
            _obj(facet, f"{what}: facet {str(key)[:80]!r}")
    facets = {k: f for k, f in facets.items() if f is not None}
    classification, fingerprint = _classification(facets, config, producer)
    names: list[str] = []
    schema = facets.get("schema")
    if schema is not None:
        fields = schema.get("fields") or []
        if not isinstance(fields, list):
            msg = f"{what}: facet schema: fields must be a list"
            raise EventError(msg)
        for f in fields:
            name = _obj(f, f"{what}: facet schema: a field").get("name")
            if not isinstance(name, str) or len(name) > 4096:
                msg = (f"{what}: facet schema: a field's name must be a string of at most "
                       f"4096 characters (a column's name), not {type(name).__name__}")
                raise EventError(msg)
            names.append(name)
    if not names:
        names = list(classification.columns)
    if len(names) > MAX_COLUMNS:
        msg = f"{what} has {len(names)} columns (at most {MAX_COLUMNS})"
        raise EventError(msg)
    return DatasetVersion(dataset=ref, classification=classification, fingerprint=fingerprint,
                          columns=tuple(names))


def _edge_kind(entry: Mapping[str, Any], transformation: Mapping[str, Any] | None) -> EdgeKind:
    if transformation is not None:
        if transformation.get("masking") is True:
            return EdgeKind.MASKING
        subtype = str(transformation.get("subtype", "")).upper()
        return {"IDENTITY": EdgeKind.IDENTITY,
                "AGGREGATION": EdgeKind.AGGREGATION}.get(subtype, EdgeKind.TRANSFORMATION)
    legacy = str(entry.get("transformationType", "")).upper()  # the deprecated 1-0-x shape
    return {"IDENTITY": EdgeKind.IDENTITY, "MASKED": EdgeKind.MASKING}.get(
        legacy, EdgeKind.TRANSFORMATION)


def _field(value: Any, what: str) -> str:
    """An input column's name: a string, ``""`` included (a frame's column can be named so,
    and Lacuna emits its edges; refused, the run's own events could not be imported back)."""
    if not isinstance(value, str):
        msg = f"{what}: field must be a string (the input column's name)"
        raise EventError(msg)
    if len(value) > 4096:
        msg = f"{what}: field is longer than 4096 characters"
        raise EventError(msg)
    return value


def _edges(target: DatasetRef, facet: Any) -> list[ColumnEdge]:
    facet = _obj(facet, "facet columnLineage")
    fields = _obj(facet.get("fields") or {}, "columnLineage.fields")
    if len(fields) > MAX_COLUMNS:
        msg = f"columnLineage has {len(fields)} fields (at most {MAX_COLUMNS})"
        raise EventError(msg)
    out: list[ColumnEdge] = []
    for column, entry in fields.items():
        entry = _obj(entry, f"columnLineage.fields[{column!r}]")
        sources = entry.get("inputFields") or []
        if not isinstance(sources, list):
            msg = f"columnLineage.fields[{column!r}].inputFields must be a list"
            raise EventError(msg)
        for src in sources[:MAX_COLUMNS]:
            src = _obj(src, f"inputField of {column!r}")
            ref = DatasetRef(_str(src.get("namespace"), "inputField.namespace"),
                             _str(src.get("name"), "inputField.name"))
            transformations = src.get("transformations")
            trs = [t for t in transformations if isinstance(t, Mapping)] if isinstance(
                transformations, list) else []
            direct = [t for t in trs if str(t.get("type", "DIRECT")).upper() == "DIRECT"]
            if trs and not direct:
                continue  # only INDIRECT (join keys, filters, grouping): no values flow
            tr = direct[0] if direct else None
            description = str((tr or {}).get("description") or
                              entry.get("transformationDescription") or "")
            out.append(ColumnEdge(source=ref, source_column=_field(src.get("field"),
                                                                   f"inputField of {column!r}"),
                                  target=target, target_column=str(column),
                                  kind=_edge_kind(entry, tr), description=description[:4096]))
    return out


def _declares(c: Classification) -> bool:
    """Whether an event's classification of a dataset says anything: a confidence above 0, or
    anything above the lowest class (a tier, floor, tag or column class). Deciding by the
    confidence alone let a run's later event lower what an earlier one said by sending
    ``confidence: 0`` (or a facet-less dataset replace a tier-only claim): the earlier event
    did not count."""
    return (c.confidence > 0 or c.tier > Tier.PUBLIC or c.floor > Tier.PUBLIC or bool(c.tags)
            or bool(c.table_tags) or any(
                col.classification is not ColumnKind.PUBLIC or col.pii_type
                or col.sensitivity > Sensitivity.LOW for col in c.columns.values()))


def _attested(p: _Pending, rid: str, output: DatasetRef, event: Mapping[str, Any],
              facets: Mapping[str, Any]) -> frozenset[DatasetRef] | None:
    """The inputs ``output``'s ``lacuna_classification`` facet was signed with, when it
    carries a signature of this installation's keys (:func:`attestation_payload`) that holds
    for this event's inputs; else None. Without a key to check it with, None (fail closed)."""
    facet = facets.get(CLASSIFICATION_FACET)
    signature = facet.get("signature") if isinstance(facet, Mapping) else None
    if not isinstance(signature, str) or not signature:
        return None
    from lacuna.errors import ConfigError
    from lacuna.signing import default_keyring

    try:
        keyring = default_keyring(create=False)
    except (ConfigError, OSError):
        return None
    inputs = frozenset(DatasetRef(str(ds.get("namespace")), str(ds.get("name")))
                       for ds in event.get("inputs") or () if isinstance(ds, Mapping))
    run_id = str(p.lacuna.get("id") or rid)[:64]
    assert isinstance(facet, Mapping)
    try:
        holds = keyring.verify(attestation_payload(run_id, output, inputs, facet), signature)
    except (TypeError, ValueError):  # not JSON-able as signed (NaN): not Lacuna's
        holds = False
    return inputs if holds else None


def merge_event(pending: dict[str, _Pending], event: Any, config: ClassificationConfig) -> None:
    """Fold one event (a decoded JSON object) into the runs being gathered. A rejected event
    leaves its run as it was: nothing of it is merged.

    Raises:
        EventError: the event is not a well-formed OpenLineage RunEvent.
    """
    event = _obj(event, "the event")
    run = _obj(event.get("run"), "run")
    job = _obj(event.get("job"), "job")
    rid = _str(run.get("runId"), "run.runId", limit=64)
    producer = str(event.get("producer") or "")[:1024]
    when = _time(event.get("eventTime"), "eventTime")
    state = str(event.get("eventType") or "OTHER").upper()
    if state not in _Pending.STATES:
        msg = (f"eventType {str(event.get('eventType'))[:40]!r} is not one of "
               f"{', '.join(_Pending.STATES)} (OpenLineage's RunEvent)")
        raise EventError(msg)
    earlier = pending.get(rid)
    p = _Pending(run_id=rid) if earlier is None else earlier.copy()
    p.job = (_str(job.get("namespace"), "job.namespace"), _str(job.get("name"), "job.name"))
    p.producer = producer or p.producer
    if state == "START" or p.started is None or when < p.started:
        p.started = when if state == "START" or p.started is None else min(p.started, when)
    if state in _Pending.TERMINAL:
        p.state, p.ended = state, when
    run_facets = _obj(run.get("facets") or {}, "run.facets")
    lacuna = run_facets.get(RUN_FACET)
    if isinstance(lacuna, Mapping):
        p.lacuna = dict(lacuna)
    err = run_facets.get("errorMessage")
    if isinstance(err, Mapping) and isinstance(err.get("message"), str):
        p.error = err["message"][:4096]
    job_facets = _obj(job.get("facets") or {}, "job.facets")
    for key in ("sourceCode", "sql"):
        f = job_facets.get(key)
        text = f.get("sourceCode") or f.get("query") if isinstance(f, Mapping) else None
        if isinstance(text, str) and len(text) <= MAX_TEXT:
            p.code = text
    for direction, target in (("inputs", p.inputs), ("outputs", p.outputs)):
        datasets = event.get(direction) or []
        if not isinstance(datasets, list):
            msg = f"{direction} must be a list"
            raise EventError(msg)
        if len(datasets) > MAX_DATASETS:
            msg = f"{direction} has {len(datasets)} datasets (at most {MAX_DATASETS})"
            raise EventError(msg)
        for i, ds in enumerate(datasets):
            version = _version(ds, f"{direction}[{i}]", config, producer)
            old = target.get(version.dataset)
            if old is not None and _declares(old.classification):
                if _declares(version.classification):
                    # what an earlier event of the run said still counts: a later one only
                    # raises (a START saying pii and a COMPLETE saying public made a public
                    # claim)
                    before = old.classification
                    version = replace(version, classification=_raised(
                        version.classification, (before.columns,), before.tier,
                        (*before.table_tags, *before.tags), config))
                else:  # this event says nothing of its class: the earlier one stands
                    version = replace(old, columns=old.columns or version.columns,
                                      fingerprint=old.fingerprint or version.fingerprint)
            if old is None or _declares(version.classification) or not old.columns:
                target[version.dataset] = version
            if direction == "outputs":
                facets = ds.get("facets") or {}
                signed = _attested(p, rid, version.dataset, event, facets)
                if signed is not None:
                    p.attested[version.dataset] = signed
                if "columnLineage" in facets:
                    for e in _edges(version.dataset, facets["columnLineage"]):
                        p.edges[(e.source, e.source_column, e.target, e.target_column)] = e
    # A succeeded run's dataset edges are every input to every output: 10,000 of each (what
    # the bounds above allow) made 100,000,000 edge rows, one 82 kB event of 1,000 x 1,000
    # held the state database's write lock for 40 s. Bounded as its column edges are.
    for what, have, most in (("inputs", len(p.inputs), MAX_DATASETS),
                             ("outputs", len(p.outputs), MAX_DATASETS),
                             ("column edges", len(p.edges), MAX_EDGES),
                             ("dataset edges (inputs x outputs)", len(p.inputs) * len(p.outputs),
                              MAX_EDGES)):
        if have > most:  # events of one run add up: bounded like one event
            msg = (f"run {rid} would have {have} {what} over its events (at most {most}); "
                   "split the job into several runs")
            raise EventError(msg)
    pending[rid] = p  # the whole event was good


def finish(p: _Pending) -> Run | None:
    """The run gathered so far, or None while it has no COMPLETE, FAIL or ABORT event.

    Raises:
        EventError: the run's ``lacuna_run`` facet is malformed (a status that is not a string,
            libraries or extra that are not lists of pairs, quality checks not a list, ...).
    """
    if not p.state:
        return None
    try:
        return _finished(p)
    except (TypeError, ValueError) as exc:  # the facet's values are the sender's JSON
        msg = (f"facet {RUN_FACET} of run {p.run_id} is malformed ({exc}): status is one of "
               f"{', '.join(s.value for s in RunStatus)}, libraries and extra are lists of "
               "[name, value] pairs, qualityChecks a list of strings")
        raise EventError(msg) from None


def _finished(p: _Pending) -> Run:
    lac = p.lacuna
    status = RunStatus.SUCCEEDED if p.state == "COMPLETE" else RunStatus.FAILED
    if lac.get("status") in {s.value for s in RunStatus}:
        status = RunStatus(lac["status"])
    namespace, operation = p.job  # apart: a namespace holds "/" (spark://host:7077)
    started = p.started or p.ended
    assert started is not None
    ended = p.ended
    if lac.get("id"):  # Lacuna's own facet: None values are left out of the JSON
        ended = _time(lac["endedAt"], "lacuna_run.endedAt") if lac.get("endedAt") else None
    if lac.get("startedAt"):
        started = _time(lac["startedAt"], "lacuna_run.startedAt")

    def text(key: str) -> str | None:
        value = lac.get(key)
        return str(value) if value is not None else None

    read = frozenset(p.inputs)
    outputs = tuple(replace(v, attested=True) if p.attested.get(ref) == read else v
                    for ref, v in p.outputs.items())
    return _fits(Run(
        id=str(lac.get("id") or p.run_id)[:64],
        operation=str(lac.get("operation") or operation or "openlineage"),
        status=status, inputs=tuple(p.inputs.values()), outputs=outputs,
        column_edges=tuple(p.edges.values()),
        user_id=str(lac.get("userId") or ""), role=str(lac.get("role") or ""),
        session=str(lac.get("session") or ""), started_at=started, ended_at=ended,
        purpose=text("purpose"), exception_id=text("exceptionId"),
        method=str(lac.get("method") or ""), code_location=text("codeLocation"),
        code_hash=text("codeHash"), code_text=p.code,
        libraries=tuple((str(a), str(b)) for a, b in (lac.get("libraries") or [])),
        quality_checks=tuple(str(q) for q in lac.get("qualityChecks") or ()),
        decision_id=text("decisionId"), policy_id=text("policyId"),
        error=text("error") if lac else (p.error if status is not RunStatus.SUCCEEDED else None),
        producer=str(lac.get("runProducer") or p.producer or namespace or "openlineage"),
        extra=tuple(_pair(p) for p in lac.get("extra") or ()),
        # whatever its lacuna_run facet claims, the run came in as events: said where shown
        imported_from=p.producer or namespace or "openlineage",
    ))


def _pair(pair: Any) -> tuple[str, Any]:
    """A ``lacuna_run.extra`` entry: ``[name, value]``, or ``[name]`` for a null value, which
    openlineage-python's serialiser leaves out of the list (a run with one was emitted as an
    event that failed its schema, and its import rejected the whole run)."""
    if isinstance(pair, list | tuple) and len(pair) == 1:
        pair = (pair[0], None)
    key, value = pair  # anything else but a pair: ValueError, said as a malformed facet
    if not isinstance(key, str):
        msg = f"a lacuna_run extra is named by a string, not {key!r}"
        raise ValueError(msg)  # said as a malformed facet
    return key, value


def _fits(run: Run) -> Run:
    """``run`` when each of its texts fits the store's column and holds no NUL character;
    else EventError naming it. PostgreSQL refuses both (SQLite stores them), so an event
    would fail at the database as "cannot write to the lineage store" (a broken store, to
    ``lacuna lineage import``, which then stops) instead of as the malformed event it is."""
    from lacuna.lineage import schema as layout

    r, d, ce = layout.runs.c, layout.datasets.c, layout.column_edges.c
    texts: list[tuple[str, str | None, Any]] = [
        ("the run id", run.id, r.id), ("the operation (job name)", run.operation, r.operation),
        ("lacuna_run.session", run.session, r.session), ("lacuna_run.method", run.method, r.method),
        ("lacuna_run.role", run.role, r.role), ("lacuna_run.userId", run.user_id, r.user_id),
        ("lacuna_run.exceptionId", run.exception_id, r.exception_id),
        ("lacuna_run.decisionId", run.decision_id, r.decision_id),
        ("lacuna_run.policyId", run.policy_id, r.policy_id),
        ("lacuna_run.codeHash", run.code_hash, r.code_hash),
        ("the producer", run.producer, r.producer), ("lacuna_run.purpose", run.purpose, r.purpose),
        ("lacuna_run.codeLocation", run.code_location, r.code_location),
        ("the source code", run.code_text, r.code_text), ("the error", run.error, r.error)]
    for v in (*run.inputs, *run.outputs):
        texts += [("a dataset namespace", v.dataset.namespace, d.namespace),
                  ("a dataset name", v.dataset.name, d.name),
                  (f"the fingerprint of {v.dataset}", v.fingerprint,
                   layout.versions.c.fingerprint)]
    for e in run.column_edges:
        texts += [("a dataset namespace", e.source.namespace, d.namespace),
                  ("a dataset name", e.source.name, d.name),
                  ("an inputField.field", e.source_column, ce.source_column),
                  ("a columnLineage field", e.target_column, ce.target_column),
                  ("a transformation description", e.description, ce.description)]
    for what, text, column in texts:
        if text is None:
            continue
        if "\x00" in text:
            msg = f"run {run.id}: {what} holds a NUL character; remove it"
            raise EventError(msg)
        most = getattr(column.type, "length", None)
        if most is not None and len(text) > most:
            msg = (f"run {run.id}: {what} is {len(text)} characters long (at most {most}): "
                   f"{text[:40]!r}…")
            raise EventError(msg)
    return run


def events_to_runs(events: Iterable[Any], config: ClassificationConfig | None = None
                   ) -> list[Run]:
    """Runs from decoded events, merged by runId; runs still without a terminal event are left out.

    Raises:
        EventError: an event is malformed (the first one; :mod:`lacuna.lineage.ol_import` reports
            every bad line of a file instead).
    """
    config = config or ClassificationConfig()
    pending: dict[str, _Pending] = {}
    for event in events:
        merge_event(pending, event, config)
    return [r for r in map(finish, pending.values()) if r is not None]


__all__ = [
    "CLASSIFICATION_FACET",
    "FLOE_FACET",
    "PRODUCER",
    "RUN_FACET",
    "EventError",
    "FloeClassificationDatasetFacet",
    "LacunaClassificationDatasetFacet",
    "LacunaRunFacet",
    "event_to_dict",
    "events_to_runs",
    "merge_event",
    "ol_run_id",
    "run_to_events",
]
