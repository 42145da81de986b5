"""Column names to name evidence: tokens, plural folding, the best match, descriptors.

The rule, in order:

1. Tokenize the name (``tokens.tokenize``) and fold plurals onto known words (``emails`` →
   ``email``, ``addresses`` → ``address``, ``ips`` → ``ip``).
2. Every recognizer reports its best match: whole tokens or token runs, never substrings.
3. The longest match (most tokens) wins: ``ip_address`` is an IP address, not an address;
   ``customer_id`` is a business identifier, not a bare ``id``.
4. Between equally long matches, a *generic* one (``id``, ``key``) loses to a sensitive one
   (pii, phi, financial): ``email_id`` is an e-mail. Otherwise the rightmost wins, because
   compound names put the head noun last: ``address_city`` is a city, ``ip_country`` a country,
   ``product_id`` an identifier.
5. A *descriptor* is a name about a value, not the value: a token after the match such as
   ``type``, ``status``, ``verified``, ``count``, ``domain``, ``date`` (``address_type``,
   ``email_verified``, ``phone_count``), or a leading ``has``/``is``/``num``/``n``
   (``has_email``, ``num_phones``), or a qualifier anywhere outside the match that makes the
   column a statistic or a band of the value (``Age65Plus``, ``piecesOfMailPerCap``,
   ``median_age``; not for money). It yields public evidence that says so.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from lacuna.classify import slots
from lacuna.classify.base import NameMatch, NameRecognizer
from lacuna.classify.tokens import split_words
from lacuna.model import ColumnKind, Evidence

META_SUFFIX = frozenset({
    "type", "types", "kind", "category", "class", "flag", "count", "cnt", "counts", "status",
    "verified", "valid", "validated", "confirmed", "format", "length", "len", "domain",
    "provider", "consent", "opt", "optin", "preference", "pref", "template", "label", "source",
    "method", "present", "exists", "missing", "available", "changed", "updated", "at", "date",
    "time", "ts", "timestamp", "app", "os", "platform", "version", "browser", "expiry",
    "expiration", "exp", "bucket", "group", "band", "range", "bracket",
})
META_PREFIX = frozenset({"has", "is", "num", "n", "count", "cnt", "no"})
# Words that ask whether, not what: no descriptor for a recognizer whose "whether" is personal
# (NameRecognizer.whether_is_personal).
WHETHER = frozenset({"has", "is", "flag", "status", "present", "exists", "confirmed",
                     "verified", "valid", "validated", "missing", "available", "consent", "opt",
                     "optin"})
# Qualifier words anywhere outside the match: the column is a statistic or a band of the
# personal value, not the value of one person ("Age65Plus", "piecesOfMailPerCap", "Age2IQ",
# "median_age"). Not for financial matches: a median income is still an amount of money.
QUALIFIERS = frozenset({
    "per", "pct", "percent", "percentage", "share", "ratio", "avg", "mean", "median", "iq",
    "pieces", "plus", "over", "under", "above", "below",
})
SENSITIVE_KINDS = frozenset({ColumnKind.PHI, ColumnKind.PII, ColumnKind.FINANCIAL})
PRECEDENCE = {  # mutually exclusive classes: the more protective one wins a tie
    ColumnKind.PHI: 4, ColumnKind.PII: 3, ColumnKind.FINANCIAL: 2, ColumnKind.IDENTIFIER: 1,
    ColumnKind.PUBLIC: 0,
}
# every word a suffix or a qualifier descriptor can be (the prefix ones stand first)
_DESCRIBING = META_SUFFIX | QUALIFIERS
DESCRIPTOR_SCORE = 0.7
_CACHE_SIZE = 65536
_UNSEEN = object()  # not analyzed yet (None is a cached answer: nothing matched)


@dataclass(frozen=True, slots=True)
class NameResult:
    """What a column name says: a match, and whether the name only describes such a value."""

    match: NameMatch
    tokens: tuple[str, ...]
    descriptor: str | None = None  # the token that makes it a descriptor ("type", "has")

    def evidence(self, column: str) -> Evidence:
        """The name evidence, without any value: only the name and the rule."""
        rec = self.match.recognizer
        if self.descriptor:
            return slots.evidence("name", f"name:{rec.name}:descriptor",
                                  f"name {column!r} describes {rec.label} "
                                  f"({self.descriptor!r}), not the value itself",
                                  DESCRIPTOR_SCORE)
        return slots.evidence("name", f"name:{rec.name}",
                              f"name {column!r} reads as {rec.label} "
                              f"(matches {self.match.phrase!r})",
                              self.match.score)


_NAME_RESULT = slots.setters(NameResult, ("match", "tokens", "descriptor"))
_new = object.__new__


def _result(match: NameMatch, tokens: tuple[str, ...], descriptor: str | None) -> NameResult:
    """``NameResult(...)``, built by its slots (:mod:`lacuna.classify.slots`): one a name."""
    if _NAME_RESULT is None:  # pragma: no cover - NameResult's fields changed: the constructor
        return NameResult(match, tokens, descriptor)
    obj = _new(NameResult)
    s_match, s_tokens, s_descriptor = _NAME_RESULT
    s_match(obj, match)
    s_tokens(obj, tokens)
    s_descriptor(obj, descriptor)
    return obj


class NameAnalyzer:
    """Matches column names against a set of name recognizers, caching per name."""

    def __init__(self, recognizers: Iterable[NameRecognizer]) -> None:
        self.recognizers = tuple(recognizers)
        self._vocabulary = frozenset().union(*(r.vocabulary() for r in self.recognizers))
        self._cache: dict[str, NameResult | None] = {}
        self._folded: dict[str, str] = {}
        # Which recognizers a token can trigger, so a name only asks the few that may match.
        self._always = tuple(r for r in self.recognizers if r.triggers() is None)
        by_token: dict[str, list[NameRecognizer]] = {}
        for r in self.recognizers:
            for token in r.triggers() or ():
                by_token.setdefault(token, []).append(r)
        self._by_token = {token: tuple(rs) for token, rs in by_token.items()}

    def analyze(self, name: str, *, remember: bool = True) -> NameResult | None:
        """The name evidence for one column name, or ``None`` when nothing matched.

        ``remember=False`` leaves a new name's answer out of this analyzer's cache, for a
        caller that caches what it makes of it (the name-only column classes): a name kept in
        two caches costs time to insert and holds memory twice.
        """
        found = self._cache.get(name, _UNSEEN)
        if found is not _UNSEEN:
            return found  # type: ignore[return-value]
        result = self._analyze(name)
        if remember:
            if len(self._cache) >= _CACHE_SIZE:
                self._cache.clear()
            self._cache[name] = result
        return result

    def _analyze(self, name: str) -> NameResult | None:
        folded = self._folded.get  # a token's fold, once seen (never empty: tokens are not)
        tokens = tuple([folded(t) or self._fold(t) for t in split_words(name)])
        if not tokens:
            return None
        best: NameMatch | None = None
        sensitive: NameMatch | None = None  # the best non-public match, for rule 5
        for recognizer in self._asked(tokens):
            hit = recognizer.match(tokens)
            if hit is None:
                continue
            if best is None or _better(hit, best):
                best = hit
            if hit.recognizer.kind is not ColumnKind.PUBLIC and (
                    sensitive is None or _better(hit, sensitive)):
                sensitive = hit
        if best is None:
            return None
        if (best.recognizer.kind is ColumnKind.PUBLIC and sensitive is not None
                and sensitive.end <= best.start):
            # "address_type", "phone_count": the public word is a descriptor of the match.
            descriptor = _descriptor(tokens, sensitive)
            if descriptor is not None:
                return _result(sensitive, tokens, descriptor)
        return _result(best, tokens, _descriptor(tokens, best))

    def _asked(self, tokens: tuple[str, ...]) -> Iterable[NameRecognizer]:
        """The recognizers a name's tokens can trigger, each once, in the order the tokens
        trigger them (the order decides between two matches that tie on every rule)."""
        asked = [*self._always]
        for t in tokens:
            triggered = self._by_token.get(t)
            if triggered is not None:
                asked += triggered
        return dict.fromkeys(asked) if len(asked) > 1 else asked

    def _fold(self, token: str) -> str:
        out = token
        vocab = self._vocabulary
        if token in vocab or len(token) < 3:
            pass
        elif token.endswith("es") and token[:-2] in vocab:
            out = token[:-2]
        elif token.endswith("s") and token[:-1] in vocab:
            out = token[:-1]
        if len(self._folded) < _CACHE_SIZE:
            self._folded[token] = out
        return out


def _better(a: NameMatch, b: NameMatch) -> bool:
    """Whether match ``a`` beats match ``b`` (rules 3 and 4 of the module docstring)."""
    if a.length != b.length:
        return a.length > b.length
    ra, rb = a.recognizer, b.recognizer
    if ra.generic != rb.generic:
        specific = rb if ra.generic else ra
        if specific.kind in SENSITIVE_KINDS:
            return specific is ra
    if a.end != b.end:
        return a.end > b.end
    pa, pb = PRECEDENCE[ra.kind], PRECEDENCE[rb.kind]
    return pa > pb if pa != pb else a.score > b.score


def _descriptor(tokens: tuple[str, ...], match: NameMatch) -> str | None:
    if match.recognizer.kind is ColumnKind.PUBLIC:
        return None
    if _DESCRIBING.isdisjoint(tokens) and tokens[0] not in META_PREFIX:
        return None  # no word that describes: most names (a set look-up, not three loops)
    whether = WHETHER if match.recognizer.whether_is_personal else frozenset()
    for token in tokens[match.end :]:
        if token in META_SUFFIX and token not in whether:
            return token
    if match.start > 0 and tokens[0] in META_PREFIX and tokens[0] not in whether:
        return tokens[0]
    if match.recognizer.kind is not ColumnKind.FINANCIAL:
        for token in (*tokens[: match.start], *tokens[match.end :]):
            if token in QUALIFIERS:
                return token
    return None
