"""The GPU study: what each quantization scheme buys, made by our `quantize`, served by our `serve`,
measured by our `loadtest`, every figure against bf16 of the same shape in the same run.

On a GPU host with the serving environment (vLLM) and a quantize environment:

    python benchmarks/gpu/study.py run --shape 7b --work /tmp/study --out results/
    python benchmarks/gpu/study.py report results/results.jsonl --out docs/benchmarks

`run` is resumable: each cell (a scheme, a kernel, a server) appends one JSON line to
``results.jsonl`` and is skipped when run again; ``--budget-s`` stops before a cell that would not
finish in time (the lent GPU's calls last at most 10 minutes; benchmarks/gpu/README.md has the recipe).
Cells run in priority order (``PLANS``). Random-weight models of the real shapes (random_model.py):
speed depends on shapes, not weight values; outputs have fixed lengths (ignore_eos).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from random_model import SHAPES, build_random_model  # noqa: E402

# Never use NVLink multicast on the shared hosts (benchmarks/gpu/README.md says why).
SAFE_ENV = {"NCCL_NVLS_ENABLE": "0", "TORCH_SYMM_MEM_DISABLE_MULTICAST": "1", "NVSHMEM_DISABLE_NVLS": "1"}
MAX_MODEL_LEN = 8192
TEMPERATURE = 0.6
SLO = "ttft:2000,tpot:50"  # goodput: first token within 2 s, then at least 20 tokens/s per request


@dataclass(frozen=True)
class Load:
    name: str
    profile: str
    dataset: str
    num_requests: int
    extra_body: dict[str, Any] = field(default_factory=dict)


LOADS: dict[str, Load] = {
    # 12 requests at concurrency 1: a single slow request of 4 moved a ratio by 10% (1.5B, run 4).
    "c1": Load("c1", "concurrency:1", "random:256:512", 12),
    "c16": Load("c16", "concurrency:16", "random:256:512", 32),
    "c64": Load("c64", "concurrency:64", "random:256:512", 128),
    "c256": Load("c256", "concurrency:256", "random:256:512", 512),
    "reasoning": Load("reasoning", "concurrency:64", "random:256:4096", 64),
    # Budget forcing at equal length: thinking cut at 256 tokens, then the answer to 512 in all.
    "c1-forced": Load("c1-forced", "concurrency:1", "random:256:512", 12, {"max_thinking_tokens": 256}),
    "c64-forced": Load("c64-forced", "concurrency:64", "random:256:512", 128, {"max_thinking_tokens": 256}),
    # c64's 128 requests take 4 s on the 1.5B shape, and two runs of it differed by 10% (run 7): a few
    # percent of forcing cost needs longer loads.
    "c64-512": Load("c64-512", "concurrency:64", "random:256:512", 512),
    "c64-512-forced": Load(
        "c64-512-forced", "concurrency:64", "random:256:512", 512, {"max_thinking_tokens": 256}
    ),
}
THROUGHPUT_LOADS = ("c1", "c16", "c64", "c256")


def load_named(name: str) -> Load:
    """A load of a cell; "c64#2" is c64 run again in the same cell (to see the spread between two
    runs of one load, alternated with another)."""
    return LOADS[name.partition("#")[0]]


@dataclass(frozen=True)
class Cell:
    scheme: str
    kernel: str = "auto"
    server: str = "serve"  # or "vllm": vLLM's own OpenAI server on the same engine arguments
    loads: tuple[str, ...] = ("c1", "c64", "c256")
    # vLLM's CUDA graph mode: "default" (FULL_AND_PIECEWISE: full graphs for pure-decode steps only) or
    # "full" (full graphs for mixed prefill-decode steps too, where the attention backend allows it)
    cudagraph: str = "default"

    @property
    def key(self) -> str:
        key = f"{self.scheme}|{self.kernel}|{self.server}"
        return key if self.cudagraph == "default" else f"{key}|cudagraph-{self.cudagraph}"


FULL = (*THROUGHPUT_LOADS, "reasoning")
FORCING_RECHECK = ("c64", "c64-forced", "c64#2", "c64-forced#2", "c1", "c1-forced", "c256")
PLANS: dict[str, tuple[Cell, ...]] = {
    # What matters most first: bf16 vs W4A16 with each kernel, serve vs vLLM's server, FP8 weights,
    # FP8 KV; then the rest. A 30-minute lease holds about the first six.
    "priority": (
        Cell("bf16", loads=(*FULL, "c1-forced", "c64-forced")),
        Cell("w4a16", "machete", loads=THROUGHPUT_LOADS),
        Cell("w4a16", "marlin", loads=FULL),
        Cell("bf16", server="vllm"),
        Cell("w8a8-fp8"),
        Cell("fp8-kv", loads=("c1", "c64", "c256", "reasoning")),
        Cell("w4a16+fp8-kv", "marlin", loads=("c1", "c64", "c256", "reasoning")),
        Cell("w4a16-awq", "marlin"),
        Cell("w8a8-int8"),
    ),
    # Budget forcing at concurrency 64 (15% on the 1.5B shape in run 5): each forced end is a new engine
    # request whose prefill makes a mixed step, which vLLM's default graph mode runs piecewise. Both
    # graph modes, each load twice (alternated), and vLLM's server for the TTFT at 64.
    "forcing": (
        Cell("bf16", loads=FORCING_RECHECK),
        Cell("bf16", cudagraph="full", loads=FORCING_RECHECK),
        Cell("bf16", server="vllm", loads=("c64", "c64#2", "c1", "c256")),
    ),
    # The same question with loads four times as long, three pairs alternated.
    "forcing-long": (
        Cell(
            "bf16",
            loads=tuple(f"{name}{tag}" for tag in ("", "#2", "#3") for name in ("c64-512", "c64-512-forced")),
        ),
    ),
    # A dry run on a CPU (tiny shape): the whole path, with vLLM's own server and budget forcing.
    "dry": (Cell("bf16", loads=("c1", "c1-forced")), Cell("bf16", server="vllm", loads=("c1",))),
}
# Seconds a cell needs beyond its loads (engine start, a quantization), for --budget-s.
CELL_OVERHEAD_S = 85
QUANTIZE_S = {
    "w4a16": 120,
    "w4a16-awq": 240,
    "w8a8-int8": 180,
    "w8a8-fp8": 60,
    "fp8-kv": 90,
    "w4a16+fp8-kv": 150,
}


# The figures above are the 7B shape's; a larger model's engine start, GPTQ and decode steps take longer
# (the 14B cells took about 1.8x).
SHAPE_TIME_SCALE = {"tiny": 0.5, "1.5b": 0.6, "7b": 1.0, "14b": 1.8, "32b": 4.0}


def log(message: str) -> None:
    print(f"[study {time.strftime('%H:%M:%S')}] {message}", flush=True)


def environment() -> dict[str, str]:
    return {**os.environ, **SAFE_ENV, "PYTHONUNBUFFERED": "1"}


def calibration_file(work: Path) -> Path:
    """Calibration text for the data-needing schemes: random words (random weights: no data is better)."""
    path = work / "calibration.jsonl"
    if not path.exists():
        import random

        rng = random.Random(0)
        words = [
            "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(2, 8)))
            for _ in range(4000)
        ]
        with path.open("w") as out:
            for _ in range(64):
                out.write(json.dumps({"text": " ".join(rng.choice(words) for _ in range(400))}) + "\n")
    return path


def artifact(work: Path, shape: str, scheme: str) -> tuple[Path, float | None]:
    """The model directory for ``scheme``: the random bf16 model itself, or our `quantize`'s artifact."""
    source = work / f"model-{shape}"
    if scheme == "bf16":
        return source, None
    out = work / f"artifact-{shape}-{scheme}"
    # Kept beside the artifact, so a cell of a later call (--then-quantize) still records how long it took.
    seconds_file = work / f"quantize-{shape}-{scheme}.seconds"
    if (out / "quantreason.json").exists():
        return out, float(seconds_file.read_text()) if seconds_file.exists() else None
    command = [
        sys.executable, "-m", "quantize", "--model", str(source), "--scheme", scheme, "--out", str(out),
        "--calib", str(calibration_file(work)), "--num-samples", "16", "--max-seq-len", "256", "--force",
    ]  # fmt: skip
    log(f"quantize {scheme}: {' '.join(command[2:])}")
    started = time.monotonic()
    with (work / f"quantize-{shape}-{scheme}.log").open("wb") as out_log:
        result = subprocess.run(
            command, stdout=out_log, stderr=subprocess.STDOUT, env=environment(), cwd=ROOT
        )
    if result.returncode:
        tail = (work / f"quantize-{shape}-{scheme}.log").read_text(errors="replace")[-3000:]
        raise RuntimeError(f"quantize {scheme} failed ({result.returncode}):\n{tail}")
    seconds = time.monotonic() - started
    seconds_file.write_text(f"{seconds:.1f}")
    log(f"quantized {scheme} in {seconds:.0f} s")
    return out, seconds


