"""Vectorised synthetic values by ``pii_type``: the engine behind the ``synthesize`` strategy.

Every value gets a 64-bit *per-value seed*: a keyed hash of the (normalised) original value,
computed for all rows at once over the Arrow byte buffer (no Python loop per value). The same
original value under the same key gives the same seed, hence the same synthetic value, in every
column and table of that ``pii_type``: synthesized tables still join. The generators then draw
from that seed with numpy and build Arrow strings (Faker's locale word lists for names, streets,
e-mail domains):

========================  =====================================================================
``pii_type``              synthetic value
========================  =====================================================================
``name``                  first + last name from the locale's Faker lists
``email``                 ``first.last<nn>@example.org`` (Faker's reserved *safe* domains only)
``address``               ``<number> <Last name> <street suffix>``
``phone``                 digits replaced, punctuation and a leading ``+country`` code kept
``ssn``                   a keyed permutation of the valid SSNs (format kept, SSA rules hold)
``dob``                   a date whose age (at ``as_of``) falls in the same 10-year age band
``age``                   an age in the same 10-year band
``ip_address``            IPv4 keeps its /24 subnet, IPv6 its /64
``postal_code``           first three characters kept, the rest replaced
``gender``                kept as it is (a quasi-identifier: see :mod:`lacuna.privacy`)
anything else             format-preserving scramble: digits to digits, letters to letters
========================  =====================================================================

The scramble works on the UTF-8 bytes for ASCII; letters and digits of other scripts (a Cyrillic
name after a phone number, Arabic-Indic digits) become ASCII letters and digits drawn from the
same seed (:func:`_scramble_wide`), so no script keeps its characters as they were.

The per-value seed is a keyed 64-bit mixing hash (splitmix64 finaliser over each byte and its
position, summed, then mixed with the length): fast (about 0.1 s per million e-mail addresses) but
*not* a MAC. Treat the key like the ``hash`` key: whoever holds it can synthesize a candidate
value and compare. Free text (``pii_type`` missing, long values with spaces) has the spans the
value recognizers find (e-mails, phones, SSNs, cards, IPs) replaced one by one.
"""

from __future__ import annotations

import functools
import hashlib
import ipaddress
import re
import unicodedata
from contextvars import ContextVar
from datetime import date
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    import pyarrow as pa

DEFAULT_LOCALE = "en_US"
AGE_BAND_YEARS = 10
locale_var: ContextVar[str] = ContextVar("lacuna_synthesize_locale", default=DEFAULT_LOCALE)
as_of_var: ContextVar[date | None] = ContextVar("lacuna_synthesize_as_of", default=None)

_GOLD = 0x9E3779B97F4A7C15
_M1 = 0xBF58476D1CE4E5B9
_M2 = 0x94D049BB133111EB
# Text inside free text that is replaced: the value recognizers' patterns (RE2-compatible).
_SPANS: dict[str, str] = {
    "email": r"[A-Za-z0-9._%+'-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}",
    "ssn": r"\b[0-9]{3}-[0-9]{2}-[0-9]{4}\b",
    "card_number": r"\b(?:[0-9][ -]?){12,18}[0-9]\b",
    "phone": r"(?:\+|00)[1-9][0-9 ().-]{7,16}[0-9]|\(?[0-9]{3}\)?[ .-][0-9]{3}[ .-][0-9]{4}",
    "ip_address": r"\b(?:[0-9]{1,3}\.){3}[0-9]{1,3}\b",
}


