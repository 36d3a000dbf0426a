"""Budget forcing: bounding a choice's thinking by running its generation in phases.

A phase is one engine request whose prompt is the chat prompt plus everything the choice has
produced so far; vLLM's prefix cache makes that continuation cheap (no re-prefill of the prompt).
A choice moves through at most these phases:

- thinking, capped at the budget (minus the wrap-up text) and at ``limit`` less the answer
  reserve and the forced end; while the minimum is not reached, the end-of-thinking token is a
  stop token: when the model emits it early it is dropped and the extension text ("Wait", as in
  s1) is appended instead, where the budget has room for it;
- a forced end when the cap is hit: wrap-up text, the end delimiter and a blank line are appended;
- the answer, with whatever remains of ``limit``. When the answer is constrained (a response
  format, a forced tool call), thinking also stops at its end delimiter, and the answer runs as a
  phase of its own under vLLM's structured outputs: the grammar never sees the thinking. A model
  that stops (end of sequence) while thinking then gets a forced end too: the answer is owed.

Each phase ends with an ``Outcome``; the loop's own state (``_Progress``) is kept apart from the
``BudgetForcingReport`` built from it for the client.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Any

from server.protocol import BudgetForcingReport
from server.thinking import ThinkingPlan
from server.vllm_compat import request_params

if TYPE_CHECKING:
    from vllm import RequestOutput, SamplingParams

Generate = Callable[[list[int], "SamplingParams", str], AsyncIterator["RequestOutput"]]


@dataclass
class Piece:
    """A stretch of one choice's completion, generated or inserted by the server."""

    text: str
    token_ids: list[int]
    logprobs: list[Any] | None = None  # vLLM's, for generated tokens only
    finish_reason: str | None = None  # set on the last piece
    report: BudgetForcingReport | None = None  # set on the last piece


@dataclass(frozen=True)
class ThinkTokens:
    end_id: int
    end_text: str
    forced_end_ids: list[int]  # end delimiter and a blank line
    forced_end_text: str


class Phase(Enum):
    THINK = "think"  # generation while the think block is open (it may close inside)
    ANSWER = "answer"  # generation after it closed


class Outcome(Enum):
    """How one phase's engine request ended."""

    CLOSED = "closed"  # the model ended its thinking; the answer follows in its own phase
    CLOSED_EARLY = "closed early"  # ... before the minimum: the delimiter is held back
    CAPPED = "capped"  # the thinking cap ran out (the think block may have closed before it)
    FINISHED = "finished"  # the engine finished the choice, for vLLM's reason


@dataclass
class PhaseResult:
    """Set by a phase when its engine request ends."""

    outcome: Outcome = Outcome.FINISHED
    finish_reason: str | None = None  # vLLM's, when FINISHED


@dataclass
class _Progress:
    """Where one choice stands between phases."""

    completion: list[int] = field(default_factory=list)  # generated and inserted tokens
    thinking: bool = True  # while thinking, every completion token is reasoning
    extensions: int = 0
    forced_end: bool = False


