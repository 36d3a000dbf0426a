"""What chat and text completions share: checking the model and the context, building vLLM's
sampling parameters from a request, and running one engine request."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from server import vllm_compat
from server.errors import EngineUnavailableError, InvalidRequestError, ModelNotFoundError
from server.protocol import SamplingRequest
from server.structured import AnswerConstraint

if TYPE_CHECKING:
    from vllm import RequestOutput, SamplingParams
    from vllm.v1.engine.async_llm import AsyncLLM

_OPTIONAL_FIELDS = (
    "temperature",
    "top_p",
    "top_k",
    "min_p",
    "presence_penalty",
    "frequency_penalty",
    "repetition_penalty",
    "seed",
)


def check_model(requested: str, served: str) -> None:
    if requested != served:
        raise ModelNotFoundError(
            f"The model `{requested}` does not exist; this server serves `{served}`.", param="model"
        )


def completion_limit(
    prompt_tokens: int, requested: int | None, max_model_len: int, *, param: str, prompt_param: str
) -> int:
    """How many tokens the completion may have: what was asked for, else what the context leaves."""
    room = max_model_len - prompt_tokens
    if room <= 0:
        raise InvalidRequestError(
            f"The prompt has {prompt_tokens} tokens; this model's context is {max_model_len} tokens.",
            param=prompt_param,
        )
    if requested is not None and requested > room:
        raise InvalidRequestError(
            f"{param}={requested} is too large: the prompt has {prompt_tokens} tokens and this "
            f"model's context is {max_model_len} tokens (at most {room} remain).",
            param=param,
        )
    return requested or room


def build_sampling_params(
    request: SamplingRequest, *, max_tokens: int, logprobs: int | None
) -> SamplingParams:
    """One choice's parameters (n=1: the services run choices as separate requests)."""
    from vllm import SamplingParams

    optional: dict[str, Any] = {
        name: value for name in _OPTIONAL_FIELDS if (value := getattr(request, name)) is not None
    }
    if logprobs is not None:
        optional["logprobs"] = logprobs
    if request.logit_bias:
        try:
            optional["logit_bias"] = {int(token): bias for token, bias in request.logit_bias.items()}
        except ValueError as exc:
            raise InvalidRequestError("logit_bias keys must be token ids", param="logit_bias") from exc
    request_errors: tuple[type[Exception], ...] = (ValueError, *vllm_compat.client_errors())
    try:
        return SamplingParams(
            max_tokens=max_tokens,
            stop=[request.stop] if isinstance(request.stop, str) else request.stop,
            ignore_eos=request.ignore_eos,
            output_kind=vllm_compat.delta_output_kind(),
            **optional,
        )
    except request_errors as exc:  # vLLM's own checks, e.g. top_k, empty stop
        raise InvalidRequestError(str(exc)) from exc


def constrain(engine: AsyncLLM, params: SamplingParams, constraint: AnswerConstraint) -> SamplingParams:
    """``params`` under ``constraint``, checked by vLLM now: a schema its grammar backend cannot
    compile is a 400 before anything is generated, not an error mid-stream."""
    from server.vllm_compat import validation_errors, verify_params

    constrained = params.clone()
    try:
        constrained.structured_outputs = constraint.structured_outputs()
        verify_params(engine, constrained)
    except validation_errors() as exc:
        raise InvalidRequestError(f"{constraint.param}: {exc}", param=constraint.param) from exc
    return constrained


def choice_params(params: SamplingParams, seed: int | None, index: int) -> SamplingParams:
    """Choices run as separate requests; with a seed, choice i samples with seed + i, so that
    choices differ and still reproduce."""
    params = params.clone()
    if seed is not None:
        params.seed = seed + index
    return params


async def generate(
    engine: AsyncLLM, prompt_ids: list[int], params: SamplingParams, request_id: str
) -> AsyncIterator[RequestOutput]:
    try:
        (engine_input,) = await engine.renderer.render_cmpl_async([{"prompt_token_ids": prompt_ids}])
        async for output in engine.generate(engine_input, params, request_id):
            yield output
    except vllm_compat.client_errors() as exc:
        raise InvalidRequestError(str(exc)) from exc
    except vllm_compat.engine_dead_error() as exc:
        raise EngineUnavailableError("the engine has died; this server must be restarted") from exc
