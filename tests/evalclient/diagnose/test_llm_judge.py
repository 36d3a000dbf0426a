"""The LLM judge: its prompt, its parser, and the whole path against a stub judge endpoint."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from evalclient.cli import main as evalclient_main
from evalclient.diagnose.engine import DIAGNOSIS_FILE, load_rows
from evalclient.diagnose.llm_judge import (
    NO_ANSWER,
    VerdictParseError,
    build_prompt,
    parse_prompt,
    parse_verdict,
)
from evalclient.diagnose.rows import Verdict
from evalclient.diagnose.steps import Steps
from evalclient.diagnose.stub_judge import rules_reply, rules_verdict_of, verdict_reply
from evalclient.diagnose.taxonomy import Category
from evalclient.stub import StubReply, StubThread
from tests.evalclient.diagnose.conftest import MakeRun, injected_cases

STEPS = Steps(("12+3: 2+3=5 1+0=1 =15", "15*2: 5*2=0c1 1*2+1=3 =30", "\\boxed{30}"), 2)


def test_prompt_is_processbench_critique_with_tagged_paragraphs() -> None:
    prompt = build_prompt("Ann has 12 coins, gets 3 more. How many now?", STEPS)
    assert "split into paragraphs, enclosed with tags and indexed from 0" in prompt
    assert "<paragraph_0>\n12+3: 2+3=5 1+0=1 =15\n</paragraph_0>" in prompt
    assert "<paragraph_2>\n\\boxed{30}\n</paragraph_2>" in prompt
    assert 'return the index of -1 (which typically denotes "not found")' in prompt
    assert "\\boxed{2, computation}" in prompt
    problem, paragraphs = parse_prompt(prompt)
    assert problem == "Ann has 12 coins, gets 3 more. How many now?"
    assert paragraphs == list(STEPS.texts)


def test_an_empty_final_answer_is_shown_as_such_and_read_back_empty() -> None:
    prompt = build_prompt("Ann has 12 coins, gets 3 more. How many now?", Steps(("12+3: x", ""), 1))
    assert NO_ANSWER in prompt
    assert parse_prompt(prompt)[1] == ["12+3: x", ""]


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ("Paragraph 1 multiplies wrong.\n\n\\boxed{1, computation}", (1, "computation")),
        ("\\boxed{ 0 ; Comprehension }", (0, "comprehension")),
        ("\\boxed{paragraph_2: answer}", (2, "answer")),
        ("\\boxed{1, \\text{calculation}}", (1, "computation")),
        ("All correct. \\boxed{-1}", (-1, "none")),
        ("\\boxed{-1, none}", (-1, "none")),
        # the judge's reasoning is kept out: only the text after its think block is parsed
        ("<think>maybe \\boxed{0, planning}</think>\nNo: \\boxed{1, computation}", (1, "computation")),
    ],
)
def test_parse_verdict(reply: str, expected: tuple[int, str]) -> None:
    verdict = parse_verdict(reply, num_steps=3)
    assert (verdict.first_faulty_step, verdict.category) == expected


@pytest.mark.parametrize(
    ("reply", "why"),
    [
        ("The first error is in paragraph 1.", "no \\boxed{}"),
        ("\\boxed{7, computation}", "outside -1..2"),
        ("\\boxed{1}", "names no error kind"),
        ("\\boxed{1, vibes}", "unknown error kind"),
        ("\\boxed{1, none}", "with kind 'none'"),
        ("\\boxed{one, computation}", "is not 'INDEX, KIND'"),
        ("<think>\\boxed{1, computation}</think>\nI am not sure.", "no \\boxed{}"),
    ],
)
def test_malformed_verdicts_are_refused_with_the_reason(reply: str, why: str) -> None:
    with pytest.raises(
        VerdictParseError,
        match=why.replace("\\", "\\\\")
        .replace("{", "\\{")
        .replace("}", "\\}")
        .replace(".", "\\.")
        .replace("(", "\\("),
    ):
        parse_verdict(reply, num_steps=3)


def _diagnose(run: Path, stub: StubThread, out: Path, *extra: str) -> int:
    return evalclient_main(
        ["diagnose", str(run), "--judge-endpoint", stub.base_url, "--judge-model", "stub", "--out", str(out),
         "--quiet", "--judge-retries", "1", "--concurrency", "4", *extra]
    )  # fmt: skip


@pytest.mark.parametrize("reasoning_field", [True, False])
def test_right_replies_reproduce_the_rules_judge(
    make_run: MakeRun, stub: Callable[..., StubThread], tmp_path: Path, reasoning_field: bool
) -> None:
    cases = injected_cases(30)
    run = make_run("run", [(c.problem, c.reasoning, c.answer, False) for c in cases])
    judge = stub(responder=rules_reply, reasoning_field=reasoning_field)
    assert _diagnose(run, judge, tmp_path / "out") == 0
    rows = load_rows(tmp_path / "out")
    assert len(rows) == 30
    for row, case in zip(rows, cases, strict=True):
        assert (row.first_faulty_step, row.category) == (case.first_faulty_step, case.category)
        assert row.judge == "llm:stub"
        assert row.reference is not None and row.reference.category == case.category
    report = (tmp_path / "out" / "diagnosis.md").read_text()
    assert "| run | 30 | 30 (100%) | 30 (100%) |" in report  # agreement with the rules judge


def test_wrong_replies_are_recorded_as_given_and_show_as_disagreement(
    make_run: MakeRun, stub: Callable[..., StubThread], tmp_path: Path
) -> None:
    cases = injected_cases(10)
    run = make_run("run", [(c.problem, c.reasoning, c.answer, False) for c in cases])

    def wrong(prompt: str) -> StubReply:
        truth = rules_verdict_of(prompt)
        assert truth is not None
        kind: Category = "planning" if truth.category != "planning" else "computation"
        return verdict_reply(Verdict(first_faulty_step=0, category=kind, rationale="a wrong critique"))

    assert _diagnose(run, stub(responder=wrong), tmp_path / "out") == 0
    rows = load_rows(tmp_path / "out")
    assert all(
        row.first_faulty_step == 0 and row.category != row.reference.category for row in rows if row.reference
    )
    summary = json.loads((tmp_path / "out" / "diagnosis_summary.json").read_text())
    assert summary["runs"][0]["agreement"]["same_category"] == 0


def test_malformed_slow_and_down_judges_give_judge_error_rows_that_a_rerun_retries(
    make_run: MakeRun, stub: Callable[..., StubThread], tmp_path: Path
) -> None:
    cases = injected_cases(6)
    run = make_run("run", [(c.problem, c.reasoning, c.answer, False) for c in cases])
    malformed = [c.problem.text for c in cases[:2]]
    slow = [c.problem.text for c in cases[2:4]]

    def flaky(prompt: str) -> StubReply:
        problem, _ = parse_prompt(prompt)
        if problem in malformed:
            return StubReply("<think>\\boxed{0, planning}</think>\nI think paragraph two is off.")
        if problem in slow:
            return StubReply("\\boxed{0, planning}", delay_s=3.0)
        return rules_reply(prompt)

    out = tmp_path / "out"
    assert _diagnose(run, stub(responder=flaky), out, "--judge-timeout", "0.5") == 0
    rows = {row.id: row for row in load_rows(out)}
    assert len(rows) == 6
    for index in range(6):
        row = rows[f"p{index:03d}"]
        if index < 2:
            assert row.category == "judge_error" and "unparseable verdict after 3 replies" in row.rationale
            assert row.first_faulty_step is None
        elif index < 4:
            assert row.category == "judge_error" and "timed out" in row.rationale
        else:
            assert (row.first_faulty_step, row.category) == (
                cases[index].first_faulty_step,
                cases[index].category,
            )
    assert "judge_error" in (out / "diagnosis.md").read_text()
    # a rerun against a judge that answers now re-judges exactly the four judge errors
    lines_before = (out / DIAGNOSIS_FILE).read_text().count("\n")
    assert _diagnose(run, stub(responder=rules_reply), out) == 0
    assert (out / DIAGNOSIS_FILE).read_text().count("\n") == lines_before + 4
    summary = json.loads((out / "diagnosis_summary.json").read_text())
    assert summary["runs"][0]["overall"]["counts"]["judge_error"] == 0


def test_a_judge_endpoint_that_is_down_gives_judge_errors(make_run: MakeRun, tmp_path: Path) -> None:
    from launcher import free_port

    cases = injected_cases(3)
    run = make_run("run", [(c.problem, c.reasoning, c.answer, False) for c in cases])
    code = evalclient_main(
        ["diagnose", str(run), "--judge-endpoint", f"http://127.0.0.1:{free_port()}/v1", "--judge-model", "m",
         "--out", str(tmp_path / "out"), "--quiet", "--judge-retries", "0"]
    )  # fmt: skip
    assert code == 0
    rows = load_rows(tmp_path / "out")
    assert len(rows) == 3
    assert all(row.category == "judge_error" and "judge request failed" in row.rationale for row in rows)
