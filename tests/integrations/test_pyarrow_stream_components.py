"""A pyarrow stream writer (``pq.ParquetWriter`` and kin) whose governance needs a part of
Lacuna that does not import is refused in every mode, saying what to install, as the other
hooks refuse (``integrations/pandas/_patch.py``): in warn mode it ran ungoverned before."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import lacuna
from lacuna.errors import ComponentImportError
from lacuna.integrations.pyarrow import _streams


@pytest.mark.parametrize("mode", ["enforce", "warn"])
def test_a_stream_writer_lacuna_cannot_govern_for_a_missing_component_is_refused(
        sandbox: Path, sandbox_config: Any, monkeypatch: pytest.MonkeyPatch, mode: str) -> None:
    lacuna.enable(sandbox_config(mode=mode))
    schema = pa.schema([("colour", pa.string())])
    target = sandbox / "out.parquet"

    def unimportable(self: Any, schema: Any) -> None:
        cause = ModuleNotFoundError("No module named 'sqlglot' (test)", name="sqlglot")
        raise ComponentImportError("Lacuna's SQL analysis (test)", "The write was refused",
                                   cause)

    with monkeypatch.context() as patch:
        patch.setattr(_streams.Stream, "open", unimportable)
        with pytest.raises(ComponentImportError, match="Fix:"):
            pq.ParquetWriter(str(target), schema)
    assert not target.exists()
    with pq.ParquetWriter(str(target), schema) as writer:  # the allowed path, governed
        writer.write_table(pa.table({"colour": ["blue"]}, schema=schema))
    assert pq.read_table(str(target)).column("colour").to_pylist() == ["blue"]
