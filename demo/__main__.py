from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from openai import OpenAI
from rich.console import Console
from rich.panel import Panel

from server.launcher import ServerProcess, ServerStartError
from tinymodel import TinyModelSpec, build_tiny_model

QUESTION = "What is 12 + 7?"


def default_workdir() -> Path:
    return Path(os.environ.get("QUANTREASON_CACHE", Path.home() / ".cache" / "quantreason"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m demo", description="Run quantreason's main job on its own tiny model."
    )
    parser.add_argument("--workdir", type=Path, default=default_workdir(), help="models and logs")
    parser.add_argument("--question", default=QUESTION, help="what to ask the model")
    args = parser.parse_args(argv)
    console = Console()

    with console.status("building the tiny model"):
        spec = TinyModelSpec()
        model_dir = build_tiny_model(args.workdir / "models" / f"tiny-random-seed{spec.seed}", spec)
    console.print(f"[green]model[/] {model_dir} (random weights: its words are noise, the plumbing is real)")

    log_path = args.workdir / "logs" / "demo-serve.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log_path.write_text("")
    server = ServerProcess(model_dir, "--served-model-name", "tiny", "--enforce-eager", log_path=log_path)
    try:
        with console.status(f"starting serve (vLLM engine) on {server.url}; log: {log_path}"):
            started = time.monotonic()
            server.start()
        console.print(f"[green]serve[/] ready in {time.monotonic() - started:.0f} s at {server.base_url}")

        client = OpenAI(base_url=server.base_url, api_key="unused")
        started = time.monotonic()
        reply = client.chat.completions.create(
            model="tiny",
            messages=[{"role": "user", "content": args.question}],
            max_tokens=48,
            temperature=0,
        )
        elapsed = time.monotonic() - started
        message = reply.choices[0].message
        reasoning = getattr(message, "reasoning_content", None) or ""
        usage = reply.usage
        console.print(Panel(args.question, title="user"))
        console.print(Panel(repr(reasoning), title="reasoning_content", style="dim"))
        console.print(Panel(repr(message.content or ""), title="content"))
        reasoning_tokens = (
            usage.completion_tokens_details.reasoning_tokens
            if usage and usage.completion_tokens_details
            else 0
        )
        console.print(
            f"finish_reason={reply.choices[0].finish_reason} "
            f"prompt_tokens={usage.prompt_tokens if usage else '?'} "
            f"completion_tokens={usage.completion_tokens if usage else '?'} "
            f"reasoning_tokens={reasoning_tokens} in {elapsed:.2f} s"
        )
    except ServerStartError as exc:
        console.print(f"[red]demo: {exc}[/]")
        return 1
    finally:
        with console.status("stopping serve"):
            code = server.stop()
    console.print(f"[green]serve[/] stopped (exit code {code})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
