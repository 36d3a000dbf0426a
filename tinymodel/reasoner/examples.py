"""Worked examples for ``quantize recover`` on the tiny reasoner: problems from the training generator with
their full solutions, none of them a toy-arith benchmark problem (compared by problem text)."""

from __future__ import annotations

import json
import random
from pathlib import Path

from tinymodel.reasoner.benchmark import DEFAULT_PATH as TOY_ARITH
from tinymodel.reasoner.problems import training_problem

# Neither the trainer's seed (1234) nor the benchmark's (20260).
EXAMPLES_SEED = 5452025


def write_worked_examples(out: Path, count: int, seed: int = EXAMPLES_SEED) -> int:
    """``count`` distinct problems with ``problem``, ``solution`` (trace, ``</think>``, boxed answer) and
    ``answer``; returns how many drawn problems were toy-arith ones and so skipped."""
    benchmark = {json.loads(line)["problem"] for line in TOY_ARITH.read_text().splitlines() if line.strip()}
    rng = random.Random(seed)
    lines: list[str] = []
    seen: set[str] = set()
    skipped = 0
    while len(lines) < count:
        problem = training_problem(rng)
        if problem.text in benchmark:
            skipped += 1
        elif problem.text not in seen:
            seen.add(problem.text)
            record = {"problem": problem.text, "solution": problem.completion, "answer": str(problem.answer)}
            lines.append(json.dumps(record) + "\n")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("".join(lines))
    return skipped
