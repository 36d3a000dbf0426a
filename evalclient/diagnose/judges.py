"""What a judge is: it takes one failed response (``Case``) and returns a ``Verdict`` or raises
``JudgeFailedError`` (endpoint down, garbage reply), which the diagnosis records as ``judge_error``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from evalclient.diagnose.rows import Verdict
from evalclient.diagnose.steps import Steps
from evalclient.diagnose.toy_arith import NotToyArithError, judge_trace
from evalclient.errors import EvalclientError


@dataclass(frozen=True)
class Case:
    benchmark: str
    problem: str  # the problem as the model was asked it (the user message)
    steps: Steps
    answer: str | None  # the text after the reasoning


@dataclass(frozen=True)
class Judgement:
    verdict: Verdict
    attempts: int = 1


class JudgeFailedError(EvalclientError):
    """No verdict could be had; the message says why (it becomes the row's rationale)."""

    def __init__(self, message: str, attempts: int = 1) -> None:
        super().__init__(message)
        self.attempts = attempts


class Judge(Protocol):
    @property
    def name(self) -> str: ...

    async def judge(self, case: Case) -> Judgement: ...


RULES_BENCHMARKS = ("toy-arith",)


class RulesJudge:
    """Exact re-derivation of toy-arith traces (``evalclient.diagnose.toy_arith``)."""

    name = "rules"

    async def judge(self, case: Case) -> Judgement:
        try:
            return Judgement(judge_trace(case.problem, case.steps, case.answer))
        except NotToyArithError as exc:
            raise JudgeFailedError(str(exc)) from None


def rules_verdict(case: Case) -> Verdict | None:
    """The rules judge's verdict where it applies (toy-arith), else None: the reference for other judges."""
    if case.benchmark.partition(":")[0] not in RULES_BENCHMARKS:
        return None
    try:
        return judge_trace(case.problem, case.steps, case.answer)
    except NotToyArithError:
        return None
