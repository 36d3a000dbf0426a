"""Metrics of a run, with honest uncertainty.

- ``accuracy``: pass@1 averaged over every sample and seed (mean over problems of each problem's mean
  correctness). Its 95% interval is Wilson's when each problem has one sample, else a bootstrap over
  problems (samples of one problem are correlated; resampling problems keeps that).
- ``pass_at_k``: the unbiased estimator of Chen et al. (2021), 1 - C(n-c, k) / C(n, k), averaged.
- ``maj_at_k``: the most frequent extracted answer among a problem's first k samples (ties: first seen).
- Error samples (``correct is None``) are left out of every rate and counted apart.
"""

from __future__ import annotations

import math
import random
import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from pydantic import BaseModel, Field

from evalclient.records import SLICE_KEYS, SampleRecord, budget_order

Z95 = 1.959963984540054


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k from n samples of which c are correct."""
    if k > n:
        raise ValueError(f"pass@{k} needs at least {k} samples, got {n}")
    if n - c < k:
        return 1.0
    return 1.0 - math.prod((n - c - i) / (n - i) for i in range(k))


def wilson_interval(successes: float, total: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for a proportion (sound at 0%, 100% and small n)."""
    if total == 0:
        return (0.0, 0.0)
    p = successes / total
    denominator = 1 + z * z / total
    centre = (p + z * z / (2 * total)) / denominator
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / denominator
    return (max(0.0, centre - half), min(1.0, centre + half))


