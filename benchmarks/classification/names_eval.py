# ruff: noqa: ARG001, ARG005, E501 - generators share one (faker, rng) signature; rows are data
"""People's names under column names that say nothing: detection and false-positive rates.

    python benchmarks/classification/names_eval.py [--columns 20] [--rows 50] [--seed 11] [--cascade]

The values are SYNTHETIC: Faker (MIT licence) generates every name, city, company and street,
seeded per column, so the numbers say how the classifier handles Faker's name lists in each
locale and format, not how it does on a real customer table. Each column is classified alone
under an opaque name (``x``, ``who``, ``c1``, ``contact``, ``customer`` in turn) by layer 1
(``cascade=False``; ``--cascade`` runs the default cascade as ``lacuna.classify`` does, with a
fresh answer cache in a temporary ``LACUNA_HOME``, one process for all lines: columns of the
same opaque name and value shapes share cache entries, as they would in a real process).

``--leave-out`` measures what the lists cannot flatter: the classifier draws on Faker's own name
lists (``lacuna.classify.namelists``), so for each locale it is run again with every Faker
locale of that *language* left out of its lists (``tr`` for ``tr_TR``; the hand-written shipped
lists stay), on that locale's names. That is the estimate for names of a language Faker lacks.

Prints two markdown tables:

- **detection**: per locale and per variant (titles, suffixes, "Last, First", upper/lower case,
  first or last names alone, initials, 1/2/5-row samples, blanks and ``None`` mixed in), the
  share of columns classified ``pii``/``name`` and the share that left as anything non-personal;
- **false positives**: per kind of non-name column (products, cities, companies, streets,
  sentences, categories, job titles, countries, colours, ...), the share classified as a name
  and the share classified personal at all.
"""

from __future__ import annotations

import argparse
import random
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

LOCALES = (
    "en_US", "en_GB", "en_IN", "de_DE", "fr_FR", "es_ES", "es_MX", "it_IT", "pt_BR", "pt_PT",
    "nl_NL", "pl_PL", "cs_CZ", "sv_SE", "da_DK", "fi_FI", "hu_HU", "ro_RO", "tr_TR", "id_ID",
    "vi_VN", "hi_IN", "ru_RU", "uk_UA", "el_GR", "zh_CN", "ja_JP", "ko_KR", "ar_AA", "he_IL",
)
COLUMN_NAMES = ("x", "who", "c1", "contact", "customer")

Gen = Callable[[Any, random.Random], Any]


def _first_last(f: Any, r: random.Random) -> str:
    return f"{f.first_name()} {f.last_name()}"


def _last_comma_first(f: Any, r: random.Random) -> str:
    return f"{f.last_name()}, {f.first_name()}"


def _initial(f: Any, r: random.Random) -> str:
    return f"{f.first_name()[0]}. {f.last_name()}"


def _title(f: Any, r: random.Random) -> str:
    return f"{r.choice(('Dr.', 'Mr.', 'Mrs.', 'Ms.', 'Prof.'))} {_first_last(f, r)}"


def _suffix(f: Any, r: random.Random) -> str:
    return f"{_first_last(f, r)} {r.choice(('Jr.', 'Sr.', 'III', 'PhD', 'MD'))}"


def _romanized(f: Any, r: random.Random) -> str:
    return f"{f.first_romanized_name()} {f.last_romanized_name()}"


VARIANTS: dict[str, tuple[str, Gen]] = {  # name -> (locale, one value)
    "en_US first last": ("en_US", _first_last),
    "en_US title + name": ("en_US", _title),
    "en_US name + suffix": ("en_US", _suffix),
    "en_US Last, First": ("en_US", _last_comma_first),
    "en_US UPPER CASE": ("en_US", lambda f, r: f.name().upper()),
    "en_US lower case": ("en_US", lambda f, r: f.name().lower()),
    "en_US first names only": ("en_US", lambda f, r: f.first_name()),
    "en_US last names only": ("en_US", lambda f, r: f.last_name()),
    "en_US initial + last": ("en_US", _initial),
    "de_DE Last, First": ("de_DE", _last_comma_first),
    "de_DE first names only": ("de_DE", lambda f, r: f.first_name()),
    "de_DE last names only": ("de_DE", lambda f, r: f.last_name()),
    "de_DE UPPER CASE": ("de_DE", lambda f, r: f.name().upper()),
    "fr_FR last names only": ("fr_FR", lambda f, r: f.last_name()),
    "es_ES first names only": ("es_ES", lambda f, r: f.first_name()),
    "it_IT last names only": ("it_IT", lambda f, r: f.last_name()),
    "pl_PL last names only": ("pl_PL", lambda f, r: f.last_name()),
    "tr_TR last names only": ("tr_TR", lambda f, r: f.last_name()),
    "ja_JP romanised": ("ja_JP", _romanized),
    "zh_CN romanised": ("zh_CN", _romanized),
    "zh_CN name() unspaced": ("zh_CN", lambda f, r: f.name()),
    "ko_KR name() unspaced": ("ko_KR", lambda f, r: f.name()),
    "ja_JP name()": ("ja_JP", lambda f, r: f.name()),
    "ru_RU name() (patronymics)": ("ru_RU", lambda f, r: f.name()),
    "ar_AA name() (titles)": ("ar_AA", lambda f, r: f.name()),
    "hi_IN name() (titles)": ("hi_IN", lambda f, r: f.name()),
    "id_ID name() (titles, degrees)": ("id_ID", lambda f, r: f.name()),
    "de_DE name() (titles)": ("de_DE", lambda f, r: f.name()),
    "vi_VN name()": ("vi_VN", lambda f, r: f.name()),
}
SIZES = (1, 2, 5)  # very small samples, en_US and de_DE names
BLANKS = 0.5  # share of "", None and "  " mixed in


