"""``lacuna.datasets``: register, read, list, show and refresh pre-approved derived datasets.

    lacuna.datasets.register("customers_anonymized", "customers.csv",
                             approved_by="steward@example.com")
    df_anon = lacuna.datasets.get("customers_anonymized")
    df_anon.to_csv("~/Downloads/output.csv")  # allowed: the content is no longer personal

Entries live in the state database (:mod:`lacuna.datasets.store`); the data lives in a governed
folder (:func:`lacuna.datasets.build.governed_folder`). Datasets declared under ``datasets:`` in
``lacuna.yaml`` are registered from there on first use, and again whenever the declaration
changes.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from lacuna.datasets.build import governed_folder, materialise
from lacuna.datasets.registry import (
    ON_READ,
    Dataset,
    DatasetError,
    DatasetNotApproved,
    check_name,
    check_refresh,
    fingerprint,
    parse_transform,
    remember_callable,
)
from lacuna.datasets.store import DatasetStore, DatasetTampered, open_store
from lacuna.identity.names import canonical_name
from lacuna.model import utcnow

if TYPE_CHECKING:
    import pandas as pd

    from lacuna.config import Config, DatasetSpec
    from lacuna.governor import Governor

log = logging.getLogger(__name__)


def register(
    name: str,
    source: str | os.PathLike[str],
    transform: str | dict[str, str] | Callable[[pd.DataFrame], pd.DataFrame] | None = None,
    *,
    approved_by: str,
    owner: str | None = None,
    refresh: str = ON_READ,
    description: str = "",
    build: bool = True,
) -> Dataset:
    """Register (or re-register) a pre-approved dataset derived from ``source``.

    Args:
        name: the dataset's name, e.g. ``customers_anonymized``.
        source: the data file it derives from.
        transform: ``None``/``"anonymize"`` (every personal column with the configured strategy
            for its pii_type), a strategy name for every personal column, a mapping
            ``{column: strategy | "drop" | "keep"}``, or a callable ``frame -> frame``
            (remembered in this process only; the entry records its name).
        approved_by: the steward who approved it; not the person registering it.
        owner: who answers for it (default: the configured user).
        refresh: ``on_read`` (rebuild on read when the source changed), ``manual``, or a
            schedule string that is stored for a scheduler (``lacuna datasets refresh``).
        description: what it is for.
        build: materialise it now (default), so a problem shows at once.

    Returns:
        The registered entry (built, with its classification, when ``build``).

    Raises:
        DatasetError: a bad name, source, transform or refresh, or no governed folder.
        DatasetNotApproved: no approver, self-approval, or an approver who is not a steward.
    """
    from lacuna.governor import current

    gov = current()
    fn = transform if callable(transform) else None
    entry = _entry(gov.config, name, Path(source), transform, approved_by=approved_by,
                   owner=owner, refresh=refresh, description=description)
    if fn is not None:
        remember_callable(entry.name, fn)
    with open_store(gov.config.audit_url) as store:
        if build:
            entry = materialise(entry, gov)
        return store.put(entry)


Engine = Literal["pandas", "polars", "spark"]
ENGINES: tuple[str, ...] = ("pandas", "polars", "spark")


def get(name: str, *, engine: Engine = "pandas", purpose: str | None = None,
        spark: Any = None) -> Any:
    """The dataset as a frame of ``engine`` (pandas, polars or spark), rebuilt first when its
    refresh policy says so.

    The frame carries the dataset's classification and lineage (source → dataset), so governed
    writes of it are decided on what it contains now, not on its source. A polars frame carries
    them in the frame-state registry of the polars integration (:mod:`lacuna.integrations.frames`);
    a Spark DataFrame (made in ``spark``, default the active session, from the decrypted rows
    through Arrow) in the classification lacuna.spark reads for it.

    A copy in sealed governed storage is read through :func:`lacuna.storage.open_governed`: an
    audited ``read`` (method ``lacuna.datasets.get``, with ``purpose``), decided before anything
    is decrypted.

    Raises:
        DatasetNotFound: no such dataset (registered or declared).
        DatasetError: the source or the materialised copy cannot be read, a rebuild fails, or
            ``engine`` is unknown or not installed (or no Spark session is active).
        GovernanceViolation: the read of the sealed copy is denied.
    """
    if engine not in ENGINES:
        msg = f"unknown engine {engine!r} for datasets.get: use one of {', '.join(ENGINES)}"
        raise DatasetError(msg)
    frame = _get_pandas(name, purpose)
    if engine == "pandas":
        return frame
    if engine == "spark":
        return _as_spark(name, frame, spark)
    return _as_polars(name, frame)


def _get_pandas(name: str, purpose: str | None = None) -> pd.DataFrame:
    from lacuna.governor import current
    from lacuna.lineage.frames import attach
    from lacuna.lineage.state import LineageNode

    gov = current()
    for _ in range(_READS):
        with open_store(gov.config.audit_url) as store:
            entry = fresh(store, lookup(store, check_name(name), gov.config), gov)
        frame = _read_copy(entry, purpose, gov)
        if frame is not None:
            break
    else:
        msg = (f"dataset {name!r}: its copy at {entry.location} changed between the check "
               f"and the read {_READS} times (rebuilt by another process, or written by hand); "
               "nothing is served. Try again, or find what writes there: "
               f"lacuna datasets refresh {name}")
        raise DatasetError(msg)
    assert entry.classification is not None  # fresh() returns a built entry
    source = LineageNode(name=entry.source, operation="read")
    node = LineageNode(name=f"dataset:{entry.name}", operation="datasets.get",
                       parents=(source,))
    # The copy's bytes were verified against the build (fresh): its classes were computed from
    # this content, so the frame carries their fingerprints (verified).
    return attach(frame, entry.classification, node, verified=True)


_READS = 3  # a copy that changed after its check is checked (rebuilt) and read again


def _read_copy(entry: Dataset, purpose: str | None, gov: Governor) -> pd.DataFrame | None:
    """The materialised copy as pandas: sealed ones through open_governed (decided, audited);
    a plain one from the bytes whose hash is the build's, read once (``None`` when they are not:
    it changed after :func:`fresh` checked it). Before, the file was hashed, then read again,
    so rows written there in between were served with the dataset's class."""
    import hashlib
    import io

    import pandas as pd

    from lacuna import storage
    from lacuna._bypass import bypass
    from lacuna.errors import LacunaError

    try:
        if storage.is_sealed(entry.location):
            with storage.open_governed(entry.location, method="lacuna.datasets.get",
                                       purpose=purpose or f"dataset {entry.name}",
                                       gov=gov) as fh, bypass():
                return pd.read_parquet(fh)
        with open(entry.location, "rb") as fh:
            data = fh.read()
        built = entry.output_fingerprint
        if built is None or hashlib.sha256(data).hexdigest() != built.sha256:
            return None
        with bypass():
            return pd.read_parquet(io.BytesIO(data))
    except LacunaError:
        raise  # a denied read, a copy that does not authenticate: as they are
    except Exception as exc:
        msg = (f"cannot read dataset {entry.name!r} at {entry.location} "
               f"({type(exc).__name__}: {exc}). Rebuild it: lacuna datasets refresh "
               f"{entry.name}")
        raise DatasetError(msg) from exc


