"""What ``evalclient diagnose`` writes: one ``DiagnosisRow`` per diagnosed sample in ``diagnosis.jsonl``
(appended and flushed per sample, resumable), and ``DiagnoseConfig`` in ``diagnose.json``."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from evalclient.diagnose.taxonomy import Category, RowCategory

Role = Literal["run", "baseline"]
RowKey = tuple[str, str, str, int | None, int | None, int]  # role, benchmark, problem, budget, seed, index


class Verdict(BaseModel):
    """A judge's finding on one response: its first faulty step (-1 = none) and the kind of error."""

    first_faulty_step: int
    category: Category
    rationale: str


class DiagnosisRow(BaseModel):
    id: str  # the problem id
    sample: int  # the sample's index in its run (order of first appearance in samples.jsonl)
    role: Role  # which run it belongs to: the diagnosed run or its baseline
    run: str  # that run's directory name
    benchmark: str
    thinking_budget: int | None
    seed: int | None
    sample_index: int
    meta: dict[str, str | int] = Field(default_factory=dict)
    steps: int  # how many steps the response was split into (the final answer is the last)
    first_faulty_step: int | None  # 0-based; -1 when no step is faulty; None on a judge error
    category: RowCategory
    judge: str  # "rules" or "llm:MODEL"
    rationale: str  # the judge's reason; on a judge error, what went wrong
    flip: bool  # the baseline got this sample right (same benchmark, budget, problem, seed, index)
    truncated: bool = False  # the server cut the thinking short (budget forcing) or hit max_tokens
    faulty_step_text: str | None = None  # the first faulty step, shortened
    reference: Verdict | None = None  # the rules judge's verdict, when another judge ran on toy-arith
    attempts: int = 1  # judge requests it took
    response_digest: str = ""  # of the judged reasoning and answer: a rerun run's new text is judged again

    @property
    def key(self) -> RowKey:
        return (self.role, self.benchmark, self.id, self.thinking_budget, self.seed, self.sample_index)

    @property
    def relative_position(self) -> float | None:
        """Where in the trace the first error falls: 0 = the first step, 1 = the last (the answer)."""
        if self.first_faulty_step is None or self.first_faulty_step < 0:
            return None
        return self.first_faulty_step / (self.steps - 1) if self.steps > 1 else 0.0


class JudgeConfig(BaseModel):
    kind: Literal["rules", "llm"]
    endpoint: str | None = None
    model: str | None = None
    temperature: float | None = None
    max_tokens: int | None = None


class DiagnoseConfig(BaseModel):
    """``diagnose.json``: what was diagnosed and by which judge; a resume must match it."""

    run: str
    baseline: str | None
    judge: JudgeConfig
