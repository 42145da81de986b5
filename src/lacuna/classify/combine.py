"""Weighing name and value evidence into one column class.

The rule:

1. Each piece of evidence proposes a class: name evidence (one per column, see ``names``) and
   value evidence (one per value recognizer that fired). Evidence proposing the same
   (class, pii_type) is pooled: score = 1 - prod(1 - s), so agreeing name and values raise
   confidence (``cust_eml`` holding valid e-mails scores 0.998).
2. *Weak* value evidence — bare digit strings that pass a phone or SSN check, as many ids do —
   never decides alone. It only supports a name that proposes the same thing; when the name
   proposes something else it is set aside (a column ``id`` of 10-digit numbers is an
   identifier, not a phone); with no name evidence it only lowers confidence.
   *Vetoed* name evidence — the values clearly are not of the name's type: yes/no flags, a
   handful of categories where every person has their own value, numbers too short for the
   type, ages out of range, names of things (``nearmiss.veto``) — is dropped together with any
   value evidence of that type; the near miss is kept as evidence and shown by ``--explain``.
   A column left with nothing accepted is public with confidence ``VETO_CONFIDENCE``.
3. A proposal is accepted at a pooled score of at least ``ACCEPT``. Among accepted proposals
   the more protective class wins — phi > pii > financial > identifier > public — then the
   higher score, then the higher sensitivity. So strong values beat a weaker-class name
   (``contact`` or ``notes`` holding e-mails is PII), and dict order never decides.
4. Confidence is the winner's pooled score, reduced when a proposal of another non-public
   class lost (a disagreement is a reason for the next layer to look). Other proposals of the
   winning class (free text with e-mails *and* phones) agree on the class: the column takes the
   highest sensitivity among them and the best-scoring ``pii_type``.
5. Nothing accepted: the column is public, with confidence 0.5 (nothing known) or 0.6 (values
   were scanned and matched nothing).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

from lacuna.classify import slots
from lacuna.classify.base import ValueMatch
from lacuna.classify.names import PRECEDENCE, NameResult
from lacuna.classify.nearmiss import MISS_FACTOR, near_miss, veto
from lacuna.classify.scan import ColumnSample
from lacuna.model import ColumnClass, ColumnKind, Evidence, Layer, Sensitivity

ACCEPT = 0.5
UNKNOWN_CONFIDENCE = 0.5  # no evidence: the next layer should look
SCANNED_CONFIDENCE = 0.6  # values were scanned and nothing matched
VETO_CONFIDENCE = 0.85  # the values clearly are not what the name says (nearmiss.veto)


@dataclass(frozen=True, slots=True)
class _Proposal:
    kind: ColumnKind
    pii_type: str | None
    sensitivity: Sensitivity
    evidence: Evidence
    weak: bool = False


@dataclass(slots=True)
class _Pool:
    kind: ColumnKind
    pii_type: str | None
    proposals: list[_Proposal]

    @property
    def score(self) -> float:
        return 1 - math.prod(1 - p.evidence.score for p in self.proposals)

    @property
    def decisive(self) -> bool:
        return self.score >= ACCEPT and any(not p.weak for p in self.proposals)

    @property
    def sensitivity(self) -> Sensitivity:
        return max(p.sensitivity for p in self.proposals)

    def rank(self) -> tuple[int, float, int, str]:
        return (PRECEDENCE[self.kind], self.score, self.sensitivity.rank, self.pii_type or "")


def combine(
    column: str, name: NameResult | None, values: Sequence[ValueMatch],
    sample: ColumnSample | None = None,
) -> ColumnClass:
    """The column class for one column from its name evidence and value evidence."""
    if sample is None and not values:
        return _name_only(column, name)
    below = [v for v in values if v.below]
    proposals = [_from_value(v) for v in values if not v.below]
    set_aside: list[_Proposal] = []
    misses: tuple[Evidence, ...] = ()
    vetoed: Evidence | None = None
    if name is not None:
        named = _from_name(name, column)
        vetoed = veto(name, sample, values)
        miss = vetoed or near_miss(name, values, below, sample)
        if vetoed is not None:  # the values cannot be what the name says: drop the name
            named = replace(named, evidence=replace(named.evidence, score=0.0))
            misses = (vetoed,)
        elif miss is not None:  # the name promised values the sample does not hold
            named = replace(named, evidence=replace(
                named.evidence, score=round(named.evidence.score * MISS_FACTOR, 4)))
            misses = (miss,)
        keep = [p for p in proposals if (not p.weak or _same(p, named))
                and not (vetoed and _same(p, named))]  # a veto covers values of the type too
        set_aside = [p for p in proposals if p not in keep]
        proposals = [named, *keep]
    pools: dict[tuple[ColumnKind, str | None], _Pool] = {}
    for p in proposals:
        pools.setdefault((p.kind, p.pii_type), _Pool(p.kind, p.pii_type, [])).proposals.append(p)
    ranked = sorted((p for p in pools.values() if p.decisive), key=_Pool.rank, reverse=True)
    evidence = (*(p.evidence for p in proposals + set_aside), *misses)
    if not ranked:
        scanned = sample is not None and len(sample.values) > 0
        confidence = SCANNED_CONFIDENCE if scanned and not evidence else UNKNOWN_CONFIDENCE
        reasoning = _nothing(column, name, sample, evidence)
        if vetoed is not None:  # the values settle it: no later layer should re-read the name
            confidence = VETO_CONFIDENCE
            reasoning = (f"{_capital(proposals[0].evidence.detail)}, but the values rule it "
                         f"out ({vetoed.detail}); public.")
        return ColumnClass(confidence=confidence, evidence=evidence, layer=Layer.HEURISTIC,
                           reasoning=reasoning)
    win = ranked[0]
    also = [p for p in ranked[1:] if p.kind is win.kind]
    losers = [p for p in ranked[1:] if p.kind not in (win.kind, ColumnKind.PUBLIC)]
    confidence = win.score * (1 - 0.5 * max((p.score for p in losers), default=0.0))
    pii_type = win.pii_type if win.kind is not ColumnKind.PUBLIC else None
    return ColumnClass(
        classification=win.kind,
        pii_type=pii_type,
        sensitivity=max([win.sensitivity, *(p.sensitivity for p in also)]),
        confidence=round(confidence, 4),
        reasoning=_sentence(win, also, losers, set_aside) + "".join(
            f" {_capital(m.detail)}." for m in misses),
        layer=Layer.HEURISTIC,
        evidence=evidence,
    )


def _name_only(column: str, name: NameResult | None) -> ColumnClass:
    """Rules 3 and 5 for a name without values: the hot path of schema-only classification."""
    if name is None:
        return ColumnClass(confidence=UNKNOWN_CONFIDENCE, layer=Layer.HEURISTIC,
                           reasoning=f"No name pattern matched {column!r}; no values were "
                           "sampled.")
    e = name.evidence(column)
    if e.score < ACCEPT:  # pragma: no cover - every built-in name scores at least 0.65
        return ColumnClass(confidence=UNKNOWN_CONFIDENCE, evidence=(e,), layer=Layer.HEURISTIC,
                           reasoning=_capital(e.detail) + ", which is not enough alone.")
    kind, pii_type, sensitivity = _named(name)  # without building a _Proposal
    return slots.heuristic_class(kind, pii_type if kind is not ColumnKind.PUBLIC else None,
                                 sensitivity, round(e.score, 4), _capital(e.detail) + ".", (e,))


def _named(name: NameResult) -> tuple[ColumnKind, str | None, Sensitivity]:
    """What a name says a column is: its recognizer's kind, or public when the matched word
    is described (``address_type``)."""
    if name.descriptor:
        return ColumnKind.PUBLIC, None, Sensitivity.LOW
    rec = name.match.recognizer
    return rec.kind, rec.pii_type, rec.sensitivity


def _from_name(name: NameResult, column: str) -> _Proposal:
    return _Proposal(*_named(name), name.evidence(column))


def _from_value(match: ValueMatch) -> _Proposal:
    rec = match.recognizer
    evidence = Evidence(source="value", rule=f"value:{rec.name}", detail=match.detail,
                        score=match.score)
    return _Proposal(rec.kind, rec.pii_type, rec.sensitivity, evidence, weak=match.weak)


def _same(a: _Proposal, b: _Proposal) -> bool:
    return (a.kind, a.pii_type) == (b.kind, b.pii_type)


def _sentence(
    win: _Pool, also: list[_Pool], losers: list[_Pool], set_aside: list[_Proposal]
) -> str:
    text = ", and ".join(p.evidence.detail for p in win.proposals)
    if also:
        text += "; also " + ", ".join(_first(p).evidence.detail for p in also)
    if losers:
        text += "; this outweighs " + ", ".join(_first(p).evidence.detail for p in losers)
    if set_aside:
        text += "; set aside as weaker than the name: " + ", ".join(
            p.evidence.detail for p in set_aside)
    return _capital(text) + "."


def _nothing(
    column: str, name: NameResult | None, sample: ColumnSample | None,
    evidence: tuple[Evidence, ...],
) -> str:
    if evidence:
        return _capital("; ".join(e.detail for e in evidence)) + ", which is not enough alone."
    said = f"No name pattern matched {column!r}"
    if name is not None:  # pragma: no cover - a name match always yields evidence
        said = f"Name {column!r} matched but proved nothing"
    if sample is None:
        return said + "; no values were sampled."
    if sample.skipped:
        return said + f"; its values are {sample.skipped}, which no value pattern covers."
    if not len(sample.values):
        return said + "; every sampled value is empty or null."
    return said + f" and none of {len(sample.values)} sampled values matched a value pattern."


def _first(pool: _Pool) -> _Proposal:
    return max(pool.proposals, key=lambda p: p.evidence.score)


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]
