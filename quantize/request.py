"""What one quantization run is asked to do (the CLI builds one; tests and benchmarks too)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict

from quantize.errors import QuantizeError
from reasoning_formats import ThinkFormat, resolve_think_format


class QuantizeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    model: str
    scheme: str
    out: Path
    calib: str = "reasoning"
    num_samples: int = 256
    max_seq_len: int = 4096
    force: bool = False
    prompts: Path | None = None
    data_dir: Path | None = None
    traces: Path | None = None
    trace_max_tokens: int = 2048
    # A server already serving the source model (its root URL), instead of starting one for the traces.
    trace_server: str | None = None
    trace_model: str | None = None
    trace_api_key: str | None = None
    heldout: int = 8
    # The source model's think delimiters, as serve takes them: a format name ("auto": guessed from the
    # chat template), or its own start/end delimiters. Traces are rendered in them.
    think_format: str = "auto"
    think_start: str | None = None
    think_end: str | None = None
    think_in_prompt: bool = False

    def resolve_think_format(self, chat_template: str | None) -> ThinkFormat | None:
        try:
            return resolve_think_format(
                self.think_format,
                chat_template,
                start=self.think_start,
                end=self.think_end,
                prompt_opens_think=self.think_in_prompt,
            )
        except ValueError as exc:
            raise QuantizeError(str(exc)) from None
