"""Admission limits: request body size (413) and requests in flight (429 + Retry-After)."""

from __future__ import annotations

import json
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from server.errors import APIError


class RequestTooLargeError(APIError):
    status = 413  # type: ignore[assignment]
    type = "invalid_request_error"


class OverloadedError(APIError):
    status = 429  # type: ignore[assignment]
    type = "rate_limit_error"
    retry_after_seconds = 1


class BodySizeLimit:
    """Pure ASGI middleware (Starlette's BaseHTTPMiddleware would hide client disconnects)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(send)
            return
        if declared is not None:
            await self.app(scope, receive, send)
            return
        # No Content-Length (chunked): read the body up to the limit first, then replay it.
        buffered: list[Message] = []
        size = 0
        while True:
            message = await receive()
            buffered.append(message)
            if message["type"] != "http.request":
                break
            size += len(message.get("body", b""))
            if size > self.max_bytes:
                await self._refuse(send)
                return
            if not message.get("more_body", False):
                break

        async def replay() -> Message:
            return buffered.pop(0) if buffered else await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, send: Send) -> None:
        error = RequestTooLargeError(f"request body exceeds {self.max_bytes} bytes")
        await _send_json(send, int(error.status), error.to_dict())


async def _send_json(send: Send, status: int, body: dict[str, Any]) -> None:
    payload = json.dumps(body).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


class InFlightLimit:
    """Counts generation requests in flight; refuses new ones past ``limit`` (0: no limit)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.in_flight = 0

    def acquire(self) -> None:
        if self.limit and self.in_flight >= self.limit:
            raise OverloadedError(
                f"server overloaded: {self.in_flight} requests in flight (limit {self.limit}); retry later"
            )
        self.in_flight += 1

    def release(self) -> None:
        self.in_flight -= 1
