"""The batch FF3-1 is the same function as the ``ff3`` package's, value for value."""

from __future__ import annotations

import random

import pytest
from ff3 import FF3Cipher

from lacuna.anonymize.builtin.ff3_batch import FF3Batch


@pytest.mark.parametrize("key_bytes", [16, 24, 32])
def test_matches_the_ff3_package_for_every_length(key_bytes: int) -> None:
    rng = random.Random(key_bytes)
    key = rng.randbytes(key_bytes)
    tweak = rng.randbytes(7).hex()
    reference = FF3Cipher(key.hex(), tweak, radix=10)
    # 6..20 digits take the numpy path, 21..30 the ff3 fallback; mixed lengths in one batch.
    values = ["".join(rng.choice("0123456789") for _ in range(rng.randint(6, 30)))
              for _ in range(300)]
    values += ["000000", "999999", "0" * 20, "9" * 20]  # the domain's edges
    batch = FF3Batch(key, tweak)

    encrypted = batch.encrypt(values)

    assert encrypted == [reference.encrypt(value) for value in values]
    assert batch.decrypt(encrypted) == values
    assert [len(e) for e in encrypted] == [len(v) for v in values]


def test_a_permutation_of_a_small_domain() -> None:
    batch = FF3Batch(bytes(range(32)), "00112233445566")
    domain = [f"{i:06d}" for i in range(0, 1_000_000, 7)]
    encrypted = batch.encrypt(domain)
    assert len(set(encrypted)) == len(domain)  # injective
    assert encrypted != domain


@pytest.mark.parametrize("bad", ["12345", "12a456", "１２３４５６", "1" * 57])
def test_refuses_what_ff3_1_cannot_encrypt(bad: str) -> None:
    with pytest.raises(ValueError, match="FF3-1 takes strings of 6 to 56 digits"):
        FF3Batch(bytes(32), "00112233445566").encrypt([bad])


def test_refuses_bad_keys_and_tweaks() -> None:
    with pytest.raises(ValueError, match="16, 24 or 32 bytes"):
        FF3Batch(bytes(20), "00112233445566")
    with pytest.raises(ValueError, match="56 bits"):
        FF3Batch(bytes(32), "0011223344556677")
