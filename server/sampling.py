"""What chat and text completions share: checking the model and the context, building vLLM's
sampling parameters from a request, and running one engine request."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from server import vllm_compat
from server.errors import InvalidRequestError, ModelNotFoundError, engine_errors_mapped
from server.protocol import INT64_MIN, SamplingRequest
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


@dataclass(frozen=True)
class EngineLimits:
    """What the engine accepts, read once at start; requests are checked against it up front."""

    max_model_len: int
    vocab_size: int  # token ids are 0 .. vocab_size - 1
    max_logprobs: int  # -1: no limit

    @classmethod
    def of(cls, engine: AsyncLLM, tokenizer_size: int) -> EngineLimits:
        config = engine.model_config
        # Ids past the tokenizer are padding rows of the embedding: no client means them.
        return cls(config.max_model_len, min(tokenizer_size, config.get_vocab_size()), config.max_logprobs)


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


def check_token_ids(token_ids: Iterable[int], vocab_size: int, *, param: str) -> None:
    """Token ids the client names (prompt, logit_bias) must be in the vocabulary; the engine would
    refuse them too, but only after the response started."""
    outside = sorted({token for token in token_ids if not 0 <= token < vocab_size})
    if outside:
        shown = ", ".join(map(str, outside[:5])) + (", ..." if len(outside) > 5 else "")
        raise InvalidRequestError(
            f"{param} has token ids outside the vocabulary (0 to {vocab_size - 1}): {shown}", param=param
        )


def check_logprobs(requested: int | None, max_logprobs: int, *, param: str) -> None:
    if requested is not None and max_logprobs >= 0 and requested > max_logprobs:
        raise InvalidRequestError(
            f"{param}={requested} is more than this server returns (at most {max_logprobs})", param=param
        )


def build_sampling_params(
    request: SamplingRequest, *, max_tokens: int, logprobs: int | None, vocab_size: int
) -> SamplingParams:
    """One choice's parameters (n=1: the services run choices as separate requests)."""
    from vllm import SamplingParams

    optional: dict[str, Any] = {
        name: value for name in _OPTIONAL_FIELDS if (value := getattr(request, name)) is not None
    }
    if logprobs is not None:
        optional["logprobs"] = logprobs
    if request.logit_bias:
        # The keys are decimal strings (the schema's pattern); which ids exist is this model's business.
        bias = {int(token): value for token, value in request.logit_bias.items()}
        check_token_ids(bias, vocab_size, param="logit_bias")
        optional["logit_bias"] = bias
    with engine_errors_mapped():  # vLLM's own checks of the values
        return SamplingParams(
            max_tokens=max_tokens,
            stop=[request.stop] if isinstance(request.stop, str) else request.stop,
            ignore_eos=request.ignore_eos,
            output_kind=vllm_compat.delta_output_kind(),
            **optional,
        )


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
    """Choices run as separate requests; with a seed, choice i samples with seed + i (wrapping within
    the signed 64-bit range), so that choices differ and still reproduce. Without one, every choice
    has ``params`` itself: nothing changes them (the engine and budget forcing's phases take copies)."""
    if seed is None:
        return params
    params = params.clone()
    params.seed = (seed + index - INT64_MIN) % 2**64 + INT64_MIN
    return params


async def generate(
    engine: AsyncLLM, prompt_ids: list[int], params: SamplingParams, request_id: str
) -> AsyncIterator[RequestOutput]:
    with engine_errors_mapped():
        (engine_input,) = await engine.renderer.render_cmpl_async([{"prompt_token_ids": prompt_ids}])
        async for output in engine.generate(engine_input, params, request_id):
            yield output
