"""The demo's quantize step: the embedded tiny reasoner to every scheme, served where this CPU can.

Talks to ``quantize`` only through its command line (which hands itself to the quantize environment) and
its artifacts' ``quantreason.json``; serves through ``serve`` and the OpenAI API like any user would.
The first calibrated scheme collects the reasoner's own traces (``--calib reasoning``) through the bf16
server the demo runs anyway (``--trace-server``; a ``serve`` of quantize's own where bf16 is not served just
before it); the others reuse that traces file, so no engine starts for calibration alone. Artifacts already
made with the same scheme are reused.

The schemes go through a pipeline one deep (2 cores): while one scheme is served and evaluated, a worker
thread prepares the next (quantizes it, emulates it where this CPU lacks its kernel, starts its engine and
waits until it is healthy), and a server that is done is stopped in the background. A failure while
preparing is that scheme's error, as if it had been made in turn; whatever stops the demo, every server
it started is stopped.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from openai import OpenAI
from pydantic import BaseModel
from rich.console import Console
from rich.table import Table

from demo.study_step import PhaseTimes, emulation_for
from launcher import SMALL_KV_CACHE, ServerProcess, ServerStartError
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
# The tiny reasoner's context (max_position_embeddings): what quantize's own serve for traces takes too.
MAX_MODEL_LEN = 1024
# The unquantized scheme: its server also gives the calibration traces (same weights as the source model).
SOURCE_SCHEME = "bf16"
ENGINE_START = "serve: engine start"
QUESTION = "serve: one question"
ENGINE_STOP = "serve: engine stop"


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


def _server_for(served_dir: Path, scheme: str, log: Path) -> ServerProcess:
    return ServerProcess(
        served_dir, "--served-model-name", scheme, "--enforce-eager", *SMALL_KV_CACHE,
        "--max-model-len", str(MAX_MODEL_LEN), log_path=log, start_timeout=START_TIMEOUT_S,
    )  # fmt: skip


def _ask_question(console: Console, server: ServerProcess, scheme: str) -> tuple[str, str, str, str]:
    """One toy-arith question through the OpenAI SDK: (question, reasoning, answer, expected answer)."""
    problem = json.loads(PROMPTS.read_text().splitlines()[0])
    client = OpenAI(base_url=server.base_url, api_key="unused")
    reply = client.chat.completions.create(
        model=scheme,
        messages=[{"role": "user", "content": problem["problem"]}],
        max_tokens=256,
        temperature=0,
    )
    message = reply.choices[0].message
    reasoning = str((message.model_extra or {}).get("reasoning_content") or "")
    console.print(f"[bold]{scheme}[/] thinks: {reasoning!r} -> {message.content!r}")
    return problem["problem"], reasoning, message.content or "", f"\\boxed{{{problem['answer']}}}"


def _ask(
    console: Console,
    served_dir: Path,
    scheme: str,
    log: Path,
    while_served: WhileServed | None,
    times: PhaseTimes,
) -> tuple[str, str, str, str]:
    """Serve ``served_dir`` as ``scheme``, ask one question, call ``while_served``, stop: one scheme alone,
    nothing overlapping (the recover step)."""
    server = _server_for(served_dir, scheme, log)
    try:
        with console.status(f"starting serve on {scheme} ({server.url})"), times.phase(ENGINE_START, scheme):
            server.start()
        with times.phase(QUESTION, scheme):
            asked = _ask_question(console, server, scheme)
        if while_served is not None:
            while_served(scheme, server)
    finally:
        with times.phase(ENGINE_STOP, scheme):
            server.stop()
    return asked


@dataclass
class _Prepared:
    result: QuantizeStepResult
    server: ServerProcess | None = None  # healthy; None when there is nothing to serve (failed, needs a GPU)


class _Pipeline:
    """Prepares the next scheme on a worker thread while the main thread serves the current one, and stops
    servers in the background (vLLM's engine shutdown takes seconds). Closing it stops every server it
    launched that is still running, whatever stopped the demo."""

    def __init__(self, times: PhaseTimes) -> None:
        self.times = times
        # One long-lived worker launches every engine: the lifeline stops a server when the thread that
        # launched it ends, so it must not be a thread that ends with its task.
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="demo-prepare")
        self._lock = threading.Lock()
        self._running: dict[ServerProcess, str] = {}  # launched, and no one is stopping them yet: scheme
        self._stops: list[threading.Thread] = []
        self._closing = False

    def submit(self, prepare: Callable[[], _Prepared]) -> Future[_Prepared]:
        return self._worker.submit(prepare)

    @property
    def closing(self) -> bool:
        return self._closing

    def launch(self, server: ServerProcess, scheme: str) -> bool:
        """Launch from the worker; False (nothing launched) once the pipeline is closing."""
        with self._lock:
            if self._closing:
                return False
            server.launch()
            self._running[server] = scheme
        return True

    def stop(self, server: ServerProcess) -> None:
        """Stop it now, unless another thread stops it already."""
        if (scheme := self._claim(server)) is not None:
            self._stop(server, scheme)

    def stop_in_background(self, server: ServerProcess) -> None:
        if (scheme := self._claim(server)) is not None:
            thread = threading.Thread(target=self._stop, args=(server, scheme), name=f"demo-stop-{scheme}")
            thread.start()
            self._stops.append(thread)

    def _claim(self, server: ServerProcess) -> str | None:
        """Its scheme, for the one caller that is to stop it; None when another one does already."""
        with self._lock:
            return self._running.pop(server, None)

    def _stop(self, server: ServerProcess, scheme: str) -> None:
        with self.times.phase(ENGINE_STOP, scheme):
            server.stop()

    def close(self) -> None:
        """Stop what still runs (a failure or Ctrl-C leaves a served and a prepared server), then wait for
        the stops and the worker: a worker waiting for an engine that is stopped gives up at once."""
        with self._lock:
            self._closing = True
            running = list(self._running)
        for server in running:
            self.stop_in_background(server)
        for thread in self._stops:
            thread.join()
        self._worker.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> _Pipeline:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class _SchemeMaker:
    """Makes a scheme ready to serve (quantized, emulated where needed, its engine healthy); runs on the
    pipeline's worker, one scheme after the other, so ``traces`` is only ever touched by one at a time."""

    def __init__(
        self,
        console: Console,
        workdir: Path,
        registry: dict[str, SchemeInfo],
        pipeline: _Pipeline,
        *,
        emulate: bool,
    ) -> None:
        self.console = console
        self.registry = registry
        self.pipeline = pipeline
        self.emulate = emulate
        self.artifacts_dir = workdir / "artifacts"
        self.logs = workdir / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.artifacts_dir.mkdir(parents=True, exist_ok=True)
        self.log = self.logs / "demo-quantize.log"
        self.traces: Path | None = None
        self.errors: dict[str, str] = {}  # error -> the first scheme that failed with it

    def prepare(self, scheme: str, trace_server: ServerProcess | None) -> _Prepared:
        """``trace_server``: the bf16 server, up while this runs, for the first calibrated scheme's traces."""
        times = self.pipeline.times
        base = scheme.split("+")[0]
        info = self.registry.get(scheme) or self.registry[base]
        fp8_kv_runs = "+" not in scheme or self.registry["fp8-kv"].runs_on_vllm_cpu
        runs_here = info.runs_on_vllm_cpu and fp8_kv_runs
        out = self.artifacts_dir / f"tiny-reasoner-{scheme.replace('+', '_')}"
        result = QuantizeStepResult(scheme=scheme, artifact=out, serving=info.serving)
        prepared = _Prepared(result)
        manifest = _existing(out, scheme)
        if manifest is None:
            if self.pipeline.closing:
                return prepared
            started = time.monotonic()
            self.console.print(f"quantize {scheme} (log: {self.log})")
            with times.phase("quantize", scheme):
                result.error = _make(scheme, out, [*self._calibration(trace_server), "--force"], self.log)
            if result.error:
                earlier = self.errors.setdefault(result.error, scheme)
                said = result.error if earlier == scheme else f"failed as {earlier} did"
                self.console.print(f"[red]{scheme}[/]: {said}")
                return prepared
            manifest = _existing(out, scheme) or {}
            self.console.print(f"[green]{scheme}[/] made in {time.monotonic() - started:.0f} s: {out}")
        if self.traces is None and (out / "calibration" / "traces.jsonl").is_file():
            self.traces = out / "calibration" / "traces.jsonl"
        result.wall_time_s = float(manifest.get("wall_time_s", 0.0))  # type: ignore[arg-type]
        result.weights_bytes = int(manifest.get("size_bytes", 0))  # type: ignore[call-overload]
        served_dir: Path | None = out if runs_here else None
        if not runs_here and self.emulate and info.weight_bits < 16 and not self.pipeline.closing:
            with times.phase("emulate", scheme):
                served_dir, result.error = emulation_for(out, self.log)
            result.emulated = served_dir is not None
        if served_dir is not None:
            prepared.server = self._start_server(served_dir, result)
        return prepared

    def _calibration(self, trace_server: ServerProcess | None) -> list[str]:
        """quantize's calibration flags: the traces gathered already, else new ones from the bf16 server the
        demo runs (sampled as quantize's own serve would sample them: same weights, context, think format),
        else from a serve quantize starts itself."""
        if self.traces:
            calib = ["--traces", str(self.traces)]
        else:
            calib = ["--calib", "reasoning", "--prompts", str(PROMPTS)]
            if trace_server is not None:
                calib += ["--trace-server", trace_server.url, "--trace-model", SOURCE_SCHEME]
        return [*calib, "--trace-max-tokens", str(TRACE_MAX_TOKENS)]

    def _start_server(self, served_dir: Path, result: QuantizeStepResult) -> ServerProcess | None:
        scheme = result.scheme
        server = _server_for(served_dir, scheme, self.logs / f"demo-serve-{scheme}.log")
        try:
            with self.pipeline.times.phase(ENGINE_START, scheme):
                if not self.pipeline.launch(server, scheme):
                    return None
                server.wait_ready()
        except (ServerStartError, OSError) as exc:
            self.pipeline.stop(server)
            result.error = f"serve failed: {str(exc).splitlines()[0]}"
            return None
        self.console.print(f"[green]{scheme}[/] served at {server.url}")
        return server


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
    weights-only emulation instead, and labelled so.

    While one scheme is served, the next is prepared on a worker thread (quantized, emulated, its engine
    started), and a served scheme's server is stopped in the background."""
    times = times or PhaseTimes()
    if problem := missing_environment():
        raise QuantizeStepError(f"quantize cannot run: {problem}")
    registry = scheme_registry()
    if schemes is None:
        schemes = (*registry, *COMBINED_SCHEMES)
    results: list[QuantizeStepResult] = []
    if not schemes:
        return results
    with _Pipeline(times) as pipeline:
        maker = _SchemeMaker(console, workdir, registry, pipeline, emulate=emulate)

        def prepare(scheme: str, trace_server: ServerProcess | None = None) -> Future[_Prepared]:
            return pipeline.submit(lambda: maker.prepare(scheme, trace_server))

        pending = prepare(schemes[0])
        # The bf16 server, kept up until the next scheme's quantize has asked it for its traces.
        kept_for_traces: ServerProcess | None = None
        for index, scheme in enumerate(schemes):
            with console.status(f"preparing {scheme} (quantize, emulate, engine start)"):
                prepared = pending.result()
            if kept_for_traces is not None:
                pipeline.stop_in_background(kept_for_traces)
                kept_for_traces = None
            result, server = prepared.result, prepared.server
            results.append(result)
            following = schemes[index + 1] if index + 1 < len(schemes) else None
            if server is None:
                if following:
                    pending = prepare(following)
                continue
            with times.phase(QUESTION, scheme):
                result.question, result.reasoning, result.answer, result.expected = _ask_question(
                    console, server, scheme
                )
            result.served = True
            # The first calibrated scheme quantized after bf16 asks bf16's server for its traces.
            trace_server = server if scheme == SOURCE_SCHEME and maker.traces is None else None
            if following:
                pending = prepare(following, trace_server)
            if while_served is not None:
                while_served(scheme, server)
            if trace_server is not None and following:
                kept_for_traces = server
            else:
                pipeline.stop_in_background(server)
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
