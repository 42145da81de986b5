"""The token vault kept one SQLAlchemy engine per state database URL it was used with, for the
life of the process (its pool and compiled statements with it). The most recently used few are
kept now; an older one is disposed and dropped, and opened again when used again."""

from __future__ import annotations

import gc
import weakref
from pathlib import Path

from lacuna.anonymize import vault


def test_the_vault_keeps_a_bounded_number_of_engines(tmp_path: Path) -> None:
    urls = [f"sqlite:///{tmp_path / f'state{i}.db'}" for i in range(8)]
    first = weakref.ref(vault._engine(urls[0]))
    assert vault._engine(urls[0]) is first()  # kept while in use: the same engine
    for url in urls[1:]:
        vault._engine(url)
    assert len(vault._ENGINES) < len(urls)
    assert urls[0] not in vault._ENGINES
    gc.collect()
    assert first() is None  # dropped, not held elsewhere
    again = vault._engine(urls[0])  # used again: opened again, its table there
    with again.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM lacuna_token_vault").scalar() == 0
