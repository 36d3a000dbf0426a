"""How much load one loadtest process generates while its timestamps stay within 1 ms of the truth.

A local streaming stub (`python -m loadtest.stub`, its own process) sends tokens on a fixed clock and keeps
each event's send time (`time.perf_counter`: CLOCK_MONOTONIC, shared by all processes of the machine).
loadtest's own runner and client (the code `loadtest` runs) drive it at rising load; the *timing error*
of a token is the time loadtest stamped it minus the time the stub sent it (socket, kernel and any delay
of the client's event loop). Two ramps: concurrent streams (closed loop, long streams) and request rate
(open loop, short requests). Capacity: the highest level whose p99 timing error stays under 1 ms.
Writes docs/loadtest-client-capacity.md, .json and .png.

    .venv/bin/python benchmarks/loadtest_client_capacity.py [--seconds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from launcher import free_port  # noqa: E402
from loadtest.client import RequestOptions, StreamingClient  # noqa: E402
from loadtest.datasets import Prompt  # noqa: E402
from loadtest.profiles import Strategy  # noqa: E402
from loadtest.report import pyplot, save_png, write_atomic  # noqa: E402
from loadtest.runner import Limits, run_strategy  # noqa: E402

ERROR_TARGET_MS = 1.0
# Closed loop: long streams (50 tokens, one every 20 ms: 50 events/s per stream).
STREAM_LEVELS = (1, 4, 16, 64, 128, 256, 512, 1024)
STREAM_TOKENS, STREAM_INTERVAL_MS = 50, 20.0
# Open loop: short requests (8 tokens, one every 10 ms) at rising rates.
RATE_LEVELS = (10, 25, 50, 100, 200, 400, 800, 1600, 3200)
RATE_TOKENS, RATE_INTERVAL_MS = 8, 10.0


def start_stub(port: int, interval_ms: float, log: Path) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "loadtest.stub", "--port", str(port), "--interval-ms", str(interval_ms)]
    command += ["--first-token-ms", "10", "--reasoning", "2", "--keep-stamps"]
    process = subprocess.Popen(command, stdout=log.open("ab"), stderr=subprocess.STDOUT)
    for _ in range(100):
        try:
            httpx.get(f"http://127.0.0.1:{port}/v1/models", timeout=1)
            return process
        except httpx.TransportError:
            time.sleep(0.1)
    process.kill()
    raise SystemExit(f"the stub did not start; see {log}")


async def measure(port: int, strategy: Strategy, tokens: int, seconds: float) -> dict[str, Any]:
    """One level: run the strategy for ``seconds``, then match every token's client time to its send time."""
    endpoint = f"http://127.0.0.1:{port}/v1"
    options = RequestOptions(api="chat", model="stub", ignore_eos=True)
    prompts = iter(lambda: Prompt("x" * 16, tokens, exact_length=True), None)
    async with StreamingClient(endpoint, options, keep_text=False) as client:
        result = await run_strategy(
            client,
            prompts,
            strategy,
            Limits(max_requests=1_000_000, max_duration=seconds),
            stop=asyncio.Event(),
        )
        async with client.session.get(f"http://127.0.0.1:{port}/stamps") as response:
            stamps: dict[str, list[float]] = await response.json()
    errors: list[float] = []
    for record in result.records:
        sent = stamps.get(f"loadtest-{record.index}", [])
        if record.ok and len(sent) == len(record.chunks):
            errors.extend(chunk.time - at for chunk, at in zip(record.chunks, sent, strict=True))
    errors_ms = np.asarray(errors) * 1000
    ok = [r for r in result.records if r.ok]
    queue_ms = np.asarray([r.queue_time for r in result.records]) * 1000
    return {
        "strategy": strategy.name,
        "streams": strategy.concurrency,
        "target_rate": strategy.rate,
        "completed": len(ok),
        "failed": len(result.records) - len(ok),
        "request_rate": len(ok) / result.duration if result.duration else 0.0,
        "events_per_s": len(errors) / result.duration if result.duration else 0.0,
        "tokens_matched": len(errors),
        "error_p50_ms": float(np.percentile(errors_ms, 50)) if errors else None,
        "error_p99_ms": float(np.percentile(errors_ms, 99)) if errors else None,
        "error_max_ms": float(errors_ms.max()) if errors else None,
        "dispatch_late_p99_ms": float(np.percentile(queue_ms, 99)) if len(queue_ms) else None,
        **result.health.as_dict(),
    }


