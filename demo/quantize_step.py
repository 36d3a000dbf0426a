"""The demo's quantize step: the embedded tiny reasoner to every scheme, served where this CPU can.

Talks to ``quantize`` only through its command line (which hands itself to the quantize environment) and
its artifacts' ``quantreason.json``; serves through ``serve`` and the OpenAI API like any user would.
The first calibrated scheme collects the reasoner's own traces through ``serve`` (``--calib reasoning``);
the others reuse that traces file, so the engine starts once for calibration. Artifacts already made
with the same scheme are reused.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from openai import OpenAI
from pydantic import BaseModel
from rich.console import Console
from rich.table import Table

from demo.study_step import PhaseTimes, emulation_for
from launcher import ServerProcess, ServerStartError
from quantize.environment import missing_environment
from tinymodel import REASONER_DIR

PROMPTS = Path(__file__).resolve().parents[1] / "evalclient" / "data" / "toy-arith.jsonl"
# Beside every scheme of quantize's registry (in its order), the demo shows one combination.
COMBINED_SCHEMES = ("w4a16+fp8-kv",)
NUM_SAMPLES = 32
MAX_SEQ_LEN = 512
TRACE_MAX_TOKENS = 256
# An engine start takes ~40 s on 2 quiet cores, many minutes on a host shared with other work.
START_TIMEOUT_S = 900.0


class QuantizeStepError(RuntimeError):
    """The quantize step cannot run on this machine at all; the message says what to run."""


class SchemeInfo(BaseModel):
    name: str
    summary: str
    serving: str
    runs_on_vllm_cpu: bool
    weight_bits: int = 16


class QuantizeStepResult(BaseModel):
    scheme: str
    artifact: Path | None
    error: str | None = None
    wall_time_s: float | None = None
    weights_bytes: int | None = None
    served: bool = False
    # Served as its weights-only emulation (``quantize emulate``), not with the scheme's own kernel.
    emulated: bool = False
    serving: str = ""
    question: str | None = None
    reasoning: str | None = None
    answer: str | None = None
    expected: str | None = None


def scheme_registry() -> dict[str, SchemeInfo]:
    listing = subprocess.run(
        [sys.executable, "-m", "quantize", "--list-schemes", "--json"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    infos = [SchemeInfo.model_validate_json(line) for line in listing.splitlines() if line.strip()]
    return {info.name: info for info in infos}


def _make(scheme: str, out: Path, calib_args: list[str], log: Path) -> str | None:
    """``quantize`` in a child process; None when it made the artifact, else its one-line error."""
    command = [
        sys.executable, "-m", "quantize", "--model", str(REASONER_DIR), "--scheme", scheme, "--out", str(out),
        "--num-samples", str(NUM_SAMPLES), "--max-seq-len", str(MAX_SEQ_LEN), *calib_args,
    ]  # fmt: skip
    with log.open("a") as sink:
        done = subprocess.run(command, stdout=sink, stderr=subprocess.PIPE, text=True)
        sink.write(done.stderr)
    return None if done.returncode == 0 else (done.stderr.strip().splitlines() or ["failed"])[-1]


def _existing(out: Path, scheme: str) -> dict[str, object] | None:
    """The manifest of an artifact made earlier from the current weights (a checkout that changes the
    weights makes them newer than the artifact), else None."""
    manifest = out / "quantreason.json"
    source = REASONER_DIR / "model.safetensors"
    if manifest.is_file() and manifest.stat().st_mtime > source.stat().st_mtime:
        record = json.loads(manifest.read_text())
        if record.get("scheme") == scheme:
            return dict(record)
    return None


# Called while a scheme's artifact is served, e.g. to evaluate it: (scheme = served model name, server).
WhileServed = Callable[[str, ServerProcess], None]


def _ask(
    console: Console, artifact: Path, scheme: str, log: Path, while_served: WhileServed | None
) -> tuple[str, str, str, str]:
    problem = json.loads(PROMPTS.read_text().splitlines()[0])
    server = ServerProcess(
        artifact, "--served-model-name", scheme, "--enforce-eager", "--gpu-memory-utilization", "0.05",
        "--max-model-len", "1024", log_path=log, start_timeout=START_TIMEOUT_S,
    )  # fmt: skip
    with console.status(f"serving {scheme} ({server.url})"), server:
        client = OpenAI(base_url=server.base_url, api_key="unused")
        reply = client.chat.completions.create(
            model=scheme,
            messages=[{"role": "user", "content": problem["problem"]}],
            max_tokens=256,
            temperature=0,
        )
        message = reply.choices[0].message
        console.print(
            f"[bold]{scheme}[/] thinks: {(message.model_extra or {}).get('reasoning_content')!r} "
            f"-> {message.content!r}"
        )
        if while_served is not None:
            while_served(scheme, server)
    reasoning = str((message.model_extra or {}).get("reasoning_content") or "")
    return problem["problem"], reasoning, message.content or "", f"\\boxed{{{problem['answer']}}}"


def quantize_step(
    console: Console,
    workdir: Path,
    schemes: tuple[str, ...] | None = None,
    while_served: WhileServed | None = None,
    *,
    emulate: bool = False,
    times: PhaseTimes | None = None,
) -> list[QuantizeStepResult]:
    """Quantize the tiny reasoner to ``schemes`` (default: every registered one, then
    ``COMBINED_SCHEMES``), serve those this CPU executes (asking one question, then calling
    ``while_served``), say which need a GPU. The first calibrated one gathers the traces the rest reuse.
    With ``emulate``, a scheme with quantized weights that this CPU cannot execute is served as its
    weights-only emulation instead, and labelled so."""
    times = times or PhaseTimes()
    if problem := missing_environment():
        raise QuantizeStepError(f"quantize cannot run: {problem}")
    registry = scheme_registry()
    if schemes is None:
        schemes = (*registry, *COMBINED_SCHEMES)
    artifacts_dir = workdir / "artifacts"
    logs = workdir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    artifacts_dir.mkdir(parents=True, exist_ok=True)
    log = logs / "demo-quantize.log"
    traces: Path | None = None
    results: list[QuantizeStepResult] = []
    for scheme in schemes:
        base = scheme.split("+")[0]
        info = registry.get(scheme) or registry[base]
        runs_here = info.runs_on_vllm_cpu and ("+" not in scheme or registry["fp8-kv"].runs_on_vllm_cpu)
        out = artifacts_dir / f"tiny-reasoner-{scheme.replace('+', '_')}"
        result = QuantizeStepResult(scheme=scheme, artifact=out, serving=info.serving)
        manifest = _existing(out, scheme)
        if manifest is None:
            calib = (
                ["--traces", str(traces)] if traces else ["--calib", "reasoning", "--prompts", str(PROMPTS)]
            )
            calib += ["--trace-max-tokens", str(TRACE_MAX_TOKENS)]
            started = time.monotonic()
            with console.status(f"quantize {scheme} (log: {log})"), times.phase("quantize", scheme):
                result.error = _make(scheme, out, [*calib, "--force"], log)
            if result.error:
                earlier = next((r.scheme for r in results if r.error == result.error), None)
                console.print(
                    f"[red]{scheme}[/]: " + (f"failed as {earlier} did" if earlier else result.error)
                )
                results.append(result)
                continue
            manifest = _existing(out, scheme) or {}
            console.print(f"[green]{scheme}[/] made in {time.monotonic() - started:.0f} s: {out}")
        if traces is None and (out / "calibration" / "traces.jsonl").is_file():
            traces = out / "calibration" / "traces.jsonl"
        result.wall_time_s = float(manifest.get("wall_time_s", 0.0))  # type: ignore[arg-type]
        result.weights_bytes = int(manifest.get("size_bytes", 0))  # type: ignore[call-overload]
        served_dir: Path | None = out if runs_here else None
        if not runs_here and emulate and info.weight_bits < 16:
            with console.status(f"quantize emulate {scheme}"), times.phase("emulate", scheme):
                served_dir, result.error = emulation_for(out, log)
            result.emulated = served_dir is not None
        if served_dir is not None:
            try:
                with times.phase("serve (engine start and stop, one question)", scheme):
                    result.question, result.reasoning, result.answer, result.expected = _ask(
                        console, served_dir, scheme, logs / f"demo-serve-{scheme}.log", while_served
                    )
                result.served = True
            except (ServerStartError, OSError) as exc:
                result.error = f"serve failed: {str(exc).splitlines()[0]}"
        results.append(result)
    show(console, results)
    return results


def show(console: Console, results: list[QuantizeStepResult]) -> None:
    bf16 = next((r.weights_bytes for r in results if r.scheme == "bf16" and r.weights_bytes), None)
    table = Table(title="quantize: the tiny reasoner in every scheme")
    for column in ("scheme", "made in", "weights vs bf16", "served on this CPU", "answer (expected)"):
        table.add_column(column)
    for r in results:
        size = f"{r.weights_bytes / bf16:.2f}x" if bf16 and r.weights_bytes else "-"
        # Errors are printed once, after the table (several schemes may fail alike).
        made = f"{r.wall_time_s:.0f} s" if r.wall_time_s else ("failed" if r.error else "-")
        answer = f"{r.answer} ({r.expected})" if r.served else "-"
        if r.served:
            where = "emulated (weights only)" if r.emulated else "yes"
        elif r.error:
            where = "failed" if r.wall_time_s else "-"  # serving failed / quantizing did
        else:
            where = f"needs a GPU: {r.serving}"
        table.add_row(r.scheme, made, size, where, answer)
    console.print(table)
