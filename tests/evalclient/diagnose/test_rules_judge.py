"""The rules judge finds the injected error's step and kind in every toy-arith trace it is given."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from evalclient.diagnose.rows import Verdict
from evalclient.diagnose.steps import split_response
from evalclient.diagnose.toy_arith import NotToyArithError, judge_trace, parse_problem
from tests.evalclient.diagnose.injection import KINDS, inject
from tinymodel.reasoner.benchmark import benchmark_problems
from tinymodel.reasoner.problems import random_problem

PROBLEMS = [problem for _, problem in benchmark_problems()] + [
    random_problem(random.Random(seed), 1 + seed % 4) for seed in range(400)
]


def _verdict(problem_text: str, reasoning: str, answer: str) -> Verdict:
    return judge_trace(problem_text, split_response("toy-arith", reasoning, answer), answer)


def test_the_problem_text_is_read_back_exactly() -> None:
    for problem in PROBLEMS:
        parsed = parse_problem(problem.text)
        assert parsed.start == problem.start
        assert [(o.op, o.operand) for o in parsed.operations] == [(s.op, s.operand) for s in problem.steps]


def test_an_exact_trace_has_no_faulty_step() -> None:
    for problem in PROBLEMS:
        verdict = _verdict(problem.text, problem.trace, f"\\boxed{{{problem.answer}}}")
        assert (verdict.first_faulty_step, verdict.category) == (-1, "none"), problem.trace


@pytest.mark.parametrize("kind", KINDS)
def test_every_injected_error_is_found_at_its_step_with_its_kind(kind: str) -> None:
    rng = random.Random(f"inject-{kind}")
    found: Counter[int] = Counter()
    for problem in PROBLEMS:
        for at in range(len(problem.steps)):
            case = inject(problem, kind, at, rng)
            if case is None:
                continue
            verdict = _verdict(problem.text, case.reasoning, case.answer)
            assert (verdict.first_faulty_step, verdict.category) == (case.first_faulty_step, case.category), (
                f"{kind} at step {at}\n{problem.text}\n{case.reasoning}{case.answer}\n-> {verdict}"
            )
            found[case.first_faulty_step] += 1
    assert sum(found.values()) >= 100, f"{kind}: too few applicable cases ({found})"
    if kind not in ("wrong_start", "answer_mismatch", "missing_answer"):
        assert len(found) >= 3, f"{kind}: injected at too few positions ({found})"


def test_no_reasoning_at_all_is_a_planning_error_at_the_first_step() -> None:
    problem = PROBLEMS[0]
    verdict = _verdict(problem.text, "", "\\boxed{12}")
    assert (verdict.first_faulty_step, verdict.category) == (0, "planning")


def test_garbage_line_is_not_a_step() -> None:
    problem = PROBLEMS[0]
    verdict = _verdict(problem.text, "hello there\n", "\\boxed{12}")
    assert (verdict.first_faulty_step, verdict.category) == (0, "planning")


def test_a_problem_of_another_benchmark_is_refused() -> None:
    with pytest.raises(NotToyArithError):
        parse_problem("What is the smallest prime larger than 100?")
