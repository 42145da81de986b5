"""Quality gates: ADR-0012's ``governance.quality_gates`` and ``quality`` sections, validated.

Two sections configure what ``lacuna compile`` demands of a dbt project:

- ``quality_gates`` (the platform team's minimums): ``minimum_test_coverage`` (% of a model's
  columns with at least one test), ``required_tests``, ``enforcement`` (off | warn | strict),
  ``block_on_failure`` and per-layer (bronze / silver / gold) ``required_tests`` and
  ``minimum_coverage``. Lacuna adds ``layer_detection`` (how a model's layer is found) and
  ``classification_escalation`` (ADR-0012's table, on by default).
- ``quality`` (the project's gates): ``dbt_tests`` and ``gates``, each scoped by ``tags`` or
  ``layer`` with checks ``row_count`` (min / max), ``null_percentage`` (column globs, max) and
  ``freshness`` (``max_age_hours``) and ``on_failure`` block | warn | notify.

Requirements escalate by classification (ADR-0012 "Quality Integration with Classification"):

=============  ========  ==================  =================================
class          coverage  required tests      additional (verified evidence)
=============  ========  ==================  =================================
public         50 %      not_null            -
internal       80 %      not_null, unique    freshness
confidential   100 %     all                 audit_log
pii            100 %     all                 audit_log, masking_verified
phi            100 %     all                 audit_log, encryption_verified
=============  ========  ==================  =================================

The ADR's table names ``internal`` and ``confidential``, which are not column classes. Lacuna
reads them as levels: a column class ``identifier`` escalates like ``internal`` and
``financial`` like ``confidential``; a model's declared tier (``INTERNAL``, ``PROPRIETARY``) and
a ``critical`` sensitivity count too (see :func:`escalation_for`). ``not_null`` / ``unique`` in
``required_tests`` mean the primary key's tests (the ADR's comments say so), the same as
``not_null_pk`` / ``unique_pk``; ``all`` means not_null_pk, unique_pk, freshness and
documentation.

An unknown key is a :class:`~lacuna.errors.ConfigError` naming its path and the nearest valid key.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, ValidationError, field_validator

from lacuna import sections
from lacuna.errors import ConfigError
from lacuna.sections import Origin, Section, allowed_keys

Enforcement = Literal["off", "warn", "strict"]
OnFailure = Literal["block", "warn", "notify"]
Layer = Literal["bronze", "silver", "gold"]
LAYERS: tuple[Layer, ...] = ("bronze", "silver", "gold")

# Test names with a meaning beyond "a dbt test of that name exists on the model".
PK_TESTS = {"not_null": "not_null_pk", "unique": "unique_pk"}
ALL_TESTS = ("not_null_pk", "unique_pk", "freshness", "documentation")
EVIDENCE = ("audit_log", "masking_verified", "encryption_verified")

# ADR-0012's escalation table, by level (ordered from least to most demanding).
ESCALATION: dict[str, tuple[float, tuple[str, ...]]] = {
    "public": (50.0, ("not_null_pk",)),
    "internal": (80.0, ("not_null_pk", "unique_pk", "freshness")),
    "confidential": (100.0, (*ALL_TESTS, "audit_log")),
    "pii": (100.0, (*ALL_TESTS, "audit_log", "masking_verified")),
    "phi": (100.0, (*ALL_TESTS, "audit_log", "encryption_verified")),
}
# Column classes and other spellings that map onto the table's levels (module docstring).
LEVEL_OF: dict[str, str] = {
    "public": "public",
    "identifier": "internal",
    "internal": "internal",
    "financial": "confidential",
    "confidential": "confidential",
    "proprietary": "confidential",
    "restricted": "confidential",
    "high_sensitivity": "confidential",
    "pii": "pii",
    "phi": "phi",
}



def normalize_tests(names: Sequence[str]) -> tuple[str, ...]:
    """Canonical required-test names: ``not_null``→``not_null_pk``, ``all`` expanded, deduped."""
    out: list[str] = []
    for raw in names:
        name = str(raw).strip()
        expanded = ALL_TESTS if name == "all" else (PK_TESTS.get(name, name),)
        out.extend(n for n in expanded if n not in out)
    return tuple(out)


class LayerRequirement(Section):
    """One layer's demands: ``required_tests`` and ``minimum_coverage`` (percent)."""

    required_tests: tuple[str, ...] = ()
    minimum_coverage: float | None = Field(default=None, ge=0, le=100)


