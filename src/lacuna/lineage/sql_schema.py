"""The ``schema=`` argument of :func:`lacuna.classify_sql`, validated and normalised.

``schema`` maps a table name (``customers``, ``crm.customers``) to either its columns,
``{column: ColumnClass | class name | Classification}``, or one ``Classification`` for the whole
table. A class name is a column classification (``pii``, ``phi``, ``financial``, ``identifier``,
``public``), optionally with a PII type (``pii:email``). A table given only as a
``Classification`` without columns is *opaque*: any column read from it carries the table's
classification (fail closed).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from sqlglot import exp
from sqlglot.dialects.dialect import Dialect
from sqlglot.schema import MappingSchema

from lacuna.classify.layers import stricter
from lacuna.errors import LineageError
from lacuna.lineage.records import DatasetRef
from lacuna.model import (
    FINANCIAL,
    PHI,
    PII,
    Classification,
    ColumnClass,
    ColumnKind,
    Layer,
    Sensitivity,
    Tier,
)

SchemaInput = Mapping[str, "Mapping[str, ColumnClass | str | Classification] | Classification"]


@dataclass(frozen=True, slots=True)
class Table:
    """One input table: its reference, display name and column classes (``None``: opaque)."""

    ref: DatasetRef
    display: str
    columns: Mapping[str, ColumnClass] | None  # normalised column name -> class
    floor: Tier = Tier.PUBLIC
    table_tags: tuple[str, ...] = ()
    opaque_class: ColumnClass | None = None  # what any column of an opaque table carries
    tier: Tier = Tier.PUBLIC
    origin: str = ""  # the table's stable name: where the pieces of its columns come from


@dataclass(slots=True)
class Schema:
    """Tables by normalised dotted name, plus display spellings for normalised identifiers."""

    dialect: Dialect
    tables: dict[str, Table] = field(default_factory=dict)
    display: dict[str, str] = field(default_factory=dict)
    # the names ``dialect`` normalised so far, shared by every Schema of its kind (its class
    # and normalisation strategy): looked up by name alone, since hashing the dialect into
    # each key (sqlglot hashes and compares dialects in Python) cost more than normalising
    _names: dict[str, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        d = self.dialect
        self._names = _NORMALIZED.setdefault(
            (type(d), getattr(d, "normalization_strategy", None)), {})

    def norm(self, name: str) -> str:
        """``name`` as the dialect normalises an unquoted identifier (``Email`` -> ``email``
        in most), remembered per dialect and strategy (a project's SQL names the same
        columns thousands of times)."""
        found = self._names.get(name)
        if found is None:
            found = str(self.dialect.normalize_identifier(exp.to_identifier(name)).name)
            if len(self._names) >= _MOST_NAMES:  # hostile SQL of endless distinct names
                self._names.clear()
            self._names[name] = found
        return found

    def show(self, name: str) -> str:
        return self.display.get(name, name)

    def sqlglot_schema(self) -> MappingSchema:
        """The tables as sqlglot's qualifier reads them: names are normalised already (by
        :meth:`norm`, as the dialect does), so sqlglot does not normalise (and copy) them
        again on every lookup."""
        return MappingSchema(self._nested(), dialect=self.dialect, normalize=False)

    def _nested(self) -> dict[str, Any]:
        """The nested ``{db: {table: {column: type}}}`` mapping."""
        out: dict[str, Any] = {}
        for key, table in self.tables.items():
            if table.columns is None:
                continue
            node = out
            *parents, leaf = key.split(".")
            for part in parents:
                node = node.setdefault(part, {})
            node[leaf] = dict.fromkeys(table.columns, "UNKNOWN")
        return out

    def lookup(self, node: exp.Table) -> Table | None:
        """The table a ``FROM``/``JOIN`` reference names: exact, else a unique suffix match."""
        parts = [p for p in (node.catalog, node.db, node.name) if p]
        key = ".".join(parts)
        if key in self.tables:
            return self.tables[key]
        matches = [
            t for k, t in self.tables.items() if k.endswith("." + key) or key.endswith("." + k)
        ]
        return matches[0] if len(matches) == 1 else None


# (dialect class, normalisation strategy) -> {name: normalised name}; sqlglot's dialects
# compare equal by class alone, whatever their settings, so the strategy is part of the key
_NORMALIZED: dict[tuple[type, Any], dict[str, str]] = {}
_MOST_NAMES = 1 << 16


def build_schema(
    schema: SchemaInput,
    dialect: Dialect,
    namespace: str,
    origins: Mapping[str, str] | None = None,
) -> Schema:
    """Validate ``schema=`` and normalise its names the way ``dialect`` does.

    ``origins`` gives a table (as ``schema`` names it) a stable name that pieces of its columns
    are remembered by across statements (:class:`~lacuna.model.Piece`); by default
    ``<namespace>/<normalised table name>``."""
    if not isinstance(schema, Mapping):
        msg = (
            f"classify_sql: schema must map table -> {{column: class}} or a Classification, "
            f"got {type(schema).__name__}. Example: schema={{'customers': {{'email': 'pii'}}}}"
        )
        raise LineageError(msg)
    out = Schema(dialect=dialect)
    depths = set()
    for raw_table, spec in schema.items():
        parts = [out.norm(p) for p in str(raw_table).split(".")]
        key = ".".join(parts)
        depths.add(len(parts))
        for raw, norm in zip(str(raw_table).split("."), parts, strict=True):
            out.display.setdefault(norm, raw)
        ref = DatasetRef(namespace, str(raw_table))
        origin = (origins or {}).get(str(raw_table)) or str(DatasetRef(namespace, key))
        out.tables[key] = replace(_table(raw_table, spec, ref, out), origin=origin)
    if len(depths) > 1:
        msg = (
            "classify_sql: schema mixes table names of different depths "
            f"({', '.join(map(str, schema))}); name every table the same way "
            "(all 'table', or all 'schema.table')"
        )
        raise LineageError(msg)
    return out


def _table(raw_table: str, spec: Any, ref: DatasetRef, out: Schema) -> Table:
    if isinstance(spec, Classification):
        if not spec.columns:
            return Table(
                ref, raw_table, None, floor=spec.floor, table_tags=spec.table_tags,
                opaque_class=_from_classification(spec, f"table {raw_table}"), tier=spec.tier,
            )  # fmt: skip
        columns = _columns(out, spec.columns.items())
        return Table(ref, raw_table, columns, floor=spec.floor, table_tags=spec.table_tags,
                     tier=spec.tier)  # fmt: skip
    if not isinstance(spec, Mapping):
        msg = (
            f"classify_sql: schema[{raw_table!r}] must be {{column: class}} or a Classification, "
            f"got {type(spec).__name__}"
        )
        raise LineageError(msg)
    given = ((str(n), _column_class(value, f"{raw_table}.{n}")) for n, value in spec.items())
    columns = _columns(out, given)
    return Table(ref, raw_table, columns)


def _columns(out: Schema, items: Iterable[tuple[str, ColumnClass]]) -> dict[str, ColumnClass]:
    """Columns by normalised name. Two names one normalised name (PostgreSQL's ``"HASH"`` and
    ``"Hash"``, both ``hash``) keep the stricter class of the two (fail closed): otherwise the
    one given last replaced the other, and a quoted ``"Hash"`` holding ``md5(email)`` was
    read as its public namesake."""
    columns: dict[str, ColumnClass] = {}
    for name, col in items:
        key = _col(out, name)
        columns[key] = stricter(columns[key], col) if key in columns else col
    return columns


def _col(out: Schema, name: str) -> str:
    norm = out.norm(name)
    out.display.setdefault(norm, name)
    return norm


def _column_class(value: Any, where: str) -> ColumnClass:
    if isinstance(value, ColumnClass):
        return value
    if isinstance(value, Classification):
        if len(value.columns) == 1:
            return next(iter(value.columns.values()))
        return _from_classification(value, where)
    if isinstance(value, str):
        kind, _, pii_type = value.partition(":")
        try:
            parsed = ColumnKind.parse(kind)
        except Exception as exc:
            msg = f"classify_sql: schema column {where}: {exc}"
            raise LineageError(msg) from exc
        personal = parsed in (ColumnKind.PII, ColumnKind.PHI)
        return ColumnClass(
            classification=parsed,
            pii_type=pii_type or None,
            sensitivity=Sensitivity.HIGH if personal else Sensitivity.LOW,
            reasoning=f"declared {value} in schema=",
            layer=Layer.DECLARED,
        )
    msg = (
        f"classify_sql: schema column {where} must be a ColumnClass, a class name "
        f"(pii, phi, financial, identifier, public) or a Classification, got {type(value).__name__}"
    )
    raise LineageError(msg)


def _from_classification(value: Classification, where: str) -> ColumnClass:
    """A column class standing for a whole Classification: its most personal tag wins."""
    tags = set(value.tags) | set(value.table_tags)
    kind = (
        ColumnKind.PHI if PHI in tags
        else ColumnKind.PII if PII in tags
        else ColumnKind.FINANCIAL if FINANCIAL in tags
        else ColumnKind.PUBLIC
    )  # fmt: skip
    return ColumnClass(
        classification=kind,
        sensitivity=Sensitivity.HIGH
        if kind in (ColumnKind.PII, ColumnKind.PHI)
        else Sensitivity.LOW,
        reasoning=f"{where} is declared {value.tier.value} without per-column classes",
        layer=Layer.DECLARED,
    )