def run_ramp(
    levels: list[Strategy], tokens: int, interval_ms: float, seconds: float, work: Path
) -> list[dict]:
    import uvloop

    port = free_port()
    stub = start_stub(port, interval_ms, work / "stub.log")
    rows = []
    try:
        for strategy in levels:
            with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
                row = runner.run(measure(port, strategy, tokens, seconds))
            row["load_average"] = os.getloadavg()[0]
            rows.append(row)
            print(json.dumps(row), flush=True)
            if row["error_p99_ms"] is None or row["error_p99_ms"] > 20 * ERROR_TARGET_MS:
                break  # far past capacity: higher levels only take longer to say the same
    finally:
        stub.terminate()
        stub.wait(10)
    return rows


def capacity(rows: list[dict], key: str, stat: str = "p99", baseline: float = 0.0) -> float | None:
    """The highest level whose timing error (at ``stat``, less ``baseline``) stayed under the target,
    all levels below it too."""
    best = None
    for row in rows:
        if row[f"error_{stat}_ms"] is None or row[f"error_{stat}_ms"] - baseline >= ERROR_TARGET_MS:
            break
        best = row[key]
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="per level")
    parser.add_argument("--out", type=Path, default=ROOT / "docs")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="loadtest-capacity-"))
    load_start = os.getloadavg()
    streams = run_ramp(
        [Strategy(name=f"concurrency-{n}", concurrency=n) for n in STREAM_LEVELS],
        STREAM_TOKENS, STREAM_INTERVAL_MS, args.seconds, work,
    )  # fmt: skip
    rates = run_ramp(
        [Strategy(name=f"rate-{r}", rate=float(r)) for r in RATE_LEVELS],
        RATE_TOKENS, RATE_INTERVAL_MS, args.seconds, work,
    )  # fmt: skip
    write_report(streams, rates, args, (load_start, os.getloadavg()))


