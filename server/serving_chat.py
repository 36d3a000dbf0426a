"""Chat completions: request -> engine prompt and sampling parameters -> OpenAI response."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import AsyncIterator
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
    DeltaToolCall,
    ResponseMessage,
    TextChunkEncoder,
    TokenLogprob,
    ToolCall,
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
    constrain,
    generate,
)
from server.structured import constraint_from_format
from server.thinking import ThinkingDefaults, ThinkingPlan, plan_thinking
from server.tool_stream import ToolCallStream, joined
from server.tools import ToolPlan, plan_tools, template_messages, template_supports_tools

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase
    from vllm import RequestOutput, SamplingParams
    from vllm.v1.engine.async_llm import AsyncLLM


INSERTED_TEXTS_CACHED = 64


@dataclass(frozen=True)
class ChatJob:
    """A chat request that passed every check, made ready for the engine: what ``create``,
    ``stream`` and ``run`` (the Responses API's too) run its choices on."""

    request: ChatCompletionRequest
    prompt_ids: list[int]
    params: SamplingParams  # thinking, and the answer when it is free
    answer_params: SamplingParams | None  # the answer under a structured-output constraint
    limit: int  # completion tokens per choice
    plan: ThinkingPlan
    tools: ToolPlan
    top_logprobs: int | None  # None: no logprobs

    @property
    def n(self) -> int:
        return self.request.n

    @property
    def seed(self) -> int | None:
        return self.request.seed


@dataclass
class ChoiceState:
    """What one choice has produced so far: the streaming path and the final usage both need it."""

    splitter: ReasoningSplitter | None
    calls: ToolCallStream
    token_ids: list[int] = field(default_factory=list)
    # Text as pieces, joined when read (``reasoning``, ``answer``): adding to a string per token
    # would copy all of it each time.
    reasoning_pieces: list[str] = field(default_factory=list)
    answer_pieces: list[str] = field(default_factory=list)  # as generated (a tool call's JSON included)
    finish_reason: str | None = None
    report: BudgetForcingReport | None = None
    logprobs: list[TokenLogprob] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)
    first_answer_at: float | None = None

    @property
    def reasoning(self) -> str:
        return joined(self.reasoning_pieces)

    @property
    def answer(self) -> str:
        return joined(self.answer_pieces)

    @property
    def content(self) -> str | None:
        return self.calls.content

    @property
    def tool_calls(self) -> list[ToolCall]:
        return self.calls.calls


