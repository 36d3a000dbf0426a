from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from server.thinking import ThinkingDefaults

_THINKING = ThinkingDefaults()


def config_default(field: str) -> Any:
    """A ServerConfig field's default: what ``serve`` does when the flag is not given."""
    return ServerConfig.model_fields[field].get_default(call_default_factory=True)


class ServerConfig(BaseModel):
    """Everything ``serve`` is started with; the CLI and tests build one of these."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str
    served_model_name: str | None = None
    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=0, le=65535)] = 8000
    api_key: str | None = None
    max_model_len: Annotated[int | None, Field(ge=16)] = None
    tensor_parallel_size: Annotated[int, Field(ge=1)] = 1
    pipeline_parallel_size: Annotated[int, Field(ge=1)] = 1
    # Engine copies behind this one frontend, each on tensor x pipeline devices (vLLM's internal
    # load balancer); separate replicas behind a Service are the other way to scale out.
    data_parallel_size: Annotated[int, Field(ge=1)] = 1
    kv_cache_dtype: str = "auto"
    dtype: str = "auto"
    # None: 0.9 on GPUs; 0.2 on CPUs, where vLLM sizes its KV cache from host memory.
    gpu_memory_utilization: Annotated[float | None, Field(gt=0, le=1)] = None
    # An exact KV cache size instead (vLLM's kv_cache_memory_bytes). On a CPU, vLLM sizes the cache as a
    # fraction of the first NUMA node's memory less the process's own, so a fraction that works on one
    # host fails on another with a smaller node; a size in bytes does not depend on the host.
    kv_cache_memory_bytes: Annotated[int | None, Field(gt=0)] = None
    seed: int = 0
    enforce_eager: bool = False
    # vLLM's compilation config (its --compilation-config), e.g. {"cudagraph_mode": "FULL"}; None:
    # vLLM's defaults. docs/benchmarks/gpu.md measures when FULL graphs pay (budget forcing, small models).
    compilation_config: dict[str, Any] | None = None
    # W4A16 GEMM kernel: vLLM's choice, or one forced (server/vllm_compat.py says how).
    w4a16_kernel: Literal["auto", "machete", "marlin"] = "auto"
    # Run one chat and one text completion through the real path before /health says ready.
    startup_self_test: bool = True
    # "auto" guesses from the chat template; "none" turns reasoning separation off.
    think_format: str = "auto"
    # Any other model: its own delimiters (both needed); whether its template opens the block.
    think_start: str | None = None
    think_end: str | None = None
    think_in_prompt: bool = False
    # vLLM's tool parser for tool_choice "auto" (as vLLM's --tool-call-parser); None: "auto" is a 400.
    tool_call_parser: str | None = None
    # Admission: generation requests in flight before 429 (0: unbounded), body size before 413,
    # and how long SIGTERM waits for in-flight requests to finish.
    max_pending_requests: Annotated[int, Field(ge=0)] = 1024
    max_request_bytes: Annotated[int, Field(ge=1024)] = 16 * 1024 * 1024
    drain_timeout: Annotated[float, Field(ge=0)] = 120.0
    # Server-wide thinking defaults; requests override them. Their values are ThinkingDefaults'
    # (server/thinking.py); the command line and the chart take them from here.
    thinking_budget: Annotated[int | None, Field(ge=0)] = _THINKING.budget
    min_thinking_tokens: Annotated[int, Field(ge=0)] = _THINKING.min_tokens
    max_thinking_extensions: Annotated[int, Field(ge=0)] = _THINKING.max_extensions
    thinking_extension_text: str = _THINKING.extension_text
    thinking_wrapup_text: str = _THINKING.wrapup_text
    answer_reserve_tokens: Annotated[int, Field(ge=0)] = _THINKING.answer_reserve
    effort_budgets: dict[str, int] = Field(default_factory=lambda: dict(_THINKING.effort_budgets))

    def thinking_defaults(self) -> ThinkingDefaults:
        return ThinkingDefaults(
            budget=self.thinking_budget,
            min_tokens=self.min_thinking_tokens,
            max_extensions=self.max_thinking_extensions,
            extension_text=self.thinking_extension_text,
            wrapup_text=self.thinking_wrapup_text,
            answer_reserve=self.answer_reserve_tokens,
            effort_budgets=dict(self.effort_budgets),
        )

    @field_validator("compilation_config", mode="before")
    @classmethod
    def _compilation_config_from_json(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError as exc:
            raise ValueError(f"not JSON ({exc})") from None
        if not isinstance(parsed, dict):
            raise ValueError('expected a JSON object, e.g. {"cudagraph_mode": "FULL"}')
        return parsed

    @model_validator(mode="after")
    def _delimiters_go_together(self) -> ServerConfig:
        if bool(self.think_start) != bool(self.think_end):
            raise ValueError("--think-start and --think-end go together")
        return self

    @property
    def model_name(self) -> str:
        return self.served_model_name or self.model

    def model_path_hint(self) -> str | None:
        """A one-line reason the model cannot be served, if one is visible before loading."""
        path = Path(self.model)
        if path.is_absolute() or self.model.startswith((".", "~")) or path.exists():
            if not path.expanduser().exists():
                return f"model directory {self.model} does not exist"
            if not (path.expanduser() / "config.json").exists():
                return f"{self.model} has no config.json: not a Hugging Face model directory"
        return None
