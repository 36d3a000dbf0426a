"""Reasoning traces of the source model, generated through the project's server over HTTP.

``serve`` lives in the serving environment (vLLM), so it is started as a child process with that
environment's Python; its OpenAI chat API returns ``reasoning_content`` and ``content`` apart. Each trace
is appended to a JSONL as it arrives (nothing is lost), and that file can be passed back with ``--traces``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
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


def _one_trace(client: httpx.Client, model: str, prompt: str, max_tokens: int, seed: int) -> TraceRecord:
    response = client.post(
        "/v1/chat/completions",
        json={
            "model": model,
            "messages": [{"role": "user", "content": prompt}],
            "max_tokens": max_tokens,
            # DeepSeek's recommended sampling for R1 distills: the traces the model really writes.
            "temperature": 0.6,
            "top_p": 0.95,
            "seed": seed,
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
    prompts: Sequence[str],
    out: Path,
    max_tokens: int,
    model: str = SERVED_NAME,
    api_key: str | None = API_KEY,
) -> list[TraceRecord]:
    """Ask a running server (``base_url`` is its root) for one trace per prompt, appending each to ``out``
    as it completes."""
    traces: list[TraceRecord] = []
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    with (
        httpx.Client(base_url=base_url, headers=headers, timeout=600) as client,
        out.open("a") as sink,
        ThreadPoolExecutor(CONCURRENCY) as pool,
        Progress(transient=True) as progress,
    ):
        task = progress.add_task("reasoning traces from the source model", total=len(prompts))
        futures = [
            pool.submit(_one_trace, client, model, prompt, max_tokens, seed)
            for seed, prompt in enumerate(prompts)
        ]
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
    prompts: Sequence[str],
    out: Path,
    max_tokens: int,
    log_path: Path,
    think_format: ThinkFormat | None = None,
) -> list[TraceRecord]:
    """Start ``serve`` on the source model (serving environment), collect traces, stop it."""
    from launcher import ServerProcess, ServerStartError

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
        "--gpu-memory-utilization",
        "0.05",
        *eager,
        *think_format_args(think_format),
        python=python,
        api_key=API_KEY,
        log_path=log_path,
        start_timeout=900.0,  # minutes on a CPU host shared with other work
    )
    try:
        with server:
            return request_traces(server.url, prompts, out, max_tokens)
    except ServerStartError as exc:
        raise CalibrationError(
            f"could not start serve on {model} for traces: {str(exc).splitlines()[0]}"
        ) from exc
