"""Budget forcing: bounding a choice's thinking by running its generation in phases.

A phase is one engine request whose prompt is the chat prompt plus everything the choice has
produced so far; vLLM's prefix cache makes that continuation cheap (no re-prefill of the prompt).
A choice moves through at most these phases:

- thinking, capped at the budget (minus the wrap-up text) and at ``limit`` less the answer
  reserve and the forced end; while the minimum is not reached, the end-of-thinking token is a
  stop token: when the model emits it early it is dropped and the extension text ("Wait", as in
  s1) is appended instead, where the budget has room for it;
- a forced end when the cap is hit: wrap-up text, the end delimiter and a blank line are appended;
- the answer, with whatever remains of ``limit``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from server.protocol import BudgetForcingReport
from server.thinking import ThinkingPlan

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
) -> AsyncIterator[Piece]:
    """Generate one choice of at most ``limit`` tokens under ``plan``; yields its pieces."""
    report = BudgetForcingReport(
        thinking_budget=plan.budget, budget_source=plan.budget_source, min_thinking_tokens=plan.min_tokens
    )
    completion: list[int] = []  # generated and inserted tokens; while thinking, all are reasoning
    thinking = True
    # The answer keeps its reserve, and the forced end its room, whatever the thinking does.
    reserve = min(plan.answer_reserve, limit // 2)
    think_cap = max(0, limit - reserve - len(think.forced_end_ids))
    if plan.budget is not None:
        think_cap = min(plan.budget, think_cap)
    wrapup = encode(plan.wrapup_text) if plan.wrapup_text else []
    if len(wrapup) > think_cap:
        wrapup = []  # the budget wins over the wrap-up text
    extension = encode(plan.extension_text)

    for phase in range(2 * plan.max_extensions + 4):  # each round trip moves a phase forward
        left = limit - len(completion)
        phase_params = params.clone()
        stop_at_end = False
        if thinking:
            room = think_cap - len(wrapup) - len(completion)
            if room <= 0:
                inserted = wrapup + think.forced_end_ids
                if len(inserted) > left:
                    break
                text = (plan.wrapup_text if wrapup else "") + think.forced_end_text
                completion += inserted
                thinking = False
                report.forced_end = True
                yield Piece(text, inserted)
                continue
            phase_params.max_tokens = min(room, left)
            stop_at_end = len(completion) < plan.min_tokens and report.extensions < plan.max_extensions
            if stop_at_end:
                phase_params.stop_token_ids = [*(params.stop_token_ids or []), think.end_id]
        else:
            if left <= 0:
                break
            phase_params.max_tokens = left

        was_thinking = thinking
        finish: str | None = None
        async for output in generate(prompt_ids + completion, phase_params, f"{request_id}-{phase}"):
            delta = output.outputs[0]
            token_ids, text, logprobs = list(delta.token_ids), delta.text, delta.logprobs
            if delta.finish_reason is not None:
                finish = delta.finish_reason
                if stop_at_end and delta.stop_reason == think.end_id:
                    # Thinking ended before the minimum: hold the delimiter back, extend instead.
                    finish = "extend"
                    if token_ids and token_ids[-1] == think.end_id:
                        token_ids = token_ids[:-1]
                        logprobs = logprobs[:-1] if logprobs else logprobs
                    text = text.removesuffix(think.end_text)
            if thinking and think.end_id in token_ids:
                thinking = False
            completion += token_ids
            if token_ids or text:
                yield Piece(text, token_ids, logprobs)

        if finish == "extend":
            if len(completion) + len(extension) > think_cap - len(wrapup):
                # No room left in the budget for an extension: the model's own end stands.
                completion.append(think.end_id)
                thinking = False
                yield Piece(think.end_text, [think.end_id])
                continue
            completion += extension
            report.extensions += 1
            yield Piece(plan.extension_text, extension)
            continue
        if finish == "length" and was_thinking:
            continue  # the thinking cap, not the request's limit: force the end or answer on
        yield Piece("", [], finish_reason=finish, report=report)
        return
    yield Piece("", [], finish_reason="length", report=report)


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
