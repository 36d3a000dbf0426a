"""HTTP routing: thin handlers over the services, and the error envelope at the edge."""

from __future__ import annotations

import asyncio
import gc
import logging
import secrets
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response, StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.exceptions import HTTPException as StarletteHTTPException

from reasoning_formats import ThinkFormat
from reasoning_formats import resolve_think_format as resolve_formats
from server import vllm_compat
from server.config import ServerConfig
from server.engine import start_engine
from server.errors import (
    APIError,
    AuthenticationError,
    EngineUnavailableError,
    InvalidRequestError,
    error_body,
    to_api_error,
)
from server.json_body import JSONBodyRoute
from server.limits import BodySizeLimit, InFlightLimit, OverloadedError
from server.metrics import ServerMetrics
from server.model_info import ModelInfo, describe_model
from server.openapi import error_responses, finish_openapi, generation_responses, read_responses
from server.protocol import (
    ChatCompletionChunk,
    ChatCompletionRequest,
    ChatCompletionResponse,
    CompletionRequest,
    CompletionResponse,
    ModelCard,
    ModelList,
    VersionInfo,
)
from server.protocol_responses import ResponseObject, ResponsesRequest, ResponseStreamEvent
from server.readiness import self_test
from server.sampling import EngineLimits
from server.serving_chat import ChatService
from server.serving_completion import CompletionService
from server.serving_responses import ResponsesService

logger = logging.getLogger(__name__)
T = TypeVar("T")
DISCONNECT_POLL_SECONDS = 0.5
CLIENT_CLOSED_REQUEST = 499  # nginx's status for "the client went away"; nobody reads it
_BEARER = HTTPBearer(auto_error=False, description="The server's --api-key")


def resolve_think_format(config: ServerConfig, chat_template: str | None) -> ThinkFormat | None:
    return resolve_formats(
        config.think_format,
        chat_template,
        start=config.think_start,
        end=config.think_end,
        prompt_opens_think=config.think_in_prompt,
    )


def project_version() -> str:
    """The installed distribution's version; from source (no dist metadata), pyproject's."""
    try:
        return package_version("quantreason")
    except PackageNotFoundError:
        import tomllib

        pyproject = Path(__file__).resolve().parent.parent / "pyproject.toml"
        try:
            return str(tomllib.loads(pyproject.read_text())["project"]["version"])
        except (OSError, KeyError, tomllib.TOMLDecodeError):
            return "unknown"


