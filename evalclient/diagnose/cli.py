"""``evalclient diagnose RUN [--baseline RUN] [--judge rules | --judge-endpoint URL --judge-model M]``."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections import Counter
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from evalclient.client import ChatClient, RetryPolicy
from evalclient.diagnose.engine import (
    DIAGNOSIS_FILE,
    DiagnosisDirectoryError,
    final_rows,
    load_rows,
    pending,
    prepare_out_dir,
    run_diagnosis,
)
from evalclient.diagnose.judges import RULES_BENCHMARKS, Judge, RulesJudge
from evalclient.diagnose.llm_judge import LLMJudge
from evalclient.diagnose.report import REPORT_FILE, summarize, write_report
from evalclient.diagnose.rows import DiagnoseConfig, DiagnosisRow, JudgeConfig
from evalclient.diagnose.runs import NotARunError, RunData, Target, read_run, targets
from evalclient.diagnose.taxonomy import JUDGE_ERROR
from evalclient.errors import EvalclientError

PROG = "evalclient diagnose"


class DiagnoseUsageError(EvalclientError):
    """Bad command-line input: one line, exit status 2."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description=(
            "Find where and how a run's reasoning goes wrong: the first faulty step and the kind of error "
            "(comprehension, planning, computation, answer) of every wrong sample; with --baseline, the "
            "flips (right in the baseline, wrong here) first."
        ),
        epilog="example: evalclient diagnose runs/w4a16 --baseline runs/bf16 --judge rules",
    )
    parser.add_argument("run", type=Path, help="the run directory to diagnose")
    parser.add_argument("--baseline", type=Path, help="a run of the reference model (e.g. bf16)")
    parser.add_argument(
        "--judge", choices=("rules", "llm"), help="rules (toy-arith, exact; the default there) or llm"
    )
    parser.add_argument("--judge-endpoint", help="OpenAI-compatible base URL of the LLM judge")
    parser.add_argument("--judge-model", help="model name of the LLM judge")
    parser.add_argument("--judge-api-key", help="bearer token (default: $EVALCLIENT_JUDGE_API_KEY)")
    parser.add_argument("--judge-timeout", type=float, default=300.0, help="per judge request, seconds")
    parser.add_argument("--judge-retries", type=int, default=4, help="retries on 429/5xx/timeouts")
    parser.add_argument("--judge-max-tokens", type=int, default=4096, help="judge completion limit")
    parser.add_argument("--judge-temperature", type=float, default=0.0, help="judge sampling temperature")
    parser.add_argument("--out", type=Path, help="output directory (default: RUN-diagnosis next to RUN)")
    parser.add_argument("--concurrency", type=int, default=8, help="judge requests in flight (default 8)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def judge_config(args: argparse.Namespace, runs: list[RunData]) -> JudgeConfig:
    kind = args.judge or ("llm" if args.judge_endpoint else "rules")
    if kind == "rules":
        if args.judge_endpoint or args.judge_model:
            raise DiagnoseUsageError("--judge rules takes no --judge-endpoint/--judge-model")
        others = sorted(
            {b for run in runs for b in run.config.benchmarks if b.partition(":")[0] not in RULES_BENCHMARKS}
        )
        if others:
            raise DiagnoseUsageError(
                f"the rules judge re-derives {', '.join(RULES_BENCHMARKS)} traces only; these runs have "
                f"{', '.join(others)}: pass --judge-endpoint URL --judge-model M"
            )
        return JudgeConfig(kind="rules")
    if not args.judge_endpoint or not args.judge_model:
        raise DiagnoseUsageError("the LLM judge needs --judge-endpoint URL and --judge-model M")
    return JudgeConfig(
        kind="llm",
        endpoint=args.judge_endpoint.rstrip("/"),
        model=args.judge_model,
        temperature=args.judge_temperature,
        max_tokens=args.judge_max_tokens,
    )


async def _diagnose(
    work: list[Target], config: JudgeConfig, args: argparse.Namespace, out_dir: Path, total: int
) -> None:
    console = Console(stderr=True)
    counts: Counter[str] = Counter()
    columns = (
        TextColumn("[bold]diagnose"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[kinds]}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, disable=args.quiet, refresh_per_second=4) as bar:
        task = bar.add_task("diagnose", total=total, completed=total - len(work), kinds="")

        def on_row(row: DiagnosisRow) -> None:
            counts[row.category] += 1
            bar.update(task, advance=1, kinds=" ".join(f"{k} {n}" for k, n in counts.most_common()))

        if config.kind == "rules":
            await run_diagnosis(work, RulesJudge(), out_dir, args.concurrency, on_row)
            return
        assert config.endpoint is not None and config.model is not None
        client = ChatClient(
            config.endpoint,
            args.judge_api_key or os.environ.get("EVALCLIENT_JUDGE_API_KEY"),
            timeout_s=args.judge_timeout,
            retry=RetryPolicy(max_retries=args.judge_retries),
            stream=False,
            max_connections=args.concurrency,
        )
        async with client:
            judge: Judge = LLMJudge(
                client, config.model, temperature=config.temperature, max_tokens=config.max_tokens
            )
            await run_diagnosis(work, judge, out_dir, args.concurrency, on_row)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.concurrency < 1:
            raise DiagnoseUsageError("--concurrency must be at least 1")
        run = read_run(args.run)
        baseline = read_run(args.baseline) if args.baseline else None
        config = judge_config(args, [run] + ([baseline] if baseline else []))
    except DiagnoseUsageError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 2
    except NotARunError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 1
    out_dir: Path = args.out or args.run.parent / f"{args.run.name}-diagnosis"
    judge_name = "rules" if config.kind == "rules" else f"llm:{config.model}"
    try:
        prepare_out_dir(
            out_dir,
            DiagnoseConfig(
                run=str(run.path.resolve()),
                baseline=str(baseline.path.resolve()) if baseline else None,
                judge=config,
            ),
        )
    except DiagnosisDirectoryError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"{PROG}: cannot use {out_dir}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    chosen = targets(run, baseline)
    (out_dir / DIAGNOSIS_FILE).touch()
    if not chosen:
        where = f"{run.label} or {baseline.label}" if baseline else run.label
        print(f"{PROG}: no wrong samples in {where}: nothing to diagnose")
    else:
        work = pending(chosen, {row.key: row for row in load_rows(out_dir)})
        try:
            asyncio.run(_diagnose(work, config, args, out_dir, len(chosen)))
        except KeyboardInterrupt:
            print(
                f"{PROG}: interrupted; every diagnosed sample is saved, rerun with the same --out to resume",
                file=sys.stderr,
            )
            return 130
    rows = final_rows(chosen, out_dir)
    write_report(out_dir, summarize(run.label, baseline.label if baseline else None, judge_name, rows))
    errors = sum(row.category == JUDGE_ERROR for row in rows)
    flips = sum(row.flip for row in rows)
    note = f", {errors} judge errors (rerun to retry them)" if errors else ""
    print(f"{PROG}: {out_dir / REPORT_FILE} ({len(rows)} failures diagnosed, {flips} flips{note})")
    return 0
