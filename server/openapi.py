"""What /openapi.json says a route answers: its body models and the error envelope per status.

A route declares its responses with these helpers, e.g. for a new generation endpoint::

    @v1.post("/responses", response_model=None, responses=generation_responses(Body, Event, auth=auth))

and names its stream's event model in ``finish_openapi(app, extra_models=[..., Event])``, which
also drops FastAPI's 422 (validation errors are 400 here, see server/app.py).
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel

from server.protocol import ErrorResponse

Responses = dict[int | str, dict[str, Any]]

_WHEN = {
    400: "The request is invalid (schema, a bound, or what this model accepts); `param` names the field.",
    401: "Missing or wrong API key (only when the server has one).",
    404: "The request names a model this server does not serve.",
    413: "The request body is larger than the server's limit.",
    429: "Too many requests in flight; retry after `Retry-After` seconds.",
    500: "A fault of the server (a bug, logged with its traceback); never caused by the request alone.",
    503: "The engine is not serving (it died or is shutting down).",
}
_RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait", "schema": {"type": "integer"}}}


def error_responses(*statuses: int) -> Responses:
    """The OpenAI error envelope for each status."""
    responses: Responses = {}
    for status in statuses:
        response: dict[str, Any] = {
            "model": ErrorResponse,
            "description": f"{HTTPStatus(status).phrase}. {_WHEN.get(status, '')}".strip(),
        }
        if status == 429:
            response["headers"] = _RETRY_AFTER
        responses[status] = response
    return responses


def generation_responses(
    body: type[BaseModel], chunk: type[BaseModel], *, auth: bool, done_event: bool = True
) -> Responses:
    """A generation endpoint: ``body`` as JSON, or with ``stream: true`` server-sent events of ``chunk``
    (ending with ``data: [DONE]`` when ``done_event``; the Responses API ends with its last event)."""
    stream = {
        # Each event as an SSE parser reads it (OpenAPI 3.2's reading, which schemathesis checks);
        # what its data holds is the chunk model, named in the extension.
        "schema": {
            "type": "object",
            "properties": {
                "event": {"type": "string"},
                "data": {"type": "string"},
                "id": {"type": "string"},
                "retry": {"type": "integer"},
            },
            "required": ["data"],
        },
        "x-event-schema": {"$ref": f"#/components/schemas/{chunk.__name__}"},
    }
    ok = {
        "model": body,
        "description": (
            f"The {body.__name__}; with `stream: true`, server-sent events `data: <{chunk.__name__}>`"
            + (" ending with `data: [DONE]`" if done_event else "")
            + " (an error after the first event is one event holding the error envelope)."
        ),
        "content": {"text/event-stream": stream},
    }
    return {200: ok, **error_responses(*_statuses(400, 404, 413, 429, 500, 503, auth=auth))}


def _statuses(*statuses: int, auth: bool) -> list[int]:
    return sorted({*statuses, 401} if auth else set(statuses))


def read_responses(*, auth: bool) -> Responses:
    """A GET under /v1."""
    return error_responses(*_statuses(500, auth=auth))


def finish_openapi(app: FastAPI, extra_models: list[type[BaseModel]]) -> None:
    """Replace ``app.openapi`` with one that states the real error responses."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(title=app.title, version=app.version, routes=app.routes)
        for operations in schema.get("paths", {}).values():
            for operation in operations.values():
                operation.get("responses", {}).pop("422", None)
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        for name in ("HTTPValidationError", "ValidationError"):
            components.pop(name, None)
        for model in extra_models:  # referenced only from extensions, e.g. a stream's chunk
            definition = model.model_json_schema(
                ref_template="#/components/schemas/{model}", mode="serialization"
            )
            components.update(definition.pop("$defs", {}))
            components.setdefault(model.__name__, definition)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
