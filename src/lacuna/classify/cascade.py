"""Routing: a later layer runs only for the columns the layer before was not confident about.

1. Layer 1 (heuristics) classifies every column.
2. Columns below ``thresholds.heuristic`` are looked up in the answer cache by (name, value
   shape signature); hits are done. A hit may be another column's answer (``x`` holding colours
   and ``x`` holding family names have the same shapes), so, like a later layer, it may not
   weaken a class that validated sample values support, and a hit resting on value evidence
   this column's values did not give counts as a miss.
3. The rest go, in one batch, to layer 2 (embeddings) when it is on; its answer replaces the
   current one when it reaches ``thresholds.embedding`` and is more confident; otherwise it is
   kept as evidence ("layer embedding suggested ..., below its threshold"). No later layer may
   weaken a class that validated sample values support.
4. Columns still below ``thresholds.embedding`` go to layer 3 (LLM) when it is on; the LLM's
   answer (or, when it is unavailable, the stricter earlier answer) is final.
5. The final answers of escalated columns are cached (not those given because the LLM was
   unavailable: the next call asks again).

A column keeps the layer that decided it (``ColumnClass.layer``); :func:`layer_shares` counts
them. :func:`statuses` says which layers are on and why the others are off.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from lacuna.classify.cache import AnswerCache, cache_key
from lacuna.classify.layers import CascadeLayer, ColumnInput, LayerStatus, stricter
from lacuna.classify.scan import ColumnSample
from lacuna.classify.settings import ClassifySettings
from lacuna.classify.shapes import signature
from lacuna.model import ColumnClass, Evidence, Layer

LAYER_ORDER = (Layer.DECLARED, Layer.HEURISTIC, Layer.EMBEDDING, Layer.LLM)


@dataclass(slots=True)
class Timings:
    """Seconds spent per layer and cache hits, accumulated over a process (for benchmarks)."""

    seconds: dict[str, float] = field(default_factory=dict)
    columns: dict[str, int] = field(default_factory=dict)
    cache_hits: int = 0

    def add(self, layer: str, seconds: float, columns: int) -> None:
        self.seconds[layer] = self.seconds.get(layer, 0.0) + seconds
        self.columns[layer] = self.columns.get(layer, 0) + columns


TIMINGS = Timings()


class Cascade:
    """The later layers for one set of settings (built once and reused)."""

    def __init__(self, settings: ClassifySettings) -> None:
        from lacuna.classify.embed.layer import EmbeddingLayer
        from lacuna.classify.llm.layer import LlmLayer

        self.settings = settings
        self.layers: tuple[CascadeLayer, ...] = (
            EmbeddingLayer(settings.cascade.embeddings), LlmLayer(settings.cascade.llm))
        self._cache: AnswerCache | None = None
        self._active: tuple[CascadeLayer, ...] | None = None
        th = settings.cascade.thresholds
        self.thresholds = {Layer.EMBEDDING: th.embedding, Layer.LLM: 1.0}
        self.fingerprint = settings.cascade.model_dump_json()

    def statuses(self) -> tuple[LayerStatus, ...]:
        return tuple(layer.status() for layer in self.layers)

    def active(self) -> tuple[CascadeLayer, ...]:
        if self._active is not None:
            return self._active
        statuses = [(layer, layer.status()) for layer in self.layers]
        active = tuple(layer for layer, status in statuses if status.on)
        if not any(status.pending for _, status in statuses):  # a layer getting ready: ask again
            self._active = active
        return active

    @property
    def cache(self) -> AnswerCache:
        if self._cache is None:
            s = self.settings.cache
            self._cache = AnswerCache(self.settings.cache_url if s.enabled else None,
                                      size=s.size)
        return self._cache

    def run(
        self, columns: dict[str, ColumnClass], samples: Mapping[str, ColumnSample | None]
    ) -> dict[str, ColumnClass]:
        """Escalate the unsure columns of one classification (see the module docstring)."""
        floor = self.settings.cascade.thresholds.heuristic
        unsure = [n for n, c in columns.items()
                  if c.confidence < floor and c.layer is Layer.HEURISTIC]
        if not unsure or not self.active():
            return columns
        out = dict(columns)
        keys = {n: cache_key(n, signature(samples.get(n)), self.fingerprint) for n in unsure}
        found = self.cache.get_many(list(keys.values()))
        # Same name, same value shapes: maybe another column's answer (step 2).
        hits = {keys[n]: found[keys[n]] for n in unsure
                if keys[n] in found and not _foreign(out[n], found[keys[n]])}
        TIMINGS.cache_hits += sum(1 for n in unsure if keys[n] in hits)
        for n in unsure:
            if keys[n] in hits:
                hit = hits[keys[n]]
                out[n] = _noted(out[n], hit, CACHED) if _keeps(out[n], hit) else hit
        unsure = [n for n in unsure if keys[n] not in hits]
        earlier: dict[str, list[ColumnClass]] = {n: [] for n in unsure}
        for layer in self.active():
            if not unsure:
                break
            started = time.perf_counter()
            inputs = [ColumnInput(n, out[n], samples.get(n), tuple(earlier[n])) for n in unsure]
            answers = layer.decide(inputs)
            TIMINGS.add(layer.layer.value, time.perf_counter() - started, len(inputs))
            for n, answer in zip(unsure, answers, strict=True):
                earlier[n].append(out[n])
                threshold = self.thresholds[layer.layer]
                if _keeps(out[n], answer):
                    out[n] = _noted(out[n], answer)
                elif layer.layer is Layer.LLM or (answer.confidence >= threshold
                                                  and answer.confidence > out[n].confidence):
                    out[n] = answer
                else:
                    out[n] = _below(out[n], answer, threshold)
            unsure = [n for n in unsure if out[n].confidence < self.thresholds[layer.layer]]
        self.cache.put_many([(keys[n], n, out[n]) for n in earlier
                             if not _unavailable(out[n])])
        return out


def _keeps(current: ColumnClass, answer: ColumnClass) -> bool:
    """Whether decisive value evidence outranks a later layer's less protective answer.

    Later layers read names (and shapes); sampled values that validated (checksums, parsers)
    are stronger evidence, so no later layer may weaken a class they support.
    """
    if not any(e.source == "value" and e.score >= 0.5 for e in current.evidence):
        return False
    return stricter(answer, current) is current and (
        answer.classification, answer.sensitivity) != (current.classification,
                                                       current.sensitivity)


CACHED = "the answer cached for this column name and these value shapes"


def _value_rules(c: ColumnClass) -> frozenset[str]:
    return frozenset(e.rule for e in c.evidence if e.source == "value" and e.score >= 0.5)


def _foreign(current: ColumnClass, hit: ColumnClass) -> bool:
    """Whether a cached answer rests on value evidence this column's values did not give.

    Value evidence belongs to the column it was found in: ``x`` holding family names (value
    evidence: people's names) must not lend its answer to ``x`` holding colours, which has the
    same value shapes. Such a hit is treated as a miss: the column goes to the later layers.
    """
    return not _value_rules(hit) <= _value_rules(current)


def _noted(current: ColumnClass, answer: ColumnClass, source: str | None = None) -> ColumnClass:
    what = answer.classification.value + (f"/{answer.pii_type}" if answer.pii_type else "")
    note = (f"{source or answer.layer.value + ' layer'} suggested {what} (confidence "
            f"{answer.confidence:.2f}); the sampled values outweigh it")
    extra = tuple(e for e in answer.evidence if e not in current.evidence)
    return replace(current, evidence=(*current.evidence, *extra),
                   reasoning=f"{current.reasoning} {note[0].upper()}{note[1:]}.")


def _below(current: ColumnClass, answer: ColumnClass, threshold: float) -> ColumnClass:
    """Keep the current answer; record the later layer's unsure suggestion as evidence."""
    what = answer.classification.value + (f"/{answer.pii_type}" if answer.pii_type else "")
    mine = [e for e in answer.evidence if e.source == answer.layer.value]
    detail = (f"layer {answer.layer.value} suggested {what} with confidence "
              f"{answer.confidence:.2f}, below its threshold {threshold:.2f}")
    if mine:
        detail += f" ({mine[-1].detail})"
    note = Evidence(source=answer.layer.value, rule=f"below-threshold:{answer.layer.value}",
                    detail=detail, score=0.0)
    return replace(current, evidence=(*current.evidence, note))


def _unavailable(c: ColumnClass) -> bool:
    return any(e.rule == "llm:unavailable" for e in c.evidence)


@functools.lru_cache(maxsize=32)
def _cascade_for(settings_json: str) -> Cascade:
    return Cascade(ClassifySettings.model_validate_json(settings_json))


def cascade_for(settings: ClassifySettings) -> Cascade:
    """The cascade for these settings, built once per process."""
    return _cascade_for(settings.model_dump_json())


def statuses(settings: ClassifySettings) -> tuple[LayerStatus, ...]:
    """Which later layers are on, and why the others are off."""
    return cascade_for(settings).statuses()


def layer_shares(columns: Mapping[str, ColumnClass]) -> dict[str, float]:
    """The share of columns decided by each layer, in cascade order."""
    n = len(columns) or 1
    counts: dict[str, int] = {}
    for c in columns.values():
        counts[c.layer.value] = counts.get(c.layer.value, 0) + 1
    return {la.value: counts[la.value] / n for la in LAYER_ORDER if la.value in counts}


def reset(*_: Any) -> None:
    """Forget built cascades (tests, and after the examples or settings change)."""
    _cascade_for.cache_clear()
