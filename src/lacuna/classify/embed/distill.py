"""Distil static token vectors from the full model, once, into ``LACUNA_HOME``.

Every WordPiece token of the vocabulary goes through the transformer alone (``[CLS] t [SEP]``,
mean-pooled and normalized, exactly as the model embeds a one-token sentence). The common
component (the mean over the vocabulary) is removed, which makes cosine similarity between
token means discriminate better. The result — 30,522 × 384 float16, ~23 MB — is written to
``$LACUNA_HOME/embeddings/<model>-static-v1.npz`` and read back in ~50 ms on later runs.

With ``embeddings.enabled: auto`` (the default) the table is built automatically, once, in a
low-priority background process the first time layer 2 is wanted and the extra is installed
(:func:`build_in_background`, a detached process); layer 2 joins as soon as it is ready.
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
import subprocess
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
BUILD_COMMAND = (sys.executable, "-m", "lacuna.classify.embed.distill")
_BUILDS: dict[Path, subprocess.Popen[bytes]] = {}
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
    """Whether a build of the table for ``model_dir`` is running (in any process)."""
    path = table_path(model_dir)
    proc = _BUILDS.get(path)
    if proc is not None and proc.poll() is None:
        return True
    return not path.is_file() and _locked(path)


def _lock_path(path: Path) -> Path:
    return path.with_suffix(".lock")


def _locked(path: Path) -> bool:
    """Whether another process holds the build lock beside ``path``."""
    try:
        with open(_lock_path(path), "a") as fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            fcntl.flock(fh, fcntl.LOCK_UN)
    except OSError:
        return False
    return False


def _lower_priority() -> None:  # runs in the child before exec
    with contextlib.suppress(OSError):
        os.nice(15)


def build_in_background(model_dir: Path) -> bool:
    """Start building the table in a detached, low-priority process, once per machine.

    The build outlives the process that started it (a short ``lacuna classify`` run does not
    cut it off), and a file lock beside the table keeps a second process from starting
    another. Returns whether a build is (now) running; ``False`` when
    ``$LACUNA_EMBEDDINGS_BUILD`` is ``never``, the table exists, or a build started by this
    process has already ended without one (it is not retried; ``python -m
    lacuna.classify.embed.distill`` shows why).
    """
    if os.environ.get(BUILD_ENV, "").lower() == "never":
        return False
    path = table_path(model_dir)
    with _BUILDS_LOCK:
        if path.is_file():
            return False
        proc = _BUILDS.get(path)
        if proc is not None:
            return proc.poll() is None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            if _locked(path):
                return True  # another process is building it
            _BUILDS[path] = subprocess.Popen(
                [*BUILD_COMMAND, "--wait-for-lock"], stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
                preexec_fn=_lower_priority)  # the child only calls os.nice
        except OSError as exc:
            log.error("layer 2 (embeddings): cannot start building the static vectors (%s); "
                      "run python -m lacuna.classify.embed.distill", exc)
            return False
        log.warning("layer 2 (embeddings): building its static vectors once, in the "
                    "background (about a minute); it joins the cascade when they are ready")
        return True


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
    path = table_path(found.model_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(_lock_path(path), "a") as lock:
        if "--wait-for-lock" in sys.argv[1:]:  # a background build: one per machine
            fcntl.flock(lock, fcntl.LOCK_EX)
        vocab, _ = static_table(found.model_dir)
    print(f"{len(vocab)} token vectors at {table_path(found.model_dir)} "
          f"({time.perf_counter() - started:.1f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