def _as_spark(name: str, frame: pd.DataFrame, spark: Any) -> Any:
    """The decrypted rows as a Spark DataFrame (Arrow → ``createDataFrame``: they are held in
    the driver's memory, so this suits datasets of modest size, docs/datasets.md), with the
    dataset's classification declared for its in-memory leaf, as lacuna.spark does for a
    DataFrame made from a classified pandas frame."""
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        msg = (f"datasets.get({name!r}, engine='spark') needs pyspark: "
               "pip install 'lacuna[spark]'")
        raise DatasetError(msg) from None
    from lacuna._bypass import bypass
    from lacuna.lineage.state import ATTRS_KEY, get_state
    from lacuna.spark.sources import declare_frame

    session = spark if spark is not None else SparkSession.getActiveSession()
    if session is None:
        msg = (f"datasets.get({name!r}, engine='spark') needs a Spark session: start one "
               "(SparkSession.builder...getOrCreate()) or pass spark=session.")
        raise DatasetError(msg)
    state = get_state(frame)
    clean = frame.copy(deep=False)
    clean.attrs = {k: v for k, v in frame.attrs.items() if k != ATTRS_KEY}
    with bypass():
        out = session.createDataFrame(clean)
    if state is not None:
        declare_frame(out, state.classification)
    return out


