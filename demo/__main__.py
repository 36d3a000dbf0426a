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


def ask(console: Console, client: OpenAI, question: str, title: str, controls: dict[str, object]) -> None:
    """One chat completion through the OpenAI SDK, shown with its reasoning and answer apart."""
    started = time.monotonic()
    reply = client.chat.completions.create(
        model="tiny",
        messages=[{"role": "user", "content": question}],
        max_tokens=48,
        temperature=0,
        extra_body=controls,
    )
    elapsed = time.monotonic() - started
    choice = reply.choices[0]
    usage = reply.usage
    details = usage.completion_tokens_details if usage else None
    console.rule(title)
    reasoning = (choice.message.model_extra or {}).get("reasoning_content") or ""
    console.print(Panel(repr(reasoning), title="reasoning_content", style="dim"))
    console.print(Panel(repr(choice.message.content or ""), title="content"))
    console.print(
        f"finish_reason={choice.finish_reason} "
        f"prompt_tokens={usage.prompt_tokens if usage else '?'} "
        f"completion_tokens={usage.completion_tokens if usage else '?'} "
        f"reasoning_tokens={details.reasoning_tokens if details else '?'} in {elapsed:.2f} s"
    )
    console.print(f"budget_forcing={(choice.model_extra or {}).get('budget_forcing')}")


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
        console.print(Panel(args.question, title="user"))
        ask(console, client, args.question, "unlimited thinking", {})
        ask(console, client, args.question, "thinking budget of 8 tokens", {"thinking_token_budget": 8})
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
