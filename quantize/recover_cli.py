"""``quantize recover ARTIFACT --out DIR --data FILE.jsonl|reasoning``: its command line."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

DEFAULT_EXAMPLES = 545  # quantize.recover.DEFAULT_EXAMPLES, without importing torch for --help


def build_recover_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="quantize recover",
        description=(
            "Restore a quantized artifact's accuracy with a few task examples: fine-tune its source model "
            "with the artifact's weight scheme fake-quantized in the loop (straight-through estimator), then "
            "quantize it onto the same scheme again. The result is an ordinary artifact of that scheme "
            "(same weight bits), written atomically. See docs/quantize-recover.md."
        ),
        epilog="example: quantize recover artifacts/m-w2a16 --out artifacts/m-w2a16-recovered "
        "--data examples.jsonl --examples 545",
    )
    parser.add_argument("artifact", type=Path, help="artifact directory made by quantize")
    parser.add_argument("--out", type=Path, required=True, help="artifact directory to create")
    parser.add_argument(
        "--data",
        required=True,
        help="FILE.jsonl (problem + solution [+ answer], or prompt + reasoning_content + content), or "
        "'reasoning': the source model's own traces through serve, kept where the answer is right",
    )
    parser.add_argument("--examples", type=int, default=DEFAULT_EXAMPLES, help="examples to train on")
    parser.add_argument("--max-minutes", type=float, default=10.0, help="stop training after this long")
    parser.add_argument("--method", choices=("qat",), default="qat", help="recovery method")
    parser.add_argument("--steps", type=int, help="optimizer steps (default: 3 passes over the examples)")
    parser.add_argument("--batch-size", type=int, default=16, help="examples per step")
    parser.add_argument("--learning-rate", type=float, default=2e-5, help="peak AdamW learning rate")
    parser.add_argument("--seed", type=int, default=0, help="example order (results deterministic per seed)")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: cores, at most 8)")
    parser.add_argument("--max-seq-len", type=int, default=4096, help="tokens per example kept")
    parser.add_argument(
        "--exclude",
        type=Path,
        action="append",
        default=[],
        help="benchmark JSONL whose problems are dropped from the examples (repeatable)",
    )
    parser.add_argument("--source", type=Path, help="source model, if not where the artifact's manifest says")
    parser.add_argument("--force", action="store_true", help="replace an existing --out")
    reasoning = parser.add_argument_group("--data reasoning")
    reasoning.add_argument("--prompts", type=Path, help="JSONL of problem + answer to ask the source model")
    reasoning.add_argument("--trace-max-tokens", type=int, help="default: half the model's context, <= 2048")
    reasoning.add_argument("--trace-server", help="root URL of a server already serving the source model")
    reasoning.add_argument("--trace-model", help="its served model name")
    reasoning.add_argument("--trace-api-key", help="its API key")
    return parser


def parse(argv: list[str]) -> argparse.Namespace:
    """Parse, and refuse values no run could use (before any heavy import)."""
    parser = build_recover_parser()
    args = parser.parse_args(argv)
    for flag in ("examples", "batch_size", "steps", "threads", "max_seq_len", "trace_max_tokens"):
        value = getattr(args, flag)
        if value is not None and value < 1:
            parser.exit(2, f"quantize recover: --{flag.replace('_', '-')} must be at least 1\n")
    if args.max_minutes <= 0 or args.learning_rate <= 0:
        parser.exit(2, "quantize recover: --max-minutes and --learning-rate must be positive\n")
    return args


def run(argv: list[str]) -> None:
    from rich.console import Console

    from quantize.artifact import ArtifactExistsError
    from quantize.errors import QuantizeError
    from quantize.recover import RecoverRequest, run_recover

    args = parse(argv)
    request = RecoverRequest(
        artifact=args.artifact,
        out=args.out,
        data=args.data,
        examples=args.examples,
        max_minutes=args.max_minutes,
        method=args.method,
        steps=args.steps,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        seed=args.seed,
        threads=args.threads,
        max_seq_len=args.max_seq_len,
        force=args.force,
        source=args.source,
        exclude=args.exclude,
        prompts=args.prompts,
        trace_max_tokens=args.trace_max_tokens,
        trace_server=args.trace_server,
        trace_model=args.trace_model,
        trace_api_key=args.trace_api_key,
    )
    try:
        run_recover(request, Console(stderr=True))
    except (QuantizeError, ArtifactExistsError) as exc:
        sys.exit(f"quantize recover: {exc}")
    except KeyboardInterrupt:
        sys.exit("quantize recover: interrupted; no artifact written")
    print(args.out)
