"""``lacuna policy``: tools for policy authors (init, check, test, eval, explain, list, bundle,
log).

DIR defaults to ``policy.dir`` from ``lacuna.yaml``, else the bundle shipped with Lacuna;
``@default`` and ``@seed`` name the shipped bundles (the default one, and the seed's examples).
Exit codes: 0 ok (allowed, all tests pass), 1 a failure (a check or test failed, a decision is a
denial, the bundle does not load), 2 a usage or configuration error (a missing file, bad input).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable

    from lacuna.config import Config
    from lacuna.policy import PolicyEngine

app = typer.Typer(no_args_is_help=True, help="Check, test, run and package Rego policies.")

ConfigOption = Annotated[
    Path | None, typer.Option("--config", "-c", help="Path to lacuna.yaml (default: search).")
]
DirArgument = Annotated[str | None, typer.Argument(
    help="Policy folder (default: policy.dir, else the built-in bundle; @default, @seed).")]
DirOption = Annotated[str | None, typer.Option(
    "--dir", "-d", help="Policy folder (default: policy.dir, else the built-in bundle).")]
InputOption = Annotated[Path, typer.Option(
    "--input", "-i", help="The policy input: a JSON or YAML file, or - for stdin.")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def _fail(message: str, code: int) -> NoReturn:
    typer.echo(message, err=True)
    raise typer.Exit(code)


def _config(config: Path | None) -> Config:
    from lacuna.config import load_config
    from lacuna.errors import ConfigError

    try:
        return load_config(config)
    except ConfigError as exc:
        _fail(f"configuration error: {exc}", 2)


def _root(directory: str | None, config: Config) -> Traversable | Path:
    from lacuna.policy import default_bundle_root, seed_bundle_root

    if directory is None:
        return config.policy.dir.expanduser() if config.policy.dir else default_bundle_root()
    if directory in ("@default", "@seed"):
        return default_bundle_root() if directory == "@default" else seed_bundle_root()
    path = Path(directory).expanduser()
    if not path.is_dir():
        shipped = ("; the shipped bundles are @default and @seed" if directory.startswith("@")
                   else "; give a folder of .rego files, or @default or @seed for a shipped one")
        _fail(f"error: policy folder {directory} does not exist or is not a folder{shipped} "
              "(lacuna policy init DIR starts one).", 2)
    return path


def _engine_args(config: Config) -> dict[str, Any]:
    from lacuna.policy.engine import settings_from_config

    return {"settings": settings_from_config(config), "rego_version": config.policy.rego_version,
            "docs_url": config.docs_url, "cache_size": 0}


def _load(directory: str | None, config_path: Path | None) -> PolicyEngine:
    from lacuna.errors import PolicyError
    from lacuna.policy import PolicyEngine

    config = _config(config_path)
    try:
        return PolicyEngine(_root(directory, config), **_engine_args(config))
    except PolicyError as exc:
        _fail(f"error: {exc}", 1)


def _read_input(path: Path) -> Any:
    import yaml  # type: ignore[import-untyped, unused-ignore]

    from lacuna.policy.jsontext import MAX_DEPTH, too_deep

    try:
        text = sys.stdin.read() if str(path) == "-" else path.read_text(encoding="utf-8")
    except OSError as exc:
        _fail(f"error: cannot read input {path} ({exc.strerror}).", 2)
    deep = (f"error: input {path} is nested too deeply to read (more than {MAX_DEPTH} "
            "levels); a policy input is a few levels of objects and arrays.")
    try:
        value = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        _fail(f"error: input {path} is not valid JSON/YAML ({exc}).", 2)
    except RecursionError:
        _fail(deep, 2)
    if too_deep(value):  # also when this process's recursion limit let the reader through
        _fail(deep, 2)
    return value


@app.command()
def check(
    directory: DirArgument = None,
    config: ConfigOption = None,
    sample: Annotated[Path | None, typer.Option(
        "--input", "-i", help="A sample policy input (JSON/YAML) to time the rules on "
        "(default: a read and an export of customer PII).")] = None,
    slow_ms: Annotated[float, typer.Option(
        "--slow-ms", help="Warn about rules slower than this on a sample input.")] = 50.0,
    timing: Annotated[bool, typer.Option(
        "--timing/--no-timing", help="Time every rule on the sample inputs.")] = True,
) -> None:
    """Parse and compile every file; report errors with file:line:column and the line.

    Then time every rule of every voting package on sample inputs (on a worker process, stopped
    at policy.eval_budget_ms) and warn about slow ones: a decision that takes longer than the
    budget is denied.
    """
    from lacuna.policy.check import check_bundle

    cfg = _config(config)
    report = check_bundle(_root(directory, cfg), **_engine_args(cfg))
    if not report.ok:
        for error in report.errors:
            typer.echo(f"{error}\n", err=True)
        _fail(f"{len(report.errors)} error(s) in {report.files} file(s).", 1)
    engine = report.engine
    assert engine is not None
    tests = sum(1 for m in engine.modules if m.is_test)
    v0 = sum(1 for m in engine.modules if m.rego_version == "v0")
    typer.echo(f"ok: {report.files} files ({len(engine.modules) - tests} policy, {tests} test; "
               f"{v0} in Rego v0), {len(engine.all_packages)} packages "
               f"({len(engine.packages)} vote), revision {engine.revision}")
    if timing:
        _warn_slow_rules(engine, cfg, sample, slow_ms)


def _warn_slow_rules(engine: PolicyEngine, config: Config, sample: Path | None,
                     slow_ms: float) -> None:
    from lacuna.errors import PolicyError
    from lacuna.policy.budget import SAMPLE_INPUTS, time_rules

    samples: dict[str, Any] = dict(SAMPLE_INPUTS)
    if sample is not None:
        doc = _read_input(sample)
        if not isinstance(doc, dict):
            _fail(f"error: input {sample} is not an object (a policy input).", 2)
        samples = {str(sample): doc}
    budget_ms = float(config.policy.eval_budget_ms)
    try:
        timings = time_rules(engine.bundle, engine.data, engine.packages, samples,
                             limit_s=budget_ms / 1000)
    except PolicyError as exc:
        typer.echo(f"warning: could not time the rules: {exc}", err=True)
        return
    slow = [t for t in timings if t.stopped or t.ms > slow_ms]
    for t in sorted(slow, key=lambda t: -t.ms):
        if t.stopped:
            typer.echo(f"warning: {t.rule} was still running after {budget_ms:.0f} ms "
                       f"(policy.eval_budget_ms) on the sample '{t.sample}': decisions that "
                       "evaluate it are denied. Make it cheaper.", err=True)
        else:
            typer.echo(f"warning: {t.rule} took {t.ms:.0f} ms on the sample '{t.sample}' "
                       f"(slow: over {slow_ms:g} ms; the budget per decision is "
                       f"{budget_ms:.0f} ms).", err=True)
    typer.echo(f"timed {len(timings)} rule evaluations on {len(samples)} sample input(s): "
               f"{len(slow)} slow")


@app.command("test")
def run_tests(
    directory: DirArgument = None,
    coverage: Annotated[bool, typer.Option("--coverage", help="Report per-line coverage.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="List every test.")] = False,
    config: ConfigOption = None,
) -> None:
    """Run every test_* rule (like opa test): PASS/FAIL per test, totals, coverage."""
    from lacuna.errors import PolicyError

    engine = _load(directory, config)
    try:
        report = engine.run_tests(coverage=coverage)
    except PolicyError as exc:
        _fail(f"error: {exc}", 1)
    from lacuna.policy.render import format_test_report

    typer.echo(format_test_report(report, engine.bundle.root, verbose=verbose))
    if not report:
        _fail("no test_* rules found in *_test.rego files.", 1)
    if report.failed:
        raise typer.Exit(1)


@app.command("eval")
def eval_(
    input_file: InputOption,
    query: Annotated[str | None, typer.Argument(
        help="A Rego query (e.g. data.governance.export.deny); default: the Lacuna decision.")
    ] = None,
    directory: DirOption = None,
    server: Annotated[str | None, typer.Option(
        help="Ask this OPA server (its Data API) instead of the embedded engine.")] = None,
    fail: Annotated[bool, typer.Option("--fail", help="Exit 1 when a query is undefined.")
                    ] = False,
    config: ConfigOption = None,
) -> None:
    """Evaluate an input: the Lacuna decision (exit 1 when denied), or a Rego query."""
    doc = _read_input(input_file)
    if query is None:
        if server is not None:
            from lacuna.errors import ConfigError
            from lacuna.policy import RemoteEngine  # or ComponentImportError: what to install

            try:
                with RemoteEngine(server) as remote:
                    decision = remote.evaluate(doc or {})
            except ConfigError as exc:
                _fail(f"configuration error: {exc}", 2)
        else:
            decision = _load(directory, config).evaluate(doc or {})
        out = decision.to_dict()
        source = doc.get("source") if isinstance(doc, dict) else None
        target = doc.get("destination") if isinstance(doc, dict) else None
        if isinstance(doc, dict):  # to_dict reads these from an operation; here there is none
            out["action"] = doc.get("action")
            out["destination"] = target.get("uri") if isinstance(target, dict) else None
            if isinstance(source, dict):
                out["classification"] = source.get("classification")
                out["tags"] = list(source.get("tags") or [])
        out["policies"] = [{"package": p.package, "id": p.id, "title": p.title,
                            "owner": p.owner, "version": p.version,
                            "compliance": list(p.compliance), "effect": p.effect}
                           for p in decision.policies]
        typer.echo(json.dumps(out, indent=2))
        if decision.denied:
            raise typer.Exit(1)
        return
    from lacuna.policy.compile import compile_bundle
    from lacuna.policy.diagnostics import diagnose

    engine = _load(directory, config)
    rego = compile_bundle(engine.bundle, engine.data)
    rego.set_input_json(json.dumps(doc))
    try:
        result = json.loads(rego.eval_query_as_json(query))
    except Exception as exc:  # a bad query: show where
        d = diagnose(exc)
        _fail(f"error: {d.message}{d.excerpt()}", 2)
    typer.echo(json.dumps(result, indent=2))
    if fail and not result.get("result"):
        raise typer.Exit(1)


@app.command()
def explain(
    input_file: InputOption,
    directory: DirOption = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v",
                                          help="Show rules that did not fire too.")] = False,
    config: ConfigOption = None,
) -> None:
    """Which packages applied, how each voted, which rules fired, and why (exit 1 if denied)."""
    from lacuna.policy.explain import explain as run
    from lacuna.policy.explain import render

    result = run(_load(directory, config), _read_input(input_file) or {})
    typer.echo(render(result, verbose=verbose))
    if result.decision.denied:
        raise typer.Exit(1)


@app.command("list")
def list_(directory: DirOption = None, as_json: JsonOption = False,
          config: ConfigOption = None) -> None:
    """The bundle's packages with their metadata (id, title, owner, version, compliance)."""
    engine = _load(directory, config)
    from lacuna.policy.render import package_list, package_rows

    if as_json:
        typer.echo(json.dumps({"revision": engine.revision, "packages": package_rows(engine)},
                              indent=2))
        return
    typer.echo(package_list(engine))


