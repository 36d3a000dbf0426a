"""An LLM judge over any OpenAI-compatible endpoint, with ProcessBench's critique prompt.

The prompt is ProcessBench's (Zheng et al. 2024, "ProcessBench: Identifying Process Errors in
Mathematical Reasoning", arXiv 2412.06559; ``code/templates/critique_template.txt`` in
github.com/QwenLM/ProcessBench): the solution split into tagged paragraphs indexed from 0, the index of
the earliest faulty paragraph (-1 when none) asked for in ``\\boxed{}``. We add one sentence asking for
the error's category from our taxonomy in the same box: ``\\boxed{2, computation}``.

Only the reply's final answer is parsed: a reasoning field, or anything up to a think end delimiter, is
the judge's own reasoning and is kept out. A reply without a well-formed verdict is asked again (up to
``parse_attempts``); HTTP retries and timeouts are ``evalclient.client.ChatClient``'s.
"""

from __future__ import annotations

import re
from typing import Final

from evalclient.client import ChatClient, RequestFailedError
from evalclient.diagnose.judges import Case, JudgeFailedError, Judgement
from evalclient.diagnose.rows import Verdict
from evalclient.diagnose.steps import Steps
from evalclient.diagnose.taxonomy import CATEGORIES, CATEGORY_NAMES, Category
from evalclient.errors import EvalclientError
from reasoning_formats import last_boxed

NO_ANSWER: Final = "(no final answer)"
CRITIQUE_TEMPLATE: Final = (
    "The following is a math problem and a solution (split into paragraphs, enclosed with tags and "
    "indexed from 0):\n\n[Math Problem]\n\n{problem}\n\n[Solution]\n\n{tagged_response}\n\n"
    "Your task is to review and critique the solution paragraph by paragraph. Once you identify an error "
    "in a paragraph, return the index of the paragraph where the earliest error occurs. Otherwise, return "
    'the index of -1 (which typically denotes "not found").\n\n'
    "Also name the kind of that earliest error, one of: {categories}.\n\n"
    "Please put your final answer (i.e., the index and the kind, separated by a comma, e.g. "
    "\\boxed{{2, computation}} or \\boxed{{-1, none}}) in \\boxed{{}}."
)
_PARAGRAPH = re.compile(r"<paragraph_(\d+)>\n(.*?)\n</paragraph_\1>", re.DOTALL)
_VERDICT = re.compile(
    r"^\s*(?:(?:paragraph|step|index)[_ ]?)?(?P<index>[+-]?\d+)"
    r"\s*(?:[,;:|/]\s*|\s+)?(?P<category>[a-z_ ]*?)\s*\.?$",
    re.IGNORECASE,
)
_SYNONYMS: Final[dict[str, Category]] = {
    "calculation": "computation",
    "arithmetic": "computation",
    "misunderstanding": "comprehension",
    "misreading": "comprehension",
    "final answer": "answer",
    "final_answer": "answer",
    "not found": "none",
}
THINK_END = "</think>"
RATIONALE_CHARS = 400


class VerdictParseError(EvalclientError):
    """The reply has no well-formed verdict; the message says what was wrong."""


def build_prompt(problem: str, steps: Steps) -> str:
    tagged = "\n\n".join(
        f"<paragraph_{index}>\n{text or NO_ANSWER}\n</paragraph_{index}>"
        for index, text in enumerate(steps.texts)
    )
    categories = "; ".join(f"{name} ({meaning})" for name, meaning in CATEGORIES.items())
    return CRITIQUE_TEMPLATE.format(problem=problem.strip(), tagged_response=tagged, categories=categories)


def parse_prompt(prompt: str) -> tuple[str, list[str]]:
    """(problem, paragraphs) back from a critique prompt: what a stub judge reads."""
    problem = prompt.partition("[Math Problem]\n\n")[2].partition("\n\n[Solution]")[0]
    paragraphs = [text for _, text in _PARAGRAPH.findall(prompt)]
    return problem, ["" if text == NO_ANSWER else text for text in paragraphs]


def final_answer(content: str) -> str:
    """The reply without the judge's reasoning: the text after the last think end delimiter."""
    return content.rpartition(THINK_END)[2] if THINK_END in content else content


def _category(text: str) -> Category:
    name = " ".join(text.lower().replace("-", " ").split())
    for candidate in CATEGORY_NAMES:
        if name == candidate:
            return candidate
    if name in _SYNONYMS:
        return _SYNONYMS[name]
    raise VerdictParseError(f"unknown error kind {text!r} (valid: {', '.join(CATEGORY_NAMES)})")


def parse_verdict(content: str, num_steps: int) -> Verdict:
    """The verdict in the reply's last ``\\boxed{INDEX, KIND}``; raises ``VerdictParseError``."""
    answer = final_answer(content)
    boxed = last_boxed(answer)
    if boxed is None:
        snippet = " ".join(answer.split())[-80:]
        raise VerdictParseError(f"no \\boxed{{}} verdict in the reply (ends: {snippet!r})")
    match = _VERDICT.match(boxed.replace("\\text{", "").replace("}", ""))
    if match is None:
        raise VerdictParseError(f"verdict \\boxed{{{boxed[:60]}}} is not 'INDEX, KIND'")
    index = int(match["index"])
    if not -1 <= index < num_steps:
        raise VerdictParseError(f"index {index} is outside -1..{num_steps - 1}")
    kind = match["category"].strip()
    if index == -1:
        category: Category = "none"
    elif not kind:
        raise VerdictParseError(f"verdict \\boxed{{{boxed[:60]}}} names no error kind")
    else:
        category = _category(kind)
        if category == "none":
            raise VerdictParseError(f"index {index} with kind 'none'")
    critique = " ".join(answer.replace(f"\\boxed{{{boxed}}}", "").split())
    return Verdict(first_faulty_step=index, category=category, rationale=critique[:RATIONALE_CHARS])


class LLMJudge:
    def __init__(
        self,
        client: ChatClient,
        model: str,
        *,
        temperature: float | None = 0.0,
        max_tokens: int | None = 4096,
        parse_attempts: int = 3,
    ) -> None:
        self.client = client
        self.model = model
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.parse_attempts = parse_attempts

    @property
    def name(self) -> str:
        return f"llm:{self.model}"

    def request(self, case: Case) -> dict[str, object]:
        body: dict[str, object] = {
            "model": self.model,
            "messages": [{"role": "user", "content": build_prompt(case.problem, case.steps)}],
        }
        if self.temperature is not None:
            body["temperature"] = self.temperature
        if self.max_tokens is not None:
            body["max_tokens"] = self.max_tokens
        return body

    async def judge(self, case: Case) -> Judgement:
        attempts = 0
        problem = ""
        for _ in range(self.parse_attempts):
            try:
                completion = await self.client.complete(self.request(case))
            except RequestFailedError as exc:
                raise JudgeFailedError(f"judge request failed: {exc}", attempts + exc.attempts) from None
            attempts += completion.attempts
            try:
                return Judgement(parse_verdict(completion.content, len(case.steps)), attempts)
            except VerdictParseError as exc:
                problem = str(exc)
        raise JudgeFailedError(
            f"unparseable verdict after {self.parse_attempts} replies: {problem}", attempts
        )
