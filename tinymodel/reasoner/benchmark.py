"""The held-out ``toy-arith`` benchmark: problems from a seed the trainer never uses, in three
difficulties; "hard" takes 4 steps, which make up only 1/7 of the training mix."""

from __future__ import annotations

import json
import os
import random
import tempfile
from pathlib import Path

from pydantic import BaseModel

from tinymodel.reasoner.problems import STEPS_BY_DIFFICULTY, Difficulty, Problem, random_problem

BENCHMARK_SEED = 20260  # the trainer draws from TrainConfig.data_seed (1234)
PROBLEMS_PER_DIFFICULTY = 80
DEFAULT_PATH = Path(__file__).resolve().parents[2] / "evalclient" / "data" / "toy-arith.jsonl"


class BenchmarkItem(BaseModel):
    """One line of the JSONL file, the shape ``evalclient --benchmark toy-arith`` reads."""

    id: str
    problem: str
    answer: str
    difficulty: Difficulty


def benchmark_problems(
    seed: int = BENCHMARK_SEED, per_difficulty: int = PROBLEMS_PER_DIFFICULTY
) -> list[tuple[BenchmarkItem, Problem]]:
    rng = random.Random(seed)
    items = []
    for difficulty, num_steps in STEPS_BY_DIFFICULTY.items():
        for index in range(per_difficulty):
            problem = random_problem(rng, num_steps)
            item = BenchmarkItem(
                id=f"toy-arith-{difficulty}-{index:03d}",
                problem=problem.text,
                answer=str(problem.answer),
                difficulty=difficulty,
            )
            items.append((item, problem))
    return items


def benchmark_jsonl(seed: int = BENCHMARK_SEED, per_difficulty: int = PROBLEMS_PER_DIFFICULTY) -> str:
    return "".join(item.model_dump_json() + "\n" for item, _ in benchmark_problems(seed, per_difficulty))


def write_benchmark(path: Path = DEFAULT_PATH) -> Path:
    """Write the benchmark atomically (temp file in the same directory, then rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, staging = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(benchmark_jsonl())
        os.replace(staging, path)
    except BaseException:
        Path(staging).unlink(missing_ok=True)
        raise
    return path


def read_benchmark(path: Path = DEFAULT_PATH) -> list[BenchmarkItem]:
    return [BenchmarkItem(**json.loads(line)) for line in path.read_text().splitlines() if line.strip()]
