"""The run: ask every (benchmark, thinking budget, seed, problem, sample) once, score, append, resume.

``C`` worker coroutines pull work from one queue, so exactly ``--concurrency`` requests stay in flight
until the queue drains. Each finished sample is appended to ``samples.jsonl`` and flushed before the
next is taken; a rerun skips every key already there with a verdict (errors are asked again).
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from evalclient.benchmarks.base import Benchmark
from evalclient.client import ChatClient, Completion, RequestFailedError
from evalclient.records import Problem, RunConfig, SampleKey, SampleRecord, Score
from evalclient.rundir import RunDirectory
from evalclient.scorer_pool import ScoringPool, ScoringTimeoutError
from reasoning_formats import ThinkFormat, get_think_format, split_reasoning


@dataclass(frozen=True)
class WorkItem:
    benchmark: Benchmark
    problem: Problem
    thinking_budget: int | None
    seed: int | None
    sample_index: int

    @property
    def key(self) -> SampleKey:
        return (self.benchmark.key, self.problem.id, self.thinking_budget, self.seed, self.sample_index)


def build_request(config: RunConfig, item: WorkItem) -> dict[str, Any]:
    sampling = config.sampling
    body: dict[str, Any] = {
        "model": config.model,
        "messages": [{"role": "user", "content": item.problem.prompt}],
    }
    if sampling.temperature is not None:
        body["temperature"] = sampling.temperature
    if sampling.top_p is not None:
        body["top_p"] = sampling.top_p
    max_tokens = sampling.max_tokens or item.benchmark.max_tokens
    if max_tokens is not None:
        body["max_tokens"] = max_tokens
    if item.seed is not None:
        # Sample i of a seed samples with seed + i, as the server does for choice i of an n > 1 request.
        body["seed"] = item.seed + item.sample_index
    if item.thinking_budget is not None:
        body[config.budget_field] = item.thinking_budget
    return body


def split_completion(completion: Completion, fmt: ThinkFormat) -> tuple[str | None, str]:
    """(reasoning, answer): the endpoint's reasoning field when it sent one, else split on delimiters."""
    if completion.reasoning is not None:
        return completion.reasoning, completion.content
    text = completion.content
    if fmt.end in text or text.lstrip().startswith(fmt.start):
        return split_reasoning(text, fmt)
    return None, text  # no delimiters at all: the model did not reason visibly


class Runner:
    def __init__(
        self,
        config: RunConfig,
        run_dir: RunDirectory,
        client: ChatClient,
        concurrency: int,
        scoring: ScoringPool,
        on_record: Callable[[SampleRecord], None] | None = None,
    ) -> None:
        self.config = config
        self.run_dir = run_dir
        self.client = client
        self.concurrency = concurrency
        self.scoring = scoring
        self.on_record = on_record
        self.think_format = get_think_format(config.think_format)
        self.in_flight = 0
        self.peak_in_flight = 0
        self._scores: dict[
            tuple[str, str, bytes], Score
        ] = {}  # scoring is a pure function of (problem, text)
        self._in_flight_area = 0.0  # integral of in-flight requests over time, for the mean
        self._last_change = time.perf_counter()
        self._started = self._last_change

    def _track(self, delta: int) -> None:
        now = time.perf_counter()
        self._in_flight_area += self.in_flight * (now - self._last_change)
        self._last_change = now
        self.in_flight += delta
        self.peak_in_flight = max(self.peak_in_flight, self.in_flight)

    @property
    def mean_in_flight(self) -> float:
        """Time-weighted mean of requests in flight since the runner was made."""
        elapsed = self._last_change - self._started
        return self._in_flight_area / elapsed if elapsed > 0 else 0.0

    def pending(self, work: list[WorkItem], done: dict[SampleKey, SampleRecord]) -> list[WorkItem]:
        return [item for item in work if item.key not in done or done[item.key].correct is None]

    async def run(self, work: list[WorkItem]) -> None:
        self._started = self._last_change = time.perf_counter()
        self._in_flight_area = 0.0
        queue: asyncio.Queue[WorkItem] = asyncio.Queue()
        for item in work:
            queue.put_nowait(item)
        with self.run_dir.appending() as sink:

            async def worker() -> None:
                while True:
                    try:
                        item = queue.get_nowait()
                    except asyncio.QueueEmpty:
                        return
                    record = await self.sample(item)
                    sink.write(record)
                    if self.on_record is not None:
                        self.on_record(record)

            await asyncio.gather(*(worker() for _ in range(max(1, min(self.concurrency, len(work))))))

    async def sample(self, item: WorkItem) -> SampleRecord:
        request = build_request(self.config, item)
        record = SampleRecord(
            benchmark=item.benchmark.key,
            problem_id=item.problem.id,
            sample_index=item.sample_index,
            seed=item.seed,
            model=self.config.model,
            endpoint=self.config.endpoint,
            request=request,
            reasoning=None,
            answer=None,
            extracted=None,
            correct=None,
            thinking_budget=item.thinking_budget,
            meta=dict(item.problem.meta),
        )
        self._track(+1)
        try:
            completion = await self.client.complete(request)
        except RequestFailedError as exc:
            record.error, record.attempts = str(exc), exc.attempts
            return record
        finally:
            self._track(-1)
        reasoning, answer = split_completion(completion, self.think_format)
        record.reasoning, record.answer = reasoning, answer
        record.finish_reason = completion.finish_reason
        record.prompt_tokens, record.completion_tokens = (
            completion.prompt_tokens,
            completion.completion_tokens,
        )
        record.reasoning_tokens = completion.reasoning_tokens
        if completion.completion_tokens is not None:
            record.answer_tokens = completion.completion_tokens - (completion.reasoning_tokens or 0)
        record.latency_s, record.ttft_s = completion.latency_s, completion.ttft_s
        record.budget_forcing, record.attempts = completion.budget_forcing, completion.attempts
        text = answer if self.config.score_on == "answer" else f"{reasoning or ''}\n{answer}"
        try:
            score = await self.score(item, text)
        except ScoringTimeoutError as exc:
            record.error = f"scoring failed: {exc}"
            return record
        except Exception as exc:  # a scorer bug must not end the run; it is recorded and reported
            record.error = f"scoring failed: {type(exc).__name__}: {exc}"
            return record
        record.extracted, record.correct, record.detail = score.extracted, score.correct, score.detail
        return record

    async def score(self, item: WorkItem, text: str) -> Score:
        """The benchmark's cheap verdict when certain, else its scorer in a worker; once per distinct text."""
        cache_key = (
            item.benchmark.key,
            item.problem.id,
            hashlib.blake2b(text.encode(), digest_size=16).digest(),
        )
        cached = self._scores.get(cache_key)
        if cached is not None:
            return cached
        score = item.benchmark.prescore(text, item.problem) if item.benchmark.prescore else None
        if score is None:
            score = await self.scoring.score(
                item.benchmark.score, text, item.problem, item.benchmark.score_timeout_s
            )
        self._scores[cache_key] = score
        return score


def plan(
    config: RunConfig, benchmarks: list[Benchmark], problems: dict[str, list[Problem]]
) -> list[WorkItem]:
    """Every sample of the run, budget-major so a partial run already has whole budgets."""
    work = []
    for budget in config.thinking_budgets:
        for benchmark in benchmarks:
            for seed in config.sampling.seeds:
                for problem in problems[benchmark.key]:
                    for index in range(config.sampling.n):
                        work.append(WorkItem(benchmark, problem, budget, seed, index))
    return work
