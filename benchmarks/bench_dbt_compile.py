"""Benchmark ``lacuna compile`` on a generated dbt project of 2,000 models.

Run: ``python benchmarks/bench_dbt_compile.py [--models N] [--repeat R]``. Prints a markdown
section to stdout.

The project: N models in three layers (``bronze_`` / ``silver_`` / ``gold_`` prefixes and
folders), 8 columns each (one primary key, a PII column in every fifth model, a financial
column), about 3 tests per model (``not_null`` and ``unique`` on the key attached by
``attached_node`` + ``column_name``, plus a singular test linked only by ``depends_on``), each
model depending on up to three earlier ones and compiled to SQL that picks each column from one
of them (so the project classification traces real column lineage), 20 sources with freshness,
and a ``floe.yaml`` with ADR-0012's quality gates. The manifest has dbt's shape (the fields
``lacuna compile`` reads). The timed path is what the CLI does: load the manifest, load the
gates, compile (classifying the project), and build the JSON and SARIF reports.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

FLOE_YAML = """\
governance:
  quality_gates:
    minimum_test_coverage: 80
    required_tests: [not_null, unique, freshness]
    enforcement: strict
    block_on_failure: true
    layers:
      bronze: {required_tests: [not_null_pk], minimum_coverage: 50}
      silver: {required_tests: [not_null_pk, unique_pk, freshness], minimum_coverage: 80}
      gold: {required_tests: [not_null_pk, unique_pk, freshness, documentation],
             minimum_coverage: 100}
quality:
  gates:
    - name: gold_freshness
      scope: {layer: gold}
      checks: [{type: freshness, max_age_hours: 24}]
      on_failure: warn