def server_command(
    cell: Cell, model: Path, port: int, tp: int, memory: float
) -> tuple[list[str], dict[str, str]]:
    env = environment()
    common = [
        "--model", str(model), "--served-model-name", "study", "--port", str(port),
        "--max-model-len", str(MAX_MODEL_LEN), "--gpu-memory-utilization", str(memory), "--seed", "0",
        "--tensor-parallel-size", str(tp),
    ]  # fmt: skip
    if "fp8-kv" in cell.scheme:
        common += ["--kv-cache-dtype", "fp8"]
    if cell.cudagraph != "default":  # the same option, spelled the same, for serve and vLLM's server
        common += ["--compilation-config", json.dumps({"cudagraph_mode": cell.cudagraph.upper()})]
    if cell.server == "vllm":
        if cell.kernel == "marlin":
            env["VLLM_DISABLED_KERNELS"] = "MacheteLinearKernel,AllSparkLinearKernel"
        return [
            sys.executable,
            "-m",
            "vllm.entrypoints.openai.api_server",
            *common,
            "--enable-prefix-caching",
        ], env
    # Equal work: no answer reserve, so a random model's never-ending thinking is not cut.
    return [
        sys.executable,
        "-m",
        "server",
        *common,
        "--answer-reserve-tokens",
        "0",
        "--w4a16-kernel",
        cell.kernel,
    ], env


