"""What a registered dataset is: its entry, its stated transform, and its source's fingerprint.

A registered dataset is a named, pre-approved derivation of one source file (``customers.csv``
anonymised → ``customers_anonymized``). The transform is stated so that a reviewer can read it:

- declaratively: ``"anonymize"`` (every personal column, each with the configured strategy for
  its ``pii_type``), a strategy name (``"hash"``, ``"mask"``, ``"redact"``, ... for every
  personal column), or a column mapping ``{"email": "hash", "phone": "mask", "notes": "drop"}``
  (``drop`` removes the column, ``keep`` keeps it as it is; columns not named are kept);
- or as a Python callable ``frame -> frame`` registered in this process. Its entry records the
  callable's qualified name; a process that did not register it can read the materialised copy
  but cannot rebuild it (it says so instead of guessing).
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from lacuna.errors import LacunaError, StorageError
from lacuna.model import Classification

if TYPE_CHECKING:
    import pandas as pd

    from lacuna.config import Config

NAME_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,127}$")
ON_READ, MANUAL = "on_read", "manual"
DROP, KEEP = "drop", "keep"
TransformKind = Literal["anonymize", "columns", "callable"]
Frame = Callable[["pd.DataFrame"], "pd.DataFrame"]


class DatasetError(LacunaError):
    """A registered dataset cannot be registered, built or read."""


class DatasetNotFound(DatasetError, LookupError):
    """No registered dataset by that name."""


class DatasetNotApproved(DatasetError, PermissionError):
    """The approver of a dataset is not entitled to approve it."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Transform:
    """How a dataset derives from its source (module docstring)."""

    kind: TransformKind
    strategy: str | None = None  # anonymize: None = the configured strategy per pii_type
    columns: tuple[tuple[str, str], ...] = ()  # columns: (column, strategy | drop | keep)
    callable: str | None = None  # callable: its module-qualified name

    def describe(self) -> str:
        if self.kind == "anonymize":
            how = self.strategy or "the configured strategy for its pii_type"
            return f"anonymize every personal column with {how}"
        if self.kind == "columns":
            return ", ".join(f"{c}: {s}" for c, s in self.columns)
        return f"Python callable {self.callable}"

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "strategy": self.strategy,
                "columns": dict(self.columns), "callable": self.callable}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Transform:
        return cls(kind=data["kind"], strategy=data.get("strategy"),
                   columns=tuple((str(k), str(v)) for k, v in (data.get("columns") or {}).items()),
                   callable=data.get("callable"))


def parse_transform(value: Any) -> tuple[Transform, Frame | None]:
    """A :class:`Transform` from what the user stated, and the callable if it is one.

    Raises:
        DatasetError: an unknown strategy, an empty mapping, or a value of another type.
    """
    from lacuna.anonymize import strategies

    if value is None or value == "anonymize":
        return Transform(kind="anonymize"), None
    if callable(value):
        module = getattr(value, "__module__", None) or "?"
        name = getattr(value, "__qualname__", None) or type(value).__name__
        return Transform(kind="callable", callable=f"{module}.{name}"), value
    known = strategies.names()
    if isinstance(value, str):
        if value not in known:
            msg = (f"unknown transform {value!r}: use 'anonymize', a strategy name "
                   f"({', '.join(known)}), a column mapping, or a Python callable.")
            raise DatasetError(msg)
        return Transform(kind="anonymize", strategy=value), None
    if isinstance(value, Mapping) and value:
        pairs: list[tuple[str, str]] = []
        for column, strategy in value.items():
            if strategy not in (*known, DROP, KEEP):
                msg = (f"unknown strategy {strategy!r} for column {column!r}: use one of "
                       f"{', '.join((*known, DROP, KEEP))}.")
                raise DatasetError(msg)
            pairs.append((str(column), str(strategy)))
        return Transform(kind="columns", columns=tuple(pairs)), None
    msg = (f"cannot use {type(value).__name__} {value!r} as a transform: state it as 'anonymize', "
           "a strategy name, a mapping {column: strategy | 'drop' | 'keep'}, or a callable.")
    raise DatasetError(msg)


@dataclass(frozen=True, slots=True, kw_only=True)
class Fingerprint:
    """A source file's identity: size and mtime (cheap) and content hash (decisive)."""

    size: int
    mtime_ns: int
    sha256: str

    def to_dict(self) -> dict[str, Any]:
        return {"size": self.size, "mtime_ns": self.mtime_ns, "sha256": self.sha256}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Fingerprint:
        return cls(size=int(data["size"]), mtime_ns=int(data["mtime_ns"]),
                   sha256=str(data["sha256"]))


def fingerprint(path: str | os.PathLike[str], known: Fingerprint | None = None) -> Fingerprint:
    """The fingerprint of ``path``; the content is hashed only when size or mtime moved.

    Raises:
        DatasetError: the file cannot be read.
    """
    try:
        st = os.stat(path)
        if known is not None and (st.st_size, st.st_mtime_ns) == (known.size, known.mtime_ns):
            return known
        from lacuna.storage.sealed import content_digest, is_sealed

        if is_sealed(path):  # governed storage: the ciphertext without its key slots, so a
            sha = content_digest(path)  # re-wrap (key rotation) is not a change of content
        else:
            digest = hashlib.sha256()
            with open(path, "rb") as fh:
                for block in iter(lambda: fh.read(1 << 20), b""):
                    digest.update(block)
            sha = digest.hexdigest()
    except (OSError, StorageError) as exc:
        msg = f"cannot read the source {os.fspath(path)!r} ({type(exc).__name__}: {exc})."
        raise DatasetError(msg) from exc
    return Fingerprint(size=st.st_size, mtime_ns=st.st_mtime_ns, sha256=sha)


