"""A bundle regorus compiles but cannot evaluate is refused when it is read (server12).

A call of a function that is neither a builtin nor defined, a call through an import, and a
comprehension in the head of a rule that has a body each compiled, and then failed every
evaluation reaching them: every decision of the package was denied as "the policy engine
failed" (every read, here). Uploads were refused for the same (server11); a bundle now is too,
by the same check (:mod:`lacuna.policy.evaluable`), with file, line and the rewrite, at
``lacuna policy check``, ``enable()``/a server's start (``PolicyEngine``) and reload."""

from __future__ import annotations

import time

import pytest

from lacuna.errors import PolicyError
from lacuna.policy import PolicyEngine
from lacuna.policy.check import check_bundle

HEAD = ('package p\nimport rego.v1\n'
        'metadata := {"id": "P-12", "title": "t", "owner": "o", "version": "1", '
        '"actions": ["read"]}\nallow := true\n')
LIB = {"lib.rego": 'package lib\nimport rego.v1\nf(x) if x == "mallory"\n'}

# (files with the problem, the same with the rewrite the message gives, the message's start)
CASES = {
    "unknown function": (
        {"p.rego": HEAD + 'deny contains "no" if net.lookup_ip_addr(input.user.id)\n'},
        {"p.rego": HEAD + 'deny contains "no" if input.user.id == "mallory"\n'},
        "p.rego:5:23: could not find function net.lookup_ip_addr: it is neither a builtin"),
    "call through an import": (
        {**LIB, "p.rego": HEAD.replace("import rego.v1\n", "import rego.v1\nimport data.lib\n")
         + 'deny contains "no" if lib.f(input.user.id)\n'},
        {**LIB, "p.rego": HEAD + 'deny contains "no" if data.lib.f(input.user.id)\n'},
        "p.rego:6:23: could not find function lib.f: the embedded engine does not resolve a "
        "function through an import; call it by its full path, data.lib.f(...)"),
    "comprehension in a head": (
        {"p.rego": HEAD + 'ids := [u | some u in input.blocked] if input.action == "read"\n'
         'deny contains "no" if input.user.id in ids\n'},
        {"p.rego": HEAD + 'ids := v if { input.action == "read"; v := [u | some u in '
         'input.blocked] }\ndeny contains "no" if input.user.id in ids\n'},
        "p.rego:5:8: the embedded engine cannot evaluate a comprehension in the head of a rule "
        "that has a body"),
}


def _read(user: str) -> dict[str, object]:
    return {"action": "read", "user": {"id": user}, "blocked": ["mallory"]}


@pytest.mark.parametrize("case", sorted(CASES))
def test_server12_a_bundle_regorus_cannot_evaluate_is_refused_at_load(write_bundle,
                                                                      case) -> None:
    bad, fixed, says = CASES[case]
    root = write_bundle(bad)
    with pytest.raises(PolicyError) as info:
        PolicyEngine(root, cache_size=0)  # what enable() and a server's start build
    assert str(info.value).startswith(f"{root}/{says}"), str(info.value)
    assert (info.value.path, info.value.line) == (str(root / "p.rego"),
                                                  int(says.split(":")[1]))
    report = check_bundle(root)  # lacuna policy check
    assert not report.ok
    assert [str(e).startswith(f"{root}/{says}") for e in report.errors] == [True]
    # the rewrite the message gives loads and decides both ways
    engine = PolicyEngine(write_bundle(fixed), cache_size=0)
    assert engine.evaluate(_read("alice")).allowed is True
    denied = engine.evaluate(_read("mallory"))
    assert denied.allowed is False
    assert "engine failed" not in denied.reasoning


def test_server12_a_reload_into_such_a_bundle_keeps_the_old_one(write_bundle) -> None:
    """A server's reload (the policy watcher) refuses the change; decisions go on with the
    bundle that loaded, rather than denying every read from the reload on."""
    bad, fixed, _ = CASES["unknown function"]
    root = write_bundle(fixed)
    engine = PolicyEngine(root, cache_size=0)
    revision = engine.revision
    (root / "p.rego").write_text(bad["p.rego"], encoding="utf-8")
    with pytest.raises(PolicyError, match=r"could not find function net\.lookup_ip_addr"):
        engine.reload()
    assert engine.revision == revision
    assert engine.evaluate(_read("alice")).allowed is True
    (root / "p.rego").write_text(fixed["p.rego"] + "# edited\n", encoding="utf-8")
    assert engine.reload() != revision


