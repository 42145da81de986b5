from dataclasses import replace

import pytest

from lacuna.classify import cascade as cascade_mod
from lacuna.classify import classify, from_config, layer_shares, statuses
from lacuna.classify.cache import AnswerCache, cache_key, from_dict, to_dict
from lacuna.classify.cascade import Cascade
from lacuna.classify.layers import CascadeLayer, LayerStatus
from lacuna.classify.shapes import shape, signature, top_shapes
from lacuna.errors import ConfigError
from lacuna.model import ColumnClass, ColumnKind, Evidence, Layer, Sensitivity


class StaticLayer(CascadeLayer):
    """A stand-in layer 2: answers every column with one fixed class and counts its calls."""

    name = "static-test"
    layer = Layer.EMBEDDING

    def __init__(self, answer):
        self.answer = answer
        self.calls = 0

    def status(self):
        return LayerStatus(self.name, True, "test layer is on")

    def decide(self, columns):
        self.calls += 1
        return [replace(self.answer, reasoning=f"test answer for {c.name}") for c in columns]


PHONE = ColumnClass(classification=ColumnKind.PII, pii_type="phone",
                    sensitivity=Sensitivity.HIGH, confidence=0.9, layer=Layer.EMBEDDING,
                    evidence=(Evidence(source="embedding", rule="embedding:phone",
                                       detail="close to 'phone number'", score=0.9),))


def cascade_with(layer, **cache):
    settings = from_config({"cache": cache or {"enabled": False}})
    c = Cascade(settings)
    c._active = (layer,)
    return c


def test_only_unsure_columns_go_to_the_next_layer():
    layer = StaticLayer(PHONE)
    c = cascade_with(layer)
    out = classify(["email", "telefonino_x", "qq"], cascade=False).columns
    result = c.run(dict(out), {})
    assert result["email"].layer is Layer.HEURISTIC  # confident: never asked
    assert result["qq"].pii_type == "phone"
    assert result["qq"].layer is Layer.EMBEDDING
    assert layer.calls == 1


def test_a_less_confident_answer_does_not_replace_the_current_one():
    weak = replace(PHONE, confidence=0.3)
    result = cascade_with(StaticLayer(weak)).run(
        dict(classify(["qq"], cascade=False).columns), {})
    assert result["qq"].layer is Layer.HEURISTIC


def test_value_evidence_is_never_weakened_by_a_later_layer():
    public = ColumnClass(confidence=0.99, layer=Layer.EMBEDDING, reasoning="a status")
    layer1 = classify({"notes": ["write to ada@example.org please"] * 3 + ["nothing"] * 20},
                      cascade=False).columns
    assert layer1["notes"].confidence < 0.8  # unsure enough to ask
    result = cascade_with(StaticLayer(public)).run(dict(layer1), {})
    assert result["notes"].pii_type == "email"
    assert "the sampled values outweigh it" in result["notes"].reasoning


def test_answers_are_cached_in_memory_and_in_the_state_store(tmp_path):
    url = f"sqlite:///{tmp_path / 'state.db'}"
    layer = StaticLayer(PHONE)
    first = cascade_with(layer, enabled=True, url=url)
    names = dict(classify(["qq", "zz"], cascade=False).columns)
    first.run(dict(names), {})
    first.run(dict(names), {})
    assert layer.calls == 1  # second time: memory
    other = StaticLayer(PHONE)
    again = cascade_with(other, enabled=True, url=url).run(dict(names), {})
    assert other.calls == 0  # a new process would find them in the state store
    assert again["qq"].pii_type == "phone"


def test_cache_keys_depend_on_value_shapes():
    import pandas as pd

    from lacuna.classify.scan import column_sample

    emails = column_sample("c", pd.Series(["ada@example.org"] * 3))
    names = column_sample("c", pd.Series(["Ada Lovelace"] * 3))
    assert signature(emails) != signature(names)
    assert cache_key("c", signature(emails), "f") != cache_key("c", signature(names), "f")
    assert top_shapes(names) == ("Aaa Aaaaa",)
    assert shape("4111 1111 1111 1111") == "9999 9999 9999 9999"
    assert signature(None) == "-"


def test_cache_bodies_round_trip_and_a_bad_store_falls_back_to_memory(tmp_path, caplog):
    assert from_dict(to_dict(PHONE)) == PHONE
    (tmp_path / "not-a-db").write_text("hello")
    cache = AnswerCache(f"sqlite:///{tmp_path / 'not-a-db'}")
    assert not cache.persistent
    assert "kept in memory only" in cache.problem
    cache.put("k", "qq", PHONE)
    assert cache.get("k") == PHONE


def test_layer_shares_count_who_decided():
    cols = {"a": ColumnClass(), "b": ColumnClass(layer=Layer.EMBEDDING),
            "c": ColumnClass(), "d": ColumnClass(layer=Layer.DECLARED)}
    assert layer_shares(cols) == {"declared": 0.25, "heuristic": 0.5, "embedding": 0.25}


