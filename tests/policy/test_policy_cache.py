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


def test_a_bundles_analysis_is_reused_only_for_the_same_modules_and_data(tmp_path) -> None:
    """A new engine over the same modules and data reuses the first one's analysis (packages,
    metadata, input paths); any change to a file, a file's place or the data is analysed anew,
    and malformed metadata is refused every time, never remembered as fine."""
    import pytest

    from lacuna.errors import PolicyError

    root = tmp_path / "bundle"
    root.mkdir()
    rule = (f"package p\n\n{HEAD}metadata := {{\"severity\": \"high\"}}\n\n"
            "deny contains \"no\" if input.x\n")
    (root / "p.rego").write_text(rule)
    first = PolicyEngine(root)
    again = PolicyEngine(root)
    assert again.packages == first.packages
    assert again.packages[0] is first.packages[0]  # shared, not walked again
    assert again.packages[0].metadata["severity"] == "high"

    (root / "p.rego").write_text(rule.replace("high", "low").replace("input.x", "input.y"))
    edited = PolicyEngine(root)
    assert edited.packages[0].metadata["severity"] == "low"
    assert edited.cache is not None
    assert edited.cache.key({"y": 1}) != edited.cache.key({"y": 2})
    assert first.cache is not None
    assert first.cache.key({"y": 1}) == first.cache.key({"y": 2})

    moved = tmp_path / "moved"
    moved.mkdir()
    (moved / "q.rego").write_text(rule)
    assert PolicyEngine(moved).packages[0].files != first.packages[0].files

    other_data = PolicyEngine(root, settings={"docs_url": "https://docs.example/"})
    assert other_data.packages[0] is not edited.packages[0]

    (root / "p.rego").write_text(rule.replace('{"severity": "high"}', '"not an object"'))
    for _ in range(2):
        with pytest.raises(PolicyError, match="metadata"):
            PolicyEngine(root)