def test_server12_a_test_file_may_call_what_its_bundle_defines_only_in_tests(
        write_bundle) -> None:
    """``*_test.rego`` files never decide: not checked at load (a call they make that fails
    fails their test when it runs), so a bundle with a broken test still decides."""
    root = write_bundle({**CASES["unknown function"][1],
                         "p_test.rego": ("package p_test\nimport rego.v1\n"
                                         "test_x if net.lookup_ip_addr(\"x\")\n")})
    assert PolicyEngine(root, cache_size=0).evaluate(_read("alice")).allowed is True


def test_server12_a_policy_calling_a_test_files_function_is_refused(write_bundle) -> None:
    """A test file's functions are not loaded for decisions: a policy calling one (by its
    full path, or from a test file of its own package) was accepted, its definition found in
    the test file, and failed every decision reaching it."""
    for caller, test_package in (("data.p_test.blocked", "p_test"), ("blocked", "p")):
        root = write_bundle({"p.rego": HEAD + f'deny contains "no" if {caller}(input.user.id)\n',
                             "p_test.rego": (f"package {test_package}\nimport rego.v1\n"
                                             'blocked(x) if x == "mallory"\n'
                                             "test_allow if data.p.allow\n")})
        with pytest.raises(PolicyError) as info:
            PolicyEngine(root, cache_size=0)
        assert str(info.value).startswith(
            f"{root}/p.rego:5:23: could not find function {caller}: it is neither a builtin of "
            "the embedded engine nor a function of the policies (a *_test.rego file's are "
            "loaded only to test)"), str(info.value)
    moved = write_bundle({"p.rego": HEAD + 'deny contains "no" if blocked(input.user.id)\n'
                          'blocked(x) if x == "mallory"\n'})
    engine = PolicyEngine(moved, cache_size=0)
    assert engine.evaluate(_read("alice")).allowed is True
    assert engine.evaluate(_read("mallory")).allowed is False


def test_server12_a_decision_on_the_bundle_before_a_reload_stops_no_newer_worker(
        write_bundle, monkeypatch) -> None:
    """With ``policy.isolation: process``: a decision still on the bundle before a reload
    closed the new bundle's worker (the next decision started it again, or, now that a closed
    worker stays closed, was denied), and a decision whose worker was closed under it started
    a worker nothing stopped. Now each answers, and the newer worker keeps running."""
    from lacuna.policy.engine import IsolatedEvaluator

    root = write_bundle(CASES["unknown function"][1])
    engine = PolicyEngine(root, cache_size=0, isolation="process")
    before = engine._state
    assert engine.evaluate(_read("alice")).allowed is True
    first = engine._evaluator(before)
    (root / "p.rego").write_text(HEAD + 'deny contains "no" if input.user.id == "alice"\n',
                                 encoding="utf-8")
    engine.reload()
    assert engine.evaluate(_read("alice")).allowed is False  # the new bundle, its own worker
    newer = engine._evaluator(engine._state)
    assert newer is not first
    assert newer.running
    assert not first.running
    real = type(engine)._evaluator
    handed: list[IsolatedEvaluator] = []

    def racing(self, state):  # the first ask gets the worker the reload's decision closed
        handed.append(first if not handed else real(self, state))
        return handed[-1]

    monkeypatch.setattr(type(engine), "_evaluator", racing)
    late = engine._decide_isolated(before, _read("alice"), "op", None, time.perf_counter())
    monkeypatch.undo()
    assert late.allowed is True, late.reasoning  # the bundle it began with
    assert len(handed) == 2
    assert not first.running
    assert newer.running  # not closed by the older bundle's decision
    assert engine.evaluate(_read("alice")).allowed is False
    assert engine._evaluator(engine._state) is newer
    for evaluator in handed[1:]:
        evaluator.close()
