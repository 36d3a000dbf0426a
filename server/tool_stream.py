"""One choice's answer on its way to the client: content, or tool calls streamed as OpenAI does
(the first delta of a call carries its index, id, type and name; the next ones argument fragments).

A named function's answer *is* its arguments (structured outputs made it so): those stream as they
are generated. ``required`` and ``auto`` answers are held back and parsed whole when the choice
ends, since a call's name and boundaries are only known then.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from server.protocol import DeltaFunctionCall, DeltaToolCall, ToolCall
from server.tools import ToolPlan, new_call

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase


class ToolCallStream:
    """Text is kept as a list of pieces, joined when read: adding to a string per token would copy
    the whole answer each time (quadratic in its length)."""

    def __init__(self, plan: ToolPlan, tokenizer: PreTrainedTokenizerBase) -> None:
        self._plan = plan
        self._tokenizer = tokenizer
        self._held: list[str] = []  # required and auto answers, parsed at the end
        self._named: ToolCall | None = None
        self._arguments: list[str] = []  # the named call's
        # None: no content (the answer was tool calls); until the end, when calls are possible
        self._content: list[str] | None = None if plan.calls_possible else []
        self._calls: list[ToolCall] = []

    @property
    def content(self) -> str | None:
        return None if self._content is None else joined(self._content)

    @property
    def calls(self) -> list[ToolCall]:
        if self._named is not None:
            self._named.function.arguments = joined(self._arguments)
        return self._calls

    def feed(self, answer: str) -> tuple[str, list[DeltaToolCall]]:
        """Take answer text; return the content and the tool-call deltas to send now."""
        if not self._plan.calls_possible:
            assert self._content is not None  # the answer is all content
            if answer:
                self._content.append(answer)
            return answer, []
        if self._plan.mode != "named":
            if answer:
                self._held.append(answer)
            return "", []
        if not answer:
            return "", []
        self._arguments.append(answer)
        if self._named is None:
            self._named = new_call(self._plan.named or "", "")
            self._calls = [self._named]
            first = DeltaToolCall(
                index=0,
                id=self._named.id,
                type="function",
                function=DeltaFunctionCall(name=self._named.function.name, arguments=answer),
            )
            return "", [first]
        return "", [DeltaToolCall(index=0, function=DeltaFunctionCall(arguments=answer))]

    def finish(self) -> tuple[str, list[DeltaToolCall]]:
        """The answer is complete: parse what was held back; return what is left to send."""
        if not self._plan.calls_possible or self._plan.mode == "named":
            return "", []
        content, calls = self._plan.parse(joined(self._held), self._tokenizer)
        self._content = None if content is None else [content]
        self._calls = calls
        deltas = [
            DeltaToolCall(
                index=index,
                id=call.id,
                type="function",
                function=DeltaFunctionCall(name=call.function.name, arguments=call.function.arguments),
            )
            for index, call in enumerate(calls)
        ]
        return content or "", deltas


def joined(pieces: list[str]) -> str:
    """Text kept as pieces, as one string; that becomes the only piece, so reading again is free."""
    if len(pieces) > 1:
        pieces[:] = ["".join(pieces)]
    return pieces[0] if pieces else ""
