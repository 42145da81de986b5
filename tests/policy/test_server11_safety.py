"""Unsafe variables (bound nowhere) in Rego: OPA refuses them at compile time; regorus checks a
rule's body when it compiles but a head, a comprehension, a ``not`` or a ``some x`` never bound
only when it evaluates them, or never. :mod:`lacuna.policy.safety` refuses them first, with
OPA's wording and the line; what OPA accepts is accepted."""

from __future__ import annotations

import json

import pytest
from regorus import Engine

from lacuna.errors import PolicyError
from lacuna.policy.bundle import read_bundle
from lacuna.policy.safety import check_safety


def _ast(body: str) -> list:
    engine = Engine()
    engine.add_policy("p.rego", "package p\nimport rego.v1\n" + body + "\n")
    return json.loads(engine.get_ast_as_json())


def _evaluation_with_input(body: str) -> str:
    """What regorus does with the module: its error, or the package's value as JSON."""
    engine = Engine()
    engine.add_policy("p.rego", "package p\nimport rego.v1\n" + body + "\n")
    engine.set_input_json('{"a": true, "l": [1], "q": {"k": 1}}')
    try:
        return engine.eval_query_as_json("data.p.f(3)" if "f(" in body else "data.p")
    except RuntimeError as exc:
        return f"error: {exc}"


@pytest.mark.parametrize(("body", "var", "where"), [
    ("f(x) := y", "y", "3:9"),                                    # a function's result
    ("f([a, b]) := c", "c", "3:14"),                              # arguments bind a, b only
    ("f(x) := 1 if x > 1 else := y", "y", "3:28"),                # an else's value
    ("r := y if input.a", "y", "3:6"),                            # a rule's value
    ("r contains y if input.a", "y", "3:12"),                     # a set's term
    ("r[y] := 1 if input.a", "y", "3:3"),                         # a key
    ("r := {y: 1} if input.a", "y", "3:7"),
    ("r := [y | x := 1] if input.a", "y", "3:7"),                 # a comprehension's term
    ("r := [1 | y > 1] if input.a", "y", "3:11"),                 # a comprehension's body
    ("r := [[z | some y in x] | some x in input.l]", "z", "3:8"),  # nested
    ("r if { input.a; not input.q[y] }", "y", "3:29"),            # not binds nothing
    ("r contains x if { some x; input.a }", "x", "3:12"),         # declared, never bound
    ("r contains v if { input.a; every v in input.l { v > 0 } }", "v", "3:12"),
    ("r if { input.a; every v in input.l { v > q } }", "q", "3:42"),
    ("r contains v if { input.a; z := [v | v := 1] }", "v", "3:12"),
    ("default r := y", "y", "3:14"),
])
def test_server11_unsafe_variable_is_refused_with_opas_wording(body, var, where) -> None:
    with pytest.raises(PolicyError) as info:
        check_safety(_ast(body))
    assert str(info.value).startswith(f"p.rego:{where}: rego_unsafe_var_error: var {var} is "
                                      "unsafe")
    assert "does not compile" in str(info.value)
    assert info.value.line == 3


@pytest.mark.parametrize("body", [
    "f(x) := y if { y := x + 1 }",
    "f([a, b]) := a + b",
    "f(x) := 1 if x > 1 else := x",
    "r contains x if { input.q[x] }",
    "r contains x if { some x; input.q[x] }",
    "r if { t := 0; z := [x | some x in input.l; x > t]; count(z) > 0 }",
    "r contains p if { walk(input, [p, v]); v == 1 }",
    "r := [a, b] if { [a, b] = [input.a, 2] }",
    "r if { every k, v in input.q { v > count(k) } }",
    "r := y\ny := 1",
    "r contains x if { some x in input.l; not input.q[x] }",
    "r if { y := 2; z with input.a as y }\nz if input.a == 2",
    "r := {k: v | some k, v in input.q}",
    "r := [x | some x in input.l; x > t]\nt := 0",
])
def test_server11_bound_variables_are_accepted_and_evaluate(body) -> None:
    """The allowed path: each evaluates with input without an error."""
    check_safety(_ast(body))
    assert not _evaluation_with_input(body).startswith("error")


def test_server11_refused_modules_fail_or_differ_when_evaluated() -> None:
    """Why refusing matters: accepted, regorus fails on the first input that reaches them."""
    assert "var y is unsafe" in _evaluation_with_input("f(x) := y")
    assert "var y is unsafe" in _evaluation_with_input("r contains y if input.a")


def test_server11_a_bundle_with_an_unsafe_head_does_not_load(tmp_path) -> None:
    """A bundle file is checked as an upload is: ``f(x) := y`` loaded, then failed per call."""
    (tmp_path / "p.rego").write_text("package s11b\nimport rego.v1\nf(x) := y\n")
    with pytest.raises(PolicyError, match=r"p.rego:3:9: rego_unsafe_var_error: var y"):
        read_bundle(tmp_path)
    (tmp_path / "p.rego").write_text("package s11b\nimport rego.v1\nf(x) := x\n")
    assert [m.package for m in read_bundle(tmp_path).policy_modules] == ["s11b"]


def test_server11_a_bundle_calling_http_send_does_not_load(tmp_path) -> None:
    """regorus lists http.send but sends nothing: undefined, so the deny below never denied
    (OPA would have sent the request, or failed the decision)."""
    deny = ('package s11h\nimport rego.v1\ndeny contains "service down" if '
            'http.send({"method": "get", "url": "http://127.0.0.1:9/"}).status_code != 200\n')
    engine = Engine()
    engine.add_policy("p.rego", deny)
    assert json.loads(engine.eval_rule_as_json("data.s11h.deny")) == []
    (tmp_path / "p.rego").write_text(deny)
    with pytest.raises(PolicyError, match=r"p.rego:3:33: a policy may not call http.send: the "
                       "embedded engine sends no request"):
        read_bundle(tmp_path)
    (tmp_path / "p.rego").write_text(deny.replace(
        'http.send({"method": "get", "url": "http://127.0.0.1:9/"}).status_code',
        "input.status"))
    assert [m.package for m in read_bundle(tmp_path).policy_modules] == ["s11h"]
