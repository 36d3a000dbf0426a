from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


@dataclass(frozen=True)
class ThinkFormat:
    """How one model family delimits its reasoning.

    ``prompt_opens_think``: the chat template's generation prompt already ends with ``start``
    (DeepSeek-R1 distills, QwQ), so the completion holds only ``reasoning</think>answer``.
    """

    name: str
    start: str
    end: str
    prompt_opens_think: bool
    description: str


THINK_FORMATS: dict[str, ThinkFormat] = {
    fmt.name: fmt
    for fmt in (
        ThinkFormat(
            name="deepseek-r1",
            start="<think>",
            end="</think>",
            prompt_opens_think=True,
            description="DeepSeek-R1 and its Qwen/Llama distills: the template opens <think>",
        ),
        ThinkFormat(
            name="qwq",
            start="<think>",
            end="</think>",
            prompt_opens_think=True,
            description="QwQ-32B: the template opens <think>",
        ),
        ThinkFormat(
            name="qwen3",
            start="<think>",
            end="</think>",
            prompt_opens_think=False,
            description="Qwen3 hybrid models: the model writes <think> itself (enable_thinking)",
        ),
    )
}


CUSTOM = "custom"  # the name of a format given by its delimiters
AUTO = "auto"  # guess the format from the chat template
NONE = "none"  # the model does not reason (or separation is off)


class UnknownThinkFormatError(ValueError):
    """A think format name that is not in ``THINK_FORMATS``; the message lists the valid ones."""


def get_think_format(name: str) -> ThinkFormat:
    try:
        return THINK_FORMATS[name]
    except KeyError:
        valid = ", ".join(sorted(THINK_FORMATS))
        raise UnknownThinkFormatError(f"unknown think format {name!r}; valid: {valid}") from None


def custom_think_format(start: str, end: str, prompt_opens_think: bool = False) -> ThinkFormat:
    """The format of a model of another family, from its own delimiters."""
    if not start or not end:
        raise ValueError("a think format needs both delimiters (--think-start and --think-end)")
    return ThinkFormat(
        name=CUSTOM,
        start=start,
        end=end,
        prompt_opens_think=prompt_opens_think,
        description=f"delimiters {start} ... {end}",
    )


def resolve_think_format(
    name: str,
    chat_template: str | None = None,
    *,
    start: str | None = None,
    end: str | None = None,
    prompt_opens_think: bool = False,
) -> ThinkFormat | None:
    """A model's think format as every command line spells it: its own delimiters (``start``/``end``),
    else ``name`` (``auto``: guessed from the chat template; ``none``: no reasoning; or a known name)."""
    if start or end:
        return custom_think_format(start or "", end or "", prompt_opens_think)
    if name == NONE:
        return None
    if name == AUTO:
        return detect_think_format(chat_template)
    return get_think_format(name)


def detect_think_format(chat_template: str | None) -> ThinkFormat | None:
    """Guess the family from a chat template; ``None`` when the model does not reason."""
    if not chat_template or "<think>" not in chat_template:
        return None
    if "enable_thinking" in chat_template:
        return THINK_FORMATS["qwen3"]
    return THINK_FORMATS["deepseek-r1"]


class _Phase(Enum):
    UNDECIDED = "undecided"  # the model may still open a think block itself
    REASONING = "reasoning"
    ANSWER = "answer"


class ReasoningSplitter:
    """Splits a completion into reasoning and answer, incrementally, as text arrives.

    Text that could be the start of a delimiter split across two deltas is held back until the
    next delta decides it. A completion that never closes its think block is all reasoning (the
    answer is empty, not the unfinished thought). Leading newlines of the answer are dropped.
    """

    def __init__(self, fmt: ThinkFormat) -> None:
        self._fmt = fmt
        self._phase = _Phase.REASONING if fmt.prompt_opens_think else _Phase.UNDECIDED
        self._at_reasoning_start = True
        self._answer_started = False
        self._pending = ""

    @property
    def in_reasoning(self) -> bool:
        return self._phase is not _Phase.ANSWER

    def feed(self, text: str) -> tuple[str, str]:
        """Add ``text``; return the (reasoning, answer) text that is now certain."""
        if not self._pending:
            # Nearly every piece: nothing held back, and no delimiter can begin in it.
            if self._phase is _Phase.REASONING and not self._at_reasoning_start:
                if self._fmt.end[0] not in text:
                    return text, ""
            elif self._phase is _Phase.ANSWER and self._answer_started:
                return "", text
        self._pending += text
        reasoning = answer = ""
        while True:
            if self._phase is _Phase.UNDECIDED or (
                self._phase is _Phase.REASONING and self._at_reasoning_start
            ):
                head = self._pending.lstrip()
                if head.startswith(self._fmt.start):
                    self._pending = head[len(self._fmt.start) :]
                    self._phase, self._at_reasoning_start = _Phase.REASONING, False
                    continue
                if self._fmt.start.startswith(head):
                    return reasoning, answer  # too little text to tell
                self._at_reasoning_start = False
                if self._phase is _Phase.UNDECIDED:
                    self._phase = _Phase.ANSWER
                continue
            if self._phase is _Phase.REASONING:
                before, sep, after = self._pending.partition(self._fmt.end)
                if sep:
                    reasoning += before
                    self._pending, self._phase = after, _Phase.ANSWER
                    continue
                keep = _partial_suffix_len(self._pending, self._fmt.end)
                reasoning += self._pending[: len(self._pending) - keep]
                self._pending = self._pending[len(self._pending) - keep :]
                return reasoning, answer
            answer += self._take_answer()
            return reasoning, answer

    def finish(self) -> tuple[str, str]:
        """Flush what was held back at the end of the completion."""
        rest, self._pending = self._pending, ""
        if self._phase is _Phase.ANSWER:
            self._pending = rest
            return "", self._take_answer()
        if self._phase is _Phase.UNDECIDED:
            return "", rest
        return rest, ""

    def _take_answer(self) -> str:
        text, self._pending = self._pending, ""
        if not self._answer_started:
            text = text.lstrip("\n")
            self._answer_started = bool(text)
        return text


def _partial_suffix_len(text: str, delimiter: str) -> int:
    """Length of the longest suffix of ``text`` that is a proper prefix of ``delimiter``."""
    for size in range(min(len(text), len(delimiter) - 1), 0, -1):
        if delimiter.startswith(text[-size:]):
            return size
    return 0


def split_reasoning(text: str, fmt: ThinkFormat) -> tuple[str | None, str]:
    """Split a whole completion into (reasoning, answer); reasoning is None if there was none."""
    splitter = ReasoningSplitter(fmt)
    reasoning, answer = splitter.feed(text)
    tail_reasoning, tail_answer = splitter.finish()
    reasoning += tail_reasoning
    answer += tail_answer
    opened = fmt.prompt_opens_think or text.lstrip().startswith(fmt.start)
    return (reasoning if opened else None), answer
