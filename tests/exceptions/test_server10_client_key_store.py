"""A server's client sealing a file under an exception (``encrypt=True``) is held to the key
store that sealed the grant's files before, as in-process: the check was skipped on a client
(the records are the server's), so a client pointed at another key folder sealed the next file
of the same grant with a key its owner knows, opened without Lacuna, off the audit trail."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from lacuna.config import config_from_dict
from lacuna.errors import StorageError
from lacuna.exceptions import files
from lacuna.exceptions.files import on_host, this_host
from lacuna.exceptions.store import WrittenFile
from lacuna.model import utcnow


@dataclass
class _Remote:
    """A server's exception store as a client sees it: the records of its files, by grant."""

    records: dict[str, list[WrittenFile]] = field(default_factory=dict)
    remote = True

    def files(self, exception_id: str) -> list[WrittenFile]:
        return list(self.records.get(exception_id, []))


@dataclass
class _Client:
    config: Any
    exceptions: _Remote
    session: str = "s10"
    audit: Any = None


def _client(keys: Path, store: _Remote) -> _Client:
    keys.mkdir(exist_ok=True)
    return _Client(config_from_dict({"user": {"id": "ana", "role": "analyst"},
                                     "anonymize": {"key_dir": str(keys)}}), store)


def _seal(gov: _Client, path: Path, exception_id: str = "EXC-s10") -> None:
    files.write_sealed(gov, path, lambda out: out.write(b"region,n\nnorth,3\n"),
                       exception_id=exception_id, method="test")


def _recorded(store: _Remote, path: Path, *, host: str | None = None, by: str = "ana",
              exception_id: str = "EXC-s10") -> None:
    store.records.setdefault(exception_id, []).append(WrittenFile(
        exception_id=exception_id, path=on_host(host or this_host(), str(path)),
        written_by=by, written_at=utcnow(), encrypted=True))


def test_server10_a_client_seals_a_grants_next_file_only_with_its_key_store(tmp_path) -> None:
    store = _Remote()
    first, second = tmp_path / "first.csv", tmp_path / "second.csv"
    _seal(_client(tmp_path / "keys", store), first)  # nothing recorded yet: sealed
    _recorded(store, first)
    with pytest.raises(StorageError, match=r"opens none of the files sealed under exceptions"):
        _seal(_client(tmp_path / "my-own-keys", store), second)
    assert not second.exists()
    _seal(_client(tmp_path / "keys", store), second)  # the key store that sealed the first
    assert second.read_bytes() != b"region,n\nnorth,3\n"


def test_server10_a_fresh_grant_sealed_first_does_not_pass_a_key_store_for_all(tmp_path) -> None:
    """A key store that sealed a new grant's first file (nothing to compare with) is not
    taken for the right one for another grant, whose files it does not open."""
    store = _Remote()
    first = tmp_path / "first.csv"
    _seal(_client(tmp_path / "keys", store), first)
    _recorded(store, first)
    own = _client(tmp_path / "own-keys", store)
    for name in ("new-1.csv", "new-2.csv"):  # nothing on record (the key made by the first)
        _seal(own, tmp_path / name, exception_id="EXC-new")
    with pytest.raises(StorageError, match=r"opens none of the files sealed under exceptions"):
        _seal(own, tmp_path / "second.csv")


def test_server10_a_clients_check_reads_only_its_own_files_on_this_host(tmp_path) -> None:
    """Records of another host, another user or another grant are not this client's files
    (a path on another machine, or someone else's): they neither refuse nor allow."""
    store = _Remote()
    theirs = tmp_path / "theirs.csv"
    _seal(_client(tmp_path / "keys", _Remote()), theirs)
    _recorded(store, theirs, host="elsewhere-host")
    _recorded(store, theirs, by="joe")
    _recorded(store, theirs, exception_id="EXC-other")
    _seal(_client(tmp_path / "fresh-keys", store), tmp_path / "mine.csv")
    assert (tmp_path / "mine.csv").exists()