def create_app(config: ServerConfig, engine_factory: Callable[[ServerConfig], Any] = start_engine) -> FastAPI:
    """The ASGI app; its lifespan starts the engine and shuts it down."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        from transformers import AutoTokenizer

        model_info = describe_model(config.model)
        _check_tool_call_parser(config.tool_call_parser)
        engine = engine_factory(config)
        try:
            tokenizer = AutoTokenizer.from_pretrained(config.model)
            app.state.engine = engine
            app.state.model_info = model_info
            metrics = ServerMetrics(config.model_name, model_info.metrics_label)
            limits = EngineLimits.of(engine, len(tokenizer))
            app.state.completion = CompletionService(
                engine, tokenizer, model_name=config.model_name, limits=limits, metrics=metrics
            )
            think_format = resolve_think_format(config, tokenizer.chat_template)
            logger.info(
                "reasoning: %s",
                f"{think_format.name} ({think_format.start} ... {think_format.end})"
                if think_format
                else "none (no think delimiters: completions are all answer, no thinking budget)",
            )
            app.state.chat = ChatService(
                engine,
                tokenizer,
                model_name=config.model_name,
                limits=limits,
                think_format=think_format,
                thinking_defaults=config.thinking_defaults(),
                metrics=metrics,
                tool_call_parser=config.tool_call_parser,
            )
            app.state.responses = ResponsesService(app.state.chat)
            app.state.not_ready = None
            if config.startup_self_test:
                app.state.not_ready = await self_test(
                    app.state.chat,
                    app.state.completion,
                    config.model_name,
                    has_chat_template=bool(tokenizer.chat_template),
                )
            vllm_compat.cache_environment()
            _freeze_startup_heap()
            yield
        finally:
            engine.shutdown()

    app = FastAPI(title="quantreason", version=project_version(), lifespan=lifespan)
    _install_error_handlers(app)
    finish_openapi(app, extra_models=[ChatCompletionChunk, ResponseStreamEvent])
    app.add_middleware(BodySizeLimit, max_bytes=config.max_request_bytes)
    in_flight = InFlightLimit(config.max_pending_requests)

    async def require_api_key(
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_BEARER)],
    ) -> None:
        # A dependency, not middleware: Starlette's BaseHTTPMiddleware hides client disconnects.
        given = credentials.credentials if credentials else ""
        if not secrets.compare_digest(given.encode(), str(config.api_key).encode()):
            raise AuthenticationError("Invalid or missing API key.")

    auth = bool(config.api_key)
    # Every /v1 body goes through server/json_body.py (standard JSON, valid Unicode).
    v1 = APIRouter(
        prefix="/v1",
        dependencies=[Depends(require_api_key)] if auth else [],
        route_class=JSONBodyRoute,
    )

    @app.get(
        "/health",
        response_class=Response,
        responses={200: {"description": "Serving (empty body)"}, **error_responses(500, 503)},
    )
    async def health(request: Request) -> Response:
        if reason := request.app.state.not_ready:
            raise EngineUnavailableError(reason)
        try:
            await request.app.state.engine.check_health()
        except Exception as exc:
            raise EngineUnavailableError(f"engine unhealthy: {exc}") from exc
        return Response(status_code=200)

    @v1.get("/models", responses=read_responses(auth=auth))
    async def list_models(request: Request) -> ModelList:
        chat: ChatService = request.app.state.chat
        info: ModelInfo = request.app.state.model_info
        card = ModelCard(
            id=config.model_name,
            root=config.model,
            max_model_len=chat.limits.max_model_len,
            quantization_scheme=info.scheme,
            source_model=info.source_model,
            emulated=info.emulation is not None,
            emulation=info.emulation,
        )
        return ModelList(data=[card])

    @v1.post(
        "/chat/completions",
        response_model=None,
        responses=generation_responses(ChatCompletionResponse, ChatCompletionChunk, auth=auth),
    )
    async def chat_completions(body: ChatCompletionRequest, request: Request) -> Response:
        return await respond(request, body, request.app.state.chat, f"chatcmpl-{uuid.uuid4().hex}")

    @v1.post(
        "/completions",
        response_model=None,
        responses=generation_responses(CompletionResponse, CompletionResponse, auth=auth),
    )
    async def completions(body: CompletionRequest, request: Request) -> Response:
        return await respond(request, body, request.app.state.completion, f"cmpl-{uuid.uuid4().hex}")

    @v1.post(
        "/responses",
        response_model=None,
        responses=generation_responses(ResponseObject, ResponseStreamEvent, auth=auth, done_event=False),
    )
    async def responses(body: ResponsesRequest, request: Request) -> Response:
        return await respond(request, body, request.app.state.responses, f"resp_{uuid.uuid4().hex}")

    async def respond(request: Request, body: Any, service: Any, request_id: str) -> Response:
        """Run a chat or text completion or a response, streamed or not, within the in-flight limit.

        Every error the request can cause comes before the first byte: ``service.prepare`` checks
        what needs no engine, and a stream's first event is pulled before the status line, so what
        the engine refuses is a plain 4xx too, never a 200 whose stream holds the error."""
        in_flight.acquire()
        try:
            job = service.prepare(body)
            if body.stream:
                events = service.stream(job, request_id)
                first = await anext(events)
        except BaseException:
            in_flight.release()
            raise
        if body.stream:
            return StreamingResponse(
                _prepend(first, events, on_close=in_flight.release), media_type="text/event-stream"
            )
        try:
            response = await _cancel_on_disconnect(request, service.create(job, request_id))
        finally:
            in_flight.release()
        if response is None:
            return Response(status_code=CLIENT_CLOSED_REQUEST)
        return JSONResponse(response.model_dump(exclude_none=True))

    app.include_router(v1)

    @app.get("/version")
    async def version(request: Request) -> VersionInfo:
        engine = getattr(request.app.state, "engine", None)
        return VersionInfo(
            version=project_version(),
            vllm=vllm_compat.vllm_version(),
            # What the engine runs with, for a benchmark's record.
            engine=vllm_compat.engine_limits(engine) if engine is not None else None,
        )

    @app.get("/metrics", response_class=Response, responses={200: {"content": {"text/plain": {}}}})
    async def metrics() -> Response:
        # vLLM's engine registers its vllm:* metrics in the default registry of this process.
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return app


def _freeze_startup_heap() -> None:
    """Leave what startup made (modules, the tokenizer, the engine client: millions of objects) out of
    every later garbage collection, as vLLM's own server does: otherwise each full collection while
    serving walks all of it again."""
    gc.collect()
    gc.freeze()


async def _prepend(first: str, rest: AsyncIterator[str], on_close: Callable[[], None]) -> AsyncIterator[str]:
    try:
        yield first
        async for item in rest:
            yield item
    finally:
        on_close()


async def _cancel_on_disconnect(request: Request, work: Awaitable[T]) -> T | None:
    """Run ``work``; cancel it (which aborts its engine request) if the client goes away."""
    task = asyncio.ensure_future(work)
    while True:
        done, _ = await asyncio.wait({task}, timeout=DISCONNECT_POLL_SECONDS)
        if done:
            return task.result()
        if await request.is_disconnected():
            task.cancel()
            return None


def _check_tool_call_parser(name: str | None) -> None:
    from server.vllm_compat import tool_parser_names

    if name is not None and name not in (known := tool_parser_names()):
        raise ValueError(f"--tool-call-parser {name!r} is not one of vLLM's: {', '.join(known)}")


def _error_response(error: APIError) -> JSONResponse:
    return JSONResponse(error.to_dict(), status_code=int(error.status))


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(APIError)
    async def api_error(_: Request, exc: APIError) -> JSONResponse:
        response = _error_response(exc)
        if isinstance(exc, OverloadedError):
            response.headers["Retry-After"] = str(exc.retry_after_seconds)
        return response

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        return _error_response(_invalid_body(exc))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        body = error_body(str(exc.detail), "invalid_request_error", exc.status_code)
        return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)  # 405's Allow

    @app.exception_handler(Exception)
    async def unexpected_error(_: Request, exc: Exception) -> JSONResponse:
        return _error_response(to_api_error(exc))


def _invalid_body(exc: RequestValidationError) -> InvalidRequestError:
    """One 400 for pydantic's errors: the first field's, with ``param`` the path to it. A value that
    matched no member of a union fails once per member; their common path is the field."""
    errors = exc.errors()
    first = errors[0]
    path = [part for part in first.get("loc", ()) if part != "body"]
    for other in errors[1:]:
        other_path = [part for part in other.get("loc", ()) if part != "body"]
        if other_path[:1] != path[:1]:
            continue
        common = 0
        while common < min(len(path), len(other_path)) and path[common] == other_path[common]:
            common += 1
        path = path[:common]
    if "[key]" in path:  # a dict key failed (logit_bias): the field is the dict
        path = path[: path.index("[key]") - 1]
    if first.get("type") == "json_invalid":  # its location is a character offset
        return InvalidRequestError(f"body: invalid JSON: {first.get('ctx', {}).get('error', '')}")
    param = ".".join(str(part) for part in path) or None
    reason = first.get("msg", "invalid value")
    if first.get("type") == "extra_forbidden":  # a field the server does not implement
        reason = "this server does not support this field (docs/api.md lists what each endpoint takes)"
    return InvalidRequestError(f"{param or 'body'}: {reason}", param=param)