def _as_polars(name: str, frame: pd.DataFrame) -> Any:
    try:
        import polars as pl
    except ImportError:
        msg = (f"datasets.get({name!r}, engine='polars') needs polars: "
               "pip install 'lacuna[polars]'")
        raise DatasetError(msg) from None
    from lacuna._bypass import bypass
    from lacuna.integrations.frames.state import STATES
    from lacuna.lineage.state import get_state

    state = get_state(frame)
    with bypass():
        out = pl.from_pandas(frame)
    if state is not None:
        STATES.set(out, state)
    return out


def list_datasets() -> list[Dataset]:
    """Every registered dataset (declared ones included), by name."""
    from lacuna.governor import current

    gov = current()
    with open_store(gov.config.audit_url) as store:
        for declared in gov.config.datasets.entries:
            lookup(store, declared, gov.config)
        return store.list()


def show(name: str) -> Dataset:
    """One dataset's entry: source, transform, approval, refresh, classification, last build."""
    from lacuna.governor import current

    gov = current()
    with open_store(gov.config.audit_url) as store:
        return lookup(store, check_name(name), gov.config)


def refresh(name: str | None = None) -> list[Dataset]:
    """Rebuild one dataset now (or every one, with ``name=None``), whatever its policy."""
    from lacuna.governor import current

    gov = current()
    with open_store(gov.config.audit_url) as store:
        names = [check_name(name)] if name else [d.name for d in list_datasets()]
        return [store.put(materialise(still_approved(lookup(store, n, gov.config), gov.config),
                                      gov)) for n in names]


# -- internals ---------------------------------------------------------------------------------


def lookup(store: DatasetStore, name: str, config: Config) -> Dataset:
    """The stored entry, (re-)registered first from ``lacuna.yaml`` when declared there."""
    spec = config.datasets.entries.get(name)
    if spec is None:
        return store.get(name)
    try:
        stored = store.find(name)
    except DatasetTampered as exc:  # the declaration is the authority: register it again
        log.warning("%s Registering it again from %s.", exc, config.source or "lacuna.yaml")
        stored = None
    wanted = _declared(config, name, spec)
    if stored is not None and stored.definition() == wanted.definition():
        return stored
    return store.put(wanted)


def still_approved(entry: Dataset, config: Config) -> Dataset:
    """``entry`` when its approver is still entitled to approve it (the check ``register``
    made): a steward taken off ``stewards:`` in lacuna.yaml (who left, or was listed by
    mistake) no longer vouches for what the dataset serves. Before, the approval was checked
    once, when registering, and the dataset was served and offered for ever after.

    Raises:
        DatasetNotApproved: the approver is no longer an entitled steward (the message says
            how to have it approved again).
    """
    if entry.approval != "steward":
        return entry
    try:
        approval(entry.approved_by, entry.registered_by, config)
    except DatasetNotApproved as exc:
        msg = (f"dataset {entry.name!r} is not served: it was approved by "
               f"{entry.approved_by}, and {exc} Once a steward has approved it, register it "
               f"again: lacuna datasets register {entry.name} ... --approved-by <steward>.")
        raise DatasetNotApproved(msg) from None
    return entry


def fresh(store: DatasetStore, entry: Dataset, gov: Governor) -> Dataset:
    """``entry`` with a materialised copy that its refresh policy accepts, its approver still
    entitled (:func:`still_approved`)."""
    still_approved(entry, gov.config)
    if not entry.built or entry.classification is None or not _intact(entry):
        return store.put(materialise(entry, gov))
    if entry.built_under_other_settings(gov.config):
        # classified under other settings (k_anonymity, the mapping, the strategies): rebuilt
        # whatever the refresh policy, never served with a class those settings no longer give
        log.info("dataset %s: the classification or anonymize settings changed since it was "
                 "built; rebuilding", entry.name)
        return store.put(materialise(entry, gov))
    known = entry.source_fingerprint
    now = fingerprint(entry.source, known)  # raises when the source is gone: fail loudly
    if known is not None and now.sha256 == known.sha256:
        if now != known:  # touched, same content: remember the new mtime
            return store.put(replace(entry, source_fingerprint=now))
        return entry
    if entry.refresh == ON_READ:
        log.info("dataset %s: source %s changed; rebuilding", entry.name, entry.source)
        return store.put(materialise(entry, gov))
    log.warning("dataset %s is older than its source %s (refresh: %s); rebuild it with: "
                "lacuna datasets refresh %s", entry.name, entry.source, entry.refresh, entry.name)
    return entry