@contextlib.contextmanager
def running_server(
    cell: Cell, model: Path, log_path: Path, tp: int, memory: float
) -> Iterator[tuple[str, float]]:
    from launcher import ServerStartError, free_port, terminate, wait_for_health

    port = free_port()
    wait_for_free_gpu()
    command, env = server_command(cell, model, port, tp, memory)
    log(f"start {cell.key}: {' '.join(command[1:])}")
    started = time.monotonic()
    with log_path.open("wb") as out:
        # Its own process group: the engine's processes go with it even when it is killed mid-start.
        process = subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=ROOT, start_new_session=True
        )
        try:
            url = f"http://127.0.0.1:{port}"
            try:
                wait_for_health(process, url, timeout=600, name=cell.key)
            except ServerStartError as exc:
                tail = log_path.read_text(errors="replace")[-4000:]
                raise RuntimeError(f"{exc}:\n{tail}") from None
            yield url, time.monotonic() - started
        finally:
            terminate(process)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)  # whatever of the group is left


def wait_for_free_gpu(timeout: float = 60) -> None:
    """The last server's engine processes may still be releasing device memory."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            used = subprocess.run(
                ["nvidia-smi", "--query-gpu=memory.used", "--format=csv,noheader,nounits"],
                capture_output=True,
                text=True,
                check=True,
            ).stdout.split()
        except (OSError, subprocess.CalledProcessError):
            return  # no NVIDIA GPU (a dry run on a CPU)
        if all(int(mib) < 2048 for mib in used):
            return
        time.sleep(1)
    log("warning: GPU memory still in use after the last server stopped")


def engine_facts(log_text: str) -> dict[str, Any]:
    """What vLLM's engine logged at start: weight memory, KV cache size, kernels, compile time."""
    facts: dict[str, Any] = {}
    patterns = {
        "weights_gib": r"Model loading took ([\d.]+) GiB",
        "kv_cache_tokens": r"GPU KV cache size: ([\d,]+) tokens",
        "max_concurrency_at_max_len": r"Maximum concurrency for [\d,]+ tokens per request: ([\d.]+)x",
        "torch_compile_s": r"torch\.compile takes ([\d.]+) s in total",
        "graph_capture_s": r"Graph capturing finished in ([\d.]+) secs",
        "available_kv_gib": r"Available KV cache memory: ([\d.]+) GiB",
    }
    for name, pattern in patterns.items():
        if match := re.search(pattern, log_text):
            facts[name] = float(match.group(1).replace(",", ""))
    facts["kernels"] = sorted(set(re.findall(r"Using (\w+Kernel)\b", log_text)))
    if "kv_cache_tokens" in facts:
        facts["max_seqs_reasoning_shape"] = int(facts["kv_cache_tokens"] // (256 + 4096))
    return facts


def run_load(url: str, load: Load, out: Path, model: str = "study") -> dict[str, Any]:
    command = [
        sys.executable, "-m", "loadtest", "--endpoint", f"{url}/v1", "--model", model, "--api", "chat",
        "--profile", load.profile, "--dataset", load.dataset, "--num-requests", str(load.num_requests),
        "--warmup", "1", "--temperature", str(TEMPERATURE), "--slo", SLO, "--out", str(out), "--seed", "0",
    ]  # fmt: skip
    if load.extra_body:
        command += ["--extra-body", json.dumps(load.extra_body)]
    result = subprocess.run(command, capture_output=True, text=True, env=environment(), cwd=ROOT)
    if result.returncode:
        raise RuntimeError(f"loadtest {load.name} failed: {result.stderr[-2000:]}")
    (summary,) = json.loads((out / "loadtest.json").read_text())["runs"]
    keep = (
        "completed", "failed", "duration", "output_throughput", "request_throughput", "request_goodput",
        "slo_attainment", "total_output_tokens", "total_reasoning_tokens", "total_answer_tokens",
        "max_concurrent_requests", "client_warning",
    )  # fmt: skip
    row = {name: summary.get(name) for name in keep}
    for metric in ("ttft", "itl", "tpot", "e2el"):
        for stat in ("median", "p99", "mean"):
            name = f"{stat}_{metric}_ms"
            row[name] = summary.get(name)
    if load.extra_body.get("max_thinking_tokens") is not None:
        # The per-request lists are in the strategy's own file beside loadtest.json (one per load here).
        (strategy_file,) = (p for p in out.glob("*.json") if p.name != "loadtest.json")
        row["phases"] = phase_split(json.loads(strategy_file.read_text()))
    return row


def phase_split(run: dict[str, Any]) -> dict[str, float | None]:
    """Where a forced request's time goes: the median gap between tokens while thinking, the gap in
    which the answer starts (the forced end: a second engine request on the prefix cache), and the
    median gap while answering. From loadtest's per-request first-token times, first-answer times and
    token gaps (seconds)."""
    thinking: list[float] = []
    answering: list[float] = []
    switch: list[float] = []
    for ttft, ttfat, gaps in zip(run["ttfts"], run["ttfats"], run["itls"], strict=True):
        if not ttft or ttfat is None:
            continue
        at, phase = ttft, thinking
        for gap in gaps:
            at += gap
            if phase is thinking and at >= ttfat - 1e-9:  # the first answer token's gap
                switch.append(gap)
                phase = answering
            else:
                phase.append(gap)

    def median_ms(values: list[float]) -> float | None:
        return statistics.median(values) * 1000 if values else None

    return {
        "median_thinking_itl_ms": median_ms(thinking),
        "median_switch_gap_ms": median_ms(switch),
        "median_answer_itl_ms": median_ms(answering),
    }


def measure(cell: Cell, shape: str, work: Path, tp: int, memory: float) -> dict[str, Any]:
    model, quantize_s = artifact(work, shape, cell.scheme)
    log_path = work / f"server-{shape}-{cell.key.replace('|', '-')}.log"
    record: dict[str, Any] = {"shape": shape, **asdict(cell), "key": cell.key, "quantize_s": quantize_s}
    record["artifact_gib"] = sum(p.stat().st_size for p in model.rglob("*.safetensors")) / 2**30
    with running_server(cell, model, log_path, tp, memory) as (url, start_s):
        record["engine_start_s"] = start_s
        record["version"] = httpx.get(f"{url}/version", timeout=10).json() if cell.server == "serve" else None
        record["loads"] = {}
        for name in cell.loads:
            load = load_named(name)
            log(f"{cell.key}: load {name} ({load.profile}, {load.dataset}, {load.num_requests} requests)")
            out = work / "loadtest" / f"{shape}-{cell.key.replace('|', '-')}-{name}"
            try:
                row = run_load(url, load, out)
            except RuntimeError as exc:  # the other loads of the cell still count
                log(f"  {exc}")
                record["loads"][name] = {"error": str(exc)[-2000:]}
                continue
            record["loads"][name] = row
            log(
                f"  {row['output_throughput']:.1f} tok/s, median TTFT {row['median_ttft_ms']:.1f} ms, "
                f"ITL {row['median_itl_ms']:.2f} ms"
            )
    record["engine"] = engine_facts(log_path.read_text(errors="replace"))
    return record


def estimated_seconds(cell: Cell, work: Path, shape: str) -> float:
    per_load = {
        "c1": 20,
        "c16": 15,
        "c64": 15,
        "c256": 25,
        "reasoning": 45,
        "c1-forced": 20,
        "c64-forced": 15,
    }
    quantize = (
        0
        if cell.scheme == "bf16" or (work / f"artifact-{shape}-{cell.scheme}" / "quantreason.json").exists()
        else QUANTIZE_S.get(cell.scheme, 120)
    )
    return SHAPE_TIME_SCALE.get(shape, 1.0) * (
        CELL_OVERHEAD_S + quantize + sum(per_load.get(load_named(name).name, 30) for name in cell.loads)
    )


def facts_of_host() -> dict[str, Any]:
    facts: dict[str, Any] = {}
    with contextlib.suppress(Exception):
        import torch

        facts["gpu"] = torch.cuda.get_device_name(0)
        facts["torch"] = torch.__version__
        facts["gpu_count"] = torch.cuda.device_count()
    with contextlib.suppress(Exception):
        import vllm

        facts["vllm"] = vllm.__version__
    with contextlib.suppress(Exception):
        facts["driver"] = subprocess.run(
            ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
            capture_output=True,
            text=True,
        ).stdout.strip()
    return facts


def command_run(args: argparse.Namespace) -> None:
    deadline = time.monotonic() + args.budget_s if args.budget_s else None
    work: Path = args.work
    work.mkdir(parents=True, exist_ok=True)
    args.out.mkdir(parents=True, exist_ok=True)
    results = work / "results.jsonl"
    done = (
        {
            json.loads(line)["key"] + "|" + json.loads(line)["shape"]
            for line in results.read_text().splitlines()
        }
        if results.exists()
        else set()
    )
    # The run (one lease, one machine) every record of this work directory belongs to: the report
    # compares a scheme with the bf16 of its own run only.
    run_file = work / "run.txt"
    if not run_file.exists():
        run_file.write_text(time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()))
    run_id = run_file.read_text().strip()
    model = work / f"model-{args.shape}"
    if not (model / "random_model.json").exists():
        started = time.monotonic()
        build_random_model(args.shape, model)
        log(f"built random {args.shape} model in {time.monotonic() - started:.0f} s")
    if args.build_only:
        return
    if not (work / "host.json").exists():  # after --build-only, which may run before vLLM is there
        (work / "host.json").write_text(json.dumps(facts_of_host()))
    cells = [cell for cell in PLANS[args.plan] if not args.only or cell.key in args.only]
    if args.loads:  # a shorter cell where a lease's call has no time for the whole one
        cells = [replace(cell, loads=tuple(args.loads)) for cell in cells]
    # Results of one shape at another tensor-parallel size are another section of the report.
    tp = args.tensor_parallel_size
    shape_label = args.shape if tp == 1 else f"{args.shape}-tp{tp}"
    for cell in cells:
        if f"{cell.key}|{shape_label}" in done:
            continue
        free_disk_for(cell, cells[cells.index(cell) :], work, args.shape)
        need = estimated_seconds(cell, work, args.shape)
        if deadline and time.monotonic() + need > deadline:
            # a later, shorter cell may still fit
            log(f"skip: {cell.key} needs ~{need:.0f} s, {deadline - time.monotonic():.0f} s left")
            continue
        try:
            record = measure(cell, args.shape, work, args.tensor_parallel_size, args.gpu_memory_utilization)
        except Exception as exc:  # one failed cell is a result too; the study goes on
            log(f"{cell.key} FAILED: {exc}")
            record = {"shape": args.shape, **asdict(cell), "key": cell.key, "error": str(exc)[-3000:]}
        record["shape"], record["tensor_parallel_size"] = shape_label, tp
        record["host"] = json.loads((work / "host.json").read_text())
        record["run"] = run_id
        with results.open("a") as out:
            out.write(json.dumps(record) + "\n")
        shutil.copy(results, args.out / "results.jsonl")
        # Free the disk: a 7B artifact is 5-15 GB; keep W4A16 (two kernels and +fp8-kv use it).
        if cell.scheme not in ("bf16", "w4a16") and not any(
            c.scheme == cell.scheme and f"{c.key}|{shape_label}" not in done | {f"{cell.key}|{shape_label}"}
            for c in cells
        ):
            shutil.rmtree(work / f"artifact-{args.shape}-{cell.scheme}", ignore_errors=True)
    if results.exists():
        shutil.copy(results, args.out / "results.jsonl")
    if args.then_quantize:
        then_quantize(Cell(args.then_quantize), work, args.shape, deadline)


