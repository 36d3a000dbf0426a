"""``quantize``: the command line."""

from __future__ import annotations

import argparse
import sys

from quantize.environment import handover, llmcompressor_available


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="quantize",
        description=(
            "Quantize a model with llm-compressor into an artifact vLLM serves as is "
            "(compressed-tensors) plus a quantreason.json manifest. Runs in the quantize "
            "environment; from the serving environment it hands itself over."
        ),
        epilog="example: quantize --model ./tiny --scheme w8a8-int8 --out ./artifacts/tiny-w8a8",
    )
    parser.add_argument("--model", help="source model: HF directory or hub id")
    parser.add_argument(
        "--scheme", help="w4a16, w4a16-awq, w8a8-int8, w8a8-fp8, w3a16, fp8-kv, bf16, or A+fp8-kv"
    )
    parser.add_argument("--out", help="artifact directory to create (written atomically)")
    parser.add_argument("--calib", default="reasoning", help="reasoning | FILE.jsonl | hub:NAME")
    parser.add_argument("--num-samples", type=int, default=256, help="calibration samples")
    parser.add_argument("--max-seq-len", type=int, default=4096, help="calibration sequence length")
    parser.add_argument("--force", action="store_true", help="replace an existing artifact")
    parser.add_argument("--list-schemes", action="store_true", help="list schemes and exit")
    return parser


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    build_parser().parse_args(argv)  # --help and usage errors answer here, in any environment
    if not llmcompressor_available():
        handover(argv)
    sys.exit(
        "quantize: quantization is not implemented yet (tracked in issue #5: schemes, "
        "calibration, manifest, verify)."
    )
