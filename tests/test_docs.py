"""Every docstring example in the package runs (sqlglot's test_docs, httpx's doctests)."""

from __future__ import annotations

import doctest
import importlib
import pkgutil
import re
import shlex
from pathlib import Path
from typing import Any, get_args

import pytest
import yaml

import lacuna

MODULES = sorted(
    m.name for m in pkgutil.walk_packages(lacuna.__path__, "lacuna.")
    if not m.name.startswith(("lacuna.cli", "lacuna.demo"))
)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name, governed):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{result.failed} docstring example(s) failed in {name}"


# --- The prose docs against the code: commands, settings and endpoints they show ------------

ROOT = Path(__file__).resolve().parents[1]
DOC_FILES = sorted([ROOT / "README.md", *(ROOT / "docs").glob("*.md")])
# lacuna.yaml examples in these files are validated whole (other docs also show dbt, Floe and
# server files in ```yaml blocks).
CONFIG_DOCS = ["README.md", "docs/config.md", "docs/exceptions.md", "docs/audit.md",
               "docs/policies.md", "docs/pandas.md", "docs/metrics.md", "docs/retention.md",
               "docs/server.md"]
_FENCE = re.compile(r"^\s*```")
_ENV_PREFIX = r"(?:[A-Z_]+=\S+\s+)*"


def doc_commands(text: str) -> list[tuple[int, str]]:
    """Every ``lacuna …`` command a Markdown text shows: shell lines in code blocks (``$ ``,
    ``VAR=value`` prefixes and ``\\`` continuations allowed) and inline code spans."""
    out: list[tuple[int, str]] = []
    lines = text.splitlines()
    in_code, i = False, 0
    while i < len(lines):
        line, number = lines[i], i + 1
        if _FENCE.match(line):
            in_code = not in_code
        elif in_code:
            m = re.match(rf"^\s*(?:\$\s+)?{_ENV_PREFIX}(lacuna\s+.*)$", line)
            if m:
                command = m.group(1)
                while command.rstrip().endswith("\\") and i + 1 < len(lines):
                    i += 1
                    command = command.rstrip()[:-1] + " " + lines[i].strip()
                out.append((number, command))
        else:
            out += [(number, m.group(1)) for m in
                    re.finditer(rf"`{_ENV_PREFIX}(lacuna\s+[^`]+)`", line)]
        i += 1
    return out


def command_problem(root: Any, command: str) -> str | None:
    """Why ``command`` (as a doc writes it: ``[--opt]``, ``a|b``, ``…``) is not in the CLI."""
    command = re.split(r"\s+#\s", command)[0]
    try:
        tokens = shlex.split(command)[1:]
    except ValueError:
        tokens = command.split()[1:]
    node, path, params = root, ["lacuna"], list(root.params)
    while hasattr(node, "commands"):
        word = tokens[0] if tokens else ""
        names = [w for w in re.split(r"[｜|/]", word) if w]
        if names and not word.startswith(("-", "[")) and word not in ("...", "…"):
            missing = [n for n in names if n not in node.commands]
            if missing:
                if node.invoke_without_command:
                    break
                return f"`{' '.join(path)}` has no command {missing[0]!r}"
            tokens.pop(0)
            path.append(names[0])
            node = node.commands[names[0]]
            params += node.params
            continue
        if not node.invoke_without_command:  # `lacuna audit --db`: an option of its commands
            params += [p for sub in node.commands.values() for p in sub.params]
        break
    known = {o for p in params for o in (*p.opts, *p.secondary_opts)} | {"--help"}
    given = set()
    for token in tokens:
        for part in re.split(r"[\[\]|｜]", token):
            m = re.match(r"^(--?[A-Za-z][\w-]*)(=.*)?$", part)
            if m and m.group(1) not in known:
                return f"`{' '.join(path)}` has no option {m.group(1)}"
            if m:
                given.add(m.group(1))
    # a whole invocation (arguments or options shown, not elided with …) names the options it
    # cannot run without: `lacuna users add NAME --replace` is refused for want of --role
    whole = tokens and not hasattr(node, "commands") and not any(
        t in ("...", "…") or t.endswith("…") for t in tokens)
    for p in node.params if whole else ():
        if p.param_type_name == "option" and p.required and not given & set(p.opts):
            return f"`{' '.join(path)}` needs {p.opts[0]}"
    return None


@pytest.mark.parametrize("doc", DOC_FILES, ids=lambda p: p.name)
def test_cli_commands_in_docs_exist(doc: Path) -> None:
    """Every `lacuna <group> <command> [--option]` a doc shows is in the CLI."""
    import typer

    from lacuna.cli import app

    root = typer.main.get_command(app)
    text = doc.read_text("utf-8")
    problems = [f"{doc.name}:{n}: {why}: {c}" for n, c in doc_commands(text)
                if (why := command_problem(root, c))]
    assert not problems, "\n".join(problems)


