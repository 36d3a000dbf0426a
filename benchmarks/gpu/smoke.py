"""GPU smoke test (`make gpu-smoke`): our `quantize` makes a W4A16 artifact of the tiny reasoner on the
GPU, and our `serve` serves it and the bf16 model with vLLM's GPU kernels; each server must answer
/health, /version, /metrics, chat (reasoning separated, a thinking budget held exactly, streaming)
and text completions. About two minutes; prints one JSON line per server and exits non-zero on a failure.

    python benchmarks/gpu/smoke.py [--work /tmp/quantreason-gpu-smoke] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import openai

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from launcher import ServerProcess  # noqa: E402
from tinymodel import REASONER_DIR  # noqa: E402

BUDGET = 8
PROBLEM = "Eve has 957 apples, loses 297, then gets 855 more. How many now?"  # toy-arith-easy-000
METRICS_EXPECTED = ("vllm:num_requests_running", "vllm:generation_tokens_total", "quantreason:requests_total")


def quantize_w4a16(work: Path) -> Path:
    calib = work / "calib.jsonl"
    calib.write_text(
        "".join(json.dumps({"text": f"{i} + {i + 1} = {2 * i + 1}. " * 20}) + "\n" for i in range(32))
    )
    out = work / "tiny-reasoner-w4a16"
    command = [
        sys.executable, "-m", "quantize", "--model", str(REASONER_DIR), "--scheme", "w4a16",
        "--out", str(out), "--calib", str(calib), "--num-samples", "16", "--max-seq-len", "128", "--force",
    ]  # fmt: skip
    started = time.monotonic()
    subprocess.run(command, check=True, cwd=ROOT)
    print(f"quantize w4a16: {time.monotonic() - started:.1f} s", flush=True)
    return out


def check(model: Path, name: str, log_path: Path, *extra: str) -> dict[str, Any]:
    result: dict[str, Any] = {"model": name}
    started = time.monotonic()
    args = ["--served-model-name", name, "--max-model-len", "1024", "--gpu-memory-utilization", "0.3", *extra]
    with ServerProcess(model, *args, log_path=log_path) as server:
        result["engine_start_s"] = round(time.monotonic() - started, 1)
        result["version"] = httpx.get(f"{server.url}/version").json()
        client = openai.OpenAI(base_url=server.base_url, api_key="none", max_retries=0)
        # A problem of the tiny reasoner's own kind: it thinks ~100 tokens, so a budget of 8 binds
        # (on a question unlike its training it may close its thinking at once, budget or not).
        messages = [{"role": "user", "content": PROBLEM}]
        reply = client.chat.completions.create(
            model=name,
            messages=messages,
            max_tokens=64,
            temperature=0,
            extra_body={"max_thinking_tokens": BUDGET},
        )
        usage = reply.usage.completion_tokens_details
        result["chat"] = {
            "reasoning_tokens": usage.reasoning_tokens if usage else None,
            "answer": reply.choices[0].message.content,
            "reasoning": reply.choices[0].message.model_extra.get("reasoning_content"),
        }
        assert result["chat"]["reasoning_tokens"] == BUDGET, result["chat"]
        chunks = list(
            client.chat.completions.create(model=name, messages=messages, max_tokens=16, stream=True)
        )
        result["stream_chunks"] = len(chunks)
        assert chunks, "no stream chunks"
        completion = client.completions.create(model=name, prompt=PROBLEM, max_tokens=8, temperature=0)
        result["completion"] = completion.choices[0].text
        metrics = httpx.get(f"{server.url}/metrics").text
        result["metrics_missing"] = [m for m in METRICS_EXPECTED if m not in metrics]
        assert not result["metrics_missing"], result["metrics_missing"]
    log_text = log_path.read_text(errors="replace")
    result["kernels"] = sorted(set(re.findall(r"Using (\w+Kernel)\b", log_text)))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/quantreason-gpu-smoke"))
    parser.add_argument("--out", type=Path, help="also write smoke.json here")
    parser.add_argument("--compiled", action="store_true", help="torch.compile + CUDA graphs (slower start)")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    parser_extra = [] if args.compiled else ["--enforce-eager"]
    results = [check(REASONER_DIR, "tiny-reasoner", args.work / "serve-bf16.log", *parser_extra)]
    print(json.dumps(results[-1]), flush=True)
    artifact = quantize_w4a16(args.work)
    for kernel in ("machete", "marlin"):
        log_path = args.work / f"serve-w4a16-{kernel}.log"
        results.append(
            check(
                artifact, f"tiny-reasoner-w4a16-{kernel}", log_path, "--w4a16-kernel", kernel, *parser_extra
            )
        )
        print(json.dumps(results[-1]), flush=True)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "smoke.json").write_text(json.dumps(results, indent=1))
    print("gpu smoke: passed")


if __name__ == "__main__":
    main()
