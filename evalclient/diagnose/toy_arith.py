"""The ``rules`` judge for toy-arith: re-derive every step of the tiny reasoner's trace exactly.

The problem text ("Eve has 957 apples, loses 297, then gets 855 more. How many now?") gives the start
value and the operations; each trace line works one operation column by column, least significant
digit first (``47+38: 7+8=5c1 4+3+1=8 =85``; see ``tinymodel.reasoner.problems``). Each line is checked
against the model's own previous result, so the first faulty step is the first line that is wrong given
what came before it, ProcessBench's definition. The arithmetic is re-done here, independently of the
generator that wrote the training traces.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from evalclient.diagnose.rows import Verdict
from evalclient.diagnose.steps import Steps
from evalclient.errors import EvalclientError
from reasoning_formats import last_boxed

_PROBLEM = re.compile(r"^\w+ has (?P<start>\d+) \w+, (?P<actions>.+)\. How many now\?$")
_ACTION = re.compile(
    r"^(?:then )?(?:gets (?P<add>\d+) more|loses (?P<sub>\d+)|multiplies them by (?P<mul>\d+))$"
)
_HEADER = re.compile(r"^(?P<a>\d+)(?P<op>[+\-*])(?P<b>\d+):")


class NotToyArithError(EvalclientError):
    """The problem text is not a toy-arith word problem."""


@dataclass(frozen=True)
class Operation:
    op: str  # "+", "-" or "*"
    operand: int

    def apply(self, value: int) -> int:
        if self.op == "+":
            return value + self.operand
        if self.op == "-":
            return value - self.operand
        return value * self.operand

    def __str__(self) -> str:
        return f"{self.op}{self.operand}"


@dataclass(frozen=True)
class WordProblem:
    start: int
    operations: tuple[Operation, ...]


def parse_problem(text: str) -> WordProblem:
    match = _PROBLEM.match(text.strip().splitlines()[0].strip() if text.strip() else "")
    if match is None:
        raise NotToyArithError(f"not a toy-arith problem: {text[:80]!r}")
    operations = []
    for phrase in match["actions"].split(", "):
        action = _ACTION.match(phrase.strip())
        if action is None:
            raise NotToyArithError(f"unknown operation {phrase!r} in {text[:80]!r}")
        op = "+" if action["add"] else "-" if action["sub"] else "*"
        operations.append(Operation(op, int(action["add"] or action["sub"] or action["mul"])))
    return WordProblem(int(match["start"]), tuple(operations))


def _digits(number: int, width: int) -> list[int]:
    return [(number // 10**i) % 10 for i in range(width)]


def columns(value: int, operation: Operation) -> list[str]:
    """The columns of one worked operation, exactly as the trace writes them."""
    a, b, carry, out = value, operation.operand, 0, []
    if operation.op == "+":
        width = max(len(str(a)), len(str(b)))
        for da, db in zip(_digits(a, width), _digits(b, width), strict=True):
            total = da + db + carry
            expression = f"{da}+{db}" + ("+1" if carry else "")
            carry = total // 10
            out.append(f"{expression}={total % 10}" + ("c1" if carry else ""))
    elif operation.op == "-":
        width = len(str(a))
        for da, db in zip(_digits(a, width), _digits(b, width), strict=True):
            diff = da - db - carry
            expression = f"{da}-{db}" + ("-1" if carry else "")
            carry = 1 if diff < 0 else 0
            out.append(f"{expression}={diff % 10}" + ("b1" if carry else ""))
    else:
        for da in _digits(a, len(str(a))):
            total = da * b + carry
            expression = f"{da}*{b}" + (f"+{carry}" if carry else "")
            carry = total // 10
            out.append(f"{expression}={total % 10}" + (f"c{carry}" if carry else ""))
    return out


def worked_line(value: int, operation: Operation) -> str:
    worked = " ".join(columns(value, operation))
    return f"{value}{operation}: {worked} ={operation.apply(value)}"


def _fault(index: int, category: str, rationale: str) -> Verdict:
    return Verdict.model_validate({"first_faulty_step": index, "category": category, "rationale": rationale})


def _check_body(index: int, line: str, value: int, operation: Operation) -> Verdict | None:
    """A fault inside a line whose header is right, or None when the line is exact."""
    expected = worked_line(value, operation)
    if line == expected:
        return None
    if expected.startswith(line):  # the step stops part-way (a thinking budget cut it)
        return _fault(index, "planning", f"{value}{operation} left unfinished: {line[-24:]!r}")
    rest = line.partition(": ")[2]
    body, sep, result = rest.rpartition(" =")
    if not sep:
        body = rest
    written, wanted = body.split(), columns(value, operation)
    for column, (got, want) in enumerate(zip(written, wanted, strict=False)):
        if got != want:
            return _fault(
                index, "computation", f"{value}{operation}: column {column} is {got!r}, expected {want!r}"
            )
    if not sep:
        return _fault(
            index,
            "planning",
            f"{value}{operation} left unfinished after {len(written)} of {len(wanted)} columns",
        )
    if len(written) != len(wanted):
        return _fault(
            index, "computation", f"{value}{operation}: {len(written)} columns, expected {len(wanted)}"
        )
    return _fault(
        index, "computation", f"{value}{operation}: result {result!r}, expected {operation.apply(value)}"
    )


def _result_of(line: str) -> int | None:
    _, sep, result = line.rpartition(" =")
    return int(result) if sep and re.fullmatch(r"-?\d+", result) else None


def judge_trace(problem_text: str, steps: Steps, answer: str | None) -> Verdict:
    """The first faulty step of a toy-arith response and its category (``none`` when all is exact)."""
    problem = parse_problem(problem_text)
    trace = steps.texts[: steps.reasoning_steps] if steps.answer_index is not None else ()
    value = problem.start
    position = 0  # the problem operation the next line should work
    for index, line in enumerate(trace):
        header = _HEADER.match(line)
        if header is None:
            return _fault(index, "planning", f"not a worked step: {line[:40]!r}")
        a, op, b = int(header["a"]), header["op"], int(header["b"])
        if position >= len(problem.operations):
            return _fault(
                index, "planning", f"extra step {a}{op}{b}: the problem has {len(problem.operations)}"
            )
        expected = problem.operations[position]
        if a != value:
            if index == 0:
                return _fault(index, "comprehension", f"starts from {a}, the problem says {value}")
            return _fault(index, "computation", f"carries {a} on, the previous step gave {value}")
        if (op, b) != (expected.op, expected.operand):
            later = [
                j
                for j in range(position + 1, len(problem.operations))
                if (op, b) == (problem.operations[j].op, problem.operations[j].operand)
            ]
            if later:
                skipped = ", ".join(str(o) for o in problem.operations[position : later[0]])
                return _fault(index, "planning", f"skips {skipped}: works {op}{b} next")
            if any((op, b) == (o.op, o.operand) for o in problem.operations[:position]):
                return _fault(index, "planning", f"repeats {op}{b}, already worked; {expected} is next")
            what = (
                "operation"
                if b == expected.operand
                else "number"
                if op == expected.op
                else "operation and number"
            )
            return _fault(
                index, "comprehension", f"works {op}{b}, the problem says {expected} (wrong {what})"
            )
        fault = _check_body(index, line, value, expected)
        if fault is not None:
            return fault
        result = _result_of(line)
        assert result is not None  # an exact line ends in its result
        value, position = result, position + 1
    end = len(trace)
    if position < len(problem.operations):
        missing = ", ".join(str(o) for o in problem.operations[position:])
        return _fault(end, "planning", f"the trace stops before {missing}")
    final = last_boxed(answer or "")
    if final is None:
        return _fault(end, "answer", f"the trace reaches {value}; no boxed final answer")
    if final.strip() != str(value):
        return _fault(end, "answer", f"the trace reaches {value}; the final answer is {final.strip()!r}")
    return Verdict(
        first_faulty_step=-1, category="none", rationale=f"every step is exact; the answer {value} follows"
    )
