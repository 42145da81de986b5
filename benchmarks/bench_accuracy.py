"""Classification accuracy: Lacuna's cascade with and without layer 2, beside Presidio.

Run:  python benchmarks/bench_accuracy.py [--quick]

A wrapper so ``benchmarks/run_all.py`` collects the harness in
``benchmarks/classification/harness.py`` (see there). Needs Faker (the ``bench`` extra);
layer 2 runs when ``lacuna[embeddings]`` is installed, Presidio when presidio-analyzer is.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "classification"))

from harness import main

if __name__ == "__main__":
    main(sys.argv[1:])
