"""``serve``: start the OpenAI-compatible server on a model directory or quantize artifact."""

from __future__ import annotations

import argparse
import logging
import signal
import sys

from pydantic import ValidationError

from server.config import ServerConfig
from server.thinking import DEFAULT_EFFORT_BUDGETS, parse_effort_budgets


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="serve",
        description=(
            "Serve a model (an HF directory or a `quantize` artifact) over an OpenAI-compatible "
            "API, with vLLM's async engine running in this process."
        ),
        epilog="example: serve --model ./artifacts/qwen-w4a16 --port 8000 --api-key $KEY",
    )
    parser.add_argument("--model", required=True, help="model directory, artifact, or HF id")
    parser.add_argument("--served-model-name", help="name clients send as `model` (default: --model)")
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default: %(default)s)")
    parser.add_argument("--port", type=int, default=8000, help="port (default: %(default)s)")
    parser.add_argument("--api-key", help="require `Authorization: Bearer KEY` on /v1 routes")
    parser.add_argument("--max-model-len", type=int, help="context length (default: the model's)")
    parser.add_argument("--tensor-parallel-size", type=int, default=1, help="GPUs per replica")
    parser.add_argument(
        "--kv-cache-dtype", default="auto", help="KV cache dtype, e.g. auto or fp8 (default: auto)"
    )
    parser.add_argument("--dtype", default="auto", help="weight/activation dtype (default: auto)")
    parser.add_argument(
        "--gpu-memory-utilization",
        type=float,
        help="fraction of device memory for vLLM (default: 0.9 on GPU, 0.2 of host memory on CPU)",
    )
    parser.add_argument("--seed", type=int, default=0, help="engine seed (default: %(default)s)")
    parser.add_argument(
        "--enforce-eager", action="store_true", help="skip graph capture/compilation (faster start)"
    )
    parser.add_argument(
        "--think-format",
        default="auto",
        help="reasoning delimiters: auto (from the chat template), none, deepseek-r1, qwq, qwen3",
    )
    parser.add_argument(
        "--max-pending-requests",
        type=int,
        default=1024,
        help="requests in flight before new ones get 429 + Retry-After; 0: unbounded (default: 1024)",
    )
    parser.add_argument(
        "--max-request-bytes", type=int, default=16 * 1024 * 1024, help="larger bodies get 413 (16 MiB)"
    )
    parser.add_argument(
        "--drain-timeout",
        type=float,
        default=120.0,
        help="on SIGTERM, seconds to let in-flight requests finish before exiting (default: 120)",
    )
    thinking = parser.add_argument_group(
        "thinking control (server defaults; each request may override them, see docs/thinking.md)"
    )
    thinking.add_argument("--thinking-budget", type=int, help="max thinking tokens (default: unlimited)")
    thinking.add_argument(
        "--min-thinking-tokens", type=int, default=0, help="think at least this long (default: 0)"
    )
    thinking.add_argument(
        "--max-thinking-extensions",
        type=int,
        default=3,
        help="how often an early end of thinking is replaced by the extension text (default: 3)",
    )
    thinking.add_argument(
        "--thinking-extension-text", default="Wait", help="appended instead of an early end (default: Wait)"
    )
    thinking.add_argument(
        "--thinking-wrapup-text", default="", help="inserted before a forced end of thinking (default: none)"
    )
    thinking.add_argument(
        "--answer-reserve-tokens",
        type=int,
        default=128,
        help="tokens kept for the answer when thinking is cut (at most half of max_tokens; default: 128)",
    )
    thinking.add_argument(
        "--effort-budgets",
        type=parse_effort_budgets,
        default=dict(DEFAULT_EFFORT_BUDGETS),
        help="reasoning_effort -> budget, e.g. low=512,high=8192 (default: "
        + ",".join(f"{k}={v}" for k, v in DEFAULT_EFFORT_BUDGETS.items())
        + ")",
    )
    parser.add_argument("--think-start", help="reasoning start delimiter of a model of another family")
    parser.add_argument("--think-end", help="reasoning end delimiter (a single token) of such a model")
    parser.add_argument(
        "--think-in-prompt", action="store_true", help="its chat template opens the think block itself"
    )
    parser.add_argument(
        "--tool-call-parser",
        help='vLLM tool parser for tool_choice "auto", e.g. hermes (as in vLLM); required and named '
        "tool choices need none",
    )
    parser.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    return parser


def _exit_after_drain(signum: int, frame: object) -> None:
    raise SystemExit(0)


def main(argv: list[str] | None = None) -> None:
    args = vars(build_parser().parse_args(argv))
    log_level = args.pop("log_level")
    try:
        config = ServerConfig(**args)
    except ValidationError as exc:
        first = exc.errors()[0]
        option = "-".join(map(str, first["loc"])).replace("_", "-")
        message = first["msg"].removeprefix("Value error, ")
        sys.exit(f"serve: --{option}: {message}" if option else f"serve: {message}")
    if problem := config.model_path_hint():
        sys.exit(f"serve: {problem}")

    import uvicorn

    from server.app import create_app

    logging.basicConfig(level=log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
    # On SIGTERM uvicorn stops accepting, lets in-flight requests finish (up to the drain timeout),
    # then the app's lifespan shuts the engine down. uvicorn then re-raises the signal under the
    # handler that was installed before it: make that one a clean exit, as orchestrators expect.
    signal.signal(signal.SIGTERM, _exit_after_drain)
    uvicorn.run(
        create_app(config),
        host=config.host,
        port=config.port,
        log_level=log_level,
        timeout_graceful_shutdown=config.drain_timeout,
    )
