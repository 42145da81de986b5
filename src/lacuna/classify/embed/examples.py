"""Labelled examples for layer 2: short texts with the column class they stand for.

The shipped set is ``lacuna/classify/data/examples.tsv``; users add their own files
(``classification.cascade.embeddings.examples``) in the same format, one label per line::

    # class<TAB>type<TAB>sensitivity<TAB>texts separated by |
    pii	phone	high	phone number|telephone|numero de telephone
    identifier	-	low	loyalty card number|member number

``type`` is the ``pii_type`` (``-`` for none). Lines starting with ``#`` are comments.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from lacuna.errors import ConfigError
from lacuna.model import ColumnKind, Sensitivity


@dataclass(frozen=True, slots=True)
class Label:
    """What an example stands for."""

    kind: ColumnKind
    pii_type: str | None
    sensitivity: Sensitivity

    @property
    def type(self) -> str:
        """The pii_type, or the class for labels without one."""
        return self.pii_type or self.kind.value


@dataclass(frozen=True, slots=True)
class Example:
    """One labelled text."""

    text: str
    label: Label


def shipped_text() -> str:
    """The contents of the shipped examples file."""
    return (resources.files("lacuna.classify") / "data" / "examples.tsv").read_text("utf-8")


def parse(text: str, where: str) -> list[Example]:
    """Parse examples; a malformed line is a :class:`ConfigError` naming the file and line."""
    out: list[Example] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        parts = line.split("\t")
        if len(parts) != 4:
            msg = (f"{where}:{number}: expected 4 tab-separated fields (class, type, "
                   f"sensitivity, texts separated by |), found {len(parts)}.")
            raise ConfigError(msg)
        try:
            label = Label(ColumnKind.parse(parts[0]), None if parts[1].strip() in ("", "-")
                          else parts[1].strip(), Sensitivity.parse(parts[2]))
        except ConfigError as exc:
            msg = f"{where}:{number}: {exc}"
            raise ConfigError(msg) from None
        out.extend(Example(t.strip(), label) for t in parts[3].split("|") if t.strip())
    return out


def load(extra: Iterable[Path] = ()) -> tuple[Example, ...]:
    """The shipped examples plus those in ``extra`` files."""
    examples = parse(shipped_text(), "lacuna/classify/data/examples.tsv")
    for path in extra:
        p = Path(path).expanduser()
        try:
            text = p.read_text(encoding="utf-8")
        except OSError as exc:
            msg = (f"cannot read layer-2 examples file {str(p)!r} ({exc.strerror}). Fix "
                   "classification.cascade.embeddings.examples in lacuna.yaml.")
            raise ConfigError(msg) from exc
        examples.extend(parse(text, str(p)))
    return tuple(examples)
