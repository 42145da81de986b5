"""Value shapes: what a value looks like without what it says.

A shape maps upper-case letters to ``A``, other letters to ``a``, digits to ``9``, and keeps
punctuation and spaces; runs longer than four are cut to four, so a shape never reveals a
word's length beyond that: ``Ada Lovelace`` → ``Aaa Aaaaa``, ``ada@example.org`` →
``aaa@aaaa.aaa``, ``+1 415-555-0100`` → ``+9 999-999-9999``. Shapes are what layer 3 sees by
default, and the cache key's value part (:func:`signature`).

Example:
    >>> shape("Ada Lovelace"), shape("ada@example.org"), shape("+1 415-555-0100")
    ('Aaa Aaaaa', 'aaa@aaaa.aaa', '+9 999-999-9999')
"""

from __future__ import annotations

import hashlib
from collections import Counter
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lacuna.classify.scan import ColumnSample

RUN_CAP = 4
MAX_SHAPE = 40
SHAPES_SCANNED = 64  # values looked at per column (evenly spread by the sampler already)
TOP = 5


def shape(value: str) -> str:
    """The shape of one value (see the module docstring)."""
    out: list[str] = []
    last, run = "", 0
    for ch in value[:200]:
        if ch.isdigit():
            c = "9"
        elif ch.isalpha():
            c = "A" if ch.isupper() else "a"
        else:
            c = ch
        if c == last and c in "9Aa":
            run += 1
            if run > RUN_CAP and c != "9":  # digits keep their count: 5 vs 10 digits matters
                continue
        else:
            last, run = c, 1
        out.append(c)
        if len(out) >= MAX_SHAPE:
            out.append("…")
            break
    return "".join(out)


def top_shapes(sample: ColumnSample | None, top: int = TOP) -> tuple[str, ...]:
    """The ``top`` most common shapes among up to ``SHAPES_SCANNED`` sampled values."""
    if sample is None or not len(sample):
        return ()
    values = sample.values.slice(0, SHAPES_SCANNED).to_pylist()
    counts = Counter(shape(v) for v in values if v is not None)
    return tuple(s for s, _ in counts.most_common(top))


def signature(sample: ColumnSample | None) -> str:
    """The value part of a cache key: the column's kind of values and its common shapes.

    ``-`` when no values were sampled; otherwise a short hash, so the key stores no shape text.
    """
    if sample is None:
        return "-"
    if not len(sample):
        return f"empty:{sample.skipped or 'null'}"
    kind = "int" if sample.from_integers else "str"
    text = kind + "\x1f" + "\x1f".join(top_shapes(sample, 8))
    return hashlib.blake2b(text.encode(), digest_size=10).hexdigest()


def fingerprint(sample: ColumnSample) -> str:
    """A hash of the sampled values themselves (for the exact-repeat memo of layer 1)."""
    h = hashlib.blake2b(digest_size=16)
    h.update(f"{sample.from_integers}\x1e{sample.skipped}\x1e".encode())
    h.update("\x1f".join(sample.values.to_pylist()).encode("utf-8", "surrogatepass"))
    if sample.dates is not None:
        h.update(b"\x1e" + "\x1f".join(map(str, sample.dates.to_pylist())).encode())
    return h.hexdigest()
