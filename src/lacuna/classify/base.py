"""Layer-1 plug-ins: name recognizers, value recognizers and value validators.

A *name recognizer* reads a column name's tokens; a *value recognizer* reads a bounded sample of
a column's values; a *validator* decides whether one candidate string is real (Luhn, IBAN check
digits, SSN area rules, ...). Built-ins are declarative subclasses (``PhraseRecognizer``,
``PatternRecognizer``) whose knobs are class attributes; register your own with
``@name_recognizer`` / ``@value_recognizer`` / ``@validator("name")``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, TypeVar

from lacuna._registry import Registry
from lacuna.classify.slots import setters
from lacuna.classify.tokens import phrase
from lacuna.model import ColumnKind, Sensitivity

if TYPE_CHECKING:
    from lacuna.classify.scan import ColumnSample

AMBIGUOUS_SCORE = 0.65  # score of a phrase that often means something else ("cell", "pan")


@dataclass(frozen=True, slots=True)
class NameMatch:
    """Where a name recognizer matched a column name's tokens."""

    recognizer: NameRecognizer
    start: int
    end: int  # exclusive
    phrase: str
    score: float

    @property
    def length(self) -> int:
        return self.end - self.start


_new = object.__new__
_NAME_MATCH = setters(NameMatch, ("recognizer", "start", "end", "phrase", "score"))


def _name_match(recognizer: NameRecognizer, start: int, end: int, phrase: str,
                score: float) -> NameMatch:
    """``NameMatch(...)``, built by its slots (:mod:`lacuna.classify.slots`): one a name."""
    if _NAME_MATCH is None:  # pragma: no cover - NameMatch's fields changed: the constructor
        return NameMatch(recognizer, start, end, phrase, score)
    obj = _new(NameMatch)
    s_recognizer, s_start, s_end, s_phrase, s_score = _NAME_MATCH
    s_recognizer(obj, recognizer)
    s_start(obj, start)
    s_end(obj, end)
    s_phrase(obj, phrase)
    s_score(obj, score)
    return obj


@dataclass(frozen=True, slots=True)
class ValueMatch:
    """What a value recognizer found in a sample: shares and counts, never the values."""

    recognizer: ValueRecognizer
    mode: str  # "column": the values are X; "text": free text containing X; "down": the
    # values, one character each, spell X read in order
    ratio: float  # share of sampled non-null values that hold a valid X
    sampled: int  # sampled non-null values
    checked: int  # candidates run through the validator
    score: float
    weak: bool = False  # bare digits and the like: supports a name, never decides alone
    below: bool = False  # valid values found, but fewer than the recognizer's min_ratio

    @property
    def detail(self) -> str:
        """The evidence text: ``87% of 200 sampled values are valid e-mail addresses``."""
        pct = f"{self.ratio:.0%}" if self.ratio >= 0.01 else f"{self.ratio:.1%}"
        what = self.recognizer.label
        one = self.sampled == 1
        sampled = f"{self.sampled} sampled value" + ("" if one else "s")
        if self.mode == "text":
            return f"{pct} of {sampled} contain{'s' if one else ''} {what} (free text)"
        if self.mode == "down":  # (lacuna.classify.spelled.spelled_down)
            return f"the {sampled}, one character each, spell {what} read down the column"
        weak = " (bare digits: weak)" if self.weak else ""
        return f"{pct} of {sampled} {'is' if one else 'are'} {what}{weak}"


class NameRecognizer(ABC):
    """Recognizes a kind of column from its name's tokens."""

    name: ClassVar[str]
    kind: ClassVar[ColumnKind]
    pii_type: ClassVar[str | None] = None
    sensitivity: ClassVar[Sensitivity] = Sensitivity.LOW
    label: ClassVar[str]  # what the column holds, for reasoning: "an e-mail address"
    score: ClassVar[float] = 0.9
    generic: ClassVar[bool] = False  # "id", "key": loses to a sensitive match in the same name
    # Whether a person has it is the sensitive fact itself (has_criminal_record,
    # is_union_member, pregnancy_status): "has"/"is" and a flag or status word do not make
    # such a name a descriptor.
    whether_is_personal: ClassVar[bool] = False

    @abstractmethod
    def match(self, tokens: tuple[str, ...]) -> NameMatch | None:
        """The best match in ``tokens``, or ``None``."""

    def vocabulary(self) -> frozenset[str]:
        """Tokens this recognizer knows (plural folding maps ``emails`` onto ``email``)."""
        return frozenset()

    def triggers(self) -> frozenset[str] | None:
        """Tokens without which ``match`` never matches; ``None``: always ask (the default)."""
        return None