async def run_with_budget(
    generate: Generate,
    prompt_ids: list[int],
    params: SamplingParams,
    *,
    limit: int,
    plan: ThinkingPlan,
    think: ThinkTokens,
    encode: Callable[[str], list[int]],
    request_id: str,
    answer_params: SamplingParams | None = None,
) -> AsyncIterator[Piece]:
    """Generate one choice of at most ``limit`` tokens under ``plan``; yields its pieces.

    ``answer_params`` (a structured-output constraint) apply to the answer phase only: thinking
    then stops at its end delimiter, and the answer is generated in a phase of its own.
    """
    progress = _Progress()
    # The answer keeps its reserve, and the forced end its room, whatever the thinking does.
    reserve = min(plan.answer_reserve, limit // 2)
    think_cap = max(0, limit - reserve - len(think.forced_end_ids))
    if plan.budget is not None:
        think_cap = min(plan.budget, think_cap)
    wrapup = encode(plan.wrapup_text) if plan.wrapup_text else []
    if len(wrapup) > think_cap:
        wrapup = []  # the budget wins over the wrap-up text
    extension = encode(plan.extension_text)

    def report() -> BudgetForcingReport:
        return BudgetForcingReport(
            thinking_budget=plan.budget,
            budget_source=plan.budget_source,
            min_thinking_tokens=plan.min_tokens,
            forced_end=progress.forced_end,
            extensions=progress.extensions,
        )

    for number in range(2 * plan.max_extensions + 5):  # each round trip moves a phase forward
        left = limit - len(progress.completion)
        phase = Phase.THINK if progress.thinking else Phase.ANSWER
        stop_early = False
        if phase is Phase.THINK:
            room = think_cap - len(wrapup) - len(progress.completion)
            if room <= 0:
                inserted = wrapup + think.forced_end_ids
                if len(inserted) > left:
                    break
                progress.completion += inserted
                progress.thinking = False
                progress.forced_end = True
                yield Piece((plan.wrapup_text if wrapup else "") + think.forced_end_text, inserted)
                continue
            phase_params = request_params(params)
            phase_params.max_tokens = min(room, left)
            stop_early = (
                len(progress.completion) < plan.min_tokens and progress.extensions < plan.max_extensions
            )
            if stop_early or answer_params is not None:
                phase_params.stop_token_ids = [*(params.stop_token_ids or []), think.end_id]
        elif left <= 0:
            break
        else:
            phase_params = request_params(answer_params or params)
            phase_params.max_tokens = left

        result = PhaseResult()
        ids = prompt_ids + progress.completion
        phase_pieces = _phase(
            generate, ids, phase_params, f"{request_id}-{number}", phase, think, stop_early, result
        )
        async for piece in phase_pieces:
            if progress.thinking and think.end_id in piece.token_ids:
                progress.thinking = False
            progress.completion += piece.token_ids
            yield piece

        if result.outcome is Outcome.CLOSED_EARLY:
            if len(progress.completion) + len(extension) > think_cap - len(wrapup):
                # No room left in the budget for an extension: the model's own end stands.
                progress.completion.append(think.end_id)
                progress.thinking = False
                yield Piece(think.end_text, [think.end_id])
                continue
            progress.completion += extension
            progress.extensions += 1
            yield Piece(plan.extension_text, extension)
            continue
        if result.outcome is Outcome.CLOSED:
            progress.thinking = False
            continue
        if result.outcome is Outcome.CAPPED:
            continue  # force the end, or answer on
        if progress.thinking and answer_params is not None and result.finish_reason == "stop":
            # The model stopped while thinking, but a constrained answer is owed (a schema, a
            # forced tool call): end the thinking for it, as a budget would.
            inserted = think.forced_end_ids
            if len(inserted) <= limit - len(progress.completion):
                progress.completion += inserted
                progress.thinking = False
                progress.forced_end = True
                yield Piece(think.forced_end_text, inserted)
                continue
        yield Piece("", [], finish_reason=result.finish_reason, report=report())
        return
    yield Piece("", [], finish_reason="length", report=report())


async def _phase(
    generate: Generate,
    prompt_ids: list[int],
    params: SamplingParams,
    request_id: str,
    phase: Phase,
    think: ThinkTokens,
    stop_early: bool,
    result: PhaseResult,
) -> AsyncIterator[Piece]:
    """One engine request; its pieces, and how it ended in ``result``. A stop at the end delimiter
    (asked for by ``stop_token_ids``) is an end of thinking, not of the choice."""
    async for output in generate(prompt_ids, params, request_id):
        delta = output.outputs[0]
        token_ids, text, logprobs = list(delta.token_ids), delta.text, delta.logprobs
        if delta.finish_reason is not None:
            result.finish_reason = delta.finish_reason
            if phase is Phase.THINK and delta.finish_reason == "length":
                # The thinking cap, not the request's limit (think phases stop short of it).
                result.outcome = Outcome.CAPPED
            elif delta.stop_reason == think.end_id and think.end_id in (params.stop_token_ids or []):
                if stop_early:
                    # Thinking ended before the minimum: hold the delimiter back, extend instead.
                    result.outcome = Outcome.CLOSED_EARLY
                    if token_ids and token_ids[-1] == think.end_id:
                        token_ids = token_ids[:-1]
                        logprobs = logprobs[:-1] if logprobs else logprobs
                    text = text.removesuffix(think.end_text)
                else:
                    # Keep the delimiter (vLLM may leave a stop token out of the text).
                    result.outcome = Outcome.CLOSED
                    if not token_ids or token_ids[-1] != think.end_id:
                        token_ids.append(think.end_id)
                    if not text.endswith(think.end_text):
                        text += think.end_text
        if token_ids or text:
            yield Piece(text, token_ids, logprobs)


async def run_plain(
    generate: Generate, prompt_ids: list[int], params: SamplingParams, request_id: str
) -> AsyncIterator[Piece]:
    """One phase, no thinking control: models that do not reason."""
    finish = None
    async for output in generate(prompt_ids, params, request_id):
        delta = output.outputs[0]
        finish = delta.finish_reason or finish
        if delta.token_ids or delta.text:
            yield Piece(delta.text, list(delta.token_ids), delta.logprobs)
    yield Piece("", [], finish_reason=finish)


async def merge_choices(
    make_choice: Callable[[int], AsyncIterator[Piece]], n: int
) -> AsyncIterator[tuple[int, Piece]]:
    """The items of ``n`` choices as they come, tagged with their index; each choice ends with an
    item whose ``finish_reason`` is set. Closing this cancels every choice (aborting its request)."""
    if n == 1:
        async for item in make_choice(0):
            yield 0, item
        return
    queue: asyncio.Queue[tuple[int, Piece] | BaseException] = asyncio.Queue()

    async def pump(index: int) -> None:
        try:
            async for item in make_choice(index):
                await queue.put((index, item))
        except Exception as exc:
            await queue.put(exc)

    tasks = [asyncio.create_task(pump(index)) for index in range(n)]
    try:
        finished = 0
        while finished < n:
            entry = await queue.get()
            if isinstance(entry, BaseException):
                raise entry
            finished += entry[1].finish_reason is not None
            yield entry
    finally:
        for task in tasks:
            task.cancel()
