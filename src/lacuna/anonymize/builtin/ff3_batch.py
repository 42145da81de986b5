"""NIST FF3-1 for many decimal strings at once: one AES call per Feistel round for the whole batch.

The ``ff3`` package encrypts one value at a time in pure Python (eight AES calls and eight big
integer conversions per value: ~4,000 values per CPU-second here). This module computes exactly
the same function (it is checked against ``ff3`` in the tests) with numpy: the digits of every
value are held as two unsigned integers (the Feistel halves A and B), each round builds all the
16-byte AES inputs as one array and encrypts them in a single ECB call from ``cryptography``, and
reduces the 128-bit round outputs modulo ``10**m`` with 16-bit limbs so that nothing overflows 64
bits.

Only radix 10 and halves of at most 10 digits (values of 6 to 20 digits: SSNs, card numbers,
phone numbers, account numbers) take this path; :class:`FF3Batch` hands longer values to ``ff3``.

    batch = FF3Batch(key=bytes(32), tweak="d8e7920afa330a")
    batch.encrypt(["890121234", "123456789"])  # the same as ff3.FF3Cipher(...).encrypt, per value
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

ROUNDS = 8
MIN_DIGITS = 6  # FF3-1's domain must hold at least 10**6 values for radix 10
MAX_DIGITS = 56  # 2 * floor(96 / log2(10)), FF3's own bound
_MAX_FAST_HALF = 10  # 10**10 < 2**34: sums of limb products stay under 2**53
_POW10 = np.array([10**j for j in range(_MAX_FAST_HALF)], dtype=np.uint64)


class FF3Batch:
    """FF3-1, radix 10, under one key and one 56-bit tweak, applied to batches of digit strings."""

    def __init__(self, key: bytes, tweak: str) -> None:
        if len(key) not in (16, 24, 32):
            msg = f"an FF3-1 key has 16, 24 or 32 bytes, not {len(key)}"
            raise ValueError(msg)
        tweak_bytes = bytes.fromhex(tweak)
        if len(tweak_bytes) != 7:
            msg = f"an FF3-1 tweak has 56 bits (14 hex digits), not {len(tweak_bytes) * 8}"
            raise ValueError(msg)
        self._key = key
        self._tweak = tweak
        self._aes = Cipher(algorithms.AES(key[::-1]), modes.ECB())
        t = tweak_bytes
        t64 = bytes([t[0], t[1], t[2], t[3] & 0xF0, t[4], t[5], t[6], (t[3] & 0x0F) << 4])
        self._left, self._right = t64[:4], t64[4:]
        self._fallback: Any = None  # an ff3.FF3Cipher, made on first use

    def encrypt(self, values: Sequence[str]) -> list[str]:
        """The FF3-1 encryption of each digit string (all of 6 to 56 digits)."""
        return self._apply(values, decrypt=False)

    def decrypt(self, values: Sequence[str]) -> list[str]:
        """The inverse of :meth:`encrypt`."""
        return self._apply(values, decrypt=True)

    def _apply(self, values: Sequence[str], *, decrypt: bool) -> list[str]:
        out: list[str] = [""] * len(values)
        by_length: dict[int, list[int]] = {}
        for i, value in enumerate(values):
            n = len(value)
            if not MIN_DIGITS <= n <= MAX_DIGITS or not value.isascii() or not value.isdigit():
                msg = (f"FF3-1 takes strings of {MIN_DIGITS} to {MAX_DIGITS} digits, "
                       f"got {len(value)} characters")
                raise ValueError(msg)
            by_length.setdefault(n, []).append(i)
        for n, where in by_length.items():
            group = [values[i] for i in where]
            if math.ceil(n / 2) <= _MAX_FAST_HALF:
                done = self._rounds(group, n, decrypt=decrypt)
            else:
                done = self._slow(group, decrypt=decrypt)
            for i, value in zip(where, done, strict=True):
                out[i] = value
        return out

    def _rounds(self, group: list[str], n: int, *, decrypt: bool) -> list[str]:
        u = math.ceil(n / 2)
        v = n - u
        digits = (np.frombuffer("".join(group).encode("ascii"), dtype=np.uint8)
                  .reshape(len(group), n).astype(np.uint64) - 48)
        # NUM_10(REV(X)): the first digit is the least significant.
        a = digits[:, :u] @ _POW10[:u]
        b = digits[:, u:] @ _POW10[:v]
        order = range(ROUNDS - 1, -1, -1) if decrypt else range(ROUNDS)
        for i in order:
            m, tweak_half = (u, self._right) if i % 2 == 0 else (v, self._left)
            modulus = 10**m
            if decrypt:
                y = self._round_value(a, i, tweak_half, modulus)
                a, b = (b + np.uint64(modulus) - y) % np.uint64(modulus), a
            else:
                y = self._round_value(b, i, tweak_half, modulus)
                a, b = b, (a + y) % np.uint64(modulus)
        out = np.empty((len(group), n), dtype=np.uint8)
        out[:, :u] = (a[:, None] // _POW10[None, :u]) % np.uint64(10) + np.uint64(48)
        out[:, u:] = (b[:, None] // _POW10[None, :v]) % np.uint64(10) + np.uint64(48)
        text = out.tobytes().decode("ascii")
        return [text[k * n:(k + 1) * n] for k in range(len(group))]

    def _round_value(self, half: np.ndarray, i: int, tweak_half: bytes,
                     modulus: int) -> np.ndarray:
        """NUM_2(REV(CIPH(REV(P)))) mod ``modulus`` for every row, P = W xor i || NUM(B)."""
        count = len(half)
        # REV(P): NUM(B) as 8 little-endian bytes, 4 zero bytes, then (W xor i) reversed.
        blocks = np.zeros((count, 16), dtype=np.uint8)
        blocks[:, :8] = half.astype("<u8").view(np.uint8).reshape(count, 8)
        w = bytes([tweak_half[0], tweak_half[1], tweak_half[2], tweak_half[3] ^ i])
        blocks[:, 12:] = np.frombuffer(w[::-1], dtype=np.uint8)
        encryptor = self._aes.encryptor()
        cipher = encryptor.update(blocks.tobytes()) + encryptor.finalize()
        # REV then big-endian = little-endian: 128 bits as eight 16-bit limbs, reduced mod 10**m.
        limbs = np.frombuffer(cipher, dtype="<u2").reshape(count, 8).astype(np.uint64)
        weights = np.array([pow(2, 16 * k, modulus) for k in range(8)], dtype=np.uint64)
        total: np.ndarray = (limbs * weights).sum(axis=1)  # < 8 * 2**16 * 2**34 < 2**53
        return total % np.uint64(modulus)

    def _slow(self, group: list[str], *, decrypt: bool) -> list[str]:
        from ff3 import FF3Cipher

        if self._fallback is None:
            self._fallback = FF3Cipher(self._key.hex(), self._tweak, radix=10)
        step = self._fallback.decrypt if decrypt else self._fallback.encrypt
        return [step(value) for value in group]
