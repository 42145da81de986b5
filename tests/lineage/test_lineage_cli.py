"""``lacuna lineage show|impact|completeness`` over a store filled by register_lineage."""

from __future__ import annotations

import itertools
import json
import shutil
from importlib import resources
from pathlib import Path

import pytest
from typer.testing import CliRunner

import lacuna
from lacuna.cli import app
from lacuna.lineage.records import DatasetRef

runner = CliRunner(env={"COLUMNS": "200", "NO_COLOR": "1"})


@pytest.fixture
def recorded(tmp_path: Path) -> Path:
    for name in ("customers.csv", "sales.csv"):
        shutil.copy(resources.files("lacuna") / "data" / name, tmp_path / name)
    lacuna.register_lineage(source=["customers.csv", "sales.csv"], destination="joined.parquet",
                            operation="join", columns={"email": ("customers.csv", "email")})
    lacuna.register_lineage(source="joined.parquet", destination="s3://lake/report.csv",
                            operation="publish")
    return tmp_path


def test_show_draws_the_upstream_tree_with_tiers_tags_and_columns(recorded: Path) -> None:
    result = runner.invoke(app, ["lineage", "show", "s3://lake/report.csv", "--columns"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("s3://lake/report.csv  PROPRIETARY")
    assert "PII" in lines[0]
    joined = next(i for i, line in enumerate(lines) if "joined.parquet" in line)
    sales = next(i for i, line in enumerate(lines) if "sales.csv" in line)
    assert "INTERNAL" in lines[sales]
    assert sales > joined
    assert lines[sales].index("sales.csv") > lines[joined].index("joined.parquet")  # nested
    assert any("email ← customers.csv.email (identity)" in line for line in lines)


def test_show_lists_a_column_edge_once_however_many_runs_recorded_it(recorded: Path) -> None:
    """The same job run again (a notebook re-run) repeated every column edge per run."""
    lacuna.register_lineage(source=["customers.csv", "sales.csv"], destination="joined.parquet",
                            operation="join", columns={"email": ("customers.csv", "email")})
    for args in (["s3://lake/report.csv"], ["customers.csv", "--downstream"]):
        result = runner.invoke(app, ["lineage", "show", *args, "--columns"])
        assert result.exit_code == 0, result.output
        arrow = "email ← customers.csv.email" if len(args) == 1 else "email → joined.parquet.email"
        assert sum(arrow in line for line in result.output.splitlines()) == 1, result.output


def test_show_formats_and_depth(recorded: Path) -> None:
    out = runner.invoke(app, ["lineage", "show", "customers.csv", "--downstream", "--format",
                              "json"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)
    assert data["direction"] == "downstream"
    assert {n["dataset"]: n["depth"] for n in data["nodes"]} == {
        str(recorded / "customers.csv"): 0, str(recorded / "joined.parquet"): 1,
        "s3://lake/report.csv": 2}
    near = json.loads(runner.invoke(app, ["lineage", "show", "customers.csv", "--downstream",
                                          "--depth", "1", "--format", "json"]).output)
    assert len(near["nodes"]) == 2
    dot = runner.invoke(app, ["lineage", "show", "s3://lake/report.csv", "--format", "dot"])
    assert dot.output.startswith("digraph lineage {")
    assert dot.output.count("->") == 3
    mermaid = runner.invoke(app, ["lineage", "show", "s3://lake/report.csv", "--format",
                                  "mermaid"])
    assert mermaid.output.startswith("flowchart LR")
    assert mermaid.output.count("-->") == 3


def test_impact_lists_what_carries_pii_downstream(recorded: Path) -> None:
    out = runner.invoke(app, ["lineage", "impact", "customers.csv", "--tag", "PII", "--json"])
    assert out.exit_code == 0, out.output
    assert [h["dataset"] for h in json.loads(out.output)] == [
        str(recorded / "joined.parquet"), "s3://lake/report.csv"]
    text = runner.invoke(app, ["lineage", "impact", "customers.csv"])
    assert "joined.parquet" in text.output
    none = runner.invoke(app, ["lineage", "impact", "s3://lake/report.csv"])
    assert none.exit_code == 0
    assert "No dataset downstream" in none.output


def test_completeness(recorded: Path) -> None:
    out = runner.invoke(app, ["lineage", "completeness", "--json"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)
    assert (data["derived"], data["complete"], data["sources"]) == (2, 2, 2)
    text = runner.invoke(app, ["lineage", "completeness"])
    assert "100.0% (2 of 2 derived datasets)" in text.output


def test_unknown_datasets_and_bad_options_fail_clearly(tmp_path: Path) -> None:
    empty = runner.invoke(app, ["lineage", "show", "nothing.csv"])
    assert empty.exit_code == 1
    assert "no lineage recorded" in empty.output
    assert not (tmp_path / ".lacuna-home").exists() or not any(
        (tmp_path / ".lacuna-home").rglob("*.db"))  # a read created no state file
    both = runner.invoke(app, ["lineage", "show", "x.csv", "--upstream", "--downstream"])
    assert both.exit_code == 2
    nothing = runner.invoke(app, ["lineage", "completeness"])
    assert nothing.exit_code == 0
    assert "Lineage completeness: none yet (0 of 0 derived datasets)" in nothing.output
    assert "PROPRIETARY datasets: none yet (0 of 0)" in nothing.output  # not "100.0%"
    assert DatasetRef.of("x.csv").namespace == "file"


def test_runs_and_dismiss_a_claim_from_the_command_line(tmp_path: Path) -> None:
    """``lacuna lineage runs`` lists the ingested run; ``lacuna lineage dismiss`` takes it back
    as a default steward (exit 0), refuses anyone else (exit 1) and a missing reason (exit 2)."""
    import yaml

    from lacuna.config import ClassificationConfig
    from lacuna.lineage.claims import ingest
    from lacuna.lineage.records import DatasetVersion, Run, RunStatus
    from lacuna.lineage.store import LineageStore
    from lacuna.model import Classification

    url = f"sqlite:///{tmp_path / 'state.db'}"

    def config(user: str, role: str) -> str:
        path = tmp_path / f"{user}.yaml"
        path.write_text(yaml.safe_dump({"user": {"id": user, "role": role},
                                        "stewards": {"default": ["jane"]},
                                        "audit": {"url": url}}), encoding="utf-8")
        return str(path)

    claim = Classification.from_dict({"tier": "PROPRIETARY", "tags": ["SECRET"]})
    ref = DatasetRef("file", str(tmp_path / "shared.csv"))
    with LineageStore(url) as store:
        ingest(Run(id="r-claim", operation="relabel", status=RunStatus.SUCCEEDED,
                   outputs=(DatasetVersion(dataset=ref, classification=claim),),
                   user_id="ana", producer="https://example.com/evil"),
               store, ClassificationConfig(), by="ana")
    listed = runner.invoke(app, ["lineage", "runs", "--json", "--config", config("jane",
                                                                                  "data_steward")])
    assert listed.exit_code == 0, listed.output
    # ingested: its user is the run's claim (imported_from: lacuna.lineage.claims.ingest)
    assert [(r["id"], r["user"], r["claimed_user"], r["imported"])
            for r in json.loads(listed.output)] == [("r-claim", None, "ana", True)]
    reason = ["--reason", "checked: shared.csv holds nothing secret"]
    refused = runner.invoke(app, ["lineage", "dismiss", "r-claim", *reason,
                                  "--config", config("ana", "analyst")])
    assert refused.exit_code == 1, refused.output
    assert "ana may not dismiss lineage claims: the default stewards may: jane" in refused.output
    assert runner.invoke(app, ["lineage", "dismiss", "r-claim", "--reason", " ", "--config",
                               config("jane", "data_steward")]).exit_code == 2
    done = runner.invoke(app, ["lineage", "dismiss", "r-claim", *reason, "--json",
                               "--config", config("jane", "data_steward")])
    assert done.exit_code == 0, done.output
    (said,) = json.loads(done.output)["datasets"]
    assert (said["tier"], said["now"], said["still_as_strict"]) == ("PROPRIETARY", None, False)
    with LineageStore(url) as store:
        assert store.latest(ref) is None  # nothing else was ever known of it
    again = runner.invoke(app, ["lineage", "dismiss", "r-claim", *reason,
                                "--config", config("jane", "data_steward")])
    assert (again.exit_code, "already dismissed" in again.output) == (1, True)


def test_dismiss_says_when_a_dataset_is_still_as_strict(tmp_path: Path) -> None:
    """A later run that read the dataset while the claim stood was held to the claim: after the
    dismissal its version still counts. The steward is told, with where to look."""
    import yaml

    from lacuna.config import ClassificationConfig
    from lacuna.lineage.claims import ingest
    from lacuna.lineage.records import DatasetVersion, Run, RunStatus
    from lacuna.lineage.store import LineageStore
    from lacuna.model import Classification

    url = f"sqlite:///{tmp_path / 'state.db'}"
    jane = tmp_path / "jane.yaml"
    jane.write_text(yaml.safe_dump({"user": {"id": "jane", "role": "data_steward"},
                                    "stewards": {"default": ["jane"]}, "audit": {"url": url}}),
                    encoding="utf-8")
    ref = DatasetRef("file", str(tmp_path / "shared.csv"))
    claim = Classification.from_dict({"tier": "PROPRIETARY", "tags": ["SECRET"]})
    public = Classification.from_dict({"tier": "PUBLIC"})
    with LineageStore(url) as store:
        for run_id, c, role in (("r-claim", claim, "outputs"), ("r-later", public, "inputs")):
            ingest(Run(id=run_id, operation="op", status=RunStatus.SUCCEEDED,
                       **{role: (DatasetVersion(dataset=ref, classification=c),)},
                       user_id="ana"), store, ClassificationConfig(), by="ana")
    done = runner.invoke(app, ["lineage", "dismiss", "r-claim", "--reason", "checked",
                               "--config", str(jane)])
    assert done.exit_code == 0, done.output
    said = " ".join(done.output.split())  # as wrapped to the terminal
    assert "(claimed PROPRIETARY, now PROPRIETARY): still as strict" in said
    assert "see `lacuna lineage runs" in said


def test_dismiss_says_which_of_lacunas_own_datasets_came_down(tmp_path: Path) -> None:
    """Lacuna's own run read the dataset while the claim stood (its input version names the
    claim) and wrote a join of it (the claim named, its own class not known): the dismissal
    says the first came down and the second keeps the raise."""
    import yaml

    from lacuna.config import ClassificationConfig
    from lacuna.lineage.attribution import Raised
    from lacuna.lineage.claims import ingest
    from lacuna.lineage.records import DatasetVersion, Run, RunStatus
    from lacuna.lineage.store import LineageStore
    from lacuna.model import Classification

    url = f"sqlite:///{tmp_path / 'state.db'}"
    jane = tmp_path / "jane.yaml"
    jane.write_text(yaml.safe_dump({"user": {"id": "jane", "role": "data_steward"},
                                    "stewards": {"default": ["jane"]}, "audit": {"url": url}}),
                    encoding="utf-8")
    shared, joined = (DatasetRef("file", str(tmp_path / n)) for n in ("shared.csv", "joined.csv"))
    claim = Classification.from_dict({"tier": "PROPRIETARY", "tags": ["SECRET"]})
    public = Classification.from_dict({"tier": "PUBLIC"})
    with LineageStore(url) as store:
        ingest(Run(id="r-claim", operation="op", status=RunStatus.SUCCEEDED,
                   outputs=(DatasetVersion(dataset=shared, classification=claim),),
                   user_id="ana"), store, ClassificationConfig(), by="ana")
        store.record(Run(id="r-own", operation="merge", status=RunStatus.SUCCEEDED, inputs=(
            DatasetVersion(dataset=shared, classification=claim,
                           raised=Raised(own=public, claims=(("r-claim", claim),))),),
            outputs=(DatasetVersion(dataset=joined, classification=claim,
                                    raised=Raised(own=None, claims=(("r-claim", claim),))),)))
    done = runner.invoke(app, ["lineage", "dismiss", "r-claim", "--reason", "checked",
                               "--config", str(jane)])
    assert done.exit_code == 0, done.output
    said = " ".join(done.output.split())  # as wrapped to the terminal
    assert "(claimed PROPRIETARY, now PUBLIC)" in said
    assert "still as strict" not in said
    assert f"came down: {shared} (PROPRIETARY -> PUBLIC, what Lacuna derived itself)" in said
    assert f"still raised: {joined} (PROPRIETARY:" in said


def test_no_lineage_says_whether_the_path_exists(tmp_path, monkeypatch):
    """A mistyped path and a real file nothing recorded get different advice."""
    from typer.testing import CliRunner

    from lacuna.cli import app

    monkeypatch.chdir(tmp_path)
    (tmp_path / "real.csv").write_text("a\n1\n")
    db = f"sqlite:///{tmp_path / 'none.db'}"
    runner = CliRunner()
    typo = runner.invoke(app, ["lineage", "show", "reprot.parquet", "--db", db])
    assert typo.exit_code == 1
    assert "There is no such file: check the path" in " ".join(typo.output.split())
    real = runner.invoke(app, ["lineage", "show", "real.csv", "--db", db])
    assert real.exit_code == 1
    said = " ".join(real.output.split())
    assert "no such file" not in said
    assert "lacuna.register_lineage" in said


def _chain(url: str, names: list[str], run_ids: list[str] | None = None) -> None:
    """Record names[0] -> names[1] -> ... as claims (untrusted: no signing, fast)."""
    from datetime import UTC, datetime

    from lacuna.lineage.records import DatasetVersion, Run, RunStatus
    from lacuna.lineage.store import LineageStore
    from lacuna.model import Classification

    c = Classification.from_dict({"tier": "INTERNAL"})
    with LineageStore(url) as store:
        for i, (a, b) in enumerate(itertools.pairwise(names)):
            store.record(Run(
                id=run_ids[i] if run_ids else f"r{i}", operation="op",
                status=RunStatus.SUCCEEDED, started_at=datetime(2026, 1, 1, tzinfo=UTC),
                inputs=(DatasetVersion(dataset=DatasetRef("file", a), classification=c),),
                outputs=(DatasetVersion(dataset=DatasetRef("file", b), classification=c),)),
                trusted=False)


def test_show_draws_every_hop_of_a_deep_chain_in_a_narrow_terminal(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Rich cut a tree nested deeper than the terminal is wide: at 80 columns a 60-hop chain
    showed about 20 hops and not the origin, without a word. It continues below instead."""
    from rich.console import Console

    from lacuna.cli import lineage as cli_lineage

    monkeypatch.setattr(cli_lineage, "console", Console(width=80, no_color=True))
    url = f"sqlite:///{tmp_path / 'state.db'}"
    names = [f"/data/hop{i:02}.csv" for i in range(61)]
    _chain(url, names)
    out = runner.invoke(app, ["lineage", "show", names[-1], "--db", url])
    assert out.exit_code == 0, out.output
    assert all(name in out.output for name in names)
    assert "continued below" in out.output
    assert max(len(line) for line in out.output.splitlines()) <= 80


def test_show_text_draws_a_chain_deeper_than_pythons_stack() -> None:
    """Deeper than about 1,000 hops the recursive drawing raised RecursionError."""
    from lacuna.cli.lineage import to_trees
    from lacuna.lineage.graph import Direction, LineageEdge, LineageGraph

    refs = [DatasetRef("file", f"/d/{i}") for i in range(1100)]
    graph = LineageGraph(root=refs[0], direction=Direction.UPSTREAM,
                         nodes=dict.fromkeys(refs), depths={r: i for i, r in enumerate(refs)},
                         edges=tuple(LineageEdge(parent=b, child=a, run_id="r")
                                     for a, b in itertools.pairwise(refs)))
    trees = to_trees(graph, width=200)
    labels, todo = [], list(trees)
    while todo:
        tree = todo.pop()
        labels.append(str(tree.label).split()[0])
        todo += tree.children
    assert set(labels) >= {str(r) for r in refs}


def test_dot_and_mermaid_quote_names_and_run_ids(tmp_path: Path) -> None:
    """A file's name or an ingested run id holding a backslash, a quote or a line break
    ended DOT's quoted label early: the rest was read as DOT (another node relabelled)."""
    import re

    url = f"sqlite:///{tmp_path / 'state.db'}"
    hostile = '/d/x\\"]; n1 [label="PUBLIC'
    _chain(url, [hostile, "/d/a\nb<img src=x>#quot;.csv", "/d/out.csv"],
           run_ids=['r"];evil', "r2\\"])
    dot = runner.invoke(app, ["lineage", "show", "/d/out.csv", "--db", url, "--format", "dot"])
    assert dot.exit_code == 0, dot.output
    quoted = r'"(?:[^"\\\n]|\\.)*"'
    body = dot.output.splitlines()[3:-1]
    assert len(body) == 5
    for line in body:
        assert re.fullmatch(rf"  n\d+( -> n\d+)? \[label={quoted}\];", line), line
    assert 'x\\\\\\"]; n1 [label=\\"PUBLIC' in dot.output
    mermaid = runner.invoke(app, ["lineage", "show", "/d/out.csv", "--db", url, "--format",
                                  "mermaid"]).output
    assert "<img" not in mermaid
    assert "#35;quot;" in mermaid
    assert all(re.fullmatch(r'  n\d+\["[^"\n]*"\]|  n\d+ --> n\d+', line)
               for line in mermaid.splitlines()[1:])


@pytest.mark.parametrize("command", [["show", "x.csv"], ["impact", "x.csv"], ["runs"],
                                     ["completeness"], ["import", "events.jsonl"]])
def test_reading_commands_never_write_lineage_tables_into_another_database(
        tmp_path: Path, command: list[str]) -> None:
    """``--db`` naming a warehouse (or any SQLite file that is not Lacuna's) created some 30
    lacuna_* tables in it, though these commands only read (import writes, but to Lacuna's
    state database, not into a warehouse); an empty file stays empty."""
    import sqlite3

    warehouse = tmp_path / "warehouse.db"
    with sqlite3.connect(warehouse) as con:
        con.execute("CREATE TABLE customers (email TEXT)")
    before = warehouse.read_bytes()
    out = runner.invoke(app, ["lineage", *command, "--db", f"sqlite:///{warehouse}"])
    assert out.exit_code == 2, out.output
    assert "is not Lacuna's state database" in out.output
    assert "customers" in out.output
    assert warehouse.read_bytes() == before
    if command[0] == "import":  # a write, refused only in another database
        (tmp_path / "events.jsonl").write_text("")
        new = tmp_path / "new" / "state.db"
        out = runner.invoke(app, ["lineage", *command, "--db", f"sqlite:///{new}"])
        assert (out.exit_code, new.is_file()) == (0, True), out.output
        return
    empty = tmp_path / "empty.db"
    empty.touch()
    out = runner.invoke(app, ["lineage", *command, "--db", f"sqlite:///{empty}"])
    assert out.exit_code == (1 if command[0] in ("show", "runs") else 0), out.output
    assert empty.stat().st_size == 0


def test_show_text_draws_a_wide_fan_in_in_linear_time() -> None:
    """Each node looked up its parents among all edges: a run of 10,000 inputs took 23 s to
    draw (20,000: about 90 s), JSON 3 s. Now one pass over the edges."""
    import time

    from lacuna.cli.lineage import to_trees
    from lacuna.lineage.graph import Direction, LineageEdge, LineageGraph
    from lacuna.lineage.records import ColumnEdge

    out = DatasetRef("file", "/out")
    refs = [DatasetRef("file", f"/src/{i:05}") for i in range(20_000)]
    graph = LineageGraph(
        root=out, direction=Direction.UPSTREAM, nodes=dict.fromkeys([out, *refs]),
        depths={out: 0, **dict.fromkeys(refs, 1)},
        edges=tuple(LineageEdge(parent=r, child=out, run_id="r") for r in refs),
        column_edges=tuple(ColumnEdge(source=r, source_column="a", target=out,
                                      target_column=f"c{i}") for i, r in enumerate(refs)))
    started = time.monotonic()
    (tree,) = to_trees(graph, columns=True, width=200)
    assert time.monotonic() - started < 10
    assert len(tree.children) == 40_000  # 20,000 column edges, then 20,000 parents
    assert str(tree.children[-1].label).startswith("/src/19999")


def test_a_file_url_is_recorded_as_the_file_it_names(tmp_path: Path) -> None:
    """pyarrow writes file:///d/sub/../out%20x.parquet as /d/out x.parquet, but its lineage
    was kept under the URL's text: `lacuna lineage show` of the file found none."""
    shutil.copy(resources.files("lacuna") / "data" / "customers.csv", tmp_path / "customers.csv")
    url = f"file://{tmp_path}/sub/../copy%20x.csv"
    assert DatasetRef.of(url) == DatasetRef.of(tmp_path / "copy x.csv")
    assert DatasetRef.of("file://localhost/tmp/y.csv") == DatasetRef("file", "/tmp/y.csv")
    # another host's file is not the local file of the same path (it took its declaration)
    assert DatasetRef.of("file://nas/tmp/y.csv") == DatasetRef("file://nas", "/tmp/y.csv")
    lacuna.register_lineage(source="customers.csv", destination=url, operation="copy")
    out = runner.invoke(app, ["lineage", "show", str(tmp_path / "copy x.csv"), "--format",
                              "json"])
    assert out.exit_code == 0, out.output
    assert str(tmp_path / "customers.csv") in {n["dataset"] for n in json.loads(out.output)[
        "nodes"]}
