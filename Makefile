# The two commands: `make demo` runs Lacuna's main job on its embedded defaults;
# `make test` runs the whole test suite (what .ci/run runs). Both set everything up first;
# the tests also install the `embeddings` extra, so classifier layer 2 is tested for real.
.PHONY: setup demo test bench lint

setup:
	@bash scripts/setup.sh

demo: setup
	.venv/bin/lacuna demo

test:
	@LACUNA_EXTRAS=dev,embeddings bash scripts/setup.sh
	.venv/bin/python -m pytest -q

lint: setup
	.venv/bin/ruff check src tests benchmarks

bench: setup
	.venv/bin/python benchmarks/run_all.py
