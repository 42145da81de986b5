"""Distil static token vectors from the full model, once, into ``LACUNA_HOME``.

Every WordPiece token of the vocabulary goes through the transformer alone (``[CLS] t [SEP]``,
mean-pooled and normalized, exactly as the model embeds a one-token sentence). The common
component (the mean over the vocabulary) is removed, which makes cosine similarity between
token means discriminate better. The result — 30,522 × 384 float16, ~23 MB — is written to
``$LACUNA_HOME/embeddings/<model>-static-v1.npz`` and read back in ~50 ms on later runs.

Build it ahead of time (CI, an image) with ``python -m lacuna.classify.embed.distill``.
"""

from __future__ import annotations

import hashlib
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from lacuna.config import lacuna_home

VERSION = "static-v1"
BATCH = 1024


def table_path(model_dir: Path) -> Path:
    """Where the distilled table for ``model_dir`` is stored."""
    digest = hashlib.sha256((model_dir / "vocab.txt").read_bytes()).hexdigest()[:12]
    return lacuna_home() / "embeddings" / f"minilm-{digest}-{VERSION}.npz"


def static_table(model_dir: Path) -> tuple[list[str], np.ndarray]:
    """The vocabulary and its distilled vectors, built on first use and then read from disk."""
    path = table_path(model_dir)
    vocab = (model_dir / "vocab.txt").read_text(encoding="utf-8").splitlines()
    if path.is_file():
        try:
            with np.load(path) as data:
                return vocab, data["vectors"].astype(np.float32)
        except (OSError, ValueError, KeyError):
            pass  # a torn or foreign file: rebuild it below
    vectors = build(model_dir, len(vocab))
    path.parent.mkdir(parents=True, exist_ok=True)
    # Write then rename, so a concurrent reader never sees half a file.
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".npz")
    os.close(fd)
    with open(tmp, "wb") as fh:
        np.savez(fh, vectors=vectors.astype(np.float16))
    os.replace(tmp, path)
    return vocab, vectors


def build(model_dir: Path, size: int) -> np.ndarray:
    """Run every token id through the transformer; returns ``size`` × dim float32."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import torch
    from transformers import AutoModel

    model = AutoModel.from_pretrained(str(model_dir))
    model.eval()
    rows = []
    with torch.inference_mode():
        for start in range(0, size, BATCH):
            ids = torch.arange(start, min(start + BATCH, size)).unsqueeze(1)
            cls = torch.full_like(ids, 101)
            sep = torch.full_like(ids, 102)
            batch = torch.cat([cls, ids, sep], dim=1)
            out = model(input_ids=batch, attention_mask=torch.ones_like(batch))
            rows.append(out.last_hidden_state.mean(dim=1).numpy())
    vectors = np.concatenate(rows).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    vectors -= vectors.mean(axis=0, keepdims=True)
    return vectors


def main() -> int:
    """Build the table now (``python -m lacuna.classify.embed.distill``)."""
    from lacuna.classify.embed.runtime import availability

    found = availability()
    if not found.ok or found.model_dir is None:
        print(found.reason, file=sys.stderr)
        return 2
    started = time.perf_counter()
    vocab, _ = static_table(found.model_dir)
    print(f"{len(vocab)} token vectors at {table_path(found.model_dir)} "
          f"({time.perf_counter() - started:.1f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