def test_statuses_say_why_later_layers_are_off(monkeypatch):
    from lacuna.classify.embed import runtime

    monkeypatch.setattr(runtime.importlib.util, "find_spec", lambda _name: None)
    cascade_mod.reset()
    s = statuses(from_config(None))
    assert not s[0].on
    assert "not installed" in s[0].reason
    assert "lacuna[embeddings]" in s[0].reason
    assert not s[1].on
    assert "classification.cascade.llm.url" in s[1].reason
    off = statuses(from_config({"cascade": {"embeddings": {"enabled": False}}}))
    assert "enabled is false" in off[0].reason
    cascade_mod.reset()


def test_settings_are_validated_with_the_key_named():
    with pytest.raises(ConfigError, match=r"classification.cascade.llm.timeout_ms"):
        from_config({"cascade": {"llm": {"timeout_ms": -5}}})
    with pytest.raises(ConfigError, match=r"classification.cascade.thresholds.heuristc"):
        from_config({"cascade": {"thresholds": {"heuristc": 0.5}}})

    from types import SimpleNamespace

    with_fields = SimpleNamespace(cascade={"thresholds": {"heuristic": 0.9}}, cache=None)
    assert from_config(with_fields).cascade.thresholds.heuristic == 0.9


def test_a_cached_answer_of_another_column_does_not_weaken_value_evidence(tmp_path):
    # "x" holding colours and "x" holding family names have the same value shapes ("Aaaaa"),
    # so they share a cache key: the colours' public answer must not make the names public.
    import pandas as pd

    from lacuna.classify.scan import column_sample

    public = ColumnClass(confidence=0.99, layer=Layer.EMBEDDING, reasoning="a code")
    c = cascade_with(StaticLayer(public), enabled=True, url=f"sqlite:///{tmp_path / 's.db'}")
    colours = ["Brown", "Green", "White", "Black", "Olive", "Navy", "Teal", "Coral"]
    names = ["Schmidt", "Müller", "Schneider", "Fischer", "Weber", "Wagner", "Becker", "Koch"]
    for values, expect in ((colours, "public"), (names, "pii")):
        sample = column_sample("x", pd.Series(values))
        layer1 = classify({"x": values}, cascade=False).columns
        out = c.run(dict(layer1), {"x": sample})["x"]
        assert out.classification.value == expect, values
    assert out.pii_type == "name"
    assert "the answer cached for this column name" in out.reasoning.lower()


def test_a_cache_hit_keeps_a_value_backed_stricter_answer(tmp_path):
    import pandas as pd

    from lacuna.classify.scan import column_sample

    public = ColumnClass(confidence=0.99, layer=Layer.EMBEDDING, reasoning="a code")
    names = ["Schmidt", "Müller", "Schneider", "Fischer", "Weber", "Wagner", "Becker", "Koch"]
    cached = cascade_with(StaticLayer(public), enabled=True, url=f"sqlite:///{tmp_path / 't.db'}")
    sample = column_sample("x", pd.Series(names))
    key = cache_key("x", signature(sample), cached.fingerprint)
    cached.cache.put(key, "x", public)
    held = ColumnClass(classification=ColumnKind.PII, pii_type="name", confidence=0.68,
                       sensitivity=Sensitivity.HIGH, layer=Layer.HEURISTIC, reasoning="names",
                       evidence=(Evidence(source="value", rule="value:person_name",
                                          detail="names", score=0.68),))
    assert cached.run({"x": held}, {"x": sample})["x"].classification is ColumnKind.PII


def test_a_cached_answer_resting_on_another_columns_values_is_a_miss(tmp_path):
    # The other direction: x holding family names was cached as pii/name (from its values);
    # x holding colours has the same shapes but no such values, so it asks the layers itself.
    import pandas as pd

    from lacuna.classify.scan import column_sample

    public = ColumnClass(confidence=0.99, layer=Layer.EMBEDDING, reasoning="a code")
    layer = StaticLayer(public)
    c = cascade_with(layer, enabled=True, url=f"sqlite:///{tmp_path / 's.db'}")
    colours = ["Brown", "Green", "White", "Black", "Olive", "Navy", "Teal", "Coral"]
    sample = column_sample("x", pd.Series(colours))
    names = ColumnClass(classification=ColumnKind.PII, pii_type="name", confidence=0.68,
                        sensitivity=Sensitivity.HIGH, layer=Layer.HEURISTIC, reasoning="names",
                        evidence=(Evidence(source="value", rule="value:person_name",
                                           detail="names", score=0.68),))
    c.cache.put(cache_key("x", signature(sample), c.fingerprint), "x", names)
    out = c.run(dict(classify({"x": colours}, cascade=False).columns), {"x": sample})["x"]
    assert out.classification is ColumnKind.PUBLIC
    assert layer.calls == 1
