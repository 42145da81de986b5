"""Files sealed under an exception (``encrypt=True``) by the key store that sealed the ones
before: a configuration pointed at a key folder its owner made (``anonymize.key_dir``) sealed
new files with a key that opens them without Lacuna, off the audit trail. Refused now, as
governed storage refuses it (tests/storage/test_storage5_keys.py)."""

from __future__ import annotations

import pandas as pd
import pytest

import lacuna
from lacuna.errors import StorageError

STEWARD = "jane.smith@example.com"
PURPOSE = "Board of Directors Q4 customer metrics presentation"


def _enable(sandbox_config, user: str, **extra) -> None:
    lacuna.enable(sandbox_config(user={"id": user, "role": "data_analyst"},
                                 stewards={"default": [STEWARD]}, **extra))


def _sealed(sandbox_config, governed, name: str, **extra) -> None:
    """An exception granted for ``Downloads/name``, then the export sealed under it."""
    customers = pd.read_csv(governed / "customers.csv")
    target = governed / "Downloads" / name
    _enable(sandbox_config, "analyst_alice", **extra)
    exc = lacuna.request_exception(data=customers, destination=str(target), purpose=PURPOSE,
                                   approver=STEWARD, duration_hours=1)
    _enable(sandbox_config, STEWARD, **extra)
    lacuna.approve_exception(exc.id)
    _enable(sandbox_config, "analyst_alice", **extra)
    customers.to_csv(target, exception_id=exc.id, encrypt=True, index=False)


def test_the_key_store_that_sealed_the_files_seals_the_next(sandbox_config, governed):
    _sealed(sandbox_config, governed, "first.csv")
    _sealed(sandbox_config, governed, "second.csv")
    plain = lacuna.decrypt(governed / "Downloads" / "second.csv")
    assert plain == pd.read_csv(governed / "customers.csv").to_csv(index=False).encode()


def test_a_key_folder_of_ones_own_seals_nothing(sandbox_config, governed, tmp_path):
    _sealed(sandbox_config, governed, "first.csv")
    mine = tmp_path / "my-keys"
    mine.mkdir()
    with pytest.raises(StorageError, match=r"opens none of the files sealed under exceptions"):
        _sealed(sandbox_config, governed, "second.csv", anonymize={"key_dir": str(mine)})
    assert not (governed / "Downloads" / "second.csv").exists()
