"""Registered datasets in sealed governed storage (issue 11 item 4, issue 16): the materialised
copy is ciphertext on disk, ``get`` is an audited read through open_governed, and staleness and
tamper detection work on the ciphertext (never on plaintext bytes of the copy)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

import lacuna
from bundles import contractor_denying_bundle
from lacuna import _bypass, storage
from lacuna.errors import GovernanceViolation
from lacuna.governor import current
from lacuna.keystore import keystore_for
from lacuna.storage import sealed
from lacuna.storage.rotation import rewrap_files

from .conftest import STEWARD

runner = CliRunner()


def _raw_emails(sandbox: Path) -> set[str]:
    with _bypass.bypass():
        return set(pd.read_csv(sandbox / "customers.csv")["email"])


def test_the_copy_is_sealed_and_get_is_an_audited_read(sandbox: Path, enabled) -> None:
    enabled()
    entry = lacuna.datasets.register("customers_anonymized", "customers.csv",
                                     approved_by=STEWARD)
    copy = Path(entry.location)
    assert copy.is_relative_to(sandbox / "governed" / "workspace")
    raw = copy.read_bytes()
    assert raw.startswith(sealed.MAGIC)
    assert b"PAR1" not in raw[:64]  # no Parquet in the clear
    assert b"email" not in raw
    with pytest.raises(Exception), _bypass.bypass():  # noqa: B017, PT011 - ciphertext only
        pd.read_parquet(copy)
    df = lacuna.datasets.get("customers_anonymized", purpose="churn model")
    with storage.open_governed(copy) as fh, _bypass.bypass():
        decrypted = pd.read_parquet(fh)
    pd.testing.assert_frame_equal(df, decrypted)
    assert not set(df["email"]) & _raw_emails(sandbox)  # anonymised, as registered
    assert df.lacuna_classification.tier == entry.classification.tier
    reads = current().audit.list(limit=None, action="read")
    gets = [r.data for r in reads if r.data.get("kind") != "outcome"
            and r.data.get("how", {}).get("method") == "lacuna.datasets.get"]
    assert len(gets) == 1
    assert gets[0]["why"]["purpose"] == "churn model"
    assert gets[0]["who"]["user_id"] == "analyst_alice"
    assert gets[0]["what"]["sources"] == [str(copy.resolve())]


def test_staleness_and_tampering_with_a_sealed_copy(sandbox: Path, enabled) -> None:
    enabled()
    entry = lacuna.datasets.register("c", "customers.csv", approved_by=STEWARD)
    copy = Path(entry.location)
    # a key rotation re-wraps the copy in place: the content is the same, so no rebuild
    keystore_for(current().config).rotate(current().config.storage.key_id)
    (done,) = [r for r in rewrap_files(current(), [copy.parent]) if Path(r.path) == copy]
    assert done.error is None
    assert sealed.read_header(copy).key.version == 2
    lacuna.datasets.get("c")
    assert lacuna.datasets.show("c").built_at == entry.built_at
    # the source changes: rebuilt (the source's fingerprint, not the copy's plaintext)
    with _bypass.bypass():
        src = pd.read_csv(sandbox / "customers.csv")
        src.head(5).to_csv(sandbox / "customers.csv", index=False)
    assert len(lacuna.datasets.get("c")) == 5
    rebuilt = lacuna.datasets.show("c")
    assert rebuilt.built_at != entry.built_at
    assert copy.read_bytes().startswith(sealed.MAGIC)
    # an attacker replaces the copy with a sealed file of their own (another dataset's copy,
    # raw PII planted through storage): not the build, so rebuilt rather than trusted
    with _bypass.bypass():
        storage.write_governed(copy, lambda fh: src.to_parquet(fh), method="attacker")
    df = lacuna.datasets.get("c")
    assert not set(df["email"]) & set(src["email"])
    assert len(df) == 5


def test_refresh_from_the_cli_rebuilds_a_sealed_copy(sandbox: Path, enabled,
                                                     tmp_path: Path) -> None:
    import yaml

    from lacuna.cli import app

    config = enabled()
    lacuna.datasets.register("c", "customers.csv", approved_by=STEWARD)
    before = Path(lacuna.datasets.show("c").location).read_bytes()
    path = tmp_path / "lacuna.yaml"
    body = config.model_dump(mode="json", exclude_defaults=True)
    path.write_text(yaml.safe_dump(body))
    result = runner.invoke(app, ["datasets", "refresh", "c", "--config", str(path)])
    assert result.exit_code == 0, result.output
    after = Path(lacuna.datasets.show("c").location).read_bytes()
    assert after.startswith(sealed.MAGIC)
    assert after != before  # a new file key and file id: sealed again
    assert len(lacuna.datasets.get("c")) == len(pd.read_csv(sandbox / "customers.csv"))


def test_a_sealed_source_is_read_through_governed_storage(sandbox: Path, enabled) -> None:
    enabled()
    src = sandbox / "governed" / "workspace" / "customers.csv"
    pd.read_csv(sandbox / "customers.csv").to_csv(src, index=False)  # sealed on write
    assert src.read_bytes().startswith(sealed.MAGIC)
    entry = lacuna.datasets.register("g", src, approved_by=STEWARD)
    assert entry.rows == len(pd.read_csv(sandbox / "customers.csv"))
    builds = [r.data for r in current().audit.list(limit=None, action="read")
              if r.data.get("kind") != "outcome"
              and r.data.get("how", {}).get("method") == "lacuna.datasets.build"]
    assert builds[0]["what"]["sources"] == [str(src.resolve())]
    assert lacuna.datasets.get("g").shape == (entry.rows, len(entry.columns))


def test_a_denied_get_decrypts_nothing(sandbox: Path, enabled, tmp_path: Path) -> None:
    bundle = contractor_denying_bundle(tmp_path)
    enabled(policy={"dir": str(bundle)})
    lacuna.datasets.register("c", "customers.csv", approved_by=STEWARD)
    with lacuna.governed(user={"id": "carl", "role": "contractor"}), pytest.raises(
            GovernanceViolation, match="contractors may not read"):
        lacuna.datasets.get("c")
    records = current().audit.list(limit=None, user="carl", action="read")
    assert [r.allowed for r in records] == [False]