class LayerDetection(Section):
    """How a model's layer is found, first match wins: ``config.meta`` (``meta_key``, also under
    the ``lacuna:`` / ``floe:`` namespaces), a tag equal to a layer name, a folder on the model's
    path, then a name prefix. Floe projects name models ``stg_`` / ``int_`` / ``mart_``."""

    meta_key: str = "layer"
    tags: bool = True
    folders: dict[Layer, tuple[str, ...]] = Field(default_factory=lambda: {  # type: ignore[arg-type]
        "bronze": ("bronze", "staging"),
        "silver": ("silver", "intermediate"),
        "gold": ("gold", "marts", "mart"),
    })
    prefixes: dict[Layer, tuple[str, ...]] = Field(default_factory=lambda: {  # type: ignore[arg-type]
        "bronze": ("bronze_", "stg_", "raw_"),
        "silver": ("silver_", "int_"),
        "gold": ("gold_", "mart_", "fct_", "dim_"),
    })


class QualityGates(Section):
    """``governance.quality_gates``: the platform team's minimum requirements."""

    minimum_test_coverage: float = Field(default=0, ge=0, le=100)
    required_tests: tuple[str, ...] = ()
    enforcement: Enforcement = "warn"
    block_on_failure: bool = True
    layers: dict[Layer, LayerRequirement] = Field(default_factory=dict)
    # Lacuna's additions
    layer_detection: LayerDetection = Field(default_factory=LayerDetection)
    classification_escalation: bool = True

    @field_validator("enforcement", mode="before")
    @classmethod
    def _lower(cls, v: Any) -> Any:
        return v.strip().lower() if isinstance(v, str) else v


class RowCountCheck(Section):
    type: Literal["row_count"]
    min: int | None = Field(default=None, ge=0)
    max: int | None = Field(default=None, ge=0)


class NullPercentageCheck(Section):
    type: Literal["null_percentage"]
    columns: tuple[str, ...] = ("*",)  # globs, e.g. "*_id"
    max: float = Field(default=0, ge=0, le=100)


class FreshnessCheck(Section):
    type: Literal["freshness"]
    max_age_hours: float = Field(gt=0)
    column: str | None = None  # the timestamp column; default: the model's loaded_at meta/guess


Check = Annotated[RowCountCheck | NullPercentageCheck | FreshnessCheck,
                  Field(discriminator="type")]


class GateScope(Section):
    """Which models a gate applies to: any of ``tags``, a ``layer``, ``models`` (name globs)."""

    tags: tuple[str, ...] = ()
    layer: Layer | None = None
    models: tuple[str, ...] = ()


class Gate(Section):
    name: str
    scope: GateScope = Field(default_factory=GateScope)
    checks: tuple[Check, ...] = ()
    on_failure: OnFailure = "warn"


class DbtTests(Section):
    """ADR-0012's Tier 1: the dbt tests of the run must pass. Enforced after the run by
    ``lacuna dbt record`` on ``run_results.json`` (:func:`lacuna.dbt.record.dbt_test_failures`:
    a failed, errored, skipped or not-run test fails the gate for its node; a warned one with
    ``fail_on_warning``); ``enabled: false`` turns exactly that check off."""

    enabled: bool = True
    fail_on_warning: bool = False