@app.command()
def bundle(
    directory: DirArgument = None,
    output: Annotated[Path, typer.Option("--output", "-o", help="The .tar.gz to write.")
                      ] = Path("bundle.tar.gz"),
    revision: Annotated[str | None, typer.Option(help="Override the revision.")] = None,
    config: ConfigOption = None,
) -> None:
    """Write an OPA bundle (.manifest with revision and roots, policies, aggregator, data)."""
    from lacuna.errors import PolicyError
    from lacuna.policy.opa_bundle import write_opa_bundle

    engine = _load(directory, config)
    try:
        manifest = write_opa_bundle(engine, output, revision=revision)
    except PolicyError as exc:
        _fail(f"error: {exc}", 1)
    typer.echo(f"wrote {output}: revision {manifest['revision']}, roots "
               f"{', '.join(manifest['roots'])}; {len(engine.bundle.policy_modules)} policy "
               f"files + lacuna/decision.rego. Serve it with: opa run --server {output}")


@app.command()
def init(
    directory: Annotated[Path, typer.Argument(help="The folder to create.")],
    source: Annotated[str, typer.Option(
        "--from", help="The bundle to start from: @default (the built-in one) or @seed.")
    ] = "@default",
    force: Annotated[bool, typer.Option(help="Write into a non-empty folder.")] = False,
) -> None:
    """Start a policy folder from a shipped bundle (Rego files and their tests)."""
    from lacuna.errors import ConfigError
    from lacuna.policy import default_bundle_root, seed_bundle_root
    from lacuna.policy.scaffold import init_policy_dir

    roots = {"@default": default_bundle_root, "@seed": seed_bundle_root}
    if source not in roots:
        _fail(f"unknown bundle {source!r}; expected one of: {', '.join(roots)}", 2)
    try:
        made = init_policy_dir(directory, roots[source](), force=force)
    except ConfigError as exc:
        _fail(f"error: {exc}", 2)
    typer.echo(f"wrote {len(made.files)} files to {made.directory}. Next:\n"
               f"  lacuna policy test {made.directory}      # its tests pass as shipped\n"
               f"  # then in lacuna.yaml:  policy: {{dir: {made.directory}}}")


