"""``loadtest``: the command line."""

from __future__ import annotations

import argparse
import sys


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="loadtest",
        description=(
            "Measure latency (TTFT, time to first answer token, ITL, TPOT, E2EL), throughput and "
            "goodput of an OpenAI-compatible endpoint, separating reasoning from answer tokens."
        ),
        epilog="example: loadtest --endpoint http://127.0.0.1:8000/v1 --model tiny --profile concurrency:8",
    )
    parser.add_argument("--endpoint", required=True, help="base URL of the API, e.g. http://host:8000/v1")
    parser.add_argument("--model", required=True, help="model name the endpoint serves")
    parser.add_argument("--profile", default="concurrency:1", help="concurrency:N | rate:R | sweep")
    parser.add_argument("--dataset", default="random:256:256", help="random:IN:OUT | benchmark | FILE.jsonl")
    parser.add_argument("--num-requests", type=int, default=100, help="requests to send")
    parser.add_argument("--slo", help="e.g. ttft:500,tpot:50,e2el:10000 (milliseconds)")
    parser.add_argument("--out", help="directory for JSON, CSV and plots")
    return parser


def main(argv: list[str] | None = None) -> None:
    build_parser().parse_args(argv)
    sys.exit("loadtest: load generation is not implemented yet (tracked in issue #7).")