def mix(x: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser, vectorised on uint64 (a bijection with good avalanche)."""
    import numpy as np

    with np.errstate(over="ignore"):
        x = x ^ (x >> np.uint64(30))
        x = x * np.uint64(_M1)
        x = x ^ (x >> np.uint64(27))
        x = x * np.uint64(_M2)
        out: np.ndarray = x ^ (x >> np.uint64(31))
        return out


def draw(seeds: np.ndarray, stream: int) -> np.ndarray:
    """The ``stream``-th independent 64-bit draw from each per-value seed."""
    import numpy as np

    with np.errstate(over="ignore"):
        return mix(seeds + np.uint64((stream + 1) * _GOLD % 2**64))


def subkeys(key: bytes, purpose: str) -> tuple[int, int]:
    """Two 64-bit keys for ``purpose`` (a ``pii_type``) derived from the strategy key."""
    digest = hashlib.blake2b(purpose.encode(), key=key[:64], digest_size=16,
                             person=b"lacuna-synth").digest()
    return int.from_bytes(digest[:8], "little"), int.from_bytes(digest[8:], "little")


def as_text(values: pd.Series) -> pa.LargeStringArray:
    """``values`` as one Arrow large_string array (nulls kept; non-strings via ``str``)."""
    import pyarrow as pa

    raw = getattr(values.array, "_pa_array", None)
    if raw is None:
        try:
            raw = pa.array(values.to_numpy(dtype=object), from_pandas=True)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            raw = None
    if raw is None or not (pa.types.is_string(raw.type) or pa.types.is_large_string(raw.type)
                           or pa.types.is_string_view(raw.type)):
        mask = values.notna().to_numpy()
        items = [str(v) if m else None for v, m in zip(values.to_numpy(dtype=object), mask,
                                                       strict=True)]
        raw = pa.array(items, type=pa.large_string())
    if isinstance(raw, pa.ChunkedArray):
        raw = raw.combine_chunks() if raw.num_chunks else pa.array([], type=pa.large_string())
    out: pa.LargeStringArray = raw.cast(pa.large_string())
    return out


def _buffers(arr: pa.LargeStringArray) -> tuple[np.ndarray, np.ndarray]:
    import numpy as np

    bufs = arr.buffers()
    offsets = np.frombuffer(bufs[1], dtype=np.int64)[arr.offset: arr.offset + len(arr) + 1]
    data = np.frombuffer(bufs[2], dtype=np.uint8) if bufs[2] is not None \
        else np.zeros(0, dtype=np.uint8)
    return offsets, data


def _positions(offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each byte between the first and last offset: its row, its index in the row."""
    import numpy as np

    lengths = np.diff(offsets)
    rows = np.repeat(np.arange(len(lengths)), lengths)
    starts = offsets[:-1]
    index = np.arange(offsets[0], offsets[-1], dtype=np.int64) - np.repeat(starts, lengths)
    return lengths, rows, index


def seeds_of(arr: pa.LargeStringArray, key: tuple[int, int]) -> np.ndarray:
    """The per-value seed of every row (nulls get a seed too; callers keep them null).

    Reads each value eight bytes at a time (an unaligned uint64 view of the Arrow data buffer),
    so the cost is one vector operation per 8 bytes of the longest value, not one per byte.
    """
    import numpy as np

    offsets, data = _buffers(arr)
    lengths = np.diff(offsets)
    padded = np.zeros(len(data) + 8, dtype=np.uint8)
    padded[: len(data)] = data
    words = np.ndarray(shape=(max(len(padded) - 7, 0),), dtype="<u8", buffer=padded,
                       strides=(1,))
    k0, k1 = np.uint64(key[0]), np.uint64(key[1])
    seeds = mix(lengths.astype(np.uint64) ^ k1)
    starts = offsets[:-1]
    longest = int(lengths.max()) if len(lengths) else 0
    with np.errstate(over="ignore"):
        for w in range((longest + 7) // 8):
            left = lengths - 8 * w
            active = np.flatnonzero(left > 0)
            if len(active) == 0:
                break
            word = words[starts[active] + 8 * w]
            short = left[active] < 8
            if short.any():
                bits = (left[active][short] * 8).astype(np.uint64)
                word[short] &= (np.uint64(1) << bits) - np.uint64(1)
            step = np.uint64((w + 1) * _GOLD % 2**64)
            seeds[active] = mix((seeds[active] + step) ^ mix(word ^ k0))
    return mix(seeds ^ k0)


def digits_only(arr: pa.LargeStringArray) -> pa.LargeStringArray:
    """Each value with every byte but the ASCII digits removed (numpy; no regex)."""
    import numpy as np
    import pyarrow as pa

    offsets, data = _buffers(arr)
    chunk = data[offsets[0]: offsets[-1]]
    digit = (chunk >= 48) & (chunk < 58)
    counts = np.concatenate([np.zeros(1, dtype=np.int64), np.cumsum(digit, dtype=np.int64)])
    new_offsets = counts[offsets - offsets[0]]
    out: pa.LargeStringArray = pa.LargeStringArray.from_buffers(
        len(arr), pa.py_buffer(new_offsets), pa.py_buffer(np.ascontiguousarray(chunk[digit])))
    return out


def normalised(arr: pa.LargeStringArray, pii_type: str | None) -> pa.LargeStringArray:
    """The form that is hashed: joins survive case, spacing and punctuation differences."""
    import pyarrow.compute as pc

    text = pc.utf8_trim_whitespace(arr)
    if pii_type in {"email", "name", "address", "username"}:
        text = pc.utf8_lower(text)
    if pii_type in {"phone", "ssn", "card_number"}:
        text = digits_only(text)
    out: pa.LargeStringArray = text
    return out


@functools.cache
def word_lists(locale: str) -> dict[str, tuple[str, ...]]:
    """First names, last names, street suffixes and safe e-mail domains of a Faker locale."""
    from faker import Faker

    fake = Faker(locale)
    found: dict[str, tuple[str, ...]] = {}
    for provider in fake.get_providers():
        for attr in ("first_names", "last_names", "street_suffixes", "safe_domain_names"):
            if attr not in found and hasattr(provider, attr):
                found[attr] = tuple(getattr(provider, attr))
    if "street_suffixes" not in found:
        found["street_suffixes"] = ("Street", "Avenue", "Road", "Lane")
    found.setdefault("safe_domain_names", ("example.org", "example.com", "example.net"))
    found["email_first"] = tuple(_ascii(n) for n in found["first_names"])
    found["email_last"] = tuple(_ascii(n) for n in found["last_names"])
    return found


def _ascii(name: str) -> str:
    folded = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    return re.sub(r"[^a-z0-9]", "", folded) or "x"


def _lit(text: str) -> pa.Scalar[Any]:
    import pyarrow as pa

    return pa.scalar(text, type=pa.large_string())


def _pick(words: tuple[str, ...], bits: np.ndarray) -> pa.Array:
    import numpy as np
    import pyarrow as pa

    pool = pa.array(words, type=pa.large_string())
    return pool.take(pa.array((bits % np.uint64(len(words))).astype(np.int64)))


def generate(values: pd.Series, pii_type: str | None, key: bytes) -> pd.Series:
    """Synthetic values for one column (same index; nulls stay null)."""
    import pandas as pd

    if pii_type in {"dob", "age"}:
        return _dates(values, key) if pii_type == "dob" else _ages(values, key)
    import pyarrow.compute as pc

    arr = as_text(values)
    if pii_type is None or pii_type == "free_text":
        out = _free_text(arr, key)
    elif pii_type == "gender":
        out = arr
    else:
        seeds = seeds_of(normalised(arr, pii_type), subkeys(key, pii_type))
        maker = _MAKERS.get(pii_type, _scramble_all)
        out = maker(arr, seeds, key)
        prose = _prose(arr, pii_type)
        if prose is not None:  # sentences that mention the value: replace only the spans
            out = pc.if_else(prose, _free_text(arr, key), out)
    out = pc.if_else(pc.is_valid(arr), out, None)  # nulls stay null
    if isinstance(values.dtype, pd.StringDtype) or (
            pd.api.types.is_string_dtype(values.dtype) and values.dtype != object):
        return pd.Series(pd.array(out, dtype=values.dtype), index=values.index, name=values.name)
    return pd.Series(out.to_pandas(), index=values.index, name=values.name, dtype=object) \
        .where(values.notna(), None)


def free_text(values: pd.Series, pii_type: str | None) -> bool:
    """Whether :func:`generate` treats any value of the column as free text, where only the spans
    the value patterns find are replaced and the rest of the sentence (names, addresses, a
    diagnosis in words) is kept as it was."""
    if pii_type in {"dob", "age", "gender"} or not values.notna().any():
        return False
    if pii_type is None or pii_type == "free_text":
        return True
    return _prose(as_text(values), pii_type) is not None


def _prose(arr: pa.LargeStringArray, pii_type: str) -> pa.Array | None:
    """Which values of a ``pii_type`` with span patterns are sentences (spaces and a word of three
    letters, in any script: ``Иван`` as much as ``Jane``); None when there are none."""
    import pyarrow.compute as pc

    if pii_type not in _SPANS:
        return None
    # any white space or separator (a tab, a no-break space): with " " only, "Jane\tSmith\t
    # 81.2.69.10" was no sentence, and the fallback kept the name in a column called public
    spaced = pc.fill_null(pc.match_substring_regex(arr, _SPACE), False)
    if not pc.any(spaced).as_py():
        return None
    prose = pc.and_(spaced, pc.fill_null(pc.match_substring_regex(arr, r"\pL{3}"), False))
    return prose if pc.any(prose).as_py() else None


_SPACE = r"[\s\p{Z}]"  # RE2's \s is ASCII only: also every Unicode separator (U+00A0, U+3000)


def _names(_arr: pa.Array, seeds: np.ndarray, _key: bytes) -> pa.Array:
    import pyarrow.compute as pc

    words = word_lists(locale_var.get())
    return pc.binary_join_element_wise(_pick(words["first_names"], draw(seeds, 0)),
                                       _pick(words["last_names"], draw(seeds, 1)), _lit(" "))


def _emails(_arr: pa.Array, seeds: np.ndarray, _key: bytes) -> pa.Array:
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    words = word_lists(locale_var.get())
    number = pc.cast(pa.array((draw(seeds, 2) % np.uint64(1_000_000)).astype(np.int64)),
                     pa.large_string())
    return pc.binary_join_element_wise(
        _pick(words["email_first"], draw(seeds, 0)), _lit("."),
        _pick(words["email_last"], draw(seeds, 1)), number, _lit("@"),
        _pick(words["safe_domain_names"], draw(seeds, 3)), _lit(""))


def _addresses(_arr: pa.Array, seeds: np.ndarray, _key: bytes) -> pa.Array:
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    words = word_lists(locale_var.get())
    number = pc.cast(pa.array((draw(seeds, 2) % np.uint64(9_999) + np.uint64(1))
                              .astype(np.int64)), pa.large_string())
    return pc.binary_join_element_wise(number, _pick(words["last_names"], draw(seeds, 1)),
                                       _pick(words["street_suffixes"], draw(seeds, 4)), _lit(" "))


def scramble(arr: pa.LargeStringArray, seeds: np.ndarray, keep: np.ndarray | None = None
             ) -> pa.Array:
    """Digits to digits and ASCII letters to letters (case kept), drawn from each row's seed;
    every other byte, and the first ``keep[row]`` bytes, stay. Lengths never change."""
    import numpy as np
    import pyarrow as pa

    offsets, data = _buffers(arr)
    lengths = np.diff(offsets)
    width = int(lengths.max()) if len(lengths) else 0
    chunk = data[offsets[0]: offsets[-1]].copy()
    if width <= _MATRIX_WIDTH:
        # one row per value, one byte per column: per-byte work in uint8, randomness per row
        inside = np.arange(width)[None, :] < lengths[:, None]
        grid = np.zeros((len(lengths), width), dtype=np.uint8)
        grid[inside] = chunk
        words = (width + 7) // 8
        noise = np.stack([draw(seeds, 16 + w) for w in range(words)], axis=1) \
            .astype("<u8").view(np.uint8)[:, :width] if words else grid
        fixed = None if keep is None else np.arange(width)[None, :] < keep[:, None]
        for low, size in ((48, 10), (97, 26), (65, 26)):
            where = (grid >= low) & (grid < low + size)
            if fixed is not None:
                where &= ~fixed
            grid[where] = np.uint8(low) + noise[where] % np.uint8(size)
        chunk = grid[inside]
    else:
        _, rows, index = _positions(offsets)
        with np.errstate(over="ignore"):
            bits = mix(seeds[rows] + index.astype(np.uint64) * np.uint64(_GOLD))
        pinned = np.zeros(len(chunk), dtype=bool) if keep is None else index < keep[rows]
        for low, size in ((48, 10), (97, 26), (65, 26)):
            where = (chunk >= low) & (chunk < low + size) & ~pinned
            chunk[where] = (np.uint64(low) + bits[where] % np.uint64(size)).astype(np.uint8)
    new_offsets = (offsets - offsets[0]).astype(np.int64)
    # no validity bitmap: every row is valid here; generate() puts the nulls back
    out = pa.LargeStringArray.from_buffers(len(arr), pa.py_buffer(new_offsets),
                                           pa.py_buffer(chunk))
    return _scramble_wide(out, new_offsets, chunk, seeds, keep)


def _scramble_wide(out: pa.LargeStringArray, offsets: np.ndarray, chunk: np.ndarray,
                   seeds: np.ndarray, keep: np.ndarray | None) -> pa.LargeStringArray:
    """``out`` with the letters and digits outside ASCII (Cyrillic, Greek, CJK, Arabic-Indic
    digits, accented letters) replaced by ASCII ones drawn from the row's seed: the byte-level
    scramble leaves every byte above 127 as it is, so ``+7 495 123-45-67 (Иван Петров)`` kept
    the name and ``٠٥٥٥١٢٣٤٥٦٧`` the whole number in a column then classified public. Only rows
    with such bytes go through Python; the first ``keep[row]`` bytes stay, as in
    :func:`scramble`."""
    import numpy as np
    import pyarrow as pa

    high = np.concatenate([np.zeros(1, dtype=np.int64), np.cumsum(chunk >= 128, dtype=np.int64)])
    wide = np.flatnonzero(high[offsets[1:]] - high[offsets[:-1]])
    if not len(wide):
        return out
    texts: list[Any] = out.to_pylist()
    for row in wide.tolist():
        texts[row] = _ascii_scramble(texts[row], seeds[row],
                                     0 if keep is None else int(keep[row]))
    done: pa.LargeStringArray = pa.array(texts, type=pa.large_string())
    return done


def _ascii_scramble(text: str, seed: np.uint64, keep: int) -> str:
    """Each non-ASCII letter to an ASCII letter (case kept), each non-ASCII digit or number to
    an ASCII digit; characters in the first ``keep`` bytes and everything else stay."""
    import numpy as np

    with np.errstate(over="ignore"):
        bits = mix(np.uint64(seed) + np.arange(1, len(text) + 1, dtype=np.uint64)
                   * np.uint64(_GOLD)).tolist()
    chars, at = [], 0
    for i, ch in enumerate(text):
        pinned, at = at < keep, at + len(ch.encode("utf-8", "surrogatepass"))
        if pinned or ch.isascii() or not ch.isalnum():
            chars.append(ch)
        elif ch.isalpha():
            letter = _ASCII_LETTERS[bits[i] % 26]
            chars.append(letter.upper() if ch.isupper() else letter)
        else:
            chars.append(_SCRAMBLE_DIGITS[bits[i] % 10])
    return "".join(chars)


_ASCII_LETTERS = "abcdefghijklmnopqrstuvwxyz"


_MATRIX_WIDTH = 64  # values up to this many bytes are scrambled as a rows x bytes matrix


def _scramble_all(arr: pa.Array, seeds: np.ndarray, _key: bytes) -> pa.Array:
    return scramble(arr, seeds)


def _phones(arr: pa.Array, seeds: np.ndarray, _key: bytes) -> pa.Array:

    return scramble(arr, seeds, _country_code_length(arr))


def _country_code_length(arr: pa.LargeStringArray) -> np.ndarray:
    """Bytes of a leading ``+`` and up to three digits (a country code), else 0, per row."""
    import numpy as np

    offsets, data = _buffers(arr)
    starts, lengths = offsets[:-1], np.diff(offsets)
    padded = np.concatenate([data, np.zeros(4, dtype=np.uint8)])
    keep = np.where((lengths > 0) & (padded[starts] == 43), 1, 0)
    running = keep.astype(bool)
    for j in (1, 2, 3):
        byte = padded[starts + j]
        running &= (lengths > j) & (byte >= 48) & (byte < 58)
        keep = keep + running
    result: np.ndarray = keep.astype(np.int64)
    return result


def _postal_codes(arr: pa.Array, seeds: np.ndarray, _key: bytes) -> pa.Array:
    import numpy as np

    return scramble(arr, seeds, np.full(len(arr), 3, dtype=np.int64))


# Valid SSNs: area 001-899 except 666, group 01-99, serial 0001-9999.
_AREAS, _GROUPS, _SERIALS = 898, 99, 9999
_SSN_COUNT = _AREAS * _GROUPS * _SERIALS
_FEISTEL_BITS = 15  # two halves of a 30-bit block: 2^30 > _SSN_COUNT


def ssn_permute(index: np.ndarray, key: tuple[int, int], rounds: int = 6) -> np.ndarray:
    """A keyed permutation of ``range(_SSN_COUNT)`` (Feistel network with cycle walking)."""
    import numpy as np

    mask = np.uint64((1 << _FEISTEL_BITS) - 1)
    keys = [np.uint64((key[0] * (r + 1) ^ key[1] + r * _GOLD) % 2**64) for r in range(rounds)]

    def once(x: np.ndarray) -> np.ndarray:
        left, right = x >> np.uint64(_FEISTEL_BITS), x & mask
        for k in keys:
            left, right = right, left ^ (mix(right ^ k) & mask)
        return (left << np.uint64(_FEISTEL_BITS)) | right

    out = once(index.astype(np.uint64))
    todo = out >= np.uint64(_SSN_COUNT)
    while todo.any():
        out[todo] = once(out[todo])
        todo = out >= np.uint64(_SSN_COUNT)
    return out


def _ssns(arr: pa.Array, seeds: np.ndarray, key: bytes) -> pa.Array:
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    digits = digits_only(pc.fill_null(arr, _lit("")))
    offsets, data = _buffers(digits)
    ok = np.diff(offsets) == 9
    padded = np.concatenate([data, np.zeros(9, dtype=np.uint8)])
    grid = padded[offsets[:-1, None] + np.arange(9)[None, :]].astype(np.int64) - 48
    number = grid @ (10 ** np.arange(8, -1, -1, dtype=np.int64))
    area, group, serial = number // 1_000_000, number // 10_000 % 100, number % 10_000
    valid = ok & (area >= 1) & (area <= 899) & (area != 666) & (group >= 1) & (serial >= 1)
    area_index = np.where(area > 666, area - 2, area - 1)
    index = (area_index * _GROUPS + group - 1) * _SERIALS + serial - 1
    index = np.where(valid, index, (seeds % np.uint64(_SSN_COUNT)).astype(np.int64))
    perm = ssn_permute(index.astype(np.uint64), subkeys(key, "ssn-permutation")).astype(np.int64)
    serial_out = perm % _SERIALS + 1
    group_out = perm // _SERIALS % _GROUPS + 1
    area_out = perm // (_SERIALS * _GROUPS) + 1
    area_out = np.where(area_out >= 666, area_out + 1, area_out)
    # an n x 11 byte grid "AAA-GG-SSSS"; bare inputs leave out the two dashes
    text = np.full((len(perm), 11), 45, dtype=np.uint8)
    for column, (value, scale) in enumerate(
            [(area_out, 100), (area_out, 10), (area_out, 1), (None, 0),
             (group_out, 10), (group_out, 1), (None, 0),
             (serial_out, 1000), (serial_out, 100), (serial_out, 10), (serial_out, 1)]):
        if value is not None:
            text[:, column] = 48 + value // scale % 10
    dashed = np.asarray(pc.fill_null(pc.match_substring(arr, "-"), False), dtype=bool)
    keep = np.ones((len(perm), 11), dtype=bool)
    keep[:, [3, 6]] = dashed[:, None]
    widths = np.where(dashed, 11, 9).astype(np.int64)
    new_offsets = np.concatenate([np.zeros(1, dtype=np.int64), np.cumsum(widths)])
    return pa.LargeStringArray.from_buffers(len(perm), pa.py_buffer(new_offsets),
                                            pa.py_buffer(np.ascontiguousarray(text[keep])))


def _ips(arr: pa.Array, seeds: np.ndarray, _key: bytes) -> pa.Array:
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    v4 = pc.fill_null(pc.match_substring_regex(arr, r"^\s*[0-9]{1,3}(\.[0-9]{1,3}){3}\s*$"),
                      False)
    prefix = pc.replace_substring_regex(pc.utf8_trim_whitespace(arr), r"[0-9]+$", "")
    hosts = (draw(seeds, 5) % np.uint64(254) + np.uint64(1)).astype(np.int64)
    host = pc.cast(pa.array(hosts), pa.large_string())
    out = pc.binary_join_element_wise(prefix, host, _lit(""))
    if pc.all(pc.or_kleene(v4, pc.is_null(arr))).as_py():
        return out
    texts = out.to_pylist()
    bits = draw(seeds, 6).tolist()
    for i, (value, is_v4) in enumerate(zip(arr.to_pylist(), v4.to_pylist(), strict=True)):
        if value is not None and not is_v4:
            texts[i] = _other_ip(value, bits[i], int(hosts[i]))
    return pa.array(texts, type=pa.large_string())


def _other_ip(value: str, bits: int, host: int) -> str:
    """A value the IPv4 pattern did not match: an IPv6 address keeps its /64, an IPv4 one
    Python still reads (padded with a space the pattern does not know, such as a no-break
    space) its /24 with ``host`` as the last byte, anything else has its digits scrambled.
    Before, such an IPv4 address came out as it went in, in a column called public."""
    try:
        address = ipaddress.ip_address(value.strip())
    except ValueError:  # not an address: every letter and digit replaced, never kept
        return "".join(_SCRAMBLE_DIGITS[(bits >> (i % 60)) % 10] if c.isdigit()
                       else _scramble_letter(c, bits >> (i % 60)) if c.isalpha() else c
                       for i, c in enumerate(value))
    if isinstance(address, ipaddress.IPv6Address):
        net = int(address) >> 64 << 64
        return str(ipaddress.IPv6Address(net | (bits & (2**64 - 1)) or 1))
    return str(ipaddress.IPv4Address(int(address) >> 8 << 8 | host))


_SCRAMBLE_DIGITS = "0123456789"


def _scramble_letter(c: str, bits: int) -> str:
    letter = _ASCII_LETTERS[bits % 26]
    return letter.upper() if c.isupper() else letter


def _as_of() -> date:
    chosen = as_of_var.get()
    return chosen if chosen is not None else date(date.today().year, 1, 1)


def _dates(values: pd.Series, key: bytes) -> pd.Series:
    """Dates of birth in the same age band (``AGE_BAND_YEARS``) at ``as_of``."""
    import numpy as np
    import pandas as pd

    is_datetime = pd.api.types.is_datetime64_any_dtype(values.dtype)
    stamps = _parse_dates(values)
    as_of = _as_of()
    k0, k1 = subkeys(key, "dob")
    days = stamps.to_numpy(dtype="datetime64[D]").astype(np.int64).astype(np.uint64)
    seeds = mix(mix(days ^ np.uint64(k0)) ^ np.uint64(k1))  # the day itself is the value
    band = _band_of(stamps, as_of)
    out = np.empty(len(values), dtype="datetime64[D]")
    for low in np.unique(band):
        # ages low..low+W-1 at as_of: born after as_of-(low+W) years, on or before as_of-low.
        first = np.datetime64(_years_before(as_of, low + AGE_BAND_YEARS), "D") + 1
        last = np.datetime64(_years_before(as_of, low), "D")
        rows = band == low
        span = np.uint64(int((last - first).astype(int)) + 1)
        out[rows] = first + (draw(seeds[rows], 7) % span).astype(np.int64)
    result = pd.Series(out, index=values.index, name=values.name)
    missing = values.isna().to_numpy() | np.asarray(stamps.isna())
    if is_datetime:
        result = result.astype(values.dtype)
        return result.where(~missing)
    import pyarrow as pa

    iso = pa.array(out, type=pa.date32(), mask=missing).cast(pa.large_string())
    if values.dtype == object:
        return pd.Series(iso.to_pandas(), index=values.index, name=values.name, dtype=object) \
            .where(~missing, None)
    return pd.Series(pd.array(iso, dtype=values.dtype), index=values.index, name=values.name)


def age_band(values: pd.Series) -> pd.Series:
    """The lower bound of each date of birth's ``AGE_BAND_YEARS`` age band at ``as_of``."""
    import pandas as pd

    stamps = _parse_dates(values)
    return pd.Series(_band_of(stamps, _as_of()), index=values.index).where(stamps.notna())


def _parse_dates(values: pd.Series) -> pd.DatetimeIndex:
    import pandas as pd

    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        stamps = pd.DatetimeIndex(values)
    else:
        text = values.astype("string")
        stamps = pd.DatetimeIndex(pd.to_datetime(text, errors="coerce", format="%Y-%m-%d"))
        retry = stamps.isna() & text.notna().to_numpy()
        if retry.any():
            fixed = pd.DatetimeIndex(pd.to_datetime(text[retry], errors="coerce",
                                                    format="mixed"))
            stamps = stamps.where(~retry, pd.Series(fixed, index=text.index[retry])
                                  .reindex(text.index).to_numpy())
    return stamps.tz_localize(None) if stamps.tz is not None else stamps


def _band_of(stamps: pd.DatetimeIndex, as_of: date) -> np.ndarray:
    import numpy as np

    years = as_of.year - stamps.year.to_numpy(dtype=float)
    before = (stamps.month.to_numpy(dtype=float) * 100 + stamps.day.to_numpy(dtype=float)
              > as_of.month * 100 + as_of.day)
    age = np.nan_to_num(years - before, nan=-1).astype(np.int64)
    result: np.ndarray = np.maximum(age, 0) // AGE_BAND_YEARS * AGE_BAND_YEARS
    return result


def _years_before(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year - int(years))
    except ValueError:  # 29 February
        return day.replace(year=day.year - int(years), day=28)


def _ages(values: pd.Series, key: bytes) -> pd.Series:
    import numpy as np
    import pandas as pd

    numbers = pd.to_numeric(values, errors="coerce")
    seeds = seeds_of(as_text(numbers.astype("string")), subkeys(key, "age"))
    band = (numbers // AGE_BAND_YEARS * AGE_BAND_YEARS).to_numpy(dtype=float)
    offset = (draw(seeds, 8) % np.uint64(AGE_BAND_YEARS)).astype(float)
    out = pd.Series(band + offset, index=values.index, name=values.name).where(numbers.notna())
    if pd.api.types.is_integer_dtype(values.dtype) and not out.isna().any():
        return out.astype(values.dtype)
    return out.astype("Int64") if pd.api.types.is_integer_dtype(values.dtype) else out


def _free_text(arr: pa.LargeStringArray, key: bytes) -> pa.Array:
    """Free text with each span the value patterns find (e-mail, SSN, card, phone, IP) replaced
    by its synthetic value; each distinct span is synthesized once, vectorised. Words without
    spaces (an identifier in a column of unknown type) are scrambled instead: never kept as is."""
    import pandas as pd
    import pyarrow as pa
    import pyarrow.compute as pc

    spaced = pc.fill_null(pc.match_substring_regex(arr, r"\s"), False)
    texts: list[Any] = arr.to_pylist()
    for pii_type, pattern in _SPANS.items():
        compiled = re.compile(pattern)
        spans = {m for t in texts if t for m in compiled.findall(t)}
        if not spans:
            continue
        originals = sorted(spans)
        made = generate(pd.Series(originals, dtype=object), pii_type, key).tolist()
        lookup = dict(zip(originals, made, strict=True))
        texts = [compiled.sub(functools.partial(_swap, lookup), t) if t else t for t in texts]
    replaced = pa.array(texts, type=pa.large_string())
    if pc.all(pc.or_kleene(spaced, pc.is_null(arr))).as_py():
        return replaced
    scrambled = scramble(arr, seeds_of(arr, subkeys(key, "free_text")))
    return pc.if_else(spaced, replaced, scrambled)


def _swap(lookup: dict[str, str], match: re.Match[str]) -> str:
    return lookup[match.group(0)]


_MAKERS = {
    "name": _names,
    "email": _emails,
    "address": _addresses,
    "phone": _phones,
    "postal_code": _postal_codes,
    "ssn": _ssns,
    "ip_address": _ips,
}