@app.command()
def log(
    limit: Annotated[int, typer.Option(help="How many records, newest first.")] = 20,
    operation: Annotated[str | None, typer.Option(help="Only this operation id.")] = None,
    as_json: JsonOption = False,
    config: ConfigOption = None,
) -> None:
    """Show decision-log records from the state database (table lacuna_decision_log)."""
    from lacuna.errors import LacunaError
    from lacuna.policy.log_sinks import SqlDecisionLog, record_revision

    cfg = _config(config)
    try:
        sink = SqlDecisionLog(cfg.audit_url)
        records = sink.records(limit=limit, operation_id=operation)
    except LacunaError as exc:
        _fail(f"error: {exc}", 2)
    if not records and not as_json:
        typer.echo("No decision-log records (table lacuna_decision_log of the state database).")
    for r in records:
        if as_json:
            typer.echo(json.dumps(r, sort_keys=True))
            continue
        result = r.get("result") or {}
        verdict = "allowed" if result.get("allowed") else "DENIED"
        revision = record_revision(r)
        took = (r.get("metrics") or {}).get("timer_rego_query_eval_ns", 0) / 1000
        typer.echo(f"{r['timestamp']}  {verdict:7}  {result.get('action') or '-':9} "
                   f"{result.get('policy_id') or '-':12} rev {revision}  {took:.0f}µs  "
                   f"{r['decision_id']}")
