"""``evalclient diagnose``: where and how a run's reasoning goes wrong.

Every wrong sample of a run is split into steps, judged for its first faulty step (ProcessBench's
convention: 0-based, -1 = none) and labelled with a kind of error from Li et al. 2025's taxonomy
(``taxonomy``). Judges: ``rules`` (exact re-derivation of toy-arith traces) and an LLM judge over any
OpenAI-compatible endpoint (``llm_judge``). See docs/diagnose.md.
"""

from evalclient.diagnose.cli import main
from evalclient.diagnose.judges import Case, Judge, JudgeFailedError, Judgement, RulesJudge
from evalclient.diagnose.llm_judge import LLMJudge, build_prompt, parse_verdict
from evalclient.diagnose.rows import DiagnosisRow, Verdict
from evalclient.diagnose.steps import Steps, split_response
from evalclient.diagnose.taxonomy import CATEGORIES, Category

__all__ = [
    "CATEGORIES",
    "Case",
    "Category",
    "DiagnosisRow",
    "Judge",
    "JudgeFailedError",
    "Judgement",
    "LLMJudge",
    "RulesJudge",
    "Steps",
    "Verdict",
    "build_prompt",
    "main",
    "parse_verdict",
    "split_response",
]
