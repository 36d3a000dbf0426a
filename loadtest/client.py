"""The streaming HTTP client: one pooled aiohttp session, payloads built by pure functions, and the SSE
parser that timestamps every event and separates reasoning from answer text.

Reasoning text is taken from ``delta.reasoning_content`` or ``delta.reasoning`` when the server separates
it; for servers that do not, a ``ThinkFormat`` splits the content on its think delimiters.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import Any, Literal

import aiohttp

from loadtest.datasets import Prompt
from loadtest.errors import LoadtestError
from loadtest.records import Chunk, RequestRecord
from openai_wire import error_message, read_usage, reasoning_of
from reasoning_formats import ReasoningSplitter, ThinkFormat

Api = Literal["chat", "completions"]
PATHS: dict[Api, str] = {"chat": "/chat/completions", "completions": "/completions"}


class EndpointError(LoadtestError):
    """The endpoint cannot be load-tested as asked (unreachable, wrong model, refuses requests)."""


@dataclass(frozen=True, slots=True)
class RequestOptions:
    """What every request carries besides its prompt."""

    api: Api = "chat"
    model: str = ""
    ignore_eos: bool = False
    temperature: float | None = None
    extra_body: dict[str, Any] = field(default_factory=dict)


def build_payload(prompt: Prompt, options: RequestOptions) -> dict[str, Any]:
    """The JSON body for one streamed request (a new dict; the caller's are never changed)."""
    payload: dict[str, Any] = {
        "model": options.model,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    if options.api == "chat":
        payload["messages"] = [{"role": "user", "content": prompt.text}]
    else:
        payload["prompt"] = prompt.text
    if prompt.max_tokens is not None:
        payload["max_tokens"] = prompt.max_tokens
        if options.ignore_eos and prompt.exact_length:
            payload["ignore_eos"] = True
    if options.temperature is not None:
        payload["temperature"] = options.temperature
    payload.update(options.extra_body)
    return payload


class StreamParser:
    """Turns SSE lines into a RequestRecord's chunks, usage and in-band errors."""

    def __init__(self, record: RequestRecord, think_format: ThinkFormat | None, keep_text: bool) -> None:
        self._record = record
        self._splitter = ReasoningSplitter(think_format) if think_format else None
        self._keep_text = keep_text
        self._answer: list[str] = []
        self.done = False

    def feed_line(self, line: bytes, now: float) -> None:
        if not line.startswith(b"data:"):
            return  # blank separators, comments (": ping"), event names
        data = line[5:].strip()
        if data == b"[DONE]":
            self.done = True
            return
        event = json.loads(data)
        if "error" in event:
            self._record.error = "stream_error"
            self._record.error_message = (error_message(event) or str(event["error"]))[:500]
            return
        if usage := event.get("usage"):
            self._take_usage(usage)
        for choice in event.get("choices") or ():
            if choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta")
            if delta is not None:
                reasoning = reasoning_of(delta) or ""
                answer = delta.get("content") or ""
            else:
                reasoning, answer = "", choice.get("text") or ""
            self._add(reasoning, answer, now)

    def finish(self, now: float) -> None:
        if self._splitter is not None:
            reasoning, answer = self._splitter.finish()
            if (reasoning or answer) and self._record.chunks:
                last = self._record.chunks[-1]  # held-back text arrived with the last chunk
                last.reasoning_chars += len(reasoning)
                last.answer_chars += len(answer)
                self._answer.append(answer)
        self._record.end = now
        if self._keep_text:
            self._record.text = "".join(self._answer)

    def _add(self, reasoning: str, answer: str, now: float) -> None:
        if not (reasoning or answer):
            return
        if self._splitter is not None and answer:
            # The server did not separate the thinking: split its content on the think delimiters.
            split_reasoning, answer = self._splitter.feed(answer)
            reasoning += split_reasoning
            chars = len(reasoning) + len(answer)
            if chars == 0:  # held back (a partial delimiter): it still arrived now
                self._record.chunks.append(Chunk(now, 1, 0))
                return
        self._record.chunks.append(Chunk(now, len(reasoning), len(answer)))
        if answer and self._keep_text:
            self._answer.append(answer)

    def _take_usage(self, usage: dict[str, Any]) -> None:
        tokens = read_usage(usage)
        if tokens is None:
            return
        record = self._record
        record.prompt_tokens = _known(tokens.prompt_tokens, record.prompt_tokens)
        record.completion_tokens = _known(tokens.completion_tokens, record.completion_tokens)
        record.reasoning_tokens = _known(tokens.reasoning_tokens, record.reasoning_tokens)


class StreamingClient:
    """One connection pool for the whole run; ``send`` streams one request into a RequestRecord."""

    def __init__(
        self,
        endpoint: str,
        options: RequestOptions,
        *,
        api_key: str | None = None,
        think_format: ThinkFormat | None = None,
        request_timeout: float = 600.0,
        keep_text: bool = True,
    ) -> None:
        self.endpoint = endpoint.rstrip("/")
        self.options = options
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._think_format = think_format
        self._timeout = aiohttp.ClientTimeout(total=request_timeout, sock_connect=10)
        self._keep_text = keep_text
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> StreamingClient:
        # No pool limit: the profile decides how many requests are in flight.
        connector = aiohttp.TCPConnector(limit=0, ttl_dns_cache=300, keepalive_timeout=60)
        self._session = aiohttp.ClientSession(
            connector=connector, headers=self._headers, timeout=self._timeout, read_bufsize=2**16
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._session is not None:
            await self._session.close()

    @property
    def session(self) -> aiohttp.ClientSession:
        assert self._session is not None, "use the client as an async context manager"
        return self._session

    async def send(self, prompt: Prompt, index: int, scheduled: float) -> RequestRecord:
        """Stream one request; never raises for a failed request (its record says why)."""
        url = self.endpoint + PATHS[self.options.api]
        body = build_payload(prompt, self.options)
        record = RequestRecord(index=index, scheduled=scheduled, start=time.perf_counter())
        parser = StreamParser(record, self._think_format, self._keep_text)
        try:
            async with self.session.post(
                url, json=body, headers={"X-Request-Id": f"loadtest-{index}"}
            ) as response:
                if response.status != 200:
                    record.error = f"http_{response.status}"
                    record.error_message = _error_message(await response.text())
                    record.end = time.perf_counter()
                    return record
                async for line in response.content:
                    parser.feed_line(line, time.perf_counter())
                    if parser.done:
                        break
            parser.finish(time.perf_counter())
            if record.error is None and not parser.done:
                record.error, record.error_message = "truncated", "stream ended without [DONE]"
            elif record.error is None and not record.chunks:
                record.error, record.error_message = "empty", "no token arrived"
        except TimeoutError:
            record.error, record.error_message, record.end = (
                "timeout",
                "request timed out",
                time.perf_counter(),
            )
        except asyncio.CancelledError:
            record.error, record.error_message, record.end = "cancelled", "stopped", time.perf_counter()
            raise
        except aiohttp.ClientError as exc:
            record.error, record.error_message = "connection", f"{type(exc).__name__}: {exc}"[:500]
            record.end = time.perf_counter()
        except (json.JSONDecodeError, UnicodeDecodeError, AttributeError, TypeError) as exc:
            record.error, record.error_message = "bad_stream", f"{type(exc).__name__}: {exc}"[:500]
            record.end = time.perf_counter()
        except Exception as exc:  # e.g. a line over the read buffer: the request fails, the run goes on
            record.error, record.error_message = "client_error", f"{type(exc).__name__}: {exc}"[:500]
            record.end = time.perf_counter()
        return record

    async def check(self) -> dict[str, Any]:
        """Fail early with a clear message: reachable, authorised, serving the model. Returns the model
        card when the endpoint lists models."""
        try:
            async with self.session.get(self.endpoint + "/models", timeout=aiohttp.ClientTimeout(10)) as r:
                if r.status in (401, 403):
                    raise EndpointError(f"{self.endpoint} refused the API key (HTTP {r.status})")
                if r.status != 200:
                    return {}  # some endpoints do not list models; the probe request will tell
                cards = (await r.json()).get("data") or []
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise EndpointError(f"cannot reach {self.endpoint}: {exc or type(exc).__name__}") from None
        for card in cards:
            if card.get("id") == self.options.model:
                return card
        served = ", ".join(str(c.get("id")) for c in cards) or "none"
        raise EndpointError(
            f"{self.endpoint} does not serve model {self.options.model!r} (it serves: {served})"
        )

    async def complete(self, body: dict[str, Any]) -> dict[str, Any]:
        """One non-streamed request (probes). Raises EndpointError with the server's message."""
        url = self.endpoint + PATHS[self.options.api]
        try:
            async with self.session.post(url, json={**body, "stream": False}) as response:
                text = await response.text()
                if response.status != 200:
                    raise EndpointError(f"HTTP {response.status}: {_error_message(text)}")
                return json.loads(text)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise EndpointError(f"cannot reach {url}: {exc or type(exc).__name__}") from None


def _known(value: int | None, previous: int | None) -> int | None:
    return previous if value is None else value


def _error_message(body: str) -> str:
    return (error_message(body) or body)[:500]
