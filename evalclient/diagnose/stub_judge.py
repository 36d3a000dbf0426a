"""Judge replies for the stub endpoint (``python -m evalclient.stub --judge rules``, and tests): answers a
critique prompt as the rules judge would, in the reply format an LLM judge uses, with a decoy verdict in
its think block (a parser that reads the judge's reasoning picks the decoy)."""

from __future__ import annotations

from evalclient.diagnose.llm_judge import parse_prompt
from evalclient.diagnose.rows import Verdict
from evalclient.diagnose.steps import Steps
from evalclient.diagnose.toy_arith import NotToyArithError, judge_trace
from evalclient.stub import StubReply

DECOY = "<think>\nFirst guess: \\boxed{0, planning}. Let me check each paragraph again.\n</think>\n\n"


def rules_verdict_of(prompt: str) -> Verdict | None:
    problem, paragraphs = parse_prompt(prompt)
    if not paragraphs:
        return None
    try:
        return judge_trace(problem, Steps(tuple(paragraphs), len(paragraphs) - 1), paragraphs[-1])
    except NotToyArithError:
        return None


def verdict_reply(verdict: Verdict, delay_s: float = 0.0) -> StubReply:
    box = f"\\boxed{{{verdict.first_faulty_step}, {verdict.category}}}"
    return StubReply(f"{DECOY}{verdict.rationale}.\n\n{box}", delay_s)


def rules_reply(prompt: str) -> StubReply:
    verdict = rules_verdict_of(prompt)
    if verdict is None:
        return StubReply("I cannot read this problem.")
    return verdict_reply(verdict)
