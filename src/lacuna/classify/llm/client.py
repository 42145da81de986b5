"""A small OpenAI-compatible chat client with a hard time budget and a circuit breaker.

Requests go through :class:`lacuna.http.HttpClient` (httpx, configured in one place for all of
Lacuna): each call has an overall deadline, the caller's ``budget_s``, covering connect, send
and the whole answer (a black-holed endpoint, a slow model or a server that trickles bytes cost
the budget and no more), and answers are capped at 1 MB. Every failure is an
:class:`LlmUnavailable` with a short reason; the breaker (:class:`lacuna.http.CircuitBreaker`)
opens after ``breaker_failures`` consecutive failures and then refuses calls at once for
``breaker_reset_s`` seconds, after which one trial call decides whether it closes again.
"""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Any

from lacuna.classify.settings import LlmSettings
from lacuna.errors import needed

if TYPE_CHECKING:
    # lacuna.http (httpx, and httpx's command line: click, rich, pygments; ~50 ms of CPU) is
    # imported by the first client: the cascade imports this module to build its LLM layer
    # at the first classification, also when no endpoint is configured (the layer is off)
    from lacuna.http import CircuitBreaker

__all__ = ["ChatClient", "CircuitBreaker", "LlmUnavailable"]


# lacuna.http (httpx) that does not import: ComponentImportError, saying what to install. The
# client is built at the first classification that asks the LLM layer (or its status): no
# column is classified by a layer that cannot run (the classification fails, and a governed
# call that needed it is refused in every mode: the integrations' guard passes the error on).
_HTTP = "Lacuna's HTTP client (lacuna.http; httpx), for the LLM classification layer"


def __getattr__(name: str) -> object:
    if name != "CircuitBreaker":
        msg = f"module {__name__!r} has no attribute {name!r}"
        raise AttributeError(msg)
    with needed(_HTTP, f"{__name__}.{name} is not available"):
        from lacuna.http import CircuitBreaker

    return CircuitBreaker


def __dir__() -> list[str]:
    # the lazy name too (CircuitBreaker), before its first use: dir(), completion, inspect
    return sorted(set(globals()) | set(__all__))


class LlmUnavailable(Exception):
    """The endpoint did not give a usable answer in time; ``reason`` says what happened."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ChatClient:
    """POSTs ``/chat/completions`` to an OpenAI-compatible endpoint and returns the JSON answer."""

    def __init__(self, settings: LlmSettings) -> None:
        with needed(_HTTP, "The classification that asked the LLM layer was not made"):
            from lacuna.http import CircuitBreaker, HttpClient, HttpSettings

        if not settings.url:
            msg = "ChatClient needs classification.cascade.llm.url"
            raise ValueError(msg)
        self.settings = settings
        self.endpoint = settings.url.rstrip("/") + "/chat/completions"
        self.breaker = CircuitBreaker(settings.breaker_failures, settings.breaker_reset_s)
        # No retries: the budget is small and the breaker handles a failing endpoint.
        self._http = HttpClient(HttpSettings(timeout_s=settings.timeout_ms / 1000 + 0.5,
                                             deadline_s=settings.timeout_ms / 1000,
                                             max_body_bytes=1_000_000, max_connections=4),
                                https=not self.endpoint.startswith("http://"))

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
        try:
            answer = self._post(messages, schema, budget_s)
        except LlmUnavailable as exc:
            self.breaker.failure(exc.reason)
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
        from lacuna.http import HttpFailure

        headers = {"Content-Type": "application/json"}
        key = os.environ.get(self.settings.api_key_env) if self.settings.api_key_env else None
        if key:
            headers["Authorization"] = f"Bearer {key}"
        try:
            response = self._http.request("POST", self.endpoint, content=json.dumps(body).encode(),
                                          headers=headers, deadline_s=budget_s)
        except HttpFailure as exc:
            if exc.kind == "deadline":
                msg = f"no answer within {budget_s * 1000:.0f} ms"
            elif exc.kind == "status":
                msg = f"HTTP {exc.status} from {self.endpoint}"
            elif exc.kind == "unreachable":
                msg = f"cannot reach {self.endpoint} ({exc.reason})"
            else:
                msg = f"{exc.reason} from {self.endpoint}"
            raise LlmUnavailable(msg) from None
        if response.status != 200:
            msg = f"HTTP {response.status} from {self.endpoint}"
            raise LlmUnavailable(msg)
        try:
            payload = json.loads(response.body)
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