def then_quantize(cell: Cell, work: Path, shape: str, deadline: float | None) -> None:
    """Quantize the next call's artifact in what is left of this call (a 14B one takes 1.5-3 minutes)."""
    need = SHAPE_TIME_SCALE.get(shape, 1.0) * QUANTIZE_S.get(cell.scheme, 120)
    if deadline and time.monotonic() + need > deadline:
        log(f"no time left to quantize {cell.scheme} (~{need:.0f} s)")
        return
    free_disk_for(cell, [cell], work, shape)
    artifact(work, shape, cell.scheme)


def free_disk_for(cell: Cell, remaining: list[Cell], work: Path, shape: str) -> None:
    """Delete the artifacts this call's remaining cells do not use when `quantize` would otherwise
    refuse ``cell``'s artifact: it asks for the bf16 size free (27.5 GiB on 14B), and a kept W4A16
    artifact beside the model leaves less on the device's 64 GiB disk."""
    if cell.scheme == "bf16" or (work / f"artifact-{shape}-{cell.scheme}" / "quantreason.json").exists():
        return
    bf16_bytes = sum(path.stat().st_size for path in (work / f"model-{shape}").glob("*.safetensors"))
    needed = {c.scheme for c in remaining}
    for kept in sorted(work.glob(f"artifact-{shape}-*")):
        if shutil.disk_usage(work).free >= bf16_bytes:
            return
        scheme = kept.name.removeprefix(f"artifact-{shape}-")
        if scheme not in needed:
            log(f"free disk for {cell.scheme}: delete {kept.name} (no remaining cell of this call uses it)")
            shutil.rmtree(kept, ignore_errors=True)


