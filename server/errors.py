"""Typed errors inside the server; the OpenAI error envelope at the edge.

``to_api_error`` is the one mapping from an exception to what the client sees. Whatever the request,
a client error is a 4xx; only these remain 5xx (``tests/server/test_error_mapping.py`` pins them):
a dead engine (503), and any exception nobody mapped (500: a bug of ours or vLLM's, logged with its
traceback).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from http import HTTPStatus

logger = logging.getLogger(__name__)


class ServerError(Exception):
    """The base of every error ``serve`` raises; ``str(exc)`` is one line (the CLI's, or the error JSON's
    message)."""


class APIError(ServerError):
    """An error the client sees as ``{"error": {"message", "type", "param", "code"}}``."""

    status: HTTPStatus = HTTPStatus.INTERNAL_SERVER_ERROR
    type: str = "internal_server_error"

    def __init__(self, message: str, *, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param

    def to_dict(self) -> dict[str, object]:
        return error_body(self.message, self.type, int(self.status), self.param)


def error_body(message: str, type: str, code: int, param: str | None = None) -> dict[str, object]:
    return {"error": {"message": message, "type": type, "param": param, "code": code}}


class InvalidRequestError(APIError):
    status = HTTPStatus.BAD_REQUEST
    type = "invalid_request_error"


class AuthenticationError(APIError):
    status = HTTPStatus.UNAUTHORIZED
    type = "authentication_error"


class ModelNotFoundError(APIError):
    status = HTTPStatus.NOT_FOUND
    type = "not_found_error"


class EngineUnavailableError(APIError):
    status = HTTPStatus.SERVICE_UNAVAILABLE
    type = "service_unavailable"


def engine_error(exc: BaseException) -> APIError | None:
    """What an exception the engine raised means for the client; None for one it does not expect."""
    from server import vllm_compat  # vLLM's names differ by release

    if isinstance(
        exc, vllm_compat.client_errors()
    ):  # vLLM's own checks of the request: logit_bias ids, logprobs...
        return InvalidRequestError(str(exc), param=getattr(exc, "parameter", None))
    if isinstance(exc, vllm_compat.engine_dead_error()):
        return EngineUnavailableError("the engine has died; this server must be restarted")
    return None


@contextmanager
def engine_errors_mapped() -> Iterator[None]:
    """Around calls into vLLM: its client and engine errors become ours; anything else passes."""
    try:
        yield
    except Exception as exc:
        mapped = engine_error(exc)
        if mapped is None:
            raise
        raise mapped from exc


def to_api_error(exc: BaseException) -> APIError:
    """The error the client sees for ``exc``; an unexpected exception is a 500, never a 400."""
    if isinstance(exc, APIError):
        return exc
    mapped = engine_error(exc)
    if mapped is not None:
        return mapped
    logger.error("unexpected error", exc_info=exc)
    return APIError(f"internal error: {type(exc).__name__}")


def stream_error_event(exc: Exception, request_id: str) -> str:
    """An error after the stream's status line was sent goes in-band, as an SSE event. Only errors
    after the first event get here: the services raise earlier ones, which become a plain 4xx/5xx."""
    return f"data: {json.dumps(stream_error_body(exc, request_id))}\n\n"


def stream_error_body(exc: Exception, request_id: str) -> dict[str, object]:
    """The error envelope of a stream that failed after its first event (chat and completions send
    it as an SSE event, the Responses API inside its ``error`` event)."""
    logger.warning("stream %s failed after its first event: %s", request_id, exc)
    return to_api_error(exc).to_dict()
