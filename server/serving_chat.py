"""Chat completions: request -> engine prompt and sampling parameters -> OpenAI response."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from jinja2 import TemplateError

from reasoning_formats import ReasoningSplitter, ThinkFormat
from server.errors import InvalidRequestError, stream_error_event
from server.forcing import Piece, ThinkTokens, merge_choices, run_plain, run_with_budget
from server.metrics import ServerMetrics
from server.protocol import (
    BudgetForcingReport,
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
from server.sampling import (
    EngineLimits,
    build_sampling_params,
    check_logprobs,
    check_model,
    choice_params,
    completion_limit,
    generate,
)
from server.thinking import ThinkingDefaults, ThinkingPlan, plan_thinking

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase
    from vllm import RequestOutput, SamplingParams
    from vllm.v1.engine.async_llm import AsyncLLM


@dataclass
class _ChoiceState:
    """What one choice has produced so far: the streaming path and the final usage both need it."""

    splitter: ReasoningSplitter | None
    token_ids: list[int] = field(default_factory=list)
    reasoning: str = ""
    answer: str = ""
    finish_reason: str | None = None
    report: BudgetForcingReport | None = None
    logprobs: list[TokenLogprob] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)
    first_answer_at: float | None = None


@dataclass(frozen=True)
class ChatJob:
    """A request that passed every check; what ``create`` and ``stream`` run."""

    request: ChatCompletionRequest
    prompt_ids: list[int]
    params: SamplingParams
    limit: int
    plan: ThinkingPlan


class ChatService:
    def __init__(
        self,
        engine: AsyncLLM,
        tokenizer: PreTrainedTokenizerBase,
        *,
        model_name: str,
        limits: EngineLimits,
        think_format: ThinkFormat | None,
        thinking_defaults: ThinkingDefaults | None = None,
        metrics: ServerMetrics | None = None,
    ) -> None:
        self._metrics = metrics
        self._engine = engine
        self._tokenizer = tokenizer
        self.model_name = model_name
        self.limits = limits
        self._thinking_defaults = thinking_defaults or ThinkingDefaults()
        self._think_format = think_format
        self._think: ThinkTokens | None = None
        self._open_think: list[int] = []
        if think_format is not None:
            end_ids = self._encode(think_format.end)
            if len(end_ids) != 1:
                raise ValueError(
                    f"{think_format.end!r} is {len(end_ids)} tokens for this tokenizer; thinking "
                    "control needs a single-token end delimiter (--think-format none turns it off)"
                )
            forced_end_text = think_format.end + "\n\n"
            self._think = ThinkTokens(
                end_ids[0], think_format.end, self._encode(forced_end_text), forced_end_text
            )
            if not think_format.prompt_opens_think:
                # Open the think block in the prompt ourselves, so every family is controlled alike.
                self._open_think = self._encode(think_format.start + "\n")
                self._think_format = dataclasses.replace(think_format, prompt_opens_think=True)

    def _encode(self, text: str) -> list[int]:
        return list(self._tokenizer.encode(text, add_special_tokens=False))

    async def create(self, job: ChatJob, request_id: str) -> ChatCompletionResponse:
        request, plan = job.request, job.plan
        states = [self._new_state() for _ in range(request.n)]
        async for index, piece in self._choices(job, request_id):
            self._advance(states[index], piece, request)
        choices = []
        for index, state in enumerate(states):
            reasoning = state.reasoning if state.splitter and not plan.exclude_reasoning else None
            choices.append(
                ChatChoice(
                    index=index,
                    message=ResponseMessage(
                        content=state.answer, reasoning_content=reasoning, reasoning=reasoning
                    ),
                    finish_reason=state.finish_reason,
                    logprobs=ChoiceLogprobs(content=state.logprobs) if request.logprobs else None,
                    budget_forcing=state.report,
                )
            )
        return ChatCompletionResponse(
            id=request_id, model=self.model_name, choices=choices, usage=self._usage(job.prompt_ids, states)
        )

    async def stream(self, job: ChatJob, request_id: str) -> AsyncIterator[str]:
        """Server-sent events, ending with ``[DONE]``. An error before the first event is raised (the
        router answers it with a plain error response); one after it arrives in-band."""
        request, plan = job.request, job.plan
        states = [self._new_state() for _ in range(request.n)]
        created = int(time.time())

        def event(choices: list[ChatChunkChoice], usage: Usage | None = None) -> str:
            chunk = ChatCompletionChunk(
                id=request_id, created=created, model=self.model_name, choices=choices, usage=usage
            )
            return f"data: {chunk.model_dump_json(exclude_none=True)}\n\n"

        # Each choice's role comes with its first token, as in vLLM: a role chunk sent before any
        # token would make clients measure a time to first token that nothing was generated in.
        announced = [False] * request.n
        try:
            async for index, piece in self._choices(job, request_id):
                state = states[index]
                reasoning, answer, logprobs = self._advance(state, piece, request)
                if plan.exclude_reasoning:
                    reasoning = ""
                delta = DeltaMessage(
                    role=None if announced[index] else "assistant",
                    content=answer or None,
                    reasoning_content=reasoning or None,
                    reasoning=reasoning or None,
                )
                if delta.content or delta.reasoning or logprobs or state.finish_reason:
                    announced[index] = True
                    yield event(
                        [
                            ChatChunkChoice(
                                index=index,
                                delta=delta,
                                finish_reason=state.finish_reason,
                                logprobs=ChoiceLogprobs(content=logprobs) if logprobs else None,
                                budget_forcing=state.report if state.finish_reason else None,
                            )
                        ]
                    )
        except Exception as exc:
            if not any(announced):
                raise  # nothing sent yet, e.g. the engine refused the request: a plain error response
            yield stream_error_event(exc, request_id)
            yield "data: [DONE]\n\n"
            return
        if request.stream_options and request.stream_options.include_usage:
            yield event([], usage=self._usage(job.prompt_ids, states))
        yield "data: [DONE]\n\n"

    def _choices(self, job: ChatJob, request_id: str) -> AsyncIterator[tuple[int, Piece]]:
        return merge_choices(lambda index: self._choice(job, request_id, index), job.request.n)

    def _choice(self, job: ChatJob, request_id: str, index: int) -> AsyncIterator[Piece]:
        """One choice's pieces; choices run as separate requests, since their phases diverge."""
        params = choice_params(job.params, job.request.seed, index)
        choice_id = f"{request_id}-{index}"
        if self._think is None:
            return run_plain(self._generate, job.prompt_ids, params, choice_id)
        return run_with_budget(
            self._generate,
            job.prompt_ids + self._open_think,
            params,
            limit=job.limit,
            plan=job.plan,
            think=self._think,
            encode=self._encode,
            request_id=choice_id,
        )

    def _new_state(self) -> _ChoiceState:
        return _ChoiceState(splitter=ReasoningSplitter(self._think_format) if self._think_format else None)

    def prepare(self, request: ChatCompletionRequest) -> ChatJob:
        """Every check of the request that needs no engine round trip; raises ``APIError``."""
        check_model(request.model, self.model_name)
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
        prompt_ids = self._encode(prompt_text)
        limit = completion_limit(
            len(prompt_ids) + len(self._open_think),
            request.max_completion_tokens or request.max_tokens,
            self.limits.max_model_len,
            param="max_completion_tokens" if request.max_completion_tokens else "max_tokens",
            prompt_param="messages",
        )
        plan = plan_thinking(request, self._thinking_defaults)
        logprobs = (request.top_logprobs or 0) if request.logprobs else None
        check_logprobs(logprobs, self.limits.max_logprobs, param="top_logprobs")
        params = build_sampling_params(
            request, max_tokens=limit, logprobs=logprobs, vocab_size=self.limits.vocab_size
        )
        if self._metrics is not None:
            self._metrics.request()
        return ChatJob(request, prompt_ids, params, limit, plan)

    def _generate(
        self, prompt_ids: list[int], params: SamplingParams, request_id: str
    ) -> AsyncIterator[RequestOutput]:
        return generate(self._engine, prompt_ids, params, request_id)

    def _advance(
        self, state: _ChoiceState, piece: Piece, request: ChatCompletionRequest
    ) -> tuple[str, str, list[TokenLogprob]]:
        """Take one piece of one choice; return its (reasoning, answer) text and logprobs."""
        state.token_ids += piece.token_ids
        if state.splitter is None:
            reasoning, answer = "", piece.text
        else:
            reasoning, answer = state.splitter.feed(piece.text)
        finished = piece.finish_reason is not None
        if finished and state.splitter is not None:
            tail_reasoning, tail_answer = state.splitter.finish()
            reasoning += tail_reasoning
            answer += tail_answer
        state.reasoning += reasoning
        state.answer += answer
        if answer and state.first_answer_at is None:
            state.first_answer_at = time.monotonic()
        if finished:
            state.finish_reason = piece.finish_reason
            state.report = piece.report
            self._observe(state)
        logprobs = self._logprobs(piece, request.top_logprobs or 0) if request.logprobs else []
        state.logprobs += logprobs
        return reasoning, answer, logprobs

    def _observe(self, state: _ChoiceState) -> None:
        if self._metrics is None:
            return
        reasoning = self._reasoning_tokens(state)
        closed = self._think is not None and self._think.end_id in state.token_ids
        self._metrics.reasoning_tokens.observe(reasoning)
        self._metrics.answer_tokens.observe(len(state.token_ids) - reasoning - int(closed))
        if state.first_answer_at is not None:
            self._metrics.time_to_first_answer_token.observe(state.first_answer_at - state.started)
        if not state.answer.strip():
            self._metrics.empty_answers.inc()
        if state.report is not None:
            self._metrics.forced_thinking_ends.inc(int(state.report.forced_end))
            self._metrics.thinking_extensions.inc(state.report.extensions)

    def _reasoning_tokens(self, state: _ChoiceState) -> int:
        if state.splitter is None:
            return 0
        # Reasoning is what precedes the end delimiter, inserted extensions and wrap-up included.
        if self._think is not None and self._think.end_id in state.token_ids:
            return state.token_ids.index(self._think.end_id)
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
    def _logprobs(piece: Piece, top_k: int) -> list[TokenLogprob]:
        """OpenAI logprobs of each sampled token; vLLM adds the sampled one to the top ``top_k``."""

        def entry(candidate: Any) -> TopLogprob:
            token = candidate.decoded_token or ""
            # -inf is not valid JSON; OpenAI reports -9999.0 for impossible tokens.
            return TopLogprob(
                token=token, logprob=max(candidate.logprob, -9999.0), bytes=list(token.encode())
            )

        entries = []
        for token_id, candidates in zip(piece.token_ids, piece.logprobs or [], strict=False):
            ranked = sorted(candidates.values(), key=lambda c: c.rank)
            entries.append(
                TokenLogprob(
                    **entry(candidates[token_id]).model_dump(),
                    top_logprobs=[entry(c) for c in ranked if c.rank <= top_k],
                )
            )
        return entries