"""

LAYERS = ("bronze", "silver", "gold")


def synthetic_manifest(n_models: int, *, project: str = "bench", seed: int = 7) -> dict[str, Any]:
    """A dbt manifest (the fields Lacuna reads) of ``n_models`` models."""
    rng = random.Random(seed)
    nodes: dict[str, Any] = {}
    sources: dict[str, Any] = {}
    for s in range(20):
        uid = f"source.{project}.raw.src_{s}"
        sources[uid] = {
            "unique_id": uid, "resource_type": "source", "name": f"src_{s}",
            "package_name": project, "path": "models/sources.yml",
            "original_file_path": "models/sources.yml", "identifier": f"src_{s}",
            "source_name": "raw",
            "schema": "raw", "database": "warehouse", "columns": {},
            "freshness": {"warn_after": {"count": 12, "period": "hour"}},
            "relation_name": f'"warehouse"."raw"."src_{s}"',
        }
    names: list[str] = []
    columns_of: dict[str, list[str]] = {}
    for i in range(n_models):
        layer = LAYERS[min(2, i * 3 // n_models)]
        name = f"{layer}_model_{i}"
        uid = f"model.{project}.{name}"
        cols: dict[str, Any] = {}
        for c in range(8):
            col = "id" if c == 0 else f"col_{c}"
            meta: dict[str, Any] = {}
            if c == 1 and i % 5 == 0:
                col = "email"
                meta = {"floe": {"classification": "pii", "pii_type": "email",
                                 "sensitivity": "high"}}
            if c == 2:
                meta = {"lacuna": {"classification": "financial", "sensitivity": "medium"}}
            cols[col] = {"name": col, "description": f"column {c}" if c % 2 == 0 else "",
                         "meta": meta, "config": {"meta": meta}, "data_type": None,
                         "constraints": [], "tags": []}
        picked = rng.sample(names, min(3, len(names)))
        parents = [f"model.{project}.{p}" for p in picked]
        if not picked:  # the SQL reads its source (depends_on is what the file reads)
            parents.append(f"source.{project}.raw.src_{i % 20}")
        raw, sql = _model_sql(rng, list(cols), picked, columns_of, i % 20)
        columns_of[name] = list(cols)
        nodes[uid] = {
            "unique_id": uid, "resource_type": "model", "name": name, "package_name": project,
            "path": f"{layer}/{name}.sql", "original_file_path": f"models/{layer}/{name}.sql",
            "fqn": [project, layer, name], "description": "a model" if i % 3 else "",
            "tags": [], "meta": {}, "config": {"materialized": "table", "meta": {}, "tags": []},
            "columns": cols, "depends_on": {"nodes": parents, "macros": []},
            "database": "warehouse", "schema": "main", "alias": name,
            "relation_name": f'"warehouse"."main"."{name}"', "constraints": [],
            "raw_code": raw, "compiled_code": sql,
        }
        for kind in ("not_null", "unique"):
            tid = f"test.{project}.{kind}_{name}_id.{i:08x}"
            nodes[tid] = {
                "unique_id": tid, "resource_type": "test", "name": f"{kind}_{name}_id",
                "package_name": project, "path": f"{kind}_{name}_id.sql",
                "original_file_path": f"models/{layer}/schema.yml",
                "attached_node": uid, "column_name": "id",
                "test_metadata": {"name": kind, "kwargs": {"column_name": "id",
                                                           "model": f"{{{{ ref('{name}') }}}}"}},
                "depends_on": {"nodes": [uid], "macros": []}, "config": {"severity": "ERROR"},
            }
        if i % 2:
            tid = f"test.{project}.assert_{name}.{i:08x}"
            nodes[tid] = {
                "unique_id": tid, "resource_type": "test", "name": f"assert_{name}",
                "package_name": project, "path": f"assert_{name}.sql",
                "original_file_path": f"tests/assert_{name}.sql",
                "depends_on": {"nodes": [uid], "macros": []}, "config": {"severity": "ERROR"},
                "test_metadata": {"name": "expression_is_true",
                                  "kwargs": {"column_name": "col_2"}},
            }
        names.append(name)
    return {
        "metadata": {"project_name": project, "adapter_type": "duckdb",
                     "dbt_version": "1.11.0", "invocation_id": "bench"},
        "nodes": nodes, "sources": sources, "macros": {}, "exposures": {}, "metrics": {},
    }


def _model_sql(rng: random.Random, columns: list[str], parents: list[str],
               columns_of: dict[str, list[str]], source: int) -> tuple[str, str]:
    """A model's SQL file (``ref()``/``source()``) and what dbt compiles it to: each column
    picked from a parent (renamed to the model's name for it) over the parents joined on
    ``id``; a model without model parents reads its source. Realistic work for the column
    lineage that classifies the project."""
    if not parents:
        sql = f"select {', '.join(columns)} from {{{{ source('raw', 'src_{source}') }}}}"
        return sql, sql.replace(f"{{{{ source('raw', 'src_{source}') }}}}",
                                f'"warehouse"."raw"."src_{source}"')
    picks = []
    for col in columns:
        k = 0 if col == "id" else rng.randrange(len(parents))
        picks.append(f"p{k}.{rng.choice(columns_of[parents[k]]) if col != 'id' else 'id'} "
                     f"as {col}")
    raw = f"select {', '.join(picks)} from " + " ".join(
        f"{'join ' if k else ''}{{{{ ref('{p}') }}}} as p{k}{f' on p0.id = p{k}.id' if k else ''}"
        for k, p in enumerate(parents))
    compiled = raw
    for p in parents:
        compiled = compiled.replace(f"{{{{ ref('{p}') }}}}", f'"warehouse"."main"."{p}"')
    return raw, compiled


def write_project(folder: Path, n_models: int) -> Path:
    """A project folder with ``dbt_project.yml``, ``profiles.yml``, ``floe.yaml``,
    ``target/manifest.json`` and the files the manifest says it was parsed from (each model's
    SQL, a ``schema.yml`` per folder, ``sources.yml``): so that loading it verifies the
    manifest against them, as it does for a real project (:mod:`lacuna.dbt.verify`)."""
    import hashlib

    import yaml

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "dbt_project.yml").write_text("name: bench\nprofile: bench\nversion: '1.0'\n",
                                            encoding="utf-8")
    (folder / "floe.yaml").write_text(FLOE_YAML, encoding="utf-8")
    # the target the manifest's relations are named after (DuckDB: schema main, database
    # named after the file)
    (folder / "profiles.yml").write_text(
        "bench:\n  target: dev\n  outputs:\n    dev: {type: duckdb, path: warehouse.duckdb}\n",
        encoding="utf-8")
    manifest = synthetic_manifest(n_models)
    schemas: dict[str, list[dict[str, Any]]] = {}
    # the YAML lists each test the manifest has, and each description (lacuna.dbt.verify_tests)
    tests: dict[tuple[str, str], list[Any]] = {}
    for test in manifest["nodes"].values():
        if test["resource_type"] == "test":
            kwargs = test["test_metadata"]["kwargs"]
            name = test["test_metadata"]["name"]
            tests.setdefault((test["depends_on"]["nodes"][0], kwargs["column_name"]), []).append(
                name if name in ("not_null", "unique") else
                {f"dbt_utils.{name}": {"arguments": {"expression": "is not null"}}})
    for node in manifest["nodes"].values():
        if node["resource_type"] != "model":
            continue
        sql = node["raw_code"]
        path = folder / node["original_file_path"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(sql + "\n", encoding="utf-8")
        node["checksum"] = {"name": "sha256",
                            "checksum": hashlib.sha256(sql.strip().encode()).hexdigest()}
        schema = str(Path(node["original_file_path"]).parent / "schema.yml")
        node["patch_path"] = f"bench://{schema}"
        schemas.setdefault(schema, []).append({
            "name": node["name"],
            **({"description": node["description"]} if node["description"] else {}),
            "columns": [
                {"name": c, **({"meta": col["meta"]} if col["meta"] else {}),
                 **({"description": col["description"]} if col["description"] else {}),
                 **({"data_tests": tests[(node["unique_id"], c)]}
                    if (node["unique_id"], c) in tests else {})}
                for c, col in node["columns"].items()]})
    for schema, models in schemas.items():
        (folder / schema).write_text(yaml.safe_dump({"version": 2, "models": models}),
                                     encoding="utf-8")
    tables = [{"name": s["name"]} for s in manifest["sources"].values()]
    (folder / "models" / "sources.yml").write_text(yaml.safe_dump(
        {"version": 2, "sources": [{"name": "raw", "tables": tables, "freshness": {
            "warn_after": {"count": 12, "period": "hour"}}}]}), encoding="utf-8")
    (folder / "target").mkdir(exist_ok=True)
    (folder / "target" / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    return folder


def compile_once(folder: Path) -> tuple[float, float, Any]:
    """Wall and CPU seconds for load + gates + compile + JSON + SARIF, and the report."""
    from lacuna.dbt.compile import compile_project, load_project_gates
    from lacuna.dbt.manifest import load_project
    from lacuna.dbt.sarif import to_sarif

    started, cpu = time.perf_counter(), time.process_time()
    project = load_project(folder)
    gates, _ = load_project_gates(folder)
    report = compile_project(project, gates)
    json.dumps(report.to_dict(), default=str)
    json.dumps(to_sarif(report))
    return time.perf_counter() - started, time.process_time() - cpu, report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--models", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="one run (run_all.py --quick)")
    args = parser.parse_args(argv)
    if args.quick:
        args.repeat = 1
    with tempfile.TemporaryDirectory() as tmp:
        folder = write_project(Path(tmp) / "bench", args.models)
        size = (folder / "target" / "manifest.json").stat().st_size
        times, cpus = [], []
        report = None
        for _ in range(args.repeat):
            seconds, cpu, report = compile_once(folder)
            times.append(seconds)
            cpus.append(cpu)
    assert report is not None
    print(f"## lacuna compile: {args.models} generated models\n")
    print(f"manifest {size / 1e6:.1f} MB, {report.models} models, {report.tests} tests, "
          f"{len(report.findings)} findings\n")
    print("| run | wall s | CPU s |\n|---|---|---|")
    for i, (t, c) in enumerate(zip(times, cpus, strict=True), 1):
        print(f"| {i} | {t:.2f} | {c:.2f} |")
    load = os.getloadavg()[0]
    print(f"\nmedian wall {statistics.median(times):.2f} s, median CPU "
          f"{statistics.median(cpus):.2f} s (budget: 5 s); load average {load:.1f} on "
          f"{os.cpu_count()} cores")
    return 0


if __name__ == "__main__":
    sys.exit(main())
