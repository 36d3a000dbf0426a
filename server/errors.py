"""Typed errors inside the server; the OpenAI error envelope at the edge."""

from __future__ import annotations

import json
import logging
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


def stream_error_event(exc: Exception, request_id: str) -> str:
    """An error after the stream's status line was sent goes in-band, as an SSE event."""
    return f"data: {json.dumps(stream_error_body(exc, request_id))}\n\n"


def stream_error_body(exc: Exception, request_id: str) -> dict[str, object]:
    if isinstance(exc, APIError):
        return exc.to_dict()
    logger.exception("stream %s failed", request_id, exc_info=exc)
    return error_body(f"generation failed: {type(exc).__name__}", "internal_server_error", 500)