def write_report(streams: list[dict], rates: list[dict], args: argparse.Namespace, loads: tuple) -> None:
    def table(rows: list[dict], level: str, key: str) -> list[str]:
        lines = [
            f"| {level} | achieved req/s | tokens/s | error p50 / p99 / max (ms) | dispatch late p99 (ms) "
            "| client CPU | loop lag p99 (ms) | load avg |",
            "|---:|---:|---:|---|---:|---:|---:|---:|",
        ]
        for row in rows:
            if row["error_p99_ms"] is None:
                errors = "no token matched"
            else:
                errors = f"{row['error_p50_ms']:.2f} / {row['error_p99_ms']:.2f} / {row['error_max_ms']:.1f}"
            late = row["dispatch_late_p99_ms"] if row["target_rate"] else None
            lines.append(
                f"| {row[key]:g} | {row['request_rate']:.1f} | {row['events_per_s']:.0f} | {errors} | "
                f"{'-' if late is None else f'{late:.2f}'} | {row['client_cpu_share']:.0%} | "
                f"{row['client_loop_lag_p99_ms']:.2f} | {row['load_average']:.1f} |"
            )
        return lines

    stream_capacity, rate_capacity = capacity(streams, "streams"), capacity(rates, "target_rate")
    stream_median, rate_median = capacity(streams, "streams", "p50"), capacity(rates, "target_rate", "p50")
    # What the client adds beyond the machine's own noise: p99 over the lightest level's p99.
    stream_base = streams[0]["error_p99_ms"] or 0.0
    rate_base = rates[0]["error_p99_ms"] or 0.0
    stream_excess = capacity(streams, "streams", "p99", stream_base)
    rate_excess = capacity(rates, "target_rate", "p99", rate_base)
    lines = [
        "# loadtest: client capacity",
        "",
        "Written by `benchmarks/loadtest_client_capacity.py`. One loadtest process (uvloop, one aiohttp "
        "pool: the runner and client `loadtest` uses) against a local streaming stub in its own process. "
        "**Timing error** of a token = the time loadtest stamped it - the time the stub sent it (both "
        "`perf_counter`, the machine's monotonic clock): what the socket, the kernel and the client's event "
        f"loop add. Target: p99 under {ERROR_TARGET_MS:g} ms. {args.seconds:g} s per level.",
        "",
        "Machine: 2 CPU cores shared with four other developers' vLLM tests (and the stub shares them too); "
        f"load average {loads[0][0]:.1f} at start, {loads[1][0]:.1f} at end. A busy machine delays the "
        "client's loop however light the client is; the loop lag column shows that share.",
        "",
        f"**Capacity with the p99 timing error under {ERROR_TARGET_MS:g} ms: concurrent streams "
        f"{stream_capacity or '(no level)'}; request rate {rate_capacity or '(no level)'} req/s.** "
        f"With the median error under {ERROR_TARGET_MS:g} ms: {stream_median or '(no level)'} streams; "
        f"{rate_median or '(no level)'} req/s. With the p99 error at most "
        f"{ERROR_TARGET_MS:g} ms "
        f"above the lightest level's (the machine's own noise: {stream_base:.2f} ms with one stream, "
        f"{rate_base:.2f} ms at {rates[0]['target_rate']:g} req/s): {stream_excess or '(no level)'} "
        f"streams; {rate_excess or '(no level)'} req/s.",
        "",
        f"## Concurrent streams (closed loop; {STREAM_TOKENS} tokens per request, one every "
        f"{STREAM_INTERVAL_MS:g} ms)",
        "",
        *table(streams, "streams", "streams"),
        "",
        f"## Request rate (open loop, Poisson; {RATE_TOKENS} tokens per request, one every "
        f"{RATE_INTERVAL_MS:g} ms)",
        "",
        *table(rates, "target req/s", "target_rate"),
        "",
        "Bursts: a closed loop's streams start together and the stub sends their tokens on one clock, as "
        "a server decoding them in one batch does: N events arrive at once, and the client reads them one "
        "after another, so the last of a burst is stamped about N x (cost of one event) late. The p50 error "
        "at 64 streams is that queue; an open loop spreads arrivals and keeps the median low at far more "
        "tokens per second.",
        "",
        "Dispatch lateness (open loop): send time - scheduled time; uvloop's timers have 1 ms resolution, so "
        "up to ~1 ms of it is the timer, not load. It shifts when a request starts, not what is measured: "
        "every latency runs from the actual send.",
        "",
        "![capacity](loadtest-client-capacity.png)",
        "",
    ]
    write_atomic(args.out / "loadtest-client-capacity.md", "\n".join(lines))
    document = {"streams": streams, "rates": rates, "load_average": loads}
    write_atomic(args.out / "loadtest-client-capacity.json", json.dumps(document, indent=1))

    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    for axis, rows, key, label in (
        (axes[0], streams, "streams", "concurrent streams"),
        (axes[1], rates, "target_rate", "target request rate (req/s)"),
    ):
        shown = [row for row in rows if row["error_p99_ms"] is not None]
        for stat, style in (("p50", "o-"), ("p99", "s-"), ("max", "^:")):
            axis.plot([r[key] for r in shown], [r[f"error_{stat}_ms"] for r in shown], style, label=stat)
        axis.axhline(ERROR_TARGET_MS, color="red", lw=1, ls="--", label="1 ms target")
        axis.set_xscale("log", base=2)
        axis.set_yscale("log")
        axis.set_xlabel(label)
        axis.set_ylabel("timing error (ms)")
        axis.grid(alpha=0.3, which="both")
        axis.legend(fontsize=8)
    fig.suptitle("loadtest client capacity: timing error against a local stub")
    save_png(fig, args.out / "loadtest-client-capacity.png")


if __name__ == "__main__":
    main()
