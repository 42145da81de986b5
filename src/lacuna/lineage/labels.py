"""What a label file may hold: the strict shape of a sidecar that is kept as a label.

A sidecar (``.x.csv.lacuna.json``) is a label about data, not data: the governed mount keeps one
written through it in plaintext (never sealed, whatever storage encrypts) and lets any process
read it without a decision, as Lacuna's own readers must. :func:`lacuna.lineage.sidecar.
is_declaration` asks only for a JSON object with a ``classification`` object, so any other key
(``{"classification": {}, "rows": "<a customer file, base64>"}``) carried data past the
mount's decisions and its encryption: written beside a PUBLIC file, copied out by ``cp``.

A label is therefore held to the shape Lacuna writes (:func:`lacuna.lineage.sidecar.
write_sidecar`), key by key: only the documented keys, each of its type; the classification's
and each column's values exactly as Lacuna serialises them (an enum as its name, a
confidence rounded to 4 places, no key of its own); a content fingerprint of the documented
modes with hex digests; a signature of Lacuna's form; every text at most
:data:`MAX_TEXT` characters, every list at most :data:`MAX_ITEMS` entries. The texts a label
documents (reasoning lines, source paths, column names, who wrote it) remain, bounded:
docs/mount.md says so.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from lacuna.model import Classification, ColumnClass

MAX_TEXT = 4096  # characters of one text (a path, a reasoning line, a column name)
MAX_ITEMS = 10_000  # entries of one list or object (columns, sources, files of a folder)
_HEX = re.compile(r"[0-9a-f]{1,128}")
_SIGNATURE = re.compile(r"hmac-sha256:[0-9a-f]{12}:[0-9a-f]{64}")
_RUN_ID = re.compile(r"[A-Za-z0-9._:@/+-]{1,64}")
_MODES = frozenset({"full", "blake3", "sealed", "directory", "dangling", "cycle"})
_TOP = frozenset({"schema_version", "generator", "classification", "sources", "written_by",
                  "written_at", "first_seen", "run_id", "combined", "content", "signature"})


class LabelShapeError(ValueError):
    """A sidecar does not have the shape of a label (the message names the key)."""


def _text(value: Any, where: str, *, empty: bool = True) -> str:
    if not isinstance(value, str) or len(value) > MAX_TEXT or (not empty and not value):
        msg = f"{where} must be a text of at most {MAX_TEXT} characters"
        raise LabelShapeError(msg)
    return value


def _items(value: Any, where: str, kind: type[list[Any]] | type[dict[str, Any]]) -> Any:
    if not isinstance(value, kind) or len(value) > MAX_ITEMS:
        msg = f"{where} must be a {'list' if kind is list else 'object'} of at most {MAX_ITEMS}"
        raise LabelShapeError(msg)
    return value


def _as_written(given: Mapping[str, Any], written: Mapping[str, Any], where: str) -> None:
    """Every key of ``given`` is one Lacuna writes, with the value Lacuna writes for it."""
    for key, value in given.items():
        if key not in written:
            msg = f"{where} has a key Lacuna does not write: {str(key)[:40]!r}"
            raise LabelShapeError(msg)
        if value != written[key] or type(value) is not type(written[key]):
            msg = (f"{where}: {key!r} is not as Lacuna writes it (write it as "
                   f"{str(written[key])[:80]!r})")
            raise LabelShapeError(msg)


def _classification(raw: Any) -> None:
    raw = _items(raw, "classification", dict)
    for key in ("tags", "table_tags", "reasoning"):
        for i, text in enumerate(_items(raw.get(key, []), f"classification.{key}", list)):
            _text(text, f"classification.{key}[{i}]")
    columns = _items(raw.get("columns", {}), "classification.columns", dict)
    version = raw.get("schema_version", "")
    if not isinstance(version, int | str) or isinstance(version, bool) or len(str(version)) > 16:
        msg = "classification.schema_version must be a short number or text"
        raise LabelShapeError(msg)
    table = {k: v for k, v in raw.items() if k not in ("columns", "schema_version")}
    try:
        parsed = Classification.from_dict(table)
    except (TypeError, ValueError) as exc:
        msg = f"classification: {exc}"
        raise LabelShapeError(msg) from None
    _as_written(table, parsed.to_dict(), "classification")
    for name, col in columns.items():
        where = f"classification.columns[{str(name)[:40]!r}]"
        _text(name, f"{where} (its name)")
        col = _items(col, where, dict)
        if "reasoning" in col:
            _text(col["reasoning"], f"{where}.reasoning")
        for i, piece in enumerate(_items(col.get("pieces", []), f"{where}.pieces", list)):
            for key in ("table", "column", "sql"):
                _text(piece.get(key) if isinstance(piece, dict) else None,
                      f"{where}.pieces[{i}].{key}")
        try:
            written = ColumnClass.from_dict(col).to_dict()
        except (TypeError, ValueError) as exc:
            msg = f"{where}: {exc}"
            raise LabelShapeError(msg) from None
        _as_written(col, written, where)


def _content(raw: Any, where: str, depth: int = 0) -> None:
    """A content fingerprint as :func:`lacuna.lineage.sidecar.fingerprint` writes one."""
    raw = _items(raw, where, dict)
    mode = raw.get("mode")
    if mode not in _MODES or depth > 8:
        msg = f"{where}.mode must be one of {', '.join(sorted(_MODES))}"
        raise LabelShapeError(msg)
    for key, value in raw.items():
        if key == "size" and isinstance(value, int) and not isinstance(value, bool):
            continue
        if key in ("sha256", "blake3") and isinstance(value, str) and _HEX.fullmatch(value):
            continue
        if key == "mode":
            continue
        if key == "files" and mode == "directory":
            for name, fp in _items(value, f"{where}.files", dict).items():
                _content(fp, f"{where}.files[{_text(name, f'{where}.files (a name)')[:40]!r}]",
                         depth + 1)
            continue
        msg = f"{where} has a key or value Lacuna does not write: {str(key)[:40]!r}"
        raise LabelShapeError(msg)


def _when(value: Any, where: str) -> None:
    try:
        datetime.fromisoformat(_text(value, where))
    except ValueError:
        msg = f"{where} must be an ISO 8601 time"
        raise LabelShapeError(msg) from None


def check_label(raw: Mapping[str, Any]) -> None:
    """Refuse a parsed sidecar that is not shaped as Lacuna writes a label.

    Raises:
        LabelShapeError: naming the first key that is not (an unknown key, a value of the
            wrong type or form, a text or list over its bound).
    """
    for key in raw:
        if key not in _TOP:
            msg = f"the label has a key Lacuna does not write: {str(key)[:40]!r}"
            raise LabelShapeError(msg)
    if "classification" not in raw:
        msg = "the label has no 'classification' object"
        raise LabelShapeError(msg)
    _classification(raw["classification"])
    version = raw.get("schema_version", "")
    if not isinstance(version, int | str) or isinstance(version, bool) or len(str(version)) > 16:
        msg = "schema_version must be a short number or text"
        raise LabelShapeError(msg)
    if "generator" in raw and raw["generator"] != "lacuna":
        msg = "generator must be 'lacuna'"
        raise LabelShapeError(msg)
    for i, source in enumerate(_items(raw.get("sources", []), "sources", list)):
        _text(source, f"sources[{i}]")
    if raw.get("written_by") is not None:
        _text(raw["written_by"], "written_by")
    for key in ("written_at", "first_seen"):
        if raw.get(key) is not None:
            _when(raw[key], key)
    if "run_id" in raw and not (isinstance(raw["run_id"], str)
                                and _RUN_ID.fullmatch(raw["run_id"])):
        msg = "run_id must be a run id (at most 64 letters, digits and ._:@/+-)"
        raise LabelShapeError(msg)
    if "combined" in raw and not isinstance(raw["combined"], bool):
        msg = "combined must be true or false"
        raise LabelShapeError(msg)
    if "content" in raw:
        _content(raw["content"], "content")
    if "signature" in raw and not (isinstance(raw["signature"], str)
                                   and _SIGNATURE.fullmatch(raw["signature"])):
        msg = "signature must be hmac-sha256:<key id>:<digest>, as Lacuna signs"
        raise LabelShapeError(msg)


def label_problem(path: str) -> str | None:
    """Why the file at ``path`` is not a label (see the module docstring), or None when it is
    one: a regular file of at most ``MAX_SIDECAR_BYTES``, UTF-8 JSON of the shape Lacuna
    writes."""
    from lacuna.lineage.sidecar import SidecarError, _read_bounded, parse

    try:
        raw = _read_bounded(Path(path))
        if raw is None:
            return "it is not a regular file"
        check_label(parse(raw, str(path)))
    except (SidecarError, LabelShapeError) as exc:
        return str(exc)
    return None


def is_label(path: str) -> bool:
    """Whether the file at ``path`` is a label (:func:`label_problem` finds nothing)."""
    return label_problem(path) is None


__all__ = ["MAX_ITEMS", "MAX_TEXT", "LabelShapeError", "check_label", "is_label",
           "label_problem"]
