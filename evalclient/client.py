"""The HTTP side: one chat completion per sample, with retries, timeouts and timing.

Retries (bounded, exponential backoff with jitter, ``Retry-After`` honoured) on 429, 5xx, timeouts and
transport errors; any other 4xx fails at once. A request that still fails raises ``RequestFailedError``,
which the runner records as an error sample (never as a wrong answer).
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from evalclient.errors import EvalclientError
from openai_wire import error_message, read_usage, reasoning_of

RETRYABLE_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504})


class EndpointError(EvalclientError):
    """The endpoint cannot be used at all (unreachable, wrong key, model not served)."""


class RequestFailedError(EvalclientError):
    """One request failed for good (after its retries, or with a non-retryable status)."""

    def __init__(self, message: str, attempts: int) -> None:
        super().__init__(message)
        self.attempts = attempts


class _RetryableError(Exception):
    def __init__(self, message: str, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


@dataclass
class Completion:
    """One choice of a chat completion, as the runner needs it."""

    content: str
    reasoning: str | None  # the endpoint's reasoning field; None when it sent none
    finish_reason: str | None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    reasoning_tokens: int | None = None
    budget_forcing: dict[str, Any] | None = None
    latency_s: float = 0.0
    ttft_s: float | None = None
    attempts: int = 1
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int = 4
    backoff_s: float = 1.0
    max_backoff_s: float = 30.0

    def delay(self, attempt: int, retry_after_s: float | None) -> float:
        if retry_after_s is not None:
            return min(retry_after_s, self.max_backoff_s)
        return min(self.backoff_s * 2**attempt, self.max_backoff_s) * (0.5 + random.random() / 2)


def _error_message(status: int, text: str, reason: str | None) -> str:
    return f"HTTP {status}: {error_message(text) or text[:200].strip() or reason or ''}"


def _retry_after(response: aiohttp.ClientResponse) -> float | None:
    value = response.headers.get("Retry-After")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def _usage(completion: Completion, usage: dict[str, Any] | None) -> None:
    if (tokens := read_usage(usage)) is not None:
        completion.prompt_tokens = tokens.prompt_tokens
        completion.completion_tokens = tokens.completion_tokens
        completion.reasoning_tokens = tokens.reasoning_tokens


async def _sse_data(response: aiohttp.ClientResponse) -> AsyncIterator[bytes]:
    """The payloads of an SSE body's ``data:`` lines, read in whole network chunks (one await per chunk,
    not per line: at ~1000 samples/s the per-line awaits were a third of the client's CPU)."""
    pending = b""
    async for block in response.content.iter_any():
        pending += block
        *lines, pending = pending.split(b"\n")
        for line in lines:
            if line.startswith(b"data:"):
                yield line[5:].strip()
    if pending.startswith(b"data:"):
        yield pending[5:].strip()


