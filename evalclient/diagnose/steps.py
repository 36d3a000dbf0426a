"""A sampled response as a list of steps, per benchmark: what a judge indexes its first faulty step into.

- ``toy-arith``: one line of the trace per step (the tiny reasoner works one operation per line).
- every other benchmark (math, GPQA, code): paragraphs, split on blank lines, as ProcessBench
  (Zheng et al. 2024, arXiv 2412.06559) splits solutions.

When the response has reasoning, the final answer (the text after it, possibly empty) is always the
last step, so an error in the answer itself can be located too.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

Splitter = Callable[[str], list[str]]
_BLANK_LINES = re.compile(r"\n\s*\n")


def lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def paragraphs(text: str) -> list[str]:
    return [part.strip() for part in _BLANK_LINES.split(text) if part.strip()]


SPLITTERS: dict[str, Splitter] = {"toy-arith": lines}


def splitter_for(benchmark: str) -> Splitter:
    """The benchmark's splitter (``name:option`` variants share their base's); paragraphs otherwise."""
    return SPLITTERS.get(benchmark.partition(":")[0], paragraphs)


@dataclass(frozen=True)
class Steps:
    texts: tuple[str, ...]
    reasoning_steps: int  # how many of ``texts`` come from the reasoning; the rest is the answer

    @property
    def answer_index(self) -> int | None:
        """Index of the final-answer step, None when the response had no separate reasoning."""
        return self.reasoning_steps if self.reasoning_steps < len(self.texts) else None

    def __len__(self) -> int:
        return len(self.texts)


def split_response(benchmark: str, reasoning: str | None, answer: str | None) -> Steps:
    split = splitter_for(benchmark)
    if reasoning is None:  # no visible reasoning: the answer text is the whole solution
        texts = split(answer or "")
        return Steps(tuple(texts) or ("",), len(texts) or 1)
    thought = split(reasoning)
    return Steps((*thought, (answer or "").strip()), len(thought))