@dataclass(frozen=True, slots=True, kw_only=True)
class Dataset:
    """One registered dataset: definition, approval, and its materialised copy."""

    name: str
    source: str  # absolute path of the source file
    transform: Transform
    owner: str
    approved_by: str
    approval: Literal["steward", "recorded"]  # verified against stewards:, or only recorded
    refresh: str  # on_read | manual | a schedule string
    location: str  # the materialised file, in a governed folder
    registered_by: str
    registered_at: datetime
    description: str = ""
    declared_in: str | None = None  # the lacuna.yaml that declares it, if any
    built_at: datetime | None = None
    source_fingerprint: Fingerprint | None = None
    output_fingerprint: Fingerprint | None = None  # the materialised file, as built
    classification: Classification | None = None
    columns: tuple[str, ...] = ()
    rows: int | None = None
    rules: str | None = None  # rules_of(config) the build was classified under

    @property
    def built(self) -> bool:
        return self.built_at is not None and Path(self.location).is_file()

    def built_under_other_settings(self, config: Config) -> bool:
        """Whether its class was decided under other ``classification``/``anonymize`` settings
        than ``config``'s (:func:`rules_of`): that class is not what these settings give, and
        the next ``get`` rebuilds it (:func:`lacuna.datasets.api.fresh`)."""
        return self.classification is not None and self.rules != rules_of(config)

    def definition(self) -> tuple[Any, ...]:
        """What a declaration changes (a changed one re-registers the dataset)."""
        return (self.source, self.transform, self.owner, self.approved_by, self.refresh,
                self.description)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "source": self.source, "transform": self.transform.to_dict(),
            "owner": self.owner, "approved_by": self.approved_by, "approval": self.approval,
            "refresh": self.refresh, "location": self.location,
            "registered_by": self.registered_by,
            "registered_at": self.registered_at.isoformat(), "description": self.description,
            "declared_in": self.declared_in,
            "built_at": self.built_at.isoformat() if self.built_at else None,
            "source_fingerprint": (self.source_fingerprint.to_dict()
                                   if self.source_fingerprint else None),
            "output_fingerprint": (self.output_fingerprint.to_dict()
                                   if self.output_fingerprint else None),
            "classification": self.classification.to_dict() if self.classification else None,
            "columns": list(self.columns), "rows": self.rows, "rules": self.rules,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Dataset:
        fp = data.get("source_fingerprint")
        out = data.get("output_fingerprint")
        cls_ = data.get("classification")
        built = data.get("built_at")
        return cls(
            name=data["name"], source=data["source"],
            transform=Transform.from_dict(data["transform"]), owner=data["owner"],
            approved_by=data["approved_by"], approval=data["approval"],
            refresh=data["refresh"], location=data["location"],
            registered_by=data["registered_by"],
            registered_at=datetime.fromisoformat(data["registered_at"]),
            description=data.get("description") or "", declared_in=data.get("declared_in"),
            built_at=datetime.fromisoformat(built) if built else None,
            source_fingerprint=Fingerprint.from_dict(fp) if fp else None,
            output_fingerprint=Fingerprint.from_dict(out) if out else None,
            classification=Classification.from_dict(cls_) if cls_ else None,
            columns=tuple(data.get("columns") or ()), rows=data.get("rows"),
            rules=data.get("rules"),
        )


def rules_of(config: Config) -> str:
    """A digest of the settings a build's classification follows: ``classification`` (the
    mapping of kinds to tiers, ``k_anonymity``, ...) and ``anonymize`` (the strategies, epsilon).
    A build made under other settings is made again (:func:`lacuna.datasets.api.fresh`): before,
    a dataset built under k=5 stayed PUBLIC after a steward raised ``k_anonymity`` to 50, and
    its pseudonyms after identifiers were mapped to INTERNAL."""
    text = config.classification.model_dump_json() + config.anonymize.model_dump_json()
    return hashlib.sha256(text.encode()).hexdigest()


def check_name(name: str) -> str:
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        msg = (f"invalid dataset name {name!r}: start with a letter; use letters, digits, "
               "'_', '-' or '.', at most 128 characters (e.g. 'customers_anonymized').")
        raise DatasetError(msg)
    return name


def check_refresh(refresh: str) -> str:
    text = " ".join(str(refresh or "").split())
    if not text:
        msg = "refresh must be 'on_read', 'manual' or a schedule string (e.g. '0 3 * * *')."
        raise DatasetError(msg)
    return text


# -- callables registered in this process ------------------------------------------------------

_CALLABLES: dict[str, Frame] = {}
_CALLABLES_LOCK = threading.Lock()


def remember_callable(dataset: str, fn: Frame) -> None:
    with _CALLABLES_LOCK:
        _CALLABLES[dataset] = fn


def registered_callable(dataset: str) -> Frame | None:
    with _CALLABLES_LOCK:
        return _CALLABLES.get(dataset)
