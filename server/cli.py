"""``serve``: start the OpenAI-compatible server on a model directory or quantize artifact."""

from __future__ import annotations

import argparse
import logging
import math
import signal
import socket
import sys

from pydantic import ValidationError

from lifeline import die_with_parent_from_env
from reasoning_formats import THINK_FORMATS
from server.config import ServerConfig, config_default
from server.thinking import parse_effort_budgets


def _default(field: str) -> str:
    """A flag's default as help shows it, read from ServerConfig (the one place defaults live)."""
    value = config_default(field)
    if isinstance(value, dict):
        return ",".join(f"{key}={item}" for key, item in value.items())
    return "none" if value in ("", None) else str(value)


def build_parser() -> argparse.ArgumentParser:
    """``serve``'s flags. A flag not given is left out of the namespace (``argparse.SUPPRESS``), so
    ServerConfig fills in its own default: the help only shows it."""
    parser = argparse.ArgumentParser(
        prog="serve",
        description=(
            "Serve a model (an HF directory or a `quantize` artifact) over an OpenAI-compatible "
            "API, with vLLM's async engine running in this process."
        ),
        epilog="example: serve --model ./artifacts/qwen-w4a16 --port 8000 --api-key $KEY",
        argument_default=argparse.SUPPRESS,
    )
    parser.add_argument("--model", required=True, help="model directory, artifact, or HF id")
    parser.add_argument("--served-model-name", help="name clients send as `model` (default: --model)")
    parser.add_argument("--host", help=f"bind address (default: {_default('host')})")
    parser.add_argument("--port", type=int, help=f"port (default: {_default('port')})")
    parser.add_argument("--api-key", help="require `Authorization: Bearer KEY` on /v1 routes")
    parser.add_argument("--max-model-len", type=int, help="context length (default: the model's)")
    parser.add_argument(
        "--tensor-parallel-size",
        type=int,
        help=f"GPUs each layer is sharded over (default: {_default('tensor_parallel_size')})",
    )
    parser.add_argument(
        "--pipeline-parallel-size",
        type=int,
        help=f"pipeline stages, layers split (default: {_default('pipeline_parallel_size')})",
    )
    parser.add_argument(
        "--data-parallel-size",
        type=int,
        help=(
            "engine copies behind this server, each on tensor x pipeline GPUs "
            f"(default: {_default('data_parallel_size')})"
        ),
    )
    parser.add_argument(
        "--kv-cache-dtype", help=f"KV cache dtype, e.g. auto or fp8 (default: {_default('kv_cache_dtype')})"
    )
    parser.add_argument("--dtype", help=f"weight/activation dtype (default: {_default('dtype')})")
    parser.add_argument(
        "--gpu-memory-utilization",
        type=float,
        help="fraction of device memory for vLLM (default: 0.9 on GPU, 0.2 of host memory on CPU)",
    )
    parser.add_argument(
        "--kv-cache-memory-bytes",
        type=int,
        help="KV cache size in bytes, whatever the memory fraction (as vLLM's option of that name)",
    )
    parser.add_argument("--seed", type=int, help=f"engine seed (default: {_default('seed')})")
    parser.add_argument(
        "--enforce-eager", action="store_true", help="skip graph capture/compilation (faster start)"
    )
    parser.add_argument(
        "--compilation-config",
        help="vLLM's compilation config as JSON, e.g. '{\"cudagraph_mode\": \"FULL\"}' (default: vLLM's)",
    )
    parser.add_argument(
        "--w4a16-kernel",
        choices=["auto", "machete", "marlin"],
        default="auto",
        help="GEMM kernel for W4A16 layers: vLLM's choice (auto), Machete (faster at large batches "
        "on Hopper) or Marlin (faster at small batches); default: %(default)s",
    )
    parser.add_argument(
        "--no-startup-self-test",
        dest="startup_self_test",
        action="store_false",
        help="skip the chat and completion request run before /health reports ready",
    )
    parser.add_argument(
        "--think-format",
        help=(
            f"reasoning delimiters: auto (from the chat template), none, {', '.join(THINK_FORMATS)} "
            f"(default: {_default('think_format')})"
        ),
    )
    parser.add_argument(
        "--max-pending-requests",
        type=int,
        help=(
            "requests in flight before new ones get 429 + Retry-After; 0: unbounded "
            f"(default: {_default('max_pending_requests')})"
        ),
    )
    parser.add_argument(
        "--max-request-bytes",
        type=int,
        help=f"larger bodies get 413 (default: {config_default('max_request_bytes') // 2**20} MiB)",
    )
    parser.add_argument(
        "--drain-timeout",
        type=float,
        help=(
            "on SIGTERM, seconds to let in-flight requests finish before exiting "
            f"(default: {_default('drain_timeout')})"
        ),
    )
    thinking = parser.add_argument_group(
        "thinking control (server defaults; each request may override them, see docs/thinking.md)"
    )
    budget = config_default("thinking_budget")
    thinking.add_argument(
        "--thinking-budget",
        type=int,
        help=f"max thinking tokens (default: {'unlimited' if budget is None else budget})",
    )
    thinking.add_argument(
        "--min-thinking-tokens",
        type=int,
        help=f"think at least this long (default: {_default('min_thinking_tokens')})",
    )
    thinking.add_argument(
        "--max-thinking-extensions",
        type=int,
        help=(
            "how often an early end of thinking is replaced by the extension text "
            f"(default: {_default('max_thinking_extensions')})"
        ),
    )
    thinking.add_argument(
        "--thinking-extension-text",
        help=f"appended instead of an early end (default: {_default('thinking_extension_text')})",
    )
    thinking.add_argument(
        "--thinking-wrapup-text",
        help=f"inserted before a forced end of thinking (default: {_default('thinking_wrapup_text')})",
    )
    thinking.add_argument(
        "--answer-reserve-tokens",
        type=int,
        help=(
            "tokens kept for the answer when thinking is cut (at most half of max_tokens; "
            f"default: {_default('answer_reserve_tokens')})"
        ),
    )
    thinking.add_argument(
        "--effort-budgets",
        type=parse_effort_budgets,
        help=f"reasoning_effort -> budget, e.g. low=512,high=8192 (default: {_default('effort_budgets')})",
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
    parser.add_argument(
        "--log-level", default="info", choices=["debug", "info", "warning", "error"], help="(default: info)"
    )
    return parser


def _exit_after_drain(signum: int, frame: object) -> None:
    raise SystemExit(0)


def _exit_after_interrupt(signum: int, frame: object) -> None:
    raise SystemExit(128 + signal.SIGINT)  # the shell's code for Ctrl-C, without a traceback


def main(argv: list[str] | None = None) -> None:
    # Started by launcher: stop (SIGTERM: drain, engine shutdown) when the launcher dies.
    die_with_parent_from_env()
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
    # Ctrl-C (SIGINT) shuts down the same way.
    signal.signal(signal.SIGTERM, _exit_after_drain)
    signal.signal(signal.SIGINT, _exit_after_interrupt)
    listener = _bind(config.host, config.port)
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(config),
            log_level=log_level,
            # uvicorn takes whole seconds; a fractional drain timeout is rounded up, never cut short.
            timeout_graceful_shutdown=math.ceil(config.drain_timeout),
        )
    )
    server.run(sockets=[listener])


def _bind(host: str, port: int) -> socket.socket:
    """The listening socket, bound before the engine starts (as vLLM's own server does): uvicorn binds
    only after the app's startup, so a port taken meanwhile would fail a minute of engine start late."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind((host, port))
    except OSError as exc:
        listener.close()
        sys.exit(f"serve: --host {host} --port {port}: {exc.strerror or exc}")
    return listener