def test_cli_commands_in_messages_exist() -> None:
    """Every `lacuna …` command Lacuna's own messages quote (a denial's how-to-fix, a report
    hint, --help text) is in the CLI: a fail-closed denial asked for `lacuna --version`, which
    was 'No such option'."""
    import typer

    from lacuna.cli import app

    root = typer.main.get_command(app)
    problems, seen = [], 0
    for path in sorted((ROOT / "src" / "lacuna").rglob("*.py")):
        text = path.read_text("utf-8")
        for m in re.finditer(rf"`{_ENV_PREFIX}(lacuna\s+[^`{{}}\n]+)`", text):
            seen += 1
            if why := command_problem(root, m.group(1)):
                line = text[:m.start()].count("\n") + 1
                problems.append(f"{path.relative_to(ROOT)}:{line}: {why}: {m.group(1)}")
    assert seen > 100  # the scan finds them (about 200)
    assert not problems, "\n".join(problems)


def _yaml_blocks(text: str) -> list[tuple[int, str]]:
    return [(text[:m.start()].count("\n") + 2, m.group(1))
            for m in re.finditer(r"^```ya?ml\n(.*?)^```", text, re.S | re.M)]


@pytest.mark.parametrize("name", CONFIG_DOCS)
def test_config_examples_in_docs_validate(name: str, tmp_path: Path) -> None:
    """Every lacuna.yaml example validates (unknown keys and bad values are errors); the
    server settings example in docs/server.md validates as server settings."""
    from lacuna.config import Config, config_from_dict
    from lacuna.sections import validate_section
    from lacuna.server.settings import ServerSettings

    problems = []
    for line, block in _yaml_blocks((ROOT / name).read_text("utf-8")):
        data = yaml.safe_load(block)
        pdir = (data.get("policy") or {}).get("dir") if isinstance(data, dict) else None
        if isinstance(pdir, str):
            (tmp_path / pdir).mkdir(parents=True, exist_ok=True)  # the example's folder
        try:
            if isinstance(data, dict) and set(data) - set(Config.model_fields) \
                    and set(data) <= set(ServerSettings.model_fields):
                validate_section(ServerSettings, data, title="server settings")
            else:
                config_from_dict(data)
        except Exception as exc:  # every failure is the doc's problem
            problems.append(f"{name}:{line}: {type(exc).__name__}: {exc}")
    assert not problems, "\n".join(problems)


def _setting_paths(model: Any, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    from lacuna.sections import Section

    out = []
    for key, field in model.model_fields.items():
        if (key == "source" and not prefix) or (prefix, key) == (("datasets",), "entries"):
            continue  # set by the loader; datasets' other keys are the entries
        out.append((*prefix, key))
        for arg in (field.annotation, *get_args(field.annotation)):
            if isinstance(arg, type) and issubclass(arg, Section):
                out += _setting_paths(arg, (*prefix, key))
    return out


def test_config_reference_names_every_setting() -> None:
    """docs/config.md's reference shows every setting of lacuna.yaml's models (as `key:`,
    commented or not)."""
    from lacuna.config import Config

    text = (ROOT / "docs/config.md").read_text("utf-8")
    reference = text.split("## Reference (with defaults)", 1)[1]
    missing = [".".join(p) for p in _setting_paths(Config)
               if not re.search(rf"(^|[\s{{,#(]){re.escape(p[-1])}[:,}}]", reference, re.M)]
    assert not missing, f"settings missing from docs/config.md's reference: {missing}"


def test_server_endpoint_table_matches_routes() -> None:
    """docs/server.md's endpoint table lists exactly the server's API routes."""
    from lacuna.server.app import create_app

    routes = {(method.upper(), re.sub(r"\{[^}]+\}", "{}", path))
              for path, ops in create_app().openapi()["paths"].items() for method in ops}
    text = (ROOT / "docs/server.md").read_text("utf-8")
    documented = set()
    for row in re.findall(r"^\| (`(?:GET|POST|PUT|DELETE|PATCH) .*?) \|", text, re.M):
        last = documented_last = ""
        for m in re.finditer(r"`(?:(GET|POST|PUT|DELETE|PATCH) )?(/[^`]*)`", row):
            method, path = m.group(1) or last, m.group(2)
            if not m.group(1):  # `/downstream`: beside the previous path
                path = documented_last.rsplit("/", 1)[0] + path
            last, documented_last = method, path
            documented.add((method, re.sub(r"\{[^}]+\}", "{}", path)))
    assert documented - routes == set(), f"documented, not served: {documented - routes}"
    assert routes - documented == set(), f"served, not documented: {routes - documented}"


def test_readme_first_example_prints_what_its_comments_say(governed, monkeypatch, capsys):
    """README's opening snippet, run as written on the bundled samples (under the sandbox's
    configuration: its lacuna.enable() is that one): the printed lines are its comments'
    values and the export to ~/Downloads is refused with nothing written."""
    monkeypatch.setenv("HOME", str(governed))
    text = (ROOT / "README.md").read_text("utf-8")
    code = text.split("```python\n", 1)[1].split("```", 1)[0]
    assert "lacuna.enable()\n" in code
    printed = [m.group(1) for m in re.finditer(r"#\s+(PROPRIETARY|\[.*?\])", code)]
    with pytest.raises(lacuna.GovernanceViolation, match="Cannot export PROPRIETARY"):
        exec(compile(code.replace("lacuna.enable()\n", "\n"), "README.md", "exec"), {})
    assert capsys.readouterr().out.splitlines() == printed
    assert not (governed / "Downloads" / "customers.csv").exists()
