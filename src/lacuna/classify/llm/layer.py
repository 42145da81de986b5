"""Layer 3: ask an OpenAI-compatible chat model about the columns the other layers were unsure of.

Off unless ``classification.cascade.llm.url`` is set. Each column is one call with its own
budget (``timeout_ms``, default 200 ms, the seed's number); all calls of one classification
share ``total_ms``. When the model does not answer in time, errs, or answers outside the schema,
the column keeps the *stricter* of the earlier answers (class precedence, then sensitivity) and
its reasoning says that the LLM was unavailable and why. A column the model answers with a
non-public class never gets a weaker class than layer 1 found evidence for.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any, ClassVar

from lacuna.classify.combine import ACCEPT
from lacuna.classify.layers import CascadeLayer, ColumnInput, LayerStatus, stricter
from lacuna.classify.llm import prompt
from lacuna.classify.llm.client import ChatClient, LlmUnavailable
from lacuna.classify.settings import LlmSettings
from lacuna.model import ColumnClass, ColumnKind, Evidence, Layer, Sensitivity
from lacuna.redact import redact_url

_CLIENTS: dict[LlmSettings, ChatClient] = {}


def client_for(settings: LlmSettings) -> ChatClient:
    """One client (and so one circuit breaker) per endpoint settings, per process."""
    if settings not in _CLIENTS:
        _CLIENTS[settings] = ChatClient(settings)
    return _CLIENTS[settings]


class LlmLayer(CascadeLayer):
    """An LLM's judgement, within a time budget (layer 3)."""

    name: ClassVar[str] = "llm"
    layer: ClassVar[Layer] = Layer.LLM

    def __init__(self, settings: LlmSettings | None = None) -> None:
        self.settings = settings or LlmSettings()

    def status(self) -> LayerStatus:
        s = self.settings
        if not s.url:
            return LayerStatus(self.name, False, "layer 3 (LLM) is off: set "
                               "classification.cascade.llm.url to an OpenAI-compatible endpoint")
        state = client_for(s).breaker.state
        what = "column names and value shapes" + (" and raw samples" if s.send_samples else "")
        note = f"; circuit breaker {state}" if state != "closed" else ""
        return LayerStatus(self.name, True, f"layer 3 (LLM) is on: {s.model} at "
                           f"{redact_url(s.url)}, {s.timeout_ms} ms per call, sends {what}{note}")

    def decide(self, columns: Sequence[ColumnInput]) -> list[ColumnClass]:
        s = self.settings
        client = client_for(s)
        deadline = time.monotonic() + s.total_ms / 1000
        context = [c.name for c in columns]
        out = []
        for column in columns:
            budget = min(s.timeout_ms / 1000, deadline - time.monotonic())
            started = time.perf_counter()
            try:
                answer = client.complete_json(
                    prompt.messages(column, context, send_samples=s.send_samples),
                    prompt.SCHEMA, budget_s=budget)
                out.append(self._answer(column, answer, time.perf_counter() - started))
            except LlmUnavailable as exc:
                out.append(unavailable(column, exc.reason))
        return out

    def _answer(self, column: ColumnInput, answer: dict[str, Any], seconds: float) -> ColumnClass:
        try:
            kind = ColumnKind.parse(answer["classification"])
            sensitivity = Sensitivity.parse(answer.get("sensitivity", "medium"))
            confidence = answer.get("confidence", 0.5)
            # a number in [0, 1]: NaN (min/max would make it 1.0), 7, "0.9" or true are
            # answers off the schema, not a certainty to trust
            if isinstance(confidence, bool) or not isinstance(confidence, (int, float)) or not (
                    0.0 <= confidence <= 1.0):
                msg = f"confidence {confidence!r} is not a number from 0 to 1"
                raise ValueError(msg)
            confidence = float(confidence)
            pii_type = answer.get("pii_type")
            if pii_type is not None and pii_type not in (*prompt.PII_TYPES, "none", ""):
                # a list, a number, a paragraph: it would be the column's pii_type in records
                msg = f"pii_type {str(pii_type)[:40]!r} is not one of the schema's types"
                raise ValueError(msg)
        except (KeyError, TypeError, ValueError, Exception) as exc:  # ConfigError from parse
            return unavailable(column, f"the answer does not follow the schema ({exc})")
        if pii_type in (None, "", "none") or kind not in (ColumnKind.PII, ColumnKind.PHI,
                                                          ColumnKind.FINANCIAL):
            pii_type = None
        why = str(answer.get("reasoning", ""))[:300].strip()
        detail = (f"{self.settings.model} answered {kind.value}"
                  + (f"/{pii_type}" if pii_type else "") + f" in {seconds * 1000:.0f} ms"
                  + (f": {why}" if why else ""))
        evidence = (*column.current.evidence,
                    Evidence(source="llm", rule=f"llm:{pii_type or kind.value}", detail=detail,
                             score=round(max(0.0, min(1.0, confidence)), 4)))
        mine = ColumnClass(classification=kind, pii_type=pii_type, sensitivity=sensitivity,
                           confidence=round(max(0.0, min(1.0, confidence)), 4),
                           reasoning=detail[0].upper() + detail[1:] + ".", layer=Layer.LLM,
                           evidence=evidence)
        # The model may not lower protection below layer-1 value evidence it was not shown.
        floor = column.current
        if any(e.source == "value" and e.score >= 0.5 for e in floor.evidence):
            kept = stricter(mine, floor)
            if kept is floor:
                return ColumnClass(**{**_fields(floor), "evidence": evidence,
                                      "reasoning": floor.reasoning + f" ({detail}; kept the "
                                      "stricter value evidence)"})
        return mine


def unavailable(column: ColumnInput, reason: str) -> ColumnClass:
    """The stricter earlier answer, explained: the LLM could not be asked or did not answer."""
    current = column.current
    # Earlier answers that were at least acceptable; a wild guess (an embedding of "col_7")
    # must not turn an outage into a critical-PII verdict.
    candidates = [current, *(c for c in column.earlier if c.confidence >= ACCEPT)]
    note = f"LLM unavailable ({reason}); kept the stricter earlier answer"
    evidence = (*current.evidence, Evidence(source="llm", rule="llm:unavailable", detail=note,
                                            score=0.0))
    best = candidates[0]
    for c in candidates[1:]:
        best = stricter(best, c)
    return ColumnClass(**{**_fields(best), "evidence": evidence,
                          "reasoning": (best.reasoning + " " if best.reasoning else "")
                          + note[0].upper() + note[1:] + "."})


def _fields(c: ColumnClass) -> dict[str, Any]:
    return {"classification": c.classification, "pii_type": c.pii_type,
            "sensitivity": c.sensitivity, "confidence": c.confidence, "reasoning": c.reasoning,
            "layer": c.layer, "evidence": c.evidence}
