# The two commands: `make demo` runs Lacuna's main job on its embedded defaults;
# `make test` runs the whole test suite (what .ci/run runs). Both set everything up first.
.PHONY: setup demo test bench lint

setup:
	@bash scripts/setup.sh

demo: setup
	.venv/bin/lacuna demo

test: setup
	.venv/bin/python -m pytest -q

lint: setup
	.venv/bin/ruff check src tests benchmarks

bench: setup
	.venv/bin/python benchmarks/run_all.py
