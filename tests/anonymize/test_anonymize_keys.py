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
    assert len(hashed(key="0123456789abcdef")) == 20  # 16 bytes is enough


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


# -- a guessable key in the key store (its file and variable are the analyst's) ----------------

PEOPLE = pd.DataFrame({"email": [f"person{i}@example.com" for i in range(8)],
                       "ssn": [f"123-45-{6780 + i}" for i in range(8)]})


def _key_file(home: Path, key_id: str, text: str) -> Path:
    home.mkdir(parents=True, exist_ok=True)
    path = home / f"{key_id}.key"
    path.write_text(text)
    path.chmod(0o600)
    return path


@pytest.mark.parametrize(("text", "said"), [
    ("1 00\n", r"key file anonymize\.key \(version 1\) is 1 bytes; at least 16"),
    ("1 " + "00" * 32 + "\n", r"key file anonymize\.key \(version 1\) has only 1 distinct"),
    ("1 " + bytes(range(32)).hex() + "\n2 " + "ab" * 32 + "\n",  # the current version counts
     r"key file anonymize\.key \(version 2\) has only 1 distinct"),
])
@pytest.mark.parametrize("strategy", ["hash", "synthesize"])
def test_a_guessable_key_file_is_refused(home: Path, text: str, said: str, strategy: str) -> None:
    """``1 00`` in anonymize.key hashed every e-mail under a one-byte key (anyone tries 256 keys,
    then hashes candidate e-mails) and still called the column a pseudonym, PUBLIC."""
    _key_file(home, "anonymize", text)
    with pytest.raises(ConfigError, match=rf"{said}.*rotate\('anonymize'\).*Nothing was"):
        anonymize(PEOPLE, ["email"], strategy=strategy)


@pytest.mark.parametrize(("value", "said"), [
    ("a", r"\$LACUNA_KEY_ANONYMIZE is 1 bytes"),
    ("00" * 32, r"\$LACUNA_KEY_ANONYMIZE has only 1 distinct"),  # hex: 32 zero bytes
    ("passwordpassword", r"\$LACUNA_KEY_ANONYMIZE has only 7 distinct"),
])
def test_a_guessable_env_store_key_is_refused(monkeypatch: pytest.MonkeyPatch, value: str,
                                              said: str) -> None:
    from lacuna.config import config_from_dict

    monkeypatch.setenv("LACUNA_KEY_ANONYMIZE", value)
    config = config_from_dict({"anonymize": {"keystore": "env"}})
    with pytest.raises(ConfigError, match=rf"{said}.*token_hex\(32\).*Nothing was"):
        anonymize(PEOPLE, ["email"], strategy="hash", config=config)


@pytest.mark.parametrize("key", ["k" * 16, "abababababababab", b"\x00" * 32])
def test_a_long_key_of_few_characters_is_refused(monkeypatch: pytest.MonkeyPatch,
                                                 key: str | bytes) -> None:
    with pytest.raises(ConfigError, match=r"key= argument has only \d distinct byte values"):
        hashed(key=key)
    monkeypatch.setenv("LACUNA_ANONYMIZE_KEY", "k" * 40)
    with pytest.raises(ConfigError, match=r"\$LACUNA_ANONYMIZE_KEY has only 1 distinct"):
        hashed()


def test_a_guessable_fpe_key_is_refused(home: Path) -> None:
    """FPE output is called a pseudonym too: under 32 zero bytes anyone decrypts it."""
    _key_file(home, "fpe", "1 " + "00" * 32 + "\n")
    with pytest.raises(ConfigError, match=r"key file fpe\.key \(version 1\) has only 1 distinct"):
        anonymize(PEOPLE, ["ssn"], strategy="fpe")


def test_strong_store_keys_still_pseudonymise_and_rotation_fixes_a_weak_one(
        home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import hashlib
    import hmac

    from lacuna.config import config_from_dict, load_config
    from lacuna.keystore import keystore_for
    from lacuna.lineage.state import get_state
    from lacuna.model import ColumnKind, Tier

    path = _key_file(home, "anonymize", "1 " + "00" * 32 + "\n")
    with pytest.raises(ConfigError):
        anonymize(PEOPLE, ["email"], strategy="hash")
    fresh = keystore_for(load_config()).rotate("anonymize")  # the fix the message names
    assert fresh.ref.version == 2
    assert path.read_text().splitlines()[0] == "1 " + "00" * 32  # v1 kept, still readable
    out = anonymize(PEOPLE, ["email", "ssn"], strategy={"email": "hash", "ssn": "fpe"})
    expected = [hmac.new(fresh.material, e.encode(), hashlib.sha256).hexdigest()[:20]
                for e in PEOPLE["email"]]
    assert out["email"].tolist() == expected
    cls = get_state(out).classification  # type: ignore[union-attr]
    assert (cls.tier, cls.columns["email"].classification) == (Tier.PUBLIC, ColumnKind.IDENTIFIER)
    assert "key anonymize v2 (file)" in cls.columns["email"].reasoning
    assert out["ssn"].str.fullmatch(r"\d{3}-\d{2}-\d{4}").all()
    assert not set(out["ssn"]) & set(PEOPLE["ssn"])
    # a random key from the env store works as before
    monkeypatch.setenv("LACUNA_KEY_ANONYMIZE", "5f" + bytes(range(1, 32)).hex())
    env = anonymize(PEOPLE, ["email"], strategy="hash",
                    config=config_from_dict({"anonymize": {"keystore": "env"}}))
    assert "key anonymize v1 (env)" in get_state(env).classification.columns[  # type: ignore[union-attr]
        "email"].reasoning


def test_a_guessable_vault_key_is_refused_and_rotation_fixes_it(home: Path) -> None:
    """The vault key seals the values behind tokens: under 32 zero bytes whoever holds the
    state database (a backup, a shared server's database) opened every one of them, while the
    tokens were called pseudonyms. It was never checked."""
    from lacuna.config import load_config
    from lacuna.keystore import keystore_for

    _key_file(home, "vault", "1 " + "00" * 32 + "\n")
    with pytest.raises(ConfigError, match=r"key file vault\.key \(version 1\) has only 1 distinct"
                                          r".*rotate\('vault'\)"):
        anonymize(PEOPLE, ["email"], strategy="tokenize")
    keystore_for(load_config()).rotate("vault")  # the fix the message names
    out = anonymize(PEOPLE, ["email"], strategy="tokenize")
    assert out["email"].str.fullmatch(r"tok_[0-9a-f]{16}").all()
