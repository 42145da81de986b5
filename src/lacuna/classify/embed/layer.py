"""Layer 2: a column name's nearest labelled examples, by sentence-embedding cosine similarity.

Per classification, the unsure columns' names are embedded in one batch and compared with the
labelled examples' embeddings (computed once per process, a matrix product for all columns).
The ``neighbours`` most similar examples vote, weighted by similarity; the winning label's best
similarity becomes the confidence through a linear calibration (``SIM_LOW`` → 0.5,
``SIM_HIGH`` → 0.95). When sampled values contradict the answer (the name reads as an e-mail
address, but no sampled value is one), confidence is halved and the near miss is explained.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import ClassVar

import numpy as np

from lacuna.classify.embed import examples as _examples
from lacuna.classify.embed.distill import build_in_background, table_path
from lacuna.classify.embed.examples import Example, Label
from lacuna.classify.embed.runtime import Embedder, availability, load_embedder
from lacuna.classify.layers import CascadeLayer, ColumnInput, LayerStatus, contradiction
from lacuna.classify.settings import EmbeddingSettings
from lacuna.classify.tokens import tokenize
from lacuna.model import ColumnClass, Evidence, Layer

SIM_LOW, SIM_HIGH = 0.45, 0.9
_INDEXES: dict[tuple[object, ...], tuple[tuple[Example, ...], np.ndarray]] = {}
_LOCK = threading.Lock()


class EmbeddingLayer(CascadeLayer):
    """Nearest labelled examples of a column name (layer 2)."""

    name: ClassVar[str] = "embeddings"
    layer: ClassVar[Layer] = Layer.EMBEDDING

    def __init__(self, settings: EmbeddingSettings | None = None) -> None:
        self.settings = settings or EmbeddingSettings()
        self._embedder: Embedder | None = None

    def status(self) -> LayerStatus:
        if self.settings.enabled is False:
            return LayerStatus(self.name, False, "layer 2 (embeddings) is off: "
                               "classification.cascade.embeddings.enabled is false")
        found = availability()
        if not found.ok or found.model_dir is None:
            return LayerStatus(self.name, False, found.reason)
        if (self.settings.runtime == "static" and self.settings.enabled == "auto"
                and not table_path(found.model_dir).is_file()):
            if build_in_background(found.model_dir):
                return LayerStatus(self.name, False, "layer 2 (embeddings) is off until its "
                                   "static vectors are built: building them now, once, in the "
                                   "background (about a minute)", pending=True)
            if not table_path(found.model_dir).is_file():
                return LayerStatus(self.name, False, "layer 2 (embeddings) is off: its static "
                                   "vectors are not built yet. Build them once (about a minute) "
                                   "with python -m lacuna.classify.embed.distill, or set "
                                   "classification.cascade.embeddings.enabled: true to build "
                                   "them on first use")
        count = len(self.index()[0])
        return LayerStatus(self.name, True, f"{found.reason} ({self.settings.runtime} runtime, "
                           f"{count} labelled examples)")

    def embedder(self) -> Embedder:
        if self._embedder is None:
            found = availability()
            if found.model_dir is None:  # status() said so first; this is a guard
                raise RuntimeError(found.reason)
            self._embedder = load_embedder(self.settings.runtime, found.model_dir)
        return self._embedder

    def index(self) -> tuple[tuple[Example, ...], np.ndarray]:
        """The examples and their embeddings, built once per settings and process."""
        key = (self.settings.runtime, self.settings.examples)
        with _LOCK:
            if key not in _INDEXES:
                items = _examples.load(self.settings.examples)
                _INDEXES[key] = (items, np.zeros((0, 0), dtype=np.float32))
        items, vectors = _INDEXES[key]
        if not vectors.size:
            vectors = self.embedder().embed([e.text for e in items])
            with _LOCK:
                _INDEXES[key] = (items, vectors)
        return items, vectors

    def nearest(self, names: Sequence[str]) -> list[list[tuple[Example, float]]]:
        """The ``neighbours`` nearest examples of each name, best first."""
        items, vectors = self.index()
        # Digits say nothing about meaning ("col_7", "addr_2") and pull towards "count".
        texts = [" ".join(t for t in tokenize(n) if not t.isdigit()) or n for n in names]
        sims = self.embedder().embed(texts) @ vectors.T
        k = min(self.settings.neighbours, len(items))
        top = np.argsort(-sims, axis=1)[:, :k]
        return [[(items[j], float(sims[i, j])) for j in row] for i, row in enumerate(top)]

    def decide(self, columns: Sequence[ColumnInput]) -> list[ColumnClass]:
        if not columns:
            return []
        return [self._one(c, near) for c, near in
                zip(columns, self.nearest([c.name for c in columns]), strict=True)]

    def _one(self, column: ColumnInput, near: list[tuple[Example, float]]) -> ColumnClass:
        votes: dict[Label, float] = {}
        best: dict[Label, tuple[Example, float]] = {}
        for ex, sim in near:
            votes[ex.label] = votes.get(ex.label, 0.0) + max(sim, 0.0)
            if ex.label not in best:
                best[ex.label] = (ex, sim)
        label = max(votes, key=lambda lb: (votes[lb], best[lb][1]))
        example, sim = best[label]
        share = votes[label] / (sum(votes.values()) or 1.0)
        confidence = calibrate(sim) * (0.7 + 0.3 * share)
        what = label.pii_type.replace("_", " ") if label.pii_type else label.kind.value
        detail = (f"name {column.name!r} is closest to the labelled example "
                  f"{example.text!r} (cosine {sim:.2f}, {share:.0%} of the {len(near)} nearest "
                  f"examples agree): {what}")
        evidence = [*column.current.evidence,
                    Evidence(source="embedding", rule=f"embedding:{label.type}", detail=detail,
                             score=round(confidence, 4))]
        reasoning = detail[0].upper() + detail[1:] + "."
        against = contradiction(column, label.pii_type)
        if against is not None:
            confidence *= 0.5
            evidence.append(against)
            reasoning += f" But {against.detail}, so this is a near miss."
        return ColumnClass(classification=label.kind, pii_type=label.pii_type,
                           sensitivity=label.sensitivity, confidence=round(confidence, 4),
                           reasoning=reasoning, layer=Layer.EMBEDDING, evidence=tuple(evidence))


def calibrate(sim: float) -> float:
    """Cosine similarity to confidence: ``SIM_LOW`` → 0.5, ``SIM_HIGH`` → 0.95, clipped."""
    x = (sim - SIM_LOW) / (SIM_HIGH - SIM_LOW)
    return float(min(0.97, max(0.05, 0.5 + 0.45 * x)))
