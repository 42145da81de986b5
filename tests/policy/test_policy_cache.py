"""Decision caching: keyed on what policies read, never for non-deterministic bundles."""

from __future__ import annotations

from dataclasses import replace

from lacuna.config import Config
from lacuna.model import Action, Classification, Operation, Tier, User
from lacuna.policy import PolicyEngine
from lacuna.policy.cache import DecisionCache

HEAD = "import rego.v1\n\n"


def op(**kw) -> Operation:
    return Operation(action=Action.READ, user=User(id="alice"),
                     classification=Classification(tier=Tier.INTERNAL), **kw)


def test_cache_hit_gives_the_same_decision_for_a_new_operation() -> None:
    engine = PolicyEngine.from_config(Config())
    first, second = op(code_location="a.py:1"), op(code_location="b.py:9")
    d1 = engine.decide(first)
    d2 = engine.decide(second)
    assert engine.cache is not None
    assert (engine.cache.hits, engine.cache.misses) == (1, 1)
    assert d2.operation_id == second.id
    assert d2.operation is second
    assert replace(d2, operation_id=d1.operation_id, eval_ms=d1.eval_ms) == d1


def test_cache_key_keeps_only_what_policies_read(write_bundle) -> None:
    body = ('allow if input.user.role == "x"\n'
            'deny contains t if { some t in input.source.tags; t == "Z" }\n')
    root = write_bundle({"p.rego": f"package p\n\n{HEAD}{body}"})
    cache = PolicyEngine(root).cache
    assert cache is not None
    doc = {"action": "read", "user": {"role": "x", "id": "alice"},
           "source": {"tags": ["A"], "names": ["a.csv"]}, "context": {"code_location": "x"}}
    other = {**doc, "user": {"role": "x", "id": "bob"}, "context": {"code_location": "y"}}
    assert cache.key(doc) == cache.key(other)
    assert cache.key(doc) != cache.key({**doc, "source": {"tags": ["Z"]}})
    assert cache.key(doc) != cache.key({**doc, "action": "export"})


def test_cache_keys_on_everything_when_a_policy_reads_input_whole(write_bundle) -> None:
    root = write_bundle({"p.rego": f"package p\n\n{HEAD}allow if count(input) > 1\n"})
    cache = PolicyEngine(root).cache
    assert cache is not None
    assert cache.key({"a": 1}) != cache.key({"a": 2})


def test_cache_is_off_for_non_deterministic_builtins(write_bundle) -> None:
    body = "allow if time.now_ns() > 0\n"
    engine = PolicyEngine(write_bundle({"lib/t.rego": f"package p\n\n{HEAD}{body}"}))
    assert engine.cache is None
    assert [(line, name) for _, line, name in engine.nondeterministic] == [(5, "time.now_ns")]
    assert engine.evaluate({"action": "read"}).allowed


def test_cache_never_keeps_engine_failures(write_bundle) -> None:
    body = "allow if { 1 / input.n == 1 }\n"
    engine = PolicyEngine(write_bundle({"d.rego": f"package d\n\n{HEAD}{body}"}))
    assert engine.evaluate({"action": "read", "n": 0}).engine_error
    assert engine.evaluate({"action": "read", "n": 0}).engine_error
    assert engine.cache is not None
    assert len(engine.cache) == 0


def test_cache_drops_least_recently_used_entries() -> None:
    from lacuna.model import Decision

    cache = DecisionCache(None, size=2)
    d = Decision(allowed=True, operation_id="", reasoning="r")
    for key in ("a", "b"):
        cache.put(key, d)
    assert cache.get("a") is d  # a is now the most recent
    cache.put("c", d)
    assert cache.get("b") is None
    assert cache.get("a") is d
    assert len(cache) == 2


def test_cache_can_be_turned_off() -> None:
    engine = PolicyEngine.from_config(Config(), cache_size=0)
    assert engine.cache is None
    assert engine.decide(op()).allowed
