"""Done-when: "a project using ``floe:`` meta with ``sensitivity: critical`` and the ADR's
nested ``floe.yaml`` compiles unchanged" — a Floe-style project (``stg_``/``mart_`` models, only
``floe:`` meta, the ADR's governance, quality_gates and quality sections as written) through
``lacuna compile``, with no Lacuna-specific key anywhere."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

from typer.testing import CliRunner

from lacuna.cli import app

runner = CliRunner(env={"COLUMNS": "200", "NO_COLOR": "1"})

# The ADR's floe.yaml sections, as the ADR writes them (section 2, Quality Gates).
ADR_FLOE_YAML = """\
governance:
  classification:
    source: dbt_meta # Where to read classifications from
  policies:
    pii:
      production:
        action: restrict # Cube RLS enforces access
      non_production:
        action: synthesize # Generate synthetic data
    high_sensitivity:
      production:
        action: restrict
        requires_role: [data_owner, compliance]
      non_production:
        action: redact
  quality_gates:
    # Minimum requirements for all models
    minimum_test_coverage: 80 # % of columns with tests required
    required_tests:
      - not_null # Primary keys must be not null
      - unique # Primary keys must be unique
      - freshness # Source freshness checks
    # Enforcement behavior
    enforcement: strict # off | warn | strict
    block_on_failure: true
    # Per-layer requirements
    layers:
      bronze:
        required_tests: [not_null_pk]
        minimum_coverage: 50
      silver:
        required_tests: [not_null_pk, unique_pk, freshness]
        minimum_coverage: 80
      gold:
        required_tests: [not_null_pk, unique_pk, freshness, documentation]
        minimum_coverage: 100
quality:
  # Tier 1: dbt native tests (always run)
  dbt_tests:
    enabled: true
    fail_on_warning: false
  # Tier 3: Quality gates (enforcement)
  gates:
    - name: staging_completeness
      scope:
        tags: [staging]
      checks:
        - type: row_count
          min: 1
        - type: null_percentage
          columns: ["*_id"]
          max: 0
      on_failure: block # block | warn | notify
    - name: gold_freshness
      scope:
        layer: gold
      checks:
        - type: freshness
          max_age_hours: 24
      on_failure: warn
"""


def test_floe_project_with_critical_sensitivity_compiles_unchanged(
        tmp_path: Path, gen: SimpleNamespace) -> None:
    critical = gen.floe("pii", pii_type="ssn", sensitivity="critical")
    email = gen.floe("pii", pii_type="email", sensitivity="high")
    gen.write(
        tmp_path,
        gen.model("stg_customers", columns={"customer_id": {}, "email": email,
                                            "ssn": critical}, tags=("staging",)),
        gen.model("mart_customers", sql="select customer_id, email, ssn from stg_customers",
                  parents=("stg_customers",),
                  columns={"customer_id": {}, "email": email, "ssn": critical}),
    )
    (tmp_path / "floe.yaml").write_text(ADR_FLOE_YAML, encoding="utf-8")
    out = tmp_path / "report.json"
    warn = runner.invoke(app, ["compile", "--project-dir", str(tmp_path), "--no-verify-manifest",
                               "--enforcement",
                               "warn", "--json", str(out)])
    assert warn.exit_code == 0, warn.output
    assert "[1/5]" in warn.output
    assert "[5/5] Compilation SUCCEEDED" in warn.output
    report = json.loads(out.read_text(encoding="utf-8"))
    assert "ssn" in json.dumps(report)
    # the declared sensitivity is read, not rejected (Floe's own code rejects 'critical')
    from lacuna.dbt.classify import classify_project
    from lacuna.dbt.manifest import load_project
    from lacuna.model import Sensitivity

    pc = classify_project(load_project(tmp_path, verify=False))
    for model in ("stg_customers", "mart_customers"):
        ssn = pc.classification(model).columns["ssn"]
        assert (ssn.sensitivity, ssn.pii_type) == (Sensitivity.CRITICAL, "ssn")
    strict = runner.invoke(app, ["compile", "--project-dir", str(tmp_path),  # floe.yaml: strict
                                 "--no-verify-manifest"])
    assert strict.exit_code == 1, strict.output  # no tests at all: the gates block, by design
    assert "[5/5] Compilation FAILED" in strict.output
    assert "Traceback" not in strict.output
