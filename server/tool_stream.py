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
    def __init__(self, plan: ToolPlan, tokenizer: PreTrainedTokenizerBase) -> None:
        self._plan = plan
        self._tokenizer = tokenizer
        self._held = ""
        self._named: ToolCall | None = None
        self.content: str | None = None if plan.calls_possible else ""
        self.calls: list[ToolCall] = []

    def feed(self, answer: str) -> tuple[str, list[DeltaToolCall]]:
        """Take answer text; return the content and the tool-call deltas to send now."""
        if not self._plan.calls_possible:
            self.content = (self.content or "") + answer
            return answer, []
        if self._plan.mode != "named":
            self._held += answer
            return "", []
        if not answer:
            return "", []
        if self._named is None:
            self._named = new_call(self._plan.named or "", "")
            self.calls = [self._named]
            first = DeltaToolCall(
                index=0,
                id=self._named.id,
                type="function",
                function=DeltaFunctionCall(name=self._named.function.name, arguments=answer),
            )
            self._named.function.arguments = answer
            return "", [first]
        self._named.function.arguments += answer
        return "", [DeltaToolCall(index=0, function=DeltaFunctionCall(arguments=answer))]

    def finish(self) -> tuple[str, list[DeltaToolCall]]:
        """The answer is complete: parse what was held back; return what is left to send."""
        if not self._plan.calls_possible or self._plan.mode == "named":
            return "", []
        content, calls = self._plan.parse(self._held, self._tokenizer)
        self.content, self.calls = content, calls
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