class Quality(Section):
    """floe.yaml's ``quality:`` section: Tier 1 dbt tests and Tier 3 gates."""

    dbt_tests: DbtTests = Field(default_factory=DbtTests)
    gates: tuple[Gate, ...] = ()


class GatesConfig(Section):
    """Both sections together: what ``lacuna compile`` enforces."""

    quality_gates: QualityGates = Field(default_factory=QualityGates)
    quality: Quality = Field(default_factory=Quality)

    @property
    def rules_loaded(self) -> int:
        """The ADR report's "N rules loaded": global + per-layer requirements + gates."""
        qg = self.quality_gates
        base = int(bool(qg.minimum_test_coverage or qg.required_tests))
        return base + len(qg.layers) + len(self.quality.gates)


_ENFORCEMENT_ORDER: tuple[Enforcement, ...] = ("off", "warn", "strict")


def strictest(configs: Sequence[GatesConfig]) -> GatesConfig:
    """Several files' gates as one, each setting at its strictest: ``quality_gates`` are
    minimums, so a file may raise them and never lower them (the highest ``enforcement``,
    coverage minimums and ``block_on_failure``/``classification_escalation`` if any file sets
    them, every file's required tests, per layer too); ``layer_detection`` is the first file's
    that sets it; ``quality``'s gates are every file's, ``dbt_tests`` on if any file has them on.
    A file counts only for the sections it has (a file of ``quality:`` alone does not bring
    ``quality_gates``' defaults, which would undo another file's ``block_on_failure: false``).
    One config is returned unchanged."""
    if len(configs) == 1:
        return configs[0]
    qgs = [c.quality_gates for c in configs if "quality_gates" in c.model_fields_set] \
        or [QualityGates()]
    configs = [c for c in configs if "quality" in c.model_fields_set] or [GatesConfig()]
    layers: dict[Layer, LayerRequirement] = {}
    for name in LAYERS:
        reqs = [qg.layers[name] for qg in qgs if name in qg.layers]
        if reqs:
            minimums = [r.minimum_coverage for r in reqs if r.minimum_coverage is not None]
            layers[name] = LayerRequirement(
                required_tests=_union(r.required_tests for r in reqs),
                minimum_coverage=max(minimums) if minimums else None)
    detection = next((qg.layer_detection for qg in qgs
                      if "layer_detection" in qg.model_fields_set), LayerDetection())
    gates = QualityGates(
        minimum_test_coverage=max(qg.minimum_test_coverage for qg in qgs),
        required_tests=_union(qg.required_tests for qg in qgs),
        enforcement=max((qg.enforcement for qg in qgs), key=_ENFORCEMENT_ORDER.index),
        block_on_failure=any(qg.block_on_failure for qg in qgs),
        layers=layers, layer_detection=detection,
        classification_escalation=any(qg.classification_escalation for qg in qgs))
    quality = Quality(
        dbt_tests=DbtTests(enabled=any(c.quality.dbt_tests.enabled for c in configs),
                           fail_on_warning=any(c.quality.dbt_tests.fail_on_warning
                                               for c in configs)),
        gates=tuple(g for i, c in enumerate(configs) for g in c.quality.gates
                    if all(g not in o.quality.gates for o in configs[:i])))
    return GatesConfig(quality_gates=gates, quality=quality)


def _union(groups: Any) -> tuple[str, ...]:
    out: list[str] = []
    for group in groups:
        out.extend(t for t in group if t not in out)
    return tuple(out)


# -- escalation -------------------------------------------------------------------------------


def escalation_for(levels: Sequence[str]) -> tuple[str | None, float, tuple[str, ...]]:
    """The most demanding row of the escalation table among ``levels`` (class names, tiers,
    ``critical``): (level, minimum coverage, required tests); (None, 0, ()) when none apply."""
    order = list(ESCALATION)
    best: str | None = None
    for raw in levels:
        level = LEVEL_OF.get(str(raw).strip().lower())
        if level is None and str(raw).strip().lower() == "critical":
            level = "confidential"
        if level is not None and (best is None or order.index(level) > order.index(best)):
            best = level
    if best is None:
        return None, 0.0, ()
    minimum, tests = ESCALATION[best]
    return best, minimum, tests


