"""The main job: quantize -> serve -> evaluate -> compare -> diagnose, on the project's own tiny reasoner."""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path
from typing import Any

from rich.console import Console

from demo.diagnose_step import DiagnoseStepError, diagnose_worst_scheme
from demo.eval_step import UNLIMITED, EvalStepError, evaluate_thinking_budgets
from demo.quantize_step import QuantizeStepError, quantize_step
from demo.recover_step import RECOVER_SCHEME, recover_step
from demo.study_step import STUDY_SCHEMES, PhaseTimes, compare_step
from launcher import ServerProcess
from tinymodel import REASONER_DIR

# The study's defaults: every toy-arith problem (80 per difficulty) at a budget that cuts the hard problems'
# traces and with none; fewer problems cannot show a loss of a few points as significant.
DEMO_BUDGETS: tuple[int | None, ...] = (160, UNLIMITED)
DEMO_PROBLEMS = 240
# Requests in flight per evaluation. 16 rather than evalclient's 8: the engine batches twice as many per
# step, so an evaluation takes ~40% less of the server's CPU (2026-12-02, 2 cores: 30 s against 50 s); the
# greedy answers were the same at both, all 480 of bf16's and of w2a16's.
DEMO_CONCURRENCY = 16


def _label(budget: int | None) -> str:
    return "unlimited" if budget == UNLIMITED else str(budget)


def default_workdir() -> Path:
    return Path(os.environ.get("QUANTREASON_CACHE", Path.home() / ".cache" / "quantreason"))


def _budgets(text: str) -> tuple[int | None, ...]:
    try:
        return tuple(UNLIMITED if part == "unlimited" else int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of budgets: {text!r}") from None


def _schemes(text: str) -> tuple[str, ...]:
    schemes = tuple(part.strip() for part in text.split(",") if part.strip())
    if not schemes:
        raise argparse.ArgumentTypeError("no scheme given")
    return schemes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m demo",
        description="Run quantreason's main job on its own tiny reasoner: quantize it to every scheme, "
        "serve the ones this machine executes, evaluate each at several thinking budgets, compare.",
    )
    parser.add_argument("--workdir", type=Path, default=default_workdir(), help="artifacts, runs, logs")
    parser.add_argument(
        "--schemes",
        type=_schemes,
        default=STUDY_SCHEMES,
        help=f"comma-separated, the baseline first (default: {','.join(STUDY_SCHEMES)})",
    )
    parser.add_argument(
        "--budgets",
        type=_budgets,
        default=DEMO_BUDGETS,
        help=f"thinking budgets to evaluate (default: {','.join(map(_label, DEMO_BUDGETS))})",
    )
    parser.add_argument(
        "--problems",
        type=int,
        default=DEMO_PROBLEMS,
        help=f"toy-arith problems per budget (default {DEMO_PROBLEMS})",
    )
    parser.add_argument(
        "--no-emulate",
        action="store_true",
        help="evaluate only what this CPU executes with the scheme's own kernel (no weights-only emulations)",
    )
    parser.add_argument(
        "--recover",
        action="store_true",
        help=f"also repair the broken {RECOVER_SCHEME} artifact with `quantize recover` (545 worked "
        "examples, none from toy-arith) and evaluate it beside the others",
    )
    args = parser.parse_args(argv)
    if args.recover and RECOVER_SCHEME not in args.schemes:
        args.schemes = (*args.schemes, RECOVER_SCHEME)
    if args.problems < 1:
        parser.error("--problems must be >= 1")
    console = Console()
    console.print(f"[green]model[/] {REASONER_DIR} (the tiny reasoner, trained on CPU by this project)")
    times = PhaseTimes()

    runs = args.workdir / "runs"
    # Evaluations are cheap; start them afresh so a run never mixes answers of older artifacts.
    shutil.rmtree(runs, ignore_errors=True)
    shutil.rmtree(args.workdir / "diagnosis", ignore_errors=True)
    summaries: dict[str, dict[str, Any]] = {}

    def evaluate(scheme: str, server: ServerProcess) -> None:
        with times.phase("evaluate", scheme):
            summaries[scheme] = evaluate_thinking_budgets(
                console,
                server.base_url,
                scheme,
                out_dir=runs / scheme,
                budgets=args.budgets,
                problems=args.problems,
                concurrency=DEMO_CONCURRENCY,
            )

    try:
        results = quantize_step(
            console,
            args.workdir,
            args.schemes,
            while_served=evaluate,
            emulate=not args.no_emulate,
            times=times,
        )
        recover_error = recover_step(console, args.workdir, evaluate, times) if args.recover else None
    except (QuantizeStepError, EvalStepError) as exc:
        console.print(f"[red]demo: {exc}[/]")
        return 1
    if recover_error:
        console.print(f"[red]demo: recover: {recover_error}[/]")
    compared = True
    if len(summaries) > 1:
        with times.phase("compare"):
            compared = compare_step(
                console, [runs / scheme for scheme in summaries], args.workdir / "compare"
            )
        try:
            with times.phase("diagnose"):
                diagnose_worst_scheme(console, summaries, runs_dir=runs, out_dir=args.workdir / "diagnosis")
        except DiagnoseStepError as exc:
            console.print(f"[red]demo: {exc}[/]")
            return 1
    times.show(console)
    failed: dict[str, list[str]] = {}  # each error once, with the schemes it stopped
    for result in results:
        if result.error:
            failed.setdefault(result.error, []).append(result.scheme)
    for error, schemes in failed.items():
        console.print(f"[red]demo: {', '.join(schemes)}: {error}[/]")
    console.print(f"artifacts, evaluation runs and logs: {args.workdir}")
    return 1 if failed or not compared or recover_error else 0


if __name__ == "__main__":
    sys.exit(main())
