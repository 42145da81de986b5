"""Policy source regorus cannot read safely is refused before it sees it: brackets nested so
deep that its backtracking parser takes exponential time (2x per level), and functions that
call themselves (regorus recurses until the process dies with a segmentation fault)."""

from __future__ import annotations

import time

import pytest

from lacuna.errors import PolicyError
from lacuna.policy import PolicyEngine
from lacuna.policy.nesting import MAX_NESTING, MAX_WEIGHT, check_nesting

ALLOW = "package p\nimport rego.v1\nallow if true\n"


def _nested(depth: int) -> str:
    return '{"a": ' * depth + "1" + "}" * depth


def test_server10_a_literal_nested_past_the_limit_is_refused_with_its_place(
        write_bundle) -> None:
    """16 levels parsed in ~0.1 s before (22 levels: 5 s, each level twice the last); now
    refused before the parser runs, naming file, line and column of the bracket past the
    limit. The limit itself loads."""
    ok = write_bundle({"p.rego": f"{ALLOW}x := {_nested(MAX_NESTING)}\n"})
    assert PolicyEngine(ok, cache_size=0).packages[0].name == "p"
    deep = write_bundle({"p.rego": f"{ALLOW}# [[[[ a comment\nx := {_nested(16)}\n"})
    started = time.process_time()
    with pytest.raises(PolicyError) as caught:
        PolicyEngine(deep, cache_size=0)
    assert time.process_time() - started < 0.5
    err = caught.value
    assert (err.path, err.line, err.column) == (str(deep / "p.rego"), 5, 6 + 6 * MAX_NESTING)
    assert f"nested {MAX_NESTING + 1} deep" in str(err)
    assert str(err).startswith(f"{deep / 'p.rego'}:5:{6 + 6 * MAX_NESTING}: ")


def test_server10_brackets_in_strings_and_comments_do_not_count() -> None:
    """Only code counts: a string, a raw string over two lines and a comment full of brackets
    pass; the line and column of a real bracket after them are still right."""
    many = "[" * 40
    source = (f'package p\nx := "{many}\\"{many}"\ny := `{many}\n{many}`\n# {many}\n'
              f"z := {'[' * (MAX_NESTING + 1)}")
    with pytest.raises(PolicyError) as caught:
        check_nesting(source, "p.rego")
    assert (caught.value.line, caught.value.column) == (6, 6 + MAX_NESTING)
    check_nesting(source.rsplit("\n", 1)[0], "p.rego")


def test_server10_many_literals_just_under_the_limit_weigh_too_much() -> None:
    """Each literal 12 deep costs ~5 ms: a file of hundreds of them was seconds. The weight
    (2**depth per bracket) refuses the file past MAX_WEIGHT, not before."""
    per = sum(2 ** d for d in range(1, MAX_NESTING + 1))
    fits = MAX_WEIGHT // per
    source = "package p\n" + "".join(f"x{i} := {'[' * MAX_NESTING}{']' * MAX_NESTING}\n"
                                    for i in range(fits + 1))
    with pytest.raises(PolicyError, match="weigh more than"):
        check_nesting(source, "p.rego")
    check_nesting(source.rsplit("x", 1)[0], "p.rego")  # one literal fewer: fits


def test_server10_a_function_calling_itself_is_refused_before_it_runs(write_bundle) -> None:
    """``f(x) := f(x)`` crashed the process (SIGSEGV) at its first evaluation; a cycle over
    two files, through an import alias and an ``else``, as well. Refused with file and
    line; functions that only call others (the same name in another package too) load."""
    own = write_bundle({"p.rego": f"{ALLOW}f(x) := f(x)\n"})
    with pytest.raises(PolicyError, match=r"function p\.f calls itself \(p\.f -> p\.f\)") as c:
        PolicyEngine(own, cache_size=0)
    assert (c.value.path, c.value.line) == (str(own / "p.rego"), 4)
    cycle = write_bundle({
        "p.rego": ("package p\nimport rego.v1\nimport data.q as other\nallow if true\n"
                   "f(x) := 1 if { x > 1 } else := other.g(x)\n"),
        "q.rego": "package q\nimport rego.v1\ng(x) := [y | y := data.p.f(x)]\n"})
    with pytest.raises(PolicyError, match=r"p\.f -> q\.g -> p\.f") as c:
        PolicyEngine(cycle, cache_size=0)
    assert (c.value.path, c.value.line) == (str(cycle / "p.rego"), 5)
    fine = write_bundle({  # by its full path: regorus resolves no call through an import
        "p.rego": ("package p\nimport rego.v1\nallow if true\n"
                   "f(x) := data.q.f(x) + 1\nv := f(1)\n"),
        "q.rego": "package q\nimport rego.v1\nf(x) := x * 2\n"})
    engine = PolicyEngine(fine, cache_size=0)
    assert engine.evaluate({"action": "read"}).allowed is True


def test_server10_a_test_files_recursive_function_is_refused_when_tests_run(
        write_bundle) -> None:
    """Test files never reach decisions, so they are checked when they run (``lacuna policy
    test``, which regorus crashed) and by ``lacuna policy check``, not on every read."""
    from lacuna.policy.check import check_bundle

    root = write_bundle({"p.rego": ALLOW, "p_test.rego": (
        "package p_test\nimport rego.v1\nhelper(x) := helper(x)\n"
        "test_allow if data.p.allow\n")})
    engine = PolicyEngine(root, cache_size=0)  # decisions never see the test file
    with pytest.raises(PolicyError, match=r"function p_test\.helper calls itself"):
        engine.run_tests()
    report = check_bundle(root)
    assert [str(e) for e in report.errors if "helper calls itself" in str(e)], report.errors


@pytest.mark.parametrize(("source", "defines"), [
    ("f(x) := 1", True), ("  default f(_) := false", True), ("a if { true } f(x) := 1", True),
    ("a.b.f(x) = y { y := 1 }", True), ("x := f(1)", False),
    ('r contains sprintf("%s", [1]) if true', False), ('x := "f(1)"\n# f(x)', False),
])
def test_server10_which_files_may_define_a_function(source, defines) -> None:
    """Only files that may define a function are parsed again for the cycle check (a rule
    whose value is a call is not one: the default bundle's files are not parsed again)."""
    from lacuna.policy.recursion import may_define_function

    assert may_define_function(f"package p\n{source}\n") is defines
