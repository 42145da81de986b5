# The two commands: `make serve` runs Lacuna's main job (the server on the demo data) on its
# embedded defaults (`make demo` runs the same scenario in the terminal);
# `make test` runs the whole test suite (what .ci/run runs). Both set everything up first;
# the tests also install the `embeddings` extra, so classifier layer 2 is tested for real.
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
test:
	@LACUNA_EXTRAS=dev,embeddings bash scripts/setup.sh
	.venv/bin/python -m pytest -q -n auto --dist loadgroup

lint: setup
	.venv/bin/ruff check src tests benchmarks

bench: setup
	.venv/bin/python benchmarks/run_all.py
