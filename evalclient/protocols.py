"""Protocol presets: everything a published number needs, pinned. Command-line flags override them.

- ``liu2025`` (Liu et al. 2025, "Quantization Hurts Reasoning?"): T=0.6, top_p=0.95, 32768 tokens,
  seeds 42/43/44 with one sample each, the full output (reasoning included) scored.
- ``deepseek-r1`` (DeepSeek-R1 report): T=0.6, top_p=0.95, 32768 tokens, n samples per problem for
  pass@1 (16 by default; the report uses 4 to 64 depending on the set's size), the answer scored.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

from evalclient.errors import EvalclientError


class Protocol(BaseModel):
    name: str
    description: str
    temperature: float
    top_p: float
    max_tokens: int
    seeds: list[int | None]
    n: int
    score_on: Literal["answer", "full"]


PROTOCOLS: dict[str, Protocol] = {
    protocol.name: protocol
    for protocol in (
        Protocol(
            name="liu2025",
            description="Liu et al. 2025: T=0.6, top_p=0.95, 32768 tokens, seeds 42/43/44, full output",
            temperature=0.6,
            top_p=0.95,
            max_tokens=32768,
            seeds=[42, 43, 44],
            n=1,
            score_on="full",
        ),
        Protocol(
            name="deepseek-r1",
            description="DeepSeek-R1: T=0.6, top_p=0.95, 32768 tokens, 16 samples per problem for pass@1",
            temperature=0.6,
            top_p=0.95,
            max_tokens=32768,
            seeds=[42],
            n=16,
            score_on="answer",
        ),
    )
}


class UnknownProtocolError(EvalclientError, ValueError):
    """A protocol name the registry does not have."""


def get_protocol(name: str) -> Protocol:
    try:
        return PROTOCOLS[name]
    except KeyError:
        raise UnknownProtocolError(
            f"unknown protocol {name!r}; valid: {', '.join(sorted(PROTOCOLS))}"
        ) from None