def _load_name(name: str) -> str:
    try:
        load_named(name)
    except KeyError:
        raise argparse.ArgumentTypeError(f"unknown load {name!r}; known: {', '.join(LOADS)}") from None
    return name


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="build the model, quantize, serve and measure (on the GPU)")
    run.add_argument("--shape", choices=sorted(SHAPES), default="7b")
    run.add_argument("--gpu-memory-utilization", type=float, default=0.9)
    run.add_argument("--plan", choices=sorted(PLANS), default="priority")
    run.add_argument("--only", nargs="*", help="cell keys to run, e.g. 'w4a16|marlin|serve'")
    run.add_argument("--work", type=Path, default=Path("/tmp/quantreason-gpu-study"))
    run.add_argument("--out", type=Path, required=True, help="where results.jsonl is copied after each cell")
    run.add_argument("--budget-s", type=float, help="start no cell that would not finish within this")
    run.add_argument(
        "--loads",
        nargs="+",
        type=_load_name,
        help=f"only these loads of each cell, of {', '.join(LOADS)}; NAME#2 runs NAME again",
    )
    run.add_argument(
        "--then-quantize",
        choices=sorted(QUANTIZE_S),
        metavar="SCHEME",
        help="after the cells, quantize SCHEME for a later call if --budget-s leaves time for it",
    )
    run.add_argument("--tensor-parallel-size", type=int, default=1)
    run.add_argument("--build-only", action="store_true", help="only build the random model")
    report = commands.add_parser("report", help="write docs/benchmarks/gpu.md tables and PNGs")
    report.add_argument("results", type=Path, nargs="+")
    report.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks")
    args = parser.parse_args()
    if args.command == "run":
        command_run(args)
    else:
        from study_report import write_report

        write_report(args.results, args.out)


if __name__ == "__main__":
    main()