def _products(f: Any, r: random.Random) -> str:
    adj = ("Ergonomic", "Rustic", "Sleek", "Small", "Gorgeous", "Handmade", "Refined", "Smart", "Licensed", "Generic", "Premium", "Classic")
    mat = ("Steel", "Wooden", "Cotton", "Plastic", "Granite", "Rubber", "Bronze", "Leather", "Frozen", "Fresh")
    noun = ("Chair", "Table", "Shoes", "Gloves", "Keyboard", "Bike", "Hat", "Towels", "Soap", "Lamp", "Sausages", "Cheese")
    return f"{r.choice(adj)} {r.choice(mat)} {r.choice(noun)}"


def _branded(f: Any, r: random.Random) -> str:
    return f"{f.last_name()} {r.choice(('Pro', 'Max', 'Classic', 'Lite', 'Mini', 'Plus'))} {r.randint(2, 900)}"


def _category(f: Any, r: random.Random) -> str:
    return r.choice(("Electronics", "Home & Garden", "Toys", "Books", "Clothing", "Sports", "Beauty", "Automotive", "Grocery", "Health"))


def _status(f: Any, r: random.Random) -> str:
    return r.choice(("Active", "Pending", "Closed", "On Hold", "Cancelled", "Shipped", "Returned"))


FALSE: dict[str, tuple[tuple[str, ...], Gen]] = {  # kind -> (locales, one value)
    "product names": (("en_US",), _products),
    "branded products (surname + model)": (("en_US", "de_DE"), _branded),
    "cities": (("en_US", "de_DE", "fr_FR", "es_ES", "it_IT", "pt_BR", "nl_NL", "pl_PL"), lambda f, r: f.city()),
    "companies": (("en_US", "de_DE", "fr_FR", "es_ES", "it_IT", "nl_NL"), lambda f, r: f.company()),
    "street names": (("en_US", "de_DE", "fr_FR", "es_ES", "it_IT", "nl_NL", "pl_PL"), lambda f, r: f.street_name()),
    "sentences": (("en_US",), lambda f, r: f.sentence()),
    "category labels": (("en_US",), _category),
    "status labels": (("en_US",), _status),
    "job titles": (("en_US", "de_DE", "fr_FR"), lambda f, r: f.job()),
    "countries": (("en_US", "de_DE", "fr_FR", "es_ES"), lambda f, r: f.country()),
    "colour names": (("en_US", "de_DE", "fr_FR"), lambda f, r: f.color_name()),
    "single words": (("en_US",), lambda f, r: f.word().capitalize()),
    "two words": (("en_US",), lambda f, r: " ".join(w.capitalize() for w in f.words(2))),
    "catch phrases": (("en_US",), lambda f, r: f.catch_phrase()),
    "US states": (("en_US",), lambda f, r: f.state()),
    "month + day names": (("en_US",), lambda f, r: r.choice((f.month_name(), f.day_of_week()))),
    "lower-case words": (("en_US",), lambda f, r: f.word()),
    "lower-case two words": (("en_US",), lambda f, r: " ".join(f.words(2))),
    "cities, other scripts": (("zh_CN", "ja_JP", "ko_KR", "ru_RU", "el_GR", "ar_AA", "he_IL", "hi_IN"), lambda f, r: f.city()),
    "companies, other scripts": (("zh_CN", "ja_JP", "ko_KR", "ru_RU"), lambda f, r: f.company()),
}


def column(locale: str, gen: Gen, rows: int, seed: int, blanks: float = 0.0) -> list[Any]:
    """``rows`` values of one column, Faker seeded with ``seed``."""
    from faker import Faker

    fake = Faker(locale)
    fake.seed_instance(seed)
    r = random.Random(seed)
    out: list[Any] = [gen(fake, r) for _ in range(rows)]
    if blanks:
        out = [r.choice(("", None, "  ")) if r.random() < blanks else v for v in out]
    return out


def verdict(values: list[Any], name: str, cascade: bool) -> tuple[str, str | None]:
    """(classification, pii_type) of one column."""
    import pandas as pd

    from lacuna.classify import classify

    c = classify(pd.DataFrame({name: values}), cascade=cascade).columns[name]
    return c.classification.value, c.pii_type


