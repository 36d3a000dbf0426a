"""The main job: quantize -> serve -> evaluate -> compare, on the project's own tiny reasoner."""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path
from typing import Any

from rich.console import Console

from demo.eval_step import (
    DEFAULT_BUDGETS,
    UNLIMITED,
    EvalStepError,
    compare_schemes,
    evaluate_thinking_budgets,
)
from demo.quantize_step import COMBINED_SCHEMES, quantize_step
from launcher import ServerProcess
from tinymodel import REASONER_DIR


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
        help=(
            "comma-separated (default: every scheme `quantize --list-schemes` has, and "
            f"{','.join(COMBINED_SCHEMES)})"
        ),
    )
    parser.add_argument(
        "--budgets",
        type=_budgets,
        default=DEFAULT_BUDGETS,
        help="thinking budgets to evaluate, e.g. 0,64,128,unlimited (the default)",
    )
    parser.add_argument("--problems", type=int, default=30, help="toy-arith problems per budget")
    args = parser.parse_args(argv)
    if args.problems < 1:
        parser.error("--problems must be >= 1")
    console = Console()
    console.print(f"[green]model[/] {REASONER_DIR} (the tiny reasoner, trained on CPU by this project)")

    runs = args.workdir / "runs"
    # Evaluations are cheap; start them afresh so a run never mixes answers of older artifacts.
    shutil.rmtree(runs, ignore_errors=True)
    summaries: dict[str, dict[str, Any]] = {}

    def evaluate(scheme: str, server: ServerProcess) -> None:
        summaries[scheme] = evaluate_thinking_budgets(
            console,
            server.base_url,
            scheme,
            out_dir=runs / scheme,
            budgets=args.budgets,
            problems=args.problems,
        )

    try:
        results = quantize_step(console, args.workdir, args.schemes, while_served=evaluate)
    except EvalStepError as exc:
        console.print(f"[red]demo: {exc}[/]")
        return 1
    if len(summaries) > 1:
        compare_schemes(console, summaries)
    failed = [r for r in results if r.error]
    for result in failed:
        console.print(f"[red]demo: {result.scheme}: {result.error}[/]")
    console.print(f"artifacts, evaluation runs and logs: {args.workdir}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
