"""evalclient's own overhead: samples per second end to end (request, parse, score, append) against an
instant local stub endpoint, and the concurrency it keeps against the real server.

Part 1 (target >= 1000 samples/s for math): MATH-500 problems, the stub (its own process) answering at
once with a think block and a boxed answer, half right in an equivalent LaTeX form and half wrong, so
every sample goes through Math-Verify. Variants side by side in one run: streaming (the default, TTFT
measured), plain JSON, and scoring alone (no HTTP). Part 2: the trained tiny reasoner behind the real
server on toy-arith at several ``--concurrency`` values; the client's time-weighted mean of requests in
flight over the requested concurrency (1.0 = the client keeps it). Writes docs/evalclient-overhead.md
and docs/evalclient-overhead.png.

    .venv/bin/python benchmarks/evalclient_overhead.py [--samples 4000] [--skip-server]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from evalclient.benchmarks import get_benchmark  # noqa: E402
from evalclient.client import ChatClient  # noqa: E402
from evalclient.records import Problem, RunConfig, SamplingConfig  # noqa: E402
from evalclient.rundir import RunDirectory  # noqa: E402
from evalclient.runner import Runner, WorkItem, plan  # noqa: E402
from evalclient.scorer_pool import ScoringPool  # noqa: E402
from evalclient.stub import SEED_MARK, StubProcess  # noqa: E402
from launcher import free_port  # noqa: E402

DATA = ROOT.parent / "shared" / "datasets"
TARGET = 1000.0


def stub_answers(problems: list[Problem]) -> dict[str, str]:
    """Half right (the gold answer), half wrong (an integer off by one, else the gold plus one). The seed
    in every text makes each sample's text distinct, so no score is reused: the uncached worst case."""
    answers = {}
    for index, problem in enumerate(problems):
        if index % 2 == 0:
            boxed = problem.gold
        else:
            boxed = (
                str(int(problem.gold) + 1) if problem.gold.lstrip("-").isdigit() else f"{problem.gold} + 1"
            )
        answers[problem.prompt] = (
            f"<think>\nSample {SEED_MARK}: let me work through it step by step.\n</think>\n\n"
            f"Sample {SEED_MARK} says \\boxed{{{boxed}}}."
        )
    return answers


def config_for(endpoint: str, model: str, benchmark: str, n: int, budgets: list[int | None]) -> RunConfig:
    return RunConfig(
        endpoint=endpoint, model=model, benchmarks=[benchmark], protocol=None,
        sampling=SamplingConfig(n=n, seeds=[42], temperature=0.0), thinking_budgets=budgets,
    )  # fmt: skip


async def timed_run(
    config: RunConfig, work: list[WorkItem], concurrency: int, stream: bool, api_key: str | None,
    scoring: ScoringPool, out: Path,
) -> tuple[float, Runner]:  # fmt: skip
    async with ChatClient(config.endpoint, api_key, stream=stream, max_connections=concurrency) as client:
        runner = Runner(config, RunDirectory(out), client, concurrency, scoring)
        started = time.perf_counter()
        await runner.run(work)
        return time.perf_counter() - started, runner


