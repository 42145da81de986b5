"""Materialising a registered dataset: read the source, apply the stated transform, write the
result (Parquet) and its signed sidecar into the governed folder, atomically.

The result's classification is what Lacuna's verbs make of the transform: ``anonymize``
re-classifies the columns it treated; a dropped column takes its class with it. A Python callable
that returns a frame built from scratch (without Lacuna's state) is given the source's state, so
its columns keep their source classes (fail closed): use ``lacuna.anonymize`` inside it for
columns it makes safe.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lacuna._bypass import bypass
from lacuna.datasets.registry import (
    DROP,
    KEEP,
    Dataset,
    DatasetError,
    Fingerprint,
    fingerprint,
    registered_callable,
    rules_of,
)
from lacuna.model import utcnow

if TYPE_CHECKING:
    import pandas as pd

    from lacuna.config import Config
    from lacuna.governor import Governor
    from lacuna.model import Classification

_BUILDING: ContextVar[bool] = ContextVar("lacuna_datasets_building", default=False)


def building() -> bool:
    """Whether this context is materialising a dataset (a denial of its write offers no
    registered dataset: the offer would build datasets again, from inside a build)."""
    return _BUILDING.get()


@contextmanager
def _build() -> Iterator[None]:
    token = _BUILDING.set(True)
    try:
        yield
    finally:
        _BUILDING.reset(token)


def governed_folder(config: Config) -> Path:
    """Where datasets are materialised: ``datasets.root``, else ``datasets/`` in the first
    ``destinations.governed`` entry that is an existing, writable local folder.

    Raises:
        DatasetError: neither is available (the message says what to configure).
    """
    from lacuna.alternatives import writable_root

    if config.datasets.root:
        root = Path(os.path.expanduser(config.datasets.root))
        try:
            root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            msg = f"datasets.root {config.datasets.root!r} cannot be created ({exc})."
            raise DatasetError(msg) from exc
        return root
    for entry in config.destinations.governed:
        if writable_root(entry):
            local = entry[7:] if entry.startswith("file://") else entry
            return Path(os.path.expanduser(local)) / "datasets"
    configured = ", ".join(config.destinations.governed) or "none"
    msg = ("no governed folder to materialise registered datasets in: set datasets.root in "
           "lacuna.yaml, or add an existing, writable local folder under destinations.governed "
           f"(configured: {configured}).")
    raise DatasetError(msg)


def read_source(path: str) -> pd.DataFrame:
    """The whole source file as a frame (csv, tsv, parquet, json, jsonl, excel)."""
    import pandas as pd

    from lacuna.classify.readers import file_format

    fmt = file_format(path)
    readers: Mapping[str, Any] = {
        "csv": pd.read_csv, "tsv": lambda p: pd.read_csv(p, sep="\t"),
        "parquet": pd.read_parquet, "json": pd.read_json,
        "jsonl": lambda p: pd.read_json(p, lines=True), "excel": pd.read_excel,
    }
    if fmt is None:
        msg = (f"cannot read the source {path!r}: unsupported file type. Register a csv, tsv, "
               "parquet, json, jsonl or xlsx file.")
        raise DatasetError(msg)
    from lacuna import storage
    from lacuna.errors import LacunaError

    try:
        if storage.is_sealed(path):  # a source in governed storage: an audited, decided read
            with storage.open_governed(path, method="lacuna.datasets.build",
                                       purpose="build a registered dataset") as fh, bypass():
                frame: pd.DataFrame = readers[fmt](fh)
        else:
            with bypass():
                frame = readers[fmt](path)
    except LacunaError:
        raise  # a denied read, a sealed file that does not authenticate: as they are
    except Exception as exc:
        msg = f"cannot read the source {path!r} as {fmt} ({type(exc).__name__}: {exc})."
        raise DatasetError(msg) from exc
    return frame


def apply_transform(entry: Dataset, frame: pd.DataFrame, config: Config) -> pd.DataFrame:
    """``frame`` (carrying its source state) transformed as ``entry`` states."""
    from lacuna.anonymize import anonymize
    from lacuna.lineage.frames import effective_state
    from lacuna.lineage.state import get_state, set_state

    t = entry.transform
    if t.kind == "anonymize":
        personal = list(effective_state(frame, config.classification)
                        .classification.personal_columns)
        if t.strategy is None:  # each column with the configured strategy for its pii_type
            return anonymize(frame, columns=personal, config=config)
        return anonymize(frame, columns=personal, strategy=t.strategy, config=config)
    if t.kind == "columns":
        out = frame
        dropped = [c for c, s in t.columns if s == DROP]
        missing = [c for c in dropped if c not in frame.columns]
        if missing:
            msg = (f"dataset {entry.name!r}: cannot drop {', '.join(missing)}: the source has no "
                   f"such column (columns: {', '.join(map(str, frame.columns))}).")
            raise DatasetError(msg)
        if dropped:
            with bypass():
                out = out.drop(columns=dropped)
            out.attrs = dict(frame.attrs)
        by_strategy: dict[str, list[str]] = {}
        for column, strategy in t.columns:
            if strategy not in (DROP, KEEP):
                by_strategy.setdefault(strategy, []).append(column)
        for strategy, columns in by_strategy.items():
            out = anonymize(out, columns=columns, strategy=strategy, config=config)
        return out
    fn = registered_callable(entry.name)
    if fn is None:
        msg = (f"dataset {entry.name!r} is built by the Python callable {t.callable}, which this "
               "process has not registered: call lacuna.datasets.register(...) with it here, "
               "then read or refresh the dataset.")
        raise DatasetError(msg)
    import pandas as pd

    state = get_state(frame)
    with bypass():
        result = fn(frame.copy())
    if not isinstance(result, pd.DataFrame):
        msg = (f"dataset {entry.name!r}: the transform {t.callable} returned "
               f"{type(result).__name__}, not a pandas DataFrame.")
        raise DatasetError(msg)
    if get_state(result) is None and state is not None:
        set_state(result, state)  # a frame built from scratch keeps its source's classes
    return result


def materialise(entry: Dataset, gov: Governor) -> Dataset:
    """Build ``entry`` from its source now and return the entry with the build recorded.

    Raises:
        GovernanceViolation: the copy may not be written where ``datasets.root`` puts it (a
            folder outside governed storage is decided like any export there).
    """
    with _build():
        return _materialise(entry, gov)


def _materialise(entry: Dataset, gov: Governor) -> Dataset:
    from lacuna.lineage import clock, sidecar
    from lacuna.lineage.frames import attach, effective_state, read_origins
    from lacuna.lineage.records import DatasetRef
    from lacuna.lineage.state import LineageNode

    config = gov.config
    known = fingerprint(entry.source)  # before reading: a change while reading rebuilds later
    source_seen = clock.of_file(entry.source, config)  # before reading, as the fingerprint
    frame = read_source(entry.source)
    classification, _ = gov.classify_source(entry.source, frame)
    # with the source's columns as origins, as a read of the file gives them: a noise
    # transform spends from their privacy budget (lacuna.anonymize.budget), also when the
    # source is edited (before, every rebuild of changed values started a new budget)
    ref = DatasetRef.of(entry.source)
    attach(frame, classification, LineageNode(name=entry.source, operation="read", ref=ref,
                                              classification=classification,
                                              first_seen=source_seen),
           origins=read_origins(ref, [str(c) for c in frame.columns]))
    result = apply_transform(entry, frame, config)
    state = effective_state(result, config.classification)
    target = Path(entry.location)
    target.parent.mkdir(parents=True, exist_ok=True)
    with bypass():
        clean = result.copy(deep=False)
        clean.attrs = {}
    from lacuna import storage

    # the one rule (clock.of_write): the build's clock, the source's at a tier no higher than
    # the source's, read before the build replaces what is at its location
    seen = clock.of_write(str(target), state.lineage, state.classification.tier, config)
    if storage.seals(target, gov):  # governed storage: sealed at rest, renamed into place
        storage.write_governed(target, lambda fh: _to_parquet(clean, fh),
                               method="lacuna.datasets.build",
                               classification=state.classification, gov=gov, first_seen=seen)
        built, written = fingerprint(target), None
    else:  # the hash of the bytes written, never of whatever is at the location afterwards
        written = _export_plain(entry, clean, target, state.classification, gov)
        built = Fingerprint(size=len(written), mtime_ns=os.stat(target).st_mtime_ns,
                            sha256=hashlib.sha256(written).hexdigest())
    sidecar.write_sidecar(target, state.classification, sources=(entry.source,),
                          written_by=config.user.id, first_seen=seen, written=written)
    return replace(
        entry,
        built_at=utcnow(),
        source_fingerprint=known,
        output_fingerprint=built,
        classification=state.classification,
        columns=tuple(str(c) for c in result.columns),
        rows=len(result),
        rules=rules_of(config),
    )


def _to_parquet(frame: pd.DataFrame, where: Any) -> None:
    with bypass():
        frame.to_parquet(where, index=False)


def _export_plain(entry: Dataset, clean: pd.DataFrame, target: Path,
                  classification: Classification, gov: Governor) -> bytes:
    """A copy outside sealed storage is an export like any other write there: decided on the
    built classification and audited (method ``lacuna.datasets.build``) before anything is
    written. Otherwise ``datasets.root: ~/Downloads`` with a ``keep`` transform wrote raw
    personal data to an unmanaged folder with no decision and no audit record."""
    from lacuna.model import Action, Source

    op = gov.operation(Action.EXPORT, classification,
                       sources=(Source(name=entry.source, classification=classification),),
                       destination=gov.destination(str(target)), method="lacuna.datasets.build")
    return gov.execute(op, lambda: _write_plain(clean, target))


def _write_plain(clean: pd.DataFrame, target: Path) -> bytes:
    """Outside sealed storage (``datasets.root`` elsewhere, or ``storage.encrypt: false``):
    a plain Parquet file, written atomically; the bytes written, which the entry's fingerprint
    and the sidecar's signature bind (taken from the file afterwards, rows its owner put there
    in the meantime were recorded as the build, signed as its class and served so)."""
    import io

    buffer = io.BytesIO()
    _to_parquet(clean, buffer)
    data = buffer.getvalue()
    fd, tmp = tempfile.mkstemp(prefix=f".{target.stem}-", suffix=".parquet.tmp",
                               dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return data
