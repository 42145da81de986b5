"""An unknown exception id is named in the error, never echoed whole: a 10,000-character id
came back in the 404's message."""

import pytest

from lacuna.exceptions.store import ExceptionNotFound, ExceptionStore


def test_an_unknown_exception_id_of_any_length_is_not_echoed_whole(tmp_path):
    store = ExceptionStore(f"sqlite:///{tmp_path / 'x.db'}")
    try:
        with pytest.raises(ExceptionNotFound) as err:
            store.get("EXC-" + "9" * 10_000)
        assert len(str(err.value)) < 200
        assert "EXC-999" in str(err.value)
        with pytest.raises(ExceptionNotFound, match="no exception 'EXC-2026-404'"):
            store.get("EXC-2026-404")
    finally:
        store.close()