class ChatClient:
    """Sends chat completions to one OpenAI-compatible endpoint (aiohttp: httpx's connection pool costs
    more CPU per request than the whole scoring at 64 connections; see docs/evalclient-overhead.md)."""

    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        *,
        timeout_s: float = 600.0,
        retry: RetryPolicy | None = None,
        stream: bool = True,
        max_connections: int = 64,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.stream = stream
        self.retry = retry or RetryPolicy()
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._timeout = aiohttp.ClientTimeout(total=timeout_s, sock_connect=min(timeout_s, 30.0))
        self._max_connections = max_connections
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> ChatClient:
        self._session = aiohttp.ClientSession(
            headers=self._headers,
            timeout=self._timeout,
            connector=aiohttp.TCPConnector(limit=self._max_connections, limit_per_host=self._max_connections),
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._session is not None:
            await self._session.close()

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise RuntimeError("use ChatClient as an async context manager")
        return self._session

    async def check(self, model: str) -> dict[str, Any] | None:
        """Fail early, with one clear line, when the endpoint or the model is unusable.

        Returns the endpoint's ``/v1/models`` card of ``model`` (what it says it serves: quantreason's
        ``serve`` adds the quantization scheme and whether the weights are emulated), if it lists one."""
        try:
            async with self.session.get(f"{self.base_url}/models") as response:
                status, text = response.status, await response.text()
                reason = response.reason
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise EndpointError(f"cannot reach {self.base_url} ({type(exc).__name__}: {exc})") from None
        if status in (401, 403):
            raise EndpointError(
                f"{self.base_url} refused the API key ({_error_message(status, text, reason)})"
            )
        if status == 404:
            raise EndpointError(
                f"{self.base_url}/models not found: is the base URL right (it usually ends in /v1)?"
            )
        if status != 200:
            return None  # some endpoints have no model list; the first request will tell
        try:
            cards = {entry["id"]: entry for entry in json.loads(text).get("data", [])}
        except (ValueError, KeyError, TypeError, AttributeError):
            return None
        if cards and model not in cards:
            raise EndpointError(
                f"{self.base_url} does not serve model {model!r}; it serves: {', '.join(cards)}"
            )
        card = cards.get(model)
        return card if isinstance(card, dict) else None

    async def complete(self, body: dict[str, Any]) -> Completion:
        """One chat completion, retried on transient failures."""
        attempt = 0
        while True:
            try:
                completion = await (self._stream(body) if self.stream else self._plain(body))
                completion.attempts = attempt + 1
                return completion
            except _RetryableError as exc:
                if attempt >= self.retry.max_retries:
                    raise RequestFailedError(
                        f"{exc} (gave up after {attempt + 1} attempts)", attempt + 1
                    ) from None
                await asyncio.sleep(self.retry.delay(attempt, exc.retry_after_s))
                attempt += 1
            except RequestFailedError as exc:
                exc.attempts = attempt + 1
                raise

    async def _plain(self, body: dict[str, Any]) -> Completion:
        started = time.perf_counter()
        try:
            async with self.session.post(
                f"{self.base_url}/chat/completions", json={**body, "stream": False}
            ) as response:
                text = await response.text()
                self._raise_for_status(response, text)
        except TimeoutError:
            raise _RetryableError("timed out") from None
        except aiohttp.ClientError as exc:
            raise _RetryableError(f"{type(exc).__name__}: {exc}") from None
        try:
            data = json.loads(text)
            choice = data["choices"][0]
            message = choice.get("message") or {}
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise RequestFailedError(f"malformed response ({type(exc).__name__})", 1) from None
        completion = Completion(
            content=message.get("content") or "",
            reasoning=reasoning_of(message),
            finish_reason=choice.get("finish_reason"),
            budget_forcing=choice.get("budget_forcing"),
            latency_s=time.perf_counter() - started,
        )
        _usage(completion, data.get("usage"))
        return completion

    async def _stream(self, body: dict[str, Any]) -> Completion:
        started = time.perf_counter()
        payload = {**body, "stream": True, "stream_options": {"include_usage": True}}
        content: list[str] = []
        reasoning: list[str] = []
        saw_reasoning = False
        completion = Completion(content="", reasoning=None, finish_reason=None)
        try:
            async with self.session.post(f"{self.base_url}/chat/completions", json=payload) as response:
                if response.status != 200:
                    self._raise_for_status(response, await response.text())
                async for data in _sse_data(response):
                    if data == b"[DONE]":
                        continue  # read on to the end of the body, so the connection is kept alive
                    try:
                        chunk = json.loads(data)
                    except json.JSONDecodeError:
                        raise RequestFailedError("malformed stream chunk", 1) from None
                    if "error" in chunk:
                        error = chunk["error"] if isinstance(chunk["error"], dict) else {}
                        code = error.get("code")
                        message = f"stream error: {error_message(chunk) or 'unknown'}"
                        if (isinstance(code, int) and code in RETRYABLE_STATUS) or code is None:
                            raise _RetryableError(message)
                        raise RequestFailedError(message, 1)
                    _usage(completion, chunk.get("usage"))
                    for choice in chunk.get("choices") or []:
                        delta = choice.get("delta") or {}
                        piece = delta.get("content")
                        thought = reasoning_of(delta)
                        if (piece or thought) and completion.ttft_s is None:
                            completion.ttft_s = time.perf_counter() - started
                        if piece:
                            content.append(piece)
                        if thought is not None:
                            saw_reasoning = True
                            reasoning.append(thought)
                        if choice.get("finish_reason"):
                            completion.finish_reason = choice["finish_reason"]
                        if choice.get("budget_forcing") is not None:
                            completion.budget_forcing = choice["budget_forcing"]
        except TimeoutError:
            raise _RetryableError("timed out") from None
        except aiohttp.ClientError as exc:
            raise _RetryableError(f"{type(exc).__name__}: {exc}") from None
        completion.content = "".join(content)
        completion.reasoning = "".join(reasoning) if saw_reasoning else None
        completion.latency_s = time.perf_counter() - started
        return completion

    @staticmethod
    def _raise_for_status(response: aiohttp.ClientResponse, text: str) -> None:
        status = response.status
        if status == 200:
            return
        message = _error_message(status, text, response.reason)
        if status in RETRYABLE_STATUS or status >= 500:
            raise _RetryableError(message, _retry_after(response))
        raise RequestFailedError(message, 1)
