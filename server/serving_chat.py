"""Chat completions: request -> engine prompt and sampling parameters -> OpenAI response."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from jinja2 import TemplateError

from reasoning_formats import ReasoningSplitter, ThinkFormat
from server.errors import APIError, InvalidRequestError, ModelNotFoundError, error_body
from server.protocol import (
    ChatChoice,
    ChatChunkChoice,
    ChatCompletionChunk,
    ChatCompletionRequest,
    ChatCompletionResponse,
    ChoiceLogprobs,
    CompletionTokensDetails,
    DeltaMessage,
    ResponseMessage,
    TokenLogprob,
    TopLogprob,
    Usage,
)

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase
    from vllm import SamplingParams
    from vllm.v1.engine.async_llm import AsyncLLM

logger = logging.getLogger(__name__)


@dataclass
class _ChoiceState:
    """What one choice has produced so far: the streaming path and the final usage both need it."""

    splitter: ReasoningSplitter | None
    token_ids: list[int] = field(default_factory=list)
    reasoning: str = ""
    answer: str = ""
    finish_reason: str | None = None


class ChatService:
    def __init__(
        self,
        engine: AsyncLLM,
        tokenizer: PreTrainedTokenizerBase,
        *,
        model_name: str,
        max_model_len: int,
        think_format: ThinkFormat | None,
    ) -> None:
        self._engine = engine
        self._tokenizer = tokenizer
        self.model_name = model_name
        self.max_model_len = max_model_len
        self._think_format = think_format
        self._think_end_ids: list[int] = (
            tokenizer.encode(think_format.end, add_special_tokens=False) if think_format else []
        )

    async def create(self, request: ChatCompletionRequest, request_id: str) -> ChatCompletionResponse:
        prompt_ids, params = self._prepare(request)
        states = [self._new_state() for _ in range(request.n)]
        logprobs: list[list[TokenLogprob]] = [[] for _ in range(request.n)]
        async for output in self._generate(prompt_ids, params, request_id):
            for completion in output.outputs:
                self._advance(states[completion.index], completion)
                if completion.logprobs:
                    logprobs[completion.index] += self._logprobs(completion, request.top_logprobs or 0)
        choices = []
        for index, state in enumerate(states):
            reasoning = state.reasoning if state.splitter else None
            choices.append(
                ChatChoice(
                    index=index,
                    message=ResponseMessage(
                        content=state.answer, reasoning_content=reasoning, reasoning=reasoning
                    ),
                    finish_reason=state.finish_reason,  # type: ignore[arg-type]
                    logprobs=ChoiceLogprobs(content=logprobs[index]) if request.logprobs else None,
                )
            )
        return ChatCompletionResponse(
            id=request_id, model=self.model_name, choices=choices, usage=self._usage(prompt_ids, states)
        )

    async def stream(self, request: ChatCompletionRequest, request_id: str) -> AsyncIterator[str]:
        """Server-sent events, ending with ``[DONE]``; errors after the first event arrive in-band."""
        prompt_ids, params = self._prepare(request)
        states = [self._new_state() for _ in range(request.n)]
        created = int(time.time())

        def event(choices: list[ChatChunkChoice], usage: Usage | None = None) -> str:
            chunk = ChatCompletionChunk(
                id=request_id, created=created, model=self.model_name, choices=choices, usage=usage
            )
            return f"data: {chunk.model_dump_json(exclude_none=True)}\n\n"

        yield event(
            [
                ChatChunkChoice(index=i, delta=DeltaMessage(role="assistant", content=""))
                for i in range(request.n)
            ]
        )
        try:
            async for output in self._generate(prompt_ids, params, request_id):
                for completion in output.outputs:
                    state = states[completion.index]
                    reasoning, answer = self._advance(state, completion)
                    delta = DeltaMessage(
                        content=answer or None,
                        reasoning_content=reasoning or None,
                        reasoning=reasoning or None,
                    )
                    logprobs = (
                        ChoiceLogprobs(content=self._logprobs(completion, request.top_logprobs or 0))
                        if request.logprobs
                        else None
                    )
                    if delta.content or delta.reasoning or logprobs or state.finish_reason:
                        yield event(
                            [
                                ChatChunkChoice(
                                    index=completion.index,
                                    delta=delta,
                                    finish_reason=state.finish_reason,  # type: ignore[arg-type]
                                    logprobs=logprobs,
                                )
                            ]
                        )
        except Exception as exc:  # the status line is already sent: report the error in-band
            if isinstance(exc, APIError):
                body = exc.to_dict()
            else:
                logger.exception("stream %s failed", request_id)
                body = error_body(f"generation failed: {type(exc).__name__}", "internal_server_error", 500)
            yield f"data: {json.dumps(body)}\n\n"
            yield "data: [DONE]\n\n"
            return
        if request.stream_options and request.stream_options.include_usage:
            yield event([], usage=self._usage(prompt_ids, states))
        yield "data: [DONE]\n\n"

    def _new_state(self) -> _ChoiceState:
        return _ChoiceState(splitter=ReasoningSplitter(self._think_format) if self._think_format else None)

    def _prepare(self, request: ChatCompletionRequest) -> tuple[list[int], SamplingParams]:
        from vllm import SamplingParams
        from vllm.exceptions import VLLMClientError
        from vllm.sampling_params import RequestOutputKind

        if request.model != self.model_name:
            raise ModelNotFoundError(
                f"The model `{request.model}` does not exist; this server serves `{self.model_name}`.",
                param="model",
            )
        try:
            # Chat templates of open models predate OpenAI's "developer" role: it is the system turn.
            messages = [
                {"role": "system" if m.role == "developer" else m.role, "content": m.text()}
                for m in request.messages
            ]
            prompt_text = self._tokenizer.apply_chat_template(
                messages, add_generation_prompt=True, tokenize=False
            )
        except ValueError as exc:  # bad content parts; a model without a chat template
            raise InvalidRequestError(str(exc), param="messages") from exc
        except TemplateError as exc:  # the template itself refused the conversation
            raise InvalidRequestError(f"chat template: {exc}", param="messages") from exc
        prompt_ids = self._tokenizer.encode(prompt_text, add_special_tokens=False)
        room = self.max_model_len - len(prompt_ids)
        if room <= 0:
            raise InvalidRequestError(
                f"The prompt has {len(prompt_ids)} tokens; this model's context is "
                f"{self.max_model_len} tokens.",
                param="messages",
            )
        requested = request.max_completion_tokens or request.max_tokens
        if requested is not None and requested > room:
            raise InvalidRequestError(
                f"max_tokens={requested} is too large: the prompt has {len(prompt_ids)} tokens and "
                f"this model's context is {self.max_model_len} tokens (at most {room} remain).",
                param="max_completion_tokens" if request.max_completion_tokens else "max_tokens",
            )
        stop = [request.stop] if isinstance(request.stop, str) else request.stop
        optional: dict[str, Any] = {
            name: value
            for name in (
                "temperature",
                "top_p",
                "top_k",
                "min_p",
                "presence_penalty",
                "frequency_penalty",
                "repetition_penalty",
                "seed",
            )
            if (value := getattr(request, name)) is not None
        }
        if request.logprobs:
            optional["logprobs"] = request.top_logprobs or 0
        try:
            params = SamplingParams(
                n=request.n,
                max_tokens=requested or room,
                stop=stop,
                ignore_eos=request.ignore_eos,
                output_kind=RequestOutputKind.DELTA,
                **optional,
            )
        except (ValueError, VLLMClientError) as exc:  # vLLM's own checks, e.g. top_k, empty stop
            raise InvalidRequestError(str(exc)) from exc
        return prompt_ids, params

    async def _generate(self, prompt_ids: list[int], params: SamplingParams, request_id: str):
        from vllm.exceptions import VLLMClientError

        try:
            (engine_input,) = await self._engine.renderer.render_cmpl_async(
                [{"prompt_token_ids": prompt_ids}]
            )
            async for output in self._engine.generate(engine_input, params, request_id):
                yield output
        except VLLMClientError as exc:
            raise InvalidRequestError(str(exc)) from exc

    def _advance(self, state: _ChoiceState, completion: Any) -> tuple[str, str]:
        """Take one delta of one choice; return its (reasoning, answer) text."""
        state.token_ids += completion.token_ids
        if state.splitter is None:
            reasoning, answer = "", completion.text
        else:
            reasoning, answer = state.splitter.feed(completion.text)
        if completion.finish_reason is not None:
            state.finish_reason = completion.finish_reason
            if state.splitter is not None:
                tail_reasoning, tail_answer = state.splitter.finish()
                reasoning += tail_reasoning
                answer += tail_answer
        state.reasoning += reasoning
        state.answer += answer
        return reasoning, answer

    def _reasoning_tokens(self, state: _ChoiceState) -> int:
        if state.splitter is None:
            return 0
        end = _find(state.token_ids, self._think_end_ids)
        if end >= 0:
            return end + len(self._think_end_ids)
        return len(state.token_ids) if state.splitter.in_reasoning else 0

    def _usage(self, prompt_ids: Sequence[int], states: list[_ChoiceState]) -> Usage:
        completion_tokens = sum(len(s.token_ids) for s in states)
        return Usage(
            prompt_tokens=len(prompt_ids),
            completion_tokens=completion_tokens,
            total_tokens=len(prompt_ids) + completion_tokens,
            completion_tokens_details=CompletionTokensDetails(
                reasoning_tokens=sum(self._reasoning_tokens(s) for s in states)
            ),
        )

    @staticmethod
    def _logprobs(completion: Any, top_k: int) -> list[TokenLogprob]:
        """OpenAI logprobs of each sampled token; vLLM adds the sampled one to the top ``top_k``."""

        def entry(candidate: Any) -> TopLogprob:
            token = candidate.decoded_token or ""
            # -inf is not valid JSON; OpenAI reports -9999.0 for impossible tokens.
            return TopLogprob(
                token=token, logprob=max(candidate.logprob, -9999.0), bytes=list(token.encode())
            )

        entries = []
        for token_id, candidates in zip(completion.token_ids, completion.logprobs or [], strict=False):
            ranked = sorted(candidates.values(), key=lambda c: c.rank)
            entries.append(
                TokenLogprob(
                    **entry(candidates[token_id]).model_dump(),
                    top_logprobs=[entry(c) for c in ranked if c.rank <= top_k],
                )
            )
        return entries


def _find(haystack: Sequence[int], needle: Sequence[int]) -> int:
    if not needle:
        return -1
    for start in range(len(haystack) - len(needle) + 1):
        if list(haystack[start : start + len(needle)]) == list(needle):
            return start
    return -1
