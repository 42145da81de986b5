"""The allowed-path torture of the frame libraries' writers, option by option
(tests/integrations/test_allowed_roundtrip_{polars,arrow,duckdb}.py).

Each case makes the same call three times: plainly (Lacuna bypassed), governed to an unmanaged
folder (~/Downloads: public data is allowed there) and governed into governed storage (allowed,
sealed). The governed calls must raise where (and what) the plain call raises, never more, and
leave nothing behind then; write the same files with the same bytes (a sealed file's plaintext
read through Lacuna: compression, byte order mark, separators are the options' own), or, where
Lacuna embeds its declaration (Parquet, Feather), files that start with the format's magic
bytes; and read back equal through the same library, governed.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import pandas as pd
import polars as pl
import polars.testing
import pyarrow as pa

from lacuna import _bypass, storage
from lacuna.lineage import sidecar as sc
from lacuna.storage import sealed

GZIP, ZSTD, PARQUET, ARROW = b"\x1f\x8b", b"(\xb5/\xfd", b"PAR1", b"ARROW1"


class Case(NamedTuple):
    """A writer call and how to read back what it wrote."""

    name: str  # the file (or folder) written, relative to the case's folder
    write: Callable[[Path], Any]
    read: Callable[[Path], Any]
    same_bytes: bool = True  # as plain; False: Lacuna embeds its declaration
    magic: bytes | None = None  # what each file written starts with


def tilde(path: Path) -> str:
    """``path`` as ``~/...`` (the test sets HOME to the sandbox)."""
    return f"~/{path.relative_to(Path.home())}"


def then(first: Callable[[Path], Any], second: Callable[[Path], Any]) -> Callable[[Path], Any]:
    """``first(path)``, then ``second(path)``: a write into what is already there."""
    def write(path: Path) -> Any:
        first(path)
        return second(path)

    return write


def attempt(call: Callable[[], Any]) -> tuple[Any, BaseException | None]:
    try:
        return call(), None
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # polars panics are BaseExceptions (pyo3 PanicException)
        return None, exc


def _files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    return sorted(p for p in path.rglob("*") if p.is_file() and not p.name.endswith(sc.SUFFIX))


def _names(path: Path) -> list[str]:
    return [str(f.relative_to(path)) for f in _files(path)] if path.exists() else []


def plaintext(path: Path) -> dict[str, bytes]:
    """Relative name -> bytes of each file at ``path`` (a file, or a folder's files; sidecars
    left out), a sealed file's plaintext through Lacuna's read path."""
    return {str(f.relative_to(path)): storage.read_governed(f) if sealed.is_sealed(f)
            else f.read_bytes() for f in _files(path)}


def assert_equal(got: Any, expected: Any) -> None:
    if isinstance(expected, pa.Table):  # Lacuna's state and declaration ride in the metadata
        got, expected = got.replace_schema_metadata(None), expected.replace_schema_metadata(None)
        assert got.equals(expected), f"{got}\n!=\n{expected}"
    elif isinstance(expected, pd.DataFrame):
        pd.testing.assert_frame_equal(got, expected)
    elif isinstance(expected, pl.DataFrame):
        polars.testing.assert_frame_equal(got, expected)
    else:
        assert got == expected


def three(root: Path, label: str, case: Case) -> None:
    """``case`` plainly, to ~/Downloads and into governed storage, each in a folder
    ``label``: the same outcome, the same files and equal frames read back."""
    for where in ("plain", "Downloads", "governed/workspace"):
        (root / where / label).mkdir(parents=True)
    plain = root / "plain" / label / case.name
    with _bypass.bypass():
        wrote = attempt(lambda: case.write(plain))
        expected = attempt(lambda: case.read(plain)) if wrote[1] is None else None
    for where in ("Downloads", "governed/workspace"):
        target = root / where / label / case.name
        at = f"{where}/{case.name}"
        got = attempt(lambda t=target: case.write(t))
        if wrote[1] is not None:
            assert got[1] is not None, f"{at}: plain raised {wrote[1]!r}, governed did not"
            assert type(got[1]) is type(wrote[1]), f"{at}: {got[1]!r}, not {wrote[1]!r}"
            assert _names(target) == _names(plain), f"{at}: other files left than plain"
            continue
        assert got[1] is None, f"{at}: governed raised where plain did not: {got[1]!r}"
        assert sc.sidecar_path(target).exists(), f"{at}: written without its classification"
        if where != "Downloads":
            assert _files(target), f"{at}: nothing written"
            assert all(sealed.is_sealed(f) for f in _files(target)), f"{at}: not sealed"
        written, wanted = plaintext(target), plaintext(plain)
        assert sorted(written) == sorted(wanted), f"{at}: {sorted(written)} != {sorted(wanted)}"
        for key, data in written.items():
            if case.same_bytes:
                assert data == wanted[key], f"{at}: {key} holds other bytes than plain"
            if case.magic is not None:
                assert data.startswith(case.magic), f"{at}: {key} starts {data[:6]!r}"
        assert expected is not None
        back = attempt(lambda t=target: case.read(t))
        if expected[1] is not None:  # what the library itself cannot read back
            assert type(back[1]) is type(expected[1]), (
                f"{at}: read back {back[1]!r}, where plain raised {expected[1]!r}")
            continue
        assert back[1] is None, f"{at}: cannot be read back: {back[1]!r}"
        assert_equal(back[0], expected[0])


def every_case(root: Path, cases: dict[str, Case]) -> None:
    """:func:`three` for each case; every case's failure reported together."""
    failures = []
    for label, case in sorted(cases.items()):
        try:
            three(root, label, case)
        except AssertionError as exc:
            failures.append(f"{label}: {exc}")
    assert not failures, "\n".join(failures)
