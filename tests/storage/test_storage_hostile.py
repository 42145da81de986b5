"""Governed storage against the owner of the files, the config and the process: reads that
would decrypt without a record on the audit trail, and the sealed-file tampering that must
fail closed."""

from __future__ import annotations

import warnings
from pathlib import Path

import pandas as pd
import pytest

import lacuna
from lacuna.errors import AuditError, GovernanceViolation
from lacuna.governor import current
from storage.conftest import customers, write_config


@pytest.fixture(params=["warn", "observe"])
def lenient(tmp_path: Path, request: pytest.FixtureRequest):
    """Governed storage in a mode that lets denied operations run (warn, observe)."""
    lacuna.enable(str(write_config(tmp_path, mode=request.param)))
    root = tmp_path / "governed" / "workspace"
    customers().to_csv(root / "customers.csv", index=False)
    yield root
    lacuna.disable()


def test_an_unrecordable_read_decrypts_nothing_in_any_mode(lenient: Path, monkeypatch):
    """The audit trail cannot take the read's decision: the mode may let other operations run
    unrecorded, but a sealed file is never decrypted off the record."""
    gov = current()
    opened = []
    from lacuna.storage import sealed

    real = sealed.SealedReader.__init__

    def spy(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        opened.append(args[0])
        real(self, *args, **kwargs)

    def broken(*_args, **_kwargs):  # type: ignore[no-untyped-def]
        msg = "database is locked"
        raise AuditError(msg)

    monkeypatch.setattr(sealed.SealedReader, "__init__", spy)
    monkeypatch.setattr(type(gov.audit), "record", broken)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(GovernanceViolation, match="audit trail could not record") as info:
            pd.read_csv(lenient / "customers.csv")
    assert "decrypted only once its read is decided and on the audit trail" in str(info.value)
    assert opened == []


def test_a_read_lacuna_cannot_decide_decrypts_nothing_in_any_mode(lenient: Path, monkeypatch):
    gov = current()

    def broken(*_args, **_kwargs):  # type: ignore[no-untyped-def]
        msg = "policy engine crashed"
        raise RuntimeError(msg)

    monkeypatch.setattr(gov, "decide", broken)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(GovernanceViolation, match="decrypted only once"):
            pd.read_csv(lenient / "customers.csv")
