"""Toy-arith traces with one error injected at a known step, and the verdict it must get.

Built on the tiny reasoner's own trace writer (``tinymodel.reasoner.problems``), independent of the
rules judge's re-derivation. After the injected step the trace goes on *correctly from the wrong
value*, as a model does, so only the first faulty step is wrong given what precedes it.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from tinymodel.reasoner.problems import Operation, Problem, Step, apply, boxed, step_trace

KINDS = (
    "wrong_digit",  # one column's digit wrong (computation)
    "dropped_carry",  # a carry or borrow never written nor added (computation)
    "wrong_operand",  # the step's number copied wrong from the problem (comprehension)
    "wrong_start",  # the start value copied wrong (comprehension, step 0)
    "wrong_operation",  # + for -, - for +, + for * (comprehension)
    "skipped_step",  # a step of the problem left out (planning)
    "extra_step",  # a step worked twice (planning)
    "cut_off",  # the trace stops inside a step (planning)
    "answer_mismatch",  # exact trace, another final answer (answer)
    "missing_answer",  # exact trace, no final answer (answer)
)
CATEGORY = {
    "wrong_digit": "computation",
    "dropped_carry": "computation",
    "wrong_operand": "comprehension",
    "wrong_start": "comprehension",
    "wrong_operation": "comprehension",
    "skipped_step": "planning",
    "extra_step": "planning",
    "cut_off": "planning",
    "answer_mismatch": "answer",
    "missing_answer": "answer",
}


@dataclass(frozen=True)
class Injected:
    problem: Problem
    kind: str
    reasoning: str
    answer: str
    first_faulty_step: int

    @property
    def category(self) -> str:
        return CATEGORY[self.kind]


def _digits(number: int, width: int) -> list[int]:
    return [(number // 10**i) % 10 for i in range(width)]


def _dropped_carry_line(value: int, step: Step, column: int) -> tuple[str, int] | None:
    """The step with the carry (borrow) out of ``column`` neither written nor added."""
    a, b = value, step.operand
    if step.op == "*":
        pairs = [(d, b) for d in _digits(a, len(str(a)))]
    elif step.op == "+":
        width = max(len(str(a)), len(str(b)))
        pairs = list(zip(_digits(a, width), _digits(b, width), strict=True))
    else:
        pairs = list(zip(_digits(a, len(str(a))), _digits(b, len(str(a))), strict=True))
    if column >= len(pairs) - 1:
        return None  # the carry out of the top column has no next column to be dropped from
    texts, digits, carry, dropped = [], [], 0, False
    for index, (x, y) in enumerate(pairs):
        if step.op == "+":
            total, expr = x + y + carry, f"{x}+{y}" + ("+1" if carry else "")
            out, mark = total // 10, "c1"
        elif step.op == "-":
            total, expr = x - y - carry, f"{x}-{y}" + ("-1" if carry else "")
            out, mark = (1 if total < 0 else 0), "b1"
        else:
            total, expr = x * y + carry, f"{x}*{y}" + (f"+{carry}" if carry else "")
            out, mark = total // 10, f"c{total // 10}"
        if index == column:
            if not out:
                return None
            out, dropped = 0, True
        digits.append(total % 10)
        texts.append(f"{expr}={total % 10}" + (mark if out else ""))
        carry = out
    if step.op == "-" and carry:
        return None
    result = sum(d * 10**i for i, d in enumerate(digits)) + (
        carry * 10 ** len(digits) if step.op != "-" else 0
    )
    assert dropped
    return f"{a}{step.op}{b}: {' '.join(texts)} ={result}", result


def _continue(value: int, steps: tuple[Step, ...]) -> list[str] | None:
    lines = []
    for step in steps:
        if value < 0 or (step.op == "-" and value < step.operand):
            return None
        lines.append(step_trace(value, step))
        value = apply(value, step)
    return lines


def _finish(problem: Problem, kind: str, lines: list[str] | None, index: int) -> Injected | None:
    if lines is None:
        return None
    final = int(lines[-1].rpartition(" =")[2]) if lines else problem.start
    if final < 0:
        return None
    return Injected(problem, kind, "".join(f"{line}\n" for line in lines), boxed(final), index)


def inject(problem: Problem, kind: str, at: int, rng: random.Random) -> Injected | None:
    """``problem``'s trace with a ``kind`` error at step ``at``; None where that error cannot happen there."""
    steps, values, good = problem.steps, problem.values, problem.trace_lines
    if len({(s.op, s.operand) for s in steps}) != len(steps):
        return None  # a repeated step makes "skipped" and "repeated" ambiguous
    if not 0 <= at < len(steps):
        return None
    value, step = values[at], steps[at]
    before, after = good[:at], steps[at + 1 :]
    if kind == "wrong_digit":
        line = good[at]
        head, _, rest = line.partition(": ")
        body, _, result = rest.rpartition(" =")
        cells = body.split(" ")
        column = rng.randrange(len(cells))
        expr, _, out = cells[column].partition("=")
        digit = int(out[0])
        new_digit = (digit + rng.randint(1, 9)) % 10
        new_result = int(result) + (new_digit - digit) * 10**column
        cells[column] = f"{expr}={new_digit}{out[1:]}"
        tail = _continue(new_result, after)
        if tail is None or new_result < 0:
            return None
        return _finish(problem, kind, [*before, f"{head}: {' '.join(cells)} ={new_result}", *tail], at)
    if kind == "dropped_carry":
        made = _dropped_carry_line(value, step, rng.randrange(max(1, len(str(value)))))
        if made is None:
            return None
        dropped_line, dropped_result = made
        tail = _continue(dropped_result, after)
        return _finish(problem, kind, None if tail is None else [*before, dropped_line, *tail], at)
    if kind in ("wrong_operand", "wrong_operation"):
        if kind == "wrong_operand":
            if step.op == "*":
                operand = rng.choice([d for d in range(2, 10) if d != step.operand])
            else:
                operand = step.operand + rng.choice([-1, 1]) * 10 ** rng.randrange(len(str(step.operand)))
            wrong = Step(step.op, operand)
        else:
            swapped: dict[str, Operation] = {"+": "-", "-": "+", "*": "+"}
            wrong = Step(swapped[step.op], step.operand)
        if wrong.operand < 1 or any((s.op, s.operand) == (wrong.op, wrong.operand) for s in steps):
            return None
        if wrong.op == "-" and value < wrong.operand:
            return None
        tail = _continue(apply(value, wrong), after)
        return _finish(
            problem, kind, None if tail is None else [*before, step_trace(value, wrong), *tail], at
        )
    if kind == "wrong_start":
        if at != 0:
            return None
        start = problem.start + rng.choice([-1, 1]) * 10 ** rng.randrange(len(str(problem.start)))
        if start < 1:
            return None
        return _finish(problem, kind, _continue(start, steps), 0)
    if kind == "skipped_step":
        return _finish(problem, kind, None if (t := _continue(value, after)) is None else [*before, *t], at)
    if kind == "extra_step":
        tail = _continue(value, (step, step, *after))
        return _finish(problem, kind, None if tail is None else [*before, *tail], at + 1)
    if kind == "cut_off":  # anywhere after the header: inside a column, before or inside the result
        line = good[at][: rng.randint(len(f"{value}{step.op}{step.operand}:"), len(good[at]) - 1)]
        return Injected(
            problem, kind, "".join(f"{x}\n" for x in [*before, line]), boxed(rng.randint(10, 999)), at
        )
    if kind in ("answer_mismatch", "missing_answer"):
        if at != len(steps) - 1:
            return None
        answer = boxed(problem.answer + rng.randint(1, 9)) if kind == "answer_mismatch" else ""
        return Injected(problem, kind, problem.trace, answer, len(steps))
    raise ValueError(f"unknown kind {kind!r}")