# -- validation with helpful errors -----------------------------------------------------------


def load_gates(
    quality_gates: Mapping[str, Any] | None = None,
    quality: Mapping[str, Any] | None = None,
    *,
    where: str = "<config>",
    prefix: tuple[str, ...] = ("governance",),
) -> GatesConfig:
    """Validate the two sections; ``prefix`` is where ``quality_gates`` sits (for messages).

    Raises:
        ConfigError: an unknown key (with the nearest valid one) or a bad value, naming the path.
    """
    raw: dict[str, Any] = {}
    if quality_gates is not None:
        raw["quality_gates"] = quality_gates
    if quality is not None:
        raw["quality"] = quality
    try:
        return GatesConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(explain(exc, GatesConfig, where, prefix)) from None


def explain(exc: ValidationError, root: type[BaseModel], where: str,
            prefix: tuple[str, ...] = (), *, title: str = "quality gates") -> str:
    """:func:`lacuna.sections.explain` with the keys as written here (``checks[0]``, no
    discriminator tag, ``quality`` at the top level) and unknown layers and check types named."""

    def special(err: Mapping[str, Any], _key: str) -> str | None:
        loc = tuple(err["loc"])
        if loc and loc[-1] == "[key]":  # an unknown layer name: a key, too
            near = difflib.get_close_matches(str(loc[-2]), LAYERS, n=1, cutoff=0.4)
            hint = f"did you mean '{near[0]}'? " if near else ""
            return (f"{_dotted(prefix, (*loc[:-2], loc[-2]))}: unknown layer. {hint}valid: "
                    f"{', '.join(LAYERS)}")
        if err["type"] == "union_tag_invalid":
            ctx = err.get("ctx") or {}
            tags = [t.strip(" '") for t in str(ctx.get("expected_tags", "")).split(",")]
            near = difflib.get_close_matches(str(ctx.get("tag", "")), tags, n=1, cutoff=0.4)
            hint = f"did you mean '{near[0]}'? " if near else ""
            return (f"{_dotted(prefix, loc)}.type: unknown check type '{ctx.get('tag')}'. "
                    f"{hint}valid: {', '.join(tags)}")
        return None

    return sections.explain(exc, root, prefix=prefix, origin=Origin(where), title=title,
                            docs="docs/dbt.md", special=special,
                            dotted=lambda loc: _dotted(prefix, tuple(loc[len(prefix):])))


def _dotted(prefix: tuple[str, ...], loc: tuple[Any, ...]) -> str:
    parts: list[str] = list(prefix)
    for part in loc:
        if isinstance(part, int):
            parts[-1] = f"{parts[-1]}[{part}]" if parts else f"[{part}]"
        elif part in ("row_count", "null_percentage", "freshness") and parts and \
                parts[-1].endswith("]") and "checks" in parts[-1]:
            continue  # the discriminator's tag is not a key the user wrote
        else:
            parts.append(str(part))
    if prefix and loc and loc[0] == "quality":  # ``quality`` is a top-level section
        parts = parts[len(prefix):]
    return ".".join(parts)


__all__ = [
    "ALL_TESTS",
    "ESCALATION",
    "EVIDENCE",
    "LAYERS",
    "Check",
    "DbtTests",
    "Enforcement",
    "FreshnessCheck",
    "Gate",
    "GateScope",
    "GatesConfig",
    "Layer",
    "LayerDetection",
    "LayerRequirement",
    "NullPercentageCheck",
    "OnFailure",
    "Quality",
    "QualityGates",
    "RowCountCheck",
    "allowed_keys",
    "escalation_for",
    "explain",
    "load_gates",
    "normalize_tests",
    "strictest",
]
