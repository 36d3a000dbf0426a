"""``evalclient``: the command line."""

from __future__ import annotations

import argparse
import sys


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="evalclient",
        description=(
            "Score reasoning benchmarks (MATH-500, AIME, GSM8K, GPQA-Diamond, LiveCodeBench, "
            "toy-arith, any JSONL) against an OpenAI-compatible endpoint, and compare runs."
        ),
        epilog="example: evalclient --endpoint http://127.0.0.1:8000/v1 --model tiny --benchmark gsm8k",
    )
    parser.add_argument("--endpoint", required=True, help="base URL of the API, e.g. http://host:8000/v1")
    parser.add_argument("--model", required=True, help="model name the endpoint serves")
    parser.add_argument("--benchmark", required=True, help="comma-separated benchmarks")
    parser.add_argument("--n", type=int, default=1, help="samples per problem")
    parser.add_argument("--seeds", default="42", help="comma-separated sampling seeds")
    parser.add_argument("--concurrency", type=int, default=16, help="requests in flight")
    parser.add_argument("--max-tokens", type=int, help="completion token limit")
    parser.add_argument("--out", help="run directory (appended per sample, resumable)")
    return parser


def main(argv: list[str] | None = None) -> None:
    build_parser().parse_args(argv)
    sys.exit("evalclient: scoring is not implemented yet (tracked in issue #6).")