@dataclass(frozen=True, slots=True)
class ChoiceUpdate:
    """What one piece of one choice added, as the client sees it."""

    index: int
    reasoning: str
    content: str
    tool_calls: list[DeltaToolCall]
    logprobs: list[TokenLogprob]
    state: ChoiceState


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
        tool_call_parser: str | None = None,
    ) -> None:
        self._metrics = metrics
        self._engine = engine
        self._tokenizer = tokenizer
        self.model_name = model_name
        self.limits = limits
        self._thinking_defaults = thinking_defaults or ThinkingDefaults()
        self._tool_call_parser = tool_call_parser
        self._native_tools = template_supports_tools(tokenizer.chat_template)
        self._think_format = think_format
        self._think: ThinkTokens | None = None
        self._open_think: list[int] = []
        self._inserted_ids: dict[str, list[int]] = {}
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

    def _encode_inserted(self, text: str) -> list[int]:
        """Budget forcing's inserted texts (the wrap-up, an extension): the same few strings for
        nearly every request, so each is tokenized once (the first few dozen a client names, too)."""
        ids = self._inserted_ids.get(text)
        if ids is None:
            ids = self._encode(text)
            if len(self._inserted_ids) < INSERTED_TEXTS_CACHED:
                self._inserted_ids[text] = ids
        return list(ids)

    async def create(self, job: ChatJob, request_id: str) -> ChatCompletionResponse:
        states = [self.new_state(job) for _ in range(job.n)]
        async for _ in self.run(job, request_id, states):
            pass
        choices = []
        for index, state in enumerate(states):
            reasoning = state.reasoning if state.splitter and not job.plan.exclude_reasoning else None
            choices.append(
                ChatChoice(
                    index=index,
                    message=ResponseMessage(
                        content=state.content,
                        reasoning_content=reasoning,
                        reasoning=reasoning,
                        tool_calls=state.tool_calls or None,
                    ),
                    finish_reason=state.finish_reason,
                    logprobs=ChoiceLogprobs(content=state.logprobs) if job.request.logprobs else None,
                    budget_forcing=state.report,
                )
            )
        return ChatCompletionResponse(
            id=request_id, model=self.model_name, choices=choices, usage=self.usage(job, states)
        )

    async def stream(self, job: ChatJob, request_id: str) -> AsyncIterator[str]:
        """Server-sent events, ending with ``[DONE]``. An error before the first event is raised (the
        router answers it with a plain error response); one after it arrives in-band."""
        request = job.request
        states = [self.new_state(job) for _ in range(job.n)]
        created = int(time.time())
        encoder = TextChunkEncoder(request_id, created, self.model_name)

        def event(choices: list[ChatChunkChoice], usage: Usage | None = None) -> str:
            chunk = ChatCompletionChunk(
                id=request_id, created=created, model=self.model_name, choices=choices, usage=usage
            )
            return f"data: {chunk.model_dump_json(exclude_none=True)}\n\n"

        # Each choice's role comes with its first token, as in vLLM: a role chunk sent before any
        # token would make clients measure a time to first token that nothing was generated in.
        announced = [False] * job.n
        try:
            async for update in self.run(job, request_id, states):
                state = update.state
                reasoning = "" if job.plan.exclude_reasoning else update.reasoning
                if not (update.tool_calls or update.logprobs or state.finish_reason):
                    # Text alone (nearly every chunk), or nothing to send yet.
                    if update.content or reasoning:
                        role = not announced[update.index]
                        announced[update.index] = True
                        yield encoder.event(update.index, update.content, reasoning, role=role)
                    continue
                delta = DeltaMessage(
                    role=None if announced[update.index] else "assistant",
                    content=update.content or None,
                    reasoning_content=reasoning or None,
                    reasoning=reasoning or None,
                    tool_calls=update.tool_calls or None,
                )
                if (
                    delta.content
                    or delta.reasoning
                    or delta.tool_calls
                    or update.logprobs
                    or state.finish_reason
                ):
                    announced[update.index] = True
                    yield event(
                        [
                            ChatChunkChoice(
                                index=update.index,
                                delta=delta,
                                finish_reason=state.finish_reason,
                                logprobs=ChoiceLogprobs(content=update.logprobs) if update.logprobs else None,
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
            yield event([], usage=self.usage(job, states))
        yield "data: [DONE]\n\n"

    async def run(
        self, job: ChatJob, request_id: str, states: list[ChoiceState]
    ) -> AsyncIterator[ChoiceUpdate]:
        """Generate every choice of ``job`` into ``states``; one update per piece."""
        async for index, piece in merge_choices(lambda index: self._choice(job, request_id, index), job.n):
            yield self._advance(index, states[index], piece, job)

    def _choice(self, job: ChatJob, request_id: str, index: int) -> AsyncIterator[Piece]:
        """One choice's pieces; choices run as separate requests, since their phases diverge."""
        params = choice_params(job.params, job.seed, index)
        choice_id = f"{request_id}-{index}"
        if self._think is None:
            if job.answer_params is not None:
                params = choice_params(job.answer_params, job.seed, index)
            return run_plain(self._generate, job.prompt_ids, params, choice_id)
        answer_params = job.answer_params
        return run_with_budget(
            self._generate,
            job.prompt_ids + self._open_think,
            params,
            limit=job.limit,
            plan=job.plan,
            think=self._think,
            encode=self._encode_inserted,
            request_id=choice_id,
            answer_params=None if answer_params is None else choice_params(answer_params, job.seed, index),
        )

    def new_state(self, job: ChatJob) -> ChoiceState:
        return ChoiceState(
            splitter=ReasoningSplitter(self._think_format) if self._think_format else None,
            calls=ToolCallStream(job.tools, self._tokenizer),
        )

    def prepare(self, request: ChatCompletionRequest) -> ChatJob:
        """Every check of the request that needs no engine round trip; raises ``APIError``."""
        check_model(request.model, self.model_name)
        tools = plan_tools(
            request.tools,
            request.tool_choice,
            parallel=request.parallel_tool_calls,
            parser=self._tool_call_parser,
        )
        format_constraint = constraint_from_format(request.response_format, "response_format")
        tool_constraint = tools.constraint()
        if format_constraint is not None and tool_constraint is not None:
            raise InvalidRequestError(
                "response_format and a forced tool call (tool_choice) cannot both constrain the answer",
                param="response_format",
            )
        constraint = tool_constraint or format_constraint
        try:
            messages, tool_list = template_messages(request.messages, tools.tools, native=self._native_tools)
            prompt_text = self._tokenizer.apply_chat_template(
                messages, tools=tool_list, add_generation_prompt=True, tokenize=False
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
        top_logprobs = (request.top_logprobs or 0) if request.logprobs else None
        check_logprobs(top_logprobs, self.limits.max_logprobs, param="top_logprobs")
        params = build_sampling_params(
            request, max_tokens=limit, logprobs=top_logprobs, vocab_size=self.limits.vocab_size
        )
        answer_params = constrain(self._engine, params, constraint) if constraint else None
        if self._metrics is not None:
            self._metrics.request()
        return ChatJob(
            request=request,
            prompt_ids=prompt_ids,
            params=params,
            answer_params=answer_params,
            limit=limit,
            plan=plan,
            tools=tools,
            top_logprobs=top_logprobs,
        )

    def _generate(
        self, prompt_ids: list[int], params: SamplingParams, request_id: str
    ) -> AsyncIterator[RequestOutput]:
        return generate(self._engine, prompt_ids, params, request_id)

    def _advance(self, index: int, state: ChoiceState, piece: Piece, job: ChatJob) -> ChoiceUpdate:
        """Take one piece of one choice; return what it adds."""
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
        if reasoning:
            state.reasoning_pieces.append(reasoning)
        if answer:
            state.answer_pieces.append(answer)
        if answer and state.first_answer_at is None:
            state.first_answer_at = time.monotonic()
        content, tool_calls = state.calls.feed(answer)
        if finished:
            tail_content, tail_calls = state.calls.finish()
            content += tail_content
            tool_calls += tail_calls
            state.finish_reason = piece.finish_reason
            if state.tool_calls and piece.finish_reason == "stop":
                state.finish_reason = "tool_calls"
            state.report = piece.report
            self._observe(state)
        top_k = job.top_logprobs
        logprobs = self._logprobs(piece, top_k) if top_k is not None else []
        state.logprobs += logprobs
        return ChoiceUpdate(index, reasoning, content, tool_calls, logprobs, state)

    def _observe(self, state: ChoiceState) -> None:
        if self._metrics is None:
            return
        reasoning = self.reasoning_tokens(state)
        closed = self._think is not None and self._think.end_id in state.token_ids
        self._metrics.reasoning_tokens.observe(reasoning)
        self._metrics.answer_tokens.observe(len(state.token_ids) - reasoning - int(closed))
        if state.first_answer_at is not None:
            self._metrics.time_to_first_answer_token.observe(state.first_answer_at - state.started)
        if not state.answer.strip():
            self._metrics.empty_answers.inc()
        self._metrics.tool_calls.inc(len(state.tool_calls))
        if state.report is not None:
            self._metrics.forced_thinking_ends.inc(int(state.report.forced_end))
            self._metrics.thinking_extensions.inc(state.report.extensions)

    def reasoning_tokens(self, state: ChoiceState) -> int:
        if state.splitter is None:
            return 0
        # Reasoning is what precedes the end delimiter, inserted extensions and wrap-up included.
        if self._think is not None and self._think.end_id in state.token_ids:
            return state.token_ids.index(self._think.end_id)
        return len(state.token_ids) if state.splitter.in_reasoning else 0

    def usage(self, job: ChatJob, states: list[ChoiceState]) -> Usage:
        prompt_tokens = len(job.prompt_ids)
        completion_tokens = sum(len(s.token_ids) for s in states)
        return Usage(
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            total_tokens=prompt_tokens + completion_tokens,
            completion_tokens_details=CompletionTokensDetails(
                reasoning_tokens=sum(self.reasoning_tokens(s) for s in states)
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
