"""Accuracy of the tiny reasoner on toy-arith versus its thinking budget, at temperature 0.

Budget forcing by hand, in this client: the server only completes text (``/v1/completions``, token-id
prompts), so any OpenAI-compatible server measures the model alike. With budget B the thinking is
generated with ``max_tokens=B``, stopping at ``</think>``; then ``</think>\\n\\n`` is appended to prompt
+ thinking and the answer generated in a second call. Budget 0 answers straight after the prompt.
"unlimited" lets the model end its thinking itself. Without ``--endpoint`` the script starts ``serve``
on ``--model`` itself.

    PYTHONPATH=. .venv/bin/python benchmarks/tiny_reasoner_quality.py \\
        --model tinymodel/weights/tiny-reasoner --json docs/tiny-reasoner-quality.json \\
        --plot docs/tiny-reasoner-budget.png
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import sys
from collections import defaultdict
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
UNLIMITED = 640  # far beyond the longest trace (~300 tokens): the model always ends thinking itself
DEFAULT_BUDGETS = [0, 16, 32, 48, 64, 96, 128, 160, 192, 256, UNLIMITED]
ANSWER_TOKENS = 24
CONCURRENCY = 8  # requests in flight; servers may cap pending requests (the tests' at 12)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=REPO / "tinymodel" / "weights" / "tiny-reasoner")
    parser.add_argument(
        "--endpoint", help="base URL of a server already serving --model, e.g. http://h:8000/v1"
    )
    parser.add_argument("--api-key", help="bearer token of --endpoint")
    parser.add_argument("--benchmark", type=Path, default=REPO / "evalclient" / "data" / "toy-arith.jsonl")
    parser.add_argument("--budgets", type=int, nargs="+", default=DEFAULT_BUDGETS)
    parser.add_argument("--json", type=Path, default=None, help="write the results here")
    parser.add_argument("--plot", type=Path, default=None, help="draw the budget curve into this PNG")
    args = parser.parse_args(argv)
    if not (args.model / "config.json").exists():
        sys.exit(f"tiny_reasoner_quality: no model in {args.model}")
    if not args.benchmark.exists():
        sys.exit(f"tiny_reasoner_quality: no benchmark at {args.benchmark}")
    if any(budget < 0 for budget in args.budgets):
        sys.exit("tiny_reasoner_quality: budgets must be >= 0")

    from transformers import AutoTokenizer

    from reasoning_formats import last_boxed

    items = [json.loads(line) for line in args.benchmark.read_text().splitlines() if line.strip()]
    tokenizer = AutoTokenizer.from_pretrained(args.model)
    forced_end = tokenizer.encode("</think>\n\n", add_special_tokens=False)
    prompts = [
        tokenizer.apply_chat_template(
            [{"role": "user", "content": item["problem"]}], add_generation_prompt=True, tokenize=True,
            return_dict=False,
        )
        for item in items
    ]  # fmt: skip

    with endpoint(args) as (base_url, api_key), ThreadPoolExecutor(CONCURRENCY) as pool:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        client = httpx.Client(base_url=base_url, headers=headers, timeout=300)
        model = client.get("/models").raise_for_status().json()["data"][0]["id"]

        def complete(prompt_ids: list[int], max_tokens: int, stop: list[str] | None = None) -> str:
            body = {"model": model, "prompt": prompt_ids, "max_tokens": max_tokens, "temperature": 0.0}
            if stop:
                body["stop"] = stop
            return client.post("/completions", json=body).raise_for_status().json()["choices"][0]["text"]

        results = []
        for budget in args.budgets:
            thinking: list[list[int]] = [[] for _ in items]
            if budget > 0:
                # Whether the model closed its thinking (the stop string is left out of the text) or was
                # cut off, the answer call continues from the thinking followed by "</think>\n\n".
                texts = pool.map(functools.partial(complete, max_tokens=budget, stop=["</think>"]), prompts)
                thinking = [tokenizer.encode(text, add_special_tokens=False) for text in texts]
            answers = list(
                pool.map(
                    lambda pt: complete(pt[0] + pt[1] + forced_end, ANSWER_TOKENS),
                    zip(prompts, thinking, strict=True),
                )
            )
            by_difficulty: dict[str, list[bool]] = defaultdict(list)
            for item, answer in zip(items, answers, strict=True):
                by_difficulty[item["difficulty"]].append(last_boxed(answer) == item["answer"])
            correct = [ok for oks in by_difficulty.values() for ok in oks]
            row = {
                "budget": "unlimited" if budget == UNLIMITED else budget,
                "accuracy": sum(correct) / len(correct),
                "by_difficulty": {d: sum(oks) / len(oks) for d, oks in by_difficulty.items()},
                "mean_thinking_tokens": sum(map(len, thinking)) / len(thinking),
            }
            results.append(row)
            print(json.dumps(row), flush=True)

    if args.json:
        payload = {
            "model": str(args.model),
            "benchmark": str(args.benchmark),
            "n": len(items),
            "results": results,
        }
        args.json.write_text(json.dumps(payload, indent=2) + "\n")
    if args.plot:
        plot(results, args.plot)


@contextlib.contextmanager
def endpoint(args: argparse.Namespace) -> Iterator[tuple[str, str | None]]:
    """``--endpoint``, or ``serve`` on ``--model`` for the length of the run."""
    if args.endpoint:
        yield args.endpoint.rstrip("/"), args.api_key
        return
    sys.path.insert(0, str(REPO))
    from launcher import SMALL_KV_CACHE, ServerProcess

    args_ = ("--enforce-eager", *SMALL_KV_CACHE, "--max-model-len", "1024", "--dtype", "bfloat16")
    with ServerProcess(args.model, *args_, start_timeout=900) as server:
        yield server.base_url, None


def plot(results: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    limited = [r for r in results if r["budget"] != "unlimited"]
    unlimited = [r for r in results if r["budget"] == "unlimited"]
    fig, ax = plt.subplots(figsize=(7, 4.2))
    ax.plot([r["budget"] for r in limited], [100 * r["accuracy"] for r in limited], "o-", label="all")
    for difficulty in limited[0]["by_difficulty"] if limited else []:
        ax.plot(
            [r["budget"] for r in limited], [100 * r["by_difficulty"][difficulty] for r in limited],
            ".--", alpha=0.6, label=difficulty,
        )  # fmt: skip
    for r in unlimited:
        ax.axhline(100 * r["accuracy"], color="grey", linestyle=":", label=f"unlimited ({r['accuracy']:.0%})")
    ax.set_xlabel("thinking budget (tokens)")
    ax.set_ylabel("toy-arith accuracy (%)")
    ax.set_ylim(-2, 102)
    ax.set_title("tiny-reasoner: accuracy vs thinking budget (vLLM, temperature 0)")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


if __name__ == "__main__":
    main()