def bootstrap_interval(
    values: Sequence[float], resamples: int = 2000, seed: int = 0, level: float = 0.95
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of ``values``."""
    if not values:
        return (0.0, 0.0)
    rng = random.Random(seed)
    size = len(values)
    means = sorted(sum(rng.choices(values, k=size)) / size for _ in range(resamples))
    tail = (1 - level) / 2
    return (means[int(tail * (resamples - 1))], means[int((1 - tail) * (resamples - 1))])


def accuracy_interval(per_problem: Sequence[Sequence[bool]]) -> tuple[float, float, float]:
    """Mean accuracy over problems and its 95% interval (Wilson for one sample each, else bootstrap)."""
    if not per_problem:
        return (0.0, 0.0, 0.0)
    means = [sum(samples) / len(samples) for samples in per_problem]
    accuracy = sum(means) / len(means)
    if all(len(samples) == 1 for samples in per_problem) or len(set(means)) == 1:
        # One sample each, or every problem alike (a bootstrap would claim zero width): Wilson over problems.
        low, high = wilson_interval(sum(means), len(means))
    else:
        low, high = bootstrap_interval(means)
    return (accuracy, low, high)


def majority_correct(samples: Sequence[SampleRecord]) -> bool:
    votes = Counter(record.extracted for record in samples if record.extracted is not None)
    if not votes:
        return False
    top = max(votes.values())
    winner = next(
        record.extracted
        for record in samples
        if record.extracted is not None and votes[record.extracted] == top
    )
    return any(record.correct for record in samples if record.extracted == winner)


class Distribution(BaseModel):
    mean: float | None = None
    p50: float | None = None
    p90: float | None = None
    max: float | None = None

    @classmethod
    def of(cls, values: Iterable[float | int | None]) -> Distribution:
        present = sorted(float(value) for value in values if value is not None)
        if not present:
            return cls()
        return cls(
            mean=statistics.fmean(present),
            p50=present[len(present) // 2],
            p90=present[min(len(present) - 1, int(0.9 * len(present)))],
            max=present[-1],
        )


class GroupStats(BaseModel):
    """The metrics of one set of samples (a benchmark at one thinking budget, or a slice of it)."""

    problems: int
    samples: int
    errors: int
    accuracy: float | None
    ci_low: float | None
    ci_high: float | None
    per_seed: dict[str, float] = Field(default_factory=dict)
    seed_std: float | None = None
    pass_at_k: dict[str, float] = Field(default_factory=dict)
    maj_at_k: dict[str, float] = Field(default_factory=dict)
    truncation_rate: float | None = None
    empty_answer_rate: float | None = None
    reasoning_tokens: Distribution = Field(default_factory=Distribution)
    answer_tokens: Distribution = Field(default_factory=Distribution)
    completion_tokens: Distribution = Field(default_factory=Distribution)
    latency_s: Distribution = Field(default_factory=Distribution)
    ttft_s: Distribution = Field(default_factory=Distribution)


class BenchmarkResult(BaseModel):
    benchmark: str
    thinking_budget: int | None
    overall: GroupStats
    breakdown: dict[str, dict[str, GroupStats]] = Field(default_factory=dict)  # meta key -> value -> stats


class RunSummary(BaseModel):
    run: dict[str, Any]  # run.json
    results: list[BenchmarkResult]
    served_model: dict[str, Any] | None = None  # the endpoint's /v1/models card (served_model.json)
    error_messages: dict[str, int] = Field(default_factory=dict)  # error text -> count
    wall_s: float | None = None


def _ks(n: int) -> list[int]:
    ks, k = [], 1
    while k <= n:
        ks.append(k)
        k *= 2
    if n not in ks and n > 1:
        ks.append(n)
    return ks


def group_stats(records: Sequence[SampleRecord]) -> GroupStats:
    scored = [record for record in records if record.correct is not None]
    by_problem: dict[str, list[SampleRecord]] = defaultdict(list)
    for record in sorted(scored, key=lambda r: (r.seed if r.seed is not None else -1, r.sample_index)):
        by_problem[record.problem_id].append(record)
    per_problem = [[bool(record.correct) for record in samples] for samples in by_problem.values()]
    accuracy, low, high = accuracy_interval(per_problem) if per_problem else (None, None, None)
    by_seed: dict[str, list[bool]] = defaultdict(list)
    for record in scored:
        by_seed[str(record.seed)].append(bool(record.correct))
    per_seed = {seed: sum(values) / len(values) for seed, values in sorted(by_seed.items())}
    stats = GroupStats(
        problems=len({record.problem_id for record in records}),
        samples=len(records),
        errors=len(records) - len(scored),
        accuracy=accuracy,
        ci_low=low,
        ci_high=high,
        per_seed=per_seed,
        seed_std=statistics.stdev(per_seed.values()) if len(per_seed) > 1 else None,
    )
    if per_problem:
        fewest = min(len(samples) for samples in per_problem)
        for k in _ks(fewest):
            stats.pass_at_k[str(k)] = statistics.fmean(pass_at_k(len(s), sum(s), k) for s in per_problem)
            if k > 1:
                stats.maj_at_k[str(k)] = statistics.fmean(
                    majority_correct(samples[:k]) for samples in by_problem.values()
                )
        stats.truncation_rate = sum(r.finish_reason == "length" for r in scored) / len(scored)
        stats.empty_answer_rate = sum(not (r.answer or "").strip() for r in scored) / len(scored)
    stats.reasoning_tokens = Distribution.of(r.reasoning_tokens for r in scored)
    stats.answer_tokens = Distribution.of(r.answer_tokens for r in scored)
    stats.completion_tokens = Distribution.of(r.completion_tokens for r in scored)
    stats.latency_s = Distribution.of(r.latency_s for r in scored)
    stats.ttft_s = Distribution.of(r.ttft_s for r in scored)
    return stats


def summarize(
    run: dict[str, Any], records: Iterable[SampleRecord], wall_s: float | None = None
) -> RunSummary:
    groups: dict[tuple[str, int | None], list[SampleRecord]] = defaultdict(list)
    errors: Counter[str] = Counter()
    for record in records:
        groups[(record.benchmark, record.thinking_budget)].append(record)
        if record.error:
            errors[record.error[:200]] += 1
    results = []
    order = {name: index for index, name in enumerate(run.get("benchmarks", []))}
    for (benchmark, budget), members in sorted(
        groups.items(), key=lambda item: (order.get(item[0][0], 99), item[0][0], budget_order(item[0][1]))
    ):
        breakdown: dict[str, dict[str, GroupStats]] = {}
        for key in SLICE_KEYS:
            values: dict[str, list[SampleRecord]] = defaultdict(list)
            for record in members:
                if key in record.meta:
                    values[str(record.meta[key])].append(record)
            if len(values) > 1:
                breakdown[key] = {value: group_stats(values[value]) for value in sorted(values, key=_natural)}
        results.append(
            BenchmarkResult(
                benchmark=benchmark, thinking_budget=budget, overall=group_stats(members), breakdown=breakdown
            )
        )
    return RunSummary(run=run, results=results, error_messages=dict(errors.most_common(20)), wall_s=wall_s)


def _natural(value: str) -> tuple[int, float, str]:
    try:
        return (0, float(value), value)
    except ValueError:
        return (1, 0.0, value)
