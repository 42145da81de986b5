"""Database URLs in errors and messages never show their password (one helper,
lacuna.redact.redact_url, used wherever a state/vault/fingerprint URL is shown)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from lacuna.errors import LacunaError
from lacuna.redact import redact_url

SECRET = "s3cret-pw"
URL = f"postgresql+psycopg://lacuna:{SECRET}@127.0.0.1:1/governance?connect_timeout=2"


@pytest.mark.parametrize(("url", "shown"), [
    (URL, "postgresql+psycopg://lacuna:***@127.0.0.1:1/governance?connect_timeout=2"),
    ("postgresql://u:p%40ss@db:5432/x?sslpassword=abc&application_name=lacuna",
     "postgresql://u:***@db:5432/x?sslpassword=***&application_name=lacuna"),
    ("sqlite:////var/lib/lacuna/audit.db", "sqlite:////var/lib/lacuna/audit.db"),
    ("/plain/path.db", "/plain/path.db"),
    ("postgresql://lacuna@db/x", "postgresql://lacuna@db/x"),
])
def test_redact_url(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def _message(call: object) -> str:
    with pytest.raises(LacunaError) as info:
        call()  # type: ignore[operator]
    return str(info.value)


def test_state_database_errors_do_not_show_the_password(tmp_path: Path) -> None:
    from lacuna.anonymize.vault import Vault
    from lacuna.audit.store import AuditStore
    from lacuna.config import config_from_dict
    from lacuna.datasets.store import DatasetStore
    from lacuna.keystore import keystore_for
    from lacuna.proxy.fingerprints import FingerprintStore

    config = config_from_dict({"anonymize": {"key_dir": str(tmp_path / "keys")}})
    vault = Vault(URL, keystore_for(config))
    messages = [
        _message(lambda: vault.tokenize(["ann@example.com"], "email")),
        _message(lambda: vault.resolve(["tok_1"], column="email")),
        _message(lambda: AuditStore(URL)),
        _message(lambda: FingerprintStore(URL, b"k" * 32)),
        _message(lambda: DatasetStore(URL)),
    ]
    for message in messages:
        assert SECRET not in message
        assert "lacuna:***@127.0.0.1:1/governance" in message  # where, still said


def test_cli_messages_do_not_show_the_password(tmp_path: Path) -> None:
    from lacuna.cli import app

    runner = CliRunner()
    for args in (["audit", "list", "--db", URL], ["audit", "verify", "--db", URL],
                 ["db", "current", "--db", URL]):
        result = runner.invoke(app, args)
        assert result.exit_code != 0
        assert SECRET not in result.output
        assert "***" in result.output


def test_a_dbt_warehouse_that_cannot_be_opened_is_named_without_its_password() -> None:
    from lacuna.dbt.warehouse import engine_for

    with pytest.raises(LacunaError) as info:
        engine_for(URL.replace("+psycopg", "+nosuchdriver"))
    assert SECRET not in str(info.value)
    assert "lacuna:***@127.0.0.1" in str(info.value)
