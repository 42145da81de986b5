"""The one entry point, :func:`classify`: frames, files, column names, samples or free text.

A ``str`` is a file path when it names an existing file or looks like one (a data-file
extension, or a path separator, and no whitespace); any other string is free text, classified
as one pseudo-column named ``text`` (each line a sampled value). ``os.PathLike`` is always a
path; use :func:`classify_text` to force the text reading.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd

from lacuna.classify.declared import apply_declared
from lacuna.classify.header import read_labels
from lacuna.classify.heuristic import (
    _columns,
    _default_config,
    _Found,
    _rows,
    _table,
    classify_frame,
    headed,
)
from lacuna.classify.readers import file_format, read_sample
from lacuna.classify.settings import ClassifySettings
from lacuna.config import ClassificationConfig
from lacuna.errors import ClassificationError
from lacuna.model import Classification

TEXT_COLUMN = "text"
MAX_TEXT_LINES = 1000


def looks_like_path(text: str) -> bool:
    """Whether a string is meant as a file path rather than as text to classify.

    Example:
        >>> looks_like_path("customers.csv"), looks_like_path("call me at +1 415 555 0100")
        (True, False)
    """
    if "\n" in text or len(text) > 4096:
        return False
    if os.path.isfile(text):
        return True
    if any(ch.isspace() for ch in text.strip()):
        return False
    return file_format(text) is not None or "/" in text or "\\" in text


def classify_text(
    text: str,
    *,
    config: ClassificationConfig | None = None,
    cascade: bool | ClassifySettings = True,
) -> Classification:
    """Classify a piece of free text as one pseudo-column named ``text``.

    Each non-empty line is a sampled value (at most ``MAX_TEXT_LINES``), so the value
    recognizers' free-text search finds e-mail addresses, phone numbers, card numbers and names
    inside sentences; the evidence reports how many lines hold each.

    Example:
        >>> c = classify_text("Please call Maria Garcia at +1 415-555-0100 or maria@example.org")
        >>> c.tier.value, c.columns["text"].classification.value
        ('PROPRIETARY', 'pii')
    """
    config = config or _default_config()
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()][:MAX_TEXT_LINES]
    found = _columns([TEXT_COLUMN], {TEXT_COLUMN: lines or [""]}, config, MAX_TEXT_LINES,
                     cascade)
    return _table(found, config, None)


def _given(
    names: list[Any],
    found: _Found,
    config: ClassificationConfig,
    declared: Mapping[str, Any] | None,
) -> Classification:
    """The table of column names given without a frame (a list, a mapping's keys), read as a
    header too, as a frame's column names are (:func:`lacuna.classify.header.read_labels`):
    names that are values (e-mail addresses, phone numbers, people's names) are classified
    under ``(column labels)`` and named by position, ``(column N)``."""
    read = read_labels(names, config, where="given as the column names")
    return headed(found, read, read.names([str(n) for n in names], []), config, None, declared)


def classify(
    x: Any,
    *,
    config: ClassificationConfig | None = None,
    sample_rows: int | None = None,
    declared: Mapping[str, Any] | None = None,
    cascade: bool | ClassifySettings = True,
) -> Classification:
    """Classify data: a DataFrame, a file path, column names, ``{name: samples}`` or free text.

    Layer 1 (heuristics) decides what it is sure of; the columns below its confidence threshold
    go on to layer 2 (embeddings) and layer 3 (LLM) when those are on (see
    ``docs/classification.md``). Every column reports the layer that decided it.

    Args:
        x: a ``pandas.DataFrame`` or ``Series``; a path (``str`` or ``os.PathLike``) to a CSV,
            TSV, Parquet, JSON, JSON Lines or Excel file; a list of column names; a mapping of
            column name to sample values; or a string of free text (see :func:`looks_like_path`).
        config: the classification settings; ``None`` uses the defaults (pass
            ``lacuna.load_config().classification`` to use ``lacuna.yaml``).
        sample_rows: rows to sample; overrides ``config.sample_rows``; 0 means names only.
        declared: declared column classes, which win over inference; disagreements are kept
            as ``suggestion:`` lines in the reasoning.
        cascade: ``False`` runs layer 1 only; a ``ClassifySettings`` replaces the cascade
            settings read from ``config``.

    Returns:
        The :class:`~lacuna.model.Classification`: tier, tags, per-column classes, confidence
        and reasoning.

    Raises:
        ClassificationError: the file cannot be read, a declaration is invalid, or ``x`` is of
            an unsupported type.

    Example:
        >>> c = classify(["customer_id", "revenue", "region"])
        >>> c.tier.value, c.tags
        ('INTERNAL', ('FINANCIAL',))
    """
    config = config or _default_config()
    if isinstance(x, pd.DataFrame):
        return classify_frame(x, config=config, sample_rows=sample_rows, cascade=cascade,
                              declared=declared)
    if isinstance(x, pd.Series):
        return classify_frame(x.to_frame(name=x.name if x.name is not None else "value"),
                              config=config, sample_rows=sample_rows, cascade=cascade,
                              declared=declared)
    if isinstance(x, str) and not looks_like_path(x):
        return apply_declared(classify_text(x, config=config, cascade=cascade), declared, config)
    if isinstance(x, (str, os.PathLike)):
        rows = _rows(config, sample_rows)
        frame = read_sample(x, rows or 1)
        return classify_frame(frame, path=x, config=config, sample_rows=rows, cascade=cascade,
                              declared=declared)
    if isinstance(x, Mapping):
        rows = _rows(config, sample_rows)
        return _given(list(x), _columns(list(x), x, config, rows, cascade), config, declared)
    if isinstance(x, Iterable) and not isinstance(x, bytes):
        names = list(x)
        return _given(names, _columns(names, None, config, 0, cascade), config, declared)
    msg = (f"cannot classify an object of type {type(x).__name__}. Pass a DataFrame, a file "
           "path, a list of column names, a mapping of column name to sample values, or text.")
    raise ClassificationError(msg)
