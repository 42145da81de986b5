#!/usr/bin/env bash
# Create .venv and install Lacuna with the extras named in $LACUNA_EXTRAS (default: dev).
# Idempotent: it re-installs only when pyproject.toml or the extras changed (about a second
# otherwise). With the `embeddings` extra, torch's CPU build is installed first: the plain
# `torch` requirement would pull several GB of CUDA packages on a machine without a GPU.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
EXTRAS="${LACUNA_EXTRAS:-dev}"
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
  .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
fi
stamp=".venv/.lacuna-installed-${EXTRAS//,/-}"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  pip=(.venv/bin/python -m pip install --quiet --disable-pip-version-check)
  if [[ ",$EXTRAS," == *",embeddings,"* ]] && ! .venv/bin/python -c "import torch" 2>/dev/null; then
    "${pip[@]}" "torch==2.13.0"   # the CPU build this machine kind provides
  fi
  "${pip[@]}" -e ".[$EXTRAS]"
  touch "$stamp"
fi
