"""The error taxonomy every judge labels with, after Li et al. 2025 ("Quantization Meets Reasoning",
arXiv 2501.03035), whose error assessment found quantization hurting numerical computation and
reasoning planning most. Five kinds, each tied to the first faulty step of a failed trace."""

from __future__ import annotations

from typing import Final, Literal

Category = Literal["comprehension", "planning", "computation", "answer", "none"]
JUDGE_ERROR: Final = "judge_error"  # the judge could not give a verdict; never counted as a category
RowCategory = Category | Literal["judge_error"]

CATEGORIES: Final[dict[Category, str]] = {
    "comprehension": "misread the problem: a wrong number or operation taken from it",
    "planning": "a missing, extra or wrong step of method (including a trace cut off before its end)",
    "computation": "an arithmetic or algebraic error inside a step",
    "answer": "the reasoning reaches the right value but the final answer is missing, truncated or different",
    "none": "no faulty step found",
}
CATEGORY_NAMES: Final[tuple[Category, ...]] = tuple(CATEGORIES)
