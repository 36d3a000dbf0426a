"""What a run reads and writes: problems, scores, per-sample records, the run configuration.

``Problem`` and ``Score`` are the benchmark contract (see ``evalclient.benchmarks.base``); the files a run
is kept in are ``evalclient.rundir``'s.
"""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class Problem(BaseModel):
    """One question of a benchmark, ready to send."""

    model_config = ConfigDict(frozen=True)

    id: str
    prompt: str  # the user message
    gold: str
    meta: dict[str, str | int] = {}


class Score(BaseModel):
    """A scorer's verdict on one response."""

    extracted: str | None
    correct: bool
    detail: str | None = None


SampleKey = tuple[str, str, int | None, int | None, int]

# ``thinking_budget`` values: N tokens; UNLIMITED_BUDGET (-1, sent as is: no limit, whatever the server's
# default); SERVER_DEFAULT_BUDGET (None: no budget sent, the server's own default applies).
UNLIMITED_BUDGET = -1
SERVER_DEFAULT_BUDGET = None

# Problem meta keys worth slicing results by, in report order; others (ids, dates, urls) are not.
SLICE_KEYS = (
    "subject",
    "level",
    "difficulty",
    "platform",
    "testtype",
    "subset",
    "category",
    "subdomain",
    "release",
    "contest_month",
)


def budget_label(budget: int | None) -> str:
    """How a thinking budget is shown in reports and plots (and spelt on ``--thinking-budget``)."""
    if budget is SERVER_DEFAULT_BUDGET:
        return "default"
    return "unlimited" if budget == UNLIMITED_BUDGET else str(budget)


def budget_order(budget: int | None) -> float:
    """Sort key of a thinking budget: by size, unlimited and the server's default last."""
    return math.inf if budget is SERVER_DEFAULT_BUDGET or budget == UNLIMITED_BUDGET else budget


class SampleRecord(BaseModel):
    """One line of ``samples.jsonl``: one sampled response to one problem, scored (or failed)."""

    benchmark: str  # Benchmark.key, e.g. "math500" or "livecodebench:v4_v5"
    problem_id: str
    sample_index: int  # 0..n-1 within (problem, seed, budget)
    seed: int | None
    model: str
    endpoint: str
    request: dict[str, Any]  # the request body as sent (messages included)
    reasoning: str | None  # the reasoning field, or the text before the think end delimiter
    answer: str | None  # the text after reasoning: what is scored by default
    extracted: str | None
    correct: bool | None  # None = error (see ``error``), never counted as wrong
    error: str | None = None
    detail: str | None = None  # the scorer's note
    reasoning_tokens: int | None = None
    answer_tokens: int | None = None
    completion_tokens: int | None = None
    prompt_tokens: int | None = None
    finish_reason: str | None = None
    latency_s: float | None = None
    ttft_s: float | None = None  # time to the first streamed token; None when not streamed
    thinking_budget: int | None = None  # -1 = unlimited; None = none sent (the server's default)
    meta: dict[str, str | int] = Field(default_factory=dict)  # the problem's meta
    budget_forcing: dict[str, Any] | None = None  # the server's per-choice report, when it sends one
    attempts: int = 1  # HTTP attempts it took (retries + 1)

    @property
    def key(self) -> SampleKey:
        return (self.benchmark, self.problem_id, self.thinking_budget, self.seed, self.sample_index)


class SamplingConfig(BaseModel):
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None  # None = each benchmark's default
    n: int = 1  # samples per (problem, seed, budget)
    seeds: list[int | None] = Field(default_factory=lambda: list[int | None]([42]))


class RunConfig(BaseModel):
    """``run.json``: everything needed to reproduce (or resume) the run."""

    endpoint: str
    model: str
    benchmarks: list[str]  # Benchmark.key values
    benchmark_settings: dict[str, dict[str, Any]] = Field(default_factory=dict)
    protocol: str | None
    sampling: SamplingConfig
    thinking_budgets: list[int | None] = Field(
        default_factory=lambda: list[int | None]([SERVER_DEFAULT_BUDGET])
    )
    budget_field: str = "thinking_token_budget"  # request field the budget goes in
    score_on: Literal["answer", "full"] = "answer"
    think_format: str = (
        "deepseek-r1"  # reasoning_formats name used when the endpoint sends no reasoning field
    )
    data_dir: str | None = None
    limit: int | None = None  # N problems per benchmark, evenly spread (smoke runs)
    evalclient_version: str = "0.1.0"
