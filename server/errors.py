"""Typed errors inside the server; the OpenAI error envelope at the edge."""

from __future__ import annotations

from http import HTTPStatus


class APIError(Exception):
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
