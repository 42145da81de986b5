"""Distil static token vectors from the full model, once, into ``LACUNA_HOME``.

Every WordPiece token of the vocabulary goes through the transformer alone (``[CLS] t [SEP]``,
mean-pooled and normalized, exactly as the model embeds a one-token sentence). The common
component (the mean over the vocabulary) is removed, which makes cosine similarity between
token means discriminate better. The result — 30,522 × 384 float16, ~23 MB — is written to
``$LACUNA_HOME/embeddings/<model>-static-v1.npz`` and read back in ~50 ms on later runs.

With ``embeddings.enabled: auto`` (the default) the table is built automatically, once, in a
low-priority background thread the first time layer 2 is wanted and the extra is installed
(:func:`build_in_background`); layer 2 joins as soon as it is ready.
``LACUNA_EMBEDDINGS_BUILD=never`` turns that off (the test suite does: each test has its own
``LACUNA_HOME``). Build it ahead of time (CI, an image) with
``python -m lacuna.classify.embed.distill``.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from lacuna.config import lacuna_home

log = logging.getLogger(__name__)

VERSION = "static-v1"
BUILD_ENV = "LACUNA_EMBEDDINGS_BUILD"  # "never": no background build
_BUILDS: dict[Path, threading.Thread] = {}
_BUILDS_LOCK = threading.Lock()
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


def building(model_dir: Path) -> bool:
    """Whether this process is building the table for ``model_dir`` in the background now."""
    thread = _BUILDS.get(table_path(model_dir))
    return thread is not None and thread.is_alive()


def build_in_background(model_dir: Path) -> bool:
    """Start building the table in a low-priority daemon thread, once per process.

    Another process building the same table is waited for (a file lock beside the table), so
    the work is done once per machine. Returns whether a build is (now) running here; ``False``
    when ``$LACUNA_EMBEDDINGS_BUILD`` is ``never`` or the table exists.
    """
    if os.environ.get(BUILD_ENV, "").lower() == "never":
        return False
    path = table_path(model_dir)
    with _BUILDS_LOCK:
        if path.is_file():
            return False
        thread = _BUILDS.get(path)
        if thread is None:
            thread = threading.Thread(target=_build_locked, args=(model_dir, path), daemon=True,
                                      name="lacuna-embeddings-build")
            _BUILDS[path] = thread
            thread.start()
            log.warning("layer 2 (embeddings): building its static vectors once, in the "
                        "background (about a minute); it joins the cascade when they are ready")
        return thread.is_alive()


def _build_locked(model_dir: Path, path: Path) -> None:
    with contextlib.suppress(OSError):  # Linux: a thread id lowers only this thread's priority
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 15)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path.with_suffix(".lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # another process's build: wait for it
            if not path.is_file():
                static_table(model_dir)
    except Exception as exc:  # a background build must never take the host process down
        log.error("layer 2 (embeddings): building the static vectors failed (%s); run "
                  "python -m lacuna.classify.embed.distill to see why", exc)


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