async def warm(scoring: ScoringPool, benchmark, problem: Problem, workers: int) -> None:
    await asyncio.gather(
        *(scoring.score(benchmark.score, "\\boxed{1}", problem, 60) for _ in range(4 * workers))
    )


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds of these processes so far."""
    total = 0.0
    for pid in pids:
        times = psutil.Process(pid).cpu_times()
        total += times.user + times.system
    return total


def client_pids(scoring: ScoringPool) -> list[int]:
    return [os.getpid(), *scoring._pool._processes]  # the benchmark may look inside: it measures them


async def stub_part(samples: int, workers: int) -> dict[str, dict[str, float]]:
    """label -> {rate: samples/s of wall time, cpu_ms: client CPU ms per sample, capacity: samples per
    client CPU-second}. CPU time is what the client itself spends, whatever else runs on the machine."""
    results: dict[str, dict[str, float]] = {}
    scoring = ScoringPool(workers)
    for name in ("math500", "aime24"):
        benchmark = get_benchmark(name)
        problems = benchmark.load(DATA)
        n = max(1, samples // len(problems))
        with tempfile.TemporaryDirectory() as scratch:
            answers = stub_answers(problems)
            answers_file = Path(scratch) / "answers.json"
            answers_file.write_text(json.dumps(answers))
            with StubProcess(free_port(), answers_file) as stub:
                config = config_for(stub.base_url, "stub", benchmark.key, n, [None])
                work = plan(config, [benchmark], {benchmark.key: problems})
                await warm(scoring, benchmark, problems[0], workers)
                for label, stream in (("streaming", True), ("plain JSON", False)):
                    out = Path(scratch) / label.replace(" ", "-")
                    out.mkdir()
                    cpu_before = cpu_seconds(client_pids(scoring))
                    wall, _ = await timed_run(config, work, 64, stream, None, scoring, out)
                    cpu = cpu_seconds(client_pids(scoring)) - cpu_before
                    lines = (out / "samples.jsonl").read_text().splitlines()
                    assert len(lines) == len(work), "every sample must be written"
                    key = f"{name}, {label}"
                    results[key] = {
                        "rate": len(work) / wall,
                        "cpu_ms": 1000 * cpu / len(work),
                        "capacity": len(work) / cpu,
                    }
                    print(key, len(work), "samples", json.dumps(results[key]), flush=True)
            if name == "math500":
                texts = [
                    answers[item.problem.prompt]
                    .replace(SEED_MARK, str(43 + item.sample_index))
                    .split("</think>")[1]
                    for item in work
                ]  # seeds unseen by the runs above: no worker has parsed these texts yet
                cpu_before = cpu_seconds(client_pids(scoring))
                started = time.perf_counter()
                await asyncio.gather(
                    *(
                        scoring.score(benchmark.score, text, item.problem, 60)
                        for text, item in zip(texts, work, strict=True)
                    )
                )
                wall = time.perf_counter() - started
                cpu = cpu_seconds(client_pids(scoring)) - cpu_before
                key = "math500, scorer in workers, no HTTP"
                results[key] = {
                    "rate": len(work) / wall,
                    "cpu_ms": 1000 * cpu / len(work),
                    "capacity": len(work) / cpu,
                }
                print(key, json.dumps(results[key]), flush=True)
    scoring.close()
    return results


async def server_part(concurrencies: list[int], limit: int) -> list[dict[str, float]]:
    from launcher import SMALL_KV_CACHE, ServerProcess
    from tinymodel import REASONER_DIR

    benchmark = get_benchmark("toy-arith")
    problems = benchmark.load(None)[:limit]
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        server = ServerProcess(
            REASONER_DIR, "--served-model-name", "tiny-reasoner", "--enforce-eager",
            *SMALL_KV_CACHE, "--max-model-len", "1024", api_key="bench-key",
            log_path=Path(scratch) / "serve.log",
        )  # fmt: skip
        with server:
            scoring = ScoringPool(1)
            await warm(scoring, benchmark, problems[0], 1)
            for concurrency in concurrencies:
                config = config_for(server.base_url, "tiny-reasoner", benchmark.key, 1, [None])
                work = plan(config, [benchmark], {benchmark.key: problems})
                out = Path(scratch) / f"c{concurrency}"
                out.mkdir()
                wall, runner = await timed_run(config, work, concurrency, True, "bench-key", scoring, out)
                row = {
                    "concurrency": concurrency, "samples": len(work), "wall_s": wall,
                    "samples_per_s": len(work) / wall, "mean_in_flight": runner.mean_in_flight,
                    "peak_in_flight": runner.peak_in_flight, "kept": runner.mean_in_flight / concurrency,
                }  # fmt: skip
                rows.append(row)
                print(json.dumps(row), flush=True)
            scoring.close()
    return rows


def write_outputs(
    stub: dict[str, dict[str, float]], server: list[dict[str, float]], samples: int, workers: int, load: str
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    docs = ROOT / "docs"
    lines = [
        "# evalclient overhead\n\n",
        "Written by `benchmarks/evalclient_overhead.py` (2 CPU cores shared by the stub, the client and its "
        f"{workers} scoring processes; load average {load})."
        "\n\n",
        f"## Against an instant stub endpoint (about {samples} samples per benchmark, concurrency 64)\n\n",
        "Every sample: one chat request, parse, Math-Verify scoring in a worker process, one JSONL line "
        "appended and flushed. Half the answers are right, half wrong (an integer off by one, else the gold "
        "answer plus one); every text is distinct, so no score is reused. Certain verdicts (the gold answer "
        "up to spacing, or two integers) are given in the client process; the rest go to Math-Verify in "
        "the worker processes. `scorer in workers` sends every MATH-500 answer to the workers' scorer, "
        "no HTTP.\n\n",
        "`client CPU` is the CPU time of the client process and its scoring workers per sample (the stub's "
        "own is left out); `samples per client CPU-second` is what the client sustains per core it gets, "
        "which the shared machine's load does not change much.\n\n",
        "| variant | samples/s (wall) | x target | client CPU ms/sample | samples per client CPU-second "
        "| x target |\n|---|---|---|---|---|---|\n",
    ]
    lines += [
        f"| {label} | {r['rate']:.0f} | {r['rate'] / TARGET:.2f} | {r['cpu_ms']:.2f} | {r['capacity']:.0f} "
        f"| {r['capacity'] / TARGET:.2f} |\n"
        for label, r in stub.items()
    ]
    if server:
        lines += [
            "\n## Against the real server (tiny reasoner, toy-arith, temperature 0)\n\n",
            "`kept` = the client's time-weighted mean of requests in flight / the requested concurrency.\n\n",
            "| concurrency | samples | wall s | samples/s | mean in flight | peak in flight | kept |\n",
            "|---|---|---|---|---|---|---|\n",
        ]
        lines += [
            f"| {r['concurrency']} | {r['samples']} | {r['wall_s']:.1f} | {r['samples_per_s']:.2f} "
            f"| {r['mean_in_flight']:.2f} | {r['peak_in_flight']} | {r['kept']:.2f} |\n"
            for r in server
        ]
        lines.append(
            "\nThe mean stays a little under the requested value because the last requests of a run drain "
            "alone (fewer left than the concurrency).\n"
        )
    lines.append("\n![evalclient overhead](evalclient-overhead.png)\n")
    (docs / "evalclient-overhead.md").write_text("".join(lines))
    figure, axes = plt.subplots(1, 2 if server else 1, figsize=(13 if server else 7, 4.5))
    axes = list(axes) if server else [axes]
    labels = list(stub)
    positions = range(len(labels))
    axes[0].barh([p + 0.2 for p in positions], [stub[k]["rate"] for k in labels], 0.4, label="wall samples/s")
    axes[0].barh([p - 0.2 for p in positions], [stub[k]["capacity"] for k in labels], 0.4,
                 label="samples per client CPU-s")  # fmt: skip
    axes[0].set_yticks(list(positions), labels)
    axes[0].axvline(TARGET, color="black", linestyle="--", label="target 1000/s")
    axes[0].set_xlabel("samples / s")
    axes[0].set_title("instant stub endpoint")
    axes[0].legend()
    if server:
        xs = [r["concurrency"] for r in server]
        axes[1].plot(xs, xs, "k--", label="requested")
        axes[1].plot(xs, [r["mean_in_flight"] for r in server], "o-", label="mean in flight")
        axes[1].plot(xs, [r["peak_in_flight"] for r in server], "s:", label="peak in flight")
        axes[1].set_xlabel("--concurrency")
        axes[1].set_ylabel("requests in flight")
        axes[1].set_title("real server (tiny reasoner)")
        axes[1].legend()
    figure.tight_layout()
    figure.savefig(docs / "evalclient-overhead.png", dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=4000)
    parser.add_argument("--workers", type=int, default=2, help="scoring processes")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 8, 16])
    parser.add_argument("--server-problems", type=int, default=48)
    parser.add_argument("--skip-server", action="store_true")
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    stub = asyncio.run(stub_part(args.samples, args.workers))
    load = f"{load_before:.1f} before, {os.getloadavg()[0]:.1f} after the stub part"
    server = [] if args.skip_server else asyncio.run(server_part(args.concurrency, args.server_problems))
    write_outputs(stub, server, args.samples, args.workers, load)


if __name__ == "__main__":
    main()
