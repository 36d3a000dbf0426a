"""Text completions (``/v1/completions``): a raw prompt in, text out; no chat template, no
thinking control (the caller owns the prompt format)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from server.errors import InvalidRequestError, stream_error_event
from server.forcing import Piece, merge_choices, run_plain
from server.metrics import ServerMetrics
from server.protocol import CompletionChoice, CompletionLogprobs, CompletionRequest, CompletionResponse, Usage
from server.sampling import (
    EngineLimits,
    build_sampling_params,
    check_logprobs,
    check_model,
    check_token_ids,
    choice_params,
    completion_limit,
    constrain,
    generate,
)
from server.structured import constraint_from_format

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase
    from vllm import SamplingParams
    from vllm.v1.engine.async_llm import AsyncLLM


@dataclass
class _Choice:
    text: str = ""
    token_ids: list[int] = field(default_factory=list)
    finish_reason: str | None = None
    logprobs: CompletionLogprobs | None = None


@dataclass(frozen=True)
class CompletionJob:
    """A request that passed every check; what ``create`` and ``stream`` run."""

    request: CompletionRequest
    prompt_ids: list[int]
    prompt_text: str
    params: SamplingParams


class CompletionService:
    def __init__(
        self,
        engine: AsyncLLM,
        tokenizer: PreTrainedTokenizerBase,
        *,
        model_name: str,
        limits: EngineLimits,
        metrics: ServerMetrics | None = None,
    ) -> None:
        self._engine = engine
        self._tokenizer = tokenizer
        self.model_name = model_name
        self.limits = limits
        self._metrics = metrics

    async def create(self, job: CompletionJob, request_id: str) -> CompletionResponse:
        request, prompt_ids = job.request, job.prompt_ids
        choices = [self._new_choice(request, job.prompt_text) for _ in range(request.n)]
        async for index, piece in self._pieces(job, request_id):
            self._advance(choices[index], piece, request)
        return CompletionResponse(
            id=request_id,
            model=self.model_name,
            choices=[
                CompletionChoice(index=i, text=c.text, finish_reason=c.finish_reason, logprobs=c.logprobs)
                for i, c in enumerate(choices)
            ],
            usage=self._usage(prompt_ids, choices),
        )

    async def stream(self, job: CompletionJob, request_id: str) -> AsyncIterator[str]:
        """Server-sent events, ending with ``[DONE]``. An error before the first event is raised (the
        router answers it with a plain error response); one after it arrives in-band."""
        request, prompt_ids = job.request, job.prompt_ids
        choices = [self._new_choice(request, job.prompt_text) for _ in range(request.n)]
        created = int(time.time())

        def event(chunk_choices: list[CompletionChoice], usage: Usage | None = None) -> str:
            chunk = CompletionResponse(
                id=request_id, created=created, model=self.model_name, choices=chunk_choices, usage=usage
            )
            return f"data: {chunk.model_dump_json(exclude_none=True)}\n\n"

        # The echo waits for the engine's first output: until then the request may still be refused.
        started = False
        try:
            async for index, piece in self._pieces(job, request_id):
                if not started and request.echo:
                    yield event([CompletionChoice(index=i, text=job.prompt_text) for i in range(request.n)])
                started = True
                logprobs = self._advance(choices[index], piece, request)
                if piece.text or piece.finish_reason:
                    choice = CompletionChoice(
                        index=index,
                        text=piece.text,
                        finish_reason=piece.finish_reason,
                        logprobs=logprobs,
                    )
                    yield event([choice])
        except Exception as exc:
            if not started:
                raise  # nothing sent yet, e.g. the engine refused the request: a plain error response
            yield stream_error_event(exc, request_id)
        else:
            if request.stream_options and request.stream_options.include_usage:
                yield event([], usage=self._usage(prompt_ids, choices))
        yield "data: [DONE]\n\n"

    def prepare(self, request: CompletionRequest) -> CompletionJob:
        """Every check of the request that needs no engine round trip; raises ``APIError``."""
        check_model(request.model, self.model_name)
        if isinstance(request.prompt, str):
            prompt_ids = list(self._tokenizer.encode(request.prompt))
            prompt_text = request.prompt
        else:
            check_token_ids(request.prompt, self.limits.vocab_size, param="prompt")
            prompt_ids = list(request.prompt)
            prompt_text = self._tokenizer.decode(prompt_ids)
        if not prompt_ids:
            raise InvalidRequestError("prompt is empty", param="prompt")
        limit = completion_limit(
            len(prompt_ids),
            request.max_tokens,
            self.limits.max_model_len,
            param="max_tokens",
            prompt_param="prompt",
        )
        check_logprobs(request.logprobs, self.limits.max_logprobs, param="logprobs")
        params = build_sampling_params(
            request, max_tokens=limit, logprobs=request.logprobs, vocab_size=self.limits.vocab_size
        )
        if constraint := constraint_from_format(request.response_format, "response_format"):
            params = constrain(self._engine, params, constraint)
        if self._metrics is not None:
            self._metrics.request()
        return CompletionJob(request, prompt_ids, prompt_text, params)

    def _pieces(self, job: CompletionJob, request_id: str) -> AsyncIterator[tuple[int, Piece]]:
        def choice(index: int) -> AsyncIterator[Piece]:
            return run_plain(
                lambda ids, p, rid: generate(self._engine, ids, p, rid),
                job.prompt_ids,
                choice_params(job.params, job.request.seed, index),
                f"{request_id}-{index}",
            )

        return merge_choices(choice, job.request.n)

    @staticmethod
    def _new_choice(request: CompletionRequest, prompt_text: str) -> _Choice:
        choice = _Choice(text=prompt_text if request.echo else "")
        if request.logprobs is not None:
            choice.logprobs = CompletionLogprobs()
        return choice

    def _advance(
        self, choice: _Choice, piece: Piece, request: CompletionRequest
    ) -> CompletionLogprobs | None:
        """Take one piece; return the logprobs of its tokens (None when not asked for)."""
        offset = len(choice.text)
        choice.text += piece.text
        choice.token_ids += piece.token_ids
        if piece.finish_reason is not None:
            choice.finish_reason = piece.finish_reason
        if choice.logprobs is None:
            return None
        delta = _completion_logprobs(piece, offset, request.logprobs or 0)
        for name in ("tokens", "token_logprobs", "top_logprobs", "text_offset"):
            getattr(choice.logprobs, name).extend(getattr(delta, name))
        return delta

    @staticmethod
    def _usage(prompt_ids: list[int], choices: list[_Choice]) -> Usage:
        completion_tokens = sum(len(c.token_ids) for c in choices)
        return Usage(
            prompt_tokens=len(prompt_ids),
            completion_tokens=completion_tokens,
            total_tokens=len(prompt_ids) + completion_tokens,
        )


def _completion_logprobs(piece: Piece, offset: int, top_k: int) -> CompletionLogprobs:
    """The legacy completions shape: parallel lists of tokens, logprobs, top-k maps, offsets."""
    result = CompletionLogprobs()
    for token_id, candidates in zip(piece.token_ids, piece.logprobs or [], strict=False):
        chosen: Any = candidates[token_id]
        token = chosen.decoded_token or ""
        result.tokens.append(token)
        result.token_logprobs.append(max(chosen.logprob, -9999.0))
        result.top_logprobs.append(
            {(c.decoded_token or ""): max(c.logprob, -9999.0) for c in candidates.values() if c.rank <= top_k}
        )
        result.text_offset.append(offset)
        offset += len(token)
    return result
