# The two commands: `make serve` runs Lacuna's main job (the server on the demo data) on its
# embedded defaults, installing only Lacuna itself; `make test` runs the whole test suite (what
# .ci/run runs) and installs what the tests drive for real (the dev and embeddings extras,
# Chromium, PostgreSQL, fuse3, dbt). `make demo` runs the seed's scenario in the terminal.
.PHONY: setup serve demo test bench lint

setup:
	@bash scripts/setup.sh

# The main command: the governance server with the demo scenario loaded (console URL printed).
serve: setup
	.venv/bin/lacuna serve --demo

demo: setup
	.venv/bin/lacuna demo

# Two workers per run at most on a 2-core machine (`-n auto`); tests that share a heavy session
# component (Spark, dbt, Chromium, PostgreSQL, a live server, the FUSE mount, the egress proxy)
# stay on one worker (tests/xdist_groups.py: xdist groups), so each starts once.
# Lacuna's own modules are compiled to bytecode first: this machine kind sets
# PYTHONDONTWRITEBYTECODE, so each test's Python subprocess would compile them again (~0.25 s).
test:
	@LACUNA_EXTRAS=dev,embeddings bash scripts/setup.sh
	@.venv/bin/python -m compileall -q -j 0 src >/dev/null
	.venv/bin/python -m pytest -q -n auto --dist loadgroup

lint:
	@LACUNA_EXTRAS=dev bash scripts/setup.sh
	.venv/bin/ruff check src tests benchmarks

bench:
	@LACUNA_EXTRAS=dev bash scripts/setup.sh
	.venv/bin/python benchmarks/run_all.py
