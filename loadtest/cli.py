"""``loadtest``: the command line. ``loadtest --endpoint ... --profile ...`` runs a load;
``loadtest compare RUN.json ...`` puts runs side by side."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console

from loadtest.compare import compare
from loadtest.datasets import parse_random
from loadtest.errors import LoadtestError
from loadtest.profiles import parse_profile
from loadtest.summary import parse_slo
from reasoning_formats import THINK_FORMATS

if TYPE_CHECKING:
    from loadtest.session import LoadTestConfig

INTERRUPTED_EXIT = 130  # as a shell reports a process ended by Ctrl-C


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="loadtest",
        description=(
            "Measure latency (TTFT, time to first answer token, ITL, TPOT, E2EL), throughput and "
            "goodput of an OpenAI-compatible endpoint, separating reasoning from answer tokens. "
            "`loadtest compare RUN.json ...` puts runs side by side."
        ),
        epilog="example: loadtest --endpoint http://127.0.0.1:8000/v1 --model tiny --profile concurrency:8",
    )
    parser.add_argument("--endpoint", required=True, help="base URL of the API, e.g. http://host:8000/v1")
    parser.add_argument("--model", required=True, help="model name the endpoint serves")
    parser.add_argument("--api", choices=("chat", "completions"), default="chat", help="API to load")
    parser.add_argument(
        "--profile",
        default="concurrency:1",
        help=(
            "concurrency:N | rate:R[,burstiness=B][,max-concurrency=C] | sweep[,rates=K][,max-concurrency=C]"
        ),
    )
    parser.add_argument(
        "--dataset",
        default="random:256:256",
        help="random:IN:OUT (tokens) | a benchmark name (toy-arith, math500, ...) | FILE.jsonl of prompts",
    )
    parser.add_argument("--max-tokens", type=int, help="max_tokens of each request of a file dataset")
    bound = parser.add_argument_group("bounds (a run stops at the first reached; default 100 requests)")
    bound.add_argument("--num-requests", type=int, help="requests to send per strategy")
    bound.add_argument("--duration", type=float, help="seconds to send for, per strategy")
    parser.add_argument("--warmup", type=int, default=1, help="requests sent first and not counted")
    parser.add_argument(
        "--slo", help="targets for goodput, e.g. ttft:500,tpot:50,e2el:10000 (ms; also ttfat)"
    )
    parser.add_argument("--out", type=Path, help="directory for JSON, CSV and plots")
    parser.add_argument("--api-key", help="bearer token (default: $OPENAI_API_KEY if set)")
    parser.add_argument(
        "--think-format",
        choices=sorted(THINK_FORMATS),
        help="split content on these think delimiters, for servers that do not separate the reasoning",
    )
    parser.add_argument(
        "--extra-body", help="JSON merged into every request, e.g. '{\"thinking_token_budget\": 64}'"
    )
    parser.add_argument("--temperature", type=float, help="sampling temperature (server default when unset)")
    parser.add_argument("--no-ignore-eos", action="store_true", help="let random:IN:OUT outputs end early")
    parser.add_argument("--request-timeout", type=float, default=600.0, help="seconds per request")
    parser.add_argument("--seed", type=int, default=0, help="seed of prompts and arrival times")
    return parser


def build_compare_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="loadtest compare", description="Put loadtest runs side by side.")
    parser.add_argument("runs", nargs="+", type=Path, help="JSON results (loadtest or vllm bench serve)")
    parser.add_argument("--out", type=Path, help="directory for compare.json and compare.png")
    return parser


def _fail(message: str) -> None:
    sys.exit(f"loadtest: {message}")


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    console = Console(stderr=True)
    if argv[:1] == ["compare"]:
        compare_args = build_compare_parser().parse_args(argv[1:])
        try:
            compare(compare_args.runs, Console(), compare_args.out)
        except LoadtestError as exc:
            _fail(str(exc))
        return
    args = build_parser().parse_args(argv)
    config = _config(args)
    from loadtest.session import run_session

    try:
        with _event_loop() as runner:
            documents = runner.run(run_session(config, console))
    except LoadtestError as exc:
        _fail(str(exc))
    except KeyboardInterrupt:
        _fail("aborted")
    if documents:
        from loadtest.report import console_table

        console_table(documents, Console())
        if config.out:
            console.print(f"results in {config.out}")
    if not documents or all(d["completed"] == 0 for d in documents):
        _fail("no request completed")
    if any(d["interrupted"] for d in documents):
        sys.exit(INTERRUPTED_EXIT)


def _event_loop() -> asyncio.Runner:
    """uvloop where installed: its event loop keeps timestamps closer to the wire."""
    try:
        import uvloop
    except ImportError:
        return asyncio.Runner()
    return asyncio.Runner(loop_factory=uvloop.new_event_loop)


def _config(args: argparse.Namespace) -> LoadTestConfig:
    from loadtest.session import LoadTestConfig  # imported here: `--help` stays fast

    try:
        profile = parse_profile(args.profile)
        slo = parse_slo(args.slo).limits_ms if args.slo else None
        parse_random(args.dataset)
        extra = json.loads(args.extra_body) if args.extra_body else {}
    except json.JSONDecodeError as exc:
        _fail(f"--extra-body is not JSON: {exc.msg}")
    except ValueError as exc:
        _fail(str(exc))
    if not isinstance(extra, dict):
        _fail("--extra-body must be a JSON object")
    for name in ("num_requests", "warmup", "max_tokens"):
        value = getattr(args, name)
        if value is not None and value < (0 if name == "warmup" else 1):
            _fail(f"--{name.replace('_', '-')} must be {'>= 0' if name == 'warmup' else 'positive'}")
    if args.duration is not None and args.duration <= 0:
        _fail("--duration must be positive")
    if not args.endpoint.startswith(("http://", "https://")):
        _fail(f"--endpoint {args.endpoint!r} is not an http(s) URL")
    return LoadTestConfig(
        endpoint=args.endpoint,
        model=args.model,
        api=args.api,
        profile=profile,
        dataset=args.dataset,
        max_tokens=args.max_tokens,
        num_requests=args.num_requests,
        duration=args.duration,
        warmup=args.warmup,
        slo=slo,
        api_key=args.api_key or os.environ.get("OPENAI_API_KEY"),
        think_format=args.think_format,
        extra_body=extra,
        temperature=args.temperature,
        ignore_eos=not args.no_ignore_eos,
        request_timeout=args.request_timeout,
        seed=args.seed,
        out=args.out,
    )
