"""Request bodies as the routes see them: standard JSON, with every string valid Unicode.

JSON may spell a lone UTF-16 surrogate (``"\\ud800"``); Python decodes it to a string that no
tokenizer, log line or UTF-8 response can take. Every such code point, in any string of the body (keys
included), becomes U+FFFD, as JavaScript's ``TextEncoder`` and Rust's ``from_utf16_lossy`` do: a client
that cut an emoji in half (UTF-16 slicing) still gets an answer. ``NaN`` and ``Infinity``, which
Python's parser accepts but JSON does not have, are refused (400).

Routes get this by ``route_class=JSONBodyRoute`` on their router (server/app.py does it for /v1).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import HTTPException, Request, Response
from fastapi.routing import APIRoute

REPLACEMENT_CHARACTER = "\ufffd"
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")  # a paired one was already decoded to its code point


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _clean(text: str) -> str:
    return _LONE_SURROGATE.sub(REPLACEMENT_CHARACTER, text) if _LONE_SURROGATE.search(text) else text


def replace_lone_surrogates(value: Any) -> Any:
    """``value`` (decoded JSON) with every lone surrogate replaced; iterative, since JSON nests deep."""
    if isinstance(value, str):
        return _clean(value)
    root = [value]
    pending: list[list[Any] | dict[str, Any]] = [root]
    while pending:
        container = pending.pop()
        if isinstance(container, dict):
            for key in list(container):
                item = container[key]
                clean_key = _clean(key)
                if clean_key != key:
                    del container[key]
                container[clean_key] = _clean(item) if isinstance(item, str) else item
                if isinstance(item, list | dict):
                    pending.append(item)
        else:
            for index, item in enumerate(container):
                if isinstance(item, str):
                    container[index] = _clean(item)
                elif isinstance(item, list | dict):
                    pending.append(item)
    return root[0]


def parse_json_body(body: bytes) -> Any:
    """Standard JSON only; raises ``ValueError`` (``json.JSONDecodeError`` for syntax) otherwise."""
    return replace_lone_surrogates(json.loads(body, parse_constant=_refuse_constant))


class JSONBodyRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            body = await self.body()
            try:
                self._json = parse_json_body(body)
            except json.JSONDecodeError:
                raise  # FastAPI makes it a validation error (400)
            except ValueError as exc:  # NaN, Infinity; bytes that are not UTF-8
                raise HTTPException(400, detail=f"body: invalid JSON: {exc}") from exc
        return self._json


class JSONBodyRoute(APIRoute):
    """FastAPI's documented hook for a custom request class: every body goes through ``parse_json_body``."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            return await handler(JSONBodyRequest(request.scope, request.receive))

        return handle
