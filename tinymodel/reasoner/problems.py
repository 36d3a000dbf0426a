"""Synthetic arithmetic word problems with digit-level reasoning traces.

A problem starts from a number and applies a few operations to it (add, subtract, multiply by one
digit), told as a short word problem. Its trace works each operation column by column, least
significant digit first, with carries (c) and borrows (b) written out, one line per operation:

    47+38: 7+8=5c1 4+3+1=8 =85
    85-19: 5-9=6b1 8-1-1=6 =66
    66*3: 6*3=8c1 6*3+1=9c1 =198

A character-level model this small cannot add multi-digit numbers in one step, but it can do one
column per step; so without the trace (a thinking budget of 0) it can only guess.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Literal

Operation = Literal["+", "-", "*"]
Difficulty = Literal["easy", "medium", "hard"]

NAMES = ("Ann", "Bob", "Eve", "Tom", "Max", "Sue")
ITEMS = ("coins", "apples", "cards", "books")
# Kept under five digits so traces stay short; multiplication is skipped when it would overflow.
MAX_VALUE = 9999
START_MAX = 999
OPERAND_MAX = 999

# Steps per problem. "hard" benchmark problems take 4 steps, which are rare in the training mix.
STEPS_BY_DIFFICULTY: dict[Difficulty, int] = {"easy": 2, "medium": 3, "hard": 4}
TRAIN_STEP_WEIGHTS = {1: 1, 2: 2, 3: 3, 4: 1}


@dataclass(frozen=True)
class Step:
    op: Operation
    operand: int


@dataclass(frozen=True)
class Problem:
    start: int
    steps: tuple[Step, ...]
    name: str
    item: str

    @property
    def text(self) -> str:
        phrases = [_phrase(step) for step in self.steps]
        actions = phrases[0] if len(phrases) == 1 else ", ".join(phrases[:-1]) + ", then " + phrases[-1]
        return f"{self.name} has {self.start} {self.item}, {actions}. How many now?"

    @property
    def values(self) -> list[int]:
        """The running value before the first step and after each step."""
        values = [self.start]
        for step in self.steps:
            values.append(apply(values[-1], step))
        return values

    @property
    def answer(self) -> int:
        return self.values[-1]

    @property
    def trace_lines(self) -> list[str]:
        return [step_trace(value, step) for value, step in zip(self.values, self.steps, strict=False)]

    @property
    def trace(self) -> str:
        """The thinking: what follows the template's ``<think>\\n`` and precedes ``</think>``."""
        return "".join(line + "\n" for line in self.trace_lines)

    @property
    def completion(self) -> str:
        """Everything the model generates after the generation prompt (without the EOS token)."""
        return f"{self.trace}</think>\n\n{boxed(self.answer)}"


def boxed(answer: int) -> str:
    return "\\boxed{" + str(answer) + "}"


def _phrase(step: Step) -> str:
    if step.op == "+":
        return f"gets {step.operand} more"
    if step.op == "-":
        return f"loses {step.operand}"
    return f"multiplies them by {step.operand}"


def apply(value: int, step: Step) -> int:
    if step.op == "+":
        return value + step.operand
    if step.op == "-":
        return value - step.operand
    return value * step.operand


def _digits(number: int, width: int) -> list[int]:
    """Least significant digit first, zero-padded to ``width``."""
    return [(number // 10**i) % 10 for i in range(width)]


def step_trace(value: int, step: Step) -> str:
    """One operation worked column by column, e.g. ``47+38: 7+8=5c1 4+3+1=8 =85``."""
    a, b = value, step.operand
    columns: list[str] = []
    carry = 0
    if step.op == "+":
        width = max(len(str(a)), len(str(b)))
        for da, db in zip(_digits(a, width), _digits(b, width), strict=True):
            total = da + db + carry
            expr = f"{da}+{db}" + ("+1" if carry else "")
            carry = total // 10
            columns.append(f"{expr}={total % 10}" + ("c1" if carry else ""))
    elif step.op == "-":
        width = len(str(a))
        for da, db in zip(_digits(a, width), _digits(b, width), strict=True):
            diff = da - db - carry
            expr = f"{da}-{db}" + ("-1" if carry else "")
            carry = 1 if diff < 0 else 0
            columns.append(f"{expr}={diff % 10}" + ("b1" if carry else ""))
    else:
        for da in _digits(a, len(str(a))):
            total = da * b + carry
            expr = f"{da}*{b}" + (f"+{carry}" if carry else "")
            carry = total // 10
            columns.append(f"{expr}={total % 10}" + (f"c{carry}" if carry else ""))
    return f"{a}{step.op}{b}: {' '.join(columns)} ={apply(a, step)}"


def random_problem(rng: random.Random, num_steps: int) -> Problem:
    start = rng.randint(10, START_MAX)
    value = start
    steps: list[Step] = []
    for _ in range(num_steps):
        choices: list[Operation] = []
        if value + 10 <= MAX_VALUE:
            choices.append("+")
        if value >= 10:
            choices.append("-")
        if 1 <= value <= MAX_VALUE // 2:
            choices.append("*")
        op = rng.choice(choices)
        if op == "+":
            operand = rng.randint(10, min(OPERAND_MAX, MAX_VALUE - value))
        elif op == "-":
            operand = rng.randint(1, min(OPERAND_MAX, value))
        else:
            operand = rng.randint(2, min(9, MAX_VALUE // value))
        step = Step(op, operand)
        steps.append(step)
        value = apply(value, step)
    return Problem(start, tuple(steps), rng.choice(NAMES), rng.choice(ITEMS))


def training_problem(rng: random.Random) -> Problem:
    num_steps = rng.choices(list(TRAIN_STEP_WEIGHTS), weights=list(TRAIN_STEP_WEIGHTS.values()))[0]
    return random_problem(rng, num_steps)
