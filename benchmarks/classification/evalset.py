"""Generate the labelled evaluation set: columns with realistic values, in tables.

    python benchmarks/classification/evalset.py [--rows 200] [--seed 7]   # prints a summary

Deterministic for a seed: every column's values come from Faker (locale by naming style:
``de`` names get German values, ``fr`` French, ...) seeded with the seed and the column's index.
Columns are dealt into tables of about 12 (no repeated name within a table), the way the
classifier sees them in practice. Requires Faker (``pip install faker``; the ``bench`` extra).
"""

from __future__ import annotations

import argparse
import random
from collections import Counter
from dataclasses import dataclass
from typing import Any

from concepts import LOCALE, OPAQUE, concepts

TABLE_WIDTH = 12


@dataclass(frozen=True)
class EvalColumn:
    """One labelled column."""

    table: str
    name: str
    style: str
    concept: str
    kind: str
    type: str
    values: tuple[Any, ...]

    @property
    def personal(self) -> bool:
        return self.kind in ("pii", "phi")


def build(
    rows: int = 200, seed: int = 7, copies: int = 2, heldout: bool = False
) -> list[EvalColumn]:
    """All columns of the evaluation set, dealt into tables.

    Every (concept, name) appears ``copies`` times, each time with its own values (another
    seed, and for the second copy of an English name a British locale), in different tables.
    ``heldout`` uses the names of ``heldout.py`` instead (see there).
    """
    from faker import Faker
    from heldout import HELDOUT

    fakers: dict[str, Any] = {}
    opaque = 0
    raw: list[tuple[str, str, Any, list[Any]]] = []
    index = 0
    for copy in range(copies):
        for concept in concepts():
            styles = HELDOUT.get(concept.key, {}) if heldout else concept.names
            for style, names in styles.items():
                for name in names:
                    index += 1
                    if "{o}" in name:
                        opaque += 1
                        name = OPAQUE[opaque % len(OPAQUE)].format(n=opaque)
                        style = "opaque"
                    locale = LOCALE.get(style, "en_US")
                    if copy % 2 and locale == "en_US":
                        locale = "en_GB"
                    locale = concept.locale or locale
                    fake = fakers.setdefault(locale, Faker(locale))
                    fake.seed_instance(seed * 100_003 + index)
                    rng = random.Random(seed * 7919 + index)
                    values = [concept.gen(fake, rng) for _ in range(rows)]
                    raw.append((name, style, concept, values))
    rng = random.Random(seed)
    rng.shuffle(raw)
    tables: list[list[EvalColumn]] = []
    for name, style, concept, values in raw:
        for table in tables:
            if len(table) < TABLE_WIDTH and all(c.name != name for c in table):
                break
        else:
            table = []
            tables.append(table)
        table.append(EvalColumn(f"t{tables.index(table):03d}", name, style, concept.key,
                                concept.kind, concept.type, tuple(values)))
    return [c for t in tables for c in t]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--heldout", action="store_true")
    args = parser.parse_args()
    cols = build(args.rows, args.seed, heldout=args.heldout)
    personal = sum(c.personal for c in cols)
    print(f"{len(cols)} columns in {len({c.table for c in cols})} tables: {personal} personal, "
          f"{len(cols) - personal} not personal")
    print("by style:", dict(Counter(c.style for c in cols)))
    print("by type:", dict(Counter(c.type for c in cols)))


if __name__ == "__main__":
    main()
