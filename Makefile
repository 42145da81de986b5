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

test:
	@LACUNA_EXTRAS=dev,embeddings bash scripts/setup.sh
	.venv/bin/python -m pytest -q

lint: setup
	.venv/bin/ruff check src tests benchmarks

bench: setup
	.venv/bin/python benchmarks/run_all.py
