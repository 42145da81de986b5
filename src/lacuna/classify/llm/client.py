"""A small OpenAI-compatible chat client with a hard time budget and a circuit breaker.

Standard library only (``urllib``). A call runs in a worker thread and the caller waits at most
the budget: a black-holed endpoint, a slow model or a stuck DNS lookup cost the budget and no
more (the worker's socket times out shortly after and the thread ends on its own). Every failure
is an :class:`LlmUnavailable` with a short reason; the breaker opens after
``breaker_failures`` consecutive failures and then refuses calls at once for
``breaker_reset_s`` seconds, after which one trial call decides whether it closes again.
"""

from __future__ import annotations

import json
import os
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from lacuna.classify.settings import LlmSettings

_POOL = ThreadPoolExecutor(max_workers=4, thread_name_prefix="lacuna-llm")


class LlmUnavailable(Exception):
    """The endpoint did not give a usable answer in time; ``reason`` says what happened."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class CircuitBreaker:
    """Closed → (N failures) → open → (reset time) → half-open → one trial → closed or open."""

    def __init__(self, failures: int, reset_s: float) -> None:
        self.failures, self.reset_s = failures, reset_s
        self._count, self._opened = 0, 0.0
        self._trial = False
        self._lock = threading.Lock()

    @property
    def state(self) -> str:
        with self._lock:
            return self._state()

    def _state(self) -> str:
        if self._count < self.failures:
            return "closed"
        return "half-open" if time.monotonic() - self._opened >= self.reset_s else "open"

    def allow(self) -> bool:
        """Whether a call may go out now (at most one trial while half-open)."""
        with self._lock:
            state = self._state()
            if state == "closed":
                return True
            if state == "half-open" and not self._trial:
                self._trial = True
                return True
            return False

    def success(self) -> None:
        with self._lock:
            self._count, self._trial = 0, False

    def failure(self) -> None:
        with self._lock:
            self._count += 1
            self._trial = False
            if self._count >= self.failures:
                self._opened = time.monotonic()


class ChatClient:
    """POSTs ``/chat/completions`` to an OpenAI-compatible endpoint and returns the JSON answer."""

    def __init__(self, settings: LlmSettings) -> None:
        if not settings.url:
            msg = "ChatClient needs classification.cascade.llm.url"
            raise ValueError(msg)
        self.settings = settings
        self.endpoint = settings.url.rstrip("/") + "/chat/completions"
        self.breaker = CircuitBreaker(settings.breaker_failures, settings.breaker_reset_s)

    def complete_json(
        self, messages: list[dict[str, str]], schema: dict[str, Any], *, budget_s: float
    ) -> dict[str, Any]:
        """Ask for a JSON object matching ``schema``; wait at most ``budget_s`` seconds.

        Raises:
            LlmUnavailable: breaker open, timeout, connection or HTTP error, or an answer that
                is not a JSON object.
        """
        if not self.breaker.allow():
            msg = (f"circuit breaker open after {self.breaker.failures} consecutive failures; "
                   f"retrying after {self.breaker.reset_s:g} s")
            raise LlmUnavailable(msg)
        if budget_s <= 0:
            msg = "no time left in this classification's LLM budget"
            raise LlmUnavailable(msg)
        future = _POOL.submit(self._post, messages, schema, budget_s)
        try:
            answer = future.result(timeout=budget_s)
        except FutureTimeout:
            self.breaker.failure()
            msg = f"no answer within {budget_s * 1000:.0f} ms"
            raise LlmUnavailable(msg) from None
        except LlmUnavailable:
            self.breaker.failure()
            raise
        self.breaker.success()
        return answer

    def _post(
        self, messages: list[dict[str, str]], schema: dict[str, Any], budget_s: float
    ) -> dict[str, Any]:
        body = {
            "model": self.settings.model,
            "messages": messages,
            "temperature": 0,
            "max_tokens": 160,
            "response_format": {"type": "json_object", "schema": schema},
        }
        headers = {"Content-Type": "application/json"}
        key = os.environ.get(self.settings.api_key_env) if self.settings.api_key_env else None
        if key:
            headers["Authorization"] = f"Bearer {key}"
        request = urllib.request.Request(self.endpoint, json.dumps(body).encode(), headers)
        try:
            with urllib.request.urlopen(request, timeout=budget_s + 0.5) as response:
                payload = json.loads(response.read(1_000_000))
        except urllib.error.HTTPError as exc:
            exc.close()  # it holds the response; leaving it open leaks the socket
            msg = f"HTTP {exc.code} from {self.endpoint}"
            raise LlmUnavailable(msg) from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            msg = f"cannot reach {self.endpoint} ({reason})"
            raise LlmUnavailable(msg) from None
        except ValueError:
            msg = "the endpoint's response is not JSON"
            raise LlmUnavailable(msg) from None
        return _content(payload)


def _content(payload: Any) -> dict[str, Any]:
    try:
        text = payload["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError):
        msg = "the response has no choices[0].message.content"
        raise LlmUnavailable(msg) from None
    try:
        answer = json.loads(_strip_fences(str(text)))
    except ValueError:
        msg = "the model's answer is not valid JSON"
        raise LlmUnavailable(msg) from None
    if not isinstance(answer, dict):
        msg = "the model's answer is not a JSON object"
        raise LlmUnavailable(msg)
    return answer


def _strip_fences(text: str) -> str:
    text = text.strip()
    if text.startswith("```"):
        text = text.strip("`")
        text = text[text.find("{"):] if "{" in text else text
    return text
