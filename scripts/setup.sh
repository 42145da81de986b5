#!/usr/bin/env bash
# Create .venv and install Lacuna with the extras named in $LACUNA_EXTRAS (default: none, which is
# all the main command `make serve` needs; `make test` asks for dev,embeddings).
# Idempotent: it re-installs only when pyproject.toml or the extras changed (about a second
# otherwise). With the `embeddings` extra, torch is pinned to its CPU build in the same install run:
# the plain `torch` requirement would pull several GB of CUDA packages on a machine without a GPU.
#
# With the `dev` extra (the test suite) it also provides what the tests drive for real:
#   - Debian packages: chromium (the console's browser tests), fuse3 (the governed mount),
#     postgresql (the state suite on a live server); installed with apt-get when missing
#     and when this runs as root (in the background, beside pip), else named with the command
#     to run;
#   - .venv-dbt: dbt-core<1.12 with dbt-duckdb in a venv of its own (dbt pins pathspec<0.13,
#     which breaks mypy in the main venv). Lacuna runs dbt as a program ($LACUNA_DBT or this one).
#     On a clean machine it installs in the background while .venv does (each about a minute).
#
# Packages are installed with uv (a pip written in Rust, installed into .venv first): the same
# resolution and the same wheels as pip, in about a quarter of pip's time on a clean machine.
# pip's own find-links ($PIP_FIND_LINKS: where this machine kind keeps torch's CPU wheel) are
# passed on, and the installed modules are compiled to bytecode as pip does (without it every
# process, each test's subprocess included, would compile pandas & co. again: the machine sets
# PYTHONDONTWRITEBYTECODE). If uv cannot be installed or fails, pip does the install as before; LACUNA_PIP=pip
# forces pip.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
EXTRAS="${LACUNA_EXTRAS:-}"
dev=0
[[ ",$EXTRAS," == *",dev,"* ]] && dev=1

# Debian packages first, in the background too: apt and pip each take about a minute on a
# clean machine, and neither needs the other
apt_pid=""
if [ "$dev" = 1 ]; then
  missing=()
  [ -x /usr/bin/chromium ] || missing+=(chromium fonts-dejavu-core)
  command -v fusermount3 >/dev/null 2>&1 || missing+=(fuse3)
  ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
  if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ]; then
      (
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
          "${missing[@]}" >/dev/null
      ) &
      apt_pid=$!
    else
      echo "setup: tests that need ${missing[*]} will skip; install with: sudo apt-get install -y ${missing[*]}" >&2
    fi
  fi
fi

if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
uv=""
if [ "${LACUNA_PIP:-}" != pip ]; then
  [ -x .venv/bin/uv ] || .venv/bin/python -m pip install --quiet --disable-pip-version-check \
    "uv>=0.5" >/dev/null 2>&1 || echo "setup: could not install uv; installing with pip" >&2
  [ -x .venv/bin/uv ] && uv=.venv/bin/uv
fi

# install PYTHON ARGS...: pip install ARGS into the venv of PYTHON, with uv when there is one
install() {
  local python=$1
  shift
  if [ -n "$uv" ]; then
    local links=() link
    for link in ${PIP_FIND_LINKS:-}; do links+=(--find-links "$link"); done
    if "$uv" pip install --quiet --compile-bytecode --python "$python" "${links[@]}" "$@"; then
      return 0
    fi
    echo "setup: uv could not install $*; trying pip" >&2
  fi
  "$python" -m pip install --quiet --disable-pip-version-check --upgrade pip
  "$python" -m pip install --quiet --disable-pip-version-check "$@"
}

dbt_pid=""
if [ "$dev" = 1 ] && [ ! -x .venv-dbt/bin/dbt ]; then
  (
    "$PYTHON" -m venv .venv-dbt
    install .venv-dbt/bin/python "dbt-core>=1.8,<1.12" "dbt-duckdb>=1.8"
  ) &
  dbt_pid=$!
fi
stamp=".venv/.lacuna-installed${EXTRAS:+-${EXTRAS//,/-}}"
target="."
[ -n "$EXTRAS" ] && target=".[$EXTRAS]"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  # one install run, so one resolution: torch's CPU build (the one this machine kind provides) is
  # pinned in the same run as the project, so the extra's plain `torch` cannot pull CUDA
  torch_cpu=()
  if [[ ",$EXTRAS," == *",embeddings,"* ]] && ! .venv/bin/python -c "import torch" 2>/dev/null; then
    torch_cpu=("torch==2.13.0")
  fi
  install .venv/bin/python "${torch_cpu[@]}" -e "$target"
  touch "$stamp"
fi

if [ -n "$dbt_pid" ]; then
  if ! wait "$dbt_pid"; then
    echo "setup: installing dbt in .venv-dbt failed (see above); remove .venv-dbt and run again" >&2
    exit 1
  fi
fi
if [ -n "$apt_pid" ]; then
  if ! wait "$apt_pid"; then
    echo "setup: apt-get install ${missing[*]} failed (see above); run it by hand and again" >&2
    exit 1
  fi
fi
