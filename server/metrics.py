"""The server's own reasoning metrics, beside vLLM's ``vllm:*`` ones in the same registry.

Named ``quantreason:*`` in vLLM's style, so one dashboard holds both; every series has vLLM's
``model_name`` label.
"""

from __future__ import annotations

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram

_TOKEN_BUCKETS = (0, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768)
_SECONDS_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 40, 80, 160, 320)


class ServerMetrics:
    def __init__(self, model_name: str, scheme: str, registry: CollectorRegistry = REGISTRY) -> None:
        labels = {"model_name": model_name}

        def counter(name: str, documentation: str) -> Counter:
            return Counter(name, documentation, list(labels), registry=registry)

        def histogram(name: str, documentation: str, buckets: tuple[float, ...]) -> Histogram:
            return Histogram(name, documentation, list(labels), buckets=buckets, registry=registry)

        self._requests = Counter(
            "quantreason:requests",
            "Chat completion and responses requests, by the quantization scheme of the served model.",
            ["model_name", "scheme"],
            registry=registry,
        ).labels(model_name=model_name, scheme=scheme)
        self.reasoning_tokens = histogram(
            "quantreason:reasoning_tokens", "Reasoning tokens per choice.", _TOKEN_BUCKETS
        ).labels(**labels)
        self.answer_tokens = histogram(
            "quantreason:answer_tokens", "Answer tokens per choice.", _TOKEN_BUCKETS
        ).labels(**labels)
        self.time_to_first_answer_token = histogram(
            "quantreason:time_to_first_answer_token_seconds",
            "From request arrival to the first answer (not reasoning) token of a choice.",
            _SECONDS_BUCKETS,
        ).labels(**labels)
        self.forced_thinking_ends = counter(
            "quantreason:forced_thinking_ends", "Choices whose thinking was ended by a budget."
        ).labels(**labels)
        self.thinking_extensions = counter(
            "quantreason:thinking_extensions", "Extension texts inserted to reach a minimum of thinking."
        ).labels(**labels)
        self.tool_calls = counter(
            "quantreason:tool_calls", "Tool calls returned to clients (chat and responses)."
        ).labels(**labels)
        self.empty_answers = counter(
            "quantreason:empty_answers", "Choices that finished with an empty answer."
        ).labels(**labels)

    def request(self) -> None:
        self._requests.inc()