def _intact(entry: Dataset) -> bool:
    """Whether the materialised file is still the one built (else it is rebuilt, not trusted).

    Always by its content hash: the size and mtime shortcut of :func:`fingerprint` suits the
    source (a change there only means a rebuild is due), not the copy, whose owner can write
    other rows of the same size and put the mtime back (``os.utime``), which then would be
    served with the classification of the build. The copy is read whole right after anyway.
    """
    built = entry.output_fingerprint
    if built is None:
        return False
    try:
        return fingerprint(entry.location).sha256 == built.sha256
    except DatasetError:
        return False


def _entry(
    config: Config, name: str, source: Path, transform: Any, *, approved_by: str,
    owner: str | None, refresh: str, description: str, declared_in: str | None = None,
) -> Dataset:
    check_name(name)
    path = Path(os.path.abspath(source.expanduser()))
    if not path.is_file():
        msg = f"dataset {name!r}: the source {str(path)!r} is not a file. Check the path."
        raise DatasetError(msg)
    parsed, _ = parse_transform(transform)
    user = config.user.id
    location = governed_folder(config) / f"{name}.parquet"
    _refuse_own_source(name, path, location)
    return Dataset(
        name=name,
        source=str(path),
        transform=parsed,
        owner=owner or user,
        approved_by=str(approved_by or "").strip(),
        approval=approval(str(approved_by or ""), user, config),
        refresh=check_refresh(refresh),
        location=str(location),
        registered_by=user,
        registered_at=utcnow(),
        description=" ".join(description.split()),
        declared_in=declared_in,
    )


def _refuse_own_source(name: str, source: Path, location: Path) -> None:
    """Refuse a dataset whose copy would be written over its own source (``customers`` from
    ``<datasets folder>/customers.parquet``): the build replaced the raw file with the
    anonymized copy, and the source data was gone.

    Raises:
        DatasetError: the copy's location is the source file (by path, link or inode).
    """
    same = os.path.realpath(location) == os.path.realpath(source)
    if not same and location.exists():
        try:
            same = os.path.samefile(location, source)
        except OSError:
            same = True  # cannot tell: fail closed rather than risk the source
    if same:
        msg = (f"dataset {name!r}: its copy would be written to {str(location)!r}, which is "
               "its source file, so building it would replace the source data. Register it "
               f"under another name (e.g. '{name}_anonymized') or move the source out of "
               f"{str(location.parent)!r}. Nothing was registered.")
        raise DatasetError(msg)


def _declared(config: Config, name: str, spec: DatasetSpec) -> Dataset:
    base = Path(config.source).parent if config.source and Path(config.source).is_file() else None
    source = Path(os.path.expanduser(spec.source))
    if base is not None and not source.is_absolute():
        source = base / source
    return _entry(config, name, source, spec.transform, approved_by=spec.approved_by,
                  owner=spec.owner, refresh=spec.refresh, description=spec.description,
                  declared_in=config.source)


def approval(approved_by: str, registered_by: str, config: Config) -> Literal["steward",
                                                                                "recorded"]:
    """``steward`` when ``approved_by`` is an entitled steward (``stewards:`` in lacuna.yaml:
    ``default``, or any policy's or domain's list); refused otherwise. (``recorded``: a
    configuration without a ``stewards`` section at all, kept for embedders' own configs.)

    Raises:
        DatasetNotApproved: no approver, the registrant approving their own dataset, or stewards
            are configured and the approver is not one of them.
    """
    who = approved_by.strip()
    if not who:
        msg = "a registered dataset needs approved_by: the data steward who approved it."
        raise DatasetNotApproved(msg)
    if canonical_name(who) == canonical_name(registered_by):
        msg = (f"{who} cannot approve a dataset they register themselves: ask a data steward "
               "and pass approved_by=<their id>.")
        raise DatasetNotApproved(msg)
    stewards = getattr(config, "stewards", None)
    if stewards is None:  # this configuration has no steward list: the approver is recorded
        return "recorded"
    entitled = {canonical_name(s) for s in getattr(stewards, "default", ())}
    for group in ("policies", "domains"):
        for names in (getattr(stewards, group, None) or {}).values():
            entitled |= {canonical_name(s) for s in names}
    if canonical_name(who) not in entitled:
        listed = ", ".join(sorted(entitled)) or "none configured"
        msg = (f"{who} is not an entitled steward (stewards in lacuna.yaml: {listed}); a "
               "registered dataset must be approved by one. List the steward under "
               "stewards.default in lacuna.yaml, or ask one of them to approve it.")
        raise DatasetNotApproved(msg)
    return "steward"