class PhraseRecognizer(NameRecognizer):
    """A name recognizer made of phrases: token runs that must appear in the name.

    ``phrases`` match anywhere in the name; a multi-word phrase also matches written together
    (``first name`` matches ``firstname``). ``ambiguous`` phrases match with a lower score.
    ``whole`` phrases count only as the entire name (``name`` alone, not ``file_name``).
    ``not_after`` tokens cancel a match they directly precede (``web`` before ``address``).
    """

    phrases: ClassVar[tuple[str, ...]] = ()
    translations: ClassVar[tuple[str, ...]] = ()  # other languages and abbreviations: phrases
    ambiguous: ClassVar[tuple[str, ...]] = ()
    whole: ClassVar[tuple[str, ...]] = ()
    not_after: ClassVar[tuple[str, ...]] = ()

    def __init__(self) -> None:
        by_first: dict[str, list[tuple[tuple[str, ...], int, str, float]]] = {}
        whole: dict[tuple[str, ...], tuple[str, float]] = {}
        for group, score, is_whole in (
            ((*self.phrases, *self.translations), self.score, False),
            (self.ambiguous, min(self.score, AMBIGUOUS_SCORE), False),
            (self.whole, min(self.score, AMBIGUOUS_SCORE + 0.05), True),
        ):
            for text in group:
                seq = phrase(text)
                forms = [seq, ("".join(seq),)] if len(seq) > 1 else [seq]
                for form in forms:
                    if is_whole:
                        whole.setdefault(form, (text, score))
                    else:
                        by_first.setdefault(form[0], []).append((form, len(form), text, score))
        # {first token: ((phrase tokens, their number, phrase, score), ...)}
        self._by_first = {k: tuple(v) for k, v in by_first.items()}
        self._whole = whole
        # a whole phrase is the name's words: a name with none of their words is not one
        self._whole_words = frozenset(t for form in whole for t in form)
        self._whole_any = () in whole
        self._firsts = frozenset(by_first) | frozenset(k[0] for k in whole)
        forms = [*whole, *(form for entries in by_first.values() for form, *_ in entries)]
        self._vocabulary = frozenset(t for form in forms for t in form)
        self._not_after = frozenset(self.not_after)

    def vocabulary(self) -> frozenset[str]:
        return self._vocabulary

    def triggers(self) -> frozenset[str] | None:
        return self._firsts

    def match(self, tokens: tuple[str, ...]) -> NameMatch | None:
        if self._firsts.isdisjoint(tokens):
            return None
        if self._whole and (self._whole_any or not self._whole_words.isdisjoint(tokens)):
            words = tuple(t for t in tokens if not t.isdigit())
            if words in self._whole:
                text, score = self._whole[words]
                return _name_match(self, 0, len(tokens), text, score)
        # The best so far as plain values; the NameMatch is built once, for the winner.
        best: tuple[str, float] | None = None
        best_start = best_end = 0
        by_first, not_after = self._by_first, self._not_after  # locals: the loop is hot
        for start, token in enumerate(tokens):
            entries = by_first.get(token)
            if entries is None:
                continue
            for seq, n, text, score in entries:
                end = start + n
                if n > 1 and tokens[start:end] != seq:
                    continue
                if start > 0 and tokens[start - 1] in not_after:
                    continue
                # Longest wins; between equally long matches the rightmost (the head noun).
                if best is None or n > best_end - best_start or (
                        n == best_end - best_start and end > best_end):
                    best, best_start, best_end = (text, score), start, end
        if best is None:
            return None
        return _name_match(self, best_start, best_end, *best)


class ValueRecognizer(ABC):
    """Recognizes a kind of value in a bounded sample of one column."""

    name: ClassVar[str]
    kind: ClassVar[ColumnKind]
    pii_type: ClassVar[str | None] = None
    sensitivity: ClassVar[Sensitivity] = Sensitivity.LOW
    label: ClassVar[str]  # plural, for evidence: "valid e-mail addresses"
    numeric: ClassVar[bool] = False  # also scan integer columns, written as decimal digits

    @abstractmethod
    def scan(self, sample: ColumnSample) -> ValueMatch | None:
        """Look at one column's sampled values and report what was found, if anything.

        Args:
            sample: the sampled non-null values as stripped, length-bounded strings.
        """


NameRecognizerT = TypeVar("NameRecognizerT", bound=type[NameRecognizer])
ValueRecognizerT = TypeVar("ValueRecognizerT", bound=type[ValueRecognizer])

name_recognizers = Registry[type[NameRecognizer]](kind="name recognizer")
value_recognizers = Registry[type[ValueRecognizer]](kind="value recognizer")
validators = Registry[Callable[[str], bool]](kind="validator")


def name_recognizer(cls: NameRecognizerT) -> NameRecognizerT:
    """Register a name recognizer class under its ``name``."""
    name_recognizers.register(cls.name)(cls)
    return cls


def value_recognizer(cls: ValueRecognizerT) -> ValueRecognizerT:
    """Register a value recognizer class under its ``name``."""
    value_recognizers.register(cls.name)(cls)
    return cls


def validator(name: str) -> Callable[[Callable[[str], bool]], Callable[[str], bool]]:
    """Register a validator: a function that says whether one candidate string is genuine."""
    return validators.register(name)
