"""``evalclient``: the command line. ``evalclient --endpoint URL --model M --benchmark B`` runs;
``evalclient compare RUN_A RUN_B ...`` compares finished runs (``evalclient.compare``);
``evalclient diagnose RUN [--baseline RUN]`` finds where wrong samples go wrong (``evalclient.diagnose``)."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from benchmark_data import DATA_DIR_ENV, chosen_data_dir
from evalclient.benchmarks import BENCHMARKS, Benchmark, get_benchmark
from evalclient.errors import EvalclientError
from evalclient.protocols import PROTOCOLS, UnknownProtocolError, get_protocol
from evalclient.records import SERVER_DEFAULT_BUDGET, UNLIMITED_BUDGET, RunConfig, SamplingConfig
from reasoning_formats import UnknownThinkFormatError, get_think_format

BUDGET_FIELDS = ("thinking_token_budget", "max_thinking_tokens")


class UsageError(EvalclientError):
    """Bad command-line input: printed as one line, exit status 2."""


def _int_list(text: str, what: str) -> list[int]:
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise UsageError(f"{what}: expected comma-separated integers, got {text!r}") from None


def parse_budgets(text: str) -> list[int | None]:
    """``0,64,128,unlimited,default`` -> [0, 64, 128, -1, None]: ``unlimited`` (or -1) is sent as -1,
    an explicit no-limit; ``default`` sends no budget, so the server's ``--thinking-budget`` applies."""
    budgets: list[int | None] = []
    for part in (piece.strip() for piece in text.split(",")):
        if part in ("unlimited", "inf"):
            budgets.append(UNLIMITED_BUDGET)
            continue
        if part in ("default", "none"):
            budgets.append(SERVER_DEFAULT_BUDGET)
            continue
        try:
            value = int(part)
        except ValueError:
            raise UsageError(
                f"--thinking-budget: {part!r} is neither a token count, 'unlimited' nor 'default'"
            ) from None
        if value < UNLIMITED_BUDGET:
            raise UsageError(f"--thinking-budget: {value} is negative (-1 is unlimited)")
        budgets.append(value)
    if len(set(budgets)) != len(budgets):
        raise UsageError("--thinking-budget: a budget is listed twice")
    return budgets


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="evalclient",
        description=(
            "Score reasoning benchmarks (MATH-500, AIME, GSM8K, GPQA-Diamond, LiveCodeBench, "
            "toy-arith, any JSONL) against an OpenAI-compatible endpoint, and compare runs "
            "(`evalclient compare RUN_A RUN_B ...`)."
        ),
        epilog=(
            "example: evalclient --endpoint http://127.0.0.1:8000/v1 --model tiny --benchmark math500,aime24 "
            "--protocol liu2025 --out runs/base"
        ),
    )
    parser.add_argument("--endpoint", required=True, help="base URL of the API, e.g. http://host:8000/v1")
    parser.add_argument("--model", required=True, help="model name the endpoint serves")
    parser.add_argument(
        "--benchmark",
        required=True,
        help=f"comma-separated: {', '.join(sorted(BENCHMARKS))}, NAME:OPTION, or a .jsonl path",
    )
    parser.add_argument(
        "--protocol", choices=sorted(PROTOCOLS), help="preset sampling and scoring (flags override)"
    )
    parser.add_argument("--n", type=int, help="samples per problem and seed (default 1)")
    parser.add_argument("--seeds", help="comma-separated sampling seeds (default 42); 'none' sends no seed")
    parser.add_argument("--concurrency", type=int, default=16, help="requests in flight (default 16)")
    parser.add_argument("--max-tokens", type=int, help="completion token limit (default: the benchmark's)")
    parser.add_argument("--temperature", type=float, help="sampling temperature (default: the endpoint's)")
    parser.add_argument("--top-p", type=float, help="nucleus sampling (default: the endpoint's)")
    parser.add_argument(
        "--thinking-budget",
        default="default",
        help=(
            "comma-separated thinking-token budgets to sweep, e.g. 0,64,128,unlimited; 'unlimited' sends -1 "
            "(no limit, over the server's --thinking-budget), 'default' sends none (the default)"
        ),
    )
    parser.add_argument(
        "--budget-field", choices=BUDGET_FIELDS, default=BUDGET_FIELDS[0], help="request field"
    )
    parser.add_argument(
        "--score-on", choices=("answer", "full"), help="score the answer (default) or full output"
    )
    parser.add_argument(
        "--think-format", default="deepseek-r1", help="delimiters when the endpoint sends no reasoning"
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        help=f"local benchmark files (default: ${DATA_DIR_ENV}, else the project's copies, else the hub)",
    )
    parser.add_argument("--limit", type=int, help="N problems of each benchmark, evenly spread (smoke runs)")
    parser.add_argument("--api-key", help="bearer token (default: $EVALCLIENT_API_KEY, $OPENAI_API_KEY)")
    parser.add_argument("--timeout", type=float, default=600.0, help="per-request timeout in seconds")
    parser.add_argument("--max-retries", type=int, default=4, help="retries on 429/5xx/timeouts (default 4)")
    parser.add_argument("--no-stream", action="store_true", help="plain responses (no TTFT measurement)")
    parser.add_argument("--scoring-workers", type=int, help="scoring processes (default: min(4, CPUs))")
    parser.add_argument("--out", type=Path, help="run directory (appended per sample, resumable)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def resolve_config(args: argparse.Namespace) -> tuple[RunConfig, list[Benchmark]]:
    try:
        protocol = get_protocol(args.protocol) if args.protocol else None
        benchmarks = [get_benchmark(spec.strip()) for spec in args.benchmark.split(",") if spec.strip()]
    except (UnknownProtocolError, ValueError) as exc:
        raise UsageError(str(exc)) from None
    if not benchmarks:
        raise UsageError("--benchmark: name at least one benchmark")
    if args.seeds is not None:
        seeds: list[int | None] = (
            [None] if args.seeds.strip() == "none" else list(_int_list(args.seeds, "--seeds"))
        )
    else:
        seeds = list(protocol.seeds) if protocol else [42]
    n = args.n if args.n is not None else (protocol.n if protocol else 1)
    for flag, value in (("--n", n), ("--concurrency", args.concurrency), ("--limit", args.limit or 1)):
        if value < 1:
            raise UsageError(f"{flag} must be at least 1")
    if args.max_tokens is not None and args.max_tokens < 1:
        raise UsageError("--max-tokens must be at least 1")
    sampling = SamplingConfig(
        temperature=args.temperature
        if args.temperature is not None
        else (protocol.temperature if protocol else None),
        top_p=args.top_p if args.top_p is not None else (protocol.top_p if protocol else None),
        max_tokens=args.max_tokens or (protocol.max_tokens if protocol else None),
        n=n,
        seeds=seeds,
    )
    data_dir = chosen_data_dir(args.data_dir)
    if data_dir is not None and not data_dir.is_dir():
        raise UsageError(f"--data-dir: {data_dir} is not a directory")
    try:
        get_think_format(args.think_format)
    except UnknownThinkFormatError as exc:
        raise UsageError(f"--think-format: {exc}") from None
    config = RunConfig(
        endpoint=args.endpoint.rstrip("/"),
        model=args.model,
        benchmarks=[benchmark.key for benchmark in benchmarks],
        benchmark_settings={
            b.key: {"description": b.description, "max_tokens": b.max_tokens, **b.extra} for b in benchmarks
        },
        protocol=protocol.name if protocol else None,
        sampling=sampling,
        thinking_budgets=parse_budgets(args.thinking_budget),
        budget_field=args.budget_field,
        score_on=args.score_on or (protocol.score_on if protocol else "answer"),
        think_format=args.think_format,
        data_dir=str(data_dir) if data_dir else None,
        limit=args.limit,
    )
    return config, benchmarks


def default_run_dir(config: RunConfig) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    safe_model = "".join(c if c.isalnum() or c in "-_." else "_" for c in config.model)
    return Path("evalclient-runs") / f"{safe_model}-{stamp}"


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "compare":
        try:
            from evalclient.compare import main as compare_main
        except ImportError:
            print("evalclient compare: not available in this build", file=sys.stderr)
            return 2
        return compare_main(argv[1:])
    if argv and argv[0] == "diagnose":
        from evalclient.diagnose import main as diagnose_main

        return diagnose_main(argv[1:])
    args = build_parser().parse_args(argv)
    try:
        config, benchmarks = resolve_config(args)
    except UsageError as exc:
        print(f"evalclient: {exc}", file=sys.stderr)
        return 2
    from evalclient.session import run_session

    started = time.perf_counter()
    try:
        summary, run_dir = asyncio.run(
            run_session(
                config,
                benchmarks,
                run_dir=args.out or default_run_dir(config),
                api_key=args.api_key
                or os.environ.get("EVALCLIENT_API_KEY")
                or os.environ.get("OPENAI_API_KEY"),
                concurrency=args.concurrency,
                timeout_s=args.timeout,
                max_retries=args.max_retries,
                stream=not args.no_stream,
                scoring_workers=args.scoring_workers,
                progress=not args.quiet,
            )
        )
    except EvalclientError as exc:
        print(f"evalclient: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(
            "evalclient: interrupted; every finished sample is saved, rerun with the same --out to resume",
            file=sys.stderr,
        )
        return 130
    errors = sum(result.overall.errors for result in summary.results)
    print(f"evalclient: {run_dir}/report.md ({time.perf_counter() - started:.1f} s, {errors} error samples)")
    return 0
