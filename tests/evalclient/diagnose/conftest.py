"""Run directories for diagnose tests, written through the runner's own record types."""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path

import pytest

from evalclient.records import RunConfig, SampleRecord, SamplingConfig
from evalclient.rundir import RUN_FILE, SAMPLES_FILE
from tests.evalclient.diagnose.injection import KINDS, Injected, inject
from tinymodel.reasoner.benchmark import benchmark_problems
from tinymodel.reasoner.problems import Problem

MakeRun = Callable[[str, list[tuple[Problem, str, str, bool]]], Path]


def injected_cases(count: int, seed: int = 7) -> list[Injected]:
    """``count`` injected failures of toy-arith benchmark problems, cycling through every kind."""
    rng = random.Random(seed)
    cases: list[Injected] = []
    problems = [problem for _, problem in benchmark_problems()]
    index = 0
    while len(cases) < count:
        problem = problems[index % len(problems)]
        kind = KINDS[index % len(KINDS)]
        case = inject(problem, kind, rng.randrange(len(problem.steps)), rng)
        if case is not None:
            cases.append(case)
        index += 1
    return cases


def write_run(
    path: Path, samples: list[tuple[Problem, str, str, bool]], benchmark: str = "toy-arith"
) -> Path:
    """A run directory: one sample per (problem, reasoning, answer, correct)."""
    path.mkdir(parents=True)
    config = RunConfig(
        endpoint="http://stub/v1",
        model="tiny",
        benchmarks=[benchmark],
        protocol=None,
        sampling=SamplingConfig(),
    )
    (path / RUN_FILE).write_text(config.model_dump_json())
    with (path / SAMPLES_FILE).open("w") as sink:
        for index, (problem, reasoning, answer, correct) in enumerate(samples):
            record = SampleRecord(
                benchmark=benchmark,
                problem_id=f"p{index:03d}",
                sample_index=0,
                seed=42,
                model="tiny",
                endpoint="http://stub/v1",
                request={"model": "tiny", "messages": [{"role": "user", "content": problem.text}]},
                reasoning=reasoning,
                answer=answer,
                extracted=None,
                correct=correct,
                meta={"difficulty": ("easy", "medium", "hard")[len(problem.steps) % 3]},
            )
            sink.write(record.model_dump_json() + "\n")
    return path


@pytest.fixture
def make_run(tmp_path: Path) -> MakeRun:
    return lambda name, samples: write_run(tmp_path / name, samples)
