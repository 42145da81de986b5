from __future__ import annotations

import stat
import threading
from pathlib import Path

import pandas as pd
import pytest

from lacuna.anonymize import anonymize
from lacuna.anonymize.keys import KEY_FILENAME, load_or_create_key, resolve_key
from lacuna.config import Config
from lacuna.errors import ConfigError


def hashed(key: bytes | str | None = None, config: Config | None = None) -> str:
    df = pd.DataFrame({"email": ["jane@example.com"]})
    return str(anonymize(df, ["email"], key=key, config=config)["email"][0])


def test_key_file_is_generated_once_with_mode_0600(home: Path) -> None:
    first = hashed()
    path = home / KEY_FILENAME
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    version, hexkey = path.read_text().split()
    assert (version, len(bytes.fromhex(hexkey))) == ("1", 32)
    assert hashed() == first  # reused: stable across calls
    assert stat.S_IMODE(home.stat().st_mode) == 0o700


def test_mask_and_redact_need_no_key(home: Path) -> None:
    df = pd.DataFrame({"email": ["jane@example.com"]})
    anonymize(df, ["email"], "mask")
    anonymize(df, ["email"], "redact")
    assert not (home / KEY_FILENAME).exists()


def test_key_precedence_argument_env_file(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from_file = hashed()
    monkeypatch.setenv("LACUNA_ANONYMIZE_KEY", "from-env-0123456789")
    from_env = hashed()
    from_arg = hashed(key="from-arg-0123456789")
    assert len({from_file, from_env, from_arg}) == 3
    assert hashed(key=b"from-env-0123456789") == from_env  # text keys are UTF-8 bytes


def test_key_env_name_comes_from_config(monkeypatch: pytest.MonkeyPatch) -> None:
    config = Config.model_validate({"anonymize": {"key_env": "MY_KEY"}})
    monkeypatch.setenv("MY_KEY", "team-key-0123456789")
    assert resolve_key(None, config) == b"team-key-0123456789"
    assert hashed(config=config) == hashed(key="team-key-0123456789")


def test_empty_key_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="key is empty"):
        hashed(key="")


def test_a_guessable_key_is_refused_not_used(monkeypatch: pytest.MonkeyPatch) -> None:
    """key="a" made a hash anyone can reverse (try every short key, then hash candidate e-mails),
    yet the column was re-classified as a pseudonym fit for export."""
    with pytest.raises(ConfigError, match=r"key= argument is 1 bytes; at least 16.*Nothing"):
        hashed(key="a")
    monkeypatch.setenv("LACUNA_ANONYMIZE_KEY", "short-env-key")
    with pytest.raises(ConfigError, match=r"\$LACUNA_ANONYMIZE_KEY is 13 bytes"):
        hashed()
    with pytest.raises(ConfigError, match="at least 16"):
        anonymize(pd.DataFrame({"email": ["jane@example.com"]}), ["email"], strategy="synthesize",
                  key=b"k")
    assert len(hashed(key="k" * 16)) == 20  # 16 bytes is enough


def test_empty_env_var_falls_back_to_the_file(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LACUNA_ANONYMIZE_KEY", "")
    hashed()
    assert (home / KEY_FILENAME).exists()


def test_malformed_key_file_is_an_error_and_kept(home: Path) -> None:
    home.mkdir(parents=True)
    path = home / KEY_FILENAME
    path.write_text("not hex at all\n")
    path.chmod(0o600)
    with pytest.raises(ConfigError, match=r"cannot read the key file .*64 hex digits"):
        hashed()
    assert path.read_text() == "not hex at all\n"


def test_empty_key_file_is_an_error(home: Path) -> None:
    home.mkdir(parents=True)
    (home / KEY_FILENAME).write_text("\n")
    (home / KEY_FILENAME).chmod(0o600)
    with pytest.raises(ConfigError, match="is empty"):
        hashed()


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o620, 0o604])
def test_a_key_file_other_users_can_read_or_change_is_refused(home: Path, mode: int) -> None:
    home.mkdir(parents=True)
    path = home / KEY_FILENAME
    path.write_text("ab" * 32)
    path.chmod(mode)
    with pytest.raises(ConfigError, match=rf"other users can read or change it .*chmod 600 {path}"):
        load_or_create_key(path)
    path.chmod(0o600)
    assert load_or_create_key(path) == b"\xab" * 32


def test_unwritable_home_is_a_config_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(ConfigError, match="cannot create the anonymization key"):
        load_or_create_key(blocker / "sub" / KEY_FILENAME)


def test_concurrent_first_use_agrees_on_one_key(tmp_path: Path) -> None:
    path = tmp_path / "k" / KEY_FILENAME
    keys: list[bytes] = []
    barrier = threading.Barrier(8)

    def work() -> None:
        barrier.wait(timeout=30)
        keys.append(load_or_create_key(path))

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert len(keys) == 8
    assert len(set(keys)) == 1
    assert [p.name for p in path.parent.iterdir()] == [KEY_FILENAME]  # no temp files left
