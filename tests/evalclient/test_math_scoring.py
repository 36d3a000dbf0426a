"""Math extractors and scorers on known right and wrong answers, equivalent LaTeX forms included."""

from __future__ import annotations

import pytest

from benchmark_data import CARRIED_DIR
from evalclient.benchmarks import get_benchmark
from evalclient.records import Problem
from evalclient.scoring import gsm8k_gold, last_boxed, quick_math_verdict, score_gsm8k, score_math

DATA = CARRIED_DIR


def problem(gold: str) -> Problem:
    return Problem(id="p", prompt="q", gold=gold)


@pytest.mark.parametrize(
    ("gold", "response"),
    [
        ("\\frac{1}{2}", "so \\boxed{0.5}"),
        ("\\frac{1}{2}", "so \\boxed{\\dfrac12}"),
        ("\\left( 3, \\frac{\\pi}{2} \\right)", "\\boxed{(3, \\frac{\\pi}{2})}"),
        ("2\\sqrt{2}", "The answer is $\\boxed{\\sqrt{8}}$."),
        ("10", "Final: \\boxed{10.0}"),
        ("x^2+2x+1", "\\boxed{(x+1)^2}"),
        ("\\{1,2\\}", "\\boxed{\\{2, 1\\}}"),
        ("204", "Therefore the answer is $204$."),  # no box: the last expression
    ],
)
def test_equivalent_forms_are_right(gold: str, response: str) -> None:
    score = score_math(response, problem(gold))
    assert score.correct, score
    assert score.extracted


@pytest.mark.parametrize(
    ("gold", "response"),
    [
        ("\\frac{1}{2}", "\\boxed{\\frac{1}{3}}"),
        ("10", "\\boxed{11}"),
        ("\\left( 3, \\frac{\\pi}{2} \\right)", "\\boxed{(3, \\frac{\\pi}{3})}"),
        ("x^2+2x+1", "\\boxed{(x-1)^2}"),
    ],
)
def test_wrong_answers_are_wrong(gold: str, response: str) -> None:
    assert not score_math(response, problem(gold)).correct


def test_boxed_answer_wins_over_later_numbers() -> None:
    score = score_math("I get \\boxed{7}. Checking: 3 + 4 = 7, and 2 + 2 = 4.", problem("7"))
    assert score.correct and score.extracted == "7"


def test_last_boxed_answer_wins() -> None:
    assert score_math("first \\boxed{3}, no wait: \\boxed{5}", problem("5")).correct
    assert not score_math("first \\boxed{5}, no wait: \\boxed{3}", problem("5")).correct


def test_no_answer_is_wrong_with_a_reason() -> None:
    score = score_math("I do not know.", problem("5"))
    assert not score.correct
    assert score.extracted is None and score.detail


def test_last_boxed_balances_braces() -> None:
    assert last_boxed("a \\boxed{\\frac{1}{2}} b \\boxed{x^{2}}") == "x^{2}"
    assert last_boxed("no box") is None


def test_gsm8k_gold_is_the_number_after_hashes() -> None:
    assert gsm8k_gold("She makes 9 * 2 = $<<9*2=18>>18.\n#### 1,018") == "1018"


@pytest.mark.parametrize(
    ("response", "correct"),
    [
        ("so she makes \\boxed{18} dollars", True),
        ("9 * 2 = 18, so $18.", True),
        ("\\boxed{\\$18.00}", True),
        ("9 * 2 = 18, then 18 + 1 = 19", False),
        ("I cannot tell", False),
    ],
)
def test_gsm8k_scorer(response: str, correct: bool) -> None:
    assert score_gsm8k(response, problem("18")).correct is correct


def test_local_benchmarks_load_with_their_metadata() -> None:
    math500 = get_benchmark("math500").load(DATA)
    assert len(math500) == 500
    assert {"subject", "level"} <= set(math500[0].meta)
    assert math500[0].prompt.endswith("put your final answer within \\boxed{}.")
    gsm8k = get_benchmark("gsm8k").load(DATA)
    assert len(gsm8k) == 1319 and gsm8k[0].gold == "18"
    assert len(get_benchmark("aime24").load(DATA)) == 30
    toy = get_benchmark("toy-arith").load(None)
    assert len(toy) == 240 and toy[0].meta["difficulty"] == "easy"


def test_gold_answers_of_the_local_data_score_as_right() -> None:
    for name in ("math500", "aime24"):
        for item in get_benchmark(name).load(DATA)[:40]:
            assert score_math(f"\\boxed{{{item.gold}}}", item).correct, (name, item.id, item.gold)


@pytest.mark.parametrize(
    ("gold", "response"),
    [("204", "\\boxed{204}"), ("204", "\\boxed{205}"), ("\\frac{1}{2}", "\\boxed{\\frac{1}{2}}"),
     ("-3", "\\boxed{ -3 }"), ("\\frac{1}{2}", "\\boxed{0.5}"), ("10", "no box: 10")],
)  # fmt: skip
def test_the_quick_verdict_agrees_with_math_verify_or_abstains(gold: str, response: str) -> None:
    from math_verify import parse, verify

    quick = quick_math_verdict(response, problem(gold))
    if quick is None:
        return  # abstained: the worker runs Math-Verify
    boxed = last_boxed(response)
    assert quick.correct == verify(parse(f"${gold}$"), parse(f"$\\boxed{{{boxed}}}$"))