def detection(columns: int, rows: int, seed: int, cascade: bool) -> list[tuple[str, float, float]]:
    """(variant, share pii/name, share non-personal) per locale and variant."""
    cases: list[tuple[str, str, Gen, int, float]] = [
        (loc, loc, _first_last, rows, 0.0) for loc in LOCALES]
    cases += [(k, loc, g, rows, 0.0) for k, (loc, g) in VARIANTS.items()]
    for loc in ("en_US", "de_DE"):
        cases += [(f"{loc} {n} row{'s' * (n > 1)}", loc, _first_last, n, 0.0) for n in SIZES]
        cases.append((f"{loc} 50 % blanks/None", loc, _first_last, rows, BLANKS))
    out = []
    for label, loc, gen, n, blanks in cases:
        hits = personal = 0
        for i in range(columns):
            kind, pii_type = verdict(column(loc, gen, n, seed + i, blanks),
                                     COLUMN_NAMES[i % len(COLUMN_NAMES)], cascade)
            hits += kind == "pii" and pii_type == "name"
            personal += kind in ("pii", "phi")
        out.append((label, hits / columns, 1 - personal / columns))
    return out


def false_positives(columns: int, rows: int, seed: int, cascade: bool) -> list[tuple[str, float, float]]:
    """(kind, share classified pii/name, share personal) per kind of non-name column."""
    out = []
    for label, (locales, gen) in FALSE.items():
        names = personal = 0
        for i in range(columns):
            kind, pii_type = verdict(column(locales[i % len(locales)], gen, rows, seed + i),
                                     COLUMN_NAMES[i % len(COLUMN_NAMES)], cascade)
            names += kind == "pii" and pii_type == "name"
            personal += kind in ("pii", "phi")
        out.append((label, names / columns, personal / columns))
    return out


def leave_out(columns: int, rows: int, seed: int) -> list[tuple[str, float, float]]:
    """Detection per locale with that locale's language left out of the Faker lists."""
    from lacuna.classify import namelists

    registered = namelists.name_lists.get("faker")
    out = []
    try:
        for loc in LOCALES:
            language = frozenset({loc.split("_")[0]})
            namelists.name_lists._items["faker"] = lambda lang=language: namelists.faker_names(lang)
            namelists._lexicon.cache_clear()
            hits = personal = 0
            for i in range(columns):
                kind, pii_type = verdict(column(loc, _first_last, rows, seed + i),
                                         COLUMN_NAMES[i % len(COLUMN_NAMES)], False)
                hits += kind == "pii" and pii_type == "name"
                personal += kind in ("pii", "phi")
            out.append((f"{loc} without Faker's '{next(iter(language))}' lists", hits / columns,
                        1 - personal / columns))
    finally:
        namelists.name_lists._items["faker"] = registered
        namelists._lexicon.cache_clear()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--columns", type=int, default=20, help="columns per row of the tables")
    parser.add_argument("--rows", type=int, default=50, help="values per column")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--cascade", action="store_true", help="run the default cascade too")
    parser.add_argument("--leave-out", action="store_true",
                        help="only: each locale with its language left out of the name lists")
    a = parser.parse_args()
    if a.cascade:  # a fresh answer cache, not the user's (harness.py does the same)
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from harness import _isolate

        _isolate()
    if a.leave_out:
        print(f"Synthetic data (Faker), {a.columns} columns x {a.rows} rows per line, layer 1, "
              "each locale's language left out of the Faker name lists.\n")
        print("| names: locale | pii/name | left non-personal |\n|---|---:|---:|")
        rows = leave_out(a.columns, a.rows, a.seed)
        for label, hit, miss in rows:
            print(f"| {label} | {hit:.0%} | {miss:.0%} |")
        print(f"\nMean detection {sum(r[1] for r in rows) / len(rows):.1%} over {len(rows)} locales.")
        return
    layer = "the default cascade" if a.cascade else "layer 1 (cascade=False)"
    print(f"Synthetic data (Faker), {a.columns} columns x {a.rows} rows per line, {layer}.\n")
    det = detection(a.columns, a.rows, a.seed, a.cascade)
    print("| names: locale / variant | pii/name | left non-personal |\n|---|---:|---:|")
    for label, hit, miss in det:
        print(f"| {label} | {hit:.0%} | {miss:.0%} |")
    print(f"\nMean detection {sum(d[1] for d in det) / len(det):.1%} over {len(det)} lines.\n")
    fp = false_positives(a.columns, a.rows, a.seed + 1000, a.cascade)
    print("| not names | pii/name | any personal |\n|---|---:|---:|")
    for label, name, personal in fp:
        print(f"| {label} | {name:.0%} | {personal:.0%} |")
    print(f"\nMean false-positive rate (pii/name) {sum(f[1] for f in fp) / len(fp):.1%} "
          f"over {len(fp)} kinds.")


if __name__ == "__main__":
    main()
