"""The key store: file and env backends, versions, rotation, refusing loose key files."""

from __future__ import annotations

import stat
from pathlib import Path
from typing import ClassVar

import pandas as pd
import pytest

from lacuna.anonymize import anonymize
from lacuna.config import config_from_dict
from lacuna.errors import ConfigError, UnknownPluginError
from lacuna.keystore import (
    EnvKeyBackend,
    FileKeyBackend,
    KeyBackend,
    KeyStore,
    backends,
    keystore_for,
)
from lacuna.lineage.state import get_state


def test_file_key_is_created_0600_and_versions_survive_rotation(tmp_path: Path) -> None:
    store = KeyStore(FileKeyBackend(tmp_path / "keys"))
    first = store.current("fpe")
    path = tmp_path / "keys" / "fpe.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert (first.ref.version, len(first.material)) == (1, 32)
    assert store.current("fpe") == first  # stable
    second = store.rotate("fpe")
    assert second.ref.version == 2
    assert second.material != first.material
    # a fresh store (another process) sees the rotation and still reads the old version
    again = KeyStore(FileKeyBackend(tmp_path / "keys"))
    assert again.current("fpe") == second
    assert again.get("fpe", 1) == first
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["fpe.key"]  # no temp files left


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644])
def test_a_key_file_others_can_read_is_refused_with_the_fix(tmp_path: Path, mode: int) -> None:
    store = KeyStore(FileKeyBackend(tmp_path))
    store.current("vault")
    path = tmp_path / "vault.key"
    path.chmod(mode)
    with pytest.raises(ConfigError, match=rf"other users can read it .*chmod 600 {path}"):
        KeyStore(FileKeyBackend(tmp_path)).current("vault")


def test_hash_refuses_a_loose_anonymize_key(home: Path) -> None:
    df = pd.DataFrame({"email": ["a@b.com"]})
    anonymize(df, ["email"], strategy="hash")
    (home / "anonymize.key").chmod(0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        anonymize(df, ["email"], strategy="hash")


def test_a_missing_version_names_the_versions_there_are(tmp_path: Path) -> None:
    store = KeyStore(FileKeyBackend(tmp_path))
    store.current("fpe")
    with pytest.raises(ConfigError, match=r"no version 7 .*versions: v1"):
        store.get("fpe", 7)


def test_env_backend_reads_versions_and_cannot_rotate(monkeypatch: pytest.MonkeyPatch) -> None:
    store = KeyStore(EnvKeyBackend())
    with pytest.raises(ConfigError, match=r"\$LACUNA_KEY_FPE "):
        store.current("fpe")
    monkeypatch.setenv("LACUNA_KEY_FPE", "11" * 32)
    assert store.current("fpe").ref.version == 1
    monkeypatch.setenv("LACUNA_KEY_FPE_V2", "22" * 32)
    current = store.current("fpe")
    assert (current.ref.version, current.material) == (2, b"\x22" * 32)
    assert store.get("fpe", 1).material == b"\x11" * 32
    with pytest.raises(ConfigError, match=r"set \$LACUNA_KEY_FPE_V3"):
        store.rotate("fpe")


def test_keystore_backend_comes_from_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LACUNA_KEY_ANONYMIZE", bytes(range(1, 33)).hex())
    config = config_from_dict({"anonymize": {"keystore": "env"}})
    assert isinstance(keystore_for(config).backend, EnvKeyBackend)
    out = anonymize(pd.DataFrame({"email": ["a@b.com"]}), ["email"], strategy="hash",
                    config=config)
    reasoning = get_state(out).classification.columns["email"].reasoning
    assert "key anonymize v1 (env)" in reasoning
    with pytest.raises(UnknownPluginError, match="Did you mean 'file'"):
        keystore_for(config_from_dict({"anonymize": {"keystore": "fil"}}))


def test_a_kms_plugin_registers_and_serves_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    class FakeKms(KeyBackend):
        name = "fake-kms"
        keys: ClassVar[dict[str, list[bytes]]] = {}

        def versions(self, key_id: str) -> tuple[int, ...]:
            return tuple(range(1, len(self.keys.get(key_id, [])) + 1))

        def get(self, key_id: str, version: int) -> bytes:
            return self.keys[key_id][version - 1]

        def create(self, key_id: str) -> None:
            self.keys.setdefault(key_id, [bytes([len(key_id)]) * 32])

        def rotate(self, key_id: str) -> int:
            self.keys[key_id].append(b"\x99" * 32)
            return len(self.keys[key_id])

    monkeypatch.setattr(backends, "_items", {**backends._items})
    backends.register("fake-kms")(FakeKms)
    config = config_from_dict({"anonymize": {"keystore": "fake-kms"}})
    store = KeyStore.from_config(config)
    assert store.current("fpe").ref.backend == "fake-kms"
    assert store.rotate("fpe").ref.version == 2


def test_invalid_key_ids_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="invalid key id"):
        KeyStore(FileKeyBackend(tmp_path)).current("../etc/passwd")
